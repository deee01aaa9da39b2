//! The objects of a layer written outside the export: the lock and key record that claim
//! its directory, the manifest (with its checksum file and, encrypted, its listing), and
//! the LATEST markers.

use prost::Message;
use rand::RngCore;
use vouch_format::encryption_info::EncryptionInfo;
use vouch_format::layout;
use vouch_format::manifest::{self, pb};
use vouch_format::mvcc::Timestamp;
use vouch_store::Store;

use super::faults::{Injected, Point};
use super::scope::Scope;
use super::{BackupOptions, Target, WRITER_VERSION};
use crate::crypto;
use crate::{Error, ErrorKind, Result};
use vouch_format::envelope::DataKey;

/// A new random backup id.
pub(super) fn random_id() -> Vec<u8> {
    let mut b = vec![0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

/// Claims the layer's directory: its lock, then (a new encrypted chain) its key record.
/// Anything already there (another job's lock, a complete backup) belongs to someone else:
/// refused, as CockroachDB refuses a destination holding another job's BACKUP-LOCK.
pub(super) fn claim(
    target: &Target<'_>,
    job: &pb::BackupJob,
    new_info: Option<&EncryptionInfo>,
) -> Result<()> {
    let (store, dir) = (target.store, target.dir.as_str());
    let existing = if dir.is_empty() {
        store.list("")?
    } else {
        store.list(&format!("{dir}/"))?
    };
    if let Some(o) = existing.first() {
        return Err(if dir.is_empty() {
            Error::DestinationNotEmpty {
                uri: store.uri().to_string(),
                first_object: o.path.clone(),
            }
        } else {
            Error::refused(
                ErrorKind::AlreadyExists,
                format!(
                    "a backup already exists or is in progress at {}/{dir} ({} is there); wait a moment or use another AS OF SYSTEM TIME",
                    store.uri(),
                    o.path
                ),
            )
        });
    }
    store.put_new(
        &target.path(&layout::lock_name(job.job_id)),
        &job.encode_to_vec(),
    )?;
    if let Some(info) = new_info {
        store.put_new(
            &target.path(layout::ENCRYPTION_INFO),
            &vouch_format::encryption_info::encode(info),
        )?;
    }
    Ok(())
}

/// What a layer's manifest is made of.
pub(super) struct Layer<'a> {
    pub(super) opts: &'a BackupOptions,
    pub(super) job: &'a pb::BackupJob,
    /// A full backup (no previous layer).
    pub(super) full: bool,
    /// The GC threshold a full backup with revision history starts at.
    pub(super) revision_start: Timestamp,
    pub(super) scope: &'a Scope,
    pub(super) files: &'a [pb::File],
    pub(super) previous: Option<pb::Previous>,
    pub(super) fingerprints: Vec<pb::TableFingerprint>,
}

/// The layer's manifest.
pub(super) fn manifest(l: Layer<'_>) -> pb::BackupManifest {
    let (opts, job, scope) = (l.opts, l.job, l.scope);
    pb::BackupManifest {
        format_version: if opts.localities.is_empty() {
            manifest::MANIFEST_FORMAT_VERSION
        } else {
            manifest::LOCALITY_MANIFEST_FORMAT_VERSION
        },
        writer_version: WRITER_VERSION.into(),
        backup_id: job.backup_id.clone(),
        chain_id: job.chain_id.clone(),
        start_time: Some(pb::Timestamp::from(Timestamp::from_pb(job.start_time))),
        end_time: Some(pb::Timestamp::from(Timestamp::from_pb(job.end_time))),
        mvcc_filter: if opts.revision_history {
            pb::MvccFilter::All as i32
        } else {
            pb::MvccFilter::Latest as i32
        },
        revision_start_time: if opts.revision_history && l.full {
            Some(pb::Timestamp::from(l.revision_start))
        } else if opts.revision_history {
            Some(pb::Timestamp::from(Timestamp::from_pb(job.start_time)))
        } else {
            None
        },
        spans: scope.spans.clone(),
        introduced_spans: scope.introduced.clone(),
        descriptors: scope.resolved.descriptors.clone(),
        descriptor_changes: scope.revisions.clone(),
        files: l.files.to_vec(),
        previous: l.previous,
        fingerprints: l.fingerprints,
        localities: opts.localities.iter().map(|l| l.locality.clone()).collect(),
        is_full_cluster: scope.resolved.is_full_cluster,
        complete_database_ids: scope.resolved.complete_database_ids.clone(),
        statement: opts.statement.clone(),
    }
}

/// Writes the manifest: for an encrypted layer its listing first (a complete encrypted
/// layer always has one), then the checksum file, then `BACKUP_MANIFEST` — the layer is
/// complete exactly when it exists.
pub(super) fn manifest_objects(
    target: &Target<'_>,
    m: &pb::BackupManifest,
    sealing: Option<&(&DataKey, Vec<u8>)>,
    faults: Injected,
) -> Result<()> {
    let store = target.store;
    let plain = manifest::encode(m);
    let bytes = match sealing {
        None => plain,
        Some((k, backup_id)) => {
            put_same(
                store,
                &target.path(layout::LISTING),
                &crypto::encode_listing(&manifest::listing_of(m)),
            )?;
            crypto::seal_small_file(k, backup_id, layout::MANIFEST, &plain)?
        }
    };
    // A resumed run may find the checksum its earlier run wrote: it must be this manifest's.
    put_same(
        store,
        &target.path(layout::MANIFEST_CHECKSUM),
        &manifest::checksum_file(&bytes),
    )?;
    faults.at(Point::BeforeManifest)?;
    store.put_new(&target.path(layout::MANIFEST), &bytes)?;
    Ok(())
}

/// Writes `BACKUP_PART_<n>_<locality>` of a non-default store: the layer's ids and the
/// paths of the files the manifest places in `l`'s locality (sealed like the manifest in
/// an encrypted layer, under its own name).
pub(super) fn part_object(
    store: &dyn Store,
    dir: &str,
    l: &super::LocalityStore,
    m: &pb::BackupManifest,
    sealing: Option<&(&DataKey, Vec<u8>)>,
) -> Result<()> {
    let name = vouch_format::locality::part_name(l.position, &l.locality);
    let part = pb::BackupPart {
        format_version: manifest::PART_FORMAT_VERSION,
        backup_id: m.backup_id.clone(),
        chain_id: m.chain_id.clone(),
        locality: l.locality.clone(),
        paths: m
            .files
            .iter()
            .filter(|f| f.locality == l.locality)
            .map(|f| f.path.clone())
            .collect(),
    };
    let plain = manifest::encode_part(&part);
    let bytes = match sealing {
        None => plain,
        Some((k, backup_id)) => crypto::seal_small_file(k, backup_id, &name, &plain)?,
    };
    put_same(store, &vouch_chain::join(dir, &name), &bytes)
}

/// Points LATEST at the full backup `dir` that ended at `end`: a new write-once marker, and
/// the plain `LATEST` if there is none yet.
pub(super) fn write_latest(store: &dyn Store, dir: &str, end: Timestamp) -> Result<()> {
    let content = format!("/{dir}");
    put_if_absent(store, &layout::latest_marker(end), content.as_bytes())?;
    put_if_absent(store, layout::LATEST, content.as_bytes())
}

pub(super) fn put_if_absent(store: &dyn Store, path: &str, bytes: &[u8]) -> Result<()> {
    match store.put_new(path, bytes) {
        Ok(()) => Ok(()),
        Err(vouch_store::Error::AlreadyExists { .. }) => {
            // Written by an earlier attempt of this job (resume) or, for the plain LATEST,
            // by an earlier backup: write-once objects are never replaced.
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// [`put_if_absent`] for an object an earlier run of the same job may have written: that
/// one must hold the same bytes, or the job cannot complete as it started.
pub(super) fn put_same(store: &dyn Store, path: &str, bytes: &[u8]) -> Result<()> {
    match store.put_new(path, bytes) {
        Err(vouch_store::Error::AlreadyExists { .. })
            if store.get_limited(path, layout::MAX_RECORD_BYTES.max(bytes.len() as u64))?
                != bytes =>
        {
            Err(Error::refused(
                ErrorKind::ResumeConflict,
                format!(
                    "{}/{path} was written by an earlier run of this backup with other contents; \
                 the backup cannot be completed as it started (run it with other options to \
                 start a new one)",
                    store.uri()
                ),
            ))
        }
        Err(vouch_store::Error::AlreadyExists { .. }) | Ok(()) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
