//! Crash safety of BACKUP, in process, with injected faults (`Faults`): a failed run leaves
//! no manifest and disturbs no earlier backup; a rerun with the same options resumes the
//! failed job (same directory, same end time), never rewrites an object the failed run
//! wrote, and produces exactly the backup an uninterrupted run at that end time produces
//! (same MVCC entries, same fingerprints).
//!
//! The cluster runs on a manual clock (advanced between backups so that every backup gets
//! its own directory name); data files are small (`target_file_size` 4096) so that every
//! backup has many files and checkpoints.

mod support;

use support::{fps, snapshot};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use vouch_chain::Targets;
use vouch_chain::{open_options, Collection};
use vouch_cluster::workload::{self, Workload};
use vouch_cluster::{Clock, Cluster};
use vouch_engine::backup::{self, BackupOptions, BackupResult, Destination, Faults};
use vouch_engine::{show, Error};
use vouch_format::layout::{self, Listing};
use vouch_format::manifest::{decode_canonical, pb};
use vouch_format::mvcc::{self, Timestamp};
use vouch_format::sst::SstReader;

/// 2023-11-14T22:13:20Z.
const START_WALL: u64 = 1_700_000_000_000_000_000;
const SECOND: u64 = 1_000_000_000;
const FILE_SIZE: u64 = 4096;

/// A cluster on a manual clock, with a collection and a reference collection.
struct Env {
    _tmp: tempfile::TempDir,
    cluster: Cluster,
    workload: Workload,
    seed: std::cell::Cell<u64>,
}

impl Env {
    fn new(w: Workload, rows: u64) -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let cluster = Cluster::init(&tmp.path().join("c"), Clock::manual(START_WALL)).unwrap();
        workload::init(&cluster, w, rows, 7).unwrap();
        Env {
            _tmp: tmp,
            cluster,
            workload: w,
            seed: std::cell::Cell::new(1000),
        }
    }

    /// Changes the data (writes after a failed run's end time, which its rerun must not see).
    fn write_some(&self) {
        self.seed.set(self.seed.get() + 1);
        workload::run(&self.cluster, self.workload, 60, self.seed.get()).unwrap();
    }

    /// Moves the clock on, so the next backup gets a new directory name.
    fn tick(&self) {
        self.cluster.kv().clock().advance(SECOND);
    }

    fn open(&self, uri: &str) -> Collection {
        Collection::open(uri, None, &open_options(Some(self.cluster.extern_dir()))).unwrap()
    }

    /// The folder of a `nodelocal://1/<name>` collection.
    fn root(&self, uri: &str) -> PathBuf {
        let name = uri.strip_prefix("nodelocal://1/").unwrap();
        self.cluster.extern_dir().join(name)
    }

    fn backup(&self, o: &BackupOptions) -> Result<BackupResult, Error> {
        backup::backup(&self.cluster, o, &mut |_| {})
    }
}

fn opts(targets: Targets, dest: Destination) -> BackupOptions {
    let mut o = BackupOptions::new(targets, dest);
    o.target_file_size = FILE_SIZE;
    o.block_size = 1024;
    o
}

fn full(uri: &str) -> BackupOptions {
    opts(Targets::Cluster, Destination::Into(uri.into()))
}

fn incremental(uri: &str) -> BackupOptions {
    opts(Targets::Cluster, Destination::IntoLatest(uri.into()))
}

/// The store a layer of `coll` is in.
fn layer_store(coll: &Collection, is_full: bool) -> &dyn vouch_store::Store {
    if is_full {
        coll.store.as_ref()
    } else {
        coll.incrementals.store.as_ref()
    }
}

/// Every chain of the collection reads: manifests decode and match their checksum files,
/// every listed file is present with its size and SHA-256. Returns the number of layers.
fn assert_collection_reads(coll: &Collection) -> usize {
    let mut layers = 0;
    for f in coll.full_backups().unwrap() {
        let chain = coll
            .chain(&f)
            .unwrap_or_else(|e| panic!("chain of {f}: {e}"));
        for l in &chain.layers {
            let store = layer_store(coll, l.is_full);
            for file in &l.manifest.files {
                let p = format!("{}/{}", l.dir, file.path);
                let bytes = store.get(&p).unwrap_or_else(|e| panic!("reading {p}: {e}"));
                assert_eq!(bytes.len() as u64, file.size, "{p}: size");
                assert_eq!(
                    Sha256::digest(&bytes).as_slice(),
                    file.sha256.as_slice(),
                    "{p}: sha256"
                );
            }
            layers += 1;
        }
    }
    layers
}

/// A layer's MVCC entries (user key, timestamp, stored value bytes), sorted, duplicates kept.
type Entries = Vec<(Vec<u8>, Timestamp, Vec<u8>)>;

fn layer_entries(coll: &Collection, l: &vouch_chain::Layer) -> Entries {
    let store = layer_store(coll, l.is_full);
    let mut out = Vec::new();
    for f in &l.manifest.files {
        let bytes = store.get(&format!("{}/{}", l.dir, f.path)).unwrap();
        let r = SstReader::open(bytes.as_slice()).unwrap();
        r.verify_scan().unwrap();
        for e in r.entries() {
            let (k, v) = e.unwrap();
            let (user, ts) = mvcc::decode_key(&k).unwrap();
            mvcc::decode_value(&k, &v).unwrap();
            out.push((user, ts, v));
        }
    }
    out.sort();
    out
}

/// The layer of `coll` in directory `dir`.
fn layer_at(coll: &Collection, dir: &str) -> vouch_chain::Layer {
    for f in coll.full_backups().unwrap() {
        for l in coll.chain(&f).unwrap().layers {
            if l.dir == dir {
                return l;
            }
        }
    }
    panic!("no complete layer at {dir}");
}

