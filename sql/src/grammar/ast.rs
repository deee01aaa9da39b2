//! The parsed backup statements (the grammar's syntax tree).

use std::fmt;

/// What a statement targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetList {
    /// Nothing named: the whole cluster.
    Cluster,
    /// `DATABASE a, b`.
    Databases(Vec<String>),
    /// `TABLE a.b, …` or bare names (as typed; one-part names resolve in the current
    /// database).
    Tables(Vec<String>),
}

/// An option's value: `name = 'v'` (or an unquoted word) or `name = ('a', 'b', …)`.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// One value.
    One(String),
    /// A parenthesized list.
    List(Vec<String>),
}

impl Value {
    /// The values: one, or the list's.
    pub fn values(&self) -> Vec<String> {
        match self {
            Value::One(v) => vec![v.clone()],
            Value::List(v) => v.clone(),
        }
    }
}

// Values may be secrets (a passphrase, KMS URIs with credentials): `Debug` shows their
// shape only.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::One(_) => f.write_str("One(..)"),
            Value::List(v) => write!(f, "List([{} values])", v.len()),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::One(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::One(s)
    }
}

/// `WITH` options, as typed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options(pub Vec<(String, Option<Value>)>);

impl Options {
    /// The options' names, lowercased.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| n.as_str())
    }

    /// With `name` (an option without a value, such as `revision_history`) when `on`: the
    /// options of a statement built from command-line flags.
    pub fn flag(mut self, name: &str, on: bool) -> Self {
        if on {
            self.0.push((name.to_string(), None));
        }
        self
    }

    /// With `name = 'value'` when there is a value.
    pub fn text(mut self, name: &str, value: Option<String>) -> Self {
        if let Some(v) = value {
            self.0.push((name.to_string(), Some(Value::One(v))));
        }
        self
    }
}

/// Where a BACKUP goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupDest {
    /// `INTO uris`.
    Into(Vec<String>),
    /// `INTO LATEST IN uris`.
    IntoLatest(Vec<String>),
    /// `INTO 'subdir' IN uris`.
    IntoSubdir(String, Vec<String>),
    /// `TO uris [INCREMENTAL FROM …]`.
    To(Vec<String>, Vec<Vec<String>>),
}

/// Where a RESTORE reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreFrom {
    /// `FROM LATEST|'subdir' IN uris`.
    Collection(String, Vec<String>),
    /// `FROM uris, uris, …` (each element a URI or a locality list).
    Layers(Vec<Vec<String>>),
}

/// A parsed backup statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// BACKUP.
    Backup {
        /// Targets.
        targets: TargetList,
        /// Destination.
        dest: BackupDest,
        /// AS OF SYSTEM TIME text.
        as_of: Option<String>,
        /// WITH options.
        options: Options,
    },
    /// RESTORE.
    Restore {
        /// Targets.
        targets: TargetList,
        /// Source.
        from: RestoreFrom,
        /// AS OF SYSTEM TIME text.
        as_of: Option<String>,
        /// WITH options.
        options: Options,
    },
    /// SHOW BACKUPS IN uri.
    ShowBackups {
        /// The collection.
        uri: Vec<String>,
    },
    /// SHOW BACKUP \[SCHEMAS\] FROM subdir IN uri.
    ShowBackup {
        /// SCHEMAS.
        schemas: bool,
        /// `LATEST` or the subdir.
        subdir: String,
        /// The collection.
        uri: Vec<String>,
        /// WITH options.
        options: Options,
    },
    /// ALTER BACKUP subdir IN uri ADD NEW_KMS = … WITH OLD_KMS = ….
    AlterBackupKms {
        /// `LATEST` or the subdir.
        subdir: String,
        /// The collection.
        uri: Vec<String>,
        /// NEW_KMS URIs.
        new_kms: Vec<String>,
        /// OLD_KMS URIs.
        old_kms: Vec<String>,
    },
    /// CREATE EXTERNAL CONNECTION name AS 'uri'.
    CreateExternalConnection {
        /// Name.
        name: String,
        /// URI.
        uri: String,
    },
    /// CREATE SCHEDULE [IF NOT EXISTS] label FOR BACKUP … RECURRING … [FULL BACKUP …]
    /// [WITH SCHEDULE OPTIONS …].
    CreateSchedule(Box<CreateSchedule>),
    /// SHOW [RUNNING | PAUSED] SCHEDULES [FOR BACKUP].
    ShowSchedules {
        /// Which schedules.
        which: Which,
    },
    /// SHOW SCHEDULE id.
    ShowSchedule {
        /// The schedule.
        id: u64,
    },
    /// PAUSE | RESUME | DROP SCHEDULE id, or SCHEDULES with a select of ids.
    ControlSchedules {
        /// What to do.
        action: ScheduleAction,
        /// Which schedules.
        ids: ScheduleIds,
    },
    /// ALTER BACKUP SCHEDULE id SET …, SET ….
    AlterBackupSchedule {
        /// The schedule (either of a pair).
        id: u64,
        /// The changes, in order.
        changes: Vec<ScheduleChange>,
    },
    /// SHOW JOBS, SHOW JOB id, SHOW JOBS FOR SCHEDULE(S) …, SHOW JOBS (SELECT …), and
    /// SHOW JOB WHEN COMPLETE id / SHOW JOBS WHEN COMPLETE (SELECT …).
    ShowJobs {
        /// Which jobs.
        ids: JobIds,
        /// `WHEN COMPLETE`: shown once every job named has finished.
        when_complete: bool,
    },
    /// PAUSE | RESUME | CANCEL JOB id / JOBS (SELECT …) / JOBS FOR SCHEDULE(S) ….
    ControlJobs {
        /// What to do.
        action: JobAction,
        /// Which jobs.
        ids: JobIds,
    },
    /// A statement of a feature vouch does not have yet (parsed far enough to name it).
    Unsupported(&'static str),
}

