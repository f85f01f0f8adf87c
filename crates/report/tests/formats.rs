//! The CI formats (SARIF, JUnit, Markdown) on a report built by hand: no database needed for
//! pure renderers. The report carries hostile identifiers on purpose.

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use serde_json::{json, Value};
use tenantguard_report::{render_junit, render_markdown, render_sarif, AuditReport, Summary};
use tenantguard_rules::checklist::{ChecklistItem, ItemStatus};
use tenantguard_rules::suppress::{Suppressed, SuppressedBy};
use tenantguard_rules::{
    registry, Category, Finding, ObjectKind, ObjectRef, Severity, SourceLocation,
};

const SCRIPT_TABLE: &str = "<script>alert(1)</script>";
const PIPE_TABLE: &str = "we\"ird|na`me'ü🚀";
const FENCE_FIX: &str =
    "-- a comment that tries to close the fence:\n-- ```\nALTER TABLE public.\"<script>alert(1)</script>\" FORCE ROW LEVEL SECURITY;";

#[allow(clippy::too_many_arguments)]
fn finding(
    rule: &str,
    severity: Severity,
    category: Category,
    kind: ObjectKind,
    schema: &str,
    name: &str,
    policy: Option<&str>,
    message: &str,
    fix: Option<&str>,
    location: Option<(&str, usize)>,
) -> Finding {
    let mut f = Finding {
        rule: rule.into(),
        severity,
        category,
        object: ObjectRef {
            kind,
            schema: schema.into(),
            name: name.into(),
        },
        policy: policy.map(String::from),
        message: message.into(),
        evidence: json!({ "roles": ["anon", "authenticated"] }),
        fix: fix.map(String::from),
        location: location.map(|(file, line)| SourceLocation {
            file: file.into(),
            line,
        }),
        fingerprint: String::new(),
    };
    f.fingerprint = f.compute_fingerprint();
    f
}

fn findings() -> Vec<Finding> {
    vec![
        finding(
            "policy-not-tenant-bound",
            Severity::Critical,
            Category::Isolation,
            ObjectKind::Table,
            "public",
            "orders",
            Some("orders_select"),
            "authenticated can read every tenant's rows",
            Some("DROP POLICY orders_select ON public.orders;"),
            Some(("./migrations\\001 init.sql", 12)),
        ),
        finding(
            "rls-not-forced",
            Severity::High,
            Category::Privilege,
            ObjectKind::Table,
            "public",
            SCRIPT_TABLE,
            None,
            "RLS is not forced on <script>alert(1)</script>\u{1} (owner app)",
            Some(FENCE_FIX),
            None,
        ),
        finding(
            "tenant-key-unindexed",
            Severity::Medium,
            Category::Performance,
            ObjectKind::Table,
            "public",
            PIPE_TABLE,
            None,
            "no index leads with org_id on `we\"ird|na`me'ü🚀` *really*",
            Some("CREATE INDEX ON public.\"we\"\"ird|na`me'ü🚀\" (org_id);"),
            None,
        ),
        finding(
            "function-search-path-mutable",
            Severity::Medium,
            Category::Privilege,
            ObjectKind::Function,
            "api",
            "get_orders",
            None,
            "search_path is not pinned",
            None,
            Some(("migrations/002_api.sql", 40)),
        ),
    ]
}

fn report_with(findings: Vec<Finding>) -> AuditReport {
    // Built from JSON so that fields other engineers add with a default keep this compiling.
    let mut report: AuditReport = serde_json::from_value(json!({
        "tool": "tenantguard",
        "version": "0.1.0",
        "database": "app_db",
        "findings": [],
        "summary": Summary::from_findings(&findings, 7),
        "data_scan": { "ran": false, "statements": 0, "timed_out": 0, "failed": 0, "elapsed_ms": 0 },
        "model": { "root": "public.organizations", "direct": 5, "indirect": 1, "global": 1 },
        "notes": ["the data scan did not run"],
    }))
    .expect("a report");
    report.findings = findings;
    report
}

