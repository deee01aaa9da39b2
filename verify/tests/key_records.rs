//! Key records of encrypted chains (issue 12 point 3): every `ENCRYPTION-INFO` and
//! `ENCRYPTION-INFO-<n>` is read and checked at every level, with the key, without it
//! (`metadata`) and with `--keyless`; restore refuses the same defect with the same kind
//! (`vouch_chain::ErrorKind::KeyRecord`, whose name is the finding kind). Records past the
//! count limit or asking for too many PBKDF2 iterations are refused without deriving any
//! key, and one verification derives the passphrase's key-encryption key once.
//!
//! The collection: a `bank` chain (a full backup and an incremental) encrypted with a
//! passphrase and a KMS key file, then rotated twice (`ALTER BACKUP … ADD NEW_KMS`), so it
//! has `ENCRYPTION-INFO`, `ENCRYPTION-INFO-1` and `ENCRYPTION-INFO-2`.

use std::path::{Path, PathBuf};

use vouch_chain::sealed::KeyRecordProblem;
use vouch_chain::{Collection, RestoreOptions, Source, Targets};
use vouch_cluster::workload::{self, Workload};
use vouch_cluster::{Clock, Cluster};
use vouch_engine::backup::{backup, BackupOptions, Destination};
use vouch_engine::{crypto, restore};
use vouch_format::encryption_info::{self as info_fmt, KmsWrappedKey};
use vouch_format::layout::{self, ENCRYPTION_INFO};
use vouch_keys::passphrase::Passphrase;
use vouch_keys::KeySource;
use vouch_store::OpenOptions;
use vouch_verify::{verify_collection, Level, Report, Severity, VerifyOptions};

const SEC: u64 = 1_000_000_000;
/// 2026-01-01 00:00:00.23 UTC.
const T0: u64 = 1_767_225_600 * SEC + 230_000_000;
const LEVELS: [Level; 3] = [Level::Metadata, Level::Schema, Level::Full];
const PW: &str = "correct horse";

fn pass() -> KeySource {
    KeySource::passphrase(Passphrase::new(PW).unwrap())
}

fn key_file(dir: &Path, name: &str, byte: u8) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, hex::encode([byte; 32])).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    format!("file://{}", p.display())
}

struct Built {
    tmp: tempfile::TempDir,
    root: PathBuf,
    source: Cluster,
    /// The full backup's directory.
    full: String,
    /// KMS URIs: the first recorded at backup time, the others added by rotation.
    kms: Vec<String>,
}

fn build() -> Built {
    let tmp = tempfile::tempdir().unwrap();
    let c = Cluster::init(&tmp.path().join("cluster"), Clock::manual(T0)).unwrap();
    workload::init(&c, Workload::Bank, 40, 1).unwrap();
    let kms: Vec<String> = (1..=3)
        .map(|i| key_file(tmp.path(), &format!("k{i}"), i))
        .collect();
    let root = tmp.path().join("collection");
    let uri = root.to_str().unwrap().to_string();
    let mut keys = pass();
    keys.kms = vec![kms[0].clone()];
    for dest in [
        Destination::Into(uri.clone()),
        Destination::IntoLatest(uri.clone()),
    ] {
        c.kv().clock().advance(SEC);
        workload::run(&c, Workload::Bank, 10, 2).unwrap();
        c.kv().clock().advance(SEC);
        let mut o = BackupOptions::new(Targets::Cluster, dest);
        o.revision_history = true;
        o.target_file_size = 4 << 10;
        o.encryption = keys.clone();
        backup(&c, &o, &mut |_| {}).unwrap_or_else(|e| panic!("backup: {e}"));
    }
    let coll = Collection::open(&uri, None, &OpenOptions::default()).unwrap();
    for i in 1..3 {
        let old = KeySource::kms([kms[i - 1].clone()]);
        crypto::alter_backup_add_kms(&coll, "LATEST", &old, std::slice::from_ref(&kms[i])).unwrap();
    }
    let full = coll.latest().unwrap();
    Built {
        tmp,
        root,
        source: c,
        full,
        kms,
    }
}

fn verify_with(root: &Path, level: Level, keys: &KeySource, keyless: bool) -> Report {
    let mut o = VerifyOptions::new(level);
    o.keys = keys.clone();
    o.keyless = keyless;
    verify_collection(
        root.to_str().unwrap(),
        None,
        None,
        &OpenOptions::default(),
        &o,
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("verify {} at {level}: {e}", root.display()))
}

