//! Stage 2: the tenant model. From a snapshot (and optional overrides from `tenantguard.toml`)
//! decide which table is the tenant root, which column carries the tenant in each table,
//! which tables are tenanted only through a foreign-key path, and which are global.
//! Every decision records why, so `tenantguard model` can show it before anyone trusts an audit.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};
use tenantguard_catalog::{ForeignKey, QualifiedName, Relation, Snapshot};

mod evidence;
use evidence::PolicyEvidence;

/// Column names that conventionally carry the tenant, each with the root tables it points at.
const KEY_CONVENTIONS: &[(&str, &[&str])] = &[
    (
        "org_id",
        &[
            "organizations",
            "organisations",
            "orgs",
            "organization",
            "organisation",
        ],
    ),
    ("organization_id", &["organizations", "organization"]),
    ("organisation_id", &["organisations", "organisation"]),
    ("tenant_id", &["tenants", "tenant"]),
    ("account_id", &["accounts", "account"]),
    ("workspace_id", &["workspaces", "workspace"]),
    ("company_id", &["companies", "company"]),
    ("team_id", &["teams", "team"]),
];

/// Root-table names in order of preference when scores tie.
const ROOT_NAMES: &[&str] = &[
    "organizations",
    "organisations",
    "orgs",
    "organization",
    "organisation",
    "tenants",
    "tenant",
    "workspaces",
    "accounts",
    "companies",
    "teams",
];

/// Overrides, the `[tenant]` table of `tenantguard.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// `schema.table` or `table` (schema `public`).
    pub root: Option<String>,
    /// Column names that carry the tenant key in tenant tables.
    #[serde(default)]
    pub key_columns: Vec<String>,
    /// Tables that are shared by every tenant on purpose.
    #[serde(default)]
    pub global_tables: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantRoot {
    pub table: QualifiedName,
    /// The root's key (normally its primary key), e.g. `id`.
    pub key: String,
    pub key_type: String,
    pub reason: String,
}

/// One hop of a foreign-key path from a table towards a tenanted parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FkHop {
    pub constraint: String,
    pub from: QualifiedName,
    pub columns: Vec<String>,
    pub to: QualifiedName,
    pub to_columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "tenancy", rename_all = "snake_case")]
pub enum Tenancy {
    /// The tenant root itself: each row is a tenant.
    Root,
    /// The table has its own tenant-key column.
    Direct {
        column: String,
        /// The foreign key from `column` to the root, if any.
        fk: Option<String>,
        reason: String,
    },
    /// No tenant column, but a foreign-key path to a tenanted table.
    Indirect { path: Vec<FkHop>, reason: String },
    /// Shared by all tenants: no tenant column and no path to one.
    Global { reason: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantModel {
    pub root: Option<TenantRoot>,
    /// Names recognised as tenant keys.
    pub key_columns: Vec<String>,
    /// Every audited table (partitions are covered by their partitioned parent).
    pub tables: BTreeMap<QualifiedName, Tenancy>,
    /// Why there is no root, when there is none.
    pub unresolved: Option<String>,
}

#[derive(Debug)]
pub enum ModelError {
    ConfiguredRootMissing(String),
}

impl std::error::Error for ModelError {}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelError::ConfiguredRootMissing(name) => write!(
                f,
                "tenantguard.toml names tenant root {name:?}, but no such table is in the audited schemas"
            ),
        }
    }
}

fn parse_name(s: &str) -> QualifiedName {
    match s.split_once('.') {
        Some((schema, name)) => QualifiedName::new(schema, name),
        None => QualifiedName::new("public", s),
    }
}

/// The tables the model covers: ordinary and partitioned tables, not partitions (their parent
/// covers them) and not extensions' tables.
fn modelled_tables(snapshot: &Snapshot) -> impl Iterator<Item = &Relation> {
    snapshot
        .relations
        .iter()
        .filter(|r| r.kind.is_table() && !r.is_partition && !r.from_extension)
}

fn singular(name: &str) -> String {
    if let Some(stem) = name.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = name.strip_suffix("ses") {
        format!("{stem}s")
    } else if let Some(stem) = name.strip_suffix('s') {
        stem.to_string()
    } else {
        name.to_string()
    }
}

