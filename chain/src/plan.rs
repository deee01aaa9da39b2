//! Restore planning, shared by RESTORE, `vouch dump` and `vouch verify`: the chain is
//! checked (continuity, predecessor hashes, chain ids, span coverage), the layers up to
//! the one whose window holds the requested time are selected with CockroachDB's rules,
//! and the descriptors in force at that time are rebuilt from the layers' descriptors and
//! revisions.

use std::collections::{BTreeMap, BTreeSet};

use vouch_format::layout;
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_keys::KeySource;
use vouch_store::OpenOptions;

use crate::collection::{Collection, OpenChain};
use crate::{Error, ErrorKind, Result};

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
    /// A locality-aware backup (spec/locality.md §7): with `subdir`, `FROM LATEST|'subdir'
    /// IN ('default', 'other', …)` (one list: the collection's stores); without, the legacy
    /// `FROM ('d', 'o', …), ('d', 'o', …)` (a list per layer, the full backup first). The
    /// first URI of a list holds the manifests; the others, in any order, the localities'
    /// files (moved or consolidated as the user pleases).
    Localities {
        /// `LATEST` or a full backup's subdirectory (collection form).
        subdir: Option<String>,
        /// `WITH incremental_location = …` (collection form).
        incremental_location: Option<String>,
        /// The URI lists.
        lists: Vec<Vec<String>>,
    },
}

impl Source {
    /// The URI holding the (first layer's) manifest.
    pub fn default_uri(&self) -> &str {
        match self {
            Source::Collection { uri, .. } => uri,
            Source::Layers(l) => l.first().map_or("", String::as_str),
            Source::Localities { lists, .. } => lists
                .first()
                .and_then(|l| l.first())
                .map_or("", String::as_str),
        }
    }
}

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
    open_source_with(source, opts, keys, true)
}

/// [`open_source_keyed`] for readers that report what is missing rather than stop at it
/// (SHOW BACKUP … WITH check_files): a locality no store given holds is recorded
/// ([`OpenChain::missing_localities`]; its files have no store) instead of failing. A part
/// of another backup is still an error, as in RESTORE.
pub fn open_source_lenient(
    source: &Source,
    opts: &OpenOptions,
    keys: &KeySource,
) -> Result<OpenChain> {
    open_source_with(source, opts, keys, false)
}

fn open_source_with(
    source: &Source,
    opts: &OpenOptions,
    keys: &KeySource,
    strict: bool,
) -> Result<OpenChain> {
    let attach = |chain: &mut OpenChain, others: &[Vec<String>]| {
        if strict {
            chain.attach_localities(others, opts)
        } else {
            chain.find_localities(others, opts)
        }
    };
    match source {
        Source::Collection {
            uri,
            subdir,
            incremental_location,
        } => {
            let coll = Collection::open(uri, incremental_location.as_deref(), opts)?;
            let full = coll.resolve_subdir(subdir)?;
            let mut chain = coll.open_chain_keyed(&full, keys)?;
            // A locality-aware chain given by its default store alone: its parts must be
            // there (every file consolidated into it).
            attach(&mut chain, &[])?;
            Ok(chain)
        }
        Source::Layers(uris) => {
            let mut chain = OpenChain::from_uris_keyed(uris, opts, keys)?;
            attach(&mut chain, &[])?;
            Ok(chain)
        }
        Source::Localities {
            subdir,
            incremental_location,
            lists,
        } => {
            let defaults: Vec<String> = lists.iter().filter_map(|l| l.first().cloned()).collect();
            let others: Vec<Vec<String>> = lists
                .iter()
                .map(|l| l.get(1..).unwrap_or_default().to_vec())
                .collect();
            let mut chain = match subdir {
                Some(sub) => {
                    let uri = defaults
                        .first()
                        .ok_or_else(|| Error::new(ErrorKind::Usage, "no backup URIs given"))?;
                    let coll = Collection::open(uri, incremental_location.as_deref(), opts)?;
                    let full = coll.resolve_subdir(sub)?;
                    coll.open_chain_keyed(&full, keys)?
                }
                None => OpenChain::from_uris_keyed(&defaults, opts, keys)?,
            };
            // The collection form gives one list for every layer.
            let per_layer: Vec<Vec<String>> = match subdir {
                Some(_) => {
                    vec![others.first().cloned().unwrap_or_default(); chain.chain.layers.len()]
                }
                None => others,
            };
            attach(&mut chain, &per_layer)?;
            Ok(chain)
        }
    }
}

