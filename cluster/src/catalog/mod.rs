//! The SQL-level cluster on top of the KV layer: descriptors (databases, schemas, tables,
//! enum types, views) stored as MVCC rows in `system.descriptor`, so every schema change
//! happens at a timestamp and its history is kept; table rows and secondary index entries
//! written together; foreign keys, NOT NULL and unique constraints checked on write;
//! `system.users` with hashed passwords; ranges with localities.
//!
//! Key layout (spec/rows.md): a descriptor lives at `/Table/3/1/<id>`; a row of table `t`
//! at `/Table/t/<primary index id>/<key columns…>` with the non-key columns as a row
//! value; a secondary index entry at `/Table/t/<index id>/<index columns…><remaining
//! primary-key columns…>` with the stored columns as a row value.
//!
//! | module | what |
//! |---|---|
//! | `descriptors` | [`Cluster`]: open, bootstrap, descriptors and catalogs at a time |
//! | `ddl` | schema changes (`CREATE …`, `ALTER`, `DROP`) |
//! | `txn` | [`Txn`]: rows and index entries written together, constraints; row scans |
//! | `users` | `CREATE USER`, password hashes |
//! | `zones` | nodes and their localities, `system.zones`, `PARTITION BY LIST`, ranges and their leaseholders |
//! | `fingerprint` | index fingerprints |

mod ddl;
mod descriptors;
mod fingerprint;
mod txn;
mod users;
mod zones;

pub use ddl::{ColumnDef, ForeignKeyDef, IndexDef, TableDef};
pub use descriptors::{cmp_rows, modification_time, Cluster, Row, EXTERN_DIR, STORE_FILE};
pub use fingerprint::IndexFingerprint;
pub use txn::Txn;
pub use users::{check_password, hash_password};
pub use zones::{
    decode_zone_rows, Node, Range, ZoneConfig, ZoneKey, ZoneTarget, DEFAULT_NUM_REPLICAS,
    DEFAULT_REGIONS, DEMO_NODES, MAX_NODES,
};
