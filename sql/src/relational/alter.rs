//! `ALTER TABLE [IF EXISTS] t SET (param = value, …)` and `ALTER TABLE [IF EXISTS] t
//! RESET (param, …)`: a table's storage parameters `exclude_data_from_backup` and
//! `gc.ttlseconds` (spec/sql.md). Read by hand (sqlparser reads neither dotted parameter
//! names nor `RESET (…)`); other ALTER TABLE forms are refused by name.

use sqlparser::ast::{Ident, ObjectName};

use super::names::{table_of, unsupported};
use crate::grammar::{tokenize, Token};
use crate::{Error, Output, Result, Session};

/// True for statements this module runs: `ALTER TABLE … SET (` / `RESET (`.
pub(super) fn handles(stmt: &str) -> bool {
    let Ok(t) = tokenize(stmt) else {
        return false;
    };
    let kw =
        |i: usize, w: &str| matches!(t.get(i), Some(Token::Word(x)) if x.eq_ignore_ascii_case(w));
    if !(kw(0, "ALTER") && kw(1, "TABLE")) {
        return false;
    }
    let at = if kw(2, "IF") && kw(3, "EXISTS") { 5 } else { 3 };
    (kw(at, "SET") || kw(at, "RESET")) && t.get(at + 1) == Some(&Token::Punct('('))
}

/// One storage parameter change.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    Exclude(bool),
    GcTtl(Option<u64>),
}

fn invalid(name: &str) -> Error {
    Error::Usage(format!("invalid storage parameter \"{name}\""))
}

fn object_name(tok: &Token) -> Result<ObjectName> {
    let parts: Vec<Ident> = match tok {
        Token::Word(w) => w.split('.').map(Ident::new).collect(),
        Token::Quoted(q) => vec![Ident::with_quote('"', q.as_str())],
        other => {
            return Err(Error::Syntax(format!(
                "at or near \"{other}\": expected a table name"
            )))
        }
    };
    if parts.iter().any(|p| p.value.is_empty()) {
        return Err(Error::Syntax(format!(
            "at or near \"{tok}\": expected a table name"
        )));
    }
    Ok(ObjectName::from(parts))
}

fn bool_value(name: &str, v: &Token) -> Result<bool> {
    let text = match v {
        Token::Word(w) | Token::Str(w) => w.to_ascii_lowercase(),
        _ => String::new(),
    };
    match text.as_str() {
        "true" | "on" => Ok(true),
        "false" | "off" => Ok(false),
        _ => Err(Error::Usage(format!(
            "parameter \"{name}\" requires a Boolean value, not {v}"
        ))),
    }
}

fn ttl_value(name: &str, v: &Token) -> Result<u64> {
    let n = match v {
        Token::Word(w) | Token::Str(w) => w.parse::<u64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n >= 1 => Ok(n),
        _ => Err(Error::Usage(format!(
            "parameter \"{name}\" requires a whole number of seconds of at least 1, not {v}"
        ))),
    }
}

/// The parenthesized list after SET / RESET, as changes.
fn changes(list: &[Token], reset: bool) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    for item in list.split(|t| *t == Token::Punct(',')) {
        let (name, value) = match item {
            [Token::Word(n)] if reset => (n.to_ascii_lowercase(), None),
            [Token::Word(n), Token::Punct('='), v] if !reset => (n.to_ascii_lowercase(), Some(v)),
            _ => {
                let text: Vec<String> = item.iter().map(Token::to_string).collect();
                return Err(Error::Syntax(format!(
                    "at or near \"{}\": expected {}",
                    text.join(" "),
                    if reset {
                        "a storage parameter name"
                    } else {
                        "parameter = value"
                    }
                )));
            }
        };
        out.push(match (name.as_str(), value) {
            ("exclude_data_from_backup", Some(v)) => Change::Exclude(bool_value(&name, v)?),
            ("exclude_data_from_backup", None) => Change::Exclude(false),
            ("gc.ttlseconds", Some(v)) => Change::GcTtl(Some(ttl_value(&name, v)?)),
            ("gc.ttlseconds", None) => Change::GcTtl(None),
            _ => return Err(invalid(&name)),
        });
    }
    Ok(out)
}

