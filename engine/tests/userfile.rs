//! `userfile://` storage: files kept inside the cluster, through the same `Store` trait as
//! every other store. Every operation's answer is checked against a local directory store
//! given the same calls (the oracle), across the chunk boundaries of the cluster's tables.

use std::io::Write;

use vouch_cluster::{Clock, Cluster, USERFILE_CHUNK};
use vouch_engine::storage::open_options;
use vouch_store::{open, Error, ObjectMeta, OpenOptions};

fn cluster() -> (tempfile::TempDir, Cluster) {
    let d = tempfile::tempdir().unwrap();
    let c = Cluster::init(&d.path().join("c"), Clock::manual(1 << 60)).unwrap();
    (d, c)
}

/// Deterministic bytes.
fn bytes(n: u64, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// The kind of a result, for comparing two stores' answers (messages name different URIs).
fn kind<T: std::fmt::Debug + PartialEq>(r: Result<T, Error>) -> Result<T, String> {
    r.map_err(|e| match e {
        Error::NotFound { .. } => "NotFound".into(),
        Error::AlreadyExists { .. } => "AlreadyExists".into(),
        Error::RangeOutOfBounds {
            offset, len, size, ..
        } => format!("RangeOutOfBounds {offset} {len} {size}"),
        Error::InvalidPath { .. } => "InvalidPath".into(),
        other => panic!("unexpected error {other:?}"),
    })
}

#[test]
fn userfiles_answer_as_a_local_store_does() {
    let (d, c) = cluster();
    let o = open_options(&c);
    let uf = open("userfile:///coll", &o).unwrap();
    let local = open(
        d.path().join("local").to_str().unwrap(),
        &OpenOptions::default(),
    )
    .unwrap();
    assert_eq!(uf.uri(), "userfile:///coll");

    let big = USERFILE_CHUNK * 2 + 12_345;
    let objects = [
        ("a/b", bytes(10, 1)),
        ("a/bc", bytes(0, 2)),
        ("a/x/big.sst", bytes(big, 3)),
        ("z", bytes(USERFILE_CHUNK, 4)),
    ];
    for s in [&uf, &local] {
        for (p, b) in &objects {
            s.put_new(p, b).unwrap();
        }
        // Written once: a second write of the same name is refused, the first stays.
        assert!(matches!(
            s.put_new("a/b", b"other"),
            Err(Error::AlreadyExists { .. })
        ));
        assert!(matches!(
            s.create_new("a/b"),
            Err(Error::AlreadyExists { .. })
        ));
        let mut w = s.create_new("w/streamed").unwrap();
        w.write_all(b"part one, ").unwrap();
        w.write_all(b"part two").unwrap();
        assert_eq!(
            s.size("w/streamed").unwrap(),
            None,
            "invisible before finish"
        );
        assert_eq!(w.finish().unwrap(), 18);
        let mut w = s.create_new("w/aborted").unwrap();
        w.write_all(b"never seen").unwrap();
        w.abort();
        // A writer that lost the race to another finds the name taken at finish.
        let mut w = s.create_new("w/raced").unwrap();
        w.write_all(b"late").unwrap();
        s.put_new("w/raced", b"first").unwrap();
        assert!(matches!(w.finish(), Err(Error::AlreadyExists { .. })));
    }
    assert_eq!(uf.get("a/b").unwrap(), objects[0].1);
    assert_eq!(uf.get("a/x/big.sst").unwrap(), objects[2].1);
    assert_eq!(uf.get("w/raced").unwrap(), b"first");
    assert_eq!(uf.get("w/streamed").unwrap(), b"part one, part two");

    for prefix in ["", "a", "a/", "a/b", "a/x/", "w/", "nothing/", "z"] {
        assert_eq!(
            kind(uf.list(prefix)),
            kind(local.list(prefix)),
            "list {prefix:?}"
        );
    }
    assert_eq!(
        uf.list("a/b").unwrap(),
        vec![
            ObjectMeta {
                path: "a/b".into(),
                size: 10
            },
            ObjectMeta {
                path: "a/bc".into(),
                size: 0
            },
        ]
    );
    let c1 = USERFILE_CHUNK;
    for (p, off, len) in [
        ("a/x/big.sst", 0, 100),
        ("a/x/big.sst", c1 - 3, 7),      // across the first chunk boundary
        ("a/x/big.sst", c1 - 1, c1 + 2), // over a whole chunk
        ("a/x/big.sst", big - 5, 5),     // the end
        ("a/x/big.sst", big - 5, 6),     // one past the end
        ("a/x/big.sst", big, 0),
        ("a/x/big.sst", big + 1, 0),
        ("a/x/big.sst", u64::MAX, 2),
        ("z", c1 - 1, 1),
        ("z", c1, 1),
        ("a/bc", 0, 0),
        ("a/bc", 0, 1),
        ("missing", 0, 1),
    ] {
        assert_eq!(
            kind(uf.get_range(p, off, len)),
            kind(local.get_range(p, off, len)),
            "{p} {off}+{len}"
        );
    }
    for p in ["a/b", "a/bc", "missing", "a", "w/aborted"] {
        assert_eq!(kind(uf.size(p)), kind(local.size(p)), "size {p}");
        assert_eq!(kind(uf.get(p)), kind(local.get(p)), "get {p}");
    }
    for bad in ["", "/abs", "a/../b", "a//b", "a/"] {
        assert_eq!(kind(uf.get(bad)), Err("InvalidPath".into()), "{bad:?}");
        assert_eq!(
            kind(uf.put_new(bad, b"x")),
            Err("InvalidPath".into()),
            "{bad:?}"
        );
    }
    assert!(matches!(
        uf.get_limited("a/x/big.sst", 100),
        Err(Error::TooLarge { size, limit: 100, .. }) if size == big
    ));
}

#[test]
fn tables_and_paths_keep_files_apart() {
    let (_d, c) = cluster();
    let o = open_options(&c);
    let default = open("userfile:///p", &o).unwrap();
    let named = open("userfile://defaultdb.public.userfiles_root/p", &o).unwrap();
    let pages = open("userfile://defaultdb.public.userfiles_$user/p", &o).unwrap();
    let other = open("userfile://d.s.other/p", &o).unwrap();
    let root = open("userfile:///", &o).unwrap();
    default.put_new("f", b"one").unwrap();
    // The default table is defaultdb.public.userfiles_root, as the pages write it too.
    assert_eq!(named.get("f").unwrap(), b"one");
    assert_eq!(pages.get("f").unwrap(), b"one");
    assert!(
        matches!(other.get("f"), Err(Error::NotFound { path, operation: vouch_store::Operation::Read }) if path == "userfile://d.s.other/p/f")
    );
    other.put_new("f", b"two").unwrap();
    assert_eq!(default.get("f").unwrap(), b"one");
    assert_eq!(
        root.list("").unwrap(),
        vec![ObjectMeta {
            path: "p/f".into(),
            size: 3
        }]
    );
    // Deleting (vouch userfile delete) is the cluster's, not the store's.
    assert!(c
        .kv()
        .storage()
        .delete("defaultdb.public.userfiles_root/p/f")
        .unwrap());
    assert!(!c
        .kv()
        .storage()
        .delete("defaultdb.public.userfiles_root/p/f")
        .unwrap());
    assert_eq!(default.size("f").unwrap(), None);
    assert_eq!(other.get("f").unwrap(), b"two");
    // Files survive the cluster being closed and opened again.
    let dir = c.dir().to_path_buf();
    drop((default, named, pages, root, other, o));
    drop(c);
    let c = Cluster::open(&dir, Clock::manual(1 << 60)).unwrap();
    let other = open("userfile://d.s.other/p", &open_options(&c)).unwrap();
    assert_eq!(other.get("f").unwrap(), b"two");
    assert!(matches!(
        open("userfile://notatable/p", &open_options(&c)),
        Err(Error::BadUri { .. })
    ));
}

#[test]
fn external_connections_resolve_to_every_scheme() {
    let (d, c) = cluster();
    let kv = c.kv();
    let dir = d.path().join("coll");
    kv.set_setting(
        &vouch_cluster::connection_key("files"),
        format!("file://{}", dir.display()).as_bytes(),
    )
    .unwrap();
    kv.set_setting(
        &vouch_cluster::connection_key("uf"),
        b"userfile://d.s.t/base",
    )
    .unwrap();
    kv.set_setting(&vouch_cluster::connection_key("loop"), b"external://uf")
        .unwrap();
    let o = open_options(&c);
    open("external://files/sub", &o)
        .unwrap()
        .put_new("x", b"local")
        .unwrap();
    assert_eq!(std::fs::read(dir.join("sub/x")).unwrap(), b"local");
    open("external://uf", &o)
        .unwrap()
        .put_new("sub/y", b"inside")
        .unwrap();
    assert_eq!(
        open("userfile://d.s.t/base/sub", &o)
            .unwrap()
            .get("y")
            .unwrap(),
        b"inside"
    );
    assert_eq!(
        open("external://uf/sub", &o).unwrap().get("y").unwrap(),
        b"inside"
    );
    assert!(
        matches!(open("external://nope", &o), Err(Error::UnknownConnection { name }) if name == "nope")
    );
    assert!(matches!(
        open("external://loop", &o),
        Err(Error::BadUri { .. })
    ));
    assert!(matches!(
        open("external://uf?AUTH=implicit", &o),
        Err(Error::BadUri { .. })
    ));
}
