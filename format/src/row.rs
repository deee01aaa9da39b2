//! Row values: the non-key columns of a table row, self-describing and typed.
//!
//! ```text
//! version(1) { column-id-delta(varint) type-tag(1) payload }*
//! ```
//!
//! NULL columns are omitted. Column ids strictly increase; the first delta is from 0.
//! Every varint is LEB128 in its minimal form, so decoding then re-encoding reproduces the
//! input exactly ([`fuzz_decode_row`] checks this). The layout of every byte is in
//! `spec/rows.md`.
//!
//! Row values have no checksum of their own: the MVCC value checksum (CRC32C over key and
//! value) and the SST block checksums cover them.

use crate::cursor::{put_varint64, Cursor};
use crate::decimal::{Decimal, MAX_DIGITS};
use crate::error::{Error, Result};
use crate::keys::{ColumnType, Datum};

/// The first byte of every row value written by this version.
pub const ROW_ENCODING_VERSION: u8 = 1;
/// Longest STRING, BYTES, JSONB or enum payload in a row value (64 MiB).
pub const MAX_ROW_VALUE_BYTES: u64 = 64 << 20;
/// Deepest nesting of JSON arrays and objects in a row value (serde_json's parser itself
/// stops at 127).
pub const MAX_JSON_DEPTH: usize = 100;

/// INT: zigzag varint.
pub const ROW_TAG_INT: u8 = 0x01;
/// FLOAT: 8 bytes, the IEEE-754 bits little-endian (exact: NaN payloads and -0.0 kept).
pub const ROW_TAG_FLOAT: u8 = 0x02;
/// DECIMAL: sign byte, zigzag varint exponent, length-prefixed ASCII digits.
pub const ROW_TAG_DECIMAL: u8 = 0x03;
/// STRING: length-prefixed UTF-8.
pub const ROW_TAG_STRING: u8 = 0x04;
/// BYTES: length-prefixed.
pub const ROW_TAG_BYTES: u8 = 0x05;
/// BOOL false (no payload).
pub const ROW_TAG_FALSE: u8 = 0x06;
/// BOOL true (no payload).
pub const ROW_TAG_TRUE: u8 = 0x07;
/// DATE: zigzag varint days since 1970-01-01.
pub const ROW_TAG_DATE: u8 = 0x08;
/// TIMESTAMP: zigzag varint microseconds since the epoch.
pub const ROW_TAG_TIMESTAMP: u8 = 0x09;
/// UUID: 16 bytes.
pub const ROW_TAG_UUID: u8 = 0x0a;
/// JSONB: length-prefixed canonical JSON text (no whitespace, object keys sorted).
pub const ROW_TAG_JSON: u8 = 0x0b;
/// Enum: length-prefixed physical representation.
pub const ROW_TAG_ENUM: u8 = 0x0c;

/// A table column as [`decode_row_checked`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ColumnSpec {
    /// The column id.
    pub id: u32,
    /// The column type.
    pub ty: ColumnType,
    /// Whether the column may be NULL (absent from the row value).
    pub nullable: bool,
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

fn col_err(column_id: u32, offset: u64, reason: impl Into<String>) -> Error {
    Error::RowColumn {
        column_id,
        offset,
        reason: reason.into(),
    }
}

// ---- encoding -------------------------------------------------------------------------

fn put_bytes_checked(out: &mut Vec<u8>, b: &[u8], field: &'static str) -> Result<()> {
    if b.len() as u64 > MAX_ROW_VALUE_BYTES {
        return Err(Error::Limit {
            field,
            offset: out.len() as u64,
            value: b.len() as u64,
            limit: MAX_ROW_VALUE_BYTES,
        });
    }
    put_varint64(out, b.len() as u64);
    out.extend_from_slice(b);
    Ok(())
}

