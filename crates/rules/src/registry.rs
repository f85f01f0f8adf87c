//! The one list of rules. Adding a rule: a file under the category's folder, a doc page
//! `docs/rules/<id>.md` with a failing and a passing example, a line here, tests.

use crate::finding::{Category, Finding, Severity};
use crate::integrity;
use crate::rls;
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
        id: "rls-disabled",
        severity: Severity::Critical,
        category: Category::Isolation,
        summary: "Row level security is off on a tenant table that API roles can reach",
        needs_data: false,
        doc: doc!("rls-disabled"),
        check: rls::rls_disabled::check,
    },
    Rule {
        id: "policy-not-tenant-bound",
        severity: Severity::Critical,
        category: Category::Isolation,
        summary: "A permissive policy lets some role read, update or delete other tenants' rows",
        needs_data: false,
        doc: doc!("policy-not-tenant-bound"),
        check: rls::policy_not_tenant_bound::check,
    },
    Rule {
        id: "with-check-not-tenant-bound",
        severity: Severity::Critical,
        category: Category::Isolation,
        summary: "INSERT/UPDATE WITH CHECK lets a row be written into, or moved to, another tenant",
        needs_data: false,
        doc: doc!("with-check-not-tenant-bound"),
        check: rls::with_check_not_tenant_bound::check,
    },
    Rule {
        id: "untrusted-tenant-claim",
        severity: Severity::Critical,
        category: Category::Isolation,
        summary: "The tenant comes from a JWT claim the user can edit (user_metadata)",
        needs_data: false,
        doc: doc!("untrusted-tenant-claim"),
        check: rls::untrusted_tenant_claim::check,
    },
    Rule {
        id: "claim-fallback-opens-rows",
        severity: Severity::Critical,
        category: Category::Isolation,
        summary: "Rows open up when the tenant claim is missing (coalesce fallback, `IS NULL OR`)",
        needs_data: false,
        doc: doc!("claim-fallback-opens-rows"),
        check: rls::claim_fallback::check,
    },
    Rule {
        id: "view-bypasses-rls",
        severity: Severity::Critical,
        category: Category::Isolation,
        summary: "A view without security_invoker shows tenant rows as an owner that bypasses RLS",
        needs_data: false,
        doc: doc!("view-bypasses-rls"),
        check: rls::view_bypasses_rls::check,
    },
    Rule {
        id: "materialized-view-exposed",
        severity: Severity::Critical,
        category: Category::Isolation,
        summary: "A materialized view of tenant rows (no RLS) is readable by API roles",
        needs_data: false,
        doc: doc!("materialized-view-exposed"),
        check: rls::materialized_view_exposed::check,
    },
    Rule {
        id: "partition-bypasses-rls",
        severity: Severity::Critical,
        category: Category::Isolation,
        summary: "A partition or child table of a tenant table is readable directly without RLS",
        needs_data: false,
        doc: doc!("partition-bypasses-rls"),
        check: rls::partition_bypasses_rls::check,
    },
    Rule {
        id: "security-definer-exposed",
        severity: Severity::Critical,
        category: Category::Privilege,
        summary: "A SECURITY DEFINER function reads or writes tenant rows for any caller",
        needs_data: false,
        doc: doc!("security-definer-exposed"),
        check: rls::security_definer_exposed::check,
    },
    Rule {
        id: "tenant-pointer-writable",
        severity: Severity::Critical,
        category: Category::Isolation,
        summary: "The tenant pointer or membership the policies trust can be written by the caller",
        needs_data: false,
        doc: doc!("tenant-pointer-writable"),
        check: rls::tenant_pointer_writable::check,
    },
    Rule {
        id: "policy-pins-other-column",
        severity: Severity::High,
        category: Category::Isolation,
        summary: "A policy compares some other column with the tenant claim",
        needs_data: false,
        doc: doc!("policy-pins-other-column"),
        check: rls::policy_pins_other_column::check,
    },
    Rule {
        id: "rls-not-forced",
        severity: Severity::High,
        category: Category::Privilege,
        summary: "RLS is not FORCEd on a table whose owner the application can log in as",
        needs_data: false,
        doc: doc!("rls-not-forced"),
        check: rls::rls_not_forced::check,
    },
    Rule {
        id: "login-role-bypasses-rls",
        severity: Severity::High,
        category: Category::Privilege,
        summary: "A login role has SUPERUSER or BYPASSRLS",
        needs_data: false,
        doc: doc!("login-role-bypasses-rls"),
        check: rls::login_role_bypasses_rls::check,
    },
    Rule {
        id: "foreign-table-exposed",
        severity: Severity::High,
        category: Category::Isolation,
        summary: "A foreign table (never filtered by RLS) is readable by API roles",
        needs_data: false,
        doc: doc!("foreign-table-exposed"),
        check: rls::foreign_table_exposed::check,
    },
    Rule {
        id: "policy-unverifiable",
        severity: Severity::Medium,
        category: Category::Isolation,
        summary: "A policy could not be verified (the reason says what was not understood)",
        needs_data: false,
        doc: doc!("policy-unverifiable"),
        check: rls::policy_unverifiable::check,
    },
    Rule {
        id: "inconsistent-claim-names",
        severity: Severity::Medium,
        category: Category::Isolation,
        summary: "Policies read different tenant claims",
        needs_data: false,
        doc: doc!("inconsistent-claim-names"),
        check: rls::inconsistent_claim_names::check,
    },
    Rule {
        id: "function-search-path-mutable",
        severity: Severity::Medium,
        category: Category::Privilege,
        summary: "A SECURITY DEFINER function does not pin its search_path",
        needs_data: false,
        doc: doc!("function-search-path-mutable"),
        check: rls::function_search_path_mutable::check,
    },
    Rule {
        id: "auth-call-per-row",
        severity: Severity::Medium,
        category: Category::Performance,
        summary: "An auth function in a policy is evaluated per row instead of once",
        needs_data: false,
        doc: doc!("auth-call-per-row"),
        check: rls::auth_call_per_row::check,
    },
    Rule {
        id: "membership-in-subquery",
        severity: Severity::Medium,
        category: Category::Performance,
        summary: "A membership `IN (SELECT …)` policy walks the whole index",
        needs_data: false,
        doc: doc!("membership-in-subquery"),
        check: rls::membership_in_subquery::check,
    },
    Rule {
        id: "rls-no-policy",
        severity: Severity::Info,
        category: Category::Isolation,
        summary: "RLS is enabled with no policy: API roles see nothing",
        needs_data: false,
        doc: doc!("rls-no-policy"),
        check: rls::rls_no_policy::check,
    },
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
    for f in &mut findings {
        f.fingerprint = f.compute_fingerprint();
    }
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
            location: None,
            fingerprint: String::new(),
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
