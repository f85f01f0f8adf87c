//! Stage 4: rules. Each rule is one file with one `check` function over the snapshot, the
//! tenant model and (for data rules) the scan results; it is registered once in
//! [`registry`] with its stable id, severity, category and doc page (`docs/rules/<id>.md`).

pub mod checklist;
mod finding;
pub mod integrity;
mod registry;
pub mod rls;
pub mod suppress;

pub use finding::{Category, Finding, ObjectKind, ObjectRef, Severity, SourceLocation};
pub use registry::{registry, rule, run_rules, Rule};

use tenantguard_access::AccessModel;
use tenantguard_catalog::{FkAction, Snapshot};
use tenantguard_scan::ScanReport;
use tenantguard_tenant_model::TenantModel;

/// Settings rules read (the `[integrity]` and `[rules]` tables of `tenantguard.toml`).
#[derive(Debug, Clone)]
pub struct RulesConfig {
    /// The ON DELETE action tenant foreign keys should have (`cascade` by default, as the seed
    /// audit asks: deleting a tenant deletes its rows).
    pub expected_on_delete: FkAction,
    /// Rule ids switched off.
    pub disabled: Vec<String>,
    /// Login roles that are expected to bypass RLS (the platform's administrators).
    pub admin_roles: Vec<String>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            expected_on_delete: FkAction::Cascade,
            disabled: vec![],
            admin_roles: [
                "postgres",
                "supabase_admin",
                "supabase_auth_admin",
                "supabase_storage_admin",
                "supabase_replication_admin",
                "supabase_etl_admin",
                "supabase_read_only_user",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// Everything a rule may look at. `scans` is `None` when the data checks did not run
/// (`--no-data`, or an offline `--snapshot`).
pub struct Context<'a> {
    pub snapshot: &'a Snapshot,
    pub model: &'a TenantModel,
    pub access: &'a AccessModel,
    pub scans: Option<&'a ScanReport>,
    pub config: &'a RulesConfig,
}
