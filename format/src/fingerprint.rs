//! Per-index fingerprints: an order-independent hash over the rows live at a time, like
//! CockroachDB's `SHOW EXPERIMENTAL_FINGERPRINTS`.
//!
//! Each live index entry contributes XXH3-64 (seed 0) over `len(suffix) | suffix | payload`,
//! where `suffix` is the user key after its `/Table/<id>/<index>` prefix and `payload`
//! the MVCC value payload (the row value bytes); `len` is a u32 little-endian. The
//! contributions are combined by XOR (so order does not matter) and the entries counted.
//! Table and index ids are left out on purpose: a restore re-assigns ids and rewrites key
//! prefixes, and the fingerprint of the restored table must equal the recorded one. The
//! normative text is `spec/fingerprint.md`.

use crate::error::Result;
use crate::keys::decode_table_prefix;

use std::cell::RefCell;

use xxhash_rust::xxh3::{xxh3_64, Xxh3Default};

/// Largest entry [`Fingerprint::entry_hash`] hashes in one shot.
const ENTRY_BUF_BYTES: usize = 64 << 10;

thread_local! {
    static ENTRY_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Accumulates one index's fingerprint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fingerprint {
    /// XOR of the entries' hashes.
    pub hash: u64,
    /// Live entries seen.
    pub entries: u64,
}

impl Fingerprint {
    /// The hash one entry contributes, given its key suffix and payload.
    pub fn entry_hash(suffix: &[u8], payload: &[u8]) -> u64 {
        let len = u32::try_from(suffix.len()).unwrap_or(u32::MAX);
        // One-shot XXH3 over the concatenation in a per-thread buffer (the same value as
        // streaming the three parts, without a streaming state per entry); entries larger
        // than the buffer keeps are streamed.
        if suffix.len().saturating_add(payload.len()) <= ENTRY_BUF_BYTES {
            ENTRY_BUF.with(|b| {
                let mut b = b.borrow_mut();
                b.clear();
                b.extend_from_slice(&len.to_le_bytes());
                b.extend_from_slice(suffix);
                b.extend_from_slice(payload);
                xxh3_64(&b)
            })
        } else {
            let mut h = Xxh3Default::new();
            h.update(&len.to_le_bytes());
            h.update(suffix);
            h.update(payload);
            h.digest()
        }
    }

    /// Adds a live entry by its key suffix (after the table prefix) and payload.
    pub fn add_suffix(&mut self, suffix: &[u8], payload: &[u8]) {
        self.add_entry_hash(Self::entry_hash(suffix, payload));
    }

    /// Adds a live entry by its [`Fingerprint::entry_hash`] (computed once for an entry
    /// several fingerprints count).
    pub fn add_entry_hash(&mut self, h: u64) {
        self.hash ^= h;
        self.entries += 1;
    }

    /// Adds a live entry by its full user key; returns its (table, index) ids.
    pub fn add_key(&mut self, user_key: &[u8], payload: &[u8]) -> Result<(u64, u64)> {
        let (table, index, n) = decode_table_prefix(user_key)?;
        self.add_suffix(user_key.get(n..).unwrap_or_default(), payload);
        Ok((table, index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::encode_table_prefix;

    #[test]
    fn xxh3_known_answers() {
        // XXH3-64 with seed 0: the empty input's published value, and the streaming
        // form equal to the one-shot form over the concatenation.
        assert_eq!(xxhash_rust::xxh3::xxh3_64(b""), 0x2d06_8005_38d3_94c2);
        let one_shot = xxhash_rust::xxh3::xxh3_64(b"\x02\x00\x00\x00k1v1");
        assert_eq!(Fingerprint::entry_hash(b"k1", b"v1"), one_shot);
    }

    #[test]
    fn every_entry_size_hashes_its_concatenation() {
        // Below, at and above the one-shot buffer: always XXH3-64 of len | suffix | payload.
        for n in [
            0,
            1,
            240,
            ENTRY_BUF_BYTES - 3,
            ENTRY_BUF_BYTES - 2,
            ENTRY_BUF_BYTES + 7,
        ] {
            let payload: Vec<u8> = (0..n).map(|i| (i * 31 % 251) as u8).collect();
            let mut whole = vec![2, 0, 0, 0, b'k', b'9'];
            whole.extend_from_slice(&payload);
            assert_eq!(
                Fingerprint::entry_hash(b"k9", &payload),
                xxh3_64(&whole),
                "{n}"
            );
        }
    }

    #[test]
    fn independent_of_ids_and_order() {
        let mut a = Fingerprint::default();
        let mut b = Fingerprint::default();
        let rows: [(&[u8], &[u8]); 3] = [(b"k1", b"v1"), (b"k2", b"v2"), (b"k3", b"")];
        for (k, v) in rows {
            let mut key = Vec::new();
            encode_table_prefix(104, 1, &mut key);
            key.extend_from_slice(k);
            assert_eq!(a.add_key(&key, v).unwrap(), (104, 1));
        }
        for (k, v) in rows.iter().rev() {
            let mut key = Vec::new();
            encode_table_prefix(260, 1, &mut key);
            key.extend_from_slice(k);
            b.add_key(&key, v).unwrap();
        }
        assert_eq!(a, b);
        assert_eq!(a.entries, 3);
        // Moving a byte from key to value changes the hash (length is hashed).
        let mut c = Fingerprint::default();
        c.add_suffix(b"k", b"1v1");
        let mut d = Fingerprint::default();
        d.add_suffix(b"k1", b"v1");
        assert_ne!(c.hash, d.hash);
    }
}
