//! The `metadata` level: LATEST, manifests and checksum files, chain continuity, and the
//! existence and size of every file (stat only, in parallel).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use vouch_format::layout;
use vouch_format::manifest::{self, pb};
use vouch_format::mvcc::Timestamp;

use crate::finding::{chain_finding, error_offset, Finding};
use crate::report::{CheckResult, Progress};
use crate::state::{is_full_name, ChainState, Ctx, LayerState, Which};
use hex::encode as hex;
use vouch_chain::layer::{self, Encryption, Object, Problem};
use vouch_chain::pool;
use vouch_format::envelope::DataKey;

/// Every LATEST pointer among the collection's `objects`, in the order the `latest` check
/// reads them: the `metadata/latest/LATEST-*` markers, then `LATEST` when it is there.
pub(crate) fn latest_pointers(objects: &[String]) -> Vec<String> {
    let mut pointers = layout::Listing::new(objects.iter()).latest_markers();
    if objects.iter().any(|p| p == layout::LATEST) {
        pointers.push(layout::LATEST.to_string());
    }
    pointers
}

/// The `latest` check; returns the full backup LATEST names (when it names one).
pub(crate) fn check_latest(
    ctx: &Ctx<'_>,
    objects: &[String],
    dirs: &BTreeMap<String, layout::BackupDir>,
) -> (CheckResult, Option<String>) {
    let mut c = CheckResult::new("latest");
    let complete: Vec<&String> = dirs
        .iter()
        .filter(|(d, i)| i.manifest && is_full_name(d))
        .map(|(d, _)| d)
        .collect();
    let to_read = latest_pointers(objects);
    if to_read.is_empty() {
        if !complete.is_empty() {
            c.findings.push(Finding::error(
                "latest_missing",
                layout::LATEST,
                format!(
                    "there is no {} and no {}/{}* marker, but {} complete full backup(s) exist",
                    layout::LATEST,
                    layout::LATEST_DIR,
                    layout::LATEST_MARKER_PREFIX,
                    complete.len()
                ),
            ));
        }
        return (c, None);
    }
    // Every pointer must name a complete full backup; the one readers use must name the
    // newest.
    let mut named: Option<String> = None;
    for (i, obj) in to_read.iter().enumerate() {
        let bytes = match ctx.main.get_limited(obj, layout::MAX_POINTER_BYTES) {
            Ok(b) => b,
            Err(e) => {
                c.findings.push(crate::finding::store_finding(obj, &e));
                continue;
            }
        };
        let target = match layout::parse_latest_content(&bytes) {
            Ok(t) => t,
            Err(e) => {
                let mut f = Finding::error(
                    "latest_invalid",
                    obj.clone(),
                    format!("{obj}: does not name a full backup: {e}"),
                )
                .expected_found(
                    "/YYYY/MM/DD-HHMMSS.ss",
                    String::from_utf8_lossy(&bytes).into_owned(),
                );
                f.offset = error_offset(&e);
                c.findings.push(f);
                continue;
            }
        };
        if !complete.iter().any(|d| **d == target) {
            c.findings.push(
                Finding::error(
                    "latest_invalid",
                    obj.clone(),
                    format!(
                        "{obj}: names {}, which is not a complete full backup (no {})",
                        layout::display_subdir(&target),
                        layout::MANIFEST
                    ),
                )
                .expected_found("a complete full backup", layout::display_subdir(&target)),
            );
            continue;
        }
        if i == 0 {
            named = Some(target);
        }
    }
    if let (Some(n), Some(newest)) = (&named, complete.last()) {
        if n < *newest {
            let obj = to_read.first().cloned().unwrap_or_default();
            c.findings.push(
                Finding::error(
                    "latest_not_newest",
                    obj.clone(),
                    format!(
                        "{obj} names {} but the newer full backup {} is complete (LATEST rolled back?)",
                        layout::display_subdir(n),
                        layout::display_subdir(newest)
                    ),
                )
                .expected_found(layout::display_subdir(newest), layout::display_subdir(n)),
            );
        }
    }
    (c, named)
}

/// How a chain's layers are read: encrypted or not, and its key when given.
#[derive(Clone, Copy)]
pub(crate) struct Enc<'k> {
    pub encrypted: bool,
    pub key: Option<&'k DataKey>,
}

