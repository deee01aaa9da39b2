//! RocksDB block contents: prefix-compressed entries with restart points.
//!
//! ```text
//! entry*   : varint32 shared | varint32 non_shared | varint32 value_len | key_delta | value
//! restarts : u32 LE offset of each restart entry, ascending
//! trailer  : u32 LE number of restarts (>= 1)
//! ```

use crate::cursor::{put_varint32, Cursor};
use crate::error::{BlockKind, Error, HexBytes, Result};

/// Builds one block. Memory is the block itself.
#[derive(Debug)]
pub(crate) struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    counter: usize,
    interval: usize,
    last_key: Vec<u8>,
    entries: u64,
}

impl BlockBuilder {
    pub(crate) fn new(interval: usize) -> Self {
        BlockBuilder {
            buf: Vec::new(),
            restarts: vec![0],
            counter: 0,
            interval: interval.max(1),
            last_key: Vec::new(),
            entries: 0,
        }
    }

    /// Appends an entry; `key` must sort after the previous one (checked by the caller).
    pub(crate) fn add(&mut self, key: &[u8], value: &[u8]) {
        let shared = if self.counter < self.interval {
            self.last_key
                .iter()
                .zip(key.iter())
                .take_while(|(a, b)| a == b)
                .count()
        } else {
            self.restarts.push(self.buf.len() as u32);
            self.counter = 0;
            0
        };
        let non_shared = key.get(shared..).unwrap_or(&[]);
        put_varint32(&mut self.buf, shared as u32);
        put_varint32(&mut self.buf, non_shared.len() as u32);
        put_varint32(&mut self.buf, value.len() as u32);
        self.buf.extend_from_slice(non_shared);
        self.buf.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(non_shared);
        self.counter += 1;
        self.entries += 1;
    }

    /// Size of the block if finished now.
    pub(crate) fn estimated_size(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries == 0
    }

    pub(crate) fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// Appends the restart array and returns the finished contents; the builder is reset.
    pub(crate) fn finish_into(&mut self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.buf);
        for r in &self.restarts {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out.extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        self.buf.clear();
        self.restarts.clear();
        self.restarts.push(0);
        self.counter = 0;
        self.last_key.clear();
        self.entries = 0;
    }
}

/// A parsed view of a block's contents (after the trailer was checked and removed, and
/// after decompression). Offsets in errors are absolute: `base` is where the block starts
/// in the file (for a compressed block, offsets inside it are offsets in the uncompressed
/// contents added to the block's file offset, and say so by the block kind).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Block<'b> {
    data: &'b [u8],
    /// End of the entries (start of the restart array).
    entries_end: usize,
    num_restarts: u32,
    restarts_at: usize,
    base: u64,
    kind: BlockKind,
}

