//! Fuzz entry points, shared by the cargo-fuzz targets in `fuzz/fuzz_targets/` (each a
//! one-line call into this module) and by `tests/fuzz_regressions.rs`, which replays every
//! seed and every saved crash through the same functions.
//!
//! None of these functions panics on bad input: bad input is an `Err` somewhere inside and
//! is simply dropped. They panic (through `assert!`) only when an *oracle* is violated:
//!
//! - a decoder accepts bytes that do not re-encode to themselves (keys, rows, MVCC);
//! - a file passes `verify_scan` but cannot be iterated, iterates to other entries than the
//!   scan saw, or `get` / `range` disagree with the iteration;
//! - a reader over a borrowed slice and one over copied reads disagree in any way;
//! - entries written and read back differ, or the verified-scan counts differ from what
//!   the writer reported, or writing the read entries again gives other bytes;
//! - a flipped byte or a truncation of a written file reads back as the same entries.
//!
//! Not part of the public API: names and behaviour change with the fuzz targets.

// Oracle violations are the one place `format` panics on purpose.
#![allow(clippy::panic)]

use std::borrow::Cow;

use crate::cursor::Cursor;
use crate::error::{Error, Result};
use crate::sst::{
    block_trailer, BlockHandle, BlockSource, Compression, Footer, ScanStats, SstReader, SstWriter,
    WriterOptions, FOOTER_LEN, TRAILER_LEN,
};
use crate::{keys, mvcc, row};

/// An owned `(user key, value)` pair.
type Entry = (Vec<u8>, Vec<u8>);

// ---- SST: open and scan arbitrary bytes -------------------------------------------------

/// Opens `data` as an SST and reads it every way the reader offers, checking that the ways
/// agree (see the module docs). Then does the same with every block checksum that the
/// footer, metaindex and index point at recomputed, so that mutations inside blocks get
/// past the CRC32C and reach the block, restart, entry and property parsers.
pub fn sst_open_scan(data: &[u8]) {
    check_file(data);
    if let Some(repaired) = with_repaired_checksums(data) {
        check_file(&repaired);
    }
}

/// A source that hands out copies, so the reader's owned-buffer paths run too.
#[derive(Debug)]
struct Copying<'a>(&'a [u8]);

impl BlockSource for Copying<'_> {
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>> {
        self.0
            .read_at(offset, len)
            .map(|c| Cow::Owned(c.into_owned()))
    }
}

/// Everything a reader says about a file, for comparing two readers.
#[derive(Debug, PartialEq)]
struct Outcome {
    iterated: Result<Vec<Entry>>,
    verified: Result<(ScanStats, Vec<Entry>)>,
}

fn outcome<S: BlockSource>(reader: &SstReader<S>) -> Outcome {
    let iterated = reader.entries().collect::<Result<Vec<Entry>>>();
    let mut seen = Vec::new();
    let verified = reader
        .verify_scan_with(|k, v| {
            seen.push((k.to_vec(), v.to_vec()));
            Ok(())
        })
        .map(|stats| (stats, seen));
    Outcome { iterated, verified }
}

/// Reads `data` with a borrowing and a copying reader; returns the scan statistics and the
/// entries if the file verifies. Asserts every oracle that holds for any input.
fn check_file(data: &[u8]) -> Option<(ScanStats, Vec<Entry>)> {
    let (reader, copying) = match (SstReader::open(data), SstReader::open(Copying(data))) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(a), Err(b)) => {
            assert_eq!(
                a, b,
                "borrowed and copying sources fail differently on open"
            );
            return None;
        }
        (a, b) => panic!(
            "borrowed and copying sources disagree on open: {:?} vs {:?}",
            a.err(),
            b.err()
        ),
    };
    let got = outcome(&reader);
    assert_eq!(
        got,
        outcome(&copying),
        "borrowed and copying sources read differently"
    );
    let (stats, entries) = match got.verified {
        Ok(v) => v,
        Err(_) => {
            poke_lookups(&reader);
            return None;
        }
    };
    match got.iterated {
        Ok(iterated) => assert!(
            iterated == entries,
            "iteration and verify_scan saw different entries"
        ),
        Err(e) => panic!("verify_scan accepted the file but iterating it failed: {e}"),
    }
    assert_eq!(
        stats.entries,
        entries.len() as u64,
        "verify_scan miscounted entries"
    );
    assert_eq!(
        reader.num_entries(),
        stats.entries,
        "entry property disagrees with scan"
    );
    assert_eq!(
        reader.data_blocks() as u64,
        stats.data_blocks,
        "index disagrees with scan"
    );
    assert_eq!(
        stats.file_size,
        data.len() as u64,
        "scan reports another file size"
    );
    check_lookups(&reader, &entries);
    Some((stats, entries))
}

