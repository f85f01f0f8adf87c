//! Every attack of `tenantguard prove` on a real Supabase-style database: for each attack kind a
//! schema where it leaks and one where it is blocked, with the exact outcome and row count per
//! attacker. The pipeline runs as the CLI runs it: snapshot → tenant model → prove.
//!
//! The expected answers are PostgreSQL's, not the probe's. Tenant B has two rows in every
//! `notes_*` table (and three child rows in every `comments_*` table), so a leak's `rows` says
//! exactly how many of B's rows were reached.

use serde_json::json;
use tenantguard_access::Command;
use tenantguard_catalog::{connect, load_snapshot, SnapshotOptions};
use tenantguard_probe::{
    prove, Attack, ObjectKind, Outcome, OwnOutcome, ProofReport, ProveOptions,
};
use tenantguard_tenant_model::{TenantConfig, TenantModel};

// ---------------------------------------------------------------------------------------------
// Database builder
// ---------------------------------------------------------------------------------------------

/// The attacking tenant.
const A: &str = "11111111-1111-1111-1111-111111111111";
/// The victim.
const B: &str = "22222222-2222-2222-2222-222222222222";

/// The attacker labels of the default matrix.
const AUTH: &str = "authenticated";
const ANON: &str = "anon";
const NO_CLAIM: &str = "authenticated (no tenant claim)";

/// The trusted tenant claim, as policies read it.
const CLAIM: &str = "(SELECT (auth.jwt() ->> 'organization_id')::uuid)";

/// The safe template: one policy for every command, reading and writing one tenant.
const SAFE: &str = "FOR ALL TO authenticated USING (org_id = $CLAIM) WITH CHECK (org_id = $CLAIM)";
/// Reads bound to the tenant, nothing else.
const SELECT_TENANT: &str = "FOR SELECT TO authenticated USING (org_id = $CLAIM)";
/// Reads open to everyone (`TO public` by default).
const SELECT_OPEN: &str = "FOR SELECT USING (true)";

/// The tenant root, itself isolated, with the two tenants.
const BASE: &str = "
CREATE TABLE organizations (id uuid PRIMARY KEY, name text);
INSERT INTO organizations VALUES ($A, 'Alpha'), ($B, 'Beta');
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_org ON organizations FOR SELECT TO authenticated USING (id = $CLAIM);
";

fn expand(sql: &str) -> String {
    sql.replace("$CLAIM", CLAIM)
        .replace("$A", &format!("'{A}'"))
        .replace("$B", &format!("'{B}'"))
}

/// A directly tenanted table (global uuid primary key) with RLS on, the given policies, one row
/// of A (`a1`) and two of B (`b1`, `b2`).
fn notes(name: &str, policies: &[&str]) -> String {
    let mut sql = format!(
        "CREATE TABLE {name} (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                              org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
                              body text);
         ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;\n"
    );
    for (i, p) in policies.iter().enumerate() {
        sql.push_str(&format!("CREATE POLICY p{i} ON {name} {p};\n"));
    }
    sql.push_str(&format!(
        "INSERT INTO {name} (org_id, body) VALUES ($A, 'a1'), ($B, 'b1'), ($B, 'b2');\n"
    ));
    sql
}

