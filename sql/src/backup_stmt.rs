//! Running the backup statements: BACKUP and RESTORE mapped onto the engine's options,
//! SHOW BACKUPS / SHOW BACKUP, ALTER BACKUP … ADD NEW_KMS, external connections.
//!
//! Keys: `encryption_passphrase = '…'` and `kms = 'uri'` / `kms = ('uri', …)` become a
//! [`KeySource`] (BACKUP: the keys that wrap a new chain's key, or unlock the chain an
//! incremental extends; RESTORE and SHOW BACKUP: the keys that unlock it). KMS URIs may be
//! `external://name`. The statement text recorded in the manifest is
//! [`grammar::redact`]ed.

use vouch_chain::Collection;
use vouch_chain::Targets;
use vouch_chain::{RestoreOptions, Source};
use vouch_engine::backup::{BackupOptions, Destination, LocalityStore};
use vouch_engine::show::{self, ShowOptions};

use vouch_keys::KeySource;

use vouch_keys::passphrase::Passphrase;

use vouch_cluster::Cluster;

use crate::grammar::{self, BackupDest, Options, RestoreFrom, Statement, TargetList, Value};
use crate::{Error, Output, Result, Session};

/// What a statement's names and URIs resolve against: a [`Session`]'s current database
/// and cluster ([`Session::scope`]), or less on the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope<'a> {
    /// The current database, where one-part table names are (none: names must be
    /// qualified as `database.table`).
    pub database: Option<&'a str>,
    /// The cluster whose external connections `external://name` URIs name (none: such
    /// URIs are left as they are, and the store refuses them).
    pub cluster: Option<&'a Cluster>,
}

/// The setting key of an external connection (the cluster's rule).
pub use vouch_cluster::connection_key;

/// Resolves `external://name[/more]` through the connections stored in the cluster
/// (joined by the store's rule, [`vouch_store::join_connection`]); other URIs are returned
/// as they are.
pub fn resolve_uri(s: &Scope<'_>, uri: &str) -> Result<String> {
    let (Some(rest), Some(cluster)) = (uri.strip_prefix("external://"), s.cluster) else {
        return Ok(uri.to_string());
    };
    let (name, more) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(base) = cluster.kv().storage().connection(name)? else {
        return Err(Error::Usage(
            vouch_store::Error::UnknownConnection {
                name: name.to_string(),
            }
            .to_string(),
        ));
    };
    Ok(vouch_store::join_connection(&base, more))
}

/// One URI, resolved (a list of several is a locality-aware backup).
pub fn single_uri(s: &Scope<'_>, uris: &[String]) -> Result<String> {
    match uris {
        [u] => {
            if u.contains("COCKROACH_LOCALITY") {
                return Err(Error::NotSupported(
                    "locality-aware backups (COCKROACH_LOCALITY)".into(),
                ));
            }
            resolve_uri(s, u)
        }
        _ => Err(Error::NotSupported(
            "locality-aware backups (a list of URIs)".into(),
        )),
    }
}

/// The URI holding the manifests: one URI (as [`single_uri`]), or the first of a
/// locality-aware list (SHOW BACKUPS / SHOW BACKUP read only manifests, which are in the
/// default store).
pub fn manifest_uri(s: &Scope<'_>, uris: &[String]) -> Result<String> {
    match uris {
        [first, _, ..] => {
            let (base, _) = vouch_format::locality::strip_locality(first)?;
            resolve_uri(s, &base)
        }
        _ => single_uri(s, uris),
    }
}

fn qualify(s: &Scope<'_>, name: &str) -> Result<(String, String)> {
    match s.database {
        Some(db) if !name.contains('.') => Ok((db.to_string(), name.to_string())),
        _ => Ok(Targets::parse_table(name)?),
    }
}

/// Maps the statement's targets onto the engine's.
pub fn targets(s: &Scope<'_>, t: &TargetList) -> Result<Targets> {
    Ok(match t {
        TargetList::Cluster => Targets::Cluster,
        TargetList::Databases(d) => Targets::Databases(d.clone()),
        TargetList::Tables(ts) => {
            if ts.iter().any(|t| t.ends_with(".*") || t == "*") {
                return Err(Error::NotSupported("table patterns with *".into()));
            }
            let tables = ts
                .iter()
                .map(|t| qualify(s, t))
                .collect::<Result<Vec<_>>>()?;
            Targets::Tables(tables)
        }
    })
}

