//! `tenantguard demo`: the seed's clinic database, for real, on a throwaway cluster.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use pg_harness::{Cluster, SUPABASE_BASE_SQL};

use crate::audit::{audit_with_context, run_audit, AuditOptions, Source};
use crate::config::Config;

/// The example ships inside the binary, so the demo needs no checkout.
const CLINIC_SCHEMA: &str = include_str!("../../../examples/clinic/schema.sql");
const CLINIC_DATA: &str = include_str!("../../../examples/clinic/data.sql");
const SEED_PHASE3: &str = include_str!("../../../examples/clinic/seed_phase3.sql");

pub async fn run(keep: bool, json: bool) -> Result<ExitCode> {
    let started = Instant::now();
    eprintln!("starting a throwaway PostgreSQL …");
    // Cluster start is blocking process work; keep it off the async workers.
    let cluster = tokio::task::spawn_blocking(Cluster::start)
        .await
        .context("starting the cluster")??;
    let url = cluster.create_database("clinic").await?;
    eprintln!(
        "loading the clinic database (examples/clinic: Supabase base, 59 tables, two clinics) …"
    );
    let client = cluster.connect("clinic").await?;
    for (what, sql) in [
        ("the Supabase base", SUPABASE_BASE_SQL),
        ("examples/clinic/schema.sql", CLINIC_SCHEMA),
        ("examples/clinic/data.sql", CLINIC_DATA),
    ] {
        client
            .batch_execute(sql)
            .await
            .with_context(|| format!("loading {what}"))?;
    }
    client.batch_execute("ANALYZE").await?;
    drop(client);
    eprintln!("auditing (as the seed's team would have: Phases 1–2, every table) …\n");
    let opts = AuditOptions {
        schemas: vec![],
        no_data: false,
        jobs: 4,
        scan_timeout: Duration::from_secs(60),
        checklist: true,
        prove: None,
        baseline: None,
    };
    let config = Config::default();
    let source = Source::Database(url.clone());
    let before = run_audit(&source, &config, &opts).await?;
    if !json {
        crate::print(&tenantguard_report::render_text(&before, false))?;
        eprintln!(
            "\napplying the seed's own Phase 3 migration (examples/clinic/seed_phase3.sql: RLS on \
             organizations, sms_confirmation_logs, appointment_bookings), auditing again and \
             proving it: tenant A attacks tenant B's rows for real, every transaction rolled back …\n"
        );
    }
    let client = cluster.connect("clinic").await?;
    client
        .batch_execute(SEED_PHASE3)
        .await
        .context("applying examples/clinic/seed_phase3.sql")?;
    let rows_before = total_rows(&client, &["public"]).await?;
    let prove_opts = AuditOptions {
        prove: Some(tenantguard_probe::ProveOptions {
            progress: Some(crate::audit::progress("attacking")),
            ..Default::default()
        }),
        ..opts
    };
    let stage = Instant::now();
    let after_phase3 = audit_with_context(&source, &config, &prove_opts).await?;
    let t_audit1 = stage.elapsed();
    if !json {
        print_with_proof(&after_phase3.report)?;
    }

    // Fix: every step, review ones included (a demo has no front end to break), then verify.
    let stage = Instant::now();
    let fix_plan = tenantguard_fix::plan(
        &after_phase3.context(),
        &after_phase3.report.findings,
        &tenantguard_fix::PlanOptions::default(),
    );
    let applied = tenantguard_fix::apply(
        &client,
        &fix_plan,
        &tenantguard_fix::ApplyOptions {
            unsafe_fixes: true,
            ..Default::default()
        },
    )
    .await;
    let t_fix = stage.elapsed();
    if !json {
        let mut text = format!(
            "\nfix: {} step(s) generated (`tenantguard fix` prints them as a migration), applied with --unsafe-fixes:\n",
            fix_plan.steps.len()
        );
        for s in &applied.applied {
            let review =
                fix_plan.steps[s.step - 1].applicability == tenantguard_fix::Applicability::Review;
            text.push_str(&format!(
                "  {:>2}. {}{}\n",
                s.step,
                s.summary,
                if review { "  [review]" } else { "" }
            ));
        }
        if let Some((step, summary, why)) = &applied.failed {
            text.push_str(&format!("  step {step} FAILED: {summary}: {why}\n"));
        }
        for m in &fix_plan.manual {
            text.push_str(&format!("  left to you: {}: {}\n", m.closes, m.why));
        }
        crate::print(&text)?;
    }
    let rows_after = total_rows(&client, &["public"]).await?;
    let quarantined = total_rows(&client, &[tenantguard_fix::QUARANTINE_SCHEMA]).await?;

    let stage = Instant::now();
    let mut verified = audit_with_context(&source, &config, &prove_opts).await?;
    let cascade = match after_phase3
        .report
        .proof
        .as_ref()
        .and_then(|p| p.tenants.as_ref())
    {
        Some(t) => Some(
            tenantguard_fix::cascade_check(
                &client,
                &verified.snapshot,
                &verified.model,
                &t.attacker,
            )
            .await?,
        ),
        None => None,
    };
    let t_verify = stage.elapsed();
    if let Some(c) = &cascade {
        for item in verified
            .report
            .checklist
            .iter_mut()
            .filter(|i| i.item == tenantguard_rules::checklist::CASCADE_WORKS)
        {
            if c.error.is_none() && c.left.is_empty() {
                item.status = tenantguard_rules::checklist::ItemStatus::Pass;
                item.detail = format!(
                    "deleted tenant {} for real (rolled back): none of its rows left in {} tenant tables",
                    c.tenant, c.tables_checked
                );
            } else {
                item.status = tenantguard_rules::checklist::ItemStatus::Fail;
                item.detail = match &c.error {
                    Some(e) => format!("deleting tenant {} failed: {e}", c.tenant),
                    None => format!("rows left: {:?}", c.left),
                };
            }
        }
    }
    drop(client);
    if json {
        let all = serde_json::json!({
            "tool": "tenantguard",
            "version": env!("CARGO_PKG_VERSION"),
            "demo": [
                { "stage": "as the seed found it", "report": before },
                { "stage": "after the seed's Phase 3 migration, proved", "report": after_phase3.report },
                { "stage": "fix", "plan": fix_plan, "applied": applied },
                { "stage": "after the fix, proved", "report": verified.report, "cascade": cascade },
            ],
            "rows": { "before": rows_before, "after": rows_after, "quarantined": quarantined },
        });
        crate::print(&(serde_json::to_string_pretty(&all)? + "\n"))?;
    } else {
        crate::print("\nafter the fix:\n\n")?;
        crate::print(&tenantguard_report::render_text(&verified.report, false))?;
        if let Some(p) = &verified.report.proof {
            crate::print(&format!(
                "proof: {} attacks, {} leak(s) (before the fix: {})\n",
                p.summary.attacks,
                p.summary.leaks,
                after_phase3
                    .report
                    .proof
                    .as_ref()
                    .map_or(0, |p| p.summary.leaks)
            ))?;
        }
        crate::print(&format!(
            "rows: {rows_before} before = {rows_after} after + {quarantined} in tenantguard_quarantine (`tenantguard restore` puts them back)\n\
             timings: audit + proof {:.2} s, fix {:.2} s, audit + proof + cascade check {:.2} s\n",
            t_audit1.as_secs_f64(),
            t_fix.as_secs_f64(),
            t_verify.as_secs_f64()
        ))?;
    }
    eprintln!(
        "\ndemo finished in {:.1} s; `tenantguard explain <rule>` shows a rule's page and fix",
        started.elapsed().as_secs_f64()
    );
    if keep {
        eprintln!(
            "\nthe cluster keeps running until Ctrl-C:\n  DATABASE_URL=\"{url}\"\n  or {}",
            cluster.tcp_url("clinic")
        );
        tokio::signal::ctrl_c().await.ok();
    }
    drop(cluster);
    Ok(ExitCode::SUCCESS)
}

fn print_with_proof(report: &tenantguard_report::AuditReport) -> Result<()> {
    crate::print(&tenantguard_report::render_text_with_proof(report, false))
}

/// Rows in every table of these schemas, counted in the database.
async fn total_rows(client: &tokio_postgres::Client, schemas: &[&str]) -> Result<i64> {
    let schemas: Vec<String> = schemas.iter().map(|s| s.to_string()).collect();
    let tables: Vec<String> = client
        .query(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = ANY($1)",
            &[&schemas],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if tables.is_empty() {
        return Ok(0);
    }
    let sql = tables
        .iter()
        .map(|t| format!("(SELECT count(*) FROM {t})"))
        .collect::<Vec<_>>()
        .join(" + ");
    Ok(client
        .query_one(&format!("SELECT {sql}"), &[])
        .await?
        .get(0))
}
