//! The full verified scan of an SST: every block, every byte, every property.

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
