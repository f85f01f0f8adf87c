//! Generated policy expressions: the analyser never panics on them, and every "tenant-bound"
//! verdict it gives is confirmed by querying as tenant A on a real database holding rows of
//! tenant B (a verdict that is not confirmed is an analyser bug, and fails the test).

use proptest::prelude::*;
use tenantguard_access::{AccessConfig, AccessModel, Command, Verdict};
use tenantguard_catalog::{connect, load_snapshot, QualifiedName, SnapshotOptions};
use tenantguard_tenant_model::{TenantConfig, TenantModel};

const A: &str = "11111111-1111-1111-1111-111111111111";
const B: &str = "22222222-2222-2222-2222-222222222222";
const USER_A: &str = "aaaaaaaa-0000-0000-0000-000000000001";
const USER_B: &str = "bbbbbbbb-0000-0000-0000-000000000002";

const SCHEMA: &str = "
CREATE TABLE organizations (id uuid PRIMARY KEY);
INSERT INTO organizations VALUES ('11111111-1111-1111-1111-111111111111'), ('22222222-2222-2222-2222-222222222222');
CREATE TABLE members (user_id uuid NOT NULL, org_id uuid NOT NULL REFERENCES organizations);
INSERT INTO members VALUES ('aaaaaaaa-0000-0000-0000-000000000001', '11111111-1111-1111-1111-111111111111'),
                           ('bbbbbbbb-0000-0000-0000-000000000002', '22222222-2222-2222-2222-222222222222');
ALTER TABLE members ENABLE ROW LEVEL SECURITY;
CREATE POLICY m ON members FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE TABLE members_open (user_id uuid NOT NULL, org_id uuid NOT NULL REFERENCES organizations);
INSERT INTO members_open SELECT * FROM members;
CREATE TABLE t (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), org_id uuid NOT NULL REFERENCES organizations,
                owner_id uuid NOT NULL);
INSERT INTO t (org_id, owner_id) VALUES
  ('11111111-1111-1111-1111-111111111111', 'aaaaaaaa-0000-0000-0000-000000000001'),
  ('11111111-1111-1111-1111-111111111111', 'cccccccc-0000-0000-0000-000000000003'),
  ('22222222-2222-2222-2222-222222222222', 'bbbbbbbb-0000-0000-0000-000000000002'),
  ('22222222-2222-2222-2222-222222222222', 'dddddddd-0000-0000-0000-000000000004');
ALTER TABLE t ENABLE ROW LEVEL SECURITY;
";

const ATOMS: &[&str] = &[
    "org_id = (auth.jwt() ->> 'organization_id')::uuid",
    "org_id = (SELECT (auth.jwt() ->> 'organization_id')::uuid)",
    "org_id = ((auth.jwt() -> 'app_metadata') ->> 'organization_id')::uuid",
    "org_id::text = (auth.jwt() ->> 'organization_id')",
    "owner_id = auth.uid()",
    "org_id IN (SELECT m.org_id FROM members m WHERE m.user_id = auth.uid())",
    "org_id IN (SELECT m.org_id FROM members m)",
    "org_id = ANY (ARRAY(SELECT m.org_id FROM members_open m WHERE m.user_id = (SELECT auth.uid())))",
    "org_id IN (SELECT m.org_id FROM members_open m)",
    "EXISTS (SELECT 1 FROM members_open m WHERE m.org_id = t.org_id)",
    "true",
    "false",
    "org_id IS NOT NULL",
    "org_id = org_id",
    "auth.role() = 'authenticated'",
    "auth.uid() IS NULL",
    "org_id = ((auth.jwt() -> 'user_metadata') ->> 'organization_id')::uuid",
    "org_id = coalesce((auth.jwt() ->> 'organization_id')::uuid, org_id)",
    "id = (auth.jwt() ->> 'organization_id')::uuid",
    "org_id <> (auth.jwt() ->> 'organization_id')::uuid",
];

fn expr() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(ATOMS).prop_map(str::to_string);
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(({a}) AND ({b}))")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(({a}) OR ({b}))")),
            inner.prop_map(|a| format!("(NOT ({a}))")),
        ]
    })
}

struct Db {
    name: String,
    url: String,
}

/// Rows of other tenants that tenant A's user sees with the policy in place.
async fn leaked_rows(db: &Db) -> i64 {
    let client = pg_harness::shared().connect(&db.name).await.unwrap();
    client
        .batch_execute(&format!(
            "BEGIN; SET LOCAL ROLE authenticated;
             SELECT set_config('request.jwt.claims', '{{\"sub\":\"{USER_A}\",\"role\":\"authenticated\",\"organization_id\":\"{A}\",\"app_metadata\":{{\"organization_id\":\"{A}\"}},\"user_metadata\":{{\"organization_id\":\"{B}\"}}}}', true);"
        ))
        .await
        .unwrap();
    let n: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM t WHERE org_id <> '{A}'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    client.batch_execute("ROLLBACK").await.unwrap();
    n
}

#[test]
fn bound_verdicts_on_generated_policies_hold_on_a_real_database() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(async {
        let (name, url) = pg_harness::fresh_database(true).await.unwrap();
        pg_harness::shared()
            .connect(&name)
            .await
            .unwrap()
            .batch_execute(SCHEMA)
            .await
            .unwrap();
        Db { name, url }
    });
    let _ = USER_B;
    let bound = std::cell::Cell::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 80,
        ..ProptestConfig::default()
    });
    runner
        .run(&expr(), |e| {
            let (verdict, leaked) = rt.block_on(async {
                let admin = pg_harness::shared().connect(&db.name).await.unwrap();
                admin
                    .batch_execute(&format!(
                        "DROP POLICY IF EXISTS gen ON t; CREATE POLICY gen ON t FOR SELECT TO authenticated USING ({e});"
                    ))
                    .await
                    .unwrap();
                let (client, _) = connect(&db.url).await.unwrap();
                let snapshot = load_snapshot(&client, &SnapshotOptions::default()).await.unwrap();
                let model = TenantModel::infer(&snapshot, &TenantConfig::default()).unwrap();
                // Must not panic, whatever the expression.
                let access = AccessModel::build(&snapshot, &model, &AccessConfig::default());
                let verdict = access
                    .cells(&QualifiedName::new("public", "t"))
                    .iter()
                    .find(|c| c.role == "authenticated" && c.command == Command::Select)
                    .map(|c| c.verdict.clone())
                    .unwrap();
                (verdict, leaked_rows(&db).await)
            });
            if let Verdict::TenantBound { reason } = &verdict {
                bound.set(bound.get() + 1);
                prop_assert_eq!(leaked, 0, "called tenant-bound ({}) but tenant A saw {} rows of B: {}", reason, leaked, e);
            }
            Ok(())
        })
        .unwrap();
    // The generator must exercise the interesting case, not only open policies.
    let bound = bound.get();
    assert!(
        bound >= 5,
        "only {bound} tenant-bound verdicts among the generated policies"
    );
}
