//! Planning: every case a clean collection allows, with what must catch it.

use std::fs;
use std::io;
use std::path::Path;

use vouch_format::envelope::{Framing, CHUNK_SIZE};
use vouch_format::layout::{self, Listing, INCREMENTALS_DIR, LATEST, MANIFEST, MANIFEST_CHECKSUM};
use vouch_format::manifest::pb;
use vouch_format::schema::FIRST_USER_DESCRIPTOR_ID;
use vouch_format::sst::BlockHandle;
use vouch_keys::KeySource;
use vouch_verify::Level;

use super::case::{Action, Case, ManifestEdit, FLIP};
use super::err::{format_err, invalid};
use super::layers::{chains, plain_file, size_of, Key, Layer};
use super::regions::{sst_regions, with_trailer, SstRegions};
use super::rows::user_rows;
use crate::tree::list_files;

/// Plans every corruption case for the clean collection at `collection`.
///
/// What exists decides what can be made: chains with at least two incrementals give the
/// "middle incremental" cases, a second full backup the "other backup", "LATEST rolled
/// back" and (when it has an incremental) "another chain" cases. The collection is only
/// read.
pub fn cases(collection: &Path) -> io::Result<Vec<Case>> {
    cases_keyed(collection, &KeySource::default())
}

/// Cases whose mechanics need plaintext and that are left out of an encrypted collection's
/// plan, with the reason. (Empty: every case maps to an encrypted equivalent.)
pub const SKIPPED_WHEN_ENCRYPTED: &[(&str, &str)] = &[];

