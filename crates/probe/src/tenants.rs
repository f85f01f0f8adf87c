//! Which two tenants to use: the two with rows in the most tenant tables (or `--tenants A,B`),
//! and a user of A for the JWT's `sub`.

use anyhow::{bail, Context, Result};
use tenantguard_catalog::{quote_ident, QualifiedName, Snapshot};
use tenantguard_tenant_model::{Tenancy, TenantModel, TenantRoot};
use tokio_postgres::Client;

use crate::predicates::MembershipLookup;
use crate::TenantPair;

/// Rows sampled per table when counting which tenants have data.
const SAMPLE: usize = 200;
/// Tables sampled (the largest by estimate).
const TABLES: usize = 40;

pub async fn pick(
    client: &Client,
    snapshot: &Snapshot,
    model: &TenantModel,
    requested: Option<(String, String)>,
    memberships: &[MembershipLookup],
) -> Result<TenantPair> {
    let Some(root) = &model.root else {
        bail!("no tenant root was found, so there is no tenant to impersonate: name it in tenantguard.toml ([tenant] root = \"…\")");
    };
    let root_sql = root.table.sql();
    let key = quote_ident(&root.key);
    let (attacker, victim, how, synthesized) = match requested {
        Some((a, b)) => {
            if a == b {
                bail!("--tenants: the attacker and the victim must be two different tenants");
            }
            let found: i64 = client
                .query_one(
                    &format!("SELECT count(*) FROM {root_sql} WHERE {key}::text = ANY($1)"),
                    &[&vec![a.clone(), b.clone()]],
                )
                .await
                .with_context(|| format!("looking up --tenants in {}", root.table))?
                .get(0);
            if found < 2 {
                bail!(
                    "--tenants {a},{b}: both must be values of {}.{} (found {found} of 2)",
                    root.table,
                    root.key
                );
            }
            (a, b, "given with --tenants".to_string(), vec![])
        }
        None => {
            let existing = busiest_pair(client, snapshot, model, root).await?;
            let mut ids = existing.clone();
            let mut synthesized = vec![];
            while ids.len() < 2 {
                let id = new_tenant_id(client, root, &ids).await?;
                synthesized.push(id.clone());
                ids.push(id);
            }
            let how = if synthesized.is_empty() {
                "the two tenants with rows in the most tenant tables".to_string()
            } else {
                format!(
                    "{} had {} tenant(s): {} made up, its root row inserted inside each rolled-back transaction",
                    root.table,
                    existing.len(),
                    if synthesized.len() == 2 { "both" } else { "one" }
                )
            };
            (ids[0].clone(), ids[1].clone(), how, synthesized)
        }
    };
    let attacker_user = user_of(client, snapshot, model, memberships, &attacker, None).await?;
    let victim_user = user_of(
        client,
        snapshot,
        model,
        memberships,
        &victim,
        attacker_user.as_deref(),
    )
    .await?;
    Ok(TenantPair {
        attacker,
        victim,
        how_chosen: how,
        attacker_user,
        victim_user,
        synthesized,
    })
}

