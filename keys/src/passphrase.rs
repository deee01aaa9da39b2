//! Passphrases and the key-encryption keys derived from them (PBKDF2-HMAC-SHA256), and the
//! one-shot AES-256-GCM wrap every key-encryption key uses.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{KeyError, Result};
use vouch_format::encryption_info::{DATA_KEY_LEN, NONCE_LEN, TAG_LEN};
use vouch_format::envelope::DataKey;

/// A passphrase. Zeroized on drop; `Debug` shows `Passphrase(<redacted>)`; no `Display`.
///
/// It remembers the key-encryption keys derived from it (by salt and iteration count,
/// shared by its clones, zeroized with the last of them), so a key record read again —
/// by every layer reader, plan and check of one verification — never costs a second
/// PBKDF2 run: [`derive_kek`] derives once per (salt, iterations) and
/// [`Passphrase::derivations`] counts the runs.
#[derive(Clone)]
pub struct Passphrase {
    text: Zeroizing<String>,
    derived: Arc<Mutex<Derived>>,
}

/// Key-encryption keys derived from one passphrase.
#[derive(Default)]
struct Derived {
    /// (salt, iterations, KEK), most recent last.
    keks: Vec<(Vec<u8>, u32, Zeroizing<[u8; 32]>)>,
    /// PBKDF2 runs made.
    runs: u64,
}

/// Most key-encryption keys one passphrase remembers (one per chain read).
const MAX_REMEMBERED: usize = 64;

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

impl Passphrase {
    /// A passphrase from its text; an empty one is refused.
    pub fn new(text: impl Into<String>) -> Result<Self> {
        let p = Passphrase {
            text: Zeroizing::new(text.into()),
            derived: Arc::default(),
        };
        if p.text.is_empty() {
            return Err(KeyError::BadPassphrase("the passphrase is empty".into()));
        }
        Ok(p)
    }

    /// The passphrase's bytes (to derive a key from; never print them).
    pub fn as_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// How many PBKDF2 derivations this passphrase and its clones have run (each (salt,
    /// iterations) is derived once).
    pub fn derivations(&self) -> u64 {
        self.derived
            .lock()
            .map_or_else(|e| e.into_inner().runs, |d| d.runs)
    }

    /// The passphrase given one of three ways, so it need not land in shell history:
    /// `value` itself, the environment variable named `env`, or the contents of `file`
    /// (one trailing newline removed). At most one may be given; `None` when none is. A
    /// missing variable, unreadable file, non-UTF-8 or empty passphrase is an error naming
    /// the variable or file (never the value).
    pub fn from_arg_env_or_file(
        value: Option<&str>,
        env: Option<&str>,
        file: Option<&Path>,
    ) -> Result<Option<Passphrase>> {
        let given = [value.is_some(), env.is_some(), file.is_some()]
            .iter()
            .filter(|g| **g)
            .count();
        if given > 1 {
            return Err(KeyError::Usage(
                "give the passphrase one way only: as a value, an environment variable or a file"
                    .into(),
            ));
        }
        if let Some(v) = value {
            return Passphrase::new(v).map(Some);
        }
        if let Some(name) = env {
            let v = match std::env::var(name) {
                Ok(v) => Zeroizing::new(v),
                Err(std::env::VarError::NotPresent) => {
                    return Err(KeyError::BadPassphrase(format!(
                        "environment variable {name} is not set"
                    )))
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(KeyError::BadPassphrase(format!(
                        "environment variable {name} is not valid UTF-8"
                    )))
                }
            };
            return Passphrase::new(v.as_str())
                .map_err(|_| {
                    KeyError::BadPassphrase(format!("environment variable {name} is empty"))
                })
                .map(Some);
        }
        if let Some(path) = file {
            let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
                KeyError::BadPassphrase(format!("reading {}: {e}", path.display()))
            })?);
            let text = std::str::from_utf8(&bytes).map_err(|e| {
                KeyError::BadPassphrase(format!(
                    "{} is not valid UTF-8 (at byte {})",
                    path.display(),
                    e.valid_up_to()
                ))
            })?;
            let text = text
                .strip_suffix("\r\n")
                .or_else(|| text.strip_suffix('\n'))
                .unwrap_or(text);
            return Passphrase::new(text)
                .map_err(|_| KeyError::BadPassphrase(format!("{} is empty", path.display())))
                .map(Some);
        }
        Ok(None)
    }
}

/// PBKDF2-HMAC-SHA256 of `password` and `salt` with `iterations` rounds into `out` (any
/// length): the derivation vouch uses for passphrase key-encryption keys.
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, out);
}

/// The key-encryption key of a passphrase: 32 bytes of PBKDF2-HMAC-SHA256. Zeroized on
/// drop. Derived once per (salt, iterations) and remembered by the passphrase.
pub fn derive_kek(passphrase: &Passphrase, salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
    let mut d = passphrase
        .derived
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, _, kek)) = d
        .keks
        .iter()
        .find(|(s, i, _)| s.as_slice() == salt && *i == iterations)
    {
        return kek.clone();
    }
    let mut kek = Zeroizing::new([0u8; 32]);
    pbkdf2_sha256(passphrase.as_bytes(), salt, iterations, &mut kek[..]);
    d.runs += 1;
    if d.keks.len() >= MAX_REMEMBERED {
        d.keks.remove(0);
    }
    d.keks.push((salt.to_vec(), iterations, kek.clone()));
    kek
}

/// AES-256-GCM one-shot seal: `nonce` ‖ ciphertext ‖ tag.
pub fn seal(kek: &[u8; 32], nonce: [u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(kek));
    // Encryption fails only past GCM's length limit (64 GiB), far above a key.
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap_or_default();
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Opens what [`seal`] made; `None` when the bytes are too short or do not authenticate.
pub fn open(kek: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(kek));
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .ok()
        .map(Zeroizing::new)
}

/// Wraps a data key under a key-encryption key with a fresh random nonce.
pub fn wrap_key(kek: &[u8; 32], aad: &[u8], key: &DataKey) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    seal(kek, nonce, aad, key.as_bytes())
}

/// Unwraps a data key; `None` when the wrap does not authenticate under `kek` or does not
/// hold 32 bytes.
pub fn unwrap_key(kek: &[u8; 32], aad: &[u8], wrapped: &[u8]) -> Option<DataKey> {
    let plain = open(kek, aad, wrapped)?;
    let mut arr = Zeroizing::new([0u8; DATA_KEY_LEN]);
    if plain.len() != DATA_KEY_LEN {
        return None;
    }
    arr.copy_from_slice(&plain);
    Some(DataKey::from_bytes(*arr))
}
