//! The audit pipeline: snapshot → tenant model → data scan → rules → report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use indicatif::{ProgressBar, ProgressStyle};
use tenantguard_access::AccessModel;
use tenantguard_catalog::{connect, load_snapshot_with, Snapshot, SnapshotOptions};
use tenantguard_report::{AuditReport, DataScanSummary, ModelSummary, Summary};
use tenantguard_rules::{checklist, run_rules, Context};
use tenantguard_scan::{plan_scans, run_scans, ScanOptions, ScanOutcome};
use tenantguard_tenant_model::{Tenancy, TenantModel};

use crate::config::Config;

pub enum Source {
    Database(String),
    SnapshotFile(PathBuf),
}

pub struct AuditOptions {
    pub schemas: Vec<String>,
    pub no_data: bool,
    pub jobs: usize,
    pub scan_timeout: Duration,
    pub checklist: bool,
    /// `--prove`: attack as well, and reconcile the attacks with the analysis.
    pub prove: Option<tenantguard_probe::ProveOptions>,
    /// `--baseline FILE`: findings it lists are suppressed (and counted).
    pub baseline: Option<tenantguard_rules::suppress::Baseline>,
}

pub async fn take_snapshot(url: &str, schemas: &[String]) -> Result<Snapshot> {
    // Two connections: the policies are read on the second one, in the same snapshot.
    let (first, second) = tokio::join!(connect(url), connect(url));
    let (client, target) = first?;
    let second = second.ok().map(|(c, _)| c);
    crate::timings::mark("connected");
    load_snapshot_with(
        &client,
        second.as_ref(),
        &SnapshotOptions {
            schemas: schemas.to_vec(),
        },
    )
    .await
    .with_context(|| format!("reading the catalog of {target}"))
}

pub fn read_snapshot_file(path: &PathBuf) -> Result<Snapshot> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read snapshot {}", path.display()))?;
    let snapshot: Snapshot = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a tenantguard snapshot", path.display()))?;
    if snapshot.format != tenantguard_catalog::SNAPSHOT_FORMAT {
        anyhow::bail!(
            "{} is snapshot format {}, this tenantguard reads format {}",
            path.display(),
            snapshot.format,
            tenantguard_catalog::SNAPSHOT_FORMAT
        );
    }
    Ok(snapshot)
}

/// An audit's report, with what it was computed from (for `fix`).
pub struct Audited {
    pub report: AuditReport,
    pub snapshot: Snapshot,
    pub model: TenantModel,
    pub access: AccessModel,
    pub rules_config: tenantguard_rules::RulesConfig,
    pub scans: Option<tenantguard_scan::ScanReport>,
}

impl Audited {
    pub fn context(&self) -> Context<'_> {
        Context {
            snapshot: &self.snapshot,
            model: &self.model,
            access: &self.access,
            scans: self.scans.as_ref(),
            config: &self.rules_config,
        }
    }
}

pub async fn run_audit(
    source: &Source,
    config: &Config,
    opts: &AuditOptions,
) -> Result<AuditReport> {
    Ok(audit_with_context(source, config, opts).await?.report)
}

