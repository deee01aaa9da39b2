//! A store on an object service (S3, Google Cloud Storage, Azure Blob Storage, HTTP/WebDAV)
//! through the `object_store` crate: the
//! crate's clients speak the protocol (signing, retries with backoff, ranged GETs,
//! paginated listings, conditional PUT); this module maps them onto [`Store`]'s
//! synchronous, write-once semantics.
//!
//! - Objects are keys under the URI's path (`s3://bucket/a/b` + `x/y` is the key
//!   `a/b/x/y`).
//! - [`Store::put_new`] is a conditional create (`PutMode::Create`: S3's and Azure's
//!   `If-None-Match: *`), so the service refuses to replace an object even when two
//!   writers race; [`Store::create_new`] buffers the object and puts it the same way on
//!   [`ObjectWriter::finish`] (one PUT, so it is visible whole or not at all).
//! - Two services write new objects through another client ([`Writer`]): HTTP (WebDAV),
//!   whose conditional PUT `object_store` lacks, and GCS, whose create `object_store`
//!   sends on the XML API (`crate::gcs`).
//! - The API stays synchronous: one small multi-threaded tokio runtime per process drives
//!   every request (`block_on` from the calling thread), so callers' worker threads issue
//!   concurrent requests.

use std::io::{self, Write};
use std::sync::{Arc, OnceLock};

use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
};

use crate::local::check_object_path;
use crate::{
    message_uri, redact_uri, Error, ObjectMeta, ObjectWriter, Operation, PendingRange, Result,
    StorageUri, Store,
};

/// A request sent ahead ([`Store::start_range`]): cancelled when nobody waits for it.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The process's runtime for object-store requests (two workers: requests are waits on
/// the network, not CPU work).
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("vouch-store-io")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| Error::Io {
        path: "object store runtime".into(),
        source: io::Error::other(e.clone()),
    })
}

/// The HTTP connector of every object store client: one reqwest client per distinct set of
/// client options for the whole process, shared by every store opened with them (a
/// collection is opened more than once in a run: its store, its incrementals' store, each
/// locality's). Building a client loads the system's root certificates (some 150 files),
/// which took about 0.1 s per store opened; its connection pool is shared too.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SharedClient {
    strip_default_headers: bool,
}

impl SharedClient {
    /// The connector for clients whose default headers are for `object_store` to add
    /// itself, not reqwest. `object_store`'s S3 client adds them before signing to the
    /// requests that upload and read objects; reqwest would add them again after signing,
    /// to every request, and so send them unsigned on the others (the listing), which S3
    /// refuses ("There were headers present in the request which were not signed").
    pub(crate) fn without_default_headers() -> Self {
        SharedClient {
            strip_default_headers: true,
        }
    }
}

impl object_store::client::HttpConnector for SharedClient {
    fn connect(
        &self,
        options: &object_store::ClientOptions,
    ) -> object_store::Result<object_store::client::HttpClient> {
        static CLIENTS: std::sync::Mutex<Vec<(String, object_store::client::HttpClient)>> =
            std::sync::Mutex::new(Vec::new());
        let options = if self.strip_default_headers {
            options
                .clone()
                .with_default_headers(reqwest::header::HeaderMap::new())
        } else {
            options.clone()
        };
        // Options are told apart by everything they hold (kept in memory only, never
        // shown).
        let key = format!("{options:?}");
        let mut clients = CLIENTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, c)) = clients.iter().find(|(k, _)| *k == key) {
            return Ok(c.clone());
        }
        let client = object_store::client::ReqwestConnector::default().connect(&options)?;
        clients.push((key, client.clone()));
        Ok(client)
    }
}

/// Makes rustls use *ring* (the provider vouch's other HTTPS client uses) for the object
/// store clients; called before any client is built. A provider installed earlier wins.
pub(crate) fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Checks a URI's query parameters against the ones its scheme knows: one vouch does not
/// implement yet is [`Error::Unsupported`], one nobody knows (a misspelling) is
/// [`Error::BadUri`] naming the known ones. `service` names the scheme in messages (`S3`).
pub(crate) fn check_parameters(
    loc: &StorageUri,
    service: &str,
    known: &[&str],
    not_yet: &[&str],
) -> Result<()> {
    for key in loc.query.keys() {
        if not_yet.contains(&key.as_str()) {
            return Err(Error::Unsupported {
                scheme: loc.scheme_name.clone(),
                feature: format!("the {service} parameter {key}"),
            });
        }
        if !known.contains(&key.as_str()) {
            return Err(Error::BadUri {
                uri: redact_uri(&loc.uri),
                reason: format!(
                    "unknown {service} parameter {key:?} (known: {})",
                    known.join(", ")
                ),
            });
        }
    }
    Ok(())
}