struct Db {
    name: String,
    url: String,
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

async fn prove_with(db: &Db, read_only: bool) -> ProofReport {
    let (client, _) = connect(&db.url).await.expect("connect");
    let snapshot = load_snapshot(&client, &SnapshotOptions::default())
        .await
        .expect("snapshot");
    let model = TenantModel::infer(&snapshot, &TenantConfig::default()).expect("model");
    prove(
        &db.url,
        &snapshot,
        &model,
        &ProveOptions {
            tenants: Some((A.into(), B.into())),
            read_only,
            ..Default::default()
        },
    )
    .await
    .expect("prove")
}

async fn prove_all(db: &Db) -> ProofReport {
    prove_with(db, false).await
}

/// Every result, one line each, for failure messages.
fn listing(report: &ProofReport) -> String {
    report
        .results
        .iter()
        .map(|r| {
            format!(
                "{} [{:?}] {} {} → {} {} ({})",
                r.table,
                r.kind,
                r.role,
                r.attack.name(),
                r.outcome.name(),
                r.rows,
                r.detail
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The one result of `attack` by `role` on `table` (`public.x`, or `public.f(p uuid)`).
fn result<'a>(
    report: &'a ProofReport,
    table: &str,
    role: &str,
    attack: Attack,
) -> &'a tenantguard_probe::AttackResult {
    let found: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.table == table && r.role == role && r.attack == attack)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one result for {table} / {role} / {}; all results:\n{}",
        attack.name(),
        listing(report)
    );
    found[0]
}

/// `(outcome, rows)` of one attack.
fn outcome(report: &ProofReport, table: &str, role: &str, attack: Attack) -> (Outcome, u64) {
    let r = result(report, table, role, attack);
    (r.outcome, r.rows)
}

/// Asserts `(outcome, rows)` of one attack, with the whole matrix on failure.
#[track_caller]
fn check(report: &ProofReport, table: &str, role: &str, attack: Attack, want: (Outcome, u64)) {
    let got = outcome(report, table, role, attack);
    assert_eq!(
        got,
        want,
        "{table} / {role} / {}: {}; all results:\n{}",
        attack.name(),
        result(report, table, role, attack).detail,
        listing(report)
    );
}

/// Asserts an attack was skipped with a reason containing `why`.
#[track_caller]
fn check_skipped(report: &ProofReport, table: &str, role: &str, attack: Attack, why: &str) {
    let r = result(report, table, role, attack);
    assert_eq!(
        (r.outcome, r.rows),
        (Outcome::Skipped, 0),
        "{table} / {role} / {}: {}; all results:\n{}",
        attack.name(),
        r.detail,
        listing(report)
    );
    assert!(
        r.detail.contains(why),
        "{table} / {role} / {}: detail {:?} lacks {why:?}",
        attack.name(),
        r.detail
    );
}

const LEAK1: (Outcome, u64) = (Outcome::Leak, 1);
const LEAK2: (Outcome, u64) = (Outcome::Leak, 2);
const BLOCKED: (Outcome, u64) = (Outcome::Blocked, 0);

/// Every row of `tables` as the superuser sees it: the proof must leave them untouched.
async fn contents(db: &Db, tables: &[&str]) -> Vec<String> {
    let client = pg_harness::shared()
        .connect(&db.name)
        .await
        .expect("connect");
    let mut out = vec![];
    for t in tables {
        let rows = client
            .query(
                &format!("SELECT to_jsonb(t)::text FROM {t} t ORDER BY to_jsonb(t)::text"),
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("{t}: {e:?}"));
        out.extend(
            rows.iter()
                .map(|r| format!("{t}: {}", r.get::<_, String>(0))),
        );
    }
    out
}

/// One text value the superuser reads.
async fn admin_text(db: &Db, sql: &str) -> String {
    let client = pg_harness::shared()
        .connect(&db.name)
        .await
        .expect("connect");
    client
        .query_one(&expand(sql), &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .get(0)
}

/// Runs `sql` as `authenticated` for tenant A in a rolled-back transaction, with the claims the
/// probe's default attacker carries (A in the trusted places, B in the user-editable
/// `user_metadata`): the rows it affects, or PostgreSQL's error. The ground truth some tests
/// check first.
async fn exec_as_a(db: &Db, sql: &str) -> Result<u64, String> {
    let client = pg_harness::shared()
        .connect(&db.name)
        .await
        .expect("connect");
    let claims = json!({
        "sub": "00000000-0000-4000-8000-0000000000a1",
        "role": "authenticated",
        "organization_id": A,
        "app_metadata": { "organization_id": A },
        "user_metadata": { "organization_id": B, "org_id": B },
    })
    .to_string();
    client
        .batch_execute(&format!(
            "BEGIN; SELECT set_config('request.jwt.claims', '{claims}', true); \
             SET LOCAL ROLE authenticated"
        ))
        .await
        .expect("begin");
    let out = client.execute(&expand(sql), &[]).await;
    client.batch_execute("ROLLBACK").await.expect("rollback");
    out.map_err(|e| {
        e.as_db_error()
            .map(|d| format!("{} ({})", d.message(), d.code().code()))
            .unwrap_or_else(|| e.to_string())
    })
}

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

/// `read`: `USING (true)` leaks to every caller, a policy trusting `user_metadata` (which the
/// attacker edits) leaks to authenticated users, the template blocks everyone.
#[tokio::test]
async fn read_leaks_through_open_and_user_metadata_policies() {
    let db = database(&format!(
        "{}{}{}",
        notes("notes_safe", &[SAFE]),
        notes("notes_read_open", &[SELECT_OPEN]),
        notes(
            "notes_user_metadata",
            &["FOR SELECT TO authenticated \
               USING (org_id = ((auth.jwt() -> 'user_metadata' ->> 'organization_id'))::uuid)"]
        ),
    ))
    .await;
    let r = prove_all(&db).await;

    for role in [AUTH, ANON, NO_CLAIM] {
        check(&r, "public.notes_safe", role, Attack::Read, BLOCKED);
        check(&r, "public.notes_read_open", role, Attack::Read, LEAK2);
        check(&r, "public.organizations", role, Attack::Read, BLOCKED);
    }
    check(&r, "public.notes_user_metadata", AUTH, Attack::Read, LEAK2);
    check(
        &r,
        "public.notes_user_metadata",
        ANON,
        Attack::Read,
        BLOCKED,
    );
    check(
        &r,
        "public.notes_user_metadata",
        NO_CLAIM,
        Attack::Read,
        BLOCKED,
    );
    let leak = result(&r, "public.notes_read_open", AUTH, Attack::Read);
    assert_eq!(leak.kind, ObjectKind::Table);
    assert!(leak.detail.contains("read 2 of B's 2"), "{}", leak.detail);
    // Reads only: nothing else on the open table leaks.
    for attack in [
        Attack::Update,
        Attack::Delete,
        Attack::UpdateAll,
        Attack::DeleteAll,
    ] {
        check(&r, "public.notes_read_open", AUTH, attack, BLOCKED);
    }
    assert_eq!(r.summary.leaking_objects, 2, "{}", listing(&r));
}

// ---------------------------------------------------------------------------------------------
// Inserts
// ---------------------------------------------------------------------------------------------

/// `insert`: `WITH CHECK (true)` lets anyone write a row into B; the template's check refuses
/// it (and anon has no INSERT policy at all).
#[tokio::test]
async fn insert_leaks_through_with_check_true() {
    let db = database(&format!(
        "{}{}",
        notes("notes_safe", &[SAFE]),
        notes(
            "notes_insert_open",
            &[SELECT_TENANT, "FOR INSERT WITH CHECK (true)"]
        ),
    ))
    .await;
    let r = prove_all(&db).await;

    for role in [AUTH, ANON, NO_CLAIM] {
        check(&r, "public.notes_safe", role, Attack::Insert, BLOCKED);
        check(&r, "public.notes_insert_open", role, Attack::Insert, LEAK1);
        // The insert does not read: SELECT stays tenant-bound.
        check(&r, "public.notes_insert_open", role, Attack::Read, BLOCKED);
    }
    let d = &result(&r, "public.notes_safe", AUTH, Attack::Insert).detail;
    assert!(d.contains("row-level security"), "{d}");
}

// ---------------------------------------------------------------------------------------------
// Updates and deletes
// ---------------------------------------------------------------------------------------------

/// `update`, `read_returning`, `delete` (and their unfiltered forms) leak where UPDATE/DELETE
/// and SELECT are open; the template blocks all of them. Nothing is changed for real.
#[tokio::test]
async fn update_read_returning_and_delete_leak_where_open() {
    let db = database(&format!(
        "{}{}",
        notes("notes_safe", &[SAFE]),
        notes(
            "notes_writable",
            &[
                SELECT_OPEN,
                "FOR UPDATE USING (true)",
                "FOR DELETE USING (true)"
            ]
        ),
    ))
    .await;
    let tables = ["organizations", "notes_safe", "notes_writable"];
    let before = contents(&db, &tables).await;
    let r = prove_all(&db).await;
    assert_eq!(before, contents(&db, &tables).await, "prove changed rows");

    for role in [AUTH, ANON, NO_CLAIM] {
        for attack in [
            Attack::Update,
            Attack::ReadReturning,
            Attack::Delete,
            Attack::UpdateAll,
            Attack::DeleteAll,
        ] {
            check(&r, "public.notes_safe", role, attack, BLOCKED);
            check(&r, "public.notes_writable", role, attack, LEAK2);
        }
    }
    let d = &result(&r, "public.notes_writable", AUTH, Attack::ReadReturning).detail;
    assert!(d.contains("RETURNING"), "{d}");
}

/// `update_all`: with SELECT tenant-bound and `FOR UPDATE USING (true) WITH CHECK (true)`, an
/// UPDATE that reads no column gets no SELECT policy and rewrites B's rows, while `update` (its
/// WHERE reads columns, so the SELECT policy applies) and `read_returning` reach none.
#[tokio::test]
async fn update_all_leaks_where_update_with_where_is_blocked() {
    let db = database(&format!(
        "{}{}",
        notes("notes_safe", &[SAFE]),
        notes(
            "notes_update_all",
            &[SELECT_TENANT, "FOR UPDATE USING (true) WITH CHECK (true)"]
        ),
    ))
    .await;
    let r = prove_all(&db).await;

    check(
        &r,
        "public.notes_update_all",
        AUTH,
        Attack::UpdateAll,
        LEAK2,
    );
    check(&r, "public.notes_update_all", AUTH, Attack::Update, BLOCKED);
    check(
        &r,
        "public.notes_update_all",
        AUTH,
        Attack::ReadReturning,
        BLOCKED,
    );
    check(&r, "public.notes_update_all", AUTH, Attack::Read, BLOCKED);
    // The UPDATE policy is TO public: anon rewrites B's rows too, without seeing any.
    check(
        &r,
        "public.notes_update_all",
        ANON,
        Attack::UpdateAll,
        LEAK2,
    );
    check(&r, "public.notes_update_all", ANON, Attack::Update, BLOCKED);
    for role in [AUTH, ANON] {
        check(&r, "public.notes_safe", role, Attack::UpdateAll, BLOCKED);
        check(&r, "public.notes_safe", role, Attack::Update, BLOCKED);
    }
    let d = &result(&r, "public.notes_update_all", AUTH, Attack::UpdateAll).detail;
    assert!(d.contains("no SELECT policy applies"), "{d}");
}

/// `delete_all`: the same with `FOR DELETE USING (true)`: a DELETE without WHERE removes B's
/// rows, a DELETE with WHERE removes none.
#[tokio::test]
async fn delete_all_leaks_where_delete_with_where_is_blocked() {
    let db = database(&format!(
        "{}{}",
        notes("notes_safe", &[SAFE]),
        notes(
            "notes_delete_all",
            &[SELECT_TENANT, "FOR DELETE USING (true)"]
        ),
    ))
    .await;
    let r = prove_all(&db).await;

    for role in [AUTH, ANON] {
        check(
            &r,
            "public.notes_delete_all",
            role,
            Attack::DeleteAll,
            LEAK2,
        );
        check(&r, "public.notes_delete_all", role, Attack::Delete, BLOCKED);
        check(&r, "public.notes_safe", role, Attack::DeleteAll, BLOCKED);
        check(&r, "public.notes_safe", role, Attack::Delete, BLOCKED);
    }
    check(&r, "public.notes_delete_all", AUTH, Attack::Read, BLOCKED);
}

/// `delete_all` where rows are referenced by another table without ON DELETE CASCADE: the
/// whole-table DELETE fails on A's referenced row, yet B's rows are reachable — a DELETE whose
/// WHERE reads no column (here a sequence that skips the first row scanned) still gets no
/// SELECT policy and removes exactly B's rows. The template keeps them out of reach.
#[tokio::test]
async fn delete_all_past_restricting_foreign_keys() {
    let attachments = |name: &str, parent: &str| {
        format!(
            "CREATE TABLE {name} (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                                  note_id uuid NOT NULL REFERENCES {parent});
             ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;
             INSERT INTO {name} (note_id) SELECT id FROM {parent} WHERE body = 'a1';\n"
        )
    };
    let db = database(&format!(
        "{}{}{}{}
         CREATE SEQUENCE skip_first;
         CREATE SEQUENCE skip_first_safe;",
        notes("notes_safe", &[SAFE]),
        notes(
            "notes_delete_all",
            &[SELECT_TENANT, "FOR DELETE USING (true)"]
        ),
        attachments("safe_attachments", "notes_safe"),
        attachments("open_attachments", "notes_delete_all"),
    ))
    .await;
    // PostgreSQL's answer: the plain DELETE fails, the column-free filter reaches B's rows.
    let all = exec_as_a(&db, "DELETE FROM notes_delete_all").await;
    assert!(all.as_ref().is_err_and(|e| e.contains("23503")), "{all:?}");
    assert_eq!(
        exec_as_a(
            &db,
            "DELETE FROM notes_delete_all WHERE nextval('skip_first') > 1"
        )
        .await,
        Ok(2)
    );
    // Under the template only A's row reaches the filter (security quals run first), and it is
    // the first row scanned: B's rows, which would come next, are never reached.
    assert_eq!(
        exec_as_a(
            &db,
            "DELETE FROM notes_safe WHERE nextval('skip_first_safe') > 1"
        )
        .await,
        Ok(0)
    );

    let r = prove_all(&db).await;
    check(
        &r,
        "public.notes_delete_all",
        AUTH,
        Attack::DeleteAll,
        LEAK2,
    );
    check(&r, "public.notes_delete_all", AUTH, Attack::Delete, BLOCKED);
    check(&r, "public.notes_safe", AUTH, Attack::DeleteAll, BLOCKED);
    check(&r, "public.notes_safe", AUTH, Attack::Delete, BLOCKED);
}

// ---------------------------------------------------------------------------------------------
// Moves
// ---------------------------------------------------------------------------------------------

/// `move`: `FOR UPDATE USING (tenant) WITH CHECK (true)` lets A hand its row to B (SELECT is
/// open here; the next test has it tenant-bound); the template's WITH CHECK refuses it. Callers
/// without a tenant have nothing to move.
#[tokio::test]
async fn move_leaks_through_with_check_true() {
    let db = database(&format!(
        "{}{}",
        notes("notes_safe", &[SAFE]),
        notes(
            "notes_move",
            &[
                SELECT_OPEN,
                "FOR UPDATE TO authenticated USING (org_id = $CLAIM) WITH CHECK (true)"
            ]
        ),
    ))
    .await;
    let r = prove_all(&db).await;

    check(&r, "public.notes_move", AUTH, Attack::Move, LEAK1);
    check(&r, "public.notes_safe", AUTH, Attack::Move, BLOCKED);
    // USING stays tenant-bound: B's own rows cannot be updated.
    check(&r, "public.notes_move", AUTH, Attack::Update, BLOCKED);
    check(&r, "public.notes_move", AUTH, Attack::UpdateAll, BLOCKED);
    let d = &result(&r, "public.notes_safe", AUTH, Attack::Move).detail;
    assert!(d.contains("row-level security"), "{d}");
    for role in [ANON, NO_CLAIM] {
        for table in ["public.notes_move", "public.notes_safe"] {
            let m = result(&r, table, role, Attack::Move);
            assert_eq!(m.outcome, Outcome::NotApplicable, "{}", m.detail);
            assert!(m.detail.contains("no tenant of its own"), "{}", m.detail);
        }
    }
}

/// `move` with SELECT tenant-bound: `UPDATE … SET org_id = B WHERE <A's row>` fails (the WHERE
/// reads columns, so the new row must pass the SELECT policy), but `UPDATE … SET org_id = B`
/// without WHERE reads no column, gets no SELECT policy, and moves every row of A into B.
#[tokio::test]
async fn move_leaks_without_where_when_select_is_tenant_bound() {
    let db = database(&notes(
        "notes_move_hidden",
        &[
            SELECT_TENANT,
            "FOR UPDATE TO authenticated USING (org_id = $CLAIM) WITH CHECK (true)",
        ],
    ))
    .await;
    // PostgreSQL's answer.
    let filtered = exec_as_a(
        &db,
        "UPDATE notes_move_hidden SET org_id = $B WHERE org_id = $A",
    )
    .await;
    assert!(
        filtered
            .as_ref()
            .is_err_and(|e| e.contains("row-level security")),
        "{filtered:?}"
    );
    assert_eq!(
        exec_as_a(&db, "UPDATE notes_move_hidden SET org_id = $B").await,
        Ok(1)
    );

    let r = prove_all(&db).await;
    check(&r, "public.notes_move_hidden", AUTH, Attack::Move, LEAK1);
    check(
        &r,
        "public.notes_move_hidden",
        AUTH,
        Attack::Update,
        BLOCKED,
    );
    check(
        &r,
        "public.notes_move_hidden",
        AUTH,
        Attack::UpdateAll,
        BLOCKED,
    );
}

// ---------------------------------------------------------------------------------------------
// Upserts and the existence oracle
// ---------------------------------------------------------------------------------------------

/// `upsert`: with a global primary key, INSERT checked against the tenant but UPDATE open, an
/// `INSERT … ON CONFLICT DO UPDATE` carrying A's tenant lands on B's row and overwrites it. The
/// template refuses (ON CONFLICT DO UPDATE checks UPDATE's USING on B's row and raises), and a
/// key that includes the tenant never collides with B.
#[tokio::test]
async fn upsert_leaks_onto_a_global_key() {
    let db = database(&format!(
        "{}{}
         CREATE TABLE notes_scoped_key (id uuid NOT NULL DEFAULT gen_random_uuid(),
                                        org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
                                        body text,
                                        PRIMARY KEY (org_id, id));
         ALTER TABLE notes_scoped_key ENABLE ROW LEVEL SECURITY;
         CREATE POLICY p0 ON notes_scoped_key {SAFE};
         INSERT INTO notes_scoped_key (org_id, body) VALUES ($A, 'a1'), ($B, 'b1'), ($B, 'b2');",
        notes("notes_safe", &[SAFE]),
        notes(
            "notes_upsert",
            &[
                SELECT_OPEN,
                "FOR INSERT TO authenticated WITH CHECK (org_id = $CLAIM)",
                "FOR UPDATE USING (true)"
            ]
        ),
    ))
    .await;
    let r = prove_all(&db).await;

    check(&r, "public.notes_upsert", AUTH, Attack::Upsert, LEAK1);
    check(&r, "public.notes_safe", AUTH, Attack::Upsert, BLOCKED);
    check(&r, "public.notes_scoped_key", AUTH, Attack::Upsert, BLOCKED);
    // INSERT's own check stops the callers without a tenant before any conflict.
    for role in [ANON, NO_CLAIM] {
        check(&r, "public.notes_upsert", role, Attack::Upsert, BLOCKED);
        check(&r, "public.notes_safe", role, Attack::Upsert, BLOCKED);
    }
    // The plain insert of a row for B is refused on all three.
    for table in [
        "public.notes_upsert",
        "public.notes_safe",
        "public.notes_scoped_key",
    ] {
        check(&r, table, AUTH, Attack::Insert, BLOCKED);
    }
    let d = &result(&r, "public.notes_upsert", AUTH, Attack::Upsert).detail;
    assert!(d.contains("ON CONFLICT"), "{d}");
}

/// `exists_oracle`: under the template, a copy of B's row carrying A's tenant passes the INSERT
/// check and then hits B's global primary key: the unique violation tells A that B's key
/// exists (info, 1). With the tenant in the key there is no collision (blocked); callers
/// without a tenant fail the RLS check first (blocked).
#[tokio::test]
async fn exists_oracle_on_a_global_key_only() {
    let db = database(&format!(
        "{}
         CREATE TABLE notes_scoped_key (id uuid NOT NULL DEFAULT gen_random_uuid(),
                                        org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
                                        body text,
                                        PRIMARY KEY (org_id, id));
         ALTER TABLE notes_scoped_key ENABLE ROW LEVEL SECURITY;
         CREATE POLICY p0 ON notes_scoped_key {SAFE};
         INSERT INTO notes_scoped_key (org_id, body) VALUES ($A, 'a1'), ($B, 'b1'), ($B, 'b2');",
        notes("notes_safe", &[SAFE]),
    ))
    .await;
    let r = prove_all(&db).await;

    check(
        &r,
        "public.notes_safe",
        AUTH,
        Attack::ExistsOracle,
        (Outcome::Info, 1),
    );
    let d = &result(&r, "public.notes_safe", AUTH, Attack::ExistsOracle).detail;
    assert!(d.contains("unique violation"), "{d}");
    check(
        &r,
        "public.notes_scoped_key",
        AUTH,
        Attack::ExistsOracle,
        BLOCKED,
    );
    for role in [ANON, NO_CLAIM] {
        check(&r, "public.notes_safe", role, Attack::ExistsOracle, BLOCKED);
        check(
            &r,
            "public.notes_scoped_key",
            role,
            Attack::ExistsOracle,
            BLOCKED,
        );
    }
    // The oracle is information, not a leak of rows.
    assert_eq!(r.summary.leaks, 0, "{}", listing(&r));
}

// ---------------------------------------------------------------------------------------------
// Writes that leave B's tenant key alone
// ---------------------------------------------------------------------------------------------

/// `FOR ALL USING (org_id = <user_metadata>)`: the attacker puts B in `user_metadata`, so B's
/// rows pass USING and the default WITH CHECK (= USING) accepts any row that stays in B. Reads,
/// inserts and deletes of B's rows leak, and the probe finds them.
const USER_METADATA_ALL: &str = "FOR ALL TO authenticated \
    USING (org_id = ((auth.jwt() -> 'user_metadata' ->> 'organization_id'))::uuid)";

#[tokio::test]
async fn user_metadata_policy_leaks_reads_inserts_and_deletes() {
    let db = database(&format!(
        "{}{}",
        notes("notes_safe", &[SAFE]),
        notes("notes_user_metadata_all", &[USER_METADATA_ALL]),
    ))
    .await;
    let r = prove_all(&db).await;

    let t = "public.notes_user_metadata_all";
    check(&r, t, AUTH, Attack::Read, LEAK2);
    check(&r, t, AUTH, Attack::Insert, LEAK1);
    check(&r, t, AUTH, Attack::Delete, LEAK2);
    check(&r, t, AUTH, Attack::DeleteAll, LEAK2);
    for attack in [
        Attack::Read,
        Attack::Insert,
        Attack::Delete,
        Attack::DeleteAll,
    ] {
        check(&r, "public.notes_safe", AUTH, attack, BLOCKED);
        // Without B in user_metadata the policy matches nothing.
        check(&r, t, NO_CLAIM, attack, BLOCKED);
        check(&r, t, ANON, attack, BLOCKED);
    }
}

/// The same policy lets A rewrite B's rows in place (`UPDATE … SET body = …` keeps them in B,
/// which the WITH CHECK demands) and upsert onto B's key with a row that stays in B, while
/// moving B's rows into A is refused. The probe must try the rewrite that keeps B's key, not
/// only the one that sets A's.
#[tokio::test]
async fn user_metadata_policy_leaks_updates_that_keep_b_tenant() {
    let db = database(&notes("notes_user_metadata_all", &[USER_METADATA_ALL])).await;
    let t = "notes_user_metadata_all";
    // PostgreSQL's answer: B's rows can be rewritten as long as they stay in B.
    assert_eq!(
        exec_as_a(&db, &format!("UPDATE {t} SET body = 'x' WHERE org_id = $B")).await,
        Ok(2)
    );
    assert_eq!(
        exec_as_a(
            &db,
            &format!("UPDATE {t} SET body = 'x' WHERE org_id = $B RETURNING *")
        )
        .await,
        Ok(2)
    );
    assert_eq!(
        exec_as_a(&db, &format!("UPDATE {t} SET body = 'x'")).await,
        Ok(2)
    );
    let moved = exec_as_a(
        &db,
        &format!("UPDATE {t} SET org_id = $A WHERE org_id = $B"),
    )
    .await;
    assert!(
        moved
            .as_ref()
            .is_err_and(|e| e.contains("row-level security")),
        "{moved:?}"
    );
    let b_id = admin_text(&db, &format!("SELECT id::text FROM {t} WHERE body = 'b1'")).await;
    assert_eq!(
        exec_as_a(
            &db,
            &format!(
                "INSERT INTO {t} (id, org_id, body) VALUES ('{b_id}', $B, 'x') \
                 ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body"
            )
        )
        .await,
        Ok(1)
    );

    let r = prove_all(&db).await;
    let t = "public.notes_user_metadata_all";
    check(&r, t, AUTH, Attack::Update, LEAK2);
    check(&r, t, AUTH, Attack::ReadReturning, LEAK2);
    check(&r, t, AUTH, Attack::UpdateAll, LEAK2);
    check(&r, t, AUTH, Attack::Upsert, LEAK1);
}

/// A per-tenant unique key (`UNIQUE (org_id, slug)`) with both tenants using the same slug, and
/// UPDATE open. Callers without a tenant (whose SET leaves the key alone) rewrite B's rows, and
/// the probe says so.
const NOTES_SLUG: &str = "
CREATE TABLE notes_slug (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                         org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
                         slug text NOT NULL,
                         body text,
                         UNIQUE (org_id, slug));
ALTER TABLE notes_slug ENABLE ROW LEVEL SECURITY;
CREATE POLICY p0 ON notes_slug FOR SELECT USING (true);
CREATE POLICY p1 ON notes_slug FOR UPDATE USING (true) WITH CHECK (true);
INSERT INTO notes_slug (org_id, slug, body)
  VALUES ($A, 'general', 'a1'), ($B, 'general', 'b1'), ($B, 'random', 'b2');
";

#[tokio::test]
async fn per_tenant_unique_key_updates_without_a_tenant() {
    let db = database(NOTES_SLUG).await;
    let r = prove_all(&db).await;
    for role in [ANON, NO_CLAIM] {
        for attack in [Attack::Update, Attack::ReadReturning, Attack::UpdateAll] {
            check(&r, "public.notes_slug", role, attack, LEAK2);
        }
    }
    check(&r, "public.notes_slug", AUTH, Attack::Read, LEAK2);
}

/// The same table attacked by tenant A: PostgreSQL lets A rewrite B's rows in place, but moving
/// them into A collides with A's own `general` (a unique violation). The probe must report the
/// in-place rewrite's leak, not the failed move's error.
#[tokio::test]
async fn per_tenant_unique_key_updates_as_tenant_a() {
    let db = database(NOTES_SLUG).await;
    assert_eq!(
        exec_as_a(&db, "UPDATE notes_slug SET body = 'x' WHERE org_id = $B").await,
        Ok(2)
    );
    let moved = exec_as_a(&db, "UPDATE notes_slug SET org_id = $A WHERE org_id = $B").await;
    assert!(
        moved.as_ref().is_err_and(|e| e.contains("23505")),
        "{moved:?}"
    );

    let r = prove_all(&db).await;
    for attack in [Attack::Update, Attack::ReadReturning, Attack::UpdateAll] {
        check(&r, "public.notes_slug", AUTH, attack, LEAK2);
    }
}

// ---------------------------------------------------------------------------------------------
// Views and SECURITY DEFINER functions
// ---------------------------------------------------------------------------------------------

/// A view owned by the superuser reads as its owner, past RLS: B's rows leak through it. With
/// `security_invoker` the caller's RLS applies. A SECURITY DEFINER function taking a tenant id
/// answers about B unless it also checks the caller's claim.
#[tokio::test]
async fn views_and_definer_functions() {
    let db = database(&format!(
        "{}
         CREATE VIEW notes_definer_view AS SELECT * FROM notes_safe;
         CREATE VIEW notes_invoker_view WITH (security_invoker = true) AS SELECT * FROM notes_safe;
         CREATE MATERIALIZED VIEW notes_matview AS SELECT * FROM notes_safe;
         CREATE FUNCTION public.count_notes(p uuid) RETURNS bigint
           LANGUAGE sql SECURITY DEFINER SET search_path = ''
           AS $fn$ SELECT count(*) FROM public.notes_safe WHERE org_id = p $fn$;
         CREATE FUNCTION public.notes_of(p uuid) RETURNS SETOF public.notes_safe
           LANGUAGE sql SECURITY DEFINER SET search_path = ''
           AS $fn$ SELECT * FROM public.notes_safe WHERE org_id = p $fn$;
         CREATE FUNCTION public.count_notes_checked(p uuid) RETURNS bigint
           LANGUAGE sql SECURITY DEFINER SET search_path = ''
           AS $fn$ SELECT count(*) FROM public.notes_safe
                   WHERE org_id = p AND org_id = (auth.jwt() ->> 'organization_id')::uuid $fn$;
         CREATE FUNCTION public.count_notes_private(p uuid) RETURNS bigint
           LANGUAGE sql SECURITY DEFINER SET search_path = ''
           AS $fn$ SELECT count(*) FROM public.notes_safe WHERE org_id = p $fn$;
         REVOKE EXECUTE ON FUNCTION public.count_notes_private(uuid) FROM PUBLIC, anon;",
        notes("notes_safe", &[SAFE]),
    ))
    .await;
    let r = prove_all(&db).await;

    for role in [AUTH, ANON, NO_CLAIM] {
        check(&r, "public.notes_definer_view", role, Attack::Read, LEAK2);
        // A materialized view has no RLS at all.
        check(&r, "public.notes_matview", role, Attack::Read, LEAK2);
        check(&r, "public.notes_invoker_view", role, Attack::Read, BLOCKED);
        check(&r, "public.notes_safe", role, Attack::Read, BLOCKED);
        check(&r, "public.count_notes(p uuid)", role, Attack::Call, LEAK1);
        check(&r, "public.notes_of(p uuid)", role, Attack::Call, LEAK2);
        check(
            &r,
            "public.count_notes_checked(p uuid)",
            role,
            Attack::Call,
            BLOCKED,
        );
    }
    let v = result(&r, "public.notes_definer_view", AUTH, Attack::Read);
    assert_eq!(v.kind, ObjectKind::View);
    assert!(v.detail.contains("through the view"), "{}", v.detail);
    assert_eq!(
        result(&r, "public.notes_invoker_view", AUTH, Attack::Read).kind,
        ObjectKind::View
    );
    assert_eq!(
        result(&r, "public.notes_matview", AUTH, Attack::Read).kind,
        ObjectKind::MaterializedView
    );
    // Only the roles that may execute a function call it.
    for role in [AUTH, NO_CLAIM] {
        check(
            &r,
            "public.count_notes_private(p uuid)",
            role,
            Attack::Call,
            LEAK1,
        );
    }
    assert!(
        !r.results
            .iter()
            .any(|x| x.table == "public.count_notes_private(p uuid)" && x.role == ANON),
        "anon cannot execute count_notes_private: {}",
        listing(&r)
    );
    let f = result(&r, "public.count_notes(p uuid)", AUTH, Attack::Call);
    assert_eq!(f.kind, ObjectKind::Function);
    assert!(f.detail.contains("\"2\" for B"), "{}", f.detail);
    let f = result(&r, "public.count_notes_checked(p uuid)", AUTH, Attack::Call);
    assert!(f.detail.contains("same answer"), "{}", f.detail);
}

// ---------------------------------------------------------------------------------------------
// Indirectly tenanted tables
// ---------------------------------------------------------------------------------------------

/// A child table with no tenant column, tenanted through `note_id → notes_safe`: B's rows are
/// found through the foreign-key path and attacked by (tableoid, ctid). The EXISTS policy
/// blocks every attack; `USING (true)` leaks exactly B's three child rows. Attacks that need a
/// tenant key are skipped.
#[tokio::test]
async fn indirectly_tenanted_child_tables() {
    let child = |name: &str, policy: &str| {
        format!(
            "CREATE TABLE {name} (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                                  note_id uuid NOT NULL REFERENCES notes_safe ON DELETE CASCADE,
                                  body text);
             ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;
             CREATE POLICY p0 ON {name} {policy};
             INSERT INTO {name} (note_id, body)
               SELECT id, body || '-c' || g FROM notes_safe, generate_series(1, 2) g
               WHERE body IN ('a1', 'b1');
             INSERT INTO {name} (note_id, body) SELECT id, 'b2-c1' FROM notes_safe WHERE body = 'b2';\n"
        )
    };
    let exists = "EXISTS (SELECT 1 FROM notes_safe n WHERE n.id = note_id AND n.org_id = $CLAIM)";
    let db = database(&format!(
        "{}{}{}",
        notes("notes_safe", &[SAFE]),
        child(
            "comments_safe",
            &format!("FOR ALL TO authenticated USING ({exists}) WITH CHECK ({exists})")
        ),
        child("comments_open", SELECT_OPEN),
    ))
    .await;
    let r = prove_all(&db).await;

    for role in [AUTH, ANON, NO_CLAIM] {
        for attack in [
            Attack::Read,
            Attack::ReadReturning,
            Attack::Insert,
            Attack::Update,
            Attack::UpdateAll,
            Attack::Delete,
            Attack::DeleteAll,
        ] {
            check(&r, "public.comments_safe", role, attack, BLOCKED);
        }
        check(
            &r,
            "public.comments_open",
            role,
            Attack::Read,
            (Outcome::Leak, 3),
        );
        check(&r, "public.comments_open", role, Attack::Update, BLOCKED);
        check(&r, "public.comments_open", role, Attack::Delete, BLOCKED);
        check_skipped(
            &r,
            "public.comments_safe",
            role,
            Attack::Upsert,
            "tenant key",
        );
        check_skipped(
            &r,
            "public.comments_safe",
            role,
            Attack::ExistsOracle,
            "tenant key",
        );
    }
    let m = result(&r, "public.comments_safe", AUTH, Attack::Move);
    assert_eq!(m.outcome, Outcome::NotApplicable, "{}", m.detail);
    assert!(m.detail.contains("own tenant key"), "{}", m.detail);
    let d = &result(&r, "public.comments_open", AUTH, Attack::Read).detail;
    assert!(d.contains("read 3 of B's 3"), "{d}");
}

// ---------------------------------------------------------------------------------------------
// Seeding B's rows
// ---------------------------------------------------------------------------------------------

/// Where B has no row, the row builder seeds one inside the rolled-back transaction (an enum, a
/// NOT NULL text under a CHECK, a positive integer) and the table is still attacked; where no
/// row can be built (a CHECK nothing passes, a NOT NULL `point`) every attack is skipped with
/// the reason.
#[tokio::test]
async fn seeds_missing_rows_or_skips_with_a_reason() {
    let tickets = |name: &str, policies: &[&str]| {
        let mut sql = format!(
            "CREATE TABLE {name} (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                                  org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
                                  status ticket_status NOT NULL,
                                  title text NOT NULL CHECK (length(title) BETWEEN 1 AND 40),
                                  priority integer NOT NULL CHECK (priority > 0),
                                  note text);
             ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;\n"
        );
        for (i, p) in policies.iter().enumerate() {
            sql.push_str(&format!("CREATE POLICY p{i} ON {name} {p};\n"));
        }
        sql
    };
    let db = database(&format!(
        "CREATE TYPE ticket_status AS ENUM ('open', 'closed');
         {}{}
         INSERT INTO tickets_safe (org_id, status, title, priority) VALUES ($A, 'open', 'mine', 1);
         CREATE TABLE never_seeded (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                                    org_id uuid NOT NULL REFERENCES organizations,
                                    body text,
                                    CONSTRAINT nothing_passes CHECK (false));
         ALTER TABLE never_seeded ENABLE ROW LEVEL SECURITY;
         CREATE POLICY p0 ON never_seeded {SAFE};
         CREATE TABLE places (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                              org_id uuid NOT NULL REFERENCES organizations,
                              location point NOT NULL);
         ALTER TABLE places ENABLE ROW LEVEL SECURITY;
         CREATE POLICY p0 ON places {SAFE};",
        tickets("tickets_safe", &[SAFE]),
        tickets("tickets_open", &[SAFE, SELECT_OPEN]),
    ))
    .await;
    let tables = ["tickets_safe", "tickets_open", "never_seeded", "places"];
    let before = contents(&db, &tables).await;
    let r = prove_all(&db).await;
    assert_eq!(
        before,
        contents(&db, &tables).await,
        "prove left seeded rows"
    );

