//! The positive control: before attacking B, tenant A reads, inserts, updates and deletes its
//! OWN rows of every tenant table (a row seeded for A inside the rolled-back transaction). A
//! proof where A cannot even reach its own rows says nothing about B's: the attacker's claims
//! are probably wrong, and "0 leaks" would be a false comfort.

use serde::{Deserialize, Serialize};
use tenantguard_access::Command;
use tenantguard_catalog::{quote_ident, Relation};
use tenantguard_tenant_model::Tenancy;
use tokio_postgres::error::SqlState;

use crate::attacks::TableCtx;
use crate::rows::{db_message, insert_sql};
use crate::{literal, Attacker};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnOutcome {
    /// A reached its own row.
    Ok,
    /// RLS or a missing privilege kept A from its own row.
    Denied,
    /// Any other error (shown).
    Error,
    /// Not run (`detail` says why).
    Skipped,
}

impl OwnOutcome {
    pub fn name(self) -> &'static str {
        match self {
            OwnOutcome::Ok => "ok",
            OwnOutcome::Denied => "denied",
            OwnOutcome::Error => "error",
            OwnOutcome::Skipped => "skipped",
        }
    }
}

/// One legitimate access of A to its own rows: `{"table","role","command","outcome","detail"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnAccess {
    pub table: String,
    /// The attacker's label (only attackers acting for A are tried).
    pub role: String,
    pub command: Command,
    pub outcome: OwnOutcome,
    pub detail: String,
}

/// Every [`OwnAccess`] of a run, in table order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnAccessMatrix {
    pub entries: Vec<OwnAccess>,
}

impl OwnAccessMatrix {
    /// The outcome of one cell, if it was tried.
    pub fn get(&self, table: &str, role: &str, command: Command) -> Option<OwnOutcome> {
        self.entries
            .iter()
            .find(|e| e.table == table && e.role == role && e.command == command)
            .map(|e| e.outcome)
    }

    /// Cells that were `ok` here and are not in `after` (e.g. a fix phase took A's own access
    /// away): `(before, after)`; a cell missing afterwards is reported with `after` = None.
    pub fn lost_in<'a>(
        &'a self,
        after: &'a OwnAccessMatrix,
    ) -> Vec<(&'a OwnAccess, Option<&'a OwnAccess>)> {
        self.entries
            .iter()
            .filter(|e| e.outcome == OwnOutcome::Ok)
            .filter_map(|e| {
                let now = after
                    .entries
                    .iter()
                    .find(|x| x.table == e.table && x.role == e.role && x.command == e.command);
                match now {
                    Some(n) if n.outcome == OwnOutcome::Ok => None,
                    other => Some((e, other)),
                }
            })
            .collect()
    }

    /// A read at least one of its own rows somewhere (or nothing was tried).
    pub fn reads_own_rows(&self) -> bool {
        let reads: Vec<&OwnAccess> = self
            .entries
            .iter()
            .filter(|e| e.command == Command::Select && e.outcome != OwnOutcome::Skipped)
            .collect();
        reads.is_empty() || reads.iter().any(|e| e.outcome == OwnOutcome::Ok)
    }
}

/// The note `prove` gives when A could read none of its own rows.
pub fn suspect_claims_note(matrix: &OwnAccessMatrix) -> Option<String> {
    if matrix.reads_own_rows() {
        return None;
    }
    Some("tenant A could not read its own rows in any table: the claims the proof gives A are probably wrong (not the ones the application's JWTs carry), so blocked attacks prove nothing here — set [prove] claims in tenantguard.toml".into())
}

fn entry(
    rel: &Relation,
    attacker: &Attacker,
    command: Command,
    outcome: OwnOutcome,
    detail: impl Into<String>,
) -> OwnAccess {
    OwnAccess {
        table: rel.qualified_name().to_string(),
        role: attacker.label.clone(),
        command,
        outcome,
        detail: detail.into(),
    }
}

/// Every command skipped for every attacker of A, with the reason.
pub(crate) fn skipped_all(ctx: &TableCtx<'_>, rel: &Relation, why: &str) -> Vec<OwnAccess> {
    ctx.attackers
        .iter()
        .filter(|a| a.has_tenant)
        .flat_map(|a| {
            Command::ALL
                .into_iter()
                .map(move |c| entry(rel, a, c, OwnOutcome::Skipped, why))
        })
        .collect()
}

