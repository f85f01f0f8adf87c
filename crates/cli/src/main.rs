//! The `tenantguard` command line. Exit codes: 0 nothing at or above `--fail-on`, 1 findings
//! at or above it, 2 an error (printed as one line, never a panic), 130 interrupted.

mod audit;
mod config;
mod demo;
mod explain_table;
mod fix_cmd;
mod init;
mod migrations;
mod model_view;
mod timings;

// See the workspace Cargo.toml: allocation-heavy catalog assembly and access model.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};
use tenantguard_rules::{registry, Severity};

use crate::audit::{AuditOptions, Source};
use crate::config::Config;

#[derive(Parser)]
#[command(
    name = "tenantguard",
    version,
    about = "Audit a multi-tenant PostgreSQL database for tenant isolation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(clap::Args)]
struct ConnectArgs {
    /// A postgres:// URL or a libpq key=value string (sslmode=require/verify-full supported).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Audit only these schemas (comma-separated). Default: every user schema except
    /// PostgreSQL's and the platform's own (auth, storage, realtime, extensions, …).
    #[arg(long, value_delimiter = ',')]
    schemas: Vec<String>,
    /// tenantguard.toml to use (default: ./tenantguard.toml if it exists).
    #[arg(long)]
    config: Option<PathBuf>,
    /// No database needed: start a throwaway PostgreSQL, load a Supabase-compatible base, apply
    /// this folder's .sql files in name order (e.g. supabase/migrations) and work on that.
    #[arg(long, value_name = "DIR")]
    migrations: Option<PathBuf>,
    /// With --migrations: plain PostgreSQL, without Supabase's roles and auth schema.
    #[arg(long, requires = "migrations")]
    no_supabase_base: bool,
}

/// `audit`'s output formats: the terminal, machines, and CI.
#[derive(Clone, Copy, ValueEnum)]
enum AuditFormat {
    Text,
    Json,
    /// SARIF 2.1.0, for code scanning (GitHub annotates the migration line).
    Sarif,
    /// JUnit XML, one test per rule × object, for CI dashboards.
    Junit,
    /// A pull-request comment.
    Markdown,
    /// One self-contained HTML file to read and share.
    Html,
}

#[derive(clap::Args)]
struct AuditArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Audit a snapshot written by `tenantguard snapshot` instead of a live database
    /// (the data checks are then skipped).
    #[arg(long, conflicts_with = "database_url")]
    snapshot: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    format: AuditFormat,
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, default_value = "high", value_parser = parse_severity)]
    fail_on: Severity,
    /// Skip the data scans (NULL, orphan and cross-tenant rows).
    #[arg(long)]
    no_data: bool,
    /// How many tables to scan at once (one connection each).
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Statement timeout of each data scan, e.g. 30s, 5m, 500ms; a table that hits it is
    /// reported as data-scan-incomplete.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    scan_timeout: Duration,
    /// Leave the suggested fix SQL out of the text report.
    #[arg(long)]
    no_fixes: bool,
    /// Also prove: run the attacks and reconcile them with the analysis (exit 1 on a leak).
    #[arg(long)]
    prove: bool,
    /// Suppress the findings listed in this baseline file (they are counted, not dropped).
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Write the current findings as a baseline file and exit 0.
    #[arg(long, value_name = "FILE")]
    write_baseline: Option<PathBuf>,
    #[command(flatten)]
    prove_flags: ProveFlags,
}

#[derive(clap::Args)]
struct ProveFlags {
    /// The attacking and the attacked tenant as `A,B` (default: the two tenants with rows in
    /// the most tenant tables).
    #[arg(long, value_delimiter = ',')]
    tenants: Vec<String>,
    /// Also attack as this database role (repeatable), with tenant A's claims.
    #[arg(long = "role")]
    roles: Vec<String>,
    /// Only the read attacks, in READ ONLY transactions: no row locks, no sequence use.
    #[arg(long)]
    read_only: bool,
    /// Statement timeout of each attack, e.g. 10s.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    attack_timeout: Duration,
    /// Tables estimated above this many rows skip the UPDATE / DELETE without WHERE attacks
    /// (they would rewrite the whole table before the rollback).
    #[arg(long, default_value_t = 1_000_000)]
    max_write_rows: u64,
}

