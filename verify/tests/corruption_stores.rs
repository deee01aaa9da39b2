//! The corruption suite on every object store (issue 13): every case of the suite over a
//! bank collection (a full backup, two incrementals, a second full backup with one, all
//! with revision history) is applied to a local copy, the copy is written object by object
//! to each test server (both S3 implementations, GCS, Azure, HTTP: the servers the
//! project's scripts start), and verified there at the case's level and at `full`. Each
//! report is exactly the local copy's (every finding's severity, kind, file, offset,
//! block, key, expected and found values, layer and table), and catches the case as the
//! suite requires: the store a collection lives in changes no finding.

use std::path::Path;

use vouch_cluster::workload::Workload;
use vouch_keys::KeySource;
use vouch_store::OpenOptions;
use vouch_testkit::chains::revision_chains;
use vouch_testkit::corrupt;
use vouch_testkit::servers::{unique_prefix, uri_on, Server, SERVERS};
use vouch_testkit::tree::list_files;
use vouch_verify::{verify_collection, Finding, Level, Report, Severity, VerifyOptions};

fn verify(uri: &str, level: Level) -> Report {
    verify_collection(
        uri,
        None,
        None,
        &OpenOptions::default(),
        &VerifyOptions::new(level),
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("verify {uri} at {level}: {e}"))
}

/// Everything a finding says but its message (which may name the store).
type Said = (
    Severity,
    &'static str,
    String,
    Option<u64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<u64>,
);

fn said(r: &Report) -> Vec<Said> {
    let mut v: Vec<Said> = r
        .findings
        .iter()
        .map(|f: &Finding| {
            (
                f.severity,
                f.kind,
                f.file.clone(),
                f.offset,
                f.block.clone(),
                f.key.clone(),
                f.expected.clone(),
                f.found.clone(),
                f.layer.clone(),
                f.table,
            )
        })
        .collect();
    v.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    v
}

/// Writes every file of the local collection `dir` as an object of a new collection on
/// `server`; returns its URI.
fn upload(dir: &Path, server: Server, name: &str) -> String {
    let uri = uri_on(server, &unique_prefix(name));
    let store = vouch_store::open(&uri, &OpenOptions::default()).unwrap();
    for rel in list_files(dir).unwrap() {
        let bytes = std::fs::read(dir.join(&rel)).unwrap();
        store
            .put_new(&rel, &bytes)
            .unwrap_or_else(|e| panic!("{server:?}: {rel}: {e}"));
    }
    uri
}

#[test]
fn every_corruption_is_found_alike_on_every_store() {
    let tmp = tempfile::tempdir().unwrap();
    let chains = revision_chains(
        tmp.path(),
        Workload::Bank,
        200,
        1,
        &[2, 1],
        &KeySource::default(),
    );
    let cases = corrupt::cases(&chains.root).unwrap();
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    let mut misses = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let dst = tmp.path().join(format!("case-{i}"));
        corrupt::apply(case, &chains.root, &dst).unwrap();
        let levels: Vec<Level> = if case.level == Level::Full {
            vec![Level::Full]
        } else {
            vec![case.level, Level::Full]
        };
        let local: Vec<Report> = levels
            .iter()
            .map(|l| verify(dst.to_str().unwrap(), *l))
            .collect();
        // The stores at once, each in its own thread (the servers are independent).
        let found: Vec<Vec<String>> = std::thread::scope(|scope| {
            let running: Vec<_> = SERVERS
                .into_iter()
                .map(|server| {
                    let (dst, levels, local) = (&dst, &levels, &local);
                    scope.spawn(move || {
                        let mut out = Vec::new();
                        let uri = upload(dst, server, "corruption");
                        for (level, want) in levels.iter().zip(local) {
                            let got = verify(&uri, *level);
                            if said(&got) != said(want) {
                                out.push(format!(
                                    "{} on {server:?} at {level}: the report differs from the local copy's:\n  local: {:?}\n  there: {:?}",
                                    case.name,
                                    said(want),
                                    said(&got)
                                ));
                            }
                            if !case.caught_by(&got) || got.exit_code() == 0 {
                                out.push(format!(
                                    "{} on {server:?} at {level}: not caught (kinds {:?}, file {:?})",
                                    case.name, case.kinds, case.file
                                ));
                            }
                        }
                        out
                    })
                })
                .collect();
            running.into_iter().map(|t| t.join().unwrap()).collect()
        });
        misses.extend(found.into_iter().flatten());
        std::fs::remove_dir_all(&dst).unwrap();
    }
    assert!(
        misses.is_empty(),
        "{} of {} cases x {} stores:\n{}",
        misses.len(),
        cases.len(),
        SERVERS.len(),
        misses.join("\n")
    );
}
