//! The backup manifest (`BACKUP_MANIFEST`) and its checksum file.
//!
//! Types are generated from `spec/proto/vouch/v1/*.proto`. Decoding is strict: the stored
//! bytes must be exactly the canonical encoding of what was decoded, so unknown fields,
//! duplicated fields and non-canonical encodings are all rejected rather than silently
//! dropped (prost itself drops unknown fields). Hashes are always taken over the stored
//! bytes, never over a re-encoding.

use prost::Message;
use sha2::{Digest, Sha256};

use crate::error::{Error, HexBytes, Result};
use crate::mvcc::Timestamp;

/// Generated protobuf types (package `vouch.v1`).
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    missing_debug_implementations
)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/vouch.v1.rs"));
}

pub mod files;
pub mod rules;

impl From<Timestamp> for pb::Timestamp {
    fn from(ts: Timestamp) -> Self {
        pb::Timestamp {
            wall: ts.wall,
            logical: ts.logical,
        }
    }
}

impl From<pb::Timestamp> for Timestamp {
    fn from(t: pb::Timestamp) -> Self {
        Timestamp::new(t.wall, t.logical)
    }
}

impl Timestamp {
    /// A timestamp field of a stored message: an absent one is [`Timestamp::MIN`] (the
    /// protobuf default, as every reader of the manifest has always taken it).
    pub fn from_pb(t: Option<pb::Timestamp>) -> Self {
        t.map_or(Timestamp::MIN, Timestamp::from)
    }
}

/// Manifest format version written for a layer that is not locality-aware (and read).
pub const MANIFEST_FORMAT_VERSION: u32 = 1;
/// Manifest format version of a locality-aware layer (files in several stores, `localities`
/// and `File.locality` set): written for those, and read.
pub const LOCALITY_MANIFEST_FORMAT_VERSION: u32 = 2;
/// Format version of `BACKUP_PART_<n>_<locality>` ([`pb::BackupPart`]).
pub const PART_FORMAT_VERSION: u32 = 1;
/// Largest manifest accepted, checked before decoding.
pub const MAX_MANIFEST_BYTES: usize = 512 << 20;
/// Size of the checksum file: a raw SHA-256.
pub const CHECKSUM_FILE_LEN: usize = 32;

/// Format version of `BACKUP-LISTING` ([`pb::IntegrityListing`]).
pub const LISTING_FORMAT_VERSION: u32 = 1;

/// The integrity listing of a layer: what its manifest says about its files, as written
/// beside an encrypted manifest.
pub fn listing_of(m: &pb::BackupManifest) -> pb::IntegrityListing {
    pb::IntegrityListing {
        format_version: LISTING_FORMAT_VERSION,
        backup_id: m.backup_id.clone(),
        chain_id: m.chain_id.clone(),
        start_time: m.start_time,
        end_time: m.end_time,
        previous: m.previous.clone(),
        files: m
            .files
            .iter()
            .map(|f| pb::ListedFile {
                path: f.path.clone(),
                size: f.size,
                sha256: f.sha256.clone(),
            })
            .collect(),
    }
}

/// One way a listing differs from what its manifest says ([`listing_diff`]): `expected`
/// is the manifest's, `found` the listing's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListingDifference {
    /// `format_version`.
    FormatVersion { expected: u32, found: u32 },
    /// `backup_id`.
    BackupId { expected: Vec<u8>, found: Vec<u8> },
    /// `chain_id`.
    ChainId { expected: Vec<u8>, found: Vec<u8> },
    /// `start_time`.
    StartTime {
        expected: Option<pb::Timestamp>,
        found: Option<pb::Timestamp>,
    },
    /// `end_time`.
    EndTime {
        expected: Option<pb::Timestamp>,
        found: Option<pb::Timestamp>,
    },
    /// `previous`.
    Previous {
        expected: Option<pb::Previous>,
        found: Option<pb::Previous>,
    },
    /// The file at `path` (one entry per path): `expected` `None` when the manifest does
    /// not have it, `found` `None` when the listing does not.
    File {
        path: String,
        expected: Option<pb::ListedFile>,
        found: Option<pb::ListedFile>,
    },
    /// The same files in another order (reported only when nothing else differs).
    FileOrder,
}

