//! The part reader of `vouch verify merge` (`read_part`) on real part reports of a damaged
//! collection: every truncation is `PartError::Truncated`; every flipped bit is refused
//! (`Syntax` or `NotAReport`) or reads as a report that writes other bytes, never silently
//! as the same report; the fuzz target's seeds (`fuzz/corpus/verify_merge_parts/seed-*`)
//! run through `fuzz_merge_parts` without an oracle failing.
//!
//! `VOUCH_REGEN_FUZZ_SEEDS=1 cargo test -p vouch-verify --test merge_parts` rewrites the
//! seeds from the reports built here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use vouch_cluster::workload::Workload;
use vouch_keys::KeySource;
use vouch_store::OpenOptions;
use vouch_testkit::chains::revision_chains;
use vouch_testkit::corrupt;
use vouch_verify::{
    fuzz_merge_parts, merge_reports, read_part, verify_collection, Level, PartError, Report, Shard,
    VerifyOptions,
};

/// The two part reports (pretty JSON, wall time 1.5 s) of `--shard K/2 --level full` over a
/// bank collection with the first corruption case of the suite applied (so the parts hold
/// findings with keys, expected and found values).
fn parts(dir: &Path) -> Vec<Vec<u8>> {
    let root = revision_chains(dir, Workload::Bank, 60, 5, &[1], &KeySource::default()).root;
    let cases = corrupt::cases(&root).unwrap();
    let case = cases
        .iter()
        .find(|c| c.name.starts_with("flip/"))
        .expect("a flip case");
    let dst = dir.join("damaged");
    corrupt::apply(case, &root, &dst).unwrap();
    (1..=2)
        .map(|k| {
            let mut o = VerifyOptions::new(Level::Full);
            o.shard = Some(Shard { index: k, count: 2 });
            let mut r = verify_collection(
                dst.to_str().unwrap(),
                None,
                None,
                &OpenOptions {
                    nodelocal_root: None,
                    ..Default::default()
                },
                &o,
                &mut |_| {},
            )
            .unwrap();
            r.duration = Duration::from_millis(1500);
            serde_json::to_vec_pretty(&r).unwrap()
        })
        .collect()
}

fn pretty(r: &Report) -> Vec<u8> {
    serde_json::to_vec_pretty(r).unwrap()
}

#[test]
fn truncated_and_bit_flipped_parts_are_refused_or_read_as_other_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let parts = parts(tmp.path());
    let read: Vec<Report> = parts.iter().map(|p| read_part(p).unwrap()).collect();
    assert!(
        read.iter().map(|r| r.findings.len()).sum::<usize>() > 0,
        "the damaged collection's parts hold findings"
    );
    for (p, r) in parts.iter().zip(&read) {
        assert_eq!(&pretty(r), p, "a part reads back to its own bytes");
    }
    let merged = merge_reports(read.clone()).unwrap();
    assert_eq!(merged.exit_code(), 1);

    for p in &parts {
        for len in 0..p.len() {
            match read_part(&p[..len]) {
                Err(PartError::Truncated { .. }) => {}
                other => panic!("cut to {len} of {} bytes: {other:?}", p.len()),
            }
        }
    }

    let (mut refused, mut other) = (0u64, 0u64);
    for p in &parts {
        let mut b = p.clone();
        for i in 0..b.len() {
            for bit in 0..8 {
                b[i] ^= 1 << bit;
                match read_part(&b) {
                    Err(PartError::Syntax { .. } | PartError::NotAReport { .. }) => refused += 1,
                    Err(e) => panic!("byte {i} bit {bit}: {e:?}"),
                    Ok(r) => {
                        assert_ne!(
                            pretty(&r),
                            *p,
                            "byte {i} bit {bit} flipped reads as the same report"
                        );
                        other += 1;
                    }
                }
                b[i] ^= 1 << bit;
            }
        }
    }
    // Flips inside strings and numbers give other reports; the rest are refused.
    assert!(refused > 0 && other > 0, "{refused} refused, {other} other");
}

fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/verify_merge_parts")
}

#[test]
fn the_fuzz_targets_seeds_run_through_its_oracle() {
    let dir = seeds_dir();
    if std::env::var_os("VOUCH_REGEN_FUZZ_SEEDS").is_some() {
        let tmp = tempfile::tempdir().unwrap();
        let parts = parts(tmp.path());
        let mut both = parts[0].clone();
        both.push(0xff);
        both.extend_from_slice(&parts[1]);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("seed-two-parts"), &both).unwrap();
        std::fs::write(dir.join("seed-one-part"), &parts[1]).unwrap();
        std::fs::write(dir.join("seed-cut"), &both[..both.len() / 2]).unwrap();
    }
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-"))
        })
        .collect();
    seeds.sort();
    assert_eq!(seeds.len(), 3, "{seeds:?}");
    for s in &seeds {
        let data = std::fs::read(s).unwrap();
        fuzz_merge_parts(&data);
    }
    // The two-part seed is a whole run: its parts merge.
    let both = std::fs::read(dir.join("seed-two-parts")).unwrap();
    let parts: Vec<Report> = both
        .split(|&b| b == 0xff)
        .map(|p| read_part(p).unwrap())
        .collect();
    assert_eq!(merge_reports(parts).unwrap().exit_code(), 1);
}
