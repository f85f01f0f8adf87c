//! Every RLS rule on a real Supabase-style database: each test builds leaking and safe objects
//! side by side and asserts the exact findings of one rule (object, policy, key evidence). The
//! pipeline runs as the CLI runs it without data: snapshot → tenant model → access model → rules.
//!
//! The expected answers are PostgreSQL's, not the analyser's: where it is cheap, each test also
//! checks the leak (or its absence) by querying as the API role with a JWT, in a rolled-back
//! transaction.

use serde_json::{json, Value};
use tenantguard_access::{AccessConfig, AccessModel};
use tenantguard_catalog::{connect, load_snapshot, SnapshotOptions};
use tenantguard_rules::{run_rules, Context, Finding, RulesConfig, Severity};
use tenantguard_tenant_model::{TenantConfig, TenantModel};

// ---------------------------------------------------------------------------------------------
// Database builder
// ---------------------------------------------------------------------------------------------

/// Tenant A (Alice's) and tenant B (Bob's).
const A: &str = "11111111-1111-1111-1111-111111111111";
const B: &str = "22222222-2222-2222-2222-222222222222";
const ALICE: &str = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";
const BOB: &str = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb";
/// A project of tenant B with a known id.
const B_PROJECT: &str = "cccccccc-cccc-cccc-cccc-cccccccccccc";

/// The seed audit's tenant claim, as policies read it.
const CLAIM: &str = "(auth.jwt() ->> 'organization_id')::uuid";

/// The seed template: one policy for every command, reading and writing one tenant.
const TEMPLATE: &str =
    "FOR ALL TO authenticated USING (org_id = $CLAIM) WITH CHECK (org_id = $CLAIM)";

/// The tenant root, itself isolated (members see their own organization), with two tenants.
const BASE: &str = "
CREATE TABLE organizations (id uuid PRIMARY KEY);
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_org ON organizations FOR SELECT TO authenticated
  USING (id = (SELECT (auth.jwt() ->> 'organization_id')::uuid));
INSERT INTO organizations VALUES ($A), ($B);
";

/// A global table (no tenant key, no path to the root).
const COUNTRIES: &str = "
CREATE TABLE countries (code text PRIMARY KEY, name text NOT NULL);
INSERT INTO countries VALUES ('FR', 'France'), ('JP', 'Japan');
";

/// A tenant table with RLS on, an index on its key, the given `(name, clauses)` policies and one
/// row per tenant.
fn tenant_table(name: &str, policies: &[(&str, &str)]) -> String {
    let mut sql = format!(
        "CREATE TABLE {name} (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                              org_id uuid NOT NULL REFERENCES organizations);
         CREATE INDEX ON {name} (org_id);
         ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;\n"
    );
    for (policy, clauses) in policies {
        sql.push_str(&format!("CREATE POLICY {policy} ON {name} {clauses};\n"));
    }
    sql.push_str(&format!("INSERT INTO {name} (org_id) VALUES ($A), ($B);\n"));
    sql
}

/// A tenant table with the seed template policy `tenant`.
fn isolated_table(name: &str) -> String {
    tenant_table(name, &[("tenant", TEMPLATE)])
}

/// One role, created only if missing (roles are cluster-wide; the tests share one cluster).
fn role(name: &str, options: &str) -> String {
    format!(
        "DO $do$ BEGIN
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{name}') THEN
             CREATE ROLE {name} {options};
           END IF;
         END $do$;\n"
    )
}

struct Db {
    name: String,
    url: String,
}

fn expand(sql: &str) -> String {
    sql.replace("$CLAIM", CLAIM)
        .replace("$ALICE", &format!("'{ALICE}'"))
        .replace("$BOB", &format!("'{BOB}'"))
        .replace("$B_PROJECT", &format!("'{B_PROJECT}'"))
        .replace("$A", &format!("'{A}'"))
        .replace("$B", &format!("'{B}'"))
}

/// A fresh database with the Supabase base, the tenant root and `sql`.
async fn database(sql: &str) -> Db {
    let (name, url) = pg_harness::fresh_database(true).await.expect("database");
    let client = pg_harness::shared().connect(&name).await.expect("connect");
    client
        .batch_execute(&expand(&format!("{BASE}\n{sql}\nANALYZE;")))
        .await
        .unwrap_or_else(|e| panic!("schema: {e:?}"));
    Db { name, url }
}

// ---------------------------------------------------------------------------------------------
// Pipeline runner
// ---------------------------------------------------------------------------------------------

async fn audit_with(db: &Db, access: &AccessConfig, rules: &RulesConfig) -> Vec<Finding> {
    let (client, _) = connect(&db.url).await.expect("connect");
    let snapshot = load_snapshot(&client, &SnapshotOptions::default())
        .await
        .expect("snapshot");
    let model = TenantModel::infer(&snapshot, &TenantConfig::default()).expect("model");
    let access = AccessModel::build(&snapshot, &model, access);
    run_rules(&Context {
        snapshot: &snapshot,
        model: &model,
        access: &access,
        scans: None,
        config: rules,
    })
}

async fn audit(db: &Db) -> Vec<Finding> {
    audit_with(db, &AccessConfig::default(), &RulesConfig::default()).await
}

/// `kind:schema.name` (`kind:name` for roles).
fn object(f: &Finding) -> String {
    let kind = serde_json::to_value(f.object.kind).expect("kind");
    format!("{}:{}", kind.as_str().expect("kind"), f.object)
}

/// The objects one rule reported, sorted (duplicates kept: one finding per entry).
fn objects_of(findings: &[Finding], rule: &str) -> Vec<String> {
    let mut v: Vec<String> = findings
        .iter()
        .filter(|f| f.rule == rule)
        .map(object)
        .collect();
    v.sort();
    v
}

/// The one finding of `rule` on `object` (as [`objects_of`] spells it).
fn finding<'a>(findings: &'a [Finding], rule: &str, object_: &str) -> &'a Finding {
    let found: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.rule == rule && object(f) == object_)
        .collect();
    assert_eq!(found.len(), 1, "{rule} on {object_}: {found:#?}");
    found[0]
}

/// No finding.
const NONE: [&str; 0] = [];

fn cells(f: &Finding) -> &Value {
    &f.evidence["cells"]
}

// ---------------------------------------------------------------------------------------------
// Ground truth: what PostgreSQL really lets a caller do
// ---------------------------------------------------------------------------------------------

/// A database role with the JWT claims PostgREST would set for the request.
struct Caller {
    role: &'static str,
    claims: Value,
    /// More SQL to run in the transaction first (settings the application would set).
    setup: &'static str,
}

/// Alice, an authenticated member of tenant A (trusted claims at the top level and in
/// app_metadata).
fn alice() -> Caller {
    Caller {
        role: "authenticated",
        claims: json!({
            "sub": ALICE,
            "role": "authenticated",
            "organization_id": A,
            "app_metadata": { "organization_id": A },
        }),
        setup: "",
    }
}

/// An anonymous request: no user, no tenant.
fn anon() -> Caller {
    Caller {
        role: "anon",
        claims: json!({ "role": "anon" }),
        setup: "",
    }
}

/// Runs one statement as `caller` in a transaction that is rolled back: the bigint a query
/// returns (`query`), or the rows a statement affects; PostgreSQL's message on error.
async fn as_caller(db: &Db, caller: &Caller, sql: &str, query: bool) -> Result<i64, String> {
    let client = pg_harness::shared()
        .connect(&db.name)
        .await
        .expect("connect");
    let claims = caller.claims.to_string().replace('\'', "''");
    client
        .batch_execute(&format!(
            "BEGIN; SET LOCAL ROLE {}; SELECT set_config('request.jwt.claims', '{claims}', true); {}",
            caller.role,
            expand(caller.setup)
        ))
        .await
        .expect("begin");
    let sql = expand(sql);
    let out = if query {
        client
            .query_one(&sql, &[])
            .await
            .map(|row| row.get::<_, i64>(0))
    } else {
        client.execute(&sql, &[]).await.map(|n| n as i64)
    };
    client.batch_execute("ROLLBACK").await.expect("rollback");
    out.map_err(|e| {
        e.as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string())
    })
}