fn report() -> AuditReport {
    let mut report = report_with(findings());
    report.checklist = vec![
        ChecklistItem {
            item: "RLS policies exist on all tenant tables".into(),
            status: ItemStatus::Pass,
            detail: "all 7 tenant tables have RLS enabled and at least one policy".into(),
        },
        ChecklistItem {
            item: "Phase 1: no orphan rows".into(),
            status: ItemStatus::Fail,
            detail: format!("orphan rows in public.{PIPE_TABLE}"),
        },
        ChecklistItem {
            item: "Multi-tenant test passes".into(),
            status: ItemStatus::NotChecked,
            detail: "needs the proof".into(),
        },
    ];
    report.suppressed = vec![Suppressed {
        finding: finding(
            "missing-tenant-fk",
            Severity::High,
            Category::Integrity,
            ObjectKind::Table,
            "public",
            "audit_log",
            None,
            "org_id has no foreign key",
            None,
            None,
        ),
        by: SuppressedBy::Baseline,
        reason: "in the baseline".into(),
    }];
    report
}

// ---------------------------------------------------------------- SARIF

fn sarif_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(include_str!("data/sarif-schema-2.1.0.json"))
        .expect("the vendored SARIF schema is JSON");
    jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the SARIF schema compiles")
}

fn schema_errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn sarif_is_valid_against_the_official_schema() {
    let validator = sarif_validator();
    let report = report();
    let doc: Value = serde_json::from_str(&render_sarif(&report)).expect("SARIF is JSON");
    let errors = schema_errors(&validator, &doc);
    assert!(errors.is_empty(), "schema errors: {errors:#?}");

    // The validator is not vacuous: a wrong level and a missing message are caught.
    let mut broken = doc.clone();
    broken["runs"][0]["results"][0]["level"] = json!("fatal");
    broken["runs"][0]["results"][1]
        .as_object_mut()
        .unwrap()
        .remove("message");
    assert_eq!(schema_errors(&validator, &broken).len(), 2);

    // An empty report is valid too.
    let empty: Value = serde_json::from_str(&render_sarif(&report_with(vec![]))).unwrap();
    assert!(schema_errors(&validator, &empty).is_empty());
    assert_eq!(empty["runs"][0]["results"], json!([]));
}

