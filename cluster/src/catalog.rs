//! The SQL-level cluster on top of the KV layer: descriptors (databases, schemas, tables,
//! enum types, views) stored as MVCC rows in `system.descriptor`, so every schema change
//! happens at a timestamp and its history is kept; table rows and secondary index entries
//! written together; foreign keys, NOT NULL and unique constraints checked on write;
//! `system.users` with hashed passwords; ranges with localities.
//!
//! Key layout (spec/rows.md): a descriptor lives at `/Table/3/1/<id>`; a row of table `t`
//! at `/Table/t/<primary index id>/<key columns…>` with the non-key columns as a row
//! value; a secondary index entry at `/Table/t/<index id>/<index columns…><remaining
//! primary-key columns…>` with the stored columns as a row value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prost::Message;
use vouch_format::keys::{self, cmp_datum, ColumnType, Datum};
use vouch_format::manifest::{decode_canonical, pb};
use vouch_format::mvcc::Timestamp;
use vouch_format::schema::{
    self, index_layouts, parents, Catalog, IndexLayout, Kind, DESCRIPTOR_TABLE_ID,
    FIRST_USER_DESCRIPTOR_ID, SYSTEM_DATABASE_ID, SYSTEM_PUBLIC_SCHEMA_ID, USERS_TABLE_ID,
};

use crate::{Batch, Clock, Error, Kv, Result};

/// File name of the store inside a cluster directory.
pub const STORE_FILE: &str = "cluster.redb";
/// The external-I/O folder `nodelocal://1/…` maps into.
pub const EXTERN_DIR: &str = "extern";
/// Regions ranges are spread over unless configured otherwise.
pub const DEFAULT_REGIONS: &[&str] = &["us-east1", "us-west1", "europe-west1"];
/// PBKDF2 iterations for user passwords.
const PASSWORD_ITERATIONS: u32 = 10_000;

fn descriptor_key(id: u64) -> Vec<u8> {
    let mut k = Vec::new();
    keys::encode_table_prefix(DESCRIPTOR_TABLE_ID, 1, &mut k);
    keys::encode_ordered_uvarint(id, &mut k);
    k
}

fn descriptor_span() -> (Vec<u8>, Vec<u8>) {
    let mut a = Vec::new();
    keys::encode_table_prefix(DESCRIPTOR_TABLE_ID, 1, &mut a);
    let mut b = Vec::new();
    keys::encode_table_prefix(DESCRIPTOR_TABLE_ID, 2, &mut b);
    (a, b)
}

fn decode_descriptor(bytes: &[u8], ts: Timestamp) -> Result<pb::Descriptor> {
    let mut d: pb::Descriptor = decode_canonical(bytes, "descriptor")?;
    d.modification_time = Some(ts.into());
    Ok(d)
}

fn encode_descriptor(d: &pb::Descriptor) -> Vec<u8> {
    // The modification time is the MVCC timestamp of the write; it is filled in on read.
    let mut d = d.clone();
    d.modification_time = None;
    d.encode_to_vec()
}

/// A range: one table's span and where its replicas live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The table.
    pub table_id: u64,
    /// Span start (inclusive).
    pub start: Vec<u8>,
    /// Span end (exclusive).
    pub end: Vec<u8>,
    /// `region=…`.
    pub locality: String,
}

/// A table's fingerprint for one index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFingerprint {
    /// Database name.
    pub database: String,
    /// Table name.
    pub table: String,
    /// Table id.
    pub table_id: u64,
    /// Index name.
    pub index: String,
    /// Index id.
    pub index_id: u32,
    /// The fingerprint.
    pub fingerprint: u64,
    /// Live entries.
    pub entries: u64,
}

/// A column definition for `create_table`.
#[derive(Debug, Clone)]
pub struct ColumnDef {
    /// Name.
    pub name: String,
    /// Type.
    pub ty: ColumnType,
    /// NULL allowed.
    pub nullable: bool,
    /// Enum type name (for `ColumnType::Enum`).
    pub enum_type: Option<String>,
}

impl ColumnDef {
    /// A column.
    pub fn new(name: &str, ty: ColumnType, nullable: bool) -> Self {
        ColumnDef {
            name: name.into(),
            ty,
            nullable,
            enum_type: None,
        }
    }

    /// A column of a user-defined enum type.
    pub fn enumerated(name: &str, type_name: &str, nullable: bool) -> Self {
        ColumnDef {
            name: name.into(),
            ty: ColumnType::Enum,
            nullable,
            enum_type: Some(type_name.into()),
        }
    }
}

/// A secondary index definition.
#[derive(Debug, Clone)]
pub struct IndexDef {
    /// Name.
    pub name: String,
    /// Key columns (ascending, or descending when the flag is set).
    pub columns: Vec<(String, bool)>,
    /// Unique.
    pub unique: bool,
    /// Extra stored columns.
    pub storing: Vec<String>,
}

/// A foreign key definition: columns of this table referencing another table's primary key.
#[derive(Debug, Clone)]
pub struct ForeignKeyDef {
    /// Constraint name.
    pub name: String,
    /// Referencing columns.
    pub columns: Vec<String>,
    /// Referenced table (in the same database).
    pub table: String,
}

/// A table definition.
#[derive(Debug, Clone)]
pub struct TableDef {
    /// Name.
    pub name: String,
    /// Columns in order.
    pub columns: Vec<ColumnDef>,
    /// Primary-key columns (ascending).
    pub primary_key: Vec<String>,
    /// Secondary indexes.
    pub indexes: Vec<IndexDef>,
    /// Foreign keys.
    pub foreign_keys: Vec<ForeignKeyDef>,
}

/// A table row: one datum per column, in column order.
pub type Row = Vec<Datum>;