fn assert_unchanged(before: &BTreeMap<String, Vec<u8>>, root: &Path, what: &str) {
    eprintln!("checking: {what}");
    support::assert_nothing_overwritten(before, &snapshot(root));
}

/// The unfinished backup directories of a collection.
fn unfinished(coll: &Collection) -> Vec<String> {
    let objects = coll.store.list("").unwrap();
    Listing::new(objects.iter().map(|o| o.path.as_str())).unfinished()
}

/// The lock of the (single) job in `dir`.
fn lock_of(coll: &Collection, dir: &str) -> pb::BackupJob {
    let objects = coll.store.list(&format!("{dir}/")).unwrap();
    let locks: Vec<&str> = objects
        .iter()
        .map(|o| o.path.as_str())
        .filter(|p| {
            p.rsplit('/')
                .next()
                .is_some_and(|n| layout::parse_lock_name(n).is_ok())
        })
        .collect();
    assert_eq!(locks.len(), 1, "locks in {dir}: {locks:?}");
    decode_canonical(&coll.store.get(locks[0]).unwrap(), "lock").unwrap()
}

fn ts_of(t: Option<pb::Timestamp>) -> Timestamp {
    Timestamp::from(t.unwrap())
}

/// Checkpoints present in `dir`, by sequence number.
fn checkpoints(coll: &Collection, dir: &str) -> Vec<(u64, pb::Checkpoint)> {
    let objects = coll.store.list(&format!("{dir}/")).unwrap();
    let mut v: Vec<(u64, pb::Checkpoint)> = objects
        .iter()
        .filter_map(|o| {
            let rest = o.path.strip_prefix(&format!("{dir}/"))?;
            let seq = layout::parse_checkpoint_name(rest).ok()?;
            let cp = decode_canonical(&coll.store.get(&o.path).unwrap(), "checkpoint").unwrap();
            Some((seq, cp))
        })
        .collect();
    v.sort_by_key(|(s, _)| *s);
    v
}

fn show_paths(coll: &Collection) -> Vec<String> {
    show::show_backups(coll)
        .unwrap()
        .rows
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect()
}

/// What a failed run must leave: an unfinished directory (exactly one new one), no manifest
/// in it, earlier backups intact and readable, SHOW BACKUPS without it. Returns the
/// directory and its job lock.
fn check_failed_run(
    coll: &Collection,
    root: &Path,
    before: &BTreeMap<String, Vec<u8>>,
    layers_before: usize,
    shown_before: &[String],
) -> (String, pb::BackupJob) {
    assert_unchanged(before, root, "a failed run");
    let dirs = unfinished(coll);
    assert_eq!(dirs.len(), 1, "unfinished directories: {dirs:?}");
    let dir = dirs[0].clone();
    assert!(
        coll.store
            .size(&format!("{dir}/{}", layout::MANIFEST))
            .unwrap()
            .is_none(),
        "{dir}: a manifest exists after a failed run"
    );
    assert_eq!(assert_collection_reads(coll), layers_before);
    assert_eq!(show_paths(coll), shown_before);
    assert!(!show_paths(coll).contains(&layout::display_subdir(&dir)));
    let job = lock_of(coll, &dir);
    (dir, job)
}

/// A reference backup of the same cluster: same kind, `as_of` the given end time, into
/// the reference collection; returns its layer.
fn reference(env: &Env, o: &BackupOptions, end: Timestamp) -> (Collection, vouch_chain::Layer) {
    let mut r = o.clone();
    r.faults = Faults::default();
    r.as_of = Some(end.to_string());
    let res = env.backup(&r).unwrap();
    assert!(!res.resumed);
    assert_eq!(res.end_time, end);
    let coll = env.open(r.destination.uri());
    let l = layer_at(&coll, &res.path);
    (coll, l)
}

/// Compares a layer with its uninterrupted reference: MVCC entries, fingerprints, spans,
/// times, counters.
fn assert_same_backup(
    coll: &Collection,
    l: &vouch_chain::Layer,
    ref_coll: &Collection,
    r: &vouch_chain::Layer,
    what: &str,
) {
    let got = layer_entries(coll, l);
    let want = layer_entries(ref_coll, r);
    assert!(!want.is_empty(), "{what}: the reference is empty");
    assert_eq!(got.len(), want.len(), "{what}: entry count");
    assert!(got == want, "{what}: entries differ");
    let (m, rm) = (&l.manifest, &r.manifest);
    assert_eq!(m.fingerprints, rm.fingerprints, "{what}: fingerprints");
    assert_eq!(m.start_time, rm.start_time, "{what}: start");
    assert_eq!(m.end_time, rm.end_time, "{what}: end");
    assert_eq!(m.spans, rm.spans, "{what}: spans");
    assert_eq!(
        m.introduced_spans, rm.introduced_spans,
        "{what}: introduced spans"
    );
    assert_eq!(m.descriptors, rm.descriptors, "{what}: descriptors");
    assert_eq!(
        m.descriptor_changes, rm.descriptor_changes,
        "{what}: descriptor changes"
    );
    assert_eq!(m.mvcc_filter, rm.mvcc_filter, "{what}: mvcc filter");
    assert_eq!(
        m.revision_start_time, rm.revision_start_time,
        "{what}: revision start"
    );
    let sum = |m: &pb::BackupManifest| {
        m.files
            .iter()
            .map(|f| (f.entries, f.rows, f.tombstones, f.logical_bytes))
            .fold((0, 0, 0, 0), |a, b| {
                (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3)
            })
    };
    assert_eq!(sum(m), sum(rm), "{what}: file counters");
}

/// The faults to try on a backup of `files` data files.
fn faults_for(files: u64) -> Vec<Faults> {
    let mut v: Vec<Faults> = (1..=files)
        .map(|n| Faults {
            after_files: Some(n),
            ..Faults::default()
        })
        .collect();
    v.push(Faults {
        before_manifest: true,
        ..Faults::default()
    });
    v
}

