//! Schema descriptors as a catalog: name resolution, references, and the column types
//! and directions that decode a table's keys and rows.
//!
//! A [`Catalog`] is a set of [`pb::Descriptor`]s at one point in time (from a cluster or a
//! manifest). It never panics on inconsistent input: dangling references come back as
//! errors or as the [`Catalog::problems`] list, which the schema verification level
//! reports.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::keys::{self, ColumnType, Datum, Direction};
use crate::manifest::pb;
use crate::row::{self, ColumnSpec};

/// The system database.
pub const SYSTEM_DATABASE_ID: u64 = 1;
/// `system.descriptor`: descriptors are stored here (not backed up as data).
pub const DESCRIPTOR_TABLE_ID: u64 = 3;
/// `system.users`.
pub const USERS_TABLE_ID: u64 = 4;
/// `system.zones`: zone configurations (created by the first `CONFIGURE ZONE`).
pub const ZONES_TABLE_ID: u64 = 5;
/// `system.public`.
pub const SYSTEM_PUBLIC_SCHEMA_ID: u64 = 29;
/// First id handed to user objects.
pub const FIRST_USER_DESCRIPTOR_ID: u64 = 100;

/// What a descriptor describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A database.
    Database,
    /// A schema.
    Schema,
    /// A table.
    Table,
    /// A user-defined enum type.
    Type,
    /// A view.
    View,
}

impl Kind {
    /// Kind of a descriptor, `None` when its `kind` is unset.
    pub fn of(d: &pb::Descriptor) -> Option<Kind> {
        use pb::descriptor::Kind as K;
        Some(match d.kind.as_ref()? {
            K::Database(_) => Kind::Database,
            K::Schema(_) => Kind::Schema,
            K::Table(_) => Kind::Table,
            K::EnumType(_) => Kind::Type,
            K::View(_) => Kind::View,
        })
    }

    /// Lower-case name as SHOW BACKUP prints it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Database => "database",
            Kind::Schema => "schema",
            Kind::Table => "table",
            Kind::Type => "type",
            Kind::View => "view",
        }
    }
}

/// The parent database and schema ids of a descriptor (0 when it has none).
pub fn parents(d: &pb::Descriptor) -> (u64, u64) {
    use pb::descriptor::Kind as K;
    match &d.kind {
        Some(K::Schema(s)) => (s.parent_database_id, 0),
        Some(K::Table(t)) => (t.parent_database_id, t.parent_schema_id),
        Some(K::EnumType(t)) => (t.parent_database_id, t.parent_schema_id),
        Some(K::View(v)) => (v.parent_database_id, v.parent_schema_id),
        _ => (0, 0),
    }
}

/// The table part of a descriptor.
pub fn table(d: &pb::Descriptor) -> Option<&pb::Table> {
    match &d.kind {
        Some(pb::descriptor::Kind::Table(t)) => Some(t),
        _ => None,
    }
}

/// The column type a protobuf type code selects.
pub fn column_type(code: i32) -> Result<ColumnType> {
    use pb::ColumnType as P;
    let p = P::try_from(code).map_err(|_| Error::Invalid {
        field: "column type",
        offset: 0,
        reason: format!("unknown column type code {code}"),
    })?;
    Ok(match p {
        P::Int => ColumnType::Int,
        P::Float => ColumnType::Float,
        P::Decimal => ColumnType::Decimal,
        P::String => ColumnType::String,
        P::Bytes => ColumnType::Bytes,
        P::Bool => ColumnType::Bool,
        P::Date => ColumnType::Date,
        P::Timestamp => ColumnType::Timestamp,
        P::Uuid => ColumnType::Uuid,
        P::Json => ColumnType::Json,
        P::Enum => ColumnType::Enum,
        P::Unspecified => {
            return Err(Error::Invalid {
                field: "column type",
                offset: 0,
                reason: "column type is unspecified".into(),
            })
        }
    })
}

