//! RocksDB block-based table files, format_version 2, as `SstFileWriter` makes them.
//!
//! Layout (see `spec/sst.md`):
//!
//! ```text
//! [data block + trailer]*  [index block + trailer]  [properties block + trailer]
//! [metaindex block + trailer]  [footer: 53 bytes]
//! ```
//!
//! Every block is followed by a 5-byte trailer: one compression byte and a masked CRC32C
//! (little-endian) over the stored block bytes and the compression byte.

mod block;
mod iter;
mod props;
mod reader;
mod scan;
mod source;
mod writer;

pub use block::VALUE_TRAILER;
pub use iter::{Entries, SstIter};
pub use props::{Properties, VouchProps};
pub use reader::{Limits, SstReader};
pub use scan::{BlockFeed, BlockHook, MvccEntry, ScanEntry, ScanStats, VerifiedScan};
pub use source::{check_read_range, BlockSource};
pub use writer::{
    write_to_vec, SstWriter, WriteSummary, WriterOptions, MAX_BLOCK_SIZE, MAX_ENTRY_SIZE,
};

use crate::crc;
use crate::cursor::{put_varint64, Cursor};
use crate::error::{BlockKind, Error, Result};

/// RocksDB's block-based table magic number (`kBlockBasedTableMagicNumber`).
pub const MAGIC: u64 = 0x88e2_41b7_85f4_cff7;
/// The table format version vouch writes and reads.
pub const FORMAT_VERSION: u32 = 2;
/// Checksum type 1: CRC32C.
pub const CHECKSUM_CRC32C: u8 = 1;
/// Footer size for format_version >= 1: checksum type, two padded handles, version, magic.
pub const FOOTER_LEN: usize = 53;
/// Block trailer size: compression type byte + masked CRC32C.
pub const TRAILER_LEN: usize = 5;
/// Maximum encoded length of a block handle (two varint64s).
pub const MAX_HANDLE_LEN: usize = 20;
/// Name of the properties block in the metaindex.
pub const PROPERTIES_BLOCK: &str = "rocksdb.properties";

/// Where a block is: offset and size of its contents, excluding the 5-byte trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockHandle {
    /// Offset of the block in the file.
    pub offset: u64,
    /// Size of the stored block, without its trailer.
    pub size: u64,
}

impl BlockHandle {
    /// Appends the handle as two varint64s.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_varint64(out, self.offset);
        put_varint64(out, self.size);
    }

    /// Reads a handle.
    pub fn decode(c: &mut Cursor<'_>) -> Result<Self> {
        let offset = c.varint64("block handle offset")?;
        let size = c.varint64("block handle size")?;
        Ok(BlockHandle { offset, size })
    }

    /// First byte after the block's trailer.
    pub fn end_with_trailer(&self) -> u64 {
        self.offset
            .saturating_add(self.size)
            .saturating_add(TRAILER_LEN as u64)
    }
}

/// Block compression, as the trailer's compression byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Compression {
    /// 0: stored as is.
    #[default]
    None,
    /// 1: raw Snappy.
    Snappy,
    /// 7: varint32 uncompressed length, then a Zstandard frame.
    Zstd,
}

impl Compression {
    /// The trailer byte.
    pub fn type_byte(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Snappy => 1,
            Compression::Zstd => 7,
        }
    }

    /// RocksDB's name, as in the `rocksdb.compression` property.
    pub fn rocksdb_name(self) -> &'static str {
        match self {
            Compression::None => "NoCompression",
            Compression::Snappy => "Snappy",
            Compression::Zstd => "ZSTD",
        }
    }

    /// Parses `none`, `snappy` or `zstd`.
    pub fn from_name(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "no" | "nocompression" => Some(Compression::None),
            "snappy" => Some(Compression::Snappy),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// The 53-byte footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// Checksum type (always 1, CRC32C).
    pub checksum_type: u8,
    /// The metaindex block.
    pub metaindex: BlockHandle,
    /// The index block.
    pub index: BlockHandle,
    /// The table format version (always 2).
    pub format_version: u32,
}

