//! RESTORE: point-in-time restore from a chain of layers into a cluster.
//!
//! Planning, selection and reading are `vouch_chain`'s (shared with `vouch verify` and
//! `vouch dump`): the chain checked, the layers serving the time selected, the descriptors
//! in force rebuilt, targets and dependency rules decided on catalogs, and one k-way merge
//! per table. What is here writes: new ids from the cluster's allocator, keys rewritten to
//! them, rows ingested at one timestamp, descriptors published, fingerprints read back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use vouch_chain::RestoreOptions;
use vouch_chain::{
    assign, check_options, check_row, qualified, select_for, Mapping, Selection, Start,
};
use vouch_chain::{open_source_keyed, plan};
use vouch_cluster::{Batch, Cluster, ZoneConfig, ZoneKey};
use vouch_format::entry::{TableCheck, UniqueKeys};
use vouch_format::fingerprint::Fingerprint;
use vouch_format::keys;
use vouch_format::keys::table_span;
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_format::schema::{
    self, index_layouts, Catalog, SYSTEM_DATABASE_ID, USERS_TABLE_ID, ZONES_TABLE_ID,
};

use crate::{Error, ErrorKind, Result};

/// Progress events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Reading starts: the bytes of data files to read.
    Start {
        /// Total stored bytes of the files selected.
        total_bytes: u64,
    },
    /// Stored bytes read so far.
    Read {
        /// Bytes so far.
        bytes: u64,
    },
    /// A table's rows are all written and checkpointed.
    Table {
        /// Tables done (those of the checkpoint a resumed run started from included).
        done: u64,
        /// Tables with rows to restore.
        total: u64,
    },
}

/// A RESTORE run as a job (spec/jobs.md §3): a checkpoint once its objects have their
/// ids and after each table whose rows are all written; a run given an earlier run's
/// checkpoint gives the objects the same ids and skips the tables done; asked to stop, it
/// stops at its next checkpoint with [`ErrorKind::Stopped`]. Nothing is published before
/// every table is done; [`discard`] deletes what a stopped run wrote.
#[derive(Default)]
pub struct RestoreJob<'a> {
    /// The checkpoint of an earlier run of the same job to continue from.
    pub resume: Option<pb::RestoreCheckpoint>,
    /// Called with each checkpoint (from the calling thread, before any later table
    /// starts); an error stops the restore with it.
    #[allow(clippy::type_complexity)]
    pub checkpoint: Option<&'a mut dyn FnMut(&pb::RestoreCheckpoint) -> Result<()>>,
    /// Set: the restore stops at its next checkpoint (tables being read finish first).
    pub stop: Option<Arc<AtomicBool>>,
    /// Faults to inject (tests only: the `fault-injection` feature; `VOUCH_FAULT` when
    /// none).
    #[cfg(feature = "fault-injection")]
    pub faults: crate::backup::Faults,
}

impl std::fmt::Debug for RestoreJob<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreJob")
            .field("resume", &self.resume)
            .field("stop", &self.stop)
            .finish_non_exhaustive()
    }
}

fn resume_conflict(what: String) -> Error {
    Error::refused(
        ErrorKind::ResumeConflict,
        format!("the restore cannot continue from its checkpoint: {what} (the cluster or the backup changed since it started)"),
    )
}

/// Deletes every row a restore job wrote under the ids of its checkpoint (a canceled or
/// failed job's), unless its objects were published: the ids' table spans get a
/// deletion for every live key, and a full cluster restore's `system.users` is put back
/// as it was when the job started (`users_since`). Returns how many keys were deleted
/// or put back.
pub fn discard(cluster: &Cluster, ck: &pb::RestoreCheckpoint) -> Result<u64> {
    let now = cluster.now();
    let cat = cluster.catalog(now)?;
    let fresh = fresh_ids(ck);
    if fresh.iter().any(|id| cat.get(*id).is_some()) {
        // Published: the restore finished; what it wrote is the cluster's now.
        return Ok(0);
    }
    let kv = cluster.kv();
    let mut n = 0u64;
    for &id in &fresh {
        let (s, e) = table_span(id);
        let mut batch = Batch::default();
        kv.scan(&s, &e, now, |k, _| {
            batch.delete(k);
            Ok(())
        })?;
        if !batch.is_empty() {
            n += batch.len() as u64;
            kv.write(&batch)?;
        }
    }
    if let Some(since) = ck.users_since {
        n += revert_users(cluster, Timestamp::from(since), now)?;
    }
    Ok(n)
}

