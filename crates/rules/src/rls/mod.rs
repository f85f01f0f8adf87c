//! Phase 3 of the seed audit: row-level security, from the access model (what each API role can
//! really do in each table) and from the paths around RLS (owners, BYPASSRLS roles, views,
//! materialized views, partitions, SECURITY DEFINER functions).

pub mod auth_call_per_row;
pub mod claim_fallback;
pub mod foreign_table_exposed;
pub mod function_search_path_mutable;
pub mod inconsistent_claim_names;
pub mod login_role_bypasses_rls;
pub mod materialized_view_exposed;
pub mod membership_in_subquery;
pub mod partition_bypasses_rls;
pub mod policy_not_tenant_bound;
pub mod policy_pins_other_column;
pub mod policy_unverifiable;
pub mod rls_disabled;
pub mod rls_no_policy;
pub mod rls_not_forced;
pub mod security_definer_exposed;
pub mod tenant_pointer_writable;
pub mod untrusted_tenant_claim;
pub mod view_bypasses_rls;
pub mod with_check_not_tenant_bound;

use std::collections::BTreeMap;

use serde_json::json;
use tenantguard_access::{Cell, OpenKind, Roles, Verdict};
use tenantguard_catalog::{quote_ident, QualifiedName, Relation};
use tenantguard_tenant_model::Tenancy;

use crate::{Context, Finding, ObjectRef, Rule};

/// Is `name` a table holding tenant rows (root, direct or indirect)?
pub(crate) fn tenanted(ctx: &Context, name: &QualifiedName) -> bool {
    matches!(
        ctx.model.tenancy(name),
        Some(Tenancy::Root | Tenancy::Direct { .. } | Tenancy::Indirect { .. })
    )
}

/// Tenanted tables a relation inherits from (partition parents, inheritance parents).
pub(crate) fn tenanted_ancestor(ctx: &Context, rel: &Relation) -> Option<QualifiedName> {
    let mut stack = rel.parents.clone();
    let mut seen = vec![];
    while let Some(p) = stack.pop() {
        if seen.contains(&p) {
            continue;
        }
        seen.push(p.clone());
        if tenanted(ctx, &p) {
            return Some(p);
        }
        if let Some(r) = ctx.snapshot.relation(&p) {
            stack.extend(r.parents.iter().cloned());
        }
    }
    None
}

/// The tables a view or materialized view definition reads, following views down to their
/// base tables (a view of a view of a tenant table still shows tenant rows).
pub(crate) fn base_tables_of_definition(ctx: &Context, definition: &str) -> Vec<QualifiedName> {
    let mut out = vec![];
    let mut todo = vec![definition.to_string()];
    let mut seen = vec![];
    while let Some(def) = todo.pop() {
        let Ok(node) = tenantguard_access::parse_expr(&format!(
            "EXISTS ({})",
            def.trim().trim_end_matches(';')
        )) else {
            continue;
        };
        for t in tenantguard_access::tables_read(&node) {
            if seen.contains(&t) {
                continue;
            }
            seen.push(t.clone());
            match ctx.snapshot.relation(&t) {
                Some(r) if r.view_definition.is_some() => {
                    todo.push(r.view_definition.clone().unwrap_or_default())
                }
                _ => out.push(t),
            }
        }
    }
    out
}

/// API roles holding `privilege` on `rel`.
pub(crate) fn api_roles_with(ctx: &Context, rel: &Relation, privilege: &str) -> Vec<String> {
    let roles = Roles::new(ctx.snapshot);
    ctx.access
        .roles
        .iter()
        .filter(|r| roles.has_privilege(rel, r, privilege))
        .cloned()
        .collect()
}

/// Open cells of one table that one policy (and one witness) is responsible for.
pub(crate) struct OpenGroup {
    pub table: QualifiedName,
    pub policy: Option<String>,
    pub kind: OpenKind,
    pub witness: String,
    /// `role: command` pairs that leak.
    pub cells: Vec<String>,
}

/// Open cells grouped by (table, policy, witness), for the kinds `select` picks
/// (`select(kind, is_with_check_side)`).
pub(crate) fn open_cells_by_policy(
    ctx: &Context,
    select: impl Fn(OpenKind, bool) -> bool,
) -> Vec<OpenGroup> {
    let mut groups: Vec<OpenGroup> = vec![];
    for (table, cells) in &ctx.access.tables {
        for Cell {
            role,
            command,
            verdict,
        } in cells
        {
            let Verdict::Open {
                kind,
                policy,
                witness,
                check,
            } = verdict
            else {
                continue;
            };
            if !select(*kind, *check) {
                continue;
            }
            let cell = format!("{role}: {}", command.privilege().to_lowercase());
            match groups
                .iter_mut()
                .find(|g| &g.table == table && &g.policy == policy && &g.witness == witness)
            {
                Some(g) => g.cells.push(cell),
                None => groups.push(OpenGroup {
                    table: table.clone(),
                    policy: policy.clone(),
                    kind: *kind,
                    witness: witness.clone(),
                    cells: vec![cell],
                }),
            }
        }
    }
    groups
}