#[test]
fn sarif_has_every_rule_and_one_result_per_finding() {
    let report = report();
    let doc: Value = serde_json::from_str(&render_sarif(&report)).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    assert_eq!(
        doc["$schema"],
        "https://json.schemastore.org/sarif-2.1.0.json"
    );
    let run = &doc["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "tenantguard");
    assert_eq!(driver["version"], "0.1.0");

    let rules = driver["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let registry_ids: Vec<&str> = registry().iter().map(|r| r.id).collect();
    assert_eq!(ids, registry_ids, "every registry rule, in registry order");

    let rls_disabled = &rules[ids.iter().position(|i| *i == "rls-disabled").unwrap()];
    assert_eq!(rls_disabled["defaultConfiguration"]["level"], "error");
    assert_eq!(rls_disabled["properties"]["security-severity"], "9.5");
    assert_eq!(rls_disabled["properties"]["tags"], json!(["isolation"]));
    assert!(rls_disabled["help"]["markdown"]
        .as_str()
        .unwrap()
        .starts_with("# rls-disabled"));
    assert!(!rls_disabled["help"]["text"]
        .as_str()
        .unwrap()
        .contains("```"));
    let unindexed = &rules[ids
        .iter()
        .position(|i| *i == "tenant-key-unindexed")
        .unwrap()];
    assert_eq!(unindexed["defaultConfiguration"]["level"], "warning");
    assert_eq!(unindexed["properties"]["security-severity"], "5.0");
    let no_policy = &rules[ids.iter().position(|i| *i == "rls-no-policy").unwrap()];
    assert_eq!(no_policy["defaultConfiguration"]["level"], "note");
    assert_eq!(no_policy["properties"]["security-severity"], "1.0");

    let results = run["results"].as_array().unwrap();
    assert_eq!(
        results.len(),
        report.findings.len() + report.suppressed.len()
    );
    for r in results {
        let id = r["ruleId"].as_str().unwrap();
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(ids[index], id, "ruleIndex points at the rule");
        assert!(r["partialFingerprints"]["tenantguard/v1"]
            .as_str()
            .is_some_and(|f| f.len() == 16));
    }

    // The critical finding: policy in the message, a physical and a logical location.
    let critical = &results[0];
    assert_eq!(critical["ruleId"], "policy-not-tenant-bound");
    assert_eq!(critical["level"], "error");
    assert_eq!(
        critical["message"]["text"],
        "authenticated can read every tenant's rows (policy orders_select)"
    );
    assert_eq!(
        critical["partialFingerprints"]["tenantguard/v1"],
        report.findings[0].fingerprint
    );
    let loc = &critical["locations"][0];
    assert_eq!(
        loc["physicalLocation"]["artifactLocation"],
        json!({ "uri": "migrations/001%20init.sql", "uriBaseId": "%SRCROOT%" })
    );
    assert_eq!(loc["physicalLocation"]["region"]["startLine"], 12);
    assert_eq!(
        loc["logicalLocations"][0],
        json!({ "name": "orders", "fullyQualifiedName": "public.orders", "kind": "table" })
    );
    let props = &critical["properties"];
    assert_eq!(props["policy"], "orders_select");
    assert_eq!(props["severity"], "critical");
    assert_eq!(props["fix"], "DROP POLICY orders_select ON public.orders;");
    assert_eq!(
        props["object"],
        json!({ "kind": "table", "schema": "public", "name": "orders" })
    );
    assert_eq!(props["evidence"]["roles"][0], "anon");

    // The high finding has no source location: logical only, with the hostile name intact.
    let high = &results[1];
    assert_eq!(high["level"], "error");
    assert!(high["locations"][0].get("physicalLocation").is_none());
    assert_eq!(
        high["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        format!("public.{SCRIPT_TABLE}")
    );
    assert_eq!(results[2]["level"], "warning");
    assert_eq!(
        results[3]["locations"][0]["logicalLocations"][0]["kind"],
        "function"
    );
    assert!(results[..4].iter().all(|r| r.get("suppressions").is_none()));

    // The suppressed finding is there, marked.
    let suppressed = &results[4];
    assert_eq!(suppressed["ruleId"], "missing-tenant-fk");
    assert_eq!(
        suppressed["suppressions"],
        json!([{ "kind": "external", "justification": "in the baseline" }])
    );
}

// ---------------------------------------------------------------- JUnit

#[test]
fn junit_counts_failures_and_passing_rules() {
    let report = report();
    let xml = render_junit(&report);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("name"), Some("tenantguard"));

    let flagged = |id: &str| {
        report.findings.iter().filter(|f| f.rule == id).count()
            + report
                .suppressed
                .iter()
                .filter(|s| s.finding.rule == id)
                .count()
    };
    let expected_tests: usize = registry().iter().map(|r| flagged(r.id).max(1)).sum();
    assert_eq!(
        root.attribute("tests"),
        Some(expected_tests.to_string().as_str())
    );
    assert_eq!(
        root.attribute("failures"),
        Some(report.findings.len().to_string().as_str())
    );

    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), registry().len(), "one suite per rule");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), expected_tests);
    let failures: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    assert_eq!(failures.len(), report.findings.len());

    // The hostile name is text, not markup.
    assert!(!doc.descendants().any(|n| n.has_tag_name("script")));
    let hostile = cases
        .iter()
        .find(|c| c.attribute("classname") == Some("rls-not-forced"))
        .expect("the high finding's case");
    assert_eq!(
        hostile.attribute("name"),
        Some(format!("public.{SCRIPT_TABLE}").as_str())
    );
    let failure = hostile
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert_eq!(failure.attribute("type"), Some("high"));
    assert_eq!(
        failure.attribute("message"),
        Some("RLS is not forced on <script>alert(1)</script> (owner app)"),
        "control characters dropped"
    );
    assert_eq!(
        failure.text(),
        Some(
            format!("RLS is not forced on <script>alert(1)</script> (owner app)\n\n{FENCE_FIX}")
                .as_str()
        )
    );
    let pipe = cases
        .iter()
        .find(|c| c.attribute("classname") == Some("tenant-key-unindexed"))
        .unwrap();
    assert_eq!(
        pipe.attribute("name"),
        Some(format!("public.{PIPE_TABLE}").as_str())
    );

    // The policy goes into the name; the location into file/line.
    let critical = cases
        .iter()
        .find(|c| c.attribute("classname") == Some("policy-not-tenant-bound"))
        .unwrap();
    assert_eq!(
        critical.attribute("name"),
        Some("public.orders policy orders_select")
    );
    assert_eq!(critical.attribute("line"), Some("12"));

    // Rules that found nothing pass.
    for id in ["rls-disabled", "tenant-fk-not-cascade", "rls-no-policy"] {
        let suite = suites
            .iter()
            .find(|s| s.attribute("name") == Some(id))
            .unwrap();
        assert_eq!(suite.attribute("failures"), Some("0"));
        let case: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(case.len(), 1);
        assert_eq!(case[0].attribute("name"), Some("(no findings)"));
        assert_eq!(case[0].attribute("classname"), Some(id));
        assert!(case[0].children().all(|n| !n.is_element()));
    }

    // A suppressed finding is a skipped case, not a failure nor a pass.
    let suite = suites
        .iter()
        .find(|s| s.attribute("name") == Some("missing-tenant-fk"))
        .unwrap();
    assert_eq!(suite.attribute("skipped"), Some("1"));
    assert!(suite.descendants().any(|n| n.has_tag_name("skipped")));
    assert!(!suite
        .descendants()
        .any(|n| n.attribute("name") == Some("(no findings)")));
}

