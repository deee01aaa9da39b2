//! # vouch-cluster
//!
//! The embedded MVCC source that vouch backs up by default: the part of a CockroachDB
//! cluster that BACKUP sees, stored in [redb]. This module is the KV layer: MVCC versions
//! under HLC timestamps, tombstones, GC TTLs with GC thresholds, and protected timestamps.
//!
//! Versions are stored under their MVCC-encoded keys (`vouch_format::mvcc`), so redb's
//! bytewise order is (user key ascending, timestamp descending) and a backup can copy the
//! stored key and value bytes into SSTs unchanged (the value's CRC32C covers the key).
//!
//! Owns the KV layer, the catalog (descriptors with their history, DDL, transactions with
//! their constraints, users, ranges, fingerprints) and the workloads. Must never read or
//! write a backup collection (that is the engine's and the read side's) and depends on
//! `vouch-format` only.

#![forbid(unsafe_code)]

mod catalog;
mod clock;
mod requests;
mod userfile;
pub mod workload;

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use vouch_format::mvcc::{self, Timestamp};

pub use catalog::{
    check_password, cmp_rows, decode_zone_rows, hash_password, modification_time, Cluster,
    ColumnDef, ForeignKeyDef, IndexDef, IndexFingerprint, Node, Range, Row, TableDef, Txn,
    ZoneConfig, ZoneKey, ZoneTarget, DEFAULT_NUM_REPLICAS, DEFAULT_REGIONS, DEMO_NODES, EXTERN_DIR,
    MAX_NODES, STORE_FILE,
};
pub use clock::Clock;
pub use requests::{
    has_job_request, job_requests, request_job, take_job_request, JobRequest, REQUESTS_DIR,
};
pub use userfile::{connection_key, StorageTables, USERFILE_CHUNK};

const MVCC: TableDefinition<&[u8], &[u8]> = TableDefinition::new("mvcc");
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Zone (key prefix) -> GC TTL in seconds.
const ZONES: TableDefinition<&[u8], u64> = TableDefinition::new("zones");
/// Zone (key prefix) -> GC threshold (12-byte timestamp).
const THRESHOLDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("gc_thresholds");
/// Protected timestamp record id -> 12-byte timestamp.
const PROTECTED: TableDefinition<u64, &[u8]> = TableDefinition::new("protected_ts");
/// Backup schedule id -> its record (`vouch_format::manifest::pb::BackupSchedule`,
/// spec/schedules.md); the bytes are the caller's.
const SCHEDULES: TableDefinition<u64, &[u8]> = TableDefinition::new("schedules");
/// Job id -> its record (`vouch_format::manifest::pb::JobRecord`, spec/jobs.md): the
/// cluster's `system.jobs`; the bytes are the caller's.
const JOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("jobs");

/// META key of the manual clock's wall time (8 bytes, big-endian).
const MANUAL_CLOCK: &str = "clock.manual";

fn manual_wall(meta: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<Option<u64>> {
    match meta.get(MANUAL_CLOCK)? {
        None => Ok(None),
        Some(g) => {
            let b: [u8; 8] = g
                .value()
                .try_into()
                .map_err(|_| Error::Storage(format!("setting {MANUAL_CLOCK}: not 8 bytes")))?;
            Ok(Some(u64::from_be_bytes(b)))
        }
    }
}

/// The bit that marks a protected timestamp record as a backup schedule's
/// ([`schedule_record_id`]); job records are the job's id, below 2^63.
const SCHEDULE_RECORD_BIT: u64 = 1 << 63;

/// The protected timestamp record a backup schedule's runs keep (spec/schedules.md §5):
/// its id among the records is the schedule id with the top bit set.
pub fn schedule_record_id(schedule_id: u64) -> u64 {
    schedule_id | SCHEDULE_RECORD_BIT
}

/// Who holds a protected timestamp record (CockroachDB's `meta_type` and `meta`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOwner {
    /// A job (a backup while it runs, or one that stopped and may be resumed).
    Job(u64),
    /// A backup schedule, for its next incremental.
    Schedule(u64),
}

impl RecordOwner {
    /// The owner of the record `id`.
    pub fn of(id: u64) -> RecordOwner {
        if id & SCHEDULE_RECORD_BIT != 0 {
            RecordOwner::Schedule(id & !SCHEDULE_RECORD_BIT)
        } else {
            RecordOwner::Job(id)
        }
    }
}

