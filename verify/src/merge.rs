//! The `indexes` and `fingerprints` checks of the `full` level, with memory that does not
//! grow with the data.
//!
//! For each table, one streaming pass over every version stored in the chain's layers
//! ([`vouch_chain::merge::merge_versions`]: a k-way merge over the files, user key
//! ascending, timestamp descending, the newer layer first on equal keys; memory one block
//! per file). All versions of a user key arrive together; for every layer `i` with end time
//! `e_i` the value live at `e_i` is the first version with `layer <= i` and `ts <= e_i`
//! (a tombstone or no such version: absent). Each live value feeds accumulators per
//! (layer, index): the fingerprint, and for secondary indexes two order-independent
//! multiset digests, of the entries the primary rows imply and of the index entries
//! stored. Memory: one block per file, the versions of one key, the accumulators.
//!
//! A digest that disagrees is an `index_mismatch` finding; the keys are then located by a
//! second pass over that table, holding only the entries not matched yet (at most
//! [`LOCATE_CAP`]; beyond, the rest are counted, not listed).

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use vouch_chain::merge::{merge_versions, LayerRef, Version};
use vouch_format::entry::{CheckedEntry, Scratch, TableCheck, UniqueKeys};
use vouch_format::fingerprint::Fingerprint;
use vouch_format::keys;
use vouch_format::layout;
use vouch_format::manifest::pb;
use vouch_format::mvcc::{self, Timestamp};

use crate::finding::Finding;
use crate::state::{ChainState, Ctx};
use crate::tables::{table_known, tables_with_data, Limited};
use hex::encode as hex;

/// Most unmatched index entries and rows held at once while locating an index mismatch.
pub(crate) const LOCATE_CAP: usize = 1_000_000;

/// An order-independent digest of a multiset of (key, value) entries: count, wrapping sum
/// and XOR of XXH3-64 over `len(key) | key | value` (the fingerprint's entry hash).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Digest {
    count: u64,
    sum: u64,
    xor: u64,
}

impl Digest {
    fn add(&mut self, key: &[u8], value: &[u8]) {
        let h = Fingerprint::entry_hash(key, value);
        self.count += 1;
        self.sum = self.sum.wrapping_add(h);
        self.xor ^= h;
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} entries, digest {:#018x}/{:#018x}",
            self.count, self.sum, self.xor
        )
    }
}

/// One table at one layer's end: its descriptor there and the accumulators.
pub(crate) struct At<'a> {
    d: &'a pb::Descriptor,
    end: Timestamp,
    /// The layer's manifest path (where its findings point).
    mpath: String,
    /// The descriptor in force at `end`, as the checked decoder (enum types from the
    /// layer's descriptors); its layouts are the primary index first.
    check: TableCheck,
    /// Layers whose `check` is equal share a group (decoding is memoized per group).
    group: usize,
    /// Per group (the first layer of each): whether this `check` accepts every entry that
    /// group's accepts, alike ([`TableCheck::accepts_all_accepted_by`]), so an entry that
    /// group accepted is not decoded again here.
    accepts: Vec<bool>,
    /// Per layout.
    fp: Vec<Fingerprint>,
    /// Per secondary layout (`layouts[1..]`): implied by the rows, stored.
    expected: Vec<Digest>,
    found: Vec<Digest>,
    /// Entries live at `end` that do not decode against `check` (`row_schema_mismatch`).
    bad: Limited,
    bad_entries: u64,
    /// Unique keys met so far, and duplicates (`unique_violation`).
    uniq: UniqueKeys,
    dups: Limited,
}

impl<'a> At<'a> {
    /// The layer's end time.
    pub(crate) fn end(&self) -> Timestamp {
        self.end
    }

    fn new(d: &'a pb::Descriptor, end: Timestamp, mpath: String, check: TableCheck) -> Self {
        let k = check.layouts().len();
        At {
            d,
            end,
            mpath,
            check,
            group: 0,
            accepts: Vec::new(),
            fp: vec![Fingerprint::default(); k],
            expected: vec![Digest::default(); k.saturating_sub(1)],
            found: vec![Digest::default(); k.saturating_sub(1)],
            bad: Limited::default(),
            bad_entries: 0,
            uniq: UniqueKeys::default(),
            dups: Limited::default(),
        }
    }

