//! Detached RESTORE jobs run by a real `vouch scheduler` process (spec/jobs.md §3): parked
//! at a table's checkpoint (the `fault-injection` build's `VOUCH_FAULT=park-after-tables:N`,
//! which says so in the file `VOUCH_FAULT_MARKER` names), the job is paused by `vouch sql`
//! while the scheduler holds the cluster, resumed, stopped by SIGTERM and finished by the
//! next scheduler, its rows equal to the source's; another one is canceled the same way and
//! leaves no table and no row; `vouch jobs show --when-complete` waits for a scheduler and
//! finishes what no one runs.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{run, s, vouch_bin};
use vouch_cluster::{Clock, Cluster};
use vouch_format::keys::table_span;

fn ok(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "vouch {args:?}\n{out}\n{err}");
    out
}

fn sql(c: &Path, stmt: &str) -> String {
    ok(&["sql", "--cluster", s(c), "-e", stmt])
}

/// A cluster with database `shop` (tables a … d, 40 to 160 rows), backed up into
/// `nodelocal://1/s`; restores use one worker (one table at a time).
fn setup(d: &Path) -> PathBuf {
    let c = d.join("c");
    sql(&c, "CREATE DATABASE shop");
    for (i, t) in ["a", "b", "c", "d"].iter().enumerate() {
        let values: Vec<String> = (0..40 * (i + 1))
            .map(|k| format!("({k}, '{t}-{k}-{}')", "y".repeat(30)))
            .collect();
        sql(
            &c,
            &format!(
                "CREATE TABLE shop.{t} (id INT PRIMARY KEY, v STRING); INSERT INTO shop.{t} VALUES {}",
                values.join(", ")
            ),
        );
    }
    sql(&c, "BACKUP DATABASE shop INTO 'nodelocal://1/s'");
    let cluster = Cluster::open(&c, Clock::system()).unwrap();
    cluster
        .kv()
        .set_setting("kv.bulk_io_write.restore_node_concurrency", b"1")
        .unwrap();
    c
}

/// The job id a detached statement printed.
fn detached(c: &Path, stmt: &str) -> String {
    let out = sql(c, stmt);
    let id = out.lines().nth(2).unwrap().trim().to_string();
    assert!(id.parse::<u64>().is_ok(), "{out}");
    id
}

fn restore_into(c: &Path, db: &str) -> String {
    detached(
        c,
        &format!("RESTORE DATABASE shop FROM LATEST IN 'nodelocal://1/s' WITH new_db_name = '{db}', detached"),
    )
}

