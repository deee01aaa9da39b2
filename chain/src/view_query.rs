//! A restored view's query text follows its database's new name (spec/restore.md §6): with
//! `new_db_name` or `into_db`, a database qualifier naming the view's old database in its
//! query (`d.c`, `d.public.c`) is rewritten to the new name, so SHOW BACKUP SCHEMAS and
//! dumps of the restored cluster print the names the view now depends on.

use std::collections::BTreeMap;

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::ALL_KEYWORDS;
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::{Error, ErrorKind, Result};

/// `query` with the first part of every name of two or more parts renamed by `renames`
/// (old database name → new; an unquoted word matches case-insensitively, a quoted one
/// exactly). Everything else, string literals and comments included, is kept byte for
/// byte. A query that does not tokenize is an error naming `view`.
pub(crate) fn rename_databases(
    view: &str,
    query: &str,
    renames: &BTreeMap<String, String>,
) -> Result<String> {
    if renames.is_empty() {
        return Ok(query.to_string());
    }
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, query)
        .tokenize_with_location()
        .map_err(|e| {
            Error::new(
                ErrorKind::Refused,
                format!("view \"{view}\": its stored query does not read as SQL: {e}"),
            )
        })?;
    // Byte offset of each token's start (the tokenizer counts lines and columns in chars,
    // from 1; whitespace is a token too, so a token ends where the next one starts).
    let mut at: BTreeMap<(u64, u64), usize> = BTreeMap::new();
    let (mut line, mut col) = (1u64, 1u64);
    for (i, ch) in query.char_indices() {
        at.insert((line, col), i);
        if ch == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    at.insert((line, col), query.len());
    let start = |k: usize| -> Option<usize> {
        let t = tokens.get(k)?;
        at.get(&(t.span.start.line, t.span.start.column)).copied()
    };
    let significant =
        |k: usize| !matches!(tokens.get(k).map(|t| &t.token), Some(Token::Whitespace(_)));
    let mut out = String::with_capacity(query.len());
    let mut copied = 0usize;
    for (k, t) in tokens.iter().enumerate() {
        let Token::Word(w) = &t.token else { continue };
        let new = renames.iter().find_map(|(old, new)| {
            let same = match w.quote_style {
                None => w.value.eq_ignore_ascii_case(old),
                Some(_) => w.value == *old,
            };
            same.then_some(new)
        });
        let Some(new) = new else { continue };
        // The first part of a qualified name: a `.` follows, none precedes.
        let next = (k + 1..tokens.len()).find(|&j| significant(j));
        let prev = (0..k).rev().find(|&j| significant(j));
        let followed = next.is_some_and(|j| matches!(tokens[j].token, Token::Period));
        let preceded = prev.is_some_and(|j| matches!(tokens[j].token, Token::Period));
        if !followed || preceded {
            continue;
        }
        let Some(from) = start(k) else { continue };
        let to = start(k + 1).unwrap_or(query.len());
        let Some(before) = query.get(copied..from) else {
            continue;
        };
        out.push_str(before);
        out.push_str(&ident(new));
        copied = to;
    }
    out.push_str(query.get(copied..).unwrap_or_default());
    Ok(out)
}

/// `name` as an identifier: bare when it is a lowercase word that is not a keyword,
/// else double-quoted (`"` doubled).
fn ident(name: &str) -> String {
    let bare = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !ALL_KEYWORDS.contains(&name.to_ascii_uppercase().as_str());
    if bare {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(q: &str, pairs: &[(&str, &str)]) -> String {
        let m = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        rename_databases("v", q, &m).unwrap()
    }

    #[test]
    fn qualifiers_are_renamed_and_nothing_else() {
        let d = [("d", "newdb")];
        assert_eq!(r("SELECT * FROM d.c", &d), "SELECT * FROM newdb.c");
        assert_eq!(
            r("SELECT d.c.x FROM d.public.c WHERE y = 'd.c' -- d.c\n", &d),
            "SELECT newdb.c.x FROM newdb.public.c WHERE y = 'd.c' -- d.c\n"
        );
        // A column or table named like the database, or a later part, stays.
        assert_eq!(r("SELECT d FROM x.d", &d), "SELECT d FROM x.d");
        // Unquoted words match case-insensitively; quoted ones exactly.
        assert_eq!(
            r("SELECT 1 FROM D.c, \"d\".e, \"D\".f", &d),
            "SELECT 1 FROM newdb.c, newdb.e, \"D\".f"
        );
        // New names that are not plain words are quoted; non-ASCII text before is kept.
        assert_eq!(
            r("SELECT 'é' FROM d .c", &[("d", "New DB")]),
            "SELECT 'é' FROM \"New DB\" .c"
        );
        assert_eq!(
            r("SELECT 1 FROM d.c", &[("d", "select")]),
            "SELECT 1 FROM \"select\".c"
        );
        // Two renames at once (a swap) in one pass.
        assert_eq!(
            r("SELECT 1 FROM a.t, b.t", &[("a", "b"), ("b", "a")]),
            "SELECT 1 FROM b.t, a.t"
        );
        assert_eq!(r("SELECT 1 FROM d.c", &[]), "SELECT 1 FROM d.c");
    }

    #[test]
    fn a_query_that_does_not_tokenize_is_refused() {
        let m = [("d".to_string(), "e".to_string())].into_iter().collect();
        let e = rename_databases("v", "SELECT 'unterminated FROM d.c", &m).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Refused);
    }
}
