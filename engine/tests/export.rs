//! What a layer exports: the rules table of `engine/src/backup.rs` checked entry by entry
//! against an oracle computed from the cluster's own MVCC history, for full and
//! incremental layers with and without revision history; per-file metadata; fingerprints;
//! AS OF SYSTEM TIME and the GC threshold; what the targets cover.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use support::*;
use vouch_chain::Targets;
use vouch_cluster::workload::{self, Workload};
use vouch_cluster::Cluster;
use vouch_engine::backup::Destination;
use vouch_format::keys::table_span;
use vouch_format::keys::{self, ColumnType, Datum};
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_format::schema::{
    self, Kind, SYSTEM_DATABASE_ID, SYSTEM_PUBLIC_SCHEMA_ID, USERS_TABLE_ID,
};
use vouch_format::time::format_sql_tz;

fn shop(env: &Env) {
    env.c.create_database("shop").unwrap();
    env.c
        .create_table(
            "shop",
            &simple_table("items", "name", ColumnType::String, true),
        )
        .unwrap();
    env.c
        .create_table(
            "shop",
            &simple_table("notes", "body", ColumnType::String, false),
        )
        .unwrap();
    env.c
        .create_table(
            "shop",
            &simple_table("archive", "blob", ColumnType::Bytes, false),
        )
        .unwrap();
}

fn blob(id: i64, b: &[u8]) -> Vec<Datum> {
    vec![Datum::Int(id), Datum::Bytes(b.to_vec())]
}

fn is_below_gc(e: &vouch_engine::Error) -> bool {
    matches!(
        e,
        vouch_engine::Error::Cluster(vouch_cluster::Error::BelowGcThreshold { .. })
    )
}

/// The GC threshold a layer's spans are under.
fn gc_threshold(c: &Cluster, m: &pb::BackupManifest) -> Timestamp {
    m.spans
        .iter()
        .map(|s| c.kv().gc_threshold(&s.start, &s.end).unwrap())
        .max()
        .unwrap_or(Timestamp::MIN)
}

/// Checks a whole-cluster layer against the oracle: spans, introduced spans, descriptors,
/// filter, times, every entry of every file, fingerprints.
fn check_cluster_layer(c: &Cluster, layer: &Stored, prev: Option<&Stored>, revision_history: bool) {
    let m = &layer.m;
    let (start, end) = (layer.start(), layer.end());
    assert_eq!(
        start,
        prev.map_or(Timestamp::MIN, Stored::end),
        "start time"
    );
    let tables = tables_at(c, end);
    let before: BTreeSet<u64> = prev.map_or_else(BTreeSet::new, |p| {
        tables_at(c, p.end()).into_keys().collect()
    });
    let introduced: Vec<u64> = if prev.is_some() {
        tables
            .keys()
            .copied()
            .filter(|id| !before.contains(id))
            .collect()
    } else {
        vec![]
    };
    assert_eq!(m.spans, spans_of(tables.keys().copied()), "spans");
    assert_eq!(
        m.introduced_spans,
        spans_of(introduced.iter().copied()),
        "introduced spans"
    );
    let want_ids: BTreeSet<u64> = c.catalog(end).unwrap().iter().map(|d| d.id).collect();
    let got_ids: BTreeSet<u64> = m.descriptors.iter().map(|d| d.id).collect();
    assert_eq!(got_ids, want_ids, "descriptors");
    assert!(m.is_full_cluster);
    assert_eq!(
        m.mvcc_filter,
        if revision_history {
            pb::MvccFilter::All as i32
        } else {
            pb::MvccFilter::Latest as i32
        }
    );
    match (revision_history, prev) {
        (false, _) => assert_eq!(m.revision_start_time, None),
        (true, None) => assert_eq!(ts(m.revision_start_time), gc_threshold(c, m)),
        (true, Some(p)) => assert_eq!(ts(m.revision_start_time), p.end()),
    }
    let rules: BTreeMap<u64, (Rule, bool)> = tables
        .iter()
        .map(|(id, excluded)| {
            let rule = Rule {
                start,
                end,
                revision_history,
                from_zero: prev.is_none() || introduced.contains(id),
            };
            (*id, (rule, *excluded))
        })
        .collect();
    let want = expected(c, &rules);
    let got = layer_entries(layer);
    let what = format!(
        "{} layer, revision_history={revision_history}, {}",
        if prev.is_some() {
            "incremental"
        } else {
            "full"
        },
        layer.dir.display()
    );
    assert_same(&what, &got, &want);
    let with_data: BTreeSet<u64> = tables
        .iter()
        .filter(|(_, x)| !**x)
        .map(|(id, _)| *id)
        .collect();
    check_fingerprints(c, layer, &with_data);
    // Excluded tables: the descriptor is there, no entry and no fingerprint.
    for (id, excluded) in &tables {
        if *excluded {
            let d = m
                .descriptors
                .iter()
                .find(|d| d.id == *id)
                .expect("excluded table's descriptor");
            assert!(schema::table(d).unwrap().exclude_data_from_backup);
            assert!(!got
                .iter()
                .any(|e| keys::decode_table_prefix(&e.0).unwrap().0 == *id));
            assert!(!m.fingerprints.iter().any(|f| f.table_id == *id));
        }
    }
}

