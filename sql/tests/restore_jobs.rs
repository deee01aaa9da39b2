//! RESTORE jobs (spec/jobs.md §3): a checkpoint per table done in the job's record; a
//! running restore paused, resumed and canceled at its checkpoints, stopped by its runner
//! and resumed; a resumed run writes only the tables not done (each restored key has one
//! version, one timestamp per run); a canceled or failed one leaves no restored table and
//! no row under its ids; the rows restored have the source's fingerprints.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use vouch_cluster::{Clock, Cluster};
use vouch_engine::output::Table;
use vouch_format::keys::table_span;
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_sql::grammar::JobAction;
use vouch_sql::jobs::{self, JobErrorKind, Outcome, Status};
use vouch_sql::{Error, Output, Session};

const TABLES: [&str; 4] = ["a", "b", "c", "d"];

struct Env {
    dir: tempfile::TempDir,
    c: Cluster,
}

impl Env {
    /// `bank.a` … `bank.d` (d with a secondary index), 50 to 200 rows each, backed up.
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let c = Cluster::init(
            &dir.path().join("c"),
            Clock::manual(
                vouch_format::time::parse_as_of("2026-03-01 00:00:00", Timestamp::MAX)
                    .unwrap()
                    .wall,
            ),
        )
        .unwrap();
        c.kv()
            .set_setting(vouch_sql::backup_stmt::FILE_SIZE_SETTING, b"4096")
            .unwrap();
        // One table at a time: a stop at a table's checkpoint leaves no other table being
        // read, so the tables done are exactly those seen.
        c.kv()
            .set_setting(vouch_sql::backup_stmt::RESTORE_WORKERS_SETTING, b"1")
            .unwrap();
        let env = Env { dir, c };
        env.sql("CREATE DATABASE bank");
        for (i, t) in TABLES.iter().enumerate() {
            env.sql(&format!(
                "CREATE TABLE bank.{t} (id INT PRIMARY KEY, name STRING NOT NULL)"
            ));
            let n = 50 * (i + 1);
            let values: Vec<String> = (0..n)
                .map(|k| format!("({k}, '{t}-{k:04}-{}')", "x".repeat(40)))
                .collect();
            env.sql(&format!(
                "INSERT INTO bank.{t} VALUES {}",
                values.join(", ")
            ));
        }
        env.sql("CREATE INDEX d_name ON bank.d (name)");
        env.c.kv().clock().advance(1_000_000_000);
        env.sql(&format!("BACKUP DATABASE bank INTO '{}'", env.uri()));
        env.c.kv().clock().advance(1_000_000_000);
        env
    }

    fn sql(&self, script: &str) -> Vec<Output> {
        Session::new(&self.c)
            .execute_all(script)
            .unwrap_or_else(|e| panic!("{script}: {e}"))
    }

    fn err(&self, stmt: &str) -> Error {
        Session::new(&self.c).execute(stmt).unwrap_err()
    }

    fn table(&self, stmt: &str) -> Table {
        match self.sql(stmt).pop() {
            Some(Output::Rows(t)) => t,
            other => panic!("{stmt}: {other:?}"),
        }
    }

    fn uri(&self) -> String {
        self.dir.path().join("coll").to_string_lossy().into_owned()
    }

    fn detached_restore(&self, db: &str) -> u64 {
        let t = self.table(&format!(
            "RESTORE DATABASE bank FROM LATEST IN '{}' WITH new_db_name = '{db}', detached",
            self.uri()
        ));
        assert_eq!(t.columns, ["job_id"]);
        t.rows[0][0].as_deref().unwrap().parse().unwrap()
    }

    fn show(&self, id: u64, column: &str) -> Option<String> {
        let t = self.table(&format!("SHOW JOB {id}"));
        let i = t.columns.iter().position(|c| c == column).unwrap();
        t.rows[0][i].clone()
    }

    fn status(&self, id: u64) -> String {
        self.show(id, "status").unwrap()
    }

    fn checkpoint(&self, id: u64) -> pb::RestoreCheckpoint {
        jobs::get(&self.c, id).unwrap().restore_checkpoint.unwrap()
    }

    /// Index fingerprints (table, index, fingerprint, entries) of database `db`'s tables.
    fn fingerprints(&self, db: &str) -> Vec<(String, String, u64, u64)> {
        self.c
            .fingerprints(self.c.now())
            .unwrap()
            .into_iter()
            .filter(|f| f.database == db)
            .map(|f| (f.table, f.index, f.fingerprint, f.entries))
            .collect()
    }

    /// Every version in table `id`'s span: key → timestamps.
    fn versions(&self, id: u64) -> BTreeMap<Vec<u8>, Vec<Timestamp>> {
        let (s, e) = table_span(id);
        let mut out: BTreeMap<Vec<u8>, Vec<Timestamp>> = BTreeMap::new();
        self.c
            .kv()
            .versions(&s, &e, Timestamp::MIN, Timestamp::MAX, |v| {
                out.entry(v.key.clone()).or_default().push(v.ts);
                Ok(())
            })
            .unwrap();
        out
    }

    /// Live keys under the ids a checkpoint allocated.
    fn live_keys(&self, ck: &pb::RestoreCheckpoint) -> usize {
        let mut n = 0;
        for id in ck.first_new_id..ck.first_new_id + ck.new_ids {
            let (s, e) = table_span(id);
            self.c
                .kv()
                .scan(&s, &e, self.c.now(), |_, _| {
                    n += 1;
                    Ok(())
                })
                .unwrap();
        }
        n
    }

    fn has_database(&self, name: &str) -> bool {
        self.c
            .catalog(self.c.now())
            .unwrap()
            .database(name)
            .is_some()
    }

    /// The collection verifies clean at the full level (restores never touch it).
    fn verify_collection(&self) {
        let report = vouch_verify::verify_collection(
            &self.uri(),
            None,
            None,
            &vouch_store::OpenOptions::default(),
            &vouch_verify::VerifyOptions::new(vouch_verify::Level::Full),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(report.errors, 0, "{:?}", report.findings);
    }
}

