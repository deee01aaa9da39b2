//! # vouch-sql
//!
//! The statements a CockroachDB user types on the backup and restore pages, run against
//! vouch's embedded cluster: BACKUP, RESTORE, SHOW BACKUPS / SHOW BACKUP (encrypted ones
//! too: `WITH encryption_passphrase`, `WITH kms`), ALTER BACKUP … ADD NEW_KMS, CREATE
//! EXTERNAL CONNECTION (a hand-written grammar, [`grammar`]), and enough DDL/DML to set up and check
//! their examples (parsed with `sqlparser`, [`relational`]). Results are
//! [`vouch_engine::output::Table`]s rendered like `cockroach sql` prints them, or statement
//! tags (`CREATE TABLE`, `INSERT 0 3`). Statements of features vouch does not have yet parse
//! and fail with [`Error::NotSupported`] naming the feature. The accepted grammar is in
//! `spec/sql.md`.
//!
//! Owns the one statement grammar (`grammar`): `vouch sql` and the CLI's statement words
//! both go through it. Must never print (results are tables for the caller to render).

#![forbid(unsafe_code)]

pub mod backup_stmt;
pub mod grammar;
pub mod jobs;
pub mod relational;
pub mod schedule;
mod secrets;
pub mod split;
pub mod value;

use vouch_cluster::Cluster;
use vouch_engine::output::Table;

pub use split::split_statements;

/// Errors of the SQL front end; `Display` is the text after `ERROR: `.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The statement does not parse.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// A feature of a later vouch version.
    #[error("not supported yet: {0}")]
    NotSupported(String),
    /// The engine refused or failed (BACKUP, RESTORE, SHOW).
    #[error(transparent)]
    Engine(#[from] vouch_engine::Error),
    /// The cluster refused or failed (constraints, names, storage).
    #[error(transparent)]
    Cluster(#[from] vouch_cluster::Error),
    /// A schedule statement refused; `kind` says why.
    #[error("{message}")]
    Schedule {
        /// Why.
        kind: schedule::ScheduleErrorKind,
        /// What and where.
        message: String,
    },
    /// A job statement refused, or a job that did not complete; `kind` says why.
    #[error("{message}")]
    Job {
        /// Why.
        kind: jobs::JobErrorKind,
        /// What and where.
        message: String,
    },
    /// A locality-aware backup's URI list breaks CockroachDB's rules.
    #[error(transparent)]
    Locality(#[from] vouch_format::locality::LocalityError),
    /// A value does not fit its column, or a statement is used wrongly.
    #[error("{0}")]
    Usage(String),
}

impl From<vouch_chain::Error> for Error {
    fn from(e: vouch_chain::Error) -> Self {
        Error::Engine(e.into())
    }
}

impl From<vouch_format::Error> for Error {
    fn from(e: vouch_format::Error) -> Self {
        Error::Usage(e.to_string())
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a statement returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Rows.
    Rows(Table),
    /// A statement tag (`CREATE TABLE`, `INSERT 0 3`, `SET`).
    Tag(String),
}

impl Output {
    /// As `cockroach sql` prints it.
    pub fn render(&self) -> String {
        match self {
            Output::Rows(t) => t.render(),
            Output::Tag(s) => format!("{s}\n"),
        }
    }

    /// The rows, if this is a result table.
    pub fn table(&self) -> Option<&Table> {
        match self {
            Output::Rows(t) => Some(t),
            Output::Tag(_) => None,
        }
    }
}

/// A SQL session on a cluster: the current database and the statements run so far.
#[derive(Debug)]
pub struct Session<'a> {
    cluster: &'a Cluster,
    database: String,
}

impl<'a> Session<'a> {
    /// A session whose current database is `defaultdb`.
    pub fn new(cluster: &'a Cluster) -> Self {
        Session {
            cluster,
            database: "defaultdb".into(),
        }
    }

    /// The cluster.
    pub fn cluster(&self) -> &'a Cluster {
        self.cluster
    }

    /// The current database.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// What the session's statements resolve names and URIs against.
    pub fn scope(&self) -> backup_stmt::Scope<'_> {
        backup_stmt::Scope {
            database: Some(&self.database),
            cluster: Some(self.cluster),
        }
    }

    /// A session whose current database is `name`, which need not exist yet (as
    /// `cockroach sql --database`): statements that need it fail until it is created.
    pub fn with_database(cluster: &'a Cluster, name: &str) -> Self {
        Session {
            cluster,
            database: name.to_string(),
        }
    }

    /// Sets the current database (it must exist).
    pub fn set_database(&mut self, name: &str) -> Result<()> {
        let cat = self.cluster.catalog(self.cluster.now())?;
        if cat.database(name).is_none() {
            return Err(Error::Cluster(vouch_cluster::Error::UndefinedObject(
                format!("database \"{name}\" does not exist"),
            )));
        }
        self.database = name.to_string();
        Ok(())
    }

    /// Runs every statement of `sql` in order, stopping at the first error (like
    /// `cockroach sql -e`); `each` sees every output as its statement finishes.
    pub fn execute_script(&mut self, sql: &str, mut each: impl FnMut(&Output)) -> Result<usize> {
        let stmts = split_statements(sql)?;
        for s in &stmts {
            let out = self.execute(s)?;
            each(&out);
        }
        Ok(stmts.len())
    }

    /// Runs every statement of `sql`, returning their outputs.
    pub fn execute_all(&mut self, sql: &str) -> Result<Vec<Output>> {
        let mut v = Vec::new();
        self.execute_script(sql, |o| v.push(o.clone()))?;
        Ok(v)
    }

    /// Runs one statement (no `;` separators inside, a trailing one is allowed).
    pub fn execute(&mut self, stmt: &str) -> Result<Output> {
        let stmt = stmt.trim().trim_end_matches(';').trim();
        if grammar::is_backup_statement(stmt) {
            let parsed = grammar::parse(stmt)?;
            return backup_stmt::execute(self, &parsed, stmt);
        }
        relational::execute(self, stmt)
    }
}
