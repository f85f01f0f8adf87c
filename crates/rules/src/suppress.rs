//! Suppressions that live with the schema and in the repository: a baseline file of
//! fingerprints (`--write-baseline`, `--baseline`), and inline ignores in a `COMMENT ON` the
//! object: `tenantguard:ignore <rule>[,<rule>…] -- <reason>`. A suppressed finding is moved
//! aside and counted, never silently dropped; an ignore without a reason is not honoured.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use tenantguard_catalog::{QualifiedName, Snapshot};

use crate::{Finding, ObjectKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressedBy {
    Baseline,
    Comment,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Suppressed {
    pub finding: Finding,
    pub by: SuppressedBy,
    pub reason: String,
}

/// The baseline file: the findings accepted when it was written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    pub tool: String,
    pub version: String,
    pub findings: Vec<BaselineEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineEntry {
    pub fingerprint: String,
    /// What the fingerprint was made of, for a reader of the file.
    pub key: String,
    pub rule: String,
    pub object: String,
}

impl Baseline {
    pub fn of(findings: &[Finding]) -> Baseline {
        Baseline {
            tool: "tenantguard".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            findings: findings
                .iter()
                .map(|f| BaselineEntry {
                    fingerprint: f.fingerprint.clone(),
                    key: f.fingerprint_key(),
                    rule: f.rule.clone(),
                    object: format!("{}.{}", f.object.schema, f.object.name),
                })
                .collect(),
        }
    }
}

/// `tenantguard:ignore rule-a,rule-b -- why` lines of a comment: (rules, reason), reason
/// possibly empty.
pub fn ignores_in(comment: &str) -> Vec<(Vec<String>, String)> {
    comment
        .lines()
        .filter_map(|line| {
            let rest = line.split_once("tenantguard:ignore")?.1;
            let (rules, reason) = match rest.split_once("--") {
                Some((r, why)) => (r, why.trim()),
                None => (rest, ""),
            };
            let rules: Vec<String> = rules
                .split([',', ' '])
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect();
            (!rules.is_empty()).then(|| (rules, reason.to_string()))
        })
        .collect()
}

fn comments_for<'a>(snapshot: &'a Snapshot, f: &Finding) -> Vec<&'a str> {
    let name = QualifiedName::new(&f.object.schema, &f.object.name);
    let mut out = vec![];
    match f.object.kind {
        ObjectKind::Function => out.extend(
            snapshot
                .functions
                .iter()
                .filter(|x| x.schema == f.object.schema && x.name == f.object.name)
                .filter_map(|x| x.comment.as_deref()),
        ),
        ObjectKind::Role => {}
        _ => {
            if let Some(rel) = snapshot.relation(&name) {
                out.extend(rel.comment.as_deref());
                if let Some(p) = &f.policy {
                    out.extend(
                        rel.policies
                            .iter()
                            .filter(|x| &x.name == p)
                            .filter_map(|x| x.comment.as_deref()),
                    );
                }
            }
        }
    }
    out
}

/// Splits findings into kept and suppressed: by inline comments, then by the baseline.
/// Notes explain ignores that were not honoured.
pub fn suppress(
    snapshot: &Snapshot,
    findings: Vec<Finding>,
    baseline: Option<&Baseline>,
) -> (Vec<Finding>, Vec<Suppressed>, Vec<String>) {
    let accepted: HashSet<&str> = baseline
        .map(|b| b.findings.iter().map(|e| e.fingerprint.as_str()).collect())
        .unwrap_or_default();
    let mut kept = vec![];
    let mut suppressed = vec![];
    let mut notes = vec![];
    for f in findings {
        let ignore = comments_for(snapshot, &f)
            .into_iter()
            .flat_map(ignores_in)
            .find(|(rules, _)| rules.iter().any(|r| r == &f.rule || r == "all"));
        match ignore {
            Some((_, reason)) if !reason.is_empty() => suppressed.push(Suppressed {
                finding: f,
                by: SuppressedBy::Comment,
                reason,
            }),
            Some(_) => {
                notes.push(format!(
                    "tenantguard:ignore {} on {}.{} has no reason (`-- why`): not honoured",
                    f.rule, f.object.schema, f.object.name
                ));
                kept.push(f);
            }
            None if accepted.contains(f.fingerprint.as_str()) => suppressed.push(Suppressed {
                finding: f,
                by: SuppressedBy::Baseline,
                reason: "in the baseline".into(),
            }),
            None => kept.push(f),
        }
    }
    (kept, suppressed, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_lines_need_rules_and_keep_their_reason() {
        assert_eq!(
            ignores_in("Lookup table.\ntenantguard:ignore rls-disabled, tenant-key-unindexed -- shared by design"),
            [(
                vec!["rls-disabled".to_string(), "tenant-key-unindexed".to_string()],
                "shared by design".to_string()
            )]
        );
        assert_eq!(
            ignores_in("tenantguard:ignore rls-disabled"),
            [(vec!["rls-disabled".to_string()], String::new())]
        );
        assert!(ignores_in("nothing to see").is_empty());
        assert!(ignores_in("tenantguard:ignore -- no rule").is_empty());
    }
}
