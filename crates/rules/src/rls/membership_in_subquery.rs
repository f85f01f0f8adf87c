use serde_json::json;
use tenantguard_access::Observation;

use crate::{Context, Finding, ObjectRef, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    let mut out = vec![];
    for p in &ctx.access.policies {
        let texts: Vec<&str> = p
            .observations
            .iter()
            .filter_map(|o| match o {
                Observation::MembershipInSubquery { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        if texts.is_empty() {
            continue;
        }
        let mut f = rule.finding(
            ObjectRef::table(&p.table),
            format!("policy {:?} on {}: `{}` uses col IN (SELECT …), which walks the whole index on large tables; use col = ANY (ARRAY(SELECT …))", p.policy, p.table, texts.join("`, `")),
            json!({ "expressions": texts }),
            None,
        );
        f.policy = Some(p.policy.clone());
        out.push(f);
    }
    out
}
