use serde_json::json;
use tenantguard_catalog::quote_ident;

use super::security_definer_exposed::{api_executors, user_definer_functions};
use crate::{Context, Finding, ObjectKind, ObjectRef, Rule};

/// A SECURITY DEFINER function without a pinned search_path resolves names through the
/// caller's search_path: a caller who can create objects can make it run their code as its owner.
pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    user_definer_functions(ctx)
        .filter(|f| !f.config.iter().any(|c| c.starts_with("search_path=")))
        .map(|f| {
            let sig = format!("{}.{}({})", quote_ident(&f.schema), quote_ident(&f.name), f.identity_arguments);
            rule.finding(
                ObjectRef { kind: ObjectKind::Function, schema: f.schema.clone(), name: f.name.clone() },
                format!("SECURITY DEFINER function {sig} does not pin its search_path"),
                json!({ "owner": f.owner, "callers": api_executors(ctx, f) }),
                Some(format!("ALTER FUNCTION {sig} SET search_path = '';\n-- then schema-qualify every name in its body")),
            )
        })
        .collect()
}
