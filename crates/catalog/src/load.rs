//! Reads the snapshot in a fixed set of batched queries — one per kind of catalog object, never
//! one per table — pipelined on one connection inside one REPEATABLE READ, READ ONLY
//! transaction, so the pieces are consistent with each other and nothing can be written.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use tokio_postgres::{Client, Row};

use crate::deparse_key::TreeShape;
use crate::snapshot::*;

/// Schemas that belong to PostgreSQL or to the platform (Supabase and common extensions), not
/// to the application: never audited by default.
pub const PLATFORM_SCHEMAS: &[&str] = &[
    "information_schema",
    "auth",
    "storage",
    "realtime",
    "_realtime",
    "extensions",
    "graphql",
    "graphql_public",
    "vault",
    "pgsodium",
    "pgsodium_masks",
    "pgbouncer",
    "supabase_functions",
    "supabase_migrations",
    "net",
    "cron",
    "_analytics",
    "pgtle",
    "tiger",
    "topology",
    "tenantguard_quarantine",
];

#[derive(Debug, Clone, Default)]
pub struct SnapshotOptions {
    /// Restrict the audit to these schemas (`--schemas`); empty = every user schema.
    pub schemas: Vec<String>,
}

/// The schemas to audit: the requested ones (each must exist), or every schema that is not
/// PostgreSQL's or the platform's.
pub async fn audited_schemas(client: &Client, requested: &[String]) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT nspname::text FROM pg_namespace \
             WHERE nspname !~ '^pg_' AND nspname <> 'information_schema' ORDER BY 1",
            &[],
        )
        .await
        .context("listing schemas")?;
    let existing: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    if requested.is_empty() {
        return Ok(existing
            .into_iter()
            .filter(|s| !PLATFORM_SCHEMAS.contains(&s.as_str()))
            .collect());
    }
    for s in requested {
        if !existing.contains(s) {
            bail!("schema {s:?} given in --schemas does not exist in this database");
        }
    }
    Ok(requested.to_vec())
}

const META: &str = "SELECT current_user::text, current_database()::text, \
    current_setting('server_version'), current_setting('server_version_num')::int4, \
    r.rolsuper OR r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user";

const RELATIONS: &str = "
WITH parents AS (
    SELECT i.inhrelid, array_agg(pn.nspname::text ORDER BY i.inhseqno) AS schemas,
           array_agg(pc.relname::text ORDER BY i.inhseqno) AS names
    FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
    JOIN pg_namespace pn ON pn.oid = pc.relnamespace
    GROUP BY i.inhrelid
), ext AS (
    -- Through pg_depend's index on the referenced object: only the extensions' members.
    SELECT DISTINCT d.objid FROM pg_depend d
    WHERE d.refclassid = 'pg_extension'::regclass AND d.classid = 'pg_class'::regclass
      AND d.deptype = 'e'
)
SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text,
       pg_get_userbyid(c.relowner)::text, c.relrowsecurity, c.relforcerowsecurity, c.relispartition,
       coalesce(c.reloptions, '{}')::text[],
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
       c.reltuples::float8,
       coalesce(p.schemas, '{}'), coalesce(p.names, '{}'),
       ext.objid IS NOT NULL, c.relacl::text[], dsc.description
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description dsc ON dsc.objoid = c.oid AND dsc.classoid = 'pg_class'::regclass AND dsc.objsubid = 0
LEFT JOIN parents p ON p.inhrelid = c.oid
LEFT JOIN ext ON ext.objid = c.oid
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname = ANY($1)
ORDER BY n.nspname, c.relname";

const COLUMNS: &str = "
SELECT a.attrelid, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       a.atthasdef, a.attnum::int4
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname = ANY($1)
ORDER BY a.attrelid, a.attnum";

// Column lists come back as attribute numbers and are named in Rust from the columns already
// read: a per-row unnest/join (or pg_get_constraintdef) costs more than the rest of the query.
// A table's constraints and indexes live in the table's schema, so they are filtered by their
// own namespace instead of joining every table of pg_class (a seq scan per query).
const CONSTRAINTS: &str = "
SELECT co.conrelid, co.conname::text, co.contype::text, co.convalidated, co.conkey,
       fn.nspname::text, fc.relname::text, co.confkey, co.confdeltype::text, co.confupdtype::text,
       CASE WHEN co.contype = 'c' THEN pg_get_constraintdef(co.oid) END, co.confrelid
