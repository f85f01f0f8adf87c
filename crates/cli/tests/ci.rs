//! CI use without a database: `--migrations DIR` (findings point at migration lines, failures
//! name file and line), baselines, inline `tenantguard:ignore` comments, config overrides and
//! `init`.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn tenantguard(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenantguard"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run tenantguard")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

const INIT: &str = "-- orgs and projects
create table public.orgs (id uuid primary key default gen_random_uuid(), name text not null);

create table public.projects (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.orgs (id) on delete cascade,
  name text not null
);
create index on public.projects (org_id);
alter table public.orgs enable row level security;
alter table public.projects enable row level security;
create policy orgs_read on public.orgs for select to authenticated
  using (id = (select (auth.jwt() ->> 'org_id')::uuid));
create policy projects_all on public.projects for all to authenticated
  using (org_id = (select (auth.jwt() ->> 'org_id')::uuid))
  with check (org_id = (select (auth.jwt() ->> 'org_id')::uuid));
";

const LEAK: &str = "create table public.tasks (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.orgs (id) on delete cascade,
  title text not null
);
create index on public.tasks (org_id);
alter table public.tasks enable row level security;

create policy dashboard on public.tasks for select to authenticated
  using ((select auth.role()) = 'authenticated');
";

fn write(dir: &Path, name: &str, sql: &str) {
    std::fs::create_dir_all(dir.join("supabase/migrations")).unwrap();
    std::fs::write(dir.join("supabase/migrations").join(name), sql).unwrap();
}

fn findings(report: &Value) -> Vec<(String, String, Option<String>)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["object"]["name"].as_str().unwrap().to_string(),
                f.get("location")
                    .filter(|l| !l.is_null())
                    .map(|l| format!("{}:{}", l["file"].as_str().unwrap(), l["line"])),
            )
        })
        .collect()
}

/// Files run as `psql -f` runs them: each in its own session (a `SET search_path` in one file
/// does not move the next file's tables), a byte-order mark skipped, and a file that cannot run
/// as one transaction (a new enum value used in the same file, `CREATE INDEX CONCURRENTLY`)
/// run a statement at a time.
#[test]
fn migration_files_run_each_in_a_session_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "20260101000000_init.sql", INIT);
    write(
        dir.path(),
        "20260101000001_private.sql",
        "create schema private;\nset search_path = private;\ncreate table helpers (id int);\n",
    );
    write(
        dir.path(),
        "20260101000002_bom.sql",
        "\u{feff}create type public.status as enum ('open');\n",
    );
    write(
        dir.path(),
        "20260101000003_enum.sql",
        "alter type public.status add value 'closed';\n\
         create table public.tickets (id int primary key, s public.status default 'closed');\n\
         create index concurrently on public.tickets (s);\n",
    );
    // In public (where the session's default search_path puts it), not in private: its lack of
    // RLS is reported on public.tasks.
    write(
        dir.path(),
        "20260101000004_tasks.sql",
        "create table tasks (id uuid primary key, org_id uuid not null references public.orgs (id) on delete cascade);\n\
         create index on tasks (org_id);\n\
         grant select on tasks to anon;\n",
    );
    let out = tenantguard(
        dir.path(),
        &[
            "audit",
            "--migrations",
            "supabase/migrations",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    let on_tasks: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["object"]["name"] == "tasks")
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["object"]["schema"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        on_tasks,
        [("rls-disabled".to_string(), "public".to_string())],
        "{report:#}"
    );
}

