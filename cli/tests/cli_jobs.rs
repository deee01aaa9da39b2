//! `vouch jobs …` and detached jobs run by `vouch scheduler` as real processes: the CLI
//! mirrors SHOW JOBS / PAUSE / RESUME / CANCEL JOB; a scheduler stopped by SIGTERM and
//! one killed by SIGKILL in the middle of a backup job leave it running, and the next
//! scheduler resumes it from its checkpoint to success (the collection verifying at
//! `--level full`, every data file written once).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{run, s, vouch_bin};

fn ok(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "vouch {args:?}\n{out}\n{err}");
    out
}

fn init(c: &Path, rows: &str) {
    ok(&[
        "cluster",
        "init",
        s(c),
        "--workload",
        "bank",
        "--rows",
        rows,
    ]);
}

/// The job id a detached statement printed.
fn detached(c: &Path, stmt: &str) -> String {
    let out = ok(&["sql", "--cluster", s(c), "-e", stmt]);
    let id = out.lines().nth(2).unwrap().trim().to_string();
    assert!(id.parse::<u64>().is_ok(), "{out}");
    id
}

fn jobs(c: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["jobs", "list", "--cluster", s(c), "--format", "json"];
    args.extend(extra);
    serde_json::from_str::<serde_json::Value>(&ok(&args))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn status(c: &Path, id: &str) -> String {
    let out = ok(&["jobs", "show", id, "--cluster", s(c), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0]["status"].as_str().unwrap().to_string()
}

#[test]
fn vouch_jobs_mirrors_the_job_statements() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    init(&c, "20");
    let id = detached(
        &c,
        "BACKUP DATABASE bank INTO 'nodelocal://1/b' WITH encryption_passphrase = 'pw', detached",
    );
    let list = jobs(&c, &[]);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["job_id"].to_string(), id);
    assert_eq!(list[0]["job_type"], "BACKUP");
    assert_eq!(list[0]["status"], "pending");
    assert_eq!(
        list[0]["description"],
        "BACKUP DATABASE bank INTO 'nodelocal://1/b' WITH encryption_passphrase = '*****', detached"
    );
    let c_ = s(&c);
    assert_eq!(
        ok(&["jobs", "pause", &id, "--cluster", c_]),
        "PAUSE JOBS 1\n"
    );
    assert_eq!(status(&c, &id), "paused");
    assert_eq!(jobs(&c, &["--status", "paused"]).len(), 1);
    assert_eq!(jobs(&c, &["--status", "pending"]).len(), 0);
    // Nothing runs a paused job.
    let out = ok(&["scheduler", "--cluster", c_, "--once"]);
    assert!(out.starts_with("nothing due at "), "{out}");
    assert_eq!(
        ok(&["jobs", "resume", &id, "--cluster", c_]),
        "RESUME JOBS 1\n"
    );
    assert_eq!(status(&c, &id), "running");
    let out = ok(&["scheduler", "--cluster", c_, "--once"]);
    assert!(
        out.starts_with(&format!("ran job {id} (BACKUP): succeeded: 20")),
        "{out}"
    );
    assert_eq!(status(&c, &id), "succeeded");
    // CockroachDB's refusals; a missing job.
    let (code, _, err) = run(&["jobs", "pause", &id, "--cluster", c_]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "error: job with status succeeded cannot be requested to be paused\n"
    );
    let (code, _, err) = run(&["jobs", "show", "5", "--cluster", c_]);
    assert_eq!(code, 2);
    assert_eq!(err, "error: job with ID 5 does not exist\n");

    let id2 = detached(
        &c,
        "BACKUP DATABASE bank INTO LATEST IN 'nodelocal://1/b' WITH encryption_passphrase = 'pw', detached",
    );
    assert_eq!(
        ok(&["jobs", "cancel", &id2, "--cluster", c_]),
        "CANCEL JOBS 1\n"
    );
    assert_eq!(status(&c, &id2), "canceled");
    let (code, _, err) = run(&["jobs", "resume", &id2, "--cluster", c_]);
    assert_eq!(code, 2);
    assert_eq!(err, "error: job with status canceled cannot be resumed\n");
    assert_eq!(jobs(&c, &["--type", "backup"]).len(), 2);
    assert_eq!(jobs(&c, &["--type", "restore"]).len(), 0);
    assert_eq!(jobs(&c, &["--status", "canceled"]).len(), 1);
    let out = ok(&["scheduler", "--cluster", c_, "--once"]);
    assert!(out.starts_with("nothing due at "), "{out}");
    // The passphrase is in no listing.
    let listed = ok(&["jobs", "list", "--cluster", c_]);
    assert!(!listed.contains("'pw'"), "{listed}");

    // `vouch backup` and `vouch restore` are jobs too, under the result's job_id.
    let out = ok(&[
        "backup",
        "--cluster",
        c_,
        "DATABASE",
        "bank",
        "INTO",
        "nodelocal://1/f",
    ]);
    let job = out
        .lines()
        .nth(2)
        .unwrap()
        .split('|')
        .next()
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(status(&c, &job), "succeeded");
    let listed = jobs(&c, &["--type", "backup", "--status", "succeeded"]);
    let row = listed
        .iter()
        .find(|j| j["job_id"].as_u64() == job.parse().ok())
        .unwrap();
    assert_eq!(
        row["description"],
        "BACKUP DATABASE bank INTO nodelocal://1/f"
    );
    let r = d.path().join("r");
    let from = c.join("extern").join("f");
    let out = ok(&[
        "restore",
        "--cluster",
        s(&r),
        "DATABASE",
        "bank",
        "FROM",
        "LATEST",
        "IN",
        s(&from),
    ]);
    let job = out
        .lines()
        .nth(2)
        .unwrap()
        .split('|')
        .next()
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(status(&r, &job), "succeeded");
    let listed = jobs(&r, &[]);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["job_type"], "RESTORE");
    assert_eq!(
        listed[0]["description"],
        format!("RESTORE DATABASE bank FROM LATEST IN {}", s(&from))
    );
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn named(dir: &Path, f: impl Fn(&str) -> bool) -> usize {
    files(dir)
        .iter()
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&f))
        .count()
}