FROM pg_constraint co
LEFT JOIN pg_class fc ON fc.oid = co.confrelid LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
WHERE co.contype IN ('p', 'u', 'f', 'c', 'x') AND co.conrelid <> 0
  AND co.connamespace IN (SELECT oid FROM pg_namespace WHERE nspname = ANY($1))
ORDER BY co.conrelid, co.conname";

// Names of the columns of referenced tables outside the audited schemas (e.g. auth.users).
const FOREIGN_COLUMNS: &str = "
SELECT a.attrelid, a.attnum, a.attname::text
FROM pg_attribute a
WHERE a.attnum > 0 AND a.attrelid IN (
    SELECT co.confrelid FROM pg_constraint co
    JOIN pg_class fc ON fc.oid = co.confrelid JOIN pg_namespace fn ON fn.oid = fc.relnamespace
    WHERE co.contype = 'f' AND NOT fn.nspname = ANY($1)
      AND co.connamespace IN (SELECT oid FROM pg_namespace WHERE nspname = ANY($1)))";

const INDEXES: &str = "
SELECT i.indrelid, ic.relname::text, i.indisunique, i.indisprimary, i.indpred IS NOT NULL,
       i.indisvalid, i.indkey::int2[], i.indnkeyatts::int4, am.amname::text
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
WHERE ic.relnamespace IN (SELECT oid FROM pg_namespace WHERE nspname = ANY($1))
ORDER BY i.indrelid, ic.relname";

// Relations outside the audited schemas that audited tables reference through foreign keys,
// transitively (auth.users, a platform table's own parents): the proof seeds rows that need
// them as parents. Prepended to variants of RELATIONS, COLUMNS and CONSTRAINTS.
const SUPPORT: &str = "
sup(oid) AS (
    SELECT co.confrelid FROM pg_constraint co
    WHERE co.contype = 'f'
      AND co.connamespace IN (SELECT oid FROM pg_namespace WHERE nspname = ANY($1))
    UNION
    SELECT co.confrelid FROM pg_constraint co JOIN sup ON co.conrelid = sup.oid
    WHERE co.contype = 'f'
), support AS (
    SELECT s.oid FROM sup s JOIN pg_class c ON c.oid = s.oid
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT n.nspname = ANY($1)
)";

fn support_queries() -> [String; 3] {
    let relations = RELATIONS
        .replace(
            "WITH parents AS (",
            &format!("WITH RECURSIVE {SUPPORT}, parents AS ("),
        )
        .replace(
            "AND n.nspname = ANY($1)",
            "AND c.oid IN (SELECT oid FROM support)",
        );
    let columns = format!(
        "WITH RECURSIVE {SUPPORT} {}",
        COLUMNS.replace(
            "AND n.nspname = ANY($1)",
            "AND c.oid IN (SELECT oid FROM support)"
        )
    );
    let constraints = format!(
        "WITH RECURSIVE {SUPPORT} {}",
        CONSTRAINTS.replace(
            "AND co.connamespace IN (SELECT oid FROM pg_namespace WHERE nspname = ANY($1))",
            "AND co.conrelid IN (SELECT oid FROM support)"
        )
    );
    [relations, columns, constraints]
}

// The stored trees, not their text: see `deparse_key` for why only some are deparsed.
const POLICIES: &str = "
SELECT p.polrelid, p.polname::text, p.polcmd::text, p.polpermissive,
       CASE WHEN p.polroles = '{0}'::oid[] THEN ARRAY['public']
            ELSE ARRAY(SELECT r.rolname::text FROM pg_roles r WHERE r.oid = ANY(p.polroles) ORDER BY 1) END,
       p.polqual::text, p.polwithcheck::text, p.oid, dsc.description
FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description dsc ON dsc.objoid = p.oid AND dsc.classoid = 'pg_policy'::regclass
WHERE n.nspname = ANY($1)
ORDER BY p.polrelid, p.polname";

