//! The encryption envelope (spec/envelope.md): known-answer tests for the primitives it
//! calls, an independent reference implementation of the byte layout, round trips
//! (buffer, stream, random access, an SST read through it), the tamper suite, and the
//! small-value sealing used to wrap data keys.

use std::io::Write;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use vouch_format::envelope::{
    self, derive_file_key, open_all, open_small, plaintext_len, seal, seal_small,
    seal_with_chunk_size, sealed_len, sealed_len_with, DataKey, FileId, Framing, Header, Opened,
    RawAead, SealWriter, CHUNK_SIZE, FILE_NONCE_LEN, HEADER_LEN, MAX_CHUNKS, TAG_LEN,
};
use vouch_format::sst::{write_to_vec, BlockSource, SstReader, WriterOptions};
use vouch_format::{Error, HexBytes};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

const KEY: [u8; 32] = [0x42; 32];
const NONCE_A: [u8; FILE_NONCE_LEN] = [0xa5; FILE_NONCE_LEN];
const NONCE_B: [u8; FILE_NONCE_LEN] = [0x5a; FILE_NONCE_LEN];
const BACKUP: &[u8] = b"backup-0001";

fn key() -> DataKey {
    DataKey::from_bytes(KEY)
}

fn id(path: &str) -> FileId<'_> {
    FileId {
        backup_id: BACKUP,
        path,
    }
}

/// Deterministic, non-repeating test plaintext.
fn plaintext(len: usize, seed: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(seed);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

// ---- known answers -----------------------------------------------------------------------

/// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test cases 13–16 (the
/// 256-bit-key cases; also NIST's gcmEncryptExtIV256 vectors).
struct Kat {
    name: &'static str,
    key: &'static str,
    iv: &'static str,
    pt: &'static str,
    aad: &'static str,
    ct: &'static str,
    tag: &'static str,
}

const P15: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
const C15: &str = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";
const K15: &str = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";

const KATS: [Kat; 4] = [
    Kat {
        name: "13",
        key: "0000000000000000000000000000000000000000000000000000000000000000",
        iv: "000000000000000000000000",
        pt: "",
        aad: "",
        ct: "",
        tag: "530f8afbc74536b9a963b4f1c4cb738b",
    },
    Kat {
        name: "14",
        key: "0000000000000000000000000000000000000000000000000000000000000000",
        iv: "000000000000000000000000",
        pt: "00000000000000000000000000000000",
        aad: "",
        ct: "cea7403d4d606b6e074ec5d3baf39d18",
        tag: "d0d1c8a799996bf0265b98b5d48ab919",
    },
    Kat {
        name: "15",
        key: K15,
        iv: "cafebabefacedbaddecaf888",
        pt: P15,
        aad: "",
        ct: C15,
        tag: "b094dac5d93471bdec1a502270e3cc6c",
    },
    Kat {
        name: "16",
        key: K15,
        iv: "cafebabefacedbaddecaf888",
        pt: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        ct: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        tag: "76fc6ece0f4e1768cddf8853bb2d551b",
    },
];

#[test]
fn aes_256_gcm_known_answers_through_the_envelope_calls() {
    for k in &KATS {
        let key: [u8; 32] = h(k.key).try_into().unwrap();
        let iv: [u8; 12] = h(k.iv).try_into().unwrap();
        let aead = RawAead::new(&key);
        let mut buf = h(k.pt);
        let tag = aead.seal(&iv, &h(k.aad), &mut buf).unwrap();
        assert_eq!(hex::encode(&buf), k.ct, "case {} ciphertext", k.name);
        assert_eq!(hex::encode(tag), k.tag, "case {} tag", k.name);
        assert!(aead.open(&iv, &h(k.aad), &mut buf, &tag), "case {}", k.name);
        assert_eq!(hex::encode(&buf), k.pt, "case {} decrypt", k.name);
        // A flipped tag bit or AAD byte does not authenticate.
        let mut bad = tag;
        bad[15] ^= 1;
        let mut ct = h(k.ct);
        assert!(!aead.open(&iv, &h(k.aad), &mut ct, &bad), "case {}", k.name);
        let mut ct = h(k.ct);
        assert!(!aead.open(&iv, b"x", &mut ct, &tag), "case {}", k.name);
    }
}

#[test]
fn seal_small_matches_the_known_answer_layout() {
    // Case 16 through seal_small: nonce ‖ ciphertext ‖ tag.
    let k = &KATS[3];
    let kek = DataKey::from_slice(&h(k.key)).unwrap();
    let iv: [u8; 12] = h(k.iv).try_into().unwrap();
    let sealed = seal_small(&kek, &h(k.aad), &h(k.pt), iv).unwrap();
    assert_eq!(hex::encode(&sealed), format!("{}{}{}", k.iv, k.ct, k.tag));
    let opened = open_small(&kek, &h(k.aad), &sealed).unwrap();
    assert_eq!(hex::encode(&*opened), k.pt);
}

/// HMAC-SHA256 by hand (RFC 2104) over `sha2`, the oracle for the file-key derivation.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x36)
        .chain(msg.iter().copied())
        .collect();
    let inner = Sha256::digest(&inner);
    let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).chain(inner).collect();
    Sha256::digest(&outer).into()
}

