//! The files vouch writes inside a backup directory.

use super::names::{
    canonical_u64, common_prefix_len, descending_after, invalid, CHECKPOINT_PREFIX, DATA_DIR,
    ENCRYPTION_INFO, ENCRYPTION_INFO_PREFIX, LISTING, LOCK_PREFIX, MANIFEST, MANIFEST_CHECKSUM,
    PROGRESS_DIR,
};
use crate::error::Result;

// ---- how much of an object a reader takes --------------------------------------------------

/// The most bytes a reader takes of `LATEST`, a `metadata/latest/LATEST-*` marker or a
/// `BACKUP_MANIFEST-CHECKSUM` before decoding it (they hold a few dozen): a larger object
/// is refused unread, so a huge or sparse one cannot exhaust memory. Generous, so that
/// an object with stray bytes still decodes and is reported precisely.
pub const MAX_POINTER_BYTES: u64 = 64 << 10;

/// The most bytes a reader takes of a lock, a checkpoint or an `ENCRYPTION-INFO` record.
pub const MAX_RECORD_BYTES: u64 = 64 << 20;

/// The most bytes a reader takes of a `BACKUP_MANIFEST` or `BACKUP-LISTING`, sealed or not:
/// [`crate::manifest::MAX_MANIFEST_BYTES`] of content and room for the envelope around it.
pub const MAX_METADATA_BYTES: u64 = 2 * crate::manifest::MAX_MANIFEST_BYTES as u64;

// ---- files in a backup directory --------------------------------------------------------

/// A data file: `data/<n>.sst`, `n` zero-padded to 6 digits (`data/000001.sst`); more
/// digits when `n` needs them.
pub fn data_file(n: u64) -> String {
    format!("{DATA_DIR}/{n:06}.sst")
}

/// Parses a data file name as [`data_file`] writes it; returns `n`.
pub fn parse_data_file(s: &str) -> Result<u64> {
    const FIELD: &str = "data file name";
    let prefix = "data/";
    let Some(rest) = s.strip_prefix(prefix) else {
        return Err(invalid(
            FIELD,
            common_prefix_len(s, prefix),
            s,
            "expected data/<number>.sst",
        ));
    };
    let Some(digits) = rest.strip_suffix(".sst") else {
        return Err(invalid(
            FIELD,
            s.len(),
            s,
            "expected the name to end in .sst",
        ));
    };
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            FIELD,
            prefix.len(),
            s,
            "expected at least 6 decimal digits",
        ));
    }
    if digits.len() > 6 && digits.starts_with('0') {
        return Err(invalid(
            FIELD,
            prefix.len(),
            s,
            "a number over 6 digits has a leading zero",
        ));
    }
    digits
        .parse::<u64>()
        .map_err(|_| invalid(FIELD, prefix.len(), s, "the number is over 2^64 - 1"))
}

/// The lock a backup job writes first in its directory: `BACKUP-LOCK-<job id>`.
pub fn lock_name(job_id: u64) -> String {
    format!("{LOCK_PREFIX}{job_id}")
}

/// Parses a lock name as [`lock_name`] writes it; returns the job id.
pub fn parse_lock_name(s: &str) -> Result<u64> {
    const FIELD: &str = "lock name";
    let Some(digits) = s.strip_prefix(LOCK_PREFIX) else {
        return Err(invalid(
            FIELD,
            common_prefix_len(s, LOCK_PREFIX),
            s,
            "expected BACKUP-LOCK-<job id>",
        ));
    };
    canonical_u64(s, digits, LOCK_PREFIX.len(), FIELD)
}

/// A resume checkpoint: `progress/BACKUP-CHECKPOINT-<u64::MAX - seq, 20 digits>`, so
/// that ascending name order is newest first.
pub fn checkpoint_name(seq: u64) -> String {
    format!("{PROGRESS_DIR}/{CHECKPOINT_PREFIX}{:020}", u64::MAX - seq)
}

