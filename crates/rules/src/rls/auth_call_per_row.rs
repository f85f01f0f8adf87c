use tenantguard_access::{Observation, PolicyAnalysis};

use super::policy_observation_findings;
use crate::{Context, Finding, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    // With an index on every filtered column, PostgreSQL evaluates a STABLE auth call once, as
    // an index key (measured at the floor); per-row evaluation only hurts without one.
    let indexed = |p: &PolicyAnalysis| {
        ctx.snapshot.relation(&p.table).is_some_and(|rel| {
            let filtered: Vec<&str> = p
                .observations
                .iter()
                .filter_map(|o| match o {
                    Observation::FilterColumn { column } => Some(column.as_str()),
                    _ => None,
                })
                .collect();
            !filtered.is_empty()
                && filtered.iter().all(|c| {
                    rel.indexes
                        .iter()
                        .any(|i| i.valid && !i.partial && i.leading_column() == Some(c))
                })
        })
    };
    policy_observation_findings(
        rule,
        ctx,
        |o| match o {
            Observation::AuthCallPerRow { text } => Some(text.as_str()),
            _ => None,
        },
        "is called once per row: wrap it as (select …) so PostgreSQL evaluates it once per statement",
        indexed,
    )
}
