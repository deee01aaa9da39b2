//! Backup throughput: a full backup of a `bank` cluster (1 KiB payloads) into a fresh
//! collection each iteration, in MiB/s of SST bytes written. The cluster is built once
//! per run; its size is `VOUCH_BENCH_BACKUP_MIB` (default 1024, i.e. the 1 GiB case
//! of the backup issue; use e.g. 64 for a quick look). Data blocks are zstd-compressed as
//! the engine's default; a second case writes uncompressed blocks.
//!
//! ```sh
//! cargo bench -p vouch-benches --bench backup
//! VOUCH_BENCH_BACKUP_MIB=64 cargo bench -p vouch-benches --bench backup
//! ```

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use vouch_chain::Targets;
use vouch_engine::backup::{backup, BackupOptions, Destination};
use vouch_format::sst::Compression;
use vouch_testkit::bench::{bank_cluster, bank_of_mib, env_u64};

fn mib() -> u64 {
    env_u64("VOUCH_BENCH_BACKUP_MIB", 1024)
}

fn bench_backup(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let cluster = bank_cluster(&tmp.path().join("c"), &bank_of_mib(mib()));
    let mut n = 0u64;
    let mut g = c.benchmark_group("backup_full_bank");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(1));
    for (name, compression) in [("zstd", Compression::Zstd), ("none", Compression::None)] {
        let opts = |n: u64| {
            let mut o = BackupOptions::new(
                Targets::Databases(vec!["bank".into()]),
                Destination::Into(format!("nodelocal://1/b{n}")),
            );
            o.compression = compression;
            o
        };
        // One run to learn the SST bytes written (the throughput unit).
        n += 1;
        let r = backup(&cluster, &opts(n), &mut |_| {}).expect("backup");
        g.throughput(Throughput::Bytes(r.file_bytes));
        g.bench_function(BenchmarkId::new(name, format!("{}MiB", mib())), |b| {
            b.iter_batched(
                || {
                    n += 1;
                    // Each backup needs its own end time directory name (1/100 s).
                    std::thread::sleep(Duration::from_millis(11));
                    opts(n)
                },
                |o| backup(&cluster, &o, &mut |_| {}).expect("backup"),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench_backup);
criterion_main!(benches);
