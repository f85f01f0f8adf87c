//! Stage 4: the proof. Impersonate tenant A (and anonymous callers) and attack tenant B's rows
//! for real — reads, writes, moves, deletes, upserts, views, SECURITY DEFINER functions — each
//! attack in a savepoint of a transaction that always ends in ROLLBACK.
//!
//! - [`attacker`]: who attacks (role + JWT claims or a tenant setting).
//! - [`tenants`]: which two tenants, and a user of A for membership policies.
//! - [`rows`]: the type-aware row builder that seeds B's rows inside the transaction.
//! - [`attacks`]: the attacks on one table, view or function, and how each is counted.
//! - [`own`]: the positive control — A reaching its own rows.
//! - [`predicates`]: membership lookups and seed values read from policies and CHECKs.
//! - [`run`]: the parallel driver.

pub mod attacker;
pub mod attacks;
pub mod objects;
pub mod own;
pub mod predicates;
pub mod reconcile;
pub mod rows;
pub mod run;
pub mod tenants;

use serde::{Deserialize, Serialize};
pub use tenantguard_access::Command;

pub use attacker::{Attacker, ClaimTemplate};
pub use own::{OwnAccess, OwnAccessMatrix, OwnOutcome};
pub use reconcile::{reconcile, Disagreement, Reconciliation};
pub use run::{own_access, prove, OwnTrial, ProveOptions, TrialResult};

/// One way of reaching another tenant's rows. The names are the JSON contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attack {
    /// `SELECT` B's rows.
    Read,
    /// `UPDATE … WHERE <B's rows> RETURNING`: B's rows read back through RETURNING.
    ReadReturning,
    /// `INSERT` a row for B.
    Insert,
    /// `UPDATE … WHERE <B's rows>` (PostgreSQL also applies the SELECT policy).
    Update,
    /// `UPDATE` without WHERE, setting constants only: no SELECT policy applies.
    UpdateAll,
    /// Move one of A's rows to B.
    Move,
    /// `DELETE … WHERE <B's rows>`.
    Delete,
    /// `DELETE` without WHERE: no SELECT policy applies.
    DeleteAll,
    /// `INSERT … ON CONFLICT DO UPDATE` onto B's key.
    Upsert,
    /// A unique violation on B's key reveals that the row exists.
    ExistsOracle,
    /// A SECURITY DEFINER function called with B's id.
    Call,
}

impl Attack {
    pub const TABLE_ATTACKS: [Attack; 10] = [
        Attack::Read,
        Attack::ReadReturning,
        Attack::Insert,
        Attack::Update,
        Attack::UpdateAll,
        Attack::Move,
        Attack::Delete,
        Attack::DeleteAll,
        Attack::Upsert,
        Attack::ExistsOracle,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Attack::Read => "read",
            Attack::ReadReturning => "read_returning",
            Attack::Insert => "insert",
            Attack::Update => "update",
            Attack::UpdateAll => "update_all",
            Attack::Move => "move",
            Attack::Delete => "delete",
            Attack::DeleteAll => "delete_all",
            Attack::Upsert => "upsert",
            Attack::ExistsOracle => "exists_oracle",
            Attack::Call => "call",
        }
    }

    /// Reads only: what `--read-only` runs.
    pub fn is_read(self) -> bool {
        matches!(self, Attack::Read)
    }

    /// The command whose policies decide the attack (for reconciling with the analyser).
    pub fn command(self) -> Command {
        match self {
            Attack::Read | Attack::Call => Command::Select,
            Attack::Insert | Attack::ExistsOracle => Command::Insert,
            Attack::ReadReturning
            | Attack::Update
            | Attack::UpdateAll
            | Attack::Move
            | Attack::Upsert => Command::Update,
            Attack::Delete | Attack::DeleteAll => Command::Delete,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// RLS or a missing privilege stopped it.
    Blocked,
    /// B's rows were read or written; `rows` says how many.
    Leak,
    /// An error that is neither an RLS nor a permission denial: shown, never counted as
    /// blocked or leaked.
    Error,
    /// Not run; `detail` says why.
    Skipped,
    /// Not a leak of rows, but something the attacker learns (the existence oracle).
    Info,
    /// The attack has no meaning here (creating a root row is creating a tenant; a table
    /// without a tenant key of its own has no rows to move; a caller without a tenant has
    /// nothing of its own to move). Not counted as skipped: nothing was left untested.
    NotApplicable,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Blocked => "blocked",
            Outcome::Leak => "leak",
            Outcome::Error => "error",
            Outcome::Skipped => "skipped",
            Outcome::Info => "info",
            Outcome::NotApplicable => "not_applicable",
        }
    }
}

