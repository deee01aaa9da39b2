//! The full verified scan of an SST: every block, every byte, every property.

use std::borrow::Cow;
use std::ops::Range;

use super::block::{split_internal_key, Block, EntryCursor};
use super::props::names;
use super::reader::SstReader;
use super::source::BlockSource;
use super::{BlockHandle, FOOTER_LEN, PROPERTIES_BLOCK};
use crate::error::{BlockKind, Error, HexBytes, Result};
use crate::mvcc;

/// Counts from a full verified scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// File size.
    pub file_size: u64,
    /// Entries.
    pub entries: u64,
    /// Data blocks.
    pub data_blocks: u64,
    /// Sum of internal key lengths.
    pub raw_key_size: u64,
    /// Sum of value lengths.
    pub raw_value_size: u64,
    /// Tombstones (MVCC files).
    pub tombstones: u64,
}

impl<S: BlockSource> SstReader<S> {
    /// Full verified scan: see [`SstReader::verify_scan_with`].
    pub fn verify_scan(&self) -> Result<ScanStats> {
        self.verify_scan_with(|_, _| Ok(()))
    }

    /// Reads every block and checks: each block's CRC; the blocks tile the file with no gap
    /// or overlap; restart arrays point at entry starts that share no bytes; every internal
    /// key has the `SstFileWriter` trailer; user keys strictly increase across the file;
    /// each index separator is >= its block's last key and < the next block's first key;
    /// entry count, raw key and value sizes, data size and block count equal the
    /// properties; vouch's properties (bounds, and for MVCC files every key and value CRC,
    /// tombstone count and timestamp range) equal what the file holds. `f` sees each entry.
    /// The same checks pulled entry by entry: [`SstReader::verified_scan`].
    pub fn verify_scan_with<F>(&self, mut f: F) -> Result<ScanStats>
    where
        F: FnMut(&[u8], &[u8]) -> Result<()>,
    {
        let mut scan = self.verified_scan()?;
        while scan.advance()? {
            let e = scan.entry();
            f(e.key, e.value)?;
        }
        scan.finish()
    }

