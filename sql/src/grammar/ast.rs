//! The parsed backup statements (the grammar's syntax tree).

use std::fmt;

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

    /// With `name` (an option without a value, such as `revision_history`) when `on`: the
    /// options of a statement built from command-line flags.
    pub fn flag(mut self, name: &str, on: bool) -> Self {
        if on {
            self.0.push((name.to_string(), None));
        }
        self
    }

    /// With `name = 'value'` when there is a value.
    pub fn text(mut self, name: &str, value: Option<String>) -> Self {
        if let Some(v) = value {
            self.0.push((name.to_string(), Some(Value::One(v))));
        }
        self
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