fn kind(e: &Error) -> JobErrorKind {
    match e {
        Error::Job { kind, .. } => *kind,
        other => panic!("not a job error: {other:?}"),
    }
}

/// Runs job `id` in this process, calling `at_table(n)` after this run's n-th table was
/// checkpointed; returns the outcome and the tables this run did.
fn run_with(env: &Env, id: u64, at_table: &mut dyn FnMut(&Cluster, u64)) -> (Outcome, u64) {
    let mut tables = 0;
    let out = jobs::run_observed(&env.c, id, None, &mut |n| {
        tables = n;
        at_table(&env.c, n);
    })
    .unwrap();
    (out, tables)
}

fn pause_at(at: u64, id: u64) -> impl FnMut(&Cluster, u64) {
    move |c, n| {
        if n == at {
            assert_eq!(
                jobs::control(c, JobAction::Pause, id).unwrap(),
                Status::PauseRequested
            );
        }
    }
}

#[test]
fn a_restore_job_paused_twice_and_resumed_writes_each_table_once_with_the_sources_fingerprints() {
    let env = Env::new();
    let id = env.detached_restore("r");
    assert_eq!(env.status(id), "pending");
    // Started when it was made (spec/jobs.md §3): its checkpoint holds its objects' ids,
    // no table is done.
    let planned = env.checkpoint(id);
    assert_eq!(
        (
            planned.tables,
            planned.new_ids,
            planned.ids.len(),
            planned.done.len()
        ),
        (4, 6, 6, 0)
    );
    assert_eq!(env.show(id, "coordinator_id"), None);

    // Paused after its first table: the checkpoint says which, nothing is published.
    let (out, n) = run_with(&env, id, &mut pause_at(1, id));
    assert!(matches!(out, Outcome::Paused), "{out:?}");
    assert_eq!(n, 1);
    assert_eq!(env.status(id), "paused");
    assert_eq!(env.show(id, "fraction_completed").as_deref(), Some("0.25"));
    assert_eq!(env.show(id, "coordinator_id").as_deref(), Some("1"));
    let ck = env.checkpoint(id);
    assert_eq!(ck.tables, 4);
    assert_eq!(ck.done.len(), 1);
    // The database, its public schema and the four tables, with the ids given when the
    // job was made.
    assert_eq!(ck.new_ids, 6);
    assert_eq!(ck.ids.len(), 6);
    assert_eq!(ck.ids, planned.ids);
    assert_eq!(ck.first_new_id, planned.first_new_id);
    assert!(!env.has_database("r"), "a paused restore published nothing");
    let e = env.err("SELECT count(*) FROM r.a");
    assert!(!matches!(e, Error::Job { .. }), "{e}");

    // Illegal transitions of a paused restore.
    assert_eq!(
        jobs::control(&env.c, JobAction::Pause, id).unwrap(),
        Status::Paused
    );
    env.sql(&format!("RESUME JOB {id}"));
    assert_eq!(env.status(id), "running");
    // RESUME of a running job changes nothing.
    env.sql(&format!("RESUME JOB {id}"));
    assert_eq!(env.status(id), "running");

    // Resumed and paused after two more tables: the ids are the first run's.
    let (out, n) = run_with(&env, id, &mut pause_at(2, id));
    assert!(matches!(out, Outcome::Paused), "{out:?}");
    assert_eq!(n, 2);
    let ck2 = env.checkpoint(id);
    assert_eq!(ck2.ids, ck.ids);
    assert_eq!(ck2.first_new_id, ck.first_new_id);
    assert_eq!(ck2.done.len(), 3);
    assert_eq!(ck2.done[0], ck.done[0], "the first table stays done");
    assert_eq!(env.show(id, "fraction_completed").as_deref(), Some("0.75"));
    env.sql(&format!("RESUME JOB {id}"));

    // The last run does the last table only.
    let (out, n) = run_with(&env, id, &mut |_, _| {});
    let table = match out {
        Outcome::Succeeded { table, .. } => table,
        other => panic!("{other:?}"),
    };
    assert_eq!(n, 1);
    assert_eq!(env.status(id), "succeeded");
    assert_eq!(env.show(id, "fraction_completed").as_deref(), Some("1"));
    assert_eq!(env.show(id, "coordinator_id").as_deref(), Some("1"));
    // The result counts every table's rows, those of the earlier runs included.
    let rows = table.columns.iter().position(|c| c == "rows").unwrap();
    assert_eq!(table.rows[0][rows].as_deref(), Some("500"));
    let job_col = table.columns.iter().position(|c| c == "job_id").unwrap();
    assert_eq!(table.rows[0][job_col], Some(id.to_string()));

    // The restored tables have the source's fingerprints, index by index.
    let want = env.fingerprints("bank");
    assert_eq!(want.len(), 5);
    assert_eq!(env.fingerprints("r"), want);

    // Each restored key was written once, and each run wrote at one time of its own:
    // the first run's table at one, the second run's two at another, the last one at a
    // third.
    let cat = env.c.catalog(env.c.now()).unwrap();
    let r = cat.database("r").unwrap().id;
    let mut times_by_table = Vec::new();
    for t in TABLES {
        let d = cat.object(r, t).unwrap();
        let versions = env.versions(d.id);
        assert!(!versions.is_empty());
        assert!(
            versions.values().all(|v| v.len() == 1),
            "table {t}: a key written twice"
        );
        let times: BTreeSet<Timestamp> = versions.values().flatten().copied().collect();
        assert_eq!(times.len(), 1, "table {t}: one write time");
        times_by_table.push((d.id, *times.iter().next().unwrap()));
    }
    let by_id: BTreeMap<u64, Timestamp> = times_by_table.iter().copied().collect();
    let when = |backup_id: u64| {
        let new = ck2
            .ids
            .iter()
            .find(|m| m.old_id == backup_id)
            .unwrap()
            .new_id;
        by_id[&new]
    };
    let first = when(ck2.done[0].table_id);
    let second = when(ck2.done[1].table_id);
    assert_eq!(when(ck2.done[2].table_id), second);
    let distinct: BTreeSet<Timestamp> = by_id.values().copied().collect();
    assert_eq!(distinct.len(), 3, "{times_by_table:?}");
    assert!(first < second);
    // A finished restore cannot be paused, resumed or canceled.
    for (stmt, msg) in [
        (
            format!("PAUSE JOB {id}"),
            "job with status succeeded cannot be requested to be paused",
        ),
        (
            format!("RESUME JOB {id}"),
            "job with status succeeded cannot be resumed",
        ),
        (
            format!("CANCEL JOB {id}"),
            "job with status succeeded cannot be requested to be canceled",
        ),
    ] {
        let e = env.err(&stmt);
        assert_eq!(kind(&e), JobErrorKind::BadStatus);
        assert_eq!(e.to_string(), msg);
    }
    env.verify_collection();
}