/// Checks that the layers form one chain: the first is a full backup; each later layer
/// belongs to the same chain, records the previous layer's manifest hash (and path), and
/// starts exactly where the previous one ended.
pub fn check_chain(chain: &OpenChain) -> Result<()> {
    let layers = &chain.chain.layers;
    let Some(first) = layers.first() else {
        return Err(Error::new(
            ErrorKind::ChainBroken,
            "the backup has no layers",
        ));
    };
    if first.manifest.previous.is_some() {
        return Err(Error::new(
            ErrorKind::ChainBroken,
            format!(
                "{} is an incremental backup: a restore needs its chain from the full backup",
                chain.layer_name(0)
            ),
        )
        .with_object(chain.layer_name(0)));
    }
    for (i, pair) in layers.windows(2).enumerate() {
        let [p, l] = pair else { continue };
        let (pname, name) = (chain.layer_name(i), chain.layer_name(i + 1));
        // Every error names the layer that does not fit (its object).
        let broken = |m: String| Error::new(ErrorKind::ChainBroken, m).with_object(name.clone());
        if l.manifest.chain_id != first.manifest.chain_id {
            return Err(broken(format!(
                "layer {name} belongs to another backup chain (chain id {}, expected {} of {}): a layer from another backup was spliced in",
                hex::encode(&l.manifest.chain_id),
                hex::encode(&first.manifest.chain_id),
                chain.layer_name(0)
            )));
        }
        let Some(prev) = &l.manifest.previous else {
            return Err(broken(format!(
                "layer {name} is a full backup, but it is listed after {pname} as an incremental"
            )));
        };
        if prev.manifest_sha256 != p.manifest_sha256 {
            return Err(broken(format!(
                "layer {name} was taken on top of a different backup than {pname}: it records predecessor manifest SHA-256 {}, but {pname}/{} hashes to {} (a layer was replaced or reordered)",
                hex::encode(&prev.manifest_sha256),
                layout::MANIFEST,
                hex::encode(p.manifest_sha256)
            )));
        }
        if !p.dir.is_empty() && prev.path != p.dir {
            return Err(broken(format!(
                "layer {name} records predecessor {:?}, but the layer before it is {pname}",
                prev.path
            )));
        }
        let (start, pend) = (
            Timestamp::from_pb(l.manifest.start_time),
            Timestamp::from_pb(p.manifest.end_time),
        );
        if start != pend {
            return Err(broken(format!(
                "chain gap: layer {name} starts at {start} but the layer before it, {pname}, ends at {pend} (a layer is missing or out of order)"
            )));
        }
    }
    Ok(())
}

fn wall_time(ts: Timestamp) -> String {
    vouch_format::time::format_sql_tz(ts)
}

/// Where the history a revision-history layer holds starts (spec/restore.md §3): a time
/// `t < end` is served only when `t > revision_start_time` and, for the full layer, `t` is
/// at or after its earliest descriptor revision (before that the backup knows no state: the
/// full layer's window starts at 0, but its history only where its first revision is; a
/// full layer with no revision starts at its end). Returns the time to name, and whether
/// `t` is inside.
fn history_start(l: &crate::Layer, full: bool, t: Timestamp) -> (Timestamp, bool) {
    let rev_start = Timestamp::from_pb(l.manifest.revision_start_time);
    let mut inside = t > rev_start;
    let mut from = rev_start;
    if full {
        let first = l
            .manifest
            .descriptor_changes
            .iter()
            .map(|r| Timestamp::from_pb(r.time))
            .min()
            .unwrap_or_else(|| Timestamp::from_pb(l.manifest.end_time));
        if first > rev_start {
            from = first;
            inside = t >= first;
        }
    }
    (from, inside)
}

/// How many layers (from the first) serve a restore at `t`: CockroachDB's rules. `t` must
/// be a layer's end time, or inside a revision-history layer's window where its history
/// starts ([`history_start`]).
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
                return Err(Error::new(
                    ErrorKind::InvalidTime,
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
            let (from, inside) = history_start(l, i == 0, t);
            if !inside {
                return Err(Error::new(ErrorKind::InvalidTime, format!(
                    "invalid RESTORE timestamp: BACKUP for requested time only has revision history from {}",
                    wall_time(from)
                )));
            }
        }
        return Ok(i + 1);
    }
    Err(Error::new(
        ErrorKind::InvalidTime,
        "invalid RESTORE timestamp: supplied backups do not cover requested time",
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
                return Err(Error::new(ErrorKind::ChainBroken, format!(
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
