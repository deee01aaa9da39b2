//! The `envelope_open` fuzz target's entry point and its oracles.

use std::io::Write;

use super::cipher::{DataKey, FileId};
use super::framing::{sealed_len_with, FILE_NONCE_LEN, MIN_CHUNK_SIZE};
use super::opening::{open_all, Opened};
use super::sealing::{seal_with_chunk_size, SealWriter};
use crate::sst::BlockSource;

/// The key the `envelope_open` fuzz target and its replayed seeds use.
#[doc(hidden)]
pub const FUZZ_KEY: [u8; 32] = [0x5e; 32];
/// The file identity the `envelope_open` fuzz target and its seeds use.
#[doc(hidden)]
pub const FUZZ_ID: FileId<'static> = FileId {
    backup_id: b"fuzz-backup",
    path: "data/1.sst",
};

/// Fuzz entry point of the `envelope_open` target (replayed by `tests/fuzz_regressions.rs`).
/// The first byte picks the mode:
///
/// - even: the rest is a sealed file. Opened whole and through [`Opened`], both must agree
///   (same plaintext or the same error); an accepted file must re-seal (same key, identity,
///   header) to exactly its bytes; its plaintext then goes to the SST reader's fuzz entry
///   (under the null cipher of `--cfg fuzzing` mutated plaintext gets there).
/// - odd: the rest is plaintext, sealed in chunks of `64 << (first byte >> 1 & 7)` bytes,
///   by buffer and by stream (must agree), opened back whole and by positioned reads; with
///   the real cipher a flipped byte anywhere must then fail to open.
///
/// Panics (through `assert!`) only when such an oracle is violated.
#[doc(hidden)]
pub fn fuzz_open(data: &[u8]) {
    let key = DataKey::from_bytes(FUZZ_KEY);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        fuzz_sealed(&key, rest);
    } else {
        fuzz_plaintext(&key, mode, rest);
    }
}

fn fuzz_sealed(key: &DataKey, sealed: &[u8]) {
    let whole = open_all(key, FUZZ_ID, sealed);
    let opened = Opened::new(key, FUZZ_ID, sealed);
    match whole {
        Ok(plain) => {
            assert!(opened.is_ok(), "open_all accepted what Opened refused");
            let Ok(opened) = opened else { return };
            assert!(opened.authenticate_all().is_ok());
            let read = opened.read_at(0, plain.len());
            assert!(read.is_ok_and(|r| *r == *plain), "Opened reads other bytes");
            let h = opened.header();
            let again = seal_with_chunk_size(key, FUZZ_ID, &plain, h.file_nonce, h.chunk_size);
            assert!(
                again.is_ok_and(|a| a == sealed),
                "an accepted file does not re-seal to itself"
            );
            crate::fuzzing::sst_open_scan(&plain);
        }
        Err(e) => {
            let second = opened.and_then(|o| o.authenticate_all());
            assert_eq!(second.err(), Some(e), "open_all and Opened disagree");
        }
    }
}

fn fuzz_plaintext(key: &DataKey, mode: u8, plain: &[u8]) {
    let cs = MIN_CHUNK_SIZE << ((mode >> 1) & 7);
    let nonce = [mode; FILE_NONCE_LEN];
    let sealed = seal_with_chunk_size(key, FUZZ_ID, plain, nonce, cs);
    assert!(sealed.is_ok(), "sealing failed: {sealed:?}");
    let Ok(sealed) = sealed else { return };
    assert_eq!(sealed.len() as u64, sealed_len_with(cs, plain.len() as u64));
    // Stream in pieces whose sizes come from the plaintext itself.
    let mut streamed = Vec::new();
    if let Ok(mut w) = SealWriter::with_chunk_size(key, FUZZ_ID, nonce, cs, &mut streamed) {
        let mut rest = plain;
        while let Some(&b) = rest.first() {
            let (now, later) = rest.split_at(rest.len().min(usize::from(b) + 1));
            assert!(w.write_all(now).is_ok());
            rest = later;
        }
        assert!(w.finish().is_ok());
    }
    assert!(streamed == sealed, "streamed and buffered sealing differ");
    let back = open_all(key, FUZZ_ID, &sealed);
    assert!(back.is_ok_and(|b| b == plain), "round trip differs");
    let opened = Opened::new(key, FUZZ_ID, sealed.as_slice());
    assert!(opened.is_ok(), "Opened refused a sealed file");
    let Ok(opened) = opened else { return };
    let len = plain.len();
    for (i, &b) in plain.iter().enumerate().take(8) {
        let off = (i * 977 + usize::from(b) * 131) % (len + 1);
        let n = (usize::from(b) * 7).min(len - off);
        let want = plain.get(off..off + n);
        let got = opened.read_at(off as u64, n);
        assert!(
            got.is_ok_and(|g| Some(&*g) == want),
            "read_at({off}, {n}) differs"
        );
    }
    #[cfg(not(fuzzing))]
    {
        let pos = plain.first().map_or(0, |&b| usize::from(b) * 101) % sealed.len();
        let mut bad = sealed.clone();
        if let Some(x) = bad.get_mut(pos) {
            *x ^= 0x01;
        }
        assert!(
            open_all(key, FUZZ_ID, &bad).is_err(),
            "a flipped byte at {pos} still opens"
        );
    }
}
