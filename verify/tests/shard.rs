//! `--shard K/N` and `merge_reports`: the parts of a sharded verification, each written as
//! JSON and read back, merge into the report one unsharded run gives — finding by finding,
//! with the same counts, cap and exit code — on clean collections and on every case of the
//! corruption suite (plain and encrypted, with and without the key). The shards split the
//! work: every file and table is checked by exactly one of them.

use std::path::{Path, PathBuf};

use vouch_cluster::workload::Workload;
use vouch_keys::KeySource;
use vouch_store::OpenOptions;
use vouch_testkit::chains::revision_chains;
use vouch_testkit::corrupt;
use vouch_verify::{
    merge_reports, verify_collection, Level, MergeError, Report, Shard, VerifyOptions,
};

struct Built {
    tmp: tempfile::TempDir,
    root: PathBuf,
}

/// A full backup and two revision-history incrementals, then a second chain of two layers.
fn build(w: Workload, seed: u64, keys: &KeySource) -> Built {
    let tmp = tempfile::tempdir().unwrap();
    let root = revision_chains(tmp.path(), w, 150, seed, &[2, 1], keys).root;
    Built { tmp, root }
}

fn verify(root: &Path, o: &VerifyOptions) -> Report {
    verify_collection(
        root.to_str().unwrap(),
        None,
        None,
        &OpenOptions {
            nodelocal_root: None,
            ..Default::default()
        },
        o,
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("verify {}: {e}", root.display()))
}

/// The shards' reports of `o` over `n` shards, each through JSON and back.
fn parts(root: &Path, o: &VerifyOptions, n: u32) -> Vec<Report> {
    (1..=n)
        .map(|k| {
            let mut o = o.clone();
            o.shard = Some(Shard { index: k, count: n });
            let r = verify(root, &o);
            let info = r.shard.as_ref().expect("a shard's report says so");
            assert_eq!((info.index, info.count), (k, n));
            let json = serde_json::to_string(&r).unwrap();
            let back: Report = serde_json::from_str(&json).unwrap();
            assert_eq!(
                serde_json::to_string(&back).unwrap(),
                json,
                "JSON round trip"
            );
            back
        })
        .collect()
}

/// The report as JSON, without its wall time.
fn comparable(r: &Report) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap();
    v.as_object_mut().unwrap().remove("duration_seconds");
    v
}

/// Sharded over `n` and merged (parts in reverse order) equals unsharded, finding by
/// finding; returns the unsharded report.
fn assert_merge_agrees(root: &Path, o: &VerifyOptions, n: u32, what: &str) -> Report {
    let whole = verify(root, o);
    let mut ps = parts(root, o, n);
    ps.reverse();
    let merged = merge_reports(ps).unwrap_or_else(|e| panic!("{what}: merge: {e}"));
    assert!(merged.shard.is_none());
    let (a, b) = (comparable(&whole), comparable(&merged));
    if a != b {
        let fa: Vec<_> = whole
            .findings
            .iter()
            .map(|f| (f.kind, &f.file, f.table))
            .collect();
        let fb: Vec<_> = merged
            .findings
            .iter()
            .map(|f| (f.kind, &f.file, f.table))
            .collect();
        panic!("{what}: {n} shards merged differ from one run\nunsharded: {fa:?}\nmerged:    {fb:?}\n{a:#}\n{b:#}");
    }
    assert_eq!(whole.exit_code(), merged.exit_code(), "{what}");
    whole
}

#[test]
fn merged_shards_equal_one_run_on_clean_collections_at_every_level() {
    for w in [Workload::Bank, Workload::Movr] {
        let b = build(w, 3, &KeySource::default());
        for level in [Level::Metadata, Level::Schema, Level::Full] {
            for n in [1, 2, 3, 5] {
                let r = assert_merge_agrees(
                    &b.root,
                    &VerifyOptions::new(level),
                    n,
                    &format!("{w} clean {level}"),
                );
                assert_eq!(r.exit_code(), 0);
                assert_eq!(r.errors + r.warnings, 0);
            }
        }
    }
}