/// Runs the statement ([`handles`] said yes).
pub(super) fn execute(s: &Session<'_>, stmt: &str) -> Result<Output> {
    let t = tokenize(stmt)?;
    let t: &[Token] = match t.last() {
        Some(Token::Punct(';')) => &t[..t.len() - 1],
        _ => &t,
    };
    let if_exists = matches!(t.get(2), Some(Token::Word(w)) if w.eq_ignore_ascii_case("IF"));
    let at = if if_exists { 4 } else { 2 };
    let name = t
        .get(at)
        .ok_or_else(|| Error::Syntax("ALTER TABLE: expected a table name".into()))
        .and_then(object_name)?;
    let reset = matches!(t.get(at + 1), Some(Token::Word(w)) if w.eq_ignore_ascii_case("RESET"));
    // `( … )`, checked by `handles`, closes the statement.
    let inner = match t.get(at + 3..) {
        Some([list @ .., Token::Punct(')')]) if !list.contains(&Token::Punct(')')) => list,
        _ => {
            return Err(Error::Syntax(format!(
                "ALTER TABLE … {}: expected ( … ) to end the statement",
                if reset { "RESET" } else { "SET" }
            )))
        }
    };
    let changes = changes(inner, reset)?;
    let d = match table_of(s, &name) {
        Ok((_, d)) => d,
        Err(Error::Cluster(vouch_cluster::Error::UndefinedObject(_))) if if_exists => {
            return Ok(Output::Tag("ALTER TABLE".into()))
        }
        Err(e) => return Err(e),
    };
    if vouch_format::schema::table(&d).is_none() {
        return Err(unsupported(&format!(
            "storage parameters of \"{}\", which is not a table",
            d.name
        )));
    }
    let c = s.cluster();
    for ch in changes {
        match ch {
            Change::Exclude(x) => c.set_exclude_data_from_backup(d.id, x)?,
            Change::GcTtl(Some(n)) => c.set_table_gc_ttl(d.id, n)?,
            Change::GcTtl(None) => c.reset_table_gc_ttl(d.id)?,
        };
    }
    Ok(Output::Tag("ALTER TABLE".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &str) -> Vec<Token> {
        tokenize(s).unwrap()
    }

    #[test]
    fn parameter_lists() {
        assert_eq!(
            changes(
                &list("exclude_data_from_backup = true, gc.ttlseconds = 600, EXCLUDE_DATA_FROM_BACKUP = 'off'"),
                false
            )
            .unwrap(),
            [
                Change::Exclude(true),
                Change::GcTtl(Some(600)),
                Change::Exclude(false)
            ]
        );
        assert_eq!(
            changes(&list("gc.ttlseconds, exclude_data_from_backup"), true).unwrap(),
            [Change::GcTtl(None), Change::Exclude(false)]
        );
        for (l, reset) in [
            ("gc.ttlseconds = 0", false),
            ("gc.ttlseconds = 1.5", false),
            ("exclude_data_from_backup = 2", false),
            ("fillfactor = 50", false),
            ("fillfactor", true),
        ] {
            assert!(
                matches!(changes(&list(l), reset), Err(Error::Usage(_))),
                "{l}"
            );
        }
        for (l, reset) in [
            ("gc.ttlseconds", false),
            ("gc.ttlseconds = -5", false),
            ("gc.ttlseconds = 5", true),
            ("", false),
            ("a = 1 b = 2", false),
        ] {
            assert!(
                matches!(changes(&list(l), reset), Err(Error::Syntax(_))),
                "{l}"
            );
        }
    }

    #[test]
    fn which_statements_are_handled() {
        for s in [
            "ALTER TABLE t SET (exclude_data_from_backup = true)",
            "alter table if exists bank.t reset (gc.ttlseconds)",
            "ALTER TABLE \"T\" SET(gc.ttlseconds = 5);",
        ] {
            assert!(handles(s), "{s}");
        }
        for s in [
            "ALTER TABLE t ADD COLUMN x INT",
            "ALTER TABLE t SET SCHEMA x",
            "ALTER BACKUP SCHEDULE 1 SET LABEL 'x'",
            "ALTER TABLE t CONFIGURE ZONE USING gc.ttlseconds = 5",
        ] {
            assert!(!handles(s), "{s}");
        }
    }
}
