//! The encryption envelope: file-level, chunked AES-256-GCM (the repository's
//! `spec/envelope.md` is the normative description).
//!
//! A sealed file is a 40-byte header followed by chunks. Every chunk holds `chunk_size`
//! bytes of plaintext (64 KiB by default) except the last, the *final* chunk, which holds
//! 1 to `chunk_size` bytes (0 only when the whole plaintext is empty: an empty file still
//! has one final, empty chunk). Each chunk is stored as ciphertext ‖ 16-byte GCM tag.
//!
//! - The key of a file is derived from the data key and the header's random 24-byte file
//!   nonce (HMAC-SHA256), and the nonce of chunk *i* is the file nonce's last 8 bytes ‖ *i*
//!   as a big-endian `u32`: nonces never repeat within a file, and files never share a key
//!   unless they share 24 random bytes.
//! - The associated data of every chunk is the whole header ‖ the chunk index ‖ a
//!   final-chunk flag ‖ the file identity (backup id and relative path). Reordering,
//!   truncating (at or between chunk boundaries), extending, splicing chunks across files,
//!   swapping whole files, or editing the header all fail authentication.
//!
//! Reading: [`open_all`] for small files, [`Opened`] for positioned reads of the plaintext
//! that decrypt only the chunks a read touches (an [`Opened`] is a [`BlockSource`], so an
//! [`SstReader`](crate::sst::SstReader) reads an encrypted SST through it). Writing:
//! [`seal`] for buffers, [`SealWriter`] for streams (memory: one chunk). Wrapping a data
//! key with a key-encryption key: [`seal_small`] / [`open_small`].
//!
//! Built with `--cfg fuzzing` (cargo-fuzz), the chunk cipher is a *null cipher*: the same
//! framing, plaintext stored as is, and a tag that only records the final-chunk flag, so
//! fuzzers' mutations reach the parsers behind the envelope. It is never compiled otherwise.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, HexBytes, Result};
use crate::sst::{check_read_range, BlockSource};

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
/// Plaintext bytes per chunk written by [`seal`] and [`SealWriter::new`].
pub const CHUNK_SIZE: u32 = 64 << 10;
/// Smallest chunk size a header may name.
pub const MIN_CHUNK_SIZE: u32 = 64;
/// Largest chunk size a header may name (a reader buffers one or two chunks).
pub const MAX_CHUNK_SIZE: u32 = 16 << 20;
/// Most chunks in one file (the chunk index is a `u32` in the nonce).
pub const MAX_CHUNKS: u64 = 1 << 32;
/// Length of the random nonce stored in front of a [`seal_small`] ciphertext.
pub const SMALL_NONCE_LEN: usize = 12;
/// Bytes [`seal_small`] adds to its plaintext (nonce and tag).
pub const SMALL_OVERHEAD: usize = SMALL_NONCE_LEN + TAG_LEN;

/// Domain-separation label of the per-file key derivation (followed by one zero byte).
const FILE_KEY_LABEL: &[u8] = b"vouch envelope v1 file key\0";
/// Offsets of the header fields.
const OFF_VERSION: u64 = 8;
const OFF_CIPHER: u64 = 9;
const OFF_RESERVED: u64 = 10;
const OFF_CHUNK_SIZE: u64 = 12;
/// Where the chunk index and the final flag sit in the associated data.
const AAD_INDEX: usize = HEADER_LEN;
const AAD_FINAL: usize = HEADER_LEN + 4;

// ---- keys and identities ------------------------------------------------------------------

/// A 256-bit AES key: a chain's data key, or a key-encryption key for [`seal_small`].
/// Zeroized on drop; its `Debug` form never shows the bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; 32]);

impl DataKey {
    /// Takes the key bytes (the caller should zeroize its own copy).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        DataKey(bytes)
    }

    /// Copies a key out of a slice, which must be exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| Error::Invalid {
            field: "data key",
            offset: 0,
            reason: format!("{} bytes, expected 32", bytes.len()),
        })?;
        Ok(DataKey(arr))
    }

    /// The key bytes (for wrapping it; never print them).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// What a sealed file is bound to: the backup it belongs to and its path inside the
