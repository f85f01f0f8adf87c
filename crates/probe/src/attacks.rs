//! The attacks on one table, view or function.
//!
//! Each object gets its own transaction (READ ONLY with `--read-only`), with
//! `statement_timeout` and `lock_timeout` set LOCAL, ended by ROLLBACK whatever happens. B's
//! rows are identified as the auditing role — by B's key, or through the foreign-key path for
//! indirectly tenanted tables — and remembered by (tableoid, ctid). Each attack runs in a
//! savepoint: become the attacker (SET LOCAL ROLE + claims), run one statement, measure, and
//! ROLLBACK TO SAVEPOINT, which also undoes the role and the settings.
//!
//! How each attack is counted, and why:
//! - reads, updates and deletes with a WHERE: the statement's own row count (the WHERE selects
//!   only B's rows);
//! - `update_all`, `delete_all`, `upsert`: B's rows whose (tableoid, ctid) no longer exists
//!   afterwards, seen by the auditing role in the same subtransaction — an updated row gets a
//!   new ctid, a deleted one disappears. These statements read no column of the table (SET
//!   assigns constants, there is no WHERE or RETURNING), so PostgreSQL applies no SELECT policy
//!   to them: this is how `WITH CHECK (true)` and `DELETE USING (true)` leak.

use std::collections::BTreeMap;
use std::time::Duration;

use tenantguard_catalog::{quote_ident, ConstraintKind, QualifiedName, Relation};
use tenantguard_tenant_model::Tenancy;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::attacker::Attacker;
use crate::predicates::ColumnHint;
use crate::rows::{db_message, insert_sql, ColumnMeta, RowBuilder};
use crate::{literal, Attack, AttackResult, ObjectKind, Outcome, TenantPair};

/// B's rows remembered per table; more are counted, not listed.
const MAX_TRACKED_ROWS: usize = 100_000;

pub struct Settings {
    pub read_only: bool,
    pub statement_timeout: Duration,
    pub lock_timeout: Duration,
    /// Above this many (estimated) rows, `update_all` / `delete_all` are skipped: they would
    /// rewrite the whole table before the rollback.
    pub max_write_rows: f64,
}

pub struct TableCtx<'a> {
    pub rows: RowBuilder<'a>,
    pub pair: &'a TenantPair,
    pub attackers: &'a [Attacker],
    pub settings: &'a Settings,
}

fn result(
    table: &QualifiedName,
    kind: ObjectKind,
    role: &str,
    attack: Attack,
    outcome: Outcome,
    rows: u64,
    detail: impl Into<String>,
) -> AttackResult {
    AttackResult {
        table: table.to_string(),
        kind,
        role: role.to_string(),
        attack,
        outcome,
        rows,
        detail: detail.into(),
    }
}

/// An error from an attack statement: a permission or RLS denial is "blocked", anything else
/// is shown as an error.
fn classify(e: &tokio_postgres::Error) -> (Outcome, String) {
    match e.code() {
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => {
            (Outcome::Blocked, format!("denied: {}", db_message(e)))
        }
        Some(c) if *c == SqlState::QUERY_CANCELED => (
            Outcome::Error,
            format!("timed out (statement_timeout): {}", db_message(e)),
        ),
        _ => (Outcome::Error, db_message(e)),
    }
}

/// BEGIN (READ ONLY) with the proof's statement and lock timeouts, LOCAL.
pub(crate) async fn begin(client: &Client, s: &Settings, read_only: bool) -> Result<(), String> {
    client
        .batch_execute(&format!(
            "BEGIN{}; SET LOCAL statement_timeout = {}; SET LOCAL lock_timeout = {};",
            if read_only { " READ ONLY" } else { "" },
            s.statement_timeout.as_millis().max(1),
            s.lock_timeout.as_millis().max(1)
        ))
        .await
        .map_err(|e| db_message(&e))
}

/// One attack's statement, run as the attacker inside a savepoint.
enum Statement {
    /// Rows counted from the statement's result (query) or row count (execute).
    Count { sql: String, query: bool },
    /// Rows counted as B's rows gone afterwards.
    BRowsChanged { sql: String },
    /// Leak when it succeeds (one row written).
    Succeeds { sql: String },
    /// Info when it fails with a unique violation.
    UniqueOracle { sql: String },
    /// Rows moved into B: B's row count afterwards (as the auditing role) minus before.
    MovedIntoB { sql: String, count_b: String },
}

/// Everything known about the target table before attacking it.
struct Target<'a> {
    rel: &'a Relation,
    name: QualifiedName,
    tenancy: Tenancy,
    /// The tenant key column (root key for the root).
    key: Option<String>,
    b_rows: Vec<(u32, String)>,
    b_total: u64,
    /// One of A's rows (direct tables), for `move`.
    a_row: Option<(u32, String)>,
    /// B's sample row as JSON, for the upsert and the oracle.
    b_sample: Option<serde_json::Value>,
    /// A new row for B, for `insert`.
    insert_row: Result<Vec<(String, String)>, String>,
    meta: &'a [ColumnMeta],
}

