use serde_json::json;
use tenantguard_catalog::quote_ident;

use super::{object_name, tenant_tables};
use crate::{Context, Finding, ObjectRef, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    tenant_tables(ctx)
        .into_iter()
        .filter(|t| {
            // A partial or invalid index does not serve every tenant-scoped query.
            !t.rel
                .indexes
                .iter()
                .any(|i| i.valid && !i.partial && i.leading_column() == Some(t.column))
        })
        .map(|t| {
            let idx = object_name(&[&t.name.name, t.column], "idx");
            rule.finding(
                ObjectRef::table(t.name),
                format!(
                    "no index on {} leads with {}: every RLS check and tenant-scoped query reads the whole table",
                    t.name, t.column
                ),
                json!({ "column": t.column, "estimated_rows": t.rel.estimated_rows }),
                Some(format!(
                    "-- CONCURRENTLY does not block writes; it cannot run inside a transaction block.\n\
                     CREATE INDEX CONCURRENTLY IF NOT EXISTS {idx} ON {} ({});",
                    t.name.sql(),
                    quote_ident(t.column)
                )),
            )
        })
        .collect()
}
