//! RESTORE: point-in-time restore from a chain of layers into a cluster.
//!
//! Planning (shared with `vouch verify --level schema` and `vouch dump`): the chain is
//! checked (continuity, predecessor hashes, chain ids), the layers up to the one whose
//! window holds the requested time are selected with CockroachDB's rules, and the
//! descriptors in force at that time are rebuilt from the layers' descriptors and
//! revisions. Reading: one k-way merge per table over the selected layers' files, yielding
//! the newest version of each key at or before the time (tombstones dropped).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use vouch_cluster::{Batch, Cluster};
use vouch_format::fingerprint::Fingerprint;
use vouch_format::keys;
use vouch_format::keys::table_span;
use vouch_format::layout;
use vouch_format::manifest::pb;
use vouch_format::mvcc::{self, Timestamp};
use vouch_format::schema::{
    self, index_layouts, parents, Catalog, Kind, SYSTEM_DATABASE_ID, USERS_TABLE_ID,
};
use vouch_store::{OpenOptions, Store};

use crate::collection::{join, Collection, OpenChain};
use crate::crypto::{open_data_file, DataKey};
use crate::targets::Targets;
use crate::{ctx, Error, Result};
use vouch_keys::KeySource;

/// Where a restore reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `FROM LATEST|'subdir' IN uri` (incrementals in `incremental_location` when given).
    Collection {
        /// The collection URI.
        uri: String,
        /// `LATEST` or a full backup's subdirectory as SHOW BACKUPS prints it.
        subdir: String,
        /// `WITH incremental_location = …`.
        incremental_location: Option<String>,
    },
    /// Legacy `FROM 'full', 'incr1', …`: backup directories, oldest first.
    Layers(Vec<String>),
}

/// A RESTORE request.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// What to restore (`Cluster` only into an empty cluster).
    pub targets: Targets,
    /// Where from.
    pub source: Source,
    /// `AS OF SYSTEM TIME` text (relative, absolute or decimal HLC); default: the end of
    /// the newest layer.
    pub as_of: Option<String>,
    /// `WITH into_db = …` (table restores).
    pub into_db: Option<String>,
    /// `WITH new_db_name = …` (a single database restore).
    pub new_db_name: Option<String>,
    /// `WITH skip_missing_foreign_keys`.
    pub skip_missing_foreign_keys: bool,
    /// `WITH skip_missing_views`.
    pub skip_missing_views: bool,
    /// `WITH skip_missing_sequences` (accepted; vouch has no sequences).
    pub skip_missing_sequences: bool,
    /// `WITH schema_only`: descriptors only, no rows.
    pub schema_only: bool,
    /// `WITH verify_backup_table_data` (needs `schema_only`): read and check every row,
    /// write none.
    pub verify_backup_table_data: bool,
    /// `WITH encryption_passphrase = …` / `kms = …`: what unlocks an encrypted chain.
    pub keys: KeySource,
}

impl RestoreOptions {
    /// Options with defaults for everything but targets and source.
    pub fn new(targets: Targets, source: Source) -> Self {
        RestoreOptions {
            targets,
            source,
            as_of: None,
            into_db: None,
            new_db_name: None,
            skip_missing_foreign_keys: false,
            skip_missing_views: false,
            skip_missing_sequences: false,
            schema_only: false,
            verify_backup_table_data: false,
            keys: KeySource::default(),
        }
    }
}

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
}

/// A restore plan: a checked chain, the layers that serve `time`, and the descriptors in
/// force then.
#[derive(Debug)]
pub struct Plan {
    /// The chain and its stores.
    pub chain: OpenChain,
    /// How many layers (from the full backup) are read.
    pub layers: usize,
    /// The time restored.
    pub time: Timestamp,
    /// Descriptors in force at `time` (public ones; dropped objects absent).
    pub descriptors: Vec<pb::Descriptor>,
    /// The fingerprints recorded by the layer ending exactly at `time`, if any.
    pub fingerprints: Option<Vec<pb::TableFingerprint>>,
}

/// Opens the chain a restore (or dump, or verify) reads (an unencrypted one).
pub fn open_source(source: &Source, opts: &OpenOptions) -> Result<OpenChain> {
    open_source_keyed(source, opts, &KeySource::default())
}

/// Opens the chain a restore (or dump, or verify) reads, unlocking its key from `keys`
/// when it is encrypted.
pub fn open_source_keyed(
    source: &Source,
    opts: &OpenOptions,
    keys: &KeySource,
) -> Result<OpenChain> {
    match source {
        Source::Collection {
            uri,
            subdir,
            incremental_location,
        } => {
            let coll = Collection::open(uri, incremental_location.as_deref(), opts)?;
            let full = coll.resolve_subdir(subdir)?;
            coll.open_chain_keyed(&full, keys)
        }
        Source::Layers(uris) => OpenChain::from_uris_keyed(uris, opts, keys),
    }
}

