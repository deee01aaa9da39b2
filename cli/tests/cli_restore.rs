//! `vouch restore` as a user runs it: a point-in-time restore of a revision-history chain
//! into a new cluster directory gives the source's fingerprints at that time (as `vouch
//! cluster fingerprint --as-of` prints them); the result row has CockroachDB's columns;
//! errors exit 2 with CockroachDB's message.

mod common;

use std::path::Path;

use common::{ok, text, vouch, JOB_RESULT_COLUMNS};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The `end time X` a backup prints on stderr.
fn end_time(stderr: &str) -> String {
    stderr
        .rsplit("end time ")
        .next()
        .and_then(|r| r.split(')').next())
        .unwrap()
        .to_string()
}

/// `vouch cluster fingerprint` rows of database `db`, without the database column.
fn fingerprints(cluster: &Path, db: &str, as_of: Option<&str>) -> Vec<String> {
    let mut args = vec!["cluster", "fingerprint", s(cluster)];
    if let Some(t) = as_of {
        args.extend(["--as-of", t]);
    }
    let (out, _) = ok(&args);
    let rows: Vec<String> = out
        .lines()
        .filter(|l| l.split('|').next().map(str::trim) == Some(db))
        .map(|l| l.split('|').skip(1).collect::<Vec<_>>().join("|"))
        .collect();
    assert!(!rows.is_empty(), "no fingerprints of {db} in\n{out}");
    rows
}