/// Canonical JSON text of a value: no whitespace, object keys sorted bytewise (whatever
/// the map type's own order, so the format does not depend on serde_json's
/// `preserve_order` feature), scalars as `serde_json` writes them, at most
/// [`MAX_JSON_DEPTH`] nested arrays and objects.
pub(crate) fn json_text(v: &serde_json::Value) -> std::result::Result<String, String> {
    let mut out = String::new();
    write_json(v, 0, &mut out)?;
    Ok(out)
}

fn write_json(
    v: &serde_json::Value,
    depth: usize,
    out: &mut String,
) -> std::result::Result<(), String> {
    use serde_json::Value;
    let too_deep = || format!("JSON nested deeper than {MAX_JSON_DEPTH} levels");
    match v {
        Value::Array(items) => {
            if depth >= MAX_JSON_DEPTH {
                return Err(too_deep());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, depth + 1, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            if depth >= MAX_JSON_DEPTH {
                return Err(too_deep());
            }
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).map_err(|e| e.to_string())?);
                out.push(':');
                write_json(item, depth + 1, out)?;
            }
            out.push('}');
        }
        leaf => out.push_str(&serde_json::to_string(leaf).map_err(|e| e.to_string())?),
    }
    Ok(())
}

/// Encodes a row value from `(column id, datum)` pairs in strictly increasing id order.
/// NULL datums are skipped (but their ids still count for the order check). Errors:
/// `RowColumnOrder` for ids out of order, `Limit` for payloads over
/// [`MAX_ROW_VALUE_BYTES`].
pub fn encode_row(columns: &[(u32, Datum)]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_row_into(columns.iter().map(|(id, d)| (*id, d)), &mut out)?;
    Ok(out)
}

/// [`encode_row`] of borrowed columns into `out` (cleared first, its allocation kept): a
/// caller encoding row after row reuses one buffer.
pub fn encode_row_into<'d>(
    columns: impl IntoIterator<Item = (u32, &'d Datum)>,
    out: &mut Vec<u8>,
) -> Result<()> {
    out.clear();
    out.push(ROW_ENCODING_VERSION);
    let mut previous: Option<u32> = None;
    let mut last_written = 0u32;
    for (position, (id, d)) in columns.into_iter().enumerate() {
        if let Some(p) = previous {
            if id <= p {
                return Err(Error::RowColumnOrder {
                    position,
                    previous: p,
                    column_id: id,
                });
            }
        }
        previous = Some(id);
        if matches!(d, Datum::Null) {
            continue;
        }
        put_varint64(out, u64::from(id.saturating_sub(last_written)));
        last_written = id;
        match d {
            Datum::Null => {}
            Datum::Int(v) => {
                out.push(ROW_TAG_INT);
                put_varint64(out, zigzag(*v));
            }
            Datum::Float(f) => {
                out.push(ROW_TAG_FLOAT);
                out.extend_from_slice(&f.to_bits().to_le_bytes());
            }
            Datum::Decimal(x) => {
                out.push(ROW_TAG_DECIMAL);
                out.push(u8::from(x.is_negative()));
                put_varint64(out, zigzag(i64::from(x.exponent())));
                put_varint64(out, x.digits().len() as u64);
                out.extend_from_slice(x.digits());
            }
            Datum::String(s) => {
                out.push(ROW_TAG_STRING);
                put_bytes_checked(out, s.as_bytes(), "row string")?;
            }
            Datum::Bytes(b) => {
                out.push(ROW_TAG_BYTES);
                put_bytes_checked(out, b, "row bytes")?;
            }
            Datum::Bool(b) => out.push(if *b { ROW_TAG_TRUE } else { ROW_TAG_FALSE }),
            Datum::Date(v) => {
                out.push(ROW_TAG_DATE);
                put_varint64(out, zigzag(i64::from(*v)));
            }
            Datum::Timestamp(v) => {
                out.push(ROW_TAG_TIMESTAMP);
                put_varint64(out, zigzag(*v));
            }
            Datum::Uuid(u) => {
                out.push(ROW_TAG_UUID);
                out.extend_from_slice(u);
            }
            Datum::Json(v) => {
                out.push(ROW_TAG_JSON);
                let text = json_text(v).map_err(|reason| col_err(id, out.len() as u64, reason))?;
                put_bytes_checked(out, text.as_bytes(), "row json")?;
            }
            Datum::Enum(b) => {
                out.push(ROW_TAG_ENUM);
                put_bytes_checked(out, b, "row enum")?;
            }
        }
    }
    Ok(())
}