/// backup. A chunk authenticates only under the identity it was sealed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId<'a> {
    /// The backup's id bytes (the caller chooses them; the same for every file of a backup).
    pub backup_id: &'a [u8],
    /// The file's path relative to the backup's directory, e.g. `data/1.sst`.
    pub path: &'a str,
}

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

fn check_chunk_size(chunk_size: u32) -> Result<()> {
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
fn chunk_count(chunk_size: u32, plaintext_len: u64) -> u64 {
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

// ---- the ciphers -------------------------------------------------------------------------

/// AES-256-GCM through the `aes-gcm` crate, exactly as the envelope calls it (exposed so
/// the known-answer tests go through the same calls).
#[doc(hidden)]
pub struct RawAead(Aes256Gcm);

impl fmt::Debug for RawAead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawAead(<key redacted>)")
    }
}

impl RawAead {
    /// A cipher under a 256-bit key.
    pub fn new(key: &[u8; 32]) -> Self {
        RawAead(Aes256Gcm::new(key.into()))
    }

    /// Encrypts `buf` in place; returns the tag. `None` only past GCM's length limits.
    pub fn seal(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> Option<[u8; TAG_LEN]> {
        self.0
            .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf)
            .ok()
            .map(Into::into)
    }

    /// Checks `tag` and decrypts `buf` in place; false (and `buf` unusable) if the tag
    /// does not authenticate.
    pub fn open(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8], tag: &[u8; TAG_LEN]) -> bool {
        self.0
            .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, buf, Tag::from_slice(tag))
            .is_ok()
    }
}

/// The per-file key: HMAC-SHA256(data key, label ‖ file nonce).
#[doc(hidden)]
pub fn derive_file_key(key: &DataKey, file_nonce: &[u8; FILE_NONCE_LEN]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    // HMAC takes keys of any length, so this never fails; the fallback keeps it panic-free.
    if let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()) {
        mac.update(FILE_KEY_LABEL);
        mac.update(file_nonce);
        let mut tag = mac.finalize().into_bytes();
        out.copy_from_slice(&tag);
        tag.as_mut_slice().zeroize();
    }
    out
}

/// The chunk cipher of one file: AES-256-GCM under the file key, or the null cipher when
/// built for fuzzing.
struct ChunkCipher {
    #[cfg(not(fuzzing))]
    aead: RawAead,
    #[cfg_attr(fuzzing, allow(dead_code))]
    nonce_prefix: [u8; 8],
}

impl fmt::Debug for ChunkCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChunkCipher(<key redacted>)")
    }
}

impl ChunkCipher {
    fn new(key: &DataKey, header: &Header) -> ChunkCipher {
        let mut nonce_prefix = [0u8; 8];
        for (d, s) in nonce_prefix
            .iter_mut()
            .zip(header.file_nonce.iter().skip(FILE_NONCE_LEN - 8))
        {
            *d = *s;
        }
        #[cfg(not(fuzzing))]
        {
            let file_key = derive_file_key(key, &header.file_nonce);
            ChunkCipher {
                aead: RawAead::new(&file_key),
                nonce_prefix,
            }
        }
        #[cfg(fuzzing)]
        {
            let _ = key;
            ChunkCipher { nonce_prefix }
        }
    }

    #[cfg_attr(fuzzing, allow(dead_code))]
    fn nonce(&self, index: u32) -> [u8; 12] {
        let mut n = [0u8; 12];
        for (d, s) in n
            .iter_mut()
            .zip(self.nonce_prefix.iter().chain(index.to_be_bytes().iter()))
        {
            *d = *s;
        }
        n
    }

