//! The tenant pointer or membership the policies trust can be written by the caller.
//!
//! Policies that find the caller's tenant through a lookup (`org_id = (SELECT org_id FROM
//! profiles WHERE id = auth.uid())`, `EXISTS (… members m WHERE m.org_id = t.org_id AND
//! m.user_id = auth.uid())`) are only as strong as the lookup's rows. When the caller may
//! update their own row of it without a check that pins the tenant column (`FOR UPDATE USING
//! (id = auth.uid())` and no WITH CHECK on `org_id`), or insert a row of their own naming any
//! tenant (`WITH CHECK (user_id = auth.uid())` on a members table), they choose their tenant,
//! and every table that trusts the lookup opens to them.

use std::collections::BTreeMap;

use pg_query::protobuf::node::Node as N;
use serde_json::json;
use tenantguard_access::{parse_expr, Roles};
use tenantguard_catalog::{Policy, PolicyCommand, QualifiedName, Relation};

use crate::rls::security_definer_exposed::body_statements;
use crate::{Context, Finding, ObjectRef, Rule};

/// (lookup table, user column, tenant column) → the tables whose policies trust it.
fn lookups(ctx: &Context) -> BTreeMap<(QualifiedName, String, String), Vec<String>> {
    let mut out: BTreeMap<_, Vec<String>> = BTreeMap::new();
    for p in &ctx.access.policies {
        for o in &p.observations {
            if let tenantguard_access::Observation::TrustedLookup {
                table,
                user_column,
                value_column,
            } = o
            {
                let trusting = out
                    .entry((table.clone(), user_column.clone(), value_column.clone()))
                    .or_default();
                let t = p.table.to_string();
                if !trusting.contains(&t) {
                    trusting.push(t);
                }
            }
        }
    }
    out
}

/// Whether an expression reads `column` (of the row it is checked on).
fn mentions(sql: &str, column: &str) -> bool {
    let Ok(node) = parse_expr(sql) else {
        // Not understood: assume it may pin the column (no finding rather than a false one).
        return true;
    };
    let Some(n) = &node.node else { return false };
    n.nodes().iter().any(|(child, ..)| match child {
        pg_query::NodeRef::ColumnRef(c) => c
            .fields
            .last()
            .and_then(|f| match &f.node {
                Some(N::String(s)) => Some(s.sval == column),
                _ => None,
            })
            .unwrap_or(false),
        _ => false,
    })
}

/// A BEFORE ROW trigger for `event` whose function reads `NEW.column` or `OLD.column`: taken as
/// a guard of that column (it may refuse or reset the change).
fn trigger_guards(ctx: &Context, rel: &Relation, event: &str, column: &str) -> Option<String> {
    rel.triggers
        .iter()
        .filter(|t| t.enabled && t.before && t.for_each_row && t.events.iter().any(|e| e == event))
        .find(|t| {
            ctx.snapshot
                .functions
                .iter()
                .filter(|f| f.schema == t.function.schema && f.name == t.function.name)
                .any(|f| {
                    body_statements(f)
                        .is_none_or(|stmts| stmts.iter().any(|s| reads_new_or_old(s, column)))
                })
        })
        .map(|t| t.name.clone())
}

/// Whether a statement or expression of a trigger body reads `NEW.column` or `OLD.column`.
fn reads_new_or_old(sql: &str, column: &str) -> bool {
    let nodes_of = |parsed: Option<pg_query::protobuf::Node>| -> bool {
        parsed.and_then(|n| n.node).is_some_and(|n| {
            n.nodes().iter().any(|(c, ..)| match c {
                pg_query::NodeRef::ColumnRef(c) => {
                    let f: Vec<String> = c
                        .fields
                        .iter()
                        .filter_map(|f| match &f.node {
                            Some(N::String(s)) => Some(s.sval.to_lowercase()),
                            _ => None,
                        })
                        .collect();
                    matches!(f.as_slice(), [r, c] if (r == "new" || r == "old") && c == column)
                }
                _ => false,
            })
        })
    };
    if let Ok(node) = parse_expr(sql) {
        return nodes_of(Some(node));
    }
    pg_query::parse(sql, pg_query::ParserOptions::DEFAULT)
        .ok()
        .is_some_and(|p| {
            p.protobuf
                .stmts
                .into_iter()
                .any(|s| nodes_of(s.stmt.map(|b| *b)))
        })
}