fn checkpoints(dir: &Path) -> usize {
    named(dir, |n| n.starts_with("BACKUP-CHECKPOINT-"))
}

/// A long-running scheduler whose backups park after `park` data files (the
/// `fault-injection` build's `VOUCH_FAULT`), and its stdout lines.
fn scheduler(c: &Path, park: u64) -> (Child, mpsc::Receiver<String>) {
    common::spawn_lines(
        Command::new(vouch_bin())
            .args(["scheduler", "--cluster", s(c), "--poll-ms", "20"])
            .env("VOUCH_FAULT", format!("park-after-files:{park}"))
            .stderr(Stdio::null()),
    )
}

/// Waits (up to a minute: an event, not a measurement) until `dir` holds `n` checkpoints.
fn wait_for_checkpoints(dir: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpoints(dir) < n {
        assert!(
            Instant::now() < deadline,
            "no checkpoint {n} in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: &str) {
    let st = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn a_job_survives_sigterm_and_sigkill_of_its_scheduler_and_the_next_one_finishes_it() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    init(&c, "300");
    {
        // Small data files, so the job has several checkpoints.
        let cluster = vouch_cluster::Cluster::open(&c, vouch_cluster::Clock::system()).unwrap();
        cluster
            .kv()
            .set_setting("bulkio.backup.file_size", b"2048")
            .unwrap();
    }
    let id = detached(
        &c,
        "BACKUP DATABASE bank INTO 'nodelocal://1/b' WITH detached",
    );
    let coll = c.join("extern").join("b");

    // SIGTERM while the backup is parked after its second data file: it stops at that
    // checkpoint, the job stays running, the scheduler exits 0.
    let (mut child, rx) = scheduler(&c, 2);
    let next = |what: &str| {
        rx.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("waiting for {what}: {e}"))
    };
    assert!(next("start").starts_with("scheduler started on "));
    wait_for_checkpoints(&coll, 2);
    signal(&child, "-TERM");
    assert_eq!(
        next("the stopped job"),
        format!("stopped job {id} (BACKUP) between data files: the next pass resumes it")
    );
    assert_eq!(next("the stop"), "scheduler stopped");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(status(&c, &id), "running");
    assert_eq!(checkpoints(&coll), 2);

    // A second scheduler resumes it and is killed (SIGKILL) after two more files.
    let (mut child, _rx) = scheduler(&c, 4);
    wait_for_checkpoints(&coll, 4);
    signal(&child, "-KILL");
    let st = child.wait().unwrap();
    assert_eq!(st.code(), None, "killed by a signal");
    assert_eq!(status(&c, &id), "running");
    assert_eq!(checkpoints(&coll), 4);

    // A third one finishes it.
    let out = ok(&["scheduler", "--cluster", s(&c), "--once"]);
    let line = format!("ran job {id} (BACKUP): succeeded: ");
    assert!(out.starts_with(&line), "{out}");
    let layer = out.trim_end().trim_start_matches(&line).to_string();
    assert_eq!(status(&c, &id), "succeeded");
    let (code, out, err) = run(&["verify", "IN", s(&coll), "--level", "full"]);
    assert_eq!(code, 0, "{out}\n{err}");
    // Each data file was written once: the layer holds exactly the manifest's files.
    let dir = coll.join(&layer);
    let manifest = std::fs::read(dir.join("BACKUP_MANIFEST")).unwrap();
    let m = vouch_format::manifest::decode(&manifest).unwrap();
    assert!(m.files.len() > 4, "{} data files", m.files.len());
    assert_eq!(named(&dir, |n| n.ends_with(".sst")), m.files.len());
    assert_eq!(checkpoints(&dir), m.files.len());
    // The restored cluster has the source's rows.
    let r = d.path().join("r");
    ok(&[
        "restore",
        "--cluster",
        s(&r),
        "DATABASE",
        "bank",
        "FROM",
        "LATEST",
        "IN",
        s(&coll),
    ]);
    let count = |dir: &Path| {
        ok(&[
            "sql",
            "--cluster",
            s(dir),
            "-e",
            "SELECT count(*) FROM bank.bank",
        ])
    };
    assert_eq!(count(&r), count(&c));
}

#[test]
fn a_scheduled_run_stopped_by_sigterm_resumes_as_the_same_job() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    init(&c, "300");
    {
        let cluster = vouch_cluster::Cluster::open(&c, vouch_cluster::Clock::system()).unwrap();
        cluster
            .kv()
            .set_setting("bulkio.backup.file_size", b"2048")
            .unwrap();
    }
    let c_ = s(&c);
    ok(&[
        "schedule",
        "create",
        "weekly",
        "--cluster",
        c_,
        "--database",
        "bank",
        "--into",
        "nodelocal://1/w",
        "--recurring",
        "@weekly",
    ]);
    let coll = c.join("extern").join("w");
    let (mut child, rx) = scheduler(&c, 2);
    let next = |what: &str| {
        rx.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("waiting for {what}: {e}"))
    };
    assert!(next("start").starts_with("scheduler started on "));
    wait_for_checkpoints(&coll, 2);
    signal(&child, "-TERM");
    let line = next("the stopped run");
    assert!(
        line.starts_with("stopped schedule 1 (weekly, full) as of ")
            && line.ends_with(" between data files: the next pass resumes it"),
        "{line}"
    );
    assert_eq!(next("the stop"), "scheduler stopped");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let list = jobs(&c, &["--schedule", "1"]);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "running");
    let id = list[0]["job_id"].to_string();

    // SHOW JOB WHEN COMPLETE on the unfinished run: it completes only when its schedule
    // runs again, so it is refused (WaitSchedule), and nothing moves the job.
    let (code, out, err) = run(&["jobs", "show", &id, "--when-complete", "--cluster", c_]);
    assert_eq!(code, 2, "{out}");
    let why = format!(
        "job {id} is a run of schedule 1: it completes when the schedule runs again (vouch scheduler)"
    );
    assert_eq!(err, format!("error: {why}\n"));
    let (code, out, err) = run(&[
        "sql",
        "--cluster",
        c_,
        "-e",
        &format!("SHOW JOB WHEN COMPLETE {id}"),
    ]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err, format!("ERROR: {why}\n"));
    {
        let cluster = vouch_cluster::Cluster::open(&c, vouch_cluster::Clock::system()).unwrap();
        match vouch_sql::jobs::complete(&cluster, id.parse().unwrap()) {
            Err(vouch_sql::Error::Job { kind, .. }) => {
                assert_eq!(kind, vouch_sql::jobs::JobErrorKind::WaitSchedule)
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(status(&c, &id), "running");
    assert_eq!(checkpoints(&coll), 2);

    let out = ok(&["scheduler", "--cluster", c_, "--once"]);
    assert!(
        out.starts_with("ran schedule 1 (weekly, full) as of ")
            && out.ends_with(&format!(" (job {id})\n")),
        "{out}"
    );
    let list = jobs(&c, &["--schedule", "1"]);
    assert_eq!(list.len(), 1, "the resumed run is the same job");
    assert_eq!(list[0]["status"], "succeeded");
    let (code, out, err) = run(&["verify", "IN", s(&coll), "--level", "full"]);
    assert_eq!(code, 0, "{out}\n{err}");
}

#[test]
fn a_run_its_schedule_gives_up_is_a_canceled_job() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    init(&c, "300");
    {
        let cluster = vouch_cluster::Cluster::open(&c, vouch_cluster::Clock::system()).unwrap();
        cluster
            .kv()
            .set_setting("bulkio.backup.file_size", b"2048")
            .unwrap();
    }
    let c_ = s(&c);
    ok(&["cluster", "clock", c_, "--set", "2030-01-01 10:00:00"]);
    ok(&[
        "schedule",
        "create",
        "weekly",
        "--cluster",
        c_,
        "--database",
        "bank",
        "--into",
        "nodelocal://1/w",
        "--recurring",
        "@weekly",
        "--on-previous-running",
        "start",
    ]);
    let coll = c.join("extern").join("w");
    let (mut child, rx) = scheduler(&c, 2);
    wait_for_checkpoints(&coll, 2);
    signal(&child, "-TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    // Its last line (the reader thread ends with the output).
    let lines: Vec<String> = rx.iter().collect();
    assert_eq!(lines.last().map(String::as_str), Some("scheduler stopped"));
    let first = jobs(&c, &["--schedule", "1"]);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["status"], "running");
    // A week later the crontab's next time is past: `start` runs it and gives the
    // unfinished run up, whose job is canceled.
    ok(&["cluster", "clock", c_, "--advance", "8d"]);
    let out = ok(&["scheduler", "--cluster", c_, "--once"]);
    assert!(out.contains(": succeeded: "), "{out}");
    let list = jobs(&c, &["--schedule", "1"]);
    assert_eq!(list.len(), 2, "{list:?}");
    let old = list
        .iter()
        .find(|j| j["job_id"] == first[0]["job_id"])
        .unwrap();
    assert_eq!(old["status"], "canceled");
    assert_eq!(old["error"], "canceled: its schedule gave this run up");
    assert!(list.iter().any(|j| j["status"] == "succeeded"));
    let (code, out, err) = run(&["verify", "IN", s(&coll), "--level", "full"]);
    assert_eq!(code, 0, "{out}\n{err}");
}

#[test]
fn a_running_schedulers_job_pauses_and_cancels_on_requests_from_another_process() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    init(&c, "300");
    {
        let cluster = vouch_cluster::Cluster::open(&c, vouch_cluster::Clock::system()).unwrap();
        cluster
            .kv()
            .set_setting("bulkio.backup.file_size", b"2048")
            .unwrap();
    }
    let c_ = s(&c);
    let coll = c.join("extern").join("b");
    let backups = || {
        let out = ok(&[
            "sql",
            "--cluster",
            c_,
            "-e",
            "SHOW BACKUPS IN 'nodelocal://1/b'",
        ]);
        out.lines().count() - 3
    };
    let verify = || {
        let (code, out, err) = run(&["verify", "IN", s(&coll), "--level", "full"]);
        assert_eq!(code, 0, "{out}\n{err}");
    };
    ok(&[
        "sql",
        "--cluster",
        c_,
        "-e",
        "BACKUP DATABASE bank INTO 'nodelocal://1/b'",
    ]);
    let id = detached(
        &c,
        "BACKUP DATABASE bank INTO 'nodelocal://1/b' WITH detached",
    );
    // The first backup's checkpoints.
    let base = checkpoints(&coll);
    let (mut child, rx) = scheduler(&c, 2);
    let next = |what: &str| {
        rx.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("waiting for {what}: {e}"))
    };
    assert!(next("start").starts_with("scheduler started on "));

    // Paused while the scheduler holds the cluster (parked after the job's second data
    // file): the request is left for it.
    wait_for_checkpoints(&coll, base + 2);
    assert_eq!(
        ok(&["jobs", "pause", &id, "--cluster", c_]),
        format!("PAUSE JOB {id} requested: the cluster is in use; the process running the job applies it at its next checkpoint\n")
    );
    assert_eq!(next("the pause"), format!("ran job {id} (BACKUP): paused"));
    assert_eq!(status(&c, &id), "paused");
    assert_eq!(backups(), 1);
    verify();
    // Resumed, the running scheduler's next pass continues it from its checkpoint.
    assert_eq!(
        ok(&["jobs", "resume", &id, "--cluster", c_]),
        "RESUME JOBS 1\n"
    );
    let line = next("the resumed run");
    assert!(
        line.starts_with(&format!("ran job {id} (BACKUP): succeeded: ")),
        "{line}"
    );
    assert_eq!(status(&c, &id), "succeeded");
    assert_eq!(backups(), 2);
    verify();

    // Canceled the same way: no new backup, the earlier ones intact.
    let id2 = detached(
        &c,
        "BACKUP DATABASE bank INTO 'nodelocal://1/b' WITH detached",
    );
    wait_for_checkpoints(&coll, checkpoints(&coll) + 2);
    assert!(ok(&["jobs", "cancel", &id2, "--cluster", c_])
        .starts_with(&format!("CANCEL JOB {id2} requested: ")));
    assert_eq!(
        next("the cancel"),
        format!("ran job {id2} (BACKUP): canceled")
    );
    assert_eq!(status(&c, &id2), "canceled");
    assert_eq!(backups(), 2);
    verify();

    signal(&child, "-TERM");
    assert_eq!(next("the stop"), "scheduler stopped");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// The seed pages' job statements (`PAUSE JOB …;`, `RESUME JOB …;`, as `> ` lines of
