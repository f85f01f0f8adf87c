//! `cargo build --release -p tenantguard && cargo run --release -p tenantguard-bench --bin static-audit`
//!
//! The static audit (no data scan) of a Supabase-style schema of N tables — each with a tenant
//! key, a foreign key to the root, an index and a tenant policy — timed end to end as a user
//! runs it (`tenantguard audit --no-data --format json`, process start to exit), next to the
//! in-process stages. Target from the RLS issue: ≤ 0.25 s wall for 2,000 tables.

use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use pg_harness::{Cluster, ClusterOptions};
use tenantguard_access::{AccessConfig, AccessModel};
use tenantguard_catalog::{connect, load_snapshot_with, SnapshotOptions};
use tenantguard_rules::{run_rules, Context as RuleContext, RulesConfig};
use tenantguard_tenant_model::{TenantConfig, TenantModel};

// The same allocator as the CLI, so the in-process stages measure what the CLI runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RUNS: usize = 5;
const TARGET_S: f64 = 0.25;

fn main() -> ExitCode {
    let mut tables = 2000usize;
    let mut hold = false;
    let mut membership = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--hold" {
            hold = true;
            continue;
        }
        if a == "--membership" {
            membership = true;
            continue;
        }
        match (
            a.as_str(),
            args.next().map(|v| v.replace('_', "").parse::<usize>()),
        ) {
            ("--tables", Some(Ok(n))) if n > 0 => tables = n,
            _ => {
                eprintln!("usage: static-audit [--tables N] [--membership] [--hold]   (default 2000 tables with a JWT-claim policy; --membership: policies look the tenant up in a members table; --hold keeps the cluster up for profiling until Enter)");
                return ExitCode::from(2);
            }
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match rt.block_on(run(tables, membership, hold)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn run(tables: usize, membership: bool, hold: bool) -> Result<()> {
    let exe = std::env::current_exe()?
        .parent()
        .context("no parent dir")?
        .join("tenantguard");
    if !exe.is_file() {
        bail!(
            "{} not found: build it first with `cargo build --release -p tenantguard`",
            exe.display()
        );
    }
    let cluster = Cluster::start_with(ClusterOptions {
        settings: vec![("max_locks_per_transaction".into(), "4096".into())],
    })?;
    let url = cluster.create_supabase_database("static_audit").await?;
    let client = cluster.connect("static_audit").await?;
    let started = Instant::now();
    client
        .batch_execute(
            "CREATE TABLE organizations (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text);
             ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
             CREATE POLICY own_org ON organizations FOR SELECT TO authenticated
               USING (id = (SELECT (auth.jwt() ->> 'organization_id')::uuid));
             CREATE TABLE members (user_id uuid NOT NULL, org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
               PRIMARY KEY (user_id, org_id));
             CREATE INDEX ON members (org_id);
             ALTER TABLE members ENABLE ROW LEVEL SECURITY;
             CREATE POLICY own_memberships ON members FOR SELECT TO authenticated
               USING (user_id = (SELECT auth.uid()));",
        )
        .await?;
    // The tenant rule of every table: a claim in the JWT, or (--membership) the caller's
    // organizations looked up in `members`, in the form the performance rule recommends.
    let tenant_rule = if membership {
        "org_id = ANY (ARRAY(SELECT m.org_id FROM members m WHERE m.user_id = (SELECT auth.uid())))"
    } else {
        "org_id = (SELECT (auth.jwt() ->> 'organization_id')::uuid)"
    };
    let mut batch = String::new();
    for i in 1..=tables {
        batch.push_str(&format!(
            "CREATE TABLE t_{i:05} (id bigserial PRIMARY KEY, org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE, payload text);
             CREATE INDEX ON t_{i:05} (org_id);
             ALTER TABLE t_{i:05} ENABLE ROW LEVEL SECURITY;
             CREATE POLICY tenant_isolation ON t_{i:05} FOR ALL TO authenticated
               USING ({tenant_rule}) WITH CHECK ({tenant_rule});\n"
        ));
        if i % 200 == 0 || i == tables {
            client.batch_execute(&batch).await?;
            batch.clear();
        }
    }
    // Steady state: on a live database autovacuum has long cleaned up the catalog rows that
    // creating 2,000 tables (and enabling RLS on each) leaves dead; do it now.
    client.batch_execute("VACUUM ANALYZE").await?;
    println!(
        "created {tables} Supabase-style tenant tables in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    if hold {
        // For profiling the CLI against a warm database: the cluster lives until Enter.
        println!("holding the cluster; audit it with --database-url '{url}'; press Enter to stop");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        return Ok(());
    }
    // End to end, as a user runs it.
    let mut wall = vec![];
    let mut findings = 0;
    for _ in 0..=RUNS {
        let t = Instant::now();
        let out = Command::new(&exe)
            .args([
                "audit",
                "--no-data",
                "--format",
                "json",
                "--database-url",
                &url,
            ])
            .output()?;
        wall.push(t.elapsed().as_secs_f64());
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("audit failed: {}", String::from_utf8_lossy(&out.stderr)))?;
        if out.status.code() != Some(0) {
            let found: Vec<String> = report["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .take(5)
                .map(|f| f["message"].to_string())
                .collect();
            bail!(
                "the audit found problems on a clean schema: {}",
                found.join("; ")
            );
        }
        findings = report["findings"].as_array().map(|a| a.len()).unwrap_or(0);
    }
    wall.remove(0); // the first run warms the caches
                    // The same stages in-process.
    let mut stages = vec![vec![]; 4];
    for _ in 0..RUNS {
        let t = Instant::now();
        // As the CLI does it: two connections, the policies read on the second.
        let ((c, _), (c2, _)) = tokio::try_join!(connect(&url), connect(&url))?;
        let snapshot = load_snapshot_with(&c, Some(&c2), &SnapshotOptions::default()).await?;
        let t1 = Instant::now();
        let model = TenantModel::infer(&snapshot, &TenantConfig::default())?;
        let t2 = Instant::now();
        let access = AccessModel::build(&snapshot, &model, &AccessConfig::default());
        let t3 = Instant::now();
        let config = RulesConfig::default();
        let f = run_rules(&RuleContext {
            snapshot: &snapshot,
            model: &model,
            access: &access,
            scans: None,
            config: &config,
        });
        let t4 = Instant::now();
        std::hint::black_box(f);
        stages[0].push((t1 - t).as_secs_f64());
        stages[1].push((t2 - t1).as_secs_f64());
        stages[2].push((t3 - t2).as_secs_f64());
        stages[3].push((t4 - t3).as_secs_f64());
    }
    let w = median(wall.clone());
    println!(
        "\ntenantguard audit --no-data, {tables} tables: {:.3} s median wall (runs: {}), {findings} findings — target ≤ {TARGET_S} s: {}",
        w,
        wall.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(" / "),
        if w <= TARGET_S { "PASS" } else { "MISS" }
    );
    for (name, v) in [
        "connect + snapshot",
        "tenant model",
        "access model",
        "rules",
    ]
    .iter()
    .zip(stages)
    {
        println!("  {name:<20} {:.3} s", median(v));
    }
    Ok(())
}
