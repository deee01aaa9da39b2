//! Performing a case: on a copy ([`apply`]) or in place ([`perform`]); consistent manifest
//! rewrites keep checksum files, listings and the hash chain whole.

use std::fs;
use std::io;
use std::path::Path;

use vouch_engine::crypto;
use vouch_format::envelope::{self, FileId};
use vouch_format::layout::{self, MANIFEST, MANIFEST_CHECKSUM};
use vouch_format::manifest::{self, pb};
use vouch_keys::KeySource;

use super::case::{Action, Case, ManifestEdit, DANGLING_DATABASE_ID};
use super::err::{format_err, invalid};
use super::layers::{chain_key, plain_file, read_manifest, Key, Layer};
use super::rows::bad_rows;
use crate::tree::{copy_tree, list_files};

/// Copies the collection `src` to `dst` (a new or empty directory) and corrupts the copy
/// as `case` says. `src` is only read.
pub fn apply(case: &Case, src: &Path, dst: &Path) -> io::Result<()> {
    apply_keyed(case, src, dst, &KeySource::default())
}

/// [`apply`] over a collection that may be encrypted, unlocked with `keys` (see
/// [`cases_keyed`]).
pub fn apply_keyed(case: &Case, src: &Path, dst: &Path, keys: &KeySource) -> io::Result<()> {
    copy_tree(src, dst)?;
    perform_keyed(&case.action, dst, keys)
}

/// Performs an action on the collection at `root` in place.
pub fn perform(action: &Action, root: &Path) -> io::Result<()> {
    perform_keyed(action, root, &KeySource::default())
}

/// [`perform`] over a collection that may be encrypted, unlocked with `keys`: manifests and
/// data files rewritten by an action are sealed again, and listings rewritten to match.
pub fn perform_keyed(action: &Action, root: &Path, keys: &KeySource) -> io::Result<()> {
    let key = match action {
        Action::EditManifest { layer, .. } | Action::BadRows { layer, .. } => {
            chain_key(root, layer, keys)?
        }
        _ => None,
    };
    let key = key.as_deref();
    match action {
        Action::Flip { file, offset, xor } => {
            let p = root.join(file);
            let mut b = fs::read(&p)?;
            let i = usize::try_from(*offset).map_err(invalid)?;
            let byte = b
                .get_mut(i)
                .ok_or_else(|| invalid(format!("{file}: offset {offset} is past the end")))?;
            *byte ^= *xor;
            fs::write(p, b)
        }
        Action::Truncate { file, len } => {
            let f = fs::OpenOptions::new().write(true).open(root.join(file))?;
            f.set_len(*len)
        }
        Action::Remove { path } => {
            let p = root.join(path);
            if p.is_dir() {
                fs::remove_dir_all(p)
            } else {
                fs::remove_file(p)
            }
        }
        Action::Swap { a, b } => {
            let (pa, pb) = (root.join(a), root.join(b));
            let (ba, bb) = (fs::read(&pa)?, fs::read(&pb)?);
            fs::write(pa, bb)?;
            fs::write(pb, ba)
        }
        Action::CopyFile { from, to } => fs::copy(root.join(from), root.join(to)).map(|_| ()),
        Action::ReplaceDir { from, to } => {
            let staged = fs::read_dir(root.join(from))?.count();
            if staged == 0 {
                return Err(invalid(format!("{from} is empty")));
            }
            // Read first: `from` may not survive removing `to` if nested.
            let files: Vec<(String, Vec<u8>)> = list_files(&root.join(from))?
                .into_iter()
                .map(|rel| {
                    let b = fs::read(root.join(from).join(&rel));
                    b.map(|b| (rel, b))
                })
                .collect::<io::Result<_>>()?;
            fs::remove_dir_all(root.join(to))?;
            for (rel, b) in files {
                let p = root.join(to).join(rel);
                if let Some(d) = p.parent() {
                    fs::create_dir_all(d)?;
                }
                fs::write(p, b)?;
            }
            Ok(())
        }
        Action::CopyDir { from, to } => copy_tree(&root.join(from), &root.join(to)),
        Action::Write { file, bytes } => fs::write(root.join(file), bytes),
        Action::EditManifest {
            layer,
            edit,
            cascade,
        } => {
            let mut m = read_manifest(root, layer, key)?;
            edit_manifest(&mut m, *edit, layer)?;
            let bytes = write_manifest(root, layer, &m, key)?;
            rehash_chain(root, &bytes, cascade, key)
        }
        Action::BadRows {
            layer,
            file,
            cascade,
        } => {
            let rel = format!("{layer}/{file}");
            let mut m = read_manifest(root, layer, key)?;
            let here = Layer {
                dir: layer.clone(),
                manifest: m.clone(),
                key: None,
            };
            let old = plain_file(root, &here, &rel, key)?;
            let (new, logical) = bad_rows(&old).map_err(|e| invalid(format!("{rel}: {e}")))?;
            let new = match key {
                None => new,
                Some(k) => {
                    let id = FileId {
                        backup_id: &m.backup_id,
                        path: file,
                    };
                    envelope::seal(k, id, &new, crypto::random_file_nonce())
                        .map_err(|e| format_err(&rel, e))?
                }
            };
            fs::write(root.join(&rel), &new)?;
            let f = m
                .files
                .iter_mut()
                .find(|f| f.path == *file)
                .ok_or_else(|| invalid(format!("{layer}: no file {file} in the manifest")))?;
            f.size = new.len() as u64;
            f.sha256 = manifest::sha256(&new).to_vec();
            f.logical_bytes = logical;
            let bytes = write_manifest(root, layer, &m, key)?;
            rehash_chain(root, &bytes, cascade, key)
        }
    }
}

