//! The backup statements' tokens: words, strings, quoted names, punctuation.

use std::fmt;

use crate::{Error, Result};

/// A token of the backup statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A word: keyword, name (`bank.customers`, `db.*`) or number.
    Word(String),
    /// A single-quoted string (quotes removed, `''` unescaped).
    Str(String),
    /// A double-quoted name (quotes removed; its case is kept).
    Quoted(String),
    /// Any other character: `(`, `)`, `,`, `{`, `}`, `=`, …
    Punct(char),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) => f.write_str(w),
            Token::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Token::Quoted(s) => write!(f, "\"{s}\""),
            Token::Punct(c) => write!(f, "{c}"),
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '*' | '-' | '+' | ':' | '/')
}

/// Splits a statement into tokens.
pub fn tokenize(s: &str) -> Result<Vec<Token>> {
    Ok(tokenize_spans(s)?.into_iter().map(|(t, _)| t).collect())
}

/// [`tokenize`], with each token's byte range in `s`.
pub fn tokenize_spans(s: &str) -> Result<Vec<(Token, std::ops::Range<usize>)>> {
    let mut out = Vec::new();
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c.is_whitespace() {
            continue;
        }
        let mut end = i + c.len_utf8();
        if c == '\'' {
            let mut text = String::new();
            loop {
                match it.next() {
                    None => {
                        return Err(Error::Syntax(format!(
                            "unterminated string starting at offset {i}"
                        )))
                    }
                    Some((j, '\'')) => {
                        if matches!(it.peek(), Some((_, '\''))) {
                            it.next();
                            text.push('\'');
                        } else {
                            end = j + 1;
                            break;
                        }
                    }
                    Some((_, ch)) => text.push(ch),
                }
            }
            out.push((Token::Str(text), i..end));
        } else if c == '"' {
            let mut text = String::new();
            loop {
                match it.next() {
                    None => {
                        return Err(Error::Syntax(format!(
                            "unterminated quoted name starting at offset {i}"
                        )))
                    }
                    Some((j, '"')) => {
                        end = j + 1;
                        break;
                    }
                    Some((_, ch)) => text.push(ch),
                }
            }
            out.push((Token::Quoted(text), i..end));
        } else if c.is_alphanumeric() || c == '_' || c == '*' {
            let mut w = String::from(c);
            while let Some((j, ch)) = it.peek() {
                // A dot continues a name only when a name character follows (`a.b`, not
                // the `...` of a placeholder).
                let dot_ok = *ch != '.'
                    || s.get(j + 1..)
                        .and_then(|r| r.chars().next())
                        .is_some_and(|n| n.is_alphanumeric() || n == '_' || n == '*' || n == '"');
                if is_word_char(*ch) && dot_ok {
                    w.push(*ch);
                    end = *j + ch.len_utf8();
                    it.next();
                } else {
                    break;
                }
            }
            out.push((Token::Word(w), i..end));
        } else {
            out.push((Token::Punct(c), i..end));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(
            tokenize("BACKUP bank.customers INTO {'a''b'} IN ('x', 'y') WITH k = v;").unwrap(),
            vec![
                Token::Word("BACKUP".into()),
                Token::Word("bank.customers".into()),
                Token::Word("INTO".into()),
                Token::Punct('{'),
                Token::Str("a'b".into()),
                Token::Punct('}'),
                Token::Word("IN".into()),
                Token::Punct('('),
                Token::Str("x".into()),
                Token::Punct(','),
                Token::Str("y".into()),
                Token::Punct(')'),
                Token::Word("WITH".into()),
                Token::Word("k".into()),
                Token::Punct('='),
                Token::Word("v".into()),
                Token::Punct(';'),
            ]
        );
        assert_eq!(
            tokenize("RESTORE FROM 'abc").unwrap_err().to_string(),
            "syntax error: unterminated string starting at offset 13"
        );
    }
}
