use super::{generic_open_kind, open_cell_findings};
use crate::{Context, Finding, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    open_cell_findings(
        rule,
        ctx,
        |k, check| !check && generic_open_kind(k),
        "other tenants' rows can be read, updated or deleted",
    )
}
