//! The catalog snapshot: plain serde data, written by `tenantguard snapshot --out` and read
//! back by `audit --snapshot`. Field names are part of that file format: extend, never rename.

use serde::{Deserialize, Serialize};

/// Bumped only on incompatible changes to the file format.
pub const SNAPSHOT_FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: u32,
    pub server_version: String,
    pub server_version_num: i32,
    pub database: String,
    /// The role the snapshot (and the data scan) ran as, and whether RLS applies to it.
    pub current_user: String,
    pub current_user_bypasses_rls: bool,
    /// The schemas that were audited (the user's, minus PostgreSQL's and the platform's own).
    pub schemas: Vec<String>,
    pub relations: Vec<Relation>,
    /// Relations outside the audited schemas that audited tables reference through foreign
    /// keys (transitively), e.g. `auth.users`: read so that the proof can seed rows that need
    /// them as parents. Never audited: rules and the tenant model look at `relations` only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub support_relations: Vec<Relation>,
    pub roles: Vec<Role>,
    pub functions: Vec<Function>,
    /// Name → position in `relations`, built on first lookup (every stage looks tables up by
    /// name; a linear search would make the audit quadratic in the number of tables).
    #[serde(skip)]
    pub index: std::sync::OnceLock<std::collections::HashMap<QualifiedName, usize>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationKind {
    #[default]
    Table,
    PartitionedTable,
    View,
    MaterializedView,
    ForeignTable,
}

impl RelationKind {
    pub fn from_relkind(relkind: &str) -> Option<Self> {
        Some(match relkind {
            "r" => Self::Table,
            "p" => Self::PartitionedTable,
            "v" => Self::View,
            "m" => Self::MaterializedView,
            "f" => Self::ForeignTable,
            _ => return None,
        })
    }

    /// Tables hold rows of their own (a partitioned table's rows live in its partitions).
    pub fn is_table(self) -> bool {
        matches!(self, Self::Table | Self::PartitionedTable)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QualifiedName {
    pub schema: String,
    pub name: String,
}

impl QualifiedName {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            name: name.into(),
        }
    }

