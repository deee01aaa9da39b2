//! Where data lives: nodes with locality tiers, zone configurations in `system.zones`,
//! `PARTITION BY LIST`, and the leaseholder of each range (spec/locality.md).
//!
//! Zone configurations apply partition, then index, then table, then database, then the
//! default zone (`RANGE default`): each field comes from the most specific level that
//! sets it. A range's leaseholder is a node satisfying the constraints that apply; when
//! no node does (a constrained region with no nodes), any node — CockroachDB's
//! behaviour. Every choice is a pure function of the catalog, the zone rows and the
//! nodes, so the same inputs give the same placement.

use vouch_format::keys::{self, ColumnType, Datum, Direction};
use vouch_format::locality::{self, Locality};
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_format::schema::{
    self, index_layouts, Catalog, Kind, SYSTEM_DATABASE_ID, SYSTEM_PUBLIC_SCHEMA_ID, ZONES_TABLE_ID,
};

use super::descriptors::{descriptor_key, new_descriptor, Cluster, Row};
use crate::{Batch, Error, Result, DEFAULT_GC_TTL_SECS};

/// The nodes of CockroachDB's `cockroach demo movr --geo-partitioned-replicas`: three
/// regions of three availability zones each.
pub const DEMO_NODES: &[&str] = &[
    "region=us-east1,az=b",
    "region=us-east1,az=c",
    "region=us-east1,az=d",
    "region=us-west1,az=a",
    "region=us-west1,az=b",
    "region=us-west1,az=c",
    "region=europe-west1,az=b",
    "region=europe-west1,az=c",
    "region=europe-west1,az=d",
];

/// Regions of CockroachDB's movr demo (the regions of [`DEMO_NODES`]).
pub const DEFAULT_REGIONS: &[&str] = &["us-east1", "us-west1", "europe-west1"];

/// Most nodes a cluster may have.
pub const MAX_NODES: usize = 256;

/// CockroachDB's default replication factor.
pub const DEFAULT_NUM_REPLICAS: u64 = 3;

/// A node: its id (from 1) and its locality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Node id, 1-based, in the order the nodes were given.
    pub id: u32,
    /// Its locality tiers.
    pub locality: Locality,
}

/// What a zone configuration applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZoneTarget {
    /// `RANGE default`: everything without a more specific zone.
    Default,
    /// A database (its tables).
    Database(u64),
    /// A table (every index).
    Table(u64),
    /// One index of a table.
    Index(u64, u32),
    /// One partition of an index.
    Partition(u64, u32, String),
}

impl ZoneTarget {
    /// The primary key of its `system.zones` row: (descriptor id, index id, partition).
    pub fn key(&self) -> (u64, u32, String) {
        match self {
            ZoneTarget::Default => (0, 0, String::new()),
            ZoneTarget::Database(id) | ZoneTarget::Table(id) => (*id, 0, String::new()),
            ZoneTarget::Index(t, i) => (*t, *i, String::new()),
            ZoneTarget::Partition(t, i, p) => (*t, *i, p.clone()),
        }
    }

    /// How statements name it: `RANGE default`, `DATABASE d`, `TABLE d.public.t`,
    /// `INDEX d.public.t@i`, `PARTITION p OF INDEX d.public.t@i`.
    pub fn describe(&self, cat: &Catalog) -> String {
        let name = |id: u64| {
            cat.get(id)
                .map_or_else(|| id.to_string(), |d| d.name.clone())
        };
        let table = |id: u64| {
            let db = cat.get(id).map_or(0, |d| schema::parents(d).0);
            format!("{}.public.{}", name(db), name(id))
        };
        let index = |t: u64, ix: u32| {
            let n = cat
                .get(t)
                .and_then(schema::table)
                .and_then(|tt| all_indexes(tt).find(|i| i.id == ix))
                .map_or_else(|| ix.to_string(), |i| i.name.clone());
            format!("{}@{n}", table(t))
        };
        match self {
            ZoneTarget::Default => "RANGE default".into(),
            ZoneTarget::Database(id) => format!("DATABASE {}", name(*id)),
            ZoneTarget::Table(id) => format!("TABLE {}", table(*id)),
            ZoneTarget::Index(t, ix) => format!("INDEX {}", index(*t, *ix)),
            ZoneTarget::Partition(t, ix, p) => format!("PARTITION {p} OF INDEX {}", index(*t, *ix)),
        }
    }