    #[cfg(not(fuzzing))]
    fn seal(&self, index: u32, aad: &[u8], buf: &mut [u8]) -> Option<[u8; TAG_LEN]> {
        self.aead.seal(&self.nonce(index), aad, buf)
    }

    #[cfg(not(fuzzing))]
    fn open(&self, index: u32, aad: &[u8], buf: &mut [u8], tag: &[u8; TAG_LEN]) -> bool {
        self.aead.open(&self.nonce(index), aad, buf, tag)
    }

    /// Null cipher: plaintext as is, tag = the final flag then 15 zero bytes.
    #[cfg(fuzzing)]
    fn seal(&self, _index: u32, aad: &[u8], _buf: &mut [u8]) -> Option<[u8; TAG_LEN]> {
        let mut tag = [0u8; TAG_LEN];
        if let Some(t) = tag.first_mut() {
            *t = aad.get(AAD_FINAL).copied().unwrap_or(0);
        }
        Some(tag)
    }

    #[cfg(fuzzing)]
    fn open(&self, index: u32, aad: &[u8], buf: &mut [u8], tag: &[u8; TAG_LEN]) -> bool {
        self.seal(index, aad, buf).is_some_and(|t| &t == tag)
    }
}

/// The associated data of a file's chunks: header ‖ index (u32 BE) ‖ final flag ‖
/// backup id length (u64 BE) ‖ backup id ‖ path length (u64 BE) ‖ path.
#[derive(Debug, Clone)]
struct Aad(Vec<u8>);

impl Aad {
    fn new(header: &[u8; HEADER_LEN], id: FileId<'_>) -> Aad {
        let mut v = Vec::with_capacity(HEADER_LEN + 21 + id.backup_id.len() + id.path.len());
        v.extend_from_slice(header);
        v.extend_from_slice(&[0; 5]);
        v.extend_from_slice(&(id.backup_id.len() as u64).to_be_bytes());
        v.extend_from_slice(id.backup_id);
        v.extend_from_slice(&(id.path.len() as u64).to_be_bytes());
        v.extend_from_slice(id.path.as_bytes());
        Aad(v)
    }

    fn set(&mut self, index: u32, final_chunk: bool) -> &[u8] {
        if let Some(slot) = self.0.get_mut(AAD_INDEX..AAD_FINAL) {
            slot.copy_from_slice(&index.to_be_bytes());
        }
        if let Some(slot) = self.0.get_mut(AAD_FINAL) {
            *slot = u8::from(final_chunk);
        }
        &self.0
    }
}

fn chunk_index(i: u64) -> Result<u32> {
    u32::try_from(i).map_err(|_| Error::Limit {
        field: "envelope chunk count",
        offset: 0,
        value: i.saturating_add(1),
        limit: MAX_CHUNKS,
    })
}

// ---- sealing -----------------------------------------------------------------------------

/// Seals `plaintext` for file `id` in 64 KiB chunks. `file_nonce` must be fresh random
/// bytes for every file (from the operating system's generator).
pub fn seal(
    key: &DataKey,
    id: FileId<'_>,
    plaintext: &[u8],
    file_nonce: [u8; FILE_NONCE_LEN],
) -> Result<Vec<u8>> {
    seal_with_chunk_size(key, id, plaintext, file_nonce, CHUNK_SIZE)
}

