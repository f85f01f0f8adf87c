use serde_json::json;
use tenantguard_catalog::quote_ident;

use super::tenant_tables;
use crate::{Context, Finding, ObjectRef, Rule};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    let expected = ctx.config.expected_on_delete;
    tenant_tables(ctx)
        .into_iter()
        .filter_map(|t| {
            let (con, fk) = t.fk?;
            (fk.on_delete != expected).then(|| {
                let tbl = t.name.sql();
                let name = quote_ident(&con.name);
                rule.finding(
                    ObjectRef::table(t.name),
                    format!(
                        "foreign key {} on {}.{} is ON DELETE {}, expected {}: {}",
                        con.name,
                        t.name,
                        t.column,
                        fk.on_delete.sql(),
                        expected.sql(),
                        match fk.on_delete {
                            tenantguard_catalog::FkAction::NoAction | tenantguard_catalog::FkAction::Restrict =>
                                "deleting a tenant fails while it has rows here",
                            _ => "deleting a tenant leaves its rows here",
                        }
                    ),
                    json!({
                        "column": t.column,
                        "constraint": con.name,
                        "on_delete": fk.on_delete,
                        "expected": expected,
                    }),
                    Some(format!(
                        "BEGIN;\n\
                         ALTER TABLE {tbl} DROP CONSTRAINT {name};\n\
                         ALTER TABLE {tbl} ADD CONSTRAINT {name} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} NOT VALID;\n\
                         COMMIT;\n\
                         ALTER TABLE {tbl} VALIDATE CONSTRAINT {name};",
                        quote_ident(t.column),
                        fk.references.sql(),
                        fk.referenced_columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", "),
                        expected.sql()
                    )),
                )
            })
        })
        .collect()
}