/// Puts `system.users` back as it was at `since`: every row live `now` that was not then
/// is deleted, every row of then that is gone or changed is written again. Returns how
/// many keys it wrote.
fn revert_users(cluster: &Cluster, since: Timestamp, now: Timestamp) -> Result<u64> {
    let kv = cluster.kv();
    let (s, e) = table_span(USERS_TABLE_ID);
    let mut then: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    kv.scan(&s, &e, since, |k, v| {
        then.insert(k.to_vec(), v.to_vec());
        Ok(())
    })?;
    let mut batch = Batch::default();
    let mut live: BTreeSet<Vec<u8>> = BTreeSet::new();
    kv.scan(&s, &e, now, |k, v| {
        live.insert(k.to_vec());
        match then.get(k) {
            Some(old) if old.as_slice() == v => {}
            Some(old) => batch.put(k, old),
            None => batch.delete(k),
        }
        Ok(())
    })?;
    for (k, v) in &then {
        if !live.contains(k) {
            batch.put(k, v);
        }
    }
    if batch.is_empty() {
        return Ok(0);
    }
    let n = batch.len() as u64;
    kv.write(&batch)?;
    Ok(n)
}

/// What a restore did (CockroachDB's result row, and more).
#[derive(Debug, Clone, Default)]
pub struct RestoreResult {
    /// The job id.
    pub job_id: u64,
    /// Rows restored (primary index entries).
    pub rows: u64,
    /// Secondary index entries restored.
    pub index_entries: u64,
    /// Logical bytes restored (keys and values).
    pub bytes: u64,
    /// The backup time restored (the AS OF time, or the newest layer's end).
    pub time: Timestamp,
    /// The cluster timestamp the restored objects became visible at.
    pub published_at: Timestamp,
    /// Qualified names of the objects restored (`db.public.t`), in id order.
    pub objects: Vec<String>,
    /// Index fingerprints compared with the backup's (0 when the time is not a layer end).
    pub fingerprints_checked: usize,
    /// The node that coordinated the job (`WITH EXECUTION LOCALITY` picks it).
    pub coordinator: u32,
}

/// A restore plan: a checked chain, the layers that serve `time`, and the descriptors in
/// Replaces the table id at the start of `user` with `new_id`.
fn rewrite_key(user: &[u8], new_id: u64, out: &mut Vec<u8>) -> Result<u64> {
    let (_, index, n) = keys::decode_table_prefix(user)?;
    out.clear();
    keys::encode_table_prefix(new_id, index, out);
    out.extend_from_slice(user.get(n..).unwrap_or_default());
    Ok(index)
}

/// Bytes of keys and values buffered before a batch is written.
const BATCH_BYTES: usize = 4 << 20;

/// A restore planned: its chain read and planned, its selection, its objects' ids and
/// the checkpoint a run starts from.
struct Prepared {
    plan: vouch_chain::Plan,
    bcat: Catalog,
    sel: Selection,
    mapping: Mapping,
    ck: pb::RestoreCheckpoint,
    /// (backup id, cluster id) of each table whose rows are read.
    data: Vec<(u64, u64)>,
}

/// What [`prepare`] found: a run to make, or a restore an earlier run of the job already
/// published (only finished: its result).
enum Planned {
    Run(Box<Prepared>),
    Finished(RestoreResult),
}

