//! # vouch-store
//!
//! Where backups are kept: storage URIs and object stores. The rest of vouch reads and
//! writes collections only through the [`Store`] trait, so that the same engine and
//! verifier run on a local directory today and on object stores later.
//!
//! Owns storage URIs and the object interface. Must never delete or overwrite an object,
//! and knows nothing of the names inside a collection (those are `vouch_format::layout`'s).
//!
//! - [`open`] turns a storage URI into a store: `nodelocal://1/<path>` (also
//!   `nodelocal://self/<path>`) is `<path>` inside the cluster's external-I/O folder
//!   ([`OpenOptions::nodelocal_root`]), `file:///abs/path` and a bare `/abs/path` are that
//!   directory. `s3://bucket/path?…` is an [`ObjectStoreStore`] on Amazon S3 or an
//!   S3-compatible service, with CockroachDB's parameters (`AWS_ACCESS_KEY_ID`,
//!   `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT`,
//!   `AUTH=specified|implicit`, `S3_STORAGE_CLASS`; see `spec/storage.md`);
//!   `azure://container/path?…` (also `azure-blob://`, `azure-storage://`) one on Azure
//!   Blob Storage (`AZURE_ACCOUNT_NAME`, `AZURE_ACCOUNT_KEY`, `AZURE_ENVIRONMENT`,
//!   `AZURE_ENDPOINT`, `AUTH`); `http(s)://host/path` one on an HTTP (WebDAV) server.
//!   `gs://bucket/path?…` is one on Google Cloud Storage (`AUTH`, `CREDENTIALS`,
//!   `GS_ENDPOINT`).
//! - `userfile://[db.schema.prefix]/path` and `external://name[/path]` name storage a
//!   cluster keeps (files inside it, named connections). This crate knows no cluster
//!   (`vouch-cluster` is above it): [`open`] hands them to the [`ClusterStorage`] in
//!   [`OpenOptions::cluster`], which the caller that has a cluster open supplies
//!   (`vouch_engine::storage`); without one they are [`Error::NeedsCluster`]. An external
//!   connection resolves to its URI ([`join_connection`]) and that URI is opened like any
//!   other, so connections work for every scheme.
//! - Objects are named by `/`-separated paths relative to the store root, like object
//!   store keys. Objects are **written once**: [`Store::put_new`] and
//!   [`Store::create_new`] fail with [`Error::AlreadyExists`] rather than replace
//!   anything, and an object becomes visible only complete (atomically). Nothing here
//!   deletes or overwrites, so collections on object-locked (WORM) storage work.
//! - [`LocalStore`] writes into a hidden `.vouch-tmp/` folder at the store root, syncs the
//!   file, then hard-links it to its name (which fails if the name exists, even with
//!   concurrent writers) and syncs the directory. [`Store::list`] never shows `.vouch-tmp/`.
//! - [`ObjectStoreStore`] writes each object with one conditional create
//!   (`If-None-Match: *` on S3, Azure and HTTP; `ifGenerationMatch=0` on GCS): the
//!   service itself refuses to replace an object, even between racing writers.
//!
//! The API is synchronous; callers wanting parallelism use threads. Object stores run
//! their requests on one small tokio runtime of this crate's own.

use std::path::PathBuf;
use std::sync::Arc;

mod azure;
mod gcs;
mod http;
mod local;
mod object;
mod s3;
mod uri;

pub use local::{check_object_path, LocalStore};
pub use object::ObjectStoreStore;
pub use uri::{message_uri, parse_uri, redact_uri, Scheme, StorageUri};