impl Target<'_> {
    fn typed(&self, value: &str, column: &str) -> String {
        let t = self
            .meta
            .iter()
            .find(|m| m.name == column)
            .map_or("text", |m| m.type_sql.as_str());
        format!("{}::{t}", literal(value))
    }

    /// Selects B's rows, as the attacker writes it.
    fn b_where(&self, b: &str) -> String {
        match &self.key {
            Some(k) => format!("{} = {}", quote_ident(k), self.typed(b, k)),
            None => {
                // Array elements with commas are quoted: {"(0,1)","(0,2)"}.
                let tids: Vec<String> = self
                    .b_rows
                    .iter()
                    .map(|(_, t)| format!("\"{t}\""))
                    .collect();
                let mut oids: Vec<String> =
                    self.b_rows.iter().map(|(o, _)| o.to_string()).collect();
                oids.sort();
                oids.dedup();
                format!(
                    "ctid = ANY({}::tid[]) AND tableoid = ANY('{{{}}}'::oid[])",
                    literal(&format!("{{{}}}", tids.join(","))),
                    oids.join(",")
                )
            }
        }
    }

    /// A SET clause that reads no column: the attacker's own tenant into the key (so a
    /// tenant-bound WITH CHECK passes and only USING decides), else one non-unique column set
    /// to B's own value of it.
    ///
    /// Both are tried when both exist: the key move fails on a per-tenant unique key
    /// (`UNIQUE (org_id, slug)`) or a WITH CHECK that trusts something else (a `user_metadata`
    /// claim the attacker set to B), where keeping B's key gets through.
    fn payloads(
        &self,
        attacker: &Attacker,
        a: &str,
        hints: Option<&BTreeMap<String, ColumnHint>>,
    ) -> Vec<String> {
        let mut out = vec![];
        if let (Some(k), Tenancy::Direct { .. }, true) =
            (&self.key, &self.tenancy, attacker.has_tenant)
        {
            out.push(format!("{} = {}", quote_ident(k), self.typed(a, k)));
        }
        if let Some((col, value)) = self.settable_column() {
            out.push(format!("{} = {value}", quote_ident(col)));
        }
        // The values an UPDATE policy's WITH CHECK demands (`WITH CHECK (status = 'signed')`):
        // the transition it allows, applied to B's row.
        for (col, hint) in hints.into_iter().flatten() {
            if Some(col.as_str()) == self.key.as_deref() {
                continue;
            }
            if let Some(v) = hint.update_check.first() {
                out.push(format!("{} = {}", quote_ident(col), self.typed(v, col)));
            }
        }
        out
    }

    /// A column outside every key, FK and unique constraint, with B's value of it.
    fn settable_column(&self) -> Option<(&str, String)> {
        let sample = self.b_sample.as_ref()?;
        let constrained = |c: &str| {
            self.rel.constraints.iter().any(|k| {
                matches!(
                    k.kind,
                    ConstraintKind::PrimaryKey
                        | ConstraintKind::Unique
                        | ConstraintKind::ForeignKey
                ) && k.columns.iter().any(|x| x == c)
            }) || self
                .rel
                .indexes
                .iter()
                .any(|i| i.unique && i.columns.iter().any(|x| x.as_deref() == Some(c)))
                || Some(c) == self.key.as_deref()
        };
        let m = self.meta.iter().find(|m| {
            !m.generated && !m.identity_always && m.category != 'A' && !constrained(&m.name)
        })?;
        let value = match sample.get(&m.name)? {
            serde_json::Value::Null => "NULL".to_string(),
            serde_json::Value::String(s) => format!("{}::{}", literal(s), m.type_sql),
            other => format!("{}::{}", literal(&other.to_string()), m.type_sql),
        };
        Some((&m.name, value))
    }

    fn unique_columns(&self) -> Option<Vec<String>> {
        let c = self.rel.primary_key().or_else(|| {
            self.rel
                .constraints
                .iter()
                .find(|c| c.kind == ConstraintKind::Unique)
        })?;
        Some(c.columns.clone())
    }

    /// `INSERT … SELECT … FROM jsonb_populate_record(NULL::t, <row>)`: B's row with the key
    /// turned to A's — conflicts with B's row only where the unique key leaves the tenant out.
    fn copy_of_b(&self, key_value: Option<&str>) -> Option<String> {
        let mut row = self.b_sample.clone()?;
        if let (Some(k), Some(v)) = (&self.key, key_value) {
            row[k.as_str()] = serde_json::Value::String(v.to_string());
        }
        let cols: Vec<String> = self
            .meta
            .iter()
            .filter(|m| !m.generated)
            .map(|m| quote_ident(&m.name))
            .collect();
        let overriding = if self.meta.iter().any(|m| m.identity_always) {
            " OVERRIDING SYSTEM VALUE"
        } else {
            ""
        };
        Some(format!(
            "INSERT INTO {t} ({c}){overriding} SELECT {c} FROM jsonb_populate_record(NULL::{t}, {}::jsonb)",
            literal(&row.to_string()),
            t = self.name.sql(),
            c = cols.join(", "),
        ))
    }
}

