//! The SQL layer of the embedded cluster: descriptor history, drops, GC thresholds and
//! protected timestamps as rows see them, users, ranges and constraints.

use vouch_cluster::{check_password, ColumnDef, ForeignKeyDef, IndexDef, TableDef};
use vouch_cluster::{Clock, Cluster, Error};
use vouch_format::keys::{ColumnType, Datum};
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_format::schema::{self, Kind, USERS_TABLE_ID};

const SEC: u64 = 1_000_000_000;

fn cluster() -> (tempfile::TempDir, Cluster) {
    let d = tempfile::tempdir().unwrap();
    let c = Cluster::init(d.path(), Clock::manual(1_000_000 * SEC)).unwrap();
    (d, c)
}

fn advance(c: &Cluster, secs: u64) {
    c.kv().clock().advance(secs * SEC);
}

/// `db.t (id INT PRIMARY KEY, v STRING NOT NULL, n INT)` with a unique index on `v`.
fn simple_table(c: &Cluster) -> pb::Descriptor {
    c.create_database("db").unwrap();
    c.create_table(
        "db",
        &TableDef {
            name: "t".into(),
            columns: vec![
                ColumnDef::new("id", ColumnType::Int, false),
                ColumnDef::new("v", ColumnType::String, false),
                ColumnDef::new("n", ColumnType::Int, true),
            ],
            primary_key: vec!["id".into()],
            indexes: vec![IndexDef {
                name: "t_v_key".into(),
                columns: vec![("v".into(), false)],
                unique: true,
                storing: vec![],
            }],
            foreign_keys: vec![],
        },
    )
    .unwrap();
    c.table("db", "t").unwrap()
}

fn row(id: i64, v: &str, n: Option<i64>) -> Vec<Datum> {
    vec![
        Datum::Int(id),
        Datum::String(v.into()),
        n.map_or(Datum::Null, Datum::Int),
    ]
}

fn rows_at(c: &Cluster, t: &pb::Descriptor, at: Timestamp) -> Result<Vec<Vec<Datum>>, Error> {
    let mut out = Vec::new();
    c.scan_rows(t, at, |r| {
        out.push(r);
        Ok(true)
    })?;
    Ok(out)
}

fn column_names(d: &pb::Descriptor) -> Vec<String> {
    schema::table(d)
        .unwrap()
        .columns
        .iter()
        .map(|c| c.name.clone())
        .collect()
}

#[test]
fn descriptors_keep_their_history_across_a_schema_change() {
    let (_d, c) = cluster();
    let t = simple_table(&c);
    let mut tx = c.txn();
    tx.insert(&t, &[row(1, "a", Some(1))]).unwrap();
    tx.commit().unwrap();
    advance(&c, 10);
    let before = c.now();
    advance(&c, 10);
    let changed = c.add_column(t.id, "extra", ColumnType::Bool).unwrap();
    assert!(changed > before);

    let old = c.descriptor(t.id, before).unwrap();
    assert_eq!(old.version, 1);
    assert_eq!(column_names(&old), ["id", "v", "n"]);
    let new = c.descriptor(t.id, c.now()).unwrap();
    assert_eq!(new.version, 2);
    assert_eq!(column_names(&new), ["id", "v", "n", "extra"]);
    assert_eq!(
        vouch_cluster::modification_time(&new),
        changed,
        "modification time is the write timestamp"
    );
    // descriptors(as_of) agrees with descriptor(id, as_of).
    let at = |ts| {
        c.descriptors(ts)
            .unwrap()
            .into_iter()
            .find(|d| d.id == t.id)
            .unwrap()
    };
    assert_eq!(at(before).version, 1);
    assert_eq!(at(c.now()).version, 2);
    // The change is one revision in (before, now].
    let revs = c.descriptor_revisions(before, c.now()).unwrap();
    assert_eq!(revs.len(), 1);
    assert_eq!(revs[0].id, t.id);
    let time = revs[0].time.unwrap();
    assert_eq!(Timestamp::new(time.wall, time.logical), changed);
    assert_eq!(revs[0].descriptor.as_ref().unwrap().version, 2);
    // The existing row reads NULL in the new column; old and new shapes both read.
    assert_eq!(
        rows_at(&c, &new, c.now()).unwrap(),
        [vec![
            Datum::Int(1),
            Datum::String("a".into()),
            Datum::Int(1),
            Datum::Null
        ]]
    );
    assert_eq!(rows_at(&c, &old, before).unwrap(), [row(1, "a", Some(1))]);
    // A schema change on a missing column name / duplicate is refused.
    assert!(matches!(
        c.add_column(t.id, "extra", ColumnType::Int),
        Err(Error::DuplicateObject(_))
    ));
}

