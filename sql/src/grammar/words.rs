//! Statement words given as command-line arguments (`vouch backup --cluster DIR DATABASE
//! bank INTO nodelocal://1/b`), read by the same parser as `vouch sql`.
//!
//! The shell has usually removed the quotes, so the words are read "bare": each word is
//! tokenized on its own; a word that is not names and strings with commas between them (a
//! path such as `/tmp/x`, a URI with a query string or a space) is one string, its leading
//! and trailing commas kept as separators; where the grammar expects a string (a URI, a
//! subdirectory), an unquoted word or a quoted name is one too, keeping its case; the
//! layers of the legacy `RESTORE … FROM uri uri` and a locality-aware list (`IN d o …`,
//! `INTO d o …`) need no commas. `AS OF SYSTEM TIME` and `WITH` end every URI list (never
//! read as URIs) and are not part of the words: they are the commands' flags (`--as-of`,
//! `--revision-history`, …; words going on with them are [`Error::Usage`] saying so), except
//! that `vouch show backup … WITH check_files, debug_ids` reads its WITH as SQL does.

use super::ast::{BackupDest, Options, RestoreFrom, Statement, TargetList, Value};
use super::parser::Parser;
use super::tokens::{tokenize, Token};
use crate::{Error, Result};

/// The tokens of command-line words (see the module docs).
fn tokens(words: &[String]) -> Vec<Token> {
    let mut out = Vec::new();
    for w in words {
        let simple = tokenize(w).ok().filter(|t| is_list(t));
        if let Some(t) = simple {
            out.extend(t);
            continue;
        }
        let core = w.trim_matches(',');
        let leading = w.len() - w.trim_start_matches(',').len();
        let trailing = w.len() - w.trim_end_matches(',').len();
        out.extend((0..leading).map(|_| Token::Punct(',')));
        if !core.is_empty() {
            out.push(Token::Str(core.to_string()));
        }
        out.extend((0..trailing).map(|_| Token::Punct(',')));
    }
    out
}

/// True for names and strings with commas between them (`a.b,c.d`, `'x'`, `bank,`): one
/// word of them reads as it would in a statement. Two names or strings in a row inside
/// one word (`file:///a b`, a path with a space) are not: that word is one string.
fn is_list(toks: &[Token]) -> bool {
    let mut after_value = false;
    toks.iter().all(|t| match t {
        Token::Word(_) | Token::Str(_) | Token::Quoted(_) => {
            !std::mem::replace(&mut after_value, true)
        }
        Token::Punct(',') => {
            after_value = false;
            true
        }
        Token::Punct(_) => false,
    })
}

fn parser(words: &[String]) -> Parser {
    Parser::new(tokens(words), true)
}

/// `vouch backup` words, as after `BACKUP`: `[targets] INTO [LATEST IN | subdir IN] uri`
/// or `[targets] TO uri [INCREMENTAL FROM uri, …]`.
pub fn backup(words: &[String]) -> Result<(TargetList, BackupDest)> {
    match parser(words).backup()? {
        Statement::Backup { targets, dest, .. } => Ok((targets, dest)),
        _ => Err(Error::Syntax("expected BACKUP words".into())),
    }
}

/// `vouch restore` words, as after `RESTORE`: `[targets] FROM (LATEST | subdir) IN uri`
/// or the legacy `[targets] FROM uri [, uri …]`.
pub fn restore(words: &[String]) -> Result<(TargetList, RestoreFrom)> {
    match parser(words).restore()? {
        Statement::Restore { targets, from, .. } => Ok((targets, from)),
        _ => Err(Error::Syntax("expected RESTORE words".into())),
    }
}

/// `vouch show` words, as after `SHOW`: `backups IN uri …` or `backup [schemas] [FROM]
/// (LATEST | subdir) IN uri … [WITH option, …]` ([`Statement::ShowBackups`] or
/// [`Statement::ShowBackup`]; several URIs are a locality-aware list; statements of later
/// features as [`Statement::Unsupported`]).
pub fn show(words: &[String]) -> Result<Statement> {
    parser(words).show()
}

/// `vouch alter` words, as after `ALTER`: `backup (LATEST | subdir) IN uri` (the KMS
/// URIs are flags). Returns the subdirectory and the URIs.
pub fn alter_backup(words: &[String]) -> Result<(String, Vec<String>)> {
    let mut p = parser(words);
    p.expect_kw("BACKUP")?;
    let r = p.subdir_in()?;
    p.end()?;
    Ok(r)
}

