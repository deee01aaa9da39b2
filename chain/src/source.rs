//! A [`BlockSource`] over an object in a [`Store`]: positioned reads through
//! `Store::get_range`, so memory stays bounded by the largest block; a short read is an
//! error. Made with [`StoreSource::hashing`], reads that continue exactly where the
//! previous sequential read ended feed a running SHA-256, so a verified scan (which reads
//! the data blocks in file order from offset 0) hashes the file in the same pass;
//! [`StoreSource::finish_sha256`] reads only what the scan did not.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;

use sha2::{Digest, Sha256};
use vouch_format::sst::BlockSource;
use vouch_format::Error as FormatError;
use vouch_store::Store;

/// Chunk size for the bytes the scan did not read (index, footer) and for files that do
/// not open as SSTs.
const CHUNK: u64 = 1 << 20;

/// An object read by ranges.
#[derive(Debug)]
pub struct StoreSource<'a> {
    store: &'a dyn Store,
    path: String,
    size: u64,
    hashed: Cell<u64>,
    /// The running hash, when made with [`StoreSource::hashing`].
    sha: Option<Box<RefCell<Sha256>>>,
    read: Cell<u64>,
    /// Offsets of the reads made, when tracked (sealed files: which chunks were read).
    starts: Option<RefCell<HashSet<u64>>>,
}

impl<'a> StoreSource<'a> {
    /// A source over `path` whose size is `size` (as stat or the manifest says).
    pub fn new(store: &'a dyn Store, path: &str, size: u64) -> Self {
        StoreSource {
            store,
            path: path.to_string(),
            size,
            hashed: Cell::new(0),
            sha: None,
            read: Cell::new(0),
            starts: None,
        }
    }

    /// The same, hashing sequential reads (see [`StoreSource::finish_sha256`]).
    pub fn hashing(store: &'a dyn Store, path: &str, size: u64) -> Self {
        let mut s = Self::new(store, path, size);
        s.sha = Some(Box::new(RefCell::new(Sha256::new())));
        s
    }

    /// A hashing source that also remembers the offset of every read (see
    /// [`StoreSource::was_read_at`]).
    pub fn tracking(store: &'a dyn Store, path: &str, size: u64) -> Self {
        let mut s = Self::hashing(store, path, size);
        s.starts = Some(RefCell::new(HashSet::new()));
        s
    }

    /// Whether a read started at `offset` (always false unless made with
    /// [`StoreSource::tracking`]).
    pub fn was_read_at(&self, offset: u64) -> bool {
        self.starts
            .as_ref()
            .is_some_and(|s| s.borrow().contains(&offset))
    }

    /// Bytes read from the store so far.
    pub fn bytes_read(&self) -> u64 {
        self.read.get()
    }

    fn fetch(&self, offset: u64, len: u64) -> Result<Vec<u8>, FormatError> {
        let b = self
            .store
            .get_range(&self.path, offset, len)
            .map_err(|e| FormatError::Io {
                kind: std::io::ErrorKind::Other,
                message: format!("{}: {e}", self.path),
            })?;
        self.read.set(self.read.get() + b.len() as u64);
        if let Some(s) = &self.starts {
            s.borrow_mut().insert(offset);
        }
        if let Some(sha) = &self.sha {
            if offset == self.hashed.get() {
                sha.borrow_mut().update(&b);
                self.hashed.set(offset + b.len() as u64);
            }
        }
        Ok(b)
    }

    /// Reads the bytes not hashed yet and returns the SHA-256 of the whole object (made
    /// with [`StoreSource::hashing`]; otherwise the whole object is read and hashed now).
    pub fn finish_sha256(&self) -> Result<[u8; 32], FormatError> {
        let Some(sha) = &self.sha else {
            let hashing = StoreSource::hashing(self.store, &self.path, self.size);
            return hashing.finish_sha256();
        };
        while self.hashed.get() < self.size {
            let at = self.hashed.get();
            let n = CHUNK.min(self.size - at);
            let b = self.fetch(at, n)?;
            if b.is_empty() {
                break;
            }
        }
        Ok(sha.borrow().clone().finalize().into())
    }
}

impl BlockSource for StoreSource<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>, FormatError> {
        vouch_format::sst::check_read_range(self.size, offset, len)?;
        let b = self.fetch(offset, len as u64)?;
        if b.len() != len {
            return Err(FormatError::Truncated {
                field: "block",
                offset,
                needed: len as u64,
                available: b.len() as u64,
            });
        }
        Ok(Cow::Owned(b))
    }
}