/// Attacks one table (or partition / inheritance child), after A's own-row probes.
pub async fn attack_table(
    ctx: &TableCtx<'_>,
    rel: &Relation,
) -> (Vec<AttackResult>, Vec<crate::own::OwnAccess>) {
    let name = rel.qualified_name();
    let client = ctx.rows.client;
    let attacks: Vec<Attack> = Attack::TABLE_ATTACKS
        .into_iter()
        .filter(|a| !ctx.settings.read_only || a.is_read())
        .collect();
    let skip_all = |why: String| -> Vec<AttackResult> {
        ctx.attackers
            .iter()
            .flat_map(|at| {
                attacks.iter().map({
                    let why = why.clone();
                    let name = name.clone();
                    move |a| {
                        result(
                            &name,
                            ObjectKind::Table,
                            &at.label,
                            *a,
                            Outcome::Skipped,
                            0,
                            why.clone(),
                        )
                    }
                })
            })
            .collect()
    };
    if let Err(e) = begin(client, ctx.settings, ctx.settings.read_only).await {
        let why = format!("could not start a transaction: {e}");
        return (
            skip_all(why.clone()),
            crate::own::skipped_all(ctx, rel, &why),
        );
    }
    if let Err(why) = seed_tenants(ctx).await {
        let _ = client.batch_execute("ROLLBACK").await;
        return (
            skip_all(why.clone()),
            crate::own::skipped_all(ctx, rel, &why),
        );
    }
    let own = crate::own::own_probes(ctx, rel).await;
    let out = match prepare(ctx, rel).await {
        Ok(target) => {
            let mut out = vec![];
            for attacker in ctx.attackers {
                for &attack in &attacks {
                    out.push(run_one(ctx, &target, attacker, attack).await);
                }
            }
            out
        }
        Err(why) => skip_all(why),
    };
    // Nothing is ever committed.
    let _ = client.batch_execute("ROLLBACK").await;
    (out, own)
}

/// A's own-row probes alone on one table, in a transaction of its own (rolled back).
pub async fn own_table(ctx: &TableCtx<'_>, rel: &Relation) -> Vec<crate::own::OwnAccess> {
    let client = ctx.rows.client;
    if let Err(e) = begin(client, ctx.settings, ctx.settings.read_only).await {
        return crate::own::skipped_all(ctx, rel, &format!("could not start a transaction: {e}"));
    }
    let own = match seed_tenants(ctx).await {
        Ok(()) => crate::own::own_probes(ctx, rel).await,
        Err(why) => crate::own::skipped_all(ctx, rel, &why),
    };
    let _ = client.batch_execute("ROLLBACK").await;
    own
}

