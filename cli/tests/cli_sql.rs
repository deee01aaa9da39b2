//! `vouch sql` end to end: `-e` (repeated, several statements each) and a script on stdin,
//! the printed tables and statement tags, `ERROR: …` and exit 1 at the first failing
//! statement (later ones do not run), exit 2 when the cluster cannot be opened.

mod common;

use std::path::Path;
use std::process::Output;

use common::{vouch, vouch_in, JOB_RESULT_COLUMNS};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

fn init(dir: &Path, workload: Option<&str>) {
    let mut args = vec!["cluster", "init", path(dir)];
    if let Some(w) = workload {
        args.extend(["--workload", w, "--rows", "50"]);
    }
    let out = vouch(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

fn sql(dir: &Path, statements: &[&str]) -> Output {
    let mut args = vec!["sql", "--cluster", path(dir)];
    for s in statements {
        args.extend(["-e", s]);
    }
    vouch(&args)
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stderr), "");
    text(&out.stdout)
}

#[test]
fn execute_flags_print_tags_and_tables_like_cockroach_sql() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    init(&c, None);
    let out = ok(&sql(
        &c,
        &[
            "CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY, name STRING, price DECIMAL)",
            "INSERT INTO shop.items VALUES (1, 'apple', 1.5), (2, 'pear', NULL), (3, 'fig', 0.25);
             UPDATE shop.items SET price = 2 WHERE id = 2;
             DELETE FROM shop.items WHERE id = 3",
            "SELECT * FROM shop.items ORDER BY id DESC; SELECT count(*) FROM shop.items",
        ],
    ));
    assert_eq!(
        out,
        "CREATE DATABASE\n\
         CREATE TABLE\n\
         INSERT 0 3\n\
         UPDATE 1\n\
         DELETE 1\n\
         \x20id | name  | price\n\
         ----+-------+-------\n\
         \x20 2 | pear  |     2\n\
         \x20 1 | apple |   1.5\n\
         (2 rows)\n\
         \x20count\n\
         -------\n\
         \x20    2\n\
         (1 row)\n"
    );
}

#[test]
fn stdin_script_stops_at_the_first_error_with_exit_1() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    init(&c, None);
    let script =
        "CREATE DATABASE d;\nUSE d;\nCREATE TABLE t (k INT PRIMARY KEY, v STRING NOT NULL);\n\
                  INSERT INTO t VALUES (1, 'a');\n\
                  INSERT INTO t VALUES (2, NULL);\n\
                  INSERT INTO t VALUES (3, 'c');\n";
    let out = vouch_in(None, ["sql", "--cluster", path(&c)], script.as_bytes());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "CREATE DATABASE\nSET\nCREATE TABLE\nINSERT 0 1\n"
    );
    let err = text(&out.stderr);
    assert!(err.starts_with("ERROR: "), "{err}");
    assert!(err.contains("\"v\""), "names the column: {err}");
    // The statement after the failing one did not run.
    let out = ok(&sql(&c, &["SELECT k FROM d.t"]));
    assert_eq!(out, " k\n---\n 1\n(1 row)\n");
}

