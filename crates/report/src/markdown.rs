//! A pull-request comment in GitHub-flavoured Markdown: the verdict, a table of counts, the
//! critical and high findings with their fixes, the rest collapsed, the seed's checklist and
//! the notes. Everything that comes from the database (names, messages, SQL) is escaped, so a
//! hostile table name cannot break a table, inject HTML or close a code fence.

use std::fmt::Write as _;

use tenantguard_rules::checklist::ItemStatus;
use tenantguard_rules::suppress::SuppressedBy;
use tenantguard_rules::{Finding, Severity};

use crate::AuditReport;

const SEVERITIES: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Info,
];

fn icon(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "🔴",
        Severity::High => "🟠",
        Severity::Medium => "🟡",
        Severity::Low => "🔵",
        Severity::Info => "⚪",
    }
}

/// One line of Markdown text: line breaks become spaces, other control characters go, and
/// every character Markdown or HTML could act on is backslash-escaped (`|` included, which
/// GitHub's tables honour even inside code spans). An `@` gets a zero-width space after it, so
/// a table called `@org/team` cannot mention people in a pull-request comment.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            '@' => out.push_str("@\u{200B}"),
            c if c.is_control() => {}
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '#' | '!' | '&' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Text inside raw HTML (`<summary>`), where Markdown escapes do not apply: entities instead.
fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '@' => out.push_str("@\u{200B}"),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn longest_backtick_run(s: &str) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in s.chars() {
        if c == '`' {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// An inline code span that survives any backticks in `s`; in a table cell, `|` is escaped
/// too.
fn code(s: &str, in_table: bool) -> String {
    let s: String = s
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .filter(|c| !c.is_control())
        .collect();
    let s = if in_table { s.replace('|', "\\|") } else { s };
    let fence = "`".repeat(longest_backtick_run(&s) + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// A fenced code block whose fence is longer than any backtick run in the content, so the
/// content cannot close it. Every line is prefixed with `indent` (for a list item).
fn fenced(out: &mut String, lang: &str, content: &str, indent: &str) {
    let fence = "`".repeat(longest_backtick_run(content).max(2) + 1);
    let _ = writeln!(out, "{indent}{fence}{lang}");
    for line in content.trim_end_matches('\n').lines() {
        let line: String = line
            .chars()
            .filter(|c| *c == '\t' || !c.is_control())
            .collect();
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{indent}{line}");
        }
    }
    let _ = writeln!(out, "{indent}{fence}");
}

/// `schema.name`, and `(policy name)` when the finding is about a policy: escaped Markdown.
fn object(f: &Finding) -> String {
    let mut s = md(&f.object.to_string());
    if let Some(p) = &f.policy {
        let _ = write!(s, " (policy {})", md(p));
    }
    s
}

fn count(findings: &[Finding], s: Severity) -> usize {
    findings.iter().filter(|f| f.severity == s).count()
}

fn verdict(findings: &[Finding]) -> String {
    let (critical, high) = (
        count(findings, Severity::Critical),
        count(findings, Severity::High),
    );
    let mut parts = vec![];
    if critical > 0 {
        parts.push(format!("{critical} critical"));
    }
    if high > 0 {
        parts.push(format!("{high} high"));
    }
    if parts.is_empty() {
        "✅ tenantguard: no finding at or above high".to_string()
    } else {
        format!("❌ tenantguard: {}", parts.join(", "))
    }
}

pub fn render_markdown(report: &AuditReport) -> String {
    let mut out = String::new();
    let findings = &report.findings;
    let _ = writeln!(out, "## {}\n", verdict(findings));

    let _ = write!(out, "Database {}", md(&report.database));
    if let Some(root) = &report.model.root {
        let _ = write!(out, ", tenant root {}", md(root));
    }
    let _ = writeln!(
        out,
        ", {} tables · tenantguard {}\n",
        report.summary.tables,
        md(&report.version)
    );

    out.push_str("| Severity | Findings |\n| --- | ---: |\n");
    for s in SEVERITIES {
        let _ = writeln!(
            out,
            "| {} {} | {} |",
            icon(s),
            s.as_str(),
            count(findings, s)
        );
    }
    if !report.suppressed.is_empty() {
        let _ = writeln!(out, "| 🔕 suppressed | {} |", report.suppressed.len());
    }
    out.push('\n');

    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let (top, rest): (Vec<&Finding>, Vec<&Finding>) = sorted
        .into_iter()
        .partition(|f| f.severity >= Severity::High);

    if !top.is_empty() {
        out.push_str("### Critical and high findings\n\n");
        out.push_str("| Severity | Rule | Object | Finding |\n| --- | --- | --- | --- |\n");
        for f in &top {
            let _ = writeln!(
                out,
                "| {} {} | {} | {} | {} |",
                icon(f.severity),
                f.severity.as_str(),
                code(&f.rule, true),
                object(f),
                md(&f.message)
            );
        }
        out.push('\n');
        for f in top.iter().filter(|f| f.fix.is_some()) {
            let mut summary = format!(
                "Fix for <code>{}</code> on {}",
                html(&f.rule),
                html(&f.object.to_string())
            );
            if let Some(p) = &f.policy {
                let _ = write!(summary, " (policy {})", html(p));
            }
            let _ = writeln!(out, "<details>\n<summary>{summary}</summary>\n");
            fenced(&mut out, "sql", f.fix.as_deref().unwrap_or_default(), "");
            out.push_str("\n</details>\n\n");
        }
    }

    if !rest.is_empty() {
        let by_severity: Vec<String> = SEVERITIES[2..]
            .iter()
            .filter(|s| rest.iter().any(|f| f.severity == **s))
            .map(|s| {
                format!(
                    "{} {}",
                    rest.iter().filter(|f| f.severity == *s).count(),
                    s.as_str()
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "<details>\n<summary>{} more finding{} ({})</summary>\n",
            rest.len(),
            if rest.len() == 1 { "" } else { "s" },
            by_severity.join(", ")
        );
        for f in &rest {
            let _ = writeln!(
                out,
                "- {} **{}** · {} · {}: {}",
                icon(f.severity),
                f.severity.as_str(),
                code(&f.rule, false),
                object(f),
                md(&f.message)
            );
            if let Some(fix) = &f.fix {
                out.push('\n');
                fenced(&mut out, "sql", fix, "  ");
                out.push('\n');
            }
        }
        out.push_str("\n</details>\n\n");
    }

    if !report.suppressed.is_empty() {
        let n = report.suppressed.len();
        let _ = writeln!(
            out,
            "<details>\n<summary>{n} suppressed finding{}</summary>\n",
            if n == 1 { "" } else { "s" }
        );
        for s in &report.suppressed {
            let by = match s.by {
                SuppressedBy::Baseline => "baseline",
                SuppressedBy::Comment => "inline ignore",
            };
            let _ = writeln!(
                out,
                "- {} {} · {}: {} ({by})",
                icon(s.finding.severity),
                code(&s.finding.rule, false),
                object(&s.finding),
                md(&s.reason)
            );
        }
        out.push_str("\n</details>\n\n");
    }

    if !report.checklist.is_empty() {
        out.push_str("### Verification checklist (from the seed audit)\n\n");
        out.push_str("| Status | Item | Detail |\n| --- | --- | --- |\n");
        for item in &report.checklist {
            let status = match item.status {
                ItemStatus::Pass => "✅ PASS",
                ItemStatus::Fail => "❌ FAIL",
                ItemStatus::NotChecked => "➖ \\-\\-\\-\\-",
            };
            let _ = writeln!(
                out,
                "| {status} | {} | {} |",
                md(&item.item),
                md(&item.detail)
            );
        }
        out.push('\n');
    }

    if !report.notes.is_empty() {
        out.push_str("### Notes\n\n");
        for note in &report.notes {
            let _ = writeln!(out, "- {}", md(note));
        }
        out.push('\n');
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_fences() {
        assert_eq!(md("a|b<c>`d`\n*e*"), "a\\|b\\<c\\>\\`d\\` \\*e\\*");
        assert_eq!(html("<b>&'\""), "&lt;b&gt;&amp;&#39;&quot;");
        // No mention can be formed from a database name.
        assert_eq!(md("@org/team"), "@\u{200B}org/team");
        assert_eq!(html("@org"), "@\u{200B}org");
        assert_eq!(code("a`b", false), "``a`b``");
        assert_eq!(code("`x", false), "`` `x ``");
        assert_eq!(code("a|b", true), "`a\\|b`");
        let mut out = String::new();
        fenced(&mut out, "sql", "SELECT 1;\n-- ````\n", "");
        assert_eq!(out, "`````sql\nSELECT 1;\n-- ````\n`````\n");
    }
}