/// Checks that the layers form one chain: the first is a full backup; each later layer
/// belongs to the same chain, records the previous layer's manifest hash (and path), and
/// starts exactly where the previous one ended.
pub fn check_chain(chain: &OpenChain) -> Result<()> {
    let layers = &chain.chain.layers;
    let Some(first) = layers.first() else {
        return Err(Error::Collection("the backup has no layers".into()));
    };
    if first.manifest.previous.is_some() {
        return Err(Error::Collection(format!(
            "{} is an incremental backup: a restore needs its chain from the full backup",
            chain.layer_name(0)
        )));
    }
    for (i, pair) in layers.windows(2).enumerate() {
        let [p, l] = pair else { continue };
        let (pname, name) = (chain.layer_name(i), chain.layer_name(i + 1));
        if l.manifest.chain_id != first.manifest.chain_id {
            return Err(Error::Collection(format!(
                "layer {name} belongs to another backup chain (chain id {}, expected {} of {}): a layer from another backup was spliced in",
                hex::encode(&l.manifest.chain_id),
                hex::encode(&first.manifest.chain_id),
                chain.layer_name(0)
            )));
        }
        let Some(prev) = &l.manifest.previous else {
            return Err(Error::Collection(format!(
                "layer {name} is a full backup, but it is listed after {pname} as an incremental"
            )));
        };
        if prev.manifest_sha256 != p.manifest_sha256 {
            return Err(Error::Collection(format!(
                "layer {name} was taken on top of a different backup than {pname}: it records predecessor manifest SHA-256 {}, but {pname}/{} hashes to {} (a layer was replaced or reordered)",
                hex::encode(&prev.manifest_sha256),
                layout::MANIFEST,
                hex::encode(p.manifest_sha256)
            )));
        }
        if !p.dir.is_empty() && prev.path != p.dir {
            return Err(Error::Collection(format!(
                "layer {name} records predecessor {:?}, but the layer before it is {pname}",
                prev.path
            )));
        }
        let (start, pend) = (
            Timestamp::from_pb(l.manifest.start_time),
            Timestamp::from_pb(p.manifest.end_time),
        );
        if start != pend {
            return Err(Error::Collection(format!(
                "chain gap: layer {name} starts at {start} but the layer before it, {pname}, ends at {pend} (a layer is missing or out of order)"
            )));
        }
    }
    Ok(())
}

fn wall_time(ts: Timestamp) -> String {
    vouch_format::time::format_sql_tz(ts)
}

/// How many layers (from the first) serve a restore at `t`: CockroachDB's rules. `t` must
/// be a layer's end time, or inside a revision-history layer's window after its revision
/// start.
pub fn select_layers(chain: &OpenChain, t: Timestamp) -> Result<usize> {
    let layers = &chain.chain.layers;
    for (i, l) in layers.iter().enumerate() {
        let (start, end) = (
            Timestamp::from_pb(l.manifest.start_time),
            Timestamp::from_pb(l.manifest.end_time),
        );
        if !(start < t && t <= end) {
            continue;
        }
        if t != end {
            if l.manifest.mvcc_filter != pb::MvccFilter::All as i32 {
                const PREFIX: &str = "invalid RESTORE timestamp: restoring to arbitrary time requires that BACKUP for requested time be created with 'revision_history' option.";
                return Err(Error::Usage(
                    match i.checked_sub(1).and_then(|p| layers.get(p)) {
                        None => format!("{PREFIX} nearest backup time is {}", wall_time(end)),
                        Some(p) => format!(
                            "{PREFIX} nearest BACKUP times are {} or {}",
                            wall_time(Timestamp::from_pb(p.manifest.end_time)),
                            wall_time(end)
                        ),
                    },
                ));
            }
            let rev_start = Timestamp::from_pb(l.manifest.revision_start_time);
            if t <= rev_start {
                return Err(Error::Usage(format!(
                    "invalid RESTORE timestamp: BACKUP for requested time only has revision history from {}",
                    wall_time(rev_start)
                )));
            }
        }
        return Ok(i + 1);
    }
    Err(Error::Usage(
        "invalid RESTORE timestamp: supplied backups do not cover requested time".into(),
    ))
}

fn is_public(d: &pb::Descriptor) -> bool {
    d.state == pb::DescriptorState::Public as i32
}

