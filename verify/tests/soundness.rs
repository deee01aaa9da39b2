//! Soundness (issue 12): what `verify --level full` passes, restore restores exactly, and
//! the reverse. The reproductions on a movr collection (a full backup and a
//! revision-history incremental, the newest manifest rewritten consistently), each with
//! the exact finding kind verify reports and the exact error kind restore refuses with;
//! then the agreement test: every case of the corruption suite through `verify --level
//! full` and through restore (every chain at every layer end, and `LATEST`), checked
//! against the source cluster's own fingerprints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vouch_chain::{Collection, RestoreOptions, Source, Targets};
use vouch_cluster::workload::Workload;
use vouch_cluster::{Clock, Cluster};
use vouch_engine::restore;
use vouch_format::layout::{self, Listing, INCREMENTALS_DIR};
use vouch_format::manifest;
use vouch_format::mvcc::Timestamp;
use vouch_keys::KeySource;
use vouch_store::OpenOptions;
use vouch_testkit::chains::{revision_chains, SEC, T0};
use vouch_testkit::corrupt::{self, Case};
use vouch_testkit::tree::list_files;
use vouch_verify::{verify_collection, Level, Report, Severity, VerifyOptions};

/// A clean collection and the cluster that wrote it (the oracle: it keeps every version).
struct Built {
    tmp: tempfile::TempDir,
    root: PathBuf,
    source: Cluster,
}

/// Backups with revision history, the workload (with its schema changes) running between
/// them: `plan` lists the chains, each its number of incrementals.
fn build(w: Workload, seed: u64, plan: &[usize]) -> Built {
    build_keyed(w, seed, plan, &KeySource::default())
}

/// [`build`], every chain encrypted with `keys` when they are not empty.
fn build_keyed(w: Workload, seed: u64, plan: &[usize], keys: &KeySource) -> Built {
    let tmp = tempfile::tempdir().unwrap();
    let rows = match w {
        Workload::Bank => 200,
        Workload::Movr => 60,
    };
    let chains = revision_chains(tmp.path(), w, rows, seed, plan, keys);
    Built {
        tmp,
        root: chains.root,
        source: chains.cluster,
    }
}

fn verify(root: &Path, level: Level) -> Report {
    verify_keyed(root, level, &KeySource::default())
}

fn verify_keyed(root: &Path, level: Level, keys: &KeySource) -> Report {
    let uri = root.to_str().unwrap();
    let mut o = VerifyOptions::new(level);
    o.keys = keys.clone();
    verify_collection(uri, None, None, &OpenOptions::default(), &o, &mut |_| {})
        .unwrap_or_else(|e| panic!("verify {uri} at {level}: {e}"))
}

fn error_kinds(r: &Report) -> Vec<&'static str> {
    let mut k: Vec<&'static str> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.kind)
        .collect();
    k.sort_unstable();
    k.dedup();
    k
}

/// The case named `name` of the collection at `root`, applied to a copy.
fn damaged(b: &Built, name: &str) -> (Case, PathBuf) {
    let case = corrupt::cases(&b.root)
        .unwrap()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    let dst = b.tmp.path().join(name.replace('/', "-"));
    corrupt::apply(&case, &b.root, &dst).unwrap();
    (case, dst)
}

/// Per-index fingerprints of the user databases of `c` at `at`.
fn fingerprints(c: &Cluster, at: Timestamp) -> BTreeMap<(String, String, String), (u64, u64)> {
    c.fingerprints(at)
        .unwrap()
        .into_iter()
        .filter(|f| f.database != "system")
        .map(|f| ((f.database, f.table, f.index), (f.fingerprint, f.entries)))
        .collect()
}

/// One restore the agreement test runs: a chain (`subdir`, or `LATEST`) at a time.
#[derive(Debug, Clone)]
struct Restore {
    subdir: String,
    as_of: Option<Timestamp>,
    /// The time whose source rows it must give.
    time: Timestamp,
}