/// [`seal`] with another chunk size (a power of two from [`MIN_CHUNK_SIZE`] to
/// [`MAX_CHUNK_SIZE`]; tests use small chunks to exercise many of them cheaply).
pub fn seal_with_chunk_size(
    key: &DataKey,
    id: FileId<'_>,
    plaintext: &[u8],
    file_nonce: [u8; FILE_NONCE_LEN],
    chunk_size: u32,
) -> Result<Vec<u8>> {
    check_chunk_size(chunk_size)?;
    let header = Header {
        chunk_size,
        file_nonce,
    };
    let header_bytes = header.encode();
    let cipher = ChunkCipher::new(key, &header);
    let mut aad = Aad::new(&header_bytes, id);
    let total = sealed_len_with(chunk_size, plaintext.len() as u64);
    let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    out.extend_from_slice(&header_bytes);
    let n = chunk_count(chunk_size, plaintext.len() as u64);
    let mut pieces = plaintext.chunks(chunk_size as usize);
    for i in 0..n {
        let index = chunk_index(i)?;
        let piece = pieces.next().unwrap_or_default();
        let start = out.len();
        out.extend_from_slice(piece);
        let buf = out.get_mut(start..).unwrap_or_default();
        let tag = cipher
            .seal(index, aad.set(index, i + 1 == n), buf)
            .ok_or_else(|| Error::Usage(format!("chunk {i} is over AES-GCM's length limit")))?;
        out.extend_from_slice(&tag);
    }
    Ok(out)
}

/// Seals a stream: writes the header at once, then each chunk when it is full and more
/// bytes follow; [`finish`](SealWriter::finish) writes the final chunk. Memory: one chunk.
/// A writer dropped without `finish` leaves a file with no final chunk, which never opens.
pub struct SealWriter<W: Write> {
    inner: W,
    cipher: ChunkCipher,
    aad: Aad,
    buf: Vec<u8>,
    chunk_size: usize,
    next_index: u64,
    plaintext_len: u64,
}

impl<W: Write> fmt::Debug for SealWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealWriter")
            .field("chunk_size", &self.chunk_size)
            .field("next_index", &self.next_index)
            .field("plaintext_len", &self.plaintext_len)
            .finish_non_exhaustive()
    }
}

impl<W: Write> SealWriter<W> {
    /// Starts a sealed file in 64 KiB chunks; writes the header to `inner`.
    pub fn new(
        key: &DataKey,
        id: FileId<'_>,
        file_nonce: [u8; FILE_NONCE_LEN],
        inner: W,
    ) -> Result<Self> {
        Self::with_chunk_size(key, id, file_nonce, CHUNK_SIZE, inner)
    }

    /// [`SealWriter::new`] with another chunk size (see [`seal_with_chunk_size`]).
    pub fn with_chunk_size(
        key: &DataKey,
        id: FileId<'_>,
        file_nonce: [u8; FILE_NONCE_LEN],
        chunk_size: u32,
        mut inner: W,
    ) -> Result<Self> {
        check_chunk_size(chunk_size)?;
        let header = Header {
            chunk_size,
            file_nonce,
        };
        let header_bytes = header.encode();
        inner.write_all(&header_bytes)?;
        Ok(SealWriter {
            inner,
            cipher: ChunkCipher::new(key, &header),
            aad: Aad::new(&header_bytes, id),
            buf: Vec::with_capacity(chunk_size as usize),
            chunk_size: chunk_size as usize,
            next_index: 0,
            plaintext_len: 0,
        })
    }

    /// Plaintext bytes accepted so far.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    fn emit(&mut self, final_chunk: bool) -> io::Result<()> {
        let i = self.next_index;
        let index = chunk_index(i).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let aad = self.aad.set(index, final_chunk);
        let tag = self.cipher.seal(index, aad, &mut self.buf).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("chunk {i} is over AES-GCM's length limit"),
            )
        })?;
        self.inner.write_all(&self.buf)?;
        self.inner.write_all(&tag)?;
        self.buf.zeroize();
        self.buf.clear();
        self.next_index = i + 1;
        Ok(())
    }

    /// Seals the final chunk, flushes, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.emit(true)?;
        self.inner.flush()?;
        let SealWriter { inner, .. } = self;
        Ok(inner)
    }
}

impl<W: Write> Write for SealWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            if self.buf.len() == self.chunk_size {
                self.emit(false)?;
            }
            let take = (self.chunk_size - self.buf.len()).min(rest.len());
            let (now, later) = rest.split_at(take);
            self.buf.extend_from_slice(now);
            rest = later;
        }
        self.plaintext_len += data.len() as u64;
        Ok(data.len())
    }

    /// Flushes the inner writer; the current chunk stays buffered until it is full and
    /// more bytes follow, or until [`finish`](SealWriter::finish).
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

