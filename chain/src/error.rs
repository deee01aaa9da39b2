//! The chain crate's error: a [`ErrorKind`] that callers and tests match on, the object
//! it concerns, a message for people, and the lower-level cause when there is one.

use std::fmt;

/// What went wrong, as callers tell it apart. Matching on message text is never needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The store failed (I/O, permissions, a special file); the cause is a
    /// [`vouch_store::Error`].
    Store,
    /// Stored bytes did not decode, or a checksum did not match; the cause is a
    /// [`vouch_format::Error`].
    Format,
    /// A key could not be made, unlocked or was missing; the cause is a
    /// [`vouch_keys::KeyError`].
    Key,
    /// Something asked for is not there: no LATEST, no such backup.
    NotFound,
    /// The layers do not form one chain: an incremental first, a layer of another chain, a
    /// replaced or reordered layer, a gap in time, a span no layer covers.
    ChainBroken,
    /// `AS OF SYSTEM TIME` outside what the chain can restore.
    InvalidTime,
    /// A data file disagrees with its manifest or breaks an invariant the writer keeps
    /// (missing, wrong size, keys out of order or outside their table, rows that do not
    /// decode against their descriptor).
    DataMismatch,
    /// An encrypted layer's integrity listing is missing or disagrees with its manifest.
    ListingMismatch,
    /// A manifest breaks a rule of its own (`vouch_format::manifest::rules`): a file
    /// listed twice, overlapping file key ranges, times, mvcc filter, revision start,
    /// spans or introduced spans that the writer never produces.
    ManifestInconsistent,
    /// An encrypted chain's key records break a rule (spec/keys.md §2): one missing,
    /// damaged, not a rotation of the one before, too many, or too costly to open.
    KeyRecord(crate::sealed::KeyRecordProblem),
    /// An encrypted object was met while no key was read.
    Encrypted,
    /// A stored format version this reader does not support.
    Unsupported,
    /// RESTORE targets not found in the backup.
    TargetNotFound,
    /// A name the restore would create exists already in the target.
    NameCollision,
    /// The restore would pass with an option it was not given
    /// (`skip_missing_foreign_keys`, `skip_missing_views`).
    NeedsOption,
    /// The restore is refused as asked (a cluster restore of a partial backup or into a
    /// cluster with objects, a database from a table backup, `DATABASE system`).
    Refused,
    /// Options that do not go together, or a malformed request.
    Usage,
    /// A locality-aware layer's part (`BACKUP_PART_<n>_<locality>`) is in none of the
    /// stores given, or belongs to another backup.
    LocalityPart,
}

impl ErrorKind {
    /// A stable snake_case name (used in reports).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Store => "store",
            ErrorKind::Format => "format",
            ErrorKind::Key => "key",
            ErrorKind::NotFound => "not_found",
            ErrorKind::ChainBroken => "chain_broken",
            ErrorKind::InvalidTime => "invalid_time",
            ErrorKind::DataMismatch => "data_mismatch",
            ErrorKind::ListingMismatch => "listing_mismatch",
            ErrorKind::ManifestInconsistent => "manifest_inconsistent",
            ErrorKind::KeyRecord(p) => p.name(),
            ErrorKind::Encrypted => "encrypted",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::TargetNotFound => "target_not_found",
            ErrorKind::NameCollision => "name_collision",
            ErrorKind::NeedsOption => "needs_option",
            ErrorKind::Refused => "refused",
            ErrorKind::Usage => "usage",
            ErrorKind::LocalityPart => "locality_part",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The lower-level cause of an [`Error`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Cause {
    /// A store error.
    Store(vouch_store::Error),
    /// A format error.
    Format(vouch_format::Error),
    /// A key error.
    Key(vouch_keys::KeyError),
}

/// An error of the read side: its kind, the object it concerns, and its cause (boxed, so
/// results stay small).
#[derive(Debug)]
pub struct Error(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    /// The object it concerns (`uri/dir/file`), when one.
    object: Option<String>,
    /// The message (without the cause, which [`fmt::Display`] appends).
    message: String,
    cause: Option<Cause>,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(Inner {
            kind,
            object: None,
            message: message.into(),
            cause: None,
        }))
    }

    /// The same error, naming the object it concerns.
    #[must_use]
    pub fn with_object(mut self, object: impl Into<String>) -> Self {
        self.0.object = Some(object.into());
        self
    }

    /// A format error met while reading `object`.
    pub fn format(object: impl Into<String>, source: vouch_format::Error) -> Self {
        let object = object.into();
        Error(Box::new(Inner {
            kind: ErrorKind::Format,
            message: object.clone(),
            object: Some(object),
            cause: Some(Cause::Format(source)),
        }))
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The object it concerns, when one.
    pub fn object(&self) -> Option<&str> {
        self.0.object.as_deref()
    }

    /// The cause, when there is one.
    pub fn cause(&self) -> Option<&Cause> {
        self.0.cause.as_ref()
    }

    /// The format error behind it, when there is one.
    pub fn format_error(&self) -> Option<&vouch_format::Error> {
        match &self.0.cause {
            Some(Cause::Format(e)) => Some(e),
            _ => None,
        }
    }

    /// The key error behind it, when there is one.
    pub fn key_error(&self) -> Option<&vouch_keys::KeyError> {
        match &self.0.cause {
            Some(Cause::Key(e)) => Some(e),
            _ => None,
        }
    }

    /// The key error behind it, as a value; the error itself when it has none.
    pub fn into_key_error(self) -> Result<vouch_keys::KeyError, Self> {
        let mut inner = self.0;
        match inner.cause.take() {
            Some(Cause::Key(e)) => Ok(e),
            cause => {
                inner.cause = cause;
                Err(Error(inner))
            }
        }
    }

    /// The store error behind it, when there is one.
    pub fn store_error(&self) -> Option<&vouch_store::Error> {
        match &self.0.cause {
            Some(Cause::Store(e)) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.cause {
            // Store and key errors say everything themselves.
            Some(Cause::Store(e)) => write!(f, "{e}"),
            Some(Cause::Key(e)) => write!(f, "{e}"),
            Some(Cause::Format(e)) => write!(f, "{}: {e}", self.0.message),
            None => f.write_str(&self.0.message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // Store and key causes are shown as this error's own message (transparently), so
        // their own source comes next in a cause chain, never themselves again.
        match &self.0.cause {
            Some(Cause::Store(e)) => e.source(),
            Some(Cause::Format(e)) => Some(e),
            Some(Cause::Key(e)) => e.source(),
            None => None,
        }
    }
}

impl From<vouch_store::Error> for Error {
    fn from(e: vouch_store::Error) -> Self {
        let kind = match e {
            vouch_store::Error::NotFound { .. } => ErrorKind::NotFound,
            _ => ErrorKind::Store,
        };
        Error(Box::new(Inner {
            kind,
            object: None,
            message: String::new(),
            cause: Some(Cause::Store(e)),
        }))
    }
}

impl From<vouch_keys::KeyError> for Error {
    fn from(e: vouch_keys::KeyError) -> Self {
        Error(Box::new(Inner {
            kind: ErrorKind::Key,
            object: None,
            message: String::new(),
            cause: Some(Cause::Key(e)),
        }))
    }
}

impl From<vouch_format::Error> for Error {
    fn from(source: vouch_format::Error) -> Self {
        Error::format("format", source)
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches the object name to a format result.
pub(crate) fn ctx<T>(r: vouch_format::Result<T>, object: impl Into<String>) -> Result<T> {
    r.map_err(|e| Error::format(object, e))
}