/// Open kinds that policy-not-tenant-bound / with-check-not-tenant-bound report; the others
/// have rules of their own (untrusted claim, fallback, other column, RLS disabled).
pub(crate) fn generic_open_kind(k: OpenKind) -> bool {
    !matches!(
        k,
        OpenKind::UntrustedClaim
            | OpenKind::Fallback
            | OpenKind::OtherColumn
            | OpenKind::RlsDisabled
    )
}

/// The findings of a rule that reports open cells of the kinds `pick` selects.
pub(crate) fn open_cell_findings(
    rule: &Rule,
    ctx: &Context,
    pick: impl Fn(OpenKind, bool) -> bool,
    what: &str,
) -> Vec<Finding> {
    open_cells_by_policy(ctx, pick)
        .iter()
        .map(|g| open_finding(rule, ctx, g, what))
        .collect()
}

/// One finding per policy that has observations `extract` picks (their expression texts).
pub(crate) fn policy_observation_findings(
    rule: &Rule,
    ctx: &Context,
    extract: impl Fn(&tenantguard_access::Observation) -> Option<&str>,
    advice: &str,
    skip: impl Fn(&tenantguard_access::PolicyAnalysis) -> bool,
) -> Vec<Finding> {
    let mut out = vec![];
    for p in &ctx.access.policies {
        let texts: Vec<&str> = p.observations.iter().filter_map(&extract).collect();
        if texts.is_empty() || skip(p) {
            continue;
        }
        let mut f = rule.finding(
            ObjectRef::table(&p.table),
            format!(
                "policy {:?} on {}: `{}` {advice}",
                p.policy,
                p.table,
                texts.join("`, `")
            ),
            json!({ "expressions": texts }),
            None,
        );
        f.policy = Some(p.policy.clone());
        out.push(f);
    }
    out
}

/// The finding for one group of open cells; `what` says what leaks.
pub(crate) fn open_finding(rule: &Rule, ctx: &Context, g: &OpenGroup, what: &str) -> Finding {
    let mut f = rule.finding(
        ObjectRef::table(&g.table),
        format!(
            "{what} on {}{}: `{}` ({})",
            g.table,
            g.policy
                .as_deref()
                .map(|p| format!(" in policy {p:?}"))
                .unwrap_or_default(),
            g.witness,
            g.cells.join(", ")
        ),
        json!({ "kind": g.kind, "witness": g.witness, "cells": g.cells }),
        Some(template_fix(ctx, &g.table, g.policy.as_deref())),
    );
    f.policy = g.policy.clone();
    f
}

/// The claim the template policy reads (the most used tenant claim, else `organization_id`).
pub fn main_claim(ctx: &Context) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for p in &ctx.access.policies {
        for o in &p.observations {
            if let tenantguard_access::Observation::Claim { path, .. } = o {
                *counts.entry(path.clone()).or_default() += 1;
            }
        }
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(p, _)| p)
        .unwrap_or_else(|| "organization_id".into())
}

/// The tenant template policy for a table, replacing `policy` when given.
pub(crate) fn template_fix(ctx: &Context, table: &QualifiedName, policy: Option<&str>) -> String {
    let t = table.sql();
    let claim = main_claim(ctx);
    let claim_expr = match claim.split_once('.') {
        Some((obj, key)) => format!("(auth.jwt() -> '{obj}') ->> '{key}'"),
        None => format!("auth.jwt() ->> '{claim}'"),
    };
    let key = ctx.model.tenant_key_of(table);
    let ty = ctx
        .model
        .root
        .as_ref()
        .map(|r| r.key_type.clone())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "uuid".into());
    let drop = policy
        .map(|p| format!("DROP POLICY IF EXISTS {} ON {t};\n", quote_ident(p)))
        .unwrap_or_default();
    match key {
        Some(k) => {
            let cond = format!("{} = (SELECT ({claim_expr})::{ty})", quote_ident(k));
            format!(
                "{drop}CREATE POLICY tenant_isolation ON {t} FOR ALL TO authenticated\n  USING ({cond})\n  WITH CHECK ({cond});"
            )
        }
        None => format!(
            "{drop}-- {table} has no tenant column: scope it through its parent, e.g.\n-- CREATE POLICY tenant_isolation ON {t} FOR ALL TO authenticated\n--   USING (EXISTS (SELECT 1 FROM <parent> p WHERE p.id = <fk column>));"
        ),
    }
}