/// Default GC TTL, as in current CockroachDB: 4 hours.
pub const DEFAULT_GC_TTL_SECS: u64 = 4 * 3600;
/// redb page cache size.
const CACHE_BYTES: usize = 64 << 20;
const NANOS: u64 = 1_000_000_000;

/// Errors of the KV layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The storage engine failed.
    #[error("storage: {0}")]
    Storage(String),
    /// Stored bytes do not decode.
    #[error("corrupt cluster data: {0}")]
    Format(#[from] vouch_format::Error),
    /// A read asked for history that GC may already have removed.
    #[error(
        "batch timestamp {requested} must be after replica GC threshold {threshold} (key span starting {span}): history before the GC threshold is gone"
    )]
    BelowGcThreshold {
        requested: Timestamp,
        threshold: Timestamp,
        span: String,
    },
    /// Misuse.
    #[error("{0}")]
    Usage(String),
    /// A locality or constraint text is malformed.
    #[error("{0}")]
    Locality(#[from] vouch_format::locality::LocalityError),
    /// A named object does not exist (`relation "bank.accounts" does not exist`).
    #[error("{0}")]
    UndefinedObject(String),
    /// A name is already taken.
    #[error("{0}")]
    DuplicateObject(String),
    /// A row breaks a constraint (type, NOT NULL, unique, foreign key).
    #[error("{0}")]
    Constraint(String),
    /// The cluster's store is open in another process (one process at a time): try again
    /// when it is closed.
    #[error("the cluster is in use by another process ({0})")]
    Busy(String),
}

impl From<redb::DatabaseError> for Error {
    fn from(e: redb::DatabaseError) -> Self {
        match e {
            redb::DatabaseError::DatabaseAlreadyOpen => Error::Busy(e.to_string()),
            e => Error::Storage(e.to_string()),
        }
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Storage(e.to_string())
            }
        }
    )*};
}
storage_from!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One stored version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The user key.
    pub key: Vec<u8>,
    /// When it was written.
    pub ts: Timestamp,
    /// The value, `None` for a tombstone.
    pub value: Option<Vec<u8>>,
}

/// Puts and deletes applied together at one timestamp.
#[derive(Debug, Default)]
pub struct Batch {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    /// Writes `value` under `key`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.ops.push((key.to_vec(), Some(value.to_vec())));
    }

    /// Deletes `key` (writes a tombstone).
    pub fn delete(&mut self, key: &[u8]) {
        self.ops.push((key.to_vec(), None));
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }
}

/// The records of one table (schedules or jobs: id -> bytes) inside
/// [`Kv::with_schedules`]'s or [`Kv::with_jobs`]'s transaction.
pub struct Records<'t> {
    table: redb::Table<'t, u64, &'static [u8]>,
}

/// The schedule records inside [`Kv::with_schedules`]'s transaction.
pub type Schedules<'t> = Records<'t>;
/// The job records inside [`Kv::with_jobs`]'s transaction.
pub type Jobs<'t> = Records<'t>;

impl std::fmt::Debug for Records<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Records")
    }
}

