//! SST reader: open (footer, metaindex, properties, index), point seeks, range iteration,
//! and a full verified scan that checks every byte of the file.

use std::borrow::Cow;
use std::ops::Range;

use super::block::{separator_user_key, split_internal_key, Block, EntryCursor};
use super::props::{names, Properties, BYTEWISE_COMPARATOR};
use super::{
    check_block, decompress, BlockHandle, Footer, FOOTER_LEN, PROPERTIES_BLOCK, TRAILER_LEN,
};
use crate::cursor::Cursor;
use crate::error::{BlockKind, Error, HexBytes, Result};
use crate::mvcc;

/// Where the reader gets bytes from. `format` implements it for byte slices; callers
/// implement it for files or object stores.
pub trait BlockSource {
    /// Total size in bytes.
    fn size(&self) -> u64;
    /// Exactly `len` bytes at `offset`.
    fn read_at(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>>;
}

/// The bounds check of every [`BlockSource::read_at`]: `len` bytes at `offset` lie inside
/// a source of `size` bytes. Returns the end offset, or [`Error::Truncated`] (field
/// `block`) saying how many bytes are there.
pub fn check_read_range(size: u64, offset: u64, len: usize) -> Result<u64> {
    offset
        .checked_add(len as u64)
        .filter(|&end| end <= size)
        .ok_or(Error::Truncated {
            field: "block",
            offset,
            needed: len as u64,
            available: size.saturating_sub(offset),
        })
}

impl BlockSource for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>> {
        let end = check_read_range(self.size(), offset, len)?;
        let range = usize::try_from(offset).ok().zip(usize::try_from(end).ok());
        range
            .and_then(|(s, e)| self.get(s..e))
            .map(Cow::Borrowed)
            .ok_or(Error::Truncated {
                field: "block",
                offset,
                needed: len as u64,
                available: self.size().saturating_sub(offset),
            })
    }
}

impl BlockSource for Vec<u8> {
    fn size(&self) -> u64 {
        self.as_slice().size()
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>> {
        self.as_slice().read_at(offset, len)
    }
}

impl<T: BlockSource + ?Sized> BlockSource for &T {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>> {
        (**self).read_at(offset, len)
    }
}

/// Allocation limits, checked before allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest stored or uncompressed block.
    pub max_block_size: usize,
    /// Most data blocks in one file.
    pub max_data_blocks: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_block_size: 64 << 20,
            max_data_blocks: 1 << 22,
        }
    }
}

/// One index entry: the separator's user key and the data block it points to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexEntry {
    key: Vec<u8>,
    handle: BlockHandle,
}

