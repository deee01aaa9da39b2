//! Encrypted backups end to end through the engine: a passphrase or KMS-encrypted chain
//! restores exactly; no stored byte holds plaintext; the errors name their cause (no key,
//! wrong key, key for an unencrypted backup, a different key for an incremental — refused
//! before anything is written); rotation adds a key record and changes nothing else;
//! tampering with encrypted files fails authentication naming the file.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use support::*;
use vouch_chain::Targets;
use vouch_chain::{open_options, Collection};
use vouch_chain::{RestoreOptions, Source};
use vouch_cluster::{Clock, Cluster};
use vouch_engine::backup::{backup, Destination};
use vouch_engine::crypto;
use vouch_engine::restore;
use vouch_engine::Error;
use vouch_format::keys::ColumnType;
use vouch_format::layout;
use vouch_keys::passphrase::Passphrase;
use vouch_keys::{KeyError, KeySource};

const CANARY: &str = "vouch-canary-3f9c2a7e-plaintext-must-not-leak";

fn pass(p: &str) -> KeySource {
    KeySource::passphrase(Passphrase::new(p).unwrap())
}

fn file_uri(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// A `file://` KMS key (mode 0600).
fn key_file(dir: &Path, name: &str, byte: u8) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, hex::encode([byte; 32])).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    file_uri(&p)
}

/// `shop.items` (with a secondary index) holding the canary string.
fn source() -> Env {
    let env = Env::new();
    env.c.create_database("shop").unwrap();
    env.c
        .create_table(
            "shop",
            &simple_table("items", "v", ColumnType::String, true),
        )
        .unwrap();
    env.upsert(
        "shop",
        "items",
        &[int_str(1, CANARY), int_str(2, "b"), int_str(3, "c")],
    );
    env.advance(SEC);
    env
}

fn take(env: &Env, dest: Destination, keys: &KeySource) -> Result<(), Error> {
    let mut o = opts(Targets::Cluster, dest);
    o.revision_history = true;
    o.encryption = keys.clone();
    backup(&env.c, &o, &mut |_| {}).map(|_| ())
}

fn target(env: &Env) -> (tempfile::TempDir, Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::init(&dir.path().join("t"), Clock::manual(env.now().wall + SEC)).unwrap();
    (dir, c)
}

/// The read side's error inside an engine error.
fn chain_error(e: &Error) -> &vouch_chain::Error {
    match e {
        Error::Chain(c) => c,
        other => panic!("not a read error: {other:?}"),
    }
}

fn restore_with(env: &Env, uri: &str, keys: &KeySource, db: &str) -> Result<(), Error> {
    let (_d, tgt) = target(env);
    let mut o = RestoreOptions::new(
        Targets::Databases(vec!["shop".into()]),
        Source::Collection {
            uri: uri.into(),
            subdir: "LATEST".into(),
            incremental_location: None,
        },
    );
    o.keys = keys.clone();
    o.new_db_name = Some(db.into());
    let r = restore::restore(&tgt, &o, &mut |_| {})?;
    assert!(r.fingerprints_checked > 0);
    let want: BTreeMap<_, _> = env
        .c
        .fingerprints(r.time)
        .unwrap()
        .into_iter()
        .filter(|f| f.database == "shop")
        .map(|f| ((f.table, f.index), f.fingerprint))
        .collect();
    let got: BTreeMap<_, _> = tgt
        .fingerprints(tgt.now())
        .unwrap()
        .into_iter()
        .filter(|f| f.database == db)
        .map(|f| ((f.table, f.index), f.fingerprint))
        .collect();
    assert_eq!(got, want);
    Ok(())
}

fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn key_error(e: Error) -> KeyError {
    match e {
        Error::Key(k) => k,
        other => panic!("expected a key error, got {other:?}"),
    }
}

