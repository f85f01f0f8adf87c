//! The one list of rules. Adding a rule: a file under the category's folder, a doc page
//! `docs/rules/<id>.md` with a failing and a passing example, a line here, tests.

use crate::finding::{Category, Finding, Severity};
use crate::integrity;
use crate::Context;

pub struct Rule {
    /// Stable kebab-case id: part of the output contract.
    pub id: &'static str,
    pub severity: Severity,
    pub category: Category,
    pub summary: &'static str,
    /// Needs the data scan (skipped, and said so, with `--no-data` or `--snapshot`).
    pub needs_data: bool,
    /// The doc page, Markdown.
    pub doc: &'static str,
    pub check: fn(&Rule, &Context) -> Vec<Finding>,
}

macro_rules! doc {
    ($id:literal) => {
        include_str!(concat!("../../../docs/rules/", $id, ".md"))
    };
}

static RULES: &[Rule] = &[
    Rule {
        id: "null-tenant-rows",
        severity: Severity::Critical,
        category: Category::Integrity,
        summary: "Rows whose tenant key is NULL belong to no tenant",
        needs_data: true,
        doc: doc!("null-tenant-rows"),
        check: integrity::null_tenant_rows::check,
    },
    Rule {
        id: "orphan-tenant-rows",
        severity: Severity::Critical,
        category: Category::Integrity,
        summary: "Rows whose tenant does not exist (also behind a NOT VALID foreign key)",
        needs_data: true,
        doc: doc!("orphan-tenant-rows"),
        check: integrity::orphan_tenant_rows::check,
    },
    Rule {
        id: "cross-tenant-reference",
        severity: Severity::Critical,
        category: Category::Isolation,
        summary: "Rows that reference a parent row of another tenant",
        needs_data: true,
        doc: doc!("cross-tenant-reference"),
        check: integrity::cross_tenant_reference::check,
    },
    Rule {
        id: "tenant-key-nullable",
        severity: Severity::High,
        category: Category::Integrity,
        summary: "The tenant key column accepts NULL",
        needs_data: false,
        doc: doc!("tenant-key-nullable"),
        check: integrity::tenant_key_nullable::check,
    },
    Rule {
        id: "missing-tenant-fk",
        severity: Severity::High,
        category: Category::Integrity,
        summary: "The tenant key has no foreign key to the tenant root",
        needs_data: false,
        doc: doc!("missing-tenant-fk"),
        check: integrity::missing_tenant_fk::check,
    },
    Rule {
        id: "tenant-fk-not-validated",
        severity: Severity::High,
        category: Category::Integrity,
        summary: "The tenant foreign key was added NOT VALID and never validated",
        needs_data: false,
        doc: doc!("tenant-fk-not-validated"),
        check: integrity::tenant_fk_not_validated::check,
    },
    Rule {
        id: "tenant-fk-not-cascade",
        severity: Severity::Medium,
        category: Category::Integrity,
        summary: "Deleting a tenant does not delete this table's rows (ON DELETE is not the expected action)",
        needs_data: false,
        doc: doc!("tenant-fk-not-cascade"),
        check: integrity::tenant_fk_not_cascade::check,
    },
    Rule {
        id: "tenant-key-unindexed",
        severity: Severity::Medium,
        category: Category::Performance,
        summary: "No index leads with the tenant key (every tenant-scoped query and RLS check scans the table)",
        needs_data: false,
        doc: doc!("tenant-key-unindexed"),
        check: integrity::tenant_key_unindexed::check,
    },
    Rule {
        id: "data-scan-incomplete",
        severity: Severity::Medium,
        category: Category::Integrity,
        summary: "A data scan timed out or failed, so this table's data was not verified",
        needs_data: true,
        doc: doc!("data-scan-incomplete"),
        check: integrity::data_scan_incomplete::check,
    },
];

pub fn registry() -> &'static [Rule] {
    RULES
}

pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// Runs every enabled rule; findings ordered most severe first, then by object and rule.
pub fn run_rules(ctx: &Context) -> Vec<Finding> {
    let mut findings: Vec<Finding> = RULES
        .iter()
        .filter(|r| !ctx.config.disabled.iter().any(|d| d == r.id))
        .filter(|r| !r.needs_data || ctx.scans.is_some())
        .flat_map(|r| (r.check)(r, ctx))
        .collect();
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| {
                (&a.object.schema, &a.object.name).cmp(&(&b.object.schema, &b.object.name))
            })
            .then_with(|| a.rule.cmp(&b.rule))
    });
    findings
}

impl Rule {
    /// A finding of this rule, with its id, severity and category filled in.
    pub fn finding(
        &self,
        object: crate::ObjectRef,
        message: String,
        evidence: serde_json::Value,
        fix: Option<String>,
    ) -> Finding {
        Finding {
            rule: self.id.to_string(),
            severity: self.severity,
            category: self.category,
            object,
            policy: None,
            message,
            evidence,
            fix,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_a_unique_kebab_id_and_a_doc_page_with_both_examples() {
        let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len(), "duplicate rule id");
        for r in RULES {
            assert!(
                r.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{} is not kebab-case",
                r.id
            );
            assert!(
                r.doc.starts_with(&format!("# {}", r.id)),
                "{}: doc title",
                r.id
            );
            assert!(
                r.doc.contains("## Failing example"),
                "{}: failing example",
                r.id
            );
            assert!(
                r.doc.contains("## Passing example"),
                "{}: passing example",
                r.id
            );
        }
    }
}
