//! Systematic corruption of small SSTs: every truncation and every single-bit flip must be
//! an error (never `Ok`, never a panic), and the error must be the one for the region the
//! damage is in: a flip inside data block `i` or its trailer is
//! `BlockChecksum { block: Data(i), offset: <block offset>, stored, computed }` with the
//! exact CRCs, a flip in the footer magic is `BadMagic`, and so on.
//!
//! The region map is built from the footer and the index and metaindex blocks by a small
//! decoder in this file, independent of the reader under test. On failure the test prints a
//! table of (region, error variant) counts and the first mismatches.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use vouch_format::crc;
use vouch_format::sst::{
    write_to_vec, Compression, SstReader, WriterOptions, FOOTER_LEN, MAGIC, TRAILER_LEN,
};
use vouch_format::{BlockKind, Error};

// ---- samples ----------------------------------------------------------------------------

type Entry = (Vec<u8>, Vec<u8>);

/// Keys `k` + one counter byte, so consecutive internal keys always share exactly one byte
/// (restart entries none), and fixed-size values: every data block holds the same number of
/// entries and has the same size, which the block-swap test needs.
fn sample_entries(n: u8, value: impl Fn(u8) -> Vec<u8>) -> Vec<Entry> {
    (0..n).map(|i| (vec![b'k', i], value(i))).collect()
}

fn sample(compression: Compression, value: impl Fn(u8) -> Vec<u8>) -> (Vec<u8>, Vec<Entry>) {
    let entries = sample_entries(21, value);
    let opts = WriterOptions {
        block_size: 150,
        restart_interval: 3,
        compression,
        mvcc: false,
    };
    let bytes = write_to_vec(
        entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
        opts,
    )
    .unwrap();
    (bytes, entries)
}

/// The golden sample: 21 entries of 8-byte values, 3 uncompressed data blocks of 7 entries.
fn plain_sample() -> (Vec<u8>, Vec<Entry>) {
    sample(Compression::None, |i| vec![i.wrapping_mul(37) ^ 0x5a; 8])
}

/// Compressible values, so the data blocks really are compressed.
fn compressible_value(i: u8) -> Vec<u8> {
    format!("value {} ", i % 3).repeat(6).into_bytes()
}

// ---- an independent decoder of the layout -----------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    offset: usize,
    size: usize,
}

impl Span {
    fn trailer(&self) -> usize {
        self.offset + self.size
    }
    fn end(&self) -> usize {
        self.offset + self.size + TRAILER_LEN
    }
}

struct Layout {
    data: Vec<Span>,
    index: Span,
    properties: Span,
    metaindex: Span,
    footer: usize,
    /// End of the index handle in the footer (start of the padding).
    handles_end: usize,
    /// End of the metaindex handle in the footer (start of the index handle).
    meta_handle_end: usize,
}

fn varint(b: &[u8], pos: &mut usize) -> usize {
    let mut v = 0usize;
    let mut shift = 0;
    loop {
        let byte = b[*pos];
        *pos += 1;
        v |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return v;
        }
        shift += 7;
    }
}

/// (key, value) pairs of an uncompressed block (contents without trailer).
fn block_entries(c: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let n = c.len();
    let restarts = u32::from_le_bytes(c[n - 4..].try_into().unwrap()) as usize;
    let end = n - 4 - 4 * restarts;
    let (mut pos, mut key, mut out) = (0, Vec::new(), Vec::new());
    while pos < end {
        let shared = varint(c, &mut pos);
        let non_shared = varint(c, &mut pos);
        let vlen = varint(c, &mut pos);
        key.truncate(shared);
        key.extend_from_slice(&c[pos..pos + non_shared]);
        pos += non_shared;
        out.push((key.clone(), c[pos..pos + vlen].to_vec()));
        pos += vlen;
    }
    out
}

fn span_of(handle: &[u8]) -> Span {
    let mut pos = 0;
    let offset = varint(handle, &mut pos);
    let size = varint(handle, &mut pos);
    assert_eq!(pos, handle.len(), "trailing bytes after a block handle");
    Span { offset, size }
}