impl Footer {
    /// Encodes the footer; always exactly [`FOOTER_LEN`] bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FOOTER_LEN);
        out.push(self.checksum_type);
        self.metaindex.encode(&mut out);
        self.index.encode(&mut out);
        out.resize(1 + 2 * MAX_HANDLE_LEN, 0);
        out.extend_from_slice(&self.format_version.to_le_bytes());
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out
    }

    /// Decodes the footer from the last [`FOOTER_LEN`] bytes of a file of `file_size` bytes.
    /// Strict: padding must be zero, so that no footer byte goes unchecked.
    pub fn decode(bytes: &[u8], file_size: u64) -> Result<Self> {
        let start = file_size.saturating_sub(FOOTER_LEN as u64);
        let mut c = Cursor::with_base(bytes, start);
        let checksum_type = c.u8("footer checksum type")?;
        let metaindex = BlockHandle::decode(&mut c)?;
        let index = BlockHandle::decode(&mut c)?;
        let handles_end = c.position();
        let pad_len = (1 + 2 * MAX_HANDLE_LEN).saturating_sub(c.position());
        let pad_at = c.offset();
        let pad = c.take(pad_len, "footer padding")?;
        let version_at = c.offset();
        let format_version = c.u32_le("footer format version")?;
        let magic_at = c.offset();
        let magic = c.u64_le("footer magic")?;
        c.finish("footer")?;
        if magic != MAGIC {
            return Err(Error::BadMagic {
                offset: magic_at,
                found: magic,
                expected: MAGIC,
            });
        }
        if format_version != FORMAT_VERSION {
            return Err(Error::UnsupportedFormatVersion {
                offset: version_at,
                found: format_version,
            });
        }
        if checksum_type != CHECKSUM_CRC32C {
            return Err(Error::UnsupportedChecksumType {
                offset: start,
                found: checksum_type,
            });
        }
        if let Some(i) = pad.iter().position(|&b| b != 0) {
            return Err(Error::Invalid {
                field: "footer padding",
                offset: pad_at + i as u64,
                reason: "padding after the block handles must be zero".into(),
            });
        }
        // A varint given a redundant continuation byte (`0x80 0x00` for `0x00`) decodes to
        // the same handle, so a flipped top bit would go unnoticed: only the shortest
        // encoding, the one every writer produces, is accepted.
        let mut canonical = Vec::with_capacity(2 * MAX_HANDLE_LEN);
        metaindex.encode(&mut canonical);
        index.encode(&mut canonical);
        let stored = bytes.get(1..handles_end).unwrap_or(&[]);
        if stored != canonical.as_slice() {
            let i = stored
                .iter()
                .zip(&canonical)
                .take_while(|(a, b)| a == b)
                .count();
            return Err(Error::Invalid {
                field: "footer block handle",
                offset: start + 1 + i as u64,
                reason: "varint is not in its shortest form".into(),
            });
        }
        Ok(Footer {
            checksum_type,
            metaindex,
            index,
            format_version,
        })
    }
}

/// Computes the trailer for stored block bytes and compression byte.
pub fn block_trailer(stored: &[u8], compression: u8) -> [u8; TRAILER_LEN] {
    let c = crc::crc32c_extend(crc::crc32c(stored), &[compression]);
    let m = crc::mask(c).to_le_bytes();
    [compression, m[0], m[1], m[2], m[3]]
}

/// Checks a block's trailer and returns its compression byte.
/// `with_trailer` is the stored block followed by its 5-byte trailer.
pub(crate) fn check_block(
    with_trailer: &[u8],
    kind: BlockKind,
    offset: u64,
) -> Result<(&[u8], u8)> {
    let n = with_trailer.len();
    if n < TRAILER_LEN {
        return Err(Error::Truncated {
            field: "block trailer",
            offset,
            needed: TRAILER_LEN as u64,
            available: n as u64,
        });
    }
    let (stored, trailer) = with_trailer.split_at(n - TRAILER_LEN);
    let mut c = Cursor::new(trailer);
    let compression = c.u8("block compression type")?;
    let stored_crc = crc::unmask(c.u32_le("block checksum")?);
    let computed = crc::crc32c_extend(crc::crc32c(stored), &[compression]);
    if stored_crc != computed {
        return Err(Error::BlockChecksum {
            block: kind,
            offset,
            stored: stored_crc,
            computed,
        });
    }
    Ok((stored, compression))
}

/// A zstd compression context, created on first use and reused for every block of a
/// file (creating one per block cost about 4% of a backup).
#[derive(Default)]
pub(crate) struct ZstdContext(Option<zstd::bulk::Compressor<'static>>);

impl std::fmt::Debug for ZstdContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ZstdContext")
    }
}

