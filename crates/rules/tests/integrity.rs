//! Every integrity rule on a real database: each test builds failing and passing tables side by
//! side and asserts the exact findings (rule, table, counts). The pipeline runs as the CLI runs
//! it: snapshot → tenant model → data scan → rules.

use std::time::Duration;

use serde_json::Value;
use tenantguard_access::{AccessConfig, AccessModel};
use tenantguard_catalog::{connect, load_snapshot, FkAction, Snapshot, SnapshotOptions};
use tenantguard_rules::{run_rules, Context, Finding, RulesConfig};
use tenantguard_scan::{plan_scans, run_scans, ScanOptions};
use tenantguard_tenant_model::{TenantConfig, TenantModel};

const ORGS: &str = "
CREATE TABLE organizations (id uuid PRIMARY KEY, name text NOT NULL);
INSERT INTO organizations VALUES ('11111111-1111-1111-1111-111111111111', 'A'),
                                 ('22222222-2222-2222-2222-222222222222', 'B');
";
const A: &str = "'11111111-1111-1111-1111-111111111111'";
const B: &str = "'22222222-2222-2222-2222-222222222222'";

async fn database(sql: &str) -> String {
    let (name, url) = pg_harness::fresh_database(false).await.expect("database");
    let client = pg_harness::shared().connect(&name).await.expect("connect");
    let sql = sql.replace("$A", A).replace("$B", B);
    client
        .batch_execute(&format!("{ORGS}\n{sql}\nANALYZE;"))
        .await
        .unwrap_or_else(|e| panic!("schema: {e:?}"));
    url
}

async fn snapshot_and_model(url: &str) -> (Snapshot, TenantModel) {
    let (client, _) = connect(url).await.expect("connect");
    let snapshot = load_snapshot(&client, &SnapshotOptions::default())
        .await
        .expect("snapshot");
    let model = TenantModel::infer(&snapshot, &TenantConfig::default()).expect("model");
    (snapshot, model)
}

async fn audit_with(url: &str, config: RulesConfig, timeout: Duration) -> Vec<Finding> {
    let (snapshot, model) = snapshot_and_model(url).await;
    scan_and_check(url, &snapshot, &model, config, timeout).await
}

async fn scan_and_check(
    url: &str,
    snapshot: &Snapshot,
    model: &TenantModel,
    config: RulesConfig,
    timeout: Duration,
) -> Vec<Finding> {
    let tasks = plan_scans(snapshot, model);
    let options = ScanOptions {
        jobs: 2,
        statement_timeout: timeout,
        lock_timeout: Duration::from_millis(200),
        progress: None,
    };
    let scans = run_scans(url, tasks, false, &options).await.expect("scan");
    let access = AccessModel::build(snapshot, model, &AccessConfig::default());
    run_rules(&Context {
        snapshot,
        model,
        access: &access,
        scans: Some(&scans),
        config: &config,
    })
}

async fn audit(url: &str) -> Vec<Finding> {
    audit_with(url, RulesConfig::default(), Duration::from_secs(60)).await
}

/// (table, evidence) of one rule's findings, sorted by table.
fn of_rule<'a>(findings: &'a [Finding], rule: &str) -> Vec<(&'a str, &'a Value)> {
    let mut v: Vec<_> = findings
        .iter()
        .filter(|f| f.rule == rule)
        .map(|f| {
            assert_eq!(f.object.schema, "public");
            (f.object.name.as_str(), &f.evidence)
        })
        .collect();
    v.sort_by_key(|(t, _)| *t);
    v
}

fn tables(found: &[(&str, &Value)]) -> Vec<String> {
    found.iter().map(|(t, _)| t.to_string()).collect()
}

#[tokio::test]
async fn null_tenant_rows_counts_nulls_with_and_without_index() {
    let url = database(
        "CREATE TABLE bad (id int, org_id uuid REFERENCES organizations ON DELETE CASCADE);
         CREATE INDEX ON bad (org_id);
         INSERT INTO bad VALUES (1, NULL), (2, NULL), (3, $A);
         CREATE TABLE bad_unindexed (id int, org_id uuid REFERENCES organizations ON DELETE CASCADE);
         INSERT INTO bad_unindexed VALUES (1, NULL), (2, $B);
         CREATE TABLE good (id int, org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE);
         CREATE INDEX ON good (org_id);
         INSERT INTO good VALUES (1, $A), (2, $B);",
    )
    .await;
    let findings = audit(&url).await;
    let found = of_rule(&findings, "null-tenant-rows");
    assert_eq!(tables(&found), ["bad", "bad_unindexed"]);
    assert_eq!(found[0].1["rows"], 2);
    assert_eq!(found[1].1["rows"], 1);
    assert_eq!(found[0].1["column"], "org_id");
}

