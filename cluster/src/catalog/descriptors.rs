//! `Cluster`: a directory holding the KV store; descriptors stored as MVCC rows of
//! `system.descriptor` (`/Table/3/1/<id>`), the bootstrap catalog, and reading descriptors
//! and catalogs at a time.

use std::path::{Path, PathBuf};

use prost::Message;
use vouch_format::keys::{self, cmp_datum, Datum};
use vouch_format::manifest::{decode_canonical, pb};
use vouch_format::mvcc::Timestamp;
use vouch_format::schema::{
    parents, Catalog, Kind, DESCRIPTOR_TABLE_ID, FIRST_USER_DESCRIPTOR_ID, SYSTEM_DATABASE_ID,
    SYSTEM_PUBLIC_SCHEMA_ID, USERS_TABLE_ID,
};

use crate::{Batch, Clock, Error, Kv, Result};

/// File name of the store inside a cluster directory.
pub const STORE_FILE: &str = "cluster.redb";
/// The external-I/O folder `nodelocal://1/…` maps into.
pub const EXTERN_DIR: &str = "extern";

pub(super) fn descriptor_key(id: u64) -> Vec<u8> {
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

/// A table row: one datum per column, in column order.
pub type Row = Vec<Datum>;

/// An embedded cluster in a directory.
#[derive(Debug)]
pub struct Cluster {
    pub(super) kv: Kv,
    pub(super) dir: PathBuf,
}

/// A descriptor's modification time.
pub fn modification_time(d: &pb::Descriptor) -> Timestamp {
    Timestamp::from_pb(d.modification_time)
}

pub(super) fn undefined(what: &str, name: &str) -> Error {
    Error::UndefinedObject(format!("{what} \"{name}\" does not exist"))
}

pub(super) fn new_descriptor(id: u64, name: &str, kind: pb::descriptor::Kind) -> pb::Descriptor {
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
                    partitions: vec![],
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

    /// When a descriptor was first written under `id` (the oldest version of its key, a
    /// deletion included), if ever. A RESTORE job's new ids are its own (allocated to it
    /// alone), so a resumed job finds by them whether, and when, it published its objects.
    pub fn descriptor_first_written(&self, id: u64) -> Result<Option<Timestamp>> {
        let start = descriptor_key(id);
        let mut end = start.clone();
        end.push(0);
        let mut first: Option<Timestamp> = None;
        self.kv
            .versions(&start, &end, Timestamp::MIN, Timestamp::MAX, |v| {
                first = Some(first.map_or(v.ts, |f| f.min(v.ts)));
                Ok(())
            })?;
        Ok(first)
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

    pub(super) fn next_ids(&self, n: u64) -> Result<u64> {
        self.kv
            .allocate("next_descriptor_id", FIRST_USER_DESCRIPTOR_ID, n)
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
