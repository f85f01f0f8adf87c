//! The HTML report: one self-contained file a security lead can open — verdict, the seed's
//! checklist, a tables × rules grid with every finding, the proof matrix, the fix plan and a
//! picture of the tenant graph drawn as inline SVG.
//!
//! Self-contained and inert: no scripts, no external resources, a strict Content-Security-Policy,
//! and every string that came from the database is HTML-escaped wherever it lands (text,
//! attributes, SVG text and `<title>`s).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::{self, Write as _};

use tenantguard_fix::{Applicability, Plan};
use tenantguard_probe::{Attack, AttackResult, Disagreement, ObjectKind, Outcome, ProofReport};
use tenantguard_rules::checklist::ItemStatus;
use tenantguard_rules::suppress::SuppressedBy;
use tenantguard_rules::{Finding, Severity};
use tenantguard_tenant_model::{Tenancy, TenantModel};

use crate::AuditReport;

/// What the HTML report shows beyond the [`AuditReport`]: the tenant model (drawn as a graph)
/// and the fix plan, when the caller has them.
#[derive(Debug, Clone, Copy, Default)]
pub struct HtmlExtras<'a> {
    pub model: Option<&'a TenantModel>,
    pub plan: Option<&'a Plan>,
}

/// The Content-Security-Policy the page carries: nothing may load, nothing may run.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// Rules whose findings are a path around row-level security to a tenant table.
const BYPASS_RULES: &[&str] = &[
    "view-bypasses-rls",
    "materialized-view-exposed",
    "partition-bypasses-rls",
    "foreign-table-exposed",
    "security-definer-exposed",
    "rls-disabled",
];

const SEVERITIES: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Info,
];

/// HTML-escapes a string for text and (quoted) attribute values alike.
struct E<'a>(&'a str);

impl fmt::Display for E<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = 0;
        for (i, c) in self.0.char_indices() {
            let rep = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                _ => continue,
            };
            f.write_str(&self.0[last..i])?;
            f.write_str(rep)?;
            last = i + c.len_utf8();
        }
        f.write_str(&self.0[last..])
    }
}

fn esc(s: &str) -> String {
    E(s).to_string()
}

fn sev_class(s: Severity) -> &'static str {
    s.as_str()
}

fn sev_letter(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "C",
        Severity::High => "H",
        Severity::Medium => "M",
        Severity::Low => "L",
        Severity::Info => "I",
    }
}