/// Descriptors in force at `t`, given the layers that serve it.
fn descriptors_at(layers: &[crate::Layer], t: Timestamp) -> Vec<pb::Descriptor> {
    let Some((last, before)) = layers.split_last() else {
        return Vec::new();
    };
    if t == Timestamp::from_pb(last.manifest.end_time) {
        return last
            .manifest
            .descriptors
            .iter()
            .filter(|d| is_public(d))
            .cloned()
            .collect();
    }
    let mut map: BTreeMap<u64, pb::Descriptor> = before
        .last()
        .map(|p| {
            p.manifest
                .descriptors
                .iter()
                .map(|d| (d.id, d.clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut changes: Vec<&pb::DescriptorRevision> = last
        .manifest
        .descriptor_changes
        .iter()
        .filter(|r| Timestamp::from_pb(r.time) <= t)
        .collect();
    changes.sort_by_key(|r| Timestamp::from_pb(r.time));
    for r in changes {
        match &r.descriptor {
            Some(d) => {
                map.insert(r.id, d.clone());
            }
            None => {
                map.remove(&r.id);
            }
        }
    }
    map.into_values().filter(is_public).collect()
}

fn span_key(s: &pb::Span) -> (&[u8], &[u8]) {
    (s.start.as_slice(), s.end.as_slice())
}

/// Checks that every span a layer covers was either covered by the layer before it or
/// introduced by it (covered from time 0), as CockroachDB's coverage check does.
fn check_coverage(chain: &OpenChain, n: usize) -> Result<()> {
    let layers = &chain.chain.layers;
    for i in 1..n {
        let (Some(p), Some(l)) = (layers.get(i - 1), layers.get(i)) else {
            continue;
        };
        let prev: BTreeSet<(&[u8], &[u8])> = p.manifest.spans.iter().map(span_key).collect();
        let intro: BTreeSet<(&[u8], &[u8])> =
            l.manifest.introduced_spans.iter().map(span_key).collect();
        for s in &l.manifest.spans {
            if !prev.contains(&span_key(s)) && !intro.contains(&span_key(s)) {
                return Err(Error::Collection(format!(
                    "no backup covers time [{},{}) for range [{}, {}) of layer {}: the layer before it does not cover the span and this layer does not introduce it (backups listed out of order?)",
                    Timestamp::MIN,
                    Timestamp::from_pb(l.manifest.start_time),
                    hex::encode(&s.start),
                    hex::encode(&s.end),
                    chain.layer_name(i)
                )));
            }
        }
    }
    Ok(())
}

/// Plans a restore at `as_of` (default: the end of the newest layer): checks the chain and
/// its coverage, selects the layers and rebuilds the descriptors in force.
pub fn plan(chain: OpenChain, as_of: Option<Timestamp>) -> Result<Plan> {
    check_chain(&chain)?;
    let newest = chain
        .chain
        .last()
        .map(|l| Timestamp::from_pb(l.manifest.end_time))
        .unwrap_or_default();
    let time = as_of.unwrap_or(newest);
    let n = select_layers(&chain, time)?;
    check_coverage(&chain, n)?;
    let used = chain.chain.layers.get(..n).unwrap_or_default();
    let descriptors = descriptors_at(used, time);
    let fingerprints = used
        .last()
        .filter(|l| Timestamp::from_pb(l.manifest.end_time) == time)
        .map(|l| l.manifest.fingerprints.clone());
    Ok(Plan {
        chain,
        layers: n,
        time,
        descriptors,
        fingerprints,
    })
}

/// One entry in the merge: the head of one file's iterator.
struct Head {
    key: Vec<u8>,
    value: Vec<u8>,
    /// Layer index (newer layers win ties).
    layer: usize,
    /// Which iterator.
    src: usize,
}

impl PartialEq for Head {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Head {
    // BinaryHeap is a max-heap: the smallest key (then the newest layer) must be greatest.
    fn cmp(&self, o: &Self) -> Ordering {
        o.key
            .cmp(&self.key)
            .then(self.layer.cmp(&o.layer))
            .then(o.src.cmp(&self.src))
    }
}

/// Length of the MVCC timestamp suffix (`0x00 0x01` and the 12 timestamp bytes).
const MVCC_SUFFIX: usize = 2 + mvcc::TS_LEN;

/// What a table scan read.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanStats {
    /// Stored bytes of the files opened.
    pub file_bytes: u64,
    /// Entries (versions) read.
    pub entries: u64,
    /// Live keys emitted.
    pub emitted: u64,
}

impl Plan {
    /// The descriptors in force at the plan's time, as a catalog.
    pub fn catalog(&self) -> Catalog {
        Catalog::new(self.descriptors.iter().cloned())
    }

    /// The layers read.
    pub fn used_layers(&self) -> &[crate::Layer] {
        self.chain
            .chain
            .layers
            .get(..self.layers)
            .unwrap_or_default()
    }

    /// Stored bytes of the files holding table `table_id` in the layers read.
    pub fn table_file_bytes(&self, table_id: u64) -> u64 {
        let (s, e) = table_span(table_id);
        self.used_layers()
            .iter()
            .flat_map(|l| l.manifest.files.iter())
            .filter(|f| overlaps(f, &s, &e))
            .map(|f| f.size)
            .sum()
    }

    /// The layers read, with their stores.
    pub fn layer_refs(&self) -> Result<Vec<LayerRef<'_>>> {
        self.used_layers()
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                let store = self
                    .chain
                    .store(i)
                    .ok_or_else(|| Error::Collection(format!("no store for layer {i}")))?;
                Ok(LayerRef {
                    store,
                    layer,
                    key: self.chain.chain.key.as_deref(),
                })
            })
            .collect()
    }

    /// The newest live version at or before the plan's time of every key of table
    /// `table_id`, in key order: one k-way merge over the files of the layers read (memory:
    /// one block per file). `f` gets the user key and the value payload.
    pub fn scan_table(
        &self,
        table_id: u64,
        progress: &mut dyn FnMut(u64),
        mut f: impl FnMut(&[u8], &[u8]) -> Result<()>,
    ) -> Result<ScanStats> {
        let (s, e) = table_span(table_id);
        let time = self.time;
        // The user-key part (escaped) of the last key decided.
        let mut decided: Option<Vec<u8>> = None;
        let mut emitted = 0u64;
        let layers = self.layer_refs()?;
        let mut stats = merge_versions(&layers, table_id, progress, |v| {
            if v.ts() > time || decided.as_deref() == Some(v.user_part()) {
                return Ok(());
            }
            decided = Some(v.user_part().to_vec());
            let (user, payload) = v.decode()?;
            if let Some(payload) = payload {
                if user.as_slice() < s.as_slice() || user.as_slice() >= e.as_slice() {
                    return Err(Error::Collection(format!(
                        "{}: key {} is outside table {table_id}'s span",
                        v.file,
                        hex::encode(&user)
                    )));
                }
                emitted += 1;
                f(&user, payload)?;
            }
            Ok(())
        })?;
        stats.emitted = emitted;
        Ok(stats)
    }
}

/// A layer and the store it is read from, for [`merge_versions`].
#[derive(Debug, Clone, Copy)]
pub struct LayerRef<'a> {
    /// The store holding the layer's directory.
    pub store: &'a dyn Store,
    /// The layer (its directory relative to the store, and its manifest).
    pub layer: &'a crate::Layer,
    /// The chain's data key, when it is encrypted.
    pub key: Option<&'a DataKey>,
}

