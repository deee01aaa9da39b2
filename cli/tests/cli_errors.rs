//! How the CLI ends on errors: every error said once (no cause repeated in the chain it
//! prints), and a reader that closes the pipe early ends the command quietly with 141.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{ok, text, vouch, vouch_bin};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The `error: …` line's parts (the message and its causes, joined with ": ") are all
/// different: nothing is said twice.
fn assert_said_once(stderr: &str) {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let parts: Vec<&str> = lines[0]["error: ".len()..].split(": ").collect();
    for (i, p) in parts.iter().enumerate() {
        for q in &parts[i + 1..] {
            let repeats = (p.len() > 8 && q.contains(p)) || (q.len() > 8 && p.contains(q));
            assert!(!repeats, "{p:?} said twice in {:?}", lines[0]);
        }
    }
}

#[test]
fn errors_are_said_once() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    ok(&[
        "cluster",
        "init",
        s(&c),
        "--workload",
        "bank",
        "--rows",
        "10",
    ]);
    // AS OF in the future: a time error whose cause the message already holds.
    let out = vouch([
        "backup",
        "--cluster",
        s(&c),
        "INTO",
        "nodelocal://1/b",
        "--as-of",
        "2099-01-01 00:00:00",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_said_once(&text(&out.stderr));
    // A missing backup: store, chain and engine layers each add their part once.
    let out = vouch([
        "verify",
        "FROM",
        "LATEST",
        "IN",
        "nodelocal://1/none",
        "--cluster",
        s(&c),
        "--level",
        "metadata",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_said_once(&text(&out.stderr));
    let r = d.path().join("r");
    let out = vouch([
        "restore",
        "--cluster",
        s(&r),
        "FROM",
        "LATEST",
        "IN",
        &format!("file://{}", d.path().join("none").display()),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_said_once(&text(&out.stderr));
}

#[test]
fn a_closed_pipe_ends_dump_quietly() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    ok(&[
        "cluster",
        "init",
        s(&c),
        "--workload",
        "bank",
        "--rows",
        "5000",
    ]);
    ok(&["backup", "--cluster", s(&c), "INTO", "nodelocal://1/b"]);
    let mut child = Command::new(vouch_bin())
        .args([
            "dump",
            "FROM",
            "LATEST",
            "IN",
            "nodelocal://1/b",
            "--cluster",
            s(&c),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read the first bytes, then go away (as `| head -c 100` does).
    let mut first = [0u8; 100];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(141), "{stderr}");
    assert_eq!(stderr, "", "nothing said on a closed pipe");
}
