//! `vouch dump` as a user runs it: the Core backup round trip. A dump of a backup, loaded
//! into a fresh cluster with `vouch sql --cluster DIR` (stdin), gives the same per-index
//! fingerprints (`vouch cluster fingerprint`) as the source cluster at the dumped time;
//! AS OF a past time in a revision-history chain gives that time's fingerprints.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{text, vouch, vouch_in};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `vouch` and requires success; returns stdout.
fn ok(args: &[&str]) -> String {
    let out = vouch(args);
    assert!(
        out.status.success(),
        "vouch {args:?}: {}\n{}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `vouch cluster fingerprint` as (database, table, index, fingerprint, entries) for the
/// databases in `dbs` (ids left out: a load assigns its own).
fn fingerprints(
    dir: &Path,
    as_of: Option<&str>,
    dbs: &[&str],
) -> BTreeSet<(String, String, String, String, u64)> {
    let mut args = vec!["cluster", "fingerprint", path(dir), "--format", "json"];
    if let Some(t) = as_of {
        args.extend(["--as-of", t]);
    }
    let v: Vec<serde_json::Value> = serde_json::from_str(&ok(&args)).unwrap();
    let s = |x: &serde_json::Value, k: &str| x[k].as_str().unwrap().to_string();
    v.iter()
        .filter(|x| dbs.contains(&x["database_name"].as_str().unwrap()))
        .map(|x| {
            (
                s(x, "database_name"),
                s(x, "table_name"),
                s(x, "index_name"),
                s(x, "fingerprint"),
                x["entries"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Loads `sql` into a new empty cluster at `dir` through `vouch sql` (stdin).
fn load(dir: &Path, sql: &str) {
    ok(&["cluster", "init", path(dir)]);
    let out = vouch_in(None, ["sql", "--cluster", path(dir)], sql.as_bytes());
    assert!(
        out.status.success(),
        "vouch sql: {}\n{}",
        out.status,
        text(&out.stderr)
    );
}

/// `vouch dump <words> --cluster src [extra]` → the SQL on stdout.
fn dump(src: &Path, words: &[&str], extra: &[&str]) -> String {
    let mut args = vec!["dump"];
    args.extend_from_slice(words);
    args.extend(["--cluster", path(src)]);
    args.extend_from_slice(extra);
    ok(&args)
}

/// The dump without its first line (which names the time and layers).
fn body(sql: &str) -> &str {
    sql.split_once("\n\n").unwrap().1
}

#[test]
fn bank_round_trip_at_the_end_and_as_of_a_past_time() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    ok(&[
        "cluster",
        "init",
        path(&src),
        "--workload",
        "bank",
        "--rows",
        "300",
        "--payload-bytes",
        "16",
    ]);
    let uri = "nodelocal://1/backups";
    ok(&[
        "backup",
        "--cluster",
        path(&src),
        "INTO",
        uri,
        "--revision-history",
    ]);
    ok(&[
        "cluster",
        "run",
        path(&src),
        "--workload",
        "bank",
        "--ops",
        "60",
    ]);
    let t1 = ok(&["cluster", "now", path(&src)]).trim().to_string();
    ok(&[
        "cluster",
        "run",
        path(&src),
        "--workload",
        "bank",
        "--ops",
        "60",
    ]);
    ok(&[
        "backup",
        "--cluster",
        path(&src),
        "INTO",
        "LATEST",
        "IN",
        uri,
        "--revision-history",
    ]);

    // At the end of the chain (nothing written since the last backup).
    let sql = dump(
        &src,
        &["FROM", "LATEST", "IN", uri, "DATABASE", "bank"],
        &[],
    );
    assert!(sql.contains("INSERT INTO bank.public.bank ("), "{sql}");
    let dst = tmp.path().join("dst");
    load(&dst, &sql);
    let want = fingerprints(&src, None, &["bank"]);
    assert_eq!(want.len(), 2, "primary and the secondary index: {want:?}");
    assert_eq!(fingerprints(&dst, None, &["bank"]), want);

    // AS OF a time inside the incremental's revision-history window: that time's rows
    // and schema (the `cluster run` schema changes differ between t1 and the end).
    let past = dump(&src, &["FROM", "LATEST", "IN", uri], &["--as-of", &t1]);
    assert_ne!(body(&past), body(&sql));
    let dst1 = tmp.path().join("dst1");
    load(&dst1, &past);
    let want1 = fingerprints(&src, Some(&t1), &["bank"]);
    assert_ne!(want1, want);
    assert_eq!(fingerprints(&dst1, None, &["bank"]), want1);

    // -o writes the same SQL to a new file, and refuses an existing one.
    let file = tmp.path().join("bank.sql");
    let out = vouch([
        "dump",
        "FROM",
        "LATEST",
        "IN",
        uri,
        "DATABASE",
        "bank",
        "--cluster",
        path(&src),
        "-o",
        path(&file),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert!(
        text(&out.stderr).starts_with("dumped DATABASE bank as of "),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(body(&std::fs::read_to_string(&file).unwrap()), body(&sql));
    let again = vouch([
        "dump",
        "FROM",
        "LATEST",
        "IN",
        uri,
        "--cluster",
        path(&src),
        "-o",
        path(&file),
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(
        text(&again.stderr),
        format!(
            "error: creating {}: File exists (os error 17)\n",
            file.display()
        )
    );
}

#[test]
fn movr_round_trip_keeps_schema_rows_and_views() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    ok(&[
        "cluster",
        "init",
        path(&src),
        "--workload",
        "movr",
        "--rows",
        "80",
    ]);
    ok(&[
        "cluster",
        "run",
        path(&src),
        "--workload",
        "movr",
        "--ops",
        "60",
    ]);
    let uri = "nodelocal://1/b";
    ok(&["backup", "--cluster", path(&src), "INTO", uri]);
    let sql = dump(
        &src,
        &["DATABASE", "movr", "FROM", "LATEST", "IN", uri],
        &[],
    );
    for stmt in [
        "CREATE TYPE movr.public.vehicle_type AS ENUM (",
        "STORING (revenue);",
        "CREATE VIEW movr.public.active_rides AS ",
    ] {
        assert!(sql.contains(stmt), "{stmt} missing from\n{sql}");
    }
    let dst = tmp.path().join("dst");
    load(&dst, &sql);
    let want = fingerprints(&src, None, &["movr"]);
    assert_eq!(
        want.iter().map(|f| f.1.as_str()).collect::<BTreeSet<_>>(),
        BTreeSet::from(["rides", "users", "vehicles"])
    );
    assert_eq!(fingerprints(&dst, None, &["movr"]), want);

    // The loaded cluster, backed up and dumped, gives the same SQL: same types, tables,
    // indexes, foreign keys and view.
    ok(&["backup", "--cluster", path(&dst), "INTO", uri]);
    let again = dump(
        &dst,
        &["FROM", "LATEST", "IN", uri, "DATABASE", "movr"],
        &[],
    );
    assert_eq!(body(&again), body(&sql));

    // One table: its foreign keys to tables left out are dropped, and it loads alone.
    let one = dump(
        &src,
        &["FROM", "LATEST", "IN", uri, "TABLE", "movr.rides"],
        &[],
    );
    assert!(
        one.contains(
            "-- foreign key fk_vehicle_id_ref_vehicles of movr.public.rides left out: its table movr.public.vehicles is not in this dump\n"
        ),
        "{one}"
    );
    assert!(!one.contains("CREATE TABLE movr.public.users"), "{one}");
    let dst2 = tmp.path().join("dst2");
    load(&dst2, &one);
    let rides = |dir: &Path| {
        let mut f = fingerprints(dir, None, &["movr"]);
        f.retain(|x| x.1 == "rides");
        f
    };
    assert_eq!(rides(&dst2), rides(&src));
    assert_eq!(
        fingerprints(&dst2, None, &["movr"]).len(),
        rides(&src).len()
    );
}

#[test]
fn usage_errors_say_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["dump", "LATEST", "IN", "nodelocal://1/x"],
            "error: expected FROM: vouch dump FROM LATEST|'subdir' IN URI [DATABASE d | TABLE db.t]\n",
        ),
        (
            &["dump", "FROM", "LATEST", "nodelocal://1/x"],
            "error: FROM needs LATEST IN URI or 'subdir' IN URI: vouch dump FROM LATEST|'subdir' IN URI [DATABASE d | TABLE db.t]\n",
        ),
        (
            &["dump", "FROM", "LATEST", "IN", "nodelocal://1/x"],
            "error: nodelocal:// URIs name a folder of a cluster: give --cluster DIR\n",
        ),
        (
            &["dump", "TABLE", "a.b", "FROM", "LATEST", "IN", "/x", "DATABASE", "d"],
            "error: targets given twice (before FROM and after IN URI): vouch dump FROM LATEST|'subdir' IN URI [DATABASE d | TABLE db.t]\n",
        ),
    ];
    for (args, want) in cases {
        let out = vouch(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&out.stderr), want, "{args:?}");
        assert_eq!(text(&out.stdout), "");
    }
    let empty = tmp.path().join("none");
    std::fs::create_dir(&empty).unwrap();
    let out = vouch(["dump", "FROM", "LATEST", "IN", path(&empty)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("error: "),
        "{}",
        text(&out.stderr)
    );
}

/// Every column type, written by `vouch sql` (an independent writer of the rows), with the
/// values that need care: special floats, `'` and newlines in strings, enum labels and
/// JSON, backslashes in bytes, extreme integers and dates, NULLs everywhere.
const EVERY_TYPE_SOURCE: &str = r#"
CREATE DATABASE e;
SET database = e;
CREATE TYPE e.public.mood AS ENUM ('sad', 'ok', 'it''s');
CREATE TABLE e.public.every (
    id INT8 PRIMARY KEY,
    f FLOAT8 NULL,
    dec DECIMAL NULL,
    s STRING NULL,
    b BYTES NULL,
    ok BOOL NULL,
    day DATE NULL,
    at TIMESTAMP NULL,
    u UUID NULL,
    j JSONB NULL,
    m mood NULL,
    "user" STRING NULL,
    INDEX every_s_idx (s DESC) STORING (f)
);
CREATE TABLE e.public.child (
    k STRING PRIMARY KEY,
    every_id INT8 NULL REFERENCES e.public.every (id)
);
INSERT INTO e.public.every VALUES
    (-9223372036854775808, 'NaN'::FLOAT8, -0.00012, 'it''s "quoted"
new line; -- not a comment', '\x00275cff', FALSE, '0001-01-01', '2017-06-09 16:13:55.571516',
     'aaaaaaaa-0000-1111-2222-333344445555', '{"a": [1, "it''s"], "b": null}', 'it''s', 'root'),
    (9223372036854775807, '+Inf'::FLOAT8, 12345678901234567890.5, '', '\x', TRUE, '9999-12-31',
     '1970-01-01 00:00:00', '00000000-0000-0000-0000-000000000000', '"s"', 'ok', NULL),
    (2, '-Inf'::FLOAT8, NULL, 'ünïcode', NULL, NULL, NULL, '2262-04-11 23:47:16.854775', NULL, '[]', 'sad', NULL),
    (3, -0.0, 1E+3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    (4, 5e-324, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    (5, 1.7976931348623157e308, -0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    (6, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO e.public.child VALUES ('a', 2), ('b', NULL);
"#;

#[test]
fn every_column_type_round_trips_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    load(&src, EVERY_TYPE_SOURCE);
    let uri = "nodelocal://1/b";
    ok(&["backup", "--cluster", path(&src), "INTO", uri]);
    let sql = dump(&src, &["FROM", "LATEST", "IN", uri], &[]);
    let dst = tmp.path().join("dst");
    load(&dst, &sql);
    let want = fingerprints(&src, None, &["e"]);
    assert_eq!(want.len(), 3, "{want:?}");
    assert!(want.iter().any(|f| f.1 == "every" && f.4 == 7), "{want:?}");
    assert_eq!(fingerprints(&dst, None, &["e"]), want);
    ok(&["backup", "--cluster", path(&dst), "INTO", uri]);
    let again = dump(&dst, &["FROM", "LATEST", "IN", uri], &[]);
    assert_eq!(body(&again), body(&sql));
}

/// `vouch sql --database=e < e.sql` when `e` does not exist yet: the dump's own
/// `CREATE DATABASE IF NOT EXISTS e; SET database = e;` makes it (as with `cockroach sql
/// --database`), and the load gives the source's fingerprints. A statement that needs the
/// missing database before that fails as a statement (exit 1), not as a bad option.
#[test]
fn a_dump_loads_with_database_set_to_one_that_does_not_exist_yet() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    ok(&["cluster", "init", path(&src)]);
    ok(&[
        "sql",
        "--cluster",
        path(&src),
        "-e",
        "CREATE DATABASE e; CREATE TABLE e.t (id INT PRIMARY KEY, v STRING); INSERT INTO e.t VALUES (1, 'x'), (2, 'y')",
        "-e",
        "BACKUP DATABASE e INTO 'nodelocal://1/e'",
    ]);
    let sql = ok(&[
        "dump",
        "FROM",
        "LATEST",
        "IN",
        "nodelocal://1/e",
        "--cluster",
        path(&src),
    ]);
    let dst = tmp.path().join("dst");
    let out = vouch_in(
        None,
        ["sql", "--cluster", path(&dst), "--database=e"],
        sql.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        fingerprints(&dst, None, &["e"]),
        fingerprints(&src, None, &["e"])
    );
    let out = vouch([
        "sql",
        "--cluster",
        path(&dst),
        "--database",
        "nope",
        "-e",
        "SELECT * FROM t",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}
