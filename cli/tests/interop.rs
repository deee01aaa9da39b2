//! Interoperability with RocksDB's own tools (Debian `rocksdb-tools` 7.8.3: `sst_dump`,
//! `ldb`), in both directions:
//!
//! - files vouch writes pass `sst_dump --command=verify --verify_checksum`, and both
//!   `sst_dump` scan and `ldb` ingest + scan return exactly the entries written (random
//!   entry sets, every compression, with and without MVCC keys and values);
//! - vouch reads the files RocksDB wrote (`testdata/rocksdb/`) and returns exactly what
//!   `sst_dump` printed when they were made and what it prints now;
//! - every golden file in `testdata/golden/` passes the same RocksDB checks.
//!
//! The tools are required: a missing tool fails the test with a pointer to
//! `scripts/install-test-tools.sh`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{
    assert_entries_eq, assert_rocksdb_reads, jsonl_to_entries, layout, ldb_ingest_and_scan,
    parse_sst_dump_scan, rocksdb_verify, sst_dump_scan, testdata, text, vouch, Entry,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use vouch_format::mvcc::{self, Timestamp};
use vouch_format::sst::{write_to_vec, Compression, SstReader, WriterOptions};

/// Reads every entry with vouch's reader after a full verified scan.
fn vouch_read(bytes: &[u8]) -> Vec<Entry> {
    let r = SstReader::open(bytes).unwrap_or_else(|e| panic!("vouch cannot open: {e}"));
    r.verify_scan()
        .unwrap_or_else(|e| panic!("vouch verify_scan: {e}"));
    r.entries()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("vouch read: {e}"))
}

fn write_file(
    dir: &Path,
    name: &str,
    entries: &[Entry],
    opts: WriterOptions,
) -> std::path::PathBuf {
    let bytes = write_to_vec(
        entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
        opts,
    )
    .unwrap_or_else(|e| panic!("SstWriter: {e}"));
    let path = dir.join(name);
    std::fs::write(&path, &bytes).unwrap();
    path
}

// ---- (a) random files vouch writes, read by RocksDB -----------------------------------

/// Key bytes from a small alphabet, so that keys share prefixes (exercising the blocks'
/// prefix compression and RocksDB's separator logic) and include 0x00 and 0xff.
fn key_byte() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![0x00u8, 0x01, b'a', b'b', 0xfe, 0xff])
}

/// User keys of 0 to 39 bytes. The empty key is included on purpose: RocksDB 7.8.3 accepts
/// it (`sst_dump` prints `''`, `ldb scan --hex` prints `0x : 0x..`, see
/// `empty_user_key_is_accepted_by_rocksdb`), so vouch must write it correctly too.
fn user_key(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(key_byte(), 0..max)
}

/// Values of 0..300 bytes: either random (incompressible, so blocks stay uncompressed) or a
/// short repeated pattern (compressible, so snappy/zstd blocks are really compressed).
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        (0usize..300, prop::collection::vec(any::<u8>(), 1..6)).prop_map(|(n, pat)| pat
            .iter()
            .cycle()
            .take(n)
            .copied()
            .collect()),
    ]
}

/// 1..600 plain entries, sorted and unique.
fn plain_entries() -> impl Strategy<Value = Vec<Entry>> {
    prop::collection::btree_map(user_key(40), value(), 1..600).prop_map(|m| m.into_iter().collect())
}

/// 1..600 MVCC entries: MVCC-encoded keys (several versions of the same user key, timestamps
/// at the extremes) with MVCC values, about a fifth of them tombstones.
fn mvcc_entries() -> impl Strategy<Value = Vec<Entry>> {
    let wall = prop::sample::select(vec![0u64, 1, 2, 1_700_000_000_000_000_000, u64::MAX]);
    let logical = prop::sample::select(vec![0u32, 1, u32::MAX]);
    let payload = prop_oneof![1 => Just(None), 4 => value().prop_map(Some)];
    prop::collection::vec((user_key(26), wall, logical, payload), 1..600).prop_map(|versions| {
        let mut m = BTreeMap::new();
        for (user, wall, logical, payload) in versions {
            let k = mvcc::key(&user, Timestamp::new(wall, logical));
            let v = mvcc::value(&k, payload.as_deref());
            m.insert(k, v);
        }
        m.into_iter().collect()
    })
}

/// Cases per (compression, MVCC) combination; six combinations make 24 cases in all.
const CASES: u32 = 4;

