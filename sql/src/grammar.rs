//! The backup statements' grammar, written by hand (no SQL parser library has them):
//! BACKUP, RESTORE, SHOW BACKUPS / SHOW BACKUP, CREATE EXTERNAL CONNECTION, and the
//! statements of later features, which parse and are refused by name.
//!
//! ```text
//! BACKUP [targets] INTO [LATEST IN | subdir IN] uris [AS OF SYSTEM TIME t] [WITH options]
//! BACKUP [targets] TO uris [AS OF SYSTEM TIME t] [INCREMENTAL FROM uri, …] [AS OF SYSTEM TIME t] [WITH options]
//! RESTORE [targets] FROM (LATEST | subdir) IN uris [AS OF SYSTEM TIME t] [WITH options]
//! RESTORE [targets] FROM uris, uris, … [AS OF SYSTEM TIME t] [WITH options]
//! SHOW BACKUPS IN uri
//! SHOW BACKUP [SCHEMAS] FROM (LATEST | subdir) IN uri [WITH options]
//! ALTER BACKUP (LATEST | subdir) IN uri ADD NEW_KMS = kms WITH OLD_KMS = kms
//! CREATE EXTERNAL CONNECTION name AS 'uri'
//! targets := DATABASE name, … | TABLE name, … | name, …        (bare names are tables)
//! subdir  := 'text' | {'text'}
//! uris    := 'uri' | ('uri', 'uri', …)                          (a list: locality-aware)
//! options := [OPTIONS] ( option, … ) | option, …
//! option  := name [= value | = ('value', …)]
//! kms     := 'uri' | ('uri', 'uri', …)
//! ```
//!
//! Secrets in a statement (the `encryption_passphrase` value, KMS URIs with their
//! credentials) never reach a syntax error: [`redact`] replaces them (`'*****'`, the KMS
//! URI's `uri_id`), and the statement text recorded in a manifest is redacted the same way.

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

/// What a statement targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetList {
    /// Nothing named: the whole cluster.
    Cluster,
    /// `DATABASE a, b`.
    Databases(Vec<String>),
    /// `TABLE a.b, …` or bare names (as typed; one-part names resolve in the current
    /// database).
    Tables(Vec<String>),
}

/// An option's value: `name = 'v'` (or an unquoted word) or `name = ('a', 'b', …)`.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// One value.
    One(String),
    /// A parenthesized list.
    List(Vec<String>),
}

impl Value {
    /// The values: one, or the list's.
    pub fn values(&self) -> Vec<String> {
        match self {
            Value::One(v) => vec![v.clone()],
            Value::List(v) => v.clone(),
        }
    }
}

// Values may be secrets (a passphrase, KMS URIs with credentials): `Debug` shows their
// shape only.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::One(_) => f.write_str("One(..)"),
            Value::List(v) => write!(f, "List([{} values])", v.len()),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::One(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::One(s)
    }
}

/// `WITH` options, as typed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options(pub Vec<(String, Option<Value>)>);

impl Options {
    /// The options' names, lowercased.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| n.as_str())
    }
}

/// Where a BACKUP goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupDest {
    /// `INTO uris`.
    Into(Vec<String>),
    /// `INTO LATEST IN uris`.
    IntoLatest(Vec<String>),
    /// `INTO 'subdir' IN uris`.
    IntoSubdir(String, Vec<String>),
    /// `TO uris [INCREMENTAL FROM …]`.
    To(Vec<String>, Vec<Vec<String>>),
}

/// Where a RESTORE reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreFrom {
    /// `FROM LATEST|'subdir' IN uris`.
    Collection(String, Vec<String>),
    /// `FROM uris, uris, …` (each element a URI or a locality list).
    Layers(Vec<Vec<String>>),
}

