//! `tenantguard fix` as a user runs it, against real databases in the shared throwaway
//! cluster: every kind of automatic fix closes its finding and loses no row (rows move to
//! `tenantguard_quarantine`), `restore` puts them back byte for byte, review fixes need
//! `--unsafe-fixes`, `--out` writes a migration and changes nothing, and `--apply` runs under
//! live application traffic without failing a single statement.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{database_checksum, rows_checksum};

const A: &str = "11111111-1111-1111-1111-111111111111";
const B: &str = "22222222-2222-2222-2222-222222222222";

fn tenantguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenantguard"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run tenantguard")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(out), stderr(out)))
}

/// The organizations root (tenants A and B) with its own tenant-bound policy.
const ROOT: &str = "
CREATE TABLE organizations (id uuid PRIMARY KEY, name text NOT NULL);
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_isolation ON organizations FOR SELECT TO authenticated
  USING (id = (SELECT (auth.jwt() ->> 'organization_id')::uuid));
INSERT INTO organizations VALUES
  ('11111111-1111-1111-1111-111111111111', 'A'), ('22222222-2222-2222-2222-222222222222', 'B');
";

/// The safe template: RLS on, one policy binding every command to the tenant claim.
fn template_policy(table: &str) -> String {
    format!(
        "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
         CREATE POLICY tenant_isolation ON {table} FOR ALL TO authenticated
           USING (org_id = (SELECT (auth.jwt() ->> 'organization_id')::uuid))
           WITH CHECK (org_id = (SELECT (auth.jwt() ->> 'organization_id')::uuid));"
    )
}

/// A fresh Supabase-based database with `sql` loaded and analysed.
async fn database(sql: &str) -> (String, String, tokio_postgres::Client) {
    let (name, url) = pg_harness::fresh_database(true).await.expect("database");
    let client = pg_harness::shared().connect(&name).await.unwrap();
    client.batch_execute(sql).await.expect("schema and data");
    client.batch_execute("ANALYZE").await.unwrap();
    (name, url, client)
}

/// Rows of every plain table (and partition: partitioned parents hold none of their own) in
/// `schemas`, by `schema.table`.
async fn table_rows(client: &tokio_postgres::Client, schemas: &[&str]) -> BTreeMap<String, i64> {
    let schemas: Vec<String> = schemas.iter().map(|s| s.to_string()).collect();
    let tables: Vec<(String, String)> = client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname), n.nspname || '.' || c.relname
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'r' AND n.nspname = ANY ($1) ORDER BY 2",
            &[&schemas],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut out = BTreeMap::new();
    for (sql_name, name) in tables {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {sql_name}"), &[])
            .await
            .unwrap()
            .get(0);
        out.insert(name, n);
    }
    out
}

