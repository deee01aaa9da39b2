//! `vouch verify` throughput. Two groups, each with `--jobs 1` and `--jobs 2`:
//!
//! - `verify_full`: full verification of a `bank` collection (1 KiB payloads, a full
//!   backup and two revision-history incrementals) in MiB/s of stored file bytes, beside a
//!   `sha256_ceiling` case that only reads and hashes the same files (what `sha256sum`
//!   does): the ceiling to compare against. Size: `VOUCH_BENCH_VERIFY_MIB` (default 1024,
//!   the 1 GiB case of the verify issue; e.g. 64 for a quick look). Beside it, the same
//!   data backed up encrypted (passphrase; the backups of both collections are taken at
//!   the same cluster states): `encrypted_jobs*` verifies it with the key (every chunk
//!   authenticated and decrypted, then the same checks), `encrypted_keyless_jobs*` without
//!   it (the byte-integrity pass: SHA-256 of every file against the listing, envelope
//!   headers and sizes), each in MiB/s of its stored bytes (issue 6: full verify of an
//!   encrypted 1 GiB collection vs the same collection unencrypted).
//! - `verify_metadata_files`: metadata verification of a collection with many small data
//!   files (`VOUCH_BENCH_VERIFY_FILES`, default 10000: one row per file, by a 1-byte
//!   `target_file_size`, so the count is exact whatever the compression), wall time per run
//!   (throughput given in bytes of those files, so the report also shows files' bytes per
//!   second).
//!
//! ```sh
//! cargo bench -p vouch-benches --bench verify
//! VOUCH_BENCH_VERIFY_MIB=64 VOUCH_BENCH_VERIFY_FILES=2000 cargo bench -p vouch-benches --bench verify
//! ```

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vouch_chain::open_options;
use vouch_chain::Targets;
use vouch_cluster::workload::{self, InitOptions, Workload};
use vouch_cluster::Cluster;
use vouch_engine::backup::{backup, BackupOptions, Destination};
use vouch_keys::passphrase::Passphrase;
use vouch_keys::KeySource;
use vouch_testkit::bench::{bank_cluster, bank_of_mib, env_u64};
use vouch_verify::{verify_collection, Level, VerifyOptions};

fn passphrase() -> KeySource {
    KeySource::passphrase(Passphrase::new("bench passphrase").expect("passphrase"))
}

/// Builds `nodelocal://1/<name>` in `cluster`: a full backup and `incrementals`
/// revision-history incrementals of database `bank`; returns the stored file bytes.
fn build(cluster: &Cluster, name: &str, target_file_size: u64, incrementals: u64) -> (u64, u64) {
    build_many(
        cluster,
        &[(name, KeySource::default())],
        target_file_size,
        incrementals,
    )[0]
}

/// [`build`] of several collections backed up at the same cluster states, each with its
/// keys (empty: not encrypted); (stored file bytes, files) of each.
fn build_many(
    cluster: &Cluster,
    colls: &[(&str, KeySource)],
    target_file_size: u64,
    incrementals: u64,
) -> Vec<(u64, u64)> {
    let bank = || Targets::Databases(vec!["bank".into()]);
    let mut out = vec![(0, 0); colls.len()];
    for i in 0..=incrementals {
        if i > 0 {
            workload::run(cluster, Workload::Bank, 500, 10 + i).expect("run");
        }
        for ((name, keys), acc) in colls.iter().zip(out.iter_mut()) {
            let uri = format!("nodelocal://1/{name}");
            let dest = if i == 0 {
                Destination::Into(uri)
            } else {
                Destination::IntoLatest(uri)
            };
            let mut o = BackupOptions::new(bank(), dest);
            o.revision_history = true;
            o.target_file_size = target_file_size;
            o.encryption = keys.clone();
            let r = backup(cluster, &o, &mut |_| {}).expect("backup");
            acc.0 += r.file_bytes;
            acc.1 += r.files;
        }
    }
    out
}