    /// The checks of [`SstReader::verify_scan_with`] as a cursor: [`VerifiedScan::advance`]
    /// reads the blocks in file order, one at a time (memory: one block and the current
    /// key), checking each entry before it is shown; [`VerifiedScan::finish`] checks the
    /// properties once every entry was read. The file-level checks (tiling, meta blocks,
    /// a non-empty index, vouch's properties decoding) run here.
    pub fn verified_scan(&self) -> Result<VerifiedScan<'_, S>> {
        self.check_tiling()?;
        // Meta blocks other than the properties (filters, range deletions in files from
        // other writers) are not interpreted, but their checksums are still checked.
        for (name, h) in &self.meta {
            if name.as_slice() != PROPERTIES_BLOCK.as_bytes() {
                self.read_block(*h, BlockKind::Metaindex, self.footer.metaindex.offset)?;
            }
        }
        if self.index.is_empty() {
            return Err(Error::BadBlock {
                block: BlockKind::Index,
                offset: self.footer.index.offset,
                field: "entries",
                reason: "the index lists no data blocks".into(),
            });
        }
        let vouch = self.props.vouch()?;
        let mvcc_file = vouch.as_ref().is_some_and(|v| v.tombstones.is_some());
        Ok(VerifiedScan {
            r: self,
            vouch,
            mvcc_file,
            stats: ScanStats {
                file_size: self.size,
                ..ScanStats::default()
            },
            prev: Vec::new(),
            first: None,
            ts_range: None,
            decoded: Vec::new(),
            ts: mvcc::Timestamp::MIN,
            tombstone: false,
            block: None,
            next_block: 0,
            data: Cow::Borrowed(&[]),
            entries_end: 0,
            pos: 0,
            key: Vec::new(),
            restarts: Vec::new(),
            next_restart: 0,
            block_entries: 0,
            value: 0..0,
            done: false,
            feed: None,
            on_block: None,
            decoded_elsewhere: false,
        })
    }

    /// Data block `i` read, its CRC checked and decompressed: what a [`VerifiedScan`] reads
    /// for it, for a prefetcher feeding one ([`VerifiedScan::with_feed`]).
    pub fn read_data_block(&self, i: usize) -> Result<Cow<'_, [u8]>> {
        let Some(ie) = self.index.get(i) else {
            return Err(Error::BadBlock {
                block: BlockKind::Data(i as u64),
                offset: self.footer.index.offset,
                field: "entries",
                reason: format!("the index lists no data block {i}"),
            });
        };
        self.read_block(ie.handle, BlockKind::Data(i as u64), ie.handle.offset)
    }

    /// Every byte before the footer belongs to exactly one block (with its trailer).
    fn check_tiling(&self) -> Result<()> {
        let mut spans: Vec<(BlockHandle, BlockKind)> = Vec::with_capacity(self.index.len() + 4);
        for (i, e) in self.index.iter().enumerate() {
            spans.push((e.handle, BlockKind::Data(i as u64)));
        }
        spans.push((self.footer.index, BlockKind::Index));
        spans.push((self.footer.metaindex, BlockKind::Metaindex));
        for (name, h) in &self.meta {
            let kind = if name.as_slice() == PROPERTIES_BLOCK.as_bytes() {
                BlockKind::Properties
            } else {
                BlockKind::Metaindex
            };
            spans.push((*h, kind));
        }
        spans.sort_by_key(|(h, _)| (h.offset, h.size));
        let mut at = 0u64;
        for (h, kind) in spans {
            if h.offset != at {
                return Err(Error::IndexMismatch {
                    block: kind,
                    offset: h.offset,
                    reason: if h.offset > at {
                        format!("{} bytes at offset {at} belong to no block", h.offset - at)
                    } else {
                        format!("block overlaps the previous one, which ends at {at}")
                    },
                });
            }
            at = h.end_with_trailer();
        }
        let footer_at = self.size - FOOTER_LEN as u64;
        if at != footer_at {
            return Err(Error::IndexMismatch {
                block: BlockKind::Metaindex,
                offset: at,
                reason: format!(
                    "{} bytes before the footer belong to no block",
                    footer_at.saturating_sub(at)
                ),
            });
        }
        Ok(())
    }
}

/// One entry of a [`VerifiedScan`], checked.
#[derive(Debug, Clone, Copy)]
pub struct ScanEntry<'a> {
    /// The user key (the internal key without its trailer).
    pub key: &'a [u8],
    /// The value as stored.
    pub value: &'a [u8],
    /// For files with vouch's MVCC properties: the key and value decoded (the value's CRC
    /// checked), as [`mvcc::decode_key`] and [`mvcc::decode_value`] give them.
    pub mvcc: Option<MvccEntry<'a>>,
}

/// An MVCC entry decoded by a [`VerifiedScan`].
#[derive(Debug, Clone, Copy)]
pub struct MvccEntry<'a> {
    /// The user key (unescaped).
    pub user: &'a [u8],
    /// The version's timestamp.
    pub ts: mvcc::Timestamp,
    /// The value (payload or tombstone).
    pub value: mvcc::Value<'a>,
}

/// A verified scan pulled entry by entry: see [`SstReader::verified_scan`]. After an error
/// the scan is over ([`VerifiedScan::advance`] returns `false`).
#[derive(Debug)]
pub struct VerifiedScan<'r, S: BlockSource> {
    r: &'r SstReader<S>,
    vouch: Option<super::VouchProps>,
    mvcc_file: bool,
    stats: ScanStats,
    /// The previous user key, and the first one.
    prev: Vec<u8>,
    first: Option<Vec<u8>>,
    ts_range: Option<(mvcc::Timestamp, mvcc::Timestamp)>,
    /// The current entry's MVCC user key, timestamp and kind (MVCC files).
    decoded: Vec<u8>,
    ts: mvcc::Timestamp,
    tombstone: bool,
    /// The data block being read (index position), and the next one to read.
    block: Option<usize>,
    next_block: usize,
    data: Cow<'r, [u8]>,
    entries_end: usize,
    pos: usize,
    /// The current internal key.
    key: Vec<u8>,
    restarts: Vec<usize>,
    next_restart: usize,
    block_entries: u64,
    value: Range<usize>,
    done: bool,
    /// Where data blocks come from instead of the reader ([`VerifiedScan::with_feed`]).
    feed: Option<Feed<'r>>,
    /// Shown every data block read ([`VerifiedScan::with_block_hook`]).
    on_block: Option<Hook<'r>>,
    /// The MVCC decoding of entries (and its checks) is left to the scan that read the
    /// blocks ([`VerifiedScan::decoded_elsewhere`]).
    decoded_elsewhere: bool,
}