// ---- decoding -------------------------------------------------------------------------

/// A column value of a row, as decoded: STRING, BYTES, DECIMAL, JSONB and enum values borrowed
/// from the row's bytes (checking a row allocates nothing for them), every other type as
/// its [`Datum`].
#[derive(Debug, Clone, PartialEq)]
pub enum DatumRef<'a> {
    /// STRING (UTF-8 checked).
    String(&'a str),
    /// BYTES.
    Bytes(&'a [u8]),
    /// A user-defined enum value, by its physical representation.
    Enum(&'a [u8]),
    /// JSONB, its canonical text checked.
    Json(&'a str),
    /// DECIMAL, its canonical parts checked: the sign, the ASCII digits (first and last
    /// non-zero; none for zero) and the power of ten of the last digit.
    Decimal {
        /// Below zero.
        negative: bool,
        /// The digits.
        digits: &'a [u8],
        /// The last digit's power of ten.
        exponent: i32,
    },
    /// Any other type (never NULL: a NULL column is absent from the row).
    Owned(Datum),
}

impl DatumRef<'_> {
    /// The value's type.
    pub fn column_type(&self) -> Option<ColumnType> {
        match self {
            DatumRef::String(_) => Some(ColumnType::String),
            DatumRef::Bytes(_) => Some(ColumnType::Bytes),
            DatumRef::Enum(_) => Some(ColumnType::Enum),
            DatumRef::Decimal { .. } => Some(ColumnType::Decimal),
            DatumRef::Json(_) => Some(ColumnType::Json),
            DatumRef::Owned(d) => d.column_type(),
        }
    }

    /// The SQL name of the value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        self.column_type().map_or("NULL", ColumnType::name)
    }

    /// The value as an owned [`Datum`].
    pub fn into_owned(self) -> Datum {
        match self {
            DatumRef::String(s) => Datum::String(s.to_string()),
            DatumRef::Bytes(b) => Datum::Bytes(b.to_vec()),
            DatumRef::Enum(b) => Datum::Enum(b.to_vec()),
            DatumRef::Decimal {
                negative,
                digits,
                exponent,
            } => Datum::Decimal(Decimal::from_checked(negative, digits, exponent)),
            // Checked text parses (its check parsed it); NULL were it ever not to.
            DatumRef::Json(text) => {
                Datum::Json(serde_json::from_str(text).unwrap_or(serde_json::Value::Null))
            }
            DatumRef::Owned(d) => d,
        }
    }

    /// Sets `slot` to this value ([`DatumRef::into_owned`]), reusing `slot`'s allocation
    /// when it holds a value of the same type: a caller keeping a row's values row after
    /// row allocates nothing once its slots are warm.
    pub fn assign_to(self, slot: &mut Datum) {
        match (self, slot) {
            (DatumRef::String(s), Datum::String(o)) => {
                o.clear();
                o.push_str(s);
            }
            (DatumRef::Bytes(b), Datum::Bytes(o)) | (DatumRef::Enum(b), Datum::Enum(o)) => {
                o.clear();
                o.extend_from_slice(b);
            }
            (
                DatumRef::Decimal {
                    negative,
                    digits,
                    exponent,
                },
                Datum::Decimal(x),
            ) => x.set_checked(negative, digits, exponent),
            (d, slot) => *slot = d.into_owned(),
        }
    }
}

/// Reads one column: id delta, tag, payload. Returns the id and the value.
fn decode_column<'a>(cur: &mut Cursor<'a>, previous: Option<u32>) -> Result<(u32, DatumRef<'a>)> {
    let at = cur.offset();
    let delta = cur.varint64_minimal("row column id delta")?;
    if previous.is_some() && delta == 0 {
        return Err(Error::Invalid {
            field: "row column id delta",
            offset: at,
            reason: "delta 0: column ids must strictly increase".to_string(),
        });
    }
    let id = u64::from(previous.unwrap_or(0))
        .checked_add(delta)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| Error::Invalid {
            field: "row column id delta",
            offset: at,
            reason: format!(
                "column id {:?} + {delta} overflows u32",
                previous.unwrap_or(0)
            ),
        })?;
    let tag_at = cur.offset();
    let tag = cur.u8("row column tag")?;
    let at = cur.offset();
    let owned = |d: Datum| DatumRef::Owned(d);
    let d = match tag {
        ROW_TAG_INT => owned(Datum::Int(unzigzag(cur.varint64_minimal("row int")?))),
        ROW_TAG_FLOAT => owned(Datum::Float(f64::from_bits(cur.u64_le("row float")?))),
        ROW_TAG_DECIMAL => {
            let negative = match cur.u8("row decimal sign")? {
                0 => false,
                1 => true,
                other => return Err(col_err(id, at, format!("decimal sign byte {other:#04x}"))),
            };
            let exponent = unzigzag(cur.varint64_minimal("row decimal exponent")?);
            let digits = cur.length_prefixed("row decimal digits", MAX_DIGITS as u64)?;
            let exponent = Decimal::check_parts_only(negative, digits, exponent)
                .map_err(|reason| col_err(id, at, format!("bad decimal: {reason}")))?;
            DatumRef::Decimal {
                negative,
                digits,
                exponent,
            }
        }
        ROW_TAG_STRING => {
            let b = cur.length_prefixed("row string", MAX_ROW_VALUE_BYTES)?;
            // SIMD validation (the same answer as `std::str::from_utf8`, error position
            // included): a row's long strings were a visible share of a full verify.
            let s = simdutf8::compat::from_utf8(b).map_err(|e| {
                col_err(
                    id,
                    at,
                    format!("invalid UTF-8 at byte {} of the string", e.valid_up_to()),
                )
            })?;
            DatumRef::String(s)
        }
        ROW_TAG_BYTES => DatumRef::Bytes(cur.length_prefixed("row bytes", MAX_ROW_VALUE_BYTES)?),
        ROW_TAG_FALSE => owned(Datum::Bool(false)),
        ROW_TAG_TRUE => owned(Datum::Bool(true)),
        ROW_TAG_DATE => {
            let v = unzigzag(cur.varint64_minimal("row date")?);
            owned(Datum::Date(i32::try_from(v).map_err(|_| {
                col_err(id, at, format!("date {v} out of range"))
            })?))
        }
        ROW_TAG_TIMESTAMP => owned(Datum::Timestamp(unzigzag(
            cur.varint64_minimal("row timestamp")?,
        ))),
        ROW_TAG_UUID => owned(Datum::Uuid(cur.take_array::<16>("row uuid")?)),
        ROW_TAG_JSON => {
            let b = cur.length_prefixed("row json", MAX_ROW_VALUE_BYTES)?;
            let text = std::str::from_utf8(b)
                .map_err(|e| col_err(id, at, format!("JSON is not UTF-8: {e}")))?;
            // Rejects whitespace, unsorted or duplicate keys, and numbers not written
            // the way serde_json writes them, so each value has exactly one encoding
            // (checked as it is parsed: nothing built, nothing allocated).
            crate::json::check_canonical(text).map_err(|p| col_err(id, at, p.to_string()))?;
            DatumRef::Json(text)
        }
        ROW_TAG_ENUM => DatumRef::Enum(cur.length_prefixed("row enum", MAX_ROW_VALUE_BYTES)?),
        other => {
            return Err(col_err(
                id,
                tag_at,
                format!("unknown type tag {other:#04x}"),
            ))
        }
    };
    Ok((id, d))
}

