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
//! (whole-row references, references from inside a sub-query, sub-queries with a FROM list,
//! whose aliases the deparser makes unique against the outer name). When in doubt the key
//! includes the table's oid, which only costs a deparse; it never shares a text wrongly.
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
}

/// The sharing key of one stored expression tree of relation `relid`. `attname` names the
/// relation's user columns by attribute number.
#[cfg(test)]
fn deparse_key<'a>(tree: &str, relid: u32, attname: impl Fn(i16) -> Option<&'a str>) -> String {
    let shape = TreeShape::read(tree);
    let (names, rel) = shape.relation_part(relid, attname);
    format!("{}\0{names:?}{rel:?}", shape.normalized)
}

impl TreeShape {
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The rest of the key: the referenced columns' names and, when the text may name the
    /// relation, the relation itself.
    pub fn relation_part<'a>(
        &self,
        relid: u32,
        attname: impl Fn(i16) -> Option<&'a str>,
    ) -> (Vec<&'a str>, Option<u32>) {
        let mut names = Vec::with_capacity(self.attnums.len());
        let mut names_relation = self.names_relation;
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
                ":rtable" if !value.starts_with("<>") => names_relation = true,
                _ => {}
            }
            i = field_end;
        }
        key.push_str(&tree[copied..]);

        attnums.sort_unstable();
        attnums.dedup();
        TreeShape {
            normalized: key,
            attnums,
            names_relation: names_relation || vars != vars_read,
        }
    }
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
            deparse_key(VAR_EQ_CONST, 1, cols),
            deparse_key(&moved, 2, cols)
        );
        let other_names = |n: i16| ["id", "tenant"].get(n as usize - 1).copied();
        assert_ne!(
            deparse_key(VAR_EQ_CONST, 1, cols),
            deparse_key(VAR_EQ_CONST, 2, other_names)
        );
        assert!(!deparse_key(VAR_EQ_CONST, 1, cols).contains(":location"));
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
                deparse_key(&tree, 1, cols),
                deparse_key(&tree, 2, cols),
                "{tree}"
            );
        }
        let no_from = format!("{VAR_EQ_CONST} {{QUERY :rtable <> :jointree {{FROMEXPR}}}}");
        assert_eq!(
            deparse_key(&no_from, 1, cols),
            deparse_key(&no_from, 2, cols)
        );
    }
}
