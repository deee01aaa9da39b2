//! Order-preserving, prefix-free table keys: `/Table/<table_id>/<index_id>/<columns…>`.
//!
//! The byte order of encoded keys equals the SQL order of the tuples they encode
//! ([`cmp_datum`] per column, NULL first, each column ascending or descending), so an
//! SST sorted bytewise is sorted by primary or index key. The layout of every byte is in
//! `spec/rows.md`; this module is its reference implementation.
//!
//! - table and index ids: [`encode_ordered_uvarint`], a header byte `0x80 + n` followed by
//!   the `n` (0..=8) significant big-endian bytes; minimal form only.
//! - each column: a tag byte ([`TAG_NULL`] … [`TAG_ENUM`]) and a payload. A descending
//!   column is the ascending encoding with every byte inverted; that is order-reversing
//!   because the ascending encoding is prefix-free.
//!
//! Decoding is strict: every accepted input is the unique encoding of its value, so
//! decoding then re-encoding reproduces the input ([`fuzz_decode_key`] checks this).

use std::cmp::Ordering;

use crate::cursor::Cursor;
use crate::decimal::{Decimal, MAX_DIGITS};
use crate::error::{Error, Result};

/// NULL (ascending). Sorts before every value; descending (`0xff`) after every value.
pub const TAG_NULL: u8 = 0x00;
/// INT: 8 bytes big-endian, sign bit flipped.
pub const TAG_INT: u8 = 0x10;
/// FLOAT: 8 bytes, see `spec/rows.md`.
pub const TAG_FLOAT: u8 = 0x20;
/// DECIMAL below zero.
pub const TAG_DECIMAL_NEG: u8 = 0x30;
/// DECIMAL zero (no payload).
pub const TAG_DECIMAL_ZERO: u8 = 0x31;
/// DECIMAL above zero.
pub const TAG_DECIMAL_POS: u8 = 0x32;
/// STRING: escaped bytes, terminated by `0x00 0x01`.
pub const TAG_STRING: u8 = 0x40;
/// BYTES: escaped bytes, terminated by `0x00 0x01`.
pub const TAG_BYTES: u8 = 0x50;
/// BOOL: one byte 0 or 1.
pub const TAG_BOOL: u8 = 0x60;
/// DATE: 4 bytes big-endian, sign bit flipped.
pub const TAG_DATE: u8 = 0x70;
/// TIMESTAMP: 8 bytes big-endian, sign bit flipped.
pub const TAG_TIMESTAMP: u8 = 0x80;
/// UUID: 16 bytes.
pub const TAG_UUID: u8 = 0x90;
/// Enum: escaped physical representation, terminated by `0x00 0x01`.
pub const TAG_ENUM: u8 = 0xa0;

/// First byte of [`encode_ordered_uvarint`]'s output for 0; `0x80 + n` for `n` bytes.
pub const UVARINT_HEADER_BASE: u8 = 0x80;

const SIGN64: u64 = 1 << 63;
const SIGN32: u32 = 1 << 31;

/// Escaped `0x00` inside STRING / BYTES / enum payloads is `0x00 0xff`.
const ESCAPE: u8 = 0xff;
/// STRING / BYTES / enum payloads end with `0x00 0x01`.
const TERMINATOR: u8 = 0x01;

/// A SQL value.
///
/// Equality is structural, with FLOAT compared by bit pattern (so `NaN == NaN` and
/// `-0.0 != 0.0`): row values keep exact bits. SQL order and SQL equality are
/// [`cmp_datum`].
#[derive(Debug, Clone)]
pub enum Datum {
    /// SQL NULL.
    Null,
    /// INT (INT8).
    Int(i64),
    /// FLOAT (FLOAT8).
    Float(f64),
    /// DECIMAL.
    Decimal(Decimal),
    /// STRING (UTF-8).
    String(String),
    /// BYTES.
    Bytes(Vec<u8>),
    /// BOOL.
    Bool(bool),
    /// DATE: days since 1970-01-01.
    Date(i32),
    /// TIMESTAMP: microseconds since 1970-01-01T00:00:00Z.
    Timestamp(i64),
    /// UUID.
    Uuid([u8; 16]),
    /// JSONB. Not key-encodable.
    Json(serde_json::Value),
    /// A user-defined enum value, by its physical representation.
    Enum(Vec<u8>),
}

