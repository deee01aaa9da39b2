//! Encrypted backups, write side (spec/encryption.md): sealing small files with derived
//! nonces, the stored integrity listing, and `ALTER BACKUP … ADD NEW_KMS`. Reading sealed
//! files and chain keys is `vouch_chain::sealed`.
//!
//! Every file of an encrypted layer that holds user data is sealed: data files, the
//! manifest and the resume checkpoints. A file's identity in the envelope is (the layer's
//! backup id, its path inside the layer's directory).

use hmac::{Hmac, Mac};
use prost::Message;
use rand::RngCore;
use sha2::Sha256;
use vouch_chain::join;
use vouch_chain::sealed::key_records;
use vouch_chain::Collection;
use vouch_format::encryption_info::MAX_KEY_RECORDS;
use vouch_format::envelope::DataKey;
use vouch_format::envelope::{self, FileId, FILE_NONCE_LEN};
use vouch_format::layout;
use vouch_format::manifest::{self, pb};
use vouch_keys::KeySource;

use crate::{ctx, Error, ErrorKind, Result};

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

/// The listing encoded for storage.
pub fn encode_listing(l: &pb::IntegrityListing) -> Vec<u8> {
    l.encode_to_vec()
}

/// `ALTER BACKUP 'subdir'|LATEST IN uri ADD NEW_KMS = new… WITH OLD_KMS = old…`: checks
/// every key record of the chain (a problem is refused with its
/// [`vouch_chain::ErrorKind::KeyRecord`]), unlocks the key from the newest record with
/// `old`, wraps it with every new KMS URI, and writes the result as the next
/// `ENCRYPTION-INFO-<n>` in the full backup's directory (at most
/// [`MAX_KEY_RECORDS`] records in all).
/// Nothing existing is modified. Returns the path written.
pub fn alter_backup_add_kms(
    coll: &Collection,
    subdir: &str,
    old: &KeySource,
    new_kms: &[String],
) -> Result<String> {
    let full = coll.resolve_subdir(subdir)?;
    let store = coll.store.as_ref();
    if !coll.full_backups()?.contains(&full) {
        return Err(Error::refused(
            ErrorKind::NotFound,
            format!(
                "backup {} not found in {}",
                layout::display_subdir(&full),
                store.uri()
            ),
        ));
    }
    let records = key_records(store, &full)?;
    if !records.encrypted {
        return Err(Error::refused(
            ErrorKind::NotEncrypted,
            format!(
                "ALTER BACKUP … ADD NEW_KMS: backup {} is not encrypted",
                layout::display_subdir(&full)
            ),
        ));
    }
    // Every record keeps the rules (a damaged or missing one is refused, as restore
    // refuses it); the newest holds every wrap of the older ones.
    if let Some(i) = records.issues.first() {
        return Err(i.to_error(store).into());
    }
    let Some((newest, newest_info)) = records.good.first() else {
        return Err(Error::refused(ErrorKind::Usage, "no key record opened"));
    };
    let info = vouch_keys::add_kms(newest_info, old, new_kms)?;
    let prefix = join(&full, "");
    let next = newest
        .strip_prefix(&prefix)
        .and_then(|n| layout::parse_encryption_info_name(n).ok())
        .unwrap_or(0)
        + 1;
    if next >= MAX_KEY_RECORDS as u64 {
        return Err(Error::refused(
            ErrorKind::Usage,
            format!(
                "ALTER BACKUP … ADD NEW_KMS: backup {} has {MAX_KEY_RECORDS} key records, the most a chain may have",
                layout::display_subdir(&full)
            ),
        ));
    }
    let path = join(&full, &layout::encryption_info_name(next));
    store.put_new(&path, &vouch_format::encryption_info::encode(&info))?;
    Ok(path)
}
