//! BACKUP: full and incremental layers into a collection.
//!
//! The export rules are CockroachDB's (spec/backup.md):
//!
//! | layer | revision_history | what each key contributes |
//! |---|---|---|
//! | full (or a span introduced in an incremental) | off | its newest version at or before end, if live |
//! | incremental | off | its newest version in (start, end], tombstones included |
//! | full | on | every version at or before end (`revision_start_time` = the GC threshold) |
//! | incremental | on | every version in (start, end] |
//!
//! Crash safety: every object is write-once. A backup directory gets `BACKUP-LOCK-<job>`
//! first, then data files with checkpoints under `progress/` (after a data file when the
//! checkpoint schedule says one is due, and after the last data file: total checkpoint
//! bytes O(n) in the number of files, spec/backup.md §7.3), then
//! `BACKUP_MANIFEST-CHECKSUM`, then `BACKUP_MANIFEST` — the backup is complete exactly
//! when the manifest exists. A rerun of the same backup finds the lock, reads the newest
//! checkpoint whose files are all present and resumes from it; with no usable checkpoint it
//! redoes the export in the same directory, numbering new objects after any leftovers
//! (data files past the newest checkpoint included).

mod export;
pub(crate) mod faults;
mod publish;
mod resume;
mod scope;
#[cfg(test)]
mod tests;

#[cfg(feature = "fault-injection")]
pub use faults::Faults;

use vouch_chain::sealed::ChainKey;
use vouch_chain::{Chain, Collection, OpenChain, Targets};
use vouch_cluster::Cluster;
use vouch_format::encryption_info::EncryptionInfo;
use vouch_format::layout;
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_format::sst::Compression;
use vouch_keys::KeySource;
use vouch_store::Store;

use crate::{Error, ErrorKind, Result};
pub use export::DEFAULT_CHECKPOINT_INTERVAL;
use export::{ExportCtx, ExportState};
use resume::Job;

/// Default target size of a data file: 128 MiB.
pub const DEFAULT_TARGET_FILE_SIZE: u64 = 128 << 20;
/// The writer version recorded in manifests.
pub const WRITER_VERSION: &str = concat!("vouch ", env!("CARGO_PKG_VERSION"));

/// Where a backup goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `INTO uri`: a new full backup.
    Into(String),
    /// `INTO LATEST IN uri`: an incremental on the newest full backup.
    IntoLatest(String),
    /// `INTO 'subdir' IN uri`: an incremental on that full backup.
    IntoSubdir(String, String),
    /// Legacy `TO 'uri' [INCREMENTAL FROM 'full', 'incr', …]`: one layer written at the
    /// URI's root (no collection, no LATEST); with `INCREMENTAL FROM`, an incremental on
    /// the chain those backup URIs hold (oldest first), whose `previous` is the last of them.
    /// Not resumable: a rerun of a failed legacy backup needs an empty URI.
    To {
        /// Where the layer is written.
        uri: String,
        /// The previous layers' URIs, the full backup first (empty for a full backup).
        incremental_from: Vec<String>,
    },
}

impl Destination {
    /// The collection URI.
    pub fn uri(&self) -> &str {
        match self {
            Destination::Into(u)
            | Destination::IntoLatest(u)
            | Destination::IntoSubdir(_, u)
            | Destination::To { uri: u, .. } => u,
        }
    }
}

/// A non-default store of a locality-aware backup (`'uri?COCKROACH_LOCALITY=key%3Dvalue'`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalityStore {
    /// Its position in the BACKUP's URI list (the `n` of its `BACKUP_PART_<n>_…`).
    pub position: usize,
    /// The locality tier, as named (`region=us-west1`).
    pub locality: String,
    /// Its URI, without `COCKROACH_LOCALITY`.
    pub uri: String,
}

