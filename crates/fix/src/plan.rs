//! Findings → an ordered plan of steps. Each step's SQL is idempotent (IF [NOT] EXISTS, or
//! guarded by a catalog check), so a plan interrupted half-way can simply be run again.

use std::collections::BTreeMap;

use tenantguard_catalog::{quote_ident, FkAction, QualifiedName};
use tenantguard_rules::{Context, Finding};
use tenantguard_tenant_model::Tenancy;

use crate::quarantine::{quarantine_sql, Condition};
use crate::rewrite::faster_policy_expression;
use crate::template::{schema_template, Template};
use crate::{Applicability, Manual, Phase, Plan, Step};

#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// The claim the template policy reads; default: the trusted claim the schema's policies
    /// use most, else `organization_id`.
    pub claim: Option<String>,
}

fn closes(f: &Finding) -> String {
    match &f.policy {
        Some(p) => format!(
            "{} {}.{} (policy {p:?})",
            f.rule, f.object.schema, f.object.name
        ),
        None => format!("{} {}.{}", f.rule, f.object.schema, f.object.name),
    }
}

fn table_of(f: &Finding) -> QualifiedName {
    QualifiedName::new(&f.object.schema, &f.object.name)
}

/// Adds a constraint unless one of that name exists on the table (ALTER TABLE has no
/// ADD CONSTRAINT IF NOT EXISTS).
fn add_constraint(table: &QualifiedName, name: &str, definition: &str) -> String {
    format!(
        "DO $tg$ BEGIN\n  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = {}::regclass AND conname = {}) THEN\n    ALTER TABLE {} ADD CONSTRAINT {} {definition};\n  END IF;\nEND $tg$;",
        literal(&table.sql()),
        literal(name),
        table.sql(),
        quote_ident(name)
    )
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A constraint or index name of at most 63 bytes.
fn object_name(parts: &[&str], suffix: &str) -> String {
    let mut base = parts.join("_");
    while base.len() + suffix.len() + 1 > 63 {
        base.pop();
    }
    format!("{base}_{suffix}")
}

/// The tenant template's condition for a table: its key against the claim, or for a table
/// tenanted through a parent, the parent row must be visible (the parent's own policy binds it).
fn template_condition(
    ctx: &Context,
    table: &QualifiedName,
    claim: &str,
    mirrored: Option<&Template>,
) -> Option<String> {
    let ty = ctx
        .model
        .root
        .as_ref()
        .map(|r| r.key_type.clone())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "uuid".into());
    let claim_expr = match claim.split_once('.') {
        Some((obj, key)) => format!("(auth.jwt() -> {}) ->> {}", literal(obj), literal(key)),
        None => format!("auth.jwt() ->> {}", literal(claim)),
    };
    let keyed = |key: &str| match mirrored {
        Some(t) => t.condition.replace("{key}", &quote_ident(key)),
        None => format!("{} = (SELECT ({claim_expr})::{ty})", quote_ident(key)),
    };
    match ctx.model.tenancy(table)? {
        Tenancy::Root => Some(keyed(&ctx.model.root.as_ref()?.key)),
        Tenancy::Direct { column, .. } => Some(keyed(column)),
        Tenancy::Indirect { path, .. } => {
            let hop = path.first()?;
            let on: Vec<String> = hop
                .columns
                .iter()
                .zip(&hop.to_columns)
                .map(|(c, p)| {
                    format!(
                        "p.{} = {}.{}",
                        quote_ident(p),
                        quote_ident(&table.name),
                        quote_ident(c)
                    )
                })
                .collect();
            Some(format!(
                "EXISTS (SELECT 1 FROM {} p WHERE {})",
                hop.to.sql(),
                on.join(" AND ")
            ))
        }
        Tenancy::Global { .. } => None,
    }
}

/// `DROP POLICY IF EXISTS tenant_isolation …; CREATE POLICY tenant_isolation …`: the schema's
/// own tenant rule mirrored onto this table when there is one (see `template`), else the JWT
/// claim template for `authenticated`.
fn template_policy(
    ctx: &Context,
    table: &QualifiedName,
    claim: &str,
    mirrored: Option<&Template>,
) -> Option<String> {
    let cond = template_condition(ctx, table, claim, mirrored)?;
    // The mirrored rule may itself be slow (a per-row call, a membership IN): write it fast.
    let cond = faster_policy_expression(&cond).unwrap_or(cond);
    let t = table.sql();
    let roles = match mirrored {
        Some(m) => m.roles.join(", "),
        None if ctx.snapshot.roles.iter().any(|r| r.name == "authenticated") => {
            "authenticated".into()
        }
        None => "PUBLIC".into(),
    };
    Some(format!(
        "DROP POLICY IF EXISTS tenant_isolation ON {t};\n\
         CREATE POLICY tenant_isolation ON {t} AS PERMISSIVE FOR ALL TO {roles}\n  USING ({cond})\n  WITH CHECK ({cond});"
    ))
}