impl ProveFlags {
    fn options(
        &self,
        config: &Config,
        jobs: usize,
        progress: Option<tenantguard_probe::run::Progress>,
    ) -> Result<tenantguard_probe::ProveOptions> {
        let tenants = match self.tenants.as_slice() {
            [] => None,
            [a, b] => Some((a.trim().to_string(), b.trim().to_string())),
            _ => bail!(
                "--tenants takes two tenant ids, the attacker's and the victim's: --tenants A,B"
            ),
        };
        Ok(tenantguard_probe::ProveOptions {
            tenants,
            extra_roles: {
                let mut r = config.prove.roles.clone();
                r.extend(
                    self.roles
                        .iter()
                        .filter(|x| !config.prove.roles.contains(x))
                        .cloned(),
                );
                r
            },
            claims: config.prove.clone(),
            read_only: self.read_only,
            jobs,
            statement_timeout: self.attack_timeout,
            lock_timeout: Duration::from_secs(2),
            max_write_rows: self.max_write_rows as f64,
            progress,
            access: None,
        })
    }
}

#[derive(clap::Args)]
struct ProveArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// How many objects to attack at once (one connection each).
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    #[command(flatten)]
    flags: ProveFlags,
}

#[derive(Subcommand)]
enum Command {
    /// Audit a database: tenant model, data and schema integrity.
    Audit(AuditArgs),
    /// Attack tenant B's rows as tenant A (and as anonymous callers), for real, in
    /// transactions that are always rolled back; print the table × attack matrix.
    Prove(ProveArgs),
    /// Turn the findings into a safe, ordered, idempotent migration; print it, write it
    /// (`--out supabase/migrations`) or apply it (`--apply`), then audit and prove again.
    Fix {
        #[command(flatten)]
        connect: ConnectArgs,
        /// Run the migration step by step (lock_timeout and retries on every step), then
        /// re-audit, re-prove and check that deleting a tenant cascades.
        #[arg(long)]
        apply: bool,
        /// Also apply the `review` fixes: they change what some caller sees (e.g. dropping a
        /// `USING (true)` policy). Always listed either way.
        #[arg(long)]
        unsafe_fixes: bool,
        /// Write the migration to DIR/<timestamp>_tenantguard_hardening.sql.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[arg(long, default_value_t = 4)]
        jobs: usize,
        #[arg(long, default_value = "5m", value_parser = parse_duration)]
        scan_timeout: Duration,
        /// After --apply, skip the re-audit, the proofs and the cascade check.
        #[arg(long)]
        no_verify: bool,
    },
    /// Write a tenantguard.toml from what was inferred about the database, every key commented.
    Init {
        #[command(flatten)]
        connect: ConnectArgs,
        /// Where to write it.
        #[arg(long, default_value = "tenantguard.toml")]
        out: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Put the rows `fix` moved to tenantguard_quarantine back into their tables.
    Restore {
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Write the catalog snapshot as JSON (for `audit --snapshot`).
    Snapshot {
        #[command(flatten)]
        connect: ConnectArgs,
        /// Output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the inferred tenant model and why, to check it before trusting an audit.
    Model {
        #[command(flatten)]
        connect: ConnectArgs,
        #[arg(long, conflicts_with = "database_url")]
        snapshot: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Start a throwaway PostgreSQL, load the seed's clinic database and audit it.
    Demo {
        /// Leave the cluster running (until Ctrl-C) and print its URL.
        #[arg(long)]
        keep: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// List every rule.
    Rules,
    /// Print a rule's documentation, or a table's whole access matrix: what each API role can
    /// read and write in it, and why (`tenantguard explain public.orders --database-url …`).
    Explain {
        /// A rule id, or a table (`schema.table`, or `table` in public).
        target: String,
        #[command(flatten)]
        connect: ConnectArgs,
        #[arg(long, conflicts_with = "database_url")]
        snapshot: Option<PathBuf>,
    },
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    Severity::parse(&s.to_ascii_lowercase())
        .ok_or_else(|| format!("{s:?} is not one of critical, high, medium, low, info"))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30s, 5m or 500ms"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s, m or h)")),
    };
    if secs <= 0.0 {
        return Err("the timeout must be positive".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

fn main() -> ExitCode {
    timings::start();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        tokio::select! {
            r = run(cli) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    // Do not wait for idle worker threads and connection tasks to wind down: the process ends.
    runtime.shutdown_background();
    timings::mark("runtime shut down");
    match result {
        Some(Ok(code)) => code,
        Some(Err(e)) => {
            let _ = std::io::stdout().flush();
            // One line: the context chain joined, never a backtrace.
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(2)
        }
        None => {
            eprintln!("interrupted");
            ExitCode::from(130)
        }
    }
}

/// The database to work on: the given URL, or a throwaway cluster loaded from `--migrations`.
struct Opened {
    url: String,
    /// Keeps the throwaway cluster alive; its source map points findings at migration lines.
    migrations: Option<migrations::Loaded>,
}

async fn open(connect: &ConnectArgs) -> Result<Opened> {
    if let Some(dir) = &connect.migrations {
        if connect
            .database_url
            .as_deref()
            .is_some_and(|u| !u.trim().is_empty())
        {
            bail!(
                "--migrations starts its own database: drop --database-url (or unset DATABASE_URL)"
            );
        }
        let loaded = migrations::load(dir, !connect.no_supabase_base).await?;
        return Ok(Opened {
            url: loaded.url.clone(),
            migrations: Some(loaded),
        });
    }
    match &connect.database_url {
        Some(url) if !url.trim().is_empty() => Ok(Opened {
            url: url.clone(),
            migrations: None,
        }),
        _ => bail!(
            "no database given: pass --database-url (or set DATABASE_URL), --migrations DIR, or --snapshot FILE"
        ),
    }
}

/// Text from the database (names, messages) made safe for a terminal: control characters
/// (newlines, escape sequences) are shown escaped, never interpreted.
fn terminal_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().collect()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn print(text: &str) -> Result<()> {
    let mut out = anstream::stdout();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .or_else(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                Ok(())
            } else {
                Err(e)
            }
        })
        .context("writing the report")
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Audit(args) => {
            timings::mark("arguments parsed");
            let (config, _) = Config::load(args.connect.config.as_deref())?;
            let opened = match &args.snapshot {
                Some(_) => None,
                None => Some(open(&args.connect).await?),
            };
            let source = match (&args.snapshot, &opened) {
                (Some(p), _) => Source::SnapshotFile(p.clone()),
                (None, Some(o)) => Source::Database(o.url.clone()),
                (None, None) => bail!("no database given"),
            };
            let baseline = match &args.baseline {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read baseline {}", path.display()))?;
                    Some(serde_json::from_str(&text).map_err(|e| {
                        anyhow::anyhow!("{} is not a tenantguard baseline: {e}", path.display())
                    })?)
                }
                None => None,
            };
            let opts = AuditOptions {
                schemas: args.connect.schemas.clone(),
                no_data: args.no_data,
                jobs: args.jobs,
                scan_timeout: args.scan_timeout,
                checklist: false,
                prove: if args.prove {
                    Some(args.prove_flags.options(
                        &config,
                        args.jobs,
                        Some(audit::progress("attacking")),
                    ))
                    .transpose()?
                } else {
                    None
                },
                baseline,
            };
            let audited = audit::audit_with_context(&source, &config, &opts).await?;
            let mut report = audited.report.clone();
            if let Some(m) = opened.as_ref().and_then(|o| o.migrations.as_ref()) {
                m.sources.annotate(&mut report.findings);
                report.notes.push(format!(
                    "audited {} migration file(s) on a throwaway database; findings point at the statement that created their object",
                    m.files
                ));
            }
            if let Some(path) = &args.write_baseline {
                let mut all = report.findings.clone();
                all.extend(
                    report
                        .suppressed
                        .iter()
                        .filter(|s| s.by == tenantguard_rules::suppress::SuppressedBy::Baseline)
                        .map(|s| s.finding.clone()),
                );
                let baseline = tenantguard_rules::suppress::Baseline::of(&all);
                std::fs::write(path, serde_json::to_string_pretty(&baseline)? + "\n")
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!(
                    "wrote {} with {} finding(s): later audits with --baseline report only new ones",
                    path.display(),
                    baseline.findings.len()
                );
                return Ok(ExitCode::SUCCESS);
            }
            match args.format {
                AuditFormat::Sarif => print(&tenantguard_report::render_sarif(&report))?,
                AuditFormat::Junit => print(&tenantguard_report::render_junit(&report))?,
                AuditFormat::Markdown => print(&tenantguard_report::render_markdown(&report))?,
                AuditFormat::Html => {
                    let plan = tenantguard_fix::plan(
                        &audited.context(),
                        &audited.report.findings,
                        &tenantguard_fix::PlanOptions {
                            claim: config.fix.claim.clone(),
                        },
                    );
                    print(&tenantguard_report::render_html(
                        &report,
                        &tenantguard_report::HtmlExtras {
                            model: Some(&audited.model),
                            plan: Some(&plan),
                        },
                    ))?
                }
                AuditFormat::Text => print(&tenantguard_report::render_text_with_proof(
                    &report,
                    !args.no_fixes,
                ))?,
                AuditFormat::Json => print(&(tenantguard_report::render_json(&report) + "\n"))?,
            }
            // The snapshot and models of thousands of tables: the OS frees them faster at exit
            // than a hundred thousand drops do (~20 ms on 2,000 tables).
            std::mem::forget(audited);
            timings::mark("report written");
            let failing = report.findings.iter().any(|f| f.severity >= args.fail_on)
                || report.proof.as_ref().is_some_and(|p| p.summary.leaks > 0);
            Ok(if failing {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Prove(args) => {
            let (config, _) = Config::load(args.connect.config.as_deref())?;
            let opened = open(&args.connect).await?;
            let url = opened.url.clone();
            let snapshot = audit::take_snapshot(&url, &args.connect.schemas).await?;
            let model = tenantguard_tenant_model::TenantModel::infer(&snapshot, &config.tenant)?;
            let mut opts =
                args.flags
                    .options(&config, args.jobs, Some(audit::progress("attacking")))?;
            opts.access = Some(std::sync::Arc::new(tenantguard_access::AccessModel::build(
                &snapshot,
                &model,
                &config.access_config(),
            )));
            let proof = tenantguard_probe::prove(&url, &snapshot, &model, &opts).await?;
            match args.format {
                Format::Text => print(&tenantguard_report::render_proof_text(&proof))?,
                Format::Json => print(&(serde_json::to_string_pretty(&proof)? + "\n"))?,
            }
            Ok(if proof.summary.leaks > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Fix {
            connect,
            apply,
            unsafe_fixes,
            out,
            format,
            jobs,
            scan_timeout,
            no_verify,
        } => {
            let (config, _) = Config::load(connect.config.as_deref())?;
            let opened = open(&connect).await?;
            let url = opened.url.clone();
            fix_cmd::run(
                &config,
                fix_cmd::FixArgs {
                    url,
                    schemas: connect.schemas.clone(),
                    apply,
                    unsafe_fixes,
                    out,
                    json: matches!(format, Format::Json),
                    jobs,
                    scan_timeout,
                    verify: !no_verify,
                },
            )
            .await
        }
        Command::Init {
            connect,
            out,
            force,
        } => {
            if out.exists() && !force {
                bail!(
                    "{} exists: pass --force to overwrite it, or --out another path",
                    out.display()
                );
            }
            let snapshot =
                audit::take_snapshot(&open(&connect).await?.url, &connect.schemas).await?;
            let (config, _) = Config::load(connect.config.as_deref())?;
            let model = tenantguard_tenant_model::TenantModel::infer(&snapshot, &config.tenant)?;
            let text = init::render(&snapshot, &model);
            std::fs::write(&out, &text).with_context(|| format!("writing {}", out.display()))?;
            eprintln!(
                "wrote {}; check the [tenant] section, then `tenantguard audit`",
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { connect } => {
            let opened = open(&connect).await?;
            let url = opened.url.clone();
            fix_cmd::restore(&url, &connect.schemas).await
        }
        Command::Snapshot { connect, out } => {
            let opened = open(&connect).await?;
            let url = opened.url.clone();
            let snapshot = audit::take_snapshot(&url, &connect.schemas).await?;
            let json = serde_json::to_string_pretty(&snapshot)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, json + "\n")
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!(
                        "wrote {} ({} relations, {} functions, {} roles)",
                        path.display(),
                        snapshot.relations.len(),
                        snapshot.functions.len(),
                        snapshot.roles.len()
                    );
                }
                None => print(&(json + "\n"))?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Model {
            connect,
            snapshot,
            format,
        } => {
            let (config, _) = Config::load(connect.config.as_deref())?;
            let snap = match &snapshot {
                Some(p) => audit::read_snapshot_file(p)?,
                None => audit::take_snapshot(&open(&connect).await?.url, &connect.schemas).await?,
            };
            let model = tenantguard_tenant_model::TenantModel::infer(&snap, &config.tenant)?;
            match format {
                Format::Text => print(&model_view::render(&model))?,
                Format::Json => print(&(serde_json::to_string_pretty(&model)? + "\n"))?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { keep, format } => demo::run(keep, matches!(format, Format::Json)).await,
        Command::Rules => {
            let mut out = String::new();
            for r in registry() {
                out.push_str(&format!(
                    "{:<26} {:<9} {:<12} {}\n",
                    r.id,
                    r.severity.as_str(),
                    format!("{:?}", r.category).to_lowercase(),
                    r.summary
                ));
            }
            print(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain {
            target,
            connect,
            snapshot,
        } => {
            if let Some(r) = tenantguard_rules::rule(&target) {
                print(r.doc)?;
                return Ok(ExitCode::SUCCESS);
            }
            if connect.database_url.is_none() && snapshot.is_none() {
                bail!("no rule {target:?} (`tenantguard rules` lists them); to explain a table, pass --database-url or --snapshot");
            }
            let (config, _) = Config::load(connect.config.as_deref())?;
            let snap = match &snapshot {
                Some(p) => audit::read_snapshot_file(p)?,
                None => audit::take_snapshot(&open(&connect).await?.url, &connect.schemas).await?,
            };
            print(&explain_table::render(&snap, &config, &target)?)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
