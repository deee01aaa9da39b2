//! Resuming a backup: a rerun of the same request finds its job's lock, the newest
//! checkpoint whose files are all present, and the names already used; a full backup that
//! stopped between its manifest and LATEST only has LATEST left to write.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use vouch_chain::sealed::{self, ChainKey};
use vouch_chain::{Chain, Collection};
use vouch_cluster::Cluster;
use vouch_format::envelope::DataKey;
use vouch_format::layout::{self, Listing};
use vouch_format::manifest::{decode_canonical, pb};
use vouch_format::mvcc::Timestamp;
use vouch_keys::KeySource;
use vouch_store::Store;

use super::{publish, BackupOptions, BackupResult};
use crate::Result;

/// The request as a lock records it: a rerun with the same text resumes the job.
pub(super) fn spec_text(opts: &BackupOptions, prev: Option<&Chain>) -> String {
    format!(
        "targets={};dest={};as_of={};revision_history={};incremental_location={};target_file_size={};block_size={};compression={:?}",
        opts.targets,
        match prev {
            None => "full".to_string(),
            Some(c) => format!(
                "incremental:{}:{}",
                c.full_subdir,
                c.last().map(|l| l.dir.as_str()).unwrap_or_default()
            ),
        },
        opts.as_of.as_deref().unwrap_or(""),
        opts.revision_history,
        vouch_store::redact_uri(opts.incremental_location.as_deref().unwrap_or("")),
        opts.target_file_size,
        opts.block_size,
        opts.compression,
    )
}

/// A job to run: its lock record, its directory, the checkpoint it resumes from (none for
/// a new job) and its chain key (none when not encrypted).
pub(super) struct Job {
    pub(super) job: pb::BackupJob,
    pub(super) dir: String,
    pub(super) checkpoint: Option<pb::Checkpoint>,
    pub(super) key: Option<ChainKey>,
}

