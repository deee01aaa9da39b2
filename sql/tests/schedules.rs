//! Backup schedules: CREATE SCHEDULE FOR BACKUP (CockroachDB's cadence rule, linked
//! schedules, options, refusals), SHOW / PAUSE / RESUME / DROP / ALTER, and the
//! scheduler's passes over simulated days on a manual clock.

use vouch_cluster::{Clock, Cluster};
use vouch_engine::output::Table;
use vouch_format::mvcc::Timestamp;
use vouch_sql::schedule::{self, RunOutcome, ScheduleErrorKind};
use vouch_sql::{Error, Output, Session};

fn wall(text: &str) -> u64 {
    vouch_format::time::parse_as_of(text, Timestamp::MAX)
        .unwrap()
        .wall
}

struct Env {
    _dir: tempfile::TempDir,
    c: Cluster,
}

impl Env {
    /// A cluster with `bank.customers` (3 rows), its clock at `start`.
    fn new(start: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let c = Cluster::init(&dir.path().join("c"), Clock::manual(wall(start))).unwrap();
        let env = Env { _dir: dir, c };
        env.sql(
            "CREATE DATABASE bank;
             CREATE TABLE bank.customers (id INT PRIMARY KEY, name STRING NOT NULL);
             INSERT INTO bank.customers VALUES (1, 'Ann'), (2, 'Bo'), (3, 'Cy')",
        );
        env
    }

    fn sql(&self, script: &str) -> Vec<Output> {
        Session::new(&self.c)
            .execute_all(script)
            .unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    fn table(&self, stmt: &str) -> Table {
        match self.sql(stmt).pop() {
            Some(Output::Rows(t)) => t,
            other => panic!("{stmt}: {other:?}"),
        }
    }

    fn err(&self, stmt: &str) -> Error {
        Session::new(&self.c).execute(stmt).unwrap_err()
    }

    /// Moves the clock to `text` (forward only).
    fn advance_to(&self, text: &str) {
        let now = self.c.now().wall;
        let to = wall(text);
        assert!(to > now, "clock at {now}, asked for {text}");
        self.c.kv().clock().advance(to - now);
    }
}

fn col(t: &Table, name: &str) -> usize {
    t.columns
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", t.columns))
}

fn cell(t: &Table, row: usize, name: &str) -> Option<String> {
    t.rows[row][col(t, name)].clone()
}

fn kind(e: &Error) -> ScheduleErrorKind {
    match e {
        Error::Schedule { kind, .. } => *kind,
        other => panic!("not a schedule error: {other:?}"),
    }
}

#[test]
fn the_seed_schedule_creates_a_paused_incremental_and_a_weekly_full() {
    let env = Env::new("2026-01-01 10:30:00");
    let t = env.table(
        "CREATE SCHEDULE schedule_label FOR BACKUP INTO 's3://test/backups/schedule_test?AWS_ACCESS_KEY_ID=x&AWS_SECRET_ACCESS_KEY=x' \
         WITH revision_history RECURRING '@daily' WITH SCHEDULE OPTIONS ignore_existing_backups",
    );
    assert_eq!(
        t.columns,
        [
            "schedule_id",
            "label",
            "status",
            "first_run",
            "schedule",
            "backup_stmt"
        ]
    );
    let rows: Vec<Vec<Option<String>>> = t.rows.iter().map(|r| r[1..].to_vec()).collect();
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        rows,
        vec![
            vec![
                s("schedule_label"),
                s("PAUSED: Waiting for initial backup to complete"),
                None,
                s("@daily"),
                s("BACKUP INTO LATEST IN 's3://test/backups/schedule_test?AWS_ACCESS_KEY_ID=x&AWS_SECRET_ACCESS_KEY=redacted' WITH revision_history, detached"),
            ],
            vec![
                s("schedule_label"),
                s("ACTIVE"),
                s("2026-01-01 10:30:00+00:00"),
                s("@weekly"),
                s("BACKUP INTO 's3://test/backups/schedule_test?AWS_ACCESS_KEY_ID=x&AWS_SECRET_ACCESS_KEY=redacted' WITH revision_history, detached"),
            ],
        ]
    );
    // Linked both ways; the incremental one waits for the first full backup.
    let inc: u64 = cell(&t, 0, "schedule_id").unwrap().parse().unwrap();
    let full: u64 = cell(&t, 1, "schedule_id").unwrap().parse().unwrap();
    let i = schedule::get(&env.c, inc).unwrap();
    let f = schedule::get(&env.c, full).unwrap();
    assert_eq!((i.dependent_id, f.dependent_id), (full, inc));
    assert!(i.incremental && i.paused && i.unpause_on_full_success);
    assert!(!f.incremental && !f.paused);
    // The credentials it needs to run are in the schedule's secrets file (spec §6), not
    // in the record; nothing shown has them.
    assert!(f
        .backup_statement
        .contains("AWS_SECRET_ACCESS_KEY=redacted"));
    assert!(schedule::runnable_statement(&env.c, &f)
        .unwrap()
        .contains("AWS_SECRET_ACCESS_KEY=x"));
    let shown = env.table("SHOW SCHEDULES").render();
    assert!(!shown.contains("SECRET_ACCESS_KEY=x"), "{shown}");
}