/// Every combination of (full, incremental) × (revision history on, off), on one history
/// of puts, overwrites, deletes and re-inserts across several tables plus a workload.
#[test]
fn export_rules_every_combination() {
    let env = Env::new();
    shop(&env);
    let items = env.table_id("shop", "items");
    let archive = env.table_id("shop", "archive");
    env.upsert(
        "shop",
        "items",
        &[
            int_str(1, "apple"),
            int_str(2, "pear"),
            int_str(3, "fig"),
            int_str(4, "kiwi"),
            int_str(5, "lime"),
            int_str(6, "plum"),
        ],
    );
    env.upsert(
        "shop",
        "notes",
        &[int_str(1, "a"), int_str(2, "b"), int_str(3, "c")],
    );
    env.upsert("shop", "archive", &[blob(1, b"x"), blob(2, b"y")]);
    env.advance(SEC);
    env.upsert("shop", "items", &[int_str(2, "pear2")]);
    env.upsert("shop", "items", &[int_str(2, "pear3")]);
    env.delete("shop", "items", &[Datum::Int(3)]);
    env.delete("shop", "notes", &[Datum::Int(1)]);
    env.delete("shop", "items", &[Datum::Int(4)]);
    env.upsert("shop", "items", &[int_str(4, "kiwi2")]);
    env.c.set_exclude_data_from_backup(archive, true).unwrap();
    env.upsert("shop", "archive", &[blob(3, b"z"), blob(1, b"x2")]);
    workload::init(&env.c, Workload::Bank, 12, 7).unwrap();
    workload::run(&env.c, Workload::Bank, 20, 7).unwrap();
    // Collection A ends exactly at a write; B at "now".
    let a_full_end = env.upsert("shop", "items", &[int_str(6, "plum2")]);
    env.upsert("shop", "items", &[int_str(6, "plum3")]);
    env.advance(SEC);

    let (ua, ub) = (env.uri("a"), env.uri("b"));
    let mut oa = opts(Targets::Cluster, Destination::Into(ua.clone()));
    oa.as_of = Some(a_full_end.to_string());
    let ra = run(&env.c, &oa);
    assert_eq!(ra.end_time, a_full_end);
    let mut ob = opts(Targets::Cluster, Destination::Into(ub.clone()));
    ob.revision_history = true;
    let rb = run(&env.c, &ob);
    let a0 = read_layer(&env.root("a").join(&ra.path));
    let b0 = read_layer(&env.root("b").join(&rb.path));
    assert!(
        a0.m.files.len() > 3,
        "small target size gives several files"
    );
    check_cluster_layer(&env.c, &a0, None, false);
    check_cluster_layer(&env.c, &b0, None, true);
    // The full backup without history has no tombstones and one version per key.
    assert!(a0.m.files.iter().all(|f| f.tombstones == 0));
    assert!(b0.m.files.iter().any(|f| f.tombstones > 0));

    // Second interval: overwrites, deletes, re-inserts, a put and delete of a new key, a
    // table created after the full backup, more writes to the excluded table.
    env.upsert("shop", "items", &[int_str(1, "apple2")]);
    env.delete("shop", "items", &[Datum::Int(2)]);
    env.upsert("shop", "items", &[int_str(3, "fig2")]);
    env.delete("shop", "items", &[Datum::Int(5)]);
    env.upsert("shop", "items", &[int_str(5, "lime2")]);
    env.upsert("shop", "items", &[int_str(7, "grape")]);
    env.delete("shop", "items", &[Datum::Int(7)]);
    env.upsert("shop", "notes", &[int_str(2, "b2")]);
    let late = env
        .c
        .create_table("shop", &simple_table("late", "v", ColumnType::String, true))
        .unwrap();
    env.upsert(
        "shop",
        "late",
        &[int_str(1, "l1"), int_str(2, "l2"), int_str(3, "l3")],
    );
    env.upsert("shop", "late", &[int_str(2, "l2b")]);
    env.delete("shop", "late", &[Datum::Int(3)]);
    env.upsert("shop", "archive", &[blob(4, b"w")]);
    workload::run(&env.c, Workload::Bank, 15, 8).unwrap();
    let a_inc_end = env.upsert("shop", "items", &[int_str(1, "apple3")]);
    env.upsert("shop", "items", &[int_str(1, "apple4")]);
    env.advance(SEC);

    let mut oa = opts(Targets::Cluster, Destination::IntoLatest(ua.clone()));
    oa.as_of = Some(a_inc_end.to_string());
    let ra1 = run(&env.c, &oa);
    assert!(ra1.incremental);
    let mut ob = opts(Targets::Cluster, Destination::IntoLatest(ub.clone()));
    ob.revision_history = true;
    let rb1 = run(&env.c, &ob);
    let a1 = read_layer(&env.root("a").join(&ra1.path));
    let b1 = read_layer(&env.root("b").join(&rb1.path));
    assert_eq!(a1.end(), a_inc_end);
    assert_eq!(a1.m.introduced_spans, spans_of([late]));
    assert_eq!(b1.m.introduced_spans, spans_of([late]));
    check_cluster_layer(&env.c, &a1, Some(&a0), false);
    check_cluster_layer(&env.c, &b1, Some(&b0), true);
    // The put-then-delete of item 7 is a lone tombstone without history, both versions
    // with it.
    let key7 = keys::encode_index_key(items, 1, &[(Datum::Int(7), keys::Direction::Asc)]).unwrap();
    let k7 = |l: &Stored| {
        layer_entries(l)
            .into_iter()
            .filter(|e| e.0 == key7)
            .map(|e| e.2.is_some())
            .collect::<Vec<_>>()
    };
    assert_eq!(k7(&a1), vec![false]);
    let mut b7 = k7(&b1);
    b7.sort();
    assert_eq!(b7, vec![false, true]);

    // Third interval: a table created and one deleted row in it, more workload.
    env.delete("shop", "late", &[Datum::Int(1)]);
    env.c
        .create_table("shop", &simple_table("later", "v", ColumnType::Int, false))
        .unwrap();
    env.upsert("shop", "later", &[vec![Datum::Int(1), Datum::Int(10)]]);
    env.upsert("shop", "later", &[vec![Datum::Int(1), Datum::Int(11)]]);
    workload::run(&env.c, Workload::Bank, 10, 9).unwrap();
    env.advance(SEC);
    let ra2 = run(&env.c, &opts(Targets::Cluster, Destination::IntoLatest(ua)));
    let mut ob = opts(Targets::Cluster, Destination::IntoLatest(ub));
    ob.revision_history = true;
    let rb2 = run(&env.c, &ob);
    let a2 = read_layer(&env.root("a").join(&ra2.path));
    let b2 = read_layer(&env.root("b").join(&rb2.path));
    check_cluster_layer(&env.c, &a2, Some(&a1), false);
    check_cluster_layer(&env.c, &b2, Some(&b1), true);
}

