//! The policy a fixed table gets: the schema's own tenant rule, mirrored.
//!
//! Why: the right tenant source is the application's — a JWT claim, a membership table, a
//! setting. The schema's policies that the analyser judged tenant-bound already say which; the
//! most common of them, of the form `<tenant key> = <source>` or `<tenant key> IN (<subquery>)`,
//! is re-aimed at the fixed table's own key. Only when no policy qualifies does the fix fall back
//! to the JWT-claim template. Matching is on PostgreSQL's parse tree (pg_query), never on text.

use std::collections::BTreeMap;

use pg_query::protobuf::{node::Node as N, Node};
use tenantguard_catalog::quote_ident;
use tenantguard_rules::Context;

/// `{key}` stands for the target table's tenant key column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub condition: String,
    /// `TO` roles of the policy it mirrors (`PUBLIC` when it had none).
    pub roles: Vec<String>,
    /// Where it came from, for the step's summary.
    pub source: String,
}

fn last_field(n: &Node) -> Option<String> {
    match &n.node {
        Some(N::ColumnRef(c)) => c.fields.last().and_then(|f| match &f.node {
            Some(N::String(s)) => Some(s.sval.clone()),
            _ => None,
        }),
        _ => None,
    }
}

/// True when `n` refers to a column of the policy's own table: a column reference outside any
/// sub-query (inside one, names belong to the sub-query's tables).
fn reads_outer_columns(n: &Node) -> bool {
    let Some(inner) = &n.node else { return false };
    match inner {
        N::SubLink(_) => return false,
        N::ColumnRef(_) => return true,
        _ => {}
    }
    // `nodes()` walks depth first: a sub-link's descendants follow it, deeper than it.
    let mut inside: Option<i32> = None;
    for (child, depth, _, _) in inner.nodes() {
        if let Some(d) = inside {
            if depth > d {
                continue;
            }
            inside = None;
        }
        match child {
            pg_query::NodeRef::SubLink(_) => inside = Some(depth),
            pg_query::NodeRef::ColumnRef(_) => return true,
            _ => {}
        }
    }
    false
}

/// The tenant source of a `key = source` / `key IN (…)` expression, with `{key}` for the key.
fn mirror(expr: &Node, key: &str) -> Option<String> {
    match &expr.node {
        Some(N::AExpr(ae)) => {
            let op: Vec<String> = ae
                .name
                .iter()
                .filter_map(|n| match &n.node {
                    Some(N::String(s)) => Some(s.sval.clone()),
                    _ => None,
                })
                .collect();
            if op != ["="] || ae.kind != pg_query::protobuf::AExprKind::AexprOp as i32 {
                return None;
            }
            let (l, r) = (ae.lexpr.as_deref()?, ae.rexpr.as_deref()?);
            let source = if last_field(l).as_deref() == Some(key) {
                r
            } else if last_field(r).as_deref() == Some(key) {
                l
            } else {
                return None;
            };
            if reads_outer_columns(source) {
                return None;
            }
            let mut text = tenantguard_access::deparse(source);
            // Evaluate it once per statement, not once per row.
            if !matches!(source.node, Some(N::SubLink(_))) {
                text = format!("(SELECT {text})");
            }
            Some(format!("{{key}} = {text}"))
        }
        Some(N::SubLink(sl)) => {
            if sl.sub_link_type != pg_query::protobuf::SubLinkType::AnySublink as i32
                || !sl.oper_name.is_empty()
            {
                return None;
            }
            if last_field(sl.testexpr.as_deref()?).as_deref() != Some(key) {
                return None;
            }
            // The sub-query alone, printed as a scalar sub-link: `(SELECT …)`.
            let mut alone = (**sl).clone();
            alone.sub_link_type = pg_query::protobuf::SubLinkType::ExprSublink as i32;
            alone.testexpr = None;
            let text = tenantguard_access::deparse(&Node {
                node: Some(N::SubLink(Box::new(alone))),
            });
            Some(format!("{{key}} IN {text}"))
        }
        _ => None,
    }
}

/// The most common tenant-bound policy shape of the schema, if any.
pub fn schema_template(ctx: &Context) -> Option<Template> {
    let mut counts: BTreeMap<String, (usize, Vec<String>, String)> = BTreeMap::new();
    for pa in &ctx.access.policies {
        let Some(using) = &pa.using else { continue };
        if !using.is_bound() || pa.with_check.as_ref().is_some_and(|c| !c.is_bound()) {
            continue;
        }
        let Some(key) = ctx.model.tenant_key_of(&pa.table) else {
            continue;
        };
        let Some(policy) = ctx
            .snapshot
            .relation(&pa.table)
            .and_then(|r| r.policies.iter().find(|p| p.name == pa.policy))
        else {
            continue;
        };
        if !policy.permissive {
            continue;
        }
        let Some(text) = &policy.using else { continue };
        let Ok(node) = tenantguard_access::parse_expr(text) else {
            continue;
        };
        let Some(condition) = mirror(&node, key) else {
            continue;
        };
        let roles: Vec<String> = policy
            .roles
            .iter()
            .map(|r| {
                if r == "public" {
                    "PUBLIC".into()
                } else {
                    quote_ident(r)
                }
            })
            .collect();
        let e = counts.entry(condition).or_insert((
            0,
            roles,
            format!("policy {:?} on {}", pa.policy, pa.table),
        ));
        e.0 += 1;
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then_with(|| b.0.cmp(&a.0)))
        .map(|(condition, (_, roles, source))| Template {
            condition,
            roles,
            source,
        })
}