/// Parses a checkpoint name as [`checkpoint_name`] writes it; returns the sequence number.
pub fn parse_checkpoint_name(s: &str) -> Result<u64> {
    descending_after(
        s,
        &format!("{PROGRESS_DIR}/{CHECKPOINT_PREFIX}"),
        "checkpoint name",
    )
}

/// `ENCRYPTION-INFO-<n>`: the n-th key record added to an encrypted chain (n ≥ 1).
pub fn encryption_info_name(n: u64) -> String {
    format!("{ENCRYPTION_INFO_PREFIX}{n}")
}

/// Parses `ENCRYPTION-INFO-<n>` as [`encryption_info_name`] writes it (decimal, no leading
/// zeros, n ≥ 1).
pub fn parse_encryption_info_name(s: &str) -> Result<u64> {
    let digits = s.strip_prefix(ENCRYPTION_INFO_PREFIX).ok_or_else(|| {
        invalid(
            "encryption info name",
            0,
            s,
            "does not start with ENCRYPTION-INFO-",
        )
    })?;
    let at = ENCRYPTION_INFO_PREFIX.len();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return Err(invalid(
            "encryption info name",
            at,
            s,
            "expected a decimal number from 1 without leading zeros",
        ));
    }
    digits
        .parse::<u64>()
        .map_err(|_| invalid("encryption info name", at, s, "number out of range"))
}

/// A file inside a backup directory, by its name relative to that directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BackupFile {
    /// [`MANIFEST`].
    Manifest,
    /// [`MANIFEST_CHECKSUM`].
    ManifestChecksum,
    /// [`ENCRYPTION_INFO`].
    EncryptionInfo,
    /// `ENCRYPTION-INFO-<n>`, [`encryption_info_name`].
    EncryptionInfoRotation(u64),
    /// [`LISTING`].
    Listing,
    /// A data file, [`data_file`].
    Data(u64),
    /// A lock, [`lock_name`] (the job id).
    Lock(u64),
    /// A checkpoint, [`checkpoint_name`] (the sequence number).
    Checkpoint(u64),
}

impl BackupFile {
    /// The name relative to the backup directory.
    pub fn name(&self) -> String {
        match *self {
            BackupFile::Manifest => MANIFEST.to_string(),
            BackupFile::ManifestChecksum => MANIFEST_CHECKSUM.to_string(),
            BackupFile::EncryptionInfo => ENCRYPTION_INFO.to_string(),
            BackupFile::EncryptionInfoRotation(n) => encryption_info_name(n),
            BackupFile::Listing => LISTING.to_string(),
            BackupFile::Data(n) => data_file(n),
            BackupFile::Lock(id) => lock_name(id),
            BackupFile::Checkpoint(seq) => checkpoint_name(seq),
        }
    }
}

/// Parses a name relative to a backup directory as one of the files vouch writes there.
pub fn parse_backup_file(s: &str) -> Result<BackupFile> {
    Ok(match s {
        MANIFEST => BackupFile::Manifest,
        MANIFEST_CHECKSUM => BackupFile::ManifestChecksum,
        ENCRYPTION_INFO => BackupFile::EncryptionInfo,
        LISTING => BackupFile::Listing,
        _ if s.starts_with(ENCRYPTION_INFO_PREFIX) => {
            BackupFile::EncryptionInfoRotation(parse_encryption_info_name(s)?)
        }
        _ if s.starts_with("data/") => BackupFile::Data(parse_data_file(s)?),
        _ if s.starts_with(LOCK_PREFIX) => BackupFile::Lock(parse_lock_name(s)?),
        _ if s.starts_with("progress/") => BackupFile::Checkpoint(parse_checkpoint_name(s)?),
        _ => {
            return Err(invalid(
                "backup file name",
                0,
                s,
                "not a file vouch writes in a backup directory (BACKUP_MANIFEST, BACKUP_MANIFEST-CHECKSUM, ENCRYPTION-INFO, ENCRYPTION-INFO-<n>, BACKUP-LISTING, data/<n>.sst, BACKUP-LOCK-<id>, progress/BACKUP-CHECKPOINT-<n>)",
            ))
        }
    })
}
