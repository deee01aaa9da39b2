//! Checked decoding of a table's index entries against one descriptor: the one decoder
//! restore and verify both run on every row they read, and the rule of unique indexes.
//!
//! [`TableCheck::check`] decodes an entry (`/Table/<id>/<index>/<key columns>` and its
//! value) against the descriptor: the index must be one of the table's, the key columns
//! decode with the index's types and directions, the value is a row of exactly the
//! index's value columns with the right types ([`row::decode_row_checked`]), no NOT NULL
//! column is NULL (key columns included), and every enum value is a member of its type
//! (when the enum types are given). For a primary row it also gives the entry each
//! secondary index must hold ([`IndexLayout::entry_into`]). [`TableCheck::check_into`]
//! does the same into buffers a caller reuses entry after entry: once they are warm,
//! checking an entry allocates nothing (a refused one allocates its error).
//!
//! [`UniqueKeys`] applies the rule of unique indexes to checked entries met in key order:
//! two live entries of a unique secondary index whose index columns are equal and hold no
//! NULL are a duplicate. (The primary key is the whole stored key, so two live entries
//! with equal primary keys are one key: the key decoder accepts only canonical keys.)

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::error::{Error, Result};
use crate::keys::{self, Datum};
use crate::manifest::pb;
use crate::row;
use crate::schema::{index_layouts, table, IndexEntry, IndexLayout};

/// Enum members of a column: `None` when its type is not known (membership unchecked).
type Members = Option<BTreeSet<Vec<u8>>>;

/// A table's descriptor, ready to check entries against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCheck {
    table_id: u64,
    layouts: Vec<IndexLayout>,
    /// Per layout: its key columns' types (as `keys::decode_index_key` takes them), made
    /// once rather than per entry.
    key_types: Vec<Vec<(keys::ColumnType, keys::Direction)>>,
    /// Per layout: how many leading key columns make its unique key (0: none to check).
    unique_cols: Vec<usize>,
    /// Ids of the columns that are NOT NULL.
    not_null: BTreeSet<u32>,
    /// Enum columns by id, with their type's members.
    enums: BTreeMap<u32, Members>,
    /// Ids of the columns some secondary index holds (in its key or its value), sorted:
    /// the only values of a primary row its implied entries need.
    implied_cols: Vec<u32>,
}

/// What a checked entry is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckedEntry {
    /// Position of its index in [`TableCheck::layouts`] (0: the primary index).
    pub index: usize,
    /// For an entry of a unique secondary index with no NULL among the index's columns:
    /// its unique key (the table prefix and those columns, encoded).
    pub unique_key: Option<Vec<u8>>,
    /// For a primary row, when asked for: the entry each secondary index
    /// (`layouts()[1..]`) must hold for it.
    pub implied: Vec<IndexEntry>,
}

/// Buffers of [`TableCheck::check_into`], reused entry after entry: the key's columns and
/// the values of a primary row its implied entries take.
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    key: Vec<Datum>,
    /// Kept values (column id, value), a slot per column some secondary index holds: the
    /// first ones (as many as the current row kept) are the current row's; the rest wait,
    /// with their allocations, for a row that has those columns. A JSONB value is parsed
    /// into its slot (a `serde_json::Value`, allocated per row): only a secondary index
    /// storing a JSONB column keeps one.
    values: Vec<(u32, Datum)>,
    /// A unique key's buffer while the entry has none.
    spare: Vec<u8>,
    /// Implied entries' buffers while the entry has none (a secondary index's entry).
    spare_implied: Vec<IndexEntry>,
}

/// The value of a column a row does not hold.
static NULL: Datum = Datum::Null;

fn invalid(field: &'static str, reason: String) -> Error {
    Error::Invalid {
        field,
        offset: 0,
        reason,
    }
}

