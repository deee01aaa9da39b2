//! SST writer/reader: oracle tests against a BTreeMap, RocksDB-written reference files,
//! exact errors for every truncation and every byte flip of a golden file.

mod support;

use std::collections::BTreeMap;

use support::testdata;

use proptest::prelude::*;
use vouch_format::sst::{write_to_vec, Compression, SstReader, WriterOptions};
use vouch_format::Error;

fn tiny(compression: Compression) -> WriterOptions {
    WriterOptions {
        block_size: 64,
        restart_interval: 3,
        compression,
        mvcc: false,
    }
}

fn write_map(m: &BTreeMap<Vec<u8>, Vec<u8>>, opts: WriterOptions) -> Vec<u8> {
    write_to_vec(m.iter().map(|(k, v)| (k.as_slice(), v.as_slice())), opts).unwrap()
}

fn read_all(bytes: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let r = SstReader::open(bytes).unwrap();
    r.entries().collect::<Result<Vec<_>, _>>().unwrap()
}

fn compression() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        Just(Compression::Snappy),
        Just(Compression::Zstd)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn matches_btreemap(
        m in prop::collection::btree_map(prop::collection::vec(0u8..4, 0..12), prop::collection::vec(any::<u8>(), 0..40), 1..200),
        probes in prop::collection::vec(prop::collection::vec(0u8..4, 0..12), 0..30),
        c in compression(),
    ) {
        let bytes = write_map(&m, tiny(c));
        let r = SstReader::open(bytes.as_slice()).unwrap();
        let stats = r.verify_scan().unwrap();
        prop_assert_eq!(stats.entries, m.len() as u64);
        let all: Vec<_> = r.entries().collect::<Result<_, _>>().unwrap();
        let want: Vec<_> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        prop_assert_eq!(&all, &want);
        for p in &probes {
            prop_assert_eq!(r.get(p).unwrap(), m.get(p).cloned());
        }
        for w in probes.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            let got: Vec<_> = {
                let mut it = r.range(Some(a), Some(b)).unwrap();
                let mut v = Vec::new();
                while let Some((k, val)) = it.next_entry().unwrap() { v.push((k.to_vec(), val.to_vec())); }
                v
            };
            let want: Vec<_> = if a <= b {
                m.range(a.clone()..b.clone()).map(|(k, v)| (k.clone(), v.clone())).collect()
            } else { Vec::new() };
            prop_assert_eq!(got, want);
        }
    }
}

#[test]
fn writer_rejects_unsorted_and_duplicates() {
    let e = write_to_vec(
        [(&b"b"[..], &b""[..]), (b"a", b"")],
        WriterOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "entry #1: key 61 is not greater than the previous key 62"
    );
    let e = write_to_vec(
        [(&b"a"[..], &b""[..]), (b"a", b"")],
        WriterOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::DuplicateKey { index: 1, .. }), "{e}");
    let e = write_to_vec(std::iter::empty(), WriterOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Usage(_)));
}

fn jsonl_entries(p: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    support::jsonl_entries(&testdata(p))
}

#[test]
fn reads_rocksdb_reference_files() {
    for name in ["plain", "zstd", "small"] {
        let bytes = std::fs::read(testdata(&format!("rocksdb/{name}.sst"))).unwrap();
        let want = jsonl_entries(&format!("rocksdb/{name}.entries.jsonl"));
        let r = SstReader::open(bytes.as_slice()).unwrap();
        let stats = r.verify_scan().unwrap();
        assert_eq!(stats.entries, want.len() as u64, "{name}");
        assert_eq!(read_all(&bytes), want, "{name}");
        // Seek to every 7th key and to a key just after it.
        for (k, v) in want.iter().step_by(7) {
            assert_eq!(r.get(k).unwrap().as_ref(), Some(v), "{name}");
        }
    }
}

