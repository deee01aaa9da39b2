//! Shared helpers of the engine's integration tests: a cluster on a manual clock, backups
//! with small files, reading layers back from disk, and an oracle for the export rules
//! computed from the cluster's own MVCC history (written here, independently of the
//! writer in `engine/src/backup.rs`).

// A test binary is its own crate: these helpers are `pub` for its test files, which
// `unreachable_pub` cannot see.
#![allow(unreachable_pub)]
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use vouch_chain::Targets;
use vouch_cluster::{Clock, Cluster};
use vouch_cluster::{ColumnDef, IndexDef, TableDef};
use vouch_engine::backup::{backup, BackupOptions, BackupResult, Destination};
use vouch_format::keys::table_span;
use vouch_format::keys::{self, ColumnType, Datum};
use vouch_format::manifest::{self, pb};
use vouch_format::mvcc::{self, Timestamp};
use vouch_format::schema::{self, Kind};
use vouch_format::sst::{Compression, SstReader};

/// One second in nanoseconds.
pub const SEC: u64 = 1_000_000_000;
/// 2026-01-01 00:00:00.23 UTC: where every test clock starts.
pub const T0: u64 = 1_767_225_600 * SEC + 230_000_000;

/// One MVCC version as the tests compare them: user key, timestamp, value (`None` for a
/// tombstone).
pub type Entry = (Vec<u8>, Timestamp, Option<Vec<u8>>);

/// A cluster in a temporary directory, on a manual clock starting at [`T0`].
pub struct Env {
    pub dir: tempfile::TempDir,
    pub c: Cluster,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = Cluster::init(&dir.path().join("cluster"), Clock::manual(T0)).expect("init");
        Env { dir, c }
    }

    /// Moves the manual clock forward.
    pub fn advance(&self, nanos: u64) {
        self.c.kv().clock().advance(nanos);
    }

    /// `nodelocal://1/<name>`.
    pub fn uri(&self, name: &str) -> String {
        format!("nodelocal://1/{name}")
    }

    /// Where `nodelocal://1/<name>` is on disk.
    pub fn root(&self, name: &str) -> PathBuf {
        self.c.extern_dir().join(name)
    }

    /// A timestamp after every write so far, without moving the clock's wall time.
    pub fn now(&self) -> Timestamp {
        self.c.now()
    }

    pub fn table(&self, db: &str, name: &str) -> pb::Descriptor {
        self.c.table(db, name).expect("table")
    }

    pub fn table_id(&self, db: &str, name: &str) -> u64 {
        self.table(db, name).id
    }

    /// Upserts `rows` into `db.t` in one transaction; returns its timestamp.
    pub fn upsert(&self, db: &str, t: &str, rows: &[Vec<Datum>]) -> Timestamp {
        let d = self.table(db, t);
        let mut tx = self.c.txn();
        tx.upsert(&d, rows).expect("upsert");
        tx.commit().expect("commit").expect("a write")
    }

    /// Deletes the rows with these primary keys in one transaction; returns its timestamp.
    pub fn delete(&self, db: &str, t: &str, pks: &[Datum]) -> Timestamp {
        let d = self.table(db, t);
        let mut tx = self.c.txn();
        for pk in pks {
            assert!(
                tx.delete(&d, std::slice::from_ref(pk)).expect("delete"),
                "row {pk:?} exists"
            );
        }
        tx.commit().expect("commit").expect("a write")
    }
}

/// `(id INT PRIMARY KEY, <col> <ty>)`, optionally with a secondary index on `<col>`.
pub fn simple_table(name: &str, col: &str, ty: ColumnType, indexed: bool) -> TableDef {
    TableDef {
        name: name.into(),
        columns: vec![
            ColumnDef::new("id", ColumnType::Int, false),
            ColumnDef::new(col, ty, true),
        ],
        primary_key: vec!["id".into()],
        indexes: if indexed {
            vec![IndexDef {
                name: format!("{name}_{col}_idx"),
                columns: vec![(col.into(), false)],
                unique: false,
                storing: vec![],
            }]
        } else {
            vec![]
        },
        foreign_keys: vec![],
    }
}

pub fn int_str(id: i64, s: &str) -> Vec<Datum> {
    vec![Datum::Int(id), Datum::String(s.into())]
}

/// Options with small files and blocks, so that layers have several data files.
pub fn opts(targets: Targets, dest: Destination) -> BackupOptions {
    let mut o = BackupOptions::new(targets, dest);
    o.target_file_size = 2 << 10;
    o.block_size = 512;
    o.compression = Compression::Snappy;
    o
}

