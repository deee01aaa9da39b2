//! Where an SST's bytes come from: [`BlockSource`] and the one bounds check every source
//! makes.

use std::borrow::Cow;

use crate::error::{Error, Result};

/// Where the reader gets bytes from. `format` implements it for byte slices; callers
/// implement it for files or object stores.
pub trait BlockSource {
    /// Total size in bytes.
    fn size(&self) -> u64;
    /// Exactly `len` bytes at `offset`.
    fn read_at(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>>;
    /// A hint: the `len` bytes at `offset` are about to be read, in several reads (the
    /// reader's blocks after the data: index, properties, metaindex). A source that pays a
    /// round trip per read may fetch them in one and serve those reads from it; the
    /// default does nothing. The range is the caller's claim, not checked: a source must
    /// bound what it fetches.
    fn will_read(&self, _offset: u64, _len: u64) {}
}

/// The bounds check of every [`BlockSource::read_at`]: `len` bytes at `offset` lie inside
/// a source of `size` bytes. Returns the end offset, or [`Error::Truncated`] (field
/// `block`) saying how many bytes are there.
pub fn check_read_range(size: u64, offset: u64, len: usize) -> Result<u64> {
    offset
        .checked_add(len as u64)
        .filter(|&end| end <= size)
        .ok_or(Error::Truncated {
            field: "block",
            offset,
            needed: len as u64,
            available: size.saturating_sub(offset),
        })
}

impl BlockSource for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>> {
        let end = check_read_range(self.size(), offset, len)?;
        let range = usize::try_from(offset).ok().zip(usize::try_from(end).ok());
        range
            .and_then(|(s, e)| self.get(s..e))
            .map(Cow::Borrowed)
            .ok_or(Error::Truncated {
                field: "block",
                offset,
                needed: len as u64,
                available: self.size().saturating_sub(offset),
            })
    }
}

impl BlockSource for Vec<u8> {
    fn size(&self) -> u64 {
        self.as_slice().size()
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>> {
        self.as_slice().read_at(offset, len)
    }
}

impl<T: BlockSource + ?Sized> BlockSource for &T {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_at(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>> {
        (**self).read_at(offset, len)
    }
    fn will_read(&self, offset: u64, len: u64) {
        (**self).will_read(offset, len)
    }
}
