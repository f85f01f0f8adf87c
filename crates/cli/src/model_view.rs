//! `tenantguard model` as text: the root, then each table's tenancy and the reason for it.

use std::fmt::Write as _;

use tenantguard_tenant_model::{Tenancy, TenantModel};

pub fn render(model: &TenantModel) -> String {
    let mut out = String::new();
    match &model.root {
        Some(root) => {
            let _ = writeln!(
                out,
                "tenant root: {} (key {} {}) — {}",
                root.table, root.key, root.key_type, root.reason
            );
            let _ = writeln!(out, "tenant key columns: {}", model.key_columns.join(", "));
        }
        None => {
            let _ = writeln!(
                out,
                "tenant root: none — {}",
                model.unresolved.as_deref().unwrap_or("")
            );
        }
    }
    for (title, pick) in [
        ("tenant tables (own tenant key)", 0),
        ("tenanted through a parent", 1),
        ("global (shared by all tenants)", 2),
    ] {
        let rows: Vec<String> = model
            .tables
            .iter()
            .filter_map(|(name, t)| match (t, pick) {
                (Tenancy::Direct { column, reason, .. }, 0) => {
                    Some(format!("  {name}.{column}  — {reason}"))
                }
                (Tenancy::Indirect { reason, .. }, 1) => Some(format!("  {name}  — {reason}")),
                (Tenancy::Global { reason }, 2) => Some(format!("  {name}  — {reason}")),
                _ => None,
            })
            .collect();
        let _ = writeln!(out, "\n{title}: {}", rows.len());
        for r in rows {
            let _ = writeln!(out, "{r}");
        }
    }
    out
}
