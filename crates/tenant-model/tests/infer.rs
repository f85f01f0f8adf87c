//! Tenant-model inference on real schemas: which table is the root, which column carries the
//! tenant, which tables are tenanted through a parent, which are global, and overrides.

use tenantguard_catalog::{connect, load_snapshot, QualifiedName, Snapshot, SnapshotOptions};
use tenantguard_tenant_model::{Tenancy, TenantConfig, TenantModel};

async fn snapshot(sql: &str) -> Snapshot {
    let (name, url) = pg_harness::fresh_database(false).await.unwrap();
    pg_harness::shared()
        .connect(&name)
        .await
        .unwrap()
        .batch_execute(sql)
        .await
        .unwrap();
    let (client, _) = connect(&url).await.unwrap();
    load_snapshot(&client, &SnapshotOptions::default())
        .await
        .unwrap()
}

async fn model(sql: &str, config: &TenantConfig) -> TenantModel {
    TenantModel::infer(&snapshot(sql).await, config).unwrap()
}

fn q(name: &str) -> QualifiedName {
    QualifiedName::new("public", name)
}

fn direct(m: &TenantModel, t: &str) -> Option<String> {
    match m.tenancy(&q(t))? {
        Tenancy::Direct { column, .. } => Some(column.clone()),
        _ => None,
    }
}

#[tokio::test]
async fn root_by_foreign_keys_not_by_the_most_referenced_table() {
    let m = model(
        "CREATE TABLE users (id int PRIMARY KEY);
         CREATE TABLE tenants (id int PRIMARY KEY);
         CREATE TABLE projects (id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants, owner_id int REFERENCES users);
         CREATE TABLE issues (id int PRIMARY KEY, tenant_id int NOT NULL REFERENCES tenants, user_id int REFERENCES users,
                              assignee_id int REFERENCES users, project_id int NOT NULL REFERENCES projects);
         CREATE TABLE comments (id int PRIMARY KEY, issue_id int NOT NULL REFERENCES issues, user_id int REFERENCES users);
         CREATE TABLE attachments (id int PRIMARY KEY, comment_id int NOT NULL REFERENCES comments);
         CREATE TABLE countries (code text PRIMARY KEY);",
        &TenantConfig::default(),
    )
    .await;
    let root = m.root.as_ref().unwrap();
    assert_eq!(root.table, q("tenants"));
    assert_eq!(root.key, "id");
    assert_eq!(direct(&m, "projects").as_deref(), Some("tenant_id"));
    assert_eq!(direct(&m, "issues").as_deref(), Some("tenant_id"));
    assert_eq!(m.tenancy(&q("tenants")), Some(&Tenancy::Root));
    // Two hops: attachments → comments → issues.
    match m.tenancy(&q("attachments")).unwrap() {
        Tenancy::Indirect { path, .. } => {
            let hops: Vec<_> = path
                .iter()
                .map(|h| (h.from.name.as_str(), h.to.name.as_str()))
                .collect();
            assert_eq!(hops, [("attachments", "comments"), ("comments", "issues")]);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        m.tenancy(&q("countries")),
        Some(Tenancy::Global { .. })
    ));
    // users is referenced by tenant tables but has no path to a tenant: global (shared).
    assert!(matches!(
        m.tenancy(&q("users")),
        Some(Tenancy::Global { .. })
    ));
}

#[tokio::test]
async fn root_by_name_when_no_foreign_key_exists() {
    let m = model(
        "CREATE TABLE organizations (id uuid PRIMARY KEY);
         CREATE TABLE contacts (id int, org_id uuid NOT NULL);
         CREATE TABLE calls (id int, organization_id uuid);",
        &TenantConfig::default(),
    )
    .await;
    assert_eq!(m.root.as_ref().unwrap().table, q("organizations"));
    assert_eq!(direct(&m, "contacts").as_deref(), Some("org_id"));
    assert_eq!(direct(&m, "calls").as_deref(), Some("organization_id"));
}

#[tokio::test]
async fn unconventional_root_found_by_foreign_keys_named_after_it() {
    let m = model(
        "CREATE TABLE clinics (id int PRIMARY KEY);
         CREATE TABLE users (id int PRIMARY KEY);
         CREATE TABLE patients (id int PRIMARY KEY, clinic_id int NOT NULL REFERENCES clinics, user_id int REFERENCES users);
         CREATE TABLE visits (id int PRIMARY KEY, clinic_id int NOT NULL REFERENCES clinics, user_id int REFERENCES users,
                              patient_id int REFERENCES patients);
         CREATE TABLE invoices (id int PRIMARY KEY, clinic_id int NOT NULL REFERENCES clinics, user_id int REFERENCES users);",
        &TenantConfig::default(),
    )
    .await;
    assert_eq!(m.root.as_ref().unwrap().table, q("clinics"));
    assert_eq!(direct(&m, "visits").as_deref(), Some("clinic_id"));
}