#[test]
fn as_of_system_time_forms_end_exactly_there() {
    let env = Env::new();
    shop(&env);
    env.advance(SEC);
    env.upsert("shop", "items", &[int_str(1, "one")]);
    let b = env.upsert("shop", "items", &[int_str(1, "two")]);
    env.upsert("shop", "items", &[int_str(2, "x")]);
    assert_eq!(b.wall, T0 + SEC);
    env.advance(2 * SEC);
    let c3 = env.upsert("shop", "items", &[int_str(1, "three")]);
    assert_eq!(c3.wall, T0 + 3 * SEC);
    assert!(c3.logical > 0, "reads before the write took logical 0");
    env.advance(SEC);
    env.upsert("shop", "items", &[int_str(2, "y")]);
    env.advance(9 * SEC);
    // Now is T0 + 13 s. (name, text, end, live items rows at end)
    let at3 = Timestamp::new(T0 + 3 * SEC, 0);
    let at4 = Timestamp::new(T0 + 4 * SEC, 0);
    let cases = [
        ("rel", "-10s".to_string(), at3, 2),
        ("rel_long", "-9 seconds 1000ms".to_string(), at3, 2),
        ("abs", format_sql_tz(at4), at4, 2),
        (
            "abs_quoted",
            format!("'{}'", format_sql_tz(at4).replace("+00:00", "")),
            at4,
            2,
        ),
        ("hlc", b.to_string(), b, 1),
    ];
    assert_eq!(cases[2].1, "2026-01-01 00:00:04.23+00:00");
    let items = env.table_id("shop", "items");
    for (name, as_of, want_end, want_live) in cases {
        let mut o = opts(Targets::Cluster, Destination::Into(env.uri(name)));
        o.as_of = Some(as_of.clone());
        let r = run(&env.c, &o);
        assert_eq!(r.end_time, want_end, "{name}: {as_of}");
        let l = read_layer(&env.root(name).join(&r.path));
        assert_eq!(l.end(), want_end);
        check_cluster_layer(&env.c, &l, None, false);
        let mut live = 0;
        env.c
            .scan_rows(&env.table("shop", "items"), want_end, |_| {
                live += 1;
                Ok(true)
            })
            .unwrap();
        assert_eq!(live, want_live, "{name}");
        let (s, e) = table_span(items);
        let rows: u64 =
            l.m.files
                .iter()
                .filter(|f| {
                    let start = &f.span.as_ref().unwrap().start;
                    s <= *start && *start < e
                })
                .map(|f| f.rows)
                .sum();
        assert_eq!(rows, live, "{name}");
    }
    // A time in the future fails, and writes nothing.
    let now = env.now();
    for (name, as_of) in [
        (
            "future_hlc",
            Timestamp::new(now.wall + 5 * SEC, 0).to_string(),
        ),
        (
            "future_abs",
            format_sql_tz(Timestamp::new(now.wall + 3600 * SEC, 0)),
        ),
    ] {
        let mut o = opts(Targets::Cluster, Destination::Into(env.uri(name)));
        o.as_of = Some(as_of.clone());
        let e = run_err(&env.c, &o);
        assert_eq!(
            e.kind(),
            vouch_engine::ErrorKind::InvalidTime,
            "{name}: {e}"
        );
        assert!(
            !snapshot(&env.root(name))
                .keys()
                .any(|p| p.ends_with("BACKUP_MANIFEST")),
            "{name}"
        );
    }
    // A positive interval is refused.
    let mut o = opts(Targets::Cluster, Destination::Into(env.uri("pos")));
    o.as_of = Some("10s".into());
    let e = run_err(&env.c, &o);
    assert_eq!(e.kind(), vouch_engine::ErrorKind::InvalidTime, "{e}");
}

