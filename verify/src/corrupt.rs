//! Corruption generator: turns a clean collection into damaged copies, one per corruption
//! kind, each with the lowest verification level that must catch it and the finding kinds
//! (and file, block, byte range) that level must report.
//!
//! Used by the corruption suite (`verify/tests/corruption.rs`, described in
//! `testdata/corruption/README.md`) and the `verify_full` fuzz target. Collections are
//! write-once in normal use: this module edits *copies* on the local filesystem directly
//! (`std::fs`), never through `vouch_store`, and never touches the source tree.
//!
//! [`cases`] reads a clean collection (manifests, the SSTs' block layout, LATEST) and
//! plans the cases; [`apply`] copies the tree and performs one. SST regions are located
//! through the SST reader's footer and by decoding the index and metaindex blocks, so "a
//! byte flipped in the SST index" lands in the index block (and the case records the
//! block's byte range so a test can check where the finding points).

use std::fs;
use std::io;
use std::path::Path;

use vouch_format::cursor::Cursor;
use vouch_format::keys::{self, Datum};
use vouch_format::layout::{self, Listing};
use vouch_format::manifest::{self, pb};
use vouch_format::mvcc::{self, Timestamp};
use vouch_format::row;
use vouch_format::schema::FIRST_USER_DESCRIPTOR_ID;
use vouch_format::sst::{
    BlockHandle, Compression, SstReader, SstWriter, WriterOptions, FOOTER_LEN, PROPERTIES_BLOCK,
};

use vouch_chain::sealed::{self as crypto, ChainKey};
use vouch_engine::crypto::{encode_listing, seal_small_file};
use vouch_format::envelope::DataKey;
use vouch_format::envelope::{self, FileId};
use vouch_keys::KeySource;

use crate::Level;

const MANIFEST: &str = "BACKUP_MANIFEST";
const CHECKSUM: &str = "BACKUP_MANIFEST-CHECKSUM";
const INCREMENTALS: &str = "incrementals";
const PLAIN_LATEST: &str = "LATEST";

/// One corruption of a collection and what must catch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// Stable name, `<what>/<where>` (`flip/sst-index`, `missing/middle-incremental`).
    pub name: String,
    /// The lowest level that must report it (every level above must too).
    pub level: Level,
    /// Acceptable finding kinds: at that level at least one error finding has one of them.
    pub kinds: &'static [&'static str],
    /// The file (relative to the collection root) such a finding must name, when the
    /// corruption is in one file.
    pub file: Option<String>,
    /// The SST block such a finding must name (`data#3`, `index`, `properties`, …).
    pub block: Option<String>,
    /// Byte range `[start, end)` of the damaged region (a block with its trailer, the
    /// footer); the finding must give an offset inside it.
    pub region: Option<(u64, u64)>,
    /// What [`apply`] does to the copy.
    pub action: Action,
}

/// What is done to a copy of the collection (paths relative to its root, `/`-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// XOR the byte at `offset` of `file` with `xor` (never 0).
    Flip {
        /// The file.
        file: String,
        /// Byte offset.
        offset: u64,
        /// Bits to flip.
        xor: u8,
    },
    /// Cut `file` to `len` bytes.
    Truncate {
        /// The file.
        file: String,
        /// New length (smaller than the old one).
        len: u64,
    },
    /// Delete a file or a whole directory.
    Remove {
        /// The file or directory.
        path: String,
    },
    /// Exchange the contents of two files.
    Swap {
        /// One file.
        a: String,
        /// The other.
        b: String,
    },
    /// Overwrite `to` with a copy of `from`.
    CopyFile {
        /// Source file.
        from: String,
        /// Overwritten file.
        to: String,
    },
    /// Replace every file of directory `to` with the files of directory `from`.
    ReplaceDir {
        /// Source directory.
        from: String,
        /// Emptied, then filled with copies.
        to: String,
    },
    /// Copy directory `from` to the new directory `to`.
    CopyDir {
        /// Source directory.
        from: String,
        /// New directory.
        to: String,
    },
    /// Overwrite `file` with `bytes`.
    Write {
        /// The file.
        file: String,
        /// New contents.
        bytes: Vec<u8>,
    },
    /// Rewrite a layer's manifest *consistently*: the edit, then its checksum file, then
    /// (down `cascade`, the later layers of its chain in order) each later manifest's
    /// `previous.manifest_sha256` and checksum file, so that the hash chain still holds.
    EditManifest {
        /// The layer directory.
        layer: String,
        /// What is changed.
        edit: ManifestEdit,
        /// Later layers of the chain, oldest first.
        cascade: Vec<String>,
    },
    /// Rewrite the SST `file` (a path in `layer`'s manifest) with the SST writer so that
    /// every live primary-index value of a user table is a valid MVCC value (correct CRC)
    /// holding a row that does not fit the table (a column of the wrong type), then
    /// rewrite the manifests consistently (size, SHA-256, logical bytes; hash chain).
    BadRows {
        /// The layer directory.
        layer: String,
        /// The data file's path as the manifest lists it (`data/000001.sst`).
        file: String,
        /// Later layers of the chain, oldest first.
        cascade: Vec<String>,
    },
}

