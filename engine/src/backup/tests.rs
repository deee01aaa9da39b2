//! Unit tests of BACKUP … TO (legacy layers at a URI's root).

use super::*;
use vouch_chain::Targets;
use vouch_cluster::workload::{self, Workload};
use vouch_cluster::Clock;
use vouch_format::manifest;

const SEC: u64 = 1_000_000_000;

fn cluster() -> (tempfile::TempDir, Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::init(&dir.path().join("c"), Clock::manual(1_767_225_600 * SEC)).unwrap();
    workload::init(&c, Workload::Bank, 20, 1).unwrap();
    c.kv().clock().advance(SEC);
    (dir, c)
}

fn to(uri: &str, from: &[&str]) -> BackupOptions {
    BackupOptions::new(
        Targets::Databases(vec!["bank".into()]),
        Destination::To {
            uri: uri.into(),
            incremental_from: from.iter().map(|s| s.to_string()).collect(),
        },
    )
}

fn names(c: &Cluster, dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(c.extern_dir().join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".vouch-tmp")
        .collect();
    v.sort();
    v
}

#[test]
fn legacy_to_writes_layers_at_the_uri_root_and_chains_them_by_uri() {
    let (_d, c) = cluster();
    let full = backup(&c, &to("nodelocal://1/full", &[]), &mut |_| {}).unwrap();
    assert!(!full.incremental);
    assert_eq!(full.path, "");
    // 20 accounts and system.users' admin and root.
    assert_eq!(full.rows, 22);
    // The layer is at the root: manifest, checksum, lock, data and progress; no LATEST.
    let root = names(&c, "full");
    assert!(root.contains(&layout::MANIFEST.to_string()), "{root:?}");
    assert!(root.contains(&layout::MANIFEST_CHECKSUM.to_string()));
    assert!(!root.iter().any(|n| n.starts_with("LATEST")), "{root:?}");

    workload::run(&c, Workload::Bank, 10, 2).unwrap();
    c.kv().clock().advance(SEC);
    let inc = backup(
        &c,
        &to("nodelocal://1/inc1", &["nodelocal://1/full"]),
        &mut |_| {},
    )
    .unwrap();
    assert!(inc.incremental);
    assert_eq!(inc.start_time, full.end_time);
    workload::run(&c, Workload::Bank, 10, 3).unwrap();
    c.kv().clock().advance(SEC);
    let inc2 = backup(
        &c,
        &to(
            "nodelocal://1/inc2",
            &["nodelocal://1/full", "nodelocal://1/inc1"],
        ),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(inc2.start_time, inc.end_time);

    let uris: Vec<String> = ["full", "inc1", "inc2"]
        .iter()
        .map(|n| format!("nodelocal://1/{n}"))
        .collect();
    let opts = vouch_chain::open_options(Some(c.extern_dir()));
    let chain = vouch_chain::OpenChain::from_uris(&uris, &opts)
        .unwrap()
        .chain;
    let [l0, l1, l2] = chain.layers.as_slice() else {
        panic!("three layers expected");
    };
    assert!(l0.manifest.previous.is_none());
    // Each layer names its predecessor by URI and by the SHA-256 of its manifest bytes.
    for (prev, layer, uri) in [(l0, l1, &uris[0]), (l1, l2, &uris[1])] {
        let p = layer.manifest.previous.as_ref().unwrap();
        assert_eq!(&p.path, uri);
        assert_eq!(p.manifest_sha256, prev.manifest_sha256.to_vec());
        let bytes = std::fs::read(
            c.extern_dir()
                .join(uri.trim_start_matches("nodelocal://1/"))
                .join(layout::MANIFEST),
        )
        .unwrap();
        assert_eq!(p.manifest_sha256, manifest::sha256(&bytes).to_vec());
        assert_eq!(layer.manifest.start_time, prev.manifest.end_time);
        assert_eq!(layer.manifest.chain_id, l0.manifest.chain_id);
    }
}

#[test]
fn legacy_to_refuses_a_destination_that_holds_objects() {
    let (_d, c) = cluster();
    backup(&c, &to("nodelocal://1/full", &[]), &mut |_| {}).unwrap();
    c.kv().clock().advance(SEC);
    let e = backup(&c, &to("nodelocal://1/full", &[]), &mut |_| {}).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DestinationNotEmpty, "{e:?}");
    let Error::DestinationNotEmpty { uri, first_object } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(uri, "nodelocal://1/full");
    // The first object in name order is the earlier backup's lock.
    assert!(layout::parse_lock_name(first_object).is_ok(), "{e:?}");
}

#[test]
fn legacy_incremental_from_a_missing_backup_fails_naming_it() {
    let (_d, c) = cluster();
    let e = backup(
        &c,
        &to("nodelocal://1/inc", &["nodelocal://1/nothing"]),
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::Read(vouch_chain::ErrorKind::NotFound),
        "{e:?}"
    );
    let Error::Chain(read) = &e else {
        panic!("{e:?}")
    };
    // The missing object is named: the store's NotFound for its manifest.
    let Some(vouch_chain::Cause::Store(vouch_store::Error::NotFound { path, .. })) = read.cause()
    else {
        panic!("{e:?}")
    };
    assert_eq!(path, &format!("nodelocal://1/nothing/{}", layout::MANIFEST));
}