/// History of `items` with a short TTL, written at T0.
fn gc_env() -> (Env, u64) {
    let env = Env::new();
    shop(&env);
    let items = env.table_id("shop", "items");
    for v in ["a", "b", "c", "d"] {
        env.upsert("shop", "items", &[int_str(1, v), int_str(2, v)]);
    }
    env.delete("shop", "items", &[Datum::Int(2)]);
    env.c.kv().set_gc_ttl(&table_span(items).0, 1).unwrap();
    (env, items)
}

#[test]
fn as_of_at_or_below_the_gc_threshold_fails() {
    let (env, items) = gc_env();
    env.advance(10 * SEC);
    let now = env.now();
    assert_eq!(now.wall, T0 + 10 * SEC);
    let removed = env.c.kv().gc(now).unwrap();
    assert!(removed > 0, "GC removed old versions");
    let (s, e) = table_span(items);
    let threshold = env.c.kv().gc_threshold(&s, &e).unwrap();
    assert_eq!(threshold, Timestamp::new(T0 + 9 * SEC, 0));
    for (name, at) in [
        ("at", threshold.to_string()),
        ("below", Timestamp::new(T0 + 5 * SEC, 0).to_string()),
        ("rel_below", "-2s".to_string()),
    ] {
        for rh in [false, true] {
            let mut o = opts(
                Targets::Cluster,
                Destination::Into(env.uri(&format!("{name}{rh}"))),
            );
            o.as_of = Some(at.clone());
            o.revision_history = rh;
            let e = run_err(&env.c, &o);
            assert!(is_below_gc(&e), "{name} rh={rh}: {e}");
        }
    }
    // A failed backup leaves no protected timestamp behind.
    assert_eq!(
        env.c.kv().min_protected().unwrap(),
        None,
        "failed jobs hold GC back"
    );
    // Just after the threshold works; with history it starts at the threshold.
    let mut o = opts(Targets::Cluster, Destination::Into(env.uri("ok")));
    o.as_of = Some(threshold.next().to_string());
    o.revision_history = true;
    let r = run(&env.c, &o);
    let l = read_layer(&env.root("ok").join(&r.path));
    assert_eq!(l.end(), threshold.next());
    assert_eq!(ts(l.m.revision_start_time), threshold);
    check_cluster_layer(&env.c, &l, None, true);
}