/// Every restore of a clean collection: each chain at each layer end, and `LATEST`.
fn restores(root: &Path) -> Vec<Restore> {
    let listing = Listing::new(list_files(root).unwrap());
    let mut out = Vec::new();
    let mut newest = None;
    for full in listing.full_backups() {
        let mut dirs = vec![full.clone()];
        dirs.extend(listing.incrementals(&full, INCREMENTALS_DIR));
        for d in dirs {
            let stored = std::fs::read(root.join(&d).join(layout::MANIFEST)).unwrap();
            let end = if vouch_chain::sealed::looks_sealed(&stored) {
                // Encrypted: the unencrypted listing says the layer's times.
                let l = std::fs::read(root.join(&d).join(layout::LISTING)).unwrap();
                let l = vouch_chain::sealed::decode_listing(&l, "listing").unwrap();
                Timestamp::from_pb(l.end_time)
            } else {
                Timestamp::from_pb(manifest::decode(&stored).unwrap().end_time)
            };
            out.push(Restore {
                subdir: layout::display_subdir(&full),
                as_of: Some(end),
                time: end,
            });
            newest = Some(end);
        }
    }
    out.push(Restore {
        subdir: "LATEST".into(),
        as_of: None,
        time: newest.unwrap(),
    });
    out
}

/// Runs one restore of the collection at `root` into a new cluster: `Ok` when it succeeds
/// with exactly the source's rows at its time, else what went wrong.
fn restore_exact(b: &Built, root: &Path, r: &Restore) -> Result<(), String> {
    restore_exact_keyed(b, root, r, &KeySource::default()).map_err(|(_, e)| e)
}

/// How one restore went: `Err` with the restore's kind when it refused, and what went wrong.
type Outcome = Result<(), (Option<vouch_engine::ErrorKind>, String)>;

/// [`restore_exact`] with `keys`; an error gives the restore's kind when it refused.
fn restore_exact_keyed(b: &Built, root: &Path, r: &Restore, keys: &KeySource) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let now = b.source.now();
    let target = Cluster::init(&dir.path().join("t"), Clock::manual(now.wall + SEC)).unwrap();
    let mut o = RestoreOptions::new(
        Targets::Cluster,
        Source::Collection {
            uri: root.to_str().unwrap().into(),
            subdir: r.subdir.clone(),
            incremental_location: None,
        },
    );
    o.as_of = r.as_of.map(|t| t.to_string());
    o.keys = keys.clone();
    let res = restore::restore(&target, &o, &mut |_| {})
        .map_err(|e| (Some(e.kind()), format!("refused ({:?}): {e}", e.kind())))?;
    let want = fingerprints(&b.source, r.time);
    let got = fingerprints(&target, res.published_at);
    if want != got {
        return Err((
            None,
            format!(
                "succeeded with other rows than the source's at {}: {} of {} indexes differ",
                r.time,
                want.iter().filter(|(k, v)| got.get(*k) != Some(*v)).count()
                    + got.len().saturating_sub(want.len()),
                want.len()
            ),
        ));
    }
    Ok(())
}

fn restore_kind(root: &Path, as_of: Option<Timestamp>) -> vouch_engine::ErrorKind {
    let dir = tempfile::tempdir().unwrap();
    let target = Cluster::init(&dir.path().join("t"), Clock::manual(T0 + 3600 * SEC)).unwrap();
    let mut o = RestoreOptions::new(
        Targets::Cluster,
        Source::Collection {
            uri: root.to_str().unwrap().into(),
            subdir: "LATEST".into(),
            incremental_location: None,
        },
    );
    o.as_of = as_of.map(|t| t.to_string());
    match restore::restore(&target, &o, &mut |_| {}) {
        Ok(r) => panic!("restore of {} succeeded: {r:?}", root.display()),
        Err(e) => e.kind(),
    }
}

fn data_mismatch() -> vouch_engine::ErrorKind {
    vouch_engine::ErrorKind::Read(vouch_chain::ErrorKind::DataMismatch)
}

