//! `LocalStore` through the `Store` trait: write-once, atomic visibility, listing.

use std::io::Write;
use std::sync::{Arc, Barrier};

use vouch_store::{open, Error, LocalStore, ObjectMeta, OpenOptions, Operation, Store};

fn store() -> (tempfile::TempDir, Box<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path().to_str().unwrap(), &OpenOptions::default()).unwrap();
    (dir, s)
}

fn paths(s: &dyn Store, prefix: &str) -> Vec<String> {
    s.list(prefix)
        .unwrap()
        .into_iter()
        .map(|o| o.path)
        .collect()
}

/// Every file under the root, temp folder included.
fn files_on_disk(root: &std::path::Path) -> Vec<String> {
    fn walk(base: &std::path::Path, d: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_str().unwrap().to_string());
            }
        }
    }
    let mut v = Vec::new();
    if root.exists() {
        walk(root, root, &mut v);
    }
    v.sort();
    v
}

#[test]
fn put_new_is_write_once() {
    let (_d, s) = store();
    s.put_new("2026/11/21-120000.00/BACKUP_MANIFEST", b"first")
        .unwrap();
    let err = s
        .put_new("2026/11/21-120000.00/BACKUP_MANIFEST", b"second")
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");
    assert!(
        err.to_string()
            .ends_with("/2026/11/21-120000.00/BACKUP_MANIFEST: already exists (objects are written once, never overwritten)"),
        "{err}"
    );
    assert_eq!(
        s.get("2026/11/21-120000.00/BACKUP_MANIFEST").unwrap(),
        b"first"
    );
    // An empty object is an object.
    s.put_new("empty", b"").unwrap();
    assert_eq!(s.get("empty").unwrap(), b"");
    assert_eq!(s.size("empty").unwrap(), Some(0));
    assert!(matches!(
        s.put_new("empty", b"x"),
        Err(Error::AlreadyExists { .. })
    ));
}

#[test]
fn reads_of_missing_objects() {
    let (d, s) = store();
    let err = s.get("nope").unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                operation: Operation::Read,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}/nope: not found (reading the object)",
            d.path().display()
        )
    );
    assert!(matches!(
        s.get_range("nope", 0, 1),
        Err(Error::NotFound {
            operation: Operation::ReadRange,
            ..
        })
    ));
    assert!(matches!(
        s.get_range("nope", 0, 1),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(s.size("nope").unwrap(), None);
    // A folder is not an object; nor is anything below a file.
    s.put_new("dir/file", b"x").unwrap();
    assert!(matches!(s.get("dir"), Err(Error::NotFound { .. })));
    assert_eq!(s.size("dir").unwrap(), None);
    assert!(matches!(s.get("dir/file/x"), Err(Error::NotFound { .. })));
    assert_eq!(s.size("dir/file/x").unwrap(), None);
    assert_eq!(s.list("dir/file/").unwrap(), vec![]);
}

#[test]
fn missing_collection_reads_empty_and_first_write_creates_it() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("not/yet/here");
    let s = open(root.to_str().unwrap(), &OpenOptions::default()).unwrap();
    assert_eq!(s.list("").unwrap(), vec![]);
    assert!(matches!(s.get("LATEST"), Err(Error::NotFound { .. })));
    assert!(!root.exists(), "reads must not create the collection");
    s.put_new("LATEST", b"/2026/11/21-120000.00").unwrap();
    assert_eq!(paths(s.as_ref(), ""), vec!["LATEST"]);
}

#[test]
fn streaming_create_finish_and_abort() {
    let (d, s) = store();
    let mut w = s.create_new("data/000001.sst").unwrap();
    for i in 0..1000u32 {
        w.write_all(&i.to_le_bytes()).unwrap();
    }
    // Not visible before finish.
    assert_eq!(s.size("data/000001.sst").unwrap(), None);
    assert_eq!(s.list("").unwrap(), vec![]);
    assert_eq!(w.finish().unwrap(), 4000);
    assert_eq!(s.size("data/000001.sst").unwrap(), Some(4000));
    assert_eq!(
        s.get_range("data/000001.sst", 4 * 999, 4).unwrap(),
        999u32.to_le_bytes()
    );

    let mut w = s.create_new("data/000002.sst").unwrap();
    w.write_all(b"partial").unwrap();
    w.abort();
    assert_eq!(paths(s.as_ref(), ""), vec!["data/000001.sst"]);
    // Nothing is left behind, not even in the temp folder.
    assert_eq!(files_on_disk(d.path()), vec!["data/000001.sst"]);
    // The name is free again.
    s.put_new("data/000002.sst", b"x").unwrap();

    // create_new on a taken name fails before anything is streamed.
    assert!(matches!(
        s.create_new("data/000001.sst").map(|_| ()),
        Err(Error::AlreadyExists { .. })
    ));
}

