//! The `full` level: every byte of every data file read once (SHA-256 in the same pass as
//! the verified SST scan), every key and row decoded against the descriptor in force at its
//! timestamp, counts against the manifest, then per layer end time the secondary indexes
//! against their rows and the per-index fingerprints against the recorded ones.
//!
//! Files are scanned through positioned reads in read-ahead windows (memory per worker a
//! window and the largest block). Indexes and fingerprints at every layer's end are checked
//! in one streaming merge per table over all layers (`crate::merge`): memory one block and
//! one window per file plus accumulators, never the chain's data. File scans and table
//! merges share one pool of `jobs` workers, largest work first ([`check_full`]); the merges
//! read the tables' files a second time (not yet one pass: issue 12 point 6).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use vouch_format::envelope::DataKey;
use vouch_format::envelope::{self, FileId, Opened};
use vouch_format::keys::{self, ColumnType, Direction};
use vouch_format::manifest::files::{EntryProblem, FileCounts, LayerWindow};
use vouch_format::manifest::pb;
use vouch_format::mvcc::{self, Timestamp};
use vouch_format::row;
use vouch_format::schema::{self, index_layouts, IndexLayout};
use vouch_format::sst::{BlockSource, ScanEntry, ScanStats, SstReader};

use crate::finding::{sst_finding, Finding};
use crate::report::Progress;
use crate::state::{ChainState, Ctx};
use crate::tables::Limited;
use hex::encode as hex;
use vouch_chain::pool;
use vouch_chain::source::StoreSource;

/// Every known version of every descriptor of a chain up to some layer, by id: (time in
/// force from, descriptor or `None` when deleted), sorted by time.
#[derive(Debug, Default, Clone)]
pub(crate) struct History {
    by_id: BTreeMap<u64, Vec<(Timestamp, Option<pb::Descriptor>)>>,
}

impl History {
    pub(crate) fn add_layer(&mut self, m: &pb::BackupManifest) {
        for d in &m.descriptors {
            self.by_id
                .entry(d.id)
                .or_default()
                .push((Timestamp::from_pb(d.modification_time), Some(d.clone())));
        }
        for r in &m.descriptor_changes {
            self.by_id
                .entry(r.id)
                .or_default()
                .push((Timestamp::from_pb(r.time), r.descriptor.clone()));
        }
        for v in self.by_id.values_mut() {
            v.sort_by(|a, b| {
                (a.0, a.1.as_ref().map(|d| d.version)).cmp(&(b.0, b.1.as_ref().map(|d| d.version)))
            });
            v.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        }
    }

    /// The descriptor of `id` in force at `t`: the newest version at or before `t`; when
    /// none is that old (history before the backup's window), the oldest known.
    pub(crate) fn at(&self, id: u64, t: Timestamp) -> Option<&pb::Descriptor> {
        let v = self.by_id.get(&id)?;
        match v.iter().rev().find(|(at, _)| *at <= t) {
            Some((_, d)) => d.as_ref(),
            None => v.iter().find_map(|(_, d)| d.as_ref()),
        }
    }

    /// Any version of `id` (for the primary index id, which never changes).
    pub(crate) fn any(&self, id: u64) -> Option<&pb::Descriptor> {
        self.by_id
            .get(&id)?
            .iter()
            .rev()
            .find_map(|(_, d)| d.as_ref())
    }
}

/// What a file scan gives back.
pub(crate) struct FileOutcome {
    /// False when the file could not be read through (its entries are not all known).
    complete: bool,
    findings: Vec<Finding>,
    bytes: u64,
}

struct LayerView<'a> {
    dir: &'a str,
    which: crate::state::Which,
    m: &'a pb::BackupManifest,
    is_full: bool,
    history: &'a History,
    /// The chain's data key (encrypted chains): files are read through the envelope.
    key: Option<&'a DataKey>,
}

/// An index layout with its key types (as `keys::decode_index_key` takes them).
type Layout = (IndexLayout, Vec<(ColumnType, Direction)>);

/// Layouts of the descriptor versions met in one file, by (id, version): a short list
/// searched linearly (a file holds few tables and versions; no hashing per entry).
type LayoutCache = Vec<((u64, u64), Option<Vec<Layout>>)>;