/// `vouch verify` words: `[FROM (LATEST | subdir)] IN uri`. Returns the subdirectory (none:
/// every chain) and the URIs.
pub fn verify(words: &[String]) -> Result<(Option<String>, Vec<String>)> {
    let mut p = parser(words);
    // Several URIs (a locality-aware collection) as separate words, either way.
    let r = if p.eat_kw("FROM") {
        let (sub, uris) = p.subdir_in_list()?;
        (Some(sub), uris)
    } else {
        p.expect_kw("IN")?;
        (None, p.uri_list(&[])?)
    };
    p.end()?;
    Ok(r)
}

/// `vouch dump` words: `[targets] FROM (LATEST | subdir) IN uri [targets]` (the targets
/// before FROM or after the URI, not both; none: every database). Returns the targets and
/// the source ([`RestoreFrom::Collection`]). Errors in the words' shape are
/// [`Error::Usage`]: no FROM, FROM without `LATEST IN URI` / `'subdir' IN URI`, targets
/// given twice.
pub fn dump(words: &[String]) -> Result<(TargetList, RestoreFrom)> {
    let toks = tokens(words);
    let Some(from) = toks
        .iter()
        .position(|t| matches!(t, Token::Word(w) if w.eq_ignore_ascii_case("FROM")))
    else {
        return Err(Error::Usage("expected FROM".into()));
    };
    let (before, after) = toks.split_at(from);
    let mut p = Parser::new(after.iter().skip(1).cloned().collect(), true);
    let (sub, uris) = p
        .subdir_in()
        .map_err(|_| Error::Usage("FROM needs LATEST IN URI or 'subdir' IN URI".into()))?;
    let rest = p.rest();
    if !before.is_empty() && !rest.is_empty() {
        return Err(Error::Usage(
            "targets given twice (before FROM and after IN URI)".into(),
        ));
    }
    let targets = if before.is_empty() {
        rest
    } else {
        before.to_vec()
    };
    let targets = if targets.is_empty() {
        TargetList::Cluster
    } else {
        let mut t = Parser::new(targets, true);
        let targets = t.targets_before(&[])?;
        t.end()?;
        targets
    };
    Ok((targets, RestoreFrom::Collection(sub, uris)))
}

