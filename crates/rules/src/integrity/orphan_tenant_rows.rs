use serde_json::json;
use tenantguard_catalog::quote_ident;

use super::{scan_results, tenant_key_counts, tenant_tables};
use crate::{Context, Finding, ObjectRef, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    let tables = tenant_tables(ctx);
    scan_results(ctx)
        .filter_map(|r| {
            let (column, _, orphans, missing, sample) = tenant_key_counts(r)?;
            if orphans == 0 {
                return None;
            }
            let table = tables.iter().find(|t| t.name == &r.task.table)?;
            let root = &table.root;
            let (fk_state, why) = match table.fk {
                None => ("none", "there is no foreign key to stop them".to_string()),
                Some((c, _)) if !c.validated => (
                    "not_valid",
                    format!("foreign key {} was added NOT VALID, so these older rows were never checked", c.name),
                ),
                Some(_) => (
                    "valid",
                    "the foreign key is validated, so they were loaded with triggers disabled (session_replication_role = replica?)".to_string(),
                ),
            };
            let t = r.task.table.sql();
            let c = quote_ident(column);
            let rk = quote_ident(&root.key);
            let mut fix = format!(
                "-- These rows belong to {missing} tenant(s) that no longer exist in {}. Review, then remove them\n\
                 -- (or restore their tenants):\n\
                 SELECT * FROM {t} o WHERE o.{c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {} r WHERE r.{rk} = o.{c});\n\
                 DELETE FROM {t} o WHERE o.{c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {} r WHERE r.{rk} = o.{c});",
                root.table,
                root.table.sql(),
                root.table.sql()
            );
            if fk_state == "not_valid" {
                let (con, _) = table.fk.expect("not_valid implies a foreign key");
                fix.push_str(&format!(
                    "\nALTER TABLE {t} VALIDATE CONSTRAINT {};",
                    quote_ident(&con.name)
                ));
            }
            Some(rule.finding(
                ObjectRef::table(&r.task.table),
                format!(
                    "{orphans} row(s) of {} have a {column} value that is not in {} ({missing} missing tenant(s)); {why}",
                    r.task.table, root.table
                ),
                json!({
                    "column": column,
                    "rows": orphans,
                    "missing_tenants": missing,
                    "sample_tenant_ids": sample,
                    "foreign_key": fk_state,
                }),
                Some(fix),
            ))
        })
        .collect()
}