/// [`cases`] for a collection that may be encrypted, unlocked with `keys` (empty: not
/// encrypted). Over an encrypted collection:
///
/// - manifests are read through the envelope; consistent manifest rewrites re-seal the
///   manifest and rewrite the layer's `BACKUP-LISTING` to match (what someone holding the
///   key could do), so the same kinds and levels are expected;
/// - `rows/wrong-type` rewrites the plaintext SST and seals it again;
/// - the SST region flips (`flip/sst-*`) flip the stored byte that holds the plaintext byte
///   the plain case flips: the finding is then `envelope_auth` at that chunk (the block
///   inside it is never decrypted), `block` = `chunk#<n>`, the region the chunk's first
///   stored byte;
/// - a layer of another chain spliced in does not open under this chain's key: its
///   manifest is an `envelope_auth` finding, accepted beside `chain_id_mismatch`;
/// - the key record cases (`key-record/*`) exist only here: a chain whose full backup holds
///   `ENCRYPTION-INFO` gets the record deleted, truncated and bit-flipped, a newer record
///   damaged, forged and too costly, and a record past the count limit.
pub fn cases_keyed(collection: &Path, keys: &KeySource) -> io::Result<Vec<Case>> {
    let files = list_files(collection)?;
    let listing = Listing::new(&files);
    let chains = chains(collection, &listing, keys)?;
    let c1 = chains
        .iter()
        .max_by_key(|c| c.len())
        .ok_or_else(|| invalid("no full backup in the collection"))?;
    let full = &c1[0];
    let key = full.key.as_deref();
    let tip = &c1[c1.len() - 1];
    // The middle layer (an incremental with a later one) when there is one.
    let mid = (c1.len() >= 3).then(|| &c1[1]);
    // The layer whose manifest is edited: a middle one (so the hash chain must be
    // rewritten after it) or the tip.
    let edited = mid.unwrap_or(tip);
    let edited_idx = c1
        .iter()
        .position(|l| l.dir == edited.dir)
        .unwrap_or_default();
    let cascade_after =
        |i: usize| -> Vec<String> { c1[i + 1..].iter().map(|l| l.dir.clone()).collect() };
    let other = chains.iter().find(|c| c[0].dir != full.dir);
    let mut out = Vec::new();

    let meta = |name: &str, kinds: &'static [&'static str], file: Option<String>, action| Case {
        name: name.to_string(),
        level: Level::Metadata,
        kinds,
        file,
        block: None,
        region: None,
        action,
    };

    // ---- manifests and checksum files ----
    for (label, l) in [("full", full), ("incremental", edited)] {
        if label == "incremental" && l.dir == full.dir {
            continue;
        }
        let m = l.path(MANIFEST);
        let len = size_of(collection, &m)?;
        // A checksum mismatch is reported on the checksum file (its message names the
        // manifest): which of the two is damaged cannot be told from the bytes.
        out.push(meta(
            &format!("flip/manifest-{label}"),
            &["checksum_mismatch"],
            Some(l.path(MANIFEST_CHECKSUM)),
            Action::Flip {
                file: m.clone(),
                offset: len / 2,
                xor: FLIP,
            },
        ));
    }
    let em = edited.path(MANIFEST);
    let ec = edited.path(MANIFEST_CHECKSUM);
    out.push(meta(
        "truncate/manifest",
        &["checksum_mismatch"],
        Some(ec.clone()),
        Action::Truncate {
            file: em.clone(),
            len: size_of(collection, &em)? / 2,
        },
    ));
    out.push(meta(
        "flip/checksum",
        &["checksum_mismatch"],
        Some(ec.clone()),
        Action::Flip {
            file: ec.clone(),
            offset: 0,
            xor: FLIP,
        },
    ));
    out.push(meta(
        "truncate/checksum",
        &["checksum_mismatch"],
        Some(ec.clone()),
        Action::Truncate {
            file: ec.clone(),
            len: 16,
        },
    ));
    out.push(meta(
        "missing/checksum",
        &["checksum_missing"],
        Some(ec.clone()),
        Action::Remove { path: ec.clone() },
    ));
    if let Some(mid) = mid {
        out.push(meta(
            "missing/manifest-middle",
            &["manifest_missing", "chain_gap"],
            None,
            Action::Remove {
                path: mid.path(MANIFEST),
            },
        ));
        out.push(meta(
            "missing/middle-incremental",
            &["chain_gap", "predecessor_path_mismatch"],
            None,
            Action::Remove {
                path: mid.dir.clone(),
            },
        ));
        out.push(meta(
            "replay/older-layer",
            &[
                "layer_dir_mismatch",
                "chain_gap",
                "predecessor_path_mismatch",
                "predecessor_hash_mismatch",
            ],
            None,
            Action::ReplaceDir {
                from: mid.dir.clone(),
                to: tip.dir.clone(),
            },
        ));
    }

    // ---- LATEST ----
    let newest_full = chains.last().map(|c| &c[0]).unwrap_or(full);
    if let Some(marker) = listing.latest_marker_to_read() {
        let len = size_of(collection, &marker)?;
        out.push(meta(
            "flip/latest-marker",
            &["latest_invalid", "latest_missing"],
            Some(marker.clone()),
            Action::Flip {
                file: marker.clone(),
                offset: 1,
                xor: 0x40,
            },
        ));
        out.push(meta(
            "truncate/latest-marker",
            &["latest_invalid", "latest_missing"],
            Some(marker.clone()),
            Action::Truncate {
                file: marker.clone(),
                len: len / 2,
            },
        ));
        if let Some(older) = chains
            .iter()
            .map(|c| &c[0])
            .find(|l| l.dir != newest_full.dir)
        {
            let content = layout::latest_content(&older.dir).map_err(|e| format_err(&marker, e))?;
            out.push(meta(
                "latest/rolled-back",
                &["latest_not_newest"],
                Some(marker.clone()),
                Action::Write {
                    file: marker.clone(),
                    bytes: content.into_bytes(),
                },
            ));
            out.push(meta(
                "latest/newest-marker-removed",
                &["latest_not_newest"],
                None,
                Action::Remove {
                    path: marker.clone(),
                },
            ));
        }
    }
    if files.iter().any(|f| f == LATEST) {
        out.push(meta(
            "flip/latest-plain",
            &["latest_invalid", "latest_missing"],
            Some(LATEST.into()),
            Action::Flip {
                file: LATEST.into(),
                offset: 1,
                xor: 0x40,
            },
        ));
        out.push(meta(
            "truncate/latest-plain",
            &["latest_invalid", "latest_missing"],
            Some(LATEST.into()),
            Action::Truncate {
                file: LATEST.into(),
                len: 0,
            },
        ));
    }
    // LATEST then names a directory that is not a complete backup.
    if let Some(marker) = listing.latest_marker_to_read() {
        out.push(meta(
            "missing/manifest-newest-full",
            &["latest_invalid", "latest_missing"],
            Some(marker),
            Action::Remove {
                path: newest_full.path(MANIFEST),
            },
        ));
    }

    // ---- data files: missing, truncated, swapped, copied ----
    let full_files = full.data_paths();
    if let Some(f) = full_files.first() {
        out.push(meta(
            "truncate/sst",
            &["size_mismatch"],
            Some(f.clone()),
            Action::Truncate {
                file: f.clone(),
                len: size_of(collection, f)? / 2,
            },
        ));
    }
    if let Some(f) = tip.data_paths().last() {
        out.push(meta(
            "missing/sst",
            &["file_missing"],
            Some(f.clone()),
            Action::Remove { path: f.clone() },
        ));
    }
    // Swaps within a layer: one pair of different sizes (caught by stat), one of equal
    // sizes if any layer has one (caught by hashing).
    let mut diff_swap = None;
    let mut same_swap = None;
    for l in c1.iter().chain(other.into_iter().flatten()) {
        let paths = l.data_paths();
        for (i, a) in paths.iter().enumerate() {
            for b in &paths[i + 1..] {
                let (sa, sb) = (size_of(collection, a)?, size_of(collection, b)?);
                if sa != sb && diff_swap.is_none() {
                    diff_swap = Some((a.clone(), b.clone()));
                }
                if sa == sb
                    && same_swap.is_none()
                    && fs::read(collection.join(a))? != fs::read(collection.join(b))?
                {
                    same_swap = Some((a.clone(), b.clone()));
                }
            }
        }
    }
    if let Some((a, b)) = diff_swap {
        out.push(meta(
            "swap/sst",
            &["size_mismatch"],
            Some(a.clone()),
            Action::Swap { a, b },
        ));
    }
    if let Some((a, b)) = same_swap {
        out.push(Case {
            name: "swap/sst-same-size".into(),
            level: Level::Full,
            kinds: &["sha256_mismatch"],
            file: Some(a.clone()),
            block: None,
            region: None,
            action: Action::Swap { a, b },
        });
    }
    // An SST copied over another from another layer of the chain, and from another backup.
    let mut sources: Vec<(&str, Vec<String>)> = Vec::new();
    if c1.len() >= 2 {
        sources.push((
            "other-layer",
            c1[1..].iter().flat_map(Layer::data_paths).collect(),
        ));
    }
    if let Some(o) = other {
        sources.push((
            "other-backup",
            o.iter().flat_map(Layer::data_paths).collect(),
        ));
    }
    for (label, from_files) in sources {
        let Some(to) = full_files.first() else { break };
        let to_bytes = fs::read(collection.join(to))?;
        let mut resized = None;
        let mut same = None;
        for from in &from_files {
            let b = fs::read(collection.join(from))?;
            if b.len() != to_bytes.len() && resized.is_none() {
                resized = Some(from.clone());
            }
            if b.len() == to_bytes.len() && b != to_bytes && same.is_none() {
                same = Some(from.clone());
            }
        }
        if let Some(from) = resized {
            out.push(meta(
                &format!("copy/sst-{label}"),
                &["size_mismatch"],
                Some(to.clone()),
                Action::CopyFile {
                    from,
                    to: to.clone(),
                },
            ));
        }
        if let Some(from) = same {
            out.push(Case {
                name: format!("copy/sst-{label}-same-size"),
                level: Level::Full,
                kinds: &["sha256_mismatch"],
                file: Some(to.clone()),
                block: None,
                region: None,
                action: Action::CopyFile {
                    from,
                    to: to.clone(),
                },
            });
        }
    }

    // ---- another chain spliced in ----
    if let Some(o) = other {
        if let Some(foreign) = o.iter().skip(1).find(|l| l.end() >= tip.end()) {
            let to =
                layout::incremental_path(INCREMENTALS_DIR, &full.dir, tip.end(), foreign.end())
                    .map_err(|e| format_err(&full.dir, e))?;
            let splice_kinds: &'static [&'static str] = if key.is_some() {
                &["chain_id_mismatch", "envelope_auth"]
            } else {
                &["chain_id_mismatch"]
            };
            out.push(meta(
                "splice/other-chain-appended",
                splice_kinds,
                Some(format!("{to}/{MANIFEST}")),
                Action::CopyDir {
                    from: foreign.dir.clone(),
                    to,
                },
            ));
            if tip.dir != full.dir {
                out.push(meta(
                    "splice/other-chain-replacing",
                    splice_kinds,
                    Some(tip.path(MANIFEST)),
                    Action::ReplaceDir {
                        from: foreign.dir.clone(),
                        to: tip.dir.clone(),
                    },
                ));
            }
        }
    }

    // ---- SST regions: a byte flipped in each kind of block and in the footer ----
    if let Some((path, regions)) = pick_sst(collection, full, &full_files, key)? {
        // How the stored file frames its plaintext, when it is sealed.
        let framing = match key {
            None => None,
            Some(_) => Some(
                Framing::new(CHUNK_SIZE, size_of(collection, &path)?)
                    .map_err(|e| format_err(&path, e))?,
            ),
        };
        // A case flipping plaintext byte `at`, expected in `block` / `region`; over an
        // encrypted file, the stored byte holding it, expected at its chunk.
        let located = |name: &str,
                       kinds: &'static [&'static str],
                       block: Option<String>,
                       region: (u64, u64),
                       at: u64| {
            let (kinds, block, region, offset) = match framing {
                None => (kinds, block, region, at),
                Some(f) => {
                    let i = at / f.chunk_size();
                    let chunk_at = f.stored_offset(i);
                    (
                        &["envelope_auth"][..],
                        Some(format!("chunk#{i}")),
                        (chunk_at, chunk_at + 1),
                        chunk_at + at % f.chunk_size(),
                    )
                }
            };
            Case {
                name: name.to_string(),
                level: Level::Full,
                kinds,
                file: Some(path.clone()),
                block,
                region: Some(region),
                action: Action::Flip {
                    file: path.clone(),
                    offset,
                    xor: FLIP,
                },
            }
        };
        let block_case = |name: &str, block: String, h: BlockHandle| {
            located(
                name,
                &["block_checksum"],
                Some(block),
                with_trailer(h),
                h.offset + h.size / 2,
            )
        };
        let di = regions.data.len() / 2;
        if let Some(&h) = regions.data.get(di) {
            out.push(block_case("flip/sst-data-block", format!("data#{di}"), h));
        }
        out.push(block_case("flip/sst-index", "index".into(), regions.index));
        out.push(block_case(
            "flip/sst-properties",
            "properties".into(),
            regions.properties,
        ));
        out.push(block_case(
            "flip/sst-metaindex",
            "metaindex".into(),
            regions.metaindex,
        ));
        // Block trailer: the stored CRC of the first data block.
        if let Some(&h) = regions.data.first() {
            out.push(located(
                "flip/sst-block-trailer",
                &["block_checksum"],
                Some("data#0".into()),
                with_trailer(h),
                h.offset + h.size + 2,
            ));
        }
        // Footer magic (last 8 bytes).
        out.push(located(
            "flip/sst-footer",
            &["sst_bad_footer"],
            None,
            (regions.footer_at(), regions.size),
            regions.size - 3,
        ));
    }

    // ---- consistent manifest rewrites (#101963): only `full` can tell ----
    let cascade = cascade_after(edited_idx);
    let em_files = &edited.manifest.files;
    let edit_case = |name: &str, kinds: &'static [&'static str], level, file, edit| Case {
        name: name.to_string(),
        level,
        kinds,
        file,
        block: None,
        region: None,
        action: Action::EditManifest {
            layer: edited.dir.clone(),
            edit,
            cascade: cascade.clone(),
        },
    };
    if let Some((i, f)) = em_files.iter().enumerate().max_by_key(|(_, f)| f.rows) {
        out.push(edit_case(
            "manifest-consistent/row-count",
            &["count_mismatch"],
            Level::Full,
            Some(edited.path(&f.path)),
            ManifestEdit::FileRows(i),
        ));
    }
    if let Some((i, f)) = em_files
        .iter()
        .enumerate()
        .find(|(_, f)| f.entries >= 2 && f.first_key != f.last_key)
    {
        out.push(edit_case(
            "manifest-consistent/key-bounds",
            &["key_out_of_bounds"],
            Level::Full,
            Some(edited.path(&f.path)),
            ManifestEdit::FileBounds(i),
        ));
    }
    // The fingerprint of the edited layer, else of the first layer that records one.
    let fp_layer = std::iter::once(edited)
        .chain(c1.iter())
        .find(|l| !l.manifest.fingerprints.is_empty());
    if let Some(l) = fp_layer {
        let i = c1.iter().position(|x| x.dir == l.dir).unwrap_or_default();
        out.push(Case {
            name: "manifest-consistent/fingerprint".into(),
            level: Level::Full,
            kinds: &["fingerprint_mismatch"],
            file: None,
            block: None,
            region: None,
            action: Action::EditManifest {
                layer: l.dir.clone(),
                edit: ManifestEdit::Fingerprint(0),
                cascade: cascade_after(i),
            },
        });
    }
    if let Some(i) = edited.manifest.descriptors.iter().position(|d| {
        d.id >= FIRST_USER_DESCRIPTOR_ID && matches!(d.kind, Some(pb::descriptor::Kind::Table(_)))
    }) {
        out.push(edit_case(
            "manifest-consistent/dangling-parent",
            &["dangling_reference"],
            Level::Schema,
            None,
            ManifestEdit::DanglingParent(i),
        ));
    }

    // ---- intact bytes, rows that do not fit the schema ----
    for (li, l) in c1.iter().enumerate() {
        let mut found = None;
        for f in &l.manifest.files {
            let bytes = plain_file(collection, l, &l.path(&f.path), l.key.as_deref())?;
            if user_rows(&bytes)? > 0 {
                found = Some(f.path.clone());
                break;
            }
        }
        if let Some(file) = found {
            out.push(Case {
                name: "rows/wrong-type".into(),
                level: Level::Full,
                kinds: &["row_decode"],
                file: Some(l.path(&file)),
                block: None,
                region: None,
                action: Action::BadRows {
                    layer: l.dir.clone(),
                    file,
                    cascade: cascade_after(li),
                },
            });
            break;
        }
    }

    // ---- the newest manifest rewritten consistently: what restore would accept ----
    let tip_cascade: Vec<String> = Vec::new();
    let tip_edit = |name: &str, kinds: &'static [&'static str], level, edit| Case {
        name: name.to_string(),
        level,
        kinds,
        file: Some(tip.path(MANIFEST)),
        block: None,
        region: None,
        action: Action::EditManifest {
            layer: tip.dir.clone(),
            edit,
            cascade: tip_cascade.clone(),
        },
    };
    if let Some((descriptor, column, to)) = retyped_column(&tip.manifest) {
        out.push(tip_edit(
            "manifest-consistent/column-type",
            &["row_schema_mismatch"],
            Level::Full,
            ManifestEdit::ColumnType {
                descriptor,
                column,
                to,
            },
        ));
    }
    if let Some((descriptor, index)) = index_with_duplicates(collection, c1, keys)? {
        out.push(tip_edit(
            "manifest-consistent/unique-duplicates",
            &["unique_violation"],
            Level::Full,
            ManifestEdit::MakeUnique { descriptor, index },
        ));
    }
    if let Some(i) = tip.manifest.files.iter().position(|f| f.entries > 0) {
        out.push(tip_edit(
            "manifest-consistent/file-listed-twice",
            &["file_listed_twice"],
            Level::Metadata,
            ManifestEdit::ListFileTwice(i),
        ));
    }

    // ---- each manifest field that changes what restore does or accepts ----
    let mut with_keys: Vec<(usize, &pb::File)> = tip
        .manifest
        .files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.entries > 0)
        .collect();
    with_keys.sort_by(|x, y| x.1.first_key.cmp(&y.1.first_key));
    if let [(a, _), (b, _), ..] = with_keys.as_slice() {
        out.push(tip_edit(
            "manifest-consistent/file-bounds-overlap",
            &["file_bounds_overlap"],
            Level::Metadata,
            ManifestEdit::OverlapFiles { a: *a, b: *b },
        ));
    }
    out.push(Case {
        name: "manifest-consistent/full-start-time".into(),
        level: Level::Metadata,
        kinds: &["start_time_invalid"],
        file: Some(full.path(MANIFEST)),
        block: None,
        region: None,
        action: Action::EditManifest {
            layer: full.dir.clone(),
            edit: ManifestEdit::StartTime(1),
            cascade: cascade_after(0),
        },
    });
    out.push(tip_edit(
        "manifest-consistent/mvcc-filter",
        &["mvcc_filter_invalid"],
        Level::Metadata,
        ManifestEdit::MvccFilter(7),
    ));
    if tip.manifest.revision_start_time.is_some() {
        out.push(tip_edit(
            "manifest-consistent/revision-start",
            &["revision_start_invalid"],
            Level::Metadata,
            ManifestEdit::NoRevisionStart,
        ));
    }
    if tip.manifest.spans.len() >= 2 {
        out.push(tip_edit(
            "manifest-consistent/spans",
            &["spans_invalid"],
            Level::Metadata,
            ManifestEdit::ReverseSpans,
        ));
    }
    if tip.dir != full.dir {
        out.push(tip_edit(
            "manifest-consistent/introduced-spans",
            &["introduced_spans_invalid"],
            Level::Metadata,
            ManifestEdit::IntroduceForeignSpan,
        ));
    }
    // ---- key records of an encrypted chain (spec/keys.md §2) ----
    let info_path = full.path(layout::ENCRYPTION_INFO);
    if collection.join(&info_path).is_file() {
        out.extend(key_record_cases(collection, full, &info_path)?);
    }
    Ok(out)
}
/// The key record cases of the encrypted chain whose full backup is `full` (its
/// `ENCRYPTION-INFO` at `info_path`): the record deleted, truncated, bit-flipped (its first
/// byte, so that it no longer decodes); a newer record damaged, forged (not what a rotation
/// makes of the record before it) or asking for 10,000,000 PBKDF2 iterations; and a record
/// past the count limit. Every level reports each, with the key or without it.
fn key_record_cases(collection: &Path, full: &Layer, info_path: &str) -> io::Result<Vec<Case>> {
    use vouch_format::encryption_info::{
        self as info_fmt, KmsWrappedKey, PassphraseWrappedKey, MAX_KEY_RECORDS,
        PASSPHRASE_WRAP_LEN, SALT_LEN,
    };
    let info = fs::read(collection.join(info_path))?;
    let decoded = info_fmt::decode(&info).map_err(|e| format_err(info_path, e))?;
    let rotation = |n: u64| full.path(&layout::encryption_info_name(n));
    let case = |name: &str, kinds: &'static [&'static str], file: String, action| Case {
        name: format!("key-record/{name}"),
        level: Level::Metadata,
        kinds,
        file: Some(file),
        block: None,
        region: None,
        action,
    };
    let mut costly = decoded.clone();
    costly.passphrase = Some(PassphraseWrappedKey {
        salt: vec![7; SALT_LEN],
        iterations: 10_000_000,
        wrapped_key: vec![0; PASSPHRASE_WRAP_LEN],
    });
    let mut forged = decoded.clone();
    forged.key_check[0] ^= FLIP;
    forged.kms.push(KmsWrappedKey {
        uri_id: "file:///forged/key".into(),
        wrapped_key: vec![1; 60],
    });
    let newer_cut = info.get(..info.len() - 1).unwrap_or_default().to_vec();
    Ok(vec![
        case(
            "deleted",
            &["key_record_missing"],
            info_path.to_string(),
            Action::Remove {
                path: info_path.to_string(),
            },
        ),
        case(
            "truncated",
            &["key_record_damaged"],
            info_path.to_string(),
            Action::Truncate {
                file: info_path.to_string(),
                len: info.len() as u64 / 2,
            },
        ),
        case(
            "bit-flipped",
            &["key_record_damaged"],
            info_path.to_string(),
            Action::Flip {
                file: info_path.to_string(),
                offset: 0,
                xor: FLIP,
            },
        ),
        case(
            "newer-damaged",
            &["key_record_damaged"],
            rotation(1),
            Action::Write {
                file: rotation(1),
                bytes: newer_cut,
            },
        ),
        case(
            "newer-forged",
            &["key_record_mismatch"],
            rotation(1),
            Action::Write {
                file: rotation(1),
                bytes: info_fmt::encode(&forged),
            },
        ),
        case(
            "kdf-cost",
            &["key_record_kdf_cost"],
            rotation(1),
            Action::Write {
                file: rotation(1),
                bytes: info_fmt::encode(&costly),
            },
        ),
        case(
            "too-many",
            &["key_records_too_many"],
            rotation(MAX_KEY_RECORDS as u64),
            Action::Write {
                file: rotation(MAX_KEY_RECORDS as u64),
                bytes: info,
            },
        ),
    ])
}

