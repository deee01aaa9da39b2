//! Jobs: every BACKUP and RESTORE recorded in `system.jobs`; SHOW JOBS / SHOW JOB,
//! PAUSE / RESUME / CANCEL JOB(S) with CockroachDB's state rules; `WITH detached`
//! recorded pending and run by a runner; a running backup paused, resumed and canceled at
//! several checkpoints, the collection verified at the full level after each.

use std::path::Path;

use vouch_cluster::{Clock, Cluster};
use vouch_engine::output::Table;
use vouch_format::mvcc::Timestamp;
use vouch_sql::grammar::JobAction;
use vouch_sql::jobs::{self, JobErrorKind, Outcome, Status};
use vouch_sql::{Error, Output, Session};

fn wall(text: &str) -> u64 {
    vouch_format::time::parse_as_of(text, Timestamp::MAX)
        .unwrap()
        .wall
}

struct Env {
    dir: tempfile::TempDir,
    c: Cluster,
}

impl Env {
    /// `bank.customers` with 400 rows of ~100 bytes, data files of 4 KiB (~10 files).
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let c = Cluster::init(
            &dir.path().join("c"),
            Clock::manual(wall("2026-03-01 00:00:00")),
        )
        .unwrap();
        c.kv()
            .set_setting(vouch_sql::backup_stmt::FILE_SIZE_SETTING, b"4096")
            .unwrap();
        let env = Env { dir, c };
        env.sql("CREATE DATABASE bank; CREATE TABLE bank.customers (id INT PRIMARY KEY, name STRING NOT NULL)");
        env.insert(0, 400);
        env
    }

    fn insert(&self, from: u32, n: u32) {
        let values: Vec<String> = (from..from + n)
            .map(|i| format!("({i}, '{}')", format!("customer-{i:04}-").repeat(7)))
            .collect();
        self.sql(&format!(
            "INSERT INTO bank.customers VALUES {}",
            values.join(", ")
        ));
        self.c.kv().clock().advance(1_000_000_000);
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

    /// A detached backup's job id.
    fn detached(&self, stmt: &str) -> u64 {
        let t = self.table(stmt);
        assert_eq!(t.columns, ["job_id"]);
        t.rows[0][0].as_deref().unwrap().parse().unwrap()
    }

    fn status(&self, id: u64) -> String {
        cell(&self.table(&format!("SHOW JOB {id}")), 0, "status").unwrap()
    }

    /// The collection verifies clean at the full level; returns its backups (SHOW
    /// BACKUPS' paths).
    fn verify(&self) -> Vec<String> {
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
        let t = self.table(&format!("SHOW BACKUPS IN '{}'", self.uri()));
        t.rows.iter().map(|r| r[0].clone().unwrap()).collect()
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

fn kind(e: &Error) -> JobErrorKind {
    match e {
        Error::Job { kind, .. } => *kind,
        other => panic!("not a job error: {other:?}"),
    }
}

fn data_files(dir: &Path) -> usize {
    let mut n = 0;
    for e in walk(dir) {
        if e.extension().is_some_and(|x| x == "sst") {
            n += 1;
        }
    }
    n
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn every_backup_and_restore_is_a_job_with_cockroachdbs_columns_and_state_rules() {
    let env = Env::new();
    let uri = env.uri();
    let t = env.table(&format!(
        "BACKUP DATABASE bank INTO '{uri}' WITH encryption_passphrase = 'hunter2'"
    ));
    let id: u64 = cell(&t, 0, "job_id").unwrap().parse().unwrap();
    let jobs = env.table("SHOW JOBS");
    assert_eq!(
        jobs.columns,
        [
            "job_id",
            "job_type",
            "description",
            "statement",
            "user_name",
            "status",
            "running_status",
            "created",
            "started",
            "finished",
            "modified",
            "fraction_completed",
            "error",
            "coordinator_id",
            "trace_id",
            "last_run",
            "next_run",
            "num_runs",
            "execution_errors"
        ]
    );
    assert_eq!(jobs.rows.len(), 1);
    assert_eq!(cell(&jobs, 0, "job_id"), Some(id.to_string()));
    assert_eq!(cell(&jobs, 0, "job_type").as_deref(), Some("BACKUP"));
    assert_eq!(
        cell(&jobs, 0, "description"),
        Some(format!(
            "BACKUP DATABASE bank INTO '{uri}' WITH encryption_passphrase = '*****'"
        ))
    );
    assert_eq!(cell(&jobs, 0, "status").as_deref(), Some("succeeded"));
    assert_eq!(cell(&jobs, 0, "fraction_completed").as_deref(), Some("1"));
    assert_eq!(cell(&jobs, 0, "user_name").as_deref(), Some("root"));
    assert_eq!(cell(&jobs, 0, "error").as_deref(), Some(""));
    assert!(cell(&jobs, 0, "finished").is_some());
    // The secret is in no stored job byte.
    for (_, b) in env.c.kv().jobs().unwrap() {
        assert!(!b.windows(7).any(|w| w == b"hunter2"));
    }

    // A finished job: CockroachDB's refusals, typed.
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
        assert_eq!(kind(&e), JobErrorKind::BadStatus, "{stmt}");
        assert_eq!(e.to_string(), msg);
    }
    let e = env.err("SHOW JOB 123");
    assert_eq!(kind(&e), JobErrorKind::NotFound);
    assert_eq!(e.to_string(), "job with ID 123 does not exist");
    assert_eq!(kind(&env.err("PAUSE JOB 123")), JobErrorKind::NotFound);

    // A failed job keeps its error.
    let other = env.dir.path().join("empty").to_string_lossy().into_owned();
    let e = env.err(&format!("BACKUP DATABASE bank INTO LATEST IN '{other}'"));
    let t = env.table("SHOW JOBS (SELECT job_id FROM [SHOW JOBS] WHERE status = 'failed')");
    assert_eq!(t.rows.len(), 1);
    assert_eq!(cell(&t, 0, "error"), Some(e.to_string()));
    assert!(cell(&t, 0, "finished").is_some());

    // RESTORE is a job too.
    env.sql(&format!(
        "RESTORE DATABASE bank FROM LATEST IN '{uri}' WITH new_db_name = 'bank2', encryption_passphrase = 'hunter2'"
    ));
    let t = env.table("SHOW JOBS (SELECT job_id FROM [SHOW JOBS] WHERE job_type = 'RESTORE')");
    assert_eq!(t.rows.len(), 1);
    assert_eq!(cell(&t, 0, "status").as_deref(), Some("succeeded"));
    assert_eq!(env.table("SHOW JOBS").rows.len(), 3);
}

#[test]
fn detached_jobs_wait_for_a_runner_and_follow_the_state_rules() {
    let env = Env::new();
    let uri = env.uri();
    let id = env.detached(&format!("BACKUP DATABASE bank INTO '{uri}' WITH detached"));
    assert_eq!(env.status(id), "pending");
    assert!(!Path::new(&uri).exists(), "a pending job wrote nothing");
    // Rows written after the statement are not in its backup: its time is fixed.
    env.insert(400, 5);
    let e = env.err(&format!("RESUME JOB {id}"));
    assert_eq!(e.to_string(), "job with status pending cannot be resumed");
    assert_eq!(
        env.sql(&format!("PAUSE JOB {id}")),
        [Output::Tag("PAUSE JOBS 1".into())]
    );
    assert_eq!(env.status(id), "paused");
    // Pausing a paused job changes nothing.
    env.sql(&format!("PAUSE JOB {id}"));
    assert_eq!(env.status(id), "paused");
    assert!(jobs::run_pending(&env.c, None, &mut |_| {})
        .unwrap()
        .is_empty());
    env.sql(&format!("RESUME JOB {id}"));
    assert_eq!(env.status(id), "running");
    let runs = jobs::run_pending(&env.c, None, &mut |_| {}).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].id, id);
    assert!(matches!(runs[0].outcome, Outcome::Succeeded { .. }));
    assert_eq!(env.status(id), "succeeded");
    assert_eq!(env.verify().len(), 1);
    env.sql(&format!(
        "RESTORE DATABASE bank FROM LATEST IN '{uri}' WITH new_db_name = 'b2'"
    ));
    assert_eq!(
        env.table("SELECT count(*) FROM b2.customers").rows[0][0].as_deref(),
        Some("400")
    );

    // Canceled before it ran: nothing written, cannot be resumed; canceling again is a
    // no-op.
    let id2 = env.detached(&format!(
        "BACKUP DATABASE bank INTO LATEST IN '{uri}' WITH detached"
    ));
    assert_eq!(
        env.sql(&format!("CANCEL JOB {id2}")),
        [Output::Tag("CANCEL JOBS 1".into())]
    );
    assert_eq!(env.status(id2), "canceled");
    env.sql(&format!("CANCEL JOB {id2}"));
    let e = env.err(&format!("RESUME JOB {id2}"));
    assert_eq!(kind(&e), JobErrorKind::BadStatus);
    assert_eq!(e.to_string(), "job with status canceled cannot be resumed");
    let e = env.err(&format!("PAUSE JOB {id2}"));
    assert_eq!(
        e.to_string(),
        "job with status canceled cannot be requested to be paused"
    );
    assert!(jobs::run_pending(&env.c, None, &mut |_| {})
        .unwrap()
        .is_empty());
    assert_eq!(env.verify().len(), 1);

    // The plural forms select by column.
    let id3 = env.detached(&format!(
        "BACKUP DATABASE bank INTO LATEST IN '{uri}' WITH detached"
    ));
    assert_eq!(
        env.sql("PAUSE JOBS (SELECT job_id FROM [SHOW JOBS] WHERE status = 'pending')"),
        [Output::Tag("PAUSE JOBS 1".into())]
    );
    assert_eq!(env.status(id3), "paused");
    assert_eq!(
        env.sql("RESUME JOBS SELECT job_id FROM [SHOW JOBS] WHERE status = 'paused'"),
        [Output::Tag("RESUME JOBS 1".into())]
    );
    // Resumed, it is running (waiting for a runner to adopt it): a cancel is a request
    // its runner carries out.
    assert_eq!(
        env.sql("CANCEL JOBS (SELECT job_id FROM [SHOW JOBS] WHERE job_type = 'BACKUP' AND status = 'running')"),
        [Output::Tag("CANCEL JOBS 1".into())]
    );
    assert_eq!(env.status(id3), "cancel-requested");
    let runs = jobs::run_pending(&env.c, None, &mut |_| {}).unwrap();
    assert_eq!(runs.len(), 1);
    assert!(matches!(runs[0].outcome, Outcome::Canceled));
    assert_eq!(env.status(id3), "canceled");
    assert_eq!(env.verify().len(), 1);
}

