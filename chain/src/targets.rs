//! What a BACKUP covers: the whole cluster, databases, or tables, resolved against the
//! catalog at the backup's end time with the object-dependency rules of CockroachDB's
//! BACKUP page (a view needs the tables in its query; a foreign key needs its referenced
//! table, a dependency restore can drop with `skip_missing_foreign_keys`).
//!
//! Every backup includes `system.users` ("Every backup you create includes
//! system.users"), so users can be restored from any backup.

use std::collections::BTreeSet;
use std::fmt;

use vouch_format::manifest::pb;
use vouch_format::schema::{
    parents, Catalog, Kind, SYSTEM_DATABASE_ID, SYSTEM_PUBLIC_SCHEMA_ID, USERS_TABLE_ID,
};

use crate::{Error, ErrorKind, Result};

/// Backup targets as the user named them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// The whole cluster.
    Cluster,
    /// `DATABASE a, b`.
    Databases(Vec<String>),
    /// `TABLE db.t, …` (`db.public.t` accepted).
    Tables(Vec<(String, String)>),
}

impl Targets {
    /// Parses `db.t` or `db.public.t`.
    pub fn parse_table(s: &str) -> Result<(String, String)> {
        let parts: Vec<&str> = s.split('.').collect();
        match parts.as_slice() {
            [db, t] if !db.is_empty() && !t.is_empty() => Ok((db.to_string(), t.to_string())),
            [db, "public", t] if !db.is_empty() && !t.is_empty() => {
                Ok((db.to_string(), t.to_string()))
            }
            _ => Err(Error::new(
                ErrorKind::Usage,
                format!("table name {s:?} must be qualified as database.table"),
            )),
        }
    }
}

impl fmt::Display for Targets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Targets::Cluster => write!(f, "cluster"),
            Targets::Databases(d) => write!(f, "DATABASE {}", d.join(", ")),
            Targets::Tables(t) => {
                let names: Vec<String> = t.iter().map(|(d, n)| format!("{d}.{n}")).collect();
                write!(f, "TABLE {}", names.join(", "))
            }
        }
    }
}

/// Targets resolved at a time.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// Descriptors included, by id order.
    pub descriptors: Vec<pb::Descriptor>,
    /// Databases included completely (new tables in them join later incrementals).
    pub complete_database_ids: Vec<u64>,
    /// Tables named individually.
    pub table_ids: BTreeSet<u64>,
    /// Whole cluster.
    pub is_full_cluster: bool,
    /// Things the user should know (e.g. a foreign key whose referenced table is not in
    /// the backup).
    pub notices: Vec<String>,
}

impl Resolved {
    /// True when a descriptor (from any time) belongs to what this backup covers.
    pub fn covers(&self, d: &pb::Descriptor) -> bool {
        if self.is_full_cluster {
            return true;
        }
        let (db, _) = parents(d);
        is_system_object(d.id)
            || self.complete_database_ids.contains(&d.id)
            || self.complete_database_ids.contains(&db)
            || self.table_ids.contains(&d.id)
            || self.descriptors.iter().any(|x| x.id == d.id)
    }

    /// Ids of the tables whose data the backup holds.
    pub fn data_table_ids(&self) -> Vec<u64> {
        self.descriptors
            .iter()
            .filter(|d| Kind::of(d) == Some(Kind::Table))
            .map(|d| d.id)
            .collect()
    }
}

fn is_system_object(id: u64) -> bool {
    id == SYSTEM_DATABASE_ID || id == SYSTEM_PUBLIC_SCHEMA_ID || id == USERS_TABLE_ID
}

fn undefined(kind: &str, name: &str) -> Error {
    Error::new(
        ErrorKind::TargetNotFound,
        format!("{kind} \"{name}\" does not exist"),
    )
}

/// Resolves `targets` against `cat` for a BACKUP.
pub fn resolve(cat: &Catalog, targets: &Targets) -> Result<Resolved> {
    resolve_for(cat, targets, "back up")
}

/// Resolves `targets` against `cat`; `verb` names the operation in messages ("back up",
/// "dump").
pub fn resolve_for(cat: &Catalog, targets: &Targets, verb: &str) -> Result<Resolved> {
    let mut ids: BTreeSet<u64> = BTreeSet::new();
    let mut r = Resolved::default();
    for id in [SYSTEM_DATABASE_ID, SYSTEM_PUBLIC_SCHEMA_ID, USERS_TABLE_ID] {
        if cat.get(id).is_some() {
            ids.insert(id);
        }
    }
    match targets {
        Targets::Cluster => {
            r.is_full_cluster = true;
            ids.extend(cat.iter().map(|d| d.id));
            r.complete_database_ids = cat
                .iter()
                .filter(|d| Kind::of(d) == Some(Kind::Database))
                .map(|d| d.id)
                .collect();
        }
        Targets::Databases(names) => {
            for n in names {
                let db = cat.database(n).ok_or_else(|| undefined("database", n))?;
                ids.insert(db.id);
                ids.extend(cat.children(db.id).iter().map(|d| d.id));
                r.complete_database_ids.push(db.id);
            }
        }
        Targets::Tables(names) => {
            for (dbn, tn) in names {
                let db = cat
                    .database(dbn)
                    .ok_or_else(|| undefined("database", dbn))?;
                let t = cat
                    .object(db.id, tn)
                    .filter(|d| matches!(Kind::of(d), Some(Kind::Table | Kind::View)))
                    .ok_or_else(|| undefined("relation", &format!("{dbn}.{tn}")))?;
                let (pdb, psc) = parents(t);
                ids.extend([t.id, pdb, psc]);
                r.table_ids.insert(t.id);
                if let Some(tt) = vouch_format::schema::table(t) {
                    for c in &tt.columns {
                        if c.enum_type_id != 0 {
                            ids.insert(c.enum_type_id);
                        }
                    }
                }
            }
        }
    }
    // Dependency rules.
    for id in &ids {
        let Some(d) = cat.get(*id) else { continue };
        if let Some(pb::descriptor::Kind::View(v)) = &d.kind {
            for dep in &v.depends_on {
                if !ids.contains(dep) {
                    let name = cat
                        .get(*dep)
                        .map_or_else(|| dep.to_string(), |x| x.name.clone());
                    return Err(Error::new(ErrorKind::Refused, format!(
                        "cannot {verb} view \"{}\" without the relation \"{name}\" it depends on; add it to the targets",
                        d.name
                    )));
                }
            }
        }
        if let Some(t) = vouch_format::schema::table(d) {
            for fk in &t.foreign_keys {
                if !ids.contains(&fk.referenced_table_id) {
                    let name = cat
                        .get(fk.referenced_table_id)
                        .map_or_else(|| fk.referenced_table_id.to_string(), |x| x.name.clone());
                    r.notices.push(format!(
                        "table \"{}\" has foreign key \"{}\" referencing \"{name}\", which is not in this backup: restoring it will need skip_missing_foreign_keys",
                        d.name, fk.name
                    ));
                }
            }
        }
    }
    r.descriptors = ids.iter().filter_map(|id| cat.get(*id).cloned()).collect();
    Ok(r)
}
