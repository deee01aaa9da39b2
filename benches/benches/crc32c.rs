//! Raw CRC32C (`vouch_format::crc::crc32c`): the floor under any verified scan. The large
//! input is the very bytes of `sst_scan`'s 64 KiB-block uncompressed file.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vouch_benches::{build_sst, entries_for, sst_entries, SEED};
use vouch_format::crc::crc32c;
use vouch_format::sst::Compression;

fn crc(c: &mut Criterion) {
    let entries = sst_entries(entries_for(64 << 20, 24, 100), 24, 100, SEED);
    let file = build_sst(&entries, 64 << 10, Compression::None);
    drop(entries);
    let mut g = c.benchmark_group("crc32c");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let sizes = [
        ("4KiB", 4usize << 10),
        ("64KiB", 64 << 10),
        ("64MiB-sst", file.len()),
    ];
    for (name, len) in sizes {
        let bytes = file.get(..len).unwrap_or(&file);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| crc32c(black_box(bytes)))
        });
    }
    g.finish();
}

criterion_group!(benches, crc);
criterion_main!(benches);
