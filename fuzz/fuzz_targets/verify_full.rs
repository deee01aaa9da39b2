//! `verify --level full` on a tiny collection whose protected files (manifests, checksum
//! files, data files, the LATEST marker in force) the fuzzer's bytes mutate: it must never
//! panic, never call a changed collection clean, never flag an unchanged one. The oracle is
//! `vouch_verify::corrupt::fuzz_verify_full`, which `verify/tests/corruption.rs` also runs.
#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use vouch_cluster::workload::{self, Workload};
use vouch_cluster::{Clock, Cluster};
use vouch_engine::backup::{backup, BackupOptions, Destination};
use vouch_chain::Targets;
use vouch_format::sst::Compression;
use vouch_verify::corrupt;

struct Base {
    files: BTreeMap<String, Vec<u8>>,
    scratch: PathBuf,
    _tmp: tempfile::TempDir,
}

/// A bank cluster of 12 rows, a full backup with revision history and one incremental
/// (the same recipe as `fuzz_base` in verify/tests/corruption.rs), read into memory once.
fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("tempdir");
        let c = Cluster::init(
            &tmp.path().join("cluster"),
            Clock::manual(1_767_225_600_230_000_000),
        )
        .expect("cluster");
        workload::init(&c, Workload::Bank, 12, 1).expect("init");
        let root = tmp.path().join("collection");
        let uri = root.to_str().expect("utf-8 path").to_string();
        for (i, dest) in [Destination::Into(uri.clone()), Destination::IntoLatest(uri)]
            .into_iter()
            .enumerate()
        {
            c.kv().clock().advance(1_000_000_000);
            workload::run(&c, Workload::Bank, 6, i as u64 + 2).expect("run");
            c.kv().clock().advance(1_000_000_000);
            let mut o = BackupOptions::new(Targets::Cluster, dest);
            o.revision_history = true;
            o.target_file_size = 2 << 10;
            o.block_size = 256;
            o.compression = Compression::Snappy;
            backup(&c, &o, &mut |_| {}).expect("backup");
        }
        let files = corrupt::list_files(&root)
            .expect("list")
            .into_iter()
            .map(|p| {
                let b = std::fs::read(root.join(&p)).expect("read");
                (p, b)
            })
            .collect();
        Base {
            files,
            scratch: tmp.path().join("scratch"),
            _tmp: tmp,
        }
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let b = base();
    corrupt::fuzz_verify_full(&b.files, &b.scratch, data)
});
