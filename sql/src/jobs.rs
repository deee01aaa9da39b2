//! Jobs (spec/jobs.md): every BACKUP and RESTORE is a record in the cluster's
//! `system.jobs` ([`vouch_cluster::Kv::with_jobs`]; bytes:
//! `vouch_format::manifest::pb::JobRecord`). `SHOW JOBS`, `SHOW JOB id`,
//! `SHOW JOBS FOR SCHEDULE(S) …`, `PAUSE | RESUME | CANCEL JOB(S)` with CockroachDB's state
//! rules, `WITH detached` (the job is recorded pending and a runner — `vouch scheduler`,
//! [`run_pending`] — runs it), and the runner itself ([`run`]): a running backup looks at
//! its record after each data file's checkpoint and stops there when asked to pause or
//! cancel; a resumed job continues from that checkpoint.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use vouch_cluster::{Cluster, Jobs};
use vouch_engine::output::{self, Table};
use vouch_format::manifest::{decode_job, encode_job, pb, JOB_FORMAT_VERSION};
use vouch_format::time::format_sql_tz;

use crate::backup_stmt::{self, Scope};
use crate::grammar::{self, JobAction, JobIds, ScheduleIds, Statement};
use crate::{Error, Output, Result};

/// Why a job statement was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobErrorKind {
    /// No job with that id.
    NotFound,
    /// The job's status does not allow the change (a finished job cannot be paused, a
    /// canceled one cannot be resumed, …).
    BadStatus,
    /// The job was paused before it completed (a BACKUP or RESTORE run in the foreground).
    Paused,
    /// The job was canceled before it completed.
    Canceled,
    /// The job's secrets file cannot be written or read, is missing, or holds another
    /// statement than the job's.
    Secrets,
    /// `SHOW JOB(S) WHEN COMPLETE` on a paused job: it will not complete until it is
    /// resumed (CockroachDB keeps waiting; vouch says so instead).
    WaitPaused,
    /// `SHOW JOB(S) WHEN COMPLETE` on an unfinished run of a schedule: it completes when
    /// its schedule runs it again (`vouch scheduler`), not in this statement.
    WaitSchedule,
}

fn refused(kind: JobErrorKind, message: String) -> Error {
    Error::Job { kind, message }
}

/// A job's status (CockroachDB's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for a runner (`WITH detached`).
    Pending,
    /// Being run, or left running by a runner that stopped (a runner adopts it).
    Running,
    /// Paused; `RESUME JOB` makes it runnable again.
    Paused,
    /// Done.
    Succeeded,
    /// Ended with an error.
    Failed,
    /// Canceled.
    Canceled,
    /// Asked to pause while running: it pauses at its next checkpoint.
    PauseRequested,
    /// Asked to cancel while running: it stops at its next checkpoint.
    CancelRequested,
}

impl Status {
    /// The stored code (spec/jobs.md).
    pub fn code(self) -> u32 {
        match self {
            Status::Pending => 0,
            Status::Running => 1,
            Status::Paused => 2,
            Status::Succeeded => 3,
            Status::Failed => 4,
            Status::Canceled => 5,
            Status::PauseRequested => 6,
            Status::CancelRequested => 7,
        }
    }

    /// The status of a stored code (the decoder keeps codes in range).
    pub fn of(code: u32) -> Status {
        match code {
            0 => Status::Pending,
            1 => Status::Running,
            2 => Status::Paused,
            3 => Status::Succeeded,
            4 => Status::Failed,
            5 => Status::Canceled,
            6 => Status::PauseRequested,
            _ => Status::CancelRequested,
        }
    }

    /// CockroachDB's name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Canceled => "canceled",
            Status::PauseRequested => "pause-requested",
            Status::CancelRequested => "cancel-requested",
        }
    }

    /// Succeeded, failed or canceled: nothing changes it any more.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Canceled)
    }
}

/// The status of a record.
pub fn status(r: &pb::JobRecord) -> Status {
    Status::of(r.status)
}

/// BACKUP or RESTORE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobType {
    /// A BACKUP.
    Backup,
    /// A RESTORE.
    Restore,
}

impl JobType {
    fn code(self) -> u32 {
        match self {
            JobType::Backup => 0,
            JobType::Restore => 1,
        }
    }

    fn name(code: u32) -> &'static str {
        if code == 0 {
            "BACKUP"
        } else {
            "RESTORE"
        }
    }
}

// ---- records -----------------------------------------------------------------------------

fn decode(id: u64, b: &[u8]) -> Result<pb::JobRecord> {
    decode_job(b).map_err(|e| Error::Usage(format!("job {id}: stored record: {e}")))
}

fn not_found(id: u64) -> Error {
    refused(
        JobErrorKind::NotFound,
        format!("job with ID {id} does not exist"),
    )
}

fn load(j: &Jobs<'_>, id: u64) -> Result<pb::JobRecord> {
    match j.get(id)? {
        Some(b) => decode(id, &b),
        None => Err(not_found(id)),
    }
}

/// Writes a record, as this writer's version (a version-1 record read is rewritten as
/// version 2: the same fields and none of version 2's set).
fn store(j: &mut Jobs<'_>, r: &pb::JobRecord) -> Result<()> {
    if r.format_version == JOB_FORMAT_VERSION {
        j.put(r.id, &encode_job(r))?;
    } else {
        let r = pb::JobRecord {
            format_version: JOB_FORMAT_VERSION,
            ..r.clone()
        };
        j.put(r.id, &encode_job(&r))?;
    }
    Ok(())
}

