//! Runs a plan step by step: each transactional step in its own transaction with
//! `lock_timeout`, retried with back-off when it could not get its lock (a busy table), and
//! stopping at the first real failure with the database consistent (the failed step rolled
//! back, the earlier ones committed) and the remaining steps listed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use tenantguard_catalog::{quote_ident, Snapshot};
use tenantguard_tenant_model::TenantModel;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::{Plan, Step};

pub type Progress = Arc<dyn Fn(usize, usize, &str) + Send + Sync>;

pub struct ApplyOptions {
    pub unsafe_fixes: bool,
    pub lock_timeout: Duration,
    /// Attempts per step when its lock could not be taken.
    pub attempts: usize,
    pub progress: Option<Progress>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            unsafe_fixes: false,
            lock_timeout: Duration::from_secs(3),
            attempts: 5,
            progress: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepOutcome {
    pub step: usize,
    pub summary: String,
    pub attempts: usize,
    pub elapsed_ms: u64,
    /// NOTICEs the step raised (the quarantine counts).
    pub notices: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ApplyReport {
    pub applied: Vec<StepOutcome>,
    /// The step that failed and PostgreSQL's message.
    pub failed: Option<(usize, String, String)>,
    /// Steps not run because of the failure.
    pub remaining: Vec<String>,
    /// Review steps left out (no `--unsafe-fixes`).
    pub not_applied_review: Vec<String>,
}

fn message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

pub async fn apply(client: &Client, plan: &Plan, opts: &ApplyOptions) -> ApplyReport {
    let mut report = ApplyReport::default();
    let steps: Vec<(usize, &Step)> = plan
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            let run = opts.unsafe_fixes || s.applicability == crate::Applicability::Safe;
            if !run {
                report.not_applied_review.push(s.summary.clone());
            }
            run
        })
        .collect();
    let total = steps.len();
    let lock_ms = opts.lock_timeout.as_millis().max(1);
    for (n, (i, step)) in steps.iter().enumerate() {
        if let Some(p) = &opts.progress {
            p(n, total, &step.summary);
        }
        let started = Instant::now();
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            let r = if step.transactional {
                let sql = format!(
                    "BEGIN; SET LOCAL lock_timeout = '{lock_ms}ms';\n{}\nCOMMIT;",
                    step.sql
                );
                let r = client.batch_execute(&sql).await;
                if r.is_err() {
                    let _ = client.batch_execute("ROLLBACK").await;
                }
                r
            } else {
                // A CONCURRENTLY build that failed leaves an INVALID index behind.
                if let Some(index) = &step.index {
                    let invalid = client
                        .query_one(
                            "SELECT coalesce((SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)), false)",
                            &[index],
                        )
                        .await
                        .map(|r| r.get::<_, bool>(0))
                        .unwrap_or(false);
                    if invalid {
                        let _ = client
                            .batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {index}"))
                            .await;
                    }
                }
                // Sent on their own: several statements in one message form an implicit
                // transaction block, which CONCURRENTLY refuses.
                match client
                    .batch_execute(&format!("SET lock_timeout = '{lock_ms}ms'"))
                    .await
                {
                    Ok(()) => client.batch_execute(&step.sql).await,
                    Err(e) => Err(e),
                }
            };
            match r {
                Ok(()) => break Ok(()),
                Err(e)
                    if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
                        && attempt < opts.attempts =>
                {
                    tokio::time::sleep(Duration::from_millis(250 * (1 << attempt.min(5)))).await;
                }
                Err(e) => break Err(e),
            }
        };
        let _ = client.batch_execute("RESET lock_timeout").await;
        match result {
            Ok(()) => report.applied.push(StepOutcome {
                step: i + 1,
                summary: step.summary.clone(),
                attempts: attempt,
                elapsed_ms: started.elapsed().as_millis() as u64,
                notices: vec![],
            }),
            Err(e) => {
                let why = if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
                    format!(
                        "{} — still locked after {attempt} attempts; retry when the table is less busy",
                        message(&e)
                    )
                } else {
                    message(&e)
                };
                report.failed = Some((i + 1, step.summary.clone(), why));
                report.remaining = steps[n + 1..]
                    .iter()
                    .map(|(j, s)| format!("step {}: {}", j + 1, s.summary))
                    .collect();
                break;
            }
        }
    }
    if let Some(p) = &opts.progress {
        p(total, total, "done");
    }
    report
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The seed's "delete an org, verify cascade": delete tenant `tenant` inside a transaction
/// that is rolled back, and count its rows left in every tenant table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CascadeCheck {
    pub tenant: String,
    /// The DELETE's error, when it failed (e.g. a RESTRICT foreign key).
    pub error: Option<String>,
    /// Tables that still hold rows of the deleted tenant, with counts.
    pub left: Vec<(String, i64)>,
    pub tables_checked: usize,
}

pub async fn cascade_check(
    client: &Client,
    snapshot: &Snapshot,
    model: &TenantModel,
    tenant: &str,
) -> Result<CascadeCheck> {
    let root = model
        .root
        .as_ref()
        .context("no tenant root: nothing to delete")?;
    let counts: Vec<String> = model
        .direct_tables()
        .filter(|(t, _)| snapshot.relation(t).is_some())
        .map(|(t, k)| {
            format!(
                "SELECT {} AS t, count(*) AS n FROM {} WHERE {}::text = $1",
                literal(&t.to_string()),
                t.sql(),
                quote_ident(k)
            )
        })
        .collect();
    client
        .batch_execute("BEGIN; SET LOCAL lock_timeout = '3s'; SET LOCAL statement_timeout = '60s';")
        .await
        .context("starting the cascade check")?;
    let deleted = client
        .execute(
            &format!(
                "DELETE FROM {} WHERE {}::text = $1",
                root.table.sql(),
                quote_ident(&root.key)
            ),
            &[&tenant],
        )
        .await;
    let mut check = CascadeCheck {
        tenant: tenant.to_string(),
        error: None,
        left: vec![],
        tables_checked: counts.len(),
    };
    match deleted {
        Err(e) => check.error = Some(message(&e)),
        Ok(_) if !counts.is_empty() => {
            let rows = client.query(&counts.join(" UNION ALL "), &[&tenant]).await;
            match rows {
                Ok(rows) => {
                    check.left = rows
                        .iter()
                        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
                        .filter(|(_, n)| *n > 0)
                        .collect()
                }
                Err(e) => check.error = Some(message(&e)),
            }
        }
        Ok(_) => {}
    }
    client.batch_execute("ROLLBACK").await.ok();
    Ok(check)
}