pub fn run(c: &Cluster, o: &BackupOptions) -> BackupResult {
    match backup(c, o, &mut |_| {}) {
        Ok(r) => r,
        Err(e) => panic!("backup {:?} failed: {e}", o.destination),
    }
}

pub fn run_err(c: &Cluster, o: &BackupOptions) -> vouch_engine::Error {
    match backup(c, o, &mut |_| {}) {
        Ok(r) => panic!(
            "backup {:?} should fail but wrote {}",
            o.destination, r.path
        ),
        Err(e) => e,
    }
}

pub fn ts(t: Option<pb::Timestamp>) -> Timestamp {
    Timestamp::from_pb(t)
}

/// A layer read back from disk.
pub struct Stored {
    pub dir: PathBuf,
    pub bytes: Vec<u8>,
    pub m: pb::BackupManifest,
}

impl Stored {
    pub fn start(&self) -> Timestamp {
        ts(self.m.start_time)
    }
    pub fn end(&self) -> Timestamp {
        ts(self.m.end_time)
    }
    pub fn sha(&self) -> [u8; 32] {
        manifest::sha256(&self.bytes)
    }
}

/// Reads a layer's manifest, checking the checksum file holds its SHA-256.
pub fn read_layer(dir: &Path) -> Stored {
    let bytes = std::fs::read(dir.join("BACKUP_MANIFEST"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let sum = std::fs::read(dir.join("BACKUP_MANIFEST-CHECKSUM")).expect("checksum file");
    assert_eq!(
        sum,
        manifest::sha256(&bytes).to_vec(),
        "{}: checksum file",
        dir.display()
    );
    let m = manifest::decode(&bytes).expect("manifest decodes");
    rocksdb_verify_data_dir(dir, m.files.len());
    Stored {
        dir: dir.to_path_buf(),
        bytes,
        m,
    }
}

/// Every SST in a layer's `data/` passes RocksDB's own check: `sst_dump --file=<dir>
/// --command=verify --verify_checksum` exits 0 with an empty stderr and prints `The file
/// is ok` once per file (it also exits 0 on a data-block checksum mismatch, hence the
/// strict reading). Never skips: install the tools with scripts/install-test-tools.sh.
pub fn rocksdb_verify_data_dir(layer_dir: &Path, manifest_files: usize) {
    let data = layer_dir.join("data");
    if manifest_files == 0 {
        return;
    }
    let on_disk = std::fs::read_dir(&data)
        .unwrap_or_else(|e| panic!("{}: {e}", data.display()))
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sst"))
        })
        .count();
    assert!(
        on_disk >= manifest_files,
        "{}: files missing",
        data.display()
    );
    let tool = ["sst_dump", "rocksdb_sst_dump"]
        .into_iter()
        .find(|t| {
            std::process::Command::new(t)
                .arg("--version")
                .output()
                .is_ok()
        })
        .unwrap_or_else(|| {
            panic!("sst_dump is not on PATH: run scripts/install-test-tools.sh (rocksdb-tools)")
        });
    let out = std::process::Command::new(tool)
        .arg(format!("--file={}", data.display()))
        .args(["--command=verify", "--verify_checksum"])
        .output()
        .expect("run sst_dump");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "sst_dump verify {}: {:?}\n{stderr}\n{stdout}",
        data.display(),
        out.status
    );
    assert_eq!(
        stdout.matches("The file is ok").count(),
        on_disk,
        "sst_dump verify {}:\n{stdout}",
        data.display()
    );
}

/// Every regular file under `root` (relative path → bytes), without the store's own
/// `.vouch-tmp/`.
pub fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = vouch_testkit::tree::snapshot(root);
    files.retain(|p, _| !p.starts_with(".vouch-tmp/"));
    files
}

/// Every object of `before` is still there with the same bytes.
pub fn assert_nothing_overwritten(
    before: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
) {
    for (p, b) in before {
        match after.get(p) {
            None => panic!("{p} was deleted"),
            Some(a) => assert!(a == b, "{p} was overwritten"),
        }
    }
}

// ---- the oracle -----------------------------------------------------------------------

/// The full MVCC history of a table's span, newest first within a key.
pub fn history(c: &Cluster, table_id: u64) -> Vec<Entry> {
    let (s, e) = table_span(table_id);
    let mut out = Vec::new();
    c.kv()
        .versions(&s, &e, Timestamp::MIN, Timestamp::MAX, |v| {
            out.push((v.key.clone(), v.ts, v.value.clone()));
            Ok(())
        })
        .expect("versions");
    out
}

