//! PL/pgSQL function bodies, read with PostgreSQL's own PL/pgSQL parser (`pg_query::parse_plpgsql`,
//! which returns the function tree as JSON). Real schemas write their membership helpers in
//! PL/pgSQL as often as in SQL (`BEGIN RETURN EXISTS (…); END`), and guard SECURITY DEFINER
//! functions with `IF NOT is_member(…) THEN RAISE EXCEPTION …`. Two shapes are understood:
//! a body that only returns one expression or query (after any guards), and the guards
//! themselves.

use serde_json::Value;
use tenantguard_catalog::Function;

/// What a PL/pgSQL body amounts to, when it is simple enough to inline.
#[derive(Debug, Clone, PartialEq)]
pub enum Returns {
    /// `RETURN <expr>`: the expression's text.
    Expr(String),
    /// `RETURN QUERY <select>`: the query's text.
    Query(String),
}

/// The parsed function tree: `[{"PLpgSQL_function": {…, "action": {"PLpgSQL_stmt_block": …}}}]`.
fn parse(func: &Function) -> Option<Value> {
    if func.language != "plpgsql" {
        return None;
    }
    // A dollar-quote tag the body does not contain.
    let mut tag = String::from("tg");
    while func.body.contains(&format!("${tag}$")) {
        tag.push('x');
    }
    let returns = if func.result_type.trim().is_empty() {
        "void"
    } else {
        func.result_type.as_str()
    };
    let sql = format!(
        "CREATE FUNCTION tenantguard_probe({}) RETURNS {returns} LANGUAGE plpgsql AS ${tag}${}${tag}$",
        func.identity_arguments, func.body
    );
    pg_query::parse_plpgsql(&sql).ok()
}

