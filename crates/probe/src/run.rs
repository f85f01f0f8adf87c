//! The driver: choose the tenants and attackers, list the objects to attack, and attack them
//! on `jobs` connections at once, each object in its own rolled-back transaction.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tenantguard_catalog::{
    connect, Function, QualifiedName, Relation, RelationKind, Snapshot, PLATFORM_SCHEMAS,
};
use tenantguard_tenant_model::{Tenancy, TenantModel};

use crate::attacker::{Attacker, ClaimTemplate};
use crate::attacks::{attack_table, own_table, Settings, TableCtx};
use crate::objects::{attack_function, attack_view};
use crate::own::OwnAccessMatrix;
use crate::rows::{column_meta, RowBuilder, SeedContext};
use crate::{tenants, ProofReport};
use tenantguard_access::AccessModel;

pub type Progress = Arc<dyn Fn(usize, usize, &str) + Send + Sync>;

#[derive(Clone)]
pub struct ProveOptions {
    pub tenants: Option<(String, String)>,
    pub extra_roles: Vec<String>,
    pub claims: ClaimTemplate,
    pub read_only: bool,
    pub jobs: usize,
    pub statement_timeout: Duration,
    pub lock_timeout: Duration,
    pub max_write_rows: f64,
    pub progress: Option<Progress>,
    /// The analysis of the same snapshot, when the caller has one (the claims the policies read
    /// are taken from it); built with the default API roles otherwise.
    pub access: Option<Arc<AccessModel>>,
}

impl Default for ProveOptions {
    fn default() -> Self {
        ProveOptions {
            tenants: None,
            extra_roles: vec![],
            claims: ClaimTemplate::default(),
            read_only: false,
            jobs: 4,
            statement_timeout: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(2),
            max_write_rows: 1_000_000.0,
            progress: None,
            access: None,
        }
    }
}

enum Task<'a> {
    Table(&'a Relation),
    View(&'a Relation, String),
    Function(&'a Function),
}

impl Task<'_> {
    fn label(&self) -> String {
        match self {
            Task::Table(r) | Task::View(r, _) => r.qualified_name().to_string(),
            Task::Function(f) => format!("{}.{}", f.schema, f.name),
        }
    }
}

/// What every run needs before the first attack: the tenants, the attackers, column types and
/// what the row builder knows.
struct Setup {
    pair: crate::TenantPair,
    attackers: Vec<Attacker>,
    notes: Vec<String>,
    meta: std::collections::HashMap<u32, Vec<crate::rows::ColumnMeta>>,
    seeds: SeedContext,
    settings: Settings,
}

/// The claim the policies read most (`tenantguard_rules::rls::main_claim`'s count, on the
/// access model's observations), if any policy reads one.
pub fn main_claim(access: &AccessModel) -> Option<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for p in &access.policies {
        for o in &p.observations {
            if let tenantguard_access::Observation::Claim { path, .. } = o {
                *counts.entry(path.clone()).or_default() += 1;
            }
        }
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(p, _)| p)
}

