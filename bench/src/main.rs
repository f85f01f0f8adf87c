//! `cargo run --release -p tenantguard-bench` — measures, side by side on one throwaway cluster,
//! what tenantguard claims about its own speed (see docs/performance.md):
//!
//! 1. catalog: `load_snapshot` over N RLS-enabled tenant tables vs. one catalog query per table;
//! 2. data: tenantguard's scan statements on a 10M-row table with and without an index on the
//!    tenant key, against a plain `count(*)` of the same table and against the seed's
//!    `NOT IN (SELECT …)` + `IS NULL` queries, with everything in shared buffers.
//!
//! Every timing is wall time measured from the client: one untimed warm-up, then the median of
//! three runs.

use std::future::Future;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use pg_harness::{Cluster, ClusterOptions};
use tenantguard_catalog::{connect, load_snapshot, Snapshot, SnapshotOptions};
use tenantguard_scan::{plan_scans, run_scans, ScanKind, ScanOptions, ScanOutcome, ScanTask};
use tenantguard_tenant_model::{TenantConfig, TenantModel};
use tokio_postgres::Client;

const USAGE: &str = "\
usage: tenantguard-bench [--tables N] [--rows N] [--tenants N] [--skip-schema] [--skip-data] [--explain]

  --tables N     tenant tables for the catalog benchmark          (default 5000)
  --rows N       rows in big_with_index / big_no_index            (default 10000000)
  --tenants N    organizations the rows are spread over           (default 10000)
  --skip-schema  skip the catalog benchmark (step 1)
  --skip-data    skip the data-scan benchmark (step 2)
  --explain      also print EXPLAIN (ANALYZE, BUFFERS) of the scan statements

Numbers accept underscores (10_000_000). Starts its own throwaway PostgreSQL cluster.";

/// Rows planted in the big tables that the scans must find.
const MISSING_TENANTS: i64 = 10;
const ROWS_PER_MISSING_TENANT: i64 = 100;
const NULL_ROWS: i64 = 500;
const ORPHAN_ROWS: i64 = MISSING_TENANTS * ROWS_PER_MISSING_TENANT;

/// Tenant tables per DDL statement batch.
const DDL_BATCH: usize = 200;
const RUNS: usize = 3;

/// The one-pass scan rewritten so PostgreSQL can run it with parallel workers: an anti-join
/// grouped by tenant id (NULL keys survive the anti-join as their own group), then the same four
/// results. tenantguard adopted this form in plan_scans; kept here as a hand-written cross-check.
const CANDIDATE_ONE_PASS: &str = "WITH g AS (
  SELECT t.org_id AS k, count(*) AS n
  FROM public.big_no_index t
  WHERE NOT EXISTS (SELECT 1 FROM public.organizations r WHERE r.id = t.org_id)
  GROUP BY t.org_id
)
SELECT coalesce((SELECT sum(n) FROM g WHERE k IS NULL), 0)::int8,
       coalesce((SELECT sum(n) FROM g WHERE k IS NOT NULL), 0)::int8,
       (SELECT count(*) FROM g WHERE k IS NOT NULL),
       ARRAY(SELECT k::text FROM g WHERE k IS NOT NULL ORDER BY 1 LIMIT 5)";

/// Targets from the performance issue, as a multiple of the table's `count(*)`.
const TARGET_SKIP_SCAN: f64 = 0.3;
const TARGET_ONE_PASS: f64 = 5.0;

#[derive(Debug)]
struct Args {
    tables: usize,
    rows: i64,
    tenants: i64,
    skip_schema: bool,
    skip_data: bool,
    explain: bool,
}

enum Parsed {
    Run(Args),
    Help,
}

