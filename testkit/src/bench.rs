//! The clusters the benchmarks back up, and their sizes from the environment.

use std::path::Path;

use vouch_cluster::workload::{self, InitOptions, Workload};
use vouch_cluster::{Clock, Cluster};

/// Stored bytes per `bank` row with a 1000-byte payload (key, payload, balance, MVCC
/// overhead): about 1.1 KiB.
const BANK_ROW_BYTES: u64 = 1100;

/// The number in environment variable `name` (`VOUCH_BENCH_BACKUP_MIB`, …), else `default`
/// (also when it does not parse).
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `bank` workload options for about `mib` MiB stored: 1000-byte payloads, seed 1.
pub fn bank_of_mib(mib: u64) -> InitOptions {
    let mut o = InitOptions::new(mib * 1024 * 1024 / BANK_ROW_BYTES, 1);
    o.payload_bytes = 1000;
    o
}

/// A new cluster in `dir` (system clock) holding the `bank` workload initialized with `o`.
pub fn bank_cluster(dir: &Path, o: &InitOptions) -> Cluster {
    let cluster = Cluster::init(dir, Clock::system()).expect("cluster");
    workload::init_with(&cluster, Workload::Bank, o).expect("init");
    cluster
}
