//! README.md's examples are tests (its "Contributing" section): the first ```` ```sh ````
//! block is exactly the two commands a new user types (the demo, then `scripts/test.sh`);
//! the demo runs here with the `vouch` just built (`scripts/test.sh` does not: it is what
//! runs this test). Every other ```` ```sh ```` block runs in order, in one `bash`, started in
//! the repository's folder with a scratch `HOME` and `TMPDIR` and that `vouch` first on
//! `PATH`. Each command must exit 0, or N when the line after it is `# fails: exit N`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The first block, exactly.
const FIRST_BLOCK: &str = "cargo run --release -p vouch-cli -- demo\nscripts/test.sh\n";

/// A ```` ```sh ```` block: the 1-based README line of its first line, and its text.
#[derive(Debug)]
struct Block {
    line: usize,
    text: String,
}

/// One command of a block (continuation lines joined as bash joins them): the README line
/// it starts on, its text, the exit status it must end with.
#[derive(Debug, PartialEq)]
struct Cmd {
    line: usize,
    text: String,
    exit: i32,
}

/// What makes README.md unreadable as a test, with the line concerned.
#[derive(Debug, PartialEq)]
enum Bad {
    /// A ``` block is not closed.
    Unclosed(usize),
    /// A command ends with `\` at the end of its block.
    Continued(usize),
    /// A `# fails:` line is not `# fails: exit N` with N > 0.
    Marker(usize),
    /// A `# fails:` line does not directly follow a command (or follows another marker).
    Orphan(usize),
}

/// Every ```` ```sh ```` block of `md`, in order.
fn sh_blocks(md: &str) -> Result<Vec<Block>, Bad> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    let mut in_other = None;
    for (i, l) in md.lines().enumerate() {
        let fence = l.trim_end();
        if let Some(b) = open.as_mut() {
            if fence == "```" {
                blocks.extend(open.take());
            } else {
                b.text.push_str(l);
                b.text.push('\n');
            }
        } else if in_other.is_some() {
            if fence == "```" {
                in_other = None;
            }
        } else if fence == "```sh" {
            open = Some(Block {
                line: i + 2,
                text: String::new(),
            });
        } else if fence.starts_with("```") {
            in_other = Some(i + 1);
        }
    }
    if let Some(b) = open {
        return Err(Bad::Unclosed(b.line - 1));
    }
    if let Some(l) = in_other {
        return Err(Bad::Unclosed(l));
    }
    Ok(blocks)
}

/// The commands of `b`. A line `# fails: exit N` right after a command sets its status;
/// anywhere else it is an error (so a marker cannot silently stop applying).
fn commands(b: &Block) -> Result<Vec<Cmd>, Bad> {
    let mut out: Vec<Cmd> = Vec::new();
    let mut pending: Option<Cmd> = None;
    let mut last_was_cmd = false;
    for (i, l) in b.text.lines().enumerate() {
        let line = b.line + i;
        if let Some(c) = pending.as_mut() {
            c.text.push('\n');
            c.text.push_str(l);
            if !l.ends_with('\\') {
                out.extend(pending.take());
                last_was_cmd = true;
            }
            continue;
        }
        let t = l.trim();
        if let Some(rest) = t.strip_prefix("# fails:") {
            let n: i32 = rest
                .trim()
                .strip_prefix("exit ")
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|d| d.parse().ok())
                .filter(|&n| n > 0)
                .ok_or(Bad::Marker(line))?;
            match out.last_mut() {
                Some(c) if last_was_cmd => c.exit = n,
                _ => return Err(Bad::Orphan(line)),
            }
            last_was_cmd = false;
            continue;
        }
        last_was_cmd = false;
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let c = Cmd {
            line,
            text: l.to_string(),
            exit: 0,
        };
        if l.ends_with('\\') {
            pending = Some(c);
        } else {
            out.push(c);
            last_was_cmd = true;
        }
    }
    match pending {
        Some(c) => Err(Bad::Continued(c.line)),
        None => Ok(out),
    }
}

/// One bash script running `cmds` in order, checking each one's status; the first wrong
/// status ends it with 101, naming the README line (test servers the examples started,
/// whose ids they keep in `VOUCH_*_PID`, are stopped by process id).
fn script(cmds: &[Cmd]) -> String {
    let mut s = String::from(
        "exec 2>&1\n\
         __readme_fail() {\n  \
           echo \"README.md:$1: exit status $2, expected $3\"\n  \
           for v in ${!VOUCH_@}; do case $v in *_PID) kill \"${!v}\" 2>/dev/null;; esac; done\n  \
           exit 101\n\
         }\n",
    );
    for c in cmds {
        s.push_str(&format!("echo '+ README.md:{}'\n{}\n", c.line, c.text));
        s.push_str(&format!(
            "__rc=$?; [ \"$__rc\" -eq {e} ] || __readme_fail {l} \"$__rc\" {e}\n",
            e = c.exit,
            l = c.line
        ));
    }
    s
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ has a parent")
        .to_path_buf()
}

