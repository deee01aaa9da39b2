//! Clean collections for the verify suites: chains of revision-history backups of a
//! workload, the workload (with its schema changes) running between backups, on a manual
//! clock so every run writes the same history.

use std::path::{Path, PathBuf};

use vouch_chain::Targets;
use vouch_cluster::workload::{self, Workload};
use vouch_cluster::{Clock, Cluster};
use vouch_engine::backup::{backup, BackupOptions, Destination};
use vouch_format::sst::Compression;
use vouch_keys::KeySource;

/// One second of HLC time.
pub const SEC: u64 = 1_000_000_000;
/// 2026-01-01 00:00:00.23 UTC: where the clusters' manual clocks start.
pub const T0: u64 = 1_767_225_600 * SEC + 230_000_000;

/// A collection and the cluster that wrote it (the oracle: it keeps every version).
pub struct Chains {
    /// The collection's folder (`<dir>/collection`).
    pub root: PathBuf,
    /// The source cluster (`<dir>/cluster`).
    pub cluster: Cluster,
}

impl std::fmt::Debug for Chains {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chains")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// Builds in `dir` a `w` cluster of `rows` rows and backs it up into `<dir>/collection`:
/// `plan` lists the chains, each its number of incrementals (`[2, 1]`: a full backup, two
/// incrementals, a second full backup, one incremental). Before each backup the clock
/// moves a second, the workload runs 30 operations (seeded `seed * 10 + n` for the n-th
/// backup) and the clock moves another second. Every backup has revision history, files of
/// about 4 KiB in 512-byte blocks (many files and blocks from little data), Snappy, and is
/// encrypted with `keys` when they are not empty.
pub fn revision_chains(
    dir: &Path,
    w: Workload,
    rows: u64,
    seed: u64,
    plan: &[usize],
    keys: &KeySource,
) -> Chains {
    let c = Cluster::init(&dir.join("cluster"), Clock::manual(T0))
        .unwrap_or_else(|e| panic!("cluster init: {e}"));
    workload::init(&c, w, rows, seed).unwrap_or_else(|e| panic!("workload init: {e}"));
    let root = dir.join("collection");
    let uri = root.to_string_lossy().into_owned();
    let mut n = 0;
    let mut step = |dest: Destination| {
        n += 1;
        c.kv().clock().advance(SEC);
        workload::run(&c, w, 30, seed * 10 + n).unwrap_or_else(|e| panic!("workload: {e}"));
        c.kv().clock().advance(SEC);
        let mut o = BackupOptions::new(Targets::Cluster, dest);
        o.revision_history = true;
        o.target_file_size = 4 << 10;
        o.block_size = 512;
        o.compression = Compression::Snappy;
        o.encryption = keys.clone();
        backup(&c, &o, &mut |_| {}).unwrap_or_else(|e| panic!("backup: {e}"));
    };
    for incrementals in plan {
        step(Destination::Into(uri.clone()));
        for _ in 0..*incrementals {
            step(Destination::IntoLatest(uri.clone()));
        }
    }
    Chains { root, cluster: c }
}
