use serde_json::json;
use tenantguard_catalog::quote_ident;

use crate::{Context, Finding, ObjectKind, ObjectRef, Rule};

/// Login roles with SUPERUSER or BYPASSRLS see every tenant's rows whatever the policies say.
/// The platform's own administrators (`[rls] admin_roles`) are expected to.
pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    ctx.snapshot
        .roles
        .iter()
        .filter(|r| r.can_login && (r.superuser || r.bypass_rls))
        .filter(|r| !ctx.config.admin_roles.contains(&r.name))
        .map(|r| {
            let what = if r.superuser {
                "SUPERUSER"
            } else {
                "BYPASSRLS"
            };
            rule.finding(
                ObjectRef {
                    kind: ObjectKind::Role,
                    schema: String::new(),
                    name: r.name.clone(),
                },
                format!(
                    "login role {} has {what}: every query it runs ignores row level security",
                    r.name
                ),
                json!({ "superuser": r.superuser, "bypass_rls": r.bypass_rls }),
                Some(format!(
                    "ALTER ROLE {} {};",
                    quote_ident(&r.name),
                    if r.superuser {
                        "NOSUPERUSER NOBYPASSRLS"
                    } else {
                        "NOBYPASSRLS"
                    }
                )),
            )
        })
        .collect()
}