#[test]
fn incremental_starting_below_the_gc_threshold_fails() {
    let (env, _items) = gc_env();
    env.advance(SEC);
    let uri = env.uri("c");
    let full = run(
        &env.c,
        &opts(Targets::Cluster, Destination::Into(uri.clone())),
    );
    // A plain backup (no schedule) keeps nothing from GC once it has succeeded.
    assert_eq!(env.c.kv().min_protected().unwrap(), None);
    env.upsert("shop", "items", &[int_str(1, "e")]);
    env.advance(10 * SEC);
    env.c.kv().gc(env.now()).unwrap();
    for rh in [false, true] {
        let mut o = opts(Targets::Cluster, Destination::IntoLatest(uri.clone()));
        o.revision_history = rh;
        let e = run_err(&env.c, &o);
        match &e {
            vouch_engine::Error::Cluster(vouch_cluster::Error::BelowGcThreshold {
                requested,
                ..
            }) => {
                assert_eq!(*requested, full.end_time, "rh={rh}")
            }
            other => panic!("rh={rh}: {other}"),
        }
    }
    assert_eq!(
        env.c.kv().min_protected().unwrap(),
        None,
        "failed jobs hold GC back"
    );
    assert!(!snapshot(&env.root("c"))
        .keys()
        .any(|p| p.starts_with("incrementals/") && p.ends_with("BACKUP_MANIFEST")));
}

/// The protected timestamp record a chained (scheduled) backup moves.
const CHAIN_RECORD: u64 = 7;

#[test]
fn protected_chain_keeps_history_for_the_next_incremental() {
    let (env, items) = gc_env();
    env.advance(SEC);
    let uri = env.uri("c");
    let mut o = opts(Targets::Cluster, Destination::Into(uri.clone()));
    o.revision_history = true;
    // As a schedule's runs do: the record follows the chain's newest layer.
    o.protect_record = Some(CHAIN_RECORD);
    let full = run(&env.c, &o);
    let l0 = read_layer(&env.root("c").join(&full.path));
    check_cluster_layer(&env.c, &l0, None, true);
    assert_eq!(env.c.kv().min_protected().unwrap(), Some(full.end_time));
    // History after the full backup, then GC well past the TTL.
    for v in ["e", "f", "g"] {
        env.upsert("shop", "items", &[int_str(1, v), int_str(3, v)]);
    }
    env.delete("shop", "items", &[Datum::Int(3)]);
    env.advance(30 * SEC);
    env.upsert("shop", "items", &[int_str(1, "h")]);
    env.advance(30 * SEC);
    env.c.kv().gc(env.now()).unwrap();
    let (s, e) = table_span(items);
    let threshold = env.c.kv().gc_threshold(&s, &e).unwrap();
    assert!(
        threshold < full.end_time,
        "the chain's record holds the threshold below {}",
        full.end_time
    );
    assert!(
        threshold > Timestamp::new(T0, u32::MAX / 2),
        "GC did advance"
    );
    let mut o = opts(Targets::Cluster, Destination::IntoLatest(uri));
    o.revision_history = true;
    o.protect_record = Some(CHAIN_RECORD);
    let inc = run(&env.c, &o);
    let l1 = read_layer(&env.root("c").join(&inc.path));
    check_cluster_layer(&env.c, &l1, Some(&l0), true);
    // Every version since the full backup is there: 4 puts of item 1, 3 puts and a delete
    // of item 3 in the primary index.
    let primary: Vec<_> = layer_entries(&l1)
        .into_iter()
        .filter(|e| keys::decode_table_prefix(&e.0).unwrap().0 == items)
        .filter(|e| keys::decode_table_prefix(&e.0).unwrap().1 == 1)
        .collect();
    assert_eq!(primary.len(), 8, "{}", show(&primary));
    // The chain's record moved to the new end; the job's own record is gone.
    assert_eq!(
        env.c.kv().protected().unwrap(),
        vec![(CHAIN_RECORD, inc.end_time)]
    );
}