#[test]
fn hmac_oracle_matches_rfc_4231_and_the_file_key_derivation() {
    // RFC 4231 test cases 1 and 2.
    assert_eq!(
        hex::encode(hmac_sha256(&[0x0b; 20], b"Hi There")),
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    );
    assert_eq!(
        hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    let mut msg = b"vouch envelope v1 file key\0".to_vec();
    msg.extend_from_slice(&NONCE_A);
    assert_eq!(*derive_file_key(&key(), &NONCE_A), hmac_sha256(&KEY, &msg));
    assert_ne!(
        *derive_file_key(&key(), &NONCE_A),
        *derive_file_key(&key(), &NONCE_B)
    );
}

// ---- the byte layout, built independently ------------------------------------------------

/// spec/envelope.md implemented from the spec text with `aes-gcm` directly.
fn reference_seal(
    key: &[u8; 32],
    backup_id: &[u8],
    path: &str,
    pt: &[u8],
    file_nonce: [u8; 24],
    chunk_size: u32,
) -> Vec<u8> {
    let mut header = b"VOUCHENC".to_vec();
    header.extend_from_slice(&[1, 1, 0, 0]);
    header.extend_from_slice(&chunk_size.to_be_bytes());
    header.extend_from_slice(&file_nonce);
    assert_eq!(header.len(), 40);
    let mut label = b"vouch envelope v1 file key\0".to_vec();
    label.extend_from_slice(&file_nonce);
    let file_key = hmac_sha256(key, &label);
    let aes = Aes256Gcm::new((&file_key).into());
    let pieces: Vec<&[u8]> = if pt.is_empty() {
        vec![&[]]
    } else {
        pt.chunks(chunk_size as usize).collect()
    };
    let mut out = header.clone();
    for (i, piece) in pieces.iter().enumerate() {
        let mut nonce = file_nonce[16..].to_vec();
        nonce.extend_from_slice(&(i as u32).to_be_bytes());
        let mut aad = header.clone();
        aad.extend_from_slice(&(i as u32).to_be_bytes());
        aad.push(u8::from(i + 1 == pieces.len()));
        aad.extend_from_slice(&(backup_id.len() as u64).to_be_bytes());
        aad.extend_from_slice(backup_id);
        aad.extend_from_slice(&(path.len() as u64).to_be_bytes());
        aad.extend_from_slice(path.as_bytes());
        let mut buf = piece.to_vec();
        let tag = aes
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), &aad, &mut buf)
            .unwrap();
        out.extend_from_slice(&buf);
        out.extend_from_slice(&tag);
    }
    out
}

#[test]
fn seal_matches_the_reference_layout_byte_for_byte() {
    for (len, cs) in [
        (0usize, 64u32),
        (1, 64),
        (63, 64),
        (64, 64),
        (65, 64),
        (1000, 128),
        (0, CHUNK_SIZE),
        (70_000, CHUNK_SIZE),
    ] {
        let pt = plaintext(len, 1);
        let want = reference_seal(&KEY, BACKUP, "data/7.sst", &pt, NONCE_A, cs);
        let got = seal_with_chunk_size(&key(), id("data/7.sst"), &pt, NONCE_A, cs).unwrap();
        assert_eq!(got, want, "len {len}, chunk size {cs}");
        assert_eq!(got.len() as u64, sealed_len_with(cs, len as u64));
        if cs == CHUNK_SIZE {
            assert_eq!(seal(&key(), id("data/7.sst"), &pt, NONCE_A).unwrap(), want);
            assert_eq!(got.len() as u64, sealed_len(len as u64));
        }
    }
}

