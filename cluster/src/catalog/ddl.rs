//! Schema changes: `CREATE DATABASE / TYPE … AS ENUM / TABLE / VIEW / INDEX`,
//! `ADD COLUMN`, `DROP`, `exclude_data_from_backup` and per-table GC TTLs, each a new
//! descriptor version at one timestamp.

use vouch_format::keys::{self, ColumnType, Datum};
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_format::schema::{self, index_layouts, Catalog, Kind};

use super::descriptors::{descriptor_key, new_descriptor, undefined, Cluster};
use crate::{Batch, Error, Result};

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

impl Cluster {
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
                partitions: vec![],
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
                    partitions: vec![],
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
            partitions: vec![],
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

    /// `ALTER TABLE t SET (gc.ttlseconds = …)`: the table's own GC TTL, which
    /// [`Cluster::effective_gc_ttl`] then gives for it.
    pub fn set_table_gc_ttl(&self, table_id: u64, secs: u64) -> Result<Timestamp> {
        let mut d = self.descriptor(table_id, self.now())?;
        let Some(pb::descriptor::Kind::Table(t)) = &mut d.kind else {
            return Err(Error::Usage(format!("{} is not a table", d.name)));
        };
        t.gc_ttl_seconds = secs;
        self.kv.set_gc_ttl(&keys::table_span(table_id).0, secs)?;
        let ts = self.bump(d, None)?;
        self.refresh_zone_gc_ttls()?;
        Ok(ts)
    }

    /// `ALTER TABLE t RESET (gc.ttlseconds)`: the table has no GC TTL of its own again
    /// (its descriptor says the default); GC thresholds already reached stay.
    pub fn reset_table_gc_ttl(&self, table_id: u64) -> Result<Timestamp> {
        let mut d = self.descriptor(table_id, self.now())?;
        let Some(pb::descriptor::Kind::Table(t)) = &mut d.kind else {
            return Err(Error::Usage(format!("{} is not a table", d.name)));
        };
        t.gc_ttl_seconds = crate::DEFAULT_GC_TTL_SECS;
        self.kv.clear_gc_ttl(&keys::table_span(table_id).0)?;
        let ts = self.bump(d, None)?;
        // With zone configurations, the table now takes its database's or the default's.
        self.refresh_zone_gc_ttls()?;
        Ok(ts)
    }

    /// The GC TTL in effect for a table's keys, in seconds: the one rule GC applies to
    /// them ([`Cluster::gc`]). Today the table's own `gc.ttlseconds`
    /// ([`Cluster::set_table_gc_ttl`]), else its zone configurations' (table, database,
    /// `RANGE default`: spec/locality.md §3, which write the same key prefixes), else the
    /// cluster default ([`crate::DEFAULT_GC_TTL_SECS`]).
    pub fn effective_gc_ttl(&self, table_id: u64) -> Result<u64> {
        self.kv.gc_ttl(&keys::table_span(table_id).0)
    }

    /// Runs GC as of `now` (`Kv::gc`), each table's keys under its
    /// [`Cluster::effective_gc_ttl`], the rest (dropped tables, other keys) under the
    /// configured TTLs. Returns the number of versions removed.
    pub fn gc(&self, now: Timestamp) -> Result<u64> {
        let mut zones = self.kv.zones()?;
        for d in self.catalog(now)?.tables() {
            let prefix = keys::table_span(d.id).0;
            let ttl = self.effective_gc_ttl(d.id)?;
            match zones.iter_mut().find(|(p, _)| *p == prefix) {
                Some(z) => z.1 = ttl,
                None => zones.push((prefix, ttl)),
            }
        }
        self.kv.gc_zones(now, &zones)
    }
}
