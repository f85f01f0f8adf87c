//! `tenantguard demo`: the seed's clinic database, for real, on a throwaway cluster.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use pg_harness::{Cluster, SUPABASE_BASE_SQL};

use crate::audit::{run_audit, AuditOptions, Source};
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
    };
    let before = run_audit(&Source::Database(url.clone()), &Config::default(), &opts).await?;
    if !json {
        crate::print(&tenantguard_report::render_text(&before, false))?;
        eprintln!(
            "\napplying the seed's own Phase 3 migration (examples/clinic/seed_phase3.sql: RLS on \
             organizations, sms_confirmation_logs, appointment_bookings) and auditing again …\n"
        );
    }
    let client = cluster.connect("clinic").await?;
    client
        .batch_execute(SEED_PHASE3)
        .await
        .context("applying examples/clinic/seed_phase3.sql")?;
    drop(client);
    if !json {
        eprintln!("… and proving it: tenant A attacks tenant B's rows for real, every transaction rolled back …\n");
    }
    let prove_opts = AuditOptions {
        prove: Some(tenantguard_probe::ProveOptions {
            progress: Some(crate::audit::progress("attacking")),
            ..Default::default()
        }),
        ..opts
    };
    let after = run_audit(
        &Source::Database(url.clone()),
        &Config::default(),
        &prove_opts,
    )
    .await?;
    if json {
        let both = serde_json::json!({
            "tool": "tenantguard",
            "version": env!("CARGO_PKG_VERSION"),
            "demo": [
                { "stage": "as the seed found it", "report": before },
                { "stage": "after the seed's Phase 3 migration, proved", "report": after },
            ],
        });
        crate::print(&(serde_json::to_string_pretty(&both)? + "\n"))?;
    } else {
        let mut text = tenantguard_report::render_text(&after, false);
        if let Some(proof) = &after.proof {
            text.push('\n');
            text.push_str(&tenantguard_report::render_proof_text(proof));
            text.push('\n');
            text.push_str(&tenantguard_report::render_reconciliation_text(
                &after.reconciliation,
            ));
        }
        crate::print(&text)?;
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
