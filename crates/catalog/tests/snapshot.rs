//! The snapshot reads every kind of object the later stages need, in a fixed number of queries.

use tenantguard_catalog::*;

const SCHEMA: &str = r#"
CREATE ROLE tg_app LOGIN;
CREATE ROLE tg_bypass LOGIN BYPASSRLS;
CREATE ROLE tg_group NOLOGIN;
GRANT tg_group TO tg_app;
CREATE TABLE organizations (id uuid PRIMARY KEY);
CREATE TABLE projects (
    id int PRIMARY KEY,
    org_id uuid NOT NULL,
    name text DEFAULT 'x',
    CONSTRAINT name_len CHECK (length(name) < 100)
);
ALTER TABLE projects ADD CONSTRAINT projects_org FOREIGN KEY (org_id) REFERENCES organizations ON DELETE SET NULL NOT VALID;
CREATE INDEX projects_org_idx ON projects (org_id, lower(name)) WHERE name IS NOT NULL;
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
CREATE POLICY p_sel ON projects AS RESTRICTIVE FOR SELECT TO tg_app, tg_group
    USING (org_id = (current_setting('app.org', true))::uuid);
CREATE POLICY p_ins ON projects FOR INSERT WITH CHECK (true);
GRANT SELECT, INSERT ON projects TO tg_app;
CREATE TABLE events (org_id uuid, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE base_log (org_id uuid);
CREATE TABLE child_log (extra int) INHERITS (base_log);
CREATE VIEW project_names WITH (security_invoker = true) AS SELECT id, name FROM projects;
CREATE MATERIALIZED VIEW project_counts AS SELECT org_id, count(*) FROM projects GROUP BY org_id;
CREATE FOREIGN DATA WRAPPER tg_dummy;
CREATE SERVER tg_srv FOREIGN DATA WRAPPER tg_dummy;
CREATE FOREIGN TABLE remote_things (org_id uuid) SERVER tg_srv;
CREATE FUNCTION definer_fn(p uuid) RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = ''
    AS $$ SELECT count(*) FROM public.projects WHERE org_id = p $$;
REVOKE EXECUTE ON FUNCTION definer_fn(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION definer_fn(uuid) TO tg_app;
CREATE SCHEMA other;
CREATE TABLE other.hidden (id int);
"#;

#[tokio::test]
async fn reads_every_kind_of_object() {
    let (name, url) = pg_harness::fresh_database(false).await.unwrap();
    pg_harness::shared()
        .connect(&name)
        .await
        .unwrap()
        .batch_execute(SCHEMA)
        .await
        .unwrap();
    let (client, _) = connect(&url).await.unwrap();
    let s = load_snapshot(
        &client,
        &SnapshotOptions {
            schemas: vec!["public".into()],
        },
    )
    .await
    .unwrap();
    assert_eq!(s.schemas, ["public"]);
    assert_eq!(s.current_user, "postgres");
    assert!(s.current_user_bypasses_rls);
    assert!(s.server_version_num >= 150000);
    let rel = |n: &str| {
        s.relation(&QualifiedName::new("public", n))
            .unwrap_or_else(|| panic!("{n}"))
    };
    assert!(
        s.relation(&QualifiedName::new("other", "hidden")).is_none(),
        "--schemas narrows"
    );

    let p = rel("projects");
    assert_eq!(p.kind, RelationKind::Table);
    assert!(p.rls_enabled && p.rls_forced);
    assert_eq!(p.owner, "postgres");
    let cols: Vec<_> = p
        .columns
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.type_name.as_str(),
                c.not_null,
                c.has_default,
            )
        })
        .collect();
    assert_eq!(
        cols,
        [
            ("id", "integer", true, false),
            ("org_id", "uuid", true, false),
            ("name", "text", false, true)
        ]
    );
    let fk = p
        .constraints
        .iter()
        .find(|c| c.name == "projects_org")
        .unwrap();
    assert_eq!(fk.kind, ConstraintKind::ForeignKey);
    assert!(!fk.validated);
    assert_eq!(fk.columns, ["org_id"]);
    let f = fk.foreign_key.as_ref().unwrap();
    assert_eq!(f.references, QualifiedName::new("public", "organizations"));
    assert_eq!(f.referenced_columns, ["id"]);
    assert_eq!(f.on_delete, FkAction::SetNull);
    assert_eq!(f.on_update, FkAction::NoAction);
    assert!(p
        .constraints
        .iter()
        .any(|c| c.name == "name_len" && c.kind == ConstraintKind::Check));
    assert_eq!(p.primary_key().unwrap().columns, ["id"]);
    let idx = p
        .indexes
        .iter()
        .find(|i| i.name == "projects_org_idx")
        .unwrap();
    assert_eq!(idx.columns, [Some("org_id".to_string()), None]);
    assert!(idx.partial && idx.valid && !idx.unique);
    assert_eq!(idx.leading_column(), Some("org_id"));
    let sel = p.policies.iter().find(|x| x.name == "p_sel").unwrap();
    assert_eq!(sel.command, PolicyCommand::Select);
    assert!(!sel.permissive);
    assert_eq!(sel.roles, ["tg_app", "tg_group"]);
    assert_eq!(
        sel.using.as_deref(),
        Some("(org_id = (current_setting('app.org'::text, true))::uuid)")
    );
    assert_eq!(sel.with_check, None);
    let ins = p.policies.iter().find(|x| x.name == "p_ins").unwrap();
    assert_eq!(
        (ins.command, ins.permissive, ins.roles.as_slice()),
        (PolicyCommand::Insert, true, &["public".to_string()][..])
    );
    assert_eq!(ins.with_check.as_deref(), Some("true"));
    let grants: Vec<_> = p
        .grants
        .iter()
        .filter(|g| g.grantee == "tg_app")
        .map(|g| g.privilege.as_str())
        .collect();
    assert_eq!(grants, ["INSERT", "SELECT"]);

    assert_eq!(rel("events").kind, RelationKind::PartitionedTable);
    let part = rel("events_2026");
    assert!(part.is_partition);
    assert_eq!(part.parents, [QualifiedName::new("public", "events")]);
    let child = rel("child_log");
    assert!(!child.is_partition);
    assert_eq!(child.parents, [QualifiedName::new("public", "base_log")]);
    let view = rel("project_names");
    assert_eq!(view.kind, RelationKind::View);
    assert!(view.options.contains(&"security_invoker=true".to_string()));
    assert!(view
        .view_definition
        .as_deref()
        .unwrap()
        .contains("FROM public.projects"));
    assert_eq!(rel("project_counts").kind, RelationKind::MaterializedView);
    assert_eq!(rel("remote_things").kind, RelationKind::ForeignTable);

    let app = s.role("tg_app").unwrap();
    assert!(app.can_login && !app.superuser && !app.bypass_rls);
    assert_eq!(app.member_of, ["tg_group"]);
    assert!(s.role("tg_bypass").unwrap().bypass_rls);

    let f = s.functions.iter().find(|f| f.name == "definer_fn").unwrap();
    assert!(f.security_definer);
    assert_eq!(f.language, "sql");
    assert_eq!(f.identity_arguments, "p uuid");
    assert_eq!(f.config, ["search_path=\"\""]);
    assert!(f.body.contains("FROM public.projects"));
    assert_eq!(f.execute_grantees, ["postgres", "tg_app"]);
    // Helper functions in platform schemas are read too (policies call them).
    assert!(s.functions.iter().all(|f| f.schema != "pg_catalog"));

    // The snapshot is its own file format: it round-trips through JSON.
    let json = serde_json::to_string(&s).unwrap();
    let back: Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back.relations.len(), s.relations.len());
}