/// The statements of the function's top block.
fn top_statements(tree: &Value) -> Vec<Value> {
    tree.get(0)
        .and_then(|f| f.get("PLpgSQL_function"))
        .and_then(|f| f.get("action"))
        .and_then(|a| a.get("PLpgSQL_stmt_block"))
        .and_then(|b| b.get("body"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn expr_text(v: Option<&Value>) -> Option<String> {
    v?.get("PLpgSQL_expr")?
        .get("query")?
        .as_str()
        .map(str::to_string)
}

/// `IF <cond> THEN RAISE EXCEPTION … END IF` with nothing else in it: the condition's text.
fn guard_condition(stmt: &Value) -> Option<String> {
    let s = stmt.get("PLpgSQL_stmt_if")?;
    if s.get("elsif_list").is_some() || s.get("else_body").is_some() {
        return None;
    }
    let then = s.get("then_body")?.as_array()?;
    let raises = !then.is_empty()
        && then.iter().all(|t| {
            t.get("PLpgSQL_stmt_raise").is_some_and(|r| {
                // ERROR is the default level; NOTICE/WARNING (lower levels) do not stop the call.
                r.get("elog_level")
                    .and_then(Value::as_i64)
                    .is_none_or(|l| l >= 21)
            })
        });
    raises.then(|| expr_text(s.get("cond"))).flatten()
}

/// The guards a body starts with: conditions under which it raises before doing anything.
pub fn raise_guards(func: &Function) -> Vec<String> {
    let Some(tree) = parse(func) else {
        return vec![];
    };
    // `ok := EXISTS (…);` before `IF ok != true THEN RAISE …`: the guard is on the value.
    let mut assigned: Vec<(String, String)> = vec![];
    let mut guards = vec![];
    for stmt in top_statements(&tree) {
        if let Some((var, value)) = assignment(&stmt) {
            assigned.retain(|(v, _)| *v != var);
            assigned.push((var, value));
            continue;
        }
        let Some(cond) = guard_condition(&stmt) else {
            break;
        };
        guards.push(substitute_flag(&cond, &assigned).unwrap_or(cond));
    }
    guards
}

/// `var := expr` / `var = expr`: the variable's name and the expression's text.
fn assignment(stmt: &Value) -> Option<(String, String)> {
    let query = expr_text(stmt.get("PLpgSQL_stmt_assign")?.get("expr"))?;
    let (var, value) = query.split_once(":=").or_else(|| query.split_once('='))?;
    let var = var.trim().trim_matches('"').to_ascii_lowercase();
    let ident = !var.is_empty() && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ident.then(|| (var, value.trim().to_string()))
}

/// A guard written on a flag that holds a condition (`has_access != true`, `NOT has_access`,
/// `has_access = false`, `has_access IS NOT TRUE`): the same guard on the condition itself,
/// `NOT (<condition>)`. Judged on the parse tree.
fn substitute_flag(cond: &str, assigned: &[(String, String)]) -> Option<String> {
    use pg_query::protobuf::{node::Node as N, BoolTestType, Node};
    let node = crate::expr::parse_expr(cond).ok()?;
    let flag = |n: &Node| -> Option<String> {
        let Some(N::ColumnRef(c)) = &n.node else {
            return None;
        };
        let [f] = c.fields.as_slice() else {
            return None;
        };
        let Some(N::String(s)) = &f.node else {
            return None;
        };
        let name = s.sval.to_ascii_lowercase();
        assigned
            .iter()
            .rev()
            .find(|(v, _)| *v == name)
            .map(|(_, e)| e.clone())
    };
    let boolean = |n: &Node| -> Option<bool> {
        match &n.node {
            Some(N::AConst(c)) => match &c.val {
                Some(pg_query::protobuf::a_const::Val::Boolval(b)) => Some(b.boolval),
                _ => None,
            },
            Some(N::TypeCast(tc)) => tc.arg.as_deref().and_then(|a| match &a.node {
                Some(N::AConst(c)) => match &c.val {
                    Some(pg_query::protobuf::a_const::Val::Sval(s)) => match s.sval.as_str() {
                        "t" | "true" => Some(true),
                        "f" | "false" => Some(false),
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            }),
            _ => None,
        }
    };
    // The guard raises when the flag is false: the body goes on when the condition holds.
    let negated = match &node.node {
        Some(N::BoolExpr(b)) if b.boolop == pg_query::protobuf::BoolExprType::NotExpr as i32 => {
            flag(b.args.first()?)
        }
        Some(N::AExpr(ae)) => {
            let op: String = ae
                .name
                .iter()
                .filter_map(|n| match &n.node {
                    Some(N::String(s)) => Some(s.sval.clone()),
                    _ => None,
                })
                .collect();
            let (l, r) = (ae.lexpr.as_deref()?, ae.rexpr.as_deref()?);
            let (value, b) = match (flag(l), boolean(r)) {
                (Some(v), Some(b)) => (v, b),
                _ => (flag(r)?, boolean(l)?),
            };
            let raises_when_false = match op.as_str() {
                "=" => !b,
                "<>" | "!=" => b,
                _ => return None,
            };
            raises_when_false.then_some(value)?.into()
        }
        Some(N::BooleanTest(bt)) => {
            let v = flag(bt.arg.as_deref()?)?;
            (bt.booltesttype == BoolTestType::IsNotTrue as i32
                || bt.booltesttype == BoolTestType::IsFalse as i32)
                .then_some(v)
        }
        _ => None,
    }?;
    Some(format!("NOT ({negated})"))
}

/// The names of a function's arguments, from its identity arguments (`_org uuid, IN x int`).
pub fn argument_names(func: &Function) -> Vec<String> {
    func.identity_arguments
        .split(',')
        .filter_map(|decl| {
            let words: Vec<&str> = decl.split_whitespace().collect();
            let name = match words.as_slice() {
                [mode, name, _, ..] if matches!(*mode, "IN" | "INOUT" | "VARIADIC") => *name,
                [name, _, ..] => *name,
                _ => return None,
            };
            Some(name.trim_matches('"').to_string())
        })
        .collect()
}

/// Rows a body hands out on every call, whatever else it does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Unconditional {
    /// The text of each top-level `RETURN QUERY` (outside any IF, loop or CASE).
    pub queries: Vec<String>,
    /// The body's own variables (not its arguments): a query that filters on one of them may
    /// filter on something the body looked up about the caller.
    pub locals: Vec<String>,
}

/// The top-level `RETURN QUERY` statements of a body that never raises an error and handles no
/// exception: nothing can stop the call before they run. `None` when the body raises, catches,
/// or is not PL/pgSQL.
pub fn unconditional_returns(func: &Function) -> Option<Unconditional> {
    let tree = parse(func)?;
    fn stops(v: &Value) -> bool {
        match v {
            Value::Object(m) => m.iter().any(|(k, val)| {
                let raise = k == "PLpgSQL_stmt_raise"
                    && val
                        .get("elog_level")
                        .and_then(Value::as_i64)
                        .is_none_or(|l| l >= 21);
                raise || k == "exceptions" || stops(val)
            }),
            Value::Array(a) => a.iter().any(stops),
            _ => false,
        }
    }
    if stops(&tree) {
        return None;
    }
    let queries = top_statements(&tree)
        .iter()
        .filter_map(|s| expr_text(s.get("PLpgSQL_stmt_return_query")?.get("query")))
        .collect();
    let args = argument_names(func);
    let locals = tree
        .get(0)
        .and_then(|f| f.get("PLpgSQL_function"))
        .and_then(|f| f.get("datums"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| {
            let (_, inner) = d.as_object()?.iter().next()?;
            inner.get("refname")?.as_str().map(str::to_ascii_lowercase)
        })
        .filter(|n| !args.iter().any(|a| a.eq_ignore_ascii_case(n)))
        .collect();
    Some(Unconditional { queries, locals })
}

/// What the body returns, when (after any guards) it is one `RETURN expr` or one
/// `RETURN QUERY select` (optionally followed by a bare `RETURN`), and declares nothing that
/// the returned text could read.
pub fn simple_return(func: &Function) -> Option<Returns> {
    let tree = parse(func)?;
    let statements = top_statements(&tree);
    let rest: Vec<&Value> = statements
        .iter()
        .skip_while(|s| guard_condition(s).is_some())
        .collect();
    let first = rest.first()?;
    let only = rest.len() == 1
        || (rest.len() == 2
            && rest[1]
                .get("PLpgSQL_stmt_return")
                .is_some_and(|r| r.get("expr").is_none()));
    if !only {
        return None;
    }
    if let Some(r) = first.get("PLpgSQL_stmt_return") {
        return expr_text(r.get("expr")).map(Returns::Expr);
    }
    if let Some(r) = first.get("PLpgSQL_stmt_return_query") {
        return expr_text(r.get("query")).map(Returns::Query);
    }
    None
}
