//! `vouch verify … --shard K/N --format json` in N processes at once, then
//! `vouch verify merge PART.json…`: the same report (human, JSON, JUnit) and exit code as one
//! unsharded run, on a clean collection and on a damaged one; merge refuses an incomplete
//! set of parts (exit 2).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{run, s, text, vouch_bin};

/// A movr cluster (several tables) with a full backup and two revision-history
/// incrementals in `<d>/coll`; returns the collection's file:// URI.
fn setup(d: &Path) -> String {
    let c = d.join("c");
    let coll = d.join("coll");
    let uri = format!("file://{}", coll.display());
    let ok = |a: &[&str]| {
        let (code, o, e) = run(a);
        assert_eq!(code, 0, "{a:?}\n{o}\n{e}");
    };
    ok(&[
        "cluster",
        "init",
        s(&c),
        "--workload",
        "movr",
        "--rows",
        "300",
    ]);
    ok(&[
        "backup",
        "--cluster",
        s(&c),
        "INTO",
        &uri,
        "--revision-history",
    ]);
    for _ in 0..2 {
        ok(&["cluster", "run", s(&c), "--workload", "movr", "--ops", "60"]);
        ok(&[
            "backup",
            "--cluster",
            s(&c),
            "INTO",
            "LATEST",
            "IN",
            &uri,
            "--revision-history",
        ]);
    }
    uri
}