/// Policy texts are deparsed once per distinct stored tree (see `deparse_key`): every text
/// must still be exactly what `pg_get_expr` prints for that policy on its own table. The
/// tables below share trees that print differently: the same attribute numbers under other
/// names, correlated sub-queries that name the outer table, sub-query aliases made unique
/// against the outer name, whole-row references, and the same policy over different
/// whitespace (shared correctly).
#[tokio::test]
async fn shared_policy_texts_are_what_pg_get_expr_prints() {
    let (name, url) = pg_harness::fresh_database(false).await.unwrap();
    let admin = pg_harness::shared().connect(&name).await.unwrap();
    let mut ddl = String::from(
        "CREATE TABLE members (org_id int, user_name text);
         CREATE SCHEMA private;
         CREATE TABLE private.users (org_id int);
         CREATE FUNCTION row_ok(anyelement) RETURNS boolean LANGUAGE sql AS 'SELECT true';\n",
    );
    for (table, cols) in [
        ("a1", "org_id int, name text"),
        ("a2", "tenant int, label text"),
        ("a3", "org_id int, name text"),
        ("members_view_like", "org_id int, name text"),
        // Named like the sub-queries' FROM items, or like what the deparser renames them to.
        ("m", "org_id int, name text"),
        ("m_1", "org_id int, name text"),
        ("mm", "org_id int, name text"),
        ("users", "org_id int, name text"),
    ] {
        ddl.push_str(&format!(
            "CREATE TABLE {table} ({cols});
             ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
             CREATE POLICY by_position ON {table} USING ({first} = 1) WITH CHECK ({first}   =   1);
             CREATE POLICY correlated ON {table} USING (EXISTS (SELECT 1 FROM members m WHERE m.org_id = {table}.{first}));
             CREATE POLICY aliased ON {table} USING ({first} IN (SELECT members.org_id FROM members WHERE members.user_name = current_user));
             CREATE POLICY whole_row ON {table} USING (row_ok({table}.*));
             CREATE POLICY claim ON {table} USING ({first} = (SELECT current_setting('app.org', true)::int));
             CREATE POLICY membership ON {table} USING ({first} IN (SELECT m.org_id FROM members m WHERE m.user_name = current_user));
             CREATE POLICY outside ON {table} USING ({first} IN (SELECT users.org_id FROM private.users));\n",
            first = cols.split(' ').next().unwrap(),
        ));
    }
    // The outer table is itself called `members` in one schema: the sub-query's alias changes.
    ddl.push_str(
        "CREATE SCHEMA s2;
         CREATE TABLE s2.members (org_id int, name text);
         ALTER TABLE s2.members ENABLE ROW LEVEL SECURITY;
         CREATE POLICY aliased ON s2.members USING (org_id IN (SELECT members.org_id FROM public.members WHERE members.user_name = current_user));",
    );
    admin.batch_execute(&ddl).await.unwrap();

    let (client, _) = connect(&url).await.unwrap();
    let (second, _) = connect(&url).await.unwrap();
    let s = load_snapshot_with(
        &client,
        Some(&second),
        &SnapshotOptions {
            schemas: vec!["public".into(), "s2".into()],
        },
    )
    .await
    .unwrap();
    admin
        .batch_execute("SET search_path = pg_catalog")
        .await
        .unwrap();
    let expected = admin
        .query(
            "SELECT n.nspname::text, c.relname::text, p.polname::text,
                    pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
             FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace ORDER BY 1, 2, 3",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(expected.len(), 8 * 7 + 1);
    let mut distinct = std::collections::HashSet::new();
    for row in &expected {
        let rel = s
            .relation(&QualifiedName::new(
                row.get::<_, String>(0),
                row.get::<_, String>(1),
            ))
            .unwrap();
        let policy = rel
            .policies
            .iter()
            .find(|p| p.name == row.get::<_, String>(2))
            .unwrap();
        let (using, check): (Option<String>, Option<String>) = (row.get(3), row.get(4));
        assert_eq!(policy.using, using, "{}.{}", rel.name, policy.name);
        assert_eq!(policy.with_check, check, "{}.{}", rel.name, policy.name);
        distinct.insert(using);
    }
    // The zoo really does contain texts that differ only by the table they are on.
    assert!(distinct.contains(&Some("(tenant = 1)".into())));
    assert!(distinct.contains(&Some("(org_id = 1)".into())));
    assert!(distinct.iter().flatten().any(|t| t.contains("members m_1")));
}