/// How a span is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Versions after this time count (ignored when `from_zero`).
    pub start: Timestamp,
    pub end: Timestamp,
    pub revision_history: bool,
    /// Full backup, or a span introduced in an incremental.
    pub from_zero: bool,
}

/// What `rule` selects from a table's history (written from the rules table, key by key).
pub fn select(hist: &[Entry], rule: Rule) -> Vec<Entry> {
    let mut by_key: BTreeMap<&[u8], Vec<&Entry>> = BTreeMap::new();
    for e in hist {
        by_key.entry(e.0.as_slice()).or_default().push(e);
    }
    let lower = if rule.from_zero {
        None
    } else {
        Some(rule.start)
    };
    let mut out = Vec::new();
    for versions in by_key.values() {
        let at_or_before_end: Vec<&Entry> = versions
            .iter()
            .copied()
            .filter(|e| e.1 <= rule.end)
            .collect();
        if rule.revision_history {
            out.extend(
                at_or_before_end
                    .iter()
                    .filter(|e| lower.is_none_or(|s| e.1 > s))
                    .map(|e| (*e).clone()),
            );
            continue;
        }
        let Some(newest) = at_or_before_end.iter().max_by_key(|e| e.1) else {
            continue;
        };
        match lower {
            // Full: the newest version at or before end, if live.
            None => {
                if newest.2.is_some() {
                    out.push((*newest).clone());
                }
            }
            // Incremental: the newest version in (start, end], tombstones included.
            Some(s) => {
                if newest.1 > s {
                    out.push((*newest).clone());
                }
            }
        }
    }
    out
}

/// What a layer must hold for these tables: `table → (rule, excluded)`.
pub fn expected(c: &Cluster, tables: &BTreeMap<u64, (Rule, bool)>) -> Vec<Entry> {
    let mut out = Vec::new();
    for (id, (rule, excluded)) in tables {
        if *excluded {
            continue;
        }
        out.extend(select(&history(c, *id), *rule));
    }
    out.sort();
    out
}

/// Reads and checks every data file of a layer against its manifest entry; returns all
/// entries, sorted.
pub fn layer_entries(layer: &Stored) -> Vec<Entry> {
    let m = &layer.m;
    let mut all = Vec::new();
    let mut paths = BTreeSet::new();
    // Primary index ids: from the descriptors at end, else from the newest revision in
    // the layer; a table dropped before end with no revision in the interval has its
    // descriptor in an earlier layer only (the cluster always numbers the primary index 1).
    let mut primary: BTreeMap<u64, u64> = BTreeMap::new();
    let revised = m
        .descriptor_changes
        .iter()
        .rev()
        .filter_map(|r| r.descriptor.as_ref());
    for d in m.descriptors.iter().chain(revised) {
        if let Some(p) = schema::table(d).and_then(|t| t.primary_index.as_ref()) {
            primary.entry(d.id).or_insert(u64::from(p.id));
        }
    }
    let primary_of = |table: u64| primary.get(&table).copied().unwrap_or(1);
    for f in &m.files {
        assert!(paths.insert(f.path.clone()), "file {} listed twice", f.path);
        let p = layer.dir.join(&f.path);
        let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(bytes.len() as u64, f.size, "{}: size", f.path);
        assert_eq!(
            manifest::sha256(&bytes).to_vec(),
            f.sha256,
            "{}: sha256",
            f.path
        );
        let r = SstReader::open(bytes.as_slice()).expect("sst opens");
        r.verify_scan().expect("sst verifies");
        let mut entries = Vec::new();
        let mut raw_keys = Vec::new();
        for kv in r.entries() {
            let (k, v) = kv.expect("sst entry");
            let (user, t) = mvcc::decode_key(&k).expect("mvcc key");
            let value = match mvcc::decode_value(&k, &v).expect("mvcc value") {
                mvcc::Value::Live(p) => Some(p.to_vec()),
                mvcc::Value::Tombstone => None,
            };
            raw_keys.push(k);
            entries.push((user, t, value));
        }
        assert!(!entries.is_empty(), "{}: empty data file", f.path);
        assert_eq!(entries.len() as u64, f.entries, "{}: entries", f.path);
        let tombstones = entries.iter().filter(|e| e.2.is_none()).count() as u64;
        assert_eq!(tombstones, f.tombstones, "{}: tombstones", f.path);
        let min = entries.iter().map(|e| e.1).min();
        let max = entries.iter().map(|e| e.1).max();
        assert_eq!(min, Some(ts(f.min_ts)), "{}: min_ts", f.path);
        assert_eq!(max, Some(ts(f.max_ts)), "{}: max_ts", f.path);
        assert_eq!(
            raw_keys.first(),
            Some(&f.first_key),
            "{}: first_key",
            f.path
        );
        assert_eq!(raw_keys.last(), Some(&f.last_key), "{}: last_key", f.path);
        let span = f.span.clone().expect("file span");
        assert!(span.start < span.end, "{}: empty span", f.path);
        let mut tables = BTreeSet::new();
        let mut rows = 0u64;
        let mut prev_user: Option<&[u8]> = None;
        for (user, _, value) in &entries {
            assert!(
                span.start.as_slice() <= user.as_slice() && user.as_slice() < span.end.as_slice(),
                "{}: key {} outside its span",
                f.path,
                hex::encode(user)
            );
            let (table, index, _) = keys::decode_table_prefix(user).expect("table key");
            tables.insert(table);
            // The newest version of a key in a file is the newest at or before end.
            if prev_user != Some(user.as_slice()) && value.is_some() && primary_of(table) == index {
                rows += 1;
            }
            prev_user = Some(user.as_slice());
        }
        assert_eq!(tables.len(), 1, "{}: mixes tables {tables:?}", f.path);
        let table = *tables.iter().next().expect("one table");
        let (ts_, te) = table_span(table);
        assert!(
            ts_ <= span.start && span.end <= te,
            "{}: span leaves table {table}",
            f.path
        );
        assert_eq!(rows, f.rows, "{}: rows", f.path);
        all.extend(entries);
    }
    // Data files on disk are exactly the listed ones.
    let on_disk: BTreeSet<String> = snapshot(&layer.dir)
        .into_keys()
        .filter(|p| p.starts_with("data/"))
        .collect();
    assert_eq!(on_disk, paths, "data files on disk vs manifest");
    all.sort();
    all
}

