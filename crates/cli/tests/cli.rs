//! The `tenantguard` binary as a user runs it, against real databases in the shared throwaway
//! cluster: exact findings on the clinic example, read-only proof by checksums, the JSON
//! contract, offline snapshots, exit codes and one-line errors.

use std::process::{Command, Output};

use serde_json::Value;

mod common;

const SCHEMA: &str = include_str!("../../../examples/clinic/schema.sql");
const DATA: &str = include_str!("../../../examples/clinic/data.sql");

fn tenantguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenantguard"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run tenantguard")
}

async fn clinic() -> (String, String) {
    let (name, url) = pg_harness::fresh_database(true).await.expect("database");
    let client = pg_harness::shared().connect(&name).await.unwrap();
    client.batch_execute(SCHEMA).await.expect("schema");
    client.batch_execute(DATA).await.expect("data");
    client.batch_execute("ANALYZE").await.unwrap();
    (name, url)
}

/// [`common::database_checksum`] of database `name`: every row of every table plus the
/// catalog definitions; any write, DDL or grant would change it.
async fn checksum(name: &str) -> String {
    let client = pg_harness::shared().connect(name).await.unwrap();
    let sums = common::database_checksum(&client).await;
    // One line per table, then the catalog's: the clinic's 59 tables at least.
    assert!(sums.lines().count() > 59, "{sums}");
    sums
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// (rule, table, rows) of every finding, sorted.
fn summary(report: &Value) -> Vec<(String, String, Option<i64>)> {
    let mut v: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                format!(
                    "{}.{}",
                    f["object"]["schema"].as_str().unwrap(),
                    f["object"]["name"].as_str().unwrap()
                ),
                f["evidence"]["rows"].as_i64(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn clinic_audit_finds_exactly_the_planted_defects_and_changes_nothing() {
    let (name, url) = clinic().await;
    let before = checksum(&name).await;
    let out = tenantguard(&["audit", "--database-url", &url, "--format", "json"]);
    let after = checksum(&name).await;
    assert_eq!(before, after, "the audit changed the database");

    assert_eq!(out.status.code(), Some(1), "criticals found → exit 1");
    let report = json(&out);
    assert_eq!(report["tool"], "tenantguard");
    assert!(report["version"].is_string());
    let s = |r: &str, t: &str, n: Option<i64>| (r.to_string(), format!("public.{t}"), n);
    assert_eq!(
        summary(&report),
        vec![
            s("auth-call-per-row", "call_transcripts", None),
            s("cross-tenant-reference", "appointment_holds", Some(1)),
            s("missing-tenant-fk", "webhook_deliveries", None),
            s("null-tenant-rows", "voice_call_events", Some(4)),
            s("orphan-tenant-rows", "call_recordings", Some(3)),
            s("orphan-tenant-rows", "webhook_deliveries", Some(2)),
            s("rls-disabled", "appointment_bookings", None),
            s("rls-disabled", "organizations", None),
            s("rls-disabled", "sms_confirmation_logs", None),
            s("tenant-fk-not-cascade", "cold_call_logs", None),
            s("tenant-fk-not-validated", "call_recordings", None),
            s("tenant-key-nullable", "voice_call_events", None),
            s("tenant-key-unindexed", "call_transcripts", None),
        ]
    );
    // The contract's fields on every finding.
    for f in report["findings"].as_array().unwrap() {
        for key in [
            "rule", "severity", "category", "object", "message", "evidence", "fix",
        ] {
            assert!(f.get(key).is_some(), "finding lacks {key}: {f}");
        }
        assert_eq!(f["object"]["kind"], "table");
        if f["rule"] == "auth-call-per-row" {
            assert_eq!(f["policy"], "call_transcripts - Organization Isolation");
        }
        assert!(["critical", "high", "medium", "low", "info"]
            .contains(&f["severity"].as_str().unwrap()));
        assert!(["isolation", "integrity", "privilege", "performance"]
            .contains(&f["category"].as_str().unwrap()));
    }
    let orphan = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "orphan-tenant-rows" && f["object"]["name"] == "call_recordings")
        .unwrap();
    assert_eq!(orphan["evidence"]["foreign_key"], "not_valid");
    assert_eq!(report["model"]["root"], "public.organizations");
    assert_eq!(report["model"]["direct"], 52);
    assert_eq!(report["model"]["indirect"], 3);
    assert_eq!(report["model"]["global"], 3);
    assert_eq!(report["data_scan"]["ran"], true);
    assert_eq!(report["data_scan"]["timed_out"], 0);
    assert_eq!(report["data_scan"]["failed"], 0);

    // With the data scan off, the static criticals (RLS disabled) still fail the build; with
    // that rule disabled in tenantguard.toml only high and medium findings remain.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tenantguard.toml");
    std::fs::write(&cfg, "[rules]\ndisable = [\"rls-disabled\"]\n").unwrap();
    let args = [
        "audit",
        "--database-url",
        &url,
        "--no-data",
        "--fail-on",
        "critical",
    ];
    assert_eq!(tenantguard(&args).status.code(), Some(1));
    let mut with_config = args.to_vec();
    with_config.extend(["--config", cfg.to_str().unwrap()]);
    let out = tenantguard(&with_config);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("data scan skipped: --no-data"), "{text}");
    assert!(
        !text.contains("\x1b["),
        "NO_COLOR / not a terminal: no escape codes"
    );
}

#[tokio::test]
async fn offline_snapshot_round_trip_skips_data_checks_and_says_so() {
    let (_name, url) = clinic().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("schema.json");
    let out = tenantguard(&[
        "snapshot",
        "--database-url",
        &url,
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let offline = tenantguard(&[
        "audit",
        "--snapshot",
        file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let live = tenantguard(&[
        "audit",
        "--database-url",
        &url,
        "--no-data",
        "--format",
        "json",
    ]);
    let (offline, live) = (json(&offline), json(&live));
    assert_eq!(
        summary(&offline),
        summary(&live),
        "same schema findings offline and live"
    );
    assert_eq!(offline["data_scan"]["ran"], false);
    assert!(offline["data_scan"]["skipped_because"]
        .as_str()
        .unwrap()
        .contains("offline snapshot"));
    assert!(offline["notes"].to_string().contains("data checks skipped"));

    let model = tenantguard(&["model", "--snapshot", file.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&model.stdout);
    assert!(
        text.contains("tenant root: public.organizations (key id uuid)"),
        "{text}"
    );
    assert!(text.contains("public.appointment_reminders  — no tenant column; reaches the tenant through public.appointment_reminders(appointment_id) → public.appointments"), "{text}");
    assert!(
        text.contains("public.webhook_deliveries.org_id  — org_id is named like a tenant key"),
        "{text}"
    );
    assert!(text.contains("global (shared by all tenants): 3"), "{text}");
}

#[tokio::test]
async fn schemas_flag_narrows_and_rejects_unknown_schemas() {
    let (name, url) = clinic().await;
    let client = pg_harness::shared().connect(&name).await.unwrap();
    client
        .batch_execute(
            "CREATE SCHEMA billing;
             CREATE TABLE billing.ledger (org_id uuid);",
        )
        .await
        .unwrap();
    let all = json(&tenantguard(&[
        "audit",
        "--database-url",
        &url,
        "--no-data",
        "--format",
        "json",
    ]));
    assert!(summary(&all).iter().any(|(_, t, _)| t == "billing.ledger"));
    let only = json(&tenantguard(&[
        "audit",
        "--database-url",
        &url,
        "--no-data",
        "--format",
        "json",
        "--schemas",
        "billing,public",
    ]));
    assert_eq!(summary(&all), summary(&only));
    let public = json(&tenantguard(&[
        "audit",
        "--database-url",
        &url,
        "--no-data",
        "--format",
        "json",
        "--schemas",
        "public",
    ]));
    assert!(!summary(&public)
        .iter()
        .any(|(_, t, _)| t == "billing.ledger"));

    let out = tenantguard(&["audit", "--database-url", &url, "--schemas", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert_one_line_error(&out, "schema \"nope\" given in --schemas does not exist");
}

fn assert_one_line_error(out: &Output, expected: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(expected), "expected {expected:?} in {err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
}

#[tokio::test]
async fn connection_errors_are_one_line_with_exit_code_2() {
    let cluster = pg_harness::shared();
    let (name, _) = pg_harness::fresh_database(false).await.unwrap();
    let port = cluster.port();

    assert_one_line_error(
        &tenantguard(&["audit", "--database-url", "not a url"]),
        "invalid database URL",
    );
    assert_one_line_error(
        &tenantguard(&["audit", "--database-url", "postgres://u@[::1"]),
        "invalid database URL",
    );
    assert_one_line_error(&tenantguard(&["audit"]), "no database given");
    // A closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert_one_line_error(
        &tenantguard(&[
            "audit",
            "--database-url",
            &format!("postgres://postgres:x@127.0.0.1:{closed}/{name}"),
        ]),
        "Connection refused",
    );
    // Wrong password over TCP (scram).
    assert_one_line_error(
        &tenantguard(&[
            "audit",
            "--database-url",
            &format!("postgres://postgres:wrong@127.0.0.1:{port}/{name}"),
        ]),
        "password authentication failed",
    );
    // The password never appears in the message.
    let out = tenantguard(&[
        "audit",
        "--database-url",
        &format!("postgres://postgres:s3cr3t-pw@127.0.0.1:{port}/{name}"),
    ]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("s3cr3t-pw"));
    // A database that does not exist, over the unix socket.
    assert_one_line_error(
        &tenantguard(&["audit", "--database-url", &cluster.url("no_such_db")]),
        "database \"no_such_db\" does not exist",
    );
    // sslmode=require against a server without TLS.
    assert_one_line_error(
        &tenantguard(&[
            "audit",
            "--database-url",
            &format!("postgres://postgres:postgres@127.0.0.1:{port}/{name}?sslmode=require"),
        ]),
        "cannot connect",
    );
    // The right password over TCP works (and TLS is only attempted, libpq's `prefer`).
    let out = tenantguard(&[
        "audit",
        "--database-url",
        &cluster.tcp_url(&name),
        "--no-data",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Bad input files.
    assert_one_line_error(
        &tenantguard(&["audit", "--snapshot", "/nonexistent.json"]),
        "cannot read snapshot",
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"not\": \"a snapshot\"}").unwrap();
    assert_one_line_error(
        &tenantguard(&["audit", "--snapshot", bad.to_str().unwrap()]),
        "is not a tenantguard snapshot",
    );
    let cfg = dir.path().join("tenantguard.toml");
    std::fs::write(
        &cfg,
        "[tenant]\nroot = \"organizations\"\nkey_colums = [\"org_id\"]\n",
    )
    .unwrap();
    assert_one_line_error(
        &tenantguard(&[
            "audit",
            "--database-url",
            &cluster.url(&name),
            "--config",
            cfg.to_str().unwrap(),
        ]),
        "unknown field `key_colums`",
    );
}

#[tokio::test]
async fn a_role_without_privileges_gets_per_table_scan_failures_not_a_crash() {
    let (name, _) = clinic().await;
    let client = pg_harness::shared().connect(&name).await.unwrap();
    client
        .batch_execute(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditor_noprivs') THEN
               CREATE ROLE auditor_noprivs LOGIN; END IF; END $$;
             REVOKE ALL ON ALL TABLES IN SCHEMA public FROM auditor_noprivs;
             GRANT CONNECT ON DATABASE \"{name}\" TO auditor_noprivs;"
        ))
        .await
        .unwrap();
    let cluster = pg_harness::shared();
    let url = format!(
        "host={} port={} user=auditor_noprivs dbname={name}",
        cluster.socket_dir().display(),
        cluster.port()
    );
    let out = tenantguard(&["audit", "--database-url", &url, "--format", "json"]);
    let report = json(&out);
    // Supabase's default grants give PUBLIC-like API roles access, but this role has none of
    // them: its scans fail with permission errors, reported per table, and the RLS caveat is noted.
    assert!(
        report["notes"].to_string().contains("subject to RLS"),
        "{}",
        report["notes"]
    );
    let incomplete: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "data-scan-incomplete")
        .collect();
    assert!(!incomplete.is_empty());
    assert!(incomplete.iter().all(|f| f["evidence"]["error"]
        .as_str()
        .unwrap()
        .contains("permission denied")));
}

#[test]
fn rules_and_explain() {
    let out = tenantguard(&["rules"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for id in [
        "orphan-tenant-rows",
        "cross-tenant-reference",
        "tenant-fk-not-cascade",
    ] {
        assert!(text.contains(id), "{text}");
    }
    let out = tenantguard(&["explain", "orphan-tenant-rows"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("## Failing example"));
    assert_one_line_error(&tenantguard(&["explain", "nope"]), "no rule \"nope\"");
}

#[tokio::test]
async fn explain_table_prints_the_access_matrix_with_reasons() {
    let (_name, url) = clinic().await;
    let out = tenantguard(&["explain", "organizations", "--database-url", &url]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("public.organizations: the tenant root"),
        "{text}"
    );
    assert!(text.contains("row level security DISABLED"), "{text}");
    assert!(
        text.lines().any(|l| l.contains("anon")
            && l.contains("select")
            && l.contains("OPEN")
            && l.contains("RlsDisabled")),
        "{text}"
    );
    let out = tenantguard(&["explain", "public.appointments", "--database-url", &url]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.contains("authenticated")
            && l.contains("select")
            && l.contains("tenant-bound")
            && l.contains("org_id = tenant claim organization_id")),
        "{text}"
    );
    assert_one_line_error(
        &tenantguard(&["explain", "no_such_table", "--database-url", &url]),
        "no rule or audited table named \"no_such_table\"",
    );
}

const SEED_PHASE3: &str = include_str!("../../../examples/clinic/seed_phase3.sql");

/// `prove` on the clinic after the seed's own Phase 3: the `USING (true)` policy on
/// organizations leaks tenant B's row to every caller, nothing else leaks, the JSON contract
/// holds, and not a single row or definition changed (checksums before and after).
#[tokio::test]
async fn prove_finds_the_seeds_leak_and_changes_nothing() {
    let (name, url) = clinic().await;
    pg_harness::shared()
        .connect(&name)
        .await
        .unwrap()
        .batch_execute(SEED_PHASE3)
        .await
        .unwrap();
    let before = checksum(&name).await;
    let out = tenantguard(&["prove", "--database-url", &url, "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = checksum(&name).await;
    assert_eq!(before, after, "prove changed the database");

    let report = json(&out);
    assert_eq!(report["tool"], "tenantguard");
    let results = report["results"].as_array().unwrap();
    for r in results {
        for field in ["table", "role", "attack", "outcome", "rows", "detail"] {
            assert!(r.get(field).is_some(), "{field} missing in {r}");
        }
    }
    let leaks: Vec<(String, String, String, i64)> = results
        .iter()
        .filter(|r| r["outcome"] == "leak")
        .map(|r| {
            (
                r["table"].as_str().unwrap().to_string(),
                r["role"].as_str().unwrap().to_string(),
                r["attack"].as_str().unwrap().to_string(),
                r["rows"].as_i64().unwrap(),
            )
        })
        .collect();
    let leak = |role: &str| {
        (
            "public.organizations".to_string(),
            role.to_string(),
            "read".to_string(),
            1,
        )
    };
    assert_eq!(
        leaks,
        [
            leak("authenticated"),
            leak("anon"),
            leak("authenticated (no tenant claim)")
        ]
    );
    // Every tenant table was attacked by every attacker, with no unexplained error.
    let errors: Vec<&Value> = results.iter().filter(|r| r["outcome"] == "error").collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let tables: std::collections::BTreeSet<&str> = results
        .iter()
        .filter(|r| r["kind"] == "table")
        .map(|r| r["table"].as_str().unwrap())
        .collect();
    assert_eq!(tables.len(), 56, "{tables:?}");

    // --read-only: reads only, READ ONLY transactions, same verdict on organizations.
    let out = tenantguard(&[
        "prove",
        "--database-url",
        &url,
        "--format",
        "json",
        "--read-only",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    let attacks: std::collections::BTreeSet<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["attack"].as_str().unwrap())
        .collect();
    assert_eq!(attacks, ["read"].into_iter().collect());
    assert_eq!(before, checksum(&name).await);
}

/// `audit --prove`: the proof rides along in the JSON report, the analyser agrees with every
/// attack (no `analyser_missed_leak`), and the exit code reflects the leak.
#[tokio::test]
async fn audit_prove_reconciles_the_analysis_with_the_attacks() {
    let (name, url) = clinic().await;
    pg_harness::shared()
        .connect(&name)
        .await
        .unwrap()
        .batch_execute(SEED_PHASE3)
        .await
        .unwrap();
    let out = tenantguard(&[
        "audit",
        "--database-url",
        &url,
        "--format",
        "json",
        "--prove",
        "--no-data",
        "--fail-on",
        "critical",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    assert_eq!(report["proof"]["summary"]["leaks"], 3);
    let missed: Vec<&Value> = report["reconciliation"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["kind"] == "analyser_missed_leak")
                .collect()
        })
        .unwrap_or_default();
    assert!(missed.is_empty(), "{missed:#?}");

    // Every critical and high finding says what the proof made of it; confirmed ones first
    // within their severity, with the attacks that leaked on their table.
    let findings = report["findings"].as_array().unwrap();
    let mut confirmed = 0;
    let mut seen_unconfirmed: Vec<String> = vec![];
    for f in findings {
        let sev = f["severity"].as_str().unwrap();
        let proof = &f["evidence"]["proof"];
        if !["critical", "high"].contains(&sev) {
            assert!(proof.is_null(), "{f}");
            continue;
        }
        let status = proof["status"].as_str().unwrap_or_else(|| panic!("{f}"));
        assert!(
            ["confirmed", "not_reproduced", "not_attempted"].contains(&status),
            "{f}"
        );
        assert!(!proof["reason"].as_str().unwrap().is_empty(), "{f}");
        let table = format!(
            "{}.{}",
            f["object"]["schema"].as_str().unwrap(),
            f["object"]["name"].as_str().unwrap()
        );
        if status == "confirmed" {
            confirmed += 1;
            assert!(
                !seen_unconfirmed.contains(&sev.to_string()),
                "a confirmed {sev} finding after an unconfirmed one"
            );
            let attacks = proof["attacks"].as_array().unwrap();
            assert!(!attacks.is_empty(), "{f}");
            for a in attacks {
                assert_eq!(a["outcome"], "leak", "{a}");
                assert_eq!(a["table"], table.as_str(), "{a}");
            }
        } else {
            assert_eq!(proof["attacks"], serde_json::json!([]), "{f}");
            seen_unconfirmed.push(sev.to_string());
        }
    }
    assert!(confirmed >= 1, "{findings:#?}");
    // The positive control rode along: A reaches its own rows, its claims are right.
    assert!(!report["proof"]["own_access"].as_array().unwrap().is_empty());
    assert_eq!(report["proof"]["claims_suspect"], false);
}

/// `audit --prove` on a database without a tenant root: the audit is kept, and it says why
/// nothing could be impersonated (the proof was not attempted on any finding).
#[tokio::test]
async fn audit_prove_without_a_tenant_root_keeps_the_audit() {
    let (name, url) = pg_harness::fresh_database(true).await.expect("database");
    pg_harness::shared()
        .connect(&name)
        .await
        .unwrap()
        .batch_execute("CREATE TABLE notes (id int PRIMARY KEY, body text);")
        .await
        .unwrap();
    let out = tenantguard(&[
        "audit",
        "--database-url",
        &url,
        "--format",
        "json",
        "--prove",
    ]);
    assert_ne!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert!(report["findings"].is_array());
    assert!(report["proof"].is_null());
    let notes: Vec<&str> = report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("nothing could be impersonated") && n.contains("no tenant root")),
        "{notes:?}"
    );
    for f in report["findings"].as_array().unwrap() {
        if ["critical", "high"].contains(&f["severity"].as_str().unwrap()) {
            assert_eq!(f["evidence"]["proof"]["status"], "not_attempted", "{f}");
        }
    }
    let text = tenantguard(&["audit", "--database-url", &url, "--prove"]);
    assert_ne!(text.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("nothing could be impersonated"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
}
