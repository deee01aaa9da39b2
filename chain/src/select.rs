//! What a restore selects and how it names it, decided against catalogs only (the
//! backup's at the plan's time and the target's): options, targets, CockroachDB's
//! dependency rules, new ids and name collisions. RESTORE runs it before writing; a dry
//! run (`vouch verify --cluster`) runs exactly the same code and writes nothing.

use std::collections::{BTreeMap, BTreeSet};

use vouch_format::entry::{TableCheck, UniqueKeys};
use vouch_format::manifest::pb;
use vouch_format::schema::{self, parents, Catalog, Kind, SYSTEM_DATABASE_ID, USERS_TABLE_ID};
use vouch_keys::KeySource;

use crate::plan::{Plan, Source};
use crate::targets::Targets;
use crate::{Error, ErrorKind, Result};

/// A RESTORE request.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// What to restore (`Cluster` only into an empty cluster).
    pub targets: Targets,
    /// Where from.
    pub source: Source,
    /// `AS OF SYSTEM TIME` text (relative, absolute or decimal HLC); default: the end of
    /// the newest layer.
    pub as_of: Option<String>,
    /// `WITH into_db = …` (table restores).
    pub into_db: Option<String>,
    /// `WITH EXECUTION LOCALITY = 'region=…'`: only a node matching the filter may
    /// coordinate the restore (the engine refuses when none does).
    pub execution_locality: Option<String>,
    /// `WITH new_db_name = …` (a single database restore).
    pub new_db_name: Option<String>,
    /// `WITH skip_missing_foreign_keys`.
    pub skip_missing_foreign_keys: bool,
    /// `WITH skip_missing_views`.
    pub skip_missing_views: bool,
    /// `WITH skip_missing_sequences` (accepted; vouch has no sequences).
    pub skip_missing_sequences: bool,
    /// `WITH schema_only`: descriptors only, no rows.
    pub schema_only: bool,
    /// `WITH verify_backup_table_data` (needs `schema_only`): read and check every row,
    /// write none.
    pub verify_backup_table_data: bool,
    /// `WITH encryption_passphrase = …` / `kms = …`: what unlocks an encrypted chain.
    pub keys: KeySource,
    /// How many tables are read at once (each with its own requests to the store); the
    /// CLI's `--jobs`. Default: the CPUs available.
    pub jobs: usize,
}