/// What a lock records of the job's spec: the text itself, or for an encrypted chain an
/// HMAC of it under the chain key (the targets' names are not left in plaintext).
pub(super) fn lock_spec(spec: &str, key: Option<&DataKey>) -> String {
    let Some(k) = key else {
        return spec.to_string();
    };
    match <Hmac<Sha256> as Mac>::new_from_slice(k.as_bytes()) {
        Ok(mut mac) => {
            mac.update(b"vouch lock spec v1\0");
            mac.update(spec.as_bytes());
            format!("hmac-sha256:{}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => spec.to_string(),
    }
}

/// Decodes a checkpoint, opening it from the envelope for an encrypted layer.
fn decode_checkpoint(
    bytes: &[u8],
    rel: &str,
    sealing: Option<&(&DataKey, Vec<u8>)>,
) -> Option<pb::Checkpoint> {
    let plain = match sealing {
        None => std::borrow::Cow::Borrowed(bytes),
        Some((k, backup_id)) => {
            std::borrow::Cow::Owned(sealed::open_small_file(k, backup_id, rel, bytes, rel).ok()?)
        }
    };
    decode_canonical::<pb::Checkpoint>(&plain, "checkpoint").ok()
}

/// The key a resumed job in `dir` uses: its chain's (an incremental), or the one its own
/// ENCRYPTION-INFO unlocks with what the user gave (a full backup); `Err` when the
/// directory's key cannot be unlocked (then it is not this job's).
fn resume_key(
    store: &dyn Store,
    dir: &str,
    prev: Option<&Chain>,
    source: &KeySource,
) -> Result<Option<ChainKey>> {
    match prev {
        Some(c) => Ok(c.key.clone()),
        None => Ok(sealed::chain_key(store, dir, source)?),
    }
}

/// An unfinished run of the same backup: a directory with a lock whose spec matches and
/// no manifest.
pub(super) fn find_unfinished(
    coll: &Collection,
    prev: Option<&Chain>,
    spec: &str,
    source: &KeySource,
    only_job: Option<u64>,
) -> Result<Option<Job>> {
    let (store, prefix) = match prev {
        None => (coll.store.as_ref(), String::new()),
        Some(c) => (
            coll.incrementals.store.as_ref(),
            format!("{}{}/", coll.incrementals.prefix, c.full_subdir),
        ),
    };
    let objects = store.list(&prefix)?;
    let listing = Listing::new(objects.iter().map(|o| o.path.as_str()));
    for dir in listing.unfinished() {
        if !dir.starts_with(&prefix) {
            continue;
        }
        let locks: Vec<&str> = objects
            .iter()
            .map(|o| o.path.as_str())
            .filter(|p| {
                p.strip_prefix(&format!("{dir}/"))
                    .is_some_and(|n| layout::parse_lock_name(n).is_ok())
            })
            .collect();
        for lock in locks {
            let Ok(bytes) = store.get_limited(lock, layout::MAX_RECORD_BYTES) else {
                continue;
            };
            let Ok(job) = decode_canonical::<pb::BackupJob>(&bytes, "backup lock") else {
                continue;
            };
            let Ok(key) = resume_key(store, &dir, prev, source) else {
                continue;
            };
            if job.spec != lock_spec(spec, key.as_deref()) {
                continue;
            }
            // A job of the cluster's system.jobs resumes its own work only (a canceled
            // job's directory is never taken over by a later job).
            if only_job.is_some_and(|id| id != job.job_id) {
                continue;
            }
            let sealing = key.as_deref().map(|k| (k, job.backup_id.clone()));
            // Newest checkpoint of this job that decodes.
            let mut cps: Vec<(u64, &str)> = objects
                .iter()
                .filter_map(|o| {
                    let rest = o.path.strip_prefix(&format!("{dir}/"))?;
                    let seq = layout::parse_checkpoint_name(rest).ok()?;
                    Some((seq, o.path.as_str()))
                })
                .collect();
            cps.sort();
            let mut checkpoint = None;
            for (_, p) in cps.iter().rev() {
                let Ok(b) = store.get_limited(p, layout::MAX_RECORD_BYTES) else {
                    continue;
                };
                let rel = p.strip_prefix(&format!("{dir}/")).unwrap_or(p);
                if let Some(cp) = decode_checkpoint(&b, rel, sealing.as_ref()) {
                    if cp.job_id == job.job_id && checkpoint_files_present(store, &dir, &cp) {
                        checkpoint = Some(cp);
                        break;
                    }
                }
            }
            return Ok(Some(Job {
                job,
                dir,
                checkpoint,
                key,
            }));
        }
    }
    Ok(None)
}

/// The highest data file number and checkpoint sequence number used in `dir`: by the
/// objects present, and by the newest checkpoint (which may list a file that is now gone).
pub(super) fn names_in_use(
    store: &dyn Store,
    dir: &str,
    sealing: Option<&(&DataKey, Vec<u8>)>,
) -> Result<(u64, u64)> {
    let prefix = format!("{dir}/");
    let (mut file, mut seq, mut newest) = (0, 0, None);
    for o in store.list(&prefix)? {
        let Some(rest) = o.path.strip_prefix(&prefix) else {
            continue;
        };
        if let Ok(n) = layout::parse_data_file(rest) {
            file = file.max(n);
        }
        if let Ok(s) = layout::parse_checkpoint_name(rest) {
            if s >= seq {
                seq = s;
                newest = Some(o.path);
            }
        }
    }
    if let Some(p) = newest {
        if let Ok(b) = store.get_limited(&p, layout::MAX_RECORD_BYTES) {
            let rel = p.strip_prefix(&prefix).unwrap_or(&p);
            if let Some(cp) = decode_checkpoint(&b, rel, sealing) {
                file = file.max(cp.next_file);
            }
        }
    }
    Ok((file, seq))
}

/// A full backup of the same spec whose run stopped after its manifest but before LATEST:
/// the newest full backup of the collection, holding a lock with this spec, with no LATEST
/// marker of its own. Its rerun has only LATEST left to write.
pub(super) fn finish_unpublished(
    cluster: &Cluster,
    coll: &Collection,
    opts: &BackupOptions,
    spec: &str,
) -> Result<Option<BackupResult>> {
    let objects = coll.store.list("")?;
    let listing = Listing::new(objects.iter().map(|o| o.path.as_str()));
    let Some(dir) = listing.full_backups().pop() else {
        return Ok(None);
    };
    let prefix = format!("{dir}/");
    let in_dir = |o: &&vouch_store::ObjectMeta| o.path.starts_with(&prefix);
    let Ok(key) = resume_key(coll.store.as_ref(), &dir, None, &opts.encryption) else {
        return Ok(None);
    };
    let want = lock_spec(spec, key.as_deref());
    let job = objects
        .iter()
        .filter(in_dir)
        .filter(|o| layout::parse_lock_name(&o.path[prefix.len()..]).is_ok())
        .filter_map(|o| {
            coll.store
                .get_limited(&o.path, layout::MAX_RECORD_BYTES)
                .ok()
        })
        .filter_map(|b| decode_canonical::<pb::BackupJob>(&b, "backup lock").ok())
        .find(|j| j.spec == want);
    let Some(job) = job else { return Ok(None) };
    let end = Timestamp::from_pb(job.end_time);
    if listing.contains(&layout::latest_marker(end)) {
        return Ok(None);
    }
    // LATEST may name it only if its manifest reads.
    let layer = Collection::read_layer_keyed(coll.store.as_ref(), &dir, true, key.as_deref())?;
    publish::write_latest(coll.store.as_ref(), &dir, end)?;
    let kv = cluster.kv();
    if let Some(id) = opts.protect_record {
        kv.protect(id, end)?;
    }
    kv.release(job.job_id)?;
    // The newest checkpoint (the first in name order) has the counters of every file.
    let sealing = key.as_deref().map(|k| (k, job.backup_id.clone()));
    let cp = objects
        .iter()
        .filter(in_dir)
        .find(|o| layout::parse_checkpoint_name(&o.path[prefix.len()..]).is_ok())
        .and_then(|o| {
            let b = coll
                .store
                .get_limited(&o.path, layout::MAX_RECORD_BYTES)
                .ok()?;
            decode_checkpoint(&b, &o.path[prefix.len()..], sealing.as_ref())
        })
        .unwrap_or_default();
    let notices = vouch_chain::resolve(&cluster.catalog(end)?, &opts.targets)?.notices;
    Ok(Some(BackupResult {
        job_id: job.job_id,
        status: "succeeded".into(),
        rows: cp.rows,
        index_entries: cp.index_entries,
        bytes: cp.bytes,
        file_bytes: layer.manifest.files.iter().map(|f| f.size).sum(),
        files: layer.manifest.files.len() as u64,
        path: dir.clone(),
        full_subdir: dir,
        start_time: Timestamp::from_pb(job.start_time),
        end_time: end,
        incremental: false,
        resumed: true,
        notices,
        coordinator: crate::coordinator(cluster, opts.execution_locality.as_deref())?,
    }))
}

fn checkpoint_files_present(store: &dyn Store, dir: &str, cp: &pb::Checkpoint) -> bool {
    cp.files
        .iter()
        .all(|f| matches!(store.size(&format!("{dir}/{}", f.path)), Ok(Some(n)) if n == f.size))
}