/// The protobuf code of a column type.
pub fn column_type_code(t: ColumnType) -> i32 {
    use pb::ColumnType as P;
    (match t {
        ColumnType::Int => P::Int,
        ColumnType::Float => P::Float,
        ColumnType::Decimal => P::Decimal,
        ColumnType::String => P::String,
        ColumnType::Bytes => P::Bytes,
        ColumnType::Bool => P::Bool,
        ColumnType::Date => P::Date,
        ColumnType::Timestamp => P::Timestamp,
        ColumnType::Uuid => P::Uuid,
        ColumnType::Json => P::Json,
        ColumnType::Enum => P::Enum,
    }) as i32
}

/// How to decode one index of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexLayout {
    /// Index id.
    pub id: u32,
    /// Index name.
    pub name: String,
    /// True for the primary index.
    pub primary: bool,
    /// Unique secondary index.
    pub unique: bool,
    /// Key columns (the index columns, then for secondary indexes the primary-key columns
    /// not already among them), with types and directions.
    pub key_columns: Vec<(u32, ColumnType, Direction)>,
    /// Columns in the value: for the primary index every non-key column, for a secondary
    /// index its stored columns.
    pub value_columns: Vec<ColumnSpec>,
}

/// An index entry: its key and its value.
pub type IndexEntry = (Vec<u8>, Vec<u8>);

impl IndexLayout {
    /// Types and directions, as `keys::decode_index_key` takes them.
    pub fn key_types(&self) -> Vec<(ColumnType, Direction)> {
        self.key_columns.iter().map(|&(_, t, d)| (t, d)).collect()
    }

    /// The entry a row of table `table_id` has in this index, into `out` (its buffers
    /// cleared first, their allocations kept: a caller building entry after entry reuses
    /// them): the key columns encoded after `/Table/<table_id>/<index id>`, the value
    /// columns as a row value. `column(id)` is the row's value of column `id`; `None` is an
    /// [`Error::Usage`].
    pub fn entry_into<'d>(
        &self,
        table_id: u64,
        mut column: impl FnMut(u32) -> Option<&'d Datum>,
        out: &mut IndexEntry,
    ) -> Result<()> {
        let missing = |id: u32| Error::Usage(format!("no column with id {id}"));
        let mut absent = None;
        let key_cols = self.key_columns.iter().map_while(|&(id, _, dir)| {
            let d = column(id);
            if d.is_none() {
                absent = Some(id);
            }
            Some((d?, dir))
        });
        keys::encode_index_key_into(table_id, u64::from(self.id), key_cols, &mut out.0)?;
        if let Some(id) = absent {
            return Err(missing(id));
        }
        let value_cols = self.value_columns.iter().map_while(|c| {
            let d = column(c.id);
            if d.is_none() {
                absent = Some(c.id);
            }
            Some((c.id, d?))
        });
        row::encode_row_into(value_cols, &mut out.1)?;
        match absent {
            Some(id) => Err(missing(id)),
            None => Ok(()),
        }
    }

    /// The entry in this index of `row` (one datum per column of table `t`, in the
    /// descriptor's column order).
    pub fn entry(&self, t: &pb::Descriptor, row: &[Datum]) -> Result<IndexEntry> {
        let tt = table(t).ok_or_else(|| Error::Usage("not a table".into()))?;
        let mut out = IndexEntry::default();
        self.entry_into(
            t.id,
            |id| {
                tt.columns
                    .iter()
                    .position(|c| c.id == id)
                    .and_then(|i| row.get(i))
            },
            &mut out,
        )?;
        Ok(out)
    }

    /// Rebuilds a full row of table `t` (one datum per column, in the descriptor's column
    /// order) from this primary index's key datums `pk` and row value `value`, which must
    /// match the layout's value columns. Columns in neither are NULL.
    pub fn assemble_row(
        &self,
        t: &pb::Descriptor,
        pk: &[Datum],
        value: &[u8],
    ) -> Result<Vec<Datum>> {
        let tt = table(t).ok_or_else(|| Error::Usage("not a table".into()))?;
        let cols = row::decode_row_checked(value, &self.value_columns)?;
        let mut out = Vec::with_capacity(tt.columns.len());
        for c in &tt.columns {
            if let Some(i) = self.key_columns.iter().position(|(id, _, _)| *id == c.id) {
                out.push(pk.get(i).cloned().unwrap_or(Datum::Null));
            } else {
                out.push(
                    cols.iter()
                        .find(|(id, _)| *id == c.id)
                        .map_or(Datum::Null, |(_, d)| d.clone()),
                );
            }
        }
        Ok(out)
    }
}

