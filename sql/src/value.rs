//! SQL literals ⇄ datums: what `INSERT … VALUES` and `WHERE` accept for each column type,
//! and how `SELECT` prints a datum (as `cockroach sql` does).

use vouch_format::keys::{ColumnType, Datum};
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_format::time;

use crate::{Error, Result};

/// A literal as written in a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// NULL.
    Null,
    /// A number as typed (`-12`, `3.5`, `1e3`).
    Number(String),
    /// A string.
    Str(String),
    /// TRUE / FALSE.
    Bool(bool),
}

/// The members of an enum type: (label, physical representation).
pub type EnumMembers = [pb::EnumMember];

fn bad(lit: &Literal, ty: &str, why: &str) -> Error {
    let shown = match lit {
        Literal::Null => "NULL".to_string(),
        Literal::Number(n) => n.clone(),
        Literal::Str(s) => format!("'{s}'"),
        Literal::Bool(b) => b.to_string(),
    };
    Error::Usage(format!("could not parse {shown} as type {ty}: {why}"))
}

/// Converts a literal to a datum of type `ty` (`members` for enum columns).
pub fn to_datum(lit: &Literal, ty: ColumnType, members: Option<&EnumMembers>) -> Result<Datum> {
    let text = match lit {
        Literal::Null => return Ok(Datum::Null),
        Literal::Number(n) => n.as_str(),
        Literal::Str(s) => s.as_str(),
        Literal::Bool(b) => {
            return match ty {
                ColumnType::Bool => Ok(Datum::Bool(*b)),
                _ => Err(bad(lit, ty.name(), "a boolean")),
            }
        }
    };
    let t = ty.name();
    Ok(match ty {
        ColumnType::Int => Datum::Int(
            text.trim()
                .parse()
                .map_err(|_| bad(lit, t, "not an integer in range"))?,
        ),
        ColumnType::Float => Datum::Float(
            text.trim()
                .parse()
                .map_err(|_| bad(lit, t, "not a number"))?,
        ),
        ColumnType::Decimal => Datum::Decimal(
            text.trim()
                .parse()
                .map_err(|e: vouch_format::Error| bad(lit, t, &e.to_string()))?,
        ),
        ColumnType::String => Datum::String(text.to_string()),
        ColumnType::Bytes => Datum::Bytes(match text.strip_prefix("\\x") {
            Some(h) => hex::decode(h).map_err(|e| bad(lit, t, &e.to_string()))?,
            None => text.as_bytes().to_vec(),
        }),
        ColumnType::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "on" | "1" => Datum::Bool(true),
            "false" | "f" | "no" | "off" | "0" => Datum::Bool(false),
            _ => return Err(bad(lit, t, "not a boolean")),
        },
        ColumnType::Date => {
            Datum::Date(parse_date(text).ok_or_else(|| bad(lit, t, "expected YYYY-MM-DD"))?)
        }
        ColumnType::Timestamp => Datum::Timestamp(parse_timestamp(text).ok_or_else(|| {
            bad(
                lit,
                t,
                "expected YYYY-MM-DD [HH:MM[:SS[.ffffff]]][Z|±HH[:MM]]",
            )
        })?),
        ColumnType::Uuid => {
            let h: String = text.chars().filter(|c| *c != '-').collect();
            let b = hex::decode(&h).map_err(|e| bad(lit, t, &e.to_string()))?;
            Datum::Uuid(
                b.try_into()
                    .map_err(|_| bad(lit, t, "a UUID has 32 hex digits"))?,
            )
        }
        ColumnType::Json => {
            Datum::Json(serde_json::from_str(text).map_err(|e| bad(lit, "JSONB", &e.to_string()))?)
        }
        ColumnType::Enum => {
            let m = members
                .unwrap_or_default()
                .iter()
                .find(|m| m.label == text)
                .ok_or_else(|| Error::Usage(format!("invalid input value for enum: \"{text}\"")))?;
            Datum::Enum(m.physical.clone())
        }
    })
}

fn parse_date(s: &str) -> Option<i32> {
    let s = s.trim();
    let date = s.get(..10).unwrap_or(s);
    let mut it = date.splitn(3, '-');
    let y: i32 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 || d > time::days_in_month(i64::from(y), m) {
        return None;
    }
    i32::try_from(time::days_from_civil(y, m, d)).ok()
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Digits only, parsed as a number below `limit`.
fn number_below(s: &str, limit: i64) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok().filter(|n| *n < limit)
}