#[test]
fn cockroachdbs_cadence_rule_and_full_backup_clause() {
    let env = Env::new("2026-01-01 10:30:00");
    let shape = |stmt: &str| -> Vec<(String, String)> {
        let t = env.table(stmt);
        (0..t.rows.len())
            .map(|i| {
                (
                    cell(&t, i, "schedule").unwrap(),
                    cell(&t, i, "backup_stmt").unwrap(),
                )
            })
            .collect()
    };
    let pair = |inc: &str, full: &str, u: &str| {
        vec![
            (
                inc.to_string(),
                format!("BACKUP INTO LATEST IN '{u}' WITH detached"),
            ),
            (full.to_string(), format!("BACKUP INTO '{u}' WITH detached")),
        ]
    };
    // ≤ 1 hour: fulls daily.
    assert_eq!(
        shape("CREATE SCHEDULE a FOR BACKUP INTO 'nodelocal://1/a' RECURRING '*/15 * * * *'"),
        pair("*/15 * * * *", "@daily", "nodelocal://1/a")
    );
    assert_eq!(
        shape("CREATE SCHEDULE b FOR BACKUP INTO 'nodelocal://1/b' RECURRING '@hourly'"),
        pair("@hourly", "@daily", "nodelocal://1/b")
    );
    // ≤ 1 day: fulls weekly.
    assert_eq!(
        shape("CREATE SCHEDULE c FOR BACKUP INTO 'nodelocal://1/c' RECURRING '0 */6 * * *'"),
        pair("0 */6 * * *", "@weekly", "nodelocal://1/c")
    );
    // Longer: every backup full, one schedule.
    assert_eq!(
        shape("CREATE SCHEDULE d FOR BACKUP INTO 'nodelocal://1/d' RECURRING '@weekly'"),
        vec![(
            "@weekly".to_string(),
            "BACKUP INTO 'nodelocal://1/d' WITH detached".to_string()
        )]
    );
    // FULL BACKUP ALWAYS: one schedule; FULL BACKUP 'cron': that cadence.
    assert_eq!(
        shape("CREATE SCHEDULE e FOR BACKUP DATABASE bank INTO 'nodelocal://1/e' RECURRING '@hourly' FULL BACKUP ALWAYS"),
        vec![(
            "@hourly".to_string(),
            "BACKUP DATABASE bank INTO 'nodelocal://1/e' WITH detached".to_string()
        )]
    );
    assert_eq!(
        shape("CREATE SCHEDULE f FOR BACKUP TABLE customers INTO 'nodelocal://1/f' WITH encryption_passphrase = 'hunter2' RECURRING '@daily' FULL BACKUP '@monthly'"),
        vec![
            (
                "@daily".to_string(),
                "BACKUP TABLE defaultdb.customers INTO LATEST IN 'nodelocal://1/f' WITH encryption_passphrase = '*****', detached".to_string()
            ),
            (
                "@monthly".to_string(),
                "BACKUP TABLE defaultdb.customers INTO 'nodelocal://1/f' WITH encryption_passphrase = '*****', detached".to_string()
            ),
        ]
    );
    // RECURRING NEVER: one full backup at first_run.
    let t = env.table(
        "CREATE SCHEDULE g FOR BACKUP INTO 'nodelocal://1/g' RECURRING NEVER \
         WITH SCHEDULE OPTIONS first_run = '2026-02-01 00:00:00'",
    );
    assert_eq!(t.rows.len(), 1);
    assert_eq!(cell(&t, 0, "schedule").as_deref(), Some("NEVER"));
    assert_eq!(
        cell(&t, 0, "first_run").as_deref(),
        Some("2026-02-01 00:00:00+00:00")
    );
    // The passphrase is in no shown column.
    let shown = env.table("SHOW SCHEDULES").render();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert_eq!(env.table("SHOW SCHEDULES").rows.len(), 11);
}

#[test]
fn refusals_have_their_kinds() {
    let env = Env::new("2026-01-01 10:30:00");
    for (stmt, k) in [
        ("CREATE SCHEDULE x FOR BACKUP INTO 'nodelocal://1/x' RECURRING 'every day'", ScheduleErrorKind::BadRecurrence),
        ("CREATE SCHEDULE x FOR BACKUP INTO 'nodelocal://1/x' RECURRING '0 0 0 * * *'", ScheduleErrorKind::BadRecurrence),
        ("CREATE SCHEDULE x FOR BACKUP INTO 'nodelocal://1/x' RECURRING '@daily' FULL BACKUP 'x'", ScheduleErrorKind::BadRecurrence),
        ("CREATE SCHEDULE x FOR BACKUP INTO 'nodelocal://1/x' RECURRING '@daily' WITH SCHEDULE OPTIONS on_execution_failure = 'explode'", ScheduleErrorKind::BadOption),
        ("CREATE SCHEDULE x FOR BACKUP INTO 'nodelocal://1/x' RECURRING '@daily' WITH SCHEDULE OPTIONS on_previous_running = 'maybe'", ScheduleErrorKind::BadOption),
        ("CREATE SCHEDULE x FOR BACKUP INTO 'nodelocal://1/x' RECURRING '@daily' WITH SCHEDULE OPTIONS first_run = 'tomorrow'", ScheduleErrorKind::BadOption),
        ("CREATE SCHEDULE x FOR BACKUP INTO 'nodelocal://1/x' RECURRING '@daily' WITH SCHEDULE OPTIONS colour = 'red'", ScheduleErrorKind::BadOption),
        ("SHOW SCHEDULE 999", ScheduleErrorKind::NotFound),
        ("PAUSE SCHEDULE 999", ScheduleErrorKind::NotFound),
        ("DROP SCHEDULE 999", ScheduleErrorKind::NotFound),
        ("ALTER BACKUP SCHEDULE 999 SET RECURRING '@daily'", ScheduleErrorKind::NotFound),
    ] {
        assert_eq!(kind(&env.err(stmt)), k, "{stmt}");
    }
    // Backup options are BACKUP's.
    assert!(matches!(
        env.err("CREATE SCHEDULE x FOR BACKUP INTO 'nodelocal://1/x' WITH into_db = 'y' RECURRING '@daily'"),
        Error::Usage(_)
    ));
    // Nothing was written by a refused statement.
    assert_eq!(env.table("SHOW SCHEDULES").rows.len(), 0);

    // A collection that already holds backups, unless ignore_existing_backups.
    env.sql("BACKUP INTO 'nodelocal://1/used'");
    let e = env.err("CREATE SCHEDULE x FOR BACKUP INTO 'nodelocal://1/used' RECURRING '@daily'");
    assert_eq!(kind(&e), ScheduleErrorKind::ExistingBackups);
    assert_eq!(
        e.to_string(),
        "backups already created in nodelocal://1/used; to ignore existing backups, the schedule can be created with the 'ignore_existing_backups' option"
    );
    let t = env.table(
        "CREATE SCHEDULE x FOR BACKUP INTO 'nodelocal://1/used' RECURRING '@daily' \
         WITH SCHEDULE OPTIONS ignore_existing_backups",
    );
    assert_eq!(t.rows.len(), 2);
    // IF NOT EXISTS with a label in use: nothing new.
    let t = env.table(
        "CREATE SCHEDULE IF NOT EXISTS x FOR BACKUP INTO 'nodelocal://1/other' RECURRING '@daily'",
    );
    assert_eq!(t.rows.len(), 0);
    assert_eq!(env.table("SHOW SCHEDULES").rows.len(), 2);
}