/// What the object attacked is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Table,
    View,
    MaterializedView,
    Function,
}

/// One attack's result: the JSON contract is `table`, `role`, `attack`, `outcome`, `rows`,
/// `detail` (`kind` added: views and functions appear as their own objects).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttackResult {
    /// `schema.name` of the table, view or function attacked.
    pub table: String,
    pub kind: ObjectKind,
    /// The attacker's label (`authenticated`, `anon`, `authenticated (no claims)`, a role).
    pub role: String,
    pub attack: Attack,
    pub outcome: Outcome,
    /// B's rows read or written (0 unless leaked or revealed).
    pub rows: u64,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantPair {
    /// The attacker's own tenant.
    pub attacker: String,
    /// The victim.
    pub victim: String,
    pub how_chosen: String,
    /// A user of tenant A put in the JWT's `sub` (membership policies need one).
    pub attacker_user: Option<String>,
    /// A user of tenant B (B's seeded rows point at it where they reference the users table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub victim_user: Option<String>,
    /// Tenants that do not exist in the root table (fewer than two did): their root rows are
    /// inserted inside every rolled-back transaction of the proof.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub synthesized: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProofSummary {
    pub attacks: usize,
    pub leaks: usize,
    pub blocked: usize,
    pub errors: usize,
    pub skipped: usize,
    pub info: usize,
    /// Attacks that have no meaning on their object (see [`Outcome::NotApplicable`]).
    #[serde(default)]
    pub not_applicable: usize,
    /// Objects (tables, views, functions) with at least one leak.
    pub leaking_objects: usize,
}

/// The `prove` report: `{"tool":"tenantguard","results":[…]}` plus context.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProofReport {
    pub tool: String,
    pub version: String,
    pub database: String,
    pub tenants: Option<TenantPair>,
    /// Attacker labels, in the order of the matrix.
    pub roles: Vec<String>,
    /// Each attacker: its database role and the session settings (JWT claims) it used.
    pub attackers: Vec<Attacker>,
    pub read_only: bool,
    pub results: Vec<AttackResult>,
    /// The positive control: A's own rows read, inserted, updated and deleted by each attacker
    /// acting for A (`{"table","role","command","outcome","detail"}`).
    #[serde(default)]
    pub own_access: Vec<own::OwnAccess>,
    /// A could not read its own rows anywhere: its claims are probably wrong, and the attacks'
    /// "blocked" says nothing.
    #[serde(default)]
    pub claims_suspect: bool,
    pub summary: ProofSummary,
    pub elapsed_ms: u64,
    pub notes: Vec<String>,
}

impl ProofReport {
    pub fn leaks(&self) -> impl Iterator<Item = &AttackResult> {
        self.results.iter().filter(|r| r.outcome == Outcome::Leak)
    }

    pub fn summarise(results: &[AttackResult]) -> ProofSummary {
        let count = |o: Outcome| results.iter().filter(|r| r.outcome == o).count();
        let mut leaking: Vec<&str> = results
            .iter()
            .filter(|r| r.outcome == Outcome::Leak)
            .map(|r| r.table.as_str())
            .collect();
        leaking.sort_unstable();
        leaking.dedup();
        ProofSummary {
            attacks: results.len(),
            leaks: count(Outcome::Leak),
            blocked: count(Outcome::Blocked),
            errors: count(Outcome::Error),
            skipped: count(Outcome::Skipped),
            info: count(Outcome::Info),
            not_applicable: count(Outcome::NotApplicable),
            leaking_objects: leaking.len(),
        }
    }
}

/// A SQL string literal (standard_conforming_strings is on in every supported version).
pub(crate) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
