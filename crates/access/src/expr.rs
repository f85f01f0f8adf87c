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
        if let Some(o) = live.iter().find(|f| matches!(f, Fact::Open { .. })) {
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
    RoleClaim,
    /// A membership / lookup subquery or helper that yields the caller's tenants.
    Trusted {
        how: String,
    },
    /// A column of the row being checked.
    Column(String),
    Const,
    /// `coalesce(claim, column)`: the column itself when the claim is missing.
    Fallback,
    Unknown(String),
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
}

const MAX_DEPTH: usize = 6;

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

fn range_vars(sel: &SelectStmt) -> Vec<(QualifiedName, String)> {
    let mut out = vec![];
    for f in &sel.from_clause {
        if let Some(N::RangeVar(rv)) = &f.node {
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
            out.push((QualifiedName::new(schema, rv.relname.clone()), alias));
        }
    }
    out
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
        }
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
        if qualifier.is_some_and(|q| !self.is_table_name(q)) {
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
        if func.language != "sql" {
            return None;
        }
        if let Some(hit) = CACHE.with(|c| c.borrow().get(&func.body).cloned()) {
            return hit;
        }
        let body = parse_select(&func.body).ok().map(std::rc::Rc::new);
        CACHE.with(|c| c.borrow_mut().insert(func.body.clone(), body.clone()));
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
            Some(N::AConst(_)) => Source::Const,
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
                "role" | "aud" | "aal" => Source::RoleClaim,
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
            ["auth", "role"] => return per_row(Source::RoleClaim),
            ["current_user"] | ["session_user"] => return Source::RoleClaim,
            ["current_setting"] | ["pg_catalog", "current_setting"] => {
                let setting = fc.args.first().and_then(const_str).unwrap_or_default();
                return per_row(match setting.as_str() {
                    "request.jwt.claims" => Source::JwtRoot,
                    "request.jwt.claim.sub" => Source::CurrentUser,
                    "request.jwt.claim.role" => Source::RoleClaim,
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
            Err(why) => Source::Unknown(format!("{text}: {why}")),
        }
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

    fn subquery_trust(&self, sel: &SelectStmt) -> Result<String, String> {
        let tables = range_vars(sel);
        if tables.is_empty() {
            // (SELECT my_orgs()): the value of a helper or a claim.
            return match first_target(sel).map(|t| self.classify(t, true)) {
                Some(Source::Trusted { how }) => Ok(how),
                Some(Source::TenantClaim { path }) => Ok(format!("claim {path}")),
                Some(other) => Err(format!("the subquery yields {other:?}")),
                None => Err("the subquery reads no table".into()),
            };
        }
        if let Some(w) = sel.where_clause.as_deref() {
            for c in conjuncts(w) {
                if let Some(N::AExpr(ae)) = &c.node {
                    if strings(&ae.name).join("") != "=" {
                        continue;
                    }
                    let (Some(l), Some(r)) = (ae.lexpr.as_deref(), ae.rexpr.as_deref()) else {
                        continue;
                    };
                    for side in [l, r] {
                        match self.classify_inner(side) {
                            Source::CurrentUser => {
                                return Ok(format!("{} filtered by the current user", tables[0].0))
                            }
                            Source::TenantClaim { path } => {
                                return Ok(format!("{} filtered by claim {path}", tables[0].0))
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        if tables.iter().all(|(t, _)| self.read_is_bound(t)) {
            return Ok(format!("{} is itself tenant-bound by RLS", tables[0].0));
        }
        Err(format!(
            "membership subquery on {} is not filtered by the current user",
            tables[0].0
        ))
    }

    /// Classifies a value inside a subquery: only the caller's identity and claims matter
    /// there, so columns are not resolved against the outer table.
    fn classify_inner(&self, node: &Node) -> Source {
        match &node.node {
            Some(N::ColumnRef(_)) => Source::Unknown(deparse(node)),
            _ => self.classify(node, true),
        }
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
                match src {
                    Some(Source::Column(_)) => Fact::open(OpenKind::Tautology, text()),
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
            if matches!(ls, Source::Unknown(_)) || matches!(rs, Source::Unknown(_)) {
                return Fact::Unknown {
                    reason: format!("{}: operator {op} not understood", text()),
                };
            }
            return Fact::open(OpenKind::Tautology, text());
        }
        if kind == protobuf::AExprKind::AexprIn {
            return match self.classify(l, false) {
                Source::Column(_) => Fact::open(OpenKind::Constant, text()),
                _ => Fact::open(OpenKind::RoleOnly, text()),
            };
        }
        // `col = ANY (ARRAY(SELECT …))`: the right side is a set of values.
        let rs = if any {
            match &r.node {
                Some(N::SubLink(sl)) => match sl.subselect.as_ref().and_then(|s| s.node.as_ref()) {
                    Some(N::SelectStmt(sel)) => match self.subquery_source(sel, &deparse(r)) {
                        // Same as `col IN (SELECT …)` from an unfiltered membership table.
                        Source::Unknown(why)
                            if matches!(self.classify(l, false), Source::Column(_)) =>
                        {
                            return Fact::open(OpenKind::Membership, format!("{} ({why})", text()))
                        }
                        other => other,
                    },
                    _ => Source::Unknown(deparse(r)),
                },
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
                // Neither side is a column of the row: a role or claim check.
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
            Source::CurrentUser => Fact::Bound {
                how: format!("{col} = the current user (own rows only)"),
            },
            Source::UntrustedClaim => Fact::open(OpenKind::UntrustedClaim, text()),
            Source::Fallback => Fact::open(OpenKind::Fallback, text()),
            Source::Column(c2) if c2 == col => Fact::open(OpenKind::Tautology, text()),
            Source::Column(_) => Fact::open(OpenKind::Tautology, text()),
            Source::Const => Fact::open(OpenKind::Constant, text()),
            Source::RoleClaim => Fact::open(OpenKind::RoleOnly, text()),
            Source::Unknown(why) => Fact::Unknown { reason: why },
            other => Fact::Unknown {
                reason: format!("{}: compares {col} with {other:?}", text()),
            },
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
                    Ok(how) => Source::Trusted { how },
                    Err(why) => {
                        return match ls {
                            Source::Column(_) => {
                                Fact::open(OpenKind::Membership, format!("{text} ({why})"))
                            }
                            _ => Fact::Unknown { reason: why },
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

    /// EXISTS (SELECT … FROM t WHERE …): bound when it is tied to the checked row (an inner
    /// column equals one of the row's columns) AND trusted (filtered by the current user or a
    /// claim, or reading a table whose own RLS keeps it to the caller's tenant).
    fn exists_fact(&self, sel: &SelectStmt, text: &str) -> Fact {
        let inner = range_vars(sel);
        let inner_cols = |fields: &[String]| -> bool {
            match fields {
                [q, _] => inner.iter().any(|(_, alias)| alias == q),
                [c] => inner.iter().any(|(t, _)| {
                    self.snapshot
                        .relation(t)
                        .is_some_and(|r| r.column(c).is_some())
                }),
                _ => false,
            }
        };
        let mut tied = false;
        if let Some(w) = sel.where_clause.as_deref() {
            for c in conjuncts(w) {
                let Some(N::AExpr(ae)) = &c.node else {
                    continue;
                };
                if strings(&ae.name).join("") != "=" {
                    continue;
                }
                let side = |n: Option<&Node>| -> Option<(bool, bool)> {
                    let Some(N::ColumnRef(cr)) = n.and_then(|n| n.node.as_ref()) else {
                        return None;
                    };
                    let mut f = strings(&cr.fields);
                    // A helper's parameter stands for the caller's expression (often the row's
                    // column): `m.org_id = o` inside is_member(org_id).
                    if let [name] = f.as_slice() {
                        if let Some(Node {
                            node: Some(N::ColumnRef(outer)),
                        }) = self.param(name)
                        {
                            f = strings(&outer.fields);
                            return Some((self.has_column(f.last()?), false));
                        }
                    }
                    let outer = match f.as_slice() {
                        [q, c] => self.is_table_name(q) && self.has_column(c),
                        [c] => !inner_cols(&f) && self.has_column(c),
                        _ => false,
                    };
                    Some((outer, inner_cols(&f)))
                };
                if let (Some(a), Some(b)) = (side(ae.lexpr.as_deref()), side(ae.rexpr.as_deref())) {
                    if (a.0 && b.1) || (a.1 && b.0) {
                        tied = true;
                    }
                }
            }
        }
        match (tied, self.subquery_trust(sel)) {
            (true, Ok(how)) => Fact::Bound {
                how: format!("row's parent in {how}"),
            },
            (true, Err(why)) => Fact::open(OpenKind::Membership, format!("{text} ({why})")),
            (false, Ok(_)) => Fact::open(
                OpenKind::Membership,
                format!(
                    "{text} (does not refer to the row: any caller who passes it sees every row)"
                ),
            ),
            (false, Err(why)) => Fact::open(OpenKind::Membership, format!("{text} ({why})")),
        }
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
