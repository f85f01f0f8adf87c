//! The effective-access model: for every tenanted table, API role and command, what the
//! role's policies let through, combined the way PostgreSQL combines them — permissive
//! policies OR-ed, restrictive ones AND-ed, default deny, WITH CHECK falling back to USING,
//! and UPDATE/DELETE judged without a WHERE (PostgreSQL skips the SELECT policies then).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use tenantguard_catalog::{Policy, PolicyCommand, QualifiedName, Relation, Snapshot};
use tenantguard_tenant_model::{Tenancy, TenantModel};

use crate::expr::{dependencies_hold, Dependency, Env, Fact, Observation, OpenKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Select,
    Insert,
    Update,
    Delete,
}

impl Command {
    pub const ALL: [Command; 4] = [
        Command::Select,
        Command::Insert,
        Command::Update,
        Command::Delete,
    ];

    pub fn privilege(self) -> &'static str {
        match self {
            Command::Select => "SELECT",
            Command::Insert => "INSERT",
            Command::Update => "UPDATE",
            Command::Delete => "DELETE",
        }
    }

    fn matches(self, p: PolicyCommand) -> bool {
        matches!(
            (self, p),
            (_, PolicyCommand::All)
                | (Command::Select, PolicyCommand::Select)
                | (Command::Insert, PolicyCommand::Insert)
                | (Command::Update, PolicyCommand::Update)
                | (Command::Delete, PolicyCommand::Delete)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    TenantBound {
        reason: String,
    },
    /// Other tenants' rows can be read or written. `policy` is the policy that lets them
    /// through (none when RLS is off), `check` whether it is the WITH CHECK side.
    Open {
        kind: OpenKind,
        policy: Option<String>,
        witness: String,
        check: bool,
    },
    DenyAll {
        reason: String,
    },
    CannotVerify {
        reason: String,
        policy: Option<String>,
    },
    /// The role holds no privilege for the command.
    NoPrivilege,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    pub role: String,
    pub command: Command,
    pub verdict: Verdict,
}

/// Per-policy results, for rules that report on policies themselves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyAnalysis {
    pub table: QualifiedName,
    pub policy: String,
    pub using: Option<Fact>,
    pub with_check: Option<Fact>,
    pub observations: Vec<Observation>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AccessModel {
    /// The roles analysed (the API roles).
    pub roles: Vec<String>,
    pub tables: BTreeMap<QualifiedName, Vec<Cell>>,
    pub policies: Vec<PolicyAnalysis>,
}

#[derive(Debug, Clone)]
pub struct AccessConfig {
    /// Roles the application's users act as (`anon`, `authenticated` on Supabase).
    pub api_roles: Vec<String>,
    pub trusted_settings: Vec<String>,
    /// API roles whose callers carry no user identity: `auth.uid()` is NULL for them
    /// (Supabase's `anon`, whose JWT has no `sub`; a signed-in user is `authenticated`).
    pub anonymous_roles: Vec<String>,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            api_roles: vec!["anon".into(), "authenticated".into()],
            trusted_settings: vec![],
            anonymous_roles: vec!["anon".into()],
        }
    }
}

/// Role membership, walked transitively through roles that inherit.
pub struct Roles<'a> {
    snapshot: &'a Snapshot,
}

impl<'a> Roles<'a> {
    pub fn new(snapshot: &'a Snapshot) -> Self {
        Self { snapshot }
    }

    /// The role itself and every role whose privileges it has.
    pub fn effective(&self, role: &str) -> HashSet<String> {
        let mut out = HashSet::from([role.to_string()]);
        let mut stack = vec![role.to_string()];
        while let Some(r) = stack.pop() {
            let Some(rr) = self.snapshot.role(&r) else {
                continue;
            };
            if !rr.inherit && r != role {
                continue;
            }
            for g in &rr.member_of {
                if out.insert(g.clone()) {
                    stack.push(g.clone());
                }
            }
        }
        out
    }

