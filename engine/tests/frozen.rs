//! The frozen version-1 collection in `testdata/frozen/v1/collection/`: a full backup and
//! an incremental, both with revision history, of a `bank` + `movr` cluster, written once
//! by `create_missing_v1_collection` (which refuses to overwrite) and never regenerated.
//! Every later reader must read it: manifests and checksum files, the hash chain, every
//! file's size and SHA-256 and content counts, RocksDB's own check of every SST, and the
//! per-index fingerprints recomputed from the files.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use support::*;
use vouch_chain::Targets;
use vouch_chain::{open_options, Collection};
use vouch_cluster::workload::{self, Workload};
use vouch_engine::backup::Destination;
use vouch_format::fingerprint::Fingerprint;
use vouch_format::keys::decode_table_prefix;
use vouch_format::mvcc::Timestamp;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/frozen/v1/collection")
}

fn uri() -> String {
    format!(
        "file://{}",
        root().canonicalize().unwrap_or_else(|_| root()).display()
    )
}

/// Per (table, index) fingerprints at `end` over the newest version at or before `end` of
/// every key, across the given layers' entries.
fn fingerprints(entries: &[Entry], end: Timestamp) -> BTreeMap<(u64, u64), Fingerprint> {
    let mut newest: BTreeMap<&[u8], (Timestamp, &Option<Vec<u8>>)> = BTreeMap::new();
    for (k, ts, v) in entries {
        if *ts <= end && newest.get(k.as_slice()).is_none_or(|(t, _)| ts > t) {
            newest.insert(k, (*ts, v));
        }
    }
    let mut out: BTreeMap<(u64, u64), Fingerprint> = BTreeMap::new();
    for (k, (_, v)) in newest {
        if let Some(v) = v {
            let (table, index, _) = decode_table_prefix(k).unwrap();
            out.entry((table, index))
                .or_default()
                .add_key(k, v)
                .unwrap();
        }
    }
    out
}

#[test]
fn v1_collection_reads() {
    let coll = Collection::open(&uri(), None, &open_options(None)).unwrap();
    let full = coll.latest().unwrap();
    assert_eq!(coll.full_backups().unwrap(), vec![full.clone()]);
    let chain = coll.chain(&full).unwrap();
    assert_eq!(chain.layers.len(), 2);
    let l0 = read_layer(&root().join(&chain.layers[0].dir));
    let l1 = read_layer(&root().join(&chain.layers[1].dir));
    assert!(l0.m.previous.is_none());
    let prev = l1.m.previous.as_ref().unwrap();
    assert_eq!(prev.path, chain.layers[0].dir);
    assert_eq!(prev.manifest_sha256, l0.sha().to_vec());
    assert_eq!(l1.start(), l0.end());
    assert_eq!(l1.m.chain_id, l0.m.chain_id);
    let e0 = layer_entries(&l0);
    let mut all = e0.clone();
    all.extend(layer_entries(&l1));
    for (layer, entries) in [(&l0, &e0), (&l1, &all)] {
        let got = fingerprints(entries, layer.end());
        assert!(!layer.m.fingerprints.is_empty());
        for f in &layer.m.fingerprints {
            let fp = got
                .get(&(f.table_id, f.index_id))
                .copied()
                .unwrap_or_default();
            assert_eq!(
                (fp.hash, fp.entries),
                (f.fingerprint, f.rows),
                "table {} index {} at {}",
                f.table_id,
                f.index_id,
                layer.end()
            );
        }
    }
}

/// Run once by hand (`cargo test -p vouch-engine --test frozen -- --ignored`) to create the
/// sample; it refuses to overwrite.
#[test]
#[ignore]
fn create_missing_v1_collection() {
    assert!(!root().exists(), "frozen samples are never regenerated");
    std::fs::create_dir_all(root()).unwrap();
    let env = Env::new();
    workload::init(&env.c, Workload::Bank, 60, 1).unwrap();
    workload::init(&env.c, Workload::Movr, 12, 1).unwrap();
    env.advance(SEC);
    let mut o = opts(Targets::Cluster, Destination::Into(uri()));
    o.revision_history = true;
    run(&env.c, &o);
    workload::run(&env.c, Workload::Bank, 40, 2).unwrap();
    workload::run(&env.c, Workload::Movr, 20, 2).unwrap();
    env.advance(SEC);
    let mut o = opts(Targets::Cluster, Destination::IntoLatest(uri()));
    o.revision_history = true;
    run(&env.c, &o);
}

