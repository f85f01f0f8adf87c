//! Stage 3a: the data scan. Counts what the catalog cannot show — NULL tenant keys, rows whose
//! tenant does not exist (also behind a `NOT VALID` foreign key), rows referencing a parent row
//! of another tenant — in the database, one statement per table, several tables at once, each
//! in a READ ONLY transaction under a statement timeout.
//!
//! Query shapes follow what was measured on PostgreSQL 15 (see docs/performance.md):
//! with an index leading on the tenant key, a recursive-CTE skip scan visits each distinct
//! tenant once and anti-joins only those against the root (~0.2× a `count(*)`); without one, a
//! single parallel pass: an anti-join grouped by tenant key (~2.7× a parallel `count(*)`). Never `NOT IN (SELECT …)`, which degrades to
//! a per-row linear search once the root no longer fits in `work_mem`.

mod plan;
mod run;

pub use plan::{plan_scans, ScanKind, ScanTask};
pub use run::{run_scans, ScanOptions, ScanProgress};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ScanOutcome {
    TenantKey {
        null_rows: i64,
        orphan_rows: i64,
        /// Distinct tenant ids that do not exist in the root.
        missing_tenants: i64,
        /// Up to five of those ids, as text.
        sample: Vec<String>,
    },
    CrossTenant {
        rows: i64,
        /// Up to five examples: `child tenant → parent tenant via (fk values)`.
        sample: Vec<String>,
    },
    /// The statement hit `--scan-timeout`.
    TimedOut {
        after_ms: u64,
    },
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanResult {
    pub task: ScanTask,
    pub outcome: ScanOutcome,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScanReport {
    pub results: Vec<ScanResult>,
    /// The scanning role is subject to RLS (not superuser, no BYPASSRLS): counts on tables with
    /// RLS enabled that it does not own may be incomplete.
    pub rls_may_hide_rows: bool,
    pub elapsed_ms: u64,
}