    pub fn has_privilege(&self, rel: &Relation, role: &str, privilege: &str) -> bool {
        let roles = self.effective(role);
        rel.grants.iter().any(|g| {
            g.privilege == privilege && (g.grantee == "PUBLIC" || roles.contains(&g.grantee))
        })
    }

    pub fn bypasses_rls(&self, role: &str) -> bool {
        self.snapshot
            .role(role)
            .is_some_and(|r| r.superuser || r.bypass_rls)
    }
}

/// Whether `owner` reading `table` skips its RLS: RLS off, superuser or BYPASSRLS, or the
/// table's owner (directly or by inheritance) when RLS is not forced.
pub fn owner_bypasses(snapshot: &Snapshot, owner: &str, table: &Relation) -> bool {
    let roles = Roles::new(snapshot);
    !table.rls_enabled
        || roles.bypasses_rls(owner)
        || (!table.rls_forced && roles.effective(owner).contains(&table.owner))
}

fn applies_to(policy: &Policy, roles: &HashSet<String>) -> bool {
    policy
        .roles
        .iter()
        .any(|r| r == "public" || roles.contains(r))
}

/// The roles to analyse: the configured API roles that exist.
/// Whether a predicate lets only platform admins through: an AND with such a conjunct, an OR
/// of such disjuncts, or a lookup the analyser judges to be a platform-admin check.
fn requires_admin(env: &Env, node: &pg_query::protobuf::Node) -> bool {
    use pg_query::protobuf::{node::Node as N, BoolExprType};
    if let Some(N::BoolExpr(b)) = &node.node {
        if b.boolop == BoolExprType::AndExpr as i32 {
            return b.args.iter().any(|a| requires_admin(env, a));
        }
        if b.boolop == BoolExprType::OrExpr as i32 {
            return b.args.iter().all(|a| requires_admin(env, a));
        }
    }
    match env.fact(node) {
        Fact::False => true,
        Fact::Bound { how } => how.starts_with(crate::expr::PLATFORM_ADMIN),
        _ => false,
    }
}

/// A SECURITY DEFINER function that writes `table` (INSERT INTO / UPDATE in its body) and that
/// an API role can call, or a trigger function that reads sign-up metadata the client chose
/// (`raw_user_meta_data`): whoever reaches it writes the table past RLS.
pub fn definer_writer(
    snapshot: &Snapshot,
    api_roles: &[String],
    table: &QualifiedName,
) -> Option<String> {
    let names = [
        format!("{}.{}", table.schema, table.name).to_lowercase(),
        format!("\"{}\".\"{}\"", table.schema, table.name).to_lowercase(),
        table.name.to_lowercase(),
        format!("\"{}\"", table.name).to_lowercase(),
    ];
    snapshot.functions.iter().find_map(|f| {
        if !f.security_definer || f.from_extension {
            return None;
        }
        let body = f.body.to_lowercase();
        let body: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
        let writes = names.iter().any(|n| {
            [
                format!("insert into {n} "),
                format!("insert into {n}("),
                format!("update {n} "),
            ]
            .iter()
            .any(|w| body.contains(w.as_str()))
        });
        if !writes {
            return None;
        }
        let trigger = f.result_type == "trigger";
        let callable = !trigger
            && f.execute_grantees
                .iter()
                .any(|g| g == "PUBLIC" || api_roles.iter().any(|r| r == g));
        let fed =
            trigger && (body.contains("raw_user_meta_data") || body.contains("user_metadata"));
        (callable || fed).then(|| format!("{}.{}", f.schema, f.name))
    })
}

pub fn analysed_roles(snapshot: &Snapshot, config: &AccessConfig) -> Vec<String> {
    config
        .api_roles
        .iter()
        .filter(|r| snapshot.role(r).is_some())
        .cloned()
        .collect()
}

/// Below this many tables per worker, a thread costs more than it saves.
const PARALLEL_MIN_TABLES: usize = 250;

struct Part {
    tables: Vec<(QualifiedName, Vec<Cell>)>,
    policies: Vec<PolicyAnalysis>,
}