#[test]
fn show_pause_resume_drop_and_alter() {
    let env = Env::new("2026-01-01 10:30:00");
    let t = env.table(
        "CREATE SCHEDULE nightly FOR BACKUP DATABASE bank INTO 'nodelocal://1/n' RECURRING '@daily' \
         WITH SCHEDULE OPTIONS on_execution_failure = 'pause', on_previous_running = 'skip'",
    );
    let inc = cell(&t, 0, "schedule_id").unwrap();
    let full = cell(&t, 1, "schedule_id").unwrap();
    let show = env.table(&format!("SHOW SCHEDULE {full}"));
    assert_eq!(
        show.columns,
        [
            "id",
            "label",
            "schedule_status",
            "next_run",
            "state",
            "recurrence",
            "jobsrunning",
            "owner",
            "created",
            "command"
        ]
    );
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        show.rows,
        vec![vec![
            s(&full),
            s("nightly"),
            s("ACTIVE"),
            s("2026-01-01 10:30:00+00:00"),
            None,
            s("@weekly"),
            s("0"),
            s("root"),
            s("2026-01-01 10:30:00+00:00"),
            Some(format!(
                r#"{{"backup_statement":"BACKUP DATABASE bank INTO 'nodelocal://1/n' WITH detached","backup_type":0,"dependent_schedule_id":"{inc}","chain_protected_timestamp_records":true}}"#
            )),
        ]]
    );
    let show = env.table(&format!("SHOW SCHEDULE {inc}"));
    assert_eq!(cell(&show, 0, "schedule_status").as_deref(), Some("PAUSED"));
    assert_eq!(cell(&show, 0, "next_run"), None);
    assert_eq!(
        cell(&show, 0, "state").as_deref(),
        Some("Waiting for initial backup to complete")
    );
    assert_eq!(env.table("SHOW PAUSED SCHEDULES").rows.len(), 1);
    assert_eq!(env.table("SHOW RUNNING SCHEDULES FOR BACKUP").rows.len(), 0);
    assert_eq!(env.table("SHOW SCHEDULES FOR BACKUP").rows.len(), 2);

    // PAUSE / RESUME (a resumed schedule runs at its crontab's next time).
    assert_eq!(
        env.sql(&format!("PAUSE SCHEDULE {full}")),
        vec![Output::Tag("PAUSE SCHEDULE".into())]
    );
    assert_eq!(env.table("SHOW PAUSED SCHEDULES").rows.len(), 2);
    env.advance_to("2026-01-02 08:00:00");
    env.sql(&format!("RESUME SCHEDULE {full}"));
    let show = env.table(&format!("SHOW SCHEDULE {full}"));
    assert_eq!(cell(&show, 0, "schedule_status").as_deref(), Some("ACTIVE"));
    // @weekly: Sunday midnight.
    assert_eq!(
        cell(&show, 0, "next_run").as_deref(),
        Some("2026-01-04 00:00:00+00:00")
    );

    // ALTER: both schedules of the pair change together.
    let t = env.table(&format!(
        "ALTER BACKUP SCHEDULE {inc} SET RECURRING '@hourly', SET FULL BACKUP '@daily', \
         SET WITH revision_history = true, SET SCHEDULE OPTION on_execution_failure = 'retry', SET LABEL 'hourly'"
    ));
    assert_eq!(
        t.rows
            .iter()
            .map(|r| r[1..].to_vec())
            .collect::<Vec<_>>(),
        vec![
            vec![
                s("hourly"),
                s("PAUSED: Waiting for initial backup to complete"),
                None,
                s("@hourly"),
                s("BACKUP DATABASE bank INTO LATEST IN 'nodelocal://1/n' WITH revision_history = true, detached"),
            ],
            vec![
                s("hourly"),
                s("ACTIVE"),
                s("2026-01-03 00:00:00+00:00"),
                s("@daily"),
                s("BACKUP DATABASE bank INTO 'nodelocal://1/n' WITH revision_history = true, detached"),
            ],
        ]
    );
    let f = schedule::get(&env.c, full.parse().unwrap()).unwrap();
    assert_eq!(schedule::on_failure(&f), schedule::OnFailure::Retry);
    assert_eq!(
        schedule::on_previous_running(&f),
        schedule::OnPreviousRunning::Skip
    );
    assert_eq!(
        kind(&env.err(&format!(
            "ALTER BACKUP SCHEDULE {full} SET FULL BACKUP ALWAYS"
        ))),
        ScheduleErrorKind::NotApplicable
    );

    // PAUSE SCHEDULES with a select; DROP one of a pair unlinks the other.
    env.table("CREATE SCHEDULE other FOR BACKUP INTO 'nodelocal://1/o' RECURRING '@weekly'");
    assert_eq!(
        env.sql("PAUSE SCHEDULES SELECT id FROM [SHOW SCHEDULES] WHERE label = 'hourly'"),
        vec![Output::Tag("PAUSE SCHEDULES 2".into())]
    );
    assert_eq!(env.table("SHOW PAUSED SCHEDULES").rows.len(), 2);
    env.sql(&format!("DROP SCHEDULE {full}"));
    let i = schedule::get(&env.c, inc.parse().unwrap()).unwrap();
    assert_eq!(i.dependent_id, 0);
    assert_eq!(
        env.sql("DROP SCHEDULES SELECT id FROM [SHOW SCHEDULES]"),
        vec![Output::Tag("DROP SCHEDULES 2".into())]
    );
    assert_eq!(env.table("SHOW SCHEDULES").rows.len(), 0);
}

