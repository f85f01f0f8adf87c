use serde_json::json;
use tenantguard_catalog::quote_ident;

use super::{object_name, shares_null_rows, tenant_tables};
use crate::{Context, Finding, ObjectRef, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    tenant_tables(ctx)
        .into_iter()
        .filter(|t| t.rel.column(t.column).is_some_and(|c| !c.not_null))
        .filter(|t| !shares_null_rows(ctx, t.name, t.column))
        .map(|t| {
            let tbl = t.name.sql();
            let c = quote_ident(t.column);
            let check = object_name(&[&t.name.name, t.column], "not_null");
            rule.finding(
                ObjectRef::table(t.name),
                format!("{}.{} accepts NULL: a row can be written that belongs to no tenant", t.name, t.column),
                json!({ "column": t.column }),
                Some(format!(
                    "-- Online-safe: a validated CHECK lets SET NOT NULL skip its full-table scan.\n\
                     ALTER TABLE {tbl} ADD CONSTRAINT {check} CHECK ({c} IS NOT NULL) NOT VALID;\n\
                     ALTER TABLE {tbl} VALIDATE CONSTRAINT {check};\n\
                     ALTER TABLE {tbl} ALTER COLUMN {c} SET NOT NULL;\n\
                     ALTER TABLE {tbl} DROP CONSTRAINT {check};"
                )),
            )
        })
        .collect()
}
