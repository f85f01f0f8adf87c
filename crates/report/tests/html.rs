//! The HTML report with hostile names, opened in a real browser: headless Chromium dumps the DOM
//! (nothing ran, nothing was injected, the hostile text is shown as text) and takes a
//! screenshot (copied to target/html-report.png for a human to look at).
//!
//! Needs Chromium: `TENANTGUARD_CHROMIUM`, else /usr/bin/chromium, else `chromium` on PATH
//! (Debian/Ubuntu: `apt-get install -y chromium`). Missing, the browser tests fail — they
//! never skip silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tenantguard_catalog::QualifiedName;
use tenantguard_fix::{Applicability, Manual, Phase, Plan, Step};
use tenantguard_probe::{
    Attack, AttackResult, Attacker, Disagreement, ObjectKind as ProbeKind, Outcome, ProofReport,
    Reconciliation, TenantPair,
};
use tenantguard_report::{
    render_html, AuditReport, DataScanSummary, HtmlExtras, ModelSummary, Summary,
};
use tenantguard_rules::checklist::{ChecklistItem, ItemStatus};
use tenantguard_rules::suppress::{Suppressed, SuppressedBy};
use tenantguard_rules::{Category, Finding, ObjectKind, ObjectRef, Severity};
use tenantguard_tenant_model::{FkHop, Tenancy, TenantModel, TenantRoot};

const SCRIPT: &str = "<script>document.title='pwned'</script>";
const IMG: &str = r#""><img src=x onerror="document.title='pwned'">"#;
const PRE: &str = "</pre><script>document.title='pwned'</script>";
const SVG: &str = "</text><script>document.title='pwned'</script>";
const QUOTES: &str = r#"it's "quoted" ]]> & ü🚀"#;
const DATABASE: &str = "acme<script>document.title='pwned'</script>";

#[allow(clippy::too_many_arguments)]
fn finding(
    rule: &str,
    severity: Severity,
    kind: ObjectKind,
    schema: &str,
    name: &str,
    policy: Option<&str>,
    message: &str,
    evidence: serde_json::Value,
    fix: Option<&str>,
) -> Finding {
    let mut f = Finding {
        rule: rule.into(),
        severity,
        category: Category::Isolation,
        object: ObjectRef {
            kind,
            schema: schema.into(),
            name: name.into(),
        },
        policy: policy.map(str::to_string),
        message: message.into(),
        evidence,
        fix: fix.map(str::to_string),
        location: None,
        fingerprint: String::new(),
    };
    f.fingerprint = f.compute_fingerprint();
    f
}

fn result(
    table: &str,
    kind: ProbeKind,
    role: &str,
    attack: Attack,
    outcome: Outcome,
) -> AttackResult {
    AttackResult {
        table: table.into(),
        kind,
        role: role.into(),
        attack,
        outcome,
        rows: if outcome == Outcome::Leak { 3 } else { 0 },
        detail: format!("detail {SCRIPT} {IMG}"),
    }
}