// ---- opening -----------------------------------------------------------------------------

/// What opening needs for every chunk of one file.
#[derive(Debug)]
struct FileOpener {
    header: Header,
    layout: Framing,
    cipher: ChunkCipher,
    aad: Aad,
}

impl FileOpener {
    fn new(key: &DataKey, id: FileId<'_>, header_bytes: &[u8], sealed_len: u64) -> Result<Self> {
        let header = Header::decode(header_bytes)?;
        let layout = Framing::new(header.chunk_size, sealed_len)?;
        Ok(FileOpener {
            header,
            layout,
            cipher: ChunkCipher::new(key, &header),
            aad: Aad::new(&header.encode(), id),
        })
    }

    /// Authenticates and decrypts chunk `i`, whose stored bytes (ciphertext ‖ tag) are
    /// `stored`, appending the plaintext to `out`. On failure `out` is as it was.
    fn open_chunk(&mut self, i: u64, stored: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let index = chunk_index(i)?;
        let offset = self.layout.stored_offset(i);
        let cut = stored.len().saturating_sub(TAG_LEN);
        let (ct, tag) = stored.split_at(cut);
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| Error::EnvelopeTruncated {
            chunk: i,
            offset,
            needed: TAG_LEN as u64,
            available: stored.len() as u64,
        })?;
        let is_last = i + 1 == self.layout.chunks;
        let start = out.len();
        for final_flag in [is_last, !is_last] {
            out.truncate(start);
            out.extend_from_slice(ct);
            let buf = out.get_mut(start..).unwrap_or_default();
            if self
                .cipher
                .open(index, self.aad.set(index, final_flag), buf, &tag)
            {
                if final_flag == is_last {
                    return Ok(());
                }
                out.truncate(start);
                let end = offset + stored.len() as u64;
                return Err(if is_last {
                    Error::EnvelopeFinalChunkMissing {
                        last_chunk: i,
                        offset,
                    }
                } else {
                    Error::EnvelopeDataAfterFinal {
                        chunk: i,
                        offset: end,
                        extra: self.layout.sealed_len - end,
                    }
                });
            }
        }
        out.truncate(start);
        Err(Error::EnvelopeAuth { chunk: i, offset })
    }
}

/// Opens a whole sealed file in memory: checks the header and every chunk, and returns
/// the plaintext.
pub fn open_all(key: &DataKey, id: FileId<'_>, sealed: &[u8]) -> Result<Vec<u8>> {
    let mut opener = FileOpener::new(key, id, sealed, sealed.len() as u64)?;
    let layout = opener.layout;
    let mut out = Vec::with_capacity(usize::try_from(layout.plaintext_len).unwrap_or(0));
    let stored_chunk = layout.chunk_size as usize + TAG_LEN;
    let body = sealed.get(HEADER_LEN..).unwrap_or_default();
    for (i, stored) in (0..layout.chunks).zip(body.chunks(stored_chunk)) {
        opener.open_chunk(i, stored, &mut out)?;
    }
    Ok(out)
}

/// A sealed file opened for positioned reads of its plaintext. Implements
/// [`BlockSource`] over the plaintext: `size` is the plaintext size, and `read_at`
/// authenticates and decrypts only the chunks the range touches (the last two decrypted
/// chunks are kept). Opening reads the header and checks the sealed size; chunks are
/// authenticated when first read ([`authenticate_all`](Opened::authenticate_all) checks
/// them all).
pub struct Opened<S: BlockSource> {
    src: S,
    opener: Mutex<FileOpener>,
    header: Header,
    layout: Framing,
    cache: Mutex<VecDeque<(u64, Arc<Vec<u8>>)>>,
}