/// For a file that verifies: `get` finds every key and nothing between keys, and ranges
/// between sampled keys give exactly the entries between them.
fn check_lookups<S: BlockSource>(reader: &SstReader<S>, entries: &[Entry]) {
    for (i, (k, v)) in entries.iter().enumerate() {
        assert_eq!(
            reader.get(k),
            Ok(Some(v.clone())),
            "get misses a stored key"
        );
        // k + 0x00 is the smallest key after k: absent unless it is the next key.
        let mut after = k.clone();
        after.push(0);
        if entries.get(i + 1).map(|e| &e.0) != Some(&after) {
            assert_eq!(
                reader.get(&after),
                Ok(None),
                "get finds a key that is not stored"
            );
        }
    }
    assert_eq!(
        collect(reader.range(None, None)),
        Ok(entries.to_vec()),
        "full range"
    );
    assert_eq!(
        collect(reader.range(Some(&[]), None)),
        Ok(entries.to_vec()),
        "range from empty key"
    );
    // Bounds: about six entry positions, plus the end. Position i stands for the key of
    // entry i; the end position for "past the last key".
    let n = entries.len();
    let mut points: Vec<usize> = (0..n).step_by((n / 6).max(1)).collect();
    points.push(n);
    let past_end = entries.last().map(|(k, _)| {
        let mut p = k.clone();
        p.push(0);
        p
    });
    let key_at = |i: usize| -> Option<&[u8]> {
        match entries.get(i) {
            Some((k, _)) => Some(k.as_slice()),
            None => past_end.as_deref(),
        }
    };
    for &i in &points {
        for &j in points.iter().filter(|&&j| j >= i) {
            let want = entries.get(i..j).unwrap_or(&[]).to_vec();
            let end = if j == n { None } else { key_at(j) };
            let got = collect(reader.range(key_at(i), end));
            assert_eq!(got, Ok(want), "range [#{i}, #{j}) differs from the scan");
        }
    }
}

/// For a file that does not verify: lookups must still return, whatever they return.
fn poke_lookups<S: BlockSource>(reader: &SstReader<S>) {
    let mut keys: Vec<Vec<u8>> = vec![Vec::new(), vec![0xff; 8]];
    let mut it = reader.iter();
    while let Ok(Some((k, _))) = it.next_entry() {
        if keys.len() >= 18 {
            break;
        }
        keys.push(k.to_vec());
    }
    for k in &keys {
        let _ = reader.get(k);
        if let Ok(mut r) = reader.range(Some(k), None) {
            for _ in 0..4 {
                if !matches!(r.next_entry(), Ok(Some(_))) {
                    break;
                }
            }
        }
    }
}

fn collect<S: BlockSource>(it: Result<crate::sst::SstIter<'_, S>>) -> Result<Vec<Entry>> {
    let mut it = it?;
    let mut out = Vec::new();
    while let Some((k, v)) = it.next_entry()? {
        out.push((k.to_vec(), v.to_vec()));
    }
    Ok(out)
}

/// Recomputes the trailer checksum of every block the footer points at, then of every
/// block the (uncompressed) metaindex and index blocks point at. The fuzzing equivalent of
/// a test-only checksum: the library keeps checking; the harness forges. `None` when the
/// footer does not decode or nothing changed.
fn with_repaired_checksums(data: &[u8]) -> Option<Vec<u8>> {
    let footer_at = data.len().checked_sub(FOOTER_LEN)?;
    let footer = Footer::decode(data.get(footer_at..)?, data.len() as u64).ok()?;
    let mut out = data.to_vec();
    repair(&mut out, footer.metaindex);
    repair(&mut out, footer.index);
    for h in [footer.metaindex, footer.index] {
        let Some(block) = uncompressed_block(&out, h) else {
            continue;
        };
        let handles: Vec<BlockHandle> = block_values(block)
            .into_iter()
            .filter_map(|v| BlockHandle::decode(&mut Cursor::new(v)).ok())
            .collect();
        for h in handles {
            repair(&mut out, h);
        }
    }
    (out != data).then_some(out)
}

