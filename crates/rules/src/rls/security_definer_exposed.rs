use serde_json::json;
use tenantguard_access::{
    caller_guard, owner_bypasses, parse_select, pins_caller, tables_read, Roles,
};
use tenantguard_catalog::{quote_ident, Function, QualifiedName, PLATFORM_SCHEMAS};

use super::tenanted;
use crate::{Context, Finding, ObjectKind, ObjectRef, Rule};

/// The SQL statements of a function body: the body itself for SQL functions; for PL/pgSQL, the
/// queries PostgreSQL's PL/pgSQL parser finds in it.
/// `None` when the body could not be analysed.
pub(crate) fn body_statements(f: &Function) -> Option<Vec<String>> {
    match f.language.as_str() {
        "sql" => Some(vec![f.body.clone()]),
        "plpgsql" => {
            // The PL/pgSQL parser checks RETURN against the declared result: declare the real one.
            let src = format!(
                "CREATE FUNCTION f({}) RETURNS {} LANGUAGE plpgsql AS $tg${}$tg$;",
                f.identity_arguments, f.result_type, f.body
            );
            let json = pg_query::parse_plpgsql(&src).ok()?;
            let mut out = vec![];
            collect_queries(&json, &mut out);
            Some(out)
        }
        _ => None,
    }
}

fn collect_queries(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, val) in m {
                if k == "query" {
                    if let Some(q) = val.as_str() {
                        out.push(q.to_string());
                    }
                }
                collect_queries(val, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_queries(x, out)),
        _ => {}
    }
}

fn tables_of(sql: &str) -> Vec<QualifiedName> {
    // Any statement: wrap SELECTs; other statements are parsed whole.
    if let Ok(sel) = parse_select(sql) {
        let node = pg_query::protobuf::Node {
            node: Some(pg_query::NodeEnum::SelectStmt(Box::new(sel))),
        };
        return tables_read(&node);
    }
    let Ok(parsed) = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT) else {
        return vec![];
    };
    let mut out: Vec<QualifiedName> = parsed
        .protobuf
        .nodes()
        .iter()
        .filter_map(|(n, ..)| match n {
            pg_query::NodeRef::RangeVar(rv) => Some(QualifiedName::new(
                if rv.schemaname.is_empty() {
                    "public"
                } else {
                    &rv.schemaname
                },
                rv.relname.clone(),
            )),
            _ => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Whether a statement (or PL/pgSQL expression) of a body writes nothing.
fn read_only(sql: &str) -> bool {
    if tenantguard_access::parse_expr(sql).is_ok() {
        return true;
    }
    let Ok(parsed) = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT) else {
        return false;
    };
    !parsed.protobuf.nodes().iter().any(|(n, ..)| {
        matches!(
            n,
            pg_query::NodeRef::InsertStmt(_)
                | pg_query::NodeRef::UpdateStmt(_)
                | pg_query::NodeRef::DeleteStmt(_)
                | pg_query::NodeRef::MergeStmt(_)
        )
    })
}

/// A read-only SQL function returning one id-typed value that is the tenant key or the
/// primary key of the table it reads: what it hands out is an identifier, not tenant data.
fn returns_one_id(ctx: &Context, f: &Function, statements: &[String]) -> bool {
    if f.language != "sql"
        || !matches!(
            f.result_type.as_str(),
            "uuid" | "integer" | "bigint" | "smallint"
        )
        || !statements.iter().all(|s| read_only(s))
    {
        return false;
    }
    let Some(sel) = statements.last().and_then(|s| parse_select(s).ok()) else {
        return false;
    };
    use pg_query::protobuf::node::Node as N;
    let (Some(target), [from]) = (
        sel.target_list.first().and_then(|t| match &t.node {
            Some(N::ResTarget(rt)) => rt.val.as_deref(),
            _ => None,
        }),
        sel.from_clause.as_slice(),
    ) else {
        return false;
    };
    let (Some(N::ColumnRef(c)), Some(N::RangeVar(rv))) = (&target.node, &from.node) else {
        return false;
    };
    let Some(column) = c.fields.last().and_then(|f| match &f.node {
        Some(N::String(s)) => Some(s.sval.clone()),
        _ => None,
    }) else {
        return false;
    };
    let table = QualifiedName::new(
        if rv.schemaname.is_empty() {
            "public"
        } else {
            &rv.schemaname
        },
        rv.relname.clone(),
    );
    let pk = ctx
        .snapshot
        .relation(&table)
        .and_then(|r| r.primary_key())
        .is_some_and(|pk| pk.columns == [column.clone()]);
    pk || ctx.model.tenant_key_of(&table) == Some(column.as_str())
}

/// The top-level `RETURN QUERY` statements of a PL/pgSQL body that nothing can stop (no RAISE,
/// no exception handler) and that choose their rows without the caller: they do not pin the
/// caller themselves, and neither their WHERE, joins, HAVING nor CTEs read one of the body's
/// own variables (which may hold what it looked up about the caller). A variable used only in
/// the select list (`CASE WHEN is_admin THEN c.secret END`) masks columns, not rows.
fn open_returns(ctx: &Context, f: &Function) -> Vec<String> {
    let Some(u) = tenantguard_access::plpgsql::unconditional_returns(f) else {
        return vec![];
    };
    u.queries
        .into_iter()
        .filter(|q| !pins_caller(ctx.snapshot, q))
        .filter(|q| {
            let Ok(sel) = parse_select(q) else {
                return false;
            };
            let mut parts: Vec<&pg_query::protobuf::Node> = sel.from_clause.iter().collect();
            parts.extend(sel.where_clause.as_deref());
            parts.extend(sel.having_clause.as_deref());
            let with = sel
                .with_clause
                .as_ref()
                .map(|w| w.ctes.clone())
                .unwrap_or_default();
            parts.extend(with.iter());
            !parts.iter().any(|p| reads_variable(p, &u.locals))
        })
        .collect()
}

/// Whether an expression mentions one of `names` as a bare identifier.
fn reads_variable(node: &pg_query::protobuf::Node, names: &[String]) -> bool {
    use pg_query::protobuf::node::Node as N;
    let Some(n) = &node.node else { return false };
    let bare = |c: &pg_query::protobuf::ColumnRef| match c.fields.as_slice() {
        [f] => {
            matches!(&f.node, Some(N::String(s)) if names.iter().any(|v| v.eq_ignore_ascii_case(&s.sval)))
        }
        _ => false,
    };
    if let N::ColumnRef(c) = n {
        return bare(c);
    }
    n.nodes()
        .iter()
        .any(|(child, ..)| matches!(child, pg_query::NodeRef::ColumnRef(c) if bare(c)))
}

/// API roles that may execute `f` (directly, through PUBLIC, or a granted role).
pub(crate) fn api_executors(ctx: &Context, f: &Function) -> Vec<String> {
    let roles = Roles::new(ctx.snapshot);
    ctx.access
        .roles
        .iter()
        .filter(|r| {
            let eff = roles.effective(r);
            f.execute_grantees
                .iter()
                .any(|g| g == "PUBLIC" || eff.contains(g))
        })
        .cloned()
        .collect()
}

pub(crate) fn user_definer_functions<'a>(ctx: &'a Context) -> impl Iterator<Item = &'a Function> {
    ctx.snapshot.functions.iter().filter(|f| {
        f.security_definer
            && !f.from_extension
            && !PLATFORM_SCHEMAS.contains(&f.schema.as_str())
            // Trigger functions cannot be called directly.
            && !matches!(f.result_type.as_str(), "trigger" | "event_trigger")
    })
}