fn layout(file: &[u8]) -> Layout {
    let footer = file.len() - FOOTER_LEN;
    let mut pos = footer + 1;
    let metaindex = Span {
        offset: varint(file, &mut pos),
        size: varint(file, &mut pos),
    };
    let meta_handle_end = pos;
    let index = Span {
        offset: varint(file, &mut pos),
        size: varint(file, &mut pos),
    };
    let handles_end = pos;
    let contents = |s: Span| {
        assert_eq!(
            file[s.trailer()],
            0,
            "this decoder needs an uncompressed index and metaindex"
        );
        &file[s.offset..s.trailer()]
    };
    let data = block_entries(contents(index))
        .iter()
        .map(|(_, v)| span_of(v))
        .collect();
    let props = block_entries(contents(metaindex))
        .into_iter()
        .find(|(k, _)| k.as_slice() == b"rocksdb.properties")
        .expect("rocksdb.properties in the metaindex");
    let l = Layout {
        data,
        index,
        properties: span_of(&props.1),
        metaindex,
        footer,
        handles_end,
        meta_handle_end,
    };
    // The blocks tile the file in this order, so every byte has exactly one region.
    let mut at = 0;
    for s in l.data.iter().chain([&l.index, &l.properties, &l.metaindex]) {
        assert_eq!(s.offset, at, "blocks must tile the file");
        at = s.end();
    }
    assert_eq!(at, footer);
    l
}

// ---- regions ----------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Region {
    Data(usize),
    DataTrailer(usize),
    Index,
    IndexTrailer,
    Properties,
    PropertiesTrailer,
    Metaindex,
    MetaindexTrailer,
    FooterChecksumType,
    FooterMetaindexHandle,
    FooterIndexHandle,
    FooterPadding,
    FooterVersion,
    FooterMagic,
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Region::Data(i) => write!(f, "data block #{i}"),
            Region::DataTrailer(i) => write!(f, "data block #{i} trailer"),
            other => write!(f, "{other:?}"),
        }
    }
}

impl Layout {
    fn region(&self, at: usize) -> Region {
        let within = |s: &Span| at >= s.offset && at < s.end();
        let pick =
            |s: &Span, body: Region, trailer: Region| if at < s.trailer() { body } else { trailer };
        if let Some(i) = self.data.iter().position(within) {
            return pick(&self.data[i], Region::Data(i), Region::DataTrailer(i));
        }
        if within(&self.index) {
            return pick(&self.index, Region::Index, Region::IndexTrailer);
        }
        if within(&self.properties) {
            return pick(
                &self.properties,
                Region::Properties,
                Region::PropertiesTrailer,
            );
        }
        if within(&self.metaindex) {
            return pick(&self.metaindex, Region::Metaindex, Region::MetaindexTrailer);
        }
        let len = self.footer + FOOTER_LEN;
        match at {
            a if a == self.footer => Region::FooterChecksumType,
            a if a < self.meta_handle_end => Region::FooterMetaindexHandle,
            a if a < self.handles_end => Region::FooterIndexHandle,
            a if a < len - 12 => Region::FooterPadding,
            a if a < len - 8 => Region::FooterVersion,
            a if a < len => Region::FooterMagic,
            _ => panic!("offset {at} is past the end"),
        }
    }

    /// The block and its `BlockKind` for a region inside a block or its trailer.
    fn block(&self, r: Region) -> Option<(Span, BlockKind)> {
        Some(match r {
            Region::Data(i) | Region::DataTrailer(i) => (self.data[i], BlockKind::Data(i as u64)),
            Region::Index | Region::IndexTrailer => (self.index, BlockKind::Index),
            Region::Properties | Region::PropertiesTrailer => {
                (self.properties, BlockKind::Properties)
            }
            Region::Metaindex | Region::MetaindexTrailer => (self.metaindex, BlockKind::Metaindex),
            _ => return None,
        })
    }
}

// ---- the expected error -----------------------------------------------------------------

