//! No row is lost: rows no tenant can own (NULL tenant key, a tenant that does not exist, a
//! reference into another tenant) are *moved* to `tenantguard_quarantine.<schema>__<table>`
//! (same columns, plus `tg_reason` and `tg_quarantined_at`), together with the rows of other
//! tables that reference them (children first, so no ON DELETE CASCADE can take them and no
//! RESTRICT can stop the move). Each move counts its rows before and checks the count in the
//! same transaction. `restore` puts them back, parents first.

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use tenantguard_catalog::{quote_ident, QualifiedName, Snapshot};
use tokio_postgres::Client;

pub const QUARANTINE_SCHEMA: &str = "tenantguard_quarantine";

/// `tenantguard_quarantine."public__orders"`.
pub fn quarantine_table(t: &QualifiedName) -> String {
    let mut name = format!("{}__{}", t.schema, t.name);
    // Identifiers are cut at 63 bytes; keep it whole-character.
    while name.len() > 63 {
        name.pop();
    }
    format!("{}.{}", quote_ident(QUARANTINE_SCHEMA), quote_ident(&name))
}

/// A row predicate on alias `{t}`, e.g. `{t}.org_id IS NULL`.
pub struct Condition(pub String);

/// A foreign key between two tables of the move: rows of `child` pointing at a moved row of
/// `parent` move too.
struct Edge {
    child: usize,
    parent: usize,
    child_columns: Vec<String>,
    parent_columns: Vec<String>,
}

/// Every table whose rows can reference (directly or through others) a row of `table` — the
/// tables a move may have to follow — and the foreign keys between them, self-references
/// included. Partitions are covered by their partitioned parent.
fn universe(snapshot: &Snapshot, table: &QualifiedName) -> (Vec<QualifiedName>, Vec<Edge>) {
    let mut tables = vec![table.clone()];
    let mut i = 0;
    while i < tables.len() {
        let parent = tables[i].clone();
        for child in snapshot.relations.iter().filter(|r| !r.is_partition) {
            let name = child.qualified_name();
            if child.foreign_keys().any(|(_, fk)| fk.references == parent)
                && !tables.contains(&name)
            {
                tables.push(name);
            }
        }
        i += 1;
    }
    let mut edges = vec![];
    for (ci, name) in tables.iter().enumerate() {
        let Some(rel) = snapshot.relation(name) else {
            continue;
        };
        for (c, fk) in rel.foreign_keys() {
            if let Some(pi) = tables.iter().position(|t| t == &fk.references) {
                edges.push(Edge {
                    child: ci,
                    parent: pi,
                    child_columns: c.columns.clone(),
                    parent_columns: fk.referenced_columns.clone(),
                });
            }
        }
    }
    (tables, edges)
}

/// Children before parents (self-references ignored; a cycle between tables keeps its tables
/// in discovery order, and PostgreSQL refuses the step if it cannot be deleted that way).
fn delete_order(n: usize, edges: &[Edge]) -> Vec<usize> {
    let mut order = vec![];
    let mut placed = vec![false; n];
    while order.len() < n {
        let ready = (0..n).find(|&t| {
            !placed[t]
                && edges
                    .iter()
                    .filter(|e| e.parent == t && e.child != t)
                    .all(|e| placed[e.child])
        });
        let t = ready.unwrap_or_else(|| (0..n).find(|&t| !placed[t]).unwrap_or(0));
        placed[t] = true;
        order.push(t);
    }
    order
}