/// The bigint a query returns for `caller` (panics on error).
async fn count_as(db: &Db, caller: &Caller, sql: &str) -> i64 {
    as_caller(db, caller, sql, true)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Rows a statement affects for `caller`, or PostgreSQL's error.
async fn exec_as(db: &Db, caller: &Caller, sql: &str) -> Result<i64, String> {
    as_caller(db, caller, sql, false).await
}

/// Rows of `table` visible to `caller` (every test table holds one row per tenant).
async fn visible(db: &Db, caller: &Caller, table: &str) -> i64 {
    count_as(db, caller, &format!("SELECT count(*) FROM {table}")).await
}

/// A boolean the superuser computes (privilege checks).
async fn is_true(db: &Db, sql: &str) -> bool {
    let client = pg_harness::shared()
        .connect(&db.name)
        .await
        .expect("connect");
    client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .get::<_, bool>(0)
}

// ---------------------------------------------------------------------------------------------
// One test per rule
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rls_disabled() {
    let db = database(&format!(
        "{COUNTRIES}
         CREATE TABLE bad (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                           org_id uuid NOT NULL REFERENCES organizations);
         INSERT INTO bad (org_id) VALUES ($A), ($B);
         -- tenanted through bad, readable only
         CREATE TABLE bad_notes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                                 bad_id uuid NOT NULL REFERENCES bad);
         REVOKE INSERT, UPDATE, DELETE ON bad_notes FROM anon, authenticated;
         -- no RLS, but no API role can reach it
         CREATE TABLE internal (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                                org_id uuid NOT NULL REFERENCES organizations);
         REVOKE ALL ON internal FROM anon, authenticated;
         {}",
        isolated_table("good")
    ))
    .await;
    assert_eq!(visible(&db, &anon(), "bad").await, 2);
    assert_eq!(visible(&db, &alice(), "good").await, 1);
    let e = exec_as(&db, &anon(), "SELECT 1 FROM internal").await;
    assert!(e.is_err_and(|e| e.contains("permission denied")));

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "rls-disabled"),
        ["table:public.bad", "table:public.bad_notes"]
    );
    let f = finding(&findings, "rls-disabled", "table:public.bad");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.policy, None);
    assert_eq!(
        f.evidence["privileges"],
        json!([
            "anon (SELECT, INSERT, UPDATE, DELETE)",
            "authenticated (SELECT, INSERT, UPDATE, DELETE)"
        ])
    );
    let fix = f.fix.as_deref().expect("fix");
    assert!(fix.contains("ENABLE ROW LEVEL SECURITY"), "{fix}");
    assert!(fix.contains("CREATE POLICY tenant_isolation"), "{fix}");
    let f = finding(&findings, "rls-disabled", "table:public.bad_notes");
    assert_eq!(
        f.evidence["privileges"],
        json!(["anon (SELECT)", "authenticated (SELECT)"])
    );
}

#[tokio::test]
async fn rls_no_policy() {
    let db = database(&format!(
        "{COUNTRIES}
         ALTER TABLE countries ENABLE ROW LEVEL SECURITY;
         {}{}",
        tenant_table("locked", &[]),
        isolated_table("with_policy")
    ))
    .await;
    assert_eq!(visible(&db, &alice(), "locked").await, 0);

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "rls-no-policy"),
        ["table:public.locked"]
    );
    let f = finding(&findings, "rls-no-policy", "table:public.locked");
    assert_eq!(f.severity, Severity::Info);
    let fix = f.fix.as_deref().expect("fix");
    assert!(fix.contains("CREATE POLICY tenant_isolation"), "{fix}");
    // Denying everything is not a leak.
    assert_eq!(objects_of(&findings, "policy-not-tenant-bound"), NONE);
    assert_eq!(objects_of(&findings, "rls-disabled"), NONE);
}

#[tokio::test]
async fn policy_not_tenant_bound() {
    let select = |using: &str| format!("FOR SELECT TO authenticated USING ({using})");
    let mut sql = String::from(
        "CREATE TABLE members (user_id uuid NOT NULL, org_id uuid NOT NULL REFERENCES organizations);
         CREATE INDEX ON members (org_id);
         ALTER TABLE members ENABLE ROW LEVEL SECURITY;
         CREATE POLICY own ON members FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
         INSERT INTO members VALUES ($ALICE, $A), ($BOB, $B);
         -- no RLS: every caller reads every membership
         CREATE TABLE members_open (user_id uuid NOT NULL, org_id uuid NOT NULL REFERENCES organizations);
         INSERT INTO members_open VALUES ($ALICE, $A), ($BOB, $B);
         -- ignores its argument: any signed-in user passes
         CREATE FUNCTION signed_in(o uuid) RETURNS boolean LANGUAGE sql STABLE
           AS $fn$ SELECT auth.uid() IS NOT NULL $fn$;\n",
    );
    // Leaking.
    for (t, using) in [
        ("using_true", "true"),
        ("tautology", "org_id = org_id"),
        ("not_null", "org_id IS NOT NULL"),
        ("role_only", "auth.role() = 'authenticated'"),
        (
            "membership_open",
            "org_id IN (SELECT m.org_id FROM members_open m)",
        ),
        ("helper_ignores", "signed_in(org_id)"),
    ] {
        sql.push_str(&tenant_table(t, &[("p", select(using).as_str())]));
    }
    sql.push_str(&tenant_table(
        "delete_open",
        &[
            ("read", select("org_id = $CLAIM").as_str()),
            ("wipe", "FOR DELETE TO authenticated USING (true)"),
        ],
    ));
    // A child whose parent's policy is open: EXISTS through the parent is open too.
    sql.push_str(
        "CREATE TABLE open_children (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                                     parent_id uuid NOT NULL REFERENCES using_true);
         ALTER TABLE open_children ENABLE ROW LEVEL SECURITY;
         CREATE POLICY p ON open_children FOR SELECT TO authenticated
           USING (EXISTS (SELECT 1 FROM using_true u WHERE u.id = parent_id));
         INSERT INTO open_children (parent_id) SELECT id FROM using_true;\n",
    );
    // Safe.
    sql.push_str(&isolated_table("projects"));
    for (t, using) in [
        ("wrapped", "org_id = (SELECT $CLAIM)"),
        (
            "app_metadata",
            "org_id = ((auth.jwt() -> 'app_metadata') ->> 'organization_id')::uuid",
        ),
        (
            "membership",
            "org_id IN (SELECT m.org_id FROM members m WHERE m.user_id = auth.uid())",
        ),
        (
            "text_cast",
            "org_id::text = auth.jwt() ->> 'organization_id'",
        ),
    ] {
        sql.push_str(&tenant_table(t, &[("p", select(using).as_str())]));
    }
    sql.push_str(&tenant_table(
        "fenced",
        &[
            ("open", select("true").as_str()),
            (
                "fence",
                "AS RESTRICTIVE FOR ALL TO authenticated USING (org_id = (SELECT $CLAIM))",
            ),
        ],
    ));
    sql.push_str(
        "CREATE TABLE tasks (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                             project_id uuid NOT NULL REFERENCES projects ON DELETE CASCADE);
         CREATE INDEX ON tasks (project_id);
         ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
         CREATE POLICY p ON tasks FOR SELECT TO authenticated
           USING (EXISTS (SELECT 1 FROM projects p WHERE p.id = project_id));
         INSERT INTO tasks (project_id) SELECT id FROM projects;\n",
    );
    let db = database(&sql).await;

    let leaking = [
        "helper_ignores",
        "membership_open",
        "not_null",
        "open_children",
        "role_only",
        "tautology",
        "using_true",
    ];
    let safe = [
        "app_metadata",
        "delete_open",
        "fenced",
        "membership",
        "projects",
        "tasks",
        "text_cast",
        "wrapped",
    ];
    for t in leaking {
        assert_eq!(visible(&db, &alice(), t).await, 2, "{t} leaks");
    }
    for t in safe {
        assert_eq!(visible(&db, &alice(), t).await, 1, "{t} is isolated");
    }
    // DELETE without a WHERE skips the SELECT policies: the DELETE policy alone decides.
    assert_eq!(
        exec_as(&db, &alice(), "DELETE FROM delete_open").await,
        Ok(2)
    );
    assert_eq!(exec_as(&db, &alice(), "DELETE FROM projects").await, Ok(1));

    let findings = audit(&db).await;
    let mut expected: Vec<String> = leaking
        .iter()
        .chain(["delete_open"].iter())
        .map(|t| format!("table:public.{t}"))
        .collect();
    expected.sort();
    assert_eq!(objects_of(&findings, "policy-not-tenant-bound"), expected);
    for t in leaking {
        let f = finding(
            &findings,
            "policy-not-tenant-bound",
            &format!("table:public.{t}"),
        );
        assert_eq!(f.policy.as_deref(), Some("p"), "{t}");
        assert_eq!(cells(f), &json!(["authenticated: select"]), "{t}");
    }
    let kind = |t: &str| {
        finding(
            &findings,
            "policy-not-tenant-bound",
            &format!("table:public.{t}"),
        )
        .evidence["kind"]
            .clone()
    };
    assert_eq!(kind("using_true"), "always_true");
    assert_eq!(kind("tautology"), "tautology");
    assert_eq!(kind("not_null"), "tautology");
    assert_eq!(kind("role_only"), "role_only");
    assert_eq!(kind("membership_open"), "membership");
    assert_eq!(kind("helper_ignores"), "helper");
    assert_eq!(kind("open_children"), "membership");
    let f = finding(
        &findings,
        "policy-not-tenant-bound",
        "table:public.delete_open",
    );
    assert_eq!(f.policy.as_deref(), Some("wipe"));
    assert_eq!(cells(f), &json!(["authenticated: delete"]));
    assert_eq!(f.evidence["kind"], "always_true");
    let fix = f.fix.as_deref().expect("fix");
    assert!(fix.contains("DROP POLICY IF EXISTS wipe"), "{fix}");
}