/// Everything that can go wrong in a store. Messages name the object (as
/// `<store URI without query>/<path>`) or the URI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object does not exist (HTTP 404 on object stores).
    #[error("{path}: not found ({operation})")]
    NotFound {
        /// The object.
        path: String,
        /// What was asked ([`Operation::Read`], [`Operation::ReadRange`], or
        /// [`Operation::List`] for a folder an HTTP server does not have).
        operation: Operation,
    },
    /// The object exists already; objects are written once and never replaced.
    #[error("{path}: already exists (objects are written once, never overwritten)")]
    AlreadyExists {
        /// The object.
        path: String,
    },
    /// The service refused the request for want of permission: the credentials are wrong
    /// (HTTP 401) or lack the right to this operation on this object (HTTP 403). Retrying
    /// cannot help.
    #[error("{path}: {operation} refused by the service: {}", if *.status == 401 { "the credentials were not accepted (401 Unauthorized)" } else { "permission denied (403 Forbidden)" })]
    Denied {
        /// The object (or the folder listed).
        path: String,
        /// What was asked.
        operation: Operation,
        /// The HTTP status: 401 or 403.
        status: u16,
    },
    /// The operating system or the service failed.
    #[error("{path}: {source}")]
    Io {
        /// The object (or directory) being accessed.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// A ranged read goes past the end of the object.
    #[error("{path}: range of {len} bytes at offset {offset} goes past the end of the {size}-byte object")]
    RangeOutOfBounds {
        /// The object.
        path: String,
        /// Where the range starts.
        offset: u64,
        /// How many bytes were asked for.
        len: u64,
        /// The object's size.
        size: u64,
    },
    /// The URI cannot be used as written.
    #[error("bad storage URI {uri:?}: {reason}")]
    BadUri {
        /// The URI as given, with its secrets redacted ([`redact_uri`]).
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URI is valid but names storage vouch does not support yet.
    #[error("{feature} ({scheme}://) is not supported yet")]
    Unsupported {
        /// The scheme, e.g. `s3`.
        scheme: String,
        /// What is missing, e.g. `Amazon S3 storage`.
        feature: String,
    },
    /// The name is taken by something that is not an object: a symbolic link, a FIFO, a
    /// socket or a device. Stores never follow links or open special files, so nothing
    /// outside the store is read or written through them and no read blocks on a pipe.
    #[error("{path}: {found}, not an object (symbolic links and special files are never followed or opened)")]
    NotRegular {
        /// The entry (an object, or a folder on the way to one).
        path: String,
        /// What is there.
        found: Special,
    },
    /// The object is larger than its kind may be ([`Store::get_limited`]); nothing of it
    /// was read.
    #[error("{path}: {size} bytes, more than the {limit} an object of its kind may have")]
    TooLarge {
        /// The object.
        path: String,
        /// Its size (at least this many bytes).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The URI names storage a cluster keeps (`userfile://`, `external://`), and no
    /// cluster was given to open it ([`OpenOptions::cluster`]).
    #[error("{uri}: {feature} are kept in a cluster, and no cluster was given to read them from")]
    NeedsCluster {
        /// The URI (as messages show it).
        uri: String,
        /// What the URI names, e.g. `external connections`.
        feature: String,
    },
    /// `external://name` names no connection of the cluster.
    #[error(
        "external connection \"{name}\" does not exist (CREATE EXTERNAL CONNECTION {name} AS '…')"
    )]
    UnknownConnection {
        /// The connection's name.
        name: String,
    },
    /// An object path is not a valid relative path (absolute, `..`, empty component, NUL,
    /// or inside the store's reserved `.vouch-tmp/`).
    #[error("invalid object path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    /// The same error, a [`Error::NotFound`] naming `operation` as what was asked (a
    /// store's shared read path says which public operation it served).
    pub fn during(self, operation: Operation) -> Error {
        match self {
            Error::NotFound { path, .. } => Error::NotFound { path, operation },
            other => other,
        }
    }
}

/// What a store was asked to do, as [`Error::Denied`] and [`Error::NotFound`] name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Reading a whole object (`get`).
    Read,
    /// Reading a byte range of an object (`get_range`).
    ReadRange,
    /// Asking for an object's size (`size`, an HTTP HEAD).
    Size,
    /// Listing a folder (`list`).
    List,
    /// Writing a new object (`put_new`, `create_new`'s finish).
    Write,
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Operation::Read => "reading the object",
            Operation::ReadRange => "a ranged read of the object",
            Operation::Size => "asking for the object's size",
            Operation::List => "listing",
            Operation::Write => "writing the object",
        })
    }
}

/// What a non-object entry is ([`Error::NotRegular`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Special {
    /// A symbolic link.
    Symlink,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A block or character device.
    Device,
    /// Anything else that is neither a file nor a folder.
    Other,
}