/// The first reproduction: the newest manifest changes a DECIMAL column to FLOAT.
/// Rows written by the full backup and still live at the incremental's end no longer fit.
#[test]
fn a_column_type_changed_in_the_newest_manifest_is_found_and_refused() {
    let b = build(Workload::Movr, 1, &[1]);
    let (case, dst) = damaged(&b, "manifest-consistent/column-type");
    let corrupt::Action::EditManifest {
        edit: corrupt::ManifestEdit::ColumnType { to, .. },
        ..
    } = case.action
    else {
        panic!("{:?}", case.action)
    };
    assert_eq!(to, vouch_format::manifest::pb::ColumnType::Float as i32);
    for level in [Level::Metadata, Level::Schema] {
        let r = verify(&dst, level);
        assert!(error_kinds(&r).is_empty(), "{level}: {:?}", r.findings);
    }
    let r = verify(&dst, Level::Full);
    assert!(
        error_kinds(&r).contains(&"row_schema_mismatch"),
        "{:?}",
        error_kinds(&r)
    );
    assert_ne!(r.exit_code(), 0);
    assert_eq!(restore_kind(&dst, None), data_mismatch());
}

/// The second: a secondary index marked unique while its entries hold duplicates.
#[test]
fn a_unique_index_with_duplicates_is_found_and_refused() {
    let b = build(Workload::Movr, 1, &[1]);
    let (_, dst) = damaged(&b, "manifest-consistent/unique-duplicates");
    let r = verify(&dst, Level::Full);
    assert_eq!(
        error_kinds(&r),
        vec!["unique_violation"],
        "{:?}",
        r.findings
    );
    assert_eq!(restore_kind(&dst, None), data_mismatch());
}

/// The third: a file listed twice in the newest manifest. Verify reports it at the
/// metadata level; restore, and SHOW BACKUP (which would count its rows twice), refuse
/// the layer.
#[test]
fn a_file_listed_twice_is_found_and_refused() {
    let b = build(Workload::Movr, 1, &[1]);
    let (case, dst) = damaged(&b, "manifest-consistent/file-listed-twice");
    let r = verify(&dst, Level::Metadata);
    assert_eq!(
        error_kinds(&r),
        vec!["file_listed_twice"],
        "{:?}",
        r.findings
    );
    let f = r
        .findings
        .iter()
        .find(|f| f.kind == "file_listed_twice")
        .unwrap();
    assert_eq!(Some(&f.file), case.file.as_ref());
    let inconsistent = vouch_chain::ErrorKind::ManifestInconsistent;
    assert_eq!(
        restore_kind(&dst, None),
        vouch_engine::ErrorKind::Read(inconsistent)
    );
    let coll = Collection::open(dst.to_str().unwrap(), None, &OpenOptions::default()).unwrap();
    let full = coll.resolve_subdir("LATEST").unwrap();
    let err = coll.chain(&full).unwrap_err();
    assert_eq!(err.kind(), inconsistent);
}

/// The clean collection restores exactly at every layer end (the agreement test's
/// baseline, and its oracle's own check).
#[test]
fn clean_collections_restore_exactly_everywhere() {
    for w in [Workload::Bank, Workload::Movr] {
        let b = build(w, 1, &[2, 1]);
        assert!(verify(&b.root, Level::Full).findings.is_empty());
        for r in restores(&b.root) {
            restore_exact(&b, &b.root, &r).unwrap_or_else(|e| panic!("{w} {r:?}: {e}"));
        }
    }
}