#[test]
fn merged_shards_equal_one_run_on_every_corruption_case() {
    for w in [Workload::Bank, Workload::Movr] {
        let b = build(w, 4, &KeySource::default());
        let cases = corrupt::cases(&b.root).unwrap();
        assert!(cases.len() > 30, "{w}: {} cases", cases.len());
        for (i, case) in cases.iter().enumerate() {
            let dst = b.tmp.path().join(format!("case-{i}"));
            corrupt::apply(case, &b.root, &dst).unwrap();
            let what = format!("{w} {}", case.name);
            let r = assert_merge_agrees(&dst, &VerifyOptions::new(Level::Full), 3, &what);
            assert_ne!(r.exit_code(), 0, "{what}: the damage is found");
            if i % 4 != 0 {
                std::fs::remove_dir_all(&dst).unwrap();
                continue;
            }
            // The cap applies to the merged whole as to one run.
            let mut capped = VerifyOptions::new(Level::Full);
            capped.max_findings = Some(1);
            capped.strict = true;
            assert_merge_agrees(&dst, &capped, 2, &format!("{what} capped"));
            std::fs::remove_dir_all(&dst).unwrap();
        }
    }
}

/// A local KMS key file (cheap to unwrap, unlike a passphrase).
fn encryption(dir: &Path) -> KeySource {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("shard.key");
    let key: Vec<u8> = (0..32u8).map(|b| b.wrapping_mul(29)).collect();
    std::fs::write(&p, hex::encode(key)).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    KeySource::kms([format!("file://{}", p.display())])
}

#[test]
fn merged_shards_equal_one_run_on_encrypted_chains_with_and_without_the_key() {
    let keydir = tempfile::tempdir().unwrap();
    let keys = encryption(keydir.path());
    let b = build(Workload::Movr, 5, &keys);
    let cases = corrupt::cases_keyed(&b.root, &keys).unwrap();
    let mut with_key = VerifyOptions::new(Level::Full);
    with_key.keys = keys.clone();
    // Without the key: whatever the verifier does then (byte-integrity pass or refusal),
    // shards agree with one run.
    let without = VerifyOptions::new(Level::Full);
    let clean = assert_merge_agrees(&b.root, &with_key, 3, "encrypted clean");
    assert_eq!(clean.errors, 0);
    let _ = try_merge_agrees(&b.root, &without, 3, "encrypted clean, no key");
    let mut keyless = VerifyOptions::new(Level::Full);
    keyless.keyless = true;
    let r = assert_merge_agrees(&b.root, &keyless, 3, "encrypted clean, --keyless");
    assert_eq!(r.errors, 0);
    for (i, case) in cases.iter().enumerate().step_by(3) {
        let dst = b.tmp.path().join(format!("case-{i}"));
        corrupt::apply_keyed(case, &b.root, &dst, &keys).unwrap();
        let what = format!("encrypted {}", case.name);
        assert_merge_agrees(&dst, &with_key, 3, &what);
        let _ = try_merge_agrees(&dst, &without, 2, &format!("{what}, no key"));
        let _ = try_merge_agrees(&dst, &keyless, 2, &format!("{what}, --keyless"));
        std::fs::remove_dir_all(&dst).unwrap();
    }
}

/// [`assert_merge_agrees`] when verification runs; when it cannot run unsharded, no shard
/// runs either.
fn try_merge_agrees(root: &Path, o: &VerifyOptions, n: u32, what: &str) -> Option<Report> {
    let uri = root.to_str().unwrap();
    let run = |o: &VerifyOptions| {
        verify_collection(uri, None, None, &OpenOptions::default(), o, &mut |_| {})
    };
    match run(o) {
        Ok(_) => Some(assert_merge_agrees(root, o, n, what)),
        Err(e) => {
            for k in 1..=n {
                let mut so = o.clone();
                so.shard = Some(Shard { index: k, count: n });
                let se = run(&so)
                    .err()
                    .unwrap_or_else(|| panic!("{what}: shard {k} ran"));
                assert_eq!(se.to_string(), e.to_string(), "{what}: shard {k}");
            }
            None
        }
    }
}

#[test]
fn every_file_and_table_is_checked_by_exactly_one_shard() {
    let b = build(Workload::Movr, 6, &KeySource::default());
    let o = VerifyOptions::new(Level::Full);
    let whole = verify(&b.root, &o);
    for n in [2u32, 3, 4, 7] {
        let ps = parts(&b.root, &o, n);
        let plans: std::collections::BTreeSet<_> = ps
            .iter()
            .map(|p| p.shard.as_ref().unwrap().plan.clone())
            .collect();
        assert_eq!(plans.len(), 1, "one plan for every shard");
        // Every stored byte read once in all: the shards' reads add up to one run's.
        let files: u64 = ps.iter().map(|p| p.files_checked).sum();
        let bytes: u64 = ps.iter().map(|p| p.bytes_read).sum();
        assert_eq!(
            (files, bytes),
            (whole.files_checked, whole.bytes_read),
            "{n} shards"
        );
        let owned: u64 = ps.iter().map(|p| p.shard.as_ref().unwrap().bytes).sum();
        let busy = ps
            .iter()
            .filter(|p| p.shard.as_ref().unwrap().bytes > 0)
            .count();
        assert!(owned > 0);
        assert!(
            busy >= 2,
            "{n} shards: the work is split ({busy} have some)"
        );
    }
}

