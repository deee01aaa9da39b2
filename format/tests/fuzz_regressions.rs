//! Replays fuzz inputs through the same `vouch_format::fuzzing` functions the cargo-fuzz
//! targets call, so a crash once found stays fixed without a fuzzer:
//!
//! - every committed seed, `fuzz/corpus/<target>/seed-*` (set `VOUCH_FUZZ_CORPUS_ALL=1` to
//!   replay every file there, including what local fuzzing runs added);
//! - every saved crash, `testdata/fuzz-regressions/<target>/<name>`.
//!
//! Also hand-made adversarial inputs (huge lengths and counts, handles past the end, a
//! 4 GiB decompressed-length prefix) that must be errors, run in a child process whose
//! address space is capped, so "returns an error" also means "without allocating it".
//!
//! `VOUCH_REGEN_FUZZ_SEEDS=1 cargo test -p vouch-format --test fuzz_regressions` rewrites
//! the seeds from the generators below.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use vouch_format::cursor::{put_varint32, put_varint64, Cursor};
use vouch_format::fuzzing;
use vouch_format::keys::{encode_index_key, Datum, Direction};
use vouch_format::mvcc::{self, Timestamp};
use vouch_format::row::encode_row;
use vouch_format::sst::{
    block_trailer, write_to_vec, BlockHandle, Compression, Footer, SstReader, WriterOptions,
};
use vouch_format::{Error, Result};

type Target = (&'static str, fn(&[u8]));

const TARGETS: [Target; 10] = [
    ("sst_open_scan", fuzzing::sst_open_scan),
    ("sst_round_trip", fuzzing::sst_round_trip_bytes),
    ("mvcc_key_decode", fuzzing::mvcc_key),
    ("tuple_key_decode", fuzzing::tuple_key),
    ("row_decode", fuzzing::row),
    ("manifest_decode", fuzzing::manifest),
    ("text_parse", fuzzing::text),
    ("layout_parse", fuzzing::layout),
    (
        "encryption_info_decode",
        vouch_format::encryption_info::fuzz_decode,
    ),
    ("envelope_open", vouch_format::envelope::fuzz_open),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Files of `dir` (sorted), those whose name starts with `prefix`; none if it is missing.
fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && !n.starts_with('.') && n != "README.md")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn seeds_and_saved_crashes_pass_their_oracles() {
    let all = std::env::var_os("VOUCH_FUZZ_CORPUS_ALL").is_some();
    let mut failures = Vec::new();
    for (target, f) in TARGETS {
        let corpus = files(
            &repo().join("fuzz/corpus").join(target),
            if all { "" } else { "seed-" },
        );
        let saved = files(&repo().join("testdata/fuzz-regressions").join(target), "");
        assert!(!corpus.is_empty(), "no seeds for {target}");
        for path in corpus.iter().chain(&saved) {
            let data = std::fs::read(path).unwrap();
            if catch_unwind(AssertUnwindSafe(|| f(&data))).is_err() {
                failures.push(format!("{target}: {}", path.display()));
            }
        }
        eprintln!(
            "{target}: {} corpus files, {} saved crashes",
            corpus.len(),
            saved.len()
        );
    }
    assert!(
        failures.is_empty(),
        "oracle violations:\n{}",
        failures.join("\n")
    );
}

// ---- seeds ----------------------------------------------------------------------------

fn sst(
    entries: &[(Vec<u8>, Vec<u8>)],
    block_size: usize,
    compression: Compression,
    mvcc: bool,
) -> Vec<u8> {
    let opts = WriterOptions {
        block_size,
        restart_interval: 4,
        compression,
        mvcc,
    };
    write_to_vec(
        entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
        opts,
    )
    .unwrap()
}

fn plain_entries(n: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let k = format!("key{:04}", i * 7).into_bytes();
            let v = format!("value-{i}-")
                .repeat(1 + (i as usize % 5))
                .into_bytes();
            (k, v)
        })
        .collect()
}

fn mvcc_entries() -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut v = Vec::new();
    for i in 0..12u8 {
        for t in [9u64, 5, 1] {
            let k = mvcc::key(&[b'u', i, 0, i], Timestamp::new(t, u32::from(i)));
            let val = if t == 5 && i % 3 == 0 {
                mvcc::value(&k, None)
            } else {
                mvcc::value(&k, Some(format!("row {i} at {t}").as_bytes()))
            };
            v.push((k, val));
        }
    }
    v
}

