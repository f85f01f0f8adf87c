//! Which policy expressions `pg_get_expr` would print identically, so that only one of each
//! is deparsed.
//!
//! Why: `pg_get_expr(polqual, polrelid)` opens the policy's table to name its columns, and a
//! relcache entry built from cold costs ~85 µs per table (measured: 2,000 policies take
//! ~215 ms cold, ~40 ms warm). Schemas with many tables mostly repeat one policy template, so
//! most stored trees are the same tree over the same column names.
//!
//! The key is built from PostgreSQL's stored node-tree text (`polqual::text`), never from
//! policy source: the deparsed text depends only on the tree and on the names of the table's
//! columns that the tree references — plus the table's own name whenever it may be printed
//! (whole-row references, references from inside a sub-query) or may change what is printed:
//! the deparser makes the names of a sub-query's FROM items unique against the outer table's
//! name (`members m` on a table called `m` prints as `members m_1`), so the key has the table
//! when its name collides with one of theirs. When in doubt the key includes the table's oid,
//! which only costs a deparse; it never shares a text wrongly.
//! No crate reads node-tree text (pg_query parses SQL, not `nodeToString` output), hence the
//! small hand scan here.

/// What of a stored tree decides its deparsed text, before the relation's columns are known.
#[derive(Debug)]
pub struct TreeShape {
    /// The tree without source positions.
    normalized: String,
    /// User columns referenced (positive attribute numbers).
    attnums: Vec<i16>,
    /// The deparsed text may name the relation itself.
    names_relation: bool,
    /// The names sub-queries' FROM items are printed under, which the deparser makes unique
    /// against the outer table's name.
    inner_names: Vec<InnerName>,
}

/// The name a FROM item of a sub-query is printed under.
#[derive(Debug, PartialEq)]
enum InnerName {
    /// Its alias, or the name the parser gave it (functions, VALUES, sub-queries).
    Named(String),
    /// An unaliased table: printed under its current name.
    Relation(u32),
}

/// Whether the deparser would print a FROM item named `inner` differently inside a policy on a
/// table named `outer`: the same name, or one its uniquifying suffix (`m_1`) could produce.
/// Names near the 63-byte limit are truncated before the suffix: always a collision.
fn collides(outer: &str, inner: &str) -> bool {
    outer == inner
        || outer
            .strip_prefix(inner)
            .is_some_and(|rest| rest.starts_with('_'))
        || outer.len() >= 56
        || inner.len() >= 56
}

/// The sharing key of one stored expression tree of relation `relid`. `attname` names the
/// relation's user columns by attribute number.
#[cfg(test)]
fn deparse_key<'a>(
    tree: &str,
    relid: u32,
    relname: &str,
    attname: impl Fn(i16) -> Option<&'a str>,
) -> String {
    let shape = TreeShape::read(tree);
    let (names, rel) = shape.relation_part(relid, relname, attname, |oid| {
        (oid == 7).then_some("members")
    });
    format!("{}\0{names:?}{rel:?}", shape.normalized)
}

impl TreeShape {
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The rest of the key: the referenced columns' names and, when the text may name the
    /// relation (`relid`, called `relname`) or its name may change the text, the relation
    /// itself. `attname` names its user columns; `table_name` names other tables by oid.
    pub fn relation_part<'a, 'b>(
        &self,
        relid: u32,
        relname: &str,
        attname: impl Fn(i16) -> Option<&'a str>,
        table_name: impl Fn(u32) -> Option<&'b str>,
    ) -> (Vec<&'a str>, Option<u32>) {
        let mut names = Vec::with_capacity(self.attnums.len());
        let mut names_relation = self.names_relation
            || self.inner_names.iter().any(|inner| {
                let name = match inner {
                    InnerName::Named(n) => Some(n.as_str()),
                    InnerName::Relation(oid) => table_name(*oid),
                };
                name.is_none_or(|n| collides(relname, n))
            });
        for &n in &self.attnums {
            match attname(n) {
                Some(name) => names.push(name),
                None => names_relation = true,
            }
        }
        (names, names_relation.then_some(relid))
    }