/// A's own-row probes on one table, inside the caller's transaction (after the tenants and
/// memberships are seeded); everything they do is undone by a savepoint.
pub(crate) async fn own_probes(ctx: &TableCtx<'_>, rel: &Relation) -> Vec<OwnAccess> {
    // A partition's rows are the tenant's through its parent (probed on its own); reaching a
    // partition directly goes around the parent's policies, so it is an attack path (probed as
    // one), never legitimate access that a fix must keep.
    if !ctx.attackers.iter().any(|a| a.has_tenant) || rel.is_partition {
        return vec![];
    }
    let client = ctx.rows.client;
    let name = rel.qualified_name();
    let Some(tenancy) = ctx.rows.tenancy(&name).cloned() else {
        return vec![];
    };
    if matches!(tenancy, Tenancy::Global { .. }) {
        return vec![];
    }
    let a = &ctx.pair.attacker;
    if client.batch_execute("SAVEPOINT tg_own").await.is_err() {
        return skipped_all(ctx, rel, "could not start a savepoint");
    }
    let is_root = matches!(tenancy, Tenancy::Root);
    let read_only = ctx.settings.read_only;
    // A's row: one seeded for the probes (nothing references it, so a delete is not refused
    // by another table's foreign key), else an existing one.
    let mut seed_error = None;
    let mut row = None;
    if !read_only && !is_root {
        match ctx.rows.seed(&name, a, 0).await {
            Ok(r) => row = Some(r),
            Err(e) => seed_error = Some(e),
        }
        if row.is_none() {
            let _ = client
                .batch_execute("ROLLBACK TO SAVEPOINT tg_own; SAVEPOINT tg_own")
                .await;
        }
    }
    if row.is_none() {
        if let Some(pred) = ctx.rows.tenant_predicate(&name, "t", a, 0) {
            let sql = format!(
                "SELECT tableoid::oid, ctid::text FROM {} t WHERE {pred} LIMIT 1",
                name.sql()
            );
            if let Ok(rows) = client.query(&sql, &[]).await {
                row = rows.first().map(|r| (r.get(0), r.get(1)));
            }
        }
    }
    let insert_row = if read_only || is_root {
        None
    } else {
        let _ = client.batch_execute("SAVEPOINT tg_own_row").await;
        match ctx.rows.row_for(&name, a, 0).await {
            Ok(r) => {
                let _ = client.batch_execute("RELEASE SAVEPOINT tg_own_row").await;
                Some(Ok(r))
            }
            Err(e) => {
                let _ = client
                    .batch_execute("ROLLBACK TO SAVEPOINT tg_own_row; RELEASE SAVEPOINT tg_own_row")
                    .await;
                Some(Err(e))
            }
        }
    };
    let meta = ctx
        .rows
        .meta
        .get(&rel.oid)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    // `SET c = c`: what the application writes back, and a no-op for every constraint.
    let set_column = match &tenancy {
        Tenancy::Direct { column, .. } => Some(column.clone()),
        _ => meta
            .iter()
            .find(|m| !m.generated && !m.identity_always)
            .map(|m| m.name.clone()),
    };
    let mut out = vec![];
    for attacker in ctx.attackers.iter().filter(|x| x.has_tenant) {
        for command in Command::ALL {
            let res = |o: OwnOutcome, d: String| entry(rel, attacker, command, o, d);
            let where_row = row
                .as_ref()
                .map(|(oid, tid)| format!("tableoid = {oid} AND ctid = {}::tid", literal(tid)));
            let no_row = || {
                format!(
                    "A has no row here{}",
                    seed_error
                        .as_ref()
                        .map(|e| format!(", and none could be seeded: {e}"))
                        .unwrap_or_default()
                )
            };
            let stmt: Result<(String, bool), String> = match command {
                Command::Select => where_row
                    .as_ref()
                    .map(|w| {
                        (
                            format!("SELECT count(*) FROM {} WHERE {w}", name.sql()),
                            true,
                        )
                    })
                    .ok_or_else(no_row),
                _ if read_only => Err("--read-only: only reads are tried".into()),
                Command::Insert => match &insert_row {
                    None => Err("the root's rows are the tenants themselves".into()),
                    Some(Err(e)) => Err(format!("no row for A can be built: {e}")),
                    Some(Ok(values)) => Ok((insert_sql(&name, values), false)),
                },
                Command::Update => match (&where_row, &set_column) {
                    (Some(w), Some(c)) => Ok((
                        format!(
                            "UPDATE {} SET {c} = {c} WHERE {w}",
                            name.sql(),
                            c = quote_ident(c)
                        ),
                        false,
                    )),
                    (None, _) => Err(no_row()),
                    (_, None) => Err("no column to update".into()),
                },
                Command::Delete if is_root => {
                    Err("deleting A's own tenant is not an everyday access".into())
                }
                Command::Delete => where_row
                    .as_ref()
                    .map(|w| (format!("DELETE FROM {} WHERE {w}", name.sql()), false))
                    .ok_or_else(no_row),
            };
            let (sql, query) = match stmt {
                Ok(s) => s,
                Err(why) => {
                    out.push(res(OwnOutcome::Skipped, why));
                    continue;
                }
            };
            if let Err(e) = client
                .batch_execute(&format!("SAVEPOINT tg_attack; {}", attacker.become_sql()))
                .await
            {
                let _ = client
                    .batch_execute("ROLLBACK TO SAVEPOINT tg_attack; RELEASE SAVEPOINT tg_attack")
                    .await;
                out.push(res(
                    OwnOutcome::Error,
                    format!("could not become {}: {}", attacker.role, db_message(&e)),
                ));
                continue;
            }
            let n = if query {
                client
                    .query_one(&sql, &[])
                    .await
                    .map(|r| r.get::<_, i64>(0) as u64)
            } else {
                client.execute(&sql, &[]).await
            };
            let verb = match command {
                Command::Select => "read",
                Command::Insert => "inserted",
                Command::Update => "updated",
                Command::Delete => "deleted",
            };
            out.push(match n {
                Ok(0) if command == Command::Select => {
                    res(OwnOutcome::Denied, "A's own row is not visible to A".into())
                }
                Ok(0) => res(
                    OwnOutcome::Denied,
                    format!("no row {verb}: A's own row is filtered out"),
                ),
                Ok(_) => res(OwnOutcome::Ok, format!("{verb} A's own row")),
                Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                    res(OwnOutcome::Denied, format!("denied: {}", db_message(&e)))
                }
                Err(e) if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => res(
                    OwnOutcome::Ok,
                    format!(
                        "RLS let it through; a foreign key refused it: {}",
                        db_message(&e)
                    ),
                ),
                Err(e) => res(OwnOutcome::Error, db_message(&e)),
            });
            let _ = client
                .batch_execute("ROLLBACK TO SAVEPOINT tg_attack; RELEASE SAVEPOINT tg_attack")
                .await;
        }
    }
    let _ = client
        .batch_execute("ROLLBACK TO SAVEPOINT tg_own; RELEASE SAVEPOINT tg_own")
        .await;
    out
}
