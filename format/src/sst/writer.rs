//! Streaming SST writer. Memory: the current data block, its compressed copy, and the
//! index block (one entry per data block).

use std::io::Write;

use super::block::{push_internal_key, BlockBuilder};
use super::props::{names, PropsBuilder, BYTEWISE_COMPARATOR, VOUCH_PROPS_VERSION};
use super::{
    block_trailer, compress, BlockHandle, Compression, Footer, CHECKSUM_CRC32C, FORMAT_VERSION,
    PROPERTIES_BLOCK,
};
use crate::error::{Error, HexBytes, Result};
use crate::mvcc::{self, Timestamp};

/// Largest target block size the writer accepts.
pub const MAX_BLOCK_SIZE: usize = 16 << 20;
/// Largest key + value the writer accepts. With [`MAX_BLOCK_SIZE`] this keeps every block
/// under the reader's default 64 MiB limit, so the writer never makes a file its own
/// reader refuses.
pub const MAX_ENTRY_SIZE: usize = 32 << 20;

/// Writer settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    /// A data block is closed once its uncompressed size reaches this many bytes.
    pub block_size: usize,
    /// Entries between restart points in data blocks.
    pub restart_interval: usize,
    /// Compression of data blocks.
    pub compression: Compression,
    /// Keys are MVCC keys and values MVCC values: each is decoded and checked when added,
    /// and the file records its timestamp range and tombstone count.
    pub mvcc: bool,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            block_size: 4096,
            restart_interval: 16,
            compression: Compression::None,
            mvcc: false,
        }
    }
}

/// What a finished file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSummary {
    /// Total bytes written.
    pub file_size: u64,
    /// Entries written.
    pub entries: u64,
    /// Data blocks written.
    pub data_blocks: u64,
    /// Smallest user key.
    pub smallest: Vec<u8>,
    /// Largest user key.
    pub largest: Vec<u8>,
    /// Sum of user key lengths plus 8 per entry (RocksDB's raw key size).
    pub raw_key_size: u64,
    /// Sum of value lengths.
    pub raw_value_size: u64,
    /// MVCC files: tombstones written.
    pub tombstones: u64,
    /// MVCC files: smallest and largest timestamps.
    pub ts_range: Option<(Timestamp, Timestamp)>,
}

/// Writes one SST to `W`, entries in strictly increasing user-key order.
#[derive(Debug)]
pub struct SstWriter<W: Write> {
    out: W,
    opts: WriterOptions,
    offset: u64,
    data: BlockBuilder,
    index: BlockBuilder,
    scratch: Vec<u8>,
    compressed: Vec<u8>,
    zstd: super::ZstdContext,
    ikey: Vec<u8>,
    last_user_key: Vec<u8>,
    smallest: Vec<u8>,
    entries: u64,
    data_blocks: u64,
    raw_key_size: u64,
    raw_value_size: u64,
    tombstones: u64,
    ts_range: Option<(Timestamp, Timestamp)>,
    failed: bool,
}

impl<W: Write> SstWriter<W> {
    /// A writer that writes to `out`.
    pub fn new(out: W, opts: WriterOptions) -> Result<Self> {
        if opts.block_size == 0 || opts.block_size > MAX_BLOCK_SIZE {
            return Err(Error::Usage(format!(
                "block size {} is outside 1..={MAX_BLOCK_SIZE}",
                opts.block_size
            )));
        }
        if opts.restart_interval == 0 {
            return Err(Error::Usage("restart interval must be at least 1".into()));
        }
        Ok(SstWriter {
            out,
            opts,
            offset: 0,
            data: BlockBuilder::new(opts.restart_interval),
            index: BlockBuilder::new(1),
            scratch: Vec::new(),
            compressed: Vec::new(),
            zstd: super::ZstdContext::default(),
            ikey: Vec::new(),
            last_user_key: Vec::new(),
            smallest: Vec::new(),
            entries: 0,
            data_blocks: 0,
            raw_key_size: 0,
            raw_value_size: 0,
            tombstones: 0,
            ts_range: None,
            failed: false,
        })
    }

    /// Bytes written so far (data blocks only until `finish`).
    pub fn bytes_written(&self) -> u64 {
        self.offset
    }

