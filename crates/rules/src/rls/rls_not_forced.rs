use serde_json::json;
use tenantguard_access::Roles;

use super::tenanted;
use crate::{Context, Finding, ObjectRef, Rule};

/// A table's owner bypasses its RLS unless it is FORCEd. That matters when the owner — or a
/// login role that inherits the owner's rights — is what the application connects as.
pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    let roles = Roles::new(ctx.snapshot);
    ctx.snapshot
        .relations
        .iter()
        .filter(|r| r.kind.is_table() && r.rls_enabled && !r.rls_forced && tenanted(ctx, &r.qualified_name()))
        .filter_map(|r| {
            let logins: Vec<String> = ctx
                .snapshot
                .roles
                .iter()
                .filter(|l| l.can_login && !l.superuser && !l.bypass_rls)
                .filter(|l| !ctx.config.admin_roles.contains(&l.name))
                .filter(|l| roles.effective(&l.name).contains(&r.owner))
                .map(|l| l.name.clone())
                .collect();
            (!logins.is_empty()).then(|| {
                let t = r.qualified_name();
                rule.finding(
                    ObjectRef::table(&t),
                    format!(
                        "{t} is owned by {}, and login role(s) {} act as its owner: they bypass its RLS because it is not FORCEd",
                        r.owner,
                        logins.join(", ")
                    ),
                    json!({ "owner": r.owner, "login_roles": logins }),
                    Some(format!("ALTER TABLE {} FORCE ROW LEVEL SECURITY;", t.sql())),
                )
            })
        })
        .collect()
}
