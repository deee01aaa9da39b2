//! The `full` level over an encrypted chain read without its key: the byte-integrity pass.
//!
//! What can be checked without the key is checked: the SHA-256 of every stored data file
//! against the layer's `BACKUP-LISTING` (`sha256_mismatch`), and for every sealed file (data
//! files, manifests, checkpoints) that its envelope header parses (`envelope_header`) and
//! that its size fits the chunk framing the header gives (`envelope_size`,
//! spec/envelope.md §1). Everything else needs the key; the chain's `not_checked` in the
//! report says what (`--keyless` is the explicit choice of this pass). Data files are read
//! once, `jobs` at a time, in 1 MiB ranges.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use sha2::{Digest, Sha256};
use vouch_format::envelope::{self, Header};
use vouch_format::layout::{self, BackupFile};
use vouch_format::Error as FormatError;

use crate::finding::{is_envelope_kind, sst_finding, Finding};
use crate::report::Progress;
use crate::state::{ChainState, Ctx, Which};
use hex::encode as hex;
use vouch_chain::pool;

/// Bytes read per range while hashing.
const RANGE: u64 = 1 << 20;

/// Why no sealed file of `size` bytes has chunks of `chunk_size` (format's
/// [`envelope::Framing`] decides): `(chunk, offset, message)`, `None` when one has.
fn framing_problem(chunk_size: u32, size: u64) -> Option<(u64, u64, String)> {
    let e = envelope::Framing::new(chunk_size, size).err()?;
    Some(match e {
        FormatError::EnvelopeTruncated { chunk: 0, offset, .. } => {
            let min = (envelope::HEADER_LEN + envelope::TAG_LEN) as u64;
            (
                0,
                offset,
                format!("{size} bytes is shorter than an envelope header and one tag ({min})"),
            )
        }
        FormatError::EnvelopeTruncated {
            chunk,
            offset,
            needed,
            available,
        } => (
            chunk,
            offset,
            format!(
                "its last chunk ({chunk}) has {available} stored bytes, fewer than the {needed} a final chunk needs: no sealed file of {chunk_size}-byte chunks is {size} bytes long"
            ),
        ),
        FormatError::Limit { value, limit, .. } => (
            0,
            0,
            format!("{value} chunks is more than the {limit} allowed"),
        ),
        e => (0, 0, e.to_string()),
    })
}

/// The envelope checks of one sealed file from its first bytes and its size.
fn check_envelope(path: &str, first: &[u8], size: u64) -> Option<Finding> {
    let header = match Header::decode(first) {
        Ok(h) => h,
        Err(e) => {
            let mut f = sst_finding(path, &e);
            f.message = format!("{path}: {e}");
            if !is_envelope_kind(f.kind) {
                f.kind = "envelope_header";
            }
            return Some(f);
        }
    };
    framing_problem(header.chunk_size, size).map(|(chunk, offset, msg)| {
        Finding::error(
            "envelope_size",
            path,
            format!("{path}: encrypted file size does not fit the envelope's chunk framing: {msg}"),
        )
        .at(offset)
        .in_block(format!("chunk#{chunk}"))
    })
}

/// One data file: its SHA-256 and its envelope. Returns the findings and the bytes read.
fn check_file(
    ctx: &Ctx<'_>,
    which: Which,
    path: &str,
    size: u64,
    listed_sha: &[u8],
    done_bytes: &AtomicU64,
) -> (Vec<Finding>, u64) {
    let store = ctx.store(which);
    let mut sha = Sha256::new();
    let mut first: Vec<u8> = Vec::new();
    let mut at = 0u64;
    let mut out = Vec::new();
    while at < size {
        let n = RANGE.min(size - at);
        let b = match store.get_range(path, at, n) {
            Ok(b) if !b.is_empty() => b,
            Ok(_) => break,
            Err(e) => {
                out.push(crate::finding::store_finding(path, &e));
                return (out, at);
            }
        };
        if first.len() < envelope::HEADER_LEN {
            let want = envelope::HEADER_LEN - first.len();
            first.extend_from_slice(b.get(..want.min(b.len())).unwrap_or_default());
        }
        sha.update(&b);
        at += b.len() as u64;
        done_bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
    }
    let got: [u8; 32] = sha.finalize().into();
    if got.as_slice() != listed_sha {
        out.push(
            Finding::error(
                "sha256_mismatch",
                path,
                format!("{path}: the SHA-256 of the stored bytes is not the one the integrity listing records"),
            )
            .expected_found(hex(listed_sha), hex(got)),
        );
    }
    out.extend(check_envelope(path, &first, size));
    (out, at)
}

