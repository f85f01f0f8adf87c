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
                Observation::AuthCallPerRow { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        if texts.is_empty() {
            continue;
        }
        // With an index on the filtered column, PostgreSQL evaluates a STABLE auth call once, as
        // an index key (measured at the floor); per-row evaluation only hurts without one.
        let indexed = ctx.snapshot.relation(&p.table).is_some_and(|rel| {
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
        });
        if indexed {
            continue;
        }
        let mut f = rule.finding(
            ObjectRef::table(&p.table),
            format!("policy {:?} on {}: `{}` is called once per row: wrap it as (select …) so PostgreSQL evaluates it once per statement", p.policy, p.table, texts.join("`, `")),
            json!({ "expressions": texts }),
            None,
        );
        f.policy = Some(p.policy.clone());
        out.push(f);
    }
    out
}