/// An open SST.
#[derive(Debug)]
pub struct SstReader<S: BlockSource> {
    src: S,
    size: u64,
    footer: Footer,
    props: Properties,
    props_handle: BlockHandle,
    meta: Vec<(Vec<u8>, BlockHandle)>,
    index: Vec<IndexEntry>,
    limits: Limits,
}

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
    /// Opens with default limits.
    pub fn open(src: S) -> Result<Self> {
        Self::open_with(src, Limits::default())
    }

    /// Opens: reads and checks the footer, metaindex, properties and index blocks.
    pub fn open_with(src: S, limits: Limits) -> Result<Self> {
        let size = src.size();
        if size < FOOTER_LEN as u64 {
            return Err(Error::FileTooSmall {
                size,
                needed: FOOTER_LEN as u64,
            });
        }
        let footer_at = size - FOOTER_LEN as u64;
        let footer = {
            let b = src.read_at(footer_at, FOOTER_LEN)?;
            Footer::decode(&b, size)?
        };
        let mut r = SstReader {
            src,
            size,
            footer,
            props: Properties::default(),
            props_handle: BlockHandle::default(),
            meta: Vec::new(),
            index: Vec::new(),
            limits,
        };
        // Metaindex: name -> handle, names increasing.
        let meta_raw = r.read_block(footer.metaindex, BlockKind::Metaindex, footer_at + 1)?;
        let meta_block = Block::parse(&meta_raw, footer.metaindex.offset, BlockKind::Metaindex)?;
        let mut entries = meta_block.entries();
        let mut meta: Vec<(Vec<u8>, BlockHandle)> = Vec::new();
        while let Some(e) = entries.next_entry()? {
            let at = entries.abs(e.at);
            if let Some((prev, _)) = meta.last() {
                if entries.key() <= prev.as_slice() {
                    return Err(Error::KeyOrder {
                        block: BlockKind::Metaindex,
                        offset: at,
                        prev: HexBytes(prev.clone()),
                        key: HexBytes(entries.key().to_vec()),
                    });
                }
            }
            let mut c = Cursor::with_base(e.value, at);
            let h = BlockHandle::decode(&mut c)?;
            c.finish("metaindex block handle")?;
            r.check_handle(h, BlockKind::Metaindex, at)?;
            meta.push((entries.key().to_vec(), h));
        }
        let props_handle = meta
            .iter()
            .find(|(k, _)| k.as_slice() == PROPERTIES_BLOCK.as_bytes())
            .map(|(_, h)| *h)
            .ok_or_else(|| Error::Invalid {
                field: "metaindex",
                offset: footer.metaindex.offset,
                reason: format!("no {PROPERTIES_BLOCK} entry"),
            })?;
        r.meta = meta;
        r.props_handle = props_handle;
        let props_raw =
            r.read_block(props_handle, BlockKind::Properties, footer.metaindex.offset)?;
        r.props = Properties::parse(&props_raw, props_handle.offset)?;
        match r.props.get_str(names::COMPARATOR)? {
            Some(BYTEWISE_COMPARATOR) => {}
            Some(other) => {
                return Err(Error::Property {
                    name: names::COMPARATOR.into(),
                    reason: format!("comparator {other:?} is not {BYTEWISE_COMPARATOR}"),
                })
            }
            None => {
                return Err(Error::MissingProperty {
                    name: names::COMPARATOR,
                })
            }
        }
        r.props.require_u64(names::NUM_ENTRIES)?;

        // Index: one entry per data block; separators increasing, handles in bounds.
        let index_raw = r.read_block(footer.index, BlockKind::Index, footer_at + 1)?;
        let index_block = Block::parse(&index_raw, footer.index.offset, BlockKind::Index)?;
        let mut entries = index_block.entries();
        let mut index: Vec<IndexEntry> = Vec::new();
        while let Some(e) = entries.next_entry()? {
            let at = entries.abs(e.at);
            if index.len() as u64 >= limits.max_data_blocks {
                return Err(Error::Limit {
                    field: "data block count",
                    offset: at,
                    value: index.len() as u64 + 1,
                    limit: limits.max_data_blocks,
                });
            }
            let user = separator_user_key(entries.key(), at)?;
            if let Some(prev) = index.last() {
                if user <= prev.key.as_slice() {
                    return Err(Error::KeyOrder {
                        block: BlockKind::Index,
                        offset: at,
                        prev: HexBytes(prev.key.clone()),
                        key: HexBytes(user.to_vec()),
                    });
                }
            }
            let mut c = Cursor::with_base(e.value, at);
            let h = BlockHandle::decode(&mut c)?;
            c.finish("index block handle")?;
            r.check_handle(h, BlockKind::Data(index.len() as u64), at)?;
            index.push(IndexEntry {
                key: user.to_vec(),
                handle: h,
            });
        }
        r.index = index;
        Ok(r)
    }

    fn check_handle(&self, h: BlockHandle, kind: BlockKind, at: u64) -> Result<()> {
        let limit = self.size - FOOTER_LEN as u64;
        let end = h
            .offset
            .checked_add(h.size)
            .and_then(|e| e.checked_add(TRAILER_LEN as u64));
        match end {
            Some(e) if e <= limit => Ok(()),
            _ => Err(Error::HandleOutOfBounds {
                block: kind,
                offset: at,
                block_offset: h.offset,
                block_size: h.size,
                limit,
            }),
        }
    }

    /// Reads a block, checks its CRC and decompresses it. `handle_at` locates the handle
    /// for bounds errors.
    fn read_block(&self, h: BlockHandle, kind: BlockKind, handle_at: u64) -> Result<Cow<'_, [u8]>> {
        self.check_handle(h, kind, handle_at)?;
        let max = self.limits.max_block_size as u64;
        if h.size > max {
            return Err(Error::Limit {
                field: "block size",
                offset: h.offset,
                value: h.size,
                limit: max,
            });
        }
        let len = h.size as usize + TRAILER_LEN;
        let raw = self.src.read_at(h.offset, len)?;
        let compression = check_block(&raw, kind, h.offset)?.1;
        if compression == 0 {
            return Ok(match raw {
                Cow::Borrowed(b) => Cow::Borrowed(b.get(..h.size as usize).unwrap_or(&[])),
                Cow::Owned(mut v) => {
                    v.truncate(h.size as usize);
                    Cow::Owned(v)
                }
            });
        }
        let stored = raw.get(..h.size as usize).unwrap_or(&[]);
        decompress(
            stored,
            compression,
            self.limits.max_block_size,
            kind,
            h.offset,
        )
        .map(Cow::Owned)
    }

    /// File size.
    pub fn file_size(&self) -> u64 {
        self.size
    }

    /// The footer.
    pub fn footer(&self) -> &Footer {
        &self.footer
    }

    /// The table properties.
    pub fn properties(&self) -> &Properties {
        &self.props
    }

    /// Number of data blocks.
    pub fn data_blocks(&self) -> usize {
        self.index.len()
    }

    /// Entry count recorded in the properties.
    pub fn num_entries(&self) -> u64 {
        self.props
            .get_u64(names::NUM_ENTRIES)
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    /// An iterator from the first entry.
    pub fn iter(&self) -> SstIter<'_, S> {
        SstIter::new(self)
    }

    /// An iterator over `[start, end)` (either bound optional).
    pub fn range(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<SstIter<'_, S>> {
        let mut it = SstIter::new(self);
        it.end = end.map(<[u8]>::to_vec);
        if let Some(s) = start {
            it.seek(s)?;
        }
        Ok(it)
    }

    /// The value stored under exactly `user_key`.
    pub fn get(&self, user_key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut it = self.iter();
        it.seek(user_key)?;
        match it.next_entry()? {
            Some((k, v)) if k == user_key => Ok(Some(v.to_vec())),
            _ => Ok(None),
        }
    }

    /// All entries, owned. Convenience for tests and small files.
    pub fn entries(&self) -> Entries<'_, S> {
        Entries {
            it: self.iter(),
            done: false,
        }
    }

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
    pub fn verify_scan_with<F>(&self, mut f: F) -> Result<ScanStats>
    where
        F: FnMut(&[u8], &[u8]) -> Result<()>,
    {
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
        let mut stats = ScanStats {
            file_size: self.size,
            ..ScanStats::default()
        };
        let mut prev: Vec<u8> = Vec::new();
        let mut first: Option<Vec<u8>> = None;
        let mut ts_range: Option<(mvcc::Timestamp, mvcc::Timestamp)> = None;
        for (i, ie) in self.index.iter().enumerate() {
            let kind = BlockKind::Data(i as u64);
            let data = self.read_block(ie.handle, kind, ie.handle.offset)?;
            let block = Block::parse(&data, ie.handle.offset, kind)?;
            let restarts = block.restart_offsets()?;
            let mut next_restart = restarts.iter().peekable();
            let mut cur: EntryCursor<'_> = block.entries();
            let mut block_entries = 0u64;
            while let Some(e) = cur.next_entry()? {
                let at = cur.abs(e.at);
                match next_restart.peek() {
                    Some(&&r) if r == e.at => {
                        if e.shared != 0 {
                            return Err(Error::BadBlock {
                                block: kind,
                                offset: at,
                                field: "entry shared length",
                                reason: format!(
                                    "restart entry shares {} bytes (must be 0)",
                                    e.shared
                                ),
                            });
                        }
                        next_restart.next();
                    }
                    Some(&&r) if r < e.at => {
                        return Err(Error::BadBlock {
                            block: kind,
                            offset: cur.abs(r),
                            field: "restart offset",
                            reason: format!("restart offset {r} is not the start of an entry"),
                        })
                    }
                    _ => {}
                }
                let user = split_internal_key(cur.key(), kind, at)?;
                if stats.entries > 0 && user <= prev.as_slice() {
                    return Err(Error::KeyOrder {
                        block: kind,
                        offset: at,
                        prev: HexBytes(prev.clone()),
                        key: HexBytes(user.to_vec()),
                    });
                }
                if block_entries == 0 && i > 0 {
                    // The previous separator must be < this block's first key.
                    let sep = self
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
                if mvcc_file {
                    let (_, ts) = mvcc::decode_key(user).map_err(|err| err.at_base(at))?;
                    if mvcc::decode_value(user, e.value)?.is_tombstone() {
                        stats.tombstones += 1;
                    }
                    ts_range = Some(match ts_range {
                        None => (ts, ts),
                        Some((lo, hi)) => (lo.min(ts), hi.max(ts)),
                    });
                }
                f(user, e.value)?;
                if first.is_none() {
                    first = Some(user.to_vec());
                }
                prev.clear();
                prev.extend_from_slice(user);
                stats.entries += 1;
                stats.raw_key_size += cur.key().len() as u64;
                stats.raw_value_size += e.value.len() as u64;
                block_entries += 1;
            }
            if let Some(&&r) = next_restart.peek() {
                return Err(Error::BadBlock {
                    block: kind,
                    offset: cur.abs(r),
                    field: "restart offset",
                    reason: format!("restart offset {r} is not the start of an entry"),
                });
            }
            if block_entries == 0 {
                return Err(Error::BadBlock {
                    block: kind,
                    offset: ie.handle.offset,
                    field: "entries",
                    reason: "data block has no entries".into(),
                });
            }
            if prev.as_slice() > ie.key.as_slice() {
                return Err(Error::IndexMismatch {
                    block: kind,
                    offset: ie.handle.offset,
                    reason: format!(
                        "last key {} is above the block's index separator {}",
                        HexBytes(prev.clone()),
                        HexBytes(ie.key.clone())
                    ),
                });
            }
            stats.data_blocks += 1;
        }
        let prop_eq = |name: &'static str, computed: u64| -> Result<()> {
            match self.props.get_u64(name)? {
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
        let data_end = self
            .index
            .last()
            .map(|e| e.handle.end_with_trailer())
            .unwrap_or(0);
        prop_eq(names::DATA_SIZE, data_end)?;
        if let Some(v) = vouch {
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
            let first = first.unwrap_or_default();
            if v.smallest != first {
                return Err(mismatch(
                    names::VOUCH_SMALLEST,
                    hex::encode(&v.smallest),
                    hex::encode(&first),
                ));
            }
            if v.largest != prev {
                return Err(mismatch(
                    names::VOUCH_LARGEST,
                    hex::encode(&v.largest),
                    hex::encode(&prev),
                ));
            }
            if let Some(t) = v.tombstones {
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
                let (lo, hi) = (ts_range.map(|r| r.0), ts_range.map(|r| r.1));
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

/// Iterates entries in key order; keys and values borrow from the iterator.
#[derive(Debug)]
pub struct SstIter<'r, S: BlockSource> {
    reader: &'r SstReader<S>,
    next_block: usize,
    data: Cow<'r, [u8]>,
    entries_end: usize,
    pos: usize,
    base: u64,
    kind: BlockKind,
    key: Vec<u8>,
    prev_user: Vec<u8>,
    have_prev: bool,
    value: Range<usize>,
    pending: bool,
    end: Option<Vec<u8>>,
    done: bool,
}

impl<'r, S: BlockSource> SstIter<'r, S> {
    fn new(reader: &'r SstReader<S>) -> Self {
        SstIter {
            reader,
            next_block: 0,
            data: Cow::Borrowed(&[]),
            entries_end: 0,
            pos: 0,
            base: 0,
            kind: BlockKind::Data(0),
            key: Vec::new(),
            prev_user: Vec::new(),
            have_prev: false,
            value: 0..0,
            pending: false,
            end: None,
            done: false,
        }
    }

    fn load(&mut self, i: usize) -> Result<bool> {
        let Some(ie) = self.reader.index.get(i) else {
            return Ok(false);
        };
        let kind = BlockKind::Data(i as u64);
        let data = self.reader.read_block(ie.handle, kind, ie.handle.offset)?;
        let entries_end = {
            let b = Block::parse(&data, ie.handle.offset, kind)?;
            b.restart_offset(0)?;
            let n = b.num_restarts() as usize;
            data.len().saturating_sub(4 + 4 * n)
        };
        self.data = data;
        self.entries_end = entries_end;
        self.pos = 0;
        self.base = ie.handle.offset;
        self.kind = kind;
        self.key.clear();
        self.next_block = i + 1;
        Ok(true)
    }

    /// Decodes the entry at `self.pos` into `self.key` / `self.value`.
    fn decode(&mut self) -> Result<()> {
        let entries = self.data.get(..self.entries_end).unwrap_or(&[]);
        let mut cur = EntryCursor::resume(
            entries,
            self.pos,
            self.base,
            self.kind,
            std::mem::take(&mut self.key),
        );
        let e = cur.next_entry();
        let after = cur.position();
        self.key = cur.into_key();
        let e = e?.ok_or(Error::BadBlock {
            block: self.kind,
            offset: self.base + self.pos as u64,
            field: "entries",
            reason: "no entry where one was expected".into(),
        })?;
        let vstart = after.saturating_sub(e.value.len());
        self.value = vstart..after;
        self.pos = after;
        let user = split_internal_key(&self.key, self.kind, self.base + e.at as u64)?;
        if self.have_prev && user <= self.prev_user.as_slice() {
            return Err(Error::KeyOrder {
                block: self.kind,
                offset: self.base + e.at as u64,
                prev: HexBytes(self.prev_user.clone()),
                key: HexBytes(user.to_vec()),
            });
        }
        self.prev_user.clear();
        self.prev_user.extend_from_slice(user);
        self.have_prev = true;
        Ok(())
    }

    fn current(&self) -> (&[u8], &[u8]) {
        let user = self
            .key
            .get(..self.key.len().saturating_sub(8))
            .unwrap_or(&[]);
        let v = self.data.get(self.value.clone()).unwrap_or(&[]);
        (user, v)
    }

    /// Positions the iterator so that the next entry is the first with key >= `target`.
    pub fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.pending = false;
        self.have_prev = false;
        let idx = self
            .reader
            .index
            .partition_point(|e| e.key.as_slice() < target);
        if !self.load(idx)? {
            self.done = true;
            return Ok(());
        }
        self.done = false;
        // Binary search the restart points for the last one whose key is < target.
        let block = Block::parse(&self.data, self.base, self.kind)?;
        let (mut lo, mut hi) = (0u32, block.num_restarts());
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let k = block.restart_key(mid)?;
            let user = split_internal_key(k, self.kind, self.base)?;
            if user < target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        self.pos = block.restart_offset(lo)?;
        self.key.clear();
        while self.pos < self.entries_end {
            self.decode()?;
            if self.current().0 >= target {
                self.pending = true;
                return Ok(());
            }
        }
        // Every key in this block is < target (only possible for a bad index): go on.
        Ok(())
    }

    /// The next entry as (user key, value), or `None` at the end or past the range.
    #[allow(clippy::should_implement_trait)]
    pub fn next_entry(&mut self) -> Result<Option<(&[u8], &[u8])>> {
        if self.done {
            return Ok(None);
        }
        if !self.pending {
            while self.pos >= self.entries_end {
                if !self.load(self.next_block)? {
                    self.done = true;
                    return Ok(None);
                }
            }
            self.decode()?;
        }
        self.pending = false;
        if let Some(end) = &self.end {
            if self.current().0 >= end.as_slice() {
                self.done = true;
                return Ok(None);
            }
        }
        Ok(Some(self.current()))
    }
}

/// Owned entries, for convenience.
#[derive(Debug)]
pub struct Entries<'r, S: BlockSource> {
    it: SstIter<'r, S>,
    done: bool,
}

impl<S: BlockSource> Iterator for Entries<'_, S> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.it.next_entry() {
            Ok(Some((k, v))) => Some(Ok((k.to_vec(), v.to_vec()))),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
