//! Abstract interpretation of one policy expression, on PostgreSQL's own parse tree
//! (`pg_query`): does it keep every row it admits inside the caller's tenant?
//!
//! Values are classified into [`Source`]s (a trusted tenant claim, the current user, a column of
//! the row, a constant, …); predicates into [`Fact`]s. AND is bound if one conjunct is bound; OR
//! only if every disjunct is. Along the way the analyser records [`Observation`]s the rules
//! report on their own (untrusted claims, fallbacks, per-row auth calls, …).

use std::cell::RefCell;
use std::collections::HashMap;

use pg_query::protobuf::{self, node::Node as N, Node, SelectStmt};
use serde::{Deserialize, Serialize};
use tenantguard_catalog::{Function, QualifiedName, Relation, Snapshot};

/// Why a predicate lets other tenants' rows through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenKind {
    /// `true`, or no condition at all.
    AlwaysTrue,
    /// A condition every row satisfies (`org_id = org_id`, `org_id IS NOT NULL`).
    Tautology,
    /// Only the caller's role or some other non-tenant fact is checked.
    RoleOnly,
    /// The tenant comes from a claim the user can edit (`user_metadata`).
    UntrustedClaim,
    /// Rows open up when the claim is missing (`coalesce(claim, org_id)`, `auth.uid() IS NULL OR`).
    Fallback,
    /// A column other than the tenant key is compared with the tenant claim.
    OtherColumn,
    /// A membership subquery that is not filtered by the current user, or not tied to the row.
    Membership,
    /// A helper function that does not look at its caller.
    Helper,
    /// Compared with a constant: every caller sees that tenant.
    Constant,
    /// Row-level security is off.
    RlsDisabled,
    /// Rows with no tenant (`org_id IS NULL`): shared by every tenant. Reading them is how
    /// real schemas serve templates; writing them (a WITH CHECK or an UPDATE/DELETE that
    /// admits them) changes what every tenant sees.
    SharedRows,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fact", rename_all = "snake_case")]
pub enum Fact {
    /// Every admitted row belongs to the caller's tenant (or to the caller).
    Bound { how: String },
    /// Rows of other tenants get through; `witness` is the sub-expression that lets them.
    Open { kind: OpenKind, witness: String },
    /// Admits nothing.
    False,
    /// Could not be decided; the reason says what was not understood.
    Unknown { reason: String },
}

impl Fact {
    fn open(kind: OpenKind, witness: impl Into<String>) -> Fact {
        Fact::Open {
            kind,
            witness: witness.into(),
        }
    }

    pub fn is_bound(&self) -> bool {
        matches!(self, Fact::Bound { .. } | Fact::False)
    }

    /// Conjunction: one bound (or false) conjunct bounds the whole.
    pub fn and(facts: Vec<Fact>) -> Fact {
        if facts.is_empty() {
            return Fact::open(OpenKind::AlwaysTrue, "true");
        }
        if facts.contains(&Fact::False) {
            return Fact::False;
        }
        if let Some(b) = facts.iter().find(|f| matches!(f, Fact::Bound { .. })) {
            return b.clone();
        }
        if let Some(u) = facts.iter().find(|f| matches!(f, Fact::Unknown { .. })) {
            return u.clone();
        }
        facts.into_iter().next().expect("not empty")
    }

    /// Disjunction: bound only if every disjunct is; an open one opens the whole.
    pub fn or(facts: Vec<Fact>) -> Fact {
        let live: Vec<Fact> = facts.into_iter().filter(|f| *f != Fact::False).collect();
        if live.is_empty() {
            return Fact::False;
        }
        // Name the disjunct that really opens rows: shared rows only when nothing else does.
        let open = |f: &&Fact, shared: bool| match f {
            Fact::Open { kind, .. } => (*kind == OpenKind::SharedRows) == shared,
            _ => false,
        };
        if let Some(o) = live
            .iter()
            .find(|f| open(f, false))
            .or_else(|| live.iter().find(|f| open(f, true)))
        {
            return o.clone();
        }
        if let Some(u) = live.iter().find(|f| matches!(f, Fact::Unknown { .. })) {
            return u.clone();
        }
        let hows: Vec<String> = live
            .iter()
            .filter_map(|f| match f {
                Fact::Bound { how } => Some(how.clone()),
                _ => None,
            })
            .collect();
        let mut hows = hows;
        hows.dedup();
        Fact::Bound {
            how: hows.join(" or "),
        }
    }
}

/// Something a rule reports on its own, found while analysing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Observation {
    /// A tenant claim was read: its key path (e.g. `organization_id`, `app_metadata.org_id`).
    Claim {
        path: String,
        text: String,
    },
    UntrustedClaim {
        text: String,
    },
    Fallback {
        text: String,
    },
    PinsOtherColumn {
        column: String,
        text: String,
    },
    /// An auth function or setting called per row, not wrapped in `(select …)`.
    AuthCallPerRow {
        text: String,
    },
    /// `col IN (SELECT …)`: PostgreSQL walks the whole index for it.
    MembershipInSubquery {
        text: String,
    },
    /// A column the policy filters on (for index checks).
    FilterColumn {
        column: String,
    },
    /// `key IS NULL`: the policy treats rows without a tenant as shared.
    SharedRows {
        column: String,
        text: String,
    },
    /// The policy trusts a lookup: the caller's row of `table` (found by `user_column` = the
    /// current user) says which tenant (`value_column`) the caller belongs to. Whoever can
    /// write that value can pick their tenant.
    TrustedLookup {
        table: QualifiedName,
        user_column: String,
        value_column: String,
    },
}

/// What a value is, for isolation purposes.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// The whole JWT (`auth.jwt()`, `current_setting('request.jwt.claims')`).
    JwtRoot,
    /// A JSON object inside the JWT, by path; `trusted` is false under `user_metadata`.
    JwtObject {
        path: Vec<String>,
        trusted: bool,
    },
    TenantClaim {
        path: String,
    },
    UntrustedClaim,
    CurrentUser,
    /// The caller's role: `auth.role()`, the JWT's signed `role` claim, `current_user` in a
    /// policy. `true` when it is the analysed API role itself (so `= 'service_role'` can be
    /// decided); `false` for `session_user`, or `current_user` inside a SECURITY DEFINER helper.
    RoleClaim(bool),
    /// A membership / lookup subquery or helper that yields the caller's tenants.
    Trusted {
        how: String,
    },
    /// A column of the row being checked.
    Column(String),
    /// A literal, with its value when it is a plain one (`1`, `'text'`, `true`).
    Const(Option<Literal>),
    /// `coalesce(claim, column)`: the column itself when the claim is missing.
    Fallback,
    /// A lookup understood to yield other tenants' values too (a membership table read
    /// without filtering by the caller): why.
    Foreign(String),
    Unknown(String),
}

/// A literal's kind and text, to fold comparisons of constants (`1 = 2`).
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Int(String),
    Str(String),
    Bool(bool),
}

fn literal(node: &Node) -> Option<Literal> {
    match &node.node {
        Some(N::AConst(c)) => match &c.val {
            Some(protobuf::a_const::Val::Ival(i)) => Some(Literal::Int(i.ival.to_string())),
            Some(protobuf::a_const::Val::Sval(s)) => Some(Literal::Str(s.sval.clone())),
            Some(protobuf::a_const::Val::Boolval(b)) => Some(Literal::Bool(b.boolval)),
            _ => None,
        },
        // `'x'::text`: the text is the value for text-like comparisons.
        Some(N::TypeCast(tc)) => match tc.arg.as_deref().and_then(literal) {
            Some(Literal::Str(s)) => {
                let ty = tc
                    .type_name
                    .as_ref()
                    .map(|t| strings(&t.names).join("."))
                    .unwrap_or_default();
                matches!(
                    ty.as_str(),
                    "text" | "pg_catalog.text" | "varchar" | "pg_catalog.varchar" | "name"
                )
                .then_some(Literal::Str(s))
            }
            other => other,
        },
        _ => None,
    }
}

impl Source {
    fn is_tenant_value(&self) -> bool {
        matches!(self, Source::TenantClaim { .. } | Source::Trusted { .. })
    }
}

/// One question an analysis asked about the table it analyses (or about RLS on a table its
/// policy reads), with the answer it got. The analysis is a function of the policy text, the
/// tenant key, the role and these answers: its result holds for any other table on which every
/// recorded question gets the same answer (see `AccessModel::build`'s cross-table memo).
#[derive(Debug, Clone, PartialEq)]
pub enum Dependency {
    HasColumn(String, bool),
    IsTableName(String, bool),
    ReadIsBound(QualifiedName, bool),
}

/// Whether every recorded answer is the same for `table` (and the role's `read_is_bound`).
pub fn dependencies_hold(
    dependencies: &[Dependency],
    table: &Relation,
    read_is_bound: &dyn Fn(&QualifiedName) -> bool,
) -> bool {
    dependencies.iter().all(|d| match d {
        Dependency::HasColumn(c, answer) => table.column(c).is_some() == *answer,
        Dependency::IsTableName(n, answer) => (*n == table.name) == *answer,
        Dependency::ReadIsBound(t, answer) => read_is_bound(t) == *answer,
    })
}

/// The tenant key of a table, if it has one.
pub type KeyOf<'a> = dyn Fn(&QualifiedName) -> Option<&'a str> + 'a;

