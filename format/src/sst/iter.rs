//! Point seeks and range iteration over an open SST.

use std::borrow::Cow;
use std::ops::Range;

use super::block::{split_internal_key, Block, EntryCursor};
use super::reader::SstReader;
use super::source::BlockSource;
use crate::error::{BlockKind, Error, HexBytes, Result};

impl<S: BlockSource> SstReader<S> {
    /// An iterator from the first entry.
    pub fn iter(&self) -> SstIter<'_, S> {
        SstIter::new(self)
    }

    /// An iterator over `[start, end)` (either bound optional).
    pub fn range(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<SstIter<'_, S>> {
        let mut it = SstIter::new(self);
        it.end = end.map(<[u8]>::to_vec);
        if let Some(s) = start {
            it.seek(s)?;
        }
        Ok(it)
    }

    /// The value stored under exactly `user_key`.
    pub fn get(&self, user_key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut it = self.iter();
        it.seek(user_key)?;
        match it.next_entry()? {
            Some((k, v)) if k == user_key => Ok(Some(v.to_vec())),
            _ => Ok(None),
        }
    }

    /// All entries, owned. Convenience for tests and small files.
    pub fn entries(&self) -> Entries<'_, S> {
        Entries {
            it: self.iter(),
            done: false,
        }
    }
}

/// Iterates entries in key order; keys and values borrow from the iterator.
#[derive(Debug)]
pub struct SstIter<'r, S: BlockSource> {
    reader: &'r SstReader<S>,
    next_block: usize,
    data: Cow<'r, [u8]>,
    entries_end: usize,
    pos: usize,
    base: u64,
    kind: BlockKind,
    key: Vec<u8>,
    prev_user: Vec<u8>,
    have_prev: bool,
    value: Range<usize>,
    pending: bool,
    end: Option<Vec<u8>>,
    done: bool,
}

impl<'r, S: BlockSource> SstIter<'r, S> {
    fn new(reader: &'r SstReader<S>) -> Self {
        SstIter {
            reader,
            next_block: 0,
            data: Cow::Borrowed(&[]),
            entries_end: 0,
            pos: 0,
            base: 0,
            kind: BlockKind::Data(0),
            key: Vec::new(),
            prev_user: Vec::new(),
            have_prev: false,
            value: 0..0,
            pending: false,
            end: None,
            done: false,
        }
    }

    fn load(&mut self, i: usize) -> Result<bool> {
        let Some(ie) = self.reader.index.get(i) else {
            return Ok(false);
        };
        let kind = BlockKind::Data(i as u64);
        let data = self.reader.read_block(ie.handle, kind, ie.handle.offset)?;
        let entries_end = {
            let b = Block::parse(&data, ie.handle.offset, kind)?;
            b.restart_offset(0)?;
            let n = b.num_restarts() as usize;
            data.len().saturating_sub(4 + 4 * n)
        };
        self.data = data;
        self.entries_end = entries_end;
        self.pos = 0;
        self.base = ie.handle.offset;
        self.kind = kind;
        self.key.clear();
        self.next_block = i + 1;
        Ok(true)
    }

    /// Decodes the entry at `self.pos` into `self.key` / `self.value`.
    fn decode(&mut self) -> Result<()> {
        let entries = self.data.get(..self.entries_end).unwrap_or(&[]);
        let mut cur = EntryCursor::resume(
            entries,
            self.pos,
            self.base,
            self.kind,
            std::mem::take(&mut self.key),
        );
        let e = cur.next_entry();
        let after = cur.position();
        self.key = cur.into_key();
        let e = e?.ok_or(Error::BadBlock {
            block: self.kind,
            offset: self.base + self.pos as u64,
            field: "entries",
            reason: "no entry where one was expected".into(),
        })?;
        let vstart = after.saturating_sub(e.value.len());
        self.value = vstart..after;
        self.pos = after;
        let user = split_internal_key(&self.key, self.kind, self.base + e.at as u64)?;
        if self.have_prev && user <= self.prev_user.as_slice() {
            return Err(Error::KeyOrder {
                block: self.kind,
                offset: self.base + e.at as u64,
                prev: HexBytes(self.prev_user.clone()),
                key: HexBytes(user.to_vec()),
            });
        }
        self.prev_user.clear();
        self.prev_user.extend_from_slice(user);
        self.have_prev = true;
        Ok(())
    }

    fn current(&self) -> (&[u8], &[u8]) {
        let user = self
            .key
            .get(..self.key.len().saturating_sub(8))
            .unwrap_or(&[]);
        let v = self.data.get(self.value.clone()).unwrap_or(&[]);
        (user, v)
    }

    /// Positions the iterator so that the next entry is the first with key >= `target`.
    pub fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.pending = false;
        self.have_prev = false;
        let idx = self
            .reader
            .index
            .partition_point(|e| e.key.as_slice() < target);
        if !self.load(idx)? {
            self.done = true;
            return Ok(());
        }
        self.done = false;
        // Binary search the restart points for the last one whose key is < target.
        let block = Block::parse(&self.data, self.base, self.kind)?;
        let (mut lo, mut hi) = (0u32, block.num_restarts());
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let k = block.restart_key(mid)?;
            let user = split_internal_key(k, self.kind, self.base)?;
            if user < target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        self.pos = block.restart_offset(lo)?;
        self.key.clear();
        while self.pos < self.entries_end {
            self.decode()?;
            if self.current().0 >= target {
                self.pending = true;
                return Ok(());
            }
        }
        // Every key in this block is < target (only possible for a bad index): go on.
        Ok(())
    }

    /// The next entry as (user key, value), or `None` at the end or past the range.
    #[allow(clippy::should_implement_trait)]
    pub fn next_entry(&mut self) -> Result<Option<(&[u8], &[u8])>> {
        if self.done {
            return Ok(None);
        }
        if !self.pending {
            while self.pos >= self.entries_end {
                if !self.load(self.next_block)? {
                    self.done = true;
                    return Ok(None);
                }
            }
            self.decode()?;
        }
        self.pending = false;
        if let Some(end) = &self.end {
            if self.current().0 >= end.as_slice() {
                self.done = true;
                return Ok(None);
            }
        }
        Ok(Some(self.current()))
    }
}

/// Owned entries, for convenience.
#[derive(Debug)]
pub struct Entries<'r, S: BlockSource> {
    it: SstIter<'r, S>,
    done: bool,
}

impl<S: BlockSource> Iterator for Entries<'_, S> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.it.next_entry() {
            Ok(Some((k, v))) => Some(Ok((k.to_vec(), v.to_vec()))),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