fn hostile_report() -> AuditReport {
    let svg_table = format!("orders{SVG}");
    let findings = vec![
        finding(
            "policy-not-tenant-bound",
            Severity::Critical,
            ObjectKind::Table,
            "public",
            "invoices",
            Some(&format!("all_access {IMG}")),
            &format!("policy USING (true) lets anyone read {SCRIPT}"),
            json!({ "using": format!("true {PRE}"), "roles": ["authenticated", QUOTES] }),
            Some(&format!(
                "DROP POLICY \"all_access {IMG}\" ON public.invoices; -- {PRE}"
            )),
        ),
        finding(
            "rls-disabled",
            Severity::High,
            ObjectKind::Table,
            "public",
            &svg_table,
            None,
            &format!("RLS is off on {svg_table}"),
            json!({ "readers": ["anon"] }),
            Some("ALTER TABLE public.orders ENABLE ROW LEVEL SECURITY;"),
        ),
        finding(
            "view-bypasses-rls",
            Severity::Critical,
            ObjectKind::View,
            "public",
            &format!("v_{SCRIPT}"),
            None,
            &format!("view runs as its owner, {QUOTES}"),
            json!({ "owner": "postgres", "tables": ["public.invoices", "public.line_items"], "readers": ["anon"] }),
            Some("ALTER VIEW x SET (security_invoker = true);"),
        ),
        finding(
            "missing-tenant-index",
            Severity::Medium,
            ObjectKind::Table,
            "public",
            "line_items",
            None,
            &format!("no index leads with the tenant key {QUOTES}"),
            serde_json::Value::Null,
            None,
        ),
        finding(
            "rls-not-forced",
            Severity::Low,
            ObjectKind::Table,
            "public",
            "invoices",
            None,
            "the owner bypasses RLS",
            json!({}),
            None,
        ),
        finding(
            "login-role-bypasses-rls",
            Severity::Info,
            ObjectKind::Role,
            "",
            &format!("admin{IMG}"),
            None,
            "a login role has BYPASSRLS",
            json!({ "role": "admin" }),
            None,
        ),
    ];
    let results = vec![
        result(
            "public.invoices",
            ProbeKind::Table,
            "authenticated",
            Attack::Read,
            Outcome::Leak,
        ),
        result(
            "public.invoices",
            ProbeKind::Table,
            "authenticated",
            Attack::Insert,
            Outcome::Blocked,
        ),
        result(
            "public.invoices",
            ProbeKind::Table,
            "authenticated",
            Attack::ExistsOracle,
            Outcome::Info,
        ),
        result(
            &format!("public.{svg_table}"),
            ProbeKind::Table,
            "authenticated",
            Attack::Read,
            Outcome::Blocked,
        ),
        result(
            &format!("public.{svg_table}"),
            ProbeKind::Table,
            "authenticated",
            Attack::Update,
            Outcome::Error,
        ),
        result(
            &format!("public.{svg_table}"),
            ProbeKind::Table,
            "authenticated",
            Attack::Delete,
            Outcome::Skipped,
        ),
        result(
            &format!("public.v_{SCRIPT}"),
            ProbeKind::View,
            "anon",
            Attack::Read,
            Outcome::Leak,
        ),
        result(
            "public.invoices",
            ProbeKind::Table,
            &format!("anon{IMG}"),
            Attack::Read,
            Outcome::Blocked,
        ),
    ];
    let summary = ProofReport::summarise(&results);
    let proof = ProofReport {
        tool: "tenantguard".into(),
        version: "0.1.0".into(),
        database: DATABASE.into(),
        tenants: Some(TenantPair {
            attacker: format!("org A {SCRIPT}"),
            victim: format!("org B {IMG}"),
            how_chosen: "the two tenants with most rows".into(),
            attacker_user: Some(QUOTES.into()),
            victim_user: None,
            synthesized: vec![],
        }),
        roles: vec!["authenticated".into(), "anon".into(), format!("anon{IMG}")],
        attackers: vec![Attacker {
            label: "authenticated".into(),
            role: "authenticated".into(),
            settings: vec![(
                "request.jwt.claims".into(),
                format!("{{\"org_id\":\"{SCRIPT}\"}}"),
            )],
            has_tenant: true,
        }],
        read_only: false,
        results,
        own_access: vec![],
        claims_suspect: false,
        summary,
        elapsed_ms: 1234,
        notes: vec![format!("note {PRE}")],
    };
    let findings_summary = Summary::from_findings(&findings, 5);
    AuditReport {
        tool: "tenantguard".into(),
        version: "0.1.0".into(),
        database: DATABASE.into(),
        findings,
        summary: findings_summary,
        data_scan: DataScanSummary {
            ran: false,
            skipped_because: Some(format!("no --scan {QUOTES}")),
            ..Default::default()
        },
        model: ModelSummary {
            root: Some("public.organizations".into()),
            direct: 2,
            indirect: 1,
            global: 1,
        },
        checklist: vec![
            ChecklistItem {
                item: "Phase 1: no NULL organization ids".into(),
                status: ItemStatus::Pass,
                detail: "no tenant table has a row with a NULL tenant key".into(),
            },
            ChecklistItem {
                item: format!("RLS enabled everywhere {SCRIPT}"),
                status: ItemStatus::Fail,
                detail: format!("RLS off on public.{svg_table} {IMG}"),
            },
            ChecklistItem {
                item: "ON DELETE CASCADE works".into(),
                status: ItemStatus::NotChecked,
                detail: format!("needs fix --apply {PRE}"),
            },
        ],
        notes: vec![format!("hostile note {SCRIPT}")],
        suppressed: vec![Suppressed {
            finding: finding(
                "rls-not-forced",
                Severity::Low,
                ObjectKind::Table,
                "public",
                &format!("audit_log{SVG}"),
                Some(IMG),
                &format!("suppressed {SCRIPT}"),
                json!({}),
                None,
            ),
            by: SuppressedBy::Comment,
            reason: format!("accepted {PRE}"),
        }],
        proof: Some(proof),
        reconciliation: vec![Reconciliation {
            kind: Disagreement::FlaggedNotExploited,
            table: format!("public.{svg_table}"),
            role: "authenticated".into(),
            command: tenantguard_probe::Attack::Update.command(),
            verdict: "open".into(),
            attacks: vec![format!("authenticated: update {SCRIPT}")],
            detail: format!("a trigger stops it {IMG}"),
        }],
    }
}