/// What every transaction of the proof starts with (as the auditing role, rolled back with
/// it): the root rows of made-up tenants, the users of A and B where the users table lacks
/// them, and A's user made a member of A in every table the policies look the caller up in.
pub(crate) async fn seed_tenants(ctx: &TableCtx<'_>) -> Result<(), String> {
    if ctx.settings.read_only {
        if !ctx.pair.synthesized.is_empty() {
            return Err("fewer than two tenants exist, and --read-only makes none up".into());
        }
        return Ok(());
    }
    let seeds = ctx.rows.seeds;
    let client = ctx.rows.client;
    // In a savepoint each: a row that cannot be made is left out, not fatal.
    let attempt = |table: QualifiedName, tenant: String, overrides: Vec<(String, String)>| async move {
        if client.batch_execute("SAVEPOINT tg_ctx").await.is_err() {
            return;
        }
        let ok = ctx
            .rows
            .seed_in(&table, &tenant, 0, &[], &overrides)
            .await
            .is_ok();
        let _ = client
            .batch_execute(if ok {
                "RELEASE SAVEPOINT tg_ctx"
            } else {
                "ROLLBACK TO SAVEPOINT tg_ctx; RELEASE SAVEPOINT tg_ctx"
            })
            .await;
    };
    let exists = |sql: String| async move {
        client
            .query(&sql, &[])
            .await
            .map(|r| !r.is_empty())
            .unwrap_or(true)
    };
    if let Some((users, key)) = &seeds.users {
        let mut tenants: Vec<(&String, &String)> = seeds.user_of.iter().collect();
        tenants.sort();
        for (tenant, user) in tenants {
            let value = ctx.rows.typed(users, key, user);
            let sql = format!(
                "SELECT 1 FROM {} WHERE {} = {value}",
                users.sql(),
                quote_ident(key)
            );
            if exists(sql).await {
                continue;
            }
            // An email, as every GoTrue user has: `on auth.users insert` triggers copy it
            // into NOT NULL columns of profiles.
            let mut overrides = vec![(key.clone(), value)];
            if ctx
                .rows
                .snapshot
                .any_relation(users)
                .is_some_and(|r| r.column("email").is_some())
            {
                overrides.push((
                    "email".into(),
                    ctx.rows
                        .typed(users, "email", &format!("{user}@tenantguard.invalid")),
                ));
            }
            attempt(users.clone(), tenant.clone(), overrides.clone()).await;
            // A sign-up trigger that still refuses the made-up user (it wants metadata the
            // app's sign-up form sends): the user row alone, with triggers off for this one
            // insert (`session_replication_role = replica`, reset right after).
            let sql = format!(
                "SELECT 1 FROM {} WHERE {} = {}",
                users.sql(),
                quote_ident(key),
                overrides[0].1
            );
            // Under a savepoint: a role that may not set it (not a superuser) must not abort
            // the transaction.
            if !exists(sql).await && client.batch_execute("SAVEPOINT tg_repl").await.is_ok() {
                if client
                    .batch_execute("SET LOCAL session_replication_role = replica")
                    .await
                    .is_ok()
                {
                    attempt(users.clone(), tenant.clone(), overrides).await;
                    let _ = client
                        .batch_execute(
                            "SET LOCAL session_replication_role = origin; RELEASE SAVEPOINT tg_repl",
                        )
                        .await;
                } else {
                    let _ = client
                        .batch_execute("ROLLBACK TO SAVEPOINT tg_repl; RELEASE SAVEPOINT tg_repl")
                        .await;
                }
            }
        }
    }
    // After the users: a tenant's root row may reference its owner.
    let root = ctx.rows.model.root.as_ref().ok_or("no tenant root")?;
    for id in &ctx.pair.synthesized {
        ctx.rows.seed(&root.table, id, 0).await.map_err(|e| {
            format!("cannot make up tenant {id} (inside the rolled-back transaction): {e}")
        })?;
    }
    let a = &ctx.pair.attacker;
    if let Some(user) = seeds.user_of.get(a) {
        for m in &seeds.memberships {
            let Some(Tenancy::Direct { column, .. }) = ctx.rows.tenancy(&m.table) else {
                continue;
            };
            let value = ctx.rows.typed(&m.table, &m.user_column, user);
            let sql = format!(
                "SELECT 1 FROM {} WHERE {} = {value} AND {}::text = {}",
                m.table.sql(),
                quote_ident(&m.user_column),
                quote_ident(column),
                literal(a)
            );
            if !exists(sql).await {
                attempt(
                    m.table.clone(),
                    a.clone(),
                    vec![(m.user_column.clone(), value)],
                )
                .await;
            }
        }
    }
    Ok(())
}