fn layouts<'c>(cache: &'c mut LayoutCache, d: &pb::Descriptor) -> Option<&'c Vec<Layout>> {
    let at = match cache.iter().position(|(k, _)| *k == (d.id, d.version)) {
        Some(i) => i,
        None => {
            let ls = index_layouts(d).ok().map(|ls| {
                ls.into_iter()
                    .map(|l| {
                        let types = l.key_types();
                        (l, types)
                    })
                    .collect()
            });
            cache.push(((d.id, d.version), ls));
            cache.len() - 1
        }
    };
    cache.get(at).and_then(|(_, ls)| ls.as_ref())
}

/// Checks that `user` (a live entry with `payload`) decodes against `d`.
fn decode_entry(
    cache: &mut LayoutCache,
    d: &pb::Descriptor,
    index: u64,
    user: &[u8],
    payload: &[u8],
) -> Result<(), String> {
    let Some(ls) = layouts(cache, d) else {
        return Err(format!(
            "the descriptor of table {} ({:?}, version {}) has no usable index layout",
            d.id, d.name, d.version
        ));
    };
    let Some((l, types)) = ls.iter().find(|(l, _)| u64::from(l.id) == index) else {
        return Err(format!(
            "table {} ({:?}, version {}) has no index {index}",
            d.id, d.name, d.version
        ));
    };
    keys::decode_index_key(user, types).map_err(|e| {
        format!(
            "key does not decode as index {} ({:?}) of table {:?} version {}: {e}",
            l.id, l.name, d.name, d.version
        )
    })?;
    row::decode_row_checked(payload, &l.value_columns).map_err(|e| {
        format!(
            "value does not decode as a row of index {} ({:?}) of table {:?} version {}: {e}",
            l.id, l.name, d.name, d.version
        )
    })?;
    Ok(())
}