#[test]
fn a_canceled_restore_leaves_no_restored_table_and_every_backup_intact() {
    let env = Env::new();
    // Canceled while running, at its second checkpoint.
    let id = env.detached_restore("r");
    let (out, n) = run_with(&env, id, &mut |c, n| {
        if n == 2 {
            assert_eq!(
                jobs::control(c, JobAction::Cancel, id).unwrap(),
                Status::CancelRequested
            );
        }
    });
    assert!(matches!(out, Outcome::Canceled), "{out:?}");
    assert_eq!(n, 2);
    assert_eq!(env.status(id), "canceled");
    assert_eq!(
        env.show(id, "error").as_deref(),
        Some("job canceled by user")
    );
    let ck = env.checkpoint(id);
    assert_eq!(ck.done.len(), 2, "it wrote two tables before the cancel");
    assert!(!env.has_database("r"));
    assert_eq!(env.live_keys(&ck), 0, "no row is left under its ids");
    let e = env.err(&format!("RESUME JOB {id}"));
    assert_eq!(kind(&e), JobErrorKind::BadStatus);
    assert_eq!(e.to_string(), "job with status canceled cannot be resumed");
    env.verify_collection();

    // Canceled while paused: canceled at once, its rows deleted then.
    let id2 = env.detached_restore("r");
    let (out, _) = run_with(&env, id2, &mut pause_at(3, id2));
    assert!(matches!(out, Outcome::Paused), "{out:?}");
    let ck2 = env.checkpoint(id2);
    assert_ne!(ck2.first_new_id, ck.first_new_id, "a new job, new ids");
    assert!(env.live_keys(&ck2) > 0);
    assert_eq!(
        env.sql(&format!("CANCEL JOB {id2}")),
        [Output::Tag("CANCEL JOBS 1".into())]
    );
    assert_eq!(env.status(id2), "canceled");
    assert_eq!(env.live_keys(&ck2), 0);
    assert!(!env.has_database("r"));
    // Canceling again changes nothing.
    env.sql(&format!("CANCEL JOB {id2}"));
    assert_eq!(env.status(id2), "canceled");

    // Nothing is in the way of the same restore now.
    env.sql(&format!(
        "RESTORE DATABASE bank FROM LATEST IN '{}' WITH new_db_name = 'r'",
        env.uri()
    ));
    assert_eq!(env.fingerprints("r"), env.fingerprints("bank"));
    env.verify_collection();
}