async fn prepare<'a>(ctx: &TableCtx<'a>, rel: &'a Relation) -> Result<Target<'a>, String> {
    let client = ctx.rows.client;
    let name = rel.qualified_name();
    let tenancy = ctx
        .rows
        .tenancy(&name)
        .cloned()
        .ok_or_else(|| format!("{name} is not a tenant table"))?;
    let root = ctx.rows.model.root.as_ref().ok_or("no tenant root")?;
    let key = match &tenancy {
        Tenancy::Root => Some(root.key.clone()),
        Tenancy::Direct { column, .. } => Some(column.clone()),
        Tenancy::Indirect { .. } => None,
        Tenancy::Global { .. } => return Err("a global table: shared by every tenant".into()),
    };
    let meta = ctx
        .rows
        .meta
        .get(&rel.oid)
        .map(Vec::as_slice)
        .ok_or_else(|| format!("no column types read for {name}"))?;
    let (a, b) = (&ctx.pair.attacker, &ctx.pair.victim);
    let b_pred = ctx
        .rows
        .tenant_predicate(&name, "t", b, 0)
        .ok_or("no path to the tenant")?;
    let b_rows_of = |pred: String| {
        format!(
            "SELECT tableoid::oid, ctid::text FROM {} t WHERE {pred} LIMIT {MAX_TRACKED_ROWS}",
            name.sql()
        )
    };
    let rows = client
        .query(&b_rows_of(b_pred.clone()), &[])
        .await
        .map_err(|e| format!("finding B's rows: {}", db_message(&e)))?;
    let mut b_rows: Vec<(u32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut b_total = b_rows.len() as u64;
    if b_rows.len() == MAX_TRACKED_ROWS {
        b_total = client
            .query_one(
                &format!("SELECT count(*) FROM {} t WHERE {b_pred}", name.sql()),
                &[],
            )
            .await
            .map_err(|e| format!("counting B's rows: {}", db_message(&e)))?
            .get::<_, i64>(0) as u64;
    }
    let seed = |tenant: String, who: &'static str| {
        let name = name.clone();
        async move {
            client
                .batch_execute("SAVEPOINT tg_seed")
                .await
                .map_err(|e| db_message(&e))?;
            match ctx.rows.seed(&name, &tenant, 0).await {
                Ok(row) => {
                    let _ = client.batch_execute("RELEASE SAVEPOINT tg_seed").await;
                    Ok(row)
                }
                Err(e) => {
                    let _ = client
                        .batch_execute("ROLLBACK TO SAVEPOINT tg_seed; RELEASE SAVEPOINT tg_seed")
                        .await;
                    Err(format!(
                        "cannot seed a row of {who} (inside the rolled-back transaction): {e}"
                    ))
                }
            }
        }
    };
    if b_rows.is_empty() {
        if ctx.settings.read_only {
            return Err("B has no rows here, and --read-only seeds none".into());
        }
        let seeded = seed(b.clone(), "B").await?;
        // Seeding may have inserted more of B's rows here than the one returned (parents
        // seeded round a cycle of foreign keys): count them all, or a later count of B's rows
        // would call them moved in by the attacker.
        let rows = client
            .query(&b_rows_of(b_pred.clone()), &[])
            .await
            .map_err(|e| format!("finding B's seeded rows: {}", db_message(&e)))?;
        b_rows = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        b_rows.retain(|r| r != &seeded);
        b_rows.insert(0, seeded);
        b_total = b_rows.len() as u64;
    }
    let a_row = match &tenancy {
        Tenancy::Direct { .. } => {
            let a_pred = ctx
                .rows
                .tenant_predicate(&name, "t", a, 0)
                .unwrap_or_default();
            let rows = client
                .query(
                    &b_rows_of(a_pred).replace(&format!("LIMIT {MAX_TRACKED_ROWS}"), "LIMIT 1"),
                    &[],
                )
                .await
                .map_err(|e| format!("finding A's rows: {}", db_message(&e)))?;
            match rows.first() {
                Some(r) => Some((r.get(0), r.get(1))),
                None if !ctx.settings.read_only => seed(a.clone(), "A").await.ok(),
                None => None,
            }
        }
        _ => None,
    };
    let (oid, tid) = &b_rows[0];
    let b_sample = client
        .query_one(
            &format!(
                "SELECT to_jsonb(t)::text FROM {} t WHERE t.tableoid = {oid} AND t.ctid = {}::tid",
                name.sql(),
                literal(tid)
            ),
            &[],
        )
        .await
        .ok()
        .and_then(|r| serde_json::from_str(r.get::<_, &str>(0)).ok());
    let insert_row = if matches!(tenancy, Tenancy::Root) || ctx.settings.read_only {
        Err("not applicable".into())
    } else {
        client
            .batch_execute("SAVEPOINT tg_row")
            .await
            .map_err(|e| db_message(&e))?;
        let row = ctx.rows.row_for(&name, b, 0).await;
        if row.is_err() {
            let _ = client.batch_execute("ROLLBACK TO SAVEPOINT tg_row").await;
        }
        let _ = client.batch_execute("RELEASE SAVEPOINT tg_row").await;
        row
    };
    Ok(Target {
        rel,
        name,
        tenancy,
        key,
        b_rows,
        b_total,
        a_row,
        b_sample,
        insert_row,
        meta,
    })
}

/// Why an attack was not run.
enum NotRun {
    /// It has no meaning on this object (reported as not applicable).
    Meaningless(String),
    /// It could not be run (reported as skipped: something was left untested).
    Cannot(String),
}

impl From<String> for NotRun {
    fn from(why: String) -> Self {
        NotRun::Cannot(why)
    }
}

impl From<&str> for NotRun {
    fn from(why: &str) -> Self {
        NotRun::Cannot(why.into())
    }
}

