//! Stage 1 of the pipeline: connect, and read everything later stages need from the catalog
//! into a plain-data [`Snapshot`]. Nothing after this stage holds a database handle except
//! the data scan, so every rule is a pure function of the snapshot (and scan results).

mod acl;
pub mod connect;
mod deparse_key;
mod load;
pub mod snapshot;

pub use connect::{connect, ConnectError, ConnectTarget};
pub use load::{
    audited_schemas, load_snapshot, load_snapshot_with, SnapshotOptions, PLATFORM_SCHEMAS,
};
pub use snapshot::*;
