//! `--migrations DIR`: audit a folder of migrations without any database running beforehand.
//! A throwaway cluster is started, a Supabase-compatible base loaded (unless
//! `--no-supabase-base`), the folder's `.sql` files applied in name order (Supabase's
//! `supabase/migrations/<timestamp>_name.sql` and plain numbered files both sort that way), and
//! every object created is remembered with the file and line of its statement, so findings can
//! point back to it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use pg_harness::Cluster;
use pg_query::protobuf::node::Node as N;
use tenantguard_rules::{Finding, ObjectKind, SourceLocation};

/// Where each object was (last) created.
#[derive(Debug, Default)]
pub struct SourceMap {
    objects: HashMap<(String, String, String), SourceLocation>,
    policies: HashMap<(String, String, String), SourceLocation>,
}

fn kind_key(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Function => "function",
        ObjectKind::Role => "role",
        // Tables, views, materialized and foreign tables share one namespace in PostgreSQL.
        _ => "relation",
    }
}

impl SourceMap {
    /// Points each finding at the statement that created its object (its policy, for a
    /// policy finding).
    pub fn annotate(&self, findings: &mut [Finding]) {
        for f in findings {
            let (schema, name) = (f.object.schema.clone(), f.object.name.clone());
            let loc = f
                .policy
                .as_ref()
                .and_then(|p| {
                    self.policies
                        .get(&(schema.clone(), name.clone(), p.clone()))
                })
                .or_else(|| {
                    self.objects
                        .get(&(kind_key(f.object.kind).to_string(), schema, name))
                });
            if let Some(l) = loc {
                f.location = Some(l.clone());
            }
        }
    }

    fn record(&mut self, file: &str, text: &str) {
        let Ok(parsed) = pg_query::parse(text, pg_query::ParserOptions::DEFAULT) else {
            return;
        };
        for raw in &parsed.protobuf.stmts {
            let Some(node) = raw.stmt.as_ref().and_then(|s| s.node.as_ref()) else {
                continue;
            };
            let at = SourceLocation {
                file: file.to_string(),
                line: statement_line(text, raw.stmt_location.max(0) as usize),
            };
            let rv = |r: &Option<pg_query::protobuf::RangeVar>| {
                r.as_ref().map(|r| {
                    (
                        if r.schemaname.is_empty() {
                            "public".to_string()
                        } else {
                            r.schemaname.clone()
                        },
                        r.relname.clone(),
                    )
                })
            };
            let relation = match node {
                N::CreateStmt(c) => rv(&c.relation),
                N::ViewStmt(v) => rv(&v.view),
                N::CreateTableAsStmt(c) => c.into.as_ref().and_then(|i| rv(&i.rel)),
                N::CreateForeignTableStmt(c) => c.base_stmt.as_ref().and_then(|b| rv(&b.relation)),
                _ => None,
            };
            if let Some((s, n)) = relation {
                self.objects.insert(("relation".into(), s, n), at.clone());
            }
            if let N::CreateFunctionStmt(f) = node {
                let names: Vec<String> = f
                    .funcname
                    .iter()
                    .filter_map(|n| match &n.node {
                        Some(N::String(s)) => Some(s.sval.clone()),
                        _ => None,
                    })
                    .collect();
                let (s, n) = match names.as_slice() {
                    [s, n] => (s.clone(), n.clone()),
                    [n] => ("public".to_string(), n.clone()),
                    _ => continue,
                };
                self.objects.insert(("function".into(), s, n), at.clone());
            }
            if let N::CreatePolicyStmt(p) = node {
                if let Some((s, t)) = rv(&p.table) {
                    self.policies.insert((s, t, p.policy_name.clone()), at);
                }
            }
        }
    }
}

/// The 1-based line of the first token at or after byte `offset` (a statement's location
/// includes the whitespace and comments before it).
fn statement_line(text: &str, offset: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = offset.min(bytes.len());
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if text[i..].starts_with("--") {
            i = text[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
        } else if text[i..].starts_with("/*") {
            i = text[i..].find("*/").map_or(bytes.len(), |n| i + n + 2);
        } else {
            break;
        }
    }
    text[..i].matches('\n').count() + 1
}

async fn failing_statement_line(client: &tokio_postgres::Client, text: &str) -> Option<usize> {
    let statements = pg_query::split_with_parser(text).ok()?;
    client.batch_execute("BEGIN").await.ok()?;
    let mut line = None;
    for stmt in statements {
        if client.batch_execute(stmt).await.is_err() {
            let offset = stmt.as_ptr() as usize - text.as_ptr() as usize;
            line = Some(statement_line(text, offset));
            break;
        }
    }
    client.batch_execute("ROLLBACK").await.ok();
    line
}

