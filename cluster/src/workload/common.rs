//! What both workloads share: the `Workload` names, options and summaries, the seeded
//! generators and row helpers.

use std::fmt;
use std::str::FromStr;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use vouch_format::keys::{self, Datum};
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_format::schema::{self, index_layouts};

use crate::catalog::{modification_time, Row};
use crate::{Cluster, Error, Result};

/// Payload length of `bank` rows unless told otherwise (CockroachDB's default is 100 too).
pub const DEFAULT_PAYLOAD_BYTES: usize = 100;
/// Rows per transaction during `init`.
pub const DEFAULT_BATCH_ROWS: usize = 2000;

/// The `bank` database and table name.
pub const BANK: &str = "bank";
/// The `movr` database name.
pub const MOVR: &str = "movr";

/// 2024-01-01T00:00:00Z in microseconds: generated TIMESTAMP values start here.
pub(super) const BASE_MICROS: i64 = 1_704_067_200_000_000;
pub(super) const MINUTE_MICROS: i64 = 60_000_000;
pub(super) const YEAR_MICROS: i64 = 365 * 24 * 60 * MINUTE_MICROS;

/// A workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Workload {
    /// `cockroach workload … bank`.
    Bank,
    /// A `movr`-like workload: foreign keys, an enum, a view, secondary indexes.
    Movr,
}

impl Workload {
    /// The name (`bank`, `movr`).
    pub fn name(self) -> &'static str {
        match self {
            Workload::Bank => "bank",
            Workload::Movr => "movr",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "bank" => Ok(Workload::Bank),
            "movr" => Ok(Workload::Movr),
            _ => Err(Error::Usage(format!(
                "unknown workload {s:?} (expected bank or movr)"
            ))),
        }
    }
}

/// What an `init` or `run` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Timestamp of the last write (row or schema change), if any.
    pub last_write: Option<Timestamp>,
    /// Rows inserted.
    pub inserts: u64,
    /// Rows updated.
    pub updates: u64,
    /// Rows deleted.
    pub deletes: u64,
    /// Schema changes (CREATE …, ALTER …).
    pub schema_changes: u64,
}

impl Summary {
    pub(super) fn wrote(&mut self, ts: Option<Timestamp>) {
        if let Some(ts) = ts {
            self.last_write = Some(self.last_write.map_or(ts, |l| l.max(ts)));
        }
    }

    pub(super) fn schema_change(&mut self, ts: Timestamp) {
        self.schema_changes += 1;
        self.wrote(Some(ts));
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} inserts, {} updates, {} deletes, {} schema changes, last write ",
            self.inserts, self.updates, self.deletes, self.schema_changes
        )?;
        match self.last_write {
            Some(ts) => write!(f, "{ts}"),
            None => f.write_str("none"),
        }
    }
}

/// Options of [`init_with`](super::init_with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitOptions {
    /// Rows: `bank` accounts; `movr` users and rides (and half as many vehicles).
    pub rows: u64,
    /// Seed of the generated data.
    pub seed: u64,
    /// Length of each `bank` payload (ASCII).
    pub payload_bytes: usize,
    /// Rows per transaction (changes timestamps and MVCC history, never the data).
    pub batch_rows: usize,
    /// `movr` only, like `cockroach demo movr --geo-partitioned`: `users`, `vehicles` and
    /// `rides` get primary key `(city, id)`, are `PARTITION BY LIST (city)` into `us_west`,
    /// `us_east` and `europe_west`, and each partition's zone is constrained to its region.
    pub geo_partitioned: bool,
}

