//! Frozen samples of every on-disk format version (testdata/frozen/v<N>/). They are never
//! regenerated: every later reader must read them, and a writer of the same version must
//! still produce the same bytes. A change that breaks these tests is a format change: bump
//! the version, keep these files, add new ones.

mod support;

use std::path::PathBuf;

use vouch_format::manifest;
use vouch_format::sst::{write_to_vec, Compression, SstReader, WriterOptions};

fn frozen(p: &str) -> PathBuf {
    support::testdata("frozen").join(p)
}

fn entries() -> Vec<(Vec<u8>, Vec<u8>)> {
    support::jsonl_entries(&frozen("v1/mvcc.entries.jsonl"))
}

#[test]
fn v1_ssts_read_and_rewrite_identically() {
    let want = entries();
    assert_eq!(want.len(), 300);
    for (name, compression) in [
        ("none", Compression::None),
        ("snappy", Compression::Snappy),
        ("zstd", Compression::Zstd),
    ] {
        let bytes = std::fs::read(frozen(&format!("v1/mvcc-{name}.sst"))).unwrap();
        let r = SstReader::open(bytes.as_slice()).unwrap();
        let stats = r.verify_scan().unwrap();
        assert_eq!(stats.entries, 300, "{name}");
        let got: Vec<_> = r.entries().collect::<Result<_, _>>().unwrap();
        assert_eq!(got, want, "{name}");
        let props = r.properties().vouch().unwrap().unwrap();
        assert_eq!(props.tombstones, Some(stats.tombstones));
        let opts = WriterOptions {
            block_size: 2048,
            compression,
            mvcc: true,
            ..WriterOptions::default()
        };
        let again =
            write_to_vec(want.iter().map(|(k, v)| (k.as_slice(), v.as_slice())), opts).unwrap();
        assert!(
            again == bytes,
            "{name}: the v1 writer no longer produces the frozen bytes"
        );
    }
}

fn sample_manifest() -> manifest::pb::BackupManifest {
    use manifest::pb;
    let e = entries();
    pb::BackupManifest {
        format_version: 1,
        writer_version: "vouch 0.1.0".into(),
        backup_id: (0u8..16).collect(),
        chain_id: (16u8..32).collect(),
        start_time: Some(pb::Timestamp {
            wall: 0,
            logical: 0,
        }),
        end_time: Some(pb::Timestamp {
            wall: 1_700_000_010_000_000_000,
            logical: 0,
        }),
        mvcc_filter: pb::MvccFilter::All as i32,
        revision_start_time: Some(pb::Timestamp {
            wall: 1_699_999_000_000_000_000,
            logical: 0,
        }),
        spans: vec![pb::Span {
            start: b"/bank/".to_vec(),
            end: b"/bank0".to_vec(),
        }],
        files: vec![pb::File {
            path: "data/1.sst".into(),
            size: 6984,
            sha256: manifest::sha256(&std::fs::read(frozen("v1/mvcc-zstd.sst")).unwrap()).to_vec(),
            span: Some(pb::Span {
                start: b"/bank/".to_vec(),
                end: b"/bank0".to_vec(),
            }),
            first_key: e.first().unwrap().0.clone(),
            last_key: e.last().unwrap().0.clone(),
            entries: 300,
            ..Default::default()
        }],
        descriptors: vec![pb::Descriptor {
            id: 100,
            name: "bank".into(),
            version: 1,
            kind: Some(pb::descriptor::Kind::Database(pb::Database {
                is_system: false,
            })),
            ..Default::default()
        }],
        is_full_cluster: true,
        ..Default::default()
    }
}

#[test]
fn v1_manifest_reads() {
    let p = frozen("v1/BACKUP_MANIFEST");
    let bytes = std::fs::read(&p).unwrap();
    let sum = std::fs::read(frozen("v1/BACKUP_MANIFEST-CHECKSUM")).unwrap();
    manifest::check_checksum_file(&bytes, &sum).unwrap();
    let m = manifest::decode(&bytes).unwrap();
    assert_eq!(m, sample_manifest());
}