/// Every job, by id.
pub fn list(cluster: &Cluster) -> Result<Vec<pb::JobRecord>> {
    cluster
        .kv()
        .jobs()?
        .iter()
        .map(|(id, b)| decode(*id, b))
        .collect()
}

/// One job.
pub fn get(cluster: &Cluster, id: u64) -> Result<pb::JobRecord> {
    cluster.kv().with_jobs(|j| load(j, id))
}

/// What a new job is.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// BACKUP or RESTORE.
    pub job_type: JobType,
    /// The statement a runner executes (secrets included).
    pub execute: String,
    /// The session's database.
    pub database: Option<String>,
    /// AS OF SYSTEM TIME fixed at creation (decimal HLC text), if any.
    pub as_of: Option<String>,
    /// The schedule that started it (0: none).
    pub schedule_id: u64,
    /// Pending (detached) or running (run now by the caller).
    pub status: Status,
    /// The protected timestamp record a schedule's run sets when it succeeds.
    pub protect_record: Option<u64>,
    /// A RESTORE job started at its creation (a detached RESTORE): its checkpoint, ids
    /// allocated and preconditions checked ([`vouch_engine::restore::plan_job`]).
    pub restore_checkpoint: Option<pb::RestoreCheckpoint>,
}

/// Records a new job (its id: [`vouch_engine::new_job_id`]) and returns it.
pub fn create(cluster: &Cluster, new: NewJob) -> Result<pb::JobRecord> {
    let now = cluster.now().wall;
    let running = new.status == Status::Running;
    let id = vouch_engine::new_job_id();
    // The record keeps the statement redacted; its secrets go to the job's secrets file
    // (written first: a record never names a statement it cannot run).
    let shown = grammar::redact(&new.execute);
    if shown != new.execute {
        crate::secrets::write(cluster, SECRETS_DIR, id, &new.execute, &|w, e| {
            secrets_error(id, w, e)
        })?;
    }
    let r = pb::JobRecord {
        format_version: JOB_FORMAT_VERSION,
        id,
        job_type: new.job_type.code(),
        description: shown.clone(),
        user_name: "root".into(),
        status: new.status.code(),
        created: now,
        started: if running { now } else { 0 },
        finished: 0,
        modified: now,
        fraction_millionths: 0,
        error: String::new(),
        schedule_id: new.schedule_id,
        execute: shown,
        database: new.database.unwrap_or_default(),
        as_of: new.as_of.unwrap_or_default(),
        protect_record: new.protect_record.unwrap_or(0),
        coordinator_id: 0,
        restore_checkpoint: new.restore_checkpoint,
    };
    cluster.kv().with_jobs(|j| store(j, &r))?;
    Ok(r)
}

// ---- PAUSE / RESUME / CANCEL ---------------------------------------------------------------

/// Applies PAUSE, RESUME or CANCEL to one job with CockroachDB's state rules: pausing a
/// paused (or pause-requested) job, resuming a running one and canceling a canceled (or
/// cancel-requested) one change nothing; a pending or paused job that is canceled, and a
/// pending one that is paused, change at once (nothing runs them); a running one is asked
/// (pause-requested / cancel-requested) and its runner stops it at its next checkpoint.
pub fn control(cluster: &Cluster, action: JobAction, id: u64) -> Result<Status> {
    let now = cluster.now().wall;
    let r = cluster.kv().with_jobs(|j| {
        let mut r = load(j, id)?;
        let s = status(&r);
        let to = match action {
            JobAction::Pause => match s {
                Status::Paused | Status::PauseRequested => s,
                Status::Pending => Status::Paused,
                Status::Running => Status::PauseRequested,
                _ => {
                    return Err(refused(
                        JobErrorKind::BadStatus,
                        format!(
                            "job with status {} cannot be requested to be paused",
                            s.name()
                        ),
                    ))
                }
            },
            JobAction::Resume => match s {
                Status::Running => s,
                Status::Paused => Status::Running,
                _ => {
                    return Err(refused(
                        JobErrorKind::BadStatus,
                        format!("job with status {} cannot be resumed", s.name()),
                    ))
                }
            },
            JobAction::Cancel => match s {
                Status::Canceled | Status::CancelRequested => s,
                Status::Pending | Status::Paused => Status::Canceled,
                Status::Running | Status::PauseRequested => Status::CancelRequested,
                _ => {
                    return Err(refused(
                        JobErrorKind::BadStatus,
                        format!(
                            "job with status {} cannot be requested to be canceled",
                            s.name()
                        ),
                    ))
                }
            },
        };
        if to != s {
            r.status = to.code();
            r.modified = now;
            if to == Status::Canceled {
                canceled(&mut r, now);
            }
            store(j, &r)?;
        }
        Ok::<_, Error>(r)
    })?;
    settled(cluster, &r)?;
    Ok(status(&r))
}

/// A canceled job's record: final, its statement (and its secrets) gone.
fn canceled(r: &mut pb::JobRecord, now: u64) {
    r.status = Status::Canceled.code();
    r.finished = now;
    r.modified = now;
    r.error = "job canceled by user".into();
    r.execute.clear();
}