#[test]
fn errors_exit_1_with_the_message_usage_errors_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    init(&c, None);
    for (stmt, msg) in [
        (
            "BACKUP INTO",
            "ERROR: syntax error: at end of input: expected a URI string\n",
        ),
        ("PAUSE JOB 1", "ERROR: job with ID 1 does not exist\n"),
        (
            "BACKUP INTO 'nodelocal://1/b' WITH encryption_info_dir = 'nodelocal://1/k'",
            "ERROR: not supported yet: encrypted backups (encryption_info_dir)\n",
        ),
        (
            "SELECT * FROM nowhere",
            "ERROR: relation \"defaultdb.nowhere\" does not exist\n",
        ),
    ] {
        let out = sql(&c, &[stmt]);
        assert_eq!(out.status.code(), Some(1), "{stmt}");
        assert_eq!(text(&out.stderr), msg, "{stmt}");
        assert_eq!(text(&out.stdout), "", "{stmt}");
    }
    // A directory with no cluster gets an empty one, and vouch says so (as restore does).
    let none = d.path().join("none");
    let out = sql(&none, &["CREATE DATABASE e"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        format!("created an empty cluster in {}\n", none.display())
    );
    assert!(none.join(vouch_cluster::STORE_FILE).is_file());
    // The second time it is opened, not created.
    let out = sql(&none, &["CREATE DATABASE f"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    // Where no cluster can be made (a file in the way), exit 2.
    let file = d.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = sql(&file, &["SELECT 1"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn backup_and_show_through_sql() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    init(&c, Some("bank"));
    let out = ok(&sql(&c, &["BACKUP DATABASE bank INTO 'nodelocal://1/b'"]));
    let lines: Vec<&str> = out.lines().collect();
    let heads: Vec<&str> = lines[0].split('|').map(str::trim).collect();
    assert_eq!(heads, JOB_RESULT_COLUMNS);
    let cells: Vec<&str> = lines[2].split('|').map(str::trim).collect();
    // 50 accounts and system.users' admin and root.
    assert_eq!(&cells[1..5], ["succeeded", "1", "52", "0"]);
    assert_eq!(lines[3], "(1 row)");
    let out = ok(&sql(
        &c,
        &["SHOW BACKUPS IN 'nodelocal://1/b'; BACKUP DATABASE bank INTO 'nodelocal://1/b' WITH detached"],
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "         path");
    assert!(lines[2].starts_with(" /"), "{out}");
    assert_eq!(lines[3], "(1 row)");
    assert_eq!(lines[4].trim(), "job_id");
    let job: u64 = lines[6].trim().parse().unwrap_or_else(|_| panic!("{out}"));
    // Detached: the job waits for the scheduler.
    let out = ok(&sql(&c, &["SHOW BACKUPS IN 'nodelocal://1/b'"]));
    assert!(out.ends_with("(1 row)\n"), "{out}");
    let status = |c: &Path| {
        let out = ok(&sql(c, &[&format!("SHOW JOB {job}")]));
        out.lines()
            .nth(2)
            .unwrap()
            .split('|')
            .nth(5)
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(status(&c), "pending");
    let out = vouch(["scheduler", "--cluster", path(&c), "--once"]);
    let said = ok(&out);
    assert_eq!(status(&c), "succeeded");
    let out = ok(&sql(&c, &["SHOW BACKUPS IN 'nodelocal://1/b'"]));
    assert!(out.ends_with("(2 rows)\n"), "{out}");
    let newest = out.lines().nth(3).unwrap().trim();
    assert_eq!(
        said,
        format!(
            "ran job {job} (BACKUP): succeeded: {}\n",
            newest.trim_start_matches('/')
        )
    );
}

/// The seeds' Core backup path: `vouch dump … > backup.sql`, then
/// `vouch sql --database … < backup.sql` into another cluster.
#[test]
fn a_dump_loads_through_stdin_into_another_cluster() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    init(&a, Some("bank"));
    ok(&sql(&a, &["BACKUP INTO 'nodelocal://1/b'"]));
    let dump = vouch([
        "dump",
        "--cluster",
        path(&a),
        "FROM",
        "LATEST",
        "IN",
        "nodelocal://1/b",
        "DATABASE",
        "bank",
    ]);
    assert!(dump.status.success(), "{}", text(&dump.stderr));
    let b = d.path().join("b");
    init(&b, None);
    let out = vouch_in(
        None,
        ["sql", "--cluster", path(&b), "--database", "defaultdb"],
        &dump.stdout,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("INSERT 0 50\n"),
        "{}",
        text(&out.stdout)
    );
    let select = "SELECT * FROM bank.bank ORDER BY id";
    let want = ok(&sql(&a, &[select]));
    assert!(want.ends_with("(50 rows)\n"), "{want}");
    assert_eq!(ok(&sql(&b, &[select])), want);
}
