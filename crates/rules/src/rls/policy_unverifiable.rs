use std::collections::BTreeMap;

use serde_json::json;
use tenantguard_access::Verdict;

use crate::{Context, Finding, ObjectRef, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    let mut groups: BTreeMap<_, Vec<String>> = BTreeMap::new();
    for (table, cells) in &ctx.access.tables {
        for c in cells {
            if let Verdict::CannotVerify { reason, policy } = &c.verdict {
                groups
                    .entry((table.clone(), policy.clone(), reason.clone()))
                    .or_default()
                    .push(format!("{}: {:?}", c.role, c.command).to_lowercase());
            }
        }
    }
    groups
        .into_iter()
        .map(|((table, policy, reason), cells)| {
            let mut f = rule.finding(
                ObjectRef::table(&table),
                format!(
                    "cannot verify{} on {table}: {reason} ({})",
                    policy
                        .as_deref()
                        .map(|p| format!(" policy {p:?}"))
                        .unwrap_or_default(),
                    cells.join(", ")
                ),
                json!({ "reason": reason, "cells": cells }),
                None,
            );
            f.policy = policy;
            f
        })
        .collect()
}