/// Where to look things up while analysing policies of one table for one role.
pub struct Env<'a> {
    pub snapshot: &'a Snapshot,
    pub table: &'a Relation,
    /// The tenant key of `table` (the root's key for the root); `None` if tenanted indirectly.
    pub tenant_key: Option<&'a str>,
    /// Settings the application sets server-side with the tenant (`[rls] trusted_settings`).
    pub trusted_settings: &'a [String],
    /// Whether reading `table` inside a policy (RLS applies there too) only shows the caller's
    /// tenant, for the role being analysed.
    pub table_is_bound: &'a dyn Fn(&QualifiedName) -> bool,
    pub observations: RefCell<Vec<Observation>>,
    /// Every question asked about `table` and `table_is_bound`, in order, without repeats.
    pub dependencies: RefCell<Vec<Dependency>>,
    params: RefCell<Vec<HashMap<String, Node>>>,
    /// Owners of the SECURITY DEFINER helpers being inlined: inside them, RLS of the tables they
    /// read applies to the owner, not the caller.
    definers: RefCell<Vec<String>>,
    /// The API role being analysed (empty: unknown, role checks are not decided).
    role: &'a str,
    /// The analysed role carries no user identity (Supabase's `anon`: its JWT has no `sub`),
    /// so `auth.uid()` is NULL and nothing compared equal to it is ever true.
    anonymous: bool,
    /// Tables that hold no tenant rows and that no API role can write: who is listed there was
    /// put there by the operator (platform admins).
    admin_table: Option<&'a dyn Fn(&QualifiedName) -> bool>,
    /// The tenant key of another table (for predicates on a sub-query's tables).
    key_of: Option<&'a KeyOf<'a>>,
    /// The alias the analysed table goes by, when it is a sub-query's table.
    alias: Option<String>,
}

const MAX_DEPTH: usize = 6;

/// How a platform-admin check is described (the start of its `Fact::Bound` reason).
pub const PLATFORM_ADMIN: &str = "the caller is a platform admin";

fn strings(nodes: &[Node]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|n| match &n.node {
            Some(N::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect()
}

fn const_str(node: &Node) -> Option<String> {
    match &node.node {
        Some(N::AConst(c)) => match &c.val {
            Some(protobuf::a_const::Val::Sval(s)) => Some(s.sval.clone()),
            _ => None,
        },
        Some(N::TypeCast(tc)) => tc.arg.as_deref().and_then(const_str),
        _ => None,
    }
}

/// Parses one SQL expression (as `pg_get_expr` prints it).
pub fn parse_expr(sql: &str) -> Result<Node, String> {
    let select = parse_select(&format!("SELECT {sql}"))?;
    select
        .target_list
        .into_iter()
        .next()
        .and_then(|t| match t.node {
            Some(N::ResTarget(rt)) => rt.val.map(|v| *v),
            _ => None,
        })
        .ok_or_else(|| format!("not an expression: {sql}"))
}

/// Parses the last statement of `sql` as a SELECT (a SQL function body, a view definition).
pub fn parse_select(sql: &str) -> Result<SelectStmt, String> {
    let parsed =
        pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).map_err(|e| e.to_string())?;
    match parsed
        .protobuf
        .stmts
        .into_iter()
        .last()
        .and_then(|s| s.stmt)
        .and_then(|s| s.node)
    {
        Some(N::SelectStmt(s)) => Ok(*s),
        _ => Err("not a SELECT".into()),
    }
}

/// SQL text of a sub-expression, for witnesses. The node is put into a parsed `SELECT 1`
/// (a hand-built statement would leave enum fields the C deparser rejects).
pub fn deparse(node: &Node) -> String {
    // Deparsing goes through libpg_query's C deparser and costs far more than the analysis;
    // schemas repeat the same policy on every table, so identical nodes are deparsed once.
    thread_local! {
        static CACHE: RefCell<HashMap<Vec<u8>, String>> = RefCell::new(HashMap::new());
    }
    let key = prost::Message::encode_to_vec(node);
    if let Some(hit) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return hit;
    }
    let text = deparse_uncached(node);
    CACHE.with(|c| c.borrow_mut().insert(key, text.clone()));
    text
}

fn deparse_uncached(node: &Node) -> String {
    let Ok(mut parsed) = pg_query::parse("SELECT 1", pg_query::ParserOptions::DEFAULT) else {
        return "<expression>".into();
    };
    let Some(Some(N::SelectStmt(select))) = parsed
        .protobuf
        .stmts
        .get_mut(0)
        .and_then(|s| s.stmt.as_mut())
        .map(|s| &mut s.node)
    else {
        return "<expression>".into();
    };
    if let Some(Some(N::ResTarget(rt))) = select.target_list.get_mut(0).map(|t| &mut t.node) {
        rt.val = Some(Box::new(node.clone()));
    }
    pg_query::deparse(&parsed.protobuf, pg_query::DeparseOptions::default())
        .map(|s| s.strip_prefix("SELECT ").unwrap_or(&s).to_string())
        .unwrap_or_else(|_| "<expression>".into())
}

/// Every table a SELECT reads (FROM, JOINs and subqueries), schema defaulting to `public`.
pub fn tables_read(node: &Node) -> Vec<QualifiedName> {
    let mut out = vec![];
    collect_tables(node, &mut out);
    out.sort();
    out.dedup();
    out
}

fn collect_tables(node: &Node, out: &mut Vec<QualifiedName>) {
    let Some(n) = &node.node else { return };
    for (child, _, _, _) in n.nodes() {
        if let pg_query::NodeRef::RangeVar(rv) = child {
            let schema = if rv.schemaname.is_empty() {
                "public".to_string()
            } else {
                rv.schemaname.clone()
            };
            out.push(QualifiedName::new(schema, rv.relname.clone()));
        }
    }
}

/// Why a lookup sub-query's rows are not known to be the caller's.
enum Untrusted {
    /// Understood, and not tied to the caller: other tenants' values come through.
    Open(String),
    /// Not understood: neither bound nor open can be claimed.
    Unknown(String),
}

impl Untrusted {
    fn reason(&self) -> &str {
        match self {
            Untrusted::Open(r) | Untrusted::Unknown(r) => r,
        }
    }
}

/// A FROM item of a sub-query.
enum Item {
    Table {
        name: QualifiedName,
        alias: String,
    },
    /// A set-returning helper (`FROM my_orgs() o`): its call.
    Func {
        call: Box<Node>,
        alias: String,
    },
}

impl Item {
    fn alias(&self) -> &str {
        match self {
            Item::Table { alias, .. } | Item::Func { alias, .. } => alias,
        }
    }

    fn name(&self) -> String {
        match self {
            Item::Table { name, .. } => name.to_string(),
            Item::Func { call, .. } => deparse(call),
        }
    }
}

/// A sub-query's FROM items and the conjuncts that must hold for a row of it: its WHERE and the
/// ON clauses of inner joins (an outer join's ON filters nothing on its preserved side).
struct Scope<'n> {
    items: Vec<Item>,
    conds: Vec<&'n Node>,
    /// `JOIN … USING (col)` of inner joins: the items on both sides that have the column.
    using_edges: Vec<(usize, usize, String)>,
    unsupported: Option<String>,
}

impl<'n> Scope<'n> {
    fn of(sel: &'n SelectStmt) -> Scope<'n> {
        let mut s = Scope {
            items: vec![],
            conds: vec![],
            using_edges: vec![],
            unsupported: None,
        };
        for f in &sel.from_clause {
            s.add(f);
        }
        if let Some(w) = sel.where_clause.as_deref() {
            s.conds.extend(conjuncts(w));
        }
        s
    }

    fn add(&mut self, node: &'n Node) {
        match &node.node {
            Some(N::RangeVar(rv)) => {
                let schema = if rv.schemaname.is_empty() {
                    "public".to_string()
                } else {
                    rv.schemaname.clone()
                };
                let alias = rv
                    .alias
                    .as_ref()
                    .map(|a| a.aliasname.clone())
                    .unwrap_or_else(|| rv.relname.clone());
                self.items.push(Item::Table {
                    name: QualifiedName::new(schema, rv.relname.clone()),
                    alias,
                });
            }
            Some(N::RangeFunction(rf)) => {
                let call = rf.functions.first().and_then(|f| match &f.node {
                    Some(N::List(l)) => l.items.first().cloned(),
                    _ => None,
                });
                match call {
                    Some(
                        call @ Node {
                            node: Some(N::FuncCall(_)),
                        },
                    ) if rf.functions.len() == 1 => {
                        let alias = rf
                            .alias
                            .as_ref()
                            .map(|a| a.aliasname.clone())
                            .unwrap_or_else(|| match &call.node {
                                Some(N::FuncCall(fc)) => {
                                    strings(&fc.funcname).last().cloned().unwrap_or_default()
                                }
                                _ => String::new(),
                            });
                        self.items.push(Item::Func {
                            call: Box::new(call),
                            alias,
                        });
                    }
                    _ => self.unsupported = Some(deparse(node)),
                }
            }
            Some(N::JoinExpr(j)) => {
                let start = self.items.len();
                if let Some(l) = j.larg.as_deref() {
                    self.add(l);
                }
                let mid = self.items.len();
                if let Some(r) = j.rarg.as_deref() {
                    self.add(r);
                }
                if j.jointype == protobuf::JoinType::JoinInner as i32 {
                    if let Some(q) = j.quals.as_deref() {
                        self.conds.extend(conjuncts(q));
                    }
                    // Which items have the column is known from the snapshot (join_graph).
                    for col in strings(&j.using_clause) {
                        for a in start..mid {
                            for b in mid..self.items.len() {
                                self.using_edges.push((a, b, col.clone()));
                            }
                        }
                    }
                }
            }
            _ => self.unsupported = Some(deparse(node)),
        }
    }
}

const CURRENT_USER: &str = "filtered by the current user";

/// Union-find over a sub-query's items plus two nodes: the caller and the checked row.
struct Graph {
    parent: Vec<usize>,
    /// `item.column = auth.uid()` conjuncts.
    user_filters: Vec<(usize, String)>,
    /// Item columns joined to another item or to the row.
    links: Vec<(usize, String)>,
    /// How an item came to be the caller's, by item.
    how: Vec<Option<String>>,
    unknown: Option<String>,
    /// A conjunct compares with `auth.uid()` for a caller that has none: no row qualifies.
    never: bool,
}

impl Graph {
    fn new(items: usize) -> Graph {
        Graph {
            parent: (0..items + 2).collect(),
            user_filters: vec![],
            links: vec![],
            how: vec![None; items + 2],
            unknown: None,
            never: false,
        }
    }

