//! MVCC key encode/decode and row value decode. Throughput: encoded bytes.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vouch_benches::{mvcc_keys, rows, total_len, SEED};
use vouch_format::mvcc;
use vouch_format::row::decode_row;

fn mvcc_key(c: &mut Criterion) {
    let keys = mvcc_keys(10_000, SEED);
    let decoded: Vec<_> = keys
        .iter()
        .filter_map(|k| mvcc::decode_key(k).ok())
        .collect();
    let mut g = c.benchmark_group("mvcc_key");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Bytes(total_len(&keys)));
    g.bench_function("encode", |b| {
        let mut out = Vec::with_capacity(64);
        b.iter(|| {
            let mut n = 0;
            for (user, ts) in &decoded {
                out.clear();
                mvcc::encode_key(user, *ts, &mut out);
                n += out.len();
            }
            black_box(n)
        })
    });
    g.bench_function("decode", |b| {
        b.iter(|| {
            keys.iter()
                .filter_map(|k| mvcc::decode_key(black_box(k)).ok())
                .map(|(u, _)| u.len())
                .sum::<usize>()
        })
    });
    g.finish();
}

fn row_decode(c: &mut Criterion) {
    let rows = rows(10_000, SEED);
    let mut g = c.benchmark_group("row_decode");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Bytes(total_len(&rows)));
    g.bench_function("10-mixed-columns", |b| {
        b.iter(|| {
            rows.iter()
                .filter_map(|r| decode_row(black_box(r)).ok())
                .map(|r| r.len())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, mvcc_key, row_decode);
criterion_main!(benches);
