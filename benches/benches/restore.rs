//! Restore throughput: a `bank` chain (1 KiB payloads) of a full backup and five
//! revision-history incrementals, restored into a fresh cluster each iteration, in MiB/s
//! of stored SST bytes read. Three cases: the newest layer's end time (every layer read),
//! AS OF a time inside the newest layer's window, and AS OF a time inside the oldest
//! (full) layer's window (one layer read). The source cluster is built once per run; its
//! size is `VOUCH_BENCH_RESTORE_MIB` (default 1024: the 1 GiB case of the restore issue;
//! use e.g. 64 for a quick look).
//!
//! ```sh
//! cargo bench -p vouch-benches --bench restore
//! VOUCH_BENCH_RESTORE_MIB=64 cargo bench -p vouch-benches --bench restore
//! ```

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use vouch_chain::Targets;
use vouch_chain::{RestoreOptions, Source};
use vouch_cluster::workload::{self, Workload};
use vouch_cluster::{Clock, Cluster};
use vouch_engine::backup::{backup, BackupOptions, Destination};
use vouch_engine::restore;
use vouch_format::mvcc::Timestamp;
use vouch_testkit::bench::{bank_cluster, bank_of_mib, env_u64};

const INCREMENTALS: u64 = 5;

fn mib() -> u64 {
    env_u64("VOUCH_BENCH_RESTORE_MIB", 1024)
}

fn bench_restore(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let cluster = bank_cluster(&tmp.path().join("c"), &bank_of_mib(mib()));
    let bank = || Targets::Databases(vec!["bank".into()]);
    let uri = "nodelocal://1/chain";
    let mut full = BackupOptions::new(bank(), Destination::Into(uri.into()));
    full.revision_history = true;
    let mut file_bytes = vec![
        backup(&cluster, &full, &mut |_| {})
            .expect("full")
            .file_bytes,
    ];
    let mut mids: Vec<Timestamp> = Vec::new();
    for i in 0..INCREMENTALS {
        workload::run(&cluster, Workload::Bank, 500, 10 + i).expect("run");
        mids.push(cluster.now());
        workload::run(&cluster, Workload::Bank, 500, 100 + i).expect("run");
        let mut inc = BackupOptions::new(bank(), Destination::IntoLatest(uri.into()));
        inc.revision_history = true;
        file_bytes.push(
            backup(&cluster, &inc, &mut |_| {})
                .expect("incremental")
                .file_bytes,
        );
    }
    // A time inside the full layer's window: just before its end.
    let full_end = {
        let coll = vouch_chain::Collection::open(
            uri,
            None,
            &vouch_chain::open_options(Some(cluster.extern_dir())),
        )
        .expect("collection");
        let chain = coll.chain(&coll.latest().expect("latest")).expect("chain");
        let end = chain.layers[0].manifest.end_time.expect("end");
        Timestamp::new(end.wall - 1, 0)
    };
    let source = Source::Collection {
        uri: format!("file://{}/chain", cluster.extern_dir().display()),
        subdir: "LATEST".into(),
        incremental_location: None,
    };
    let mut g = c.benchmark_group("restore_bank_chain");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(30))
        .warm_up_time(Duration::from_secs(1));
    let all: u64 = file_bytes.iter().sum();
    let newest_mid = mids.last().copied();
    for (name, as_of, bytes) in [
        ("newest_end", None, all),
        ("newest_layer", newest_mid, all),
        ("oldest_layer", Some(full_end), file_bytes[0]),
    ] {
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function(BenchmarkId::new(name, format!("{}MiB", mib())), |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let target =
                        Cluster::init(&dir.path().join("t"), Clock::system()).expect("target");
                    let mut o = RestoreOptions::new(bank(), source.clone());
                    o.as_of = as_of.map(|t| t.to_string());
                    (dir, target, o)
                },
                |(dir, target, o)| {
                    restore::restore(&target, &o, &mut |_| {}).expect("restore");
                    (dir, target)
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench_restore);
criterion_main!(benches);