fn rocksdb_reads_random_files(compression: Compression, mvcc_mode: bool) {
    let mut runner = TestRunner::new(Config {
        // PROPTEST_CASES overrides, for longer runs.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(CASES),
        // Each case runs four tool processes; keep shrinking bounded.
        max_shrink_iters: 200,
        ..Config::default()
    });
    let entries = if mvcc_mode {
        mvcc_entries().boxed()
    } else {
        plain_entries().boxed()
    };
    let dir = tempfile::tempdir().unwrap();
    let result = runner.run(&(entries, 64usize..8192), |(entries, block_size)| {
        let opts = WriterOptions {
            block_size,
            compression,
            mvcc: mvcc_mode,
            ..WriterOptions::default()
        };
        let path = write_file(dir.path(), "random.sst", &entries, opts);
        let bytes = std::fs::read(&path).unwrap();
        assert_entries_eq(&vouch_read(&bytes), &entries, "vouch's own reader");
        assert_rocksdb_reads(&path, &entries);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{compression:?}, mvcc={mvcc_mode}: {e}");
    }
}

#[test]
fn rocksdb_reads_random_plain_uncompressed() {
    rocksdb_reads_random_files(Compression::None, false);
}

#[test]
fn rocksdb_reads_random_plain_snappy() {
    rocksdb_reads_random_files(Compression::Snappy, false);
}

#[test]
fn rocksdb_reads_random_plain_zstd() {
    rocksdb_reads_random_files(Compression::Zstd, false);
}

#[test]
fn rocksdb_reads_random_mvcc_uncompressed() {
    rocksdb_reads_random_files(Compression::None, true);
}

#[test]
fn rocksdb_reads_random_mvcc_snappy() {
    rocksdb_reads_random_files(Compression::Snappy, true);
}

#[test]
fn rocksdb_reads_random_mvcc_zstd() {
    rocksdb_reads_random_files(Compression::Zstd, true);
}

/// Pins down the fact the key strategy relies on: RocksDB 7.8.3 reads, verifies and
/// ingests a file whose first (or only) user key is empty.
#[test]
fn empty_user_key_is_accepted_by_rocksdb() {
    let dir = tempfile::tempdir().unwrap();
    let only = vec![(Vec::new(), Vec::new())];
    let path = write_file(
        dir.path(),
        "only-empty.sst",
        &only,
        WriterOptions::default(),
    );
    assert_rocksdb_reads(&path, &only);
    let with_others = vec![
        (Vec::new(), b"x".to_vec()),
        (vec![0], Vec::new()),
        (b"a".to_vec(), b"y".to_vec()),
    ];
    // block_size 1: every entry in its own data block, so the empty key is a whole block
    // and its separator is an empty user key.
    let opts = WriterOptions {
        block_size: 1,
        ..WriterOptions::default()
    };
    let path = write_file(dir.path(), "empty-first.sst", &with_others, opts);
    assert_eq!(layout(&std::fs::read(&path).unwrap()).data.len(), 3);
    assert_rocksdb_reads(&path, &with_others);
}

/// The random tests may keep blocks uncompressed when compression does not pay; this one
/// makes sure RocksDB reads files whose every data block is snappy- or zstd-compressed.
#[test]
fn rocksdb_reads_compressed_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<Entry> = (0..500u32)
        .map(|i| {
            let k = format!("/table/52/index/1/{i:08}").into_bytes();
            let v = format!(
                "{{\"id\":{i},\"name\":\"customer {}\",\"balance\":{}}}",
                i % 17,
                i * 31
            )
            .repeat(1 + (i % 3) as usize)
            .into_bytes();
            (k, v)
        })
        .collect();
    for (compression, type_byte) in [(Compression::Snappy, 1u8), (Compression::Zstd, 7)] {
        for block_size in [256usize, 4096] {
            let opts = WriterOptions {
                block_size,
                compression,
                ..WriterOptions::default()
            };
            let path = write_file(
                dir.path(),
                &format!("{compression:?}-{block_size}.sst"),
                &entries,
                opts,
            );
            let l = layout(&std::fs::read(&path).unwrap());
            assert!(
                l.data.len() > 1,
                "{compression:?}: want several data blocks"
            );
            for (i, b) in l.data.iter().enumerate() {
                assert_eq!(
                    b.compression, type_byte,
                    "{compression:?} block_size {block_size}: data block {i}"
                );
            }
            assert_rocksdb_reads(&path, &entries);
        }
    }
}

/// One entry per data block, and a restart point at every entry: the index is as large as
/// it gets relative to the data.
#[test]
fn rocksdb_reads_one_entry_per_block() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<Entry> = (0..300u32)
        .map(|i| {
            (
                format!("k{:05}", i * 7).into_bytes(),
                vec![(i % 251) as u8; (i % 9) as usize],
            )
        })
        .collect();
    let opts = WriterOptions {
        block_size: 1,
        restart_interval: 1,
        ..WriterOptions::default()
    };
    let path = write_file(dir.path(), "tiny-blocks.sst", &entries, opts);
    assert_eq!(
        layout(&std::fs::read(&path).unwrap()).data.len(),
        entries.len()
    );
    assert_rocksdb_reads(&path, &entries);
}