#[tokio::test]
async fn configured_root_keys_and_global_tables_override_inference() {
    let sql = "CREATE TABLE organizations (id int PRIMARY KEY);
               CREATE TABLE shops (id int PRIMARY KEY);
               CREATE TABLE orders (id int, org_id int REFERENCES organizations, shop int REFERENCES shops);
               CREATE TABLE shop_settings (shop int REFERENCES shops);";
    let config = TenantConfig {
        root: Some("public.shops".into()),
        key_columns: vec!["shop".into()],
        global_tables: vec!["shop_settings".into()],
    };
    let m = model(sql, &config).await;
    assert_eq!(m.root.as_ref().unwrap().table, q("shops"));
    assert_eq!(direct(&m, "orders").as_deref(), Some("shop"));
    assert!(matches!(
        m.tenancy(&q("shop_settings")),
        Some(Tenancy::Global { .. })
    ));

    let missing = TenantConfig {
        root: Some("nope".into()),
        ..Default::default()
    };
    let err = TenantModel::infer(&snapshot(sql).await, &missing).unwrap_err();
    assert!(err.to_string().contains("\"nope\""), "{err}");
}

#[tokio::test]
async fn partitions_are_covered_by_their_parent_and_no_root_is_reported_as_such() {
    let m = model(
        "CREATE TABLE organizations (id uuid PRIMARY KEY);
         CREATE TABLE events (org_id uuid NOT NULL REFERENCES organizations, at date NOT NULL) PARTITION BY RANGE (at);
         CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');",
        &TenantConfig::default(),
    )
    .await;
    assert_eq!(direct(&m, "events").as_deref(), Some("org_id"));
    assert!(m.tenancy(&q("events_2026")).is_none());

    let m = model("CREATE TABLE things (id int);", &TenantConfig::default()).await;
    assert!(m.root.is_none());
    assert!(m.unresolved.as_deref().unwrap().contains("[tenant] root"));
}

/// `updated_by` records who changed a row, not whose it is: a settings table keyed by name
/// whose only foreign key is its editor stays global; a table tenanted through a real parent
/// key is still indirect even when it also has an actor column.
#[tokio::test]
async fn actor_columns_are_not_paths_to_the_tenant() {
    let m = model(
        "CREATE TABLE companies (id int PRIMARY KEY);
         CREATE TABLE profiles (id int PRIMARY KEY, company_id int NOT NULL REFERENCES companies);
         CREATE TABLE app_settings (key text PRIMARY KEY, value jsonb,
                                    updated_by int REFERENCES profiles);
         CREATE TABLE invoices (id int PRIMARY KEY, company_id int NOT NULL REFERENCES companies);
         CREATE TABLE invoice_lines (id int PRIMARY KEY, invoice_id int NOT NULL REFERENCES invoices,
                                     created_by int REFERENCES profiles);
         CREATE TABLE notes (id int PRIMARY KEY, profile_id int NOT NULL REFERENCES profiles);",
        &TenantConfig::default(),
    )
    .await;
    assert_eq!(m.root.as_ref().unwrap().table, q("companies"));
    assert!(
        matches!(m.tenancy(&q("app_settings")), Some(Tenancy::Global { .. })),
        "{:?}",
        m.tenancy(&q("app_settings"))
    );
    let first_hop = |t: &str| match m.tenancy(&q(t)) {
        Some(Tenancy::Indirect { path, .. }) => Some(path[0].columns.join(",")),
        _ => None,
    };
    assert_eq!(first_hop("invoice_lines").as_deref(), Some("invoice_id"));
    // A row that belongs to a profile (not just written by one) is the profile's tenant's.
    assert_eq!(first_hop("notes").as_deref(), Some("profile_id"));
}

async fn supabase_model(sql: &str) -> TenantModel {
    let (name, url) = pg_harness::fresh_database(true).await.unwrap();
    pg_harness::shared()
        .connect(&name)
        .await
        .unwrap()
        .batch_execute(sql)
        .await
        .unwrap();
    let (client, _) = connect(&url).await.unwrap();
    let snapshot = load_snapshot(&client, &SnapshotOptions::default())
        .await
        .unwrap();
    TenantModel::infer(&snapshot, &TenantConfig::default()).unwrap()
}