    /// Feeds one entry live at `end` (user key `user`, index id `index`, value `p`, its
    /// fingerprint contribution `entry_hash`) checked as `res`.
    fn add(
        &mut self,
        table: u64,
        user: &[u8],
        index: u64,
        entry_hash: u64,
        p: &[u8],
        res: Result<&CheckedEntry, &vouch_format::Error>,
    ) {
        if let Some(fp) = self
            .check
            .layouts()
            .iter()
            .position(|l| u64::from(l.id) == index)
            .and_then(|pos| self.fp.get_mut(pos))
        {
            fp.add_entry_hash(entry_hash);
        }
        match res {
            Err(e) => {
                self.bad_entries += 1;
                self.bad.push(
                    Finding::error(
                        "row_schema_mismatch",
                        self.mpath.clone(),
                        format!(
                            "{}: table {:?} ({table}) at {}: an entry live at the layer's end does not decode against the descriptor in force there (version {}): {e}",
                            self.mpath, self.d.name, self.end, self.d.version
                        ),
                    )
                    .with_key(user),
                );
            }
            Ok(c) => {
                if self.uniq.duplicate(c) {
                    let name = self
                        .check
                        .layouts()
                        .get(c.index)
                        .map_or("", |l| l.name.as_str());
                    self.dups.push(
                        Finding::error(
                            "unique_violation",
                            self.mpath.clone(),
                            format!(
                                "{}: table {:?} ({table}) unique index {name:?} at {}: two entries have the same values in the index's columns (this one and the one before it)",
                                self.mpath, self.d.name, self.end
                            ),
                        )
                        .with_key(user),
                    );
                }
                if c.index == 0 {
                    for (e, (k, v)) in self.expected.iter_mut().zip(&c.implied) {
                        e.add(k, v);
                    }
                } else if let Some(f) = c.index.checked_sub(1).and_then(|i| self.found.get_mut(i)) {
                    f.add(user, p);
                }
            }
        }
    }
}

/// What a layer sees of one user key: for each layer `i` asked for, the version live at
/// its end (an id equal for layers seeing the same version, and the payload), if any.
pub(crate) struct Live<'w> {
    seen: &'w [Option<usize>],
    vers: &'w [(bool, Vec<u8>)],
}

impl<'w> Live<'w> {
    /// The version live at layer `i`'s end: (its id among this key's versions, payload).
    fn get(&self, i: usize) -> Option<(usize, &'w [u8])> {
        let at = self.seen.get(i).copied().flatten()?;
        let (live, p) = self.vers.get(at)?;
        live.then_some((at, p.as_slice()))
    }

    fn any(&self) -> bool {
        (0..self.seen.len()).any(|i| self.get(i).is_some())
    }
}

/// The per-key state of a table's walk over the versions of a merge ([`walk`], or a
/// group's one-pass merge): all versions of one user key arrive together; for every layer
/// `i` with end time `ends[i]` the version live there is the first with `layer <= i` and
/// `ts <= ends[i]`. Buffers are reused from key to key (no allocation per entry once
/// warm).
pub(crate) struct Walker {
    table: u64,
    ends: Vec<Option<Timestamp>>,
    /// The current key: its encoded user part, its decoded user key (valid: `user_ok`).
    part: Vec<u8>,
    started: bool,
    user: Vec<u8>,
    user_ok: bool,
    /// Versions some layer sees (live, payload): the first `nvers` slots are this key's.
    vers: Vec<(bool, Vec<u8>)>,
    nvers: usize,
    seen: Vec<Option<usize>>,
    decided: Vec<bool>,
    /// The versions come from scans that checked every value's CRC32C on the same bytes
    /// (a group's one-pass merge: the file checks run on the blocks it reads), so the
    /// walk reads values without recomputing it; otherwise it checks them.
    values_checked: bool,
}

impl Walker {
    /// A walk of `table` over versions read by a merge of its own (values checked here).
    pub(crate) fn new(table: u64, ends: &[Option<Timestamp>]) -> Self {
        Self::with_checked_values(table, ends, false)
    }

    /// A walk whose versions' values were checked by the scans reading them
    /// (`values_checked`; see [`Walker`]).
    pub(crate) fn with_checked_values(
        table: u64,
        ends: &[Option<Timestamp>],
        values_checked: bool,
    ) -> Self {
        let n = ends.len();
        Walker {
            values_checked,
            table,
            ends: ends.to_vec(),
            part: Vec::new(),
            started: false,
            user: Vec::new(),
            user_ok: false,
            vers: Vec::new(),
            nvers: 0,
            seen: vec![None; n],
            decided: vec![false; n],
        }
    }