#[test]
fn header_encodes_and_decodes() {
    let hdr = Header {
        chunk_size: CHUNK_SIZE,
        file_nonce: NONCE_A,
    };
    let bytes = hdr.encode();
    assert_eq!(
        hex::encode(bytes),
        format!("564f554348454e43010100000001{}{}", "0000", "a5".repeat(24))
    );
    assert_eq!(Header::decode(&bytes).unwrap(), hdr);
}

// ---- round trips -------------------------------------------------------------------------

/// Seals `pt` every way (buffer, stream in odd pieces) and opens it every way (whole,
/// positioned reads); all must agree.
fn round_trip(pt: &[u8], cs: u32) {
    let path = "data/1.sst";
    let sealed = seal_with_chunk_size(&key(), id(path), pt, NONCE_A, cs).unwrap();
    assert_eq!(sealed.len() as u64, sealed_len_with(cs, pt.len() as u64));
    if cs == CHUNK_SIZE {
        assert_eq!(plaintext_len(sealed.len() as u64).unwrap(), pt.len() as u64);
    }
    // Streaming in uneven writes gives the same bytes.
    let mut w = SealWriter::with_chunk_size(&key(), id(path), NONCE_A, cs, Vec::new()).unwrap();
    let mut rest = pt;
    let mut step = 1usize;
    while !rest.is_empty() {
        let n = step.min(rest.len());
        w.write_all(&rest[..n]).unwrap();
        rest = &rest[n..];
        step = step * 3 + 1;
    }
    assert_eq!(w.plaintext_len(), pt.len() as u64);
    assert_eq!(w.finish().unwrap(), sealed, "stream of {} bytes", pt.len());

    assert_eq!(open_all(&key(), id(path), &sealed).unwrap(), pt);
    let opened = Opened::new(&key(), id(path), sealed.as_slice()).unwrap();
    assert_eq!(opened.size(), pt.len() as u64);
    opened.authenticate_all().unwrap();
    let all = opened.read_at(0, pt.len()).unwrap();
    assert_eq!(&*all, pt);
    let c = cs as usize;
    for (off, len) in [
        (0, 0),
        (0, 1),
        (c - 1, 2),
        (c, c),
        (c / 2, 2 * c + 3),
        (pt.len(), 0),
    ] {
        if off + len <= pt.len() {
            let got = opened.read_at(off as u64, len).unwrap();
            assert_eq!(&*got, &pt[off..off + len], "read [{off}, +{len})");
        }
    }
    // Past the end: the same error a plain slice gives.
    assert_eq!(
        opened.read_at(pt.len() as u64, 1).unwrap_err(),
        pt.read_at(pt.len() as u64, 1).unwrap_err()
    );
}

#[test]
fn round_trips_at_chunk_boundaries() {
    let c = CHUNK_SIZE as usize;
    for len in [0, 1, c - 1, c, c + 1, 2 * c, 3 * c + 17] {
        round_trip(&plaintext(len, 2), CHUNK_SIZE);
    }
}

#[test]
fn round_trip_several_mib() {
    let pt = plaintext(3 << 20 | 12_345, 3);
    round_trip(&pt, CHUNK_SIZE);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_lengths_and_random_reads(
        len in 0usize..20_000,
        cs_log in 6u32..12,
        reads in proptest::collection::vec((any::<u64>(), 0usize..5000), 1..12),
    ) {
        let cs = 1u32 << cs_log;
        let pt = plaintext(len, len as u8);
        let sealed = seal_with_chunk_size(&key(), id("x"), &pt, NONCE_B, cs).unwrap();
        prop_assert_eq!(open_all(&key(), id("x"), &sealed).unwrap(), pt.clone());
        let opened = Opened::new(&key(), id("x"), &sealed).unwrap();
        for (off, n) in reads {
            let off = if len == 0 { 0 } else { (off % (len as u64 + 1)) as usize };
            let n = n.min(len - off);
            let got = opened.read_at(off as u64, n).unwrap();
            prop_assert_eq!(&*got, &pt[off..off + n]);
        }
    }
}

