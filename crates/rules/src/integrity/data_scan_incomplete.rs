use serde_json::json;
use tenantguard_scan::{ScanKind, ScanOutcome};

use super::scan_results;
use crate::{Context, Finding, ObjectRef, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    scan_results(ctx)
        .filter_map(|r| {
            let what = match &r.task.kind {
                ScanKind::TenantKey { column, .. } => format!("NULL/orphan scan of {column}"),
                ScanKind::CrossTenant { constraint, .. } => format!("cross-tenant scan of {constraint}"),
            };
            let (message, evidence) = match &r.outcome {
                ScanOutcome::TimedOut { after_ms } => (
                    format!("{what} on {} timed out after {after_ms} ms; its data was not verified (raise --scan-timeout)", r.task.table),
                    json!({ "scan": what, "timed_out_after_ms": after_ms, "sql": r.task.sql }),
                ),
                ScanOutcome::Failed { error } => (
                    format!("{what} on {} failed: {error}", r.task.table),
                    json!({ "scan": what, "error": error, "sql": r.task.sql }),
                ),
                _ => return None,
            };
            Some(rule.finding(ObjectRef::table(&r.task.table), message, evidence, None))
        })
        .collect()
}
