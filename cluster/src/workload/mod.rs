//! Deterministic workloads that fill and change a [`Cluster`], like `cockroach workload
//! init|run bank|movr`.
//!
//! **Determinism.** The data written (every row, every index entry, every schema change)
//! depends only on the seed, the row or op count and the data already in the cluster;
//! timestamps never feed into it. Two clusters given the same `init` and `run` calls have
//! the same [`Cluster::fingerprints`]. Each `run` seeds its generator from the seed *and*
//! a digest of the workload's primary keys and table shapes (column and index names), so
//! repeated runs with one seed do different (but still reproducible) work and never reuse
//! generated keys. Descriptor ids and versions stay out of the digest: a restored copy of a
//! cluster runs exactly like the original.
//!
//! - `bank`: database `bank`, table `bank(id INT PRIMARY KEY, balance INT NOT NULL,
//!   payload STRING)`. `run` does transfers (one transaction moves an amount between two
//!   accounts), opens accounts (balance 0) and closes accounts (the balance moves to another
//!   account in the same transaction), so the total balance never changes.
//! - `movr`: database `movr` with the enum `vehicle_type`, tables `users`, `vehicles` and
//!   `rides` linked by foreign keys, secondary indexes (one `STORING`), and the view
//!   `active_rides`. `run` starts and ends rides, moves vehicles, deletes finished rides and
//!   adds users and vehicles. With [`InitOptions::geo_partitioned`] (CockroachDB's
//!   `cockroach demo movr --geo-partitioned`) the three tables have primary key
//!   `(city, id)` and foreign keys `(city, …)`, and are `PARTITION BY LIST (city)` into
//!   [`MOVR_PARTITIONS`], each partition's zone constrained to its region; every row
//!   references rows of its own city.
//!
//! Every `run` with at least one op applies one schema change halfway through: the first
//! of the workload's list that is not applied yet, then `note_<n>` columns (see
//! [`BANK_SCHEMA_CHANGES`] and [`MOVR_SCHEMA_CHANGES`]).

mod bank;
mod common;
mod movr;

pub use bank::{bank_total_balance, BANK_SCHEMA_CHANGES};
pub use common::{
    InitOptions, Summary, Workload, BANK, DEFAULT_BATCH_ROWS, DEFAULT_PAYLOAD_BYTES, MOVR,
};
pub use movr::{MOVR_PARTITIONS, MOVR_SCHEMA_CHANGES};

use bank::{bank_init, bank_run};
use movr::{movr_init, movr_run};

use crate::{Cluster, Result};

/// Creates the workload's schema and `rows` rows from `seed`.
pub fn init(c: &Cluster, w: Workload, rows: u64, seed: u64) -> Result<Summary> {
    init_with(c, w, &InitOptions::new(rows, seed))
}

/// [`init`] with every option.
pub fn init_with(c: &Cluster, w: Workload, o: &InitOptions) -> Result<Summary> {
    let mut s = Summary::default();
    match w {
        Workload::Bank if o.geo_partitioned => {
            return Err(crate::Error::Usage(
                "--geo-partitioned applies to the movr workload only".into(),
            ))
        }
        Workload::Bank => bank_init(c, o, &mut s)?,
        Workload::Movr => movr_init(c, o, &mut s)?,
    }
    Ok(s)
}

/// Runs `ops` operations (each its own transaction) and one schema change halfway.
pub fn run(c: &Cluster, w: Workload, ops: u64, seed: u64) -> Result<Summary> {
    let mut s = Summary::default();
    match w {
        Workload::Bank => bank_run(c, ops, seed, &mut s)?,
        Workload::Movr => movr_run(c, ops, seed, &mut s)?,
    }
    Ok(s)
}