impl ListingDifference {
    /// The listing field that differs: `format_version`, `backup_id`, `chain_id`,
    /// `start_time`, `end_time`, `previous` or `files`.
    pub fn field(&self) -> &'static str {
        match self {
            ListingDifference::FormatVersion { .. } => "format_version",
            ListingDifference::BackupId { .. } => "backup_id",
            ListingDifference::ChainId { .. } => "chain_id",
            ListingDifference::StartTime { .. } => "start_time",
            ListingDifference::EndTime { .. } => "end_time",
            ListingDifference::Previous { .. } => "previous",
            ListingDifference::File { .. } | ListingDifference::FileOrder => "files",
        }
    }
}

/// Every difference between a layer's listing and the listing its manifest implies
/// ([`listing_of`]), in field order (files: the manifest's, then those only the listing
/// has); empty exactly when they are equal. A listing forged to hide a swapped or altered
/// file differs somewhere.
pub fn listing_diff(
    listing: &pb::IntegrityListing,
    m: &pb::BackupManifest,
) -> Vec<ListingDifference> {
    use ListingDifference as D;
    let want = listing_of(m);
    let mut out = Vec::new();
    if listing.format_version != want.format_version {
        out.push(D::FormatVersion {
            expected: want.format_version,
            found: listing.format_version,
        });
    }
    if listing.backup_id != want.backup_id {
        out.push(D::BackupId {
            expected: want.backup_id.clone(),
            found: listing.backup_id.clone(),
        });
    }
    if listing.chain_id != want.chain_id {
        out.push(D::ChainId {
            expected: want.chain_id.clone(),
            found: listing.chain_id.clone(),
        });
    }
    if listing.start_time != want.start_time {
        out.push(D::StartTime {
            expected: want.start_time,
            found: listing.start_time,
        });
    }
    if listing.end_time != want.end_time {
        out.push(D::EndTime {
            expected: want.end_time,
            found: listing.end_time,
        });
    }
    if listing.previous != want.previous {
        out.push(D::Previous {
            expected: want.previous.clone(),
            found: listing.previous.clone(),
        });
    }
    for w in &want.files {
        match listing.files.iter().find(|f| f.path == w.path) {
            Some(f) if f == w => {}
            found => out.push(D::File {
                path: w.path.clone(),
                expected: Some(w.clone()),
                found: found.cloned(),
            }),
        }
    }
    for f in &listing.files {
        if !want.files.iter().any(|w| w.path == f.path) {
            out.push(D::File {
                path: f.path.clone(),
                expected: None,
                found: Some(f.clone()),
            });
        }
    }
    if out.is_empty() && listing.files != want.files {
        out.push(D::FileOrder);
    }
    out
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Encodes a manifest (canonical protobuf).
pub fn encode(m: &pb::BackupManifest) -> Vec<u8> {
    m.encode_to_vec()
}

/// Decodes a manifest, rejecting anything but the canonical encoding of a version-1
/// manifest or a version-2 (locality-aware) one; a version-1 manifest names no locality.
pub fn decode(bytes: &[u8]) -> Result<pb::BackupManifest> {
    let m = decode_canonical::<pb::BackupManifest>(bytes, "manifest")?;
    match m.format_version {
        MANIFEST_FORMAT_VERSION => {
            if !m.localities.is_empty() || m.files.iter().any(|f| !f.locality.is_empty()) {
                return Err(Error::Invalid {
                    field: "manifest localities",
                    offset: 0,
                    reason: "a version-1 manifest names no locality (locality-aware layers are version 2)".into(),
                });
            }
        }
        LOCALITY_MANIFEST_FORMAT_VERSION => {
            if let Some(f) = m
                .files
                .iter()
                .find(|f| !f.locality.is_empty() && !m.localities.contains(&f.locality))
            {
                return Err(Error::Invalid {
                    field: "manifest file locality",
                    offset: 0,
                    reason: format!(
                        "{} is in locality {:?}, which the manifest's localities do not list",
                        f.path, f.locality
                    ),
                });
            }
        }
        v => {
            return Err(Error::Invalid {
                field: "manifest format_version",
                offset: 0,
                reason: format!(
                    "version {v} is not supported (this reader supports {MANIFEST_FORMAT_VERSION} and {LOCALITY_MANIFEST_FORMAT_VERSION})"
                ),
            })
        }
    }
    Ok(m)
}

/// Encodes a part file (canonical protobuf).
pub fn encode_part(p: &pb::BackupPart) -> Vec<u8> {
    p.encode_to_vec()
}

/// Decodes a part file: canonical encoding of version [`PART_FORMAT_VERSION`].
pub fn decode_part(bytes: &[u8]) -> Result<pb::BackupPart> {
    let p = decode_canonical::<pb::BackupPart>(bytes, "backup part")?;
    if p.format_version != PART_FORMAT_VERSION {
        return Err(Error::Invalid {
            field: "backup part format_version",
            offset: 0,
            reason: format!(
                "version {} is not supported (this reader supports {PART_FORMAT_VERSION})",
                p.format_version
            ),
        });
    }
    Ok(p)
}

/// Decodes any message and requires the input to be its canonical encoding.
pub fn decode_canonical<M: Message + Default>(bytes: &[u8], field: &'static str) -> Result<M> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(Error::Limit {
            field,
            offset: 0,
            value: bytes.len() as u64,
            limit: MAX_MANIFEST_BYTES as u64,
        });
    }
    let m = M::decode(bytes).map_err(|e| Error::Invalid {
        field,
        offset: 0,
        reason: format!("not a valid protobuf message: {e}"),
    })?;
    let again = m.encode_to_vec();
    if again != bytes {
        let at = again
            .iter()
            .zip(bytes.iter())
            .position(|(a, b)| a != b)
            .unwrap_or(again.len().min(bytes.len()));
        return Err(Error::Invalid {
            field,
            offset: at as u64,
            reason: format!(
                "stored bytes ({} bytes) are not the canonical encoding ({} bytes): unknown, repeated or non-canonical fields",
                bytes.len(),
                again.len()
            ),
        });
    }
    Ok(m)
}

