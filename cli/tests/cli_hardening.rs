//! Issue 13's reproductions on a local collection, through the `vouch` binary: a symlinked
//! folder inside the collection, a FIFO in place of `BACKUP_MANIFEST-CHECKSUM`, a sparse
//! 1 TiB checksum file, `LATEST` linked to a private file, and an odd `LATEST` whose
//! content would flood a report. Backup, restore, show and verify list the collection the
//! same way and give one answer; nothing hangs, aborts, is read through a link or written
//! outside the collection; report excerpts are capped.

#![cfg(unix)]

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ok, text, vouch_bin};
use vouch_chain::{open_options, Collection, ErrorKind};
use vouch_store::{Error as StoreError, Special};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `vouch` and kills it after 60 s (a read blocked on a FIFO would never end):
/// (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = Command::new(vouch_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("vouch {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let code = status
        .code()
        .unwrap_or_else(|| panic!("vouch {args:?} was killed by a signal: {status:?}"));
    (
        code,
        text(&std::fs::read(out).unwrap()),
        text(&std::fs::read(err).unwrap()),
    )
}

/// A bank cluster with a full backup in `nodelocal://1/b`; (cluster, collection folder,
/// the full backup's folder).
fn setup(d: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let c = d.join("c");
    ok(&[
        "cluster",
        "init",
        s(&c),
        "--workload",
        "bank",
        "--rows",
        "50",
    ]);
    ok(&["backup", "--cluster", s(&c), "INTO", "nodelocal://1/b"]);
    let coll = c.join("extern/b");
    let full = walk(&coll)
        .into_iter()
        .find(|p| p.ends_with("BACKUP_MANIFEST"))
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    (c, coll, full)
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Every reader refuses the collection (exit 2), none hangs; the store error the chain
/// reader meets is `NotRegular` at `at` with `found`.
fn every_reader_refuses(c: &Path, at: &str, found: Special) {
    let coll = format!("file://{}", s(&c.join("extern/b")));
    let uri = coll.as_str();
    let dst = c.with_file_name("dst");
    for args in [
        vec![
            "verify",
            "IN",
            uri,
            "--cluster",
            s(c),
            "--level",
            "metadata",
        ],
        vec![
            "verify",
            "IN",
            uri,
            "--cluster",
            s(c),
            "--level",
            "full",
            "--format",
            "json",
        ],
        vec!["show", "backups", "IN", uri, "--cluster", s(c)],
        vec![
            "show",
            "backup",
            "FROM",
            "LATEST",
            "IN",
            uri,
            "--cluster",
            s(c),
        ],
        vec!["restore", "--cluster", s(&dst), "FROM", "LATEST", "IN", uri],
        vec!["backup", "--cluster", s(c), "INTO", "LATEST", "IN", uri],
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, 2, "{args:?}\n{out}\n{err}");
    }
    let coll = Collection::open(uri, None, &open_options(None)).unwrap();
    let e = coll.latest().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Store, "{e}");
    match e.store_error() {
        Some(StoreError::NotRegular { path, found: f }) => {
            assert!(path.ends_with(at), "{path} is not {at}");
            assert_eq!(*f, found);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_symlinked_folder_inside_a_collection_is_refused_by_every_reader() {
    let d = tempfile::tempdir().unwrap();
    let (c, coll, _) = setup(d.path());
    let outside = d.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    symlink(&outside, coll.join("incrementals")).unwrap();
    every_reader_refuses(&c, "/b/incrementals", Special::Symlink);
    // The incremental was not written through the link.
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn a_fifo_in_place_of_the_checksum_file_hangs_nothing() {
    let d = tempfile::tempdir().unwrap();
    let (c, _, full) = setup(d.path());
    let sum = full.join("BACKUP_MANIFEST-CHECKSUM");
    std::fs::remove_file(&sum).unwrap();
    assert!(Command::new("mkfifo").arg(&sum).status().unwrap().success());
    let rel = sum.strip_prefix(c.join("extern")).unwrap();
    every_reader_refuses(&c, &format!("/{}", rel.display()), Special::Fifo);
}

#[test]
fn latest_linked_to_a_private_file_never_reaches_a_report() {
    let d = tempfile::tempdir().unwrap();
    let (c, coll, _) = setup(d.path());
    let private = d.path().join("private.txt");
    let canary = "PRIVATE-CONTENT-0123456789";
    std::fs::write(&private, canary).unwrap();
    std::fs::remove_file(coll.join("LATEST")).unwrap();
    symlink(&private, coll.join("LATEST")).unwrap();
    every_reader_refuses(&c, "/b/LATEST", Special::Symlink);
    let junit = d.path().join("r.xml");
    let (code, out, err) = run(&[
        "verify",
        "IN",
        "nodelocal://1/b",
        "--cluster",
        s(&c),
        "--level",
        "metadata",
        "--format",
        "json",
        "--junit",
        s(&junit),
    ]);
    assert_eq!(code, 2);
    assert!(!out.contains(canary) && !err.contains(canary));
    if junit.exists() {
        assert!(!std::fs::read_to_string(&junit).unwrap().contains(canary));
    }
}

#[test]
fn a_sparse_tib_checksum_file_is_a_finding_not_an_abort() {
    let d = tempfile::tempdir().unwrap();
    let (c, _, full) = setup(d.path());
    let sum = full.join("BACKUP_MANIFEST-CHECKSUM");
    std::fs::remove_file(&sum).unwrap();
    std::fs::File::create(&sum)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let (code, out, err) = run(&[
        "verify",
        "IN",
        "nodelocal://1/b",
        "--cluster",
        s(&c),
        "--level",
        "metadata",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let kinds: Vec<(&str, &str)> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap(),
                f["file"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        kinds
            .iter()
            .any(|(k, f)| *k == "object_too_large" && f.ends_with("BACKUP_MANIFEST-CHECKSUM")),
        "{kinds:?}"
    );
    // Restore and show stop with an error (exit 2), not an allocation failure.
    let coll = format!("file://{}", s(&c.join("extern/b")));
    let (code, _, _) = run(&[
        "restore",
        "--cluster",
        s(&d.path().join("dst")),
        "FROM",
        "LATEST",
        "IN",
        &coll,
    ]);
    assert_eq!(code, 2);
    let (code, _, _) = run(&[
        "show",
        "backup",
        "FROM",
        "LATEST",
        "IN",
        "nodelocal://1/b",
        "--cluster",
        s(&c),
    ]);
    assert_eq!(code, 2);
}

#[test]
fn report_excerpts_of_an_odd_latest_are_capped() {
    let d = tempfile::tempdir().unwrap();
    let (c, coll, _) = setup(d.path());
    std::fs::remove_file(coll.join("LATEST")).unwrap();
    std::fs::write(coll.join("LATEST"), "x".repeat(10_000)).unwrap();
    let (code, out, _) = run(&[
        "verify",
        "IN",
        "nodelocal://1/b",
        "--cluster",
        s(&c),
        "--level",
        "metadata",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{out}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let f = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "latest_invalid" && f["file"] == "LATEST")
        .unwrap_or_else(|| panic!("{out}"));
    let found = f["found"].as_str().unwrap();
    assert_eq!(found, format!("{}… (10000 bytes in all)", "x".repeat(256)));
    assert!(out.len() < 8_000, "{} bytes of report", out.len());
}
