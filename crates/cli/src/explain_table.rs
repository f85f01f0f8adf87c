//! `tenantguard explain TABLE`: the table's tenancy, its policies, and for every API role and
//! command what the role can really do, with the reason — the access model of one table.

use std::fmt::Write as _;

use anyhow::{bail, Result};
use tenantguard_access::{AccessModel, Verdict};
use tenantguard_catalog::{QualifiedName, Snapshot};
use tenantguard_tenant_model::{Tenancy, TenantModel};

use crate::config::Config;

pub fn render(snapshot: &Snapshot, config: &Config, target: &str) -> Result<String> {
    let name = match target.split_once('.') {
        Some((s, t)) => QualifiedName::new(s, t),
        None => QualifiedName::new("public", target),
    };
    let Some(rel) = snapshot.relation(&name) else {
        bail!("no rule or audited table named {target:?}");
    };
    let model = TenantModel::infer(snapshot, &config.tenant)?;
    let access = AccessModel::build(snapshot, &model, &config.access_config());
    let mut out = String::new();
    let tenancy = match model.tenancy(&name) {
        Some(Tenancy::Root) => "the tenant root".to_string(),
        Some(Tenancy::Direct { column, .. }) => format!("a tenant table (tenant key {column})"),
        Some(Tenancy::Indirect { reason, .. }) => format!("tenanted through a parent: {reason}"),
        Some(Tenancy::Global { reason }) => format!("global: {reason}"),
        None => "not a table the tenant model covers".to_string(),
    };
    let _ = writeln!(out, "{name}: {tenancy}");
    let _ = writeln!(
        out,
        "owner {}; row level security {}{}",
        rel.owner,
        if rel.rls_enabled {
            "enabled"
        } else {
            "DISABLED"
        },
        if rel.rls_forced {
            ", forced"
        } else {
            ", not forced (the owner bypasses it)"
        }
    );
    let _ = writeln!(out, "\npolicies ({}):", rel.policies.len());
    for p in &rel.policies {
        let _ = writeln!(
            out,
            "  {:?} {} {:?} TO {}",
            p.name,
            if p.permissive {
                "permissive"
            } else {
                "RESTRICTIVE"
            },
            p.command,
            p.roles.join(", ")
        );
        if let Some(u) = &p.using {
            let _ = writeln!(out, "      USING ({u})");
        }
        if let Some(c) = &p.with_check {
            let _ = writeln!(out, "      WITH CHECK ({c})");
        }
    }
    let cells = access.cells(&name);
    if cells.is_empty() {
        let _ = writeln!(out, "\nno API role is analysed for this table (global table, or none of [rls] api_roles exists)");
        return Ok(out);
    }
    let _ = writeln!(
        out,
        "\naccess matrix (UPDATE and DELETE judged without a WHERE, as PostgreSQL applies them):"
    );
    for c in cells {
        let (mark, why) = match &c.verdict {
            Verdict::TenantBound { reason } => ("tenant-bound", reason.clone()),
            Verdict::DenyAll { reason } => ("deny-all", reason.clone()),
            Verdict::NoPrivilege => ("no privilege", "the role holds no grant for it".into()),
            Verdict::Open {
                kind,
                policy,
                witness,
                check,
            } => (
                "OPEN",
                format!(
                    "{kind:?}{}{}: `{witness}`",
                    if *check { " (WITH CHECK)" } else { "" },
                    policy
                        .as_deref()
                        .map(|p| format!(" in policy {p:?}"))
                        .unwrap_or_default()
                ),
            ),
            Verdict::CannotVerify { reason, policy } => (
                "cannot verify",
                format!(
                    "{reason}{}",
                    policy
                        .as_deref()
                        .map(|p| format!(" (policy {p:?})"))
                        .unwrap_or_default()
                ),
            ),
        };
        let _ = writeln!(
            out,
            "  {:<14} {:<7} {:<13} {why}",
            c.role,
            c.command.privilege().to_lowercase(),
            mark
        );
    }
    Ok(out)
}
