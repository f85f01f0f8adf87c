//! The access guard of `fix --apply`: a fix must never take away what a tenant could
//! legitimately do. Before anything is committed, the plan's steps are tried for real on the
//! database inside a transaction that is rolled back ([`tenantguard_probe::OwnTrial`]), and
//! tenant A's own-access matrix (read, insert, update, delete its own row of every tenant
//! table) is compared with the matrix without them. A step that takes a cell away is found by
//! bisection over the steps in plan order (the first prefix that loses a cell ends with it),
//! withheld, and the rest tried again, until the steps left lose nothing. Withheld steps
//! become manual items that say which access they would have taken.
//!
//! Index builds (`CONCURRENTLY`, outside a transaction) change no access and are not tried.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tenantguard_access::AccessModel;
use tenantguard_catalog::Snapshot;
use tenantguard_probe::{OwnAccessMatrix, OwnTrial, ProveOptions};
use tenantguard_tenant_model::TenantModel;
use tokio_postgres::Client;

use crate::{Manual, Plan, Step};

/// One cell of A's own access a step would take away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostAccess {
    pub table: String,
    pub role: String,
    pub command: tenantguard_access::Command,
    /// What A could do before (`read A's own row`, …).
    pub before: String,
    /// `denied`, `error` or `skipped`, and why.
    pub after: String,
}

impl LostAccess {
    pub fn line(&self) -> String {
        format!(
            "{} {} on {}: {} → {}",
            self.role,
            self.command.privilege(),
            self.table,
            self.before,
            self.after
        )
    }
}

/// A step the guard kept out of the plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WithheldStep {
    pub summary: String,
    pub object: String,
    pub closes: Vec<String>,
    pub lost: Vec<LostAccess>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GuardReport {
    /// A's own access was measured (A reached at least one of its own rows). When false the
    /// guard could see nothing to protect, and says so in `note`.
    pub measured: bool,
    /// Cells of A's own access that were `ok` before any step.
    pub own_cells_ok: usize,
    /// Trials run (each one transaction, rolled back).
    pub trials: usize,
    pub withheld: Vec<WithheldStep>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
}

/// The cells `ok` in `before` and not in `after`.
pub fn lost(before: &OwnAccessMatrix, after: &OwnAccessMatrix) -> Vec<LostAccess> {
    before
        .lost_in(after)
        .into_iter()
        .map(|(b, a)| LostAccess {
            table: b.table.clone(),
            role: b.role.clone(),
            command: b.command,
            before: b.detail.clone(),
            after: match a {
                Some(a) => format!("{}: {}", a.outcome.name(), a.detail),
                None => "not tried".into(),
            },
        })
        .collect()
}

/// More withheld steps than this and the guard withholds every step left that it tries:
/// past this point bisection costs more than it tells.
const MAX_WITHHELD: usize = 40;

/// Tries `plan`'s runnable transactional steps against A's own access and returns the plan
/// without the steps that would take some of it away (they are added to `manual`).
pub async fn guard(
    client: &Client,
    snapshot: &Snapshot,
    model: &TenantModel,
    access: &AccessModel,
    plan: &Plan,
    unsafe_fixes: bool,
    opts: &ProveOptions,
) -> Result<(Plan, GuardReport)> {
    let mut report = GuardReport::default();
    let tried: Vec<usize> = plan
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.transactional && (unsafe_fixes || s.applicability == crate::Applicability::Safe)
        })
        .map(|(i, _)| i)
        .collect();
    if tried.is_empty() || model.root.is_none() {
        return Ok((plan.clone(), report));
    }
    let trial = OwnTrial::new(client, snapshot, model, access, opts).await?;
    let sql_of =
        |ids: &[usize]| -> Vec<&str> { ids.iter().map(|&i| plan.steps[i].sql.as_str()).collect() };
    let base = trial.run(&[]).await?;
    report.trials += 1;
    report.own_cells_ok = base
        .matrix
        .entries
        .iter()
        .filter(|e| e.outcome == tenantguard_probe::OwnOutcome::Ok)
        .count();
    report.measured = report.own_cells_ok > 0;
    if !report.measured {
        report.note = Some(
            "tenant A reached none of its own rows before the fix, so the guard had no legitimate access to protect: check [prove] claims".into(),
        );
        return Ok((plan.clone(), report));
    }
    let mut kept = tried.clone();
    let mut withheld: Vec<(usize, Vec<LostAccess>)> = vec![];
    loop {
        let full = trial.run(&sql_of(&kept)).await?;
        report.trials += 1;
        // A step that fails stops `apply` there: what follows it never runs.
        let upto = full.failed.as_ref().map_or(kept.len(), |(i, _)| *i);
        let losses = lost(&base.matrix, &full.matrix);
        if losses.is_empty() {
            break;
        }
        if withheld.len() >= MAX_WITHHELD {
            for &i in &kept[..upto] {
                withheld.push((i, losses.clone()));
            }
            report.note = Some(format!(
                "more than {MAX_WITHHELD} steps took A's own access away: every step left was withheld"
            ));
            break;
        }
        // The shortest prefix that loses a cell: [0, lo) loses nothing, [0, hi) loses.
        let (mut lo, mut hi) = (0usize, upto.max(1));
        let mut at_hi = losses;
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            let r = trial.run(&sql_of(&kept[..mid])).await?;
            report.trials += 1;
            let l = lost(&base.matrix, &r.matrix);
            if l.is_empty() {
                lo = mid;
            } else {
                hi = mid;
                at_hi = l;
            }
        }
        let culprit = kept.remove(hi - 1);
        withheld.push((culprit, at_hi));
    }
    let mut out = plan.clone();
    let ids: Vec<usize> = withheld.iter().map(|(i, _)| *i).collect();
    out.steps = plan
        .steps
        .iter()
        .enumerate()
        .filter(|(i, _)| !ids.contains(i))
        .map(|(_, s)| s.clone())
        .collect();
    for (i, lost) in withheld {
        let step: &Step = &plan.steps[i];
        let why = format!(
            "withheld by the access guard: tried on the database (rolled back), `{}` would take away {}",
            step.summary,
            lost.iter().map(LostAccess::line).collect::<Vec<_>>().join("; ")
        );
        for c in &step.closes {
            out.manual.push(Manual {
                closes: c.clone(),
                why: why.clone(),
                suggestion: Some(step.sql.clone()),
            });
        }
        report.withheld.push(WithheldStep {
            summary: step.summary.clone(),
            object: step.object.clone(),
            closes: step.closes.clone(),
            lost,
        });
    }
    Ok((out, report))
}
