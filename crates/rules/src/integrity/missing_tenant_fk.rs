use serde_json::json;
use tenantguard_catalog::quote_ident;

use super::{object_name, tenant_tables};
use crate::{Context, Finding, ObjectRef, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    tenant_tables(ctx)
        .into_iter()
        .filter(|t| t.fk.is_none())
        .map(|t| {
            let tbl = t.name.sql();
            let c = quote_ident(t.column);
            let fk = object_name(&[&t.name.name, t.column], "fkey");
            let action = ctx.config.expected_on_delete.sql();
            rule.finding(
                ObjectRef::table(t.name),
                format!(
                    "{}.{} has no foreign key to {}: rows can name tenants that do not exist, and deleting a tenant leaves them behind",
                    t.name, t.column, t.root.table
                ),
                json!({ "column": t.column, "root": t.root.table.to_string() }),
                Some(format!(
                    "-- NOT VALID takes only a brief lock; VALIDATE checks old rows without blocking writes.\n\
                     ALTER TABLE {tbl} ADD CONSTRAINT {fk} FOREIGN KEY ({c}) REFERENCES {} ({}) ON DELETE {action} NOT VALID;\n\
                     ALTER TABLE {tbl} VALIDATE CONSTRAINT {fk};",
                    t.root.table.sql(),
                    quote_ident(&t.root.key)
                )),
            )
        })
        .collect()
}