/// Runs one failed-then-resumed backup and checks everything; returns the rerun's result.
fn crash_and_resume(env: &Env, o: &BackupOptions, fault: Faults, ref_uri: &str) -> BackupResult {
    let what = format!("{:?} with {fault:?}", o.destination);
    let uri = o.destination.uri();
    let coll = env.open(uri);
    let root = env.root(uri);
    let before = snapshot(&root);
    let layers_before = assert_collection_reads(&coll);
    let shown_before = show_paths(&coll);
    let latest_before = coll.latest().ok();

    env.tick();
    let mut failing = o.clone();
    failing.faults = fault;
    match env.backup(&failing) {
        Err(Error::Injected(_)) => {}
        other => panic!("{what}: expected an injected fault, got {other:?}"),
    }
    let (dir, job) = check_failed_run(&coll, &root, &before, layers_before, &shown_before);
    assert_eq!(coll.latest().ok(), latest_before, "{what}: LATEST moved");
    let failed = snapshot(&root);
    let cps = checkpoints(&coll, &dir);
    if let Some(n) = fault.after_files {
        assert_eq!(cps.len() as u64, n, "{what}: checkpoints");
        let (_, newest) = cps.last().unwrap();
        assert_eq!(newest.files.len() as u64, n);
        assert_eq!(newest.job_id, job.job_id);
    }

    // The rerun: same options, no faults. Time has moved on and the data changed; the end
    // time has not.
    env.tick();
    env.write_some();
    let r = env
        .backup(o)
        .unwrap_or_else(|e| panic!("{what}: rerun: {e}"));
    assert!(r.resumed, "{what}: the rerun did not resume");
    assert_eq!(r.job_id, job.job_id, "{what}: job");
    assert_eq!(r.end_time, ts_of(job.end_time), "{what}: end time");
    assert_eq!(r.start_time, ts_of(job.start_time), "{what}: start time");
    assert_eq!(r.path, dir, "{what}: directory");
    assert_unchanged(&failed, &root, &format!("{what}: the rerun"));
    assert!(unfinished(&coll).is_empty(), "{what}: still unfinished");
    assert_eq!(assert_collection_reads(&coll), layers_before + 1);
    if r.incremental {
        assert_eq!(show_paths(&coll), shown_before);
    } else {
        let mut want = shown_before.clone();
        want.push(layout::display_subdir(&dir));
        assert_eq!(show_paths(&coll), want);
        assert_eq!(coll.latest().unwrap(), dir, "{what}: LATEST");
    }

    let l = layer_at(&coll, &dir);
    assert_eq!(l.manifest.files.len() as u64, r.files);
    // The resumed layer, spliced from two runs, passes RocksDB's own check file by file.
    support::rocksdb_verify_data_dir(&root.join(&dir), l.manifest.files.len());
    let (ref_coll, rl) = reference(env, &o_for_reference(o, ref_uri), r.end_time);
    assert_same_backup(&coll, &l, &ref_coll, &rl, &what);
    let total = |m: &pb::BackupManifest| m.files.iter().map(|f| f.size).sum::<u64>();
    assert_eq!(r.file_bytes, total(&l.manifest));
    r
}

/// The options of the reference backup: the same backup into `ref_uri`.
fn o_for_reference(o: &BackupOptions, ref_uri: &str) -> BackupOptions {
    let mut r = o.clone();
    r.destination = match &o.destination {
        Destination::Into(_) => Destination::Into(ref_uri.into()),
        Destination::IntoLatest(_) => Destination::IntoLatest(ref_uri.into()),
        Destination::IntoSubdir(s, _) => Destination::IntoSubdir(s.clone(), ref_uri.into()),
        Destination::To {
            incremental_from, ..
        } => Destination::To {
            uri: ref_uri.into(),
            incremental_from: incremental_from.clone(),
        },
    };
    r
}

/// Full backups: every fault, each followed by a resumed rerun; the collection keeps
/// every earlier backup readable throughout.
#[test]
fn full_backup_resumes_after_every_fault() {
    let env = Env::new(Workload::Bank, 300);
    let uri = "nodelocal://1/full";
    let ref_uri = "nodelocal://1/full-ref";
    // An uninterrupted first backup, to learn how many files a backup has.
    let first = env.backup(&full(uri)).unwrap();
    assert!(!first.resumed);
    assert!(first.files >= 4, "want several files, got {}", first.files);
    for fault in faults_for(first.files) {
        crash_and_resume(&env, &full(uri), fault, ref_uri);
    }
}

/// Incrementals (with changes, tombstones and a schema change between layers): every
/// fault, each followed by a resumed rerun.
#[test]
fn incremental_backup_resumes_after_every_fault() {
    let env = Env::new(Workload::Bank, 300);
    let uri = "nodelocal://1/inc";
    let ref_uri = "nodelocal://1/inc-ref";
    // Mirrored full backups: the reference chain must start where the real one does.
    let f = env.backup(&full(uri)).unwrap();
    let mut rf = full(ref_uri);
    rf.as_of = Some(f.end_time.to_string());
    env.backup(&rf).unwrap();

    workload::run(&env.cluster, Workload::Bank, 400, 3).unwrap();
    env.tick();
    let probe = env.backup(&incremental(uri)).unwrap();
    let mut rp = incremental(ref_uri);
    rp.as_of = Some(probe.end_time.to_string());
    env.backup(&rp).unwrap();
    assert!(probe.files >= 3, "want several files, got {}", probe.files);

    for (i, fault) in faults_for(probe.files.min(4)).into_iter().enumerate() {
        workload::run(&env.cluster, Workload::Bank, 400, 10 + i as u64).unwrap();
        let r = crash_and_resume(&env, &incremental(uri), fault, ref_uri);
        assert!(r.incremental);
    }
}

