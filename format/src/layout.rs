//! Names in a backup collection: where full and incremental backups live, the `LATEST`
//! pointers, and the files inside a backup directory; and how a reader resolves them from
//! an object listing. Pure functions on strings (see `spec/layout.md`).
//!
//! ```text
//! <collection>/
//!   2022/03/23-213101.37/                       a full backup (its end time, UTC)
//!     BACKUP_MANIFEST  BACKUP_MANIFEST-CHECKSUM  ENCRYPTION-INFO  BACKUP-LOCK-<job id>
//!     data/000001.sst …
//!     progress/BACKUP-CHECKPOINT-<descending seq>
//!   incrementals/2022/03/23-213101.37/          the chain of that full backup
//!     20220323/213201.21-20220323-213101.37/    an incremental: end time, then start time
//!   metadata/latest/LATEST-<descending end>     write-once pointers, newest sorts first
//!   LATEST                                      plain pointer, written once
//! ```
//!
//! Times in names are UTC, to the hundredth of a second, truncated (never rounded up), so
//! a name never claims a later time than the backup's. A parsed name gives that truncated
//! time back; formatting it again gives the same name (every parser here accepts exactly
//! the canonical names, up to the leading and trailing `/` noted on each).

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::mvcc::Timestamp;
use crate::time::{days_in_month, Civil};

/// A backup's manifest; a backup directory is complete exactly when this object exists.
pub const MANIFEST: &str = "BACKUP_MANIFEST";
/// The SHA-256 of the manifest's stored bytes.
pub const MANIFEST_CHECKSUM: &str = "BACKUP_MANIFEST-CHECKSUM";
/// The folder of a backup's data files (`data/<n>.sst`, see [`data_file`]).
pub const DATA_DIR: &str = "data";
/// The encryption parameters of an encrypted backup.
pub const ENCRYPTION_INFO: &str = "ENCRYPTION-INFO";
/// An added key record of an encrypted chain (`ALTER BACKUP … ADD NEW_KMS`): the prefix of
/// `ENCRYPTION-INFO-<n>`, n = 1, 2, … (see [`encryption_info_name`]).
pub const ENCRYPTION_INFO_PREFIX: &str = "ENCRYPTION-INFO-";
/// The unencrypted integrity listing of an encrypted backup layer (names, sizes and
/// SHA-256 of the stored bytes; no keys, no user data).
pub const LISTING: &str = "BACKUP-LISTING";
/// The prefix of a backup's lock object (see [`lock_name`]).
pub const LOCK_PREFIX: &str = "BACKUP-LOCK-";
/// The folder of a backup's resume checkpoints (see [`checkpoint_name`]).
pub const PROGRESS_DIR: &str = "progress";
/// The prefix of a checkpoint's file name inside [`PROGRESS_DIR`].
pub const CHECKPOINT_PREFIX: &str = "BACKUP-CHECKPOINT-";
/// The default root of incremental backups inside a collection.
pub const INCREMENTALS_DIR: &str = "incrementals";
/// The plain `LATEST` pointer at the collection root.
pub const LATEST: &str = "LATEST";
/// The folder of the write-once `LATEST-<descending>` markers.
pub const LATEST_DIR: &str = "metadata/latest";
/// The prefix of a marker's file name inside [`LATEST_DIR`].
pub const LATEST_MARKER_PREFIX: &str = "LATEST-";

/// Nanoseconds in a hundredth of a second, the resolution of directory names.
const HUNDREDTH: u64 = 10_000_000;

// ---- templates ---------------------------------------------------------------------------

/// One piece of a fixed-shape name.
#[derive(Clone, Copy)]
enum Tok {
    /// Exactly this many ASCII digits, a number field.
    Digits(usize),
    /// This literal text.
    Lit(&'static str),
}

use Tok::{Digits as D, Lit as L};

/// `YYYY/MM/DD-HHMMSS.ss`
const FULL: [Tok; 11] = [
    D(4),
    L("/"),
    D(2),
    L("/"),
    D(2),
    L("-"),
    D(2),
    D(2),
    D(2),
    L("."),
    D(2),
];

/// `YYYYMMDD/HHMMSS.ss-YYYYMMDD-HHMMSS.ss` (end, then start)
const INCREMENTAL: [Tok; 19] = [
    D(4),
    D(2),
    D(2),
    L("/"),
    D(2),
    D(2),
    D(2),
    L("."),
    D(2),
    L("-"),
    D(4),
    D(2),
    D(2),
    L("-"),
    D(2),
    D(2),
    D(2),
    L("."),
    D(2),
];

/// Length of a name matching `t`.
const fn template_len(mut t: &[Tok]) -> usize {
    let mut n = 0;
    while let [tok, rest @ ..] = t {
        n += match *tok {
            D(k) => k,
            L(s) => s.len(),
        };
        t = rest;
    }
    n
}

/// Length of a full backup directory name (`YYYY/MM/DD-HHMMSS.ss`).
pub const FULL_SUBDIR_LEN: usize = template_len(&FULL);
/// Length of an incremental directory name (`YYYYMMDD/HHMMSS.ss-YYYYMMDD-HHMMSS.ss`).
pub const INCREMENTAL_SUBDIR_LEN: usize = template_len(&INCREMENTAL);

/// A number field of a matched name and its byte offset in the input.
#[derive(Clone, Copy)]
struct Field {
    value: u64,
    offset: usize,
}

fn invalid(
    field: &'static str,
    offset: usize,
    text: &str,
    reason: impl std::fmt::Display,
) -> Error {
    Error::Invalid {
        field,
        offset: offset as u64,
        reason: format!("{text:?}: {reason}"),
    }
}

/// Matches `text[base..end]` against `tmpl`; returns the number fields. Errors carry
/// offsets into `text` (the whole input, which they quote) and say what was expected there.
fn match_template(
    text: &str,
    base: usize,
    end: usize,
    tmpl: &[Tok],
    field: &'static str,
    shape: &str,
) -> Result<Vec<Field>> {
    let b = text.as_bytes().get(..end).unwrap_or(&[]);
    let mut pos = base;
    let mut out = Vec::with_capacity(tmpl.len());
    for tok in tmpl {
        match *tok {
            Tok::Digits(n) => {
                let mut value = 0u64;
                for i in 0..n {
                    match b.get(pos + i) {
                        Some(c) if c.is_ascii_digit() => {
                            value = value * 10 + u64::from(c - b'0');
                        }
                        _ => {
                            return Err(invalid(
                                field,
                                pos + i,
                                text,
                                format!("expected a digit (the shape is {shape})"),
                            ))
                        }
                    }
                }
                out.push(Field { value, offset: pos });
                pos += n;
            }
            Tok::Lit(lit) => {
                if b.get(pos..pos + lit.len()) != Some(lit.as_bytes()) {
                    return Err(invalid(
                        field,
                        pos,
                        text,
                        format!("expected {lit:?} (the shape is {shape})"),
                    ));
                }
                pos += lit.len();
            }
        }
    }
    if pos != b.len() {
        return Err(invalid(
            field,
            pos,
            text,
            format!("unexpected text after the name (the shape is {shape})"),
        ));
    }
    Ok(out)
}

/// The time named by year, month, day, hour, minute, second, hundredths fields.
fn fields_time(text: &str, field: &'static str, f: &[Field]) -> Result<Timestamp> {
    let get = |i: usize| {
        f.get(i).copied().unwrap_or(Field {
            value: 0,
            offset: 0,
        })
    };
    let (year, month, day) = (get(0), get(1), get(2));
    let (hour, minute, second, hundredths) = (get(3), get(4), get(5), get(6));
    if !(1..=12).contains(&month.value) {
        return Err(invalid(
            field,
            month.offset,
            text,
            format!("month {:02} is not 01 to 12", month.value),
        ));
    }
    let dim = u64::from(days_in_month(year.value as i64, month.value as u32));
    if day.value == 0 || day.value > dim {
        return Err(invalid(
            field,
            day.offset,
            text,
            format!("day {:02} is not 01 to {dim}", day.value),
        ));
    }
    for (f, max, what) in [
        (hour, 23, "hour"),
        (minute, 59, "minute"),
        (second, 59, "second"),
    ] {
        if f.value > max {
            return Err(invalid(
                field,
                f.offset,
                text,
                format!("{what} {:02} is not 00 to {max}", f.value),
            ));
        }
    }
    let civil = Civil {
        year: year.value as u32,
        month: month.value as u32,
        day: day.value as u32,
        hour: hour.value as u32,
        minute: minute.value as u32,
        second: second.value as u32,
        nanos: (hundredths.value * HUNDREDTH) as u32,
    };
    match civil.to_unix_nanos() {
        Some(wall) => Ok(Timestamp::new(wall, 0)),
        None => Err(invalid(
            field,
            year.offset,
            text,
            "time is outside 1970-01-01 to 2554-07-21 (what a timestamp holds)",
        )),
    }
}

/// `YYYY MM DD HH MM SS ss` of a wall time, hundredths truncated.
fn civil_parts(ts: Timestamp) -> (Civil, u32) {
    let c = Civil::from_unix_nanos(ts.wall);
    let hundredths = c.nanos / HUNDREDTH as u32;
    (c, hundredths)
}

/// `ts` truncated to what a directory name holds.
fn truncated(ts: Timestamp) -> Timestamp {
    Timestamp::new(ts.wall - ts.wall % HUNDREDTH, 0)
}

/// Strips at most one leading and one trailing `/`.
fn strip_slashes(s: &str) -> (&str, usize) {
    let (s, base) = match s.strip_prefix('/') {
        Some(r) => (r, 1),
        None => (s, 0),
    };
    (s.strip_suffix('/').unwrap_or(s), base)
}

/// Parses a decimal `u64` written canonically (no sign, no leading zero but for `0`).
fn canonical_u64(text: &str, digits: &str, offset: usize, field: &'static str) -> Result<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(field, offset, text, "expected a decimal number"));
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return Err(invalid(
            field,
            offset,
            text,
            "the number has a leading zero",
        ));
    }
    digits
        .parse::<u64>()
        .map_err(|_| invalid(field, offset, text, "the number is over 2^64 - 1"))
}

