//! SST write and full verified scan. Inputs: 24-byte keys, 100-byte values (see
//! `vouch_benches::sst_entries`), fixed seed. Throughput: `sst_write` counts key and value
//! bytes in; `sst_scan` counts file bytes read, so it compares directly with `crc32c`.

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

criterion_group!(benches, sst_write, sst_scan);
criterion_main!(benches);