/// Revision history, full and incremental, with a fault in the middle of each.
#[test]
fn revision_history_backups_resume() {
    let env = Env::new(Workload::Movr, 60);
    workload::run(&env.cluster, Workload::Movr, 150, 1).unwrap();
    let uri = "nodelocal://1/rh";
    let ref_uri = "nodelocal://1/rh-ref";
    let mut o = full(uri);
    o.revision_history = true;
    let fault = Faults {
        after_files: Some(2),
        ..Faults::default()
    };
    let r = crash_and_resume(&env, &o, fault, ref_uri);
    assert!(r.files > 2);
    workload::run(&env.cluster, Workload::Movr, 150, 2).unwrap();
    let mut o = incremental(uri);
    o.revision_history = true;
    let r = crash_and_resume(&env, &o, fault, ref_uri);
    assert!(r.files > 2, "{} files", r.files);
}

/// `before_latest` on a full backup: the backup directory is complete (manifest and
/// checksum written) but LATEST still names the previous full backup. A rerun finishes the
/// same backup: LATEST moves to it, and no second directory is written.
#[test]
fn full_backup_failing_before_latest() {
    let env = Env::new(Workload::Bank, 200);
    let uri = "nodelocal://1/bl";
    let first = env.backup(&full(uri)).unwrap();
    let coll = env.open(uri);
    let root = env.root(uri);
    let before = snapshot(&root);
    env.tick();
    let mut o = full(uri);
    o.faults.before_latest = true;
    match env.backup(&o) {
        Err(Error::Injected(_)) => {}
        other => panic!("expected an injected fault, got {other:?}"),
    }
    assert_unchanged(&before, &root, "a failed run");
    // Complete, but not LATEST.
    let fulls = coll.full_backups().unwrap();
    assert_eq!(fulls.len(), 2, "{fulls:?}");
    let dir = fulls[1].clone();
    assert_eq!(coll.latest().unwrap(), first.path, "LATEST moved");
    assert!(unfinished(&coll).is_empty());
    assert_eq!(assert_collection_reads(&coll), 2);
    let job = lock_of(&coll, &dir);
    let failed = snapshot(&root);

    env.tick();
    let r = env.backup(&full(uri)).unwrap();
    assert_unchanged(&failed, &root, "the rerun");
    assert_eq!(
        coll.full_backups().unwrap(),
        vec![first.path.clone(), dir.clone()],
        "the rerun wrote another full backup instead of finishing {dir}"
    );
    assert!(r.resumed);
    assert_eq!(r.path, dir);
    assert_eq!(r.job_id, job.job_id);
    assert_eq!(r.end_time, ts_of(job.end_time));
    assert_eq!(coll.latest().unwrap(), dir, "LATEST");
    assert_eq!(assert_collection_reads(&coll), 2);
    // And LATEST-based incrementals extend it.
    workload::run(&env.cluster, Workload::Bank, 50, 1).unwrap();
    env.tick();
    let inc = env.backup(&incremental(uri)).unwrap();
    assert_eq!(inc.full_subdir, dir);
}

/// The very first full backup of a collection failing before LATEST: there is no LATEST
/// yet, and a rerun writes it.
#[test]
fn first_full_backup_failing_before_latest() {
    let env = Env::new(Workload::Bank, 100);
    let uri = "nodelocal://1/bl1";
    let coll = env.open(uri);
    let mut o = full(uri);
    o.faults.before_latest = true;
    assert!(matches!(env.backup(&o), Err(Error::Injected(_))));
    assert!(
        coll.latest().is_err(),
        "LATEST exists after failing before it"
    );
    let fulls = coll.full_backups().unwrap();
    assert_eq!(fulls.len(), 1);
    env.tick();
    let r = env.backup(&full(uri)).unwrap();
    assert_eq!(
        coll.full_backups().unwrap(),
        fulls,
        "a second full backup was written"
    );
    assert!(r.resumed);
    assert_eq!(coll.latest().unwrap(), fulls[0]);
    assert_eq!(
        coll.store.get(layout::LATEST).unwrap(),
        format!("/{}", fulls[0]).into_bytes()
    );
}

/// An incremental has no LATEST step: `before_latest` does not stop it.
#[test]
fn before_latest_does_not_apply_to_incrementals() {
    let env = Env::new(Workload::Bank, 100);
    let uri = "nodelocal://1/bli";
    env.backup(&full(uri)).unwrap();
    workload::run(&env.cluster, Workload::Bank, 50, 1).unwrap();
    env.tick();
    let mut o = incremental(uri);
    o.faults.before_latest = true;
    let r = env.backup(&o).unwrap();
    assert!(r.incremental && !r.resumed);
    let coll = env.open(uri);
    assert_eq!(assert_collection_reads(&coll), 2);
}

/// A checkpoint that lists a file that is gone (deleted behind vouch's back) is skipped in
/// favour of an older one; the rerun still produces a correct backup.
#[test]
fn checkpoint_listing_a_missing_file_is_skipped() {
    for victim in ["last", "middle"] {
        let env = Env::new(Workload::Bank, 300);
        let uri = "nodelocal://1/cp";
        let ref_uri = "nodelocal://1/cp-ref";
        let coll = env.open(uri);
        let root = env.root(uri);
        let mut o = full(uri);
        o.faults.after_files = Some(3);
        assert!(matches!(env.backup(&o), Err(Error::Injected(_))));
        let dir = unfinished(&coll).pop().unwrap();
        let job = lock_of(&coll, &dir);
        let cps = checkpoints(&coll, &dir);
        assert_eq!(cps.len(), 3);
        // Remove a data file: the newest checkpoint (and, for the middle file, the one
        // before it too) no longer describes what is stored.
        let n = if victim == "last" { 3 } else { 2 };
        let gone = cps[2].1.files[n - 1].path.clone();
        std::fs::remove_file(root.join(&dir).join(&gone)).unwrap();
        let left = snapshot(&root);

        env.tick();
        let r = env
            .backup(&full(uri))
            .unwrap_or_else(|e| panic!("{victim}: rerun: {e}"));
        assert!(r.resumed, "{victim}");
        assert_eq!(r.job_id, job.job_id);
        assert_eq!(r.path, dir);
        assert_unchanged(&left, &root, victim);
        let l = layer_at(&coll, &dir);
        for f in &l.manifest.files {
            assert!(
                coll.store
                    .size(&format!("{dir}/{}", f.path))
                    .unwrap()
                    .is_some(),
                "{victim}: the manifest lists {} which is not stored",
                f.path
            );
        }
        assert_eq!(assert_collection_reads(&coll), 1);
        let (ref_coll, rl) = reference(&env, &full(ref_uri), r.end_time);
        assert_same_backup(&coll, &l, &ref_coll, &rl, victim);
    }
}

