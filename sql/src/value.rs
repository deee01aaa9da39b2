//! SQL literals ⇄ datums: what `INSERT … VALUES` and `WHERE` accept for each column type,
//! and how `SELECT` prints a datum (as `cockroach sql` does).

use vouch_format::keys::{ColumnType, Datum};
use vouch_format::manifest::pb;
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
        ColumnType::Date => Datum::Date(
            time::parse_sql_date(text).ok_or_else(|| bad(lit, t, "expected YYYY-MM-DD"))?,
        ),
        ColumnType::Timestamp => {
            Datum::Timestamp(time::parse_sql_timestamp(text).ok_or_else(|| {
                bad(
                    lit,
                    t,
                    "expected YYYY-MM-DD [HH:MM[:SS[.ffffff]]][Z|±HH[:MM]]",
                )
            })?)
        }
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
        Datum::Date(days) => time::format_sql_date(*days),
        Datum::Timestamp(us) => time::format_sql_timestamp(*us),
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
    }
}
