//! A bounds-checked reader over a byte slice, and the varint / fixed-width encoders that
//! go with it. Every decoder in `format` reads through [`Cursor`]; nothing indexes input
//! bytes directly.

use crate::error::{Error, Result};

/// Reads fields from a byte slice. Offsets in errors are `base + position`.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> Cursor<'a> {
    /// A cursor over `buf` whose errors report offsets relative to the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_base(buf, 0)
    }

    /// A cursor whose errors report `base + position` (the absolute file offset of `buf`).
    pub fn with_base(buf: &'a [u8], base: u64) -> Self {
        Cursor { buf, pos: 0, base }
    }

    /// Absolute offset of the next byte.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Position inside the slice.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// True when every byte was read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, consuming them.
    pub fn rest(&mut self) -> &'a [u8] {
        let r = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        r
    }

    /// The unread bytes without consuming them.
    pub fn peek_rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// Takes exactly `n` bytes.
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end.and_then(|e| self.buf.get(self.pos..e).map(|s| (s, e))) {
            Some((s, e)) => {
                self.pos = e;
                Ok(s)
            }
            None => Err(Error::Truncated {
                field,
                offset: self.offset(),
                needed: n as u64,
                available: self.remaining() as u64,
            }),
        }
    }

    /// Takes exactly `N` bytes as an array.
    pub fn take_array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N]> {
        let s = self.take(N, field)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Takes one byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8> {
        Ok(self.take_array::<1>(field)?[0])
    }

    /// Peeks at the next byte.
    pub fn peek_u8(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Little-endian u32.
    pub fn u32_le(&mut self, field: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take_array(field)?))
    }

    /// Little-endian u64.
    pub fn u64_le(&mut self, field: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take_array(field)?))
    }

    /// Big-endian u32.
    pub fn u32_be(&mut self, field: &'static str) -> Result<u32> {
        Ok(u32::from_be_bytes(self.take_array(field)?))
    }

    /// Big-endian u64.
    pub fn u64_be(&mut self, field: &'static str) -> Result<u64> {
        Ok(u64::from_be_bytes(self.take_array(field)?))
    }

    /// LEB128 varint of at most 64 bits (10 bytes), as RocksDB's `GetVarint64`.
    pub fn varint64(&mut self, field: &'static str) -> Result<u64> {
        let start = self.offset();
        let mut result: u64 = 0;
        for i in 0..10u32 {
            let b = match self.peek_u8() {
                Some(b) => b,
                None => {
                    return Err(Error::Truncated {
                        field,
                        offset: start,
                        needed: u64::from(i) + 1,
                        available: u64::from(i),
                    })
                }
            };
            self.pos += 1;
            let low = u64::from(b & 0x7f);
            if i == 9 && (b & 0x7e) != 0 {
                // The tenth byte may only carry the top bit of a u64.
                return Err(Error::Varint {
                    field,
                    offset: start,
                });
            }
            result |= low << (7 * i);
            if b & 0x80 == 0 {
                return Ok(result);
            }
        }
        Err(Error::Varint {
            field,
            offset: start,
        })
    }

    /// LEB128 varint of at most 32 bits (5 bytes), as RocksDB's `GetVarint32`.
    pub fn varint32(&mut self, field: &'static str) -> Result<u32> {
        let start = self.offset();
        let save = self.pos;
        let v = self.varint64(field)?;
        if self.pos - save > 5 || v > u64::from(u32::MAX) {
            return Err(Error::Varint {
                field,
                offset: start,
            });
        }
        Ok(v as u32)
    }

    /// A varint64 that must be in its shortest form (for vouch's own canonical encodings,
    /// where every value has exactly one encoding).
    pub fn varint64_minimal(&mut self, field: &'static str) -> Result<u64> {
        let at = self.offset();
        let start = self.pos;
        let v = self.varint64(field)?;
        if self.pos - start != varint64_len(v) {
            return Err(Error::Varint { field, offset: at });
        }
        Ok(v)
    }

    /// A minimal varint length followed by that many bytes, the length checked against
    /// `limit` before anything is taken.
    pub fn length_prefixed(&mut self, field: &'static str, limit: u64) -> Result<&'a [u8]> {
        let at = self.offset();
        let n = self.varint64_minimal(field)?;
        if n > limit {
            return Err(Error::Limit {
                field,
                offset: at,
                value: n,
                limit,
            });
        }
        let n = usize::try_from(n).map_err(|_| Error::Limit {
            field,
            offset: at,
            value: n,
            limit,
        })?;
        self.take(n, field)
    }

    /// Fails when bytes remain.
    pub fn finish(&self, field: &'static str) -> Result<()> {
        if self.remaining() != 0 {
            return Err(Error::TrailingBytes {
                field,
                offset: self.offset(),
                extra: self.remaining() as u64,
            });
        }
        Ok(())
    }
}

/// Appends `v` as a LEB128 varint.
pub fn put_varint64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` as a LEB128 varint.
pub fn put_varint32(out: &mut Vec<u8>, v: u32) {
    put_varint64(out, u64::from(v));
}

/// Number of bytes `put_varint64` writes for `v`.
pub fn varint64_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Appends a varint length and the bytes.
pub fn put_length_prefixed(out: &mut Vec<u8>, b: &[u8]) {
    put_varint64(out, b.len() as u64);
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip_and_lengths() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16383,
            16384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_varint64(&mut b, v);
            assert_eq!(b.len(), varint64_len(v));
            let mut c = Cursor::new(&b);
            assert_eq!(c.varint64("v").unwrap(), v);
            assert!(c.is_empty());
        }
    }

    #[test]
    fn varint_rejects_overlong_and_truncated() {
        let eleven = [0x80u8; 11];
        assert_eq!(
            Cursor::new(&eleven).varint64("v"),
            Err(Error::Varint {
                field: "v",
                offset: 0
            })
        );
        // Tenth byte with more than the top bit.
        let mut over = vec![0xffu8; 9];
        over.push(0x02);
        assert_eq!(
            Cursor::new(&over).varint64("v"),
            Err(Error::Varint {
                field: "v",
                offset: 0
            })
        );
        assert_eq!(
            Cursor::with_base(&[0x80, 0x80], 7).varint64("v"),
            Err(Error::Truncated {
                field: "v",
                offset: 7,
                needed: 3,
                available: 2
            })
        );
        let mut big = Vec::new();
        put_varint64(&mut big, u64::from(u32::MAX) + 1);
        assert_eq!(
            Cursor::new(&big).varint32("v"),
            Err(Error::Varint {
                field: "v",
                offset: 0
            })
        );
    }

    #[test]
    fn take_reports_offset() {
        let b = [1u8, 2, 3];
        let mut c = Cursor::with_base(&b, 100);
        c.take(2, "a").unwrap();
        assert_eq!(
            c.take(2, "b"),
            Err(Error::Truncated {
                field: "b",
                offset: 102,
                needed: 2,
                available: 1
            })
        );
        assert_eq!(
            c.finish("x"),
            Err(Error::TrailingBytes {
                field: "x",
                offset: 102,
                extra: 1
            })
        );
    }
}
