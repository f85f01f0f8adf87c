//! Who attacks: a database role plus what the application would put in the session for it —
//! Supabase's `request.jwt.claims` JSON by default, or a tenant setting such as `app.tenant_id`.

use serde::{Deserialize, Serialize};
use tenantguard_catalog::quote_ident;

use crate::literal;

/// How the application tells the database who the caller is. Placeholders in `claims`:
/// `{tenant}` (A), `{other}` (B), `{user}` (a user of A), `{role}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimTemplate {
    /// The setting that carries the JSON claims.
    #[serde(default = "default_claims_setting")]
    pub claims_setting: String,
    #[serde(default = "default_claims")]
    pub claims: String,
    /// A setting set to A's id as well (e.g. `app.tenant_id`), for schemas that read the tenant
    /// from a GUC rather than from the JWT.
    #[serde(default)]
    pub tenant_setting: Option<String>,
    /// Login roles the application uses, attacked too (as `--role` does).
    #[serde(default)]
    pub roles: Vec<String>,
}

fn default_claims_setting() -> String {
    "request.jwt.claims".into()
}

/// Supabase's shape, with the tenant in both places the analyser trusts, and the attacker's
/// own edit: `user_metadata` is writable by the user through the auth API, so a real attacker
/// puts B's id there.
fn default_claims() -> String {
    r#"{"sub": "{user}", "role": "{role}", "aud": "authenticated", "organization_id": "{tenant}", "app_metadata": {"organization_id": "{tenant}"}, "user_metadata": {"organization_id": "{other}", "org_id": "{other}"}}"#.into()
}

impl Default for ClaimTemplate {
    fn default() -> Self {
        ClaimTemplate {
            claims_setting: default_claims_setting(),
            claims: default_claims(),
            tenant_setting: None,
            roles: vec![],
        }
    }
}

impl ClaimTemplate {
    /// The claims are the built-in default (not set in `[prove]`).
    pub fn is_default_claims(&self) -> bool {
        self.claims == default_claims()
    }

    /// The default shape with A's tenant also at `path` (`tenant_id`, or `app_metadata.tenant_id`
    /// for a nested object) — the claim the policies read — and B at the same key in the
    /// user-editable `user_metadata`.
    pub fn with_claim_path(&self, path: &str) -> ClaimTemplate {
        let mut value: serde_json::Value =
            serde_json::from_str(&default_claims()).unwrap_or_default();
        let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
        if parts.is_empty() || parts[0] == "user_metadata" {
            return self.clone();
        }
        fn put(at: &mut serde_json::Value, parts: &[&str]) {
            if !at.is_object() {
                *at = serde_json::json!({});
            }
            let Some(obj) = at.as_object_mut() else {
                return;
            };
            match parts {
                [] => {}
                [last] => {
                    obj.insert(last.to_string(), "{tenant}".into());
                }
                [first, rest @ ..] => put(
                    obj.entry(first.to_string())
                        .or_insert_with(|| serde_json::json!({})),
                    rest,
                ),
            }
        }
        put(&mut value, &parts);
        if let Some(um) = value
            .get_mut("user_metadata")
            .and_then(|u| u.as_object_mut())
        {
            um.insert(parts[parts.len() - 1].to_string(), "{other}".into());
        }
        ClaimTemplate {
            claims: value.to_string(),
            ..self.clone()
        }
    }

