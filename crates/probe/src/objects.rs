//! Attacks through other objects: reads through views and materialized views over tenant
//! tables, and calls of SECURITY DEFINER functions exposed to the attackers.

use tenantguard_catalog::{quote_ident, Function, QualifiedName, Relation, RelationKind};
use tokio_postgres::error::SqlState;

use crate::attacker::Attacker;
use crate::attacks::{begin, seed_tenants, TableCtx};
use crate::rows::db_message;
use crate::{literal, Attack, AttackResult, ObjectKind, Outcome};
use tenantguard_tenant_model::Tenancy;

fn kind_of(rel: &Relation) -> ObjectKind {
    match rel.kind {
        RelationKind::MaterializedView => ObjectKind::MaterializedView,
        _ => ObjectKind::View,
    }
}

fn denied_or_error(e: &tokio_postgres::Error) -> (Outcome, String) {
    if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
        (Outcome::Blocked, format!("denied: {}", db_message(e)))
    } else {
        (Outcome::Error, db_message(e))
    }
}

/// A function's own refusal: `RAISE EXCEPTION` (SQLSTATE P0001) is how a SECURITY DEFINER
/// function says "not your tenant" — a denial, not an error.
fn call_refused(e: &tokio_postgres::Error) -> (Outcome, String) {
    if e.code() == Some(&SqlState::RAISE_EXCEPTION) {
        (
            Outcome::Blocked,
            format!("the function refused B's id: {}", db_message(e)),
        )
    } else {
        denied_or_error(e)
    }
}

/// Reads B's rows through a view (or materialized view) that exposes the tenant key `key`.
/// When B has no rows in the view (a database with no rows, or a made-up B), one row of B is
/// seeded in each tenant table the view's definition names, inside the rolled-back transaction.
pub async fn attack_view(ctx: &TableCtx<'_>, view: &Relation, key: &str) -> Vec<AttackResult> {
    let (client, pair, attackers, settings) =
        (ctx.rows.client, ctx.pair, ctx.attackers, ctx.settings);
    let name = view.qualified_name();
    let res = |role: &str, outcome, rows, detail: String| AttackResult {
        table: name.to_string(),
        kind: kind_of(view),
        role: role.to_string(),
        attack: Attack::Read,
        outcome,
        rows,
        detail,
    };
    let count_sql = format!(
        "SELECT count(*) FROM {} WHERE {}::text = {}",
        name.sql(),
        quote_ident(key),
        literal(&pair.victim)
    );
    // Read-write only to seed; read-only again before any attacker reads (PostgreSQL lets a
    // transaction turn read-only at any point, never back).
    if let Err(e) = begin(client, settings, settings.read_only).await {
        return attackers
            .iter()
            .map(|a| {
                res(
                    &a.label,
                    Outcome::Skipped,
                    0,
                    format!("could not start a transaction: {e}"),
                )
            })
            .collect();
    }
    let count = || async {
        client
            .query_one(&count_sql, &[])
            .await
            .map(|r| r.get::<_, i64>(0) as u64)
    };
    let mut total = count().await;
    if matches!(total, Ok(0)) && !settings.read_only {
        if let (Ok(()), Some(definition)) = (seed_tenants(ctx).await, &view.view_definition) {
            if seed_named_tables(ctx, definition).await > 0 {
                total = count().await;
            }
        }
    }
    if let Err(e) = client
        .batch_execute("SET LOCAL transaction_read_only = on")
        .await
    {
        total = Err(e);
    }
    let mut out = vec![];
    for attacker in attackers {
        let r = match &total {
            Err(e) => res(
                &attacker.label,
                Outcome::Skipped,
                0,
                format!("counting B's rows in the view: {}", db_message(e)),
            ),
            Ok(0) => res(
                &attacker.label,
                Outcome::Skipped,
                0,
                if settings.read_only {
                    "B has no rows in this view (--read-only seeds none)".into()
                } else {
                    "B has no rows in this view, and none could be seeded in the tables it reads"
                        .into()
                },
            ),
            Ok(total) => {
                let became = client
                    .batch_execute(&format!("SAVEPOINT tg_attack; {}", attacker.become_sql()))
                    .await;
                let r = match became {
                    Err(e) => res(
                        &attacker.label,
                        Outcome::Error,
                        0,
                        format!("could not become {}: {}", attacker.role, db_message(&e)),
                    ),
                    Ok(()) => match client.query_one(&count_sql, &[]).await {
                        Ok(row) => match row.get::<_, i64>(0) as u64 {
                            0 => res(
                                &attacker.label,
                                Outcome::Blocked,
                                0,
                                "none of B's rows visible through the view".into(),
                            ),
                            n => res(
                                &attacker.label,
                                Outcome::Leak,
                                n,
                                format!("read {n} of B's {total} row(s) through the view"),
                            ),
                        },
                        Err(e) => {
                            let (o, d) = denied_or_error(&e);
                            res(&attacker.label, o, 0, d)
                        }
                    },
                };
                let _ = client
                    .batch_execute("ROLLBACK TO SAVEPOINT tg_attack; RELEASE SAVEPOINT tg_attack")
                    .await;
                r
            }
        };
        out.push(r);
    }
    let _ = client.batch_execute("ROLLBACK").await;
    out
}