#[test]
fn an_sst_reads_through_the_envelope() {
    let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..3000u32)
        .map(|i| (format!("key-{i:06}").into_bytes(), plaintext(40, i as u8)))
        .collect();
    let sst = write_to_vec(
        entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
        WriterOptions::default(),
    )
    .unwrap();
    assert!(sst.len() > 2 * CHUNK_SIZE as usize, "{} bytes", sst.len());
    let sealed = seal(&key(), id("data/9.sst"), &sst, NONCE_A).unwrap();
    let opened = Opened::new(&key(), id("data/9.sst"), sealed.as_slice()).unwrap();
    let reader = SstReader::open(&opened).unwrap();
    let stats = reader.verify_scan().unwrap();
    assert_eq!(stats.entries, 3000);
    assert_eq!(
        reader.get(b"key-001234").unwrap(),
        Some(entries[1234].1.clone())
    );
    assert_eq!(reader.get(b"key-9").unwrap(), None);
}

// ---- the tamper suite --------------------------------------------------------------------

const CS: u32 = 64;
const STORED: usize = CS as usize + TAG_LEN;

/// Offset of chunk `i`'s stored bytes.
fn at(i: usize) -> usize {
    HEADER_LEN + i * STORED
}

/// A sealed file of 4 full chunks and a final chunk of 10 bytes.
fn victim(path: &str, nonce: [u8; 24]) -> (Vec<u8>, Vec<u8>) {
    let pt = plaintext(4 * CS as usize + 10, 9);
    let sealed = seal_with_chunk_size(&key(), id(path), &pt, nonce, CS).unwrap();
    assert_eq!(sealed.len(), at(4) + 10 + TAG_LEN);
    (pt, sealed)
}

/// Both ways of opening give `want`; for `Opened`, through `authenticate_all`.
fn fails(sealed: &[u8], path: &str, want: Error) {
    assert_eq!(open_all(&key(), id(path), sealed).unwrap_err(), want);
    let got = Opened::new(&key(), id(path), sealed).and_then(|o| o.authenticate_all());
    assert_eq!(got.unwrap_err(), want);
}

fn auth(chunk: u64) -> Error {
    Error::EnvelopeAuth {
        chunk,
        offset: at(chunk as usize) as u64,
    }
}

#[test]
fn flipped_bytes_fail_at_their_chunk() {
    let (_, good) = victim("data/1.sst", NONCE_A);
    for (what, pos, chunk) in [
        ("first chunk ciphertext", at(0) + 3, 0u64),
        ("middle chunk ciphertext", at(2) + 40, 2),
        ("last chunk ciphertext", at(4), 4),
        ("first chunk tag", at(0) + CS as usize + 5, 0),
        ("middle chunk tag", at(3) - 1, 2),
        ("last chunk tag", good.len() - 1, 4),
    ] {
        let mut bad = good.clone();
        bad[pos] ^= 0x01;
        assert_eq!(
            open_all(&key(), id("data/1.sst"), &bad).unwrap_err(),
            auth(chunk),
            "{what}"
        );
        // Random access fails exactly at that chunk and reads the others.
        let opened = Opened::new(&key(), id("data/1.sst"), bad.as_slice()).unwrap();
        let c = CS as u64;
        assert_eq!(
            opened.read_at(chunk * c, 1).unwrap_err(),
            auth(chunk),
            "{what}"
        );
        let other = if chunk == 0 { 1 } else { 0 };
        opened.read_at(other * c, 1).unwrap();
    }
}