/// Run once by hand (`cargo test -p vouch-format --test frozen -- --ignored`) to create a
/// missing sample; it refuses to overwrite.
#[test]
#[ignore]
fn create_missing_v1_manifest() {
    let p = frozen("v1/BACKUP_MANIFEST");
    assert!(!p.exists(), "frozen samples are never regenerated");
    let bytes = manifest::encode(&sample_manifest());
    std::fs::write(&p, &bytes).unwrap();
    std::fs::write(
        frozen("v1/BACKUP_MANIFEST-CHECKSUM"),
        manifest::checksum_file(&bytes),
    )
    .unwrap();
}

/// Version 2: a locality-aware layer. The v1 sample's file in the default store, a copy of
/// it in `region=us-west1`, and that store's part file.
fn sample_manifest_v2() -> manifest::pb::BackupManifest {
    let mut m = sample_manifest();
    m.format_version = manifest::LOCALITY_MANIFEST_FORMAT_VERSION;
    m.localities = vec!["region=us-west1".into()];
    let mut west = m.files[0].clone();
    west.path = "data/2.sst".into();
    west.locality = "region=us-west1".into();
    m.files.push(west);
    m
}

fn sample_part_v2() -> manifest::pb::BackupPart {
    let m = sample_manifest_v2();
    manifest::pb::BackupPart {
        format_version: manifest::PART_FORMAT_VERSION,
        backup_id: m.backup_id,
        chain_id: m.chain_id,
        locality: "region=us-west1".into(),
        paths: vec!["data/2.sst".into()],
    }
}

#[test]
fn v2_manifest_and_part_read() {
    let bytes = std::fs::read(frozen("v2/BACKUP_MANIFEST")).unwrap();
    let sum = std::fs::read(frozen("v2/BACKUP_MANIFEST-CHECKSUM")).unwrap();
    manifest::check_checksum_file(&bytes, &sum).unwrap();
    assert_eq!(manifest::decode(&bytes).unwrap(), sample_manifest_v2());
    // The writer of version 2 still writes these bytes.
    assert_eq!(manifest::encode(&sample_manifest_v2()), bytes);
    let part = std::fs::read(frozen("v2/BACKUP_PART_1_region=us-west1")).unwrap();
    assert_eq!(manifest::decode_part(&part).unwrap(), sample_part_v2());
    assert_eq!(manifest::encode_part(&sample_part_v2()), part);
}

#[test]
fn version_1_names_no_locality_and_version_2_only_listed_ones() {
    let mut m = sample_manifest_v2();
    m.format_version = manifest::MANIFEST_FORMAT_VERSION;
    assert!(matches!(
        manifest::decode(&manifest::encode(&m)),
        Err(vouch_format::Error::Invalid {
            field: "manifest localities",
            ..
        })
    ));
    let mut m = sample_manifest_v2();
    m.localities.clear();
    assert!(matches!(
        manifest::decode(&manifest::encode(&m)),
        Err(vouch_format::Error::Invalid {
            field: "manifest file locality",
            ..
        })
    ));
    let mut m = sample_manifest_v2();
    m.format_version = 3;
    assert!(matches!(
        manifest::decode(&manifest::encode(&m)),
        Err(vouch_format::Error::Invalid {
            field: "manifest format_version",
            ..
        })
    ));
    let mut p = sample_part_v2();
    p.format_version = 2;
    assert!(matches!(
        manifest::decode_part(&manifest::encode_part(&p)),
        Err(vouch_format::Error::Invalid {
            field: "backup part format_version",
            ..
        })
    ));
}

/// Run once by hand (`cargo test -p vouch-format --test frozen -- --ignored`) to create the
/// version-2 samples; it refuses to overwrite.
#[test]
#[ignore]
fn create_missing_v2_samples() {
    let p = frozen("v2/BACKUP_MANIFEST");
    assert!(!p.exists(), "frozen samples are never regenerated");
    std::fs::create_dir_all(frozen("v2")).unwrap();
    let bytes = manifest::encode(&sample_manifest_v2());
    std::fs::write(&p, &bytes).unwrap();
    std::fs::write(
        frozen("v2/BACKUP_MANIFEST-CHECKSUM"),
        manifest::checksum_file(&bytes),
    )
    .unwrap();
    std::fs::write(
        frozen("v2/BACKUP_PART_1_region=us-west1"),
        manifest::encode_part(&sample_part_v2()),
    )
    .unwrap();
}