/// Every schema holding application data: all but the catalogs and Supabase's `auth`
/// (public, and tenantguard_quarantine once it exists).
async fn user_schemas(client: &tokio_postgres::Client) -> Vec<String> {
    client
        .query(
            "SELECT nspname::text FROM pg_namespace
             WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'auth')
               AND nspname !~ '^pg_(toast|temp)' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Rows of every table in every user schema.
async fn all_rows(client: &tokio_postgres::Client) -> BTreeMap<String, i64> {
    let schemas = user_schemas(client).await;
    let schemas: Vec<&str> = schemas.iter().map(String::as_str).collect();
    assert!(schemas.contains(&"public"), "{schemas:?}");
    table_rows(client, &schemas).await
}

/// The sum of `rows` outside tenantguard_quarantine.
fn kept(rows: &BTreeMap<String, i64>) -> i64 {
    rows.iter()
        .filter(|(t, _)| !t.starts_with("tenantguard_quarantine."))
        .map(|(_, n)| n)
        .sum()
}

/// `severity rule schema.name [policy]: message` of every finding at or above high.
fn critical_or_high(findings: &Value) -> Vec<String> {
    findings
        .as_array()
        .expect("findings array")
        .iter()
        .filter(|f| f["severity"] == "critical" || f["severity"] == "high")
        .map(|f| {
            format!(
                "{} {} {}.{} {}: {}",
                f["severity"].as_str().unwrap_or("?"),
                f["rule"].as_str().unwrap_or("?"),
                f["object"]["schema"].as_str().unwrap_or("?"),
                f["object"]["name"].as_str().unwrap_or("?"),
                f["policy"].as_str().unwrap_or(""),
                f["message"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// The rule ids a plan's steps close (`closes` entries are `rule schema.name …`).
fn rules_closed(plan: &Value) -> BTreeSet<String> {
    plan["steps"]
        .as_array()
        .expect("plan.steps")
        .iter()
        .flat_map(|s| s["closes"].as_array().unwrap().iter())
        .map(|c| c.as_str().unwrap().split(' ').next().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Every kind of automatic fix
// ---------------------------------------------------------------------------------------------

/// One schema with at least one instance of every defect `fix` repairs, each on its own table
/// (the rest of each table is healthy: NOT NULL org_id, cascading FK, index, template policy).
fn every_defect_schema() -> String {
    let mut sql = String::from(
        "DO $$ BEGIN
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tg_fix_owner') THEN
             CREATE ROLE tg_fix_owner LOGIN;
           END IF;
         END $$;",
    );
    sql.push_str(ROOT);
    sql.push_str(
        "
-- null-tenant-rows + tenant-key-nullable; readings of the NULL devices cascade from them
CREATE TABLE devices (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id uuid REFERENCES organizations (id) ON DELETE CASCADE, name text NOT NULL);
CREATE TABLE device_readings (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  device_id bigint NOT NULL REFERENCES devices (id) ON DELETE CASCADE, value int NOT NULL);
-- orphan-tenant-rows + missing-tenant-fk
CREATE TABLE webhooks (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, org_id uuid NOT NULL, url text NOT NULL);
-- orphan-tenant-rows under an FK added NOT VALID (tenant-fk-not-validated); FK added below
CREATE TABLE recordings (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, org_id uuid NOT NULL, path text NOT NULL);
-- tenant-fk-not-cascade
CREATE TABLE invoices (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES organizations (id), cents int NOT NULL);
-- tenant-key-unindexed (no index below)
CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE, body text NOT NULL);
-- rls-disabled
CREATE TABLE tickets (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE, title text NOT NULL);
-- policy-not-tenant-bound: USING (true) beside the template
CREATE TABLE projects (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE, name text NOT NULL);
-- claim-fallback-opens-rows
CREATE TABLE tasks (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE, title text NOT NULL);
-- cross-tenant-reference
CREATE TABLE task_comments (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE, body text NOT NULL);
-- untrusted-tenant-claim
CREATE TABLE calendar_connections (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE, email text NOT NULL);
-- with-check-not-tenant-bound
CREATE TABLE appointments (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE, starts_at timestamptz NOT NULL);
-- policy-pins-other-column
CREATE TABLE clinics (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE, clinic_id uuid, name text NOT NULL);
-- rls-not-forced: owned by a login role
CREATE TABLE secrets (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE, value text NOT NULL);
-- partition-bypasses-rls
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY,
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  created_on date NOT NULL, PRIMARY KEY (id, created_on)) PARTITION BY RANGE (created_on);
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');

CREATE INDEX ON devices (org_id); CREATE INDEX ON device_readings (org_id);
CREATE INDEX ON device_readings (device_id); CREATE INDEX ON webhooks (org_id);
CREATE INDEX ON recordings (org_id); CREATE INDEX ON invoices (org_id);
CREATE INDEX ON tickets (org_id); CREATE INDEX ON projects (org_id); CREATE INDEX ON tasks (org_id);
CREATE INDEX ON task_comments (org_id); CREATE INDEX ON calendar_connections (org_id);
CREATE INDEX ON appointments (org_id); CREATE INDEX ON clinics (org_id);
CREATE INDEX ON secrets (org_id); CREATE INDEX ON events (org_id);
",
    );
    for t in [
        "devices",
        "device_readings",
        "webhooks",
        "recordings",
        "invoices",
        "notes",
        "projects",
        "task_comments",
        "events",
        "secrets",
    ] {
        sql.push_str(&template_policy(t));
    }
    sql.push_str(
        "
CREATE POLICY \"public read\" ON projects FOR SELECT USING (true);
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tasks FOR ALL TO authenticated
  USING (org_id = coalesce((SELECT (auth.jwt() ->> 'organization_id')::uuid), org_id))
  WITH CHECK (org_id = coalesce((SELECT (auth.jwt() ->> 'organization_id')::uuid), org_id));
ALTER TABLE calendar_connections ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON calendar_connections FOR ALL TO authenticated
  USING (org_id = (SELECT ((auth.jwt() -> 'user_metadata') ->> 'organization_id')::uuid))
  WITH CHECK (org_id = (SELECT ((auth.jwt() -> 'user_metadata') ->> 'organization_id')::uuid));
ALTER TABLE appointments ENABLE ROW LEVEL SECURITY;
CREATE POLICY \"read own\" ON appointments FOR SELECT TO authenticated
  USING (org_id = (SELECT (auth.jwt() ->> 'organization_id')::uuid));
CREATE POLICY \"anyone can book\" ON appointments FOR INSERT TO authenticated WITH CHECK (true);
ALTER TABLE clinics ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON clinics FOR ALL TO authenticated
  USING (clinic_id = (SELECT (auth.jwt() ->> 'organization_id')::uuid));
ALTER TABLE secrets OWNER TO tg_fix_owner;

-- data: tenants A and B everywhere, plus the defective rows
INSERT INTO devices (org_id, name) VALUES
  ('11111111-1111-1111-1111-111111111111', 'a1'), ('11111111-1111-1111-1111-111111111111', 'a2'),
  ('11111111-1111-1111-1111-111111111111', 'a3'), ('22222222-2222-2222-2222-222222222222', 'b1'),
  ('22222222-2222-2222-2222-222222222222', 'b2'), ('22222222-2222-2222-2222-222222222222', 'b3'),
  (NULL, 'null1'), (NULL, 'null2');
-- one reading per device (the NULL devices' readings are tenant A's), one more for null2
INSERT INTO device_readings (org_id, device_id, value)
  SELECT coalesce(d.org_id, '11111111-1111-1111-1111-111111111111'), d.id, 1 FROM devices d ORDER BY d.id;
INSERT INTO device_readings (org_id, device_id, value)
  SELECT '22222222-2222-2222-2222-222222222222', d.id, 2 FROM devices d WHERE d.name = 'null2';
INSERT INTO webhooks (org_id, url) VALUES
  ('11111111-1111-1111-1111-111111111111', 'https://a/1'), ('11111111-1111-1111-1111-111111111111', 'https://a/2'),
  ('22222222-2222-2222-2222-222222222222', 'https://b/1'), ('22222222-2222-2222-2222-222222222222', 'https://b/2'),
  ('33333333-3333-3333-3333-333333333333', 'https://gone/1'), ('33333333-3333-3333-3333-333333333333', 'https://gone/2'),
  ('44444444-4444-4444-4444-444444444444', 'https://gone/3');
INSERT INTO recordings (org_id, path) VALUES
  ('11111111-1111-1111-1111-111111111111', 'a.wav'), ('22222222-2222-2222-2222-222222222222', 'b.wav'),
  ('55555555-5555-5555-5555-555555555555', 'gone-1.wav'), ('55555555-5555-5555-5555-555555555555', 'gone-2.wav');
ALTER TABLE recordings ADD CONSTRAINT recordings_org_id_fkey
  FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE NOT VALID;
INSERT INTO invoices (org_id, cents) SELECT o, 100 * g FROM unnest(ARRAY['11111111-1111-1111-1111-111111111111', '22222222-2222-2222-2222-222222222222']::uuid[]) o, generate_series(1, 2) g;
INSERT INTO notes (org_id, body) SELECT o, 'note ' || g FROM unnest(ARRAY['11111111-1111-1111-1111-111111111111', '22222222-2222-2222-2222-222222222222']::uuid[]) o, generate_series(1, 3) g;
INSERT INTO tickets (org_id, title) SELECT o, 'ticket ' || g FROM unnest(ARRAY['11111111-1111-1111-1111-111111111111', '22222222-2222-2222-2222-222222222222']::uuid[]) o, generate_series(1, 2) g;
INSERT INTO projects (org_id, name) SELECT o, 'project ' || g FROM unnest(ARRAY['11111111-1111-1111-1111-111111111111', '22222222-2222-2222-2222-222222222222']::uuid[]) o, generate_series(1, 2) g;
INSERT INTO tasks (id, org_id, title) VALUES
  ('a0000000-0000-0000-0000-000000000001', '11111111-1111-1111-1111-111111111111', 'ta1'),
  ('a0000000-0000-0000-0000-000000000002', '11111111-1111-1111-1111-111111111111', 'ta2'),
  ('b0000000-0000-0000-0000-000000000001', '22222222-2222-2222-2222-222222222222', 'tb1'),
  ('b0000000-0000-0000-0000-000000000002', '22222222-2222-2222-2222-222222222222', 'tb2');
INSERT INTO task_comments (org_id, task_id, body) SELECT org_id, id, 'ok' FROM tasks ORDER BY id;
INSERT INTO task_comments (org_id, task_id, body) VALUES
  ('11111111-1111-1111-1111-111111111111', 'b0000000-0000-0000-0000-000000000001', 'A points at B');
INSERT INTO calendar_connections (org_id, email) VALUES
  ('11111111-1111-1111-1111-111111111111', 'a@x'), ('22222222-2222-2222-2222-222222222222', 'b@x');
INSERT INTO appointments (org_id, starts_at) VALUES
  ('11111111-1111-1111-1111-111111111111', '2026-05-01 09:00'), ('22222222-2222-2222-2222-222222222222', '2026-05-01 10:00');
INSERT INTO clinics (org_id, clinic_id, name) VALUES
  ('11111111-1111-1111-1111-111111111111', 'c0000000-0000-0000-0000-00000000000a', 'clinic a'),
  ('22222222-2222-2222-2222-222222222222', 'c0000000-0000-0000-0000-00000000000b', 'clinic b');
INSERT INTO secrets (org_id, value) VALUES
  ('11111111-1111-1111-1111-111111111111', 'secret a'), ('22222222-2222-2222-2222-222222222222', 'secret b');
INSERT INTO events (org_id, created_on) SELECT o, '2026-03-01' FROM unnest(ARRAY['11111111-1111-1111-1111-111111111111', '22222222-2222-2222-2222-222222222222']::uuid[]) o, generate_series(1, 2);

-- paths around RLS
CREATE VIEW project_summary AS SELECT org_id, count(*) AS n FROM projects GROUP BY org_id;
CREATE MATERIALIZED VIEW project_stats AS SELECT org_id, count(*) AS n FROM projects GROUP BY org_id;
CREATE FUNCTION count_notes(p uuid) RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
  AS $f$ SELECT count(*) FROM public.notes WHERE org_id = p $f$;
-- tenant-bound (pins the caller's claim), but its search_path is not pinned
CREATE FUNCTION my_org_name() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
  AS $f$ SELECT name FROM public.organizations WHERE id = (SELECT (auth.jwt() ->> 'organization_id')::uuid) $f$;
",
    );
    sql
}

/// Rows of a quarantine table, as `column` values sorted.
async fn quarantined(client: &tokio_postgres::Client, table: &str, column: &str) -> Vec<String> {
    client
        .query(
            &format!("SELECT {column}::text FROM tenantguard_quarantine.{table} ORDER BY 1"),
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("reading tenantguard_quarantine.{table}: {e}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn every_kind_of_fix_closes_its_finding_and_loses_no_row() {
    let (_name, url, client) = database(&every_defect_schema()).await;
    let before = all_rows(&client).await;
    let public_before = kept(&before);
    assert!(
        !before
            .keys()
            .any(|t| t.starts_with("tenantguard_quarantine.")),
        "{before:?}"
    );

    let out = tenantguard(&[
        "fix",
        "--database-url",
        &url,
        "--apply",
        "--unsafe-fixes",
        "--format",
        "json",
    ]);
    let report = json(&out);
    let after_rows = all_rows(&client).await;
    assert!(
        after_rows
            .keys()
            .all(|t| t.starts_with("public.") || t.starts_with("tenantguard_quarantine.")),
        "{after_rows:?}"
    );
    let public_after = kept(&after_rows);
    let quarantine: BTreeMap<String, i64> = after_rows
        .iter()
        .filter_map(|(t, n)| {
            t.strip_prefix("tenantguard_quarantine.")
                .map(|q| (q.to_string(), *n))
        })
        .collect();
    eprintln!(
        "rows outside quarantine before: {public_before}; after: {public_after} + {} quarantined {quarantine:?}",
        quarantine.values().sum::<i64>()
    );

    // The schema really holds every fixable defect: the plan closes each rule.
    let closed = rules_closed(&report["plan"]);
    for rule in [
        "null-tenant-rows",
        "orphan-tenant-rows",
        "cross-tenant-reference",
        "tenant-key-nullable",
        "missing-tenant-fk",
        "tenant-fk-not-validated",
        "tenant-fk-not-cascade",
        "tenant-key-unindexed",
        "rls-disabled",
        "rls-not-forced",
        "policy-not-tenant-bound",
        "claim-fallback-opens-rows",
        "untrusted-tenant-claim",
        "with-check-not-tenant-bound",
        "policy-pins-other-column",
        "view-bypasses-rls",
        "materialized-view-exposed",
        "partition-bypasses-rls",
        "security-definer-exposed",
        "function-search-path-mutable",
    ] {
        assert!(
            closed.contains(rule),
            "no step closes {rule}; closed: {closed:?}"
        );
    }

    assert_eq!(
        out.status.code(),
        Some(0),
        "after: {:#}\nproof_after: {:#}\nown_access_regressions: {:#}\nafter_findings: {:#}\nstderr: {}",
        report["after"],
        report["proof_after"],
        report["own_access_regressions"],
        report["after_findings"],
        stderr(&out)
    );
    assert_eq!(report["applied"]["failed"], Value::Null);
    assert_eq!(
        report["applied"]["not_applied_review"],
        serde_json::json!([])
    );
    assert!(report["before"]["critical"].as_i64().unwrap() > 0);
    let left = critical_or_high(&report["after_findings"]);
    assert!(
        left.is_empty(),
        "critical/high findings after the fix:\n{}",
        left.join("\n")
    );
    assert_eq!(report["after"]["critical"], 0);
    assert_eq!(report["after"]["high"], 0);

    // Proven: leaks before, none after, and nothing errored in either proof.
    assert!(
        report["proof_before"]["leaks"].as_i64().unwrap() > 0,
        "{}",
        report["proof_before"]
    );
    assert_eq!(
        report["proof_after"]["leaks"], 0,
        "{}",
        report["proof_after"]
    );
    assert_eq!(
        report["proof_after"]["errors"], 0,
        "{}",
        report["proof_after"]
    );
    // Deleting tenant A (rolled back) takes all of its rows with it.
    assert_eq!(
        report["cascade"]["error"],
        Value::Null,
        "{}",
        report["cascade"]
    );
    assert_eq!(
        report["cascade"]["left"],
        serde_json::json!([]),
        "{}",
        report["cascade"]
    );
    assert!(report["cascade"]["tables_checked"].as_i64().unwrap() >= 15);

    // No row lost: every row is in public or in quarantine.
    assert_eq!(
        public_before,
        public_after + quarantine.values().sum::<i64>(),
        "before {before:#?}\nafter {after_rows:#?}"
    );
    // Exactly the defective rows are in quarantine: the NULL-org devices and the readings
    // that reference them (moved, not cascaded away), the orphans with and without an FK,
    // and the cross-tenant comment.
    let expected: BTreeMap<String, i64> = [
        ("public__devices", 2),
        ("public__device_readings", 3),
        ("public__webhooks", 3),
        ("public__recordings", 2),
        ("public__task_comments", 1),
    ]
    .into_iter()
    .map(|(t, n)| (t.to_string(), n))
    .collect();
    assert_eq!(quarantine, expected);
    assert_eq!(
        quarantined(&client, "public__devices", "name").await,
        ["null1", "null2"]
    );
    let null_orgs: i64 = client
        .query_one(
            "SELECT count(*) FROM tenantguard_quarantine.public__devices WHERE org_id IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(null_orgs, 2);
    // The readings of the quarantined devices are all there, with their reason.
    let children = client
        .query(
            "SELECT r.value, d.name, r.tg_reason FROM tenantguard_quarantine.public__device_readings r
             JOIN tenantguard_quarantine.public__devices d ON d.id = r.device_id ORDER BY d.name, r.value",
            &[],
        )
        .await
        .unwrap();
    let children: Vec<(i32, String)> = children.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        children,
        [
            (1, "null1".into()),
            (1, "null2".into()),
            (2, "null2".into())
        ]
    );
    assert_eq!(
        quarantined(&client, "public__webhooks", "url").await,
        ["https://gone/1", "https://gone/2", "https://gone/3"]
    );
    assert_eq!(
        quarantined(&client, "public__recordings", "path").await,
        ["gone-1.wav", "gone-2.wav"]
    );
    assert_eq!(
        quarantined(&client, "public__task_comments", "body").await,
        ["A points at B"]
    );
    for (table, reason) in [
        ("public__devices", "null-tenant-rows"),
        ("public__webhooks", "orphan-tenant-rows"),
        ("public__recordings", "orphan-tenant-rows"),
        ("public__task_comments", "cross-tenant-reference"),
    ] {
        assert_eq!(
            quarantined(&client, table, "DISTINCT tg_reason").await,
            [reason],
            "{table}"
        );
    }
    // A new cross-tenant reference is now impossible: the comment's foreign key carries the
    // tenant key (the composite key replaced the plain one), so PostgreSQL refuses it.
    let fks: Vec<String> = client
        .query(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint
             WHERE conrelid = 'public.task_comments'::regclass AND contype = 'f' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        fks.iter()
            .any(|d| d.starts_with("FOREIGN KEY (org_id, task_id) REFERENCES tasks(org_id, id)")),
        "{fks:?}"
    );
    let cross = client
        .execute(
            "INSERT INTO task_comments (org_id, task_id, body)
             SELECT '11111111-1111-1111-1111-111111111111', id, 'again' FROM tasks
             WHERE org_id = '22222222-2222-2222-2222-222222222222' LIMIT 1",
            &[],
        )
        .await;
    assert_eq!(
        cross.err().and_then(|e| e.code().cloned()),
        Some(tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION)
    );
    // Table by table: kept + quarantined = before.
    for (t, n) in &before {
        let q = t.replacen('.', "__", 1);
        let moved = quarantine.get(&q).copied().unwrap_or(0);
        assert_eq!(after_rows.get(t).copied().unwrap_or(-1) + moved, *n, "{t}");
    }

    // Nothing left to do.
    let again = tenantguard(&["fix", "--database-url", &url, "--format", "json"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let again = json(&again);
    assert_eq!(
        again["plan"]["steps"],
        serde_json::json!([]),
        "{:#}",
        again["plan"]
    );
}

// ---------------------------------------------------------------------------------------------
// 2. restore
// ---------------------------------------------------------------------------------------------

/// `leads` has a nullable org_id without a foreign key, holding NULL-key and orphan rows;
/// `lead_notes` references leads (the NULL ones' notes follow them into quarantine).
fn restore_schema() -> String {
    let mut sql = String::from(ROOT);
    sql.push_str(
        "
CREATE TABLE leads (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, org_id uuid,
  email text NOT NULL, score numeric, tags text[], created_at timestamptz NOT NULL DEFAULT '2026-01-01');
CREATE INDEX ON leads (org_id);
CREATE TABLE lead_notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  lead_id bigint NOT NULL REFERENCES leads (id) ON DELETE CASCADE, body text NOT NULL);
CREATE INDEX ON lead_notes (org_id); CREATE INDEX ON lead_notes (lead_id);
INSERT INTO leads (org_id, email, score, tags) VALUES
  ('11111111-1111-1111-1111-111111111111', 'a1@x', 1.5, '{hot}'),
  ('11111111-1111-1111-1111-111111111111', 'a2@x', NULL, NULL),
  ('22222222-2222-2222-2222-222222222222', 'b1@x', 2, '{}'),
  (NULL, 'null1@x', 3, '{cold,\"with, comma\"}'),
  (NULL, 'null2@x', NULL, NULL),
  ('33333333-3333-3333-3333-333333333333', 'orphan1@x', 4, '{x}'),
  ('33333333-3333-3333-3333-333333333333', 'orphan2@x', 5, NULL),
  ('44444444-4444-4444-4444-444444444444', 'orphan3@x', NULL, '{y}');
INSERT INTO lead_notes (org_id, lead_id, body)
  SELECT coalesce(l.org_id, '11111111-1111-1111-1111-111111111111'), l.id, 'note on ' || l.email
  FROM leads l
  WHERE l.org_id IS NULL OR l.org_id IN ('11111111-1111-1111-1111-111111111111', '22222222-2222-2222-2222-222222222222')
  ORDER BY l.id;
",
    );
    sql.push_str(&template_policy("leads"));
    sql.push_str(&template_policy("lead_notes"));
    sql
}

async fn checksums(client: &tokio_postgres::Client, tables: &[&str]) -> Vec<String> {
    let mut v = vec![];
    for t in tables {
        v.push(format!("{t} {}", rows_checksum(client, t).await));
    }
    v
}

async fn quarantine_counts(client: &tokio_postgres::Client) -> BTreeMap<String, i64> {
    table_rows(client, &["tenantguard_quarantine"]).await
}

fn counts(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

#[tokio::test]
async fn restore_round_trips() {
    let (_name, url, client) = database(&restore_schema()).await;
    let tables = ["public.organizations", "public.leads", "public.lead_notes"];
    let original = checksums(&client, &tables).await;
    let full = counts(&[
        ("tenantguard_quarantine.public__lead_notes", 2),
        ("tenantguard_quarantine.public__leads", 5),
    ]);
    let empty = counts(&[
        ("tenantguard_quarantine.public__lead_notes", 0),
        ("tenantguard_quarantine.public__leads", 0),
    ]);

    // (a) A plan that only quarantines: the constraint rules are disabled in tenantguard.toml,
    // so `fix --apply` moves the rows and nothing else, and `restore` undoes it exactly.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tenantguard.toml");
    std::fs::write(
        &cfg,
        "[rules]\ndisable = [\"tenant-key-nullable\", \"missing-tenant-fk\"]\n",
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let out = tenantguard(&[
        "fix",
        "--database-url",
        &url,
        "--config",
        cfg,
        "--apply",
        "--format",
        "json",
    ]);
    let report = json(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}\n{}", stderr(&out));
    let phases: Vec<&str> = report["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["quarantine", "quarantine"], "{:#}", report["plan"]);
    assert_eq!(report["applied"]["failed"], Value::Null);
    assert_eq!(quarantine_counts(&client).await, full);
    let leads_left: i64 = client
        .query_one("SELECT count(*) FROM leads", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(leads_left, 3);
    assert_ne!(checksums(&client, &tables).await, original);

    let out = tenantguard(&["restore", "--database-url", &url]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("restored 5 row(s) from tenantguard_quarantine.public__leads"),
        "{text}"
    );
    assert!(
        text.contains("restored 2 row(s) from tenantguard_quarantine.public__lead_notes"),
        "{text}"
    );
    assert_eq!(checksums(&client, &tables).await, original);
    assert_eq!(quarantine_counts(&client).await, empty);

    // (b) The full safe plan also forbids what was quarantined (NOT NULL, a foreign key):
    // restore must then fail per table, say why, and keep the rows in quarantine.
    let out = tenantguard(&["fix", "--database-url", &url, "--apply", "--format", "json"]);
    let report = json(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}\n{}", stderr(&out));
    let closed = rules_closed(&report["plan"]);
    assert!(
        closed.contains("tenant-key-nullable") && closed.contains("missing-tenant-fk"),
        "{closed:?}"
    );
    assert_eq!(quarantine_counts(&client).await, full);
    let constrained = checksums(&client, &tables).await;

    let out = tenantguard(&["restore", "--database-url", &url]);
    let text = stdout(&out) + &stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("could not restore tenantguard_quarantine.public__leads")
            && text.contains("null value in column \"org_id\" of relation \"leads\""),
        "{text}"
    );
    assert!(
        text.contains("could not restore tenantguard_quarantine.public__lead_notes"),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
    assert_eq!(quarantine_counts(&client).await, full, "rows lost: {text}");
    assert_eq!(
        checksums(&client, &tables).await,
        constrained,
        "a failed restore changed the tables"
    );

    // Drop what the fix added, and restore puts every row back exactly.
    let fks: Vec<String> = client
        .query(
            "SELECT quote_ident(conname) FROM pg_constraint
             WHERE conrelid = 'public.leads'::regclass AND contype = 'f'
               AND confrelid = 'public.organizations'::regclass",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(fks.len(), 1, "{fks:?}");
    client
        .batch_execute(&format!(
            "ALTER TABLE leads DROP CONSTRAINT {}; ALTER TABLE leads ALTER COLUMN org_id DROP NOT NULL;",
            fks[0]
        ))
        .await
        .unwrap();
    let out = tenantguard(&["restore", "--database-url", &url]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains("restored 5 row(s)"), "{text}");
    assert_eq!(checksums(&client, &tables).await, original);
    assert_eq!(quarantine_counts(&client).await, empty);
}

// ---------------------------------------------------------------------------------------------
// 3. Review fixes need --unsafe-fixes
// ---------------------------------------------------------------------------------------------

/// `projects`: no index on org_id, and a `USING (true)` policy beside the template.
fn open_projects_schema() -> String {
    let mut sql = String::from(ROOT);
    sql.push_str(
        "CREATE TABLE projects (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
           org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE, name text NOT NULL);
         INSERT INTO projects (org_id, name) VALUES
           ('11111111-1111-1111-1111-111111111111', 'a'), ('22222222-2222-2222-2222-222222222222', 'b');",
    );
    sql.push_str(&template_policy("projects"));
    sql.push_str("CREATE POLICY \"read all\" ON projects FOR SELECT USING (true);");
    sql
}

#[tokio::test]
async fn safe_fixes_only_without_unsafe_flag() {
    let (_name, url, client) = database(&open_projects_schema()).await;
    let out = tenantguard(&["fix", "--database-url", &url, "--apply", "--format", "json"]);
    let report = json(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a critical finding remains: exit 1\n{report:#}\n{}",
        stderr(&out)
    );
    let applied: Vec<&str> = report["applied"]["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["summary"].as_str().unwrap())
        .collect();
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert!(
        applied[0].contains("index public.projects (org_id)"),
        "{applied:?}"
    );
    let review: Vec<&str> = report["applied"]["not_applied_review"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(review.len(), 1, "{review:?}");
    assert!(
        review[0].contains("public.projects") && review[0].contains("read all"),
        "{review:?}"
    );
    assert_eq!(report["applied"]["failed"], Value::Null);

    let policies: Vec<String> = client
        .query(
            "SELECT polname::text FROM pg_policy WHERE polrelid = 'public.projects'::regclass ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(policies, ["read all", "tenant_isolation"]);
    let qual: String = client
        .query_one(
            "SELECT pg_get_expr(polqual, polrelid) FROM pg_policy WHERE polname = 'read all'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(qual, "true");
    let index: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
             WHERE i.indrelid = 'public.projects'::regclass AND a.attname = 'org_id' AND i.indisvalid",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(index, 1);

    let remaining: Vec<(String, String)> = report["after_findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        remaining.contains(&("policy-not-tenant-bound".into(), "critical".into())),
        "{remaining:?}"
    );
    assert!(
        !remaining.iter().any(|(r, _)| r == "tenant-key-unindexed"),
        "{remaining:?}"
    );
    assert!(report["proof_after"]["leaks"].as_i64().unwrap() > 0);
}

// ---------------------------------------------------------------------------------------------
// 4. --out writes a Supabase migration and changes nothing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn out_dir_writes_a_supabase_migration_file() {
    let (_name, url, client) = database(&open_projects_schema()).await;
    let before = database_checksum(&client).await;
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("supabase").join("migrations");
    let out = tenantguard(&[
        "fix",
        "--database-url",
        &url,
        "--out",
        migrations.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        database_checksum(&client).await,
        before,
        "fix --out changed the database"
    );

    let files: Vec<String> = std::fs::read_dir(&migrations)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let file = &files[0];
    let (stamp, rest) = file.split_at(file.len().min(14));
    assert!(
        stamp.len() == 14
            && stamp.bytes().all(|b| b.is_ascii_digit())
            && rest == "_tenantguard_hardening.sql",
        "{file}"
    );
    assert!(
        stderr(&out).contains(file.as_str()),
        "the path is reported: {}",
        stderr(&out)
    );
    let sql = std::fs::read_to_string(migrations.join(file)).unwrap();
    assert!(sql.contains("-- closes: "), "{sql}");
    assert!(
        sql.contains("-- closes: tenant-key-unindexed public.projects"),
        "{sql}"
    );
    assert!(sql.contains("CREATE INDEX CONCURRENTLY"), "{sql}");
    // The index runs outside a transaction; the review step is listed but commented out.
    let lines: Vec<&str> = sql.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("CREATE INDEX CONCURRENTLY IF NOT EXISTS"))
        .unwrap_or_else(|| panic!("no uncommented CREATE INDEX CONCURRENTLY: {sql}"));
    assert!(lines[at].contains("ON public.projects (org_id)"), "{sql}");
    assert!(
        !lines[..at]
            .iter()
            .rev()
            .take_while(|l| !l.is_empty())
            .any(|l| *l == "BEGIN;"),
        "CONCURRENTLY inside a transaction block: {sql}"
    );
    assert!(
        sql.contains("[review: not applied without --unsafe-fixes]"),
        "{sql}"
    );
    for line in sql.lines().filter(|l| l.contains("DROP POLICY")) {
        assert!(
            line.starts_with("-- "),
            "review SQL must be commented out: {line}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 5. --apply under live traffic
// ---------------------------------------------------------------------------------------------

/// `calls`: 20 000 rows of A and B, 12 with NULL org_id, no foreign key, no index on org_id,
/// and a `USING (true)` policy: quarantine, CHECK/VALIDATE/SET NOT NULL, FK/VALIDATE, an index
/// CONCURRENTLY and a policy replacement all run on it.
fn busy_schema() -> String {
    let mut sql = String::from(ROOT);
    sql.push_str(&format!(
        "CREATE TABLE calls (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, org_id uuid,
           marker text NOT NULL DEFAULT 'seed', n int, at timestamptz NOT NULL DEFAULT clock_timestamp());
         INSERT INTO calls (org_id, n)
           SELECT CASE WHEN g % 2 = 0 THEN '{A}'::uuid ELSE '{B}'::uuid END, g
           FROM generate_series(1, 20000) g;
         INSERT INTO calls (org_id, n) SELECT NULL, g FROM generate_series(1, 12) g;
         ALTER TABLE calls ENABLE ROW LEVEL SECURITY;
         CREATE POLICY \"open\" ON calls FOR ALL TO authenticated USING (true) WITH CHECK (true);",
    ));
    sql
}

#[derive(Default, Debug)]
struct Traffic {
    /// `n` of every insert that succeeded.
    inserted: Vec<i32>,
    reads: usize,
    /// The slowest statement (waiting on a lock counts).
    slowest: Duration,
    failures: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_under_concurrent_writes() {
    let (name, url, client) = database(&busy_schema()).await;
    let stop = Arc::new(AtomicBool::new(false));
    // The application: tenant A's user, through the API role and its JWT claims, one
    // autocommit statement at a time.
    let writer = {
        let stop = stop.clone();
        let app = pg_harness::shared().connect(&name).await.unwrap();
        app.batch_execute(&format!(
            "SET ROLE authenticated;
             SELECT set_config('request.jwt.claims', '{{\"role\": \"authenticated\", \"organization_id\": \"{A}\"}}', false);"
        ))
        .await
        .unwrap();
        tokio::spawn(async move {
            let mut t = Traffic::default();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let started = Instant::now();
                match app
                    .execute(
                        &format!(
                            "INSERT INTO public.calls (org_id, marker, n) VALUES ('{A}', 'writer', {n})"
                        ),
                        &[],
                    )
                    .await
                {
                    Ok(1) => t.inserted.push(n),
                    Ok(k) => t.failures.push(format!("insert {n}: {k} rows")),
                    Err(e) => t.failures.push(format!("insert {n}: {e:?}")),
                }
                t.slowest = t.slowest.max(started.elapsed());
                let started = Instant::now();
                match app
                    .query_one(
                        &format!("SELECT count(*) FROM public.calls WHERE org_id = '{A}'"),
                        &[],
                    )
                    .await
                {
                    Ok(_) => t.reads += 1,
                    Err(e) => t.failures.push(format!("read after insert {n}: {e:?}")),
                }
                t.slowest = t.slowest.max(started.elapsed());
            }
            t
        })
    };
    // Let the writer get going.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let args: Vec<String> = [
        "fix",
        "--database-url",
        &url,
        "--apply",
        "--unsafe-fixes",
        "--format",
        "json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tenantguard(&args)
    })
    .await
    .unwrap();
    let fix_time = started.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let traffic = writer.await.unwrap();

    let report = json(&out);
    let steps: Vec<String> = report["applied"]["applied"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    format!(
                        "{} ({} ms, {} attempt(s))",
                        s["summary"].as_str().unwrap_or("?"),
                        s["elapsed_ms"],
                        s["attempts"]
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let apply_ms: i64 = report["applied"]["applied"]
        .as_array()
        .map(|a| a.iter().map(|s| s["elapsed_ms"].as_i64().unwrap()).sum())
        .unwrap_or(0);
    // The apply started with the quarantine step (its rows carry the transaction's start);
    // the writer's rows carry their own insert times.
    let during: (i64, i64) = {
        let r = client
            .query_one(
                &format!(
                    "WITH t0 AS (SELECT min(tg_quarantined_at) AS t FROM tenantguard_quarantine.public__calls)
                     SELECT (SELECT count(*) FROM calls, t0 WHERE marker = 'writer' AND at >= t0.t
                               AND at <= t0.t + make_interval(secs => {} / 1000.0)),
                            (SELECT count(*) FROM calls, t0 WHERE marker = 'writer' AND at >= t0.t
                               AND at <= t0.t + make_interval(secs => {} / 1000.0))",
                    apply_ms,
                    fix_time.as_millis()
                ),
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    eprintln!(
        "fix took {fix_time:?} (apply steps {apply_ms} ms): {} inserts and {} reads by the writer, {} during the apply steps, {} while fix ran; {} failure(s); slowest statement {:?}\nsteps:\n  {}",
        traffic.inserted.len(),
        traffic.reads,
        during.0,
        during.1,
        traffic.failures.len(),
        traffic.slowest,
        steps.join("\n  ")
    );

    assert_eq!(
        out.status.code(),
        Some(0),
        "{report:#}\nstderr: {}",
        stderr(&out)
    );
    assert!(
        traffic.failures.is_empty(),
        "{} failed statement(s):\n{}",
        traffic.failures.len(),
        traffic.failures.join("\n")
    );
    // Every insert that succeeded is there, once, in public (none was quarantined).
    let present: Vec<i32> = client
        .query(
            "SELECT n FROM public.calls WHERE marker = 'writer' ORDER BY n",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(present, traffic.inserted);
    let quarantined: i64 = client
        .query_one(
            "SELECT count(*) FROM tenantguard_quarantine.public__calls",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(quarantined, 12);
    assert!(
        during.0 > 0,
        "the writer completed no insert while the steps ran"
    );
    // The fixes are in place.
    let (not_null, fk, index, open): (bool, i64, i64, i64) = {
        let r = client
            .query_one(
                "SELECT (SELECT attnotnull FROM pg_attribute WHERE attrelid = 'public.calls'::regclass AND attname = 'org_id'),
                        (SELECT count(*) FROM pg_constraint WHERE conrelid = 'public.calls'::regclass AND contype = 'f' AND convalidated),
                        (SELECT count(*) FROM pg_index WHERE indrelid = 'public.calls'::regclass AND indisvalid AND NOT indisprimary),
                        (SELECT count(*) FROM pg_policy WHERE polname = 'open' AND pg_get_expr(polqual, polrelid) = 'true')",
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1), r.get(2), r.get(3))
    };
    assert!(not_null);
    assert_eq!((fk, index, open), (1, 1, 0));
}

// ---------------------------------------------------------------------------------------------
// 6. Quarantine follows every reference to a quarantined row
// ---------------------------------------------------------------------------------------------

/// `devices` (NULL org_id rows) is referenced twice by `transfers` (from_device, to_device)
/// and by itself (replaced_by), every reference ON DELETE CASCADE: moving a NULL device must
/// move every row that references it, through any of those keys, or they cascade away.
fn multi_reference_schema() -> String {
    let mut sql = String::from(ROOT);
    sql.push_str(&format!(
        "CREATE TABLE devices (id bigint PRIMARY KEY, org_id uuid REFERENCES organizations (id) ON DELETE CASCADE,
           name text NOT NULL, replaced_by bigint REFERENCES devices (id) ON DELETE CASCADE);
         CREATE INDEX ON devices (org_id);
         CREATE TABLE transfers (id bigint PRIMARY KEY,
           org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
           from_device bigint NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
           to_device bigint NOT NULL REFERENCES devices (id) ON DELETE CASCADE);
         CREATE INDEX ON transfers (org_id);
         INSERT INTO devices VALUES (1, '{A}', 'a1', NULL), (2, '{B}', 'b1', NULL), (3, NULL, 'null1', NULL),
           (4, '{A}', 'replaced by null1', 3);
         INSERT INTO transfers VALUES (1, '{A}', 1, 1), (2, '{A}', 3, 1), (3, '{A}', 1, 3);"
    ));
    sql.push_str(&template_policy("devices"));
    sql.push_str(&template_policy("transfers"));
    sql
}

#[tokio::test]
async fn quarantine_moves_rows_referencing_through_any_foreign_key() {
    let (_name, url, client) = database(&multi_reference_schema()).await;
    let before = table_rows(&client, &["public"]).await;
    let out = tenantguard(&["fix", "--database-url", &url, "--apply", "--format", "json"]);
    let report = json(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}\n{}", stderr(&out));
    let after = table_rows(&client, &["public", "tenantguard_quarantine"]).await;
    for table in ["devices", "transfers"] {
        let kept = after[&format!("public.{table}")];
        let moved = after
            .get(&format!("tenantguard_quarantine.public__{table}"))
            .copied()
            .unwrap_or(0);
        assert_eq!(
            kept + moved,
            before[&format!("public.{table}")],
            "rows of public.{table} lost: {kept} kept + {moved} quarantined, before {before:?}"
        );
    }
    // Both transfers touching the NULL device (as from_device and as to_device) are kept aside.
    let moved: Vec<i64> = client
        .query(
            "SELECT id FROM tenantguard_quarantine.public__transfers ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(moved, [2, 3]);
    let replaced: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM public.devices WHERE id = 4)
                  + (SELECT count(*) FROM tenantguard_quarantine.public__devices WHERE id = 4)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        replaced, 1,
        "device 4 (replaced_by the NULL device) was lost"
    );
}
