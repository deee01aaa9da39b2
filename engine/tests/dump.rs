//! `vouch_engine::dump`: the exact SQL of a small hand-built database with every column
//! type, the object order, target selection, and AS OF a past time in a revision-history
//! chain (compared with the source cluster's own rows at that time).

mod support;

use vouch_chain::Targets;
use vouch_chain::{open_source, plan, Plan, Source};
use vouch_cluster::{ColumnDef, ForeignKeyDef, IndexDef, TableDef};
use vouch_engine::backup::Destination;
use vouch_engine::dump::{dump, literal, DumpStats};
use vouch_format::keys::{ColumnType, Datum};
use vouch_format::mvcc::Timestamp;
use vouch_format::schema::{self};

use support::*;

fn plan_at(env: &Env, uri: &str, as_of: Option<Timestamp>) -> Plan {
    let opts = vouch_chain::open_options(Some(env.c.extern_dir()));
    let chain = open_source(
        &Source::Collection {
            uri: uri.into(),
            subdir: "LATEST".into(),
            incremental_location: None,
        },
        &opts,
    )
    .expect("open chain");
    plan(chain, as_of).expect("plan")
}

fn dump_text(p: &Plan, targets: &Targets) -> (String, DumpStats) {
    let mut out = Vec::new();
    let stats = dump(p, targets, &mut out).expect("dump");
    assert_eq!(stats.bytes, out.len() as u64);
    (String::from_utf8(out).expect("utf-8"), stats)
}

/// `d` with an enum, `every` (a column of every type), `child` (a foreign key to `every`,
/// a secondary index with STORING, a unique descending one) and a view.
fn every_type_db(env: &Env) {
    let c = &env.c;
    c.create_database("d").unwrap();
    c.create_enum("d", "mood", &["sad", "ok", "it's"]).unwrap();
    c.create_table(
        "d",
        &TableDef {
            name: "every".into(),
            columns: vec![
                ColumnDef::new("id", ColumnType::Int, false),
                ColumnDef::new("f", ColumnType::Float, true),
                ColumnDef::new("dec", ColumnType::Decimal, true),
                ColumnDef::new("s", ColumnType::String, true),
                ColumnDef::new("b", ColumnType::Bytes, true),
                ColumnDef::new("ok", ColumnType::Bool, true),
                ColumnDef::new("day", ColumnType::Date, true),
                ColumnDef::new("at", ColumnType::Timestamp, true),
                ColumnDef::new("u", ColumnType::Uuid, true),
                ColumnDef::new("j", ColumnType::Json, true),
                ColumnDef::enumerated("m", "mood", true),
                ColumnDef::new("user", ColumnType::String, true),
            ],
            primary_key: vec!["id".into()],
            indexes: vec![],
            foreign_keys: vec![],
        },
    )
    .unwrap();
    c.create_table(
        "d",
        &TableDef {
            name: "child".into(),
            columns: vec![
                ColumnDef::new("k", ColumnType::String, false),
                ColumnDef::new("every_id", ColumnType::Int, true),
                ColumnDef::new("note", ColumnType::String, true),
            ],
            primary_key: vec!["k".into()],
            indexes: vec![
                IndexDef {
                    name: "child_every_id_idx".into(),
                    columns: vec![("every_id".into(), false)],
                    unique: false,
                    storing: vec!["note".into()],
                },
                IndexDef {
                    name: "child_note_key".into(),
                    columns: vec![("note".into(), true)],
                    unique: true,
                    storing: vec![],
                },
            ],
            foreign_keys: vec![ForeignKeyDef {
                name: "child_every_id_fkey".into(),
                columns: vec!["every_id".into()],
                table: "every".into(),
            }],
        },
    )
    .unwrap();
    c.create_view("d", "v", "SELECT s FROM every WHERE ok", &["every"])
        .unwrap();
    let ok = c.enum_value("d", "mood", "ok").unwrap();
    let quoted = c.enum_value("d", "mood", "it's").unwrap();
    env.upsert(
        "d",
        "every",
        &[
            vec![
                Datum::Int(-9_223_372_036_854_775_808),
                Datum::Float(f64::NAN),
                Datum::Decimal("-0.000120".parse().unwrap()),
                Datum::String("it's \"quoted\"\nnew line, ünïcode".into()),
                Datum::Bytes(vec![0x00, 0x27, 0x5c, 0xff]),
                Datum::Bool(false),
                Datum::Date(-1),
                Datum::Timestamp(1_497_024_835_571_516),
                Datum::Uuid([
                    0xaa, 0xaa, 0xaa, 0xaa, 0, 0, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33, 0x44, 0x44,
                    0x55, 0x55,
                ]),
                Datum::Json(serde_json::json!({"a": [1, "it's"], "b": null})),
                quoted,
                Datum::String("root".into()),
            ],
            vec![
                Datum::Int(1),
                Datum::Float(f64::INFINITY),
                Datum::Decimal("12345678901234567890.5".parse().unwrap()),
                Datum::String(String::new()),
                Datum::Bytes(vec![]),
                Datum::Bool(true),
                Datum::Date(19_782),
                Datum::Timestamp(0),
                Datum::Uuid([0; 16]),
                Datum::Json(serde_json::json!("s")),
                ok,
                Datum::Null,
            ],
            vec![
                Datum::Int(2),
                Datum::Float(-0.1),
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
            ],
            vec![
                Datum::Int(3),
                Datum::Float(f64::NEG_INFINITY),
                Datum::Decimal("1E+3".parse().unwrap()),
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Timestamp(1_500_000),
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
            ],
            vec![
                Datum::Int(4),
                Datum::Float(1e300),
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
                Datum::Null,
            ],
        ],
    );
    env.upsert(
        "d",
        "child",
        &[
            vec![
                Datum::String("a".into()),
                Datum::Int(1),
                Datum::String("x".into()),
            ],
            vec![Datum::String("b".into()), Datum::Null, Datum::Null],
        ],
    );
}

