//! The encryption envelope (spec/envelope.md) on 64 MiB: `seal` (buffer), `SealWriter`
//! (stream), `open_all`, and positioned reads through `Opened` in 64 KiB pieces, beside
//! raw AES-256-GCM (`envelope::RawAead`: `aes-gcm`'s in-place detached calls, nothing
//! else) encrypting and decrypting the same bytes in 64 KiB pieces: the envelope's
//! overhead is the difference.

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use vouch_benches::SEED;
use vouch_format::envelope::{
    open_all, seal, DataKey, FileId, Opened, RawAead, SealWriter, CHUNK_SIZE, TAG_LEN,
};
use vouch_format::sst::BlockSource;

const LEN: usize = 64 << 20;
const ID: FileId<'static> = FileId {
    backup_id: b"bench-backup",
    path: "data/1.sst",
};

fn envelope(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let mut plain = vec![0u8; LEN];
    rng.fill_bytes(&mut plain);
    let key = DataKey::from_bytes([0x42; 32]);
    let nonce = [0x24; 24];
    let sealed = seal(&key, ID, &plain, nonce).unwrap();
    let piece = CHUNK_SIZE as usize;

    let mut g = c.benchmark_group("envelope");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Bytes(LEN as u64));

    g.bench_function(BenchmarkId::new("seal", "64MiB"), |b| {
        b.iter(|| seal(&key, ID, black_box(&plain), nonce).unwrap())
    });
    let mut out = Vec::with_capacity(sealed.len());
    g.bench_function(BenchmarkId::new("seal_writer", "64MiB"), |b| {
        b.iter(|| {
            out.clear();
            let mut w = SealWriter::new(&key, ID, nonce, &mut out).unwrap();
            for p in plain.chunks(1 << 20) {
                w.write_all(black_box(p)).unwrap();
            }
            w.finish().unwrap();
        })
    });
    g.bench_function(BenchmarkId::new("open_all", "64MiB"), |b| {
        b.iter(|| open_all(&key, ID, black_box(&sealed)).unwrap())
    });
    g.bench_function(BenchmarkId::new("opened_read_at_64KiB", "64MiB"), |b| {
        b.iter(|| {
            let o = Opened::new(&key, ID, sealed.as_slice()).unwrap();
            let mut n = 0usize;
            for off in (0..LEN).step_by(piece) {
                n += o.read_at(off as u64, piece).unwrap().len();
            }
            n
        })
    });

    let raw = RawAead::new(&[0x42; 32]);
    let mut buf = plain.clone();
    let mut tags = Vec::with_capacity(LEN / piece);
    g.bench_function(
        BenchmarkId::new("raw_aes_gcm_encrypt_64KiB_pieces", "64MiB"),
        |b| {
            b.iter(|| {
                buf.copy_from_slice(&plain);
                tags.clear();
                for (i, p) in buf.chunks_mut(piece).enumerate() {
                    let mut n = [0u8; 12];
                    n[8..].copy_from_slice(&(i as u32).to_be_bytes());
                    tags.push(raw.seal(&n, b"aad", p).unwrap());
                }
            })
        },
    );
    let ciphertext = buf.clone();
    g.bench_function(
        BenchmarkId::new("raw_aes_gcm_decrypt_64KiB_pieces", "64MiB"),
        |b| {
            b.iter(|| {
                buf.copy_from_slice(&ciphertext);
                for (i, (p, t)) in buf.chunks_mut(piece).zip(&tags).enumerate() {
                    let mut n = [0u8; 12];
                    n[8..].copy_from_slice(&(i as u32).to_be_bytes());
                    assert!(raw.open(&n, b"aad", p, t));
                }
            })
        },
    );
    assert_eq!(buf, plain);
    assert_eq!(sealed.len(), LEN + 40 + (LEN / piece) * TAG_LEN);
    g.finish();
}

criterion_group!(benches, envelope);
criterion_main!(benches);