/// One stored version met by [`merge_versions`].
#[derive(Debug, Clone, Copy)]
pub struct Version<'a> {
    /// The MVCC-encoded key as stored.
    pub mvcc_key: &'a [u8],
    /// The MVCC value as stored (checksum, tag, payload).
    pub stored_value: &'a [u8],
    /// Index of the layer the version comes from.
    pub layer: usize,
    /// The file it comes from (URI and path), for messages.
    pub file: &'a str,
}

impl<'a> Version<'a> {
    /// The encoded user-key part: equal for every version of one user key.
    pub fn user_part(&self) -> &'a [u8] {
        self.mvcc_key
            .get(..self.mvcc_key.len().saturating_sub(MVCC_SUFFIX))
            .unwrap_or_default()
    }

    /// The version's timestamp (the minimum if the key is too short to hold one; such a
    /// key fails [`Version::decode`]).
    pub fn ts(&self) -> Timestamp {
        self.mvcc_key
            .len()
            .checked_sub(mvcc::TS_LEN)
            .and_then(|at| self.mvcc_key.get(at..))
            .and_then(|b| {
                let wall = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
                let logical = u32::from_be_bytes(b.get(8..12)?.try_into().ok()?);
                Some(Timestamp::new(!wall, !logical))
            })
            .unwrap_or(Timestamp::MIN)
    }

    /// The user key and the payload (`None` for a tombstone), the value's CRC32C checked.
    pub fn decode(&self) -> Result<(Vec<u8>, Option<&'a [u8]>)> {
        let (user, _) = ctx(mvcc::decode_key(self.mvcc_key), self.file)?;
        let v = ctx(
            mvcc::decode_value(self.mvcc_key, self.stored_value),
            self.file,
        )?;
        Ok((
            user,
            match v {
                mvcc::Value::Live(p) => Some(p),
                mvcc::Value::Tombstone => None,
            },
        ))
    }
}

