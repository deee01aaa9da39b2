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
    let found = list_records(store, full_dir)?;
    let mut out: Vec<String> = found
        .rotations
        .iter()
        .rev()
        .map(|n| join(full_dir, &layout::encryption_info_name(*n)))
        .collect();
    if found.original {
        out.push(join(full_dir, layout::ENCRYPTION_INFO));
    }
    Ok(out)
}

/// What the full backup directory holds of an encrypted chain.
struct Found {
    /// `ENCRYPTION-INFO` is there.
    original: bool,
    /// The `n` of each `ENCRYPTION-INFO-<n>`, ascending.
    rotations: Vec<u64>,
    /// `BACKUP-LISTING` is there (every encrypted layer has one).
    listing: bool,
}

fn list_records(store: &dyn Store, full_dir: &str) -> Result<Found> {
    let prefix = join(full_dir, "");
    let objects = store.list(&prefix)?;
    Ok(found_among(
        objects.iter().filter_map(|o| o.path.strip_prefix(&prefix)),
    ))
}

/// What `names` (object names relative to the full backup directory) hold of key records.
fn found_among<'a>(names: impl IntoIterator<Item = &'a str>) -> Found {
    let mut found = Found {
        original: false,
        rotations: Vec::new(),
        listing: false,
    };
    for rest in names {
        if rest == layout::ENCRYPTION_INFO {
            found.original = true;
        } else if rest == layout::LISTING {
            found.listing = true;
        } else if let Ok(n) = layout::parse_encryption_info_name(rest) {
            found.rotations.push(n);
        }
    }
    found.rotations.sort_unstable();
    found
}

/// Reads and decodes one key record.
pub fn read_info(store: &dyn Store, path: &str) -> Result<EncryptionInfo> {
    let bytes = store.get_limited(path, layout::MAX_RECORD_BYTES)?;
    let name = format!("{}/{path}", store.uri().trim_end_matches('/'));
    Ok(vouch_keys::decode_info(&name, &bytes)?)
}

/// What is wrong with a chain's key records. [`KeyRecordProblem::name`] is both the
/// finding kind `vouch verify` reports and the name of the [`ErrorKind::KeyRecord`] a
/// restore refuses with (spec/keys.md §2, spec/verify-report.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyRecordProblem {
    /// `ENCRYPTION-INFO` is not there in an encrypted chain, or a rotation below the
    /// newest is not (`ENCRYPTION-INFO-2` without `-1`).
    Missing,
    /// A record does not decode or validate (truncated, flipped, not a record).
    Damaged,
    /// A record decodes but is not what a rotation makes of the record before it
    /// (another salt, iteration count, chain, key check, or a KMS wrap changed or
    /// dropped).
    Mismatch,
    /// More records than [`vouch_format::encryption_info::MAX_KEY_RECORDS`]: none is read.
    TooMany,
    /// A record asks for more key-derivation work than
    /// [`vouch_format::encryption_info::MAX_ITERATIONS`]: refused before any derivation.
    KdfCost,
}

impl KeyRecordProblem {
    /// The stable name: `key_record_missing`, `key_record_damaged`,
    /// `key_record_mismatch`, `key_records_too_many`, `key_record_kdf_cost`.
    pub fn name(self) -> &'static str {
        match self {
            KeyRecordProblem::Missing => "key_record_missing",
            KeyRecordProblem::Damaged => "key_record_damaged",
            KeyRecordProblem::Mismatch => "key_record_mismatch",
            KeyRecordProblem::TooMany => "key_records_too_many",
            KeyRecordProblem::KdfCost => "key_record_kdf_cost",
        }
    }
}

/// One problem of a chain's key records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecordIssue {
    /// What is wrong.
    pub problem: KeyRecordProblem,
    /// The record concerned, relative to the store root.
    pub path: String,
    /// What is wrong with it, for people (without the record's name).
    pub message: String,
    /// The format error behind it, with the field and its offset in the record.
    pub error: Option<vouch_format::Error>,
}