fn q(name: &str) -> QualifiedName {
    QualifiedName::new("public", name)
}

fn hostile_model() -> TenantModel {
    let svg_table = format!("orders{SVG}");
    let mut tables = BTreeMap::new();
    tables.insert(q("organizations"), Tenancy::Root);
    for (t, reason) in [
        ("invoices", "column org_id"),
        (svg_table.as_str(), "column org_id"),
        (
            "a_table_with_a_really_long_name_that_must_be_truncated",
            "column org_id",
        ),
    ] {
        tables.insert(
            q(t),
            Tenancy::Direct {
                column: "org_id".into(),
                fk: Some(format!("fk {IMG}")),
                reason: format!("{reason} {SCRIPT}"),
            },
        );
    }
    let hop = |from: &str, to: &str| FkHop {
        constraint: format!("{from}_fk"),
        from: q(from),
        columns: vec![format!("{to}_id")],
        to: q(to),
        to_columns: vec!["id".into()],
    };
    tables.insert(
        q("line_items"),
        Tenancy::Indirect {
            path: vec![hop("line_items", "invoices")],
            reason: format!("through invoices {PRE}"),
        },
    );
    tables.insert(
        q(&format!("shipments{IMG}")),
        Tenancy::Indirect {
            path: vec![hop(&format!("shipments{IMG}"), &svg_table)],
            reason: "through orders".into(),
        },
    );
    tables.insert(
        q("line_item_notes"),
        Tenancy::Indirect {
            path: vec![
                hop("line_item_notes", "line_items"),
                hop("line_items", "invoices"),
            ],
            reason: "two hops".into(),
        },
    );
    tables.insert(
        q(&format!("countries {QUOTES}")),
        Tenancy::Global {
            reason: format!("no tenant column {SVG}"),
        },
    );
    tables.insert(
        q("currencies"),
        Tenancy::Global {
            reason: "reference data".into(),
        },
    );
    TenantModel {
        root: Some(TenantRoot {
            table: q("organizations"),
            key: "id".into(),
            key_type: "uuid".into(),
            reason: format!("most referenced {SCRIPT}"),
        }),
        key_columns: vec!["org_id".into()],
        tables,
        unresolved: None,
    }
}

fn hostile_plan() -> Plan {
    Plan {
        steps: vec![
            Step {
                phase: Phase::Rls,
                object: format!("public.orders{SVG}"),
                summary: format!("enable RLS {SCRIPT}"),
                closes: vec![format!("rls-disabled public.orders{SVG}")],
                applicability: Applicability::Safe,
                transactional: true,
                sql: format!("ALTER TABLE \"orders{SVG}\" ENABLE ROW LEVEL SECURITY; {PRE}"),
                index: None,
            },
            Step {
                phase: Phase::Policies,
                object: "public.invoices".into(),
                summary: "replace the USING (true) policy".into(),
                closes: vec![format!("policy-not-tenant-bound public.invoices {IMG}")],
                applicability: Applicability::Review,
                transactional: true,
                sql: format!("DROP POLICY \"all_access {IMG}\" ON public.invoices;"),
                index: None,
            },
        ],
        manual: vec![Manual {
            closes: format!("login-role-bypasses-rls admin{IMG}"),
            why: format!("a role's attributes are a person's decision {QUOTES}"),
            suggestion: Some(format!("ALTER ROLE admin NOBYPASSRLS; {PRE}")),
        }],
    }
}