const POLICY_RULES: &[&str] = &[
    "policy-not-tenant-bound",
    "claim-fallback-opens-rows",
    "untrusted-tenant-claim",
    "with-check-not-tenant-bound",
    "policy-pins-other-column",
];

pub fn plan(ctx: &Context, findings: &[Finding], opts: &PlanOptions) -> Plan {
    let claim = opts
        .claim
        .clone()
        .unwrap_or_else(|| tenantguard_rules::rls::main_claim(ctx));
    // A configured claim wins; else mirror the schema's own tenant rule.
    let mirrored = if opts.claim.is_some() {
        None
    } else {
        schema_template(ctx)
    };
    let mirrored = mirrored.as_ref();
    let rule_source = match mirrored {
        Some(m) => format!("the schema's own tenant rule ({})", m.source),
        None => format!("the tenant policy on claim {claim:?}"),
    };
    let mut plan = Plan::default();
    let api_roles: Vec<String> = {
        let mut r: Vec<String> = ctx
            .access
            .roles
            .iter()
            .filter(|r| ctx.snapshot.roles.iter().any(|x| &x.name == *r) || *r == "public")
            .map(|r| {
                if r == "public" {
                    "PUBLIC".into()
                } else {
                    quote_ident(r)
                }
            })
            .collect();
        if !r.iter().any(|x| x == "PUBLIC") {
            r.insert(0, "PUBLIC".into());
        }
        r
    };
    let root = ctx.model.root.as_ref();
    // Policies to speed up: (table, policy) → findings.
    let mut faster: BTreeMap<(QualifiedName, String), Vec<String>> = BTreeMap::new();
    // Tables whose policies get the template: (table → findings it closes).
    let mut policy_tables: BTreeMap<QualifiedName, (Vec<String>, Vec<String>)> = BTreeMap::new();

    for f in findings {
        let t = table_of(f);
        let ev = &f.evidence;
        let column = ev
            .get("column")
            .and_then(|c| c.as_str())
            .map(str::to_string);
        let step = |phase, summary: String, applicability, sql: String| Step {
            phase,
            object: t.to_string(),
            summary,
            closes: vec![closes(f)],
            applicability,
            transactional: true,
            sql,
            index: None,
        };
        match f.rule.as_str() {
            "null-tenant-rows" => {
                let Some(col) = column else { continue };
                plan.steps.push(step(
                    Phase::Quarantine,
                    format!("move the rows of {t} with NULL {col} (and rows referencing them) to quarantine"),
                    Applicability::Safe,
                    quarantine_sql(
                        ctx.snapshot,
                        &t,
                        &Condition(format!("{{t}}.{} IS NULL", quote_ident(&col))),
                        "null-tenant-rows",
                    ),
                ));
            }
            "orphan-tenant-rows" => {
                let (Some(col), Some(root)) = (column, root) else {
                    continue;
                };
                plan.steps.push(step(
                    Phase::Quarantine,
                    format!("move the rows of {t} whose {col} is not a tenant (and rows referencing them) to quarantine"),
                    Applicability::Safe,
                    quarantine_sql(
                        ctx.snapshot,
                        &t,
                        &Condition(format!(
                            "{{t}}.{c} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {} r WHERE r.{} = {{t}}.{c})",
                            root.table.sql(),
                            quote_ident(&root.key),
                            c = quote_ident(&col)
                        )),
                        "orphan-tenant-rows",
                    ),
                ));
            }
            "cross-tenant-reference" => {
                let (Some(key), Some(parent)) = (
                    ctx.model.tenant_key_of(&t),
                    ev.get("parent").and_then(|p| p.as_str()),
                ) else {
                    continue;
                };
                let Some((ps, pn)) = parent.split_once('.') else {
                    continue;
                };
                let parent = QualifiedName::new(ps, pn);
                let Some(parent_key) = ctx.model.tenant_key_of(&parent) else {
                    continue;
                };
                let cols: Vec<String> =
                    serde_json::from_value(ev["columns"].clone()).unwrap_or_default();
                let pcols: Vec<String> =
                    serde_json::from_value(ev["parent_columns"].clone()).unwrap_or_default();
                let join: Vec<String> = cols
                    .iter()
                    .zip(&pcols)
                    .map(|(c, p)| format!("x.{} = {{t}}.{}", quote_ident(p), quote_ident(c)))
                    .collect();
                plan.steps.push(step(
                    Phase::Quarantine,
                    format!("move the rows of {t} that reference another tenant's {parent} to quarantine"),
                    Applicability::Review,
                    quarantine_sql(
                        ctx.snapshot,
                        &t,
                        &Condition(format!(
                            "EXISTS (SELECT 1 FROM {} x WHERE {} AND x.{} IS DISTINCT FROM {{t}}.{})",
                            parent.sql(),
                            join.join(" AND "),
                            quote_ident(parent_key),
                            quote_ident(key)
                        )),
                        "cross-tenant-reference",
                    ),
                ));
                // Make the next cross-tenant reference impossible: the child's foreign key
                // carries the tenant key, against a unique key of the parent that includes it.
                let old = ev
                    .get("constraint")
                    .and_then(|c| c.as_str())
                    .unwrap_or_default();
                let parent_rel = ctx.snapshot.relation(&parent);
                let on_delete = ctx
                    .snapshot
                    .relation(&t)
                    .and_then(|r| r.foreign_keys().find(|(c, _)| c.name == old))
                    .map_or(FkAction::NoAction, |(_, fk)| fk.on_delete);
                if parent_rel
                    .is_none_or(|r| r.kind == tenantguard_catalog::RelationKind::PartitionedTable)
                {
                    plan.manual.push(Manual {
                        closes: closes(f),
                        why: "a composite foreign key (tenant key, id) stops new cross-tenant references; the parent is partitioned, so its unique key cannot be built concurrently: left to you".into(),
                        suggestion: f.fix.clone(),
                    });
                    continue;
                }
                let q = |cols: &[String]| {
                    cols.iter()
                        .map(|c| quote_ident(c))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let unique =
                    object_name(&[&parent.name, parent_key, &pcols.join("_")], "tenant_key");
                let fk = object_name(&[&t.name, key, &cols.join("_")], "tenant_fkey");
                let unique_index =
                    format!("{}.{}", quote_ident(&parent.schema), quote_ident(&unique));
                plan.steps.push(Step {
                    index: Some(unique_index.clone()),
                    transactional: false,
                    ..step(
                        Phase::Constraints,
                        format!("{parent}: unique index ({parent_key}, {}) CONCURRENTLY, for a composite foreign key", pcols.join(", ")),
                        Applicability::Review,
                        format!(
                            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({}, {});",
                            quote_ident(&unique),
                            parent.sql(),
                            quote_ident(parent_key),
                            q(&pcols)
                        ),
                    )
                });
                plan.steps.push(step(
                    Phase::Constraints,
                    format!("{parent}: the index becomes constraint {unique}"),
                    Applicability::Review,
                    add_constraint(
                        &parent,
                        &unique,
                        &format!("UNIQUE USING INDEX {}", quote_ident(&unique)),
                    ),
                ));
                plan.steps.push(step(
                    Phase::Constraints,
                    format!(
                        "{t}: foreign key ({key}, {}) → {parent} ({parent_key}, {}), NOT VALID",
                        cols.join(", "),
                        pcols.join(", ")
                    ),
                    Applicability::Review,
                    add_constraint(
                        &t,
                        &fk,
                        &format!(
                            "FOREIGN KEY ({}, {}) REFERENCES {} ({}, {}) ON DELETE {}{}",
                            quote_ident(key),
                            q(&cols),
                            parent.sql(),
                            quote_ident(parent_key),
                            q(&pcols),
                            on_delete.sql(),
                            fk_not_valid(ctx, &t)
                        ),
                    ),
                ));
                plan.steps.push(Step {
                    applicability: Applicability::Review,
                    ..validate_step(&t, &fk, vec![closes(f)])
                });
                plan.steps.push(step(
                    Phase::Constraints,
                    format!("{t}: drop {old}, now covered by {fk}"),
                    Applicability::Review,
                    format!(
                        "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {};",
                        t.sql(),
                        quote_ident(old)
                    ),
                ));
            }
            "tenant-key-nullable" => {
                let Some(col) = column else { continue };
                let check = object_name(&[&t.name, &col], "not_null");
                let q = quote_ident(&col);
                plan.steps.push(step(
                    Phase::Constraints,
                    format!("{t}.{col}: CHECK ({col} IS NOT NULL) NOT VALID (no scan, brief lock)"),
                    Applicability::Safe,
                    add_constraint(&t, &check, &format!("CHECK ({q} IS NOT NULL) NOT VALID")),
                ));
                plan.steps.push(step(
                    Phase::Constraints,
                    format!("{t}.{col}: validate the check (reads and writes go on)"),
                    Applicability::Safe,
                    format!(
                        "DO $tg$ BEGIN\n  IF EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = {}::regclass AND conname = {} AND NOT convalidated) THEN\n    ALTER TABLE {} VALIDATE CONSTRAINT {};\n  END IF;\nEND $tg$;",
                        literal(&t.sql()),
                        literal(&check),
                        t.sql(),
                        quote_ident(&check)
                    ),
                ));
                plan.steps.push(step(
                    Phase::Constraints,
                    format!("{t}.{col}: SET NOT NULL (proved by the check, no scan) and drop the check"),
                    Applicability::Safe,
                    format!(
                        "ALTER TABLE {} ALTER COLUMN {q} SET NOT NULL;\nALTER TABLE {} DROP CONSTRAINT IF EXISTS {};",
                        t.sql(),
                        t.sql(),
                        quote_ident(&check)
                    ),
                ));
            }
            "missing-tenant-fk" => {
                let (Some(col), Some(root)) = (column, root) else {
                    continue;
                };
                let name = object_name(&[&t.name, &col], "fkey");
                let action = ctx.config.expected_on_delete.sql();
                plan.steps.push(step(
                    Phase::Constraints,
                    format!(
                        "{t}.{col}: foreign key to {} ON DELETE {action}, NOT VALID",
                        root.table
                    ),
                    Applicability::Safe,
                    add_constraint(
                        &t,
                        &name,
                        &format!(
                            "FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {action}{}",
                            quote_ident(&col),
                            root.table.sql(),
                            quote_ident(&root.key),
                            fk_not_valid(ctx, &t)
                        ),
                    ),
                ));
                plan.steps.push(validate_step(&t, &name, vec![closes(f)]));
            }
            "tenant-fk-not-validated" => {
                let Some(con) = ev.get("constraint").and_then(|c| c.as_str()) else {
                    continue;
                };
                plan.steps.push(validate_step(&t, con, vec![closes(f)]));
            }
            "tenant-fk-not-cascade" => {
                let Some(con) = ev.get("constraint").and_then(|c| c.as_str()) else {
                    continue;
                };
                let Some(rel) = ctx.snapshot.relation(&t) else {
                    continue;
                };
                let Some((c, fk)) = rel.foreign_keys().find(|(c, _)| c.name == con) else {
                    continue;
                };
                let action = ctx.config.expected_on_delete;
                let cols: Vec<String> = c.columns.iter().map(|x| quote_ident(x)).collect();
                let pcols: Vec<String> = fk
                    .referenced_columns
                    .iter()
                    .map(|x| quote_ident(x))
                    .collect();
                plan.steps.push(step(
                    Phase::Constraints,
                    format!("{t}: re-add {con} with ON DELETE {} (NOT VALID: no scan while locked)", action.sql()),
                    Applicability::Safe,
                    format!(
                        "DO $tg$ BEGIN\n  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = {lt}::regclass AND conname = {lc} AND confdeltype = {code}) THEN\n    ALTER TABLE {tq} DROP CONSTRAINT IF EXISTS {cq};\n    ALTER TABLE {tq} ADD CONSTRAINT {cq} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {}{};\n  END IF;\nEND $tg$;",
                        cols.join(", "),
                        fk.references.sql(),
                        pcols.join(", "),
                        action.sql(),
                        fk_not_valid(ctx, &t),
                        lt = literal(&t.sql()),
                        lc = literal(con),
                        code = literal(fk_code(action)),
                        tq = t.sql(),
                        cq = quote_ident(con),
                    ),
                ));
                plan.steps.push(validate_step(&t, con, vec![closes(f)]));
            }
            "tenant-key-unindexed" => {
                let Some(col) = column else { continue };
                let name = object_name(&[&t.name, &col], "idx");
                let partitioned = ctx
                    .snapshot
                    .relation(&t)
                    .is_some_and(|r| r.kind == tenantguard_catalog::RelationKind::PartitionedTable);
                let concurrently = |table: &QualifiedName, index: &str| Step {
                    index: Some(format!(
                        "{}.{}",
                        quote_ident(&table.schema),
                        quote_ident(index)
                    )),
                    transactional: false,
                    ..step(
                        Phase::Indexes,
                        format!("index {table} ({col}) CONCURRENTLY (writes go on)"),
                        Applicability::Safe,
                        format!(
                            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({});",
                            quote_ident(index),
                            table.sql(),
                            quote_ident(&col)
                        ),
                    )
                };
                if !partitioned {
                    plan.steps.push(concurrently(&t, &name));
                    continue;
                }
                // A partitioned table cannot be indexed CONCURRENTLY: create the parent's index
                // ON ONLY the parent (no scan), build each partition's CONCURRENTLY, attach them.
                let partitions: Vec<QualifiedName> = ctx
                    .snapshot
                    .relations
                    .iter()
                    .filter(|r| r.is_partition && r.parents.contains(&t))
                    .map(|r| r.qualified_name())
                    .collect();
                plan.steps.push(step(
                    Phase::Indexes,
                    format!("index {t} ({col}) on the partitioned table only (no scan; each partition next)"),
                    Applicability::Safe,
                    format!(
                        "CREATE INDEX IF NOT EXISTS {} ON ONLY {} ({});",
                        quote_ident(&name),
                        t.sql(),
                        quote_ident(&col)
                    ),
                ));
                let mut attach = String::from("DO $tg$ BEGIN\n");
                for p in &partitions {
                    let pname = object_name(&[&p.name, &col], "idx");
                    plan.steps.push(concurrently(p, &pname));
                    let (pi, ci) = (
                        format!("{}.{}", quote_ident(&p.schema), quote_ident(&pname)),
                        format!("{}.{}", quote_ident(&t.schema), quote_ident(&name)),
                    );
                    attach.push_str(&format!(
                        "  IF NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = {}::regclass AND inhparent = {}::regclass) THEN\n    ALTER INDEX {ci} ATTACH PARTITION {pi};\n  END IF;\n",
                        literal(&pi),
                        literal(&ci),
                    ));
                }
                attach.push_str("END $tg$;");
                plan.steps.push(step(
                    Phase::Indexes,
                    format!("attach the partitions' indexes to {name} (it becomes valid)"),
                    Applicability::Safe,
                    attach,
                ));
            }
            "rls-disabled" => {
                let Some(policy) = template_policy(ctx, &t, &claim, mirrored) else {
                    plan.manual.push(Manual {
                        closes: closes(f),
                        why: "no tenant path to write a policy from".into(),
                        suggestion: f.fix.clone(),
                    });
                    continue;
                };
                let has_policies = ctx
                    .snapshot
                    .relation(&t)
                    .is_some_and(|r| !r.policies.is_empty());
                // Enabling RLS and adding the policy in one transaction: no window in which
                // the table answers nobody.
                let sql = if has_policies {
                    format!(
                        "ALTER TABLE {0} ENABLE ROW LEVEL SECURITY;\nALTER TABLE {0} FORCE ROW LEVEL SECURITY;",
                        t.sql()
                    )
                } else {
                    format!(
                        "ALTER TABLE {0} ENABLE ROW LEVEL SECURITY;\nALTER TABLE {0} FORCE ROW LEVEL SECURITY;\n{policy}",
                        t.sql()
                    )
                };
                plan.steps.push(step(
                    Phase::Rls,
                    format!(
                        "enable and force RLS on {t}{}",
                        if has_policies {
                            ""
                        } else {
                            " with the tenant policy"
                        }
                    ),
                    Applicability::Review,
                    sql,
                ));
            }
            "rls-not-forced" => {
                plan.steps.push(step(
                    Phase::Rls,
                    format!("force RLS on {t}: its owner is subject to it too"),
                    Applicability::Review,
                    format!("ALTER TABLE {} FORCE ROW LEVEL SECURITY;", t.sql()),
                ));
            }
            "auth-call-per-row" | "membership-in-subquery" if f.policy.is_some() => {
                faster
                    .entry((t.clone(), f.policy.clone().unwrap_or_default()))
                    .or_default()
                    .push(closes(f));
            }
            r if POLICY_RULES.contains(&r) => {
                let entry = policy_tables.entry(t.clone()).or_default();
                entry.0.push(closes(f));
                if let Some(p) = &f.policy {
                    if !entry.1.contains(p) {
                        entry.1.push(p.clone());
                    }
                }
            }
            "view-bypasses-rls" => {
                plan.steps.push(step(
                    Phase::BypassPaths,
                    format!(
                        "{t}: run as the caller (security_invoker), so the tables' RLS applies"
                    ),
                    Applicability::Review,
                    format!("ALTER VIEW {} SET (security_invoker = true);", t.sql()),
                ));
            }
            "materialized-view-exposed" | "foreign-table-exposed" | "partition-bypasses-rls" => {
                plan.steps.push(step(
                    Phase::BypassPaths,
                    format!("revoke the API roles' access to {t} (it has no RLS of its own)"),
                    Applicability::Review,
                    format!("REVOKE ALL ON {} FROM {};", t.sql(), api_roles.join(", ")),
                ));
            }
            "security-definer-exposed" | "function-search-path-mutable" => {
                let Some(func) = ctx
                    .snapshot
                    .functions
                    .iter()
                    .find(|x| x.schema == f.object.schema && x.name == f.object.name)
                else {
                    continue;
                };
                let sig = format!(
                    "{}.{}({})",
                    quote_ident(&func.schema),
                    quote_ident(&func.name),
                    func.identity_arguments
                );
                let sql = if f.rule == "security-definer-exposed" {
                    format!(
                        "REVOKE EXECUTE ON FUNCTION {sig} FROM {};",
                        api_roles.join(", ")
                    )
                } else {
                    format!("ALTER FUNCTION {sig} SET search_path = '';")
                };
                plan.steps.push(Step {
                    object: sig.clone(),
                    ..step(
                        Phase::BypassPaths,
                        if f.rule == "security-definer-exposed" {
                            format!("{sig}: revoke EXECUTE from the API roles")
                        } else {
                            format!("{sig}: pin search_path (names in its body must be schema-qualified)")
                        },
                        Applicability::Review,
                        sql,
                    )
                });
            }
            _ => plan.manual.push(Manual {
                closes: closes(f),
                why: manual_reason(&f.rule).into(),
                suggestion: f.fix.clone(),
            }),
        }
    }
    // Is there a tenant rule to write at all? A configured claim, the schema's own rule, or a
    // claim its policies read. Without one, the claim template would read a claim the
    // application never sets and lock every tenant out.
    let has_rule = opts.claim.is_some()
        || mirrored.is_some()
        || ctx.access.policies.iter().any(|p| {
            p.observations
                .iter()
                .any(|o| matches!(o, tenantguard_access::Observation::Claim { .. }))
        });
    for (t, (closed, policies)) in policy_tables {
        let to_manual = |why: String, plan: &mut Plan| {
            for c in &closed {
                plan.manual.push(Manual {
                    closes: c.clone(),
                    why: why.clone(),
                    suggestion: None,
                });
            }
        };
        if !has_rule {
            to_manual(
                "the schema has no tenant rule tenantguard can mirror (no claim, membership or setting policy): write the policy by hand".into(),
                &mut plan,
            );
            continue;
        }
        let Some(cond) = template_condition(ctx, &t, &claim, mirrored) else {
            to_manual("no tenant path to write a policy from".into(), &mut plan);
            continue;
        };
        let cond = faster_policy_expression(&cond).unwrap_or(cond);
        if reads_table(&cond, &t) {
            to_manual(
                format!("the tenant rule reads {t} itself: a policy with it on {t} would recurse (\"infinite recursion detected in policy\"); look the tenant up through a SECURITY DEFINER helper"),
                &mut plan,
            );
            continue;
        }
        if policies.is_empty() {
            let Some(template) = template_policy(ctx, &t, &claim, mirrored) else {
                to_manual("no tenant path to write a policy from".into(), &mut plan);
                continue;
            };
            plan.steps.push(Step {
                phase: Phase::Policies,
                object: t.to_string(),
                summary: format!("{t}: add {rule_source}"),
                closes: closed,
                applicability: Applicability::Review,
                transactional: true,
                sql: template,
                index: None,
            });
            continue;
        }
        let Some(sql) = narrowed_policies(ctx, &t, &policies, &cond) else {
            to_manual(
                "no open side of the policy could be narrowed (the rest could not be verified)"
                    .into(),
                &mut plan,
            );
            continue;
        };
        plan.steps.push(Step {
            phase: Phase::Policies,
            object: t.to_string(),
            summary: format!(
                "{t}: narrow {} to {rule_source} (same command and roles; what it already bound is kept)",
                policies
                    .iter()
                    .map(|p| format!("{p:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            closes: closed,
            applicability: Applicability::Review,
            transactional: true,
            sql,
            index: None,
        });
    }
    for ((t, policy), closed) in faster {
        // A policy being replaced needs no speed-up.
        if plan.steps.iter().any(|s| {
            s.phase == Phase::Policies
                && s.object == t.to_string()
                && s.sql.contains(&format!(
                    "DROP POLICY IF EXISTS {} ON",
                    quote_ident(&policy)
                ))
        }) {
            continue;
        }
        let Some(p) = ctx
            .snapshot
            .relation(&t)
            .and_then(|r| r.policies.iter().find(|p| p.name == policy))
        else {
            continue;
        };
        let using = p.using.as_deref().and_then(faster_policy_expression);
        let check = p.with_check.as_deref().and_then(faster_policy_expression);
        if using.is_none() && check.is_none() {
            for c in closed {
                plan.manual.push(Manual {
                    closes: c,
                    why: "the expression could not be rewritten automatically".into(),
                    suggestion: None,
                });
            }
            continue;
        }
        let mut sql = format!("ALTER POLICY {} ON {}", quote_ident(&policy), t.sql());
        if let Some(u) = &using {
            sql.push_str(&format!("\n  USING ({u})"));
        }
        if let Some(c) = &check {
            sql.push_str(&format!("\n  WITH CHECK ({c})"));
        }
        sql.push(';');
        plan.steps.push(Step {
            phase: Phase::Policies,
            object: t.to_string(),
            summary: format!(
                "{t}: policy {policy:?} evaluates auth calls once per statement and membership as = ANY (ARRAY(…)) (same rows)"
            ),
            closes: closed,
            applicability: Applicability::Safe,
            transactional: true,
            sql,
            index: None,
        });
    }
    // Stable order: by phase, then as generated (per finding order, which is per table).
    plan.steps.sort_by_key(|s| s.phase);
    plan
}

/// Whether a policy expression reads `table` (in a sub-query).
fn reads_table(cond: &str, table: &QualifiedName) -> bool {
    tenantguard_access::parse_expr(cond)
        .map(|n| tenantguard_access::tables_read(&n).contains(table))
        .unwrap_or(true)
}

/// The SQL that narrows each named policy to the tenant: every side the analysis found open
/// becomes `(its expression) AND (tenant condition)`; sides already bound (owner-only, shared
/// rows read) are kept as they are, so nothing a tenant could do inside its own rows is taken
/// away and nothing is widened. The policy keeps its name, command and roles; when it also
/// serves roles other than the API roles, those keep it unchanged and the API roles get a
/// narrowed copy. `None` when no side could be narrowed.
fn narrowed_policies(
    ctx: &Context,
    t: &QualifiedName,
    policies: &[String],
    cond: &str,
) -> Option<String> {
    let rel = ctx.snapshot.relation(t)?;
    let mut sql = String::new();
    for name in policies {
        let Some(p) = rel.policies.iter().find(|p| &p.name == name) else {
            continue;
        };
        let analysis = ctx
            .access
            .policies
            .iter()
            .find(|a| &a.table == t && &a.policy == name);
        let open = |f: Option<&Option<tenantguard_access::Fact>>| {
            matches!(f, Some(Some(tenantguard_access::Fact::Open { .. })))
        };
        let wrap = |e: &str| format!("({e}) AND ({cond})");
        let using = p
            .using
            .as_deref()
            .filter(|_| open(analysis.map(|a| &a.using)))
            .map(wrap);
        let check = p
            .with_check
            .as_deref()
            .filter(|_| open(analysis.map(|a| &a.with_check)))
            .map(wrap);
        if using.is_none() && check.is_none() {
            continue;
        }
        let api: Vec<&String> = p
            .roles
            .iter()
            .filter(|r| ctx.access.roles.contains(r))
            .collect();
        let others: Vec<&String> = p
            .roles
            .iter()
            .filter(|r| *r != "public" && !ctx.access.roles.contains(r))
            .collect();
        let clauses = |u: Option<&str>, c: Option<&str>| {
            let mut out = String::new();
            if let Some(u) = u {
                out.push_str(&format!("\n  USING ({u})"));
            }
            if let Some(c) = c {
                out.push_str(&format!("\n  WITH CHECK ({c})"));
            }
            out
        };
        if others.is_empty() || api.is_empty() {
            sql.push_str(&format!(
                "ALTER POLICY {} ON {}{};\n",
                quote_ident(name),
                t.sql(),
                clauses(using.as_deref(), check.as_deref())
            ));
            continue;
        }
        let quoted = |rs: &[&String]| {
            rs.iter()
                .map(|r| quote_ident(r))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let copy = object_name(&[name], "tenant");
        let command = match p.command {
            tenantguard_catalog::PolicyCommand::All => "ALL",
            tenantguard_catalog::PolicyCommand::Select => "SELECT",
            tenantguard_catalog::PolicyCommand::Insert => "INSERT",
            tenantguard_catalog::PolicyCommand::Update => "UPDATE",
            tenantguard_catalog::PolicyCommand::Delete => "DELETE",
        };
        sql.push_str(&format!(
            "-- {} also serves {}: they keep it as it is; the API roles get a narrowed copy.\n\
             ALTER POLICY {} ON {} TO {};\n\
             DROP POLICY IF EXISTS {} ON {};\n\
             CREATE POLICY {} ON {} AS {} FOR {command} TO {}{};\n",
            quote_ident(name).replace(|c: char| c.is_control(), " "),
            quoted(&others).replace(|c: char| c.is_control(), " "),
            quote_ident(name),
            t.sql(),
            quoted(&others),
            quote_ident(&copy),
            t.sql(),
            quote_ident(&copy),
            t.sql(),
            if p.permissive {
                "PERMISSIVE"
            } else {
                "RESTRICTIVE"
            },
            quoted(&api),
            clauses(
                using.as_deref().or(p.using.as_deref()),
                check.as_deref().or(p.with_check.as_deref())
            )
        ));
    }
    (!sql.is_empty()).then_some(sql)
}

/// ` NOT VALID` for a new foreign key (added without a scan, validated in a later step), except
/// on a partitioned table, where PostgreSQL refuses NOT VALID foreign keys: there it is
/// validated as it is added.
fn fk_not_valid(ctx: &Context, t: &QualifiedName) -> &'static str {
    match ctx.snapshot.relation(t) {
        Some(r) if r.kind == tenantguard_catalog::RelationKind::PartitionedTable => "",
        _ => " NOT VALID",
    }
}

fn fk_code(a: FkAction) -> &'static str {
    match a {
        FkAction::NoAction => "a",
        FkAction::Restrict => "r",
        FkAction::Cascade => "c",
        FkAction::SetNull => "n",
        FkAction::SetDefault => "d",
    }
}

fn validate_step(t: &QualifiedName, con: &str, closes: Vec<String>) -> Step {
    Step {
        phase: Phase::Constraints,
        object: t.to_string(),
        summary: format!("{t}: validate {con} (SHARE UPDATE EXCLUSIVE: reads and writes go on)"),
        closes,
        applicability: Applicability::Safe,
        transactional: true,
        sql: format!(
            "DO $tg$ BEGIN\n  IF EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = {}::regclass AND conname = {} AND NOT convalidated) THEN\n    ALTER TABLE {} VALIDATE CONSTRAINT {};\n  END IF;\nEND $tg$;",
            literal(&t.sql()),
            literal(con),
            t.sql(),
            quote_ident(con)
        ),
        index: None,
    }
}

fn manual_reason(rule: &str) -> &'static str {
    match rule {
        "login-role-bypasses-rls" => "changing a login role's SUPERUSER/BYPASSRLS is an operations decision: review the suggestion",
        "auth-call-per-row" | "membership-in-subquery" => "a performance rewrite of a policy that is already tenant-bound: apply the suggestion after review",
        "inconsistent-claim-names" => "which claim is right is the application's decision",
        "data-scan-incomplete" => "the data scan did not finish: raise --scan-timeout and audit again",
        "rls-no-policy" => "deny-all is safe; add policies when the table is meant to be used",
        "policy-unverifiable" => "the policy could not be verified, which does not make it wrong: replacing it could take away legitimate access; check it with `audit --prove`",
        "tenant-pointer-writable" => "which columns a user may edit is the application's decision: review the suggestion",
        _ => "no automatic fix",
    }
}

/// The plan as a migration file: steps in order, each commented with the findings it closes;
/// review steps commented out unless `unsafe_fixes`.
pub fn render_migration(plan: &Plan, unsafe_fixes: bool) -> String {
    let mut out = String::from(
        "-- tenantguard hardening migration (generated by `tenantguard fix`).\n\
         -- Steps are ordered: quarantine → constraints → indexes → RLS → policies → bypass paths.\n\
         -- Every statement is idempotent; CREATE INDEX CONCURRENTLY must run outside a transaction.\n\
         SET lock_timeout = '3s';\n",
    );
    if plan.steps.is_empty() {
        out.push_str("-- nothing to do: no finding has an automatic fix\n");
    }
    let mut phase = None;
    for (i, s) in plan.steps.iter().enumerate() {
        if phase != Some(s.phase) {
            out.push_str(&format!("\n-- ===== {} =====\n", s.phase.title()));
            phase = Some(s.phase);
        }
        let run = unsafe_fixes || s.applicability == Applicability::Safe;
        out.push_str(&format!(
            "\n-- step {}: {}{}\n",
            i + 1,
            s.summary,
            match (s.applicability, run) {
                (Applicability::Review, true) => " [review]",
                (Applicability::Review, false) => " [review: not applied without --unsafe-fixes]",
                _ => "",
            }
        ));
        for c in &s.closes {
            out.push_str(&format!("-- closes: {c}\n"));
        }
        let body = if s.transactional {
            format!("BEGIN;\n{}\nCOMMIT;\n", s.sql)
        } else {
            format!("{}\n", s.sql)
        };
        if run {
            out.push_str(&body);
        } else {
            for line in body.lines() {
                out.push_str("-- ");
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if !plan.manual.is_empty() {
        out.push_str("\n-- ===== left to you =====\n");
        for m in &plan.manual {
            out.push_str(&format!("-- {}: {}\n", m.closes, m.why));
            if let Some(s) = &m.suggestion {
                for line in s.lines() {
                    out.push_str(&format!("--   {line}\n"));
                }
            }
        }
    }
    out
}