/// The frozen encrypted collection: a full backup and a revision-history incremental of a
/// `bank` cluster, encrypted with [`FROZEN_PASSPHRASE`] (PBKDF2 with 600,000 iterations),
/// written once by `create_missing_v1_encrypted_collection` and never regenerated.
const FROZEN_PASSPHRASE: &str = "vouch frozen v1 passphrase";

fn enc_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/frozen/v1/encrypted")
}

fn enc_uri() -> String {
    format!(
        "file://{}",
        enc_root()
            .canonicalize()
            .unwrap_or_else(|_| enc_root())
            .display()
    )
}

fn frozen_keys() -> vouch_keys::KeySource {
    vouch_keys::KeySource::passphrase(
        vouch_keys::passphrase::Passphrase::new(FROZEN_PASSPHRASE).unwrap(),
    )
}

#[test]
fn v1_encrypted_collection_reads_and_restores() {
    let coll = Collection::open(&enc_uri(), None, &open_options(None)).unwrap();
    let full = coll.latest().unwrap();
    // Without the key: the cause is named.
    assert!(matches!(
        coll.chain(&full).unwrap_err().key_error(),
        Some(vouch_keys::KeyError::EncryptedButNoKey { .. })
    ));
    let chain = coll.chain_keyed(&full, &frozen_keys()).unwrap();
    assert_eq!(chain.layers.len(), 2);
    assert!(chain.layers[1].manifest.previous.is_some());
    // Every layer has its listing, which agrees with the manifest (checked on read) and
    // with the stored files.
    for l in &chain.layers {
        let listing = vouch_chain::sealed::read_listing(coll.store.as_ref(), &l.dir)
            .unwrap()
            .unwrap();
        for f in &listing.files {
            let bytes = std::fs::read(enc_root().join(&l.dir).join(&f.path)).unwrap();
            assert_eq!(bytes.len() as u64, f.size);
            assert_eq!(
                vouch_format::manifest::sha256(&bytes).to_vec(),
                f.sha256,
                "{}",
                f.path
            );
        }
    }
    // A restore at each layer's end passes its fingerprint check against the manifest.
    for l in &chain.layers {
        let end = ts(l.manifest.end_time);
        let dir = tempfile::tempdir().unwrap();
        let c = vouch_cluster::Cluster::init(
            &dir.path().join("c"),
            vouch_cluster::Clock::manual(end.wall + SEC),
        )
        .unwrap();
        let mut o = vouch_chain::RestoreOptions::new(
            Targets::Databases(vec!["bank".into()]),
            vouch_chain::Source::Collection {
                uri: enc_uri(),
                subdir: "LATEST".into(),
                incremental_location: None,
            },
        );
        o.keys = frozen_keys();
        o.as_of = Some(end.to_string());
        let r = vouch_engine::restore::restore(&c, &o, &mut |_| {}).unwrap();
        assert!(r.fingerprints_checked >= 1, "{r:?}");
        assert!(r.rows > 0);
    }
}

/// Run once by hand (`cargo test -p vouch-engine --test frozen -- --ignored`) to create the
/// sample; it refuses to overwrite.
#[test]
#[ignore]
fn create_missing_v1_encrypted_collection() {
    assert!(!enc_root().exists(), "frozen samples are never regenerated");
    std::fs::create_dir_all(enc_root()).unwrap();
    let env = Env::new();
    workload::init(&env.c, Workload::Bank, 40, 3).unwrap();
    env.advance(SEC);
    let mut o = opts(Targets::Cluster, Destination::Into(enc_uri()));
    o.revision_history = true;
    o.encryption = frozen_keys();
    run(&env.c, &o);
    workload::run(&env.c, Workload::Bank, 20, 4).unwrap();
    env.advance(SEC);
    let mut o = opts(Targets::Cluster, Destination::IntoLatest(enc_uri()));
    o.revision_history = true;
    o.encryption = frozen_keys();
    run(&env.c, &o);
}