    fn flush(&self, f: &mut impl FnMut(&[u8], &Live<'_>)) {
        if !self.started || !self.user_ok {
            return;
        }
        let live = Live {
            seen: &self.seen,
            vers: self.vers.get(..self.nvers).unwrap_or_default(),
        };
        if live.any() {
            f(&self.user, &live);
        }
    }

    /// Feeds one version (in merge order); `f` gets each finished key.
    pub(crate) fn push(&mut self, v: &Version<'_>, f: &mut impl FnMut(&[u8], &Live<'_>)) {
        if !self.started || v.user_part() != self.part.as_slice() {
            self.flush(f);
            self.started = true;
            self.part.clear();
            self.part.extend_from_slice(v.user_part());
            let table = self.table;
            self.user_ok = mvcc::decode_key_into(v.mvcc_key, &mut self.user).is_ok()
                && keys::decode_table_prefix(&self.user).is_ok_and(|(t, _, _)| t == table);
            self.nvers = 0;
            self.seen.iter_mut().for_each(|s| *s = None);
            self.decided.iter_mut().for_each(|d| *d = false);
        }
        if !self.user_ok {
            return;
        }
        let t = v.ts();
        let first = v.layer;
        let n = self.ends.len();
        let (ends, decided) = (&self.ends, &self.decided);
        let wants = |i: usize| {
            !decided.get(i).copied().unwrap_or(true)
                && ends.get(i).copied().flatten().is_some_and(|e| t <= e)
        };
        if !(first..n).any(wants) {
            return;
        }
        let value = if self.values_checked {
            mvcc::value_checked_before(v.stored_value)
        } else {
            mvcc::decode_value(v.mvcc_key, v.stored_value)
        };
        let payload = match value {
            Ok(mvcc::Value::Live(p)) => Some(p),
            Ok(_) => None,
            Err(_) => return,
        };
        let at = self.nvers;
        match self.vers.get_mut(at) {
            Some(slot) => {
                slot.0 = payload.is_some();
                slot.1.clear();
                slot.1.extend_from_slice(payload.unwrap_or_default());
            }
            None => self
                .vers
                .push((payload.is_some(), payload.unwrap_or_default().to_vec())),
        }
        self.nvers += 1;
        for i in first..n {
            let (ends, decided) = (&self.ends, &self.decided);
            let wants = !decided.get(i).copied().unwrap_or(true)
                && ends.get(i).copied().flatten().is_some_and(|e| t <= e);
            if wants {
                if let Some(d) = self.decided.get_mut(i) {
                    *d = true;
                }
                if let Some(s) = self.seen.get_mut(i) {
                    *s = Some(at);
                }
            }
        }
    }

