use tenantguard_access::OpenKind;

use super::{open_cells_by_policy, open_finding};
use crate::{Context, Finding, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    let pick = |k: OpenKind, _: bool| k == OpenKind::Fallback;
    open_cells_by_policy(ctx, pick)
        .iter()
        .map(|g| {
            open_finding(
                rule,
                ctx,
                g,
                "rows open up when the tenant claim is missing",
            )
        })
        .collect()
}