impl std::fmt::Display for Special {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Special::Symlink => "a symbolic link",
            Special::Fifo => "a FIFO",
            Special::Socket => "a socket",
            Special::Device => "a device",
            Special::Other => "a special file",
        })
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectMeta {
    /// Path relative to the store root, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

/// A place objects are read from and written to once.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The URI as messages show it ([`message_uri`]: without its query string, which may
    /// hold credentials, and without user info); the URI as given is in
    /// [`Store::location`]. Names of objects in messages are `<this>/<path>`.
    fn uri(&self) -> &str;

    /// The whole object; [`Error::NotFound`] if it does not exist.
    fn get(&self, path: &str) -> Result<Vec<u8>>;

    /// The whole object if it has at most `limit` bytes; [`Error::TooLarge`] (with nothing
    /// read or allocated) if it has more. Readers of objects whose kind has a size limit
    /// (manifests, checksum files, markers, key records) use this, so a huge or sparse
    /// object cannot exhaust memory.
    fn get_limited(&self, path: &str, limit: u64) -> Result<Vec<u8>> {
        let too_large = |size| Error::TooLarge {
            path: format!("{}/{path}", self.uri().trim_end_matches('/')),
            size,
            limit,
        };
        match self.size(path)? {
            Some(size) if size > limit => Err(too_large(size)),
            _ => {
                let b = self.get(path)?;
                match b.len() as u64 {
                    n if n > limit => Err(too_large(n)),
                    _ => Ok(b),
                }
            }
        }
    }

    /// `len` bytes from `offset`; [`Error::NotFound`] if the object does not exist,
    /// [`Error::RangeOutOfBounds`] if the range goes past its end.
    fn get_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>>;

    /// The object's size, `None` if it does not exist.
    fn size(&self, path: &str) -> Result<Option<u64>>;

    /// Every object whose path starts with `prefix` (a string prefix, as object stores
    /// list: `a/` lists the folder `a`, `a/b` also matches `a/bc`), recursively, sorted by
    /// path. Empty when nothing matches, including when the store's root does not exist.
    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>>;

    /// Writes a new object atomically (readers see all of it or nothing);
    /// [`Error::AlreadyExists`], with the existing object unchanged, if it exists.
    fn put_new(&self, path: &str, bytes: &[u8]) -> Result<()>;

    /// Starts writing a new object by streaming; it becomes visible when
    /// [`ObjectWriter::finish`] succeeds, never before, and never replaces an object.
    fn create_new(&self, path: &str) -> Result<Box<dyn ObjectWriter>>;

    /// The parsed URI (query parameters such as `COCKROACH_LOCALITY` included), when the
    /// store was opened from one.
    fn location(&self) -> Option<&StorageUri> {
        None
    }

    /// How many bytes a reader going through an object in order should fetch per request
    /// (its read-ahead window): [`LOCAL_READ_AHEAD`] by default (a local read costs little
    /// more than its bytes), [`REMOTE_READ_AHEAD`] on object stores, where each request
    /// costs a round trip. Readers keep one window per object they read at once.
    fn read_ahead(&self) -> u64 {
        LOCAL_READ_AHEAD
    }

    /// Starts reading `len` bytes from `offset`; [`PendingRange::wait`] gives what
    /// [`Store::get_range`] would. By default the read is made when it is waited for;
    /// object stores send the request at once, so a reader going through an object in
    /// order can have the next [`Store::windows_ahead`] windows on their way while it
    /// works on one.
    fn start_range(&self, path: &str, offset: u64, len: u64) -> PendingRange<'_> {
        let path = path.to_string();
        PendingRange::new(move || self.get_range(&path, offset, len))
    }

    /// How many read-ahead windows beyond the one being read a reader going through an
    /// object in order should have requested ([`Store::start_range`]): none by default (a
    /// local read is not a round trip), [`REMOTE_WINDOWS_AHEAD`] on object stores.
    fn windows_ahead(&self) -> usize {
        0
    }

    /// How many of the last bytes of an object of `size` bytes a reader opening it should
    /// fetch with its first read of them (a data file's footer): none more than it asks
    /// for by default (a local read is not a round trip); on object stores as many as a
    /// data file's index and properties before its footer usually take too
    /// ([`remote_tail_read`]), so that opening a data file is one request, not two.
    fn tail_read(&self, size: u64) -> u64 {
        let _ = size;
        0
    }
}

/// [`Store::tail_read`] of object stores: 1/256 of the object (a data file's index is
/// about 1/450 of its data blocks), at least 256 KiB and at most [`REMOTE_TAIL_MAX`], and
/// never more than the object.
pub fn remote_tail_read(size: u64) -> u64 {
    (size / 256).clamp(256 << 10, REMOTE_TAIL_MAX).min(size)
}