#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// What to back up.
    pub targets: Targets,
    /// Where.
    pub destination: Destination,
    /// `AS OF SYSTEM TIME` text (relative, absolute or decimal HLC).
    pub as_of: Option<String>,
    /// `WITH revision_history`.
    pub revision_history: bool,
    /// `WITH incremental_location = …`.
    pub incremental_location: Option<String>,
    /// Locality-aware: the non-default stores (the destination's URI is the default one).
    /// Each range's files go to the store whose locality matches its leaseholder's tiers,
    /// most specific first, else to the default (spec/locality.md §6).
    pub localities: Vec<LocalityStore>,
    /// Locality-aware: the default store's position in the URI list.
    pub default_position: usize,
    /// `WITH EXECUTION LOCALITY = 'region=…'`: only a node matching the filter may
    /// coordinate the job (none: refused before anything is written).
    pub execution_locality: Option<String>,
    /// Target size of data files.
    pub target_file_size: u64,
    /// SST block size.
    pub block_size: usize,
    /// Data block compression.
    pub compression: Compression,
    /// The statement text, recorded in the manifest.
    pub statement: String,
    /// Faults to inject (tests only: the `fault-injection` feature).
    #[cfg(feature = "fault-injection")]
    pub faults: Faults,
    /// `WITH encryption_passphrase = …` / `kms = …`: a full backup is encrypted with a new
    /// chain key wrapped by these; an incremental must unlock its chain's key with them.
    pub encryption: KeySource,
    /// Set to ask the backup to stop: it is checked after each data file (and its
    /// checkpoint, if one is due), and the backup then writes a checkpoint if the newest
    /// one does not list every file so far and ends with [`ErrorKind::Stopped`] (a
    /// scheduler stopping between files; the same request run again resumes from that
    /// checkpoint).
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// The time rule of the checkpoint schedule (spec/backup.md §7.3): a checkpoint is
    /// due after a data file once this long has passed since the newest one, within the
    /// schedule's byte budget. Default [`DEFAULT_CHECKPOINT_INTERVAL`] (30 s); it is not
    /// part of the job's spec (the backup written is the same).
    pub checkpoint_interval: std::time::Duration,
    /// A protected timestamp record to set to this backup's end time when it succeeds
    /// (replacing its earlier time), so GC keeps the history the chain's next incremental
    /// reads: what a backup schedule's runs chain (spec/schedules.md §5). `None` (a
    /// plain BACKUP): nothing outlives the job.
    pub protect_record: Option<u64>,
    /// The id a new job takes (its `system.jobs` record's); none: a new random id
    /// ([`crate::new_job_id`]).
    pub job_id: Option<u64>,
    /// Resume only an unfinished run whose lock holds `job_id` (a job of the cluster's
    /// `system.jobs` resumes its own work, never a canceled job's directory); otherwise
    /// any unfinished run of the same spec is resumed.
    pub resume_own_only: bool,
}

impl BackupOptions {
    /// Options with defaults for everything but targets and destination.
    pub fn new(targets: Targets, destination: Destination) -> Self {
        BackupOptions {
            targets,
            destination,
            as_of: None,
            revision_history: false,
            incremental_location: None,
            localities: Vec::new(),
            default_position: 0,
            execution_locality: None,
            target_file_size: DEFAULT_TARGET_FILE_SIZE,
            block_size: 32 << 10,
            compression: Compression::Zstd,
            statement: String::new(),
            encryption: KeySource::default(),
            stop: None,
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
            protect_record: None,
            job_id: None,
            resume_own_only: false,
            #[cfg(feature = "fault-injection")]
            faults: Faults::default(),
        }
    }
}

/// What a finished backup reports (CockroachDB's result row, plus where it went).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupResult {
    /// Job id.
    pub job_id: u64,
    /// `succeeded`.
    pub status: String,
    /// Primary-index entries written.
    pub rows: u64,
    /// Secondary-index entries written.
    pub index_entries: u64,
    /// Logical bytes (keys and values) written.
    pub bytes: u64,
    /// Bytes of data files stored.
    pub file_bytes: u64,
    /// Data files.
    pub files: u64,
    /// The layer's directory relative to its store root.
    pub path: String,
    /// The full backup's subdirectory.
    pub full_subdir: String,
    /// Start (zero for a full backup) and end time.
    pub start_time: Timestamp,
    /// End time.
    pub end_time: Timestamp,
    /// True for an incremental.
    pub incremental: bool,
    /// Resumed from a checkpoint of an earlier run.
    pub resumed: bool,
    /// Notices (dependencies the user should know about).
    pub notices: Vec<String>,
    /// The node that coordinated the job (`WITH EXECUTION LOCALITY` picks it).
    pub coordinator: u32,
}

