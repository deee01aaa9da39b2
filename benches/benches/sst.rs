//! SST write and full verified scan. Inputs: 24-byte keys, 100-byte values (see
//! `vouch_benches::sst_entries`), fixed seed. Throughput: `sst_write` counts key and value
//! bytes in; `sst_scan` counts file bytes read, so it compares directly with `crc32c`;
//! `sst_scan_store` scans a file in a store with and without read-ahead on a second thread.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vouch_benches::{build_sst, entries_for, options, sst_entries, SEED};
use vouch_format::sst::{write_to_vec, Compression, SstReader};

const KEY_LEN: usize = 24;
const VALUE_LEN: usize = 100;
const WRITE_BYTES: usize = 16 << 20;
const SCAN_BYTES: usize = 64 << 20;

fn sst_write(c: &mut Criterion) {
    let entries = sst_entries(
        entries_for(WRITE_BYTES, KEY_LEN, VALUE_LEN),
        KEY_LEN,
        VALUE_LEN,
        SEED,
    );
    let input: u64 = entries
        .iter()
        .map(|(k, v)| (k.len() + v.len()) as u64)
        .sum();
    let mut g = c.benchmark_group("sst_write");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Bytes(input));
    for (name, compression) in [("none", Compression::None), ("zstd", Compression::Zstd)] {
        g.bench_function(BenchmarkId::new(name, "64KiB-blocks"), |b| {
            b.iter(|| {
                let it = entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice()));
                black_box(write_to_vec(it, options(64 << 10, compression)).map(|f| f.len()))
            })
        });
    }
    g.finish();
}

fn sst_scan(c: &mut Criterion) {
    let entries = sst_entries(
        entries_for(SCAN_BYTES, KEY_LEN, VALUE_LEN),
        KEY_LEN,
        VALUE_LEN,
        SEED,
    );
    let files = [
        (
            "none",
            "64KiB-blocks",
            build_sst(&entries, 64 << 10, Compression::None),
        ),
        (
            "none",
            "4KiB-blocks",
            build_sst(&entries, 4 << 10, Compression::None),
        ),
        (
            "zstd",
            "64KiB-blocks",
            build_sst(&entries, 64 << 10, Compression::Zstd),
        ),
    ];
    drop(entries);
    let mut g = c.benchmark_group("sst_scan");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for (compression, blocks, file) in &files {
        g.throughput(Throughput::Bytes(file.len() as u64));
        let reader = match SstReader::open(file.as_slice()) {
            Ok(r) => r,
            Err(e) => panic!("bench SST does not open: {e}"),
        };
        g.bench_function(
            BenchmarkId::new(format!("verify_scan/{compression}"), blocks),
            |b| b.iter(|| black_box(reader.verify_scan().map(|s| s.entries))),
        );
        if *compression == "none" {
            g.bench_function(BenchmarkId::new("iterate/none", blocks), |b| {
                b.iter(|| {
                    let mut it = reader.iter();
                    let mut n = 0u64;
                    while let Ok(Some((k, v))) = it.next_entry() {
                        n += (k.len() + v.len()) as u64;
                    }
                    black_box(n)
                })
            });
        }
    }
    g.finish();
}

/// The verified scan of a zstd file in a `file://` store as `vouch verify --level full`
/// reads it: through the hashing source on one thread (`plain`), or read ahead, hashed,
/// checked and decompressed on a second thread while the scan decodes (`prefetched`,
/// `vouch_chain::source::prefetch`). Throughput: stored bytes, every one hashed.
fn sst_scan_store(c: &mut Criterion) {
    use vouch_chain::source::{prefetch, StoreSource};
    let entries = sst_entries(
        entries_for(SCAN_BYTES, KEY_LEN, VALUE_LEN),
        KEY_LEN,
        VALUE_LEN,
        SEED,
    );
    let file = build_sst(&entries, 32 << 10, Compression::Zstd);
    drop(entries);
    let dir = tempfile::tempdir().expect("temp dir");
    let uri = format!("file://{}", dir.path().display());
    let store = vouch_store::open(&uri, &vouch_store::OpenOptions::default()).expect("store");
    store.put_new("f.sst", &file).expect("put");
    let (store, size) = (store.as_ref(), file.len() as u64);
    let mut g = c.benchmark_group("sst_scan_store");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Bytes(size));
    g.bench_function(BenchmarkId::new("plain", "zstd-32KiB-blocks"), |b| {
        b.iter(|| {
            let src = StoreSource::hashing(store, "f.sst", size);
            let n = SstReader::open(&src)
                .and_then(|r| r.verify_scan())
                .map(|s| s.entries);
            black_box((n, src.finish_sha256().is_ok()))
        })
    });
    g.bench_function(BenchmarkId::new("prefetched", "zstd-32KiB-blocks"), |b| {
        b.iter(|| {
            std::thread::scope(|scope| {
                let (feed, pre, tail) = prefetch(scope, store, "f.sst", size).expect("thread");
                let src = StoreSource::new(store, "f.sst", size);
                let opened = SstReader::open(&src);
                let _ = tail.send(src.take_tail());
                let n = opened.and_then(|r| {
                    let mut scan = r.verified_scan()?.with_feed(feed);
                    while scan.advance()? {}
                    scan.finish().map(|s| s.entries)
                });
                black_box((n, pre.join().map(|(sha, _)| sha.is_ok())))
            })
        })
    });
    g.finish();
}

criterion_group!(benches, sst_write, sst_scan, sst_scan_store);
criterion_main!(benches);