/// The options a statement accepts, refusing unknown ones and naming later features.
fn check_options(stmt: &str, o: &Options, allowed: &[&str]) -> Result<()> {
    for (name, _) in &o.0 {
        let later = match name.as_str() {
            "encryption_info_dir" => Some("encrypted backups (encryption_info_dir)"),
            "skip_localities_check" => Some("locality-aware backups (skip_localities_check)"),
            _ => None,
        };
        if let Some(f) = later {
            return Err(Error::NotSupported(f.into()));
        }
        if matches!(name.as_str(), "new_kms" | "old_kms") {
            return Err(Error::Usage(format!(
                "option \"{name}\" is not valid for {stmt}: it belongs to ALTER BACKUP … ADD NEW_KMS = … WITH OLD_KMS = …"
            )));
        }
        if !allowed.contains(&name.as_str()) {
            return Err(Error::Usage(format!(
                "option \"{name}\" is not valid for {stmt} (valid: {})",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

fn flag(o: &Options, name: &str) -> Result<bool> {
    let mut v = false;
    for (n, val) in &o.0 {
        if n == name {
            let val = match val {
                None => None,
                Some(Value::One(x)) => Some(x.to_ascii_lowercase()),
                Some(Value::List(_)) => {
                    return Err(Error::Usage(format!(
                        "option \"{name}\" takes true or false, not a list"
                    )))
                }
            };
            v = match val.as_deref() {
                None | Some("true") => true,
                Some("false") => false,
                Some(x) => {
                    return Err(Error::Usage(format!(
                        "option \"{name}\" takes true or false, not {x:?}"
                    )))
                }
            };
        }
    }
    Ok(v)
}

fn text(o: &Options, name: &str) -> Result<Option<String>> {
    let mut v = None;
    for (n, val) in &o.0 {
        if n == name {
            v = Some(match val {
                None => {
                    return Err(Error::Usage(format!(
                        "option \"{name}\" needs a value: {name} = '…'"
                    )))
                }
                Some(Value::One(x)) => x.clone(),
                Some(Value::List(_)) => {
                    return Err(Error::Usage(format!(
                        "option \"{name}\" takes one value, not a list"
                    )))
                }
            });
        }
    }
    Ok(v)
}

/// `WITH encryption_passphrase = '…'` and `WITH kms = 'uri'` / `kms = ('uri', …)`: the
/// keys of a statement (KMS URIs may be `external://name`). Errors never show a value.
pub fn key_source(s: &Scope<'_>, o: &Options) -> Result<KeySource> {
    let mut keys = KeySource::default();
    for (n, val) in &o.0 {
        match n.as_str() {
            "encryption_passphrase" => {
                if keys.passphrase.is_some() {
                    return Err(Error::Usage(
                        "option \"encryption_passphrase\" is given twice".into(),
                    ));
                }
                let p = match val {
                    Some(Value::One(p)) => p,
                    Some(Value::List(_)) => {
                        return Err(Error::Usage(
                            "option \"encryption_passphrase\" takes one passphrase, not a list"
                                .into(),
                        ))
                    }
                    None => {
                        return Err(Error::Usage(
                            "option \"encryption_passphrase\" needs a value: encryption_passphrase = '…'"
                                .into(),
                        ))
                    }
                };
                keys.passphrase =
                    Some(Passphrase::new(p.as_str()).map_err(vouch_engine::Error::from)?);
            }
            "kms" => {
                let Some(v) = val else {
                    return Err(Error::Usage(
                        "option \"kms\" needs a value: kms = 'uri' or kms = ('uri', …)".into(),
                    ));
                };
                for u in v.values() {
                    keys.kms.push(resolve_uri(s, &u)?);
                }
            }
            _ => {}
        }
    }
    Ok(keys)
}
const BACKUP_OPTIONS: &[&str] = &[
    "revision_history",
    "incremental_location",
    "detached",
    "encryption_passphrase",
    "kms",
    "execution_locality",
];
const RESTORE_OPTIONS: &[&str] = &[
    "into_db",
    "new_db_name",
    "skip_missing_foreign_keys",
    "skip_missing_views",
    "skip_missing_sequences",
    "schema_only",
    "verify_backup_table_data",
    "incremental_location",
    "detached",
    "encryption_passphrase",
    "kms",
    "execution_locality",
];
const SHOW_OPTIONS: &[&str] = &[
    "check_files",
    "debug_ids",
    "incremental_location",
    "encryption_passphrase",
    "kms",
];

/// A BACKUP's URI list: the default store's URI (resolved), its position, and the other
/// stores of a locality-aware backup (CockroachDB's rules: `vouch_format::locality`).
pub fn backup_uris(s: &Scope<'_>, uris: &[String]) -> Result<(String, usize, Vec<LocalityStore>)> {
    let l = vouch_format::locality::backup_uris(uris)?;
    let others = l
        .others
        .into_iter()
        .map(|(position, tier, uri)| {
            Ok(LocalityStore {
                position,
                locality: tier.to_string(),
                uri: resolve_uri(s, &uri)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((resolve_uri(s, &l.default.1)?, l.default.0, others))
}

/// Maps a BACKUP's destination onto the engine's.
pub fn destination(s: &Scope<'_>, dest: &BackupDest) -> Result<Destination> {
    Ok(destination_and_localities(s, dest)?.0)
}

/// A BACKUP's destination, the default store's position in its URI list and the other
/// stores of a locality-aware backup. `INCREMENTAL FROM` names earlier layers by their
/// default store (where their manifests are): a list there stands for its default URI.
pub fn destination_and_localities(
    s: &Scope<'_>,
    dest: &BackupDest,
) -> Result<(Destination, usize, Vec<LocalityStore>)> {
    let (d, (pos, others)) = match dest {
        BackupDest::Into(u) => {
            let (uri, p, o) = backup_uris(s, u)?;
            (Destination::Into(uri), (p, o))
        }
        BackupDest::IntoLatest(u) => {
            let (uri, p, o) = backup_uris(s, u)?;
            (Destination::IntoLatest(uri), (p, o))
        }
        BackupDest::IntoSubdir(sub, u) => {
            let (uri, p, o) = backup_uris(s, u)?;
            (Destination::IntoSubdir(sub.clone(), uri), (p, o))
        }
        BackupDest::To(u, from) => {
            let (uri, p, o) = backup_uris(s, u)?;
            (
                Destination::To {
                    uri,
                    incremental_from: from
                        .iter()
                        .map(|u| backup_uris(s, u).map(|(d, _, _)| d))
                        .collect::<Result<_>>()?,
                },
                (p, o),
            )
        }
    };
    Ok((d, pos, others))
}

/// Maps a RESTORE's source onto the engine's (`incremental_location` already resolved).
pub fn source(
    s: &Scope<'_>,
    from: &RestoreFrom,
    incremental_location: Option<String>,
) -> Result<Source> {
    // A list of several URIs anywhere: a locality-aware backup (the default store first).
    let list = |u: &Vec<String>| -> Result<Vec<String>> {
        u.iter()
            .map(|x| {
                let (base, _) = vouch_format::locality::strip_locality(x)?;
                resolve_uri(s, &base)
            })
            .collect()
    };
    let any_list = match from {
        RestoreFrom::Collection(_, u) => u.len() > 1,
        RestoreFrom::Layers(layers) => layers.iter().any(|l| l.len() > 1),
    };
    if any_list {
        return Ok(match from {
            RestoreFrom::Collection(sub, u) => Source::Localities {
                subdir: Some(sub.clone()),
                incremental_location,
                lists: vec![list(u)?],
            },
            RestoreFrom::Layers(layers) => {
                if incremental_location.is_some() {
                    return Err(Error::Usage(
                        "incremental_location is for RESTORE … FROM … IN; the legacy form lists every layer".into(),
                    ));
                }
                Source::Localities {
                    subdir: None,
                    incremental_location: None,
                    lists: layers.iter().map(list).collect::<Result<_>>()?,
                }
            }
        });
    }
    Ok(match from {
        RestoreFrom::Collection(sub, u) => Source::Collection {
            uri: single_uri(s, u)?,
            subdir: sub.clone(),
            incremental_location,
        },
        RestoreFrom::Layers(layers) => {
            if incremental_location.is_some() {
                return Err(Error::Usage(
                    "incremental_location is for RESTORE … FROM … IN; the legacy form lists every layer".into(),
                ));
            }
            Source::Layers(
                layers
                    .iter()
                    .map(|u| single_uri(s, u))
                    .collect::<Result<_>>()?,
            )
        }
    })
}

/// The cluster setting (a decimal number of bytes) that sets the target size of the data
/// files BACKUP statements write (CockroachDB's `bulkio.backup.file_size`; default
/// [`vouch_engine::backup::DEFAULT_TARGET_FILE_SIZE`]).
pub const FILE_SIZE_SETTING: &str = "bulkio.backup.file_size";

/// The engine options of a BACKUP statement.
pub fn backup_options(
    s: &Scope<'_>,
    targets_: &TargetList,
    dest: &BackupDest,
    as_of: Option<&str>,
    o: &Options,
    text_: &str,
) -> Result<BackupOptions> {
    check_options("BACKUP", o, BACKUP_OPTIONS)?;
    let (destination, default_position, localities) = destination_and_localities(s, dest)?;
    let incremental_location = match text(o, "incremental_location")? {
        Some(u) => Some(resolve_uri(s, &u)?),
        None => None,
    };
    if incremental_location.is_some() && matches!(dest, BackupDest::To(..)) {
        return Err(Error::Usage(
            "incremental_location is for BACKUP … INTO; BACKUP … TO names its layers with INCREMENTAL FROM".into(),
        ));
    }
    let mut opts = BackupOptions::new(targets(s, targets_)?, destination);
    opts.localities = localities;
    opts.default_position = default_position;
    opts.execution_locality = text(o, "execution_locality")?;
    opts.as_of = as_of.map(String::from);
    opts.revision_history = flag(o, "revision_history")?;
    opts.incremental_location = incremental_location;
    opts.encryption = key_source(s, o)?;
    // CockroachDB's cluster setting for the size of a backup's data files.
    if let Some(c) = s.cluster {
        if let Some(v) = c.kv().setting(FILE_SIZE_SETTING)? {
            opts.target_file_size = std::str::from_utf8(&v)
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "cluster setting {FILE_SIZE_SETTING}: not a positive number of bytes"
                    ))
                })?;
        }
    }
    // The statement as recorded in the manifest: no passphrase, no KMS credentials.
    opts.statement = grammar::redact(text_);
    Ok(opts)
}

/// The cluster setting (a positive decimal number) that sets how many tables a RESTORE
/// reads and writes at once (CockroachDB's `kv.bulk_io_write.restore_node_concurrency`,
/// the restore workers per job per node); not set: the CPUs available. A job's restore
/// stopped at a checkpoint lets the tables its other workers are on finish first.
pub const RESTORE_WORKERS_SETTING: &str = "kv.bulk_io_write.restore_node_concurrency";

/// The engine options of a RESTORE statement.
pub fn restore_options(
    s: &Scope<'_>,
    targets_: &TargetList,
    from: &RestoreFrom,
    as_of: Option<&str>,
    o: &Options,
) -> Result<RestoreOptions> {
    check_options("RESTORE", o, RESTORE_OPTIONS)?;
    let incremental_location = match text(o, "incremental_location")? {
        Some(u) => Some(resolve_uri(s, &u)?),
        None => None,
    };
    let source = source(s, from, incremental_location)?;
    let mut r = RestoreOptions::new(targets(s, targets_)?, source);
    r.as_of = as_of.map(String::from);
    r.into_db = text(o, "into_db")?;
    r.execution_locality = text(o, "execution_locality")?;
    r.new_db_name = text(o, "new_db_name")?;
    r.skip_missing_foreign_keys = flag(o, "skip_missing_foreign_keys")?;
    r.skip_missing_views = flag(o, "skip_missing_views")?;
    r.skip_missing_sequences = flag(o, "skip_missing_sequences")?;
    r.schema_only = flag(o, "schema_only")?;
    r.verify_backup_table_data = flag(o, "verify_backup_table_data")?;
    r.keys = key_source(s, o)?;
    if let Some(c) = s.cluster {
        if let Some(v) = c.kv().setting(RESTORE_WORKERS_SETTING)? {
            r.jobs = std::str::from_utf8(&v)
                .ok()
                .and_then(|t| t.trim().parse::<usize>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "cluster setting {RESTORE_WORKERS_SETTING}: not a positive number"
                    ))
                })?;
        }
    }
    // The option rules (verify_backup_table_data needs schema_only, new_db_name one
    // database, into_db tables) are the engine's.
    Ok(r)
}

/// The chain SHOW BACKUP reads: `LATEST|subdir IN uri` or a locality-aware list, handled
/// as RESTORE handles it ([`source`]: the first URI holds the manifests; each locality's
/// store is the one holding its `BACKUP_PART`). A locality no URI holds is not an error here
/// (`vouch_chain::open_source_lenient`): `WITH check_files` names its files.
pub fn show_chain(
    s: &Scope<'_>,
    subdir: &str,
    uris: &[String],
    incremental_location: Option<String>,
    keys: &KeySource,
    opts: &vouch_store::OpenOptions,
) -> Result<vouch_chain::OpenChain> {
    let from = RestoreFrom::Collection(subdir.to_string(), uris.to_vec());
    let src = source(s, &from, incremental_location)?;
    Ok(vouch_chain::open_source_lenient(&src, opts, keys)?)
}

/// The `WITH` options `vouch show backup` words take: `check_files` and `debug_ids` (on or
/// off, as in SQL); those with a URI or key value are the command's flags
/// (`--incremental-location`, `--passphrase-env`, `--kms`, …).
pub fn show_word_options(o: &Options) -> Result<(bool, bool)> {
    check_options(
        "the words of `vouch show backup` (the others are flags)",
        o,
        &["check_files", "debug_ids"],
    )?;
    Ok((flag(o, "check_files")?, flag(o, "debug_ids")?))
}

fn open_options(cluster: &Cluster) -> vouch_store::OpenOptions {
    vouch_engine::storage::open_options(cluster)
}

fn open_collection(cluster: &Cluster, uri: &str, inc: Option<&str>) -> Result<Collection> {
    Ok(Collection::open(
        uri,
        inc,
        &vouch_engine::storage::open_options(cluster),
    )?)
}

/// The decimal `AS OF SYSTEM TIME` text of a statement's time (`as_of` resolved now, or
/// now): what a detached job runs at. A text that does not parse is kept, so the job
/// fails with the engine's error when it runs.
pub fn fixed_time(cluster: &Cluster, as_of: Option<&str>) -> String {
    let now = cluster.now();
    match as_of {
        None => format!("{}.{:010}", now.wall, now.logical),
        Some(t) => match vouch_format::time::parse_as_of(t, now) {
            Ok(ts) => format!("{}.{:010}", ts.wall, ts.logical),
            Err(_) => t.to_string(),
        },
    }
}

/// Runs a parsed backup statement.
pub fn execute(session: &mut Session<'_>, st: &Statement, text_: &str) -> Result<Output> {
    let s = &session.scope();
    let cluster = session.cluster();
    match st {
        Statement::Unsupported(f) => Err(Error::NotSupported((*f).to_string())),
        Statement::CreateSchedule(_)
        | Statement::ShowSchedules { .. }
        | Statement::ShowSchedule { .. }
        | Statement::ControlSchedules { .. }
        | Statement::AlterBackupSchedule { .. } => crate::schedule::execute(s, cluster, st),
        Statement::ShowJobs { .. } | Statement::ControlJobs { .. } => {
            crate::jobs::execute(cluster, st)
        }
        Statement::Backup {
            targets,
            dest,
            as_of,
            options,
        } => {
            // Checked before the job is recorded: a statement that cannot run is no job.
            backup_options(s, targets, dest, as_of.as_deref(), options, text_)?;
            let detached = flag(options, "detached")?;
            crate::jobs::execute_statement(
                cluster,
                s.database,
                crate::jobs::JobType::Backup,
                text_,
                detached,
                // A detached backup is of the time it was asked for, whenever it runs.
                detached.then(|| fixed_time(cluster, as_of.as_deref())),
                None,
            )
        }
        Statement::Restore {
            targets,
            from,
            as_of,
            options,
        } => {
            let detached = flag(options, "detached")?;
            let fixed = match as_of {
                Some(t) if detached => Some(fixed_time(cluster, Some(t))),
                _ => None,
            };
            let opts = restore_options(
                s,
                targets,
                from,
                fixed.as_deref().or(as_of.as_deref()),
                options,
            )?;
            // A detached RESTORE starts its job before returning its id (spec/jobs.md §3):
            // preconditions checked and ids allocated now, recorded as its checkpoint, so
            // the job is defined even if it is paused before any runner takes it.
            let checkpoint = if detached {
                Some(vouch_engine::restore::plan_job(cluster, &opts)?)
            } else {
                None
            };
            crate::jobs::execute_statement(
                cluster,
                s.database,
                crate::jobs::JobType::Restore,
                text_,
                detached,
                fixed,
                checkpoint,
            )
        }
        Statement::ShowBackups { uri } => {
            let uri = manifest_uri(s, uri)?;
            let coll = open_collection(cluster, &uri, None)?;
            Ok(Output::Rows(show::show_backups(&coll)?))
        }
        Statement::ShowBackup {
            schemas,
            subdir,
            uri,
            options,
        } => {
            check_options("SHOW BACKUP", options, SHOW_OPTIONS)?;
            let inc = match text(options, "incremental_location")? {
                Some(u) => Some(resolve_uri(s, &u)?),
                None => None,
            };
            let keys = key_source(s, options)?;
            let opts = ShowOptions {
                schemas: *schemas,
                check_files: flag(options, "check_files")?,
                debug_ids: flag(options, "debug_ids")?,
            };
            let chain = show_chain(s, subdir, uri, inc, &keys, &open_options(cluster))?;
            Ok(Output::Rows(show::show_backup(&chain, opts)?))
        }
        Statement::AlterBackupKms {
            subdir,
            uri,
            new_kms,
            old_kms,
        } => {
            let uri = single_uri(s, uri)?;
            let resolve = |v: &[String]| {
                v.iter()
                    .map(|u| resolve_uri(s, u))
                    .collect::<Result<Vec<_>>>()
            };
            let new_kms = resolve(new_kms)?;
            let old = KeySource::kms(resolve(old_kms)?);
            let coll = open_collection(cluster, &uri, None)?;
            vouch_engine::crypto::alter_backup_add_kms(&coll, subdir, &old, &new_kms)?;
            Ok(Output::Tag("ALTER BACKUP".into()))
        }
        Statement::CreateExternalConnection { name, uri } => {
            let key = connection_key(name);
            let kv = cluster.kv();
            if kv.setting(&key)?.is_some() {
                return Err(Error::Cluster(vouch_cluster::Error::DuplicateObject(
                    format!("external connection with name {name} already exists"),
                )));
            }
            if uri.starts_with("external://") {
                return Err(Error::Usage(
                    "an external connection cannot point at another external connection".into(),
                ));
            }
            kv.set_setting(&key, uri.as_bytes())?;
            Ok(Output::Tag("CREATE EXTERNAL CONNECTION".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grammar::parse;
    use vouch_cluster::{Clock, Cluster};

    fn cluster() -> (tempfile::TempDir, Cluster) {
        let d = tempfile::tempdir().unwrap();
        let c = Cluster::init(&d.path().join("c"), Clock::manual(1 << 60)).unwrap();
        (d, c)
    }

    fn restore(s: &Session<'_>, sql: &str) -> Result<RestoreOptions> {
        match parse(sql)? {
            Statement::Restore {
                targets,
                from,
                as_of,
                options,
            } => restore_options(&s.scope(), &targets, &from, as_of.as_deref(), &options),
            other => panic!("{other:?}"),
        }
    }

    fn backup(s: &Session<'_>, sql: &str) -> Result<BackupOptions> {
        match parse(sql)? {
            Statement::Backup {
                targets,
                dest,
                as_of,
                options,
            } => backup_options(&s.scope(), &targets, &dest, as_of.as_deref(), &options, sql),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn restore_statements_map_onto_restore_options() {
        let (_d, c) = cluster();
        let mut s = Session::new(&c);
        let r = restore(
            &s,
            "RESTORE TABLE bank.customers, accounts FROM '2021/03/24-210532.53' IN 'nodelocal://1/b' \
             AS OF SYSTEM TIME '-5m' WITH into_db = 'newdb', skip_missing_foreign_keys, \
             skip_missing_views = true, incremental_location = 'nodelocal://1/inc', detached",
        )
        .unwrap();
        assert_eq!(
            r.targets,
            Targets::Tables(vec![
                ("bank".into(), "customers".into()),
                ("defaultdb".into(), "accounts".into())
            ])
        );
        assert_eq!(
            r.source,
            Source::Collection {
                uri: "nodelocal://1/b".into(),
                subdir: "2021/03/24-210532.53".into(),
                incremental_location: Some("nodelocal://1/inc".into()),
            }
        );
        assert_eq!(r.as_of.as_deref(), Some("-5m"));
        assert_eq!(r.into_db.as_deref(), Some("newdb"));
        assert!(r.skip_missing_foreign_keys && r.skip_missing_views);
        assert!(!r.schema_only && !r.verify_backup_table_data && !r.skip_missing_sequences);
        assert_eq!(r.new_db_name, None);

        s.set_database("postgres").unwrap();
        let r = restore(
            &s,
            "RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/b' WITH new_db_name = 'bank2', \
             schema_only, verify_backup_table_data, skip_missing_sequences",
        )
        .unwrap();
        assert_eq!(r.targets, Targets::Databases(vec!["bank".into()]));
        assert_eq!(
            r.source,
            Source::Collection {
                uri: "nodelocal://1/b".into(),
                subdir: "LATEST".into(),
                incremental_location: None,
            }
        );
        assert_eq!(r.new_db_name.as_deref(), Some("bank2"));
        assert!(r.schema_only && r.verify_backup_table_data && r.skip_missing_sequences);

        // Legacy lists, one-part names in the current database.
        let r = restore(&s, "RESTORE t FROM 'nodelocal://1/f', 'nodelocal://1/i' AS OF SYSTEM TIME 1655826000000000000.0000000001").unwrap();
        assert_eq!(
            r.targets,
            Targets::Tables(vec![("postgres".into(), "t".into())])
        );
        assert_eq!(
            r.source,
            Source::Layers(vec!["nodelocal://1/f".into(), "nodelocal://1/i".into()])
        );
        assert_eq!(r.as_of.as_deref(), Some("1655826000000000000.0000000001"));
        let r = restore(&s, "RESTORE FROM 'nodelocal://1/f'").unwrap();
        assert_eq!(r.targets, Targets::Cluster);
        assert_eq!(r.source, Source::Layers(vec!["nodelocal://1/f".into()]));
    }

    #[test]
    fn option_errors_name_the_option() {
        let (_d, c) = cluster();
        let s = Session::new(&c);
        let e = |sql: &str| restore(&s, sql).unwrap_err().to_string();
        assert_eq!(
            e("RESTORE FROM LATEST IN 'u' WITH revision_history"),
            "option \"revision_history\" is not valid for RESTORE (valid: into_db, new_db_name, skip_missing_foreign_keys, skip_missing_views, skip_missing_sequences, schema_only, verify_backup_table_data, incremental_location, detached, encryption_passphrase, kms, execution_locality)"
        );
        assert_eq!(
            e("RESTORE FROM LATEST IN 'u' WITH into_db"),
            "option \"into_db\" needs a value: into_db = '…'"
        );
        assert_eq!(
            e("RESTORE FROM LATEST IN 'u' WITH schema_only = maybe"),
            "option \"schema_only\" takes true or false, not \"maybe\""
        );
        assert_eq!(
            e("RESTORE FROM 'a' WITH incremental_location = 'x'"),
            "incremental_location is for RESTORE … FROM … IN; the legacy form lists every layer"
        );
        assert_eq!(
            e("RESTORE FROM 'external://nope/x'"),
            "external connection \"nope\" does not exist (CREATE EXTERNAL CONNECTION nope AS '…')"
        );
        assert_eq!(
            e("RESTORE db.* FROM 'a'"),
            "not supported yet: table patterns with *"
        );
        let b = backup(&s, "BACKUP INTO 'u' WITH into_db = 'x'").unwrap_err();
        assert_eq!(
            b.to_string(),
            "option \"into_db\" is not valid for BACKUP (valid: revision_history, incremental_location, detached, encryption_passphrase, kms, execution_locality)"
        );
        let b = backup(
            &s,
            "BACKUP TO 'u' INCREMENTAL FROM 'f' WITH incremental_location = 'i'",
        )
        .unwrap_err();
        assert!(matches!(b, Error::Usage(_)), "{b:?}");
    }

    #[test]
    fn external_connections_resolve_with_subpaths_and_queries() {
        let (_d, c) = cluster();
        let mut s = Session::new(&c);
        assert_eq!(
            s.execute("CREATE EXTERNAL CONNECTION b AS 'nodelocal://1/backups'")
                .unwrap(),
            Output::Tag("CREATE EXTERNAL CONNECTION".into())
        );
        s.execute("CREATE EXTERNAL CONNECTION q AS 's3://bucket/p?AUTH=implicit'")
            .unwrap();
        assert_eq!(
            s.execute("CREATE EXTERNAL CONNECTION b AS 'nodelocal://1/x'")
                .unwrap_err()
                .to_string(),
            "external connection with name b already exists"
        );
        assert_eq!(
            resolve_uri(&s.scope(), "external://b").unwrap(),
            "nodelocal://1/backups"
        );
        assert_eq!(
            resolve_uri(&s.scope(), "external://b/daily").unwrap(),
            "nodelocal://1/backups/daily"
        );
        assert_eq!(
            resolve_uri(&s.scope(), "external://q/x").unwrap(),
            "s3://bucket/p/x?AUTH=implicit"
        );
        assert_eq!(
            resolve_uri(&s.scope(), "nodelocal://1/z").unwrap(),
            "nodelocal://1/z"
        );
        let o = backup(
            &s,
            "BACKUP DATABASE d INTO LATEST IN 'external://b' AS OF SYSTEM TIME '-10s' \
             WITH revision_history, incremental_location = 'external://b/inc'",
        )
        .unwrap();
        assert_eq!(
            o.destination,
            Destination::IntoLatest("nodelocal://1/backups".into())
        );
        assert_eq!(
            o.incremental_location.as_deref(),
            Some("nodelocal://1/backups/inc")
        );
        assert!(o.revision_history);
        assert_eq!(o.as_of.as_deref(), Some("-10s"));
        let o = backup(&s, "BACKUP TABLE d.t TO 'external://b/full'").unwrap();
        assert_eq!(
            o.destination,
            Destination::To {
                uri: "nodelocal://1/backups/full".into(),
                incremental_from: vec![]
            }
        );
        assert_eq!(o.targets, Targets::Tables(vec![("d".into(), "t".into())]));
    }

    #[test]
    fn the_command_line_scope_needs_qualified_names_and_leaves_external_uris() {
        let sc = Scope::default();
        let tables = |v: &[&str]| TargetList::Tables(v.iter().map(|t| t.to_string()).collect());
        assert!(matches!(
            targets(&sc, &tables(&["t"])),
            Err(Error::Engine(e))
                if e.kind() == vouch_engine::ErrorKind::Read(vouch_chain::ErrorKind::Usage)
        ));
        assert_eq!(
            targets(&sc, &tables(&["bank.public.bank", "movr.users"])).unwrap(),
            Targets::Tables(vec![
                ("bank".into(), "bank".into()),
                ("movr".into(), "users".into())
            ])
        );
        assert_eq!(
            resolve_uri(&sc, "external://b/x").unwrap(),
            "external://b/x"
        );
        assert!(matches!(
            single_uri(&sc, &["a".into(), "b".into()]),
            Err(Error::NotSupported(_))
        ));
        assert!(matches!(
            source(
                &sc,
                &RestoreFrom::Layers(vec![vec!["a".into()]]),
                Some("i".into())
            ),
            Err(Error::Usage(_))
        ));
        // Flags become the statement's options.
        assert_eq!(
            Options::default()
                .flag("revision_history", true)
                .flag("schema_only", false)
                .text("into_db", Some("d".into()))
                .text("new_db_name", None),
            Options(vec![
                ("revision_history".into(), None),
                ("into_db".into(), Some(Value::One("d".into())))
            ])
        );
    }
}
