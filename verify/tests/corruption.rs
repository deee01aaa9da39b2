//! The corruption suite (issue 5): clean collections built from the `bank` and `movr`
//! workloads (revision history: a full backup, two incrementals, a second full backup with
//! one incremental), corrupted one way at a time by `vouch_testkit::corrupt`, then verified
//! at every level. For every case the lowest level that must catch it reports an error
//! finding of an expected kind naming the damaged file (and block, and an offset inside
//! the damaged region, where the case has them), and so does every level above it. Clean
//! collections give no finding at all at any level, over several seeds. Verification never
//! writes. How the collections and cases are made: `testdata/corruption/README.md`.

use std::path::{Path, PathBuf};

use vouch_cluster::workload::Workload;
use vouch_format::layout::Listing;
use vouch_format::manifest;
use vouch_keys::KeySource;
use vouch_store::OpenOptions;
use vouch_testkit::chains::revision_chains;
use vouch_testkit::corrupt::{self, Action};
use vouch_testkit::tree::{list_files, snapshot};
use vouch_verify::{verify_collection, Level, Report, VerifyOptions};

const LEVELS: [Level; 3] = [Level::Metadata, Level::Schema, Level::Full];

/// A clean collection in a temporary directory (the cluster that wrote it beside it).
struct Built {
    tmp: tempfile::TempDir,
    root: PathBuf,
}

fn rows(w: Workload) -> u64 {
    match w {
        Workload::Bank => 200,
        Workload::Movr => 60,
    }
}

/// F1, I1, I2 (one chain), then F2, I3 (a second chain), all with revision history; the
/// workload runs (with its schema changes) between backups.
fn build(w: Workload, seed: u64) -> Built {
    build_keyed(w, seed, &KeySource::default())
}

/// [`build`], every chain encrypted with `keys` when they are not empty.
fn build_keyed(w: Workload, seed: u64, keys: &KeySource) -> Built {
    let tmp = tempfile::tempdir().unwrap();
    let root = revision_chains(tmp.path(), w, rows(w), seed, &[2, 1], keys).root;
    Built { tmp, root }
}

fn verify(root: &Path, level: Level) -> Report {
    verify_keyed(root, level, &KeySource::default())
}

fn verify_keyed(root: &Path, level: Level, keys: &KeySource) -> Report {
    let uri = root.to_str().unwrap();
    let mut o = VerifyOptions::new(level);
    o.keys = keys.clone();
    verify_collection(
        uri,
        None,
        None,
        &OpenOptions {
            nodelocal_root: None,
            ..Default::default()
        },
        &o,
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("verify {uri} at {level}: {e}"))
}