fn single_column_fks(rel: &Relation) -> impl Iterator<Item = (&str, &str, &ForeignKey)> {
    rel.foreign_keys()
        .filter(|(c, fk)| c.columns.len() == 1 && fk.referenced_columns.len() == 1)
        .map(|(c, fk)| (c.name.as_str(), c.columns[0].as_str(), fk))
}

impl TenantModel {
    pub fn infer(snapshot: &Snapshot, config: &TenantConfig) -> Result<TenantModel, ModelError> {
        let tables: Vec<&Relation> = modelled_tables(snapshot).collect();
        let by_name: HashMap<QualifiedName, &Relation> =
            tables.iter().map(|r| (r.qualified_name(), *r)).collect();

        let root = match &config.root {
            Some(name) => {
                let q = parse_name(name);
                let rel = by_name
                    .get(&q)
                    .ok_or_else(|| ModelError::ConfiguredRootMissing(name.clone()))?;
                Some((*rel, "configured in tenantguard.toml".to_string()))
            }
            None => match confirm_root(choose_root(&tables), &tables) {
                Ok(root) => root,
                Err(why) => {
                    return Ok(TenantModel {
                        root: None,
                        key_columns: config.key_columns.clone(),
                        tables: tables
                            .iter()
                            .map(|r| {
                                (
                                    r.qualified_name(),
                                    Tenancy::Global {
                                        reason: "no tenant root was found".into(),
                                    },
                                )
                            })
                            .collect(),
                        unresolved: Some(why),
                    })
                }
            },
        };
        let Some((root_rel, reason)) = root else {
            return Ok(TenantModel {
                root: None,
                key_columns: config.key_columns.clone(),
                tables: tables
                    .iter()
                    .map(|r| {
                        (
                            r.qualified_name(),
                            Tenancy::Global {
                                reason: "no tenant root was found".into(),
                            },
                        )
                    })
                    .collect(),
                unresolved: Some(
                    "no tenant root table found (looked for organizations, tenants, accounts, \
                     workspaces, … and for the table most tenant-key columns point at); set \
                     [tenant] root in tenantguard.toml"
                        .into(),
                ),
            });
        };
        let root_name = root_rel.qualified_name();
        let root_key = root_rel
            .primary_key()
            .filter(|pk| pk.columns.len() == 1)
            .map(|pk| pk.columns[0].clone())
            .or_else(|| {
                tables
                    .iter()
                    .flat_map(|t| single_column_fks(t))
                    .find_map(|(_, _, fk)| {
                        (fk.references == root_name).then(|| fk.referenced_columns[0].clone())
                    })
            })
            .unwrap_or_else(|| "id".to_string());
        let key_type = root_rel
            .column(&root_key)
            .map(|c| c.type_name.clone())
            .unwrap_or_default();

        // Key names: configured, else the conventions that point at this root, the root's own
        // `<singular>_id`, and every column that has a foreign key to the root.
        let mut key_columns = config.key_columns.clone();
        if key_columns.is_empty() {
            for (col, roots) in KEY_CONVENTIONS {
                if roots.contains(&root_rel.name.as_str()) {
                    key_columns.push(col.to_string());
                }
            }
            let own = format!("{}_id", singular(&root_rel.name));
            if !key_columns.contains(&own) {
                key_columns.push(own);
            }
            // Columns the policies compare with the caller's tenant and that name this root
            // (`school_id` → `structure_schools`).
            let ev = PolicyEvidence::of(&tables);
            for (col, on) in &ev.by_column {
                let names_root = on.iter().any(|t| {
                    by_name.get(t).is_some_and(|rel| {
                        evidence::table_named_by(rel, col, &tables).as_ref() == Some(&root_name)
                    })
                });
                if names_root && !key_columns.contains(col) {
                    key_columns.push(col.clone());
                }
            }
            for t in &tables {
                for (_, col, fk) in single_column_fks(t) {
                    if fk.references == root_name
                        && fk.referenced_columns[0] == root_key
                        && !key_columns.iter().any(|k| k == col)
                    {
                        key_columns.push(col.to_string());
                    }
                }
            }
        }

        let globals: Vec<QualifiedName> =
            config.global_tables.iter().map(|g| parse_name(g)).collect();
        let mut model: BTreeMap<QualifiedName, Tenancy> = BTreeMap::new();
        model.insert(root_name.clone(), Tenancy::Root);
        for t in &tables {
            let name = t.qualified_name();
            if name == root_name {
                continue;
            }
            if globals.contains(&name) {
                model.insert(
                    name,
                    Tenancy::Global {
                        reason: "listed in [tenant] global_tables".into(),
                    },
                );
                continue;
            }
            // A foreign key to the root's key wins (named like a key first); then a key-named column.
            let mut fk_cols: Vec<(&str, &str)> = single_column_fks(t)
                .filter(|(_, _, fk)| {
                    fk.references == root_name && fk.referenced_columns[0] == root_key
                })
                .map(|(con, col, _)| (con, col))
                .collect();
            fk_cols.sort_by_key(|(_, col)| !key_columns.iter().any(|k| k == col));
            if let Some((con, col)) = fk_cols.first() {
                model.insert(
                    name,
                    Tenancy::Direct {
                        column: col.to_string(),
                        fk: Some(con.to_string()),
                        reason: format!("{col} has foreign key {con} to {root_name}({root_key})"),
                    },
                );
            } else if let Some(k) = key_columns.iter().find(|k| t.column(k).is_some()) {
                model.insert(
                    name,
                    Tenancy::Direct {
                        column: k.clone(),
                        fk: None,
                        reason: format!(
                            "{k} is named like a tenant key (it has no foreign key to {root_name})"
                        ),
                    },
                );
            }
        }

        // Indirect tables: breadth-first from the tenanted tables along foreign keys backwards,
        // so each table gets a shortest path (NOT NULL foreign keys preferred at equal length).
        // Reverse foreign-key index: parent → (child, constraint, fk), built once.
        type ChildFk<'r> = (
            &'r Relation,
            &'r tenantguard_catalog::Constraint,
            &'r ForeignKey,
        );
        let mut children: HashMap<QualifiedName, Vec<ChildFk>> = HashMap::new();
        for t in &tables {
            for (con, fk) in t.foreign_keys() {
                children
                    .entry(fk.references.clone())
                    .or_default()
                    .push((t, con, fk));
            }
        }
        let mut queue: VecDeque<QualifiedName> = model.keys().cloned().collect();
        while let Some(parent) = queue.pop_front() {
            let parent_path = match model.get(&parent) {
                Some(Tenancy::Indirect { path, .. }) => path.clone(),
                _ => vec![],
            };
            let mut candidates: Vec<(bool, &Relation, FkHop)> = vec![];
            for (t, con, fk) in children.get(&parent).map(Vec::as_slice).unwrap_or(&[]) {
                let name = t.qualified_name();
                if model.contains_key(&name) || globals.contains(&name) || is_actor_column(con) {
                    continue;
                }
                let not_null = con
                    .columns
                    .iter()
                    .all(|c| t.column(c).is_some_and(|c| c.not_null));
                candidates.push((
                    !not_null,
                    t,
                    FkHop {
                        constraint: con.name.clone(),
                        from: name.clone(),
                        columns: con.columns.clone(),
                        to: parent.clone(),
                        to_columns: fk.referenced_columns.clone(),
                    },
                ));
            }
            candidates.sort_by_key(|c| c.0);
            for (_, t, hop) in candidates {
                let name = t.qualified_name();
                if model.contains_key(&name) {
                    continue;
                }
                let mut path = vec![hop];
                path.extend(parent_path.iter().cloned());
                let reason = format!(
                    "no tenant column; reaches the tenant through {}",
                    path.iter()
                        .map(|h| format!("{}({}) → {}", h.from, h.columns.join(", "), h.to))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                model.insert(name.clone(), Tenancy::Indirect { path, reason });
                queue.push_back(name);
            }
        }

        for t in &tables {
            model
                .entry(t.qualified_name())
                .or_insert_with(|| Tenancy::Global {
                    reason: format!(
                        "no tenant column ({}) and no foreign-key path to a tenanted table",
                        key_columns.join(", ")
                    ),
                });
        }

        Ok(TenantModel {
            root: Some(TenantRoot {
                table: root_name,
                key: root_key,
                key_type,
                reason,
            }),
            key_columns,
            tables: model,
            unresolved: None,
        })
    }

