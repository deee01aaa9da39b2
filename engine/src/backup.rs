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
//! first, then data files (each followed by a checkpoint under `progress/`), then
//! `BACKUP_MANIFEST-CHECKSUM`, then `BACKUP_MANIFEST` — the backup is complete exactly
//! when the manifest exists. A rerun of the same backup finds the lock, reads the newest
//! checkpoint whose files are all present and resumes from it; with no usable checkpoint it
//! redoes the export in the same directory, numbering new objects after any leftovers.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use prost::Message;
use rand::RngCore;
use sha2::{Digest, Sha256};
use vouch_cluster::Cluster;
use vouch_format::fingerprint::Fingerprint;
use vouch_format::keys;
use vouch_format::layout::{self, Listing};
use vouch_format::manifest::{self, decode_canonical, pb};
use vouch_format::mvcc::{self, Timestamp};
use vouch_format::schema::{self, index_layouts, Catalog, Kind, USERS_TABLE_ID};
use vouch_format::sst::{Compression, SstWriter, WriterOptions};
use vouch_store::{ObjectWriter, Store};

use crate::crypto;
use crate::{ctx, Error, ErrorKind, Result};
use vouch_chain::sealed::{self, ChainKey};
use vouch_chain::{Chain, Collection};
use vouch_chain::{Resolved, Targets};
use vouch_format::envelope::DataKey;
use vouch_keys::KeySource;

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

/// Faults injected by tests (and by `VOUCH_FAULT` in the CLI).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Stop after this many data files were completed and checkpointed.
    pub after_files: Option<u64>,
    /// Stop after the checksum file, before the manifest.
    pub before_manifest: bool,
    /// Stop after the manifest, before LATEST.
    pub before_latest: bool,
}

impl Faults {
    /// Parses `after-files:N`, `before-manifest`, `before-latest` (comma-separated).
    pub fn parse(s: &str) -> Result<Self> {
        let mut f = Faults::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some(n) = part.strip_prefix("after-files:") {
                f.after_files = Some(n.parse().map_err(|_| {
                    Error::refused(ErrorKind::Usage, format!("bad fault {part:?}"))
                })?);
            } else if part == "before-manifest" {
                f.before_manifest = true;
            } else if part == "before-latest" {
                f.before_latest = true;
            } else {
                return Err(Error::refused(
                    ErrorKind::Usage,
                    format!("unknown fault {part:?}"),
                ));
            }
        }
        Ok(f)
    }
}

/// A BACKUP request.
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
    /// Target size of data files.
    pub target_file_size: u64,
    /// SST block size.
    pub block_size: usize,
    /// Data block compression.
    pub compression: Compression,
    /// The statement text, recorded in the manifest.
    pub statement: String,
    /// Fault injection.
    pub faults: Faults,
    /// `WITH encryption_passphrase = …` / `kms = …`: a full backup is encrypted with a new
    /// chain key wrapped by these; an incremental must unlock its chain's key with them.
    pub encryption: KeySource,
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
            target_file_size: DEFAULT_TARGET_FILE_SIZE,
            block_size: 32 << 10,
            compression: Compression::Zstd,
            statement: String::new(),
            encryption: KeySource::default(),
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