/// A read-only `USING (true)` whose author says the rows are public ("Anyone can view
/// services" on a booking site) is still reported, as a medium question, not a critical leak.
/// The same words on a write, or a `true` without them, stay critical.
#[tokio::test]
async fn policy_not_tenant_bound_published_catalogue() {
    let mut sql = String::new();
    sql.push_str(&tenant_table(
        "services",
        &[("\"Anyone can view services\"", "FOR SELECT USING (true)")],
    ));
    sql.push_str(&tenant_table(
        "otp_codes",
        &[("\"Anyone can update OTP codes\"", "FOR UPDATE USING (true)")],
    ));
    sql.push_str(&tenant_table(
        "invoices",
        &[("read", "FOR SELECT USING (true)")],
    ));
    sql.push_str(&isolated_table("projects"));
    let db = database(&sql).await;
    // Ground truth: every caller reads both tenants' services.
    assert_eq!(visible(&db, &alice(), "services").await, 2);
    let findings = audit(&db).await;
    let severity = |t: &str| {
        finding(
            &findings,
            "policy-not-tenant-bound",
            &format!("table:public.{t}"),
        )
        .severity
    };
    assert_eq!(severity("services"), Severity::Medium);
    assert_eq!(severity("otp_codes"), Severity::Critical);
    assert_eq!(severity("invoices"), Severity::Critical);
    let f = finding(
        &findings,
        "policy-not-tenant-bound",
        "table:public.services",
    );
    assert!(
        f.message.ends_with("; the policy's name \"Anyone can view services\" says the rows are public, so this may be a public catalogue by design: confirm every tenant's rows are meant to be readable by anyone"),
        "{}",
        f.message
    );
}

/// Membership written as `= ANY (ARRAY(…))` (the form membership-in-subquery recommends), or
/// through a set-returning or SECURITY DEFINER helper (the form Supabase recommends to avoid
/// policy recursion). Inside a SECURITY DEFINER helper the RLS of the tables it reads does not
/// apply (its owner bypasses it).
#[tokio::test]

async fn policy_not_tenant_bound_membership_helpers() {
    let select = |using: &str| format!("FOR SELECT TO authenticated USING ({using})");
    let mut sql = String::from(
        "CREATE TABLE members (user_id uuid NOT NULL, org_id uuid NOT NULL REFERENCES organizations);
         CREATE INDEX ON members (org_id);
         ALTER TABLE members ENABLE ROW LEVEL SECURITY;
         CREATE POLICY own ON members FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
         INSERT INTO members VALUES ($ALICE, $A), ($BOB, $B);
         CREATE TABLE members_open (user_id uuid NOT NULL, org_id uuid NOT NULL REFERENCES organizations);
         INSERT INTO members_open VALUES ($ALICE, $A), ($BOB, $B);
         CREATE FUNCTION my_orgs() RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
           SET search_path = ''
           AS $fn$ SELECT org_id FROM public.members WHERE user_id = auth.uid() $fn$;
         CREATE FUNCTION has_members(o uuid) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
           SET search_path = ''
           AS $fn$ SELECT EXISTS (SELECT 1 FROM public.members m WHERE m.org_id = o) $fn$;
         CREATE FUNCTION is_member(o uuid) RETURNS boolean LANGUAGE sql STABLE
           AS $fn$ SELECT EXISTS (SELECT 1 FROM members m WHERE m.org_id = o) $fn$;\n",
    );
    for (t, using) in [
        // leaking
        (
            "any_open",
            "org_id = ANY (ARRAY(SELECT m.org_id FROM members_open m))",
        ),
        ("definer_helper", "has_members(org_id)"),
        // safe
        ("in_my_orgs", "org_id IN (SELECT my_orgs())"),
        ("invoker_helper", "is_member(org_id)"),
    ] {
        sql.push_str(&tenant_table(t, &[("p", select(using).as_str())]));
    }
    let db = database(&sql).await;
    for t in ["any_open", "definer_helper"] {
        assert_eq!(visible(&db, &alice(), t).await, 2, "{t} leaks");
    }
    for t in ["in_my_orgs", "invoker_helper"] {
        assert_eq!(visible(&db, &alice(), t).await, 1, "{t} is isolated");
    }

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "policy-not-tenant-bound"),
        ["table:public.any_open", "table:public.definer_helper"]
    );
    assert_eq!(objects_of(&findings, "policy-unverifiable"), NONE);
}

#[tokio::test]
async fn with_check_not_tenant_bound() {
    let read = (
        "read",
        "FOR SELECT TO authenticated USING (org_id = $CLAIM)",
    );
    let db = database(&format!(
        "{}{}{}{}{}",
        tenant_table(
            "insert_open",
            &[
                read,
                ("write", "FOR INSERT TO authenticated WITH CHECK (true)")
            ]
        ),
        tenant_table(
            "update_open",
            &[
                read,
                (
                    "move",
                    "FOR UPDATE TO authenticated USING (org_id = $CLAIM) WITH CHECK (true)"
                )
            ]
        ),
        isolated_table("projects"),
        tenant_table(
            "insert_ok",
            &[
                read,
                (
                    "write",
                    "FOR INSERT TO authenticated WITH CHECK (org_id = $CLAIM)"
                )
            ]
        ),
        // No WITH CHECK: USING checks the new row too.
        tenant_table(
            "update_ok",
            &[
                read,
                (
                    "move",
                    "FOR UPDATE TO authenticated USING (org_id = $CLAIM)"
                )
            ]
        ),
    ))
    .await;
    let insert_b = |t: &str| format!("INSERT INTO {t} (org_id) VALUES ($B)");
    let move_to_b = |t: &str| format!("UPDATE {t} SET org_id = $B");
    assert_eq!(
        exec_as(&db, &alice(), &insert_b("insert_open")).await,
        Ok(1)
    );
    assert_eq!(
        exec_as(&db, &alice(), &move_to_b("update_open")).await,
        Ok(1)
    );
    for t in ["insert_ok", "projects"] {
        let e = exec_as(&db, &alice(), &insert_b(t)).await.unwrap_err();
        assert!(e.contains("row-level security"), "{t}: {e}");
    }
    for t in ["update_ok", "projects"] {
        let e = exec_as(&db, &alice(), &move_to_b(t)).await.unwrap_err();
        assert!(e.contains("row-level security"), "{t}: {e}");
    }

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "with-check-not-tenant-bound"),
        ["table:public.insert_open", "table:public.update_open"]
    );
    let f = finding(
        &findings,
        "with-check-not-tenant-bound",
        "table:public.insert_open",
    );
    assert_eq!(f.policy.as_deref(), Some("write"));
    assert_eq!(cells(f), &json!(["authenticated: insert"]));
    assert_eq!(f.evidence["kind"], "always_true");
    let f = finding(
        &findings,
        "with-check-not-tenant-bound",
        "table:public.update_open",
    );
    assert_eq!(f.policy.as_deref(), Some("move"));
    assert_eq!(cells(f), &json!(["authenticated: update"]));
    // The read side of these tables is fine.
    assert_eq!(objects_of(&findings, "policy-not-tenant-bound"), NONE);
}

#[tokio::test]
async fn untrusted_tenant_claim() {
    let db = database(&format!(
        "{}{}",
        tenant_table(
            "user_meta",
            &[(
                "p",
                "FOR SELECT TO authenticated
                 USING (org_id = ((auth.jwt() -> 'user_metadata') ->> 'organization_id')::uuid)"
            )]
        ),
        tenant_table(
            "app_meta",
            &[(
                "p",
                "FOR SELECT TO authenticated
                 USING (org_id = ((auth.jwt() -> 'app_metadata') ->> 'organization_id')::uuid)"
            )]
        ),
    ))
    .await;
    // Alice edits her own user_metadata (supabase.auth.updateUser) to name tenant B.
    let mut mallory = alice();
    mallory.claims["user_metadata"] = json!({ "organization_id": B });
    let of_b = |t: &str| format!("SELECT count(*) FROM {t} WHERE org_id = $B");
    assert_eq!(count_as(&db, &mallory, &of_b("user_meta")).await, 1);
    assert_eq!(count_as(&db, &mallory, &of_b("app_meta")).await, 0);

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "untrusted-tenant-claim"),
        ["table:public.user_meta"]
    );
    let f = finding(
        &findings,
        "untrusted-tenant-claim",
        "table:public.user_meta",
    );
    assert_eq!(f.policy.as_deref(), Some("p"));
    assert_eq!(f.evidence["kind"], "untrusted_claim");
    assert_eq!(cells(f), &json!(["authenticated: select"]));
    assert!(
        f.evidence["witness"]
            .as_str()
            .is_some_and(|w| w.contains("user_metadata")),
        "{f:?}"
    );
    // Reported once, by the specific rule.
    assert_eq!(objects_of(&findings, "policy-not-tenant-bound"), NONE);
}

