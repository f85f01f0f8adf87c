//! Performance rewrites of a policy expression that keep what it allows, done on PostgreSQL's
//! parse tree (pg_query) and printed back by its deparser:
//!
//! - an auth call evaluated once per row (`auth.uid()`, `auth.jwt()`, `current_setting(…)` with
//!   no column among its arguments) is wrapped as `(SELECT auth.uid())`, which PostgreSQL runs
//!   once per statement (an InitPlan);
//! - a membership `col IN (SELECT …)` becomes `col = ANY (ARRAY(SELECT …))`, which the planner
//!   can use an index for instead of walking the whole index per row.
//!
//! New nodes are taken from parsed templates, not built by hand: the C deparser rejects nodes
//! whose enum fields were left at their zero value.

use pg_query::protobuf::{node::Node as N, Node};

fn names(nodes: &[Node]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|n| match &n.node {
            Some(N::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect()
}

fn has_column_ref(n: &Node) -> bool {
    match &n.node {
        Some(N::ColumnRef(_)) => true,
        Some(inner) => inner
            .nodes()
            .iter()
            .any(|(c, _, _, _)| matches!(c, pg_query::NodeRef::ColumnRef(_))),
        None => false,
    }
}

fn is_auth_call(n: &Node) -> bool {
    let Some(N::FuncCall(fc)) = &n.node else {
        return false;
    };
    let name = names(&fc.funcname);
    let auth = matches!(name.as_slice(), [schema, _] if schema == "auth")
        || matches!(name.last().map(String::as_str), Some("current_setting"));
    auth && !fc.args.iter().any(has_column_ref)
}

/// `(SELECT <call>)`.
fn wrapped(call: Node) -> Option<Node> {
    let mut sub = tenantguard_access::parse_expr("(SELECT 1)").ok()?;
    let Some(N::SubLink(sl)) = &mut sub.node else {
        return None;
    };
    let Some(N::SelectStmt(sel)) = sl.subselect.as_mut().and_then(|s| s.node.as_mut()) else {
        return None;
    };
    let Some(N::ResTarget(rt)) = sel.target_list.get_mut(0).and_then(|t| t.node.as_mut()) else {
        return None;
    };
    rt.val = Some(Box::new(call));
    Some(sub)
}

/// `<test> = ANY (ARRAY(<subselect>))`.
fn any_array(test: Node, subselect: Node) -> Option<Node> {
    let mut expr = tenantguard_access::parse_expr("x = ANY (ARRAY(SELECT 1))").ok()?;
    let Some(N::AExpr(ae)) = &mut expr.node else {
        return None;
    };
    ae.lexpr = Some(Box::new(test));
    let Some(N::SubLink(sl)) = ae.rexpr.as_mut().and_then(|r| r.node.as_mut()) else {
        return None;
    };
    sl.subselect = Some(Box::new(subselect));
    Some(expr)
}

/// Rewrites in place; true when anything changed.
fn rewrite(node: &mut Node) -> bool {
    if is_auth_call(node) {
        if let Some(w) = wrapped(node.clone()) {
            *node = w;
            return true;
        }
        return false;
    }
    // `x IN (SELECT …)`: an ANY sub-link with the default operator.
    if let Some(N::SubLink(sl)) = &node.node {
        let plain_in = sl.sub_link_type == pg_query::protobuf::SubLinkType::AnySublink as i32
            && sl.oper_name.is_empty();
        if plain_in {
            if let (Some(test), Some(sub)) = (sl.testexpr.as_deref(), sl.subselect.as_deref()) {
                if let Some(new) = any_array(test.clone(), sub.clone()) {
                    *node = new;
                    return true;
                }
            }
        }
        // Inside a sub-query calls run once per execution of it, not per row of the table.
        return false;
    }
    let mut changed = false;
    let mut go = |n: &mut Node| changed |= rewrite(n);
    match &mut node.node {
        Some(N::AExpr(ae)) => {
            if let Some(l) = ae.lexpr.as_deref_mut() {
                go(l);
            }
            if let Some(r) = ae.rexpr.as_deref_mut() {
                go(r);
            }
        }
        Some(N::BoolExpr(b)) => b.args.iter_mut().for_each(go),
        Some(N::TypeCast(t)) => {
            if let Some(a) = t.arg.as_deref_mut() {
                go(a);
            }
        }
        Some(N::FuncCall(f)) => f.args.iter_mut().for_each(go),
        Some(N::CoalesceExpr(c)) => c.args.iter_mut().for_each(go),
        Some(N::NullTest(t)) => {
            if let Some(a) = t.arg.as_deref_mut() {
                go(a);
            }
        }
        Some(N::BooleanTest(t)) => {
            if let Some(a) = t.arg.as_deref_mut() {
                go(a);
            }
        }
        _ => {}
    }
    changed
}

/// The expression with per-row auth calls wrapped and membership `IN` rewritten, or None when
/// nothing changed (or it could not be parsed).
pub fn faster_policy_expression(text: &str) -> Option<String> {
    let mut node = tenantguard_access::parse_expr(text).ok()?;
    rewrite(&mut node).then(|| tenantguard_access::deparse(&node))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_auth_calls_and_rewrites_membership() {
        assert_eq!(
            faster_policy_expression("org_id = ((auth.jwt() ->> 'organization_id'::text))::uuid")
                .as_deref(),
            Some("org_id = ((SELECT auth.jwt()) ->> 'organization_id'::text)::uuid")
        );
        assert_eq!(
            faster_policy_expression(
                "team_id IN (SELECT m.team_id FROM members m WHERE m.user_id = auth.uid())"
            )
            .as_deref(),
            Some("team_id = ANY(ARRAY(SELECT m.team_id FROM members m WHERE m.user_id = auth.uid()))")
        );
        // Already once per statement, or reading the row: left alone.
        assert_eq!(
            faster_policy_expression("org_id = (SELECT auth.uid())"),
            None
        );
        assert_eq!(
            faster_policy_expression("owner = auth.uid() OR current_setting(col) = 'x'").as_deref(),
            Some("owner = (SELECT auth.uid()) OR current_setting(col) = 'x'")
        );
    }
}
