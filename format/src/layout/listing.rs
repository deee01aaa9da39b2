//! Resolving a collection from an object listing, tolerating stray objects.

use std::collections::BTreeSet;

use super::dirs::backup_dir_of;
use super::names::{
    parse_incremental_subdir, parse_latest_marker, root_prefix, FullSubdir, INCREMENTALS_DIR,
    LATEST, LATEST_DIR, LATEST_MARKER_PREFIX, LOCK_PREFIX, MANIFEST,
};
use crate::mvcc::Timestamp;

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

    pub(super) fn has_manifest(&self, dir: &str) -> bool {
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
pub(super) fn is_backup_dir(d: &str) -> bool {
    let probe = format!("{d}/{MANIFEST}");
    [INCREMENTALS_DIR, ""]
        .into_iter()
        .any(|root| backup_dir_of(&probe, root, true).is_some_and(|(dir, _)| dir == d))
}
