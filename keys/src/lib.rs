//! # vouch-keys
//!
//! A chain's encryption keys (spec/keys.md): one random 256-bit data key per chain,
//! wrapped by key-encryption keys — one derived from a passphrase (PBKDF2-HMAC-SHA256, a
//! random salt per chain, the iteration count stored) and any number held by KMSs — and
//! recorded in `ENCRYPTION-INFO` ([`vouch_format::encryption_info`]).
//!
//! The engine calls three operations: [`create`] (a new chain: a fresh key and its
//! record), [`unlock`] (the key of an existing chain from what the user gave) and
//! [`add_kms`] (`ALTER BACKUP … ADD NEW_KMS … WITH OLD_KMS`: a new record with more
//! wraps). Secrets — passphrases, key-encryption keys, data keys, KMS credentials — are
//! zeroized when dropped, show as `<redacted>` in `Debug`, and never appear in errors.
//!
//! Owns the data keys and their wrapping. Must never print, log or store a secret, and
//! never reads a collection (the read side hands it key records).

#![forbid(unsafe_code)]

mod error;
pub mod kms;
pub mod passphrase;

use std::fmt;

use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

pub use error::{KeyError, OptionNames};

use kms::{kms_from_uri, uri_id_of};
use passphrase::Passphrase;
use vouch_format::encryption_info::EncryptionInfo;
use vouch_format::envelope::DataKey;

use vouch_format::encryption_info::{
    self as info_fmt, KmsWrappedKey, PassphraseWrappedKey, DEFAULT_ITERATIONS, KEY_CHECK_LABEL,
    PASSPHRASE_WRAP_LABEL, SALT_LEN,
};

/// Results of this crate.
pub type Result<T, E = KeyError> = std::result::Result<T, E>;

/// A fresh data key from the operating system's random number generator.
pub fn new_data_key() -> DataKey {
    let mut bytes = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(&mut bytes[..]);
    DataKey::from_bytes(*bytes)
}

/// What the user gave to encrypt or unlock a backup: a passphrase and/or KMS URIs (which
/// may carry credentials: `Debug` shows only their `uri_id`s).
#[derive(Clone, Default)]
pub struct KeySource {
    /// `encryption_passphrase`.
    pub passphrase: Option<Passphrase>,
    /// `kms` URIs, as given.
    pub kms: Vec<String>,
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySource")
            .field(
                "passphrase",
                &self.passphrase.as_ref().map(|_| error::Redacted),
            )
            .field(
                "kms",
                &self.kms.iter().map(|u| uri_id_of(u)).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl KeySource {
    /// Only a passphrase.
    pub fn passphrase(p: Passphrase) -> KeySource {
        KeySource {
            passphrase: Some(p),
            kms: Vec::new(),
        }
    }

    /// Only KMS URIs.
    pub fn kms<S: Into<String>>(uris: impl IntoIterator<Item = S>) -> KeySource {
        KeySource {
            passphrase: None,
            kms: uris.into_iter().map(Into::into).collect(),
        }
    }

    /// Whether nothing was given.
    pub fn is_empty(&self) -> bool {
        self.passphrase.is_none() && self.kms.is_empty()
    }

    /// What was given, for messages: `passphrase` and the KMS `uri_id`s.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.passphrase.is_some() {
            parts.push("passphrase".to_string());
        }
        parts.extend(self.kms.iter().map(|u| format!("kms {}", uri_id_of(u))));
        parts.join(", ")
    }
}

/// Options of [`create_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateOptions {
    /// PBKDF2 iterations for a passphrase (default 600,000; 100,000 to 2,000,000).
    pub iterations: u32,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            iterations: DEFAULT_ITERATIONS,
        }
    }
}

fn aad(label: &[u8], chain_id: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(label.len() + chain_id.len());
    v.extend_from_slice(label);
    v.extend_from_slice(chain_id);
    v
}

fn key_check_mac(key: &DataKey, chain_id: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(KEY_CHECK_LABEL);
    mac.update(chain_id);
    mac
}

/// `key_check` of a data key for a chain: HMAC-SHA256(data key, label ‖ chain id).
pub fn key_check(key: &DataKey, chain_id: &[u8]) -> Vec<u8> {
    key_check_mac(key, chain_id)
        .finalize()
        .into_bytes()
        .to_vec()
}

/// Whether `key` is the key `info` records (constant-time comparison).
pub fn key_matches(info: &EncryptionInfo, key: &DataKey) -> bool {
    key_check_mac(key, &info.chain_id)
        .verify_slice(&info.key_check)
        .is_ok()
}

