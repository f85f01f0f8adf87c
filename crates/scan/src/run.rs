//! Runs the planned statements on `jobs` connections at once. Every statement runs in its own
//! READ ONLY transaction that is rolled back, under `statement_timeout` and a short
//! `lock_timeout` (a scan never queues behind a migration's lock for long).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use tenantguard_catalog::connect::{connect, error_text};
use tokio_postgres::error::SqlState;

use crate::{ScanKind, ScanOutcome, ScanReport, ScanResult, ScanTask};

/// Called after each finished statement: (finished, total, table).
pub type ScanProgress = Arc<dyn Fn(usize, usize, &str) + Send + Sync>;

#[derive(Clone)]
pub struct ScanOptions {
    pub jobs: usize,
    pub statement_timeout: Duration,
    pub lock_timeout: Duration,
    pub progress: Option<ScanProgress>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            jobs: 4,
            statement_timeout: Duration::from_secs(300),
            lock_timeout: Duration::from_secs(2),
            progress: None,
        }
    }
}

pub async fn run_scans(
    url: &str,
    mut tasks: Vec<ScanTask>,
    rls_may_hide_rows: bool,
    options: &ScanOptions,
) -> Result<ScanReport> {
    let started = Instant::now();
    let total = tasks.len();
    // Biggest tables first, so the parallel workers finish close together.
    tasks.sort_by(|a, b| b.estimated_rows.total_cmp(&a.estimated_rows));
    let queue = Arc::new(Mutex::new(
        tasks.into_iter().enumerate().collect::<VecDeque<_>>(),
    ));
    let done = Arc::new(Mutex::new(Vec::<(usize, ScanResult)>::with_capacity(total)));
    let workers = options.jobs.max(1).min(total.max(1));

    let mut handles = vec![];
    for _ in 0..workers {
        let (client, _) = connect(url).await?;
        let queue = queue.clone();
        let done = done.clone();
        let options = options.clone();
        handles.push(tokio::spawn(async move {
            loop {
                let Some((i, task)) = queue.lock().expect("queue lock").pop_front() else {
                    break;
                };
                let result = run_one(&client, task, &options).await;
                let table = result.task.table.to_string();
                let finished = {
                    let mut d = done.lock().expect("results lock");
                    d.push((i, result));
                    d.len()
                };
                if let Some(p) = &options.progress {
                    p(finished, total, &table);
                }
            }
        }));
    }
    for h in handles {
        h.await?;
    }
    let mut results = std::mem::take(&mut *done.lock().expect("results lock"));
    results.sort_by_key(|(i, _)| *i);
    Ok(ScanReport {
        results: results.into_iter().map(|(_, r)| r).collect(),
        rls_may_hide_rows,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

async fn run_one(
    client: &tokio_postgres::Client,
    task: ScanTask,
    options: &ScanOptions,
) -> ScanResult {
    let started = Instant::now();
    let setup = format!(
        "BEGIN TRANSACTION READ ONLY; SET LOCAL statement_timeout = {}; SET LOCAL lock_timeout = {};",
        options.statement_timeout.as_millis().max(1),
        options.lock_timeout.as_millis().max(1)
    );
    let outcome = match client.batch_execute(&setup).await {
        Err(e) => ScanOutcome::Failed {
            error: error_text(&e),
        },
        Ok(()) => match client.query_one(&task.sql, &[]).await {
            Ok(row) => match &task.kind {
                ScanKind::TenantKey { .. } => ScanOutcome::TenantKey {
                    null_rows: row.get(0),
                    orphan_rows: row.get(1),
                    missing_tenants: row.get(2),
                    sample: row.get(3),
                },
                ScanKind::CrossTenant { .. } => ScanOutcome::CrossTenant {
                    rows: row.get(0),
                    sample: row.get(1),
                },
            },
            Err(e) if e.code() == Some(&SqlState::QUERY_CANCELED) => ScanOutcome::TimedOut {
                after_ms: started.elapsed().as_millis() as u64,
            },
            Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => ScanOutcome::Failed {
                error: format!(
                    "waited longer than {:?} for a lock (a migration holds the table?)",
                    options.lock_timeout
                ),
            },
            Err(e) => ScanOutcome::Failed {
                error: error_text(&e),
            },
        },
    };
    let _ = client.batch_execute("ROLLBACK").await;
    ScanResult {
        task,
        outcome,
        elapsed_ms: started.elapsed().as_millis() as u64,
    }
}
