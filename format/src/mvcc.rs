//! MVCC keys and values.
//!
//! An MVCC key is a user key and an HLC timestamp, encoded so that bytewise order is
//! (user key ascending, timestamp descending):
//!
//! ```text
//! escaped user key (0x00 -> 0x00 0xFF) | 0x00 0x01 | !wall (u64 BE) | !logical (u32 BE)
//! ```
//!
//! An MVCC value carries a CRC32C over the encoded key and the rest of the value, so a
//! value attached to the wrong key is caught even when every block CRC is right:
//!
//! ```text
//! crc32c (u32 LE) | tag (0x01 value, 0x02 tombstone) | payload (empty for a tombstone)
//! ```

use std::fmt;
use std::str::FromStr;

use crate::crc;
use crate::cursor::Cursor;
use crate::error::{Error, HexBytes, Result};

/// Encoded length of a timestamp suffix.
pub const TS_LEN: usize = 12;
/// Value tag of a live value.
pub const TAG_VALUE: u8 = 0x01;
/// Value tag of a tombstone.
pub const TAG_TOMBSTONE: u8 = 0x02;
/// Bytes before the payload in a value.
pub const VALUE_HEADER_LEN: usize = 5;

/// A hybrid-logical-clock timestamp: wall-clock nanoseconds and a logical counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Timestamp {
    /// Nanoseconds since the Unix epoch.
    pub wall: u64,
    /// Logical counter for events within one wall nanosecond.
    pub logical: u32,
}

impl Timestamp {
    /// A timestamp.
    pub const fn new(wall: u64, logical: u32) -> Self {
        Timestamp { wall, logical }
    }

    /// The smallest timestamp.
    pub const MIN: Timestamp = Timestamp {
        wall: 0,
        logical: 0,
    };
    /// The largest timestamp.
    pub const MAX: Timestamp = Timestamp {
        wall: u64::MAX,
        logical: u32::MAX,
    };

    /// 12 bytes, big-endian wall then logical (ascending order).
    pub fn encode_be(&self) -> [u8; TS_LEN] {
        let mut b = [0u8; TS_LEN];
        let (w, l) = b.split_at_mut(8);
        w.copy_from_slice(&self.wall.to_be_bytes());
        l.copy_from_slice(&self.logical.to_be_bytes());
        b
    }

    /// Inverse of [`Timestamp::encode_be`]; the input must be exactly 12 bytes.
    pub fn decode_be(b: &[u8]) -> Result<Self> {
        let mut c = Cursor::new(b);
        let wall = c.u64_be("timestamp wall time")?;
        let logical = c.u32_be("timestamp logical")?;
        c.finish("timestamp")?;
        Ok(Timestamp { wall, logical })
    }

    /// The next timestamp in order.
    pub fn next(&self) -> Self {
        match self.logical.checked_add(1) {
            Some(l) => Timestamp::new(self.wall, l),
            None => Timestamp::new(self.wall.saturating_add(1), 0),
        }
    }
}

/// CockroachDB's decimal HLC form: `<wall nanos>.<logical, 10 digits>`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:010}", self.wall, self.logical)
    }
}

impl FromStr for Timestamp {
    type Err = Error;

    /// Parses `1234` or `1234.0000000005` (wall nanoseconds, logical counter).
    fn from_str(s: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::Invalid {
            field: "timestamp",
            offset: 0,
            reason: format!("{s:?}: {reason}"),
        };
        let (w, l) = match s.split_once('.') {
            Some((w, l)) => (w, Some(l)),
            None => (s, None),
        };
        if w.is_empty() || !w.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("wall time must be decimal digits"));
        }
        let wall = w
            .parse::<u64>()
            .map_err(|_| invalid("wall time out of range"))?;
        let logical = match l {
            None => 0,
            Some(l) => {
                if l.is_empty() || l.len() > 10 || !l.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid("logical part must be 1 to 10 decimal digits"));
                }
                // Digits after the point are the logical counter, right-padded to 10 digits.
                let padded = format!("{l:0<10}");
                padded
                    .parse::<u32>()
                    .map_err(|_| invalid("logical part out of range"))?
            }
        };
        Ok(Timestamp { wall, logical })
    }
}

