//! Encrypted chains, read side (spec/encryption.md): where a chain's data key comes
//! from (`ENCRYPTION-INFO`, `ENCRYPTION-INFO-<n>`, newest first), opening sealed small
//! files, the unencrypted integrity listing of an encrypted layer, and the data sources
//! that read a data file's plaintext (the stored bytes, or the envelope opened over them).

use std::borrow::Cow;
use std::sync::Arc;

use crate::source::StoreSource;
use vouch_format::encryption_info::EncryptionInfo;
use vouch_format::envelope::DataKey;
use vouch_format::envelope::{self, FileId, Opened};
use vouch_format::layout;
use vouch_format::manifest::{decode_canonical, pb, LISTING_FORMAT_VERSION};
use vouch_format::sst::{BlockSource, SstReader};
use vouch_keys::{KeyError, KeySource};
use vouch_store::Store;

use crate::base::join;
use crate::{ctx, Error, ErrorKind, Result};

/// The data key of an encrypted chain, shared by its readers.
pub type ChainKey = Arc<DataKey>;

/// The key records in the full backup directory `full_dir`, newest first:
/// `ENCRYPTION-INFO-<n>` by descending n, then `ENCRYPTION-INFO`.
pub fn info_names(store: &dyn Store, full_dir: &str) -> Result<Vec<String>> {
    let prefix = join(full_dir, "");
    let mut rotations: Vec<(u64, String)> = Vec::new();
    let mut original = None;
    for o in store.list(&prefix)? {
        let Some(rest) = o.path.strip_prefix(&prefix) else {
            continue;
        };
        if rest == layout::ENCRYPTION_INFO {
            original = Some(o.path.clone());
        } else if let Ok(n) = layout::parse_encryption_info_name(rest) {
            rotations.push((n, o.path.clone()));
        }
    }
    rotations.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut out: Vec<String> = rotations.into_iter().map(|(_, p)| p).collect();
    out.extend(original);
    Ok(out)
}

/// Reads and decodes one key record.
pub fn read_info(store: &dyn Store, path: &str) -> Result<EncryptionInfo> {
    let bytes = store.get_limited(path, layout::MAX_RECORD_BYTES)?;
    let name = format!("{}/{path}", store.uri().trim_end_matches('/'));
    Ok(vouch_keys::decode_info(&name, &bytes)?)
}

/// The data key of the chain whose full backup is `full_dir`, from what the user gave:
/// `None` for a chain that is not encrypted (an error if a key was given anyway); for an
/// encrypted one, the key unlocked from the newest record that `source` opens (an error
/// naming the cause if none does, or if nothing was given).
pub fn chain_key(
    store: &dyn Store,
    full_dir: &str,
    source: &KeySource,
) -> Result<Option<ChainKey>> {
    let names = info_names(store, full_dir)?;
    if names.is_empty() {
        vouch_keys::check_not_encrypted(source)?;
        return Ok(None);
    }
    let mut first_err: Option<Error> = None;
    for name in &names {
        let attempt = read_info(store, name)
            .and_then(|info| vouch_keys::unlock(&info, source).map_err(Error::from));
        match attempt {
            Ok(k) => return Ok(Some(Arc::new(k))),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| {
        Error::from(KeyError::InfoMissing {
            file: join(full_dir, layout::ENCRYPTION_INFO),
        })
    }))
}

/// Opens a whole sealed file; `name` is its full name for messages.
pub fn open_small_file(
    key: &DataKey,
    backup_id: &[u8],
    path: &str,
    stored: &[u8],
    name: &str,
) -> Result<Vec<u8>> {
    ctx(
        envelope::open_all(key, FileId { backup_id, path }, stored),
        name,
    )
}

/// Whether stored bytes start like a sealed file.
pub fn looks_sealed(stored: &[u8]) -> bool {
    stored.starts_with(&envelope::MAGIC)
}

/// Decodes a stored `BACKUP-LISTING`.
pub fn decode_listing(bytes: &[u8], name: &str) -> Result<pb::IntegrityListing> {
    let l: pb::IntegrityListing = ctx(decode_canonical(bytes, "integrity listing"), name)?;
    if l.format_version != LISTING_FORMAT_VERSION {
        return Err(Error::new(ErrorKind::Unsupported, format!(
            "{name}: listing format version {} is not supported (this reader supports {LISTING_FORMAT_VERSION})",
            l.format_version
        )));
    }
    Ok(l)
}

/// Reads a layer's `BACKUP-LISTING`, if it has one.
pub fn read_listing(store: &dyn Store, dir: &str) -> Result<Option<pb::IntegrityListing>> {
    let path = join(dir, layout::LISTING);
    match store.get_limited(&path, layout::MAX_METADATA_BYTES) {
        Ok(b) => Ok(Some(decode_listing(
            &b,
            &format!("{}/{path}", store.uri().trim_end_matches('/')),
        )?)),
        Err(vouch_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A data file's plaintext: the stored bytes, or the envelope opened over them.
#[derive(Debug)]
pub enum DataSource<'a> {
    /// An unencrypted layer.
    Plain(StoreSource<'a>),
    /// An encrypted layer: chunks decrypted as blocks are read.
    Sealed(Box<Opened<StoreSource<'a>>>),
}

impl BlockSource for DataSource<'_> {
    fn size(&self) -> u64 {
        match self {
            DataSource::Plain(s) => s.size(),
            DataSource::Sealed(s) => s.size(),
        }
    }

    fn read_at(&self, offset: u64, len: usize) -> vouch_format::Result<Cow<'_, [u8]>> {
        match self {
            DataSource::Plain(s) => s.read_at(offset, len),
            DataSource::Sealed(s) => s.read_at(offset, len),
        }
    }
}

/// Opens data file `file` of the layer in `dir` (stored size `size`) for reading, through
/// the envelope when the chain is encrypted.
pub fn open_data_file<'a>(
    store: &'a dyn Store,
    dir: &str,
    file: &str,
    size: u64,
    key: Option<(&DataKey, &[u8])>,
) -> Result<SstReader<DataSource<'a>>> {
    let path = join(dir, file);
    let name = format!("{}/{path}", store.uri().trim_end_matches('/'));
    let src = StoreSource::new(store, &path, size);
    let src = match key {
        None => DataSource::Plain(src),
        Some((k, backup_id)) => DataSource::Sealed(Box::new(ctx(
            Opened::new(
                k,
                FileId {
                    backup_id,
                    path: file,
                },
                src,
            ),
            name.clone(),
        )?)),
    };
    ctx(SstReader::open(src), name)
}
