use serde_json::json;
use tenantguard_access::owner_bypasses;
use tenantguard_catalog::RelationKind;

use super::{api_roles_with, base_tables_of_definition, tenanted};
use crate::{Context, Finding, ObjectKind, ObjectRef, Rule};

/// Views run with their owner's rights unless `security_invoker`: over a tenant table, an owner
/// that bypasses RLS shows every tenant's rows to whoever may select from the view.
pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    ctx.snapshot
        .relations
        .iter()
        .filter(|r| r.kind == RelationKind::View)
        .filter(|r| !security_invoker(&r.options))
        .filter_map(|v| {
            let def = v.view_definition.as_deref()?;
            let exposed: Vec<String> = base_tables_of_definition(ctx, def)
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

/// `security_invoker` in any of PostgreSQL's boolean spellings (stored as written).
fn security_invoker(options: &[String]) -> bool {
    options.iter().any(|o| {
        o.split_once('=').is_some_and(|(k, v)| {
            k == "security_invoker"
                && matches!(
                    v.to_ascii_lowercase().as_str(),
                    "true" | "on" | "yes" | "1" | "t" | "y"
                )
        })
    })
}