/// Up to two tenants, those with rows in the most tenant tables first.
async fn busiest_pair(
    client: &Client,
    snapshot: &Snapshot,
    model: &TenantModel,
    root: &TenantRoot,
) -> Result<Vec<String>> {
    let mut tables: Vec<(&QualifiedName, &str, f64)> = model
        .direct_tables()
        .filter_map(|(t, k)| Some((t, k, snapshot.relation(t)?.estimated_rows)))
        .collect();
    tables.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(b.0)));
    tables.truncate(TABLES);
    let samples: Vec<String> = tables
        .iter()
        .enumerate()
        .map(|(i, (t, k, _))| {
            let k = quote_ident(k);
            format!(
                "(SELECT {i} AS t, {k}::text AS k FROM {} WHERE {k} IS NOT NULL LIMIT {SAMPLE})",
                t.sql()
            )
        })
        .collect();
    let key = quote_ident(&root.key);
    let root_sql = root.table.sql();
    let mut ids: Vec<String> = vec![];
    if !samples.is_empty() {
        // Rank the sampled ids (a few thousand rows), then keep those that are tenants: the
        // root is probed per candidate, never grouped whole (it may hold millions of tenants).
        let sql = format!(
            "WITH s AS ({}), c AS (SELECT k, count(DISTINCT t) AS nt, count(*) AS n FROM s GROUP BY k)
             SELECT c.k FROM c WHERE EXISTS (SELECT 1 FROM {root_sql} r WHERE r.{key}::text = c.k)
             ORDER BY c.nt DESC, c.n DESC, c.k LIMIT 2",
            samples.join(" UNION ALL ")
        );
        let rows = client
            .query(&sql, &[])
            .await
            .context("choosing two tenants with rows")?;
        ids.extend(rows.iter().map(|r| r.get::<_, String>(0)));
    }
    if ids.len() < 2 {
        // Tenants without rows anywhere still make a pair (their rows are seeded).
        let rows = client
            .query(
                &format!("SELECT {key}::text FROM {root_sql} ORDER BY 1 LIMIT 3"),
                &[],
            )
            .await
            .context("choosing two tenants")?;
        for r in rows {
            let id: String = r.get(0);
            if ids.len() < 2 && !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    Ok(ids)
}

/// An id of the root's key type that no tenant has.
async fn new_tenant_id(client: &Client, root: &TenantRoot, taken: &[String]) -> Result<String> {
    let key = quote_ident(&root.key);
    let sql = match root.key_type.as_str() {
        "uuid" => "SELECT gen_random_uuid()::text".to_string(),
        "smallint" | "integer" | "bigint" | "numeric" => format!(
            "SELECT (coalesce(max({key}), 0) + 1000 + {})::text FROM {}",
            taken.len(),
            root.table.sql()
        ),
        _ => format!("SELECT 'tenantguard-tenant-{}'", taken.len() + 1),
    };
    Ok(client
        .query_one(&sql, &[])
        .await
        .context("making up a tenant id")?
        .get(0))
}

/// A user of a tenant: first a member in a table the policies look the caller up in, else the
/// value of a column referencing `auth.users` (or named `user_id`) in a row of the tenant;
/// never `not` (B's user is not A's).
async fn user_of(
    client: &Client,
    snapshot: &Snapshot,
    model: &TenantModel,
    memberships: &[MembershipLookup],
    tenant: &str,
    not: Option<&str>,
) -> Result<Option<String>> {
    let not = not.unwrap_or("");
    let mut probes = vec![];
    for m in memberships {
        if let Some(Tenancy::Direct { column, .. }) = model.tenancy(&m.table) {
            probes.push(format!(
                "(SELECT {c}::text FROM {} WHERE {k}::text = $1 AND {c} IS NOT NULL AND {c}::text <> $2 LIMIT 1)",
                m.table.sql(),
                c = quote_ident(&m.user_column),
                k = quote_ident(column)
            ));
        }
    }
    for (t, k) in model.direct_tables() {
        let Some(rel) = snapshot.relation(t) else {
            continue;
        };
        let mut user_columns: Vec<&str> = rel
            .foreign_keys()
            .filter(|(_, fk)| fk.references.schema == "auth" && fk.references.name == "users")
            .filter(|(c, _)| c.columns.len() == 1)
            .map(|(c, _)| c.columns[0].as_str())
            .collect();
        if user_columns.is_empty() && rel.column("user_id").is_some() {
            user_columns.push("user_id");
        }
        for c in user_columns {
            probes.push(format!(
                "(SELECT {c}::text FROM {} WHERE {k}::text = $1 AND {c} IS NOT NULL AND {c}::text <> $2 LIMIT 1)",
                t.sql(),
                c = quote_ident(c),
                k = quote_ident(k)
            ));
        }
    }
    if probes.is_empty() {
        return Ok(None);
    }
    probes.truncate(50);
    let row = client
        .query(
            &format!("SELECT * FROM ({}) u LIMIT 1", probes.join(" UNION ALL ")),
            &[&tenant, &not],
        )
        .await
        .context("looking for a user of the attacking tenant")?;
    Ok(row.first().map(|r| r.get(0)))
}
