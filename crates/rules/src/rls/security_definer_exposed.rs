use serde_json::json;
use tenantguard_access::{parse_select, tables_read, Roles};
use tenantguard_catalog::{quote_ident, Function, QualifiedName, PLATFORM_SCHEMAS};

use super::tenanted;
use super::view_bypasses_rls::owner_bypasses;
use crate::{Context, Finding, ObjectKind, ObjectRef, Rule};

/// The SQL statements of a function body: the body itself for SQL functions; for PL/pgSQL, the
/// queries PostgreSQL's PL/pgSQL parser finds in it.
pub(crate) fn body_statements(f: &Function) -> Vec<String> {
    match f.language.as_str() {
        "sql" => vec![f.body.clone()],
        "plpgsql" => {
            let src = format!(
                "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $tg${}$tg$;",
                f.body
            );
            let mut out = vec![];
            if let Ok(json) = pg_query::parse_plpgsql(&src) {
                collect_queries(&json, &mut out);
            }
            out
        }
        _ => vec![],
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

/// Does the statement read the caller's identity (a JWT claim or auth.uid())? Judged on its
/// parse tree: a call of auth.jwt()/auth.uid() or current_setting('request.jwt…').
fn filters_by_caller(sql: &str) -> bool {
    let Ok(parsed) = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT) else {
        return false;
    };
    parsed.protobuf.nodes().iter().any(|(n, ..)| match n {
        pg_query::NodeRef::FuncCall(fc) => {
            let name: Vec<String> = fc
                .funcname
                .iter()
                .filter_map(|n| match &n.node {
                    Some(pg_query::NodeEnum::String(s)) => Some(s.sval.clone()),
                    _ => None,
                })
                .collect();
            matches!(
                name.iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .as_slice(),
                ["auth", "jwt"]
                    | ["auth", "uid"]
                    | ["current_setting"]
                    | ["pg_catalog", "current_setting"]
            )
        }
        _ => false,
    })
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
        f.security_definer && !f.from_extension && !PLATFORM_SCHEMAS.contains(&f.schema.as_str())
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
            let statements = body_statements(f);
            if statements.iter().any(|s| filters_by_caller(s)) {
                return None;
            }
            let exposed: Vec<String> = statements
                .iter()
                .flat_map(|s| tables_of(s))
                .filter(|t| tenanted(ctx, t))
                .filter(|t| ctx.snapshot.relation(t).is_some_and(|rel| owner_bypasses(ctx.snapshot, &f.owner, rel)))
                .map(|t| t.to_string())
                .collect();
            if exposed.is_empty() {
                return None;
            }
            let sig = format!("{}.{}({})", quote_ident(&f.schema), quote_ident(&f.name), f.identity_arguments);
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