#[test]
fn dropped_objects_stay_readable_in_the_past() {
    let (_d, c) = cluster();
    let t = simple_table(&c);
    let view = c.create_view("db", "v", "SELECT * FROM t", &["t"]).unwrap();
    let mut tx = c.txn();
    tx.insert(&t, &[row(1, "a", None)]).unwrap();
    tx.commit().unwrap();
    // The view depends on t.
    let err = c.drop_object(t.id).unwrap_err();
    assert!(
        matches!(&err, Error::Constraint(m) if m.contains("depends on it")),
        "{err}"
    );
    let before = c.now();
    advance(&c, 5);
    c.drop_object(view).unwrap();
    let dropped = c.drop_object(t.id).unwrap();
    let ids = |ts| -> Vec<u64> { c.descriptors(ts).unwrap().iter().map(|d| d.id).collect() };
    assert!(!ids(c.now()).contains(&t.id));
    assert!(!ids(c.now()).contains(&view));
    assert!(ids(before).contains(&t.id));
    assert!(ids(before).contains(&view));
    assert!(matches!(
        c.descriptor(t.id, c.now()),
        Err(Error::UndefinedObject(_))
    ));
    assert_eq!(c.descriptor(t.id, before).unwrap().name, "t");
    assert!(matches!(c.table("db", "t"), Err(Error::UndefinedObject(_))));
    // The data is still there at the earlier time, and the drop is a revision without a
    // descriptor.
    assert_eq!(rows_at(&c, &t, before).unwrap(), [row(1, "a", None)]);
    let revs = c.descriptor_revisions(before, c.now()).unwrap();
    let drop = revs.iter().find(|r| r.id == t.id).unwrap();
    assert!(drop.descriptor.is_none());
    let time = drop.time.unwrap();
    assert_eq!(Timestamp::new(time.wall, time.logical), dropped);
    // Fingerprints and ranges at now leave it out.
    assert!(c
        .fingerprints(c.now())
        .unwrap()
        .iter()
        .all(|f| f.table_id != t.id));
    assert!(c
        .fingerprints(before)
        .unwrap()
        .iter()
        .any(|f| f.table_id == t.id));
    assert!(c
        .ranges(c.now())
        .unwrap()
        .iter()
        .all(|r| r.table_id != t.id));
    // The name is free again.
    c.create_view("db", "t", "SELECT 1", &[]).unwrap();
}

#[test]
fn reads_below_the_gc_threshold_fail() {
    let (_d, c) = cluster();
    let t = simple_table(&c);
    c.set_table_gc_ttl(t.id, 60).unwrap();
    let mut tx = c.txn();
    tx.insert(&t, &[row(1, "a", Some(1))]).unwrap();
    let t1 = tx.commit().unwrap().unwrap();
    advance(&c, 30);
    let mut tx = c.txn();
    tx.upsert(&t, &[row(1, "b", Some(2))]).unwrap();
    let t2 = tx.commit().unwrap().unwrap();
    advance(&c, 100);
    let removed = c.kv().gc(c.now()).unwrap();
    assert!(removed > 0, "the overwritten version is collected");
    // threshold = now - 60s, after t1 and t2.
    let err = rows_at(&c, &t, t1).unwrap_err();
    assert!(
        matches!(err, Error::BelowGcThreshold { requested, .. } if requested == t1),
        "{err}"
    );
    let mut tx = c.txn();
    assert!(tx.get_row(&t, &[Datum::Int(1)]).unwrap().is_some());
    tx.delete(&t, &[Datum::Int(1)]).unwrap();
    tx.commit().unwrap();
    let (start, end) = vouch_format::keys::table_span(t.id);
    assert!(matches!(
        c.kv().get(&start, t2),
        Err(Error::BelowGcThreshold { .. })
    ));
    assert!(matches!(
        c.kv().versions(&start, &end, t1, c.now(), |_| Ok(())),
        Err(Error::BelowGcThreshold { .. })
    ));
    // Reads now still work.
    assert!(rows_at(&c, &t, c.now()).unwrap().is_empty());
}