/// Runs job `id`, calling `at_file(n)` after its n-th data file.
fn run_with(env: &Env, id: u64, at_file: &mut dyn FnMut(&Cluster, u64)) -> (Outcome, u64) {
    let mut files = 0;
    let out = jobs::run_observed(&env.c, id, None, &mut |n| {
        files = n;
        at_file(&env.c, n);
    })
    .unwrap();
    (out, files)
}

#[test]
fn a_running_backup_pauses_resumes_and_cancels_at_its_checkpoints() {
    let env = Env::new();
    let uri = env.uri();
    env.sql(&format!("BACKUP DATABASE bank INTO '{uri}'"));
    // How many data files the incremental takes uninterrupted (a separate collection).
    let probe = env.dir.path().join("probe").to_string_lossy().into_owned();
    env.sql(&format!("BACKUP DATABASE bank INTO '{probe}'"));
    env.insert(400, 400);
    let probe_id = env.detached(&format!(
        "BACKUP DATABASE bank INTO LATEST IN '{probe}' WITH detached"
    ));
    let (out, total) = run_with(&env, probe_id, &mut |_, _| {});
    assert!(matches!(out, Outcome::Succeeded { .. }));
    assert!(total >= 4, "the incremental takes {total} data files");
    let before = env.verify();
    assert_eq!(before.len(), 1);

    // Canceled at several checkpoints: no new backup, the earlier one intact, its
    // protected timestamp released.
    for at in [1, total / 2] {
        env.c.kv().clock().advance(1_000_000_000);
        let id = env.detached(&format!(
            "BACKUP DATABASE bank INTO LATEST IN '{uri}' WITH detached"
        ));
        let (out, files) = run_with(&env, id, &mut |c, n| {
            if n == at {
                assert_eq!(
                    jobs::control(c, JobAction::Cancel, id).unwrap(),
                    Status::CancelRequested
                );
            }
        });
        assert!(matches!(out, Outcome::Canceled), "{out:?}");
        assert_eq!(files, at, "stopped at the checkpoint it was canceled at");
        assert_eq!(env.status(id), "canceled");
        let t = env.table(&format!("SHOW JOB {id}"));
        assert_eq!(
            cell(&t, 0, "error").as_deref(),
            Some("job canceled by user")
        );
        assert!(env
            .c
            .kv()
            .protected()
            .unwrap()
            .iter()
            .all(|(p, _)| *p != id));
        assert_eq!(env.verify(), before);
    }

    // Paused at one checkpoint, resumed, paused at a later one, resumed to success: every
    // data file is written once (the resumed runs continue from the checkpoints).
    let ssts_before = data_files(Path::new(&uri));
    env.c.kv().clock().advance(1_000_000_000);
    let id = env.detached(&format!(
        "BACKUP DATABASE bank INTO LATEST IN '{uri}' WITH detached"
    ));
    let mut done = 0;
    for at in [1, 2] {
        let (out, files) = run_with(&env, id, &mut |c, n| {
            if n == at {
                assert_eq!(
                    jobs::control(c, JobAction::Pause, id).unwrap(),
                    Status::PauseRequested
                );
                // Pausing again while asked changes nothing.
                assert_eq!(
                    jobs::control(c, JobAction::Pause, id).unwrap(),
                    Status::PauseRequested
                );
            }
        });
        assert!(matches!(out, Outcome::Paused), "{out:?}");
        assert_eq!(files, at);
        done += files;
        assert_eq!(env.status(id), "paused");
        assert_eq!(env.verify(), before, "a paused backup is no backup yet");
        env.sql(&format!("RESUME JOB {id}"));
    }
    let (out, files) = run_with(&env, id, &mut |_, _| {});
    assert!(matches!(out, Outcome::Succeeded { .. }), "{out:?}");
    done += files;
    assert_eq!(env.status(id), "succeeded");
    let after = env.verify();
    assert_eq!(
        after.len(),
        1,
        "the incremental joined the chain: {after:?}"
    );
    // The canceled runs' files stay (write-once), the job's own are all counted once.
    assert_eq!(done, total, "files over the paused and resumed runs");
    assert!(data_files(Path::new(&uri)) >= ssts_before + total as usize);
    env.sql(&format!(
        "RESTORE DATABASE bank FROM LATEST IN '{uri}' WITH new_db_name = 'r'"
    ));
    assert_eq!(
        env.table("SELECT count(*) FROM r.customers").rows[0][0].as_deref(),
        Some("800")
    );
}