fn succeeded(r: &schedule::Run) -> &str {
    match &r.outcome {
        RunOutcome::Succeeded { path, .. } => path,
        other => panic!("{r:?}: {other:?}"),
    }
}

#[test]
fn the_scheduler_runs_fulls_and_incrementals_over_simulated_days() {
    // Thursday.
    let env = Env::new("2026-01-01 10:29:00");
    env.advance_to("2026-01-01 10:30:00");
    let t = env.table(
        "CREATE SCHEDULE daily FOR BACKUP DATABASE bank INTO 'nodelocal://1/d' RECURRING '@daily'",
    );
    let inc: u64 = cell(&t, 0, "schedule_id").unwrap().parse().unwrap();
    let full: u64 = cell(&t, 1, "schedule_id").unwrap().parse().unwrap();

    // The first full backup runs at once, AS OF its scheduled time, and unpauses the
    // incremental schedule.
    env.advance_to("2026-01-01 10:30:05");
    let runs = schedule::run_due(&env.c).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].schedule_id, runs[0].scheduled_at),
        (full, wall("2026-01-01 10:30:00"))
    );
    assert_eq!(succeeded(&runs[0]), "2026/01/01-103000.00");
    let i = schedule::get(&env.c, inc).unwrap();
    assert!(!i.paused && i.state.is_empty());
    assert_eq!(i.next_run, wall("2026-01-02 00:00:00"));
    assert_eq!(
        schedule::get(&env.c, full).unwrap().next_run,
        wall("2026-01-04 00:00:00")
    );
    // Nothing more is due.
    assert_eq!(schedule::run_due(&env.c).unwrap(), vec![]);

    // Ten days, one pass a day just after midnight, a row added each day.
    let mut kinds = Vec::new();
    for day in 2..=11u32 {
        env.sql(&format!(
            "INSERT INTO bank.customers VALUES ({}, 'd{day}')",
            100 + day
        ));
        env.advance_to(&format!("2026-01-{day:02} 00:00:30"));
        let runs = schedule::run_due(&env.c).unwrap();
        for r in &runs {
            assert_eq!(r.scheduled_at, wall(&format!("2026-01-{day:02} 00:00:00")));
            succeeded(r);
        }
        kinds.push(
            runs.iter()
                .map(|r| if r.incremental { "inc" } else { "full" })
                .collect::<Vec<_>>()
                .join("+"),
        );
    }
    // Sundays (Jan 4 and 11) take an incremental (ending the old chain) and a full.
    assert_eq!(
        kinds,
        ["inc", "inc", "inc+full", "inc", "inc", "inc", "inc", "inc", "inc", "inc+full"]
    );
    let backups = env.table("SHOW BACKUPS IN 'nodelocal://1/d'");
    assert_eq!(
        backups
            .rows
            .iter()
            .map(|r| r[0].clone().unwrap())
            .collect::<Vec<_>>(),
        [
            "/2026/01/01-103000.00",
            "/2026/01/04-000000.00",
            "/2026/01/11-000000.00"
        ]
    );
    // LATEST is the newest full; its chain restores the rows as of the last run.
    env.sql("RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/d' WITH new_db_name = 'r1'");
    let n = env.table("SELECT count(*) FROM r1.customers");
    assert_eq!(n.rows, vec![vec![Some("13".to_string())]]);
    // The second chain has its full and six incrementals (Jan 5 … 10) and Jan 11's.
    env.sql("RESTORE DATABASE bank FROM '2026/01/04-000000.00' IN 'nodelocal://1/d' WITH new_db_name = 'r2'");
    let n = env.table("SELECT count(*) FROM r2.customers");
    assert_eq!(n.rows, vec![vec![Some("13".to_string())]]);
}

