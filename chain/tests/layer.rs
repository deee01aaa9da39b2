//! The layer reader: every problem as a typed value, and restore's policy (the first one,
//! as an error of the right kind).

use vouch_chain::layer::{read_layer, Encryption, Object, Problem};
use vouch_chain::ErrorKind;
use vouch_format::layout;
use vouch_format::manifest::{self, pb};
use vouch_store::LocalStore;

const DIR: &str = "2026/01/02-030405.06";

fn manifest_bytes() -> Vec<u8> {
    let m = pb::BackupManifest {
        format_version: manifest::MANIFEST_FORMAT_VERSION,
        backup_id: vec![7; 16],
        chain_id: vec![9; 16],
        end_time: Some(pb::Timestamp {
            wall: 1_767_322_245_060_000_000,
            logical: 0,
        }),
        ..Default::default()
    };
    manifest::encode(&m)
}

fn write(root: &std::path::Path, name: &str, bytes: &[u8]) {
    let p = root.join(DIR).join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// `bytes` as the layer's manifest, with the checksum file that matches it.
fn write_with_checksum(root: &std::path::Path, bytes: &[u8]) {
    write(root, layout::MANIFEST, bytes);
    write(
        root,
        layout::MANIFEST_CHECKSUM,
        &manifest::checksum_file(bytes),
    );
}

#[test]
fn an_empty_directory_gives_two_missing_objects_and_restore_stops_at_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join(DIR)).unwrap();
    let store = LocalStore::new(tmp.path());
    let r = read_layer(&store, DIR, true, Encryption::Plain);
    let objects: Vec<Object> = r
        .problems
        .iter()
        .map(|p| match p {
            Problem::Unreadable {
                object,
                error: vouch_store::Error::NotFound { .. },
                ..
            } => *object,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(objects, [Object::Manifest, Object::Checksum]);
    assert!(r.manifest.is_none());
    let e = r.into_layer("file:///x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[test]
fn a_clean_layer_reads_with_no_problem_and_its_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = manifest_bytes();
    write_with_checksum(tmp.path(), &bytes);
    let store = LocalStore::new(tmp.path());
    let r = read_layer(&store, DIR, true, Encryption::Plain);
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.objects_read, 2);
    assert_eq!(r.bytes_read, (bytes.len() + 32) as u64);
    let l = r.into_layer("file:///x").unwrap();
    assert_eq!(l.manifest_sha256, manifest::sha256(&bytes));
    assert_eq!(l.manifest_size, bytes.len() as u64);
    assert_eq!(l.dir, DIR);
}

#[test]
fn a_checksum_mismatch_and_a_decode_error_are_both_reported_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bytes = manifest_bytes();
    let sum = manifest::checksum_file(&bytes);
    // A byte no manifest field starts with: the checksum no longer matches and the
    // manifest no longer decodes.
    bytes.insert(0, 0xff);
    write(tmp.path(), layout::MANIFEST, &bytes);
    write(tmp.path(), layout::MANIFEST_CHECKSUM, &sum);
    let store = LocalStore::new(tmp.path());
    let r = read_layer(&store, DIR, true, Encryption::Plain);
    assert!(
        matches!(
            r.problems.as_slice(),
            [
                Problem::ChecksumMismatch { computed, stored, .. },
                Problem::ManifestDecode { .. }
            ] if *computed == manifest::sha256(&bytes) && stored.as_slice() == sum.as_slice()
        ),
        "{:?}",
        r.problems
    );
    let e = r.into_layer("file:///x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Format);
    assert!(e.format_error().is_some());
}

#[test]
fn a_sealed_manifest_in_a_plain_chain_is_an_encrypted_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bytes = vouch_format::envelope::MAGIC.to_vec();
    bytes.extend_from_slice(&[0u8; 64]);
    write_with_checksum(tmp.path(), &bytes);
    let store = LocalStore::new(tmp.path());
    let r = read_layer(&store, DIR, true, Encryption::Plain);
    assert!(
        matches!(r.problems.as_slice(), [Problem::ManifestSealed { .. }]),
        "{:?}",
        r.problems
    );
    let e = r.into_layer("file:///x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Encrypted);
    assert_eq!(
        e.object(),
        Some(format!("file:///x/{DIR}/{}", layout::MANIFEST).as_str())
    );
}

#[test]
fn a_keyless_read_without_a_listing_names_the_listing() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = manifest_bytes();
    write_with_checksum(tmp.path(), &bytes);
    let store = LocalStore::new(tmp.path());
    let r = read_layer(&store, DIR, true, Encryption::Keyless);
    assert!(
        matches!(
            r.problems.as_slice(),
            [Problem::Unreadable {
                object: Object::Listing,
                error: vouch_store::Error::NotFound { .. },
                ..
            }]
        ),
        "{:?}",
        r.problems
    );
    assert!(!r.from_listing);
    let e = r.into_layer("file:///x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ListingMismatch);
}