#[test]
fn migrations_folder_is_audited_without_a_database_and_findings_point_at_lines() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "20260101000000_init.sql", INIT);
    let out = tenantguard(
        dir.path(),
        &[
            "audit",
            "--migrations",
            "supabase/migrations",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(findings(&json(&out)), []);

    write(dir.path(), "20260215120000_tasks.sql", LEAK);
    let out = tenantguard(
        dir.path(),
        &[
            "audit",
            "--migrations",
            "supabase/migrations",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        findings(&json(&out)),
        [(
            "policy-not-tenant-bound".to_string(),
            "tasks".to_string(),
            Some("supabase/migrations/20260215120000_tasks.sql:9".to_string())
        )]
    );

    // A broken migration: its file, line and PostgreSQL's message, exit 2, one line.
    write(
        dir.path(),
        "20260301000000_broken.sql",
        "-- oops\ncreate table public.ok (id int);\n\ncreate tabel public.bad (id int);\n",
    );
    let out = tenantguard(
        dir.path(),
        &["audit", "--migrations", "supabase/migrations"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: migration supabase/migrations/20260301000000_broken.sql:4 failed: syntax error at or near \"tabel\""),
        "{err}"
    );
    // Plain PostgreSQL: no auth schema, so a Supabase migration fails on auth.jwt().
    std::fs::remove_file(
        dir.path()
            .join("supabase/migrations/20260301000000_broken.sql"),
    )
    .unwrap();
    let out = tenantguard(
        dir.path(),
        &[
            "audit",
            "--migrations",
            "supabase/migrations",
            "--no-supabase-base",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: migration supabase/migrations/20260101000000_init.sql:12 failed:")
            && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn a_baseline_silences_known_findings_until_a_new_one_appears() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "20260101000000_init.sql", INIT);
    write(dir.path(), "20260215120000_tasks.sql", LEAK);
    let m = "supabase/migrations";
    let out = tenantguard(
        dir.path(),
        &[
            "audit",
            "--migrations",
            m,
            "--write-baseline",
            "baseline.json",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let out = tenantguard(
        dir.path(),
        &[
            "audit",
            "--migrations",
            m,
            "--baseline",
            "baseline.json",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report = json(&out);
    assert_eq!(findings(&report), []);
    assert_eq!(report["summary"]["suppressed"], 1);
    assert_eq!(report["suppressed"][0]["by"], "baseline");
    assert_eq!(
        report["suppressed"][0]["finding"]["rule"],
        "policy-not-tenant-bound"
    );

    // Unrelated changes keep the baseline matching; a new leak does not.
    write(
        dir.path(),
        "20260301000000_more.sql",
        "insert into public.orgs (name) values ('x');
         comment on policy dashboard on public.tasks is 'read by the dashboard';
         create table public.notes (id uuid primary key, org_id uuid not null references public.orgs (id) on delete cascade);
         create index on public.notes (org_id);
         alter table public.notes enable row level security;
         create policy open_notes on public.notes for select to anon using (true);",
    );
    let out = tenantguard(
        dir.path(),
        &[
            "audit",
            "--migrations",
            m,
            "--baseline",
            "baseline.json",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    assert_eq!(
        findings(&report)
            .into_iter()
            .map(|(r, t, _)| (r, t))
            .collect::<Vec<_>>(),
        [("policy-not-tenant-bound".to_string(), "notes".to_string())]
    );
    assert_eq!(report["summary"]["suppressed"], 1);
}

#[test]
fn inline_ignores_need_a_reason_and_config_overrides_apply() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "20260101000000_init.sql", INIT);
    write(
        dir.path(),
        "20260102000000_lookup.sql",
        "create table public.events (id uuid primary key, org_id uuid references public.orgs (id) on delete cascade);
         create index on public.events (org_id);
         alter table public.events enable row level security;
         create policy ev on public.events for all to authenticated
           using (org_id = (select (auth.jwt() ->> 'org_id')::uuid))
           with check (org_id = (select (auth.jwt() ->> 'org_id')::uuid));
         comment on table public.events is 'tenantguard:ignore tenant-key-nullable -- backfilled nightly';
         create table public.audit (id uuid primary key, org_id uuid references public.orgs (id) on delete cascade);
         create index on public.audit (org_id);
         alter table public.audit enable row level security;
         create policy au on public.audit for all to authenticated
           using (org_id = (select (auth.jwt() ->> 'org_id')::uuid))
           with check (org_id = (select (auth.jwt() ->> 'org_id')::uuid));
         comment on table public.audit is 'tenantguard:ignore tenant-key-nullable';",
    );
    let m = "supabase/migrations";
    let out = tenantguard(
        dir.path(),
        &["audit", "--migrations", m, "--format", "json"],
    );
    let report = json(&out);
    assert_eq!(
        findings(&report)
            .into_iter()
            .map(|(r, t, _)| (r, t))
            .collect::<Vec<_>>(),
        [("tenant-key-nullable".to_string(), "audit".to_string())]
    );
    assert_eq!(report["suppressed"][0]["by"], "comment");
    assert_eq!(report["suppressed"][0]["reason"], "backfilled nightly");
    assert!(
        report["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("has no reason")),
        "{report:#}"
    );
    // tenant-key-nullable is high: lowered in the config, the audit passes.
    std::fs::write(
        dir.path().join("tenantguard.toml"),
        "[rules]\nseverity = { \"tenant-key-nullable\" = \"low\" }\n",
    )
    .unwrap();
    let out = tenantguard(
        dir.path(),
        &["audit", "--migrations", m, "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["findings"][0]["severity"], "low");
    std::fs::write(
        dir.path().join("tenantguard.toml"),
        "[rules]\nseverty = {}\n",
    )
    .unwrap();
    let out = tenantguard(dir.path(), &["audit", "--migrations", m]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `severty`"));
}

#[test]
fn init_writes_a_config_that_loads_and_names_the_root() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "20260101000000_init.sql", INIT);
    let out = tenantguard(dir.path(), &["init", "--migrations", "supabase/migrations"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("tenantguard.toml")).unwrap();
    assert!(text.contains("root = \"public.orgs\""), "{text}");
    assert!(text.contains("key_columns = [\"org_id\"]"), "{text}");
    // It loads (an audit with it runs), and init does not overwrite it.
    let out = tenantguard(
        dir.path(),
        &["audit", "--migrations", "supabase/migrations"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tenantguard(dir.path(), &["init", "--migrations", "supabase/migrations"]);
    assert_eq!(out.status.code(), Some(2));
}

/// The HTML report of a real database whose tables, columns and policies have hostile names,
/// with the proof: Chromium renders it, no script runs, no injected element exists.
#[tokio::test]
async fn html_report_of_hostile_names_renders_inert_in_chromium() {
    let (name, url) = pg_harness::fresh_database(true).await.unwrap();
    let admin = pg_harness::shared().connect(&name).await.unwrap();
    admin
        .batch_execute(
            r#"CREATE TABLE organizations (id uuid PRIMARY KEY, name text);
               INSERT INTO organizations VALUES ('11111111-1111-1111-1111-111111111111', 'a'),
                                                ('22222222-2222-2222-2222-222222222222', 'b');
               CREATE TABLE "<script>document.title='pwned'</script>" (
                   id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
                   org_id uuid NOT NULL REFERENCES organizations ON DELETE CASCADE,
                   "ü🚀""quote" text);
               INSERT INTO "<script>document.title='pwned'</script>" (org_id)
                 SELECT id FROM organizations;
               ALTER TABLE "<script>document.title='pwned'</script>" ENABLE ROW LEVEL SECURITY;
               CREATE POLICY """><img src=x onerror=""document.title='pwned'"">"
                 ON "<script>document.title='pwned'</script>" USING (true);"#,
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = tenantguard(
        dir.path(),
        &[
            "audit",
            "--database-url",
            &url,
            "--prove",
            "--format",
            "html",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = dir.path().join("report.html");
    std::fs::write(&page, &out.stdout).unwrap();
    let html = String::from_utf8_lossy(&out.stdout);
    assert!(
        html.contains("&lt;script&gt;document.title="),
        "the hostile name is shown as text"
    );
    assert!(html.contains("LEAK"), "the proof matrix is in the report");

    let chromium =
        std::env::var("TENANTGUARD_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "Chromium is needed (apt-get install -y chromium, or set TENANTGUARD_CHROMIUM)"
    );
    let profile = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                &format!("--user-data-dir={}", profile.path().display()),
            ])
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("run chromium")
    };
    let dom = String::from_utf8_lossy(&run(&["--dump-dom"]).stdout).to_string();
    assert!(
        dom.contains("<title>"),
        "Chromium rendered nothing: {dom:.200}"
    );
    assert!(!dom.contains("<title>pwned"), "a script ran");
    assert!(
        !dom.to_lowercase().contains("<script"),
        "a script element exists"
    );
    assert!(!dom.contains("<img"), "an injected element exists");
    let shot = dir.path().join("report.png");
    run(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1280,1600",
    ]);
    assert!(std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0) > 20_000);
}
