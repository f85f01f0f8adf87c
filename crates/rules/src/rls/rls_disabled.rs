use serde_json::json;

use super::{api_roles_with, template_fix, tenanted, tenanted_ancestor};
use crate::{Context, Finding, ObjectRef, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    ctx.snapshot
        .relations
        .iter()
        .filter(|r| r.kind.is_table() && !r.rls_enabled && tenanted(ctx, &r.qualified_name()))
        // A child of a tenant table with RLS is partition-bypasses-rls's finding.
        .filter(|r| {
            tenanted_ancestor(ctx, r)
                .and_then(|p| ctx.snapshot.relation(&p))
                .is_none_or(|p| !p.rls_enabled)
        })
        .filter_map(|r| {
            let roles: Vec<String> = ctx
                .access
                .roles
                .iter()
                .filter_map(|role| {
                    let privs: Vec<&str> = ["SELECT", "INSERT", "UPDATE", "DELETE"]
                        .into_iter()
                        .filter(|p| api_roles_with(ctx, r, p).contains(role))
                        .collect();
                    (!privs.is_empty()).then(|| format!("{role} ({})", privs.join(", ")))
                })
                .collect();
            (!roles.is_empty()).then(|| {
                let t = r.qualified_name();
                rule.finding(
                    ObjectRef::table(&t),
                    format!(
                        "row level security is disabled on tenant table {t}, and API roles can reach it ({}): every tenant's rows are exposed",
                        roles.join(", ")
                    ),
                    json!({ "privileges": roles }),
                    Some(format!(
                        "ALTER TABLE {} ENABLE ROW LEVEL SECURITY;\n{}",
                        t.sql(),
                        template_fix(ctx, &t, None)
                    )),
                )
            })
        })
        .collect()
}