/// The statement for one attack, or why it is not run.
fn statements(
    ctx: &TableCtx<'_>,
    t: &Target<'_>,
    attacker: &Attacker,
    attack: Attack,
) -> Result<Vec<Statement>, NotRun> {
    let (a, b) = (&ctx.pair.attacker, &ctx.pair.victim);
    let table = t.name.sql();
    let is_root = matches!(t.tenancy, Tenancy::Root);
    let full_write_guard = || {
        if t.rel.estimated_rows > ctx.settings.max_write_rows {
            Err(format!(
                "~{:.0} rows: an unfiltered write would rewrite the whole table before the rollback (raise --max-write-rows to run it)",
                t.rel.estimated_rows
            ))
        } else {
            Ok(())
        }
    };
    let payloads = || {
        let p = t.payloads(attacker, a, ctx.rows.seeds.hints.get(&t.name));
        if p.is_empty() {
            Err("no column can be set without reading the row (every column is keyed, or B's row could not be read)".to_string())
        } else {
            Ok(p)
        }
    };
    let one = |s: Statement| Ok(vec![s]);
    match attack {
        Attack::Read => one(Statement::Count {
            sql: format!("SELECT count(*) FROM {table} WHERE {}", t.b_where(b)),
            query: true,
        }),
        Attack::ReadReturning => Ok(payloads()?
            .into_iter()
            .map(|p| Statement::Count {
                sql: format!("UPDATE {table} SET {p} WHERE {} RETURNING *", t.b_where(b)),
                query: false,
            })
            .collect()),
        Attack::Insert => {
            if is_root {
                return Err(NotRun::Meaningless(
                    "the root's rows are the tenants: creating one is not another tenant's data"
                        .into(),
                ));
            }
            let row = t
                .insert_row
                .as_ref()
                .map_err(|e| format!("no row for B can be built: {e}"))?;
            one(Statement::Succeeds {
                sql: insert_sql(&t.name, row),
            })
        }
        Attack::Update => Ok(payloads()?
            .into_iter()
            .map(|p| Statement::Count {
                sql: format!("UPDATE {table} SET {p} WHERE {}", t.b_where(b)),
                query: false,
            })
            .collect()),
        Attack::UpdateAll => {
            full_write_guard()?;
            Ok(payloads()?
                .into_iter()
                .map(|p| Statement::BRowsChanged {
                    sql: format!("UPDATE {table} SET {p}"),
                })
                .collect())
        }
        Attack::Move => {
            let (Tenancy::Direct { column, .. }, true) = (&t.tenancy, attacker.has_tenant) else {
                return Err(NotRun::Meaningless(if attacker.has_tenant {
                    "only tables with their own tenant key have rows to move".into()
                } else {
                    "this caller has no tenant of its own".into()
                }));
            };
            let (oid, tid) = t.a_row.as_ref().ok_or("A has no row here to move")?;
            let k = quote_ident(column);
            let set = format!("UPDATE {table} SET {k} = {}", t.typed(b, column));
            // Without a WHERE no SELECT policy applies (not even as a check on the new row):
            // the strongest form. Tables too large to rewrite get the one-row form, which a
            // SELECT policy also guards.
            let sql = if full_write_guard().is_ok() {
                set
            } else {
                format!(
                    "{set} WHERE {k} = {} AND tableoid = {oid} AND ctid = {}::tid",
                    t.typed(a, column),
                    literal(tid)
                )
            };
            one(Statement::MovedIntoB {
                sql,
                count_b: format!(
                    "SELECT count(*) FROM {table} WHERE {k} = {}",
                    t.typed(b, column)
                ),
            })
        }
        Attack::Delete => one(Statement::Count {
            sql: format!("DELETE FROM {table} WHERE {}", t.b_where(b)),
            query: false,
        }),
        Attack::DeleteAll => {
            full_write_guard()?;
            one(Statement::BRowsChanged {
                sql: format!("DELETE FROM {table}"),
            })
        }
        Attack::Upsert => {
            if matches!(t.tenancy, Tenancy::Indirect { .. }) {
                return Err("needs a tenant key column to aim at B's key".into());
            }
            let unique = t
                .unique_columns()
                .ok_or("no primary key or unique constraint to conflict on")?;
            let cols: Vec<String> = unique.iter().map(|c| quote_ident(c)).collect();
            let conflict = cols.join(", ");
            let mut variants = vec![];
            // B's row proposed under A's key (passes a tenant-bound INSERT check), the conflict
            // taking B's row over to A …
            if let (Some(k), true, false) = (&t.key, attacker.has_tenant, is_root) {
                if let Some(insert) = t.copy_of_b(Some(a.as_str())) {
                    variants.push(Statement::BRowsChanged {
                        sql: format!(
                            "{insert} ON CONFLICT ({conflict}) DO UPDATE SET {k} = EXCLUDED.{k}",
                            k = quote_ident(k)
                        ),
                    });
                }
            }
            // … and B's row proposed as it is, the conflict rewriting another column (for a
            // WITH CHECK that trusts something the attacker controls).
            if let (Some(insert), Some((c, _))) = (t.copy_of_b(None), t.settable_column()) {
                variants.push(Statement::BRowsChanged {
                    sql: format!(
                        "{insert} ON CONFLICT ({conflict}) DO UPDATE SET {c} = EXCLUDED.{c}",
                        c = quote_ident(c)
                    ),
                });
            }
            if variants.is_empty() {
                return Err(
                    "B's row could not be read, or no column can be updated on conflict".into(),
                );
            }
            Ok(variants)
        }
        Attack::ExistsOracle => {
            if matches!(t.tenancy, Tenancy::Indirect { .. }) {
                return Err("needs a tenant key column".into());
            }
            t.unique_columns()
                .ok_or("no primary key or unique constraint")?;
            let own = (attacker.has_tenant && !is_root).then_some(a.as_str());
            one(Statement::UniqueOracle {
                sql: t.copy_of_b(own).ok_or("B's row could not be read")?,
            })
        }
        Attack::Call => Err("not a table attack".into()),
    }
}