const STYLE: &str = r#"
:root{--crit:#b91c1c;--high:#ea580c;--med:#d97706;--low:#0e7490;--info:#6b7280;--ok:#15803d;
--bg:#f8fafc;--fg:#0f172a;--mut:#64748b;--line:#e2e8f0}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:var(--fg);background:var(--bg)}
main{max-width:1240px;margin:0 auto;padding:20px 24px 60px}
h1{font-size:22px;margin:0 0 4px;overflow-wrap:anywhere}
h2{font-size:18px;margin:34px 0 10px;padding-bottom:4px;border-bottom:2px solid var(--line)}
h3{font-size:15px;margin:20px 0 8px;overflow-wrap:anywhere}
.meta{color:var(--mut);margin:2px 0;overflow-wrap:anywhere}
.banner{margin:16px 0;padding:14px 18px;border-radius:8px;color:#fff;font-weight:600}
.banner.red{background:var(--crit)}.banner.amber{background:var(--med)}.banner.green{background:var(--ok)}
.banner .big{font-size:20px;display:block}
.counts{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}
.count{padding:4px 10px;border-radius:999px;background:#fff;border:1px solid var(--line);font-weight:600}
.sev{display:inline-block;min-width:64px;text-align:center;padding:1px 8px;border-radius:4px;
color:#fff;font-size:12px;font-weight:700;text-transform:uppercase}
.critical{background:var(--crit)}.high{background:var(--high)}.medium{background:var(--med)}
.low{background:var(--low)}.info{background:var(--info)}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:4px;vertical-align:middle}
.notes{background:#fffbeb;border:1px solid #fde68a;border-radius:6px;padding:8px 14px;margin:10px 0}
.notes li{overflow-wrap:anywhere}
table{border-collapse:collapse;background:#fff}
td,th{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f5f9;font-weight:600}
table.wide{width:100%}
td.wrap{overflow-wrap:anywhere;word-break:break-word}
.status{font-weight:700;font-size:12px;padding:1px 8px;border-radius:4px;color:#fff;white-space:nowrap}
.pass{background:var(--ok)}.fail{background:var(--crit)}.nc{background:#94a3b8}
.scroll{overflow-x:auto;max-width:100%}
table.grid th.rule{height:190px;white-space:nowrap;vertical-align:bottom;padding:6px 2px;width:30px}
table.grid th.rule span{writing-mode:vertical-rl;transform:rotate(180deg);font-size:12px}
table.grid td.obj{white-space:nowrap;max-width:360px;overflow:hidden;text-overflow:ellipsis;font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px}
table.grid td.cell{text-align:center;padding:2px}
table.grid td.cell a{display:inline-block;width:24px;height:20px;line-height:20px;border-radius:3px;
color:#fff;font-weight:700;font-size:12px;text-decoration:none}
.finding{background:#fff;border:1px solid var(--line);border-left:5px solid var(--info);border-radius:6px;
padding:10px 14px;margin:10px 0}
.finding.critical,.finding.high,.finding.medium,.finding.low,.finding.info{background:#fff}
.finding.b-critical{border-left-color:var(--crit)}.finding.b-high{border-left-color:var(--high)}
.finding.b-medium{border-left-color:var(--med)}.finding.b-low{border-left-color:var(--low)}
.finding .head{display:flex;flex-wrap:wrap;gap:8px;align-items:center}
.finding .rule{font-weight:700}
.finding .obj,.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;overflow-wrap:anywhere}
.finding .msg{margin:6px 0;overflow-wrap:anywhere}
.label{color:var(--mut);font-size:12px;margin-top:6px}
pre{background:#0f172a;color:#e2e8f0;padding:8px 10px;border-radius:5px;margin:4px 0;overflow:auto;
max-height:320px;font:12px/1.4 ui-monospace,"DejaVu Sans Mono",monospace;white-space:pre-wrap;overflow-wrap:anywhere}
table.proof td.c{text-align:center;font-weight:700;font-size:12px;white-space:nowrap}
td.o-ok{background:#dcfce7;color:#166534}td.o-leak{background:var(--crit);color:#fff}
td.o-error{background:#fef3c7;color:#92400e}td.o-skip{color:#94a3b8}td.o-info{background:#dbeafe;color:#1e40af}
td.o-none{background:#f8fafc}
.legend{display:flex;flex-wrap:wrap;gap:14px;color:var(--mut);font-size:12px;margin:6px 0}
.legend span{display:inline-flex;align-items:center;gap:4px}
.sw{display:inline-block;width:26px;height:14px;border-radius:3px;border:1px solid #94a3b8}
.badge{font-size:11px;font-weight:700;padding:1px 6px;border-radius:4px;white-space:nowrap}
.safe{background:#dcfce7;color:#166534}.review{background:#fef3c7;color:#92400e}
.alarm{background:#fee2e2;border:2px solid var(--crit);border-radius:6px;padding:8px 14px;color:#7f1d1d}
svg text{font:12px ui-monospace,"DejaVu Sans Mono",monospace}
svg .hdr{font:600 12px system-ui,sans-serif;fill:#475569}
svg .mk{font:700 10px system-ui,sans-serif}
.pn{display:inline-block;min-width:20px;padding:0 5px;border-radius:10px;background:#dc2626;color:#fff;
font-weight:700;font-size:12px;text-align:center}
.nw{white-space:nowrap}
footer{margin-top:40px;color:var(--mut);font-size:12px}
"#;

/// Renders the whole report as one self-contained HTML page.
pub fn render_html(report: &AuditReport, extras: &HtmlExtras) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = format!("tenantguard report — {}", report.database);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        E(&title)
    );
    header(&mut out, report);
    checklist(&mut out, report);
    findings(&mut out, report);
    if let Some(p) = &report.proof {
        proof(&mut out, p, report);
    } else if !report.reconciliation.is_empty() {
        out.push_str("<h2 id=\"proof\">Proof</h2>\n");
        reconciliation(&mut out, report);
    }
    if let Some(plan) = extras.plan {
        fix_plan(&mut out, plan);
    }
    if let Some(model) = extras.model {
        tenant_graph(&mut out, model, &report.findings);
    }
    let _ = write!(
        out,
        "<footer>Generated by {} {}. This page is self-contained: no scripts, no external \
         resources.</footer>\n</main>\n</body>\n</html>\n",
        E(&report.tool),
        E(&report.version)
    );
    out
}

fn leak_count(report: &AuditReport) -> usize {
    report
        .proof
        .as_ref()
        .map(|p| p.leaks().count())
        .unwrap_or(0)
}

fn header(out: &mut String, report: &AuditReport) {
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    let (crit, high, med) = (
        count(Severity::Critical),
        count(Severity::High),
        count(Severity::Medium),
    );
    let leaks = leak_count(report);
    let _ = write!(
        out,
        "<header>\n<h1>tenantguard report — <span class=\"mono\">{}</span></h1>\n\
         <p class=\"meta\">{} {} · tenant root <span class=\"mono\">{}</span> · {} tenant tables, \
         {} tenanted through a parent, {} global · {} tables audited</p>\n",
        E(&report.database),
        E(&report.tool),
        E(&report.version),
        E(report.model.root.as_deref().unwrap_or("(none found)")),
        report.model.direct,
        report.model.indirect,
        report.model.global,
        report.summary.tables,
    );
    let scan = if report.data_scan.ran {
        format!(
            "data scan: {} statements in {:.2} s, {} timed out, {} failed",
            report.data_scan.statements,
            report.data_scan.elapsed_ms as f64 / 1000.0,
            report.data_scan.timed_out,
            report.data_scan.failed
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
    let _ = writeln!(out, "<p class=\"meta\">{}</p>", E(&scan));

    let (class, headline) = if crit + high > 0 || leaks > 0 {
        let mut why = vec![];
        if crit + high > 0 {
            why.push(format!("{} critical/high finding(s)", crit + high));
        }
        if leaks > 0 {
            why.push(format!("{leaks} attack(s) leaked another tenant's rows"));
        }
        (
            "red",
            format!("FAIL — tenant isolation is broken: {}", why.join("; ")),
        )
    } else if med > 0 {
        (
            "amber",
            format!("REVIEW — no critical or high finding, {med} medium finding(s) to review"),
        )
    } else {
        (
            "green",
            "PASS — no critical, high or medium finding".to_string(),
        )
    };
    let proof_line = match &report.proof {
        Some(p) => format!(
            "Proof: {} attacks, {} leak(s) on {} object(s), {} blocked, {} error(s)",
            p.summary.attacks,
            leaks,
            p.summary.leaking_objects,
            p.summary.blocked,
            p.summary.errors
        ),
        None => "Proof: not run (audit --prove attacks the database for real)".to_string(),
    };
    let _ = write!(
        out,
        "<div class=\"banner {class}\"><span class=\"big\">{}</span>{}</div>\n<div class=\"counts\">",
        E(&headline),
        E(&proof_line)
    );
    for s in SEVERITIES {
        let _ = write!(
            out,
            "<span class=\"count\"><span class=\"dot {}\"></span>{} {}</span>",
            sev_class(s),
            count(s),
            s.as_str()
        );
    }
    if !report.suppressed.is_empty() {
        let _ = write!(
            out,
            "<span class=\"count\">{} suppressed</span>",
            report.suppressed.len()
        );
    }
    out.push_str("</div>\n");
    if !report.notes.is_empty() {
        out.push_str("<div class=\"notes\"><strong>Notes</strong><ul>");
        for n in &report.notes {
            let _ = write!(out, "<li>{}</li>", E(n));
        }
        out.push_str("</ul></div>\n");
    }
    out.push_str("</header>\n");
}

fn checklist(out: &mut String, report: &AuditReport) {
    if report.checklist.is_empty() {
        return;
    }
    out.push_str(
        "<h2 id=\"checklist\">Verification checklist (from the seed audit)</h2>\n\
         <table class=\"wide\"><tr><th>Status</th><th>Item</th><th>Detail</th></tr>\n",
    );
    for item in &report.checklist {
        let (class, mark) = match item.status {
            ItemStatus::Pass => ("pass", "PASS"),
            ItemStatus::Fail => ("fail", "FAIL"),
            ItemStatus::NotChecked => ("nc", "not checked"),
        };
        let _ = writeln!(
            out,
            "<tr><td><span class=\"status {class}\">{mark}</span></td><td class=\"wrap\">{}</td>\
             <td class=\"wrap\">{}</td></tr>",
            E(&item.item),
            E(&item.detail)
        );
    }
    out.push_str("</table>\n");
}

fn findings(out: &mut String, report: &AuditReport) {
    let _ = writeln!(
        out,
        "<h2 id=\"findings\">Findings ({})</h2>",
        report.findings.len()
    );
    if report.findings.is_empty() {
        out.push_str("<p>No findings.</p>\n");
        suppressed(out, report);
        return;
    }
    // Index the findings most severe first; the index is the anchor of each card.
    let mut order: Vec<usize> = (0..report.findings.len()).collect();
    order.sort_by(|&a, &b| {
        let (fa, fb) = (&report.findings[a], &report.findings[b]);
        fb.severity
            .cmp(&fa.severity)
            .then_with(|| fa.rule.cmp(&fb.rule))
            .then_with(|| fa.object.to_string().cmp(&fb.object.to_string()))
    });

    // The grid: objects × rules that fired.
    let mut rule_sev: BTreeMap<&str, Severity> = BTreeMap::new();
    let mut obj_sev: BTreeMap<String, Severity> = BTreeMap::new();
    let mut cells: HashMap<(String, &str), Vec<usize>> = HashMap::new();
    for &i in &order {
        let f = &report.findings[i];
        let o = f.object.to_string();
        let rs = rule_sev.entry(&f.rule).or_insert(f.severity);
        *rs = (*rs).max(f.severity);
        let os = obj_sev.entry(o.clone()).or_insert(f.severity);
        *os = (*os).max(f.severity);
        cells.entry((o, &f.rule)).or_default().push(i);
    }
    let mut rules: Vec<(&str, Severity)> = rule_sev.into_iter().collect();
    rules.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut objects: Vec<(String, Severity)> = obj_sev.into_iter().collect();
    objects.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

    out.push_str(
        "<h3>Objects × rules</h3>\n<p class=\"meta\">Each mark is the most severe finding of \
         that rule on that object (C critical, H high, M medium, L low, I info); hover for the \
         message, click for the finding.</p>\n<div class=\"scroll\"><table class=\"grid\">\
         <tr><th>object</th>",
    );
    for (rule, sev) in &rules {
        let _ = write!(
            out,
            "<th class=\"rule\" title=\"{} (most severe: {})\"><span>{}</span></th>",
            E(rule),
            sev.as_str(),
            E(rule)
        );
    }
    out.push_str("</tr>\n");
    for (object, _) in &objects {
        let _ = write!(
            out,
            "<tr><td class=\"obj\" title=\"{}\">{}</td>",
            E(object),
            E(object)
        );
        for (rule, _) in &rules {
            match cells.get(&(object.clone(), *rule)) {
                Some(ids) => {
                    let worst = ids
                        .iter()
                        .map(|&i| report.findings[i].severity)
                        .max()
                        .unwrap_or(Severity::Info);
                    let tip: Vec<String> = ids
                        .iter()
                        .map(|&i| {
                            let f = &report.findings[i];
                            match &f.policy {
                                Some(p) => {
                                    format!("[{}] policy {}: {}", f.severity.as_str(), p, f.message)
                                }
                                None => format!("[{}] {}", f.severity.as_str(), f.message),
                            }
                        })
                        .collect();
                    let mark = if ids.len() > 1 {
                        format!("{}{}", sev_letter(worst), ids.len())
                    } else {
                        sev_letter(worst).to_string()
                    };
                    let _ = write!(
                        out,
                        "<td class=\"cell\"><a class=\"{}\" href=\"#f{}\" title=\"{}\">{mark}</a></td>",
                        sev_class(worst),
                        ids[0],
                        E(&tip.join("\n"))
                    );
                }
                None => out.push_str("<td class=\"cell\"></td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n<h3>All findings, most severe first</h3>\n");

    for &i in &order {
        finding_card(out, i, &report.findings[i]);
    }
    suppressed(out, report);
}

fn suppressed(out: &mut String, report: &AuditReport) {
    if report.suppressed.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<h3>Suppressed ({}): set aside by a baseline or a <code>tenantguard:ignore</code> comment</h3>\n\
         <table class=\"wide\"><tr><th>severity</th><th>rule</th><th>object</th><th>by</th>\
         <th>reason</th><th>message</th></tr>",
        report.suppressed.len()
    );
    for s in &report.suppressed {
        let f = &s.finding;
        let sev = sev_class(f.severity);
        let _ = writeln!(
            out,
            "<tr><td><span class=\"sev {sev}\">{sev}</span></td><td>{}</td><td class=\"mono wrap\">{}{}</td>\
             <td>{}</td><td class=\"wrap\">{}</td><td class=\"wrap\">{}</td></tr>",
            E(&f.rule),
            E(&f.object.to_string()),
            f.policy
                .as_deref()
                .map(|p| format!(" policy {}", E(p)))
                .unwrap_or_default(),
            match s.by {
                SuppressedBy::Baseline => "baseline",
                SuppressedBy::Comment => "comment",
            },
            E(&s.reason),
            E(&f.message)
        );
    }
    out.push_str("</table>\n");
}

fn finding_card(out: &mut String, i: usize, f: &Finding) {
    let sev = sev_class(f.severity);
    let _ = writeln!(
        out,
        "<div class=\"finding b-{sev}\" id=\"f{i}\"><div class=\"head\"><span class=\"sev {sev}\">{sev}</span>\
         <span class=\"rule\">{}</span><span class=\"obj\">{}</span><span class=\"meta\">{:?} · {:?}</span></div>",
        E(&f.rule),
        E(&f.object.to_string()),
        f.object.kind,
        f.category,
    );
    if let Some(p) = &f.policy {
        let _ = writeln!(
            out,
            "<div class=\"label\">policy <span class=\"mono\">{}</span></div>",
            E(p)
        );
    }
    let _ = writeln!(out, "<div class=\"msg\">{}</div>", E(&f.message));
    if let Some(loc) = &f.location {
        let _ = writeln!(
            out,
            "<div class=\"label\">created at <span class=\"mono\">{}:{}</span></div>",
            E(&loc.file),
            loc.line
        );
    }
    if !f.evidence.is_null() {
        let ev = serde_json::to_string_pretty(&f.evidence).unwrap_or_default();
        let _ = writeln!(
            out,
            "<div class=\"label\">evidence</div><pre>{}</pre>",
            E(&ev)
        );
    }
    if let Some(fix) = &f.fix {
        let _ = writeln!(
            out,
            "<div class=\"label\">suggested fix</div><pre>{}</pre>",
            E(fix)
        );
    }
    out.push_str("</div>\n");
}

fn outcome_cell(r: &AttackResult) -> (&'static str, String) {
    match r.outcome {
        Outcome::Blocked => ("o-ok", "ok".into()),
        Outcome::Leak => ("o-leak", format!("LEAK {}", r.rows)),
        Outcome::Error => ("o-error", "error".into()),
        Outcome::Skipped => ("o-skip", "–".into()),
        Outcome::Info => ("o-info", "info".into()),
        Outcome::NotApplicable => ("o-skip", "n/a".into()),
    }
}

fn kind_word(k: ObjectKind) -> &'static str {
    match k {
        ObjectKind::Table => "table",
        ObjectKind::View => "view",
        ObjectKind::MaterializedView => "materialized view",
        ObjectKind::Function => "function",
    }
}

fn proof(out: &mut String, p: &ProofReport, report: &AuditReport) {
    out.push_str("<h2 id=\"proof\">Proof: the attacks</h2>\n");
    if let Some(t) = &p.tenants {
        let _ = writeln!(
            out,
            "<p>Tenant A = <span class=\"mono\">{}</span> attacks tenant B = \
             <span class=\"mono\">{}</span> ({}){}{}.</p>",
            E(&t.attacker),
            E(&t.victim),
            E(&t.how_chosen),
            match &t.attacker_user {
                Some(u) => format!(", as user <span class=\"mono\">{}</span>", E(u)),
                None => String::new(),
            },
            if p.read_only { ", read-only" } else { "" }
        );
    }
    let s = &p.summary;
    let _ = writeln!(
        out,
        "<p class=\"meta\">{} attacks in {:.1} s: {} leak(s) on {} object(s), {} blocked, {} \
         error(s), {} skipped, {} info, {} not applicable. Every attack ran in a transaction that was rolled back.</p>",
        s.attacks,
        p.elapsed_ms as f64 / 1000.0,
        s.leaks,
        s.leaking_objects,
        s.blocked,
        s.errors,
        s.skipped,
        s.info,
        s.not_applicable
    );
    out.push_str(
        "<div class=\"legend\"><span><span class=\"sw\" style=\"background:#dcfce7\"></span>ok = blocked</span>\
         <span><span class=\"sw\" style=\"background:#b91c1c\"></span>LEAK n = n of B's rows read or written</span>\
         <span><span class=\"sw\" style=\"background:#fef3c7\"></span>error = neither blocked nor leaked</span>\
         <span><span class=\"sw\" style=\"background:#dbeafe\"></span>info = B's key revealed</span>\
         <span>– = not applicable</span></div>\n",
    );
    if !p.attackers.is_empty() {
        out.push_str(
            "<table class=\"wide\"><tr><th>attacker</th><th>database role</th><th>session settings</th></tr>\n",
        );
        for a in &p.attackers {
            let settings: Vec<String> = a
                .settings
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            let _ = writeln!(
                out,
                "<tr><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td class=\"wrap mono\">{}</td></tr>",
                E(&a.label),
                E(&a.role),
                E(&settings.join("\n")).to_string().replace('\n', "<br>")
            );
        }
        out.push_str("</table>\n");
    }

    let attacks: BTreeSet<Attack> = p.results.iter().map(|r| r.attack).collect();
    let mut labels: Vec<&String> = p.roles.iter().collect();
    for r in &p.results {
        if !labels.contains(&&r.role) {
            labels.push(&r.role);
        }
    }
    for label in labels {
        let mine: Vec<&AttackResult> = p.results.iter().filter(|r| &r.role == label).collect();
        if mine.is_empty() {
            continue;
        }
        let mut objects: Vec<(&str, ObjectKind)> = vec![];
        for r in &mine {
            if !objects.iter().any(|(o, k)| *o == r.table && *k == r.kind) {
                objects.push((&r.table, r.kind));
            }
        }
        objects.sort_by_key(|(_, k)| *k != ObjectKind::Table);
        let _ = write!(
            out,
            "<h3>as <span class=\"mono\">{}</span></h3>\n<div class=\"scroll\"><table class=\"proof\">\
             <tr><th>object</th>",
            E(label)
        );
        for a in &attacks {
            let _ = write!(out, "<th>{}</th>", a.name());
        }
        out.push_str("</tr>\n");
        for (o, kind) in objects {
            let _ = write!(
                out,
                "<tr><td class=\"mono\" title=\"{} {}\">{}{}</td>",
                kind_word(kind),
                E(o),
                E(o),
                if kind == ObjectKind::Table {
                    String::new()
                } else {
                    format!(" <span class=\"meta\">({})</span>", kind_word(kind))
                }
            );
            for a in &attacks {
                match mine
                    .iter()
                    .find(|r| r.table == o && r.kind == kind && r.attack == *a)
                {
                    Some(r) => {
                        let (class, text) = outcome_cell(r);
                        let _ = write!(
                            out,
                            "<td class=\"c {class}\" title=\"{} as {}: {}: {}\">{}</td>",
                            r.attack.name(),
                            E(&r.role),
                            r.outcome.name(),
                            E(&r.detail),
                            E(&text)
                        );
                    }
                    None => out.push_str("<td class=\"c o-none\"></td>"),
                }
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table></div>\n");
    }

    for (title, outcome) in [
        ("Leaks", Outcome::Leak),
        ("Errors (neither blocked nor leaked)", Outcome::Error),
    ] {
        let rows: Vec<&AttackResult> = p.results.iter().filter(|r| r.outcome == outcome).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "<h3>{title}</h3>\n<table class=\"wide\"><tr><th>object</th><th>attack</th><th>as</th>\
             <th>rows</th><th>detail</th></tr>\n"
        );
        for r in rows {
            let _ = writeln!(
                out,
                "<tr><td class=\"mono wrap\">{}</td><td>{}</td><td class=\"mono nw\">{}</td><td>{}</td>\
                 <td class=\"wrap\">{}</td></tr>",
                E(&r.table),
                r.attack.name(),
                E(&r.role),
                r.rows,
                E(&r.detail)
            );
        }
        out.push_str("</table>\n");
    }
    if !p.notes.is_empty() {
        out.push_str("<div class=\"notes\"><strong>Proof notes</strong><ul>");
        for n in &p.notes {
            let _ = write!(out, "<li>{}</li>", E(n));
        }
        out.push_str("</ul></div>\n");
    }
    reconciliation(out, report);
}

fn reconciliation(out: &mut String, report: &AuditReport) {
    let items = &report.reconciliation;
    if items.is_empty() {
        return;
    }
    out.push_str("<h3>Where the analysis and the attacks disagree</h3>\n");
    let missed = items
        .iter()
        .filter(|r| r.kind == Disagreement::AnalyserMissedLeak)
        .count();
    if missed > 0 {
        let _ = writeln!(
            out,
            "<p class=\"alarm\"><strong>Analyser bug:</strong> {missed} cell(s) the static \
             analysis called safe leaked under attack.</p>"
        );
    }
    out.push_str(
        "<table class=\"wide\"><tr><th>kind</th><th>table</th><th>role</th><th>command</th>\
         <th>analyser verdict</th><th>attacks</th><th>detail</th></tr>\n",
    );
    for r in items {
        let kind = match r.kind {
            Disagreement::AnalyserMissedLeak => {
                "<span class=\"status fail\">analyser missed a leak</span>"
            }
            Disagreement::FlaggedNotExploited => {
                "<span class=\"status nc\">flagged, not exploited</span>"
            }
        };
        let _ = writeln!(
            out,
            "<tr><td>{kind}</td><td class=\"mono wrap\">{}</td><td class=\"mono nw\">{}</td><td>{}</td>\
             <td>{}</td><td class=\"wrap\">{}</td><td class=\"wrap\">{}</td></tr>",
            E(&r.table),
            E(&r.role),
            r.command.privilege(),
            E(&r.verdict),
            E(&r.attacks.join(", ")),
            E(&r.detail)
        );
    }
    out.push_str("</table>\n");
}

fn fix_plan(out: &mut String, plan: &Plan) {
    let safe = plan
        .steps
        .iter()
        .filter(|s| s.applicability == Applicability::Safe)
        .count();
    let _ = writeln!(
        out,
        "<h2 id=\"plan\">Fix plan ({} step(s): {safe} safe, {} to review; {} manual)</h2>\n\
         <p class=\"meta\">Steps run in order, phase by phase. <span class=\"badge safe\">safe</span> \
         steps cannot change what a correctly scoped application sees; \
         <span class=\"badge review\">review</span> steps change what some caller sees and run \
         only with <code>--unsafe-fixes</code>.</p>",
        plan.steps.len(),
        plan.steps.len() - safe,
        plan.manual.len()
    );
    if !plan.steps.is_empty() {
        out.push_str(
            "<table class=\"wide\"><tr><th>#</th><th>phase</th><th>step</th><th>closes</th></tr>\n",
        );
        for (n, s) in plan.steps.iter().enumerate() {
            let (class, word) = match s.applicability {
                Applicability::Safe => ("safe", "safe"),
                Applicability::Review => ("review", "review"),
            };
            let closes: Vec<String> = s.closes.iter().map(|c| esc(c)).collect();
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"wrap\"><span class=\"badge {class}\">{word}</span> \
                 {} <span class=\"meta mono\">{}</span>{}<pre>{}</pre></td><td class=\"wrap mono\">{}</td></tr>",
                n + 1,
                E(s.phase.title()),
                E(&s.summary),
                E(&s.object),
                if s.transactional {
                    ""
                } else {
                    " <span class=\"meta\">(outside a transaction)</span>"
                },
                E(&s.sql),
                closes.join("<br>")
            );
        }
        out.push_str("</table>\n");
    }
    if !plan.manual.is_empty() {
        out.push_str(
            "<h3>Needs a person</h3>\n<table class=\"wide\"><tr><th>finding</th><th>why no automatic step</th>\
             <th>suggestion</th></tr>\n",
        );
        for m in &plan.manual {
            let _ = writeln!(
                out,
                "<tr><td class=\"mono wrap\">{}</td><td class=\"wrap\">{}</td><td>{}</td></tr>",
                E(&m.closes),
                E(&m.why),
                m.suggestion
                    .as_deref()
                    .map(|s| format!("<pre>{}</pre>", E(s)))
                    .unwrap_or_default()
            );
        }
        out.push_str("</table>\n");
    }
}

// ---------------------------------------------------------------------------------------------
// The tenant graph, laid out by hand.

const NODE_W: i64 = 196;
const NODE_H: i64 = 22;
const ROW: i64 = 28;
const COL_W: i64 = 240;
const TOP: i64 = 36;
const LEFT: i64 = 10;
/// Columns of indirectly tenanted tables (deeper paths share the last one).
const MAX_INDIRECT_COLS: usize = 2;
/// Characters of a label before it is cut (the full name is in the node's `<title>`).
const LABEL_CHARS: usize = 25;
/// Numbered markers drawn on a node that paths around RLS reach (then "+").
const MAX_MARKERS: usize = 3;
const MARKER_W: i64 = 17;

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[derive(Clone, Copy, PartialEq)]
enum NodeKind {
    Root,
    Direct,
    Indirect,
    Global,
    Bypass,
}

struct Node {
    name: String,
    tip: String,
    kind: NodeKind,
    x: i64,
    y: i64,
    /// Numbers of the paths around RLS that reach this table (or that this node is).
    markers: Vec<usize>,
}

/// A table tenanted through a foreign-key path, as the graph places it.
struct IndirectTable {
    name: String,
    /// Hops to a table with its own tenant key.
    depth: usize,
    /// The table its first hop points at.
    parent: String,
    tip: String,
}

/// A path around RLS: the object it goes through and the tenant tables it reaches.
struct BypassPath {
    object: String,
    kind: String,
    rules: Vec<String>,
    reaches: Vec<String>,
}

fn object_kind_word(k: tenantguard_rules::ObjectKind) -> &'static str {
    use tenantguard_rules::ObjectKind as K;
    match k {
        K::Table => "table",
        K::View => "view",
        K::MaterializedView => "materialized view",
        K::ForeignTable => "foreign table",
        K::Function => "function",
        K::Role => "role",
    }
}

fn bypass_paths(findings: &[Finding], model: &TenantModel) -> Vec<BypassPath> {
    let in_model: BTreeSet<String> = model.tables.keys().map(|q| q.to_string()).collect();
    let mut paths: BTreeMap<String, BypassPath> = BTreeMap::new();
    for f in findings {
        if !BYPASS_RULES.contains(&f.rule.as_str()) {
            continue;
        }
        let object = f.object.to_string();
        let mut reaches = vec![];
        if in_model.contains(&object) {
            reaches.push(object.clone());
        }
        if let Some(ts) = f.evidence.get("tables").and_then(|t| t.as_array()) {
            reaches.extend(ts.iter().filter_map(|t| t.as_str()).map(str::to_string));
        }
        if let Some(p) = f.evidence.get("parent").and_then(|p| p.as_str()) {
            reaches.push(p.to_string());
        }
        let entry = paths.entry(object.clone()).or_insert_with(|| BypassPath {
            object,
            kind: object_kind_word(f.object.kind).to_string(),
            rules: vec![],
            reaches: vec![],
        });
        if !entry.rules.contains(&f.rule) {
            entry.rules.push(f.rule.clone());
        }
        for r in reaches {
            if !entry.reaches.contains(&r) {
                entry.reaches.push(r);
            }
        }
    }
    paths.into_values().collect()
}

struct Layout<'a> {
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
    paths: &'a [BypassPath],
    /// Table → the numbers (1-based) of the paths that reach it.
    reached_by: HashMap<String, Vec<usize>>,
}

impl Layout<'_> {
    fn y_of(&self, name: &str) -> Option<i64> {
        self.index.get(name).map(|&i| self.nodes[i].y)
    }

    fn add(&mut self, name: &str, kind: NodeKind, mut tip: String, x: i64, y: i64) -> usize {
        let mut markers = self.reached_by.get(name).cloned().unwrap_or_default();
        if kind == NodeKind::Bypass {
            markers = self
                .paths
                .iter()
                .position(|p| p.object == name)
                .map(|i| vec![i + 1])
                .unwrap_or_default();
        } else if !markers.is_empty() {
            let through: Vec<String> = markers
                .iter()
                .map(|&m| {
                    let p = &self.paths[m - 1];
                    format!("[{m}] {} {} ({})", p.kind, p.object, p.rules.join(", "))
                })
                .collect();
            let _ = write!(
                tip,
                "\nreachable around RLS through: {}",
                through.join("; ")
            );
        }
        self.nodes.push(Node {
            name: name.to_string(),
            tip,
            kind,
            x,
            y,
            markers,
        });
        self.index.insert(name.to_string(), self.nodes.len() - 1);
        self.nodes.len() - 1
    }
}

/// Places a column of nodes: each at the height it wants (level with its parent) or, when that
/// is taken, just below the previous one.
fn place_column(wants: &[Option<i64>]) -> Vec<i64> {
    let mut next = TOP;
    wants
        .iter()
        .map(|w| {
            let y = w.map_or(next, |w| next.max(w));
            next = y + ROW;
            y
        })
        .collect()
}

fn tenant_graph(out: &mut String, model: &TenantModel, findings: &[Finding]) {
    out.push_str("<h2 id=\"graph\">The tenant graph</h2>\n");
    match &model.root {
        Some(r) => {
            let _ = writeln!(
                out,
                "<p class=\"meta\">Tenant root <span class=\"mono\">{}</span> (key {} {}): {}</p>",
                E(&r.table.to_string()),
                E(&r.key),
                E(&r.key_type),
                E(&r.reason)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "<p class=\"alarm\">No tenant root found{}</p>",
                model
                    .unresolved
                    .as_deref()
                    .map(|u| format!(": {}", E(u)))
                    .unwrap_or_default()
            );
        }
    }
    let paths = bypass_paths(findings, model);
    let mut reached_by: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, p) in paths.iter().enumerate() {
        for t in &p.reaches {
            reached_by.entry(t.clone()).or_default().push(i + 1);
        }
    }

    let mut g = Layout {
        nodes: vec![],
        index: HashMap::new(),
        paths: &paths,
        reached_by,
    };
    let mut edges: Vec<(usize, usize)> = vec![];

    let mut direct: Vec<(String, String)> = vec![];
    let mut indirect: Vec<IndirectTable> = vec![];
    let mut global: Vec<(String, String)> = vec![];
    for (name, t) in &model.tables {
        let n = name.to_string();
        match t {
            Tenancy::Root => {}
            Tenancy::Direct { column, fk, reason } => direct.push((
                n.clone(),
                format!(
                    "{n}\ntenant key: {column}{}\n{reason}",
                    fk.as_deref()
                        .map(|f| format!(" (foreign key {f})"))
                        .unwrap_or_default()
                ),
            )),
            Tenancy::Indirect { path, reason } => {
                let parent = path.first().map(|h| h.to.to_string()).unwrap_or_default();
                let hops: Vec<String> = path
                    .iter()
                    .map(|h| format!("{}({}) → {}", h.from, h.columns.join(", "), h.to))
                    .collect();
                indirect.push(IndirectTable {
                    name: n.clone(),
                    depth: path.len().max(1),
                    parent,
                    tip: format!("{n}\ntenanted through: {}\n{reason}", hops.join("; ")),
                });
            }
            Tenancy::Global { reason } => {
                global.push((n.clone(), format!("{n}\nglobal: {reason}")))
            }
        }
    }
    // Column 1: tables with their own tenant key.
    let direct_x = LEFT + COL_W;
    let mut y_max = TOP;
    for (i, (n, tip)) in direct.iter().enumerate() {
        let y = TOP + i as i64 * ROW;
        g.add(n, NodeKind::Direct, tip.clone(), direct_x, y);
        y_max = y_max.max(y + ROW);
    }
    // Column 0: the root, level with the middle of the direct column.
    if let Some(root) = &model.root {
        let name = root.table.to_string();
        let y = TOP + ((direct.len().max(1) as i64 - 1) * ROW) / 2;
        let tip = format!(
            "{name}\ntenant root, key {} {}\n{}",
            root.key, root.key_type, root.reason
        );
        let r = g.add(&name, NodeKind::Root, tip, LEFT, y);
        y_max = y_max.max(y + ROW);
        for (n, _) in &direct {
            if let Some(&d) = g.index.get(n) {
                edges.push((r, d));
            }
        }
    }
    // Columns 2..: indirect tables by path length, each level with its parent or below.
    let depth_cols = indirect
        .iter()
        .map(|i| i.depth.min(MAX_INDIRECT_COLS))
        .max()
        .unwrap_or(0);
    for col in 1..=depth_cols {
        let mut members: Vec<(&IndirectTable, Option<i64>)> = indirect
            .iter()
            .filter(|i| i.depth.min(MAX_INDIRECT_COLS) == col)
            .map(|m| (m, g.y_of(&m.parent)))
            .collect();
        // Children of placed parents in their parents' order; the others after them.
        members
            .sort_by(|a, b| (a.1.is_none(), a.1, &a.0.name).cmp(&(b.1.is_none(), b.1, &b.0.name)));
        let wants: Vec<Option<i64>> = members.iter().map(|m| m.1).collect();
        let x = LEFT + COL_W * (1 + col as i64);
        for ((m, _), y) in members.iter().zip(place_column(&wants)) {
            g.add(&m.name, NodeKind::Indirect, m.tip.clone(), x, y);
            y_max = y_max.max(y + ROW);
        }
    }
    for m in &indirect {
        if let (Some(&p), Some(&c)) = (g.index.get(&m.parent), g.index.get(&m.name)) {
            if p != c {
                edges.push((p, c));
            }
        }
    }
    // Then the paths around RLS that are objects of their own (views, functions, partitions,
    // foreign tables), each level with the first table it reaches; the tables carry its number.
    let bypass_x = LEFT + COL_W * (2 + depth_cols as i64);
    let mut own: Vec<(usize, Option<i64>)> = paths
        .iter()
        .enumerate()
        .filter(|(_, p)| !g.index.contains_key(&p.object))
        .map(|(i, p)| {
            let y = p.reaches.iter().filter_map(|r| g.y_of(r)).min();
            (i, y)
        })
        .collect();
    own.sort_by_key(|&(i, y)| (y.is_none(), y, i));
    let wants: Vec<Option<i64>> = own.iter().map(|o| o.1).collect();
    let has_bypass_col = !own.is_empty();
    for (&(i, _), y) in own.iter().zip(place_column(&wants)) {
        let p = &paths[i];
        let tip = format!(
            "[{}] {} {}\npath around RLS ({})\nreaches: {}",
            i + 1,
            p.kind,
            p.object,
            p.rules.join(", "),
            if p.reaches.is_empty() {
                "(no tenant table named)".to_string()
            } else {
                p.reaches.join(", ")
            }
        );
        g.add(&p.object, NodeKind::Bypass, tip, bypass_x, y);
        y_max = y_max.max(y + ROW);
    }
    // Global tables apart, below the graph, in rows.
    let width_cols = 2 + depth_cols as i64 + i64::from(has_bypass_col);
    let width = (LEFT + COL_W * (width_cols - 1) + NODE_W + LEFT).max(LEFT + COL_W * 4 + NODE_W);
    let global_top = y_max + 40;
    let per_row = ((width - LEFT + COL_W - NODE_W) / COL_W).max(1);
    for (i, (n, tip)) in global.iter().enumerate() {
        let (r, c) = (i as i64 / per_row, i as i64 % per_row);
        g.add(
            n,
            NodeKind::Global,
            tip.clone(),
            LEFT + c * COL_W,
            global_top + r * ROW,
        );
    }
    let height = if global.is_empty() {
        y_max + 10
    } else {
        global_top + ((global.len() as i64 + per_row - 1) / per_row) * ROW + 10
    };

    out.push_str(
        "<div class=\"legend\">\
         <span><span class=\"sw\" style=\"background:#1e3a8a\"></span>tenant root</span>\
         <span><span class=\"sw\" style=\"background:#dbeafe\"></span>own tenant key (direct)</span>\
         <span><span class=\"sw\" style=\"background:#ede9fe\"></span>tenanted through a foreign key (indirect)</span>\
         <span><span class=\"sw\" style=\"background:#f1f5f9\"></span>global (shared by all tenants)</span>\
         <span><span class=\"sw\" style=\"background:#fff;border:2px solid #dc2626\"></span>reachable around RLS</span>\
         <span><span class=\"sw\" style=\"background:#fee2e2;border:2px dashed #dc2626\"></span>the view / function / partition that goes around it</span>\
         <span><span class=\"dot\" style=\"background:#dc2626;width:14px;height:14px\"></span>n = path number, listed under the picture</span>\
         </div>\n<p class=\"meta\">Lines follow the foreign keys from the root. Hover a box for its \
         full name and why it is classified so.</p>\n",
    );
    let _ = writeln!(
        out,
        "<div class=\"scroll\"><svg width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
         role=\"img\" aria-label=\"tenant graph\">"
    );
    let mut heads = vec![
        (LEFT, "tenant root".to_string()),
        (direct_x, "own tenant key".to_string()),
    ];
    for col in 1..=depth_cols {
        let label = if col == MAX_INDIRECT_COLS && indirect.iter().any(|i| i.depth > col) {
            format!("via foreign keys, {col}+ hops")
        } else {
            format!(
                "via foreign keys, {col} hop{}",
                if col == 1 { "" } else { "s" }
            )
        };
        heads.push((LEFT + COL_W * (1 + col as i64), label));
    }
    if has_bypass_col {
        heads.push((bypass_x, "paths around RLS".to_string()));
    }
    for (x, h) in heads {
        let _ = writeln!(
            out,
            "<text class=\"hdr\" x=\"{x}\" y=\"20\">{}</text>",
            E(&h)
        );
    }
    if !global.is_empty() {
        let _ = writeln!(
            out,
            "<text class=\"hdr\" x=\"{LEFT}\" y=\"{}\">global tables (shared by all tenants)</text>",
            global_top - 12
        );
    }
    // Edges under the nodes: from a parent's right edge to its child's left edge.
    for (from, to) in &edges {
        let (a, b) = (&g.nodes[*from], &g.nodes[*to]);
        let (x1, y1) = (a.x + NODE_W, a.y + NODE_H / 2);
        let (x2, y2) = if b.x > a.x {
            (b.x, b.y + NODE_H / 2)
        } else {
            (b.x + NODE_W, b.y + NODE_H / 2)
        };
        let mx = if x2 > x1 {
            (x1 + x2) / 2
        } else {
            x1.max(x2) + 30
        };
        let _ = writeln!(
            out,
            "<path d=\"M{x1} {y1} C{mx} {y1} {mx} {y2} {x2} {y2}\" fill=\"none\" stroke=\"#94a3b8\"/>"
        );
    }
    for n in &g.nodes {
        let (fill, text_fill, stroke) = match n.kind {
            NodeKind::Root => ("#1e3a8a", "#ffffff", "#1e3a8a"),
            NodeKind::Direct => ("#dbeafe", "#0f172a", "#93c5fd"),
            NodeKind::Indirect => ("#ede9fe", "#0f172a", "#c4b5fd"),
            NodeKind::Global => ("#f1f5f9", "#334155", "#cbd5e1"),
            NodeKind::Bypass => ("#fee2e2", "#7f1d1d", "#dc2626"),
        };
        let (stroke, sw, dash) = if n.kind == NodeKind::Bypass {
            (stroke, 2, " stroke-dasharray=\"4 2\"")
        } else if !n.markers.is_empty() {
            ("#dc2626", 3, "")
        } else {
            (stroke, 1, "")
        };
        let shown = n.markers.len().min(MAX_MARKERS);
        let label = match n.name.strip_prefix("public.") {
            Some(s) if n.kind != NodeKind::Bypass => s,
            _ => n.name.as_str(),
        };
        let room = LABEL_CHARS.saturating_sub(
            (shown as i64 * MARKER_W / 7) as usize + usize::from(n.markers.len() > MAX_MARKERS),
        );
        let _ = write!(
            out,
            "<g><title>{}</title><rect x=\"{}\" y=\"{}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"4\" \
             fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{sw}\"{dash}/>\
             <text x=\"{}\" y=\"{}\" fill=\"{text_fill}\">{}</text>",
            E(&n.tip),
            n.x,
            n.y,
            n.x + 7,
            n.y + 15,
            E(&truncate(label, room.max(6)))
        );
        // Path numbers at the right end of the box.
        for (k, m) in n.markers.iter().take(MAX_MARKERS).enumerate() {
            let cx = n.x + NODE_W - 10 - (shown - 1 - k) as i64 * MARKER_W;
            let cy = n.y + NODE_H / 2;
            let _ = write!(
                out,
                "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"7.5\" fill=\"#dc2626\"/>\
                 <text x=\"{cx}\" y=\"{}\" fill=\"#ffffff\" text-anchor=\"middle\" class=\"mk\">{m}</text>",
                cy + 4
            );
        }
        if n.markers.len() > MAX_MARKERS {
            let _ = write!(
                out,
                "<text x=\"{}\" y=\"{}\" fill=\"#dc2626\" class=\"mk\">+</text>",
                n.x + NODE_W - 10 - shown as i64 * MARKER_W,
                n.y + 15
            );
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg></div>\n");
    if !paths.is_empty() {
        out.push_str(
            "<h3>Paths around RLS</h3>\n<table class=\"wide\"><tr><th>#</th><th>object</th><th>rule(s)</th>\
             <th>tenant tables it reaches</th></tr>\n",
        );
        for (i, p) in paths.iter().enumerate() {
            let _ = writeln!(
                out,
                "<tr><td><span class=\"pn\">{}</span></td><td class=\"mono wrap\">{} {}</td><td>{}</td>\
                 <td class=\"mono wrap\">{}</td></tr>",
                i + 1,
                E(&p.kind),
                E(&p.object),
                E(&p.rules.join(", ")),
                E(&p.reaches.join(", "))
            );
        }
        out.push_str("</table>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_all_five() {
        assert_eq!(
            esc(r#"<a href="x" onclick='y'>&</a> ü🚀"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt; ü🚀"
        );
        assert_eq!(esc(""), "");
        assert_eq!(esc("plain"), "plain");
    }

    #[test]
    fn truncates_by_chars() {
        assert_eq!(truncate("üüüüü", 3), "üü…");
        assert_eq!(truncate("abc", 3), "abc");
    }
}