fn build_part(
    snapshot: &Snapshot,
    model: &TenantModel,
    config: &AccessConfig,
    roles: &[String],
    tables: &[(&QualifiedName, &Relation)],
    share: bool,
) -> Part {
    let b = Builder {
        share,
        snapshot,
        model,
        config,
        roles: Roles::new(snapshot),
        select_memo: RefCell::new(HashMap::new()),
        parsed: RefCell::new(HashMap::new()),
        facts: RefCell::new(HashMap::new()),
        shared_facts: RefCell::new(HashMap::new()),
        effective: RefCell::new(HashMap::new()),
        admin_memo: RefCell::new(HashMap::new()),
        admin_assumed: RefCell::new(HashSet::new()),
    };
    let mut part = Part {
        tables: Vec::with_capacity(tables.len()),
        policies: vec![],
    };
    for &(name, rel) in tables {
        let mut cells = vec![];
        for role in roles {
            if b.roles.bypasses_rls(role) {
                continue;
            }
            for cmd in Command::ALL {
                cells.push(Cell {
                    role: role.clone(),
                    command: cmd,
                    verdict: b.verdict(rel, role, cmd),
                });
            }
        }
        part.tables.push((name.clone(), cells));
        // Role-independent view of each policy, for policy-level rules: analysed for each
        // API role it applies to (else the first API role), and the least bound kept — an
        // admin branch is closed to `anon` (no user id) but not to `authenticated`.
        for p in &rel.policies {
            let applicable: Vec<&String> = roles
                .iter()
                .filter(|r| applies_to(p, &b.effective_roles(r)))
                .collect();
            let fallback = "public".to_string();
            let candidates: Vec<&String> = if applicable.is_empty() {
                vec![roles.first().unwrap_or(&fallback)]
            } else {
                applicable
            };
            let rank = |f: &Fact| match f {
                Fact::Open { .. } => 0,
                Fact::Unknown { .. } => 1,
                _ => 2,
            };
            let (using, check, observations) = candidates
                .iter()
                .map(|role| b.policy_facts(rel, role, p))
                .min_by_key(|(u, c, _)| (rank(u).min(rank(c)), rank(u), rank(c)))
                .expect("at least one role");
            part.policies.push(PolicyAnalysis {
                table: name.clone(),
                policy: p.name.clone(),
                using: p.using.as_ref().map(|_| using),
                with_check: p.with_check.as_ref().map(|_| check),
                observations,
            });
        }
    }
    part
}

struct Builder<'a> {
    /// Reuse a policy's analysis across tables (`shared_facts`); off only to test that it
    /// changes nothing.
    share: bool,
    snapshot: &'a Snapshot,
    model: &'a TenantModel,
    config: &'a AccessConfig,
    roles: Roles<'a>,
    /// (table, role) → SELECT fact, memoised; `None` while being computed (cycles).
    select_memo: RefCell<HashMap<(QualifiedName, String), Option<bool>>>,
    /// Policy text → parse tree: Supabase-style schemas repeat the same expression on every
    /// table, and parsing is the expensive step.
    parsed: RefCell<HashMap<String, std::rc::Rc<Result<pg_query::protobuf::Node, String>>>>,
    /// (table, policy, role) → (USING, WITH CHECK, observations).
    facts: RefCell<HashMap<(QualifiedName, String, String), PolicyFacts>>,
    /// The same policy on other tables: (USING, WITH CHECK, command, role, tenant key) → results
    /// with the questions they asked about their table. Schemas repeat one policy on thousands
    /// of tables; analysing it once per distinct set of answers instead of once per table took
    /// the access model of 2,000 tables from ~30–40 to ~20 ms (two cores).
    shared_facts: RefCell<HashMap<SharedKey, Vec<SharedFacts>>>,
    effective: RefCell<HashMap<String, std::rc::Rc<HashSet<String>>>>,
    /// Platform-admin tables judged so far, and those being judged (see `is_admin_table`).
    admin_memo: RefCell<HashMap<QualifiedName, bool>>,
    admin_assumed: RefCell<HashSet<QualifiedName>>,
}