/// The `fuzzing::SstRoundTripInput::from_bytes` header: flags, block size, restart
/// interval, corruption position and mask.
fn round_trip_header(flags: u8, block_size: u16, restart: u8, corrupt_at: u32) -> Vec<u8> {
    let mut v = vec![flags];
    v.extend_from_slice(&block_size.to_le_bytes());
    v.push(restart);
    v.extend_from_slice(&corrupt_at.to_le_bytes());
    v.push(0x20);
    v
}

fn round_trip_seed(flags: u8, block_size: u16, n: u8) -> Vec<u8> {
    let mut v = round_trip_header(flags, block_size, 3, 0x0001_2345);
    for i in 0..n {
        // shared 3 of the previous key, then 2 new bytes; alternate short and long values.
        v.extend_from_slice(&[3, 2, b'a' + i % 26, i]);
        if i % 2 == 0 {
            v.extend_from_slice(&[5, b'v', b'a', b'l', b'u', i]);
        } else {
            v.extend_from_slice(&[0x83, b'x']);
        }
        if flags & 4 != 0 {
            v.push(if i % 4 == 0 { 0x80 | i } else { i });
        }
    }
    v
}

fn datums() -> Vec<Datum> {
    vec![
        Datum::Int(-42),
        Datum::Float(-0.5),
        Datum::Decimal("-12.3400".parse().unwrap()),
        Datum::String("a\0b\u{e9}".into()),
        Datum::Bytes(vec![0, 0xff, 0, 1]),
        Datum::Bool(true),
        Datum::Date(-719_162),
        Datum::Timestamp(1_700_000_000_123_456),
        Datum::Uuid(*b"0123456789abcdef"),
        Datum::Enum(vec![0x80, 0]),
    ]
}

fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let mut s = Vec::new();
    let plain = plain_entries(40);
    s.push((
        "sst_open_scan",
        "seed-none-64b-blocks",
        sst(&plain, 64, Compression::None, false),
    ));
    s.push((
        "sst_open_scan",
        "seed-snappy",
        sst(&plain, 256, Compression::Snappy, false),
    ));
    s.push((
        "sst_open_scan",
        "seed-zstd",
        sst(&plain, 256, Compression::Zstd, false),
    ));
    s.push((
        "sst_open_scan",
        "seed-mvcc",
        sst(&mvcc_entries(), 128, Compression::None, true),
    ));
    s.push((
        "sst_open_scan",
        "seed-one-entry",
        sst(&plain_entries(1), 4096, Compression::None, false),
    ));

    s.push(("sst_round_trip", "seed-none", round_trip_seed(0, 64, 30)));
    s.push(("sst_round_trip", "seed-snappy", round_trip_seed(1, 200, 30)));
    s.push(("sst_round_trip", "seed-zstd", round_trip_seed(2, 300, 30)));
    s.push((
        "sst_round_trip",
        "seed-mvcc-zstd",
        round_trip_seed(6, 100, 30),
    ));
    s.push((
        "sst_round_trip",
        "seed-header-only",
        round_trip_header(0, 0, 0, 0),
    ));

    let k = |u: &[u8], w, l| mvcc::key(u, Timestamp::new(w, l));
    s.push((
        "mvcc_key_decode",
        "seed-key",
        k(b"user/key", 1_700_000_000_000_000_000, 3),
    ));
    s.push((
        "mvcc_key_decode",
        "seed-key-zero-bytes",
        k(b"\0a\0\0", 0, 0),
    ));
    s.push((
        "mvcc_key_decode",
        "seed-key-empty-max-ts",
        k(b"", u64::MAX, u32::MAX),
    ));
    let fk = k(b"fuzz", 1, 0); // the key `mvcc::fuzz_decode_value` decodes values under
    s.push((
        "mvcc_key_decode",
        "seed-value",
        mvcc::value(&fk, Some(b"hello")),
    ));
    s.push(("mvcc_key_decode", "seed-tombstone", mvcc::value(&fk, None)));

    let cols = |dir: Direction| -> Vec<(Datum, Direction)> {
        datums().into_iter().map(|d| (d, dir)).collect()
    };
    s.push((
        "tuple_key_decode",
        "seed-all-types-asc",
        encode_index_key(53, 1, &cols(Direction::Asc)).unwrap(),
    ));
    s.push((
        "tuple_key_decode",
        "seed-all-types-desc",
        encode_index_key(1 << 40, 2, &cols(Direction::Desc)).unwrap(),
    ));
    let mixed = vec![
        (Datum::Null, Direction::Asc),
        (Datum::Null, Direction::Desc),
        (Datum::Decimal("0".parse().unwrap()), Direction::Asc),
        (Datum::Decimal("9.99e30".parse().unwrap()), Direction::Desc),
        (Datum::Int(i64::MIN), Direction::Asc),
        (Datum::Float(f64::NAN), Direction::Asc),
    ];
    s.push((
        "tuple_key_decode",
        "seed-null-decimal-nan",
        encode_index_key(0, 0, &mixed).unwrap(),
    ));

    let mut row: Vec<(u32, Datum)> = datums()
        .into_iter()
        .enumerate()
        .map(|(i, d)| (i as u32 * 3 + 1, d))
        .collect();
    row.push((
        40,
        Datum::Json(serde_json::json!({"a": [1, 2.5, null], "b": "c"})),
    ));
    s.push(("row_decode", "seed-all-types", encode_row(&row).unwrap()));
    s.push((
        "row_decode",
        "seed-nulls-and-big-ids",
        encode_row(&[
            (0, Datum::Null),
            (7, Datum::Int(7)),
            (u32::MAX, Datum::Bool(false)),
        ])
        .unwrap(),
    ));
    s.push(("row_decode", "seed-empty", encode_row(&[]).unwrap()));
    for (name, text) in [
        ("seed-decimal", "-12.3400"),
        ("seed-decimal-exp", "1.5e-60"),
        ("seed-hlc", "1700000000000000000.0000000003"),
    ] {
        s.push(("text_parse", name, text.as_bytes().to_vec()));
    }
    s.push((
        "manifest_decode",
        "seed-frozen-v1",
        std::fs::read(repo().join("testdata/frozen/v1/BACKUP_MANIFEST")).unwrap(),
    ));
    s.extend(encryption_info_seeds());
    s.extend(envelope_seeds());
    s
}

