//! The `full` level: every byte of every data file read once (SHA-256 in the same pass as
//! the verified SST scan), every key and row decoded against the descriptor in force at its
//! timestamp (in a layer without revision history, at the layer's end), counts against the
//! manifest, then per layer end time the secondary indexes
//! against their rows and the per-index fingerprints against the recorded ones.
//!
//! Files are scanned through positioned reads in read-ahead windows (memory per worker a
//! window and the largest block). Indexes and fingerprints at every layer's end are checked
//! in one streaming merge per table over all layers (`crate::merge`): memory one block and
//! one window per file plus accumulators, never the chain's data. One pass: tables whose
//! merges read a common file form a group, whose k-way merge is driven by the verified
//! scans of its files ([`check_group`]), so each stored byte is read once; files of no
//! group are scanned alone. Groups, files and the tables left out of groups share one pool
//! of `jobs` workers, largest work first ([`check_full`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use vouch_format::envelope::DataKey;
use vouch_format::envelope::{self, FileId, Opened};
use vouch_format::keys::{self, ColumnType, Direction};
use vouch_format::manifest::files::{EntryProblem, FileCounts, LayerWindow};
use vouch_format::manifest::pb;
use vouch_format::mvcc::{self, Timestamp};
use vouch_format::row;
use vouch_format::schema::{self, index_layouts, IndexLayout};
use vouch_format::sst::{
    BlockFeed, BlockHook, BlockSource, ScanEntry, ScanStats, SstReader, VerifiedScan,
};

use crate::finding::{sst_finding, Finding};
use crate::merge::{TableOutcome, TablePlan, Walker};
use crate::report::Progress;
use crate::state::{ChainState, Ctx};
use crate::tables::Limited;
use hex::encode as hex;
use vouch_chain::merge::{merge_cursors, LayerRef, MergeCursor};
use vouch_chain::pool;
use vouch_chain::source::{prefetch, tail_channel, Prefetched, StoreSource, TailSender};

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
    /// The layer's localities and their stores (locality-aware layers).
    localities: &'a [(String, usize)],
    m: &'a pb::BackupManifest,
    is_full: bool,
    history: &'a History,
    /// When the layer has no revision history (`mvcc_filter` Latest), its end time: it
    /// holds each key's newest value as of then, read (as restore reads it) with the
    /// descriptors in force at its end, since the versions in force between its start
    /// and end are in no layer of the chain.
    latest_at: Option<Timestamp>,
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

/// Checks that `user` (a live entry with `payload`) decodes against `d` (its key columns
/// decoded into `key`, a vector reused entry after entry).
fn decode_entry(
    cache: &mut LayoutCache,
    key: &mut Vec<keys::Datum>,
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
    keys::decode_index_key_into(user, types, key).map_err(|e| {
        format!(
            "key does not decode as index {} ({:?}) of table {:?} version {}: {e}",
            l.id, l.name, d.name, d.version
        )
    })?;
    row::check_row(payload, &l.value_columns).map_err(|e| {
        format!(
            "value does not decode as a row of index {} ({:?}) of table {:?} version {}: {e}",
            l.id, l.name, d.name, d.version
        )
    })?;
    Ok(())
}

/// The per-entry and per-file checks of one data file's scan: each entry the verified scan
/// shows is checked against the file's manifest entry, its layer and the descriptor in
/// force at its timestamp ([`FileCheck::visit`]); then the counts and the SHA-256 of the
/// stored bytes ([`FileCheck::finish`]).
struct FileCheck<'v> {
    lv: &'v LayerView<'v>,
    file: &'v pb::File,
    path: String,
    layer: String,
    out: Limited,
    window: LayerWindow<'v>,
    start: Timestamp,
    end: Timestamp,
    min_ts: Timestamp,
    max_ts: Timestamp,
    fspan: pb::Span,
    counts: FileCounts,
    cache: LayoutCache,
    // Reused per entry: the decoded user key and its key columns; the primary index of
    // the last table met.
    user_buf: Vec<u8>,
    key_buf: Vec<keys::Datum>,
    primary_of: Option<(u64, Option<u64>)>,
}

impl<'v> FileCheck<'v> {
    fn new(lv: &'v LayerView<'v>, file: &'v pb::File) -> Self {
        let path = vouch_chain::join(lv.dir, &file.path);
        let window = LayerWindow::of(lv.m, lv.is_full);
        let (start, end) = window.times();
        FileCheck {
            lv,
            file,
            path,
            layer: lv.dir.to_string(),
            out: Limited::default(),
            window,
            start,
            end,
            min_ts: Timestamp::from_pb(file.min_ts),
            max_ts: Timestamp::from_pb(file.max_ts),
            fspan: file.span.clone().unwrap_or_default(),
            counts: FileCounts::default(),
            cache: LayoutCache::new(),
            user_buf: Vec::new(),
            key_buf: Vec::new(),
            primary_of: None,
        }
    }

