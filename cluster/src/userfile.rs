//! What a cluster keeps for storage beside its data: **userfiles** (CockroachDB's
//! `userfile://` storage, files kept inside the cluster) and the URIs of **external
//! connections** (`CREATE EXTERNAL CONNECTION name AS 'uri'`).
//!
//! Userfiles live in two redb tables of their own, as CockroachDB keeps them in a files
//! table and a payload table: `userfiles` maps a file's full name
//! (`<db.schema.prefix>/<path>`) to its size, `userfile_chunks` maps (full name, chunk
//! index) to the file's bytes in chunks of [`USERFILE_CHUNK`] bytes, so a ranged read
//! reads only the chunks it needs. A file is written whole in one transaction and only if
//! its name is free ([`StorageTables::put_new`]): readers see all of it or nothing, and
//! nothing replaces it; only [`StorageTables::delete`] (`vouch userfile delete`) removes
//! one. They are not MVCC data: a backup of the cluster does not hold them.
//!
//! [`StorageTables`] is a handle that can be kept apart from the [`crate::Kv`] it came
//! from (the store opening `userfile://` URIs holds one); it shares the open database.

use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use crate::{Error, Result, META};

/// Full name -> size in bytes.
const FILES: TableDefinition<&str, u64> = TableDefinition::new("userfiles");
/// (full name, chunk index) -> that chunk's bytes.
const CHUNKS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("userfile_chunks");

/// Bytes per stored chunk of a userfile (the last chunk may be shorter).
pub const USERFILE_CHUNK: u64 = 1 << 20;

/// The setting key under which the URI of the external connection `name` is kept.
pub fn connection_key(name: &str) -> String {
    format!("external_connection.{name}")
}

/// Creates the userfile tables (opening a cluster does).
pub(crate) fn create_tables(txn: &WriteTransaction) -> Result<()> {
    txn.open_table(FILES)?;
    txn.open_table(CHUNKS)?;
    Ok(())
}

/// A handle on a cluster's userfiles and external connections ([`crate::Kv::storage`]).
#[derive(Clone)]
pub struct StorageTables {
    db: Arc<Database>,
}

impl std::fmt::Debug for StorageTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StorageTables")
    }
}

impl crate::Kv {
    /// A handle on the cluster's userfiles and external connections.
    pub fn storage(&self) -> StorageTables {
        StorageTables {
            db: Arc::clone(&self.db),
        }
    }
}

fn corrupt(name: &str, what: &str) -> Error {
    Error::Storage(format!("userfile {name:?}: {what}"))
}

impl StorageTables {
    /// The URI of the external connection `name`, `None` if there is none.
    pub fn connection(&self, name: &str) -> Result<Option<String>> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let Some(v) = meta.get(connection_key(name).as_str())? else {
            return Ok(None);
        };
        let uri = std::str::from_utf8(v.value())
            .map_err(|_| Error::Storage(format!("external connection {name:?}: not UTF-8")))?;
        Ok(Some(uri.to_string()))
    }

    /// Writes the file `name` whole in one transaction if no file has that name; `false`
    /// (and nothing written) if one has.
    pub fn put_new(&self, name: &str, bytes: &[u8]) -> Result<bool> {
        let txn = self.db.begin_write()?;
        let free = {
            let mut files = txn.open_table(FILES)?;
            let free = files.get(name)?.is_none();
            if free {
                files.insert(name, bytes.len() as u64)?;
                let mut chunks = txn.open_table(CHUNKS)?;
                for (i, chunk) in (0u64..).zip(bytes.chunks(USERFILE_CHUNK as usize)) {
                    chunks.insert((name, i), chunk)?;
                }
            }
            free
        };
        if free {
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        Ok(free)
    }

    /// The size of the file `name`, `None` if there is none.
    pub fn size(&self, name: &str) -> Result<Option<u64>> {
        let txn = self.db.begin_read()?;
        let files = txn.open_table(FILES)?;
        Ok(files.get(name)?.map(|g| g.value()))
    }

    /// `len` bytes of the file `name` from `offset`, `None` if there is no such file.
    /// The caller checks the range against [`StorageTables::size`]; a range past the end
    /// gives the bytes up to the end.
    pub fn read(&self, name: &str, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        let txn = self.db.begin_read()?;
        let files = txn.open_table(FILES)?;
        let Some(size) = files.get(name)?.map(|g| g.value()) else {
            return Ok(None);
        };
        let end = offset.saturating_add(len).min(size);
        let want = usize::try_from(end.saturating_sub(offset))
            .map_err(|_| corrupt(name, "range too large for memory"))?;
        let mut out = Vec::with_capacity(want);
        if want == 0 {
            return Ok(Some(out));
        }
        let chunks = txn.open_table(CHUNKS)?;
        let first = offset / USERFILE_CHUNK;
        let last = (end - 1) / USERFILE_CHUNK;
        for i in first..=last {
            let Some(chunk) = chunks.get((name, i))? else {
                return Err(corrupt(name, &format!("chunk {i} is missing")));
            };
            let chunk = chunk.value();
            let base = i * USERFILE_CHUNK;
            let from = usize::try_from(offset.saturating_sub(base)).unwrap_or(usize::MAX);
            let to = usize::try_from(end - base).unwrap_or(usize::MAX);
            let Some(part) = chunk.get(from..to.min(chunk.len())) else {
                return Err(corrupt(
                    name,
                    &format!("chunk {i} is shorter than its size"),
                ));
            };
            out.extend_from_slice(part);
        }
        if out.len() != want {
            return Err(corrupt(name, "chunks are shorter than its size"));
        }
        Ok(Some(out))
    }

    /// Every file whose full name starts with `prefix`, with its size, sorted by name.
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        let txn = self.db.begin_read()?;
        let files = txn.open_table(FILES)?;
        let mut out = Vec::new();
        for e in files.range(prefix..)? {
            let (k, v) = e?;
            let name = k.value();
            if !name.starts_with(prefix) {
                break;
            }
            out.push((name.to_string(), v.value()));
        }
        Ok(out)
    }

    /// Removes the file `name`; `false` if there was none.
    pub fn delete(&self, name: &str) -> Result<bool> {
        let txn = self.db.begin_write()?;
        let found = {
            let mut files = txn.open_table(FILES)?;
            let size = files.remove(name)?.map(|g| g.value());
            if let Some(size) = size {
                let mut chunks = txn.open_table(CHUNKS)?;
                for i in 0..size.div_ceil(USERFILE_CHUNK) {
                    chunks.remove((name, i))?;
                }
            }
            size.is_some()
        };
        txn.commit()?;
        Ok(found)
    }
}
