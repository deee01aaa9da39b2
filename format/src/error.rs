//! One error type for everything `format` decodes or encodes.
//!
//! Every variant says *what* is wrong and *where*: the field, the byte offset (absolute in
//! the file for SSTs, relative to the start of the input for standalone encodings), the
//! block when there is one, and stored vs computed values for checksums. Variants compare
//! with `==`, so tests assert exact errors.

use std::fmt;

/// The broad class of an error; stable, for callers that only branch on the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// The underlying reader or writer failed.
    Io,
    /// Bytes do not follow the format (bad magic, bad checksum, truncated, malformed).
    Format,
    /// Keys are out of order, duplicated, or do not decode as the expected key kind.
    Key,
    /// A length or count exceeds a configured limit.
    Limit,
    /// The caller asked for something invalid (bad options, wrong API use).
    Usage,
}

/// Which block of an SST an error is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockKind {
    /// A data block; the number is its position in the index (0-based).
    Data(u64),
    /// The index block.
    Index,
    /// The metaindex block.
    Metaindex,
    /// The properties block.
    Properties,
}

impl fmt::Display for BlockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockKind::Data(i) => write!(f, "data block #{i}"),
            BlockKind::Index => f.write_str("index block"),
            BlockKind::Metaindex => f.write_str("metaindex block"),
            BlockKind::Properties => f.write_str("properties block"),
        }
    }
}

/// Hex rendering of bytes in messages, shortened past 64 bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HexBytes(pub Vec<u8>);

impl fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 64;
        let shown = self.0.get(..MAX).unwrap_or(&self.0);
        f.write_str(&hex::encode(shown))?;
        if self.0.len() > MAX {
            write!(f, "…(+{} bytes)", self.0.len() - MAX)?;
        }
        Ok(())
    }
}

impl From<&[u8]> for HexBytes {
    fn from(b: &[u8]) -> Self {
        HexBytes(b.to_vec())
    }
}