async fn setup(
    client: &tokio_postgres::Client,
    snapshot: &Snapshot,
    model: &TenantModel,
    access: &AccessModel,
    opts: &ProveOptions,
) -> Result<Setup> {
    let mut notes = vec![];
    let memberships = crate::predicates::membership_lookups(snapshot);
    let pair = tenants::pick(client, snapshot, model, opts.tenants.clone(), &memberships).await?;
    let user = pair
        .attacker_user
        .clone()
        .unwrap_or_else(|| "00000000-0000-4000-8000-0000000000a1".into());
    let victim_user = pair
        .victim_user
        .clone()
        .unwrap_or_else(|| "00000000-0000-4000-8000-0000000000b2".into());
    if pair.attacker_user.is_none() {
        notes.push(if memberships.is_empty() {
            "no user of tenant A was found (no column referencing auth.users or named user_id): the JWT's sub is a made-up user".to_string()
        } else {
            "no user of tenant A was found: the JWT's sub is a made-up user, made a member of A (inside each rolled-back transaction) where the policies look the caller up".to_string()
        });
    }
    let role_names: HashSet<&str> = snapshot.roles.iter().map(|r| r.name.as_str()).collect();
    // The claim the policies read, when the claims are not configured.
    let mut claims = opts.claims.clone();
    if claims.is_default_claims() {
        if let Some(path) = main_claim(access).filter(|p| p != "organization_id") {
            claims = claims.with_claim_path(&path);
            notes.push(format!(
                "the policies read the tenant from the JWT claim `{path}`: A's JWT carries A there"
            ));
        }
    }
    let (attackers, attacker_notes) = Attacker::defaults(
        &claims,
        &pair.attacker,
        &pair.victim,
        &user,
        &opts.extra_roles,
        &|r| role_names.contains(r),
    )
    .map_err(anyhow::Error::msg)?;
    notes.extend(attacker_notes);
    let table_oids: Vec<u32> = snapshot
        .relations
        .iter()
        .chain(&snapshot.support_relations)
        .filter(|r| matches!(r.kind, RelationKind::Table | RelationKind::PartitionedTable))
        .map(|r| r.oid)
        .collect();
    let meta = column_meta(client, &table_oids).await?;
    let mut user_of = std::collections::HashMap::new();
    user_of.insert(pair.attacker.clone(), user);
    user_of.insert(pair.victim.clone(), victim_user);
    let seeds = SeedContext::build(snapshot, user_of, memberships);
    let settings = Settings {
        read_only: opts.read_only,
        statement_timeout: opts.statement_timeout,
        lock_timeout: opts.lock_timeout,
        max_write_rows: opts.max_write_rows,
    };
    Ok(Setup {
        pair,
        attackers,
        notes,
        meta,
        seeds,
        settings,
    })
}

async fn bounded(client: &tokio_postgres::Client, opts: &ProveOptions) -> Result<()> {
    // The set-up queries (choosing tenants, column types) run outside the attack transactions:
    // bound them like the attacks.
    client
        .batch_execute(&format!(
            "SET statement_timeout = {}; SET lock_timeout = {}",
            opts.statement_timeout.as_millis().max(1),
            opts.lock_timeout.as_millis().max(1)
        ))
        .await
        .context("setting timeouts")
}

/// The access model `prove` reads the claims and lookups from: the caller's, or built with
/// the default roles.
fn access_of<'a>(
    snapshot: &Snapshot,
    model: &TenantModel,
    opts: &'a ProveOptions,
    built: &'a mut Option<AccessModel>,
) -> &'a AccessModel {
    match &opts.access {
        Some(a) => a,
        None => built.insert(AccessModel::build(
            snapshot,
            model,
            &tenantguard_access::AccessConfig::default(),
        )),
    }
}

/// A's own-access matrix alone (no attack on B): for comparing before and after a change
/// (e.g. a fix phase) that must not take A's own rows away. Every table in its own
/// rolled-back transaction on `client`.
pub async fn own_access(
    client: &tokio_postgres::Client,
    snapshot: &Snapshot,
    model: &TenantModel,
    access: &AccessModel,
    opts: &ProveOptions,
) -> Result<OwnAccessMatrix> {
    let trial = OwnTrial::new(client, snapshot, model, access, opts).await?;
    let mut entries = vec![];
    for task in tasks(snapshot, model, &trial.setup.attackers) {
        if let Task::Table(rel) = task {
            entries.extend(own_table(&trial.ctx(), rel).await);
        }
    }
    Ok(OwnAccessMatrix { entries })
}

/// What a change would do to A's own access, measured without making it: the change's
/// statements run first in one transaction, A's own-row probes follow (each table under a
/// savepoint), and everything is rolled back. The tenants, attackers and row seeds are chosen
/// once, so trials of different changes are compared cell by cell.
pub struct OwnTrial<'a> {
    client: &'a tokio_postgres::Client,
    snapshot: &'a Snapshot,
    model: &'a TenantModel,
    setup: Setup,
}

/// One trial: the matrix, and the first statement of the change that failed (its index and
/// PostgreSQL's message; the statements after it were not run, as `fix --apply` would stop).
#[derive(Debug, Clone)]
pub struct TrialResult {
    pub matrix: OwnAccessMatrix,
    pub failed: Option<(usize, String)>,
}