/// The scheme of an endpoint parameter (`http` or `https`), `None` if it is neither
/// `http(s)://host[:port][/path]`.
pub(crate) fn endpoint_scheme(endpoint: &str) -> Option<&str> {
    let (scheme, rest) = endpoint.split_once("://")?;
    let host = rest.split('/').next().unwrap_or_default();
    ((scheme == "http" || scheme == "https") && !host.is_empty()).then_some(scheme)
}

/// Objects under a prefix of an object service.
#[derive(Debug, Clone)]
pub struct ObjectStoreStore {
    inner: Arc<dyn ObjectStore>,
    /// Key prefix without leading or trailing `/` (empty: the bucket's root).
    prefix: String,
    location: StorageUri,
    /// The URI as messages show it ([`message_uri`]).
    uri: String,
    /// `uri` without its trailing `/`: objects are `<shown>/<path>`.
    shown: String,
    /// Attributes every new object is written with (the storage class).
    attributes: Attributes,
    /// What writes new objects.
    writer: Writer,
}

/// What writes a store's new objects.
#[derive(Debug, Clone)]
enum Writer {
    /// `inner`'s conditional create (`PutMode::Create`: S3's and Azure's
    /// `If-None-Match: *`).
    Inner,
    /// HTTP (WebDAV) storage: a client whose every request carries `If-None-Match: *`
    /// (`object_store`'s HTTP client has no conditional PUT). Listing a folder that does
    /// not exist is then a 404, read as an empty listing.
    WebDav(Arc<dyn ObjectStore>),
    /// Google Cloud Storage: Google's client, whose create is a JSON API multipart upload
    /// with `ifGenerationMatch=0`.
    Gcs(Arc<crate::gcs::GcsWriter>),
}

impl ObjectStoreStore {
    /// A store over `inner` rooted at the key prefix `prefix` (leading and trailing `/`
    /// ignored), opened from `location`; `storage_class` is set on every new object.
    pub(crate) fn new(
        inner: Arc<dyn ObjectStore>,
        prefix: &str,
        location: StorageUri,
        storage_class: Option<String>,
    ) -> ObjectStoreStore {
        let mut attributes = Attributes::new();
        if let Some(class) = storage_class {
            attributes.insert(Attribute::StorageClass, class.into());
        }
        let uri = message_uri(&location.uri);
        ObjectStoreStore {
            inner,
            prefix: prefix.trim_matches('/').to_string(),
            shown: uri.trim_end_matches('/').to_string(),
            uri,
            location,
            attributes,
            writer: Writer::Inner,
        }
    }

    /// The store on Google Cloud Storage: new objects are created by `writer`.
    pub(crate) fn on_gcs(mut self, writer: Arc<crate::gcs::GcsWriter>) -> ObjectStoreStore {
        self.writer = Writer::Gcs(writer);
        self
    }

    /// The store on HTTP (WebDAV) storage: new objects are written by `writer`, a client of
    /// the same URL whose every request carries `If-None-Match: *`.
    pub(crate) fn on_webdav(mut self, writer: Arc<dyn ObjectStore>) -> ObjectStoreStore {
        self.writer = Writer::WebDav(writer);
        self
    }

    /// How an object is named in errors: `<uri>/<path>`.
    fn shown(&self, path: &str) -> String {
        if path.is_empty() {
            self.shown.clone()
        } else {
            format!("{}/{path}", self.shown)
        }
    }

    /// The key of an object path (checked like every store's paths), or of a folder.
    fn key(&self, path: &str, folder: bool) -> Result<Path> {
        if !folder {
            check_object_path(path, false)?;
        }
        let full = match (self.prefix.is_empty(), path.is_empty()) {
            (_, true) => self.prefix.clone(),
            (true, false) => path.to_string(),
            (false, false) => format!("{}/{path}", self.prefix),
        };
        Path::parse(&full).map_err(|e| Error::InvalidPath {
            path: path.to_string(),
            reason: e.to_string(),
        })
    }

