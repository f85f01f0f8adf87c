//! JUnit XML for CI dashboards (Jenkins, GitLab, Azure DevOps, CircleCI): one test suite per
//! rule, one failing test case per finding, and one passing `(no findings)` case for a rule
//! that found nothing, so the rules that pass show up too. Suppressed findings are skipped
//! test cases.

use std::fmt::Write as _;

use tenantguard_rules::{registry, Finding};

use crate::AuditReport;

/// Text and attribute values: the five markup characters become entities, and characters XML
/// 1.0 cannot carry (control characters other than tab and newline, U+FFFE, U+FFFF) are
/// dropped. In attributes, tab and newline are written as character references so that
/// attribute-value normalisation does not turn them into spaces.
fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' | '\n' => out.push(c),
            '\u{fffe}' | '\u{ffff}' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn text(s: &str) -> String {
    escape(s, false)
}

fn attr(s: &str) -> String {
    escape(s, true)
}

/// `schema.name`, and ` policy <name>` when the finding is about a policy.
fn case_name(f: &Finding) -> String {
    match &f.policy {
        Some(p) => format!("{} policy {p}", f.object),
        None => f.object.to_string(),
    }
}

fn case_open(out: &mut String, f: &Finding) {
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\"",
        attr(&f.rule),
        attr(&case_name(f))
    );
    if let Some(loc) = &f.location {
        let _ = write!(out, " file=\"{}\" line=\"{}\"", attr(&loc.file), loc.line);
    }
    out.push('>');
}

struct Suite<'a> {
    rule: &'a str,
    failing: Vec<&'a Finding>,
    skipped: Vec<(&'a Finding, &'a str)>,
}

pub fn render_junit(report: &AuditReport) -> String {
    // Suites in registry order, then any rule the registry does not know.
    let mut suites: Vec<Suite> = registry()
        .iter()
        .map(|r| Suite {
            rule: r.id,
            failing: vec![],
            skipped: vec![],
        })
        .collect();
    fn suite_for<'s, 'a>(suites: &'s mut Vec<Suite<'a>>, rule: &'a str) -> &'s mut Suite<'a> {
        let i = match suites.iter().position(|s| s.rule == rule) {
            Some(i) => i,
            None => {
                suites.push(Suite {
                    rule,
                    failing: vec![],
                    skipped: vec![],
                });
                suites.len() - 1
            }
        };
        &mut suites[i]
    }
    for f in &report.findings {
        suite_for(&mut suites, &f.rule).failing.push(f);
    }
    for s in &report.suppressed {
        suite_for(&mut suites, &s.finding.rule)
            .skipped
            .push((&s.finding, &s.reason));
    }

    let cases = |s: &Suite| (s.failing.len() + s.skipped.len()).max(1);
    let tests: usize = suites.iter().map(cases).sum();
    let failures: usize = suites.iter().map(|s| s.failing.len()).sum();
    let skipped: usize = suites.iter().map(|s| s.skipped.len()).sum();

    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"tenantguard\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">"
    );
    for s in &suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">",
            attr(s.rule),
            cases(s),
            s.failing.len(),
            s.skipped.len()
        );
        for f in &s.failing {
            case_open(&mut out, f);
            let mut body = f.message.clone();
            if let Some(fix) = &f.fix {
                body.push_str("\n\n");
                body.push_str(fix);
            }
            let _ = writeln!(
                out,
                "\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                attr(&f.message),
                f.severity.as_str(),
                text(&body)
            );
        }
        for (f, reason) in &s.skipped {
            case_open(&mut out, f);
            let _ = writeln!(
                out,
                "\n      <skipped message=\"{}\"/>\n    </testcase>",
                attr(&format!("suppressed: {reason}"))
            );
        }
        if s.failing.is_empty() && s.skipped.is_empty() {
            let _ = writeln!(
                out,
                "    <testcase classname=\"{}\" name=\"(no findings)\"/>",
                attr(s.rule)
            );
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_what_xml_cannot_carry() {
        assert_eq!(
            text("a<b>&\"c'\u{1}\u{7f}\td\ne\r"),
            "a&lt;b&gt;&amp;&quot;c&apos;\td\ne"
        );
        assert_eq!(attr("x\ty\nz"), "x&#9;y&#10;z");
        assert_eq!(text("ü🚀\u{fffe}"), "ü🚀");
    }
}