// One representative per distinct expression: (policy oid, 1 = USING / 2 = WITH CHECK).
const DEPARSE_POLICIES: &str = "
SELECT w.i, pg_get_expr(CASE WHEN w.which = 1 THEN p.polqual ELSE p.polwithcheck END, p.polrelid)
FROM unnest($1::oid[], $2::int4[], $3::int4[]) w(policy, which, i)
JOIN pg_policy p ON p.oid = w.policy";

// User triggers; tgtype bits: 1 row, 2 before, 4 insert, 8 delete, 16 update, 32 truncate.
const TRIGGERS: &str = "
SELECT t.tgrelid, t.tgname::text, pn.nspname::text, p.proname::text, t.tgtype::int4,
       t.tgenabled <> 'D'
FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace pn ON pn.oid = p.pronamespace
WHERE NOT t.tgisinternal AND t.tgrelid IN (
    SELECT c.oid FROM pg_class c
    WHERE c.relnamespace IN (SELECT oid FROM pg_namespace WHERE nspname = ANY($1)))
ORDER BY t.tgrelid, t.tgname";

const ROLES: &str = "
SELECT r.rolname::text, r.rolcanlogin, r.rolsuper, r.rolbypassrls, r.rolinherit,
       ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
             WHERE m.member = r.oid ORDER BY 1)
FROM pg_roles r ORDER BY 1";

// Every non-system schema: policies call helpers in `auth` and other platform schemas.
const FUNCTIONS: &str = "
SELECT p.oid, n.nspname::text, p.proname::text, pg_get_function_identity_arguments(p.oid),
       coalesce(pg_get_function_result(p.oid), ''), l.lanname::text, p.prosecdef,
       p.provolatile::text, coalesce(p.proconfig, '{}')::text[], coalesce(p.prosrc, ''),
       pg_get_userbyid(p.proowner)::text,
       ARRAY(SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END
             FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
             WHERE a.privilege_type = 'EXECUTE' ORDER BY 1),
       EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
               AND d.deptype = 'e'),
       dsc.description
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
LEFT JOIN pg_description dsc ON dsc.objoid = p.oid AND dsc.classoid = 'pg_proc'::regclass
WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' AND p.prokind IN ('f', 'p')
ORDER BY 2, 3, 4";

/// Reads the whole snapshot. The caller's client must not be inside a transaction.
pub async fn load_snapshot(client: &Client, options: &SnapshotOptions) -> Result<Snapshot> {
    load_snapshot_with(client, None, options).await
}

/// As [`load_snapshot`], with a second connection that reads the policies at the same time, in
/// the same snapshot (`pg_export_snapshot`): `pg_get_expr` on every policy is the one costly
/// query, and the server runs it on another core while the first connection reads the rest.
pub async fn load_snapshot_with(
    client: &Client,
    second: Option<&Client>,
    options: &SnapshotOptions,
) -> Result<Snapshot> {
    // With search_path = pg_catalog, pg_get_expr/pg_get_viewdef print every name qualified
    // (`auth.jwt()`, not `jwt()`), whatever the auditing role's own search_path.
    // pg_get_viewdef takes a lock on the view: behind a migration's
    // ACCESS EXCLUSIVE lock they would wait forever, so give up after a few seconds instead.
    client
        .batch_execute(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL lock_timeout = '5s'; \
             SET LOCAL search_path = pg_catalog;",
        )
        .await
        .context("starting a read-only transaction")?;
    let mut helper = None;
    if let Some(second) = second {
        let id: String = client
            .query_one("SELECT pg_export_snapshot()", &[])
            .await
            .context("exporting the catalog snapshot")?
            .get(0);
        second
            .batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{id}'; \
                 SET LOCAL lock_timeout = '5s'; SET LOCAL search_path = pg_catalog;"
            ))
            .await
            .context("sharing the catalog snapshot with a second connection")?;
        helper = Some(second);
    }
    let result = load_in_transaction(client, helper, options).await.map_err(|e| {
        let locked = e.chain().any(|c| {
            c.downcast_ref::<tokio_postgres::Error>()
                .and_then(|pg| pg.code())
                == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE)
        });
        if locked {
            e.context("another session holds an exclusive lock on an audited relation (a migration?) and the catalog read gave up after 5 s; retry when it is done")
        } else {
            e
        }
    });
    // Read-only either way; ROLLBACK also ends a transaction aborted by an error.
    let _ = client.batch_execute("ROLLBACK").await;
    if let Some(second) = helper {
        let _ = second.batch_execute("ROLLBACK").await;
    }
    result
}