#[tokio::test]
async fn orphan_tenant_rows_with_no_fk_and_behind_a_not_valid_fk() {
    let url = database(
        "CREATE TABLE no_fk (id int, org_id uuid NOT NULL);
         CREATE INDEX ON no_fk (org_id);
         INSERT INTO no_fk VALUES (1, $A), (2, '99999999-9999-9999-9999-999999999999'),
                                  (3, '99999999-9999-9999-9999-999999999999');
         CREATE TABLE behind_not_valid (id int, org_id uuid NOT NULL);
         CREATE INDEX ON behind_not_valid (org_id, id);
         INSERT INTO behind_not_valid VALUES (1, $B), (2, '88888888-8888-8888-8888-888888888888'),
             (3, '77777777-7777-7777-7777-777777777777'), (4, '77777777-7777-7777-7777-777777777777');
         ALTER TABLE behind_not_valid ADD CONSTRAINT behind_not_valid_org_fk FOREIGN KEY (org_id)
             REFERENCES organizations ON DELETE CASCADE NOT VALID;
         CREATE TABLE unindexed (id int, org_id uuid NOT NULL);
         INSERT INTO unindexed VALUES (1, $A), (2, '66666666-6666-6666-6666-666666666666');
         CREATE TABLE good (id int, org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE);
         CREATE INDEX ON good (org_id);
         INSERT INTO good VALUES (1, $A), (2, $B);",
    )
    .await;
    let findings = audit(&url).await;
    let found = of_rule(&findings, "orphan-tenant-rows");
    assert_eq!(tables(&found), ["behind_not_valid", "no_fk", "unindexed"]);
    let (_, e) = found[0];
    assert_eq!(
        (e["rows"].as_i64(), e["missing_tenants"].as_i64()),
        (Some(3), Some(2))
    );
    assert_eq!(e["foreign_key"], "not_valid");
    let (_, e) = found[1];
    assert_eq!(
        (e["rows"].as_i64(), e["missing_tenants"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(e["foreign_key"], "none");
    assert_eq!(
        e["sample_tenant_ids"][0],
        "99999999-9999-9999-9999-999999999999"
    );
    let (_, e) = found[2];
    assert_eq!(
        (e["rows"].as_i64(), e["missing_tenants"].as_i64()),
        (Some(1), Some(1))
    );
}

#[tokio::test]
async fn orphans_behind_a_validated_fk_loaded_with_triggers_off() {
    // A validated FK can still hide orphans: restores run with session_replication_role = replica.
    let url = database(
        "CREATE TABLE restored (id int, org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE);
         CREATE INDEX ON restored (org_id);
         SET session_replication_role = replica;
         INSERT INTO restored VALUES (1, '55555555-5555-5555-5555-555555555555');
         RESET session_replication_role;",
    )
    .await;
    let findings = audit(&url).await;
    let found = of_rule(&findings, "orphan-tenant-rows");
    assert_eq!(tables(&found), ["restored"]);
    assert_eq!(found[0].1["foreign_key"], "valid");
    assert_eq!(found[0].1["rows"], 1);
}

#[tokio::test]
async fn cross_tenant_reference_counts_rows_pointing_at_another_tenant() {
    let url = database(
        "CREATE TABLE appointments (id int PRIMARY KEY, org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE);
         CREATE INDEX ON appointments (org_id);
         ALTER TABLE appointments ADD UNIQUE (org_id, id);
         INSERT INTO appointments VALUES (1, $A), (2, $B);
         CREATE TABLE holds (id int, org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
                             appointment_id int REFERENCES appointments);
         CREATE INDEX ON holds (org_id);
         INSERT INTO holds VALUES (1, $A, 1), (2, $A, 2), (3, $B, 2), (4, $A, NULL);
         -- same tenant everywhere: no finding
         CREATE TABLE reminders (id int, org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
                                 appointment_id int REFERENCES appointments);
         CREATE INDEX ON reminders (org_id);
         INSERT INTO reminders VALUES (1, $A, 1), (2, $B, 2);
         -- the composite foreign key makes a cross-tenant row impossible: not even scanned
         CREATE TABLE notes (id int, org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
                             appointment_id int, FOREIGN KEY (org_id, appointment_id) REFERENCES appointments (org_id, id));
         CREATE INDEX ON notes (org_id);
         INSERT INTO notes VALUES (1, $A, 1);",
    )
    .await;
    let findings = audit(&url).await;
    let found = of_rule(&findings, "cross-tenant-reference");
    assert_eq!(tables(&found), ["holds"]);
    let e = found[0].1;
    assert_eq!(e["rows"], 1);
    assert_eq!(e["constraint"], "holds_appointment_id_fkey");
    assert_eq!(e["parent"], "public.appointments");
    let f = findings
        .iter()
        .find(|f| f.rule == "cross-tenant-reference")
        .unwrap();
    let fix = f.fix.as_deref().unwrap();
    assert!(
        fix.contains(
            "FOREIGN KEY (org_id, appointment_id) REFERENCES public.appointments (org_id, id)"
        ),
        "{fix}"
    );
}

#[tokio::test]
async fn tenant_key_nullable() {
    let url = database(
        "CREATE TABLE bad (org_id uuid REFERENCES organizations ON DELETE CASCADE);
         CREATE INDEX ON bad (org_id);
         CREATE TABLE good (org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE);
         CREATE INDEX ON good (org_id);",
    )
    .await;
    let findings = audit(&url).await;
    assert_eq!(tables(&of_rule(&findings, "tenant-key-nullable")), ["bad"]);
    // Nothing else is wrong with either table.
    assert_eq!(findings.len(), 1, "{findings:#?}");
}

/// Rows with a NULL tenant that the policies read as shared (`org_id IS NULL OR …`: templates,
/// a library every tenant sees) are the design, not a defect: neither the nullable key nor
/// the NULL rows are reported. The same rows without such a policy are.
#[tokio::test]
async fn shared_null_tenant_rows_are_not_defects() {
    let url = database(
        "CREATE TABLE templates (id int, org_id uuid REFERENCES organizations ON DELETE CASCADE);
         CREATE INDEX ON templates (org_id);
         ALTER TABLE templates ENABLE ROW LEVEL SECURITY;
         CREATE POLICY read ON templates FOR SELECT
           USING (org_id IS NULL OR org_id = current_setting('app.org_id')::uuid);
         INSERT INTO templates VALUES (1, NULL), (2, $A);
         CREATE TABLE stray (id int, org_id uuid REFERENCES organizations ON DELETE CASCADE);
         CREATE INDEX ON stray (org_id);
         ALTER TABLE stray ENABLE ROW LEVEL SECURITY;
         CREATE POLICY read ON stray FOR SELECT USING (org_id = current_setting('app.org_id')::uuid);
         INSERT INTO stray VALUES (1, NULL), (2, $A);",
    )
    .await;
    let findings = audit(&url).await;
    assert_eq!(
        tables(&of_rule(&findings, "tenant-key-nullable")),
        ["stray"]
    );
    assert_eq!(tables(&of_rule(&findings, "null-tenant-rows")), ["stray"]);
}

#[tokio::test]
async fn missing_tenant_fk() {
    let url = database(
        "CREATE TABLE bad (org_id uuid NOT NULL);
         CREATE INDEX ON bad (org_id);
         CREATE TABLE good (org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE);
         CREATE INDEX ON good (org_id);",
    )
    .await;
    let findings = audit(&url).await;
    assert_eq!(tables(&of_rule(&findings, "missing-tenant-fk")), ["bad"]);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert!(findings[0].fix.as_deref().unwrap().contains("NOT VALID"));
}

#[tokio::test]
async fn tenant_fk_not_validated() {
    let url = database(
        "CREATE TABLE bad (org_id uuid NOT NULL);
         CREATE INDEX ON bad (org_id);
         ALTER TABLE bad ADD FOREIGN KEY (org_id) REFERENCES organizations ON DELETE CASCADE NOT VALID;
         CREATE TABLE good (org_id uuid NOT NULL);
         CREATE INDEX ON good (org_id);
         ALTER TABLE good ADD FOREIGN KEY (org_id) REFERENCES organizations ON DELETE CASCADE NOT VALID;
         ALTER TABLE good VALIDATE CONSTRAINT good_org_id_fkey;",
    )
    .await;
    let findings = audit(&url).await;
    let found = of_rule(&findings, "tenant-fk-not-validated");
    assert_eq!(tables(&found), ["bad"]);
    assert_eq!(found[0].1["constraint"], "bad_org_id_fkey");
    assert_eq!(findings.len(), 1, "{findings:#?}");
}

#[tokio::test]
async fn tenant_fk_not_cascade_with_default_and_configured_expectation() {
    let url = database(
        "CREATE TABLE no_action (org_id uuid NOT NULL REFERENCES organizations);
         CREATE INDEX ON no_action (org_id);
         CREATE TABLE set_null (org_id uuid REFERENCES organizations ON DELETE SET NULL);
         CREATE INDEX ON set_null (org_id);
         CREATE TABLE good (org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE);
         CREATE INDEX ON good (org_id);",
    )
    .await;
    let findings = audit(&url).await;
    let found = of_rule(&findings, "tenant-fk-not-cascade");
    assert_eq!(tables(&found), ["no_action", "set_null"]);
    assert_eq!(found[0].1["on_delete"], "no_action");
    assert_eq!(found[1].1["on_delete"], "set_null");

    // A team that wants tenants deleted only when empty configures RESTRICT-like behaviour:
    // then NO ACTION is still flagged (it is not RESTRICT), and CASCADE is flagged too.
    let config = RulesConfig {
        expected_on_delete: FkAction::Restrict,
        ..RulesConfig::default()
    };
    let findings = audit_with(&url, config, Duration::from_secs(60)).await;
    assert_eq!(
        tables(&of_rule(&findings, "tenant-fk-not-cascade")),
        ["good", "no_action", "set_null"]
    );
}

#[tokio::test]
async fn tenant_key_unindexed_ignores_partial_and_trailing_indexes() {
    let url = database(
        "CREATE TABLE no_index (org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE);
         CREATE TABLE \"Trailing\" (org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE, created_at timestamptz);
         CREATE INDEX ON \"Trailing\" (created_at, org_id);
         CREATE TABLE partial (org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE, deleted bool);
         CREATE INDEX ON partial (org_id) WHERE NOT deleted;
         CREATE TABLE leading_composite (org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE, created_at timestamptz);
         CREATE INDEX ON leading_composite (org_id, created_at);
         CREATE TABLE composite_pk (org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE, id int,
                                    PRIMARY KEY (org_id, id));",
    )
    .await;
    let findings = audit(&url).await;
    assert_eq!(
        tables(&of_rule(&findings, "tenant-key-unindexed")),
        ["Trailing", "no_index", "partial"]
    );
}

#[tokio::test]
async fn data_scan_incomplete_on_timeout_and_on_lock_wait() {
    let url = database(
        "CREATE TABLE big (org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE, payload text);
         INSERT INTO big SELECT $A, repeat('x', 100) FROM generate_series(1, 300000);
         CREATE TABLE small (org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE);
         CREATE INDEX ON small (org_id);",
    )
    .await;
    // 1 ms is far too short to scan 300k unindexed rows: `big` must be reported, `small` not.
    let findings = audit_with(&url, RulesConfig::default(), Duration::from_millis(1)).await;
    let found = of_rule(&findings, "data-scan-incomplete");
    assert!(tables(&found).contains(&"big".to_string()), "{found:?}");
    assert!(found.iter().any(|(_, e)| e["timed_out_after_ms"].is_u64()));

    // A migration takes an ACCESS EXCLUSIVE lock after the snapshot: the scan gives up
    // quickly (lock_timeout), and says so.
    let (snapshot, model) = snapshot_and_model(&url).await;
    let (locker, _) = connect(&url).await.unwrap();
    locker
        .batch_execute("BEGIN; LOCK TABLE small IN ACCESS EXCLUSIVE MODE;")
        .await
        .unwrap();
    let findings = scan_and_check(
        &url,
        &snapshot,
        &model,
        RulesConfig::default(),
        Duration::from_secs(60),
    )
    .await;
    // The catalog read itself takes no lock on tables, so it is not blocked either (it has a
    // lock_timeout for the view definitions it reads).
    let (client, _) = connect(&url).await.unwrap();
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        load_snapshot(&client, &SnapshotOptions::default()),
    )
    .await
    .expect("the catalog read does not wait for the lock");
    assert!(read.is_ok(), "{:?}", read.err());
    locker.batch_execute("ROLLBACK").await.unwrap();
    let found = of_rule(&findings, "data-scan-incomplete");
    assert_eq!(tables(&found), ["small"]);
    assert!(
        found[0].1["error"].as_str().unwrap().contains("lock"),
        "{found:?}"
    );

    // Nothing in the way: no finding.
    let findings = audit(&url).await;
    assert!(of_rule(&findings, "data-scan-incomplete").is_empty());
}
