//! The `verify_full` fuzz target's oracle: fuzzer bytes become mutations of the files
//! verification must vouch for; a changed collection is never clean, an unchanged one
//! never flagged.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use vouch_chain::Targets;
use vouch_cluster::workload::{self, Workload};
use vouch_cluster::{Clock, Cluster};
use vouch_engine::backup::{backup, BackupOptions, Destination};
use vouch_format::layout::{self, BackupFile, Listing, DATA_DIR};
use vouch_format::sst::Compression;
use vouch_verify::Level;

use crate::tree::snapshot;

/// The `verify_full` fuzz target's base collection, written under `tmp` (a cluster in
/// `cluster/`, the collection in `collection/`) and read into memory: a `bank` cluster of
/// 12 rows, a full backup with revision history and one incremental.
pub fn fuzz_base(tmp: &Path) -> BTreeMap<String, Vec<u8>> {
    const SEC: u64 = 1_000_000_000;
    let c = Cluster::init(
        &tmp.join("cluster"),
        Clock::manual(1_767_225_600_230_000_000),
    )
    .expect("cluster");
    workload::init(&c, Workload::Bank, 12, 1).expect("init");
    let root = tmp.join("collection");
    let uri = root.to_str().expect("utf-8 path").to_string();
    for (i, dest) in [Destination::Into(uri.clone()), Destination::IntoLatest(uri)]
        .into_iter()
        .enumerate()
    {
        c.kv().clock().advance(SEC);
        workload::run(&c, Workload::Bank, 6, i as u64 + 2).expect("run");
        c.kv().clock().advance(SEC);
        let mut o = BackupOptions::new(Targets::Cluster, dest);
        o.revision_history = true;
        o.target_file_size = 2 << 10;
        o.block_size = 256;
        o.compression = Compression::Snappy;
        backup(&c, &o, &mut |_| {}).expect("backup");
    }
    snapshot(&root)
}

/// What a collection path names inside its backup directory: the last component, or
/// `data/<n>.sst` for a file in a `data/` directory.
fn file_in_backup_dir(path: &str) -> Option<BackupFile> {
    let (dir, name) = path.rsplit_once('/')?;
    let in_data = dir == DATA_DIR || dir.ends_with(&format!("/{DATA_DIR}"));
    let name = if in_data {
        format!("{DATA_DIR}/{name}")
    } else {
        name.to_string()
    };
    layout::parse_backup_file(&name).ok()
}

/// One fuzzer-chosen change to one protected file (see [`fuzz_mutations`]).
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    /// XOR the byte at `offset` (modulo the length) with `xor`.
    Xor {
        /// The file.
        file: String,
        /// Offset, taken modulo the file's length.
        offset: usize,
        /// Bits to flip (0: none).
        xor: u8,
    },
    /// Cut to `len` (modulo length + 1) bytes.
    Truncate {
        /// The file.
        file: String,
        /// New length, taken modulo the old length + 1.
        len: usize,
    },
    /// Append bytes.
    Extend {
        /// The file.
        file: String,
        /// Appended bytes.
        bytes: Vec<u8>,
    },
    /// A consistent rewrite (checksum files and hash chain kept whole): the action of the
    /// corruption suite's `manifest-consistent/*` or `rows/*` case number `pick` (modulo
    /// their count) on the collection as mutated so far. Each such case is damage the
    /// suite requires `full` to catch.
    Consistent {
        /// Which case.
        pick: usize,
    },
}

/// The files of a collection whose every byte verification must vouch for: manifests,
/// checksum files, data files of complete backups, and the LATEST marker in force.
/// (Checkpoints and locks of complete backups, older markers and the plain `LATEST`,
/// which readers use only without markers, are left alone.)
#[doc(hidden)]
pub fn protected_files<'a>(files: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let files: Vec<&String> = files.into_iter().collect();
    let listing = Listing::new(files.iter().map(|s| s.as_str()));
    let marker = listing.latest_marker_to_read();
    let mut out: Vec<String> = files
        .iter()
        .filter(|f| {
            matches!(
                file_in_backup_dir(f),
                Some(BackupFile::Manifest | BackupFile::ManifestChecksum | BackupFile::Data(_))
            ) || marker.as_deref() == Some(f.as_str())
        })
        .map(|f| f.to_string())
        .collect();
    out.sort();
    out
}

