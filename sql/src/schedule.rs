//! Backup schedules (spec/schedules.md): CREATE SCHEDULE … FOR BACKUP, SHOW SCHEDULES /
//! SHOW SCHEDULE, PAUSE / RESUME / DROP SCHEDULE(S), ALTER BACKUP SCHEDULE, and
//! [`run_due`], what `vouch scheduler` runs.
//!
//! A schedule is a record in the cluster ([`vouch_cluster::Kv::with_schedules`]; bytes:
//! `vouch_format::manifest::pb::BackupSchedule`) holding the BACKUP statement each run
//! executes. Crontab expressions are parsed by `croner` (5 fields or `@daily`-style) and
//! evaluated in UTC. Time is the cluster's clock.
//!
//! CockroachDB's cadence rule: without `FULL BACKUP`, a recurrence of at most one hour
//! takes fulls `@daily`, at most one day `@weekly`, and a longer one makes every backup
//! full. With fulls on another cadence there are two linked schedules: the full one, and
//! the incremental one, created paused until the first full backup completes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use vouch_cluster::{Cluster, Schedules};
use vouch_engine::output::Table;
use vouch_format::manifest::{decode_schedule, encode_schedule, pb, SCHEDULE_FORMAT_VERSION};
use vouch_format::mvcc::Timestamp;
use vouch_format::time::format_sql_tz;

use crate::backup_stmt::{self, Scope};
use crate::grammar::{
    self, BackupDest, CreateSchedule, FullBackup, Options, ScheduleAction, ScheduleChange,
    ScheduleIds, Statement, TargetList, Value, Which,
};
use crate::{Error, Output, Result};

/// Why a schedule statement was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScheduleErrorKind {
    /// No schedule with that id.
    NotFound,
    /// The collection already holds backups (and `ignore_existing_backups` is not given).
    ExistingBackups,
    /// A crontab expression that does not parse.
    BadRecurrence,
    /// A schedule option or its value is not valid.
    BadOption,
    /// The change does not apply to this schedule (e.g. it would add or remove a linked
    /// schedule).
    NotApplicable,
    /// The schedule's secrets file (spec/schedules.md §6) cannot be written or read, is
    /// missing while its statement needs it, or belongs to another statement.
    Secrets,
}

fn refused(kind: ScheduleErrorKind, message: String) -> Error {
    Error::Schedule { kind, message }
}

/// `on_execution_failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Run again at once (next scheduler pass).
    Retry,
    /// Run at the next time the crontab gives.
    Reschedule,
    /// Pause the schedule (its state says why).
    Pause,
}

/// `on_previous_running`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnPreviousRunning {
    /// Start the new run anyway.
    Start,
    /// Skip this run (next_run moves on).
    Skip,
    /// Wait for the previous run to finish.
    Wait,
}

// Stored codes; 0 is CockroachDB's default (reschedule, wait).
const FAILURE: &[(&str, u32)] = &[("reschedule", 0), ("retry", 1), ("pause", 2)];
const PREVIOUS: &[(&str, u32)] = &[("wait", 0), ("start", 1), ("skip", 2)];
const WAITING: &str = "Waiting for initial backup to complete";
const NANOS_PER_HOUR: u64 = 3600 * 1_000_000_000;

/// The failure policy of a record.
pub fn on_failure(r: &pb::BackupSchedule) -> OnFailure {
    match r.on_execution_failure {
        0 => OnFailure::Reschedule,
        1 => OnFailure::Retry,
        _ => OnFailure::Pause,
    }
}

/// The overlap policy of a record.
pub fn on_previous_running(r: &pb::BackupSchedule) -> OnPreviousRunning {
    match r.on_previous_running {
        0 => OnPreviousRunning::Wait,
        1 => OnPreviousRunning::Start,
        _ => OnPreviousRunning::Skip,
    }
}

// ---- crontab ---------------------------------------------------------------------------

/// Parses a crontab expression: 5 fields or `@hourly` / `@daily` / `@weekly` /
/// `@monthly` / `@yearly`.
pub fn parse_cron(text: &str) -> Result<Cron> {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .build()
        .parse(text)
        .map_err(|e| {
            refused(
                ScheduleErrorKind::BadRecurrence,
                format!("invalid crontab expression {text:?}: {e}"),
            )
        })
}

fn utc(wall: u64) -> DateTime<Utc> {
    Utc.timestamp_nanos(i64::try_from(wall).unwrap_or(i64::MAX))
}

/// The first time after `after` (wall nanoseconds, UTC) the crontab gives.
pub fn next_after(cron: &Cron, after: u64) -> Result<u64> {
    let next = cron.find_next_occurrence(&utc(after), false).map_err(|e| {
        refused(
            ScheduleErrorKind::BadRecurrence,
            format!(
                "crontab expression {:?} has no next time: {e}",
                cron.pattern.to_string()
            ),
        )
    })?;
    next.timestamp_nanos_opt()
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| {
            refused(
                ScheduleErrorKind::BadRecurrence,
                "the next run is out of range".into(),
            )
        })
}

/// CockroachDB's default full-backup cadence for an incremental crontab: the time
/// between its next two runs ≤ 1 h → `@daily`, ≤ 1 day → `@weekly`, else none (every
/// backup full).
pub fn default_full_cadence(recurring: &str, now: u64) -> Result<Option<&'static str>> {
    let cron = parse_cron(recurring)?;
    let a = next_after(&cron, now)?;
    let b = next_after(&cron, a)?;
    let every = b.saturating_sub(a);
    Ok(if every <= NANOS_PER_HOUR {
        Some("@daily")
    } else if every <= 24 * NANOS_PER_HOUR {
        Some("@weekly")
    } else {
        None
    })
}