/// Progress events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The export starts: an estimate of the bytes of KV data to read.
    Start { total_bytes: u64 },
    /// Bytes of KV data read so far.
    Read { bytes: u64 },
    /// A data file was completed.
    File { size: u64 },
    /// `done` of the export's `total` key spans are exported (0 of them when it starts;
    /// a resumed run counts the spans its checkpoint had finished).
    Spans { done: u64, total: u64 },
}

/// The layout of one backup directory being written.
struct Target<'a> {
    store: &'a dyn Store,
    dir: String,
}

impl Target<'_> {
    fn path(&self, name: &str) -> String {
        vouch_chain::join(&self.dir, name)
    }
}

/// Releases a job's protected timestamp record when dropped while armed. A backup that
/// fails before its export starts (targets, GC threshold) fails the same way when run
/// again, so its record must not hold GC back forever; once the export has started the
/// record stays, for a resumed run.
struct ReleaseBeforeExport<'a> {
    kv: &'a vouch_cluster::Kv,
    job_id: u64,
    armed: bool,
}

impl Drop for ReleaseBeforeExport<'_> {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: the error being returned is what the caller needs to see.
            let _ = self.kv.release(self.job_id);
        }
    }
}

/// Runs a BACKUP.
pub fn backup(
    cluster: &Cluster,
    opts: &BackupOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<BackupResult> {
    let faults = faults::Injected::of(opts)?;
    let coordinator = crate::coordinator(cluster, opts.execution_locality.as_deref())?;
    let store_opts = crate::storage::open_options(cluster);
    let coll = Collection::open(
        opts.destination.uri(),
        opts.incremental_location.as_deref(),
        &store_opts,
    )?;
    let now = cluster.now();
    let requested_end = requested_end(opts, now)?;
    if opts.target_file_size == 0 {
        return Err(Error::refused(
            ErrorKind::Usage,
            "target file size must be positive",
        ));
    }
    // The chain this layer extends, if incremental.
    let prev_chain = previous_chain(&coll, opts, &store_opts)?;
    // A legacy `TO` layer lives at its URI's root and names its predecessor by URI.
    let legacy = match &opts.destination {
        Destination::To {
            incremental_from, ..
        } => Some(incremental_from.last().cloned()),
        _ => None,
    };
    let spec = resume::spec_text(opts, prev_chain.as_ref());
    // Resume an unfinished run of the same backup, if there is one (not for legacy `TO`).
    let unfinished = match &legacy {
        Some(_) => None,
        None => resume::find_unfinished(
            &coll,
            prev_chain.as_ref(),
            &spec,
            &opts.encryption,
            opts.job_id.filter(|_| opts.resume_own_only),
        )?,
    };
    if unfinished.is_none() && prev_chain.is_none() && legacy.is_none() {
        if let Some(r) = resume::finish_unpublished(cluster, &coll, opts, &spec)? {
            return Ok(r);
        }
    }
    let resumed = unfinished.is_some();
    // A new chain key (written as ENCRYPTION-INFO after the lock) for a new encrypted
    // full backup.
    let (job, new_info) = match unfinished {
        Some(u) => (u, None),
        None => new_job(
            &coll,
            opts,
            prev_chain.as_ref(),
            legacy.is_some(),
            &spec,
            requested_end,
            now,
        )?,
    };
    let Job {
        job,
        dir,
        checkpoint,
        key,
    } = job;
    let sealing = key.as_deref().map(|k| (k, job.backup_id.clone()));
    let store: &dyn Store = match &prev_chain {
        Some(_) if legacy.is_none() => coll.incrementals.store.as_ref(),
        _ => coll.store.as_ref(),
    };
    let target = Target {
        store,
        dir: dir.clone(),
    };
    let start = Timestamp::from_pb(job.start_time);
    let end = Timestamp::from_pb(job.end_time);
    // Hold GC back at what this job reads while it runs: history since the layer's start, a
    // full backup's end time, or, for a full backup with revision history (every version
    // from the GC threshold on), everything: a rerun must find the history, and compute the
    // revision start time and manifest, the run it resumes found.
    let kv = cluster.kv();
    let protect_at = if start != Timestamp::MIN {
        start
    } else if opts.revision_history {
        Timestamp::MIN
    } else {
        end
    };
    kv.protect(job.job_id, protect_at)?;
    // A new job that fails its checks (targets, GC threshold) fails the same way when run
    // again and writes nothing, so it must not hold GC back; a resumed job keeps its record.
    let mut release_on_error = ReleaseBeforeExport {
        kv,
        job_id: job.job_id,
        armed: !resumed,
    };
    let mut scope = scope::plan(cluster, opts, prev_chain.as_ref(), start, end)?;
    // Locality-aware: the other stores, and each span split at its ranges' stores.
    let tiers = opts
        .localities
        .iter()
        .map(|l| vouch_format::locality::Tier::parse(&l.locality))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::refused(ErrorKind::Usage, e.to_string()))?;
    let locality_stores = opts
        .localities
        .iter()
        .map(|l| vouch_store::open(&l.uri, &store_opts))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if !tiers.is_empty() {
        scope.export = scope::split_by_locality(cluster, scope.export, &tiers, end)?;
    }
    let revision_start = scope::revision_start(kv, &scope.export, end)?;
    if !resumed {
        publish::claim(&target, &job, new_info.as_ref())?;
    }
    release_on_error.armed = false;

    // Export.
    let mut state = match &checkpoint {
        Some(cp) => ExportState::from_checkpoint(cp),
        None => ExportState::default(),
    };
    state.schedule = export::Schedule::new(opts.checkpoint_interval, std::time::Instant::now());
    if resumed {
        // Objects of earlier runs that the resumed checkpoint does not describe (a data file
        // published just before a crash; newer checkpoints skipped because a file they list
        // is gone) keep their names: new objects are numbered after them.
        let (file, seq) = resume::names_in_use(store, &dir, sealing.as_ref())?;
        state.next_file = state.next_file.max(file);
        state.checkpoints = state.checkpoints.max(seq);
        for s in &locality_stores {
            let (file, _) = resume::names_in_use(s.as_ref(), &dir, sealing.as_ref())?;
            state.next_file = state.next_file.max(file);
        }
    }
    let cx = ExportCtx::new(
        opts,
        &target,
        end,
        job.job_id,
        faults,
        sealing.as_ref().map(|(k, b)| (*k, b.as_slice())),
    )
    .with_localities(
        locality_stores
            .iter()
            .zip(&opts.localities)
            .map(|(s, l)| (s.as_ref(), l.locality.clone()))
            .collect(),
    );
    progress(Progress::Start { total_bytes: 0 });
    let total = scope.export.len() as u64;
    let finished = scope
        .export
        .iter()
        .take_while(|sp| sp.end.as_slice() <= state.resume_from.as_slice())
        .count() as u64;
    progress(Progress::Spans {
        done: finished,
        total,
    });
    for (i, sp) in (1u64..).zip(&scope.export) {
        if sp.end.as_slice() <= state.resume_from.as_slice() {
            continue;
        }
        export::export_span(cluster, &cx, sp, &mut state, progress)?;
        progress(Progress::Spans { done: i, total });
    }
    if let Some(last) = scope.export.last() {
        export::finish_export(&cx, &mut state, &last.end)?;
    }

    let fingerprints = state.table_fingerprints(&scope.resolved.descriptors)?;
    let previous = prev_chain
        .as_ref()
        .and_then(|c| c.last())
        .map(|l| pb::Previous {
            path: match &legacy {
                // Recorded, so never with its secrets.
                Some(Some(uri)) => vouch_store::redact_uri(uri),
                _ => l.dir.clone(),
            },
            manifest_sha256: l.manifest_sha256.to_vec(),
        });
    let manifest = publish::manifest(publish::Layer {
        opts,
        job: &job,
        full: prev_chain.is_none(),
        revision_start,
        scope: &scope,
        files: &state.files,
        previous,
        fingerprints,
    });
    // Each non-default store gets its part file before the manifest makes the layer complete.
    for (s, l) in locality_stores.iter().zip(&opts.localities) {
        publish::part_object(s.as_ref(), &dir, l, &manifest, sealing.as_ref())?;
    }
    publish::manifest_objects(&target, &manifest, sealing.as_ref(), faults)?;
    if prev_chain.is_none() && legacy.is_none() {
        faults.at(faults::Point::BeforeLatest)?;
        publish::write_latest(coll.store.as_ref(), &dir, end)?;
    }
    // Success: release the job's protection; a schedule's record keeps history since
    // `end` for its next incremental.
    if let Some(id) = opts.protect_record {
        kv.protect(id, end)?;
    }
    kv.release(job.job_id)?;
    Ok(BackupResult {
        job_id: job.job_id,
        status: "succeeded".into(),
        rows: state.rows,
        index_entries: state.index_entries,
        bytes: state.bytes,
        file_bytes: state.files.iter().map(|f| f.size).sum(),
        files: state.files.len() as u64,
        path: dir,
        full_subdir: match (&legacy, &prev_chain) {
            (Some(_), _) => String::new(),
            (None, None) => layout::full_subdir(end),
            (None, Some(c)) => c.full_subdir.clone(),
        },
        start_time: start,
        end_time: end,
        incremental: prev_chain.is_some(),
        resumed,
        notices: scope.resolved.notices,
        coordinator,
    })
}

