//! Seeded inputs for the benches: the same bytes on every run and every machine
//! (ChaCha8 from a fixed seed), so numbers from two runs measure the code, not the data.
#![forbid(unsafe_code)]

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use vouch_format::decimal::Decimal;
use vouch_format::keys::Datum;
use vouch_format::mvcc::{self, Timestamp};
use vouch_format::row::encode_row;
use vouch_format::sst::{write_to_vec, Compression, WriterOptions};

/// The seed every bench uses.
pub const SEED: u64 = 0x0076_6f75_6368; // "vouch"

/// An owned `(user key, value)` pair.
pub type Entry = (Vec<u8>, Vec<u8>);

/// 16 letters: values drawn from them carry 4 bits per byte, so zstd and Snappy find
/// something to do (about 2:1), as with real row values, without making blocks trivial.
const VALUE_ALPHABET: &[u8; 16] = b"abcdefghijklmnop";

/// `n` entries in strictly increasing key order. Each key is the entry's index as 8
/// big-endian bytes followed by random bytes up to `key_len` (at least 8), so neighbours
/// share a prefix the way table keys do; each value is `value_len` letters from a
/// 16-letter alphabet.
pub fn sst_entries(n: usize, key_len: usize, value_len: usize, seed: u64) -> Vec<Entry> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n as u64)
        .map(|i| {
            let mut k = i.to_be_bytes().to_vec();
            k.resize(key_len.max(8), 0);
            if let Some(tail) = k.get_mut(8..) {
                rng.fill_bytes(tail);
            }
            let v = (0..value_len)
                .map(|_| VALUE_ALPHABET[rng.gen_range(0..VALUE_ALPHABET.len())])
                .collect();
            (k, v)
        })
        .collect()
}

/// How many entries of `key_len` + `value_len` bytes make about `bytes` of file: each
/// entry also stores an 8-byte internal-key trailer and about 3 bytes of lengths.
pub fn entries_for(bytes: usize, key_len: usize, value_len: usize) -> usize {
    bytes / (key_len + 8 + value_len + 3)
}

/// Writer options for the benches: `block_size`, restart interval 16, `compression`.
pub fn options(block_size: usize, compression: Compression) -> WriterOptions {
    WriterOptions {
        block_size,
        restart_interval: 16,
        compression,
        mvcc: false,
    }
}

/// An in-memory SST of `entries`.
///
/// # Panics
/// If the writer rejects the entries (they come from [`sst_entries`], so it does not).
pub fn build_sst(entries: &[Entry], block_size: usize, compression: Compression) -> Vec<u8> {
    let it = entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice()));
    match write_to_vec(it, options(block_size, compression)) {
        Ok(file) => file,
        Err(e) => panic!("bench SST: {e}"),
    }
}

/// `n` MVCC keys: random 8..40-byte user keys (one byte in 16 is 0x00, to exercise the
/// escape) at random timestamps.
pub fn mvcc_keys(n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let len = rng.gen_range(8..40);
            let user: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.gen_range(0..16) == 0 {
                        0
                    } else {
                        rng.gen_range(1..=255)
                    }
                })
                .collect();
            let ts = Timestamp::new(
                rng.gen_range(1_600_000_000_000_000_000..1_800_000_000_000_000_000),
                rng.gen_range(0..4),
            );
            mvcc::key(&user, ts)
        })
        .collect()
}

/// `n` encoded row values of 10 non-NULL columns of mixed types: three INTs, a FLOAT, a
/// DECIMAL, a 10..60-letter STRING, 16 BYTES, a BOOL, a TIMESTAMP and a UUID (no JSONB:
/// its cost is serde_json's).
///
/// # Panics
/// If a row does not encode (they are valid by construction).
pub fn rows(n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let s_len = rng.gen_range(10..60);
            let s: String = (0..s_len)
                .map(|_| char::from(VALUE_ALPHABET[rng.gen_range(0..VALUE_ALPHABET.len())]))
                .collect();
            let mut bytes = vec![0u8; 16];
            rng.fill_bytes(&mut bytes);
            let mut uuid = [0u8; 16];
            rng.fill_bytes(&mut uuid);
            let cents: i64 = rng.gen_range(-10_000_000..10_000_000);
            let sign = if cents < 0 { "-" } else { "" };
            let (units, frac) = (cents.abs() / 100, cents.abs() % 100);
            let decimal = match format!("{sign}{units}.{frac:02}").parse::<Decimal>() {
                Ok(d) => d,
                Err(e) => panic!("bench decimal: {e}"),
            };
            let columns = vec![
                (1, Datum::Int(i as i64)),
                (2, Datum::Int(rng.gen_range(-1000..1000))),
                (3, Datum::Int(rng.gen())),
                (4, Datum::Float(rng.gen_range(-1e6..1e6))),
                (5, Datum::Decimal(decimal)),
                (6, Datum::String(s)),
                (7, Datum::Bytes(bytes)),
                (8, Datum::Bool(rng.gen())),
                (
                    9,
                    Datum::Timestamp(rng.gen_range(1_500_000_000_000_000..1_800_000_000_000_000)),
                ),
                (10, Datum::Uuid(uuid)),
            ];
            match encode_row(&columns) {
                Ok(r) => r,
                Err(e) => panic!("bench row: {e}"),
            }
        })
        .collect()
}

/// Total length of `items`.
pub fn total_len(items: &[Vec<u8>]) -> u64 {
    items.iter().map(|i| i.len() as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_are_deterministic_and_valid() {
        let e = sst_entries(100, 24, 100, SEED);
        assert_eq!(e, sst_entries(100, 24, 100, SEED));
        assert!(e.windows(2).all(|w| w[0].0 < w[1].0));
        let file = build_sst(&e, 4096, Compression::Zstd);
        let r = vouch_format::sst::SstReader::open(file.as_slice()).unwrap();
        assert_eq!(r.verify_scan().unwrap().entries, 100);
        for k in mvcc_keys(50, SEED) {
            assert!(mvcc::decode_key(&k).is_ok());
        }
        for r in rows(50, SEED) {
            assert_eq!(vouch_format::row::decode_row(&r).unwrap().len(), 10);
        }
    }
}