/// PAUSE, RESUME or CANCEL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    /// PAUSE JOB(S).
    Pause,
    /// RESUME JOB(S).
    Resume,
    /// CANCEL JOB(S).
    Cancel,
}

/// The jobs a statement names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobIds {
    /// Every job (`SHOW JOBS`).
    All,
    /// `JOB id`.
    One(u64),
    /// `JOBS (SELECT job_id FROM [SHOW JOBS] [WHERE column = 'text' [AND …]])`: the
    /// (column, value) pairs, column lower-cased (`job_id`, `status`, `job_type`,
    /// `user_name`, `description`).
    Where(Vec<(String, String)>),
    /// `JOBS FOR SCHEDULE id` / `JOBS FOR SCHEDULES SELECT id FROM [SHOW SCHEDULES] …`.
    ForSchedules(ScheduleIds),
}

/// A `CREATE SCHEDULE … FOR BACKUP` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSchedule {
    /// IF NOT EXISTS.
    pub if_not_exists: bool,
    /// The label (none: `BACKUP <id>`).
    pub label: Option<String>,
    /// What is backed up.
    pub targets: TargetList,
    /// `INTO uris`: the collection.
    pub into: Vec<String>,
    /// The backup's WITH options.
    pub options: Options,
    /// RECURRING crontab (`None`: NEVER).
    pub recurring: Option<String>,
    /// FULL BACKUP (`None`: not given, CockroachDB's cadence rule).
    pub full_backup: Option<FullBackup>,
    /// WITH SCHEDULE OPTIONS.
    pub schedule_options: Options,
}

/// `FULL BACKUP ALWAYS | 'crontab'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FullBackup {
    /// Every backup is full.
    Always,
    /// Fulls on this crontab.
    Cron(String),
}

/// Which schedules SHOW SCHEDULES lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// All of them.
    All,
    /// Those with a job running.
    Running,
    /// Paused ones.
    Paused,
}

/// PAUSE, RESUME or DROP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleAction {
    /// PAUSE SCHEDULE(S).
    Pause,
    /// RESUME SCHEDULE(S).
    Resume,
    /// DROP SCHEDULE(S).
    Drop,
}

/// The schedules a PAUSE / RESUME / DROP names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleIds {
    /// `SCHEDULE id`.
    One(u64),
    /// `SCHEDULES SELECT id FROM [SHOW SCHEDULES] [WHERE label = 'x']` (`None`: all).
    WithLabel(Option<String>),
}

/// One `SET …` of ALTER BACKUP SCHEDULE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleChange {
    /// SET LABEL 'x'.
    Label(String),
    /// SET RECURRING 'crontab' | NEVER.
    Recurring(Option<String>),
    /// SET FULL BACKUP 'crontab' | ALWAYS.
    FullBackup(FullBackup),
    /// SET WITH option = value.
    With(Options),
    /// SET SCHEDULE OPTION option = value.
    ScheduleOption(Options),
}