fn render() -> String {
    let report = hostile_report();
    let model = hostile_model();
    let plan = hostile_plan();
    render_html(
        &report,
        &HtmlExtras {
            model: Some(&model),
            plan: Some(&plan),
        },
    )
}

/// The report's own title, as the browser serialises it back (text escaped).
fn expected_title() -> String {
    "tenantguard report — acme&lt;script&gt;document.title='pwned'&lt;/script&gt;".to_string()
}

#[test]
fn self_contained_with_strict_csp() {
    let html = render();
    assert!(
        html.contains(
            r#"<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">"#
        ),
        "the CSP meta is missing"
    );
    for scheme in ["http://", "https://", "//cdn", "src=\"http", "url("] {
        assert!(
            !html.contains(scheme),
            "external resource {scheme:?} in the HTML"
        );
    }
    assert!(!html.contains("<script"), "a <script> reached the HTML");
    assert!(!html.contains("<img"), "an <img> reached the HTML");
    assert!(html.contains("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"));
    assert!(
        html.contains("&lt;/text&gt;&lt;script&gt;"),
        "SVG-breaking name not escaped"
    );
    assert!(html.contains("ü🚀"));
    assert!(html.contains("]]&gt;"));
    // Every section is there, in order.
    let at = |needle: &str| {
        html.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from the report"))
    };
    let order = [
        "class=\"banner red\"",
        "id=\"checklist\"",
        "id=\"findings\"",
        "id=\"proof\"",
        "id=\"plan\"",
        "id=\"graph\"",
    ];
    for w in order.windows(2) {
        assert!(at(w[0]) < at(w[1]), "{} should come before {}", w[0], w[1]);
    }
}

#[test]
fn verdict_is_amber_for_medium_only_and_green_for_nothing() {
    let mut report = hostile_report();
    report.proof = None;
    report.reconciliation.clear();
    report.findings.retain(|f| f.severity <= Severity::Medium);
    let html = render_html(&report, &HtmlExtras::default());
    assert!(html.contains("class=\"banner amber\""));
    report.findings.retain(|f| f.severity < Severity::Medium);
    let html = render_html(&report, &HtmlExtras::default());
    assert!(html.contains("class=\"banner green\""));
    assert!(!html.contains("id=\"graph\"") && !html.contains("id=\"plan\""));
}

/// Sixty tables: the SVG grows, stays one picture, every name is in it.
#[test]
fn sixty_tables_fit() {
    let mut model = hostile_model();
    for i in 0..60 {
        let name = format!("table_{i:02}");
        let t = if i % 5 == 0 && i > 0 {
            Tenancy::Global {
                reason: "reference data".into(),
            }
        } else if i % 3 == 0 {
            Tenancy::Indirect {
                path: vec![FkHop {
                    constraint: "fk".into(),
                    from: q(&name),
                    columns: vec!["parent_id".into()],
                    to: q(&format!("table_{:02}", i + 1)),
                    to_columns: vec!["id".into()],
                }],
                reason: "fk".into(),
            }
        } else {
            Tenancy::Direct {
                column: "org_id".into(),
                fk: None,
                reason: "column".into(),
            }
        };
        model.tables.insert(q(&name), t);
    }
    let html = render_html(
        &hostile_report(),
        &HtmlExtras {
            model: Some(&model),
            plan: None,
        },
    );
    for i in 0..60 {
        assert!(html.contains(&format!("table_{i:02}")));
    }
    let svg = &html[html.find("<svg").unwrap()..];
    let height: i64 = svg
        .split("height=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    let target = target_dir();
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("html-report-60-tables.html"), &html).unwrap();
    assert!(
        height > 40 * 28,
        "the SVG should grow with the tables (height {height})"
    );
}

// ---------------------------------------------------------------------------------------------
// In the browser.

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("TENANTGUARD_CHROMIUM") {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "TENANTGUARD_CHROMIUM={} does not exist",
            p.display()
        );
        return p;
    }
    let default = PathBuf::from("/usr/bin/chromium");
    if default.exists() {
        return default;
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join("chromium");
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "Chromium is needed to test the HTML report in a real browser, and none was found \
         (TENANTGUARD_CHROMIUM unset, no /usr/bin/chromium, no `chromium` on PATH). \
         Install the Debian/Ubuntu package: `apt-get install -y chromium` \
         (or point TENANTGUARD_CHROMIUM at a Chromium/Chrome binary)."
    );
}