const EVERY_SQL: &str = r#"CREATE DATABASE IF NOT EXISTS d;

SET database = d;

CREATE TYPE d.public.mood AS ENUM ('sad', 'ok', 'it''s');

CREATE TABLE d.public.every (
	id INT8 NOT NULL,
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
	CONSTRAINT every_pkey PRIMARY KEY (id ASC)
);

CREATE TABLE d.public.child (
	k STRING NOT NULL,
	every_id INT8 NULL,
	note STRING NULL,
	CONSTRAINT child_pkey PRIMARY KEY (k ASC),
	CONSTRAINT child_every_id_fkey FOREIGN KEY (every_id) REFERENCES d.public.every(id)
);

CREATE INDEX child_every_id_idx ON d.public.child (every_id ASC) STORING (note);

CREATE UNIQUE INDEX child_note_key ON d.public.child (note DESC);

INSERT INTO d.public.every (id, f, dec, s, b, ok, day, at, u, j, m, "user") VALUES
	(-9223372036854775808, 'NaN'::FLOAT8, -0.00012, 'it''s "quoted"
new line, ünïcode', '\x00275cff', FALSE, '1969-12-31', '2017-06-09 16:13:55.571516', 'aaaaaaaa-0000-1111-2222-333344445555', '{"a":[1,"it''s"],"b":null}', 'it''s', 'root'),
	(1, '+Inf'::FLOAT8, 12345678901234567890.5, '', '\x', TRUE, '2024-02-29', '1970-01-01 00:00:00', '00000000-0000-0000-0000-000000000000', '"s"', 'ok', NULL),
	(2, -0.1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	(3, '-Inf'::FLOAT8, 1000, NULL, NULL, NULL, NULL, '1970-01-01 00:00:01.5', NULL, NULL, NULL, NULL),
	(4, 1e300, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

INSERT INTO d.public.child (k, every_id, note) VALUES
	('a', 1, 'x'),
	('b', NULL, NULL);

CREATE VIEW d.public.v AS SELECT s FROM every WHERE ok;

"#;

#[test]
fn every_column_type_dumps_to_exact_sql() {
    let env = Env::new();
    every_type_db(&env);
    let uri = env.uri("every");
    let r = run(
        &env.c,
        &opts(
            Targets::Databases(vec!["d".into()]),
            Destination::Into(uri.clone()),
        ),
    );
    let p = plan_at(&env, &uri, None);
    assert_eq!(p.time, r.end_time);
    let (sql, stats) = dump_text(&p, &Targets::Databases(vec!["d".into()]));
    let header = format!(
        "-- vouch dump of DATABASE d as of {} (1 layer read)\n\n",
        p.time
    );
    assert_eq!(sql, format!("{header}{EVERY_SQL}"));
    assert_eq!(
        stats,
        DumpStats {
            what: "DATABASE d".into(),
            time: p.time,
            databases: 1,
            types: 1,
            tables: 2,
            indexes: 2,
            views: 1,
            rows: 7,
            statements: 10,
            bytes: sql.len() as u64,
            file_bytes: stats.file_bytes,
        }
    );
    assert!(stats.file_bytes > 0);
    // A dump of everything in a database backup says what it holds, not "cluster".
    let (all, stats) = dump_text(&p, &Targets::Cluster);
    assert_eq!(stats.what, "DATABASE d");
    assert_eq!(all, sql);
}

#[test]
fn table_targets_leave_out_foreign_keys_to_tables_not_dumped() {
    let env = Env::new();
    every_type_db(&env);
    let uri = env.uri("t");
    run(
        &env.c,
        &opts(Targets::Cluster, Destination::Into(uri.clone())),
    );
    let p = plan_at(&env, &uri, None);
    // Everything in a cluster backup is the cluster.
    assert_eq!(dump_text(&p, &Targets::Cluster).1.what, "cluster");
    let (sql, stats) = dump_text(&p, &Targets::Tables(vec![("d".into(), "child".into())]));
    let body = sql.split_once("\n\n").unwrap().1;
    assert_eq!(
        body,
        "CREATE DATABASE IF NOT EXISTS d;\n\n\
         SET database = d;\n\n\
         -- foreign key child_every_id_fkey of d.public.child left out: its table d.public.every is not in this dump\n\
         CREATE TABLE d.public.child (\n\
         \tk STRING NOT NULL,\n\
         \tevery_id INT8 NULL,\n\
         \tnote STRING NULL,\n\
         \tCONSTRAINT child_pkey PRIMARY KEY (k ASC)\n\
         );\n\n\
         CREATE INDEX child_every_id_idx ON d.public.child (every_id ASC) STORING (note);\n\n\
         CREATE UNIQUE INDEX child_note_key ON d.public.child (note DESC);\n\n\
         INSERT INTO d.public.child (k, every_id, note) VALUES\n\
         \t('a', 1, 'x'),\n\
         \t('b', NULL, NULL);\n\n"
    );
    assert_eq!((stats.tables, stats.rows, stats.types), (1, 2, 0));

    // The whole cluster: d, then the bootstrap databases (no objects: no SET).
    let (all, stats) = dump_text(&p, &Targets::Cluster);
    let after_create = EVERY_SQL
        .strip_prefix("CREATE DATABASE IF NOT EXISTS d;\n\n")
        .unwrap();
    assert_eq!(
        all.split_once("\n\n").unwrap().1,
        format!(
            "CREATE DATABASE IF NOT EXISTS d;\n\n\
             CREATE DATABASE IF NOT EXISTS defaultdb;\n\n\
             CREATE DATABASE IF NOT EXISTS postgres;\n\n{after_create}"
        )
    );
    assert_eq!(stats.databases, 3);
    assert!(!all.contains("system"), "{all}");

    // A view without its table, and unknown names, are refused by name.
    let e = dump(
        &p,
        &Targets::Tables(vec![("d".into(), "v".into())]),
        &mut Vec::new(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "cannot dump view \"v\" without the relation \"every\" it depends on; add it to the targets"
    );
    let e = dump(
        &p,
        &Targets::Databases(vec!["nope".into()]),
        &mut Vec::new(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(e, "database \"nope\" does not exist");
}

#[test]
fn inserts_hold_at_most_100_rows() {
    let env = Env::new();
    env.c.create_database("b").unwrap();
    env.c
        .create_table("b", &simple_table("t", "v", ColumnType::String, true))
        .unwrap();
    let rows: Vec<Vec<Datum>> = (0..250).map(|i| int_str(i, &format!("r{i}"))).collect();
    env.upsert("b", "t", &rows);
    let uri = env.uri("b");
    run(
        &env.c,
        &opts(Targets::Cluster, Destination::Into(uri.clone())),
    );
    let p = plan_at(&env, &uri, None);
    let (sql, stats) = dump_text(&p, &Targets::Databases(vec!["b".into()]));
    let inserts: Vec<&str> = sql
        .split(";\n\n")
        .filter(|s| s.starts_with("INSERT"))
        .collect();
    let counts: Vec<usize> = inserts.iter().map(|s| s.matches("\n\t(").count()).collect();
    assert_eq!(counts, [100, 100, 50]);
    assert!(inserts[1].ends_with("\n\t(199, 'r199')"), "{}", inserts[1]);
    assert!(inserts[2].contains("VALUES\n\t(200, 'r200'),\n\t(201, 'r201'),"));
    assert_eq!(stats.rows, 250);
}

/// The rows of `db.t` in the dump, as the literals the dump writes.
fn dumped_rows(sql: &str, table: &str) -> Vec<String> {
    let head = format!("INSERT INTO {table} (");
    sql.split(";\n\n")
        .filter(|s| s.starts_with(&head))
        .flat_map(|s| {
            s.split_once(" VALUES\n\t")
                .unwrap()
                .1
                .split(",\n\t")
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The source cluster's rows of `db.t` at `at`, rendered with the dump's literals.
fn source_rows(env: &Env, db: &str, t: &str, at: Timestamp) -> Vec<String> {
    let d = env.c.catalog(at).unwrap();
    let dbd = d.database(db).unwrap();
    let td = d.object(dbd.id, t).unwrap().clone();
    let cols = schema::table(&td).unwrap().columns.clone();
    let mut out = Vec::new();
    env.c
        .scan_rows(&td, at, |row| {
            let lits: Vec<String> = row
                .iter()
                .zip(&cols)
                .map(|(x, c)| {
                    let members = d
                        .get(c.enum_type_id)
                        .and_then(|e| match &e.kind {
                            Some(vouch_format::manifest::pb::descriptor::Kind::EnumType(e)) => {
                                Some(e.members.iter().collect::<Vec<_>>())
                            }
                            _ => None,
                        })
                        .unwrap_or_default();
                    literal(x, &members).unwrap()
                })
                .collect();
            out.push(format!("({})", lits.join(", ")));
            Ok(true)
        })
        .unwrap();
    out
}

#[test]
fn as_of_a_past_time_dumps_the_rows_of_that_time() {
    let env = Env::new();
    env.c.create_database("h").unwrap();
    env.c
        .create_table("h", &simple_table("t", "v", ColumnType::String, false))
        .unwrap();
    let uri = env.uri("h");
    let mut times = Vec::new();
    let mut o = opts(
        Targets::Databases(vec!["h".into()]),
        Destination::Into(uri.clone()),
    );
    o.revision_history = true;
    for i in 0..30 {
        env.upsert("h", "t", &[int_str(i, &format!("first {i}"))]);
        env.advance(SEC);
    }
    times.push(env.now());
    run(&env.c, &o);
    o.destination = Destination::IntoLatest(uri.clone());
    for round in 0..3i64 {
        for i in 0..10 {
            let id = round * 7 + i;
            let mut row = int_str(id, &format!("round {round} it's {i}"));
            if round > 1 {
                row.push(Datum::Int(id * 10));
            }
            env.upsert("h", "t", &[row]);
            env.advance(SEC);
            times.push(env.now());
        }
        env.delete("h", "t", &[Datum::Int(round * 3)]);
        env.advance(SEC);
        times.push(env.now());
        if round == 1 {
            env.c
                .add_column(env.table_id("h", "t"), "extra", ColumnType::Int)
                .unwrap();
            env.upsert(
                "h",
                "t",
                &[vec![Datum::Int(100), Datum::Null, Datum::Int(7)]],
            );
            env.advance(SEC);
            times.push(env.now());
        }
        run(&env.c, &o);
    }
    let mut distinct = std::collections::BTreeSet::new();
    for at in times
        .iter()
        .copied()
        .step_by(3)
        .chain(times.last().copied())
    {
        let p = plan_at(&env, &uri, Some(at));
        assert_eq!(p.time, at);
        let (sql, stats) = dump_text(&p, &Targets::Databases(vec!["h".into()]));
        let want = source_rows(&env, "h", "t", at);
        assert_eq!(dumped_rows(&sql, "h.public.t"), want, "as of {at}");
        assert_eq!(stats.rows, want.len() as u64);
        let columns_then = schema::table(&env.c.descriptor(env.table_id("h", "t"), at).unwrap())
            .unwrap()
            .columns
            .len();
        assert_eq!(
            sql.contains("\textra INT8 NULL,"),
            columns_then == 3,
            "as of {at}"
        );
        distinct.insert(sql);
    }
    // The sampled times really differ in content.
    assert!(distinct.len() >= 8, "{}", distinct.len());
}