#[test]
fn one_bounds_check_for_every_block_source() {
    use vouch_format::sst::{check_read_range, BlockSource};
    assert_eq!(check_read_range(10, 0, 10), Ok(10));
    assert_eq!(check_read_range(10, 4, 0), Ok(4));
    assert_eq!(check_read_range(10, 10, 0), Ok(10));
    let truncated = |offset: u64, needed: u64, available: u64| {
        Err(vouch_format::Error::Truncated {
            field: "block",
            offset,
            needed,
            available,
        })
    };
    assert_eq!(check_read_range(10, 8, 3), truncated(8, 3, 2));
    assert_eq!(check_read_range(10, 12, 1), truncated(12, 1, 0));
    assert_eq!(check_read_range(10, u64::MAX, 2), truncated(u64::MAX, 2, 0));
    // The slice source answers exactly the same.
    let bytes = [0u8; 10];
    assert_eq!(
        bytes[..].read_at(8, 3).map(|c| c.len()),
        truncated(8, 3, 2).map(|_: u64| 0)
    );
    assert_eq!(bytes[..].read_at(2, 3).map(|c| c.len()), Ok(3));
}

/// A scan fed by another scan's blocks, decoding elsewhere (what verify's one-pass merge
/// runs beside each file's checking scan): the same entries in the same order, no MVCC
/// decoding of its own, and it still stops on blocks out of order.
#[test]
fn a_scan_decoding_elsewhere_orders_the_fed_blocks_only() {
    use vouch_format::mvcc::{self, Timestamp};
    let mut m = BTreeMap::new();
    for i in 0u32..200 {
        let k = mvcc::key(
            format!("key{i:04}").as_bytes(),
            Timestamp::new(10 + u64::from(i), 0),
        );
        let payload = (i % 7 != 0).then(|| vec![b'a' + (i % 26) as u8; (i % 50) as usize]);
        let v = mvcc::value(&k, payload.as_deref());
        m.insert(k, v);
    }
    let opts = WriterOptions {
        mvcc: true,
        ..tiny(Compression::Zstd)
    };
    let file = write_map(&m, opts);
    let r = SstReader::open(file.as_slice()).unwrap();
    // The checking scan hands each block on; the fed scan takes them.
    let blocks = std::cell::RefCell::new(Vec::new());
    let mut checking = r
        .verified_scan()
        .unwrap()
        .with_block_hook(Box::new(|i, b| blocks.borrow_mut().push((i, b.to_vec()))));
    let mut checked = Vec::new();
    while checking.advance().unwrap() {
        let e = checking.entry();
        assert!(e.mvcc.is_some());
        checked.push((e.key.to_vec(), e.value.to_vec()));
    }
    checking.finish().unwrap();
    let fed: Vec<(usize, Vec<u8>)> = blocks.into_inner();
    assert!(fed.len() > 10, "{} blocks", fed.len());
    let scan_fed = |fed: Vec<(usize, Vec<u8>)>| {
        let mut it = fed.into_iter();
        let feed = Box::new(move |i: usize| {
            let (j, b) = it.next().unwrap();
            assert_eq!(i, j);
            Ok(b)
        });
        let mut scan = r
            .verified_scan()
            .unwrap()
            .with_feed(feed)
            .decoded_elsewhere();
        let mut got = Vec::new();
        loop {
            match scan.advance() {
                Ok(true) => {
                    let e = scan.entry();
                    assert!(e.mvcc.is_none());
                    got.push((e.key.to_vec(), e.value.to_vec()));
                }
                Ok(false) => return (got, scan.finish().map(|_| ())),
                Err(e) => return (got, Err(e)),
            }
        }
    };
    let (got, end) = scan_fed(fed.clone());
    assert_eq!(end, Ok(()));
    assert_eq!(got, checked);
    assert_eq!(got.len(), 200);
    // Two blocks swapped: the fed scan still refuses the order.
    let mut swapped = fed.clone();
    let (a, b) = (swapped[1].1.clone(), swapped[2].1.clone());
    swapped[1].1 = b;
    swapped[2].1 = a;
    let (_, end) = scan_fed(swapped);
    assert!(
        matches!(
            end,
            Err(Error::KeyOrder { .. } | Error::IndexMismatch { .. })
        ),
        "{end:?}"
    );
}
