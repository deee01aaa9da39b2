//! The header and the framing of a sealed file: its constants, [`Header`], and where the
//! chunks of a file of a given size are ([`Framing`]), without any key.

use crate::error::{Error, HexBytes, Result};

/// The first 8 bytes of every sealed file.
pub const MAGIC: [u8; 8] = *b"VOUCHENC";
/// The envelope version this code writes and reads.
pub const VERSION: u8 = 1;
/// Cipher id 1: AES-256-GCM with a per-file key (HMAC-SHA256 of the data key).
pub const CIPHER_AES_256_GCM: u8 = 1;
/// Length of the header.
pub const HEADER_LEN: usize = 40;
/// Length of a GCM tag, stored after every chunk's ciphertext.
pub const TAG_LEN: usize = 16;
/// Length of the random per-file nonce in the header.
pub const FILE_NONCE_LEN: usize = 24;
/// Plaintext bytes per chunk written by [`seal`](super::seal) and
/// [`SealWriter::new`](super::SealWriter::new).
pub const CHUNK_SIZE: u32 = 64 << 10;
/// Smallest chunk size a header may name.
pub const MIN_CHUNK_SIZE: u32 = 64;
/// Largest chunk size a header may name (a reader buffers one or two chunks).
pub const MAX_CHUNK_SIZE: u32 = 16 << 20;
/// Most chunks in one file (the chunk index is a `u32` in the nonce).
pub const MAX_CHUNKS: u64 = 1 << 32;

/// Offsets of the header fields.
const OFF_VERSION: u64 = 8;
const OFF_CIPHER: u64 = 9;
const OFF_RESERVED: u64 = 10;
const OFF_CHUNK_SIZE: u64 = 12;

// ---- header ------------------------------------------------------------------------------

/// The decoded header of a sealed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Plaintext bytes per chunk (the final chunk may hold fewer).
    pub chunk_size: u32,
    /// The random per-file nonce: key derivation input, and its last 8 bytes are the
    /// chunk nonce prefix.
    pub file_nonce: [u8; FILE_NONCE_LEN],
}

impl Header {
    /// The 40 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        let fields = MAGIC
            .iter()
            .copied()
            .chain([VERSION, CIPHER_AES_256_GCM, 0, 0])
            .chain(self.chunk_size.to_be_bytes())
            .chain(self.file_nonce.iter().copied());
        for (dst, src) in h.iter_mut().zip(fields) {
            *dst = src;
        }
        h
    }

    /// Decodes and checks a header from the start of `data` (which may be longer).
    pub fn decode(data: &[u8]) -> Result<Header> {
        let Some(h) = data.get(..HEADER_LEN) else {
            return Err(Error::EnvelopeTruncated {
                chunk: 0,
                offset: 0,
                needed: (HEADER_LEN + TAG_LEN) as u64,
                available: data.len() as u64,
            });
        };
        let (magic, rest) = h.split_at(8);
        if magic != MAGIC {
            return Err(Error::EnvelopeMagic {
                offset: 0,
                found: HexBytes::from(magic),
            });
        }
        let (&version, rest) = rest.split_first().unwrap_or((&0, &[]));
        if version != VERSION {
            return Err(Error::EnvelopeVersion {
                offset: OFF_VERSION,
                found: version,
            });
        }
        let (&cipher, rest) = rest.split_first().unwrap_or((&0, &[]));
        if cipher != CIPHER_AES_256_GCM {
            return Err(Error::EnvelopeCipher {
                offset: OFF_CIPHER,
                found: cipher,
            });
        }
        let (reserved, rest) = rest.split_at(rest.len().min(2));
        if reserved != [0, 0] {
            return Err(Error::Invalid {
                field: "envelope reserved bytes",
                offset: OFF_RESERVED,
                reason: format!("{} (must be zero)", HexBytes::from(reserved)),
            });
        }
        let (cs, nonce) = rest.split_at(rest.len().min(4));
        let chunk_size = u32::from_be_bytes(cs.try_into().unwrap_or_default());
        check_chunk_size(chunk_size)?;
        let file_nonce: [u8; FILE_NONCE_LEN] = nonce.try_into().unwrap_or_default();
        Ok(Header {
            chunk_size,
            file_nonce,
        })
    }
}