/// A constraint as read, its columns still attribute numbers.
struct RawConstraint {
    rel: u32,
    name: String,
    kind: ConstraintKind,
    validated: bool,
    columns: Option<Vec<i16>>,
    check: Option<String>,
    references: Option<RawReference>,
}

/// The referenced side of a foreign key as read.
struct RawReference {
    schema: String,
    table: String,
    relid: u32,
    columns: Option<Vec<i16>>,
    on_delete: FkAction,
    on_update: FkAction,
}

/// An index as read, its key columns still attribute numbers.
struct RawIndex {
    rel: u32,
    name: String,
    unique: bool,
    primary: bool,
    partial: bool,
    valid: bool,
    keys: Vec<i16>,
    method: String,
}

/// A policy as read: its expressions are stored trees, deparsed once per distinct key below.
struct RawPolicy {
    rel: u32,
    oid: u32,
    name: String,
    command: PolicyCommand,
    permissive: bool,
    roles: Vec<String>,
    comment: Option<String>,
    using: Option<TreeShape>,
    with_check: Option<TreeShape>,
}

async fn load_in_transaction(
    client: &Client,
    second: Option<&Client>,
    options: &SnapshotOptions,
) -> Result<Snapshot> {
    let schemas = audited_schemas(client, &options.schemas).await?;
    let p: &[&(dyn tokio_postgres::types::ToSql + Sync)] = &[&schemas];
    let other = second.unwrap_or(client);
    // tokio-postgres pipelines concurrent queries on one connection: one round trip's latency.
    // Each result is decoded as soon as it arrives, while the slower queries are still running
    // on the server (the connection tasks keep reading the sockets meanwhile).
    // All nine complete (no early exit): when one fails, the transaction aborts and the others
    // fail with "current transaction is aborted"; the report must name the first real cause.
    let (
        policies,
        meta,
        relations,
        columns,
        constraints,
        foreign_columns,
        indexes,
        roles,
        functions,
        triggers,
    ) = tokio::join!(
        // The policies are polled first: the costliest query, on the second connection.
        decoded(other, "policies", POLICIES, p, |r| RawPolicy {
            rel: r.get(0),
            name: r.get(1),
            command: PolicyCommand::from_code(r.get(2)),
            permissive: r.get(3),
            roles: r.get(4),
            using: r.get::<_, Option<&str>>(5).map(TreeShape::read),
            with_check: r.get::<_, Option<&str>>(6).map(TreeShape::read),
            oid: r.get(7),
            comment: r.get(8),
        }),
        decoded(client, "session", META, &[], |r| {
            (
                r.get::<_, String>(0),
                r.get::<_, String>(1),
                r.get::<_, String>(2),
                r.get::<_, i32>(3),
                r.get::<_, bool>(4),
            )
        }),
        decoded(client, "relations", RELATIONS, p, decode_relation),
        decoded(client, "columns", COLUMNS, p, decode_column),
        decoded(other, "constraints", CONSTRAINTS, p, decode_constraint),
        decoded(client, "referenced columns", FOREIGN_COLUMNS, p, |r| {
            (
                (r.get::<_, u32>(0), r.get::<_, i16>(1)),
                r.get::<_, String>(2),
            )
        }),
        decoded(client, "indexes", INDEXES, p, |r| RawIndex {
            rel: r.get(0),
            name: r.get(1),
            unique: r.get(2),
            primary: r.get(3),
            partial: r.get(4),
            valid: r.get(5),
            keys: r
                .get::<_, Vec<i16>>(6)
                .into_iter()
                .take(r.get::<_, i32>(7) as usize)
                .collect(),
            method: r.get(8),
        }),
        decoded(client, "roles", ROLES, &[], |r| Role {
            name: r.get(0),
            can_login: r.get(1),
            superuser: r.get(2),
            bypass_rls: r.get(3),
            inherit: r.get(4),
            member_of: r.get(5),
        }),
        decoded(client, "functions", FUNCTIONS, &[], |r| Function {
            oid: r.get(0),
            schema: r.get(1),
            name: r.get(2),
            identity_arguments: r.get(3),
            result_type: r.get(4),
            language: r.get(5),
            security_definer: r.get(6),
            volatility: r.get(7),
            config: r.get(8),
            body: r.get(9),
            owner: r.get(10),
            execute_grantees: r.get(11),
            from_extension: r.get(12),
            comment: r.get(13),
        }),
        decoded(client, "triggers", TRIGGERS, p, |r| {
            let bits: i32 = r.get(4);
            let events = [
                (4, "insert"),
                (16, "update"),
                (8, "delete"),
                (32, "truncate"),
            ]
            .into_iter()
            .filter(|(b, _)| bits & b != 0)
            .map(|(_, e)| e.to_string())
            .collect();
            (
                r.get::<_, u32>(0),
                Trigger {
                    name: r.get(1),
                    function: QualifiedName::new(r.get::<_, String>(2), r.get::<_, String>(3)),
                    before: bits & 2 != 0,
                    for_each_row: bits & 1 != 0,
                    events,
                    enabled: r.get(5),
                },
            )
        }),
    );
    fn ok<T>(r: Result<T>, errors: &mut Vec<anyhow::Error>) -> Option<T> {
        r.map_err(|e| errors.push(e)).ok()
    }
    let mut errors = vec![];
    let parts = (
        ok(policies, &mut errors),
        ok(meta, &mut errors),
        ok(relations, &mut errors),
        ok(columns, &mut errors),
        ok(constraints, &mut errors),
        ok(foreign_columns, &mut errors),
        ok(indexes, &mut errors),
        ok(roles, &mut errors),
        ok(functions, &mut errors),
        ok(triggers, &mut errors),
    );
    let (
        Some(policies),
        Some(meta),
        Some(relations),
        Some(columns),
        Some(constraints),
        Some(foreign_columns),
        Some(indexes),
        Some(roles),
        Some(functions),
        Some(triggers),
    ) = parts
    else {
        let aborted = |e: &anyhow::Error| {
            e.chain().any(|c| {
                c.downcast_ref::<tokio_postgres::Error>()
                    .and_then(|pg| pg.code())
                    == Some(&tokio_postgres::error::SqlState::IN_FAILED_SQL_TRANSACTION)
            })
        };
        let first = errors.iter().position(|e| !aborted(e)).unwrap_or_default();
        return Err(errors.swap_remove(first));
    };
    let (current_user, database, server_version, server_version_num, bypasses) = meta
        .into_iter()
        .next()
        .context("the current role is not visible in pg_roles")?;

    let mut rels: Vec<Relation> = relations.into_iter().flatten().collect();
    let by_oid: HashMap<u32, usize> = rels.iter().enumerate().map(|(i, r)| (r.oid, i)).collect();
    // Attribute number → name, for every audited relation and every referenced one.
    let mut attnames: HashMap<(u32, i16), String> =
        HashMap::with_capacity(columns.len() + foreign_columns.len());
    for (rel, c) in &columns {
        attnames.insert((*rel, c.position as i16), c.name.clone());
    }
    attnames.extend(foreign_columns);
    for (rel, c) in columns {
        if let Some(&i) = by_oid.get(&rel) {
            rels[i].columns.push(c);
        }
    }
    let names = |rel: u32, nums: Option<Vec<i16>>| -> Vec<String> {
        nums.unwrap_or_default()
            .into_iter()
            .map(|n| attnames.get(&(rel, n)).cloned().unwrap_or_default())
            .collect()
    };
    attach_constraints(&mut rels, &by_oid, constraints, &names);
    for (rel, t) in triggers {
        if let Some(&i) = by_oid.get(&rel) {
            rels[i].triggers.push(t);
        }
    }
    for ix in indexes {
        if let Some(&i) = by_oid.get(&ix.rel) {
            rels[i].indexes.push(Index {
                name: ix.name,
                unique: ix.unique,
                primary: ix.primary,
                partial: ix.partial,
                valid: ix.valid,
                columns: ix
                    .keys
                    .into_iter()
                    .map(|n| attnames.get(&(ix.rel, n)).cloned())
                    .collect(),
                method: ix.method,
            });
        }
    }
    // Deparse each distinct policy expression once (see `deparse_key`), in the same snapshot.
    let mut normalized: HashMap<&str, usize> = HashMap::new();
    let mut keys: HashMap<(usize, Vec<&str>, Option<u32>), i32> = HashMap::new();
    let (mut rep_policy, mut rep_which, mut rep_index) = (Vec::new(), Vec::new(), Vec::new());
    let mut policy_exprs: Vec<(Option<i32>, Option<i32>)> = Vec::with_capacity(policies.len());
    let table_name = |oid: u32| by_oid.get(&oid).map(|&i| rels[i].name.as_str());
    for policy in &policies {
        let rel = policy.rel;
        let mut sides = [None, None];
        // A policy on a relation outside the snapshot is not kept (below).
        let Some(relname) = table_name(rel) else {
            policy_exprs.push((None, None));
            continue;
        };
        for (side, (shape, which)) in [(&policy.using, 1), (&policy.with_check, 2)]
            .into_iter()
            .enumerate()
        {
            let Some(shape) = shape else { continue };
            let next = normalized.len();
            let tree = *normalized.entry(shape.normalized()).or_insert(next);
            let (names, relid) = shape.relation_part(
                rel,
                relname,
                |n| attnames.get(&(rel, n)).map(String::as_str),
                table_name,
            );
            let next = keys.len() as i32;
            sides[side] = Some(*keys.entry((tree, names, relid)).or_insert_with(|| {
                rep_policy.push(policy.oid);
                rep_which.push(which);
                rep_index.push(next);
                next
            }));
        }
        policy_exprs.push((sides[0], sides[1]));
    }
    let mut texts: Vec<Option<String>> = vec![None; keys.len()];
    // The support relations are read on the first connection while the second deparses.
    let deparse = async {
        if rep_index.is_empty() {
            return Ok(vec![]);
        }
        query(
            other,
            "policy expressions",
            DEPARSE_POLICIES,
            &[&rep_policy, &rep_which, &rep_index],
        )
        .await
    };
    let (rows, support_relations) = tokio::join!(deparse, load_support(client, p, &attnames));
    let support_relations = support_relations?;
    for row in rows? {
        texts[row.get::<_, i32>(0) as usize] = row.get(1);
    }
    let text = |i: Option<i32>| i.and_then(|i| texts[i as usize].clone());
    for (policy, (using, with_check)) in policies.into_iter().zip(policy_exprs) {
        if let Some(&i) = by_oid.get(&policy.rel) {
            rels[i].policies.push(Policy {
                name: policy.name,
                command: policy.command,
                permissive: policy.permissive,
                roles: policy.roles,
                using: text(using),
                with_check: text(with_check),
                comment: policy.comment,
            });
        }
    }

    Ok(Snapshot {
        format: SNAPSHOT_FORMAT,
        current_user,
        database,
        server_version,
        server_version_num,
        current_user_bypasses_rls: bypasses,
        schemas,
        relations: rels,
        support_relations,
        roles,
        functions,
        index: Default::default(),
    })
}

