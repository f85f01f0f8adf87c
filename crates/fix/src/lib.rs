//! Stage 5: fixes. Findings become a migration — ordered so each step is valid when it runs
//! (quarantine data → constraints → indexes → RLS → policies → bypass paths), idempotent,
//! online-safe (NOT VALID then VALIDATE, CONCURRENTLY, `lock_timeout` on every step), and
//! losing no row (rows are moved to `tenantguard_quarantine`, never deleted).
//!
//! - [`plan`](plan::plan): findings → [`Plan`].
//! - [`quarantine`]: the data moves and `restore`.
//! - [`guard`]: tries the steps on the database (rolled back) and withholds any that would
//!   take away tenant A's own access.
//! - [`apply`]: runs a plan step by step with retries, and the live cascade check.

pub mod apply;
pub mod guard;
pub mod plan;
pub mod quarantine;
pub mod rewrite;
pub mod template;

use serde::{Deserialize, Serialize};

pub use apply::{apply, cascade_check, ApplyOptions, ApplyReport, CascadeCheck};
pub use guard::{guard, GuardReport, LostAccess, WithheldStep};
pub use plan::{plan, render_migration, PlanOptions};
pub use quarantine::{restore, RestoreReport, QUARANTINE_SCHEMA};

/// When a step runs: every step of an earlier phase is valid before any of a later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Quarantine,
    Constraints,
    Indexes,
    Rls,
    Policies,
    BypassPaths,
}

impl Phase {
    pub fn title(self) -> &'static str {
        match self {
            Phase::Quarantine => "quarantine rows no tenant can own",
            Phase::Constraints => "constraints",
            Phase::Indexes => "indexes",
            Phase::Rls => "row level security",
            Phase::Policies => "policies",
            Phase::BypassPaths => "paths around RLS",
        }
    }
}

/// As ruff has it: `safe` fixes cannot change what a correctly scoped application sees and
/// are applied by default; `review` fixes change what some caller sees (e.g. dropping a
/// `USING (true)` policy the front end may rely on) and are applied only with
/// `--unsafe-fixes`. Both are always listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applicability {
    Safe,
    Review,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub phase: Phase,
    /// What the step works on (`public.orders`, a function's signature, …).
    pub object: String,
    /// One line: what it does.
    pub summary: String,
    /// The findings it closes, as `rule object` (and `policy`).
    pub closes: Vec<String>,
    pub applicability: Applicability,
    /// Runs inside BEGIN … COMMIT; false for `CREATE INDEX CONCURRENTLY`.
    pub transactional: bool,
    pub sql: String,
    /// For CONCURRENTLY index steps: the index name (a failed build leaves an INVALID index,
    /// which is dropped before the retry).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub index: Option<String>,
}

/// A finding no automatic step closes, with why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manual {
    pub closes: String,
    pub why: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub suggestion: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub manual: Vec<Manual>,
}

impl Plan {
    /// The steps that run: safe ones, and review ones with `--unsafe-fixes`.
    pub fn runnable(&self, unsafe_fixes: bool) -> impl Iterator<Item = &Step> {
        self.steps
            .iter()
            .filter(move |s| unsafe_fixes || s.applicability == Applicability::Safe)
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}