    /// A service error as a store error naming the object (and, when the service refused
    /// it for want of permission, the operation).
    fn error(&self, path: &str, op: Operation, e: object_store::Error) -> Error {
        use object_store::Error as E;
        match e {
            E::PermissionDenied { .. } => Error::Denied {
                path: self.shown(path),
                operation: op,
                status: 403,
            },
            E::Unauthenticated { .. } => Error::Denied {
                path: self.shown(path),
                operation: op,
                status: 401,
            },
            E::NotFound { .. } => Error::NotFound {
                path: self.shown(path),
                operation: op,
            },
            E::AlreadyExists { .. } | E::Precondition { .. } => Error::AlreadyExists {
                path: self.shown(path),
            },
            other => Error::Io {
                path: self.shown(path),
                source: io::Error::other(other),
            },
        }
    }

    fn eof(&self, path: &str, offset: u64, len: u64, size: u64) -> Error {
        Error::RangeOutOfBounds {
            path: self.shown(path),
            offset,
            len,
            size,
        }
    }

    /// [`Store::get_range`]'s answer once the ranged GET of `len` bytes from `offset`
    /// answered `got`.
    fn range_answer(
        &self,
        path: &str,
        offset: u64,
        len: u64,
        got: object_store::Result<bytes::Bytes>,
    ) -> Result<Vec<u8>> {
        let end = offset.saturating_add(len);
        match got {
            // The client's buffer, not a copy of it, when the bytes are its only owner
            // (a ranged read's body collected into one buffer).
            Ok(b) if b.len() as u64 == len => Ok(Vec::from(b)),
            Ok(_) => {
                let size = self.size(path)?.unwrap_or(0);
                Err(self.eof(path, offset, len, size))
            }
            Err(
                e @ (object_store::Error::NotFound { .. }
                | object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }),
            ) => Err(self.error(path, Operation::ReadRange, e)),
            // A range past the end is refused (416) or reported as invalid: tell that
            // apart from other failures by the object's size.
            Err(e) => match self.size(path)? {
                Some(size) if end > size => Err(self.eof(path, offset, len, size)),
                None => Err(Error::NotFound {
                    path: self.shown(path),
                    operation: Operation::ReadRange,
                }),
                Some(_) => Err(self.error(path, Operation::ReadRange, e)),
            },
        }
    }

    fn block_on<T>(
        &self,
        path: &str,
        op: Operation,
        f: impl std::future::Future<Output = object_store::Result<T>>,
    ) -> Result<T> {
        runtime()?.block_on(f).map_err(|e| self.error(path, op, e))
    }
}

impl Store for ObjectStoreStore {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn get(&self, path: &str) -> Result<Vec<u8>> {
        let key = self.key(path, false)?;
        let bytes = self.block_on(path, Operation::Read, async {
            self.inner.get(&key).await?.bytes().await
        })?;
        Ok(Vec::from(bytes))
    }