/// The support relations (see `SUPPORT`) with their columns and constraints; their indexes
/// and policies are not read (they are never audited).
async fn load_support(
    client: &Client,
    p: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    audited_names: &HashMap<(u32, i16), String>,
) -> Result<Vec<Relation>> {
    let [relations, columns, constraints] = support_queries();
    let (relations, columns, constraints) = tokio::join!(
        decoded(
            client,
            "referenced relations",
            &relations,
            p,
            decode_relation
        ),
        decoded(client, "referenced columns", &columns, p, decode_column),
        decoded(
            client,
            "referenced constraints",
            &constraints,
            p,
            decode_constraint
        ),
    );
    let mut rels: Vec<Relation> = relations?.into_iter().flatten().collect();
    let by_oid: HashMap<u32, usize> = rels.iter().enumerate().map(|(i, r)| (r.oid, i)).collect();
    let mut own_names: HashMap<(u32, i16), String> = HashMap::new();
    let columns = columns?;
    for (rel, c) in &columns {
        own_names.insert((*rel, c.position as i16), c.name.clone());
    }
    for (rel, c) in columns {
        if let Some(&i) = by_oid.get(&rel) {
            rels[i].columns.push(c);
        }
    }
    let names = |rel: u32, nums: Option<Vec<i16>>| -> Vec<String> {
        nums.unwrap_or_default()
            .into_iter()
            .map(|n| {
                own_names
                    .get(&(rel, n))
                    .or_else(|| audited_names.get(&(rel, n)))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    };
    attach_constraints(&mut rels, &by_oid, constraints?, &names);
    Ok(rels)
}

/// Puts each constraint on its relation, naming its columns (and the referenced ones) with
/// `names` (relation oid, attribute numbers → column names).
fn attach_constraints(
    rels: &mut [Relation],
    by_oid: &HashMap<u32, usize>,
    constraints: Vec<RawConstraint>,
    names: &dyn Fn(u32, Option<Vec<i16>>) -> Vec<String>,
) {
    for c in constraints {
        let Some(&i) = by_oid.get(&c.rel) else {
            continue;
        };
        let foreign_key = c.references.map(|f| ForeignKey {
            references: QualifiedName::new(f.schema, f.table),
            referenced_columns: names(f.relid, f.columns),
            on_delete: f.on_delete,
            on_update: f.on_update,
        });
        rels[i].constraints.push(Constraint {
            name: c.name,
            kind: c.kind,
            validated: c.validated,
            columns: names(c.rel, c.columns),
            check: c.check,
            foreign_key,
        });
    }
}

fn decode_relation(r: &Row) -> Option<Relation> {
    Some(Relation {
        oid: r.get(0),
        schema: r.get(1),
        name: r.get(2),
        kind: RelationKind::from_relkind(r.get::<_, &str>(3))?,
        owner: r.get(4),
        rls_enabled: r.get(5),
        rls_forced: r.get(6),
        is_partition: r.get(7),
        options: r.get(8),
        view_definition: r.get(9),
        estimated_rows: r.get(10),
        parents: r
            .get::<_, Vec<String>>(11)
            .into_iter()
            .zip(r.get::<_, Vec<String>>(12))
            .map(|(s, n)| QualifiedName::new(s, n))
            .collect(),
        from_extension: r.get(13),
        columns: vec![],
        constraints: vec![],
        indexes: vec![],
        policies: vec![],
        grants: crate::acl::table_grants(r.get(14), r.get::<_, &str>(4)),
        triggers: vec![],
        comment: r.get(15),
    })
}

fn decode_column(r: &Row) -> (u32, Column) {
    (
        r.get::<_, u32>(0),
        Column {
            name: r.get(1),
            type_name: r.get(2),
            not_null: r.get(3),
            has_default: r.get(4),
            position: r.get(5),
        },
    )
}

fn decode_constraint(r: &Row) -> RawConstraint {
    let kind = match r.get::<_, &str>(2) {
        "p" => ConstraintKind::PrimaryKey,
        "u" => ConstraintKind::Unique,
        "f" => ConstraintKind::ForeignKey,
        "c" => ConstraintKind::Check,
        _ => ConstraintKind::Exclusion,
    };
    RawConstraint {
        rel: r.get(0),
        name: r.get(1),
        validated: r.get(3),
        columns: r.get(4),
        check: r.get(10),
        references: (kind == ConstraintKind::ForeignKey).then(|| RawReference {
            schema: r.get::<_, Option<String>>(5).unwrap_or_default(),
            table: r.get::<_, Option<String>>(6).unwrap_or_default(),
            relid: r.get(11),
            columns: r.get(7),
            on_delete: FkAction::from_code(r.get(8)),
            on_update: FkAction::from_code(r.get(9)),
        }),
        kind,
    }
}

/// Runs one catalog query and decodes its rows as soon as they arrive.
async fn decoded<T>(
    client: &Client,
    what: &str,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    decode: impl Fn(&Row) -> T,
) -> Result<Vec<T>> {
    Ok(query(client, what, sql, params)
        .await?
        .iter()
        .map(decode)
        .collect())
}

async fn query(
    client: &Client,
    what: &str,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<Row>> {
    client
        .query(sql, params)
        .await
        .with_context(|| format!("reading {what} from the catalog"))
}