impl<'b> Block<'b> {
    pub(crate) fn parse(data: &'b [u8], base: u64, kind: BlockKind) -> Result<Self> {
        let bad = |field: &'static str, offset: u64, reason: String| Error::BadBlock {
            block: kind,
            offset,
            field,
            reason,
        };
        if data.len() < 4 {
            return Err(bad(
                "restart count",
                base,
                format!(
                    "block of {} bytes is shorter than its restart count",
                    data.len()
                ),
            ));
        }
        let count_at = data.len() - 4;
        let mut c = Cursor::with_base(data.get(count_at..).unwrap_or(&[]), base + count_at as u64);
        let num_restarts = c.u32_le("restart count")?;
        let max = (count_at / 4) as u64;
        if num_restarts == 0 || u64::from(num_restarts) > max {
            return Err(bad(
                "restart count",
                base + count_at as u64,
                format!(
                    "{num_restarts} restarts do not fit a block of {} bytes",
                    data.len()
                ),
            ));
        }
        let restarts_at = count_at - 4 * num_restarts as usize;
        let block = Block {
            data,
            entries_end: restarts_at,
            num_restarts,
            restarts_at,
            base,
            kind,
        };
        // Restart offsets must increase and point inside the entries (the first is 0).
        let mut prev: Option<u32> = None;
        for i in 0..num_restarts {
            let r = block.restart(i)?;
            let ok = match prev {
                None => r == 0,
                Some(p) => r > p && (r as usize) < restarts_at,
            };
            if !ok {
                return Err(bad(
                    "restart offset",
                    base + (restarts_at + 4 * i as usize) as u64,
                    format!("restart #{i} = {r} is out of order or outside the {restarts_at} entry bytes"),
                ));
            }
            prev = Some(r);
        }
        Ok(block)
    }

    pub(crate) fn num_restarts(&self) -> u32 {
        self.num_restarts
    }

    fn restart(&self, i: u32) -> Result<u32> {
        let at = self.restarts_at + 4 * i as usize;
        let mut c = Cursor::with_base(self.data.get(at..).unwrap_or(&[]), self.base + at as u64);
        c.u32_le("restart offset")
    }

    /// A cursor over the entries, starting at byte `at` of the block.
    pub(crate) fn entries_from(&self, at: usize) -> EntryCursor<'b> {
        EntryCursor {
            data: self.data.get(..self.entries_end).unwrap_or(&[]),
            pos: at.min(self.entries_end),
            base: self.base,
            kind: self.kind,
            key: Vec::new(),
        }
    }

    pub(crate) fn entries(&self) -> EntryCursor<'b> {
        self.entries_from(0)
    }

    /// The full key stored at restart `i` (restart entries share nothing).
    pub(crate) fn restart_key(&self, i: u32) -> Result<&'b [u8]> {
        let r = self.restart(i)? as usize;
        let mut c = Cursor::with_base(
            self.data.get(r..self.entries_end).unwrap_or(&[]),
            self.base + r as u64,
        );
        let at = c.offset();
        let shared = c.varint32("entry shared length")?;
        if shared != 0 {
            return Err(Error::BadBlock {
                block: self.kind,
                offset: at,
                field: "entry shared length",
                reason: format!("restart entry shares {shared} bytes (must be 0)"),
            });
        }
        let non_shared = c.varint32("entry key length")?;
        let _vlen = c.varint32("entry value length")?;
        c.take(non_shared as usize, "entry key")
    }

    /// Byte offset of restart `i`.
    pub(crate) fn restart_offset(&self, i: u32) -> Result<usize> {
        Ok(self.restart(i)? as usize)
    }

    /// Verifies that every restart offset is the start of an entry with `shared == 0`.
    /// Returns the entry starts that are restart points, for `EntryCursor` to confirm.
    pub(crate) fn restart_offsets(&self) -> Result<Vec<usize>> {
        let mut v = Vec::with_capacity(self.num_restarts as usize);
        for i in 0..self.num_restarts {
            v.push(self.restart(i)? as usize);
        }
        Ok(v)
    }
}

/// Walks the entries of a block, rebuilding each full key.
#[derive(Debug)]
pub(crate) struct EntryCursor<'b> {
    data: &'b [u8],
    pos: usize,
    base: u64,
    kind: BlockKind,
    key: Vec<u8>,
}

/// One decoded entry: where it starts, how many key bytes it shares, and its value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawEntry<'b> {
    pub(crate) at: usize,
    pub(crate) shared: u32,
    pub(crate) value: &'b [u8],
}

impl<'b> EntryCursor<'b> {
    /// Continues decoding `entries` at `pos`, `key` being the key of the entry before it.
    pub(crate) fn resume(
        entries: &'b [u8],
        pos: usize,
        base: u64,
        kind: BlockKind,
        key: Vec<u8>,
    ) -> Self {
        EntryCursor {
            data: entries,
            pos,
            base,
            kind,
            key,
        }
    }

    /// Gives back the key buffer.
    pub(crate) fn into_key(self) -> Vec<u8> {
        self.key
    }

    /// The key of the entry last returned by `next_entry`.
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Absolute file offset of byte `at` of the block.
    pub(crate) fn abs(&self, at: usize) -> u64 {
        self.base + at as u64
    }

