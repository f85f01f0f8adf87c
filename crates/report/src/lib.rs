//! Stage 5: reports. Renderers only: everything they print was computed earlier.

mod html;
mod junit;
mod markdown;
mod proof;
mod sarif;
mod text;

pub use html::{render_html, HtmlExtras};
pub use junit::render_junit;
pub use markdown::render_markdown;
pub use proof::{render_proof_text, render_reconciliation_text};
pub use sarif::render_sarif;
pub use text::{render_text, render_text_with_proof};

use serde::{Deserialize, Serialize};
use tenantguard_rules::checklist::ChecklistItem;
use tenantguard_rules::{Finding, Severity};

/// The whole result of an audit, as `--format json` prints it. The fields `tool`, `version`
/// and `findings` are the stable contract; the rest may grow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditReport {
    pub tool: String,
    pub version: String,
    pub database: String,
    pub findings: Vec<Finding>,
    pub summary: Summary,
    pub data_scan: DataScanSummary,
    pub model: ModelSummary,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub checklist: Vec<ChecklistItem>,
    /// Things the reader must know to trust the result (e.g. skipped checks).
    pub notes: Vec<String>,
    /// Findings suppressed by the baseline or an inline ignore, with why.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub suppressed: Vec<tenantguard_rules::suppress::Suppressed>,
    /// `audit --prove`: the attacks' results.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub proof: Option<tenantguard_probe::ProofReport>,
    /// `audit --prove`: where the analysis and the attacks disagree.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub reconciliation: Vec<tenantguard_probe::Reconciliation>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub info: usize,
    pub tables: usize,
    /// Findings set aside by a baseline or a `tenantguard:ignore` comment (listed under
    /// `suppressed`, not in `findings`).
    #[serde(default)]
    pub suppressed: usize,
}

impl Summary {
    pub fn from_findings(findings: &[Finding], tables: usize) -> Self {
        let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
        Self {
            critical: count(Severity::Critical),
            high: count(Severity::High),
            medium: count(Severity::Medium),
            low: count(Severity::Low),
            info: count(Severity::Info),
            tables,
            suppressed: 0,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DataScanSummary {
    pub ran: bool,
    /// Why it did not run, when it did not.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub skipped_because: Option<String>,
    pub statements: usize,
    pub timed_out: usize,
    pub failed: usize,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModelSummary {
    pub root: Option<String>,
    pub direct: usize,
    pub indirect: usize,
    pub global: usize,
}

pub fn render_json(report: &AuditReport) -> String {
    serde_json::to_string_pretty(report).expect("the report is plain data")
}