/// The contents of `BACKUP_MANIFEST-CHECKSUM` for stored manifest bytes.
pub fn checksum_file(manifest_bytes: &[u8]) -> [u8; CHECKSUM_FILE_LEN] {
    sha256(manifest_bytes)
}

/// Checks a checksum file against the stored manifest bytes.
pub fn check_checksum_file(manifest_bytes: &[u8], checksum: &[u8]) -> Result<()> {
    if checksum.len() != CHECKSUM_FILE_LEN {
        return Err(Error::Invalid {
            field: "manifest checksum file",
            offset: 0,
            reason: format!("{} bytes, expected {CHECKSUM_FILE_LEN}", checksum.len()),
        });
    }
    let computed = sha256(manifest_bytes);
    if computed.as_slice() != checksum {
        return Err(Error::ManifestChecksum {
            stored: HexBytes(checksum.to_vec()),
            computed: HexBytes(computed.to_vec()),
        });
    }
    Ok(())
}

/// Fuzz entry point: a manifest that decodes re-encodes to exactly the input.
#[doc(hidden)]
pub fn fuzz_decode(data: &[u8]) {
    if let Ok(m) = decode(data) {
        assert_eq!(encode(&m), data, "manifest re-encoding differs from input");
    }
    // The other protobuf records vouch reads with the same strict rule: descriptors
    // (stored in the cluster), backup locks, progress checkpoints and the integrity
    // listings of encrypted layers.
    fn canonical<M: Message + Default>(data: &[u8], what: &'static str) {
        if let Ok(m) = decode_canonical::<M>(data, what) {
            assert_eq!(
                m.encode_to_vec(),
                data,
                "{what} re-encoding differs from input"
            );
        }
    }
    canonical::<pb::Descriptor>(data, "descriptor");
    canonical::<pb::BackupJob>(data, "backup lock");
    canonical::<pb::Checkpoint>(data, "checkpoint");
    canonical::<pb::IntegrityListing>(data, "integrity listing");
    if let Ok(p) = decode_part(data) {
        assert_eq!(
            encode_part(&p),
            data,
            "backup part re-encoding differs from input"
        );
    }
    if let Ok(m) = decode_schedule(data) {
        assert_eq!(
            encode_schedule(&m),
            data,
            "schedule re-encoding differs from input"
        );
    }
    if let Ok(m) = decode_job(data) {
        assert_eq!(encode_job(&m), data, "job re-encoding differs from input");
    }
}

/// The version of [`pb::JobRecord`] records this writer writes (the reader also reads
/// [`JOB_FORMAT_VERSION_1`]).
pub const JOB_FORMAT_VERSION: u32 = 2;

