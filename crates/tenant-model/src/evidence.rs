//! What the policies say about tenancy. The structure (foreign keys, names) proposes a root; the
//! policies tell which column the application really compares with the caller's tenant
//! (`school_id = get_user_school_id()`, `is_member(org_id)`, `org_id IN (SELECT …)`). A schema
//! whose policies never compare any column with the caller (`USING (true)` everywhere, a
//! single-company CRM) shows no tenancy at all, and a root guessed from its names would turn
//! every table into a "leak".
//!
//! Read from PostgreSQL's own parse tree (`pg_query`), never from the policy text.

use std::collections::{BTreeMap, BTreeSet};

use pg_query::protobuf::{node::Node as N, Node};
use pg_query::NodeRef;
use tenantguard_catalog::{QualifiedName, Relation};

/// Columns that name a person, not a tenant: comparing them with the caller is ownership.
const PERSON_COLUMNS: &[&str] = &[
    "user_id",
    "owner_id",
    "profile_id",
    "author_id",
    "member_id",
    "creator_id",
    "sender_id",
    "recipient_id",
    "assignee_id",
    "auth_user_id",
    "created_by",
    "updated_by",
];

/// Tables that hold people: a column pointing at them is about a person.
const PERSON_TABLES: &[&str] = &["users", "user", "profiles", "profile", "people", "persons"];

/// Per column name, the tables whose policies compare that column with something the caller
/// brings (a helper, a sub-query, a claim), and whether the schema has policies at all on
/// tables that could be tenanted.
#[derive(Debug, Default)]
pub struct PolicyEvidence {
    pub by_column: BTreeMap<String, BTreeSet<QualifiedName>>,
    /// Per table, every column its policies compare with the caller (any name).
    pub by_table: BTreeMap<QualifiedName, BTreeSet<String>>,
    /// Some table has a policy whose expression is more than a constant.
    pub any_policy: bool,
}