impl<'a> OwnTrial<'a> {
    pub async fn new(
        client: &'a tokio_postgres::Client,
        snapshot: &'a Snapshot,
        model: &'a TenantModel,
        access: &AccessModel,
        opts: &ProveOptions,
    ) -> Result<OwnTrial<'a>> {
        bounded(client, opts).await?;
        let setup = setup(client, snapshot, model, access, opts).await?;
        Ok(OwnTrial {
            client,
            snapshot,
            model,
            setup,
        })
    }

    fn ctx(&self) -> TableCtx<'_> {
        TableCtx {
            rows: RowBuilder {
                client: self.client,
                snapshot: self.snapshot,
                model: self.model,
                meta: &self.setup.meta,
                seeds: &self.setup.seeds,
            },
            pair: &self.setup.pair,
            attackers: &self.setup.attackers,
            settings: &self.setup.settings,
        }
    }

    /// Runs `change` (statements, in order, each under a savepoint; none committed), then A's
    /// own-row probes on every tenant table, then ROLLBACK.
    pub async fn run(&self, change: &[&str]) -> Result<TrialResult> {
        let client = self.client;
        let s = &self.setup.settings;
        client
            .batch_execute(&format!(
                "BEGIN; SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = {}",
                s.lock_timeout.as_millis().max(1)
            ))
            .await
            .context("starting a trial transaction")?;
        let mut failed = None;
        for (i, sql) in change.iter().enumerate() {
            let r = client
                .batch_execute(&format!(
                    "SAVEPOINT tg_change;\n{sql}\n;RELEASE SAVEPOINT tg_change"
                ))
                .await;
            if let Err(e) = r {
                let _ = client
                    .batch_execute("ROLLBACK TO SAVEPOINT tg_change; RELEASE SAVEPOINT tg_change")
                    .await;
                failed = Some((i, crate::rows::db_message(&e)));
                break;
            }
        }
        let probes = client
            .batch_execute(&format!(
                "SET LOCAL statement_timeout = {}",
                s.statement_timeout.as_millis().max(1)
            ))
            .await;
        let mut entries = vec![];
        if probes.is_ok() {
            let ctx = self.ctx();
            for task in tasks(self.snapshot, self.model, &self.setup.attackers) {
                let Task::Table(rel) = task else { continue };
                if client.batch_execute("SAVEPOINT tg_trial").await.is_err() {
                    break;
                }
                entries.extend(match crate::attacks::seed_tenants(&ctx).await {
                    Ok(()) => crate::own::own_probes(&ctx, rel).await,
                    Err(why) => crate::own::skipped_all(&ctx, rel, &why),
                });
                let _ = client
                    .batch_execute("ROLLBACK TO SAVEPOINT tg_trial; RELEASE SAVEPOINT tg_trial")
                    .await;
            }
        }
        client
            .batch_execute("ROLLBACK")
            .await
            .context("rolling the trial back")?;
        probes.context("setting the probes' statement timeout")?;
        Ok(TrialResult {
            matrix: OwnAccessMatrix { entries },
            failed,
        })
    }
}