pub async fn audit_with_context(
    source: &Source,
    config: &Config,
    opts: &AuditOptions,
) -> Result<Audited> {
    let snapshot = match source {
        Source::Database(url) => take_snapshot(url, &opts.schemas).await?,
        Source::SnapshotFile(path) => read_snapshot_file(path)?,
    };
    crate::timings::mark("snapshot");
    let model = TenantModel::infer(&snapshot, &config.tenant)?;
    crate::timings::mark("tenant model");
    let rules_config = config.rules_config()?;
    let mut notes = vec![];
    if let Some(why) = &model.unresolved {
        notes.push(why.clone());
    }

    let skipped = match source {
        Source::SnapshotFile(_) => Some("auditing an offline snapshot: the data checks (NULL, orphan and cross-tenant rows) need a database".to_string()),
        Source::Database(_) if opts.no_data => Some("--no-data".to_string()),
        Source::Database(_) if model.root.is_none() => Some("no tenant root".to_string()),
        Source::Database(_) => None,
    };
    let scans = match (&skipped, source) {
        (None, Source::Database(url)) => {
            let tasks = plan_scans(&snapshot, &model);
            let bar = progress_bar(tasks.len() as u64);
            let progress_bar = bar.clone();
            let options = ScanOptions {
                jobs: opts.jobs,
                statement_timeout: opts.scan_timeout,
                progress: Some(Arc::new(move |done, _total, table: &str| {
                    progress_bar.set_position(done as u64);
                    progress_bar.set_message(table.to_string());
                })),
                ..ScanOptions::default()
            };
            let report =
                run_scans(url, tasks, !snapshot.current_user_bypasses_rls, &options).await?;
            bar.finish_and_clear();
            if report.rls_may_hide_rows {
                notes.push(format!(
                    "role {} is subject to RLS (neither superuser nor BYPASSRLS): data counts on tables with RLS that it does not own may be incomplete; audit as the table owner or a BYPASSRLS role",
                    snapshot.current_user
                ));
            }
            Some(report)
        }
        _ => None,
    };
    if let Some(why) = &skipped {
        notes.push(format!("data checks skipped: {why}"));
    }

    let access = AccessModel::build(&snapshot, &model, &config.access_config());
    crate::timings::mark("access model");
    let ctx = Context {
        snapshot: &snapshot,
        model: &model,
        access: &access,
        scans: scans.as_ref(),
        config: &rules_config,
    };
    let mut findings = run_rules(&ctx);
    crate::timings::mark("rules");
    for f in &mut findings {
        if let Some(sev) = config.severity_of(&f.rule) {
            f.severity = sev;
        }
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let (findings, suppressed, suppress_notes) =
        tenantguard_rules::suppress::suppress(&snapshot, findings, opts.baseline.as_ref());
    notes.extend(suppress_notes);
    let mut checklist_items = if opts.checklist {
        checklist::evaluate(&ctx, &findings)
    } else {
        vec![]
    };
    // Why the proof could not run, when it was asked for and could not.
    let mut not_proved: Option<String> = None;
    let (proof, reconciliation) = match (&opts.prove, source) {
        (Some(_), Source::Database(_)) if model.root.is_none() => {
            let why = "--prove: nothing could be impersonated: no tenant root was found, so there is no tenant A to attack tenant B as; name it in tenantguard.toml ([tenant] root = \"…\") to prove".to_string();
            notes.push(why.clone());
            not_proved = Some(why);
            (None, vec![])
        }
        (Some(prove_opts), Source::Database(url)) => {
            let mut prove_opts = prove_opts.clone();
            prove_opts.access = Some(Arc::new(access.clone()));
            let proof = tenantguard_probe::prove(url, &snapshot, &model, &prove_opts).await?;
            let reconciliation = tenantguard_probe::reconcile(&access, &proof);
            (Some(proof), reconciliation)
        }
        (Some(_), Source::SnapshotFile(_)) => {
            let why = "--prove needs a live database: an offline snapshot can only be analysed";
            notes.push(why.into());
            not_proved = Some(why.into());
            (None, vec![])
        }
        _ => (None, vec![]),
    };
    let mut findings = findings;
    if opts.prove.is_some() {
        attach_proof(&mut findings, proof.as_ref(), not_proved.as_deref());
    }
    if let Some(proof) = &proof {
        for item in checklist_items
            .iter_mut()
            .filter(|i| i.item == checklist::MULTI_TENANT_TEST)
        {
            let reads: Vec<&str> = proof
                .leaks()
                .map(|r| r.table.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if reads.is_empty() && proof.claims_suspect {
                item.status = checklist::ItemStatus::NotChecked;
                item.detail = format!(
                    "{} attacks as tenant A got nowhere, but A could not read its own rows either: its claims are probably wrong, so this proves nothing",
                    proof.summary.attacks
                );
            } else if reads.is_empty() {
                item.status = checklist::ItemStatus::Pass;
                item.detail = format!(
                    "{} attacks as tenant A on tenant B's rows, none got through",
                    proof.summary.attacks
                );
            } else {
                item.status = checklist::ItemStatus::Fail;
                item.detail = format!(
                    "attacks on tenant B's rows got through on: {}",
                    reads.join(", ")
                );
            }
        }
    }
    let count = |f: fn(&Tenancy) -> bool| model.tables.values().filter(|t| f(t)).count();
    let data_scan = match &scans {
        Some(r) => DataScanSummary {
            ran: true,
            skipped_because: None,
            statements: r.results.len(),
            timed_out: r
                .results
                .iter()
                .filter(|x| matches!(x.outcome, ScanOutcome::TimedOut { .. }))
                .count(),
            failed: r
                .results
                .iter()
                .filter(|x| matches!(x.outcome, ScanOutcome::Failed { .. }))
                .count(),
            elapsed_ms: r.elapsed_ms,
        },
        None => DataScanSummary {
            ran: false,
            skipped_because: skipped,
            ..Default::default()
        },
    };
    let report = AuditReport {
        tool: "tenantguard".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        database: snapshot.database.clone(),
        summary: Summary {
            suppressed: suppressed.len(),
            ..Summary::from_findings(&findings, model.tables.len())
        },
        suppressed,
        findings,
        data_scan,
        model: ModelSummary {
            root: model.root.as_ref().map(|r| r.table.to_string()),
            direct: count(|t| matches!(t, Tenancy::Direct { .. })),
            indirect: count(|t| matches!(t, Tenancy::Indirect { .. })),
            global: count(|t| matches!(t, Tenancy::Global { .. })),
        },
        checklist: checklist_items,
        notes,
        proof,
        reconciliation,
    };
    Ok(Audited {
        report,
        snapshot,
        model,
        access,
        rules_config,
        scans,
    })
}

/// `evidence.proof` on every critical and high finding (see
/// [`tenantguard_probe::reconcile::finding_proof`]), then the confirmed ones first within each
/// severity.
fn attach_proof(
    findings: &mut [tenantguard_rules::Finding],
    proof: Option<&tenantguard_probe::ProofReport>,
    not_proved: Option<&str>,
) {
    use tenantguard_rules::Severity;
    let mut confirmed = std::collections::HashSet::new();
    for (i, f) in findings.iter_mut().enumerate() {
        if f.severity < Severity::High {
            continue;
        }
        let value = match proof {
            Some(p) => {
                let cells: Vec<String> = f.evidence["cells"]
                    .as_array()
                    .map(|c| {
                        c.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                tenantguard_probe::reconcile::finding_proof(
                    &f.object.schema,
                    &f.object.name,
                    &cells,
                    p,
                )
            }
            None => tenantguard_probe::reconcile::proof_not_attempted(
                not_proved.unwrap_or("the proof did not run"),
            ),
        };
        if value["status"] == "confirmed" {
            confirmed.insert(i);
        }
        if !f.evidence.is_object() {
            f.evidence = serde_json::json!({});
        }
        f.evidence["proof"] = value;
    }
    let mut order: Vec<usize> = (0..findings.len()).collect();
    order.sort_by_key(|&i| {
        (
            std::cmp::Reverse(findings[i].severity),
            !confirmed.contains(&i),
        )
    });
    let sorted: Vec<tenantguard_rules::Finding> =
        order.iter().map(|&i| findings[i].clone()).collect();
    findings.clone_from_slice(&sorted);
}

/// A progress bar on stderr; indicatif draws nothing when stderr is not a terminal.
fn progress_bar(len: u64) -> ProgressBar {
    styled_bar(len, "scanning")
}

fn styled_bar(len: u64, verb: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!("{verb} {{bar:30}} {{pos}}/{{len}} {{wide_msg}}"))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// A progress callback for the proof: a bar on stderr, cleared when the last object is done.
pub fn progress(verb: &'static str) -> tenantguard_probe::run::Progress {
    let bar = styled_bar(0, verb);
    Arc::new(move |done, total, object: &str| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(object.to_string());
        if done >= total {
            bar.finish_and_clear();
        }
    })
}