/// Plans a restore: the job's start when `resume` is `None` (every precondition checked,
/// new ids allocated), else a run continuing from `resume` (the preconditions of the
/// start not checked again but the names of its objects, the same ids and tables as the
/// checkpoint's, or [`ErrorKind::ResumeConflict`]). Nothing is written but the allocator.
fn prepare(
    cluster: &Cluster,
    opts: &RestoreOptions,
    resume: Option<pb::RestoreCheckpoint>,
    coordinator: u32,
) -> Result<Planned> {
    let store_opts = crate::storage::open_options(cluster);
    let chain = open_source_keyed(&opts.source, &store_opts, &opts.keys)?;
    let now = cluster.now();
    let as_of = opts
        .as_of
        .as_deref()
        .map(|t| {
            vouch_format::time::parse_as_of(t, now)
                .map_err(|e| Error::refused(ErrorKind::InvalidTime, e.to_string()))
        })
        .transpose()?;
    let plan = plan(chain, as_of)?;
    let bcat = plan.catalog();
    // A run resumed after an earlier one published its objects (killed before its job was
    // marked succeeded) finds them by its own ids and only finishes: their names are its
    // own, not a collision.
    if let Some(ck) = &resume {
        if let Some(at) = publication(cluster, ck)? {
            return finish_published(cluster, opts, &plan, &bcat, ck, at, coordinator)
                .map(Planned::Finished);
        }
    }
    let tcat = cluster.catalog(now)?;
    let start = if resume.is_some() {
        Start::Resumed
    } else {
        Start::First
    };
    let sel = select_for(&plan, &bcat, &tcat, opts, start)?;
    // A resumed run gives its objects the ids of the first run (allocated then).
    let mut range = (0u64, 0u64);
    let mapping = assign(
        |n| {
            let first = match &resume {
                Some(ck) if ck.new_ids == n => ck.first_new_id,
                Some(ck) => {
                    return Err(resume_conflict(format!(
                        "it would now restore {n} new objects, not {}",
                        ck.new_ids
                    )))
                }
                None => cluster.allocate_ids(n)?,
            };
            range = (first, n);
            Ok(first)
        },
        &sel,
        &bcat,
        &tcat,
        opts,
    )?;
    let ids: Vec<pb::RestoredId> = mapping
        .ids
        .iter()
        .map(|(old, new)| pb::RestoredId {
            old_id: *old,
            new_id: *new,
        })
        .collect();

    // Tables whose rows are read: (backup id, cluster id).
    let mut data: Vec<(u64, u64)> = Vec::new();
    let reads_data = !opts.schema_only || opts.verify_backup_table_data;
    for d in bcat.tables().filter(|_| reads_data) {
        let excluded = schema::table(d).is_some_and(|t| t.exclude_data_from_backup);
        if excluded {
            continue;
        }
        if sel.ids.contains(&d.id) {
            if let Some(new) = mapping.ids.get(&d.id) {
                data.push((d.id, *new));
            }
        } else if d.id == USERS_TABLE_ID && sel.system_users {
            data.push((d.id, USERS_TABLE_ID));
        }
    }
    // The checkpoint: the first run's, or a new one.
    let ck = match resume {
        Some(ck) => {
            if ck.ids != ids {
                return Err(resume_conflict(
                    "its objects would now get other ids".into(),
                ));
            }
            if ck.tables != data.len() as u64 {
                return Err(resume_conflict(format!(
                    "it would now restore the rows of {} tables, not {}",
                    data.len(),
                    ck.tables
                )));
            }
            ck
        }
        None => pb::RestoreCheckpoint {
            ids,
            first_new_id: range.0,
            new_ids: range.1,
            tables: data.len() as u64,
            done: Vec::new(),
            users_since: data
                .iter()
                .any(|(_, new)| *new == USERS_TABLE_ID)
                .then(|| now.into()),
        },
    };
    let done_ids: BTreeSet<u64> = ck.done.iter().map(|t| t.table_id).collect();
    if done_ids.len() != ck.done.len() {
        return Err(resume_conflict("a table is recorded done twice".into()));
    }
    if let Some(extra) = done_ids
        .iter()
        .find(|id| !data.iter().any(|(old, _)| old == *id))
    {
        return Err(resume_conflict(format!(
            "table {extra}, done, is not among the tables it restores"
        )));
    }
    Ok(Planned::Run(Box::new(Prepared {
        plan,
        bcat,
        sel,
        mapping,
        ck,
        data,
    })))
}