/// The argument types of a function's identity arguments (`p_org uuid, n integer`).
pub fn argument_types(identity_arguments: &str) -> Vec<String> {
    if identity_arguments.trim().is_empty() {
        return vec![];
    }
    identity_arguments
        .split(", ")
        .map(|arg| {
            let mut words: Vec<&str> = arg.split_whitespace().collect();
            if matches!(words.first(), Some(&("IN" | "INOUT" | "VARIADIC"))) {
                words.remove(0);
            }
            // "name type…" unless the first word is already the type.
            let known_type = |w: &str| {
                matches!(
                    w,
                    "uuid"
                        | "text"
                        | "integer"
                        | "bigint"
                        | "smallint"
                        | "numeric"
                        | "boolean"
                        | "jsonb"
                        | "json"
                        | "date"
                        | "character"
                        | "double"
                        | "real"
                        | "timestamp"
                )
            };
            if words.len() > 1 && !known_type(words[0]) {
                words.remove(0);
            }
            words.join(" ")
        })
        .collect()
}

/// A value of the key type that no tenant has.
fn unknown_id(key_type: &str) -> String {
    match key_type {
        "uuid" => "00000000-0000-4000-8000-00000000dead".into(),
        "integer" | "bigint" | "smallint" | "numeric" => "-987654321".into(),
        _ => "tenantguard-no-such-tenant".into(),
    }
}

/// Calls a SECURITY DEFINER function with B's id and with an id no tenant has: a different
/// answer for B is data about B. Functions whose arguments cannot all be filled with a tenant
/// id are listed as untested.
pub async fn attack_function(
    ctx: &TableCtx<'_>,
    f: &Function,
    key_type: &str,
) -> Vec<AttackResult> {
    let (client, pair, attackers, settings) =
        (ctx.rows.client, ctx.pair, ctx.attackers, ctx.settings);
    let name = QualifiedName::new(&f.schema, &f.name);
    let shown = format!("{}({})", name, f.identity_arguments);
    let res = |role: &str, outcome, rows, detail: String| AttackResult {
        table: shown.clone(),
        kind: ObjectKind::Function,
        role: role.to_string(),
        attack: Attack::Call,
        outcome,
        rows,
        detail,
    };
    let callers: Vec<&Attacker> = attackers
        .iter()
        .filter(|a| {
            f.execute_grantees
                .iter()
                .any(|g| g == "PUBLIC" || g == &a.role)
        })
        .collect();
    let types = argument_types(&f.identity_arguments);
    let untested = |why: String| -> Vec<AttackResult> {
        callers
            .iter()
            .map(|a| res(&a.label, Outcome::Skipped, 0, why.clone()))
            .collect()
    };
    if settings.read_only {
        return untested("--read-only: functions may write, so they are not called".into());
    }
    if types.is_empty() || types.iter().any(|t| t != key_type) {
        return untested(format!(
            "untested: its arguments ({}) cannot all be filled with a tenant id of type {key_type}",
            if f.identity_arguments.is_empty() {
                "none"
            } else {
                &f.identity_arguments
            }
        ));
    }
    if f.result_type == "void" || f.result_type == "trigger" {
        return untested(format!("untested: returns {}", f.result_type));
    }
    let set_returning = f.result_type.starts_with("SETOF ") || f.result_type.starts_with("TABLE(");
    let call = |id: &str| {
        let args: Vec<String> = types
            .iter()
            .map(|t| format!("{}::{t}", literal(id)))
            .collect();
        let call = format!("{}({})", name.sql(), args.join(", "));
        if set_returning {
            format!("SELECT count(*)::text FROM {call}")
        } else {
            format!("SELECT ({call})::text")
        }
    };
    if let Err(e) = begin(client, settings, false).await {
        return untested(format!("could not start a transaction: {e}"));
    }
    // A made-up B has no rows for an answer to reveal: give it one in each tenant table the
    // function's body names (inside the transaction, rolled back with it).
    if pair.synthesized.contains(&pair.victim) {
        let seeded = match seed_tenants(ctx).await {
            Ok(()) => seed_named_tables(ctx, &f.body).await,
            Err(_) => 0,
        };
        if seeded == 0 {
            let _ = client.batch_execute("ROLLBACK").await;
            return untested(
                "untested: tenant B was made up, and no row of B could be made in a table the \
                 function reads, so no answer could reveal any"
                    .into(),
            );
        }
    }
    let unknown = unknown_id(key_type);
    let mut out = vec![];
    for attacker in callers {
        let became = client
            .batch_execute(&format!("SAVEPOINT tg_attack; {}", attacker.become_sql()))
            .await;
        let r = match became {
            Err(e) => res(
                &attacker.label,
                Outcome::Error,
                0,
                format!("could not become {}: {}", attacker.role, db_message(&e)),
            ),
            Ok(()) => {
                let both = match client.query_one(&call(&pair.victim), &[]).await {
                    Ok(b) => client.query_one(&call(&unknown), &[]).await.map(|u| (b, u)),
                    Err(e) => Err(e),
                };
                match both {
                    Err(e) => {
                        let (o, d) = call_refused(&e);
                        res(&attacker.label, o, 0, d)
                    }
                    Ok((b, u)) => {
                        let (vb, vu): (Option<String>, Option<String>) = (b.get(0), u.get(0));
                        if vb == vu {
                            res(
                                &attacker.label,
                                Outcome::Blocked,
                                0,
                                format!(
                                    "same answer for B as for a tenant that does not exist ({})",
                                    vb.as_deref().unwrap_or("NULL")
                                ),
                            )
                        } else if set_returning {
                            let n = vb
                                .as_deref()
                                .and_then(|v| v.parse::<u64>().ok())
                                .unwrap_or(0);
                            let m = vu
                                .as_deref()
                                .and_then(|v| v.parse::<u64>().ok())
                                .unwrap_or(0);
                            res(&attacker.label, Outcome::Leak, n.saturating_sub(m).max(1), format!("returned {n} row(s) for B, {m} for a tenant that does not exist"))
                        } else {
                            res(
                                &attacker.label,
                                Outcome::Leak,
                                1,
                                format!(
                                    "returned {:?} for B, {:?} for a tenant that does not exist",
                                    vb.as_deref().unwrap_or("NULL"),
                                    vu.as_deref().unwrap_or("NULL")
                                ),
                            )
                        }
                    }
                }
            }
        };
        let _ = client
            .batch_execute("ROLLBACK TO SAVEPOINT tg_attack; RELEASE SAVEPOINT tg_attack")
            .await;
        out.push(r);
    }
    let _ = client.batch_execute("ROLLBACK").await;
    out
}

