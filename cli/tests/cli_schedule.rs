//! `vouch schedule …`, `vouch cluster clock` and `vouch scheduler` as real processes: a
//! schedule run by `scheduler --once` over simulated days on the cluster's manual clock
//! (fulls on the cadence rule, incrementals chained, every layer verifying at
//! `--level full`), managed from the CLI, and a long-running scheduler stopped by SIGTERM.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{text, vouch, vouch_bin};

fn run(args: &[&str]) -> (i32, String, String) {
    let o = vouch(args);
    (
        o.status.code().unwrap_or(-1),
        text(&o.stdout),
        text(&o.stderr),
    )
}

fn ok(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "vouch {args:?}\n{out}\n{err}");
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The scheduler's lines without their (random) job ids.
fn runs(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| l.split(" (job ").next().unwrap_or(l).to_string())
        .collect()
}

fn schedules(c: &str) -> Vec<serde_json::Value> {
    let out = ok(&["schedule", "list", "--cluster", c, "--format", "json"]);
    serde_json::from_str::<serde_json::Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_schedule_over_simulated_days_verifies_and_is_managed_from_the_cli() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    let c = s(&c).to_string();
    let c = c.as_str();
    ok(&["cluster", "init", c, "--workload", "bank", "--rows", "20"]);
    // A Tuesday, after the workload's writes (at the system time).
    assert_eq!(
        ok(&["cluster", "clock", c, "--set", "2030-01-01 10:00:00"]),
        "manual clock at 2030-01-01 10:00:00+00:00\n"
    );
    let out = ok(&[
        "schedule",
        "create",
        "nightly",
        "--cluster",
        c,
        "--database",
        "bank",
        "--into",
        "nodelocal://1/nightly",
        "--recurring",
        "@daily",
    ]);
    assert!(
        out.contains("| nightly | PAUSED: Waiting for initial backup to complete | NULL"),
        "{out}"
    );
    let list = schedules(c);
    assert_eq!(list.len(), 2);
    let inc = list[0]["id"].as_u64().unwrap().to_string();
    let full = list[1]["id"].as_u64().unwrap().to_string();
    assert_eq!(list[1]["recurrence"], "@weekly");
    assert_eq!(list[1]["next_run"], "2030-01-01 10:00:00+00:00");

    let once = || runs(&ok(&["scheduler", "--cluster", c, "--once"]));
    assert_eq!(
        once(),
        [format!(
            "ran schedule {full} (nightly, full) as of 2030-01-01 10:00:00+00:00: succeeded: 2030/01/01-100000.00"
        )]
    );
    assert_eq!(once(), ["nothing due at 2030-01-01 10:00:00+00:00"]);

    let mut lines = Vec::new();
    for _ in 2..=7 {
        ok(&["cluster", "run", c, "--workload", "bank", "--ops", "5"]);
        ok(&["cluster", "clock", c, "--advance", "1d"]);
        lines.extend(once());
    }
    let inc_line = |day: u32| {
        format!("ran schedule {inc} (nightly, incremental) as of 2030-01-{day:02} 00:00:00+00:00: succeeded: incrementals/2030/01/01-100000.00/2030010{day}/")
    };
    for (i, day) in [2u32, 3, 4, 5, 6].iter().enumerate() {
        assert!(lines[i].starts_with(&inc_line(*day)), "{lines:?}");
    }
    // Sunday: the incremental ends the first chain, then a full starts the second.
    assert_eq!(
        lines[5],
        format!("ran schedule {full} (nightly, full) as of 2030-01-06 00:00:00+00:00: succeeded: 2030/01/06-000000.00")
    );
    assert!(
        lines[6].starts_with(&format!(
            "ran schedule {inc} (nightly, incremental) as of 2030-01-07 00:00:00+00:00: succeeded: incrementals/2030/01/06-000000.00/20300107/"
        )),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 7, "{lines:?}");

    // Every layer of both chains verifies at the full level.
    let root = Path::new(c).join("extern").join("nightly");
    let (code, out, err) = run(&[
        "verify",
        "IN",
        s(&root),
        "--level",
        "full",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["errors"], 0);
    let layers: Vec<usize> = j["chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ch| ch["layers"].as_array().unwrap().len())
        .collect();
    assert_eq!(layers, [6, 2]);

    // Managed from the CLI.
    ok(&["schedule", "pause", &inc, "--cluster", c]);
    let list = schedules(c);
    assert_eq!(list[0]["schedule_status"], "PAUSED");
    assert_eq!(list[0]["next_run"], serde_json::Value::Null);
    ok(&["schedule", "resume", &inc, "--cluster", c]);
    let show = ok(&["schedule", "show", &inc, "--cluster", c, "--format", "json"]);
    let show: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(show[0]["schedule_status"], "ACTIVE");
    assert_eq!(show[0]["next_run"], "2030-01-08 00:00:00+00:00");
    let out = ok(&[
        "schedule",
        "alter",
        &full,
        "--cluster",
        c,
        "--full-backup",
        "@monthly",
    ]);
    assert!(out.contains("| @monthly |"), "{out}");
    ok(&["schedule", "drop", &inc, "--cluster", c]);
    ok(&["schedule", "drop", &full, "--cluster", c]);
    assert_eq!(schedules(c).len(), 0);
    // A missing schedule: exit 2, named.
    let (code, _, err) = run(&["schedule", "show", &full, "--cluster", c]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("schedule {full} does not exist")),
        "{err}"
    );
}

#[test]
fn a_long_running_scheduler_runs_due_schedules_and_stops_on_sigterm() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    let c = s(&c).to_string();
    let c = c.as_str();
    ok(&["cluster", "init", c, "--workload", "bank", "--rows", "10"]);
    ok(&["cluster", "clock", c, "--set", "2030-01-01 10:00:00"]);
    ok(&[
        "schedule",
        "create",
        "weekly",
        "--cluster",
        c,
        "--into",
        "nodelocal://1/w",
        "--recurring",
        "@weekly",
        "--first-run",
        "2030-01-02 00:00:00",
    ]);
    let (mut child, rx) = common::spawn_lines(
        Command::new(vouch_bin())
            .args(["scheduler", "--cluster", c, "--poll-ms", "20"])
            .stderr(Stdio::piped()),
    );
    let next = |what: &str| {
        rx.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("waiting for {what}: {e}"))
    };
    assert!(next("start").starts_with("scheduler started on "));
    // Nothing is due until the clock reaches first_run; other commands keep working while
    // the scheduler runs (waiting, at most, for a pass to close the cluster).
    ok(&["cluster", "clock", c, "--advance", "1d"]);
    let line = next("the run");
    assert!(
        line.starts_with("ran schedule 1 (weekly, full) as of 2030-01-02 00:00:00+00:00: succeeded: 2030/01/02-000000.00 (job "),
        "{line}"
    );
    let show = ok(&["schedule", "show", "1", "--cluster", c, "--format", "json"]);
    let show: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(show[0]["next_run"], "2030-01-06 00:00:00+00:00");

    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(next("the stop"), "scheduler stopped");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// spec/schedules.md §5 from the command line: with ten minutes of GC TTL and GC run an