impl KeyRecordIssue {
    /// The byte offset in the record the problem is at, when known.
    pub fn offset(&self) -> Option<u64> {
        match &self.error {
            Some(
                vouch_format::Error::Invalid { offset, .. }
                | vouch_format::Error::KdfCost { offset, .. }
                | vouch_format::Error::Limit { offset, .. }
                | vouch_format::Error::Truncated { offset, .. }
                | vouch_format::Error::Varint { offset, .. }
                | vouch_format::Error::TrailingBytes { offset, .. },
            ) => Some(*offset),
            _ => None,
        }
    }

    /// The error a reader (restore, SHOW BACKUP, dump) refuses the chain with: kind
    /// [`ErrorKind::KeyRecord`], the record named.
    pub fn to_error(&self, store: &dyn Store) -> Error {
        let name = format!("{}/{}", store.uri().trim_end_matches('/'), self.path);
        Error::new(
            ErrorKind::KeyRecord(self.problem),
            format!("{name}: {}", self.message),
        )
        .with_object(name)
    }
}

/// A chain's key records as read and checked, before any cryptography.
#[derive(Debug, Clone, Default)]
pub struct KeyRecords {
    /// The chain is encrypted: its full backup directory holds a key record or an
    /// integrity listing.
    pub encrypted: bool,
    /// The records that decode and keep every rule, newest first: (path, record).
    pub good: Vec<(String, EncryptionInfo)>,
    /// Every problem found, oldest record first.
    pub issues: Vec<KeyRecordIssue>,
}

/// Reads and checks every key record of the chain whose full backup is `full_dir`
/// (spec/keys.md §2), running no key derivation and no KMS call: the chain is encrypted
/// when the directory holds a record or a `BACKUP-LISTING`; then `ENCRYPTION-INFO` must be
/// there, the rotations `ENCRYPTION-INFO-1` to `-<n>` with no gap and `n` below
/// [`MAX_KEY_RECORDS`] (else no record is read at all), every record must decode and
/// validate (a record asking for more than [`MAX_ITERATIONS`] iterations is
/// [`KeyRecordProblem::KdfCost`]), and each rotation must be what `ALTER BACKUP … ADD
/// NEW_KMS` makes of the last good record before it. `Err` only when the store fails.
///
/// [`MAX_KEY_RECORDS`]: vouch_format::encryption_info::MAX_KEY_RECORDS
/// [`MAX_ITERATIONS`]: vouch_format::encryption_info::MAX_ITERATIONS
pub fn key_records(store: &dyn Store, full_dir: &str) -> Result<KeyRecords> {
    check_key_records(store, full_dir, list_records(store, full_dir)?)
}

/// [`key_records`] from a listing the caller made already: `names` are the names of the
/// objects in the full backup directory, relative to it (`ENCRYPTION-INFO`,
/// `data/000001.sst`, …).
pub fn key_records_among<'a>(
    store: &dyn Store,
    full_dir: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<KeyRecords> {
    check_key_records(store, full_dir, found_among(names))
}

