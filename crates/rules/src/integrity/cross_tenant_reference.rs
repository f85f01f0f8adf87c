use serde_json::json;
use tenantguard_catalog::quote_ident;

use super::object_name;
use crate::{Context, Finding, ObjectRef, Rule};
use tenantguard_scan::{ScanKind, ScanOutcome};

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    super::scan_results(ctx)
        .filter_map(|r| {
            let (
                ScanKind::CrossTenant {
                    constraint,
                    columns,
                    parent,
                    parent_columns,
                    column,
                    parent_column,
                },
                ScanOutcome::CrossTenant { rows, sample },
            ) = (&r.task.kind, &r.outcome)
            else {
                return None;
            };
            if *rows == 0 {
                return None;
            }
            let child = r.task.table.sql();
            let p = parent.sql();
            let q = |cols: &[String]| cols.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ");
            let unique = object_name(&[&parent.name, parent_column, &parent_columns.join("_")], "key");
            let fk = object_name(&[&r.task.table.name, column, &columns.join("_")], "fkey");
            let fix = format!(
                "-- Make a cross-tenant reference impossible: the child's foreign key carries the tenant key.\n\
                 -- 1. Correct or remove the rows listed in the evidence first.\n\
                 -- 2. A key on the parent that includes the tenant:\n\
                 ALTER TABLE {p} ADD CONSTRAINT {unique} UNIQUE ({pc}, {pcols});\n\
                 -- 3. A composite foreign key that pins the child's tenant to the parent's, then retire the old one:\n\
                 ALTER TABLE {child} ADD CONSTRAINT {fk} FOREIGN KEY ({cc}, {ccols}) REFERENCES {p} ({pc}, {pcols}) ON DELETE CASCADE NOT VALID;\n\
                 ALTER TABLE {child} VALIDATE CONSTRAINT {fk};\n\
                 ALTER TABLE {child} DROP CONSTRAINT {old};",
                pc = quote_ident(parent_column),
                pcols = q(parent_columns),
                cc = quote_ident(column),
                ccols = q(columns),
                old = quote_ident(constraint),
            );
            Some(rule.finding(
                ObjectRef::table(&r.task.table),
                format!(
                    "{rows} row(s) of {} reference a row of {parent} that belongs to another tenant, through {constraint} ({} → {parent}.{})",
                    r.task.table,
                    columns.join(", "),
                    parent_columns.join(", ")
                ),
                json!({
                    "constraint": constraint,
                    "columns": columns,
                    "parent": parent.to_string(),
                    "parent_columns": parent_columns,
                    "rows": rows,
                    "sample": sample,
                }),
                Some(fix),
            ))
        })
        .collect()
}
