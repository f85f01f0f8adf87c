//! The terminal report: findings grouped by severity, most severe first, then a summary line.
//! Colour is written unconditionally and stripped by anstream when stdout is not a terminal
//! (or NO_COLOR is set), so CI logs stay plain.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use tenantguard_rules::checklist::ItemStatus;
use tenantguard_rules::Severity;

use crate::AuditReport;

fn severity_style(s: Severity) -> Style {
    let color = match s {
        Severity::Critical => AnsiColor::Red,
        Severity::High => AnsiColor::BrightRed,
        Severity::Medium => AnsiColor::Yellow,
        Severity::Low => AnsiColor::Cyan,
        Severity::Info => AnsiColor::BrightBlack,
    };
    Style::new().fg_color(Some(color.into())).bold()
}

pub fn render_text(report: &AuditReport, show_fixes: bool) -> String {
    let mut out = String::new();
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    let _ = writeln!(
        out,
        "{bold}tenantguard {}{bold:#} — database {}, tenant root {}",
        report.version,
        report.database,
        report.model.root.as_deref().unwrap_or("(none found)")
    );
    let _ = writeln!(
        out,
        "{dim}model: {} tenant tables, {} tenanted through a parent, {} global{dim:#}",
        report.model.direct, report.model.indirect, report.model.global
    );
    for note in &report.notes {
        let _ = writeln!(
            out,
            "{}note:{:#} {note}",
            Style::new().fg_color(Some(AnsiColor::Yellow.into())),
            Style::new()
        );
    }
    for sev in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ] {
        let group: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.severity == sev)
            .collect();
        if group.is_empty() {
            continue;
        }
        let st = severity_style(sev);
        let _ = writeln!(
            out,
            "\n{st}{} ({}){st:#}",
            sev.as_str().to_uppercase(),
            group.len()
        );
        for f in group {
            let policy = f
                .policy
                .as_deref()
                .map(|p| format!(" policy {p:?}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {st}{:<24}{st:#} {bold}{}{bold:#}{policy}",
                f.rule, f.object
            );
            let _ = writeln!(out, "      {}", f.message);
            if let Some(l) = &f.location {
                let _ = writeln!(out, "      {dim}at {}:{}{dim:#}", l.file, l.line);
            }
            if show_fixes {
                if let Some(fix) = &f.fix {
                    for line in fix.lines() {
                        let _ = writeln!(out, "      {dim}│ {line}{dim:#}");
                    }
                }
            }
        }
    }
    if !report.checklist.is_empty() {
        let _ = writeln!(
            out,
            "\n{bold}Verification checklist (from the seed audit){bold:#}"
        );
        for item in &report.checklist {
            let (mark, style) = match item.status {
                ItemStatus::Pass => (
                    "PASS",
                    Style::new().fg_color(Some(AnsiColor::Green.into())).bold(),
                ),
                ItemStatus::Fail => ("FAIL", severity_style(Severity::Critical)),
                ItemStatus::NotChecked => ("----", dim),
            };
            let _ = writeln!(out, "  {style}{mark}{style:#} {}", item.item);
            let _ = writeln!(out, "       {dim}{}{dim:#}", item.detail);
        }
    }
    let s = &report.summary;
    let scan = if report.data_scan.ran {
        format!(
            "data scan: {} statements in {:.2} s{}",
            report.data_scan.statements,
            report.data_scan.elapsed_ms as f64 / 1000.0,
            if report.data_scan.timed_out + report.data_scan.failed > 0 {
                format!(
                    ", {} timed out, {} failed",
                    report.data_scan.timed_out, report.data_scan.failed
                )
            } else {
                String::new()
            }
        )
    } else {
        format!(
            "data scan skipped: {}",
            report
                .data_scan
                .skipped_because
                .as_deref()
                .unwrap_or("not requested")
        )
    };
    let _ = writeln!(
        out,
        "\n{bold}{} critical, {} high, {} medium, {} low, {} info{bold:#} on {} tables ({scan})",
        s.critical, s.high, s.medium, s.low, s.info, s.tables
    );
    if !report.suppressed.is_empty() {
        let by = |b: tenantguard_rules::suppress::SuppressedBy| {
            report.suppressed.iter().filter(|x| x.by == b).count()
        };
        let _ = writeln!(
            out,
            "{dim}{} suppressed ({} by the baseline, {} by tenantguard:ignore comments){dim:#}",
            report.suppressed.len(),
            by(tenantguard_rules::suppress::SuppressedBy::Baseline),
            by(tenantguard_rules::suppress::SuppressedBy::Comment)
        );
    }
    out
}

/// The text report, followed by the proof matrix and the reconciliation when the audit proved.
pub fn render_text_with_proof(report: &AuditReport, show_fixes: bool) -> String {
    let mut text = render_text(report, show_fixes);
    if let Some(proof) = &report.proof {
        text.push('\n');
        text.push_str(&crate::render_proof_text(proof));
        text.push('\n');
        text.push_str(&crate::render_reconciliation_text(&report.reconciliation));
    }
    text
}