/// Everything that can go wrong in `format`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- generic decoding -------------------------------------------------------------
    /// Input ended before a field was complete.
    #[error("truncated {field} at offset {offset}: need {needed} bytes, {available} available")]
    Truncated {
        field: &'static str,
        offset: u64,
        needed: u64,
        available: u64,
    },
    /// A varint is longer than allowed or overflows its type.
    #[error("malformed varint in {field} at offset {offset}")]
    Varint { field: &'static str, offset: u64 },
    /// Bytes remain after a value that must use its whole input.
    #[error("{extra} trailing bytes after {field} at offset {offset}")]
    TrailingBytes {
        field: &'static str,
        offset: u64,
        extra: u64,
    },
    /// A length or count is over a limit; checked before allocating.
    #[error("{field} at offset {offset} is {value}, over the limit of {limit}")]
    Limit {
        field: &'static str,
        offset: u64,
        value: u64,
        limit: u64,
    },
    /// A key record asks a reader for more key-derivation work than allowed
    /// ([`crate::encryption_info::MAX_ITERATIONS`]); refused before any derivation runs.
    #[error("{field} at offset {offset} asks for {value} iterations, over the maximum of {limit} (refused before deriving any key)")]
    KdfCost {
        field: &'static str,
        offset: u64,
        value: u64,
        limit: u64,
    },
    /// A field holds a value the format does not allow.
    #[error("invalid {field} at offset {offset}: {reason}")]
    Invalid {
        field: &'static str,
        offset: u64,
        reason: String,
    },
    /// The underlying reader or writer failed.
    #[error("I/O error: {message}")]
    Io {
        kind: std::io::ErrorKind,
        message: String,
    },
    /// The caller misused the API (not a property of the bytes).
    #[error("usage: {0}")]
    Usage(String),

    // ---- SST --------------------------------------------------------------------------
    /// The file is shorter than a footer.
    #[error("file of {size} bytes is too small for an SST footer ({needed} bytes)")]
    FileTooSmall { size: u64, needed: u64 },
    /// The footer's magic number is not RocksDB's block-based table magic.
    #[error("bad magic {found:#018x} at offset {offset} (expected {expected:#018x})")]
    BadMagic {
        offset: u64,
        found: u64,
        expected: u64,
    },
    /// The footer names a format version this reader does not support.
    #[error("unsupported format_version {found} at offset {offset} (supported: 2)")]
    UnsupportedFormatVersion { offset: u64, found: u32 },
    /// The footer names a checksum type this reader does not support.
    #[error("unsupported checksum type {found} at offset {offset} (supported: 1 = CRC32C)")]
    UnsupportedChecksumType { offset: u64, found: u8 },
    /// A block handle points outside the file or overlaps the footer.
    #[error(
        "{block} handle at offset {offset} points to [{block_offset}, +{block_size}) outside the {limit} bytes before the footer"
    )]
    HandleOutOfBounds {
        block: BlockKind,
        offset: u64,
        block_offset: u64,
        block_size: u64,
        limit: u64,
    },
    /// A block's stored CRC32C does not match its bytes.
    #[error("{block} at offset {offset}: checksum mismatch, stored {stored:#010x}, computed {computed:#010x}")]
    BlockChecksum {
        block: BlockKind,
        offset: u64,
        stored: u32,
        computed: u32,
    },
    /// A block's compression byte names an unknown or unsupported algorithm.
    #[error("{block} at offset {offset}: unsupported compression type {found}")]
    UnknownCompression {
        block: BlockKind,
        offset: u64,
        found: u8,
    },
    /// A compressed block does not decompress.
    #[error("{block} at offset {offset}: decompression failed: {reason}")]
    Decompress {
        block: BlockKind,
        offset: u64,
        reason: String,
    },
    /// A block's internal structure (entries, restarts) is malformed.
    #[error("{block} at offset {offset}: malformed {field}: {reason}")]
    BadBlock {
        block: BlockKind,
        offset: u64,
        field: &'static str,
        reason: String,
    },
    /// Keys are not strictly increasing.
    #[error("{block} at offset {offset}: key {key} is not greater than the previous key {prev}")]
    KeyOrder {
        block: BlockKind,
        offset: u64,
        prev: HexBytes,
        key: HexBytes,
    },
    /// An internal key is shorter than its 8-byte trailer or has an unsupported type.
    #[error("{block} at offset {offset}: bad internal key {key}: {reason}")]
    BadInternalKey {
        block: BlockKind,
        offset: u64,
        key: HexBytes,
        reason: &'static str,
    },
    /// The index and the data blocks disagree.
    #[error("{block} at offset {offset}: index mismatch: {reason}")]
    IndexMismatch {
        block: BlockKind,
        offset: u64,
        reason: String,
    },
    /// A required table property is absent.
    #[error("missing table property {name}")]
    MissingProperty { name: &'static str },
    /// A table property is malformed or disagrees with the file's contents.
    #[error("table property {name}: {reason}")]
    Property { name: String, reason: String },
    /// Writer: keys handed to the writer are not strictly increasing.
    #[error("entry #{index}: key {key} is not greater than the previous key {prev}")]
    UnsortedInput {
        index: u64,
        prev: HexBytes,
        key: HexBytes,
    },
    /// Writer: the same key was given twice.
    #[error("entry #{index}: duplicate key {key}")]
    DuplicateKey { index: u64, key: HexBytes },

    // ---- MVCC -------------------------------------------------------------------------
    /// A value's CRC32C over key and value does not match.
    #[error(
        "value checksum mismatch for key {key}: stored {stored:#010x}, computed {computed:#010x}"
    )]
    ValueChecksum {
        key: HexBytes,
        stored: u32,
        computed: u32,
    },
    // ---- manifests ---------------------------------------------------------------------
    /// `BACKUP_MANIFEST-CHECKSUM` does not match the stored manifest bytes.
    #[error("manifest checksum mismatch: checksum file holds {stored}, manifest bytes hash to {computed}")]
    ManifestChecksum {
        stored: HexBytes,
        computed: HexBytes,
    },
    // ---- table keys and rows (see keys.rs, row.rs) ------------------------------------
    /// A key column does not decode: wrong tag for the column type, non-canonical or
    /// malformed payload. `column` is the 0-based position in the key tuple.
    #[error("key column {column} at offset {offset}: {reason}")]
    KeyColumn {
        column: usize,
        offset: u64,
        reason: String,
    },
    /// A datum of this kind (JSON) has no order-preserving key encoding. `column` is the
    /// position in the tuple (0 when encoding a single datum).
    #[error("key column {column}: {kind} values cannot be part of a key")]
    NotKeyEncodable { column: usize, kind: &'static str },
    /// A row column does not decode or does not match the table's columns.
    #[error("row column {column_id} at offset {offset}: {reason}")]
    RowColumn {
        column_id: u32,
        offset: u64,
        reason: String,
    },
    /// Writer: row column ids handed to `encode_row` are not strictly increasing.
    #[error("row entry #{position}: column id {column_id} is not greater than the previous id {previous}")]
    RowColumnOrder {
        position: usize,
        previous: u32,
        column_id: u32,
    },
    /// A non-nullable column is absent from a row value.
    #[error("row is missing non-nullable column {column_id}")]
    RowMissingColumn { column_id: u32 },
    // ---- encryption envelope (see envelope.rs) ----------------------------------------
    /// The envelope header does not start with `VOUCHENC`.
    #[error("not an encrypted vouch file: bad envelope magic {found} at offset {offset} (expected 564f554348454e43, \"VOUCHENC\")")]
    EnvelopeMagic { offset: u64, found: HexBytes },
    /// The envelope header names a version this reader does not know.
    #[error("unsupported envelope version {found} at offset {offset} (supported: 1)")]
    EnvelopeVersion { offset: u64, found: u8 },
    /// The envelope header names a cipher this reader does not know.
    #[error("unsupported envelope cipher {found} at offset {offset} (supported: 1 = AES-256-GCM)")]
    EnvelopeCipher { offset: u64, found: u8 },
    /// The envelope header's chunk size is not a power of two in the allowed range.
    #[error(
        "bad envelope chunk size {found} at offset {offset} (a power of two from {min} to {max})"
    )]
    EnvelopeChunkSize {
        offset: u64,
        found: u32,
        min: u32,
        max: u32,
    },
    /// The sealed file is too short for the header and one tag, or its last chunk is shorter
    /// than a tag.
    #[error("encrypted file truncated: chunk {chunk} at offset {offset} has {available} bytes, fewer than the {needed} it needs")]
    EnvelopeTruncated {
        chunk: u64,
        offset: u64,
        needed: u64,
        available: u64,
    },
    /// A chunk does not authenticate: wrong key, wrong file identity, or the chunk (or the
    /// header, which every chunk authenticates) was modified, moved or replaced.
    #[error("authentication failed at chunk {chunk} (stored at offset {offset}): wrong key or file identity, or the data was corrupted or tampered with")]
    EnvelopeAuth { chunk: u64, offset: u64 },
    /// The last chunk present authenticates only as a non-final chunk: the file was cut at
    /// a chunk boundary.
    #[error("final chunk missing: the file ends after chunk {last_chunk} (at offset {offset}), which is not the final chunk (truncated at a chunk boundary)")]
    EnvelopeFinalChunkMissing { last_chunk: u64, offset: u64 },
    /// A chunk authenticates as the final chunk but more bytes follow it.
    #[error("data after the final chunk: chunk {chunk} is final but {extra} more bytes follow at offset {offset}")]
    EnvelopeDataAfterFinal { chunk: u64, offset: u64, extra: u64 },
    /// A small sealed value (a wrapped key) does not authenticate.
    #[error("authentication failed for a sealed value of {len} bytes: wrong key-encryption key, wrong associated data, or damaged")]
    SmallAuth { len: u64 },
}

impl Error {
    /// The broad class of this error.
    pub fn category(&self) -> Category {
        match self {
            Error::Io { .. } => Category::Io,
            Error::Usage(_) => Category::Usage,
            Error::Limit { .. } | Error::KdfCost { .. } => Category::Limit,
            Error::KeyOrder { .. }
            | Error::UnsortedInput { .. }
            | Error::DuplicateKey { .. }
            | Error::BadInternalKey { .. } => Category::Key,
            _ => Category::Format,
        }
    }

    /// The same error with every offset shifted by `base` (for decoders run on a sub-slice).
    pub fn at_base(mut self, base: u64) -> Self {
        match &mut self {
            Error::Truncated { offset, .. }
            | Error::Varint { offset, .. }
            | Error::TrailingBytes { offset, .. }
            | Error::Limit { offset, .. }
            | Error::KdfCost { offset, .. }
            | Error::Invalid { offset, .. }
            | Error::KeyColumn { offset, .. }
            | Error::RowColumn { offset, .. } => *offset = offset.saturating_add(base),
            _ => {}
        }
        self
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
