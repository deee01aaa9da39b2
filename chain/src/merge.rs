//! The k-way merge over a chain's data files: every stored version of a table across the
//! layers read, in MVCC order, one block per file in memory. Restore, dump and verify read
//! table data through it.

use std::cmp::Ordering;
use std::collections::binary_heap::PeekMut;
use std::collections::BinaryHeap;

use vouch_format::manifest::files::{FileCounts, LayerWindow};
use vouch_format::manifest::pb;
use vouch_format::mvcc::{self, Timestamp};
use vouch_format::schema::Catalog;
use vouch_store::Store;

use crate::base::join;
use crate::plan::Plan;
use crate::sealed::open_data_file;
use crate::{ctx, Error, ErrorKind, Result};
use vouch_format::envelope::DataKey;

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
        let (s, e) = vouch_format::keys::table_span(table_id);
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
                let store = self.chain.store(i).ok_or_else(|| {
                    Error::new(ErrorKind::Usage, format!("no store for layer {i}"))
                })?;
                Ok(LayerRef {
                    store,
                    layer,
                    key: self.chain.chain.key.as_deref(),
                    localities: self.chain.parts_of(i),
                    stores: self.chain.all_stores(),
                })
            })
            .collect()
    }

    /// The newest live version at or before the plan's time of every key of table
    /// `table_id`, in key order: one k-way merge over the files of the layers read (memory:
    /// one block per file). `f` gets the user key and the value payload.
    pub fn scan_table<E: From<Error>>(
        &self,
        table_id: u64,
        progress: &mut dyn FnMut(u64),
        mut f: impl FnMut(&[u8], &[u8]) -> Result<(), E>,
    ) -> Result<ScanStats, E> {
        let (s, e) = vouch_format::keys::table_span(table_id);
        let time = self.time;
        // The user-key part (escaped) of the last key decided.
        let mut decided: Option<Vec<u8>> = None;
        let mut emitted = 0u64;
        let layers = self.layer_refs()?;
        // Restore's policy: every file read is checked against its manifest entry.
        let primary = self
            .descriptors
            .iter()
            .find(|d| d.id == table_id)
            .and_then(vouch_format::schema::table)
            .and_then(|t| t.primary_index.as_ref())
            .map_or(1, |p| u64::from(p.id));
        let checks = FileChecks { primary };
        let mut stats = merge(
            &layers,
            table_id,
            Some(checks),
            progress,
            |v| -> Result<(), E> {
                if v.ts() > time || decided.as_deref() == Some(v.user_part()) {
                    return Ok(());
                }
                decided = Some(v.user_part().to_vec());
                let (user, payload) = v.decode()?;
                if let Some(payload) = payload {
                    if user.as_slice() < s.as_slice() || user.as_slice() >= e.as_slice() {
                        return Err(Error::new(
                            ErrorKind::DataMismatch,
                            format!(
                                "{}: key {} is outside table {table_id}'s span",
                                v.file,
                                hex::encode(&user)
                            ),
                        )
                        .into());
                    }
                    emitted += 1;
                    f(&user, payload)?;
                }
                Ok(())
            },
        )?;
        stats.emitted = emitted;
        Ok(stats)
    }
}

/// In [`LayerRef::localities`]: the locality's files are in the layer's own store.
pub const OWN_STORE: usize = usize::MAX;

/// A layer and the store it is read from, for [`merge_versions`].
#[derive(Debug, Clone, Copy)]
pub struct LayerRef<'a> {
    /// The store holding the layer's directory.
    pub store: &'a dyn Store,
    /// The layer (its directory relative to the store, and its manifest).
    pub layer: &'a crate::Layer,
    /// The chain's data key, when it is encrypted.
    pub key: Option<&'a DataKey>,
    /// A locality-aware layer's other stores: each locality with its store, an index into
    /// `stores` (spec/locality.md §7). Empty for other layers.
    pub localities: &'a [(String, usize)],
    /// The stores `localities` indexes.
    pub stores: &'a [Box<dyn Store>],
}

