//! The analyser's verdicts on leaking and safe policies, each built on a real database with the
//! Supabase base, read back through the catalog as `pg_get_expr` prints it.

use tenantguard_access::{AccessConfig, AccessModel, Command, OpenKind, Verdict};
use tenantguard_catalog::{connect, load_snapshot, QualifiedName, Snapshot, SnapshotOptions};
use tenantguard_tenant_model::{TenantConfig, TenantModel};

const BASE: &str = "
CREATE TABLE organizations (id uuid PRIMARY KEY);
CREATE TABLE members (user_id uuid NOT NULL, org_id uuid NOT NULL REFERENCES organizations);
CREATE INDEX ON members (org_id);
ALTER TABLE members ENABLE ROW LEVEL SECURITY;
CREATE POLICY m ON members FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
CREATE TABLE members_open (user_id uuid NOT NULL, org_id uuid NOT NULL REFERENCES organizations);
CREATE FUNCTION my_org() RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT (auth.jwt() ->> 'organization_id')::uuid $$;
CREATE FUNCTION any_org(o uuid) RETURNS boolean LANGUAGE sql STABLE AS $$ SELECT o IS NOT NULL $$;
CREATE FUNCTION is_member(o uuid) RETURNS boolean LANGUAGE sql STABLE AS
  $$ SELECT EXISTS (SELECT 1 FROM members m WHERE m.org_id = o AND m.user_id = auth.uid()) $$;
-- Helpers as real schemas write them: the caller's id passed in, by name or position, in SQL or
-- PL/pgSQL, set-returning, over a members table without RLS of its own.
CREATE FUNCTION is_member2(_org uuid, _uid uuid) RETURNS boolean LANGUAGE sql STABLE AS
  $$ SELECT EXISTS (SELECT 1 FROM members_open m WHERE m.org_id = _org AND m.user_id = _uid) $$;
CREATE FUNCTION is_member_pos(uuid, uuid) RETURNS boolean LANGUAGE sql STABLE AS
  $$ SELECT EXISTS (SELECT 1 FROM members_open m WHERE m.org_id = $1 AND m.user_id = $2) $$;
CREATE FUNCTION is_member_pl(_org uuid, _uid uuid) RETURNS boolean LANGUAGE plpgsql STABLE AS
  $$ BEGIN RETURN EXISTS (SELECT 1 FROM members_open m WHERE m.org_id = _org AND m.user_id = _uid); END $$;
CREATE FUNCTION opaque_pl(o uuid) RETURNS boolean LANGUAGE plpgsql STABLE AS
  $$ DECLARE n int; BEGIN SELECT count(*) INTO n FROM members_open WHERE org_id = o; RETURN n > 0; END $$;
CREATE FUNCTION my_org_ids(_uid uuid) RETURNS SETOF uuid LANGUAGE sql STABLE AS
  $$ SELECT org_id FROM members_open WHERE user_id = _uid $$;
CREATE FUNCTION all_org_ids() RETURNS SETOF uuid LANGUAGE sql STABLE AS $$ SELECT org_id FROM members_open $$;
CREATE FUNCTION is_service_role() RETURNS boolean LANGUAGE sql STABLE AS $$ SELECT auth.role() = 'service_role' $$;
CREATE TABLE projects_open (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES organizations);
-- Platform admins: a table no API role can write, and one they can.
CREATE TABLE platform_admins (user_id uuid PRIMARY KEY);
REVOKE INSERT, UPDATE ON platform_admins FROM anon, authenticated;
CREATE TABLE writable_admins (user_id uuid PRIMARY KEY);
CREATE FUNCTION is_platform_admin() RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER AS
  $$ SELECT EXISTS (SELECT 1 FROM platform_admins WHERE user_id = auth.uid()) $$;
CREATE FUNCTION is_writable_admin() RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER AS
  $$ SELECT EXISTS (SELECT 1 FROM writable_admins WHERE user_id = auth.uid()) $$;