    pub fn read(tree: &str) -> TreeShape {
        let mut key = String::with_capacity(tree.len());
        let mut attnums: Vec<i16> = Vec::new();
        let mut names_relation = false;
        let mut rtables = 0usize;
        let mut vars = 0usize;
        let mut vars_read = 0usize;

        let bytes = tree.as_bytes();
        let mut i = 0;
        let mut copied = 0;
        while i < bytes.len() {
            if bytes[i] == b'{' && tree[i..].starts_with("{VAR ") {
                vars += 1;
                // "{VAR :varno N :varattno M ..." on every version this was checked on (12–17).
                let rest = &tree[i + 5..];
                if let Some(after) = rest.strip_prefix(":varno ") {
                    let (_, after) = split_int(after);
                    if after.starts_with(" :varattno ") {
                        vars_read += 1;
                    }
                }
            }
            if bytes[i] != b':' {
                i += 1;
                continue;
            }
            let field_end = tree[i..].find(' ').map_or(tree.len(), |n| i + n);
            let field = &tree[i..field_end];
            let value = &tree[(field_end + 1).min(tree.len())..];
            match field {
                // Source positions: the deparser never reads them, and they differ between two
                // CREATE POLICY statements that differ only in whitespace.
                ":location" | ":stmt_location" | ":stmt_len" => {
                    let (_, rest) = split_int(value);
                    // Drop the preceding space too.
                    key.push_str(&tree[copied..i.saturating_sub(1)]);
                    copied = tree.len() - rest.len();
                    i = copied;
                    continue;
                }
                ":varattno" | ":varattnosyn" => match split_int(value).0 {
                    Some(n) if n > 0 => attnums.push(n),
                    _ => names_relation = true,
                },
                ":varlevelsup" if split_int(value).0 != Some(0) => names_relation = true,
                ":rtable" if !value.starts_with("<>") => rtables += 1,
                _ => {}
            }
            i = field_end;
        }
        key.push_str(&tree[copied..]);

        attnums.sort_unstable();
        attnums.dedup();
        // The FROM items of every sub-query, under the names the deparser prints them.
        let mut inner_names = vec![];
        let mut entries = 0usize;
        for (at, _) in tree.match_indices("{RANGETBLENTRY ") {
            entries += 1;
            match range_table_entry(&tree[at + "{RANGETBLENTRY ".len()..]) {
                Some(Some(name)) => inner_names.push(name),
                Some(None) => {}
                None => names_relation = true,
            }
        }
        TreeShape {
            normalized: key,
            attnums,
            // A FROM list we could not read: keep the table apart.
            names_relation: names_relation || vars != vars_read || (rtables > 0 && entries == 0),
            inner_names,
        }
    }
}

/// The printed name of one range-table entry (`:alias … :eref … :rtekind N [:relid N]`, the
/// order of PostgreSQL 12–17): `Some(None)` for an unnamed join, `None` if unreadable.
fn range_table_entry(entry: &str) -> Option<Option<InnerName>> {
    let rest = entry.strip_prefix(":alias ")?;
    let (alias, rest) = match rest.strip_prefix("<>") {
        Some(rest) => (None, rest),
        None => {
            let rest = rest.strip_prefix("{ALIAS :aliasname ")?;
            let (name, rest) = token(rest)?;
            (Some(name), rest)
        }
    };
    let eref_at = rest.find(":eref {ALIAS :aliasname ")?;
    let (eref, rest) = token(&rest[eref_at + ":eref {ALIAS :aliasname ".len()..])?;
    let rest = skip_colnames(rest)?.strip_prefix("} :rtekind ")?;
    let (kind, rest) = split_int(rest);
    if let Some(alias) = alias {
        return Some(Some(InnerName::Named(alias.to_string())));
    }
    match kind? {
        // A table: its current name (the one in `eref` may be stale).
        0 => {
            let rest = rest.strip_prefix(" :relid ")?;
            let end = rest.find(|c: char| !c.is_ascii_digit())?;
            Some(Some(InnerName::Relation(rest[..end].parse().ok()?)))
        }
        // An unnamed join has no name.
        2 => Some(None),
        _ => Some(Some(InnerName::Named(eref.to_string()))),
    }
}

/// Skips ` :colnames <>` or ` :colnames ("a" "b" …)`, whose quoted names may hold anything.
fn skip_colnames(s: &str) -> Option<&str> {
    let s = s.strip_prefix(" :colnames ")?;
    if let Some(rest) = s.strip_prefix("<>") {
        return Some(rest);
    }
    let mut chars = s.strip_prefix('(')?.char_indices();
    let mut quoted = false;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if quoted => {
                chars.next();
            }
            '"' => quoted = !quoted,
            ')' if !quoted => return Some(&s[i + 2..]),
            _ => {}
        }
    }
    None
}

