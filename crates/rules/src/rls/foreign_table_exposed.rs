use serde_json::json;
use tenantguard_catalog::{quote_ident, RelationKind};

use super::api_roles_with;
use crate::{Context, Finding, ObjectKind, ObjectRef, Rule};

/// Foreign tables are read on the remote server with the mapping's credentials: PostgreSQL's
/// RLS does not filter them. Readable by an API role, they are outside tenant isolation.
pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    ctx.snapshot
        .relations
        .iter()
        .filter(|r| r.kind == RelationKind::ForeignTable && !r.rls_enabled)
        .filter_map(|f| {
            let readers = api_roles_with(ctx, f, "SELECT");
            (!readers.is_empty()).then(|| {
                let name = f.qualified_name();
                rule.finding(
                    ObjectRef { kind: ObjectKind::ForeignTable, schema: f.schema.clone(), name: f.name.clone() },
                    format!("foreign table {name} is readable by {} and no row level security filters it", readers.join(", ")),
                    json!({ "readers": readers }),
                    Some(format!(
                        "REVOKE ALL ON {} FROM {};",
                        name.sql(),
                        readers.iter().map(|r| quote_ident(r)).collect::<Vec<_>>().join(", ")
                    )),
                )
            })
        })
        .collect()
}