    for role in [AUTH, ANON, NO_CLAIM] {
        check(&r, "public.tickets_safe", role, Attack::Read, BLOCKED);
        check(&r, "public.tickets_open", role, Attack::Read, LEAK1);
        // A new row for B can be built too: the insert is attacked, and refused.
        check(&r, "public.tickets_safe", role, Attack::Insert, BLOCKED);
        check(&r, "public.tickets_open", role, Attack::Insert, BLOCKED);
    }
    check(&r, "public.tickets_safe", AUTH, Attack::Update, BLOCKED);
    check(&r, "public.tickets_safe", AUTH, Attack::Delete, BLOCKED);
    check(&r, "public.tickets_safe", AUTH, Attack::Move, BLOCKED);
    check(
        &r,
        "public.tickets_safe",
        AUTH,
        Attack::ExistsOracle,
        (Outcome::Info, 1),
    );

    for role in [AUTH, ANON, NO_CLAIM] {
        for attack in Attack::TABLE_ATTACKS {
            check_skipped(
                &r,
                "public.never_seeded",
                role,
                attack,
                "cannot seed a row of B",
            );
            check_skipped(&r, "public.places", role, attack, "cannot seed a row of B");
        }
    }
    let d = &result(&r, "public.never_seeded", AUTH, Attack::Read).detail;
    assert!(d.contains("nothing_passes"), "{d}");
    let d = &result(&r, "public.places", AUTH, Attack::Read).detail;
    assert!(
        d.contains("no value can be built") && d.contains("point"),
        "{d}"
    );
}

