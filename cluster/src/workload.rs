//! Deterministic workloads that fill and change a [`Cluster`], like `cockroach workload
//! init|run bank|movr`.
//!
//! **Determinism.** The data written (every row, every index entry, every schema change)
//! depends only on the seed, the row or op count and the data already in the cluster;
//! timestamps never feed into it. Two clusters given the same `init` and `run` calls have
//! the same [`Cluster::fingerprints`]. Each `run` seeds its generator from the seed *and*
//! a digest of the workload's primary keys and table shapes (column and index names), so
//! repeated runs with one seed do different (but still reproducible) work and never reuse
//! generated keys. Descriptor ids and versions stay out of the digest: a restored copy of a
//! cluster runs exactly like the original.
//!
//! - `bank`: database `bank`, table `bank(id INT PRIMARY KEY, balance INT NOT NULL,
//!   payload STRING)`. `run` does transfers (one transaction moves an amount between two
//!   accounts), opens accounts (balance 0) and closes accounts (the balance moves to another
//!   account in the same transaction), so the total balance never changes.
//! - `movr`: database `movr` with the enum `vehicle_type`, tables `users`, `vehicles` and
//!   `rides` linked by foreign keys, secondary indexes (one `STORING`), and the view
//!   `active_rides`. `run` starts and ends rides, moves vehicles, deletes finished rides and
//!   adds users and vehicles.
//!
//! Every `run` with at least one op applies one schema change halfway through: the first
//! of the workload's list that is not applied yet, then `note_<n>` columns (see
//! [`BANK_SCHEMA_CHANGES`] and [`MOVR_SCHEMA_CHANGES`]).

use std::fmt;
use std::str::FromStr;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use vouch_format::decimal::Decimal;
use vouch_format::keys::{self, ColumnType, Datum};
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_format::schema::{self, index_layouts};

use crate::catalog::{modification_time, ColumnDef, ForeignKeyDef, IndexDef, Row, TableDef};
use crate::{Cluster, Error, Result};

/// Payload length of `bank` rows unless told otherwise (CockroachDB's default is 100 too).
pub const DEFAULT_PAYLOAD_BYTES: usize = 100;
/// Rows per transaction during `init`.
pub const DEFAULT_BATCH_ROWS: usize = 2000;

/// The `bank` database and table name.
pub const BANK: &str = "bank";
/// The `movr` database name.
pub const MOVR: &str = "movr";

/// Schema changes `bank` runs apply, in order (after these: `ADD COLUMN note_<n> STRING`).
pub const BANK_SCHEMA_CHANGES: &[&str] = &[
    "ALTER TABLE bank ADD COLUMN created_at TIMESTAMP",
    "CREATE INDEX bank_balance_idx ON bank (balance)",
];
/// Schema changes `movr` runs apply, in order (after these: `ALTER TABLE users ADD COLUMN
/// note_<n> STRING`).
pub const MOVR_SCHEMA_CHANGES: &[&str] = &[
    "CREATE INDEX rides_city_idx ON rides (city)",
    "ALTER TABLE users ADD COLUMN email STRING",
    "CREATE INDEX vehicles_city_status_idx ON vehicles (city, status)",
];

/// 2024-01-01T00:00:00Z in microseconds: generated TIMESTAMP values start here.
const BASE_MICROS: i64 = 1_704_067_200_000_000;
const MINUTE_MICROS: i64 = 60_000_000;
const YEAR_MICROS: i64 = 365 * 24 * 60 * MINUTE_MICROS;

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
    fn wrote(&mut self, ts: Option<Timestamp>) {
        if let Some(ts) = ts {
            self.last_write = Some(self.last_write.map_or(ts, |l| l.max(ts)));
        }
    }

    fn schema_change(&mut self, ts: Timestamp) {
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

/// Options of [`init_with`].
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
}

impl InitOptions {
    /// `rows` rows from `seed`, with default payload and batch sizes.
    pub fn new(rows: u64, seed: u64) -> Self {
        InitOptions {
            rows,
            seed,
            payload_bytes: DEFAULT_PAYLOAD_BYTES,
            batch_rows: DEFAULT_BATCH_ROWS,
        }
    }
}

/// Creates the workload's schema and `rows` rows from `seed`.
pub fn init(c: &Cluster, w: Workload, rows: u64, seed: u64) -> Result<Summary> {
    init_with(c, w, &InitOptions::new(rows, seed))
}

