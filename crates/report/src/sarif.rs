//! SARIF 2.1.0 for code-scanning dashboards (GitHub code scanning, Azure DevOps, GitLab):
//! one run whose driver lists every rule of the registry with its doc page, and one result per
//! finding (suppressed ones included, marked with their suppression).

use serde_json::{json, Map, Value};
use tenantguard_rules::suppress::SuppressedBy;
use tenantguard_rules::{registry, Finding, Severity};

use crate::AuditReport;

const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const INFORMATION_URI: &str = "https://github.com/tenantguard/tenantguard";
/// The key under `partialFingerprints`; bump the version if the fingerprint ever changes.
const FINGERPRINT_KEY: &str = "tenantguard/v1";

/// SARIF `level`: critical and high fail a scan, medium warns, low and info are notes.
fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's `security-severity` (a CVSS-like score, as a string) that orders alerts.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.0",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    }
}

/// The serde name of a plain enum (`isolation`, `materialized_view`, …): the same words as
/// `--format json`.
fn serde_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// The doc page as plain text for `help.text`: headings, emphasis, code spans and fences
/// lose their Markdown marks, the words stay.
fn plain_text(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            continue;
        }
        let line = trimmed
            .strip_prefix('#')
            .map(|rest| rest.trim_start_matches('#').trim_start())
            .unwrap_or(line);
        out.push_str(&line.replace("**", "").replace('`', ""));
        out.push('\n');
    }
    out.trim_end().to_string()
}

/// A file path as a relative URI reference: forward slashes, no leading `./`, and every byte
/// outside the unreserved and path characters percent-encoded (spaces, `%`, `#`, `?`, `:`,
/// non-ASCII), so the value is a valid `uri-reference`.
fn path_to_uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let mut path = path.as_str();
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'/'
            | b'!'
            | b'$'
            | b'&'
            | b'\''
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'='
            | b'@' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `artifactLocation`: relative paths against `%SRCROOT%`, absolute ones as `file://` URIs.
fn artifact_location(file: &str) -> Value {
    let unix = file.replace('\\', "/");
    let is_windows_abs = unix.len() >= 3
        && unix.as_bytes()[0].is_ascii_alphabetic()
        && &unix.as_bytes()[1..3] == b":/";
    if unix.starts_with('/') {
        json!({ "uri": format!("file://{}", path_to_uri(&unix)) })
    } else if is_windows_abs {
        let (drive, rest) = unix.split_at(2);
        json!({ "uri": format!("file:///{drive}{}", path_to_uri(rest)) })
    } else {
        json!({ "uri": path_to_uri(&unix), "uriBaseId": "%SRCROOT%" })
    }
}

fn rule_descriptor(
    id: &str,
    severity: Severity,
    category: &str,
    summary: &str,
    doc: Option<&str>,
) -> Value {
    let mut rule = json!({
        "id": id,
        "name": id,
        "shortDescription": { "text": summary },
        "defaultConfiguration": { "level": level(severity) },
        "properties": {
            "tags": [category],
            "security-severity": security_severity(severity),
            "precision": "high",
        },
    });
    if let Some(doc) = doc {
        rule["help"] = json!({ "text": plain_text(doc), "markdown": doc });
    }
    rule
}

/// One result; `rule_index` is the rule's position in `tool.driver.rules`.
fn result(f: &Finding, rule_index: usize, suppression: Option<(SuppressedBy, &str)>) -> Value {
    let mut message = f.message.clone();
    if let Some(p) = &f.policy {
        message.push_str(&format!(" (policy {p})"));
    }
    let fingerprint = if f.fingerprint.is_empty() {
        f.compute_fingerprint()
    } else {
        f.fingerprint.clone()
    };
    let kind = serde_name(&f.object.kind);

    let mut location = Map::new();
    if let Some(loc) = &f.location {
        let mut physical = json!({ "artifactLocation": artifact_location(&loc.file) });
        if loc.line >= 1 {
            physical["region"] = json!({ "startLine": loc.line });
        }
        location.insert("physicalLocation".into(), physical);
    }
    location.insert(
        "logicalLocations".into(),
        json!([{
            "name": f.object.name,
            "fullyQualifiedName": f.object.to_string(),
            "kind": kind,
        }]),
    );

    let mut properties = json!({
        "object": { "kind": kind, "schema": f.object.schema, "name": f.object.name },
        "severity": f.severity.as_str(),
        "category": serde_name(&f.category),
        "evidence": f.evidence,
    });
    if let Some(p) = &f.policy {
        properties["policy"] = json!(p);
    }
    if let Some(fix) = &f.fix {
        properties["fix"] = json!(fix);
    }

    let mut r = json!({
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": { "text": message },
        "locations": [Value::Object(location)],
        "partialFingerprints": { FINGERPRINT_KEY: fingerprint },
        "properties": properties,
    });
    if let Some((by, reason)) = suppression {
        let kind = match by {
            // A `tenantguard:ignore` comment lives on the object in the schema itself.
            SuppressedBy::Comment => "inSource",
            SuppressedBy::Baseline => "external",
        };
        r["suppressions"] = json!([{ "kind": kind, "justification": reason }]);
    }
    r
}

pub fn render_sarif(report: &AuditReport) -> String {
    let mut ids: Vec<String> = vec![];
    let mut rules: Vec<Value> = vec![];
    for r in registry() {
        ids.push(r.id.to_string());
        rules.push(rule_descriptor(
            r.id,
            r.severity,
            &serde_name(&r.category),
            r.summary,
            Some(r.doc),
        ));
    }
    // A finding of a rule the registry does not know (a newer snapshot, a plugin) still gets a
    // descriptor, so every `ruleId` resolves.
    let all_findings = report
        .findings
        .iter()
        .chain(report.suppressed.iter().map(|s| &s.finding));
    for f in all_findings {
        if !ids.contains(&f.rule) {
            ids.push(f.rule.clone());
            rules.push(rule_descriptor(
                &f.rule,
                f.severity,
                &serde_name(&f.category),
                &f.rule,
                None,
            ));
        }
    }
    let index = |rule: &str| ids.iter().position(|id| id == rule).unwrap_or(0);

    let mut results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| result(f, index(&f.rule), None))
        .collect();
    results.extend(
        report
            .suppressed
            .iter()
            .map(|s| result(&s.finding, index(&s.finding.rule), Some((s.by, &s.reason)))),
    );

    let log = json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "tenantguard",
                    "version": report.version,
                    "informationUri": INFORMATION_URI,
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    });
    serde_json::to_string_pretty(&log).expect("the SARIF log is plain data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_relative_uri_references() {
        assert_eq!(
            path_to_uri("./migrations/001 init.sql"),
            "migrations/001%20init.sql"
        );
        assert_eq!(path_to_uri("db\\m\u{fc}.sql"), "db/m%C3%BC.sql");
        assert_eq!(path_to_uri("a:b#c?d%"), "a%3Ab%23c%3Fd%25");
        assert_eq!(
            artifact_location("/abs/x.sql"),
            json!({ "uri": "file:///abs/x.sql" })
        );
        assert_eq!(
            artifact_location("C:\\w\\x.sql"),
            json!({ "uri": "file:///C:/w/x.sql" })
        );
    }

    #[test]
    fn plain_help_drops_markdown_marks() {
        let t =
            plain_text("# rls-disabled\n\n**Severity:** critical\n```sql\nSELECT 1;\n```\nuse `x`");
        assert_eq!(t, "rls-disabled\n\nSeverity: critical\nSELECT 1;\nuse x");
    }
}
