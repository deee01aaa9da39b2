//! The export: a span's versions read from the cluster in key order, filtered by the
//! layer's rules (spec/backup.md), written into data files of about the target size, each
//! followed by a checkpoint.

use std::collections::BTreeMap;
use std::io::Write;

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

/// Where the export stands: the files written, the resume point, the counters and the
/// fingerprints so far (what a checkpoint records).
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
}

impl ExportState {
    pub(super) fn from_checkpoint(cp: &pb::Checkpoint) -> Self {
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
    st.checkpoints += 1;
    let cp = st.checkpoint(cx.job_id).encode_to_vec();
    let rel = layout::checkpoint_name(st.checkpoints);
    let stored = match cx.sealing {
        None => cp,
        Some((k, backup_id)) => crypto::seal_small_file(k, backup_id, &rel, &cp)?,
    };
    cx.target.store.put_new(&cx.target.path(&rel), &stored)?;
    progress(Progress::File { size });
    cx.faults.at(Point::AfterFiles(st.files.len() as u64))?;
    cx.faults
        .park(st.files.len() as u64, cx.stop.as_ref(), progress);
    if cx
        .stop
        .as_ref()
        .is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst))
    {
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