type PolicyFacts = (Fact, Fact, Vec<Observation>);
const MAX_SHARED_VARIANTS: usize = 8;
/// An analysis and the questions it asked about its table.
type SharedFacts = (Vec<Dependency>, PolicyFacts);
type SharedKey = (
    Option<String>,
    Option<String>,
    PolicyCommand,
    String,
    Option<String>,
);

impl<'a> Builder<'a> {
    fn key_of(&self, table: &QualifiedName) -> Option<&'a str> {
        self.model.tenant_key_of(table)
    }

    /// Whether `role` reading `table` sees only its own tenant's rows (used for subqueries
    /// inside policies, where the read table's RLS applies).
    fn select_is_bound(&self, table: &QualifiedName, role: &str) -> bool {
        let key = (table.clone(), role.to_string());
        if let Some(v) = self.select_memo.borrow().get(&key) {
            return v.unwrap_or(false);
        }
        self.select_memo.borrow_mut().insert(key.clone(), None);
        let bound = match self.snapshot.relation(table) {
            Some(rel) if rel.rls_enabled && !self.roles.bypasses_rls(role) => {
                let (fact, _, _) = self.combine(rel, role, Command::Select, false);
                // Shared rows (no tenant) are readable by every tenant by design.
                fact.is_bound()
                    || matches!(
                        fact,
                        Fact::Open {
                            kind: OpenKind::SharedRows,
                            ..
                        }
                    )
            }
            _ => false,
        };
        self.select_memo.borrow_mut().insert(key, Some(bound));
        bound
    }

    fn env<'e>(
        &'e self,
        rel: &'e Relation,
        role: &'e str,
        bound: &'e dyn Fn(&QualifiedName) -> bool,
        admin: &'e dyn Fn(&QualifiedName) -> bool,
        key_of: &'e dyn Fn(&QualifiedName) -> Option<&'e str>,
    ) -> Env<'e> {
        Env::new(
            self.snapshot,
            rel,
            self.key_of(&rel.qualified_name()),
            &self.config.trusted_settings,
            bound,
        )
        .with_role(role)
        .anonymous(self.config.anonymous_roles.iter().any(|r| r == role))
        .with_admin_tables(admin)
        .with_tenant_keys(key_of)
    }

    /// A platform-admin lookup table: it holds no tenant rows, and no API role can add or
    /// change its rows except callers already listed in it (or in another such table): no
    /// INSERT/UPDATE privilege, RLS with no permissive write policy, or write policies that
    /// all require the caller to be a platform admin already (`WITH CHECK (has_role(auth.uid(),
    /// 'super_admin'))`). Whoever is listed there was put there by the operator. Judged as a
    /// greatest fixpoint: while a table is being judged it is assumed to be one, which is sound
    /// because nobody outside the set can get in. A SECURITY DEFINER function an API role may
    /// call, or a trigger function fed by sign-up metadata, that writes the table spoils it.
    fn is_admin_table(&self, table: &QualifiedName) -> bool {
        if let Some(&known) = self.admin_memo.borrow().get(table) {
            return known;
        }
        if self.admin_assumed.borrow().contains(table) {
            return true;
        }
        let Some(rel) = self.snapshot.relation(table) else {
            return false;
        };
        if !matches!(
            self.model.tenancy(table),
            Some(Tenancy::Global { .. }) | None
        ) || rel.view_definition.is_some()
        {
            return false;
        }
        self.admin_assumed.borrow_mut().insert(table.clone());
        let roles = analysed_roles(self.snapshot, self.config);
        let writable = definer_writer(self.snapshot, &roles, table).is_some()
            || roles.iter().any(|role| {
                let eff = self.effective_roles(role);
                self.roles.bypasses_rls(role)
                    || ["INSERT", "UPDATE"].iter().any(|privilege| {
                        self.roles.has_privilege(rel, role, privilege)
                            && (!rel.rls_enabled
                                || rel.policies.iter().any(|p| {
                                    p.permissive
                                        && applies_to(p, &eff)
                                        && self.opens_write(rel, role, p, privilege)
                                }))
                    })
            });
        let assumed = {
            let mut a = self.admin_assumed.borrow_mut();
            a.remove(table);
            !a.is_empty()
        };
        // Only a judgement that rests on no other table's assumption is final.
        if !assumed {
            self.admin_memo
                .borrow_mut()
                .insert(table.clone(), !writable);
        }
        !writable
    }

    /// Whether permissive policy `p` lets `role` add (`INSERT`) or change (`UPDATE`) rows of
    /// `rel` without already being a platform admin.
    fn opens_write(&self, rel: &Relation, role: &str, p: &Policy, privilege: &str) -> bool {
        let writes = matches!(
            (privilege, p.command),
            ("INSERT", PolicyCommand::All | PolicyCommand::Insert)
                | ("UPDATE", PolicyCommand::All | PolicyCommand::Update)
        );
        if !writes {
            return false;
        }
        let bound = |t: &QualifiedName| self.select_is_bound(t, role);
        let admin = |t: &QualifiedName| self.is_admin_table(t);
        let key_of = |t: &QualifiedName| self.key_of(t);
        let env = self.env(rel, role, &bound, &admin, &key_of);
        let gated = |sql: &Option<String>| match sql.as_deref().map(|s| self.parse(s)) {
            Some(parsed) => match &*parsed {
                Ok(node) => requires_admin(&env, node),
                Err(_) => false,
            },
            None => false,
        };
        let check = p.with_check.clone().or_else(|| p.using.clone());
        match privilege {
            // A new row passes WITH CHECK (USING when there is none).
            "INSERT" => !gated(&check),
            // An UPDATE needs a row through USING and the new row through WITH CHECK.
            _ => !(gated(&p.using) || gated(&check)),
        }
    }

    fn effective_roles(&self, role: &str) -> std::rc::Rc<HashSet<String>> {
        self.effective
            .borrow_mut()
            .entry(role.to_string())
            .or_insert_with(|| std::rc::Rc::new(self.roles.effective(role)))
            .clone()
    }

    fn parse(&self, sql: &str) -> std::rc::Rc<Result<pg_query::protobuf::Node, String>> {
        if let Some(p) = self.parsed.borrow().get(sql) {
            return p.clone();
        }
        let p = std::rc::Rc::new(crate::expr::parse_expr(sql));
        self.parsed.borrow_mut().insert(sql.to_string(), p.clone());
        p
    }

    fn fact_of(&self, env: &Env, sql: &str) -> Fact {
        match &*self.parse(sql) {
            Ok(node) => env.fact(node),
            Err(e) => Fact::Unknown {
                reason: format!("could not parse the policy: {e}"),
            },
        }
    }

    /// Facts of one policy for one role, memoised.
    fn policy_facts(&self, rel: &Relation, role: &str, p: &Policy) -> PolicyFacts {
        let key = (rel.qualified_name(), p.name.clone(), role.to_string());
        if let Some(f) = self.facts.borrow().get(&key) {
            return f.clone();
        }
        let f = self.compute_policy_facts(rel, role, p);
        self.facts.borrow_mut().insert(key, f.clone());
        f
    }

    /// Facts of one policy for one role: (USING, WITH CHECK as PostgreSQL applies it), reused
    /// from another table when every question the analysis asked gets the same answer here.
    fn compute_policy_facts(&self, rel: &Relation, role: &str, p: &Policy) -> PolicyFacts {
        let bound = |t: &QualifiedName| self.select_is_bound(t, role);
        let role_name = role;
        let key: SharedKey = (
            p.using.clone(),
            p.with_check.clone(),
            p.command,
            role.to_string(),
            self.key_of(&rel.qualified_name()).map(str::to_string),
        );
        if !self.share {
            return self.analyse_policy(rel, role_name, p, &bound).1;
        }
        let known = self.shared_facts.borrow().get(&key).map_or(0, Vec::len);
        for i in 0..known {
            // Cloned out of the map: checking a dependency may analyse other tables (and so
            // borrow the map again).
            let deps = self.shared_facts.borrow()[&key][i].0.clone();
            if dependencies_hold(&deps, rel, &bound) {
                return self.shared_facts.borrow()[&key][i].1.clone();
            }
        }
        let (deps, facts) = self.analyse_policy(rel, role_name, p, &bound);
        // A few variants per policy (tables with and without a column it names); past that
        // the tables differ too much for sharing to pay.
        if known < MAX_SHARED_VARIANTS {
            self.shared_facts
                .borrow_mut()
                .entry(key)
                .or_default()
                .push((deps, facts.clone()));
        }
        facts
    }

    /// Analyses one policy on one table, with the questions asked about the table.
    fn analyse_policy(
        &self,
        rel: &Relation,
        role: &str,
        p: &Policy,
        bound: &dyn Fn(&QualifiedName) -> bool,
    ) -> (Vec<Dependency>, PolicyFacts) {
        let admin = |t: &QualifiedName| self.is_admin_table(t);
        let key_of = |t: &QualifiedName| self.key_of(t);
        let env = self.env(rel, role, bound, &admin, &key_of);
        // A policy without USING admits no existing row (PostgreSQL leaves it out of the OR).
        let using = p
            .using
            .as_deref()
            .map(|u| self.fact_of(&env, u))
            .unwrap_or(Fact::False);
        let check = match (&p.with_check, p.command) {
            (Some(c), _) => self.fact_of(&env, c),
            // FOR ALL / UPDATE without WITH CHECK: USING checks the new row.
            (None, PolicyCommand::All | PolicyCommand::Update) => using.clone(),
            // INSERT without WITH CHECK admits no new row.
            (None, _) => Fact::False,
        };
        let obs = env.observations.borrow().clone();
        let deps = env.dependencies.borrow().clone();
        (deps, (using, check, obs))
    }

    /// Combines the role's policies for a command: permissive OR-ed, restrictive AND-ed.
    /// Returns the fact, whether it was the WITH CHECK side that decided, and the policy.
    fn combine(
        &self,
        rel: &Relation,
        role: &str,
        cmd: Command,
        check: bool,
    ) -> (Fact, bool, Option<String>) {
        let roles = self.effective_roles(role);
        let applicable: Vec<&Policy> = rel
            .policies
            .iter()
            .filter(|p| cmd.matches(p.command) && applies_to(p, &roles))
            .collect();
        let side = |p: &Policy| {
            let (u, c, _) = self.policy_facts(rel, role, p);
            if check {
                c
            } else {
                u
            }
        };
        let permissive: Vec<(&Policy, Fact)> = applicable
            .iter()
            .filter(|p| p.permissive)
            .map(|p| (*p, side(p)))
            .collect();
        if permissive.is_empty() {
            return (Fact::False, check, None);
        }
        let restrictive: Vec<(&Policy, Fact)> = applicable
            .iter()
            .filter(|p| !p.permissive)
            .map(|p| (*p, side(p)))
            .collect();
        if let Some((p, f)) = restrictive.iter().find(|(_, f)| f.is_bound()) {
            return (f.clone(), check, Some(p.name.clone()));
        }
        // The permissive side decides: name the first policy that opens it.
        let culprit = permissive
            .iter()
            .find(|(_, f)| matches!(f, Fact::Open { .. }))
            .or_else(|| {
                permissive
                    .iter()
                    .find(|(_, f)| matches!(f, Fact::Unknown { .. }))
            })
            .map(|(p, _)| p.name.clone());
        let fact = Fact::or(permissive.into_iter().map(|(_, f)| f).collect());
        (fact, check, culprit)
    }

    fn verdict(&self, rel: &Relation, role: &str, cmd: Command) -> Verdict {
        if !self.roles.has_privilege(rel, role, cmd.privilege()) {
            return Verdict::NoPrivilege;
        }
        if !rel.rls_enabled {
            return Verdict::Open {
                kind: OpenKind::RlsDisabled,
                policy: None,
                witness: "row level security is disabled".into(),
                check: false,
            };
        }
        let sides: &[bool] = match cmd {
            Command::Select | Command::Delete => &[false],
            Command::Insert => &[true],
            Command::Update => &[false, true],
        };
        let mut bound_reasons = vec![];
        for &check in sides {
            let (fact, check, policy) = self.combine(rel, role, cmd, check);
            match fact {
                Fact::False if bound_reasons.is_empty() => {
                    return Verdict::DenyAll {
                        reason: format!(
                            "no permissive {} policy applies to {role}",
                            cmd.privilege()
                        ),
                    }
                }
                Fact::False => {}
                // Reading rows of no tenant (shared templates) is how they are meant to be used.
                Fact::Open {
                    kind: OpenKind::SharedRows,
                    witness,
                } if cmd == Command::Select => {
                    bound_reasons.push(format!("the caller's rows and shared rows ({witness})"))
                }
                // A new row of the tenant root is a new tenant (sign-up): no other tenant's
                // row is read or written (the root's key is unique: foreign keys point at it).
                Fact::Open { witness, .. }
                    if cmd == Command::Insert
                        && matches!(
                            self.model.tenancy(&rel.qualified_name()),
                            Some(Tenancy::Root)
                        ) =>
                {
                    bound_reasons.push(format!(
                        "a new row of the tenant root is a new tenant ({witness})"
                    ))
                }
                Fact::Open { kind, witness } => {
                    return Verdict::Open {
                        kind,
                        policy,
                        witness,
                        check,
                    }
                }
                Fact::Unknown { reason } => return Verdict::CannotVerify { reason, policy },
                Fact::Bound { how } => bound_reasons.push(how),
            }
        }
        Verdict::TenantBound {
            reason: bound_reasons.join("; "),
        }
    }
}

