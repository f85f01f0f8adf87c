use serde_json::json;
use tenantguard_access::{parse_expr, tables_read, Roles};
use tenantguard_catalog::{RelationKind, Snapshot};

use super::{api_roles_with, tenanted};
use crate::{Context, Finding, ObjectKind, ObjectRef, Rule};

/// Whether `owner` reading `table` skips its RLS: superuser, BYPASSRLS, or the table's owner
/// (directly or by inheritance) when RLS is not forced.
pub(crate) fn owner_bypasses(
    snapshot: &Snapshot,
    owner: &str,
    table: &tenantguard_catalog::Relation,
) -> bool {
    let roles = Roles::new(snapshot);
    !table.rls_enabled
        || roles.bypasses_rls(owner)
        || (!table.rls_forced && roles.effective(owner).contains(&table.owner))
}

/// Views run with their owner's rights unless `security_invoker`: over a tenant table, an owner
/// that bypasses RLS shows every tenant's rows to whoever may select from the view.
pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    ctx.snapshot
        .relations
        .iter()
        .filter(|r| r.kind == RelationKind::View)
        .filter(|r| !r.options.iter().any(|o| o == "security_invoker=true" || o == "security_invoker=on"))
        .filter_map(|v| {
            let def = v.view_definition.as_deref()?;
            let node = parse_expr(&format!("EXISTS ({})", def.trim().trim_end_matches(';'))).ok()?;
            let exposed: Vec<String> = tables_read(&node)
                .into_iter()
                .filter(|t| tenanted(ctx, t))
                .filter(|t| ctx.snapshot.relation(t).is_some_and(|rel| owner_bypasses(ctx.snapshot, &v.owner, rel)))
                .map(|t| t.to_string())
                .collect();
            let readers = api_roles_with(ctx, v, "SELECT");
            (!exposed.is_empty() && !readers.is_empty()).then(|| {
                let name = v.qualified_name();
                rule.finding(
                    ObjectRef { kind: ObjectKind::View, schema: v.schema.clone(), name: v.name.clone() },
                    format!(
                        "view {name} runs as its owner {}, who bypasses RLS on {}: {} read every tenant's rows through it",
                        v.owner,
                        exposed.join(", "),
                        readers.join(", ")
                    ),
                    json!({ "owner": v.owner, "tables": exposed, "readers": readers }),
                    Some(format!("ALTER VIEW {} SET (security_invoker = true);", name.sql())),
                )
            })
        })
        .collect()
}
