//! Statements of the pages' setup steps that `sqlparser`'s PostgreSQL dialect reads
//! differently from CockroachDB: `SHOW DATABASES`, `SHOW TABLES [FROM db]`, `SHOW CREATE
//! [TABLE|VIEW] name`, `CREATE USER name [[WITH] PASSWORD 'pw' | PASSWORD NULL]` and
//! `DROP USER [IF EXISTS] name[, …]`. Read from `sqlparser`'s tokens (quotes and case as
//! SQL has them), answered with CockroachDB's columns and tags.

use rand::RngCore;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};
use vouch_engine::output::Table;
use vouch_format::manifest::pb;
use vouch_format::schema::{Kind, SYSTEM_DATABASE_ID};

use super::names::{syntax, unsupported};
use crate::{Error, Output, Result, Session};

/// A word or a string of the statement, without whitespace.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// A keyword or identifier: folded to lower case unless it was quoted.
    Word { text: String, quoted: bool },
    /// A string literal.
    Str(String),
    /// `.`
    Period,
    /// `,`
    Comma,
    /// Anything else (kept as SQL text for messages).
    Other(String),
}

pub(super) fn tokens(stmt: &str) -> Result<Vec<Tok>> {
    let raw = Tokenizer::new(&PostgreSqlDialect {}, stmt)
        .tokenize()
        .map_err(syntax)?;
    Ok(raw
        .into_iter()
        .filter_map(|t| match t {
            Token::Whitespace(_) | Token::SemiColon => None,
            Token::Word(w) => Some(match w.quote_style {
                None => Tok::Word {
                    text: w.value.to_lowercase(),
                    quoted: false,
                },
                Some(_) => Tok::Word {
                    text: w.value,
                    quoted: true,
                },
            }),
            Token::SingleQuotedString(s) => Some(Tok::Str(s)),
            Token::Period => Some(Tok::Period),
            Token::Comma => Some(Tok::Comma),
            other => Some(Tok::Other(other.to_string())),
        })
        .collect())
}

/// Whether `t` is the unquoted keyword `kw` (lower case).
pub(super) fn kw(t: Option<&Tok>, kw: &str) -> bool {
    matches!(t, Some(Tok::Word { text, quoted: false }) if text == kw)
}

/// The statements this module answers, by their first words.
pub(super) fn handles(stmt: &str) -> bool {
    let Ok(t) = tokens(stmt) else { return false };
    let (a, b) = (t.first(), t.get(1));
    (kw(a, "show") && (kw(b, "databases") || kw(b, "tables") || kw(b, "create")))
        || ((kw(a, "create") || kw(a, "drop")) && kw(b, "user"))
}

/// Runs one of the statements [`handles`] accepts.
pub(super) fn execute(s: &Session<'_>, stmt: &str) -> Result<Output> {
    let t = tokens(stmt)?;
    match (t.first(), t.get(1)) {
        (a, b) if kw(a, "show") && kw(b, "databases") => {
            end(&t, 2)?;
            show_databases(s)
        }
        (a, b) if kw(a, "show") && kw(b, "tables") => {
            let db = match t.get(2) {
                None => s.database().to_string(),
                Some(_) if kw(t.get(2), "from") => {
                    let (db, n) = name(&t, 3)?;
                    end(&t, n)?;
                    db
                }
                Some(other) => return Err(unexpected(other)),
            };
            show_tables(s, &db)
        }
        (a, b) if kw(a, "show") && kw(b, "create") => {
            let mut i = 2;
            if kw(t.get(2), "table") || kw(t.get(2), "view") {
                i = 3;
            }
            let (first, mut n) = name(&t, i)?;
            let mut parts = vec![first];
            while t.get(n) == Some(&Tok::Period) {
                let (p, m) = name(&t, n + 1)?;
                parts.push(p);
                n = m;
            }
            end(&t, n)?;
            show_create(s, &parts)
        }
        (a, b) if kw(a, "create") && kw(b, "user") => create_user(s, &t),
        (a, b) if kw(a, "drop") && kw(b, "user") => drop_user(s, &t),
        _ => Err(unsupported(stmt)),
    }
}

pub(super) fn unexpected(t: &Tok) -> Error {
    let text = match t {
        Tok::Word { text, .. } | Tok::Other(text) => text.clone(),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Period => ".".into(),
        Tok::Comma => ",".into(),
    };
    Error::Syntax(format!("at or near \"{text}\": syntax error"))
}

/// Nothing after position `i`.
pub(super) fn end(t: &[Tok], i: usize) -> Result<()> {
    match t.get(i) {
        None => Ok(()),
        Some(x) => Err(unexpected(x)),
    }
}