/// The RESTORE statement that `vouch restore`'s words and `options` (its flags' WITH)
/// stand for, as `vouch sql` reads it: what a job runner runs to finish a `vouch restore`
/// job (spec/jobs.md §3). Names are written bare when they are one word, else quoted;
/// `None` when one cannot be written (a name with a `"` in it, which the grammar cannot
/// quote).
pub fn restore_statement(
    targets: &TargetList,
    from: &RestoreFrom,
    options: &Options,
) -> Option<String> {
    fn name(n: &str) -> Option<String> {
        let bare = n == "*"
            || (n
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && n.chars().all(|c| c.is_alphanumeric() || c == '_'));
        if bare {
            Some(n.to_string())
        } else if n.contains('"') || n.is_empty() {
            None
        } else {
            Some(format!("\"{n}\""))
        }
    }
    fn string(s: &str) -> String {
        format!("'{}'", s.replace('\'', "''"))
    }
    fn list(v: &[String]) -> String {
        match v {
            [one] => string(one),
            _ => format!(
                "({})",
                v.iter().map(|s| string(s)).collect::<Vec<_>>().join(", ")
            ),
        }
    }
    let mut out = String::from("RESTORE ");
    match targets {
        TargetList::Cluster => {}
        TargetList::Databases(v) => {
            let names: Option<Vec<String>> = v.iter().map(|n| name(n)).collect();
            out.push_str(&format!("DATABASE {} ", names?.join(", ")));
        }
        TargetList::Tables(v) => {
            let names: Option<Vec<String>> = v
                .iter()
                .map(|t| {
                    let parts: Option<Vec<String>> = t.split('.').map(name).collect();
                    parts.map(|p| p.join("."))
                })
                .collect();
            out.push_str(&format!("TABLE {} ", names?.join(", ")));
        }
    }
    out.push_str("FROM ");
    match from {
        RestoreFrom::Collection(sub, uris) => {
            if sub == "LATEST" {
                out.push_str("LATEST");
            } else {
                out.push_str(&string(sub));
            }
            out.push_str(" IN ");
            out.push_str(&list(uris));
        }
        RestoreFrom::Layers(layers) => {
            let v: Vec<String> = layers.iter().map(|l| list(l)).collect();
            out.push_str(&v.join(", "));
        }
    }
    let with: Vec<String> = options
        .0
        .iter()
        .map(|(n, v)| match v {
            None => n.clone(),
            Some(Value::One(x)) => format!("{n} = {}", string(x)),
            Some(Value::List(x)) => format!(
                "{n} = ({})",
                x.iter().map(|s| string(s)).collect::<Vec<_>>().join(", ")
            ),
        })
        .collect();
    if !with.is_empty() {
        out.push_str(" WITH ");
        out.push_str(&with.join(", "));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn uris(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn words_tokenize_bare() {
        let words = [
            "TABLE",
            "a.b,",
            "c.d,e.f",
            "INTO",
            "/tmp/x,",
            "s3://b/p?AUTH=implicit",
            "'q r'",
            "\"Mixed\"",
            ",/y",
            "file:///a b",
        ]
        .map(String::from);
        assert_eq!(
            tokens(&words),
            vec![
                Token::Word("TABLE".into()),
                Token::Word("a.b".into()),
                Token::Punct(','),
                Token::Word("c.d".into()),
                Token::Punct(','),
                Token::Word("e.f".into()),
                Token::Word("INTO".into()),
                Token::Str("/tmp/x".into()),
                Token::Punct(','),
                Token::Str("s3://b/p?AUTH=implicit".into()),
                Token::Str("q r".into()),
                Token::Quoted("Mixed".into()),
                Token::Punct(','),
                Token::Str("/y".into()),
                Token::Str("file:///a b".into()),
            ]
        );
    }

    #[test]
    fn backup_words() {
        let (t, d) = backup(&w("INTO nodelocal://1/b")).unwrap();
        assert_eq!(t, TargetList::Cluster);
        assert_eq!(d, BackupDest::Into(uris(&["nodelocal://1/b"])));
        let (t, d) = backup(&w("DATABASE bank, movr INTO LATEST IN 'nodelocal://1/b'")).unwrap();
        assert_eq!(t, TargetList::Databases(uris(&["bank", "movr"])));
        assert_eq!(d, BackupDest::IntoLatest(uris(&["nodelocal://1/b"])));
        let (t, d) = backup(&w(
            "TABLE bank.bank,movr.public.users INTO '/2026/11/21-120000.00' IN file:///x",
        ))
        .unwrap();
        assert_eq!(
            t,
            TargetList::Tables(uris(&["bank.bank", "movr.public.users"]))
        );
        assert_eq!(
            d,
            BackupDest::IntoSubdir("/2026/11/21-120000.00".into(), uris(&["file:///x"]))
        );
        // Unquoted, the subdirectory and the URI keep their case.
        let (_, d) = backup(&w("INTO /2026/11/21-120000.00 IN file:///X/Y")).unwrap();
        assert_eq!(
            d,
            BackupDest::IntoSubdir("/2026/11/21-120000.00".into(), uris(&["file:///X/Y"]))
        );
        assert!(backup(&w("DATABASE INTO x")).is_err());
        assert!(backup(&w("nodelocal://1/b")).is_err());
        // Several URIs one after another: a locality-aware list.
        assert_eq!(
            backup(&w(
                "INTO a?COCKROACH_LOCALITY=default b?COCKROACH_LOCALITY=region%3Dx"
            ))
            .unwrap()
            .1,
            BackupDest::Into(uris(&[
                "a?COCKROACH_LOCALITY=default",
                "b?COCKROACH_LOCALITY=region%3Dx"
            ]))
        );
        assert_eq!(
            backup(&w("TO a b INCREMENTAL FROM c")).unwrap().1,
            BackupDest::To(uris(&["a", "b"]), vec![uris(&["c"])])
        );
        assert_eq!(
            backup(&w("INTO a ,")).unwrap_err().to_string(),
            "syntax error: at or near \",\": expected end of statement"
        );
        // AS OF SYSTEM TIME and WITH are flags: they end the list and are refused.
        assert!(matches!(
            backup(&w("INTO a b WITH revision_history")).unwrap_err(),
            Error::Usage(_)
        ));
        assert!(matches!(
            backup(&w("INTO a AS OF SYSTEM TIME -1s")).unwrap_err(),
            Error::Usage(_)
        ));
    }

    #[test]
    fn restore_words() {
        let (t, f) = restore(&w("DATABASE bank FROM LATEST IN nodelocal://1/b")).unwrap();
        assert_eq!(t, TargetList::Databases(uris(&["bank"])));
        assert_eq!(
            f,
            RestoreFrom::Collection("LATEST".into(), uris(&["nodelocal://1/b"]))
        );
        // The legacy form: layers as separate words, with or without commas.
        let (t, f) = restore(&w("FROM file:///b/full file:///b/incr1, /b/incr2")).unwrap();
        assert_eq!(t, TargetList::Cluster);
        assert_eq!(
            f,
            RestoreFrom::Layers(vec![
                uris(&["file:///b/full"]),
                uris(&["file:///b/incr1"]),
                uris(&["/b/incr2"])
            ])
        );
        assert!(restore(&w("DATABASE bank LATEST IN x")).is_err());
        assert!(restore(&w("FROM")).is_err());
        // A locality-aware list as separate words.
        assert_eq!(
            restore(&w("FROM LATEST IN d o1 o2")).unwrap().1,
            RestoreFrom::Collection("LATEST".into(), uris(&["d", "o1", "o2"]))
        );
    }

    /// AS and WITH end a URI list in command-line words: never read as URIs or layers, and
    /// (but for `vouch show backup`'s WITH) refused as flags.
    #[test]
    fn uri_lists_stop_at_as_and_with() {
        let usage = |r: Result<Statement>| match r {
            Err(Error::Usage(m)) => m,
            other => panic!("{other:?}"),
        };
        for words in [
            "FROM LATEST IN d o AS OF SYSTEM TIME -1s",
            "FROM LATEST IN d o WITH detached",
            "FROM a b AS OF SYSTEM TIME -1s",
            "FROM a b with detached",
        ] {
            let m = usage(parser(&w(words)).restore());
            assert!(
                m.starts_with("AS OF SYSTEM TIME is not part of the words")
                    || m.starts_with("WITH options are not part of the words"),
                "{words}: {m}"
            );
        }
        assert!(matches!(
            verify(&w("IN d o AS OF SYSTEM TIME -1s")).unwrap_err(),
            Error::Usage(_)
        ));
        assert!(matches!(
            verify(&w("FROM LATEST IN d o WITH x")).unwrap_err(),
            Error::Usage(_)
        ));
        // vouch show backup reads WITH as SQL does; AS is not SHOW BACKUP's.
        assert_eq!(
            show(&w("backup LATEST IN d o WITH check_files")).unwrap(),
            Statement::ShowBackup {
                schemas: false,
                subdir: "LATEST".into(),
                uri: uris(&["d", "o"]),
                options: crate::grammar::Options(vec![("check_files".into(), None)]),
            }
        );
        assert_eq!(
            show(&w(
                "backup FROM LATEST IN d o1 o2 WITH check_files,debug_ids"
            ))
            .unwrap(),
            Statement::ShowBackup {
                schemas: false,
                subdir: "LATEST".into(),
                uri: uris(&["d", "o1", "o2"]),
                options: crate::grammar::Options(vec![
                    ("check_files".into(), None),
                    ("debug_ids".into(), None)
                ]),
            }
        );
        let m = usage(show(&w("backup LATEST IN d o AS OF SYSTEM TIME -1s")));
        assert!(
            m.starts_with("AS OF SYSTEM TIME is not part of the words"),
            "{m}"
        );
        // A URI spelled like a keyword is still one when quoted.
        assert_eq!(
            show(&w("backups IN d 'with'")).unwrap(),
            Statement::ShowBackups {
                uri: uris(&["d", "with"])
            }
        );
    }

    #[test]
    fn show_alter_and_verify_words() {
        assert_eq!(
            show(&w("backups IN nodelocal://1/b")).unwrap(),
            Statement::ShowBackups {
                uri: uris(&["nodelocal://1/b"])
            }
        );
        assert_eq!(
            show(&w("backup schemas FROM LATEST IN 'nodelocal://1/b'")).unwrap(),
            Statement::ShowBackup {
                schemas: true,
                subdir: "LATEST".into(),
                uri: uris(&["nodelocal://1/b"]),
                options: Default::default(),
            }
        );
        // FROM may be left out (CockroachDB's older SHOW BACKUP 'subdir' IN …).
        assert_eq!(
            show(&w("backup LATEST IN x")).unwrap(),
            show(&w("backup FROM LATEST IN x")).unwrap()
        );
        assert_eq!(
            show(&w("backup /2026/01/01-000000.00 IN x")).unwrap(),
            Statement::ShowBackup {
                schemas: false,
                subdir: "/2026/01/01-000000.00".into(),
                uri: uris(&["x"]),
                options: Default::default(),
            }
        );
        assert!(show(&w("backup IN x")).is_err());
        assert_eq!(
            show(&w("backups IN d o")).unwrap(),
            Statement::ShowBackups {
                uri: uris(&["d", "o"])
            }
        );
        assert_eq!(
            alter_backup(&w("backup '/2026/01/01-000000.00' IN /x")).unwrap(),
            ("/2026/01/01-000000.00".to_string(), uris(&["/x"]))
        );
        assert!(alter_backup(&w("LATEST IN /x")).is_err());
        assert_eq!(
            verify(&w("IN nodelocal://1/b")).unwrap(),
            (None, uris(&["nodelocal://1/b"]))
        );
        assert_eq!(
            verify(&w("FROM LATEST IN 'nodelocal://1/b'")).unwrap(),
            (Some("LATEST".to_string()), uris(&["nodelocal://1/b"]))
        );
        assert_eq!(
            verify(&w("from '/2026/01/01-000000.00' in /tmp/x")).unwrap(),
            (Some("/2026/01/01-000000.00".to_string()), uris(&["/tmp/x"]))
        );
        assert!(verify(&w("FROM LATEST")).is_err());
        assert_eq!(verify(&w("IN a b")).unwrap(), (None, uris(&["a", "b"])));
        assert_eq!(
            verify(&w("FROM LATEST IN a b")).unwrap(),
            (Some("LATEST".to_string()), uris(&["a", "b"]))
        );
        assert!(verify(&w("")).is_err());
    }

    #[test]
    fn dump_words() {
        let src = |u: &str| RestoreFrom::Collection("LATEST".into(), uris(&[u]));
        assert_eq!(
            dump(&w("FROM LATEST IN /x")).unwrap(),
            (TargetList::Cluster, src("/x"))
        );
        assert_eq!(
            dump(&w("FROM LATEST IN /x DATABASE d")).unwrap(),
            (TargetList::Databases(uris(&["d"])), src("/x"))
        );
        assert_eq!(
            dump(&w("TABLE a.b FROM LATEST IN /x")).unwrap(),
            (TargetList::Tables(uris(&["a.b"])), src("/x"))
        );
        let usage = |s: &str| match dump(&w(s)).unwrap_err() {
            Error::Usage(m) => m,
            e => panic!("{e:?}"),
        };
        assert_eq!(usage("LATEST IN /x"), "expected FROM");
        assert_eq!(
            usage("FROM LATEST /x"),
            "FROM needs LATEST IN URI or 'subdir' IN URI"
        );
        assert_eq!(
            usage("TABLE a.b FROM LATEST IN /x DATABASE d"),
            "targets given twice (before FROM and after IN URI)"
        );
    }
}

#[cfg(test)]
mod restore_statement_tests {
    use super::*;

    /// The statement parses back to the words' targets, source and options.
    #[test]
    fn a_restore_statement_reads_back_as_its_words() {
        let cases: Vec<(Vec<&str>, Options)> = vec![
            (
                vec!["DATABASE", "shop", "FROM", "LATEST", "IN", "/tmp/c"],
                Options::default(),
            ),
            (
                vec![
                    "TABLE",
                    "shop.a,",
                    "shop_2.b",
                    "FROM",
                    "'2026/01/01-000000.00'",
                    "IN",
                    "/tmp/it's here",
                ],
                Options::default()
                    .text("into_db", Some("o'k".into()))
                    .flag("schema_only", true),
            ),
            (vec!["FROM", "/tmp/full", "/tmp/inc1"], Options::default()),
            (
                vec!["DATABASE", "a,", "b", "FROM", "LATEST", "IN", "/d", "/o"],
                Options(vec![(
                    "kms".into(),
                    Some(Value::List(vec!["file:///k1".into(), "file:///k2".into()])),
                )])
                .text("encryption_passphrase", Some("p'w".into())),
            ),
        ];
        for (words, options) in cases {
            let w: Vec<String> = words.into_iter().map(String::from).collect();
            let (targets, from) = restore(&w).unwrap();
            let text = restore_statement(&targets, &from, &options).unwrap();
            assert_eq!(
                crate::grammar::parse(&text).unwrap(),
                Statement::Restore {
                    targets,
                    from,
                    as_of: None,
                    options
                },
                "{text}"
            );
        }
        let bad = TargetList::Databases(vec!["a\"b".into()]);
        let from = RestoreFrom::Collection("LATEST".into(), vec!["/x".into()]);
        assert_eq!(restore_statement(&bad, &from, &Options::default()), None);
    }
}