/// The oracle itself: `rocksdb_verify` must fail on a file with a damaged data block, which
/// `sst_dump` reports only on stderr while still exiting 0 and not printing `The file is ok`
/// (checked here so a change in the tool's behaviour cannot silently weaken every test
/// above), and `ldb` ingests such a file but fails to scan it.
#[test]
fn rocksdb_oracle_rejects_a_damaged_data_block() {
    let bad = testdata("golden/corrupt/data-flip.sst");
    let out = std::process::Command::new(common::sst_dump_tool())
        .arg(format!("--file={}", bad.display()))
        .args(["--command=verify", "--verify_checksum"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sst_dump 7.8.3 exits 0 on a data block checksum error"
    );
    assert!(
        text(&out.stderr).contains("block checksum mismatch"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stdout).contains("The file is ok"),
        "{}",
        text(&out.stdout)
    );
    let verify = std::panic::catch_unwind(|| rocksdb_verify(&bad));
    assert!(verify.is_err(), "rocksdb_verify accepted {}", bad.display());
    let scan = std::panic::catch_unwind(|| ldb_ingest_and_scan(&bad));
    assert!(
        scan.is_err(),
        "ldb ingest + scan accepted {}",
        bad.display()
    );
    rocksdb_verify(&testdata("golden/small.sst"));
}

// ---- (b) files RocksDB wrote, read by vouch -------------------------------------------

#[test]
fn vouch_reads_rocksdb_reference_files() {
    for name in ["plain", "zstd", "small"] {
        let sst = testdata(&format!("rocksdb/{name}.sst"));
        let bytes = std::fs::read(&sst).unwrap_or_else(|e| panic!("{}: {e}", sst.display()));
        let committed = parse_sst_dump_scan(
            &std::fs::read_to_string(testdata(&format!("rocksdb/{name}.sst_dump.txt"))).unwrap(),
        );
        let written = jsonl_to_entries(
            &std::fs::read_to_string(testdata(&format!("rocksdb/{name}.entries.jsonl"))).unwrap(),
        );
        assert!(
            !committed.is_empty(),
            "{name}: no entries in the committed sst_dump output"
        );
        assert_entries_eq(
            &committed,
            &written,
            &format!("{name}: committed sst_dump vs entries.jsonl"),
        );

        // The library reader.
        let got = vouch_read(&bytes);
        assert_entries_eq(
            &got,
            &committed,
            &format!("{name}: vouch reader vs committed sst_dump"),
        );
        // What sst_dump prints today.
        let now = sst_dump_scan(&sst);
        assert_entries_eq(&got, &now, &format!("{name}: vouch reader vs sst_dump now"));
        rocksdb_verify(&sst);

        // The CLI.
        let out = vouch(["sst".as_ref(), "dump".as_ref(), sst.as_os_str()]);
        assert!(
            out.status.success(),
            "{name}: vouch sst dump: {}",
            text(&out.stderr)
        );
        assert_entries_eq(
            &jsonl_to_entries(&text(&out.stdout)),
            &committed,
            &format!("{name}: vouch sst dump"),
        );
        let out = vouch(["sst".as_ref(), "check".as_ref(), sst.as_os_str()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: vouch sst check: {}",
            text(&out.stderr)
        );
    }
}

/// ldb agrees with sst_dump on RocksDB's own files, which checks the ldb helper's parsing
/// on 3000 entries of awkward keys and values.
#[test]
fn ldb_reads_rocksdb_reference_files() {
    for name in ["plain", "zstd"] {
        let sst = testdata(&format!("rocksdb/{name}.sst"));
        let committed = parse_sst_dump_scan(
            &std::fs::read_to_string(testdata(&format!("rocksdb/{name}.sst_dump.txt"))).unwrap(),
        );
        assert_entries_eq(
            &ldb_ingest_and_scan(&sst),
            &committed,
            &format!("{name}: ldb"),
        );
    }
}

// ---- (c) golden files vouch wrote ------------------------------------------------------

#[test]
fn golden_files_pass_rocksdb_checks() {
    let dir = testdata("golden");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sst"))
        .collect();
    names.sort();
    for must in ["small.sst", "mvcc.sst"] {
        assert!(
            names.iter().any(|n| n == must),
            "testdata/golden/{must} is missing (have {names:?})"
        );
    }
    for name in &names {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).unwrap();
        let entries = vouch_read(&bytes);
        let dump = dir.join(name.replace(".sst", ".dump.jsonl"));
        let dumped = jsonl_to_entries(
            &std::fs::read_to_string(&dump).unwrap_or_else(|e| panic!("{}: {e}", dump.display())),
        );
        assert_entries_eq(&entries, &dumped, &format!("{name} vs its dump"));
        assert_rocksdb_reads(&path, &entries);
    }
}
