//! SST reader: open (footer, metaindex, properties, index) and read checked blocks.
//! Point seeks and range iteration are in `iter`, the full verified scan in `scan`.

use std::borrow::Cow;

use super::block::{separator_user_key, Block};
use super::props::{names, Properties, BYTEWISE_COMPARATOR};
use super::source::BlockSource;
use super::{
    check_block, decompress, BlockHandle, Footer, FOOTER_LEN, PROPERTIES_BLOCK, TRAILER_LEN,
};
use crate::cursor::Cursor;
use crate::error::{BlockKind, Error, HexBytes, Result};

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
pub(super) struct IndexEntry {
    pub(super) key: Vec<u8>,
    pub(super) handle: BlockHandle,
}

/// An open SST.
#[derive(Debug)]
pub struct SstReader<S: BlockSource> {
    src: S,
    pub(super) size: u64,
    pub(super) footer: Footer,
    pub(super) props: Properties,
    props_handle: BlockHandle,
    pub(super) meta: Vec<(Vec<u8>, BlockHandle)>,
    pub(super) index: Vec<IndexEntry>,
    limits: Limits,
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
        // The blocks read next (index, properties, metaindex) lie between the first the
        // footer points at and the footer: one fetch for a source that pays per read.
        let tail = footer.index.offset.min(footer.metaindex.offset);
        if tail < footer_at {
            src.will_read(tail, footer_at - tail);
        }
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
    pub(super) fn read_block(
        &self,
        h: BlockHandle,
        kind: BlockKind,
        handle_at: u64,
    ) -> Result<Cow<'_, [u8]>> {
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
}