/// What a damaged file must give.
enum Want {
    /// Exactly this error.
    Exact(Error),
    /// An error satisfying this predicate (described for messages).
    Matches(&'static str, fn(&Error) -> bool),
}

impl Want {
    fn accepts(&self, e: &Error) -> bool {
        match self {
            Want::Exact(w) => w == e,
            Want::Matches(_, f) => f(e),
        }
    }
}

impl fmt::Display for Want {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Want::Exact(e) => write!(f, "{e:?}"),
            Want::Matches(d, _) => f.write_str(d),
        }
    }
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes(b.try_into().unwrap())
}

fn le64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().unwrap())
}

/// The error a flipped file `bad` (damaged at `at`) must give.
fn want_for_flip(l: &Layout, bad: &[u8], at: usize) -> Want {
    let len = bad.len();
    let r = l.region(at);
    if let Some((s, kind)) = l.block(r) {
        // The trailer's CRC, as stored, against the CRC of the stored bytes and type byte.
        let t = s.trailer();
        let stored = crc::unmask(le32(&bad[t + 1..t + 5]));
        let computed = crc::crc32c_extend(crc::crc32c(&bad[s.offset..t]), &bad[t..t + 1]);
        return Want::Exact(Error::BlockChecksum {
            block: kind,
            offset: s.offset as u64,
            stored,
            computed,
        });
    }
    match r {
        Region::FooterChecksumType => Want::Exact(Error::UnsupportedChecksumType {
            offset: l.footer as u64,
            found: bad[at],
        }),
        Region::FooterVersion => Want::Exact(Error::UnsupportedFormatVersion {
            offset: (len - 12) as u64,
            found: le32(&bad[len - 12..len - 8]),
        }),
        Region::FooterMagic => Want::Exact(Error::BadMagic {
            offset: (len - 8) as u64,
            found: le64(&bad[len - 8..]),
            expected: MAGIC,
        }),
        Region::FooterPadding => Want::Exact(Error::Invalid {
            field: "footer padding",
            offset: at as u64,
            reason: "padding after the block handles must be zero".into(),
        }),
        // A damaged handle points at the wrong bytes (a checksum mismatch, an out-of-bounds
        // handle, or blocks that no longer tile the file) or, when a varint's continuation
        // bit flipped, shifts the handles so that the footer padding is not zero or a
        // varint is longer than it needs to be.
        Region::FooterMetaindexHandle => Want::Matches(
            "an error about the metaindex handle or block, or a footer padding/varint error",
            |e| names_block(e, BlockKind::Metaindex) || is_footer_padding(e),
        ),
        Region::FooterIndexHandle => Want::Matches(
            "an error about the index handle or block, or a footer padding/varint error",
            |e| names_block(e, BlockKind::Index) || is_footer_padding(e),
        ),
        _ => unreachable!("block regions handled above"),
    }
}

/// The footer's own shape checks: nonzero padding, or a handle varint not in its shortest
/// form (a flipped continuation bit that leaves the value unchanged).
fn is_footer_padding(e: &Error) -> bool {
    matches!(
        e,
        Error::Invalid {
            field: "footer padding" | "footer block handle",
            ..
        }
    )
}

/// True when `e` is located in a block of `kind`.
fn names_block(e: &Error, kind: BlockKind) -> bool {
    match e {
        Error::BlockChecksum { block, .. }
        | Error::HandleOutOfBounds { block, .. }
        | Error::UnknownCompression { block, .. }
        | Error::Decompress { block, .. }
        | Error::BadBlock { block, .. }
        | Error::KeyOrder { block, .. }
        | Error::IndexMismatch { block, .. } => *block == kind,
        _ => false,
    }
}

/// `BlockChecksum`, `BadMagic`, ... : the variant name, for the table.
fn variant(e: &Error) -> String {
    let d = format!("{e:?}");
    d.split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("?")
        .to_string()
}

// ---- running ----------------------------------------------------------------------------

#[derive(Debug)]
enum Outcome {
    Err(Error),
    Ok,
    Panic(String),
}