/// Reads one layer's manifest and checksum file with the reader restore uses
/// ([`vouch_chain::layer::read_layer`]); every problem becomes a finding of its `manifest`
/// check. In an encrypted chain the layer's `BACKUP-LISTING` is read too: with the key, the
/// manifest is opened through the envelope and checked against the listing; without it,
/// the layer's manifest is made from the listing (ids, times, previous, files), which is
/// what the metadata checks need.
pub(crate) fn read_layer(
    ctx: &Ctx<'_>,
    dir: &str,
    which: Which,
    is_full: bool,
    enc: Enc<'_>,
) -> LayerState {
    let how = match (enc.encrypted, enc.key) {
        (false, _) => Encryption::Plain,
        (true, None) => Encryption::Keyless,
        (true, Some(k)) => Encryption::Key(k),
    };
    let r = layer::read_layer(ctx.store(which), dir, is_full, how);
    ctx.files_checked.fetch_add(
        usize::try_from(r.objects_read).unwrap_or(usize::MAX),
        Ordering::Relaxed,
    );
    ctx.add_bytes(r.bytes_read);
    let mut l = LayerState {
        localities: Vec::new(),
        dir: dir.to_string(),
        which,
        is_full,
        bytes: r.bytes,
        manifest: r.manifest,
        sizes: Vec::new(),
        checks: Vec::new(),
    };
    let mut c = CheckResult::new("manifest");
    for p in r.problems {
        match p {
            Problem::ListingMismatch { differences, .. } => {
                check_listing(&l, differences, &mut c);
            }
            p => c.findings.push(problem_finding(p).in_layer(dir)),
        }
    }
    if let Some(m) = &l.manifest {
        check_dir_name(&l, m, &mut c);
    }
    l.checks.push(c);
    l
}

/// The finding for one problem of the layer reader.
fn problem_finding(p: Problem) -> Finding {
    match p {
        Problem::Unreadable {
            path,
            object,
            error: vouch_store::Error::NotFound { .. },
        } => {
            let (kind, message) = match object {
                Object::Manifest => ("manifest_missing", format!("{path}: the manifest is missing")),
                Object::Checksum => (
                    "checksum_missing",
                    format!("{path}: the manifest's checksum file is missing"),
                ),
                _ => (
                    "listing_missing",
                    format!(
                        "{path}: the integrity listing of this encrypted layer is missing (the key-less checks and the manifest's identity need it)"
                    ),
                ),
            };
            Finding::error(kind, path, message)
        }
        Problem::Unreadable { path, error, .. } => crate::finding::store_finding(&path, &error),
        Problem::ChecksumMismatch {
            path,
            manifest,
            computed,
            stored,
            error,
        } => {
            let message = format!("{path}: does not match {manifest}: {error}");
            Finding::error("checksum_mismatch", path, message)
                .expected_found(hex(computed), hex(&stored))
        }
        Problem::ManifestDecode { path, error }
        | Problem::ManifestSealed {
            path,
            error: Some(error),
        } => {
            let mut f = Finding::error("manifest_decode", path.clone(), format!("{path}: {error}"));
            f.offset = error_offset(&error);
            f
        }
        Problem::ManifestSealed { path, error: None } => {
            let message = format!("{path}: a sealed manifest in a chain with no key records");
            Finding::error("manifest_decode", path, message)
        }
        Problem::ManifestOpen { path, error } => chain_finding(&path, &error, "manifest_decode"),
        Problem::ListingDecode { path, error } => chain_finding(&path, &error, "listing_decode"),
        Problem::ListingMismatch { path, .. } => {
            let message = format!("{path}: does not match the encrypted manifest");
            Finding::error("listing_mismatch", path, message)
        }
        Problem::Inconsistent { path, problem } => {
            use vouch_format::manifest::rules::Inconsistency as I;
            let kind = match &problem {
                I::FileListedTwice { .. } => "file_listed_twice",
                I::FileBoundsOverlap { .. } => "file_bounds_overlap",
                I::StartTime { .. } => "start_time_invalid",
                I::MvccFilter { .. } => "mvcc_filter_invalid",
                I::RevisionStart { .. } => "revision_start_invalid",
                I::Spans { .. } => "spans_invalid",
                I::IntroducedSpans { .. } => "introduced_spans_invalid",
                _ => "manifest_inconsistent",
            };
            let message = format!("{path}: {problem}");
            Finding::error(kind, path, message)
        }
        _ => Finding::error("read_error", "", "an unknown problem"),
    }
}

