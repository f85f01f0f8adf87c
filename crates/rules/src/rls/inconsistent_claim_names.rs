use std::collections::BTreeMap;

use serde_json::json;
use tenantguard_access::Observation;

use super::main_claim;
use crate::{Context, Finding, ObjectRef, Rule};

/// Policies that read a different tenant claim than most policies do: the JWT carries one of
/// them, so the others silently deny (or, with a fallback, open) every row.
pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    let main = main_claim(ctx);
    let mut per_policy: BTreeMap<
        (String, String),
        (tenantguard_catalog::QualifiedName, Vec<String>),
    > = BTreeMap::new();
    for p in &ctx.access.policies {
        for o in &p.observations {
            if let Observation::Claim { path, .. } = o {
                if *path != main {
                    per_policy
                        .entry((p.table.to_string(), p.policy.clone()))
                        .or_insert((p.table.clone(), vec![]))
                        .1
                        .push(path.clone());
                }
            }
        }
    }
    per_policy
        .into_iter()
        .map(|((_, policy), (table, mut claims))| {
            claims.dedup();
            let mut f = rule.finding(
                ObjectRef::table(&table),
                format!(
                    "policy {policy:?} on {table} reads claim {} while the other policies read {main}",
                    claims.join(", ")
                ),
                json!({ "claims": claims, "most_policies_read": main }),
                None,
            );
            f.policy = Some(policy);
            f
        })
        .collect()
}