/// A parsed backup statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// BACKUP.
    Backup {
        /// Targets.
        targets: TargetList,
        /// Destination.
        dest: BackupDest,
        /// AS OF SYSTEM TIME text.
        as_of: Option<String>,
        /// WITH options.
        options: Options,
    },
    /// RESTORE.
    Restore {
        /// Targets.
        targets: TargetList,
        /// Source.
        from: RestoreFrom,
        /// AS OF SYSTEM TIME text.
        as_of: Option<String>,
        /// WITH options.
        options: Options,
    },
    /// SHOW BACKUPS IN uri.
    ShowBackups {
        /// The collection.
        uri: Vec<String>,
    },
    /// SHOW BACKUP \[SCHEMAS\] FROM subdir IN uri.
    ShowBackup {
        /// SCHEMAS.
        schemas: bool,
        /// `LATEST` or the subdir.
        subdir: String,
        /// The collection.
        uri: Vec<String>,
        /// WITH options.
        options: Options,
    },
    /// ALTER BACKUP subdir IN uri ADD NEW_KMS = … WITH OLD_KMS = ….
    AlterBackupKms {
        /// `LATEST` or the subdir.
        subdir: String,
        /// The collection.
        uri: Vec<String>,
        /// NEW_KMS URIs.
        new_kms: Vec<String>,
        /// OLD_KMS URIs.
        old_kms: Vec<String>,
    },
    /// CREATE EXTERNAL CONNECTION name AS 'uri'.
    CreateExternalConnection {
        /// Name.
        name: String,
        /// URI.
        uri: String,
    },
    /// A statement of a feature vouch does not have yet (parsed far enough to name it).
    Unsupported(&'static str),
}

/// True when `sql` is one of the statements this module parses (by its leading words).
pub fn is_backup_statement(sql: &str) -> bool {
    let words: Vec<String> = sql
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .take(3)
        .map(|w| w.to_ascii_uppercase())
        .collect();
    let w = |i: usize| words.get(i).map_or("", String::as_str);
    matches!(w(0), "BACKUP" | "RESTORE" | "PAUSE" | "RESUME" | "CANCEL")
        || (w(0) == "SHOW" && matches!(w(1), "BACKUP" | "BACKUPS" | "SCHEDULES" | "SCHEDULE"))
        || (w(0) == "CREATE" && matches!(w(1), "EXTERNAL" | "SCHEDULE"))
        || (w(0) == "ALTER" && matches!(w(1), "BACKUP" | "PARTITION" | "SCHEDULE"))
        || (w(0) == "DROP" && w(1) == "SCHEDULE")
}

/// Option names whose values are secrets: the passphrase, and KMS URIs (whose query
/// strings carry credentials).
const PASSPHRASE_OPTION: &str = "encryption_passphrase";
const KMS_OPTIONS: &[&str] = &["kms", "new_kms", "old_kms"];