impl RestoreOptions {
    /// Options with defaults for everything but targets and source.
    pub fn new(targets: Targets, source: Source) -> Self {
        RestoreOptions {
            targets,
            source,
            as_of: None,
            into_db: None,
            execution_locality: None,
            new_db_name: None,
            skip_missing_foreign_keys: false,
            skip_missing_views: false,
            skip_missing_sequences: false,
            schema_only: false,
            verify_backup_table_data: false,
            keys: KeySource::default(),
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

fn kind_name(d: &pb::Descriptor) -> &'static str {
    Kind::of(d).map_or("object", Kind::name)
}

fn in_system_db(d: &pb::Descriptor) -> bool {
    d.id == SYSTEM_DATABASE_ID || parents(d).0 == SYSTEM_DATABASE_ID
}

fn resolve_error(what: String) -> Error {
    Error::new(ErrorKind::TargetNotFound, format!(
        "failed to resolve targets in the BACKUP location specified by the RESTORE stmt, use SHOW BACKUP to find correct targets: {what}"
    ))
}

/// What is restored, before ids are assigned.
#[derive(Debug, Default)]
pub struct Selection {
    /// Backup descriptor ids restored as new objects.
    pub ids: BTreeSet<u64>,
    /// Foreign keys dropped (`skip_missing_foreign_keys`): (table id, constraint name).
    pub dropped_fks: BTreeSet<(u64, String)>,
    /// Restore `system.users` rows into the cluster's own `system.users`.
    pub system_users: bool,
    /// Databases of the target cluster replaced by a cluster restore (empty defaults).
    pub replaced: Vec<u64>,
    /// Replace the cluster's `system.zones` rows with the backup's, their descriptor ids
    /// mapped to the restored objects' (a full cluster restore; spec/restore.md §3).
    pub system_zones: bool,
}

pub fn select(
    plan: &Plan,
    bcat: &Catalog,
    tcat: &Catalog,
    opts: &RestoreOptions,
) -> Result<Selection> {
    select_for(plan, bcat, tcat, opts, Start::First)
}

/// Which run of a restore job a selection is for (spec/jobs.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The job's start (its first run, or a detached RESTORE planning its job): every
    /// precondition is checked.
    First,
    /// A run continuing from the job's checkpoint: the preconditions were checked when the
    /// job started and are not checked again (CockroachDB checks them when it plans the
    /// job), except that the names of the objects it restores must still be free
    /// ([`assign`]). A full cluster restore's "the cluster has no tables or databases"
    /// is such a precondition: objects made meanwhile (the database of the zone-restore
    /// flow, `newdb`) do not fail the resumed run.
    Resumed,
}

/// [`select`] for a run of a restore job ([`Start`]).
pub fn select_for(
    plan: &Plan,
    bcat: &Catalog,
    tcat: &Catalog,
    opts: &RestoreOptions,
    start: Start,
) -> Result<Selection> {
    let mut sel = Selection::default();
    let newest = plan.used_layers().last().map(|l| &l.manifest);
    match &opts.targets {
        Targets::Cluster => {
            if !newest.is_some_and(|m| m.is_full_cluster) {
                return Err(Error::new(
                    ErrorKind::Refused,
                    "full cluster RESTORE can only be used on full cluster BACKUP files",
                ));
            }
            let mut blocking = Vec::new();
            for d in tcat.iter().filter(|d| !in_system_db(d)) {
                let replaceable = Kind::of(d) == Some(Kind::Database)
                    && matches!(d.name.as_str(), "defaultdb" | "postgres")
                    && tcat
                        .children(d.id)
                        .iter()
                        .all(|c| Kind::of(c) == Some(Kind::Schema));
                let child_of_replaceable = Kind::of(d) == Some(Kind::Schema)
                    && tcat.get(parents(d).0).is_some_and(|db| {
                        matches!(db.name.as_str(), "defaultdb" | "postgres")
                            && tcat
                                .children(db.id)
                                .iter()
                                .all(|c| Kind::of(c) == Some(Kind::Schema))
                    });
                if replaceable {
                    sel.replaced.push(d.id);
                    sel.replaced
                        .extend(tcat.children(d.id).iter().map(|c| c.id));
                } else if !child_of_replaceable {
                    let (db, _) = tcat.qualifiers(d);
                    blocking.push(if db.is_empty() {
                        d.name.clone()
                    } else {
                        format!("{db}.{}", d.name)
                    });
                }
            }
            if !blocking.is_empty() && start == Start::First {
                return Err(Error::new(ErrorKind::NameCollision, format!(
                    "full cluster restore can only be run on a cluster with no tables or databases but found {} descriptors: {}",
                    blocking.len(),
                    blocking.join(", ")
                )));
            }
            sel.ids
                .extend(bcat.iter().filter(|d| !in_system_db(d)).map(|d| d.id));
            sel.system_users = bcat.get(USERS_TABLE_ID).is_some();
            sel.system_zones = true;
        }
        Targets::Databases(names) => {
            for n in names {
                let db = bcat
                    .database(n)
                    .ok_or_else(|| resolve_error(format!("database \"{n}\" not found")))?;
                let complete = newest
                    .is_some_and(|m| m.is_full_cluster || m.complete_database_ids.contains(&db.id));
                if !complete {
                    return Err(Error::new(ErrorKind::Refused,
                        "cannot RESTORE DATABASE from a backup of individual tables (use SHOW BACKUP to determine available tables)"
                    ));
                }
                if db.id == SYSTEM_DATABASE_ID {
                    return Err(Error::new(
                        ErrorKind::Refused,
                        "cannot RESTORE DATABASE system: restore the tables you need with into_db",
                    ));
                }
                sel.ids.insert(db.id);
                sel.ids.extend(bcat.children(db.id).iter().map(|d| d.id));
            }
        }
        Targets::Tables(names) => {
            for (dbn, tn) in names {
                let t = bcat
                    .database(dbn)
                    .and_then(|db| bcat.object(db.id, tn))
                    .filter(|d| matches!(Kind::of(d), Some(Kind::Table | Kind::View)))
                    .ok_or_else(|| resolve_error(format!("table \"{dbn}.{tn}\" does not exist")))?;
                sel.ids.insert(t.id);
                if let Some(tt) = schema::table(t) {
                    sel.ids.extend(
                        tt.columns
                            .iter()
                            .filter(|c| c.enum_type_id != 0)
                            .map(|c| c.enum_type_id),
                    );
                }
            }
        }
    }
    // Dependency rules (the BACKUP page's object dependencies).
    loop {
        let mut removed = false;
        let ids: Vec<u64> = sel.ids.iter().copied().collect();
        for id in ids {
            let Some(d) = bcat.get(id) else { continue };
            if let Some(pb::descriptor::Kind::View(v)) = &d.kind {
                if let Some(dep) = v.depends_on.iter().find(|x| !sel.ids.contains(x)) {
                    if opts.skip_missing_views {
                        sel.ids.remove(&id);
                        removed = true;
                        continue;
                    }
                    let name = bcat
                        .get(*dep)
                        .map_or_else(|| dep.to_string(), |x| x.name.clone());
                    return Err(Error::new(ErrorKind::NeedsOption, format!(
                        "cannot restore view \"{}\" without restoring referenced table \"{name}\" (or \"skip_missing_views\" option)",
                        d.name
                    )));
                }
            }
            if let Some(t) = schema::table(d) {
                for fk in &t.foreign_keys {
                    if sel.ids.contains(&fk.referenced_table_id) {
                        continue;
                    }
                    if opts.skip_missing_foreign_keys {
                        sel.dropped_fks.insert((id, fk.name.clone()));
                        continue;
                    }
                    let name = bcat
                        .get(fk.referenced_table_id)
                        .map_or_else(|| fk.referenced_table_id.to_string(), |x| x.name.clone());
                    return Err(Error::new(ErrorKind::NeedsOption, format!(
                        "cannot restore table \"{}\" without referenced table \"{name}\" (or \"skip_missing_foreign_keys\" option)",
                        d.name
                    )));
                }
            }
        }
        if !removed {
            break;
        }
    }
    Ok(sel)
}

/// New ids and parents for what is restored.
#[derive(Debug, Default)]
pub struct Mapping {
    /// Backup id → cluster id.
    pub ids: BTreeMap<u64, u64>,
    /// Backup database id → name in the cluster.
    pub db_names: BTreeMap<u64, String>,
    /// Descriptors to write.
    pub descriptors: Vec<pb::Descriptor>,
}

pub fn assign<E: From<Error>>(
    allocate: impl FnOnce(u64) -> Result<u64, E>,
    sel: &Selection,
    bcat: &Catalog,
    tcat: &Catalog,
    opts: &RestoreOptions,
) -> Result<Mapping, E> {
    let mut m = Mapping::default();
    // Parents that already exist in the cluster (table restores).
    let mut existing_parent: BTreeMap<u64, (u64, u64, String)> = BTreeMap::new();
    let mut fresh: Vec<u64> = Vec::new();
    for id in &sel.ids {
        let Some(d) = bcat.get(*id) else { continue };
        match Kind::of(d) {
            Some(Kind::Database) => {
                let name = opts.new_db_name.clone().unwrap_or_else(|| d.name.clone());
                if tcat
                    .database(&name)
                    .is_some_and(|x| !sel.replaced.contains(&x.id))
                {
                    return Err(Error::new(
                        ErrorKind::NameCollision,
                        format!("database \"{name}\" already exists"),
                    )
                    .into());
                }
                m.db_names.insert(d.id, name);
                fresh.push(d.id);
            }
            Some(Kind::Schema) => fresh.push(d.id),
            _ => {
                let (db, _) = parents(d);
                if !sel.ids.contains(&db) && !existing_parent.contains_key(&db) {
                    let name = opts.into_db.clone().unwrap_or_else(|| {
                        bcat.get(db).map(|x| x.name.clone()).unwrap_or_default()
                    });
                    let tdb = tcat.database(&name).ok_or_else(|| {
                        Error::new(ErrorKind::NeedsOption, format!(
                            "a database named \"{name}\" needs to exist to restore {} \"{}\" (create it, or choose another with into_db)",
                            kind_name(d),
                            d.name
                        ))
                    })?;
                    let tsc = tcat.schema(tdb.id, "public").ok_or_else(|| {
                        Error::new(
                            ErrorKind::Refused,
                            format!("database \"{name}\" has no public schema"),
                        )
                    })?;
                    existing_parent.insert(db, (tdb.id, tsc.id, name));
                }
                if let Some((tdb, _, dbname)) = existing_parent.get(&db) {
                    if let Some(other) = tcat.object(*tdb, &d.name) {
                        // An equal enum type already there is reused.
                        let same_type = matches!(
                            (&other.kind, &d.kind),
                            (Some(pb::descriptor::Kind::EnumType(a)), Some(pb::descriptor::Kind::EnumType(b)))
                                if a.members == b.members
                        );
                        if same_type {
                            m.ids.insert(d.id, other.id);
                            continue;
                        }
                        return Err(Error::new(
                            ErrorKind::NameCollision,
                            format!("relation \"{dbname}.public.{}\" already exists", d.name),
                        )
                        .into());
                    }
                }
                fresh.push(d.id);
            }
        }
    }
    let n = fresh.len() as u64;
    if n > 0 {
        let first = allocate(n)?;
        for (i, id) in fresh.iter().enumerate() {
            m.ids.insert(*id, first + i as u64);
        }
    }
    for (old_db, (tdb, tsc, _)) in &existing_parent {
        m.ids.insert(*old_db, *tdb);
        // Every schema of that database maps to the target's public schema.
        for s in bcat
            .children(*old_db)
            .iter()
            .filter(|c| Kind::of(c) == Some(Kind::Schema))
        {
            m.ids.entry(s.id).or_insert(*tsc);
        }
    }
    let map = |id: u64| m.ids.get(&id).copied();
    let mut out = Vec::new();
    for id in &fresh {
        let Some(d) = bcat.get(*id) else { continue };
        let mut d = d.clone();
        d.id = map(*id).unwrap_or(d.id);
        d.modification_time = None;
        d.state = pb::DescriptorState::Public as i32;
        if let Some(name) = m.db_names.get(id) {
            d.name = name.clone();
        }
        let view_name = d.name.clone();
        let remap = |x: &mut u64| -> Result<()> {
            *x = map(*x).ok_or_else(|| {
                Error::new(
                    ErrorKind::Refused,
                    format!("descriptor {id} refers to {x}, which is not restored"),
                )
            })?;
            Ok(())
        };
        use pb::descriptor::Kind as K;
        match &mut d.kind {
            Some(K::Schema(s)) => remap(&mut s.parent_database_id)?,
            Some(K::EnumType(t)) => {
                remap(&mut t.parent_database_id)?;
                remap(&mut t.parent_schema_id)?;
            }
            Some(K::View(v)) => {
                // The query names its database by its new name (spec/restore.md §6).
                let db = v.parent_database_id;
                let old = bcat.get(db).map(|x| x.name.clone());
                let new = m
                    .db_names
                    .get(&db)
                    .or_else(|| existing_parent.get(&db).map(|x| &x.2));
                if let (Some(old), Some(new)) = (old, new) {
                    if old != *new {
                        let renames = BTreeMap::from([(old, new.clone())]);
                        v.query =
                            crate::view_query::rename_databases(&view_name, &v.query, &renames)?;
                    }
                }
                remap(&mut v.parent_database_id)?;
                remap(&mut v.parent_schema_id)?;
                for dep in &mut v.depends_on {
                    remap(dep)?;
                }
            }
            Some(K::Table(t)) => {
                remap(&mut t.parent_database_id)?;
                remap(&mut t.parent_schema_id)?;
                t.foreign_keys
                    .retain(|fk| !sel.dropped_fks.contains(&(*id, fk.name.clone())));
                for fk in &mut t.foreign_keys {
                    remap(&mut fk.referenced_table_id)?;
                }
                for c in &mut t.columns {
                    if c.enum_type_id != 0 {
                        remap(&mut c.enum_type_id)?;
                    }
                }
            }
            _ => {}
        }
        out.push(d);
    }
    m.descriptors = out;
    Ok(m)
}

/// What a restore would do, found without writing anything.
#[derive(Debug, Clone, Default)]
pub struct DryRun {
    /// Qualified names of the objects that would be restored.
    pub objects: Vec<String>,
    /// Foreign keys that would be dropped (`skip_missing_foreign_keys`): `table.constraint`.
    pub dropped_foreign_keys: Vec<String>,
}

/// Plans a restore of `plan` into a cluster whose catalog is `target` (an empty cluster's
/// when there is none) with `opts`, running every check a restore runs before writing:
/// options, targets, dependency rules, name collisions. Writes nothing.
pub fn dry_run(plan: &Plan, target: &Catalog, opts: &RestoreOptions) -> Result<DryRun> {
    check_options(opts)?;
    let bcat = plan.catalog();
    let sel = select(plan, &bcat, target, opts)?;
    // A dry run numbers the new objects after everything the target has.
    let next = target.iter().map(|d| d.id).max().unwrap_or(0) + 1;
    let mapping = assign(|_| Ok::<_, Error>(next), &sel, &bcat, target, opts)?;
    let names = Catalog::new(
        target
            .iter()
            .cloned()
            .chain(mapping.descriptors.iter().cloned()),
    );
    let mut out = DryRun {
        objects: qualified(&names, &mapping.descriptors),
        ..DryRun::default()
    };
    out.dropped_foreign_keys = sel
        .dropped_fks
        .iter()
        .map(|(id, name)| {
            let t = bcat
                .get(*id)
                .map_or_else(|| id.to_string(), |d| d.name.clone());
            format!("{t}.{name}")
        })
        .collect();
    Ok(out)
}

/// `db`, `db.schema` or `db.schema.object` of each descriptor, named in `cat`.
pub fn qualified(cat: &Catalog, descs: &[pb::Descriptor]) -> Vec<String> {
    descs
        .iter()
        .map(|d| {
            let (db, sc) = cat.qualifiers(d);
            match Kind::of(d) {
                Some(Kind::Database) => d.name.clone(),
                Some(Kind::Schema) => format!("{db}.{}", d.name),
                _ => format!("{db}.{sc}.{}", d.name),
            }
        })
        .collect()
}

pub fn check_options(opts: &RestoreOptions) -> Result<()> {
    if opts.verify_backup_table_data && !opts.schema_only {
        return Err(Error::new(
            ErrorKind::Usage,
            "to set the verify_backup_table_data option, the schema_only option must be set",
        ));
    }
    if opts.new_db_name.is_some() && !matches!(&opts.targets, Targets::Databases(v) if v.len() == 1)
    {
        return Err(Error::new(ErrorKind::Usage,
            "RESTORE new_db_name can only be used for RESTORE DATABASE with a single target database"
        ));
    }
    if opts.into_db.is_some() && !matches!(opts.targets, Targets::Tables(_)) {
        return Err(Error::new(
            ErrorKind::Usage,
            "cannot use \"into_db\" option when restoring database(s)",
        ));
    }
    Ok(())
}

/// Restore's policy over the checked decoder ([`TableCheck`], the one verify runs on
/// every row live at a layer's end): the live entry `user` of table `name` with value
/// `payload`, met in key order, must decode against the table's descriptor and must not
/// repeat a unique key (`uniq`); the first problem is a `DataMismatch` error.
pub fn check_row(
    check: &TableCheck,
    uniq: &mut UniqueKeys,
    name: &str,
    user: &[u8],
    payload: &[u8],
) -> Result<()> {
    let c = check.check(user, payload, false).map_err(|e| {
        Error::new(
            ErrorKind::DataMismatch,
            format!(
                "table {name:?}: the entry at key {} does not decode against the table's descriptor: {e}",
                hex::encode(user)
            ),
        )
    })?;
    if uniq.duplicate(&c) {
        let index = check.layouts().get(c.index).map_or("", |l| l.name.as_str());
        return Err(Error::new(
            ErrorKind::DataMismatch,
            format!(
                "table {name:?}: unique index {index:?} holds two entries with the same values in its columns (at key {})",
                hex::encode(user)
            ),
        ));
    }
    Ok(())
}