    /// One GET: the size its answer states is checked against `limit` before any of the
    /// body is read (the body is then not read), and the body is read no further than
    /// `limit` whatever that size said. The same answers as the default (a HEAD, then a
    /// GET) in one round trip instead of two.
    fn get_limited(&self, path: &str, limit: u64) -> Result<Vec<u8>> {
        let key = self.key(path, false)?;
        let read = self.block_on(path, Operation::Read, async {
            let got = self.inner.get(&key).await?;
            let stated = got.meta.size;
            if stated > limit {
                return Ok(Err(stated));
            }
            let mut body = got.into_stream();
            let mut out = Vec::with_capacity(usize::try_from(stated).unwrap_or(0));
            while let Some(chunk) = body.try_next().await? {
                let n = (out.len() as u64).saturating_add(chunk.len() as u64);
                if n > limit {
                    return Ok(Err(n));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(Ok(out))
        })?;
        read.map_err(|size| Error::TooLarge {
            path: self.shown(path),
            size,
            limit,
        })
    }

    fn get_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        let key = self.key(path, false)?;
        let Some(end) = offset.checked_add(len) else {
            let size = self.size(path)?.unwrap_or(0);
            return Err(self.eof(path, offset, len, size));
        };
        if len == 0 {
            // No ranged GET can ask for nothing: check the offset against the size.
            return match self.size(path)? {
                None => Err(Error::NotFound {
                    path: self.shown(path),
                    operation: Operation::ReadRange,
                }),
                Some(size) if offset > size => Err(self.eof(path, offset, len, size)),
                Some(_) => Ok(Vec::new()),
            };
        }
        let got = runtime()?.block_on(self.inner.get_range(&key, offset..end));
        self.range_answer(path, offset, len, got)
    }

    fn start_range(&self, path: &str, offset: u64, len: u64) -> PendingRange<'_> {
        let owned = path.to_string();
        let sent = match (self.key(path, false), offset.checked_add(len), runtime()) {
            (Ok(key), Some(end), Ok(rt)) if len > 0 => {
                let inner = Arc::clone(&self.inner);
                Some((
                    rt,
                    AbortOnDrop(rt.spawn(async move { inner.get_range(&key, offset..end).await })),
                ))
            }
            // What get_range answers without a ranged GET (a bad path, an empty range):
            // made when waited for.
            _ => None,
        };
        PendingRange::new(move || match sent {
            None => self.get_range(&owned, offset, len),
            Some((rt, mut task)) => {
                let got = rt.block_on(&mut task.0).map_err(|e| Error::Io {
                    path: self.shown(&owned),
                    source: io::Error::other(e),
                })?;
                self.range_answer(&owned, offset, len, got)
            }
        })
    }

    fn windows_ahead(&self) -> usize {
        crate::REMOTE_WINDOWS_AHEAD
    }

    fn tail_read(&self, size: u64) -> u64 {
        crate::remote_tail_read(size)
    }