// ---- targets --------------------------------------------------------------------------

fn movr() -> Env {
    let env = Env::new();
    workload::init(&env.c, Workload::Movr, 6, 3).unwrap();
    env.advance(SEC);
    env
}

fn ids_of(m: &pb::BackupManifest) -> BTreeSet<u64> {
    m.descriptors.iter().map(|d| d.id).collect()
}

fn tables(list: &[&str]) -> Targets {
    Targets::Tables(
        list.iter()
            .map(|t| Targets::parse_table(t).unwrap())
            .collect(),
    )
}

/// Checks a layer's data is exactly the full-style export of `data_tables`.
fn check_data_of(env: &Env, l: &Stored, data_tables: &[u64]) {
    let ids: BTreeSet<u64> = data_tables.iter().copied().collect();
    assert_eq!(l.m.spans, spans_of(ids.iter().copied()));
    let rules = ids
        .iter()
        .map(|id| {
            let rule = Rule {
                start: Timestamp::MIN,
                end: l.end(),
                revision_history: false,
                from_zero: true,
            };
            (*id, (rule, false))
        })
        .collect();
    assert_same("targets", &layer_entries(l), &expected(&env.c, &rules));
    check_fingerprints(&env.c, l, &ids);
}

#[test]
fn table_targets_include_parents_types_and_users() {
    let env = movr();
    let cat = env.c.catalog(env.now()).unwrap();
    let db = cat.database("movr").unwrap().id;
    let public = cat.schema(db, "public").unwrap().id;
    let id = |n: &str| cat.object(db, n).unwrap().id;
    let system = [SYSTEM_DATABASE_ID, SYSTEM_PUBLIC_SCHEMA_ID, USERS_TABLE_ID];

    // vehicles: uses the enum, references users (not included: a notice).
    let r = run(
        &env.c,
        &opts(tables(&["movr.vehicles"]), Destination::Into(env.uri("v"))),
    );
    let l = read_layer(&env.root("v").join(&r.path));
    let want: BTreeSet<u64> = system
        .into_iter()
        .chain([db, public, id("vehicle_type"), id("vehicles")])
        .collect();
    assert_eq!(ids_of(&l.m), want);
    assert!(!l.m.is_full_cluster);
    assert!(l.m.complete_database_ids.is_empty());
    assert_eq!(r.notices.len(), 1, "{:?}", r.notices);
    assert!(
        r.notices[0].contains("fk_owner_id_ref_users") && r.notices[0].contains("users"),
        "{:?}",
        r.notices
    );
    check_data_of(&env, &l, &[USERS_TABLE_ID, id("vehicles")]);

    // rides and public.users: no enum; one foreign key (to vehicles) left out.
    let r = run(
        &env.c,
        &opts(
            tables(&["movr.rides", "movr.public.users"]),
            Destination::Into(env.uri("r")),
        ),
    );
    let l = read_layer(&env.root("r").join(&r.path));
    let want: BTreeSet<u64> = system
        .into_iter()
        .chain([db, public, id("rides"), id("users")])
        .collect();
    assert_eq!(ids_of(&l.m), want);
    assert_eq!(r.notices.len(), 1, "{:?}", r.notices);
    assert!(
        r.notices[0].contains("fk_vehicle_id_ref_vehicles"),
        "{:?}",
        r.notices
    );
    check_data_of(&env, &l, &[USERS_TABLE_ID, id("users"), id("rides")]);

    // All three tables: no notice.
    let r = run(
        &env.c,
        &opts(
            tables(&["movr.users", "movr.vehicles", "movr.rides"]),
            Destination::Into(env.uri("all")),
        ),
    );
    assert!(r.notices.is_empty(), "{:?}", r.notices);
}