/// Times are the only thing two runs may differ in.
fn untimed(s: &str) -> String {
    s.lines()
        .map(|l| {
            if l.contains("byte(s) read in ") {
                l[..l.rfind(" in ").unwrap()].to_string()
            } else if let Some(i) = l.find(" time=\"") {
                let rest = &l[i + 7..];
                let end = rest.find('"').unwrap();
                format!("{}{}", &l[..i], &rest[end + 1..])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn json_untimed(s: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(s).unwrap();
    v.as_object_mut().unwrap().remove("duration_seconds");
    v
}

/// Runs the N shards as N processes at once; returns the part files.
fn shards(uri: &str, n: u32, dir: &Path) -> Vec<PathBuf> {
    let children: Vec<(PathBuf, std::process::Child)> = (1..=n)
        .map(|k| {
            let part = dir.join(format!("part-{k}.json"));
            let child = Command::new(vouch_bin())
                .args(["verify", "IN", uri, "--level", "full", "--jobs", "1"])
                .args(["--shard", &format!("{k}/{n}"), "--format", "json"])
                .stdout(std::fs::File::create(&part).unwrap())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            (part, child)
        })
        .collect();
    children
        .into_iter()
        .map(|(part, mut c)| {
            let code = c.wait().unwrap().code();
            assert!(matches!(code, Some(0 | 1)), "shard exit {code:?}");
            part
        })
        .collect()
}

/// The merged report equals one unsharded run: human, JSON and JUnit, and the exit code.
fn assert_merge_agrees(uri: &str, n: u32, dir: &Path) -> i32 {
    let parts = shards(uri, n, dir);
    let part_args: Vec<&str> = parts.iter().map(|p| s(p)).collect();
    let one = |extra: &[&str]| {
        let mut a = vec!["verify", "IN", uri, "--level", "full"];
        a.extend_from_slice(extra);
        run(&a)
    };
    let merged = |extra: &[&str]| {
        let mut a = vec!["verify", "merge"];
        a.extend_from_slice(&part_args);
        a.extend_from_slice(extra);
        run(&a)
    };
    let (c1, h1, _) = one(&[]);
    let (c2, h2, e2) = merged(&[]);
    assert_eq!(c1, c2, "exit codes\n{h1}\n{h2}\n{e2}");
    assert_eq!(untimed(&h1), untimed(&h2), "human reports");
    let (_, j1, _) = one(&["--format", "json"]);
    let (_, j2, _) = merged(&["--format", "json"]);
    assert_eq!(json_untimed(&j1), json_untimed(&j2), "JSON reports");
    let (x1, x2) = (dir.join("one.xml"), dir.join("merged.xml"));
    one(&["--junit", s(&x1)]);
    merged(&["--junit", s(&x2)]);
    let (x1, x2) = (
        std::fs::read_to_string(x1).unwrap(),
        std::fs::read_to_string(x2).unwrap(),
    );
    assert_eq!(untimed(&x1), untimed(&x2), "JUnit reports");
    c1
}

#[test]
fn shards_in_parallel_processes_merge_into_one_runs_report() {
    let d = tempfile::tempdir().unwrap();
    let uri = setup(d.path());
    let parts = d.path().join("parts");
    std::fs::create_dir(&parts).unwrap();
    assert_eq!(assert_merge_agrees(&uri, 3, &parts), 0, "clean");
    // The work is split: more than one shard owns data, and their bytes add up.
    let owned: Vec<u64> = (1..=3)
        .map(|k| {
            let p = std::fs::read_to_string(parts.join(format!("part-{k}.json"))).unwrap();
            let v: serde_json::Value = serde_json::from_str(&p).unwrap();
            assert_eq!(v["shard"]["index"], k);
            v["shard"]["bytes"].as_u64().unwrap()
        })
        .collect();
    assert!(owned.iter().filter(|b| **b > 0).count() >= 2, "{owned:?}");

    // Damage: a byte in the middle of the largest data file.
    let coll = d.path().join("coll");
    let mut ssts: Vec<(u64, PathBuf)> = vouch_testkit::tree::list_files(&coll)
        .unwrap()
        .into_iter()
        .filter(|p| p.ends_with(".sst"))
        .map(|p| {
            let p = coll.join(p);
            (std::fs::metadata(&p).unwrap().len(), p)
        })
        .collect();
    ssts.sort();
    let (len, big) = ssts.last().unwrap().clone();
    let mut bytes = std::fs::read(&big).unwrap();
    bytes[(len / 2) as usize] ^= 0x40;
    std::fs::write(&big, bytes).unwrap();
    assert_eq!(assert_merge_agrees(&uri, 3, &parts), 1, "damaged");

    // An incomplete set of parts cannot be merged: exit 2, naming what is missing.
    let (code, out, err) = run(&[
        "verify",
        "merge",
        s(&parts.join("part-1.json")),
        s(&parts.join("part-3.json")),
    ]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(out.is_empty());
    // Options of the shards' runs are not the merge's.
    let (code, _, _) = run(&[
        "verify",
        "merge",
        s(&parts.join("part-1.json")),
        "--level",
        "full",
    ]);
    assert_eq!(code, 2);
    // Bad --shard values.
    for bad in ["0/3", "4/3", "3", "1/0", "a/b", "1/3/4"] {
        let (code, _, _) = run(&["verify", "IN", &uri, "--level", "full", "--shard", bad]);
        assert_eq!(code, 2, "--shard {bad}");
    }
}

/// The lines of `file` between `# <name>-begin` and `# <name>-end`, unindented: the shell
/// an example runs in each pod or job.
fn example_block(file: &str, name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/verify-shards")
        .join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .skip_while(|l| l.trim() != format!("# {name}-begin"))
        .take_while(|l| l.trim() != format!("# {name}-end"))
        .collect();
    assert!(lines.len() > 1, "{file}: no {name} block");
    lines
        .iter()
        .map(|l| l.trim_start())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `script` with bash -eo pipefail (as CI runners do) and the vouch under test first
/// on PATH.
fn sh(script: &str, env: &[(&str, String)]) -> (i32, String) {
    let bin_dir = vouch_bin().parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
        .env("PATH", path)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), text(&out.stdout))
}

/// The Kubernetes Indexed Job's and the CI matrix's own commands, run here as their pods
/// and jobs would run them: every shard completes (findings are not a failure), and the
/// merge step prints one unsharded run's report with its exit code.
#[test]
fn the_kubernetes_and_ci_matrix_examples_run_as_written() {
    let d = tempfile::tempdir().unwrap();
    let uri = setup(d.path());
    // Damage, so that the shards' and the merge's exit codes matter.
    let coll = d.path().join("coll");
    let sst = vouch_testkit::tree::list_files(&coll)
        .unwrap()
        .into_iter()
        .find(|p| p.ends_with(".sst"))
        .unwrap();
    let p = coll.join(sst);
    let mut bytes = std::fs::read(&p).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&p, bytes).unwrap();
    let (want_code, want, _) = run(&["verify", "IN", &uri, "--level", "full"]);
    assert_eq!(want_code, 1);

    for (file, merge_file, index_var, first) in [
        (
            "kubernetes.yaml",
            "kubernetes-merge.yaml",
            "JOB_COMPLETION_INDEX",
            0u32,
        ),
        ("github-actions.yml", "github-actions.yml", "SHARD", 1),
    ] {
        let reports = d.path().join(format!("reports-{file}"));
        std::fs::create_dir(&reports).unwrap();
        let shard = example_block(file, "shard");
        let shards = 4u32;
        for i in 0..shards {
            let env = [
                (index_var, (first + i).to_string()),
                ("SHARDS", shards.to_string()),
                ("COLLECTION", uri.clone()),
                ("REPORTS", reports.display().to_string()),
            ];
            let (code, _) = sh(&shard, &env);
            assert_eq!(code, 0, "{file}: shard {} completes", i + 1);
        }
        let merge = example_block(merge_file, "merge");
        let (code, out) = sh(&merge, &[("REPORTS", reports.display().to_string())]);
        assert_eq!(
            code, want_code,
            "{merge_file}: the merge exits as one run\n{out}"
        );
        assert_eq!(untimed(&out), untimed(&want), "{merge_file}");
        let junit = std::fs::read_to_string(reports.join("verify.xml")).unwrap();
        assert!(
            junit.contains("<failure"),
            "{merge_file}: JUnit has the failure"
        );
    }
}
