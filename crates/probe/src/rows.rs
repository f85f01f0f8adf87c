//! The type-aware row builder: a new row of a table for a given tenant, built from the
//! catalog — the tenant key set, foreign keys pointing at the same tenant's parent rows (found,
//! or seeded first, parents before children), defaults and nullable columns left alone, and a
//! value of the right type (enum label, domain over its base type, array, JSON, …) for every
//! other NOT NULL column. Always executed inside the proof's rolled-back transaction.
//!
//! Values are chosen to satisfy what the table's policies compare columns with (`status =
//! 'sent'`) and its simple CHECK constraints (`col IN (…)`, `col > 0`, `char_length(col) > n`),
//! see [`crate::predicates`]; anything else is left to PostgreSQL: a row it refuses is reported
//! as the reason the table was skipped, never guessed around.
//!
//! Foreign keys to the users table (`auth.users`) point at the tenant's own user (the JWT's
//! `sub` for A), whose row is inserted inside the transaction when it does not exist.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result};
use tenantguard_catalog::{quote_ident, QualifiedName, Relation, Snapshot};
use tenantguard_tenant_model::{Tenancy, TenantModel};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::literal;
use crate::predicates::ColumnHint;

/// What the builder needs to know of a column beyond the snapshot.
#[derive(Debug, Clone)]
pub struct ColumnMeta {
    pub name: String,
    /// `format_type` with typmod: what values are cast to.
    pub type_sql: String,
    pub not_null: bool,
    pub has_default: bool,
    /// A generated column: never inserted.
    pub generated: bool,
    /// `GENERATED ALWAYS AS IDENTITY`.
    pub identity_always: bool,
    /// Any identity column (`ALWAYS` or `BY DEFAULT`): it fills itself, like a default.
    pub identity: bool,
    /// The base type's name (domains resolved), e.g. `uuid`.
    pub base_type: String,
    /// `pg_type.typcategory` of the base type.
    pub category: char,
    /// The first label, when the base type is an enum.
    pub enum_first: Option<String>,
}

const COLUMN_META: &str = "
SELECT a.attrelid, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef,
       a.attgenerated <> '', a.attidentity = 'a', format_type(bt.oid, NULL), bt.typcategory::text,
       CASE WHEN bt.typtype = 'e' THEN (SELECT e.enumlabel::text FROM pg_enum e
                                        WHERE e.enumtypid = bt.oid ORDER BY e.enumsortorder LIMIT 1) END,
       a.attidentity <> ''
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum";

/// Column metadata for every table in one query.
pub async fn column_meta(client: &Client, oids: &[u32]) -> Result<HashMap<u32, Vec<ColumnMeta>>> {
    let rows = client
        .query(COLUMN_META, &[&oids])
        .await
        .context("reading column types for the row builder")?;
    let mut out: HashMap<u32, Vec<ColumnMeta>> = HashMap::new();
    for r in rows {
        out.entry(r.get(0)).or_default().push(ColumnMeta {
            name: r.get(1),
            type_sql: r.get(2),
            not_null: r.get(3),
            has_default: r.get(4),
            generated: r.get(5),
            identity_always: r.get(6),
            base_type: r.get(7),
            category: r.get::<_, &str>(8).chars().next().unwrap_or('X'),
            enum_first: r.get(9),
            identity: r.get(10),
        });
    }
    Ok(out)
}

/// Distinct values for unique columns across one run.
static SALT: AtomicU32 = AtomicU32::new(0);

/// A literal of the column's type satisfying `hint`, or None when no value can be built.
pub fn value_with_hint(m: &ColumnMeta, hint: Option<&ColumnHint>) -> Option<String> {
    let Some(h) = hint else {
        return value_for(m);
    };
    if let Some(v) = h.seed_value() {
        return Some(format!("{}::{}", literal(&v), m.type_sql));
    }
    match m.category {
        'N' if h.above.is_some() => {
            let floor = h.above.unwrap_or_default().floor() as i64 + 1;
            Some(format!("({floor})::{}", m.type_sql))
        }
        'S' if h.min_length.is_some() => {
            let v = value_for(m)?;
            let n = h.min_length.unwrap_or_default();
            Some(format!(
                "rpad({v}, greatest({n}, length({v})), 'x')::{}",
                m.type_sql
            ))
        }
        _ => value_for(m),
    }
}

