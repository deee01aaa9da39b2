//! Encrypted backups (spec/encryption.md): where a chain's data key comes from, how layer
//! files are sealed and opened with the envelope (`vouch_format::envelope`), and the
//! unencrypted integrity listing of an encrypted layer.
//!
//! Every file of an encrypted layer that holds user data is sealed: data files, the
//! manifest and the resume checkpoints. A file's identity in the envelope is (the layer's
//! backup id, its path inside the layer's directory). The chain's key records
//! (`ENCRYPTION-INFO`, `ENCRYPTION-INFO-<n>`) are in the full backup's directory; readers
//! try the newest first.

use std::borrow::Cow;
use std::sync::Arc;

use pbkdf2::hmac::{Hmac, Mac};
use prost::Message;
use rand::RngCore;
use sha2::Sha256;
use vouch_format::envelope::{self, FileId, Opened, FILE_NONCE_LEN};
use vouch_format::layout;
use vouch_format::manifest::{self, decode_canonical, pb, LISTING_FORMAT_VERSION};
use vouch_format::sst::{check_read_range, BlockSource, SstReader};
use vouch_keys::{EncryptionInfo, KeyError, KeySource};
use vouch_store::Store;

pub use vouch_keys::DataKey;

use crate::collection::join;
use crate::{ctx, Error, Result};

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
    let bytes = store.get(path)?;
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
        Error::Key(KeyError::InfoMissing {
            file: join(full_dir, layout::ENCRYPTION_INFO),
        })
    }))
}

/// A fresh random file nonce (data files).
pub fn random_file_nonce() -> [u8; FILE_NONCE_LEN] {
    let mut n = [0u8; FILE_NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut n);
    n
}

/// A file nonce derived from the key, the file identity and the plaintext: sealing the
/// same small file twice (a resumed job rewriting its manifest or a checkpoint) gives the
/// same bytes, and different plaintexts never share a nonce.
fn derived_file_nonce(key: &DataKey, id: FileId<'_>, plaintext: &[u8]) -> [u8; FILE_NONCE_LEN] {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()) else {
        return random_file_nonce();
    };
    mac.update(b"vouch derived file nonce v1\0");
    mac.update(&(id.backup_id.len() as u64).to_be_bytes());
    mac.update(id.backup_id);
    mac.update(&(id.path.len() as u64).to_be_bytes());
    mac.update(id.path.as_bytes());
    mac.update(&manifest::sha256(plaintext));
    let out = mac.finalize().into_bytes();
    let mut n = [0u8; FILE_NONCE_LEN];
    n.copy_from_slice(out.get(..FILE_NONCE_LEN).unwrap_or(&[0; FILE_NONCE_LEN]));
    n
}

/// Seals a small file (manifest, checkpoint) deterministically.
pub fn seal_small_file(
    key: &DataKey,
    backup_id: &[u8],
    path: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let id = FileId { backup_id, path };
    let nonce = derived_file_nonce(key, id, plaintext);
    ctx(envelope::seal(key, id, plaintext, nonce), path)
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
        return Err(Error::Collection(format!(
            "{name}: listing format version {} is not supported (this reader supports {LISTING_FORMAT_VERSION})",
            l.format_version
        )));
    }
    Ok(l)
}

/// Reads a layer's `BACKUP-LISTING`, if it has one.
pub fn read_listing(store: &dyn Store, dir: &str) -> Result<Option<pb::IntegrityListing>> {
    let path = join(dir, layout::LISTING);
    match store.get(&path) {
        Ok(b) => Ok(Some(decode_listing(
            &b,
            &format!("{}/{path}", store.uri().trim_end_matches('/')),
        )?)),
        Err(vouch_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Checks a listing against the decrypted manifest it claims to describe: every field
/// must agree, so a listing forged to hide a swapped or altered file is caught.
pub fn check_listing(
    listing: &pb::IntegrityListing,
    m: &pb::BackupManifest,
    name: &str,
) -> Result<()> {
    match manifest::listing_diff(listing, m).first() {
        None => Ok(()),
        Some(d) => Err(Error::Collection(format!(
            "{name} does not match the encrypted manifest (field {}): the listing was forged or damaged",
            d.field()
        ))),
    }
}

/// The listing encoded for storage.
pub fn encode_listing(l: &pb::IntegrityListing) -> Vec<u8> {
    l.encode_to_vec()
}

/// A data file read through a store with positioned reads.
#[derive(Debug)]
pub struct StoreSource<'a> {
    store: &'a dyn Store,
    path: String,
    size: u64,
}

impl<'a> StoreSource<'a> {
    /// `path` in `store`, whose size is `size`.
    pub fn new(store: &'a dyn Store, path: String, size: u64) -> Self {
        StoreSource { store, path, size }
    }
}

impl BlockSource for StoreSource<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, len: usize) -> vouch_format::Result<Cow<'_, [u8]>> {
        check_read_range(self.size, offset, len)?;
        self.store
            .get_range(&self.path, offset, len as u64)
            .map(Cow::Owned)
            .map_err(|e| vouch_format::Error::Io {
                kind: std::io::ErrorKind::Other,
                message: e.to_string(),
            })
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
    let src = StoreSource::new(store, path, size);
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

/// `ALTER BACKUP 'subdir'|LATEST IN uri ADD NEW_KMS = new… WITH OLD_KMS = old…`: unlocks the
/// chain's key from its newest record with `old`, wraps it with every new KMS URI, and
/// writes the result as a new `ENCRYPTION-INFO-<n>` in the full backup's directory.
/// Nothing existing is modified. Returns the path written.
pub fn alter_backup_add_kms(
    coll: &crate::Collection,
    subdir: &str,
    old: &KeySource,
    new_kms: &[String],
) -> Result<String> {
    let full = coll.resolve_subdir(subdir)?;
    let store = coll.store.as_ref();
    if !coll.full_backups()?.contains(&full) {
        return Err(Error::Collection(format!(
            "backup {} not found in {}",
            layout::display_subdir(&full),
            store.uri()
        )));
    }
    let names = info_names(store, &full)?;
    if names.is_empty() {
        return Err(Error::Usage(format!(
            "ALTER BACKUP … ADD NEW_KMS: backup {} is not encrypted",
            layout::display_subdir(&full)
        )));
    }
    // The newest record that the old key opens.
    let mut last_err = None;
    let mut new_info = None;
    for name in &names {
        match read_info(store, name)
            .and_then(|info| vouch_keys::add_kms(&info, old, new_kms).map_err(Error::from))
        {
            Ok(i) => {
                new_info = Some(i);
                break;
            }
            Err(e) => {
                last_err.get_or_insert(e);
            }
        }
    }
    let Some(info) = new_info else {
        return Err(last_err.unwrap_or_else(|| Error::Usage("no key record opened".into())));
    };
    let prefix = join(&full, "");
    let next = store
        .list(&prefix)?
        .iter()
        .filter_map(|o| o.path.strip_prefix(&prefix))
        .filter_map(|n| layout::parse_encryption_info_name(n).ok())
        .max()
        .unwrap_or(0)
        + 1;
    let path = join(&full, &layout::encryption_info_name(next));
    store.put_new(&path, &vouch_format::encryption_info::encode(&info))?;
    Ok(path)
}