/// The first job record version: version 2 without `coordinator_id` and
/// `restore_checkpoint`.
pub const JOB_FORMAT_VERSION_1: u32 = 1;

/// Encodes a job record (canonical protobuf).
pub fn encode_job(m: &pb::JobRecord) -> Vec<u8> {
    m.encode_to_vec()
}

/// Decodes a job record as stored in the cluster: the canonical encoding of a version-1
/// or version-2 record whose job type, status and fraction are in range, a version-1
/// record without the fields version 2 added, and a restore checkpoint only on a RESTORE
/// job, with no more tables done than it has.
pub fn decode_job(bytes: &[u8]) -> Result<pb::JobRecord> {
    let m = decode_canonical::<pb::JobRecord>(bytes, "job record")?;
    let bad = |field: &'static str, reason: String| Error::Invalid {
        field,
        offset: 0,
        reason,
    };
    match m.format_version {
        JOB_FORMAT_VERSION => {}
        JOB_FORMAT_VERSION_1 => {
            if m.coordinator_id != 0 || m.restore_checkpoint.is_some() {
                return Err(bad(
                    "job format_version",
                    "a version 1 record has no coordinator_id or restore_checkpoint (version 2 fields)".into(),
                ));
            }
        }
        v => {
            return Err(bad(
                "job format_version",
                format!(
                    "version {v} is not supported (this reader supports {JOB_FORMAT_VERSION_1} and {JOB_FORMAT_VERSION})"
                ),
            ))
        }
    }
    if m.job_type > 1 {
        return Err(bad(
            "job type",
            format!("{} is not 0 (BACKUP) or 1 (RESTORE)", m.job_type),
        ));
    }
    if m.status > 7 {
        return Err(bad(
            "job status",
            format!("{} is not a status (0..=7)", m.status),
        ));
    }
    if m.fraction_millionths > 1_000_000 {
        return Err(bad(
            "job fraction_millionths",
            format!("{} is more than 1000000", m.fraction_millionths),
        ));
    }
    if let Some(c) = &m.restore_checkpoint {
        if m.job_type != 1 {
            return Err(bad(
                "job restore_checkpoint",
                "only a RESTORE job has a restore checkpoint".into(),
            ));
        }
        if c.done.len() as u64 > c.tables {
            return Err(bad(
                "job restore_checkpoint",
                format!("{} tables done of {}", c.done.len(), c.tables),
            ));
        }
        if c.new_ids > c.ids.len() as u64 {
            return Err(bad(
                "job restore_checkpoint",
                format!("{} new ids for {} objects", c.new_ids, c.ids.len()),
            ));
        }
        if c.first_new_id.checked_add(c.new_ids).is_none() {
            return Err(bad(
                "job restore_checkpoint",
                format!("new ids {} + {} overflow", c.first_new_id, c.new_ids),
            ));
        }
    }
    Ok(m)
}

/// The version of [`pb::BackupSchedule`] records this writer writes and reader reads.
pub const SCHEDULE_FORMAT_VERSION: u32 = 1;

/// Encodes a schedule record (canonical protobuf).
pub fn encode_schedule(m: &pb::BackupSchedule) -> Vec<u8> {
    m.encode_to_vec()
}