    fn caller(&self) -> usize {
        self.parent.len() - 2
    }

    fn row(&self) -> usize {
        self.parent.len() - 1
    }

    fn find(&self, mut i: usize) -> usize {
        while self.parent[i] != i {
            i = self.parent[i];
        }
        i
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra] = rb;
        }
    }

    fn connected(&self, a: usize, b: usize) -> bool {
        self.find(a) == self.find(b)
    }

    fn tie_caller(&mut self, i: usize, how: String) {
        if self.how[i].is_none() {
            self.how[i] = Some(how);
        }
        let c = self.caller();
        self.union(i, c);
    }

    /// Says how item `i` is the caller's: through the first item of its group tied directly.
    fn how(&self, scope: &Scope, i: usize) -> String {
        let direct = (0..scope.items.len())
            .find(|&j| self.connected(j, i) && self.how[j].is_some())
            .unwrap_or(i);
        let name = scope.items.get(direct).map(Item::name).unwrap_or_default();
        match &self.how[direct] {
            Some(h) => format!("{name} {h}"),
            None => name,
        }
    }
}

/// What one side of a sub-query's `=` is.
enum Term {
    /// A column of the sub-query's item: the item and the column.
    Inner(usize, String),
    /// A column of the checked row.
    Outer(#[allow(dead_code)] String),
    /// The caller's identity or tenant (how, for the explanation).
    Caller(String),
    Other,
    Unknown(String),
}

/// The first column reference in an expression (the column a target list selects).
fn find_column_ref<'n>(node: &'n Node, out: &mut Option<&'n Node>) {
    if out.is_some() {
        return;
    }
    if let Some(N::ColumnRef(_)) = &node.node {
        *out = Some(node);
        return;
    }
    match &node.node {
        Some(N::TypeCast(tc)) => {
            if let Some(a) = tc.arg.as_deref() {
                find_column_ref(a, out)
            }
        }
        Some(N::FuncCall(fc)) => {
            for a in &fc.args {
                find_column_ref(a, out)
            }
        }
        Some(N::AExpr(ae)) => {
            for a in [ae.lexpr.as_deref(), ae.rexpr.as_deref()]
                .into_iter()
                .flatten()
            {
                find_column_ref(a, out)
            }
        }
        _ => {}
    }
}

fn first_target(sel: &SelectStmt) -> Option<&Node> {
    sel.target_list.first().and_then(|t| match &t.node {
        Some(N::ResTarget(rt)) => rt.val.as_deref(),
        _ => None,
    })
}

fn conjuncts(node: &Node) -> Vec<&Node> {
    match &node.node {
        Some(N::BoolExpr(b)) if b.boolop == protobuf::BoolExprType::AndExpr as i32 => {
            b.args.iter().flat_map(conjuncts).collect()
        }
        _ => vec![node],
    }
}

impl<'a> Env<'a> {
    pub fn new(
        snapshot: &'a Snapshot,
        table: &'a Relation,
        tenant_key: Option<&'a str>,
        trusted_settings: &'a [String],
        table_is_bound: &'a dyn Fn(&QualifiedName) -> bool,
    ) -> Self {
        Env {
            snapshot,
            table,
            tenant_key,
            trusted_settings,
            table_is_bound,
            observations: RefCell::new(vec![]),
            dependencies: RefCell::new(vec![]),
            params: RefCell::new(vec![]),
            definers: RefCell::new(vec![]),
            role: "",
            anonymous: false,
            admin_table: None,
            key_of: None,
            alias: None,
        }
    }

    /// The API role the policies are analysed for: role checks (`auth.role() = 'service_role'`)
    /// are then decided, since the role claim is signed and is the role PostgREST switched to.
    pub fn with_role(mut self, role: &'a str) -> Self {
        self.role = role;
        self
    }

    /// Whether the analysed role has no user identity (`auth.uid()` is NULL for it).
    pub fn anonymous(mut self, yes: bool) -> Self {
        self.anonymous = yes;
        self
    }

    /// Where platform-admin lookups may point (see [`Env::admin_table`]).
    pub fn with_admin_tables(mut self, admin_table: &'a dyn Fn(&QualifiedName) -> bool) -> Self {
        self.admin_table = Some(admin_table);
        self
    }

    /// How to find other tables' tenant keys (for helpers applied to a sub-query's table).
    pub fn with_tenant_keys(mut self, key_of: &'a KeyOf<'a>) -> Self {
        self.key_of = Some(key_of);
        self
    }

    fn observe(&self, o: Observation) {
        let mut obs = self.observations.borrow_mut();
        if !obs.contains(&o) {
            obs.push(o);
        }
    }

    fn depends(&self, d: Dependency) {
        let mut deps = self.dependencies.borrow_mut();
        if !deps.contains(&d) {
            deps.push(d);
        }
    }

    /// Whether the analysed table has column `name` (recorded, see [`Dependency`]).
    fn has_column(&self, name: &str) -> bool {
        let answer = self.table.column(name).is_some();
        self.depends(Dependency::HasColumn(name.to_string(), answer));
        answer
    }

    /// Whether `name` is the analysed table's name (recorded, see [`Dependency`]).
    fn is_table_name(&self, name: &str) -> bool {
        let answer = name == self.table.name;
        self.depends(Dependency::IsTableName(name.to_string(), answer));
        answer
    }

    fn depth(&self) -> usize {
        self.params.borrow().len()
    }

    /// The analysis of a whole policy expression.
    pub fn fact_of(&self, sql: &str) -> Fact {
        match parse_expr(sql) {
            Ok(node) => self.fact(&node),
            Err(e) => Fact::Unknown {
                reason: format!("could not parse the policy: {e}"),
            },
        }
    }

    /// A column of the checked row, if `fields` names one (unqualified, or qualified with the
    /// table's name) and not a parameter of an inlined helper.
    fn own_column(&self, fields: &[String]) -> Option<String> {
        let (qualifier, col) = match fields {
            [c] => (None, c),
            [q, c] => (Some(q), c),
            [_, q, c] => (Some(q), c),
            _ => return None,
        };
        if qualifier
            .is_some_and(|q| self.alias.as_deref() != Some(q.as_str()) && !self.is_table_name(q))
        {
            return None;
        }
        self.has_column(col).then(|| col.clone())
    }

    fn param(&self, name: &str) -> Option<Node> {
        self.params
            .borrow()
            .last()
            .and_then(|frame| frame.get(name).cloned())
    }