#[test]
fn merge_refuses_parts_that_are_not_one_whole_run() {
    let b = build(Workload::Bank, 7, &KeySource::default());
    let o = VerifyOptions::new(Level::Full);
    let three = parts(&b.root, &o, 3);
    let missing = merge_reports(three[..2].to_vec()).unwrap_err();
    assert!(
        matches!(missing, MergeError::Missing { ref missing, count: 3 } if missing == "3"),
        "{missing:?}"
    );
    let twice =
        merge_reports(vec![three[0].clone(), three[1].clone(), three[1].clone()]).unwrap_err();
    assert!(
        matches!(
            twice,
            MergeError::Duplicate {
                index: 2,
                first: 2,
                second: 3,
                ..
            }
        ),
        "{twice:?}"
    );
    let two = parts(&b.root, &o, 2);
    let mixed =
        merge_reports(vec![three[0].clone(), two[1].clone(), three[2].clone()]).unwrap_err();
    assert!(
        matches!(
            mixed,
            MergeError::OtherRun {
                part: 2,
                field: "shard count",
                ..
            }
        ),
        "{mixed:?}"
    );
    let schema = parts(&b.root, &VerifyOptions::new(Level::Schema), 3);
    let other =
        merge_reports(vec![three[0].clone(), schema[1].clone(), three[2].clone()]).unwrap_err();
    assert!(
        matches!(
            other,
            MergeError::OtherRun {
                part: 2,
                field: "plan",
                ..
            }
        ),
        "{other:?}"
    );
    let unsharded = verify(&b.root, &o);
    let not = merge_reports(vec![three[0].clone(), unsharded]).unwrap_err();
    assert!(matches!(not, MergeError::NotAShard { part: 2 }), "{not:?}");
    assert!(matches!(
        merge_reports(Vec::new()).unwrap_err(),
        MergeError::Empty
    ));
    // A part whose findings were edited to claim another shard's checks.
    let mut forged = three.clone();
    forged[1].collection_checks[0]
        .findings
        .push(vouch_verify::Finding::error(
            "latest_missing",
            "LATEST",
            "forged",
        ));
    assert!(matches!(
        merge_reports(forged).unwrap_err(),
        MergeError::Shape { part: 2, .. }
    ));
}

#[test]
fn a_report_with_an_unknown_kind_or_check_is_not_read() {
    let b = build(Workload::Bank, 8, &KeySource::default());
    let r = verify(&b.root, &VerifyOptions::new(Level::Metadata));
    let json = serde_json::to_string(&r).unwrap();
    assert!(serde_json::from_str::<Report>(&json).is_ok());
    let bad_check = json.replacen("\"name\":\"latest\"", "\"name\":\"nonsense\"", 1);
    assert_ne!(bad_check, json);
    assert!(serde_json::from_str::<Report>(&bad_check).is_err());
    let mut with_finding = r.clone();
    with_finding.collection_checks[0]
        .findings
        .push(vouch_verify::Finding::error(
            "latest_missing",
            "LATEST",
            "x",
        ));
    let json = serde_json::to_string(&with_finding).unwrap();
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back.collection_checks[0].findings[0].kind, "latest_missing");
    let bad_kind = json.replacen("\"kind\":\"latest_missing\"", "\"kind\":\"made_up\"", 1);
    assert!(serde_json::from_str::<Report>(&bad_kind).is_err());
}

/// Every finding kind in the code's registry is documented in spec/verify-report.md §4,
/// and every documented kind is in the registry.
#[test]
fn the_kind_registry_is_the_spec_list() {
    let spec = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/verify-report.md"),
    )
    .unwrap();
    let section = spec
        .split("\n## 4.")
        .nth(1)
        .and_then(|s| s.split("\n## 5.").next())
        .expect("spec has §4 and §5");
    let documented: std::collections::BTreeSet<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let registered: std::collections::BTreeSet<&str> =
        vouch_verify::KINDS.iter().copied().collect();
    assert_eq!(registered.len(), vouch_verify::KINDS.len(), "no kind twice");
    assert_eq!(documented, registered);
}