impl<S: BlockSource> fmt::Debug for Opened<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("header", &self.header)
            .field("sealed_len", &self.layout.sealed_len)
            .field("plaintext_len", &self.layout.plaintext_len)
            .finish_non_exhaustive()
    }
}

/// Decrypted chunks an [`Opened`] keeps.
const CACHED_CHUNKS: usize = 2;

impl<S: BlockSource> Opened<S> {
    /// Opens the sealed file behind `src` for the file identity `id`.
    pub fn new(key: &DataKey, id: FileId<'_>, src: S) -> Result<Self> {
        let sealed_len = src.size();
        if sealed_len < (HEADER_LEN + TAG_LEN) as u64 {
            let got = src.read_at(0, usize::try_from(sealed_len).unwrap_or(0))?;
            // A short file that does not even start like a sealed one is reported as such.
            Header::decode(&got)?;
        }
        let header_bytes = src.read_at(0, HEADER_LEN)?;
        let opener = FileOpener::new(key, id, &header_bytes, sealed_len)?;
        Ok(Opened {
            header: opener.header,
            layout: opener.layout,
            opener: Mutex::new(opener),
            src,
            cache: Mutex::new(VecDeque::with_capacity(CACHED_CHUNKS)),
        })
    }

    /// The file's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Size of the sealed file.
    pub fn sealed_len(&self) -> u64 {
        self.layout.sealed_len
    }

    /// Number of chunks.
    pub fn chunks(&self) -> u64 {
        self.layout.chunks
    }

    /// The source of the sealed bytes.
    pub fn into_inner(self) -> S {
        self.src
    }

    /// Authenticates every chunk in order (without keeping them); the first failure.
    pub fn authenticate_all(&self) -> Result<()> {
        let mut scratch = Vec::new();
        for i in 0..self.layout.chunks {
            scratch.clear();
            self.decrypt_into(i, &mut scratch)?;
        }
        scratch.zeroize();
        Ok(())
    }

    fn decrypt_into(&self, i: u64, out: &mut Vec<u8>) -> Result<()> {
        let stored_len = self.layout.plain_len(i) as usize + TAG_LEN;
        let stored = self.src.read_at(self.layout.stored_offset(i), stored_len)?;
        let mut opener = self
            .opener
            .lock()
            .map_err(|_| Error::Usage("envelope opener lock poisoned".into()))?;
        opener.open_chunk(i, &stored, out)
    }

    /// The plaintext of chunk `i`, from the cache or decrypted now.
    fn chunk(&self, i: u64) -> Result<Arc<Vec<u8>>> {
        if let Ok(cache) = self.cache.lock() {
            if let Some((_, c)) = cache.iter().find(|(j, _)| *j == i) {
                return Ok(Arc::clone(c));
            }
        }
        let mut plain = Vec::with_capacity(self.layout.plain_len(i) as usize);
        self.decrypt_into(i, &mut plain)?;
        let plain = Arc::new(plain);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHED_CHUNKS {
                cache.pop_front();
            }
            cache.push_back((i, Arc::clone(&plain)));
        }
        Ok(plain)
    }
}