    fn size(&self, path: &str) -> Result<Option<u64>> {
        let key = self.key(path, false)?;
        match runtime()?.block_on(self.inner.head(&key)) {
            Ok(m) => Ok(Some(m.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(path, Operation::Size, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        check_object_path(prefix, true)?;
        // Object stores list by whole folders (path segments): list the deepest folder
        // the prefix names whole, then filter by the prefix as a string.
        let dir = prefix.rfind('/').map_or("", |i| &prefix[..i]);
        let folder = self.key(dir, true)?;
        let listed: Vec<object_store::ObjectMeta> = match runtime()?.block_on(async {
            let folder = (!folder.as_ref().is_empty()).then_some(&folder);
            self.inner.list(folder).try_collect().await
        }) {
            Ok(listed) => listed,
            // A WebDAV folder that does not exist: nothing under it.
            Err(object_store::Error::NotFound { .. })
                if matches!(self.writer, Writer::WebDav(_)) =>
            {
                Vec::new()
            }
            Err(e @ object_store::Error::Generic { .. }) => {
                // The clients report a failed listing untyped (the status is inside): a
                // HEAD of the folder's key, which they do report typed, tells a refusal
                // for want of permission from other failures.
                return Err(match runtime()?.block_on(self.inner.head(&folder)) {
                    Err(
                        denied @ (object_store::Error::PermissionDenied { .. }
                        | object_store::Error::Unauthenticated { .. }),
                    ) => self.error(dir, Operation::List, denied),
                    _ => self.error(prefix, Operation::List, e),
                });
            }
            Err(e) => return Err(self.error(prefix, Operation::List, e)),
        };
        let root = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut out: Vec<ObjectMeta> = listed
            .into_iter()
            .filter_map(|m| {
                let key = m.location.as_ref();
                let rel = key.strip_prefix(root.as_str())?;
                (rel.starts_with(prefix) && check_object_path(rel, false).is_ok()).then(|| {
                    ObjectMeta {
                        path: rel.to_string(),
                        size: m.size,
                    }
                })
            })
            .collect();
        out.sort();
        Ok(without_folder_markers(out))
    }

    fn put_new(&self, path: &str, bytes: &[u8]) -> Result<()> {
        let key = self.key(path, false)?;
        let writer = match &self.writer {
            Writer::Inner => {
                let opts = PutOptions {
                    mode: PutMode::Create,
                    attributes: self.attributes.clone(),
                    ..PutOptions::default()
                };
                let payload = PutPayload::from(bytes.to_vec());
                self.block_on(
                    path,
                    Operation::Write,
                    self.inner.put_opts(&key, payload, opts),
                )?;
                return Ok(());
            }
            Writer::Gcs(gcs) => {
                self.block_on(path, Operation::Write, gcs.create(key.as_ref(), bytes))?;
                return Ok(());
            }
            Writer::WebDav(writer) => writer,
        };
        let payload = PutPayload::from(bytes.to_vec());
        // Every request of this client is conditional (`If-None-Match: *`). A PUT into a
        // missing folder makes the client create it (MKCOL) and PUT again; a writer racing
        // to create the same folder makes that MKCOL fail, and then another conditional PUT
        // (into the folders that now exist) settles it: at most one more try per folder.
        let opts = || PutOptions {
            mode: PutMode::Overwrite,
            attributes: self.attributes.clone(),
            ..PutOptions::default()
        };
        let mut tries_left = key.as_ref().matches('/').count() + 1;
        loop {
            match runtime()?.block_on(writer.put_opts(&key, payload.clone(), opts())) {
                Ok(_) => return Ok(()),
                Err(
                    e @ (object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. }),
                ) => return Err(self.error(path, Operation::Write, e)),
                Err(e @ object_store::Error::PermissionDenied { .. })
                | Err(e @ object_store::Error::Unauthenticated { .. }) => {
                    return Err(self.error(path, Operation::Write, e))
                }
                Err(e) if tries_left == 0 => return Err(self.error(path, Operation::Write, e)),
                Err(_) => tries_left -= 1,
            }
        }
    }

    fn create_new(&self, path: &str) -> Result<Box<dyn ObjectWriter>> {
        // Fail before anything is streamed when the name is taken (the PUT checks again).
        if self.size(path)?.is_some() {
            return Err(Error::AlreadyExists {
                path: self.shown(path),
            });
        }
        Ok(Box::new(BufferedWriter {
            store: self.clone(),
            path: path.to_string(),
            buf: Some(Vec::new()),
        }))
    }

    fn location(&self) -> Option<&StorageUri> {
        Some(&self.location)
    }

    fn read_ahead(&self) -> u64 {
        crate::REMOTE_READ_AHEAD
    }
}

/// A sorted listing without folder markers: the empty objects named `folder/` that copy
/// tools and consoles create to show a folder (the clients list `a/b/` as `a/b`). An empty
/// object whose name is also the folder of a listed object is one (a collection never names
/// an object and a folder alike; on a disk they cannot be); so is the marker of the store's
/// own root (the clients give it the root's name, which holds nothing below the root).
fn without_folder_markers(sorted: Vec<ObjectMeta>) -> Vec<ObjectMeta> {
    let folders: std::collections::BTreeSet<&str> = sorted
        .iter()
        .filter_map(|o| o.path.rsplit_once('/').map(|(dir, _)| dir))
        .flat_map(|dir| {
            dir.match_indices('/')
                .map(move |(i, _)| &dir[..i])
                .chain(std::iter::once(dir))
        })
        .collect();
    let markers: std::collections::BTreeSet<String> = sorted
        .iter()
        .filter(|o| o.size == 0 && folders.contains(o.path.as_str()))
        .map(|o| o.path.clone())
        .collect();
    sorted
        .into_iter()
        .filter(|o| !markers.contains(&o.path))
        .collect()
}

/// A new object kept in memory until `finish` puts it with one conditional PUT.
struct BufferedWriter {
    store: ObjectStoreStore,
    path: String,
    buf: Option<Vec<u8>>,
}

impl Write for BufferedWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let buf = self
            .buf
            .as_mut()
            .ok_or_else(|| io::Error::other("write after finish or abort"))?;
        buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ObjectWriter for BufferedWriter {
    fn finish(mut self: Box<Self>) -> Result<u64> {
        let Some(buf) = self.buf.take() else {
            return Err(Error::Io {
                path: self.store.shown(&self.path),
                source: io::Error::other("the writer was already finished"),
            });
        };
        self.store.put_new(&self.path, &buf)?;
        Ok(buf.len() as u64)
    }

    fn abort(mut self: Box<Self>) {
        self.buf = None;
    }
}
