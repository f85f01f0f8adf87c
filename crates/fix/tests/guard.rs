//! The access guard on a real database: steps that would take away tenant A's own access are
//! found by trying them (rolled back) and withheld; harmless steps are kept; the trials change
//! nothing.

use tenantguard_access::{AccessConfig, AccessModel, Command};
use tenantguard_catalog::{connect, load_snapshot, SnapshotOptions};
use tenantguard_fix::{guard, Applicability, Phase, Plan, Step};
use tenantguard_probe::ProveOptions;
use tenantguard_tenant_model::TenantModel;

const SCHEMA: &str = "
CREATE TABLE orgs (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text);
CREATE TABLE members (org_id uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
                      user_id uuid NOT NULL REFERENCES auth.users,
                      PRIMARY KEY (org_id, user_id));
CREATE FUNCTION is_member(_org uuid) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = '' AS
  $$ SELECT EXISTS (SELECT 1 FROM public.members m WHERE m.org_id = _org AND m.user_id = auth.uid()) $$;
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY;
CREATE POLICY o ON orgs FOR SELECT TO authenticated USING (public.is_member(id));
ALTER TABLE members ENABLE ROW LEVEL SECURITY;
CREATE POLICY m ON members FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE TABLE docs (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                   org_id uuid NOT NULL REFERENCES orgs ON DELETE CASCADE, body text);
CREATE INDEX ON docs (org_id);
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY d ON docs FOR ALL TO authenticated
  USING (public.is_member(org_id)) WITH CHECK (public.is_member(org_id));
CREATE TABLE notes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                    org_id uuid NOT NULL REFERENCES orgs ON DELETE CASCADE, body text);
CREATE INDEX ON notes (org_id);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY n ON notes FOR ALL TO authenticated
  USING (public.is_member(org_id)) WITH CHECK (public.is_member(org_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON docs, notes TO authenticated;
GRANT SELECT ON orgs, members TO authenticated;
";

fn step(object: &str, summary: &str, sql: &str) -> Step {
    Step {
        phase: Phase::Policies,
        object: object.into(),
        summary: summary.into(),
        closes: vec![format!("made-up {object}")],
        applicability: Applicability::Safe,
        transactional: true,
        sql: sql.into(),
        index: None,
    }
}

#[tokio::test]
async fn steps_that_take_own_access_away_are_withheld() {
    let (name, url) = pg_harness::fresh_database(true).await.unwrap();
    let admin = pg_harness::shared().connect(&name).await.unwrap();
    admin.batch_execute(SCHEMA).await.unwrap();
    let (client, _) = connect(&url).await.unwrap();
    let snapshot = load_snapshot(&client, &SnapshotOptions::default())
        .await
        .unwrap();
    let model = TenantModel::infer(&snapshot, &Default::default()).unwrap();
    let access = AccessModel::build(&snapshot, &model, &AccessConfig::default());
    let plan = Plan {
        steps: vec![
            step(
                "public.docs",
                "comment docs",
                "COMMENT ON TABLE public.docs IS 'x'",
            ),
            // What the old planner did to helpers its own policies call.
            step(
                "public.is_member(uuid)",
                "revoke the helper",
                "REVOKE EXECUTE ON FUNCTION public.is_member(uuid) FROM PUBLIC, authenticated",
            ),
            step(
                "public.notes",
                "comment notes",
                "COMMENT ON TABLE public.notes IS 'y'",
            ),
            step(
                "public.notes",
                "no updates on notes",
                "REVOKE UPDATE ON public.notes FROM authenticated",
            ),
        ],
        manual: vec![],
    };
    let (kept, report) = guard(
        &client,
        &snapshot,
        &model,
        &access,
        &plan,
        false,
        &ProveOptions::default(),
    )
    .await
    .unwrap();
    assert!(report.measured, "{report:#?}");
    let kept_steps: Vec<&str> = kept.steps.iter().map(|s| s.summary.as_str()).collect();
    assert_eq!(kept_steps, ["comment docs", "comment notes"], "{report:#?}");
    let withheld: Vec<&str> = report.withheld.iter().map(|w| w.summary.as_str()).collect();
    assert_eq!(withheld, ["revoke the helper", "no updates on notes"]);
    // The helper: every command on both tables it guards (and the root's read).
    let helper: Vec<(String, Command)> = report.withheld[0]
        .lost
        .iter()
        .map(|l| (l.table.clone(), l.command))
        .collect();
    for table in ["public.docs", "public.notes"] {
        for c in Command::ALL {
            assert!(
                helper.contains(&(table.to_string(), c)),
                "{table} {c:?}: {helper:?}"
            );
        }
    }
    // The revoke: exactly the update on notes.
    let update: Vec<(String, Command)> = report.withheld[1]
        .lost
        .iter()
        .map(|l| (l.table.clone(), l.command))
        .collect();
    assert_eq!(update, [("public.notes".to_string(), Command::Update)]);
    assert!(report.withheld[1].lost[0].after.starts_with("denied"));
    // The withheld steps' findings are left to the user, with the reason.
    let manual: Vec<&str> = kept.manual.iter().map(|m| m.closes.as_str()).collect();
    assert_eq!(
        manual,
        ["made-up public.is_member(uuid)", "made-up public.notes"]
    );
    assert!(
        kept.manual[1].why.contains("UPDATE on public.notes"),
        "{}",
        kept.manual[1].why
    );
    // Every trial was rolled back.
    let row = admin
        .query_one(
            "SELECT obj_description('public.docs'::regclass, 'pg_class') IS NULL,
                    has_function_privilege('authenticated', 'public.is_member(uuid)', 'EXECUTE'),
                    has_table_privilege('authenticated', 'public.notes', 'UPDATE')",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0) && row.get::<_, bool>(1) && row.get::<_, bool>(2));
}

#[tokio::test]
async fn a_plan_that_keeps_own_access_is_kept_whole() {
    let (name, url) = pg_harness::fresh_database(true).await.unwrap();
    let admin = pg_harness::shared().connect(&name).await.unwrap();
    admin.batch_execute(SCHEMA).await.unwrap();
    let (client, _) = connect(&url).await.unwrap();
    let snapshot = load_snapshot(&client, &SnapshotOptions::default())
        .await
        .unwrap();
    let model = TenantModel::infer(&snapshot, &Default::default()).unwrap();
    let access = AccessModel::build(&snapshot, &model, &AccessConfig::default());
    let plan = Plan {
        steps: vec![
            step(
                "public.docs",
                "force RLS",
                "ALTER TABLE public.docs FORCE ROW LEVEL SECURITY",
            ),
            step(
                "public.notes",
                "revoke from anon",
                "REVOKE ALL ON public.notes FROM anon",
            ),
        ],
        manual: vec![],
    };
    let (kept, report) = guard(
        &client,
        &snapshot,
        &model,
        &access,
        &plan,
        false,
        &ProveOptions::default(),
    )
    .await
    .unwrap();
    assert!(report.measured && report.own_cells_ok >= 8, "{report:#?}");
    assert!(report.withheld.is_empty(), "{report:#?}");
    assert_eq!(kept.steps.len(), 2);
    assert_eq!(report.trials, 2, "the base and one trial of the whole plan");
}