impl<'a> LayerRef<'a> {
    /// The store holding the layer's files of `locality` (`""`: the layer's own).
    pub fn store_for(&self, locality: &str) -> Result<&'a dyn Store> {
        if locality.is_empty() {
            return Ok(self.store);
        }
        self.localities
            .iter()
            .find(|(l, _)| l == locality)
            .and_then(|(_, i)| {
                if *i == OWN_STORE {
                    Some(self.store)
                } else {
                    self.stores.get(*i).map(AsRef::as_ref)
                }
            })
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::LocalityPart,
                    format!(
                        "layer {} has files in locality {locality}, but no store of that locality was given (list every locality's URI after the default one)",
                        join(self.store.uri(), &self.layer.dir)
                    ),
                )
            })
    }
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
pub fn merge_versions<E: From<Error>>(
    layers: &[LayerRef<'_>],
    table_id: u64,
    progress: &mut dyn FnMut(u64),
    f: impl FnMut(Version<'_>) -> Result<(), E>,
) -> Result<ScanStats, E> {
    merge(layers, table_id, None, progress, f)
}

/// What [`merge`] checks of every file it reads, as restore reads: each entry against its
/// file's manifest entry and its layer (`vouch_format::manifest::files`), the file's
/// counts at its end, and no MVCC key stored twice in one layer.
#[derive(Debug, Clone, Copy)]
struct FileChecks {
    /// The table's primary index id (rows are counted in it).
    primary: u64,
}

/// Per file read: its manifest entry, its layer's window, the counts so far.
struct FileState<'a> {
    file: &'a pb::File,
    window: LayerWindow<'a>,
    counts: FileCounts,
}

fn mismatch(message: String) -> Error {
    Error::new(ErrorKind::DataMismatch, message)
}

/// Checks one entry of a file read with [`FileChecks`].
fn check_entry(
    st: &mut FileState<'_>,
    checks: FileChecks,
    name: &str,
    key: &[u8],
    value: &[u8],
) -> Result<()> {
    let (user, ts) = ctx(mvcc::decode_key(key), name)?;
    if let Some(p) = st.window.check(st.file, key, &user, ts).first() {
        return Err(mismatch(format!(
            "{name}: key {} at {ts}: {}",
            hex::encode(&user),
            p.describe()
        )));
    }
    let live = matches!(
        ctx(mvcc::decode_value(key, value), name)?,
        mvcc::Value::Live(_)
    );
    let primary = vouch_format::keys::decode_table_prefix(&user)
        .is_ok_and(|(_, index, _)| index == checks.primary);
    st.counts.add(&user, live, primary);
    Ok(())
}

fn merge<E: From<Error>>(
    layers: &[LayerRef<'_>],
    table_id: u64,
    checks: Option<FileChecks>,
    progress: &mut dyn FnMut(u64),
    mut f: impl FnMut(Version<'_>) -> Result<(), E>,
) -> Result<ScanStats, E> {
    let (s, e) = vouch_format::keys::table_span(table_id);
    let mut stats = ScanStats::default();
    let mut readers = Vec::new();
    let mut states: Vec<FileState<'_>> = Vec::new();
    for (i, lr) in layers.iter().enumerate() {
        let l = lr.layer;
        for file in l.manifest.files.iter().filter(|x| overlaps(x, &s, &e)) {
            let store = lr.store_for(&file.locality)?;
            let path = join(&l.dir, &file.path);
            let name = format!("{}/{path}", store.uri().trim_end_matches('/'));
            let size = store.size(&path).map_err(Error::from)?.ok_or_else(|| {
                Error::new(
                    ErrorKind::DataMismatch,
                    format!(
                        "data file {name} is missing (listed in layer {})",
                        join(store.uri(), &l.dir)
                    ),
                )
            })?;
            if size != file.size {
                return Err(Error::new(
                    ErrorKind::DataMismatch,
                    format!(
                        "data file {name} is {size} bytes, but its manifest records {}",
                        file.size
                    ),
                )
                .into());
            }
            let r = open_data_file(
                store,
                &l.dir,
                &file.path,
                size,
                lr.key.map(|k| (k, l.manifest.backup_id.as_slice())),
            )?;
            readers.push((i, name, r));
            states.push(FileState {
                file,
                window: LayerWindow::of(&l.manifest, l.is_full),
                counts: FileCounts::default(),
            });
            stats.file_bytes += size;
        }
    }
    let mut iters = Vec::with_capacity(readers.len());
    for (layer, name, r) in &readers {
        iters.push((*layer, name.as_str(), r.iter()));
    }
    let mut heap = BinaryHeap::with_capacity(iters.len());
    for (src, (layer, name, it)) in iters.iter_mut().enumerate() {
        let first = ctx(it.next_entry(), *name)?;
        if let (None, Some(_), Some(st)) = (&first, checks, states.get(src)) {
            if let Some((what, recorded, found)) = st.counts.mismatches(st.file).first() {
                return Err(mismatch(format!(
                    "{name}: {what}: the manifest records {recorded}, the file holds {found}"
                ))
                .into());
            }
        }
        if let Some((k, v)) = first {
            heap.push(Head {
                key: k.to_vec(),
                value: v.to_vec(),
                layer: *layer,
                src,
            });
        }
    }
    let mut done_bytes = 0u64;
    // The last key met and its layer (an MVCC key stored twice in one layer).
    let mut last: (Vec<u8>, usize) = (Vec::new(), usize::MAX);
    while let Some(mut head) = heap.pop() {
        stats.entries += 1;
        let name = iters.get(head.src).map_or("", |x| x.1);
        if head.key.len() < MVCC_SUFFIX {
            return Err(Error::new(
                ErrorKind::DataMismatch,
                format!("{name}: key {} is too short", hex::encode(&head.key)),
            )
            .into());
        }
        if let (Some(c), Some(st)) = (checks, states.get_mut(head.src)) {
            check_entry(st, c, name, &head.key, &head.value)?;
            if last.1 == head.layer && last.0 == head.key {
                return Err(mismatch(format!(
                    "{name}: MVCC key {} is stored twice in one layer",
                    hex::encode(&head.key)
                ))
                .into());
            }
            last.0.clone_from(&head.key);
            last.1 = head.layer;
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
                    return Err(Error::new(
                        ErrorKind::DataMismatch,
                        format!("{name}: keys out of order at {}", hex::encode(k)),
                    )
                    .into());
                }
                head.key.clear();
                head.key.extend_from_slice(k);
                head.value.clear();
                head.value.extend_from_slice(v);
                heap.push(head);
            }
            None => {
                if let (Some(_), Some(st)) = (checks, states.get(head.src)) {
                    if let Some((what, recorded, found)) = st.counts.mismatches(st.file).first() {
                        return Err(mismatch(format!(
                            "{name}: {what}: the manifest records {recorded}, the file holds {found}"
                        ))
                        .into());
                    }
                }
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

/// One input of [`merge_cursors`]: entries (MVCC key, stored value) in key order.
pub trait MergeCursor {
    /// What advancing can fail with.
    type Error: From<Error>;
    /// Moves to the next entry: `false` at the end.
    fn advance(&mut self) -> std::result::Result<bool, Self::Error>;
    /// The entry [`MergeCursor::advance`] moved to: (MVCC key, stored value).
    fn current(&self) -> (&[u8], &[u8]);
    /// Index of the layer its entries come from (newer layers win ties).
    fn layer(&self) -> usize;
    /// Its file, for messages.
    fn name(&self) -> &str;
}

/// The k-way merge of [`merge_versions`] over cursors the caller drives (for example
/// verified scans doing their own per-file checks, so every stored byte is read once):
/// the same order (user key ascending, timestamp descending, the newer layer first on
/// equal keys, then the earlier cursor) and the same errors (a key too short to hold a
/// timestamp, keys out of order). `f` gets each version with the index of its cursor.
/// Memory: one copy of each cursor's current entry (buffers reused).
pub fn merge_cursors<C: MergeCursor>(
    cursors: &mut [C],
    mut f: impl FnMut(usize, Version<'_>) -> std::result::Result<(), C::Error>,
) -> std::result::Result<(), C::Error> {
    // The heap holds each cursor's current key (the value is read from the cursor, which
    // stays on that entry until it is advanced).
    let mut heap = BinaryHeap::with_capacity(cursors.len());
    for (src, c) in cursors.iter_mut().enumerate() {
        if c.advance()? {
            heap.push(Head {
                key: c.current().0.to_vec(),
                value: Vec::new(),
                layer: c.layer(),
                src,
            });
        }
    }
    while let Some(mut head) = heap.peek_mut() {
        let Some(c) = cursors.get_mut(head.src) else {
            PeekMut::pop(head);
            continue;
        };
        if head.key.len() < MVCC_SUFFIX {
            return Err(Error::new(
                ErrorKind::DataMismatch,
                format!("{}: key {} is too short", c.name(), hex::encode(&head.key)),
            )
            .into());
        }
        f(
            head.src,
            Version {
                mvcc_key: &head.key,
                stored_value: c.current().1,
                layer: head.layer,
                file: c.name(),
            },
        )?;
        if c.advance()? {
            let k = c.current().0;
            if k <= head.key.as_slice() {
                return Err(Error::new(
                    ErrorKind::DataMismatch,
                    format!("{}: keys out of order at {}", c.name(), hex::encode(k)),
                )
                .into());
            }
            // Replaced in place: one sift when `head` is dropped.
            head.key.clear();
            head.key.extend_from_slice(k);
        } else {
            PeekMut::pop(head);
        }
    }
    Ok(())
}

/// Whether the manifest span of `f` overlaps `[s, e)`.
pub fn file_overlaps(f: &pb::File, s: &[u8], e: &[u8]) -> bool {
    overlaps(f, s, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cursor over entries in memory.
    struct Mem {
        entries: Vec<(Vec<u8>, Vec<u8>)>,
        at: Option<usize>,
        layer: usize,
    }

    impl MergeCursor for Mem {
        type Error = Error;
        fn advance(&mut self) -> Result<bool> {
            let next = self.at.map_or(0, |i| i + 1);
            self.at = Some(next);
            Ok(next < self.entries.len())
        }
        fn current(&self) -> (&[u8], &[u8]) {
            self.at
                .and_then(|i| self.entries.get(i))
                .map_or((&[], &[]), |(k, v)| (k.as_slice(), v.as_slice()))
        }
        fn layer(&self) -> usize {
            self.layer
        }
        fn name(&self) -> &str {
            "mem"
        }
    }

    fn cursors(spec: &[(usize, &[(&str, u64)])]) -> Vec<Mem> {
        spec.iter()
            .map(|(layer, es)| Mem {
                entries: es
                    .iter()
                    .map(|(k, t)| {
                        let key = mvcc::key(k.as_bytes(), Timestamp::new(*t, 0));
                        let v = format!("{k}@{t}/{layer}").into_bytes();
                        (key, v)
                    })
                    .collect(),
                at: None,
                layer: *layer,
            })
            .collect()
    }

    /// The merge's order is an independent sort's: key ascending (timestamp descending),
    /// the newer layer first, then the earlier cursor; each version's value is its own.
    #[test]
    fn the_merge_is_the_sorted_union() {
        let spec: &[(usize, &[(&str, u64)])] = &[
            (0, &[("a", 5), ("a", 3), ("c", 9), ("e", 1)]),
            (0, &[("f", 2), ("g", 2)]),
            (1, &[("a", 5), ("b", 7), ("e", 4), ("e", 1)]),
            (2, &[("a", 8), ("c", 9), ("h", 1)]),
            (1, &[]),
        ];
        let mut cs = cursors(spec);
        let mut got = Vec::new();
        merge_cursors(&mut cs, |src, v| {
            got.push((v.mvcc_key.to_vec(), v.stored_value.to_vec(), v.layer, src));
            Ok(())
        })
        .unwrap();
        let mut want = Vec::new();
        for (src, c) in cursors(spec).into_iter().enumerate() {
            for (k, v) in c.entries {
                want.push((k, v, c.layer, src));
            }
        }
        want.sort_by(|a, b| a.0.cmp(&b.0).then(b.2.cmp(&a.2)).then(a.3.cmp(&b.3)));
        assert_eq!(got, want);
        assert_eq!(got.len(), 13);
    }

    #[test]
    fn keys_out_of_order_and_short_keys_stop_the_merge() {
        let spec: &[(usize, &[(&str, u64)])] = &[(0, &[("b", 1), ("a", 1)]), (0, &[("c", 1)])];
        let mut cs = cursors(spec);
        let mut n = 0;
        let e = merge_cursors(&mut cs, |_, _| {
            n += 1;
            Ok(())
        })
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DataMismatch);
        assert_eq!(n, 1);
        let mut short = vec![Mem {
            entries: vec![(b"x".to_vec(), b"v".to_vec())],
            at: None,
            layer: 0,
        }];
        let e = merge_cursors(&mut short, |_, _| Ok(())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DataMismatch);
    }
}