    pub fn tenancy(&self, table: &QualifiedName) -> Option<&Tenancy> {
        self.tables.get(table)
    }

    /// Tables with their own tenant column, with that column.
    pub fn direct_tables(&self) -> impl Iterator<Item = (&QualifiedName, &str)> {
        self.tables.iter().filter_map(|(name, t)| match t {
            Tenancy::Direct { column, .. } => Some((name, column.as_str())),
            _ => None,
        })
    }

    pub fn tenant_key_of(&self, table: &QualifiedName) -> Option<&str> {
        match self.tables.get(table)? {
            Tenancy::Direct { column, .. } => Some(column),
            Tenancy::Root => self.root.as_ref().map(|r| r.key.as_str()),
            _ => None,
        }
    }
}

/// The key-column names a root would have: the conventions that point at it, its own
/// `<singular>_id`, and every single-column foreign key to it.
fn root_key_names(root: &Relation, tables: &[&Relation]) -> Vec<String> {
    let root_name = root.qualified_name();
    let mut keys: Vec<String> = KEY_CONVENTIONS
        .iter()
        .filter(|(_, roots)| roots.contains(&root.name.as_str()))
        .map(|(c, _)| c.to_string())
        .collect();
    let own = format!("{}_id", singular(&root.name));
    if !keys.contains(&own) {
        keys.push(own);
    }
    for t in tables {
        for (_, col, fk) in single_column_fks(t) {
            if fk.references == root_name && !keys.iter().any(|k| k == col) {
                keys.push(col.to_string());
            }
        }
    }
    keys
}

