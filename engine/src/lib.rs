//! # vouch-engine
//!
//! BACKUP and SHOW as CockroachDB's documentation describes them, writing vouch's own
//! format (spec/): full and incremental backups into collections, revision history,
//! AS OF SYSTEM TIME, resumable jobs with write-once progress checkpoints, and the
//! SHOW BACKUPS / SHOW BACKUP listings.
//!
//! The engine reads the embedded cluster (`vouch-cluster`) and writes through the
//! write-once object interface of `vouch-store`; it never overwrites or deletes an object.
//!
//! Owns the writing side: BACKUP, RESTORE's ingest into a cluster, SHOW, dump, the
//! encryption write side and the result tables. Reading a collection (chains, layers,
//! planning, the merge) is `vouch-chain`'s, shared with the verifier; the engine must
//! never read a collection another way, and never overwrite or delete an object.

#![forbid(unsafe_code)]

pub mod backup;
pub mod crypto;
pub mod dump;
pub mod output;
pub mod restore;
pub mod show;
pub mod storage;

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the collection failed (see [`vouch_chain::ErrorKind`]). A key error met
    /// while reading is [`Error::Key`], wherever it came from.
    #[error(transparent)]
    Chain(vouch_chain::Error),
    /// The cluster failed (including reads below the GC threshold).
    #[error(transparent)]
    Cluster(#[from] vouch_cluster::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] vouch_store::Error),
    /// Bytes did not decode.
    #[error("{context}: {source}")]
    Format {
        /// Which object.
        context: String,
        /// What was wrong.
        source: vouch_format::Error,
    },
    /// The request cannot be carried out as given, or the collection is not in a state
    /// this operation accepts; `kind` says which case.
    #[error("{message}")]
    Refused {
        /// Which case.
        kind: ErrorKind,
        /// What to tell the user.
        message: String,
    },
    /// A legacy `BACKUP … TO` destination already holds objects.
    #[error("{uri} already holds objects ({first_object} is there): a legacy BACKUP … TO needs an empty destination")]
    DestinationNotEmpty {
        /// The destination.
        uri: String,
        /// Its first object in name order.
        first_object: String,
    },
    /// A key could not be made or unlocked (the message names the cause, never a secret).
    #[error(transparent)]
    Key(#[from] vouch_keys::KeyError),
    /// An injected fault (tests): the backup stopped here on purpose.
    #[error("injected fault: {0}")]
    Injected(String),
    /// `SHOW BACKUP … WITH check_files`: the files of the first layer that has any that are
    /// missing, of another size, or of a locality none of the URIs given holds.
    #[error("The following files are missing or damaged in the backup: {}", show::list_problems(.0))]
    FilesMissing(Vec<show::FileProblem>),
}

impl From<vouch_chain::Error> for Error {
    fn from(e: vouch_chain::Error) -> Self {
        match e.into_key_error() {
            Ok(k) => Error::Key(k),
            Err(e) => Error::Chain(e),
        }
    }
}

/// What kind of error an [`Error`] is: what callers and tests tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading the collection failed; the read side's kind says how.
    Read(vouch_chain::ErrorKind),
    /// The cluster failed or refused (including reads below the GC threshold).
    Cluster,
    /// The store failed.
    Store,
    /// Bytes did not decode.
    Format,
    /// A key could not be made or unlocked.
    Key,
    /// An injected fault (tests).
    Injected,
    /// A request that does not make sense as given (a bad option value).
    Usage,
    /// `AS OF SYSTEM TIME` in the future, or an incremental that would not end after the
    /// layer it extends.
    InvalidTime,
    /// A legacy `BACKUP … TO` destination already holds objects.
    DestinationNotEmpty,
    /// A backup already exists, or is in progress, where this one would be written.
    AlreadyExists,
    /// A resumed backup met an object an earlier run wrote with other contents.
    ResumeConflict,
    /// An incremental's targets differ from its full backup's.
    TargetsMismatch,
    /// The backup named is not in the collection.
    NotFound,
    /// `ALTER BACKUP … ADD NEW_KMS` on a backup that is not encrypted.
    NotEncrypted,
    /// Stored data disagrees with its schema or its manifest.
    DataMismatch,
    /// A restored index's fingerprint differs from the one the backup recorded.
    FingerprintMismatch,
    /// `SHOW BACKUP … WITH check_files` found files missing or damaged.
    FilesMissing,
    /// The backup was asked to stop ([`backup::BackupOptions::stop`]) and did, after a
    /// data file's checkpoint: running the same request again resumes it. A restore job
    /// ([`restore::RestoreJob::stop`]) stops the same way at a table's checkpoint.
    Stopped,
    /// `WITH EXECUTION LOCALITY`: no node matches the filter (or the filter is malformed).
    ExecutionLocality,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn refused(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error::Refused {
            kind,
            message: message.into(),
        }
    }

    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Chain(e) => ErrorKind::Read(e.kind()),
            Error::Cluster(_) => ErrorKind::Cluster,
            Error::Store(_) => ErrorKind::Store,
            Error::Format { .. } => ErrorKind::Format,
            Error::Refused { kind, .. } => *kind,
            Error::DestinationNotEmpty { .. } => ErrorKind::DestinationNotEmpty,
            Error::Key(_) => ErrorKind::Key,
            Error::Injected(_) => ErrorKind::Injected,
            Error::FilesMissing(_) => ErrorKind::FilesMissing,
        }
    }
}

impl From<vouch_format::Error> for Error {
    fn from(source: vouch_format::Error) -> Self {
        Error::Format {
            context: "format".into(),
            source,
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn ctx<T>(r: vouch_format::Result<T>, context: impl Into<String>) -> Result<T> {
    r.map_err(|source| Error::Format {
        context: context.into(),
        source,
    })
}

/// `WITH EXECUTION LOCALITY = 'filter'`: the node that coordinates the job, the first (lowest
/// id) node having every tier of the filter; none → CockroachDB's `no instances found
/// matching locality filter <filter>`. Without a filter, node 1.
pub fn coordinator(cluster: &vouch_cluster::Cluster, filter: Option<&str>) -> Result<u32> {
    let nodes = cluster.nodes()?;
    let Some(text) = filter else {
        return Ok(nodes.first().map_or(1, |n| n.id));
    };
    let f = vouch_format::locality::Locality::parse(text)
        .map_err(|e| Error::refused(ErrorKind::ExecutionLocality, e.to_string()))?;
    nodes
        .iter()
        .find(|n| vouch_format::locality::matches(&n.locality, &f))
        .map(|n| n.id)
        .ok_or_else(|| {
            Error::refused(
                ErrorKind::ExecutionLocality,
                format!("no instances found matching locality filter {f}"),
            )
        })
}

/// A new job id: CockroachDB job ids are large positive int64s.
pub fn new_job_id() -> u64 {
    use rand::RngCore;
    (rand::thread_rng().next_u64() >> 2) | (1 << 59)
}