pub(super) fn check_chunk_size(chunk_size: u32) -> Result<()> {
    if chunk_size.is_power_of_two() && (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
        Ok(())
    } else {
        Err(Error::EnvelopeChunkSize {
            offset: OFF_CHUNK_SIZE,
            found: chunk_size,
            min: MIN_CHUNK_SIZE,
            max: MAX_CHUNK_SIZE,
        })
    }
}

// ---- sizes -------------------------------------------------------------------------------

/// Chunks used for `plaintext_len` bytes (at least one).
pub(super) fn chunk_count(chunk_size: u32, plaintext_len: u64) -> u64 {
    plaintext_len.div_ceil(u64::from(chunk_size)).max(1)
}

/// Sealed size of `plaintext_len` bytes in 64 KiB chunks.
pub fn sealed_len(plaintext_len: u64) -> u64 {
    sealed_len_with(CHUNK_SIZE, plaintext_len)
}

/// Sealed size of `plaintext_len` bytes in chunks of `chunk_size`.
pub fn sealed_len_with(chunk_size: u32, plaintext_len: u64) -> u64 {
    let tags = chunk_count(chunk_size.max(1), plaintext_len).saturating_mul(TAG_LEN as u64);
    (HEADER_LEN as u64)
        .saturating_add(plaintext_len)
        .saturating_add(tags)
}

/// Plaintext size of a sealed file of `sealed_len` bytes in 64 KiB chunks; an error if no
/// sealed file has that size.
pub fn plaintext_len(sealed_len: u64) -> Result<u64> {
    Framing::new(CHUNK_SIZE, sealed_len).map(|l| l.plaintext_len)
}

/// Where the chunks of a sealed file of a given size are (spec/envelope.md §1): the
/// framing every reader checks before it reads a chunk, public so that a verifier without
/// the key checks a file's size by the same rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    chunk_size: u64,
    sealed_len: u64,
    chunks: u64,
    plaintext_len: u64,
}

impl Framing {
    /// The framing of a sealed file of `sealed_len` bytes whose header names `chunk_size`
    /// (not checked here: [`Header::decode`] checks it). Errors when no sealed file has
    /// that size: [`Error::EnvelopeTruncated`] when it is shorter than a header and one tag
    /// (chunk 0) or its final chunk is too short (a final chunk other than chunk 0 holds at
    /// least one byte), [`Error::Limit`] when it would need more than [`MAX_CHUNKS`].
    pub fn new(chunk_size: u32, sealed_len: u64) -> Result<Framing> {
        let cs = u64::from(chunk_size);
        let header = HEADER_LEN as u64;
        let tag = TAG_LEN as u64;
        if sealed_len < header + tag {
            return Err(Error::EnvelopeTruncated {
                chunk: 0,
                offset: header.min(sealed_len),
                needed: tag,
                available: sealed_len.saturating_sub(header),
            });
        }
        let body = sealed_len - header;
        let full = cs + tag;
        let chunks = body.div_ceil(full);
        if chunks > MAX_CHUNKS {
            return Err(Error::Limit {
                field: "envelope chunk count",
                offset: 0,
                value: chunks,
                limit: MAX_CHUNKS,
            });
        }
        let last = chunks - 1;
        let last_stored = body - last * full;
        // Only chunk 0 may be empty; any other final chunk holds at least one byte.
        let needed = if last == 0 { tag } else { tag + 1 };
        if last_stored < needed {
            return Err(Error::EnvelopeTruncated {
                chunk: last,
                offset: header + last * full,
                needed,
                available: last_stored,
            });
        }
        Ok(Framing {
            chunk_size: cs,
            sealed_len,
            chunks,
            plaintext_len: last * cs + (last_stored - tag),
        })
    }

    /// Plaintext bytes per chunk.
    pub fn chunk_size(&self) -> u64 {
        self.chunk_size
    }

    /// Size of the sealed file.
    pub fn sealed_len(&self) -> u64 {
        self.sealed_len
    }

    /// Number of chunks (at least one).
    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    /// Size of the plaintext.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// Offset of chunk `i`'s stored bytes in the sealed file.
    pub fn stored_offset(&self, i: u64) -> u64 {
        HEADER_LEN as u64 + i * (self.chunk_size + TAG_LEN as u64)
    }

    /// Plaintext bytes in chunk `i` (`i` below [`Framing::chunks`]).
    pub fn plain_len(&self, i: u64) -> u64 {
        if i + 1 < self.chunks {
            self.chunk_size
        } else {
            self.plaintext_len - i * self.chunk_size
        }
    }
}
