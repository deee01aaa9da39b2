//! Splitting a script into statements at `;` outside quotes and comments.

use crate::{Error, Result};

/// The statements of `sql`, trimmed, without their `;`; empty statements and `--` comments
/// dropped.
pub fn split_statements(sql: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' | '"' => {
                cur.push(c);
                let mut closed = false;
                for (_, d) in chars.by_ref() {
                    cur.push(d);
                    if d == c {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return Err(Error::Syntax(format!(
                        "unterminated {} starting at offset {i}",
                        if c == '\'' { "string" } else { "quoted name" }
                    )));
                }
            }
            '-' if matches!(chars.peek(), Some((_, '-'))) => {
                for (_, d) in chars.by_ref() {
                    if d == '\n' {
                        cur.push('\n');
                        break;
                    }
                }
            }
            ';' => {
                let s = cur.trim();
                if !s.is_empty() {
                    out.push(s.to_string());
                }
                cur.clear();
            }
            _ => cur.push(c),
        }
    }
    let s = cur.trim();
    if !s.is_empty() {
        out.push(s.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_outside_quotes_and_comments() {
        assert_eq!(
            split_statements(
                "INSERT INTO t VALUES ('a;b', 'it''s'); -- note; here\nSELECT \"x;y\" FROM t;;\n"
            )
            .unwrap(),
            vec![
                "INSERT INTO t VALUES ('a;b', 'it''s')".to_string(),
                "SELECT \"x;y\" FROM t".to_string()
            ]
        );
        assert_eq!(split_statements("  ;\n").unwrap(), Vec::<String>::new());
        assert_eq!(
            split_statements("SELECT 'abc").unwrap_err().to_string(),
            "syntax error: unterminated string starting at offset 7"
        );
    }
}