    /// `schema.name` with each part quoted only where PostgreSQL needs it.
    pub fn sql(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

impl std::fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// PostgreSQL's reserved, type/function-name and column-name keywords (PostgreSQL 15,
/// Appendix C): an identifier spelled like one of them must be quoted. Quoting an unreserved
/// keyword too is harmless, so the list errs on the side of quoting.
const KEYWORDS: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
];

/// Quotes an identifier the way `quote_ident()` does: only when it is not a plain lower-case
/// name or is spelled like a keyword.
pub fn quote_ident(ident: &str) -> String {
    let plain = ident
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && ident
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !KEYWORDS.contains(&ident);
    if plain {
        ident.to_string()
    } else {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }
}

/// A string literal, for values spliced into suggested fix SQL.
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Relation {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub kind: RelationKind,
    pub owner: String,
    pub rls_enabled: bool,
    pub rls_forced: bool,
    pub is_partition: bool,
    /// Partition parent or inheritance parents.
    pub parents: Vec<QualifiedName>,
    /// `reloptions`, e.g. `security_invoker=true` on a view.
    pub options: Vec<String>,
    pub view_definition: Option<String>,
    /// The planner's estimate (`reltuples`); -1 when never analysed.
    pub estimated_rows: f64,
    /// Created by an extension (its objects are the extension's business, not the user's).
    pub from_extension: bool,
    pub columns: Vec<Column>,
    pub constraints: Vec<Constraint>,
    pub indexes: Vec<Index>,
    pub policies: Vec<Policy>,
    pub grants: Vec<Grant>,
    /// User triggers (not the internal ones behind foreign keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<Trigger>,
    /// `COMMENT ON` the relation (carries `tenantguard:ignore` suppressions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl Relation {
    pub fn qualified_name(&self) -> QualifiedName {
        QualifiedName::new(&self.schema, &self.name)
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn foreign_keys(&self) -> impl Iterator<Item = (&Constraint, &ForeignKey)> {
        self.constraints
            .iter()
            .filter_map(|c| c.foreign_key.as_ref().map(|fk| (c, fk)))
    }

    pub fn primary_key(&self) -> Option<&Constraint> {
        self.constraints
            .iter()
            .find(|c| c.kind == ConstraintKind::PrimaryKey)
    }
}

/// A trigger on a relation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trigger {
    pub name: String,
    /// The trigger function (triggers' functions take no arguments).
    pub function: QualifiedName,
    /// BEFORE (it can change or refuse the row), else AFTER or INSTEAD OF.
    pub before: bool,
    /// FOR EACH ROW, else FOR EACH STATEMENT.
    pub for_each_row: bool,
    /// `insert`, `update`, `delete`, `truncate`.
    pub events: Vec<String>,
    /// Not disabled (`ALTER TABLE … DISABLE TRIGGER`).
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// `format_type()` of the column, e.g. `uuid`, `character varying(20)`.
    pub type_name: String,
    pub not_null: bool,
    pub has_default: bool,
    pub position: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintKind {
    PrimaryKey,
    Unique,
    ForeignKey,
    Check,
    Exclusion,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Constraint {
    pub name: String,
    pub kind: ConstraintKind,
    pub columns: Vec<String>,
    /// False for a constraint added `NOT VALID` and never validated: old rows were not checked.
    pub validated: bool,
    /// `pg_get_constraintdef()` of a CHECK constraint (the other kinds are fully described by
    /// the fields here).
    pub check: Option<String>,
    pub foreign_key: Option<ForeignKey>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForeignKey {
    pub references: QualifiedName,
    pub referenced_columns: Vec<String>,
    pub on_delete: FkAction,
    pub on_update: FkAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FkAction {
    NoAction,
    Restrict,
    Cascade,
    SetNull,
    SetDefault,
}

impl FkAction {
    pub fn from_code(code: &str) -> Self {
        match code {
            "r" => Self::Restrict,
            "c" => Self::Cascade,
            "n" => Self::SetNull,
            "d" => Self::SetDefault,
            _ => Self::NoAction,
        }
    }

    pub fn sql(self) -> &'static str {
        match self {
            Self::NoAction => "NO ACTION",
            Self::Restrict => "RESTRICT",
            Self::Cascade => "CASCADE",
            Self::SetNull => "SET NULL",
            Self::SetDefault => "SET DEFAULT",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    /// Key columns in order; `None` for an expression.
    pub columns: Vec<Option<String>>,
    pub unique: bool,
    pub primary: bool,
    pub partial: bool,
    /// False for a failed `CREATE INDEX CONCURRENTLY`: the planner never uses it.
    pub valid: bool,
    pub method: String,
}

impl Index {
    pub fn leading_column(&self) -> Option<&str> {
        self.columns.first().and_then(|c| c.as_deref())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyCommand {
    All,
    Select,
    Insert,
    Update,
    Delete,
}

impl PolicyCommand {
    pub fn from_code(code: &str) -> Self {
        match code {
            "r" => Self::Select,
            "a" => Self::Insert,
            "w" => Self::Update,
            "d" => Self::Delete,
            _ => Self::All,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    pub command: PolicyCommand,
    pub permissive: bool,
    /// Role names; `public` when the policy applies to every role.
    pub roles: Vec<String>,
    /// `pg_get_expr(polqual)` / `pg_get_expr(polwithcheck)`.
    pub using: Option<String>,
    pub with_check: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    /// A role name, or `PUBLIC`.
    pub grantee: String,
    /// `SELECT`, `INSERT`, `UPDATE`, `DELETE`, `TRUNCATE`, `REFERENCES`, `TRIGGER`.
    pub privilege: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub can_login: bool,
    pub superuser: bool,
    pub bypass_rls: bool,
    pub inherit: bool,
    /// Roles this role is a direct member of.
    pub member_of: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Function {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub identity_arguments: String,
    pub result_type: String,
    pub language: String,
    pub security_definer: bool,
    /// `i`mmutable, `s`table or `v`olatile.
    pub volatility: String,
    /// `proconfig`, e.g. `search_path=""`.
    pub config: Vec<String>,
    pub body: String,
    pub owner: String,
    /// Roles (or `PUBLIC`) holding EXECUTE.
    pub execute_grantees: Vec<String>,
    pub from_extension: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl Snapshot {
    pub fn relation(&self, name: &QualifiedName) -> Option<&Relation> {
        let index = self.index.get_or_init(|| {
            self.relations
                .iter()
                .enumerate()
                .map(|(i, r)| (r.qualified_name(), i))
                .collect()
        });
        index.get(name).map(|&i| &self.relations[i])
    }

    /// A relation outside the audited schemas read only as a foreign-key parent.
    pub fn support_relation(&self, name: &QualifiedName) -> Option<&Relation> {
        self.support_relations
            .iter()
            .find(|r| r.schema == name.schema && r.name == name.name)
    }

    /// An audited relation, else a support relation (for the proof's row builder).
    pub fn any_relation(&self, name: &QualifiedName) -> Option<&Relation> {
        self.relation(name).or_else(|| self.support_relation(name))
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_where_postgres_needs_it() {
        assert_eq!(quote_ident("org_id"), "org_id");
        assert_eq!(quote_ident("trailing"), "\"trailing\"");
        assert_eq!(quote_ident("Orgs"), "\"Orgs\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("9lives"), "\"9lives\"");
        assert_eq!(quote_ident(""), "\"\"");
        assert_eq!(
            QualifiedName::new("public", "user").sql(),
            "public.\"user\""
        );
    }
}