/// hour later, a plain chain's incremental fails with CockroachDB's error while the
/// schedule's succeeds; `vouch cluster gc` shows the schedule's record moving with its
/// runs and gone once the schedules are dropped.
#[test]
fn gc_spares_what_a_schedule_needs_and_nothing_else() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    let c = s(&c).to_string();
    let c = c.as_str();
    ok(&["cluster", "init", c, "--workload", "bank", "--rows", "20"]);
    ok(&["cluster", "clock", c, "--set", "2030-01-01 10:00:00"]);
    assert_eq!(
        ok(&[
            "sql",
            "--cluster",
            c,
            "-e",
            "ALTER TABLE bank.bank SET (gc.ttlseconds = 600)"
        ]),
        "ALTER TABLE\n"
    );
    ok(&[
        "backup",
        "--cluster",
        c,
        "DATABASE",
        "bank",
        "INTO",
        "nodelocal://1/plain",
    ]);
    ok(&["cluster", "clock", c, "--advance", "1m"]);
    ok(&[
        "schedule",
        "create",
        "h",
        "--cluster",
        c,
        "--database",
        "bank",
        "--into",
        "nodelocal://1/s",
        "--recurring",
        "@hourly",
    ]);
    let list = schedules(c);
    let inc = list[0]["id"].as_u64().unwrap();
    assert!(runs(&ok(&["scheduler", "--cluster", c, "--once"]))[0]
        .ends_with("(h, full) as of 2030-01-01 10:01:00+00:00: succeeded: 2030/01/01-100100.00"));
    ok(&["cluster", "run", c, "--workload", "bank", "--ops", "10"]);
    ok(&["cluster", "clock", c, "--advance", "1h"]);
    let gc = ok(&["cluster", "gc", c]);
    let lines: Vec<&str> = gc.lines().collect();
    assert_eq!(lines.len(), 2, "{gc}");
    assert!(
        lines[0].starts_with("gc at 2030-01-01 11:01:00+00:00: removed "),
        "{gc}"
    );
    assert_eq!(
        lines[1],
        format!("protected since 2030-01-01 10:01:00+00:00 by schedule {inc}")
    );
    // The plain chain's history since 10:00 is gone.
    let (code, _, err) = run(&[
        "backup",
        "--cluster",
        c,
        "DATABASE",
        "bank",
        "INTO",
        "LATEST",
        "IN",
        "nodelocal://1/plain",
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("batch timestamp ") && err.contains(" must be after replica GC threshold "),
        "{err}"
    );
    // The schedule's incremental reads its history since 10:01.
    assert!(runs(&ok(&["scheduler", "--cluster", c, "--once"]))[0].contains(
        "(h, incremental) as of 2030-01-01 11:00:00+00:00: succeeded: incrementals/2030/01/01-100100.00/"
    ));
    let root = Path::new(c).join("extern").join("s");
    ok(&["verify", "IN", s(&root), "--level", "full"]);
    let gc = ok(&["cluster", "gc", c]);
    assert!(
        gc.ends_with(&format!(
            "\nprotected since 2030-01-01 11:00:00+00:00 by schedule {inc}\n"
        )),
        "{gc}"
    );
    for r in &list {
        ok(&[
            "schedule",
            "drop",
            &r["id"].as_u64().unwrap().to_string(),
            "--cluster",
            c,
        ]);
    }
    assert_eq!(
        ok(&["cluster", "gc", c]).lines().count(),
        1,
        "no record is left"
    );
}