#[test]
fn a_view_needs_its_tables() {
    let env = movr();
    let e = run_err(
        &env.c,
        &opts(
            tables(&["movr.active_rides"]),
            Destination::Into(env.uri("v")),
        ),
    );
    assert_eq!(
        e.kind(),
        vouch_engine::ErrorKind::Read(vouch_chain::ErrorKind::Refused),
        "{e}"
    );
    assert!(!snapshot(&env.root("v"))
        .keys()
        .any(|p| p.ends_with("BACKUP_MANIFEST")));
    assert_eq!(
        env.c.kv().min_protected().unwrap(),
        None,
        "failed jobs hold GC back"
    );
    // With its table it works; the view has no data span.
    let r = run(
        &env.c,
        &opts(
            tables(&["movr.active_rides", "movr.rides"]),
            Destination::Into(env.uri("vr")),
        ),
    );
    let l = read_layer(&env.root("vr").join(&r.path));
    let cat = env.c.catalog(l.end()).unwrap();
    let db = cat.database("movr").unwrap().id;
    let view = cat.object(db, "active_rides").unwrap().id;
    let rides = cat.object(db, "rides").unwrap().id;
    assert!(ids_of(&l.m).contains(&view));
    check_data_of(&env, &l, &[USERS_TABLE_ID, rides]);
    // Unknown names fail.
    let e = run_err(
        &env.c,
        &opts(tables(&["movr.nope"]), Destination::Into(env.uri("n"))),
    );
    assert_eq!(
        e.kind(),
        vouch_engine::ErrorKind::Read(vouch_chain::ErrorKind::TargetNotFound),
        "{e}"
    );
}

#[test]
fn database_target_includes_every_object() {
    let env = movr();
    let r = run(
        &env.c,
        &opts(
            Targets::Databases(vec!["movr".into()]),
            Destination::Into(env.uri("d")),
        ),
    );
    let l = read_layer(&env.root("d").join(&r.path));
    let cat = env.c.catalog(l.end()).unwrap();
    let db = cat.database("movr").unwrap().id;
    let mut want: BTreeSet<u64> = [
        SYSTEM_DATABASE_ID,
        SYSTEM_PUBLIC_SCHEMA_ID,
        USERS_TABLE_ID,
        db,
    ]
    .into();
    want.extend(
        cat.iter()
            .filter(|d| schema::parents(d).0 == db)
            .map(|d| d.id),
    );
    assert_eq!(ids_of(&l.m), want);
    let kinds: BTreeSet<&str> =
        l.m.descriptors
            .iter()
            .filter(|d| schema::parents(d).0 == db)
            .filter_map(|d| Kind::of(d).map(Kind::name))
            .collect();
    assert_eq!(kinds.len(), 4, "schema, type, tables and a view: {kinds:?}");
    assert_eq!(l.m.complete_database_ids, vec![db]);
    assert!(r.notices.is_empty(), "{:?}", r.notices);
    let mut data: Vec<u64> = cat
        .tables()
        .filter(|d| schema::parents(d).0 == db)
        .map(|d| d.id)
        .collect();
    data.push(USERS_TABLE_ID);
    check_data_of(&env, &l, &data);
}