/// A result of `attack` by `attacker` on the target table.
fn table_result<'a>(
    t: &'a Target<'_>,
    attacker: &'a Attacker,
    attack: Attack,
) -> impl Fn(Outcome, u64, String) -> AttackResult + 'a {
    move |outcome, rows, detail| {
        result(
            &t.name,
            ObjectKind::Table,
            &attacker.label,
            attack,
            outcome,
            rows,
            detail,
        )
    }
}

async fn run_one(
    ctx: &TableCtx<'_>,
    t: &Target<'_>,
    attacker: &Attacker,
    attack: Attack,
) -> AttackResult {
    let res = table_result(t, attacker, attack);
    let variants = match statements(ctx, t, attacker, attack) {
        Ok(s) => s,
        Err(NotRun::Cannot(why)) => return res(Outcome::Skipped, 0, why),
        Err(NotRun::Meaningless(why)) => return res(Outcome::NotApplicable, 0, why),
    };
    // The first leak wins; else blocked if any variant was blocked; else the first error.
    let mut outcomes = vec![];
    for stmt in variants {
        let r = run_statement(ctx, t, attacker, attack, stmt).await;
        if r.outcome == Outcome::Leak {
            return r;
        }
        outcomes.push(r);
    }
    if outcomes.is_empty() {
        return res(Outcome::Skipped, 0, "no statement applies".into());
    }
    let first = |o: Outcome| outcomes.iter().position(|r| r.outcome == o);
    let pick = first(Outcome::Info)
        .or_else(|| first(Outcome::Blocked))
        .unwrap_or(0);
    outcomes.swap_remove(pick)
}

async fn run_statement(
    ctx: &TableCtx<'_>,
    t: &Target<'_>,
    attacker: &Attacker,
    attack: Attack,
    stmt: Statement,
) -> AttackResult {
    let res = table_result(t, attacker, attack);
    let client = ctx.rows.client;
    if let Err(e) = client
        .batch_execute(&format!("SAVEPOINT tg_attack; {}", attacker.become_sql()))
        .await
    {
        let _ = client
            .batch_execute("ROLLBACK TO SAVEPOINT tg_attack; RELEASE SAVEPOINT tg_attack")
            .await;
        return res(
            Outcome::Error,
            0,
            format!("could not become {}: {}", attacker.role, db_message(&e)),
        );
    }
    let b_total = t.b_total;
    let outcome = match stmt {
        Statement::Count { sql, query } => {
            let n = if query {
                client
                    .query_one(&sql, &[])
                    .await
                    .map(|r| r.get::<_, i64>(0) as u64)
            } else {
                client.execute(&sql, &[]).await
            };
            match n {
                Ok(0) => res(Outcome::Blocked, 0, zero_detail(attack)),
                Ok(n) => res(Outcome::Leak, n, leak_detail(attack, n, b_total)),
                Err(e) => {
                    let (o, d) = classify(&e);
                    res(o, 0, d)
                }
            }
        }
        Statement::Succeeds { sql } => match client.execute(&sql, &[]).await {
            Ok(n) if n > 0 => res(Outcome::Leak, n, "inserted a row for B".into()),
            Ok(_) => res(Outcome::Blocked, 0, "no row inserted".into()),
            Err(e) => {
                let (o, d) = classify(&e);
                res(o, 0, d)
            }
        },
        Statement::UniqueOracle { sql } => match client.execute(&sql, &[]).await {
            Ok(_) => res(
                Outcome::Blocked,
                0,
                "no unique violation: B's key does not collide with a row of A".into(),
            ),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => res(
                Outcome::Info,
                1,
                format!(
                    "a unique violation reveals that B's key exists: {}",
                    db_message(&e)
                ),
            ),
            Err(e) => {
                let (o, d) = classify(&e);
                res(o, 0, d)
            }
        },
        Statement::MovedIntoB { sql, count_b } => {
            match execute_asking_rls_alone(client, &sql, attacker).await {
                (Ok(_), note) => {
                    let after = match client.batch_execute("RESET ROLE").await {
                        Ok(()) => client.query_one(&count_b, &[]).await,
                        Err(e) => Err(e),
                    };
                    match after {
                        Ok(row) => {
                            let moved = (row.get::<_, i64>(0) as u64).saturating_sub(b_total);
                            if moved == 0 {
                                res(
                                    Outcome::Blocked,
                                    0,
                                    format!("none of A's rows moved into B{note}"),
                                )
                            } else {
                                res(
                                    Outcome::Leak,
                                    moved,
                                    format!("moved {moved} of A's row(s) into B{note}"),
                                )
                            }
                        }
                        Err(e) => res(
                            Outcome::Error,
                            0,
                            format!("counting B's rows afterwards: {}", db_message(&e)),
                        ),
                    }
                }
                (Err(e), _) => {
                    let (o, d) = classify(&e);
                    res(o, 0, d)
                }
            }
        }
        Statement::BRowsChanged { sql } => {
            let (run, note) = execute_asking_rls_alone(client, &sql, attacker).await;
            match run {
                Ok(_) => match b_rows_left(client, t).await {
                    Ok(left) => {
                        let changed = t.b_rows.len() as u64 - left;
                        if changed == 0 {
                            res(
                                Outcome::Blocked,
                                0,
                                format!("none of B's rows changed{note}"),
                            )
                        } else {
                            res(
                                Outcome::Leak,
                                changed,
                                format!("{}{note}", leak_detail(attack, changed, b_total)),
                            )
                        }
                    }
                    Err(e) => res(
                        Outcome::Error,
                        0,
                        format!("counting B's rows afterwards: {e}"),
                    ),
                },
                Err(e) => {
                    let (o, d) = classify(&e);
                    res(o, 0, d)
                }
            }
        }
    };
    let _ = client
        .batch_execute("ROLLBACK TO SAVEPOINT tg_attack; RELEASE SAVEPOINT tg_attack")
        .await;
    outcome
}