/// Wraps an object writer, hashing and counting what goes through.
struct Hashing {
    inner: Box<dyn ObjectWriter>,
    sha: Sha256,
    n: u64,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(buf.get(..n).unwrap_or_default());
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn random_id() -> Vec<u8> {
    let mut b = vec![0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

/// One span to export, with the time its history starts.
#[derive(Debug, Clone)]
struct ExportSpan {
    table_id: u64,
    start: Vec<u8>,
    end: Vec<u8>,
    /// Versions after this time (exclusive) are candidates.
    after: Timestamp,
    /// Skip the data (exclude_data_from_backup): nothing is exported, the descriptor is kept.
    excluded: bool,
    primary_index: u64,
    /// Full-style export (no tombstones in LATEST mode).
    from_zero: bool,
}

/// Runs a BACKUP.
pub fn backup(
    cluster: &Cluster,
    opts: &BackupOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<BackupResult> {
    let store_opts = vouch_chain::open_options(Some(cluster.extern_dir()));
    let coll = Collection::open(
        opts.destination.uri(),
        opts.incremental_location.as_deref(),
        &store_opts,
    )?;
    let now = cluster.now();
    let requested_end = match &opts.as_of {
        Some(t) => vouch_format::time::parse_as_of(t, now).map_err(|e| {
            Error::refused(ErrorKind::InvalidTime, format!("AS OF SYSTEM TIME: {e}"))
        })?,
        None => now,
    };
    if requested_end > now {
        return Err(Error::refused(
            ErrorKind::InvalidTime,
            format!(
            "AS OF SYSTEM TIME: cannot specify timestamp in the future ({requested_end} > {now})"
        ),
        ));
    }
    if opts.target_file_size == 0 {
        return Err(Error::refused(
            ErrorKind::Usage,
            "target file size must be positive",
        ));
    }
    // The chain this layer extends, if incremental.
    let prev_chain: Option<Chain> = match &opts.destination {
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
        } => Some(
            vouch_chain::OpenChain::from_uris_keyed(
                incremental_from,
                &store_opts,
                &opts.encryption,
            )?
            .chain,
        ),
    };
    // A legacy `TO` layer lives at its URI's root and names its predecessor by URI.
    let legacy = match &opts.destination {
        Destination::To {
            incremental_from, ..
        } => Some(incremental_from.last().cloned()),
        _ => None,
    };
    let spec = spec_text(opts, prev_chain.as_ref());
    // Resume an unfinished run of the same backup, if there is one (not for legacy `TO`).
    let unfinished = match &legacy {
        Some(_) => None,
        None => find_unfinished(&coll, prev_chain.as_ref(), &spec, &opts.encryption)?,
    };
    if unfinished.is_none() && prev_chain.is_none() && legacy.is_none() {
        if let Some(r) = finish_unpublished(cluster, &coll, opts, &spec)? {
            return Ok(r);
        }
    }
    let resumed = unfinished.is_some();
    // A new chain key (written as ENCRYPTION-INFO after the lock) for a new encrypted
    // full backup.
    let mut new_info: Option<vouch_format::encryption_info::EncryptionInfo> = None;
    let (job, dir, checkpoint, key) = match unfinished {
        Some(u) => u,
        None => {
            let (start, backup_id, chain_id) = match &prev_chain {
                None => (Timestamp::MIN, random_id(), None),
                Some(c) => {
                    let last = c
                        .last()
                        .ok_or_else(|| Error::refused(ErrorKind::Usage, "empty chain"))?;
                    (
                        Timestamp::from_pb(last.manifest.end_time),
                        random_id(),
                        Some(last.manifest.chain_id.clone()),
                    )
                }
            };
            let end = requested_end;
            if prev_chain.is_some() && end <= start {
                return Err(Error::refused(ErrorKind::InvalidTime, format!(
                    "the incremental's end time {end} is not after the previous layer's end time {start}"
                )));
            }
            let backup_id_copy = backup_id.clone();
            let chain_id = chain_id.unwrap_or(backup_id_copy);
            let key: Option<ChainKey> = match &prev_chain {
                Some(c) => c.key.clone(),
                None if opts.encryption.is_empty() => None,
                None => {
                    let (k, info) = vouch_keys::create(&chain_id, &opts.encryption)?;
                    new_info = Some(info);
                    Some(std::sync::Arc::new(k))
                }
            };
            let job = pb::BackupJob {
                job_id: crate::new_job_id(),
                spec: lock_spec(&spec, key.as_deref()),
                start_time: Some(pb::Timestamp::from(start)),
                end_time: Some(pb::Timestamp::from(end)),
                chain_id,
                backup_id,
                created_wall: now.wall,
            };
            let dir = match &prev_chain {
                _ if legacy.is_some() => String::new(),
                None => layout::full_subdir(end),
                Some(c) => format!(
                    "{}{}/{}",
                    coll.incrementals.prefix,
                    c.full_subdir,
                    layout::incremental_subdir(&c.full_subdir, start, end)
                ),
            };
            (job, dir, None, key)
        }
    };
    let sealing = key.as_deref().map(|k| (k, job.backup_id.clone()));
    let store: &dyn Store = match &prev_chain {
        _ if legacy.is_some() => coll.store.as_ref(),
        None => coll.store.as_ref(),
        Some(_) => coll.incrementals.store.as_ref(),
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

    let cat = cluster.catalog(end)?;
    let resolved = vouch_chain::resolve(&cat, &opts.targets)?;
    if let Some(c) = &prev_chain {
        check_same_targets(c, &resolved)?;
    }
    let mut revisions = Vec::new();
    let mut spans_tables: BTreeMap<u64, pb::Descriptor> = resolved
        .descriptors
        .iter()
        .filter(|d| Kind::of(d) == Some(Kind::Table))
        .map(|d| (d.id, d.clone()))
        .collect();
    // What was in scope at `start`: the descriptors of the layer this one extends.
    let at_start: BTreeMap<u64, &pb::Descriptor> = prev_chain
        .as_ref()
        .and_then(|c| c.last())
        .map(|l| l.manifest.descriptors.iter().map(|d| (d.id, d)).collect())
        .unwrap_or_default();
    if opts.revision_history {
        for r in cluster.descriptor_revisions(start, end)? {
            if let Some(d) = &r.descriptor {
                if !resolved.covers(d) {
                    continue;
                }
                if Kind::of(d) == Some(Kind::Table) {
                    spans_tables.entry(d.id).or_insert_with(|| d.clone());
                }
            } else if let Some(d) = at_start.get(&r.id) {
                // Dropped during the interval: keep the deletion, and a table's history
                // from `start` to the drop.
                if Kind::of(d) == Some(Kind::Table) {
                    spans_tables.entry(d.id).or_insert_with(|| (*d).clone());
                }
            } else if !resolved.descriptors.iter().any(|x| x.id == r.id)
                && !spans_tables.contains_key(&r.id)
            {
                // A deletion of something never in scope.
                continue;
            }
            revisions.push(r);
        }
    }
    let prev_spans: Vec<pb::Span> = prev_chain
        .as_ref()
        .and_then(|c| c.last())
        .map(|l| l.manifest.spans.clone())
        .unwrap_or_default();
    let mut export = Vec::new();
    let mut spans = Vec::new();
    let mut introduced = Vec::new();
    for (id, d) in &spans_tables {
        let (s, e) = vouch_format::keys::table_span(*id);
        let span = pb::Span {
            start: s.clone(),
            end: e.clone(),
        };
        // New in this layer: not covered before, or covered with its data excluded (the
        // rows written meanwhile are in no layer yet).
        let was_excluded = at_start
            .get(id)
            .and_then(|p| schema::table(p))
            .is_some_and(|t| t.exclude_data_from_backup);
        let excluded = schema::table(d).is_some_and(|t| t.exclude_data_from_backup);
        let new_span =
            prev_chain.is_some() && (!prev_spans.contains(&span) || (was_excluded && !excluded));
        if new_span {
            introduced.push(span.clone());
        }
        spans.push(span);
        let layouts = index_layouts(d).map_err(|e| Error::Format {
            context: format!("descriptor of table {:?}", d.name),
            source: e,
        })?;
        export.push(ExportSpan {
            table_id: *id,
            start: s,
            end: e,
            after: if new_span { Timestamp::MIN } else { start },
            excluded,
            primary_index: layouts.first().map_or(1, |l| u64::from(l.id)),
            from_zero: prev_chain.is_none() || new_span,
        });
    }
    // GC: reads at end need end after the threshold; history since `after` needs `after`
    // at or after it. With revision history a full backup starts at the threshold.
    let mut revision_start = Timestamp::MIN;
    for sp in &export {
        let threshold = kv.gc_threshold(&sp.start, &sp.end)?;
        if threshold != Timestamp::MIN && end <= threshold {
            return Err(vouch_cluster::Error::BelowGcThreshold {
                requested: end,
                threshold,
                span: format!("/Table/{}", sp.table_id),
            }
            .into());
        }
        if !sp.from_zero && sp.after < threshold {
            return Err(vouch_cluster::Error::BelowGcThreshold {
                requested: sp.after,
                threshold,
                span: format!("/Table/{}", sp.table_id),
            }
            .into());
        }
        revision_start = revision_start.max(threshold);
    }

    if !resumed {
        // The lock claims the directory. Anything already there (another job's lock, a
        // complete backup) belongs to someone else: refuse, as CockroachDB refuses a
        // destination holding another job's BACKUP-LOCK.
        let existing = if dir.is_empty() {
            store.list("")?
        } else {
            store.list(&format!("{dir}/"))?
        };
        if let Some(o) = existing.first() {
            return Err(if dir.is_empty() {
                Error::refused(
                    ErrorKind::DestinationNotEmpty,
                    format!(
                    "{} already holds objects ({} is there): a legacy BACKUP … TO needs an empty destination",
                    store.uri(),
                    o.path
                ),
                )
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
        if let Some(info) = &new_info {
            store.put_new(
                &target.path(layout::ENCRYPTION_INFO),
                &vouch_format::encryption_info::encode(info),
            )?;
        }
    }
    release_on_error.armed = false;

    // Export.
    let mut state = match &checkpoint {
        Some(cp) => ExportState::from_checkpoint(cp),
        None => ExportState::default(),
    };
    if resumed {
        // Objects of earlier runs that the resumed checkpoint does not describe (a data file
        // published just before a crash; newer checkpoints skipped because a file they list
        // is gone) keep their names: new objects are numbered after them.
        let (file, seq) = names_in_use(store, &dir, sealing.as_ref())?;
        state.next_file = state.next_file.max(file);
        state.checkpoints = state.checkpoints.max(seq);
    }
    let wopts = WriterOptions {
        block_size: opts.block_size,
        restart_interval: 16,
        compression: opts.compression,
        mvcc: true,
    };
    let ctx_all = ExportCtx {
        target: &target,
        wopts,
        target_size: opts.target_file_size,
        end,
        revision_history: opts.revision_history,
        faults: opts.faults,
        job_id: job.job_id,
        sealing: sealing.as_ref().map(|(k, b)| (*k, b.as_slice())),
    };
    progress(Progress::Start {
        total_bytes: estimate_bytes(cluster, &export)?,
    });
    for sp in &export {
        if sp.end.as_slice() <= state.resume_from.as_slice() {
            continue;
        }
        export_span(cluster, &ctx_all, sp, &mut state, progress)?;
    }

    // Fingerprints at end time, one per index of every table with data.
    let mut fingerprints = Vec::new();
    for d in resolved
        .descriptors
        .iter()
        .filter(|d| Kind::of(d) == Some(Kind::Table))
    {
        if schema::table(d).is_some_and(|t| t.exclude_data_from_backup) {
            continue;
        }
        for l in index_layouts(d)? {
            let fp = state
                .fingerprints
                .get(&(d.id, u64::from(l.id)))
                .copied()
                .unwrap_or_default();
            fingerprints.push(pb::TableFingerprint {
                table_id: d.id,
                index_id: u64::from(l.id),
                fingerprint: fp.hash,
                rows: fp.entries,
            });
        }
    }

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
    let m = pb::BackupManifest {
        format_version: manifest::MANIFEST_FORMAT_VERSION,
        writer_version: WRITER_VERSION.into(),
        backup_id: job.backup_id.clone(),
        chain_id: job.chain_id.clone(),
        start_time: Some(pb::Timestamp::from(start)),
        end_time: Some(pb::Timestamp::from(end)),
        mvcc_filter: if opts.revision_history {
            pb::MvccFilter::All as i32
        } else {
            pb::MvccFilter::Latest as i32
        },
        revision_start_time: if opts.revision_history && prev_chain.is_none() {
            Some(pb::Timestamp::from(revision_start))
        } else if opts.revision_history {
            Some(pb::Timestamp::from(start))
        } else {
            None
        },
        spans,
        introduced_spans: introduced,
        descriptors: resolved.descriptors.clone(),
        descriptor_changes: revisions,
        files: state.files.clone(),
        previous,
        fingerprints,
        localities: vec![],
        is_full_cluster: resolved.is_full_cluster,
        complete_database_ids: resolved.complete_database_ids.clone(),
        statement: opts.statement.clone(),
    };
    let plain = manifest::encode(&m);
    let bytes = match &sealing {
        None => plain,
        Some((k, backup_id)) => {
            // The listing first: a complete encrypted layer always has one.
            put_same(
                store,
                &target.path(layout::LISTING),
                &crypto::encode_listing(&manifest::listing_of(&m)),
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
    if opts.faults.before_manifest {
        return Err(Error::Injected("before writing BACKUP_MANIFEST".into()));
    }
    store.put_new(&target.path(layout::MANIFEST), &bytes)?;
    if prev_chain.is_none() && legacy.is_none() {
        if opts.faults.before_latest {
            return Err(Error::Injected("before writing LATEST".into()));
        }
        write_latest(coll.store.as_ref(), &dir, end)?;
    }
    // Success: release the job's protection and keep history since `end` for the chain.
    kv.protect(chain_record_id(&job.chain_id), end)?;
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
        notices: resolved.notices,
    })
}

/// Points LATEST at the full backup `dir` that ended at `end`: a new write-once marker, and
/// the plain `LATEST` if there is none yet.
fn write_latest(store: &dyn Store, dir: &str, end: Timestamp) -> Result<()> {
    let content = format!("/{dir}");
    put_if_absent(store, &layout::latest_marker(end), content.as_bytes())?;
    put_if_absent(store, layout::LATEST, content.as_bytes())
}

/// The protected-timestamp record of a chain.
pub fn chain_record_id(chain_id: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    for (i, x) in chain_id.iter().take(8).enumerate() {
        if let Some(s) = b.get_mut(i) {
            *s = *x;
        }
    }
    u64::from_be_bytes(b) | 1
}

fn put_if_absent(store: &dyn Store, path: &str, bytes: &[u8]) -> Result<()> {
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
fn put_same(store: &dyn Store, path: &str, bytes: &[u8]) -> Result<()> {
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

fn spec_text(opts: &BackupOptions, prev: Option<&Chain>) -> String {
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

type Unfinished = (
    pb::BackupJob,
    String,
    Option<pb::Checkpoint>,
    Option<ChainKey>,
);

/// What a lock records of the job's spec: the text itself, or for an encrypted chain an
/// HMAC of it under the chain key (the targets' names are not left in plaintext).
fn lock_spec(spec: &str, key: Option<&DataKey>) -> String {
    use hmac::{Hmac, Mac};
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
fn find_unfinished(
    coll: &Collection,
    prev: Option<&Chain>,
    spec: &str,
    source: &KeySource,
) -> Result<Option<Unfinished>> {
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
            let Ok(bytes) = store.get(lock) else { continue };
            let Ok(job) = decode_canonical::<pb::BackupJob>(&bytes, "backup lock") else {
                continue;
            };
            let Ok(key) = resume_key(store, &dir, prev, source) else {
                continue;
            };
            if job.spec != lock_spec(spec, key.as_deref()) {
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
                let Ok(b) = store.get(p) else { continue };
                let rel = p.strip_prefix(&format!("{dir}/")).unwrap_or(p);
                if let Some(cp) = decode_checkpoint(&b, rel, sealing.as_ref()) {
                    if cp.job_id == job.job_id && checkpoint_files_present(store, &dir, &cp) {
                        checkpoint = Some(cp);
                        break;
                    }
                }
            }
            return Ok(Some((job, dir, checkpoint, key)));
        }
    }
    Ok(None)
}

/// The highest data file number and checkpoint sequence number used in `dir`: by the
/// objects present, and by the newest checkpoint (which may list a file that is now gone).
fn names_in_use(
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
fn finish_unpublished(
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
    write_latest(coll.store.as_ref(), &dir, end)?;
    let kv = cluster.kv();
    kv.protect(chain_record_id(&job.chain_id), end)?;
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
    }))
}

fn checkpoint_files_present(store: &dyn Store, dir: &str, cp: &pb::Checkpoint) -> bool {
    cp.files
        .iter()
        .all(|f| matches!(store.size(&format!("{dir}/{}", f.path)), Ok(Some(n)) if n == f.size))
}

fn check_same_targets(chain: &Chain, resolved: &Resolved) -> Result<()> {
    let Some(first) = chain.layers.first() else {
        return Ok(());
    };
    let m = &first.manifest;
    // Tables (and views) named one by one must be exactly those of the full backup: with
    // fewer, this layer would silently miss the others' changes. `system.users` is in every
    // backup and does not count.
    let full_tables: BTreeSet<u64> = m
        .descriptors
        .iter()
        .filter(|d| matches!(Kind::of(d), Some(Kind::Table | Kind::View)))
        .map(|d| d.id)
        .filter(|id| *id != USERS_TABLE_ID)
        .collect();
    let tables: BTreeSet<u64> = resolved
        .table_ids
        .iter()
        .copied()
        .filter(|id| *id != USERS_TABLE_ID)
        .collect();
    // A cluster backup covers every database, also those created since the full backup;
    // databases named in another order are the same databases.
    let sorted = |ids: &[u64]| ids.iter().copied().collect::<BTreeSet<u64>>();
    let same = m.is_full_cluster == resolved.is_full_cluster
        && (m.is_full_cluster
            || sorted(&m.complete_database_ids) == sorted(&resolved.complete_database_ids))
        && (m.is_full_cluster || !m.complete_database_ids.is_empty() || tables == full_tables);
    if !same {
        return Err(Error::refused(ErrorKind::TargetsMismatch,
            "requested target(s) do not match the targets of the backup being extended; an incremental must back up the same targets as its full backup",
        ));
    }
    Ok(())
}

fn estimate_bytes(cluster: &Cluster, export: &[ExportSpan]) -> Result<u64> {
    // A cheap upper bound is not available from redb; the progress total is the number
    // of spans' bytes seen so far instead. Report 0 (unknown) when there is no data.
    let _ = (cluster, export);
    Ok(0)
}

#[derive(Default)]
struct ExportState {
    files: Vec<pb::File>,
    next_file: u64,
    resume_from: Vec<u8>,
    fingerprints: BTreeMap<(u64, u64), Fingerprint>,
    rows: u64,
    index_entries: u64,
    bytes: u64,
    checkpoints: u64,
}

impl ExportState {
    fn from_checkpoint(cp: &pb::Checkpoint) -> Self {
        ExportState {
            files: cp.files.clone(),
            next_file: cp.next_file,
            resume_from: cp.resume_from.clone(),
            fingerprints: cp
                .fingerprints
                .iter()
                .map(|f| {
                    (
                        (f.table_id, f.index_id),
                        Fingerprint {
                            hash: f.fingerprint,
                            entries: f.rows,
                        },
                    )
                })
                .collect(),
            rows: cp.rows,
            index_entries: cp.index_entries,
            bytes: cp.bytes,
            checkpoints: cp.sequence,
        }
    }

    fn checkpoint(&self, job_id: u64) -> pb::Checkpoint {
        pb::Checkpoint {
            job_id,
            files: self.files.clone(),
            resume_from: self.resume_from.clone(),
            next_file: self.next_file,
            fingerprints: self
                .fingerprints
                .iter()
                .map(|((t, i), f)| pb::TableFingerprint {
                    table_id: *t,
                    index_id: *i,
                    fingerprint: f.hash,
                    rows: f.entries,
                })
                .collect(),
            rows: self.rows,
            index_entries: self.index_entries,
            bytes: self.bytes,
            sequence: self.checkpoints,
        }
    }
}

struct ExportCtx<'a> {
    target: &'a Target<'a>,
    wopts: WriterOptions,
    target_size: u64,
    end: Timestamp,
    revision_history: bool,
    faults: Faults,
    job_id: u64,
    /// The chain key and this layer's backup id, for an encrypted layer.
    sealing: Option<(&'a DataKey, &'a [u8])>,
}

/// Where a data file's bytes go: straight to the hashing writer, or through the envelope.
enum DataOut {
    Plain(Hashing),
    Sealed(Box<vouch_format::envelope::SealWriter<Hashing>>),
}

impl Write for DataOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            DataOut::Plain(h) => h.write(buf),
            DataOut::Sealed(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            DataOut::Plain(h) => h.flush(),
            DataOut::Sealed(s) => s.flush(),
        }
    }
}

impl DataOut {
    fn finish(self) -> std::io::Result<Hashing> {
        match self {
            DataOut::Plain(h) => Ok(h),
            DataOut::Sealed(s) => s.finish(),
        }
    }
}

/// The data file being written.
struct OpenFile {
    writer: SstWriter<DataOut>,
    path: String,
    first_user_key: Vec<u8>,
    last_user_key: Vec<u8>,
    rows: u64,
    logical_bytes: u64,
    starts_span: bool,
}

fn export_span(
    cluster: &Cluster,
    cx: &ExportCtx<'_>,
    sp: &ExportSpan,
    st: &mut ExportState,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let from = if st.resume_from.as_slice() > sp.start.as_slice() {
        st.resume_from.clone()
    } else {
        sp.start.clone()
    };
    let mut file: Option<OpenFile> = None;
    // Per-key state: the key being processed and whether its newest version at or before
    // end was seen.
    let mut cur_key: Vec<u8> = Vec::new();
    let mut have_key = false;
    let mut seen_visible = false;
    let mut read = 0u64;
    let mut err: Option<Error> = None;
    let mut first_in_span = st.resume_from.as_slice() <= sp.start.as_slice();
    cluster
        .kv()
        .raw(&from, &sp.end, |k, v| {
            let (user, ts) = mvcc::decode_key(k)?;
            read += (k.len() + v.len()) as u64;
            if read >= 1 << 20 {
                progress(Progress::Read { bytes: read });
                read = 0;
            }
            if !have_key || user != cur_key {
                // A new user key: the previous key is fully processed, so a file may end here.
                if let Some(f) = &file {
                    if f.writer.estimated_size() >= cx.target_size {
                        let f = file.take();
                        if let Some(f) = f {
                            if let Err(e) = finish_file(cx, f, &user, sp, false, st, progress) {
                                err = Some(e);
                                return Err(vouch_cluster::Error::Usage("stopped".into()));
                            }
                        }
                    }
                }
                cur_key = user.clone();
                have_key = true;
                seen_visible = false;
            }
            if ts > cx.end {
                return Ok(());
            }
            let value = mvcc::decode_value(k, v)?;
            let newest_visible = !seen_visible;
            seen_visible = true;
            // Fingerprint: the newest version at or before end, when live.
            if newest_visible {
                if let mvcc::Value::Live(payload) = value {
                    let (table, index, n) = keys::decode_table_prefix(&user)?;
                    st.fingerprints
                        .entry((table, index))
                        .or_default()
                        .add_suffix(user.get(n..).unwrap_or_default(), payload);
                }
            }
            if sp.excluded {
                return Ok(());
            }
            let emit = if cx.revision_history {
                ts > sp.after
            } else if sp.from_zero {
                newest_visible && !value.is_tombstone()
            } else {
                newest_visible && ts > sp.after
            };
            if !emit {
                return Ok(());
            }
            if file.is_none() {
                match open_file(cx, st, &user, first_in_span) {
                    Ok(f) => file = Some(f),
                    Err(e) => {
                        err = Some(e);
                        return Err(vouch_cluster::Error::Usage("stopped".into()));
                    }
                }
                first_in_span = false;
            }
            if let Some(f) = &mut file {
                f.writer.add(k, v)?;
                f.last_user_key.clone_from(&user);
                let (_, index, _) = keys::decode_table_prefix(&user)?;
                if index == sp.primary_index {
                    st.rows += 1;
                    if newest_visible && !value.is_tombstone() {
                        f.rows += 1;
                    }
                } else {
                    st.index_entries += 1;
                }
                st.bytes += (k.len() + v.len()) as u64;
                f.logical_bytes += (k.len() + v.len()) as u64;
            }
            Ok(())
        })
        .map_err(|e| err.take().unwrap_or(Error::Cluster(e)))?;
    if read > 0 {
        progress(Progress::Read { bytes: read });
    }
    if let Some(f) = file {
        finish_file(cx, f, &sp.end, sp, true, st, progress)?;
    }
    Ok(())
}

fn open_file(
    cx: &ExportCtx<'_>,
    st: &mut ExportState,
    first: &[u8],
    starts_span: bool,
) -> Result<OpenFile> {
    st.next_file += 1;
    let path = layout::data_file(st.next_file);
    let inner = cx.target.store.create_new(&cx.target.path(&path))?;
    let hashing = Hashing {
        inner,
        sha: Sha256::new(),
        n: 0,
    };
    let out = match cx.sealing {
        None => DataOut::Plain(hashing),
        Some((k, backup_id)) => DataOut::Sealed(Box::new(ctx(
            vouch_format::envelope::SealWriter::new(
                k,
                vouch_format::envelope::FileId {
                    backup_id,
                    path: &path,
                },
                crypto::random_file_nonce(),
                hashing,
            ),
            path.clone(),
        )?)),
    };
    let writer = SstWriter::new(out, cx.wopts)?;
    Ok(OpenFile {
        writer,
        path,
        first_user_key: first.to_vec(),
        last_user_key: first.to_vec(),
        rows: 0,
        logical_bytes: 0,
        starts_span,
    })
}

/// Finishes a data file; `next` is the first key not in it (the resume point).
fn finish_file(
    cx: &ExportCtx<'_>,
    f: OpenFile,
    next: &[u8],
    sp: &ExportSpan,
    ends_span: bool,
    st: &mut ExportState,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let (w, summary) = f.writer.finish()?;
    let Hashing { inner, sha, n } = w
        .finish()
        .map_err(|e| Error::refused(ErrorKind::DataMismatch, format!("{}: {e}", f.path)))?;
    let size = inner.finish()?;
    if size != n {
        return Err(Error::refused(
            ErrorKind::DataMismatch,
            format!("{}: stored {size} bytes but wrote {n}", f.path),
        ));
    }
    let (min_ts, max_ts) = summary.ts_range.unwrap_or((Timestamp::MIN, Timestamp::MIN));
    let mut span_end = f.last_user_key.clone();
    span_end.push(0);
    st.files.push(pb::File {
        path: f.path,
        locality: String::new(),
        size,
        sha256: sha.finalize().to_vec(),
        span: Some(pb::Span {
            start: if f.starts_span {
                sp.start.clone()
            } else {
                f.first_user_key.clone()
            },
            end: if ends_span { sp.end.clone() } else { span_end },
        }),
        first_key: summary.smallest,
        last_key: summary.largest,
        entries: summary.entries,
        rows: f.rows,
        tombstones: summary.tombstones,
        min_ts: Some(pb::Timestamp::from(min_ts)),
        max_ts: Some(pb::Timestamp::from(max_ts)),
        logical_bytes: f.logical_bytes,
    });
    st.resume_from = next.to_vec();
    st.checkpoints += 1;
    let cp = st.checkpoint(cx.job_id).encode_to_vec();
    let rel = layout::checkpoint_name(st.checkpoints);
    let stored = match cx.sealing {
        None => cp,
        Some((k, backup_id)) => crypto::seal_small_file(k, backup_id, &rel, &cp)?,
    };
    cx.target.store.put_new(&cx.target.path(&rel), &stored)?;
    progress(Progress::File { size });
    if cx
        .faults
        .after_files
        .is_some_and(|n| st.files.len() as u64 >= n)
    {
        return Err(Error::Injected(format!(
            "after {} data files",
            st.files.len()
        )));
    }
    Ok(())
}

/// Descriptors of `cat` by id (for callers that need a catalog of a manifest).
pub fn catalog_of(m: &pb::BackupManifest) -> Catalog {
    Catalog::new(m.descriptors.iter().cloned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_cluster::workload::{self, Workload};
    use vouch_cluster::Clock;

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
        let msg = e.to_string();
        let (head, tail) = msg.split_once(" already holds objects (").unwrap();
        assert_eq!(head, "nodelocal://1/full", "{msg}");
        assert_eq!(e.kind(), ErrorKind::DestinationNotEmpty, "{e:?}");
        // The first object in name order is the earlier backup's lock.
        let lock = tail
            .strip_suffix(" is there): a legacy BACKUP … TO needs an empty destination")
            .unwrap();
        assert!(layout::parse_lock_name(lock).is_ok(), "{msg}");
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
        assert!(e.to_string().contains("BACKUP_MANIFEST"), "{e}");
    }
}
