use tenantguard_access::OpenKind;

use super::open_cell_findings;
use crate::{Context, Finding, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    let pick = |k: OpenKind, _: bool| k == OpenKind::UntrustedClaim;
    open_cell_findings(
        rule,
        ctx,
        pick,
        "the tenant is taken from a claim the user can edit",
    )
}