#[test]
fn point_in_time_restore_into_a_new_directory() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    ok(&[
        "cluster",
        "init",
        s(&src),
        "--workload",
        "movr",
        "--rows",
        "60",
    ]);
    let uri = "nodelocal://1/b";
    let (_, e0) = ok(&[
        "backup",
        "--cluster",
        s(&src),
        "INTO",
        uri,
        "--revision-history",
    ]);
    let end0 = end_time(&e0);
    ok(&[
        "cluster",
        "run",
        s(&src),
        "--workload",
        "movr",
        "--ops",
        "40",
    ]);
    let (mid, _) = ok(&["cluster", "now", s(&src)]);
    let mid = mid.trim().to_string();
    ok(&[
        "cluster",
        "run",
        s(&src),
        "--workload",
        "movr",
        "--ops",
        "40",
        "--seed",
        "2",
    ]);
    ok(&[
        "backup",
        "--cluster",
        s(&src),
        "INTO",
        "LATEST",
        "IN",
        uri,
        "--revision-history",
    ]);
    let coll = format!("file://{}", s(&src.join("extern/b")));

    // Inside the incremental's window, into a directory that holds no cluster yet.
    let dst = dir.path().join("dst");
    let (out, err) = ok(&[
        "restore",
        "--cluster",
        s(&dst),
        "DATABASE",
        "movr",
        "FROM",
        "LATEST",
        "IN",
        &coll,
        "--as-of",
        &mid,
    ]);
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap()
        .split('|')
        .map(str::trim)
        .collect();
    assert_eq!(header, JOB_RESULT_COLUMNS);
    assert!(out.contains("| succeeded |"), "{out}");
    assert!(out.ends_with("(1 row)\n"), "{out}");
    assert!(err.contains("0 index fingerprints checked"), "{err}");
    assert_eq!(
        fingerprints(&dst, "movr", None),
        fingerprints(&src, "movr", Some(&mid))
    );

    // At the full backup's end time, under a new name: checked against the manifest.
    let (_, err) = ok(&[
        "restore",
        "--cluster",
        s(&dst),
        "DATABASE",
        "movr",
        "FROM",
        "LATEST",
        "IN",
        &coll,
        "--as-of",
        &end0,
        "--new-db-name",
        "movr_then",
    ]);
    assert!(!err.contains(" 0 index fingerprints checked"), "{err}");
    assert_eq!(
        fingerprints(&dst, "movr_then", None),
        fingerprints(&src, "movr", Some(&end0))
    );

    // Errors: exit 2 and CockroachDB's message.
    let out = vouch([
        "restore",
        "--cluster",
        s(&dst),
        "DATABASE",
        "movr",
        "FROM",
        "LATEST",
        "IN",
        &coll,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: database \"movr\" already exists\n"
    );
    let out = vouch([
        "restore",
        "--cluster",
        s(&dst),
        "TABLE",
        "movr.rides",
        "FROM",
        "LATEST",
        "IN",
        &coll,
        "--into-db",
        "defaultdb",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("without referenced table"),
        "{}",
        text(&out.stderr)
    );
    ok(&[
        "restore",
        "--cluster",
        s(&dst),
        "TABLE",
        "movr.rides",
        "FROM",
        "LATEST",
        "IN",
        &coll,
        "--into-db",
        "defaultdb",
        "--skip-missing-foreign-keys",
    ]);
}

#[test]
fn words_that_do_not_parse_or_bind_leave_no_cluster_behind() {
    let dir = tempfile::tempdir().unwrap();
    for words in [
        &["TABLE", "t", "FROM", "LATEST", "IN", "/nowhere"][..],
        &["DATABASE", "d", "LATEST", "IN", "/nowhere"][..],
        &["FROM", "/a", "--incremental-location", "/b"][..],
    ] {
        let dst = dir.path().join("dst");
        let mut args = vec!["restore", "--cluster", s(&dst)];
        args.extend(words);
        let out = vouch(&args);
        assert_eq!(out.status.code(), Some(2), "{words:?}");
        assert!(text(&out.stderr).starts_with("error: "), "{words:?}");
        assert!(
            !dst.exists(),
            "{words:?}: a cluster was made in {}",
            dst.display()
        );
    }
}

/// A restore that binds but then fails (here: nothing in the collection) takes away the
/// cluster it created: a new directory is gone again, and in a directory that held other
/// files only what the restore added is removed.
#[test]
fn a_restore_that_fails_leaves_no_cluster_behind() {
    let dir = tempfile::tempdir().unwrap();
    let empty = format!("file://{}", dir.path().join("empty-collection").display());
    std::fs::create_dir(dir.path().join("empty-collection")).unwrap();
    let dst = dir.path().join("dst");
    let out = vouch([
        "restore",
        "--cluster",
        s(&dst),
        "FROM",
        "LATEST",
        "IN",
        &empty,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!dst.exists(), "a cluster was left in {}", dst.display());
    // A directory that exists, with a file of the user's in it.
    let kept = dir.path().join("kept");
    std::fs::create_dir(&kept).unwrap();
    std::fs::write(kept.join("notes.txt"), b"mine").unwrap();
    let out = vouch([
        "restore",
        "--cluster",
        s(&kept),
        "FROM",
        "LATEST",
        "IN",
        &empty,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let names: Vec<String> = std::fs::read_dir(&kept)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["notes.txt".to_string()]);
    assert_eq!(std::fs::read(kept.join("notes.txt")).unwrap(), b"mine");
}

/// `AS OF SYSTEM TIME` before the history a revision-history backup holds (2017, before the
/// cluster existed) is refused, naming where the history starts, through `vouch restore`
/// and SQL `RESTORE`: exit 2, no new cluster directory, no database created.
#[test]
fn a_time_before_the_backup_history_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    ok(&[
        "cluster",
        "init",
        s(&src),
        "--workload",
        "bank",
        "--rows",
        "20",
    ]);
    ok(&[
        "backup",
        "--cluster",
        s(&src),
        "DATABASE",
        "bank",
        "INTO",
        "nodelocal://1/b",
        "--revision-history",
    ]);
    let uri = format!("file://{}", src.join("extern").join("b").display());
    let old = "2017-06-09 00:00:00";
    let refusal =
        "invalid RESTORE timestamp: BACKUP for requested time only has revision history from 20";
    let dst = dir.path().join("dst");
    let out = vouch([
        "restore",
        "--cluster",
        s(&dst),
        "DATABASE",
        "bank",
        "FROM",
        "LATEST",
        "IN",
        &uri,
        "--as-of",
        old,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with(&format!("error: {refusal}")),
        "{}",
        text(&out.stderr)
    );
    assert!(!dst.exists(), "a cluster was left in {}", dst.display());
    let restore = |as_of: &str| {
        vouch([
            "sql",
            "--cluster",
            s(&src),
            "-e",
            &format!(
                "RESTORE DATABASE bank FROM LATEST IN '{uri}' {as_of} WITH new_db_name = 'old'"
            ),
        ])
    };
    // A SQL error: exit 1, as every statement error of `vouch sql`.
    let out = restore(&format!("AS OF SYSTEM TIME '{old}'"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with(&format!("ERROR: {refusal}")),
        "{}",
        text(&out.stderr)
    );
    // Nothing named `old` was created: the same restore at the backup's end succeeds.
    let out = restore("");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// A view restored with `--new-db-name` or `--into-db` names its new database in its query:
/// SHOW BACKUP SCHEMAS and the dump of a backup of the restored database print the
/// rewritten text.
#[test]
fn restored_views_name_their_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("c");
    ok(&[
        "sql",
        "--cluster",
        s(&c),
        "-e",
        "CREATE DATABASE d; CREATE TABLE d.c (id INT PRIMARY KEY, v STRING); CREATE VIEW d.w AS SELECT id FROM d.c",
        "-e",
        "INSERT INTO d.c VALUES (1, 'a'); BACKUP DATABASE d INTO 'nodelocal://1/v'; CREATE DATABASE e",
    ]);
    let restore = |extra: &[&str]| {
        let mut a = vec!["restore", "--cluster", s(&c)];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["FROM", "LATEST", "IN", "nodelocal://1/v"]);
        ok(&a);
    };
    restore(&["DATABASE", "d", "--new-db-name", "newdb"]);
    restore(&["TABLE", "d.c,", "d.w", "--into-db", "e"]);
    for db in ["newdb", "e"] {
        let uri = format!("nodelocal://1/{db}");
        ok(&["backup", "--cluster", s(&c), "DATABASE", db, "INTO", &uri]);
        let (out, _) = ok(&[
            "show",
            "backup",
            "schemas",
            "FROM",
            "LATEST",
            "IN",
            &uri,
            "--cluster",
            s(&c),
            "--format",
            "json",
        ]);
        let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
        let view = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["object_name"] == "w")
            .unwrap_or_else(|| panic!("{out}"));
        assert_eq!(
            view["create_statement"],
            format!("CREATE VIEW public.w AS SELECT id FROM {db}.c")
        );
        let (dump, err) = ok(&["dump", "FROM", "LATEST", "IN", &uri, "--cluster", s(&c)]);
        let line = format!("CREATE VIEW {db}.public.w AS SELECT id FROM {db}.c;");
        assert!(dump.lines().any(|l| l == line), "{dump}");
        // A dump of a database backup says so (not "cluster"), in its header and summary.
        let what = format!("DATABASE {db} as of ");
        assert!(
            dump.starts_with(&format!("-- vouch dump of {what}")),
            "{dump}"
        );
        assert!(err.starts_with(&format!("dumped {what}")), "{err}");
    }
}
