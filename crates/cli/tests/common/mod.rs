//! Helpers shared by the CLI's integration tests.

/// count:md5 of the rows of one table, in a stable order.
pub async fn rows_checksum(client: &tokio_postgres::Client, table: &str) -> String {
    client
        .query_one(
            &format!(
                "SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '') FROM {table} x"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// A checksum of every row of every table in every schema, plus the catalog definitions
/// (relations and their ACLs and RLS flags, constraints, policies, indexes, function settings):
/// any write, DDL or grant changes it.
pub async fn database_checksum(client: &tokio_postgres::Client) -> String {
    let tables: Vec<String> = client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname !~ '^pg_toast' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut sums = vec![];
    for t in &tables {
        sums.push(format!("{t}:{}", rows_checksum(client, t).await));
    }
    let catalog: String = client
        .query_one(
            "SELECT md5(string_agg(format('%s %s %s %s %s %s', c.oid, c.relname, c.relacl, c.relrowsecurity, c.relforcerowsecurity, c.reloptions), ',' ORDER BY c.oid))
                    || md5(coalesce((SELECT string_agg(conname || convalidated || confdeltype::text, ',' ORDER BY oid) FROM pg_constraint), ''))
                    || md5(coalesce((SELECT string_agg(polname || coalesce(pg_get_expr(polqual, polrelid), ''), ',' ORDER BY oid) FROM pg_policy), ''))
                    || md5(coalesce((SELECT string_agg(indexrelid::text || indisvalid, ',' ORDER BY indexrelid) FROM pg_index), ''))
                    || md5(coalesce((SELECT string_agg(p.oid || coalesce(p.proacl::text, '') || coalesce(p.proconfig::text, ''), ',' ORDER BY p.oid) FROM pg_proc p), ''))
                    || (SELECT count(*) FROM pg_namespace)
             FROM pg_class c",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    sums.push(catalog);
    sums.join("\n")
}