/// A `TIMESTAMP` literal — `YYYY-MM-DD`, then optionally ` HH:MM[:SS[.fraction]]` (or
/// `T` as the separator), then optionally `Z` or a `±HH[:MM]` offset — as microseconds since
/// 1970-01-01 00:00:00 UTC, negative before it. Fractions beyond microseconds are
/// truncated.
fn parse_timestamp(text: &str) -> Option<i64> {
    let s = text.trim();
    let days = i64::from(parse_date(s.get(..10)?)?);
    if s.get(10..11)
        .is_some_and(|c| c.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut rest = s.get(10..)?;
    let mut micros = 0i64;
    if let Some(r) = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('T')) {
        let end = r.find(['+', '-', 'Z', 'z', ' ']).unwrap_or(r.len());
        let (clock, tz) = r.split_at(end);
        let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
        let parts: Vec<&str> = hms.split(':').collect();
        let (h, m, sec) = match parts.as_slice() {
            [h, m] => (*h, *m, "0"),
            [h, m, sec] => (*h, *m, *sec),
            _ => return None,
        };
        let secs = (number_below(h, 24)? * 60 + number_below(m, 60)?) * 60 + number_below(sec, 60)?;
        let frac_us = if frac.is_empty() {
            if clock.contains('.') {
                return None;
            }
            0
        } else {
            if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let six: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
            six.parse::<i64>().ok()?
        };
        micros = secs * 1_000_000 + frac_us;
        rest = tz.trim_start();
    }
    let offset_us = match rest {
        "" | "Z" | "z" => 0,
        r => {
            let sign = match r.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let body = r.get(1..)?;
            let (h, m) = match body.split_once(':') {
                Some((h, m)) => (h, m),
                None if body.len() == 4 => (body.get(..2)?, body.get(2..)?),
                None => (body, "0"),
            };
            sign * (number_below(h, 16)? * 60 + number_below(m, 60)?) * 60_000_000
        }
    };
    days.checked_mul(MICROS_PER_DAY)?
        .checked_add(micros)?
        .checked_sub(offset_us)
}

/// A `TIMESTAMP` before 1970 as `cockroach sql` prints one (the form of
/// [`time::format_sql`]).
fn format_timestamp_before_1970(us: i64) -> String {
    let days = us.div_euclid(MICROS_PER_DAY);
    let rem = us.rem_euclid(MICROS_PER_DAY);
    let Ok(days) = i32::try_from(days) else {
        return format!("{us} µs from 1970");
    };
    let (y, mo, d) = time::civil_from_days(days);
    let secs = rem / 1_000_000;
    let mut out = format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    let frac = rem % 1_000_000;
    if frac != 0 {
        out.push('.');
        out.push_str(format!("{frac:06}").trim_end_matches('0'));
    }
    out
}

/// A datum as `cockroach sql` prints it (`None` for NULL).
pub fn to_text(d: &Datum, members: Option<&EnumMembers>) -> Option<String> {
    Some(match d {
        Datum::Null => return None,
        Datum::Int(i) => i.to_string(),
        Datum::Float(f) => f.to_string(),
        Datum::Decimal(x) => x.to_string(),
        Datum::String(s) => s.clone(),
        Datum::Bytes(b) => format!("\\x{}", hex::encode(b)),
        Datum::Bool(b) => b.to_string(),
        Datum::Date(days) => {
            let (y, m, d) = time::civil_from_days(*days);
            format!("{y:04}-{m:02}-{d:02}")
        }
        Datum::Timestamp(us) => match u64::try_from(*us) {
            Ok(us) => time::format_sql(Timestamp::new(us.saturating_mul(1_000), 0)),
            Err(_) => format_timestamp_before_1970(*us),
        },
        Datum::Uuid(u) => {
            let h = hex::encode(u);
            format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            )
        }
        Datum::Json(v) => v.to_string(),
        Datum::Enum(p) => members
            .and_then(|ms| ms.iter().find(|m| &m.physical == p))
            .map_or_else(|| format!("\\x{}", hex::encode(p)), |m| m.label.clone()),
    })
}