/// For each token, what to show instead of it when it is a secret: `'*****'` for a
/// passphrase, the quoted `uri_id` of a KMS URI (no query string, no user info).
fn secrets(toks: &[Token]) -> Vec<Option<String>> {
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
                    Token::Str(vouch_keys::uri_id_of(v)).to_string()
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
/// `'*****'`, KMS URIs by their `uri_id`. A statement that does not tokenize is replaced
/// whole (it could hold anything).
pub fn redact(sql: &str) -> String {
    let Ok(toks) = tokenize_spans(sql) else {
        return "<statement not shown: it does not tokenize>".into();
    };
    let plain: Vec<Token> = toks.iter().map(|(t, _)| t.clone()).collect();
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    for ((_, span), secret) in toks.iter().zip(secrets(&plain)) {
        if let Some(r) = secret {
            out.push_str(sql.get(at..span.start).unwrap_or_default());
            out.push_str(&r);
            at = span.end;
        }
    }
    out.push_str(sql.get(at..).unwrap_or_default());
    out
}

struct Parser {
    toks: Vec<Token>,
    secrets: Vec<Option<String>>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn peek_kw_at(&self, off: usize, kw: &str) -> bool {
        matches!(self.toks.get(self.pos + off), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_punct(&mut self, c: char) -> bool {
        if self.peek() == Some(&Token::Punct(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn unexpected(&self, expected: &str) -> Error {
        match self.peek() {
            Some(t) => {
                let shown = match (self.secrets.get(self.pos), t) {
                    (Some(Some(r)), _) => r.clone(),
                    // Any URI without its query string, which may hold credentials.
                    (_, Token::Str(v)) if v.contains("://") => {
                        Token::Str(vouch_keys::uri_id_of(v)).to_string()
                    }
                    _ => t.to_string(),
                };
                Error::Syntax(format!("at or near \"{shown}\": expected {expected}"))
            }
            None => Error::Syntax(format!("at end of input: expected {expected}")),
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<()> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected(kw))
        }
    }

    fn string(&mut self, what: &str) -> Result<String> {
        match self.peek() {
            Some(Token::Str(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.unexpected(what)),
        }
    }

    /// A keyword or name: unquoted words are folded to lower case, as CockroachDB reads
    /// names; quoted names keep their case.
    fn word(&mut self, what: &str) -> Result<String> {
        match self.peek() {
            Some(Token::Word(w)) => {
                let w = w.to_lowercase();
                self.pos += 1;
                Ok(w)
            }
            Some(Token::Quoted(w)) => {
                let w = w.clone();
                self.pos += 1;
                Ok(w)
            }
            _ => Err(self.unexpected(what)),
        }
    }

    /// `'uri'` or `('uri', 'uri', …)`.
    fn uris(&mut self) -> Result<Vec<String>> {
        if self.eat_punct('(') {
            let mut v = vec![self.string("a URI string")?];
            while self.eat_punct(',') {
                v.push(self.string("a URI string")?);
            }
            if !self.eat_punct(')') {
                return Err(self.unexpected("\",\" or \")\""));
            }
            Ok(v)
        } else {
            Ok(vec![self.string("a URI string")?])
        }
    }

    /// `'subdir'` or `{'subdir'}`.
    fn subdir(&mut self) -> Result<String> {
        if self.eat_punct('{') {
            let s = self.string("a subdirectory string")?;
            if !self.eat_punct('}') {
                return Err(self.unexpected("\"}\""));
            }
            Ok(s)
        } else {
            self.string("LATEST or a subdirectory string")
        }
    }

    fn names(&mut self) -> Result<Vec<String>> {
        let mut v = vec![self.word("a name")?];
        while self.eat_punct(',') {
            v.push(self.word("a name")?);
        }
        Ok(v)
    }

    fn targets(&mut self, stop: &str) -> Result<TargetList> {
        if self.peek_kw(stop) {
            return Ok(TargetList::Cluster);
        }
        if self.eat_kw("DATABASE") {
            return Ok(TargetList::Databases(self.names()?));
        }
        if self.eat_kw("TABLE") {
            return Ok(TargetList::Tables(self.names()?));
        }
        Ok(TargetList::Tables(self.names()?))
    }

    fn as_of(&mut self) -> Result<Option<String>> {
        if !self.peek_kw("AS") {
            return Ok(None);
        }
        self.pos += 1;
        self.expect_kw("OF")?;
        self.expect_kw("SYSTEM")?;
        self.expect_kw("TIME")?;
        match self.peek() {
            Some(Token::Str(s) | Token::Word(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(Some(s))
            }
            _ => Err(self.unexpected("a time")),
        }
    }

    fn option_value(&mut self) -> Result<Value> {
        if self.eat_punct('(') {
            let mut v = vec![self.one_value()?];
            while self.eat_punct(',') {
                v.push(self.one_value()?);
            }
            if !self.eat_punct(')') {
                return Err(self.unexpected("\",\" or \")\""));
            }
            return Ok(Value::List(v));
        }
        Ok(Value::One(self.one_value()?))
    }

    fn one_value(&mut self) -> Result<String> {
        match self.peek() {
            Some(Token::Str(s) | Token::Word(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.unexpected("an option value")),
        }
    }

    /// `NAME = 'uri'` or `NAME = ('uri', …)` of ALTER BACKUP.
    fn kms_list(&mut self, name: &str) -> Result<Vec<String>> {
        self.expect_kw(name)?;
        if !self.eat_punct('=') {
            return Err(self.unexpected("\"=\""));
        }
        let v = self.uris()?;
        Ok(v)
    }

    fn alter_backup(&mut self) -> Result<Statement> {
        let subdir = if self.eat_kw("LATEST") {
            "LATEST".to_string()
        } else {
            self.subdir()?
        };
        self.expect_kw("IN")?;
        let uri = self.uris()?;
        self.expect_kw("ADD")?;
        let new_kms = self.kms_list("NEW_KMS")?;
        self.expect_kw("WITH")?;
        let old_kms = self.kms_list("OLD_KMS")?;
        self.end()?;
        Ok(Statement::AlterBackupKms {
            subdir,
            uri,
            new_kms,
            old_kms,
        })
    }

    fn options(&mut self) -> Result<Options> {
        if !self.eat_kw("WITH") {
            return Ok(Options::default());
        }
        self.eat_kw("OPTIONS");
        let paren = self.eat_punct('(');
        let mut v = Vec::new();
        loop {
            let name = self.word("an option name")?.to_ascii_lowercase();
            let value = if self.eat_punct('=') {
                Some(self.option_value()?)
            } else {
                None
            };
            v.push((name, value));
            if !self.eat_punct(',') {
                break;
            }
        }
        if paren && !self.eat_punct(')') {
            return Err(self.unexpected("\")\""));
        }
        Ok(Options(v))
    }

    fn end(&mut self) -> Result<()> {
        self.eat_punct(';');
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.unexpected("end of statement")),
        }
    }

    fn backup(&mut self) -> Result<Statement> {
        let targets = self.targets_before(&["INTO", "TO"])?;
        let dest = if self.eat_kw("INTO") {
            if self.eat_kw("LATEST") {
                self.expect_kw("IN")?;
                BackupDest::IntoLatest(self.uris()?)
            } else if matches!(self.peek(), Some(Token::Punct('{')))
                || (matches!(self.peek(), Some(Token::Str(_))) && self.peek_kw_at(1, "IN"))
            {
                let sub = self.subdir()?;
                self.expect_kw("IN")?;
                BackupDest::IntoSubdir(sub, self.uris()?)
            } else {
                BackupDest::Into(self.uris()?)
            }
        } else {
            self.expect_kw("TO")?;
            let to = self.uris()?;
            let mut as_of = self.as_of()?;
            let mut from = Vec::new();
            if self.eat_kw("INCREMENTAL") {
                self.expect_kw("FROM")?;
                from.push(self.uris()?);
                while self.eat_punct(',') {
                    from.push(self.uris()?);
                }
            }
            if as_of.is_none() {
                as_of = self.as_of()?;
            }
            let options = self.options()?;
            self.end()?;
            return Ok(Statement::Backup {
                targets,
                dest: BackupDest::To(to, from),
                as_of,
                options,
            });
        };
        let as_of = self.as_of()?;
        let options = self.options()?;
        self.end()?;
        Ok(Statement::Backup {
            targets,
            dest,
            as_of,
            options,
        })
    }

    fn targets_before(&mut self, stops: &[&str]) -> Result<TargetList> {
        if stops.iter().any(|s| self.peek_kw(s)) {
            return Ok(TargetList::Cluster);
        }
        self.targets(stops.first().copied().unwrap_or(""))
    }

    fn restore(&mut self) -> Result<Statement> {
        let targets = self.targets_before(&["FROM"])?;
        self.expect_kw("FROM")?;
        let from = if self.eat_kw("LATEST") {
            self.expect_kw("IN")?;
            RestoreFrom::Collection("LATEST".into(), self.uris()?)
        } else if matches!(self.peek(), Some(Token::Punct('{')))
            || (matches!(self.peek(), Some(Token::Str(_))) && self.peek_kw_at(1, "IN"))
        {
            let sub = self.subdir()?;
            self.expect_kw("IN")?;
            RestoreFrom::Collection(sub, self.uris()?)
        } else {
            let mut v = vec![self.uris()?];
            while self.eat_punct(',') {
                v.push(self.uris()?);
            }
            RestoreFrom::Layers(v)
        };
        let as_of = self.as_of()?;
        let options = self.options()?;
        self.end()?;
        Ok(Statement::Restore {
            targets,
            from,
            as_of,
            options,
        })
    }

    fn show(&mut self) -> Result<Statement> {
        if self.eat_kw("BACKUPS") {
            self.expect_kw("IN")?;
            let uri = self.uris()?;
            self.end()?;
            return Ok(Statement::ShowBackups { uri });
        }
        if self.eat_kw("SCHEDULES") || self.eat_kw("SCHEDULE") {
            return Ok(Statement::Unsupported("SHOW SCHEDULES"));
        }
        self.expect_kw("BACKUP")?;
        let schemas = self.eat_kw("SCHEMAS");
        if self.eat_kw("CONNECTION") {
            return Ok(Statement::Unsupported("SHOW BACKUP CONNECTION"));
        }
        self.expect_kw("FROM")?;
        let subdir = if self.eat_kw("LATEST") {
            "LATEST".to_string()
        } else {
            self.subdir()?
        };
        self.expect_kw("IN")?;
        let uri = self.uris()?;
        let options = self.options()?;
        self.end()?;
        Ok(Statement::ShowBackup {
            schemas,
            subdir,
            uri,
            options,
        })
    }
}

/// Parses one backup statement (see the module docs for the grammar).
pub fn parse(sql: &str) -> Result<Statement> {
    let toks = tokenize(sql)?;
    let secrets = secrets(&toks);
    let mut p = Parser {
        toks,
        secrets,
        pos: 0,
    };
    let first = p.word("a statement")?.to_ascii_uppercase();
    match first.as_str() {
        "BACKUP" => p.backup(),
        "RESTORE" => p.restore(),
        "SHOW" => p.show(),
        "CREATE" => {
            if p.eat_kw("SCHEDULE") {
                return Ok(Statement::Unsupported("CREATE SCHEDULE FOR BACKUP"));
            }
            p.expect_kw("EXTERNAL")?;
            p.expect_kw("CONNECTION")?;
            let name = p.word("a connection name")?;
            p.expect_kw("AS")?;
            let uri = p.string("a URI string")?;
            p.end()?;
            Ok(Statement::CreateExternalConnection { name, uri })
        }
        "ALTER" => {
            if p.eat_kw("BACKUP") {
                if p.eat_kw("SCHEDULE") {
                    return Ok(Statement::Unsupported("ALTER BACKUP SCHEDULE"));
                }
                return p.alter_backup();
            }
            if p.eat_kw("PARTITION") {
                return Ok(Statement::Unsupported(
                    "partitions (ALTER PARTITION … CONFIGURE ZONE)",
                ));
            }
            Ok(Statement::Unsupported("ALTER SCHEDULE"))
        }
        "DROP" => Ok(Statement::Unsupported("DROP SCHEDULE")),
        "PAUSE" => Ok(Statement::Unsupported("PAUSE JOB")),
        "RESUME" => Ok(Statement::Unsupported("RESUME JOB")),
        "CANCEL" => Ok(Statement::Unsupported("CANCEL JOB")),
        w => Err(Error::Syntax(format!(
            "at or near \"{w}\": not a backup statement"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uris(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

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

    #[test]
    fn backup_forms() {
        assert_eq!(
            parse("BACKUP INTO 'external://backup_s3' AS OF SYSTEM TIME '-10s'").unwrap(),
            Statement::Backup {
                targets: TargetList::Cluster,
                dest: BackupDest::Into(uris(&["external://backup_s3"])),
                as_of: Some("-10s".into()),
                options: Options::default(),
            }
        );
        assert_eq!(
            parse("backup bank.customers, bank.accounts into latest in 'u' with revision_history, detached = true").unwrap(),
            Statement::Backup {
                targets: TargetList::Tables(uris(&["bank.customers", "bank.accounts"])),
                dest: BackupDest::IntoLatest(uris(&["u"])),
                as_of: None,
                options: Options(vec![
                    ("revision_history".into(), None),
                    ("detached".into(), Some("true".into()))
                ]),
            }
        );
        assert_eq!(
            parse("BACKUP TABLE Bank.Customers, \"Mixed\" INTO 'u'").unwrap(),
            Statement::Backup {
                targets: TargetList::Tables(uris(&["bank.customers", "Mixed"])),
                dest: BackupDest::Into(uris(&["u"])),
                as_of: None,
                options: Options::default(),
            }
        );
        assert_eq!(
            parse("BACKUP DATABASE a, b INTO {'subdirectory'} IN 'u'").unwrap(),
            Statement::Backup {
                targets: TargetList::Databases(uris(&["a", "b"])),
                dest: BackupDest::IntoSubdir("subdirectory".into(), uris(&["u"])),
                as_of: None,
                options: Options::default(),
            }
        );
        assert_eq!(
            parse("BACKUP DATABASE bank TO 'b3' AS OF SYSTEM TIME '-10s' INCREMENTAL FROM 'b1', 'b2' WITH revision_history;").unwrap(),
            Statement::Backup {
                targets: TargetList::Databases(uris(&["bank"])),
                dest: BackupDest::To(uris(&["b3"]), vec![uris(&["b1"]), uris(&["b2"])]),
                as_of: Some("-10s".into()),
                options: Options(vec![("revision_history".into(), None)]),
            }
        );
        // AS OF SYSTEM TIME after INCREMENTAL FROM (the BACKUP page's form).
        assert_eq!(
            parse("BACKUP TABLE t TO ('a?COCKROACH_LOCALITY=default', 'b') INCREMENTAL FROM 'f' AS OF SYSTEM TIME 1655826000000000000.0000000001").unwrap(),
            Statement::Backup {
                targets: TargetList::Tables(uris(&["t"])),
                dest: BackupDest::To(uris(&["a?COCKROACH_LOCALITY=default", "b"]), vec![uris(&["f"])]),
                as_of: Some("1655826000000000000.0000000001".into()),
                options: Options::default(),
            }
        );
        assert_eq!(
            parse("BACKUP INTO 'u' WITH OPTIONS (encryption_passphrase = 'p')").unwrap(),
            Statement::Backup {
                targets: TargetList::Cluster,
                dest: BackupDest::Into(uris(&["u"])),
                as_of: None,
                options: Options(vec![("encryption_passphrase".into(), Some("p".into()))]),
            }
        );
    }

    #[test]
    fn restore_forms() {
        assert_eq!(
            parse("RESTORE FROM LATEST IN 'u'").unwrap(),
            Statement::Restore {
                targets: TargetList::Cluster,
                from: RestoreFrom::Collection("LATEST".into(), uris(&["u"])),
                as_of: None,
                options: Options::default(),
            }
        );
        assert_eq!(
            parse(
                "RESTORE DATABASE bank FROM '2021/03/24-210532.53' IN 'u' WITH new_db_name = 'b2'"
            )
            .unwrap(),
            Statement::Restore {
                targets: TargetList::Databases(uris(&["bank"])),
                from: RestoreFrom::Collection("2021/03/24-210532.53".into(), uris(&["u"])),
                as_of: None,
                options: Options(vec![("new_db_name".into(), Some("b2".into()))]),
            }
        );
        assert_eq!(
            parse(
                "RESTORE DATABASE foo FROM 'f', ('a', 'b') AS OF SYSTEM TIME '2017-02-28 10:00:00'"
            )
            .unwrap(),
            Statement::Restore {
                targets: TargetList::Databases(uris(&["foo"])),
                from: RestoreFrom::Layers(vec![uris(&["f"]), uris(&["a", "b"])]),
                as_of: Some("2017-02-28 10:00:00".into()),
                options: Options::default(),
            }
        );
        assert_eq!(
            parse("RESTORE system.users FROM 'x' WITH into_db = 'newdb'").unwrap(),
            Statement::Restore {
                targets: TargetList::Tables(uris(&["system.users"])),
                from: RestoreFrom::Layers(vec![uris(&["x"])]),
                as_of: None,
                options: Options(vec![("into_db".into(), Some("newdb".into()))]),
            }
        );
    }

    #[test]
    fn show_and_connections() {
        assert_eq!(
            parse("SHOW BACKUPS IN 's3://bucket/path?AUTH=implicit';").unwrap(),
            Statement::ShowBackups {
                uri: uris(&["s3://bucket/path?AUTH=implicit"])
            }
        );
        assert_eq!(
            parse("SHOW BACKUP SCHEMAS FROM LATEST IN 'u' WITH check_files").unwrap(),
            Statement::ShowBackup {
                schemas: true,
                subdir: "LATEST".into(),
                uri: uris(&["u"]),
                options: Options(vec![("check_files".into(), None)]),
            }
        );
        assert_eq!(
            parse("CREATE EXTERNAL CONNECTION backup_s3 AS 'nodelocal://1/b'").unwrap(),
            Statement::CreateExternalConnection {
                name: "backup_s3".into(),
                uri: "nodelocal://1/b".into()
            }
        );
        assert_eq!(
            parse("PAUSE JOB 27536791415282").unwrap(),
            Statement::Unsupported("PAUSE JOB")
        );
        assert_eq!(
            parse("CREATE SCHEDULE s FOR BACKUP INTO 'u' RECURRING '@daily'").unwrap(),
            Statement::Unsupported("CREATE SCHEDULE FOR BACKUP")
        );
    }

    #[test]
    fn option_lists_and_alter_backup() {
        assert_eq!(
            parse("BACKUP INTO 'u' WITH kms = ('aws:///a?REGION=x', 'file:///k'), encryption_passphrase = 'p'").unwrap(),
            Statement::Backup {
                targets: TargetList::Cluster,
                dest: BackupDest::Into(uris(&["u"])),
                as_of: None,
                options: Options(vec![
                    (
                        "kms".into(),
                        Some(Value::List(uris(&["aws:///a?REGION=x", "file:///k"])))
                    ),
                    ("encryption_passphrase".into(), Some("p".into())),
                ]),
            }
        );
        assert_eq!(
            parse("ALTER BACKUP LATEST IN 's3://b/p?AUTH=implicit' ADD NEW_KMS = 'aws:///new?R=1' WITH OLD_KMS = 'aws:///old?R=1'").unwrap(),
            Statement::AlterBackupKms {
                subdir: "LATEST".into(),
                uri: uris(&["s3://b/p?AUTH=implicit"]),
                new_kms: uris(&["aws:///new?R=1"]),
                old_kms: uris(&["aws:///old?R=1"]),
            }
        );
        assert_eq!(
            parse("alter backup '2023/03/23-213101.37' in 'u' add new_kms = ('a', 'b') with old_kms = ('c', 'd');").unwrap(),
            Statement::AlterBackupKms {
                subdir: "2023/03/23-213101.37".into(),
                uri: uris(&["u"]),
                new_kms: uris(&["a", "b"]),
                old_kms: uris(&["c", "d"]),
            }
        );
        assert_eq!(
            parse("ALTER BACKUP SCHEDULE 123 SET RECURRING '@daily'").unwrap(),
            Statement::Unsupported("ALTER BACKUP SCHEDULE")
        );
        assert_eq!(
            parse("ALTER BACKUP LATEST IN 'u' ADD NEW_KMS = 'a'")
                .unwrap_err()
                .to_string(),
            "syntax error: at end of input: expected WITH"
        );
    }

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

    #[test]
    fn syntax_errors_name_the_token() {
        assert_eq!(
            parse("BACKUP bank.customers TO 'u' AS OF SYSTEM TIME '2017-06-09 16:13:55.571516+00:00')")
                .unwrap_err()
                .to_string(),
            "syntax error: at or near \")\": expected end of statement"
        );
        assert_eq!(
            parse("BACKUP...AS OF SYSTEM TIME '2017-06-09'")
                .unwrap_err()
                .to_string(),
            "syntax error: at or near \".\": expected a name"
        );
        assert_eq!(
            parse("BACKUP DATABASE <database_name> TO 'x'")
                .unwrap_err()
                .to_string(),
            "syntax error: at or near \"<\": expected a name"
        );
        assert_eq!(
            parse("RESTORE FROM LATEST 'u'").unwrap_err().to_string(),
            "syntax error: at or near \"'u'\": expected IN"
        );
        assert_eq!(
            parse("SHOW BACKUPS IN").unwrap_err().to_string(),
            "syntax error: at end of input: expected a URI string"
        );
    }
}