    /// For a plain file: a source for the scan's reads other than data blocks (the index,
    /// properties and footer, which are small), and the file read ahead on its own thread
    /// in `scope` ([`prefetch`]: the feed of data blocks, the thread ending with the
    /// SHA-256 and the bytes it read, and where to send it the file's last bytes once the
    /// source has read them).
    /// `None` when no thread could be started (the file is then read by its scan).
    fn prefetched<'s>(
        &self,
        ctx: &'s Ctx<'_>,
        scope: &'s std::thread::Scope<'s, '_>,
        stat: u64,
    ) -> Option<(
        StoreSource<'s>,
        BlockFeed<'static>,
        std::thread::ScopedJoinHandle<'s, Prefetched>,
        TailSender,
    )> {
        let store = ctx.store(self.which());
        let (feed, pre, tail) = prefetch(scope, store, &self.path, stat).ok()?;
        Some((StoreSource::new(store, &self.path, stat), feed, pre, tail))
    }

    /// The store holding the file: the layer's own, or its locality's.
    fn which(&self) -> crate::state::Which {
        let lv = self.lv;
        if self.file.locality.is_empty() {
            return lv.which;
        }
        lv.localities
            .iter()
            .find(|(l, _)| *l == self.file.locality)
            .map_or(lv.which, |(_, i)| {
                if *i == vouch_chain::merge::OWN_STORE {
                    lv.which
                } else {
                    crate::state::Which::Part(*i)
                }
            })
    }

    /// A source over the file's stored bytes, hashing them as they are read (a plain
    /// file's on a thread of its own, [`StoreSource::hashing_on_thread`]: the file's
    /// checks then keep one core busy and its SHA-256 another).
    fn source<'s>(&self, ctx: &'s Ctx<'_>, stat: u64) -> StoreSource<'s> {
        let store = ctx.store(self.which());
        match self.lv.key {
            None => StoreSource::hashing_on_thread(store, &self.path, stat),
            Some(_) => StoreSource::tracking(store, &self.path, stat),
        }
    }

    fn finding(&self, kind: &'static str, k: &[u8], msg: String) -> Finding {
        let path = &self.path;
        Finding::error(kind, path.clone(), format!("{path}: {msg}"))
            .with_key(k)
            .in_layer(self.layer.clone())
    }

    /// Checks one entry of the scan.
    fn visit(&mut self, e: ScanEntry<'_>) {
        let (k, v) = (e.key, e.value);
        let file = self.file;
        // MVCC files come decoded by the scan (key, timestamp, value CRC checked).
        let decoded = match e.mvcc {
            Some(m) => Ok((m.user, m.ts)),
            None => {
                mvcc::decode_key_into(k, &mut self.user_buf).map(|t| (self.user_buf.as_slice(), t))
            }
        };
        let (user, t) = match decoded {
            Ok(x) => x,
            Err(e) => {
                self.counts.add_undecodable();
                if k < file.first_key.as_slice() || k > file.last_key.as_slice() {
                    let f = self.finding(
                        "key_out_of_bounds",
                        k,
                        EntryProblem::FileBounds.describe().into(),
                    );
                    self.out.push(f);
                }
                let f = self.finding("row_decode", k, format!("MVCC key does not decode: {e}"));
                self.out.push(f);
                return;
            }
        };
        let (start, end, min_ts, max_ts) = (self.start, self.end, self.min_ts, self.max_ts);
        for p in self.window.check(file, k, user, t) {
            let msg = p.describe().to_string();
            let f = |kind, msg| {
                Finding::error(kind, self.path.clone(), format!("{}: {msg}", self.path))
                    .with_key(k)
                    .in_layer(self.layer.clone())
            };
            let finding = match p {
                EntryProblem::FileBounds => f("key_out_of_bounds", msg).expected_found(
                    format!("{}..={}", hex(&file.first_key), hex(&file.last_key)),
                    hex(k),
                ),
                EntryProblem::FileSpan => f("key_out_of_bounds", msg).expected_found(
                    format!("[{}, {})", hex(&self.fspan.start), hex(&self.fspan.end)),
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
            };
            self.out.push(finding);
        }
        let value = match e
            .mvcc
            .map_or_else(|| mvcc::decode_value(k, v), |m| Ok(m.value))
        {
            Ok(x) => x,
            Err(e) => {
                self.counts.add_undecodable();
                let f = self.finding("value_checksum", k, format!("value does not decode: {e}"));
                self.out.push(f);
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
                self.counts.add(user, payload.is_some(), false);
                let f = self.finding("row_decode", k, format!("key is not a table key: {e}"));
                self.out.push(f);
                return;
            }
        };
        let history = self.lv.history;
        let primary = match self.primary_of {
            Some((id, p)) if id == table => p,
            _ => {
                let p = history
                    .any(table)
                    .and_then(schema::table)
                    .and_then(|t| t.primary_index.as_ref())
                    .map(|p| u64::from(p.id));
                self.primary_of = Some((table, p));
                p
            }
        };
        self.counts
            .add(user, payload.is_some(), primary == Some(index));
        if let Some(p) = payload {
            let t = self.lv.latest_at.unwrap_or(t);
            match history.at(table, t) {
                None => {
                    let f = self.finding(
                        "row_decode",
                        k,
                        format!("no descriptor of table {table} is known at {t}"),
                    );
                    self.out.push(f);
                }
                Some(d) => {
                    let key = &mut self.key_buf;
                    if let Err(msg) = decode_entry(&mut self.cache, key, d, index, user, p) {
                        let f = self.finding(
                            "row_decode",
                            k,
                            format!("{msg} (descriptor in force at {t})"),
                        );
                        self.out.push(f);
                    }
                }
            }
        }
    }

    /// The file's outcome once its scan ended (`scanned`: read through, or why not): the
    /// counts against the manifest, then the SHA-256 of every stored byte (`sha`, from the
    /// source that read them; `bytes` read in all).
    fn finish(
        self,
        ctx: &Ctx<'_>,
        scanned: Result<(), vouch_format::Error>,
        sha: Result<[u8; 32], vouch_format::Error>,
        bytes: u64,
    ) -> FileOutcome {
        ctx.files_done.fetch_add(1, Ordering::Relaxed);
        let FileCheck {
            file,
            path,
            layer,
            mut out,
            counts,
            ..
        } = self;
        let scan_ok = match scanned {
            Ok(()) => true,
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
        match sha {
            Ok(sha) => {
                if sha.as_slice() != file.sha256.as_slice() {
                    out.push(
                        Finding::error(
                            "sha256_mismatch",
                            path.clone(),
                            format!(
                                "{path}: the SHA-256 of the stored bytes is not the recorded one"
                            ),
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
            bytes,
        }
    }
}

/// Opens the envelope of an encrypted file over `src`.
fn open_sealed<'o, 's>(
    lv: &LayerView<'_>,
    key: &'o DataKey,
    file: &'o pb::File,
    src: &'o StoreSource<'s>,
) -> Result<Opened<&'o StoreSource<'s>>, vouch_format::Error> {
    Opened::new(
        key,
        FileId {
            backup_id: &lv.m.backup_id,
            path: &file.path,
        },
        src,
    )
}

/// Scans one data file alone: every entry checked, every stored byte hashed. Plain files
/// are read ahead on a second thread ([`prefetch`]: reading, SHA-256, block CRCs and
/// decompression there, entries decoded and checked here).
fn scan_file(ctx: &Ctx<'_>, lv: &LayerView<'_>, file: &pb::File, stat: u64) -> FileOutcome {
    let mut check = FileCheck::new(lv, file);
    if lv.key.is_none() {
        let done = std::thread::scope(|scope| {
            let (src, feed, pre, tail) = check.prefetched(ctx, scope, stat)?;
            let opened = SstReader::open(&src);
            // The thread reads the index and footer from what the open fetched (a thread
            // gone early ends with its own error).
            let _ = tail.send(src.take_tail());
            let scanned = opened.and_then(|r| {
                let mut scan = r.verified_scan()?.with_feed(feed);
                while scan.advance()? {
                    check.visit(scan.entry());
                }
                scan.finish().map(|_| ())
            });
            let (sha, bytes) = joined(pre);
            Some((scanned, sha, bytes))
        });
        if let Some((scanned, sha, bytes)) = done {
            return check.finish(ctx, scanned, sha, bytes);
        }
    }
    let src = check.source(ctx, stat);
    let mut visit = |e: ScanEntry<'_>| check.visit(e);
    let scanned = match lv.key {
        None => SstReader::open(&src).and_then(|r| scan_with(&r, &mut visit)),
        Some(key) => open_sealed(lv, key, file, &src).and_then(|o| {
            let stats = SstReader::open(&o).and_then(|r| scan_with(&r, &mut visit))?;
            authenticate_unread(&o, &src)?;
            Ok(stats)
        }),
    };
    check.finish(
        ctx,
        scanned.map(|_| ()),
        src.finish_sha256(),
        src.bytes_read(),
    )
}

/// What a prefetch thread ended with (a thread that panicked: an I/O error, nothing read).
fn joined(pre: std::thread::ScopedJoinHandle<'_, Prefetched>) -> Prefetched {
    pre.join().unwrap_or_else(|_| {
        (
            Err(vouch_format::Error::Io {
                kind: std::io::ErrorKind::Other,
                message: "the read-ahead thread failed".into(),
            }),
            0,
        )
    })
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

    /// File `i` of the plan: its layer's view, its manifest entry, its stored size.
    fn view<'c>(
        &'c self,
        c: &'c ChainState,
        i: usize,
    ) -> Option<(LayerView<'c>, &'c pb::File, u64)> {
        let &(li, fi, size) = self.files.get(i)?;
        let l = c.layers.get(li)?;
        let m = l.manifest.as_ref()?;
        let lv = LayerView {
            dir: &l.dir,
            which: l.which,
            localities: &l.localities,
            m,
            is_full: l.is_full,
            history: self.histories.get(li)?.as_ref()?,
            latest_at: (m.mvcc_filter != pb::MvccFilter::All as i32)
                .then(|| Timestamp::from_pb(m.end_time)),
            key: c.key.as_deref(),
        };
        Some((lv, m.files.get(fi)?, size))
    }

    /// Scans file `i` of the plan (`None`: no such file).
    pub(crate) fn scan(&self, ctx: &Ctx<'_>, c: &ChainState, i: usize) -> Option<FileOutcome> {
        let (lv, file, size) = self.view(c, i)?;
        Some(scan_file(ctx, &lv, file, size))
    }
}

/// Tables whose merges read shared files, and every file they read: checked in one pass
/// ([`check_group`]), each file's scan feeding the tables' merge.
struct Group {
    /// Positions in the [`TablePlan`].
    tables: Vec<usize>,
    /// Positions in the [`DataPlan`], in merge order (layer, then manifest order).
    files: Vec<usize>,
    /// Per table (as in `tables`): which of `files` its merge reads.
    feeds: Vec<Vec<bool>>,
    bytes: u64,
}

/// Splits the planned tables into [`Group`]s: tables whose merges read a common file are
/// one group. A table whose merge would read a file the data plan does not scan (missing,
/// not this shard's) or whose stored size is not its manifest's is left out (it is merged
/// on its own, as the merge reports such a file); so are the files of no group.
fn groups(files: &DataPlan, c: &ChainState, tables: &TablePlan) -> Vec<Group> {
    let pos: BTreeMap<(usize, usize), usize> = files
        .files
        .iter()
        .enumerate()
        .map(|(i, &(li, fi, _))| ((li, fi), i))
        .collect();
    let manifest_size = |li: usize, fi: usize| {
        c.layers
            .get(li)
            .and_then(|l| l.manifest.as_ref())
            .and_then(|m| m.files.get(fi))
            .map(|f| f.size)
    };
    // Per table, the data plan positions of its files (None: not groupable).
    let per_table: Vec<Option<Vec<usize>>> = (0..tables.len())
        .map(|ti| {
            tables
                .files(ti)
                .into_iter()
                .map(|(li, fi)| {
                    let i = *pos.get(&(li, fi))?;
                    (Some(files.size(i)) == manifest_size(li, fi)).then_some(i)
                })
                .collect()
        })
        .collect();
    // Union-find over tables, joined through the files they share.
    let mut parent: Vec<usize> = (0..tables.len()).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while let Some(&p) = parent.get(x) {
            if p == x {
                break;
            }
            let gp = parent.get(p).copied().unwrap_or(p);
            if let Some(slot) = parent.get_mut(x) {
                *slot = gp;
            }
            x = p;
        }
        x
    }
    let mut owner: BTreeMap<usize, usize> = BTreeMap::new();
    for (ti, fs) in per_table.iter().enumerate() {
        for &f in fs.iter().flatten() {
            match owner.get(&f) {
                Some(&other) => {
                    let (a, b) = (root(&mut parent, ti), root(&mut parent, other));
                    if let Some(slot) = parent.get_mut(a) {
                        *slot = b;
                    }
                }
                None => {
                    owner.insert(f, ti);
                }
            }
        }
    }
    let mut by_root: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (ti, fs) in per_table.iter().enumerate() {
        if fs.is_some() {
            by_root.entry(root(&mut parent, ti)).or_default().push(ti);
        }
    }
    by_root
        .into_values()
        .map(|ts| {
            let mut fs: Vec<usize> = ts
                .iter()
                .filter_map(|&ti| per_table.get(ti).cloned().flatten())
                .flatten()
                .collect();
            fs.sort_by_key(|&i| files.files.get(i).map(|f| (f.0, f.1)));
            fs.dedup();
            let feeds = ts
                .iter()
                .map(|&ti| {
                    let mine = per_table.get(ti).cloned().flatten().unwrap_or_default();
                    fs.iter().map(|f| mine.contains(f)).collect()
                })
                .collect();
            Group {
                bytes: fs.iter().map(|&i| files.size(i)).sum(),
                tables: ts,
                files: fs,
                feeds,
            }
        })
        .collect()
}

/// Most files of one group read ahead on threads of their own ([`prefetch`]): a group of
/// more files (a table cut into very many small files) is read by its scans alone, so
/// the threads and read-ahead buffers stay few.
const MAX_PREFETCHED: usize = 256;

/// What checking a [`Group`] gives: per file (data plan position) and per table (table plan
/// position).
type GroupOutcome = (Vec<(usize, FileOutcome)>, Vec<(usize, TableOutcome)>);

/// One file's verified scan as a cursor of the group's merge: each entry is checked
/// ([`FileCheck::visit`]) as the merge moves past it.
struct FileCursor<'s, 'v> {
    scan: Option<VerifiedScan<'s, &'s dyn BlockSource>>,
    /// The file's checks, run as the merge moves (`None`: a thread of its own runs them,
    /// [`checked_ahead`]).
    check: Option<FileCheck<'v>>,
    name: String,
    /// Why the scan stopped early (opening or reading the file).
    err: Option<vouch_format::Error>,
    layer: usize,
}

impl MergeCursor for FileCursor<'_, '_> {
    type Error = vouch_chain::Error;

    fn advance(&mut self) -> vouch_chain::Result<bool> {
        let Some(scan) = self.scan.as_mut() else {
            return Ok(false);
        };
        match scan.advance() {
            Ok(true) => {
                if let Some(c) = self.check.as_mut() {
                    c.visit(scan.entry());
                }
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(e) => {
                let msg = format!("{}: {e}", self.name);
                self.err = Some(e);
                Err(vouch_chain::Error::new(
                    vouch_chain::ErrorKind::DataMismatch,
                    msg,
                ))
            }
        }
    }

    fn current(&self) -> (&[u8], &[u8]) {
        self.scan.as_ref().map_or((&[], &[]), |s| {
            let e = s.entry();
            (e.key, e.value)
        })
    }

    fn layer(&self) -> usize {
        self.layer
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// A plain file of a group checked on a thread of its own in `scope`: that thread reads the
/// stored bytes (SHA-256), checks and decompresses every block, runs the verified scan
/// and the file's checks ([`FileCheck`]) and ends with the file's outcome; each block it
/// read is handed on (at most [`PREFETCH_BLOCKS`] ahead) to the scan the group's merge
/// drives, which then only decodes entries for the merge. Returns that scan's source (for
/// the index and footer), its feed, the thread, and where to send the thread the file's
/// last bytes once that source has read them at open (the thread waits for them, so they
/// are fetched once). `None` when no thread could be started.
#[allow(clippy::type_complexity)]
fn checked_ahead<'s>(
    scope: &'s std::thread::Scope<'s, '_>,
    ctx: &'s Ctx<'_>,
    lv: &'s LayerView<'s>,
    file: &'s pb::File,
    size: u64,
) -> Option<(
    StoreSource<'s>,
    BlockFeed<'static>,
    std::thread::ScopedJoinHandle<'s, FileOutcome>,
    TailSender,
)> {
    let (tx, rx) =
        std::sync::mpsc::sync_channel::<(usize, Vec<u8>)>(vouch_chain::source::PREFETCH_BLOCKS);
    let (tail_tx, tail_rx) = tail_channel();
    let check = FileCheck::new(lv, file);
    let path = check.path.clone();
    let store = ctx.store(check.which());
    let handle = std::thread::Builder::new()
        .spawn_scoped(scope, move || {
            let mut check = check;
            let tail = tail_rx.recv().ok().flatten();
            let src = check.source(ctx, size).knowing(tail);
            let scanned = SstReader::open(&src).and_then(|r| {
                // The merge's scan may stop early (the group's merge failed): sends then
                // fail and this scan goes on alone.
                let hook: BlockHook<'_> = Box::new(move |i, b| {
                    let _ = tx.send((i, b.to_vec()));
                });
                let mut scan = r.verified_scan()?.with_block_hook(hook);
                while scan.advance()? {
                    check.visit(scan.entry());
                }
                scan.finish().map(|_| ())
            });
            check.finish(ctx, scanned, src.finish_sha256(), src.bytes_read())
        })
        .ok()?;
    let name = path.clone();
    let feed: BlockFeed<'static> = Box::new(move |i| match rx.recv() {
        Ok((j, b)) if j == i => Ok(b),
        _ => Err(vouch_format::Error::Io {
            kind: std::io::ErrorKind::Other,
            message: format!("{name}: block {i} was not read ahead (the file's scan stopped)"),
        }),
    });
    Some((StoreSource::new(store, &path, size), feed, handle, tail_tx))
}

/// Checks a [`Group`] in one pass: every file's verified scan (its checks and SHA-256)
/// drives the k-way merge of the group's tables, so each stored byte is read once. When
/// every file reads through and the merge completes, the tables' results are the merge's;
/// otherwise (a damaged file) the files are read to their end alone and the tables are
/// merged again the usual way ([`TablePlan::check`]), so the findings are the same as
/// scanning and merging separately.
fn check_group(
    ctx: &Ctx<'_>,
    c: &ChainState,
    files: &DataPlan,
    tables: &TablePlan,
    refs: &[LayerRef<'_>],
    g: &Group,
) -> GroupOutcome {
    let views: Vec<(usize, LayerView<'_>, &pb::File, u64)> = g
        .files
        .iter()
        .filter_map(|&i| {
            let (lv, f, size) = files.view(c, i)?;
            Some((i, lv, f, size))
        })
        .collect();
    std::thread::scope(|scope| check_group_in(scope, ctx, &views, files, tables, refs, g))
}

/// A group's files: (data plan position, layer view, manifest entry, stored size).
type Views<'c> = [(usize, LayerView<'c>, &'c pb::File, u64)];

#[allow(clippy::too_many_lines)]
fn check_group_in<'s>(
    scope: &'s std::thread::Scope<'s, '_>,
    ctx: &'s Ctx<'_>,
    views: &'s Views<'s>,
    files: &DataPlan,
    tables: &TablePlan,
    refs: &[LayerRef<'_>],
    g: &Group,
) -> GroupOutcome {
    // Plain files are checked on threads of their own (one per file: not for groups of
    // more than MAX_PREFETCHED files), feeding the merge's scans; sealed ones by the
    // merge's scan itself.
    let read_ahead = views.len() <= MAX_PREFETCHED;
    let mut srcs: Vec<StoreSource<'_>> = Vec::with_capacity(views.len());
    let mut feeds: Vec<Option<BlockFeed<'static>>> = Vec::with_capacity(views.len());
    let mut handles: Vec<Option<std::thread::ScopedJoinHandle<'s, FileOutcome>>> =
        Vec::with_capacity(views.len());
    let mut tails: Vec<Option<TailSender>> = Vec::with_capacity(views.len());
    for (_, lv, f, size) in views {
        match (lv.key.is_none() && read_ahead)
            .then(|| checked_ahead(scope, ctx, lv, f, *size))
            .flatten()
        {
            Some((src, feed, handle, tail)) => {
                srcs.push(src);
                feeds.push(Some(feed));
                handles.push(Some(handle));
                tails.push(Some(tail));
            }
            None => {
                srcs.push(FileCheck::new(lv, f).source(ctx, *size));
                feeds.push(None);
                handles.push(None);
                tails.push(None);
            }
        }
    }
    // The plain files' last bytes (footer, index), fetched at once before they are opened.
    let plain: Vec<&StoreSource<'_>> = views
        .iter()
        .zip(&srcs)
        .filter(|((_, lv, _, _), _)| lv.key.is_none())
        .map(|(_, src)| src)
        .collect();
    vouch_chain::source::read_tails(&plain);
    let opened: Vec<Option<Result<Opened<&StoreSource<'_>>, vouch_format::Error>>> = views
        .iter()
        .zip(&srcs)
        .map(|((_, lv, f, _), src)| lv.key.map(|k| open_sealed(lv, k, f, src)))
        .collect();
    let readers: Vec<Result<SstReader<&dyn BlockSource>, vouch_format::Error>> = srcs
        .iter()
        .zip(&opened)
        .zip(tails)
        .map(|((src, o), tail)| {
            let r = match o {
                None => SstReader::open(src as &dyn BlockSource),
                Some(Ok(o)) => SstReader::open(o as &dyn BlockSource),
                Some(Err(e)) => Err(e.clone()),
            };
            // The file's thread reads its index and footer from what this open fetched
            // (a thread gone early ends with its own error).
            if let Some(tail) = tail {
                let _ = tail.send(src.take_tail());
            }
            r
        })
        .collect();
    let mut cursors: Vec<FileCursor<'_, '_>> = views
        .iter()
        .zip(&readers)
        .zip(feeds.iter_mut().zip(&handles))
        .map(|(((i, lv, f, _), r), (feed, handle))| {
            let threaded = handle.is_some();
            let (scan, err) = match r.as_ref().map(|r| r.verified_scan()) {
                Ok(Ok(s)) => (
                    Some(match feed.take() {
                        // The file's thread decodes and checks every entry of the blocks
                        // it feeds: this scan only orders them for the merge.
                        Some(feed) => s.with_feed(feed).decoded_elsewhere(),
                        None => s,
                    }),
                    None,
                ),
                Ok(Err(e)) => (None, Some(e)),
                Err(e) => (None, Some(e.clone())),
            };
            let check = FileCheck::new(lv, f);
            FileCursor {
                scan,
                name: check.path.clone(),
                check: (!threaded).then_some(check),
                err,
                layer: files.files.get(*i).map_or(0, |f| f.0),
            }
        })
        .collect();
    // Feeds no scan took (the file did not open): their threads hash and end.
    drop(feeds);
    // The tables' accumulators and walks.
    type TableWalk<'t> = (
        usize,
        u64,
        Vec<Option<crate::merge::At<'t>>>,
        Walker,
        crate::merge::Memo,
        &'t Vec<bool>,
    );
    let mut walks: Vec<TableWalk<'_>> = g
        .tables
        .iter()
        .zip(&g.feeds)
        .filter_map(|(&ti, feeds)| {
            let (id, at) = tables.accumulators(ti)?;
            let ends: Vec<Option<Timestamp>> =
                at.iter().map(|a| a.as_ref().map(|a| a.end())).collect();
            // The group's scans check every value (the files' own checks, on the
            // blocks the merge reads): the walk does not check them again.
            Some((
                ti,
                id,
                at,
                Walker::with_checked_values(id, &ends, true),
                crate::merge::Memo::default(),
                feeds,
            ))
        })
        .collect();
    let opened_all = cursors.iter().all(|c| c.err.is_none()) && views.len() == g.files.len();
    let merged = opened_all
        && merge_cursors(&mut cursors, |src, v| {
            for (_, id, at, w, memo, feeds) in walks.iter_mut() {
                if feeds.get(src).copied().unwrap_or(false) {
                    let id = *id;
                    w.push(&v, &mut |u, l| crate::merge::feed_table(id, at, memo, u, l));
                }
            }
            Ok(())
        })
        .is_ok();
    // Every file read to its end, its checks finished.
    let mut file_out = Vec::with_capacity(cursors.len());
    let mut complete = true;
    for (((cur, (i, _, _, _)), (src, o)), handle) in cursors
        .into_iter()
        .zip(views)
        .zip(srcs.iter().zip(&opened))
        .zip(handles.iter_mut())
    {
        let FileCursor {
            scan,
            check,
            err,
            name,
            ..
        } = cur;
        let out = match (check, handle.take()) {
            // Checked on its own thread: the merge's scan (and its feed) is dropped, the
            // thread finishes the file alone.
            (_, Some(h)) => {
                drop(scan);
                h.join().unwrap_or_else(|_| FileOutcome {
                    complete: false,
                    findings: vec![Finding::error(
                        "read_error",
                        name.clone(),
                        format!("{name}: the file's checking thread failed"),
                    )],
                    bytes: 0,
                })
            }
            (Some(mut check), None) => {
                let scanned = match (err, scan) {
                    (Some(e), _) => Err(e),
                    (None, None) => Ok(()),
                    (None, Some(mut scan)) => {
                        let mut drained = Ok(());
                        loop {
                            match scan.advance() {
                                Ok(true) => check.visit(scan.entry()),
                                Ok(false) => break,
                                Err(e) => {
                                    drained = Err(e);
                                    break;
                                }
                            }
                        }
                        drained
                            .and_then(|()| scan.finish().map(|_| ()))
                            .and_then(|()| match o {
                                Some(Ok(o)) => authenticate_unread(o, src),
                                _ => Ok(()),
                            })
                    }
                };
                check.finish(ctx, scanned, src.finish_sha256(), src.bytes_read())
            }
            (None, None) => continue,
        };
        complete &= out.complete;
        file_out.push((*i, out));
    }
    let table_out = if merged && complete {
        walks
            .into_iter()
            .map(|(ti, id, mut at, mut w, mut memo, _)| {
                w.finish(&mut |u, l| crate::merge::feed_table(id, &mut at, &mut memo, u, l));
                let layers = refs.get(..at.len()).unwrap_or_default();
                (ti, crate::merge::table_outcome(layers, id, &at, &Ok(())))
            })
            .collect()
    } else {
        g.tables
            .iter()
            .map(|&ti| (ti, tables.check(refs, ti)))
            .collect()
    };
    (file_out, table_out)
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

/// A progress figure shown while work runs: the larger of what the finished work items
/// add up to and what a running counter says has happened since this figure was made
/// (files finished, bytes read: work inside items still running), never above the total
/// and never going back.
struct Shown<'c> {
    counter: &'c AtomicU64,
    before: u64,
    total: u64,
    shown: std::cell::Cell<u64>,
}

impl<'c> Shown<'c> {
    fn new(counter: &'c AtomicU64, total: u64) -> Self {
        Shown {
            counter,
            before: counter.load(Ordering::Relaxed),
            total,
            shown: std::cell::Cell::new(0),
        }
    }

    /// The figure now, `done` being what the finished work items add up to.
    fn now(&self, done: u64) -> u64 {
        let counted = self
            .counter
            .load(Ordering::Relaxed)
            .saturating_sub(self.before)
            .min(self.total);
        self.shown.set(self.shown.get().max(done).max(counted));
        self.shown.get()
    }
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
    let groups = groups(&files, c, &tables);
    let mut in_group = vec![false; files.len()];
    let mut table_grouped = vec![false; tables.len()];
    for g in &groups {
        for &i in &g.files {
            if let Some(x) = in_group.get_mut(i) {
                *x = true;
            }
        }
        for &ti in &g.tables {
            if let Some(x) = table_grouped.get_mut(ti) {
                *x = true;
            }
        }
    }
    #[derive(Clone, Copy)]
    enum Work {
        File(usize),
        Table(usize),
        Group(usize),
    }
    let mut work: Vec<(u64, Work)> = (0..files.len())
        .filter(|&i| !in_group.get(i).copied().unwrap_or(false))
        .map(|i| (files.size(i), Work::File(i)))
        .chain(
            (0..tables.len())
                .filter(|&i| !table_grouped.get(i).copied().unwrap_or(false))
                .map(|i| (tables.size(i), Work::Table(i))),
        )
        .chain(
            groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.bytes, Work::Group(i))),
        )
        .collect();
    work.sort_by_key(|w| std::cmp::Reverse(w.0));
    // Progress in data files (a group counts its files, a table merged alone none) and in
    // bytes: those of the work done, or, while work runs, the files finished and the bytes
    // read so far.
    let files_of = |w: Work| match w {
        Work::File(_) => 1,
        Work::Table(_) => 0,
        Work::Group(i) => groups.get(i).map_or(0, |g| g.files.len() as u64),
    };
    let total_bytes: u64 = work.iter().map(|w| w.0).sum();
    let total_files: u64 = work.iter().map(|w| files_of(w.1)).sum();
    progress(Progress::Start {
        check: "data",
        files: total_files,
        bytes: total_bytes,
    });
    let progress = std::cell::RefCell::new(progress);
    // Files: those of the work done, or every file finished so far (inside a group still
    // running too); bytes: those of the work done, or those read so far.
    let files_shown = Shown::new(&ctx.files_done, total_files);
    let bytes_shown = Shown::new(&ctx.reading, total_bytes);
    let files_now = |done_items: u64| files_shown.now(done_items);
    let bytes_now = |done_bytes: u64| bytes_shown.now(done_bytes);
    enum Done {
        File(usize, Option<FileOutcome>),
        Table(usize, crate::merge::TableOutcome),
        Group(
            Vec<(usize, FileOutcome)>,
            Vec<(usize, crate::merge::TableOutcome)>,
        ),
    }
    let (mut done_items, mut done_bytes) = (0u64, 0u64);
    let mut scanned: Vec<(usize, FileOutcome)> = Vec::with_capacity(files.len());
    let mut merged: Vec<(usize, crate::merge::TableOutcome)> = Vec::with_capacity(tables.len());
    {
        let cr: &ChainState = c;
        let refs = tables.refs(ctx, cr);
        let (files, tables, refs, groups) = (&files, &tables, &refs, &groups);
        let done_at = std::cell::Cell::new((0u64, 0u64));
        pool::for_each_ticking(
            &work,
            ctx.opts.jobs,
            |&(_, w)| match w {
                Work::File(i) => Done::File(i, files.scan(ctx, cr, i)),
                Work::Table(i) => Done::Table(i, tables.check(refs, i)),
                Work::Group(i) => match groups.get(i) {
                    Some(g) => {
                        let (f, t) = check_group(ctx, cr, files, tables, refs, g);
                        Done::Group(f, t)
                    }
                    None => Done::Group(Vec::new(), Vec::new()),
                },
            },
            |wi, d| {
                done_items += work.get(wi).map_or(0, |w| files_of(w.1));
                done_bytes += work.get(wi).map_or(0, |w| w.0);
                done_at.set((done_items, done_bytes));
                progress.borrow_mut()(Progress::Advance {
                    files: files_now(done_items),
                    bytes: bytes_now(done_bytes),
                });
                match d {
                    Done::File(i, Some(o)) => scanned.push((i, o)),
                    Done::File(_, None) => {}
                    Done::Table(i, o) => merged.push((i, o)),
                    Done::Group(f, t) => {
                        scanned.extend(f);
                        merged.extend(t);
                    }
                }
            },
            Some(std::time::Duration::from_secs(1)),
            || {
                let (done_items, done_bytes) = done_at.get();
                progress.borrow_mut()(Progress::Advance {
                    files: files_now(done_items),
                    bytes: bytes_now(done_bytes),
                });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_figure_follows_work_inside_running_items_capped_and_never_back() {
        let counter = AtomicU64::new(40);
        // Counted before the figure was made: not this figure's.
        let s = Shown::new(&counter, 10);
        assert_eq!(s.now(0), 0);
        // Files finished inside an item still running show before the item ends.
        counter.fetch_add(3, Ordering::Relaxed);
        assert_eq!(s.now(0), 3);
        // An item ending adds up to more than the counter: that is shown.
        assert_eq!(s.now(5), 5);
        // The counter catching up shows again, the figure never goes back...
        counter.fetch_add(3, Ordering::Relaxed);
        assert_eq!(s.now(5), 6);
        assert_eq!(s.now(2), 6);
        // ...nor above the total (a count of other work in the same run).
        counter.fetch_add(100, Ordering::Relaxed);
        assert_eq!(s.now(6), 10);
        assert_eq!(s.now(10), 10);
    }
}