/// Checks a root guessed from the structure against the policies. Kept when some policy
/// compares one of its keys with the caller; replaced by the table that the column most
/// policies compare with the caller names (`school_id` → `structure_schools`), when there is
/// one; refused when the schema has policies and none of them ever compares a tenant column
/// with the caller — it then shows no tenancy for the tool to check (set `[tenant] root`).
/// With no policies at all (tenancy kept by the application), the structure decides.
fn confirm_root<'a>(
    structural: Option<(&'a Relation, String)>,
    tables: &[&'a Relation],
) -> Result<Option<(&'a Relation, String)>, String> {
    let ev = PolicyEvidence::of(tables);
    if let Some((root, _)) = &structural {
        if ev.mentions(&root_key_names(root, tables), root) {
            return Ok(structural);
        }
    }
    // Candidate roots named by the columns policies compare with the caller, by how many
    // tables do so.
    let mut votes: BTreeMap<QualifiedName, (usize, String)> = BTreeMap::new();
    for (column, on) in &ev.by_column {
        let mut targets: BTreeMap<QualifiedName, usize> = BTreeMap::new();
        for t in on {
            let Some(rel) = tables.iter().find(|r| r.qualified_name() == *t) else {
                continue;
            };
            if let Some(target) = evidence::table_named_by(rel, column, tables) {
                if target != *t {
                    *targets.entry(target).or_default() += 1;
                }
            }
        }
        for (target, n) in targets {
            let entry = votes.entry(target).or_insert((0, column.clone()));
            if n > entry.0 {
                *entry = (n, column.clone());
            }
        }
    }
    let best = votes
        .into_iter()
        .filter(|(_, (n, _))| *n >= 2)
        .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then_with(|| b.0.cmp(&a.0)));
    if let Some((q, (n, column))) = best {
        if let Some(rel) = tables.iter().find(|r| r.qualified_name() == q) {
            return Ok(Some((
                rel,
                format!("the policies of {n} tables compare {column} with the caller's tenant"),
            )));
        }
    }
    // Refused only when every table carrying its key has RLS on with policies of its own that
    // never look at the tenant: the schema opens them on purpose. A tenant table with RLS off
    // keeps the root (that is a finding, not a design).
    let deliberately_open = |root: &Relation| {
        let keys = root_key_names(root, tables);
        let carriers: Vec<&&Relation> = tables
            .iter()
            .filter(|t| t.qualified_name() != root.qualified_name())
            .filter(|t| {
                keys.iter().any(|k| t.column(k).is_some())
                    || t.foreign_keys()
                        .any(|(_, fk)| fk.references == root.qualified_name())
            })
            .collect();
        !carriers.is_empty()
            && carriers
                .iter()
                .all(|t| t.rls_enabled && t.policies.iter().any(|p| p.permissive))
    };
    match structural {
        Some((root, _)) if ev.any_policy && deliberately_open(root) => Err(format!(
            "{} looks like a tenant root by its name and foreign keys, but no policy compares \
             {} (or any other column) with the caller's tenant, so the schema shows no tenancy \
             to check (every table carrying it has RLS on with policies that never look at the \
             tenant); if it is multi-tenant, set [tenant] root in tenantguard.toml",
            root.qualified_name(),
            root_key_names(root, tables).join(", ")
        )),
        other => Ok(other),
    }
}