/// Whether `body` names `table` as an identifier (`tasks`, `public.tasks`, `"tasks"`), not as
/// part of a longer one (`tasks_done`). A filter for what to seed, not a claim about the body.
fn names_table(body: &str, table: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    body.match_indices(table).any(|(i, _)| {
        let before = body[..i].chars().next_back();
        let after = body[i + table.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// Seeds one row of B in every tenant table the function body names (each under a savepoint,
/// a table that cannot be seeded is left out); how many were seeded.
async fn seed_named_tables(ctx: &TableCtx<'_>, body: &str) -> usize {
    let client = ctx.rows.client;
    let body = body.to_lowercase();
    let mut seeded = 0;
    for (table, tenancy) in &ctx.rows.model.tables {
        if !matches!(tenancy, Tenancy::Direct { .. } | Tenancy::Indirect { .. })
            || !names_table(&body, &table.name.to_lowercase())
        {
            continue;
        }
        if client.batch_execute("SAVEPOINT tg_fn_seed").await.is_err() {
            break;
        }
        let ok = ctx.rows.seed(table, &ctx.pair.victim, 0).await.is_ok();
        let _ = client
            .batch_execute(if ok {
                "RELEASE SAVEPOINT tg_fn_seed"
            } else {
                "ROLLBACK TO SAVEPOINT tg_fn_seed; RELEASE SAVEPOINT tg_fn_seed"
            })
            .await;
        seeded += usize::from(ok);
    }
    seeded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_types_drop_names_and_modes() {
        assert_eq!(argument_types("p_org uuid"), ["uuid"]);
        assert_eq!(argument_types("uuid, integer"), ["uuid", "integer"]);
        assert_eq!(argument_types("VARIADIC ids uuid[]"), ["uuid[]"]);
        assert_eq!(argument_types("n character varying"), ["character varying"]);
        assert!(argument_types("").is_empty());
    }

    #[test]
    fn names_table_as_a_whole_identifier() {
        assert!(names_table("select * from public.tasks where", "tasks"));
        assert!(names_table("from \"tasks\" t", "tasks"));
        assert!(!names_table("from tasks_done", "tasks"));
        assert!(!names_table("from my_tasks", "tasks"));
    }
}