fn wrap_passphrase(
    p: &Passphrase,
    chain_id: &[u8],
    key: &DataKey,
    iterations: u32,
) -> PassphraseWrappedKey {
    let mut salt = vec![0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    let kek = passphrase::derive_kek(p, &salt, iterations);
    let wrapped_key = passphrase::wrap_key(&kek, &aad(PASSPHRASE_WRAP_LABEL, chain_id), key);
    PassphraseWrappedKey {
        salt,
        iterations,
        wrapped_key,
    }
}

/// Wraps `key` with the KMS of `uri`, then unwraps it again to prove the wrap restores.
fn wrap_kms(uri: &str, key: &DataKey) -> Result<KmsWrappedKey> {
    let kms = kms_from_uri(uri)?;
    let wrapped_key = kms.wrap(key)?;
    let back = kms.unwrap(&wrapped_key)?;
    if back.as_bytes() != key.as_bytes() {
        return Err(KeyError::Kms {
            uri_id: kms.uri_id(),
            op: "Decrypt",
            reason: "unwrapping the new wrap gave a different key".into(),
        });
    }
    Ok(KmsWrappedKey {
        uri_id: kms.uri_id(),
        wrapped_key,
    })
}

fn check_record(info: &EncryptionInfo) -> Result<()> {
    info_fmt::validate(info).map_err(|error| KeyError::Damaged {
        file: "ENCRYPTION-INFO".into(),
        error,
    })
}

/// A new chain's key: a fresh data key and its `ENCRYPTION-INFO` record, wrapped by the
/// passphrase (600,000 iterations) and by every KMS given (each wrap is unwrapped once
/// to prove it restores).
pub fn create(chain_id: &[u8], source: &KeySource) -> Result<(DataKey, EncryptionInfo)> {
    create_with(chain_id, source, CreateOptions::default())
}

/// [`create`] with options.
pub fn create_with(
    chain_id: &[u8],
    source: &KeySource,
    opts: CreateOptions,
) -> Result<(DataKey, EncryptionInfo)> {
    if source.is_empty() {
        return Err(KeyError::Usage(
            "encrypting a backup needs encryption_passphrase or kms".into(),
        ));
    }
    if chain_id.len() != info_fmt::CHAIN_ID_LEN {
        return Err(KeyError::Usage(format!(
            "chain id of {} bytes, expected {}",
            chain_id.len(),
            info_fmt::CHAIN_ID_LEN
        )));
    }
    if !(info_fmt::MIN_ITERATIONS..=info_fmt::MAX_ITERATIONS).contains(&opts.iterations) {
        return Err(KeyError::Usage(format!(
            "PBKDF2 iteration count {} is outside {} to {}",
            opts.iterations,
            info_fmt::MIN_ITERATIONS,
            info_fmt::MAX_ITERATIONS
        )));
    }
    let key = new_data_key();
    let mut info = EncryptionInfo {
        format_version: info_fmt::ENCRYPTION_INFO_FORMAT_VERSION,
        chain_id: chain_id.to_vec(),
        passphrase: source
            .passphrase
            .as_ref()
            .map(|p| wrap_passphrase(p, chain_id, &key, opts.iterations)),
        kms: Vec::new(),
        key_check: key_check(&key, chain_id),
    };
    for uri in &source.kms {
        let w = wrap_kms(uri, &key)?;
        if info.kms.iter().any(|k| k.uri_id == w.uri_id) {
            return Err(KeyError::Usage(format!("KMS {} given twice", w.uri_id)));
        }
        info.kms.push(w);
    }
    check_record(&info).map_err(|e| KeyError::Usage(e.to_string()))?;
    Ok((key, info))
}

fn recorded_kms(info: &EncryptionInfo) -> Vec<String> {
    info.kms.iter().map(|k| k.uri_id.clone()).collect()
}

fn unlock_passphrase(info: &EncryptionInfo, p: &Passphrase) -> Result<DataKey> {
    let Some(w) = &info.passphrase else {
        return Err(KeyError::NoPassphraseWrap {
            recorded_kms: recorded_kms(info),
        });
    };
    let kek = passphrase::derive_kek(p, &w.salt, w.iterations);
    let key = passphrase::unwrap_key(
        &kek,
        &aad(PASSPHRASE_WRAP_LABEL, &info.chain_id),
        &w.wrapped_key,
    )
    .ok_or(KeyError::WrongPassphrase)?;
    if !key_matches(info, &key) {
        return Err(KeyError::KeyCheckMismatch {
            by: "passphrase".into(),
        });
    }
    Ok(key)
}

fn unlock_kms(info: &EncryptionInfo, uris: &[String]) -> Result<DataKey> {
    let mut tried = Vec::new();
    let mut failures = Vec::new();
    let mut check_failed = None;
    for uri in uris {
        let kms = match kms_from_uri(uri) {
            Ok(k) => k,
            Err(e) => {
                tried.push(uri_id_of(uri));
                failures.push((uri_id_of(uri), e.to_string()));
                continue;
            }
        };
        let id = kms.uri_id();
        tried.push(id.clone());
        let Some(rec) = info.kms.iter().find(|k| k.uri_id == id) else {
            continue;
        };
        match kms.unwrap(&rec.wrapped_key) {
            Ok(key) if key_matches(info, &key) => return Ok(key),
            Ok(_) => check_failed = Some(KeyError::KeyCheckMismatch { by: id }),
            Err(e) => failures.push((id, e.to_string())),
        }
    }
    if let Some(e) = check_failed {
        return Err(e);
    }
    Err(KeyError::KmsNoMatch {
        tried,
        recorded: recorded_kms(info),
        recorded_passphrase: info.passphrase.is_some(),
        failures,
    })
}

/// The data key of a chain from what the user gave. Each given key is tried (the
/// passphrase, then the KMS URIs whose `uri_id` is recorded); the first whose unwrapped
/// key reproduces `key_check` wins. Errors name the cause: [`KeyError::EncryptedButNoKey`],
/// [`KeyError::WrongPassphrase`], [`KeyError::NoPassphraseWrap`],
/// [`KeyError::KmsNoMatch`] (listing the ids tried and recorded),
/// [`KeyError::KeyCheckMismatch`], [`KeyError::NothingUnlocks`] when both kinds fail,
/// [`KeyError::Damaged`] for a record that does not validate.
pub fn unlock(info: &EncryptionInfo, source: &KeySource) -> Result<DataKey> {
    check_record(info)?;
    if source.is_empty() {
        return Err(KeyError::EncryptedButNoKey {
            passphrase: info.passphrase.is_some(),
            kms: recorded_kms(info),
        });
    }
    let mut errors = Vec::new();
    if let Some(p) = &source.passphrase {
        match unlock_passphrase(info, p) {
            Ok(k) => return Ok(k),
            Err(e) => errors.push(e),
        }
    }
    if !source.kms.is_empty() {
        match unlock_kms(info, &source.kms) {
            Ok(k) => return Ok(k),
            Err(e) => errors.push(e),
        }
    }
    if errors.len() == 1 {
        if let Some(e) = errors.pop() {
            return Err(e);
        }
    }
    Err(KeyError::NothingUnlocks(errors))
}

/// `ALTER BACKUP … ADD NEW_KMS = new WITH OLD_KMS = old`: unlocks the key with `old`,
/// wraps it with every URI of `new_uris` and returns the new record (the old wraps kept,
/// the new ones appended). The caller writes it as `ENCRYPTION-INFO-<n>`; nothing here
/// changes `info`.
pub fn add_kms(
    info: &EncryptionInfo,
    old: &KeySource,
    new_uris: &[String],
) -> Result<EncryptionInfo> {
    if new_uris.is_empty() {
        return Err(KeyError::Usage(
            "ADD NEW_KMS needs at least one KMS URI".into(),
        ));
    }
    let key = unlock(info, old)?;
    let mut out = info.clone();
    for uri in new_uris {
        let w = wrap_kms(uri, &key)?;
        if out.kms.iter().any(|k| k.uri_id == w.uri_id) {
            return Err(KeyError::KmsAlreadyRecorded { uri_id: w.uri_id });
        }
        out.kms.push(w);
    }
    check_record(&out).map_err(|e| KeyError::Usage(e.to_string()))?;
    Ok(out)
}

/// Decodes a stored `ENCRYPTION-INFO` (`file` is its name, for the message).
pub fn decode_info(file: &str, bytes: &[u8]) -> Result<EncryptionInfo> {
    info_fmt::decode(bytes).map_err(|error| KeyError::Damaged {
        file: file.to_string(),
        error,
    })
}

/// For a backup that is not encrypted: an error when a key was given anyway.
pub fn check_not_encrypted(source: &KeySource) -> Result<()> {
    if source.is_empty() {
        Ok(())
    } else {
        Err(KeyError::KeyGivenButNotEncrypted {
            given: source.describe(),
        })
    }
}
