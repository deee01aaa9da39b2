//! The export: a span's versions read from the cluster in key order, filtered by the
//! layer's rules (spec/backup.md), written into data files of about the target size, with
//! a checkpoint after a data file when the [`Schedule`] says one is due (spec/backup.md
//! §7.3), and one after the last data file.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use prost::Message;
use sha2::{Digest, Sha256};
use vouch_cluster::Cluster;
use vouch_format::envelope::DataKey;
use vouch_format::fingerprint::Fingerprint;
use vouch_format::keys;
use vouch_format::layout;
use vouch_format::manifest::pb;
use vouch_format::mvcc::{self, Timestamp};
use vouch_format::schema::{self, index_layouts, Kind};
use vouch_format::sst::{SstWriter, WriterOptions};
use vouch_store::ObjectWriter;

use super::faults::{Injected, Point};
use super::scope::ExportSpan;
use super::{BackupOptions, Progress, Target};
use crate::crypto;
use crate::{ctx, Error, ErrorKind, Result};

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

/// The default of [`super::BackupOptions::checkpoint_interval`]: a checkpoint about
/// every 30 s when the backup is slow (within the time rule's spacing), as CockroachDB
/// checkpoints a backup's progress about once per interval.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(30);

/// The count rule's divisor: a checkpoint is due once the data files completed since the
/// newest checkpoint reach `max(1, files / COUNT_DIVISOR)` (spec/backup.md §7.3).
pub(super) const COUNT_DIVISOR: u64 = 16;

/// The time rule's divisor: once the interval has passed, a checkpoint is due when the
/// data files completed since the newest checkpoint reach `max(1, files / TIME_DIVISOR)`
/// (spec/backup.md §7.3).
pub(super) const TIME_DIVISOR: u64 = 64;

/// When a checkpoint is written (spec/backup.md §7.3). Each checkpoint lists every data
/// file so far, so writing one after every file costs O(n²) bytes for n files; with this
/// schedule the checkpoints together list O(n) `File` records. After the `files`-th data
/// file of the layer, with `pending` files completed since the newest checkpoint, a
/// checkpoint is due when
///
/// - **count rule**: `pending ≥ max(1, files / 16)`: after every file up to the 31st,
///   then geometrically (a checkpoint lists at least 16/15 of the files the one before
///   it listed); or
/// - **time rule**: at least the interval (30 s) has passed since the newest checkpoint
///   (or the start of the run) and `pending ≥ max(1, files / 64)`: a slow backup
///   checkpoints about once per interval, a fast one by the count rule.
///
/// Besides, a checkpoint is written after the last data file (before the manifest) and
/// when the backup stops on request, whenever the newest one does not list every file.
/// The checkpoints of one run of `n` files list at most 19 `n` `File` records together
/// when the time rule is never due (the count rule: 130 checkpoints, 220,209 records for
/// 13,000 files, against 84.5 million with one checkpoint per file), and at most 72 `n`
/// whatever the clock says.
#[derive(Debug, Clone, Copy)]
pub(super) struct Schedule {
    interval: Duration,
    /// Data files completed since the newest checkpoint (this run's, or the one it
    /// resumed from).
    pending: u64,
    /// When the newest checkpoint was written, or when this run started.
    last: Instant,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::new(DEFAULT_CHECKPOINT_INTERVAL, Instant::now())
    }
}

impl Schedule {
    /// A schedule for a run starting at `now`, with the time rule's `interval`.
    pub(super) fn new(interval: Duration, now: Instant) -> Self {
        Schedule {
            interval,
            pending: 0,
            last: now,
        }
    }

    /// A data file was completed.
    fn file_done(&mut self) {
        self.pending += 1;
    }

    /// Whether a checkpoint is due after the `files`-th data file of the layer, at `now`.
    fn due(&self, files: u64, now: Instant) -> bool {
        let reached = |divisor: u64| self.pending >= (files / divisor).max(1);
        reached(COUNT_DIVISOR)
            || (now.saturating_duration_since(self.last) >= self.interval && reached(TIME_DIVISOR))
    }

    /// Whether a data file was completed since the newest checkpoint.
    fn pending(&self) -> bool {
        self.pending > 0
    }

    /// A checkpoint was written at `now`.
    fn written(&mut self, now: Instant) {
        self.pending = 0;
        self.last = now;
    }
}

/// Where the export stands: the files written, the resume point, the counters and the
/// fingerprints so far (what a checkpoint records), and the checkpoint schedule.
#[derive(Default)]
pub(super) struct ExportState {
    pub(super) files: Vec<pb::File>,
    pub(super) next_file: u64,
    pub(super) resume_from: Vec<u8>,
    fingerprints: BTreeMap<(u64, u64), Fingerprint>,
    pub(super) rows: u64,
    pub(super) index_entries: u64,
    pub(super) bytes: u64,
    pub(super) checkpoints: u64,
    pub(super) schedule: Schedule,
}