/// A consistent manifest edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestEdit {
    /// `files[i].rows += 1`.
    FileRows(usize),
    /// `files[i].last_key = files[i].first_key` (the file's other keys fall outside).
    FileBounds(usize),
    /// `fingerprints[i].fingerprint ^= 1`.
    Fingerprint(usize),
    /// `descriptors[i]` (a table) gets a parent database id that nothing has.
    DanglingParent(usize),
}

/// A parent database id no collection uses.
pub const DANGLING_DATABASE_ID: u64 = 999_999;

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn format_err(path: &str, e: vouch_format::Error) -> io::Error {
    invalid(format!("{path}: {e}"))
}

/// Every file under `root`, as sorted `/`-separated paths relative to it.
pub fn list_files(root: &Path) -> io::Result<Vec<String>> {
    fn walk(root: &Path, rel: &str, out: &mut Vec<String>) -> io::Result<()> {
        let dir = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(rel)
        };
        for e in fs::read_dir(&dir)? {
            let e = e?;
            let name = e
                .file_name()
                .into_string()
                .map_err(|n| invalid(format!("{}: non-UTF-8 name {n:?}", dir.display())))?;
            let p = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if e.file_type()?.is_dir() {
                walk(root, &p, out)?;
            } else {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, "", &mut out)?;
    out.sort();
    Ok(out)
}

/// Copies the tree `src` into `dst` (created; existing files are overwritten).
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    fs::create_dir_all(dst)?;
    for rel in list_files(src)? {
        let to = dst.join(&rel);
        if let Some(p) = to.parent() {
            fs::create_dir_all(p)?;
        }
        fs::copy(src.join(&rel), &to)?;
    }
    Ok(())
}

/// Where the blocks of an SST are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SstRegions {
    /// File size.
    pub size: u64,
    /// Data blocks in index order (`data#0`, `data#1`, …).
    pub data: Vec<BlockHandle>,
    /// The index block.
    pub index: BlockHandle,
    /// The properties block.
    pub properties: BlockHandle,
    /// The metaindex block.
    pub metaindex: BlockHandle,
}

impl SstRegions {
    /// Offset of the footer.
    pub fn footer_at(&self) -> u64 {
        self.size.saturating_sub(FOOTER_LEN as u64)
    }
}

/// `[offset, offset + size + trailer)`.
pub fn with_trailer(h: BlockHandle) -> (u64, u64) {
    (h.offset, h.end_with_trailer())
}

/// Stored contents of an uncompressed block (index and metaindex are never compressed).
fn raw_block<'a>(bytes: &'a [u8], h: BlockHandle, what: &str) -> io::Result<&'a [u8]> {
    let start = usize::try_from(h.offset).map_err(invalid)?;
    let end = usize::try_from(h.size)
        .ok()
        .and_then(|s| start.checked_add(s))
        .ok_or_else(|| invalid(format!("{what} block handle overflows")))?;
    let compression = bytes.get(end).copied();
    if compression != Some(0) {
        return Err(invalid(format!(
            "{what} block at {start}: compression byte {compression:?}, expected 0"
        )));
    }
    bytes
        .get(start..end)
        .ok_or_else(|| invalid(format!("{what} block at {start} is out of bounds")))
}