/// A layer without revision history holds each key's newest value as of its end, which
/// restore reads with the descriptors in force then. An incremental without revision
/// history after a full backup with it, over several runs of the workload (its schema
/// changes included, rows written between them, so a table version in force meanwhile is
/// in no layer of the chain), verifies clean at every level and restores exactly at both
/// layer ends and `LATEST`. (Verify decoded such rows with the version in force at their
/// own timestamps, which the chain does not hold: errors where restore was exact.)
#[test]
fn a_latest_only_incremental_over_schema_changes_verifies_and_restores() {
    use vouch_cluster::workload;
    use vouch_engine::backup::{backup, BackupOptions, Destination};
    for w in [Workload::Bank, Workload::Movr] {
        let tmp = tempfile::tempdir().unwrap();
        let c = Cluster::init(&tmp.path().join("cluster"), Clock::manual(T0)).unwrap();
        workload::init(&c, w, 100, 3).unwrap();
        let root = tmp.path().join("collection");
        let uri = root.to_str().unwrap().to_string();
        let mut full = BackupOptions::new(Targets::Cluster, Destination::Into(uri.clone()));
        full.revision_history = true;
        c.kv().clock().advance(SEC);
        backup(&c, &full, &mut |_| {}).unwrap();
        for n in 0..4 {
            c.kv().clock().advance(SEC);
            workload::run(&c, w, 30, 30 + n).unwrap();
        }
        c.kv().clock().advance(SEC);
        let inc = BackupOptions::new(Targets::Cluster, Destination::IntoLatest(uri));
        backup(&c, &inc, &mut |_| {}).unwrap();

        // The case is there: some table is at least two versions past the full backup's
        // in the incremental (a version between them is in neither manifest).
        let listing = Listing::new(list_files(&root).unwrap());
        let fulls = listing.full_backups();
        let full_dir = fulls.first().unwrap();
        let inc_dir = listing
            .incrementals(full_dir, INCREMENTALS_DIR)
            .pop()
            .unwrap();
        let versions = |dir: &str| -> BTreeMap<u64, u64> {
            let m =
                manifest::decode(&std::fs::read(root.join(dir).join(layout::MANIFEST)).unwrap())
                    .unwrap();
            m.descriptors.iter().map(|d| (d.id, d.version)).collect()
        };
        let (before, after) = (versions(full_dir), versions(&inc_dir));
        assert!(
            after
                .iter()
                .any(|(id, v)| before.get(id).is_some_and(|b| *v >= b + 2)),
            "{w}: no table changed twice: {before:?} -> {after:?}"
        );

        let b = Built {
            tmp,
            root,
            source: c,
        };
        for level in [Level::Metadata, Level::Schema, Level::Full] {
            let r = verify(&b.root, level);
            assert!(r.findings.is_empty(), "{w} at {level}: {:?}", r.findings);
        }
        for r in restores(&b.root) {
            restore_exact(&b, &b.root, &r).unwrap_or_else(|e| panic!("{w} {r:?}: {e}"));
        }
    }
}