#[test]
fn a_restore_stopped_by_its_runner_stays_running_and_the_next_runner_finishes_it() {
    let env = Env::new();
    let id = env.detached_restore("r");
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let mut n_seen = 0;
    let out = jobs::run_observed(&env.c, id, Some(&stop), &mut |n| {
        n_seen = n;
        if n == 1 {
            flag.store(true, Ordering::SeqCst);
        }
    })
    .unwrap();
    assert!(matches!(out, Outcome::Stopped), "{out:?}");
    assert_eq!(n_seen, 1);
    assert_eq!(env.status(id), "running");
    assert_eq!(env.checkpoint(id).done.len(), 1);
    let runs = jobs::run_pending(&env.c, None, &mut |_| {}).unwrap();
    assert_eq!(runs.len(), 1);
    assert!(matches!(runs[0].outcome, Outcome::Succeeded { .. }));
    assert_eq!(env.status(id), "succeeded");
    assert_eq!(env.fingerprints("r"), env.fingerprints("bank"));
}

#[test]
fn a_paused_restore_whose_name_was_taken_meanwhile_fails_and_deletes_its_rows() {
    let env = Env::new();
    let id = env.detached_restore("r");
    let (out, _) = run_with(&env, id, &mut pause_at(2, id));
    assert!(matches!(out, Outcome::Paused), "{out:?}");
    let ck = env.checkpoint(id);
    assert!(env.live_keys(&ck) > 0);
    env.sql("CREATE DATABASE r");
    env.sql(&format!("RESUME JOB {id}"));
    let (out, n) = run_with(&env, id, &mut |_, _| {});
    match out {
        Outcome::Failed(e) => assert_eq!(e.to_string(), "database \"r\" already exists"),
        other => panic!("{other:?}"),
    }
    assert_eq!(n, 0);
    assert_eq!(env.status(id), "failed");
    assert_eq!(env.live_keys(&ck), 0, "a failed restore leaves no row");
    // The database made meanwhile is untouched (and empty).
    assert!(env.has_database("r"));
    env.verify_collection();
}