    /// The next less specific level (partition → index → table → database → default).
    fn parent(&self, cat: &Catalog) -> Option<ZoneTarget> {
        match self {
            ZoneTarget::Default => None,
            ZoneTarget::Database(_) => Some(ZoneTarget::Default),
            ZoneTarget::Table(t) => Some(match cat.get(*t).map(schema::parents) {
                Some((db, _)) if db != 0 => ZoneTarget::Database(db),
                _ => ZoneTarget::Default,
            }),
            ZoneTarget::Index(t, _) => Some(ZoneTarget::Table(*t)),
            ZoneTarget::Partition(t, i, _) => Some(ZoneTarget::Index(*t, *i)),
        }
    }
}

/// A zone configuration: the fields a level sets (`None`: inherited).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneConfig {
    /// `gc.ttlseconds`.
    pub gc_ttl_seconds: Option<u64>,
    /// `num_replicas`.
    pub num_replicas: Option<u64>,
    /// `constraints`, in canonical text (`[+region=us-west1]`).
    pub constraints: Option<String>,
}

impl ZoneConfig {
    /// Fields of `self`, else of `parent`.
    fn or(self, parent: &ZoneConfig) -> ZoneConfig {
        ZoneConfig {
            gc_ttl_seconds: self.gc_ttl_seconds.or(parent.gc_ttl_seconds),
            num_replicas: self.num_replicas.or(parent.num_replicas),
            constraints: self.constraints.or_else(|| parent.constraints.clone()),
        }
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == ZoneConfig::default()
    }
}

/// A range: a span of one table with the zone that applies and its leaseholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The table.
    pub table_id: u64,
    /// Span start (inclusive).
    pub start: Vec<u8>,
    /// Span end (exclusive).
    pub end: Vec<u8>,
    /// The most specific zone level the span has (the partition, index or table).
    pub zone: ZoneTarget,
    /// The node holding its lease.
    pub leaseholder: u32,
    /// The leaseholder's locality (`region=us-west1,az=a`).
    pub locality: String,
}

/// The first key after every key starting with `prefix`.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff; prefix.len() + 1]
}

fn index_span(table: u64, index: u32) -> (Vec<u8>, Vec<u8>) {
    let mut a = Vec::new();
    keys::encode_table_prefix(table, u64::from(index), &mut a);
    let mut b = Vec::new();
    keys::encode_table_prefix(table, u64::from(index) + 1, &mut b);
    (a, b)
}

fn all_indexes(t: &pb::Table) -> impl Iterator<Item = &pb::Index> {
    t.primary_index.iter().chain(t.secondary_indexes.iter())
}

fn zones_descriptor() -> pb::Descriptor {
    let col = |id: u32, name: &str, ty: pb::ColumnType, nullable: bool| pb::Column {
        id,
        name: name.into(),
        r#type: ty as i32,
        nullable,
        ..Default::default()
    };
    new_descriptor(
        ZONES_TABLE_ID,
        "zones",
        pb::descriptor::Kind::Table(pb::Table {
            parent_database_id: SYSTEM_DATABASE_ID,
            parent_schema_id: SYSTEM_PUBLIC_SCHEMA_ID,
            columns: vec![
                col(1, "id", pb::ColumnType::Int, false),
                col(2, "index_id", pb::ColumnType::Int, false),
                col(3, "partition", pb::ColumnType::String, false),
                col(4, "gc_ttlseconds", pb::ColumnType::Int, true),
                col(5, "num_replicas", pb::ColumnType::Int, true),
                col(6, "constraints", pb::ColumnType::String, true),
            ],
            primary_index: Some(pb::Index {
                id: 1,
                name: "primary".into(),
                unique: true,
                column_ids: vec![1, 2, 3],
                descending: vec![false, false, false],
                ..Default::default()
            }),
            next_column_id: 7,
            next_index_id: 2,
            gc_ttl_seconds: DEFAULT_GC_TTL_SECS,
            ..Default::default()
        }),
    )
}

fn int(v: u64) -> Result<Datum> {
    i64::try_from(v)
        .map(Datum::Int)
        .map_err(|_| Error::Usage(format!("{v} is out of range for INT8")))
}

