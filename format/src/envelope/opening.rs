//! Opening: [`open_all`] for small files, [`Opened`] for positioned reads that decrypt only
//! the chunks a read touches.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};

use zeroize::Zeroize;

use super::cipher::{chunk_index, Aad, ChunkCipher, DataKey, FileId};
use super::framing::{Framing, Header, HEADER_LEN, TAG_LEN};
use crate::error::{Error, Result};
use crate::sst::{check_read_range, BlockSource};

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
        let is_last = i + 1 == self.layout.chunks();
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
                        extra: self.layout.sealed_len() - end,
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
    let mut out = Vec::with_capacity(usize::try_from(layout.plaintext_len()).unwrap_or(0));
    let stored_chunk = layout.chunk_size() as usize + TAG_LEN;
    let body = sealed.get(HEADER_LEN..).unwrap_or_default();
    for (i, stored) in (0..layout.chunks()).zip(body.chunks(stored_chunk)) {
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
            .field("sealed_len", &self.layout.sealed_len())
            .field("plaintext_len", &self.layout.plaintext_len())
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
        self.layout.sealed_len()
    }

    /// Number of chunks.
    pub fn chunks(&self) -> u64 {
        self.layout.chunks()
    }

    /// The source of the sealed bytes.
    pub fn into_inner(self) -> S {
        self.src
    }

    /// Authenticates every chunk in order (without keeping them); the first failure.
    pub fn authenticate_all(&self) -> Result<()> {
        let mut scratch = Vec::new();
        for i in 0..self.layout.chunks() {
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
        self.layout.plaintext_len()
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>> {
        let end = check_read_range(self.layout.plaintext_len(), offset, len)?;
        let cs = self.layout.chunk_size();
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