fn block_span(h: BlockHandle) -> Option<(usize, usize)> {
    let start = usize::try_from(h.offset).ok()?;
    let end = start.checked_add(usize::try_from(h.size).ok()?)?;
    Some((start, end))
}

fn repair(out: &mut [u8], h: BlockHandle) -> Option<()> {
    let (start, end) = block_span(h)?;
    let trailer = block_trailer(out.get(start..end)?, *out.get(end)?);
    out.get_mut(end..end.checked_add(TRAILER_LEN)?)?
        .copy_from_slice(&trailer);
    Some(())
}

fn uncompressed_block(data: &[u8], h: BlockHandle) -> Option<&[u8]> {
    let (start, end) = block_span(h)?;
    (*data.get(end)? == 0).then_some(())?;
    data.get(start..end)
}

/// The values of a block's entries, as far as they parse (keys are not rebuilt).
fn block_values(block: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let Some(count_at) = block.len().checked_sub(4) else {
        return out;
    };
    let Ok(restarts) = Cursor::new(block.get(count_at..).unwrap_or(&[])).u32_le("restarts") else {
        return out;
    };
    let entries_end = (restarts as usize)
        .checked_mul(4)
        .and_then(|n| count_at.checked_sub(n));
    let mut c = Cursor::new(entries_end.and_then(|e| block.get(..e)).unwrap_or(&[]));
    while !c.is_empty() {
        let parsed = (|| -> Result<&[u8]> {
            c.varint32("shared")?;
            let key_len = c.varint32("key length")?;
            let value_len = c.varint32("value length")?;
            c.take(key_len as usize, "key")?;
            c.take(value_len as usize, "value")
        })();
        match parsed {
            Ok(v) => out.push(v),
            Err(_) => break,
        }
    }
    out
}

// ---- SST: write, read back, corrupt -------------------------------------------------------

/// What [`sst_round_trip`] writes. Made from fuzz bytes by [`SstRoundTripInput::from_bytes`],
/// so that a saved input replays the same way in tests, with or without the `arbitrary`
/// feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SstRoundTripInput {
    /// Entries in input order; may be unsorted and hold duplicate keys.
    pub entries: Vec<Entry>,
    /// Data block size, 16..=16384.
    pub block_size: usize,
    /// Restart interval, 1..=32.
    pub restart_interval: usize,
    /// Data block compression.
    pub compression: Compression,
    /// Write an MVCC file (entries are then MVCC keys and values).
    pub mvcc: bool,
    /// Where to flip a byte (modulo the file size) and, halved, where to truncate.
    pub corrupt_at: u32,
    /// The bits to flip there (never 0).
    pub corrupt_mask: u8,
}

impl SstRoundTripInput {
    /// Decodes fuzz bytes; every input gives some value.
    ///
    /// ```text
    /// flags(1): bits 0-1 compression (0 none, 1 snappy, 2-3 zstd), bit 2 MVCC
    /// block size (u16 LE) -> 16 + v % 16369      restart interval(1) -> 1 + b % 32
    /// corrupt_at (u32 LE)                        corrupt_mask(1), 0 -> 1
    /// entry*: shared(1)  key_len(1) key_bytes  value_len(1) value  [MVCC: ts(1)]
    /// ```
    ///
    /// An entry's key is the first `shared` bytes of the previous entry's key (in input
    /// order) followed by `key_len` input bytes. A value length below 0x80 takes that many
    /// input bytes; from 0x80 up it is `(v - 0x7f) * 32` copies of the next input byte, so
    /// short inputs make large, compressible blocks. In MVCC mode the key becomes
    /// `mvcc::key(key, wall = ts & 0x7f)` and the value `mvcc::value` of it, a tombstone
    /// when `ts & 0x80`. Missing bytes read as 0 and short fields take what is left.
    pub fn from_bytes(data: &[u8]) -> Self {
        let mut b = Bytes(data);
        let flags = b.u8();
        let block_size = 16 + usize::from(u16::from_le_bytes([b.u8(), b.u8()])) % 16369;
        let restart_interval = 1 + usize::from(b.u8() % 32);
        let corrupt_at = u32::from_le_bytes([b.u8(), b.u8(), b.u8(), b.u8()]);
        let corrupt_mask = b.u8().max(1);
        let compression = match flags & 3 {
            0 => Compression::None,
            1 => Compression::Snappy,
            _ => Compression::Zstd,
        };
        let mvcc = flags & 4 != 0;
        let mut entries: Vec<Entry> = Vec::new();
        let mut prev: Vec<u8> = Vec::new();
        while !b.0.is_empty() {
            let shared = usize::from(b.u8()).min(prev.len());
            let mut key = prev.get(..shared).unwrap_or(&[]).to_vec();
            let key_len = b.u8();
            key.extend_from_slice(b.take(usize::from(key_len)));
            let value_len = b.u8();
            let value = if value_len < 0x80 {
                b.take(usize::from(value_len)).to_vec()
            } else {
                vec![b.u8(); usize::from(value_len - 0x7f) * 32]
            };
            prev.clone_from(&key);
            if mvcc {
                let ts = b.u8();
                let k = mvcc::key(&key, mvcc::Timestamp::new(u64::from(ts & 0x7f), 0));
                let v = mvcc::value(&k, (ts & 0x80 == 0).then_some(value.as_slice()));
                entries.push((k, v));
            } else {
                entries.push((key, value));
            }
        }
        SstRoundTripInput {
            entries,
            block_size,
            restart_interval,
            compression,
            mvcc,
            corrupt_at,
            corrupt_mask,
        }
    }