fn check_version(cur: &mut Cursor<'_>) -> Result<()> {
    let v = cur.u8("row encoding version")?;
    if v != ROW_ENCODING_VERSION {
        return Err(Error::Invalid {
            field: "row encoding version",
            offset: 0,
            reason: format!("version {v}, expected {ROW_ENCODING_VERSION}"),
        });
    }
    Ok(())
}

/// Decodes a row value without a schema: the `(column id, datum)` pairs of its non-NULL
/// columns in id order.
pub fn decode_row(bytes: &[u8]) -> Result<Vec<(u32, Datum)>> {
    let mut cur = Cursor::new(bytes);
    check_version(&mut cur)?;
    let mut out: Vec<(u32, Datum)> = Vec::new();
    while !cur.is_empty() {
        let previous = out.last().map(|(id, _)| *id);
        let (id, d) = decode_column(&mut cur, previous)?;
        out.push((id, d.into_owned()));
    }
    Ok(out)
}

/// Decodes a row value against the table's non-key columns: a column id not in `columns`
/// or a value of the wrong type is `RowColumn` (with the column's offset), an absent
/// non-nullable column is `RowMissingColumn` (the first such in `columns` order).
pub fn decode_row_checked(bytes: &[u8], columns: &[ColumnSpec]) -> Result<Vec<(u32, Datum)>> {
    let mut out: Vec<(u32, Datum)> = Vec::new();
    for_each_column_checked(bytes, columns, |id, d| out.push((id, d.into_owned())))?;
    Ok(out)
}