/// The identifier at `i` and the position after it.
pub(super) fn name(t: &[Tok], i: usize) -> Result<(String, usize)> {
    match t.get(i) {
        Some(Tok::Word { text, .. }) => Ok((text.clone(), i + 1)),
        Some(x) => Err(unexpected(x)),
        None => Err(Error::Syntax("at end of input: a name is missing".into())),
    }
}

fn catalog(s: &Session<'_>) -> Result<vouch_format::schema::Catalog> {
    Ok(s.cluster().catalog(s.cluster().now())?)
}

/// `SHOW DATABASES`: CockroachDB's columns; one region-less node, owned by `root`
/// (`system` by `node`), in name order.
fn show_databases(s: &Session<'_>) -> Result<Output> {
    let cat = catalog(s)?;
    let mut names: Vec<&str> = cat
        .iter()
        .filter(|d| Kind::of(d) == Some(Kind::Database))
        .map(|d| d.name.as_str())
        .collect();
    names.sort_unstable();
    let mut t = Table::new(&[
        "database_name",
        "owner",
        "primary_region",
        "secondary_region",
        "regions",
        "survival_goal",
    ]);
    for n in names {
        let owner = if n == "system" { "node" } else { "root" };
        t.rows.push(vec![
            Some(n.to_string()),
            Some(owner.to_string()),
            None,
            None,
            Some("{}".into()),
            None,
        ]);
    }
    Ok(Output::Rows(t))
}

/// `SHOW TABLES [FROM db]`: tables and views of `db`, in name order, with their row counts
/// (exact: the estimate CockroachDB gives from statistics is a count here).
fn show_tables(s: &Session<'_>, db: &str) -> Result<Output> {
    let cat = catalog(s)?;
    let d = cat.database(db).ok_or_else(|| {
        Error::Cluster(vouch_cluster::Error::UndefinedObject(format!(
            "database \"{db}\" does not exist"
        )))
    })?;
    let mut objects: Vec<&pb::Descriptor> = cat
        .children(d.id)
        .into_iter()
        .filter(|o| matches!(Kind::of(o), Some(Kind::Table | Kind::View)))
        .collect();
    objects.sort_by(|a, b| a.name.cmp(&b.name));
    let mut t = Table::new(&[
        "schema_name",
        "table_name",
        "type",
        "owner",
        "estimated_row_count#",
        "locality",
    ]);
    for o in objects {
        let (kind, rows) = match Kind::of(o) {
            Some(Kind::View) => ("view", None),
            _ => {
                let mut n = 0u64;
                s.cluster().scan_rows(o, s.cluster().now(), |_| {
                    n += 1;
                    Ok(true)
                })?;
                ("table", Some(n.to_string()))
            }
        };
        let owner = if d.id == SYSTEM_DATABASE_ID {
            "node"
        } else {
            "root"
        };
        t.rows.push(vec![
            Some("public".into()),
            Some(o.name.clone()),
            Some(kind.into()),
            Some(owner.into()),
            rows,
            None,
        ]);
    }
    Ok(Output::Rows(t))
}

/// `SHOW CREATE [TABLE|VIEW] name`: the name as given and the statement SHOW BACKUP
/// SCHEMAS prints for the object.
fn show_create(s: &Session<'_>, parts: &[String]) -> Result<Output> {
    let (db, obj) = match parts {
        [t] => (s.database().to_string(), t.clone()),
        [sc, t] if sc == "public" => (s.database().to_string(), t.clone()),
        [db, t] => (db.clone(), t.clone()),
        [db, sc, t] if sc == "public" => (db.clone(), t.clone()),
        _ => {
            return Err(Error::Usage(format!(
                "name \"{}\": expected table, database.table or database.public.table",
                parts.join(".")
            )))
        }
    };
    let cat = catalog(s)?;
    let d = cat
        .database(&db)
        .and_then(|d| cat.object(d.id, &obj))
        .filter(|o| matches!(Kind::of(o), Some(Kind::Table | Kind::View)))
        .ok_or_else(|| {
            Error::Cluster(vouch_cluster::Error::UndefinedObject(format!(
                "relation \"{}\" does not exist",
                parts.join(".")
            )))
        })?;
    let mut t = Table::new(&["table_name", "create_statement"]);
    t.rows.push(vec![
        Some(parts.join(".")),
        Some(vouch_engine::show::create_statement(&cat, d)),
    ]);
    Ok(Output::Rows(t))
}