    /// The writer options.
    pub fn options(&self) -> WriterOptions {
        WriterOptions {
            block_size: self.block_size,
            restart_interval: self.restart_interval,
            compression: self.compression,
            mvcc: self.mvcc,
        }
    }
}

/// A reader of fuzz bytes that never fails: missing bytes are 0.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

/// [`sst_round_trip`] of [`SstRoundTripInput::from_bytes`]: what the fuzz target calls.
pub fn sst_round_trip_bytes(data: &[u8]) {
    sst_round_trip(&SstRoundTripInput::from_bytes(data));
}

/// Sorts and dedups the entries (first of equal keys wins), writes them, and checks: the
/// file verifies with the writer's counts; it reads back as exactly the entries (through
/// every oracle of [`sst_open_scan`]); writing the read entries again gives the same bytes;
/// a flipped byte and a truncation do not read back as the same entries.
pub fn sst_round_trip(input: &SstRoundTripInput) {
    let opts = input.options();
    let mut entries = input.entries.clone();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.dedup_by(|later, earlier| later.0 == earlier.0);
    let written = write(&entries, opts);
    if entries.is_empty() {
        assert!(
            matches!(written, Err(Error::Usage(_))),
            "an empty file was written: {written:?}"
        );
        return;
    }
    let (file, summary) = match written {
        Ok(w) => w,
        Err(e) => panic!(
            "writing {} sorted unique entries failed: {e}",
            entries.len()
        ),
    };
    let Some((stats, read)) = check_file(&file) else {
        let err = SstReader::open(file.as_slice())
            .and_then(|r| r.verify_scan())
            .err();
        panic!("a freshly written file does not verify: {err:?}");
    };
    assert!(
        read == entries,
        "entries read back differ from those written"
    );
    assert_eq!(stats.file_size, summary.file_size, "file size");
    assert_eq!(stats.entries, summary.entries, "entry count");
    assert_eq!(stats.data_blocks, summary.data_blocks, "data block count");
    assert_eq!(stats.raw_key_size, summary.raw_key_size, "raw key size");
    assert_eq!(
        stats.raw_value_size, summary.raw_value_size,
        "raw value size"
    );
    assert_eq!(stats.tombstones, summary.tombstones, "tombstone count");
    match write(&read, opts) {
        Ok((again, _)) => assert!(
            again == file,
            "rewriting the read entries changed the bytes"
        ),
        Err(e) => panic!("rewriting the read entries failed: {e}"),
    }

    let len = file.len();
    let at = input.corrupt_at as usize % len;
    let mut flipped = file.clone();
    if let Some(b) = flipped.get_mut(at) {
        *b ^= input.corrupt_mask;
    }
    assert_not_same(&flipped, &entries, || {
        format!("flipping bits {:#04x} of byte {at}", input.corrupt_mask)
    });
    let cut = (input.corrupt_at / 2) as usize % len;
    assert_not_same(file.get(..cut).unwrap_or(&[]), &entries, || {
        format!("truncating to {cut} bytes")
    });
}