/// `envelope_open` seeds (first byte: even = sealed input, odd = plaintext to seal): a small
/// SST sealed with the real cipher in 64-byte chunks, the same SST in the null-cipher
/// framing that `--cfg fuzzing` builds accept (plaintext ‖ tag of final flag and 15 zeros),
/// and plaintexts.
fn envelope_seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    use vouch_format::envelope::{self, DataKey, Header, FUZZ_ID, FUZZ_KEY};
    let entries = plain_entries(12);
    let sst = sst(&entries, 256, Compression::None, false);
    let nonce = [0x3c; envelope::FILE_NONCE_LEN];
    let key = DataKey::from_bytes(FUZZ_KEY);
    let mut real = vec![0u8];
    real.extend(envelope::seal_with_chunk_size(&key, FUZZ_ID, &sst, nonce, 64).unwrap());
    assert_eq!(envelope::open_all(&key, FUZZ_ID, &real[1..]).unwrap(), sst);
    let header = Header {
        chunk_size: 64,
        file_nonce: nonce,
    };
    let mut null = vec![0u8];
    null.extend_from_slice(&header.encode());
    let pieces: Vec<&[u8]> = sst.chunks(64).collect();
    for (i, piece) in pieces.iter().enumerate() {
        null.extend_from_slice(piece);
        null.push(u8::from(i + 1 == pieces.len()));
        null.extend_from_slice(&[0; 15]);
    }
    let mut plain = vec![1u8];
    plain.extend_from_slice(&sst);
    vec![
        ("envelope_open", "seed-sealed-sst", real),
        ("envelope_open", "seed-null-cipher-sst", null),
        ("envelope_open", "seed-plaintext-sst", plain),
        ("envelope_open", "seed-plaintext-empty", vec![5u8]),
    ]
}

