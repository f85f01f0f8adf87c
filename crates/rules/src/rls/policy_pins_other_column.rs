use tenantguard_access::OpenKind;

use super::{open_cells_by_policy, open_finding};
use crate::{Context, Finding, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    let pick = |k: OpenKind, _: bool| k == OpenKind::OtherColumn;
    open_cells_by_policy(ctx, pick)
        .iter()
        .map(|g| {
            open_finding(
                rule,
                ctx,
                g,
                "a column other than the tenant key is compared with the tenant claim",
            )
        })
        .collect()
}