/// [`init`] with every option.
pub fn init_with(c: &Cluster, w: Workload, o: &InitOptions) -> Result<Summary> {
    let mut s = Summary::default();
    match w {
        Workload::Bank => bank_init(c, o, &mut s)?,
        Workload::Movr => movr_init(c, o, &mut s)?,
    }
    Ok(s)
}

/// Runs `ops` operations (each its own transaction) and one schema change halfway.
pub fn run(c: &Cluster, w: Workload, ops: u64, seed: u64) -> Result<Summary> {
    let mut s = Summary::default();
    match w {
        Workload::Bank => bank_run(c, ops, seed, &mut s)?,
        Workload::Movr => movr_run(c, ops, seed, &mut s)?,
    }
    Ok(s)
}

// ---------------------------------------------------------------------------------------
// Shared helpers

/// A generator for one phase of one workload: SHA-256 over the names, the seed and the
/// state digest, as a ChaCha8 seed.
fn rng_for(w: Workload, phase: &str, seed: u64, state: &[u8]) -> ChaCha8Rng {
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

fn pick<'a, T>(rng: &mut ChaCha8Rng, xs: &'a [T]) -> Option<&'a T> {
    if xs.is_empty() {
        None
    } else {
        xs.get(rng.gen_range(0..xs.len()))
    }
}

