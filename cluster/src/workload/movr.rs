//! `movr`: an enum, three tables linked by foreign keys, secondary indexes, one `STORING`,
//! a view.

use std::collections::{BTreeMap, HashSet};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use vouch_format::decimal::Decimal;
use vouch_format::keys::{ColumnType, Datum};
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_format::schema;

use super::common::{
    column_index, descriptor_time, get, has_column, has_index, insert_batched, internal, missing,
    next_note_column, pick, pick_str, primary_keys, random_time, rng_for, row_for, set, shape,
    table_of, uuid, uuid_of, InitOptions, Summary, Workload, BASE_MICROS, MINUTE_MICROS, MOVR,
};
use crate::catalog::{ColumnDef, ForeignKeyDef, IndexDef, Row, TableDef};
use crate::{Cluster, Result, ZoneConfig, ZoneTarget};

/// Schema changes `movr` runs apply, in order (after these: `ALTER TABLE users ADD COLUMN
/// note_<n> STRING`).
pub const MOVR_SCHEMA_CHANGES: &[&str] = &[
    "CREATE INDEX rides_city_idx ON rides (city)",
    "ALTER TABLE users ADD COLUMN email STRING",
    "CREATE INDEX vehicles_city_status_idx ON vehicles (city, status)",
];

/// The partitions of geo-partitioned movr (`--geo-partitioned`), as in CockroachDB's
/// `cockroach demo movr --geo-partitioned`: (partition, region of its zone constraint,
/// the cities it holds). Together they hold every city movr generates.
pub const MOVR_PARTITIONS: &[(&str, &str, &[&str])] = &[
    (
        "us_west",
        "us-west1",
        &["seattle", "san francisco", "los angeles"],
    ),
    (
        "us_east",
        "us-east1",
        &["new york", "boston", "washington dc"],
    ),
    (
        "europe_west",
        "europe-west1",
        &["amsterdam", "paris", "rome"],
    ),
];

/// The tables geo-partitioned movr partitions by city.
const GEO_TABLES: &[&str] = &["users", "vehicles", "rides"];

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

/// A foreign key on `col` (geo-partitioned: on `(city, col)`, the referenced table's
/// primary key `(city, id)`).
fn fk(name: &str, col: &str, table: &str, geo: bool) -> ForeignKeyDef {
    let columns = if geo {
        vec!["city".into(), col.into()]
    } else {
        vec![col.into()]
    };
    ForeignKeyDef {
        name: name.into(),
        columns,
        table: table.into(),
    }
}

/// The primary key of a movr table: `(id)`, geo-partitioned `(city, id)`.
fn primary_key(geo: bool) -> Vec<String> {
    if geo {
        vec!["city".into(), "id".into()]
    } else {
        vec!["id".into()]
    }
}

/// The primary key datums of the row `id` in `city`.
fn key(geo: bool, id: [u8; 16], city: &Datum) -> Vec<Datum> {
    if geo {
        vec![city.clone(), Datum::Uuid(id)]
    } else {
        vec![Datum::Uuid(id)]
    }
}