fn parse_number(flag: &str, value: Option<String>) -> Result<i64, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a number"))?;
    value
        .replace('_', "")
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| format!("{flag}: {value:?} is not a non-negative number"))
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Parsed, String> {
    let mut args = Args {
        tables: 5000,
        rows: 10_000_000,
        tenants: 10_000,
        skip_schema: false,
        skip_data: false,
        explain: false,
    };
    while let Some(arg) = argv.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| argv.next());
        match flag.as_str() {
            "--tables" => args.tables = parse_number("--tables", value())? as usize,
            "--rows" => args.rows = parse_number("--rows", value())?,
            "--tenants" => args.tenants = parse_number("--tenants", value())?,
            "--skip-schema" | "--skip-data" | "--explain" | "-h" | "--help" if inline.is_some() => {
                return Err(format!("{flag} takes no value"))
            }
            "--skip-schema" => args.skip_schema = true,
            "--skip-data" => args.skip_data = true,
            "--explain" => args.explain = true,
            "-h" | "--help" => return Ok(Parsed::Help),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if args.tenants < 1 {
        return Err("--tenants must be at least 1".into());
    }
    if args.rows > i32::MAX as i64 {
        return Err(format!("--rows must be at most {}", i32::MAX));
    }
    if args.tables > 99_999 {
        return Err("--tables must be at most 99999".into());
    }
    Ok(Parsed::Run(args))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("error: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Timing

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn median(times: &[f64]) -> f64 {
    let mut v = times.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// One untimed warm-up, then `RUNS` timed runs; returns the times and the last result.
async fn measure<T, F, Fut>(mut f: F) -> Result<(Vec<f64>, T)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut last = f().await?;
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        last = f().await?;
        times.push(ms(t));
    }
    Ok((times, last))
}

fn fmt_runs(times: &[f64]) -> String {
    times
        .iter()
        .map(|t| format!("{t:.1}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// One line of the final table.
struct Line {
    name: String,
    ms: f64,
    runs: Vec<f64>,
    /// Denominator of the ratio and what it is.
    base: Option<(f64, &'static str)>,
    /// (ratio target, text), `None` when the line is only for comparison.
    target: Option<(f64, String)>,
    note: String,
}

impl Line {
    fn ratio(&self) -> Option<f64> {
        self.base.map(|(b, _)| self.ms / b)
    }
}

// ---------------------------------------------------------------------------------------------

async fn run(args: Args) -> Result<()> {
    println!("tenantguard-bench: {args:?}");
    let mut settings: Vec<(String, String)> = [
        // Room for both 10M-row tables and the index, so seq scans are not ring-buffered.
        ("shared_buffers", "4GB"),
        ("work_mem", "4MB"),
        ("max_parallel_workers_per_gather", "2"),
        // One batch of DDL_BATCH tables takes ~7 locks per table; 5000 tables in a snapshot.
        ("max_locks_per_transaction", "4096"),
        // Load speed only: no WAL for CREATE TABLE AS, fast index builds, no checkpoints.
        ("wal_level", "minimal"),
        ("max_wal_senders", "0"),
        ("maintenance_work_mem", "1GB"),
        ("max_wal_size", "16GB"),
        ("checkpoint_timeout", "1h"),
        // We VACUUM ANALYZE ourselves; autovacuum would only add noise to the timings.
        ("autovacuum", "off"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // pg_stat_statements (contrib), when installed, shows where load_snapshot's time goes.
    // (PATH may hold symlinks to the server binaries: resolve them to find the lib directory.)
    let statements = pg_harness::find_bin_dir()
        .and_then(|bin| std::fs::canonicalize(bin.join("postgres")).ok())
        .and_then(|postgres| {
            postgres
                .parent()?
                .parent()
                .map(|p| p.join("lib/pg_stat_statements.so"))
        })
        .is_some_and(|so| so.is_file());
    if statements {
        for (k, v) in [
            ("shared_preload_libraries", "pg_stat_statements"),
            ("pg_stat_statements.track_utility", "off"),
        ] {
            settings.push((k.to_string(), v.to_string()));
        }
    }
    let t = Instant::now();
    let cluster =
        Cluster::start_with(ClusterOptions { settings }).context("starting the cluster")?;
    let url = cluster
        .create_database("bench")
        .await
        .context("creating database bench")?;
    println!(
        "cluster started in {:.1} s (port {})",
        t.elapsed().as_secs_f64(),
        cluster.port()
    );
    let (client, _) = connect(&url).await?;

    let facts = machine_facts(&client).await?;
    let mut lines: Vec<Line> = vec![];

    client
        .batch_execute("CREATE TABLE organizations (id uuid PRIMARY KEY)")
        .await
        .context("creating organizations")?;

    if !args.skip_schema {
        schema_bench(&client, &url, &args, statements, &mut lines).await?;
    }
    if !args.skip_data {
        data_bench(&client, &url, &args, &mut lines).await?;
    }

    println!();
    println!("== machine ==");
    for (k, v) in &facts {
        println!("{k:<34} {v}");
    }
    println!();
    print_table(&lines);
    drop(client);
    drop(cluster);
    Ok(())
}

async fn machine_facts(client: &Client) -> Result<Vec<(String, String)>> {
    let mut facts = vec![];
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_else(|e| format!("unknown ({e})"));
    facts.push(("nproc".into(), nproc));
    if let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") {
        if let Some(model) = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
        {
            facts.push(("cpu".into(), model.1.trim().to_string()));
        }
    }
    if let Ok(meminfo) = std::fs::read_to_string("/proc/meminfo") {
        if let Some(total) = meminfo.lines().find(|l| l.starts_with("MemTotal")) {
            let kb: f64 = total
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0.0);
            facts.push(("memory".into(), format!("{:.1} GiB", kb / 1024.0 / 1024.0)));
        }
    }
    let row = client
        .query_one(
            "SELECT version(), current_setting('shared_buffers'), current_setting('work_mem'), \
             current_setting('max_parallel_workers_per_gather'), current_setting('jit'), \
             current_setting('max_locks_per_transaction')",
            &[],
        )
        .await
        .context("reading the server version")?;
    let names = [
        "postgresql",
        "shared_buffers",
        "work_mem",
        "max_parallel_workers_per_gather",
        "jit",
        "max_locks_per_transaction",
    ];
    for (i, name) in names.iter().enumerate() {
        let v: String = row.try_get(i)?;
        facts.push((name.to_string(), v));
    }
    Ok(facts)
}

// ---------------------------------------------------------------------------------------------
// Step 1: catalog

fn tenant_table(i: usize) -> String {
    format!("t_{i:05}")
}

async fn schema_bench(
    client: &Client,
    url: &str,
    args: &Args,
    statements: bool,
    lines: &mut Vec<Line>,
) -> Result<()> {
    println!();
    println!("== step 1: catalog, {} tenant tables ==", args.tables);
    let t = Instant::now();
    let mut start = 1;
    while start <= args.tables {
        let end = (start + DDL_BATCH - 1).min(args.tables);
        let mut ddl = String::new();
        for i in start..=end {
            let name = tenant_table(i);
            ddl.push_str(&format!(
                "CREATE TABLE public.{name} (id bigserial PRIMARY KEY, \
                 org_id uuid NOT NULL REFERENCES public.organizations(id) ON DELETE CASCADE, \
                 payload text, created_at timestamptz DEFAULT now());\n\
                 CREATE INDEX {name}_org_id_idx ON public.{name} (org_id);\n\
                 ALTER TABLE public.{name} ENABLE ROW LEVEL SECURITY;\n\
                 CREATE POLICY tenant_isolation ON public.{name} USING (org_id = \
                 (current_setting('request.jwt.claims', true)::jsonb ->> 'organization_id')::uuid);\n"
            ));
        }
        client
            .batch_execute(&ddl)
            .await
            .with_context(|| format!("creating tenant tables {start}..={end}"))?;
        start = end + 1;
    }
    println!(
        "created {} tables (+ organizations) in {:.1} s",
        args.tables,
        t.elapsed().as_secs_f64()
    );
    client
        .batch_execute("ANALYZE")
        .await
        .context("analyzing the new tables")?;

    // load_snapshot, each run on a fresh connection (as the CLI does); connecting is not timed.
    let load_once = || async {
        let (c, _) = connect(url).await?;
        let t = Instant::now();
        let s = load_snapshot(&c, &SnapshotOptions::default()).await?;
        Ok::<_, anyhow::Error>((ms(t), count_tables(&s)))
    };
    let _ = load_once().await?; // warm-up
    let statements = statements
        && client
            .batch_execute(
                "CREATE SCHEMA IF NOT EXISTS extensions; \
                 CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA extensions; \
                 SELECT extensions.pg_stat_statements_reset();",
            )
            .await
            .is_ok();
    let mut load_times = vec![];
    let mut seen = 0usize;
    for _ in 0..RUNS {
        let (elapsed, n) = load_once().await?;
        load_times.push(elapsed);
        seen = n;
    }
    let expected = args.tables + 1;
    if seen != expected {
        bail!(
            "load_snapshot saw {seen} tables, expected {expected} (tenant tables + organizations)"
        );
    }
    let load_ms = median(&load_times);
    println!(
        "load_snapshot: {load_ms:.1} ms median ({} ms), {seen} tables seen",
        fmt_runs(&load_times)
    );
    if statements {
        snapshot_breakdown(client).await?;
    } else {
        println!("  (pg_stat_statements unavailable: no per-query breakdown)");
    }

    // The same information as the naive loop below, in one query for every table: the
    // "one batched query" of the facts file.
    let batched_once = || async {
        let (c, _) = connect(url).await?;
        let t = Instant::now();
        let rows = c
            .query(
                "SELECT a.attrelid, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull \
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public' AND a.attnum > 0 \
                 AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum",
                &[],
            )
            .await
            .context("reading every table's columns")?;
        Ok::<_, anyhow::Error>((ms(t), rows.len()))
    };
    let _ = batched_once().await?; // warm-up
    let mut batched_times = vec![];
    for _ in 0..RUNS {
        let (elapsed, cols) = batched_once().await?;
        if cols < 4 * args.tables {
            bail!(
                "the batched column query read {cols} columns, expected at least {}",
                4 * args.tables
            );
        }
        batched_times.push(elapsed);
    }
    let batched_ms = median(&batched_times);
    println!(
        "one batched pg_attribute query: {batched_ms:.1} ms median ({} ms)",
        fmt_runs(&batched_times)
    );

    // The naive way: list the tables, then one catalog query per table (prepared once, so each
    // table costs exactly one round trip). Fresh connection per run; connecting is not timed.
    const PER_TABLE: &str =
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull \
        FROM pg_attribute a WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 \
        AND NOT a.attisdropped ORDER BY a.attnum";
    let naive_once = || async {
        let (c, _) = connect(url).await?;
        let t = Instant::now();
        let tables = c
            .query(
                "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public' ORDER BY 1",
                &[],
            )
            .await
            .context("listing tables")?;
        let stmt = c
            .prepare(PER_TABLE)
            .await
            .context("preparing the per-table query")?;
        let mut columns = 0usize;
        for row in &tables {
            let name: String = row.try_get(0)?;
            columns += c
                .query(&stmt, &[&name])
                .await
                .with_context(|| format!("reading columns of {name}"))?
                .len();
        }
        Ok::<_, anyhow::Error>((ms(t), tables.len(), columns))
    };
    let _ = naive_once().await?; // warm-up
    let mut naive_times = vec![];
    let mut naive_tables = 0;
    for _ in 0..RUNS {
        let (elapsed, n, cols) = naive_once().await?;
        if n != expected || cols < 4 * args.tables {
            bail!("naive loop read {n} tables / {cols} columns, expected {expected} tables");
        }
        naive_tables = n;
        naive_times.push(elapsed);
    }
    let naive_ms = median(&naive_times);
    println!(
        "naive per-table loop: {naive_ms:.1} ms median ({} ms), {naive_tables} queries (+1 to list them), \
         {:.2} ms per table",
        fmt_runs(&naive_times),
        naive_ms / naive_tables.max(1) as f64
    );

    lines.push(Line {
        name: format!("1. load_snapshot, {seen} tables (all catalog objects)"),
        ms: load_ms,
        runs: load_times,
        base: None,
        target: None,
        note: String::new(),
    });
    lines.push(Line {
        name: "1. columns of every table, 1 batched query".into(),
        ms: batched_ms,
        runs: batched_times,
        base: Some((load_ms, "load")),
        target: None,
        note: "the facts file's \"one batched query\": 0.22 s".into(),
    });
    lines.push(Line {
        name: format!("1. naive: 1 pg_attribute query per table × {naive_tables}"),
        ms: naive_ms,
        runs: naive_times,
        base: Some((batched_ms, "batched")),
        target: None,
        note: format!(
            "facts: 13–16× batched, 3.1–3.5 s; = {:.2}× load_snapshot",
            naive_ms / load_ms
        ),
    });
    Ok(())
}

/// Server execution time of each of load_snapshot's queries over the timed runs (planning,
/// round trips and decoding are the rest of the wall time).
async fn snapshot_breakdown(client: &Client) -> Result<()> {
    let rows = client
        .query(
            "SELECT calls, total_exec_time / calls, (rows / calls)::int8, query
             FROM extensions.pg_stat_statements
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND calls >= $1
             ORDER BY total_exec_time DESC",
            &[&(RUNS as i64)],
        )
        .await
        .context("reading pg_stat_statements")?;
    println!("  load_snapshot, server execution time per query (mean of {RUNS} runs, pg_stat_statements):");
    let mut total = 0.0;
    for row in rows {
        let mean: f64 = row.try_get(1)?;
        let n: i64 = row.try_get(2)?;
        let query: String = row.try_get(3)?;
        total += mean;
        println!(
            "    {:<12} {mean:>8.1} ms {n:>7} rows",
            catalog_query_label(&query)
        );
    }
    println!(
        "    {:<12} {total:>8.1} ms (the rest of the wall time: planning, round trips, decoding)",
        "sum"
    );
    Ok(())
}

/// Names load_snapshot's queries by what they read.
fn catalog_query_label(query: &str) -> String {
    const LABELS: &[(&str, &str)] = &[
        ("FROM pg_index i", "indexes"),
        ("FROM pg_constraint co", "constraints"),
        ("FROM pg_policy p", "policies"),
        ("aclexplode(coalesce(c.relacl", "grants"),
        ("FROM pg_attribute a JOIN pg_class", "columns"),
        ("FROM pg_proc p", "functions"),
        ("pg_auth_members", "roles"),
        ("pg_get_viewdef", "relations"),
        ("FROM pg_namespace", "schemas"),
        ("rolsuper OR", "session"),
    ];
    LABELS
        .iter()
        .find(|(needle, _)| query.contains(needle))
        .map(|(_, label)| label.to_string())
        .unwrap_or_else(|| {
            query
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(40)
                .collect()
        })
}

fn count_tables(s: &Snapshot) -> usize {
    s.relations.iter().filter(|r| r.kind.is_table()).count()
}

// ---------------------------------------------------------------------------------------------
// Step 2: data

async fn data_bench(client: &Client, url: &str, args: &Args, lines: &mut Vec<Line>) -> Result<()> {
    println!();
    println!(
        "== step 2: data, {} rows over {} tenants (+{ORPHAN_ROWS} orphans over {MISSING_TENANTS} missing tenants, +{NULL_ROWS} NULLs) ==",
        args.rows, args.tenants
    );
    // The harness runs with synchronous_commit=off. Then a VACUUM right after the load cannot
    // set hint bits or mark pages all-visible (the commit record is not flushed yet), and every
    // index-only scan would visit the heap. Commit synchronously in this session.
    client
        .batch_execute("SET synchronous_commit = on")
        .await
        .context("setting synchronous_commit")?;
    let t = Instant::now();
    client
        .batch_execute(&format!(
            "INSERT INTO organizations SELECT gen_random_uuid() FROM generate_series(1, {tenants});
             CREATE TABLE big_with_index (org_id uuid, payload int);",
            tenants = args.tenants
        ))
        .await
        .context("creating organizations rows")?;
    // Rows go round-robin over the tenants (each tenant's rows spread over the whole heap, as
    // in an append-only multi-tenant table); the orphans and NULLs come last.
    client
        .batch_execute(&format!(
            "WITH o AS (SELECT id, (row_number() OVER (ORDER BY id) - 1)::int AS n FROM organizations),
                  m AS (SELECT gen_random_uuid() AS id, (row_number() OVER () - 1)::int AS n
                        FROM generate_series(1, {MISSING_TENANTS}))
             INSERT INTO big_with_index (org_id, payload)
             SELECT o.id, g FROM generate_series(0, {rows} - 1) g JOIN o ON o.n = g % {tenants}
             UNION ALL
             SELECT m.id, g FROM generate_series(0, {ORPHAN_ROWS} - 1) g JOIN m ON m.n = g % {MISSING_TENANTS}
             UNION ALL
             SELECT NULL, g FROM generate_series(0, {NULL_ROWS} - 1) g",
            rows = args.rows,
            tenants = args.tenants
        ))
        .await
        .context("filling big_with_index")?;
    println!(
        "filled big_with_index in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    client
        .batch_execute(
            "CREATE INDEX big_with_index_org_id_idx ON big_with_index (org_id);
             CREATE TABLE big_no_index AS SELECT * FROM big_with_index;",
        )
        .await
        .context("indexing big_with_index / creating big_no_index")?;
    println!("index + big_no_index in {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    client
        .batch_execute("VACUUM (ANALYZE) big_with_index, big_no_index, organizations")
        .await
        .context("VACUUM ANALYZE")?;
    println!("VACUUM ANALYZE in {:.1} s", t.elapsed().as_secs_f64());

    warm(client).await?;

    // tenantguard's own plan for the two tables, from a fresh snapshot and model.
    let snapshot = load_snapshot(client, &SnapshotOptions::default()).await?;
    let model = TenantModel::infer(&snapshot, &TenantConfig::default())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match &model.root {
        Some(root) if root.table.name == "organizations" => {}
        other => bail!("the tenant model chose root {other:?}, expected public.organizations"),
    }
    let tasks: Vec<ScanTask> = plan_scans(&snapshot, &model)
        .into_iter()
        .filter(|t| {
            t.table.schema == "public"
                && (t.table.name == "big_with_index" || t.table.name == "big_no_index")
        })
        .collect();
    let task = |name: &str, want_skip: bool| -> Result<ScanTask> {
        let found = tasks
            .iter()
            .find(|t| t.table.name == name && matches!(t.kind, ScanKind::TenantKey { .. }))
            .with_context(|| format!("plan_scans planned no tenant-key scan for {name}"))?;
        match &found.kind {
            ScanKind::TenantKey { column, skip_scan } if column == "org_id" && *skip_scan == want_skip => {
                Ok(found.clone())
            }
            other => bail!(
                "plan_scans planned {other:?} for {name}, expected org_id with skip_scan = {want_skip}"
            ),
        }
    };
    let skip_task = task("big_with_index", true)?;
    let pass_task = task("big_no_index", false)?;
    if tasks.len() != 2 {
        bail!(
            "plan_scans planned {} tasks for the two big tables, expected 2",
            tasks.len()
        );
    }
    println!(
        "\n-- tenantguard's statement for big_with_index (skip scan) --\n{}",
        skip_task.sql
    );
    println!(
        "\n-- tenantguard's statement for big_no_index (one pass) --\n{}",
        pass_task.sql
    );

    if args.explain {
        for (name, sql) in [
            ("skip scan, big_with_index", skip_task.sql.as_str()),
            ("one pass, big_no_index", pass_task.sql.as_str()),
            (
                "candidate grouped anti-join, big_no_index",
                CANDIDATE_ONE_PASS,
            ),
            (
                "count(*), big_with_index",
                "SELECT count(*) FROM big_with_index",
            ),
            (
                "count(*), big_no_index",
                "SELECT count(*) FROM big_no_index",
            ),
        ] {
            explain(client, name, sql).await?;
        }
    }

    println!();
    let count_sql = |t: &str| format!("SELECT count(*) FROM {t}");
    let count_with = count_sql("big_with_index");
    let count_no = count_sql("big_no_index");
    let expected_rows = args.rows + ORPHAN_ROWS + NULL_ROWS;

    // a. count(*) with index
    let (runs, n) = measure(|| scalar(client, &count_with)).await?;
    check_eq("count(*) big_with_index", n, expected_rows)?;
    let count_with_ms = median(&runs);
    report("a. count(*) big_with_index", &runs);
    let count_with_runs = runs;

    // b. skip scan
    let (runs, counts) = measure(|| scan_counts(client, &skip_task.sql)).await?;
    check_counts("skip scan, big_with_index", &counts)?;
    report("b. tenantguard skip scan, big_with_index", &runs);
    let skip_ms = median(&runs);
    let skip_runs = runs;

    // c. count(*) without index, one pass
    let (runs, n) = measure(|| scalar(client, &count_no)).await?;
    check_eq("count(*) big_no_index", n, expected_rows)?;
    let count_no_ms = median(&runs);
    report("c. count(*) big_no_index", &runs);
    let count_no_runs = runs;
    // The same count(*) without parallel workers: the one-pass form cannot use them (its
    // DISTINCT aggregates are not parallel-safe), so this is the like-for-like baseline.
    client
        .batch_execute("SET max_parallel_workers_per_gather = 0")
        .await
        .context("disabling parallel workers")?;
    let serial = measure(|| scalar(client, &count_no)).await;
    client
        .batch_execute("RESET max_parallel_workers_per_gather")
        .await
        .context("re-enabling parallel workers")?;
    let (runs, n) = serial?;
    check_eq("serial count(*) big_no_index", n, expected_rows)?;
    report("c. count(*) big_no_index, no parallel workers", &runs);
    let count_serial_ms = median(&runs);
    let count_serial_runs = runs;
    let (runs, counts) = measure(|| scan_counts(client, &pass_task.sql)).await?;
    check_counts("one pass, big_no_index", &counts)?;
    report("c. tenantguard one-pass scan, big_no_index", &runs);
    let pass_ms = median(&runs);
    let pass_runs = runs;

    // c'. a parallel-friendly form of the one-pass scan (proposed for crates/scan/src/plan.rs):
    // the DISTINCT aggregates of the current form keep PostgreSQL from using parallel workers.
    let (runs, counts) = measure(|| scan_counts(client, CANDIDATE_ONE_PASS)).await?;
    check_counts("candidate grouped anti-join, big_no_index", &counts)?;
    report("c'. candidate grouped anti-join, big_no_index", &runs);
    let candidate_ms = median(&runs);
    let candidate_runs = runs;

    // d. the seed's two queries
    let seed = |table: &'static str| {
        move || async move {
            let orphans = scalar(
                client,
                &format!("SELECT count(*) FROM {table} WHERE org_id NOT IN (SELECT id FROM organizations)"),
            )
            .await?;
            let nulls = scalar(
                client,
                &format!("SELECT count(*) FROM {table} WHERE org_id IS NULL"),
            )
            .await?;
            Ok::<_, anyhow::Error>((orphans, nulls))
        }
    };
    let (runs, (orphans, nulls)) = measure(seed("big_no_index")).await?;
    check_eq("seed NOT IN orphans, big_no_index", orphans, ORPHAN_ROWS)?;
    check_eq("seed NULL count, big_no_index", nulls, NULL_ROWS)?;
    report("d. seed NOT IN + IS NULL, big_no_index", &runs);
    let seed_no_ms = median(&runs);
    let seed_no_runs = runs;
    let (runs, (orphans, nulls)) = measure(seed("big_with_index")).await?;
    check_eq("seed NOT IN orphans, big_with_index", orphans, ORPHAN_ROWS)?;
    check_eq("seed NULL count, big_with_index", nulls, NULL_ROWS)?;
    report("d. seed NOT IN + IS NULL, big_with_index", &runs);
    let seed_with_ms = median(&runs);
    let seed_with_runs = runs;

    // e. the whole run_scans over the two tables, jobs = 2
    let options = ScanOptions {
        jobs: 2,
        ..ScanOptions::default()
    };
    let rls_may_hide_rows = !snapshot.current_user_bypasses_rls;
    let (runs, report_) = measure(|| {
        let tasks = tasks.clone();
        let options = options.clone();
        async move { run_scans(url, tasks, rls_may_hide_rows, &options).await }
    })
    .await?;
    for r in &report_.results {
        match &r.outcome {
            ScanOutcome::TenantKey {
                null_rows,
                orphan_rows,
                missing_tenants,
                sample,
            } => check_counts(
                &format!("run_scans, {}", r.task.table),
                &(*null_rows, *orphan_rows, *missing_tenants, sample.clone()),
            )?,
            other => bail!("run_scans on {}: {other:?}", r.task.table),
        }
    }
    let per_task = report_
        .results
        .iter()
        .map(|r| format!("{} {} ms", r.task.table.name, r.elapsed_ms))
        .collect::<Vec<_>>()
        .join(", ");
    report("e. run_scans jobs=2, both tables", &runs);
    println!("   last run per statement: {per_task}");
    let run_ms = median(&runs);

    lines.push(Line {
        name: "a. count(*) big_with_index (baseline)".into(),
        ms: count_with_ms,
        runs: count_with_runs,
        base: None,
        target: None,
        note: String::new(),
    });
    lines.push(Line {
        name: "b. tenantguard skip scan, big_with_index".into(),
        ms: skip_ms,
        runs: skip_runs,
        base: Some((count_with_ms, "a")),
        target: Some((TARGET_SKIP_SCAN, format!("≤ {TARGET_SKIP_SCAN:.1}×"))),
        note: "facts: 0.19×".into(),
    });
    lines.push(Line {
        name: "d. seed NOT IN + IS NULL, big_with_index".into(),
        ms: seed_with_ms,
        runs: seed_with_runs,
        base: Some((count_with_ms, "a")),
        target: None,
        note: "facts: NOT IN 1.9×".into(),
    });
    lines.push(Line {
        name: "c. count(*) big_no_index (baseline)".into(),
        ms: count_no_ms,
        runs: count_no_runs,
        base: None,
        target: None,
        note: String::new(),
    });
    lines.push(Line {
        name: "c. tenantguard one-pass scan, big_no_index".into(),
        ms: pass_ms,
        runs: pass_runs,
        base: Some((count_no_ms, "c")),
        target: Some((TARGET_ONE_PASS, format!("≤ {TARGET_ONE_PASS:.1}×"))),
        note: format!(
            "facts: 4.5×; = {:.2}× the serial count(*)",
            pass_ms / count_serial_ms
        ),
    });
    lines.push(Line {
        name: "c. count(*) big_no_index, no parallel workers".into(),
        ms: count_serial_ms,
        runs: count_serial_runs,
        base: Some((count_no_ms, "c")),
        target: None,
        note: "like-for-like baseline for the serial one-pass form".into(),
    });
    lines.push(Line {
        name: "c'. candidate: grouped anti-join, big_no_index".into(),
        ms: candidate_ms,
        runs: candidate_runs,
        base: Some((count_no_ms, "c")),
        target: None,
        note: "hand-written copy of the form plan_scans now uses".into(),
    });
    lines.push(Line {
        name: "d. seed NOT IN + IS NULL, big_no_index".into(),
        ms: seed_no_ms,
        runs: seed_no_runs,
        base: Some((count_no_ms, "c")),
        target: None,
        note: "facts: 6.0×".into(),
    });
    lines.push(Line {
        name: "e. run_scans jobs=2, both big tables".into(),
        ms: run_ms,
        runs,
        base: Some((count_with_ms + count_no_ms, "a+c")),
        target: None,
        note: format!("vs b+c sequential: {:.0} ms", skip_ms + pass_ms),
    });
    Ok(())
}

/// VACUUM left the pages in the OS cache; put the tables, the index and the visibility map in
/// shared buffers, then read each table once more, and show how much of each is cached.
async fn warm(client: &Client) -> Result<()> {
    let t = Instant::now();
    let relations = [
        "big_with_index",
        "big_with_index_org_id_idx",
        "big_no_index",
        "organizations",
        "organizations_pkey",
    ];
    // Extensions go to schema `extensions`, which tenantguard does not audit (a platform schema).
    match client
        .batch_execute(
            "CREATE SCHEMA IF NOT EXISTS extensions; \
             CREATE EXTENSION IF NOT EXISTS pg_prewarm SCHEMA extensions",
        )
        .await
    {
        Ok(()) => {
            for rel in relations {
                client
                    .query_one("SELECT extensions.pg_prewarm($1::text::regclass)", &[&rel])
                    .await
                    .with_context(|| format!("pg_prewarm({rel})"))?;
            }
            for rel in ["big_with_index", "big_no_index"] {
                client
                    .query_one(
                        "SELECT extensions.pg_prewarm($1::text::regclass, 'buffer', 'vm')",
                        &[&rel],
                    )
                    .await
                    .with_context(|| format!("pg_prewarm({rel}, vm)"))?;
            }
        }
        Err(e) => println!(
            "pg_prewarm unavailable ({}); warming with count(*) only",
            tenantguard_catalog::connect::error_text(&e)
        ),
    }
    for _ in 0..2 {
        for table in ["big_with_index", "big_no_index"] {
            scalar(client, &format!("SELECT count(*) FROM {table}")).await?;
        }
    }
    println!("warmed in {:.1} s", t.elapsed().as_secs_f64());

    let buffercache = client
        .batch_execute(
            "CREATE SCHEMA IF NOT EXISTS extensions; \
             CREATE EXTENSION IF NOT EXISTS pg_buffercache SCHEMA extensions",
        )
        .await;
    if let Err(e) = &buffercache {
        println!(
            "pg_buffercache unavailable ({}): cannot show what is in shared buffers",
            tenantguard_catalog::connect::error_text(e)
        );
    }
    if buffercache.is_ok() {
        let rows = client
            .query(
                "SELECT c.relname::text, c.relallvisible::int8, pg_relation_size(c.oid)::int8,
                        (SELECT count(*) FROM extensions.pg_buffercache b
                          WHERE b.relfilenode = pg_relation_filenode(c.oid) AND b.relforknumber = 0
                            AND b.reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database()))
                 FROM pg_class c WHERE c.relname = ANY($1) ORDER BY 1",
                &[&relations.to_vec()],
            )
            .await
            .context("reading pg_buffercache")?;
        for row in rows {
            let name: String = row.try_get(0)?;
            let bytes: i64 = row.try_get(2)?;
            let cached: i64 = row.try_get(3)?;
            let all_visible: i64 = row.try_get(1)?;
            let pages = bytes / 8192;
            let vm = if name.ends_with("_idx") || name.ends_with("_pkey") {
                String::new()
            } else {
                format!(", {all_visible} all-visible")
            };
            println!(
                "  {name:<28} {:>8.1} MB, {cached}/{pages} pages in shared buffers{vm}",
                bytes as f64 / 1e6
            );
        }
    }
    Ok(())
}

async fn scalar(client: &Client, sql: &str) -> Result<i64> {
    let row = client
        .query_one(sql, &[])
        .await
        .with_context(|| format!("running {sql}"))?;
    Ok(row.try_get(0)?)
}

type Counts = (i64, i64, i64, Vec<String>);

async fn scan_counts(client: &Client, sql: &str) -> Result<Counts> {
    let row = client
        .query_one(sql, &[])
        .await
        .with_context(|| format!("running the scan statement:\n{sql}"))?;
    Ok((
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
    ))
}

fn check_eq(what: &str, got: i64, want: i64) -> Result<()> {
    if got != want {
        bail!("WRONG RESULT: {what} returned {got}, expected {want}");
    }
    Ok(())
}

fn check_counts(what: &str, c: &Counts) -> Result<()> {
    let (nulls, orphans, missing, sample) = c;
    if (*nulls, *orphans, *missing) != (NULL_ROWS, ORPHAN_ROWS, MISSING_TENANTS)
        || sample.len() != 5
    {
        bail!(
            "WRONG RESULT: {what} found {nulls} NULL rows, {orphans} orphan rows, {missing} missing \
             tenants, {} sample ids; expected {NULL_ROWS}, {ORPHAN_ROWS}, {MISSING_TENANTS}, 5",
            sample.len()
        );
    }
    Ok(())
}

fn report(name: &str, runs: &[f64]) {
    println!(
        "{name:<44} {:>9.1} ms median   runs: {} ms",
        median(runs),
        fmt_runs(runs)
    );
}

async fn explain(client: &Client, name: &str, sql: &str) -> Result<()> {
    let rows = client
        .query(&format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"), &[])
        .await
        .with_context(|| format!("EXPLAIN ANALYZE of {name}"))?;
    println!("\n-- EXPLAIN (ANALYZE, BUFFERS): {name} --");
    for row in rows {
        let line: String = row.try_get(0)?;
        println!("{line}");
    }
    Ok(())
}

fn print_table(lines: &[Line]) {
    println!("== results (wall ms from the client, median of {RUNS} after a warm-up) ==");
    println!(
        "{:<52} {:>10} {:>13} {:>8} {:>5}  {:<26} note",
        "measurement", "ms", "ratio", "target", "", "runs (ms)"
    );
    for l in lines {
        let ratio = match (l.ratio(), l.base) {
            (Some(r), Some((_, of))) => format!("{r:.2}× {of}"),
            _ => "—".into(),
        };
        let (target, verdict) = match (&l.target, l.ratio()) {
            (Some((limit, text)), Some(r)) => (
                text.clone(),
                if r <= *limit { "PASS" } else { "MISS" }.to_string(),
            ),
            _ => ("—".into(), String::new()),
        };
        println!(
            "{:<52} {:>10.1} {:>13} {:>8} {:>5}  {:<26} {}",
            l.name,
            l.ms,
            ratio,
            target,
            verdict,
            fmt_runs(&l.runs),
            l.note
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_and_flags() {
        let Ok(Parsed::Run(a)) = parse(&[]) else {
            panic!()
        };
        assert_eq!((a.tables, a.rows, a.tenants), (5000, 10_000_000, 10_000));
        let Ok(Parsed::Run(a)) = parse(&[
            "--tables",
            "50",
            "--rows=100_000",
            "--tenants",
            "1000",
            "--skip-data",
        ]) else {
            panic!()
        };
        assert_eq!(
            (a.tables, a.rows, a.tenants, a.skip_data, a.skip_schema),
            (50, 100_000, 1000, true, false)
        );
    }

    #[test]
    fn bad_args() {
        assert!(parse(&["--tables"]).is_err());
        assert!(parse(&["--rows", "x"]).is_err());
        assert!(parse(&["--tenants", "0"]).is_err());
        assert!(parse(&["--frobnicate"]).is_err());
        assert!(parse(&["--skip-data=1"]).is_err());
        assert!(matches!(parse(&["--help"]), Ok(Parsed::Help)));
    }

    #[test]
    fn median_of_three() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    }
}
