//! `KeyError`: what went wrong getting or making a chain's data key, naming the cause.
//!
//! No variant ever holds a secret: passphrases, key bytes and KMS credentials never reach
//! an error. KMS URIs appear only as their `uri_id` (no query string, no credentials).

use std::fmt;

/// Everything that can go wrong in `vouch-keys`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The passphrase does not unwrap the data key (authentication of the wrap failed).
    #[error("wrong passphrase: it does not unlock this backup's data key")]
    WrongPassphrase,
    /// A passphrase was given, but the chain's key is not wrapped by any passphrase.
    #[error("this backup's data key is not protected by a passphrase; it is wrapped by the KMS keys {}", list(.recorded_kms))]
    NoPassphraseWrap {
        /// The KMS `uri_id`s recorded in `ENCRYPTION-INFO`.
        recorded_kms: Vec<String>,
    },
    /// None of the given KMS URIs unwraps the data key.
    #[error("none of the given KMS keys wraps this backup's data key: tried {}; the data key is wrapped by {}{}{}",
        list(.tried), list(.recorded), if *.recorded_passphrase { " and a passphrase" } else { "" },
        list_failures(.failures))]
    KmsNoMatch {
        /// `uri_id`s of the URIs given.
        tried: Vec<String>,
        /// `uri_id`s recorded in `ENCRYPTION-INFO`.
        recorded: Vec<String>,
        /// Whether a passphrase also wraps the key.
        recorded_passphrase: bool,
        /// Given URIs that matched a record but failed: (`uri_id`, why).
        failures: Vec<(String, String)>,
    },
    /// Several kinds of key were given (passphrase and KMS) and none unlocks the key.
    #[error("no key given unlocks this backup: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    NothingUnlocks(Vec<KeyError>),
    /// A wrap opened, but the key it holds is not the chain's key (`key_check` differs):
    /// `ENCRYPTION-INFO` is damaged or was altered.
    #[error("ENCRYPTION-INFO key_check does not match the key unwrapped by {by}: the record is damaged or was altered")]
    KeyCheckMismatch {
        /// `passphrase` or the KMS `uri_id`.
        by: String,
    },
    /// A key was given, but the backup is not encrypted.
    #[error("an encryption key was given ({given}) but the backup is not encrypted")]
    KeyGivenButNotEncrypted {
        /// What was given: `passphrase`, KMS `uri_id`s.
        given: String,
    },
    /// The backup is encrypted, but no key was given. Shown with SQL's option names;
    /// [`KeyError::message`] names another front-end's (a command line's flags).
    #[error("{}", no_key(*.passphrase, .kms, OptionNames::SQL))]
    EncryptedButNoKey {
        /// Whether a passphrase wraps the key.
        passphrase: bool,
        /// KMS `uri_id`s that wrap it.
        kms: Vec<String>,
    },
    /// `ENCRYPTION-INFO` (or `ENCRYPTION-INFO-<n>`) does not decode or validate.
    #[error("{file} is damaged: {error}")]
    Damaged {
        /// The file's name.
        file: String,
        /// The decode error, with field and offset.
        error: vouch_format::Error,
    },
    /// No `ENCRYPTION-INFO` where an encrypted backup needs one.
    #[error("{file} is missing: the backup's files are encrypted but the record of its key is not there")]
    InfoMissing {
        /// Where it was looked for.
        file: String,
    },
    /// A KMS URI does not parse or has bad parameters.
    #[error("KMS URI {uri_id}: {reason}")]
    BadKmsUri {
        /// The URI without query string.
        uri_id: String,
        /// What is wrong (parameter names, never values).
        reason: String,
    },
    /// A KMS scheme vouch knows of but does not implement.
    #[error("not supported yet: {scheme} KMS")]
    UnsupportedKms {
        /// The URI scheme (`gs`, `azure-kms`, …).
        scheme: String,
    },
    /// A KMS call failed (network, credentials, the KMS refused).
    #[error("KMS {uri_id}: {op} failed: {reason}")]
    Kms {
        /// The KMS URI id.
        uri_id: String,
        /// `Encrypt`, `Decrypt`, reading the key file, …
        op: &'static str,
        /// Why.
        reason: String,
    },
    /// The KMS URI is already recorded (`ADD NEW_KMS` of a key that wraps it already).
    #[error("KMS {uri_id} already wraps this backup's data key")]
    KmsAlreadyRecorded {
        /// The KMS URI id.
        uri_id: String,
    },
    /// The passphrase could not be read or is not acceptable (never shows it).
    #[error("passphrase: {0}")]
    BadPassphrase(String),
    /// The caller asked for something invalid.
    #[error("usage: {0}")]
    Usage(String),
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

fn list_failures(v: &[(String, String)]) -> String {
    v.iter().map(|(id, why)| format!("; {id}: {why}")).collect()
}

fn wrapped_by(passphrase: bool, kms: &[String]) -> String {
    let mut parts = Vec::new();
    if passphrase {
        parts.push("a passphrase".to_string());
    }
    if !kms.is_empty() {
        parts.push(format!("the KMS keys {}", kms.join(", ")));
    }
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join(" and ")
    }
}

/// How a front-end names the key options in messages that tell the user what to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionNames {
    /// The passphrase option.
    pub passphrase: &'static str,
    /// The KMS option.
    pub kms: &'static str,
}

impl OptionNames {
    /// SQL's `WITH` options (what [`fmt::Display`] says).
    pub const SQL: OptionNames = OptionNames {
        passphrase: "encryption_passphrase",
        kms: "kms",
    };
}

impl KeyError {
    /// The message, naming the options to give as `names` does (the `Display` text with
    /// [`OptionNames::SQL`]).
    pub fn message(&self, names: OptionNames) -> String {
        match self {
            KeyError::EncryptedButNoKey { passphrase, kms } => no_key(*passphrase, kms, names),
            KeyError::NothingUnlocks(v) => format!(
                "no key given unlocks this backup: {}",
                v.iter()
                    .map(|e| e.message(names))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            other => other.to_string(),
        }
    }
}

fn no_key(passphrase: bool, kms: &[String], names: OptionNames) -> String {
    let give = match (passphrase, kms.is_empty()) {
        (true, true) => names.passphrase.to_string(),
        (false, false) => names.kms.to_string(),
        _ => format!("{} or {}", names.passphrase, names.kms),
    };
    format!(
        "the backup is encrypted but no key was given: its data key is wrapped by {}; give {give}",
        wrapped_by(passphrase, kms)
    )
}

/// A value whose `Debug` never shows it.
pub(crate) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}