    /// The claims for `role` acting for tenant `a`, against `b`, as `user`. Errors when the
    /// filled template is not JSON.
    pub fn fill(&self, role: &str, a: &str, b: &str, user: &str) -> Result<String, String> {
        let esc = |s: &str| {
            let quoted = serde_json::to_string(s).unwrap_or_default();
            quoted[1..quoted.len() - 1].to_string()
        };
        let text = self
            .claims
            .replace("{tenant}", &esc(a))
            .replace("{other}", &esc(b))
            .replace("{user}", &esc(user))
            .replace("{role}", &esc(role));
        serde_json::from_str::<serde_json::Value>(&text)
            .map_err(|e| format!("the claims template is not JSON once filled in: {e}"))?;
        Ok(text)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attacker {
    /// How the attacker appears in results, e.g. `authenticated` or `anon`.
    pub label: String,
    pub role: String,
    /// `(setting, value)` pairs set for the attack (transaction-local).
    pub settings: Vec<(String, String)>,
    /// The attacker acts for tenant A (so moving A's rows to B is meaningful).
    pub has_tenant: bool,
}

impl Attacker {
    /// Supabase's callers: `authenticated` for A (with B in `user_metadata`), `anon` with no
    /// claims, and `authenticated` without a tenant claim; then any `extra_roles`, for A.
    pub fn defaults(
        template: &ClaimTemplate,
        a: &str,
        b: &str,
        user: &str,
        extra_roles: &[String],
        existing_roles: &dyn Fn(&str) -> bool,
    ) -> Result<(Vec<Attacker>, Vec<String>), String> {
        let mut attackers = vec![];
        let mut notes = vec![];
        let for_tenant = |role: &str, label: String| -> Result<Attacker, String> {
            let mut settings = vec![(
                template.claims_setting.clone(),
                template.fill(role, a, b, user)?,
            )];
            if let Some(s) = &template.tenant_setting {
                settings.push((s.clone(), a.to_string()));
            }
            Ok(Attacker {
                label,
                role: role.to_string(),
                settings,
                has_tenant: true,
            })
        };
        let without_tenant = |role: &str, label: &str| Attacker {
            label: label.into(),
            role: role.into(),
            settings: vec![(
                template.claims_setting.clone(),
                serde_json::json!({ "role": role }).to_string(),
            )],
            has_tenant: false,
        };
        if existing_roles("authenticated") {
            attackers.push(for_tenant("authenticated", "authenticated".into())?);
        } else {
            notes.push("no role `authenticated` in this database: the Supabase attackers were not run; name the application's roles with --role".into());
        }
        if existing_roles("anon") {
            attackers.push(without_tenant("anon", "anon"));
        }
        if existing_roles("authenticated") {
            attackers.push(without_tenant(
                "authenticated",
                "authenticated (no tenant claim)",
            ));
        }
        for r in extra_roles {
            if !existing_roles(r) {
                return Err(format!("--role {r}: no such role in this database"));
            }
            attackers.push(for_tenant(r, r.clone())?);
        }
        Ok((attackers, notes))
    }

    /// Statements that become this attacker, inside a transaction (all `LOCAL`).
    pub fn become_sql(&self) -> String {
        let mut sql = String::from("SELECT ");
        let mut settings: Vec<(&str, &str)> = self
            .settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // PostgREST's legacy per-claim settings win over the JSON in Supabase's helpers:
        // blank them so nothing left on the session decides the outcome.
        if self.settings.iter().any(|(k, _)| k == "request.jwt.claims") {
            settings.extend([
                ("request.jwt.claim.sub", ""),
                ("request.jwt.claim.role", ""),
                ("request.jwt.claim", ""),
            ]);
        }
        let calls: Vec<String> = settings
            .iter()
            .map(|(k, v)| format!("set_config({}, {}, true)", literal(k), literal(v)))
            .collect();
        sql.push_str(&calls.join(", "));
        sql.push_str(&format!("; SET LOCAL ROLE {}", quote_ident(&self.role)));
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_template_puts_b_where_the_user_can_edit() {
        let t = ClaimTemplate::default();
        let v: serde_json::Value =
            serde_json::from_str(&t.fill("authenticated", "A\"", "B", "U").unwrap()).unwrap();
        assert_eq!(v["organization_id"], "A\"");
        assert_eq!(v["app_metadata"]["organization_id"], "A\"");
        assert_eq!(v["user_metadata"]["organization_id"], "B");
        assert_eq!(v["sub"], "U");
        let t = ClaimTemplate::default().with_claim_path("app_metadata.tenant_id");
        let v: serde_json::Value =
            serde_json::from_str(&t.fill("authenticated", "A", "B", "U").unwrap()).unwrap();
        assert_eq!(v["app_metadata"]["tenant_id"], "A");
        assert_eq!(v["app_metadata"]["organization_id"], "A");
        assert_eq!(v["user_metadata"]["tenant_id"], "B");
        let t = ClaimTemplate::default().with_claim_path("tenant_id");
        let v: serde_json::Value =
            serde_json::from_str(&t.fill("authenticated", "A", "B", "U").unwrap()).unwrap();
        assert_eq!(v["tenant_id"], "A");
        assert_eq!(v["sub"], "U");
        let bad = ClaimTemplate {
            claims: "{tenant}".into(),
            ..ClaimTemplate::default()
        };
        assert!(bad.fill("r", "not json", "b", "u").is_err());
    }
}