#[test]
fn a_foreground_job_whose_process_ended_fails_when_a_runner_adopts_it() {
    let env = Env::new();
    let id = jobs::record_foreground(
        &env.c,
        jobs::JobType::Backup,
        "BACKUP DATABASE bank INTO 's3://b/p?AWS_SECRET_ACCESS_KEY=s3cr3t'",
    )
    .unwrap();
    let t = env.table(&format!("SHOW JOB {id}"));
    assert_eq!(cell(&t, 0, "status").as_deref(), Some("running"));
    assert_eq!(
        cell(&t, 0, "description").as_deref(),
        Some("BACKUP DATABASE bank INTO 's3://b/p?AWS_SECRET_ACCESS_KEY=redacted'")
    );
    let runs = jobs::run_pending(&env.c, None, &mut |_| {}).unwrap();
    assert_eq!(runs.len(), 1);
    assert!(matches!(runs[0].outcome, Outcome::Failed(Error::Usage(_))));
    let t = env.table(&format!("SHOW JOB {id}"));
    assert_eq!(cell(&t, 0, "status").as_deref(), Some("failed"));
    assert_eq!(
        cell(&t, 0, "error"),
        Some(format!("job {id}: the `vouch backup` or `vouch restore` process running it stopped before it finished; run that command again (a backup resumes from its checkpoint)"))
    );
    // A foreground job's end is recorded by its process.
    let id2 = jobs::record_foreground(&env.c, jobs::JobType::Restore, "RESTORE FROM LATEST IN 'x'")
        .unwrap();
    assert_eq!(
        jobs::finish_foreground(&env.c, id2, None, Some("boom")).unwrap(),
        id2
    );
    let t = env.table(&format!("SHOW JOB {id2}"));
    assert_eq!(cell(&t, 0, "status").as_deref(), Some("failed"));
    assert_eq!(cell(&t, 0, "error").as_deref(), Some("boom"));
    assert_eq!(cell(&t, 0, "job_type").as_deref(), Some("RESTORE"));
    // A run that resumed an earlier run's lock finishes that run's job: the earlier
    // record (failed above, adopted) is the one finished, this run's merged into it.
    let id3 = jobs::record_foreground(&env.c, jobs::JobType::Backup, "BACKUP INTO 'y'").unwrap();
    assert_eq!(
        jobs::finish_foreground(&env.c, id3, Some(id), None).unwrap(),
        id
    );
    assert!(matches!(
        env.err(&format!("SHOW JOB {id3}")),
        Error::Job {
            kind: JobErrorKind::NotFound,
            ..
        }
    ));
    let t = env.table(&format!("SHOW JOB {id}"));
    assert_eq!(cell(&t, 0, "status").as_deref(), Some("succeeded"));
    // With no earlier record, this run's record takes the id it ran as.
    let id4 = jobs::record_foreground(&env.c, jobs::JobType::Backup, "BACKUP INTO 'z'").unwrap();
    assert_eq!(
        jobs::finish_foreground(&env.c, id4, Some(77), None).unwrap(),
        77
    );
    let t = env.table("SHOW JOB 77");
    assert_eq!(
        cell(&t, 0, "description").as_deref(),
        Some("BACKUP INTO 'z'")
    );
    assert_eq!(cell(&t, 0, "status").as_deref(), Some("succeeded"));
    assert_eq!(env.table("SHOW JOBS").rows.len(), 3);
}