/// A literal of the column's type, or None when no value can be built for it.
pub fn value_for(m: &ColumnMeta) -> Option<String> {
    let salt = SALT.fetch_add(1, Ordering::Relaxed)
        ^ (std::process::id() & 0xffff)
        ^ (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_micros()));
    let v = match m.base_type.as_str() {
        "uuid" => "gen_random_uuid()".to_string(),
        "json" | "jsonb" => "'{}'".into(),
        "bytea" => r"'\x00'".into(),
        "money" => "0".into(),
        _ => match m.category {
            // Small enough for smallint, distinct enough for a unique column.
            'N' => format!("{}", 1000 + salt % 30000),
            'S' => literal(&format!("tg{salt:x}")),
            'B' => "false".into(),
            'D' => "now()".into(),
            'T' => "'1 hour'".into(),
            'E' => literal(m.enum_first.as_deref()?),
            'A' => "'{}'".into(),
            'I' => "'127.0.0.1'".into(),
            _ => return None,
        },
    };
    Some(format!("({v})::{}", m.type_sql))
}

pub struct RowBuilder<'a> {
    pub client: &'a Client,
    pub snapshot: &'a Snapshot,
    pub model: &'a TenantModel,
    pub meta: &'a HashMap<u32, Vec<ColumnMeta>>,
    pub seeds: &'a SeedContext,
}

/// What the row builder knows beyond the catalog: who each tenant's user is, and what values
/// the policies and CHECK constraints want.
#[derive(Debug, Clone, Default)]
pub struct SeedContext {
    /// The users table (`auth.users`) and its key column, when the snapshot has it.
    pub users: Option<(QualifiedName, String)>,
    /// Tenant → the user that acts for it (A's is the JWT's `sub`).
    pub user_of: HashMap<String, String>,
    /// Per table, per column: what seeded values should be.
    pub hints: HashMap<QualifiedName, BTreeMap<String, ColumnHint>>,
    /// The tables the policies look the caller up in: A's user is made a member of A there.
    pub memberships: Vec<crate::predicates::MembershipLookup>,
}

impl SeedContext {
    pub fn build(
        snapshot: &Snapshot,
        user_of: HashMap<String, String>,
        memberships: Vec<crate::predicates::MembershipLookup>,
    ) -> SeedContext {
        let users_name = QualifiedName::new("auth", "users");
        let users = snapshot.any_relation(&users_name).and_then(|r| {
            let pk = r.primary_key()?;
            (pk.columns.len() == 1).then(|| (users_name.clone(), pk.columns[0].clone()))
        });
        let hints = snapshot
            .relations
            .iter()
            .filter(|r| r.kind.is_table())
            .map(|r| (r.qualified_name(), crate::predicates::column_hints(r)))
            .filter(|(_, h)| !h.is_empty())
            .collect();
        SeedContext {
            users,
            user_of,
            hints,
            memberships,
        }
    }

    pub fn hint(&self, table: &QualifiedName, column: &str) -> Option<&ColumnHint> {
        self.hints.get(table)?.get(column)
    }
}

/// How deep parents are seeded before giving up.
const MAX_DEPTH: usize = 4;