#[tokio::test]
async fn claim_fallback_opens_rows() {
    // Policies for every role (no TO): an anonymous request carries no tenant claim.
    let db = database(&format!(
        "{}{}{}",
        tenant_table(
            "coalesced",
            &[(
                "p",
                "FOR SELECT USING (org_id = coalesce((auth.jwt() ->> 'organization_id')::uuid, org_id))"
            )]
        ),
        tenant_table(
            "uid_null_or",
            &[(
                "p",
                "FOR SELECT USING (auth.uid() IS NULL OR org_id = $CLAIM)"
            )]
        ),
        tenant_table(
            "projects",
            &[("p", "FOR SELECT USING (org_id = (SELECT $CLAIM))")]
        ),
    ))
    .await;
    assert_eq!(visible(&db, &anon(), "coalesced").await, 2);
    assert_eq!(visible(&db, &anon(), "uid_null_or").await, 2);
    assert_eq!(visible(&db, &anon(), "projects").await, 0);
    assert_eq!(visible(&db, &alice(), "coalesced").await, 1);

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "claim-fallback-opens-rows"),
        ["table:public.coalesced", "table:public.uid_null_or"]
    );
    for t in ["coalesced", "uid_null_or"] {
        let f = finding(
            &findings,
            "claim-fallback-opens-rows",
            &format!("table:public.{t}"),
        );
        assert_eq!(f.policy.as_deref(), Some("p"), "{t}");
        assert_eq!(f.evidence["kind"], "fallback", "{t}");
        assert_eq!(
            cells(f),
            &json!(["anon: select", "authenticated: select"]),
            "{t}"
        );
    }
    assert_eq!(objects_of(&findings, "policy-not-tenant-bound"), NONE);
}

#[tokio::test]
async fn policy_pins_other_column() {
    let db = database(&format!(
        "{}{}
         -- a row of tenant B whose id happens to be tenant A's id
         INSERT INTO pins_id (id, org_id) VALUES ($A, $B);",
        tenant_table(
            "pins_id",
            &[("p", "FOR SELECT TO authenticated USING (id = $CLAIM)")]
        ),
        isolated_table("projects"),
    ))
    .await;
    let of_b = "SELECT count(*) FROM pins_id WHERE org_id = $B";
    assert_eq!(count_as(&db, &alice(), of_b).await, 1);

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "policy-pins-other-column"),
        ["table:public.pins_id"]
    );
    let f = finding(
        &findings,
        "policy-pins-other-column",
        "table:public.pins_id",
    );
    assert_eq!(f.policy.as_deref(), Some("p"));
    assert_eq!(f.evidence["kind"], "other_column");
    assert_eq!(cells(f), &json!(["authenticated: select"]));
    assert!(
        f.evidence["witness"]
            .as_str()
            .is_some_and(|w| w.starts_with("id =")),
        "{f:?}"
    );
    assert_eq!(objects_of(&findings, "policy-not-tenant-bound"), NONE);
}

#[tokio::test]
async fn policy_unverifiable() {
    let db = database(&format!(
        "-- A PL/pgSQL helper with more than one statement is not inlined.
         CREATE FUNCTION current_org() RETURNS uuid LANGUAGE plpgsql STABLE
           AS $fn$ DECLARE o uuid; BEGIN o := (auth.jwt() ->> 'organization_id')::uuid; RETURN o; END $fn$;
         {}{}{}",
        tenant_table(
            "guc",
            &[(
                "p",
                "FOR SELECT TO authenticated USING (org_id = current_setting('app.tenant_id')::uuid)"
            )]
        ),
        tenant_table(
            "plpgsql_helper",
            &[(
                "p",
                "FOR SELECT TO authenticated USING (org_id = current_org())"
            )]
        ),
        isolated_table("projects"),
    ))
    .await;
    // A client that can SET the setting picks its tenant.
    let mut alice_as_b = alice();
    alice_as_b.setup = "SELECT set_config('app.tenant_id', $B, true);";
    let of_b = "SELECT count(*) FROM guc WHERE org_id = $B";
    assert_eq!(count_as(&db, &alice_as_b, of_b).await, 1);

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "policy-unverifiable"),
        ["table:public.guc", "table:public.plpgsql_helper"]
    );
    let f = finding(&findings, "policy-unverifiable", "table:public.guc");
    assert_eq!(f.policy.as_deref(), Some("p"));
    assert_eq!(cells(f), &json!(["authenticated: select"]));
    let reason = f.evidence["reason"].as_str().expect("reason");
    assert!(reason.contains("app.tenant_id"), "{reason}");
    assert!(reason.contains("trusted_settings"), "{reason}");
    let f = finding(
        &findings,
        "policy-unverifiable",
        "table:public.plpgsql_helper",
    );
    let reason = f.evidence["reason"].as_str().expect("reason");
    assert!(
        reason.contains("current_org") && reason.contains("plpgsql"),
        "{reason}"
    );

    // Declared as set server-side, the setting is a tenant value.
    let access = AccessConfig {
        trusted_settings: vec!["app.tenant_id".into()],
        ..AccessConfig::default()
    };
    let findings = audit_with(&db, &access, &RulesConfig::default()).await;
    assert_eq!(
        objects_of(&findings, "policy-unverifiable"),
        ["table:public.plpgsql_helper"]
    );
}

#[tokio::test]
async fn inconsistent_claim_names() {
    let db = database(&format!(
        "{}{}{}",
        isolated_table("projects"),
        tenant_table(
            "invoices",
            &[("p", "FOR SELECT TO authenticated USING (org_id = (SELECT $CLAIM))")]
        ),
        tenant_table(
            "odd",
            &[(
                "p",
                "FOR SELECT TO authenticated USING (org_id = (SELECT (auth.jwt() ->> 'org_id')::uuid))"
            )]
        ),
    ))
    .await;
    // The JWT carries organization_id: the odd policy silently shows nothing.
    assert_eq!(visible(&db, &alice(), "projects").await, 1);
    assert_eq!(visible(&db, &alice(), "odd").await, 0);

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "inconsistent-claim-names"),
        ["table:public.odd"]
    );
    let f = finding(&findings, "inconsistent-claim-names", "table:public.odd");
    assert_eq!(f.policy.as_deref(), Some("p"));
    assert_eq!(f.evidence["claims"], json!(["org_id"]));
    assert_eq!(f.evidence["most_policies_read"], "organization_id");
}

#[tokio::test]
async fn rls_not_forced() {
    let db = database(&format!(
        "{}{}{}{}
         {}{}{}{}
         ALTER TABLE unforced OWNER TO tg_nf_owner;
         ALTER TABLE forced OWNER TO tg_nf_owner;
         ALTER TABLE forced FORCE ROW LEVEL SECURITY;
         ALTER TABLE group_owned OWNER TO tg_nf_group;
         ALTER TABLE lonely_owned OWNER TO tg_nf_lonely;",
        role("tg_nf_owner", "LOGIN"),
        role("tg_nf_group", "NOLOGIN"),
        role("tg_nf_member", "LOGIN INHERIT IN ROLE tg_nf_group"),
        role("tg_nf_lonely", "NOLOGIN"),
        isolated_table("unforced"),
        isolated_table("forced"),
        isolated_table("group_owned"),
        isolated_table("lonely_owned"),
    ))
    .await;
    let owner = |role| Caller {
        role,
        claims: json!({}),
        setup: "",
    };
    assert_eq!(visible(&db, &owner("tg_nf_owner"), "unforced").await, 2);
    assert_eq!(visible(&db, &owner("tg_nf_owner"), "forced").await, 0);
    assert_eq!(visible(&db, &owner("tg_nf_member"), "group_owned").await, 2);

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "rls-not-forced"),
        ["table:public.group_owned", "table:public.unforced"]
    );
    let f = finding(&findings, "rls-not-forced", "table:public.unforced");
    assert_eq!(f.evidence["owner"], "tg_nf_owner");
    assert_eq!(f.evidence["login_roles"], json!(["tg_nf_owner"]));
    let fix = f.fix.as_deref().expect("fix");
    assert!(fix.contains("FORCE ROW LEVEL SECURITY"), "{fix}");
    let f = finding(&findings, "rls-not-forced", "table:public.group_owned");
    assert_eq!(f.evidence["owner"], "tg_nf_group");
    assert_eq!(f.evidence["login_roles"], json!(["tg_nf_member"]));
}