/// With the key: the listing must say what the encrypted manifest says, field by field
/// (`listing_mismatch`, naming the field and, for files, the file).
fn check_listing(
    l: &LayerState,
    differences: Vec<manifest::ListingDifference>,
    c: &mut CheckResult,
) {
    let path = l.path(layout::LISTING);
    let t = |t: Option<pb::Timestamp>| Timestamp::from_pb(t).to_string();
    let p = |p: &Option<pb::Previous>| {
        p.as_ref().map_or("none".to_string(), |p| {
            format!("{} {}", p.path, hex(&p.manifest_sha256))
        })
    };
    let fdesc = |f: &pb::ListedFile| format!("{} bytes, sha256 {}", f.size, hex(&f.sha256));
    let bad = differences.into_iter().map(|d| {
        use manifest::ListingDifference as D;
        let field = d.field().to_string();
        match d {
            D::FormatVersion { expected, found } => {
                (field, expected.to_string(), found.to_string())
            }
            D::BackupId { expected, found } | D::ChainId { expected, found } => {
                (field, hex(&expected), hex(&found))
            }
            D::StartTime { expected, found } | D::EndTime { expected, found } => {
                (field, t(expected), t(found))
            }
            D::Previous { expected, found } => (field, p(&expected), p(&found)),
            D::File {
                path: file,
                expected,
                found,
            } => (
                format!("files[{file}]"),
                expected
                    .as_ref()
                    .map_or("not in the manifest".into(), fdesc),
                found.as_ref().map_or("not listed".into(), fdesc),
            ),
            // Same files, another order.
            D::FileOrder => (field, "the manifest's order".into(), "another order".into()),
        }
    });
    for (field, expected, found) in bad {
        c.findings.push(
            Finding::error(
                "listing_mismatch",
                path.clone(),
                format!(
                    "{path}: field {field} does not match the encrypted manifest (the listing was forged or damaged)"
                ),
            )
            .expected_found(expected, found)
            .in_layer(&l.dir),
        );
    }
}

/// The directory name must be the one the manifest's kind and times give.
fn check_dir_name(l: &LayerState, m: &pb::BackupManifest, c: &mut CheckResult) {
    let (start, end) = (
        Timestamp::from_pb(m.start_time),
        Timestamp::from_pb(m.end_time),
    );
    let mpath = l.path(layout::MANIFEST);
    let dir = l.dir.as_str();
    let (expected, kind_ok) = if l.is_full {
        (layout::full_subdir(end), m.previous.is_none())
    } else {
        let inc = layout::incremental_subdir("", start, end);
        let parent = dir.get(..dir.len().saturating_sub(inc.len())).unwrap_or("");
        (format!("{parent}{inc}"), m.previous.is_some())
    };
    if expected != dir {
        c.findings.push(
            Finding::error(
                "layer_dir_mismatch",
                mpath.clone(),
                format!(
                    "{mpath}: the manifest ({} {start} .. {end}) belongs in {expected}, not {dir} (an older layer replayed in place of a newer one?)",
                    if l.is_full { "full backup" } else { "incremental" },
                ),
            )
            .expected_found(expected, dir.to_string())
            .in_layer(dir),
        );
    }
    if !kind_ok {
        c.findings.push(
            Finding::error(
                "layer_dir_mismatch",
                mpath.clone(),
                if l.is_full {
                    format!("{mpath}: a full backup directory holds an incremental manifest (it has a previous layer)")
                } else {
                    format!("{mpath}: an incremental directory holds a full backup's manifest (no previous layer)")
                },
            )
            .expected_found(
                if l.is_full { "full" } else { "incremental" },
                if l.is_full { "incremental" } else { "full" },
            )
            .in_layer(dir),
        );
    }
}