/// A datum as a SQL literal that [`to_datum`] reads back (for dumps and messages).
pub fn to_literal(d: &Datum, members: Option<&EnumMembers>) -> String {
    match d {
        Datum::Null => "NULL".into(),
        Datum::Int(_) | Datum::Float(_) | Datum::Decimal(_) | Datum::Bool(_) => {
            to_text(d, members).unwrap_or_default()
        }
        _ => format!(
            "'{}'",
            to_text(d, members).unwrap_or_default().replace('\'', "''")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(ty: ColumnType, lit: Literal, text: &str) {
        let d = to_datum(&lit, ty, None).unwrap();
        assert_eq!(to_text(&d, None).as_deref(), Some(text), "{ty:?} {lit:?}");
        // What is printed reads back to the same datum.
        let back = to_datum(&Literal::Str(text.to_string()), ty, None).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn literals_round_trip_through_their_printed_form() {
        round(ColumnType::Int, Literal::Number("-42".into()), "-42");
        round(ColumnType::Float, Literal::Number("2.5".into()), "2.5");
        round(
            ColumnType::Decimal,
            Literal::Number("12.340".into()),
            "12.34",
        );
        round(ColumnType::String, Literal::Str("it's".into()), "it's");
        round(ColumnType::Bytes, Literal::Str("\\x00ff".into()), "\\x00ff");
        round(ColumnType::Bool, Literal::Str("t".into()), "true");
        round(
            ColumnType::Date,
            Literal::Str("2024-02-29".into()),
            "2024-02-29",
        );
        round(
            ColumnType::Timestamp,
            Literal::Str("2017-06-09 16:13:55.571516+00:00".into()),
            "2017-06-09 16:13:55.571516",
        );
        round(
            ColumnType::Uuid,
            Literal::Str("AAAAAAAA-0000-1111-2222-333344445555".into()),
            "aaaaaaaa-0000-1111-2222-333344445555",
        );
        round(
            ColumnType::Json,
            Literal::Str("{\"a\": [1, 2]}".into()),
            "{\"a\":[1,2]}",
        );
        assert_eq!(
            to_datum(&Literal::Bool(true), ColumnType::Bool, None).unwrap(),
            Datum::Bool(true)
        );
        assert_eq!(
            to_datum(&Literal::Null, ColumnType::Int, None).unwrap(),
            Datum::Null
        );
    }

    #[test]
    fn bad_literals_say_what_and_which_type() {
        let e = |lit: Literal, ty| to_datum(&lit, ty, None).unwrap_err().to_string();
        assert_eq!(
            e(Literal::Str("abc".into()), ColumnType::Int),
            "could not parse 'abc' as type INT: not an integer in range"
        );
        assert_eq!(
            e(Literal::Str("2023-02-29".into()), ColumnType::Date),
            "could not parse '2023-02-29' as type DATE: expected YYYY-MM-DD"
        );
        assert_eq!(
            e(Literal::Bool(true), ColumnType::Int),
            "could not parse true as type INT: a boolean"
        );
        assert_eq!(
            e(Literal::Str("ab".into()), ColumnType::Uuid),
            "could not parse 'ab' as type UUID: a UUID has 32 hex digits"
        );
        let members = vec![pb::EnumMember {
            label: "bike".into(),
            physical: vec![0x40],
        }];
        assert_eq!(
            to_datum(
                &Literal::Str("bike".into()),
                ColumnType::Enum,
                Some(&members)
            )
            .unwrap(),
            Datum::Enum(vec![0x40])
        );
        assert_eq!(
            to_datum(
                &Literal::Str("car".into()),
                ColumnType::Enum,
                Some(&members)
            )
            .unwrap_err()
            .to_string(),
            "invalid input value for enum: \"car\""
        );
    }

    #[test]
    fn timestamps_before_1970_and_offsets() {
        round(
            ColumnType::Timestamp,
            Literal::Str("1969-12-31 23:59:59.5".into()),
            "1969-12-31 23:59:59.5",
        );
        round(
            ColumnType::Timestamp,
            Literal::Str("1900-01-01 00:00:00".into()),
            "1900-01-01 00:00:00",
        );
        assert_eq!(parse_timestamp("1969-12-31 23:59:59.5"), Some(-500_000));
        assert_eq!(parse_timestamp("1970-01-01"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(parse_timestamp("1970-01-01 02:00:00+02:00"), Some(0));
        assert_eq!(
            parse_timestamp("1970-01-01 00:00:00-0130"),
            Some(5_400_000_000)
        );
        assert_eq!(
            parse_timestamp("1970-01-01 00:00:00.1234569"),
            Some(123_456)
        );
        for bad in [
            "1970-01-01 24:00:00",
            "1970-01-01 00:60",
            "1970-01-01 00:00:00.",
            "1970-01-01 00:00:00.1234567890",
            "1970-01-01 00:00:00 +25:00",
            "1970-01-011",
            "1970-13-01",
            "-1h",
            "",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
        // After 1970 the same instants as the AS OF SYSTEM TIME parser of `format`.
        for text in [
            "2017-06-09 16:13:55.571516+00:00",
            "2024-02-29 23:59:59.999999",
            "2000-01-01 00:00:00",
        ] {
            let want = time::parse_as_of(text, Timestamp::MAX).unwrap().wall / 1_000;
            assert_eq!(
                parse_timestamp(text),
                Some(i64::try_from(want).unwrap()),
                "{text}"
            );
        }
    }
}