#[test]
fn protected_timestamps_hold_gc_back() {
    let (_d, c) = cluster();
    let t = simple_table(&c);
    c.set_table_gc_ttl(t.id, 60).unwrap();
    let mut tx = c.txn();
    tx.insert(&t, &[row(1, "a", Some(1))]).unwrap();
    tx.commit().unwrap();
    advance(&c, 1);
    // A backup as of `snap` protects it.
    let snap = c.now();
    c.kv().protect(7, snap).unwrap();
    advance(&c, 1);
    let mut tx = c.txn();
    tx.upsert(&t, &[row(1, "b", Some(2))]).unwrap();
    tx.commit().unwrap();
    advance(&c, 1000);
    c.kv().gc(c.now()).unwrap();
    // The protected time and everything after it still read.
    assert_eq!(rows_at(&c, &t, snap).unwrap(), [row(1, "a", Some(1))]);
    let later = Timestamp::new(snap.wall + 500 * SEC, 0);
    assert_eq!(rows_at(&c, &t, later).unwrap(), [row(1, "b", Some(2))]);
    // Released: the next GC moves the threshold past it.
    c.kv().release(7).unwrap();
    c.kv().gc(c.now()).unwrap();
    assert!(matches!(
        rows_at(&c, &t, snap),
        Err(Error::BelowGcThreshold { .. })
    ));
    assert_eq!(rows_at(&c, &t, c.now()).unwrap(), [row(1, "b", Some(2))]);
}

#[test]
fn users_have_hashed_passwords() {
    let (_d, c) = cluster();
    c.create_user("alice", Some("s3cret"), [7; 16]).unwrap();
    c.create_user("bob", None, [8; 16]).unwrap();
    assert!(matches!(
        c.create_user("alice", Some("x"), [9; 16]),
        Err(Error::DuplicateObject(_))
    ));
    let users = c.descriptor(USERS_TABLE_ID, c.now()).unwrap();
    let rows = rows_at(&c, &users, c.now()).unwrap();
    let names: Vec<&Datum> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(
        names,
        ["admin", "alice", "bob", "root"]
            .map(|n| Datum::String(n.into()))
            .iter()
            .collect::<Vec<_>>()
    );
    let Datum::Bytes(hash) = &rows[1][1] else {
        panic!("{:?}", rows[1])
    };
    assert!(hash.starts_with(b"pbkdf2-sha256$"));
    assert!(!hash.windows(6).any(|w| w == b"s3cret"));
    assert!(check_password("s3cret", hash));
    assert!(!check_password("s3cret ", hash));
    assert!(!check_password("wrong", hash));
    assert!(!check_password("s3cret", b"pbkdf2-sha256$0$00$00"));
    assert!(!check_password("s3cret", b"plain"));
    assert_eq!(rows[2][1], Datum::Null);
    // system.users is fingerprinted like a user table.
    assert!(c
        .fingerprints(c.now())
        .unwrap()
        .iter()
        .any(|f| f.database == "system" && f.table == "users" && f.entries == 4));
}

#[test]
fn ranges_have_region_localities() {
    let (_d, c) = cluster();
    simple_table(&c);
    c.create_table(
        "db",
        &TableDef {
            name: "u".into(),
            columns: vec![ColumnDef::new("id", ColumnType::Int, false)],
            primary_key: vec!["id".into()],
            indexes: vec![],
            foreign_keys: vec![],
        },
    )
    .unwrap();
    let ranges = c.ranges(c.now()).unwrap();
    assert_eq!(ranges.len(), 3, "system.users, db.t, db.u");
    let regions = c.regions().unwrap();
    assert_eq!(regions, vouch_cluster::DEFAULT_REGIONS);
    let nodes = c.nodes().unwrap();
    for r in &ranges {
        let node = nodes.iter().find(|n| n.id == r.leaseholder).unwrap();
        assert_eq!(node.locality.to_string(), r.locality);
        let region = node.locality.get("region").unwrap();
        assert!(regions.iter().any(|x| x == region), "{}", r.locality);
        assert!(r.start < r.end);
        assert_eq!(
            (r.start.clone(), r.end.clone()),
            vouch_format::keys::table_span(r.table_id)
        );
    }
    c.set_regions(&["eu", "us"]).unwrap();
    let ranges = c.ranges(c.now()).unwrap();
    assert!(ranges
        .iter()
        .all(|r| r.locality == "region=eu" || r.locality == "region=us"));
    assert!(ranges.iter().any(|r| r.locality == "region=eu"));
    assert!(ranges.iter().any(|r| r.locality == "region=us"));
}

