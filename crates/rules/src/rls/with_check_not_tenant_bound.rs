use super::{generic_open_kind, open_cell_findings};
use crate::{Context, Finding, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    open_cell_findings(
        rule,
        ctx,
        |k, check| check && generic_open_kind(k),
        "a row can be written into, or moved to, another tenant",
    )
}