impl TableCheck {
    /// The check of table descriptor `d`; `enum_type(id)` gives enum type descriptors
    /// (a column whose type it does not give has its membership unchecked).
    pub fn new<'a>(
        d: &pb::Descriptor,
        mut enum_type: impl FnMut(u64) -> Option<&'a pb::Descriptor>,
    ) -> Result<Self> {
        let t = table(d).ok_or_else(|| Error::Usage(format!("{:?} is not a table", d.name)))?;
        let layouts = index_layouts(d)?;
        let unique_cols = layouts
            .iter()
            .map(|l| {
                if l.primary || !l.unique {
                    return 0;
                }
                t.secondary_indexes
                    .iter()
                    .find(|ix| ix.id == l.id)
                    .map_or(0, |ix| ix.column_ids.len())
            })
            .collect();
        let not_null = t
            .columns
            .iter()
            .filter(|c| !c.nullable)
            .map(|c| c.id)
            .collect();
        let enums = t
            .columns
            .iter()
            .filter(|c| c.r#type == pb::ColumnType::Enum as i32)
            .map(|c| {
                let members = enum_type(c.enum_type_id).and_then(|ty| match &ty.kind {
                    Some(pb::descriptor::Kind::EnumType(e)) => {
                        Some(e.members.iter().map(|m| m.physical.clone()).collect())
                    }
                    _ => None,
                });
                (c.id, members)
            })
            .collect();
        let key_types = layouts.iter().map(IndexLayout::key_types).collect();
        let mut implied_cols: Vec<u32> = layouts
            .iter()
            .skip(1)
            .flat_map(|l| {
                l.key_columns
                    .iter()
                    .map(|c| c.0)
                    .chain(l.value_columns.iter().map(|c| c.id))
            })
            .collect();
        implied_cols.sort_unstable();
        implied_cols.dedup();
        Ok(TableCheck {
            implied_cols,
            table_id: d.id,
            layouts,
            key_types,
            unique_cols,
            not_null,
            enums,
        })
    }

    /// The check of `d` with enum types looked up among `descriptors`.
    pub fn in_catalog<'a>(
        d: &pb::Descriptor,
        descriptors: impl IntoIterator<Item = &'a pb::Descriptor>,
    ) -> Result<Self> {
        let by_id: HashMap<u64, &pb::Descriptor> =
            descriptors.into_iter().map(|x| (x.id, x)).collect();
        Self::new(d, |id| by_id.get(&id).copied())
    }

    /// The table's index layouts, primary first.
    pub fn layouts(&self) -> &[IndexLayout] {
        &self.layouts
    }

    /// Whether every entry `other` accepts, this check accepts too, with the same
    /// [`CheckedEntry`] (with or without implied entries): the same table, indexes (ids,
    /// kinds, key columns, secondary value columns) and NOT NULL columns, the primary
    /// index's value columns those of `other` plus nullable ones, and no enum membership
    /// checked here that `other` checks differently. It holds between the descriptors
    /// before and after `ADD COLUMN` of a nullable column, so a row checked at one layer
    /// end need not be decoded again at the next. Conservative: `false` says nothing.
    pub fn accepts_all_accepted_by(&self, other: &TableCheck) -> bool {
        let same_index = |(pos, (a, b)): (usize, (&IndexLayout, &IndexLayout))| {
            let values = if pos == 0 {
                // Each of other's value columns here, alike; each column only here nullable.
                b.value_columns.iter().all(|c| a.value_columns.contains(c))
                    && a.value_columns
                        .iter()
                        .all(|c| c.nullable || b.value_columns.contains(c))
            } else {
                a.value_columns == b.value_columns
            };
            a.id == b.id
                && a.primary == b.primary
                && a.unique == b.unique
                && a.key_columns == b.key_columns
                && values
        };
        self.table_id == other.table_id
            && self.layouts.len() == other.layouts.len()
            && self
                .layouts
                .iter()
                .zip(&other.layouts)
                .enumerate()
                .all(same_index)
            && self.unique_cols == other.unique_cols
            && self.not_null == other.not_null
            && self.implied_cols == other.implied_cols
            && self
                .enums
                .iter()
                .all(|(id, m)| m.is_none() || other.enums.get(id) == Some(m))
    }

    fn check_datum(&self, id: u32, d: &Datum) -> Result<()> {
        match d {
            Datum::Null if self.not_null.contains(&id) => Err(invalid(
                "column value",
                format!("column {id} is NOT NULL but holds NULL"),
            )),
            Datum::Enum(phys) => self.check_enum(id, phys),
            _ => Ok(()),
        }
    }

    /// [`TableCheck::check_datum`] of a row's column value.
    fn check_value(&self, id: u32, d: &row::DatumRef<'_>) -> Result<()> {
        match d {
            row::DatumRef::Enum(phys) => self.check_enum(id, phys),
            row::DatumRef::Owned(d) => self.check_datum(id, d),
            row::DatumRef::String(_)
            | row::DatumRef::Bytes(_)
            | row::DatumRef::Decimal { .. }
            | row::DatumRef::Json(_) => Ok(()),
        }
    }

    fn check_enum(&self, id: u32, phys: &[u8]) -> Result<()> {
        match self.enums.get(&id) {
            Some(Some(members)) if !members.contains(phys) => Err(invalid(
                "enum value",
                format!(
                    "column {id}: {:?} is not a member of its enum type",
                    crate::HexBytes(phys.to_vec())
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Checks the live entry `user` (a user key of this table) with value `payload`;
    /// `implied`: give a primary row's secondary entries.
    pub fn check(&self, user: &[u8], payload: &[u8], implied: bool) -> Result<CheckedEntry> {
        let mut out = CheckedEntry::default();
        self.check_into(user, payload, implied, &mut Scratch::default(), &mut out)?;
        Ok(out)
    }

    /// [`TableCheck::check`] into `out`, with `scratch`'s buffers: a caller checking entry
    /// after entry passes the same two and reuses their allocations (the implied entries'
    /// keys and values, the unique key, the key's columns, the row's kept values). After an
    /// error, what `out` holds is unspecified.
    pub fn check_into(
        &self,
        user: &[u8],
        payload: &[u8],
        implied: bool,
        scratch: &mut Scratch,
        out: &mut CheckedEntry,
    ) -> Result<()> {
        let (table_id, index_id, _) = keys::decode_table_prefix(user)?;
        if table_id != self.table_id {
            return Err(invalid(
                "table id",
                format!("a key of table {table_id} read as table {}", self.table_id),
            ));
        }
        let pos = self
            .layouts
            .iter()
            .position(|l| u64::from(l.id) == index_id)
            .ok_or_else(|| {
                invalid(
                    "index id",
                    format!("table {} has no index {index_id}", self.table_id),
                )
            })?;
        let l = self
            .layouts
            .get(pos)
            .ok_or_else(|| Error::Usage("index position".into()))?;
        let types = self
            .key_types
            .get(pos)
            .ok_or_else(|| Error::Usage("index position".into()))?;
        let Scratch {
            key,
            values,
            spare,
            spare_implied,
        } = scratch;
        keys::decode_index_key_into(user, types, key)?;
        // The row is checked as it is decoded (its STRING, BYTES, DECIMAL, JSONB and enum
        // values borrowed, not copied); its values are kept only for a primary row's
        // implied entries. The errors come in the order of decoding the whole row, then
        // its key columns' and its values' checks.
        let keep_values = pos == 0 && implied && self.layouts.len() > 1;
        let mut kept = 0;
        let mut value_err: Option<Error> = None;
        row::for_each_column_checked(payload, &l.value_columns, |id, d| {
            if value_err.is_none() {
                value_err = self.check_value(id, &d).err();
            }
            // Only the columns the secondary indexes hold are kept (a row's other
            // values, a long STRING say, are checked and not copied), each into the slot
            // the row before kept its column in.
            if keep_values && self.implied_cols.binary_search(&id).is_ok() {
                match values.get_mut(kept) {
                    Some(slot) => {
                        slot.0 = id;
                        d.assign_to(&mut slot.1);
                    }
                    None => values.push((id, d.into_owned())),
                }
                kept += 1;
            }
        })?;
        for ((id, _, _), d) in l.key_columns.iter().zip(key.iter()) {
            self.check_datum(*id, d)?;
        }
        if let Some(e) = value_err {
            return Err(e);
        }
        out.index = pos;
        let n = self.unique_cols.get(pos).copied().unwrap_or(0);
        if n > 0 && key.iter().take(n).all(|d| !matches!(d, Datum::Null)) {
            let mut buf = out
                .unique_key
                .take()
                .unwrap_or_else(|| std::mem::take(spare));
            let cols = key
                .iter()
                .zip(&l.key_columns)
                .take(n)
                .map(|(d, (_, _, dir))| (d, *dir));
            keys::encode_index_key_into(self.table_id, index_id, cols, &mut buf)?;
            out.unique_key = Some(buf);
        } else if let Some(buf) = out.unique_key.take() {
            *spare = buf;
        }
        // A secondary index's entry has no implied entries: their buffers wait in
        // `scratch` for the next primary row, in order (each index's entry where it was).
        if !keep_values {
            if spare_implied.is_empty() {
                std::mem::swap(&mut out.implied, spare_implied);
            } else {
                out.implied.clear();
            }
            return Ok(());
        }
        if out.implied.is_empty() {
            std::mem::swap(&mut out.implied, spare_implied);
        }
        out.implied
            .resize_with(self.layouts.len().saturating_sub(1), Default::default);
        // The row's value of a column: a key column's over a stored one (a row has few
        // columns: searched, no hashing per entry); NULL when the row holds neither.
        let kept = values.get(..kept).unwrap_or_default();
        let column = |id: u32| {
            let in_key = l
                .key_columns
                .iter()
                .position(|c| c.0 == id)
                .and_then(|i| key.get(i));
            Some(in_key.unwrap_or_else(|| {
                kept.iter()
                    .find(|(c, _)| *c == id)
                    .map_or(&NULL, |(_, d)| d)
            }))
        };
        for (s, e) in self.layouts.iter().skip(1).zip(out.implied.iter_mut()) {
            s.entry_into(self.table_id, column, e)?;
        }
        Ok(())
    }
}

/// The unique keys last met per index, for entries checked in key order (one table, one
/// point in time).
#[derive(Debug, Clone, Default)]
pub struct UniqueKeys {
    last: BTreeMap<usize, Vec<u8>>,
}

impl UniqueKeys {
    /// Records `e`; true when it repeats the unique key of the entry before it in its
    /// index (a duplicate in a unique index).
    pub fn duplicate(&mut self, e: &CheckedEntry) -> bool {
        let Some(k) = &e.unique_key else {
            return false;
        };
        match self.last.get_mut(&e.index) {
            Some(prev) if prev == k => true,
            Some(prev) => {
                prev.clone_from(k);
                false
            }
            None => {
                self.last.insert(e.index, k.clone());
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Direction;

    fn col(id: u32, ty: pb::ColumnType, nullable: bool) -> pb::Column {
        pb::Column {
            id,
            name: format!("c{id}"),
            r#type: ty as i32,
            nullable,
            enum_type_id: if ty == pb::ColumnType::Enum { 50 } else { 0 },
            ..Default::default()
        }
    }

    /// t(k INT PRIMARY KEY, e ENUM NOT NULL, s STRING NULL, UNIQUE INDEX (s)).
    fn table() -> pb::Descriptor {
        pb::Descriptor {
            id: 104,
            name: "t".into(),
            kind: Some(pb::descriptor::Kind::Table(pb::Table {
                columns: vec![
                    col(1, pb::ColumnType::Int, false),
                    col(2, pb::ColumnType::Enum, false),
                    col(3, pb::ColumnType::String, true),
                ],
                primary_index: Some(pb::Index {
                    partitions: vec![],
                    id: 1,
                    name: "pk".into(),
                    column_ids: vec![1],
                    ..Default::default()
                }),
                secondary_indexes: vec![pb::Index {
                    partitions: vec![],
                    id: 2,
                    name: "s_key".into(),
                    unique: true,
                    column_ids: vec![3],
                    ..Default::default()
                }],
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    fn enum_type() -> pb::Descriptor {
        pb::Descriptor {
            id: 50,
            kind: Some(pb::descriptor::Kind::EnumType(pb::EnumType {
                members: vec![pb::EnumMember {
                    label: "a".into(),
                    physical: vec![0x40],
                }],
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    fn pk(k: i64) -> Vec<u8> {
        keys::encode_index_key(104, 1, &[(Datum::Int(k), Direction::Asc)]).unwrap()
    }

    fn sk(s: Datum, k: i64) -> Vec<u8> {
        keys::encode_index_key(
            104,
            2,
            &[(s, Direction::Asc), (Datum::Int(k), Direction::Asc)],
        )
        .unwrap()
    }

    #[test]
    fn rows_are_checked_against_types_not_null_and_enum_members() {
        let ty = enum_type();
        let check = TableCheck::in_catalog(&table(), [&ty]).unwrap();
        let good = row::encode_row(&[(2, Datum::Enum(vec![0x40])), (3, Datum::String("x".into()))])
            .unwrap();
        let c = check.check(&pk(1), &good, true).unwrap();
        assert_eq!(c.index, 0);
        assert_eq!(
            c.implied,
            vec![(
                sk(Datum::String("x".into()), 1),
                row::encode_row(&[]).unwrap()
            )]
        );
        // Another type, a NOT NULL column absent, an enum value that is no member, a NULL
        // primary key, an index the table does not have, a key of another table.
        let wrong_type = row::encode_row(&[(2, Datum::Float(1.0))]).unwrap();
        let absent = row::encode_row(&[(3, Datum::String("x".into()))]).unwrap();
        let no_member = row::encode_row(&[(2, Datum::Enum(vec![0x41]))]).unwrap();
        let null_pk = keys::encode_index_key(104, 1, &[(Datum::Null, Direction::Asc)]).unwrap();
        let other_index = keys::encode_index_key(104, 9, &[]).unwrap();
        let other_table =
            keys::encode_index_key(105, 1, &[(Datum::Int(1), Direction::Asc)]).unwrap();
        for (k, v) in [
            (pk(1), &wrong_type),
            (pk(1), &absent),
            (pk(1), &no_member),
            (null_pk, &good),
            (other_index, &good),
            (other_table, &good),
        ] {
            assert!(check.check(&k, v, true).is_err(), "{k:?} {v:?}");
        }
        assert!(matches!(
            check.check(&pk(1), &absent, true),
            Err(Error::RowMissingColumn { column_id: 2 })
        ));
        // Without the enum type, membership is not checked.
        let unchecked = TableCheck::new(&table(), |_| None).unwrap();
        assert!(unchecked.check(&pk(1), &no_member, false).is_ok());
    }

    /// A primary row's implied entries are those the whole row gives each secondary index
    /// (`IndexLayout::entry`, from every column's value), whichever columns the indexes
    /// hold in their keys or store, and whichever they leave out.
    #[test]
    fn implied_entries_are_the_whole_rows_entries() {
        let mut t = table();
        if let Some(pb::descriptor::Kind::Table(tt)) = &mut t.kind {
            tt.columns.push(col(4, pb::ColumnType::String, true));
            tt.columns.push(col(5, pb::ColumnType::Int, true));
            tt.columns.push(col(6, pb::ColumnType::Bytes, true));
            tt.secondary_indexes.push(pb::Index {
                id: 3,
                name: "by_5".into(),
                column_ids: vec![5],
                store_column_ids: vec![6],
                ..Default::default()
            });
        }
        let check = TableCheck::in_catalog(&t, [&enum_type()]).unwrap();
        let layouts = index_layouts(&t).unwrap();
        assert_eq!(layouts.len(), 3);
        for (k, s4, c5, c6) in [
            (
                1,
                "a long value no index holds",
                Datum::Int(7),
                Datum::Bytes(vec![1, 2]),
            ),
            (2, "", Datum::Null, Datum::Null),
            (3, "z", Datum::Int(-1), Datum::Null),
        ] {
            let mut cols = vec![
                (2, Datum::Enum(vec![0x40])),
                (3, Datum::String(format!("s{k}"))),
                (4, Datum::String(s4.into())),
            ];
            cols.extend(
                [(5, c5), (6, c6)]
                    .into_iter()
                    .filter(|(_, d)| *d != Datum::Null),
            );
            let value = row::encode_row(&cols).unwrap();
            let whole: Vec<Datum> = [1u32, 2, 3, 4, 5, 6]
                .iter()
                .map(|&id| match id {
                    1 => Datum::Int(k),
                    _ => cols
                        .iter()
                        .find(|(c, _)| *c == id)
                        .map_or(Datum::Null, |(_, d)| d.clone()),
                })
                .collect();
            let want: Vec<IndexEntry> = layouts
                .iter()
                .skip(1)
                .map(|l| l.entry(&t, &whole).unwrap())
                .collect();
            let got = check.check(&pk(k), &value, true).unwrap();
            assert_eq!(got.implied, want, "row {k}");
            assert!(check
                .check(&pk(k), &value, false)
                .unwrap()
                .implied
                .is_empty());
        }
    }

    /// `table()` changed by `f`.
    fn changed(f: impl FnOnce(&mut pb::Table)) -> pb::Descriptor {
        let mut t = table();
        if let Some(pb::descriptor::Kind::Table(tt)) = &mut t.kind {
            f(tt);
        }
        t
    }

    #[test]
    fn a_nullable_column_added_accepts_every_entry_the_old_table_accepted_alike() {
        let ty = enum_type();
        let old = TableCheck::in_catalog(&table(), [&ty]).unwrap();
        let new = TableCheck::in_catalog(
            &changed(|t| t.columns.push(col(4, pb::ColumnType::Int, true))),
            [&ty],
        )
        .unwrap();
        assert!(new.accepts_all_accepted_by(&old));
        assert!(old.accepts_all_accepted_by(&old));
        // Not the other way: a row holding the new column is the new table's only.
        assert!(!old.accepts_all_accepted_by(&new));
        let with_new =
            row::encode_row(&[(2, Datum::Enum(vec![0x40])), (4, Datum::Int(1))]).unwrap();
        assert!(old.check(&pk(1), &with_new, true).is_err());
        assert!(new.check(&pk(1), &with_new, true).is_ok());
        // Every entry, good or damaged: where the old check accepts, the new one gives the
        // same answer, implied entries included.
        let good = row::encode_row(&[(2, Datum::Enum(vec![0x40])), (3, Datum::String("x".into()))])
            .unwrap();
        let empty = row::encode_row(&[]).unwrap();
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (pk(1), good.clone()),
            (
                pk(2),
                row::encode_row(&[(2, Datum::Enum(vec![0x40]))]).unwrap(),
            ),
            (
                pk(3),
                row::encode_row(&[(2, Datum::Enum(vec![0x41]))]).unwrap(),
            ),
            (
                pk(4),
                row::encode_row(&[(3, Datum::String("y".into()))]).unwrap(),
            ),
            (sk(Datum::String("x".into()), 1), empty.clone()),
            (sk(Datum::Null, 2), empty),
        ];
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut v = good.clone();
                v[i] ^= 1 << bit;
                entries.push((pk(5), v));
            }
            entries.push((pk(6), good[..i].to_vec()));
        }
        let mut accepted = 0;
        for (k, v) in &entries {
            for implied in [false, true] {
                if let Ok(c) = old.check(k, v, implied) {
                    accepted += 1;
                    assert_eq!(new.check(k, v, implied).ok(), Some(c), "{k:?} {v:?}");
                }
            }
        }
        assert!(accepted >= 8, "{accepted}");
    }

    #[test]
    fn other_changes_are_not_taken_for_one_that_accepts_alike() {
        let ty = enum_type();
        let old = TableCheck::in_catalog(&table(), [&ty]).unwrap();
        let not_null = changed(|t| t.columns.push(col(4, pb::ColumnType::Int, false)));
        let retyped = changed(|t| {
            t.columns[2].r#type = pb::ColumnType::Bytes as i32;
        });
        let indexed = changed(|t| {
            t.secondary_indexes.push(pb::Index {
                id: 3,
                name: "by_e".into(),
                column_ids: vec![2],
                ..Default::default()
            });
        });
        let required_now = changed(|t| t.columns[2].nullable = false);
        for (what, d) in [
            ("a NOT NULL column added", &not_null),
            ("a column's type changed", &retyped),
            ("an index added", &indexed),
            ("a nullable column made NOT NULL", &required_now),
        ] {
            let new = TableCheck::in_catalog(d, [&ty]).unwrap();
            assert!(!new.accepts_all_accepted_by(&old), "{what}");
        }
        // Enum members checked by one and not the other.
        let unchecked = TableCheck::new(&table(), |_| None).unwrap();
        assert!(!old.accepts_all_accepted_by(&unchecked));
        assert!(unchecked.accepts_all_accepted_by(&old));
    }

    #[test]
    fn unique_keys_repeat_only_without_null() {
        let check = TableCheck::new(&table(), |_| None).unwrap();
        let empty = row::encode_row(&[]).unwrap();
        let mut u = UniqueKeys::default();
        let mut dup =
            |s: Datum, k: i64| u.duplicate(&check.check(&sk(s, k), &empty, false).unwrap());
        assert!(!dup(Datum::Null, 1));
        assert!(!dup(Datum::Null, 2)); // NULLs never clash
        assert!(!dup(Datum::String("a".into()), 3));
        assert!(dup(Datum::String("a".into()), 4));
        assert!(!dup(Datum::String("b".into()), 5));
        // Primary keys are unique by construction: no unique key is derived from them.
        let row = row::encode_row(&[(2, Datum::Enum(vec![0x40]))]).unwrap();
        assert_eq!(check.check(&pk(1), &row, false).unwrap().unique_key, None);
    }
}
