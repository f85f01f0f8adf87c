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