/// The byte-integrity pass over every layer of a chain read without its key.
pub(crate) fn check_chain(ctx: &Ctx<'_>, c: &mut ChainState, progress: &mut dyn FnMut(Progress)) {
    // (layer index, path, stored size, listed SHA-256)
    let mut todo: Vec<(usize, String, u64, Vec<u8>, Which)> = Vec::new();
    for (li, l) in c.layers.iter().enumerate() {
        let Some(m) = &l.manifest else { continue };
        for (fi, (f, size)) in m.files.iter().zip(&l.sizes).enumerate() {
            if !c.owns_file(li, fi) {
                continue;
            }
            if let (Some(s), Some(which)) = (size, l.file_which(f)) {
                todo.push((li, l.path(&f.path), *s, f.sha256.clone(), which));
            }
        }
    }
    progress(Progress::Start {
        check: "data",
        files: todo.len() as u64,
        bytes: todo.iter().map(|t| t.2).sum(),
    });
    let done_files = AtomicUsize::new(0);
    let done_bytes = AtomicU64::new(0);
    let results = pool::map(&todo, ctx.opts.jobs, |(_, path, size, sha, which)| {
        let r = check_file(ctx, *which, path, *size, sha, &done_bytes);
        done_files.fetch_add(1, Ordering::Relaxed);
        r
    });
    progress(Progress::Advance {
        files: done_files.load(Ordering::Relaxed) as u64,
        bytes: done_bytes.load(Ordering::Relaxed),
    });
    ctx.files_checked.fetch_add(todo.len(), Ordering::Relaxed);
    for l in c.layers.iter_mut() {
        l.check("data");
    }
    for ((li, ..), (findings, bytes)) in todo.iter().zip(results) {
        ctx.add_bytes(bytes);
        if let Some(l) = c.layers.get_mut(*li) {
            let dir = l.dir.clone();
            l.check("data")
                .findings
                .extend(findings.into_iter().map(|f| f.in_layer(dir.clone())));
        }
    }
    if !c.reports_whole(ctx) {
        // Shard 1 checks the rest.
        return;
    }
    // The other sealed files: the manifest (read already) and the checkpoints.
    for l in c.layers.iter_mut() {
        let mut found = Vec::new();
        if let Some(b) = &l.bytes {
            let mpath = l.path(layout::MANIFEST);
            found.extend(check_envelope(&mpath, b, b.len() as u64));
        }
        let store = ctx.store(l.which);
        let prefix = l.path("");
        let objects = store.list(&prefix).unwrap_or_default();
        for o in objects {
            let Some(name) = o.path.strip_prefix(&prefix) else {
                continue;
            };
            if !matches!(
                layout::parse_backup_file(name),
                Ok(BackupFile::Checkpoint(_))
            ) {
                continue;
            }
            match store.get_limited(&o.path, layout::MAX_RECORD_BYTES) {
                Ok(b) => {
                    ctx.files_checked.fetch_add(1, Ordering::Relaxed);
                    ctx.add_bytes(b.len() as u64);
                    found.extend(check_envelope(&o.path, &b, b.len() as u64));
                }
                Err(e) => found.push(crate::finding::store_finding(&o.path, &e)),
            }
        }
        let dir = l.dir.clone();
        l.check("data")
            .findings
            .extend(found.into_iter().map(|f| f.in_layer(dir.clone())));
    }
}