#[tokio::test]
async fn login_role_bypasses_rls() {
    let db = database(&format!(
        "{}{}{}",
        role("tg_lb_bypass", "LOGIN BYPASSRLS"),
        role("tg_lb_super", "LOGIN SUPERUSER"),
        role("tg_lb_nologin", "NOLOGIN BYPASSRLS"),
    ))
    .await;

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "login-role-bypasses-rls"),
        ["role:tg_lb_bypass", "role:tg_lb_super"]
    );
    let f = finding(&findings, "login-role-bypasses-rls", "role:tg_lb_bypass");
    assert_eq!(f.object.schema, "");
    assert_eq!(f.evidence["bypass_rls"], true);
    assert_eq!(f.evidence["superuser"], false);
    assert_eq!(
        f.fix.as_deref(),
        Some("ALTER ROLE tg_lb_bypass NOBYPASSRLS;")
    );
    let f = finding(&findings, "login-role-bypasses-rls", "role:tg_lb_super");
    assert_eq!(f.evidence["superuser"], true);

    // A platform administrator listed in admin_roles is expected to bypass RLS.
    let mut rules = RulesConfig::default();
    rules.admin_roles.push("tg_lb_super".into());
    let findings = audit_with(&db, &AccessConfig::default(), &rules).await;
    assert_eq!(
        objects_of(&findings, "login-role-bypasses-rls"),
        ["role:tg_lb_bypass"]
    );
}

#[tokio::test]
async fn view_bypasses_rls() {
    let db = database(&format!(
        "{COUNTRIES}{}{}
         CREATE VIEW leaky_view AS SELECT id, org_id FROM projects;
         CREATE VIEW safe_view WITH (security_invoker = true) AS SELECT id, org_id FROM projects;
         CREATE VIEW country_view AS SELECT code FROM countries;
         CREATE VIEW private_view AS SELECT id, org_id FROM projects;
         REVOKE ALL ON private_view FROM anon, authenticated;
         -- owned by a role that neither owns projects nor bypasses RLS: projects' RLS applies
         CREATE VIEW viewer_view AS SELECT id, org_id FROM projects;
         GRANT SELECT ON projects TO tg_vb_viewer;
         ALTER VIEW viewer_view OWNER TO tg_vb_viewer;",
        role("tg_vb_viewer", "NOLOGIN"),
        isolated_table("projects"),
    ))
    .await;
    assert_eq!(visible(&db, &alice(), "leaky_view").await, 2);
    assert_eq!(visible(&db, &alice(), "safe_view").await, 1);
    assert_eq!(visible(&db, &alice(), "viewer_view").await, 0);

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "view-bypasses-rls"),
        ["view:public.leaky_view"]
    );
    let f = finding(&findings, "view-bypasses-rls", "view:public.leaky_view");
    assert_eq!(f.evidence["owner"], "postgres");
    assert_eq!(f.evidence["tables"], json!(["public.projects"]));
    assert_eq!(f.evidence["readers"], json!(["anon", "authenticated"]));
    assert_eq!(
        f.fix.as_deref(),
        Some("ALTER VIEW public.leaky_view SET (security_invoker = true);")
    );
}

/// `security_invoker` is a boolean reloption: PostgreSQL stores it as written (`yes`, `1`, `on`)
/// and accepts every boolean spelling.
#[tokio::test]

async fn view_bypasses_rls_security_invoker_spellings() {
    let db = database(&format!(
        "{}
         CREATE VIEW yes_view WITH (security_invoker = yes) AS SELECT id, org_id FROM projects;
         CREATE VIEW one_view WITH (security_invoker = 1) AS SELECT id, org_id FROM projects;
         CREATE VIEW off_view WITH (security_invoker = off) AS SELECT id, org_id FROM projects;",
        isolated_table("projects"),
    ))
    .await;
    assert_eq!(visible(&db, &alice(), "yes_view").await, 1);
    assert_eq!(visible(&db, &alice(), "one_view").await, 1);
    assert_eq!(visible(&db, &alice(), "off_view").await, 2);

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "view-bypasses-rls"),
        ["view:public.off_view"]
    );
}
#[tokio::test]
async fn materialized_view_exposed() {
    let db = database(&format!(
        "{COUNTRIES}{}
         CREATE MATERIALIZED VIEW project_stats AS SELECT org_id, count(*) AS n FROM projects GROUP BY org_id;
         CREATE MATERIALIZED VIEW private_stats AS SELECT org_id, count(*) AS n FROM projects GROUP BY org_id;
         REVOKE ALL ON private_stats FROM anon, authenticated;
         CREATE MATERIALIZED VIEW country_codes AS SELECT code FROM countries;",
        isolated_table("projects"),
    ))
    .await;
    assert_eq!(visible(&db, &alice(), "project_stats").await, 2);
    let e = exec_as(&db, &alice(), "SELECT * FROM private_stats")
        .await
        .unwrap_err();
    assert!(e.contains("permission denied"), "{e}");

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "materialized-view-exposed"),
        ["materialized_view:public.project_stats"]
    );
    let f = finding(
        &findings,
        "materialized-view-exposed",
        "materialized_view:public.project_stats",
    );
    assert_eq!(f.evidence["tables"], json!(["public.projects"]));
    assert_eq!(f.evidence["readers"], json!(["anon", "authenticated"]));
}

/// A materialized view is filled by its owner whatever it reads through: over a view (even a
/// security_invoker one) of a tenant table it still holds every tenant's rows.
#[tokio::test]

async fn materialized_view_exposed_through_a_view() {
    let db = database(&format!(
        "{}
         CREATE VIEW project_list WITH (security_invoker = true) AS SELECT id, org_id FROM projects;
         CREATE MATERIALIZED VIEW project_snapshot AS SELECT id, org_id FROM project_list;",
        isolated_table("projects"),
    ))
    .await;
    assert_eq!(visible(&db, &alice(), "project_list").await, 1);
    assert_eq!(visible(&db, &alice(), "project_snapshot").await, 2);

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "materialized-view-exposed"),
        ["materialized_view:public.project_snapshot"]
    );
    let f = finding(
        &findings,
        "materialized-view-exposed",
        "materialized_view:public.project_snapshot",
    );
    assert_eq!(f.evidence["tables"], json!(["public.projects"]));
}
#[tokio::test]
async fn foreign_table_exposed() {
    let db = database(
        "CREATE FOREIGN DATA WRAPPER dummy;
         CREATE SERVER s FOREIGN DATA WRAPPER dummy;
         CREATE FOREIGN TABLE ft (org_id uuid) SERVER s;
         CREATE FOREIGN TABLE ft_private (org_id uuid) SERVER s;
         REVOKE ALL ON ft_private FROM anon, authenticated;",
    )
    .await;
    assert!(is_true(&db, "SELECT has_table_privilege('anon', 'ft', 'SELECT')").await);
    assert!(
        !is_true(
            &db,
            "SELECT has_table_privilege('authenticated', 'ft_private', 'SELECT')"
        )
        .await
    );

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "foreign-table-exposed"),
        ["foreign_table:public.ft"]
    );
    let f = finding(
        &findings,
        "foreign-table-exposed",
        "foreign_table:public.ft",
    );
    assert_eq!(f.evidence["readers"], json!(["anon", "authenticated"]));
    assert_eq!(
        f.fix.as_deref(),
        Some("REVOKE ALL ON public.ft FROM anon, authenticated;")
    );
}

#[tokio::test]
async fn partition_bypasses_rls() {
    let db = database(
        "CREATE TABLE events (id uuid NOT NULL DEFAULT gen_random_uuid(),
                              org_id uuid NOT NULL REFERENCES organizations,
                              at date NOT NULL) PARTITION BY RANGE (at);
         CREATE INDEX ON events (org_id);
         ALTER TABLE events ENABLE ROW LEVEL SECURITY;
         CREATE POLICY tenant ON events FOR ALL TO authenticated
           USING (org_id = $CLAIM) WITH CHECK (org_id = $CLAIM);
         CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
         REVOKE ALL ON events_2023 FROM anon, authenticated;
         CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
         CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
         ALTER TABLE events_2025 ENABLE ROW LEVEL SECURITY;
         INSERT INTO events (org_id, at) VALUES ($A, '2024-06-01'), ($B, '2024-06-01'),
                                                ($A, '2025-06-01'), ($B, '2025-06-01');
         -- no RLS anywhere: the parent's rls-disabled finding covers its partitions
         CREATE TABLE logs (org_id uuid NOT NULL REFERENCES organizations, at date NOT NULL)
           PARTITION BY RANGE (at);
         CREATE TABLE logs_2024 PARTITION OF logs FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');",
    )
    .await;
    assert_eq!(visible(&db, &alice(), "events").await, 2);
    assert_eq!(visible(&db, &alice(), "events_2024").await, 2);
    assert_eq!(visible(&db, &alice(), "events_2025").await, 0);

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "partition-bypasses-rls"),
        ["table:public.events_2024"]
    );
    let f = finding(
        &findings,
        "partition-bypasses-rls",
        "table:public.events_2024",
    );
    assert_eq!(f.evidence["parent"], "public.events");
    assert_eq!(f.evidence["readers"], json!(["anon", "authenticated"]));
    assert_eq!(objects_of(&findings, "rls-disabled"), ["table:public.logs"]);
}

