//! The clean collection as the generator reads it: chains of layers, their manifests
//! and listings, and data files' plaintext (through the chain's key when encrypted).

use std::fs;
use std::io;
use std::path::Path;

use vouch_chain::sealed::{self, ChainKey};
use vouch_format::envelope::{self, DataKey, FileId};
use vouch_format::layout::{self, Listing, INCREMENTALS_DIR, MANIFEST};
use vouch_format::manifest::{self, pb};
use vouch_format::mvcc::Timestamp;
use vouch_keys::KeySource;

use super::err::{format_err, invalid};
use crate::tree::list_files;

/// One layer of a chain as read from the clean collection.
#[derive(Debug, Clone)]
pub(super) struct Layer {
    pub(super) dir: String,
    pub(super) manifest: pb::BackupManifest,
    /// Its chain's data key (encrypted collections).
    pub(super) key: Option<ChainKey>,
}

impl Layer {
    pub(super) fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.dir)
    }

    pub(super) fn data_paths(&self) -> Vec<String> {
        self.manifest
            .files
            .iter()
            .map(|f| self.path(&f.path))
            .collect()
    }

    pub(super) fn end(&self) -> Timestamp {
        Timestamp::from_pb(self.manifest.end_time)
    }
}

pub(super) fn read_manifest(
    root: &Path,
    dir: &str,
    key: Key<'_>,
) -> io::Result<pb::BackupManifest> {
    let p = format!("{dir}/{MANIFEST}");
    let bytes = fs::read(root.join(&p))?;
    let bytes = match key {
        None => bytes,
        Some(k) => {
            let l = read_listing(root, dir)?;
            sealed::open_small_file(k, &l.backup_id, MANIFEST, &bytes, &p).map_err(invalid)?
        }
    };
    manifest::decode(&bytes).map_err(|e| format_err(&p, e))
}

/// The chain's data key when the collection is encrypted (`None`: not encrypted).
pub(super) type Key<'k> = Option<&'k DataKey>;

/// The data key of the chain that layer directory `dir` belongs to (`None` when `keys` is
/// empty: the collection is read as unencrypted).
pub(super) fn chain_key(root: &Path, dir: &str, keys: &KeySource) -> io::Result<Option<ChainKey>> {
    if keys.is_empty() {
        return Ok(None);
    }
    let listing = Listing::new(list_files(root)?);
    let full = listing
        .full_backups()
        .into_iter()
        .find(|f| {
            f == dir
                || listing
                    .incrementals(f, INCREMENTALS_DIR)
                    .iter()
                    .any(|i| i == dir)
        })
        .ok_or_else(|| invalid(format!("{dir}: not a layer of a chain in the collection")))?;
    let uri = root
        .to_str()
        .ok_or_else(|| invalid(format!("{}: not UTF-8", root.display())))?;
    let store = vouch_store::open(uri, &vouch_store::OpenOptions::default()).map_err(invalid)?;
    sealed::chain_key(store.as_ref(), &full, keys).map_err(invalid)
}

pub(super) fn read_listing(root: &Path, dir: &str) -> io::Result<pb::IntegrityListing> {
    let p = format!("{dir}/{}", layout::LISTING);
    sealed::decode_listing(&fs::read(root.join(&p))?, &p).map_err(invalid)
}

/// The plaintext of data file `path` (relative to the root) of `layer`.
pub(super) fn plain_file(
    root: &Path,
    layer: &Layer,
    path: &str,
    key: Key<'_>,
) -> io::Result<Vec<u8>> {
    let stored = fs::read(root.join(path))?;
    let Some(k) = key else { return Ok(stored) };
    let rel = path
        .strip_prefix(&format!("{}/", layer.dir))
        .ok_or_else(|| invalid(format!("{path} is not in {}", layer.dir)))?;
    let id = FileId {
        backup_id: &layer.manifest.backup_id,
        path: rel,
    };
    envelope::open_all(k, id, &stored).map_err(|e| format_err(path, e))
}

/// The chains of a collection (default incrementals location), oldest full backup first.
pub(super) fn chains(
    root: &Path,
    listing: &Listing,
    keys: &KeySource,
) -> io::Result<Vec<Vec<Layer>>> {
    let mut out = Vec::new();
    for full in listing.full_backups() {
        let key = chain_key(root, &full, keys)?;
        let mut dirs = vec![full.clone()];
        dirs.extend(listing.incrementals(&full, INCREMENTALS_DIR));
        let mut layers = Vec::new();
        for dir in dirs {
            let manifest = read_manifest(root, &dir, key.as_deref())?;
            layers.push(Layer {
                dir,
                manifest,
                key: key.clone(),
            });
        }
        out.push(layers);
    }
    Ok(out)
}

pub(super) fn size_of(root: &Path, rel: &str) -> io::Result<u64> {
    Ok(fs::metadata(root.join(rel))?.len())
}