/// Changing the options means another backup: no resume, a new job in a new directory, and
/// the unfinished one is left exactly as it was.
#[test]
fn different_options_do_not_resume() {
    let env = Env::new(Workload::Bank, 200);
    let uri = "nodelocal://1/diff";
    let coll = env.open(uri);
    let root = env.root(uri);
    let mut o = full(uri);
    o.faults.after_files = Some(1);
    assert!(matches!(env.backup(&o), Err(Error::Injected(_))));
    let dir = unfinished(&coll).pop().unwrap();
    let job = lock_of(&coll, &dir);
    let left = snapshot(&root);

    let variants: Vec<(&str, BackupOptions)> = vec![
        (
            "targets",
            opts(
                Targets::Databases(vec!["bank".into()]),
                Destination::Into(uri.into()),
            ),
        ),
        ("revision_history", {
            let mut v = full(uri);
            v.revision_history = true;
            v
        }),
        ("target_file_size", {
            let mut v = full(uri);
            v.target_file_size = FILE_SIZE * 2;
            v
        }),
    ];
    let mut dirs = vec![dir.clone()];
    for (what, v) in variants {
        env.tick();
        let r = env.backup(&v).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(!r.resumed, "{what}: resumed another backup's job");
        assert_ne!(r.job_id, job.job_id, "{what}");
        assert!(!dirs.contains(&r.path), "{what}: reused {}", r.path);
        dirs.push(r.path.clone());
        assert_unchanged(&left, &root, what);
        assert_eq!(unfinished(&coll), vec![dir.clone()], "{what}");
    }
    // The original options still resume the original job.
    env.tick();
    let r = env.backup(&full(uri)).unwrap();
    assert!(r.resumed);
    assert_eq!((r.job_id, r.path.as_str()), (job.job_id, dir.as_str()));
    assert!(unfinished(&coll).is_empty());
    assert_eq!(assert_collection_reads(&coll), 4);
}

/// A second failure during the resumed run: the rerun of the rerun resumes again, from the
/// newest checkpoint, and the result is still exact.
#[test]
fn resume_survives_repeated_failures() {
    let env = Env::new(Workload::Bank, 300);
    let uri = "nodelocal://1/rep";
    let coll = env.open(uri);
    let mut o = full(uri);
    o.faults.after_files = Some(1);
    assert!(matches!(env.backup(&o), Err(Error::Injected(_))));
    let dir = unfinished(&coll).pop().unwrap();
    let job = lock_of(&coll, &dir);
    for n in [3, 5] {
        env.tick();
        o.faults.after_files = Some(n);
        match env.backup(&o) {
            Err(Error::Injected(_)) => {}
            other => panic!("after {n}: {other:?}"),
        }
        assert_eq!(unfinished(&coll), vec![dir.clone()]);
        assert_eq!(checkpoints(&coll, &dir).len(), n as usize);
    }
    env.tick();
    o.faults.before_manifest = true;
    o.faults.after_files = None;
    assert!(matches!(env.backup(&o), Err(Error::Injected(_))));
    env.tick();
    let r = env.backup(&full(uri)).unwrap();
    assert!(r.resumed);
    assert_eq!(r.job_id, job.job_id);
    let l = layer_at(&coll, &dir);
    let (ref_coll, rl) = reference(&env, &full("nodelocal://1/rep-ref"), r.end_time);
    assert_same_backup(&coll, &l, &ref_coll, &rl, "repeated failures");
}

/// A crash between publishing a data file and writing its checkpoint leaves a data file no
/// checkpoint lists. The rerun resumes from the newest checkpoint, does not trip over the
/// name (objects are write-once) and does not list the stray file.
#[test]
fn data_file_without_checkpoint_is_left_alone() {
    let env = Env::new(Workload::Bank, 300);
    let uri = "nodelocal://1/stray";
    let coll = env.open(uri);
    let root = env.root(uri);
    let mut o = full(uri);
    o.faults.after_files = Some(2);
    assert!(matches!(env.backup(&o), Err(Error::Injected(_))));
    let dir = unfinished(&coll).pop().unwrap();
    // What a crash right after publishing the third file (before its checkpoint) leaves.
    // Its content does not matter: nothing may read it.
    let stray = layout::data_file(3);
    coll.store
        .put_new(&format!("{dir}/{stray}"), b"not an sst")
        .unwrap();
    let left = snapshot(&root);
    env.tick();
    let r = env.backup(&full(uri)).unwrap();
    assert!(r.resumed);
    assert_eq!(r.path, dir);
    assert_unchanged(&left, &root, "the rerun");
    let l = layer_at(&coll, &dir);
    assert!(
        !l.manifest.files.iter().any(|f| f.path == stray),
        "the manifest lists the stray {stray}"
    );
    assert_eq!(assert_collection_reads(&coll), 1);
    let (ref_coll, rl) = reference(&env, &full("nodelocal://1/stray-ref"), r.end_time);
    assert_same_backup(&coll, &l, &ref_coll, &rl, "stray data file");
}