#[tokio::test]
async fn security_definer_exposed() {
    let db = database(&format!(
        "{COUNTRIES}{}
         CREATE FUNCTION project_count() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
           AS $fn$ SELECT count(*) FROM projects $fn$;
         CREATE FUNCTION my_project_count() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
           AS $fn$ SELECT count(*) FROM projects
                   WHERE org_id = (auth.jwt() ->> 'organization_id')::uuid $fn$;
         CREATE FUNCTION admin_project_count() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
           AS $fn$ SELECT count(*) FROM projects $fn$;
         REVOKE EXECUTE ON FUNCTION admin_project_count() FROM PUBLIC, anon, authenticated;
         CREATE FUNCTION purge_projects() RETURNS void LANGUAGE plpgsql SECURITY DEFINER
           AS $fn$ BEGIN DELETE FROM projects; END $fn$;
         CREATE FUNCTION archive_project(p uuid) RETURNS bigint LANGUAGE sql SECURITY DEFINER
           AS $fn$ WITH d AS (DELETE FROM projects WHERE id = p RETURNING 1) SELECT count(*) FROM d $fn$;
         INSERT INTO projects (id, org_id) VALUES ($B_PROJECT, $B);
         CREATE FUNCTION invoker_project_count() RETURNS bigint LANGUAGE sql STABLE
           AS $fn$ SELECT count(*) FROM projects $fn$;
         CREATE FUNCTION country_count() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
           AS $fn$ SELECT count(*) FROM countries $fn$;",
        isolated_table("projects"),
    ))
    .await;
    // One project of A, two of B.
    assert_eq!(count_as(&db, &alice(), "SELECT project_count()").await, 3);
    assert_eq!(
        count_as(&db, &alice(), "SELECT my_project_count()").await,
        1
    );
    assert_eq!(
        count_as(&db, &alice(), "SELECT invoker_project_count()").await,
        1
    );
    let e = exec_as(&db, &alice(), "SELECT admin_project_count()")
        .await
        .unwrap_err();
    assert!(e.contains("permission denied"), "{e}");
    // Alice deletes tenant B's project through the function.
    let archive = "SELECT archive_project($B_PROJECT)";
    assert_eq!(count_as(&db, &alice(), archive).await, 1);

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "security-definer-exposed"),
        [
            "function:public.archive_project",
            "function:public.project_count",
            "function:public.purge_projects"
        ]
    );
    let f = finding(
        &findings,
        "security-definer-exposed",
        "function:public.project_count",
    );
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.evidence["owner"], "postgres");
    assert_eq!(f.evidence["tables"], json!(["public.projects"]));
    assert_eq!(f.evidence["callers"], json!(["anon", "authenticated"]));
    let f = finding(
        &findings,
        "security-definer-exposed",
        "function:public.archive_project",
    );
    assert_eq!(f.evidence["arguments"], "p uuid");
}

/// Calling auth.uid()/auth.jwt() is not filtering by tenant: `WHERE auth.uid() IS NOT NULL`
/// only asks for a signed-in caller, who then reads every tenant's rows.
#[tokio::test]

async fn security_definer_exposed_auth_call_is_not_a_filter() {
    let db = database(&format!(
        "{}
         CREATE FUNCTION signed_in_project_count() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
           AS $fn$ SELECT count(*) FROM projects WHERE auth.uid() IS NOT NULL $fn$;
         CREATE FUNCTION my_project_count() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
           AS $fn$ SELECT count(*) FROM projects
                   WHERE org_id = (auth.jwt() ->> 'organization_id')::uuid $fn$;",
        isolated_table("projects"),
    ))
    .await;
    let count = |f: &str| format!("SELECT {f}()");
    assert_eq!(
        count_as(&db, &alice(), &count("signed_in_project_count")).await,
        2
    );
    assert_eq!(count_as(&db, &alice(), &count("my_project_count")).await, 1);

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "security-definer-exposed"),
        ["function:public.signed_in_project_count"]
    );
}
/// PL/pgSQL definers that return what they read (`RETURN n`, `RETURN QUERY`): the common shape.
#[tokio::test]

async fn security_definer_exposed_plpgsql_returning_rows() {
    let db = database(&format!(
        "{}
         CREATE FUNCTION project_count_plpgsql() RETURNS bigint LANGUAGE plpgsql STABLE SECURITY DEFINER
           AS $fn$ DECLARE n bigint; BEGIN SELECT count(*) INTO n FROM projects; RETURN n; END $fn$;
         CREATE FUNCTION list_projects() RETURNS SETOF projects LANGUAGE plpgsql STABLE SECURITY DEFINER
           AS $fn$ BEGIN RETURN QUERY SELECT * FROM projects; END $fn$;
         CREATE FUNCTION my_projects() RETURNS SETOF projects LANGUAGE plpgsql STABLE SECURITY DEFINER
           AS $fn$ BEGIN
                RETURN QUERY SELECT * FROM projects
                             WHERE org_id = (auth.jwt() ->> 'organization_id')::uuid;
              END $fn$;",
        isolated_table("projects"),
    ))
    .await;
    let count = |f: &str| format!("SELECT count(*) FROM {f}");
    assert_eq!(
        count_as(&db, &alice(), "SELECT project_count_plpgsql()").await,
        2
    );
    assert_eq!(count_as(&db, &alice(), &count("list_projects()")).await, 2);
    assert_eq!(count_as(&db, &alice(), &count("my_projects()")).await, 1);

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "security-definer-exposed"),
        [
            "function:public.list_projects",
            "function:public.project_count_plpgsql"
        ]
    );
    let f = finding(
        &findings,
        "security-definer-exposed",
        "function:public.list_projects",
    );
    assert_eq!(f.evidence["tables"], json!(["public.projects"]));
    assert_eq!(f.evidence["callers"], json!(["anon", "authenticated"]));
}

/// A SECURITY DEFINER function that raises unless the caller is a member of the tenant it was
/// given checks first: not exposed. A guard that only asks for a signed-in caller, or that
/// merely warns, checks nothing.
#[tokio::test]
async fn security_definer_exposed_guarded_by_membership() {
    let db = database(&format!(
        "{}
         CREATE TABLE org_members (org_id uuid NOT NULL REFERENCES organizations, user_id uuid NOT NULL);
         INSERT INTO org_members VALUES ($A, $ALICE), ($B, $BOB);
         CREATE FUNCTION is_member(_org uuid, _uid uuid) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
           AS $fn$ SELECT EXISTS (SELECT 1 FROM org_members WHERE org_id = _org AND user_id = _uid) $fn$;
         CREATE FUNCTION purge_org(_org uuid) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
           AS $fn$ BEGIN
                IF NOT is_member(_org, auth.uid()) THEN RAISE EXCEPTION 'forbidden'; END IF;
                DELETE FROM projects WHERE org_id = _org;
              END $fn$;
         CREATE FUNCTION purge_signed_in(_org uuid) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
           AS $fn$ BEGIN
                IF auth.uid() IS NULL THEN RAISE EXCEPTION 'sign in'; END IF;
                DELETE FROM projects WHERE org_id = _org;
              END $fn$;
         CREATE FUNCTION purge_warned(_org uuid) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
           AS $fn$ BEGIN
                IF NOT is_member(_org, auth.uid()) THEN RAISE WARNING 'not a member'; END IF;
                DELETE FROM projects WHERE org_id = _org;
              END $fn$;
         -- The check held in a flag first, then the guard on the flag.
         CREATE FUNCTION purge_flagged(_org uuid) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
           AS $fn$ DECLARE has_access bool; BEGIN
                has_access = (EXISTS (SELECT FROM org_members m WHERE m.user_id = auth.uid() AND m.org_id = _org));
                IF (has_access != true) THEN RAISE EXCEPTION 'no access'; END IF;
                DELETE FROM projects WHERE org_id = _org;
              END $fn$;
         -- A flag that holds something else guards nothing.
         CREATE FUNCTION purge_flag_unrelated(_org uuid) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
           AS $fn$ DECLARE ok bool; BEGIN
                ok = (auth.uid() IS NOT NULL);
                IF NOT ok THEN RAISE EXCEPTION 'sign in'; END IF;
                DELETE FROM projects WHERE org_id = _org;
              END $fn$;
         -- A lookup that hands out one id (which tenant a user is in), not tenant rows.
         CREATE TABLE staff (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES organizations, salary int);
         CREATE FUNCTION org_of_user(_uid uuid) RETURNS uuid LANGUAGE sql STABLE SECURITY DEFINER
           AS $fn$ SELECT org_id FROM staff WHERE id = _uid $fn$;
         CREATE FUNCTION salary_of_user(_uid uuid) RETURNS int LANGUAGE sql STABLE SECURITY DEFINER
           AS $fn$ SELECT salary FROM staff WHERE id = _uid $fn$;",
        isolated_table("projects"),
    ))
    .await;
    // Ground truth: Alice cannot purge B through the guarded functions, can through the others.
    for f in ["purge_org", "purge_flagged"] {
        let e = exec_as(&db, &alice(), &format!("SELECT {f}($B)"))
            .await
            .unwrap_err();
        assert!(e.contains("forbidden") || e.contains("no access"), "{e}");
    }
    exec_as(&db, &alice(), "SELECT purge_flag_unrelated($B)")
        .await
        .unwrap();
    for f in ["purge_signed_in", "purge_warned"] {
        exec_as(&db, &alice(), &format!("SELECT {f}($B)"))
            .await
            .unwrap();
    }
    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "security-definer-exposed"),
        [
            "function:public.purge_flag_unrelated",
            "function:public.purge_signed_in",
            "function:public.purge_warned",
            "function:public.salary_of_user"
        ]
    );
}