";

/// (table name, policy clauses after `FOR … TO authenticated`, expected SELECT outcome).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Bound,
    Open(OpenKind),
    Deny,
    Unknown,
}

const CASES: &[(&str, &str, Expect)] = &[
    ("seed_template", "FOR ALL TO authenticated USING (org_id = (auth.jwt() ->> 'organization_id')::uuid) WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid)", Expect::Bound),
    ("wrapped", "FOR SELECT TO authenticated USING (org_id = (SELECT (auth.jwt() ->> 'organization_id')::uuid))", Expect::Bound),
    ("app_metadata", "FOR SELECT TO authenticated USING (org_id = ((auth.jwt() -> 'app_metadata') ->> 'organization_id')::uuid)", Expect::Bound),
    ("setting_claims", "FOR SELECT TO authenticated USING (org_id = (current_setting('request.jwt.claims', true)::jsonb ->> 'organization_id')::uuid)", Expect::Bound),
    ("text_cast", "FOR SELECT TO authenticated USING (org_id::text = auth.jwt() ->> 'organization_id')", Expect::Bound),
    ("membership_in", "FOR SELECT TO authenticated USING (org_id IN (SELECT m.org_id FROM members m WHERE m.user_id = auth.uid()))", Expect::Bound),
    ("membership_any", "FOR SELECT TO authenticated USING (org_id = ANY (ARRAY(SELECT m.org_id FROM members m WHERE m.user_id = (SELECT auth.uid()))))", Expect::Bound),
    ("helper_value", "FOR SELECT TO authenticated USING (org_id = my_org())", Expect::Bound),
    ("helper_bool", "FOR SELECT TO authenticated USING (is_member(org_id))", Expect::Bound),
    ("using_true", "FOR SELECT TO authenticated USING (true)", Expect::Open(OpenKind::AlwaysTrue)),
    ("tautology", "FOR SELECT TO authenticated USING (org_id = org_id)", Expect::Open(OpenKind::Tautology)),
    ("not_null", "FOR SELECT TO authenticated USING (org_id IS NOT NULL)", Expect::Open(OpenKind::Tautology)),
    ("role_only", "FOR SELECT TO authenticated USING (auth.role() = 'authenticated')", Expect::Open(OpenKind::RoleOnly)),
    ("user_metadata", "FOR SELECT TO authenticated USING (org_id = ((auth.jwt() -> 'user_metadata') ->> 'organization_id')::uuid)", Expect::Open(OpenKind::UntrustedClaim)),
    ("fallback", "FOR SELECT TO authenticated USING (org_id = coalesce((auth.jwt() ->> 'organization_id')::uuid, org_id))", Expect::Open(OpenKind::Fallback)),
    ("uid_null_or", "FOR SELECT TO authenticated USING (auth.uid() IS NULL OR org_id = (auth.jwt() ->> 'organization_id')::uuid)", Expect::Open(OpenKind::Fallback)),
    ("membership_not_user", "FOR SELECT TO authenticated USING (org_id IN (SELECT m.org_id FROM members_open m))", Expect::Open(OpenKind::Membership)),
    // RLS applies inside policies: members' own policy keeps the subquery to the caller's rows.
    ("membership_via_rls", "FOR SELECT TO authenticated USING (org_id IN (SELECT m.org_id FROM members m))", Expect::Bound),
    ("exists_not_tied", "FOR SELECT TO authenticated USING (EXISTS (SELECT 1 FROM members m WHERE m.user_id = auth.uid()))", Expect::Open(OpenKind::Membership)),
    ("helper_ignores", "FOR SELECT TO authenticated USING (any_org(org_id))", Expect::Open(OpenKind::Helper)),
    ("other_column", "FOR SELECT TO authenticated USING (id = (auth.jwt() ->> 'organization_id')::uuid)", Expect::Open(OpenKind::OtherColumn)),
    ("or_true", "FOR SELECT TO authenticated USING (org_id = (auth.jwt() ->> 'organization_id')::uuid OR true)", Expect::Open(OpenKind::AlwaysTrue)),
    ("no_select_policy", "FOR INSERT TO authenticated WITH CHECK (org_id = (auth.jwt() ->> 'organization_id')::uuid)", Expect::Deny),
    // A policy without USING is left out by PostgreSQL: it admits no row.
    ("no_using", "FOR SELECT TO authenticated", Expect::Deny),
    // Filtered by the current user, but the value comes from user_metadata, which the user edits.
    ("users_metadata", "FOR SELECT TO authenticated USING (org_id = (SELECT (u.raw_user_meta_data ->> 'organization_id')::uuid FROM auth.users u WHERE u.id = (SELECT auth.uid())))", Expect::Open(OpenKind::UntrustedClaim)),
    ("not_is_null", "FOR SELECT TO authenticated USING (NOT (org_id IS NULL))", Expect::Open(OpenKind::Tautology)),
    ("guc_untrusted", "FOR SELECT TO authenticated USING (org_id = current_setting('app.tenant_id')::uuid)", Expect::Unknown),
    // Membership helpers called with the caller's id (issue 11's first false-alarm class).
    ("helper_uid_arg", "FOR SELECT TO authenticated USING (is_member2(org_id, auth.uid()))", Expect::Bound),
    ("helper_uid_pos", "FOR SELECT TO authenticated USING (is_member_pos(org_id, (SELECT auth.uid())))", Expect::Bound),
    ("helper_plpgsql", "FOR SELECT TO authenticated USING (is_member_pl(org_id, auth.uid()))", Expect::Bound),
    ("helper_other_user", "FOR SELECT TO authenticated USING (is_member2(org_id, '00000000-0000-0000-0000-000000000001'))", Expect::Open(OpenKind::Membership)),
    ("helper_opaque", "FOR SELECT TO authenticated USING (opaque_pl(org_id))", Expect::Unknown),
    // Set-returning helpers.
    ("setof_helper", "FOR SELECT TO authenticated USING (org_id IN (SELECT my_org_ids(auth.uid())))", Expect::Bound),
    ("setof_from", "FOR SELECT TO authenticated USING (org_id IN (SELECT o FROM my_org_ids(auth.uid()) o))", Expect::Bound),
    ("setof_any", "FOR SELECT TO authenticated USING (org_id = ANY (ARRAY(SELECT my_org_ids((SELECT auth.uid())))))", Expect::Bound),
    ("setof_unfiltered", "FOR SELECT TO authenticated USING (org_id IN (SELECT all_org_ids()))", Expect::Open(OpenKind::Membership)),
    // The signed service-role claim: false for the API roles.
    ("service_or", "FOR SELECT TO authenticated USING (auth.role() = 'service_role' OR org_id = (auth.jwt() ->> 'organization_id')::uuid)", Expect::Bound),
    ("service_helper_or", "FOR SELECT TO authenticated USING (is_service_role() OR org_id = (auth.jwt() ->> 'organization_id')::uuid)", Expect::Bound),
    ("service_only", "FOR SELECT TO authenticated USING (auth.role() = 'service_role')", Expect::Deny),
    ("service_jwt", "FOR SELECT TO authenticated USING ((auth.jwt() ->> 'role') = 'service_role')", Expect::Deny),
    ("service_in", "FOR SELECT TO authenticated USING (auth.role() IN ('service_role', 'supabase_admin'))", Expect::Deny),
    ("role_in_self", "FOR SELECT TO authenticated USING (auth.role() IN ('service_role', 'authenticated'))", Expect::Open(OpenKind::RoleOnly)),
    // EXISTS through a join to the membership table; an OR of two bound paths.
    ("exists_join", "FOR SELECT TO authenticated USING (EXISTS (SELECT 1 FROM projects_open p JOIN members_open m ON m.org_id = p.org_id WHERE p.id = exists_join.id AND m.user_id = auth.uid()))", Expect::Bound),
    ("exists_join_using", "FOR SELECT TO authenticated USING (EXISTS (SELECT 1 FROM projects_open p JOIN members_open m USING (org_id) WHERE p.id = exists_join_using.id AND m.user_id = auth.uid()))", Expect::Bound),
    ("exists_join_unlinked", "FOR SELECT TO authenticated USING (EXISTS (SELECT 1 FROM projects_open p JOIN members_open m ON true WHERE p.id = exists_join_unlinked.id AND m.user_id = auth.uid()))", Expect::Open(OpenKind::Membership)),
    ("exists_left_join", "FOR SELECT TO authenticated USING (EXISTS (SELECT 1 FROM projects_open p LEFT JOIN members_open m ON m.org_id = p.org_id AND m.user_id = auth.uid() WHERE p.id = exists_left_join.id))", Expect::Open(OpenKind::Membership)),
    ("exists_comma_join", "FOR SELECT TO authenticated USING (EXISTS (SELECT 1 FROM projects_open p, members_open m WHERE m.org_id = p.org_id AND p.id = exists_comma_join.id AND m.user_id = auth.uid()))", Expect::Bound),
    ("exists_helper_on_item", "FOR SELECT TO authenticated USING (EXISTS (SELECT 1 FROM projects_open p WHERE p.id = exists_helper_on_item.id AND is_member2(p.org_id, auth.uid())))", Expect::Bound),
    ("or_two_paths", "FOR SELECT TO authenticated USING (org_id IN (SELECT m.org_id FROM members_open m WHERE m.user_id = auth.uid()) OR EXISTS (SELECT 1 FROM projects_open p JOIN members_open m ON m.org_id = p.org_id WHERE p.id = or_two_paths.id AND m.user_id = auth.uid()))", Expect::Bound),
    // Platform-admin branches: trusted only when no API role can write the admin table.
    ("platform_admin_or", "FOR SELECT TO authenticated USING (is_platform_admin() OR org_id = (auth.jwt() ->> 'organization_id')::uuid)", Expect::Bound),
    ("writable_admin_or", "FOR SELECT TO authenticated USING (is_writable_admin() OR org_id = (auth.jwt() ->> 'organization_id')::uuid)", Expect::Open(OpenKind::Membership)),
    // Rows with no tenant, shared by all (reading them is the point).
    ("shared_null", "FOR SELECT TO authenticated USING (org_id IS NULL OR org_id = (auth.jwt() ->> 'organization_id')::uuid)", Expect::Bound),
    ("shared_null_or_true", "FOR SELECT TO authenticated USING (org_id IS NULL OR true)", Expect::Open(OpenKind::AlwaysTrue)),
    // Constant terms are folded; the term that really opens rows is the one named.
    ("const_false", "FOR SELECT TO authenticated USING (1 = 2)", Expect::Deny),
    ("const_false_branch", "FOR SELECT TO authenticated USING (org_id = (auth.jwt() ->> 'organization_id')::uuid OR (1 = 2 AND true))", Expect::Bound),
    ("const_true_branch", "FOR SELECT TO authenticated USING (org_id = (auth.jwt() ->> 'organization_id')::uuid OR 1 = 1)", Expect::Open(OpenKind::RoleOnly)),
    ("admin_claim", "FOR SELECT TO authenticated USING (((auth.jwt() -> 'app_metadata') ->> 'role') = 'admin')", Expect::Unknown),
];

