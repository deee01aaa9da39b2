//! Secrets in a statement: what a syntax error or a recorded statement shows instead.

use super::tokens::{tokenize_spans, Token};

/// Option names whose values are secrets: the passphrase, and KMS URIs (whose query
/// strings carry credentials).
const PASSPHRASE_OPTION: &str = "encryption_passphrase";
const KMS_OPTIONS: &[&str] = &["kms", "new_kms", "old_kms"];

/// For each token, what to show instead of it when it is a secret: `'*****'` for a
/// passphrase, the quoted `uri_id` of a KMS URI (no query string, no user info).
pub(super) fn secrets(toks: &[Token]) -> Vec<Option<String>> {
    let mut out = vec![None; toks.len()];
    let mut i = 0;
    while let Some(t) = toks.get(i) {
        let kind = match t {
            Token::Word(w) if w.eq_ignore_ascii_case(PASSPHRASE_OPTION) => Some(true),
            Token::Word(w) if KMS_OPTIONS.iter().any(|k| w.eq_ignore_ascii_case(k)) => Some(false),
            _ => None,
        };
        i += 1;
        let Some(passphrase) = kind else {
            continue;
        };
        if toks.get(i) == Some(&Token::Punct('=')) {
            i += 1;
        }
        let paren = toks.get(i) == Some(&Token::Punct('('));
        if paren {
            i += 1;
        }
        // One value, or everything up to the list's `)` (a malformed list included).
        while let Some(t) = toks.get(i) {
            let v = match t {
                Token::Str(v) | Token::Word(v) | Token::Quoted(v) => v,
                Token::Punct(',') if paren => {
                    i += 1;
                    continue;
                }
                Token::Punct(_) => break,
            };
            if let Some(slot) = out.get_mut(i) {
                *slot = Some(if passphrase {
                    "'*****'".to_string()
                } else {
                    Token::Str(vouch_keys::kms::uri_id_of(v)).to_string()
                });
            }
            i += 1;
            if !paren {
                break;
            }
        }
    }
    out
}

/// The statement with its secrets replaced, the rest as typed: the passphrase by
/// `'*****'`, KMS URIs by their `uri_id`, the secret parameters of other URIs by
/// `redacted` (`vouch_store::redact_uri`). A statement that does not tokenize is replaced
/// whole (it could hold anything).
pub fn redact(sql: &str) -> String {
    let Ok(toks) = tokenize_spans(sql) else {
        return "<statement not shown: it does not tokenize>".into();
    };
    let plain: Vec<Token> = toks.iter().map(|(t, _)| t.clone()).collect();
    let mut shown = secrets(&plain);
    // Storage URIs anywhere (destinations, `incremental_location`, external connections):
    // the values of their secret parameters. (Syntax errors show no query string at all.)
    for (t, slot) in plain.iter().zip(shown.iter_mut()) {
        if slot.is_some() {
            continue;
        }
        *slot = match t {
            Token::Str(v) if vouch_store::redact_uri(v) != *v => {
                Some(Token::Str(vouch_store::redact_uri(v)).to_string())
            }
            Token::Word(v) if vouch_store::redact_uri(v) != *v => Some(vouch_store::redact_uri(v)),
            _ => None,
        };
    }
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    for ((_, span), secret) in toks.iter().zip(shown) {
        if let Some(r) = secret {
            out.push_str(sql.get(at..span.start).unwrap_or_default());
            out.push_str(&r);
            at = span.end;
        }
    }
    out.push_str(sql.get(at..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grammar::{parse, Statement};

    #[test]
    fn secrets_are_redacted_in_statements_and_syntax_errors() {
        assert_eq!(
            redact("BACKUP INTO 'u?AUTH=implicit'  WITH encryption_passphrase = 'it''s secret', \
                    KMS = ('aws:///k1?AWS_SECRET_ACCESS_KEY=s3cr3t&REGION=us-east-1', 'file:///tmp/k'), detached"),
            "BACKUP INTO 'u?AUTH=implicit'  WITH encryption_passphrase = '*****', \
                    KMS = ('aws:///k1', 'file:///tmp/k'), detached"
        );
        assert_eq!(
            redact("ALTER BACKUP LATEST IN 'u' ADD NEW_KMS = 'aws://user:pw@host/k?X=1' WITH OLD_KMS = ('gs:///o?CREDENTIALS=c')"),
            "ALTER BACKUP LATEST IN 'u' ADD NEW_KMS = 'aws://host/k' WITH OLD_KMS = ('gs:///o')"
        );
        assert_eq!(
            redact("RESTORE FROM 'x' WITH encryption_passphrase = hunter2"),
            "RESTORE FROM 'x' WITH encryption_passphrase = '*****'"
        );
        assert_eq!(
            redact("BACKUP INTO 's3://b/p?AWS_ACCESS_KEY_ID=k&AWS_SECRET_ACCESS_KEY=s3cr3t' WITH incremental_location = 's3://b/i?AWS_SESSION_TOKEN=t0k3n&AUTH=specified'"),
            "BACKUP INTO 's3://b/p?AWS_ACCESS_KEY_ID=k&AWS_SECRET_ACCESS_KEY=redacted' WITH incremental_location = 's3://b/i?AWS_SESSION_TOKEN=redacted&AUTH=specified'"
        );
        assert_eq!(
            parse("SHOW BACKUPS IN 'azure://c/p?AZURE_ACCOUNT_KEY=s3cr3t' x")
                .unwrap_err()
                .to_string(),
            "syntax error: at or near \"x\": expected end of statement"
        );
        assert_eq!(
            redact("BACKUP INTO 'unterminated"),
            "<statement not shown: it does not tokenize>"
        );
        // Syntax errors at a secret show it redacted.
        assert_eq!(
            parse("BACKUP INTO 'u' WITH encryption_passphrase 'hunter2'")
                .unwrap_err()
                .to_string(),
            "syntax error: at or near \"'*****'\": expected end of statement"
        );
        assert_eq!(
            parse("ALTER BACKUP LATEST IN 'u' ADD NEW_KMS 'aws:///k?AWS_SECRET_ACCESS_KEY=s3cr3t'")
                .unwrap_err()
                .to_string(),
            "syntax error: at or near \"'aws:///k'\": expected \"=\""
        );
        assert_eq!(
            parse("RESTORE FROM 'u' WITH kms = ('aws:///a?K=s3cr3t' 'aws:///b?K=s3cr3t')")
                .unwrap_err()
                .to_string(),
            "syntax error: at or near \"'aws:///b'\": expected \",\" or \")\""
        );
        // Nor does an error at a storage URI show its query string.
        assert_eq!(
            parse("CREATE EXTERNAL CONNECTION c 's3://b/p?AWS_SECRET_ACCESS_KEY=s3cr3t'")
                .unwrap_err()
                .to_string(),
            "syntax error: at or near \"'s3://b/p'\": expected AS"
        );
        // Debug of option values never shows them.
        let Statement::Backup { options, .. } =
            parse("BACKUP INTO 'u' WITH encryption_passphrase = 'hunter2', kms = ('a', 'b')")
                .unwrap()
        else {
            panic!()
        };
        let dbg = format!("{options:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("List([2 values])"), "{dbg}");
    }
}