/// The end time asked for: `AS OF SYSTEM TIME`, or now; never in the future.
fn requested_end(opts: &BackupOptions, now: Timestamp) -> Result<Timestamp> {
    let end = match &opts.as_of {
        Some(t) => vouch_format::time::parse_as_of(t, now)
            .map_err(|e| Error::refused(ErrorKind::InvalidTime, e.to_string()))?,
        None => now,
    };
    if end > now {
        return Err(Error::refused(
            ErrorKind::InvalidTime,
            format!("AS OF SYSTEM TIME: cannot specify timestamp in the future ({end} > {now})"),
        ));
    }
    Ok(end)
}

/// The chain an incremental extends (opened with the user's key), or `None` for a full
/// backup.
fn previous_chain(
    coll: &Collection,
    opts: &BackupOptions,
    store_opts: &vouch_store::OpenOptions,
) -> Result<Option<Chain>> {
    Ok(match &opts.destination {
        Destination::Into(_) => None,
        Destination::IntoLatest(_) => Some(coll.chain_keyed(&coll.latest()?, &opts.encryption)?),
        Destination::IntoSubdir(s, _) => {
            Some(coll.chain_keyed(&coll.resolve_subdir(s)?, &opts.encryption)?)
        }
        Destination::To {
            incremental_from, ..
        } if incremental_from.is_empty() => None,
        Destination::To {
            incremental_from, ..
        } => {
            Some(OpenChain::from_uris_keyed(incremental_from, store_opts, &opts.encryption)?.chain)
        }
    })
}