/// What [`VerifiedScan::with_block_hook`] calls: the block's position and contents.
pub type BlockHook<'r> = Box<dyn FnMut(usize, &[u8]) + 'r>;

struct Hook<'r>(BlockHook<'r>);

impl std::fmt::Debug for Hook<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

/// A source of data blocks read ahead elsewhere: block `i`'s contents as
/// [`SstReader::read_data_block`] gives them.
pub type BlockFeed<'r> = Box<dyn FnMut(usize) -> Result<Vec<u8>> + 'r>;

struct Feed<'r>(BlockFeed<'r>);

impl std::fmt::Debug for Feed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Feed")
    }
}

impl<'r, S: BlockSource> VerifiedScan<'r, S> {
    /// The same scan, taking its data blocks (in file order, each asked for once) from
    /// `feed` instead of reading them: a prefetcher on another thread reads, hashes, checks
    /// and decompresses blocks ahead ([`SstReader::read_data_block`]) while this scan
    /// decodes and checks their entries. Every other check is unchanged.
    pub fn with_feed(mut self, feed: BlockFeed<'r>) -> Self {
        self.feed = Some(Feed(feed));
        self
    }

    /// The same scan, showing `hook` each data block it reads (its position and its
    /// contents, CRC checked and decompressed) before reading the block's entries: a
    /// checking scan on one thread can feed another scan ([`VerifiedScan::with_feed`]).
    pub fn with_block_hook(mut self, hook: BlockHook<'r>) -> Self {
        self.on_block = Some(Hook(hook));
        self
    }

    /// The same scan, not decoding MVCC keys and values (nor checking value CRCs,
    /// tombstones and the timestamp range): for a scan fed ([`VerifiedScan::with_feed`]) by
    /// a verified scan of the same file that does all that on the same blocks, so each
    /// entry is decoded once. Every other check still runs; [`VerifiedScan::entry`] then
    /// gives no [`MvccEntry`], and [`VerifiedScan::finish`] does not check the MVCC
    /// properties (tombstones, timestamp range): the scan that decoded the entries did.
    pub fn decoded_elsewhere(mut self) -> Self {
        self.decoded_elsewhere = true;
        self
    }

    /// Moves to the next entry and checks it; `false` at the end of the data blocks.
    pub fn advance(&mut self) -> Result<bool> {
        if self.done {
            return Ok(false);
        }
        let r = self.step();
        if !matches!(r, Ok(true)) {
            self.done = true;
            self.block = None;
        }
        r
    }