fn find_column<'a>(t: &'a pb::Table, id: u32, table_name: &str) -> Result<&'a pb::Column> {
    t.columns
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(|| Error::Invalid {
            field: "index column",
            offset: 0,
            reason: format!("table {table_name:?} has no column with id {id}"),
        })
}

fn dir(desc: bool) -> Direction {
    if desc {
        Direction::Desc
    } else {
        Direction::Asc
    }
}

/// The layouts of every index of a table descriptor, primary first.
pub fn index_layouts(d: &pb::Descriptor) -> Result<Vec<IndexLayout>> {
    let t = table(d).ok_or_else(|| Error::Usage(format!("{:?} is not a table", d.name)))?;
    let pk = t.primary_index.as_ref().ok_or_else(|| Error::Invalid {
        field: "primary index",
        offset: 0,
        reason: format!("table {:?} has no primary index", d.name),
    })?;
    let mut pk_cols = Vec::new();
    for (i, id) in pk.column_ids.iter().enumerate() {
        let c = find_column(t, *id, &d.name)?;
        let desc = pk.descending.get(i).copied().unwrap_or(false);
        pk_cols.push((*id, column_type(c.r#type)?, dir(desc)));
    }
    let mut value = Vec::new();
    for c in &t.columns {
        if !pk.column_ids.contains(&c.id) {
            value.push(ColumnSpec {
                id: c.id,
                ty: column_type(c.r#type)?,
                nullable: c.nullable,
            });
        }
    }
    value.sort_by_key(|c| c.id);
    let mut out = vec![IndexLayout {
        id: pk.id,
        name: pk.name.clone(),
        primary: true,
        unique: true,
        key_columns: pk_cols.clone(),
        value_columns: value,
    }];
    for ix in &t.secondary_indexes {
        let mut key = Vec::new();
        for (i, id) in ix.column_ids.iter().enumerate() {
            let c = find_column(t, *id, &d.name)?;
            let desc = ix.descending.get(i).copied().unwrap_or(false);
            key.push((*id, column_type(c.r#type)?, dir(desc)));
        }
        for &(id, ty, _) in &pk_cols {
            if !ix.column_ids.contains(&id) {
                key.push((id, ty, Direction::Asc));
            }
        }
        let mut stored = Vec::new();
        for id in &ix.store_column_ids {
            let c = find_column(t, *id, &d.name)?;
            stored.push(ColumnSpec {
                id: *id,
                ty: column_type(c.r#type)?,
                nullable: true,
            });
        }
        stored.sort_by_key(|c| c.id);
        out.push(IndexLayout {
            id: ix.id,
            name: ix.name.clone(),
            primary: false,
            unique: ix.unique,
            key_columns: key,
            value_columns: stored,
        });
    }
    Ok(out)
}

/// A set of descriptors at one time.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    by_id: BTreeMap<u64, pb::Descriptor>,
}

impl Catalog {
    /// A catalog of `descs` (a later duplicate id replaces an earlier one).
    pub fn new(descs: impl IntoIterator<Item = pb::Descriptor>) -> Self {
        Catalog {
            by_id: descs.into_iter().map(|d| (d.id, d)).collect(),
        }
    }

    /// Every descriptor, by id.
    pub fn iter(&self) -> impl Iterator<Item = &pb::Descriptor> {
        self.by_id.values()
    }

    /// Number of descriptors.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The descriptor with `id`.
    pub fn get(&self, id: u64) -> Option<&pb::Descriptor> {
        self.by_id.get(&id)
    }

    /// The database named `name`.
    pub fn database(&self, name: &str) -> Option<&pb::Descriptor> {
        self.iter()
            .find(|d| Kind::of(d) == Some(Kind::Database) && d.name == name)
    }

    /// The object (table, view or type) named `name` in database `db_id`.
    pub fn object(&self, db_id: u64, name: &str) -> Option<&pb::Descriptor> {
        self.iter().find(|d| {
            matches!(Kind::of(d), Some(Kind::Table | Kind::View | Kind::Type))
                && parents(d).0 == db_id
                && d.name == name
        })
    }

    /// The schema named `name` in database `db_id`.
    pub fn schema(&self, db_id: u64, name: &str) -> Option<&pb::Descriptor> {
        self.iter()
            .find(|d| Kind::of(d) == Some(Kind::Schema) && parents(d).0 == db_id && d.name == name)
    }

    /// Everything whose parent database is `db_id` (schemas, tables, views, types).
    pub fn children(&self, db_id: u64) -> Vec<&pb::Descriptor> {
        self.iter()
            .filter(|d| Kind::of(d) != Some(Kind::Database) && parents(d).0 == db_id)
            .collect()
    }

    /// Every table descriptor.
    pub fn tables(&self) -> impl Iterator<Item = &pb::Descriptor> {
        self.iter().filter(|d| Kind::of(d) == Some(Kind::Table))
    }

    /// `(database name, schema name)` of an object; empty strings when unresolved.
    pub fn qualifiers(&self, d: &pb::Descriptor) -> (String, String) {
        let (db, sc) = parents(d);
        let db_name = self.get(db).map(|x| x.name.clone()).unwrap_or_default();
        let sc_name = self.get(sc).map(|x| x.name.clone()).unwrap_or_default();
        (db_name, sc_name)
    }

    /// Every reference that does not resolve, as human-readable problems: parent database
    /// and schema, foreign-key targets and columns, view dependencies, enum types, index
    /// columns.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for d in self.iter() {
            let Some(kind) = Kind::of(d) else {
                out.push(format!("descriptor {} ({:?}) has no kind", d.id, d.name));
                continue;
            };
            let (db, sc) = parents(d);
            if kind != Kind::Database {
                match self.get(db) {
                    Some(p) if Kind::of(p) == Some(Kind::Database) => {}
                    _ => out.push(format!(
                        "{} {:?} (id {}): parent database {db} is missing",
                        kind.name(),
                        d.name,
                        d.id
                    )),
                }
            }
            if matches!(kind, Kind::Table | Kind::View | Kind::Type) {
                match self.get(sc) {
                    Some(p) if Kind::of(p) == Some(Kind::Schema) => {}
                    _ => out.push(format!(
                        "{} {:?} (id {}): parent schema {sc} is missing",
                        kind.name(),
                        d.name,
                        d.id
                    )),
                }
            }
            if let Some(t) = table(d) {
                if let Err(e) = index_layouts(d) {
                    out.push(format!("table {:?} (id {}): {e}", d.name, d.id));
                }
                for c in &t.columns {
                    if c.r#type == pb::ColumnType::Enum as i32 {
                        match self.get(c.enum_type_id) {
                            Some(p) if Kind::of(p) == Some(Kind::Type) => {}
                            _ => out.push(format!(
                                "table {:?} (id {}): column {:?} uses enum type {} which is missing",
                                d.name, d.id, c.name, c.enum_type_id
                            )),
                        }
                    }
                }
                for fk in &t.foreign_keys {
                    match self.get(fk.referenced_table_id) {
                        Some(p) if Kind::of(p) == Some(Kind::Table) => {}
                        _ => out.push(format!(
                            "table {:?} (id {}): foreign key {:?} references table {} which is missing",
                            d.name, d.id, fk.name, fk.referenced_table_id
                        )),
                    }
                }
            }
            if let Some(pb::descriptor::Kind::View(v)) = &d.kind {
                for dep in &v.depends_on {
                    if self.get(*dep).is_none() {
                        out.push(format!(
                            "view {:?} (id {}): depends on {dep} which is missing",
                            d.name, d.id
                        ));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::TableCheck;

    fn db(id: u64, name: &str) -> pb::Descriptor {
        pb::Descriptor {
            id,
            name: name.into(),
            version: 1,
            kind: Some(pb::descriptor::Kind::Database(pb::Database::default())),
            ..Default::default()
        }
    }

    #[test]
    fn type_codes_round_trip() {
        for t in [
            ColumnType::Int,
            ColumnType::Float,
            ColumnType::Decimal,
            ColumnType::String,
            ColumnType::Bytes,
            ColumnType::Bool,
            ColumnType::Date,
            ColumnType::Timestamp,
            ColumnType::Uuid,
            ColumnType::Json,
            ColumnType::Enum,
        ] {
            assert_eq!(column_type(column_type_code(t)).unwrap(), t);
        }
        assert!(column_type(0).is_err());
        assert!(column_type(99).is_err());
    }

    #[test]
    fn dangling_references_are_problems() {
        let t = pb::Descriptor {
            id: 104,
            name: "t".into(),
            version: 1,
            kind: Some(pb::descriptor::Kind::Table(pb::Table {
                parent_database_id: 100,
                parent_schema_id: 101,
                columns: vec![pb::Column {
                    id: 1,
                    name: "a".into(),
                    r#type: pb::ColumnType::Int as i32,
                    ..Default::default()
                }],
                primary_index: Some(pb::Index {
                    partitions: vec![],
                    id: 1,
                    name: "t_pkey".into(),
                    column_ids: vec![1],
                    descending: vec![false],
                    ..Default::default()
                }),
                foreign_keys: vec![pb::ForeignKey {
                    name: "fk".into(),
                    column_ids: vec![1],
                    referenced_table_id: 555,
                    referenced_column_ids: vec![1],
                }],
                ..Default::default()
            })),
            ..Default::default()
        };
        let c = Catalog::new([db(100, "d"), t]);
        let p = c.problems();
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("parent schema 101"));
        assert!(p[1].contains("references table 555"));
        assert_eq!(c.database("d").unwrap().id, 100);
        assert_eq!(c.object(100, "t").unwrap().id, 104);
    }

    fn accounts() -> pb::Descriptor {
        let col = |id: u32, name: &str, ty: pb::ColumnType| pb::Column {
            id,
            name: name.into(),
            r#type: ty as i32,
            nullable: id != 1,
            ..Default::default()
        };
        pb::Descriptor {
            id: 104,
            name: "accounts".into(),
            version: 1,
            kind: Some(pb::descriptor::Kind::Table(pb::Table {
                columns: vec![
                    col(1, "id", pb::ColumnType::Int),
                    col(2, "name", pb::ColumnType::String),
                    col(3, "balance", pb::ColumnType::Int),
                ],
                primary_index: Some(pb::Index {
                    partitions: vec![],
                    id: 1,
                    name: "accounts_pkey".into(),
                    unique: true,
                    column_ids: vec![1],
                    descending: vec![false],
                    ..Default::default()
                }),
                secondary_indexes: vec![pb::Index {
                    partitions: vec![],
                    id: 2,
                    name: "accounts_name_idx".into(),
                    column_ids: vec![2],
                    descending: vec![true],
                    store_column_ids: vec![3],
                    ..Default::default()
                }],
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn index_entries_of_a_row() {
        let t = accounts();
        let layouts = index_layouts(&t).unwrap();
        let row = vec![Datum::Int(7), Datum::String("ann".into()), Datum::Int(50)];
        let (pk_key, pk_value) = layouts[0].entry(&t, &row).unwrap();
        assert_eq!(
            pk_key,
            keys::encode_index_key(104, 1, &[(Datum::Int(7), Direction::Asc)]).unwrap()
        );
        assert_eq!(
            pk_value,
            row::encode_row(&[(2, Datum::String("ann".into())), (3, Datum::Int(50))]).unwrap()
        );
        let secondary = layouts[1].entry(&t, &row).unwrap();
        assert_eq!(
            secondary,
            (
                keys::encode_index_key(
                    104,
                    2,
                    &[
                        (Datum::String("ann".into()), Direction::Desc),
                        (Datum::Int(7), Direction::Asc)
                    ]
                )
                .unwrap(),
                row::encode_row(&[(3, Datum::Int(50))]).unwrap()
            )
        );
        // The primary row implies exactly that secondary entry.
        let check = TableCheck::new(&t, |_| None).unwrap();
        assert_eq!(
            check.check(&pk_key, &pk_value, true).unwrap().implied,
            vec![secondary]
        );
        // And the row comes back from its primary entry.
        assert_eq!(
            layouts[0]
                .assemble_row(&t, &[Datum::Int(7)], &pk_value)
                .unwrap(),
            row
        );
    }

    #[test]
    fn implied_entries_use_null_for_absent_columns() {
        let t = accounts();
        let layouts = index_layouts(&t).unwrap();
        let pk_key = keys::encode_index_key(104, 1, &[(Datum::Int(7), Direction::Asc)]).unwrap();
        let value = row::encode_row(&[(3, Datum::Int(50))]).unwrap();
        let null_row = vec![Datum::Int(7), Datum::Null, Datum::Int(50)];
        let check = TableCheck::new(&t, |_| None).unwrap();
        assert_eq!(
            check.check(&pk_key, &value, true).unwrap().implied,
            vec![layouts[1].entry(&t, &null_row).unwrap()]
        );
        assert_eq!(
            layouts[0]
                .assemble_row(&t, &[Datum::Int(7)], &value)
                .unwrap(),
            null_row
        );
    }

    #[test]
    fn undecodable_rows_imply_nothing() {
        let t = accounts();
        let layouts = index_layouts(&t).unwrap();
        let pk_key = keys::encode_index_key(104, 1, &[(Datum::Int(7), Direction::Asc)]).unwrap();
        let value = row::encode_row(&[(3, Datum::Int(50))]).unwrap();
        let check = TableCheck::new(&t, |_| None).unwrap();
        assert!(check.check(b"\xff", &value, true).is_err());
        assert!(check.check(&pk_key, b"\xee", true).is_err());
        // A primary row with no secondary index implies no entry.
        let mut bare = accounts();
        if let Some(pb::descriptor::Kind::Table(tt)) = bare.kind.as_mut() {
            tt.secondary_indexes.clear();
        }
        let check = TableCheck::new(&bare, |_| None).unwrap();
        assert_eq!(
            check.check(&pk_key, &value, true).unwrap().implied,
            Vec::new()
        );
        assert!(layouts[0]
            .assemble_row(&t, &[Datum::Int(7)], b"\xee")
            .is_err());
    }

    #[test]
    fn a_missing_column_is_a_usage_error() {
        let t = accounts();
        let layouts = index_layouts(&t).unwrap();
        let e = layouts[1].entry(&t, &[Datum::Int(7)]).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        let e = layouts[1]
            .entry_into(104, |_| None, &mut IndexEntry::default())
            .unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        let mut not_table = accounts();
        not_table.kind = Some(pb::descriptor::Kind::Database(pb::Database::default()));
        let e = layouts[0].entry(&not_table, &[]).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
    }
}
