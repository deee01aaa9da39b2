//! # vouch-engine
//!
//! BACKUP and SHOW as CockroachDB's documentation describes them, writing vouch's own
//! format (spec/): full and incremental backups into collections, revision history,
//! AS OF SYSTEM TIME, resumable jobs with write-once progress checkpoints, and the
//! SHOW BACKUPS / SHOW BACKUP listings.
//!
//! The engine reads the embedded cluster (`vouch-cluster`) and writes through the
//! write-once object interface of `vouch-store`; it never overwrites or deletes an object.

#![forbid(unsafe_code)]

pub mod backup;
pub mod crypto;
pub mod dump;
pub mod restore;
pub mod show;

pub use backup::{backup, BackupOptions, BackupResult, Destination, Faults};
pub use restore::{restore, RestoreResult};

/// Errors of the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the collection failed (see [`vouch_chain::ErrorKind`]).
    #[error(transparent)]
    Chain(#[from] vouch_chain::Error),
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
    /// The request cannot be carried out as given.
    #[error("{0}")]
    Usage(String),
    /// The collection is not in a state this operation accepts.
    #[error("{0}")]
    Collection(String),
    /// A key could not be made or unlocked (the message names the cause, never a secret).
    #[error(transparent)]
    Key(#[from] vouch_keys::KeyError),
    /// An injected fault (tests): the backup stopped here on purpose.
    #[error("injected fault: {0}")]
    Injected(String),
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

/// A new job id: CockroachDB job ids are large positive int64s.
pub(crate) fn new_job_id() -> u64 {
    use rand::RngCore;
    (rand::thread_rng().next_u64() >> 2) | (1 << 59)
}