// ---------------------------------------------------------------------------------------------
// --read-only
// ---------------------------------------------------------------------------------------------

/// `--read-only` runs `read` only: reads of tables and views still leak or are blocked, every
/// write attack is absent, functions are not called, and tables where B has no row are skipped
/// (nothing is seeded).
#[tokio::test]
async fn read_only_runs_only_reads() {
    let db = database(&format!(
        "{}{}{}
         CREATE TABLE empty_for_b (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                                   org_id uuid NOT NULL REFERENCES organizations,
                                   body text);
         ALTER TABLE empty_for_b ENABLE ROW LEVEL SECURITY;
         CREATE POLICY p0 ON empty_for_b {SAFE};
         INSERT INTO empty_for_b (org_id) VALUES ($A);
         CREATE VIEW notes_definer_view AS SELECT * FROM notes_safe;
         CREATE FUNCTION public.count_notes(p uuid) RETURNS bigint
           LANGUAGE sql SECURITY DEFINER SET search_path = ''
           AS $fn$ SELECT count(*) FROM public.notes_safe WHERE org_id = p $fn$;",
        notes("notes_safe", &[SAFE]),
        notes("notes_read_open", &[SELECT_OPEN]),
        notes(
            "notes_writable",
            &[
                SELECT_OPEN,
                "FOR UPDATE USING (true)",
                "FOR DELETE USING (true)"
            ]
        ),
    ))
    .await;
    let r = prove_with(&db, true).await;
    assert!(r.read_only);

    for res in &r.results {
        match res.kind {
            ObjectKind::Function => {
                assert_eq!(res.attack, Attack::Call, "{}", listing(&r));
                assert_eq!(res.outcome, Outcome::Skipped, "{}", listing(&r));
                assert!(res.detail.contains("--read-only"), "{}", res.detail);
            }
            _ => assert_eq!(res.attack, Attack::Read, "{}", listing(&r)),
        }
    }
    for role in [AUTH, ANON, NO_CLAIM] {
        check(&r, "public.notes_safe", role, Attack::Read, BLOCKED);
        check(&r, "public.notes_read_open", role, Attack::Read, LEAK2);
        check(&r, "public.notes_writable", role, Attack::Read, LEAK2);
        check(&r, "public.notes_definer_view", role, Attack::Read, LEAK2);
        check_skipped(&r, "public.empty_for_b", role, Attack::Read, "--read-only");
        check_skipped(
            &r,
            "public.count_notes(p uuid)",
            role,
            Attack::Call,
            "--read-only",
        );
    }
    // Exactly one read per table or view and attacker: no write attack ran, even as a skip.
    let per_attacker = r
        .results
        .iter()
        .filter(|x| x.role == AUTH && x.kind != ObjectKind::Function)
        .count();
    assert_eq!(per_attacker, 6, "{}", listing(&r));
    assert_eq!(r.summary.leaks, 9, "{}", listing(&r));
    check(&r, "public.organizations", AUTH, Attack::Read, BLOCKED);
}