/// GC runs while a full backup with revision history is unfinished. The job's protected
/// timestamp keeps every version (it reads all history from the GC threshold on), so the
/// rerun finds the history, revision start time and manifest of the run it resumes.
#[test]
fn gc_between_failure_and_rerun_of_a_revision_history_full_backup() {
    for fault in [
        Faults {
            after_files: Some(2),
            ..Faults::default()
        },
        Faults {
            before_manifest: true,
            ..Faults::default()
        },
    ] {
        let env = Env::new(Workload::Bank, 200);
        workload::run(&env.cluster, Workload::Bank, 300, 1).unwrap();
        env.tick();
        let uri = "nodelocal://1/gc";
        let coll = env.open(uri);
        let mut o = full(uri);
        o.revision_history = true;
        let mut failing = o.clone();
        failing.faults = fault;
        assert!(matches!(env.backup(&failing), Err(Error::Injected(_))));
        let dir = unfinished(&coll).pop().unwrap();
        let job = lock_of(&coll, &dir);

        // Ten hours later (the default GC TTL is four), GC runs.
        env.cluster.kv().clock().advance(10 * 3600 * SECOND);
        let removed = env.cluster.kv().gc(env.cluster.now()).unwrap();
        assert_eq!(
            removed, 0,
            "{fault:?}: GC removed history the unfinished job reads"
        );

        let r = env
            .backup(&o)
            .unwrap_or_else(|e| panic!("{fault:?}: rerun: {e}"));
        assert!(r.resumed && r.job_id == job.job_id, "{fault:?}");
        let l = layer_at(&coll, &dir);
        let mut ro = full("nodelocal://1/gc-ref");
        ro.revision_history = true;
        let (rc, rl) = reference(&env, &ro, r.end_time);
        assert_same_backup(&coll, &l, &rc, &rl, &format!("{fault:?}"));
    }
}

/// When the history under an unfinished job did change (here: its protected timestamp is
/// moved to its end time, and GC runs), the manifest the rerun computes differs from the
/// checksum file the failed run wrote. The rerun must refuse rather than publish a manifest
/// that fails its own checksum.
#[test]
fn rerun_refuses_a_manifest_other_than_the_checksummed_one() {
    let env = Env::new(Workload::Bank, 200);
    workload::run(&env.cluster, Workload::Bank, 300, 1).unwrap();
    env.tick();
    let uri = "nodelocal://1/sum";
    let coll = env.open(uri);
    let mut o = full(uri);
    o.revision_history = true;
    let mut failing = o.clone();
    failing.faults.before_manifest = true;
    assert!(matches!(env.backup(&failing), Err(Error::Injected(_))));
    let dir = unfinished(&coll).pop().unwrap();
    let job = lock_of(&coll, &dir);
    let kv = env.cluster.kv();
    kv.protect(job.job_id, ts_of(job.end_time)).unwrap();
    kv.clock().advance(10 * 3600 * SECOND);
    assert!(kv.gc(env.cluster.now()).unwrap() > 0);
    let left = snapshot(&env.root(uri));

    let e = env.backup(&o).unwrap_err();
    assert_eq!(e.kind(), vouch_engine::ErrorKind::ResumeConflict, "{e}");
    assert_unchanged(&left, &env.root(uri), "the refused rerun");
    assert!(coll.full_backups().unwrap().is_empty());
    assert_eq!(unfinished(&coll), vec![dir]);
}

/// A backup asked to stop (`BackupOptions::stop`) ends after a data file's checkpoint with
/// `ErrorKind::Stopped`, leaving no complete backup; the same request run again resumes
/// from that checkpoint and completes (how `vouch scheduler` stops between files).
#[test]
fn a_backup_asked_to_stop_stops_after_a_checkpoint_and_resumes() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let env = Env::new(Workload::Bank, 300);
    let uri = "nodelocal://1/stop";
    let stop = Arc::new(AtomicBool::new(true));
    let mut o = full(uri);
    o.stop = Some(Arc::clone(&stop));
    env.tick();
    let e = env.backup(&o).unwrap_err();
    assert_eq!(e.kind(), vouch_engine::ErrorKind::Stopped, "{e}");
    let coll = env.open(uri);
    assert!(coll.full_backups().unwrap().is_empty());
    let dirs = unfinished(&coll);
    assert_eq!(dirs.len(), 1);
    assert_eq!(checkpoints(&coll, &dirs[0]).len(), 1);
    stop.store(false, Ordering::SeqCst);
    env.tick();
    let r = env.backup(&o).unwrap();
    assert!(r.resumed);
    assert_eq!(r.path, dirs[0]);
    assert!(r.files >= 2, "{} files", r.files);
    assert!(unfinished(&coll).is_empty());
    assert_eq!(assert_collection_reads(&coll), 1);
}

// ---- the checkpoint schedule (spec/backup.md §7.3) ----------------------------------

/// The files after which a backup of `n` data files writes its checkpoints, when the
/// files since the newest checkpoint must reach `max(1, k / divisor)` after the `k`-th
/// file (16: the count rule; 64: the time rule when its interval has always passed), and
/// after the last file. Written out here independently of the engine.
fn checkpointed_after(n: u64, divisor: u64) -> Vec<u64> {
    let (mut out, mut last) = (Vec::new(), 0);
    for k in 1..=n {
        if k - last >= std::cmp::max(1, k / divisor) {
            out.push(k);
            last = k;
        }
    }
    if last != n {
        out.push(n);
    }
    out
}

/// Options for a backup of one user key per data file (`target_file_size` 1).
fn many_files(uri: &str, interval: std::time::Duration) -> BackupOptions {
    let mut o = full(uri);
    o.target_file_size = 1;
    o.checkpoint_interval = interval;
    o
}