/// Runs `sql` in database `name` and reads it back: its snapshot and tenant model.
async fn snapshot_after(name: &str, url: &str, sql: &str) -> (Snapshot, TenantModel) {
    pg_harness::shared()
        .connect(name)
        .await
        .unwrap()
        .batch_execute(sql)
        .await
        .unwrap();
    let (client, _) = connect(url).await.unwrap();
    let snapshot = load_snapshot(&client, &SnapshotOptions::default())
        .await
        .unwrap();
    let model = TenantModel::infer(&snapshot, &TenantConfig::default()).unwrap();
    (snapshot, model)
}

#[tokio::test]
async fn select_verdicts_match_postgres_semantics() {
    let (name, url) = pg_harness::fresh_database(true).await.unwrap();
    let mut sql = BASE.to_string();
    for (t, policy, _) in CASES {
        sql.push_str(&format!(
            "CREATE TABLE {t} (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), org_id uuid NOT NULL REFERENCES organizations);
             ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;
             CREATE POLICY p ON {t} {policy};\n"
        ));
    }
    // A permissive `true` fenced by a restrictive tenant policy is safe.
    sql.push_str(
        "CREATE TABLE fenced (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES organizations);
         ALTER TABLE fenced ENABLE ROW LEVEL SECURITY;
         CREATE POLICY open ON fenced FOR SELECT TO authenticated USING (true);
         CREATE POLICY fence ON fenced AS RESTRICTIVE FOR ALL TO authenticated USING (org_id = (SELECT auth.jwt() ->> 'organization_id')::uuid);
         CREATE TABLE child (id uuid PRIMARY KEY, fenced_id uuid NOT NULL REFERENCES fenced);
         ALTER TABLE child ENABLE ROW LEVEL SECURITY;
         CREATE POLICY c ON child FOR SELECT TO authenticated USING (EXISTS (SELECT 1 FROM fenced f WHERE f.id = child.fenced_id));
         CREATE TABLE child_of_open (id uuid PRIMARY KEY, using_true_id uuid NOT NULL REFERENCES using_true);
         ALTER TABLE child_of_open ENABLE ROW LEVEL SECURITY;
         CREATE POLICY c ON child_of_open FOR SELECT TO authenticated USING (EXISTS (SELECT 1 FROM using_true u WHERE u.id = using_true_id));
         CREATE TABLE no_rls (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES organizations);
         -- A child bound through its parent's ids: the sub-query yields ids of the caller's
         -- projects, not tenants; an unfiltered one, or one yielding tenants, stays open.
         CREATE TABLE lines_by_id (id uuid PRIMARY KEY, project_id uuid NOT NULL REFERENCES projects_open);
         ALTER TABLE lines_by_id ENABLE ROW LEVEL SECURITY;
         CREATE POLICY c ON lines_by_id FOR SELECT TO authenticated USING (project_id IN (SELECT p.id FROM projects_open p WHERE p.org_id = my_org()));
         CREATE TABLE lines_by_any_id (id uuid PRIMARY KEY, project_id uuid NOT NULL REFERENCES projects_open);
         ALTER TABLE lines_by_any_id ENABLE ROW LEVEL SECURITY;
         CREATE POLICY c ON lines_by_any_id FOR SELECT TO authenticated USING (project_id IN (SELECT id FROM projects_open));
         CREATE TABLE lines_by_tenant (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES organizations, project_id uuid NOT NULL REFERENCES projects_open);
         ALTER TABLE lines_by_tenant ENABLE ROW LEVEL SECURITY;
         CREATE POLICY c ON lines_by_tenant FOR SELECT TO authenticated USING (project_id IN (SELECT p.org_id FROM projects_open p WHERE p.org_id = my_org()));",
    );
    // The auditing role's search_path includes `auth`: pg_get_expr must still print auth.jwt().
    sql.push_str(&format!(
        "ALTER DATABASE \"{name}\" SET search_path = public, auth;"
    ));
    let (snapshot, model) = snapshot_after(&name, &url, &sql).await;
    let access = AccessModel::build(&snapshot, &model, &AccessConfig::default());

    let select = |t: &str| {
        access
            .cells(&QualifiedName::new("public", t))
            .iter()
            .find(|c| c.role == "authenticated" && c.command == Command::Select)
            .unwrap_or_else(|| panic!("no cell for {t}"))
            .verdict
            .clone()
    };
    let outcome = |v: &Verdict| match v {
        Verdict::TenantBound { .. } => Expect::Bound,
        Verdict::Open { kind, .. } => Expect::Open(*kind),
        Verdict::DenyAll { .. } => Expect::Deny,
        Verdict::CannotVerify { .. } => Expect::Unknown,
        Verdict::NoPrivilege => panic!("Supabase grants authenticated everything"),
    };
    let mut wrong = vec![];
    for (t, _, expected) in CASES {
        let v = select(t);
        if outcome(&v) != *expected {
            wrong.push(format!("{t}: expected {expected:?}, got {v:?}"));
        }
    }
    for (t, expected) in [
        ("fenced", Expect::Bound),
        ("child", Expect::Bound),
        ("child_of_open", Expect::Open(OpenKind::Membership)),
        ("no_rls", Expect::Open(OpenKind::RlsDisabled)),
        ("lines_by_id", Expect::Bound),
        ("lines_by_any_id", Expect::Open(OpenKind::Membership)),
        ("lines_by_tenant", Expect::Open(OpenKind::OtherColumn)),
    ] {
        let v = select(t);
        if outcome(&v) != expected {
            wrong.push(format!("{t}: expected {expected:?}, got {v:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Writes on shared rows, sign-up on the tenant root, and the term named as the culprit.
#[tokio::test]
async fn shared_rows_sign_up_and_culprits() {
    let (name, url) = pg_harness::fresh_database(true).await.unwrap();
    let claim = "(auth.jwt() ->> 'organization_id')::uuid";
    let sql = format!(
        "CREATE TABLE organizations (id uuid PRIMARY KEY, name text);
         ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
         CREATE POLICY sign_up ON organizations FOR INSERT TO authenticated WITH CHECK (auth.uid() IS NOT NULL);
         CREATE POLICY own ON organizations FOR SELECT TO authenticated USING (id = {claim});
         CREATE TABLE templates (id uuid PRIMARY KEY, org_id uuid REFERENCES organizations, body text);
         ALTER TABLE templates ENABLE ROW LEVEL SECURITY;
         CREATE POLICY r ON templates FOR SELECT TO authenticated USING (org_id IS NULL OR org_id = {claim});
         CREATE POLICY w ON templates FOR INSERT TO authenticated WITH CHECK (org_id = {claim});
         CREATE POLICY u ON templates FOR UPDATE TO authenticated USING (org_id IS NULL OR org_id = {claim}) WITH CHECK (org_id = {claim});
         CREATE TABLE notes (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES organizations);
         ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
         CREATE POLICY long ON notes FOR SELECT TO authenticated
           USING ((1 = 2 AND org_id IS NOT NULL) OR org_id = {claim} OR auth.role() = 'service_role' OR org_id = org_id);"
    );
    let (snapshot, model) = snapshot_after(&name, &url, &sql).await;
    let access = AccessModel::build(&snapshot, &model, &AccessConfig::default());
    let cell = |t: &str, cmd: Command| {
        access
            .cells(&QualifiedName::new("public", t))
            .iter()
            .find(|c| c.role == "authenticated" && c.command == cmd)
            .unwrap()
            .verdict
            .clone()
    };
    assert!(
        matches!(
            cell("organizations", Command::Insert),
            Verdict::TenantBound { .. }
        ),
        "{:?}",
        cell("organizations", Command::Insert)
    );
    assert!(matches!(
        cell("templates", Command::Select),
        Verdict::TenantBound { .. }
    ));
    assert!(matches!(
        cell("templates", Command::Insert),
        Verdict::TenantBound { .. }
    ));
    // Updating a shared row changes what every tenant reads.
    match cell("templates", Command::Update) {
        Verdict::Open { kind, witness, .. } => {
            assert_eq!(kind, OpenKind::SharedRows);
            assert_eq!(witness, "org_id IS NULL");
        }
        v => panic!("templates update: {v:?}"),
    }
    match cell("notes", Command::Select) {
        Verdict::Open { kind, witness, .. } => {
            assert_eq!(kind, OpenKind::Tautology);
            assert_eq!(witness, "org_id = org_id");
        }
        v => panic!("notes select: {v:?}"),
    }
}

/// The access model analyses a policy once and reuses the result on every table where the
/// analysis would ask the same questions. Every case above on twin tables (columns in another
/// order, an extra column, the tenant key named differently for a third copy) must get the
/// same verdicts, reasons and observations as analysing each table afresh.
#[tokio::test]
async fn sharing_analyses_across_tables_changes_no_verdict() {
    let (name, url) = pg_harness::fresh_database(true).await.unwrap();
    let mut sql = BASE.to_string();
    // Policies that name their own table (`p.id = exists_join.id`) cannot be copied to twins.
    let twinnable = |t: &str, policy: &str| !policy.contains(&format!("{t}."));
    for (t, policy, _) in CASES.iter().filter(|(t, p, _)| twinnable(t, p)) {
        sql.push_str(&format!(
            "CREATE TABLE {t} (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), org_id uuid NOT NULL REFERENCES organizations);
             CREATE TABLE {t}_twin (note text, org_id uuid NOT NULL REFERENCES organizations, id uuid PRIMARY KEY DEFAULT gen_random_uuid());
             CREATE TABLE {t}_keyed (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), tenant uuid NOT NULL REFERENCES organizations, org_id uuid);
             ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;
             ALTER TABLE {t}_twin ENABLE ROW LEVEL SECURITY;
             ALTER TABLE {t}_keyed ENABLE ROW LEVEL SECURITY;
             CREATE POLICY p ON {t} {policy};
             CREATE POLICY p ON {t}_twin {policy};
             CREATE POLICY p ON {t}_keyed {policy};\n"
        ));
    }
    let (snapshot, model) = snapshot_after(&name, &url, &sql).await;
    let config = AccessConfig::default();
    let shared = AccessModel::build(&snapshot, &model, &config);
    let fresh = AccessModel::build_unshared(&snapshot, &model, &config);
    // Debug output: every cell's verdict with its reasons, every policy's facts, in order.
    assert_eq!(
        format!("{shared:#?}"),
        format!("{fresh:#?}"),
        "sharing analyses across tables changed the access model"
    );
    // The twins are what sharing is for: same policy text, same verdict as the original.
    let verdicts =
        |t: &str| serde_json::to_value(shared.cells(&QualifiedName::new("public", t))).unwrap();
    for (t, _, _) in CASES.iter().filter(|(t, p, _)| twinnable(t, p)) {
        assert_eq!(verdicts(t), verdicts(&format!("{t}_twin")), "{t}");
        assert!(
            !verdicts(t).as_array().unwrap().is_empty(),
            "{t} has no cells"
        );
    }
    // What guards the sharing: the questions an analysis asked about its table. An analysis of
    // `org_id = …` on a table with org_id does not hold for one without it.
    let rel = |t: &str| snapshot.relation(&QualifiedName::new("public", t)).unwrap();
    let never = |_: &QualifiedName| false;
    let env = tenantguard_access::expr::Env::new(
        &snapshot,
        rel("seed_template"),
        Some("org_id"),
        &[],
        &never,
    );
    env.fact_of("org_id = ((auth.jwt() ->> 'organization_id'::text))::uuid");
    let deps = env.dependencies.borrow().clone();
    assert!(!deps.is_empty());
    let holds = |t: &str| tenantguard_access::expr::dependencies_hold(&deps, rel(t), &never);
    assert!(holds("seed_template_twin"));
    assert!(!holds("organizations"));
}

/// Callers with no user id, and platform-admin tables that only their own admins can write.
/// `anon` has no `sub` in its JWT: `auth.uid()` is NULL, so a branch that compares something
/// with it admits nothing. A role table whose only write policies require being a super admin
/// already is as closed as one no API role can write (PostgreSQL checks WITH CHECK on every
/// new row) — unless users may add their own rows, or a sign-up trigger copies a role the
/// client chose into it.
#[tokio::test]
async fn anonymous_callers_and_self_gated_admin_tables() {
    let (name, url) = pg_harness::fresh_database(true).await.unwrap();
    let mut sql = String::from(
        "CREATE TABLE organizations (id uuid PRIMARY KEY);
         CREATE FUNCTION my_org() RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT (auth.jwt() ->> 'organization_id')::uuid $$;\n",
    );
    for (roles, write) in [
        (
            "roles_gated",
            "WITH CHECK (roles_gated_has(auth.uid(), 'super_admin'))",
        ),
        ("roles_self", "WITH CHECK (user_id = auth.uid())"),
        (
            "roles_signup",
            "WITH CHECK (roles_signup_has(auth.uid(), 'super_admin'))",
        ),
    ] {
        sql.push_str(&format!(
            "CREATE TABLE {roles} (user_id uuid NOT NULL, role text NOT NULL);
             ALTER TABLE {roles} ENABLE ROW LEVEL SECURITY;
             CREATE FUNCTION {roles}_has(_uid uuid, _role text) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER AS
               $$ SELECT EXISTS (SELECT 1 FROM public.{roles} WHERE user_id = _uid AND role = _role) $$;
             CREATE POLICY own ON {roles} FOR SELECT USING (user_id = auth.uid());
             CREATE POLICY w ON {roles} FOR INSERT {write};
             CREATE TABLE {roles}_docs (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES organizations);
             ALTER TABLE {roles}_docs ENABLE ROW LEVEL SECURITY;
             CREATE POLICY p ON {roles}_docs FOR SELECT USING (org_id = my_org() OR {roles}_has(auth.uid(), 'super_admin'));\n"
        ));
    }
    sql.push_str(
        "CREATE FUNCTION handle_new_user() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
         BEGIN
           INSERT INTO public.roles_signup (user_id, role) VALUES (new.id, new.raw_user_meta_data ->> 'role');
           RETURN new;
         END $$;
         CREATE TABLE signed_in (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES organizations);
         ALTER TABLE signed_in ENABLE ROW LEVEL SECURITY;
         CREATE POLICY p ON signed_in FOR SELECT USING (auth.uid() IS NOT NULL);",
    );
    let (snapshot, model) = snapshot_after(&name, &url, &sql).await;
    let access = AccessModel::build(&snapshot, &model, &AccessConfig::default());
    let outcome = |t: &str, role: &str| {
        let v = access
            .cells(&QualifiedName::new("public", t))
            .iter()
            .find(|c| c.role == role && c.command == Command::Select)
            .unwrap_or_else(|| panic!("no cell for {t}"))
            .verdict
            .clone();
        match v {
            Verdict::TenantBound { .. } => Expect::Bound,
            Verdict::Open { kind, .. } => Expect::Open(kind),
            Verdict::DenyAll { .. } => Expect::Deny,
            Verdict::CannotVerify { .. } => Expect::Unknown,
            Verdict::NoPrivilege => panic!("Supabase grants {role} everything"),
        }
    };
    let mut got = vec![];
    for t in [
        "roles_gated_docs",
        "roles_self_docs",
        "roles_signup_docs",
        "signed_in",
    ] {
        for role in ["anon", "authenticated"] {
            got.push(format!("{t} {role}: {:?}", outcome(t, role)));
        }
    }
    assert_eq!(
        got,
        [
            "roles_gated_docs anon: Bound",
            "roles_gated_docs authenticated: Bound",
            "roles_self_docs anon: Bound",
            "roles_self_docs authenticated: Open(Membership)",
            "roles_signup_docs anon: Bound",
            "roles_signup_docs authenticated: Open(Membership)",
            "signed_in anon: Deny",
            "signed_in authenticated: Open(RoleOnly)",
        ]
    );
}
