//! The driver: choose the tenants and attackers, list the objects to attack, and attack them
//! on `jobs` connections at once, each object in its own rolled-back transaction.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tenantguard_catalog::{
    connect, Function, QualifiedName, Relation, RelationKind, Snapshot, PLATFORM_SCHEMAS,
};
use tenantguard_tenant_model::{Tenancy, TenantModel};

use crate::attacker::{Attacker, ClaimTemplate};
use crate::attacks::{attack_table, Settings, TableCtx};
use crate::objects::{attack_function, attack_view};
use crate::rows::{column_meta, RowBuilder};
use crate::{tenants, ProofReport};

pub type Progress = Arc<dyn Fn(usize, usize, &str) + Send + Sync>;

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

/// Runs every attack. Nothing is committed: each object's transaction ends in ROLLBACK.
pub async fn prove(
    url: &str,
    snapshot: &Snapshot,
    model: &TenantModel,
    opts: &ProveOptions,
) -> Result<ProofReport> {
    let started = Instant::now();
    let (client, target) = connect(url).await?;
    // The set-up queries (choosing tenants, column types) run outside the attack transactions:
    // bound them like the attacks.
    client
        .batch_execute(&format!(
            "SET statement_timeout = {}; SET lock_timeout = {}",
            opts.statement_timeout.as_millis().max(1),
            opts.lock_timeout.as_millis().max(1)
        ))
        .await
        .context("setting timeouts")?;
    let mut notes = vec![];
    let pair = tenants::pick(&client, snapshot, model, opts.tenants.clone())
        .await
        .with_context(|| format!("choosing tenants in {target}"))?;
    let user = pair
        .attacker_user
        .clone()
        .unwrap_or_else(|| "00000000-0000-4000-8000-0000000000a1".into());
    if pair.attacker_user.is_none() {
        notes.push("no user of tenant A was found (no column referencing auth.users or named user_id): the JWT's sub is a made-up user, so membership policies will show A as an outsider".into());
    }
    let role_names: HashSet<&str> = snapshot.roles.iter().map(|r| r.name.as_str()).collect();
    let (attackers, attacker_notes) = Attacker::defaults(
        &opts.claims,
        &pair.attacker,
        &pair.victim,
        &user,
        &opts.extra_roles,
        &|r| role_names.contains(r),
    )
    .map_err(anyhow::Error::msg)?;
    notes.extend(attacker_notes);
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
    let table_oids: Vec<u32> = snapshot
        .relations
        .iter()
        .filter(|r| matches!(r.kind, RelationKind::Table | RelationKind::PartitionedTable))
        .map(|r| r.oid)
        .collect();
    let meta = column_meta(&client, &table_oids).await?;
    let settings = Settings {
        read_only: opts.read_only,
        statement_timeout: opts.statement_timeout,
        lock_timeout: opts.lock_timeout,
        max_write_rows: opts.max_write_rows,
    };
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
        let (tasks, next, done, meta, pair, attackers, settings, key_type) = (
            &tasks, &next, &done, &meta, &pair, &attackers, &settings, &key_type,
        );
        async move {
            let ctx = TableCtx {
                rows: RowBuilder {
                    client,
                    snapshot,
                    model,
                    meta,
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
                    Task::View(view, key) => {
                        attack_view(client, view, key, pair, attackers, settings).await
                    }
                    Task::Function(f) => {
                        attack_function(client, f, key_type, pair, attackers, settings).await
                    }
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
    let mut per_task: Vec<(usize, Vec<crate::AttackResult>)> =
        futures_util::future::join_all(workers)
            .await
            .into_iter()
            .flatten()
            .collect();
    per_task.sort_by_key(|(i, _)| *i);
    let results: Vec<crate::AttackResult> = per_task.into_iter().flat_map(|(_, r)| r).collect();
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
