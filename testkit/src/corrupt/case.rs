//! What a corruption case is: the damage ([`Action`]) and what must catch it ([`Case`]).

use vouch_verify::{Level, Report, Severity};

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

impl Case {
    /// Does `report` catch this case as the suite requires: an error finding of one of
    /// its kinds, naming its file and block when it has them, at an offset inside its
    /// damaged region when it has one?
    pub fn caught_by(&self, report: &Report) -> bool {
        report.findings.iter().any(|f| {
            f.severity == Severity::Error
                && self.kinds.contains(&f.kind)
                && self.file.as_ref().is_none_or(|p| &f.file == p)
                && self
                    .block
                    .as_ref()
                    .is_none_or(|b| f.block.as_ref() == Some(b))
                && self
                    .region
                    .is_none_or(|(s, e)| f.offset.is_some_and(|o| s <= o && o < e))
        })
    }
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
    /// Column `column` of `descriptors[descriptor]` (a table) gets type `to` (a
    /// `pb::ColumnType` code): its stored values no longer fit (DECIMAL → FLOAT).
    ColumnType {
        /// The descriptor's position.
        descriptor: usize,
        /// The column id.
        column: u32,
        /// The new type code.
        to: i32,
    },
    /// Secondary index `index` of `descriptors[descriptor]` is marked unique while its
    /// entries hold duplicates.
    MakeUnique {
        /// The descriptor's position.
        descriptor: usize,
        /// The index id.
        index: u32,
    },
    /// `files[i]` is listed a second time (appended).
    ListFileTwice(usize),
    /// `start_time` set to this wall time (a full backup must start at 0).
    StartTime(u64),
    /// `mvcc_filter` set to this value.
    MvccFilter(i32),
    /// `revision_start_time` removed (a layer with revision history must have one).
    NoRevisionStart,
    /// `spans` in reverse order.
    ReverseSpans,
    /// The span of a table nothing has is added to `introduced_spans` (not among `spans`).
    IntroduceForeignSpan,
    /// `files[b].first_key = files[a].last_key`: the two files' key ranges overlap.
    OverlapFiles {
        /// The file whose range starts first.
        a: usize,
        /// The file made to start inside it.
        b: usize,
    },
}

/// A parent database id no collection uses.
pub const DANGLING_DATABASE_ID: u64 = 999_999;

/// The bits a case flips in one byte.
pub(crate) const FLIP: u8 = 0x10;