/// The permissive policies of `role` for `command` that let a row through with `column` free:
/// the side that checks the new row does not read the column at all. Restrictive policies that
/// read it pin it.
fn frees_column<'a>(
    rel: &'a Relation,
    roles: &std::collections::HashSet<String>,
    command: PolicyCommand,
    column: &str,
) -> Option<&'a Policy> {
    let applies = |p: &&Policy| {
        (p.command == command || p.command == PolicyCommand::All)
            && p.roles.iter().any(|r| r == "public" || roles.contains(r))
    };
    let check_of = |p: &Policy| p.with_check.clone().or_else(|| p.using.clone());
    let restricted = rel
        .policies
        .iter()
        .filter(applies)
        .filter(|p| !p.permissive)
        .any(|p| check_of(p).is_none_or(|c| mentions(&c, column)));
    if restricted {
        return None;
    }
    rel.policies
        .iter()
        .filter(applies)
        .filter(|p| p.permissive)
        // UPDATE needs a USING that admits the caller's own row: any USING at all.
        .filter(|p| command != PolicyCommand::Update || p.using.is_some())
        .find(|p| check_of(p).is_some_and(|c| !mentions(&c, column) && c.trim() != "false"))
}

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    let roles = Roles::new(ctx.snapshot);
    let mut out = vec![];
    for ((table, user_column, column), trusting) in lookups(ctx) {
        let Some(rel) = ctx.snapshot.relation(&table) else {
            continue;
        };
        // The user column alone unique (a profile keyed by the user): a second row cannot be
        // inserted, so only UPDATE can repoint it. A members table (unique per tenant and
        // user) takes new rows.
        let one_row_per_user = rel.indexes.iter().any(|i| {
            i.unique
                && !i.partial
                && i.columns.len() == 1
                && i.columns[0].as_deref() == Some(user_column.as_str())
        });
        let mut paths = vec![];
        for role in &ctx.access.roles {
            if roles.bypasses_rls(role) {
                continue;
            }
            let eff = roles.effective(role);
            for (command, privilege, event) in [
                (PolicyCommand::Update, "UPDATE", "update"),
                (PolicyCommand::Insert, "INSERT", "insert"),
            ] {
                if command == PolicyCommand::Insert && one_row_per_user {
                    continue;
                }
                if !roles.has_privilege(rel, role, privilege) {
                    continue;
                }
                let via = if rel.rls_enabled {
                    match frees_column(rel, &eff, command, &column) {
                        Some(p) => format!("policy {:?}", p.name),
                        None => continue,
                    }
                } else {
                    "row level security is off".to_string()
                };
                if trigger_guards(ctx, rel, event, &column).is_some() {
                    continue;
                }
                paths.push(json!({
                    "role": role,
                    "command": privilege.to_lowercase(),
                    "via": via,
                }));
            }
        }
        if paths.is_empty() {
            continue;
        }
        let how: Vec<String> = paths
            .iter()
            .map(|p| {
                format!(
                    "{} can {} {}.{} ({})",
                    p["role"].as_str().unwrap_or_default(),
                    p["command"].as_str().unwrap_or_default(),
                    table,
                    column,
                    p["via"].as_str().unwrap_or_default()
                )
            })
            .collect();
        out.push(rule.finding(
            ObjectRef::table(&table),
            format!(
                "the policies of {} find the caller's tenant in {table}.{column} (the row whose {user_column} is the caller), and the caller can write it: {}; setting it to another tenant's id opens those tables",
                trusting.join(", "),
                how.join("; ")
            ),
            json!({
                "lookup": { "table": table.to_string(), "user_column": user_column, "tenant_column": column },
                "paths": paths,
                "opens": trusting,
            }),
            Some(format!(
                "-- Pin the tenant column in what the caller may write, e.g.:\n\
                 REVOKE UPDATE ON {} FROM anon, authenticated;\n\
                 GRANT UPDATE ({}) ON {} TO authenticated;  -- only the columns users may change\n\
                 -- and make tenant membership changes go through a SECURITY DEFINER function that checks an invitation",
                table.sql(),
                "<editable columns>",
                table.sql()
            )),
        ));
    }
    out
}