/// Every stored version of table `table_id` in the first `layers` layers of `chain`, in
/// MVCC order (user key ascending, timestamp descending; on equal keys the newer layer
/// first): one k-way merge over the files, memory one block per file. Each file's size is
/// checked against its manifest entry first; keys out of order within a file are an error.
/// `progress` gets the stored bytes of the files finished so far.
pub fn merge_versions(
    layers: &[LayerRef<'_>],
    table_id: u64,
    progress: &mut dyn FnMut(u64),
    mut f: impl FnMut(Version<'_>) -> Result<()>,
) -> Result<ScanStats> {
    let (s, e) = table_span(table_id);
    let mut stats = ScanStats::default();
    let mut readers = Vec::new();
    for (i, lr) in layers.iter().enumerate() {
        let (store, l) = (lr.store, lr.layer);
        for file in l.manifest.files.iter().filter(|x| overlaps(x, &s, &e)) {
            let path = join(&l.dir, &file.path);
            let name = format!("{}/{path}", store.uri().trim_end_matches('/'));
            let size = store.size(&path)?.ok_or_else(|| {
                Error::Collection(format!(
                    "data file {name} is missing (listed in layer {})",
                    join(store.uri(), &l.dir)
                ))
            })?;
            if size != file.size {
                return Err(Error::Collection(format!(
                    "data file {name} is {size} bytes, but its manifest records {}",
                    file.size
                )));
            }
            let r = open_data_file(
                store,
                &l.dir,
                &file.path,
                size,
                lr.key.map(|k| (k, l.manifest.backup_id.as_slice())),
            )?;
            readers.push((i, name, r));
            stats.file_bytes += size;
        }
    }
    let mut iters = Vec::with_capacity(readers.len());
    for (layer, name, r) in &readers {
        iters.push((*layer, name.as_str(), r.iter()));
    }
    let mut heap = BinaryHeap::with_capacity(iters.len());
    for (src, (layer, name, it)) in iters.iter_mut().enumerate() {
        if let Some((k, v)) = ctx(it.next_entry(), *name)? {
            heap.push(Head {
                key: k.to_vec(),
                value: v.to_vec(),
                layer: *layer,
                src,
            });
        }
    }
    let mut done_bytes = 0u64;
    while let Some(mut head) = heap.pop() {
        stats.entries += 1;
        let name = iters.get(head.src).map_or("", |x| x.1);
        if head.key.len() < MVCC_SUFFIX {
            return Err(Error::Collection(format!(
                "{name}: key {} is too short",
                hex::encode(&head.key)
            )));
        }
        f(Version {
            mvcc_key: &head.key,
            stored_value: &head.value,
            layer: head.layer,
            file: name,
        })?;
        let Some((_, _, it)) = iters.get_mut(head.src) else {
            continue;
        };
        match ctx(it.next_entry(), name)? {
            Some((k, v)) => {
                if k <= head.key.as_slice() {
                    return Err(Error::Collection(format!(
                        "{name}: keys out of order at {}",
                        hex::encode(k)
                    )));
                }
                head.key.clear();
                head.key.extend_from_slice(k);
                head.value.clear();
                head.value.extend_from_slice(v);
                heap.push(head);
            }
            None => {
                if let Some((_, _, r)) = readers.get(head.src) {
                    done_bytes += r.file_size();
                    progress(done_bytes);
                }
            }
        }
    }
    Ok(stats)
}

fn overlaps(f: &pb::File, s: &[u8], e: &[u8]) -> bool {
    f.span
        .as_ref()
        .is_some_and(|sp| sp.start.as_slice() < e && s < sp.end.as_slice())
}

fn kind_name(d: &pb::Descriptor) -> &'static str {
    Kind::of(d).map_or("object", Kind::name)
}

fn in_system_db(d: &pb::Descriptor) -> bool {
    d.id == SYSTEM_DATABASE_ID || parents(d).0 == SYSTEM_DATABASE_ID
}

fn resolve_error(what: String) -> Error {
    Error::Usage(format!(
        "failed to resolve targets in the BACKUP location specified by the RESTORE stmt, use SHOW BACKUP to find correct targets: {what}"
    ))
}

/// What is restored, before ids are assigned.
#[derive(Debug, Default)]
struct Selection {
    /// Backup descriptor ids restored as new objects.
    ids: BTreeSet<u64>,
    /// Foreign keys dropped (`skip_missing_foreign_keys`): (table id, constraint name).
    dropped_fks: BTreeSet<(u64, String)>,
    /// Restore `system.users` rows into the cluster's own `system.users`.
    system_users: bool,
    /// Databases of the target cluster replaced by a cluster restore (empty defaults).
    replaced: Vec<u64>,
}

fn select(plan: &Plan, bcat: &Catalog, tcat: &Catalog, opts: &RestoreOptions) -> Result<Selection> {
    let mut sel = Selection::default();
    let newest = plan.used_layers().last().map(|l| &l.manifest);
    match &opts.targets {
        Targets::Cluster => {
            if !newest.is_some_and(|m| m.is_full_cluster) {
                return Err(Error::Usage(
                    "full cluster RESTORE can only be used on full cluster BACKUP files".into(),
                ));
            }
            let mut blocking = Vec::new();
            for d in tcat.iter().filter(|d| !in_system_db(d)) {
                let replaceable = Kind::of(d) == Some(Kind::Database)
                    && matches!(d.name.as_str(), "defaultdb" | "postgres")
                    && tcat
                        .children(d.id)
                        .iter()
                        .all(|c| Kind::of(c) == Some(Kind::Schema));
                let child_of_replaceable = Kind::of(d) == Some(Kind::Schema)
                    && tcat.get(parents(d).0).is_some_and(|db| {
                        matches!(db.name.as_str(), "defaultdb" | "postgres")
                            && tcat
                                .children(db.id)
                                .iter()
                                .all(|c| Kind::of(c) == Some(Kind::Schema))
                    });
                if replaceable {
                    sel.replaced.push(d.id);
                    sel.replaced
                        .extend(tcat.children(d.id).iter().map(|c| c.id));
                } else if !child_of_replaceable {
                    let (db, _) = tcat.qualifiers(d);
                    blocking.push(if db.is_empty() {
                        d.name.clone()
                    } else {
                        format!("{db}.{}", d.name)
                    });
                }
            }
            if !blocking.is_empty() {
                return Err(Error::Usage(format!(
                    "full cluster restore can only be run on a cluster with no tables or databases but found {} descriptors: {}",
                    blocking.len(),
                    blocking.join(", ")
                )));
            }
            sel.ids
                .extend(bcat.iter().filter(|d| !in_system_db(d)).map(|d| d.id));
            sel.system_users = bcat.get(USERS_TABLE_ID).is_some();
        }
        Targets::Databases(names) => {
            for n in names {
                let db = bcat
                    .database(n)
                    .ok_or_else(|| resolve_error(format!("database \"{n}\" not found")))?;
                let complete = newest
                    .is_some_and(|m| m.is_full_cluster || m.complete_database_ids.contains(&db.id));
                if !complete {
                    return Err(Error::Usage(
                        "cannot RESTORE DATABASE from a backup of individual tables (use SHOW BACKUP to determine available tables)".into(),
                    ));
                }
                if db.id == SYSTEM_DATABASE_ID {
                    return Err(Error::Usage(
                        "cannot RESTORE DATABASE system: restore the tables you need with into_db"
                            .into(),
                    ));
                }
                sel.ids.insert(db.id);
                sel.ids.extend(bcat.children(db.id).iter().map(|d| d.id));
            }
        }
        Targets::Tables(names) => {
            for (dbn, tn) in names {
                let t = bcat
                    .database(dbn)
                    .and_then(|db| bcat.object(db.id, tn))
                    .filter(|d| matches!(Kind::of(d), Some(Kind::Table | Kind::View)))
                    .ok_or_else(|| resolve_error(format!("table \"{dbn}.{tn}\" does not exist")))?;
                sel.ids.insert(t.id);
                if let Some(tt) = schema::table(t) {
                    sel.ids.extend(
                        tt.columns
                            .iter()
                            .filter(|c| c.enum_type_id != 0)
                            .map(|c| c.enum_type_id),
                    );
                }
            }
        }
    }
    // Dependency rules (the BACKUP page's object dependencies).
    loop {
        let mut removed = false;
        let ids: Vec<u64> = sel.ids.iter().copied().collect();
        for id in ids {
            let Some(d) = bcat.get(id) else { continue };
            if let Some(pb::descriptor::Kind::View(v)) = &d.kind {
                if let Some(dep) = v.depends_on.iter().find(|x| !sel.ids.contains(x)) {
                    if opts.skip_missing_views {
                        sel.ids.remove(&id);
                        removed = true;
                        continue;
                    }
                    let name = bcat
                        .get(*dep)
                        .map_or_else(|| dep.to_string(), |x| x.name.clone());
                    return Err(Error::Usage(format!(
                        "cannot restore view \"{}\" without restoring referenced table \"{name}\" (or \"skip_missing_views\" option)",
                        d.name
                    )));
                }
            }
            if let Some(t) = schema::table(d) {
                for fk in &t.foreign_keys {
                    if sel.ids.contains(&fk.referenced_table_id) {
                        continue;
                    }
                    if opts.skip_missing_foreign_keys {
                        sel.dropped_fks.insert((id, fk.name.clone()));
                        continue;
                    }
                    let name = bcat
                        .get(fk.referenced_table_id)
                        .map_or_else(|| fk.referenced_table_id.to_string(), |x| x.name.clone());
                    return Err(Error::Usage(format!(
                        "cannot restore table \"{}\" without referenced table \"{name}\" (or \"skip_missing_foreign_keys\" option)",
                        d.name
                    )));
                }
            }
        }
        if !removed {
            break;
        }
    }
    Ok(sel)
}

/// New ids and parents for what is restored.
#[derive(Debug, Default)]
struct Mapping {
    /// Backup id → cluster id.
    ids: BTreeMap<u64, u64>,
    /// Backup database id → name in the cluster.
    db_names: BTreeMap<u64, String>,
    /// Descriptors to write.
    descriptors: Vec<pb::Descriptor>,
}

fn assign(
    cluster: Option<&Cluster>,
    sel: &Selection,
    bcat: &Catalog,
    tcat: &Catalog,
    opts: &RestoreOptions,
) -> Result<Mapping> {
    let mut m = Mapping::default();
    // Parents that already exist in the cluster (table restores).
    let mut existing_parent: BTreeMap<u64, (u64, u64, String)> = BTreeMap::new();
    let mut fresh: Vec<u64> = Vec::new();
    for id in &sel.ids {
        let Some(d) = bcat.get(*id) else { continue };
        match Kind::of(d) {
            Some(Kind::Database) => {
                let name = opts.new_db_name.clone().unwrap_or_else(|| d.name.clone());
                if tcat
                    .database(&name)
                    .is_some_and(|x| !sel.replaced.contains(&x.id))
                {
                    return Err(Error::Usage(format!("database \"{name}\" already exists")));
                }
                m.db_names.insert(d.id, name);
                fresh.push(d.id);
            }
            Some(Kind::Schema) => fresh.push(d.id),
            _ => {
                let (db, _) = parents(d);
                if !sel.ids.contains(&db) && !existing_parent.contains_key(&db) {
                    let name = opts.into_db.clone().unwrap_or_else(|| {
                        bcat.get(db).map(|x| x.name.clone()).unwrap_or_default()
                    });
                    let tdb = tcat.database(&name).ok_or_else(|| {
                        Error::Usage(format!(
                            "a database named \"{name}\" needs to exist to restore {} \"{}\" (create it, or choose another with into_db)",
                            kind_name(d),
                            d.name
                        ))
                    })?;
                    let tsc = tcat.schema(tdb.id, "public").ok_or_else(|| {
                        Error::Usage(format!("database \"{name}\" has no public schema"))
                    })?;
                    existing_parent.insert(db, (tdb.id, tsc.id, name));
                }
                if let Some((tdb, _, dbname)) = existing_parent.get(&db) {
                    if let Some(other) = tcat.object(*tdb, &d.name) {
                        // An equal enum type already there is reused.
                        let same_type = matches!(
                            (&other.kind, &d.kind),
                            (Some(pb::descriptor::Kind::EnumType(a)), Some(pb::descriptor::Kind::EnumType(b)))
                                if a.members == b.members
                        );
                        if same_type {
                            m.ids.insert(d.id, other.id);
                            continue;
                        }
                        return Err(Error::Usage(format!(
                            "relation \"{dbname}.public.{}\" already exists",
                            d.name
                        )));
                    }
                }
                fresh.push(d.id);
            }
        }
    }
    let n = fresh.len() as u64;
    if n > 0 {
        // A dry run numbers the new objects after everything the target has.
        let first = match cluster {
            Some(c) => c.allocate_ids(n)?,
            None => tcat.iter().map(|d| d.id).max().unwrap_or(0) + 1,
        };
        for (i, id) in fresh.iter().enumerate() {
            m.ids.insert(*id, first + i as u64);
        }
    }
    for (old_db, (tdb, tsc, _)) in &existing_parent {
        m.ids.insert(*old_db, *tdb);
        // Every schema of that database maps to the target's public schema.
        for s in bcat
            .children(*old_db)
            .iter()
            .filter(|c| Kind::of(c) == Some(Kind::Schema))
        {
            m.ids.entry(s.id).or_insert(*tsc);
        }
    }
    let map = |id: u64| m.ids.get(&id).copied();
    let mut out = Vec::new();
    for id in &fresh {
        let Some(d) = bcat.get(*id) else { continue };
        let mut d = d.clone();
        d.id = map(*id).unwrap_or(d.id);
        d.modification_time = None;
        d.state = pb::DescriptorState::Public as i32;
        if let Some(name) = m.db_names.get(id) {
            d.name = name.clone();
        }
        let remap = |x: &mut u64| -> Result<()> {
            *x = map(*x).ok_or_else(|| {
                Error::Collection(format!(
                    "descriptor {id} refers to {x}, which is not restored"
                ))
            })?;
            Ok(())
        };
        use pb::descriptor::Kind as K;
        match &mut d.kind {
            Some(K::Schema(s)) => remap(&mut s.parent_database_id)?,
            Some(K::EnumType(t)) => {
                remap(&mut t.parent_database_id)?;
                remap(&mut t.parent_schema_id)?;
            }
            Some(K::View(v)) => {
                remap(&mut v.parent_database_id)?;
                remap(&mut v.parent_schema_id)?;
                for dep in &mut v.depends_on {
                    remap(dep)?;
                }
            }
            Some(K::Table(t)) => {
                remap(&mut t.parent_database_id)?;
                remap(&mut t.parent_schema_id)?;
                t.foreign_keys
                    .retain(|fk| !sel.dropped_fks.contains(&(*id, fk.name.clone())));
                for fk in &mut t.foreign_keys {
                    remap(&mut fk.referenced_table_id)?;
                }
                for c in &mut t.columns {
                    if c.enum_type_id != 0 {
                        remap(&mut c.enum_type_id)?;
                    }
                }
            }
            _ => {}
        }
        out.push(d);
    }
    m.descriptors = out;
    Ok(m)
}

/// What a restore would do, found without writing anything.
#[derive(Debug, Clone, Default)]
pub struct DryRun {
    /// Qualified names of the objects that would be restored.
    pub objects: Vec<String>,
    /// Foreign keys that would be dropped (`skip_missing_foreign_keys`): `table.constraint`.
    pub dropped_foreign_keys: Vec<String>,
}

/// Plans a restore of `plan` into a cluster whose catalog is `target` (an empty cluster's
/// when there is none) with `opts`, running every check a restore runs before writing:
/// options, targets, dependency rules, name collisions. Writes nothing.
pub fn dry_run(plan: &Plan, target: &Catalog, opts: &RestoreOptions) -> Result<DryRun> {
    check_options(opts)?;
    let bcat = plan.catalog();
    let sel = select(plan, &bcat, target, opts)?;
    let mapping = assign(None, &sel, &bcat, target, opts)?;
    let names = Catalog::new(
        target
            .iter()
            .cloned()
            .chain(mapping.descriptors.iter().cloned()),
    );
    let mut out = DryRun {
        objects: qualified(&names, &mapping.descriptors),
        ..DryRun::default()
    };
    out.dropped_foreign_keys = sel
        .dropped_fks
        .iter()
        .map(|(id, name)| {
            let t = bcat
                .get(*id)
                .map_or_else(|| id.to_string(), |d| d.name.clone());
            format!("{t}.{name}")
        })
        .collect();
    Ok(out)
}

/// `db`, `db.schema` or `db.schema.object` of each descriptor, named in `cat`.
fn qualified(cat: &Catalog, descs: &[pb::Descriptor]) -> Vec<String> {
    descs
        .iter()
        .map(|d| {
            let (db, sc) = cat.qualifiers(d);
            match Kind::of(d) {
                Some(Kind::Database) => d.name.clone(),
                Some(Kind::Schema) => format!("{db}.{}", d.name),
                _ => format!("{db}.{sc}.{}", d.name),
            }
        })
        .collect()
}

fn check_options(opts: &RestoreOptions) -> Result<()> {
    if opts.verify_backup_table_data && !opts.schema_only {
        return Err(Error::Usage(
            "to set the verify_backup_table_data option, the schema_only option must be set".into(),
        ));
    }
    if opts.new_db_name.is_some() && !matches!(&opts.targets, Targets::Databases(v) if v.len() == 1)
    {
        return Err(Error::Usage(
            "RESTORE new_db_name can only be used for RESTORE DATABASE with a single target database".into(),
        ));
    }
    if opts.into_db.is_some() && !matches!(opts.targets, Targets::Tables(_)) {
        return Err(Error::Usage(
            "cannot use \"into_db\" option when restoring database(s)".into(),
        ));
    }
    Ok(())
}

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

/// Checks one entry of table `d` decodes: its key against its index and, for the primary
/// index, its row.
fn check_entry(
    d: &pb::Descriptor,
    layouts: &[schema::IndexLayout],
    user: &[u8],
    payload: &[u8],
) -> Result<()> {
    let (_, index, _) = keys::decode_table_prefix(user)?;
    let l = layouts
        .iter()
        .find(|l| u64::from(l.id) == index)
        .ok_or_else(|| {
            Error::Collection(format!(
                "table \"{}\": key {} is in index {index}, which the table does not have",
                d.name,
                hex::encode(user)
            ))
        })?;
    let (_, _, datums) = keys::decode_index_key(user, &l.key_types()).map_err(|e| {
        Error::Collection(format!(
            "table \"{}\" index {}: key {} does not decode: {e}",
            d.name,
            l.name,
            hex::encode(user)
        ))
    })?;
    if l.primary {
        l.assemble_row(d, &datums, payload).map_err(|e| {
            Error::Collection(format!(
                "table \"{}\": row at key {} does not decode: {e}",
                d.name,
                hex::encode(user)
            ))
        })?;
    }
    Ok(())
}

/// Runs a RESTORE into `cluster`.
pub fn restore(
    cluster: &Cluster,
    opts: &RestoreOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<RestoreResult> {
    check_options(opts)?;
    let store_opts = crate::collection::open_options(Some(cluster.extern_dir()));
    let chain = open_source_keyed(&opts.source, &store_opts, &opts.keys)?;
    let now = cluster.now();
    let as_of = opts
        .as_of
        .as_deref()
        .map(|t| ctx(vouch_format::time::parse_as_of(t, now), "AS OF SYSTEM TIME"))
        .transpose()?;
    let plan = plan(chain, as_of)?;
    let bcat = plan.catalog();
    let tcat = cluster.catalog(now)?;
    let sel = select(&plan, &bcat, &tcat, opts)?;
    let mapping = assign(Some(cluster), &sel, &bcat, &tcat, opts)?;

    // Tables whose rows are read: (backup descriptor, cluster id).
    let mut data_tables: Vec<(&pb::Descriptor, u64)> = Vec::new();
    let reads_data = !opts.schema_only || opts.verify_backup_table_data;
    for d in bcat.tables().filter(|_| reads_data) {
        let excluded = schema::table(d).is_some_and(|t| t.exclude_data_from_backup);
        if excluded {
            continue;
        }
        if sel.ids.contains(&d.id) {
            if let Some(new) = mapping.ids.get(&d.id) {
                data_tables.push((d, *new));
            }
        } else if d.id == USERS_TABLE_ID && sel.system_users {
            data_tables.push((d, USERS_TABLE_ID));
        }
    }
    let total: u64 = data_tables
        .iter()
        .map(|(d, _)| plan.table_file_bytes(d.id))
        .sum();
    progress(Progress::Start { total_bytes: total });

    let kv = cluster.kv();
    let data_ts = kv.now();
    let mut result = RestoreResult {
        job_id: crate::new_job_id(),
        time: plan.time,
        ..RestoreResult::default()
    };
    let write = !opts.schema_only;
    let mut read_before = 0u64;
    let mut computed: BTreeMap<(u64, u64), Fingerprint> = BTreeMap::new();
    for (d, new_id) in &data_tables {
        let layouts = index_layouts(d)?;
        let primary = layouts
            .iter()
            .find(|l| l.primary)
            .map_or(1, |l| u64::from(l.id));
        let mut batch = Batch::default();
        let mut batch_bytes = 0usize;
        let mut key = Vec::new();
        let mut seen_users: BTreeSet<Vec<u8>> = BTreeSet::new();
        let stats = plan.scan_table(
            d.id,
            &mut |b| {
                progress(Progress::Read {
                    bytes: read_before + b,
                })
            },
            |user, payload| {
                if opts.verify_backup_table_data {
                    check_entry(d, &layouts, user, payload)?;
                    let (_, index, n) = keys::decode_table_prefix(user)?;
                    computed
                        .entry((d.id, index))
                        .or_default()
                        .add_suffix(user.get(n..).unwrap_or_default(), payload);
                }
                let index = rewrite_key(user, *new_id, &mut key)?;
                if index == primary {
                    result.rows += 1;
                } else {
                    result.index_entries += 1;
                }
                result.bytes += (user.len() + payload.len()) as u64;
                if write {
                    if *new_id == USERS_TABLE_ID {
                        seen_users.insert(key.clone());
                    }
                    batch.put(&key, payload);
                    batch_bytes += key.len() + payload.len();
                    if batch_bytes >= BATCH_BYTES {
                        kv.write_at(&batch, data_ts)?;
                        batch = Batch::default();
                        batch_bytes = 0;
                    }
                }
                Ok(())
            },
        )?;
        read_before += stats.file_bytes;
        if write && *new_id == USERS_TABLE_ID {
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
    let published = cluster.put_descriptors(&mapping.descriptors, Some(extra))?;
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
                return Err(Error::Collection(format!(
                    "restore failed: fingerprint mismatch for {db}.{} index {}: the backup records {:016x} over {} entries, the restored data has {:016x} over {} entries",
                    d.name, l.name, r.fingerprint, r.rows, got.hash, got.entries
                )));
            }
        }
    }
    Ok(n)
}
