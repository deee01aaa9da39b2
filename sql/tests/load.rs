//! What vouch prints as SQL loads back through `vouch_sql`: the `create_statement`s of
//! `SHOW BACKUP SCHEMAS` (tables with inline indexes and `STORING`, foreign keys, enum
//! types, views) and a whole `vouch dump` (the seeds' Core backup path), checked against the
//! source: the same statements printed again, the same fingerprints.

use vouch_chain::Targets;
use vouch_chain::{open_options, Collection};
use vouch_cluster::workload::{self, Workload};
use vouch_cluster::{Clock, Cluster};
use vouch_sql::{Output, Session};

const T0: u64 = 1_767_225_600_000_000_000;

fn cluster(dir: &std::path::Path, name: &str) -> Cluster {
    Cluster::init(&dir.join(name), Clock::manual(T0)).unwrap()
}

fn run(c: &Cluster, script: &str) -> Vec<Output> {
    Session::new(c)
        .execute_all(script)
        .unwrap_or_else(|e| panic!("{e}\n--- script ---\n{script}"))
}

/// `(object_type, create_statement)` of database `db`'s objects in the newest backup at
/// `uri`, in SHOW BACKUP's order (types and tables by id, so parents first).
fn schemas(c: &Cluster, uri: &str, db: &str) -> Vec<(String, String)> {
    let out = run(c, &format!("SHOW BACKUP SCHEMAS FROM LATEST IN '{uri}'"));
    let t = out[0].table().unwrap();
    let col = |n: &str| t.columns.iter().position(|c| c == n).unwrap();
    let (d, ty, st) = (
        col("database_name"),
        col("object_type"),
        col("create_statement"),
    );
    t.rows
        .iter()
        .filter(|r| r[d].as_deref() == Some(db))
        .filter(|r| r[ty].as_deref() != Some("schema"))
        .map(|r| (r[ty].clone().unwrap(), r[st].clone().unwrap()))
        .collect()
}

/// Fingerprints of database `db`'s indexes, without ids (they differ between clusters).
fn fingerprints(c: &Cluster, db: &str) -> Vec<(String, String, u64, u64)> {
    c.fingerprints(c.now())
        .unwrap()
        .into_iter()
        .filter(|f| f.database == db)
        .map(|f| (f.table, f.index, f.fingerprint, f.entries))
        .collect()
}

#[test]
fn show_backup_schemas_statements_load_back_as_the_same_statements() {
    let d = tempfile::tempdir().unwrap();
    let a = cluster(d.path(), "a");
    workload::init(&a, Workload::Movr, 20, 3).unwrap();
    // A schema change of the workload: an added column and a new index.
    workload::run(&a, Workload::Movr, 10, 4).unwrap();
    run(
        &a,
        "CREATE TABLE movr.notes (id UUID PRIMARY KEY, body JSONB, at TIMESTAMP NOT NULL, \
         day DATE, ok BOOL, ratio FLOAT8, blob BYTES, INDEX notes_at_idx (at DESC, day)) \
         WITH (exclude_data_from_backup = true)",
    );
    a.kv().clock().advance(1_000_000_000);
    run(&a, "BACKUP DATABASE movr INTO 'nodelocal://1/a'");
    let want = schemas(&a, "nodelocal://1/a", "movr");
    let kinds: Vec<&str> = want.iter().map(|(k, _)| k.as_str()).collect();
    for k in ["type", "table", "view"] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }

    let b = cluster(d.path(), "b");
    let mut s = Session::new(&b);
    s.execute("CREATE DATABASE movr").unwrap();
    s.execute("USE movr").unwrap();
    // Types before the tables that use them; views last.
    let rank = |k: &str| ["type", "table", "view"].iter().position(|x| *x == k);
    let mut ordered: Vec<&(String, String)> = want.iter().collect();
    ordered.sort_by_key(|(k, _)| rank(k));
    for (kind, stmt) in ordered {
        let out = s.execute(stmt).unwrap_or_else(|e| panic!("{e}\n{stmt}"));
        let tag = format!("CREATE {}", kind.to_ascii_uppercase());
        assert_eq!(out, Output::Tag(tag), "{stmt}");
    }
    b.kv().clock().advance(1_000_000_000);
    run(&b, "BACKUP DATABASE movr INTO 'nodelocal://1/b'");
    assert_eq!(schemas(&b, "nodelocal://1/b", "movr"), want);
}

#[test]
fn a_vouch_dump_loads_back_with_the_same_fingerprints() {
    let d = tempfile::tempdir().unwrap();
    let a = cluster(d.path(), "a");
    workload::init(&a, Workload::Movr, 30, 5).unwrap();
    workload::init(&a, Workload::Bank, 40, 6).unwrap();
    workload::run(&a, Workload::Movr, 20, 7).unwrap();
    a.kv().clock().advance(1_000_000_000);
    run(&a, "BACKUP INTO 'nodelocal://1/a'");
    let coll =
        Collection::open("nodelocal://1/a", None, &open_options(Some(a.extern_dir()))).unwrap();
    let full = coll.latest().unwrap();
    let plan = vouch_chain::plan(coll.open_chain(&full).unwrap(), None).unwrap();
    let mut sql = Vec::new();
    vouch_engine::dump::dump(
        &plan,
        &Targets::Databases(vec!["bank".into(), "movr".into()]),
        &mut sql,
    )
    .unwrap();
    let sql = String::from_utf8(sql).unwrap();

    let b = cluster(d.path(), "b");
    let mut n = 0;
    Session::new(&b)
        .execute_script(&sql, |_| n += 1)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(n > 10, "{n} statements");
    for db in ["bank", "movr"] {
        let got = fingerprints(&b, db);
        assert!(!got.is_empty());
        assert_eq!(got, fingerprints(&a, db), "{db}");
    }
}