/// Opens and fully verifies `bytes`; when it opens, also iterates every entry, which must
/// fail or return exactly `original` (never different data with `Ok`).
fn run(bytes: &[u8], original: &[Entry]) -> (Outcome, Option<String>) {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let verdict = SstReader::open(bytes).and_then(|r| r.verify_scan());
        let iter_problem = match SstReader::open(bytes) {
            Ok(r) => match r.entries().collect::<Result<Vec<_>, _>>() {
                Ok(v) if v != original => Some(format!(
                    "iteration returned {} different entries with Ok",
                    v.len()
                )),
                _ => None,
            },
            Err(_) => None,
        };
        (verdict, iter_problem)
    }));
    match r {
        Ok((Ok(_), p)) => (Outcome::Ok, p),
        Ok((Err(e), p)) => (Outcome::Err(e), p),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            (Outcome::Panic(msg), None)
        }
    }
}

/// Collects outcomes per region and the mismatches, and reports them all at the end.
#[derive(Default)]
struct Report {
    table: BTreeMap<(String, String), u64>,
    problems: Vec<String>,
    checked: u64,
}

impl Report {
    fn record(
        &mut self,
        region: String,
        what: String,
        outcome: &Outcome,
        want: &Want,
        iter_problem: Option<String>,
    ) {
        self.checked += 1;
        let v = match outcome {
            Outcome::Err(e) => variant(e),
            Outcome::Ok => "Ok (UNDETECTED)".into(),
            Outcome::Panic(_) => "PANIC".into(),
        };
        *self.table.entry((region.clone(), v)).or_default() += 1;
        let problem = match (outcome, want) {
            (Outcome::Ok, _) => Some("not detected: verify_scan returned Ok".to_string()),
            (Outcome::Panic(m), _) => Some(format!("reader panicked: {m}")),
            (Outcome::Err(e), w) if !w.accepts(e) => Some(format!("got {e:?}\n      want {w}")),
            _ => None,
        };
        for p in problem.into_iter().chain(iter_problem) {
            self.problems.push(format!("{what} [{region}]: {p}"));
        }
    }

    fn finish(self, name: &str) {
        if self.problems.is_empty() {
            return;
        }
        let mut s = format!(
            "{name}: {} of {} corruptions misbehaved\n\n",
            self.problems.len(),
            self.checked
        );
        s.push_str(&format!(
            "{:<28} {:<28} {:>6}\n",
            "region", "outcome", "count"
        ));
        for ((region, v), n) in &self.table {
            s.push_str(&format!("{region:<28} {v:<28} {n:>6}\n"));
        }
        s.push_str("\nfirst problems:\n");
        for p in self.problems.iter().take(25) {
            s.push_str(&format!("  {p}\n"));
        }
        panic!("{s}");
    }
}

/// Every truncation: shorter than a footer gives `FileTooSmall`, anything longer reads a
/// footer whose last 8 bytes are not the magic (only the whole file ends with it).
fn check_truncations(name: &str, good: &[u8], original: &[Entry], report: &mut Report) {
    for n in 0..good.len() {
        let bad = &good[..n];
        let want = if n < FOOTER_LEN {
            Error::FileTooSmall {
                size: n as u64,
                needed: FOOTER_LEN as u64,
            }
        } else {
            Error::BadMagic {
                offset: (n - 8) as u64,
                found: le64(&bad[n - 8..]),
                expected: MAGIC,
            }
        };
        let region = if n < FOOTER_LEN {
            "truncated < footer"
        } else {
            "truncated >= footer"
        };
        let (o, p) = run(bad, original);
        let want = Want::Exact(want);
        report.record(
            region.into(),
            format!("{name}: truncated to {n} bytes"),
            &o,
            &want,
            p,
        );
    }
}

/// Every single-bit flip at every offset.
fn check_flips(name: &str, good: &[u8], original: &[Entry], report: &mut Report) {
    let l = layout(good);
    let mut bad = good.to_vec();
    for at in 0..good.len() {
        for bit in 0..8 {
            let mask = 1u8 << bit;
            bad[at] ^= mask;
            let want = want_for_flip(&l, &bad, at);
            let (o, p) = run(&bad, original);
            let what = format!("{name}: byte {at} xor {mask:#04x}");
            report.record(l.region(at).to_string(), what, &o, &want, p);
            bad[at] ^= mask;
        }
    }
}