/// Decodes a schedule record as stored in the cluster: the canonical encoding of a
/// version-1 record, nothing else.
pub fn decode_schedule(bytes: &[u8]) -> Result<pb::BackupSchedule> {
    let m = decode_canonical::<pb::BackupSchedule>(bytes, "schedule record")?;
    if m.format_version != SCHEDULE_FORMAT_VERSION {
        return Err(Error::Invalid {
            field: "schedule format_version",
            offset: 0,
            reason: format!(
                "version {} is not supported (this reader supports {SCHEDULE_FORMAT_VERSION})",
                m.format_version
            ),
        });
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> pb::BackupManifest {
        pb::BackupManifest {
            format_version: MANIFEST_FORMAT_VERSION,
            writer_version: "vouch 0.1.0".into(),
            backup_id: vec![7; 16],
            start_time: Some(pb::Timestamp {
                wall: 0,
                logical: 0,
            }),
            end_time: Some(pb::Timestamp {
                wall: 10,
                logical: 1,
            }),
            files: vec![pb::File {
                path: "data/1.sst".into(),
                size: 1234,
                sha256: vec![1; 32],
                entries: 3,
                ..Default::default()
            }],
            descriptors: vec![pb::Descriptor {
                id: 52,
                name: "bank".into(),
                version: 1,
                kind: Some(pb::descriptor::Kind::Database(pb::Database {
                    is_system: false,
                })),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn round_trip_and_checksum() {
        let m = sample();
        let b = encode(&m);
        assert_eq!(decode(&b).unwrap(), m);
        let c = checksum_file(&b);
        check_checksum_file(&b, &c).unwrap();
        let mut bad = b.clone();
        bad[3] ^= 1;
        assert!(matches!(
            check_checksum_file(&bad, &c),
            Err(Error::ManifestChecksum { .. })
        ));
    }

    #[test]
    fn unknown_field_is_rejected() {
        let mut b = encode(&sample());
        // Field 99, varint 1: unknown to version 1.
        b.extend_from_slice(&[0x98, 0x06, 0x01]);
        match decode(&b) {
            Err(Error::Invalid {
                field: "manifest",
                offset,
                ..
            }) => assert_eq!(offset as usize, b.len() - 3),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn wrong_version_is_rejected() {
        // Versions 1 and 2 (locality-aware) are read; 0 and 3 are not.
        for v in [0, LOCALITY_MANIFEST_FORMAT_VERSION + 1] {
            let mut m = sample();
            m.format_version = v;
            assert!(matches!(
                decode(&encode(&m)),
                Err(Error::Invalid {
                    field: "manifest format_version",
                    ..
                })
            ));
        }
        let mut m = sample();
        m.format_version = 2;
        assert!(decode(&encode(&m)).is_ok());
        m.format_version = 4;
        assert!(matches!(
            decode(&encode(&m)),
            Err(Error::Invalid {
                field: "manifest format_version",
                ..
            })
        ));
    }

    #[test]
    fn every_truncation_and_flip_is_an_error() {
        let b = encode(&sample());
        for n in 0..b.len() {
            // A truncation can still be a valid shorter message only if it ends exactly
            // at a field boundary; the checksum file is what catches those.
            if let Ok(m) = decode(&b[..n]) {
                assert_ne!(m, sample());
            }
            assert!(check_checksum_file(&b[..n], &checksum_file(&b)).is_err());
        }
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 0x01;
            assert!(check_checksum_file(&bad, &checksum_file(&b)).is_err());
        }
    }

    #[test]
    fn job_records_truncated_or_flipped_never_decode_as_the_original() {
        let cp = pb::Checkpoint {
            job_id: 42,
            files: sample().files,
            resume_from: b"\x89\x80key".to_vec(),
            next_file: 3,
            fingerprints: vec![pb::TableFingerprint {
                table_id: 104,
                index_id: 1,
                fingerprint: u64::MAX - 5,
                rows: 10,
            }],
            rows: 10,
            index_entries: 4,
            bytes: 999,
            sequence: 2,
        };
        let job = pb::BackupJob {
            job_id: 42,
            spec: "targets=cluster".into(),
            start_time: None,
            end_time: Some(pb::Timestamp {
                wall: 5,
                logical: 1,
            }),
            backup_id: vec![1; 16],
            chain_id: vec![2; 16],
            created_wall: 7,
        };
        fn sweep<M: Message + Default + PartialEq + std::fmt::Debug>(m: &M) {
            let b = m.encode_to_vec();
            assert_eq!(&decode_canonical::<M>(&b, "record").unwrap(), m);
            for n in 0..b.len() {
                if let Ok(d) = decode_canonical::<M>(&b[..n], "record") {
                    assert_ne!(&d, m, "truncation to {n} bytes decoded as the original");
                }
            }
            for i in 0..b.len() {
                for bit in 0..8 {
                    let mut bad = b.clone();
                    bad[i] ^= 1 << bit;
                    if let Ok(d) = decode_canonical::<M>(&bad, "record") {
                        assert_ne!(&d, m, "flip at {i} bit {bit} decoded as the original");
                        assert_eq!(d.encode_to_vec(), bad);
                    }
                }
            }
        }
        sweep(&cp);
        sweep(&job);
        let schedule = pb::BackupSchedule {
            format_version: SCHEDULE_FORMAT_VERSION,
            id: 1 << 59 | 7,
            label: "nightly".into(),
            owner: "root".into(),
            backup_statement: "BACKUP INTO LATEST IN 'nodelocal://1/b' WITH detached".into(),
            recurrence: "@daily".into(),
            incremental: true,
            dependent_id: 1 << 59 | 8,
            paused: true,
            next_run: 1_700_000_000_000_000_000,
            created: 1_699_999_999_000_000_000,
            on_execution_failure: 2,
            on_previous_running: 1,
            state: "Waiting for initial backup to complete".into(),
            running_at: 1_700_000_000_000_000_000,
            last_job: 9,
            unpause_on_full_success: true,
        };
        sweep(&schedule);
        let record = pb::JobRecord {
            format_version: JOB_FORMAT_VERSION,
            id: 1 << 59 | 11,
            job_type: 1,
            description: "RESTORE DATABASE d FROM LATEST IN 'nodelocal://1/b' WITH detached".into(),
            user_name: "root".into(),
            status: 6,
            created: 1_700_000_000_000_000_000,
            started: 1_700_000_001_000_000_000,
            finished: 0,
            modified: 1_700_000_002_000_000_000,
            fraction_millionths: 250_000,
            error: "boom".into(),
            schedule_id: 1 << 59 | 7,
            execute: "RESTORE DATABASE d FROM LATEST IN 'nodelocal://1/b'".into(),
            database: "defaultdb".into(),
            as_of: "1700000000000000000.0000000000".into(),
            protect_record: 1 << 63 | 7,
            coordinator_id: 3,
            restore_checkpoint: Some(pb::RestoreCheckpoint {
                ids: vec![
                    pb::RestoredId {
                        old_id: 104,
                        new_id: 120,
                    },
                    pb::RestoredId {
                        old_id: 105,
                        new_id: 121,
                    },
                ],
                first_new_id: 120,
                new_ids: 2,
                tables: 1,
                done: vec![pb::RestoredTable {
                    table_id: 105,
                    rows: 400,
                    index_entries: 0,
                    bytes: 40_000,
                    fingerprints: vec![pb::TableFingerprint {
                        table_id: 105,
                        index_id: 1,
                        fingerprint: 0xfeed,
                        rows: 400,
                    }],
                }],
                users_since: Some(pb::Timestamp {
                    wall: 1_700_000_000_000_000_000,
                    logical: 1,
                }),
            }),
        };
        sweep(&record);
        let b = encode_job(&record);
        assert_eq!(decode_job(&b).unwrap(), record);
        for n in 0..b.len() {
            if let Ok(d) = decode_job(&b[..n]) {
                assert_ne!(d, record);
            }
        }
        for (field, bad) in [
            (
                "job format_version",
                pb::JobRecord {
                    format_version: 3,
                    ..record.clone()
                },
            ),
            (
                "job format_version",
                pb::JobRecord {
                    format_version: 0,
                    ..record.clone()
                },
            ),
            // Version 1 has neither of version 2's fields.
            (
                "job format_version",
                pb::JobRecord {
                    format_version: JOB_FORMAT_VERSION_1,
                    restore_checkpoint: None,
                    ..record.clone()
                },
            ),
            (
                "job format_version",
                pb::JobRecord {
                    format_version: JOB_FORMAT_VERSION_1,
                    coordinator_id: 0,
                    ..record.clone()
                },
            ),
            (
                "job restore_checkpoint",
                pb::JobRecord {
                    job_type: 0,
                    ..record.clone()
                },
            ),
            (
                "job restore_checkpoint",
                pb::JobRecord {
                    restore_checkpoint: record
                        .restore_checkpoint
                        .clone()
                        .map(|c| pb::RestoreCheckpoint { tables: 0, ..c }),
                    ..record.clone()
                },
            ),
            (
                "job restore_checkpoint",
                pb::JobRecord {
                    restore_checkpoint: record.restore_checkpoint.clone().map(|c| {
                        pb::RestoreCheckpoint {
                            first_new_id: u64::MAX,
                            ..c
                        }
                    }),
                    ..record.clone()
                },
            ),
            (
                "job restore_checkpoint",
                pb::JobRecord {
                    restore_checkpoint: record
                        .restore_checkpoint
                        .clone()
                        .map(|c| pb::RestoreCheckpoint { new_ids: 3, ..c }),
                    ..record.clone()
                },
            ),
            (
                "job type",
                pb::JobRecord {
                    job_type: 2,
                    ..record.clone()
                },
            ),
            (
                "job status",
                pb::JobRecord {
                    status: 8,
                    ..record.clone()
                },
            ),
            (
                "job fraction_millionths",
                pb::JobRecord {
                    fraction_millionths: 1_000_001,
                    ..record.clone()
                },
            ),
        ] {
            match decode_job(&encode_job(&bad)) {
                Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected Invalid, got {other:?}"),
            }
        }
        // The schedule reader also refuses other record versions.
        let b = encode_schedule(&schedule);
        assert_eq!(decode_schedule(&b).unwrap(), schedule);
        for n in 0..b.len() {
            if let Ok(d) = decode_schedule(&b[..n]) {
                assert_ne!(d, schedule);
            }
        }
        let v2 = pb::BackupSchedule {
            format_version: 2,
            ..schedule.clone()
        };
        assert!(matches!(
            decode_schedule(&encode_schedule(&v2)),
            Err(Error::Invalid {
                field: "schedule format_version",
                ..
            })
        ));
        // The integrity listing of an encrypted layer.
        let listing = pb::IntegrityListing {
            format_version: 1,
            backup_id: vec![3; 16],
            chain_id: vec![4; 16],
            start_time: Some(pb::Timestamp {
                wall: 5,
                logical: 1,
            }),
            end_time: Some(pb::Timestamp {
                wall: 9,
                logical: 0,
            }),
            previous: Some(pb::Previous {
                path: "2026/11/21-120000.00".into(),
                manifest_sha256: vec![5; 32],
            }),
            files: vec![pb::ListedFile {
                path: "data/000001.sst".into(),
                size: 4096,
                sha256: vec![6; 32],
            }],
        };
        sweep(&listing);
    }

    #[test]
    fn timestamps_convert_both_ways() {
        let ts = Timestamp::new(1_700_000_000_123_456_789, 7);
        let p = pb::Timestamp::from(ts);
        assert_eq!(
            p,
            pb::Timestamp {
                wall: 1_700_000_000_123_456_789,
                logical: 7
            }
        );
        assert_eq!(Timestamp::from(p), ts);
        assert_eq!(Timestamp::from_pb(Some(p)), ts);
        assert_eq!(Timestamp::from_pb(None), Timestamp::MIN);
        assert_eq!(Timestamp::from(pb::Timestamp::default()), Timestamp::MIN);
    }

    #[test]
    fn listing_diff_reports_every_difference() {
        let m = sample();
        let good = listing_of(&m);
        assert_eq!(good.format_version, LISTING_FORMAT_VERSION);
        assert_eq!(good.files.len(), m.files.len());
        assert_eq!(listing_diff(&good, &m), Vec::new());

        let mut l = good.clone();
        l.backup_id = vec![9; 16];
        l.end_time = None;
        l.files[0].size += 1;
        let extra = pb::ListedFile {
            path: "data/999.sst".into(),
            size: 3,
            sha256: vec![1; 32],
        };
        l.files.push(extra.clone());
        let d = listing_diff(&l, &m);
        assert_eq!(
            d,
            vec![
                ListingDifference::BackupId {
                    expected: m.backup_id.clone(),
                    found: vec![9; 16]
                },
                ListingDifference::EndTime {
                    expected: m.end_time,
                    found: None
                },
                ListingDifference::File {
                    path: good.files[0].path.clone(),
                    expected: Some(good.files[0].clone()),
                    found: Some(l.files[0].clone())
                },
                ListingDifference::File {
                    path: "data/999.sst".into(),
                    expected: None,
                    found: Some(extra)
                },
            ]
        );
        assert_eq!(
            d.iter().map(ListingDifference::field).collect::<Vec<_>>(),
            ["backup_id", "end_time", "files", "files"]
        );

        let mut l = good.clone();
        l.format_version = 2;
        l.files.clear();
        let d = listing_diff(&l, &m);
        assert_eq!(
            d.first(),
            Some(&ListingDifference::FormatVersion {
                expected: 1,
                found: 2
            })
        );
        assert!(matches!(
            d.get(1),
            Some(ListingDifference::File { found: None, .. })
        ));
    }

    #[test]
    fn listing_diff_reports_another_order_alone() {
        let mut m = sample();
        let mut second = m.files[0].clone();
        second.path = "data/2.sst".into();
        m.files.push(second);
        let mut l = listing_of(&m);
        l.files.reverse();
        assert_eq!(listing_diff(&l, &m), vec![ListingDifference::FileOrder]);
    }
}
