//! Replacement and speed-up of policies on real databases: the replacement mirrors the schema's
//! own tenant rule (a JWT claim, a membership table, a setting), the rewritten policies keep
//! every tenant to its rows, and a second plan is empty.

use tenantguard_access::{AccessConfig, AccessModel};
use tenantguard_catalog::{connect, load_snapshot, SnapshotOptions};
use tenantguard_fix::{apply, plan, ApplyOptions, Plan, PlanOptions};
use tenantguard_rules::{run_rules, Context, Finding, RulesConfig};
use tenantguard_tenant_model::TenantModel;

/// Snapshot → model → access → rules → plan, as the CLI does (no data scan).
async fn plan_for(url: &str, access: &AccessConfig) -> (Plan, Vec<Finding>) {
    let (client, _) = connect(url).await.unwrap();
    let snapshot = load_snapshot(&client, &SnapshotOptions::default())
        .await
        .unwrap();
    let model = TenantModel::infer(&snapshot, &Default::default()).unwrap();
    let access_model = AccessModel::build(&snapshot, &model, access);
    let config = RulesConfig::default();
    let ctx = Context {
        snapshot: &snapshot,
        model: &model,
        access: &access_model,
        scans: None,
        config: &config,
    };
    let findings = run_rules(&ctx);
    (plan(&ctx, &findings, &PlanOptions::default()), findings)
}

fn policy_step<'a>(plan: &'a Plan, table: &str) -> &'a str {
    &plan
        .steps
        .iter()
        .find(|s| s.object == table && s.summary.contains(": narrow "))
        .unwrap_or_else(|| panic!("no policy step for {table}: {plan:#?}"))
        .sql
}

async fn apply_all(url: &str, plan: &Plan) {
    let (client, _) = connect(url).await.unwrap();
    let report = apply(
        &client,
        plan,
        &ApplyOptions {
            unsafe_fixes: true,
            ..Default::default()
        },
    )
    .await;
    assert!(report.failed.is_none(), "{report:#?}");
}

fn isolation_findings(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f.severity >= tenantguard_rules::Severity::High)
        .map(|f| format!("{} {}.{}", f.rule, f.object.schema, f.object.name))
        .collect()
}

#[tokio::test]
async fn membership_schemas_get_membership_policies() {
    let (name, url) = pg_harness::fresh_database(true).await.unwrap();
    let admin = pg_harness::shared().connect(&name).await.unwrap();
    admin
        .batch_execute(
            "CREATE TABLE teams (id uuid PRIMARY KEY);
             CREATE TABLE team_members (team_id uuid NOT NULL REFERENCES teams ON DELETE CASCADE,
                                        user_id uuid NOT NULL REFERENCES auth.users,
                                        PRIMARY KEY (team_id, user_id));
             ALTER TABLE teams ENABLE ROW LEVEL SECURITY;
             CREATE POLICY t ON teams FOR SELECT TO authenticated
               USING (id IN (SELECT team_id FROM team_members WHERE user_id = auth.uid()));
             ALTER TABLE team_members ENABLE ROW LEVEL SECURITY;
             CREATE POLICY tm ON team_members FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
             CREATE TABLE docs (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                                team_id uuid NOT NULL REFERENCES teams ON DELETE CASCADE, body text);
             CREATE INDEX ON docs (team_id);
             ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
             CREATE POLICY d ON docs FOR ALL TO authenticated
               USING (team_id IN (SELECT team_id FROM team_members WHERE user_id = auth.uid()))
               WITH CHECK (team_id IN (SELECT team_id FROM team_members WHERE user_id = auth.uid()));
             CREATE TABLE notes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                                 team_id uuid NOT NULL REFERENCES teams ON DELETE CASCADE, body text);
             CREATE INDEX ON notes (team_id);
             ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
             CREATE POLICY open ON notes FOR ALL TO authenticated USING (true) WITH CHECK (true);",
        )
        .await
        .unwrap();
    let (before, findings) = plan_for(&url, &AccessConfig::default()).await;
    assert!(
        isolation_findings(&findings).contains(&"policy-not-tenant-bound public.notes".to_string())
    );
    let sql = policy_step(&before, "public.notes");
    // Narrowed in place (same name, command and roles), never dropped.
    assert!(
        sql.starts_with("ALTER POLICY open ON public.notes"),
        "{sql}"
    );
    assert!(!sql.contains("DROP POLICY"), "{sql}");
    assert!(
        sql.contains(
            "USING ((true) AND (team_id = ANY(ARRAY(SELECT team_members.team_id FROM public.team_members WHERE team_members.user_id = auth.uid()))))"
        ),
        "{sql}"
    );
    // The slow but tenant-bound policies are rewritten in place, not replaced.
    let speedups: Vec<&str> = before
        .steps
        .iter()
        .filter(|s| {
            s.summary
                .contains("evaluates auth calls once per statement")
        })
        .map(|s| s.object.as_str())
        .collect();
    assert_eq!(speedups, ["public.docs", "public.teams"], "{before:#?}");

    apply_all(&url, &before).await;
    let (after, findings) = plan_for(&url, &AccessConfig::default()).await;
    assert!(isolation_findings(&findings).is_empty(), "{findings:#?}");
    assert!(after.steps.is_empty(), "{after:#?}");
}

#[tokio::test]
async fn setting_schemas_get_setting_policies_for_their_own_roles() {
    let (name, url) = pg_harness::fresh_database(false).await.unwrap();
    let admin = pg_harness::shared().connect(&name).await.unwrap();
    admin
        .batch_execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tg_app') THEN CREATE ROLE tg_app; END IF; END $$;
             CREATE TABLE workspaces (id bigint PRIMARY KEY);
             ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;
             CREATE POLICY w ON workspaces TO tg_app USING (id = current_setting('app.tenant_id')::bigint);
             CREATE TABLE boards (id bigserial PRIMARY KEY,
                                  workspace_id bigint NOT NULL REFERENCES workspaces ON DELETE CASCADE);
             CREATE INDEX ON boards (workspace_id);
             ALTER TABLE boards ENABLE ROW LEVEL SECURITY;
             CREATE POLICY b ON boards TO tg_app USING (workspace_id = (SELECT current_setting('app.tenant_id')::bigint));
             CREATE TABLE cards (id bigserial PRIMARY KEY,
                                 workspace_id bigint NOT NULL REFERENCES workspaces ON DELETE CASCADE);
             CREATE INDEX ON cards (workspace_id);
             ALTER TABLE cards ENABLE ROW LEVEL SECURITY;
             CREATE POLICY c ON cards TO tg_app USING (workspace_id IS NOT NULL);
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO tg_app;",
        )
        .await
        .unwrap();
    let access = AccessConfig {
        api_roles: vec!["tg_app".into()],
        trusted_settings: vec!["app.tenant_id".into()],
        ..AccessConfig::default()
    };
    let (before, _) = plan_for(&url, &access).await;
    let sql = policy_step(&before, "public.cards");
    assert!(sql.starts_with("ALTER POLICY c ON public.cards"), "{sql}");
    assert!(!sql.contains("DROP POLICY"), "{sql}");
    // The mirrored source, as PostgreSQL printed it in policy b (the alias is the deparser's).
    assert!(
        sql.contains(
            "AND (workspace_id = (SELECT current_setting('app.tenant_id'::text)::bigint AS current_setting))"
        ),
        "{sql}"
    );
    apply_all(&url, &before).await;
    let (after, findings) = plan_for(&url, &access).await;
    assert!(isolation_findings(&findings).is_empty(), "{findings:#?}");
    assert!(after.steps.is_empty(), "{after:#?}");
}