/// Runs a whole-table write. Such a statement fails on the first row of another table that
/// references a row it touches (ON DELETE / ON UPDATE NO ACTION or RESTRICT), which hides
/// whether RLS let it through. Then ask RLS alone: run it again with foreign-key triggers off
/// (`session_replication_role = replica`, set by the auditing role before becoming the
/// attacker), still inside the savepoint that is rolled back. The note says so.
async fn execute_asking_rls_alone(
    client: &Client,
    sql: &str,
    attacker: &Attacker,
) -> (Result<u64, tokio_postgres::Error>, &'static str) {
    let run = client.execute(sql, &[]).await;
    if !run
        .as_ref()
        .is_err_and(|e| e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION))
    {
        return (run, "");
    }
    let retry = format!(
        "ROLLBACK TO SAVEPOINT tg_attack; SET LOCAL session_replication_role = replica; {}",
        attacker.become_sql()
    );
    if client.batch_execute(&retry).await.is_err() {
        return (run, "");
    }
    (
        client.execute(sql, &[]).await,
        " (measured with foreign-key checks off: rows of other tables that reference them made the whole statement fail, but the policy lets it reach them)",
    )
}

/// How many of B's tracked rows are still where they were (as the auditing role).
async fn b_rows_left(client: &Client, t: &Target<'_>) -> Result<u64, String> {
    let tids: Vec<&str> = t.b_rows.iter().map(|(_, x)| x.as_str()).collect();
    // Back to the auditing role (still inside the attack's savepoint) to see what changed.
    client
        .batch_execute("RESET ROLE")
        .await
        .map_err(|e| db_message(&e))?;
    let rows = client
        .query(
            &format!(
                "SELECT tableoid::oid, ctid::text FROM {} WHERE ctid = ANY($1::text[]::tid[])",
                t.name.sql()
            ),
            &[&tids],
        )
        .await
        .map_err(|e| db_message(&e))?;
    let present: std::collections::HashSet<(u32, String)> =
        rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    Ok(t.b_rows.iter().filter(|r| present.contains(r)).count() as u64)
}

fn zero_detail(attack: Attack) -> String {
    match attack {
        Attack::Read => "none of B's rows visible".into(),
        Attack::Move => "A's row was not moved (not visible to the attacker, or filtered)".into(),
        _ => "no row of B affected".into(),
    }
}

fn leak_detail(attack: Attack, n: u64, total: u64) -> String {
    match attack {
        Attack::Read => format!("read {n} of B's {total} row(s)"),
        Attack::ReadReturning => format!("{n} of B's row(s) read back through RETURNING"),
        Attack::Update => format!("updated {n} of B's {total} row(s)"),
        Attack::UpdateAll => format!(
            "an UPDATE without WHERE changed {n} of B's {total} row(s) (no SELECT policy applies)"
        ),
        Attack::Move => "moved one of A's rows into B".into(),
        Attack::Delete => format!("deleted {n} of B's {total} row(s)"),
        Attack::DeleteAll => format!(
            "a DELETE without WHERE removed {n} of B's {total} row(s) (no SELECT policy applies)"
        ),
        Attack::Upsert => "INSERT … ON CONFLICT DO UPDATE overwrote B's row".into(),
        _ => format!("{n} row(s)"),
    }
}
