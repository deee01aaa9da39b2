//! What a layer holds: the descriptors in scope at its end, their revisions (with revision
//! history), the spans it covers and those it introduces, and the spans to export with the
//! time each one's history starts; and the GC checks that make the export possible.

use std::collections::{BTreeMap, BTreeSet};

use vouch_chain::{Chain, Resolved};
use vouch_cluster::{Cluster, Kv};
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_format::schema::{self, index_layouts, Kind, USERS_TABLE_ID};

use super::BackupOptions;
use crate::{Error, ErrorKind, Result};

/// A layer's scope.
pub(super) struct Scope {
    /// The targets resolved at the layer's end.
    pub(super) resolved: Resolved,
    /// Descriptor changes in the layer's interval (with revision history).
    pub(super) revisions: Vec<pb::DescriptorRevision>,
    /// Every table span the layer covers.
    pub(super) spans: Vec<pb::Span>,
    /// The spans new in this layer (an incremental's new tables, or tables whose data is
    /// no longer excluded).
    pub(super) introduced: Vec<pb::Span>,
    /// What to export, in key order.
    pub(super) export: Vec<ExportSpan>,
}

/// One span to export, with the time its history starts.
#[derive(Debug, Clone)]
pub(super) struct ExportSpan {
    pub(super) table_id: u64,
    pub(super) start: Vec<u8>,
    pub(super) end: Vec<u8>,
    /// Versions after this time (exclusive) are candidates.
    pub(super) after: Timestamp,
    /// Skip the data (exclude_data_from_backup): nothing is exported, the descriptor is kept.
    pub(super) excluded: bool,
    pub(super) primary_index: u64,
    /// Full-style export (no tombstones in LATEST mode).
    pub(super) from_zero: bool,
    /// The locality store its files go to (an index into [`super::BackupOptions::localities`]);
    /// `None`: the default store.
    pub(super) store: Option<usize>,
}

/// Splits each span at the ranges of the cluster at `end` (locality-aware backups): each
/// piece goes to the store whose locality matches its range's leaseholder (most specific
/// tier first), else to the default; adjacent pieces of one store stay one span.
pub(super) fn split_by_locality(
    cluster: &Cluster,
    export: Vec<ExportSpan>,
    stores: &[vouch_format::locality::Tier],
    end: Timestamp,
) -> Result<Vec<ExportSpan>> {
    use vouch_format::locality::{pick_store, Locality};
    let ranges = cluster.ranges(end)?;
    let mut out: Vec<ExportSpan> = Vec::new();
    for sp in export {
        let mut at = sp.start.clone();
        let mut pieces: Vec<(Vec<u8>, Vec<u8>, Option<usize>)> = Vec::new();
        for r in ranges.iter().filter(|r| {
            r.end.as_slice() > sp.start.as_slice() && r.start.as_slice() < sp.end.as_slice()
        }) {
            let s = r.start.clone().max(sp.start.clone());
            let e = r.end.clone().min(sp.end.clone());
            let node = Locality::parse(&r.locality).map_err(vouch_cluster::Error::from)?;
            let store = pick_store(&node, stores);
            if at < s {
                pieces.push((at.clone(), s.clone(), None));
            }
            match pieces.last_mut() {
                Some(last) if last.2 == store && last.1 == s => last.1 = e.clone(),
                _ => pieces.push((s, e.clone(), store)),
            }
            at = e;
        }
        if at < sp.end {
            pieces.push((at, sp.end.clone(), None));
        }
        for (s, e, store) in pieces {
            out.push(ExportSpan {
                start: s,
                end: e,
                store,
                ..sp.clone()
            });
        }
    }
    Ok(out)
}

/// The scope of a layer of `opts` from `start` to `end` on `prev` (none: a full backup).
pub(super) fn plan(
    cluster: &Cluster,
    opts: &BackupOptions,
    prev_chain: Option<&Chain>,
    start: Timestamp,
    end: Timestamp,
) -> Result<Scope> {
    let cat = cluster.catalog(end)?;
    let resolved = vouch_chain::resolve(&cat, &opts.targets)?;
    if let Some(c) = prev_chain {
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
            store: None,
        });
    }
    Ok(Scope {
        resolved,
        revisions,
        spans,
        introduced,
        export,
    })
}

/// Checks the export against the GC thresholds of its spans: reads at `end` need `end`
/// after the threshold; history since `after` needs `after` at or after it. Returns the
/// newest threshold, where a full backup with revision history starts.
pub(super) fn revision_start(kv: &Kv, export: &[ExportSpan], end: Timestamp) -> Result<Timestamp> {
    let mut revision_start = Timestamp::MIN;
    for sp in export {
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

    Ok(revision_start)
}

/// An incremental must back up its full backup's targets.
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