/// A command in the examples' environment: the built `vouch` first on PATH, a scratch HOME
/// and TMPDIR under `scratch`, no inherited `VOUCH_*` or `AWS_*` variables, no stdin, a
/// time limit (`timeout`, coreutils).
fn in_env(scratch: &Path, program: &str) -> Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_vouch"))
        .parent()
        .expect("the binary has a folder")
        .to_path_buf();
    let home = scratch.join("home");
    let tmp = scratch.join("tmp");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let mut cmd = Command::new("timeout");
    cmd.args(["300", program]);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("VOUCH_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("PATH", path)
        .env("HOME", home)
        .env("TMPDIR", tmp)
        .current_dir(repo())
        .stdin(Stdio::null());
    cmd
}

fn output_text(o: &Output) -> String {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let lines: Vec<&str> = all.lines().collect();
    lines[lines.len().saturating_sub(80)..].join("\n")
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).unwrap()
}

#[test]
fn the_first_block_is_the_two_commands_and_the_demo_runs() {
    let blocks = sh_blocks(&readme()).unwrap();
    let first = blocks.first().expect("README.md has a ```sh block");
    assert_eq!(first.text, FIRST_BLOCK, "README.md:{}", first.line);
    let d = tempfile::tempdir().unwrap();
    let mut cmd = in_env(d.path(), env!("CARGO_BIN_EXE_vouch"));
    cmd.arg("demo");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
}

#[test]
fn every_other_example_runs_as_written() {
    let blocks = sh_blocks(&readme()).unwrap();
    let mut cmds: Vec<Cmd> = Vec::new();
    for b in blocks.iter().skip(1) {
        cmds.extend(commands(b).unwrap());
    }
    assert!(cmds.len() > 20, "the README's examples: {cmds:?}");
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("readme.sh");
    std::fs::write(&file, script(&cmds)).unwrap();
    let mut cmd = in_env(d.path(), "bash");
    cmd.arg(&file);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    // Every command ran (the script did not end early).
    let text = String::from_utf8_lossy(&out.stdout);
    let last = cmds.last().unwrap();
    assert!(
        text.contains(&format!("+ README.md:{}\n", last.line)),
        "{}",
        output_text(&out)
    );
}

/// The harness itself: continuations join, comments are skipped, the marker sets the
/// status of the command above it, and a wrong status stops the script naming the line.
#[test]
fn the_harness_reads_markers_and_catches_failures() {
    let md = "text\n```sh\ntrue   # ok\n# a comment\nfalse\n# fails: exit 1 (why)\necho a \\\n  b\n```\n```text\nnot run\n```\n";
    let b = sh_blocks(md).unwrap();
    assert_eq!(b.len(), 1);
    let c = commands(&b[0]).unwrap();
    assert_eq!(
        c,
        [
            Cmd {
                line: 3,
                text: "true   # ok".into(),
                exit: 0
            },
            Cmd {
                line: 5,
                text: "false".into(),
                exit: 1
            },
            Cmd {
                line: 7,
                text: "echo a \\\n  b".into(),
                exit: 0
            },
        ]
    );
    let d = tempfile::tempdir().unwrap();
    let run = |cmds: &[Cmd]| {
        let file = d.path().join("t.sh");
        std::fs::write(&file, script(cmds)).unwrap();
        let mut cmd = in_env(d.path(), "bash");
        cmd.arg(&file);
        cmd.output().unwrap()
    };
    let out = run(&c);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("+ README.md:7\na b\n"));
    // `false` without its marker: status 101, the line named, nothing after it runs.
    let bad = [
        Cmd {
            line: 5,
            text: "false".into(),
            exit: 0,
        },
        Cmd {
            line: 6,
            text: "echo after".into(),
            exit: 0,
        },
    ];
    let out = run(&bad);
    assert_eq!(out.status.code(), Some(101));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "+ README.md:5\nREADME.md:5: exit status 1, expected 0\n"
    );
}

/// Markers that follow no command, malformed markers, a dangling continuation and an
/// unclosed block are refused, naming the line.
#[test]
fn bad_markers_and_blocks_are_refused() {
    let cmds = |md: &str| commands(&sh_blocks(md).unwrap()[0]);
    assert_eq!(
        cmds("```sh\nfalse\n\n# fails: exit 1\n```\n"),
        Err(Bad::Orphan(4))
    );
    assert_eq!(cmds("```sh\n# fails: exit 1\n```\n"), Err(Bad::Orphan(2)));
    assert_eq!(
        cmds("```sh\nfalse\n# fails: exit 1\n# fails: exit 1\n```\n"),
        Err(Bad::Orphan(4))
    );
    assert_eq!(
        cmds("```sh\nfalse\n# fails: exit 0\n```\n"),
        Err(Bad::Marker(3))
    );
    assert_eq!(
        cmds("```sh\nfalse\n# fails: badly\n```\n"),
        Err(Bad::Marker(3))
    );
    assert_eq!(cmds("```sh\necho \\\n```\n"), Err(Bad::Continued(2)));
    assert_eq!(sh_blocks("a\n```sh\ntrue\n").unwrap_err(), Bad::Unclosed(2));
    assert_eq!(sh_blocks("```text\nx\n").unwrap_err(), Bad::Unclosed(1));
}