impl Records<'_> {
    /// The record of `id`.
    pub fn get(&self, id: u64) -> Result<Option<Vec<u8>>> {
        Ok(self.table.get(id)?.map(|g| g.value().to_vec()))
    }

    /// Every record (id, bytes), by id.
    pub fn list(&self) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut out = Vec::new();
        for e in self.table.iter()? {
            let (k, v) = e?;
            out.push((k.value(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Writes the record of `id`.
    pub fn put(&mut self, id: u64, bytes: &[u8]) -> Result<()> {
        self.table.insert(id, bytes)?;
        Ok(())
    }

    /// Removes the record of `id`; true when there was one.
    pub fn remove(&mut self, id: u64) -> Result<bool> {
        Ok(self.table.remove(id)?.is_some())
    }
}

/// The MVCC store.
#[derive(Debug)]
pub struct Kv {
    /// Shared with [`StorageTables`] handles, which outlive a borrow of the cluster.
    db: Arc<Database>,
    clock: Clock,
}

fn ts_bytes(ts: Timestamp) -> [u8; 12] {
    ts.encode_be()
}

fn ts_from(b: &[u8]) -> Result<Timestamp> {
    Ok(Timestamp::decode_be(b)?)
}

/// The timestamp just before `ts` (`ts` itself for the minimum).
fn just_before(ts: Timestamp) -> Timestamp {
    match (ts.wall, ts.logical) {
        (_, l) if l > 0 => Timestamp::new(ts.wall, l - 1),
        (0, _) => Timestamp::MIN,
        (w, _) => Timestamp::new(w - 1, u32::MAX),
    }
}

/// Smallest MVCC-encoded key of `user` (its newest possible version).
fn lower(user: &[u8]) -> Vec<u8> {
    mvcc::key(user, Timestamp::MAX)
}

impl Kv {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path, clock: Clock) -> Result<Self> {
        // A bounded page cache keeps memory flat however large the cluster is.
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)?;
        let mut kv = Kv {
            db: Arc::new(db),
            clock,
        };
        let txn = kv.db.begin_write()?;
        {
            txn.open_table(MVCC)?;
            txn.open_table(ZONES)?;
            txn.open_table(THRESHOLDS)?;
            txn.open_table(PROTECTED)?;
            txn.open_table(SCHEDULES)?;
            userfile::create_tables(&txn)?;
            txn.open_table(JOBS)?;
            let meta = txn.open_table(META)?;
            if let Some(wall) = manual_wall(&meta)? {
                kv.clock = Clock::manual(wall);
            }
            let last = meta.get("hlc")?.map(|g| g.value().to_vec());
            if let Some(last) = last {
                kv.clock.observe(ts_from(&last)?);
            }
        }
        txn.commit()?;
        Ok(kv)
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// A timestamp after every write so far (what `cluster now` prints).
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Applies a batch at one new timestamp and returns it.
    pub fn write(&self, batch: &Batch) -> Result<Timestamp> {
        let ts = self.clock.now();
        self.apply(batch, ts, true)?;
        Ok(ts)
    }

    /// Applies a batch at `ts`, a timestamp this store's clock gave out earlier. Used to
    /// ingest many batches at one timestamp (RESTORE writes all of a job's data at one
    /// time): the caller must only write keys that have no version newer than `ts`.
    pub fn write_at(&self, batch: &Batch, ts: Timestamp) -> Result<()> {
        if ts > self.clock.now() {
            return Err(Error::Usage(format!(
                "cannot write at {ts}: it is in the future of this cluster's clock"
            )));
        }
        // The clock already passed `ts`: the recorded HLC stays where it is.
        self.apply(batch, ts, false)
    }

    /// Writes the batch's versions at `ts` in one transaction; with `record_hlc`, `ts`
    /// becomes the HLC a reopened store starts after.
    fn apply(&self, batch: &Batch, ts: Timestamp, record_hlc: bool) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(MVCC)?;
            let mut k = Vec::new();
            let mut v = Vec::new();
            for (key, value) in &batch.ops {
                k.clear();
                mvcc::encode_key(key, ts, &mut k);
                v.clear();
                mvcc::encode_value(&k, value.as_deref(), &mut v);
                t.insert(k.as_slice(), v.as_slice())?;
            }
            if record_hlc {
                let mut meta = txn.open_table(META)?;
                meta.insert("hlc", ts_bytes(ts).as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Makes the cluster's clock manual at `wall` (nanoseconds; every later open of the
    /// cluster starts its clock there, and it moves only when set again), or with `None`
    /// the system clock again. Timestamps still never go back: a manual time before the
    /// last write only advances the logical counter. The clock of this open `Kv` does not
    /// change.
    pub fn set_manual_clock(&self, wall: Option<u64>) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            match wall {
                Some(w) => {
                    meta.insert(MANUAL_CLOCK, w.to_be_bytes().as_slice())?;
                }
                None => {
                    meta.remove(MANUAL_CLOCK)?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// The manual clock's wall time, if the cluster has one ([`Kv::set_manual_clock`]).
    pub fn manual_clock(&self) -> Result<Option<u64>> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        manual_wall(&meta)
    }

    /// Reads a cluster setting (non-MVCC metadata).
    pub fn setting(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(meta.get(name)?.map(|g| g.value().to_vec()))
    }

    /// Writes a cluster setting (non-MVCC metadata). `hlc` and `clock.manual` are
    /// reserved.
    pub fn set_setting(&self, name: &str, value: &[u8]) -> Result<()> {
        if name == "hlc" || name == MANUAL_CLOCK {
            return Err(Error::Usage(format!(
                "the setting name `{name}` is reserved"
            )));
        }
        let txn = self.db.begin_write()?;
        txn.open_table(META)?.insert(name, value)?;
        txn.commit()?;
        Ok(())
    }

    /// Takes `n` consecutive values of the counter `name` (starting at `first` the first
    /// time) and returns the first one.
    pub fn allocate(&self, name: &str, first: u64, n: u64) -> Result<u64> {
        let txn = self.db.begin_write()?;
        let start;
        {
            let mut meta = txn.open_table(META)?;
            start = match meta.get(name)? {
                Some(g) => {
                    let b: [u8; 8] = g
                        .value()
                        .try_into()
                        .map_err(|_| Error::Storage(format!("counter {name}: not 8 bytes")))?;
                    u64::from_be_bytes(b)
                }
                None => first,
            };
            let next = start
                .checked_add(n)
                .ok_or_else(|| Error::Usage(format!("counter {name} overflows")))?;
            meta.insert(name, next.to_be_bytes().as_slice())?;
        }
        txn.commit()?;
        Ok(start)
    }

    /// Sets the GC TTL of the keys starting with `prefix` (the longest matching prefix wins).
    pub fn set_gc_ttl(&self, prefix: &[u8], ttl_secs: u64) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.open_table(ZONES)?.insert(prefix, ttl_secs)?;
        txn.commit()?;
        Ok(())
    }

    /// Removes the GC TTL of the keys starting with `prefix` (they take the longest other
    /// prefix's that matches them, or the default). Its GC threshold stays (thresholds never go
    /// back).
    pub fn clear_gc_ttl(&self, prefix: &[u8]) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.open_table(ZONES)?.remove(prefix)?;
        txn.commit()?;
        Ok(())
    }

    /// Replaces every GC TTL prefix at once (zone configurations recomputed).
    pub fn replace_gc_ttls(&self, ttls: &[(Vec<u8>, u64)]) -> Result<()> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(ZONES)?;
            t.retain(|_, _| false)?;
            for (p, ttl) in ttls {
                t.insert(p.as_slice(), *ttl)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// The GC TTL that applies to `key`.
    pub fn gc_ttl(&self, key: &[u8]) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let zones = txn.open_table(ZONES)?;
        let mut best: Option<(usize, u64)> = None;
        for e in zones.iter()? {
            let (p, ttl) = e?;
            let p = p.value();
            if key.starts_with(p) && best.is_none_or(|(n, _)| p.len() > n) {
                best = Some((p.len(), ttl.value()));
            }
        }
        Ok(best.map(|(_, t)| t).unwrap_or(DEFAULT_GC_TTL_SECS))
    }

    /// The highest GC threshold among zones overlapping [start, end) and the global one.
    pub fn gc_threshold(&self, start: &[u8], end: &[u8]) -> Result<Timestamp> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(THRESHOLDS)?;
        let mut max = Timestamp::MIN;
        for e in t.iter()? {
            let (p, ts) = e?;
            let p = p.value();
            // The zone's keys are [p, p + 0xff...): overlaps [start, end) unless it ends
            // before start or begins at/after end.
            let zone_before = !start.starts_with(p) && p < start;
            let zone_after = !end.is_empty() && p >= end;
            if !zone_before && !zone_after {
                max = max.max(ts_from(ts.value())?);
            }
        }
        Ok(max)
    }

    /// Reads at `as_of` need `as_of` after the threshold (CockroachDB's rule); history
    /// since `as_of` (exclusive) needs `as_of` at or after it (`inclusive`).
    fn check_gc(&self, start: &[u8], end: &[u8], as_of: Timestamp, inclusive: bool) -> Result<()> {
        let threshold = self.gc_threshold(start, end)?;
        let at_threshold = threshold != Timestamp::MIN && as_of == threshold && !inclusive;
        if as_of < threshold || at_threshold {
            return Err(Error::BelowGcThreshold {
                requested: as_of,
                threshold,
                span: String::from_utf8_lossy(start).into_owned(),
            });
        }
        Ok(())
    }

    /// Adds a protected timestamp record: GC keeps every version needed to read at `ts`.
    pub fn protect(&self, id: u64, ts: Timestamp) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.open_table(PROTECTED)?
            .insert(id, ts_bytes(ts).as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// Removes a protected timestamp record.
    pub fn release(&self, id: u64) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.open_table(PROTECTED)?.remove(id)?;
        txn.commit()?;
        Ok(())
    }

    /// The protected timestamp records (id, timestamp), by id.
    pub fn protected(&self) -> Result<Vec<(u64, Timestamp)>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(PROTECTED)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            let (k, v) = e?;
            out.push((k.value(), ts_from(v.value())?));
        }
        Ok(out)
    }

    /// Every schedule record (id, stored bytes), by id.
    pub fn schedules(&self) -> Result<Vec<(u64, Vec<u8>)>> {
        self.records(SCHEDULES)
    }

    /// Every job record (id, stored bytes), by id.
    pub fn jobs(&self) -> Result<Vec<(u64, Vec<u8>)>> {
        self.records(JOBS)
    }

    fn records(&self, def: TableDefinition<u64, &[u8]>) -> Result<Vec<(u64, Vec<u8>)>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(def)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            let (k, v) = e?;
            out.push((k.value(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Runs `f` on the schedule records in one write transaction, committed only when `f`
    /// returns `Ok`: reads and writes of several records are atomic, and two writers (a
    /// statement and a scheduler) are serialized.
    pub fn with_schedules<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&mut Schedules<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.with_records(SCHEDULES, f)
    }

    /// [`Kv::with_schedules`] for the job records (`system.jobs`).
    pub fn with_jobs<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&mut Jobs<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.with_records(JOBS, f)
    }

    fn with_records<T, E: From<Error>>(
        &self,
        def: TableDefinition<u64, &[u8]>,
        f: impl FnOnce(&mut Records<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let txn = self.db.begin_write().map_err(Error::from)?;
        let out = {
            let table = txn.open_table(def).map_err(Error::from)?;
            let mut s = Records { table };
            f(&mut s)?
        };
        txn.commit().map_err(Error::from)?;
        Ok(out)
    }

    /// The oldest protected timestamp, if any.
    pub fn min_protected(&self) -> Result<Option<Timestamp>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(PROTECTED)?;
        let mut min: Option<Timestamp> = None;
        for e in t.iter()? {
            let ts = ts_from(e?.1.value())?;
            min = Some(min.map_or(ts, |m| m.min(ts)));
        }
        Ok(min)
    }

    /// The newest value of `key` at or before `as_of`.
    pub fn get(&self, key: &[u8], as_of: Timestamp) -> Result<Option<Vec<u8>>> {
        let mut end = key.to_vec();
        end.push(0);
        let mut out = None;
        self.scan(key, &end, as_of, |_, v| {
            out = Some(v.to_vec());
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `f` with each key in [start, end) live at `as_of` and its value, in key order.
    /// An empty `end` means no upper bound.
    pub fn scan<F>(&self, start: &[u8], end: &[u8], as_of: Timestamp, mut f: F) -> Result<()>
    where
        F: FnMut(&[u8], &[u8]) -> Result<()>,
    {
        self.check_gc(start, end, as_of, false)?;
        let mut done: Option<Vec<u8>> = None;
        self.raw_versions(start, end, |user, ts, value| {
            if ts > as_of || done.as_deref() == Some(user) {
                return Ok(());
            }
            done = Some(user.to_vec());
            if let mvcc::Value::Live(v) = value {
                f(user, v)?;
            }
            Ok(())
        })
    }

    /// Calls `f` with every version in [start, end) whose timestamp is in (after, upto],
    /// newest first within a key.
    pub fn versions<F>(
        &self,
        start: &[u8],
        end: &[u8],
        after: Timestamp,
        upto: Timestamp,
        mut f: F,
    ) -> Result<()>
    where
        F: FnMut(&Version) -> Result<()>,
    {
        if after != Timestamp::MIN {
            self.check_gc(start, end, after, true)?;
        }
        self.raw_versions(start, end, |user, ts, value| {
            if ts > after && ts <= upto {
                f(&Version {
                    key: user.to_vec(),
                    ts,
                    value: match value {
                        mvcc::Value::Live(v) => Some(v.to_vec()),
                        mvcc::Value::Tombstone => None,
                    },
                })?;
            }
            Ok(())
        })
    }

    /// Calls `f` with the stored (encoded) key and value bytes of every version in
    /// [start, end), in stored order. Used by backups to copy bytes unchanged.
    pub fn raw<F>(&self, start: &[u8], end: &[u8], mut f: F) -> Result<()>
    where
        F: FnMut(&[u8], &[u8]) -> Result<()>,
    {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(MVCC)?;
        let lo = lower(start);
        let iter = if end.is_empty() {
            t.range(lo.as_slice()..)?
        } else {
            let hi = lower(end);
            t.range(lo.as_slice()..hi.as_slice())?
        };
        for e in iter {
            let (k, v) = e?;
            f(k.value(), v.value())?;
        }
        Ok(())
    }

    fn raw_versions<F>(&self, start: &[u8], end: &[u8], mut f: F) -> Result<()>
    where
        F: FnMut(&[u8], Timestamp, mvcc::Value<'_>) -> Result<()>,
    {
        self.raw(start, end, |k, v| {
            let (user, ts) = mvcc::decode_key(k)?;
            let value = mvcc::decode_value(k, v)?;
            f(&user, ts, value)
        })
    }

    /// Runs GC as of `now`: for each zone (and the default zone for all other keys) the
    /// threshold advances to `now - ttl`, but never past the oldest protected timestamp;
    /// versions no read at or after the threshold can see are removed. Returns the number
    /// of versions removed.
    pub fn gc(&self, now: Timestamp) -> Result<u64> {
        let zones = self.zones()?;
        self.gc_zones(now, &zones)
    }

    /// The configured GC TTLs (key prefix, seconds), the default zone (empty prefix,
    /// [`DEFAULT_GC_TTL_SECS`] unless set) first.
    pub fn zones(&self) -> Result<Vec<(Vec<u8>, u64)>> {
        let txn = self.db.begin_read()?;
        let z = txn.open_table(ZONES)?;
        let mut v: Vec<(Vec<u8>, u64)> = vec![(Vec::new(), DEFAULT_GC_TTL_SECS)];
        for e in z.iter()? {
            let (p, ttl) = e?;
            if p.value().is_empty() {
                v[0].1 = ttl.value();
            } else {
                v.push((p.value().to_vec(), ttl.value()));
            }
        }
        Ok(v)
    }

    /// [`Kv::gc`] with the TTLs given (key prefix, seconds; each key takes its longest
    /// matching prefix, the default zone is the empty prefix, [`DEFAULT_GC_TTL_SECS`]
    /// when not given) instead of the configured ones.
    pub fn gc_zones(&self, now: Timestamp, zones: &[(Vec<u8>, u64)]) -> Result<u64> {
        let protected = self.min_protected()?;
        let mut zones = zones.to_vec();
        if !zones.iter().any(|(p, _)| p.is_empty()) {
            zones.insert(0, (Vec::new(), DEFAULT_GC_TTL_SECS));
        }
        // Each key belongs to its longest matching zone prefix.
        let zone_of = |key: &[u8]| -> usize {
            let mut best = 0usize;
            for (i, (p, _)) in zones.iter().enumerate() {
                if key.starts_with(p) && zones.get(best).is_some_and(|(b, _)| p.len() >= b.len()) {
                    best = i;
                }
            }
            best
        };
        let thresholds: Vec<Timestamp> = zones
            .iter()
            .map(|(_, ttl)| {
                let t = Timestamp::new(now.wall.saturating_sub(ttl.saturating_mul(NANOS)), 0);
                // Reads need a time after the threshold, so a protected time keeps the
                // threshold just below it: a read at exactly `p` must still work.
                match protected {
                    Some(p) if p <= t => just_before(p),
                    _ => t,
                }
            })
            .collect();
        let txn = self.db.begin_write()?;
        let removed;
        {
            let mut t = txn.open_table(MVCC)?;
            let mut doomed: Vec<Vec<u8>> = Vec::new();
            let mut cur: Option<(Vec<u8>, bool)> = None; // (user key, seen version <= threshold)
            for e in t.iter()? {
                let (k, v) = e?;
                let (user, ts) = mvcc::decode_key(k.value())?;
                let threshold = thresholds
                    .get(zone_of(&user))
                    .copied()
                    .unwrap_or(Timestamp::MIN);
                let seen = match &cur {
                    Some((u, s)) if *u == user => *s,
                    _ => false,
                };
                if ts <= threshold {
                    if seen {
                        doomed.push(k.value().to_vec());
                    } else if mvcc::decode_value(k.value(), v.value())?.is_tombstone() {
                        // The newest version at the threshold is a deletion: nothing at or
                        // after the threshold needs it or anything older.
                        doomed.push(k.value().to_vec());
                    }
                    cur = Some((user, true));
                } else {
                    cur = Some((user, seen));
                }
            }
            for k in &doomed {
                t.remove(k.as_slice())?;
            }
            removed = doomed.len() as u64;
            let mut th = txn.open_table(THRESHOLDS)?;
            for ((p, _), ts) in zones.iter().zip(thresholds.iter()) {
                let old = match th.get(p.as_slice())? {
                    Some(b) => ts_from(b.value())?,
                    None => Timestamp::MIN,
                };
                if *ts > old {
                    th.insert(p.as_slice(), ts_bytes(*ts).as_slice())?;
                }
            }
        }
        txn.commit()?;
        Ok(removed)
    }
}