fn opt_u64(d: Option<&Datum>, what: &str) -> Result<Option<u64>> {
    match d {
        None | Some(Datum::Null) => Ok(None),
        Some(Datum::Int(i)) => u64::try_from(*i)
            .map(Some)
            .map_err(|_| Error::Usage(format!("system.zones: negative {what} {i}"))),
        Some(other) => Err(Error::Usage(format!(
            "system.zones: {what} is not an INT: {other:?}"
        ))),
    }
}

/// Decodes one `system.zones` row into its key and configuration.
fn zone_row(r: &[Datum]) -> Result<((u64, u32, String), ZoneConfig)> {
    let id = opt_u64(r.first(), "id")?.unwrap_or(0);
    let index = opt_u64(r.get(1), "index_id")?.unwrap_or(0);
    let index = u32::try_from(index)
        .map_err(|_| Error::Usage(format!("system.zones: index_id {index} too large")))?;
    let part = match r.get(2) {
        Some(Datum::String(s)) => s.clone(),
        _ => String::new(),
    };
    let constraints = match r.get(5) {
        Some(Datum::String(s)) => Some(s.clone()),
        _ => None,
    };
    Ok((
        (id, index, part),
        ZoneConfig {
            gc_ttl_seconds: opt_u64(r.get(3), "gc_ttlseconds")?,
            num_replicas: opt_u64(r.get(4), "num_replicas")?,
            constraints,
        },
    ))
}

/// Zone rows read once: (id, index, partition) → configuration.
type ZoneRows = std::collections::BTreeMap<(u64, u32, String), ZoneConfig>;

/// The key of a `system.zones` row: (descriptor id, index id, partition); descriptor id 0
/// is `RANGE default`, index 0 the whole object, an empty partition the whole index.
pub type ZoneKey = (u64, u32, String);

/// Decodes `system.zones` rows (one datum per column, as [`Cluster::scan_rows`] gives them
/// or a backup holds them) into their keys and configurations.
pub fn decode_zone_rows(rows: &[Row]) -> Result<Vec<(ZoneKey, ZoneConfig)>> {
    rows.iter().map(|r| zone_row(r)).collect()
}

/// The `system.zones` row of `key` set to `z`.
fn encode_zone_row(key: &ZoneKey, z: &ZoneConfig) -> Result<Row> {
    let (id, index, part) = key;
    let opt = |v: Option<u64>| v.map_or(Ok(Datum::Null), int);
    Ok(vec![
        int(*id)?,
        int(u64::from(*index))?,
        Datum::String(part.clone()),
        opt(z.gc_ttl_seconds)?,
        opt(z.num_replicas)?,
        z.constraints.clone().map_or(Datum::Null, Datum::String),
    ])
}

impl Cluster {
    /// The nodes: as set by [`Cluster::set_nodes`], else one per region set by
    /// [`Cluster::set_regions`], else CockroachDB's movr demo ([`DEMO_NODES`]).
    pub fn nodes(&self) -> Result<Vec<Node>> {
        let lines: Vec<String> = match self.kv.setting("nodes")? {
            Some(v) => String::from_utf8_lossy(&v)
                .split('\n')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            None => match self.kv.setting("regions")? {
                Some(_) => self
                    .regions()?
                    .iter()
                    .map(|r| format!("region={r}"))
                    .collect(),
                None => DEMO_NODES.iter().map(|s| s.to_string()).collect(),
            },
        };
        lines
            .iter()
            .zip(1u32..)
            .map(|(l, id)| {
                Ok(Node {
                    id,
                    locality: Locality::parse(l)?,
                })
            })
            .collect()
    }

    /// Sets the nodes (ids 1, 2, … in this order); at least one, at most [`MAX_NODES`].
    pub fn set_nodes(&self, localities: &[Locality]) -> Result<()> {
        if localities.is_empty() || localities.len() > MAX_NODES {
            return Err(Error::Usage(format!(
                "a cluster has 1 to {MAX_NODES} nodes, not {}",
                localities.len()
            )));
        }
        let text: Vec<String> = localities.iter().map(Locality::to_string).collect();
        self.kv.set_setting("nodes", text.join("\n").as_bytes())
    }