/// The root is the table that tenant-key columns point at most: foreign keys from columns named
/// by convention (`org_id` → organizations, …), plus key-named columns without a foreign key
/// whose conventional root exists. Ties go to the conventional root names. With no key-named
/// column at all, fall back to a conventionally named root table.
fn choose_root<'a>(tables: &[&'a Relation]) -> Option<(&'a Relation, String)> {
    let by_name: HashMap<QualifiedName, &Relation> =
        tables.iter().map(|r| (r.qualified_name(), *r)).collect();
    let mut score: HashMap<QualifiedName, usize> = HashMap::new();
    for t in tables {
        for col in &t.columns {
            let Some((_, roots)) = KEY_CONVENTIONS.iter().find(|(k, _)| *k == col.name) else {
                continue;
            };
            let fk_target = single_column_fks(t)
                .find(|(_, c, _)| *c == col.name)
                .map(|(_, _, fk)| fk.references.clone());
            let target = fk_target.or_else(|| {
                roots
                    .iter()
                    .map(|r| QualifiedName::new(&t.schema, *r))
                    .find(|q| by_name.contains_key(q))
            });
            if let Some(target) = target {
                if target != t.qualified_name() && by_name.contains_key(&target) {
                    *score.entry(target).or_default() += 1;
                }
            }
        }
    }
    let preference = |q: &QualifiedName| {
        ROOT_NAMES
            .iter()
            .position(|n| *n == q.name)
            .unwrap_or(ROOT_NAMES.len())
    };
    let best = score
        .iter()
        .max_by(|a, b| {
            a.1.cmp(b.1)
                .then_with(|| preference(b.0).cmp(&preference(a.0)))
                .then_with(|| b.0.cmp(a.0))
        })
        .map(|(q, n)| (q.clone(), *n));
    if let Some((q, n)) = best {
        let rel = by_name[&q];
        return Some((
            rel,
            format!("{n} tenant-key column(s) point at it (by foreign key or by name)"),
        ));
    }
    if let Some(t) = tables
        .iter()
        .filter(|t| preference(&t.qualified_name()) < ROOT_NAMES.len())
        .min_by_key(|t| preference(&t.qualified_name()))
    {
        return Some((
            t,
            "named like a tenant root; no tenant-key columns point at it".to_string(),
        ));
    }
    // Last resort for unconventional names (`clinics` <- `clinic_id`): the table referenced by
    // the most foreign keys from columns named after it. Users and profiles are people, not
    // tenants, even when everything points at them.
    let mut refs: HashMap<QualifiedName, usize> = HashMap::new();
    for t in tables {
        for (_, col, fk) in single_column_fks(t) {
            if col == format!("{}_id", singular(&fk.references.name))
                && fk.references != t.qualified_name()
            {
                *refs.entry(fk.references.clone()).or_default() += 1;
            }
        }
    }
    refs.into_iter()
        .filter(|(q, _)| {
            !matches!(
                q.name.as_str(),
                "users" | "user" | "profiles" | "profile" | "members" | "people"
            )
        })
        .filter(|(_, n)| *n >= 2)
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .and_then(|(q, n)| {
            by_name.get(&q).map(|r| {
                (
                    *r,
                    format!(
                        "the table most foreign keys named after it point at ({n}); \
                         set [tenant] root if that is wrong"
                    ),
                )
            })
        })
}

/// A foreign key that records who did something (`created_by`, `updated_by_id`): it says
/// which user wrote the row, not whose row it is. A settings table with `updated_by` pointing
/// at a tenant's profile is still one table shared by every tenant, so such a key is never a
/// path to the tenant.
fn is_actor_column(con: &tenantguard_catalog::Constraint) -> bool {
    match con.columns.as_slice() {
        [c] => {
            let c = c.to_ascii_lowercase();
            c.ends_with("_by") || c.ends_with("_by_id") || c.ends_with("_by_user_id")
        }
        _ => false,
    }
}