fn describe(r: &Report) -> String {
    r.findings
        .iter()
        .map(|f| {
            format!(
                "  {:?} {} file={:?} block={:?} offset={:?}: {}",
                f.severity, f.kind, f.file, f.block, f.offset, f.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs every case of a collection; returns one line per case not caught as required.
fn run_suite(w: Workload, seed: u64, keys: &KeySource) -> (usize, Vec<String>) {
    let b = build_keyed(w, seed, keys);
    let cases = corrupt::cases_keyed(&b.root, keys).unwrap();
    let mut misses = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let dst = b.tmp.path().join(format!("case-{i}"));
        corrupt::apply_keyed(case, &b.root, &dst, keys).unwrap();
        for level in LEVELS.into_iter().filter(|l| *l >= case.level) {
            let r = verify_keyed(&dst, level, keys);
            if !case.caught_by(&r) {
                misses.push(format!(
                    "{w} {}: at {level} expected an error of kind {:?} file {:?} block {:?} region {:?}; verify said:\n{}",
                    case.name,
                    case.kinds,
                    case.file,
                    case.block,
                    case.region,
                    describe(&r)
                ));
            }
            if r.exit_code() == 0 {
                misses.push(format!(
                    "{w} {}: exit code 0 at {level} for a damaged collection",
                    case.name
                ));
            }
        }
        std::fs::remove_dir_all(&dst).unwrap();
    }
    (cases.len(), misses)
}

fn names(w: Workload) -> Vec<String> {
    names_keyed(w, &KeySource::default())
}

fn names_keyed(w: Workload, keys: &KeySource) -> Vec<String> {
    let b = build_keyed(w, 1, keys);
    corrupt::cases_keyed(&b.root, keys)
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect()
}

/// Every kind of corruption the issue lists has a case in both workloads' collections.
#[test]
fn the_generator_makes_every_case_of_the_issue() {
    let expected = [
        "flip/manifest-full",
        "flip/manifest-incremental",
        "flip/checksum",
        "flip/latest-marker",
        "flip/latest-plain",
        "flip/sst-data-block",
        "flip/sst-index",
        "flip/sst-footer",
        "flip/sst-properties",
        "flip/sst-metaindex",
        "flip/sst-block-trailer",
        "truncate/manifest",
        "truncate/checksum",
        "truncate/latest-marker",
        "truncate/latest-plain",
        "truncate/sst",
        "missing/sst",
        "missing/checksum",
        "missing/manifest-middle",
        "missing/manifest-newest-full",
        "missing/middle-incremental",
        "swap/sst",
        "copy/sst-other-layer",
        "copy/sst-other-backup",
        "replay/older-layer",
        "latest/rolled-back",
        "latest/newest-marker-removed",
        "splice/other-chain-appended",
        "splice/other-chain-replacing",
        "manifest-consistent/row-count",
        "manifest-consistent/key-bounds",
        "manifest-consistent/fingerprint",
        "manifest-consistent/dangling-parent",
        "rows/wrong-type",
        "manifest-consistent/column-type",
        "manifest-consistent/unique-duplicates",
        "manifest-consistent/file-listed-twice",
        "manifest-consistent/file-bounds-overlap",
        "manifest-consistent/full-start-time",
        "manifest-consistent/mvcc-filter",
        "manifest-consistent/revision-start",
        "manifest-consistent/spans",
        "manifest-consistent/introduced-spans",
    ];
    for w in [Workload::Bank, Workload::Movr] {
        let got = names(w);
        for e in expected {
            assert!(got.iter().any(|g| g == e), "{w}: no case {e}; got {got:?}");
        }
    }
    // Over an encrypted collection: the same cases, except those skipped with a reason,
    // and the key record cases.
    let got = names_keyed(Workload::Bank, &encryption());
    for e in [
        "key-record/deleted",
        "key-record/truncated",
        "key-record/bit-flipped",
        "key-record/newer-damaged",
        "key-record/newer-forged",
        "key-record/kdf-cost",
        "key-record/too-many",
    ] {
        assert!(
            got.iter().any(|g| g == e),
            "encrypted: no case {e}; got {got:?}"
        );
        assert!(
            !names(Workload::Bank).iter().any(|g| g == e),
            "plain: case {e}"
        );
    }
    for e in expected {
        let skipped = corrupt::SKIPPED_WHEN_ENCRYPTED.iter().any(|(n, _)| *n == e);
        assert!(
            skipped || got.iter().any(|g| g == e),
            "encrypted: no case {e}; got {got:?}"
        );
    }
}

/// The key of the encrypted suite: a local KMS key file (unwrapping it is cheap, unlike a
/// passphrase's 600,000 PBKDF2 rounds, and every verification unlocks the chains again;
/// passphrase-encrypted chains are verified in `tests/encrypted.rs`).
fn encryption() -> KeySource {
    use std::os::unix::fs::PermissionsExt;
    static KEY: std::sync::OnceLock<(tempfile::TempDir, String)> = std::sync::OnceLock::new();
    let (_, uri) = KEY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("suite.key");
        let key: Vec<u8> = (0..32u8).map(|b| b.wrapping_mul(37)).collect();
        std::fs::write(&p, hex::encode(key)).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let uri = format!("file://{}", p.display());
        (dir, uri)
    });
    KeySource::kms([uri.clone()])
}

/// Each case changes the copy as it claims, the source is untouched, flipped SST bytes lie
/// in the named block, and consistent rewrites really are consistent (checksum files and
/// the hash chain hold), checked with `vouch_format` directly.
#[test]
fn the_generator_changes_what_it_claims() {
    let b = build(Workload::Movr, 2);
    let before = snapshot(&b.root);
    for (i, case) in corrupt::cases(&b.root).unwrap().iter().enumerate() {
        let dst = b.tmp.path().join(format!("g-{i}"));
        corrupt::apply(case, &b.root, &dst).unwrap();
        let after = snapshot(&dst);
        assert_ne!(after, before, "{}: the copy is unchanged", case.name);
        match &case.action {
            Action::Flip { file, offset, xor } => {
                let (x, y) = (&before[file], &after[file]);
                assert_eq!(x.len(), y.len());
                let diff: Vec<usize> = (0..x.len()).filter(|&j| x[j] != y[j]).collect();
                assert_eq!(diff, vec![*offset as usize], "{}", case.name);
                assert_eq!(x[*offset as usize] ^ y[*offset as usize], *xor);
                if let Some((s, e)) = case.region {
                    assert!(
                        s <= *offset && *offset < e,
                        "{}: {offset} outside",
                        case.name
                    );
                }
                if let Some(block) = &case.block {
                    // The block really is where the generator says: the SST reader of the
                    // single-file check locates the damage in it.
                    let f = vouch_verify::check_sst(file, y.as_slice()).unwrap_err();
                    assert_eq!(f.block.as_ref(), Some(block), "{}: {f:?}", case.name);
                }
            }
            Action::Truncate { file, len } => {
                assert_eq!(after[file].len() as u64, *len);
                assert_eq!(after[file][..], before[file][..*len as usize]);
            }
            Action::Remove { path } => {
                assert!(!dst.join(path).exists());
                assert!(before.keys().any(|k| k.starts_with(path.as_str())));
            }
            Action::EditManifest { layer, cascade, .. }
            | Action::BadRows { layer, cascade, .. } => {
                let mut prev: Option<Vec<u8>> = None;
                for l in std::iter::once(layer).chain(cascade) {
                    let m = &after[&format!("{l}/BACKUP_MANIFEST")];
                    let c = &after[&format!("{l}/BACKUP_MANIFEST-CHECKSUM")];
                    manifest::check_checksum_file(m, c).unwrap();
                    let decoded = manifest::decode(m).unwrap();
                    if let Some(p) = prev {
                        assert_eq!(
                            decoded.previous.unwrap().manifest_sha256,
                            manifest::sha256(&p).to_vec(),
                            "{}: hash chain at {l}",
                            case.name
                        );
                    }
                    prev = Some(m.clone());
                    assert_ne!(before[&format!("{l}/BACKUP_MANIFEST")], *m);
                }
                if let Action::BadRows { layer, file, .. } = &case.action {
                    let p = format!("{layer}/{file}");
                    let m = manifest::decode(&after[&format!("{layer}/BACKUP_MANIFEST")]).unwrap();
                    let f = m.files.iter().find(|f| f.path == *file).unwrap();
                    assert_eq!(f.size, after[&p].len() as u64);
                    assert_eq!(f.sha256, manifest::sha256(&after[&p]).to_vec());
                    assert_ne!(before[&p], after[&p]);
                    vouch_verify::check_sst(&p, after[&p].as_slice()).unwrap();
                }
            }
            Action::CopyDir { to, .. } => {
                let l = Listing::new(after.keys());
                assert!(l.contains(&format!("{to}/BACKUP_MANIFEST")));
            }
            _ => {}
        }
        std::fs::remove_dir_all(&dst).unwrap();
    }
    assert_eq!(snapshot(&b.root), before, "the source collection changed");
}

#[test]
fn clean_collections_have_no_findings_at_any_level() {
    for seed in 1..=5 {
        for w in [Workload::Bank, Workload::Movr] {
            let b = build(w, seed);
            for level in LEVELS {
                let r = verify(&b.root, level);
                assert!(
                    r.findings.is_empty() && r.exit_code() == 0,
                    "{w} seed {seed} at {level}:\n{}",
                    describe(&r)
                );
            }
        }
    }
}

#[test]
fn verify_never_writes() {
    let b = build(Workload::Bank, 3);
    let cases = corrupt::cases(&b.root).unwrap();
    let damaged = b.tmp.path().join("damaged");
    let case = cases
        .iter()
        .find(|c| c.name == "flip/sst-data-block")
        .unwrap();
    corrupt::apply(case, &b.root, &damaged).unwrap();
    for root in [&b.root, &damaged] {
        let before = snapshot(root);
        for level in LEVELS {
            verify(root, level);
        }
        assert_eq!(snapshot(root), before, "{} changed", root.display());
    }
}

fn assert_suite(w: Workload) {
    assert_suite_keyed(w, &KeySource::default());
}

fn assert_suite_keyed(w: Workload, keys: &KeySource) {
    let (n, misses) = run_suite(w, 1, keys);
    assert!(n >= 30, "{w}: only {n} cases");
    assert!(
        misses.is_empty(),
        "{w}: {} of {n} cases not caught as required:\n{}",
        misses.len(),
        misses.join("\n")
    );
}

#[test]
fn every_corruption_is_caught_at_its_level_bank() {
    assert_suite(Workload::Bank);
}

#[test]
fn every_corruption_is_caught_at_its_level_movr() {
    assert_suite(Workload::Movr);
}

/// The suite over encrypted collections, verified with the key: the same cases at the same
/// levels (SST region flips expected as `envelope_auth` at the chunk holding the byte, see
/// `corrupt::cases_keyed`).
#[test]
fn every_corruption_is_caught_at_its_level_encrypted_bank() {
    assert_suite_keyed(Workload::Bank, &encryption());
}

#[test]
fn every_corruption_is_caught_at_its_level_encrypted_movr() {
    assert_suite_keyed(Workload::Movr, &encryption());
}

/// Clean encrypted collections give no finding at any level with the key.
#[test]
fn clean_encrypted_collections_have_no_findings_at_any_level() {
    let keys = encryption();
    for w in [Workload::Bank, Workload::Movr] {
        let b = build_keyed(w, 2, &keys);
        for level in LEVELS {
            let r = verify_keyed(&b.root, level, &keys);
            assert!(
                r.findings.is_empty() && r.exit_code() == 0,
                "{w} at {level}:\n{}",
                describe(&r)
            );
        }
    }
}

/// The fuzz oracle on the committed seeds, on no mutation, and on systematic mutations of
/// every protected file (a flip at the start, middle and end, a truncation, an extension,
/// two mutations at once): changed collections are never clean, unchanged ones never
/// flagged, nothing panics.
#[test]
fn fuzz_oracle_holds_on_seeds_and_systematic_mutations() {
    let tmp = tempfile::tempdir().unwrap();
    let base = corrupt::fuzz_base(tmp.path());
    let scratch = tmp.path().join("scratch");
    let protected = corrupt::protected_files(base.keys());
    assert!(protected.iter().any(|p| p.ends_with(".sst")));
    assert!(protected
        .iter()
        .any(|p| p.contains("metadata/latest/LATEST-")));
    assert!(protected
        .iter()
        .any(|p| p.ends_with("/BACKUP_MANIFEST-CHECKSUM")));
    let mut inputs: Vec<Vec<u8>> = vec![Vec::new(), vec![0, 0, 0, 0, 0]];
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/verify_full");
    for p in list_files(&seeds).unwrap() {
        if p.starts_with("seed-") {
            inputs.push(std::fs::read(seeds.join(p)).unwrap());
        }
    }
    for i in 0..protected.len() {
        let f = i as u8;
        let len = base[&protected[i]].len();
        for pos in [0, len / 2, len.saturating_sub(1)] {
            let [lo, hi] = (pos as u16).to_le_bytes();
            inputs.push(vec![f, 0, lo, hi, 0x01]);
        }
        let [lo, hi] = ((len / 3) as u16).to_le_bytes();
        inputs.push(vec![f, 2, lo, hi, 0]);
        inputs.push(vec![f, 3, 0, 0, 0x0b]);
        inputs.push(vec![f, 1, lo, hi, 0x80, f.wrapping_add(1), 2, 1, 0, 0]);
    }
    // Every consistent rewrite of the suite (operation 4), alone and after a byte flip.
    for pick in 0..24u8 {
        inputs.push(vec![0, 4, 0, 0, pick]);
        inputs.push(vec![1, 0, 7, 0, 0x01, 0, 4, 0, 0, pick]);
    }
    for data in &inputs {
        corrupt::fuzz_verify_full(&base, &scratch, data);
    }
}