/// The checks of [`decode_row_checked`], each column's value shown to `f` (in id order)
/// as it is decoded, borrowed from `bytes`: nothing is allocated per column.
pub fn for_each_column_checked<'a>(
    bytes: &'a [u8],
    columns: &[ColumnSpec],
    mut f: impl FnMut(u32, DatumRef<'a>),
) -> Result<()> {
    let mut cur = Cursor::new(bytes);
    check_version(&mut cur)?;
    let mut previous = None;
    let mut required_seen = 0usize;
    while !cur.is_empty() {
        let at = cur.offset();
        let (id, d) = decode_column(&mut cur, previous)?;
        let Some(spec) = columns.iter().find(|c| c.id == id) else {
            return Err(col_err(id, at, "unknown column id"));
        };
        if d.column_type() != Some(spec.ty) {
            return Err(col_err(
                id,
                at,
                format!("{} value in a {} column", d.type_name(), spec.ty.name()),
            ));
        }
        if !spec.nullable {
            required_seen += 1;
        }
        previous = Some(id);
        f(id, d);
    }
    let required = columns.iter().filter(|c| !c.nullable);
    if required_seen != required.clone().count() {
        // Column ids strictly increase, so each required column was counted at most once
        // (`columns` names each id once): one is absent. Which, from the ids present.
        let present = decode_row(bytes)?;
        for spec in required {
            if present
                .binary_search_by_key(&spec.id, |(id, _)| *id)
                .is_err()
            {
                return Err(Error::RowMissingColumn { column_id: spec.id });
            }
        }
    }
    Ok(())
}

/// Checks a row value against the table's non-key columns, as [`decode_row_checked`]
/// does, allocating nothing.
pub fn check_row(bytes: &[u8], columns: &[ColumnSpec]) -> Result<()> {
    for_each_column_checked(bytes, columns, |_, _| {})
}