#[test]
fn a_jobs_secrets_stay_out_of_its_record_in_a_file_of_its_own_until_it_is_final() {
    let env = Env::new();
    let uri = env.uri();
    let secrets = env.c.dir().join(jobs::SECRETS_DIR);
    let id = env.detached(&format!(
        "BACKUP DATABASE bank INTO '{uri}' WITH encryption_passphrase = 'canaryJOBpass', detached"
    ));
    let file = secrets.join(id.to_string());
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        text,
        format!("BACKUP DATABASE bank INTO '{uri}' WITH encryption_passphrase = 'canaryJOBpass', detached")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&secrets), 0o700);
    }
    let canary = |b: &[u8]| b.windows(13).any(|w| w == b"canaryJOBpass");
    for (_, b) in env.c.kv().jobs().unwrap() {
        assert!(!canary(&b));
    }
    let runs = jobs::run_pending(&env.c, None, &mut |_| {}).unwrap();
    assert!(
        matches!(runs[0].outcome, Outcome::Succeeded { .. }),
        "{:?}",
        runs[0].outcome
    );
    assert!(!file.exists(), "a final job's secrets file is deleted");
    env.sql(&format!(
        "RESTORE DATABASE bank FROM LATEST IN '{uri}' WITH new_db_name = 'e', encryption_passphrase = 'canaryJOBpass'"
    ));
    // The store file never held the passphrase (only the secrets file did).
    let store = std::fs::read(env.c.dir().join(vouch_cluster::STORE_FILE)).unwrap();
    assert!(!canary(&store));

    // A job whose secrets file is gone fails, typed, naming it.
    env.c.kv().clock().advance(1_000_000_000);
    let id = env.detached(&format!(
        "BACKUP DATABASE bank INTO '{uri}' WITH encryption_passphrase = 'canaryJOBpass', detached"
    ));
    std::fs::remove_file(secrets.join(id.to_string())).unwrap();
    let runs = jobs::run_pending(&env.c, None, &mut |_| {}).unwrap();
    match &runs[0].outcome {
        Outcome::Failed(e) => {
            assert_eq!(kind(e), JobErrorKind::Secrets);
            assert_eq!(
                e.to_string(),
                format!(
                    "job {id}: its statement needs its secrets, kept in {}: the file is missing",
                    secrets.join(id.to_string()).display()
                )
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(env.status(id), "failed");
    // Canceling a pending job deletes its secrets file too.
    let id = env.detached(&format!(
        "BACKUP DATABASE bank INTO LATEST IN '{uri}' WITH encryption_passphrase = 'canaryJOBpass', detached"
    ));
    assert!(secrets.join(id.to_string()).exists());
    env.sql(&format!("CANCEL JOB {id}"));
    assert!(!secrets.join(id.to_string()).exists());
}

#[test]
fn fraction_completed_follows_the_exported_spans() {
    let env = Env::new();
    env.sql("CREATE TABLE bank.more (id INT PRIMARY KEY, v STRING)");
    env.sql(&format!(
        "INSERT INTO bank.more VALUES {}",
        (0..200)
            .map(|i| format!("({i}, '{}')", "x".repeat(60)))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let uri = env.uri();
    // A cluster backup: the system tables' spans and both tables'.
    let id = env.detached(&format!("BACKUP INTO '{uri}' WITH detached"));
    let fraction = |c: &Cluster| -> f64 {
        let t = jobs::show_table(&[jobs::get(c, id).unwrap()]);
        t.rows[0][col(&t, "fraction_completed")]
            .as_deref()
            .unwrap()
            .parse()
            .unwrap()
    };
    let mut seen = Vec::new();
    let out = jobs::run_observed(&env.c, id, None, &mut |_| seen.push(fraction(&env.c))).unwrap();
    assert!(matches!(out, Outcome::Succeeded { .. }), "{out:?}");
    assert!(seen.len() > 4, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert!(seen.iter().all(|f| (0.0..1.0).contains(f)), "{seen:?}");
    assert!(seen.last().unwrap() > &0.0, "{seen:?}");
    assert_eq!(fraction(&env.c), 1.0);
}