/// A definer that looks the caller up, but only to mask columns, still returns any tenant's
/// rows (zopro's `get_company_for_user`). One that filters its rows on what it looked up, or
/// returns them only in a branch on it, or raises first, does not.
#[tokio::test]
async fn security_definer_exposed_caller_lookup_that_masks_only() {
    let db = database(&format!(
        "{}
         CREATE TABLE org_members (org_id uuid NOT NULL REFERENCES organizations, user_id uuid NOT NULL);
         INSERT INTO org_members VALUES ($A, $ALICE), ($B, $BOB);
         CREATE FUNCTION project_card(_org uuid) RETURNS TABLE (id uuid, owner uuid)
           LANGUAGE plpgsql STABLE SECURITY DEFINER
           AS $fn$ DECLARE is_admin boolean; BEGIN
                SELECT EXISTS (SELECT 1 FROM org_members m WHERE m.user_id = auth.uid() AND m.org_id = _org)
                  INTO is_admin;
                RETURN QUERY SELECT p.id, CASE WHEN is_admin THEN p.org_id END
                             FROM projects p WHERE p.org_id = _org;
              END $fn$;
         CREATE FUNCTION my_projects_by_lookup() RETURNS SETOF projects
           LANGUAGE plpgsql STABLE SECURITY DEFINER
           AS $fn$ DECLARE v_org uuid; BEGIN
                SELECT m.org_id INTO v_org FROM org_members m WHERE m.user_id = auth.uid();
                RETURN QUERY SELECT * FROM projects p WHERE p.org_id = v_org;
              END $fn$;
         CREATE FUNCTION project_card_branch(_org uuid) RETURNS SETOF projects
           LANGUAGE plpgsql STABLE SECURITY DEFINER
           AS $fn$ DECLARE ok boolean; BEGIN
                SELECT EXISTS (SELECT 1 FROM org_members m WHERE m.user_id = auth.uid() AND m.org_id = _org)
                  INTO ok;
                IF ok THEN
                  RETURN QUERY SELECT * FROM projects p WHERE p.org_id = _org;
                END IF;
              END $fn$;
         CREATE FUNCTION project_card_raises(_org uuid) RETURNS SETOF projects
           LANGUAGE plpgsql STABLE SECURITY DEFINER
           AS $fn$ DECLARE ok boolean; BEGIN
                SELECT EXISTS (SELECT 1 FROM org_members m WHERE m.user_id = auth.uid() AND m.org_id = _org)
                  INTO ok;
                IF NOT ok THEN RAISE EXCEPTION 'forbidden'; END IF;
                RETURN QUERY SELECT * FROM projects p WHERE p.org_id = _org;
              END $fn$;",
        isolated_table("projects"),
    ))
    .await;
    // Ground truth: Alice reads B's project through project_card only.
    let of_b = |f: &str| format!("SELECT count(*) FROM {f}($B)");
    assert_eq!(count_as(&db, &alice(), &of_b("project_card")).await, 1);
    assert_eq!(
        count_as(&db, &alice(), &of_b("project_card_branch")).await,
        0
    );
    let e = exec_as(&db, &alice(), &of_b("project_card_raises"))
        .await
        .unwrap_err();
    assert!(e.contains("forbidden"), "{e}");
    let mine = "SELECT count(*) FROM my_projects_by_lookup() WHERE org_id = $B";
    assert_eq!(count_as(&db, &alice(), mine).await, 0);

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "security-definer-exposed"),
        ["function:public.project_card"]
    );
    let f = finding(
        &findings,
        "security-definer-exposed",
        "function:public.project_card",
    );
    assert_eq!(f.evidence["tables"], json!(["public.projects"]));
}