/// A new job: its lock record, directory and key (and the new chain's key record, for a
/// new encrypted chain).
fn new_job(
    coll: &Collection,
    opts: &BackupOptions,
    prev: Option<&Chain>,
    legacy: bool,
    spec: &str,
    end: Timestamp,
    now: Timestamp,
) -> Result<(Job, Option<EncryptionInfo>)> {
    let backup_id = publish::random_id();
    let (start, chain_id) = match prev {
        None => (Timestamp::MIN, backup_id.clone()),
        Some(c) => {
            let last = c
                .last()
                .ok_or_else(|| Error::refused(ErrorKind::Usage, "empty chain"))?;
            (
                Timestamp::from_pb(last.manifest.end_time),
                last.manifest.chain_id.clone(),
            )
        }
    };
    if prev.is_some() && end <= start {
        return Err(Error::refused(
            ErrorKind::InvalidTime,
            format!(
                "the incremental's end time {end} is not after the previous layer's end time {start}"
            ),
        ));
    }
    let mut new_info = None;
    let key: Option<ChainKey> = match prev {
        Some(c) => c.key.clone(),
        None if opts.encryption.is_empty() => None,
        None => {
            let (k, info) = vouch_keys::create(&chain_id, &opts.encryption)?;
            new_info = Some(info);
            Some(std::sync::Arc::new(k))
        }
    };
    let job = pb::BackupJob {
        job_id: opts.job_id.unwrap_or_else(crate::new_job_id),
        spec: resume::lock_spec(spec, key.as_deref()),
        start_time: Some(pb::Timestamp::from(start)),
        end_time: Some(pb::Timestamp::from(end)),
        chain_id,
        backup_id,
        created_wall: now.wall,
    };
    let dir = match prev {
        _ if legacy => String::new(),
        None => layout::full_subdir(end),
        Some(c) => format!(
            "{}{}/{}",
            coll.incrementals.prefix,
            c.full_subdir,
            layout::incremental_subdir(&c.full_subdir, start, end)
        ),
    };
    Ok((
        Job {
            job,
            dir,
            checkpoint: None,
            key,
        },
        new_info,
    ))
}
