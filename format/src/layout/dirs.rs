//! Objects grouped by the backup directory they belong to.

use std::collections::BTreeMap;

use super::files::{parse_backup_file, BackupFile};
use super::names::{
    parse_incremental_subdir, root_prefix, FullSubdir, FULL_SUBDIR_LEN, INCREMENTAL_SUBDIR_LEN,
};

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