/// The lookup the policies trust (a profile's org_id, a members row) is writable by the caller:
/// a user repoints their own profile, or inserts themselves into another tenant's members.
/// Pinned lookups (column grants, a WITH CHECK on the column, a guard trigger, an invitation
/// check) are not reported.
#[tokio::test]
async fn tenant_pointer_writable() {
    let db = database(&format!(
        "CREATE TABLE profiles (id uuid PRIMARY KEY, org_id uuid REFERENCES organizations, full_name text);
         ALTER TABLE profiles ENABLE ROW LEVEL SECURITY;
         CREATE POLICY read_own ON profiles FOR SELECT TO authenticated USING (id = auth.uid());
         CREATE POLICY edit_own ON profiles FOR UPDATE TO authenticated USING (id = auth.uid());
         INSERT INTO profiles VALUES ($ALICE, $A, 'Alice'), ($BOB, $B, 'Bob');
         CREATE FUNCTION my_org(_uid uuid) RETURNS uuid LANGUAGE sql STABLE AS
           $fn$ SELECT org_id FROM profiles WHERE id = _uid $fn$;
         {}
         -- Pinned: only the name is writable.
         CREATE TABLE pinned_profiles (id uuid PRIMARY KEY, org_id uuid REFERENCES organizations, full_name text);
         ALTER TABLE pinned_profiles ENABLE ROW LEVEL SECURITY;
         CREATE POLICY read_own ON pinned_profiles FOR SELECT TO authenticated USING (id = auth.uid());
         CREATE POLICY edit_own ON pinned_profiles FOR UPDATE TO authenticated USING (id = auth.uid());
         REVOKE UPDATE ON pinned_profiles FROM authenticated, anon;
         GRANT UPDATE (full_name) ON pinned_profiles TO authenticated;
         INSERT INTO pinned_profiles VALUES ($ALICE, $A, 'Alice'), ($BOB, $B, 'Bob');
         {}
         -- Guarded by a trigger that refuses a new org_id.
         CREATE TABLE guarded_profiles (id uuid PRIMARY KEY, org_id uuid REFERENCES organizations);
         ALTER TABLE guarded_profiles ENABLE ROW LEVEL SECURITY;
         CREATE POLICY read_own ON guarded_profiles FOR SELECT TO authenticated USING (id = auth.uid());
         CREATE POLICY edit_own ON guarded_profiles FOR UPDATE TO authenticated USING (id = auth.uid());
         CREATE FUNCTION keep_org() RETURNS trigger LANGUAGE plpgsql AS
           $fn$ BEGIN IF NEW.org_id IS DISTINCT FROM OLD.org_id THEN RAISE EXCEPTION 'org_id is fixed'; END IF; RETURN NEW; END $fn$;
         CREATE TRIGGER keep_org BEFORE UPDATE ON guarded_profiles FOR EACH ROW EXECUTE FUNCTION keep_org();
         INSERT INTO guarded_profiles VALUES ($ALICE, $A), ($BOB, $B);
         {}
         -- Members: joining needs nothing but being yourself (leak), or an admin of the tenant.
         CREATE TABLE members (org_id uuid NOT NULL REFERENCES organizations, user_id uuid NOT NULL,
                               role text NOT NULL DEFAULT 'member', PRIMARY KEY (org_id, user_id));
         ALTER TABLE members ENABLE ROW LEVEL SECURITY;
         CREATE POLICY read_own ON members FOR SELECT TO authenticated USING (user_id = auth.uid());
         CREATE POLICY join_any ON members FOR INSERT TO authenticated WITH CHECK (user_id = auth.uid());
         INSERT INTO members VALUES ($A, $ALICE), ($B, $BOB);
         {}
         CREATE TABLE admin_members (org_id uuid NOT NULL REFERENCES organizations, user_id uuid NOT NULL,
                                     PRIMARY KEY (org_id, user_id));
         ALTER TABLE admin_members ENABLE ROW LEVEL SECURITY;
         CREATE POLICY read_own ON admin_members FOR SELECT TO authenticated USING (user_id = auth.uid());
         CREATE POLICY invite ON admin_members FOR INSERT TO authenticated
           WITH CHECK (org_id IN (SELECT a.org_id FROM admin_members a WHERE a.user_id = auth.uid()));
         INSERT INTO admin_members VALUES ($A, $ALICE), ($B, $BOB);
         {}",
        tenant_table("notes", &[("tenant", "FOR ALL TO authenticated USING (org_id = my_org(auth.uid()))")]),
        tenant_table("pinned_notes", &[("tenant", "FOR ALL TO authenticated USING (org_id = (SELECT p.org_id FROM pinned_profiles p WHERE p.id = auth.uid()))")]),
        tenant_table("guarded_notes", &[("tenant", "FOR ALL TO authenticated USING (org_id = (SELECT p.org_id FROM guarded_profiles p WHERE p.id = auth.uid()))")]),
        tenant_table("tasks", &[("tenant", "FOR ALL TO authenticated USING (EXISTS (SELECT 1 FROM members m WHERE m.org_id = tasks.org_id AND m.user_id = auth.uid()))")]),
        tenant_table("admin_tasks", &[("tenant", "FOR ALL TO authenticated USING (EXISTS (SELECT 1 FROM admin_members m WHERE m.org_id = admin_tasks.org_id AND m.user_id = auth.uid()))")]),
    ))
    .await;
    // Ground truth: Alice repoints her profile to B and reads B's note; joins B's members and
    // reads B's task. The pinned, guarded and invitation-only lookups refuse her.
    let after = |setup: &'static str| Caller { setup, ..alice() };
    let repointed = after("UPDATE profiles SET org_id = $B WHERE id = $ALICE;");
    assert_eq!(
        count_as(
            &db,
            &repointed,
            "SELECT count(*) FROM notes WHERE org_id = $B"
        )
        .await,
        1
    );
    let joined = after("INSERT INTO members VALUES ($B, $ALICE);");
    assert_eq!(
        count_as(&db, &joined, "SELECT count(*) FROM tasks WHERE org_id = $B").await,
        1
    );
    assert_eq!(visible(&db, &alice(), "notes").await, 1);
    let e = exec_as(
        &db,
        &alice(),
        "UPDATE pinned_profiles SET org_id = $B WHERE id = $ALICE",
    )
    .await
    .unwrap_err();
    assert!(e.contains("permission denied"), "{e}");
    let e = exec_as(
        &db,
        &alice(),
        "UPDATE guarded_profiles SET org_id = $B WHERE id = $ALICE",
    )
    .await
    .unwrap_err();
    assert!(e.contains("org_id is fixed"), "{e}");
    let e = exec_as(
        &db,
        &alice(),
        "INSERT INTO admin_members VALUES ($B, $ALICE)",
    )
    .await
    .unwrap_err();
    assert!(e.contains("row-level security"), "{e}");

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "tenant-pointer-writable"),
        ["table:public.members", "table:public.profiles"]
    );
    let f = finding(
        &findings,
        "tenant-pointer-writable",
        "table:public.profiles",
    );
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(
        f.evidence["lookup"],
        json!({"table": "public.profiles", "user_column": "id", "tenant_column": "org_id"})
    );
    assert_eq!(
        f.evidence["paths"],
        json!([{"role": "authenticated", "command": "update", "via": "policy \"edit_own\""}])
    );
    assert_eq!(f.evidence["opens"], json!(["public.notes"]));
    let f = finding(&findings, "tenant-pointer-writable", "table:public.members");
    assert_eq!(
        f.evidence["paths"],
        json!([{"role": "authenticated", "command": "insert", "via": "policy \"join_any\""}])
    );
    assert_eq!(f.evidence["opens"], json!(["public.tasks"]));
}

#[tokio::test]
async fn function_search_path_mutable() {
    let db = database(
        "CREATE FUNCTION no_path() RETURNS int LANGUAGE sql SECURITY DEFINER AS $fn$ SELECT 1 $fn$;
         CREATE FUNCTION pinned() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = ''
           AS $fn$ SELECT 1 $fn$;
         CREATE FUNCTION invoker() RETURNS int LANGUAGE sql AS $fn$ SELECT 1 $fn$;",
    )
    .await;

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "function-search-path-mutable"),
        ["function:public.no_path"]
    );
    let f = finding(
        &findings,
        "function-search-path-mutable",
        "function:public.no_path",
    );
    assert_eq!(f.evidence["owner"], "postgres");
    assert_eq!(f.evidence["callers"], json!(["anon", "authenticated"]));
    let fix = f.fix.as_deref().expect("fix");
    assert!(
        fix.starts_with("ALTER FUNCTION public.no_path() SET search_path = '';"),
        "{fix}"
    );
}

#[tokio::test]
async fn auth_call_per_row() {
    let bare = |t: &str, using: &str, index: bool| {
        format!(
            "CREATE TABLE {t} (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                               org_id uuid NOT NULL REFERENCES organizations);
             {}
             ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;
             CREATE POLICY p ON {t} FOR SELECT TO authenticated USING ({using});\n",
            if index {
                format!("CREATE INDEX ON {t} (org_id);")
            } else {
                String::new()
            }
        )
    };
    let db = database(&format!(
        "{}{}{}",
        bare("per_row", "org_id = $CLAIM", false),
        bare("wrapped", "org_id = (SELECT $CLAIM)", false),
        bare("indexed", "org_id = $CLAIM", true),
    ))
    .await;

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "auth-call-per-row"),
        ["table:public.per_row"]
    );
    let f = finding(&findings, "auth-call-per-row", "table:public.per_row");
    assert_eq!(f.policy.as_deref(), Some("p"));
    assert_eq!(f.evidence["expressions"], json!(["auth.jwt()"]));
}

#[tokio::test]
async fn membership_in_subquery() {
    let db = database(&format!(
        "CREATE TABLE members (user_id uuid NOT NULL, org_id uuid NOT NULL REFERENCES organizations);
         CREATE INDEX ON members (user_id);
         CREATE INDEX ON members (org_id);
         ALTER TABLE members ENABLE ROW LEVEL SECURITY;
         CREATE POLICY own ON members FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
         INSERT INTO members VALUES ($ALICE, $A), ($BOB, $B);
         {}{}",
        tenant_table(
            "in_sub",
            &[(
                "p",
                "FOR SELECT TO authenticated USING (org_id IN (
                   SELECT m.org_id FROM members m WHERE m.user_id = (SELECT auth.uid())))"
            )]
        ),
        tenant_table(
            "any_array",
            &[(
                "p",
                "FOR SELECT TO authenticated USING (org_id = ANY (ARRAY(
                   SELECT m.org_id FROM members m WHERE m.user_id = (SELECT auth.uid()))))"
            )]
        ),
    ))
    .await;
    // Both are isolated; only the plan differs.
    assert_eq!(visible(&db, &alice(), "in_sub").await, 1);
    assert_eq!(visible(&db, &alice(), "any_array").await, 1);

    let findings = audit(&db).await;
    assert_eq!(
        objects_of(&findings, "membership-in-subquery"),
        ["table:public.in_sub"]
    );
    let f = finding(&findings, "membership-in-subquery", "table:public.in_sub");
    assert_eq!(f.policy.as_deref(), Some("p"));
    let exprs = f.evidence["expressions"].as_array().expect("expressions");
    assert_eq!(exprs.len(), 1);
    assert!(
        exprs[0].as_str().is_some_and(|e| e.contains("IN (SELECT")),
        "{exprs:?}"
    );
    assert_eq!(objects_of(&findings, "policy-not-tenant-bound"), NONE);
}

/// An inheritance child of a tenant table with RLS is reported once, as a bypass path, not also
/// as a tenant table with RLS disabled.
#[tokio::test]
async fn inheritance_child_is_reported_once() {
    let db = database(
        "CREATE TABLE notes (id int, org_id uuid NOT NULL REFERENCES organizations);
         ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
         CREATE POLICY p ON notes FOR ALL TO authenticated
           USING (org_id = (SELECT (auth.jwt() ->> 'organization_id')::uuid));
         CREATE TABLE archived_notes () INHERITS (notes);",
    )
    .await;
    let findings = audit(&db).await;
    let about: Vec<&str> = findings
        .iter()
        .filter(|f| f.object.name == "archived_notes")
        .map(|f| f.rule.as_str())
        .filter(|r| r.starts_with("rls-") || r.starts_with("partition-"))
        .collect();
    assert_eq!(about, ["partition-bypasses-rls"]);
}
