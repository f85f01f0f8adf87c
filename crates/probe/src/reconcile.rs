//! Static and dynamic together: each attack on a table is compared with the analyser's verdict
//! for the same (table, role, command) cell.
//!
//! - A leak where the analyser said tenant-bound (or deny-all, or no privilege) is a bug in the
//!   analyser: reported loudly, because the static audit alone would have said "safe".
//! - A cell the analyser called open where every attack was blocked is shown with the reason
//!   the attacks give (a trigger, a constraint, a missing grant, …): the finding stands, the
//!   reader learns why it could not be exploited here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tenantguard_access::{AccessModel, Command, Verdict};
use tenantguard_catalog::QualifiedName;

use crate::{ObjectKind, Outcome, ProofReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disagreement {
    /// An attack leaked where the analyser found no way to leak.
    AnalyserMissedLeak,
    /// The analyser flagged the cell, but no attack could exploit it.
    FlaggedNotExploited,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reconciliation {
    pub kind: Disagreement,
    pub table: String,
    /// The database role (several attacker labels may share one).
    pub role: String,
    pub command: Command,
    /// The analyser's verdict, in a word: tenant_bound, open, deny_all, cannot_verify,
    /// no_privilege.
    pub verdict: String,
    /// The attacks that decided it (`label: attack`).
    pub attacks: Vec<String>,
    pub detail: String,
}

fn verdict_word(v: &Verdict) -> &'static str {
    match v {
        Verdict::TenantBound { .. } => "tenant_bound",
        Verdict::Open { .. } => "open",
        Verdict::DenyAll { .. } => "deny_all",
        Verdict::CannotVerify { .. } => "cannot_verify",
        Verdict::NoPrivilege => "no_privilege",
    }
}

pub fn reconcile(access: &AccessModel, proof: &ProofReport) -> Vec<Reconciliation> {
    let attackers = &proof.attackers;
    let role_of = |label: &str| {
        attackers
            .iter()
            .find(|a| a.label == label)
            .map(|a| a.role.clone())
            .unwrap_or_else(|| label.to_string())
    };
    // (table, role, command) → results
    let mut cells: BTreeMap<(String, String, Command), Vec<&crate::AttackResult>> = BTreeMap::new();
    for r in &proof.results {
        if r.kind != ObjectKind::Table {
            continue;
        }
        cells
            .entry((r.table.clone(), role_of(&r.role), r.attack.command()))
            .or_default()
            .push(r);
    }
    let mut out = vec![];
    for ((table, role, command), results) in cells {
        let Some((schema, name)) = table.split_once('.') else {
            continue;
        };
        let Some(cell) = access
            .cells(&QualifiedName::new(schema, name))
            .iter()
            .find(|c| c.role == role && c.command == command)
        else {
            continue;
        };
        let leaks: Vec<_> = results
            .iter()
            .filter(|r| r.outcome == Outcome::Leak)
            .collect();
        let blocked: Vec<_> = results
            .iter()
            .filter(|r| r.outcome == Outcome::Blocked)
            .collect();
        let name_of = |r: &&&crate::AttackResult| format!("{}: {}", r.role, r.attack.name());
        match &cell.verdict {
            Verdict::TenantBound { .. } | Verdict::DenyAll { .. } | Verdict::NoPrivilege
                if !leaks.is_empty() =>
            {
                out.push(Reconciliation {
                    kind: Disagreement::AnalyserMissedLeak,
                    table: table.clone(),
                    role: role.clone(),
                    command,
                    verdict: verdict_word(&cell.verdict).into(),
                    attacks: leaks.iter().map(name_of).collect(),
                    detail: format!(
                        "the analyser said {} but the attack {}: this is a bug in tenantguard's analysis, please report it",
                        verdict_word(&cell.verdict).replace('_', "-"),
                        leaks[0].detail
                    ),
                });
            }
            Verdict::Open { .. } if leaks.is_empty() && !blocked.is_empty() => {
                out.push(Reconciliation {
                    kind: Disagreement::FlaggedNotExploited,
                    table: table.clone(),
                    role: role.clone(),
                    command,
                    verdict: "open".into(),
                    attacks: blocked.iter().map(name_of).collect(),
                    detail: format!(
                        "flagged as open, but no attack got through here: {}",
                        blocked[0].detail
                    ),
                });
            }
            _ => {}
        }
    }
    out
}

/// `evidence.proof` of a finding on `schema.name`: `{"status": "confirmed" | "not_reproduced" |
/// "not_attempted", "reason", "attacks": [the attacks on it that leaked]}`. `cells` are the
/// finding's open cells (`"anon: update"`): when given, only the attacks of those database
/// roles and commands count.
pub fn finding_proof(
    schema: &str,
    name: &str,
    cells: &[String],
    proof: &ProofReport,
) -> serde_json::Value {
    let table = format!("{schema}.{name}");
    let role_of = |label: &str| -> String {
        proof
            .attackers
            .iter()
            .find(|a| a.label == label)
            .map_or(label, |a| a.role.as_str())
            .to_string()
    };
    let wanted: Vec<(String, String)> = cells
        .iter()
        .filter_map(|c| c.split_once(": "))
        .map(|(r, c)| (r.trim().to_string(), c.trim().to_lowercase()))
        .collect();
    let command_word = |c: Command| match c {
        Command::Select => "select",
        Command::Insert => "insert",
        Command::Update => "update",
        Command::Delete => "delete",
    };
    let matched: Vec<&crate::AttackResult> = proof
        .results
        .iter()
        .filter(|r| r.table == table)
        .filter(|r| {
            wanted.is_empty()
                || wanted.iter().any(|(role, cmd)| {
                    *role == role_of(&r.role) && cmd == command_word(r.attack.command())
                })
        })
        .collect();
    let leaks: Vec<&&crate::AttackResult> = matched
        .iter()
        .filter(|r| r.outcome == Outcome::Leak)
        .collect();
    let ran: Vec<&&crate::AttackResult> = matched
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Blocked | Outcome::Error | Outcome::Info))
        .collect();
    let scope = if wanted.is_empty() {
        String::new()
    } else {
        format!(" ({})", cells.join(", "))
    };
    let (status, reason) = if let Some(first) = leaks.first() {
        (
            "confirmed",
            format!(
                "{} attack(s){scope} got through, e.g. {} as {}: {}",
                leaks.len(),
                first.attack.name(),
                first.role,
                first.detail
            ),
        )
    } else if let Some(first) = ran.first() {
        let mut reason = format!(
            "{} attack(s){scope} ran and none got through, e.g. {} as {}: {}",
            ran.len(),
            first.attack.name(),
            first.role,
            first.detail
        );
        if proof.claims_suspect {
            reason.push_str(
                "; but tenant A could not read its own rows anywhere, so its claims are probably wrong",
            );
        }
        ("not_reproduced", reason)
    } else if let Some(first) = matched.first() {
        (
            "not_attempted",
            format!("every attack{scope} was skipped: {}", first.detail),
        )
    } else {
        (
            "not_attempted",
            format!("the proof made no attack on {table}{scope}: it attacks tenant tables, the views over them and SECURITY DEFINER functions"),
        )
    };
    serde_json::json!({
        "status": status,
        "reason": reason,
        "attacks": leaks,
    })
}

/// `evidence.proof` when the proof could not run at all.
pub fn proof_not_attempted(reason: &str) -> serde_json::Value {
    serde_json::json!({ "status": "not_attempted", "reason": reason, "attacks": [] })
}