/// What a job that reached a final status leaves behind: its secrets file is deleted,
/// and a canceled backup holds no data back from GC any more (its protected timestamp
/// record, held for a resumed run, is released).
fn settled(cluster: &Cluster, r: &pb::JobRecord) -> Result<()> {
    let s = status(r);
    if !s.is_final() {
        return Ok(());
    }
    crate::secrets::remove(cluster, SECRETS_DIR, r.id, &|w, e| {
        secrets_error(r.id, w, e)
    })?;
    if s == Status::Canceled && r.job_type == JobType::Backup.code() {
        cluster.kv().release(r.id)?;
    }
    // A canceled or failed restore leaves no half-restored table: the rows it wrote
    // under its objects' ids (never published) are deleted.
    if matches!(s, Status::Canceled | Status::Failed) {
        if let Some(ck) = &r.restore_checkpoint {
            vouch_engine::restore::discard(cluster, ck)?;
        }
    }
    Ok(())
}

/// The folder of the cluster directory holding the secrets files of jobs whose
/// statements have secrets, while they are not final ([`crate::secrets`]).
pub const SECRETS_DIR: &str = "job-secrets";

fn secrets_error(id: u64, what: &str, e: impl std::fmt::Display) -> Error {
    refused(JobErrorKind::Secrets, format!("job {id}: {what}: {e}"))
}

// ---- running a job -------------------------------------------------------------------------

/// How a run of a job ended.
#[derive(Debug)]
pub enum Outcome {
    /// Succeeded: the result rows (BACKUP's or RESTORE's) and, for a backup, the layer's
    /// directory.
    Succeeded {
        /// The statement's result.
        table: Table,
        /// The backup layer's directory (empty for a restore).
        path: String,
    },
    /// Failed with this error (the record says `failed`).
    Failed(Error),
    /// Paused at a checkpoint (PAUSE JOB).
    Paused,
    /// Canceled at a checkpoint (CANCEL JOB), or before it started.
    Canceled,
    /// Stopped at a checkpoint because the runner was asked to stop: the job stays
    /// `running` and the next runner resumes it from there.
    Stopped,
    /// Not run: its status is not pending or running (paused, finished).
    NotRunnable(Status),
}