fn write(entries: &[Entry], opts: WriterOptions) -> Result<(Vec<u8>, crate::sst::WriteSummary)> {
    let mut w = SstWriter::new(Vec::new(), opts)?;
    for (k, v) in entries {
        w.add(k, v)?;
    }
    w.finish()
}

/// A damaged file may open, fail, or even verify (a value can hold a whole SST); it must
/// not verify as the undamaged entries.
fn assert_not_same(damaged: &[u8], original: &[Entry], what: impl Fn() -> String) {
    if let Some((_, read)) = check_file(damaged) {
        assert!(read != original, "{} went undetected", what());
    }
}

// ---- keys and rows --------------------------------------------------------------------

/// MVCC keys: a decoded key re-encodes to the input; the same bytes as a value under a
/// fixed key: a decoded value re-encodes to the input.
pub fn mvcc_key(data: &[u8]) {
    mvcc::fuzz_decode_key(data);
    mvcc::fuzz_decode_value(data);
}

/// Table keys: see [`keys::fuzz_decode_key`].
pub fn tuple_key(data: &[u8]) {
    keys::fuzz_decode_key(data);
}

/// Row values: see [`row::fuzz_decode_row`].
pub fn row(data: &[u8]) {
    row::fuzz_decode_row(data);
}

/// JSONB texts: the streaming canonical-form check answers as parsing into a value and
/// writing it again does ([`crate::json::fuzz_check_canonical`]).
pub fn json_canonical(data: &[u8]) {
    crate::json::fuzz_check_canonical(data);
}

/// Text forms users type: decimals, HLC timestamps, SQL times, localities and zone
/// constraints. Whatever parses prints in a
/// canonical form that parses back to the same value and prints identically.
pub fn text(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = s.parse::<crate::decimal::Decimal>() {
        let printed = d.to_string();
        let again: crate::decimal::Decimal = match printed.parse() {
            Ok(v) => v,
            Err(e) => panic!("decimal {printed:?} printed from {s:?} does not parse: {e}"),
        };
        assert_eq!(again, d, "decimal text round trip changed the value");
        assert_eq!(again.to_string(), printed, "decimal text is not canonical");
    }
    if let Ok(t) = s.parse::<crate::mvcc::Timestamp>() {
        let printed = t.to_string();
        assert_eq!(
            printed.parse::<crate::mvcc::Timestamp>().ok(),
            Some(t),
            "timestamp text round trip"
        );
    }
    // SQL TIMESTAMP and DATE literals: what parses prints in a form that parses back to it.
    if let Some(us) = crate::time::parse_sql_timestamp(s) {
        let printed = crate::time::format_sql_timestamp(us);
        assert_eq!(
            crate::time::parse_sql_timestamp(&printed),
            Some(us),
            "SQL timestamp {printed:?} (from {s:?}) does not read back"
        );
    }
    if let Some(days) = crate::time::parse_sql_date(s) {
        let printed = crate::time::format_sql_date(days);
        assert_eq!(
            crate::time::parse_sql_date(&printed),
            Some(days),
            "SQL date text round trip"
        );
    }
    // Localities and zone constraints (stored in the cluster's settings and system.zones).
    if let Ok(l) = crate::locality::Locality::parse(s) {
        let printed = l.to_string();
        assert_eq!(
            crate::locality::Locality::parse(&printed).ok(),
            Some(l),
            "locality {printed:?} (from {s:?}) does not read back"
        );
    }
    if let Ok(cs) = crate::locality::parse_constraints(s) {
        let printed = crate::locality::constraints_text(&cs);
        assert_eq!(
            crate::locality::parse_constraints(&printed).ok(),
            Some(cs),
            "constraints {printed:?} (from {s:?}) do not read back"
        );
    }
}

/// Manifests: see [`crate::manifest::fuzz_decode`]; a manifest that decodes re-encodes to
/// exactly its input, and the checksum file check accepts exactly the right hash.
pub fn manifest(data: &[u8]) {
    crate::manifest::fuzz_decode(data);
    let sum = crate::manifest::checksum_file(data);
    assert!(crate::manifest::check_checksum_file(data, &sum).is_ok());
    let mut wrong = sum;
    wrong[0] ^= 1;
    assert!(crate::manifest::check_checksum_file(data, &wrong).is_err());
}