impl ExportState {
    pub(super) fn from_checkpoint(cp: &pb::Checkpoint) -> Self {
        ExportState {
            schedule: Schedule::default(),
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

    /// The fingerprint of every index of every table of `descriptors` with data, at the
    /// layer's end.
    pub(super) fn table_fingerprints(
        &self,
        descriptors: &[pb::Descriptor],
    ) -> Result<Vec<pb::TableFingerprint>> {
        let mut out = Vec::new();
        for d in descriptors
            .iter()
            .filter(|d| Kind::of(d) == Some(Kind::Table))
        {
            if schema::table(d).is_some_and(|t| t.exclude_data_from_backup) {
                continue;
            }
            for l in index_layouts(d)? {
                let fp = self
                    .fingerprints
                    .get(&(d.id, u64::from(l.id)))
                    .copied()
                    .unwrap_or_default();
                out.push(pb::TableFingerprint {
                    table_id: d.id,
                    index_id: u64::from(l.id),
                    fingerprint: fp.hash,
                    rows: fp.entries,
                });
            }
        }
        Ok(out)
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

/// What every span's export shares.
pub(super) struct ExportCtx<'a> {
    target: &'a Target<'a>,
    /// The locality stores (locality-aware backups), as [`ExportSpan::store`] indexes them:
    /// each with its locality as the BACKUP named it. Files go to the same directory there.
    localities: Vec<(&'a dyn vouch_store::Store, String)>,
    wopts: WriterOptions,
    target_size: u64,
    end: Timestamp,
    revision_history: bool,
    faults: Injected,
    job_id: u64,
    /// The chain key and this layer's backup id, for an encrypted layer.
    sealing: Option<(&'a DataKey, &'a [u8])>,
    /// [`BackupOptions::stop`].
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl<'a> ExportCtx<'a> {
    pub(super) fn new(
        opts: &BackupOptions,
        target: &'a Target<'a>,
        end: Timestamp,
        job_id: u64,
        faults: Injected,
        sealing: Option<(&'a DataKey, &'a [u8])>,
    ) -> Self {
        ExportCtx {
            target,
            localities: Vec::new(),
            wopts: WriterOptions {
                block_size: opts.block_size,
                restart_interval: 16,
                compression: opts.compression,
                mvcc: true,
            },
            target_size: opts.target_file_size,
            end,
            revision_history: opts.revision_history,
            faults,
            job_id,
            sealing,
            stop: opts.stop.clone(),
        }
    }
}

impl<'a> ExportCtx<'a> {
    /// Sets the locality stores.
    pub(super) fn with_localities(mut self, l: Vec<(&'a dyn vouch_store::Store, String)>) -> Self {
        self.localities = l;
        self
    }

    /// The store of `store` (an [`ExportSpan::store`]) and its locality ("" for the default).
    fn store_of(&self, store: Option<usize>) -> Result<(&'a dyn vouch_store::Store, &str)> {
        match store {
            None => Ok((self.target.store, "")),
            Some(i) => self
                .localities
                .get(i)
                .map(|(s, l)| (*s, l.as_str()))
                .ok_or_else(|| Error::refused(ErrorKind::Usage, format!("no locality store {i}"))),
        }
    }
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

/// Exports one span from the resume point on, cutting files at the target size.
pub(super) fn export_span(
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
                match open_file(cx, st, &user, first_in_span, sp.store) {
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
    store: Option<usize>,
) -> Result<OpenFile> {
    st.next_file += 1;
    let path = layout::data_file(st.next_file);
    let inner = cx.store_of(store)?.0.create_new(&cx.target.path(&path))?;
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
        locality: cx.store_of(sp.store)?.1.to_string(),
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
    st.schedule.file_done();
    if st.schedule.due(st.files.len() as u64, Instant::now()) {
        write_checkpoint(cx, st)?;
    }
    progress(Progress::File { size });
    cx.faults.at(Point::AfterFiles(st.files.len() as u64))?;
    cx.faults
        .park(st.files.len() as u64, cx.stop.as_ref(), progress);
    if cx
        .stop
        .as_ref()
        .is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst))
    {
        // Stopping on request: the files since the newest checkpoint get theirs, so the
        // same backup run again resumes right here.
        if st.schedule.pending() {
            write_checkpoint(cx, st)?;
        }
        return Err(Error::refused(
            ErrorKind::Stopped,
            format!(
                "stopped after data file {} (checkpoint {} written: the same backup run again resumes from it)",
                st.files.len(),
                st.checkpoints
            ),
        ));
    }
    Ok(())
}

/// The export is over (every span up to `end`, the last span's end, is exported): when
/// data files were completed since the newest checkpoint, one more checkpoint lists every
/// file, resuming at `end`, so the newest checkpoint always has every file and counter
/// before the manifest is written (spec/backup.md §7.3).
pub(super) fn finish_export(cx: &ExportCtx<'_>, st: &mut ExportState, end: &[u8]) -> Result<()> {
    if !st.schedule.pending() {
        return Ok(());
    }
    st.resume_from = end.to_vec();
    write_checkpoint(cx, st)
}

/// Writes the next checkpoint of `st` (sealed for an encrypted layer).
fn write_checkpoint(cx: &ExportCtx<'_>, st: &mut ExportState) -> Result<()> {
    st.checkpoints += 1;
    let cp = st.checkpoint(cx.job_id).encode_to_vec();
    let rel = layout::checkpoint_name(st.checkpoints);
    let stored = match cx.sealing {
        None => cp,
        Some((k, backup_id)) => crypto::seal_small_file(k, backup_id, &rel, &cp)?,
    };
    cx.target.store.put_new(&cx.target.path(&rel), &stored)?;
    st.schedule.written(Instant::now());
    Ok(())
}

#[cfg(test)]
mod schedule_tests {
    use super::{Schedule, COUNT_DIVISOR, TIME_DIVISOR};
    use std::time::{Duration, Instant};

    /// The files a schedule spacing checkpoints by `max(1, k / divisor)` checkpoints after,
    /// for `n` files, the last file included: written out independently of [`Schedule`].
    fn greedy(n: u64, divisor: u64) -> Vec<u64> {
        let (mut out, mut last) = (Vec::new(), 0);
        for k in 1..=n {
            if k - last >= std::cmp::max(1, k / divisor) {
                out.push(k);
                last = k;
            }
        }
        if last != n {
            out.push(n);
        }
        out
    }

    /// The most `File` records the checkpoints of `n` files can list together when two
    /// checkpoints after files `a < b` are always `max(1, b / divisor)` files apart, but
    /// for the one after the last file: n + Σ f^j(n − 1) for f(x) = x − max(1, x /
    /// divisor), as f is non-decreasing.
    fn bound(n: u64, divisor: u64) -> u64 {
        let (mut sum, mut x) = (n, n.saturating_sub(1));
        while x >= 1 {
            sum += x;
            x -= std::cmp::max(1, x / divisor);
        }
        sum
    }

    /// Runs the schedule over `n` files, the `k`-th completed at `t0 + at(k)`, with the
    /// checkpoint after the last file; returns the files checkpointed after.
    fn run(n: u64, interval: Duration, at: impl Fn(u64) -> Duration) -> Vec<u64> {
        let t0 = Instant::now();
        let mut s = Schedule::new(interval, t0);
        let mut out = Vec::new();
        for k in 1..=n {
            s.file_done();
            let now = t0 + at(k);
            if s.due(k, now) {
                out.push(k);
                s.written(now);
            }
        }
        if s.pending() {
            out.push(n);
        }
        out
    }

    fn secs(k: u64) -> Duration {
        Duration::from_secs(k)
    }

    #[test]
    fn the_count_rule_checkpoints_every_file_then_geometrically() {
        assert_eq!((COUNT_DIVISOR, TIME_DIVISOR), (16, 64));
        let never = Duration::MAX;
        assert_eq!(run(31, never, secs), (1..=31).collect::<Vec<_>>());
        assert_eq!(
            run(40, never, secs),
            (1..=31).chain([33, 35, 37, 39, 40]).collect::<Vec<_>>()
        );
        for n in [1, 2, 16, 31, 32, 33, 100, 300, 1000, 13_000, 100_000] {
            let cps = run(n, never, secs);
            assert_eq!(cps, greedy(n, 16), "{n} files");
            let listed: u64 = cps.iter().sum();
            assert!(listed <= bound(n, 16), "{n} files: {listed} records");
            assert!(listed <= 19 * n, "{n} files: {listed} records");
        }
        // 13,000 files: 130 checkpoints listing 220,209 records (84.5 million with one
        // checkpoint per file); 100,000 files: 161 checkpoints.
        let cps = run(13_000, never, secs);
        assert_eq!((cps.len(), cps.iter().sum::<u64>()), (130, 220_209));
        assert_eq!(run(100_000, never, secs).len(), 161);
    }

    #[test]
    fn the_time_rule_checkpoints_slow_backups_with_bounded_bytes() {
        let interval = secs(30);
        // A file every 40 s: the time rule is always due, spaced by files / 64.
        for n in [40, 300, 13_000] {
            let cps = run(n, interval, |k| secs(40 * k));
            assert_eq!(cps, greedy(n, 64), "{n} files");
            let listed: u64 = cps.iter().sum();
            assert!(listed <= bound(n, 64) && listed <= 72 * n, "{n}: {listed}");
        }
        // A file every 10 s: at least every third file within the time rule's spacing.
        let cps = run(100, interval, |k| secs(10 * k));
        assert_eq!(&cps[..31], (1..=31).collect::<Vec<_>>().as_slice());
        assert!(cps.windows(2).all(|w| w[1] - w[0] <= 3), "{cps:?}");
        // Never before the interval: the count rule alone.
        assert_eq!(run(300, interval, Duration::from_millis), greedy(300, 16));
        // Whatever the clock does, the bound of the time rule's spacing holds.
        for n in [50, 500, 5000] {
            let cps = run(n, interval, |k| secs(k * k % 97));
            let listed: u64 = cps.iter().sum();
            assert!(listed <= bound(n, 64), "{n}: {listed}");
        }
    }

    #[test]
    fn nothing_is_due_without_a_new_file() {
        let t0 = Instant::now();
        let s = Schedule::new(Duration::ZERO, t0);
        assert!(!s.due(5, t0 + secs(60)));
        assert!(!s.pending());
    }
}
