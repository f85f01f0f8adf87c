use serde_json::json;
use tenantguard_catalog::quote_ident;

use super::{scan_results, shares_null_rows, tenant_key_counts};
use crate::{Context, Finding, ObjectRef, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    scan_results(ctx)
        .filter_map(|r| {
            let (column, nulls, ..) = tenant_key_counts(r)?;
            if shares_null_rows(ctx, &r.task.table, column) {
                return None;
            }
            (nulls > 0).then(|| {
                let t = r.task.table.sql();
                let c = quote_ident(column);
                rule.finding(
                    ObjectRef::table(&r.task.table),
                    format!("{nulls} row(s) of {} have NULL {column}: they belong to no tenant", r.task.table),
                    json!({ "column": column, "rows": nulls }),
                    Some(format!(
                        "-- Review the rows, give each its tenant (or move them aside), then forbid NULL:\n\
                         SELECT * FROM {t} WHERE {c} IS NULL;\n\
                         -- UPDATE {t} SET {c} = '<tenant id>' WHERE {c} IS NULL AND …;"
                    )),
                )
            })
        })
        .collect()
}