    /// Ends the walk: `f` gets the last key.
    pub(crate) fn finish(&mut self, f: &mut impl FnMut(&[u8], &Live<'_>)) {
        self.flush(f);
        self.started = false;
    }
}

/// Streams table `table` over `layers`, calling `f(user_key, live)` once per user key,
/// where `live.get(i)` is the payload live at `ends[i]` as layer `i` sees it (`None`:
/// absent or a tombstone, or layer `i` not asked for). Versions whose key or value does not
/// decode are skipped (the data check reports them); so are keys of other tables.
fn walk(
    layers: &[LayerRef<'_>],
    table: u64,
    ends: &[Option<Timestamp>],
    progress: &mut dyn FnMut(u64),
    mut f: impl FnMut(&[u8], &Live<'_>),
) -> vouch_chain::Result<()> {
    let mut w = Walker::new(table, ends);
    merge_versions(layers, table, progress, |v| -> vouch_chain::Result<()> {
        w.push(&v, &mut f);
        Ok(())
    })?;
    w.finish(&mut f);
    Ok(())
}

/// What checking one table gives each layer: `indexes` and `fingerprints` findings.
pub(crate) type TableOutcome = Vec<(usize, Vec<Finding>, Vec<Finding>)>;

/// The answer of the checked decoder for one user key's version, kept for the layers that
/// see the same version through an equal check (or one accepting alike), and the buffers
/// it is decoded into, reused key after key: one per table walk.
#[derive(Default)]
pub(crate) struct Memo {
    /// The version (its id among the key's versions) and the group that checked it, when
    /// the answer below is this key's.
    of: Option<(usize, usize)>,
    res: Option<vouch_format::Error>,
    entry: CheckedEntry,
    scratch: Scratch,
}

/// Feeds one user key of table `table` (its versions live at each layer's end, `live`) to
/// the accumulators of every layer in `at`, decoding through `memo`.
pub(crate) fn feed_table(
    table: u64,
    at: &mut [Option<At<'_>>],
    memo: &mut Memo,
    user: &[u8],
    live: &Live<'_>,
) {
    let Ok((_, index, n)) = keys::decode_table_prefix(user) else {
        return;
    };
    let suffix = user.get(n..).unwrap_or_default();
    // Memo over layers seeing the same version through equal descriptors; the version's
    // fingerprint contribution over layers seeing the same version.
    memo.of = None;
    let mut hashed: Option<(usize, u64)> = None;
    for (i, a) in at.iter_mut().enumerate() {
        let (Some(a), Some((id, p))) = (a.as_mut(), live.get(i)) else {
            continue;
        };
        // The same version, checked by an equal check or by one this check accepts
        // alike (and accepted there): the same answer.
        let ok = memo.res.is_none();
        let fresh = !matches!(memo.of, Some((mid, g)) if mid == id
            && (g == a.group || (ok && a.accepts.get(g).copied().unwrap_or(false))));
        if fresh {
            memo.res = a
                .check
                .check_into(user, p, true, &mut memo.scratch, &mut memo.entry)
                .err();
            memo.of = Some((id, a.group));
        }
        let h = match hashed {
            Some((hid, h)) if hid == id => h,
            _ => {
                let h = Fingerprint::entry_hash(suffix, p);
                hashed = Some((id, h));
                h
            }
        };
        let res = match &memo.res {
            Some(e) => Err(e),
            None => Ok(&memo.entry),
        };
        a.add(table, user, index, h, p, res);
    }
}

/// Checks one table at every layer in `at` (indexed by layer; `None`: not checked there).
fn check_table(
    layers: &[LayerRef<'_>],
    table: u64,
    at: &mut [Option<At<'_>>],
    progress: &mut dyn FnMut(u64),
) -> TableOutcome {
    let ends: Vec<Option<Timestamp>> = at.iter().map(|a| a.as_ref().map(|a| a.end)).collect();
    let mut memo = Memo::default();
    let pass = walk(layers, table, &ends, progress, |user, live| {
        feed_table(table, at, &mut memo, user, live)
    });
    table_outcome(layers, table, at, &pass)
}

/// The findings of table `table` once every key was fed to `at` (`pass`: whether the
/// merge read every file through).
pub(crate) fn table_outcome(
    layers: &[LayerRef<'_>],
    table: u64,
    at: &[Option<At<'_>>],
    pass: &vouch_chain::Result<()>,
) -> TableOutcome {
    let mut out = TableOutcome::new();
    for (li, a) in at.iter().enumerate() {
        let Some(a) = a else { continue };
        let lr = layers.get(li);
        let dir = lr.map_or("", |l| l.layer.dir.as_str());
        let mpath = vouch_chain::join(dir, layout::MANIFEST);
        if let Err(e) = &pass {
            out.push((
                li,
                vec![Finding::error(
                    "read_error",
                    mpath.clone(),
                    format!(
                        "table {:?} ({table}): the layers' files could not be merged to check indexes and fingerprints at {}: {e}",
                        a.d.name, a.end
                    ),
                )
                .in_layer(dir)],
                Vec::new(),
            ));
            continue;
        }
        let mut idx = Limited::default();
        for f in a.bad.v.iter().chain(&a.dups.v) {
            idx.push(f.clone().in_layer(dir));
        }
        for (n, what) in [
            (a.bad.dropped, "row_schema_mismatch"),
            (a.dups.dropped, "unique_violation"),
        ] {
            if n > 0 {
                idx.v.push(
                    Finding::error(
                        what,
                        mpath.clone(),
                        format!(
                            "{n} more {what} finding(s) in table {:?} not listed",
                            a.d.name
                        ),
                    )
                    .in_layer(dir),
                );
            }
        }
        let mut bad: Vec<usize> = Vec::new();
        // Entries that do not decode make the index digests meaningless (their findings
        // above say why): they are compared only when every entry decoded.
        let digests = if a.bad_entries == 0 {
            a.expected.as_slice()
        } else {
            &[]
        };
        for (si, (e, f)) in digests.iter().zip(&a.found).enumerate() {
            if e != f {
                let layouts = a.check.layouts();
                let name = layouts.get(si + 1).map_or("", |l| l.name.as_str());
                let id = layouts.get(si + 1).map_or(0, |l| l.id);
                idx.push(
                    Finding::error(
                        "index_mismatch",
                        mpath.clone(),
                        format!(
                            "{mpath}: table {:?} ({table}) index {name:?} ({id}) at {}: the index entries are not the ones its rows imply (expected: from the primary rows; found: in the index)",
                            a.d.name, a.end
                        ),
                    )
                    .expected_found(e.to_string(), f.to_string())
                    .in_layer(dir),
                );
                bad.push(si);
            }
        }
        if !bad.is_empty() {
            let located = locate(layers, table, li, a, &bad, LOCATE_CAP, &mut |_| {});
            for f in located {
                idx.push(f.in_layer(dir));
            }
        }
        if idx.dropped > 0 {
            idx.v.push(
                Finding::error(
                    "index_mismatch",
                    mpath.clone(),
                    format!("{} more index mismatch(es) not listed", idx.dropped),
                )
                .in_layer(dir),
            );
        }
        let fps = lr.map_or_else(Vec::new, |l| fingerprints(&l.layer.manifest, dir, table, a));
        out.push((li, idx.v, fps));
    }
    out
}

/// Compares the recomputed fingerprints of a table at a layer's end with the recorded ones.
fn fingerprints(m: &pb::BackupManifest, dir: &str, table: u64, a: &At<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mpath = vouch_chain::join(dir, layout::MANIFEST);
    for (l, fp) in a.check.layouts().iter().zip(&a.fp) {
        let index = u64::from(l.id);
        let found = format!("{:#018x}/{}", fp.hash, fp.entries);
        let recorded = m
            .fingerprints
            .iter()
            .find(|f| f.table_id == table && f.index_id == index);
        match recorded {
            None => out.push(
                Finding::error(
                    "fingerprint_mismatch",
                    mpath.clone(),
                    format!(
                        "{mpath}: no fingerprint recorded for table {:?} ({table}) index {:?} ({index})",
                        a.d.name, l.name
                    ),
                )
                .expected_found("a recorded fingerprint", found)
                .in_layer(dir),
            ),
            Some(r) if r.fingerprint != fp.hash || r.rows != fp.entries => out.push(
                Finding::error(
                    "fingerprint_mismatch",
                    mpath.clone(),
                    format!(
                        "{mpath}: table {:?} ({table}) index {:?} ({index}) at {}: the files give another fingerprint than the manifest records",
                        a.d.name, l.name, a.end
                    ),
                )
                .expected_found(format!("{:#018x}/{}", r.fingerprint, r.rows), found)
                .in_layer(dir),
            ),
            Some(_) => {}
        }
    }
    out
}

/// An entry both sides may give: implied by a row, stored in the index.
#[derive(Debug, Default)]
struct Slot {
    implied: Option<Vec<u8>>,
    stored: Option<Vec<u8>>,
}

/// The index entries not matched yet while locating a mismatch, by (secondary, key): an
/// implied entry and a stored one with equal key and value cancel out. At most `cap` are
/// held; entries beyond are only counted.
#[derive(Debug)]
struct Pending {
    map: BTreeMap<(usize, Vec<u8>), Slot>,
    cap: usize,
    beyond: u64,
}

impl Pending {
    fn new(cap: usize) -> Self {
        Pending {
            map: BTreeMap::new(),
            cap,
            beyond: 0,
        }
    }

    fn put(&mut self, si: usize, key: Vec<u8>, value: &[u8], implied: bool) {
        let full = self.map.len() >= self.cap;
        match self.map.entry((si, key)) {
            Entry::Occupied(mut o) => {
                let s = o.get_mut();
                let (mine, other) = if implied {
                    (&mut s.implied, &s.stored)
                } else {
                    (&mut s.stored, &s.implied)
                };
                if other.as_deref() == Some(value) {
                    o.remove();
                } else {
                    *mine = Some(value.to_vec());
                }
            }
            Entry::Vacant(v) => {
                if full {
                    self.beyond += 1;
                } else {
                    let mut s = Slot::default();
                    if implied {
                        s.implied = Some(value.to_vec());
                    } else {
                        s.stored = Some(value.to_vec());
                    }
                    v.insert(s);
                }
            }
        }
    }

    /// One finding per entry left, then one for those beyond the cap.
    fn findings(&self, a: &At<'_>, mpath: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        for ((si, k), s) in &self.map {
            let name = a
                .check
                .layouts()
                .get(si + 1)
                .map_or("", |l| l.name.as_str());
            let what = format!("table {:?} index {name:?} at {}", a.d.name, a.end);
            let f = match (&s.implied, &s.stored) {
                (Some(want), Some(got)) => Finding::error(
                    "index_mismatch",
                    mpath,
                    format!("{what}: the entry's stored columns differ from its row"),
                )
                .expected_found(hex(want), hex(got)),
                (None, Some(_)) => Finding::error(
                    "index_mismatch",
                    mpath,
                    format!("{what}: an index entry with no row"),
                ),
                _ => Finding::error(
                    "index_mismatch",
                    mpath,
                    format!("{what}: a row has no entry in the index"),
                ),
            };
            out.push(f.with_key(k));
        }
        if self.beyond > 0 {
            out.push(Finding::error(
                "index_mismatch",
                mpath,
                format!(
                    "table {:?}: {} more index entries or rows were not matched one by one (at most {} unmatched entries are held at once): their keys are not listed, the digest mismatch above counts them",
                    a.d.name, self.beyond, self.cap
                ),
            ));
        }
        out
    }
}

/// Finds the keys behind an index digest mismatch of `table` at layer `li`: a second pass
/// holding only the entries not matched yet, at most `cap` of them.
fn locate(
    layers: &[LayerRef<'_>],
    table: u64,
    li: usize,
    a: &At<'_>,
    bad: &[usize],
    cap: usize,
    progress: &mut dyn FnMut(u64),
) -> Vec<Finding> {
    let mut ends = vec![None; li + 1];
    if let Some(e) = ends.get_mut(li) {
        *e = Some(a.end);
    }
    let mut pending = Pending::new(cap);
    let layouts = a.check.layouts();
    let pk = layouts.first().map(|l| u64::from(l.id));
    let layers = layers.get(..=li).unwrap_or_default();
    let pass = walk(layers, table, &ends, progress, |user, live| {
        let Some((_, p)) = live.get(li) else { return };
        let Ok((_, index, _)) = keys::decode_table_prefix(user) else {
            return;
        };
        if Some(index) == pk {
            let Ok(c) = a.check.check(user, p, true) else {
                return;
            };
            for &si in bad {
                if let Some((k, v)) = c.implied.get(si) {
                    pending.put(si, k.clone(), v, true);
                }
            }
        } else if let Some(si) = bad.iter().copied().find(|&si| {
            layouts
                .get(si + 1)
                .is_some_and(|l| u64::from(l.id) == index)
        }) {
            pending.put(si, user.to_vec(), p, false);
        }
    });
    let dir = layers.get(li).map_or("", |l| l.layer.dir.as_str());
    let mpath = vouch_chain::join(dir, layout::MANIFEST);
    if let Err(e) = pass {
        return vec![Finding::error(
            "read_error",
            mpath,
            format!(
                "table {:?} ({table}): the index mismatch could not be located: {e}",
                a.d.name
            ),
        )];
    }
    pending.findings(a, &mpath)
}

/// The `indexes` and `fingerprints` work over a chain: per table, the layers it is checked
/// at, with its descriptor there.
pub(crate) struct TablePlan {
    /// Layers with a manifest, from the full backup on (a layer without one ends the chain
    /// for these checks).
    layers: Vec<vouch_chain::Layer>,
    /// (table id, per layer the position of its descriptor in that layer's manifest, or
    /// `None`: not checked there), by table id.
    tables: Vec<(u64, Vec<Option<usize>>)>,
    /// Stored bytes each table's merge reads.
    sizes: Vec<u64>,
}

impl TablePlan {
    /// The tables of `c` with data at some layer, skipping at each layer those in the spans
    /// `known_at` says are not all known there.
    pub(crate) fn of(c: &ChainState, known_at: &[Option<Vec<pb::Span>>]) -> Self {
        let n = c
            .layers
            .iter()
            .position(|l| l.manifest.is_none())
            .unwrap_or(c.layers.len());
        let layers: Vec<vouch_chain::Layer> = c
            .layers
            .iter()
            .take(n)
            .filter_map(|l| {
                Some(vouch_chain::Layer {
                    dir: l.dir.clone(),
                    is_full: l.is_full,
                    manifest: l.manifest.clone()?,
                    manifest_sha256: [0; 32],
                    manifest_size: l.bytes.as_ref().map_or(0, |b| b.len() as u64),
                })
            })
            .collect();
        let mut plan: BTreeMap<u64, Vec<Option<usize>>> = BTreeMap::new();
        for (i, l) in layers.iter().enumerate() {
            let Some(Some(unknown)) = known_at.get(i) else {
                continue;
            };
            let m = &l.manifest;
            for d in
                tables_with_data(m).filter(|d| table_known(unknown, d.id) && c.owns_table(d.id))
            {
                let Some(pos) = m.descriptors.iter().position(|x| std::ptr::eq(x, d)) else {
                    continue;
                };
                let v = plan.entry(d.id).or_default();
                v.resize(i + 1, None);
                if let Some(x) = v.get_mut(i) {
                    *x = Some(pos);
                }
            }
        }
        let tables: Vec<(u64, Vec<Option<usize>>)> = plan.into_iter().collect();
        let sizes = tables
            .iter()
            .map(|(id, v)| {
                let (s, e) = keys::table_span(*id);
                layers
                    .iter()
                    .take(v.len())
                    .flat_map(|l| l.manifest.files.iter())
                    .filter(|f| {
                        f.span
                            .as_ref()
                            .is_some_and(|sp| sp.start.as_slice() < e.as_slice() && s < sp.end)
                    })
                    .map(|f| f.size)
                    .sum()
            })
            .collect();
        TablePlan {
            layers,
            tables,
            sizes,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.tables.len()
    }

    /// Stored bytes table `i`'s merge reads.
    pub(crate) fn size(&self, i: usize) -> u64 {
        self.sizes.get(i).copied().unwrap_or(0)
    }

    /// The plan's layers with their stores and the chain's key, for [`TablePlan::check`].
    pub(crate) fn refs<'a>(&'a self, ctx: &'a Ctx<'_>, c: &'a ChainState) -> Vec<LayerRef<'a>> {
        c.layers
            .iter()
            .zip(&self.layers)
            .map(|(l, layer)| LayerRef {
                store: ctx.store(l.which),
                localities: &l.localities,
                stores: ctx.parts,
                layer,
                key: c.key.as_deref(),
            })
            .collect()
    }

    /// Table `i`'s id and its accumulators, per layer it is planned at (`None` elsewhere).
    pub(crate) fn accumulators(&self, i: usize) -> Option<(u64, Vec<Option<At<'_>>>)> {
        let (id, ds) = self.tables.get(i)?;
        let mut at: Vec<Option<At<'_>>> = ds
            .iter()
            .zip(&self.layers)
            .map(|(d, l)| {
                let m = &l.manifest;
                let d = m.descriptors.get((*d)?)?;
                let check = TableCheck::in_catalog(d, &m.descriptors).ok()?;
                let mpath = vouch_chain::join(&l.dir, layout::MANIFEST);
                Some(At::new(d, Timestamp::from_pb(m.end_time), mpath, check))
            })
            .collect();
        for i in 0..at.len() {
            let group = (0..i)
                .find(|&j| {
                    matches!((at.get(j), at.get(i)), (Some(Some(x)), Some(Some(y))) if x.check == y.check)
                })
                .unwrap_or(i);
            if let Some(Some(a)) = at.get_mut(i) {
                a.group = group;
            }
        }
        let checks: Vec<Option<TableCheck>> = at
            .iter()
            .map(|a| a.as_ref().map(|a| a.check.clone()))
            .collect();
        for a in at.iter_mut().flatten() {
            a.accepts = checks
                .iter()
                .map(|g| {
                    g.as_ref()
                        .is_some_and(|g| a.check.accepts_all_accepted_by(g))
                })
                .collect();
        }
        Some((*id, at))
    }

    /// The files table `i`'s merge reads, as (layer, position in its manifest), in merge
    /// order (layers oldest first, each in manifest order).
    pub(crate) fn files(&self, i: usize) -> Vec<(usize, usize)> {
        let Some((id, ds)) = self.tables.get(i) else {
            return Vec::new();
        };
        let (s, e) = keys::table_span(*id);
        self.layers
            .iter()
            .take(ds.len())
            .enumerate()
            .flat_map(|(li, l)| {
                l.manifest
                    .files
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| vouch_chain::merge::file_overlaps(f, &s, &e))
                    .map(move |(fi, _)| (li, fi))
            })
            .collect()
    }

    /// Checks table `i` at every layer it is planned at.
    pub(crate) fn check(&self, refs: &[LayerRef<'_>], i: usize) -> TableOutcome {
        let Some((id, mut at)) = self.accumulators(i) else {
            return TableOutcome::new();
        };
        let layers = refs.get(..at.len()).unwrap_or_default();
        check_table(layers, id, &mut at, &mut |_| {})
    }

    /// Plans the merges of `results` again with `known_at` (the spans known once every file
    /// was scanned). A table whose plan that changes — a file holding its entries was not
    /// read through, so its merge over every layer met the damage the data check reports —
    /// is merged again over the layers where it is known, and that result replaces the
    /// first (a table known at no layer is dropped). Only damaged chains pay for this.
    pub(crate) fn redo_damaged(
        &self,
        ctx: &Ctx<'_>,
        c: &ChainState,
        known_at: &[Option<Vec<pb::Span>>],
        results: &mut Vec<(usize, TableOutcome)>,
    ) {
        let again = TablePlan::of(c, known_at);
        let refs = again.refs(ctx, c);
        results.retain_mut(|(ti, o)| {
            let Some((id, ds)) = self.tables.get(*ti) else {
                return false;
            };
            let Some(j) = again.tables.iter().position(|(x, _)| x == id) else {
                return false;
            };
            if again.tables.get(j).map(|t| &t.1) != Some(ds) {
                *o = again.check(&refs, j);
            }
            true
        });
    }

    /// Adds the tables' findings to their layers' `indexes` and `fingerprints` checks, but
    /// only at layers where `known_at` says the table's entries are all known.
    pub(crate) fn apply(
        &self,
        c: &mut ChainState,
        mut results: Vec<(usize, TableOutcome)>,
        known_at: &[Option<Vec<pb::Span>>],
    ) {
        results.sort_by_key(|(i, _)| *i);
        let mut per_layer: Vec<(Vec<Finding>, Vec<Finding>)> =
            vec![Default::default(); self.layers.len()];
        for (ti, o) in results {
            let Some((id, _)) = self.tables.get(ti) else {
                continue;
            };
            for (li, idx, fp) in o {
                let known = matches!(known_at.get(li), Some(Some(u)) if table_known(u, *id));
                if let (true, Some((a, b))) = (known, per_layer.get_mut(li)) {
                    a.extend(idx.into_iter().map(|f| f.about_table(*id)));
                    b.extend(fp.into_iter().map(|f| f.about_table(*id)));
                }
            }
        }
        let mut per_layer = per_layer.into_iter();
        for l in c.layers.iter_mut().filter(|l| l.manifest.is_some()) {
            let (idx, fp) = per_layer.next().unwrap_or_default();
            l.check("indexes").findings.extend(idx);
            l.check("fingerprints").findings.extend(fp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vouch_format::manifest::pb;

    fn at(d: &pb::Descriptor) -> At<'_> {
        let t = pb::Descriptor {
            id: 100,
            kind: Some(pb::descriptor::Kind::Table(pb::Table {
                columns: vec![pb::Column {
                    id: 1,
                    name: "k".into(),
                    r#type: pb::ColumnType::Int as i32,
                    ..Default::default()
                }],
                primary_index: Some(pb::Index {
                    partitions: vec![],
                    id: 1,
                    name: "pk".into(),
                    column_ids: vec![1],
                    ..Default::default()
                }),
                ..Default::default()
            })),
            ..Default::default()
        };
        let check = TableCheck::new(&t, |_| None).unwrap();
        At::new(d, Timestamp::new(5, 0), "m".into(), check)
    }

    #[test]
    fn digests_ignore_order_and_see_one_changed_byte() {
        let (mut a, mut b, mut c) = (Digest::default(), Digest::default(), Digest::default());
        a.add(b"k1", b"v1");
        a.add(b"k2", b"v2");
        b.add(b"k2", b"v2");
        b.add(b"k1", b"v1");
        c.add(b"k1", b"v1");
        c.add(b"k2", b"v3");
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Length-prefixed: moving a byte between key and value changes the digest.
        let (mut d, mut e) = (Digest::default(), Digest::default());
        d.add(b"k1v", b"1");
        e.add(b"k1", b"v1");
        assert_ne!(d, e);
        // A pair added twice cancels in the XOR but not in the sum or the count.
        let mut f = Digest::default();
        f.add(b"k", b"v");
        f.add(b"k", b"v");
        assert_eq!(f.xor, 0);
        assert_eq!(f.count, 2);
        assert_eq!(f.sum, Fingerprint::entry_hash(b"k", b"v").wrapping_mul(2));
        assert_eq!(
            a.to_string(),
            format!("2 entries, digest {:#018x}/{:#018x}", a.sum, a.xor)
        );
    }

    #[test]
    fn pending_cancels_matches_keeps_differences_and_counts_beyond_the_cap() {
        let d = pb::Descriptor {
            name: "t".into(),
            ..Default::default()
        };
        let a = at(&d);
        let mut p = Pending::new(3);
        p.put(0, b"a".to_vec(), b"1", true);
        p.put(0, b"a".to_vec(), b"1", false); // matched: gone
        p.put(0, b"b".to_vec(), b"1", false); // stored, no row
        p.put(0, b"c".to_vec(), b"1", true); // row, no entry
        p.put(0, b"d".to_vec(), b"2", true);
        p.put(0, b"d".to_vec(), b"3", false); // differing columns
        p.put(0, b"e".to_vec(), b"1", true); // beyond the cap of 3
        p.put(0, b"f".to_vec(), b"1", false); // beyond
        p.put(0, b"c".to_vec(), b"9", false); // held key: kept although full
        let f = p.findings(&a, "m");
        let got: Vec<(Option<&str>, &str)> = f
            .iter()
            .map(|f| (f.key.as_deref(), f.message.as_str()))
            .collect();
        assert_eq!(f.len(), 4, "{got:?}");
        assert_eq!(f[0].key.as_deref(), Some("62"));
        assert!(f[0].message.ends_with("an index entry with no row"));
        assert_eq!(f[1].key.as_deref(), Some("63"));
        assert!(f[1]
            .message
            .ends_with("the entry's stored columns differ from its row"));
        assert_eq!(
            (f[1].expected.as_deref(), f[1].found.as_deref()),
            (Some("31"), Some("39"))
        );
        assert_eq!(f[2].key.as_deref(), Some("64"));
        assert_eq!(
            (f[2].expected.as_deref(), f[2].found.as_deref()),
            (Some("32"), Some("33"))
        );
        assert_eq!(f[3].key, None);
        assert!(
            f[3].message.contains("2 more index entries or rows")
                && f[3].message.contains("at most 3 unmatched"),
            "{}",
            f[3].message
        );
        assert!(f
            .iter()
            .all(|f| f.kind == "index_mismatch" && f.file == "m"));
    }
}