/// Collection layout names, listings and `AS OF SYSTEM TIME` texts. The input is read as
/// text (lossily); the whole text and each of its lines go through every name parser
/// (whatever parses formats back to the input, see [`crate::layout::check_name_oracles`])
/// and through [`crate::time::parse_as_of`] (a time that parses is not after "now", and
/// prints in forms that parse back to it); the lines, as a listing, go through every
/// [`crate::layout::Listing`] resolution (see [`crate::layout::check_listing_oracles`]).
pub fn layout(data: &[u8]) {
    use crate::layout::{check_listing_oracles, check_name_oracles, Listing};
    use crate::mvcc::Timestamp;
    use crate::time::{format_sql_tz, parse_as_of};

    // 2022-06-21 16:06:27.118123456 UTC, logical 3.
    const NOW: Timestamp = Timestamp::new(1_655_827_587_118_123_456, 3);
    let text = String::from_utf8_lossy(data);
    for s in std::iter::once(&*text).chain(text.lines()) {
        check_name_oracles(s);
        if let Ok(t) = parse_as_of(s, NOW) {
            assert!(t <= NOW, "{s:?} parsed to {t}, after now");
            assert_eq!(parse_as_of(&t.to_string(), NOW), Ok(t), "HLC text of {s:?}");
            let micros = Timestamp::new(t.wall - t.wall % 1000, 0);
            assert_eq!(
                parse_as_of(&format_sql_tz(t), NOW),
                Ok(micros),
                "SQL text of {s:?}"
            );
        }
    }
    check_listing_oracles(&Listing::new(text.lines()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_seed_passes_its_oracles() {
        layout(include_bytes!("../../fuzz/corpus/layout_parse/seed-1"));
        layout(b"");
        layout(b"-10s\n'2017-06-09 16:13:55.571516+00:00'\n/2026/11/21-120000.00\n\xff");
    }

    #[test]
    fn round_trip_input_decodes_every_mode() {
        let i = SstRoundTripInput::from_bytes(&[
            6, 0, 1, 3, 9, 0, 0, 0, 0, 0, 2, b'a', b'b', 0x81, b'z', 5,
        ]);
        assert_eq!(i.compression, Compression::Zstd);
        assert!(i.mvcc);
        assert_eq!(i.block_size, 16 + 256);
        assert_eq!(i.restart_interval, 4);
        assert_eq!(i.corrupt_mask, 1);
        assert_eq!(i.entries.len(), 1);
        let (k, v) = &i.entries[0];
        assert_eq!(
            mvcc::decode_key(k),
            Ok((b"ab".to_vec(), mvcc::Timestamp::new(5, 0)))
        );
        assert_eq!(
            mvcc::decode_value(k, v),
            Ok(mvcc::Value::Live(&[b'z'; 64][..]))
        );
        assert_eq!(SstRoundTripInput::from_bytes(&[]).entries, vec![]);
    }

    #[test]
    fn round_trip_small_inputs() {
        sst_round_trip_bytes(&[]);
        sst_round_trip_bytes(&[0, 16, 0, 0, 1, 2, 3, 4, 0xff, 0, 1, b'k', 1, b'v']);
        let mut many = vec![1, 40, 0, 2, 7, 7, 7, 7, 0x10];
        for i in 0..200u8 {
            many.extend_from_slice(&[2, 1, i, 0x90, i]);
        }
        sst_round_trip_bytes(&many);
        many[0] = 6;
        sst_round_trip_bytes(&many);
    }

    #[test]
    fn repaired_checksums_reach_the_block_parser() {
        let file = crate::sst::write_to_vec(
            [(&b"a"[..], &b"1"[..]), (b"b", b"2")],
            WriterOptions::default(),
        )
        .unwrap();
        assert_eq!(
            with_repaired_checksums(&file),
            None,
            "a valid file needs no repair"
        );
        // Damage the first data block's first entry and its CRC: the repaired file fails
        // in the block parser, not on the checksum.
        let mut bad = file.clone();
        bad[0] = 0x7f;
        let fixed = with_repaired_checksums(&bad).unwrap();
        let err = SstReader::open(fixed.as_slice())
            .unwrap()
            .verify_scan()
            .unwrap_err();
        assert!(matches!(err, Error::BadBlock { .. }), "{err:?}");
        sst_open_scan(&bad);
    }
}
