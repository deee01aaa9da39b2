//! Storage a cluster keeps, lent to `vouch-store`: `userfile://` files inside the cluster
//! and `external://name` connections, through [`vouch_store::ClusterStorage`] (the store
//! crate cannot depend on the cluster crate, so the seam is this trait; see
//! ARCHITECTURE.md). [`open_options`] is how every command that has a cluster open opens
//! storage URIs: `nodelocal://` in its external-I/O folder, `userfile://` in its
//! userfile tables, `external://` through its connections.
//!
//! A [`UserfileStore`] keeps the [`Store`] contract like every other store: objects are
//! written once (one transaction that writes the file only if its name is free), listed
//! sorted, read whole or by ranges (only the chunks a range touches are read).

use std::io::{self, Write};
use std::sync::Arc;

use vouch_cluster::{Cluster, StorageTables};
use vouch_store::{
    check_object_path, message_uri, userfile_table, Error, ObjectMeta, ObjectWriter, OpenOptions,
    Operation, Result, StorageUri, Store,
};

/// How a command with `cluster` open opens storage URIs.
pub fn open_options(cluster: &Cluster) -> OpenOptions {
    OpenOptions {
        nodelocal_root: Some(cluster.extern_dir()),
        cluster: Some(Arc::new(ClusterStorage(cluster.kv().storage()))),
    }
}

/// A cluster's userfiles and external connections, as `vouch-store` asks for them.
#[derive(Debug, Clone)]
pub struct ClusterStorage(pub StorageTables);

fn cluster_error(what: String, e: vouch_cluster::Error) -> Error {
    Error::Io {
        path: what,
        source: io::Error::other(e.to_string()),
    }
}

impl vouch_store::ClusterStorage for ClusterStorage {
    fn connection(&self, name: &str) -> Result<Option<String>> {
        self.0
            .connection(name)
            .map_err(|e| cluster_error(format!("external://{name}"), e))
    }

    fn open_userfile(&self, loc: StorageUri) -> Result<Box<dyn Store>> {
        Ok(Box::new(UserfileStore::new(self.0.clone(), loc)?))
    }
}

/// The files under a `userfile://` URI's path in one userfile table of a cluster.
#[derive(Debug, Clone)]
pub struct UserfileStore {
    files: StorageTables,
    /// `<db.schema.prefix>/<path>/`: the full names of this store's objects start so.
    root: String,
    location: StorageUri,
    /// The URI as messages show it.
    uri: String,
    shown: String,
}

impl UserfileStore {
    /// The store of a parsed `userfile://` URI over `files`.
    pub fn new(files: StorageTables, location: StorageUri) -> Result<UserfileStore> {
        let table = userfile_table(&location)?;
        let path = location.path.trim_matches('/');
        if !path.is_empty() {
            check_object_path(path, false)?;
        }
        let root = if path.is_empty() {
            format!("{table}/")
        } else {
            format!("{table}/{path}/")
        };
        let uri = message_uri(&location.uri);
        Ok(UserfileStore {
            files,
            root,
            shown: uri.trim_end_matches('/').to_string(),
            uri,
            location,
        })
    }

    fn shown(&self, path: &str) -> String {
        format!("{}/{path}", self.shown)
    }

    /// The full name of an object path (checked like every store's paths).
    fn name(&self, path: &str) -> Result<String> {
        check_object_path(path, false)?;
        Ok(format!("{}{path}", self.root))
    }

    fn error(&self, path: &str, e: vouch_cluster::Error) -> Error {
        cluster_error(self.shown(path), e)
    }
}

impl Store for UserfileStore {
    fn uri(&self) -> &str {
        &self.uri
    }

    fn get(&self, path: &str) -> Result<Vec<u8>> {
        let name = self.name(path)?;
        match self.files.read(&name, 0, u64::MAX) {
            Ok(Some(b)) => Ok(b),
            Ok(None) => Err(Error::NotFound {
                path: self.shown(path),
                operation: Operation::Read,
            }),
            Err(e) => Err(self.error(path, e)),
        }
    }

    fn get_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        let name = self.name(path)?;
        let Some(size) = self.size(path)? else {
            return Err(Error::NotFound {
                path: self.shown(path),
                operation: Operation::ReadRange,
            });
        };
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(Error::RangeOutOfBounds {
                path: self.shown(path),
                offset,
                len,
                size,
            });
        }
        match self.files.read(&name, offset, len) {
            Ok(Some(b)) if b.len() as u64 == len => Ok(b),
            Ok(Some(_)) => Err(Error::RangeOutOfBounds {
                path: self.shown(path),
                offset,
                len,
                size,
            }),
            Ok(None) => Err(Error::NotFound {
                path: self.shown(path),
                operation: Operation::ReadRange,
            }),
            Err(e) => Err(self.error(path, e)),
        }
    }

    fn size(&self, path: &str) -> Result<Option<u64>> {
        let name = self.name(path)?;
        self.files.size(&name).map_err(|e| self.error(path, e))
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        check_object_path(prefix, true)?;
        let listed = self
            .files
            .list(&format!("{}{prefix}", self.root))
            .map_err(|e| self.error(prefix, e))?;
        Ok(listed
            .into_iter()
            .filter_map(|(name, size)| {
                let path = name.strip_prefix(&self.root)?.to_string();
                Some(ObjectMeta { path, size })
            })
            .collect())
    }

    fn put_new(&self, path: &str, bytes: &[u8]) -> Result<()> {
        let name = self.name(path)?;
        match self.files.put_new(&name, bytes) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::AlreadyExists {
                path: self.shown(path),
            }),
            Err(e) => Err(self.error(path, e)),
        }
    }

    fn create_new(&self, path: &str) -> Result<Box<dyn ObjectWriter>> {
        // Fail before anything is streamed when the name is taken (put_new checks again).
        if self.size(path)?.is_some() {
            return Err(Error::AlreadyExists {
                path: self.shown(path),
            });
        }
        Ok(Box::new(UserfileWriter {
            store: self.clone(),
            path: path.to_string(),
            buf: Some(Vec::new()),
        }))
    }

    fn location(&self) -> Option<&StorageUri> {
        Some(&self.location)
    }
}

/// A new userfile kept in memory until `finish` writes it in one transaction.
struct UserfileWriter {
    store: UserfileStore,
    path: String,
    buf: Option<Vec<u8>>,
}

impl Write for UserfileWriter {
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

impl ObjectWriter for UserfileWriter {
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