/// Appends the MVCC encoding of (`user_key`, `ts`).
pub fn encode_key(user_key: &[u8], ts: Timestamp, out: &mut Vec<u8>) {
    out.reserve(user_key.len() + 2 + TS_LEN);
    for &b in user_key {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
    out.extend_from_slice(&(!ts.wall).to_be_bytes());
    out.extend_from_slice(&(!ts.logical).to_be_bytes());
}

/// The MVCC encoding of (`user_key`, `ts`).
pub fn key(user_key: &[u8], ts: Timestamp) -> Vec<u8> {
    let mut v = Vec::new();
    encode_key(user_key, ts, &mut v);
    v
}

/// Decodes an MVCC key into the user key and timestamp; the whole input must be used.
pub fn decode_key(encoded: &[u8]) -> Result<(Vec<u8>, Timestamp)> {
    let mut user = Vec::with_capacity(encoded.len().saturating_sub(2 + TS_LEN));
    let ts = decode_key_into(encoded, &mut user)?;
    Ok((user, ts))
}

/// [`decode_key`] into a reused buffer: `user` is cleared and gets the user key (what it
/// holds after an error is unspecified). For hot loops: no allocation once `user` is big
/// enough.
pub fn decode_key_into(encoded: &[u8], user: &mut Vec<u8>) -> Result<Timestamp> {
    user.clear();
    let mut c = Cursor::new(encoded);
    loop {
        // The bytes up to the next 0x00 are user key bytes as they are.
        let rest = c.peek_rest();
        let run = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        user.extend_from_slice(c.take(run, "mvcc user key")?);
        let at = c.offset();
        c.u8("mvcc user key")?;
        match c.u8("mvcc key escape")? {
            0xff => user.push(0),
            0x01 => break,
            other => {
                return Err(Error::Invalid {
                    field: "mvcc key escape",
                    offset: at + 1,
                    reason: format!("0x00 followed by {other:#04x} (expected 0xff or 0x01)"),
                })
            }
        }
    }
    let wall = !c.u64_be("mvcc timestamp wall time")?;
    let logical = !c.u32_be("mvcc timestamp logical")?;
    c.finish("mvcc key")?;
    Ok(Timestamp { wall, logical })
}

/// A decoded MVCC value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// A live value.
    Live(&'a [u8]),
    /// A deletion.
    Tombstone,
}

impl Value<'_> {
    /// True for a tombstone.
    pub fn is_tombstone(&self) -> bool {
        matches!(self, Value::Tombstone)
    }
}

fn value_crc(encoded_key: &[u8], tag: u8, payload: &[u8]) -> u32 {
    let c = crc::crc32c(encoded_key);
    let c = crc::crc32c_extend(c, &[tag]);
    crc::crc32c_extend(c, payload)
}

/// Encodes a value for `encoded_key` (the MVCC-encoded key it is stored under).
/// `None` encodes a tombstone.
pub fn encode_value(encoded_key: &[u8], payload: Option<&[u8]>, out: &mut Vec<u8>) {
    let (tag, p) = match payload {
        Some(p) => (TAG_VALUE, p),
        None => (TAG_TOMBSTONE, &[][..]),
    };
    out.reserve(VALUE_HEADER_LEN + p.len());
    out.extend_from_slice(&value_crc(encoded_key, tag, p).to_le_bytes());
    out.push(tag);
    out.extend_from_slice(p);
}

/// Encodes a value for `encoded_key`, returning the bytes.
pub fn value(encoded_key: &[u8], payload: Option<&[u8]>) -> Vec<u8> {
    let mut v = Vec::new();
    encode_value(encoded_key, payload, &mut v);
    v
}

/// Decodes a value stored under `encoded_key`, checking its CRC32C.
pub fn decode_value<'a>(encoded_key: &[u8], stored: &'a [u8]) -> Result<Value<'a>> {
    let (crc_stored, tag_at, tag, payload) = split_value(stored)?;
    let computed = value_crc(encoded_key, tag, payload);
    if computed != crc_stored {
        return Err(Error::ValueChecksum {
            key: HexBytes(encoded_key.to_vec()),
            stored: crc_stored,
            computed,
        });
    }
    interpret_value(tag_at, tag, payload)
}

/// The value `stored` holds (its header and tag checked as [`decode_value`] checks them),
/// its CRC32C *not* recomputed: for a value a verified scan or a merge cursor already
/// decoded with [`decode_value`], read again from the same bytes (a second pass would
/// only recompute the same checksum).
pub fn value_checked_before(stored: &[u8]) -> Result<Value<'_>> {
    let (_, tag_at, tag, payload) = split_value(stored)?;
    interpret_value(tag_at, tag, payload)
}

/// The stored checksum, the tag's offset, the tag and the payload.
fn split_value(stored: &[u8]) -> Result<(u32, u64, u8, &[u8])> {
    let mut c = Cursor::new(stored);
    let crc_stored = c.u32_le("mvcc value checksum")?;
    let tag_at = c.offset();
    let tag = c.u8("mvcc value tag")?;
    Ok((crc_stored, tag_at, tag, c.rest()))
}

fn interpret_value(tag_at: u64, tag: u8, payload: &[u8]) -> Result<Value<'_>> {
    match tag {
        TAG_VALUE => Ok(Value::Live(payload)),
        TAG_TOMBSTONE if payload.is_empty() => Ok(Value::Tombstone),
        TAG_TOMBSTONE => Err(Error::TrailingBytes {
            field: "mvcc tombstone",
            offset: tag_at + 1,
            extra: payload.len() as u64,
        }),
        other => Err(Error::Invalid {
            field: "mvcc value tag",
            offset: tag_at,
            reason: format!("unknown tag {other:#04x}"),
        }),
    }
}