/// Compresses block contents; returns `false` when compression does not pay
/// (RocksDB's rule: keep it only if it saves at least 1/8).
pub(crate) fn compress(
    raw: &[u8],
    compression: Compression,
    out: &mut Vec<u8>,
    zstd_ctx: &mut ZstdContext,
) -> Result<bool> {
    out.clear();
    match compression {
        Compression::None => return Ok(false),
        Compression::Snappy => {
            let max = snap::raw::max_compress_len(raw.len());
            out.resize(max, 0);
            let n = snap::raw::Encoder::new()
                .compress(raw, out)
                .map_err(|e| Error::Usage(format!("snappy compression failed: {e}")))?;
            out.truncate(n);
        }
        Compression::Zstd => {
            put_varint64(out, raw.len() as u64);
            let ctx = match &mut zstd_ctx.0 {
                Some(c) => c,
                slot => slot.insert(zstd::bulk::Compressor::new(3)?),
            };
            let z = ctx.compress(raw)?;
            out.extend_from_slice(&z);
        }
    }
    Ok(out.len() < raw.len() - raw.len() / 8)
}

thread_local! {
    /// The zstd decompression context of this thread, created on first use and reused for
    /// every block the thread decompresses (creating one per block was a large share of a
    /// full verify).
    static ZSTD_DCTX: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// Decompresses one zstd frame into `out`'s spare capacity (more is an error), through this
/// thread's reused context.
fn zstd_decompress(frame: &[u8], out: &mut Vec<u8>) -> std::io::Result<usize> {
    ZSTD_DCTX.with(|cell| {
        let mut slot = cell.borrow_mut();
        let d = match &mut *slot {
            Some(d) => d,
            empty => empty.insert(zstd::bulk::Decompressor::new()?),
        };
        d.decompress_to_buffer(frame, out)
    })
}

/// Decompresses a stored block, with the uncompressed size checked against `limit`.
pub(crate) fn decompress(
    stored: &[u8],
    compression: u8,
    limit: usize,
    kind: BlockKind,
    offset: u64,
) -> Result<Vec<u8>> {
    let fail = |reason: String| Error::Decompress {
        block: kind,
        offset,
        reason,
    };
    match compression {
        1 => {
            let n = snap::raw::decompress_len(stored).map_err(|e| fail(e.to_string()))?;
            if n > limit {
                return Err(Error::Limit {
                    field: "uncompressed block size",
                    offset,
                    value: n as u64,
                    limit: limit as u64,
                });
            }
            snap::raw::Decoder::new()
                .decompress_vec(stored)
                .map_err(|e| fail(e.to_string()))
        }
        7 | 0x40 => {
            let mut c = Cursor::with_base(stored, offset);
            let n = c.varint32("zstd uncompressed length")? as usize;
            if n > limit {
                return Err(Error::Limit {
                    field: "uncompressed block size",
                    offset,
                    value: n as u64,
                    limit: limit as u64,
                });
            }
            let mut out = Vec::with_capacity(n);
            zstd_decompress(c.rest(), &mut out).map_err(|e| fail(e.to_string()))?;
            if out.len() != n {
                return Err(fail(format!(
                    "decompressed to {} bytes, length prefix says {n}",
                    out.len()
                )));
            }
            Ok(out)
        }
        other => Err(Error::UnknownCompression {
            block: kind,
            offset,
            found: other,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_is_53_bytes_and_round_trips() {
        let f = Footer {
            checksum_type: 1,
            metaindex: BlockHandle {
                offset: 1000,
                size: 40,
            },
            index: BlockHandle {
                offset: 300,
                size: 600,
            },
            format_version: 2,
        };
        let b = f.encode();
        assert_eq!(b.len(), FOOTER_LEN);
        assert_eq!(&b[45..], &MAGIC.to_le_bytes());
        assert_eq!(Footer::decode(&b, 2000).unwrap(), f);
    }

    /// A footer whose handles each fit in one byte, followed by zero padding.
    fn small_footer() -> Footer {
        Footer {
            checksum_type: 1,
            metaindex: BlockHandle { offset: 1, size: 2 },
            index: BlockHandle { offset: 3, size: 4 },
            format_version: 2,
        }
    }

    #[test]
    fn footer_rejects_overlong_handle_varint() {
        let mut b = small_footer().encode();
        // The index size 0x04 becomes 0x84 0x00: the same value, one byte longer, and the
        // padding is still all zero.
        b[4] |= 0x80;
        assert_eq!(
            Footer::decode(&b, 100),
            Err(Error::Invalid {
                field: "footer block handle",
                offset: 47 + 4,
                reason: "varint is not in its shortest form".into()
            })
        );
    }

    #[test]
    fn footer_rejects_nonzero_padding() {
        let mut b = small_footer().encode();
        b[30] = 1;
        assert_eq!(
            Footer::decode(&b, 100),
            Err(Error::Invalid {
                field: "footer padding",
                offset: 47 + 30,
                reason: "padding after the block handles must be zero".into()
            })
        );
    }
}
