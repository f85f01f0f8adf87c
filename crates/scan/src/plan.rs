//! Which statements to run: one per directly tenanted table, one per foreign key between two
//! tenanted tables that does not include the tenant key.

use serde::{Deserialize, Serialize};
use tenantguard_catalog::{quote_ident, QualifiedName, Snapshot};
use tenantguard_tenant_model::{Tenancy, TenantModel};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanTask {
    pub table: QualifiedName,
    pub kind: ScanKind,
    /// The statement, kept so a user can rerun it by hand.
    pub sql: String,
    /// The planner's row estimate, to start big tables first.
    pub estimated_rows: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "scan", rename_all = "snake_case")]
pub enum ScanKind {
    TenantKey {
        column: String,
        /// Whether the skip-scan form was used (an index leads with the key).
        skip_scan: bool,
    },
    CrossTenant {
        constraint: String,
        columns: Vec<String>,
        parent: QualifiedName,
        parent_columns: Vec<String>,
        column: String,
        parent_column: String,
    },
}

pub fn plan_scans(snapshot: &Snapshot, model: &TenantModel) -> Vec<ScanTask> {
    let Some(root) = &model.root else {
        return vec![];
    };
    let root_rel = snapshot.relation(&root.table);
    let root_key_type = root_rel
        .and_then(|r| r.column(&root.key))
        .map(|c| c.type_name.as_str())
        .unwrap_or("");
    // Tables with inheritance children are read with ONLY, so each row is counted once, in its
    // own table (partitions are not modelled: their partitioned parent covers them).
    let parents_of_children: std::collections::HashSet<&QualifiedName> = snapshot
        .relations
        .iter()
        .filter(|r| !r.is_partition)
        .flat_map(|r| r.parents.iter())
        .collect();
    let has_children = |name: &QualifiedName| parents_of_children.contains(name);
    let from = |name: &QualifiedName| {
        if has_children(name) {
            format!("ONLY {}", name.sql())
        } else {
            name.sql()
        }
    };

    let mut tasks = vec![];
    for (name, column) in model.direct_tables() {
        let Some(rel) = snapshot.relation(name) else {
            continue;
        };
        let col_type = rel
            .column(column)
            .map(|c| c.type_name.as_str())
            .unwrap_or("");
        let skip_scan = rel.indexes.iter().any(|i| {
            i.valid && !i.partial && i.method == "btree" && i.leading_column() == Some(column)
        });
        let t = from(name);
        let c = quote_ident(column);
        let root_t = root.table.sql();
        let rk = quote_ident(&root.key);
        // Compare as text when the key's type differs from the root's (no FK forces them equal).
        let (lhs, rhs) = if col_type == root_key_type {
            (format!("r.{rk}"), "d.k".to_string())
        } else {
            (format!("r.{rk}::text"), "d.k::text".to_string())
        };
        let sql = if skip_scan {
            format!(
                "WITH RECURSIVE d(k) AS (\n\
                 \x20 (SELECT {c} FROM {t} WHERE {c} IS NOT NULL ORDER BY {c} LIMIT 1)\n\
                 \x20 UNION ALL\n\
                 \x20 SELECT (SELECT {c} FROM {t} WHERE {c} > d.k ORDER BY {c} LIMIT 1) FROM d WHERE d.k IS NOT NULL\n\
                 ), missing AS (\n\
                 \x20 SELECT d.k FROM d WHERE d.k IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {root_t} r WHERE {lhs} = {rhs})\n\
                 )\n\
                 SELECT (SELECT count(*) FROM {t} WHERE {c} IS NULL),\n\
                 \x20      (SELECT count(*) FROM {t} WHERE {c} = ANY (ARRAY(SELECT k FROM missing))),\n\
                 \x20      (SELECT count(*) FROM missing),\n\
                 \x20      ARRAY(SELECT k::text FROM missing ORDER BY 1 LIMIT 5)"
            )
        } else {
            let (lhs, rhs) = if col_type == root_key_type {
                (format!("r.{rk}"), format!("t.{c}"))
            } else {
                (format!("r.{rk}::text"), format!("t.{c}::text"))
            };
            // Grouped anti-join: parallel-safe (no DISTINCT aggregate), so PostgreSQL scans
            // with its parallel workers; NULL keys survive NOT EXISTS as their own group.
            format!(
                "WITH g AS (\n\
                 \x20 SELECT t.{c} AS k, count(*) AS n FROM {t} t\n\
                 \x20 WHERE NOT EXISTS (SELECT 1 FROM {root_t} r WHERE {lhs} = {rhs})\n\
                 \x20 GROUP BY t.{c}\n\
                 )\n\
                 SELECT coalesce((SELECT sum(n) FROM g WHERE k IS NULL), 0)::int8,\n\
                 \x20      coalesce((SELECT sum(n) FROM g WHERE k IS NOT NULL), 0)::int8,\n\
                 \x20      (SELECT count(*) FROM g WHERE k IS NOT NULL),\n\
                 \x20      ARRAY(SELECT k::text FROM g WHERE k IS NOT NULL ORDER BY 1 LIMIT 5)"
            )
        };
        tasks.push(ScanTask {
            table: name.clone(),
            kind: ScanKind::TenantKey {
                column: column.to_string(),
                skip_scan,
            },
            sql,
            estimated_rows: rel.estimated_rows,
        });

        // Foreign keys to another directly tenanted table (not the root) that leave the tenant
        // key out: nothing stops a row of tenant A from pointing at a row of tenant B.
        for (con, fk) in rel.foreign_keys() {
            if fk.references == root.table || con.columns.iter().any(|c| c == column) {
                continue;
            }
            let Some(Tenancy::Direct {
                column: parent_key, ..
            }) = model.tenancy(&fk.references)
            else {
                continue;
            };
            let Some(parent_rel) = snapshot.relation(&fk.references) else {
                continue;
            };
            let parent_key_type = parent_rel
                .column(parent_key)
                .map(|c| c.type_name.as_str())
                .unwrap_or("");
            let join = con
                .columns
                .iter()
                .zip(&fk.referenced_columns)
                .map(|(a, b)| format!("p.{} = c.{}", quote_ident(b), quote_ident(a)))
                .collect::<Vec<_>>()
                .join(" AND ");
            let pk = quote_ident(parent_key);
            let cmp = if col_type == parent_key_type {
                format!("c.{c} <> p.{pk}")
            } else {
                format!("c.{c}::text <> p.{pk}::text")
            };
            let refs = con
                .columns
                .iter()
                .map(|a| format!("c.{}", quote_ident(a)))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "WITH x AS (\n\
                 \x20 SELECT c.{c}::text AS child_tenant, p.{pk}::text AS parent_tenant, ROW({refs})::text AS ref\n\
                 \x20 FROM {t} c JOIN {parent} p ON {join}\n\
                 \x20 WHERE {cmp}\n\
                 )\n\
                 SELECT (SELECT count(*) FROM x),\n\
                 \x20      ARRAY(SELECT child_tenant || ' -> ' || parent_tenant || ' via ' || ref FROM x ORDER BY 1 LIMIT 5)",
                parent = from(&fk.references),
            );
            tasks.push(ScanTask {
                table: name.clone(),
                kind: ScanKind::CrossTenant {
                    constraint: con.name.clone(),
                    columns: con.columns.clone(),
                    parent: fk.references.clone(),
                    parent_columns: fk.referenced_columns.clone(),
                    column: column.to_string(),
                    parent_column: parent_key.clone(),
                },
                sql,
                estimated_rows: rel.estimated_rows,
            });
        }
    }
    tasks
}
