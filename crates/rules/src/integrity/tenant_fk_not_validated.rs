use serde_json::json;
use tenantguard_catalog::quote_ident;

use super::tenant_tables;
use crate::{Context, Finding, ObjectRef, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    tenant_tables(ctx)
        .into_iter()
        .filter_map(|t| {
            let (con, _) = t.fk?;
            (!con.validated).then(|| {
                rule.finding(
                    ObjectRef::table(t.name),
                    format!(
                        "foreign key {} on {}.{} was added NOT VALID and never validated: rows older than it were never checked",
                        con.name, t.name, t.column
                    ),
                    json!({ "column": t.column, "constraint": con.name }),
                    Some(format!(
                        "-- Remove or fix orphan rows first (see orphan-tenant-rows), then:\n\
                         ALTER TABLE {} VALIDATE CONSTRAINT {};",
                        t.name.sql(),
                        quote_ident(&con.name)
                    )),
                )
            })
        })
        .collect()
}