fn data_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read dir") {
        let e = e.expect("entry");
        let p = e.path();
        if e.file_type().expect("type").is_dir() {
            data_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "sst") {
            out.push(p);
        }
    }
}

fn run(cluster: &Cluster, name: &str, level: Level, jobs: usize) {
    run_keyed(cluster, name, level, jobs, &KeySource::default());
}

fn run_keyed(cluster: &Cluster, name: &str, level: Level, jobs: usize, keys: &KeySource) {
    let mut o = VerifyOptions::new(level);
    o.jobs = jobs;
    o.keys = keys.clone();
    // No key: encrypted chains get the key-less checks (`--keyless`).
    o.keyless = keys.is_empty();
    let r = verify_collection(
        &format!("nodelocal://1/{name}"),
        None,
        None,
        &open_options(Some(cluster.extern_dir())),
        &o,
        &mut |_| {},
    )
    .expect("verify runs");
    assert_eq!(r.errors, 0, "clean collection");
}

fn bench_verify(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mib = env_u64("VOUCH_BENCH_VERIFY_MIB", 1024);
    let cluster = bank_cluster(&tmp.path().join("c"), &bank_of_mib(mib));
    let built = build_many(
        &cluster,
        &[("big", KeySource::default()), ("big_enc", passphrase())],
        64 << 20,
        2,
    );
    let (bytes, enc_bytes) = (built[0].0, built[1].0);
    let mut files = Vec::new();
    data_files(&cluster.extern_dir().join("big"), &mut files);

    let mut g = c.benchmark_group("verify_full");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Bytes(bytes));
    for jobs in [1usize, 2] {
        g.bench_function(
            BenchmarkId::new(format!("jobs{jobs}"), format!("{mib}MiB")),
            |b| b.iter(|| run(&cluster, "big", Level::Full, jobs)),
        );
    }
    g.throughput(Throughput::Bytes(enc_bytes));
    let keys = passphrase();
    for jobs in [1usize, 2] {
        g.bench_function(
            BenchmarkId::new(format!("encrypted_jobs{jobs}"), format!("{mib}MiB")),
            |b| b.iter(|| run_keyed(&cluster, "big_enc", Level::Full, jobs, &keys)),
        );
    }
    g.bench_function(
        BenchmarkId::new("encrypted_keyless_jobs2", format!("{mib}MiB")),
        |b| b.iter(|| run(&cluster, "big_enc", Level::Full, 2)),
    );
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function(
        BenchmarkId::new("sha256_ceiling", format!("{mib}MiB")),
        |b| {
            b.iter(|| {
                for f in &files {
                    let bytes = std::fs::read(f).expect("read");
                    std::hint::black_box(vouch_format::manifest::sha256(&bytes));
                }
            })
        },
    );
    g.finish();
}

fn bench_metadata(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let want = env_u64("VOUCH_BENCH_VERIFY_FILES", 10_000);
    // A file ends at the first key boundary once it holds anything: with a 1-byte target,
    // every row (bank has one index) gets its own file.
    let mut o = InitOptions::new(want, 2);
    o.payload_bytes = 200;
    let cluster = bank_cluster(&tmp.path().join("c"), &o);
    let (bytes, files) = build(&cluster, "many", 1, 0);
    assert!(files >= want, "{files} files, wanted {want}");
    eprintln!("verify_metadata_files: {files} data files, {bytes} bytes");
    let mut g = c.benchmark_group("verify_metadata_files");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Bytes(bytes));
    for jobs in [1usize, 2] {
        g.bench_function(
            BenchmarkId::new(format!("jobs{jobs}"), format!("{files}files")),
            |b| b.iter(|| run(&cluster, "many", Level::Metadata, jobs)),
        );
    }
    g.finish();
}

criterion_group!(benches, bench_verify, bench_metadata);
criterion_main!(benches);
