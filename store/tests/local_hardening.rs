//! The local store never follows a link or opens a special file, and never reads an
//! object past the limit its reader gives: the reproductions of issue 13 (a symlinked
//! folder inside a collection, a FIFO in place of a checksum file, a sparse 1 TiB file,
//! `LATEST` linked to any file, and a linked `.vouch-tmp`), each with its exact error.

#![cfg(unix)]

use std::os::unix::fs::symlink;
use std::sync::mpsc;
use std::time::Duration;

use vouch_store::{open, Error, OpenOptions, Special, Store};

fn store() -> (tempfile::TempDir, Box<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("coll");
    std::fs::create_dir(&root).unwrap();
    let s = open(root.to_str().unwrap(), &OpenOptions::default()).unwrap();
    (dir, s)
}

/// `f` finishes within 20 s (a read that blocks on a pipe would hang forever).
fn within_20s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the store blocked (it opened a FIFO for reading?)")
}

#[track_caller]
fn not_regular<T: std::fmt::Debug>(r: vouch_store::Result<T>, at: &str, what: Special) {
    match r {
        Err(Error::NotRegular { path, found }) => {
            assert!(path.ends_with(&format!("/coll/{at}")), "{path} is not {at}");
            assert_eq!(found, what);
        }
        other => panic!("expected {what} at {at}: {other:?}"),
    }
}

#[test]
fn a_symlinked_folder_inside_a_collection_is_never_followed() {
    let (d, s) = store();
    let outside = d.path().join("outside");
    std::fs::create_dir_all(outside.join("data")).unwrap();
    std::fs::write(outside.join("data/1.sst"), b"elsewhere").unwrap();
    s.put_new("2026/11/21-120000.00/BACKUP_MANIFEST", b"m")
        .unwrap();
    symlink(&outside, d.path().join("coll/incrementals")).unwrap();

    not_regular(s.list(""), "incrementals", Special::Symlink);
    not_regular(s.list("incrementals/"), "incrementals", Special::Symlink);
    not_regular(
        s.get("incrementals/data/1.sst"),
        "incrementals",
        Special::Symlink,
    );
    not_regular(
        s.get_range("incrementals/data/1.sst", 0, 1),
        "incrementals",
        Special::Symlink,
    );
    not_regular(
        s.size("incrementals/data/1.sst"),
        "incrementals",
        Special::Symlink,
    );
    // Nothing is written through it.
    not_regular(
        s.put_new("incrementals/new", b"x"),
        "incrementals",
        Special::Symlink,
    );
    not_regular(
        s.create_new("incrementals/data/2.sst").map(|_| ()),
        "incrementals",
        Special::Symlink,
    );
    let mut names: Vec<_> = std::fs::read_dir(outside.join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["1.sst"]);
    assert!(!outside.join("new").exists());
    // Listings beside it still work.
    assert_eq!(s.list("2026/").unwrap().len(), 1);
}

#[test]
fn a_folder_swapped_for_a_link_while_writing_is_not_written_through() {
    let (d, s) = store();
    let outside = d.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::create_dir_all(d.path().join("coll/dir")).unwrap();
    let mut w = s.create_new("dir/obj").unwrap();
    std::io::Write::write_all(&mut w, b"x").unwrap();
    std::fs::remove_dir(d.path().join("coll/dir")).unwrap();
    symlink(&outside, d.path().join("coll/dir")).unwrap();
    not_regular(w.finish(), "dir", Special::Symlink);
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn a_fifo_in_place_of_a_checksum_file_is_refused_without_blocking() {
    let (d, s) = store();
    let dir = "2026/11/21-120000.00";
    s.put_new(&format!("{dir}/BACKUP_MANIFEST"), b"m").unwrap();
    let fifo = d
        .path()
        .join("coll")
        .join(dir)
        .join("BACKUP_MANIFEST-CHECKSUM");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let s: std::sync::Arc<dyn Store> = std::sync::Arc::from(s);
    let at = format!("{dir}/BACKUP_MANIFEST-CHECKSUM");
    for op in 0..5 {
        let (s, p) = (std::sync::Arc::clone(&s), at.clone());
        let r = within_20s(move || match op {
            0 => s.get(&p).map(|_| ()),
            1 => s.get_limited(&p, 64).map(|_| ()),
            2 => s.get_range(&p, 0, 1).map(|_| ()),
            3 => s.size(&p).map(|_| ()),
            _ => s.list("").map(|_| ()),
        });
        not_regular(r, &at, Special::Fifo);
    }
    // Writing over it is refused like over any taken name.
    assert!(matches!(
        s.put_new(&at, b"x"),
        Err(Error::AlreadyExists { .. })
    ));
}

#[test]
fn a_sparse_tib_file_is_refused_before_anything_is_read() {
    let (d, s) = store();
    let path = d.path().join("coll/BACKUP_MANIFEST-CHECKSUM");
    std::fs::File::create(&path)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    assert_eq!(s.size("BACKUP_MANIFEST-CHECKSUM").unwrap(), Some(1 << 40));
    match s.get_limited("BACKUP_MANIFEST-CHECKSUM", 4096) {
        Err(Error::TooLarge { path, size, limit }) => {
            assert!(path.ends_with("/coll/BACKUP_MANIFEST-CHECKSUM"), "{path}");
            assert_eq!((size, limit), (1 << 40, 4096));
        }
        other => panic!("{other:?}"),
    }
    // At the limit exactly, an object is read.
    s.put_new("small", &[7; 4096]).unwrap();
    assert_eq!(s.get_limited("small", 4096).unwrap(), vec![7; 4096]);
    assert!(matches!(
        s.get_limited("small", 4095),
        Err(Error::TooLarge {
            size: 4096,
            limit: 4095,
            ..
        })
    ));
    assert!(matches!(
        s.get_limited("missing", 1),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn latest_linked_to_any_file_is_not_read() {
    let (d, s) = store();
    let secret = d.path().join("private.txt");
    std::fs::write(&secret, b"private contents").unwrap();
    symlink(&secret, d.path().join("coll/LATEST")).unwrap();
    not_regular(s.get("LATEST"), "LATEST", Special::Symlink);
    not_regular(s.get_limited("LATEST", 1 << 10), "LATEST", Special::Symlink);
    not_regular(s.size("LATEST"), "LATEST", Special::Symlink);
    not_regular(s.list(""), "LATEST", Special::Symlink);
}

#[test]
fn a_linked_temp_folder_is_refused() {
    let (d, s) = store();
    let outside = d.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    symlink(&outside, d.path().join("coll/.vouch-tmp")).unwrap();
    not_regular(s.put_new("x", b"1"), ".vouch-tmp", Special::Symlink);
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}