/// Continuity of the chain: each layer starts where the one before ends, names it by path
/// and manifest hash, and carries the full backup's chain id.
pub(crate) fn check_chain(layers: &mut [LayerState]) {
    let full_chain_id = layers
        .first()
        .and_then(|l| l.manifest.as_ref())
        .map(|m| m.chain_id.clone());
    let mut prev: Option<(String, Option<Timestamp>, Option<[u8; 32]>)> = None;
    for l in layers.iter_mut() {
        let mut c = CheckResult::new("chain");
        let mpath = l.path(layout::MANIFEST);
        if let (Some(m), Some((pdir, pend, psha))) = (&l.manifest, &prev) {
            let start = Timestamp::from_pb(m.start_time);
            if let Some(pend) = pend {
                if start != *pend {
                    c.findings.push(
                        Finding::error(
                            "chain_gap",
                            mpath.clone(),
                            format!(
                                "{mpath}: the layer starts at {start} but the layer before it ({pdir}) ends at {pend} (a missing or extra layer?)"
                            ),
                        )
                        .expected_found(pend.to_string(), start.to_string())
                        .in_layer(&l.dir),
                    );
                }
            }
            if let Some(p) = &m.previous {
                if p.path != *pdir {
                    c.findings.push(
                        Finding::error(
                            "predecessor_path_mismatch",
                            mpath.clone(),
                            format!(
                                "{mpath}: the manifest names {} as its previous layer, but the layer before it is {pdir}",
                                p.path
                            ),
                        )
                        .expected_found(pdir.clone(), p.path.clone())
                        .in_layer(&l.dir),
                    );
                }
                if let Some(psha) = psha {
                    if p.manifest_sha256.as_slice() != psha.as_slice() {
                        c.findings.push(
                            Finding::error(
                                "predecessor_hash_mismatch",
                                mpath.clone(),
                                format!(
                                    "{mpath}: the previous layer's manifest hash it records is not the SHA-256 of {pdir}/{}",
                                    layout::MANIFEST
                                ),
                            )
                            .expected_found(hex(psha), hex(&p.manifest_sha256))
                            .in_layer(&l.dir),
                        );
                    }
                }
            }
        }
        if let (Some(m), Some(cid)) = (&l.manifest, &full_chain_id) {
            if !l.is_full && m.chain_id != *cid {
                c.findings.push(
                    Finding::error(
                        "chain_id_mismatch",
                        mpath.clone(),
                        format!("{mpath}: the layer belongs to another chain (a layer spliced in from another backup?)"),
                    )
                    .expected_found(hex(cid), hex(&m.chain_id))
                    .in_layer(&l.dir),
                );
            }
        }
        prev = Some((
            l.dir.clone(),
            l.manifest.as_ref().map(|m| Timestamp::from_pb(m.end_time)),
            l.bytes.as_deref().map(manifest::sha256),
        ));
        l.checks.push(c);
    }
}

/// A locality-aware chain's parts: for each locality of each layer, its
/// `BACKUP_PART_<n>_<locality>` in the layer's directory of its own store, else of the
/// other stores given; found → the layer's files of that locality are read there. Findings
/// (check `localities`): `locality_missing` (no store holds the part: the locality and its
/// files, not checked further), `locality_part_mismatch` (another backup's part, or one
/// naming other files than the manifest's of that locality).
pub(crate) fn find_localities(ctx: &Ctx<'_>, c: &mut ChainState) {
    let key = c.key.clone();
    for l in c.layers.iter_mut() {
        let Some(m) = l.manifest.clone() else {
            continue;
        };
        if m.localities.is_empty() {
            continue;
        }
        let layer = vouch_chain::Layer {
            dir: l.dir.clone(),
            is_full: l.is_full,
            manifest_sha256: [0; 32],
            manifest_size: 0,
            manifest: m.clone(),
        };
        let dir = l.dir.clone();
        let mut findings = Vec::new();
        let mut found = Vec::new();
        let candidates: Vec<Which> = std::iter::once(l.which)
            .chain((0..ctx.parts.len()).map(Which::Part))
            .collect();
        for locality in &m.localities {
            let files: Vec<&str> = m
                .files
                .iter()
                .filter(|f| f.locality == *locality)
                .map(|f| f.path.as_str())
                .collect();
            let mut hit = None;
            'stores: for which in &candidates {
                let store = ctx.store(*which);
                let paths = match vouch_chain::locality::part_paths(store, &layer, locality) {
                    Ok(p) => p,
                    Err(e) => {
                        findings.push(Finding::error(
                            "read_error",
                            dir.clone(),
                            format!("listing {}: {e}", vouch_chain::join(store.uri(), &dir)),
                        ));
                        continue;
                    }
                };
                for path in paths {
                    let full = format!("{}/{path}", store.uri().trim_end_matches('/'));
                    match vouch_chain::locality::read_part(
                        store,
                        &path,
                        &m.backup_id,
                        key.as_deref(),
                    ) {
                        Ok(p) if p.locality != *locality => continue,
                        Ok(p) => {
                            if p.backup_id != m.backup_id {
                                findings.push(Finding::error(
                                    "locality_part_mismatch",
                                    path.clone(),
                                    format!(
                                        "{full}: part of locality {locality} belongs to backup {}, not this layer's {}",
                                        hex::encode(&p.backup_id),
                                        hex::encode(&m.backup_id)
                                    ),
                                ));
                                continue;
                            }
                            if p.paths.iter().map(String::as_str).ne(files.iter().copied()) {
                                findings.push(Finding::error(
                                    "locality_part_mismatch",
                                    path.clone(),
                                    format!(
                                        "{full}: part of locality {locality} lists {} files ({}), the manifest {} ({})",
                                        p.paths.len(),
                                        p.paths.join(", "),
                                        files.len(),
                                        files.join(", ")
                                    ),
                                ));
                            }
                            // The layer's own store (consolidated): vouch_chain::merge::OWN_STORE.
                            hit = Some(match which {
                                Which::Part(i) => *i,
                                _ => vouch_chain::merge::OWN_STORE,
                            });
                            break 'stores;
                        }
                        Err(e) => findings.push(Finding::error(
                            "read_error",
                            path.clone(),
                            format!("{full}: {e}"),
                        )),
                    }
                }
            }
            match hit {
                Some(i) => found.push((locality.clone(), i)),
                None => findings.push(Finding::error(
                    "locality_missing",
                    dir.clone(),
                    format!(
                        "locality {locality} of layer {}: none of the URIs given holds its part (BACKUP_PART_<n>_{}); its {} files were not checked: {}",
                        vouch_chain::join(ctx.store(l.which).uri(), &dir),
                        vouch_format::locality::sanitize(locality),
                        files.len(),
                        files.join(", ")
                    ),
                )),
            }
        }
        l.localities = found;
        l.check("localities")
            .findings
            .extend(findings.into_iter().map(|f| f.in_layer(dir.clone())));
    }
}