#[test]
fn failures_follow_on_execution_failure() {
    let env = Env::new("2026-01-01 10:30:00");
    // The backups fail: their table does not exist when they run.
    let create = |label: &str, policy: &str| -> u64 {
        let t = env.table(&format!(
            "CREATE SCHEDULE {label} FOR BACKUP TABLE bank.gone_{label} INTO 'nodelocal://1/{label}' RECURRING '@weekly' \
             WITH SCHEDULE OPTIONS on_execution_failure = '{policy}', first_run = '2026-01-01 11:00:00'"
        ));
        cell(&t, 0, "schedule_id").unwrap().parse().unwrap()
    };
    // Created while the database exists, dropped before the first run.
    for l in ["r", "s", "p"] {
        env.sql(&format!("CREATE TABLE bank.gone_{l} (id INT PRIMARY KEY)"));
    }
    let retry = create("r", "retry");
    let resched = create("s", "reschedule");
    let pause = create("p", "pause");
    for l in ["r", "s", "p"] {
        env.sql(&format!("DROP TABLE bank.gone_{l}"));
    }
    env.advance_to("2026-01-01 11:01:00");
    let runs = schedule::run_due(&env.c).unwrap();
    assert_eq!(runs.len(), 3);
    for r in &runs {
        assert!(matches!(r.outcome, RunOutcome::Failed { .. }), "{r:?}");
    }
    let r = schedule::get(&env.c, retry).unwrap();
    assert!(!r.paused && r.state.starts_with("retrying: "));
    assert_eq!(r.next_run, wall("2026-01-01 11:00:00"));
    let s = schedule::get(&env.c, resched).unwrap();
    assert!(!s.paused && s.state.starts_with("rescheduled: "));
    assert_eq!(s.next_run, wall("2026-01-04 00:00:00"));
    let p = schedule::get(&env.c, pause).unwrap();
    assert!(p.paused && p.state.starts_with("paused after a failed run: "));
    // The next pass retries only the retry one.
    let runs = schedule::run_due(&env.c).unwrap();
    assert_eq!(
        runs.iter().map(|r| r.schedule_id).collect::<Vec<_>>(),
        vec![retry]
    );
}

#[test]
fn an_unfinished_run_is_resumed_or_skipped() {
    let env = Env::new("2026-01-01 10:30:00");
    let mk = |label: &str, policy: &str| -> u64 {
        let t = env.table(&format!(
            "CREATE SCHEDULE {label} FOR BACKUP INTO 'nodelocal://1/{label}' RECURRING '@weekly' \
             WITH SCHEDULE OPTIONS on_previous_running = '{policy}'"
        ));
        cell(&t, 0, "schedule_id").unwrap().parse().unwrap()
    };
    let wait = mk("w", "wait");
    let skip = mk("s", "skip");
    // A scheduler stopped in the middle of both runs leaves them marked running.
    env.c
        .kv()
        .with_schedules(|s| {
            for id in [wait, skip] {
                let mut r = vouch_format::manifest::decode_schedule(&s.get(id)?.unwrap()).unwrap();
                r.running_at = r.next_run;
                s.put(id, &vouch_format::manifest::encode_schedule(&r))?;
            }
            Ok::<_, vouch_cluster::Error>(())
        })
        .unwrap();
    assert_eq!(env.table("SHOW RUNNING SCHEDULES").rows.len(), 2);
    env.advance_to("2026-01-01 10:31:00");
    let runs = schedule::run_due(&env.c).unwrap();
    assert_eq!(runs.len(), 2);
    let by = |id: u64| runs.iter().find(|r| r.schedule_id == id).unwrap();
    assert_eq!(by(wait).scheduled_at, wall("2026-01-01 10:30:00"));
    succeeded(by(wait));
    assert_eq!(by(skip).outcome, RunOutcome::Skipped);
    let s = schedule::get(&env.c, skip).unwrap();
    assert_eq!((s.running_at, s.next_run), (0, wall("2026-01-04 00:00:00")));
    assert_eq!(env.table("SHOW RUNNING SCHEDULES").rows.len(), 0);
    assert_eq!(env.table("SHOW BACKUPS IN 'nodelocal://1/s'").rows.len(), 0);
}

#[test]
fn a_scheduler_asked_to_stop_starts_no_run() {
    let env = Env::new("2026-01-01 10:29:00");
    env.advance_to("2026-01-01 10:30:00");
    let t = env.table("CREATE SCHEDULE s FOR BACKUP INTO 'nodelocal://1/s' RECURRING '@weekly'");
    let id: u64 = cell(&t, 0, "schedule_id").unwrap().parse().unwrap();
    env.advance_to("2026-01-01 10:31:00");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    assert_eq!(
        schedule::run_due_with(&env.c, Some(&stop), &mut |_| {}).unwrap(),
        vec![]
    );
    let r = schedule::get(&env.c, id).unwrap();
    assert_eq!((r.running_at, r.next_run), (0, wall("2026-01-01 10:30:00")));
    // Not stopped: it runs.
    stop.store(false, std::sync::atomic::Ordering::SeqCst);
    let mut seen = Vec::new();
    let runs = schedule::run_due_with(&env.c, Some(&stop), &mut |r| seen.push(r.clone())).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(seen, runs);
    succeeded(&runs[0]);
}

