//! `tenantguard fix` and `tenantguard restore`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use serde_json::json;
use tenantguard_fix::{
    apply, cascade_check, guard, plan, render_migration, ApplyOptions, GuardReport, PlanOptions,
};
use tenantguard_report::Summary;

use crate::audit::{audit_with_context, progress, AuditOptions, Source};
use crate::config::Config;

pub struct FixArgs {
    pub url: String,
    pub schemas: Vec<String>,
    pub apply: bool,
    pub unsafe_fixes: bool,
    pub out: Option<PathBuf>,
    pub json: bool,
    pub jobs: usize,
    pub scan_timeout: Duration,
    pub verify: bool,
}

/// `20261127093000` in UTC, the prefix Supabase's `supabase/migrations` files use.
fn timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days: no date crate needed for one file name.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn write_migration(dir: &Path, sql: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{}_tenantguard_hardening.sql", timestamp()));
    std::fs::write(&path, sql).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn counts(s: &Summary) -> String {
    format!(
        "{} critical, {} high, {} medium, {} low",
        s.critical, s.high, s.medium, s.low
    )
}

pub async fn run(config: &Config, args: FixArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let source = Source::Database(args.url.clone());
    let audit_opts = AuditOptions {
        schemas: args.schemas.clone(),
        no_data: false,
        jobs: args.jobs,
        scan_timeout: args.scan_timeout,
        checklist: false,
        prove: None,
        baseline: None,
    };
    eprintln!("auditing …");
    let before = audit_with_context(&source, config, &audit_opts).await?;
    let fix_plan = plan(
        &before.context(),
        &before.report.findings,
        &PlanOptions {
            claim: config.fix.claim.clone(),
        },
    );
    let sql = render_migration(&fix_plan, args.unsafe_fixes);
    if let Some(dir) = &args.out {
        let path = write_migration(dir, &sql)?;
        eprintln!("wrote {}", path.display());
    }
    if !args.apply {
        if args.json {
            crate::print(
                &(serde_json::to_string_pretty(&json!({
                    "tool": "tenantguard",
                    "version": env!("CARGO_PKG_VERSION"),
                    "plan": fix_plan,
                }))? + "\n"),
            )?;
        } else if args.out.is_none() {
            crate::print(&sql)?;
        }
        let review = fix_plan
            .steps
            .iter()
            .filter(|s| s.applicability == tenantguard_fix::Applicability::Review)
            .count();
        eprintln!(
            "{} step(s), {review} of them needing review (--unsafe-fixes), {} finding(s) left to you; `fix --apply` runs it",
            fix_plan.steps.len(),
            fix_plan.manual.len()
        );
        return Ok(ExitCode::SUCCESS);
    }

    // Before → after needs the proof before the change too.
    let prove_opts = || tenantguard_probe::ProveOptions {
        jobs: args.jobs,
        claims: config.prove.clone(),
        extra_roles: config.prove.roles.clone(),
        progress: Some(progress("attacking")),
        ..Default::default()
    };
    let proof_before = if args.verify && before.model.root.is_some() {
        Some(
            tenantguard_probe::prove(&args.url, &before.snapshot, &before.model, &prove_opts())
                .await?,
        )
    } else {
        None
    };
    let (client, _) = tenantguard_catalog::connect(&args.url).await?;
    // The access guard: every step is tried first (rolled back) against A's own access.
    let (fix_plan, guard) = if before.model.root.is_some() {
        eprintln!("trying the steps against tenant A's own access (rolled back) …");
        let opts = tenantguard_probe::ProveOptions {
            access: Some(std::sync::Arc::new(before.access.clone())),
            progress: None,
            ..prove_opts()
        };
        let (p, g) = guard(
            &client,
            &before.snapshot,
            &before.model,
            &before.access,
            &fix_plan,
            args.unsafe_fixes,
            &opts,
        )
        .await?;
        (p, Some(g))
    } else {
        (fix_plan, None)
    };
    eprintln!(
        "applying {} step(s) …",
        fix_plan.runnable(args.unsafe_fixes).count()
    );
    let report = apply(
        &client,
        &fix_plan,
        &ApplyOptions {
            unsafe_fixes: args.unsafe_fixes,
            progress: Some(progress("applying")),
            ..Default::default()
        },
    )
    .await;
    let mut text = String::new();
    for s in &report.applied {
        text.push_str(&format!(
            "  applied step {}: {} ({} ms{})\n",
            s.step,
            s.summary,
            s.elapsed_ms,
            if s.attempts > 1 {
                format!(", {} attempts: the table was busy", s.attempts)
            } else {
                String::new()
            }
        ));
    }
    if let Some(g) = &guard {
        text.push_str(&guard_text(g));
    }
    for r in &report.not_applied_review {
        text.push_str(&format!(
            "  not applied (review, needs --unsafe-fixes): {r}\n"
        ));
    }
    if let Some((step, summary, why)) = &report.failed {
        text.push_str(&format!(
            "\nstep {step} failed and was rolled back: {summary}\n  {why}\nthe database is consistent: steps before it are committed, it and the ones below were not run:\n"
        ));
        for r in &report.remaining {
            text.push_str(&format!("  {r}\n"));
        }
        crate::print(&text)?;
        if args.json {
            crate::print(
                &(serde_json::to_string_pretty(
                    &json!({ "tool": "tenantguard", "plan": fix_plan, "applied": report, "guard": guard }),
                )? + "\n"),
            )?;
        }
        return Ok(ExitCode::from(2));
    }

    let after = if args.verify {
        eprintln!("auditing again …");
        Some(audit_with_context(&source, config, &audit_opts).await?)
    } else {
        None
    };
    let proof_after = match (&after, &proof_before) {
        (Some(a), Some(_)) => {
            Some(tenantguard_probe::prove(&args.url, &a.snapshot, &a.model, &prove_opts()).await?)
        }
        _ => None,
    };
    let cascade = match (&after, &proof_before) {
        (Some(a), Some(p)) => match &p.tenants {
            Some(t) => Some(cascade_check(&client, &a.snapshot, &a.model, &t.attacker).await?),
            None => None,
        },
        _ => None,
    };
    // What the fix really did to A's own access: the proofs' matrices before and after.
    let regressions = match (&proof_before, &proof_after) {
        (Some(b), Some(a)) => Some(tenantguard_fix::guard::lost(
            &tenantguard_probe::OwnAccessMatrix {
                entries: b.own_access.clone(),
            },
            &tenantguard_probe::OwnAccessMatrix {
                entries: a.own_access.clone(),
            },
        )),
        _ => None,
    };
    if let Some(r) = &regressions {
        if r.is_empty() {
            text.push_str("\nown access: tenant A can still do everything it could before\n");
        } else {
            text.push_str(&format!(
                "\nown access: {} thing(s) tenant A could do before it no longer can:\n",
                r.len()
            ));
            for l in r {
                text.push_str(&format!("  {}\n", crate::terminal_safe(&l.line())));
            }
        }
    }
    if let Some(a) = &after {
        text.push_str(&format!(
            "\naudit: {} → {}\n",
            counts(&before.report.summary),
            counts(&a.report.summary)
        ));
    }
    if let (Some(b), Some(a)) = (&proof_before, &proof_after) {
        text.push_str(&format!(
            "proof: {} leak(s) on {} object(s) → {} leak(s) on {} object(s) ({} attacks)\n",
            b.summary.leaks,
            b.summary.leaking_objects,
            a.summary.leaks,
            a.summary.leaking_objects,
            a.summary.attacks
        ));
    }
    if let Some(c) = &cascade {
        match (&c.error, c.left.is_empty()) {
            (Some(e), _) => text.push_str(&format!(
                "cascade: deleting tenant {} (rolled back) failed: {e}\n",
                c.tenant
            )),
            (None, true) => text.push_str(&format!(
                "cascade: deleting tenant {} (rolled back) left none of its rows in {} tenant table(s)\n",
                c.tenant, c.tables_checked
            )),
            (None, false) => text.push_str(&format!(
                "cascade: deleting tenant {} (rolled back) left rows in: {}\n",
                c.tenant,
                c.left
                    .iter()
                    .map(|(t, n)| format!("{t} ({n})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
    text.push_str(&format!(
        "done in {:.1} s\n",
        started.elapsed().as_secs_f64()
    ));
    if args.json {
        crate::print(
            &(serde_json::to_string_pretty(&json!({
                "tool": "tenantguard",
                "version": env!("CARGO_PKG_VERSION"),
                "plan": fix_plan,
                "applied": report,
                "before": before.report.summary,
                "after": after.as_ref().map(|a| &a.report.summary),
                "after_findings": after.as_ref().map(|a| &a.report.findings),
                "proof_before": proof_before.as_ref().map(|p| &p.summary),
                "proof_after": proof_after.as_ref().map(|p| &p.summary),
                "cascade": cascade,
                "guard": guard,
                "own_access_regressions": regressions,
            }))? + "\n"),
        )?;
    } else {
        crate::print(&text)?;
    }
    let clean = after
        .as_ref()
        .is_none_or(|a| a.report.summary.critical == 0 && a.report.summary.high == 0)
        && proof_after.as_ref().is_none_or(|p| p.summary.leaks == 0)
        && regressions.as_ref().is_none_or(Vec::is_empty);
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn guard_text(g: &GuardReport) -> String {
    let mut text = String::new();
    if let Some(n) = &g.note {
        text.push_str(&format!("  guard: {n}\n"));
    }
    for w in &g.withheld {
        text.push_str(&format!(
            "  withheld (it would take away tenant A's own access): {}\n",
            crate::terminal_safe(&w.summary)
        ));
        for l in &w.lost {
            text.push_str(&format!("    {}\n", crate::terminal_safe(&l.line())));
        }
    }
    text
}

pub async fn restore(url: &str, schemas: &[String]) -> Result<ExitCode> {
    let snapshot = crate::audit::take_snapshot(url, schemas).await?;
    let (client, _) = tenantguard_catalog::connect(url).await?;
    let report = tenantguard_fix::restore(&client, &snapshot).await?;
    let mut text = String::new();
    for (q, n) in &report.restored {
        text.push_str(&format!("restored {n} row(s) from {q}\n"));
    }
    for (q, why) in &report.failed {
        text.push_str(&format!("could not restore {q}: {why}\n"));
    }
    if report.restored.is_empty() && report.failed.is_empty() {
        text.push_str("nothing in quarantine\n");
    }
    crate::print(&text)?;
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