fn show(c: &Path, id: &str) -> serde_json::Value {
    let out = ok(&["jobs", "show", id, "--cluster", s(c), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0].clone()
}

/// A long-running scheduler whose restores park after their `park`-th table, writing
/// `marker` when they do; its stdout lines.
fn scheduler(c: &Path, park: u64, marker: &Path) -> (Child, mpsc::Receiver<String>) {
    scheduler_with(c, &format!("park-after-tables:{park}"), marker)
}

/// A long-running scheduler with the faults `fault` (`VOUCH_FAULT`), writing `marker`
/// where they park; its stdout lines.
fn scheduler_with(c: &Path, fault: &str, marker: &Path) -> (Child, mpsc::Receiver<String>) {
    let _ = std::fs::remove_file(marker);
    common::spawn_lines(
        Command::new(vouch_bin())
            .args(["scheduler", "--cluster", s(c), "--poll-ms", "20"])
            .env("VOUCH_FAULT", fault)
            .env("VOUCH_FAULT_MARKER", marker)
            .stderr(Stdio::null()),
    )
}

/// Waits (up to a minute: an event, not a measurement) for the park marker.
fn wait_parked(marker: &Path, n: u64) {
    wait_marker(marker, &n.to_string());
}

/// Waits (up to a minute) for the park marker to say `what`.
fn wait_marker(marker: &Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(marker).ok().as_deref() != Some(what) {
        assert!(Instant::now() < deadline, "not parked: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGKILL: the process ends at once, by the signal.
fn kill(mut child: Child) {
    let st = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(child.wait().unwrap().code(), None, "killed by a signal");
}

/// Every descriptor revision under the ids a job's checkpoint allocated: (id, time).
fn revisions(c: &Path, ck: &vouch_format::manifest::pb::RestoreCheckpoint) -> Vec<(u64, u64)> {
    let cluster = Cluster::open(c, Clock::system()).unwrap();
    let end = ck.first_new_id + ck.new_ids;
    cluster
        .descriptor_revisions(
            vouch_format::mvcc::Timestamp::MIN,
            vouch_format::mvcc::Timestamp::MAX,
        )
        .unwrap()
        .into_iter()
        .filter(|r| (ck.first_new_id..end).contains(&r.id))
        .map(|r| (r.id, r.time.map_or(0, |t| t.wall)))
        .collect()
}

fn next(rx: &mpsc::Receiver<String>, what: &str) -> String {
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("waiting for {what}: {e}"))
}

fn terminate(mut child: Child, rx: &mpsc::Receiver<String>) {
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let mut last = String::new();
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(60)) {
        last = l;
        if last == "scheduler stopped" {
            break;
        }
    }
    assert_eq!(last, "scheduler stopped");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// Index fingerprints (table, index, fingerprint, entries) of database `db`.
fn fingerprints(c: &Path, db: &str) -> Vec<(String, String, u64, u64)> {
    let cluster = Cluster::open(c, Clock::system()).unwrap();
    cluster
        .fingerprints(cluster.now())
        .unwrap()
        .into_iter()
        .filter(|f| f.database == db)
        .map(|f| (f.table, f.index, f.fingerprint, f.entries))
        .collect()
}

/// The job's restore checkpoint and the live keys under its ids.
fn checkpoint_and_live_keys(
    c: &Path,
    id: &str,
) -> (vouch_format::manifest::pb::RestoreCheckpoint, usize) {
    let cluster = Cluster::open(c, Clock::system()).unwrap();
    let r = vouch_sql::jobs::get(&cluster, id.parse().unwrap()).unwrap();
    let ck = r.restore_checkpoint.unwrap();
    let mut n = 0;
    for t in ck.first_new_id..ck.first_new_id + ck.new_ids {
        let (a, b) = table_span(t);
        cluster
            .kv()
            .scan(&a, &b, cluster.now(), |_, _| {
                n += 1;
                Ok(())
            })
            .unwrap();
    }
    (ck, n)
}

fn verify(c: &Path) {
    let coll = c.join("extern").join("s");
    let (code, out, err) = run(&["verify", "IN", s(&coll), "--level", "full"]);
    assert_eq!(code, 0, "{out}\n{err}");
}

#[test]
fn a_detached_restore_under_a_scheduler_pauses_stops_resumes_and_cancels() {
    let d = tempfile::tempdir().unwrap();
    let c = setup(d.path());
    let marker = d.path().join("parked");
    let id = restore_into(&c, "shop2");

    // Parked after its first table; `vouch sql` PAUSE JOB while the scheduler has the
    // cluster: a request, applied at that checkpoint.
    let (child, rx) = scheduler(&c, 1, &marker);
    assert!(next(&rx, "start").starts_with("scheduler started on "));
    wait_parked(&marker, 1);
    assert_eq!(
        sql(&c, &format!("PAUSE JOB {id};")),
        format!("PAUSE JOB {id} requested: the cluster is in use; the process running the job applies it at its next checkpoint\n")
    );
    assert_eq!(
        next(&rx, "the pause"),
        format!("ran job {id} (RESTORE): paused")
    );
    terminate(child, &rx);
    let j = show(&c, &id);
    assert_eq!(j["status"], "paused");
    assert_eq!(j["fraction_completed"], "0.25");
    assert_eq!(j["coordinator_id"], 1);
    assert!(fingerprints(&c, "shop2").is_empty(), "nothing published");

    // Resumed; stopped by SIGTERM after its second table: it stays running.
    assert_eq!(sql(&c, &format!("RESUME JOB {id}")), "RESUME JOBS 1\n");
    let (child, rx) = scheduler(&c, 2, &marker);
    assert!(next(&rx, "start").starts_with("scheduler started on "));
    wait_parked(&marker, 2);
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(
        next(&rx, "the stop"),
        format!("stopped job {id} (RESTORE) between tables: the next pass resumes it")
    );
    assert_eq!(next(&rx, "the end"), "scheduler stopped");
    let mut child = child;
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(show(&c, &id)["status"], "running");
    let (ck, _) = checkpoint_and_live_keys(&c, &id);
    assert_eq!(ck.done.len(), 2);

    // The next scheduler finishes it from there: the rows equal the source's.
    let out = ok(&["scheduler", "--cluster", s(&c), "--once"]);
    assert_eq!(out, format!("ran job {id} (RESTORE): succeeded\n"));
    let (ck2, _) = checkpoint_and_live_keys(&c, &id);
    assert_eq!(ck2.done[..2], ck.done[..], "the tables done stay done");
    assert_eq!(ck2.done.len(), 4);
    let want = fingerprints(&c, "shop");
    assert_eq!(want.len(), 4);
    assert_eq!(fingerprints(&c, "shop2"), want);
    assert_eq!(show(&c, &id)["status"], "succeeded");

    // Another one canceled at its second table through `vouch sql`: no table,
    // no row under its ids, the backup intact.
    let id2 = restore_into(&c, "shop3");
    let (child, rx) = scheduler(&c, 2, &marker);
    assert!(next(&rx, "start").starts_with("scheduler started on "));
    wait_parked(&marker, 2);
    assert!(
        sql(&c, &format!("CANCEL JOB {id2}")).starts_with(&format!("CANCEL JOB {id2} requested: "))
    );
    assert_eq!(
        next(&rx, "the cancel"),
        format!("ran job {id2} (RESTORE): canceled")
    );
    terminate(child, &rx);
    let j = show(&c, &id2);
    assert_eq!(j["status"], "canceled");
    assert_eq!(j["error"], "job canceled by user");
    let (ck, live) = checkpoint_and_live_keys(&c, &id2);
    assert_eq!(ck.done.len(), 2);
    assert_eq!(live, 0);
    assert!(fingerprints(&c, "shop3").is_empty());
    verify(&c);
}

#[test]
fn vouch_jobs_show_when_complete_waits_for_the_scheduler_and_finishes_what_no_one_runs() {
    let d = tempfile::tempdir().unwrap();
    let c = setup(d.path());
    let marker = d.path().join("parked");
    // No scheduler: the command runs the pending job itself.
    let id = restore_into(&c, "shop2");
    let out = ok(&[
        "jobs",
        "show",
        &id,
        "--when-complete",
        "--cluster",
        s(&c),
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["status"], "succeeded");
    assert_eq!(fingerprints(&c, "shop2"), fingerprints(&c, "shop"));

    // A scheduler holds the cluster with the job parked: the command waits for it
    // (saying so once), the scheduler is stopped by SIGTERM, and the command finishes
    // the job from its checkpoint.
    let id2 = restore_into(&c, "shop3");
    let (child, rx) = scheduler(&c, 1, &marker);
    assert!(next(&rx, "start").starts_with("scheduler started on "));
    wait_parked(&marker, 1);
    let waiter = Command::new(vouch_bin())
        .args(["jobs", "show", &id2, "--when-complete", "--cluster", s(&c)])
        .args(["--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    terminate(child, &rx);
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.is_empty() || err.starts_with("waiting for the cluster in "),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["status"], "succeeded");
    assert_eq!(fingerprints(&c, "shop3"), fingerprints(&c, "shop"));

    // A paused job: exit 2, the typed refusal's message.
    let id3 = restore_into(&c, "shop4");
    ok(&["jobs", "pause", &id3, "--cluster", s(&c)]);
    let (code, out, err) = run(&["jobs", "show", &id3, "--when-complete", "--cluster", s(&c)]);
    assert_eq!(code, 2, "{out}");
    assert_eq!(
        err,
        format!("error: job {id3} is paused: it will not complete until it is resumed (RESUME JOB {id3})\n")
    );
    let (code, _, err) = run(&[
        "sql",
        "--cluster",
        s(&c),
        "-e",
        &format!("SHOW JOB WHEN COMPLETE {id3}"),
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!("ERROR: job {id3} is paused: it will not complete until it is resumed (RESUME JOB {id3})\n")
    );
}

#[test]
fn a_restore_job_survives_sigkill_of_its_scheduler_at_a_checkpoint_and_in_a_table() {
    let d = tempfile::tempdir().unwrap();
    let c = setup(d.path());
    let marker = d.path().join("parked");
    let id = restore_into(&c, "shop2");

    // SIGKILL while parked at its second table's checkpoint: the job stays running with
    // two tables done, nothing published.
    let (child, rx) = scheduler(&c, 2, &marker);
    assert!(next(&rx, "start").starts_with("scheduler started on "));
    wait_parked(&marker, 2);
    kill(child);
    assert_eq!(show(&c, &id)["status"], "running");
    let (ck, _) = checkpoint_and_live_keys(&c, &id);
    assert_eq!(ck.done.len(), 2);
    assert!(fingerprints(&c, "shop2").is_empty(), "nothing published");

    // The next one is killed in the middle of the third table: its first row written, the
    // table not done.
    let (child, rx) = scheduler_with(&c, "park-in-table:3", &marker);
    assert!(next(&rx, "start").starts_with("scheduler started on "));
    wait_marker(&marker, "in-table:3");
    kill(child);
    assert_eq!(show(&c, &id)["status"], "running");
    let (ck2, live) = checkpoint_and_live_keys(&c, &id);
    assert_eq!(ck2.done, ck.done, "the half-written table is not done");
    let done_rows: u64 = ck.done.iter().map(|t| t.rows + t.index_entries).sum();
    assert_eq!(live as u64, done_rows + 1, "the third table's first row");

    // The third finishes it: the tables done kept, the half-written one written again
    // whole, each object published once, the rows the source's.
    let out = ok(&["scheduler", "--cluster", s(&c), "--once"]);
    assert_eq!(out, format!("ran job {id} (RESTORE): succeeded\n"));
    assert_eq!(show(&c, &id)["status"], "succeeded");
    let (ck3, live) = checkpoint_and_live_keys(&c, &id);
    assert_eq!(ck3.done[..2], ck.done[..]);
    assert_eq!(ck3.done.len(), 4);
    let all_rows: u64 = ck3.done.iter().map(|t| t.rows + t.index_entries).sum();
    assert_eq!(live as u64, all_rows);
    let revs = revisions(&c, &ck3);
    assert_eq!(revs.len() as u64, ck3.new_ids, "each object published once");
    let want = fingerprints(&c, "shop");
    assert_eq!(want.len(), 4);
    assert_eq!(fingerprints(&c, "shop2"), want);
    verify(&c);
}

#[test]
fn a_restore_job_killed_after_it_published_is_finished_by_the_next_scheduler() {
    let d = tempfile::tempdir().unwrap();
    let c = setup(d.path());
    let marker = d.path().join("parked");
    let id = restore_into(&c, "shop2");

    // SIGKILL once its objects are published, before the job is marked succeeded.
    let (child, rx) = scheduler_with(&c, "park-after-publish", &marker);
    assert!(next(&rx, "start").starts_with("scheduler started on "));
    wait_marker(&marker, "published");
    kill(child);
    assert_eq!(show(&c, &id)["status"], "running");
    let (ck, _) = checkpoint_and_live_keys(&c, &id);
    assert_eq!(ck.done.len(), 4);
    let published = revisions(&c, &ck);
    assert_eq!(published.len() as u64, ck.new_ids);
    let want = fingerprints(&c, "shop");
    assert_eq!(fingerprints(&c, "shop2"), want, "published whole");

    // The next scheduler finds its own objects published: succeeded, no name collision,
    // nothing published again.
    let out = ok(&["scheduler", "--cluster", s(&c), "--once"]);
    assert_eq!(out, format!("ran job {id} (RESTORE): succeeded\n"));
    let j = show(&c, &id);
    assert_eq!(j["status"], "succeeded");
    assert_eq!(j["error"], "");
    assert_eq!(j["fraction_completed"], 1);
    assert_eq!(revisions(&c, &ck), published, "no object published twice");
    assert_eq!(fingerprints(&c, "shop2"), want);
    verify(&c);
}

/// `vouch restore` (not detached) run with `VOUCH_FAULT` `fault`: the child and the job id
/// it says on stderr once its first table is done (the rest of stderr in the receiver).
fn vouch_restore(
    target: &Path,
    coll: &Path,
    db: Option<&str>,
    fault: &str,
    marker: &Path,
) -> (Child, String, mpsc::Receiver<String>) {
    let _ = std::fs::remove_file(marker);
    let mut cmd = Command::new(vouch_bin());
    cmd.args(["restore", "--cluster", s(target), "--jobs", "1"])
        .args(["DATABASE", "shop", "FROM", "LATEST", "IN", s(coll)]);
    if let Some(db) = db {
        cmd.args(["--new-db-name", db]);
    }
    let mut child = cmd
        .env("VOUCH_FAULT", fault)
        .env("VOUCH_FAULT_MARKER", marker)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let first = next(&rx, "the job id");
    let id = first
        .strip_prefix("restore job ")
        .and_then(|r| r.split(':').next())
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    assert_eq!(
        first,
        format!("restore job {id}: 1 of 4 tables done; `vouch jobs pause|cancel {id}` stops it at its next table")
    );
    (child, id, rx)
}

#[test]
fn vouch_restore_stops_at_its_next_table_on_pause_and_cancel_requests_from_another_process() {
    let d = tempfile::tempdir().unwrap();
    let c = setup(d.path());
    let coll = c.join("extern").join("s");
    let marker = d.path().join("parked");
    let want = fingerprints(&c, "shop");
    assert_eq!(want.len(), 4);

    // Into a new cluster, paused by `vouch jobs pause` from another process while it is
    // parked after its first table: it stops there, says how to finish it, exit 2; the
    // cluster it made stays, with the job paused and nothing published.
    let r = d.path().join("r");
    let (mut child, id, rx) = vouch_restore(&r, &coll, None, "park-after-tables:1", &marker);
    wait_parked(&marker, 1);
    assert_eq!(
        ok(&["jobs", "pause", &id, "--cluster", s(&r)]),
        format!("PAUSE JOB {id} requested: the cluster is in use; the process running the job applies it at its next checkpoint\n")
    );
    assert_eq!(child.wait().unwrap().code(), Some(2));
    let rest: Vec<String> = rx.iter().collect();
    let r_ = s(&r);
    assert_eq!(
        rest,
        [format!("error: job {id} was paused before it completed: `vouch jobs resume {id} --cluster {r_}` then `vouch scheduler --cluster {r_}` (or `vouch jobs show {id} --when-complete --cluster {r_}`) finishes it")]
    );
    let j = show(&r, &id);
    assert_eq!(j["status"], "paused");
    assert_eq!(j["fraction_completed"], "0.25");
    assert!(fingerprints(&r, "shop").is_empty(), "nothing published");
    // Resumed, a scheduler finishes it from its checkpoint.
    assert_eq!(
        ok(&["jobs", "resume", &id, "--cluster", s(&r)]),
        "RESUME JOBS 1\n"
    );
    let out = ok(&["scheduler", "--cluster", s(&r), "--once"]);
    assert_eq!(out, format!("ran job {id} (RESTORE): succeeded\n"));
    let (ck, live) = checkpoint_and_live_keys(&r, &id);
    assert_eq!(ck.done.len(), 4);
    assert_eq!(
        live as u64,
        ck.done
            .iter()
            .map(|t| t.rows + t.index_entries)
            .sum::<u64>()
    );
    assert_eq!(fingerprints(&r, "shop"), want);

    // Into the source's cluster as shop2, paused the same way and finished by `vouch jobs
    // show --when-complete`.
    let (mut child, id2, _rx) =
        vouch_restore(&c, &coll, Some("shop2"), "park-after-tables:2", &marker);
    wait_parked(&marker, 2);
    ok(&["jobs", "pause", &id2, "--cluster", s(&c)]);
    assert_eq!(child.wait().unwrap().code(), Some(2));
    assert_eq!(show(&c, &id2)["status"], "paused");
    ok(&["jobs", "resume", &id2, "--cluster", s(&c)]);
    let out = ok(&[
        "jobs",
        "show",
        &id2,
        "--when-complete",
        "--cluster",
        s(&c),
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["status"], "succeeded");
    assert_eq!(fingerprints(&c, "shop2"), want);

    // Canceled by `vouch jobs cancel`: exit 2, no table, no row under its ids.
    let (mut child, id3, rx) =
        vouch_restore(&c, &coll, Some("shop3"), "park-after-tables:2", &marker);
    wait_parked(&marker, 2);
    assert!(ok(&["jobs", "cancel", &id3, "--cluster", s(&c)])
        .starts_with(&format!("CANCEL JOB {id3} requested: ")));
    assert_eq!(child.wait().unwrap().code(), Some(2));
    let rest: Vec<String> = rx.iter().collect();
    assert_eq!(rest, [format!("error: job {id3}: job canceled by user")]);
    let j = show(&c, &id3);
    assert_eq!(j["status"], "canceled");
    let (ck, live) = checkpoint_and_live_keys(&c, &id3);
    assert_eq!(ck.done.len(), 2);
    assert_eq!(live, 0);
    assert!(fingerprints(&c, "shop3").is_empty());
    verify(&c);
}

#[test]
fn a_paused_vouch_restore_of_an_encrypted_backup_keeps_its_passphrase_only_in_its_secrets_file() {
    let d = tempfile::tempdir().unwrap();
    let c = setup(d.path());
    let pw = "canary-passphrase-7f3a";
    sql(
        &c,
        &format!("BACKUP DATABASE shop INTO 'nodelocal://1/e' WITH encryption_passphrase = '{pw}'"),
    );
    let coll = c.join("extern").join("e");
    let pw_file = d.path().join("pw");
    std::fs::write(&pw_file, format!("{pw}\n")).unwrap();
    let marker = d.path().join("parked");
    let r = d.path().join("r");
    let _ = std::fs::remove_file(&marker);
    let child = Command::new(vouch_bin())
        .args(["restore", "--cluster", s(&r), "--jobs", "1"])
        .args(["DATABASE", "shop", "FROM", "LATEST", "IN", s(&coll)])
        .args(["--encryption-passphrase-file", s(&pw_file)])
        .env("VOUCH_FAULT", "park-after-tables:1")
        .env("VOUCH_FAULT_MARKER", &marker)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_parked(&marker, 1);
    // The job's id: the one file of the secrets folder while the job is unfinished.
    let secrets = r.join("job-secrets");
    let names: Vec<String> = std::fs::read_dir(&secrets)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let id = names[0].clone();
    ok(&["jobs", "pause", &id, "--cluster", s(&r)]);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(
        stderr.contains(&format!("error: job {id} was paused")),
        "{stderr}"
    );
    assert!(!stdout.contains(pw) && !stderr.contains(pw));
    // The passphrase is in the secrets file (0600) and nowhere in the record.
    use std::os::unix::fs::PermissionsExt;
    let f = secrets.join(&id);
    assert_eq!(
        std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(std::fs::read_to_string(&f).unwrap().contains(pw));
    let shown = ok(&["jobs", "show", &id, "--cluster", s(&r), "--format", "json"]);
    assert!(!shown.contains(pw), "{shown}");
    {
        let cluster = Cluster::open(&r, Clock::system()).unwrap();
        let rec = vouch_sql::jobs::get(&cluster, id.parse().unwrap()).unwrap();
        assert!(!rec.execute.contains(pw) && !rec.description.contains(pw));
        assert!(
            rec.execute.contains("encryption_passphrase = '*****'"),
            "{}",
            rec.execute
        );
    }
    // Resumed, the scheduler reads the passphrase from the file and finishes; the file goes.
    ok(&["jobs", "resume", &id, "--cluster", s(&r)]);
    let out = ok(&["scheduler", "--cluster", s(&r), "--once"]);
    assert_eq!(out, format!("ran job {id} (RESTORE): succeeded\n"));
    assert!(!f.exists());
    assert_eq!(fingerprints(&r, "shop"), fingerprints(&c, "shop"));
}