fn city_text(d: &Datum) -> String {
    match d {
        Datum::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// Whether `t` is geo-partitioned movr's: its primary key starts with `city`.
fn is_geo(t: &pb::Descriptor) -> bool {
    schema::table(t).is_some_and(|tt| {
        tt.primary_index
            .as_ref()
            .and_then(|i| i.column_ids.first())
            .and_then(|id| tt.columns.iter().find(|c| c.id == *id))
            .is_some_and(|c| c.name == "city")
    })
}

/// The users known to a run, with their cities; geo-partitioned, also their ids by city
/// (a vehicle's owner and a ride's rider live in its city).
#[derive(Default)]
struct Users {
    all: Vec<([u8; 16], Datum)>,
    by_city: BTreeMap<String, Vec<[u8; 16]>>,
    geo: bool,
}

impl Users {
    fn new(geo: bool) -> Self {
        Users {
            geo,
            ..Users::default()
        }
    }

    fn push(&mut self, id: [u8; 16], city: Datum) {
        if self.geo {
            self.by_city.entry(city_text(&city)).or_default().push(id);
        }
        self.all.push((id, city));
    }

    fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Any user (a vehicle's owner; geo-partitioned, the vehicle takes its city).
    fn pick_any(&self, rng: &mut ChaCha8Rng) -> Option<([u8; 16], Datum)> {
        pick(rng, &self.all).cloned()
    }

    /// A rider for a ride in `city`: any user, geo-partitioned a user of `city`.
    fn pick_rider(&self, rng: &mut ChaCha8Rng, city: &Datum) -> Option<[u8; 16]> {
        if self.geo {
            self.by_city
                .get(&city_text(city))
                .and_then(|v| pick(rng, v))
                .copied()
        } else {
            pick(rng, &self.all).map(|u| u.0)
        }
    }
}

fn movr_schema(c: &Cluster, geo: bool, s: &mut Summary) -> Result<()> {
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
        primary_key: primary_key(geo),
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
        primary_key: primary_key(geo),
        indexes: vec![index("vehicles_owner_id_idx", &["owner_id"], &[])],
        foreign_keys: vec![fk("fk_owner_id_ref_users", "owner_id", "users", geo)],
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
        primary_key: primary_key(geo),
        indexes: vec![
            index("rides_rider_id_idx", &["rider_id"], &[]),
            index("rides_vehicle_id_idx", &["vehicle_id"], &["revenue"]),
        ],
        foreign_keys: vec![
            fk("fk_vehicle_id_ref_vehicles", "vehicle_id", "vehicles", geo),
            fk("fk_rider_id_ref_users", "rider_id", "users", geo),
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
    if geo {
        geo_partition(c, s)?;
    }
    Ok(())
}

/// `ALTER TABLE t PARTITION BY LIST (city) (…)` on each of [`GEO_TABLES`], then `ALTER
/// PARTITION p OF INDEX t@primary CONFIGURE ZONE USING constraints = '[+region=r]'` for
/// each partition: the functions those statements call.
fn geo_partition(c: &Cluster, s: &mut Summary) -> Result<()> {
    let parts: Vec<(String, Vec<Vec<Datum>>)> = MOVR_PARTITIONS
        .iter()
        .map(|(p, _, cities)| {
            let values = cities
                .iter()
                .map(|city| vec![Datum::String((*city).into())])
                .collect();
            ((*p).to_string(), values)
        })
        .collect();
    for name in GEO_TABLES {
        let t = c.table(MOVR, name)?;
        let ix = table_of(&t)?
            .primary_index
            .as_ref()
            .map(|i| i.id)
            .ok_or_else(|| internal(format!("{name} has no primary index")))?;
        s.schema_change(c.partition_by_list(t.id, ix, &["city".to_string()], &parts)?);
        for (p, region, _) in MOVR_PARTITIONS {
            let z = ZoneConfig {
                constraints: Some(format!("[+region={region}]")),
                ..ZoneConfig::default()
            };
            let target = ZoneTarget::Partition(t.id, ix, (*p).to_string());
            s.schema_change(c.configure_zone(&target, &z)?);
        }
    }
    Ok(())
}

pub(super) fn movr_init(c: &Cluster, o: &InitOptions, s: &mut Summary) -> Result<()> {
    let geo = o.geo_partitioned;
    movr_schema(c, geo, s)?;
    let m = Movr::load(c)?;
    let mut rng = rng_for(Workload::Movr, "init", o.seed, &[]);
    let n_users = o.rows;
    let n_vehicles = if o.rows == 0 { 0 } else { (o.rows / 2).max(1) };
    let n_rides = o.rows;
    let cap = |n: u64| usize::try_from(n).unwrap_or(0);
    // Ids are drawn up front so that batches can reference earlier rows; uuids from a
    // seeded generator do not repeat in practice, and a repeat would fail the insert.
    let mut users = Users::new(geo);
    users.all.reserve(cap(n_users));
    insert_batched(c, &m.users, n_users, o.batch_rows, s, |_| {
        let id = uuid(&mut rng);
        let row = m.user(&mut rng, id)?;
        users.push(id, get(&m.users, &row, "city")?);
        Ok(row)
    })?;
    let mut vehicles: Vec<([u8; 16], Datum)> = Vec::with_capacity(cap(n_vehicles));
    insert_batched(c, &m.vehicles, n_vehicles, o.batch_rows, s, |_| {
        let id = uuid(&mut rng);
        let (owner, city) = users
            .pick_any(&mut rng)
            .ok_or_else(|| internal("no users".into()))?;
        let mut row = m.vehicle(&mut rng, id, owner)?;
        if geo {
            set(&m.vehicles, &mut row, "city", city)?;
        }
        vehicles.push((id, get(&m.vehicles, &row, "city")?));
        Ok(row)
    })?;
    insert_batched(c, &m.rides, n_rides, o.batch_rows, s, |_| {
        let id = uuid(&mut rng);
        let (vehicle, city) = pick(&mut rng, &vehicles)
            .cloned()
            .ok_or_else(|| internal("no vehicles".into()))?;
        let rider = users
            .pick_rider(&mut rng, &city)
            .ok_or_else(|| internal("no users".into()))?;
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

/// A uuid not yet used as a primary key of `t` (a repeat is drawn again); geo-partitioned
/// (the key is `(city, id)`, the city not drawn yet), one not in `geo_ids`.
fn fresh_uuid(
    rng: &mut ChaCha8Rng,
    tx: &crate::catalog::Txn<'_>,
    t: &pb::Descriptor,
    geo_ids: Option<&HashSet<[u8; 16]>>,
) -> Result<[u8; 16]> {
    loop {
        let id = uuid(rng);
        let taken = match geo_ids {
            Some(ids) => ids.contains(&id),
            None => tx.get_row(t, &[Datum::Uuid(id)])?.is_some(),
        };
        if !taken {
            return Ok(id);
        }
    }
}

pub(super) fn movr_run(c: &Cluster, ops: u64, seed: u64, s: &mut Summary) -> Result<()> {
    let mut m = Movr::load(c)?;
    let geo = is_geo(&m.users);
    let mut digest = Sha256::new();
    // (id, city) of a primary key: `(id)`, geo-partitioned `(city, id)`.
    let id_city = |pk: &Vec<Datum>| -> Result<([u8; 16], Datum)> {
        let null = Datum::Null;
        if geo {
            let id = uuid_of(pk.get(1).unwrap_or(&null), "id")?;
            Ok((id, pk.first().cloned().unwrap_or(Datum::Null)))
        } else {
            Ok((uuid_of(pk.first().unwrap_or(&null), "id")?, Datum::Null))
        }
    };
    let mut users = Users::new(geo);
    for pk in primary_keys(c, &m.users, &mut digest)? {
        let (id, city) = id_city(&pk)?;
        users.push(id, city);
    }
    let mut vehicles = primary_keys(c, &m.vehicles, &mut digest)?
        .iter()
        .map(id_city)
        .collect::<Result<Vec<_>>>()?;
    let (mut active, mut finished) = (Vec::new(), Vec::new());
    let id_col = column_index(&m.rides, "id")?;
    let city_col = column_index(&m.rides, "city")?;
    let end_col = column_index(&m.rides, "end_time")?;
    c.scan_rows(&m.rides, c.now(), |r| {
        let id = uuid_of(r.get(id_col).unwrap_or(&Datum::Null), "rides.id")?;
        let city = r.get(city_col).cloned().unwrap_or(Datum::Null);
        digest.update(id);
        match r.get(end_col) {
            Some(Datum::Null) | None => active.push((id, city)),
            Some(_) => finished.push((id, city)),
        }
        Ok(true)
    })?;
    // Geo-partitioned: every id in use (a new row's key is only known once its city is).
    let mut ids: Option<HashSet<[u8; 16]>> = geo.then(|| {
        users
            .all
            .iter()
            .chain(&vehicles)
            .chain(&active)
            .chain(&finished)
            .map(|(id, _)| *id)
            .collect()
    });
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
                let (vid, vcity) = pick(&mut rng, &vehicles)
                    .cloned()
                    .ok_or_else(|| missing(&m.vehicles))?;
                let rider = users
                    .pick_rider(&mut rng, &vcity)
                    .ok_or_else(|| missing(&m.users))?;
                let mut v = tx
                    .get_row(&m.vehicles, &key(geo, vid, &vcity))?
                    .ok_or_else(|| missing(&m.vehicles))?;
                let id = fresh_uuid(&mut rng, &tx, &m.rides, ids.as_ref())?;
                let city = get(&m.vehicles, &v, "city")?;
                let ride = m.ride(&mut rng, id, city.clone(), vid, rider, false)?;
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
                active.push((id, city));
                if let Some(ids) = ids.as_mut() {
                    ids.insert(id);
                }
            }
            MovrOp::EndRide => {
                let i = rng.gen_range(0..active.len());
                let (id, city) = active.swap_remove(i);
                let mut ride = tx
                    .get_row(&m.rides, &key(geo, id, &city))?
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
                if let Some(mut v) = tx.get_row(&m.vehicles, &key(geo, vid, &city))? {
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
                finished.push((id, city));
            }
            MovrOp::MoveVehicle => {
                let (vid, vcity) = pick(&mut rng, &vehicles)
                    .cloned()
                    .ok_or_else(|| missing(&m.vehicles))?;
                let mut v = tx
                    .get_row(&m.vehicles, &key(geo, vid, &vcity))?
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
                let (id, city) = finished.swap_remove(i);
                if tx.delete(&m.rides, &key(geo, id, &city))? {
                    s.deletes += 1;
                }
            }
            MovrOp::AddUser => {
                let id = fresh_uuid(&mut rng, &tx, &m.users, ids.as_ref())?;
                let row = m.user(&mut rng, id)?;
                let city = get(&m.users, &row, "city")?;
                tx.insert(&m.users, &[row])?;
                s.inserts += 1;
                users.push(id, city);
                if let Some(ids) = ids.as_mut() {
                    ids.insert(id);
                }
            }
            MovrOp::AddVehicle => {
                let (owner, ocity) = users.pick_any(&mut rng).ok_or_else(|| missing(&m.users))?;
                let id = fresh_uuid(&mut rng, &tx, &m.vehicles, ids.as_ref())?;
                let mut row = m.vehicle(&mut rng, id, owner)?;
                if geo {
                    set(&m.vehicles, &mut row, "city", ocity)?;
                }
                let city = get(&m.vehicles, &row, "city")?;
                tx.insert(&m.vehicles, &[row])?;
                s.inserts += 1;
                vehicles.push((id, city));
                if let Some(ids) = ids.as_mut() {
                    ids.insert(id);
                }
            }
        }
        s.wrote(tx.commit()?);
    }
    Ok(())
}