fn encryption_info_seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    use vouch_format::encryption_info::{
        encode, EncryptionInfo, KmsWrappedKey, PassphraseWrappedKey,
    };
    let kms = |uri: &str, n: usize, b: u8| KmsWrappedKey {
        uri_id: uri.into(),
        wrapped_key: vec![b; n],
    };
    let both = EncryptionInfo {
        format_version: 1,
        chain_id: (0..16).collect(),
        passphrase: Some(PassphraseWrappedKey {
            salt: vec![0x5a; 32],
            iterations: 600_000,
            wrapped_key: (0..60).collect(),
        }),
        kms: vec![
            kms(
                "aws:///arn:aws:kms:us-east-1:000000000000:key/k1",
                184,
                0xa1,
            ),
            kms("file:///etc/vouch/backup.key", 60, 0xf1),
        ],
        key_check: vec![0xc4; 32],
    };
    let kms_only = EncryptionInfo {
        passphrase: None,
        kms: vec![kms("aws:///alias/backups", 150, 0x77)],
        ..both.clone()
    };
    let passphrase_only = EncryptionInfo {
        kms: Vec::new(),
        ..both.clone()
    };
    vec![
        (
            "encryption_info_decode",
            "seed-passphrase-and-kms",
            encode(&both),
        ),
        ("encryption_info_decode", "seed-kms-only", encode(&kms_only)),
        (
            "encryption_info_decode",
            "seed-passphrase-only",
            encode(&passphrase_only),
        ),
    ]
}