    /// Estimated file size if finished now.
    pub fn estimated_size(&self) -> u64 {
        self.offset + self.data.estimated_size() as u64
    }

    /// Entries added so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Adds an entry. Keys must strictly increase; an error leaves the writer unusable.
    pub fn add(&mut self, user_key: &[u8], value: &[u8]) -> Result<()> {
        if self.failed {
            return Err(Error::Usage("writer already failed".into()));
        }
        let r = self.add_inner(user_key, value);
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn add_inner(&mut self, user_key: &[u8], value: &[u8]) -> Result<()> {
        if self.entries > 0 {
            match user_key.cmp(&self.last_user_key) {
                std::cmp::Ordering::Greater => {}
                std::cmp::Ordering::Equal => {
                    return Err(Error::DuplicateKey {
                        index: self.entries,
                        key: HexBytes(user_key.to_vec()),
                    })
                }
                std::cmp::Ordering::Less => {
                    return Err(Error::UnsortedInput {
                        index: self.entries,
                        prev: HexBytes(self.last_user_key.clone()),
                        key: HexBytes(user_key.to_vec()),
                    })
                }
            }
        }
        if self.opts.mvcc {
            let (_, ts) = mvcc::decode_key(user_key)?;
            if mvcc::decode_value(user_key, value)?.is_tombstone() {
                self.tombstones += 1;
            }
            self.ts_range = Some(match self.ts_range {
                None => (ts, ts),
                Some((lo, hi)) => (lo.min(ts), hi.max(ts)),
            });
        }
        if user_key.len() + value.len() > MAX_ENTRY_SIZE {
            return Err(Error::Limit {
                field: "entry size",
                offset: self.offset,
                value: (user_key.len() + value.len()) as u64,
                limit: MAX_ENTRY_SIZE as u64,
            });
        }
        if self.entries == 0 {
            self.smallest = user_key.to_vec();
        }
        self.ikey.clear();
        push_internal_key(&mut self.ikey, user_key);
        self.data.add(&self.ikey, value);
        self.last_user_key.clear();
        self.last_user_key.extend_from_slice(user_key);
        self.entries += 1;
        self.raw_key_size += self.ikey.len() as u64;
        self.raw_value_size += value.len() as u64;
        if self.data.estimated_size() >= self.opts.block_size {
            self.flush_data_block()?;
        }
        Ok(())
    }

    fn flush_data_block(&mut self) -> Result<()> {
        if self.data.is_empty() {
            return Ok(());
        }
        // The separator is the block's last internal key: >= every key in the block and
        // < the first key of the next one.
        let sep = self.data.last_key().to_vec();
        let mut raw = std::mem::take(&mut self.scratch);
        self.data.finish_into(&mut raw);
        let handle = self.write_block(&raw, self.opts.compression)?;
        self.scratch = raw;
        let mut hv = Vec::with_capacity(20);
        handle.encode(&mut hv);
        self.index.add(&sep, &hv);
        self.data_blocks += 1;
        Ok(())
    }

    fn write_block(&mut self, raw: &[u8], compression: Compression) -> Result<BlockHandle> {
        let mut buf = std::mem::take(&mut self.compressed);
        let use_compressed = compress(raw, compression, &mut buf, &mut self.zstd)?;
        let (stored, ctype) = if use_compressed {
            (buf.as_slice(), compression.type_byte())
        } else {
            (raw, 0)
        };
        let handle = BlockHandle {
            offset: self.offset,
            size: stored.len() as u64,
        };
        let trailer = block_trailer(stored, ctype);
        self.out.write_all(stored)?;
        self.out.write_all(&trailer)?;
        self.offset += (stored.len() + trailer.len()) as u64;
        self.compressed = buf;
        Ok(handle)
    }

    /// Writes the index, properties, metaindex and footer. A file must hold at least one
    /// entry (as with RocksDB's `SstFileWriter`).
    pub fn finish(mut self) -> Result<(W, WriteSummary)> {
        if self.failed {
            return Err(Error::Usage("writer already failed".into()));
        }
        if self.entries == 0 {
            return Err(Error::Usage("cannot finish an SST with no entries".into()));
        }
        self.flush_data_block()?;
        let data_size = self.offset;

        let mut raw = Vec::new();
        self.index.finish_into(&mut raw);
        let index = self.write_block(&raw, Compression::None)?;

        let mut p = PropsBuilder::default();
        p.bytes(names::COMPARATOR, BYTEWISE_COMPARATOR.as_bytes());
        p.u64(names::NUM_ENTRIES, self.entries);
        p.u64(names::RAW_KEY_SIZE, self.raw_key_size);
        p.u64(names::RAW_VALUE_SIZE, self.raw_value_size);
        p.u64(names::DATA_SIZE, data_size);
        p.u64(names::INDEX_SIZE, index.size + super::TRAILER_LEN as u64);
        p.u64(names::NUM_DATA_BLOCKS, self.data_blocks);
        p.u64(names::FILTER_SIZE, 0);
        p.u64(names::FORMAT_VERSION, u64::from(FORMAT_VERSION));
        p.u64(names::FIXED_KEY_LEN, 0);
        p.u64(names::COLUMN_FAMILY_ID, 0x7fff_ffff);
        p.bytes(names::COLUMN_FAMILY_NAME, b"");
        p.bytes(
            names::COMPRESSION,
            self.opts.compression.rocksdb_name().as_bytes(),
        );
        p.bytes(names::MERGE_OPERATOR, b"nullptr");
        p.bytes(names::PREFIX_EXTRACTOR, b"nullptr");
        p.bytes(names::PROPERTY_COLLECTORS, b"[]");
        p.u64(names::NUM_DELETIONS, 0);
        p.u64(names::NUM_MERGE_OPERANDS, 0);
        p.u64(names::NUM_RANGE_DELETIONS, 0);
        p.u64(names::INDEX_KEY_IS_USER_KEY, 0);
        p.u64(names::INDEX_VALUE_DELTA, 0);
        p.bytes(names::INDEX_TYPE, &0u32.to_le_bytes());
        p.bytes(names::WHOLE_KEY_FILTERING, b"1");
        p.bytes(names::PREFIX_FILTERING, b"0");
        p.bytes(names::EXTERNAL_VERSION, &2u32.to_le_bytes());
        p.bytes(names::EXTERNAL_GLOBAL_SEQNO, &0u64.to_le_bytes());
        p.u64(names::VOUCH_FORMAT, VOUCH_PROPS_VERSION);
        p.u64(names::VOUCH_ENTRIES, self.entries);
        p.bytes(names::VOUCH_SMALLEST, &self.smallest);
        p.bytes(names::VOUCH_LARGEST, &self.last_user_key);
        if self.opts.mvcc {
            p.u64(names::VOUCH_TOMBSTONES, self.tombstones);
            if let Some((lo, hi)) = self.ts_range {
                p.bytes(names::VOUCH_TS_MIN, &lo.encode_be());
                p.bytes(names::VOUCH_TS_MAX, &hi.encode_be());
            }
        }
        p.encode(&mut raw);
        let props = self.write_block(&raw, Compression::None)?;

        let mut meta = BlockBuilder::new(1);
        let mut hv = Vec::new();
        props.encode(&mut hv);
        meta.add(PROPERTIES_BLOCK.as_bytes(), &hv);
        meta.finish_into(&mut raw);
        let metaindex = self.write_block(&raw, Compression::None)?;

        let footer = Footer {
            checksum_type: CHECKSUM_CRC32C,
            metaindex,
            index,
            format_version: FORMAT_VERSION,
        }
        .encode();
        self.out.write_all(&footer)?;
        self.offset += footer.len() as u64;
        self.out.flush()?;
        let summary = WriteSummary {
            file_size: self.offset,
            entries: self.entries,
            data_blocks: self.data_blocks,
            smallest: std::mem::take(&mut self.smallest),
            largest: std::mem::take(&mut self.last_user_key),
            raw_key_size: self.raw_key_size,
            raw_value_size: self.raw_value_size,
            tombstones: self.tombstones,
            ts_range: self.ts_range,
        };
        Ok((self.out, summary))
    }
}

/// Writes `entries` (sorted) into an in-memory SST.
pub fn write_to_vec<'a, I>(entries: I, opts: WriterOptions) -> Result<Vec<u8>>
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    let mut w = SstWriter::new(Vec::new(), opts)?;
    for (k, v) in entries {
        w.add(k, v)?;
    }
    Ok(w.finish()?.0)
}