#[test]
fn sample_is_sound_and_has_three_equal_data_blocks() {
    let (good, entries) = plain_sample();
    let r = SstReader::open(good.as_slice()).unwrap();
    assert_eq!(r.verify_scan().unwrap().entries, entries.len() as u64);
    let l = layout(&good);
    assert_eq!(l.data.len(), 3, "data blocks {:?}", l.data);
    assert!(
        l.data.iter().all(|s| s.size == l.data[0].size),
        "{:?}",
        l.data
    );
    assert!(good.len() < 2048, "sample is {} bytes", good.len());
}

#[test]
fn every_truncation_and_bit_flip_gives_the_error_for_its_region() {
    let (good, entries) = plain_sample();
    let mut report = Report::default();
    check_truncations("plain", &good, &entries, &mut report);
    check_flips("plain", &good, &entries, &mut report);
    assert_eq!(report.checked, 9 * good.len() as u64);
    report.finish("plain");
}

/// A sample whose every data block is compressed with `compression` (trailer byte
/// `type_byte`), put through every truncation and bit flip.
fn compressed(compression: Compression, type_byte: u8) {
    let (good, entries) = sample(compression, compressible_value);
    let l = layout(&good);
    assert!(
        l.data.len() >= 2,
        "{compression:?}: {} data blocks",
        l.data.len()
    );
    assert!(
        l.data.iter().all(|s| good[s.trailer()] == type_byte),
        "{compression:?}: every data block should be compressed"
    );
    SstReader::open(good.as_slice())
        .unwrap()
        .verify_scan()
        .unwrap();
    let name = format!("{compression:?}");
    let mut report = Report::default();
    // Always an error, never Ok, never a panic. The trailer CRC covers the stored
    // (compressed) bytes and is checked before decompressing, so each region gives the
    // same exact error as in the uncompressed sample, and that is asserted too.
    check_truncations(&name, &good, &entries, &mut report);
    check_flips(&name, &good, &entries, &mut report);
    report.finish(&name);
}

#[test]
fn zstd_every_truncation_and_bit_flip_gives_the_error_for_its_region() {
    compressed(Compression::Zstd, 7);
}

#[test]
fn snappy_every_truncation_and_bit_flip_gives_the_error_for_its_region() {
    compressed(Compression::Snappy, 1);
}

/// Two data blocks swapped with their trailers: every CRC is right, only the order of the
/// keys betrays it.
#[test]
fn swapped_data_blocks_are_detected() {
    let (good, _) = plain_sample();
    let l = layout(&good);
    let (a, b) = (l.data[0], l.data[1]);
    assert_eq!(a.size, b.size);
    let mut bad = good.clone();
    let (ra, rb) = (a.offset..a.end(), b.offset..b.end());
    let block_a = good[ra.clone()].to_vec();
    bad.copy_within(rb.clone(), ra.start);
    bad[rb].copy_from_slice(&block_a);
    let e = SstReader::open(bad.as_slice())
        .and_then(|r| r.verify_scan())
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::IndexMismatch {
                block: BlockKind::Data(0),
                offset: 0,
                ..
            }
        ),
        "swapping data blocks 0 and 1 gave {e:?}"
    );

    for (i, j) in [(1usize, 2usize), (0, 2)] {
        let (a, b) = (l.data[i], l.data[j]);
        let mut bad = good.clone();
        let block_a = good[a.offset..a.end()].to_vec();
        bad.copy_within(b.offset..b.end(), a.offset);
        bad[b.offset..b.end()].copy_from_slice(&block_a);
        let e = SstReader::open(bad.as_slice())
            .and_then(|r| r.verify_scan())
            .unwrap_err();
        assert!(
            matches!(e, Error::IndexMismatch { .. } | Error::KeyOrder { .. }),
            "swapping data blocks {i} and {j} gave {e:?}"
        );
    }
}
