//! What the proof reads from policy and CHECK expressions, on PostgreSQL's own parse trees
//! (`pg_query`), never by matching names:
//!
//! - [`membership_lookups`]: the tables policies look the caller up in — a sub-query (or a SQL
//!   helper's body) `SELECT … FROM t WHERE col = auth.uid()` (or the JWT's `sub`) — so that
//!   tenant A's user can be made a member of A inside the rolled-back transaction;
//! - [`column_hints`]: the constants a table's policies compare its columns with
//!   (`status = 'sent'`, `status IN (…)`) and what its simple CHECK constraints demand
//!   (`col IN (…)`, `col > 0`, `char_length(col) > n`), so seeded rows satisfy them.

use std::collections::{BTreeMap, BTreeSet};

use pg_query::protobuf::{a_const::Val, node::Node as N, AExprKind, Node};
use pg_query::NodeRef;
use tenantguard_catalog::{PolicyCommand, QualifiedName, Relation, Snapshot};

/// A table the policies look the caller up in, and the column compared with the caller.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MembershipLookup {
    pub table: QualifiedName,
    pub user_column: String,
}

/// What seeded values of one column should be.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnHint {
    /// Constants the policies' USING clauses compare the column with (seed one of them).
    pub using: Vec<String>,
    /// Constants the policies' WITH CHECK clauses of UPDATE demand (set one of them in updates).
    pub update_check: Vec<String>,
    /// A CHECK constraint's list of allowed values (`col IN (…)`).
    pub allowed: Option<Vec<String>>,
    /// A CHECK constraint's lower bound (`col > n`: n, exclusive).
    pub above: Option<f64>,
    /// A CHECK constraint's minimum length (`char_length(col) > n`: n + 1).
    pub min_length: Option<usize>,
}

impl ColumnHint {
    /// The value to seed, as plain text (cast to the column's type by the caller).
    pub fn seed_value(&self) -> Option<String> {
        let allowed = |v: &String| self.allowed.as_ref().is_none_or(|a| a.contains(v));
        self.using
            .iter()
            .find(|v| allowed(v))
            .or_else(|| self.allowed.as_ref().and_then(|a| a.first()))
            .cloned()
    }
}

/// The whole parse tree of `SELECT <expr>`.
fn parse_expression(sql: &str) -> Option<pg_query::ParseResult> {
    pg_query::parse(&format!("SELECT {sql}"), pg_query::ParserOptions::DEFAULT).ok()
}

/// A plain constant's text: `'sent'`, `'sent'::text`, `42`, `true`.
fn constant(node: &Node) -> Option<String> {
    match node.node.as_ref()? {
        N::AConst(c) => match c.val.as_ref()? {
            Val::Sval(s) => Some(s.sval.clone()),
            Val::Ival(i) => Some(i.ival.to_string()),
            Val::Fval(f) => Some(f.fval.clone()),
            Val::Boolval(b) => Some(b.boolval.to_string()),
            Val::Bsval(_) => None,
        },
        N::TypeCast(t) => constant(t.arg.as_deref()?),
        _ => None,
    }
}