#[test]
fn a_writer_dropped_without_finish_leaves_nothing() {
    let (d, s) = store();
    {
        let mut w = s
            .create_new("2026/11/21-120000.00/BACKUP_MANIFEST")
            .unwrap();
        w.write_all(&[7; 100_000]).unwrap();
        // The process "crashes" here: the writer is dropped.
    }
    assert_eq!(s.list("").unwrap(), vec![]);
    assert!(s
        .size("2026/11/21-120000.00/BACKUP_MANIFEST")
        .unwrap()
        .is_none());
    assert_eq!(files_on_disk(d.path()), Vec::<String>::new());

    // A real crash leaves its temp file; it is never listed and never visible.
    let w = s.create_new("x").unwrap();
    std::mem::forget(w);
    let on_disk = files_on_disk(d.path());
    assert_eq!(on_disk.len(), 1);
    assert!(on_disk[0].starts_with(".vouch-tmp/"), "{on_disk:?}");
    assert_eq!(s.list("").unwrap(), vec![]);
    assert_eq!(s.size("x").unwrap(), None);
}

#[test]
fn concurrent_creators_of_one_path_one_wins() {
    for round in 0..20 {
        let (_d, s) = store();
        let s: Arc<dyn Store> = Arc::from(s);
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2u8)
            .map(|t| {
                let (s, barrier) = (Arc::clone(&s), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    let body = vec![t; 10_000 + usize::from(t)];
                    // Both writers get past create_new's early check, then race to finish.
                    let mut w = s.create_new("metadata/latest/LATEST-1").unwrap();
                    w.write_all(&body).unwrap();
                    barrier.wait();
                    (t, w.finish())
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<u8> = results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        for (_, r) in &results {
            if let Err(e) = r {
                assert!(matches!(e, Error::AlreadyExists { .. }), "{e:?}");
            }
        }
        let w = winners[0];
        assert_eq!(
            s.get("metadata/latest/LATEST-1").unwrap(),
            vec![w; 10_000 + usize::from(w)]
        );
        assert_eq!(paths(s.as_ref(), ""), vec!["metadata/latest/LATEST-1"]);
    }
}

#[test]
fn concurrent_put_new_of_one_path_one_wins() {
    let (_d, s) = store();
    let s: Arc<dyn Store> = Arc::from(s);
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8u8)
        .map(|t| {
            let (s, barrier) = (Arc::clone(&s), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                s.put_new("LATEST", &[t; 64])
            })
        })
        .collect();
    let ok = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|r| match r {
            Ok(()) => true,
            Err(Error::AlreadyExists { .. }) => false,
            Err(e) => panic!("{e:?}"),
        })
        .count();
    assert_eq!(ok, 1);
    let got = s.get("LATEST").unwrap();
    assert_eq!(got.len(), 64);
    assert!(got.iter().all(|&b| b == got[0]), "a mix of two writers");
}

#[test]
fn list_is_recursive_sorted_with_sizes_and_prefix_filtered() {
    let (d, s) = store();
    for (p, n) in [
        ("b/2", 2),
        ("a/1", 1),
        ("a/sub/deeper/x", 5),
        ("ab", 3),
        ("a/10", 10),
        ("metadata/latest/LATEST-2", 7),
        ("metadata/latest/LATEST-10", 8),
        (".DS_Store", 4),
    ] {
        s.put_new(p, &vec![0; n]).unwrap();
    }
    std::fs::create_dir_all(d.path().join("empty/folder")).unwrap();
    let all = s.list("").unwrap();
    assert_eq!(
        all,
        [
            (".DS_Store", 4),
            ("a/1", 1),
            ("a/10", 10),
            ("a/sub/deeper/x", 5),
            ("ab", 3),
            ("b/2", 2),
            ("metadata/latest/LATEST-10", 8),
            ("metadata/latest/LATEST-2", 7),
        ]
        .map(|(p, size)| ObjectMeta {
            path: p.to_string(),
            size
        })
    );
    assert_eq!(
        paths(s.as_ref(), "a/"),
        vec!["a/1", "a/10", "a/sub/deeper/x"]
    );
    assert_eq!(
        paths(s.as_ref(), "a"),
        vec!["a/1", "a/10", "a/sub/deeper/x", "ab"]
    );
    assert_eq!(paths(s.as_ref(), "a/1"), vec!["a/1", "a/10"]);
    assert_eq!(paths(s.as_ref(), "a/s"), vec!["a/sub/deeper/x"]);
    assert_eq!(
        paths(s.as_ref(), "metadata/latest/LATEST-"),
        vec!["metadata/latest/LATEST-10", "metadata/latest/LATEST-2"]
    );
    assert_eq!(paths(s.as_ref(), "zzz"), Vec::<String>::new());
    assert_eq!(paths(s.as_ref(), "nothing/here/"), Vec::<String>::new());
    // A write in progress is not listed.
    let w = s.create_new("c").unwrap();
    assert_eq!(s.list("").unwrap(), all);
    w.abort();
}