    fn function(&self, parts: &[String], nargs: usize) -> Option<&'a Function> {
        let (schema, name) = match parts {
            [n] => (None, n),
            [s, n] => (Some(s), n),
            _ => return None,
        };
        let candidates = self.snapshot.functions.iter().filter(|f| {
            &f.name == name
                && schema.is_none_or(|s| &f.schema == s)
                && f.identity_arguments
                    .split(',')
                    .filter(|a| !a.trim().is_empty())
                    .count()
                    == nargs
        });
        // Unqualified: the search path's usual order.
        let mut found: Vec<&Function> = candidates.collect();
        found.sort_by_key(|f| match f.schema.as_str() {
            "public" => 0,
            "auth" => 1,
            _ => 2,
        });
        found.into_iter().next()
    }

    /// Runs `f` with a helper's parameters bound to the call's arguments.
    fn with_params<T>(&self, func: &Function, args: &[Node], f: impl FnOnce() -> T) -> Option<T> {
        if self.depth() >= MAX_DEPTH {
            return None;
        }
        let mut frame = HashMap::new();
        for (i, (decl, arg)) in func
            .identity_arguments
            .split(',')
            .map(str::trim)
            .zip(args)
            .enumerate()
        {
            frame.insert(format!("${}", i + 1), arg.clone());
            let words: Vec<&str> = decl.split_whitespace().collect();
            if words.len() >= 2 && !matches!(words[0], "IN" | "OUT" | "INOUT" | "VARIADIC") {
                frame.insert(words[0].to_string(), arg.clone());
            } else if words.len() >= 3 {
                frame.insert(words[1].to_string(), arg.clone());
            }
        }
        self.params.borrow_mut().push(frame);
        if func.security_definer {
            self.definers.borrow_mut().push(func.owner.clone());
        }
        let out = f();
        if func.security_definer {
            self.definers.borrow_mut().pop();
        }
        self.params.borrow_mut().pop();
        Some(out)
    }

    /// The SELECT a SQL helper's body is, if it is one. Parsed once per body and thread: the
    /// same helper is inlined in the policies of every table.
    fn sql_body(func: &Function) -> Option<std::rc::Rc<SelectStmt>> {
        thread_local! {
            static CACHE: RefCell<HashMap<String, Option<std::rc::Rc<SelectStmt>>>> =
                RefCell::new(HashMap::new());
        }
        if func.language != "sql" && func.language != "plpgsql" {
            return None;
        }
        let key = format!("{}\u{0}{}", func.language, func.body);
        if let Some(hit) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
            return hit;
        }
        let body = if func.language == "sql" {
            parse_select(&func.body).ok()
        } else {
            // `BEGIN RETURN <expr>; END` is `SELECT <expr>`; `RETURN QUERY <select>` the select.
            // Guards before the return only raise: they admit nothing more.
            match crate::plpgsql::simple_return(func) {
                Some(crate::plpgsql::Returns::Expr(e)) => parse_select(&format!("SELECT {e}")).ok(),
                Some(crate::plpgsql::Returns::Query(q)) => parse_select(&q).ok(),
                None => None,
            }
        }
        .map(std::rc::Rc::new);
        CACHE.with(|c| c.borrow_mut().insert(key, body.clone()));
        body
    }

    fn classify(&self, node: &Node, wrapped: bool) -> Source {
        let text = || deparse(node);
        match &node.node {
            Some(N::TypeCast(tc)) => tc
                .arg
                .as_deref()
                .map(|a| self.classify(a, wrapped))
                .unwrap_or_else(|| Source::Unknown(text())),
            Some(N::AConst(_)) => Source::Const(literal(node)),
            Some(N::SqlvalueFunction(f)) => {
                match protobuf::SqlValueFunctionOp::try_from(f.op) {
                    // In a policy, current_user is the API role; inside a SECURITY DEFINER
                    // helper it is the helper's owner.
                    Ok(protobuf::SqlValueFunctionOp::SvfopCurrentUser)
                    | Ok(protobuf::SqlValueFunctionOp::SvfopCurrentRole)
                    | Ok(protobuf::SqlValueFunctionOp::SvfopUser) => {
                        Source::RoleClaim(self.definers.borrow().is_empty())
                    }
                    Ok(protobuf::SqlValueFunctionOp::SvfopSessionUser) => Source::RoleClaim(false),
                    _ => Source::Unknown(text()),
                }
            }
            Some(N::ParamRef(p)) => match self.param(&format!("${}", p.number)) {
                Some(arg) => self.classify_outside(&arg, wrapped),
                None => Source::Unknown(text()),
            },
            Some(N::ColumnRef(c)) => {
                let fields = strings(&c.fields);
                if let [name] = fields.as_slice() {
                    if let Some(arg) = self.param(name) {
                        return self.classify_outside(&arg, wrapped);
                    }
                }
                match self.own_column(&fields) {
                    Some(col) => Source::Column(col),
                    None => Source::Unknown(text()),
                }
            }
            Some(N::CoalesceExpr(co)) => {
                let parts: Vec<Source> =
                    co.args.iter().map(|a| self.classify(a, wrapped)).collect();
                if parts.iter().skip(1).any(|p| matches!(p, Source::Column(_))) {
                    self.observe(Observation::Fallback { text: text() });
                    return Source::Fallback;
                }
                parts
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| Source::Unknown(text()))
            }
            Some(N::SubLink(sl))
                if sl.sub_link_type == protobuf::SubLinkType::ExprSublink as i32 =>
            {
                let Some(Some(N::SelectStmt(sel))) = sl.subselect.as_ref().map(|s| &s.node) else {
                    return Source::Unknown(text());
                };
                if sel.from_clause.is_empty() {
                    match sel.target_list.first().and_then(|t| match &t.node {
                        Some(N::ResTarget(rt)) => rt.val.as_deref(),
                        _ => None,
                    }) {
                        Some(v) => self.classify(v, true),
                        None => Source::Unknown(text()),
                    }
                } else {
                    self.subquery_source(sel, &text())
                }
            }
            Some(N::AExpr(ae)) => {
                let op = strings(&ae.name).join("");
                if matches!(op.as_str(), "->>" | "->" | "#>>" | "#>") {
                    let left = ae
                        .lexpr
                        .as_deref()
                        .map(|l| self.classify(l, wrapped))
                        .unwrap_or_else(|| Source::Unknown(text()));
                    let Some(key) = ae.rexpr.as_deref().and_then(const_str) else {
                        return Source::Unknown(text());
                    };
                    let keys: Vec<String> = if op.starts_with('#') {
                        key.trim_matches(|c| c == '{' || c == '}')
                            .split(',')
                            .map(|k| k.trim().trim_matches('"').to_string())
                            .collect()
                    } else {
                        vec![key]
                    };
                    let mut src = left;
                    for k in keys {
                        src = self.json_step(src, &k, &text);
                    }
                    return src;
                }
                Source::Unknown(text())
            }
            Some(N::FuncCall(fc)) => self.classify_call(fc, wrapped, node),
            _ => Source::Unknown(text()),
        }
    }

    /// Parameters of an inlined helper are expressions of the caller: classify them there.
    fn classify_outside(&self, arg: &Node, wrapped: bool) -> Source {
        let frame = self.params.borrow_mut().pop();
        let out = self.classify(arg, wrapped);
        if let Some(frame) = frame {
            self.params.borrow_mut().push(frame);
        }
        out
    }

    fn json_step(&self, src: Source, key: &str, text: &dyn Fn() -> String) -> Source {
        match src {
            Source::JwtRoot => match key {
                "sub" | "email" => Source::CurrentUser,
                "role" => Source::RoleClaim(true),
                "aud" | "aal" => Source::RoleClaim(false),
                "user_metadata" | "raw_user_meta_data" => Source::JwtObject {
                    path: vec![key.into()],
                    trusted: false,
                },
                "app_metadata" | "raw_app_meta_data" => Source::JwtObject {
                    path: vec![key.into()],
                    trusted: true,
                },
                _ => {
                    self.observe(Observation::Claim {
                        path: key.into(),
                        text: text(),
                    });
                    Source::TenantClaim { path: key.into() }
                }
            },
            Source::JwtObject { mut path, trusted } => {
                path.push(key.into());
                if trusted {
                    let path = path.join(".");
                    self.observe(Observation::Claim {
                        path: path.clone(),
                        text: text(),
                    });
                    Source::TenantClaim { path }
                } else {
                    self.observe(Observation::UntrustedClaim { text: text() });
                    Source::UntrustedClaim
                }
            }
            Source::UntrustedClaim => Source::UntrustedClaim,
            other => Source::Unknown(format!("{} (a JSON key of {other:?})", text())),
        }
    }

    fn classify_call(&self, fc: &protobuf::FuncCall, wrapped: bool, node: &Node) -> Source {
        let name = strings(&fc.funcname);
        let text = || deparse(node);
        let per_row = |s: Source| {
            if !wrapped && self.depth() == 0 {
                self.observe(Observation::AuthCallPerRow { text: text() });
            }
            s
        };
        match name
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["auth", "jwt"] => return per_row(Source::JwtRoot),
            ["auth", "uid"] | ["auth", "email"] => return per_row(Source::CurrentUser),
            ["auth", "role"] => return per_row(Source::RoleClaim(true)),
            ["current_user"] => return Source::RoleClaim(self.definers.borrow().is_empty()),
            ["session_user"] => return Source::RoleClaim(false),
            ["current_setting"] | ["pg_catalog", "current_setting"] => {
                let setting = fc.args.first().and_then(const_str).unwrap_or_default();
                return per_row(match setting.as_str() {
                    "request.jwt.claims" => Source::JwtRoot,
                    "request.jwt.claim.sub" => Source::CurrentUser,
                    "request.jwt.claim.role" => Source::RoleClaim(true),
                    s if s.starts_with("request.jwt.claim.") => {
                        let path = s["request.jwt.claim.".len()..].to_string();
                        self.observe(Observation::Claim {
                            path: path.clone(),
                            text: text(),
                        });
                        Source::TenantClaim { path }
                    }
                    s if self.trusted_settings.iter().any(|t| t == s) => Source::TenantClaim {
                        path: format!("setting {s}"),
                    },
                    s => Source::Unknown(format!(
                        "{}: the tenant comes from setting {s:?}, which a client may be able to SET; list it in [rls] trusted_settings if the application sets it server-side",
                        text()
                    )),
                });
            }
            ["nullif"] | ["pg_catalog", "nullif"] => {
                return fc
                    .args
                    .first()
                    .map(|a| self.classify(a, wrapped))
                    .unwrap_or_else(|| Source::Unknown(text()));
            }
            _ => {}
        }
        let Some(func) = self.function(&name, fc.args.len()) else {
            return Source::Unknown(format!("{}: unknown function", text()));
        };
        let Some(body) = Self::sql_body(func) else {
            return Source::Unknown(format!(
                "{}: helper {}.{} is {} (only SQL helpers are inlined)",
                text(),
                func.schema,
                func.name,
                func.language
            ));
        };
        self.with_params(func, &fc.args, || {
            if body.from_clause.is_empty() {
                match body.target_list.first().and_then(|t| match &t.node {
                    Some(N::ResTarget(rt)) => rt.val.as_deref(),
                    _ => None,
                }) {
                    Some(v) => self.classify(v, wrapped),
                    None => Source::Unknown(text()),
                }
            } else {
                self.subquery_source(&body, &text())
            }
        })
        .unwrap_or_else(|| Source::Unknown(format!("{}: helpers nested too deeply", text())))
    }

    /// A lookup subquery (`SELECT org_id FROM members WHERE user_id = auth.uid()`): it yields
    /// the caller's tenants if its rows are filtered by the current user or a tenant claim, or
    /// if the table it reads is itself tenant-bound by RLS for this role.
    fn subquery_source(&self, sel: &SelectStmt, text: &str) -> Source {
        if self.selects_user_metadata(sel) {
            self.observe(Observation::UntrustedClaim { text: text.into() });
            return Source::UntrustedClaim;
        }
        match self.subquery_trust(sel) {
            Ok(how) => Source::Trusted { how },
            Err(Untrusted::Open(why)) => Source::Foreign(format!("{text}: {why}")),
            Err(Untrusted::Unknown(why)) => Source::Unknown(format!("{text}: {why}")),
        }
    }

    /// The table whose primary key a sub-query selects (`SELECT id FROM quotes WHERE …`,
    /// `SELECT q.id FROM quotes q JOIN …`): its values are row ids, not tenants.
    fn selects_row_ids(&self, sel: &SelectStmt) -> Option<QualifiedName> {
        let scope = Scope::of(sel);
        let target = first_target(sel)?;
        if !matches!(target.node, Some(N::ColumnRef(_))) {
            return None;
        }
        let Term::Inner(i, col) = self.term(&scope, target) else {
            return None;
        };
        let Item::Table { name, .. } = &scope.items[i] else {
            return None;
        };
        let rel = self.snapshot.relation(name)?;
        let pk = rel.primary_key()?;
        (pk.columns.len() == 1 && pk.columns[0] == col).then(|| name.clone())
    }

    /// `SELECT raw_user_meta_data ->> 'org' FROM auth.users WHERE id = auth.uid()`: filtered by
    /// the current user, but the value is one the user can edit.
    fn selects_user_metadata(&self, sel: &SelectStmt) -> bool {
        fn base_column(n: &Node) -> Option<String> {
            match &n.node {
                Some(N::ColumnRef(c)) => strings(&c.fields).last().cloned(),
                Some(N::TypeCast(tc)) => tc.arg.as_deref().and_then(base_column),
                Some(N::AExpr(ae)) => ae.lexpr.as_deref().and_then(base_column),
                _ => None,
            }
        }
        first_target(sel)
            .and_then(base_column)
            .is_some_and(|c| matches!(c.as_str(), "raw_user_meta_data" | "user_metadata"))
    }

    /// Whether reading `table` inside the policy shows only the caller's tenant: its RLS binds
    /// the caller — unless a SECURITY DEFINER helper reads it as an owner that bypasses RLS.
    fn read_is_bound(&self, table: &QualifiedName) -> bool {
        if let Some(owner) = self.definers.borrow().last() {
            if let Some(rel) = self.snapshot.relation(table) {
                if crate::model::owner_bypasses(self.snapshot, owner, rel) {
                    return false;
                }
            }
        }
        let answer = (self.table_is_bound)(table);
        self.depends(Dependency::ReadIsBound(table.clone(), answer));
        answer
    }

    /// What a lookup sub-query's rows are: the caller's (`Ok(how)`), someone else's too
    /// (`Untrusted::Open`), or not understood (`Untrusted::Unknown`). Judged on the sub-query's
    /// join graph: its FROM items (tables, JOINs, set-returning helpers) are nodes, the
    /// conjuncts `a.x = b.y` of its WHERE and inner-join ON clauses are edges, and an item is
    /// the caller's when an edge ties it to the current user or a tenant claim, or when its own
    /// RLS keeps it to the caller's tenant. The values selected are the caller's tenants when
    /// the item they come from is connected to the caller.
    fn subquery_trust(&self, sel: &SelectStmt) -> Result<String, Untrusted> {
        let scope = Scope::of(sel);
        if scope.items.is_empty() {
            // (SELECT my_orgs()): the value of a helper or a claim.
            return match first_target(sel).map(|t| self.classify(t, true)) {
                Some(Source::Trusted { how }) => Ok(how),
                Some(Source::TenantClaim { path }) => Ok(format!("claim {path}")),
                Some(Source::Unknown(why)) => Err(Untrusted::Unknown(why)),
                Some(Source::Foreign(why)) => Err(Untrusted::Open(why)),
                Some(other) => Err(Untrusted::Open(format!("the subquery yields {other:?}"))),
                None => Err(Untrusted::Unknown("the subquery reads no table".into())),
            };
        }
        let g = self.join_graph(&scope);
        if g.never {
            return Ok("no row: the caller has no user id, so auth.uid() is NULL".into());
        }
        let target = first_target(sel).and_then(|t| {
            let mut col = None;
            find_column_ref(t, &mut col);
            col
        });
        let target_item = match target.map(|c| self.term(&scope, c)) {
            Some(Term::Inner(i, _)) => Some(i),
            Some(Term::Unknown(why)) => return Err(Untrusted::Unknown(why)),
            _ => None,
        };
        let trusted = match target_item {
            Some(i) => g.connected(i, g.caller()),
            // A constant or an expression of no item: every item must be the caller's.
            None => (0..scope.items.len()).all(|i| g.connected(i, g.caller())),
        };
        if trusted {
            if let (
                Some(i),
                Some(Node {
                    node: Some(N::ColumnRef(c)),
                }),
            ) = (target_item, target)
            {
                if let Some(value) = strings(&c.fields).last() {
                    self.observe_lookups(&scope, &g, &[(i, value.clone())]);
                }
            }
            return Ok(g.how(&scope, target_item.unwrap_or(0)));
        }
        if let Some(why) = g.unknown.clone() {
            return Err(Untrusted::Unknown(why));
        }
        Err(Untrusted::Open(format!(
            "membership subquery on {} is not filtered by the current user",
            scope.items[target_item.unwrap_or(0)].name()
        )))
    }

    /// A column of the checked row: at the policy's own level, or anywhere when qualified with
    /// the alias of the sub-query item being judged as the row.
    fn row_column(&self, fields: &[String]) -> Option<String> {
        let aliased =
            matches!(fields, [q, _] | [_, q, _] if self.alias.as_deref() == Some(q.as_str()));
        if self.depth() == 0 || aliased {
            self.own_column(fields)
        } else {
            None
        }
    }

    /// The caller's expression a helper's parameter stands for (`_org`, `$1`).
    fn param_of(&self, node: &Node) -> Option<Node> {
        match &node.node {
            Some(N::ColumnRef(c)) => match strings(&c.fields).as_slice() {
                [name] => self.param(name),
                _ => None,
            },
            Some(N::ParamRef(p)) => self.param(&format!("${}", p.number)),
            _ => None,
        }
    }

    /// What one side of a sub-query's `=` refers to.
    fn term(&self, scope: &Scope, node: &Node) -> Term {
        if let Some(arg) = self.param_of(node) {
            // Resolved where the helper was called: one frame up.
            let frame = self.params.borrow_mut().pop();
            let t = self.outer_term(&arg);
            if let Some(frame) = frame {
                self.params.borrow_mut().push(frame);
            }
            return t;
        }
        if let Some(N::TypeCast(tc)) = &node.node {
            if let Some(a) = tc.arg.as_deref() {
                return self.term(scope, a);
            }
        }
        let Some(N::ColumnRef(c)) = &node.node else {
            return self.value_term(node);
        };
        let fields = strings(&c.fields);
        let (qualifier, col) = match fields.as_slice() {
            [c] => (None, c),
            [q, c] | [_, q, c] => (Some(q), c),
            _ => return Term::Unknown(deparse(node)),
        };
        match qualifier {
            Some(q) => {
                if let Some(i) = scope.items.iter().position(|it| it.alias() == q) {
                    return Term::Inner(i, col.clone());
                }
                if let Some(col) = self.row_column(&fields) {
                    return Term::Outer(col);
                }
                Term::Unknown(deparse(node))
            }
            None => {
                if let Some(i) = scope.items.iter().position(|it| match it {
                    Item::Table { name, .. } => self
                        .snapshot
                        .relation(name)
                        .is_some_and(|r| r.column(col).is_some()),
                    Item::Func { .. } => false,
                }) {
                    return Term::Inner(i, col.clone());
                }
                if let Some(col) = self.row_column(&fields) {
                    return Term::Outer(col);
                }
                let funcs: Vec<usize> = (0..scope.items.len())
                    .filter(|&i| matches!(scope.items[i], Item::Func { .. }))
                    .collect();
                match funcs.as_slice() {
                    [i] => Term::Inner(*i, col.clone()),
                    _ => Term::Unknown(deparse(node)),
                }
            }
        }
    }

    /// A caller's expression a parameter stood for: the checked row's column, or a value.
    fn outer_term(&self, arg: &Node) -> Term {
        if let Some(inner) = self.param_of(arg) {
            let frame = self.params.borrow_mut().pop();
            let t = self.outer_term(&inner);
            if let Some(frame) = frame {
                self.params.borrow_mut().push(frame);
            }
            return t;
        }
        match &arg.node {
            Some(N::TypeCast(tc)) if tc.arg.is_some() => {
                self.outer_term(tc.arg.as_deref().expect("checked"))
            }
            Some(N::ColumnRef(c)) => match self.row_column(&strings(&c.fields)) {
                Some(col) => Term::Outer(col),
                None => Term::Unknown(deparse(arg)),
            },
            _ => self.value_term(arg),
        }
    }

    fn value_term(&self, node: &Node) -> Term {
        match self.classify(node, true) {
            Source::CurrentUser => Term::Caller(CURRENT_USER.into()),
            Source::TenantClaim { path } => Term::Caller(format!("filtered by claim {path}")),
            Source::Trusted { how } => Term::Caller(format!("filtered by {how}")),
            Source::Unknown(why) => Term::Unknown(why),
            _ => Term::Other,
        }
    }

    /// The join graph of a sub-query (see [`Env::subquery_trust`]).
    fn join_graph(&self, scope: &Scope) -> Graph {
        let n = scope.items.len();
        let mut g = Graph::new(n);
        if let Some(u) = &scope.unsupported {
            g.unknown = Some(format!("{u}: FROM item not understood"));
        }
        let has = |i: usize, col: &str| match &scope.items[i] {
            Item::Table { name, .. } => self
                .snapshot
                .relation(name)
                .is_some_and(|r| r.column(col).is_some()),
            Item::Func { .. } => false,
        };
        for (a, b, col) in &scope.using_edges {
            if has(*a, col) && has(*b, col) {
                g.union(*a, *b);
            }
        }
        for (i, item) in scope.items.iter().enumerate() {
            if let Item::Func { call, .. } = item {
                match self.classify(call, true) {
                    Source::Trusted { how } => g.tie_caller(i, how),
                    Source::TenantClaim { path } => g.tie_caller(i, format!("claim {path}")),
                    Source::Unknown(why) => {
                        g.unknown.get_or_insert(why);
                    }
                    _ => {}
                }
            }
        }
        for c in &scope.conds {
            match &c.node {
                Some(N::AExpr(ae))
                    if strings(&ae.name).join("") == "="
                        && ae.kind == protobuf::AExprKind::AexprOp as i32 =>
                {
                    let (Some(l), Some(r)) = (ae.lexpr.as_deref(), ae.rexpr.as_deref()) else {
                        continue;
                    };
                    match (self.term(scope, l), self.term(scope, r)) {
                        (Term::Inner(i, a), Term::Inner(j, b)) => {
                            g.links.push((i, a));
                            g.links.push((j, b));
                            g.union(i, j)
                        }
                        (Term::Inner(i, c), Term::Outer(_))
                        | (Term::Outer(_), Term::Inner(i, c)) => {
                            g.links.push((i, c));
                            g.union(i, g.row())
                        }
                        (Term::Inner(i, c), Term::Caller(how))
                        | (Term::Caller(how), Term::Inner(i, c)) => {
                            if how == CURRENT_USER {
                                g.never |= self.anonymous;
                                g.user_filters.push((i, c));
                            }
                            g.tie_caller(i, how)
                        }
                        (Term::Outer(_), Term::Caller(_)) | (Term::Caller(_), Term::Outer(_)) => {
                            g.union(g.row(), g.caller())
                        }
                        (Term::Unknown(why), _) | (_, Term::Unknown(why)) => {
                            g.unknown.get_or_insert(why);
                        }
                        _ => {}
                    }
                }
                // `m.org_id IN (SELECT my_orgs())`, `is_member(p.org_id)`, a nested EXISTS:
                // a predicate on one item, judged with that item as the checked row.
                Some(N::SubLink(_)) | Some(N::FuncCall(_)) | Some(N::BoolExpr(_)) => {
                    if let Some(i) = self.single_item_of(scope, c) {
                        match self.item_fact(scope, i, c) {
                            Some(Fact::Bound { how }) => g.tie_caller(i, how),
                            Some(Fact::Unknown { reason }) => {
                                g.unknown.get_or_insert(reason);
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        // RLS applies inside policies: a table whose own policies keep it to the caller.
        for (i, item) in scope.items.iter().enumerate() {
            if let Item::Table { name, .. } = item {
                if !g.connected(i, g.caller()) && self.read_is_bound(name) {
                    g.tie_caller(i, "is itself tenant-bound by RLS".into());
                }
            }
        }
        g
    }

    /// Records the lookups a bound sub-query trusts: an item filtered by the current user whose
    /// `value` column carries the tenant onwards.
    fn observe_lookups(&self, scope: &Scope, g: &Graph, values: &[(usize, String)]) {
        for (i, user_column) in &g.user_filters {
            let Item::Table { name, .. } = &scope.items[*i] else {
                continue;
            };
            for (j, value) in values {
                if j == i && value != user_column && !value.is_empty() {
                    self.observe(Observation::TrustedLookup {
                        table: name.clone(),
                        user_column: user_column.clone(),
                        value_column: value.clone(),
                    });
                }
            }
        }
    }

    /// The one FROM item a predicate's columns refer to (qualified by its alias).
    fn single_item_of(&self, scope: &Scope, node: &Node) -> Option<usize> {
        let mut found: Option<usize> = None;
        let Some(n) = &node.node else { return None };
        for (child, ..) in n.nodes() {
            if let pg_query::NodeRef::ColumnRef(c) = child {
                let fields = strings(&c.fields);
                let i = match fields.as_slice() {
                    [q, _] | [_, q, _] => scope.items.iter().position(|it| it.alias() == q),
                    _ => None,
                }?;
                if found.is_some_and(|f| f != i) {
                    return None;
                }
                found = Some(i);
            }
        }
        found
    }

    /// A predicate about one FROM item, analysed as if that item's table were the checked row.
    fn item_fact(&self, scope: &Scope, i: usize, node: &Node) -> Option<Fact> {
        let Item::Table { name, alias } = &scope.items[i] else {
            return None;
        };
        let rel = self.snapshot.relation(name)?;
        let key = self.key_of.and_then(|k| k(name));
        let mut env = Env::new(
            self.snapshot,
            rel,
            key,
            self.trusted_settings,
            self.table_is_bound,
        );
        env.role = self.role;
        env.anonymous = self.anonymous;
        env.admin_table = self.admin_table;
        env.key_of = self.key_of;
        env.alias = Some(alias.clone());
        *env.params.borrow_mut() = self.params.borrow().clone();
        *env.definers.borrow_mut() = self.definers.borrow().clone();
        // Inside a helper, its parameters resolve one frame up; at the top, the item is the row.
        let fact = env.fact(node);
        for d in env.dependencies.borrow().iter() {
            if let Dependency::ReadIsBound(..) = d {
                self.depends(d.clone());
            }
        }
        for o in env.observations.borrow().iter() {
            if let Observation::TrustedLookup { .. } = o {
                self.observe(o.clone());
            }
        }
        Some(fact)
    }

    /// The fact of a predicate.
    pub fn fact(&self, node: &Node) -> Fact {
        let text = || deparse(node);
        match &node.node {
            Some(N::BoolExpr(b)) => {
                let args: Vec<Fact> = b.args.iter().map(|a| self.fact(a)).collect();
                match protobuf::BoolExprType::try_from(b.boolop) {
                    Ok(protobuf::BoolExprType::AndExpr) => Fact::and(args),
                    Ok(protobuf::BoolExprType::OrExpr) => {
                        // `auth.uid() IS NULL OR …` opens rows for callers without the claim.
                        for a in &b.args {
                            if let Some(N::NullTest(nt)) = &a.node {
                                if nt.nulltesttype == protobuf::NullTestType::IsNull as i32 {
                                    if let Some(arg) = nt.arg.as_deref() {
                                        if matches!(
                                            self.classify(arg, true),
                                            Source::CurrentUser
                                                | Source::TenantClaim { .. }
                                                | Source::JwtRoot
                                        ) {
                                            self.observe(Observation::Fallback { text: text() });
                                            return Fact::open(OpenKind::Fallback, deparse(a));
                                        }
                                    }
                                }
                            }
                        }
                        Fact::or(args)
                    }
                    _ => match args.first() {
                        Some(Fact::False) => Fact::open(OpenKind::AlwaysTrue, text()),
                        // NOT (org_id IS NULL) is org_id IS NOT NULL: every row with a tenant.
                        _ if matches!(
                            b.args.first().and_then(|a| a.node.as_ref()),
                            Some(N::NullTest(nt)) if nt.nulltesttype == protobuf::NullTestType::IsNull as i32
                                && matches!(nt.arg.as_deref().map(|a| self.classify(a, true)), Some(Source::Column(_)))
                        ) =>
                        {
                            Fact::open(OpenKind::Tautology, text())
                        }
                        Some(Fact::Unknown { reason }) => Fact::Unknown {
                            reason: reason.clone(),
                        },
                        _ => Fact::Unknown {
                            reason: format!("{}: negation", text()),
                        },
                    },
                }
            }
            Some(N::AConst(c)) => match &c.val {
                Some(protobuf::a_const::Val::Boolval(b)) if b.boolval => {
                    Fact::open(OpenKind::AlwaysTrue, "true")
                }
                _ if c.isnull => Fact::False,
                Some(protobuf::a_const::Val::Boolval(_)) => Fact::False,
                _ => Fact::Unknown { reason: text() },
            },
            Some(N::TypeCast(tc)) => tc
                .arg
                .as_deref()
                .map(|a| self.fact(a))
                .unwrap_or_else(|| Fact::Unknown { reason: text() }),
            Some(N::NullTest(nt)) => {
                let src = nt.arg.as_deref().map(|a| self.classify(a, true));
                let is_null = nt.nulltesttype == protobuf::NullTestType::IsNull as i32;
                match src {
                    // `org_id IS NULL`: rows of no tenant, shared by all.
                    Some(Source::Column(c)) if is_null && self.tenant_key == Some(c.as_str()) => {
                        self.observe(Observation::SharedRows {
                            column: c,
                            text: text(),
                        });
                        Fact::open(OpenKind::SharedRows, text())
                    }
                    Some(Source::Column(_)) => Fact::open(OpenKind::Tautology, text()),
                    // `auth.uid() IS NOT NULL` for a caller with no user id.
                    Some(Source::CurrentUser) if self.anonymous && !is_null => Fact::False,
                    _ => Fact::open(OpenKind::RoleOnly, text()),
                }
            }
            Some(N::AExpr(ae)) => self.comparison(ae, node),
            Some(N::SubLink(sl)) => self.sublink_fact(sl, node),
            Some(N::FuncCall(fc)) => self.helper_fact(fc, node),
            Some(N::ColumnRef(c)) => {
                let fields = strings(&c.fields);
                if let [name] = fields.as_slice() {
                    if let Some(arg) = self.param(name) {
                        let frame = self.params.borrow_mut().pop();
                        let f = self.fact(&arg);
                        if let Some(frame) = frame {
                            self.params.borrow_mut().push(frame);
                        }
                        return f;
                    }
                }
                Fact::open(OpenKind::Tautology, text())
            }
            _ => Fact::Unknown {
                reason: format!("{}: not understood", text()),
            },
        }
    }

    fn comparison(&self, ae: &protobuf::AExpr, node: &Node) -> Fact {
        let text = || deparse(node);
        let op = strings(&ae.name).join("");
        let kind = protobuf::AExprKind::try_from(ae.kind).unwrap_or(protobuf::AExprKind::Undefined);
        let (Some(l), Some(r)) = (ae.lexpr.as_deref(), ae.rexpr.as_deref()) else {
            return Fact::Unknown { reason: text() };
        };
        let any = kind == protobuf::AExprKind::AexprOpAny;
        if !(op == "="
            && matches!(
                kind,
                protobuf::AExprKind::AexprOp | protobuf::AExprKind::AexprOpAny
            ))
            && kind != protobuf::AExprKind::AexprIn
        {
            // <>, <, LIKE, …: none of them pins a row to one tenant.
            let ls = self.classify(l, false);
            let rs = self.classify(r, false);
            if matches!(op.as_str(), "<>" | "!=") && kind == protobuf::AExprKind::AexprOp {
                if let Some(equal) = self.decide_equal(&ls, &rs) {
                    return if equal {
                        Fact::False
                    } else {
                        Fact::open(OpenKind::RoleOnly, text())
                    };
                }
            }
            if matches!(ls, Source::Unknown(_)) || matches!(rs, Source::Unknown(_)) {
                return Fact::Unknown {
                    reason: format!("{}: operator {op} not understood", text()),
                };
            }
            return Fact::open(OpenKind::Tautology, text());
        }
        if kind == protobuf::AExprKind::AexprIn {
            let ls = self.classify(l, false);
            // `auth.role() IN ('service_role', …)`: decided for the analysed role.
            if let Some(N::List(list)) = &r.node {
                let decided: Option<Vec<bool>> = list
                    .items
                    .iter()
                    .map(|i| self.decide_equal(&ls, &self.classify(i, false)))
                    .collect();
                if let Some(d) = decided {
                    let member = d.iter().any(|&e| e);
                    let negated = op == "<>";
                    return if member != negated {
                        Fact::open(OpenKind::RoleOnly, text())
                    } else {
                        Fact::False
                    };
                }
            }
            return match ls {
                Source::Column(_) => Fact::open(OpenKind::Constant, text()),
                _ => Fact::open(OpenKind::RoleOnly, text()),
            };
        }
        // `col = ANY (ARRAY(SELECT …))`: the right side is a set of values.
        let rs = if any {
            match &r.node {
                Some(N::SubLink(sl)) => match sl.subselect.as_ref().and_then(|s| s.node.as_ref()) {
                    Some(N::SelectStmt(sel)) if self.selects_user_metadata(sel) => {
                        self.subquery_source(sel, &deparse(r))
                    }
                    Some(N::SelectStmt(sel)) => match self.subquery_trust(sel) {
                        Ok(how) => Source::Trusted { how },
                        // Same as `col IN (SELECT …)` from an unfiltered membership table.
                        Err(Untrusted::Open(why))
                            if matches!(self.classify(l, false), Source::Column(_)) =>
                        {
                            return Fact::open(OpenKind::Membership, format!("{} ({why})", text()))
                        }
                        Err(why) => Source::Unknown(format!("{}: {}", deparse(r), why.reason())),
                    },
                    _ => Source::Unknown(deparse(r)),
                },
                // `x = ANY (ARRAY['a', 'b'])`, how `x IN ('a', 'b')` is stored.
                Some(N::AArrayExpr(arr)) => {
                    let ls = self.classify(l, false);
                    let decided: Option<Vec<bool>> = arr
                        .elements
                        .iter()
                        .map(|e| self.decide_equal(&ls, &self.classify(e, false)))
                        .collect();
                    if let Some(d) = decided.filter(|d| !d.is_empty()) {
                        return if d.iter().any(|&e| e) {
                            Fact::open(OpenKind::RoleOnly, text())
                        } else {
                            Fact::False
                        };
                    }
                    if arr
                        .elements
                        .iter()
                        .all(|e| matches!(self.classify(e, false), Source::Const(_)))
                    {
                        Source::Const(None)
                    } else {
                        Source::Unknown(deparse(r))
                    }
                }
                _ => self.classify(r, false),
            }
        } else {
            self.classify(r, false)
        };
        let ls = self.classify(l, false);
        self.pin(ls, rs, &text)
    }

    /// `a = b`: which side is a column of the row, and what is it pinned to?
    fn pin(&self, ls: Source, rs: Source, text: &dyn Fn() -> String) -> Fact {
        let (col, other) = match (&ls, &rs) {
            (Source::Column(c), o) | (o, Source::Column(c)) => (c.clone(), o.clone()),
            _ => {
                // Neither side is a column of the row: a constant or a role or claim check.
                if let Some(equal) = self.decide_equal(&ls, &rs) {
                    return if equal {
                        Fact::open(OpenKind::RoleOnly, text())
                    } else {
                        Fact::False
                    };
                }
                // A signed claim compared with a constant (`app_metadata.role = 'admin'`): who
                // passes depends on what the server grants, which no schema shows.
                if let (Source::TenantClaim { path }, Source::Const(Some(Literal::Str(v))))
                | (Source::Const(Some(Literal::Str(v))), Source::TenantClaim { path }) =
                    (&ls, &rs)
                {
                    return Fact::Unknown {
                        reason: format!(
                            "{}: every row for callers whose signed claim {path} is '{v}'; whether only trusted callers get it is up to the server",
                            text()
                        ),
                    };
                }
                if matches!(ls, Source::Unknown(_)) || matches!(rs, Source::Unknown(_)) {
                    return Fact::Unknown {
                        reason: format!("{}: not understood", text()),
                    };
                }
                return Fact::open(OpenKind::RoleOnly, text());
            }
        };
        self.observe(Observation::FilterColumn {
            column: col.clone(),
        });
        let is_key = self.tenant_key == Some(col.as_str());
        match other {
            s if s.is_tenant_value() => {
                if is_key {
                    Fact::Bound {
                        how: match s {
                            Source::TenantClaim { path } => format!("{col} = tenant claim {path}"),
                            Source::Trusted { how } => format!("{col} in ({how})"),
                            _ => col,
                        },
                    }
                } else {
                    self.observe(Observation::PinsOtherColumn {
                        column: col.clone(),
                        text: text(),
                    });
                    Fact::open(OpenKind::OtherColumn, text())
                }
            }
            // NULL = x is never true: a caller with no user id gets no row this way.
            Source::CurrentUser if self.anonymous => Fact::False,
            Source::CurrentUser => Fact::Bound {
                how: format!("{col} = the current user (own rows only)"),
            },
            Source::UntrustedClaim => Fact::open(OpenKind::UntrustedClaim, text()),
            Source::Fallback => Fact::open(OpenKind::Fallback, text()),
            Source::Foreign(why) => Fact::open(OpenKind::Membership, format!("{} ({why})", text())),
            Source::Column(c2) if c2 == col => Fact::open(OpenKind::Tautology, text()),
            Source::Column(_) => Fact::open(OpenKind::Tautology, text()),
            Source::Const(_) => Fact::open(OpenKind::Constant, text()),
            Source::RoleClaim(_) => Fact::open(OpenKind::RoleOnly, text()),
            Source::Unknown(why) => Fact::Unknown { reason: why },
            other => Fact::Unknown {
                reason: format!("{}: compares {col} with {other:?}", text()),
            },
        }
    }

    /// Whether two values are equal, when that is known without a row: two plain literals of
    /// one kind, or the caller's role (signed, and the role PostgREST switched to) and a name.
    fn decide_equal(&self, a: &Source, b: &Source) -> Option<bool> {
        match (a, b) {
            (Source::Const(Some(x)), Source::Const(Some(y))) => match (x, y) {
                (Literal::Int(x), Literal::Int(y)) => Some(x == y),
                (Literal::Str(x), Literal::Str(y)) => Some(x == y),
                (Literal::Bool(x), Literal::Bool(y)) => Some(x == y),
                _ => None,
            },
            (Source::RoleClaim(true), Source::Const(Some(Literal::Str(r))))
            | (Source::Const(Some(Literal::Str(r))), Source::RoleClaim(true))
                if !self.role.is_empty() =>
            {
                Some(r == self.role)
            }
            _ => None,
        }
    }

    fn sublink_fact(&self, sl: &protobuf::SubLink, node: &Node) -> Fact {
        let text = deparse(node);
        let Some(N::SelectStmt(sel)) = sl.subselect.as_ref().and_then(|s| s.node.as_ref()) else {
            return Fact::Unknown { reason: text };
        };
        match protobuf::SubLinkType::try_from(sl.sub_link_type) {
            Ok(protobuf::SubLinkType::AnySublink) => {
                // col IN (SELECT …)
                let Some(test) = sl.testexpr.as_deref() else {
                    return Fact::Unknown { reason: text };
                };
                self.observe(Observation::MembershipInSubquery { text: text.clone() });
                let ls = self.classify(test, false);
                if self.selects_user_metadata(sel) {
                    self.observe(Observation::UntrustedClaim { text: text.clone() });
                    return self.pin(ls, Source::UntrustedClaim, &|| text.clone());
                }
                let rs = match self.subquery_trust(sel) {
                    Ok(how) => match (&ls, self.selects_row_ids(sel)) {
                        // `quote_id IN (SELECT id FROM quotes WHERE company_id = <caller's>)`:
                        // the row's parent is one of the caller's rows, whatever column
                        // points at it.
                        (Source::Column(c), Some(parent))
                            if self.tenant_key != Some(c.as_str()) =>
                        {
                            return Fact::Bound {
                                how: format!("{c} is the id of a caller's row of {parent} ({how})"),
                            };
                        }
                        _ => Source::Trusted { how },
                    },
                    Err(Untrusted::Open(why)) if matches!(ls, Source::Column(_)) => {
                        return Fact::open(OpenKind::Membership, format!("{text} ({why})"))
                    }
                    Err(why) => {
                        return Fact::Unknown {
                            reason: format!("{text}: {}", why.reason()),
                        }
                    }
                };
                self.pin(ls, rs, &|| text.clone())
            }
            Ok(protobuf::SubLinkType::ExistsSublink) => self.exists_fact(sel, &text),
            Ok(protobuf::SubLinkType::ExprSublink) => {
                // (SELECT <predicate>)
                match sel.target_list.first().and_then(|t| match &t.node {
                    Some(N::ResTarget(rt)) => rt.val.as_deref(),
                    _ => None,
                }) {
                    Some(v) if sel.from_clause.is_empty() => self.fact(v),
                    _ => Fact::Unknown { reason: text },
                }
            }
            _ => Fact::Unknown { reason: text },
        }
    }

    /// EXISTS (SELECT … FROM t WHERE …): bound when its join graph ties the checked row to the
    /// caller (the row's parent is one of the caller's, through any chain of joins).
    fn exists_fact(&self, sel: &SelectStmt, text: &str) -> Fact {
        let scope = Scope::of(sel);
        let g = self.join_graph(&scope);
        if g.never {
            return Fact::False;
        }
        if g.connected(g.row(), g.caller()) {
            self.observe_lookups(&scope, &g, &g.links);
            let via = (0..scope.items.len())
                .find(|&i| g.connected(i, g.caller()))
                .unwrap_or(0);
            return Fact::Bound {
                how: format!("row's parent in {}", g.how(&scope, via)),
            };
        }
        if let Some(why) = &g.unknown {
            return Fact::Unknown {
                reason: format!("{text}: {why}"),
            };
        }
        let tied = (0..scope.items.len()).any(|i| g.connected(i, g.row()));
        let callers: Vec<usize> = (0..scope.items.len())
            .filter(|&i| g.connected(i, g.caller()))
            .collect();
        let first = scope
            .items
            .first()
            .map(|i| i.name().to_string())
            .unwrap_or_default();
        if tied || callers.is_empty() {
            return Fact::open(
                OpenKind::Membership,
                format!(
                    "{text} (membership subquery on {first} is not filtered by the current user)"
                ),
            );
        }
        // Not about the row: true for every row, for some callers. Fine when those callers are
        // platform admins: listed in a table that holds no tenant rows and no API role writes.
        if let Some(admin) = self.admin_table {
            let tables: Vec<&QualifiedName> = callers
                .iter()
                .filter_map(|&i| match &scope.items[i] {
                    Item::Table { name, .. } => Some(name),
                    Item::Func { .. } => None,
                })
                .collect();
            if !tables.is_empty() && tables.iter().all(|t| admin(t)) {
                return Fact::Bound {
                    how: format!(
                        "{PLATFORM_ADMIN} (listed in {}, which no API role can write)",
                        tables[0]
                    ),
                };
            }
        }
        Fact::open(
            OpenKind::Membership,
            format!("{text} (does not refer to the row: any caller who passes it sees every row)"),
        )
    }

    /// A boolean helper: inline its SQL body with the arguments bound.
    fn helper_fact(&self, fc: &protobuf::FuncCall, node: &Node) -> Fact {
        let text = deparse(node);
        let name = strings(&fc.funcname);
        let Some(func) = self.function(&name, fc.args.len()) else {
            return Fact::Unknown {
                reason: format!("{text}: unknown function"),
            };
        };
        let Some(body) = Self::sql_body(func) else {
            return Fact::Unknown {
                reason: format!(
                    "{text}: helper {}.{} is written in {}; only SQL helpers are analysed",
                    func.schema, func.name, func.language
                ),
            };
        };
        let fact = self.with_params(func, &fc.args, || {
            match body.target_list.first().and_then(|t| match &t.node {
                Some(N::ResTarget(rt)) => rt.val.as_deref(),
                _ => None,
            }) {
                Some(v) if body.from_clause.is_empty() => self.fact(v),
                _ => Fact::Unknown {
                    reason: format!("{text}: helper body is not a single expression"),
                },
            }
        });
        match fact {
            Some(Fact::Open { kind, witness }) => Fact::open(
                if matches!(
                    kind,
                    OpenKind::AlwaysTrue | OpenKind::RoleOnly | OpenKind::Tautology
                ) {
                    OpenKind::Helper
                } else {
                    kind
                },
                format!("{text} → {witness}"),
            ),
            Some(f) => f,
            None => Fact::Unknown {
                reason: format!("{text}: helpers nested too deeply"),
            },
        }
    }
}

/// Does a SQL statement (a function body) compare some column with the caller's identity or
/// tenant claim? Judged on the parse tree: an `=` whose one side is a column and whose other side
/// is a tenant claim, the current user, or a trusted lookup. (`auth.uid() IS NOT NULL` is not.)
pub fn pins_caller(snapshot: &Snapshot, sql: &str) -> bool {
    let Ok(parsed) = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT) else {
        return false;
    };
    let table = Relation::default();
    let never = |_: &QualifiedName| false;
    let env = Env::new(snapshot, &table, None, &[], &never);
    parsed.protobuf.nodes().iter().any(|(n, ..)| match n {
        pg_query::NodeRef::AExpr(ae) if strings(&ae.name).join("") == "=" => {
            let (Some(l), Some(r)) = (ae.lexpr.as_deref(), ae.rexpr.as_deref()) else {
                return false;
            };
            let is_col = |n: &Node| matches!(&n.node, Some(N::ColumnRef(_)));
            let is_caller = |n: &Node| {
                matches!(
                    env.classify(n, true),
                    Source::TenantClaim { .. } | Source::CurrentUser | Source::Trusted { .. }
                )
            };
            (is_col(l) && is_caller(r)) || (is_col(r) && is_caller(l))
        }
        _ => false,
    })
}

/// A guard at the top of a PL/pgSQL function (`IF NOT is_member(_org, auth.uid()) THEN RAISE
/// EXCEPTION …`) that lets the call go on only when one of the function's arguments is tied to
/// the caller (a tenant the caller belongs to, the caller's own id, the tenant claim): its text.
/// The arguments stand in for the "row" of a policy; the condition under which the body goes
/// on (the guard's negation) is analysed as a policy on them would be.
pub fn caller_guard(
    snapshot: &Snapshot,
    func: &Function,
    table_is_bound: &dyn Fn(&QualifiedName) -> bool,
) -> Option<String> {
    let guards = crate::plpgsql::raise_guards(func);
    if guards.is_empty() {
        return None;
    }
    let columns = crate::plpgsql::argument_names(func)
        .into_iter()
        .map(|name| tenantguard_catalog::Column {
            name,
            type_name: String::new(),
            not_null: false,
            has_default: false,
            position: 0,
        })
        .collect();
    let args = Relation {
        name: format!("{} arguments", func.name),
        columns,
        ..Relation::default()
    };
    let env = Env::new(snapshot, &args, None, &[], table_is_bound);
    guards.into_iter().find(|g| {
        let Ok(cond) = parse_expr(g) else {
            return false;
        };
        // The body goes on when the guard is false: NOT c → c.
        let goes_on = match &cond.node {
            Some(N::BoolExpr(b)) if b.boolop == protobuf::BoolExprType::NotExpr as i32 => {
                b.args.first().cloned()
            }
            _ => None,
        };
        goes_on.is_some_and(|c| matches!(env.fact(&c), Fact::Bound { .. }))
    })
}
