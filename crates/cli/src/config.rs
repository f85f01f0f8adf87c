//! `tenantguard.toml`: found in the working directory or given with `--config`. Unknown keys
//! are errors, so a typo never silently changes what is audited.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use tenantguard_catalog::FkAction;
use tenantguard_rules::{registry, RulesConfig};
use tenantguard_tenant_model::TenantConfig;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub tenant: TenantConfig,
    #[serde(default)]
    pub integrity: IntegrityConfig,
    #[serde(default)]
    pub rules: RulesSection,
    #[serde(default)]
    pub rls: RlsConfig,
    /// How `prove` becomes a tenant: the JWT claims template (placeholders `{tenant}`,
    /// `{other}`, `{user}`, `{role}`), the setting that carries it, and an optional tenant GUC.
    #[serde(default)]
    pub prove: tenantguard_probe::ClaimTemplate,
    #[serde(default)]
    pub fix: FixConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixConfig {
    /// The JWT claim the tenant policy template reads, e.g. `organization_id` or
    /// `app_metadata.org_id` (default: the trusted claim the schema's policies use most).
    pub claim: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RlsConfig {
    /// Roles the application's users act as (default: anon, authenticated).
    pub api_roles: Option<Vec<String>>,
    /// Settings the application sets server-side with the tenant, e.g. `app.tenant_id`.
    #[serde(default)]
    pub trusted_settings: Vec<String>,
    /// Login roles expected to bypass RLS (default: postgres and Supabase's admin roles).
    pub admin_roles: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrityConfig {
    /// `cascade` (default), `restrict`, `no action`, `set null`, `set default`.
    pub expected_on_delete: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesSection {
    #[serde(default)]
    pub disable: Vec<String>,
    /// Severity overrides: `severity = { "tenant-key-unindexed" = "low" }`.
    #[serde(default)]
    pub severity: std::collections::BTreeMap<String, String>,
}

impl Config {
    /// `--config FILE`, else `./tenantguard.toml` if present, else defaults.
    pub fn load(explicit: Option<&Path>) -> Result<(Config, Option<PathBuf>)> {
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from("tenantguard.toml")).filter(|p| p.is_file()),
        };
        let Some(path) = path else {
            return Ok((Config::default(), None));
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let config: Config = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("invalid config {}: {}", path.display(), e.message()))?;
        for id in config
            .rules
            .disable
            .iter()
            .chain(config.rules.severity.keys())
        {
            if registry().iter().all(|r| r.id != id) {
                bail!("invalid config {}: [rules] names unknown rule {id:?} (see `tenantguard rules`)", path.display());
            }
        }
        for (id, sev) in &config.rules.severity {
            if tenantguard_rules::Severity::parse(&sev.to_ascii_lowercase()).is_none() {
                bail!(
                    "invalid config {}: [rules] severity of {id:?} is {sev:?}: expected critical, high, medium, low or info",
                    path.display()
                );
            }
        }
        config.rules_config()?;
        Ok((config, Some(path)))
    }

    pub fn rules_config(&self) -> Result<RulesConfig> {
        let expected_on_delete = match self
            .integrity
            .expected_on_delete
            .as_deref()
            .map(|s| s.to_ascii_lowercase().replace('_', " "))
            .as_deref()
        {
            None | Some("cascade") => FkAction::Cascade,
            Some("restrict") => FkAction::Restrict,
            Some("no action") => FkAction::NoAction,
            Some("set null") => FkAction::SetNull,
            Some("set default") => FkAction::SetDefault,
            Some(other) => bail!(
                "[integrity] expected_on_delete = {other:?}: expected cascade, restrict, no action, set null or set default"
            ),
        };
        let defaults = RulesConfig::default();
        Ok(RulesConfig {
            expected_on_delete,
            disabled: self.rules.disable.clone(),
            admin_roles: self.rls.admin_roles.clone().unwrap_or(defaults.admin_roles),
        })
    }

    /// The configured severity of a rule, if overridden.
    pub fn severity_of(&self, rule: &str) -> Option<tenantguard_rules::Severity> {
        self.rules
            .severity
            .get(rule)
            .and_then(|s| tenantguard_rules::Severity::parse(&s.to_ascii_lowercase()))
    }

    pub fn access_config(&self) -> tenantguard_access::AccessConfig {
        let defaults = tenantguard_access::AccessConfig::default();
        tenantguard_access::AccessConfig {
            api_roles: self.rls.api_roles.clone().unwrap_or(defaults.api_roles),
            trusted_settings: self.rls.trusted_settings.clone(),
            anonymous_roles: defaults.anonymous_roles,
        }
    }
}