/// The agreement test (issue 12, point 4): every case of the corruption suite, over bank
/// and movr collections of two chains (a full backup with two incrementals, a full backup
/// with one), goes through `verify --level full` and through every restore of the
/// collection (each chain at each layer end, and `LATEST`, each into a new cluster, its
/// rows compared with the source cluster's at that time). Verify is clean exactly when
/// every restore succeeds with exactly the source's rows.
#[test]
fn verify_and_restore_agree_on_every_case() {
    let mut disagreements = Vec::new();
    let mut total = 0;
    for w in [Workload::Bank, Workload::Movr] {
        let b = build(w, 1, &[2, 1]);
        let points = restores(&b.root);
        let cases = corrupt::cases(&b.root).unwrap();
        total += cases.len();
        for (i, case) in cases.iter().enumerate() {
            let dst = b.tmp.path().join(format!("agree-{i}"));
            corrupt::apply(case, &b.root, &dst).unwrap();
            let r = verify(&dst, Level::Full);
            let clean = r.exit_code() == 0;
            let outcomes: Vec<(String, Result<(), String>)> = points
                .iter()
                .map(|p| {
                    let at = format!("{} at {:?}", p.subdir, p.as_of.map(|t| t.to_string()));
                    (at, restore_exact(&b, &dst, p))
                })
                .collect();
            let restored = outcomes.iter().all(|(_, o)| o.is_ok());
            if clean != restored {
                let how: Vec<String> = outcomes
                    .iter()
                    .map(|(at, o)| {
                        format!(
                            "    {at}: {}",
                            o.as_ref().err().map_or("exact", |e| e.as_str())
                        )
                    })
                    .collect();
                disagreements.push(format!(
                    "{w} {}: verify {} (kinds {:?}), restores:\n{}",
                    case.name,
                    if clean { "clean" } else { "not clean" },
                    error_kinds(&r),
                    how.join("\n")
                ));
            }
            std::fs::remove_dir_all(&dst).unwrap();
        }
    }
    assert!(total >= 60, "only {total} cases");
    assert!(
        disagreements.is_empty(),
        "{} of {total} cases disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// The key of the encrypted agreement run: a local KMS key file (cheap to unwrap, unlike a
/// passphrase, and every restore unlocks the chain again).
fn kms_key(dir: &Path) -> KeySource {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("agree.key");
    std::fs::write(&p, hex::encode([0x5au8; 32])).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    KeySource::kms([format!("file://{}", p.display())])
}

/// The agreement test over an encrypted `bank` collection (two chains, a KMS key file),
/// verified and restored with the key: every case of the encrypted suite, the key record
/// cases (`key-record/*`) among them. Verify is clean exactly when every restore succeeds
/// with the source's rows; and on a key record case every restore of the damaged chain is
/// refused with `ErrorKind::KeyRecord` whose name is the kind verify reports.
#[test]
fn verify_and_restore_agree_on_every_encrypted_case() {
    let keydir = tempfile::tempdir().unwrap();
    let keys = kms_key(keydir.path());
    let b = build_keyed(Workload::Bank, 1, &[2, 1], &keys);
    let points = restores(&b.root);
    let cases = corrupt::cases_keyed(&b.root, &keys).unwrap();
    let mut disagreements = Vec::new();
    let mut key_cases = 0;
    for (i, case) in cases.iter().enumerate() {
        let dst = b.tmp.path().join(format!("agree-enc-{i}"));
        corrupt::apply_keyed(case, &b.root, &dst, &keys).unwrap();
        let r = verify_keyed(&dst, Level::Full, &keys);
        let clean = r.exit_code() == 0;
        let outcomes: Vec<(String, Outcome)> = points
            .iter()
            .map(|p| {
                let at = format!("{} at {:?}", p.subdir, p.as_of.map(|t| t.to_string()));
                (at, restore_exact_keyed(&b, &dst, p, &keys))
            })
            .collect();
        let restored = outcomes.iter().all(|(_, o)| o.is_ok());
        let how = || -> String {
            outcomes
                .iter()
                .map(|(at, o)| {
                    format!(
                        "    {at}: {}",
                        o.as_ref().err().map_or("exact", |e| e.1.as_str())
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        if clean != restored {
            disagreements.push(format!(
                "{}: verify {} (kinds {:?}), restores:\n{}",
                case.name,
                if clean { "clean" } else { "not clean" },
                error_kinds(&r),
                how()
            ));
        }
        if case.name.starts_with("key-record/") {
            key_cases += 1;
            let kinds = error_kinds(&r);
            let reported = case.kinds.iter().find(|k| kinds.contains(k));
            // The damaged chain is the one whose full backup holds the record.
            let full = case
                .file
                .as_deref()
                .and_then(|f| f.rsplit_once('/'))
                .map(|p| p.0);
            let refused_alike = outcomes.iter().zip(&points).all(|((_, o), p)| {
                let of_chain = full.is_some_and(|f| layout::display_subdir(f) == p.subdir)
                    || p.subdir == "LATEST" && Some(corrupt_latest(&b.root).as_str()) == full;
                match o {
                    Err((
                        Some(vouch_engine::ErrorKind::Read(vouch_chain::ErrorKind::KeyRecord(k))),
                        _,
                    )) => Some(&k.name()) == reported,
                    Ok(()) => !of_chain,
                    Err(_) => false,
                }
            });
            if reported.is_none() || !refused_alike {
                disagreements.push(format!(
                    "{}: verify kinds {kinds:?} (expected one of {:?}); restores (expected KeyRecord of the same name for the damaged chain):\n{}",
                    case.name,
                    case.kinds,
                    how()
                ));
            }
        }
        std::fs::remove_dir_all(&dst).unwrap();
    }
    assert_eq!(key_cases, 7, "key record cases");
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    assert!(
        disagreements.is_empty(),
        "{} of {} cases disagree:\n{}",
        disagreements.len(),
        cases.len(),
        disagreements.join("\n")
    );
}

/// The full backup LATEST names in the clean collection at `root`.
fn corrupt_latest(root: &Path) -> String {
    Collection::open(root.to_str().unwrap(), None, &OpenOptions::default())
        .unwrap()
        .latest()
        .unwrap()
}