#[test]
fn header_edits_fail() {
    let (_, good) = victim("data/1.sst", NONCE_A);
    // Any byte of the random file nonce: every chunk authenticates the header.
    for pos in [16, 30, 39] {
        let mut bad = good.clone();
        bad[pos] ^= 0x80;
        fails(&bad, "data/1.sst", auth(0));
    }
    let edit = |pos: usize, v: u8| {
        let mut bad = good.clone();
        bad[pos] = v;
        bad
    };
    fails(
        &edit(0, b'X'),
        "data/1.sst",
        Error::EnvelopeMagic {
            offset: 0,
            found: HexBytes(b"XOUCHENC".to_vec()),
        },
    );
    fails(
        &edit(8, 2),
        "data/1.sst",
        Error::EnvelopeVersion {
            offset: 8,
            found: 2,
        },
    );
    fails(
        &edit(9, 0),
        "data/1.sst",
        Error::EnvelopeCipher {
            offset: 9,
            found: 0,
        },
    );
    fails(
        &edit(11, 1),
        "data/1.sst",
        Error::Invalid {
            field: "envelope reserved bytes",
            offset: 10,
            reason: "0001 (must be zero)".into(),
        },
    );
    // Chunk size 65 (not a power of two), 32 (too small), 2^25 (too big).
    for (b14, b15, v) in [(0, 65, 65), (0, 32, 32)] {
        let mut bad = edit(14, b14);
        bad[15] = b15;
        fails(
            &bad,
            "data/1.sst",
            Error::EnvelopeChunkSize {
                offset: 12,
                found: v,
                min: 64,
                max: 16 << 20,
            },
        );
    }
    let mut big = good.clone();
    big[12..16].copy_from_slice(&(1u32 << 25).to_be_bytes());
    fails(
        &big,
        "data/1.sst",
        Error::EnvelopeChunkSize {
            offset: 12,
            found: 1 << 25,
            min: 64,
            max: 16 << 20,
        },
    );
    // A different valid chunk size re-frames the chunks and fails authentication.
    let mut other = good.clone();
    other[12..16].copy_from_slice(&128u32.to_be_bytes());
    fails(
        &other,
        "data/1.sst",
        Error::EnvelopeAuth {
            chunk: 0,
            offset: 40,
        },
    );
    // An unencrypted file (an SST) is named as not sealed.
    let sst = write_to_vec([(&b"k"[..], &b"v"[..])], WriterOptions::default()).unwrap();
    assert!(matches!(
        open_all(&key(), id("data/1.sst"), &sst).unwrap_err(),
        Error::EnvelopeMagic { offset: 0, .. }
    ));
}

#[test]
fn truncations_fail() {
    let (_, good) = victim("data/1.sst", NONCE_A);
    // At chunk boundaries: the last chunk present is not final.
    for n in 1..=4 {
        fails(
            &good[..at(n)],
            "data/1.sst",
            Error::EnvelopeFinalChunkMissing {
                last_chunk: n as u64 - 1,
                offset: at(n - 1) as u64,
            },
        );
    }
    // Between boundaries: the cut chunk does not authenticate.
    for (cut, chunk) in [
        (at(1) + 20, 1u64),
        (at(3) + STORED - 1, 3),
        (good.len() - 1, 4),
    ] {
        fails(&good[..cut], "data/1.sst", auth(chunk));
    }
    // Cut inside a tag-sized tail: too short to be a chunk.
    fails(
        &good[..at(2) + 5],
        "data/1.sst",
        Error::EnvelopeTruncated {
            chunk: 2,
            offset: at(2) as u64,
            needed: TAG_LEN as u64 + 1,
            available: 5,
        },
    );
    // Only the header, and less.
    fails(
        &good[..HEADER_LEN],
        "data/1.sst",
        Error::EnvelopeTruncated {
            chunk: 0,
            offset: 40,
            needed: 16,
            available: 0,
        },
    );
    assert_eq!(
        open_all(&key(), id("data/1.sst"), &good[..10]).unwrap_err(),
        Error::EnvelopeTruncated {
            chunk: 0,
            offset: 0,
            needed: 56,
            available: 10,
        }
    );
    assert_eq!(
        plaintext_len(HEADER_LEN as u64 + 5).unwrap_err(),
        Error::EnvelopeTruncated {
            chunk: 0,
            offset: 40,
            needed: 16,
            available: 5,
        }
    );
}

#[test]
fn appended_data_fails() {
    // A whole chunk appended after a full final chunk: the old final chunk is named.
    let pt = plaintext(2 * CS as usize, 4);
    let good = seal_with_chunk_size(&key(), id("a"), &pt, NONCE_A, CS).unwrap();
    let other = seal_with_chunk_size(&key(), id("a"), &plaintext(300, 5), NONCE_A, CS).unwrap();
    let mut bad = good.clone();
    bad.extend_from_slice(&other[at(2)..at(3)]);
    fails(
        &bad,
        "a",
        Error::EnvelopeDataAfterFinal {
            chunk: 1,
            offset: at(2) as u64,
            extra: STORED as u64,
        },
    );
    // Garbage after a short final chunk re-frames it: authentication fails there.
    let (_, good) = victim("data/1.sst", NONCE_A);
    let mut bad = good.clone();
    bad.extend_from_slice(&[0u8; 100]);
    fails(&bad, "data/1.sst", auth(4));
}