/// The policies say which column is the tenant. `school_id` has no foreign key and no
/// conventional name, while `subject_id` is the most referenced: the structure alone picked
/// `subjects`. The policies compare `school_id` with the caller's school on every table.
#[tokio::test]
async fn policies_name_the_root_when_the_structure_cannot() {
    let m = supabase_model(
        "CREATE TABLE structure_schools (id uuid PRIMARY KEY);
         CREATE TABLE profiles (id uuid PRIMARY KEY, school_id uuid);
         CREATE FUNCTION get_user_school_id() RETURNS uuid LANGUAGE sql STABLE SECURITY DEFINER AS
           $$ SELECT school_id FROM public.profiles WHERE id = auth.uid() $$;
         CREATE TABLE subjects (id uuid PRIMARY KEY, school_id uuid NOT NULL);
         CREATE TABLE lessons (id uuid PRIMARY KEY, school_id uuid NOT NULL, subject_id uuid REFERENCES subjects);
         CREATE TABLE grades (id uuid PRIMARY KEY, school_id uuid NOT NULL, subject_id uuid REFERENCES subjects);
         DO $$ DECLARE t text; BEGIN
           FOREACH t IN ARRAY ARRAY['subjects', 'lessons', 'grades'] LOOP
             EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
             EXECUTE format('CREATE POLICY s ON %I FOR SELECT TO authenticated USING (school_id = get_user_school_id())', t);
           END LOOP;
         END $$;",
    )
    .await;
    let root = m.root.as_ref().expect("a root");
    assert_eq!(root.table, q("structure_schools"));
    assert_eq!(
        root.reason,
        "the policies of 3 tables compare school_id with the caller's tenant"
    );
    assert_eq!(direct(&m, "lessons").as_deref(), Some("school_id"));
}

/// A single-company CRM: `companies` is named like a tenant root and `contacts.company_id`
/// points at it, but every policy is `USING (true)`: the schema keeps no tenancy, and guessing
/// one would report every table as a cross-tenant leak. With RLS off on a table that carries
/// the key, the structure stands (that is a finding, not a design).
#[tokio::test]
async fn no_root_when_every_policy_ignores_the_tenant() {
    let crm = "CREATE TABLE companies (id bigint PRIMARY KEY);
         CREATE TABLE contacts (id bigint PRIMARY KEY, company_id bigint REFERENCES companies);
         CREATE TABLE deals (id bigint PRIMARY KEY, company_id bigint REFERENCES companies);
         CREATE TABLE sales (id bigint PRIMARY KEY, user_id uuid);
         ALTER TABLE companies ENABLE ROW LEVEL SECURITY;
         ALTER TABLE contacts ENABLE ROW LEVEL SECURITY;
         ALTER TABLE sales ENABLE ROW LEVEL SECURITY;
         CREATE POLICY r ON companies FOR SELECT TO authenticated USING (true);
         CREATE POLICY r ON contacts FOR SELECT TO authenticated USING (true);
         CREATE POLICY r ON sales FOR SELECT TO authenticated USING (user_id = auth.uid());";
    let open = supabase_model(&format!(
        "{crm}
         ALTER TABLE deals ENABLE ROW LEVEL SECURITY;
         CREATE POLICY r ON deals FOR ALL TO authenticated USING (true) WITH CHECK (true);"
    ))
    .await;
    assert!(open.root.is_none(), "{:?}", open.root);
    assert_eq!(
        open.unresolved.as_deref(),
        Some(
            "public.companies looks like a tenant root by its name and foreign keys, but no \
             policy compares company_id (or any other column) with the caller's tenant, so the \
             schema shows no tenancy to check (every table carrying it has RLS on with policies \
             that never look at the tenant); if it is multi-tenant, set [tenant] root in \
             tenantguard.toml"
        )
    );
    let rls_off = supabase_model(crm).await;
    assert_eq!(
        rls_off.root.as_ref().map(|r| r.table.clone()),
        Some(q("companies"))
    );
}

/// A claim list read with jsonb's `?`: `app_metadata.tenants ? tenant` compares the tenant
/// column with what the caller's JWT carries, so the structural root stands. With the check gone
/// (`USING (true)`) on every table that carries the tenant, the schema has no tenancy.
#[tokio::test]
async fn claim_list_membership_confirms_the_root() {
    let schema = |check: &str| {
        format!(
            "CREATE TABLE tenants (id text PRIMARY KEY);
             CREATE TABLE tickets (id bigint PRIMARY KEY, tenant text NOT NULL REFERENCES tenants);
             CREATE TABLE tenant_permissions (user_id uuid, tenant_id text REFERENCES tenants);
             ALTER TABLE tenant_permissions ENABLE ROW LEVEL SECURITY;
             CREATE POLICY r ON tenant_permissions FOR SELECT TO authenticated
               USING (user_id = auth.uid());
             ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
             ALTER TABLE tickets ENABLE ROW LEVEL SECURITY;
             CREATE POLICY r ON tenants FOR SELECT TO authenticated
               USING ({});
             CREATE POLICY r ON tickets FOR SELECT TO authenticated
               USING ({});",
            check.replace("COL", "id"),
            check.replace("COL", "tenant"),
        )
    };
    let claims = supabase_model(&schema(
        "COALESCE(((auth.jwt() -> 'app_metadata') -> 'tenants') ? COL, false)",
    ))
    .await;
    assert_eq!(
        claims.root.as_ref().map(|r| r.table.clone()),
        Some(q("tenants"))
    );
    assert_eq!(direct(&claims, "tickets").as_deref(), Some("tenant"));
    let open = supabase_model(&schema("true")).await;
    assert!(open.root.is_none(), "{:?}", open.root);
}