/// Parses exactly 20 digits, the descending encoding `u64::MAX - value`; returns `value`.
fn descending(text: &str, digits: &str, offset: usize, field: &'static str) -> Result<u64> {
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            field,
            offset,
            text,
            "expected exactly 20 decimal digits (u64::MAX minus the value)",
        ));
    }
    let d = digits
        .parse::<u64>()
        .map_err(|_| invalid(field, offset, text, "the number is over 2^64 - 1"))?;
    Ok(u64::MAX - d)
}

// ---- full backups -----------------------------------------------------------------------

/// A parsed full backup directory name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FullSubdir {
    /// The canonical name, `YYYY/MM/DD-HHMMSS.ss`, without leading or trailing `/`.
    pub path: String,
    /// The end time it names, truncated to hundredths of a second (logical 0).
    pub time: Timestamp,
}

/// The directory of a full backup ending at `end`: `2026/11/21-120000.00` (UTC,
/// hundredths of a second truncated, no leading or trailing `/`).
pub fn full_subdir(end: Timestamp) -> String {
    let (c, hs) = civil_parts(end);
    format!(
        "{:04}/{:02}/{:02}-{:02}{:02}{:02}.{hs:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Parses a full backup directory name as users type it and returns its canonical form
/// (`2026/11/21-120000.00`): with or without one leading `/` (CockroachDB prints and users
/// type `'/2026/11/21-120000.00'`) and one trailing `/`. [`FullSubdir::parse`] also gives
/// the time.
pub fn parse_full_subdir(s: &str) -> Result<String> {
    FullSubdir::parse(s).map(|f| f.path)
}

/// `/` + the canonical name: how CockroachDB shows a full backup (`SHOW BACKUPS IN`,
/// error messages) and what `LATEST` holds. Leading `/` of `full` are not doubled.
pub fn display_subdir(full: &str) -> String {
    format!("/{}", full.trim_start_matches('/'))
}

impl FullSubdir {
    /// Parses a full backup directory name (see [`parse_full_subdir`]).
    pub fn parse(s: &str) -> Result<FullSubdir> {
        const FIELD: &str = "full backup subdirectory";
        let (inner, base) = strip_slashes(s);
        let f = match_template(
            s,
            base,
            base + inner.len(),
            &FULL,
            FIELD,
            "YYYY/MM/DD-HHMMSS.ss",
        )?;
        let time = fields_time(s, FIELD, &f)?;
        Ok(FullSubdir {
            path: inner.to_string(),
            time,
        })
    }
}

// ---- incrementals -----------------------------------------------------------------------

/// A parsed incremental backup directory name (the part under `<root>/<full subdir>/`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IncrementalSubdir {
    /// The canonical name, `YYYYMMDD/HHMMSS.ss-YYYYMMDD-HHMMSS.ss`, no leading or trailing `/`.
    pub path: String,
    /// The layer's end time, truncated to hundredths of a second.
    pub end: Timestamp,
    /// The layer's start time (the previous layer's end), truncated likewise.
    pub start: Timestamp,
}

/// The directory of an incremental layer covering `(start, end]` that extends the full
/// backup `full`, relative to `<incrementals root>/<full>/`:
/// `20220323/213201.21-20220323-213101.37` — the end time, then the start time (UTC,
/// hundredths truncated).
///
/// `full` is not part of this name (the layer's place is `<root>/<full>/<this>`); it is
/// taken so that call sites name the chain they extend. [`incremental_path`] gives the
/// joined path.
pub fn incremental_subdir(full: &str, start: Timestamp, end: Timestamp) -> String {
    let _ = full;
    inc_name(start, end)
}

/// [`incremental_subdir`] without the chain.
fn inc_name(start: Timestamp, end: Timestamp) -> String {
    let (e, ehs) = civil_parts(end);
    let (s, shs) = civil_parts(start);
    format!(
        "{:04}{:02}{:02}/{:02}{:02}{:02}.{ehs:02}-{:04}{:02}{:02}-{:02}{:02}{:02}.{shs:02}",
        e.year,
        e.month,
        e.day,
        e.hour,
        e.minute,
        e.second,
        s.year,
        s.month,
        s.day,
        s.hour,
        s.minute,
        s.second
    )
}

/// The whole path of an incremental layer relative to the store that holds
/// `incrementals_root`: `<root>/<full>/<incremental_subdir>`, e.g.
/// `incrementals/2022/03/23-213101.37/20220323/213201.21-20220323-213101.37`.
///
/// `incrementals_root` is [`INCREMENTALS_DIR`] for the default layout, or `""` when the
/// incrementals live at the root of their own location (`incremental_location`); leading
/// and trailing `/` are ignored. `full` is a full backup name as [`parse_full_subdir`]
/// accepts it.
pub fn incremental_path(
    incrementals_root: &str,
    full: &str,
    start: Timestamp,
    end: Timestamp,
) -> Result<String> {
    let full = FullSubdir::parse(full)?;
    let mut p = root_prefix(incrementals_root);
    p.push_str(&full.path);
    p.push('/');
    p.push_str(&inc_name(start, end));
    Ok(p)
}

/// `root` without surrounding or doubled `/`, followed by `/` unless empty.
fn root_prefix(root: &str) -> String {
    let mut p = String::new();
    for part in root.split('/').filter(|c| !c.is_empty() && *c != ".") {
        p.push_str(part);
        p.push('/');
    }
    p
}

/// Parses an incremental directory name, `YYYYMMDD/HHMMSS.ss-YYYYMMDD-HHMMSS.ss`, with or
/// without one leading and one trailing `/`. The end must not be before the start.
pub fn parse_incremental_subdir(s: &str) -> Result<IncrementalSubdir> {
    const FIELD: &str = "incremental backup subdirectory";
    let (inner, base) = strip_slashes(s);
    let f = match_template(
        s,
        base,
        base + inner.len(),
        &INCREMENTAL,
        FIELD,
        "YYYYMMDD/HHMMSS.ss-YYYYMMDD-HHMMSS.ss",
    )?;
    let end = fields_time(s, FIELD, f.get(..7).unwrap_or(&[]))?;
    let start = fields_time(s, FIELD, f.get(7..).unwrap_or(&[]))?;
    if end < start {
        return Err(invalid(
            FIELD,
            base,
            s,
            "the end time (first) is before the start time (after the '-')",
        ));
    }
    Ok(IncrementalSubdir {
        path: inner.to_string(),
        end,
        start,
    })
}

// ---- LATEST -----------------------------------------------------------------------------

/// The write-once marker written after a backup ending at `end`:
/// `metadata/latest/LATEST-<u64::MAX - end.wall, 20 digits>`, so that ascending name
/// order is newest first.
pub fn latest_marker(end: Timestamp) -> String {
    format!(
        "{LATEST_DIR}/{LATEST_MARKER_PREFIX}{:020}",
        u64::MAX - end.wall
    )
}

/// Parses a marker path as [`latest_marker`] writes it; returns the end wall time.
pub fn parse_latest_marker(s: &str) -> Result<u64> {
    descending_after(
        s,
        &format!("{LATEST_DIR}/{LATEST_MARKER_PREFIX}"),
        "LATEST marker",
    )
}

/// `prefix` followed by a 20-digit descending number: the number it encodes.
fn descending_after(s: &str, prefix: &str, field: &'static str) -> Result<u64> {
    let Some(digits) = s.strip_prefix(prefix) else {
        let at = common_prefix_len(s, prefix);
        return Err(invalid(
            field,
            at,
            s,
            format!("expected a name starting {prefix:?}"),
        ));
    };
    descending(s, digits, prefix.len(), field)
}

/// What `LATEST` and every marker hold: the full backup's directory with a leading `/`,
/// `/2026/11/21-120000.00` (as CockroachDB writes it). `full` as [`parse_full_subdir`]
/// accepts it.
pub fn latest_content(full: &str) -> Result<String> {
    Ok(display_subdir(&parse_full_subdir(full)?))
}

/// Reads a `LATEST` or marker object: the full backup directory it points at, normalized
/// (no leading `/`). Surrounding whitespace and newlines are ignored and the leading `/`
/// may be missing.
pub fn parse_latest_content(bytes: &[u8]) -> Result<String> {
    const FIELD: &str = "LATEST content";
    let text = std::str::from_utf8(bytes).map_err(|e| Error::Invalid {
        field: FIELD,
        offset: e.valid_up_to() as u64,
        reason: "not UTF-8".into(),
    })?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(invalid(
            FIELD,
            0,
            text,
            "empty; expected a full backup directory such as /2026/11/21-120000.00",
        ));
    }
    let lead = text.len() - text.trim_start().len();
    FullSubdir::parse(trimmed)
        .map(|f| f.path)
        .map_err(|e| match e.at_base(lead as u64) {
            Error::Invalid { offset, reason, .. } => Error::Invalid {
                field: FIELD,
                offset,
                reason,
            },
            other => other,
        })
}