// ---- statement texts -------------------------------------------------------------------

fn name_text(n: &str) -> String {
    if n.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '*'))
        && !n.is_empty()
    {
        n.to_string()
    } else {
        format!("\"{}\"", n.replace('"', "\"\""))
    }
}

fn str_text(s: &str) -> String {
    grammar::Token::Str(s.to_string()).to_string()
}

fn uris_text(u: &[String]) -> String {
    match u {
        [one] => str_text(one),
        many => format!(
            "({})",
            many.iter()
                .map(|s| str_text(s))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn value_text(v: &Value) -> String {
    let one = |s: &String| {
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            s.clone()
        } else {
            str_text(s)
        }
    };
    match v {
        Value::One(s) => one(s),
        Value::List(l) => format!("({})", l.iter().map(one).collect::<Vec<_>>().join(", ")),
    }
}

fn options_text(o: &Options) -> String {
    o.0.iter()
        .map(|(n, v)| match v {
            None => n.clone(),
            Some(v) => format!("{n} = {}", value_text(v)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The text of a BACKUP statement (as a schedule stores and shows it, secrets included:
/// redact before showing).
pub fn backup_text(
    targets: &TargetList,
    dest: &BackupDest,
    as_of: Option<&str>,
    options: &Options,
) -> String {
    let mut s = String::from("BACKUP ");
    match targets {
        TargetList::Cluster => {}
        TargetList::Databases(d) => {
            s.push_str("DATABASE ");
            s.push_str(
                &d.iter()
                    .map(|n| name_text(n))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            s.push(' ');
        }
        TargetList::Tables(t) => {
            s.push_str("TABLE ");
            s.push_str(
                &t.iter()
                    .map(|n| name_text(n))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            s.push(' ');
        }
    }
    match dest {
        BackupDest::Into(u) => s.push_str(&format!("INTO {}", uris_text(u))),
        BackupDest::IntoLatest(u) => s.push_str(&format!("INTO LATEST IN {}", uris_text(u))),
        BackupDest::IntoSubdir(sub, u) => {
            s.push_str(&format!("INTO {} IN {}", str_text(sub), uris_text(u)))
        }
        BackupDest::To(u, _) => s.push_str(&format!("TO {}", uris_text(u))),
    }
    if let Some(t) = as_of {
        s.push_str(&format!(" AS OF SYSTEM TIME {}", str_text(t)));
    }
    if !o_is_empty(options) {
        s.push_str(" WITH ");
        s.push_str(&options_text(options));
    }
    s
}

fn o_is_empty(o: &Options) -> bool {
    o.0.is_empty()
}

/// A schedule's BACKUP statement, parsed back.
struct Stored {
    targets: TargetList,
    uris: Vec<String>,
    options: Options,
}

fn parse_stored(r: &pb::BackupSchedule, statement: &str) -> Result<Stored> {
    match grammar::parse(statement) {
        Ok(Statement::Backup {
            targets,
            dest: BackupDest::Into(uris) | BackupDest::IntoLatest(uris),
            as_of: None,
            mut options,
        }) => {
            // `detached` is implied; statement_for puts it back at the end.
            options.0.retain(|(n, _)| n != "detached");
            Ok(Stored {
                targets,
                uris,
                options,
            })
        }
        _ => Err(Error::Cluster(vouch_cluster::Error::Storage(format!(
            "schedule {}: its stored statement is not a BACKUP … INTO",
            r.id
        )))),
    }
}

fn statement_for(stored: &Stored, incremental: bool) -> String {
    let mut options = stored.options.clone();
    options.0.retain(|(n, _)| n != "detached");
    options.0.push(("detached".into(), None));
    let dest = if incremental {
        BackupDest::IntoLatest(stored.uris.clone())
    } else {
        BackupDest::Into(stored.uris.clone())
    };
    backup_text(&stored.targets, &dest, None, &options)
}

// ---- records ---------------------------------------------------------------------------

fn load(s: &Schedules<'_>, id: u64) -> Result<pb::BackupSchedule> {
    match s.get(id)? {
        Some(b) => decode(id, &b),
        None => Err(refused(
            ScheduleErrorKind::NotFound,
            format!("schedule {id} does not exist"),
        )),
    }
}

fn decode(id: u64, b: &[u8]) -> Result<pb::BackupSchedule> {
    decode_schedule(b).map_err(|e| {
        Error::Cluster(vouch_cluster::Error::Storage(format!(
            "schedule record {id}: {e}"
        )))
    })
}

fn store(s: &mut Schedules<'_>, r: &pb::BackupSchedule) -> Result<()> {
    s.put(r.id, &encode_schedule(r))?;
    Ok(())
}

// ---- secrets ---------------------------------------------------------------------------

/// The folder of the cluster directory holding the schedules' secrets files.
pub const SECRETS_DIR: &str = "schedule-secrets";

/// Where schedule `id`'s secrets are kept: `<cluster>/schedule-secrets/<id>`.
pub fn secrets_path(cluster: &Cluster, id: u64) -> std::path::PathBuf {
    crate::secrets::path(cluster, SECRETS_DIR, id)
}

fn secrets_error(id: u64, what: &str, e: impl std::fmt::Display) -> Error {
    refused(
        ScheduleErrorKind::Secrets,
        format!("schedule {id}: {what}: {e}"),
    )
}

/// Writes the statement with its secrets to the schedule's secrets file
/// ([`crate::secrets`]).
fn write_secrets(cluster: &Cluster, id: u64, statement: &str) -> Result<()> {
    crate::secrets::write(cluster, SECRETS_DIR, id, statement, &|w, e| {
        secrets_error(id, w, e)
    })
}

/// Deletes the schedule's secrets file, if any.
fn remove_secrets(cluster: &Cluster, id: u64) -> Result<()> {
    crate::secrets::remove(cluster, SECRETS_DIR, id, &|w, e| secrets_error(id, w, e))
}

/// The statement a run of `r` executes: its secrets file when it has one (which must
/// redact to the record's statement), else the record's own statement (one without
/// secrets, or a record written before secrets had their own file).
pub fn runnable_statement(cluster: &Cluster, r: &pb::BackupSchedule) -> Result<String> {
    crate::secrets::runnable(
        cluster,
        SECRETS_DIR,
        r.id,
        "schedule",
        &r.backup_statement,
        &|w, e| secrets_error(r.id, w, e),
    )
}

/// Stores records whose `backup_statement` holds the statement to run: the record keeps
/// it redacted, and its secrets (the whole statement) go to the schedule's secrets file
/// (removed when the statement has none). With `existing`, a record dropped meanwhile is
/// an error rather than created again.
fn save(
    cluster: &Cluster,
    mut rows: Vec<pb::BackupSchedule>,
    existing: bool,
) -> Result<Vec<pb::BackupSchedule>> {
    for r in &mut rows {
        let shown = grammar::redact(&r.backup_statement);
        if shown == r.backup_statement {
            remove_secrets(cluster, r.id)?;
        } else {
            write_secrets(cluster, r.id, &r.backup_statement)?;
            r.backup_statement = shown;
        }
    }
    cluster.kv().with_schedules(|sch| {
        for r in &rows {
            if existing {
                load(sch, r.id)?;
            }
            store(sch, r)?;
        }
        Ok::<_, Error>(())
    })?;
    Ok(rows)
}

/// Every schedule of the cluster, by id.
pub fn list(cluster: &Cluster) -> Result<Vec<pb::BackupSchedule>> {
    cluster
        .kv()
        .schedules()?
        .iter()
        .map(|(id, b)| decode(*id, b))
        .collect()
}

/// One schedule.
pub fn get(cluster: &Cluster, id: u64) -> Result<pb::BackupSchedule> {
    cluster.kv().with_schedules(|s| load(s, id))
}

fn new_id(cluster: &Cluster) -> Result<u64> {
    Ok(cluster.kv().allocate("schedule.next_id", 1, 1)?)
}

// ---- options ---------------------------------------------------------------------------

fn one_value(name: &str, v: &Option<Value>) -> Result<String> {
    match v {
        Some(Value::One(x)) => Ok(x.clone()),
        _ => Err(refused(
            ScheduleErrorKind::BadOption,
            format!("schedule option \"{name}\" needs one value: {name} = '…'"),
        )),
    }
}

fn choice(name: &str, v: &Option<Value>, table: &[(&str, u32)]) -> Result<u32> {
    let x = one_value(name, v)?.to_ascii_lowercase();
    table
        .iter()
        .find(|(n, _)| *n == x)
        .map(|(_, c)| *c)
        .ok_or_else(|| {
            refused(
                ScheduleErrorKind::BadOption,
                format!(
                    "schedule option \"{name}\" takes {}, not {x:?}",
                    table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                ),
            )
        })
}

/// `first_run`: `now` or a TIMESTAMP text.
fn first_run(v: &Option<Value>, now: u64) -> Result<u64> {
    let x = one_value("first_run", v)?;
    if x.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    let us = vouch_format::time::parse_sql_timestamp_checked(&x).map_err(|e| {
        refused(
            ScheduleErrorKind::BadOption,
            format!("schedule option \"first_run\": {e}"),
        )
    })?;
    u64::try_from(us)
        .ok()
        .and_then(|us| us.checked_mul(1000))
        .ok_or_else(|| {
            refused(
                ScheduleErrorKind::BadOption,
                format!("schedule option \"first_run\": {x:?} is before 1970"),
            )
        })
}

/// Schedule options applied to a record (`first_run` handled by the caller).
fn apply_schedule_options(o: &Options, r: &mut pb::BackupSchedule) -> Result<()> {
    for (n, v) in &o.0 {
        match n.as_str() {
            "on_execution_failure" => r.on_execution_failure = choice(n, v, FAILURE)?,
            "on_previous_running" => r.on_previous_running = choice(n, v, PREVIOUS)?,
            "first_run" | "ignore_existing_backups" => {}
            other => {
                return Err(refused(
                    ScheduleErrorKind::BadOption,
                    format!(
                        "unknown schedule option \"{other}\" (valid: first_run, on_execution_failure, on_previous_running, ignore_existing_backups)"
                    ),
                ))
            }
        }
    }
    Ok(())
}

fn is_set(o: &Options, name: &str) -> Result<bool> {
    let mut on = false;
    for (n, v) in &o.0 {
        if n == name {
            on = match v {
                None => true,
                Some(Value::One(x)) if x.eq_ignore_ascii_case("true") => true,
                Some(Value::One(x)) if x.eq_ignore_ascii_case("false") => false,
                _ => {
                    return Err(refused(
                        ScheduleErrorKind::BadOption,
                        format!("schedule option \"{name}\" takes true or false"),
                    ))
                }
            };
        }
    }
    Ok(on)
}

// ---- CREATE SCHEDULE -------------------------------------------------------------------

/// The result table of CREATE SCHEDULE and ALTER BACKUP SCHEDULE.
fn created_table(rows: &[pb::BackupSchedule]) -> Table {
    let mut t = Table::new(&[
        "schedule_id#",
        "label",
        "status",
        "first_run",
        "schedule",
        "backup_stmt",
    ]);
    for r in rows {
        t.rows.push(vec![
            Some(r.id.to_string()),
            Some(r.label.clone()),
            Some(if r.paused {
                format!("PAUSED: {}", r.state)
            } else {
                "ACTIVE".into()
            }),
            time_cell(r.next_run),
            Some(recurrence_text(r)),
            Some(grammar::redact(&r.backup_statement)),
        ]);
    }
    t
}

fn time_cell(wall: u64) -> Option<String> {
    (wall != 0).then(|| format_sql_tz(Timestamp::new(wall, 0)))
}

fn recurrence_text(r: &pb::BackupSchedule) -> String {
    if r.recurrence.is_empty() {
        "NEVER".into()
    } else {
        r.recurrence.clone()
    }
}

/// Runs CREATE SCHEDULE … FOR BACKUP.
pub fn create(s: &Scope<'_>, cluster: &Cluster, c: &CreateSchedule) -> Result<Output> {
    let now = cluster.now().wall;
    // The backup part is checked as a BACKUP statement would be (options, targets, URIs).
    let dest = BackupDest::Into(c.into.clone());
    let text = backup_text(&c.targets, &dest, None, &c.options);
    backup_stmt::backup_options(s, &c.targets, &dest, None, &c.options, &text)?;
    let recurring = match &c.recurring {
        Some(r) => {
            parse_cron(r)?;
            Some(r.clone())
        }
        None => None,
    };
    let full_cron = match &c.full_backup {
        Some(FullBackup::Cron(f)) => {
            parse_cron(f)?;
            Some(f.clone())
        }
        Some(FullBackup::Always) => None,
        None => match &recurring {
            Some(r) => default_full_cadence(r, now)?.map(String::from),
            None => None,
        },
    };
    // Option values are checked before anything is written.
    let mut probe = pb::BackupSchedule::default();
    apply_schedule_options(&c.schedule_options, &mut probe)?;
    let first = match c
        .schedule_options
        .0
        .iter()
        .rev()
        .find(|(n, _)| n == "first_run")
    {
        Some((_, v)) => first_run(v, now)?,
        None => now,
    };
    let ignore_existing = is_set(&c.schedule_options, "ignore_existing_backups")?;

    if c.if_not_exists {
        if let Some(label) = &c.label {
            if list(cluster)?.iter().any(|r| &r.label == label) {
                return Ok(Output::Rows(created_table(&[])));
            }
        }
    }
    if !ignore_existing {
        let uri = backup_stmt::single_uri(s, &c.into)?;
        let coll = vouch_chain::Collection::open(
            &uri,
            None,
            &vouch_engine::storage::open_options(cluster),
        )?;
        if !coll.full_backups()?.is_empty() {
            return Err(refused(
                ScheduleErrorKind::ExistingBackups,
                format!(
                    "backups already created in {}; to ignore existing backups, the schedule can be created with the 'ignore_existing_backups' option",
                    vouch_store::redact_uri(&c.into.first().cloned().unwrap_or_default())
                ),
            ));
        }
    }

    // One-part table names resolve in the session's database now, not when a run starts.
    let targets = match (&c.targets, s.database) {
        (TargetList::Tables(t), Some(db)) => TargetList::Tables(
            t.iter()
                .map(|n| {
                    if n.contains('.') {
                        n.clone()
                    } else {
                        format!("{db}.{n}")
                    }
                })
                .collect(),
        ),
        (t, _) => t.clone(),
    };
    let stored = Stored {
        targets,
        uris: c.into.clone(),
        options: c.options.clone(),
    };
    let two = recurring.is_some() && full_cron.is_some();
    let inc_id = if two { Some(new_id(cluster)?) } else { None };
    let full_id = new_id(cluster)?;
    let label = c
        .label
        .clone()
        .unwrap_or_else(|| format!("BACKUP {full_id}"));
    let base = pb::BackupSchedule {
        format_version: SCHEDULE_FORMAT_VERSION,
        label,
        owner: "root".into(),
        created: now,
        on_execution_failure: probe.on_execution_failure,
        on_previous_running: probe.on_previous_running,
        ..Default::default()
    };
    let mut rows = Vec::new();
    if let Some(inc_id) = inc_id {
        rows.push(pb::BackupSchedule {
            id: inc_id,
            backup_statement: statement_for(&stored, true),
            recurrence: recurring.clone().unwrap_or_default(),
            incremental: true,
            dependent_id: full_id,
            paused: true,
            state: WAITING.into(),
            unpause_on_full_success: true,
            ..base.clone()
        });
    }
    rows.push(pb::BackupSchedule {
        id: full_id,
        backup_statement: statement_for(&stored, false),
        recurrence: if two {
            full_cron.unwrap_or_default()
        } else {
            recurring.unwrap_or_default()
        },
        incremental: false,
        dependent_id: inc_id.unwrap_or(0),
        next_run: first,
        ..base
    });
    let rows = save(cluster, rows, false)?;
    Ok(Output::Rows(created_table(&rows)))
}

// ---- SHOW ------------------------------------------------------------------------------

/// The `command` column: the schedule's statement (redacted), how it is linked, and the
/// protected timestamp record it keeps (its id and time), if any.
fn command_json(r: &pb::BackupSchedule, protected: Option<Timestamp>) -> String {
    let mut m = serde_json::Map::new();
    m.insert(
        "backup_statement".into(),
        grammar::redact(&r.backup_statement).into(),
    );
    m.insert("backup_type".into(), u32::from(r.incremental).into());
    if r.dependent_id != 0 {
        m.insert(
            "dependent_schedule_id".into(),
            r.dependent_id.to_string().into(),
        );
    }
    if r.unpause_on_full_success {
        m.insert(
            "unpause_on_success".into(),
            r.dependent_id.to_string().into(),
        );
    }
    if r.incremental || r.dependent_id != 0 {
        m.insert("chain_protected_timestamp_records".into(), true.into());
    }
    if let Some(ts) = protected {
        m.insert(
            "protected_timestamp_record".into(),
            vouch_cluster::schedule_record_id(r.id).to_string().into(),
        );
        m.insert("protected_timestamp".into(), format_sql_tz(ts).into());
    }
    serde_json::Value::Object(m).to_string()
}

/// SHOW SCHEDULES / SHOW SCHEDULE's table; `records` are the cluster's protected
/// timestamp records (`Kv::protected`).
pub fn show_table(rows: &[pb::BackupSchedule], records: &[(u64, Timestamp)]) -> Table {
    let mut t = Table::new(&[
        "id#",
        "label",
        "schedule_status",
        "next_run",
        "state",
        "recurrence",
        "jobsrunning#",
        "owner",
        "created",
        "command",
    ]);
    for r in rows {
        t.rows.push(vec![
            Some(r.id.to_string()),
            Some(r.label.clone()),
            Some(if r.paused { "PAUSED" } else { "ACTIVE" }.into()),
            if r.paused {
                None
            } else {
                time_cell(r.next_run)
            },
            (!r.state.is_empty()).then(|| r.state.clone()),
            (!r.recurrence.is_empty()).then(|| r.recurrence.clone()),
            Some(u32::from(r.running_at != 0).to_string()),
            Some(r.owner.clone()),
            time_cell(r.created),
            Some(command_json(
                r,
                records
                    .iter()
                    .find(|(id, _)| *id == vouch_cluster::schedule_record_id(r.id))
                    .map(|(_, ts)| *ts),
            )),
        ]);
    }
    t
}

fn select(cluster: &Cluster, ids: &ScheduleIds) -> Result<Vec<u64>> {
    Ok(match ids {
        ScheduleIds::One(id) => vec![*id],
        ScheduleIds::WithLabel(label) => list(cluster)?
            .into_iter()
            .filter(|r| label.as_ref().is_none_or(|l| &r.label == l))
            .map(|r| r.id)
            .collect(),
    })
}

// ---- PAUSE / RESUME / DROP -------------------------------------------------------------

/// PAUSE / RESUME / DROP one schedule in a transaction. Dropping one of a pair unlinks the
/// other (which keeps running on its own).
fn control(s: &mut Schedules<'_>, action: ScheduleAction, id: u64, now: u64) -> Result<()> {
    let mut r = load(s, id)?;
    match action {
        ScheduleAction::Pause => {
            r.paused = true;
            r.state = "paused by user".into();
            store(s, &r)?;
        }
        ScheduleAction::Resume => {
            if r.paused {
                r.paused = false;
                r.state.clear();
                r.unpause_on_full_success = false;
                r.next_run = match (r.recurrence.as_str(), r.next_run) {
                    ("", n) if n != 0 => n,
                    ("", _) => now,
                    (cron, n) if n > now => {
                        parse_cron(cron)?;
                        n
                    }
                    (cron, _) => next_after(&parse_cron(cron)?, now)?,
                };
                store(s, &r)?;
            }
        }
        ScheduleAction::Drop => {
            s.remove(id)?;
            if r.dependent_id != 0 {
                if let Some(b) = s.get(r.dependent_id)? {
                    let mut d = decode(r.dependent_id, &b)?;
                    d.dependent_id = 0;
                    store(s, &d)?;
                }
            }
        }
    }
    Ok(())
}

// ---- ALTER BACKUP SCHEDULE -------------------------------------------------------------

fn alter(
    s: &Scope<'_>,
    cluster: &Cluster,
    id: u64,
    changes: &[ScheduleChange],
) -> Result<Vec<pb::BackupSchedule>> {
    let now = cluster.now().wall;
    let first = get(cluster, id)?;
    let (mut inc, mut full) = if first.dependent_id == 0 {
        (None, first)
    } else {
        let other = get(cluster, first.dependent_id)?;
        if first.incremental {
            (Some(first), other)
        } else {
            (Some(other), first)
        }
    };
    let mut stored = parse_stored(&full, &runnable_statement(cluster, &full)?)?;
    for c in changes {
        match c {
            ScheduleChange::Label(l) => {
                full.label = l.clone();
                if let Some(i) = &mut inc {
                    i.label = l.clone();
                }
            }
            ScheduleChange::Recurring(r) => {
                if let Some(r) = r {
                    parse_cron(r)?;
                }
                let target = inc.as_mut().unwrap_or(&mut full);
                target.recurrence = r.clone().unwrap_or_default();
                if !target.paused {
                    target.next_run = match r {
                        Some(r) => next_after(&parse_cron(r)?, now)?,
                        None => target.next_run,
                    };
                }
            }
            ScheduleChange::FullBackup(FullBackup::Cron(f)) => {
                let cron = parse_cron(f)?;
                if inc.is_none() {
                    return Err(refused(
                        ScheduleErrorKind::NotApplicable,
                        format!(
                            "schedule {} makes every backup full: SET FULL BACKUP on it would add an incremental schedule; drop it and create a new one",
                            full.id
                        ),
                    ));
                }
                full.recurrence = f.clone();
                if !full.paused {
                    full.next_run = next_after(&cron, now)?;
                }
            }
            ScheduleChange::FullBackup(FullBackup::Always) => {
                if inc.is_some() {
                    return Err(refused(
                        ScheduleErrorKind::NotApplicable,
                        format!(
                            "schedule {} has an incremental schedule: SET FULL BACKUP ALWAYS would drop it; drop the incremental schedule instead",
                            full.id
                        ),
                    ));
                }
            }
            ScheduleChange::With(o) => {
                for (n, v) in &o.0 {
                    stored.options.0.retain(|(m, _)| m != n);
                    let off = matches!(v, Some(Value::One(x)) if x.eq_ignore_ascii_case("false"));
                    if !off {
                        stored.options.0.push((n.clone(), v.clone()));
                    }
                }
                let dest = BackupDest::Into(stored.uris.clone());
                let text = backup_text(&stored.targets, &dest, None, &stored.options);
                backup_stmt::backup_options(
                    s,
                    &stored.targets,
                    &dest,
                    None,
                    &stored.options,
                    &text,
                )?;
            }
            ScheduleChange::ScheduleOption(o) => {
                for (n, v) in &o.0 {
                    if n == "first_run" {
                        let t = first_run(v, now)?;
                        let target = if full.paused {
                            inc.as_mut().unwrap_or(&mut full)
                        } else {
                            &mut full
                        };
                        target.next_run = t;
                    } else if n == "ignore_existing_backups" {
                        return Err(refused(
                            ScheduleErrorKind::BadOption,
                            "schedule option \"ignore_existing_backups\" applies to CREATE SCHEDULE only".into(),
                        ));
                    }
                }
                apply_schedule_options(o, &mut full)?;
                if let Some(i) = &mut inc {
                    apply_schedule_options(o, i)?;
                }
            }
        }
    }
    full.backup_statement = statement_for(&stored, false);
    if let Some(i) = &mut inc {
        i.backup_statement = statement_for(&stored, true);
    }
    let rows: Vec<pb::BackupSchedule> = inc.into_iter().chain(Some(full)).collect();
    // Still there (not dropped meanwhile)?
    save(cluster, rows, true)
}

/// Runs a schedule statement.
pub fn execute(s: &Scope<'_>, cluster: &Cluster, st: &Statement) -> Result<Output> {
    match st {
        Statement::CreateSchedule(c) => create(s, cluster, c),
        Statement::ShowSchedules { which } => {
            let rows: Vec<_> = list(cluster)?
                .into_iter()
                .filter(|r| match which {
                    Which::All => true,
                    Which::Running => r.running_at != 0,
                    Which::Paused => r.paused,
                })
                .collect();
            Ok(Output::Rows(show_table(&rows, &cluster.kv().protected()?)))
        }
        Statement::ShowSchedule { id } => Ok(Output::Rows(show_table(
            &[get(cluster, *id)?],
            &cluster.kv().protected()?,
        ))),
        Statement::ControlSchedules { action, ids } => {
            let now = cluster.now().wall;
            let ids = select(cluster, ids)?;
            cluster.kv().with_schedules(|sch| {
                for id in &ids {
                    control(sch, *action, *id, now)?;
                }
                Ok::<_, Error>(())
            })?;
            if *action == ScheduleAction::Drop {
                // A dropped schedule's history is no longer kept, and its secrets go.
                for id in &ids {
                    cluster
                        .kv()
                        .release(vouch_cluster::schedule_record_id(*id))?;
                    remove_secrets(cluster, *id)?;
                }
            }
            let word = match action {
                ScheduleAction::Pause => "PAUSE",
                ScheduleAction::Resume => "RESUME",
                ScheduleAction::Drop => "DROP",
            };
            Ok(Output::Tag(match ids {
                _ if matches!(
                    st,
                    Statement::ControlSchedules {
                        ids: ScheduleIds::One(_),
                        ..
                    }
                ) =>
                {
                    format!("{word} SCHEDULE")
                }
                v => format!("{word} SCHEDULES {}", v.len()),
            }))
        }
        Statement::AlterBackupSchedule { id, changes } => Ok(Output::Rows(created_table(&alter(
            s, cluster, *id, changes,
        )?))),
        _ => Err(Error::Usage("not a schedule statement".into())),
    }
}

// ---- the scheduler ---------------------------------------------------------------------

/// What a scheduler pass did with one due schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The schedule.
    pub schedule_id: u64,
    /// Its label.
    pub label: String,
    /// Incremental (else full).
    pub incremental: bool,
    /// The scheduled time the backup is AS OF (wall nanoseconds).
    pub scheduled_at: u64,
    /// What happened.
    pub outcome: RunOutcome,
}

/// The outcome of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// The backup succeeded: its job and the layer's path in the collection.
    Succeeded {
        /// The job id.
        job_id: u64,
        /// The layer's directory.
        path: String,
    },
    /// The backup failed (`error` is its message); the schedule follows its
    /// `on_execution_failure`.
    Failed {
        /// The error's text.
        error: String,
    },
    /// Stopped between data files (the scheduler was asked to stop): the run stays
    /// marked as started and the next pass resumes it.
    Stopped,
    /// Not run: the schedule's previous run never finished and
    /// `on_previous_running = skip` (or it was paused or dropped meanwhile).
    Skipped,
}

/// `AS OF SYSTEM TIME` text of a wall time (decimal HLC form).
fn as_of_text(wall: u64) -> String {
    format!("{wall}.0000000000")
}

/// The protected timestamp record a successful run of `r` moves to its end time (spec
/// §5): the incremental schedule's, which its next run reads history since — its own, or
/// for the full schedule of a pair its dependent's. A schedule whose every backup is full
/// keeps none.
fn chain_record(r: &pb::BackupSchedule) -> Option<u64> {
    if r.incremental {
        Some(vouch_cluster::schedule_record_id(r.id))
    } else if r.dependent_id != 0 {
        Some(vouch_cluster::schedule_record_id(r.dependent_id))
    } else {
        None
    }
}

/// Runs one backup of a schedule AS OF `at`.
fn run_backup(
    cluster: &Cluster,
    r: &pb::BackupSchedule,
    at: u64,
    stop: Option<&Arc<AtomicBool>>,
) -> Result<(u64, String)> {
    let stored = parse_stored(r, &runnable_statement(cluster, r)?)?;
    let dest = if r.incremental {
        BackupDest::IntoLatest(stored.uris.clone())
    } else {
        BackupDest::Into(stored.uris.clone())
    };
    let as_of = as_of_text(at);
    let text = backup_text(&stored.targets, &dest, Some(&as_of), &stored.options);
    let scope = Scope {
        database: None,
        cluster: Some(cluster),
    };
    // Checked before a job is recorded.
    backup_stmt::backup_options(
        &scope,
        &stored.targets,
        &dest,
        Some(&as_of),
        &stored.options,
        &text,
    )?;
    // The run is a job of the schedule: a stopped run's job is run again (and resumes).
    let id = crate::jobs::for_schedule_run(cluster, r.id, &text, chain_record(r))?;
    let stopped = |why: &str| {
        Error::Engine(vouch_engine::Error::refused(
            vouch_engine::ErrorKind::Stopped,
            format!("job {id} {why}"),
        ))
    };
    match crate::jobs::run(cluster, id, stop)? {
        crate::jobs::Outcome::Succeeded { path, .. } => Ok((id, path)),
        crate::jobs::Outcome::Failed(e) => Err(e),
        crate::jobs::Outcome::Canceled => Err(Error::Job {
            kind: crate::jobs::JobErrorKind::Canceled,
            message: format!("job {id}: job canceled by user"),
        }),
        crate::jobs::Outcome::Stopped => Err(stopped("stopped at a checkpoint")),
        crate::jobs::Outcome::Paused => Err(stopped("paused")),
        crate::jobs::Outcome::NotRunnable(s) => Err(stopped(&format!("is {}", s.name()))),
    }
}

/// Records a run's end: next_run, state, the linked incremental schedule unpaused after
/// the first full backup.
fn finish(
    cluster: &Cluster,
    id: u64,
    result: &std::result::Result<(u64, String), String>,
) -> Result<()> {
    let now = cluster.now().wall;
    cluster.kv().with_schedules(|sch| {
        // Dropped while it ran: nothing to record.
        let Some(b) = sch.get(id)? else {
            return Ok(());
        };
        let mut r = decode(id, &b)?;
        r.running_at = 0;
        let next = |r: &pb::BackupSchedule| -> Result<u64> {
            if r.recurrence.is_empty() {
                Ok(0)
            } else {
                next_after(&parse_cron(&r.recurrence)?, now)
            }
        };
        match result {
            Ok((job, _)) => {
                r.last_job = *job;
                r.state.clear();
                r.next_run = next(&r)?;
                if !r.incremental && r.dependent_id != 0 {
                    if let Some(b) = sch.get(r.dependent_id)? {
                        let mut d = decode(r.dependent_id, &b)?;
                        if d.unpause_on_full_success {
                            d.unpause_on_full_success = false;
                            d.paused = false;
                            d.state.clear();
                            d.next_run = next(&d)?;
                            store(sch, &d)?;
                        }
                    }
                }
            }
            Err(e) => match on_failure(&r) {
                OnFailure::Retry => r.state = format!("retrying: {e}"),
                OnFailure::Reschedule => {
                    r.state = format!("rescheduled: {e}");
                    r.next_run = next(&r)?;
                }
                OnFailure::Pause => {
                    r.state = format!("paused after a failed run: {e}");
                    r.paused = true;
                }
            },
        }
        store(sch, &r)
    })
}

/// Marks a run as started (so a scheduler stopped in it leaves a trace the next pass
/// sees) and returns the record as it is now; `None` when the schedule is gone or paused.
fn start(cluster: &Cluster, id: u64, at: u64) -> Result<Option<pb::BackupSchedule>> {
    cluster.kv().with_schedules(|sch| {
        let Some(b) = sch.get(id)? else {
            return Ok(None);
        };
        let mut r = decode(id, &b)?;
        if r.paused {
            return Ok(None);
        }
        r.running_at = at;
        store(sch, &r)?;
        Ok(Some(r))
    })
}

fn run_one(
    cluster: &Cluster,
    r: &pb::BackupSchedule,
    at: u64,
    stop: Option<&Arc<AtomicBool>>,
) -> Result<Run> {
    let outcome = if let Some(current) = start(cluster, r.id, at)? {
        match run_backup(cluster, &current, at, stop) {
            // Left marked as started: the next pass resumes it.
            Err(Error::Engine(e)) if e.kind() == vouch_engine::ErrorKind::Stopped => {
                RunOutcome::Stopped
            }
            result => {
                let result = result.map_err(|e| e.to_string());
                finish(cluster, r.id, &result)?;
                match result {
                    Ok((job_id, path)) => RunOutcome::Succeeded { job_id, path },
                    Err(error) => RunOutcome::Failed { error },
                }
            }
        }
    } else {
        RunOutcome::Skipped
    };
    Ok(Run {
        schedule_id: r.id,
        label: r.label.clone(),
        incremental: r.incremental,
        scheduled_at: at,
        outcome,
    })
}

/// Runs every schedule due at the cluster's current time, once each, in order of their
/// next run (at one time, incremental before full, so an incremental ends the chain a
/// new full backup then starts), and returns what happened.
///
/// A schedule whose previous run never finished (a scheduler stopped mid-backup leaves
/// `running_at` set) is due again at that time: with `on_previous_running` `wait` the run
/// is repeated — the same BACKUP request, so the engine resumes it from its last
/// checkpoint — and a run that came due meanwhile (the crontab's next time after it, if
/// already past) runs after it has succeeded; with `start` that newer run starts at once
/// and the unfinished one is given up (with no newer run due, it is repeated as with
/// `wait`); with `skip` it is abandoned and the schedule waits for its next time.
pub fn run_due(cluster: &Cluster) -> Result<Vec<Run>> {
    run_due_with(cluster, None, &mut |_| {})
}

/// [`run_due`], calling `each` as each run ends. Once `stop` is set, no run starts, and a
/// backup running stops after its next data file's checkpoint
/// ([`RunOutcome::Stopped`]): the schedule keeps that run marked as started, so the next
/// pass resumes it.
pub fn run_due_with(
    cluster: &Cluster,
    stop: Option<&Arc<AtomicBool>>,
    each: &mut dyn FnMut(&Run),
) -> Result<Vec<Run>> {
    let stopping = || stop.is_some_and(|s| s.load(Ordering::SeqCst));
    let now = cluster.now().wall;
    let mut due: Vec<pb::BackupSchedule> = list(cluster)?
        .into_iter()
        .filter(|r| !r.paused && ((r.next_run != 0 && r.next_run <= now) || r.running_at != 0))
        .collect();
    due.sort_by_key(|r| (r.next_run, !r.incremental, r.id));
    let mut runs = Vec::new();
    for r in due {
        if stopping() {
            break;
        }
        if r.running_at != 0 && on_previous_running(&r) == OnPreviousRunning::Skip {
            let next = if r.recurrence.is_empty() {
                0
            } else {
                next_after(&parse_cron(&r.recurrence)?, now)?
            };
            cluster.kv().with_schedules(|sch| {
                if let Some(b) = sch.get(r.id)? {
                    let mut cur = decode(r.id, &b)?;
                    cur.running_at = 0;
                    cur.next_run = next;
                    cur.state = "skipped a run: the previous run did not finish".into();
                    store(sch, &cur)?;
                }
                Ok::<_, Error>(())
            })?;
            let run = Run {
                schedule_id: r.id,
                label: r.label.clone(),
                incremental: r.incremental,
                scheduled_at: r.running_at,
                outcome: RunOutcome::Skipped,
            };
            each(&run);
            runs.push(run);
            continue;
        }
        // A run left unfinished, and the crontab's next time after it already come: with
        // `start` that new run starts at once and the unfinished one is given up; with
        // `wait` the unfinished one is resumed first and the new one runs once it has
        // succeeded.
        let newer = match (r.running_at, r.recurrence.as_str()) {
            (0, _) | (_, "") => None,
            (t, cron) => Some(next_after(&parse_cron(cron)?, t)?).filter(|n| *n <= now),
        };
        let policy = on_previous_running(&r);
        let at = match (r.running_at, newer) {
            (_, Some(n)) if policy == OnPreviousRunning::Start => n,
            (0, _) => r.next_run,
            (t, _) => t,
        };
        let run = run_one(cluster, &r, at, stop)?;
        each(&run);
        let resumed_ok = matches!(run.outcome, RunOutcome::Succeeded { .. });
        runs.push(run);
        if let Some(n) = newer.filter(|_| policy == OnPreviousRunning::Wait && resumed_ok) {
            if stopping() {
                break;
            }
            let run = run_one(cluster, &r, n, stop)?;
            each(&run);
            runs.push(run);
        }
    }
    Ok(runs)
}
