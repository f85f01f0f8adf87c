use tenantguard_access::OpenKind;

use super::open_cell_findings;
use crate::{Context, Finding, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    let pick = |k: OpenKind, check: bool| {
        check
            && !matches!(
                k,
                OpenKind::UntrustedClaim
                    | OpenKind::Fallback
                    | OpenKind::OtherColumn
                    | OpenKind::RlsDisabled
            )
    };
    open_cell_findings(
        rule,
        ctx,
        pick,
        "a row can be written into, or moved to, another tenant",
    )
}