#[test]
fn swapped_chunks_fail() {
    let (_, good) = victim("data/1.sst", NONCE_A);
    let mut bad = good.clone();
    let (c1, c2) = (good[at(1)..at(2)].to_vec(), good[at(2)..at(3)].to_vec());
    bad[at(1)..at(2)].copy_from_slice(&c2);
    bad[at(2)..at(3)].copy_from_slice(&c1);
    fails(&bad, "data/1.sst", auth(1));
    // Random access reads the untouched chunks and fails on both moved ones.
    let o = Opened::new(&key(), id("data/1.sst"), bad.as_slice()).unwrap();
    o.read_at(0, CS as usize).unwrap();
    assert_eq!(o.read_at(2 * CS as u64, 1).unwrap_err(), auth(2));
    o.read_at(3 * CS as u64, CS as usize).unwrap();
}

#[test]
fn swapped_files_of_one_backup_fail() {
    let (_, one) = victim("data/1.sst", NONCE_A);
    let (_, two) = victim("data/2.sst", NONCE_B);
    // Each opens under its own name only.
    open_all(&key(), id("data/1.sst"), &one).unwrap();
    open_all(&key(), id("data/2.sst"), &two).unwrap();
    fails(&two, "data/1.sst", auth(0));
    fails(&one, "data/2.sst", auth(0));
    // Same path, other backup.
    let elsewhere = FileId {
        backup_id: b"backup-0002",
        path: "data/1.sst",
    };
    assert_eq!(open_all(&key(), elsewhere, &one).unwrap_err(), auth(0));
    // Other key.
    let wrong = DataKey::from_bytes([7; 32]);
    assert_eq!(
        open_all(&wrong, id("data/1.sst"), &one).unwrap_err(),
        auth(0)
    );
}

#[test]
fn spliced_chunks_from_another_file_fail() {
    let (_, one) = victim("data/1.sst", NONCE_A);
    // Same key, same backup, another path; and the same path sealed again (other nonce).
    let (_, two) = victim("data/2.sst", NONCE_B);
    let (_, again) = victim("data/1.sst", NONCE_B);
    for donor in [&two, &again] {
        let mut bad = one.clone();
        bad[at(2)..at(3)].copy_from_slice(&donor[at(2)..at(3)]);
        fails(&bad, "data/1.sst", auth(2));
    }
    // The whole body of another sealing of the same file behind this header.
    let mut bad = one[..HEADER_LEN].to_vec();
    bad.extend_from_slice(&again[HEADER_LEN..]);
    fails(&bad, "data/1.sst", auth(0));
}

#[test]
fn an_empty_file_has_one_final_empty_chunk() {
    let sealed = seal(&key(), id("e"), b"", NONCE_A).unwrap();
    assert_eq!(sealed.len(), HEADER_LEN + TAG_LEN);
    assert_eq!(open_all(&key(), id("e"), &sealed).unwrap(), b"");
    assert_eq!(plaintext_len(sealed.len() as u64).unwrap(), 0);
    let mut bad = sealed.clone();
    bad[HEADER_LEN] ^= 1;
    fails(&bad, "e", auth(0));
    // A writer dropped without finish leaves no final chunk: the last full chunk stays
    // buffered (no more bytes followed it), and what was written never opens.
    let mut partial = Vec::new();
    let mut w = SealWriter::with_chunk_size(&key(), id("e"), NONCE_A, CS, &mut partial).unwrap();
    w.write_all(&plaintext(3 * CS as usize, 1)).unwrap();
    drop(w);
    assert_eq!(partial.len(), at(2));
    fails(
        &partial,
        "e",
        Error::EnvelopeFinalChunkMissing {
            last_chunk: 1,
            offset: at(1) as u64,
        },
    );
}

#[test]
fn impossible_sealed_sizes_are_refused() {
    // With 64 KiB chunks, a sealed size whose last chunk holds only a tag (and is not chunk 0).
    let full = (CHUNK_SIZE as u64) + TAG_LEN as u64;
    let size = HEADER_LEN as u64 + full + TAG_LEN as u64;
    assert_eq!(
        plaintext_len(size).unwrap_err(),
        Error::EnvelopeTruncated {
            chunk: 1,
            offset: HEADER_LEN as u64 + full,
            needed: 17,
            available: 16,
        }
    );
    assert_eq!(plaintext_len(size + 1).unwrap(), CHUNK_SIZE as u64 + 1);
    for n in [0u64, 1, 100_000, 5 << 20] {
        assert_eq!(plaintext_len(sealed_len(n)).unwrap(), n);
    }
}