/// The most bytes [`remote_tail_read`] asks for: 4 MiB (an object of 1 GiB or more).
pub const REMOTE_TAIL_MAX: u64 = 4 << 20;

/// A ranged read started by [`Store::start_range`]. Dropping it without waiting
/// abandons the read (an object store's request is cancelled).
pub struct PendingRange<'a>(Box<dyn FnOnce() -> Result<Vec<u8>> + Send + 'a>);

impl<'a> PendingRange<'a> {
    /// A read whose bytes `f` gives when waited for.
    pub fn new(f: impl FnOnce() -> Result<Vec<u8>> + Send + 'a) -> Self {
        PendingRange(Box::new(f))
    }

    /// The bytes read (as [`Store::get_range`] gives them), waiting for them if needed.
    pub fn wait(self) -> Result<Vec<u8>> {
        (self.0)()
    }
}

impl std::fmt::Debug for PendingRange<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingRange")
    }
}

/// [`Store::read_ahead`] of local stores: 256 KiB.
pub const LOCAL_READ_AHEAD: u64 = 256 << 10;

/// [`Store::read_ahead`] of object stores: 2 MiB (8 times fewer requests than a local
/// window, memory still bounded by the files a merge holds open).
pub const REMOTE_READ_AHEAD: u64 = 2 << 20;

/// [`Store::windows_ahead`] of object stores: up to four windows requested beyond the one
/// being read, so a file read in order has five requests in flight (round trips and the
/// server's work overlap the reader's work). Readers request none ahead of the first
/// window, so memory is five windows per object streaming and one per object a reader
/// paused on after its first window (a merge reading other files first).
pub const REMOTE_WINDOWS_AHEAD: usize = 4;

/// A new object being written by [`Store::create_new`]. Dropping it without
/// [`finish`](ObjectWriter::finish) is [`abort`](ObjectWriter::abort).
pub trait ObjectWriter: std::io::Write + Send {
    /// Makes the object visible atomically and returns its size;
    /// [`Error::AlreadyExists`] if another writer created the path first (then nothing of
    /// this writer is visible).
    fn finish(self: Box<Self>) -> Result<u64>;

    /// Discards what was written; nothing becomes visible.
    fn abort(self: Box<Self>);
}

/// How to open storage URIs.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// The cluster's external-I/O folder, which `nodelocal://1/<path>` is relative to.
    pub nodelocal_root: Option<PathBuf>,
    /// The cluster whose userfiles `userfile://` URIs name and whose connections
    /// `external://name` URIs name.
    pub cluster: Option<Arc<dyn ClusterStorage>>,
}

/// The storage a cluster keeps, as [`open`] asks for it: the seam through which a crate
/// that has a cluster open (`vouch-engine`) lends it to this one, which cannot depend on
/// the cluster crate.
pub trait ClusterStorage: Send + Sync + std::fmt::Debug {
    /// The URI the external connection `name` stands for; `None` if there is none.
    fn connection(&self, name: &str) -> Result<Option<String>>;

    /// The store of a `userfile://` URI: the files under `loc`'s path in the userfile
    /// table [`userfile_table`] names.
    fn open_userfile(&self, loc: StorageUri) -> Result<Box<dyn Store>>;
}

/// The userfile table CockroachDB uses when a `userfile://` URI names none
/// (`userfile:///path`): `defaultdb.public.userfiles_$user`, and vouch's one user is root.
pub const DEFAULT_USERFILE_TABLE: &str = "defaultdb.public.userfiles_root";

/// The userfile table (`db.schema.prefix`) a `userfile://` URI names: its host, or
/// [`DEFAULT_USERFILE_TABLE`] when it has none; `$user` (as the CockroachDB pages write
/// it) is root. Anything but three non-empty dot-separated names is [`Error::BadUri`].
pub fn userfile_table(loc: &StorageUri) -> Result<String> {
    if loc.host.is_empty() {
        return Ok(DEFAULT_USERFILE_TABLE.to_string());
    }
    let table = loc.host.replace("$user", "root");
    let parts: Vec<&str> = table.split('.').collect();
    let name_ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == '-')
    };
    if parts.len() != 3 || !parts.iter().all(|p| name_ok(p)) {
        return Err(Error::BadUri {
            uri: redact_uri(&loc.uri),
            reason: format!(
                "{:?} is not a userfile table: write userfile://database.schema.prefix/path (e.g. userfile://{DEFAULT_USERFILE_TABLE}/backups) or userfile:///path",
                loc.host
            ),
        });
    }
    Ok(table)
}