#[test]
fn alter_table_storage_parameters_apply_to_the_next_scheduled_backup() {
    let env = Env::new("2026-01-01 10:29:00");
    env.sql(
        "CREATE TABLE bank.logs (id INT PRIMARY KEY, line STRING);
         INSERT INTO bank.logs VALUES (1, 'a'), (2, 'b')",
    );
    env.advance_to("2026-01-01 10:30:00");
    env.table(
        "CREATE SCHEDULE d FOR BACKUP DATABASE bank INTO 'nodelocal://1/d' RECURRING '@daily' FULL BACKUP ALWAYS \
         WITH SCHEDULE OPTIONS first_run = '2026-01-01 11:00:00'",
    );
    assert_eq!(
        env.sql("ALTER TABLE bank.logs SET (exclude_data_from_backup = true)"),
        vec![Output::Tag("ALTER TABLE".into())]
    );
    let create = |t: &str| -> String {
        cell(
            &env.table(&format!("SHOW CREATE TABLE {t}")),
            0,
            "create_statement",
        )
        .unwrap()
    };
    assert_eq!(
        create("bank.logs"),
        "CREATE TABLE public.logs (\n\tid INT8 NOT NULL,\n\tline STRING NULL,\n\tCONSTRAINT logs_pkey PRIMARY KEY (id ASC)\n) WITH (exclude_data_from_backup = true)"
    );
    // The run at 11:00 is AS OF its scheduled time, after the ALTER.
    env.advance_to("2026-01-01 11:00:05");
    let runs = schedule::run_due(&env.c).unwrap();
    assert_eq!(succeeded(&runs[0]), "2026/01/01-110000.00");
    let rows = |subdir: &str| -> Vec<(String, String)> {
        let t = env.table(&format!("SHOW BACKUP FROM '{subdir}' IN 'nodelocal://1/d'"));
        t.rows
            .iter()
            .filter(|r| r[col(&t, "object_type")].as_deref() == Some("table"))
            .filter(|r| r[col(&t, "database_name")].as_deref() == Some("bank"))
            .map(|r| {
                (
                    r[col(&t, "object_name")].clone().unwrap(),
                    r[col(&t, "rows")].clone().unwrap(),
                )
            })
            .collect()
    };
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        rows("2026/01/01-110000.00"),
        [s("customers", "3"), s("logs", "0")]
    );
    // RESET puts it back for the next run.
    env.sql("ALTER TABLE bank.logs RESET (exclude_data_from_backup)");
    env.advance_to("2026-01-02 00:00:30");
    let runs = schedule::run_due(&env.c).unwrap();
    assert_eq!(succeeded(&runs[0]), "2026/01/02-000000.00");
    assert_eq!(
        rows("2026/01/02-000000.00"),
        [s("customers", "3"), s("logs", "2")]
    );
    assert!(!create("bank.logs").contains("WITH ("));
    // gc.ttlseconds: the effective TTL of the table, then the default again.
    let id = env.c.table("bank", "logs").unwrap().id;
    assert_eq!(env.c.effective_gc_ttl(id).unwrap(), 14400);
    env.sql("ALTER TABLE IF EXISTS bank.logs SET (gc.ttlseconds = 600, exclude_data_from_backup = false)");
    assert_eq!(env.c.effective_gc_ttl(id).unwrap(), 600);
    let other = env.c.table("bank", "customers").unwrap().id;
    assert_eq!(env.c.effective_gc_ttl(other).unwrap(), 14400);
    env.sql("ALTER TABLE bank.logs RESET (gc.ttlseconds)");
    assert_eq!(env.c.effective_gc_ttl(id).unwrap(), 14400);
    // Refusals, typed.
    assert_eq!(
        env.sql("ALTER TABLE IF EXISTS bank.nope SET (gc.ttlseconds = 5)"),
        vec![Output::Tag("ALTER TABLE".into())]
    );
    assert!(matches!(
        env.err("ALTER TABLE bank.nope SET (gc.ttlseconds = 5)"),
        Error::Cluster(vouch_cluster::Error::UndefinedObject(_))
    ));
    let e = env.err("ALTER TABLE bank.logs SET (fillfactor = 5)");
    assert!(matches!(e, Error::Usage(_)), "{e:?}");
    assert_eq!(e.to_string(), "invalid storage parameter \"fillfactor\"");
    assert!(matches!(
        env.err("ALTER TABLE bank.logs SET (gc.ttlseconds = 0)"),
        Error::Usage(_)
    ));
    assert!(matches!(
        env.err("ALTER TABLE bank.logs SET (gc.ttlseconds = 5"),
        Error::Syntax(_)
    ));
}

#[test]
fn on_previous_running_start_does_not_wait_for_an_unfinished_run() {
    // Thursday 10:30; @weekly's next time is Sunday 00:00.
    let env = Env::new("2026-01-01 10:30:00");
    let mk = |label: &str, policy: &str| -> u64 {
        let t = env.table(&format!(
            "CREATE SCHEDULE {label} FOR BACKUP INTO 'nodelocal://1/{label}' RECURRING '@weekly' \
             WITH SCHEDULE OPTIONS on_previous_running = '{policy}'"
        ));
        cell(&t, 0, "schedule_id").unwrap().parse().unwrap()
    };
    let wait = mk("w", "wait");
    let start = mk("st", "start");
    // Both runs of Thursday 10:30 left unfinished, and no scheduler until after Sunday's
    // time.
    env.c
        .kv()
        .with_schedules(|s| {
            for id in [wait, start] {
                let mut r = vouch_format::manifest::decode_schedule(&s.get(id)?.unwrap()).unwrap();
                r.running_at = r.next_run;
                s.put(id, &vouch_format::manifest::encode_schedule(&r))?;
            }
            Ok::<_, vouch_cluster::Error>(())
        })
        .unwrap();
    env.advance_to("2026-01-04 00:10:00");
    let runs = schedule::run_due(&env.c).unwrap();
    let of = |id: u64| -> Vec<(u64, String)> {
        runs.iter()
            .filter(|r| r.schedule_id == id)
            .map(|r| (r.scheduled_at, succeeded(r).to_string()))
            .collect()
    };
    // wait: the unfinished run first, then Sunday's.
    assert_eq!(
        of(wait),
        [
            (wall("2026-01-01 10:30:00"), "2026/01/01-103000.00".into()),
            (wall("2026-01-04 00:00:00"), "2026/01/04-000000.00".into())
        ]
    );
    // start: Sunday's at once; the unfinished one is given up.
    assert_eq!(
        of(start),
        [(wall("2026-01-04 00:00:00"), "2026/01/04-000000.00".into())]
    );
    let listed = |l: &str| -> Vec<String> {
        env.table(&format!("SHOW BACKUPS IN 'nodelocal://1/{l}'"))
            .rows
            .iter()
            .map(|r| r[0].clone().unwrap())
            .collect()
    };
    assert_eq!(
        listed("w"),
        ["/2026/01/01-103000.00", "/2026/01/04-000000.00"]
    );
    assert_eq!(listed("st"), ["/2026/01/04-000000.00"]);
    for id in [wait, start] {
        let r = schedule::get(&env.c, id).unwrap();
        assert_eq!(
            (r.running_at, r.next_run),
            (0, wall("2026-01-11 00:00:00")),
            "{id}"
        );
    }
    assert_eq!(schedule::run_due(&env.c).unwrap(), vec![]);
}