/// A column of a user table with rows whose values would no longer fit if it changed
/// type: a DECIMAL one (→ FLOAT) when there is one, else a NOT NULL non-key one (→ FLOAT,
/// or DECIMAL when it is FLOAT). Gives (descriptor position, column id, new type code).
fn retyped_column(m: &pb::BackupManifest) -> Option<(usize, u32, i32)> {
    let tables = || {
        m.descriptors.iter().enumerate().filter_map(|(i, d)| {
            let t = vouch_format::schema::table(d)?;
            let has_rows = m
                .fingerprints
                .iter()
                .any(|f| f.table_id == d.id && f.rows > 0);
            (d.id >= FIRST_USER_DESCRIPTOR_ID && has_rows).then_some((i, t))
        })
    };
    let non_key = |t: &pb::Table, c: &pb::Column| {
        !t.primary_index
            .as_ref()
            .is_some_and(|p| p.column_ids.contains(&c.id))
    };
    let float = pb::ColumnType::Float as i32;
    let decimal = pb::ColumnType::Decimal as i32;
    let found = tables().find_map(|(i, t)| {
        t.columns
            .iter()
            .find(|c| c.r#type == decimal && non_key(t, c))
            .map(|c| (i, c.id, float))
    });
    found.or_else(|| {
        tables().find_map(|(i, t)| {
            t.columns
                .iter()
                .find(|c| !c.nullable && non_key(t, c))
                .map(|c| (i, c.id, if c.r#type == float { decimal } else { float }))
        })
    })
}

/// A non-unique secondary index of a user table of the chain's newest layer whose entries
/// live at its end hold two with equal index columns (no NULL): (descriptor position in
/// the newest manifest, index id).
fn index_with_duplicates(
    root: &Path,
    chain: &[Layer],
    keys: &KeySource,
) -> io::Result<Option<(usize, u32)>> {
    use vouch_format::keys::{decode_index_key, decode_table_prefix, Datum};
    let Some(tip) = chain.last() else {
        return Ok(None);
    };
    let uris = chain
        .iter()
        .map(|l| {
            root.join(&l.dir)
                .to_str()
                .map(str::to_string)
                .ok_or_else(|| invalid(format!("{}: not UTF-8", l.dir)))
        })
        .collect::<io::Result<Vec<String>>>()?;
    let open =
        vouch_chain::OpenChain::from_uris_keyed(&uris, &vouch_store::OpenOptions::default(), keys)
            .map_err(invalid)?;
    let plan = vouch_chain::plan(open, None).map_err(invalid)?;
    for (di, d) in tip.manifest.descriptors.iter().enumerate() {
        let Some(t) = vouch_format::schema::table(d) else {
            continue;
        };
        if d.id < FIRST_USER_DESCRIPTOR_ID {
            continue;
        }
        let layouts = vouch_format::schema::index_layouts(d).map_err(invalid)?;
        for ix in t.secondary_indexes.iter().filter(|ix| !ix.unique) {
            let Some(l) = layouts.iter().find(|l| l.id == ix.id) else {
                continue;
            };
            let n = ix.column_ids.len();
            let types = l.key_types();
            let mut prev: Option<Vec<Datum>> = None;
            let mut dup = false;
            plan.scan_table(d.id, &mut |_| {}, |user, _| -> vouch_chain::Result<()> {
                let is_ix = decode_table_prefix(user).is_ok_and(|(_, i, _)| i == u64::from(ix.id));
                if !is_ix || dup {
                    return Ok(());
                }
                if let Ok((_, _, datums)) = decode_index_key(user, &types) {
                    let cols: Vec<Datum> = datums.into_iter().take(n).collect();
                    if !cols.iter().any(|x| matches!(x, Datum::Null)) {
                        dup = prev.as_ref() == Some(&cols);
                        prev = Some(cols);
                    }
                }
                Ok(())
            })
            .map_err(invalid)?;
            if dup {
                return Ok(Some((di, ix.id)));
            }
        }
    }
    Ok(None)
}

/// The first SST with at least three data blocks (else the one with the most).
fn pick_sst(
    root: &Path,
    layer: &Layer,
    paths: &[String],
    key: Key<'_>,
) -> io::Result<Option<(String, SstRegions)>> {
    let mut best: Option<(String, SstRegions)> = None;
    for p in paths {
        let r = sst_regions(&plain_file(root, layer, p, key)?)
            .map_err(|e| invalid(format!("{p}: {e}")))?;
        if r.data.len() >= 3 {
            return Ok(Some((p.clone(), r)));
        }
        if best
            .as_ref()
            .is_none_or(|(_, b)| b.data.len() < r.data.len())
        {
            best = Some((p.clone(), r));
        }
    }
    Ok(best)
}