/// Applies the request another process left for job `id` (`vouch jobs pause|cancel`
/// while the cluster was in use; [`vouch_cluster::request_job`]) with the rules of
/// [`control`]; a request the job's status makes moot (it finished meanwhile), or for a
/// job that does not exist, is dropped.
pub fn apply_request(cluster: &Cluster, id: u64) -> Result<()> {
    let action = match vouch_cluster::take_job_request(cluster.dir(), id)
        .map_err(|e| Error::Usage(format!("job {id}: reading its request: {e}")))?
    {
        Some(vouch_cluster::JobRequest::Pause) => JobAction::Pause,
        Some(vouch_cluster::JobRequest::Cancel) => JobAction::Cancel,
        None => return Ok(()),
    };
    match control(cluster, action, id) {
        Ok(_) => Ok(()),
        Err(Error::Job {
            kind: JobErrorKind::BadStatus | JobErrorKind::NotFound,
            ..
        }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Marks a job as running (adopting a pending job, or a running one left by a runner
/// that stopped); a job asked to pause or cancel with no runner is paused or canceled.
fn begin(cluster: &Cluster, id: u64) -> Result<std::result::Result<pb::JobRecord, Status>> {
    let now = cluster.now().wall;
    let r = cluster.kv().with_jobs(|j| {
        let mut r = load(j, id)?;
        let s = status(&r);
        let out = match s {
            Status::Pending | Status::Running => {
                r.status = Status::Running.code();
                if r.started == 0 {
                    r.started = now;
                }
                r.modified = now;
                Ok(r.clone())
            }
            Status::PauseRequested => {
                r.status = Status::Paused.code();
                r.modified = now;
                Err(Status::Paused)
            }
            Status::CancelRequested => {
                canceled(&mut r, now);
                Err(Status::Canceled)
            }
            s => return Ok::<_, Error>((Err(s), None)),
        };
        store(j, &r)?;
        Ok((out, Some(r)))
    })?;
    if let Some(rec) = &r.1 {
        settled(cluster, rec)?;
    }
    Ok(r.0)
}

/// Records how a run ended; returns the status recorded.
fn end(cluster: &Cluster, id: u64, ok: Option<&str>, stopped: bool) -> Result<Status> {
    let now = cluster.now().wall;
    let r = cluster.kv().with_jobs(|j| {
        let mut r = load(j, id)?;
        let s = status(&r);
        r.modified = now;
        if stopped {
            match s {
                Status::PauseRequested => r.status = Status::Paused.code(),
                Status::CancelRequested => canceled(&mut r, now),
                // The runner was asked to stop: left running for the next one.
                _ => {}
            }
        } else {
            match ok {
                None => {
                    r.status = Status::Succeeded.code();
                    r.fraction_millionths = 1_000_000;
                    r.error.clear();
                }
                Some(e) => {
                    r.status = Status::Failed.code();
                    r.error = e.to_string();
                }
            }
            r.finished = now;
            r.execute.clear();
        }
        store(j, &r)?;
        Ok::<_, Error>(r)
    })?;
    settled(cluster, &r)?;
    Ok(status(&r))
}

/// Runs job `id` if it is pending or running (see [`Outcome`]). `stop` asks the runner to
/// stop (a backup stops after its next data file's checkpoint and stays `running`).
pub fn run(cluster: &Cluster, id: u64, stop: Option<&Arc<AtomicBool>>) -> Result<Outcome> {
    run_observed(cluster, id, stop, &mut |_| {})
}

/// [`run`], calling `on_file(n)` after the backup's `n`-th data file of this run was
/// checkpointed, before the job's record is looked at (a PAUSE or CANCEL given there
/// takes effect at this checkpoint).
pub fn run_observed(
    cluster: &Cluster,
    id: u64,
    stop: Option<&Arc<AtomicBool>>,
    on_file: &mut dyn FnMut(u64),
) -> Result<Outcome> {
    apply_request(cluster, id)?;
    let r = match begin(cluster, id)? {
        Ok(r) => r,
        Err(Status::Paused) => return Ok(Outcome::Paused),
        Err(Status::Canceled) => return Ok(Outcome::Canceled),
        Err(s) => return Ok(Outcome::NotRunnable(s)),
    };
    let result = execute_record(cluster, &r, stop, on_file);
    Ok(match ended(cluster, id, result)? {
        Ok((table, path)) => Outcome::Succeeded { table, path },
        Err(o) => o,
    })
}

/// Records how a run of job `id` ended (its `result`): what it returned, or how it ended
/// if it did not succeed.
fn ended<T>(
    cluster: &Cluster,
    id: u64,
    result: Result<T>,
) -> Result<std::result::Result<T, Outcome>> {
    let stopped =
        matches!(&result, Err(Error::Engine(e)) if e.kind() == vouch_engine::ErrorKind::Stopped);
    let err_text = match &result {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    };
    let st = end(cluster, id, err_text.as_deref(), stopped)?;
    Ok(match (result, st) {
        (Ok(v), _) => Ok(v),
        (Err(_), Status::Paused) => Err(Outcome::Paused),
        (Err(_), Status::Canceled) => Err(Outcome::Canceled),
        (Err(_), _) if stopped => Err(Outcome::Stopped),
        (Err(e), _) => Err(Outcome::Failed(e)),
    })
}

/// Records `vouch restore`'s job (its keys come from flags and files): `running`, its
/// description `text` (redacted), `execute`, the RESTORE statement a runner runs to finish
/// it if it is paused or its process ends first (its secrets, if any, in the job's
/// secrets file, §5; `None`: no runner can, as for [`record_foreground`]), and `as_of`,
/// its AS OF SYSTEM TIME fixed (decimal). [`run_restore`] runs it.
pub fn record_restore(
    cluster: &Cluster,
    text: &str,
    execute: Option<&str>,
    as_of: Option<String>,
) -> Result<u64> {
    // Its first run, in this process, starts it (preconditions, ids): no checkpoint yet.
    record_running(
        cluster,
        JobType::Restore,
        text,
        execute.unwrap_or_default().to_string(),
        as_of,
    )
}

/// Runs the job of [`record_restore`] in this process with the options its caller built
/// (`vouch restore`: keys from flags and files, its workers), as a runner runs a RESTORE
/// job: checkpoints recorded, pause and cancel requests (`vouch jobs pause|cancel ID`
/// from another process) carried out at the next checkpoint. Returns the result, or how
/// the job ended if it did not succeed (paused: a runner finishes it once resumed).
pub fn run_restore(
    cluster: &Cluster,
    id: u64,
    opts: &vouch_chain::RestoreOptions,
    progress: &mut dyn FnMut(vouch_engine::restore::Progress),
) -> Result<std::result::Result<vouch_engine::restore::RestoreResult, Outcome>> {
    apply_request(cluster, id)?;
    let r = match begin(cluster, id)? {
        Ok(r) => r,
        Err(Status::Paused) => return Ok(Err(Outcome::Paused)),
        Err(Status::Canceled) => return Ok(Err(Outcome::Canceled)),
        Err(s) => return Ok(Err(Outcome::NotRunnable(s))),
    };
    let result = restore_as_job(cluster, &r, opts, None, &mut |_| {}, progress);
    ended(cluster, id, result)
}

/// Whether job `id`'s record asks it to pause or cancel (a record that cannot be read
/// asks nothing: the job's next write meets the error).
fn asked_to_stop(cluster: &Cluster, id: u64) -> bool {
    cluster
        .kv()
        .with_jobs(|j| Ok::<_, Error>(j.get(id)?))
        .ok()
        .flatten()
        .and_then(|b| decode_job(&b).ok())
        .is_some_and(|rec| {
            matches!(
                status(&rec),
                Status::PauseRequested | Status::CancelRequested
            )
        })
}

/// Records a restore job's checkpoint in its record, with the fraction of its tables
/// done (below 1 until the job succeeds).
fn record_restore_checkpoint(
    cluster: &Cluster,
    id: u64,
    ck: &pb::RestoreCheckpoint,
) -> vouch_engine::Result<()> {
    cluster.kv().with_jobs(|j| -> vouch_engine::Result<()> {
        let Some(b) = j.get(id)? else {
            return Err(vouch_engine::Error::refused(
                vouch_engine::ErrorKind::Usage,
                format!("job {id}: its record is gone"),
            ));
        };
        let mut cur = decode_job(&b).map_err(|source| vouch_engine::Error::Format {
            context: format!("job {id}: stored record"),
            source,
        })?;
        let done = ck.done.len() as u64;
        cur.fraction_millionths = (done.min(ck.tables) * 1_000_000)
            .checked_div(ck.tables)
            .and_then(|f| u32::try_from(f).ok())
            .unwrap_or(0)
            .min(999_999);
        cur.restore_checkpoint = Some(ck.clone());
        cur.format_version = JOB_FORMAT_VERSION;
        j.put(id, &encode_job(&cur))?;
        Ok(())
    })
}

/// Runs the statement of a job record: a backup checks the record after each data file's
/// checkpoint, a restore after each table's, and stops there when the job was asked to
/// pause or cancel, or `stop` is set.
fn execute_record(
    cluster: &Cluster,
    r: &pb::JobRecord,
    stop: Option<&Arc<AtomicBool>>,
    on_file: &mut dyn FnMut(u64),
) -> Result<(Table, String)> {
    if r.execute.is_empty() {
        // A foreground job ([`record_foreground`]) whose process ended before it did.
        return Err(Error::Usage(format!(
            "job {}: the `vouch backup` or `vouch restore` process running it stopped before it finished; run that command again (a backup resumes from its checkpoint)",
            r.id
        )));
    }
    let text = crate::secrets::runnable(cluster, SECRETS_DIR, r.id, "job", &r.execute, &|w, e| {
        secrets_error(r.id, w, e)
    })?;
    let st = grammar::parse(&text)?;
    let scope = Scope {
        database: (!r.database.is_empty()).then_some(r.database.as_str()),
        cluster: Some(cluster),
    };
    let fixed = (!r.as_of.is_empty()).then_some(r.as_of.as_str());
    match &st {
        Statement::Backup {
            targets,
            dest,
            as_of,
            options,
        } => {
            let mut opts = backup_stmt::backup_options(
                &scope,
                targets,
                dest,
                fixed.or(as_of.as_deref()),
                options,
                &text,
            )?;
            opts.job_id = Some(r.id);
            record_coordinator(cluster, r.id, opts.execution_locality.as_deref())?;
            opts.protect_record = (r.protect_record != 0).then_some(r.protect_record);
            opts.resume_own_only = true;
            let flag = Arc::new(AtomicBool::new(false));
            opts.stop = Some(flag.clone());
            let kv = cluster.kv();
            let id = r.id;
            let outside = stop.cloned();
            let mut files = 0u64;
            let asked = || asked_to_stop(cluster, id);
            let mut check = |p: vouch_engine::backup::Progress| {
                // The runner asked to stop: seen at any progress event, carried out by the
                // engine at its next checkpoint.
                if outside.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
                    flag.store(true, Ordering::SeqCst);
                }
                // A request left by another process (one stat per event). Applying it
                // can only fail on the cluster's own errors, which the job's next write
                // meets again; a request that cannot be read is tried at the next event.
                if vouch_cluster::has_job_request(cluster.dir(), id)
                    && apply_request(cluster, id).is_ok()
                    && asked()
                {
                    flag.store(true, Ordering::SeqCst);
                }
                // The fraction completed: the spans exported (the record says 1 only
                // once the job succeeded). Best effort: a failed write leaves the last one.
                if let vouch_engine::backup::Progress::Spans { done, total } = p {
                    if let Some(f) = (done.min(total) * 1_000_000).checked_div(total) {
                        let f = u32::try_from(f).unwrap_or(0).min(999_999);
                        let _ = kv.with_jobs(|j| {
                            let mut cur = load(j, id)?;
                            cur.fraction_millionths = f;
                            store(j, &cur)
                        });
                    }
                }
                if let vouch_engine::backup::Progress::File { .. } = p {
                    files += 1;
                    on_file(files);
                    if asked() {
                        flag.store(true, Ordering::SeqCst);
                    }
                }
            };
            let mut res = vouch_engine::backup::backup(cluster, &opts, &mut check)?;
            res.job_id = r.id;
            Ok((output::backup_result(&res), res.path))
        }
        Statement::Restore {
            targets,
            from,
            as_of,
            options,
        } => {
            let opts = backup_stmt::restore_options(
                &scope,
                targets,
                from,
                fixed.or(as_of.as_deref()),
                options,
            )?;
            let res = restore_as_job(cluster, r, &opts, stop, on_file, &mut |_| {})?;
            Ok((output::restore_result(&res), String::new()))
        }
        _ => Err(Error::Usage(format!(
            "job {}: its statement is not a BACKUP or RESTORE",
            r.id
        ))),
    }
}

/// Runs the RESTORE of job record `r` with `opts`: its checkpoints recorded in the record,
/// the runner's `stop` and the job's pause and cancel requests (its record, or another
/// process's request file) carried out at the next checkpoint, `progress` told each event.
fn restore_as_job(
    cluster: &Cluster,
    r: &pb::JobRecord,
    opts: &vouch_chain::RestoreOptions,
    stop: Option<&Arc<AtomicBool>>,
    on_file: &mut dyn FnMut(u64),
    progress: &mut dyn FnMut(vouch_engine::restore::Progress),
) -> Result<vouch_engine::restore::RestoreResult> {
    record_coordinator(cluster, r.id, opts.execution_locality.as_deref())?;
    let flag = Arc::new(AtomicBool::new(false));
    let id = r.id;
    // The runner asked to stop, or a request another process left: seen at each
    // checkpoint and progress event, carried out at the next checkpoint.
    let poll = || {
        if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            flag.store(true, Ordering::SeqCst);
        }
        if vouch_cluster::has_job_request(cluster.dir(), id)
            && apply_request(cluster, id).is_ok()
            && asked_to_stop(cluster, id)
        {
            flag.store(true, Ordering::SeqCst);
        }
    };
    // The first checkpoint of a run holds the tables earlier runs did; `on_file`
    // counts this run's.
    let mut base: Option<u64> = None;
    let mut checkpoint = |ck: &pb::RestoreCheckpoint| -> vouch_engine::Result<()> {
        record_restore_checkpoint(cluster, id, ck)?;
        let done = ck.done.len() as u64;
        match base {
            None => base = Some(done),
            Some(b) => on_file(done.saturating_sub(b)),
        }
        poll();
        if asked_to_stop(cluster, id) {
            flag.store(true, Ordering::SeqCst);
        }
        Ok(())
    };
    let mut job = vouch_engine::restore::RestoreJob {
        resume: r.restore_checkpoint.clone(),
        checkpoint: Some(&mut checkpoint),
        stop: Some(flag.clone()),
        ..Default::default()
    };
    let mut res = vouch_engine::restore::restore_job(cluster, opts, &mut job, &mut |p| {
        if let vouch_engine::restore::Progress::Read { .. } = p {
            poll();
        }
        progress(p);
    })?;
    res.job_id = r.id;
    Ok(res)
}

/// Records the node coordinating job `id` (SHOW JOBS' `coordinator_id`): the one the
/// engine picks for `locality` (`WITH EXECUTION LOCALITY`). A filter no node matches
/// records nothing: the engine refuses the job with CockroachDB's error.
fn record_coordinator(cluster: &Cluster, id: u64, locality: Option<&str>) -> Result<()> {
    match vouch_engine::coordinator(cluster, locality) {
        Ok(node) => set_coordinator(cluster, id, node),
        Err(_) => Ok(()),
    }
}

/// Records `node` as the coordinator of job `id` (`vouch backup` / `vouch restore` record
/// their result's `coordinator`).
pub fn set_coordinator(cluster: &Cluster, id: u64, node: u32) -> Result<()> {
    cluster.kv().with_jobs(|j| {
        let mut cur = load(j, id)?;
        if cur.coordinator_id != node {
            cur.coordinator_id = node;
            store(j, &cur)?;
        }
        Ok(())
    })
}

/// Runs a BACKUP or RESTORE statement as a job: `WITH detached` records it pending and
/// returns its id at once; otherwise it is recorded running, run, and its result
/// returned (an error if it failed, was paused or was canceled meanwhile).
pub fn execute_statement(
    cluster: &Cluster,
    database: Option<&str>,
    job_type: JobType,
    text: &str,
    detached: bool,
    as_of: Option<String>,
    restore_checkpoint: Option<pb::RestoreCheckpoint>,
) -> Result<Output> {
    let r = create(
        cluster,
        NewJob {
            job_type,
            execute: text.to_string(),
            database: database.map(String::from),
            as_of,
            schedule_id: 0,
            protect_record: None,
            status: if detached {
                Status::Pending
            } else {
                Status::Running
            },
            restore_checkpoint,
        },
    )?;
    if detached {
        return Ok(Output::Rows(output::detached(r.id)));
    }
    match run(cluster, r.id, None)? {
        Outcome::Succeeded { table, .. } => Ok(Output::Rows(table)),
        Outcome::Failed(e) => Err(e),
        Outcome::Paused => Err(refused(
            JobErrorKind::Paused,
            format!("job {} was paused before it completed", r.id),
        )),
        Outcome::Canceled => Err(refused(
            JobErrorKind::Canceled,
            format!("job {}: job canceled by user", r.id),
        )),
        Outcome::Stopped | Outcome::NotRunnable(_) => Err(Error::Usage(format!(
            "job {} did not complete: see SHOW JOB {}",
            r.id, r.id
        ))),
    }
}

/// Records a BACKUP or RESTORE that its caller runs itself in the foreground (`vouch
/// backup` / `vouch restore`, whose keys come from flags and files): a `running` job with
/// its description (`text`, redacted here) and no statement a runner could run again.
/// [`finish_foreground`] records how it ended.
pub fn record_foreground(cluster: &Cluster, job_type: JobType, text: &str) -> Result<u64> {
    record_running(cluster, job_type, text, String::new(), None)
}

/// Records a `running` job of this process: its description (`text`, redacted here), the
/// statement a runner would run to finish it (`execute`, empty: none) and its AS OF.
fn record_running(
    cluster: &Cluster,
    job_type: JobType,
    text: &str,
    execute: String,
    as_of: Option<String>,
) -> Result<u64> {
    let r = create(
        cluster,
        NewJob {
            job_type,
            execute,
            database: None,
            as_of,
            schedule_id: 0,
            status: Status::Running,
            protect_record: None,
            restore_checkpoint: None,
        },
    )?;
    let description = grammar::redact(text);
    cluster.kv().with_jobs(|j| {
        let mut cur = load(j, r.id)?;
        cur.description = description;
        store(j, &cur)
    })?;
    Ok(r.id)
}

/// Records the end of a job of [`record_foreground`]: succeeded, or failed with `error`.
/// `ran_as` is the id the engine's job ran under, when it differs from `id` (a backup
/// that resumed the lock of an earlier run): the job is then that id's — the earlier
/// run's record, if there is one, is the one finished, and this run's record is merged
/// into it. Returns the job's id.
pub fn finish_foreground(
    cluster: &Cluster,
    id: u64,
    ran_as: Option<u64>,
    error: Option<&str>,
) -> Result<u64> {
    let id = match ran_as {
        Some(other) if other != id => {
            cluster.kv().with_jobs(|j| {
                let mine = load(j, id)?;
                j.remove(id)?;
                if j.get(other)?.is_none() {
                    let moved = pb::JobRecord { id: other, ..mine };
                    store(j, &moved)?;
                }
                Ok::<_, Error>(())
            })?;
            other
        }
        _ => id,
    };
    end(cluster, id, error, false)?;
    Ok(id)
}

/// What a runner did with one job.
#[derive(Debug)]
pub struct JobRun {
    /// The job.
    pub id: u64,
    /// `BACKUP` or `RESTORE`.
    pub job_type: &'static str,
    /// How it ended.
    pub outcome: Outcome,
}

/// Runs every job waiting for a runner, oldest first: pending ones, running ones a runner
/// left (stopped or killed), and those asked to pause or cancel with no runner (paused or
/// canceled now). Jobs of schedules are run by their schedule ([`crate::schedule`]).
/// Once `stop` is set no job starts, and a running backup stops at its next checkpoint.
pub fn run_pending(
    cluster: &Cluster,
    stop: Option<&Arc<AtomicBool>>,
    each: &mut dyn FnMut(&JobRun),
) -> Result<Vec<JobRun>> {
    // Requests left while no runner saw them.
    let waiting = vouch_cluster::job_requests(cluster.dir())
        .map_err(|e| Error::Usage(format!("reading the job requests: {e}")))?;
    for id in waiting {
        apply_request(cluster, id)?;
    }
    let mut todo: Vec<pb::JobRecord> = list(cluster)?
        .into_iter()
        .filter(|r| {
            r.schedule_id == 0
                && matches!(
                    status(r),
                    Status::Pending
                        | Status::Running
                        | Status::PauseRequested
                        | Status::CancelRequested
                )
        })
        .collect();
    todo.sort_by_key(|r| (r.created, r.id));
    let mut runs = Vec::new();
    for r in todo {
        if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            break;
        }
        let outcome = run(cluster, r.id, stop)?;
        let run = JobRun {
            id: r.id,
            job_type: JobType::name(r.job_type),
            outcome,
        };
        each(&run);
        runs.push(run);
    }
    Ok(runs)
}

/// The job of a schedule's run: the unfinished job of the same run (same statement, so
/// the same AS OF time) that a stopped run left, so the run resumes as that job; else a
/// new running one. Unfinished jobs of other runs of the schedule (runs it gave up:
/// `on_previous_running`) are canceled.
pub fn for_schedule_run(
    cluster: &Cluster,
    schedule_id: u64,
    execute: &str,
    protect_record: Option<u64>,
) -> Result<u64> {
    let unfinished: Vec<pb::JobRecord> = list(cluster)?
        .into_iter()
        .filter(|r| r.schedule_id == schedule_id && !status(r).is_final())
        .collect();
    let shown = grammar::redact(execute);
    let mut same = None;
    for r in unfinished {
        if r.execute == shown && same.is_none() {
            same = Some(r.id);
            continue;
        }
        let now = cluster.now().wall;
        let gone = cluster.kv().with_jobs(|j| {
            let mut cur = load(j, r.id)?;
            if status(&cur).is_final() {
                return Ok::<_, Error>(None);
            }
            canceled(&mut cur, now);
            cur.error = "canceled: its schedule gave this run up".into();
            store(j, &cur)?;
            Ok(Some(cur))
        })?;
        if let Some(g) = gone {
            settled(cluster, &g)?;
        }
    }
    if let Some(id) = same {
        return Ok(id);
    }
    Ok(create(
        cluster,
        NewJob {
            job_type: JobType::Backup,
            execute: execute.to_string(),
            database: None,
            as_of: None,
            schedule_id,
            status: Status::Running,
            protect_record,
            restore_checkpoint: None,
        },
    )?
    .id)
}

// ---- SHOW JOBS -----------------------------------------------------------------------------

fn time_cell(wall: u64) -> Option<String> {
    (wall != 0).then(|| format_sql_tz(vouch_format::mvcc::Timestamp::new(wall, 0)))
}

/// CockroachDB's SHOW JOBS columns.
pub fn show_table(rows: &[pb::JobRecord]) -> Table {
    let mut t = Table::new(&[
        "job_id#",
        "job_type",
        "description",
        "statement",
        "user_name",
        "status",
        "running_status",
        "created",
        "started",
        "finished",
        "modified",
        "fraction_completed#",
        "error",
        "coordinator_id#",
        "trace_id#",
        "last_run",
        "next_run",
        "num_runs#",
        "execution_errors",
    ]);
    for r in rows {
        let f = r.fraction_millionths;
        t.rows.push(vec![
            Some(r.id.to_string()),
            Some(JobType::name(r.job_type).into()),
            Some(r.description.clone()),
            Some(r.description.clone()),
            Some(r.user_name.clone()),
            Some(status(r).name().into()),
            None,
            time_cell(r.created),
            time_cell(r.started),
            time_cell(r.finished),
            time_cell(r.modified),
            Some(if f % 10_000 == 0 {
                format!("{}", f as f64 / 1e6)
            } else {
                format!("{:.6}", f as f64 / 1e6)
            }),
            Some(r.error.clone()),
            (r.coordinator_id != 0).then(|| r.coordinator_id.to_string()),
            Some("0".into()),
            time_cell(r.started),
            None,
            Some(u64::from(r.started != 0).to_string()),
            None,
        ]);
    }
    t
}

fn select(cluster: &Cluster, ids: &JobIds) -> Result<Vec<pb::JobRecord>> {
    Ok(match ids {
        JobIds::All => list(cluster)?,
        JobIds::One(id) => vec![get(cluster, *id)?],
        JobIds::Where(conds) => list(cluster)?
            .into_iter()
            .filter(|r| {
                conds.iter().all(|(col, v)| match col.as_str() {
                    "status" => status(r).name() == v,
                    "job_type" => JobType::name(r.job_type) == v,
                    "user_name" => &r.user_name == v,
                    "description" | "statement" => &r.description == v,
                    _ => r.id.to_string() == *v,
                })
            })
            .collect(),
        JobIds::ForSchedules(s) => {
            let schedules: Vec<u64> = match s {
                ScheduleIds::One(id) => vec![*id],
                ScheduleIds::WithLabel(label) => crate::schedule::list(cluster)?
                    .into_iter()
                    .filter(|r| label.as_ref().is_none_or(|l| &r.label == l))
                    .map(|r| r.id)
                    .collect(),
            };
            list(cluster)?
                .into_iter()
                .filter(|r| r.schedule_id != 0 && schedules.contains(&r.schedule_id))
                .collect()
        }
    })
}

/// `SHOW JOB(S) WHEN COMPLETE`: waits until job `id` is succeeded, failed or canceled.
/// The process running the statement holds the cluster (its store is open in one process
/// at a time), so no other runner can move the job meanwhile: a pending or running job
/// (or one asked to pause or cancel) is run here, as a runner would ([`run`]). A paused
/// job would never complete on its own (CockroachDB keeps waiting):
/// [`JobErrorKind::WaitPaused`]; an unfinished run of a schedule completes only when its
/// schedule runs it again: [`JobErrorKind::WaitSchedule`].
pub fn complete(cluster: &Cluster, id: u64) -> Result<Status> {
    // A run moves a job to a final status, to paused, or (a request carried out at its
    // start) to paused or canceled; a third look is never needed.
    for _ in 0..3 {
        let r = get(cluster, id)?;
        match status(&r) {
            s if s.is_final() => return Ok(s),
            Status::Paused => {
                return Err(refused(
                    JobErrorKind::WaitPaused,
                    format!("job {id} is paused: it will not complete until it is resumed (RESUME JOB {id})"),
                ))
            }
            _ if r.schedule_id != 0 => {
                return Err(refused(
                    JobErrorKind::WaitSchedule,
                    format!(
                        "job {id} is a run of schedule {}: it completes when the schedule runs again (vouch scheduler)",
                        r.schedule_id
                    ),
                ))
            }
            _ => {
                run(cluster, id, None)?;
            }
        }
    }
    Err(Error::Usage(format!("job {id} did not complete")))
}

/// The pause and cancel requests a script is made of, if it is only `PAUSE JOB id` and
/// `CANCEL JOB id` statements (what `vouch sql` leaves as requests for the process
/// running the jobs while the cluster is in use, §3); `None` for any other script.
pub fn requests_in(script: &str) -> Option<Vec<(JobAction, u64)>> {
    let statements = crate::split_statements(script).ok()?;
    let mut out = Vec::new();
    for text in statements {
        match grammar::parse(&text).ok()? {
            Statement::ControlJobs {
                action: action @ (JobAction::Pause | JobAction::Cancel),
                ids: JobIds::One(id),
            } => out.push((action, id)),
            _ => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Runs a job statement.
pub fn execute(cluster: &Cluster, st: &Statement) -> Result<Output> {
    match st {
        Statement::ShowJobs { ids, when_complete } => {
            let mut rows = select(cluster, ids)?;
            rows.sort_by_key(|r| (r.created, r.id));
            if *when_complete {
                // The jobs named now (a WHERE on status is not evaluated again), each
                // waited for in turn, then shown as they ended.
                let ids: Vec<u64> = rows.iter().map(|r| r.id).collect();
                for id in &ids {
                    complete(cluster, *id)?;
                }
                rows = ids
                    .iter()
                    .map(|id| get(cluster, *id))
                    .collect::<Result<_>>()?;
            }
            Ok(Output::Rows(show_table(&rows)))
        }
        Statement::ControlJobs { action, ids } => {
            let rows = select(cluster, ids)?;
            for r in &rows {
                control(cluster, *action, r.id)?;
            }
            let word = match action {
                JobAction::Pause => "PAUSE",
                JobAction::Resume => "RESUME",
                JobAction::Cancel => "CANCEL",
            };
            Ok(Output::Tag(format!("{word} JOBS {}", rows.len())))
        }
        _ => Err(Error::Usage("not a job statement".into())),
    }
}