/// SECURITY DEFINER functions run as their owner. Executable by API roles and reading or
/// writing tenant tables as an owner that bypasses RLS, without looking at the caller's
/// tenant, they hand any tenant's rows to any caller.
pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    user_definer_functions(ctx)
        .filter_map(|f| {
            let callers = api_executors(ctx, f);
            if callers.is_empty() {
                return None;
            }
            let sig = format!("{}.{}({})", quote_ident(&f.schema), quote_ident(&f.name), f.identity_arguments);
            let Some(statements) = body_statements(f) else {
                // Not analysable (another language, or a body the parser rejects): say so.
                return Some(rule.finding(
                    ObjectRef { kind: ObjectKind::Function, schema: f.schema.clone(), name: f.name.clone() },
                    format!(
                        "SECURITY DEFINER function {sig} ({}) runs as {} and {} may execute it; its body could not be analysed, so it may read any tenant's rows",
                        f.language,
                        f.owner,
                        callers.join(", ")
                    ),
                    json!({ "owner": f.owner, "callers": callers, "analysed": false }),
                    Some(format!("REVOKE EXECUTE ON FUNCTION {sig} FROM PUBLIC, {};", callers.iter().map(|r| quote_ident(r)).collect::<Vec<_>>().join(", "))),
                ));
            };
            // Statements that look at the caller make the body depend on who calls, unless
            // it also returns, on every call, rows chosen without them (`SELECT … INTO
            // is_admin` used only to mask columns, then `RETURN QUERY … WHERE id = _company_id`).
            let statements = if statements.iter().any(|s| pins_caller(ctx.snapshot, s)) {
                let open = open_returns(ctx, f);
                if open.is_empty() {
                    return None;
                }
                open
            } else {
                statements
            };
            // A read-only predicate (`is_member(_org, _uid)` run as its owner to avoid RLS
            // recursion) hands out no rows: one bit, whether a row exists.
            if f.result_type == "boolean" && statements.iter().all(|s| read_only(s)) {
                return None;
            }
            // `SELECT org_id FROM profiles WHERE id = _uid`: one id (which tenant a user is
            // in), not tenant rows.
            if returns_one_id(ctx, f, &statements) {
                return None;
            }
            // `IF NOT is_member(_org, auth.uid()) THEN RAISE …`: it checks the caller first.
            let never = |_: &QualifiedName| false;
            if caller_guard(ctx.snapshot, f, &never).is_some() {
                return None;
            }
            let exposed: Vec<String> = statements
                .iter()
                .flat_map(|s| tables_of(s))
                .filter(|t| tenanted(ctx, t))
                .filter(|t| ctx.snapshot.relation(t).is_some_and(|rel| owner_bypasses(ctx.snapshot, &f.owner, rel)))
                .map(|t| t.to_string())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if exposed.is_empty() {
                return None;
            }
            Some(rule.finding(
                ObjectRef { kind: ObjectKind::Function, schema: f.schema.clone(), name: f.name.clone() },
                format!(
                    "SECURITY DEFINER function {sig} runs as {}, who bypasses RLS on {}, never checks the caller's tenant, and {} may execute it",
                    f.owner,
                    exposed.join(", "),
                    callers.join(", ")
                ),
                json!({ "owner": f.owner, "tables": exposed, "callers": callers, "arguments": f.identity_arguments }),
                Some(format!(
                    "REVOKE EXECUTE ON FUNCTION {sig} FROM PUBLIC, {};\n-- or filter inside it by the caller's tenant claim, or make it SECURITY INVOKER",
                    callers.iter().map(|r| quote_ident(r)).collect::<Vec<_>>().join(", ")
                )),
            ))
        })
        .collect()
}