/// their SQL blocks), in page order.
fn seed_job_statements() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql/tests/seeds");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    pages.sort();
    let mut out = Vec::new();
    for p in pages {
        for line in std::fs::read_to_string(&p).unwrap().lines() {
            if let Some(st) = line.trim().strip_prefix("> ") {
                if st.contains(" JOB") {
                    out.push(st.to_string());
                }
            }
        }
    }
    out
}

#[test]
fn the_seed_job_statements_run_verbatim_through_vouch_sql() {
    let seeds = seed_job_statements();
    assert_eq!(
        seeds,
        ["PAUSE JOB 27536791415282;", "RESUME JOB 27536791415282;"]
    );
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    init(&c, "20");
    let c_ = s(&c);
    // As written: this cluster has no job with the page's id.
    for st in &seeds {
        let (code, out, err) = run(&["sql", "--cluster", c_, "-e", st]);
        assert_eq!(code, 1, "{st}");
        assert_eq!(out, "");
        assert_eq!(err, "ERROR: job with ID 27536791415282 does not exist\n");
    }
    // On the page's restore (started, detached), with this cluster's job id for the page's.
    ok(&[
        "sql",
        "--cluster",
        c_,
        "-e",
        "BACKUP DATABASE bank INTO 'nodelocal://1/s'",
    ]);
    let id = detached(
        &c,
        "RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/s' WITH new_db_name = 'bank2', detached",
    );
    let mine = |st: &str| st.replace("27536791415282", &id);
    assert_eq!(
        ok(&["sql", "--cluster", c_, "-e", &mine(&seeds[0])]),
        "PAUSE JOBS 1\n"
    );
    assert_eq!(status(&c, &id), "paused");
    assert_eq!(
        ok(&["sql", "--cluster", c_, "-e", &mine(&seeds[1])]),
        "RESUME JOBS 1\n"
    );
    assert_eq!(status(&c, &id), "running");
    let out = ok(&["scheduler", "--cluster", c_, "--once"]);
    assert_eq!(out, format!("ran job {id} (RESTORE): succeeded\n"));
    let count = |db: &str| {
        ok(&[
            "sql",
            "--cluster",
            c_,
            "-e",
            &format!("SELECT count(*) FROM {db}.bank"),
        ])
    };
    assert_eq!(count("bank2"), count("bank"));
}