    /// Decodes the next entry, or `None` at the end of the entries.
    #[inline]
    pub(crate) fn next_entry(&mut self) -> Result<Option<RawEntry<'b>>> {
        if self.pos >= self.data.len() {
            return Ok(None);
        }
        let at = self.pos;
        let rest = self.data.get(at..).unwrap_or(&[]);
        let mut c = Cursor::with_base(rest, self.base + at as u64);
        let shared = c.varint32("entry shared length")?;
        let non_shared = c.varint32("entry key length")?;
        let vlen = c.varint32("entry value length")?;
        if shared as usize > self.key.len() {
            return Err(Error::BadBlock {
                block: self.kind,
                offset: self.base + at as u64,
                field: "entry shared length",
                reason: format!(
                    "shares {shared} bytes with a previous key of {} bytes",
                    self.key.len()
                ),
            });
        }
        let delta = c.take(non_shared as usize, "entry key")?;
        let value = c.take(vlen as usize, "entry value")?;
        self.key.truncate(shared as usize);
        self.key.extend_from_slice(delta);
        self.pos = at + c.position();
        Ok(Some(RawEntry { at, shared, value }))
    }
}

/// Internal key trailer RocksDB's `SstFileWriter` writes: sequence 0, type 1 (value).
pub const VALUE_TRAILER: u64 = 1;

/// Splits an internal key into user key and trailer, requiring the `SstFileWriter` form.
pub(crate) fn split_internal_key(ikey: &[u8], kind: BlockKind, offset: u64) -> Result<&[u8]> {
    let n = ikey.len();
    if n < 8 {
        return Err(Error::BadInternalKey {
            block: kind,
            offset,
            key: HexBytes(ikey.to_vec()),
            reason: "shorter than its 8-byte trailer",
        });
    }
    let (user, trailer) = ikey.split_at(n - 8);
    let mut t = [0u8; 8];
    t.copy_from_slice(trailer);
    let t = u64::from_le_bytes(t);
    if t & 0xff != 1 {
        return Err(Error::BadInternalKey {
            block: kind,
            offset,
            key: HexBytes(ikey.to_vec()),
            reason: "value type is not 1 (kTypeValue)",
        });
    }
    if t >> 8 != 0 {
        return Err(Error::BadInternalKey {
            block: kind,
            offset,
            key: HexBytes(ikey.to_vec()),
            reason: "sequence number is not 0",
        });
    }
    Ok(user)
}

/// The user-key part of an index separator. RocksDB shortens separators and gives them
/// the seek trailer (sequence 2^56-1, type 0x18), so only the length is checked.
pub(crate) fn separator_user_key(ikey: &[u8], offset: u64) -> Result<&[u8]> {
    match ikey.len().checked_sub(8).and_then(|n| ikey.get(..n)) {
        Some(u) => Ok(u),
        None => Err(Error::BadInternalKey {
            block: BlockKind::Index,
            offset,
            key: HexBytes(ikey.to_vec()),
            reason: "shorter than its 8-byte trailer",
        }),
    }
}

/// Appends the `SstFileWriter` trailer to a user key.
pub(crate) fn push_internal_key(out: &mut Vec<u8>, user: &[u8]) {
    out.extend_from_slice(user);
    out.extend_from_slice(&VALUE_TRAILER.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_round_trip_with_restarts() {
        let mut b = BlockBuilder::new(2);
        let keys: Vec<Vec<u8>> = (0..5u8).map(|i| vec![b'k', b'e', b'y', i]).collect();
        for k in &keys {
            b.add(k, b"v");
        }
        let mut out = Vec::new();
        b.finish_into(&mut out);
        let blk = Block::parse(&out, 0, BlockKind::Index).unwrap();
        assert_eq!(blk.num_restarts(), 3);
        assert_eq!(blk.restart_key(1).unwrap(), &keys[2][..]);
        let mut c = blk.entries();
        let mut got = Vec::new();
        while let Some(e) = c.next_entry().unwrap() {
            assert_eq!(e.value, b"v");
            got.push(c.key().to_vec());
        }
        assert_eq!(got, keys);
    }

    #[test]
    fn rejects_bad_restart_counts() {
        assert!(matches!(
            Block::parse(&[0, 0, 0], 10, BlockKind::Index),
            Err(Error::BadBlock { offset: 10, .. })
        ));
        assert!(matches!(
            Block::parse(&[0, 0, 0, 0], 10, BlockKind::Index),
            Err(Error::BadBlock {
                field: "restart count",
                offset: 10,
                ..
            })
        ));
        assert!(matches!(
            Block::parse(&[9, 0, 0, 0], 10, BlockKind::Index),
            Err(Error::BadBlock {
                field: "restart count",
                ..
            })
        ));
    }
}