/// An embedded cluster in a directory.
#[derive(Debug)]
pub struct Cluster {
    kv: Kv,
    dir: PathBuf,
}

/// A descriptor's modification time.
pub fn modification_time(d: &pb::Descriptor) -> Timestamp {
    Timestamp::from_pb(d.modification_time)
}

fn undefined(what: &str, name: &str) -> Error {
    Error::UndefinedObject(format!("{what} \"{name}\" does not exist"))
}

/// Hashes a password for `system.users`: `pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>`.
pub fn hash_password(password: &str, salt: &[u8; 16]) -> Vec<u8> {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt, PASSWORD_ITERATIONS, &mut out);
    format!(
        "pbkdf2-sha256${PASSWORD_ITERATIONS}${}${}",
        hex::encode(salt),
        hex::encode(out)
    )
    .into_bytes()
}

/// Checks a password against a stored hash.
pub fn check_password(password: &str, stored: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(stored) else {
        return false;
    };
    let parts: Vec<&str> = text.split('$').collect();
    let [alg, iters, salt, hash] = parts.as_slice() else {
        return false;
    };
    if *alg != "pbkdf2-sha256" {
        return false;
    }
    let (Ok(iters), Ok(salt), Ok(hash)) =
        (iters.parse::<u32>(), hex::decode(salt), hex::decode(hash))
    else {
        return false;
    };
    if iters == 0 || iters > 10_000_000 || hash.len() != 32 {
        return false;
    }
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), &salt, iters, &mut out);
    out.as_slice() == hash.as_slice()
}

/// Writes applied together at one timestamp, reading their own writes.
#[derive(Debug)]
pub struct Txn<'a> {
    cluster: &'a Cluster,
    read_ts: Timestamp,
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Txn<'_> {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.pending.get(key) {
            return Ok(v.clone());
        }
        self.cluster.kv.get(key, self.read_ts)
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.pending.insert(key, Some(value));
    }

    fn del(&mut self, key: Vec<u8>) {
        self.pending.insert(key, None);
    }

    /// Reads a row by primary key.
    pub fn get_row(&self, t: &pb::Descriptor, pk: &[Datum]) -> Result<Option<Row>> {
        let layouts = index_layouts(t)?;
        let primary = layouts
            .first()
            .ok_or_else(|| Error::Usage("no primary index".into()))?;
        let key = primary_key_bytes(t, primary, pk)?;
        match self.get_raw(&key)? {
            None => Ok(None),
            Some(v) => Ok(Some(primary.assemble_row(t, pk, &v)?)),
        }
    }

    /// Inserts rows; a duplicate primary key is an error.
    pub fn insert(&mut self, t: &pb::Descriptor, rows: &[Row]) -> Result<()> {
        for r in rows {
            self.write_row(t, r, false)?;
        }
        Ok(())
    }

    /// Inserts or replaces rows.
    pub fn upsert(&mut self, t: &pb::Descriptor, rows: &[Row]) -> Result<()> {
        for r in rows {
            self.write_row(t, r, true)?;
        }
        Ok(())
    }

    /// Deletes the row with primary key `pk`; returns whether it existed.
    pub fn delete(&mut self, t: &pb::Descriptor, pk: &[Datum]) -> Result<bool> {
        let Some(old) = self.get_row(t, pk)? else {
            return Ok(false);
        };
        self.check_not_referenced(t, &old)?;
        let layouts = index_layouts(t)?;
        for l in &layouts {
            self.del(l.entry(t, &old)?.0);
        }
        Ok(true)
    }

    fn check_not_referenced(&self, t: &pb::Descriptor, row: &Row) -> Result<()> {
        let cat = self.cluster.catalog(self.read_ts)?;
        let tt = schema::table(t).ok_or_else(|| Error::Usage("not a table".into()))?;
        let pk_ids = tt
            .primary_index
            .as_ref()
            .map(|p| p.column_ids.clone())
            .unwrap_or_default();
        let pk_vals: Vec<Datum> = pk_ids
            .iter()
            .map(|id| column_value(tt, row, *id))
            .collect::<Result<_>>()?;
        for child in cat.tables() {
            let Some(ct) = schema::table(child) else {
                continue;
            };
            for fk in &ct.foreign_keys {
                if fk.referenced_table_id != t.id {
                    continue;
                }
                let mut hit = false;
                self.cluster
                    .scan_rows_with(child, self.read_ts, &self.pending, |r| {
                        let vals: Vec<Datum> = fk
                            .column_ids
                            .iter()
                            .map(|id| column_value(ct, &r, *id))
                            .collect::<Result<_>>()?;
                        if vals == pk_vals {
                            hit = true;
                        }
                        Ok(!hit)
                    })?;
                if hit {
                    return Err(Error::Constraint(format!(
                        "delete on table \"{}\" violates foreign key constraint \"{}\" on table \"{}\"",
                        t.name, fk.name, child.name
                    )));
                }
            }
        }
        Ok(())
    }

    fn write_row(&mut self, t: &pb::Descriptor, row: &Row, replace: bool) -> Result<()> {
        let tt =
            schema::table(t).ok_or_else(|| Error::Usage(format!("{} is not a table", t.name)))?;
        if row.len() != tt.columns.len() {
            return Err(Error::Constraint(format!(
                "table \"{}\" has {} columns, row has {}",
                t.name,
                tt.columns.len(),
                row.len()
            )));
        }
        for (c, d) in tt.columns.iter().zip(row) {
            match d.column_type() {
                None if !c.nullable => {
                    return Err(Error::Constraint(format!(
                        "null value in column \"{}\" violates not-null constraint",
                        c.name
                    )))
                }
                None => {}
                Some(ty) if ty != schema::column_type(c.r#type)? => {
                    return Err(Error::Constraint(format!(
                        "value type {} doesn't match type {} of column \"{}\"",
                        d.type_name(),
                        schema::column_type(c.r#type)?.name(),
                        c.name
                    )))
                }
                Some(_) => {}
            }
            if let Datum::Enum(phys) = d {
                self.check_enum_member(c, phys)?;
            }
        }
        for fk in &tt.foreign_keys {
            let vals: Vec<Datum> = fk
                .column_ids
                .iter()
                .map(|id| column_value(tt, row, *id))
                .collect::<Result<_>>()?;
            if vals.iter().any(|d| matches!(d, Datum::Null)) {
                continue;
            }
            let parent = self
                .cluster
                .descriptor(fk.referenced_table_id, self.read_ts)?;
            if self.get_row(&parent, &vals)?.is_none() {
                return Err(Error::Constraint(format!(
                    "insert on table \"{}\" violates foreign key constraint \"{}\": key not present in table \"{}\"",
                    t.name, fk.name, parent.name
                )));
            }
        }
        let layouts = index_layouts(t)?;
        let primary = layouts
            .first()
            .ok_or_else(|| Error::Usage("no primary index".into()))?;
        let pk: Vec<Datum> = primary
            .key_columns
            .iter()
            .map(|(id, _, _)| column_value(tt, row, *id))
            .collect::<Result<_>>()?;
        let old = self.get_row(t, &pk)?;
        if let Some(old) = &old {
            if !replace {
                return Err(Error::Constraint(format!(
                    "duplicate key value violates unique constraint \"{}\"",
                    primary.name
                )));
            }
            for l in &layouts {
                self.del(l.entry(t, old)?.0);
            }
        }
        for l in &layouts {
            let (k, v) = l.entry(t, row)?;
            if l.unique && !l.primary {
                self.check_unique(t, l, row)?;
            }
            self.put(k, v);
        }
        Ok(())
    }

    fn check_unique(&self, t: &pb::Descriptor, l: &IndexLayout, row: &Row) -> Result<()> {
        let tt = schema::table(t).ok_or_else(|| Error::Usage("not a table".into()))?;
        let n = tt
            .secondary_indexes
            .iter()
            .find(|i| i.id == l.id)
            .map_or(0, |i| i.column_ids.len());
        let mine: Vec<Datum> = l
            .key_columns
            .iter()
            .take(n)
            .map(|(id, _, _)| column_value(tt, row, *id))
            .collect::<Result<_>>()?;
        if mine.iter().any(|d| matches!(d, Datum::Null)) {
            return Ok(());
        }
        let mut clash = false;
        self.cluster
            .scan_rows_with(t, self.read_ts, &self.pending, |r| {
                let theirs: Vec<Datum> = l
                    .key_columns
                    .iter()
                    .take(n)
                    .map(|(id, _, _)| column_value(tt, &r, *id))
                    .collect::<Result<_>>()?;
                let same_row = l.key_columns.iter().skip(n).all(|(id, _, _)| {
                    column_value(tt, &r, *id).ok() == column_value(tt, row, *id).ok()
                });
                if theirs == mine && !same_row {
                    clash = true;
                }
                Ok(!clash)
            })?;
        if clash {
            return Err(Error::Constraint(format!(
                "duplicate key value violates unique constraint \"{}\"",
                l.name
            )));
        }
        Ok(())
    }

    fn check_enum_member(&self, c: &pb::Column, phys: &[u8]) -> Result<()> {
        let ty = self.cluster.descriptor(c.enum_type_id, self.read_ts)?;
        let Some(pb::descriptor::Kind::EnumType(e)) = &ty.kind else {
            return Err(Error::Constraint(format!(
                "column \"{}\" has no enum type",
                c.name
            )));
        };
        if !e.members.iter().any(|m| m.physical == phys) {
            return Err(Error::Constraint(format!(
                "invalid input value for enum {}",
                ty.name
            )));
        }
        Ok(())
    }

    /// Commits; returns the write timestamp (`None` when there was nothing to write).
    pub fn commit(self) -> Result<Option<Timestamp>> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        let mut b = Batch::default();
        for (k, v) in &self.pending {
            match v {
                Some(v) => b.put(k, v),
                None => b.delete(k),
            }
        }
        Ok(Some(self.cluster.kv.write(&b)?))
    }
}

