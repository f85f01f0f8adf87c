use tenantguard_access::Observation;

use super::policy_observation_findings;
use crate::{Context, Finding, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    policy_observation_findings(
        rule,
        ctx,
        |o| match o {
            Observation::MembershipInSubquery { text } => Some(text.as_str()),
            _ => None,
        },
        "uses col IN (SELECT …), which walks the whole index on large tables; use col = ANY (ARRAY(SELECT …))",
        |_| false,
    )
}