impl PartialEq for Datum {
    fn eq(&self, other: &Self) -> bool {
        use Datum::*;
        match (self, other) {
            (Null, Null) => true,
            (Int(a), Int(b)) => a == b,
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Decimal(a), Decimal(b)) => a == b,
            (String(a), String(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (Bool(a), Bool(b)) => a == b,
            (Date(a), Date(b)) => a == b,
            (Timestamp(a), Timestamp(b)) => a == b,
            (Uuid(a), Uuid(b)) => a == b,
            (Json(a), Json(b)) => a == b,
            (Enum(a), Enum(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Datum {}

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// INT (INT8).
    Int,
    /// FLOAT (FLOAT8).
    Float,
    /// DECIMAL.
    Decimal,
    /// STRING.
    String,
    /// BYTES.
    Bytes,
    /// BOOL.
    Bool,
    /// DATE.
    Date,
    /// TIMESTAMP.
    Timestamp,
    /// UUID.
    Uuid,
    /// JSONB.
    Json,
    /// A user-defined enum.
    Enum,
}

impl ColumnType {
    /// The SQL name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Int => "INT",
            ColumnType::Float => "FLOAT",
            ColumnType::Decimal => "DECIMAL",
            ColumnType::String => "STRING",
            ColumnType::Bytes => "BYTES",
            ColumnType::Bool => "BOOL",
            ColumnType::Date => "DATE",
            ColumnType::Timestamp => "TIMESTAMP",
            ColumnType::Uuid => "UUID",
            ColumnType::Json => "JSONB",
            ColumnType::Enum => "ENUM",
        }
    }

    /// True for the types that have a key encoding (all but JSON).
    pub fn is_key_encodable(self) -> bool {
        self != ColumnType::Json
    }
}

impl Datum {
    /// The datum's type; `None` for NULL, which belongs to every type.
    pub fn column_type(&self) -> Option<ColumnType> {
        Some(match self {
            Datum::Null => return None,
            Datum::Int(_) => ColumnType::Int,
            Datum::Float(_) => ColumnType::Float,
            Datum::Decimal(_) => ColumnType::Decimal,
            Datum::String(_) => ColumnType::String,
            Datum::Bytes(_) => ColumnType::Bytes,
            Datum::Bool(_) => ColumnType::Bool,
            Datum::Date(_) => ColumnType::Date,
            Datum::Timestamp(_) => ColumnType::Timestamp,
            Datum::Uuid(_) => ColumnType::Uuid,
            Datum::Json(_) => ColumnType::Json,
            Datum::Enum(_) => ColumnType::Enum,
        })
    }

    /// The SQL name of the datum's type (`NULL` for NULL), for messages.
    pub fn type_name(&self) -> &'static str {
        self.column_type().map_or("NULL", ColumnType::name)
    }
}

/// Sort direction of a key column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Ascending: NULL first.
    Asc,
    /// Descending: every byte of the ascending encoding inverted; NULL last.
    Desc,
}

impl Direction {
    fn mask(self) -> u8 {
        match self {
            Direction::Asc => 0x00,
            Direction::Desc => 0xff,
        }
    }
}

// ---- the order oracle -----------------------------------------------------------------

/// Rank of a datum's kind; kinds order as their key tags do.
fn kind_rank(d: &Datum) -> u8 {
    match d {
        Datum::Null => 0,
        Datum::Int(_) => 1,
        Datum::Float(_) => 2,
        Datum::Decimal(_) => 3,
        Datum::String(_) => 4,
        Datum::Bytes(_) => 5,
        Datum::Bool(_) => 6,
        Datum::Date(_) => 7,
        Datum::Timestamp(_) => 8,
        Datum::Uuid(_) => 9,
        Datum::Enum(_) => 10,
        Datum::Json(_) => 11,
    }
}

/// SQL FLOAT order: NaN (all NaNs equal) < -inf < … < -0.0 = 0.0 < … < +inf.
fn cmp_f64(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// The SQL order of datums, a total order: NULL first, then values of one type in SQL
/// order (STRING by UTF-8 bytes, i.e. code points; BYTES, UUID and enums bytewise;
/// FLOAT as [`cmp_f64`]-style with NaN lowest and `-0.0 == 0.0`; DECIMAL numerically).
/// Values of different types order by type in key-tag order (JSON, which has no key
/// encoding, last and by its text). For key-encodable datums, `cmp_datum(a, b)` equals the
/// bytewise order of their ascending key encodings.
pub fn cmp_datum(a: &Datum, b: &Datum) -> Ordering {
    use Datum::*;
    match (a, b) {
        (Int(x), Int(y)) => x.cmp(y),
        (Float(x), Float(y)) => cmp_f64(*x, *y),
        (Decimal(x), Decimal(y)) => x.cmp(y),
        (String(x), String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Bytes(x), Bytes(y)) => x.cmp(y),
        (Bool(x), Bool(y)) => x.cmp(y),
        (Date(x), Date(y)) => x.cmp(y),
        (Timestamp(x), Timestamp(y)) => x.cmp(y),
        (Uuid(x), Uuid(y)) => x.cmp(y),
        (Enum(x), Enum(y)) => x.cmp(y),
        (Json(x), Json(y)) => x.to_string().cmp(&y.to_string()),
        _ => kind_rank(a).cmp(&kind_rank(b)),
    }
}

// ---- table and index ids --------------------------------------------------------------

/// Appends `v` as an order-preserving unsigned varint: `0x80 + n`, then the `n` (0..=8)
/// significant bytes of `v` big-endian (0 is the single byte `0x80`).
pub fn encode_ordered_uvarint(v: u64, out: &mut Vec<u8>) {
    let skip = (v.leading_zeros() / 8) as usize;
    out.push(UVARINT_HEADER_BASE + (8 - skip) as u8);
    out.extend(v.to_be_bytes().iter().skip(skip));
}

/// Reads an order-preserving unsigned varint; rejects headers outside `0x80..=0x88` and
/// non-minimal forms (a leading zero byte).
pub fn decode_ordered_uvarint(cur: &mut Cursor<'_>, field: &'static str) -> Result<u64> {
    let at = cur.offset();
    let header = cur.u8(field)?;
    let n = header.wrapping_sub(UVARINT_HEADER_BASE);
    if n > 8 {
        return Err(Error::Invalid {
            field,
            offset: at,
            reason: format!("header byte {header:#04x} is not in 0x80..=0x88"),
        });
    }
    let bytes = cur.take(usize::from(n), field)?;
    if bytes.first() == Some(&0) {
        return Err(Error::Invalid {
            field,
            offset: at,
            reason: "non-minimal encoding (leading zero byte)".to_string(),
        });
    }
    Ok(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// Appends `/Table/<table_id>/<index_id>`: both ids as [`encode_ordered_uvarint`].
pub fn encode_table_prefix(table_id: u64, index_id: u64, out: &mut Vec<u8>) {
    encode_ordered_uvarint(table_id, out);
    encode_ordered_uvarint(index_id, out);
}

/// Reads the table and index ids at the start of a key; returns them and the number of
/// bytes they take.
pub fn decode_table_prefix(bytes: &[u8]) -> Result<(u64, u64, usize)> {
    let mut cur = Cursor::new(bytes);
    let table = decode_ordered_uvarint(&mut cur, "table id")?;
    let index = decode_ordered_uvarint(&mut cur, "index id")?;
    Ok((table, index, cur.position()))
}

/// The key span `[start, end)` of table `id`: every key of every index of the table (the
/// table id is the first component of its keys, and ordered uvarints sort like the ids).
/// For `u64::MAX` the end saturates and the span is empty.
pub fn table_span(id: u64) -> (Vec<u8>, Vec<u8>) {
    let mut a = Vec::new();
    encode_ordered_uvarint(id, &mut a);
    let mut b = Vec::new();
    encode_ordered_uvarint(id.saturating_add(1), &mut b);
    (a, b)
}

// ---- encoding -------------------------------------------------------------------------

fn float_key_bits(f: f64) -> u64 {
    if f.is_nan() {
        return 0;
    }
    let f = if f == 0.0 { 0.0 } else { f };
    let bits = f.to_bits();
    if bits & SIGN64 == 0 {
        bits | SIGN64
    } else {
        !bits
    }
}

fn put_escaped(b: &[u8], out: &mut Vec<u8>) {
    for &c in b {
        out.push(c);
        if c == 0 {
            out.push(ESCAPE);
        }
    }
    out.push(0);
    out.push(TERMINATOR);
}

fn put_decimal(x: &Decimal, out: &mut Vec<u8>) {
    if x.is_zero() {
        out.push(TAG_DECIMAL_ZERO);
        return;
    }
    let (tag, mask) = if x.is_negative() {
        (TAG_DECIMAL_NEG, 0xff)
    } else {
        (TAG_DECIMAL_POS, 0x00)
    };
    out.push(tag);
    // Value = 0.d1d2… × 10^e; the adjusted exponent is bounded, so this cannot overflow.
    let e = x.adjusted_exponent().saturating_add(1);
    out.extend(((e as u32) ^ SIGN32).to_be_bytes().iter().map(|b| b ^ mask));
    for pair in x.digits().chunks(2) {
        let hi = pair.first().map_or(0, |c| c - b'0');
        let lo = pair.get(1).map_or(0, |c| c - b'0');
        out.push((hi * 10 + lo + 1) ^ mask);
    }
    out.push(mask);
}

fn encode_datum_at(d: &Datum, dir: Direction, column: usize, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    match d {
        Datum::Null => out.push(TAG_NULL),
        Datum::Int(v) => {
            out.push(TAG_INT);
            out.extend_from_slice(&((*v as u64) ^ SIGN64).to_be_bytes());
        }
        Datum::Float(f) => {
            out.push(TAG_FLOAT);
            out.extend_from_slice(&float_key_bits(*f).to_be_bytes());
        }
        Datum::Decimal(x) => put_decimal(x, out),
        Datum::String(s) => {
            out.push(TAG_STRING);
            put_escaped(s.as_bytes(), out);
        }
        Datum::Bytes(b) => {
            out.push(TAG_BYTES);
            put_escaped(b, out);
        }
        Datum::Bool(b) => {
            out.push(TAG_BOOL);
            out.push(u8::from(*b));
        }
        Datum::Date(v) => {
            out.push(TAG_DATE);
            out.extend_from_slice(&((*v as u32) ^ SIGN32).to_be_bytes());
        }
        Datum::Timestamp(v) => {
            out.push(TAG_TIMESTAMP);
            out.extend_from_slice(&((*v as u64) ^ SIGN64).to_be_bytes());
        }
        Datum::Uuid(u) => {
            out.push(TAG_UUID);
            out.extend_from_slice(u);
        }
        Datum::Enum(b) => {
            out.push(TAG_ENUM);
            put_escaped(b, out);
        }
        Datum::Json(_) => {
            return Err(Error::NotKeyEncodable {
                column,
                kind: "JSONB",
            })
        }
    }
    if dir == Direction::Desc {
        for b in out.iter_mut().skip(start) {
            *b = !*b;
        }
    }
    Ok(())
}

/// Appends one key column: tag and payload, inverted when descending. JSON gives
/// `NotKeyEncodable { column: 0, .. }` and appends nothing.
pub fn encode_key_datum(d: &Datum, dir: Direction, out: &mut Vec<u8>) -> Result<()> {
    encode_datum_at(d, dir, 0, out)
}

/// Encodes a whole index key: table prefix, then each column. A JSON column gives
/// `NotKeyEncodable` with its position.
pub fn encode_index_key(
    table_id: u64,
    index_id: u64,
    columns: &[(Datum, Direction)],
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_index_key_into(
        table_id,
        index_id,
        columns.iter().map(|(d, dir)| (d, *dir)),
        &mut out,
    )?;
    Ok(out)
}

/// [`encode_index_key`] of borrowed columns into `out` (cleared first, its allocation
/// kept): a caller encoding key after key reuses one buffer.
pub fn encode_index_key_into<'d>(
    table_id: u64,
    index_id: u64,
    columns: impl IntoIterator<Item = (&'d Datum, Direction)>,
    out: &mut Vec<u8>,
) -> Result<()> {
    out.clear();
    encode_table_prefix(table_id, index_id, out);
    for (column, (d, dir)) in columns.into_iter().enumerate() {
        encode_datum_at(d, dir, column, out)?;
    }
    Ok(())
}

// ---- decoding -------------------------------------------------------------------------

fn key_err(column: usize, offset: u64, reason: impl Into<String>) -> Error {
    Error::KeyColumn {
        column,
        offset,
        reason: reason.into(),
    }
}

/// The type of a (de-inverted) non-NULL tag.
fn tag_type(tag: u8) -> Option<ColumnType> {
    Some(match tag {
        TAG_INT => ColumnType::Int,
        TAG_FLOAT => ColumnType::Float,
        TAG_DECIMAL_NEG | TAG_DECIMAL_ZERO | TAG_DECIMAL_POS => ColumnType::Decimal,
        TAG_STRING => ColumnType::String,
        TAG_BYTES => ColumnType::Bytes,
        TAG_BOOL => ColumnType::Bool,
        TAG_DATE => ColumnType::Date,
        TAG_TIMESTAMP => ColumnType::Timestamp,
        TAG_UUID => ColumnType::Uuid,
        TAG_ENUM => ColumnType::Enum,
        _ => return None,
    })
}

fn is_tag(tag: u8) -> bool {
    tag == TAG_NULL || tag_type(tag).is_some()
}

fn read_masked<const N: usize>(
    cur: &mut Cursor<'_>,
    mask: u8,
    field: &'static str,
) -> Result<[u8; N]> {
    let mut a = cur.take_array::<N>(field)?;
    for b in &mut a {
        *b ^= mask;
    }
    Ok(a)
}

fn read_escaped(
    cur: &mut Cursor<'_>,
    mask: u8,
    column: usize,
    field: &'static str,
    mut out: Vec<u8>,
) -> Result<Vec<u8>> {
    // Into `out` (cleared; its allocation reused). The output is never longer than the
    // input, so no separate limit is needed.
    out.clear();
    loop {
        let b = cur.u8(field)? ^ mask;
        if b != 0 {
            out.push(b);
            continue;
        }
        let at = cur.offset();
        match cur.u8(field)? ^ mask {
            TERMINATOR => return Ok(out),
            ESCAPE => out.push(0),
            other => {
                return Err(key_err(
                    column,
                    at,
                    format!(
                        "byte {other:#04x} after 0x00 in {field} (expected 0xff escape or 0x01 terminator)"
                    ),
                ))
            }
        }
    }
}

fn read_decimal(cur: &mut Cursor<'_>, tag: u8, mask: u8, column: usize) -> Result<Decimal> {
    if tag == TAG_DECIMAL_ZERO {
        return Ok(Decimal::zero());
    }
    let negative = tag == TAG_DECIMAL_NEG;
    let mask = if negative { !mask } else { mask };
    let e_at = cur.offset();
    let e =
        (u32::from_be_bytes(read_masked::<4>(cur, mask, "key decimal exponent")?) ^ SIGN32) as i32;
    let mut digits = Vec::new();
    loop {
        let at = cur.offset();
        let b = cur.u8("key decimal digits")? ^ mask;
        if b == 0 {
            if digits.is_empty() {
                return Err(key_err(column, at, "non-zero decimal without digits"));
            }
            break;
        }
        if b > 100 {
            return Err(key_err(
                column,
                at,
                format!("decimal digit pair byte {b} outside 1..=100"),
            ));
        }
        if digits.len() >= MAX_DIGITS {
            return Err(Error::Limit {
                field: "key decimal digits",
                offset: at,
                value: digits.len() as u64 + 2,
                limit: MAX_DIGITS as u64,
            });
        }
        let pair = b - 1;
        digits.push(b'0' + pair / 10);
        digits.push(b'0' + pair % 10);
    }
    // An odd digit count is padded with one zero; anything else is non-canonical and
    // `check_parts` rejects it (leading or trailing zero).
    if digits.last() == Some(&b'0') {
        digits.pop();
    }
    let exponent = i64::from(e) - digits.len() as i64;
    Decimal::check_parts(negative, &digits, exponent)
        .map_err(|reason| key_err(column, e_at, format!("non-canonical decimal: {reason}")))
}

fn decode_float(stored: u64) -> Option<f64> {
    if stored == 0 {
        return Some(f64::NAN);
    }
    let bits = if stored & SIGN64 != 0 {
        stored ^ SIGN64
    } else {
        !stored
    };
    let f = f64::from_bits(bits);
    if f.is_nan() || bits == SIGN64 {
        // A NaN other than the canonical one, or -0.0.
        None
    } else {
        Some(f)
    }
}

/// Decodes one column; `expect` is the column's type and direction, or `None` to take
/// both from the tag. Returns the datum, its type (from the tag; `None` for NULL) and the
/// direction. A STRING, BYTES or enum value is decoded into `buf` (its allocation kept).
fn decode_datum(
    cur: &mut Cursor<'_>,
    column: usize,
    expect: Option<(ColumnType, Direction)>,
    buf: Vec<u8>,
) -> Result<(Datum, Option<ColumnType>, Direction)> {
    let tag_at = cur.offset();
    let raw = cur.u8("key column tag")?;
    let dir = match expect {
        Some((_, dir)) => dir,
        None if is_tag(raw) => Direction::Asc,
        None if is_tag(!raw) => Direction::Desc,
        None => {
            return Err(key_err(
                column,
                tag_at,
                format!("unknown key tag {raw:#04x}"),
            ))
        }
    };
    let mask = dir.mask();
    let tag = raw ^ mask;
    if tag == TAG_NULL {
        return Ok((Datum::Null, None, dir));
    }
    let Some(ty) = tag_type(tag) else {
        return Err(key_err(
            column,
            tag_at,
            format!("unknown key tag {raw:#04x} ({dir:?})"),
        ));
    };
    if let Some((want, _)) = expect {
        if want != ty {
            return Err(key_err(
                column,
                tag_at,
                format!(
                    "tag {raw:#04x} is {} but the column is {}",
                    ty.name(),
                    want.name()
                ),
            ));
        }
    }
    let at = cur.offset();
    let d = match ty {
        ColumnType::Int => {
            let v = u64::from_be_bytes(read_masked::<8>(cur, mask, "key int")?);
            Datum::Int((v ^ SIGN64) as i64)
        }
        ColumnType::Float => {
            let v = u64::from_be_bytes(read_masked::<8>(cur, mask, "key float")?);
            Datum::Float(
                decode_float(v)
                    .ok_or_else(|| key_err(column, at, "non-canonical float (NaN or -0.0)"))?,
            )
        }
        ColumnType::Decimal => Datum::Decimal(read_decimal(cur, tag, mask, column)?),
        ColumnType::String => {
            let b = read_escaped(cur, mask, column, "key string", buf)?;
            Datum::String(String::from_utf8(b).map_err(|e| {
                key_err(
                    column,
                    at,
                    format!(
                        "invalid UTF-8 at byte {} of the string",
                        e.utf8_error().valid_up_to()
                    ),
                )
            })?)
        }
        ColumnType::Bytes => Datum::Bytes(read_escaped(cur, mask, column, "key bytes", buf)?),
        ColumnType::Bool => match cur.u8("key bool")? ^ mask {
            0 => Datum::Bool(false),
            1 => Datum::Bool(true),
            other => return Err(key_err(column, at, format!("bool byte {other:#04x}"))),
        },
        ColumnType::Date => {
            let v = u32::from_be_bytes(read_masked::<4>(cur, mask, "key date")?);
            Datum::Date((v ^ SIGN32) as i32)
        }
        ColumnType::Timestamp => {
            let v = u64::from_be_bytes(read_masked::<8>(cur, mask, "key timestamp")?);
            Datum::Timestamp((v ^ SIGN64) as i64)
        }
        ColumnType::Uuid => Datum::Uuid(read_masked::<16>(cur, mask, "key uuid")?),
        ColumnType::Enum => Datum::Enum(read_escaped(cur, mask, column, "key enum", buf)?),
        ColumnType::Json => {
            // No tag maps to JSON.
            return Err(key_err(column, tag_at, "JSONB has no key encoding"));
        }
    };
    Ok((d, Some(ty), dir))
}

/// Decodes one key column of type `ty` and direction `dir` at the cursor; `column` is its
/// position, for errors. NULL is accepted for every type.
pub fn decode_key_datum(
    cur: &mut Cursor<'_>,
    column: usize,
    ty: ColumnType,
    dir: Direction,
) -> Result<Datum> {
    decode_datum(cur, column, Some((ty, dir)), Vec::new()).map(|(d, _, _)| d)
}

/// Decodes a whole index key against the index's column types and directions. The input
/// must be exactly one key: trailing bytes give `TrailingBytes { field: "index key" }`.
pub fn decode_index_key(
    bytes: &[u8],
    columns: &[(ColumnType, Direction)],
) -> Result<(u64, u64, Vec<Datum>)> {
    let mut out = Vec::new();
    let (table, index) = decode_index_key_into(bytes, columns, &mut out)?;
    Ok((table, index, out))
}

/// [`decode_index_key`] into `out`, its allocations kept: a caller decoding key after key
/// reuses one vector, and a STRING, BYTES or enum column is decoded into the buffer the
/// key before held in that column. On an error `out` holds the columns decoded before it.
pub fn decode_index_key_into(
    bytes: &[u8],
    columns: &[(ColumnType, Direction)],
    out: &mut Vec<Datum>,
) -> Result<(u64, u64)> {
    let mut cur = Cursor::new(bytes);
    let prefix = decode_ordered_uvarint(&mut cur, "table id")
        .and_then(|table| Ok((table, decode_ordered_uvarint(&mut cur, "index id")?)));
    let (table, index) = match prefix {
        Ok(p) => p,
        Err(e) => {
            out.clear();
            return Err(e);
        }
    };
    for (column, &(ty, dir)) in columns.iter().enumerate() {
        let buf = match out
            .get_mut(column)
            .map(|d| std::mem::replace(d, Datum::Null))
        {
            Some(Datum::String(s)) => s.into_bytes(),
            Some(Datum::Bytes(b) | Datum::Enum(b)) => b,
            _ => Vec::new(),
        };
        match decode_datum(&mut cur, column, Some((ty, dir)), buf) {
            Ok((d, _, _)) => match out.get_mut(column) {
                Some(slot) => *slot = d,
                None => out.push(d),
            },
            Err(e) => {
                out.truncate(column);
                return Err(e);
            }
        }
    }
    out.truncate(columns.len());
    cur.finish("index key")?;
    Ok((table, index))
}

/// Fuzz oracle: decodes `data` as a key with types and directions read from the tags; if
/// that succeeds, decoding again with the inferred schema must give the same datums, and
/// re-encoding must reproduce `data` exactly. Panics (assertion) otherwise.
#[doc(hidden)]
pub fn fuzz_decode_key(data: &[u8]) {
    let mut cur = Cursor::new(data);
    let Ok(table) = decode_ordered_uvarint(&mut cur, "table id") else {
        return;
    };
    let Ok(index) = decode_ordered_uvarint(&mut cur, "index id") else {
        return;
    };
    let mut columns = Vec::new();
    let mut schema = Vec::new();
    while !cur.is_empty() {
        match decode_datum(&mut cur, columns.len(), None, Vec::new()) {
            Ok((d, ty, dir)) => {
                schema.push((ty.unwrap_or(ColumnType::Int), dir));
                columns.push((d, dir));
            }
            Err(_) => return,
        }
    }
    let datums: Vec<Datum> = columns.iter().map(|(d, _)| d.clone()).collect();
    assert_eq!(
        decode_index_key(data, &schema),
        Ok((table, index, datums)),
        "schema-less and typed decoding disagree"
    );
    // Into a vector holding another key's columns (buffers of other types and lengths to
    // reuse), and with one column more or less: the same answer, on the key and on two of
    // its prefixes.
    let mut reused: Vec<Datum> = (0..=schema.len())
        .map(|i| match i % 3 {
            0 => Datum::String("x".repeat(i)),
            1 => Datum::Bytes(vec![7; 40]),
            _ => Datum::Int(1),
        })
        .collect();
    for n in [data.len(), data.len() / 2, data.len().saturating_sub(1)] {
        let short = data.get(..n).unwrap_or_default();
        assert_eq!(
            decode_index_key_into(short, &schema, &mut reused).map(|(t, i)| (t, i, reused.clone())),
            decode_index_key(short, &schema),
            "decoding into a used vector differs (prefix of {n} bytes)"
        );
    }
    let again = encode_index_key(table, index, &columns);
    assert_eq!(
        again.as_deref(),
        Ok(data),
        "re-encoding a decoded key changed its bytes"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_bytes() {
        let enc = |v| {
            let mut b = Vec::new();
            encode_ordered_uvarint(v, &mut b);
            b
        };
        assert_eq!(enc(0), [0x80]);
        assert_eq!(enc(1), [0x81, 1]);
        assert_eq!(enc(255), [0x81, 0xff]);
        assert_eq!(enc(256), [0x82, 1, 0]);
        assert_eq!(
            enc(u64::MAX),
            [0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        for v in [0, 1, 255, 256, u64::MAX] {
            let b = enc(v);
            assert_eq!(decode_ordered_uvarint(&mut Cursor::new(&b), "v"), Ok(v));
        }
        assert!(decode_ordered_uvarint(&mut Cursor::new(&[0x81, 0]), "v").is_err());
        assert!(decode_ordered_uvarint(&mut Cursor::new(&[0x89]), "v").is_err());
    }

    #[test]
    fn float_encoding_is_canonical() {
        assert_eq!(float_key_bits(-0.0), float_key_bits(0.0));
        assert_eq!(float_key_bits(f64::NAN), 0);
        assert!(float_key_bits(f64::NAN) < float_key_bits(f64::NEG_INFINITY));
        assert_eq!(decode_float(float_key_bits(0.0)), Some(0.0));
        assert_eq!(decode_float(!(-0.0f64).to_bits()), None);
        assert_eq!(decode_float(1), None);
    }

    #[test]
    fn fuzz_oracle_accepts_valid_keys() {
        let key = encode_index_key(
            7,
            1,
            &[
                (Datum::Null, Direction::Desc),
                (Datum::String("a\0b".into()), Direction::Desc),
                (Datum::Decimal("-1.5".parse().unwrap()), Direction::Asc),
            ],
        )
        .unwrap();
        fuzz_decode_key(&key);
        fuzz_decode_key(&[]);
        fuzz_decode_key(&[0x80, 0x80, 0x33]);
    }

    #[test]
    fn table_span_is_every_key_of_the_table() {
        assert_eq!(table_span(53), (vec![0x81, 53], vec![0x81, 54]));
        assert_eq!(table_span(255), (vec![0x81, 255], vec![0x82, 1, 0]));
        let (s, e) = table_span(53);
        let mut k = Vec::new();
        encode_table_prefix(53, 7, &mut k);
        k.extend_from_slice(&[0xff; 16]);
        assert!(s.as_slice() <= k.as_slice() && k.as_slice() < e.as_slice());
        let mut next = Vec::new();
        encode_table_prefix(54, 1, &mut next);
        assert!(next.as_slice() >= e.as_slice());
        let (s, e) = table_span(u64::MAX);
        assert_eq!(s, e);
    }
}