/// Fuzz oracle: if `data` decodes as a row value, re-encoding must reproduce it exactly and
/// the checked decoder (with the decoded columns as an all-nullable schema) must agree.
/// Panics (assertion) otherwise.
#[doc(hidden)]
pub fn fuzz_decode_row(data: &[u8]) {
    // The allocation-free check and the decoder agree on every input, error included.
    let col = |id, ty, nullable| ColumnSpec { id, ty, nullable };
    let fixed = [
        col(1, ColumnType::Int, false),
        col(2, ColumnType::String, true),
        col(4, ColumnType::Bytes, false),
    ];
    assert_eq!(
        check_row(data, &fixed),
        decode_row_checked(data, &fixed).map(|_| ()),
        "check_row and decode_row_checked disagree"
    );
    let Ok(row) = decode_row(data) else {
        return;
    };
    let again = encode_row(&row);
    assert_eq!(
        again.as_deref(),
        Ok(data),
        "re-encoding a decoded row changed its bytes"
    );
    let schema: Vec<ColumnSpec> = row
        .iter()
        .filter_map(|(id, d)| {
            d.column_type().map(|ty| ColumnSpec {
                id: *id,
                ty,
                nullable: true,
            })
        })
        .collect();
    assert_eq!(
        decode_row_checked(data, &schema),
        Ok(row.clone()),
        "schema-less and checked row decoding disagree"
    );
    // Every column required: the same answer from the check.
    let required: Vec<ColumnSpec> = schema
        .iter()
        .map(|c| ColumnSpec {
            nullable: false,
            ..*c
        })
        .collect();
    assert_eq!(check_row(data, &required), Ok(()));
    let mut shown = Vec::new();
    let r = for_each_column_checked(data, &required, |id, d| shown.push((id, d.into_owned())));
    assert_eq!(
        (r, shown),
        (Ok(()), row),
        "for_each_column_checked shows other columns"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_round_trips() {
        for v in [0i64, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn string_columns_are_valid_utf8_exactly_as_std_says() {
        // Valid text of every width, then every invalid sequence kind (stray continuation,
        // overlong, surrogate, above U+10FFFF, truncated) at the start, middle and end of
        // strings short and long (the SIMD path works on 64-byte chunks).
        let mut cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            "plain ascii".into(),
            "\u{e9}t\u{e9} \u{65e5}\u{672c} \u{1f600}".into(),
        ];
        let bad: [&[u8]; 7] = [
            &[0x80],
            &[0xc0, 0x80],
            &[0xed, 0xa0, 0x80],
            &[0xf4, 0x90, 0x80, 0x80],
            &[0xe6, 0x97],
            &[0xff],
            &[0xf0, 0x9f, 0x98],
        ];
        for len in [0usize, 10, 63, 64, 65, 1000] {
            let text = "x\u{e9}".repeat(len / 3 + 1);
            let base = text.as_bytes().get(..len).unwrap_or_default().to_vec();
            cases.push(base.clone());
            for b in bad {
                for at in [0, len / 2, len] {
                    let mut c = base.clone();
                    c.splice(at..at, b.iter().copied());
                    cases.push(c);
                }
            }
        }
        for c in cases {
            // The row `[column 1: STRING c]`: a row of a valid string that long, its
            // bytes then replaced.
            let placeholder = "a".repeat(c.len());
            let mut row = encode_row(&[(1, Datum::String(placeholder))]).unwrap();
            let at = row.len() - c.len();
            row[at..].copy_from_slice(&c);
            let got = decode_row(&row);
            match std::str::from_utf8(&c) {
                Ok(s) => assert_eq!(got, Ok(vec![(1, Datum::String(s.to_string()))])),
                Err(_) => assert!(
                    matches!(got, Err(Error::RowColumn { column_id: 1, .. })),
                    "{c:?}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn non_minimal_varint_rejected() {
        // Column id delta 1 written as 0x81 0x00.
        assert_eq!(
            decode_row(&[1, 0x81, 0x00, ROW_TAG_TRUE]),
            Err(Error::Varint {
                field: "row column id delta",
                offset: 1
            })
        );
        fuzz_decode_row(&[1, 0x81, 0x00, ROW_TAG_TRUE]);
        fuzz_decode_row(&[1, 0x01, ROW_TAG_TRUE]);
    }
}