fn column_value(t: &pb::Table, row: &Row, id: u32) -> Result<Datum> {
    t.columns
        .iter()
        .position(|c| c.id == id)
        .and_then(|i| row.get(i))
        .cloned()
        .ok_or_else(|| Error::Usage(format!("no column with id {id}")))
}

fn primary_key_bytes(t: &pb::Descriptor, primary: &IndexLayout, pk: &[Datum]) -> Result<Vec<u8>> {
    if pk.len() != primary.key_columns.len() {
        return Err(Error::Usage(format!(
            "table \"{}\": primary key has {} columns, {} given",
            t.name,
            primary.key_columns.len(),
            pk.len()
        )));
    }
    let cols: Vec<(Datum, keys::Direction)> = pk
        .iter()
        .zip(&primary.key_columns)
        .map(|(d, (_, _, dir))| (d.clone(), *dir))
        .collect();
    Ok(keys::encode_index_key(t.id, u64::from(primary.id), &cols)?)
}

fn new_descriptor(id: u64, name: &str, kind: pb::descriptor::Kind) -> pb::Descriptor {
    pb::Descriptor {
        id,
        name: name.into(),
        version: 1,
        modification_time: None,
        state: pb::DescriptorState::Public as i32,
        kind: Some(kind),
    }
}