// ---------------------------------------------------------------- Markdown

/// Each table as (columns in the head, cells per row), and the text of each row.
fn tables(md: &str) -> Vec<(usize, Vec<(usize, String)>)> {
    let mut out = vec![];
    let mut cells = 0;
    let mut text = String::new();
    let mut in_cell = false;
    for ev in Parser::new_ext(md, Options::ENABLE_TABLES) {
        match ev {
            Event::Start(Tag::Table(align)) => out.push((align.len(), vec![])),
            Event::Start(Tag::TableHead) | Event::Start(Tag::TableRow) => {
                cells = 0;
                text.clear();
            }
            Event::Start(Tag::TableCell) => {
                cells += 1;
                in_cell = true;
                text.push('|');
            }
            Event::End(TagEnd::TableCell) => in_cell = false,
            Event::Text(t) | Event::Code(t) if in_cell => text.push_str(&t),
            Event::End(TagEnd::TableHead) | Event::End(TagEnd::TableRow) => {
                out.last_mut().unwrap().1.push((cells, text.clone()));
            }
            _ => {}
        }
    }
    out
}

fn code_blocks(md: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut current: Option<(String, String)> = None;
    for ev in Parser::new_ext(md, Options::ENABLE_TABLES) {
        match ev {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(lang))) => {
                current = Some((lang.to_string(), String::new()))
            }
            Event::Text(t) => {
                if let Some((_, body)) = current.as_mut() {
                    body.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => out.extend(current.take()),
            _ => {}
        }
    }
    out
}

