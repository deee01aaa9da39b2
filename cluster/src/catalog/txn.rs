//! Rows: transactions (`Txn`) that write a row and all its index entries at one
//! timestamp and check types, NOT NULL, unique indexes, foreign keys and enum members; row
//! scans at a time.

use std::collections::BTreeMap;

use vouch_format::keys::{self, Datum};
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_format::schema::{self, index_layouts, IndexLayout};

use super::descriptors::{Cluster, Row};
use crate::{Batch, Error, Result};

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

impl Cluster {
    /// Starts a transaction reading at the current time.
    pub fn txn(&self) -> Txn<'_> {
        Txn {
            cluster: self,
            read_ts: self.kv.now(),
            pending: BTreeMap::new(),
        }
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
}