/// A database with no tenant yet (a migrations folder, a fresh deploy): both tenants are made
/// up, their root rows inserted inside each rolled-back transaction, and the attacks still
/// find the open table and not the safe one. Afterwards the root is as empty as before.
#[tokio::test]
async fn made_up_tenants_when_fewer_than_two_exist() {
    let (name, url) = pg_harness::fresh_database(true).await.expect("database");
    let admin = pg_harness::shared().connect(&name).await.expect("connect");
    admin
        .batch_execute(&expand(
            "CREATE TABLE organizations (id uuid PRIMARY KEY, name text NOT NULL);
             ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
             CREATE POLICY own_org ON organizations FOR SELECT TO authenticated USING (id = $CLAIM);
             CREATE TABLE safe (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                                org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE, body text NOT NULL);
             ALTER TABLE safe ENABLE ROW LEVEL SECURITY;
             CREATE POLICY s ON safe FOR ALL TO authenticated USING (org_id = $CLAIM) WITH CHECK (org_id = $CLAIM);
             CREATE TABLE open (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                                org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE, body text NOT NULL);
             ALTER TABLE open ENABLE ROW LEVEL SECURITY;
             CREATE POLICY o ON open FOR SELECT USING (true);",
        ))
        .await
        .unwrap();
    let (client, _) = connect(&url).await.unwrap();
    let snapshot = load_snapshot(&client, &SnapshotOptions::default())
        .await
        .unwrap();
    let model = TenantModel::infer(&snapshot, &TenantConfig::default()).unwrap();
    let report = prove(&url, &snapshot, &model, &ProveOptions::default())
        .await
        .unwrap();
    let pair = report.tenants.as_ref().unwrap();
    assert_eq!(pair.synthesized.len(), 2, "{pair:?}");
    check(
        &report,
        "public.open",
        AUTH,
        Attack::Read,
        (Outcome::Leak, 1),
    );
    check(
        &report,
        "public.open",
        ANON,
        Attack::Read,
        (Outcome::Leak, 1),
    );
    check(
        &report,
        "public.safe",
        AUTH,
        Attack::Read,
        (Outcome::Blocked, 0),
    );
    check(
        &report,
        "public.safe",
        AUTH,
        Attack::Insert,
        (Outcome::Blocked, 0),
    );
    check(
        &report,
        "public.organizations",
        AUTH,
        Attack::Read,
        (Outcome::Blocked, 0),
    );
    let left: i64 = admin
        .query_one(
            "SELECT (SELECT count(*) FROM organizations) + (SELECT count(*) FROM open) + (SELECT count(*) FROM safe)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    // --read-only makes nothing up: every table is skipped, with the reason.
    let report = prove(
        &url,
        &snapshot,
        &model,
        &ProveOptions {
            read_only: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    check_skipped(
        &report,
        "public.open",
        AUTH,
        Attack::Read,
        "--read-only makes none up",
    );
}

// ---------------------------------------------------------------------------------------------
// Seeding through auth.users, claims and memberships from the policies, own access
// ---------------------------------------------------------------------------------------------

/// A fresh Supabase database with `sql` only (no tenant root of the shared builder).
async fn bare_database(sql: &str) -> Db {
    let (name, url) = pg_harness::fresh_database(true).await.expect("database");
    let client = pg_harness::shared().connect(&name).await.expect("connect");
    client
        .batch_execute(&expand(&format!("{sql}\nANALYZE;")))
        .await
        .unwrap_or_else(|e| panic!("schema: {e:?}"));
    Db { name, url }
}

async fn prove_default(db: &Db, opts: ProveOptions) -> ProofReport {
    let (client, _) = connect(&db.url).await.expect("connect");
    let snapshot = load_snapshot(&client, &SnapshotOptions::default())
        .await
        .expect("snapshot");
    let model = TenantModel::infer(&snapshot, &TenantConfig::default()).expect("model");
    prove(&db.url, &snapshot, &model, &opts)
        .await
        .expect("prove")
}

/// The own-access outcome of one cell.
#[track_caller]
fn own(report: &ProofReport, table: &str, role: &str, command: Command) -> OwnOutcome {
    let found: Vec<_> = report
        .own_access
        .iter()
        .filter(|o| o.table == table && o.role == role && o.command == command)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{table} / {role} / {command:?}: {:#?}",
        report.own_access
    );
    found[0].outcome
}

/// A migrations-only Supabase schema (no rows anywhere, not even tenants or users) whose
/// tenant tables reference `auth.users`: the proof reads `auth.users` without auditing it,
/// inserts A's and B's users inside the rolled-back transaction, and attacks every table.
#[tokio::test]
async fn seeds_through_auth_users_in_an_empty_supabase_schema() {
    let db = bare_database(
        "CREATE TABLE organizations (id uuid PRIMARY KEY, name text NOT NULL,
                                     owner_id uuid NOT NULL REFERENCES auth.users);
         ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
         CREATE POLICY own_org ON organizations FOR SELECT TO authenticated USING (id = $CLAIM);
         CREATE TABLE projects (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                                org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
                                created_by uuid NOT NULL REFERENCES auth.users,
                                title text NOT NULL);
         ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
         CREATE POLICY p ON projects FOR ALL TO authenticated USING (org_id = $CLAIM) WITH CHECK (org_id = $CLAIM);
         CREATE TABLE files (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                             org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
                             created_by uuid NOT NULL REFERENCES auth.users,
                             name text NOT NULL);
         ALTER TABLE files ENABLE ROW LEVEL SECURITY;
         CREATE POLICY f ON files FOR SELECT USING (true);",
    )
    .await;
    let (client, _) = connect(&db.url).await.unwrap();
    let snapshot = load_snapshot(&client, &SnapshotOptions::default())
        .await
        .unwrap();
    let users = tenantguard_catalog::QualifiedName::new("auth", "users");
    // Read as a foreign-key parent, never audited.
    assert!(snapshot.relation(&users).is_none());
    assert!(snapshot.schemas.iter().all(|s| s != "auth"));
    let support = snapshot.support_relation(&users).expect("auth.users read");
    assert_eq!(support.primary_key().unwrap().columns, ["id"]);
    let model = TenantModel::infer(&snapshot, &TenantConfig::default()).unwrap();
    assert!(model.tenancy(&users).is_none());

    let r = prove(&db.url, &snapshot, &model, &ProveOptions::default())
        .await
        .unwrap();
    for role in [AUTH, ANON, NO_CLAIM] {
        check(&r, "public.files", role, Attack::Read, LEAK1);
        check(&r, "public.projects", role, Attack::Read, BLOCKED);
        check(&r, "public.projects", role, Attack::Insert, BLOCKED);
        check(&r, "public.organizations", role, Attack::Read, BLOCKED);
    }
    check(&r, "public.projects", AUTH, Attack::Move, BLOCKED);
    check(&r, "public.projects", AUTH, Attack::Update, BLOCKED);
    assert!(
        !r.results
            .iter()
            .any(|x| x.detail.contains("not in the snapshot")),
        "{}",
        listing(&r)
    );
    // A reaches its own (seeded) project: read, insert, update, delete.
    for c in Command::ALL {
        assert_eq!(own(&r, "public.projects", AUTH, c), OwnOutcome::Ok, "{c:?}");
    }
    assert!(!r.claims_suspect, "{:?}", r.notes);
    let left: i64 = pg_harness::shared()
        .connect(&db.name)
        .await
        .unwrap()
        .query_one(
            "SELECT (SELECT count(*) FROM auth.users) + (SELECT count(*) FROM organizations)
                  + (SELECT count(*) FROM projects) + (SELECT count(*) FROM files)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "rows left behind");
}

/// Policies that read the tenant from `tenant_id` (not the template's `organization_id`): A's
/// JWT carries A there, so A reaches its own rows and the `move` through `WITH CHECK (true)`
/// is found (with the fixed template A saw nothing of its own and the proof said 0 leaks).
#[tokio::test]
async fn the_claim_the_policies_read_is_the_one_a_carries() {
    let claim = "((SELECT auth.jwt()) ->> 'tenant_id')::uuid";
    let db = bare_database(&format!(
        "CREATE TABLE organizations (id uuid PRIMARY KEY, name text);
         INSERT INTO organizations VALUES ($A, 'Alpha'), ($B, 'Beta');
         ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
         CREATE POLICY own_org ON organizations FOR SELECT TO authenticated USING (id = {claim});
         CREATE TABLE docs (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                            org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
                            body text);
         ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
         CREATE POLICY r ON docs FOR SELECT TO authenticated USING (org_id = {claim});
         CREATE POLICY u ON docs FOR UPDATE TO authenticated USING (org_id = {claim}) WITH CHECK (true);
         INSERT INTO docs (org_id, body) VALUES ($A, 'a1'), ($B, 'b1'), ($B, 'b2');"
    ))
    .await;
    let r = prove_default(
        &db,
        ProveOptions {
            tenants: Some((A.into(), B.into())),
            ..Default::default()
        },
    )
    .await;
    let claims: serde_json::Value =
        serde_json::from_str(&r.attackers[0].settings[0].1).expect("claims JSON");
    assert_eq!(claims["tenant_id"], A, "{claims}");
    assert_eq!(claims["user_metadata"]["tenant_id"], B, "{claims}");
    check(&r, "public.docs", AUTH, Attack::Move, LEAK1);
    check(&r, "public.docs", AUTH, Attack::Read, BLOCKED);
    check(&r, "public.docs", AUTH, Attack::Update, BLOCKED);
    assert_eq!(r.summary.leaks, 1, "{}", listing(&r));
    assert_eq!(
        own(&r, "public.docs", AUTH, Command::Select),
        OwnOutcome::Ok
    );
    assert_eq!(
        own(&r, "public.docs", AUTH, Command::Update),
        OwnOutcome::Ok
    );
    // No INSERT or DELETE policy: A is denied its own inserts and deletes, and it says so.
    assert_eq!(
        own(&r, "public.docs", AUTH, Command::Insert),
        OwnOutcome::Denied
    );
    assert_eq!(
        own(&r, "public.docs", AUTH, Command::Delete),
        OwnOutcome::Denied
    );
    // A configured template is taken as it is: A's claim is missing, A cannot read its own
    // rows anywhere, and prove says its claims are probably wrong.
    let r = prove_default(
        &db,
        ProveOptions {
            tenants: Some((A.into(), B.into())),
            claims: tenantguard_probe::ClaimTemplate {
                claims: r#"{"sub": "{user}", "role": "{role}", "org": "{tenant}"}"#.into(),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await;
    check(&r, "public.docs", AUTH, Attack::Move, BLOCKED);
    assert_eq!(
        own(&r, "public.docs", AUTH, Command::Select),
        OwnOutcome::Denied
    );
    assert!(r.claims_suspect);
    assert!(
        r.notes[0].contains("claims the proof gives A are probably wrong"),
        "{:?}",
        r.notes
    );
}

/// Membership tenancy: the policies look the caller up in `members` by `auth.uid()`. Nobody is
/// a member yet; A's (made-up) user is made a member of A inside the transaction, so A reads
/// its own project — and the `move` through `WITH CHECK (true)` is found.
#[tokio::test]
async fn a_is_made_a_member_where_the_policies_look_the_caller_up() {
    let member_of =
        "org_id IN (SELECT m.org_id FROM members m WHERE m.user_id = (SELECT auth.uid()))";
    let db = bare_database(&format!(
        "CREATE TABLE organizations (id uuid PRIMARY KEY, name text);
         INSERT INTO organizations VALUES ($A, 'Alpha'), ($B, 'Beta');
         CREATE TABLE members (org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
                               user_id uuid NOT NULL REFERENCES auth.users ON DELETE CASCADE,
                               role text NOT NULL DEFAULT 'member',
                               PRIMARY KEY (org_id, user_id));
         ALTER TABLE members ENABLE ROW LEVEL SECURITY;
         CREATE POLICY self ON members FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
         CREATE TABLE projects (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                                org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
                                name text);
         ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
         CREATE POLICY r ON projects FOR SELECT TO authenticated USING ({member_of});
         CREATE POLICY u ON projects FOR UPDATE TO authenticated USING ({member_of}) WITH CHECK (true);
         INSERT INTO projects (org_id, name) VALUES ($A, 'a1'), ($B, 'b1');"
    ))
    .await;
    let r = prove_default(
        &db,
        ProveOptions {
            tenants: Some((A.into(), B.into())),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        own(&r, "public.projects", AUTH, Command::Select),
        OwnOutcome::Ok
    );
    assert_eq!(
        own(&r, "public.projects", AUTH, Command::Update),
        OwnOutcome::Ok
    );
    check(&r, "public.projects", AUTH, Attack::Move, LEAK1);
    check(&r, "public.projects", AUTH, Attack::Read, BLOCKED);
    assert!(!r.claims_suspect, "{:?}", r.notes);
    let admin = pg_harness::shared().connect(&db.name).await.unwrap();
    let left: i64 = admin
        .query_one(
            "SELECT (SELECT count(*) FROM members) + (SELECT count(*) FROM auth.users)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the membership was not rolled back");

    // The library call the fix crate uses: the same matrix, on one connection.
    let (client, _) = connect(&db.url).await.unwrap();
    let snapshot = load_snapshot(&client, &SnapshotOptions::default())
        .await
        .unwrap();
    let model = TenantModel::infer(&snapshot, &TenantConfig::default()).unwrap();
    let access = tenantguard_access::AccessModel::build(
        &snapshot,
        &model,
        &tenantguard_access::AccessConfig::default(),
    );
    let opts = ProveOptions {
        tenants: Some((A.into(), B.into())),
        ..Default::default()
    };
    let before = tenantguard_probe::own_access(&client, &snapshot, &model, &access, &opts)
        .await
        .unwrap();
    assert_eq!(before.entries, r.own_access);
    // A change that takes A's own reads away shows up as lost cells.
    admin
        .batch_execute("DROP POLICY r ON projects")
        .await
        .unwrap();
    let snapshot = load_snapshot(&client, &SnapshotOptions::default())
        .await
        .unwrap();
    let after = tenantguard_probe::own_access(&client, &snapshot, &model, &access, &opts)
        .await
        .unwrap();
    let lost: Vec<(String, Command)> = before
        .lost_in(&after)
        .into_iter()
        .map(|(b, _)| (b.table.clone(), b.command))
        .collect();
    assert_eq!(
        lost,
        [
            ("public.projects".to_string(), Command::Select),
            ("public.projects".to_string(), Command::Update),
        ]
    );
}

/// `UPDATE USING (status = 'sent') WITH CHECK (status = 'signed')` for anon: anyone can sign
/// any tenant's sent waiver. The seeded row of B is a sent one (the policy's constant, allowed
/// by the CHECK), and the update sets what WITH CHECK demands: the leak is found.
#[tokio::test]
async fn seeded_values_satisfy_the_policies_and_checks() {
    let db = database(&format!(
        "CREATE TABLE waivers (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                               org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
                               status text CHECK (status IN ('draft', 'sent', 'signed')),
                               signer text CHECK (char_length(signer) > 12),
                               copies integer NOT NULL CHECK (copies > 0 AND copies < 10));
         ALTER TABLE waivers ENABLE ROW LEVEL SECURITY;
         CREATE POLICY t ON waivers {SAFE};
         CREATE POLICY sign ON waivers FOR UPDATE TO anon
           USING (status = 'sent') WITH CHECK (status = 'signed');"
    ))
    .await;
    let r = prove_all(&db).await;
    check(&r, "public.waivers", ANON, Attack::UpdateAll, LEAK1);
    // Without a SELECT policy for anon, an UPDATE with a WHERE sees nothing.
    check(&r, "public.waivers", ANON, Attack::Update, BLOCKED);
    check(&r, "public.waivers", AUTH, Attack::UpdateAll, BLOCKED);
    check(&r, "public.waivers", AUTH, Attack::Read, BLOCKED);
    assert_eq!(
        own(&r, "public.waivers", AUTH, Command::Insert),
        OwnOutcome::Ok
    );
}

/// A cycle of foreign keys (a.b_id → b NOT NULL, b.a_id → a nullable): seeding B's row of one
/// inserts more of B's rows of it round the cycle. They are all counted as B's, so a `move`
/// that moves nothing (no UPDATE policy: the statement succeeds and updates no row) is not
/// reported as a leak — which `audit --prove` printed as an analyser bug.
#[tokio::test]
async fn seeding_round_a_cycle_of_foreign_keys_counts_every_row_of_b() {
    let db = database(&format!(
        "CREATE TABLE cb (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                          org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
                          a_id uuid);
         CREATE TABLE ca (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                          org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
                          b_id uuid NOT NULL REFERENCES cb);
         ALTER TABLE cb ADD FOREIGN KEY (a_id) REFERENCES ca;
         ALTER TABLE ca ENABLE ROW LEVEL SECURITY;
         ALTER TABLE cb ENABLE ROW LEVEL SECURITY;
         CREATE POLICY t ON ca {SELECT_TENANT};
         CREATE POLICY t ON cb {SELECT_TENANT};"
    ))
    .await;
    let r = prove_all(&db).await;
    for t in ["public.ca", "public.cb"] {
        check(&r, t, AUTH, Attack::Move, BLOCKED);
        check(&r, t, AUTH, Attack::Read, BLOCKED);
        check(&r, t, AUTH, Attack::UpdateAll, BLOCKED);
        check(&r, t, AUTH, Attack::DeleteAll, BLOCKED);
    }
    assert_eq!(r.summary.leaks, 0, "{}", listing(&r));
}

/// A SECURITY DEFINER function that raises for a tenant other than the caller's is blocked.
#[tokio::test]
async fn a_definer_function_that_raises_for_another_tenant_is_blocked() {
    let db = database(&format!(
        "{}
         CREATE FUNCTION public.org_name(p uuid) RETURNS text
           LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $fn$
           BEGIN
             IF p IS DISTINCT FROM (auth.jwt() ->> 'organization_id')::uuid THEN
               RAISE EXCEPTION 'forbidden';
             END IF;
             RETURN (SELECT name FROM public.organizations WHERE id = p);
           END $fn$;",
        notes("notes_safe", &[SAFE]),
    ))
    .await;
    let r = prove_all(&db).await;
    for role in [AUTH, ANON, NO_CLAIM] {
        let x = result(&r, "public.org_name(p uuid)", role, Attack::Call);
        assert_eq!((x.outcome, x.rows), BLOCKED, "{role}: {}", x.detail);
        assert!(x.detail.contains("forbidden"), "{}", x.detail);
    }
}

/// A migrations-only schema (no tenants, no rows) where the root's row points back into a
/// tenanted table (`organizations.owner_member_id → members`, `members.org_id →
/// organizations`), and two SECURITY DEFINER functions take a tenant id: one answers for any
/// tenant, one raises unless the caller is a member. With made-up tenants the root row is
/// built with the cyclic pointer left NULL, B's rows are seeded in the tables the function
/// bodies name, and the unguarded function is caught answering for B.
#[tokio::test]
async fn made_up_tenants_reach_cyclic_roots_and_definer_functions() {
    let member = "EXISTS (SELECT 1 FROM public.members m
                          WHERE m.org_id = p AND m.user_id = (SELECT auth.uid()))";
    let db = bare_database(&format!(
        "CREATE TABLE organizations (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                                     name text NOT NULL, owner_member_id uuid);
         CREATE TABLE members (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                               org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
                               user_id uuid NOT NULL REFERENCES auth.users ON DELETE CASCADE);
         ALTER TABLE organizations ADD FOREIGN KEY (owner_member_id) REFERENCES members;
         ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
         ALTER TABLE members ENABLE ROW LEVEL SECURITY;
         CREATE POLICY self ON members FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
         CREATE POLICY mine ON organizations FOR SELECT TO authenticated
           USING (id IN (SELECT m.org_id FROM members m WHERE m.user_id = (SELECT auth.uid())));
         CREATE TABLE invoices (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                                org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
                                total int NOT NULL);
         ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
         CREATE POLICY mine ON invoices FOR ALL TO authenticated
           USING (org_id IN (SELECT m.org_id FROM members m WHERE m.user_id = (SELECT auth.uid())));
         CREATE FUNCTION public.invoice_count(p uuid) RETURNS bigint
           LANGUAGE sql SECURITY DEFINER SET search_path = ''
           AS $fn$ SELECT count(*) FROM public.invoices WHERE org_id = p $fn$;
         CREATE FUNCTION public.invoice_count_checked(p uuid) RETURNS bigint
           LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
           AS $fn$ BEGIN
             IF NOT {member} THEN RAISE EXCEPTION 'forbidden'; END IF;
             RETURN (SELECT count(*) FROM public.invoices WHERE org_id = p);
           END $fn$;
         CREATE VIEW invoice_totals AS SELECT org_id, total FROM invoices;"
    ))
    .await;
    let r = prove_default(&db, ProveOptions::default()).await;
    // A view over a tenant table reads B's seeded row past RLS (it runs as its owner).
    check(&r, "public.invoice_totals", AUTH, Attack::Read, LEAK1);
    // Attacks without meaning are not applicable, not skipped.
    assert_eq!(
        outcome(&r, "public.organizations", AUTH, Attack::Insert),
        (Outcome::NotApplicable, 0)
    );
    assert_eq!(
        outcome(&r, "public.invoices", ANON, Attack::Move),
        (Outcome::NotApplicable, 0)
    );
    assert_eq!(
        r.summary.not_applicable,
        r.results
            .iter()
            .filter(|x| x.outcome == Outcome::NotApplicable)
            .count()
    );
    assert_eq!(r.tenants.as_ref().unwrap().synthesized.len(), 2);
    // The root's rows were built despite the cycle: its attacks ran.
    check(&r, "public.organizations", AUTH, Attack::Read, BLOCKED);
    check(&r, "public.invoices", AUTH, Attack::Read, BLOCKED);
    check(
        &r,
        "public.invoice_count(p uuid)",
        AUTH,
        Attack::Call,
        LEAK1,
    );
    check(
        &r,
        "public.invoice_count_checked(p uuid)",
        AUTH,
        Attack::Call,
        BLOCKED,
    );
    assert!(
        !r.results.iter().any(|x| x.outcome == Outcome::Skipped
            && (x.table.starts_with("public.organizations")
                || x.table.starts_with("public.invoice"))),
        "{}",
        listing(&r)
    );
    let left: i64 = pg_harness::shared()
        .connect(&db.name)
        .await
        .unwrap()
        .query_one(
            "SELECT (SELECT count(*) FROM auth.users) + (SELECT count(*) FROM organizations)
                  + (SELECT count(*) FROM members) + (SELECT count(*) FROM invoices)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "rows left behind");
}
