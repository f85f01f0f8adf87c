use tenantguard_access::OpenKind;

use super::open_cell_findings;
use crate::{Context, Finding, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    let pick = |k: OpenKind, _: bool| k == OpenKind::OtherColumn;
    open_cell_findings(
        rule,
        ctx,
        pick,
        "a column other than the tenant key is compared with the tenant claim",
    )
}