/// Fuzz entry point: decodes an MVCC key and checks that re-encoding gives the input back.
#[doc(hidden)]
pub fn fuzz_decode_key(data: &[u8]) {
    if let Ok((user, ts)) = decode_key(data) {
        assert_eq!(
            key(&user, ts),
            data,
            "MVCC key re-encoding differs from input"
        );
    }
}

/// Fuzz entry point: decodes `data` as a value under a fixed key and re-encodes it.
#[doc(hidden)]
pub fn fuzz_decode_value(data: &[u8]) {
    let k = key(b"fuzz", Timestamp::new(1, 0));
    // Reading a value again without its CRC gives what the checked decoding gave, or the
    // same error when the value is wrong for any other reason than its checksum.
    match decode_value(&k, data) {
        Err(Error::ValueChecksum { .. }) => {}
        checked => assert_eq!(
            value_checked_before(data),
            checked,
            "value_checked_before disagrees with decode_value"
        ),
    }
    if let Ok(v) = decode_value(&k, data) {
        let payload = match v {
            Value::Live(p) => Some(p),
            Value::Tombstone => None,
        };
        assert_eq!(
            value(&k, payload),
            data,
            "MVCC value re-encoding differs from input"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_bytes() {
        assert_eq!(
            key(b"a\x00b", Timestamp::new(1, 2)),
            vec![
                b'a', 0, 0xff, b'b', 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff,
                0xff, 0xff, 0xfd
            ]
        );
    }

    #[test]
    fn timestamp_text() {
        let t = Timestamp::new(1_700_000_000_000_000_000, 3);
        assert_eq!(t.to_string(), "1700000000000000000.0000000003");
        assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
        assert_eq!("5".parse::<Timestamp>().unwrap(), Timestamp::new(5, 0));
        assert_eq!(
            "5.1".parse::<Timestamp>().unwrap(),
            Timestamp::new(5, 1_000_000_000)
        );
        assert!("5.".parse::<Timestamp>().is_err());
        assert!("-5".parse::<Timestamp>().is_err());
        assert!("5.12345678901".parse::<Timestamp>().is_err());
    }

    #[test]
    fn value_round_trip_and_wrong_key() {
        let k = key(b"k", Timestamp::new(9, 0));
        let v = value(&k, Some(b"hello"));
        assert_eq!(decode_value(&k, &v).unwrap(), Value::Live(b"hello"));
        let t = value(&k, None);
        assert_eq!(t.len(), VALUE_HEADER_LEN);
        assert_eq!(decode_value(&k, &t).unwrap(), Value::Tombstone);
        let other = key(b"k", Timestamp::new(10, 0));
        assert!(matches!(
            decode_value(&other, &v),
            Err(Error::ValueChecksum { .. })
        ));
    }

    #[test]
    fn a_value_read_again_skips_only_its_checksum() {
        let k = key(b"k", Timestamp::new(9, 0));
        let v = value(&k, Some(b"hello"));
        assert_eq!(value_checked_before(&v), Ok(Value::Live(&b"hello"[..])));
        assert_eq!(value_checked_before(&value(&k, None)), Ok(Value::Tombstone));
        // A flipped checksum: the checked decoding refuses it, the second read does not
        // look at it (a verified scan refused it already).
        let mut flipped = v.clone();
        flipped[0] ^= 1;
        assert!(matches!(
            decode_value(&k, &flipped),
            Err(Error::ValueChecksum { .. })
        ));
        assert_eq!(
            value_checked_before(&flipped),
            Ok(Value::Live(&b"hello"[..]))
        );
        // Everything else is still checked, with the same errors as decode_value's.
        for bad in [&v[..3], &v[..4]] {
            assert!(matches!(
                value_checked_before(bad),
                Err(Error::Truncated { .. })
            ));
            assert_eq!(value_checked_before(bad), decode_value(&k, bad));
        }
        let mut tag = v.clone();
        tag[4] = 9;
        assert!(matches!(
            value_checked_before(&tag),
            Err(Error::Invalid {
                field: "mvcc value tag",
                offset: 4,
                ..
            })
        ));
        let mut tomb = value(&k, None);
        tomb.push(0);
        assert!(matches!(
            value_checked_before(&tomb),
            Err(Error::TrailingBytes {
                offset: 5,
                extra: 1,
                ..
            })
        ));
    }

    #[test]
    fn bad_escape_is_located() {
        assert_eq!(
            decode_key(&[b'x', 0, 7]),
            Err(Error::Invalid {
                field: "mvcc key escape",
                offset: 2,
                reason: "0x00 followed by 0x07 (expected 0xff or 0x01)".into()
            })
        );
    }
}