impl<S: BlockSource> BlockSource for Opened<S> {
    fn size(&self) -> u64 {
        self.layout.plaintext_len
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>> {
        let end = check_read_range(self.layout.plaintext_len, offset, len)?;
        let cs = self.layout.chunk_size;
        let mut out = Vec::with_capacity(len);
        let mut pos = offset;
        while pos < end {
            let i = pos / cs;
            let chunk = self.chunk(i)?;
            let from = (pos - i * cs) as usize;
            let to = ((end - i * cs).min(cs)) as usize;
            let piece = chunk.get(from..to).ok_or_else(|| Error::Truncated {
                field: "envelope chunk",
                offset: pos,
                needed: (to - from) as u64,
                available: chunk.len().saturating_sub(from) as u64,
            })?;
            out.extend_from_slice(piece);
            pos = i * cs + to as u64;
        }
        Ok(Cow::Owned(out))
    }
}

// ---- small values (wrapped keys) ----------------------------------------------------------

/// Seals a small value (a data key) under a key-encryption key: `nonce` ‖ ciphertext ‖
/// tag, AES-256-GCM with `aad` as associated data. `nonce` must be fresh random bytes.
pub fn seal_small(
    kek: &DataKey,
    aad: &[u8],
    plaintext: &[u8],
    nonce: [u8; SMALL_NONCE_LEN],
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(plaintext.len() + SMALL_OVERHEAD);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = small_seal(
        kek,
        &nonce,
        aad,
        out.get_mut(SMALL_NONCE_LEN..).unwrap_or_default(),
    )
    .ok_or_else(|| Error::Usage("value over AES-GCM's length limit".into()))?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Opens what [`seal_small`] made; the plaintext is zeroized when dropped.
pub fn open_small(kek: &DataKey, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if sealed.len() < SMALL_OVERHEAD {
        return Err(Error::Truncated {
            field: "sealed value",
            offset: 0,
            needed: SMALL_OVERHEAD as u64,
            available: sealed.len() as u64,
        });
    }
    let (nonce, rest) = sealed.split_at(SMALL_NONCE_LEN);
    let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
    let nonce: [u8; SMALL_NONCE_LEN] = nonce.try_into().unwrap_or_default();
    let tag: [u8; TAG_LEN] = tag.try_into().unwrap_or_default();
    let mut buf = Zeroizing::new(ct.to_vec());
    if small_open(kek, &nonce, aad, &mut buf, &tag) {
        Ok(buf)
    } else {
        Err(Error::SmallAuth {
            len: sealed.len() as u64,
        })
    }
}

#[cfg(not(fuzzing))]
fn small_seal(
    kek: &DataKey,
    nonce: &[u8; SMALL_NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> Option<[u8; TAG_LEN]> {
    RawAead::new(kek.as_bytes()).seal(nonce, aad, buf)
}

#[cfg(not(fuzzing))]
fn small_open(
    kek: &DataKey,
    nonce: &[u8; SMALL_NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> bool {
    RawAead::new(kek.as_bytes()).open(nonce, aad, buf, tag)
}

/// Null cipher for fuzzing: plaintext as is, an all-zero tag.
#[cfg(fuzzing)]
fn small_seal(
    _kek: &DataKey,
    _nonce: &[u8; SMALL_NONCE_LEN],
    _aad: &[u8],
    _buf: &mut [u8],
) -> Option<[u8; TAG_LEN]> {
    Some([0; TAG_LEN])
}

#[cfg(fuzzing)]
fn small_open(
    _kek: &DataKey,
    _nonce: &[u8; SMALL_NONCE_LEN],
    _aad: &[u8],
    _buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> bool {
    tag == &[0; TAG_LEN]
}

// ---- fuzzing -----------------------------------------------------------------------------

/// The key the `envelope_open` fuzz target and its replayed seeds use.
#[doc(hidden)]
pub const FUZZ_KEY: [u8; 32] = [0x5e; 32];
/// The file identity the `envelope_open` fuzz target and its seeds use.
#[doc(hidden)]
pub const FUZZ_ID: FileId<'static> = FileId {
    backup_id: b"fuzz-backup",
    path: "data/1.sst",
};

/// Fuzz entry point of the `envelope_open` target (replayed by `tests/fuzz_regressions.rs`).
/// The first byte picks the mode:
///
/// - even: the rest is a sealed file. Opened whole and through [`Opened`], both must agree
///   (same plaintext or the same error); an accepted file must re-seal (same key, identity,
///   header) to exactly its bytes; its plaintext then goes to the SST reader's fuzz entry
///   (under the null cipher of `--cfg fuzzing` mutated plaintext gets there).
/// - odd: the rest is plaintext, sealed in chunks of `64 << (first byte >> 1 & 7)` bytes,
///   by buffer and by stream (must agree), opened back whole and by positioned reads; with
///   the real cipher a flipped byte anywhere must then fail to open.
///
/// Panics (through `assert!`) only when such an oracle is violated.
#[doc(hidden)]
pub fn fuzz_open(data: &[u8]) {
    let key = DataKey::from_bytes(FUZZ_KEY);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        fuzz_sealed(&key, rest);
    } else {
        fuzz_plaintext(&key, mode, rest);
    }
}

fn fuzz_sealed(key: &DataKey, sealed: &[u8]) {
    let whole = open_all(key, FUZZ_ID, sealed);
    let opened = Opened::new(key, FUZZ_ID, sealed);
    match whole {
        Ok(plain) => {
            assert!(opened.is_ok(), "open_all accepted what Opened refused");
            let Ok(opened) = opened else { return };
            assert!(opened.authenticate_all().is_ok());
            let read = opened.read_at(0, plain.len());
            assert!(read.is_ok_and(|r| *r == *plain), "Opened reads other bytes");
            let h = opened.header();
            let again = seal_with_chunk_size(key, FUZZ_ID, &plain, h.file_nonce, h.chunk_size);
            assert!(
                again.is_ok_and(|a| a == sealed),
                "an accepted file does not re-seal to itself"
            );
            crate::fuzzing::sst_open_scan(&plain);
        }
        Err(e) => {
            let second = opened.and_then(|o| o.authenticate_all());
            assert_eq!(second.err(), Some(e), "open_all and Opened disagree");
        }
    }
}

fn fuzz_plaintext(key: &DataKey, mode: u8, plain: &[u8]) {
    let cs = MIN_CHUNK_SIZE << ((mode >> 1) & 7);
    let nonce = [mode; FILE_NONCE_LEN];
    let sealed = seal_with_chunk_size(key, FUZZ_ID, plain, nonce, cs);
    assert!(sealed.is_ok(), "sealing failed: {sealed:?}");
    let Ok(sealed) = sealed else { return };
    assert_eq!(sealed.len() as u64, sealed_len_with(cs, plain.len() as u64));
    // Stream in pieces whose sizes come from the plaintext itself.
    let mut streamed = Vec::new();
    if let Ok(mut w) = SealWriter::with_chunk_size(key, FUZZ_ID, nonce, cs, &mut streamed) {
        let mut rest = plain;
        while let Some(&b) = rest.first() {
            let (now, later) = rest.split_at(rest.len().min(usize::from(b) + 1));
            assert!(w.write_all(now).is_ok());
            rest = later;
        }
        assert!(w.finish().is_ok());
    }
    assert!(streamed == sealed, "streamed and buffered sealing differ");
    let back = open_all(key, FUZZ_ID, &sealed);
    assert!(back.is_ok_and(|b| b == plain), "round trip differs");
    let opened = Opened::new(key, FUZZ_ID, sealed.as_slice());
    assert!(opened.is_ok(), "Opened refused a sealed file");
    let Ok(opened) = opened else { return };
    let len = plain.len();
    for (i, &b) in plain.iter().enumerate().take(8) {
        let off = (i * 977 + usize::from(b) * 131) % (len + 1);
        let n = (usize::from(b) * 7).min(len - off);
        let want = plain.get(off..off + n);
        let got = opened.read_at(off as u64, n);
        assert!(
            got.is_ok_and(|g| Some(&*g) == want),
            "read_at({off}, {n}) differs"
        );
    }
    #[cfg(not(fuzzing))]
    {
        let pos = plain.first().map_or(0, |&b| usize::from(b) * 101) % sealed.len();
        let mut bad = sealed.clone();
        if let Some(x) = bad.get_mut(pos) {
            *x ^= 0x01;
        }
        assert!(
            open_all(key, FUZZ_ID, &bad).is_err(),
            "a flipped byte at {pos} still opens"
        );
    }
}
