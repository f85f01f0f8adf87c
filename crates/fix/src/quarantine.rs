//! No row is lost: rows no tenant can own (NULL tenant key, a tenant that does not exist, a
//! reference into another tenant) are *moved* to `tenantguard_quarantine.<schema>__<table>`
//! (same columns, plus `tg_reason` and `tg_quarantined_at`), together with the rows of other
//! tables that reference them (children first, so no ON DELETE CASCADE can take them and no
//! RESTRICT can stop the move). Each move counts its rows before and checks the count in the
//! same transaction. `restore` puts them back, parents first.

use std::collections::HashSet;

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

struct Move {
    table: QualifiedName,
    /// Predicate on the placeholder alias `{t}`.
    predicate: String,
    reason: String,
}

/// The moves for `table`'s rows matching `cond`, and every row that references them, children
/// first.
fn moves(snapshot: &Snapshot, table: &QualifiedName, cond: &Condition, reason: &str) -> Vec<Move> {
    let mut out = vec![];
    let mut seen = HashSet::new();
    collect(
        snapshot,
        table,
        cond.0.clone(),
        reason,
        0,
        &mut seen,
        &mut out,
    );
    out
}

fn collect(
    snapshot: &Snapshot,
    table: &QualifiedName,
    predicate: String,
    reason: &str,
    depth: usize,
    seen: &mut HashSet<QualifiedName>,
    out: &mut Vec<Move>,
) {
    if !seen.insert(table.clone()) || depth > 6 {
        return;
    }
    // Rows of other tables referencing the rows being moved go first.
    // Partitions carry clones of their parent's foreign keys: the partitioned parent's move
    // covers their rows.
    for child in snapshot.relations.iter().filter(|r| !r.is_partition) {
        for (c, fk) in child.foreign_keys() {
            if &fk.references != table || &child.qualified_name() == table {
                continue;
            }
            let alias = format!("p{depth}");
            let join: Vec<String> = c
                .columns
                .iter()
                .zip(&fk.referenced_columns)
                .map(|(cc, pc)| format!("{alias}.{} = {{t}}.{}", quote_ident(pc), quote_ident(cc)))
                .collect();
            let parent_pred = predicate.replace("{t}", &alias);
            let child_pred = format!(
                "EXISTS (SELECT 1 FROM {} {alias} WHERE {} AND {parent_pred})",
                table.sql(),
                join.join(" AND ")
            );
            collect(
                snapshot,
                &child.qualified_name(),
                child_pred,
                &format!("references a quarantined row of {table} ({reason})"),
                depth + 1,
                seen,
                out,
            );
        }
    }
    out.push(Move {
        table: table.clone(),
        predicate,
        reason: reason.to_string(),
    });
}

/// SQL that moves the rows, checking each count in the same transaction.
pub fn quarantine_sql(
    snapshot: &Snapshot,
    table: &QualifiedName,
    cond: &Condition,
    reason: &str,
) -> String {
    let moves = moves(snapshot, table, cond, reason);
    let mut sql = format!(
        "CREATE SCHEMA IF NOT EXISTS {};\n",
        quote_ident(QUARANTINE_SCHEMA)
    );
    for m in &moves {
        let q = quarantine_table(&m.table);
        sql.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {q} (LIKE {});\n\
             ALTER TABLE {q} ADD COLUMN IF NOT EXISTS tg_reason text, ADD COLUMN IF NOT EXISTS tg_quarantined_at timestamptz;\n",
            m.table.sql()
        ));
    }
    sql.push_str("DO $tg$\nDECLARE expected bigint; moved bigint;\nBEGIN\n");
    for m in &moves {
        let q = quarantine_table(&m.table);
        let t = m.table.sql();
        let reason = m.reason.replace('\'', "''");
        sql.push_str(&format!(
            "  SELECT count(*) INTO expected FROM {t} t WHERE {p};\n\
             \x20 WITH m AS (DELETE FROM {t} t WHERE {p} RETURNING t.*)\n\
             \x20   INSERT INTO {q} SELECT m.*, '{reason}', now() FROM m;\n\
             \x20 GET DIAGNOSTICS moved = ROW_COUNT;\n\
             \x20 IF moved <> expected THEN\n\
             \x20   RAISE EXCEPTION 'tenantguard: % rows of {tl} matched but % were moved; nothing was changed', expected, moved;\n\
             \x20 END IF;\n\
             \x20 RAISE NOTICE 'tenantguard: moved % row(s) of {tl} to {ql}', moved;\n",
            p = m.predicate.replace("{t}", "t"),
            tl = m.table.to_string().replace('\'', "''"),
            ql = q.replace('\'', "''"),
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