/// Runs headless Chromium on `page` with `extra` flags; returns stdout. Fails after 90 s.
fn run_chromium(page: &Path, extra: &[String], profile: &Path) -> String {
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start chromium");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out_reader =
        std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err_reader =
        std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for chromium") {
            break s;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = out_reader.join().unwrap();
    let err = err_reader.join().unwrap();
    assert!(status.success(), "chromium failed ({status}):\n{err}");
    out
}

/// Every start tag in serialised HTML: (tag name, attribute names), quote-aware so that text
/// inside attribute values is never mistaken for markup.
fn start_tags(dom: &str) -> Vec<(String, Vec<String>)> {
    let b = dom.as_bytes();
    let mut tags = vec![];
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'<' && i + 1 < b.len() && b[i + 1].is_ascii_alphabetic() {
            i += 1;
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' && b[i] != b'/' {
                i += 1;
            }
            let name = dom[start..i].to_ascii_lowercase();
            let mut attrs = vec![];
            loop {
                while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
                    i += 1;
                }
                if i >= b.len() || b[i] == b'>' {
                    break;
                }
                let a = i;
                while i < b.len()
                    && !b[i].is_ascii_whitespace()
                    && !matches!(b[i], b'=' | b'>' | b'/')
                {
                    i += 1;
                }
                attrs.push(dom[a..i].to_ascii_lowercase());
                if i < b.len() && b[i] == b'=' {
                    i += 1;
                    if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                        let quote = b[i];
                        i += 1;
                        while i < b.len() && b[i] != quote {
                            i += 1;
                        }
                        i += 1;
                    } else {
                        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                            i += 1;
                        }
                    }
                }
            }
            tags.push((name, attrs));
        }
        i += 1;
    }
    tags
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

#[test]
fn hostile_names_stay_text_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    std::fs::write(&page, render()).unwrap();

    // (a) The DOM after load: nothing ran, nothing was injected.
    let profile = tempfile::tempdir().unwrap();
    let dom = run_chromium(&page, &["--dump-dom".into()], profile.path());
    assert!(dom.contains("<svg"), "the DOM dump looks empty:\n{dom}");
    let title = dom
        .split("<title>")
        .nth(1)
        .and_then(|s| s.split("</title>").next())
        .expect("a <title>");
    assert_eq!(
        title,
        expected_title(),
        "the page title changed: a script ran"
    );
    let tags = start_tags(&dom);
    assert!(tags.iter().any(|(t, _)| t == "svg") && tags.iter().any(|(t, _)| t == "table"));
    for (tag, attrs) in &tags {
        assert_ne!(tag, "script", "a <script> element reached the DOM");
        assert_ne!(tag, "img", "an <img> element reached the DOM");
        for a in attrs {
            assert!(
                !a.starts_with("on"),
                "an event-handler attribute {a:?} on <{tag}> reached the DOM"
            );
        }
    }
    for visible in [
        "&lt;script&gt;document.title='pwned'&lt;/script&gt;",
        "&lt;/pre&gt;&lt;script&gt;",
        "&lt;/text&gt;&lt;script&gt;",
        "onerror=\"document.title='pwned'\"&gt;",
        "]]&gt;",
        "ü🚀",
    ] {
        assert!(
            dom.contains(visible),
            "{visible:?} is not shown as text in the DOM"
        );
    }

    // (b) A screenshot: the page renders.
    let profile = tempfile::tempdir().unwrap();
    let png = dir.path().join("report.png");
    run_chromium(
        &page,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,2000".into(),
            "--hide-scrollbars".into(),
        ],
        profile.path(),
    );
    let bytes = std::fs::read(&png).expect("chromium wrote no screenshot");
    assert!(bytes.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    assert!(
        bytes.len() > 20_000,
        "the screenshot is suspiciously small ({} bytes)",
        bytes.len()
    );
    let target = target_dir();
    std::fs::create_dir_all(&target).unwrap();
    std::fs::copy(&png, target.join("html-report.png")).unwrap();
    std::fs::copy(&page, target.join("html-report.html")).unwrap();
}