impl Cluster {
    /// Creates a cluster in `dir` (which may exist but must not hold a cluster yet).
    pub fn init(dir: &Path, clock: Clock) -> Result<Self> {
        std::fs::create_dir_all(dir.join(EXTERN_DIR))
            .map_err(|e| Error::Storage(format!("{}: {e}", dir.display())))?;
        if dir.join(STORE_FILE).exists() {
            return Err(Error::Usage(format!(
                "{} already holds a cluster",
                dir.display()
            )));
        }
        let c = Cluster {
            kv: Kv::open(&dir.join(STORE_FILE), clock)?,
            dir: dir.to_path_buf(),
        };
        c.bootstrap()?;
        Ok(c)
    }

    /// Opens an existing cluster.
    pub fn open(dir: &Path, clock: Clock) -> Result<Self> {
        if !dir.join(STORE_FILE).exists() {
            return Err(Error::Usage(format!(
                "{} is not a vouch cluster (no {STORE_FILE}); create one with `vouch cluster init`",
                dir.display()
            )));
        }
        Ok(Cluster {
            kv: Kv::open(&dir.join(STORE_FILE), clock)?,
            dir: dir.to_path_buf(),
        })
    }

    fn bootstrap(&self) -> Result<()> {
        let mut b = Batch::default();
        let sys = new_descriptor(
            SYSTEM_DATABASE_ID,
            "system",
            pb::descriptor::Kind::Database(pb::Database { is_system: true }),
        );
        let sys_public = new_descriptor(
            SYSTEM_PUBLIC_SCHEMA_ID,
            "public",
            pb::descriptor::Kind::Schema(pb::Schema {
                parent_database_id: SYSTEM_DATABASE_ID,
            }),
        );
        let users = new_descriptor(
            USERS_TABLE_ID,
            "users",
            pb::descriptor::Kind::Table(pb::Table {
                parent_database_id: SYSTEM_DATABASE_ID,
                parent_schema_id: SYSTEM_PUBLIC_SCHEMA_ID,
                columns: vec![
                    pb::Column {
                        id: 1,
                        name: "username".into(),
                        r#type: pb::ColumnType::String as i32,
                        ..Default::default()
                    },
                    pb::Column {
                        id: 2,
                        name: "hashedPassword".into(),
                        r#type: pb::ColumnType::Bytes as i32,
                        nullable: true,
                        ..Default::default()
                    },
                    pb::Column {
                        id: 3,
                        name: "isRole".into(),
                        r#type: pb::ColumnType::Bool as i32,
                        ..Default::default()
                    },
                ],
                primary_index: Some(pb::Index {
                    id: 1,
                    name: "primary".into(),
                    unique: true,
                    column_ids: vec![1],
                    descending: vec![false],
                    store_column_ids: vec![],
                }),
                next_column_id: 4,
                next_index_id: 2,
                gc_ttl_seconds: crate::DEFAULT_GC_TTL_SECS,
                ..Default::default()
            }),
        );
        for d in [&sys, &sys_public, &users] {
            b.put(&descriptor_key(d.id), &encode_descriptor(d));
        }
        self.kv.write(&b)?;
        for db in ["defaultdb", "postgres"] {
            self.create_database(db)?;
        }
        let users = self.descriptor(USERS_TABLE_ID, self.kv.now())?;
        let mut tx = self.txn();
        tx.insert(
            &users,
            &[
                vec![
                    Datum::String("admin".into()),
                    Datum::Null,
                    Datum::Bool(true),
                ],
                vec![
                    Datum::String("root".into()),
                    Datum::Null,
                    Datum::Bool(false),
                ],
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The KV layer.
    pub fn kv(&self) -> &Kv {
        &self.kv
    }

    /// The cluster directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder `nodelocal://1/…` URIs map into.
    pub fn extern_dir(&self) -> PathBuf {
        self.dir.join(EXTERN_DIR)
    }

    /// A timestamp after every write so far.
    pub fn now(&self) -> Timestamp {
        self.kv.now()
    }

    /// Starts a transaction reading at the current time.
    pub fn txn(&self) -> Txn<'_> {
        Txn {
            cluster: self,
            read_ts: self.kv.now(),
            pending: BTreeMap::new(),
        }
    }

    /// Every descriptor live at `as_of`.
    pub fn descriptors(&self, as_of: Timestamp) -> Result<Vec<pb::Descriptor>> {
        let (s, e) = descriptor_span();
        let mut out = Vec::new();
        let mut raw = Vec::new();
        self.kv.scan(&s, &e, as_of, |k, v| {
            raw.push((k.to_vec(), v.to_vec()));
            Ok(())
        })?;
        // The scan gives values only; the modification time is the MVCC timestamp of the
        // newest version at or before as_of.
        for (k, v) in raw {
            let mut ts = Timestamp::MIN;
            let mut end = k.clone();
            end.push(0);
            self.kv.versions(&k, &end, Timestamp::MIN, as_of, |ver| {
                if ts == Timestamp::MIN {
                    ts = ver.ts;
                }
                Ok(())
            })?;
            out.push(decode_descriptor(&v, ts)?);
        }
        Ok(out)
    }

    /// The catalog at `as_of`.
    pub fn catalog(&self, as_of: Timestamp) -> Result<Catalog> {
        Ok(Catalog::new(self.descriptors(as_of)?))
    }

    /// Every descriptor change in (after, upto], oldest first (a deletion has no
    /// descriptor).
    pub fn descriptor_revisions(
        &self,
        after: Timestamp,
        upto: Timestamp,
    ) -> Result<Vec<pb::DescriptorRevision>> {
        let (s, e) = descriptor_span();
        let mut out = Vec::new();
        self.kv.versions(&s, &e, after, upto, |v| {
            let mut prefix = Vec::new();
            keys::encode_table_prefix(DESCRIPTOR_TABLE_ID, 1, &mut prefix);
            let mut cur =
                vouch_format::cursor::Cursor::new(v.key.get(prefix.len()..).unwrap_or_default());
            let id = keys::decode_ordered_uvarint(&mut cur, "descriptor id")?;
            out.push(pb::DescriptorRevision {
                id,
                time: Some(v.ts.into()),
                descriptor: v
                    .value
                    .as_deref()
                    .map(|b| decode_descriptor(b, v.ts))
                    .transpose()?,
            });
            Ok(())
        })?;
        out.sort_by_key(|r| (Timestamp::from_pb(r.time), r.id));
        Ok(out)
    }

    /// The descriptor with `id` at `as_of`.
    pub fn descriptor(&self, id: u64, as_of: Timestamp) -> Result<pb::Descriptor> {
        let k = descriptor_key(id);
        let mut ts = Timestamp::MIN;
        let mut val = None;
        let mut end = k.clone();
        end.push(0);
        self.kv.versions(&k, &end, Timestamp::MIN, as_of, |v| {
            if ts == Timestamp::MIN {
                ts = v.ts;
                val = v.value.clone();
            }
            Ok(())
        })?;
        match val {
            Some(v) => decode_descriptor(&v, ts),
            None => Err(Error::UndefinedObject(format!(
                "descriptor {id} does not exist"
            ))),
        }
    }

    /// The table `db.name` now.
    pub fn table(&self, db: &str, name: &str) -> Result<pb::Descriptor> {
        let cat = self.catalog(self.now())?;
        let d = cat.database(db).ok_or_else(|| undefined("database", db))?;
        match cat.object(d.id, name) {
            Some(t) if Kind::of(t) == Some(Kind::Table) => Ok(t.clone()),
            _ => Err(undefined("relation", &format!("{db}.{name}"))),
        }
    }

    /// Writes descriptors (and `extra`) in one batch; returns its timestamp. RESTORE uses
    /// it to publish everything it restored at once.
    pub fn put_descriptors(
        &self,
        descs: &[pb::Descriptor],
        extra: Option<Batch>,
    ) -> Result<Timestamp> {
        let mut b = extra.unwrap_or_default();
        for d in descs {
            b.put(&descriptor_key(d.id), &encode_descriptor(d));
        }
        self.kv.write(&b)
    }

    /// Allocates `n` consecutive descriptor ids; returns the first.
    pub fn allocate_ids(&self, n: u64) -> Result<u64> {
        self.next_ids(n)
    }

    /// Deletes descriptors in one batch (RESTORE's cleanup after a failed check).
    pub fn delete_descriptors(&self, ids: &[u64]) -> Result<Timestamp> {
        let mut b = Batch::default();
        for id in ids {
            b.delete(&descriptor_key(*id));
        }
        self.kv.write(&b)
    }

    fn next_ids(&self, n: u64) -> Result<u64> {
        self.kv
            .allocate("next_descriptor_id", FIRST_USER_DESCRIPTOR_ID, n)
    }

    /// `CREATE DATABASE name` (with its `public` schema); returns the database id.
    pub fn create_database(&self, name: &str) -> Result<u64> {
        if self.catalog(self.now())?.database(name).is_some() {
            return Err(Error::DuplicateObject(format!(
                "database \"{name}\" already exists"
            )));
        }
        let id = self.next_ids(2)?;
        let db = new_descriptor(
            id,
            name,
            pb::descriptor::Kind::Database(pb::Database::default()),
        );
        let sc = new_descriptor(
            id + 1,
            "public",
            pb::descriptor::Kind::Schema(pb::Schema {
                parent_database_id: id,
            }),
        );
        self.put_descriptors(&[db, sc], None)?;
        Ok(id)
    }

    fn db_and_schema(&self, cat: &Catalog, db: &str) -> Result<(u64, u64)> {
        let d = cat.database(db).ok_or_else(|| undefined("database", db))?;
        let s = cat
            .schema(d.id, "public")
            .ok_or_else(|| undefined("schema", &format!("{db}.public")))?;
        Ok((d.id, s.id))
    }

    fn check_free(cat: &Catalog, db_id: u64, db: &str, name: &str) -> Result<()> {
        if cat.object(db_id, name).is_some() {
            return Err(Error::DuplicateObject(format!(
                "relation \"{db}.{name}\" already exists"
            )));
        }
        Ok(())
    }

    /// `CREATE TYPE name AS ENUM (labels…)`; returns its id.
    pub fn create_enum(&self, db: &str, name: &str, labels: &[&str]) -> Result<u64> {
        let cat = self.catalog(self.now())?;
        let (db_id, sc_id) = self.db_and_schema(&cat, db)?;
        Self::check_free(&cat, db_id, db, name)?;
        let n = u8::try_from(labels.len())
            .ok()
            .filter(|n| *n < 0x7f)
            .ok_or_else(|| Error::Usage("too many enum labels".into()))?;
        let members = labels
            .iter()
            .zip(0..n)
            .map(|(l, i)| pb::EnumMember {
                label: (*l).into(),
                // Evenly spaced one-byte physical representations keep the label order.
                physical: vec![0x40u8.wrapping_add(i.wrapping_mul(2))],
            })
            .collect();
        let id = self.next_ids(1)?;
        let d = new_descriptor(
            id,
            name,
            pb::descriptor::Kind::EnumType(pb::EnumType {
                parent_database_id: db_id,
                parent_schema_id: sc_id,
                members,
            }),
        );
        self.put_descriptors(&[d], None)?;
        Ok(id)
    }

    /// The physical representation of `label` in enum `db.type_name`.
    pub fn enum_value(&self, db: &str, type_name: &str, label: &str) -> Result<Datum> {
        let cat = self.catalog(self.now())?;
        let d = cat.database(db).ok_or_else(|| undefined("database", db))?;
        let t = cat
            .object(d.id, type_name)
            .ok_or_else(|| undefined("type", type_name))?;
        let Some(pb::descriptor::Kind::EnumType(e)) = &t.kind else {
            return Err(undefined("type", type_name));
        };
        e.members
            .iter()
            .find(|m| m.label == label)
            .map(|m| Datum::Enum(m.physical.clone()))
            .ok_or_else(|| {
                Error::Constraint(format!(
                    "invalid input value for enum {type_name}: \"{label}\""
                ))
            })
    }

    /// `CREATE TABLE`; returns its id.
    pub fn create_table(&self, db: &str, def: &TableDef) -> Result<u64> {
        let cat = self.catalog(self.now())?;
        let (db_id, sc_id) = self.db_and_schema(&cat, db)?;
        Self::check_free(&cat, db_id, db, &def.name)?;
        let mut columns = Vec::new();
        for (c, id) in def.columns.iter().zip(1u32..) {
            let enum_type_id = match &c.enum_type {
                Some(tn) => {
                    cat.object(db_id, tn)
                        .filter(|d| Kind::of(d) == Some(Kind::Type))
                        .ok_or_else(|| undefined("type", tn))?
                        .id
                }
                None => 0,
            };
            columns.push(pb::Column {
                id,
                name: c.name.clone(),
                r#type: schema::column_type_code(c.ty),
                nullable: c.nullable,
                enum_type_id,
                default_expr: String::new(),
            });
        }
        let col_id = |name: &str| -> Result<u32> {
            columns
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.id)
                .ok_or_else(|| Error::UndefinedObject(format!("column \"{name}\" does not exist")))
        };
        let pk_ids = def
            .primary_key
            .iter()
            .map(|n| col_id(n))
            .collect::<Result<Vec<_>>>()?;
        let mut secondary = Vec::new();
        for (ix, id) in def.indexes.iter().zip(2u32..) {
            secondary.push(pb::Index {
                id,
                name: ix.name.clone(),
                unique: ix.unique,
                column_ids: ix
                    .columns
                    .iter()
                    .map(|(n, _)| col_id(n))
                    .collect::<Result<_>>()?,
                descending: ix.columns.iter().map(|(_, d)| *d).collect(),
                store_column_ids: ix
                    .storing
                    .iter()
                    .map(|n| col_id(n))
                    .collect::<Result<_>>()?,
            });
        }
        let mut fks = Vec::new();
        for fk in &def.foreign_keys {
            let parent = if fk.table == def.name {
                None
            } else {
                Some(
                    cat.object(db_id, &fk.table)
                        .filter(|d| Kind::of(d) == Some(Kind::Table))
                        .ok_or_else(|| undefined("relation", &fk.table))?,
                )
            };
            let Some(parent) = parent else {
                return Err(Error::Usage(
                    "self-referencing foreign keys are not supported".into(),
                ));
            };
            let pt = schema::table(parent).ok_or_else(|| undefined("relation", &fk.table))?;
            let ref_cols = pt
                .primary_index
                .as_ref()
                .map(|p| p.column_ids.clone())
                .unwrap_or_default();
            if ref_cols.len() != fk.columns.len() {
                return Err(Error::Usage(format!(
                    "foreign key {}: {} columns do not match the primary key of {}",
                    fk.name,
                    fk.columns.len(),
                    fk.table
                )));
            }
            fks.push(pb::ForeignKey {
                name: fk.name.clone(),
                column_ids: fk
                    .columns
                    .iter()
                    .map(|n| col_id(n))
                    .collect::<Result<_>>()?,
                referenced_table_id: parent.id,
                referenced_column_ids: ref_cols,
            });
        }
        let id = self.next_ids(1)?;
        let next_index_id = 2 + u32::try_from(secondary.len()).unwrap_or(u32::MAX - 2);
        let d = new_descriptor(
            id,
            &def.name,
            pb::descriptor::Kind::Table(pb::Table {
                parent_database_id: db_id,
                parent_schema_id: sc_id,
                next_column_id: u32::try_from(columns.len()).unwrap_or(u32::MAX - 1) + 1,
                columns,
                primary_index: Some(pb::Index {
                    id: 1,
                    name: format!("{}_pkey", def.name),
                    unique: true,
                    descending: vec![false; pk_ids.len()],
                    column_ids: pk_ids,
                    store_column_ids: vec![],
                }),
                secondary_indexes: secondary,
                foreign_keys: fks,
                exclude_data_from_backup: false,
                gc_ttl_seconds: crate::DEFAULT_GC_TTL_SECS,
                next_index_id,
            }),
        );
        index_layouts(&d)?;
        self.put_descriptors(&[d], None)?;
        Ok(id)
    }

    /// `CREATE VIEW name AS query`, depending on the named tables/views of the same database.
    pub fn create_view(
        &self,
        db: &str,
        name: &str,
        query: &str,
        depends_on: &[&str],
    ) -> Result<u64> {
        let cat = self.catalog(self.now())?;
        let (db_id, sc_id) = self.db_and_schema(&cat, db)?;
        Self::check_free(&cat, db_id, db, name)?;
        let deps = depends_on
            .iter()
            .map(|n| {
                cat.object(db_id, n)
                    .map(|d| d.id)
                    .ok_or_else(|| undefined("relation", n))
            })
            .collect::<Result<Vec<_>>>()?;
        let id = self.next_ids(1)?;
        let d = new_descriptor(
            id,
            name,
            pb::descriptor::Kind::View(pb::View {
                parent_database_id: db_id,
                parent_schema_id: sc_id,
                query: query.into(),
                depends_on: deps,
            }),
        );
        self.put_descriptors(&[d], None)?;
        Ok(id)
    }

    fn bump(&self, mut d: pb::Descriptor, extra: Option<Batch>) -> Result<Timestamp> {
        d.version += 1;
        self.put_descriptors(&[d], extra)
    }

    /// `ALTER TABLE … ADD COLUMN name type NULL` (existing rows read NULL); returns the
    /// schema change's timestamp.
    pub fn add_column(&self, table_id: u64, name: &str, ty: ColumnType) -> Result<Timestamp> {
        let mut d = self.descriptor(table_id, self.now())?;
        let Some(pb::descriptor::Kind::Table(t)) = &mut d.kind else {
            return Err(Error::Usage(format!("{} is not a table", d.name)));
        };
        if t.columns.iter().any(|c| c.name == name) {
            return Err(Error::DuplicateObject(format!(
                "column \"{name}\" already exists"
            )));
        }
        let id = t.next_column_id.max(1);
        t.columns.push(pb::Column {
            id,
            name: name.into(),
            r#type: schema::column_type_code(ty),
            nullable: true,
            enum_type_id: 0,
            default_expr: String::new(),
        });
        t.next_column_id = id + 1;
        self.bump(d, None)
    }

    /// `CREATE INDEX name ON t (cols…)`: the descriptor change and the backfilled entries of
    /// every live row are written at one timestamp, which is returned.
    pub fn create_index(&self, table_id: u64, def: &IndexDef) -> Result<Timestamp> {
        let now = self.now();
        let mut d = self.descriptor(table_id, now)?;
        let Some(pb::descriptor::Kind::Table(t)) = &mut d.kind else {
            return Err(Error::Usage(format!("{} is not a table", d.name)));
        };
        if t.secondary_indexes.iter().any(|i| i.name == def.name) {
            return Err(Error::DuplicateObject(format!(
                "index \"{}\" already exists",
                def.name
            )));
        }
        let col_id = |n: &str| {
            t.columns
                .iter()
                .find(|c| c.name == n)
                .map(|c| c.id)
                .ok_or_else(|| Error::UndefinedObject(format!("column \"{n}\" does not exist")))
        };
        let id = t.next_index_id.max(2);
        t.secondary_indexes.push(pb::Index {
            id,
            name: def.name.clone(),
            unique: def.unique,
            column_ids: def
                .columns
                .iter()
                .map(|(n, _)| col_id(n))
                .collect::<Result<_>>()?,
            descending: def.columns.iter().map(|(_, x)| *x).collect(),
            store_column_ids: def
                .storing
                .iter()
                .map(|n| col_id(n))
                .collect::<Result<_>>()?,
        });
        t.next_index_id = id + 1;
        let layouts = index_layouts(&d)?;
        let layout = layouts
            .iter()
            .find(|l| l.id == id)
            .ok_or_else(|| Error::Usage("index layout".into()))?;
        let mut b = Batch::default();
        let old = self.descriptor(table_id, now)?;
        self.scan_rows(&old, now, |r| {
            let (k, v) = layout.entry(&d, &r)?;
            b.put(&k, &v);
            Ok(true)
        })?;
        self.bump(d, Some(b))
    }

    /// `DROP TABLE` / `DROP VIEW`: the descriptor is deleted (its data stays until GC).
    pub fn drop_object(&self, id: u64) -> Result<Timestamp> {
        let cat = self.catalog(self.now())?;
        let d = cat
            .get(id)
            .ok_or_else(|| Error::UndefinedObject(format!("descriptor {id} does not exist")))?;
        for other in cat.iter() {
            let depends = match &other.kind {
                Some(pb::descriptor::Kind::View(v)) => v.depends_on.contains(&id),
                Some(pb::descriptor::Kind::Table(t)) => {
                    other.id != id && t.foreign_keys.iter().any(|f| f.referenced_table_id == id)
                }
                _ => false,
            };
            if depends {
                return Err(Error::Constraint(format!(
                    "cannot drop relation \"{}\" because {} \"{}\" depends on it",
                    d.name,
                    Kind::of(other).map_or("object", Kind::name),
                    other.name
                )));
            }
        }
        let mut b = Batch::default();
        b.delete(&descriptor_key(id));
        self.kv.write(&b)
    }

    /// `ALTER TABLE t SET (exclude_data_from_backup = …)`.
    pub fn set_exclude_data_from_backup(&self, table_id: u64, exclude: bool) -> Result<Timestamp> {
        let mut d = self.descriptor(table_id, self.now())?;
        let Some(pb::descriptor::Kind::Table(t)) = &mut d.kind else {
            return Err(Error::Usage(format!("{} is not a table", d.name)));
        };
        t.exclude_data_from_backup = exclude;
        self.bump(d, None)
    }

    /// `ALTER TABLE t CONFIGURE ZONE USING gc.ttlseconds = …`.
    pub fn set_table_gc_ttl(&self, table_id: u64, secs: u64) -> Result<Timestamp> {
        let mut d = self.descriptor(table_id, self.now())?;
        let Some(pb::descriptor::Kind::Table(t)) = &mut d.kind else {
            return Err(Error::Usage(format!("{} is not a table", d.name)));
        };
        t.gc_ttl_seconds = secs;
        self.kv.set_gc_ttl(&keys::table_span(table_id).0, secs)?;
        self.bump(d, None)
    }

    /// Calls `f` with each row of `t` live at `as_of`, in primary-key order, until it
    /// returns false.
    pub fn scan_rows<F>(&self, t: &pb::Descriptor, as_of: Timestamp, f: F) -> Result<()>
    where
        F: FnMut(Row) -> Result<bool>,
    {
        self.scan_rows_with(t, as_of, &BTreeMap::new(), f)
    }

    fn scan_rows_with<F>(
        &self,
        t: &pb::Descriptor,
        as_of: Timestamp,
        overlay: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
        mut f: F,
    ) -> Result<()>
    where
        F: FnMut(Row) -> Result<bool>,
    {
        let layouts = index_layouts(t)?;
        let primary = layouts
            .first()
            .ok_or_else(|| Error::Usage("no primary index".into()))?;
        let mut start = Vec::new();
        keys::encode_table_prefix(t.id, u64::from(primary.id), &mut start);
        let mut end = Vec::new();
        keys::encode_table_prefix(t.id, u64::from(primary.id) + 1, &mut end);
        let types = primary.key_types();
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let pending: Vec<(&Vec<u8>, &Option<Vec<u8>>)> =
            overlay.range(start.clone()..end.clone()).collect();
        let mut go = true;
        let mut emit = |k: &[u8], v: &[u8], go: &mut bool| -> Result<()> {
            if !*go {
                return Ok(());
            }
            let (_, _, pk) = keys::decode_index_key(k, &types)?;
            let r = primary.assemble_row(t, &pk, v)?;
            *go = f(r)?;
            Ok(())
        };
        if pending.is_empty() {
            return self
                .kv
                .scan(&start, &end, as_of, |k, v| emit(k, v, &mut go));
        }
        self.kv.scan(&start, &end, as_of, |k, v| {
            merged.insert(k.to_vec(), v.to_vec());
            Ok(())
        })?;
        for (k, v) in pending {
            match v {
                Some(v) => merged.insert(k.clone(), v.clone()),
                None => merged.remove(k),
            };
        }
        for (k, v) in &merged {
            emit(k, v, &mut go)?;
        }
        Ok(())
    }

    /// `CREATE USER name [WITH PASSWORD …]`.
    pub fn create_user(&self, name: &str, password: Option<&str>, salt: [u8; 16]) -> Result<()> {
        let users = self.descriptor(USERS_TABLE_ID, self.now())?;
        let mut tx = self.txn();
        if tx.get_row(&users, &[Datum::String(name.into())])?.is_some() {
            return Err(Error::DuplicateObject(format!(
                "a role/user named {name} already exists"
            )));
        }
        let hashed = password.map_or(Datum::Null, |p| Datum::Bytes(hash_password(p, &salt)));
        tx.insert(
            &users,
            &[vec![Datum::String(name.into()), hashed, Datum::Bool(false)]],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The ranges live at `as_of`: one per table, spread over the configured regions.
    pub fn ranges(&self, as_of: Timestamp) -> Result<Vec<Range>> {
        let regions = self.regions()?;
        let cat = self.catalog(as_of)?;
        let mut out = Vec::new();
        for t in cat.tables() {
            let (start, end) = keys::table_span(t.id);
            let n = regions.len().max(1) as u64;
            let region = usize::try_from(t.id % n)
                .ok()
                .and_then(|i| regions.get(i))
                .cloned()
                .unwrap_or_default();
            out.push(Range {
                table_id: t.id,
                start,
                end,
                locality: format!("region={region}"),
            });
        }
        Ok(out)
    }

    /// The regions ranges are spread over.
    pub fn regions(&self) -> Result<Vec<String>> {
        Ok(match self.kv.setting("regions")? {
            Some(v) => String::from_utf8_lossy(&v)
                .split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            None => DEFAULT_REGIONS.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// Sets the regions (comma-separated in storage).
    pub fn set_regions(&self, regions: &[&str]) -> Result<()> {
        self.kv.set_setting("regions", regions.join(",").as_bytes())
    }

    /// Fingerprints of every index of every table live at `as_of` (user tables and
    /// `system.users`), ordered by database, table and index id.
    pub fn fingerprints(&self, as_of: Timestamp) -> Result<Vec<IndexFingerprint>> {
        let cat = self.catalog(as_of)?;
        let mut out = Vec::new();
        for t in cat.tables() {
            let (db, _) = cat.qualifiers(t);
            let layouts = index_layouts(t)?;
            let fps = self.index_fingerprints(t.id, as_of)?;
            for l in &layouts {
                let fp = fps.get(&u64::from(l.id)).copied().unwrap_or_default();
                out.push(IndexFingerprint {
                    database: db.clone(),
                    table: t.name.clone(),
                    table_id: t.id,
                    index: l.name.clone(),
                    index_id: l.id,
                    fingerprint: fp.hash,
                    entries: fp.entries,
                });
            }
        }
        out.sort_by(|a, b| {
            (&a.database, &a.table, a.index_id).cmp(&(&b.database, &b.table, b.index_id))
        });
        Ok(out)
    }

    /// Fingerprints of every index of table `table_id` at `as_of`, by index id (indexes
    /// without entries absent).
    pub fn index_fingerprints(
        &self,
        table_id: u64,
        as_of: Timestamp,
    ) -> Result<BTreeMap<u64, vouch_format::fingerprint::Fingerprint>> {
        let mut fps: BTreeMap<u64, vouch_format::fingerprint::Fingerprint> = BTreeMap::new();
        let (s, e) = keys::table_span(table_id);
        self.kv.scan(&s, &e, as_of, |k, v| {
            let (_, index, n) = keys::decode_table_prefix(k)?;
            fps.entry(index)
                .or_default()
                .add_suffix(k.get(n..).unwrap_or_default(), v);
            Ok(())
        })?;
        Ok(fps)
    }

    /// Database/table names of a descriptor, for messages.
    pub fn qualified_name(&self, d: &pb::Descriptor, as_of: Timestamp) -> Result<String> {
        let cat = self.catalog(as_of)?;
        let (db, _) = parents(d);
        Ok(match cat.get(db) {
            Some(p) => format!("{}.{}", p.name, d.name),
            None => d.name.clone(),
        })
    }
}

/// Orders two rows by their primary key (for tests and workloads).
pub fn cmp_rows(a: &[Datum], b: &[Datum]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = cmp_datum(x, y);
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}
