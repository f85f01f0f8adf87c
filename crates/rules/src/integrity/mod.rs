//! Phases 1–2 of the seed audit: is every tenant row owned by an existing tenant, and does the
//! schema make it impossible for that to stop being true?

pub mod cross_tenant_reference;
pub mod data_scan_incomplete;
pub mod missing_tenant_fk;
pub mod null_tenant_rows;
pub mod orphan_tenant_rows;
pub mod tenant_fk_not_cascade;
pub mod tenant_fk_not_validated;
pub mod tenant_key_nullable;
pub mod tenant_key_unindexed;

use tenantguard_catalog::{Constraint, ForeignKey, QualifiedName, Relation};
use tenantguard_scan::{ScanKind, ScanOutcome, ScanResult};
use tenantguard_tenant_model::{Tenancy, TenantRoot};

use crate::Context;

/// A directly tenanted table with its tenant-key column and the root.
pub(crate) struct TenantTable<'a> {
    pub name: &'a QualifiedName,
    pub rel: &'a Relation,
    pub column: &'a str,
    pub root: &'a TenantRoot,
    /// The foreign key the model found from the key column to the root.
    pub fk: Option<(&'a Constraint, &'a ForeignKey)>,
}

pub(crate) fn tenant_tables<'a>(ctx: &'a Context) -> Vec<TenantTable<'a>> {
    let Some(root) = &ctx.model.root else {
        return vec![];
    };
    ctx.model
        .tables
        .iter()
        .filter_map(|(name, t)| match t {
            Tenancy::Direct { column, fk, .. } => {
                let rel = ctx.snapshot.relation(name)?;
                let fk = fk
                    .as_ref()
                    .and_then(|fk_name| rel.foreign_keys().find(|(c, _)| &c.name == fk_name));
                Some(TenantTable {
                    name,
                    rel,
                    column,
                    root,
                    fk,
                })
            }
            _ => None,
        })
        .collect()
}

/// Whether the table's policies treat rows with a NULL tenant key as shared (`org_id IS NULL OR
/// …` in a SELECT policy: templates every tenant reads). NULL is then part of the design, not
/// a defect; tenants writing such rows is judged by the RLS rules (a WITH CHECK or UPDATE that
/// admits them is open).
pub(crate) fn shares_null_rows(ctx: &Context, table: &QualifiedName, column: &str) -> bool {
    ctx.access.policies.iter().any(|p| {
        &p.table == table
            && p.observations.iter().any(|o| {
                matches!(o, tenantguard_access::Observation::SharedRows { column: c, .. } if c == column)
            })
    })
}

/// Scan results of one kind, with their table.
pub(crate) fn scan_results<'a>(ctx: &'a Context) -> impl Iterator<Item = &'a ScanResult> {
    ctx.scans.into_iter().flat_map(|s| s.results.iter())
}

pub(crate) fn tenant_key_counts(r: &ScanResult) -> Option<(&str, i64, i64, i64, &[String])> {
    match (&r.task.kind, &r.outcome) {
        (
            ScanKind::TenantKey { column, .. },
            ScanOutcome::TenantKey {
                null_rows,
                orphan_rows,
                missing_tenants,
                sample,
            },
        ) => Some((column, *null_rows, *orphan_rows, *missing_tenants, sample)),
        _ => None,
    }
}

/// A constraint or index name within PostgreSQL's 63-byte limit.
pub(crate) fn object_name(parts: &[&str], suffix: &str) -> String {
    let mut base = parts.join("_");
    let max = 63 - suffix.len() - 1;
    while base.len() > max {
        base.pop();
    }
    format!("{base}_{suffix}")
}