impl AccessModel {
    pub fn build(snapshot: &Snapshot, model: &TenantModel, config: &AccessConfig) -> AccessModel {
        Self::build_with(snapshot, model, config, true)
    }

    /// As [`AccessModel::build`], analysing every policy on every table afresh: for the test
    /// that sharing analyses across tables changes no verdict.
    #[doc(hidden)]
    pub fn build_unshared(
        snapshot: &Snapshot,
        model: &TenantModel,
        config: &AccessConfig,
    ) -> AccessModel {
        Self::build_with(snapshot, model, config, false)
    }

    fn build_with(
        snapshot: &Snapshot,
        model: &TenantModel,
        config: &AccessConfig,
        share: bool,
    ) -> AccessModel {
        let roles = analysed_roles(snapshot, config);
        let tables: Vec<(&QualifiedName, &Relation)> = model
            .tables
            .iter()
            .filter(|(_, tenancy)| !matches!(tenancy, Tenancy::Global { .. }))
            .filter_map(|(name, _)| Some((name, snapshot.relation(name)?)))
            .collect();
        // Tables are independent: split them across cores in contiguous chunks (so the
        // policies stay in table order). Each worker keeps its own memo tables, which the
        // schemas that need the speed (thousands of tables) fill in a few hundred entries.
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(tables.len() / PARALLEL_MIN_TABLES)
            .max(1);
        let chunk = tables.len().div_ceil(workers).max(1);
        let parts: Vec<Part> = if workers == 1 {
            vec![build_part(snapshot, model, config, &roles, &tables, share)]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = tables
                    .chunks(chunk)
                    .map(|part| {
                        scope.spawn(|| build_part(snapshot, model, config, &roles, part, share))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                    .collect()
            })
        };
        let mut tables = BTreeMap::new();
        let mut policies = vec![];
        for part in parts {
            tables.extend(part.tables);
            policies.extend(part.policies);
        }
        AccessModel {
            roles,
            tables,
            policies,
        }
    }

    pub fn cells(&self, table: &QualifiedName) -> &[Cell] {
        self.tables.get(table).map(Vec::as_slice).unwrap_or(&[])
    }
}