#[test]
fn with_two_workers_a_pause_lets_the_other_workers_table_finish_and_records_it() {
    let env = Env::new();
    env.c
        .kv()
        .set_setting(vouch_sql::backup_stmt::RESTORE_WORKERS_SETTING, b"2")
        .unwrap();
    let id = env.detached_restore("r");
    let (out, n) = run_with(&env, id, &mut pause_at(1, id));
    assert!(matches!(out, Outcome::Paused), "{out:?}");
    // The table the other worker was on when the pause came finished and was recorded.
    assert_eq!(n, 2);
    let ck = env.checkpoint(id);
    assert_eq!(ck.done.len(), 2);
    assert!(!env.has_database("r"));
    env.sql(&format!("RESUME JOB {id}"));
    let (out, n) = run_with(&env, id, &mut |_, _| {});
    assert!(matches!(out, Outcome::Succeeded { .. }), "{out:?}");
    assert_eq!(n, 2);
    assert_eq!(env.fingerprints("r"), env.fingerprints("bank"));
    // A bad setting is refused, typed.
    env.c
        .kv()
        .set_setting(vouch_sql::backup_stmt::RESTORE_WORKERS_SETTING, b"0")
        .unwrap();
    let e = env.err(&format!(
        "RESTORE DATABASE bank FROM LATEST IN '{}' WITH new_db_name = 'r3'",
        env.uri()
    ));
    assert!(matches!(e, Error::Usage(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "cluster setting kv.bulk_io_write.restore_node_concurrency: not a positive number"
    );
}

#[test]
fn show_job_when_complete_runs_what_no_one_else_can_and_refuses_to_wait_on_a_paused_job() {
    let env = Env::new();
    // A pending restore: this process holds the cluster, so the statement runs it.
    let id = env.detached_restore("r");
    let t = env.table(&format!("SHOW JOB WHEN COMPLETE {id}"));
    assert_eq!(t.rows.len(), 1);
    let col = |t: &Table, name: &str| t.columns.iter().position(|c| c == name).unwrap();
    assert_eq!(t.rows[0][col(&t, "job_id")], Some(id.to_string()));
    assert_eq!(t.rows[0][col(&t, "status")].as_deref(), Some("succeeded"));
    assert_eq!(
        t.rows[0][col(&t, "fraction_completed")].as_deref(),
        Some("1")
    );
    assert_eq!(env.fingerprints("r"), env.fingerprints("bank"));
    // A finished job is shown at once.
    let again = env.table(&format!("SHOW JOB WHEN COMPLETE {id}"));
    assert_eq!(again.rows, t.rows);

    // The plural form: the jobs its SELECT names now (its WHERE on status is not looked
    // at again), each completed, oldest first.
    let b = env.table(&format!(
        "BACKUP DATABASE bank INTO LATEST IN '{}' WITH detached",
        env.uri()
    ));
    let backup: u64 = b.rows[0][0].as_deref().unwrap().parse().unwrap();
    // Created a second later (jobs created at one time are in id order, ids are random).
    env.c.kv().clock().advance(1_000_000_000);
    let restore = env.detached_restore("r2");
    let t = env
        .table("SHOW JOBS WHEN COMPLETE (SELECT job_id FROM [SHOW JOBS] WHERE status = 'pending')");
    let ids: Vec<Option<String>> = t
        .rows
        .iter()
        .map(|r| r[col(&t, "job_id")].clone())
        .collect();
    assert_eq!(ids, [Some(backup.to_string()), Some(restore.to_string())]);
    assert!(t
        .rows
        .iter()
        .all(|r| r[col(&t, "status")].as_deref() == Some("succeeded")));
    assert_eq!(env.fingerprints("r2"), env.fingerprints("bank"));
    env.verify_collection();

    // A paused job will not complete on its own: a typed error, and nothing runs it.
    let paused = env.detached_restore("r3");
    env.sql(&format!("PAUSE JOB {paused}"));
    let e = env.err(&format!("SHOW JOB WHEN COMPLETE {paused}"));
    assert_eq!(kind(&e), JobErrorKind::WaitPaused);
    assert_eq!(
        e.to_string(),
        format!("job {paused} is paused: it will not complete until it is resumed (RESUME JOB {paused})")
    );
    assert_eq!(env.status(paused), "paused");
    // Asked to pause with no runner: it pauses, then the same error.
    env.sql(&format!("RESUME JOB {paused}"));
    env.sql(&format!("PAUSE JOB {paused}"));
    assert_eq!(env.status(paused), "pause-requested");
    let e = env.err(&format!(
        "SHOW JOBS WHEN COMPLETE SELECT id FROM system.jobs WHERE id = {paused}"
    ));
    assert_eq!(kind(&e), JobErrorKind::WaitPaused);
    assert_eq!(env.status(paused), "paused");
    // Canceled: complete at once, shown canceled.
    env.sql(&format!("CANCEL JOB {paused}"));
    let t = env.table(&format!("SHOW JOB WHEN COMPLETE {paused}"));
    assert_eq!(t.rows[0][col(&t, "status")].as_deref(), Some("canceled"));
    let e = env.err("SHOW JOB WHEN COMPLETE 42");
    assert_eq!(kind(&e), JobErrorKind::NotFound);
}

#[test]
fn a_script_of_pause_and_cancel_job_statements_is_a_list_of_requests() {
    assert_eq!(
        jobs::requests_in("PAUSE JOB 7; CANCEL JOB 9;"),
        Some(vec![(JobAction::Pause, 7), (JobAction::Cancel, 9)])
    );
    for other in [
        "RESUME JOB 7",
        "PAUSE JOB 7; SHOW JOBS",
        "PAUSE JOBS (SELECT job_id FROM [SHOW JOBS] WHERE status = 'running')",
        "",
        "PAUSE JOB x",
    ] {
        assert_eq!(jobs::requests_in(other), None, "{other}");
    }
}

/// A detached RESTORE starts its job when it is made (spec/jobs.md §3): a restore whose
/// preconditions fail is refused by the statement and records no job; one paused before
/// any runner took it keeps the ids it was given and, resumed, is not refused for objects
/// made meanwhile, only for its own names taken.
#[test]
fn a_detached_restore_checks_its_preconditions_when_made_and_only_its_names_when_resumed() {
    let env = Env::new();
    let before = jobs::list(&env.c).unwrap().len();
    let e = env.err(&format!(
        "RESTORE DATABASE bank FROM LATEST IN '{}' WITH detached",
        env.uri()
    ));
    assert_eq!(e.to_string(), "database \"bank\" already exists");
    let e = env.err(&format!(
        "RESTORE FROM LATEST IN '{}' WITH detached",
        env.uri()
    ));
    assert_eq!(
        e.to_string(),
        "full cluster RESTORE can only be used on full cluster BACKUP files"
    );
    assert_eq!(jobs::list(&env.c).unwrap().len(), before, "no job recorded");

    // Paused before any runner: objects made meanwhile do not matter.
    let id = env.detached_restore("r");
    let planned = env.checkpoint(id);
    env.sql(&format!("PAUSE JOB {id}"));
    assert_eq!(env.status(id), "paused");
    env.sql("CREATE DATABASE other; CREATE TABLE other.t (id INT PRIMARY KEY)");
    env.sql(&format!("RESUME JOB {id}"));
    let (out, n) = run_with(&env, id, &mut |_, _| {});
    assert!(matches!(out, Outcome::Succeeded { .. }), "{out:?}");
    assert_eq!(n, 4);
    assert_eq!(env.status(id), "succeeded");
    assert_eq!(env.fingerprints("r"), env.fingerprints("bank"));
    let done = env.checkpoint(id);
    assert_eq!(done.ids, planned.ids);
    assert_eq!(done.first_new_id, planned.first_new_id);

    // Paused before any runner, its name taken meanwhile: it fails, nothing written.
    let id = env.detached_restore("r2");
    let ck = env.checkpoint(id);
    env.sql(&format!("PAUSE JOB {id}"));
    env.sql("CREATE DATABASE r2");
    env.sql(&format!("RESUME JOB {id}"));
    let (out, n) = run_with(&env, id, &mut |_, _| {});
    match out {
        Outcome::Failed(e) => assert_eq!(e.to_string(), "database \"r2\" already exists"),
        other => panic!("{other:?}"),
    }
    assert_eq!(n, 0);
    assert_eq!(env.status(id), "failed");
    assert_eq!(env.live_keys(&ck), 0);
}

/// The restore of `bank` as `db` from the collection, read by one worker.
fn restore_options(env: &Env, db: &str) -> vouch_chain::RestoreOptions {
    let mut o = vouch_chain::RestoreOptions::new(
        vouch_chain::Targets::Databases(vec!["bank".into()]),
        vouch_chain::Source::Collection {
            uri: env.uri(),
            subdir: "LATEST".into(),
            incremental_location: None,
        },
    );
    o.new_db_name = Some(db.into());
    o.jobs = 1;
    o
}

#[test]
fn a_restore_stopped_after_it_published_finishes_from_its_checkpoint_as_its_own_objects() {
    use vouch_engine::restore::{restore_job, RestoreJob};
    let env = Env::new();
    let o = restore_options(&env, "r");
    // The run is stopped once its objects are published, before it returns (a job killed
    // before it is marked succeeded).
    let mut last: Option<pb::RestoreCheckpoint> = None;
    let mut record = |ck: &pb::RestoreCheckpoint| -> vouch_engine::Result<()> {
        last = Some(ck.clone());
        Ok(())
    };
    let mut job = RestoreJob {
        checkpoint: Some(&mut record),
        faults: vouch_engine::backup::Faults {
            after_publish: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let e = restore_job(&env.c, &o, &mut job, &mut |_| {}).unwrap_err();
    assert!(matches!(e, vouch_engine::Error::Injected(_)), "{e}");
    let ck = last.unwrap();
    assert_eq!(ck.done.len(), 4);
    assert!(env.has_database("r"), "published");
    let revisions = |env: &Env| {
        let end = ck.first_new_id + ck.new_ids;
        env.c
            .descriptor_revisions(Timestamp::MIN, Timestamp::MAX)
            .unwrap()
            .into_iter()
            .filter(|r| (ck.first_new_id..end).contains(&r.id))
            .map(|r| (r.id, r.time.map(|t| Timestamp::new(t.wall, t.logical))))
            .collect::<Vec<_>>()
    };
    let published = revisions(&env);
    assert_eq!(
        published.len() as u64,
        ck.new_ids,
        "one revision per object"
    );
    let versions: Vec<_> = (ck.first_new_id..ck.first_new_id + ck.new_ids)
        .map(|id| env.versions(id))
        .collect();
    // A write to a published table before the job resumes: the resumed check reads the
    // rows as they were published.
    env.c.kv().clock().advance(1_000_000_000);
    env.sql("INSERT INTO r.a VALUES (1000, 'later')");

    // Resumed from its checkpoint: its names are its own, not a collision; nothing is
    // written again.
    let mut job = RestoreJob {
        resume: Some(ck.clone()),
        ..Default::default()
    };
    let r = restore_job(&env.c, &o, &mut job, &mut |_| {}).unwrap();
    assert_eq!(
        r.objects,
        [
            "r",
            "r.public",
            "r.public.a",
            "r.public.b",
            "r.public.c",
            "r.public.d"
        ]
    );
    assert_eq!((r.rows, r.index_entries), (500, 200));
    assert_eq!(r.fingerprints_checked, 5);
    assert_eq!(Some(r.published_at), published.first().and_then(|p| p.1));
    assert_eq!(revisions(&env), published, "no object published twice");
    let again: Vec<_> = (ck.first_new_id..ck.first_new_id + ck.new_ids)
        .map(|id| env.versions(id))
        .collect();
    let inserted: usize = again.iter().map(|v| v.len()).sum::<usize>()
        - versions.iter().map(|v| v.len()).sum::<usize>();
    assert_eq!(inserted, 1, "only the later INSERT's row is new");
    let at = |ts: Timestamp, db: &str| {
        env.c
            .fingerprints(ts)
            .unwrap()
            .into_iter()
            .filter(|f| f.database == db)
            .map(|f| (f.table, f.index, f.fingerprint, f.entries))
            .collect::<Vec<_>>()
    };
    assert_eq!(at(r.published_at, "r"), at(r.published_at, "bank"));
    env.verify_collection();

    // A fresh run of the same restore (no checkpoint) meets the names: the collision the
    // resumed run does not have.
    let e = restore_job(&env.c, &o, &mut RestoreJob::default(), &mut |_| {}).unwrap_err();
    assert_eq!(e.to_string(), "database \"r\" already exists");
    assert_eq!(
        e.kind(),
        vouch_engine::ErrorKind::Read(vouch_chain::ErrorKind::NameCollision)
    );
}

/// The rows of `c`'s system.users, live now: key → value.
fn users_rows(c: &Cluster) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let (s, e) = table_span(vouch_format::schema::USERS_TABLE_ID);
    let mut out = BTreeMap::new();
    c.kv()
        .scan(&s, &e, c.now(), |k, v| {
            out.insert(k.to_vec(), v.to_vec());
            Ok(())
        })
        .unwrap();
    out
}

/// A full cluster restore writes system.users as it goes (its first table: the lowest
/// id); canceled after that table, the job puts system.users back as it was when the job
/// started (`users_since`), as well as deleting the rows under its ids: a canceled
/// restore leaves the cluster as it found it.
#[test]
fn a_canceled_cluster_restore_puts_system_users_back() {
    let env = Env::new();
    env.sql("CREATE USER alice; CREATE USER bob");
    let coll = env.dir.path().join("cluster-coll");
    let coll = coll.to_string_lossy().into_owned();
    env.c.kv().clock().advance(1_000_000_000);
    env.sql(&format!("BACKUP INTO '{coll}'"));

    let target = Cluster::init(
        &env.dir.path().join("t"),
        Clock::manual(env.c.now().wall + 1_000_000_000),
    )
    .unwrap();
    target
        .kv()
        .set_setting(vouch_sql::backup_stmt::RESTORE_WORKERS_SETTING, b"1")
        .unwrap();
    let before = users_rows(&target);
    let t = match Session::new(&target)
        .execute(&format!("RESTORE FROM LATEST IN '{coll}' WITH detached"))
        .unwrap()
    {
        Output::Rows(t) => t,
        other => panic!("{other:?}"),
    };
    let id: u64 = t.rows[0][0].as_deref().unwrap().parse().unwrap();
    let planned = jobs::get(&target, id).unwrap().restore_checkpoint.unwrap();
    assert!(
        planned.users_since.is_some(),
        "a cluster restore writes system.users"
    );
    let mut during = BTreeMap::new();
    let out = jobs::run_observed(&target, id, None, &mut |n| {
        let c = &target;
        if n == 1 {
            let ck = jobs::get(c, id).unwrap().restore_checkpoint.unwrap();
            assert_eq!(ck.done[0].table_id, vouch_format::schema::USERS_TABLE_ID);
            during = users_rows(c);
            assert_eq!(
                jobs::control(c, JobAction::Cancel, id).unwrap(),
                Status::CancelRequested
            );
        }
    })
    .unwrap();
    assert!(matches!(out, Outcome::Canceled), "{out:?}");
    assert_ne!(
        during, before,
        "the users table was written before the cancel"
    );
    assert_eq!(during, users_rows(&env.c), "as the source's");
    assert_eq!(users_rows(&target), before, "put back as the job found it");
    let ck = jobs::get(&target, id).unwrap().restore_checkpoint.unwrap();
    let (s, e) = table_span(ck.first_new_id);
    let mut live = 0;
    target
        .kv()
        .scan(&s, &e, target.now(), |_, _| {
            live += 1;
            Ok(())
        })
        .unwrap();
    assert_eq!(live, 0);
}

/// A restore that does not write system.users records no `users_since`.
#[test]
fn a_database_restore_does_not_touch_system_users() {
    let env = Env::new();
    let id = env.detached_restore("r");
    assert_eq!(env.checkpoint(id).users_since, None);
}