/// The entries of a block whose restart interval is 1 (index, metaindex): key, value.
fn block_entries(contents: &[u8]) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let e = |x: vouch_format::Error| invalid(format!("block entries: {x}"));
    let n = contents.len();
    let tail = contents
        .get(n.saturating_sub(4)..)
        .ok_or_else(|| invalid("block too short"))?;
    let restarts = Cursor::new(tail).u32_le("num_restarts").map_err(e)? as usize;
    let entries_end = n
        .checked_sub(4 + 4 * restarts)
        .ok_or_else(|| invalid("restart array larger than the block"))?;
    let region = contents.get(..entries_end).unwrap_or(&[]);
    let mut c = Cursor::new(region);
    let mut out = Vec::new();
    while !c.is_empty() {
        let shared = c.varint32("shared").map_err(e)?;
        let non_shared = c.varint32("non_shared").map_err(e)? as usize;
        let value_len = c.varint32("value_len").map_err(e)? as usize;
        if shared != 0 {
            return Err(invalid("shared key bytes in a restart-interval-1 block"));
        }
        let key = c.take(non_shared, "key").map_err(e)?.to_vec();
        let value = c.take(value_len, "value").map_err(e)?.to_vec();
        out.push((key, value));
    }
    Ok(out)
}

fn handle_of(value: &[u8]) -> io::Result<BlockHandle> {
    let mut c = Cursor::new(value);
    let h = BlockHandle::decode(&mut c).map_err(|e| invalid(format!("block handle: {e}")))?;
    c.finish("block handle")
        .map_err(|e| invalid(format!("block handle: {e}")))?;
    Ok(h)
}

/// Locates every block of a sound SST (it is opened with the reader first).
pub fn sst_regions(bytes: &[u8]) -> io::Result<SstRegions> {
    let r = SstReader::open(bytes).map_err(|e| invalid(format!("SST does not open: {e}")))?;
    let footer = *r.footer();
    let mut data = Vec::new();
    for (_, v) in block_entries(raw_block(bytes, footer.index, "index")?)? {
        data.push(handle_of(&v)?);
    }
    if data.len() != r.data_blocks() {
        return Err(invalid(format!(
            "index block lists {} data blocks, the reader {}",
            data.len(),
            r.data_blocks()
        )));
    }
    let mut properties = None;
    for (k, v) in block_entries(raw_block(bytes, footer.metaindex, "metaindex")?)? {
        if k == PROPERTIES_BLOCK.as_bytes() {
            properties = Some(handle_of(&v)?);
        }
    }
    Ok(SstRegions {
        size: bytes.len() as u64,
        data,
        index: footer.index,
        properties: properties.ok_or_else(|| invalid("no properties block"))?,
        metaindex: footer.metaindex,
    })
}

/// One layer of a chain as read from the clean collection.
#[derive(Debug, Clone)]
struct Layer {
    dir: String,
    manifest: pb::BackupManifest,
    /// Its chain's data key (encrypted collections).
    key: Option<ChainKey>,
}

impl Layer {
    fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.dir)
    }

    fn data_paths(&self) -> Vec<String> {
        self.manifest
            .files
            .iter()
            .map(|f| self.path(&f.path))
            .collect()
    }

    fn end(&self) -> Timestamp {
        Timestamp::from_pb(self.manifest.end_time)
    }
}

fn read_manifest(root: &Path, dir: &str, key: Key<'_>) -> io::Result<pb::BackupManifest> {
    let p = format!("{dir}/{MANIFEST}");
    let bytes = fs::read(root.join(&p))?;
    let bytes = match key {
        None => bytes,
        Some(k) => {
            let l = read_listing(root, dir)?;
            crypto::open_small_file(k, &l.backup_id, MANIFEST, &bytes, &p).map_err(invalid)?
        }
    };
    manifest::decode(&bytes).map_err(|e| format_err(&p, e))
}

/// The chain's data key when the collection is encrypted (`None`: not encrypted).
type Key<'k> = Option<&'k DataKey>;

/// The data key of the chain that layer directory `dir` belongs to (`None` when `keys` is
/// empty: the collection is read as unencrypted).
fn chain_key(root: &Path, dir: &str, keys: &KeySource) -> io::Result<Option<ChainKey>> {
    if keys.is_empty() {
        return Ok(None);
    }
    let full = match dir.strip_prefix(&format!("{INCREMENTALS}/")) {
        Some(rest) => rest.get(..20).unwrap_or(rest),
        None => dir,
    };
    let uri = root
        .to_str()
        .ok_or_else(|| invalid(format!("{}: not UTF-8", root.display())))?;
    let store = vouch_store::open(uri, &vouch_store::OpenOptions::default()).map_err(invalid)?;
    crypto::chain_key(store.as_ref(), full, keys).map_err(invalid)
}