// ---- keys and small values ---------------------------------------------------------------

#[test]
fn data_key_debug_hides_the_bytes() {
    let k = DataKey::from_bytes([0xab; 32]);
    let shown = format!("{k:?}");
    assert_eq!(shown, "DataKey(<redacted>)");
    assert!(!format!(
        "{:?}",
        Opened::new(
            &k,
            id("p"),
            seal(&k, id("p"), b"x", NONCE_A).unwrap().as_slice()
        )
        .unwrap()
    )
    .contains("abab"));
    assert_eq!(
        DataKey::from_slice(&[1; 31]).unwrap_err(),
        Error::Invalid {
            field: "data key",
            offset: 0,
            reason: "31 bytes, expected 32".into(),
        }
    );
}

#[test]
fn small_values_round_trip_and_fail_precisely() {
    let kek = DataKey::from_bytes([3; 32]);
    let data_key = [0x77u8; 32];
    let aad = b"vouch ENCRYPTION-INFO v1 chain 0001";
    let sealed = seal_small(&kek, aad, &data_key, [9; 12]).unwrap();
    assert_eq!(sealed.len(), 32 + envelope::SMALL_OVERHEAD);
    assert_eq!(&sealed[..12], &[9; 12]);
    assert_eq!(&*open_small(&kek, aad, &sealed).unwrap(), &data_key);
    let auth = Error::SmallAuth { len: 60 };
    assert_eq!(
        open_small(&DataKey::from_bytes([4; 32]), aad, &sealed).unwrap_err(),
        auth
    );
    assert_eq!(open_small(&kek, b"other", &sealed).unwrap_err(), auth);
    for pos in [0, 11, 12, 43, 59] {
        let mut bad = sealed.clone();
        bad[pos] ^= 0x10;
        assert_eq!(open_small(&kek, aad, &bad).unwrap_err(), auth, "byte {pos}");
    }
    assert_eq!(
        open_small(&kek, aad, &sealed[..27]).unwrap_err(),
        Error::Truncated {
            field: "sealed value",
            offset: 0,
            needed: 28,
            available: 27,
        }
    );
}

#[test]
fn framing_of_sealed_sizes() {
    // 64-byte chunks: header 40, each full chunk 64 + 16 stored bytes.
    let f = Framing::new(64, 40 + 16).unwrap();
    assert_eq!((f.chunks(), f.plaintext_len()), (1, 0));
    let f = Framing::new(64, 40 + 80 + 16 + 5).unwrap();
    assert_eq!((f.chunks(), f.plaintext_len()), (2, 69));
    assert_eq!((f.stored_offset(0), f.stored_offset(1)), (40, 120));
    assert_eq!((f.plain_len(0), f.plain_len(1)), (64, 5));
    assert_eq!((f.chunk_size(), f.sealed_len()), (64, 141));
    for len in [0, 1, 64, 65, 1000] {
        let sealed = sealed_len_with(64, len);
        assert_eq!(Framing::new(64, sealed).unwrap().plaintext_len(), len);
    }
    assert_eq!(
        Framing::new(64, 50),
        Err(Error::EnvelopeTruncated {
            chunk: 0,
            offset: 40,
            needed: 16,
            available: 10
        })
    );
    assert_eq!(
        Framing::new(64, 3),
        Err(Error::EnvelopeTruncated {
            chunk: 0,
            offset: 3,
            needed: 16,
            available: 0
        })
    );
    // A second chunk with only its tag: a final chunk after chunk 0 holds a byte.
    assert_eq!(
        Framing::new(64, 40 + 80 + 16),
        Err(Error::EnvelopeTruncated {
            chunk: 1,
            offset: 120,
            needed: 17,
            available: 16
        })
    );
    assert_eq!(
        Framing::new(64, 40 + (MAX_CHUNKS + 1) * 80),
        Err(Error::Limit {
            field: "envelope chunk count",
            offset: 0,
            value: MAX_CHUNKS + 1,
            limit: MAX_CHUNKS
        })
    );
}