/// The manifest's fingerprints equal the cluster's at end time, for `tables` (not excluded).
pub fn check_fingerprints(c: &Cluster, layer: &Stored, tables: &BTreeSet<u64>) {
    let want: BTreeMap<(u64, u64), (u64, u64)> = c
        .fingerprints(layer.end())
        .expect("fingerprints")
        .into_iter()
        .filter(|f| tables.contains(&f.table_id))
        .map(|f| {
            (
                (f.table_id, u64::from(f.index_id)),
                (f.fingerprint, f.entries),
            )
        })
        .collect();
    let got: BTreeMap<(u64, u64), (u64, u64)> = layer
        .m
        .fingerprints
        .iter()
        .map(|f| ((f.table_id, f.index_id), (f.fingerprint, f.rows)))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(
        got, want,
        "manifest fingerprints vs Cluster::fingerprints(end)"
    );
}

/// The span of each table, as the manifest lists them.
pub fn spans_of(ids: impl IntoIterator<Item = u64>) -> Vec<pb::Span> {
    ids.into_iter()
        .map(|id| {
            let (start, end) = table_span(id);
            pb::Span { start, end }
        })
        .collect()
}

/// Ids of the tables live at `at`, with their exclude flag.
pub fn tables_at(c: &Cluster, at: Timestamp) -> BTreeMap<u64, bool> {
    c.catalog(at)
        .expect("catalog")
        .iter()
        .filter(|d| Kind::of(d) == Some(Kind::Table))
        .map(|d| {
            (
                d.id,
                schema::table(d).is_some_and(|t| t.exclude_data_from_backup),
            )
        })
        .collect()
}

/// Short debug form of entries for failure messages.
pub fn show(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|(k, t, v)| {
            format!(
                "{} @{t} {}",
                hex::encode(k),
                if v.is_some() { "put" } else { "del" }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts two sorted entry lists are equal, printing the difference.
pub fn assert_same(what: &str, got: &[Entry], want: &[Entry]) {
    if got != want {
        let g: BTreeSet<&Entry> = got.iter().collect();
        let w: BTreeSet<&Entry> = want.iter().collect();
        let extra: Vec<Entry> = g.difference(&w).map(|e| (*e).clone()).collect();
        let missing: Vec<Entry> = w.difference(&g).map(|e| (*e).clone()).collect();
        panic!(
            "{what}: {} entries, expected {}\nunexpected:\n{}\nmissing:\n{}",
            got.len(),
            want.len(),
            show(&extra),
            show(&missing)
        );
    }
}

/// Per-index fingerprints of database `db` at `at`: (table, index) → (hash, entries).
pub fn fps(c: &Cluster, db: &str, at: Timestamp) -> BTreeMap<(String, String), (u64, u64)> {
    c.fingerprints(at)
        .unwrap()
        .into_iter()
        .filter(|f| f.database == db)
        .map(|f| ((f.table, f.index), (f.fingerprint, f.entries)))
        .collect()
}
