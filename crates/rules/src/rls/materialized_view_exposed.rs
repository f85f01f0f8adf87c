use serde_json::json;
use tenantguard_catalog::{quote_ident, RelationKind};

use super::{api_roles_with, base_tables_of_definition, tenanted};
use crate::{Context, Finding, ObjectKind, ObjectRef, Rule};

/// Materialized views have no RLS at all: one built from tenant tables and readable by an API
/// role hands every tenant's rows to every caller.
pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    ctx.snapshot
        .relations
        .iter()
        .filter(|r| r.kind == RelationKind::MaterializedView)
        .filter_map(|m| {
            let def = m.view_definition.as_deref()?;
            let sources: Vec<String> = base_tables_of_definition(ctx, def)
                .into_iter()
                .filter(|t| tenanted(ctx, t))
                .map(|t| t.to_string())
                .collect();
            let readers = api_roles_with(ctx, m, "SELECT");
            (!sources.is_empty() && !readers.is_empty()).then(|| {
                let name = m.qualified_name();
                rule.finding(
                    ObjectRef { kind: ObjectKind::MaterializedView, schema: m.schema.clone(), name: m.name.clone() },
                    format!(
                        "materialized view {name} holds rows of {} with no RLS, and {} can read it",
                        sources.join(", "),
                        readers.join(", ")
                    ),
                    json!({ "tables": sources, "readers": readers }),
                    Some(format!(
                        "REVOKE ALL ON {} FROM {};\n-- expose it through a security_invoker view or a function that filters by tenant",
                        name.sql(),
                        readers.iter().map(|r| quote_ident(r)).collect::<Vec<_>>().join(", ")
                    )),
                )
            })
        })
        .collect()
}