/// The objects of `dir` whose name inside it `is` accepts.
fn objects_in(coll: &Collection, dir: &str, is: impl Fn(&str) -> bool) -> Vec<String> {
    coll.store
        .list(&format!("{dir}/"))
        .unwrap()
        .into_iter()
        .filter(|o| o.path.strip_prefix(&format!("{dir}/")).is_some_and(&is))
        .map(|o| o.path)
        .collect()
}

/// The stored bytes of every checkpoint in `dir`.
fn checkpoint_bytes(coll: &Collection, dir: &str) -> u64 {
    objects_in(coll, dir, |r| layout::parse_checkpoint_name(r).is_ok())
        .iter()
        .map(|p| coll.store.size(p).unwrap().unwrap())
        .sum()
}

/// A backup of hundreds of small data files writes far fewer checkpoints than files, on
/// the schedule's exact files, and its checkpoint bytes grow linearly: with the count rule
/// alone (the interval never passes) and with the time rule always due (a zero interval).
#[test]
fn many_small_files_write_checkpoints_at_a_bounded_rate() {
    use prost::Message;
    let env = Env::new(Workload::Bank, 300);
    // (name, interval, divisor, records listed per file at most, checkpoints per file at
    // most as a fraction, how many times fewer bytes than one checkpoint per file at
    // least: at 300 files the time rule's spacing is still 4 files)
    for (name, interval, divisor, per_file, share, fewer) in [
        ("count", std::time::Duration::MAX, 16, 19, (1, 4), 4),
        ("time", std::time::Duration::ZERO, 64, 72, (2, 3), 1),
    ] {
        let uri = format!("nodelocal://1/many-{name}");
        env.tick();
        let r = env.backup(&many_files(&uri, interval)).unwrap();
        let n = r.files;
        assert!(n >= 300, "{name}: {n} data files");
        let coll = env.open(&uri);
        let l = layer_at(&coll, &r.path);
        let cps = checkpoints(&coll, &r.path);
        let want = checkpointed_after(n, divisor);
        assert_eq!(
            cps.iter()
                .map(|(_, cp)| cp.files.len() as u64)
                .collect::<Vec<_>>(),
            want,
            "{name}: the files each checkpoint lists"
        );
        assert!(
            cps.len() as u64 * share.1 < n * share.0,
            "{name}: {} checkpoints for {n} files",
            cps.len()
        );
        for (i, (seq, cp)) in cps.iter().enumerate() {
            assert_eq!(*seq, i as u64 + 1, "{name}: sequence");
            assert_eq!(cp.job_id, r.job_id);
            assert_eq!(cp.files[..], l.manifest.files[..cp.files.len()], "{name}");
        }
        // The last checkpoint, before the manifest, lists every file and the counters.
        let (_, last) = cps.last().unwrap();
        assert_eq!(last.files, l.manifest.files, "{name}: the last checkpoint");
        assert_eq!(
            (last.rows, last.index_entries, last.bytes),
            (r.rows, r.index_entries, r.bytes)
        );
        // Bytes: at most `per_file` × n records of the largest size, and a fixed part per
        // checkpoint no larger than the last one's beyond its records; one checkpoint per
        // file would list n (n + 1) / 2 records.
        let record = l
            .manifest
            .files
            .iter()
            .map(|f| f.encoded_len() as u64 + 3)
            .max()
            .unwrap();
        let listed: u64 = want.iter().sum();
        assert!(
            listed <= per_file * n,
            "{name}: {listed} records for {n} files"
        );
        let fixed = last.encoded_len() as u64
            - last
                .files
                .iter()
                .map(|f| f.encoded_len() as u64 + 2)
                .sum::<u64>();
        let total = checkpoint_bytes(&coll, &r.path);
        assert!(
            total <= per_file * n * record + cps.len() as u64 * fixed,
            "{name}: {total} checkpoint bytes for {n} files of records up to {record} bytes"
        );
        let quadratic = n * (n + 1) / 2 * (record - 40);
        assert!(
            total * fewer < quadratic,
            "{name}: {total} checkpoint bytes, one per file would be over {quadratic}"
        );
        eprintln!(
            "{name}: {n} files, {} checkpoints, {total} bytes (record ≤ {record}, fixed {fixed})",
            cps.len()
        );
    }
}