/// Starts a RESTORE job without writing a row (spec/jobs.md §3): the job's start —
/// options and every precondition checked (a full cluster restore's empty cluster
/// included), its objects' ids allocated — as the checkpoint its runs continue from
/// ([`RestoreJob::resume`]). A detached RESTORE records it before returning its job id,
/// so a job paused before any runner ran it is already defined: its later runs check
/// only that its objects' names are still free.
pub fn plan_job(cluster: &Cluster, opts: &RestoreOptions) -> Result<pb::RestoreCheckpoint> {
    check_options(opts)?;
    // A start resumes nothing, so it never finds a publication of its own.
    match prepare(cluster, opts, None, 0)? {
        Planned::Run(p) => Ok(p.ck),
        Planned::Finished(_) => Err(resume_conflict(
            "a job's start found its objects published".into(),
        )),
    }
}

/// Runs a RESTORE into `cluster`.
pub fn restore(
    cluster: &Cluster,
    opts: &RestoreOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<RestoreResult> {
    restore_job(cluster, opts, &mut RestoreJob::default(), progress)
}

/// Runs a RESTORE into `cluster` as a job ([`RestoreJob`]).
pub fn restore_job(
    cluster: &Cluster,
    opts: &RestoreOptions,
    job: &mut RestoreJob<'_>,
    progress: &mut dyn FnMut(Progress),
) -> Result<RestoreResult> {
    check_options(opts)?;
    #[cfg(feature = "fault-injection")]
    let faults = crate::backup::faults::Injected::given(job.faults)?;
    #[cfg(not(feature = "fault-injection"))]
    let faults = crate::backup::faults::Injected::default();
    let coordinator = crate::coordinator(cluster, opts.execution_locality.as_deref())?;
    let prepared = match prepare(cluster, opts, job.resume.take(), coordinator)? {
        Planned::Run(p) => p,
        Planned::Finished(result) => return Ok(result),
    };
    let Prepared {
        plan,
        bcat,
        sel,
        mapping,
        mut ck,
        data,
    } = *prepared;
    // Tables whose rows are read: (backup descriptor, cluster id).
    let data_tables: Vec<(&pb::Descriptor, u64)> = data
        .iter()
        .filter_map(|(old, new)| bcat.get(*old).map(|d| (d, *new)))
        .collect();
    let done_ids: BTreeSet<u64> = ck.done.iter().map(|t| t.table_id).collect();
    let stop_asked =
        |job: &RestoreJob<'_>| job.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
    if let Some(f) = job.checkpoint.as_mut() {
        f(&ck)?;
    }
    if stop_asked(job) {
        return Err(stopped());
    }
    // The tables still to read.
    let todo: Vec<(&pb::Descriptor, u64)> = data_tables
        .iter()
        .filter(|(d, _)| !done_ids.contains(&d.id))
        .copied()
        .collect();
    let total: u64 = todo.iter().map(|(d, _)| plan.table_file_bytes(d.id)).sum();
    progress(Progress::Start { total_bytes: total });

    let kv = cluster.kv();
    // A resumed run writes its tables at a time of its own (after every earlier run's
    // writes); nothing is visible before the objects are published.
    let data_ts = kv.now();
    let mut result = RestoreResult {
        job_id: crate::new_job_id(),
        time: plan.time,
        coordinator,
        ..RestoreResult::default()
    };
    let write = !opts.schema_only;
    let mut computed: BTreeMap<(u64, u64), Fingerprint> = BTreeMap::new();
    for t in &ck.done {
        count_done(t, &mut result, &mut computed);
    }
    // The tables are read on `opts.jobs` threads, each table one k-way merge with its own
    // requests to the store; their writes go to the cluster one batch at a time (redb
    // serializes them). Progress and results come back to this thread, which records the
    // checkpoint of each table done before its worker takes another (so a stop asked
    // there holds every later table back).
    let (tx, rx) = std::sync::mpsc::channel::<TableMsg>();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let halt = AtomicBool::new(false);
    let mut first_error: Option<Error> = None;
    let mut halted = false;
    let already = ck.done.len();
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.clamp(1, todo.len().max(1)) {
            let tx = tx.clone();
            let (next, todo, plan, bcat, halt) = (&next, &todo, &plan, &bcat, &halt);
            scope.spawn(move || loop {
                if halt.load(Ordering::SeqCst) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((d, new_id)) = todo.get(i) else {
                    break;
                };
                // The table's place among all the job's tables (a fault parks in one).
                let ordinal = (already + i + 1) as u64;
                let park = faults.parks_in_table(ordinal).then_some((faults, ordinal));
                let out = restore_table(plan, bcat, opts, kv, data_ts, d, *new_id, &tx, park);
                let (ack, acked) = std::sync::mpsc::channel::<bool>();
                if tx.send(TableMsg::Done(i, out, ack)).is_err() {
                    break;
                }
                // Go on only once the table's checkpoint is recorded.
                if !acked.recv().unwrap_or(false) {
                    break;
                }
            });
        }
        drop(tx);
        let mut read = 0u64;
        for msg in rx {
            match msg {
                TableMsg::Read(delta) => {
                    read += delta;
                    progress(Progress::Read { bytes: read });
                }
                TableMsg::Done(i, out, ack) => {
                    let go_on = match (out, todo.get(i)) {
                        (Ok(out), Some((d, _))) => {
                            let done = pb::RestoredTable {
                                table_id: d.id,
                                rows: out.rows,
                                index_entries: out.index_entries,
                                bytes: out.bytes,
                                fingerprints: out
                                    .computed
                                    .iter()
                                    .map(|((t, index), f)| pb::TableFingerprint {
                                        table_id: *t,
                                        index_id: *index,
                                        fingerprint: f.hash,
                                        rows: f.entries,
                                    })
                                    .collect(),
                            };
                            result.rows += out.rows;
                            result.index_entries += out.index_entries;
                            result.bytes += out.bytes;
                            computed.extend(out.computed);
                            ck.done.push(done);
                            let recorded = match job.checkpoint.as_mut() {
                                Some(f) => f(&ck),
                                None => Ok(()),
                            };
                            match recorded {
                                Ok(()) => {
                                    let n = ck.done.len() as u64;
                                    progress(Progress::Table {
                                        done: n,
                                        total: ck.tables,
                                    });
                                    faults.park_restore(n, job.stop.as_ref(), &mut || {
                                        progress(Progress::Read { bytes: read })
                                    });
                                    if stop_asked(job) {
                                        halted = true;
                                    }
                                    !halted && first_error.is_none()
                                }
                                Err(e) => {
                                    first_error.get_or_insert(e);
                                    false
                                }
                            }
                        }
                        (Err(e), _) => {
                            first_error.get_or_insert(e);
                            false
                        }
                        (Ok(_), None) => {
                            first_error.get_or_insert(Error::refused(
                                ErrorKind::Usage,
                                "a restore worker reported a table it was not given",
                            ));
                            false
                        }
                    };
                    if !go_on {
                        halt.store(true, Ordering::SeqCst);
                    }
                    let _ = ack.send(go_on);
                }
            }
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    let all_done = data_tables
        .iter()
        .all(|(d, _)| ck.done.iter().any(|t| t.table_id == d.id));
    if halted || !all_done {
        return Err(stopped());
    }
    if opts.verify_backup_table_data {
        if let Some(recorded) = &plan.fingerprints {
            result.fingerprints_checked =
                compare_fingerprints(&bcat, recorded, &data_tables, |old, _, index| {
                    Ok(computed.get(&(old, index)).copied().unwrap_or_default())
                })?;
        }
    }

    // Publish: every restored descriptor at once (and the replaced defaults go).
    let mut extra = Batch::default();
    if !sel.replaced.is_empty() {
        for id in &sel.replaced {
            let mut k = Vec::new();
            keys::encode_table_prefix(schema::DESCRIPTOR_TABLE_ID, 1, &mut k);
            keys::encode_ordered_uvarint(*id, &mut k);
            extra.delete(&k);
        }
    }
    // A full cluster restore's zone configurations, with the objects: the backup's
    // system.zones rows, naming the objects' new ids, replace the cluster's.
    let mut descriptors = mapping.descriptors.clone();
    if sel.system_zones {
        let zones = backup_zones(&plan, &bcat, &mapping)?;
        if let Some(d) = cluster.replace_zones(&zones, &mut extra)? {
            descriptors.push(d);
        }
    }
    let published = cluster.put_descriptors(&descriptors, Some(extra))?;
    if sel.system_zones {
        cluster.zones_changed()?;
    }
    faults.after_publish()?;
    result.published_at = published;
    let ncat = cluster.catalog(published)?;
    result.objects = qualified(&ncat, &mapping.descriptors);

    // The restore's own check: fingerprints of what was written, at the backup's layer end.
    if write {
        if let Some(recorded) = &plan.fingerprints {
            let checked = compare_fingerprints(&bcat, recorded, &data_tables, |_, new, index| {
                Ok(cluster
                    .index_fingerprints(new, published)?
                    .get(&index)
                    .copied()
                    .unwrap_or_default())
            });
            match checked {
                Ok(n) => result.fingerprints_checked = n,
                Err(e) => {
                    let ids: Vec<u64> = mapping.descriptors.iter().map(|d| d.id).collect();
                    cluster.delete_descriptors(&ids)?;
                    return Err(e);
                }
            }
        }
    }
    Ok(result)
}

/// The backup's `system.zones` rows (none when it has no such table), each naming the
/// object it configures by the id the restore gives it: `RANGE default` (0) and objects
/// of the system database keep theirs; a row of an object the restore does not restore
/// (a zone the backup kept for a dropped object) is left out. vouch gives restored
/// objects new ids where CockroachDB's full cluster restore keeps them, so the rows are
/// mapped rather than copied.
fn backup_zones(
    plan: &vouch_chain::Plan,
    bcat: &Catalog,
    mapping: &Mapping,
) -> Result<Vec<(ZoneKey, ZoneConfig)>> {
    let Some(d) = bcat.get(ZONES_TABLE_ID) else {
        return Ok(Vec::new());
    };
    let layouts = index_layouts(d)?;
    let Some(primary) = layouts.iter().find(|l| l.primary) else {
        return Ok(Vec::new());
    };
    let types = primary.key_types();
    let mut rows = Vec::new();
    plan.scan_table(d.id, &mut |_| {}, |key, payload| -> Result<()> {
        let (_, index, _) = keys::decode_table_prefix(key)?;
        if index != u64::from(primary.id) {
            return Ok(());
        }
        let (_, _, pk) = keys::decode_index_key(key, &types)?;
        rows.push(primary.assemble_row(d, &pk, payload)?);
        Ok(())
    })?;
    let in_system = |id: u64| {
        bcat.get(id).is_some_and(|x| {
            x.id == SYSTEM_DATABASE_ID || schema::parents(x).0 == SYSTEM_DATABASE_ID
        })
    };
    Ok(vouch_cluster::decode_zone_rows(&rows)?
        .into_iter()
        .filter_map(|((id, index, part), z)| {
            let new = if id == 0 || in_system(id) {
                Some(id)
            } else {
                mapping.ids.get(&id).copied()
            };
            new.map(|n| ((n, index, part), z))
        })
        .collect())
}

/// Adds table `t`, done by an earlier run, to `result`'s counts and its fingerprints to
/// `computed`.
fn count_done(
    t: &pb::RestoredTable,
    result: &mut RestoreResult,
    computed: &mut BTreeMap<(u64, u64), Fingerprint>,
) {
    result.rows += t.rows;
    result.index_entries += t.index_entries;
    result.bytes += t.bytes;
    for f in &t.fingerprints {
        computed.insert(
            (f.table_id, f.index_id),
            Fingerprint {
                hash: f.fingerprint,
                entries: f.rows,
            },
        );
    }
}

/// The new ids of a checkpoint that are its own: in the range allocated to it (a record
/// read from disk is bounded by its own size, not by the range it claims).
fn fresh_ids(ck: &pb::RestoreCheckpoint) -> BTreeSet<u64> {
    let end = ck.first_new_id.saturating_add(ck.new_ids);
    ck.ids
        .iter()
        .map(|m| m.new_id)
        .filter(|id| (ck.first_new_id..end).contains(id))
        .collect()
}

/// When the job of checkpoint `ck` published its objects, if it did: a descriptor was
/// written under one of its own new ids (allocated to it alone; only its publication
/// writes them, all in one batch).
fn publication(cluster: &Cluster, ck: &pb::RestoreCheckpoint) -> Result<Option<Timestamp>> {
    let mut at: Option<Timestamp> = None;
    for id in fresh_ids(ck) {
        if let Some(ts) = cluster.descriptor_first_written(id)? {
            at = Some(at.map_or(ts, |a| a.min(ts)));
        }
    }
    Ok(at)
}

/// Finishes a restore whose objects an earlier run published at `published` (it was
/// stopped before its job ended): the result from its checkpoint (every table is in
/// `done`), the fingerprint checks the earlier run may not have made (of the rows as
/// published, at `published`), nothing written but the cleanup of a failed check.
fn finish_published(
    cluster: &Cluster,
    opts: &RestoreOptions,
    plan: &vouch_chain::Plan,
    bcat: &Catalog,
    ck: &pb::RestoreCheckpoint,
    published: Timestamp,
    coordinator: u32,
) -> Result<RestoreResult> {
    let mut result = RestoreResult {
        job_id: crate::new_job_id(),
        time: plan.time,
        published_at: published,
        coordinator,
        ..RestoreResult::default()
    };
    let mut computed: BTreeMap<(u64, u64), Fingerprint> = BTreeMap::new();
    let mut tables: Vec<(&pb::Descriptor, u64)> = Vec::new();
    for t in &ck.done {
        count_done(t, &mut result, &mut computed);
        let new_id = match ck.ids.iter().find(|m| m.old_id == t.table_id) {
            Some(m) => m.new_id,
            None if t.table_id == USERS_TABLE_ID => USERS_TABLE_ID,
            None => {
                return Err(resume_conflict(format!(
                    "table {}, done, has no id in its checkpoint",
                    t.table_id
                )))
            }
        };
        let Some(d) = bcat.get(t.table_id) else {
            return Err(resume_conflict(format!(
                "table {}, done, is not in the backup",
                t.table_id
            )));
        };
        tables.push((d, new_id));
    }
    let fresh = fresh_ids(ck);
    if let Some(recorded) = &plan.fingerprints {
        if opts.verify_backup_table_data {
            result.fingerprints_checked =
                compare_fingerprints(bcat, recorded, &tables, |old, _, index| {
                    Ok(computed.get(&(old, index)).copied().unwrap_or_default())
                })?;
        }
        if !opts.schema_only {
            let checked = compare_fingerprints(bcat, recorded, &tables, |_, new, index| {
                Ok(cluster
                    .index_fingerprints(new, published)?
                    .get(&index)
                    .copied()
                    .unwrap_or_default())
            });
            match checked {
                Ok(n) => result.fingerprints_checked = n,
                Err(e) => {
                    // As a first run's failed check: its objects go.
                    let live = cluster.catalog(cluster.now())?;
                    let ids: Vec<u64> = fresh
                        .iter()
                        .copied()
                        .filter(|id| live.get(*id).is_some())
                        .collect();
                    if !ids.is_empty() {
                        cluster.delete_descriptors(&ids)?;
                    }
                    return Err(e);
                }
            }
        }
    }
    let ncat = cluster.catalog(published)?;
    let descs: Vec<pb::Descriptor> = fresh
        .iter()
        .filter_map(|id| ncat.get(*id).cloned())
        .collect();
    result.objects = qualified(&ncat, &descs);
    Ok(result)
}

/// What a restore worker says: bytes of data files read (since its last message), or a
/// table done (its worker waits for the answer: go on or stop).
enum TableMsg {
    Read(u64),
    Done(usize, Result<TableOut>, std::sync::mpsc::Sender<bool>),
}

fn stopped() -> Error {
    Error::refused(
        ErrorKind::Stopped,
        "the restore was asked to stop and stopped at its checkpoint",
    )
}

/// What restoring one table did.
#[derive(Default)]
struct TableOut {
    rows: u64,
    index_entries: u64,
    bytes: u64,
    /// Fingerprints of the rows read (`verify_backup_table_data`), by (table, index).
    computed: BTreeMap<(u64, u64), Fingerprint>,
}

/// Reads table `d` (one k-way merge over the plan's layers), checks every row, and (unless
/// schema only) writes it under `new_id` at `data_ts`.
#[allow(clippy::too_many_arguments)]
fn restore_table(
    plan: &vouch_chain::Plan,
    bcat: &Catalog,
    opts: &RestoreOptions,
    kv: &vouch_cluster::Kv,
    data_ts: Timestamp,
    d: &pb::Descriptor,
    new_id: u64,
    tx: &std::sync::mpsc::Sender<TableMsg>,
    park: Option<(crate::backup::faults::Injected, u64)>,
) -> Result<TableOut> {
    let write = !opts.schema_only;
    let mut out = TableOut::default();
    let layouts = index_layouts(d)?;
    let primary = layouts
        .iter()
        .find(|l| l.primary)
        .map_or(1, |l| u64::from(l.id));
    let mut batch = Batch::default();
    let mut batch_bytes = 0usize;
    let mut key = Vec::new();
    let mut seen_users: BTreeSet<Vec<u8>> = BTreeSet::new();
    // Every row read is checked against the descriptor restored (always, as verify
    // checks every row live at a layer's end).
    let check = TableCheck::in_catalog(d, bcat.iter())?;
    let mut uniq = UniqueKeys::default();
    let mut reported = 0u64;
    plan.scan_table(
        d.id,
        &mut |b| {
            let _ = tx.send(TableMsg::Read(b.saturating_sub(reported)));
            reported = reported.max(b);
        },
        |user, payload| -> Result<()> {
            check_row(&check, &mut uniq, &d.name, user, payload)?;
            if opts.verify_backup_table_data {
                let (_, index, n) = keys::decode_table_prefix(user)?;
                out.computed
                    .entry((d.id, index))
                    .or_default()
                    .add_suffix(user.get(n..).unwrap_or_default(), payload);
            }
            let index = rewrite_key(user, new_id, &mut key)?;
            if index == primary {
                out.rows += 1;
            } else {
                out.index_entries += 1;
            }
            out.bytes += (user.len() + payload.len()) as u64;
            if write {
                if new_id == USERS_TABLE_ID {
                    seen_users.insert(key.clone());
                }
                batch.put(&key, payload);
                batch_bytes += key.len() + payload.len();
                if let Some((faults, ordinal)) = park {
                    // Tests: the first row written, the table parked half done.
                    kv.write_at(&batch, data_ts)?;
                    faults.park_in_table(ordinal);
                }
                if batch_bytes >= BATCH_BYTES {
                    kv.write_at(&batch, data_ts)?;
                    batch = Batch::default();
                    batch_bytes = 0;
                }
            }
            Ok(())
        },
    )?;
    if write && new_id == USERS_TABLE_ID {
        // A cluster restore replaces the users: rows not in the backup go.
        let (s, e) = table_span(USERS_TABLE_ID);
        kv.scan(&s, &e, data_ts, |k, _| {
            if !seen_users.contains(k) {
                batch.delete(k);
            }
            Ok(())
        })?;
    }
    if !batch.is_empty() {
        kv.write_at(&batch, data_ts)?;
    }
    Ok(out)
}

/// Compares recomputed fingerprints with the recorded ones for every index of the tables
/// read; returns how many were compared.
fn compare_fingerprints(
    bcat: &Catalog,
    recorded: &[pb::TableFingerprint],
    tables: &[(&pb::Descriptor, u64)],
    mut actual: impl FnMut(u64, u64, u64) -> Result<Fingerprint>,
) -> Result<usize> {
    let mut n = 0;
    for (d, new_id) in tables {
        for l in index_layouts(d)? {
            let index = u64::from(l.id);
            let Some(r) = recorded
                .iter()
                .find(|r| r.table_id == d.id && r.index_id == index)
            else {
                continue;
            };
            let got = actual(d.id, *new_id, index)?;
            n += 1;
            if got.hash != r.fingerprint || got.entries != r.rows {
                let (db, _) = bcat.qualifiers(d);
                return Err(Error::refused(ErrorKind::FingerprintMismatch, format!(
                    "restore failed: fingerprint mismatch for {db}.{} index {}: the backup records {:016x} over {} entries, the restored data has {:016x} over {} entries",
                    d.name, l.name, r.fingerprint, r.rows, got.hash, got.entries
                )));
            }
        }
    }
    Ok(n)
}