fn read_listing(root: &Path, dir: &str) -> io::Result<pb::IntegrityListing> {
    let p = format!("{dir}/{}", layout::LISTING);
    crypto::decode_listing(&fs::read(root.join(&p))?, &p).map_err(invalid)
}

/// The plaintext of data file `path` (relative to the root) of `layer`.
fn plain_file(root: &Path, layer: &Layer, path: &str, key: Key<'_>) -> io::Result<Vec<u8>> {
    let stored = fs::read(root.join(path))?;
    let Some(k) = key else { return Ok(stored) };
    let rel = path
        .strip_prefix(&format!("{}/", layer.dir))
        .ok_or_else(|| invalid(format!("{path} is not in {}", layer.dir)))?;
    let id = FileId {
        backup_id: &layer.manifest.backup_id,
        path: rel,
    };
    envelope::open_all(k, id, &stored).map_err(|e| format_err(path, e))
}

/// Where plaintext byte `offset` of a sealed file is stored: (chunk index, the chunk's
/// stored offset, the byte's stored offset).
pub fn sealed_position(offset: u64) -> (u64, u64, u64) {
    let cs = u64::from(envelope::CHUNK_SIZE);
    let stride = cs + envelope::TAG_LEN as u64;
    let i = offset / cs;
    let at = envelope::HEADER_LEN as u64 + i * stride;
    (i, at, at + offset % cs)
}

/// The chains of a collection (default incrementals location), oldest full backup first.
fn chains(root: &Path, listing: &Listing, keys: &KeySource) -> io::Result<Vec<Vec<Layer>>> {
    let mut out = Vec::new();
    for full in listing.full_backups() {
        let key = chain_key(root, &full, keys)?;
        let mut dirs = vec![full.clone()];
        dirs.extend(listing.incrementals(&full, INCREMENTALS));
        let mut layers = Vec::new();
        for dir in dirs {
            let manifest = read_manifest(root, &dir, key.as_deref())?;
            layers.push(Layer {
                dir,
                manifest,
                key: key.clone(),
            });
        }
        out.push(layers);
    }
    Ok(out)
}

fn size_of(root: &Path, rel: &str) -> io::Result<u64> {
    Ok(fs::metadata(root.join(rel))?.len())
}

/// Counts live primary-index entries of user tables in an SST.
fn user_rows(bytes: &[u8]) -> io::Result<u64> {
    let r = SstReader::open(bytes).map_err(|e| invalid(e.to_string()))?;
    let mut it = r.iter();
    let mut n = 0;
    while let Some((k, v)) = it.next_entry().map_err(|e| invalid(e.to_string()))? {
        if is_user_primary(k) && matches!(mvcc::decode_value(k, v), Ok(mvcc::Value::Live(_))) {
            n += 1;
        }
    }
    Ok(n)
}

fn is_user_primary(mvcc_key: &[u8]) -> bool {
    mvcc::decode_key(mvcc_key)
        .ok()
        .and_then(|(user, _)| keys::decode_table_prefix(&user).ok())
        .is_some_and(|(table, index, _)| table >= FIRST_USER_DESCRIPTOR_ID && index == 1)
}