fn scan_file(ctx: &Ctx<'_>, lv: &LayerView<'_>, file: &pb::File, stat: u64) -> FileOutcome {
    let store = ctx.store(lv.which);
    let path = vouch_chain::join(lv.dir, &file.path);
    let src = match lv.key {
        None => StoreSource::hashing(store, &path, stat),
        Some(_) => StoreSource::tracking(store, &path, stat),
    };
    let mut out = Limited::default();
    let window = LayerWindow::of(lv.m, lv.is_full);
    let (start, end) = window.times();
    let (min_ts, max_ts) = (
        Timestamp::from_pb(file.min_ts),
        Timestamp::from_pb(file.max_ts),
    );
    let fspan = file.span.clone().unwrap_or_default();
    let mut counts = FileCounts::default();
    let mut cache = LayoutCache::new();
    let layer = lv.dir.to_string();
    // Reused per entry: the decoded user key; the primary index of the last table met.
    let mut user_buf: Vec<u8> = Vec::new();
    let mut primary_of: Option<(u64, Option<u64>)> = None;
    let mut visit = |e: ScanEntry<'_>| {
        let (k, v) = (e.key, e.value);
        let f = |kind: &'static str, msg: String| {
            Finding::error(kind, path.clone(), format!("{path}: {msg}"))
                .with_key(k)
                .in_layer(layer.clone())
        };
        // MVCC files come decoded by the scan (key, timestamp, value CRC checked).
        let decoded = match e.mvcc {
            Some(m) => Ok((m.user, m.ts)),
            None => mvcc::decode_key_into(k, &mut user_buf).map(|t| (user_buf.as_slice(), t)),
        };
        let (user, t) = match decoded {
            Ok(x) => x,
            Err(e) => {
                counts.add_undecodable();
                if k < file.first_key.as_slice() || k > file.last_key.as_slice() {
                    out.push(f(
                        "key_out_of_bounds",
                        EntryProblem::FileBounds.describe().into(),
                    ));
                }
                out.push(f("row_decode", format!("MVCC key does not decode: {e}")));
                return;
            }
        };
        for p in window.check(file, k, user, t) {
            let msg = p.describe().to_string();
            out.push(match p {
                EntryProblem::FileBounds => f("key_out_of_bounds", msg).expected_found(
                    format!("{}..={}", hex(&file.first_key), hex(&file.last_key)),
                    hex(k),
                ),
                EntryProblem::FileSpan => f("key_out_of_bounds", msg).expected_found(
                    format!("[{}, {})", hex(&fspan.start), hex(&fspan.end)),
                    hex(user),
                ),
                EntryProblem::LayerSpans => f("key_out_of_bounds", msg),
                EntryProblem::LayerWindow => f(
                    "timestamp_out_of_window",
                    format!("timestamp {t} is outside the layer's window ({start}, {end}]"),
                )
                .expected_found(format!("({start}, {end}]"), t.to_string()),
                EntryProblem::FileTimes => f(
                    "timestamp_out_of_window",
                    format!("timestamp {t} is outside the file's recorded min_ts..max_ts"),
                )
                .expected_found(format!("[{min_ts}, {max_ts}]"), t.to_string()),
            });
        }
        let value = match e
            .mvcc
            .map_or_else(|| mvcc::decode_value(k, v), |m| Ok(m.value))
        {
            Ok(x) => x,
            Err(e) => {
                counts.add_undecodable();
                out.push(f("value_checksum", format!("value does not decode: {e}")));
                return;
            }
        };
        let payload = match value {
            mvcc::Value::Live(p) => Some(p),
            _ => None,
        };
        let (table, index) = match keys::decode_table_prefix(user) {
            Ok((t, i, _)) => (t, i),
            Err(e) => {
                counts.add(user, payload.is_some(), false);
                out.push(f("row_decode", format!("key is not a table key: {e}")));
                return;
            }
        };
        let primary = match primary_of {
            Some((id, p)) if id == table => p,
            _ => {
                let p = lv
                    .history
                    .any(table)
                    .and_then(schema::table)
                    .and_then(|t| t.primary_index.as_ref())
                    .map(|p| u64::from(p.id));
                primary_of = Some((table, p));
                p
            }
        };
        counts.add(user, payload.is_some(), primary == Some(index));
        if let Some(p) = payload {
            match lv.history.at(table, t) {
                None => out.push(f(
                    "row_decode",
                    format!("no descriptor of table {table} is known at {t}"),
                )),
                Some(d) => {
                    if let Err(msg) = decode_entry(&mut cache, d, index, user, p) {
                        out.push(f(
                            "row_decode",
                            format!("{msg} (descriptor in force at {t})"),
                        ));
                    }
                }
            }
        }
    };
    let scanned = match lv.key {
        None => SstReader::open(&src).and_then(|r| scan_with(&r, &mut visit)),
        Some(key) => Opened::new(
            key,
            FileId {
                backup_id: &lv.m.backup_id,
                path: &file.path,
            },
            &src,
        )
        .and_then(|o| {
            let stats = SstReader::open(&o).and_then(|r| scan_with(&r, &mut visit))?;
            authenticate_unread(&o, &src)?;
            Ok(stats)
        }),
    };
    let scan_ok = match scanned {
        Ok(_) => true,
        Err(e) => {
            let mut f = sst_finding(&path, &e).in_layer(layer.clone());
            f.message = format!("{path}: {}", f.message);
            out.push(f);
            false
        }
    };
    if scan_ok {
        for (what, recorded, found) in counts.mismatches(file) {
            out.push(
                Finding::error(
                    "count_mismatch",
                    path.clone(),
                    format!(
                        "{path}: {what}: the manifest records {recorded}, the file holds {found}"
                    ),
                )
                .expected_found(recorded.to_string(), found.to_string())
                .in_layer(layer.clone()),
            );
        }
    }
    match src.finish_sha256() {
        Ok(sha) => {
            if sha.as_slice() != file.sha256.as_slice() {
                out.push(
                    Finding::error(
                        "sha256_mismatch",
                        path.clone(),
                        format!("{path}: the SHA-256 of the stored bytes is not the recorded one"),
                    )
                    .expected_found(hex(&file.sha256), hex(sha))
                    .in_layer(layer.clone()),
                );
            }
        }
        Err(e) => out.push(
            Finding::error("read_error", path.clone(), format!("{path}: {e}"))
                .in_layer(layer.clone()),
        ),
    }
    if out.dropped > 0 {
        let n = out.dropped;
        out.v.push(
            Finding::error(
                "sst_corrupt",
                path.clone(),
                format!("{path}: {n} more problem(s) in this file not listed"),
            )
            .in_layer(layer),
        );
    }
    FileOutcome {
        complete: scan_ok,
        findings: out.v,
        bytes: src.bytes_read(),
    }
}