#[test]
fn markdown_verdict_order_and_escaping() {
    let report = report();
    let md = render_markdown(&report);
    assert_eq!(
        md.lines().next(),
        Some("## ❌ tenantguard: 1 critical, 1 high")
    );
    let ok = render_markdown(&report_with(vec![findings().remove(2)]));
    assert_eq!(
        ok.lines().next(),
        Some("## ✅ tenantguard: no finding at or above high")
    );

    // Critical first, medium after.
    let critical = md.find("policy-not-tenant-bound").unwrap();
    let high = md.find("rls-not-forced").unwrap();
    let medium = md.find("tenant-key-unindexed").unwrap();
    assert!(critical < high && high < medium, "{md}");

    // No raw HTML from the database: not in the text, not in any HTML the parser sees. The
    // fix SQL does name the table verbatim, but only inside fenced code blocks, which are
    // shown as code, never interpreted.
    let mut outside_code = md.clone();
    let mut code_ranges: Vec<_> = Parser::new_ext(&md, Options::ENABLE_TABLES)
        .into_offset_iter()
        .filter(|(ev, _)| matches!(ev, Event::Start(Tag::CodeBlock(_))))
        .map(|(_, range)| range)
        .collect();
    code_ranges.reverse();
    for range in code_ranges {
        outside_code.replace_range(range, "");
    }
    assert!(md.contains(SCRIPT_TABLE), "the fix keeps the real name");
    assert!(!outside_code.contains("<script>"), "{outside_code}");
    for ev in Parser::new_ext(&md, Options::ENABLE_TABLES) {
        if let Event::Html(h) | Event::InlineHtml(h) = ev {
            assert!(!h.to_lowercase().contains("<script"), "{h}");
            assert!(
                h.starts_with("<details>")
                    || h.starts_with("<summary>")
                    || h.starts_with("</details>")
                    || h.starts_with("<details>\n<summary>"),
                "unexpected HTML: {h}"
            );
        }
    }

    // Every table row keeps its columns, and the names come back whole as cell text.
    let tables = tables(&md);
    assert_eq!(tables.len(), 3, "counts, critical/high, checklist");
    for (columns, rows) in &tables {
        for (cells, text) in rows {
            assert_eq!(cells, columns, "row {text:?}");
        }
    }
    let (_, top_rows) = &tables[1];
    assert_eq!(top_rows.len(), 3, "head + critical + high");
    assert!(top_rows[2].1.contains(&format!(
        "|public.{SCRIPT_TABLE}|RLS is not forced on {SCRIPT_TABLE} "
    )));
    let (_, checklist) = &tables[2];
    assert_eq!(checklist.len(), 4);
    assert!(checklist[2]
        .1
        .ends_with(&format!("|orphan rows in public.{PIPE_TABLE}")));
    assert!(checklist[1].1.starts_with("|✅ PASS|"));
    assert!(checklist[3].1.starts_with("|➖ ----|"));

    // The medium finding's name with `|`, backticks and quotes survives in the list too.
    let rest = Parser::new(&md)
        .filter_map(|e| match e {
            Event::Text(t) => Some(t.to_string()),
            _ => None,
        })
        .collect::<String>();
    assert!(rest.contains(&format!("public.{PIPE_TABLE}")), "{rest}");

    // Fixes are code blocks, whole: the ``` inside does not close the fence.
    let blocks = code_blocks(&md);
    assert!(
        blocks
            .iter()
            .any(|(lang, body)| lang == "sql" && body == &format!("{FENCE_FIX}\n")),
        "{blocks:#?}"
    );
    assert!(blocks.iter().any(
        |(lang, body)| lang == "sql" && body == "DROP POLICY orders_select ON public.orders;\n"
    ));
    assert!(blocks
        .iter()
        .any(|(_, body)| body.starts_with("CREATE INDEX ON public.")));
    assert_eq!(blocks.len(), 3);

    // Checklist and notes close the comment; the suppressed finding is listed.
    assert!(md.contains("### Verification checklist"));
    assert!(md.contains("### Notes\n\n- the data scan did not run"));
    assert!(md.contains("1 suppressed finding"));
}