    /// The entry [`VerifiedScan::advance`] moved to (meaningless before the first
    /// `advance` or after one that returned `false`).
    pub fn entry(&self) -> ScanEntry<'_> {
        let value = self.data.get(self.value.clone()).unwrap_or(&[]);
        let mvcc = (self.mvcc_file && !self.decoded_elsewhere).then(|| MvccEntry {
            user: &self.decoded,
            ts: self.ts,
            value: if self.tombstone {
                mvcc::Value::Tombstone
            } else {
                mvcc::Value::Live(value.get(mvcc::VALUE_HEADER_LEN..).unwrap_or(&[]))
            },
        });
        ScanEntry {
            key: &self.prev,
            value,
            mvcc,
        }
    }

    /// The data blocks read so far.
    pub fn blocks_read(&self) -> u64 {
        self.stats.data_blocks
    }

    fn step(&mut self) -> Result<bool> {
        loop {
            if self.block.is_some() && self.pos < self.entries_end {
                break;
            }
            if let Some(i) = self.block.take() {
                self.end_block(i)?;
            }
            if self.next_block >= self.r.index.len() {
                return Ok(false);
            }
            self.load(self.next_block)?;
        }
        let i = self.block.unwrap_or(0);
        let kind = BlockKind::Data(i as u64);
        let base = self.r.index.get(i).map_or(0, |ie| ie.handle.offset);
        let entries = self.data.get(..self.entries_end).unwrap_or(&[]);
        let mut cur =
            EntryCursor::resume(entries, self.pos, base, kind, std::mem::take(&mut self.key));
        let e = cur.next_entry();
        let after = cur.position();
        self.key = cur.into_key();
        let Some(e) = e? else {
            return Err(Error::BadBlock {
                block: kind,
                offset: base + self.pos as u64,
                field: "entries",
                reason: "no entry where one was expected".into(),
            });
        };
        self.pos = after;
        self.value = after.saturating_sub(e.value.len())..after;
        let at = base + e.at as u64;
        match self.restarts.get(self.next_restart) {
            Some(&r) if r == e.at => {
                if e.shared != 0 {
                    return Err(Error::BadBlock {
                        block: kind,
                        offset: at,
                        field: "entry shared length",
                        reason: format!("restart entry shares {} bytes (must be 0)", e.shared),
                    });
                }
                self.next_restart += 1;
            }
            Some(&r) if r < e.at => {
                return Err(Error::BadBlock {
                    block: kind,
                    offset: base + r as u64,
                    field: "restart offset",
                    reason: format!("restart offset {r} is not the start of an entry"),
                })
            }
            _ => {}
        }
        let user = split_internal_key(&self.key, kind, at)?;
        if self.stats.entries > 0 && user <= self.prev.as_slice() {
            return Err(Error::KeyOrder {
                block: kind,
                offset: at,
                prev: HexBytes(self.prev.clone()),
                key: HexBytes(user.to_vec()),
            });
        }
        if self.block_entries == 0 && i > 0 {
            // The previous separator must be < this block's first key.
            let sep = self
                .r
                .index
                .get(i - 1)
                .map(|p| p.key.as_slice())
                .unwrap_or(&[]);
            if user <= sep {
                return Err(Error::IndexMismatch {
                    block: kind,
                    offset: at,
                    reason: format!(
                        "first key {} is not above the previous block's separator {}",
                        HexBytes(user.to_vec()),
                        HexBytes(sep.to_vec())
                    ),
                });
            }
        }
        if self.mvcc_file && !self.decoded_elsewhere {
            let ts =
                mvcc::decode_key_into(user, &mut self.decoded).map_err(|err| err.at_base(at))?;
            let value = self.data.get(self.value.clone()).unwrap_or(&[]);
            self.tombstone = mvcc::decode_value(user, value)?.is_tombstone();
            if self.tombstone {
                self.stats.tombstones += 1;
            }
            self.ts = ts;
            self.ts_range = Some(match self.ts_range {
                None => (ts, ts),
                Some((lo, hi)) => (lo.min(ts), hi.max(ts)),
            });
        }
        if self.stats.entries == 0 {
            self.first = Some(user.to_vec());
        }
        self.prev.clear();
        self.prev.extend_from_slice(user);
        self.stats.entries += 1;
        self.stats.raw_key_size += self.key.len() as u64;
        self.stats.raw_value_size += e.value.len() as u64;
        self.block_entries += 1;
        Ok(true)
    }

    fn load(&mut self, i: usize) -> Result<()> {
        let Some(ie) = self.r.index.get(i) else {
            return Ok(());
        };
        let kind = BlockKind::Data(i as u64);
        let data = match self.feed.as_mut() {
            Some(Feed(f)) => Cow::Owned(f(i)?),
            None => self.r.read_block(ie.handle, kind, ie.handle.offset)?,
        };
        if let Some(Hook(h)) = self.on_block.as_mut() {
            h(i, &data);
        }
        let block = Block::parse(&data, ie.handle.offset, kind)?;
        let restarts = block.restart_offsets()?;
        let entries_end = data.len().saturating_sub(4 + 4 * restarts.len());
        self.restarts = restarts;
        self.next_restart = 0;
        self.data = data;
        self.entries_end = entries_end;
        self.pos = 0;
        self.key.clear();
        self.block_entries = 0;
        self.block = Some(i);
        self.next_block = i + 1;
        Ok(())
    }

    /// The checks at the end of data block `i`.
    fn end_block(&mut self, i: usize) -> Result<()> {
        let kind = BlockKind::Data(i as u64);
        let Some(ie) = self.r.index.get(i) else {
            return Ok(());
        };
        if let Some(&r) = self.restarts.get(self.next_restart) {
            return Err(Error::BadBlock {
                block: kind,
                offset: ie.handle.offset + r as u64,
                field: "restart offset",
                reason: format!("restart offset {r} is not the start of an entry"),
            });
        }
        if self.block_entries == 0 {
            return Err(Error::BadBlock {
                block: kind,
                offset: ie.handle.offset,
                field: "entries",
                reason: "data block has no entries".into(),
            });
        }
        if self.prev.as_slice() > ie.key.as_slice() {
            return Err(Error::IndexMismatch {
                block: kind,
                offset: ie.handle.offset,
                reason: format!(
                    "last key {} is above the block's index separator {}",
                    HexBytes(self.prev.clone()),
                    HexBytes(ie.key.clone())
                ),
            });
        }
        self.stats.data_blocks += 1;
        Ok(())
    }

    /// Reads the entries not read yet, then checks the counts and vouch's properties
    /// against what the file holds; the scan's counts.
    pub fn finish(mut self) -> Result<ScanStats> {
        while self.advance()? {}
        let r = self.r;
        let stats = self.stats;
        let prop_eq = |name: &'static str, computed: u64| -> Result<()> {
            match r.props.get_u64(name)? {
                Some(stored) if stored != computed => Err(Error::Property {
                    name: name.into(),
                    reason: format!("records {stored}, the file holds {computed}"),
                }),
                _ => Ok(()),
            }
        };
        prop_eq(names::NUM_ENTRIES, stats.entries)?;
        prop_eq(names::RAW_KEY_SIZE, stats.raw_key_size)?;
        prop_eq(names::RAW_VALUE_SIZE, stats.raw_value_size)?;
        prop_eq(names::NUM_DATA_BLOCKS, stats.data_blocks)?;
        let data_end = r
            .index
            .last()
            .map(|e| e.handle.end_with_trailer())
            .unwrap_or(0);
        prop_eq(names::DATA_SIZE, data_end)?;
        if let Some(v) = self.vouch {
            let mismatch = |name: &str, stored: String, found: String| Error::Property {
                name: name.into(),
                reason: format!("records {stored}, the file holds {found}"),
            };
            if v.entries != stats.entries {
                return Err(mismatch(
                    names::VOUCH_ENTRIES,
                    v.entries.to_string(),
                    stats.entries.to_string(),
                ));
            }
            let first = self.first.unwrap_or_default();
            if v.smallest != first {
                return Err(mismatch(
                    names::VOUCH_SMALLEST,
                    hex::encode(&v.smallest),
                    hex::encode(&first),
                ));
            }
            if v.largest != self.prev {
                return Err(mismatch(
                    names::VOUCH_LARGEST,
                    hex::encode(&v.largest),
                    hex::encode(&self.prev),
                ));
            }
            if let Some(t) = v.tombstones.filter(|_| !self.decoded_elsewhere) {
                if t != stats.tombstones {
                    return Err(mismatch(
                        names::VOUCH_TOMBSTONES,
                        t.to_string(),
                        stats.tombstones.to_string(),
                    ));
                }
                let show = |t: Option<mvcc::Timestamp>| {
                    t.map_or_else(|| "none".to_string(), |t| t.to_string())
                };
                let (lo, hi) = (self.ts_range.map(|r| r.0), self.ts_range.map(|r| r.1));
                if v.ts_min != lo {
                    return Err(mismatch(names::VOUCH_TS_MIN, show(v.ts_min), show(lo)));
                }
                if v.ts_max != hi {
                    return Err(mismatch(names::VOUCH_TS_MAX, show(v.ts_max), show(hi)));
                }
            }
        }
        Ok(stats)
    }
}