fn pick_str(rng: &mut ChaCha8Rng, xs: &[&'static str]) -> &'static str {
    pick(rng, xs).copied().unwrap_or_default()
}

const ALPHABET: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";

fn payload(rng: &mut ChaCha8Rng, n: usize) -> String {
    let mut b = vec![0u8; n];
    rng.fill_bytes(&mut b);
    b.iter()
        .map(|x| char::from(ALPHABET[usize::from(x & 63)]))
        .collect()
}

fn uuid(rng: &mut ChaCha8Rng) -> [u8; 16] {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    b
}

fn random_time(rng: &mut ChaCha8Rng) -> i64 {
    BASE_MICROS + rng.gen_range(0..YEAR_MICROS)
}

fn internal(msg: String) -> Error {
    Error::Usage(format!("workload: {msg}"))
}

fn table_of(t: &pb::Descriptor) -> Result<&pb::Table> {
    schema::table(t).ok_or_else(|| internal(format!("{} is not a table", t.name)))
}

fn has_column(t: &pb::Descriptor, name: &str) -> bool {
    schema::table(t).is_some_and(|t| t.columns.iter().any(|c| c.name == name))
}

fn has_index(t: &pb::Descriptor, name: &str) -> bool {
    schema::table(t).is_some_and(|t| t.secondary_indexes.iter().any(|i| i.name == name))
}

/// The first `note_<n>` column name `t` does not have.
fn next_note_column(t: &pb::Descriptor) -> String {
    (1u64..)
        .map(|n| format!("note_{n}"))
        .find(|name| !has_column(t, name))
        .unwrap_or_else(|| "note".into())
}

/// A row of `t` from named values; columns not named are NULL.
fn row_for(t: &pb::Descriptor, values: &[(&str, Datum)]) -> Result<Row> {
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

fn column_index(t: &pb::Descriptor, name: &str) -> Result<usize> {
    table_of(t)?
        .columns
        .iter()
        .position(|c| c.name == name)
        .ok_or_else(|| internal(format!("table {} has no column {name}", t.name)))
}

fn get(t: &pb::Descriptor, row: &Row, name: &str) -> Result<Datum> {
    let i = column_index(t, name)?;
    row.get(i)
        .cloned()
        .ok_or_else(|| internal(format!("short row in {}", t.name)))
}

fn set(t: &pb::Descriptor, row: &mut Row, name: &str, d: Datum) -> Result<()> {
    let i = column_index(t, name)?;
    let slot = row
        .get_mut(i)
        .ok_or_else(|| internal(format!("short row in {}", t.name)))?;
    *slot = d;
    Ok(())
}

/// The primary keys of every live row of `t`, in key order, read from the keys alone;
/// each key's bytes also go into `digest`.
fn primary_keys(c: &Cluster, t: &pb::Descriptor, digest: &mut Sha256) -> Result<Vec<Vec<Datum>>> {
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
fn shape(t: &pb::Descriptor, digest: &mut Sha256) {
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

fn descriptor_time(c: &Cluster, id: u64) -> Result<Timestamp> {
    Ok(modification_time(&c.descriptor(id, c.now())?))
}

fn missing(t: &pb::Descriptor) -> Error {
    internal(format!("a row of {} vanished during the run", t.name))
}

/// Writes `rows` rows produced by `make`, `batch` rows per transaction.
fn insert_batched<F>(
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

fn int(d: &Datum, what: &str) -> Result<i64> {
    match d {
        Datum::Int(v) => Ok(*v),
        other => Err(internal(format!(
            "{what}: {} is not an INT",
            other.type_name()
        ))),
    }
}

fn uuid_of(d: &Datum, what: &str) -> Result<[u8; 16]> {
    match d {
        Datum::Uuid(v) => Ok(*v),
        other => Err(internal(format!(
            "{what}: {} is not a UUID",
            other.type_name()
        ))),
    }
}

// ---------------------------------------------------------------------------------------
// bank

fn bank_init(c: &Cluster, o: &InitOptions, s: &mut Summary) -> Result<()> {
    let db = c.create_database(BANK)?;
    s.schema_change(descriptor_time(c, db)?);
    let id = c.create_table(
        BANK,
        &TableDef {
            name: BANK.into(),
            columns: vec![
                ColumnDef::new("id", ColumnType::Int, false),
                ColumnDef::new("balance", ColumnType::Int, false),
                ColumnDef::new("payload", ColumnType::String, true),
            ],
            primary_key: vec!["id".into()],
            indexes: vec![],
            foreign_keys: vec![],
        },
    )?;
    s.schema_change(descriptor_time(c, id)?);
    let t = c.table(BANK, BANK)?;
    let mut rng = rng_for(Workload::Bank, "init", o.seed, &[]);
    insert_batched(c, &t, o.rows, o.batch_rows, s, |i| {
        let id = i64::try_from(i).map_err(|_| internal(format!("account id {i} too large")))?;
        Ok(vec![
            Datum::Int(id),
            Datum::Int(rng.gen_range(0..10_000)),
            Datum::String(payload(&mut rng, o.payload_bytes)),
        ])
    })
}

/// Applies the next bank schema change not yet applied.
fn bank_schema_change(c: &Cluster, t: &pb::Descriptor) -> Result<Timestamp> {
    if !has_column(t, "created_at") {
        return c.add_column(t.id, "created_at", ColumnType::Timestamp);
    }
    if !has_index(t, "bank_balance_idx") {
        return c.create_index(
            t.id,
            &IndexDef {
                name: "bank_balance_idx".into(),
                columns: vec![("balance".into(), false)],
                unique: false,
                storing: vec![],
            },
        );
    }
    c.add_column(t.id, &next_note_column(t), ColumnType::String)
}

fn bank_run(c: &Cluster, ops: u64, seed: u64, s: &mut Summary) -> Result<()> {
    let mut t = c.table(BANK, BANK)?;
    let mut digest = Sha256::new();
    let mut ids = primary_keys(c, &t, &mut digest)?
        .iter()
        .map(|pk| int(pk.first().unwrap_or(&Datum::Null), "bank.id"))
        .collect::<Result<Vec<i64>>>()?;
    let mut rng = rng_for(Workload::Bank, "run", seed, &digest.finalize());
    let mut next_id = ids.last().map_or(Ok(0), |m| {
        m.checked_add(1)
            .ok_or_else(|| internal("account ids exhausted".into()))
    })?;
    // New accounts get payloads as long as the first existing one's.
    let payload_len = match ids.first() {
        Some(&id) => match get(
            &t,
            &c.txn().get_row(&t, &[Datum::Int(id)])?.unwrap_or_default(),
            "payload",
        ) {
            Ok(Datum::String(p)) => p.len(),
            _ => DEFAULT_PAYLOAD_BYTES,
        },
        None => DEFAULT_PAYLOAD_BYTES,
    };
    for op in 0..ops {
        if op == ops / 2 {
            s.schema_change(bank_schema_change(c, &t)?);
            t = c.table(BANK, BANK)?;
        }
        let r = rng.gen_range(0..100u32);
        if ids.len() < 3 || (80..90).contains(&r) {
            // Open an account.
            let created = random_time(&mut rng);
            let p = payload(&mut rng, payload_len);
            let row = row_for(
                &t,
                &[
                    ("id", Datum::Int(next_id)),
                    ("balance", Datum::Int(0)),
                    ("payload", Datum::String(p)),
                    ("created_at", Datum::Timestamp(created)),
                ],
            )?;
            let mut tx = c.txn();
            tx.insert(&t, &[row])?;
            s.wrote(tx.commit()?);
            s.inserts += 1;
            ids.push(next_id);
            next_id = next_id
                .checked_add(1)
                .ok_or_else(|| internal("account ids exhausted".into()))?;
            continue;
        }
        let a = rng.gen_range(0..ids.len());
        let mut b = rng.gen_range(0..ids.len() - 1);
        if b >= a {
            b += 1;
        }
        let (ida, idb) = (ids[a], ids[b]);
        let mut tx = c.txn();
        let mut ra = tx
            .get_row(&t, &[Datum::Int(ida)])?
            .ok_or_else(|| missing(&t))?;
        let mut rb = tx
            .get_row(&t, &[Datum::Int(idb)])?
            .ok_or_else(|| missing(&t))?;
        let ba = int(&get(&t, &ra, "balance")?, "balance")?;
        let bb = int(&get(&t, &rb, "balance")?, "balance")?;
        let overflow = || internal("balance overflows".into());
        if r < 80 {
            // Transfer.
            let amount = rng.gen_range(1..=100i64);
            set(
                &t,
                &mut ra,
                "balance",
                Datum::Int(ba.checked_sub(amount).ok_or_else(overflow)?),
            )?;
            set(
                &t,
                &mut rb,
                "balance",
                Datum::Int(bb.checked_add(amount).ok_or_else(overflow)?),
            )?;
            tx.upsert(&t, &[ra, rb])?;
            s.updates += 2;
        } else {
            // Close account a: its balance moves to b.
            set(
                &t,
                &mut rb,
                "balance",
                Datum::Int(bb.checked_add(ba).ok_or_else(overflow)?),
            )?;
            tx.upsert(&t, &[rb])?;
            tx.delete(&t, &[Datum::Int(ida)])?;
            s.updates += 1;
            s.deletes += 1;
            ids.swap_remove(a);
        }
        s.wrote(tx.commit()?);
    }
    Ok(())
}

/// The sum of every balance in `bank.bank` at `as_of` (for checks: runs conserve it).
pub fn bank_total_balance(c: &Cluster, as_of: Timestamp) -> Result<i128> {
    let t = c.table(BANK, BANK)?;
    let i = column_index(&t, "balance")?;
    let mut total = 0i128;
    c.scan_rows(&t, as_of, |r| {
        total += i128::from(int(r.get(i).unwrap_or(&Datum::Null), "balance")?);
        Ok(true)
    })?;
    Ok(total)
}

// ---------------------------------------------------------------------------------------
// movr

const CITIES: &[&str] = &[
    "amsterdam",
    "boston",
    "los angeles",
    "new york",
    "paris",
    "rome",
    "san francisco",
    "seattle",
    "washington dc",
];
const FIRST_NAMES: &[&str] = &[
    "Ada",
    "Alan",
    "Barbara",
    "Claude",
    "Donald",
    "Edsger",
    "Frances",
    "Grace",
    "John",
    "Katherine",
    "Leslie",
    "Margaret",
    "Niklaus",
    "Radia",
    "Shafi",
    "Tony",
];
const LAST_NAMES: &[&str] = &[
    "Allen",
    "Backus",
    "Dijkstra",
    "Goldwasser",
    "Hamilton",
    "Hoare",
    "Hopper",
    "Johnson",
    "Knuth",
    "Lamport",
    "Liskov",
    "Lovelace",
    "Perlman",
    "Shannon",
    "Turing",
    "Wirth",
];
const STREETS: &[&str] = &[
    "Main Street",
    "Oak Avenue",
    "Maple Drive",
    "Cedar Lane",
    "Elm Street",
    "Pine Road",
    "Harbor Way",
    "Mill Road",
    "Park Place",
    "River Street",
];
const VEHICLE_TYPES: &[&str] = &["bike", "scooter", "skateboard"];
const STATUSES: &[&str] = &["available", "in_use", "lost"];
const COLORS: &[&str] = &["black", "blue", "green", "red", "white", "yellow"];
const BRANDS: &[&str] = &["Cervelo", "Fuji", "Kona", "Merida", "Pinarello", "Schwinn"];

fn address(rng: &mut ChaCha8Rng) -> String {
    format!(
        "{} {}",
        rng.gen_range(1..100_000u32),
        pick_str(rng, STREETS)
    )
}

fn name(rng: &mut ChaCha8Rng) -> String {
    format!(
        "{} {}",
        pick_str(rng, FIRST_NAMES),
        pick_str(rng, LAST_NAMES)
    )
}

fn revenue(rng: &mut ChaCha8Rng) -> Result<Decimal> {
    let s = format!(
        "{}.{:02}",
        rng.gen_range(1..100u32),
        rng.gen_range(0..100u32)
    );
    Ok(s.parse::<Decimal>()?)
}

fn ext(rng: &mut ChaCha8Rng, ty: &str) -> serde_json::Value {
    let color = pick_str(rng, COLORS);
    match ty {
        "bike" => serde_json::json!({ "brand": pick_str(rng, BRANDS), "color": color }),
        "scooter" => serde_json::json!({ "battery": rng.gen_range(0..=100u32), "color": color }),
        _ => serde_json::json!({ "color": color }),
    }
}

/// The movr tables, reloaded after schema changes.
struct Movr {
    users: pb::Descriptor,
    vehicles: pb::Descriptor,
    rides: pb::Descriptor,
    /// Physical enum values of `vehicle_type`, in label order.
    types: Vec<Datum>,
}

impl Movr {
    fn load(c: &Cluster) -> Result<Self> {
        Ok(Movr {
            users: c.table(MOVR, "users")?,
            vehicles: c.table(MOVR, "vehicles")?,
            rides: c.table(MOVR, "rides")?,
            types: VEHICLE_TYPES
                .iter()
                .map(|l| c.enum_value(MOVR, "vehicle_type", l))
                .collect::<Result<_>>()?,
        })
    }

    fn user(&self, rng: &mut ChaCha8Rng, id: [u8; 16]) -> Result<Row> {
        let city = pick_str(rng, CITIES);
        let name = name(rng);
        let addr = address(rng);
        let card = format!("{:016}", rng.gen_range(0..10_000_000_000_000_000u64));
        let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
        row_for(
            &self.users,
            &[
                ("id", Datum::Uuid(id)),
                ("city", Datum::String(city.into())),
                ("name", Datum::String(name)),
                ("address", Datum::String(addr)),
                ("credit_card", Datum::String(card)),
                ("email", Datum::String(email)),
            ],
        )
    }

    fn vehicle(&self, rng: &mut ChaCha8Rng, id: [u8; 16], owner: [u8; 16]) -> Result<Row> {
        let city = pick_str(rng, CITIES);
        let t = rng.gen_range(0..VEHICLE_TYPES.len());
        let ty = self.types.get(t).cloned().unwrap_or(Datum::Null);
        let label = VEHICLE_TYPES.get(t).copied().unwrap_or_default();
        let created = random_time(rng);
        let status = pick_str(rng, STATUSES);
        let loc = address(rng);
        let ext = ext(rng, label);
        row_for(
            &self.vehicles,
            &[
                ("id", Datum::Uuid(id)),
                ("city", Datum::String(city.into())),
                ("type", ty),
                ("owner_id", Datum::Uuid(owner)),
                ("creation_time", Datum::Timestamp(created)),
                ("status", Datum::String(status.into())),
                ("current_location", Datum::String(loc)),
                ("ext", Datum::Json(ext)),
            ],
        )
    }

    /// A ride; ended rides have an end time and revenue.
    fn ride(
        &self,
        rng: &mut ChaCha8Rng,
        id: [u8; 16],
        city: Datum,
        vehicle: [u8; 16],
        rider: [u8; 16],
        ended: bool,
    ) -> Result<Row> {
        let start = random_time(rng);
        let from = address(rng);
        let to = address(rng);
        let (end, rev) = if ended {
            let end = start + rng.gen_range(2..180i64) * MINUTE_MICROS;
            (Datum::Timestamp(end), Datum::Decimal(revenue(rng)?))
        } else {
            (Datum::Null, Datum::Null)
        };
        row_for(
            &self.rides,
            &[
                ("id", Datum::Uuid(id)),
                ("city", city),
                ("vehicle_id", Datum::Uuid(vehicle)),
                ("rider_id", Datum::Uuid(rider)),
                ("start_address", Datum::String(from)),
                ("end_address", Datum::String(to)),
                ("start_time", Datum::Timestamp(start)),
                ("end_time", end),
                ("revenue", rev),
            ],
        )
    }
}

fn uuid_col(name: &str) -> ColumnDef {
    ColumnDef::new(name, ColumnType::Uuid, true)
}

fn str_col(name: &str) -> ColumnDef {
    ColumnDef::new(name, ColumnType::String, true)
}

fn index(name: &str, cols: &[&str], storing: &[&str]) -> IndexDef {
    IndexDef {
        name: name.into(),
        columns: cols.iter().map(|c| ((*c).into(), false)).collect(),
        unique: false,
        storing: storing.iter().map(|c| (*c).into()).collect(),
    }
}

fn fk(name: &str, col: &str, table: &str) -> ForeignKeyDef {
    ForeignKeyDef {
        name: name.into(),
        columns: vec![col.into()],
        table: table.into(),
    }
}

fn movr_schema(c: &Cluster, s: &mut Summary) -> Result<()> {
    let db = c.create_database(MOVR)?;
    s.schema_change(descriptor_time(c, db)?);
    let ty = c.create_enum(MOVR, "vehicle_type", VEHICLE_TYPES)?;
    s.schema_change(descriptor_time(c, ty)?);
    let users = TableDef {
        name: "users".into(),
        columns: vec![
            ColumnDef::new("id", ColumnType::Uuid, false),
            ColumnDef::new("city", ColumnType::String, false),
            str_col("name"),
            str_col("address"),
            str_col("credit_card"),
        ],
        primary_key: vec!["id".into()],
        indexes: vec![],
        foreign_keys: vec![],
    };
    let vehicles = TableDef {
        name: "vehicles".into(),
        columns: vec![
            ColumnDef::new("id", ColumnType::Uuid, false),
            ColumnDef::new("city", ColumnType::String, false),
            ColumnDef::enumerated("type", "vehicle_type", true),
            uuid_col("owner_id"),
            ColumnDef::new("creation_time", ColumnType::Timestamp, true),
            str_col("status"),
            str_col("current_location"),
            ColumnDef::new("ext", ColumnType::Json, true),
        ],
        primary_key: vec!["id".into()],
        indexes: vec![index("vehicles_owner_id_idx", &["owner_id"], &[])],
        foreign_keys: vec![fk("fk_owner_id_ref_users", "owner_id", "users")],
    };
    let rides = TableDef {
        name: "rides".into(),
        columns: vec![
            ColumnDef::new("id", ColumnType::Uuid, false),
            ColumnDef::new("city", ColumnType::String, false),
            uuid_col("vehicle_id"),
            uuid_col("rider_id"),
            str_col("start_address"),
            str_col("end_address"),
            ColumnDef::new("start_time", ColumnType::Timestamp, true),
            ColumnDef::new("end_time", ColumnType::Timestamp, true),
            ColumnDef::new("revenue", ColumnType::Decimal, true),
        ],
        primary_key: vec!["id".into()],
        indexes: vec![
            index("rides_rider_id_idx", &["rider_id"], &[]),
            index("rides_vehicle_id_idx", &["vehicle_id"], &["revenue"]),
        ],
        foreign_keys: vec![
            fk("fk_vehicle_id_ref_vehicles", "vehicle_id", "vehicles"),
            fk("fk_rider_id_ref_users", "rider_id", "users"),
        ],
    };
    for def in [&users, &vehicles, &rides] {
        let id = c.create_table(MOVR, def)?;
        s.schema_change(descriptor_time(c, id)?);
    }
    let view = c.create_view(
        MOVR,
        "active_rides",
        "SELECT * FROM rides WHERE end_time IS NULL",
        &["rides"],
    )?;
    s.schema_change(descriptor_time(c, view)?);
    Ok(())
}

fn movr_init(c: &Cluster, o: &InitOptions, s: &mut Summary) -> Result<()> {
    movr_schema(c, s)?;
    let m = Movr::load(c)?;
    let mut rng = rng_for(Workload::Movr, "init", o.seed, &[]);
    let n_users = o.rows;
    let n_vehicles = if o.rows == 0 { 0 } else { (o.rows / 2).max(1) };
    let n_rides = o.rows;
    let cap = |n: u64| usize::try_from(n).unwrap_or(0);
    // Ids are drawn up front so that batches can reference earlier rows; uuids from a
    // seeded generator do not repeat in practice, and a repeat would fail the insert.
    let mut users = Vec::with_capacity(cap(n_users));
    insert_batched(c, &m.users, n_users, o.batch_rows, s, |_| {
        let id = uuid(&mut rng);
        users.push(id);
        m.user(&mut rng, id)
    })?;
    let mut vehicles: Vec<([u8; 16], Datum)> = Vec::with_capacity(cap(n_vehicles));
    insert_batched(c, &m.vehicles, n_vehicles, o.batch_rows, s, |_| {
        let id = uuid(&mut rng);
        let owner = *pick(&mut rng, &users).ok_or_else(|| internal("no users".into()))?;
        let row = m.vehicle(&mut rng, id, owner)?;
        vehicles.push((id, get(&m.vehicles, &row, "city")?));
        Ok(row)
    })?;
    insert_batched(c, &m.rides, n_rides, o.batch_rows, s, |_| {
        let id = uuid(&mut rng);
        let (vehicle, city) = pick(&mut rng, &vehicles)
            .cloned()
            .ok_or_else(|| internal("no vehicles".into()))?;
        let rider = *pick(&mut rng, &users).ok_or_else(|| internal("no users".into()))?;
        let ended = rng.gen_range(0..10u32) != 0;
        m.ride(&mut rng, id, city, vehicle, rider, ended)
    })
}

/// Applies the next movr schema change not yet applied.
fn movr_schema_change(c: &Cluster, m: &Movr) -> Result<Timestamp> {
    if !has_index(&m.rides, "rides_city_idx") {
        return c.create_index(m.rides.id, &index("rides_city_idx", &["city"], &[]));
    }
    if !has_column(&m.users, "email") {
        return c.add_column(m.users.id, "email", ColumnType::String);
    }
    if !has_index(&m.vehicles, "vehicles_city_status_idx") {
        return c.create_index(
            m.vehicles.id,
            &index("vehicles_city_status_idx", &["city", "status"], &[]),
        );
    }
    c.add_column(m.users.id, &next_note_column(&m.users), ColumnType::String)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MovrOp {
    StartRide,
    EndRide,
    MoveVehicle,
    DeleteRide,
    AddUser,
    AddVehicle,
}

/// A uuid not yet used as a primary key of `t` (a repeat is drawn again).
fn fresh_uuid(
    rng: &mut ChaCha8Rng,
    tx: &crate::catalog::Txn<'_>,
    t: &pb::Descriptor,
) -> Result<[u8; 16]> {
    loop {
        let id = uuid(rng);
        if tx.get_row(t, &[Datum::Uuid(id)])?.is_none() {
            return Ok(id);
        }
    }
}

fn movr_run(c: &Cluster, ops: u64, seed: u64, s: &mut Summary) -> Result<()> {
    let mut m = Movr::load(c)?;
    let mut digest = Sha256::new();
    let first_uuid = |pk: &Vec<Datum>| uuid_of(pk.first().unwrap_or(&Datum::Null), "id");
    let mut users = primary_keys(c, &m.users, &mut digest)?
        .iter()
        .map(first_uuid)
        .collect::<Result<Vec<_>>>()?;
    let mut vehicles = primary_keys(c, &m.vehicles, &mut digest)?
        .iter()
        .map(first_uuid)
        .collect::<Result<Vec<_>>>()?;
    let (mut active, mut finished) = (Vec::new(), Vec::new());
    let id_col = column_index(&m.rides, "id")?;
    let end_col = column_index(&m.rides, "end_time")?;
    c.scan_rows(&m.rides, c.now(), |r| {
        let id = uuid_of(r.get(id_col).unwrap_or(&Datum::Null), "rides.id")?;
        digest.update(id);
        match r.get(end_col) {
            Some(Datum::Null) | None => active.push(id),
            Some(_) => finished.push(id),
        }
        Ok(true)
    })?;
    shape(&m.rides, &mut digest);
    let mut rng = rng_for(Workload::Movr, "run", seed, &digest.finalize());

    for op in 0..ops {
        if op == ops / 2 {
            s.schema_change(movr_schema_change(c, &m)?);
            m = Movr::load(c)?;
        }
        let r = rng.gen_range(0..100u32);
        let mut kind = match r {
            0..=29 => MovrOp::StartRide,
            30..=54 => MovrOp::EndRide,
            55..=69 => MovrOp::MoveVehicle,
            70..=79 => MovrOp::DeleteRide,
            80..=91 => MovrOp::AddUser,
            _ => MovrOp::AddVehicle,
        };
        if (kind == MovrOp::EndRide && active.is_empty())
            || (kind == MovrOp::DeleteRide && finished.is_empty())
        {
            kind = MovrOp::StartRide;
        }
        if matches!(kind, MovrOp::StartRide | MovrOp::MoveVehicle) && vehicles.is_empty() {
            kind = MovrOp::AddVehicle;
        }
        if matches!(kind, MovrOp::StartRide | MovrOp::AddVehicle) && users.is_empty() {
            kind = MovrOp::AddUser;
        }
        let mut tx = c.txn();
        match kind {
            MovrOp::StartRide => {
                let vid = *pick(&mut rng, &vehicles).ok_or_else(|| missing(&m.vehicles))?;
                let rider = *pick(&mut rng, &users).ok_or_else(|| missing(&m.users))?;
                let mut v = tx
                    .get_row(&m.vehicles, &[Datum::Uuid(vid)])?
                    .ok_or_else(|| missing(&m.vehicles))?;
                let id = fresh_uuid(&mut rng, &tx, &m.rides)?;
                let city = get(&m.vehicles, &v, "city")?;
                let ride = m.ride(&mut rng, id, city, vid, rider, false)?;
                set(
                    &m.vehicles,
                    &mut v,
                    "status",
                    Datum::String("in_use".into()),
                )?;
                tx.insert(&m.rides, &[ride])?;
                tx.upsert(&m.vehicles, &[v])?;
                s.inserts += 1;
                s.updates += 1;
                active.push(id);
            }
            MovrOp::EndRide => {
                let i = rng.gen_range(0..active.len());
                let id = active.swap_remove(i);
                let mut ride = tx
                    .get_row(&m.rides, &[Datum::Uuid(id)])?
                    .ok_or_else(|| missing(&m.rides))?;
                let start = match get(&m.rides, &ride, "start_time")? {
                    Datum::Timestamp(t) => t,
                    _ => BASE_MICROS,
                };
                let end = start + rng.gen_range(2..180i64) * MINUTE_MICROS;
                set(&m.rides, &mut ride, "end_time", Datum::Timestamp(end))?;
                set(
                    &m.rides,
                    &mut ride,
                    "revenue",
                    Datum::Decimal(revenue(&mut rng)?),
                )?;
                let vid = uuid_of(&get(&m.rides, &ride, "vehicle_id")?, "rides.vehicle_id")?;
                let dest = get(&m.rides, &ride, "end_address")?;
                tx.upsert(&m.rides, &[ride])?;
                s.updates += 1;
                if let Some(mut v) = tx.get_row(&m.vehicles, &[Datum::Uuid(vid)])? {
                    set(
                        &m.vehicles,
                        &mut v,
                        "status",
                        Datum::String("available".into()),
                    )?;
                    set(&m.vehicles, &mut v, "current_location", dest)?;
                    tx.upsert(&m.vehicles, &[v])?;
                    s.updates += 1;
                }
                finished.push(id);
            }
            MovrOp::MoveVehicle => {
                let vid = *pick(&mut rng, &vehicles).ok_or_else(|| missing(&m.vehicles))?;
                let mut v = tx
                    .get_row(&m.vehicles, &[Datum::Uuid(vid)])?
                    .ok_or_else(|| missing(&m.vehicles))?;
                let status = pick_str(&mut rng, &["available", "available", "lost"]);
                set(&m.vehicles, &mut v, "status", Datum::String(status.into()))?;
                let loc = address(&mut rng);
                set(&m.vehicles, &mut v, "current_location", Datum::String(loc))?;
                tx.upsert(&m.vehicles, &[v])?;
                s.updates += 1;
            }
            MovrOp::DeleteRide => {
                let i = rng.gen_range(0..finished.len());
                let id = finished.swap_remove(i);
                if tx.delete(&m.rides, &[Datum::Uuid(id)])? {
                    s.deletes += 1;
                }
            }
            MovrOp::AddUser => {
                let id = fresh_uuid(&mut rng, &tx, &m.users)?;
                let row = m.user(&mut rng, id)?;
                tx.insert(&m.users, &[row])?;
                s.inserts += 1;
                users.push(id);
            }
            MovrOp::AddVehicle => {
                let owner = *pick(&mut rng, &users).ok_or_else(|| missing(&m.users))?;
                let id = fresh_uuid(&mut rng, &tx, &m.vehicles)?;
                let row = m.vehicle(&mut rng, id, owner)?;
                tx.insert(&m.vehicles, &[row])?;
                s.inserts += 1;
                vehicles.push(id);
            }
        }
        s.wrote(tx.commit()?);
    }
    Ok(())
}
