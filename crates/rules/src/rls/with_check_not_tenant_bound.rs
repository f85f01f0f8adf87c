use tenantguard_access::OpenKind;

use super::{open_cells_by_policy, open_finding};
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
    open_cells_by_policy(ctx, pick)
        .iter()
        .map(|g| {
            open_finding(
                rule,
                ctx,
                g,
                "a row can be written into, or moved to, another tenant",
            )
        })
        .collect()
}