/// A many-file backup stopped after a data file that no checkpoint lists (files past the
/// newest checkpoint are left behind), then run again: it resumes from the newest
/// checkpoint, numbers its files after the leftovers, lists none of them, and the result is
/// exactly the uninterrupted backup (entries, fingerprints, SHA-256s, RocksDB's check) and
/// restores with the source's fingerprints; the earlier backup is untouched.
#[test]
fn many_file_backup_resumes_after_files_past_its_newest_checkpoint() {
    let env = Env::new(Workload::Bank, 300);
    let uri = "nodelocal://1/past";
    let never = std::time::Duration::MAX;
    let earlier = env.backup(&many_files(uri, never)).unwrap();
    let n = earlier.files;
    assert!(n >= 300, "{n} data files");
    // The fault: after a file the schedule writes no checkpoint for, several files past
    // the newest one.
    let plan = checkpointed_after(n, 16);
    let at = (100..n)
        .find(|k| !plan.contains(k) && !plan.contains(&(k - 1)))
        .unwrap();
    let newest = *plan.iter().take_while(|k| **k < at).last().unwrap();
    assert!(at - newest >= 2, "{newest} {at}");

    let coll = env.open(uri);
    let root = env.root(uri);
    let before = snapshot(&root);
    let shown_before = show_paths(&coll);
    env.tick();
    let mut failing = many_files(uri, never);
    failing.faults.after_files = Some(at);
    match env.backup(&failing) {
        Err(Error::Injected(_)) => {}
        other => panic!("expected an injected fault, got {other:?}"),
    }
    let (dir, job) = check_failed_run(&coll, &root, &before, 1, &shown_before);
    assert_eq!(coll.latest().unwrap(), earlier.path, "LATEST moved");
    let cps = checkpoints(&coll, &dir);
    assert_eq!(
        cps.iter()
            .map(|(_, cp)| cp.files.len() as u64)
            .collect::<Vec<_>>(),
        plan.iter()
            .copied()
            .take_while(|k| *k < at)
            .collect::<Vec<_>>()
    );
    let data: Vec<u64> = coll
        .store
        .list(&format!("{dir}/"))
        .unwrap()
        .iter()
        .filter_map(|o| layout::parse_data_file(o.path.strip_prefix(&format!("{dir}/"))?).ok())
        .collect();
    assert_eq!(data.len() as u64, at, "data files written");
    assert_eq!(data.iter().max(), Some(&at));
    let leftovers: Vec<String> = (newest + 1..=at).map(layout::data_file).collect();
    let failed = snapshot(&root);

    // The rerun: time moved on and the data changed; the end time has not.
    env.tick();
    env.write_some();
    let r = env.backup(&many_files(uri, never)).unwrap();
    assert!(r.resumed);
    assert_eq!((r.job_id, r.path.as_str()), (job.job_id, dir.as_str()));
    assert_eq!(r.end_time, ts_of(job.end_time));
    assert_unchanged(&failed, &root, "the rerun");
    assert_unchanged(&before, &root, "the earlier backup");
    assert!(unfinished(&coll).is_empty());
    assert_eq!(assert_collection_reads(&coll), 2);
    assert_eq!(coll.latest().unwrap(), dir);
    let l = layer_at(&coll, &dir);
    let (_, resumed_from) = cps.last().unwrap();
    assert_eq!(l.manifest.files[..newest as usize], resumed_from.files[..]);
    for f in &l.manifest.files[newest as usize..] {
        assert!(
            !leftovers.contains(&f.path),
            "the manifest lists the leftover {}",
            f.path
        );
        let num = layout::parse_data_file(&f.path).unwrap();
        assert!(num > at, "{} is not numbered after the leftovers", f.path);
    }
    for p in &leftovers {
        assert!(
            coll.store.size(&format!("{dir}/{p}")).unwrap().is_some(),
            "{p} deleted"
        );
    }
    support::rocksdb_verify_data_dir(&root.join(&dir), l.manifest.files.len());
    let (ref_coll, rl) = reference(
        &env,
        &many_files("nodelocal://1/past-ref", never),
        r.end_time,
    );
    assert_same_backup(
        &coll,
        &l,
        &ref_coll,
        &rl,
        "files past the newest checkpoint",
    );

    // It restores with the source's fingerprints at its end time.
    let tgt_dir = tempfile::tempdir().unwrap();
    let tgt = Cluster::init(
        &tgt_dir.path().join("t"),
        Clock::manual(env.cluster.now().wall + SECOND),
    )
    .unwrap();
    let mut ro = vouch_chain::RestoreOptions::new(
        Targets::Databases(vec!["bank".into()]),
        vouch_chain::Source::Collection {
            uri: format!("file://{}", root.display()),
            subdir: "LATEST".into(),
            incremental_location: None,
        },
    );
    ro.new_db_name = Some("restored".into());
    let rr = vouch_engine::restore::restore(&tgt, &ro, &mut |_| {}).unwrap();
    assert!(rr.fingerprints_checked > 0);
    let want = fps(&env.cluster, "bank", r.end_time);
    assert!(!want.is_empty());
    assert_eq!(fps(&tgt, "restored", tgt.now()), want);
}

/// A many-file backup asked to stop after a data file the schedule writes no checkpoint
/// for (how a job's pause or a scheduler's stop lands) writes a checkpoint of every file
/// before it stops, and the rerun resumes right there.
#[test]
fn a_many_file_backup_asked_to_stop_checkpoints_every_file_first() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let env = Env::new(Workload::Bank, 300);
    let uri = "nodelocal://1/stop-many";
    let never = std::time::Duration::MAX;
    let plan = checkpointed_after(400, 16);
    let at = (100..400).find(|k| !plan.contains(k)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut o = many_files(uri, never);
    o.stop = Some(Arc::clone(&stop));
    let mut files = 0;
    env.tick();
    let e = backup::backup(&env.cluster, &o, &mut |p| {
        if let backup::Progress::File { .. } = p {
            files += 1;
            if files == at {
                stop.store(true, Ordering::SeqCst);
            }
        }
    })
    .unwrap_err();
    assert_eq!(e.kind(), vouch_engine::ErrorKind::Stopped, "{e}");
    let coll = env.open(uri);
    let dir = unfinished(&coll).pop().unwrap();
    let cps = checkpoints(&coll, &dir);
    let mut want: Vec<u64> = plan.iter().copied().take_while(|k| *k < at).collect();
    want.push(at);
    assert_eq!(
        cps.iter()
            .map(|(_, cp)| cp.files.len() as u64)
            .collect::<Vec<_>>(),
        want
    );
    stop.store(false, Ordering::SeqCst);
    env.tick();
    let r = env.backup(&o).unwrap();
    assert!(r.resumed && r.path == dir);
    let l = layer_at(&coll, &dir);
    assert_eq!(
        l.manifest.files[..at as usize],
        cps.last().unwrap().1.files[..]
    );
    // No file was written twice: the data files stored are the manifest's.
    let data = objects_in(&coll, &dir, |r| layout::parse_data_file(r).is_ok()).len();
    assert_eq!(data, l.manifest.files.len());
    let (ref_coll, rl) = reference(
        &env,
        &many_files("nodelocal://1/stop-ref", never),
        r.end_time,
    );
    assert_same_backup(&coll, &l, &ref_coll, &rl, "stopped after an unlisted file");
}
