//! The finding: the stable JSON contract of `audit --format json`. Extend, never rename.

use serde::{Deserialize, Serialize};
use tenantguard_catalog::QualifiedName;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "info" => Self::Info,
            "low" => Self::Low,
            "medium" => Self::Medium,
            "high" => Self::High,
            "critical" => Self::Critical,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Isolation,
    Integrity,
    Privilege,
    Performance,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Table,
    View,
    MaterializedView,
    ForeignTable,
    Function,
    Role,
}

/// The thing that leaks or is broken. For a role, `schema` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    pub kind: ObjectKind,
    pub schema: String,
    pub name: String,
}

impl ObjectRef {
    pub fn table(name: &QualifiedName) -> Self {
        Self {
            kind: ObjectKind::Table,
            schema: name.schema.clone(),
            name: name.name.clone(),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.schema.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}.{}", self.schema, self.name)
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub category: Category,
    pub object: ObjectRef,
    /// The policy a finding is about, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub policy: Option<String>,
    pub message: String,
    pub evidence: serde_json::Value,
    /// Suggested SQL; `null` when there is nothing to run.
    pub fix: Option<String>,
    /// Where the object was created, when the audit ran on a migrations folder
    /// (`--migrations DIR`): the file and line of the statement that created it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub location: Option<SourceLocation>,
    /// A stable identity for baselines: rule + object (+ policy), unchanged by message wording,
    /// counts or unrelated schema changes.
    #[serde(default)]
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLocation {
    /// Path of the migration file, as given (relative to the working directory).
    pub file: String,
    /// 1-based line of the statement.
    pub line: usize,
}

impl Finding {
    /// What a baseline remembers the finding by: the rule, the object's kind and name, and the
    /// policy — never the message, counts or evidence, so that unrelated changes (more rows, a
    /// reworded message, other tables) keep it matched.
    pub fn fingerprint_key(&self) -> String {
        format!(
            "{}|{:?}|{}|{}|{}",
            self.rule,
            self.object.kind,
            self.object.schema,
            self.object.name,
            self.policy.as_deref().unwrap_or("")
        )
    }

    /// 16 hex digits of FNV-1a over [`Self::fingerprint_key`]. Hand-written: eight lines, and
    /// the value must never change with a dependency's version.
    pub fn compute_fingerprint(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.fingerprint_key().bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{h:016x}")
    }
}