impl InitOptions {
    /// `rows` rows from `seed`, with default payload and batch sizes.
    pub fn new(rows: u64, seed: u64) -> Self {
        InitOptions {
            rows,
            seed,
            payload_bytes: DEFAULT_PAYLOAD_BYTES,
            batch_rows: DEFAULT_BATCH_ROWS,
            geo_partitioned: false,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Shared helpers

/// A generator for one phase of one workload: SHA-256 over the names, the seed and the
/// state digest, as a ChaCha8 seed.
pub(super) fn rng_for(w: Workload, phase: &str, seed: u64, state: &[u8]) -> ChaCha8Rng {
    let mut h = Sha256::new();
    h.update(b"vouch workload\0");
    h.update(w.name().as_bytes());
    h.update([0]);
    h.update(phase.as_bytes());
    h.update([0]);
    h.update(seed.to_le_bytes());
    h.update(state);
    ChaCha8Rng::from_seed(h.finalize().into())
}

pub(super) fn pick<'a, T>(rng: &mut ChaCha8Rng, xs: &'a [T]) -> Option<&'a T> {
    if xs.is_empty() {
        None
    } else {
        xs.get(rng.gen_range(0..xs.len()))
    }
}

pub(super) fn pick_str(rng: &mut ChaCha8Rng, xs: &[&'static str]) -> &'static str {
    pick(rng, xs).copied().unwrap_or_default()
}

const ALPHABET: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";

pub(super) fn payload(rng: &mut ChaCha8Rng, n: usize) -> String {
    let mut b = vec![0u8; n];
    rng.fill_bytes(&mut b);
    b.iter()
        .map(|x| char::from(ALPHABET[usize::from(x & 63)]))
        .collect()
}

pub(super) fn uuid(rng: &mut ChaCha8Rng) -> [u8; 16] {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    b
}

pub(super) fn random_time(rng: &mut ChaCha8Rng) -> i64 {
    BASE_MICROS + rng.gen_range(0..YEAR_MICROS)
}

pub(super) fn internal(msg: String) -> Error {
    Error::Usage(format!("workload: {msg}"))
}

pub(super) fn table_of(t: &pb::Descriptor) -> Result<&pb::Table> {
    schema::table(t).ok_or_else(|| internal(format!("{} is not a table", t.name)))
}

pub(super) fn has_column(t: &pb::Descriptor, name: &str) -> bool {
    schema::table(t).is_some_and(|t| t.columns.iter().any(|c| c.name == name))
}

pub(super) fn has_index(t: &pb::Descriptor, name: &str) -> bool {
    schema::table(t).is_some_and(|t| t.secondary_indexes.iter().any(|i| i.name == name))
}

/// The first `note_<n>` column name `t` does not have.
pub(super) fn next_note_column(t: &pb::Descriptor) -> String {
    (1u64..)
        .map(|n| format!("note_{n}"))
        .find(|name| !has_column(t, name))
        .unwrap_or_else(|| "note".into())
}

/// A row of `t` from named values; columns not named are NULL.
pub(super) fn row_for(t: &pb::Descriptor, values: &[(&str, Datum)]) -> Result<Row> {
    Ok(table_of(t)?
        .columns
        .iter()
        .map(|c| {
            values
                .iter()
                .find(|(n, _)| *n == c.name)
                .map_or(Datum::Null, |(_, d)| d.clone())
        })
        .collect())
}

pub(super) fn column_index(t: &pb::Descriptor, name: &str) -> Result<usize> {
    table_of(t)?
        .columns
        .iter()
        .position(|c| c.name == name)
        .ok_or_else(|| internal(format!("table {} has no column {name}", t.name)))
}

pub(super) fn get(t: &pb::Descriptor, row: &Row, name: &str) -> Result<Datum> {
    let i = column_index(t, name)?;
    row.get(i)
        .cloned()
        .ok_or_else(|| internal(format!("short row in {}", t.name)))
}

pub(super) fn set(t: &pb::Descriptor, row: &mut Row, name: &str, d: Datum) -> Result<()> {
    let i = column_index(t, name)?;
    let slot = row
        .get_mut(i)
        .ok_or_else(|| internal(format!("short row in {}", t.name)))?;
    *slot = d;
    Ok(())
}

/// The primary keys of every live row of `t`, in key order, read from the keys alone;
/// each key's bytes also go into `digest`.
pub(super) fn primary_keys(
    c: &Cluster,
    t: &pb::Descriptor,
    digest: &mut Sha256,
) -> Result<Vec<Vec<Datum>>> {
    let layouts = index_layouts(t)?;
    let primary = layouts
        .first()
        .ok_or_else(|| internal(format!("{} has no primary index", t.name)))?;
    let types = primary.key_types();
    let mut start = Vec::new();
    keys::encode_table_prefix(t.id, u64::from(primary.id), &mut start);
    let mut end = Vec::new();
    keys::encode_table_prefix(t.id, u64::from(primary.id) + 1, &mut end);
    let mut out = Vec::new();
    c.kv().scan(&start, &end, c.now(), |k, _| {
        let (_, _, pk) = keys::decode_index_key(k, &types)?;
        // Without the table prefix: ids differ between a cluster and its restored copy.
        let (_, _, n) = keys::decode_table_prefix(k)?;
        let suffix = k.get(n..).unwrap_or_default();
        digest.update((suffix.len() as u64).to_le_bytes());
        digest.update(suffix);
        out.push(pk);
        Ok(())
    })?;
    shape(t, digest);
    Ok(out)
}

/// Adds a table's shape (its name, column names and index names) to `digest`.
pub(super) fn shape(t: &pb::Descriptor, digest: &mut Sha256) {
    let mut names = vec![t.name.as_str()];
    if let Some(tt) = schema::table(t) {
        names.extend(tt.columns.iter().map(|c| c.name.as_str()));
        names.extend(tt.secondary_indexes.iter().map(|i| i.name.as_str()));
    }
    for n in names {
        digest.update((n.len() as u64).to_le_bytes());
        digest.update(n.as_bytes());
    }
}

pub(super) fn descriptor_time(c: &Cluster, id: u64) -> Result<Timestamp> {
    Ok(modification_time(&c.descriptor(id, c.now())?))
}

pub(super) fn missing(t: &pb::Descriptor) -> Error {
    internal(format!("a row of {} vanished during the run", t.name))
}

/// Writes `rows` rows produced by `make`, `batch` rows per transaction.
pub(super) fn insert_batched<F>(
    c: &Cluster,
    t: &pb::Descriptor,
    rows: u64,
    batch: usize,
    s: &mut Summary,
    mut make: F,
) -> Result<()>
where
    F: FnMut(u64) -> Result<Row>,
{
    let batch = batch.max(1) as u64;
    let mut i = 0u64;
    while i < rows {
        let n = (rows - i).min(batch);
        let chunk = (i..i + n).map(&mut make).collect::<Result<Vec<Row>>>()?;
        let mut tx = c.txn();
        tx.insert(t, &chunk)?;
        s.wrote(tx.commit()?);
        s.inserts += n;
        i += n;
    }
    Ok(())
}

pub(super) fn int(d: &Datum, what: &str) -> Result<i64> {
    match d {
        Datum::Int(v) => Ok(*v),
        other => Err(internal(format!(
            "{what}: {} is not an INT",
            other.type_name()
        ))),
    }
}

pub(super) fn uuid_of(d: &Datum, what: &str) -> Result<[u8; 16]> {
    match d {
        Datum::Uuid(v) => Ok(*v),
        other => Err(internal(format!(
            "{what}: {} is not a UUID",
            other.type_name()
        ))),
    }
}