fn common_prefix_len(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

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

// ---- resolving a listing ----------------------------------------------------------------

/// An object path as a reader compares it: `None` for what is not an object (empty
/// names, names ending in `/` — directory markers copy tools leave behind — and names with
/// a `..` component); otherwise without empty or `.` components (`./a//b` is `a/b`).
pub fn normalize_object_path(p: &str) -> Option<String> {
    if p.is_empty() || p.ends_with('/') {
        return None;
    }
    let mut out = String::with_capacity(p.len());
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            _ => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(part);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The objects of a collection, as a store lists them (paths relative to the collection
/// root), normalized by [`normalize_object_path`]; what readers resolve names against.
///
/// Stray objects are tolerated: whatever does not match a name of the layout is ignored
/// (`.DS_Store`, `Thumbs.db`, directory markers, doubled separators, files of other tools),
/// and a backup directory without a manifest is not a backup (see [`Listing::unfinished`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    objects: BTreeSet<String>,
}

impl Listing {
    /// A listing of these object paths.
    pub fn new<I, S>(paths: I) -> Listing
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Listing {
            objects: paths
                .into_iter()
                .filter_map(|p| normalize_object_path(p.as_ref()))
                .collect(),
        }
    }

    /// The normalized object paths, sorted.
    pub fn objects(&self) -> impl Iterator<Item = &str> {
        self.objects.iter().map(String::as_str)
    }

    /// Number of (normalized, distinct) objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// True when nothing was listed.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// True when the normalized form of `path` was listed.
    pub fn contains(&self, path: &str) -> bool {
        normalize_object_path(path).is_some_and(|p| self.objects.contains(&p))
    }

    /// Directories (the part before the last `/`) of objects whose last component
    /// satisfies `file`.
    fn dirs_with(&self, file: impl Fn(&str) -> bool) -> impl Iterator<Item = &str> {
        self.objects.iter().filter_map(move |p| {
            let (dir, name) = p.rsplit_once('/')?;
            file(name).then_some(dir)
        })
    }

    fn has_manifest(&self, dir: &str) -> bool {
        self.objects.contains(&format!("{dir}/{MANIFEST}"))
    }

    /// The complete full backups (directories `YYYY/MM/DD-HHMMSS.ss` holding a
    /// `BACKUP_MANIFEST`), oldest first, without leading or trailing `/`.
    pub fn full_backups(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .dirs_with(|n| n == MANIFEST)
            .filter(|d| FullSubdir::parse(d).is_ok_and(|f| f.path == *d))
            .map(str::to_string)
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Backup directories (full, or incremental under [`INCREMENTALS_DIR`] or in the
    /// legacy place inside the full backup's directory) that hold a `BACKUP-LOCK-*` but no
    /// manifest: backups that were started and never finished (or are running). Sorted.
    pub fn unfinished(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .dirs_with(|n| n.starts_with(LOCK_PREFIX))
            .filter(|d| is_backup_dir(d) && !self.has_manifest(d))
            .map(str::to_string)
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Every well-formed `metadata/latest/LATEST-*` marker, newest first (ascending name
    /// order). Markers with malformed names are ignored.
    pub fn latest_markers(&self) -> Vec<String> {
        let prefix = format!("{LATEST_DIR}/{LATEST_MARKER_PREFIX}");
        self.objects
            .range(prefix.clone()..)
            .take_while(|p| p.starts_with(&prefix))
            .filter(|p| parse_latest_marker(p).is_ok())
            .cloned()
            .collect()
    }

    /// The marker whose content names the latest full backup: the newest well-formed
    /// marker, if any.
    pub fn latest_marker_to_read(&self) -> Option<String> {
        self.latest_markers().into_iter().next()
    }

    /// The object to read for `LATEST`: [`Listing::latest_marker_to_read`], else the plain
    /// [`LATEST`] (also when the listing does not show it: stores that cannot list still
    /// serve it). Its content goes to [`parse_latest_content`]. A marker whose content does
    /// not parse is an error for the caller to report, not a reason to fall back to an
    /// older pointer.
    pub fn latest_object_to_read(&self) -> String {
        self.latest_marker_to_read()
            .unwrap_or_else(|| LATEST.to_string())
    }

    /// The complete incremental layers of the full backup `full` (as
    /// [`parse_full_subdir`] accepts it) under `incrementals_root` ([`INCREMENTALS_DIR`]
    /// by default; `""` for a separate incremental location, or for the legacy layout where
    /// layers sit inside the full backup's directory). Whole paths
    /// (`<root>/<full>/<YYYYMMDD/HHMMSS.ss-…>`), sorted by end time, then start time.
    /// Empty when `full` is not a full backup name.
    pub fn incrementals(&self, full: &str, incrementals_root: &str) -> Vec<String> {
        let Ok(full) = FullSubdir::parse(full) else {
            return Vec::new();
        };
        let mut prefix = root_prefix(incrementals_root);
        prefix.push_str(&full.path);
        prefix.push('/');
        let mut v: Vec<(Timestamp, Timestamp, String)> = self
            .objects
            .range(prefix.clone()..)
            .take_while(|p| p.starts_with(&prefix))
            .filter_map(|p| {
                let dir = p.strip_suffix(MANIFEST)?.strip_suffix('/')?;
                let rel = dir.strip_prefix(&prefix)?;
                let inc = parse_incremental_subdir(rel).ok()?;
                (inc.path == rel).then(|| (inc.end, inc.start, dir.to_string()))
            })
            .collect();
        v.sort();
        v.dedup();
        v.into_iter().map(|(_, _, p)| p).collect()
    }
}

/// A full backup directory, or an incremental one under `incrementals/<full>/` or (legacy)
/// `<full>/`.
fn is_backup_dir(d: &str) -> bool {
    let probe = format!("{d}/{MANIFEST}");
    [INCREMENTALS_DIR, ""]
        .into_iter()
        .any(|root| backup_dir_of(&probe, root, true).is_some_and(|(dir, _)| dir == d))
}

// ---- backup directories -------------------------------------------------------------------

/// The backup directory an object belongs to and its name inside that directory: for
/// `<root>/<full>/<incremental>/<name>` the incremental layer's directory, and when
/// `fulls_here`, for `<full>/<name>` the full backup's. `incrementals_root` is
/// [`INCREMENTALS_DIR`] in a collection, `""` in a separate incremental location (where
/// full backups do not live: `fulls_here` false) or for the legacy layout (layers inside
/// the full backup's directory); leading and trailing `/` are ignored. Directory names must
/// be canonical; `None` for every other object.
pub fn backup_dir_of<'p>(
    path: &'p str,
    incrementals_root: &str,
    fulls_here: bool,
) -> Option<(&'p str, &'p str)> {
    let split = |p: &'p str, n: usize| -> Option<(&'p str, &'p str)> {
        let (d, rest) = (p.get(..n)?, p.get(n..)?);
        Some((d, rest.strip_prefix('/')?))
    };
    let is_full = |f: &str| FullSubdir::parse(f).is_ok_and(|x| x.path == f);
    let is_inc = |i: &str| parse_incremental_subdir(i).is_ok_and(|x| x.path == i);
    if let Some(r) = path.strip_prefix(&root_prefix(incrementals_root)) {
        let base = path.len() - r.len();
        if let Some((f, rest)) = split(r, FULL_SUBDIR_LEN) {
            if let Some((i, name)) = split(rest, INCREMENTAL_SUBDIR_LEN) {
                if is_full(f) && is_inc(i) {
                    let dir_len = base + FULL_SUBDIR_LEN + 1 + INCREMENTAL_SUBDIR_LEN;
                    return Some((path.get(..dir_len)?, name));
                }
            }
        }
    }
    if fulls_here {
        if let Some((f, name)) = split(path, FULL_SUBDIR_LEN) {
            if is_full(f) {
                return Some((f, name));
            }
        }
    }
    None
}

/// What one backup directory holds, by name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BackupDir {
    /// It holds a [`MANIFEST`].
    pub manifest: bool,
    /// It holds a [`MANIFEST_CHECKSUM`].
    pub checksum: bool,
    /// It holds a `BACKUP-LOCK-*` ([`lock_name`]).
    pub lock: bool,
    /// Every object in it, in listing order: its name relative to the directory and, when
    /// it is one, the file vouch writes there ([`parse_backup_file`]).
    pub files: Vec<(String, Option<BackupFile>)>,
}

impl BackupDir {
    /// Started, never finished: a lock but neither a manifest nor a checksum file.
    pub fn unfinished(&self) -> bool {
        self.lock && !self.manifest && !self.checksum
    }
}

/// A store's objects grouped by backup directory ([`group_backup_dirs`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BackupDirs {
    /// Each backup directory ([`backup_dir_of`]) and what it holds.
    pub dirs: BTreeMap<String, BackupDir>,
    /// The objects in no backup directory, in listing order.
    pub other: Vec<String>,
}

/// Groups object paths by the backup directory they belong to ([`backup_dir_of`] with
/// the same `incrementals_root` and `fulls_here`).
pub fn group_backup_dirs<S: AsRef<str>>(
    paths: &[S],
    incrementals_root: &str,
    fulls_here: bool,
) -> BackupDirs {
    let mut out = BackupDirs::default();
    for p in paths {
        let p = p.as_ref();
        match backup_dir_of(p, incrementals_root, fulls_here) {
            Some((d, name)) => {
                let e = out.dirs.entry(d.to_string()).or_default();
                let parsed = parse_backup_file(name).ok();
                match parsed {
                    Some(BackupFile::Manifest) => e.manifest = true,
                    Some(BackupFile::ManifestChecksum) => e.checksum = true,
                    Some(BackupFile::Lock(_)) => e.lock = true,
                    _ => {}
                }
                e.files.push((name.to_string(), parsed));
            }
            None => out.other.push(p.to_string()),
        }
    }
    out
}

// ---- oracles ------------------------------------------------------------------------------

/// Runs every name parser on `s` and checks that whatever parses formats back to the
/// (normalized) input; checks the `LATEST` content parser the same way. Never panics on
/// bad input; panics (assert) only when an oracle fails. Used by the fuzz target and the
/// truncation and flip tests.
#[doc(hidden)]
pub fn check_name_oracles(s: &str) {
    let (inner, _) = strip_slashes(s);
    let slash_forms_match = |path: &str| {
        s == path || s == format!("/{path}") || s == format!("{path}/") || s == format!("/{path}/")
    };
    if let Ok(f) = FullSubdir::parse(s) {
        assert_eq!(f.path, inner, "full subdir path is not the input");
        assert_eq!(
            full_subdir(f.time),
            f.path,
            "full subdir does not re-format"
        );
        assert_eq!(
            truncated(f.time),
            f.time,
            "full subdir time is not truncated"
        );
        assert!(
            slash_forms_match(&f.path),
            "full subdir {s:?} accepted with odd slashes"
        );
        assert_eq!(latest_content(s).ok(), Some(format!("/{}", f.path)));
    }
    if let Ok(i) = parse_incremental_subdir(s) {
        assert_eq!(i.path, inner, "incremental path is not the input");
        assert_eq!(
            inc_name(i.start, i.end),
            i.path,
            "incremental does not re-format"
        );
        assert!(i.start <= i.end, "incremental end before start");
        assert!(
            slash_forms_match(&i.path),
            "incremental {s:?} accepted with odd slashes"
        );
    }
    if let Ok(wall) = parse_latest_marker(s) {
        assert_eq!(
            latest_marker(Timestamp::new(wall, 7)),
            s,
            "marker does not re-format"
        );
    }
    if let Ok(n) = parse_data_file(s) {
        assert_eq!(data_file(n), s, "data file does not re-format");
    }
    if let Ok(n) = parse_lock_name(s) {
        assert_eq!(lock_name(n), s, "lock does not re-format");
    }
    if let Ok(n) = parse_checkpoint_name(s) {
        assert_eq!(checkpoint_name(n), s, "checkpoint does not re-format");
    }
    if let Ok(f) = parse_backup_file(s) {
        assert_eq!(f.name(), s, "backup file does not re-format");
    }
    if let Ok(p) = parse_latest_content(s.as_bytes()) {
        assert_eq!(strip_slashes(s.trim()).0, p, "LATEST content {s:?} misread");
        assert_eq!(FullSubdir::parse(&p).map(|f| f.path), Ok(p.clone()));
    }
}

/// Checks what [`Listing`] returns against its definition (see each method). Panics
/// (assert) only when an oracle fails.
#[doc(hidden)]
#[allow(clippy::panic)]
pub fn check_listing_oracles(listing: &Listing) {
    assert_eq!(
        &Listing::new(listing.objects()),
        listing,
        "normalizing a listing twice changed it"
    );
    let fulls = listing.full_backups();
    assert!(
        fulls.windows(2).all(|w| w.first() < w.get(1)),
        "full backups not sorted"
    );
    let mut prev = None;
    for f in &fulls {
        let parsed = FullSubdir::parse(f);
        assert!(
            parsed.as_ref().is_ok_and(|p| p.path == *f),
            "{f:?} is not a canonical full subdir"
        );
        let t = parsed.map(|p| p.time).ok();
        assert!(prev < t, "full backups not in time order");
        prev = t;
        assert!(listing.has_manifest(f), "{f:?} has no manifest");
        for root in [INCREMENTALS_DIR, ""] {
            let incs = listing.incrementals(f, root);
            let mut last = None;
            for i in &incs {
                assert!(listing.has_manifest(i), "{i:?} has no manifest");
                let rel = i
                    .strip_prefix(&root_prefix(root))
                    .and_then(|r| r.strip_prefix(f.as_str()))
                    .and_then(|r| r.strip_prefix('/'));
                let inc = rel.map(parse_incremental_subdir);
                let Some(Ok(inc)) = inc else {
                    panic!("{i:?} is not an incremental of {f:?} under {root:?}");
                };
                let key = Some((inc.end, inc.start));
                assert!(last < key, "incrementals not sorted by end, then start");
                last = key;
            }
            // The same full backup named with a leading slash resolves the same way.
            assert_eq!(listing.incrementals(&format!("/{f}"), root), incs);
        }
    }
    for u in listing.unfinished() {
        assert!(!listing.has_manifest(&u), "{u:?} is complete");
        assert!(is_backup_dir(&u), "{u:?} is not a backup directory");
        assert!(
            listing.objects().any(|p| p
                .strip_prefix(u.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .is_some_and(|n| n.starts_with(LOCK_PREFIX))),
            "{u:?} has no lock"
        );
    }
    let markers = listing.latest_markers();
    assert!(
        markers.windows(2).all(|w| w.first() < w.get(1)),
        "markers not sorted"
    );
    let walls: Vec<u64> = markers
        .iter()
        .filter_map(|m| parse_latest_marker(m).ok())
        .collect();
    assert_eq!(walls.len(), markers.len(), "a listed marker does not parse");
    assert!(
        walls.windows(2).all(|w| w.first() > w.get(1)),
        "markers not newest first"
    );
    assert_eq!(listing.latest_marker_to_read(), markers.first().cloned());
    let to_read = listing.latest_object_to_read();
    assert!(to_read == LATEST || markers.first() == Some(&to_read));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    /// 2022-03-23 21:31:01.375 UTC and 2022-03-23 21:32:01.219 UTC.
    const FULL_END: Timestamp = Timestamp::new(1_648_071_061_375_000_000, 4);
    const INC_END: Timestamp = Timestamp::new(1_648_071_121_219_999_999, 0);
    const NOV_21: Timestamp = Timestamp::new(1_795_262_400_000_000_000, 0); // 2026-11-21 12:00:00

    fn invalid_at(e: Error) -> (&'static str, u64, String) {
        match e {
            Error::Invalid {
                field,
                offset,
                reason,
            } => (field, offset, reason),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn full_subdir_names() {
        assert_eq!(full_subdir(NOV_21), "2026/11/21-120000.00");
        assert_eq!(full_subdir(FULL_END), "2022/03/23-213101.37");
        assert_eq!(full_subdir(Timestamp::MIN), "1970/01/01-000000.00");
        assert_eq!(full_subdir(Timestamp::MAX), "2554/07/21-233433.70");
        assert_eq!(
            full_subdir(Timestamp::new(951_868_799_999_999_999, 0)),
            "2000/02/29-235959.99"
        );
        let want = FullSubdir {
            path: "2022/03/23-213101.37".into(),
            time: Timestamp::new(1_648_071_061_370_000_000, 0),
        };
        for s in [
            "2022/03/23-213101.37",
            "/2022/03/23-213101.37",
            "2022/03/23-213101.37/",
            "/2022/03/23-213101.37/",
        ] {
            assert_eq!(FullSubdir::parse(s), Ok(want.clone()), "{s}");
            assert_eq!(parse_full_subdir(s).as_deref(), Ok("2022/03/23-213101.37"));
        }
        assert_eq!(
            latest_content("2026/11/21-120000.00").unwrap(),
            "/2026/11/21-120000.00"
        );
        assert!(latest_content("2026/11/21").is_err());
        assert_eq!(
            display_subdir("2026/11/21-120000.00"),
            "/2026/11/21-120000.00"
        );
        assert_eq!(
            display_subdir("/2026/11/21-120000.00"),
            "/2026/11/21-120000.00"
        );
    }

    #[test]
    fn full_subdir_errors() {
        let cases: &[(&str, u64, &str)] = &[
            ("", 0, "expected a digit"),
            ("/", 1, "expected a digit"),
            ("//2022/03/23-213101.37", 1, "expected a digit"),
            ("2022/03/23-213101.3", 19, "expected a digit"),
            ("2022/03/23-213101.370", 20, "unexpected text"),
            ("2022-03-23-213101.37", 4, "expected \"/\""),
            ("2022/13/23-213101.37", 5, "month 13"),
            ("2022/02/29-213101.37", 8, "day 29 is not 01 to 28"),
            ("/2022/02/29-213101.37", 9, "day 29"),
            ("2022/03/23-243101.37", 11, "hour 24"),
            ("2022/03/23-216001.37", 13, "minute 60"),
            ("2022/03/23-213160.37", 15, "second 60"),
            ("1969/12/31-235959.99", 0, "outside 1970"),
            ("2554/07/21-233434.00", 0, "outside 1970"),
            ("2022/03/23-213101.37//", 20, "unexpected text"),
        ];
        for &(s, offset, needle) in cases {
            let (field, at, reason) = invalid_at(FullSubdir::parse(s).unwrap_err());
            assert_eq!(field, "full backup subdirectory");
            assert!(reason.contains(needle), "{s:?}: {reason}");
            assert!(reason.starts_with(&format!("{s:?}: ")), "{s:?}: {reason}");
            assert_eq!(at, offset, "{s:?}: {reason}");
        }
    }

    #[test]
    fn incremental_names() {
        assert_eq!(
            incremental_subdir("2022/03/23-213101.37", FULL_END, INC_END),
            "20220323/213201.21-20220323-213101.37"
        );
        assert_eq!(
            incremental_path(INCREMENTALS_DIR, "/2022/03/23-213101.37", FULL_END, INC_END).unwrap(),
            "incrementals/2022/03/23-213101.37/20220323/213201.21-20220323-213101.37"
        );
        assert_eq!(
            incremental_path("/backups//inc/", "2022/03/23-213101.37", FULL_END, INC_END).unwrap(),
            "backups/inc/2022/03/23-213101.37/20220323/213201.21-20220323-213101.37"
        );
        assert_eq!(
            incremental_path("", "2022/03/23-213101.37", FULL_END, INC_END).unwrap(),
            "2022/03/23-213101.37/20220323/213201.21-20220323-213101.37"
        );
        assert!(incremental_path("", "2022/03/23", FULL_END, INC_END).is_err());
        let want = IncrementalSubdir {
            path: "20220323/213201.21-20220323-213101.37".into(),
            end: Timestamp::new(1_648_071_121_210_000_000, 0),
            start: Timestamp::new(1_648_071_061_370_000_000, 0),
        };
        assert_eq!(
            parse_incremental_subdir("20220323/213201.21-20220323-213101.37"),
            Ok(want.clone())
        );
        assert_eq!(
            parse_incremental_subdir("/20220323/213201.21-20220323-213101.37/"),
            Ok(want)
        );
        // Same hundredth: allowed (the names are truncated).
        assert!(parse_incremental_subdir("20220323/213101.37-20220323-213101.37").is_ok());
        let (_, at, reason) = invalid_at(
            parse_incremental_subdir("20220323/213101.36-20220323-213101.37").unwrap_err(),
        );
        assert!(reason.contains("before the start"), "{reason}");
        assert_eq!(at, 0);
        let (_, at, reason) = invalid_at(
            parse_incremental_subdir("20220323/213201.21-20220230-213101.37").unwrap_err(),
        );
        assert!(reason.contains("day 30 is not 01 to 28"), "{reason}");
        assert_eq!(at, 25);
        let (_, at, _) = invalid_at(
            parse_incremental_subdir("20220323/213201.21_20220323-213101.37").unwrap_err(),
        );
        assert_eq!(at, 18);
    }

    #[test]
    fn latest_names_sort_newest_first() {
        assert_eq!(
            latest_marker(NOV_21),
            "metadata/latest/LATEST-16651481673709551615"
        );
        assert_eq!(
            latest_marker(Timestamp::MIN),
            "metadata/latest/LATEST-18446744073709551615"
        );
        assert_eq!(
            latest_marker(Timestamp::MAX),
            "metadata/latest/LATEST-00000000000000000000"
        );
        assert_eq!(parse_latest_marker(&latest_marker(NOV_21)), Ok(NOV_21.wall));
        let older = latest_marker(FULL_END);
        let newer = latest_marker(INC_END);
        assert!(newer < older);
        let (field, at, _) =
            invalid_at(parse_latest_marker("metadata/latest/LATEST-123").unwrap_err());
        assert_eq!((field, at), ("LATEST marker", 23));
        let (_, at, _) = invalid_at(parse_latest_marker("metadata/LATEST-123").unwrap_err());
        assert_eq!(at, 9);
        let (_, at, reason) = invalid_at(
            parse_latest_marker("metadata/latest/LATEST-99999999999999999999").unwrap_err(),
        );
        assert_eq!(at, 23);
        assert!(reason.contains("over 2^64"), "{reason}");
    }

    #[test]
    fn latest_content_is_forgiving_about_whitespace_and_the_slash() {
        for c in [
            "/2026/11/21-120000.00",
            "2026/11/21-120000.00",
            "/2026/11/21-120000.00\n",
            "  /2026/11/21-120000.00\r\n",
            "/2026/11/21-120000.00/",
        ] {
            assert_eq!(
                parse_latest_content(c.as_bytes()).as_deref(),
                Ok("2026/11/21-120000.00"),
                "{c:?}"
            );
        }
        let (field, at, reason) = invalid_at(parse_latest_content(b"\n").unwrap_err());
        assert_eq!((field, at), ("LATEST content", 0));
        assert!(reason.contains("empty"));
        let (field, at, reason) =
            invalid_at(parse_latest_content(b"  /2026/13/21-120000.00").unwrap_err());
        assert_eq!((field, at), ("LATEST content", 8));
        assert!(reason.contains("month 13"), "{reason}");
        let (_, at, reason) = invalid_at(parse_latest_content(b"/2026/\xff").unwrap_err());
        assert_eq!(at, 6);
        assert!(reason.contains("UTF-8"));
    }

    #[test]
    fn backup_directory_files() {
        assert_eq!(data_file(1), "data/000001.sst");
        assert_eq!(data_file(1_234_567), "data/1234567.sst");
        assert_eq!(data_file(u64::MAX), "data/18446744073709551615.sst");
        assert_eq!(
            lock_name(774_413_451_232_018_433),
            "BACKUP-LOCK-774413451232018433"
        );
        assert_eq!(
            checkpoint_name(0),
            "progress/BACKUP-CHECKPOINT-18446744073709551615"
        );
        assert_eq!(
            checkpoint_name(3),
            "progress/BACKUP-CHECKPOINT-18446744073709551612"
        );
        assert!(checkpoint_name(4) < checkpoint_name(3));
        for (f, name) in [
            (BackupFile::Manifest, "BACKUP_MANIFEST"),
            (BackupFile::ManifestChecksum, "BACKUP_MANIFEST-CHECKSUM"),
            (BackupFile::EncryptionInfo, "ENCRYPTION-INFO"),
            (BackupFile::EncryptionInfoRotation(1), "ENCRYPTION-INFO-1"),
            (BackupFile::EncryptionInfoRotation(12), "ENCRYPTION-INFO-12"),
            (BackupFile::Listing, "BACKUP-LISTING"),
            (BackupFile::Data(42), "data/000042.sst"),
            (BackupFile::Lock(0), "BACKUP-LOCK-0"),
            (
                BackupFile::Checkpoint(9),
                "progress/BACKUP-CHECKPOINT-18446744073709551606",
            ),
        ] {
            assert_eq!(f.name(), name);
            assert_eq!(parse_backup_file(name), Ok(f));
        }
        for (s, at, needle) in [
            ("data/00001.sst", 5, "at least 6"),
            ("data/0000001.sst", 5, "leading zero"),
            ("data/000001.SST", 15, "end in .sst"),
            ("data/99999999999999999999.sst", 5, "over 2^64"),
            ("dat/000001.sst", 3, "expected data/"),
        ] {
            let (_, got, reason) = invalid_at(parse_data_file(s).unwrap_err());
            assert!(reason.contains(needle), "{s}: {reason}");
            assert_eq!(got, at, "{s}: {reason}");
        }
        for s in [
            "ENCRYPTION-INFO-",
            "ENCRYPTION-INFO-0",
            "ENCRYPTION-INFO-01",
            "ENCRYPTION-INFO-1x",
        ] {
            let (_, got, _) = invalid_at(parse_encryption_info_name(s).unwrap_err());
            assert_eq!(got, 16, "{s}");
        }
        for (s, at, needle) in [
            ("BACKUP-LOCK-", 12, "decimal number"),
            ("BACKUP-LOCK-01", 12, "leading zero"),
            ("BACKUP-LOCK-1x", 12, "decimal number"),
            ("BACKUP-LOCK--1", 12, "decimal number"),
            ("BACKUP_LOCK-1", 6, "expected BACKUP-LOCK-"),
        ] {
            let (_, got, reason) = invalid_at(parse_lock_name(s).unwrap_err());
            assert!(reason.contains(needle), "{s}: {reason}");
            assert_eq!(got, at, "{s}: {reason}");
        }
        let (_, at, _) = invalid_at(parse_backup_file(".DS_Store").unwrap_err());
        assert_eq!(at, 0);
        assert!(parse_checkpoint_name("progress/BACKUP-CHECKPOINT-1").is_err());
    }

    /// Every valid name of the layout, for the systematic damage tests.
    fn samples() -> Vec<String> {
        vec![
            full_subdir(FULL_END),
            format!("/{}", full_subdir(NOV_21)),
            inc_name(FULL_END, INC_END),
            latest_marker(NOV_21),
            data_file(7),
            data_file(12_345_678),
            lock_name(774_413_451_232_018_433),
            checkpoint_name(5),
            MANIFEST.to_string(),
            MANIFEST_CHECKSUM.to_string(),
            ENCRYPTION_INFO.to_string(),
            "/2026/11/21-120000.00\n".to_string(),
        ]
    }

    #[test]
    fn every_truncation_parses_correctly_or_fails_cleanly() {
        for s in samples() {
            for cut in 0..=s.len() {
                if let Some(prefix) = s.get(..cut) {
                    check_name_oracles(prefix);
                }
            }
        }
    }

    #[test]
    fn every_byte_change_parses_correctly_or_fails_cleanly() {
        let mut accepted = 0;
        for s in samples() {
            let bytes = s.as_bytes();
            for i in 0..bytes.len() {
                for v in 0..=255u8 {
                    let mut m = bytes.to_vec();
                    m[i] = v;
                    let text = String::from_utf8_lossy(&m);
                    check_name_oracles(&text);
                    let _ = parse_latest_content(&m);
                    if text != s && FullSubdir::parse(&text).is_ok() {
                        accepted += 1;
                    }
                }
            }
        }
        // Digit changes that still make a valid date are other valid names.
        assert!(accepted > 0);
    }

    #[test]
    fn listing_resolves_a_collection_with_stray_objects() {
        let inc1 = "incrementals/2022/03/23-213101.37/20220323/213201.21-20220323-213101.37";
        let inc2 = "incrementals/2022/03/23-213101.37/20220324/000000.00-20220323-213201.21";
        let listing = Listing::new([
            "",
            "/",
            "2022/",
            "2022/03/",
            ".DS_Store",
            "2022/03/.DS_Store",
            "./2022/03/23-213101.37/BACKUP_MANIFEST",
            "2022/03/23-213101.37//BACKUP_MANIFEST-CHECKSUM",
            "/2022/03/23-213101.37/data/000001.sst",
            "2022/03/23-213101.37/BACKUP-LOCK-77",
            "2022/03/23-213101.37/../../etc/passwd",
            // A complete full backup, listed twice in two spellings.
            "2023/01/01-000000.00/BACKUP_MANIFEST",
            "2023//01/01-000000.00/BACKUP_MANIFEST",
            // Not full backups: bad date, wrong shape, legacy root manifest.
            "2023/02/30-000000.00/BACKUP_MANIFEST",
            "2023/01/01-000000.0/BACKUP_MANIFEST",
            "BACKUP_MANIFEST",
            "2023/01/01-000000.00/sub/BACKUP_MANIFEST",
            // An unfinished full backup.
            "2024/05/05-050505.05/BACKUP-LOCK-1",
            "2024/05/05-050505.05/data/000001.sst",
            // Incrementals of the first: two complete (listed out of order), one unfinished,
            // one with a malformed name.
            &format!("{inc2}/BACKUP_MANIFEST"),
            &format!("{inc1}/BACKUP_MANIFEST"),
            &format!("{inc1}/data/000001.sst"),
            "incrementals/2022/03/23-213101.37/20220325/000000.00-20220324-000000.00/BACKUP-LOCK-9",
            "incrementals/2022/03/23-213101.37/20220325/000000.00/BACKUP_MANIFEST",
            "incrementals/2022/03/23-213101.37/20220325/000000.00-20220326-000000.00/BACKUP_MANIFEST",
            // Legacy layout: an incremental inside the full backup's directory.
            "2023/01/01-000000.00/20230102/000000.00-20230101-000000.00/BACKUP_MANIFEST",
            // Markers, one stray.
            &latest_marker(FULL_END),
            &latest_marker(INC_END),
            "metadata/latest/LATEST-",
            "metadata/latest/LATEST-00000000000000000000.tmp",
            "metadata/latest/",
            "LATEST",
        ]);
        check_listing_oracles(&listing);
        assert_eq!(
            listing.full_backups(),
            vec!["2022/03/23-213101.37", "2023/01/01-000000.00"]
        );
        assert_eq!(
            listing.unfinished(),
            vec![
                "2024/05/05-050505.05",
                "incrementals/2022/03/23-213101.37/20220325/000000.00-20220324-000000.00"
            ]
        );
        assert_eq!(
            listing.incrementals("/2022/03/23-213101.37", INCREMENTALS_DIR),
            vec![inc1, inc2]
        );
        assert_eq!(
            listing.incrementals("2022/03/23-213101.37/", "/incrementals/"),
            vec![inc1, inc2]
        );
        assert_eq!(
            listing.incrementals("2022/03/23-213101.37", ""),
            Vec::<String>::new()
        );
        assert_eq!(
            listing.incrementals("2023/01/01-000000.00", ""),
            vec!["2023/01/01-000000.00/20230102/000000.00-20230101-000000.00"]
        );
        assert_eq!(
            listing.incrementals("not a backup", INCREMENTALS_DIR),
            Vec::<String>::new()
        );
        assert_eq!(
            listing.latest_markers(),
            vec![latest_marker(INC_END), latest_marker(FULL_END)]
        );
        assert_eq!(
            listing.latest_marker_to_read(),
            Some(latest_marker(INC_END))
        );
        assert_eq!(listing.latest_object_to_read(), latest_marker(INC_END));
        assert!(listing.contains("./2022/03/23-213101.37/BACKUP_MANIFEST"));
        assert!(!listing.contains("2022/03/23-213101.37/../../etc/passwd"));
        assert!(listing
            .objects()
            .all(|p| !p.is_empty() && !p.contains("//") && !p.starts_with('/')));

        let bare = Listing::new(["LATEST", "2022/03/23-213101.37/BACKUP_MANIFEST"]);
        assert_eq!(bare.latest_marker_to_read(), None);
        assert_eq!(bare.latest_object_to_read(), "LATEST");
        assert_eq!(
            Listing::new(Vec::<String>::new()).latest_object_to_read(),
            "LATEST"
        );
        assert!(Listing::default().is_empty());
    }

    #[test]
    fn structured_listings_find_backups() {
        // The generator makes listings with complete and unfinished backups, so the
        // property above exercises more than empty results.
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut fulls, mut incs, mut unfinished) = (0, 0, 0);
        for _ in 0..50 {
            let paths = proptest::collection::vec(structured_path(), 0..40)
                .new_tree(&mut runner)
                .unwrap()
                .current();
            let l = Listing::new(&paths);
            fulls += l.full_backups().len();
            incs += l
                .full_backups()
                .iter()
                .map(|f| l.incrementals(f, INCREMENTALS_DIR).len() + l.incrementals(f, "").len())
                .sum::<usize>();
            unfinished += l.unfinished().len();
        }
        assert!(
            fulls > 0 && incs > 0 && unfinished > 0,
            "{fulls} {incs} {unfinished}"
        );
    }

    #[test]
    fn normalizing_object_paths() {
        for (p, want) in [
            ("a/b", Some("a/b")),
            ("./a//b", Some("a/b")),
            ("/a/./b", Some("a/b")),
            ("a/b/", None),
            ("", None),
            ("/", None),
            ("./", None),
            (".", None),
            ("a/../b", None),
            ("..", None),
            ("a/..b", Some("a/..b")),
        ] {
            assert_eq!(normalize_object_path(p).as_deref(), want, "{p:?}");
        }
    }

    fn path_piece() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just("/".to_string()),
            Just("./".to_string()),
            Just("..".to_string()),
            Just(MANIFEST.to_string()),
            Just(LOCK_PREFIX.to_string()),
            Just("incrementals/".to_string()),
            Just("metadata/latest/LATEST-".to_string()),
            (0u64..u64::MAX).prop_map(|w| full_subdir(Timestamp::new(w, 0))),
            (0u64..u64::MAX, 0u64..u64::MAX).prop_map(|(a, b)| inc_name(
                Timestamp::new(a.min(b), 0),
                Timestamp::new(a.max(b), 0)
            )),
            any::<u64>().prop_map(|w| latest_marker(Timestamp::new(w, 0))),
            "[0-9/.\\-A-Z_a-z]{0,12}",
            "\\PC{0,6}",
        ]
    }

    fn path() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::collection::vec(path_piece(), 0..6).prop_map(|v| v.join("/")),
            structured_path(),
        ]
    }

    /// Paths of a few backups (so that they share directories), with stray spellings.
    fn structured_path() -> impl Strategy<Value = String> {
        let t = |i: u64| Timestamp::new(1_600_000_000_000_000_000 + i * 3_600_000_000_000, 0);
        (
            0u64..4,
            prop::option::of((0u64..4, 0u64..4)),
            prop_oneof![
                Just(MANIFEST.to_string()),
                Just(lock_name(1)),
                Just(data_file(1)),
                Just(".DS_Store".to_string()),
                Just(String::new()),
            ],
            prop_oneof![Just(""), Just("/"), Just("./"), Just("incrementals/")],
            prop_oneof![Just("/"), Just("//"), Just("/./")],
        )
            .prop_map(move |(full, inc, file, lead, sep)| {
                let f = full_subdir(t(full));
                let mut p = match inc {
                    Some((a, b)) => {
                        let (s, e) = (t(full + a.min(b)), t(full + a.max(b)));
                        let root = if lead == "incrementals/" {
                            "incrementals/"
                        } else {
                            ""
                        };
                        format!("{root}{f}{sep}{}", inc_name(s, e))
                    }
                    None => format!("{lead}{f}"),
                };
                p.push_str(sep);
                p.push_str(&file);
                p
            })
    }

    proptest! {
        #[test]
        fn listing_never_panics_and_keeps_its_promises(paths in proptest::collection::vec(path(), 0..40)) {
            let listing = Listing::new(&paths);
            check_listing_oracles(&listing);
            // Order and duplicates in the input do not matter.
            let mut rev = paths.clone();
            rev.reverse();
            rev.extend(paths.iter().cloned());
            prop_assert_eq!(Listing::new(&rev), listing);
        }

        #[test]
        fn names_round_trip(w in any::<u64>(), a in any::<u64>(), b in any::<u64>(), n in any::<u64>()) {
            let t = Timestamp::new(w, 3);
            let f = FullSubdir::parse(&full_subdir(t)).unwrap();
            prop_assert_eq!(f.time, truncated(t));
            prop_assert_eq!(FullSubdir::parse(&format!("/{}", f.path)).unwrap().path, full_subdir(t));
            let (s, e) = (Timestamp::new(a.min(b), 0), Timestamp::new(a.max(b), 0));
            let i = parse_incremental_subdir(&inc_name(s, e)).unwrap();
            prop_assert_eq!((i.start, i.end), (truncated(s), truncated(e)));
            prop_assert_eq!(parse_latest_marker(&latest_marker(t)), Ok(w));
            prop_assert_eq!(parse_data_file(&data_file(n)), Ok(n));
            prop_assert_eq!(parse_lock_name(&lock_name(n)), Ok(n));
            prop_assert_eq!(parse_checkpoint_name(&checkpoint_name(n)), Ok(n));
            prop_assert_eq!(
                parse_latest_content(latest_content(&full_subdir(t)).unwrap().as_bytes()),
                Ok(full_subdir(t))
            );
        }

        #[test]
        fn names_sort_like_their_times(a in any::<u64>(), b in any::<u64>()) {
            let (ta, tb) = (Timestamp::new(a, 0), Timestamp::new(b, 0));
            prop_assert_eq!(full_subdir(ta).cmp(&full_subdir(tb)), truncated(ta).cmp(&truncated(tb)));
            prop_assert_eq!(latest_marker(ta).cmp(&latest_marker(tb)), b.cmp(&a));
            prop_assert_eq!(checkpoint_name(a).cmp(&checkpoint_name(b)), b.cmp(&a));
        }

        #[test]
        fn arbitrary_names_never_panic(s in "\\PC{0,48}") {
            check_name_oracles(&s);
        }
    }

    #[test]
    fn name_lengths() {
        assert_eq!(FULL_SUBDIR_LEN, 20);
        assert_eq!(INCREMENTAL_SUBDIR_LEN, 37);
        let t = Timestamp::new(1_648_071_061_370_000_000, 0);
        assert_eq!(full_subdir(t).len(), FULL_SUBDIR_LEN);
        assert_eq!(inc_name(t, t).len(), INCREMENTAL_SUBDIR_LEN);
    }

    #[test]
    fn objects_grouped_by_backup_directory() {
        let full = "2022/03/23-213101.37";
        let inc = "20220323/213201.21-20220323-213101.37";
        let paths = [
            format!("{full}/BACKUP_MANIFEST"),
            format!("{full}/{}", data_file(1)),
            format!("{full}/notes.txt"),
            format!("incrementals/{full}/{inc}/BACKUP-LOCK-7"),
            format!("incrementals/{full}/{inc}/progress/BACKUP-CHECKPOINT-18446744073709551614"),
            format!("{full}/{inc}/BACKUP_MANIFEST-CHECKSUM"),
            "LATEST".to_string(),
            "2022/03/23-21310.37/BACKUP_MANIFEST".to_string(),
            format!("incrementals/{full}/BACKUP_MANIFEST"),
        ];
        let g = group_backup_dirs(&paths, INCREMENTALS_DIR, true);
        assert_eq!(
            g.dirs.keys().map(String::as_str).collect::<Vec<_>>(),
            vec![full.to_string(), format!("incrementals/{full}/{inc}")]
        );
        let f = &g.dirs[full];
        assert!(f.manifest && !f.checksum && !f.lock && !f.unfinished());
        assert_eq!(
            f.files,
            vec![
                ("BACKUP_MANIFEST".to_string(), Some(BackupFile::Manifest)),
                (data_file(1), Some(BackupFile::Data(1))),
                ("notes.txt".to_string(), None),
                (format!("{inc}/BACKUP_MANIFEST-CHECKSUM"), None),
            ]
        );
        let i = &g.dirs[&format!("incrementals/{full}/{inc}")];
        assert!(i.lock && i.unfinished());
        assert_eq!(i.files.len(), 2);
        assert_eq!(
            g.other,
            vec![
                "LATEST".to_string(),
                "2022/03/23-21310.37/BACKUP_MANIFEST".to_string(),
                format!("incrementals/{full}/BACKUP_MANIFEST"),
            ]
        );
        // The legacy place, and a separate incremental location (no full backups there).
        let legacy = group_backup_dirs(&paths, "", true);
        assert!(legacy.dirs[&format!("{full}/{inc}")].checksum);
        let sep = group_backup_dirs(
            &[format!("{full}/{inc}/BACKUP_MANIFEST"), format!("{full}/x")],
            "",
            false,
        );
        assert_eq!(sep.dirs.len(), 1);
        assert!(sep.dirs[&format!("{full}/{inc}")].manifest);
        assert_eq!(sep.other, vec![format!("{full}/x")]);
        assert_eq!(
            backup_dir_of(
                &format!("/incrementals/{full}/{inc}/x"),
                "/incrementals/",
                true
            ),
            None
        );
        assert_eq!(
            backup_dir_of(
                &format!("incrementals/{full}/{inc}/x"),
                "/incrementals/",
                true
            ),
            Some((format!("incrementals/{full}/{inc}").as_str(), "x"))
        );
    }
}