/// With revision history, a table dropped during an incremental's interval keeps its
/// history since the previous layer: its span is exported from `start`, and its deletion
/// is among the descriptor changes.
#[test]
fn revision_history_keeps_a_table_dropped_in_the_interval() {
    let env = Env::new();
    shop(&env);
    let notes = env.table_id("shop", "notes");
    env.upsert("shop", "notes", &[int_str(1, "a"), int_str(2, "b")]);
    env.advance(SEC);
    let (ur, ul) = (env.uri("rh"), env.uri("latest"));
    let mut o = opts(Targets::Cluster, Destination::Into(ur.clone()));
    o.revision_history = true;
    let f = run(&env.c, &o);
    run(
        &env.c,
        &opts(Targets::Cluster, Destination::Into(ul.clone())),
    );
    // Changes after the full backup, then the drop.
    env.upsert("shop", "notes", &[int_str(1, "a2"), int_str(3, "c")]);
    env.delete("shop", "notes", &[Datum::Int(2)]);
    let dropped_at = env.c.drop_object(notes).unwrap();
    env.upsert("shop", "items", &[int_str(1, "x")]);
    env.advance(SEC);
    let mut o = opts(Targets::Cluster, Destination::IntoLatest(ur));
    o.revision_history = true;
    let r = run(&env.c, &o);
    let l = read_layer(&env.root("rh").join(&r.path));
    let l0 = read_layer(&env.root("rh").join(&f.path));
    assert!(
        !ids_of(&l.m).contains(&notes),
        "descriptors are those live at end"
    );
    let deletion =
        l.m.descriptor_changes
            .iter()
            .find(|c| c.id == notes)
            .expect("the drop is a descriptor change");
    assert!(deletion.descriptor.is_none());
    assert_eq!(ts(deletion.time), dropped_at);
    let mut ids: BTreeSet<u64> = tables_at(&env.c, l.end()).into_keys().collect();
    ids.insert(notes);
    assert_eq!(l.m.spans, spans_of(ids.iter().copied()));
    assert!(l.m.introduced_spans.is_empty());
    let rules = ids
        .iter()
        .map(|id| {
            let rule = Rule {
                start: l0.end(),
                end: l.end(),
                revision_history: true,
                from_zero: false,
            };
            (*id, (rule, false))
        })
        .collect();
    let got = layer_entries(&l);
    assert_same("dropped table", &got, &expected(&env.c, &rules));
    assert!(got
        .iter()
        .any(|e| keys::decode_table_prefix(&e.0).unwrap().0 == notes));
    // Without revision history the dropped table is simply gone.
    let r = run(&env.c, &opts(Targets::Cluster, Destination::IntoLatest(ul)));
    let l = read_layer(&env.root("latest").join(&r.path));
    assert!(!l.m.spans.contains(&spans_of([notes])[0]));
    assert!(l.m.descriptor_changes.is_empty());
}

/// A table whose data was excluded in the previous layer and is included again: its span
/// counts as introduced, so the rows written while it was excluded (in no layer yet) are
/// exported from time 0, full-style.
#[test]
fn data_included_again_is_exported_from_time_zero() {
    let env = Env::new();
    shop(&env);
    let id = env.table_id("shop", "items");
    env.c.set_exclude_data_from_backup(id, true).unwrap();
    env.upsert("shop", "items", &[int_str(41, "while-excluded")]);
    env.advance(SEC);
    let uri = env.uri("x");
    let full = run(
        &env.c,
        &opts(Targets::Cluster, Destination::Into(uri.clone())),
    );
    let l0 = read_layer(&env.root("x").join(&full.path));
    assert!(layer_entries(&l0)
        .iter()
        .all(|(k, _, _)| !k.starts_with(&table_span(id).0)));
    env.c.set_exclude_data_from_backup(id, false).unwrap();
    env.upsert("shop", "items", &[int_str(42, "after")]);
    env.advance(SEC);
    let inc = run(
        &env.c,
        &opts(Targets::Cluster, Destination::IntoLatest(uri)),
    );
    let l1 = read_layer(&env.root("x").join(&inc.path));
    assert_eq!(l1.m.introduced_spans, spans_of([id]));
    let want = select(
        &history(&env.c, id),
        Rule {
            start: Timestamp::MIN,
            end: l1.end(),
            revision_history: false,
            from_zero: true,
        },
    );
    let got: Vec<Entry> = layer_entries(&l1)
        .into_iter()
        .filter(|(k, _, _)| k.starts_with(&table_span(id).0))
        .collect();
    assert_same("re-included table", &got, &want);
    assert!(
        got.iter().any(|(_, ts, _)| *ts < l0.end()),
        "rows written while excluded must be exported: {}",
        show(&got)
    );
}