/// SQL that moves the rows matching `cond`, and every row that references them through any
/// foreign key (to a fixed point), to quarantine — in one transaction:
/// 1. mark the rows by (tableoid, ctid), locking them (`FOR UPDATE`): a concurrent insert of a
///    child pointing at a marked row waits and then fails its own FK check, instead of being
///    removed by a cascade unseen;
/// 2. copy every marked row to its quarantine table;
/// 3. delete them children first, checking that each table deleted exactly what was copied —
///    an ON DELETE CASCADE can then only reach rows already copied.
pub fn quarantine_sql(
    snapshot: &Snapshot,
    table: &QualifiedName,
    cond: &Condition,
    reason: &str,
) -> String {
    let (tables, edges) = universe(snapshot, table);
    let mark = |i: usize| format!("pg_temp.tg_mark_{i}");
    let in_mark = |alias: &str, i: usize| {
        format!(
            "{alias}.ctid = ANY (ARRAY(SELECT m.t FROM {m} m)) AND ({alias}.tableoid, {alias}.ctid) IN (SELECT m.o, m.t FROM {m} m)",
            m = mark(i)
        )
    };
    let mut sql = format!(
        "CREATE SCHEMA IF NOT EXISTS {};\n",
        quote_ident(QUARANTINE_SCHEMA)
    );
    for t in &tables {
        let q = quarantine_table(t);
        sql.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {q} (LIKE {});\n\
             ALTER TABLE {q} ADD COLUMN IF NOT EXISTS tg_reason text, ADD COLUMN IF NOT EXISTS tg_quarantined_at timestamptz;\n",
            t.sql()
        ));
    }
    sql.push_str(
        "DO $tg$\nDECLARE found bigint; n bigint; copied bigint; deleted bigint;\nBEGIN\n",
    );
    for i in 0..tables.len() {
        sql.push_str(&format!(
            "  DROP TABLE IF EXISTS {m};\n  CREATE TEMP TABLE {m} (o oid, t tid) ON COMMIT DROP;\n",
            m = mark(i)
        ));
    }
    sql.push_str(&format!(
        "  INSERT INTO {} SELECT t.tableoid, t.ctid FROM {} t WHERE {} FOR UPDATE OF t;\n",
        mark(0),
        table.sql(),
        cond.0.replace("{t}", "t")
    ));
    if !edges.is_empty() {
        sql.push_str("  LOOP\n    found := 0;\n");
        for e in &edges {
            let join: Vec<String> = e
                .child_columns
                .iter()
                .zip(&e.parent_columns)
                .map(|(c, p)| format!("p.{} = c.{}", quote_ident(p), quote_ident(c)))
                .collect();
            sql.push_str(&format!(
                "    INSERT INTO {cm} SELECT c.tableoid, c.ctid FROM {ct} c\n      WHERE EXISTS (SELECT 1 FROM {pt} p WHERE {pin} AND {join})\n        AND NOT (({cin}))\n      FOR UPDATE OF c;\n    GET DIAGNOSTICS n = ROW_COUNT; found := found + n;\n",
                cm = mark(e.child),
                ct = tables[e.child].sql(),
                pt = tables[e.parent].sql(),
                pin = in_mark("p", e.parent),
                cin = in_mark("c", e.child),
                join = join.join(" AND "),
            ));
        }
        sql.push_str("    EXIT WHEN found = 0;\n  END LOOP;\n");
    }
    for (i, t) in tables.iter().enumerate() {
        let why = if i == 0 {
            reason.to_string()
        } else {
            format!("references a quarantined row ({reason})")
        };
        let why = why.replace('\'', "''");
        sql.push_str(&format!(
            "  INSERT INTO {q} SELECT t.*, '{why}', now() FROM {tt} t WHERE {m};\n",
            q = quarantine_table(t),
            tt = t.sql(),
            m = in_mark("t", i),
        ));
    }
    for i in delete_order(tables.len(), &edges) {
        let t = &tables[i];
        let tl = t.to_string().replace('\'', "''");
        sql.push_str(&format!(
            "  SELECT count(*) INTO copied FROM {mk};\n\
             \x20 DELETE FROM {tt} t WHERE {m};\n\
             \x20 GET DIAGNOSTICS deleted = ROW_COUNT;\n\
             \x20 IF deleted <> copied THEN\n\
             \x20   RAISE EXCEPTION 'tenantguard: % rows of {tl} were copied to quarantine but % deleted; nothing was changed', copied, deleted;\n\
             \x20 END IF;\n\
             \x20 IF deleted > 0 THEN RAISE NOTICE 'tenantguard: moved % row(s) of {tl} to quarantine', deleted; END IF;\n",
            mk = mark(i),
            tt = t.sql(),
            m = in_mark("t", i),
        ));
    }
    sql.push_str("END\n$tg$;");
    sql
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RestoreReport {
    /// (quarantine table, rows put back)
    pub restored: Vec<(String, u64)>,
    pub failed: Vec<(String, String)>,
}

/// Puts quarantined rows back into their tables, parents before children (the reverse of the
/// order they were moved in), each table in its own transaction.
pub async fn restore(client: &Client, snapshot: &Snapshot) -> Result<RestoreReport> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 1",
            &[&QUARANTINE_SCHEMA],
        )
        .await
        .context("listing quarantine tables")?;
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    // Map back to the original table; order parents first by foreign keys.
    let mut tables: Vec<&tenantguard_catalog::Relation> = snapshot
        .relations
        .iter()
        .filter(|r| names.contains(&quarantine_name(&r.qualified_name())))
        .collect();
    tables.sort_by_key(|r| depth_of(snapshot, &r.qualified_name(), 0));
    let mut report = RestoreReport::default();
    for rel in tables {
        let t = rel.qualified_name();
        let q = quarantine_table(&t);
        let generated: Vec<String> = client
            .query(
                "SELECT attname::text FROM pg_attribute WHERE attrelid = $1::regclass AND attgenerated <> ''",
                &[&t.sql()],
            )
            .await
            .map(|rows| rows.iter().map(|r| r.get(0)).collect())
            .unwrap_or_default();
        let cols: Vec<String> = rel
            .columns
            .iter()
            .filter(|c| !generated.contains(&c.name))
            .map(|c| quote_ident(&c.name))
            .collect();
        let sql = format!(
            "BEGIN; SET LOCAL lock_timeout = '5s';\n\
             INSERT INTO {} ({c}) OVERRIDING SYSTEM VALUE SELECT {c} FROM {q};\n\
             DELETE FROM {q};\nCOMMIT;",
            t.sql(),
            c = cols.join(", ")
        );
        let count: i64 = client
            .query_one(&format!("SELECT count(*) FROM {q}"), &[])
            .await
            .map(|r| r.get(0))
            .unwrap_or(0);
        match client.batch_execute(&sql).await {
            Ok(()) => report.restored.push((q, count as u64)),
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                let msg = e
                    .as_db_error()
                    .map(|d| d.message().to_string())
                    .unwrap_or_else(|| e.to_string());
                report.failed.push((q, msg));
            }
        }
    }
    Ok(report)
}

fn quarantine_name(t: &QualifiedName) -> String {
    let mut name = format!("{}__{}", t.schema, t.name);
    while name.len() > 63 {
        name.pop();
    }
    name
}

/// How many foreign-key hops above a table its furthest ancestor is (parents restore first).
fn depth_of(snapshot: &Snapshot, t: &QualifiedName, d: usize) -> usize {
    if d > 8 {
        return d;
    }
    snapshot
        .relation(t)
        .map(|r| {
            r.foreign_keys()
                .filter(|(_, fk)| &fk.references != t)
                .map(|(_, fk)| depth_of(snapshot, &fk.references, d + 1))
                .max()
                .unwrap_or(d)
        })
        .unwrap_or(d)
}