/// Runs every attack. Nothing is committed: each object's transaction ends in ROLLBACK.
pub async fn prove(
    url: &str,
    snapshot: &Snapshot,
    model: &TenantModel,
    opts: &ProveOptions,
) -> Result<ProofReport> {
    let started = Instant::now();
    let (client, target) = connect(url).await?;
    bounded(&client, opts).await?;
    let mut built = None;
    let access = access_of(snapshot, model, opts, &mut built);
    let Setup {
        pair,
        attackers,
        mut notes,
        meta,
        seeds,
        settings,
    } = setup(&client, snapshot, model, access, opts)
        .await
        .with_context(|| format!("choosing tenants in {target}"))?;
    if !snapshot.current_user_bypasses_rls {
        notes.push(format!(
            "role {} is subject to RLS: B's rows it cannot see are neither attacked nor counted; prove as the table owner or a BYPASSRLS role",
            snapshot.current_user
        ));
    }
    if !opts.read_only {
        notes.push("every write was rolled back; INSERT attacks on tables with serial or identity keys may still advance their sequences (PostgreSQL never rolls sequences back) — use --read-only to avoid even that".into());
    }

    let tasks = tasks(snapshot, model, &attackers);
    let key_type = model
        .root
        .as_ref()
        .map(|r| r.key_type.clone())
        .unwrap_or_default();

    let jobs = opts.jobs.clamp(1, 32).min(tasks.len().max(1));
    let mut clients = vec![client];
    for _ in 1..jobs {
        clients.push(connect(url).await?.0);
    }
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let total = tasks.len();
    let workers = clients.iter().map(|client| {
        let (tasks, next, done, meta, pair, attackers, settings, key_type, seeds) = (
            &tasks, &next, &done, &meta, &pair, &attackers, &settings, &key_type, &seeds,
        );
        async move {
            let ctx = TableCtx {
                rows: RowBuilder {
                    client,
                    snapshot,
                    model,
                    meta,
                    seeds,
                },
                pair,
                attackers,
                settings,
            };
            let mut out = vec![];
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(task) = tasks.get(i) else { break };
                let results = match task {
                    Task::Table(rel) => attack_table(&ctx, rel).await,
                    Task::View(view, key) => (attack_view(&ctx, view, key).await, vec![]),
                    Task::Function(f) => (attack_function(&ctx, f, key_type).await, vec![]),
                };
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(p) = &opts.progress {
                    p(n, total, &task.label());
                }
                out.push((i, results));
            }
            out
        }
    });
    type PerTask = (Vec<crate::AttackResult>, Vec<crate::OwnAccess>);
    let mut per_task: Vec<(usize, PerTask)> = futures_util::future::join_all(workers)
        .await
        .into_iter()
        .flatten()
        .collect();
    per_task.sort_by_key(|(i, _)| *i);
    let mut results = vec![];
    let mut own = vec![];
    for (_, (r, o)) in per_task {
        results.extend(r);
        own.extend(o);
    }
    let own = OwnAccessMatrix { entries: own };
    let suspect = crate::own::suspect_claims_note(&own);
    if let Some(note) = &suspect {
        notes.insert(0, note.clone());
    }
    Ok(ProofReport {
        tool: "tenantguard".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        database: snapshot.database.clone(),
        tenants: Some(pair),
        roles: attackers.iter().map(|a| a.label.clone()).collect(),
        attackers: attackers.clone(),
        read_only: opts.read_only,
        summary: ProofReport::summarise(&results),
        results,
        own_access: own.entries,
        claims_suspect: suspect.is_some(),
        elapsed_ms: started.elapsed().as_millis() as u64,
        notes,
    })
}

/// Tenant tables (with the partitions and inheritance children of tenant tables, which can be
/// queried directly), then views over them, then SECURITY DEFINER functions the attackers
/// can execute.
fn tasks<'a>(snapshot: &'a Snapshot, model: &TenantModel, attackers: &[Attacker]) -> Vec<Task<'a>> {
    let tenanted = |name: &QualifiedName| {
        let mut t = model.tenancy(name);
        if t.is_none() {
            t = snapshot
                .relation(name)
                .and_then(|r| r.parents.iter().find_map(|p| model.tenancy(p)));
        }
        t.filter(|t| !matches!(t, Tenancy::Global { .. })).cloned()
    };
    let mut out = vec![];
    for rel in &snapshot.relations {
        if rel.from_extension
            || !matches!(
                rel.kind,
                RelationKind::Table | RelationKind::PartitionedTable
            )
        {
            continue;
        }
        if tenanted(&rel.qualified_name()).is_some() {
            out.push(Task::Table(rel));
        }
    }
    for rel in &snapshot.relations {
        if rel.from_extension
            || !matches!(
                rel.kind,
                RelationKind::View | RelationKind::MaterializedView
            )
        {
            continue;
        }
        let Some(def) = &rel.view_definition else {
            continue;
        };
        let Ok(node) = tenantguard_access::parse_expr(&format!(
            "EXISTS ({})",
            def.trim().trim_end_matches(';')
        )) else {
            continue;
        };
        // The tenant key of a table the view reads, if the view exposes a column of that name.
        let key = tenantguard_access::tables_read(&node)
            .iter()
            .filter_map(|t| match tenanted(t)? {
                Tenancy::Direct { column, .. } => Some(column),
                Tenancy::Root => model.root.as_ref().map(|r| r.key.clone()),
                _ => None,
            })
            .find(|k| rel.column(k).is_some());
        if let Some(key) = key {
            out.push(Task::View(rel, key));
        }
    }
    let roles: HashSet<&str> = attackers.iter().map(|a| a.role.as_str()).collect();
    for f in &snapshot.functions {
        if !f.security_definer
            || f.from_extension
            || PLATFORM_SCHEMAS.contains(&f.schema.as_str())
            || !f
                .execute_grantees
                .iter()
                .any(|g| g == "PUBLIC" || roles.contains(g.as_str()))
        {
            continue;
        }
        out.push(Task::Function(f));
    }
    out
}