/// The protected timestamp records as `system.protected_ts_records` shows them:
/// (meta_type, meta, ts).
fn records(env: &Env) -> Vec<(String, String, String)> {
    let t = env.table("SELECT * FROM system.protected_ts_records");
    assert_eq!(t.columns, ["id", "ts", "meta_type", "meta", "target"]);
    t.rows
        .iter()
        .map(|r| {
            (
                r[2].clone().unwrap(),
                r[3].clone().unwrap(),
                r[1].clone().unwrap(),
            )
        })
        .collect()
}

fn command(env: &Env, id: u64) -> serde_json::Value {
    let t = env.table(&format!("SHOW SCHEDULE {id}"));
    serde_json::from_str(&cell(&t, 0, "command").unwrap()).unwrap()
}

fn hlc(text: &str) -> String {
    Timestamp::new(wall(text), 0).to_string()
}

#[test]
fn a_schedule_protects_what_its_next_incremental_reads_and_a_plain_chain_does_not() {
    let env = Env::new("2026-01-01 10:00:00");
    // Ten minutes of history are kept for the table.
    env.sql("ALTER TABLE bank.customers SET (gc.ttlseconds = 600)");
    let table = env.c.table("bank", "customers").unwrap().id;
    assert_eq!(env.c.effective_gc_ttl(table).unwrap(), 600);
    // A plain chain's full backup, just before the schedule's.
    env.advance_to("2026-01-01 10:29:00");
    env.sql("BACKUP DATABASE bank INTO 'nodelocal://1/plain'");
    assert_eq!(records(&env), vec![], "a plain backup keeps no record");
    // Hourly incrementals, fulls daily: a pair.
    env.advance_to("2026-01-01 10:30:00");
    let t = env.table(
        "CREATE SCHEDULE h FOR BACKUP DATABASE bank INTO 'nodelocal://1/s' RECURRING '@hourly'",
    );
    let inc: u64 = cell(&t, 0, "schedule_id").unwrap().parse().unwrap();
    let full: u64 = cell(&t, 1, "schedule_id").unwrap().parse().unwrap();
    assert_eq!(cell(&t, 1, "schedule").as_deref(), Some("@daily"));
    env.advance_to("2026-01-01 10:30:05");
    succeeded(&schedule::run_due(&env.c).unwrap()[0]);
    // The full run protects, for the incremental schedule, history since its time.
    let rec = |ts: &str| ("schedules".to_string(), inc.to_string(), hlc(ts));
    assert_eq!(records(&env), vec![rec("2026-01-01 10:30:00")]);
    let c = command(&env, inc);
    assert_eq!(c["chain_protected_timestamp_records"], true);
    assert_eq!(
        c["protected_timestamp_record"],
        vouch_cluster::schedule_record_id(inc).to_string()
    );
    assert_eq!(c["protected_timestamp"], "2026-01-01 10:30:00+00:00");
    let f = command(&env, full);
    assert_eq!(f["chain_protected_timestamp_records"], true);
    assert!(f.get("protected_timestamp_record").is_none(), "{f}");

    // History, then GC well past the TTL.
    for (m, v) in [(40, "x"), (41, "y"), (42, "z")] {
        env.advance_to(&format!("2026-01-01 10:{m}:00"));
        env.sql(&format!(
            "UPDATE bank.customers SET name = '{v}' WHERE id = 1"
        ));
    }
    env.advance_to("2026-01-01 11:00:30");
    env.c.kv().gc(env.c.now()).unwrap();
    let (s, e) = vouch_format::keys::table_span(table);
    let threshold = env.c.kv().gc_threshold(&s, &e).unwrap();
    assert!(
        threshold < Timestamp::new(wall("2026-01-01 10:30:00"), 0)
            && threshold > Timestamp::new(wall("2026-01-01 10:29:59"), 0),
        "held just below the schedule's record: {threshold}"
    );
    // The plain chain's incremental needs history since 10:29: gone.
    match env.err("BACKUP DATABASE bank INTO LATEST IN 'nodelocal://1/plain'") {
        Error::Engine(vouch_engine::Error::Cluster(
            ref err @ vouch_cluster::Error::BelowGcThreshold {
                requested,
                threshold: t,
                ..
            },
        )) => {
            assert_eq!(requested.wall, wall("2026-01-01 10:29:00"));
            assert_eq!(t, threshold);
            assert_eq!(
                err.to_string(),
                format!("batch timestamp {requested} must be after replica GC threshold {threshold} (key span starting /Table/{table}): history before the GC threshold is gone")
            );
        }
        other => panic!("{other:?}"),
    }
    // The scheduled incremental (11:00, since 10:30) succeeds; the record moves to it.
    let runs = schedule::run_due(&env.c).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].schedule_id, runs[0].scheduled_at),
        (inc, wall("2026-01-01 11:00:00"))
    );
    succeeded(&runs[0]);
    assert_eq!(records(&env), vec![rec("2026-01-01 11:00:00")]);

    // A failing schedule (its collection gone) keeps its record: history accumulates.
    let coll = env.c.extern_dir().join("s");
    let moved = env.c.extern_dir().join("s-away");
    std::fs::rename(&coll, &moved).unwrap();
    for h in 12..=14 {
        env.advance_to(&format!("2026-01-01 {h}:00:10"));
        env.sql(&format!(
            "UPDATE bank.customers SET name = 'h{h}' WHERE id = 2"
        ));
        let runs = schedule::run_due(&env.c).unwrap();
        assert!(
            matches!(runs[0].outcome, RunOutcome::Failed { .. }),
            "{runs:?}"
        );
        env.c.kv().gc(env.c.now()).unwrap();
    }
    assert_eq!(records(&env), vec![rec("2026-01-01 11:00:00")]);
    let threshold = env.c.kv().gc_threshold(&s, &e).unwrap();
    assert!(threshold < Timestamp::new(wall("2026-01-01 11:00:00"), 0));
    let mut versions = 0;
    env.c
        .kv()
        .versions(
            &s,
            &e,
            Timestamp::new(wall("2026-01-01 11:00:00"), 0),
            env.c.now(),
            |_| {
                versions += 1;
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(versions, 3, "every version since the record is kept");
    assert_eq!(
        cell(&env.table(&format!("SHOW SCHEDULE {inc}")), 0, "state")
            .unwrap()
            .split(':')
            .next(),
        Some("rescheduled")
    );
    // It succeeds again: the history since 11:00 is read, the record replaced.
    std::fs::rename(&moved, &coll).unwrap();
    env.advance_to("2026-01-01 15:00:10");
    succeeded(&schedule::run_due(&env.c).unwrap()[0]);
    assert_eq!(records(&env), vec![rec("2026-01-01 15:00:00")]);
    env.sql("RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/s' WITH new_db_name = 'r'");
    let t = env.table("SELECT name FROM r.customers WHERE id = 2");
    assert_eq!(t.rows, vec![vec![Some("h14".to_string())]]);

    // Dropping the full schedule leaves the incremental's record; dropping that one
    // releases it, and GC moves on.
    env.sql(&format!("DROP SCHEDULE {full}"));
    assert_eq!(records(&env), vec![rec("2026-01-01 15:00:00")]);
    env.sql(&format!("DROP SCHEDULE {inc}"));
    assert_eq!(records(&env), vec![]);
    env.advance_to("2026-01-01 15:30:00");
    env.c.kv().gc(env.c.now()).unwrap();
    assert_eq!(
        env.c.kv().gc_threshold(&s, &e).unwrap(),
        Timestamp::new(wall("2026-01-01 15:20:00"), 0)
    );
}

#[test]
fn a_schedules_secrets_live_in_its_0600_file_not_in_the_record() {
    const PASS: &str = "canaryPASSq1w2e3r4";
    let env = Env::new("2026-01-01 10:29:00");
    env.advance_to("2026-01-01 10:30:00");
    let t = env.table(&format!(
        "CREATE SCHEDULE e FOR BACKUP DATABASE bank INTO 'nodelocal://1/e' \
         WITH encryption_passphrase = '{PASS}' RECURRING '@daily' FULL BACKUP ALWAYS"
    ));
    let id: u64 = cell(&t, 0, "schedule_id").unwrap().parse().unwrap();
    let shown = "BACKUP DATABASE bank INTO 'nodelocal://1/e' WITH encryption_passphrase = '*****', detached";
    assert_eq!(cell(&t, 0, "backup_stmt").as_deref(), Some(shown));
    // The record holds the redacted statement; the file the one to run.
    assert_eq!(schedule::get(&env.c, id).unwrap().backup_statement, shown);
    let path = schedule::secrets_path(&env.c, id);
    assert_eq!(
        path,
        env.c.dir().join(schedule::SECRETS_DIR).join(id.to_string())
    );
    // (A passphrase made of letters and digits is written as a bare word.)
    let with_secret = shown.replace("'*****'", PASS);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), with_secret);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
    }
    let store = std::fs::read(env.c.dir().join(vouch_cluster::STORE_FILE)).unwrap();
    assert!(!store.windows(PASS.len()).any(|w| w == PASS.as_bytes()));
    // ALTER keeps the secrets (they are read from the file, written back).
    env.sql(&format!("ALTER BACKUP SCHEDULE {id} SET LABEL 'e2'"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), with_secret);

    // The run is encrypted with the passphrase.
    env.advance_to("2026-01-01 10:30:05");
    succeeded(&schedule::run_due(&env.c).unwrap()[0]);
    let e = env.err("SHOW BACKUP FROM LATEST IN 'nodelocal://1/e'");
    assert!(matches!(e, Error::Engine(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "the backup is encrypted but no key was given: its data key is wrapped by a passphrase; give encryption_passphrase"
    );
    env.sql(&format!(
        "SHOW BACKUP FROM LATEST IN 'nodelocal://1/e' WITH encryption_passphrase = '{PASS}'"
    ));

    // A changed or missing file: the run fails (Secrets), never with '*****'.
    std::fs::write(
        &path,
        with_secret.replace("nodelocal://1/e", "nodelocal://1/x"),
    )
    .unwrap();
    env.advance_to("2026-01-02 00:00:10");
    let runs = schedule::run_due(&env.c).unwrap();
    let RunOutcome::Failed { error } = &runs[0].outcome else {
        panic!("{runs:?}")
    };
    assert!(!error.contains(PASS), "{error}");
    assert!(matches!(
        schedule::runnable_statement(&env.c, &schedule::get(&env.c, id).unwrap()),
        Err(Error::Schedule {
            kind: ScheduleErrorKind::Secrets,
            ..
        })
    ));
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        schedule::runnable_statement(&env.c, &schedule::get(&env.c, id).unwrap()),
        Err(Error::Schedule {
            kind: ScheduleErrorKind::Secrets,
            ..
        })
    ));
    assert_eq!(
        env.table("SHOW BACKUPS IN 'nodelocal://1/e'").rows.len(),
        1,
        "no backup ran with a wrong passphrase"
    );
    // Dropping the schedule deletes its file.
    std::fs::write(&path, &with_secret).unwrap();
    env.sql(&format!("DROP SCHEDULE {id}"));
    assert!(!path.exists());
}