#[test]
fn passphrase_chain_restores_and_no_plaintext_is_stored() {
    let env = source();
    let keys = pass("correct horse battery staple");
    take(&env, Destination::Into(env.uri("enc")), &keys).unwrap();
    env.upsert("shop", "items", &[int_str(4, "d")]);
    env.advance(SEC);
    take(&env, Destination::IntoLatest(env.uri("enc")), &keys).unwrap();
    let root = env.root("enc");
    let uri = file_uri(&root);
    restore_with(&env, &uri, &keys, "r1").unwrap();

    // Every stored byte: the canary (a row value, and a key of the secondary index) is
    // nowhere, and neither are the database or table names.
    let all = files(&root);
    assert!(all.iter().any(|p| p.ends_with(layout::ENCRYPTION_INFO)));
    assert!(all.iter().filter(|p| p.ends_with(layout::LISTING)).count() == 2);
    for p in &all {
        let b = std::fs::read(p).unwrap();
        for needle in [CANARY.as_bytes(), b"shop", b"items"] {
            assert!(
                !contains(&b, needle),
                "{} holds {:?} in plaintext",
                p.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }
    // The control: an unencrypted backup of the same data does hold it.
    take(
        &env,
        Destination::Into(env.uri("plain")),
        &KeySource::default(),
    )
    .unwrap();
    assert!(files(&env.root("plain"))
        .iter()
        .any(|p| contains(&std::fs::read(p).unwrap(), CANARY.as_bytes())));

    // Errors that name the cause.
    match key_error(restore_with(&env, &uri, &KeySource::default(), "x").unwrap_err()) {
        KeyError::EncryptedButNoKey { passphrase, .. } => assert!(passphrase),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        key_error(restore_with(&env, &uri, &pass("wrong"), "x").unwrap_err()),
        KeyError::WrongPassphrase
    );
    let plain_uri = file_uri(&env.root("plain"));
    match key_error(restore_with(&env, &plain_uri, &keys, "x").unwrap_err()) {
        KeyError::KeyGivenButNotEncrypted { given } => assert_eq!(given, "passphrase"),
        other => panic!("{other:?}"),
    }
    // SHOW BACKUP of an encrypted chain without its key names the cause too.
    let coll = Collection::open(&uri, None, &open_options(None)).unwrap();
    let full = coll.latest().unwrap();
    assert!(matches!(
        coll.chain(&full).unwrap_err().key_error(),
        Some(vouch_keys::KeyError::EncryptedButNoKey { .. })
    ));
    let chain = coll.chain_keyed(&full, &keys).unwrap();
    assert_eq!(chain.layers.len(), 2);
    // No secret in any message.
    for e in [
        restore_with(&env, &uri, &pass("hunter2-secret"), "x").unwrap_err(),
        restore_with(&env, &plain_uri, &pass("hunter2-secret"), "x").unwrap_err(),
    ] {
        assert!(!format!("{e} {e:?}").contains("hunter2"), "{e:?}");
    }
}

#[test]
fn an_incremental_with_another_key_is_refused_before_anything_is_written() {
    let env = source();
    take(&env, Destination::Into(env.uri("enc")), &pass("one")).unwrap();
    env.upsert("shop", "items", &[int_str(5, "e")]);
    env.advance(SEC);
    let before = snapshot(&env.root("enc"));
    assert_eq!(
        key_error(take(&env, Destination::IntoLatest(env.uri("enc")), &pass("two")).unwrap_err()),
        KeyError::WrongPassphrase
    );
    assert!(matches!(
        key_error(
            take(
                &env,
                Destination::IntoLatest(env.uri("enc")),
                &KeySource::default()
            )
            .unwrap_err()
        ),
        KeyError::EncryptedButNoKey { .. }
    ));
    assert_eq!(snapshot(&env.root("enc")), before, "nothing written");
    // And a key for an unencrypted chain.
    take(
        &env,
        Destination::Into(env.uri("plain")),
        &KeySource::default(),
    )
    .unwrap();
    env.advance(SEC);
    let before = snapshot(&env.root("plain"));
    assert!(matches!(
        key_error(take(&env, Destination::IntoLatest(env.uri("plain")), &pass("x")).unwrap_err()),
        KeyError::KeyGivenButNotEncrypted { .. }
    ));
    assert_eq!(snapshot(&env.root("plain")), before);
}

#[test]
fn kms_rotation_adds_a_record_and_changes_nothing_else() {
    let env = source();
    let keydir = tempfile::tempdir().unwrap();
    let k1 = key_file(keydir.path(), "k1", 1);
    let k2 = key_file(keydir.path(), "k2", 2);
    let k3 = key_file(keydir.path(), "k3", 3);
    take(
        &env,
        Destination::Into(env.uri("enc")),
        &KeySource::kms([k1.clone()]),
    )
    .unwrap();
    let root = env.root("enc");
    let uri = file_uri(&root);
    let before = snapshot(&root);
    // Only the new key: not yet.
    assert!(matches!(
        key_error(restore_with(&env, &uri, &KeySource::kms([k2.clone()]), "x").unwrap_err()),
        KeyError::KmsNoMatch { .. }
    ));
    let coll = Collection::open(&uri, None, &open_options(None)).unwrap();
    // The old key must unlock it.
    assert!(crypto::alter_backup_add_kms(
        &coll,
        "LATEST",
        &KeySource::kms([k3.clone()]),
        std::slice::from_ref(&k2)
    )
    .is_err());
    let written = crypto::alter_backup_add_kms(
        &coll,
        "LATEST",
        &KeySource::kms([k1.clone()]),
        std::slice::from_ref(&k2),
    )
    .unwrap();
    assert!(written.ends_with("/ENCRYPTION-INFO-1"), "{written}");
    let after = snapshot(&root);
    // Every old file byte-identical; exactly one new file.
    for (k, v) in &before {
        assert_eq!(after.get(k), Some(v), "{k} changed");
    }
    assert_eq!(after.len(), before.len() + 1);
    restore_with(&env, &uri, &KeySource::kms([k2.clone()]), "r2").unwrap();
    restore_with(&env, &uri, &KeySource::kms([k1.clone()]), "r1").unwrap();
    // A second rotation numbers after the first.
    let w2 = crypto::alter_backup_add_kms(
        &coll,
        "LATEST",
        &KeySource::kms([k2]),
        std::slice::from_ref(&k3),
    )
    .unwrap();
    assert!(w2.ends_with("/ENCRYPTION-INFO-2"), "{w2}");
    restore_with(&env, &uri, &KeySource::kms([k3]), "r3").unwrap();
}

#[test]
fn tampered_encrypted_files_fail_authentication_naming_the_file() {
    let env = source();
    let keys = pass("pw");
    take(&env, Destination::Into(env.uri("enc")), &keys).unwrap();
    let root = env.root("enc");
    let full = Collection::open(&file_uri(&root), None, &open_options(None))
        .unwrap()
        .latest()
        .unwrap();
    let data: Vec<PathBuf> = files(&root.join(&full).join("data"));
    assert!(data.len() >= 2, "{data:?}");
    let run = |mutate: &dyn Fn(&Path)| -> Error {
        let copy = tempfile::tempdir().unwrap();
        vouch_testkit::tree::copy_tree(&root, copy.path()).unwrap();
        mutate(&copy.path().join(&full));
        restore_with(&env, &file_uri(copy.path()), &keys, "x").unwrap_err()
    };
    // A flipped byte inside the last data file (shop.items: the highest table id).
    let rel0 = data[data.len() - 1]
        .strip_prefix(root.join(&full))
        .unwrap()
        .to_path_buf();
    let e = run(&|dir| {
        let p = dir.join(&rel0);
        let mut b = std::fs::read(&p).unwrap();
        let at = b.len() / 2;
        b[at] ^= 0x40;
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, b).unwrap();
    });
    // Chunk authentication fails in the flipped file, named as the object.
    let read = chain_error(&e);
    assert_eq!(read.kind(), vouch_chain::ErrorKind::Format, "{e:?}");
    assert!(
        read.object()
            .is_some_and(|o| o.ends_with(&format!("{full}/{}", rel0.display()))),
        "{e:?}"
    );
    assert!(
        matches!(
            read.cause(),
            Some(vouch_chain::Cause::Format(
                vouch_format::Error::EnvelopeAuth { .. }
            ))
        ),
        "{e:?}"
    );
    // Two data files of the backup swapped (same key, other identity).
    let rel1 = data[data.len() - 2]
        .strip_prefix(root.join(&full))
        .unwrap()
        .to_path_buf();
    let e = run(&|dir| {
        let (a, b) = (dir.join(&rel0), dir.join(&rel1));
        let (ba, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        std::fs::remove_file(&a).unwrap();
        std::fs::remove_file(&b).unwrap();
        std::fs::write(&a, bb).unwrap();
        std::fs::write(&b, ba).unwrap();
    });
    // The swapped files have other sizes than the manifest records (checked before any
    // chunk is opened).
    assert_eq!(
        e.kind(),
        vouch_engine::ErrorKind::Read(vouch_chain::ErrorKind::DataMismatch),
        "{e:?}"
    );
}

#[test]
fn a_forged_listing_is_caught_with_the_key() {
    let env = source();
    let keys = pass("pw");
    take(&env, Destination::Into(env.uri("enc")), &keys).unwrap();
    let root = env.root("enc");
    let uri = file_uri(&root);
    let full = Collection::open(&uri, None, &open_options(None))
        .unwrap()
        .latest()
        .unwrap();
    // A listing edited to describe another size for a data file (what someone hiding a
    // replaced file would write): decodes fine, disagrees with the sealed manifest.
    let lpath = root.join(&full).join(layout::LISTING);
    let mut listing =
        vouch_chain::sealed::decode_listing(&std::fs::read(&lpath).unwrap(), "listing").unwrap();
    listing.files[0].size += 1;
    let copy = tempfile::tempdir().unwrap();
    vouch_testkit::tree::copy_tree(&root, copy.path()).unwrap();
    let cl = copy.path().join(&full).join(layout::LISTING);
    std::fs::remove_file(&cl).unwrap();
    std::fs::write(&cl, crypto::encode_listing(&listing)).unwrap();
    let coll = Collection::open(&file_uri(copy.path()), None, &open_options(None)).unwrap();
    let e = coll.chain_keyed(&full, &keys).unwrap_err();
    assert_eq!(e.kind(), vouch_chain::ErrorKind::ListingMismatch, "{e:?}");
    assert!(
        e.object()
            .is_some_and(|o| o.ends_with(&format!("{full}/{}", layout::LISTING))),
        "{e:?}"
    );
    // The difference the reader found is in the files.
    let key = vouch_chain::sealed::chain_key(coll.store.as_ref(), &full, &keys)
        .unwrap()
        .unwrap();
    let read = vouch_chain::layer::read_layer(
        coll.store.as_ref(),
        &full,
        true,
        vouch_chain::layer::Encryption::Key(&key),
    );
    let fields: Vec<&str> = read
        .problems
        .iter()
        .flat_map(|p| match p {
            vouch_chain::layer::Problem::ListingMismatch { differences, .. } => {
                differences.iter().map(|d| d.field()).collect()
            }
            _ => vec![],
        })
        .collect();
    assert_eq!(fields, vec!["files"], "{:?}", read.problems);
    // A listing naming another backup id: the manifest no longer authenticates.
    let mut listing2 =
        vouch_chain::sealed::decode_listing(&std::fs::read(&lpath).unwrap(), "listing").unwrap();
    listing2.backup_id = vec![9; 16];
    std::fs::remove_file(&cl).unwrap();
    std::fs::write(&cl, crypto::encode_listing(&listing2)).unwrap();
    let e = coll.chain_keyed(&full, &keys).unwrap_err();
    assert_eq!(e.kind(), vouch_chain::ErrorKind::Format, "{e:?}");
    assert!(
        e.object()
            .is_some_and(|o| o.ends_with(&format!("{full}/{}", layout::MANIFEST))),
        "{e:?}"
    );
    assert!(
        matches!(
            e.cause(),
            Some(vouch_chain::Cause::Format(
                vouch_format::Error::EnvelopeAuth { chunk: 0, .. }
            ))
        ),
        "{e:?}"
    );
}
