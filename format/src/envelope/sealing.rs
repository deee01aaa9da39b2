//! Sealing: [`seal`] for buffers, [`SealWriter`] for streams.

use std::fmt;
use std::io::{self, Write};

use zeroize::Zeroize;

use super::cipher::{chunk_index, Aad, ChunkCipher, DataKey, FileId};
use super::framing::{
    check_chunk_size, chunk_count, sealed_len_with, Header, CHUNK_SIZE, FILE_NONCE_LEN,
};
use crate::error::{Error, Result};

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

/// [`seal`] with another chunk size (a power of two from
/// [`MIN_CHUNK_SIZE`](super::MIN_CHUNK_SIZE) to [`MAX_CHUNK_SIZE`](super::MAX_CHUNK_SIZE);
/// tests use small chunks to exercise many of them cheaply).
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