/// Runs one migration file. Sent whole, its statements form one implicit transaction; a
/// file that cannot run that way (`CREATE INDEX CONCURRENTLY`, `VACUUM`: "cannot run inside a
/// transaction block"; a value added by `ALTER TYPE … ADD VALUE` used later in the file) left
/// nothing behind and is run again one statement at a time, each committed on its own, as
/// `psql -f` runs it.
/// On failure: the error, and the byte offset of the statement that failed when it was run
/// on its own.
async fn apply_file(
    client: &tokio_postgres::Client,
    text: &str,
) -> Result<(), (tokio_postgres::Error, Option<usize>)> {
    use tokio_postgres::error::SqlState;
    let Err(e) = client.batch_execute(text).await else {
        return Ok(());
    };
    let retry = e.code().is_some_and(|c| {
        *c == SqlState::ACTIVE_SQL_TRANSACTION || *c == SqlState::UNSAFE_NEW_ENUM_VALUE_USAGE
    });
    let statements = match pg_query::split_with_parser(text) {
        Ok(s) if retry => s,
        _ => return Err((e, None)),
    };
    for stmt in statements {
        if let Err(e) = client.batch_execute(stmt).await {
            return Err((e, Some(stmt.as_ptr() as usize - text.as_ptr() as usize)));
        }
    }
    Ok(())
}

/// The migration files of `dir` in the order they apply.
fn migration_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let list = |d: &Path| -> Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(d)
            .with_context(|| format!("cannot read the migrations folder {}", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        Ok(files)
    };
    let files = list(dir)?;
    if files.is_empty() && dir.join("migrations").is_dir() {
        return list(&dir.join("migrations"));
    }
    if files.is_empty() {
        bail!("no .sql files in {}", dir.display());
    }
    Ok(files)
}

pub struct Loaded {
    /// Kept alive for as long as the command runs; stopped and removed on drop.
    #[allow(dead_code)]
    pub cluster: Cluster,
    pub url: String,
    pub sources: SourceMap,
    pub files: usize,
}

pub async fn load(dir: &Path, supabase_base: bool) -> Result<Loaded> {
    let files = migration_files(dir)?;
    eprintln!(
        "starting a throwaway PostgreSQL for {} migration file(s) in {} …",
        files.len(),
        dir.display()
    );
    let cluster = tokio::task::spawn_blocking(Cluster::start)
        .await
        .context("starting the cluster")??;
    let url = if supabase_base {
        cluster.create_supabase_database("migrations").await?
    } else {
        cluster.create_database("migrations").await?
    };
    let mut sources = SourceMap::default();
    for path in &files {
        let shown = path.display().to_string();
        let shown = shown.strip_prefix("./").unwrap_or(&shown).to_string();
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {shown}"))?;
        // Editors on Windows start files with a byte-order mark, which psql skips.
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text).to_string();
        // Each file in a session of its own, as `psql -f` and the Supabase CLI run them: a
        // `SET search_path` or `SET ROLE` in one file does not reach the next.
        let client = cluster.connect("migrations").await?;
        if let Err((e, at)) = apply_file(&client, &text).await {
            let (line, msg) = match e.as_db_error() {
                Some(db) => {
                    let line = match db.position() {
                        _ if at.is_some() => at.map(|o| statement_line(&text, o)),
                        Some(tokio_postgres::error::ErrorPosition::Original(p)) => {
                            // A character position, 1-based.
                            let upto: String =
                                text.chars().take((*p as usize).saturating_sub(1)).collect();
                            Some(upto.matches('\n').count() + 1)
                        }
                        _ => None,
                    };
                    let mut msg = db.message().to_string();
                    if let Some(d) = db.detail() {
                        msg.push_str(&format!(" ({d})"));
                    }
                    (line, msg)
                }
                None => (None, e.to_string()),
            };
            // Errors without a position (a missing role, say): find the statement by running
            // them one at a time in a transaction that is rolled back (the failed batch left
            // nothing behind: a multi-statement batch is one implicit transaction).
            let line = match line {
                Some(l) => Some(l),
                None => failing_statement_line(&client, &text).await,
            };
            match line {
                Some(l) => bail!("migration {shown}:{l} failed: {msg}"),
                None => bail!("migration {shown} failed: {msg}"),
            }
        }
        sources.record(&shown, &text);
    }
    cluster
        .connect("migrations")
        .await?
        .batch_execute("ANALYZE")
        .await
        .ok();
    Ok(Loaded {
        cluster,
        url,
        sources,
        files: files.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_found_at_their_statement_line() {
        let sql = "-- header\n\nCREATE TABLE a (id int);\n/* note */\ncreate view public.v as select 1;\nCREATE POLICY p ON a USING (true);\nCREATE FUNCTION s.f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n";
        let mut m = SourceMap::default();
        m.record("m/001.sql", sql);
        let at = |k: &str, s: &str, n: &str| {
            m.objects
                .get(&(k.into(), s.into(), n.into()))
                .map(|l| l.line)
        };
        assert_eq!(at("relation", "public", "a"), Some(3));
        assert_eq!(at("relation", "public", "v"), Some(5));
        assert_eq!(at("function", "s", "f"), Some(7));
        assert_eq!(
            m.policies
                .get(&("public".into(), "a".into(), "p".into()))
                .map(|l| l.line),
            Some(6)
        );
    }
}