#[test]
fn constraint_violations_are_refused() {
    let (_d, c) = cluster();
    let t = simple_table(&c);
    let mut tx = c.txn();
    tx.insert(&t, &[row(1, "a", None), row(2, "b", Some(5))])
        .unwrap();
    tx.commit().unwrap();
    let refused = |rows: &[Vec<Datum>], upsert: bool, needle: &str| {
        let mut tx = c.txn();
        let err = if upsert {
            tx.upsert(&t, rows).unwrap_err()
        } else {
            tx.insert(&t, rows).unwrap_err()
        };
        assert!(
            matches!(&err, Error::Constraint(m) if m.contains(needle)),
            "{needle}: {err}"
        );
    };
    // Duplicate primary key.
    refused(&[row(1, "z", None)], false, "t_pkey");
    // Unique secondary index, on insert and on upsert of another row, and inside one txn.
    refused(&[row(3, "a", None)], false, "t_v_key");
    refused(&[row(2, "a", None)], true, "t_v_key");
    refused(&[row(3, "q", None), row(4, "q", None)], false, "t_v_key");
    // NOT NULL.
    refused(
        &[vec![Datum::Int(5), Datum::Null, Datum::Null]],
        false,
        "not-null",
    );
    refused(
        &[vec![Datum::Null, Datum::String("n".into()), Datum::Null]],
        false,
        "not-null",
    );
    // Types.
    refused(
        &[vec![Datum::Int(5), Datum::Int(5), Datum::Null]],
        false,
        "type",
    );
    refused(
        &[vec![
            Datum::Int(5),
            Datum::String("x".into()),
            Datum::Bool(true),
        ]],
        false,
        "type",
    );
    // Arity.
    refused(&[vec![Datum::Int(5)]], false, "columns");
    // Upserting a row with its own unique value is fine.
    let mut tx = c.txn();
    tx.upsert(&t, &[row(2, "b", Some(6))]).unwrap();
    tx.commit().unwrap();
    // Nothing refused was written.
    assert_eq!(
        rows_at(&c, &t, c.now()).unwrap(),
        [row(1, "a", None), row(2, "b", Some(6))]
    );

    // Enums: only members are accepted.
    c.create_enum("db", "color", &["red", "green"]).unwrap();
    c.create_table(
        "db",
        &TableDef {
            name: "paint".into(),
            columns: vec![
                ColumnDef::new("id", ColumnType::Int, false),
                ColumnDef::enumerated("c", "color", true),
                ColumnDef::new("t_id", ColumnType::Int, true),
            ],
            primary_key: vec!["id".into()],
            indexes: vec![],
            foreign_keys: vec![ForeignKeyDef {
                name: "paint_t_fk".into(),
                columns: vec!["t_id".into()],
                table: "t".into(),
            }],
        },
    )
    .unwrap();
    let paint = c.table("db", "paint").unwrap();
    let red = c.enum_value("db", "color", "red").unwrap();
    assert!(matches!(
        c.enum_value("db", "color", "blue"),
        Err(Error::Constraint(_))
    ));
    let mut tx = c.txn();
    let err = tx
        .insert(
            &paint,
            &[vec![Datum::Int(1), Datum::Enum(vec![0x01]), Datum::Null]],
        )
        .unwrap_err();
    assert!(matches!(err, Error::Constraint(_)), "{err}");
    // Foreign keys: NULL passes, a missing parent does not, a referenced parent stays.
    tx.insert(&paint, &[vec![Datum::Int(1), red.clone(), Datum::Null]])
        .unwrap();
    let err = tx
        .insert(&paint, &[vec![Datum::Int(2), red.clone(), Datum::Int(99)]])
        .unwrap_err();
    assert!(
        matches!(&err, Error::Constraint(m) if m.contains("paint_t_fk")),
        "{err}"
    );
    tx.insert(&paint, &[vec![Datum::Int(3), red, Datum::Int(2)]])
        .unwrap();
    tx.commit().unwrap();
    let mut tx = c.txn();
    let err = tx.delete(&t, &[Datum::Int(2)]).unwrap_err();
    assert!(
        matches!(&err, Error::Constraint(m) if m.contains("paint_t_fk")),
        "{err}"
    );
    assert!(tx.delete(&t, &[Datum::Int(1)]).unwrap());
    assert!(!tx.delete(&t, &[Datum::Int(42)]).unwrap());
    tx.commit().unwrap();
    // And the referenced table cannot be dropped.
    assert!(matches!(c.drop_object(t.id), Err(Error::Constraint(_))));
}