impl RowBuilder<'_> {
    /// A SQL predicate selecting `tenant`'s rows of `table` (aliased `alias`), following the
    /// foreign-key path for indirectly tenanted tables; None for global tables.
    pub fn tenant_predicate(
        &self,
        table: &QualifiedName,
        alias: &str,
        tenant: &str,
        depth: usize,
    ) -> Option<String> {
        let root = self.model.root.as_ref()?;
        let col = |c: &str| format!("{alias}.{}", quote_ident(c));
        match self.tenancy(table)? {
            Tenancy::Root => Some(format!("{}::text = {}", col(&root.key), literal(tenant))),
            Tenancy::Direct { column, .. } => {
                Some(format!("{}::text = {}", col(column), literal(tenant)))
            }
            Tenancy::Indirect { path, .. } => {
                let hop = path.first()?;
                if depth > 8 {
                    return None;
                }
                let inner = format!("p{depth}");
                let on: Vec<String> = hop
                    .columns
                    .iter()
                    .zip(&hop.to_columns)
                    .map(|(c, t)| format!("{inner}.{} = {}", quote_ident(t), col(c)))
                    .collect();
                let pred = self.tenant_predicate(&hop.to, &inner, tenant, depth + 1)?;
                Some(format!(
                    "EXISTS (SELECT 1 FROM {} {inner} WHERE {} AND {pred})",
                    hop.to.sql(),
                    on.join(" AND ")
                ))
            }
            Tenancy::Global { .. } => None,
        }
    }

    /// `value` as a literal of `table.column`'s type.
    /// `alias.col = <tenant's user>` for a table whose single-column foreign key `col`
    /// references the users table's key (none when the tenant has no user).
    fn user_predicate(&self, table: &QualifiedName, alias: &str, tenant: &str) -> Option<String> {
        let (users, key) = self.seeds.users.as_ref()?;
        let user = self.seeds.user_of.get(tenant)?;
        let rel = self.snapshot.any_relation(table)?;
        let (c, _) = rel.foreign_keys().find(|(c, fk)| {
            &fk.references == users
                && fk.referenced_columns == [key.clone()]
                && c.columns.len() == 1
        })?;
        Some(format!(
            "{alias}.{} = {}",
            quote_ident(&c.columns[0]),
            self.typed(table, &c.columns[0], user)
        ))
    }

    pub fn typed(&self, table: &QualifiedName, column: &str, value: &str) -> String {
        let ty = self
            .snapshot
            .any_relation(table)
            .and_then(|r| self.meta.get(&r.oid))
            .and_then(|m| m.iter().find(|m| m.name == column))
            .map_or("text", |m| m.type_sql.as_str());
        format!("{}::{ty}", literal(value))
    }

    /// The tenancy of a table, partitions and inheritance children taking their parent's.
    pub fn tenancy(&self, table: &QualifiedName) -> Option<&Tenancy> {
        if let Some(t) = self.model.tenancy(table) {
            return Some(t);
        }
        let rel = self.snapshot.relation(table)?;
        rel.parents.iter().find_map(|p| self.tenancy(p))
    }

    /// Column → SQL value for a new row of `table` belonging to `tenant`. Parents missing for
    /// the tenant are inserted first (as the auditing role, inside the caller's transaction).
    pub async fn row_for(
        &self,
        table: &QualifiedName,
        tenant: &str,
        depth: usize,
    ) -> Result<Vec<(String, String)>, String> {
        self.row_in(table, tenant, depth, &[], &[]).await
    }

    /// As [`Self::row_for`], with some columns given (`overrides`: column → SQL value) and the
    /// tables whose rows are being built around it (`chain`: a nullable foreign key back into
    /// one of them is left NULL instead of seeding round a cycle).
    pub async fn row_in(
        &self,
        table: &QualifiedName,
        tenant: &str,
        depth: usize,
        chain: &[QualifiedName],
        overrides: &[(String, String)],
    ) -> Result<Vec<(String, String)>, String> {
        let rel = self
            .snapshot
            .any_relation(table)
            .ok_or_else(|| format!("{table} is not in the snapshot"))?;
        let mut chain = chain.to_vec();
        chain.push(table.clone());
        let meta = self
            .meta
            .get(&rel.oid)
            .ok_or_else(|| format!("no column types read for {table}"))?;
        let mut values: Vec<(String, String)> = overrides.to_vec();
        let set = |values: &Vec<(String, String)>, c: &str| values.iter().any(|(n, _)| n == c);
        let type_of = |c: &str| {
            meta.iter()
                .find(|m| m.name == c)
                .map(|m| m.type_sql.clone())
                .unwrap_or_else(|| "text".into())
        };
        match self.tenancy(table) {
            Some(Tenancy::Direct { column, .. }) if !set(&values, column) => {
                values.push((
                    column.clone(),
                    format!("{}::{}", literal(tenant), type_of(column)),
                ));
            }
            Some(Tenancy::Root) => {
                // A tenant made up for the proof: its root row.
                let key = &self.model.root.as_ref().ok_or("no tenant root")?.key;
                values.push((
                    key.clone(),
                    format!("{}::{}", literal(tenant), type_of(key)),
                ));
            }
            _ => {}
        }
        for (c, fk) in rel.foreign_keys() {
            if c.columns.iter().all(|col| set(&values, col)) {
                continue;
            }
            let parent_rows = self
                .parent_values(rel, c, fk, tenant, depth, &chain)
                .await?;
            match parent_rows {
                Some(vals) => {
                    for (col, v) in c.columns.iter().zip(vals) {
                        if set(&values, col) {
                            continue;
                        }
                        let v = match v {
                            Some(v) => format!("{}::{}", literal(&v), type_of(col)),
                            None => "NULL".into(),
                        };
                        values.push((col.clone(), v));
                    }
                }
                None => {
                    let nullable = c.columns.iter().all(|col| {
                        meta.iter()
                            .find(|m| &m.name == col)
                            .is_some_and(|m| !m.not_null)
                    });
                    if !nullable {
                        return Err(format!(
                            "no row of {} to point {} at, and none could be seeded",
                            fk.references, c.name
                        ));
                    }
                }
            }
        }
        for m in meta {
            if set(&values, &m.name) || m.generated || m.identity_always {
                continue;
            }
            let hint = self.seeds.hint(table, &m.name);
            // A value the policies compare the column with is seeded even where the column
            // could be left NULL or to its default: that is the row they let through.
            if let Some(v) = hint.and_then(|h| h.seed_value()) {
                values.push((m.name.clone(), format!("{}::{}", literal(&v), m.type_sql)));
                continue;
            }
            if m.identity || m.has_default || !m.not_null {
                continue;
            }
            let v = value_with_hint(m, hint).ok_or_else(|| {
                format!(
                    "no value can be built for {}.{} of type {}",
                    table, m.name, m.type_sql
                )
            })?;
            values.push((m.name.clone(), v));
        }
        Ok(values)
    }

    /// Values of the referenced columns in a parent row of the same tenant (or any row, when
    /// the parent is not tenanted), seeding one when there is none.
    async fn parent_values(
        &self,
        rel: &Relation,
        c: &tenantguard_catalog::Constraint,
        fk: &tenantguard_catalog::ForeignKey,
        tenant: &str,
        depth: usize,
        chain: &[QualifiedName],
    ) -> Result<Option<Vec<Option<String>>>, String> {
        let parent = &fk.references;
        // The tenant's own user (its row is made sure of at the start of the transaction).
        if let (Some((users, key)), Some(user)) =
            (&self.seeds.users, self.seeds.user_of.get(tenant))
        {
            if parent == users && fk.referenced_columns == [key.clone()] {
                return Ok(Some(vec![Some(user.clone())]));
            }
        }
        let cols: Vec<String> = fk
            .referenced_columns
            .iter()
            .map(|c| format!("p.{}::text", quote_ident(c)))
            .collect();
        // A parent with no tenant (a profile) that belongs to a user: the tenant's user's
        // row, so B's rows never point at A's user (which would make them A's own rows).
        let pred = self
            .tenant_predicate(parent, "p", tenant, 0)
            .or_else(|| self.user_predicate(parent, "p", tenant))
            .unwrap_or_else(|| "true".into());
        let sql = format!(
            "SELECT {} FROM {} p WHERE {pred} LIMIT 1",
            cols.join(", "),
            parent.sql()
        );
        let rows = self
            .client
            .query(&sql, &[])
            .await
            .map_err(|e| format!("reading a parent row of {}: {}", parent, db_message(&e)))?;
        if let Some(r) = rows.first() {
            return Ok(Some(
                (0..cols.len())
                    .map(|i| r.get::<_, Option<String>>(i))
                    .collect(),
            ));
        }
        // A self-reference or too deep a chain: leave it to nullability.
        if parent == &rel.qualified_name() || depth >= MAX_DEPTH {
            return Ok(None);
        }
        if matches!(self.tenancy(parent), Some(Tenancy::Root)) {
            return Ok(None);
        }
        // Round a cycle of foreign keys: a nullable one back into a table being built is left
        // NULL (seeding it would insert the cycle's rows again and again).
        let nullable = c.columns.iter().all(|col| {
            self.meta
                .get(&rel.oid)
                .and_then(|m| m.iter().find(|m| &m.name == col))
                .is_some_and(|m| !m.not_null)
        });
        if nullable && chain.contains(parent) {
            return Ok(None);
        }
        // Building a tenant's root row: a nullable pointer from it to a tenanted table
        // (`schools.principal_id` → a profile of that school) is left NULL, as its parent could
        // only point back at a root row that does not exist yet.
        let building_root = self
            .model
            .root
            .as_ref()
            .is_some_and(|r| chain.contains(&r.table));
        let tenanted = matches!(
            self.tenancy(parent),
            Some(Tenancy::Direct { .. } | Tenancy::Indirect { .. })
        );
        if nullable && building_root && tenanted {
            return Ok(None);
        }
        let (oid, ctid) = Box::pin(self.seed_in(parent, tenant, depth + 1, chain, &[])).await?;
        let sql = format!(
            "SELECT {} FROM {} p WHERE p.tableoid = {oid} AND p.ctid = {}::tid",
            cols.join(", "),
            parent.sql(),
            literal(&ctid)
        );
        let row = self
            .client
            .query_one(&sql, &[])
            .await
            .map_err(|e| format!("reading the seeded row of {parent}: {}", db_message(&e)))?;
        Ok(Some(
            (0..cols.len())
                .map(|i| row.get::<_, Option<String>>(i))
                .collect(),
        ))
    }

    /// Inserts a row of `table` for `tenant` (as the auditing role); its (tableoid, ctid).
    pub async fn seed(
        &self,
        table: &QualifiedName,
        tenant: &str,
        depth: usize,
    ) -> Result<(u32, String), String> {
        self.seed_in(table, tenant, depth, &[], &[]).await
    }

    /// As [`Self::seed`], with [`Self::row_in`]'s `chain` and `overrides`.
    pub async fn seed_in(
        &self,
        table: &QualifiedName,
        tenant: &str,
        depth: usize,
        chain: &[QualifiedName],
        overrides: &[(String, String)],
    ) -> Result<(u32, String), String> {
        let mut values = self.row_in(table, tenant, depth, chain, overrides).await?;
        // A CHECK the values break is solved by PostgreSQL itself, up to a few times (a row
        // may break more than one).
        for round in 0.. {
            let sql = format!(
                "{} RETURNING tableoid::oid, ctid::text",
                insert_sql(table, &values)
            );
            let _ = self.client.batch_execute("SAVEPOINT tg_seed").await;
            match self.client.query_one(&sql, &[]).await {
                Ok(row) => {
                    let _ = self.client.batch_execute("RELEASE SAVEPOINT tg_seed").await;
                    return Ok((row.get(0), row.get(1)));
                }
                Err(e) => {
                    let _ = self
                        .client
                        .batch_execute("ROLLBACK TO SAVEPOINT tg_seed; RELEASE SAVEPOINT tg_seed")
                        .await;
                    let fixed = match e.as_db_error() {
                        Some(db) if round < 3 && db.code() == &SqlState::CHECK_VIOLATION => {
                            self.satisfy_check(table, db.constraint(), &values).await
                        }
                        Some(db) if db.code() == &SqlState::UNIQUE_VIOLATION => {
                            if let Some(sql) = self.upsert_made_row(table, db.constraint(), &values)
                            {
                                let _ = self.client.batch_execute("SAVEPOINT tg_seed").await;
                                match self.client.query_one(&sql, &[]).await {
                                    Ok(row) => {
                                        let _ = self
                                            .client
                                            .batch_execute("RELEASE SAVEPOINT tg_seed")
                                            .await;
                                        return Ok((row.get(0), row.get(1)));
                                    }
                                    Err(_) => {
                                        let _ = self
                                            .client
                                            .batch_execute(
                                                "ROLLBACK TO SAVEPOINT tg_seed; RELEASE SAVEPOINT tg_seed",
                                            )
                                            .await;
                                    }
                                }
                            }
                            None
                        }
                        _ => None,
                    };
                    match fixed {
                        Some(v) => values = v,
                        None => {
                            return Err(format!("inserting a row into {table}: {}", db_message(&e)))
                        }
                    }
                }
            }
        }
        unreachable!("the loop returns")
    }

    /// The row a trigger already made for the parent the probe just made (a sign-up trigger
    /// on `auth.users` creates the user's profile, keyed by the user's id): when the primary
    /// key that clashed is one the probe chose and every key column points at a parent, the
    /// row is that parent's, made in this (rolled-back) transaction. Taken over with the
    /// probe's values: `INSERT … ON CONFLICT ON CONSTRAINT pk DO UPDATE`.
    fn upsert_made_row(
        &self,
        table: &QualifiedName,
        constraint: Option<&str>,
        values: &[(String, String)],
    ) -> Option<String> {
        let rel = self.snapshot.any_relation(table)?;
        let pk = rel.primary_key()?;
        if Some(pk.name.as_str()) != constraint {
            return None;
        }
        let chosen = pk
            .columns
            .iter()
            .all(|c| values.iter().any(|(n, _)| n == c));
        let parented = pk.columns.iter().all(|c| {
            rel.foreign_keys()
                .any(|(con, _)| con.columns.len() == 1 && &con.columns[0] == c)
        });
        if !chosen || !parented {
            return None;
        }
        let set: Vec<String> = values
            .iter()
            .filter(|(n, _)| !pk.columns.contains(n))
            .map(|(n, _)| format!("{0} = EXCLUDED.{0}", quote_ident(n)))
            .collect();
        let action = if set.is_empty() {
            // Touch the row so RETURNING yields it.
            format!("UPDATE SET {0} = EXCLUDED.{0}", quote_ident(&pk.columns[0]))
        } else {
            format!("UPDATE SET {}", set.join(", "))
        };
        Some(format!(
            "{} ON CONFLICT ON CONSTRAINT {} DO {action} RETURNING tableoid::oid, ctid::text",
            insert_sql(table, values),
            quote_ident(&pk.name)
        ))
    }

    /// Values for the columns of CHECK `constraint` of `table` that satisfy it, found by
    /// PostgreSQL evaluating the CHECK over candidates for each column (NULL, the value tried,
    /// the CHECK's own constants, a generic value): `values` with those columns replaced.
    async fn satisfy_check(
        &self,
        table: &QualifiedName,
        constraint: Option<&str>,
        values: &[(String, String)],
    ) -> Option<Vec<(String, String)>> {
        let rel = self.snapshot.any_relation(table)?;
        let c = rel
            .constraints
            .iter()
            .find(|c| Some(c.name.as_str()) == constraint)?;
        let def = c.check.as_deref()?;
        let expr = def
            .trim()
            .trim_end_matches("NOT VALID")
            .trim()
            .strip_prefix("CHECK")?
            .trim();
        let meta = self.meta.get(&rel.oid)?;
        let cols: Vec<&ColumnMeta> = c
            .columns
            .iter()
            .filter_map(|n| meta.iter().find(|m| &m.name == n))
            .collect();
        if cols.is_empty() || cols.len() > 4 {
            return None;
        }
        let constants = crate::predicates::check_constants(expr);
        let mut from = vec![];
        for (i, m) in cols.iter().enumerate() {
            let mut cands: Vec<String> = vec![format!("NULL::{}", m.type_sql)];
            if let Some((_, v)) = values.iter().find(|(n, _)| n == &m.name) {
                cands.push(v.clone());
            }
            if m.base_type == "bool" {
                cands.push("true".into());
                cands.push("false".into());
            }
            for k in &constants {
                cands.push(format!("{}::{}", crate::literal(k), m.type_sql));
            }
            if let Some(v) = value_for(m) {
                cands.push(v);
            }
            cands.dedup();
            // Each candidate is tried alone first: one that does not even cast is left out.
            let mut ok = vec![];
            for v in cands.into_iter().take(12) {
                if self
                    .client
                    .batch_execute("SAVEPOINT tg_cand")
                    .await
                    .is_err()
                {
                    return None;
                }
                let fine = self.client.query(&format!("SELECT {v}"), &[]).await.is_ok();
                let _ = self
                    .client
                    .batch_execute(if fine {
                        "RELEASE SAVEPOINT tg_cand"
                    } else {
                        "ROLLBACK TO SAVEPOINT tg_cand; RELEASE SAVEPOINT tg_cand"
                    })
                    .await;
                if fine {
                    ok.push(format!("({v})"));
                }
            }
            from.push(format!(
                "(VALUES {}) v{i}({})",
                ok.join(", "),
                quote_ident(&m.name)
            ));
        }
        let picked: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, m)| format!("v{i}.{}::text", quote_ident(&m.name)))
            .collect();
        // Rows whose NOT NULL columns are NULL would fail anyway.
        let not_null: Vec<String> = cols
            .iter()
            .enumerate()
            .filter(|(_, m)| m.not_null)
            .map(|(i, m)| format!(" AND v{i}.{} IS NOT NULL", quote_ident(&m.name)))
            .collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE ({expr}) IS NOT FALSE{} LIMIT 1",
            picked.join(", "),
            from.join(" CROSS JOIN "),
            not_null.join("")
        );
        if self
            .client
            .batch_execute("SAVEPOINT tg_cand")
            .await
            .is_err()
        {
            return None;
        }
        let row = self.client.query_opt(&sql, &[]).await;
        let _ = self
            .client
            .batch_execute(match row {
                Ok(_) => "RELEASE SAVEPOINT tg_cand",
                Err(_) => "ROLLBACK TO SAVEPOINT tg_cand; RELEASE SAVEPOINT tg_cand",
            })
            .await;
        let row = row.ok()??;
        let mut out: Vec<(String, String)> = values
            .iter()
            .filter(|(n, _)| !cols.iter().any(|m| &m.name == n))
            .cloned()
            .collect();
        for (i, m) in cols.iter().enumerate() {
            let v = match row.get::<_, Option<String>>(i) {
                Some(v) => format!("{}::{}", crate::literal(&v), m.type_sql),
                None => "NULL".into(),
            };
            out.push((m.name.clone(), v));
        }
        Some(out)
    }
}

/// `INSERT INTO table (…) VALUES (…)`, or `DEFAULT VALUES`.
pub fn insert_sql(table: &QualifiedName, values: &[(String, String)]) -> String {
    if values.is_empty() {
        return format!("INSERT INTO {} DEFAULT VALUES", table.sql());
    }
    let cols: Vec<String> = values.iter().map(|(c, _)| quote_ident(c)).collect();
    let vals: Vec<&str> = values.iter().map(|(_, v)| v.as_str()).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        table.sql(),
        cols.join(", "),
        vals.join(", ")
    )
}

/// PostgreSQL's message for an error, with its SQLSTATE.
pub fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}