const FLIP: u8 = 0x10;

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
///   manifest is an `envelope_auth` finding, accepted beside `chain_id_mismatch`.
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
            Some(l.path(CHECKSUM)),
            Action::Flip {
                file: m.clone(),
                offset: len / 2,
                xor: FLIP,
            },
        ));
    }
    let em = edited.path(MANIFEST);
    let ec = edited.path(CHECKSUM);
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
    if files.iter().any(|f| f == PLAIN_LATEST) {
        out.push(meta(
            "flip/latest-plain",
            &["latest_invalid", "latest_missing"],
            Some(PLAIN_LATEST.into()),
            Action::Flip {
                file: PLAIN_LATEST.into(),
                offset: 1,
                xor: 0x40,
            },
        ));
        out.push(meta(
            "truncate/latest-plain",
            &["latest_invalid", "latest_missing"],
            Some(PLAIN_LATEST.into()),
            Action::Truncate {
                file: PLAIN_LATEST.into(),
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
            let to = layout::incremental_path(INCREMENTALS, &full.dir, tip.end(), foreign.end())
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
        // A case flipping plaintext byte `at`, expected in `block` / `region`; over an
        // encrypted file, the stored byte holding it, expected at its chunk.
        let located = |name: &str,
                       kinds: &'static [&'static str],
                       block: Option<String>,
                       region: (u64, u64),
                       at: u64| {
            let (kinds, block, region, offset) = match key {
                None => (kinds, block, region, at),
                Some(_) => {
                    let (i, chunk_at, stored) = sealed_position(at);
                    (
                        &["envelope_auth"][..],
                        Some(format!("chunk#{i}")),
                        (chunk_at, chunk_at + 1),
                        stored,
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
    Ok(out)
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
                    envelope::seal(k, id, &new, vouch_engine::crypto::random_file_nonce())
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
                encode_listing(&vouch_format::manifest::listing_of(m)),
            )?;
            seal_small_file(k, &m.backup_id, MANIFEST, &bytes).map_err(invalid)?
        }
    };
    fs::write(root.join(format!("{layer}/{MANIFEST}")), &bytes)?;
    fs::write(
        root.join(format!("{layer}/{CHECKSUM}")),
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

/// A row value that decodes but does not fit its table: the first column's value gets
/// another type (BOOL, or INT where it was BOOL); an empty row gets an unknown column.
fn bad_row(payload: &[u8]) -> Vec<u8> {
    let mut cols = row::decode_row(payload).unwrap_or_default();
    match cols.first_mut() {
        Some((_, d)) => {
            *d = if matches!(d, Datum::Bool(_)) {
                Datum::Int(1)
            } else {
                Datum::Bool(true)
            }
        }
        None => cols.push((9_999, Datum::Int(1))),
    }
    row::encode_row(&cols).unwrap_or_else(|_| vec![row::ROW_ENCODING_VERSION, 0xff])
}

/// Rewrites an SST with [`bad_row`] values for live user-table primary-index entries;
/// returns the new bytes and their logical size (Σ key + value lengths).
fn bad_rows(bytes: &[u8]) -> Result<(Vec<u8>, u64), vouch_format::Error> {
    let r = SstReader::open(bytes)?;
    let compression = r
        .properties()
        .get_str("rocksdb.compression")?
        .and_then(Compression::from_name)
        .unwrap_or_default();
    let mut w = SstWriter::new(
        Vec::new(),
        WriterOptions {
            block_size: 512,
            restart_interval: 16,
            compression,
            mvcc: true,
        },
    )?;
    let mut logical = 0u64;
    let mut it = r.iter();
    while let Some((k, v)) = it.next_entry()? {
        let value = match mvcc::decode_value(k, v)? {
            mvcc::Value::Live(p) if is_user_primary(k) => mvcc::value(k, Some(&bad_row(p))),
            _ => v.to_vec(),
        };
        logical += (k.len() + value.len()) as u64;
        w.add(k, &value)?;
    }
    let (out, _) = w.finish()?;
    Ok((out, logical))
}

// ---- fuzzing -------------------------------------------------------------------------------

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
            f.ends_with(&format!("/{MANIFEST}"))
                || f.ends_with(&format!("/{CHECKSUM}"))
                || (f.ends_with(".sst") && f.contains("/data/"))
                || marker.as_deref() == Some(f.as_str())
        })
        .map(|f| f.to_string())
        .collect();
    out.sort();
    out
}

/// Reads up to 4 mutations from fuzzer bytes, 5 bytes each: file selector, operation,
/// 16-bit position (LE), value.
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
pub fn mutate(files: &mut std::collections::BTreeMap<String, Vec<u8>>, ms: &[Mutation]) {
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
pub fn fuzz_verify_full(
    base: &std::collections::BTreeMap<String, Vec<u8>>,
    scratch: &Path,
    data: &[u8],
) {
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
            if p.contains("metadata/latest/") {
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
    let uri = scratch.to_string_lossy();
    let report = crate::verify_collection(
        &uri,
        None,
        None,
        &vouch_store::OpenOptions {
            nodelocal_root: None,
        },
        &crate::VerifyOptions::new(Level::Full),
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("verify could not run after {ms:?}: {e}"));
    if changed.is_empty() {
        assert_eq!(
            report.errors, 0,
            "unchanged collection reported with errors after {ms:?}: {:?}",
            report.findings
        );
    } else {
        assert!(
            report.errors > 0,
            "mutated collection reported clean: {changed:?} changed by {ms:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_format::sst::{write_to_vec, Compression, WriterOptions};

    fn sample() -> Vec<u8> {
        let keys: Vec<Vec<u8>> = (0..300u32)
            .map(|i| format!("key{i:05}").into_bytes())
            .collect();
        write_to_vec(
            keys.iter().map(|k| (k.as_slice(), &b"some value"[..])),
            WriterOptions {
                block_size: 256,
                compression: Compression::Snappy,
                ..WriterOptions::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn regions_tile_the_file_in_the_written_order() {
        let b = sample();
        let r = sst_regions(&b).unwrap();
        assert!(r.data.len() > 3, "{} data blocks", r.data.len());
        let mut at = 0;
        for h in &r.data {
            assert_eq!(h.offset, at);
            at = h.end_with_trailer();
        }
        for h in [r.index, r.properties, r.metaindex] {
            assert_eq!(h.offset, at);
            at = h.end_with_trailer();
        }
        assert_eq!(at, r.footer_at());
        assert_eq!(r.footer_at() + FOOTER_LEN as u64, b.len() as u64);
    }

    #[test]
    fn a_byte_flipped_in_a_region_is_reported_in_that_block() {
        let b = sample();
        let r = sst_regions(&b).unwrap();
        let mid = r.data.len() / 2;
        for (name, h) in [
            (format!("data#{mid}"), r.data[mid]),
            ("index".to_string(), r.index),
            ("properties".to_string(), r.properties),
            ("metaindex".to_string(), r.metaindex),
        ] {
            for at in [h.offset, h.offset + h.size / 2, h.offset + h.size + 1] {
                let mut bad = b.clone();
                bad[at as usize] ^= FLIP;
                let f = crate::check_sst("x.sst", bad.as_slice()).unwrap_err();
                assert_eq!(f.kind, "block_checksum", "{name} at {at}: {f:?}");
                assert_eq!(f.block.as_deref(), Some(name.as_str()), "at {at}");
                assert_eq!(f.offset, Some(h.offset));
            }
        }
        let mut bad = b.clone();
        let n = bad.len();
        bad[n - 3] ^= FLIP;
        let f = crate::check_sst("x.sst", bad.as_slice()).unwrap_err();
        assert_eq!(f.kind, "sst_bad_footer");
        assert_eq!(f.offset, Some(r.size - 8));
    }

    #[test]
    fn bad_rows_keep_keys_and_value_checksums_but_not_rows() {
        let mut key_bytes = Vec::new();
        keys::encode_table_prefix(104, 1, &mut key_bytes);
        key_bytes.extend_from_slice(&[0x10, 0x80, 0, 0, 0, 0, 0, 0, 1]);
        let k = mvcc::key(&key_bytes, Timestamp::new(5, 0));
        let good = row::encode_row(&[(2, Datum::Int(7))]).unwrap();
        let v = mvcc::value(&k, Some(&good));
        let sst = write_to_vec(
            [(k.as_slice(), v.as_slice())],
            WriterOptions {
                mvcc: true,
                ..WriterOptions::default()
            },
        )
        .unwrap();
        assert_eq!(user_rows(&sst).unwrap(), 1);
        let (out, logical) = bad_rows(&sst).unwrap();
        let r = SstReader::open(out.as_slice()).unwrap();
        r.verify_scan().unwrap();
        let mut it = r.iter();
        let (k2, v2) = it.next_entry().unwrap().unwrap();
        assert_eq!(k2, k.as_slice());
        let mvcc::Value::Live(p) = mvcc::decode_value(k2, v2).unwrap() else {
            panic!("tombstone")
        };
        assert_eq!(row::decode_row(p).unwrap(), vec![(2, Datum::Bool(true))]);
        assert_eq!(logical, (k2.len() + v2.len()) as u64);
    }
}