#[test]
fn seeds_are_present_small_and_regenerable() {
    let regen = std::env::var_os("VOUCH_REGEN_FUZZ_SEEDS").is_some();
    let mut total = 0;
    for (target, name, bytes) in seeds() {
        let path = repo().join("fuzz/corpus").join(target).join(name);
        if regen {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        assert!(
            path.is_file(),
            "{} is missing: regenerate with VOUCH_REGEN_FUZZ_SEEDS=1",
            path.display()
        );
        total += bytes.len();
    }
    assert!(total < 200 << 10, "seeds total {total} bytes");
}

// ---- adversarial inputs ---------------------------------------------------------------

/// A block with one entry and one restart.
fn one_entry_block(key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut b = vec![0];
    put_varint32(&mut b, key.len() as u32);
    put_varint32(&mut b, value.len() as u32);
    b.extend_from_slice(key);
    b.extend_from_slice(value);
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b
}

fn append_block(out: &mut Vec<u8>, stored: &[u8], compression: u8) -> BlockHandle {
    let h = BlockHandle {
        offset: out.len() as u64,
        size: stored.len() as u64,
    };
    out.extend_from_slice(stored);
    out.extend_from_slice(&block_trailer(stored, compression));
    h
}

fn slice(file: &[u8], h: BlockHandle) -> &[u8] {
    &file[h.offset as usize..(h.offset + h.size) as usize]
}

/// The stored properties block of a valid file.
fn properties_block(file: &[u8]) -> Vec<u8> {
    let r = SstReader::open(file).unwrap();
    let meta = slice(file, r.footer().metaindex);
    let mut c = Cursor::new(meta);
    let (_, key_len, _) = (
        c.varint32("s").unwrap(),
        c.varint32("k").unwrap(),
        c.varint32("v").unwrap(),
    );
    assert_eq!(
        c.take(key_len as usize, "key").unwrap(),
        b"rocksdb.properties"
    );
    let h = BlockHandle::decode(&mut c).unwrap();
    slice(file, h).to_vec()
}

/// An SST of one data block (`stored`, with `compression`) whose index entry says
/// `handle` and `last_key`, with the properties block of `template`.
fn assemble(
    stored: &[u8],
    compression: u8,
    handle: Option<BlockHandle>,
    last_key: &[u8],
    template: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    let data = append_block(&mut out, stored, compression);
    let mut ikey = last_key.to_vec();
    ikey.extend_from_slice(&1u64.to_le_bytes());
    let mut hv = Vec::new();
    handle.unwrap_or(data).encode(&mut hv);
    let index = append_block(&mut out, &one_entry_block(&ikey, &hv), 0);
    let props = append_block(&mut out, &properties_block(template), 0);
    let mut pv = Vec::new();
    props.encode(&mut pv);
    let metaindex = append_block(&mut out, &one_entry_block(b"rocksdb.properties", &pv), 0);
    out.extend_from_slice(
        &Footer {
            checksum_type: 1,
            metaindex,
            index,
            format_version: 2,
        }
        .encode(),
    );
    out
}

/// Open and verify; iteration and a lookup run too (their results are checked by
/// `fuzzing::sst_open_scan` below, which every case also goes through).
fn scan(file: &[u8]) -> Result<u64> {
    let r = SstReader::open(file)?;
    let _ = r.get(b"k");
    let _ = r.entries().count();
    r.verify_scan().map(|s| s.entries)
}

/// What an adversarial file's verified scan must give.
type Expect = fn(&Result<u64>) -> bool;

fn run_adversarial() {
    let key = b"k".to_vec();
    let template = sst(
        &[(key.clone(), b"v".to_vec())],
        4096,
        Compression::None,
        false,
    );
    let block = {
        let r = SstReader::open(template.as_slice()).unwrap();
        assert_eq!(r.data_blocks(), 1);
        let data_size = r
            .properties()
            .get_u64("rocksdb.data.size")
            .unwrap()
            .unwrap() as usize;
        template[..data_size - 5].to_vec()
    };
    // The assembler rebuilds the template exactly, so every case below differs from a
    // valid file only where it says.
    assert_eq!(assemble(&block, 0, None, &key, &template), template);
    let restarts = [0u8, 0, 0, 0, 1, 0, 0, 0];
    let mut ikey = key.clone();
    ikey.extend_from_slice(&1u64.to_le_bytes());

    let mut cases: Vec<(&str, Vec<u8>, Expect)> = Vec::new();

    // A zstd block whose length prefix claims u32::MAX bytes (just under 4 GiB): over the
    // block limit before anything is allocated.
    let frame = zstd::bulk::compress(&block, 3).unwrap();
    let mut stored = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
    stored.extend_from_slice(&frame);
    cases.push((
        "zstd length prefix u32::MAX",
        assemble(&stored, 7, None, &key, &template),
        |r| {
            matches!(
                r,
                Err(Error::Limit {
                    field: "uncompressed block size",
                    value: 0xffff_ffff,
                    ..
                })
            )
        },
    ));
    // Exactly 4 GiB does not fit the varint32 prefix at all.
    let mut stored = vec![0x80, 0x80, 0x80, 0x80, 0x10];
    stored.extend_from_slice(&frame);
    cases.push((
        "zstd length prefix 4 GiB",
        assemble(&stored, 7, None, &key, &template),
        |r| {
            matches!(
                r,
                Err(Error::Varint {
                    field: "zstd uncompressed length",
                    ..
                })
            )
        },
    ));
    // At the 64 MiB limit, over a tiny frame: allowed to reserve the limit, must fail.
    let mut stored = Vec::new();
    put_varint64(&mut stored, 64 << 20);
    stored.extend_from_slice(&frame);
    cases.push((
        "zstd length prefix 64 MiB over a small frame",
        assemble(&stored, 7, None, &key, &template),
        |r| matches!(r, Err(Error::Decompress { .. })),
    ));
    // A snappy block whose header claims u32::MAX bytes.
    let mut stored = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
    stored.extend_from_slice(&block);
    cases.push((
        "snappy length u32::MAX",
        assemble(&stored, 1, None, &key, &template),
        |r| matches!(r, Err(Error::Limit { .. }) | Err(Error::Decompress { .. })),
    ));
    // Restart count 0xffffffff.
    let mut stored = block.clone();
    let n = stored.len();
    stored[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    cases.push((
        "restart count 0xffffffff",
        assemble(&stored, 0, None, &key, &template),
        |r| {
            matches!(
                r,
                Err(Error::BadBlock {
                    field: "restart count",
                    ..
                })
            )
        },
    ));
    // Entry key length u32::MAX, then value length u32::MAX.
    let mut stored = vec![0, 0xff, 0xff, 0xff, 0xff, 0x0f, 1];
    stored.extend_from_slice(&ikey);
    stored.push(b'v');
    stored.extend_from_slice(&restarts);
    cases.push((
        "entry key length u32::MAX",
        assemble(&stored, 0, None, &key, &template),
        |r| {
            matches!(
                r,
                Err(Error::Truncated {
                    field: "entry key",
                    needed: 0xffff_ffff,
                    ..
                })
            )
        },
    ));
    let mut stored = vec![0, ikey.len() as u8, 0xff, 0xff, 0xff, 0xff, 0x0f];
    stored.extend_from_slice(&ikey);
    stored.push(b'v');
    stored.extend_from_slice(&restarts);
    cases.push((
        "entry value length u32::MAX",
        assemble(&stored, 0, None, &key, &template),
        |r| {
            matches!(
                r,
                Err(Error::Truncated {
                    field: "entry value",
                    needed: 0xffff_ffff,
                    ..
                })
            )
        },
    ));
    // A varint that never ends.
    let mut stored = vec![0xff; 12];
    stored.extend_from_slice(&restarts);
    cases.push((
        "endless varint",
        assemble(&stored, 0, None, &key, &template),
        |r| matches!(r, Err(Error::Varint { .. })),
    ));
    // Index handles past the end of the file, one of them overflowing u64.
    for (name, h) in [
        (
            "data handle past the end",
            BlockHandle {
                offset: 1 << 40,
                size: 10,
            },
        ),
        (
            "data handle size u64::MAX",
            BlockHandle {
                offset: 0,
                size: u64::MAX,
            },
        ),
        (
            "data handle size 1 TiB",
            BlockHandle {
                offset: 0,
                size: 1 << 40,
            },
        ),
    ] {
        cases.push((name, assemble(&block, 0, Some(h), &key, &template), |r| {
            matches!(r, Err(Error::HandleOutOfBounds { .. }))
        }));
    }
    // Footer handles past the end.
    let footer_at = template.len() - 53;
    let footer = Footer::decode(&template[footer_at..], template.len() as u64).unwrap();
    for (name, f) in [
        (
            "index handle past the end",
            Footer {
                index: BlockHandle {
                    offset: 1 << 40,
                    size: 1 << 40,
                },
                ..footer
            },
        ),
        (
            "metaindex handle size u64::MAX",
            Footer {
                metaindex: BlockHandle {
                    offset: 1,
                    size: u64::MAX,
                },
                ..footer
            },
        ),
    ] {
        let mut file = template.clone();
        file[footer_at..].copy_from_slice(&f.encode());
        cases.push((name, file, |r| {
            matches!(r, Err(Error::HandleOutOfBounds { .. }))
        }));
    }

    let mut failed = Vec::new();
    for (name, file, ok) in &cases {
        let r = scan(file);
        if !ok(&r) {
            failed.push(format!("{name}: {r:?}"));
        }
        fuzzing::sst_open_scan(file);
    }

    // Row values: lengths far over the 64 MiB row limit, and digits over the decimal limit.
    for (name, bytes) in [
        (
            "row string length u64::MAX",
            vec![
                1, 1, 0x04, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ),
        (
            "row bytes length 2^32",
            vec![1, 1, 0x05, 0x80, 0x80, 0x80, 0x80, 0x10],
        ),
        (
            "row json length 2^40",
            vec![1, 1, 0x0b, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20],
        ),
        (
            "row decimal digits 2^32",
            vec![1, 1, 0x03, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x10],
        ),
    ] {
        let r = vouch_format::row::decode_row(&bytes);
        if !matches!(r, Err(Error::Limit { .. })) {
            failed.push(format!("{name}: {r:?}"));
        }
        fuzzing::row(&bytes);
    }
    // A table key string that never terminates, 1 MiB long.
    let mut k = vec![0x80, 0x80, 0x40];
    k.resize(1 << 20, b'a');
    assert!(vouch_format::keys::decode_index_key(
        &k,
        &[(vouch_format::keys::ColumnType::String, Direction::Asc)]
    )
    .is_err());
    fuzzing::tuple_key(&k);

    assert!(
        failed.is_empty(),
        "adversarial inputs gave unexpected results:\n{}",
        failed.join("\n")
    );
}

/// Address-space cap for the child process: far below the 4 GiB the inputs claim, well
/// above what the test binary needs plus the one 64 MiB block the limit allows.
const ADDRESS_SPACE_KIB: u64 = 512 << 10;

#[test]
fn adversarial_inputs_are_errors_under_a_memory_cap() {
    if std::env::var_os("VOUCH_ADVERSARIAL_CHILD").is_some() || !cfg!(target_os = "linux") {
        run_adversarial();
        return;
    }
    // Over the cap, an allocation aborts the child ("memory allocation of N bytes failed").
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" --exact adversarial_inputs_are_errors_under_a_memory_cap --test-threads=1 --nocapture"
        ))
        .arg(&exe)
        .env("VOUCH_ADVERSARIAL_CHILD", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let stdout = drain(child.stdout.take().map(|r| Box::new(r) as _));
    let stderr = drain(child.stderr.take().map(|r| Box::new(r) as _));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(
        status.is_some_and(|s| s.success()),
        "child under `ulimit -v {ADDRESS_SPACE_KIB}` failed or hung ({status:?}):\n{stdout}\n{stderr}"
    );
}