/// A name as `nodeToString` writes it; names it had to escape are not read (`None`).
fn token(s: &str) -> Option<(&str, &str)> {
    let end = s.find([' ', '}']).unwrap_or(s.len());
    let name = &s[..end];
    (!name.is_empty() && !name.contains(['\\', '"'])).then_some((name, &s[end..]))
}

/// A leading (optionally negative) integer and the text after it.
fn split_int(s: &str) -> (Option<i16>, &str) {
    let end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(s.len(), |(i, _)| i);
    (s[..end].parse().ok(), &s[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const VAR_EQ_CONST: &str = "{OPEXPR :opno 96 :args ({VAR :varno 1 :varattno 2 :vartype 23 :varlevelsup 0 :varnosyn 1 :varattnosyn 2 :location 7} {CONST :consttype 23 :location 12 :constvalue 4 [ 1 0 0 0 0 0 0 0 ]}) :location 9}";

    fn cols(n: i16) -> Option<&'static str> {
        ["id", "org_id"].get(n as usize - 1).copied()
    }

    #[test]
    fn locations_do_not_change_the_key_but_column_names_do() {
        let moved = VAR_EQ_CONST
            .replace(":location 7}", ":location 70}")
            .replace(":location 9}", ":location 90}");
        assert_eq!(
            deparse_key(VAR_EQ_CONST, 1, "t1", cols),
            deparse_key(&moved, 2, "t2", cols)
        );
        let other_names = |n: i16| ["id", "tenant"].get(n as usize - 1).copied();
        assert_ne!(
            deparse_key(VAR_EQ_CONST, 1, "t1", cols),
            deparse_key(VAR_EQ_CONST, 2, "t2", other_names)
        );
        assert!(!deparse_key(VAR_EQ_CONST, 1, "t1", cols).contains(":location"));
    }

    #[test]
    fn anything_that_may_print_the_relation_keeps_it_apart() {
        let whole_row = VAR_EQ_CONST.replace(":varattno 2 ", ":varattno 0 ");
        let outer = VAR_EQ_CONST.replace(":varlevelsup 0", ":varlevelsup 1");
        let from = format!("{VAR_EQ_CONST} {{QUERY :rtable ({{RANGETBLENTRY}})}}");
        let unknown_column = VAR_EQ_CONST.replace(":varattno 2 ", ":varattno 9 ");
        let unreadable = VAR_EQ_CONST.replace("{VAR :varno 1 :varattno 2", "{VAR :varattno 2");
        for tree in [whole_row, outer, from, unknown_column, unreadable] {
            assert_ne!(
                deparse_key(&tree, 1, "t1", cols),
                deparse_key(&tree, 2, "t2", cols),
                "{tree}"
            );
        }
        let no_from = format!("{VAR_EQ_CONST} {{QUERY :rtable <> :jointree {{FROMEXPR}}}}");
        // A sub-query over `members m` (and an unaliased `members`, oid 7): shared between
        // tables whose names collide with neither, kept apart on a table named `m`, `m_1`
        // or `members`, and on any table when the unaliased table's name is unknown.
        let rte = |alias: &str, eref: &str, relid: u32| {
            format!("{{RANGETBLENTRY :alias {alias} :eref {{ALIAS :aliasname {eref} :colnames (\"org_id\" \") :rtekind 5\")}} :rtekind 0 :relid {relid} :relkind r}}")
        };
        let sub = format!(
            "{VAR_EQ_CONST} {{QUERY :rtable ({} {}) :jointree {{FROMEXPR}}}}",
            rte("{ALIAS :aliasname m :colnames <>}", "m", 5),
            rte("<>", "members", 7)
        );
        let key = |rel: u32, name: &str| deparse_key(&sub, rel, name, cols);
        assert_eq!(key(1, "projects"), key(2, "tasks"));
        assert_eq!(key(1, "projects"), key(3, "mm"));
        for name in ["m", "m_1", "members", "members_2"] {
            assert_ne!(key(1, name), key(2, name), "{name}");
        }
        let unknown = sub.replace(":relid 7", ":relid 8");
        assert_ne!(
            deparse_key(&unknown, 1, "projects", cols),
            deparse_key(&unknown, 2, "tasks", cols)
        );
        assert_eq!(
            deparse_key(&no_from, 1, "t1", cols),
            deparse_key(&no_from, 2, "t2", cols)
        );
    }
}