fn check_key_records(store: &dyn Store, full_dir: &str, found: Found) -> Result<KeyRecords> {
    use vouch_format::encryption_info::{self as info_fmt, MAX_KEY_RECORDS};
    let mut out = KeyRecords {
        encrypted: found.original || found.listing || !found.rotations.is_empty(),
        ..KeyRecords::default()
    };
    if !out.encrypted {
        return Ok(out);
    }
    let path_of = |n: u64| {
        join(
            full_dir,
            &if n == 0 {
                layout::ENCRYPTION_INFO.to_string()
            } else {
                layout::encryption_info_name(n)
            },
        )
    };
    let issue = |problem, path: String, message: String, error| KeyRecordIssue {
        problem,
        path,
        message,
        error,
    };
    let newest = found.rotations.last().copied().unwrap_or(0);
    let count = found.rotations.len() + usize::from(found.original);
    if count > MAX_KEY_RECORDS || newest >= MAX_KEY_RECORDS as u64 {
        out.issues.push(issue(
            KeyRecordProblem::TooMany,
            path_of(newest),
            format!(
                "{count} key records, the newest numbered {newest}: a chain may have at most {MAX_KEY_RECORDS} ({} and rotations 1 to {}); none was read",
                layout::ENCRYPTION_INFO,
                MAX_KEY_RECORDS - 1
            ),
            None,
        ));
        return Ok(out);
    }
    let mut last_good: Option<(String, EncryptionInfo)> = None;
    for n in 0..=newest {
        let path = path_of(n);
        let present = if n == 0 {
            found.original
        } else {
            found.rotations.binary_search(&n).is_ok()
        };
        if !present {
            let why = if n == 0 {
                "the chain is encrypted but the record of its key is not there: nothing can unlock it".to_string()
            } else {
                format!(
                    "missing, while the newer {} is there: a key record was deleted",
                    path_of(newest)
                )
            };
            out.issues
                .push(issue(KeyRecordProblem::Missing, path, why, None));
            continue;
        }
        let bytes = match store.get_limited(&path, info_fmt::MAX_ENCRYPTION_INFO_BYTES as u64) {
            Ok(b) => b,
            Err(vouch_store::Error::NotFound { .. }) => {
                out.issues.push(issue(
                    KeyRecordProblem::Missing,
                    path,
                    "listed, then not found".into(),
                    None,
                ));
                continue;
            }
            Err(vouch_store::Error::TooLarge { size, .. }) => {
                let e = vouch_format::Error::Limit {
                    field: "encryption info",
                    offset: 0,
                    value: size,
                    limit: info_fmt::MAX_ENCRYPTION_INFO_BYTES as u64,
                };
                out.issues.push(issue(
                    KeyRecordProblem::Damaged,
                    path,
                    format!("damaged: {e}"),
                    Some(e),
                ));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let info = match info_fmt::decode(&bytes) {
            Ok(i) => i,
            Err(e @ vouch_format::Error::KdfCost { .. }) => {
                out.issues.push(issue(
                    KeyRecordProblem::KdfCost,
                    path,
                    format!("costs too much to open: {e}"),
                    Some(e),
                ));
                continue;
            }
            Err(e) => {
                out.issues.push(issue(
                    KeyRecordProblem::Damaged,
                    path,
                    format!("damaged: {e}"),
                    Some(e),
                ));
                continue;
            }
        };
        if let Some((prev_path, prev)) = &last_good {
            if let Err(e) = info_fmt::check_rotation(prev, &info) {
                out.issues.push(issue(
                    KeyRecordProblem::Mismatch,
                    path,
                    format!("not what a rotation makes of {prev_path}: {e}"),
                    Some(e),
                ));
                continue;
            }
        }
        last_good = Some((path.clone(), info.clone()));
        out.good.push((path, info));
    }
    out.good.reverse();
    Ok(out)
}

/// The data key of the chain whose full backup is `full_dir`, from what the user gave:
/// `None` for a chain that is not encrypted (an error if a key was given anyway). For an
/// encrypted one, every key record is checked first ([`key_records`]; the first problem
/// is the error, kind [`ErrorKind::KeyRecord`]); then the newest record — which holds
/// every wrap of the older ones — is unlocked with `source`: one key derivation per
/// passphrase, one unwrap per KMS URI recorded (an error naming the cause if none opens
/// it, or if nothing was given).
pub fn chain_key(
    store: &dyn Store,
    full_dir: &str,
    source: &KeySource,
) -> Result<Option<ChainKey>> {
    let records = key_records(store, full_dir)?;
    if !records.encrypted {
        vouch_keys::check_not_encrypted(source)?;
        return Ok(None);
    }
    if let Some(i) = records.issues.first() {
        return Err(i.to_error(store));
    }
    let Some((_, newest)) = records.good.first() else {
        return Err(Error::from(KeyError::InfoMissing {
            file: join(full_dir, layout::ENCRYPTION_INFO),
        }));
    };
    Ok(Some(Arc::new(vouch_keys::unlock(newest, source)?)))
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

    fn will_read(&self, offset: u64, len: u64) {
        // Plaintext offsets of a sealed file are not the stored ones: no hint through the
        // envelope.
        if let DataSource::Plain(s) = self {
            s.will_read(offset, len);
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