fn strings(nodes: &[Node]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|n| match &n.node {
            Some(N::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect()
}

fn column_name(node: &Node) -> Option<String> {
    match &node.node {
        Some(N::ColumnRef(c)) => strings(&c.fields).last().cloned(),
        Some(N::TypeCast(tc)) => tc.arg.as_deref().and_then(column_name),
        _ => None,
    }
}

fn is_const(node: &Node) -> bool {
    match &node.node {
        Some(N::AConst(_)) => true,
        Some(N::TypeCast(tc)) => tc.arg.as_deref().is_some_and(is_const),
        _ => false,
    }
}

/// `auth.uid()`, `(SELECT auth.uid())`: the caller's own id (ownership, not tenancy).
fn is_caller_id(node: &Node) -> bool {
    let mut funcs = vec![];
    if let Some(n) = &node.node {
        for (child, ..) in n.nodes() {
            if let NodeRef::FuncCall(fc) = child {
                funcs.push(strings(&fc.funcname).join("."));
            }
        }
    }
    !funcs.is_empty() && funcs.iter().all(|f| f == "auth.uid")
}

fn is_person_column(rel: &Relation, column: &str) -> bool {
    if PERSON_COLUMNS.contains(&column) {
        return true;
    }
    rel.foreign_keys().any(|(c, fk)| {
        c.columns.len() == 1
            && c.columns[0] == column
            && (fk.references.schema == "auth"
                || PERSON_TABLES.contains(&fk.references.name.as_str()))
    })
}

impl PolicyEvidence {
    pub fn of(tables: &[&Relation]) -> PolicyEvidence {
        let mut ev = PolicyEvidence::default();
        for t in tables {
            for p in &t.policies {
                for sql in [&p.using, &p.with_check].into_iter().flatten() {
                    let Some(expr) = parse_expr(sql) else {
                        continue;
                    };
                    if !is_const(&expr) {
                        ev.any_policy = true;
                    }
                    for col in compared_columns(&expr, sql) {
                        if t.column(&col).is_some() {
                            ev.by_table
                                .entry(t.qualified_name())
                                .or_default()
                                .insert(col.clone());
                        }
                        if col.ends_with("_id")
                            && t.column(&col).is_some()
                            && !is_person_column(t, &col)
                        {
                            ev.by_column
                                .entry(col)
                                .or_default()
                                .insert(t.qualified_name());
                        }
                    }
                }
            }
        }
        ev
    }

    /// Whether some policy compares one of `keys` with the caller, or the root's own
    /// policies compare its key (`organizations.id = <the caller's tenant>`).
    pub fn mentions(&self, keys: &[String], root: &Relation) -> bool {
        keys.iter().any(|k| self.by_column.contains_key(k))
            || root.primary_key().is_some_and(|pk| {
                pk.columns.len() == 1
                    && self
                        .by_table
                        .get(&root.qualified_name())
                        .is_some_and(|cols| cols.contains(&pk.columns[0]))
            })
    }
}

fn parse_expr(sql: &str) -> Option<Node> {
    let parsed =
        pg_query::parse(&format!("SELECT {sql}"), pg_query::ParserOptions::DEFAULT).ok()?;
    let stmt = parsed.protobuf.stmts.into_iter().next()?.stmt?;
    match stmt.node? {
        N::SelectStmt(sel) => sel
            .target_list
            .into_iter()
            .next()
            .and_then(|t| match t.node {
                Some(N::ResTarget(rt)) => rt.val.map(|v| *v),
                _ => None,
            }),
        _ => None,
    }
}

/// Columns compared with what the caller brings: `col = f(…)`, `claims ? col`, `col = (SELECT …)`,
/// `col IN (SELECT …)`, `col = ANY (…)`, `f(…, col, …)`, and — when the policy reads the caller
/// at all (`auth.…`, a JWT, a setting) — `col = other.col` inside its sub-queries.
fn compared_columns(expr: &Node, sql: &str) -> Vec<String> {
    let lower = sql.to_ascii_lowercase();
    let reads_caller =
        lower.contains("auth.") || lower.contains("jwt") || lower.contains("current_setting");
    let mut out = vec![];
    let Some(root) = &expr.node else {
        return out;
    };
    let mut visit = |node: NodeRef| match node {
        NodeRef::AExpr(ae) => {
            let (Some(l), Some(r)) = (ae.lexpr.as_deref(), ae.rexpr.as_deref()) else {
                return;
            };
            // Equality, and the jsonb membership operators a claim list is read with
            // (`auth.jwt() -> 'app_metadata' -> 'tenants' ? tenant`, `claims @> …`).
            if !matches!(
                strings(&ae.name).join("").as_str(),
                "=" | "?" | "?|" | "?&" | "@>" | "<@"
            ) {
                return;
            }
            for (a, b) in [(l, r), (r, l)] {
                let Some(col) = column_name(a) else { continue };
                let caller_side = match column_name(b) {
                    Some(_) => reads_caller,
                    None => !is_const(b) && !is_caller_id(b),
                };
                if caller_side {
                    out.push(col);
                }
            }
        }
        NodeRef::SubLink(sl) => {
            if let Some(col) = sl.testexpr.as_deref().and_then(column_name) {
                out.push(col);
            }
        }
        NodeRef::FuncCall(fc) => {
            for a in &fc.args {
                if let Some(col) = column_name(a) {
                    out.push(col);
                }
            }
        }
        _ => {}
    };
    match root {
        N::AExpr(ae) => visit(NodeRef::AExpr(ae)),
        N::SubLink(sl) => visit(NodeRef::SubLink(sl)),
        N::FuncCall(fc) => visit(NodeRef::FuncCall(fc)),
        _ => {}
    }
    for (child, ..) in root.nodes() {
        visit(child);
    }
    out
}

/// The table a tenant-key column names: its foreign key's target, else a table of the schema
/// named after it (`school_id` → `schools`, `school`, or one table ending in `_schools`).
pub fn table_named_by(rel: &Relation, column: &str, tables: &[&Relation]) -> Option<QualifiedName> {
    if let Some((c, fk)) = rel
        .foreign_keys()
        .find(|(c, _)| c.columns.len() == 1 && c.columns[0] == column)
    {
        let _ = c;
        return Some(fk.references.clone());
    }
    let stem = column.strip_suffix("_id")?;
    let plurals = [
        format!("{stem}s"),
        format!("{stem}es"),
        stem.strip_suffix('y')
            .map(|s| format!("{s}ies"))
            .unwrap_or_default(),
        stem.to_string(),
    ];
    let same_schema: Vec<&&Relation> = tables.iter().filter(|t| t.schema == rel.schema).collect();
    if let Some(t) = same_schema
        .iter()
        .find(|t| plurals.iter().any(|p| !p.is_empty() && t.name == *p))
    {
        return Some(t.qualified_name());
    }
    let suffixed: Vec<&&&Relation> = same_schema
        .iter()
        .filter(|t| {
            plurals
                .iter()
                .any(|p| !p.is_empty() && t.name.ends_with(&format!("_{p}")))
        })
        .collect();
    match suffixed.as_slice() {
        [one] => Some(one.qualified_name()),
        _ => None,
    }
}