/// `CREATE USER [IF NOT EXISTS] name [[WITH] PASSWORD 'pw' | [WITH] PASSWORD NULL]`: a row
/// of `system.users` with the password's PBKDF2 hash (a random salt), never the password.
fn create_user(s: &Session<'_>, t: &[Tok]) -> Result<Output> {
    let mut i = 2;
    let if_not_exists = kw(t.get(2), "if") && kw(t.get(3), "not") && kw(t.get(4), "exists");
    if if_not_exists {
        i = 5;
    }
    let (user, mut i) = name(t, i)?;
    if kw(t.get(i), "with") {
        i += 1;
    }
    let password = if kw(t.get(i), "password") {
        let p = match t.get(i + 1) {
            Some(Tok::Str(p)) => Some(p.clone()),
            Some(x) if kw(Some(x), "null") => None,
            Some(x) => return Err(unexpected(x)),
            None => {
                return Err(Error::Syntax(
                    "at end of input: PASSWORD needs a value".into(),
                ))
            }
        };
        i += 2;
        p
    } else {
        None
    };
    end(t, i)?;
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    match s.cluster().create_user(&user, password.as_deref(), salt) {
        Err(vouch_cluster::Error::DuplicateObject(_)) if if_not_exists => {}
        other => other?,
    }
    Ok(Output::Tag("CREATE ROLE".into()))
}

/// `DROP USER [IF EXISTS] name[, …]`: their rows of `system.users`; `root` and `admin`
/// cannot be dropped.
fn drop_user(s: &Session<'_>, t: &[Tok]) -> Result<Output> {
    let mut i = 2;
    let if_exists = kw(t.get(2), "if") && kw(t.get(3), "exists");
    if if_exists {
        i = 4;
    }
    let mut users = Vec::new();
    loop {
        let (u, n) = name(t, i)?;
        users.push(u);
        if t.get(n) == Some(&Tok::Comma) {
            i = n + 1;
        } else {
            end(t, n)?;
            break;
        }
    }
    for u in &users {
        if u == "root" || u == "admin" {
            return Err(Error::Usage(format!("cannot drop special role {u}")));
        }
    }
    for u in &users {
        match s.cluster().drop_user(u) {
            Err(vouch_cluster::Error::UndefinedObject(_)) if if_exists => {}
            other => other?,
        }
    }
    Ok(Output::Tag("DROP ROLE".into()))
}

/// `DROP DATABASE [IF EXISTS] name [CASCADE | RESTRICT]`: CASCADE (the default, as in
/// CockroachDB) drops its views, tables and types (dependents first) and then its schema
/// and itself; RESTRICT refuses a database that holds any of them. `system` is refused.
pub(super) fn drop_database(
    s: &Session<'_>,
    names: &[sqlparser::ast::ObjectName],
    if_exists: bool,
    restrict: bool,
) -> Result<Output> {
    for n in names {
        let db = super::names::name_parts(n).join(".");
        let cat = catalog(s)?;
        let Some(d) = cat.database(&db) else {
            if if_exists {
                continue;
            }
            return Err(Error::Cluster(vouch_cluster::Error::UndefinedObject(
                format!("database \"{db}\" does not exist"),
            )));
        };
        if d.id == SYSTEM_DATABASE_ID {
            return Err(Error::Usage("cannot drop database \"system\"".into()));
        }
        let rank = |o: &pb::Descriptor| match Kind::of(o) {
            Some(Kind::View) => 0,
            Some(Kind::Table) => 1,
            Some(Kind::Schema) => 3,
            _ => 2,
        };
        let mut objects: Vec<&pb::Descriptor> = cat.children(d.id);
        objects.sort_by_key(|o| (rank(o), o.id));
        if restrict && objects.iter().any(|o| rank(o) < 3) {
            return Err(Error::Usage(format!(
                "database \"{db}\" is not empty and RESTRICT was specified"
            )));
        }
        // Dependents go first; an object another one still depends on waits for a later
        // pass, and a pass that drops nothing ends with the refusal.
        let mut left: Vec<u64> = objects.iter().map(|o| o.id).collect();
        left.push(d.id);
        while !left.is_empty() {
            let before = left.len();
            let mut refusal = None;
            let mut next = Vec::new();
            for id in left {
                match s.cluster().drop_object(id) {
                    Ok(_) => {}
                    Err(e @ vouch_cluster::Error::Constraint(_)) => {
                        refusal = Some(e);
                        next.push(id);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if next.len() == before {
                if let Some(e) = refusal {
                    return Err(e.into());
                }
            }
            left = next;
        }
    }
    Ok(Output::Tag("DROP DATABASE".into()))
}