/// Reads up to 4 mutations from fuzzer bytes, 5 bytes each: file selector, operation,
/// 16-bit position (LE), value. Operation 4 (modulo 8) is a consistent rewrite picked by
/// the value; the others, modulo 4: XOR (0, 1), truncate (2), extend (3).
#[doc(hidden)]
pub fn fuzz_mutations(protected: &[String], data: &[u8]) -> Vec<Mutation> {
    if protected.is_empty() {
        return Vec::new();
    }
    data.chunks_exact(5)
        .take(4)
        .map(|c| {
            let file = protected[usize::from(c[0]) % protected.len()].clone();
            let pos = usize::from(u16::from_le_bytes([c[2], c[3]]));
            if c[1] % 8 == 4 {
                return Mutation::Consistent {
                    pick: usize::from(c[4]),
                };
            }
            match c[1] % 4 {
                0 | 1 => Mutation::Xor {
                    file,
                    offset: pos,
                    xor: c[4],
                },
                2 => Mutation::Truncate { file, len: pos },
                _ => Mutation::Extend {
                    file,
                    bytes: vec![c[4]; usize::from(c[4] % 8)],
                },
            }
        })
        .collect()
}

/// Applies mutations to an in-memory collection.
#[doc(hidden)]
pub fn mutate(files: &mut BTreeMap<String, Vec<u8>>, ms: &[Mutation]) {
    for m in ms {
        match m {
            Mutation::Xor { file, offset, xor } => {
                if let Some(b) = files.get_mut(file) {
                    if !b.is_empty() {
                        let i = offset % b.len();
                        b[i] ^= xor;
                    }
                }
            }
            Mutation::Truncate { file, len } => {
                if let Some(b) = files.get_mut(file) {
                    let n = len % (b.len() + 1);
                    b.truncate(n);
                }
            }
            Mutation::Extend { file, bytes } => {
                if let Some(b) = files.get_mut(file) {
                    b.extend_from_slice(bytes);
                }
            }
            // Performed on the written collection (`consistent_rewrites`).
            Mutation::Consistent { .. } => {}
        }
    }
}

/// Fuzz entry point behind the `verify_full` target: mutates protected files of the clean
/// collection `base` (path → bytes) as `data` says, writes it under `scratch` (emptied
/// first) and verifies it at `full`. Panics (the oracle) when verification cannot run, when
/// a collection whose protected bytes changed is reported without an error, or when an
/// unchanged one is reported with one. A LATEST marker changed into another spelling of
/// the same backup (readers ignore whitespace and the leading `/`) counts as unchanged.
#[doc(hidden)]
pub fn fuzz_verify_full(base: &BTreeMap<String, Vec<u8>>, scratch: &Path, data: &[u8]) {
    let protected = protected_files(base.keys());
    let ms = fuzz_mutations(&protected, data);
    let mut files = base.clone();
    mutate(&mut files, &ms);
    let changed: Vec<&String> = protected
        .iter()
        .filter(|p| {
            let (old, new) = (&base[*p], &files[*p]);
            if old == new {
                return false;
            }
            if layout::parse_latest_marker(p).is_ok() {
                let parse = |b: &[u8]| layout::parse_latest_content(b).ok();
                return parse(old).is_none() || parse(old) != parse(new);
            }
            true
        })
        .collect();
    let _ = fs::remove_dir_all(scratch);
    for (p, b) in &files {
        let to = scratch.join(p);
        if let Some(d) = to.parent() {
            fs::create_dir_all(d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        }
        fs::write(&to, b).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    }
    let rewritten = consistent_rewrites(scratch, &ms);
    let uri = scratch.to_string_lossy();
    let report = vouch_verify::verify_collection(
        &uri,
        None,
        None,
        &vouch_store::OpenOptions {
            nodelocal_root: None,
            ..Default::default()
        },
        &vouch_verify::VerifyOptions::new(Level::Full),
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("verify could not run after {ms:?}: {e}"));
    if changed.is_empty() && !rewritten {
        assert_eq!(
            report.errors, 0,
            "unchanged collection reported with errors after {ms:?}: {:?}",
            report.findings
        );
    } else {
        assert!(
            report.errors > 0,
            "mutated collection reported clean: {changed:?} changed by {ms:?} (consistent rewrite: {rewritten})"
        );
    }
}

/// Performs the [`Mutation::Consistent`] rewrites of `ms` on the collection at `root`;
/// true when one was performed (the cases are planned on the collection as it is; one
/// that cannot be planned or performed on damaged bytes is skipped).
fn consistent_rewrites(root: &Path, ms: &[Mutation]) -> bool {
    let mut done = false;
    for m in ms {
        let Mutation::Consistent { pick } = m else {
            continue;
        };
        let Ok(cases) = super::cases(root) else {
            continue;
        };
        let rewrites: Vec<_> = cases
            .into_iter()
            .filter(|c| {
                matches!(
                    c.action,
                    super::Action::EditManifest { .. } | super::Action::BadRows { .. }
                )
            })
            .collect();
        if rewrites.is_empty() {
            continue;
        }
        let case = &rewrites[pick % rewrites.len()];
        if super::perform(&case.action, root).is_ok() {
            done = true;
        }
    }
    done
}