fn edit_manifest(m: &mut pb::BackupManifest, edit: ManifestEdit, layer: &str) -> io::Result<()> {
    let missing = |what: &str| invalid(format!("{layer}: manifest has no {what}"));
    match edit {
        ManifestEdit::FileRows(i) => {
            let f = m.files.get_mut(i).ok_or_else(|| missing("such file"))?;
            f.rows += 1;
        }
        ManifestEdit::FileBounds(i) => {
            let f = m.files.get_mut(i).ok_or_else(|| missing("such file"))?;
            f.last_key = f.first_key.clone();
        }
        ManifestEdit::Fingerprint(i) => {
            let f = m
                .fingerprints
                .get_mut(i)
                .ok_or_else(|| missing("such fingerprint"))?;
            f.fingerprint ^= 1;
        }
        ManifestEdit::DanglingParent(i) => {
            let d = m
                .descriptors
                .get_mut(i)
                .ok_or_else(|| missing("such descriptor"))?;
            match d.kind.as_mut() {
                Some(pb::descriptor::Kind::Table(t)) => t.parent_database_id = DANGLING_DATABASE_ID,
                _ => return Err(missing("table at that index")),
            }
        }
        ManifestEdit::ColumnType {
            descriptor,
            column,
            to,
        } => {
            let c = m
                .descriptors
                .get_mut(descriptor)
                .and_then(|d| match d.kind.as_mut() {
                    Some(pb::descriptor::Kind::Table(t)) => {
                        t.columns.iter_mut().find(|c| c.id == column)
                    }
                    _ => None,
                })
                .ok_or_else(|| missing("such column"))?;
            c.r#type = to;
        }
        ManifestEdit::MakeUnique { descriptor, index } => {
            let ix = m
                .descriptors
                .get_mut(descriptor)
                .and_then(|d| match d.kind.as_mut() {
                    Some(pb::descriptor::Kind::Table(t)) => {
                        t.secondary_indexes.iter_mut().find(|ix| ix.id == index)
                    }
                    _ => None,
                })
                .ok_or_else(|| missing("such index"))?;
            ix.unique = true;
        }
        ManifestEdit::ListFileTwice(i) => {
            let f = m
                .files
                .get(i)
                .cloned()
                .ok_or_else(|| missing("such file"))?;
            m.files.push(f);
        }
        ManifestEdit::StartTime(wall) => {
            m.start_time = Some(pb::Timestamp { wall, logical: 0 });
        }
        ManifestEdit::MvccFilter(v) => m.mvcc_filter = v,
        ManifestEdit::NoRevisionStart => m.revision_start_time = None,
        ManifestEdit::ReverseSpans => m.spans.reverse(),
        ManifestEdit::IntroduceForeignSpan => {
            let (start, end) = vouch_format::keys::table_span(DANGLING_DATABASE_ID);
            m.introduced_spans.push(pb::Span { start, end });
        }
        ManifestEdit::OverlapFiles { a, b } => {
            let last = m
                .files
                .get(a)
                .map(|f| f.last_key.clone())
                .ok_or_else(|| missing("such file"))?;
            let f = m.files.get_mut(b).ok_or_else(|| missing("such file"))?;
            f.first_key = last;
        }
    }
    Ok(())
}

/// Writes a manifest and its checksum file (sealed, and the layer's listing rewritten to
/// match, when `key` is given); returns the stored manifest bytes.
fn write_manifest(
    root: &Path,
    layer: &str,
    m: &pb::BackupManifest,
    key: Key<'_>,
) -> io::Result<Vec<u8>> {
    let bytes = manifest::encode(m);
    let bytes = match key {
        None => bytes,
        Some(k) => {
            fs::write(
                root.join(format!("{layer}/{}", layout::LISTING)),
                crypto::encode_listing(&manifest::listing_of(m)),
            )?;
            crypto::seal_small_file(k, &m.backup_id, MANIFEST, &bytes).map_err(invalid)?
        }
    };
    fs::write(root.join(format!("{layer}/{MANIFEST}")), &bytes)?;
    fs::write(
        root.join(format!("{layer}/{MANIFEST_CHECKSUM}")),
        manifest::checksum_file(&bytes),
    )?;
    Ok(bytes)
}

/// Points each later layer at the rewritten one before it, keeping the hash chain whole.
fn rehash_chain(root: &Path, first: &[u8], cascade: &[String], key: Key<'_>) -> io::Result<()> {
    let mut prev = first.to_vec();
    for layer in cascade {
        let mut m = read_manifest(root, layer, key)?;
        let p = m
            .previous
            .as_mut()
            .ok_or_else(|| invalid(format!("{layer}: an incremental without `previous`")))?;
        p.manifest_sha256 = manifest::sha256(&prev).to_vec();
        prev = write_manifest(root, layer, &m, key)?;
    }
    Ok(())
}