/// The URI `external://name[/more]` stands for when the connection `name` is `base`:
/// `more` joined to `base`'s path, `base`'s query string kept at the end.
pub fn join_connection(base: &str, more: &str) -> String {
    let more = more.trim_start_matches('/');
    if more.is_empty() {
        return base.to_string();
    }
    let (path, query) = match base.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (base, None),
    };
    let joined = format!("{}/{more}", path.trim_end_matches('/'));
    match query {
        Some(q) => format!("{joined}?{q}"),
        None => joined,
    }
}

/// Opens the store a URI names (see the crate docs for the schemes). Opening checks the
/// URI only: a collection that does not exist yet is created by its first write, and
/// reads of a missing one give [`Error::NotFound`] or an empty listing.
pub fn open(uri: &str, opts: &OpenOptions) -> Result<Box<dyn Store>> {
    let loc = parse_uri(uri)?;
    let bad = |reason: String| Error::BadUri {
        uri: redact_uri(uri),
        reason,
    };
    let root = match loc.scheme {
        Scheme::NodeLocal => {
            let node = loc.host.as_str();
            if node.is_empty() {
                return Err(bad(
                    "missing node: write nodelocal://1/<path> (or nodelocal://self/<path>)".into(),
                ));
            }
            if node != "self" && !node.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(format!(
                    "node {node:?} is not a node id; write nodelocal://1/<path> (or nodelocal://self/<path>)"
                )));
            }
            if node != "1" && node != "self" {
                return Err(Error::Unsupported {
                    scheme: loc.scheme_name.clone(),
                    feature: format!(
                        "node-local storage on node {node} (there is one node: use nodelocal://1/ or nodelocal://self/)"
                    ),
                });
            }
            let Some(base) = &opts.nodelocal_root else {
                return Err(bad(
                    "nodelocal:// is relative to the cluster's external-I/O folder, and none was given".into(),
                ));
            };
            let rel = loc.path.trim_start_matches('/');
            check_relative(rel).map_err(|r| bad(format!("path {:?}: {r}", loc.path)))?;
            base.join(rel)
        }
        Scheme::File => {
            if !loc.host.is_empty() && loc.host != "localhost" {
                return Err(bad(format!(
                    "file:// URIs name a local absolute path (file:///srv/backups); {:?} is read as a host",
                    loc.host
                )));
            }
            if !loc.path.starts_with('/') {
                return Err(bad(
                    "file:// needs an absolute path: file:///srv/backups".into()
                ));
            }
            PathBuf::from(&loc.path)
        }
        Scheme::Path => PathBuf::from(&loc.path),
        Scheme::S3 => return Ok(Box::new(s3::open(loc)?)),
        Scheme::Azure => return Ok(Box::new(azure::open(loc)?)),
        Scheme::Gs => return Ok(Box::new(gcs::open(loc)?)),
        Scheme::Http => return Ok(Box::new(http::open(loc)?)),
        Scheme::Userfile => {
            let Some(cluster) = &opts.cluster else {
                return Err(Error::NeedsCluster {
                    uri: message_uri(uri),
                    feature: "userfiles".into(),
                });
            };
            userfile_table(&loc)?;
            return cluster.open_userfile(loc);
        }
        Scheme::External => {
            let Some(cluster) = &opts.cluster else {
                return Err(Error::NeedsCluster {
                    uri: message_uri(uri),
                    feature: "external connections".into(),
                });
            };
            if !loc.query.is_empty() {
                return Err(bad(
                    "an external connection's parameters are the ones it was created with: write external://name[/path] without a query string".into(),
                ));
            }
            let Some(base) = cluster.connection(&loc.host)? else {
                return Err(Error::UnknownConnection { name: loc.host });
            };
            if base.starts_with("external://") {
                return Err(bad(
                    "an external connection cannot point at another external connection".into(),
                ));
            }
            return open(&join_connection(&base, &loc.path), opts);
        }
    };
    Ok(Box::new(LocalStore::with_location(root, loc)))
}

/// A path below a root: no `..` component (so it cannot escape the root). Empty and `.`
/// components are harmless here and allowed.
fn check_relative(rel: &str) -> std::result::Result<(), &'static str> {
    if rel.split('/').any(|c| c == "..") {
        return Err("'..' is not allowed");
    }
    Ok(())
}