#[cfg(unix)]
#[test]
fn list_refuses_links_naming_them() {
    let (d, s) = store();
    s.put_new("a/file", b"abc").unwrap();
    std::os::unix::fs::symlink(d.path().join("a/file"), d.path().join("link")).unwrap();
    std::os::unix::fs::symlink(d.path(), d.path().join("a/loop")).unwrap();
    std::os::unix::fs::symlink(d.path().join("gone"), d.path().join("dangling")).unwrap();
    // Links are never followed: where they would be listed, the listing is an error
    // naming one of them (links to files, to folders, dangling alike).
    match s.list("") {
        Err(Error::NotRegular { path, found }) => {
            assert_eq!(found, vouch_store::Special::Symlink);
            assert!(
                ["/link", "/a/loop", "/dangling"]
                    .iter()
                    .any(|l| path.ends_with(l)),
                "{path}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Listings that do not reach them are unaffected.
    assert_eq!(
        s.list("a/file").unwrap(),
        vec![ObjectMeta {
            path: "a/file".into(),
            size: 3
        }]
    );
}

#[test]
fn get_range_is_exact() {
    let (_d, s) = store();
    s.put_new("f", b"0123456789").unwrap();
    assert_eq!(s.get_range("f", 0, 10).unwrap(), b"0123456789");
    assert_eq!(s.get_range("f", 3, 4).unwrap(), b"3456");
    assert_eq!(s.get_range("f", 10, 0).unwrap(), b"");
    for (off, len) in [(0, 11), (9, 2), (11, 0), (u64::MAX, 1), (1, u64::MAX)] {
        match s.get_range("f", off, len) {
            Err(Error::RangeOutOfBounds {
                path,
                offset,
                len: asked,
                size,
            }) => {
                assert!(path.ends_with("/f"), "{path}");
                assert_eq!((offset, asked, size), (off, len, 10));
            }
            other => panic!("[{off}, +{len}): {other:?}"),
        }
    }
}

#[test]
fn invalid_paths_are_refused_by_every_operation() {
    let (d, s) = store();
    for bad in [
        "",
        "/etc/passwd",
        "../outside",
        "a/../../b",
        "a//b",
        "a/",
        "a\0b",
        ".vouch-tmp/x",
    ] {
        let errs = [
            s.get(bad).err(),
            s.get_range(bad, 0, 0).err(),
            s.size(bad).err(),
            s.put_new(bad, b"x").err(),
            s.create_new(bad).err(),
        ];
        for e in errs {
            match e {
                Some(Error::InvalidPath { path, .. }) => assert_eq!(path, bad),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
    assert!(matches!(s.list("../"), Err(Error::InvalidPath { .. })));
    assert!(matches!(s.list("/"), Err(Error::InvalidPath { .. })));
    assert_eq!(files_on_disk(d.path()), Vec::<String>::new());
    assert!(!d.path().parent().unwrap().join("outside").exists());
}

#[test]
fn local_store_without_a_uri() {
    let d = tempfile::tempdir().unwrap();
    let s = LocalStore::new(d.path());
    assert_eq!(s.uri(), d.path().to_str().unwrap());
    assert_eq!(s.root(), d.path());
    assert!(s.location().is_none());
    s.put_new("x", b"1").unwrap();
    assert_eq!(s.get("x").unwrap(), b"1");
}