#[test]
fn names_are_checked() {
    let (_d, c) = cluster();
    simple_table(&c);
    assert!(matches!(
        c.create_database("db"),
        Err(Error::DuplicateObject(_))
    ));
    assert!(matches!(
        c.create_view("db", "t", "SELECT 1", &[]),
        Err(Error::DuplicateObject(_))
    ));
    assert!(matches!(
        c.create_view("db", "w", "SELECT 1", &["nope"]),
        Err(Error::UndefinedObject(_))
    ));
    assert!(matches!(
        c.table("nodb", "t"),
        Err(Error::UndefinedObject(_))
    ));
    let kinds: Vec<(String, Option<Kind>)> = c
        .descriptors(c.now())
        .unwrap()
        .iter()
        .map(|d| (d.name.clone(), Kind::of(d)))
        .collect();
    for (name, kind) in [
        ("system", Kind::Database),
        ("defaultdb", Kind::Database),
        ("postgres", Kind::Database),
        ("db", Kind::Database),
        ("public", Kind::Schema),
        ("users", Kind::Table),
        ("t", Kind::Table),
    ] {
        assert!(
            kinds.contains(&(name.to_string(), Some(kind))),
            "{name}: {kinds:?}"
        );
    }
    // Reopening the directory sees the same catalog and keeps the clock ahead of every
    // write, even when the wall clock is behind.
    let dir = c.dir().to_path_buf();
    let last = c.create_database("last").unwrap();
    let last = vouch_cluster::modification_time(&c.descriptor(last, c.now()).unwrap());
    drop(c);
    let c = Cluster::open(&dir, Clock::manual(1)).unwrap();
    assert!(c.now() > last);
    assert!(c.table("db", "t").is_ok());
    assert!(matches!(
        Cluster::init(&dir, Clock::system()),
        Err(Error::Usage(_))
    ));
}

#[test]
fn cluster_gc_applies_each_tables_effective_ttl() {
    let (_d, c) = cluster();
    let t = simple_table(&c);
    let u_def = TableDef {
        name: "u".into(),
        columns: vec![
            ColumnDef::new("id", ColumnType::Int, false),
            ColumnDef::new("v", ColumnType::String, false),
            ColumnDef::new("n", ColumnType::Int, true),
        ],
        primary_key: vec!["id".into()],
        indexes: vec![],
        foreign_keys: vec![],
    };
    c.create_table("db", &u_def).unwrap();
    let u = c.table("db", "u").unwrap();
    c.set_table_gc_ttl(t.id, 60).unwrap();
    assert_eq!(
        (
            c.effective_gc_ttl(t.id).unwrap(),
            c.effective_gc_ttl(u.id).unwrap()
        ),
        (60, vouch_cluster::DEFAULT_GC_TTL_SECS)
    );
    for tbl in [&t, &u] {
        let mut tx = c.txn();
        tx.insert(tbl, &[row(1, "a", Some(1))]).unwrap();
        tx.commit().unwrap();
        let mut tx = c.txn();
        tx.upsert(tbl, &[row(1, "b", Some(2))]).unwrap();
        tx.commit().unwrap();
    }
    advance(&c, 1000);
    let now = c.now();
    // Only t's overwritten primary and index versions go (u keeps 4 hours).
    assert!(c.gc(now).unwrap() > 0);
    let threshold = |d: &pb::Descriptor| {
        let (s, e) = vouch_format::keys::table_span(d.id);
        c.kv().gc_threshold(&s, &e).unwrap()
    };
    let t_at = Timestamp::new(now.wall - 60 * SEC, 0);
    assert_eq!(threshold(&t), t_at);
    assert_eq!(
        threshold(&u),
        Timestamp::new(now.wall - vouch_cluster::DEFAULT_GC_TTL_SECS * SEC, 0)
    );
    assert!(rows_at(&c, &u, Timestamp::new(now.wall - 900 * SEC, 0)).is_ok());
    // RESET: the default again; a threshold never goes back.
    c.reset_table_gc_ttl(t.id).unwrap();
    assert_eq!(
        c.effective_gc_ttl(t.id).unwrap(),
        vouch_cluster::DEFAULT_GC_TTL_SECS
    );
    advance(&c, 10);
    assert_eq!(c.gc(c.now()).unwrap(), 0);
    assert_eq!(threshold(&t), t_at);
}