/// A job record of version 1 (spec/jobs.md §4): a detached BACKUP paused at a checkpoint,
/// as the version-1 writer wrote it (no field of version 2).
fn sample_job_v1() -> manifest::pb::JobRecord {
    manifest::pb::JobRecord {
        format_version: manifest::JOB_FORMAT_VERSION_1,
        id: 1 << 59 | 0x1234_5678,
        job_type: 0,
        description: "BACKUP DATABASE bank INTO 'nodelocal://1/b' WITH encryption_passphrase = '*****', detached".into(),
        user_name: "root".into(),
        status: 2,
        created: 1_700_000_000_000_000_000,
        started: 1_700_000_001_000_000_000,
        finished: 0,
        modified: 1_700_000_002_000_000_000,
        fraction_millionths: 250_000,
        error: String::new(),
        schedule_id: 0,
        execute: "BACKUP DATABASE bank INTO 'nodelocal://1/b' WITH encryption_passphrase = '*****', detached".into(),
        database: "defaultdb".into(),
        as_of: "1700000000000000000.0000000000".into(),
        protect_record: 0,
        coordinator_id: 0,
        restore_checkpoint: None,
    }
}

/// A job record of version 2: a detached RESTORE paused after the first of its two
/// tables, coordinated by node 2.
fn sample_job_v2() -> manifest::pb::JobRecord {
    use manifest::pb;
    pb::JobRecord {
        format_version: manifest::JOB_FORMAT_VERSION,
        id: 1 << 59 | 0x8765_4321,
        job_type: 1,
        description: "RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/b' WITH new_db_name = 'bank2', detached".into(),
        user_name: "root".into(),
        status: 2,
        created: 1_700_000_000_000_000_000,
        started: 1_700_000_001_000_000_000,
        finished: 0,
        modified: 1_700_000_002_000_000_000,
        fraction_millionths: 500_000,
        error: String::new(),
        schedule_id: 0,
        execute: "RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/b' WITH new_db_name = 'bank2', detached".into(),
        database: "defaultdb".into(),
        as_of: String::new(),
        protect_record: 0,
        coordinator_id: 2,
        restore_checkpoint: Some(pb::RestoreCheckpoint {
            ids: vec![
                pb::RestoredId {
                    old_id: 104,
                    new_id: 130,
                },
                pb::RestoredId {
                    old_id: 105,
                    new_id: 131,
                },
                pb::RestoredId {
                    old_id: 106,
                    new_id: 132,
                },
                pb::RestoredId {
                    old_id: 107,
                    new_id: 133,
                },
            ],
            first_new_id: 130,
            new_ids: 4,
            tables: 2,
            done: vec![pb::RestoredTable {
                table_id: 106,
                rows: 300,
                index_entries: 300,
                bytes: 41_230,
                fingerprints: Vec::new(),
            }],
            // Written before the field existed: absent, as for any restore that does not
            // write system.users.
            users_since: None,
        }),
    }
}

#[test]
fn v1_and_v2_job_records_read() {
    let v1 = std::fs::read(frozen("v1/job-record")).unwrap();
    assert_eq!(manifest::decode_job(&v1).unwrap(), sample_job_v1());
    // A version-1 record's bytes are what its fields encode to: nothing of version 2.
    assert_eq!(manifest::encode_job(&sample_job_v1()), v1);
    let v2 = std::fs::read(frozen("v2/job-record")).unwrap();
    assert_eq!(manifest::decode_job(&v2).unwrap(), sample_job_v2());
    assert_eq!(manifest::encode_job(&sample_job_v2()), v2);
    // Both stay strict: every truncation of either fails or decodes to something else.
    for (bytes, record) in [(&v1, sample_job_v1()), (&v2, sample_job_v2())] {
        for n in 0..bytes.len() {
            if let Ok(d) = manifest::decode_job(&bytes[..n]) {
                assert_ne!(d, record, "truncated to {n} bytes");
            }
        }
    }
}

/// Run once by hand (`cargo test -p vouch-format --test frozen -- --ignored`) to create the
/// job record samples; it refuses to overwrite.
#[test]
#[ignore]
fn create_missing_job_records() {
    for (p, r) in [
        (frozen("v1/job-record"), sample_job_v1()),
        (frozen("v2/job-record"), sample_job_v2()),
    ] {
        if p.exists() {
            continue;
        }
        std::fs::write(&p, manifest::encode_job(&r)).unwrap();
    }
}