    /// The regions of the nodes, in first-seen order.
    pub fn regions(&self) -> Result<Vec<String>> {
        if self.kv.setting("nodes")?.is_none() {
            if let Some(v) = self.kv.setting("regions")? {
                return Ok(String::from_utf8_lossy(&v)
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect());
            }
        }
        let mut out: Vec<String> = Vec::new();
        for n in self.nodes()? {
            if let Some(r) = n.locality.get("region") {
                if !out.iter().any(|x| x == r) {
                    out.push(r.to_string());
                }
            }
        }
        Ok(out)
    }

    /// Sets one node per region (`region=<r>`), replacing the nodes.
    pub fn set_regions(&self, regions: &[&str]) -> Result<()> {
        let ls = regions
            .iter()
            .map(|r| Locality::parse(&format!("region={r}")))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        self.set_nodes(&ls)?;
        self.kv.set_setting("regions", regions.join(",").as_bytes())
    }

    /// `system.zones` at `as_of`, if it has been created.
    fn zones_table(&self, as_of: Timestamp) -> Result<Option<pb::Descriptor>> {
        match self.descriptor(ZONES_TABLE_ID, as_of) {
            Ok(d) => Ok(Some(d)),
            Err(Error::UndefinedObject(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `system.zones`, created on first use (clusters start without zone configurations).
    pub fn ensure_zones_table(&self) -> Result<pb::Descriptor> {
        if let Some(d) = self.zones_table(self.now())? {
            return Ok(d);
        }
        let d = zones_descriptor();
        self.put_descriptors(std::slice::from_ref(&d), None)?;
        self.descriptor(ZONES_TABLE_ID, self.now())
    }

    fn zone_rows(&self, as_of: Timestamp) -> Result<ZoneRows> {
        let mut out = ZoneRows::new();
        let Some(t) = self.zones_table(as_of)? else {
            return Ok(out);
        };
        let mut bad = None;
        self.scan_rows(&t, as_of, |r| {
            match zone_row(&r) {
                Ok((k, z)) => {
                    out.insert(k, z);
                }
                Err(e) => bad = Some(e),
            }
            Ok(bad.is_none())
        })?;
        match bad {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// The configuration `target` itself sets (no inheritance), if any.
    pub fn zone_config(&self, target: &ZoneTarget, as_of: Timestamp) -> Result<Option<ZoneConfig>> {
        Ok(self.zone_rows(as_of)?.remove(&target.key()))
    }

    /// Every target with a configuration of its own at `as_of`, with its name; the default
    /// zone always (first).
    pub fn zone_targets(&self, as_of: Timestamp) -> Result<Vec<(ZoneTarget, String)>> {
        let cat = self.catalog(as_of)?;
        let rows = self.zone_rows(as_of)?;
        let mut out = vec![(ZoneTarget::Default, ZoneTarget::Default.describe(&cat))];
        for (id, ix, part) in rows.keys() {
            let target = if *id == 0 {
                continue;
            } else if !part.is_empty() {
                ZoneTarget::Partition(*id, *ix, part.clone())
            } else if *ix != 0 {
                ZoneTarget::Index(*id, *ix)
            } else if cat.get(*id).and_then(Kind::of) == Some(Kind::Database) {
                ZoneTarget::Database(*id)
            } else {
                ZoneTarget::Table(*id)
            };
            let text = target.describe(&cat);
            out.push((target, text));
        }
        Ok(out)
    }

    /// `target` and every level above it, most specific first, with their names.
    pub fn zone_chain(
        &self,
        target: &ZoneTarget,
        as_of: Timestamp,
    ) -> Result<Vec<(ZoneTarget, String)>> {
        let cat = self.catalog(as_of)?;
        let mut out = Vec::new();
        let mut at = Some(target.clone());
        while let Some(t) = at {
            let text = t.describe(&cat);
            at = t.parent(&cat);
            out.push((t, text));
        }
        Ok(out)
    }

    /// The configuration that applies to `target`: each field from the most specific
    /// level setting it, else CockroachDB's defaults (`gc.ttlseconds` the cluster's
    /// default TTL, 3 replicas, no constraints).
    pub fn effective_zone(&self, target: &ZoneTarget, as_of: Timestamp) -> Result<ZoneConfig> {
        let cat = self.catalog(as_of)?;
        let rows = self.zone_rows(as_of)?;
        Ok(effective(&cat, &rows, target))
    }

    /// `… CONFIGURE ZONE USING …`: sets the fields given in `change` (others kept).
    pub fn configure_zone(&self, target: &ZoneTarget, change: &ZoneConfig) -> Result<Timestamp> {
        if let Some(c) = &change.constraints {
            locality::parse_constraints(c)?;
        }
        self.check_target(target)?;
        let t = self.ensure_zones_table()?;
        let old = self.zone_config(target, self.now())?.unwrap_or_default();
        let new = ZoneConfig {
            constraints: change
                .constraints
                .as_deref()
                .map(|c| locality::parse_constraints(c).map(|cs| locality::constraints_text(&cs)))
                .transpose()?,
            ..change.clone()
        }
        .or(&old);
        let (id, index, part) = target.key();
        let opt = |v: Option<u64>| v.map_or(Ok(Datum::Null), int);
        let row = vec![
            int(id)?,
            int(u64::from(index))?,
            Datum::String(part),
            opt(new.gc_ttl_seconds)?,
            opt(new.num_replicas)?,
            new.constraints.map_or(Datum::Null, Datum::String),
        ];
        let mut tx = self.txn();
        tx.upsert(&t, &[row])?;
        let ts = tx.commit()?.unwrap_or_else(|| self.now());
        self.apply_gc_ttls()?;
        Ok(ts)
    }

    /// `… CONFIGURE ZONE DISCARD`: removes `target`'s own configuration; returns whether
    /// it had one.
    pub fn discard_zone(&self, target: &ZoneTarget) -> Result<bool> {
        self.check_target(target)?;
        let Some(t) = self.zones_table(self.now())? else {
            return Ok(false);
        };
        let (id, index, part) = target.key();
        let mut tx = self.txn();
        let had = tx.delete(&t, &[int(id)?, int(u64::from(index))?, Datum::String(part)])?;
        tx.commit()?;
        self.apply_gc_ttls()?;
        Ok(had)
    }

    fn check_target(&self, target: &ZoneTarget) -> Result<()> {
        let cat = self.catalog(self.now())?;
        let table = |id: u64| {
            cat.get(id)
                .and_then(schema::table)
                .ok_or_else(|| Error::UndefinedObject(format!("relation {id} does not exist")))
        };
        match target {
            ZoneTarget::Default => Ok(()),
            ZoneTarget::Database(id) => match cat.get(*id).and_then(Kind::of) {
                Some(Kind::Database) => Ok(()),
                _ => Err(Error::UndefinedObject(format!(
                    "database {id} does not exist"
                ))),
            },
            ZoneTarget::Table(id) => table(*id).map(|_| ()),
            ZoneTarget::Index(id, ix) => {
                if all_indexes(table(*id)?).any(|i| i.id == *ix) {
                    Ok(())
                } else {
                    Err(Error::UndefinedObject(format!("index {ix} does not exist")))
                }
            }
            ZoneTarget::Partition(id, ix, p) => {
                let t = table(*id)?;
                let index = all_indexes(t)
                    .find(|i| i.id == *ix)
                    .ok_or_else(|| Error::UndefinedObject(format!("index {ix} does not exist")))?;
                if index.partitions.iter().any(|x| &x.name == p) {
                    Ok(())
                } else {
                    let d = cat.get(*id).map_or(String::new(), |d| d.name.clone());
                    Err(Error::UndefinedObject(format!(
                        "partition \"{p}\" does not exist on index \"{d}@{}\"",
                        index.name
                    )))
                }
            }
        }
    }

    /// Adds to `batch` what makes `system.zones` hold exactly `zones` once the batch is
    /// written (a full cluster restore's zone configurations, spec/restore.md §3): a
    /// deletion for every row it holds now, then each row of `zones` (constraints checked
    /// and written in canonical text). Returns the `system.zones` descriptor to write with
    /// the batch when the cluster has none yet and `zones` is not empty. Call
    /// [`Cluster::zones_changed`] once the batch is written.
    pub fn replace_zones(
        &self,
        zones: &[(ZoneKey, ZoneConfig)],
        batch: &mut Batch,
    ) -> Result<Option<pb::Descriptor>> {
        let now = self.now();
        let (desc, new) = match self.zones_table(now)? {
            Some(d) => (d, None),
            None if zones.is_empty() => return Ok(None),
            None => {
                let d = zones_descriptor();
                (d.clone(), Some(d))
            }
        };
        let (s, e) = keys::table_span(ZONES_TABLE_ID);
        self.kv.scan(&s, &e, now, |k, _| {
            batch.delete(k);
            Ok(())
        })?;
        let layouts = index_layouts(&desc)?;
        for (key, z) in zones {
            let z = ZoneConfig {
                constraints: z
                    .constraints
                    .as_deref()
                    .map(|c| {
                        locality::parse_constraints(c).map(|cs| locality::constraints_text(&cs))
                    })
                    .transpose()?,
                ..z.clone()
            };
            let row = encode_zone_row(key, &z)?;
            for l in &layouts {
                let (k, v) = l.entry(&desc, &row)?;
                batch.put(&k, &v);
            }
        }
        Ok(new)
    }

    /// After `system.zones` rows were written directly (`INSERT INTO system.zones …`): the
    /// GC TTLs follow them. Rows naming objects the cluster lacks stay and apply to nothing.
    pub fn zones_changed(&self) -> Result<()> {
        self.apply_gc_ttls()
    }

    /// [`Cluster::apply_gc_ttls`] when the cluster has zone configurations (after a
    /// table's own TTL changed, so zone levels below and above it stay in force).
    pub(super) fn refresh_zone_gc_ttls(&self) -> Result<()> {
        if self.zones_table(self.now())?.is_some() {
            self.apply_gc_ttls()?;
        }
        Ok(())
    }

    /// Recomputes the GC TTL of every table, index and partition span from the zone
    /// configurations (a table's own `gc_ttl_seconds` counts as its table level).
    fn apply_gc_ttls(&self) -> Result<()> {
        let as_of = self.now();
        let cat = self.catalog(as_of)?;
        let rows = self.zone_rows(as_of)?;
        let mut out: Vec<(Vec<u8>, u64)> = Vec::new();
        let default = effective(&cat, &rows, &ZoneTarget::Default);
        if let Some(ttl) = rows
            .get(&ZoneTarget::Default.key())
            .and_then(|z| z.gc_ttl_seconds)
        {
            out.push((Vec::new(), ttl));
        }
        for d in cat.tables() {
            let Some(t) = schema::table(d) else { continue };
            let table_ttl = effective(&cat, &rows, &ZoneTarget::Table(d.id))
                .gc_ttl_seconds
                .unwrap_or(DEFAULT_GC_TTL_SECS);
            let base = default.gc_ttl_seconds.unwrap_or(DEFAULT_GC_TTL_SECS);
            if table_ttl != base {
                out.push((keys::table_span(d.id).0, table_ttl));
            }
            for ix in all_indexes(t) {
                let ix_ttl = effective(&cat, &rows, &ZoneTarget::Index(d.id, ix.id))
                    .gc_ttl_seconds
                    .unwrap_or(DEFAULT_GC_TTL_SECS);
                let (prefix, _) = index_span(d.id, ix.id);
                if ix_ttl != table_ttl {
                    out.push((prefix.clone(), ix_ttl));
                }
                for p in &ix.partitions {
                    let target = ZoneTarget::Partition(d.id, ix.id, p.name.clone());
                    let p_ttl = effective(&cat, &rows, &target)
                        .gc_ttl_seconds
                        .unwrap_or(DEFAULT_GC_TTL_SECS);
                    if p_ttl != ix_ttl {
                        for v in &p.values {
                            let mut k = prefix.clone();
                            k.extend_from_slice(v);
                            out.push((k, p_ttl));
                        }
                    }
                }
            }
        }
        self.kv.replace_gc_ttls(&out)
    }

    /// `PARTITION BY LIST (columns) (PARTITION name VALUES IN (values…), …)` on index
    /// `index_id` of a table: `columns` must be the index's first key columns and each
    /// value a tuple of datums for them; a value may be listed once.
    pub fn partition_by_list(
        &self,
        table_id: u64,
        index_id: u32,
        columns: &[String],
        partitions: &[(String, Vec<Vec<Datum>>)],
    ) -> Result<Timestamp> {
        let mut d = self.descriptor(table_id, self.now())?;
        let layouts = index_layouts(&d)?;
        let name = d.name.clone();
        let Some(pb::descriptor::Kind::Table(t)) = &mut d.kind else {
            return Err(Error::Usage(format!("{name} is not a table")));
        };
        let layout = layouts
            .iter()
            .find(|l| l.id == index_id)
            .ok_or_else(|| Error::UndefinedObject(format!("index {index_id} does not exist")))?;
        let col_name = |id: u32| {
            t.columns
                .iter()
                .find(|c| c.id == id)
                .map_or(String::new(), |c| c.name.clone())
        };
        let key_names: Vec<String> = layout
            .key_columns
            .iter()
            .map(|(id, _, _)| col_name(*id))
            .collect();
        if columns.is_empty()
            || columns.len() > key_names.len()
            || key_names.get(..columns.len()) != Some(columns)
        {
            return Err(Error::Usage(format!(
                "declared partition columns ({}) do not match first {} columns in index being partitioned ({})",
                columns.join(", "),
                columns.len(),
                key_names.iter().take(columns.len()).cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let types: Vec<(ColumnType, Direction)> = layout
            .key_columns
            .iter()
            .take(columns.len())
            .map(|&(_, ty, dir)| (ty, dir))
            .collect();
        let mut seen: Vec<Vec<u8>> = Vec::new();
        let mut out = Vec::new();
        for (pname, values) in partitions {
            if out.iter().any(|p: &pb::Partition| &p.name == pname) {
                return Err(Error::DuplicateObject(format!(
                    "PARTITION {pname}: name must be unique"
                )));
            }
            let mut encoded = Vec::new();
            for tuple in values {
                if tuple.len() != types.len() {
                    return Err(Error::Usage(format!(
                        "PARTITION {pname}: partition has {} columns but {} values were supplied",
                        types.len(),
                        tuple.len()
                    )));
                }
                let mut k = Vec::new();
                for (datum, (ty, dir)) in tuple.iter().zip(&types) {
                    if !datum_fits(datum, *ty) {
                        return Err(Error::Constraint(format!(
                            "PARTITION {pname}: value {datum:?} does not fit a {ty:?} column"
                        )));
                    }
                    keys::encode_key_datum(datum, *dir, &mut k)?;
                }
                if seen.contains(&k) {
                    return Err(Error::Usage(format!(
                        "PARTITION {pname}: a value is listed in more than one partition (or twice)"
                    )));
                }
                seen.push(k.clone());
                encoded.push(k);
            }
            out.push(pb::Partition {
                name: pname.clone(),
                values: encoded,
            });
        }
        let index = t
            .primary_index
            .iter_mut()
            .chain(t.secondary_indexes.iter_mut())
            .find(|i| i.id == index_id)
            .ok_or_else(|| Error::UndefinedObject(format!("index {index_id} does not exist")))?;
        index.partitions = out;
        d.version += 1;
        let mut b = Batch::default();
        b.put(
            &descriptor_key(d.id),
            &prost::Message::encode_to_vec(&{
                let mut c = d.clone();
                c.modification_time = None;
                c
            }),
        );
        let ts = self.kv.write(&b)?;
        self.apply_gc_ttls()?;
        Ok(ts)
    }

    /// The ranges live at `as_of`: per table, one range per span with its own zone level
    /// (a partition's values, an index with its own zone, the rest of the table), each
    /// with the leaseholder the applying constraints choose.
    pub fn ranges(&self, as_of: Timestamp) -> Result<Vec<Range>> {
        let nodes = self.nodes()?;
        let cat = self.catalog(as_of)?;
        let rows = self.zone_rows(as_of)?;
        let mut out = Vec::new();
        for d in cat.tables() {
            let Some(t) = schema::table(d) else { continue };
            // Spans with a level of their own: partitions, and indexes with their own zone.
            let mut special: Vec<(Vec<u8>, Vec<u8>, ZoneTarget)> = Vec::new();
            for ix in all_indexes(t) {
                let (s, e) = index_span(d.id, ix.id);
                let mut parts: Vec<(Vec<u8>, Vec<u8>, ZoneTarget)> = Vec::new();
                for p in &ix.partitions {
                    for v in &p.values {
                        let mut k = s.clone();
                        k.extend_from_slice(v);
                        let end = prefix_end(&k);
                        parts.push((k, end, ZoneTarget::Partition(d.id, ix.id, p.name.clone())));
                    }
                }
                parts.sort();
                let own = ZoneTarget::Index(d.id, ix.id);
                if rows.contains_key(&own.key()) {
                    fill(&mut special, s, e, parts, &own);
                } else {
                    special.extend(parts);
                }
            }
            special.sort();
            let (ts, te) = keys::table_span(d.id);
            let mut pieces = Vec::new();
            fill(&mut pieces, ts, te, special, &ZoneTarget::Table(d.id));
            let mut ranges: Vec<(Vec<u8>, Vec<u8>, ZoneTarget)> = Vec::new();
            for p in pieces {
                match ranges.last_mut() {
                    Some(last) if last.2 == p.2 && last.1 == p.0 => last.1 = p.1,
                    _ => ranges.push(p),
                }
            }
            for (n, (start, end, zone)) in ranges.into_iter().enumerate() {
                let z = effective(&cat, &rows, &zone);
                let node = leaseholder(&nodes, z.constraints.as_deref(), d.id + n as u64)?;
                out.push(Range {
                    table_id: d.id,
                    start,
                    end,
                    zone,
                    leaseholder: node.id,
                    locality: node.locality.to_string(),
                });
            }
        }
        Ok(out)
    }
}

/// Pushes `inner` (sorted, apart, inside `[start, end)`) onto `out` with the gaps between
/// them, from `start` to `end`, given to `gap`.
fn fill(
    out: &mut Vec<(Vec<u8>, Vec<u8>, ZoneTarget)>,
    start: Vec<u8>,
    end: Vec<u8>,
    inner: Vec<(Vec<u8>, Vec<u8>, ZoneTarget)>,
    gap: &ZoneTarget,
) {
    let mut at = start;
    for (s, e, z) in inner {
        if at < s {
            out.push((at, s.clone(), gap.clone()));
        }
        at = e.clone();
        out.push((s, e, z));
    }
    if at < end {
        out.push((at, end, gap.clone()));
    }
}

fn datum_fits(d: &Datum, ty: ColumnType) -> bool {
    matches!(
        (d, ty),
        (Datum::Int(_), ColumnType::Int)
            | (Datum::String(_), ColumnType::String)
            | (Datum::Bytes(_), ColumnType::Bytes)
            | (Datum::Bool(_), ColumnType::Bool)
            | (Datum::Uuid(_), ColumnType::Uuid)
            | (Datum::Date(_), ColumnType::Date)
            | (Datum::Enum(_), ColumnType::Enum)
    )
}

/// The configuration applying to `target` (each field from the most specific level).
fn effective(cat: &Catalog, rows: &ZoneRows, target: &ZoneTarget) -> ZoneConfig {
    let mut z = ZoneConfig::default();
    let mut at = Some(target.clone());
    while let Some(t) = at {
        // A table's own gc_ttl_seconds (ALTER TABLE … SET (gc.ttlseconds = N)) is its table
        // level, before the table's zone configuration.
        if let ZoneTarget::Table(id) = t {
            if z.gc_ttl_seconds.is_none() {
                if let Some(tt) = cat.get(id).and_then(schema::table) {
                    if tt.gc_ttl_seconds != DEFAULT_GC_TTL_SECS && tt.gc_ttl_seconds != 0 {
                        z.gc_ttl_seconds = Some(tt.gc_ttl_seconds);
                    }
                }
            }
        }
        if let Some(own) = rows.get(&t.key()) {
            z = z.or(own);
        }
        at = t.parent(cat);
    }
    z
}

/// The node holding a range's lease: among the nodes satisfying `constraints` (every node
/// when none does), the one at `seed` modulo their number.
fn leaseholder<'a>(nodes: &'a [Node], constraints: Option<&str>, seed: u64) -> Result<&'a Node> {
    let cs = match constraints {
        Some(c) => locality::parse_constraints(c)?,
        None => Vec::new(),
    };
    let fit: Vec<&Node> = nodes
        .iter()
        .filter(|n| locality::satisfies(&n.locality, &cs))
        .collect();
    let pool: Vec<&Node> = if fit.is_empty() {
        nodes.iter().collect()
    } else {
        fit
    };
    let n = pool.len().max(1) as u64;
    usize::try_from(seed % n)
        .ok()
        .and_then(|i| pool.get(i).copied())
        .ok_or_else(|| Error::Usage("the cluster has no nodes".into()))
}
