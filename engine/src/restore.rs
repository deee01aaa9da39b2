//! RESTORE: point-in-time restore from a chain of layers into a cluster.
//!
//! Planning, selection and reading are `vouch_chain`'s (shared with `vouch verify` and
//! `vouch dump`): the chain checked, the layers serving the time selected, the descriptors
//! in force rebuilt, targets and dependency rules decided on catalogs, and one k-way merge
//! per table. What is here writes: new ids from the cluster's allocator, keys rewritten to
//! them, rows ingested at one timestamp, descriptors published, fingerprints read back.

use std::collections::{BTreeMap, BTreeSet};

use vouch_chain::RestoreOptions;
use vouch_chain::{assign, check_options, check_row, qualified, select};
use vouch_chain::{open_source_keyed, plan};
use vouch_cluster::{Batch, Cluster};
use vouch_format::entry::{TableCheck, UniqueKeys};
use vouch_format::fingerprint::Fingerprint;
use vouch_format::keys;
use vouch_format::keys::table_span;
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_format::schema::{self, index_layouts, Catalog, USERS_TABLE_ID};

use crate::{Error, ErrorKind, Result};

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

/// Runs a RESTORE into `cluster`.
pub fn restore(
    cluster: &Cluster,
    opts: &RestoreOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<RestoreResult> {
    check_options(opts)?;
    let store_opts = crate::storage::open_options(cluster);
    let chain = open_source_keyed(&opts.source, &store_opts, &opts.keys)?;
    let now = cluster.now();
    let as_of = opts
        .as_of
        .as_deref()
        .map(|t| {
            vouch_format::time::parse_as_of(t, now)
                .map_err(|e| Error::refused(ErrorKind::InvalidTime, e.to_string()))
        })
        .transpose()?;
    let plan = plan(chain, as_of)?;
    let bcat = plan.catalog();
    let tcat = cluster.catalog(now)?;
    let sel = select(&plan, &bcat, &tcat, opts)?;
    let mapping = assign(
        |n| cluster.allocate_ids(n).map_err(Error::from),
        &sel,
        &bcat,
        &tcat,
        opts,
    )?;

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
        // Every row read is checked against the descriptor restored (always, as verify
        // checks every row live at a layer's end).
        let check = TableCheck::in_catalog(d, bcat.iter())?;
        let mut uniq = UniqueKeys::default();
        let stats = plan.scan_table(
            d.id,
            &mut |b| {
                progress(Progress::Read {
                    bytes: read_before + b,
                })
            },
            |user, payload| -> Result<()> {
                check_row(&check, &mut uniq, &d.name, user, payload)?;
                if opts.verify_backup_table_data {
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
                return Err(Error::refused(ErrorKind::FingerprintMismatch, format!(
                    "restore failed: fingerprint mismatch for {db}.{} index {}: the backup records {:016x} over {} entries, the restored data has {:016x} over {} entries",
                    d.name, l.name, r.fingerprint, r.rows, got.hash, got.entries
                )));
            }
        }
    }
    Ok(n)
}