/// Every plain constant in an expression (a CHECK's), in order, without repeats: candidate
/// values when a seeded row must satisfy it.
pub(crate) fn check_constants(sql: &str) -> Vec<String> {
    let Some(parsed) = parse_expression(sql) else {
        return vec![];
    };
    let mut out: Vec<String> = vec![];
    for (node, ..) in parsed.protobuf.nodes() {
        let NodeRef::AConst(c) = node else { continue };
        let v = match c.val.as_ref() {
            Some(Val::Sval(s)) => s.sval.clone(),
            Some(Val::Ival(i)) => i.ival.to_string(),
            Some(Val::Fval(f)) => f.fval.clone(),
            Some(Val::Boolval(b)) => b.boolval.to_string(),
            _ => continue,
        };
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// Constants of an `IN (…)` list or an `ANY (ARRAY[…])`.
fn constants(node: &Node) -> Option<Vec<String>> {
    let items = match node.node.as_ref()? {
        N::List(l) => &l.items,
        N::AArrayExpr(a) => &a.elements,
        N::TypeCast(t) => return constants(t.arg.as_deref()?),
        _ => return None,
    };
    items.iter().map(constant).collect()
}

/// The column a reference names (its last field), stripping casts.
fn column(node: &Node) -> Option<String> {
    match node.node.as_ref()? {
        N::ColumnRef(c) => match c.fields.last()?.node.as_ref()? {
            N::String(s) => Some(s.sval.clone()),
            _ => None,
        },
        N::TypeCast(t) => column(t.arg.as_deref()?),
        _ => None,
    }
}

/// `(qualifier, column)` of a column reference: `m.user_id` → (Some("m"), "user_id").
fn qualified_column(node: &Node) -> Option<(Option<String>, String)> {
    match node.node.as_ref()? {
        N::ColumnRef(c) => {
            let names: Vec<&str> = c
                .fields
                .iter()
                .filter_map(|f| match f.node.as_ref()? {
                    N::String(s) => Some(s.sval.as_str()),
                    _ => None,
                })
                .collect();
            match names.as_slice() {
                [col] => Some((None, col.to_string())),
                [.., q, col] => Some((Some(q.to_string()), col.to_string())),
                [] => None,
            }
        }
        N::TypeCast(t) => qualified_column(t.arg.as_deref()?),
        _ => None,
    }
}

fn operator(names: &[Node]) -> Option<&str> {
    match names.last()?.node.as_ref()? {
        N::String(s) => Some(s.sval.as_str()),
        _ => None,
    }
}

/// `(column, constants)` for every `col = const`, `col IN (…)`, `col = ANY (ARRAY[…])` in the
/// expression (either side of the `=`).
fn column_constants(sql: &str) -> Vec<(String, Vec<String>)> {
    let Some(parsed) = parse_expression(sql) else {
        return vec![];
    };
    let mut out = vec![];
    for (node, ..) in parsed.protobuf.nodes() {
        let NodeRef::AExpr(e) = node else { continue };
        let (Some(l), Some(r)) = (e.lexpr.as_deref(), e.rexpr.as_deref()) else {
            continue;
        };
        if operator(&e.name) != Some("=") {
            continue;
        }
        let kind = e.kind();
        let found = match kind {
            AExprKind::AexprOp => column(l)
                .zip(constant(r).map(|c| vec![c]))
                .or_else(|| column(r).zip(constant(l).map(|c| vec![c]))),
            AExprKind::AexprIn | AExprKind::AexprOpAny => column(l).zip(constants(r)),
            _ => None,
        };
        if let Some(f) = found {
            out.push(f);
        }
    }
    out
}

/// Lower bounds in a CHECK expression: `col > n`, `col >= n`, `n < col`, and lengths:
/// `char_length(col) > n`, `length(col) >= n`, `length(col) BETWEEN n AND m`.
/// `(column, exclusive lower bound)` and `(column, minimum length)` pairs.
type Bounds = (Vec<(String, f64)>, Vec<(String, usize)>);

fn bounds(sql: &str) -> Bounds {
    let (mut above, mut lengths) = (vec![], vec![]);
    let Some(parsed) = parse_expression(sql) else {
        return (above, lengths);
    };
    let length_of = |node: &Node| -> Option<String> {
        let N::FuncCall(f) = node.node.as_ref()? else {
            return None;
        };
        let name = operator(&f.funcname)?;
        if !matches!(name, "char_length" | "length" | "character_length") || f.args.len() != 1 {
            return None;
        }
        column(&f.args[0])
    };
    let number = |node: &Node| constant(node)?.parse::<f64>().ok();
    for (node, ..) in parsed.protobuf.nodes() {
        let NodeRef::AExpr(e) = node else { continue };
        let (Some(l), Some(r)) = (e.lexpr.as_deref(), e.rexpr.as_deref()) else {
            continue;
        };
        match (e.kind(), operator(&e.name)) {
            (AExprKind::AexprOp, Some(op @ (">" | ">=" | "<" | "<="))) => {
                // Normalise to `lhs > n` / `lhs >= n`.
                let (lhs, n, strict) = match op {
                    ">" => (l, number(r), true),
                    ">=" => (l, number(r), false),
                    "<" => (r, number(l), true),
                    _ => (r, number(l), false),
                };
                let Some(n) = n else { continue };
                if let Some(c) = length_of(lhs) {
                    let min = if strict { n + 1.0 } else { n };
                    lengths.push((c, min.max(0.0) as usize));
                } else if let Some(c) = column(lhs) {
                    above.push((c, if strict { n } else { n - 1.0 }));
                }
            }
            (AExprKind::AexprBetween, _) => {
                let Some(lo) = constants(r).and_then(|v| v.first()?.parse::<f64>().ok()) else {
                    continue;
                };
                if let Some(c) = length_of(l) {
                    lengths.push((c, lo.max(0.0) as usize));
                } else if let Some(c) = column(l) {
                    above.push((c, lo - 1.0));
                }
            }
            _ => {}
        }
    }
    (above, lengths)
}

/// Per column of `rel`: what its policies and CHECK constraints say seeded values should be.
pub fn column_hints(rel: &Relation) -> BTreeMap<String, ColumnHint> {
    let mut hints: BTreeMap<String, ColumnHint> = BTreeMap::new();
    let known = |c: &str| rel.column(c).is_some();
    for p in &rel.policies {
        if let Some(using) = &p.using {
            for (c, values) in column_constants(using) {
                if known(&c) {
                    let h = hints.entry(c).or_default();
                    for v in values {
                        if !h.using.contains(&v) {
                            h.using.push(v);
                        }
                    }
                }
            }
        }
        if matches!(p.command, PolicyCommand::Update | PolicyCommand::All) {
            if let Some(check) = &p.with_check {
                for (c, values) in column_constants(check) {
                    if known(&c) {
                        let h = hints.entry(c).or_default();
                        for v in values {
                            if !h.update_check.contains(&v) {
                                h.update_check.push(v);
                            }
                        }
                    }
                }
            }
        }
    }
    for c in &rel.constraints {
        let Some(def) = &c.check else { continue };
        let expr = def
            .trim()
            .trim_end_matches("NOT VALID")
            .trim()
            .strip_prefix("CHECK")
            .unwrap_or(def)
            .trim();
        for (col, values) in column_constants(expr) {
            if known(&col) {
                let h = hints.entry(col).or_default();
                h.allowed = Some(match h.allowed.take() {
                    Some(prev) => prev.into_iter().filter(|v| values.contains(v)).collect(),
                    None => values,
                });
            }
        }
        let (above, lengths) = bounds(expr);
        for (col, n) in above {
            if known(&col) {
                let h = hints.entry(col).or_default();
                h.above = Some(h.above.map_or(n, |m| m.max(n)));
            }
        }
        for (col, n) in lengths {
            if known(&col) {
                let h = hints.entry(col).or_default();
                h.min_length = Some(h.min_length.map_or(n, |m| m.max(n)));
            }
        }
    }
    hints
}

/// Does the expression name the caller's identity: `auth.uid()`, or the JWT's `sub` claim
/// (`auth.jwt() ->> 'sub'`, `current_setting('request.jwt.claim.sub')`)?
fn is_caller(node: &Node) -> bool {
    let Some(inner) = node.node.as_ref() else {
        return false;
    };
    inner.nodes().into_iter().any(|(n, ..)| match n {
        NodeRef::FuncCall(f) => {
            let names: Vec<&str> = f
                .funcname
                .iter()
                .filter_map(|x| match x.node.as_ref()? {
                    N::String(s) => Some(s.sval.as_str()),
                    _ => None,
                })
                .collect();
            matches!(names.as_slice(), [.., "uid"])
                || (names.last() == Some(&"current_setting")
                    && f.args
                        .first()
                        .and_then(constant)
                        .is_some_and(|s| s == "request.jwt.claim.sub"))
        }
        NodeRef::AExpr(e) => {
            matches!(operator(&e.name), Some("->>" | "->"))
                && e.rexpr
                    .as_deref()
                    .and_then(constant)
                    .is_some_and(|k| k == "sub")
        }
        _ => false,
    })
}

/// Every `SELECT … FROM t … WHERE … col = <caller> …` in a parse tree.
fn lookups_in(
    parsed: &pg_query::ParseResult,
    snapshot: &Snapshot,
    out: &mut BTreeSet<MembershipLookup>,
) {
    for (node, ..) in parsed.protobuf.nodes() {
        let NodeRef::SelectStmt(s) = node else {
            continue;
        };
        let Some(where_clause) = s.where_clause.as_deref().and_then(|w| w.node.as_ref()) else {
            continue;
        };
        // The FROM list's tables: (alias or name, table).
        let mut from: Vec<(String, QualifiedName)> = vec![];
        for f in &s.from_clause {
            for (n, ..) in f.node.as_ref().map(|x| x.nodes()).unwrap_or_default() {
                if let NodeRef::RangeVar(rv) = n {
                    let schema = if rv.schemaname.is_empty() {
                        "public".to_string()
                    } else {
                        rv.schemaname.clone()
                    };
                    let table = QualifiedName::new(schema, &rv.relname);
                    let shown = rv
                        .alias
                        .as_ref()
                        .map_or(rv.relname.clone(), |a| a.aliasname.clone());
                    from.push((shown, table));
                }
            }
        }
        if from.is_empty() {
            continue;
        }
        for (n, ..) in where_clause.nodes() {
            let NodeRef::AExpr(e) = n else { continue };
            if e.kind() != AExprKind::AexprOp || operator(&e.name) != Some("=") {
                continue;
            }
            let (Some(l), Some(r)) = (e.lexpr.as_deref(), e.rexpr.as_deref()) else {
                continue;
            };
            let side = if is_caller(r) {
                qualified_column(l)
            } else if is_caller(l) {
                qualified_column(r)
            } else {
                None
            };
            let Some((qualifier, col)) = side else {
                continue;
            };
            let table = from
                .iter()
                .filter(|(shown, t)| match &qualifier {
                    Some(q) => q == shown || q == &t.name,
                    None => snapshot
                        .any_relation(t)
                        .is_some_and(|r| r.column(&col).is_some()),
                })
                .map(|(_, t)| t.clone())
                .next();
            if let Some(table) = table.filter(|t| {
                snapshot
                    .relation(t)
                    .is_some_and(|r| r.column(&col).is_some())
            }) {
                out.insert(MembershipLookup {
                    table,
                    user_column: col,
                });
            }
        }
    }
}

/// The tables the policies (and the SQL helpers they call) look the caller up in.
pub fn membership_lookups(snapshot: &Snapshot) -> Vec<MembershipLookup> {
    let mut out = BTreeSet::new();
    let mut helpers: BTreeSet<(String, String)> = BTreeSet::new();
    for rel in &snapshot.relations {
        for p in &rel.policies {
            for expr in [&p.using, &p.with_check].into_iter().flatten() {
                let Some(parsed) = parse_expression(expr) else {
                    continue;
                };
                lookups_in(&parsed, snapshot, &mut out);
                for (n, ..) in parsed.protobuf.nodes() {
                    if let NodeRef::FuncCall(f) = n {
                        let names: Vec<String> = f
                            .funcname
                            .iter()
                            .filter_map(|x| match x.node.as_ref()? {
                                N::String(s) => Some(s.sval.clone()),
                                _ => None,
                            })
                            .collect();
                        if let [schema, name] = names.as_slice() {
                            helpers.insert((schema.clone(), name.clone()));
                        } else if let [name] = names.as_slice() {
                            helpers.insert(("public".into(), name.clone()));
                        }
                    }
                }
            }
        }
    }
    for f in &snapshot.functions {
        if f.language != "sql" || !helpers.contains(&(f.schema.clone(), f.name.clone())) {
            continue;
        }
        if let Ok(parsed) = pg_query::parse(&f.body, pg_query::ParserOptions::DEFAULT) {
            lookups_in(&parsed, snapshot, &mut out);
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_from_policy_text_as_postgres_prints_it() {
        assert_eq!(
            column_constants("(status = 'sent'::text)"),
            vec![("status".to_string(), vec!["sent".to_string()])]
        );
        assert_eq!(
            column_constants("(w.kind = ANY (ARRAY['a'::text, 'b'::text]))"),
            vec![("kind".to_string(), vec!["a".to_string(), "b".to_string()])]
        );
        assert_eq!(
            column_constants("priority IN (1, 2)"),
            vec![(
                "priority".to_string(),
                vec!["1".to_string(), "2".to_string()]
            )]
        );
        assert!(column_constants("(org_id = auth.uid())").is_empty());
    }

    #[test]
    fn check_bounds() {
        let (above, lengths) =
            bounds("((priority > 0) AND (char_length(title) > 3) AND (n >= 5) AND (length(x) BETWEEN 2 AND 9))");
        assert_eq!(
            above,
            vec![("priority".to_string(), 0.0), ("n".to_string(), 4.0)]
        );
        assert_eq!(
            lengths,
            vec![("title".to_string(), 4), ("x".to_string(), 2)]
        );
    }

    #[test]
    fn caller_expressions() {
        let e = |s: &str| {
            let p =
                pg_query::parse(&format!("SELECT {s}"), pg_query::ParserOptions::DEFAULT).unwrap();
            let Some(N::SelectStmt(sel)) = p.protobuf.stmts[0].stmt.as_ref().unwrap().node.clone()
            else {
                panic!()
            };
            let Some(N::ResTarget(rt)) = sel.target_list[0].node.clone() else {
                panic!()
            };
            *rt.val.unwrap()
        };
        assert!(is_caller(&e("auth.uid()")));
        assert!(is_caller(&e("(SELECT auth.uid() AS uid)")));
        assert!(is_caller(&e("((auth.jwt() ->> 'sub'::text))::uuid")));
        assert!(is_caller(&e(
            "current_setting('request.jwt.claim.sub', true)::uuid"
        )));
        assert!(!is_caller(&e("(auth.jwt() ->> 'organization_id')")));
    }
}
