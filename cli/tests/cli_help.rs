//! `vouch --help`, `vouch <command> --help`, `--version`, shell completions and the man
//! page: each command describes itself and shows one example that parses; the generated
//! scripts and page are what their shells and `groff` accept.

mod common;

use std::process::{Command, Stdio};

use common::{ok, text};

/// Every top-level command and its one-line description, as `vouch --help` lists them.
const COMMANDS: [(&str, &str); 16] = [
    ("backup", "BACKUP an embedded cluster (or some databases or tables of it) into a collection: a full backup `INTO URI`, an incremental `INTO LATEST IN URI` or `INTO 'subdir' IN URI`"),
    ("show", "SHOW BACKUPS IN URI … (the full backups of a collection) / SHOW BACKUP [SCHEMAS] [FROM] LATEST|'subdir' IN URI … (what one backup holds)"),
    ("alter", "ALTER BACKUP 'subdir'|LATEST IN URI ADD NEW_KMS = … WITH OLD_KMS = …: writes a new ENCRYPTION-INFO-<n> (nothing existing changes)"),
    ("restore", "RESTORE a backup (the whole cluster, or databases or tables of it) into an embedded cluster, created if the directory holds none"),
    ("sql", "Run SQL statements (`-e \"…\"` or a script on stdin) against an embedded cluster"),
    ("verify", "Verify a backup offline, with no database running, at one of three levels: metadata, schema or full (every byte, block, key, row, index and fingerprint)"),
    ("dump", "Write SQL (`CREATE …`, `INSERT …`) for a backup's data at a time, loadable with `vouch sql`"),
    ("cluster", "Create, change, read the clock of and fingerprint an embedded cluster (the database vouch backs up by default)"),
    ("schedule", "Create, list, show, pause, resume, drop and alter backup schedules (CREATE SCHEDULE FOR BACKUP and its statements)"),
    ("scheduler", "Run due backup schedules and pending jobs: once (`--once`, for cron or a systemd timer) or until SIGTERM / SIGINT (a running backup stops between data files; the next pass resumes it)"),
    ("userfile", "Upload, list, download and delete files kept inside a cluster (`userfile://` storage), as `cockroach userfile` does"),
    ("jobs", "List, show, pause, resume and cancel BACKUP and RESTORE jobs (SHOW JOBS, PAUSE / RESUME / CANCEL JOB)"),
    ("sst", "Inspect, check and write SST data files (for fixtures and debugging)"),
    ("demo", "Run the built-in demonstration: a cluster, a backup chain, verify at the full level, a flipped bit caught and located, a point-in-time restore checked by fingerprints"),
    ("completions", "Print a shell completion script for bash, zsh or fish (generated from these definitions)"),
    ("man", "Print the vouch(1) man page in roff (generated from these definitions)"),
];

/// Splits an example line as a shell would for the plain words examples use (single
/// quotes, double quotes with `\"`), up to a redirection or `&&`.
fn words(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quote, mut any) = (Vec::new(), String::new(), None, false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (Some(_), c) => cur.push(c),
            (None, ' ') => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, '>' | '&') => break,
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[test]
fn top_level_help_describes_every_command() {
    let (out, _) = ok(&["--help"]);
    assert!(
        out.starts_with("vouch: backups you can prove are restorable\n"),
        "{out}"
    );
    let listed: Vec<(String, String)> = out
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .map(|l| {
            let l = l.trim_start();
            let (name, about) = l.split_once(' ').unwrap_or((l, ""));
            (name.to_string(), about.trim().to_string())
        })
        .filter(|(n, _)| n != "help")
        .collect();
    let want: Vec<(String, String)> = COMMANDS
        .iter()
        .map(|(n, a)| (n.to_string(), a.to_string()))
        .collect();
    assert_eq!(listed, want);
}

#[test]
fn every_command_help_has_one_example_that_parses() {
    for (name, about) in COMMANDS {
        let (out, _) = ok(&[name, "--help"]);
        // Its own description first (clap wraps nothing at this width for short lines).
        let first = out.lines().next().unwrap();
        assert!(
            about.starts_with(first.trim_end_matches('.')),
            "{name}: {first:?} is not the start of {about:?}"
        );
        let examples: Vec<&str> = out
            .split("Example:\n")
            .skip(1)
            .map(|e| e.lines().next().unwrap().trim())
            .collect();
        assert_eq!(examples.len(), 1, "{name}: {out}");
        let w = words(examples[0]);
        assert_eq!(w.first().map(String::as_str), Some("vouch"), "{w:?}");
        assert_eq!(w.get(1).map(String::as_str), Some(name), "{w:?}");
        // The example's words parse: with --help appended clap checks every flag and
        // value given and prints the help instead of running.
        let mut args: Vec<String> = w[1..].to_vec();
        args.push("--help".into());
        ok(&args);
    }
}

#[test]
fn version_names_the_format_versions() {
    use vouch_format::{encryption_info, envelope, manifest, row, sst};
    let (out, _) = ok(&["--version"]);
    assert_eq!(
        out,
        format!(
            "vouch {} (writes and reads: manifest v{} (v{} locality-aware), integrity listing v{}, ENCRYPTION-INFO v{}, envelope v{}, rows v{}, SST format_version {} with CRC32C)\n",
            env!("CARGO_PKG_VERSION"),
            manifest::MANIFEST_FORMAT_VERSION,
            manifest::LOCALITY_MANIFEST_FORMAT_VERSION,
            manifest::LISTING_FORMAT_VERSION,
            encryption_info::ENCRYPTION_INFO_FORMAT_VERSION,
            envelope::VERSION,
            row::ROW_ENCODING_VERSION,
            sst::FORMAT_VERSION,
        )
    );
}

#[test]
fn completions_are_valid_scripts_for_each_shell() {
    let (bash, _) = ok(&["completions", "bash"]);
    assert!(bash.contains("_vouch()"), "{bash}");
    assert!(bash.contains("complete -F _vouch"), "{bash}");
    // bash itself parses it.
    let mut child = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), bash.as_bytes()).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let (zsh, _) = ok(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef vouch\n"), "{zsh}");
    let (fish, _) = ok(&["completions", "fish"]);
    for (name, _) in COMMANDS {
        assert!(
            fish.contains(&format!("-a \"{name}\"")),
            "fish completes {name}"
        );
        assert!(
            bash.contains(&format!("vouch,{name})")),
            "bash completes {name}"
        );
    }
    let out = common::vouch(["completions", "powershell-not"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn the_man_page_renders_with_groff() {
    let render = |page: &str| -> String {
        let mut child = Command::new("groff")
            .args(["-k", "-man", "-Tutf8", "-ww", "-P-b", "-P-o", "-P-u"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("groff (the groff-base package) is installed");
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), page.as_bytes()).unwrap();
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(text(&out.stderr), "", "groff warnings");
        text(&out.stdout)
    };
    let (page, _) = ok(&["man"]);
    assert!(page.contains(".TH vouch 1"), "{page}");
    let rendered = render(&page);
    assert!(rendered.contains("NAME\n       vouch - "), "{rendered}");
    for (name, about) in COMMANDS {
        // The page lists each command's own page, and that page exists.
        assert!(
            rendered.contains(&format!("vouch-{name}(1)")),
            "{name}: {rendered}"
        );
        let (sub, _) = ok(&["man", name]);
        assert!(sub.contains(&format!(".TH vouch-{name} 1")), "{sub}");
        let first_word = about.split(' ').next().unwrap();
        assert!(render(&sub).contains(first_word), "{name}");
    }
    let out = common::vouch(["man", "no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
}