/// Restores LATEST with `keys` into a new cluster: `Ok` with exactly the source's rows, or
/// the error's kind.
fn restore_kind(b: &Built, root: &Path, keys: &KeySource) -> Result<(), vouch_engine::ErrorKind> {
    let dir = tempfile::tempdir().unwrap();
    let now = b.source.now();
    let target = Cluster::init(&dir.path().join("t"), Clock::manual(now.wall + SEC)).unwrap();
    let mut o = RestoreOptions::new(
        Targets::Cluster,
        Source::Collection {
            uri: root.to_str().unwrap().into(),
            subdir: "LATEST".into(),
            incremental_location: None,
        },
    );
    o.keys = keys.clone();
    let r = restore::restore(&target, &o, &mut |_| {}).map_err(|e| e.kind())?;
    let fp = |c: &Cluster, at| {
        c.fingerprints(at)
            .unwrap()
            .into_iter()
            .filter(|f| f.database != "system")
            .map(|f| ((f.database, f.table, f.index), (f.fingerprint, f.entries)))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(fp(&b.source, r.time), fp(&target, r.published_at));
    Ok(())
}

fn describe(r: &Report) -> String {
    r.findings
        .iter()
        .map(|f| format!("  {:?} {} {}: {}", f.severity, f.kind, f.file, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

fn record(b: &Built, n: u64) -> String {
    let name = if n == 0 {
        ENCRYPTION_INFO.to_string()
    } else {
        layout::encryption_info_name(n)
    };
    format!("{}/{name}", b.full)
}

/// One defect of the key records: what is done to a copy, the problem, the record named.
struct Defect {
    name: &'static str,
    problem: KeyRecordProblem,
    /// The record the finding names.
    record: u64,
    /// The finding's offset in the record, when the defect has one.
    offset: Option<u64>,
    edit: Box<dyn Fn(&Path)>,
    /// Whether refusing it must cost no key derivation.
    free: bool,
}

fn replace(p: &Path, bytes: &[u8]) {
    let _ = std::fs::remove_file(p);
    std::fs::write(p, bytes).unwrap();
}

fn defects(b: &Built) -> Vec<Defect> {
    let rec = |n: u64| b.root.join(record(b, n));
    let info2 = std::fs::read(rec(2)).unwrap();
    let decoded2 = info_fmt::decode(&info2).unwrap();
    let p0 = record(b, 0);
    let p1 = record(b, 1);
    let p2 = record(b, 2);
    let p3 = record(b, 3);
    let p16 = record(b, 16);
    let rel = |p: &str| p.to_string();
    let (p0b, p0c, p0d, p1b, p2b, p2c, p3b, p16b) = (
        rel(&p0),
        rel(&p0),
        rel(&p0),
        rel(&p1),
        rel(&p2),
        rel(&p2),
        rel(&p3),
        rel(&p16),
    );
    // The iterations field's offset in a record: chain id field (18 bytes), passphrase key
    // and length (2), salt field (34).
    let iter_at = 2 + 18 + 2 + 34;
    let forged_salt = {
        let mut i = decoded2.clone();
        i.passphrase.as_mut().unwrap().salt[0] ^= 1;
        info_fmt::encode(&i)
    };
    let costly = {
        let mut i = decoded2.clone();
        i.passphrase.as_mut().unwrap().iterations = 10_000_000;
        i.kms.push(KmsWrappedKey {
            uri_id: "file:///forged".into(),
            wrapped_key: vec![1; 60],
        });
        info_fmt::encode(&i)
    };
    vec![
        Defect {
            name: "deleted",
            problem: KeyRecordProblem::Missing,
            record: 0,
            offset: None,
            edit: Box::new(move |r| std::fs::remove_file(r.join(&p0b)).unwrap()),
            free: true,
        },
        Defect {
            name: "truncated",
            problem: KeyRecordProblem::Damaged,
            record: 0,
            offset: None,
            edit: Box::new(move |r| {
                let b = std::fs::read(r.join(&p0c)).unwrap();
                replace(&r.join(&p0c), &b[..b.len() / 2]);
            }),
            free: true,
        },
        Defect {
            name: "bit-flipped",
            problem: KeyRecordProblem::Damaged,
            record: 0,
            offset: Some(0),
            edit: Box::new(move |r| {
                let mut b = std::fs::read(r.join(&p0d)).unwrap();
                b[0] ^= 0x10;
                replace(&r.join(&p0d), &b);
            }),
            free: true,
        },
        Defect {
            name: "rotation-deleted",
            problem: KeyRecordProblem::Missing,
            record: 1,
            offset: None,
            edit: Box::new(move |r| std::fs::remove_file(r.join(&p1b)).unwrap()),
            free: true,
        },
        Defect {
            name: "newer-truncated",
            problem: KeyRecordProblem::Damaged,
            record: 2,
            offset: None,
            edit: Box::new(move |r| {
                let b = std::fs::read(r.join(&p2b)).unwrap();
                replace(&r.join(&p2b), &b[..b.len() - 1]);
            }),
            free: true,
        },
        Defect {
            name: "newer-forged-salt",
            problem: KeyRecordProblem::Mismatch,
            record: 2,
            offset: Some(2 + 18 + 2),
            edit: Box::new(move |r| replace(&r.join(&p2c), &forged_salt)),
            free: true,
        },
        Defect {
            name: "too-many",
            problem: KeyRecordProblem::TooMany,
            record: 16,
            offset: None,
            edit: {
                let info2 = info2.clone();
                Box::new(move |r| replace(&r.join(&p16b), &info2))
            },
            free: true,
        },
        Defect {
            name: "kdf-cost",
            problem: KeyRecordProblem::KdfCost,
            record: 3,
            offset: Some(iter_at),
            edit: Box::new(move |r| replace(&r.join(&p3b), &costly)),
            free: true,
        },
    ]
}

fn errors_of<'r>(r: &'r Report, kind: &str) -> Vec<&'r vouch_verify::Finding> {
    r.findings
        .iter()
        .filter(|f| f.severity == Severity::Error && f.kind == kind)
        .collect()
}

#[test]
fn a_clean_rotated_chain_is_clean_and_derives_the_passphrase_key_once() {
    let b = build();
    for level in LEVELS {
        let keys = pass();
        let r = verify_with(&b.root, level, &keys, false);
        assert!(r.findings.is_empty(), "{level}:\n{}", describe(&r));
        assert_eq!(r.exit_code(), 0);
        let pw = keys.passphrase.as_ref().unwrap();
        // Three records, every layer reader, the plan and the checks: one derivation.
        assert_eq!(pw.derivations(), 1, "{level}");
    }
    for (level, keyless) in [(Level::Metadata, false), (Level::Full, true)] {
        let r = verify_with(&b.root, level, &KeySource::default(), keyless);
        assert!(r.findings.is_empty(), "{level}:\n{}", describe(&r));
    }
    let keys = pass();
    restore_kind(&b, &b.root, &keys).unwrap();
    assert_eq!(keys.passphrase.as_ref().unwrap().derivations(), 1);
    // Every KMS key opens the chain: the oldest through the newest record.
    for k in &b.kms {
        restore_kind(&b, &b.root, &KeySource::kms([k.clone()])).unwrap();
    }
}

/// Every defect: an error finding of its kind naming the record at every level with the
/// key, at `metadata` without it and with `--keyless`; restore with the key refuses with
/// the kind of the same name; and the costly ones cost no derivation.
#[test]
fn every_key_record_defect_is_found_everywhere_and_refused_with_the_same_kind() {
    let b = build();
    let mut misses = Vec::new();
    for d in defects(&b) {
        let dst = b.tmp.path().join(d.name);
        vouch_testkit::tree::copy_tree(&b.root, &dst).unwrap();
        (d.edit)(&dst);
        let kind = d.problem.name();
        let path = record(&b, d.record);
        let runs: Vec<(String, Level, KeySource, bool)> = LEVELS
            .iter()
            .map(|l| (format!("{l} with the key"), *l, pass(), false))
            .chain([
                (
                    "metadata without the key".to_string(),
                    Level::Metadata,
                    KeySource::default(),
                    false,
                ),
                (
                    "full --keyless".to_string(),
                    Level::Full,
                    KeySource::default(),
                    true,
                ),
                (
                    "full without the key".to_string(),
                    Level::Full,
                    KeySource::default(),
                    false,
                ),
            ])
            .collect();
        for (how, level, keys, keyless) in runs {
            let r = verify_with(&dst, level, &keys, keyless);
            let found = errors_of(&r, kind);
            let ok = found
                .iter()
                .any(|f| f.file == path && d.offset.is_none_or(|o| f.offset == Some(o)));
            if !ok || r.exit_code() != 1 {
                misses.push(format!(
                    "{}: {how}: expected {kind} on {path} at {:?}, exit 1; got exit {}:\n{}",
                    d.name,
                    d.offset,
                    r.exit_code(),
                    describe(&r)
                ));
            }
            // Read without a usable key: the report says what was left out.
            if r.chains
                .iter()
                .any(|c| !c.not_checked.contains(&"listing_vs_manifest"))
            {
                misses.push(format!("{}: {how}: not_checked is not filled", d.name));
            }
            if d.free {
                if let Some(p) = &keys.passphrase {
                    if p.derivations() != 0 {
                        misses.push(format!("{}: {how}: a key was derived", d.name));
                    }
                }
            }
        }
        let keys = pass();
        match restore_kind(&b, &dst, &keys) {
            Err(vouch_engine::ErrorKind::Read(vouch_chain::ErrorKind::KeyRecord(p)))
                if p == d.problem && p.name() == kind => {}
            other => misses.push(format!(
                "{}: restore gave {other:?}, expected KeyRecord({:?})",
                d.name, d.problem
            )),
        }
        if d.free && keys.passphrase.as_ref().unwrap().derivations() != 0 {
            misses.push(format!("{}: restore derived a key", d.name));
        }
        // The newest KMS key cannot restore either: nothing skips a damaged record.
        let newest = KeySource::kms([b.kms[2].clone()]);
        if restore_kind(&b, &dst, &newest).is_ok() {
            misses.push(format!(
                "{}: restore with the newest KMS key succeeded",
                d.name
            ));
        }
        std::fs::remove_dir_all(&dst).unwrap();
    }
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

/// ALTER BACKUP … ADD NEW_KMS refuses a chain whose key records are damaged, with the
/// same kind, and writes nothing.
#[test]
fn rotation_refuses_damaged_key_records() {
    let b = build();
    let dst = b.tmp.path().join("alter");
    vouch_testkit::tree::copy_tree(&b.root, &dst).unwrap();
    let p = dst.join(record(&b, 1));
    let bytes = std::fs::read(&p).unwrap();
    replace(&p, &bytes[..bytes.len() - 3]);
    let before = vouch_testkit::tree::snapshot(&dst);
    let coll = Collection::open(dst.to_str().unwrap(), None, &OpenOptions::default()).unwrap();
    let k4 = key_file(b.tmp.path(), "k4", 4);
    let e =
        crypto::alter_backup_add_kms(&coll, "LATEST", &KeySource::kms([b.kms[0].clone()]), &[k4])
            .unwrap_err();
    assert_eq!(
        e.kind(),
        vouch_engine::ErrorKind::Read(vouch_chain::ErrorKind::KeyRecord(KeyRecordProblem::Damaged))
    );
    assert_eq!(vouch_testkit::tree::snapshot(&dst), before);
}

/// Every single-bit flip and every truncation of `ENCRYPTION-INFO`, with rotations after
/// it, is a key record problem found without the key and without any derivation: the
/// rotations must keep what it holds. Of the newest record, each is a problem too, except
/// a flip inside the KMS wrap that record added (opaque bytes, no checksum): then the key
/// that wrap belongs to does not open it — verify and restore with that key both refuse —
/// while the older keys still open the chain.
#[test]
fn every_flip_and_cut_of_a_key_record_is_found() {
    let b = build();
    let store = vouch_store::open(b.root.to_str().unwrap(), &OpenOptions::default()).unwrap();
    let newest_key = KeySource::kms([b.kms[2].clone()]);
    for n in [0u64, 2] {
        let p = b.root.join(record(&b, n));
        let orig = std::fs::read(&p).unwrap();
        let mut opaque = 0;
        let mut check = |bytes: &[u8], what: &str| {
            replace(&p, bytes);
            let r = vouch_chain::sealed::key_records(store.as_ref(), &b.full).unwrap();
            if !r.issues.is_empty() {
                return;
            }
            assert_eq!(n, 2, "record {n}, {what}: no problem found");
            opaque += 1;
            let (_, newest) = &r.good[0];
            assert!(
                vouch_keys::unlock(newest, &newest_key).is_err(),
                "record {n}, {what}: the newest key still opens it"
            );
        };
        for i in 0..orig.len() {
            for bit in 0..8 {
                let mut m = orig.clone();
                m[i] ^= 1 << bit;
                check(&m, &format!("bit {bit} of byte {i} flipped"));
            }
        }
        for cut in 0..orig.len() {
            check(&orig[..cut], &format!("cut to {cut} bytes"));
        }
        replace(&p, &orig);
        if n == 2 {
            // The flips that escape the rules are those inside the new wrap's bytes.
            assert!(
                opaque > 0 && opaque <= 8 * (60 + b.kms[2].len()),
                "{opaque}"
            );
        } else {
            assert_eq!(opaque, 0);
        }
    }
    // The collection is whole again.
    assert!(verify_with(&b.root, Level::Metadata, &pass(), false)
        .findings
        .is_empty());
}