/// The verified scan of `r`, each checked entry shown to `visit`.
fn scan_with<S: BlockSource>(
    r: &SstReader<S>,
    visit: &mut impl FnMut(ScanEntry<'_>),
) -> Result<ScanStats, vouch_format::Error> {
    let mut scan = r.verified_scan()?;
    while scan.advance()? {
        visit(scan.entry());
    }
    scan.finish()
}

/// Authenticates the chunks of a sealed file that the SST scan did not read (the scan reads
/// every block, so normally none): every chunk of the file is then authenticated, each
/// stored byte read once.
fn authenticate_unread(
    o: &Opened<&StoreSource<'_>>,
    src: &StoreSource<'_>,
) -> Result<(), vouch_format::Error> {
    if o.size() == 0 {
        return o.authenticate_all();
    }
    let cs = u64::from(o.header().chunk_size);
    for i in 0..o.chunks() {
        let stored_at = envelope::HEADER_LEN as u64 + i * (cs + envelope::TAG_LEN as u64);
        if !src.was_read_at(stored_at) {
            o.read_at(i * cs, 1)?;
        }
    }
    Ok(())
}

/// The data pass's work over a chain: per layer the descriptor history up to it (`None`:
/// the layer has no manifest), and every file found in the store.
pub(crate) struct DataPlan {
    histories: Vec<Option<History>>,
    /// (layer, file position in its manifest, stored size).
    files: Vec<(usize, usize, u64)>,
}

impl DataPlan {
    pub(crate) fn of(c: &ChainState) -> Self {
        let mut history = History::default();
        let mut histories = Vec::with_capacity(c.layers.len());
        let mut files = Vec::new();
        for (li, l) in c.layers.iter().enumerate() {
            let Some(m) = &l.manifest else {
                histories.push(None);
                continue;
            };
            history.add_layer(m);
            histories.push(Some(history.clone()));
            for (fi, s) in l.sizes.iter().enumerate() {
                // `--shard K/N`: only the files this process owns.
                if let (Some(s), Some(_), true) = (s, m.files.get(fi), c.owns_file(li, fi)) {
                    files.push((li, fi, *s));
                }
            }
        }
        DataPlan { histories, files }
    }

    /// Stored bytes of file `i`.
    pub(crate) fn size(&self, i: usize) -> u64 {
        self.files.get(i).map_or(0, |f| f.2)
    }

    pub(crate) fn len(&self) -> usize {
        self.files.len()
    }

    /// Scans file `i` of the plan (`None`: no such file).
    pub(crate) fn scan(&self, ctx: &Ctx<'_>, c: &ChainState, i: usize) -> Option<FileOutcome> {
        let &(li, fi, size) = self.files.get(i)?;
        let l = c.layers.get(li)?;
        let m = l.manifest.as_ref()?;
        let lv = LayerView {
            dir: &l.dir,
            which: l.which,
            m,
            is_full: l.is_full,
            history: self.histories.get(li)?.as_ref()?,
            key: c.key.as_deref(),
        };
        Some(scan_file(ctx, &lv, m.files.get(fi)?, size))
    }
}

/// Per layer, the spans whose entries are not all known up to it: files missing, and the
/// files `incomplete` names (layer, file position) that could not be read through; `None`
/// from the first layer without a manifest on (no table can be checked there). Tables in
/// those spans are not checked for indexes and fingerprints (the cause is reported
/// already).
pub(crate) fn known_at(
    c: &ChainState,
    incomplete: &dyn Fn(usize, usize) -> bool,
) -> Vec<Option<Vec<pb::Span>>> {
    let mut unknown: Vec<pb::Span> = Vec::new();
    let mut all_unknown = false;
    let mut out = Vec::with_capacity(c.layers.len());
    for (li, l) in c.layers.iter().enumerate() {
        let Some(m) = &l.manifest else {
            all_unknown = true;
            out.push(None);
            continue;
        };
        for (fi, (f, size)) in m.files.iter().zip(&l.sizes).enumerate() {
            if size.is_none() || incomplete(li, fi) {
                unknown.push(f.span.clone().unwrap_or_default());
            }
        }
        out.push((!all_unknown).then(|| unknown.clone()));
    }
    out
}

/// Runs the `data`, `indexes` and `fingerprints` checks on every layer of a chain: the
/// file scans and the per-table merges in one pool, the largest work first, so every core
/// stays busy (a chain of one big table has its merge run beside the file scans, not after
/// them). A table's index and fingerprint results at a layer are kept only when every
/// file holding its entries up to that layer was read through (else the data check says
/// why it could not be).
pub(crate) fn check_full(ctx: &Ctx<'_>, c: &mut ChainState, progress: &mut dyn FnMut(Progress)) {
    let files = DataPlan::of(c);
    let tables = crate::merge::TablePlan::of(c, &known_at(c, &|_, _| false));
    #[derive(Clone, Copy)]
    enum Work {
        File(usize),
        Table(usize),
    }
    let mut work: Vec<(u64, Work)> = (0..files.len())
        .map(|i| (files.size(i), Work::File(i)))
        .chain((0..tables.len()).map(|i| (tables.size(i), Work::Table(i))))
        .collect();
    work.sort_by_key(|w| std::cmp::Reverse(w.0));
    progress(Progress::Start {
        check: "data",
        files: work.len() as u64,
        bytes: work.iter().map(|w| w.0).sum(),
    });
    enum Done {
        File(usize, Option<FileOutcome>),
        Table(usize, crate::merge::TableOutcome),
    }
    let (mut done_items, mut done_bytes) = (0u64, 0u64);
    let mut scanned: Vec<(usize, FileOutcome)> = Vec::with_capacity(files.len());
    let mut merged: Vec<(usize, crate::merge::TableOutcome)> = Vec::with_capacity(tables.len());
    {
        let cr: &ChainState = c;
        let refs = tables.refs(ctx, cr);
        let (files, tables, refs) = (&files, &tables, &refs);
        pool::for_each(
            &work,
            ctx.opts.jobs,
            |&(_, w)| match w {
                Work::File(i) => Done::File(i, files.scan(ctx, cr, i)),
                Work::Table(i) => Done::Table(i, tables.check(refs, i)),
            },
            |wi, d| {
                done_items += 1;
                done_bytes += work.get(wi).map_or(0, |w| w.0);
                progress(Progress::Advance {
                    files: done_items,
                    bytes: done_bytes,
                });
                match d {
                    Done::File(i, Some(o)) => scanned.push((i, o)),
                    Done::File(_, None) => {}
                    Done::Table(i, o) => merged.push((i, o)),
                }
            },
        );
    }
    scanned.sort_by_key(|(i, _)| *i);
    ctx.files_checked
        .fetch_add(scanned.len(), Ordering::Relaxed);
    let mut incomplete: std::collections::HashSet<(usize, usize)> = Default::default();
    let mut per_layer: Vec<Vec<Finding>> = vec![Vec::new(); c.layers.len()];
    for (i, o) in scanned {
        let Some(&(li, fi, _)) = files.files.get(i) else {
            continue;
        };
        if !o.complete {
            incomplete.insert((li, fi));
        }
        ctx.add_bytes(o.bytes);
        if let Some(v) = per_layer.get_mut(li) {
            v.extend(o.findings);
        }
    }
    for (l, data) in c.layers.iter_mut().zip(per_layer) {
        if l.manifest.is_some() {
            l.check("data").findings.extend(data);
        }
    }
    let known = known_at(c, &|li, fi| incomplete.contains(&(li, fi)));
    tables.redo_damaged(ctx, c, &known, &mut merged);
    tables.apply(c, merged, &known);
}
