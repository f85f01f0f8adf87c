//! Stage 3b: the access model. Each policy expression is parsed by PostgreSQL's own parser
//! (`pg_query`) and interpreted abstractly (`expr`); the facts are combined per table, role and
//! command the way PostgreSQL combines policies (`model`). Never string matching.

pub mod expr;
pub mod model;
pub mod plpgsql;

pub use expr::{
    caller_guard, deparse, parse_expr, parse_select, pins_caller, tables_read, Fact, Observation,
    OpenKind,
};
pub use model::{
    analysed_roles, owner_bypasses, AccessConfig, AccessModel, Cell, Command, PolicyAnalysis,
    Roles, Verdict,
};
