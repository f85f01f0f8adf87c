//! `tenantguard init`: a tenantguard.toml written from the inferred model, so the reader sees
//! what tenantguard believes and corrects it where it is wrong.

use std::collections::BTreeSet;

use tenantguard_catalog::Snapshot;
use tenantguard_tenant_model::{Tenancy, TenantModel};

fn toml_str(s: &str) -> String {
    // A TOML basic string.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|i| toml_str(i))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub fn render(snapshot: &Snapshot, model: &TenantModel) -> String {
    let keys: BTreeSet<String> = model.direct_tables().map(|(_, k)| k.to_string()).collect();
    let keys: Vec<String> = keys.into_iter().collect();
    let global: Vec<String> = model
        .tables
        .iter()
        .filter(|(_, t)| matches!(t, Tenancy::Global { .. }))
        .map(|(n, _)| n.to_string())
        .collect();
    let has = |r: &str| snapshot.roles.iter().any(|x| x.name == r);
    let api: Vec<String> = ["anon", "authenticated"]
        .into_iter()
        .filter(|r| has(r))
        .map(String::from)
        .collect();
    let mut out = format!(
        "# tenantguard.toml, written by `tenantguard init` from database {:?}.\n\
         # Every key is optional: delete what you do not need. Unknown keys are errors.\n\n",
        snapshot.database
    );
    out.push_str("[tenant]\n");
    match &model.root {
        Some(r) => out.push_str(&format!(
            "# The table whose rows are the tenants. Inferred: {}.\nroot = {}\n",
            r.reason,
            toml_str(&r.table.to_string())
        )),
        None => out.push_str(&format!(
            "# No tenant root could be inferred ({}): name it.\n# root = \"public.organizations\"\n",
            model.unresolved.as_deref().unwrap_or("no candidate")
        )),
    }
    out.push_str(&format!(
        "# Columns that carry the tenant key ({} tenant tables use them).\nkey_columns = {}\n",
        model.direct_tables().count(),
        list(&keys)
    ));
    out.push_str(&format!(
        "# Tables shared by every tenant on purpose (inferred: no tenant key and no path to one).\nglobal_tables = {}\n\n",
        list(&global)
    ));
    out.push_str(&format!(
        "[rls]\n# Roles the application's users act as.\napi_roles = {}\n\
         # Settings the application sets server-side to the caller's tenant, e.g. \"app.tenant_id\".\ntrusted_settings = []\n\
         # Login roles expected to bypass RLS (administrators).\n# admin_roles = [\"postgres\"]\n\n",
        list(&api)
    ));
    out.push_str(
        "[prove]\n\
         # How `prove` becomes a tenant: the JWT claims template ({tenant} = A, {other} = B,\n\
         # {user} = a user of A, {role}) in the setting that carries it, and/or a tenant GUC.\n\
         # claims_setting = \"request.jwt.claims\"\n\
         # claims = '{\"sub\": \"{user}\", \"role\": \"{role}\", \"app_metadata\": {\"org_id\": \"{tenant}\"}}'\n\
         # tenant_setting = \"app.tenant_id\"\n\
         # Login roles the application connects as, attacked too.\n\
         # roles = [\"app_user\"]\n\n\
         [fix]\n\
         # The JWT claim replacement policies read (default: mirror the schema's own tenant rule).\n\
         # claim = \"organization_id\"\n\n\
         [integrity]\n\
         # What deleting a tenant should do to its rows: cascade, restrict, no action, set null.\n\
         # expected_on_delete = \"cascade\"\n\n\
         [rules]\n\
         # Rule ids to switch off (`tenantguard rules` lists them).\n\
         disable = []\n\
         # Severity overrides.\n\
         # severity = { \"tenant-key-unindexed\" = \"low\" }\n",
    );
    out
}
