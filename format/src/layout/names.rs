//! The names of a collection: the constants, full and incremental backup directories and
//! `LATEST` pointers, each formatted and parsed by one template.

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

pub(super) fn invalid(
    field: &'static str,
    offset: usize,
    text: &str,
    reason: impl std::fmt::Display,
) -> Error {
    // The text is quoted up to 64 characters (a name is shorter; an odd object's content
    // must not flood a message).
    const MAX: usize = 64;
    let quoted = match text.char_indices().nth(MAX) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!(
            "{:?}…({} bytes)",
            text.get(..cut).unwrap_or_default(),
            text.len()
        ),
    };
    Error::Invalid {
        field,
        offset: offset as u64,
        reason: format!("{quoted}: {reason}"),
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
pub(super) fn truncated(ts: Timestamp) -> Timestamp {
    Timestamp::new(ts.wall - ts.wall % HUNDREDTH, 0)
}

/// Strips at most one leading and one trailing `/`.
pub(super) fn strip_slashes(s: &str) -> (&str, usize) {
    let (s, base) = match s.strip_prefix('/') {
        Some(r) => (r, 1),
        None => (s, 0),
    };
    (s.strip_suffix('/').unwrap_or(s), base)
}

/// Parses a decimal `u64` written canonically (no sign, no leading zero but for `0`).
pub(super) fn canonical_u64(
    text: &str,
    digits: &str,
    offset: usize,
    field: &'static str,
) -> Result<u64> {
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
pub(super) fn descending(
    text: &str,
    digits: &str,
    offset: usize,
    field: &'static str,
) -> Result<u64> {
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
pub(super) fn inc_name(start: Timestamp, end: Timestamp) -> String {
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
pub(super) fn root_prefix(root: &str) -> String {
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
pub(super) fn descending_after(s: &str, prefix: &str, field: &'static str) -> Result<u64> {
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

pub(super) fn common_prefix_len(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}