/// Stats every file every manifest lists: its size from the listing of its store
/// (`listed`), or asked for (`jobs` at a time) when the listing did not show it:
/// `file_missing`, `size_mismatch`.
pub(crate) fn stat_files(
    ctx: &Ctx<'_>,
    chains: &mut [ChainState],
    listed: &(dyn Fn(Which, &str) -> Option<u64> + Sync),
    progress: &mut dyn FnMut(Progress),
) {
    let mut todo: Vec<(usize, usize, usize, Which, String)> = Vec::new();
    for (ci, c) in chains.iter().enumerate() {
        for (li, l) in c.layers.iter().enumerate() {
            if let Some(m) = &l.manifest {
                for (fi, f) in m.files.iter().enumerate() {
                    // A file of a locality no store was given for is not statted: its
                    // `locality_missing` finding names it.
                    if let Some(which) = l.file_which(f) {
                        todo.push((ci, li, fi, which, l.path(&f.path)));
                    }
                }
            }
        }
    }
    progress(Progress::Start {
        check: "files",
        files: todo.len() as u64,
        bytes: 0,
    });
    let done = std::sync::atomic::AtomicU64::new(0);
    let results = pool::map(&todo, ctx.opts.jobs, |(_, _, _, which, path)| {
        let r = match listed(*which, path) {
            Some(size) => Ok(Some(size)),
            None => ctx.store(*which).size(path),
        };
        done.fetch_add(1, Ordering::Relaxed);
        r
    });
    progress(Progress::Advance {
        files: done.load(Ordering::Relaxed),
        bytes: 0,
    });
    ctx.files_checked.fetch_add(todo.len(), Ordering::Relaxed);
    for c in chains.iter_mut() {
        for l in c.layers.iter_mut() {
            let n = l.manifest.as_ref().map_or(0, |m| m.files.len());
            l.sizes = vec![None; n];
            l.check("files");
        }
    }
    for ((ci, li, fi, _, path), r) in todo.iter().zip(results) {
        let Some(l) = chains.get_mut(*ci).and_then(|c| c.layers.get_mut(*li)) else {
            continue;
        };
        let expected = l
            .manifest
            .as_ref()
            .and_then(|m| m.files.get(*fi))
            .map_or(0, |f| f.size);
        let dir = l.dir.clone();
        let finding = match r {
            Ok(Some(s)) => {
                if let Some(slot) = l.sizes.get_mut(*fi) {
                    *slot = Some(s);
                }
                (s != expected).then(|| {
                    Finding::error(
                        "size_mismatch",
                        path.clone(),
                        format!("{path}: {s} bytes stored, the manifest records {expected}"),
                    )
                    .expected_found(expected.to_string(), s.to_string())
                })
            }
            Ok(None) => Some(
                Finding::error(
                    "file_missing",
                    path.clone(),
                    format!(
                        "{path}: listed in the manifest ({expected} bytes) but not in the store"
                    ),
                )
                .expected_found(format!("{expected} bytes"), "no object"),
            ),
            Err(e) => Some(Finding::error(
                "read_error",
                path.clone(),
                format!("{path}: {e}"),
            )),
        };
        if let Some(f) = finding {
            l.check("files").findings.push(f.in_layer(dir));
        }
    }
}
