use serde_json::json;

use super::{template_fix, tenanted};
use crate::{Context, Finding, ObjectRef, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    ctx.snapshot
        .relations
        .iter()
        .filter(|r| r.kind.is_table() && r.rls_enabled && r.policies.is_empty() && tenanted(ctx, &r.qualified_name()))
        .map(|r| {
            let t = r.qualified_name();
            rule.finding(
                ObjectRef::table(&t),
                format!("{t} has row level security enabled and no policy: API roles see nothing (only owners and BYPASSRLS roles do)"),
                json!({}),
                Some(template_fix(ctx, &t, None)),
            )
        })
        .collect()
}
