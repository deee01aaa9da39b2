//! RESTORE: point-in-time restores over revision-history chains checked against the source
//! cluster's own history (the oracle: it keeps every version), CockroachDB's AS OF errors,
//! options and dependency rules (each with a positive and a negative case), id rewriting
//! into clusters that already hold objects, chains with a missing, reordered or replaced
//! layer, and a failed fingerprint check.

mod support;

use std::path::Path;

use rand::{Rng, SeedableRng};
use support::*;
use vouch_chain::Targets;
use vouch_chain::{open_options, Collection};
use vouch_chain::{RestoreOptions, Source};
use vouch_cluster::workload::{self, Workload};
use vouch_cluster::{Clock, Cluster};
use vouch_cluster::{ColumnDef, ForeignKeyDef, TableDef};
use vouch_engine::backup::Destination;
use vouch_engine::restore::{self, RestoreResult};
use vouch_format::keys::{ColumnType, Datum};
use vouch_format::manifest;
use vouch_format::mvcc::Timestamp;
use vouch_format::schema::Kind;

/// A cluster whose clock is past `after` (so AS OF times of the source are not in its
/// future).
fn target(after: Timestamp) -> (tempfile::TempDir, Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::init(&dir.path().join("t"), Clock::manual(after.wall + SEC)).unwrap();
    (dir, c)
}

fn file_uri(p: &Path) -> String {
    format!("file://{}", p.display())
}

fn latest(uri: &str) -> Source {
    Source::Collection {
        uri: uri.into(),
        subdir: "LATEST".into(),
        incremental_location: None,
    }
}

fn restore_ok(c: &Cluster, o: &RestoreOptions) -> RestoreResult {
    match restore::restore(c, o, &mut |_| {}) {
        Ok(r) => r,
        Err(e) => panic!("restore {:?} failed: {e}", o.targets),
    }
}

fn restore_err(c: &Cluster, o: &RestoreOptions) -> String {
    match restore::restore(c, o, &mut |_| {}) {
        Ok(r) => panic!("restore {:?} succeeded: {r:?}", o.targets),
        Err(e) => e.to_string(),
    }
}

/// A restore that must fail: its error, for its kind and fields.
fn restore_fail(c: &Cluster, o: &RestoreOptions) -> vouch_engine::Error {
    match restore::restore(c, o, &mut |_| {}) {
        Ok(r) => panic!("restore {:?} succeeded: {r:?}", o.targets),
        Err(e) => e,
    }
}

fn read_kind(k: vouch_chain::ErrorKind) -> vouch_engine::ErrorKind {
    vouch_engine::ErrorKind::Read(k)
}

/// The object a read-side error names.
fn object(e: &vouch_engine::Error) -> String {
    match e {
        vouch_engine::Error::Chain(c) => c.object().unwrap_or_default().to_string(),
        other => panic!("not a read error: {other:?}"),
    }
}

fn db(name: &str) -> Targets {
    Targets::Databases(vec![name.into()])
}

/// (start, end, revision start) of every layer of the collection's newest chain.
fn windows(uri: &str) -> Vec<(Timestamp, Timestamp)> {
    let coll = Collection::open(uri, None, &open_options(None)).unwrap();
    let chain = coll.chain(&coll.latest().unwrap()).unwrap();
    chain
        .layers
        .iter()
        .map(|l| (ts(l.manifest.start_time), ts(l.manifest.end_time)))
        .collect()
}

fn movr_chain(revision_history: bool, incrementals: u64) -> (Env, String, Timestamp) {
    let env = Env::new();
    workload::init(&env.c, Workload::Movr, 40, 7).unwrap();
    let created = env.now();
    env.advance(SEC);
    let mut o = opts(Targets::Cluster, Destination::Into(env.uri("b")));
    o.revision_history = revision_history;
    run(&env.c, &o);
    for i in 0..incrementals {
        env.advance(SEC);
        workload::run(&env.c, Workload::Movr, 25, 100 + i).unwrap();
        env.advance(SEC);
        let mut o = opts(Targets::Cluster, Destination::IntoLatest(env.uri("b")));
        o.revision_history = revision_history;
        run(&env.c, &o);
    }
    let uri = file_uri(&env.root("b"));
    (env, uri, created)
}

#[test]
fn point_in_time_restores_match_the_source_history() {
    let (src, uri, created) = movr_chain(true, 3);
    let w = windows(&uri);
    assert_eq!(w.len(), 4);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut times = Vec::new();
    for (i, (start, end)) in w.iter().enumerate() {
        times.push((*end, true));
        let lo = if i == 0 { created.wall } else { start.wall + 1 };
        for _ in 0..4 {
            let t = Timestamp::new(rng.gen_range(lo..=end.wall), 0);
            times.push((t, t == *end));
        }
    }
    let (_d, tgt) = target(src.now());
    for (k, (t, at_end)) in times.iter().enumerate() {
        let mut o = RestoreOptions::new(db("movr"), latest(&uri));
        o.as_of = Some(t.to_string());
        o.new_db_name = Some(format!("r{k}"));
        let r = restore_ok(&tgt, &o);
        assert_eq!(r.time, *t);
        let want = fps(&src.c, "movr", *t);
        assert!(!want.is_empty());
        assert_eq!(
            fps(&tgt, &format!("r{k}"), tgt.now()),
            want,
            "restore as of {t} (layer end: {at_end})"
        );
        if *at_end {
            assert_eq!(r.fingerprints_checked, want.len(), "checked at {t}");
        } else {
            assert_eq!(r.fingerprints_checked, 0);
        }
        // Rows: the primary index entries.
        let rows: u64 = want
            .iter()
            .filter(|((_, i), _)| i.ends_with("_pkey"))
            .map(|(_, (_, n))| n)
            .sum();
        assert_eq!(r.rows, rows, "rows restored as of {t}");
        // The restored objects carry the schema of their time (the workload changes the
        // schema in every run).
        let scat = src.c.catalog(*t).unwrap();
        let sdb = scat.database("movr").unwrap().id;
        let tcat = tgt.catalog(tgt.now()).unwrap();
        let tdb = tcat.database(&format!("r{k}")).unwrap().id;
        let shape = |cat: &vouch_format::schema::Catalog, id: u64| {
            let mut v: Vec<(String, usize, usize)> = cat
                .children(id)
                .iter()
                .map(|d| {
                    let t = vouch_format::schema::table(d);
                    (
                        d.name.clone(),
                        t.map_or(0, |t| t.columns.len()),
                        t.map_or(0, |t| t.secondary_indexes.len()),
                    )
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(shape(&tcat, tdb), shape(&scat, sdb), "schema as of {t}");
    }
}

#[test]
fn cluster_restore_into_an_empty_cluster_restores_everything_and_users() {
    let (src, uri, _) = movr_chain(false, 1);
    src.c.create_user("carl", Some("pw"), [7; 16]).unwrap();
    // The user was created after the backup: a new incremental carries it.
    src.advance(SEC);
    run(
        &src.c,
        &opts(Targets::Cluster, Destination::IntoLatest(src.uri("b"))),
    );
    let end = windows(&uri).last().unwrap().1;
    let (_d, tgt) = target(src.now());
    let r = restore_ok(&tgt, &RestoreOptions::new(Targets::Cluster, latest(&uri)));
    assert_eq!(r.time, end);
    for name in ["movr", "defaultdb", "postgres", "system"] {
        assert_eq!(
            fps(&tgt, name, tgt.now()),
            fps(&src.c, name, end),
            "database {name}"
        );
    }
    assert!(!fps(&src.c, "system", end).is_empty());
    // Into a cluster with objects: refused, naming them.
    let e = restore_fail(&tgt, &RestoreOptions::new(Targets::Cluster, latest(&uri)));
    assert_eq!(
        e.kind(),
        read_kind(vouch_chain::ErrorKind::NameCollision),
        "{e}"
    );
    // From a backup that is not a cluster backup: refused.
    src.advance(SEC);
    run(
        &src.c,
        &opts(db("movr"), Destination::Into(src.uri("dbonly"))),
    );
    let (_d2, tgt2) = target(src.now());
    let e = restore_err(
        &tgt2,
        &RestoreOptions::new(Targets::Cluster, latest(&file_uri(&src.root("dbonly")))),
    );
    assert_eq!(
        e,
        "full cluster RESTORE can only be used on full cluster BACKUP files"
    );
}

#[test]
fn without_revision_history_only_layer_end_times_restore() {
    let (src, uri, _) = movr_chain(false, 2);
    let w = windows(&uri);
    let (_d, tgt) = target(src.now());
    for (k, (_, end)) in w.iter().enumerate() {
        let mut o = RestoreOptions::new(db("movr"), latest(&uri));
        o.as_of = Some(end.to_string());
        o.new_db_name = Some(format!("e{k}"));
        let r = restore_ok(&tgt, &o);
        assert_eq!(
            fps(&tgt, &format!("e{k}"), tgt.now()),
            fps(&src.c, "movr", *end)
        );
        assert!(r.fingerprints_checked > 0);
    }
    let at = |t: Timestamp| {
        let mut o = RestoreOptions::new(db("movr"), latest(&uri));
        o.as_of = Some(t.to_string());
        o.new_db_name = Some("never".into());
        restore_err(&tgt, &o)
    };
    let fmt = vouch_format::time::format_sql_tz;
    let prefix = "invalid RESTORE timestamp: restoring to arbitrary time requires that BACKUP for requested time be created with 'revision_history' option.";
    assert_eq!(
        at(Timestamp::new(w[0].1.wall - 1, 0)),
        format!("{prefix} nearest backup time is {}", fmt(w[0].1))
    );
    assert_eq!(
        at(Timestamp::new(w[2].1.wall - 1, 0)),
        format!(
            "{prefix} nearest BACKUP times are {} or {}",
            fmt(w[1].1),
            fmt(w[2].1)
        )
    );
    assert_eq!(
        at(Timestamp::new(w[2].1.wall + 1, 0)),
        "invalid RESTORE timestamp: supplied backups do not cover requested time"
    );
    // Nothing was restored by the failures.
    assert!(tgt.catalog(tgt.now()).unwrap().database("never").is_none());
}

#[test]
fn revision_history_starts_at_the_gc_threshold() {
    let env = Env::new();
    workload::init(&env.c, Workload::Bank, 30, 3).unwrap();
    let id = env.table_id("bank", "bank");
    env.c.set_table_gc_ttl(id, 10).unwrap();
    env.advance(60 * SEC);
    workload::run(&env.c, Workload::Bank, 20, 4).unwrap();
    env.advance(SEC);
    env.c.kv().gc(env.now()).unwrap();
    let mut o = opts(db("bank"), Destination::Into(env.uri("b")));
    o.revision_history = true;
    run(&env.c, &o);
    let uri = file_uri(&env.root("b"));
    let coll = Collection::open(&uri, None, &open_options(None)).unwrap();
    let chain = coll.chain(&coll.latest().unwrap()).unwrap();
    let rev = ts(chain.layers[0].manifest.revision_start_time);
    assert!(rev > Timestamp::MIN);
    let (_d, tgt) = target(env.now());
    let mut o = RestoreOptions::new(db("bank"), latest(&uri));
    o.as_of = Some(Timestamp::new(rev.wall - SEC, 0).to_string());
    assert_eq!(
        restore_err(&tgt, &o),
        format!(
            "invalid RESTORE timestamp: BACKUP for requested time only has revision history from {}",
            vouch_format::time::format_sql_tz(rev)
        )
    );
    let t = Timestamp::new(rev.wall + 1, 0);
    o.as_of = Some(t.to_string());
    restore_ok(&tgt, &o);
    assert_eq!(fps(&tgt, "bank", tgt.now()), fps(&env.c, "bank", t));
}

/// `shop`: customers ← orders (foreign key, enum column) and a view over orders.
fn shop(env: &Env) {
    let c = &env.c;
    c.create_database("shop").unwrap();
    c.create_enum("shop", "status", &["open", "paid"]).unwrap();
    c.create_table(
        "shop",
        &simple_table("customers", "name", ColumnType::String, true),
    )
    .unwrap();
    c.create_table(
        "shop",
        &TableDef {
            name: "orders".into(),
            columns: vec![
                ColumnDef::new("id", ColumnType::Int, false),
                ColumnDef::new("customer", ColumnType::Int, false),
                ColumnDef::enumerated("status", "status", false),
            ],
            primary_key: vec!["id".into()],
            indexes: vec![],
            foreign_keys: vec![ForeignKeyDef {
                name: "orders_customer_fkey".into(),
                columns: vec!["customer".into()],
                table: "customers".into(),
            }],
        },
    )
    .unwrap();
    c.create_view(
        "shop",
        "open_orders",
        "SELECT id FROM shop.orders WHERE status = 'open'",
        &["orders"],
    )
    .unwrap();
    env.upsert("shop", "customers", &[int_str(1, "ann"), int_str(2, "bob")]);
    let open = c.enum_value("shop", "status", "open").unwrap();
    let paid = c.enum_value("shop", "status", "paid").unwrap();
    env.upsert(
        "shop",
        "orders",
        &[
            vec![Datum::Int(10), Datum::Int(1), open],
            vec![Datum::Int(11), Datum::Int(2), paid],
        ],
    );
}

fn shop_backup() -> (Env, String) {
    let env = Env::new();
    shop(&env);
    env.advance(SEC);
    run(
        &env.c,
        &opts(Targets::Cluster, Destination::Into(env.uri("b"))),
    );
    let uri = file_uri(&env.root("b"));
    (env, uri)
}

fn table(dbn: &str, t: &str) -> (String, String) {
    (dbn.into(), t.into())
}

#[test]
fn restore_options_and_dependency_rules() {
    let (src, uri) = shop_backup();
    let end = windows(&uri)[0].1;
    let (_d, tgt) = target(src.now());
    let tables = |v: &[(&str, &str)]| Targets::Tables(v.iter().map(|(a, b)| table(a, b)).collect());

    // A table restore needs its database in the target (or into_db).
    let e = restore_fail(
        &tgt,
        &RestoreOptions::new(tables(&[("shop", "customers")]), latest(&uri)),
    );
    assert_eq!(
        e.kind(),
        read_kind(vouch_chain::ErrorKind::NeedsOption),
        "{e}"
    );
    tgt.create_database("newdb").unwrap();
    let mut o = RestoreOptions::new(tables(&[("shop", "customers")]), latest(&uri));
    o.into_db = Some("newdb".into());
    restore_ok(&tgt, &o);
    assert_eq!(
        fps(&tgt, "newdb", tgt.now()),
        fps(&src.c, "shop", end)
            .into_iter()
            .filter(|((t, _), _)| t == "customers")
            .collect()
    );
    // Again: the name is taken.
    assert_eq!(
        restore_err(&tgt, &o),
        "relation \"newdb.public.customers\" already exists"
    );

    // A foreign key without its referenced table: refused, or dropped on request.
    let mut o = RestoreOptions::new(tables(&[("shop", "orders")]), latest(&uri));
    o.into_db = Some("defaultdb".into());
    assert_eq!(
        restore_err(&tgt, &o),
        "cannot restore table \"orders\" without referenced table \"customers\" (or \"skip_missing_foreign_keys\" option)"
    );
    o.skip_missing_foreign_keys = true;
    restore_ok(&tgt, &o);
    let orders = tgt.table("defaultdb", "orders").unwrap();
    assert!(vouch_format::schema::table(&orders)
        .unwrap()
        .foreign_keys
        .is_empty());
    // The enum type came along, in the target database.
    let cat = tgt.catalog(tgt.now()).unwrap();
    let ddb = cat.database("defaultdb").unwrap().id;
    assert_eq!(
        cat.object(ddb, "status").and_then(Kind::of),
        Some(Kind::Type)
    );

    // A view needs its tables: refused, or skipped on request.
    let mut o = RestoreOptions::new(tables(&[("shop", "open_orders")]), latest(&uri));
    o.into_db = Some("newdb".into());
    assert_eq!(
        restore_err(&tgt, &o),
        "cannot restore view \"open_orders\" without restoring referenced table \"orders\" (or \"skip_missing_views\" option)"
    );
    o.skip_missing_views = true;
    let r = restore_ok(&tgt, &o);
    assert!(r.objects.is_empty(), "{:?}", r.objects);

    // new_db_name: only for one database; a taken name is refused.
    let mut o = RestoreOptions::new(db("shop"), latest(&uri));
    o.new_db_name = Some("shop2".into());
    let r = restore_ok(&tgt, &o);
    assert_eq!(fps(&tgt, "shop2", tgt.now()), fps(&src.c, "shop", end));
    assert!(
        r.objects.contains(&"shop2.public.open_orders".to_string()),
        "{:?}",
        r.objects
    );
    assert_eq!(restore_err(&tgt, &o), "database \"shop2\" already exists");
    let mut o = RestoreOptions::new(
        Targets::Databases(vec!["shop".into(), "defaultdb".into()]),
        latest(&uri),
    );
    o.new_db_name = Some("x".into());
    assert_eq!(
        restore_err(&tgt, &o),
        "RESTORE new_db_name can only be used for RESTORE DATABASE with a single target database"
    );
    let mut o = RestoreOptions::new(db("shop"), latest(&uri));
    o.into_db = Some("newdb".into());
    assert_eq!(
        restore_err(&tgt, &o),
        "cannot use \"into_db\" option when restoring database(s)"
    );
    // Targets not in the backup.
    assert_eq!(
        restore_err(&tgt, &RestoreOptions::new(db("nope"), latest(&uri))),
        "failed to resolve targets in the BACKUP location specified by the RESTORE stmt, use SHOW BACKUP to find correct targets: database \"nope\" not found"
    );

    // schema_only: the objects, no rows; verify_backup_table_data needs schema_only.
    let mut o = RestoreOptions::new(db("shop"), latest(&uri));
    o.new_db_name = Some("shop3".into());
    o.verify_backup_table_data = true;
    assert_eq!(
        restore_err(&tgt, &o),
        "to set the verify_backup_table_data option, the schema_only option must be set"
    );
    o.verify_backup_table_data = false;
    o.schema_only = true;
    let r = restore_ok(&tgt, &o);
    assert_eq!(r.fingerprints_checked, 0);
    assert!(fps(&tgt, "shop3", tgt.now()).values().all(|(_, n)| *n == 0));
    assert_eq!(r.rows, 0, "schema_only reads no rows");
    let mut o = RestoreOptions::new(db("shop"), latest(&uri));
    o.new_db_name = Some("shop4".into());
    o.schema_only = true;
    o.verify_backup_table_data = true;
    let r = restore_ok(&tgt, &o);
    assert_eq!(r.rows, 4);
    assert_eq!(r.fingerprints_checked, fps(&src.c, "shop", end).len());
    assert!(fps(&tgt, "shop4", tgt.now()).values().all(|(_, n)| *n == 0));
}

#[test]
fn ids_are_reassigned_when_restoring_into_a_cluster_with_objects() {
    let (src, uri) = shop_backup();
    let end = windows(&uri)[0].1;
    let before = src.c.catalog(src.now()).unwrap();
    let before_fps = fps(&src.c, "shop", src.now());
    // Restore into the source cluster itself, next to the original.
    let mut o = RestoreOptions::new(db("shop"), latest(&uri));
    o.new_db_name = Some("shop_restored".into());
    let r = restore_ok(&src.c, &o);
    let after = src.c.catalog(src.now()).unwrap();
    let new_db = after.database("shop_restored").unwrap();
    let new_ids: Vec<u64> = std::iter::once(new_db.id)
        .chain(after.children(new_db.id).iter().map(|d| d.id))
        .collect();
    for id in &new_ids {
        assert!(before.get(*id).is_none(), "id {id} was in use");
    }
    assert_eq!(new_ids.len(), r.objects.len());
    // The original is untouched; the copy equals the backup.
    assert_eq!(fps(&src.c, "shop", src.now()), before_fps);
    assert_eq!(
        fps(&src.c, "shop_restored", src.now()),
        fps(&src.c, "shop", end)
    );
    // References point at the new objects.
    let orders = src.c.table("shop_restored", "orders").unwrap();
    let t = vouch_format::schema::table(&orders).unwrap();
    let customers = src.c.table("shop_restored", "customers").unwrap();
    assert_eq!(t.foreign_keys[0].referenced_table_id, customers.id);
    assert!(after.problems().is_empty(), "{:?}", after.problems());
    // The restored tables take writes like any other (constraints hold).
    let paid = src.c.enum_value("shop_restored", "status", "paid").unwrap();
    let mut tx = src.c.txn();
    let res = match tx.insert(&orders, &[vec![Datum::Int(12), Datum::Int(99), paid]]) {
        Ok(()) => tx.commit().map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(res.is_err(), "foreign key enforced on the restored table");
}

#[test]
fn system_users_restores_into_another_database() {
    let (src, uri) = shop_backup();
    let (_d, tgt) = target(src.now());
    let o = RestoreOptions::new(
        Targets::Tables(vec![table("system", "users")]),
        latest(&uri),
    );
    assert_eq!(
        restore_err(&tgt, &o),
        "relation \"system.public.users\" already exists"
    );
    tgt.create_database("newdb").unwrap();
    let mut o = o;
    o.into_db = Some("newdb".into());
    let r = restore_ok(&tgt, &o);
    assert_eq!(r.objects, vec!["newdb.public.users".to_string()]);
    let users = tgt.table("newdb", "users").unwrap();
    let mut names = Vec::new();
    tgt.scan_rows(&users, tgt.now(), |row| {
        names.push(row[0].clone());
        Ok(true)
    })
    .unwrap();
    assert_eq!(
        names,
        vec![Datum::String("admin".into()), Datum::String("root".into())]
    );
}

/// The layer directories of the newest chain of the collection at `root`, oldest first.
fn layer_dirs(root: &Path) -> Vec<std::path::PathBuf> {
    let uri = file_uri(root);
    let coll = Collection::open(&uri, None, &open_options(None)).unwrap();
    let chain = coll.chain(&coll.latest().unwrap()).unwrap();
    chain.layers.iter().map(|l| root.join(&l.dir)).collect()
}

#[test]
fn broken_chains_are_refused_naming_the_layer() {
    let (src, _uri, _) = movr_chain(false, 3);
    let root = src.root("b");
    let dirs = layer_dirs(&root);
    assert_eq!(dirs.len(), 4);
    let (_d, tgt) = target(src.now());
    let layers =
        |ds: &[&std::path::PathBuf]| Source::Layers(ds.iter().map(|d| file_uri(d)).collect());
    // The legacy form of the same chain restores.
    let all: Vec<&std::path::PathBuf> = dirs.iter().collect();
    let mut o = RestoreOptions::new(db("movr"), layers(&all));
    o.new_db_name = Some("ok".into());
    restore_ok(&tgt, &o);
    // Missing middle layer.
    let o = RestoreOptions::new(db("movr"), layers(&[&dirs[0], &dirs[1], &dirs[3]]));
    let e = restore_fail(&tgt, &o);
    assert_eq!(
        e.kind(),
        read_kind(vouch_chain::ErrorKind::ChainBroken),
        "{e}"
    );
    assert_eq!(object(&e), file_uri(&dirs[3]), "{e}");
    // Reordered.
    let o = RestoreOptions::new(
        db("movr"),
        layers(&[&dirs[0], &dirs[2], &dirs[1], &dirs[3]]),
    );
    let e = restore_fail(&tgt, &o);
    assert_eq!(
        e.kind(),
        read_kind(vouch_chain::ErrorKind::ChainBroken),
        "{e}"
    );
    assert_eq!(object(&e), file_uri(&dirs[2]), "{e}");
    // An incremental first.
    let o = RestoreOptions::new(db("movr"), layers(&[&dirs[1], &dirs[2]]));
    let e = restore_fail(&tgt, &o);
    assert_eq!(
        e.kind(),
        read_kind(vouch_chain::ErrorKind::ChainBroken),
        "{e}"
    );
    assert_eq!(object(&e), file_uri(&dirs[1]), "{e}");

    // In the collection: a middle layer removed (a chain gap) or replaced by a layer of
    // another chain.
    let copy = tempfile::tempdir().unwrap();
    vouch_testkit::tree::copy_tree(&root, copy.path()).unwrap();
    let cdirs = layer_dirs(copy.path());
    std::fs::remove_dir_all(&cdirs[1]).unwrap();
    let e = restore_fail(
        &tgt,
        &RestoreOptions::new(db("movr"), latest(&file_uri(copy.path()))),
    );
    assert_eq!(
        e.kind(),
        read_kind(vouch_chain::ErrorKind::ChainBroken),
        "{e}"
    );
    let gap = cdirs[2]
        .strip_prefix(copy.path())
        .unwrap()
        .display()
        .to_string();
    assert!(object(&e).ends_with(&format!("/{gap}")), "{e}");

    // Replaced: another chain's incremental (same shape, other chain id) in place of the
    // middle one.
    let (other, _, _) = movr_chain(false, 2);
    let odirs = layer_dirs(&other.root("b"));
    let copy2 = tempfile::tempdir().unwrap();
    vouch_testkit::tree::copy_tree(&root, copy2.path()).unwrap();
    let c2 = layer_dirs(copy2.path());
    for f in ["BACKUP_MANIFEST", "BACKUP_MANIFEST-CHECKSUM"] {
        std::fs::remove_file(c2[1].join(f)).unwrap();
        std::fs::copy(odirs[1].join(f), c2[1].join(f)).unwrap();
    }
    let e = restore_fail(
        &tgt,
        &RestoreOptions::new(db("movr"), latest(&file_uri(copy2.path()))),
    );
    assert_eq!(
        e.kind(),
        read_kind(vouch_chain::ErrorKind::ChainBroken),
        "{e}"
    );
    let spliced = c2[1]
        .strip_prefix(copy2.path())
        .unwrap()
        .display()
        .to_string();
    assert!(object(&e).ends_with(&format!("/{spliced}")), "{e}");
}

#[test]
fn a_fingerprint_mismatch_fails_the_restore_and_leaves_nothing_visible() {
    let (src, _) = shop_backup();
    let root = src.root("b");
    let dir = layer_dirs(&root).remove(0);
    // Rewrite the manifest consistently (checksum too) with one wrong fingerprint.
    let bytes = std::fs::read(dir.join("BACKUP_MANIFEST")).unwrap();
    let mut m = manifest::decode(&bytes).unwrap();
    let customers = src.table_id("shop", "customers");
    let fp = m
        .fingerprints
        .iter_mut()
        .find(|f| f.table_id == customers)
        .unwrap();
    fp.fingerprint ^= 1;
    let bytes = manifest::encode(&m);
    let copy = tempfile::tempdir().unwrap();
    vouch_testkit::tree::copy_tree(&root, copy.path()).unwrap();
    let cdir = copy.path().join(dir.strip_prefix(&root).unwrap());
    std::fs::remove_file(cdir.join("BACKUP_MANIFEST")).unwrap();
    std::fs::remove_file(cdir.join("BACKUP_MANIFEST-CHECKSUM")).unwrap();
    std::fs::write(cdir.join("BACKUP_MANIFEST"), &bytes).unwrap();
    std::fs::write(
        cdir.join("BACKUP_MANIFEST-CHECKSUM"),
        manifest::checksum_file(&bytes),
    )
    .unwrap();
    let (_d, tgt) = target(src.now());
    let e = restore_fail(
        &tgt,
        &RestoreOptions::new(db("shop"), latest(&file_uri(copy.path()))),
    );
    assert_eq!(
        e.kind(),
        vouch_engine::ErrorKind::FingerprintMismatch,
        "{e}"
    );
    assert!(tgt.catalog(tgt.now()).unwrap().database("shop").is_none());
    // The same check with schema_only + verify_backup_table_data reads and fails too.
    let mut o = RestoreOptions::new(db("shop"), latest(&file_uri(copy.path())));
    o.schema_only = true;
    o.verify_backup_table_data = true;
    let e = restore_fail(&tgt, &o);
    assert_eq!(
        e.kind(),
        vouch_engine::ErrorKind::FingerprintMismatch,
        "{e}"
    );
}

#[test]
fn errors_are_typed() {
    let (src, uri) = shop_backup();
    let (_d, tgt) = target(src.now());
    let mut o = RestoreOptions::new(db("shop"), latest(&uri));
    o.as_of = Some("-1h".into());
    let e = restore::restore(&tgt, &o, &mut |_| {}).unwrap_err();
    assert_eq!(
        e.kind(),
        vouch_engine::ErrorKind::Read(vouch_chain::ErrorKind::InvalidTime),
        "{e}"
    );
}

/// A full backup with revision history holds history only from its earliest descriptor
/// revision (spec/restore.md §3): a time before it (here 2017, long before the cluster
/// existed) is refused with InvalidTime naming that time, not restored as an empty state;
/// the first revision's own time restores; nothing is created by the refusal.
#[test]
fn restore_before_the_history_starts_is_refused() {
    let env = Env::new();
    workload::init(&env.c, Workload::Bank, 20, 5).unwrap();
    env.advance(SEC);
    let mut o = opts(db("bank"), Destination::Into(env.uri("b")));
    o.revision_history = true;
    run(&env.c, &o);
    let uri = file_uri(&env.root("b"));
    let coll = Collection::open(&uri, None, &open_options(None)).unwrap();
    let chain = coll.chain(&coll.latest().unwrap()).unwrap();
    let m = &chain.layers[0].manifest;
    assert_eq!(ts(m.revision_start_time), Timestamp::MIN, "never GC'd");
    let first = m
        .descriptor_changes
        .iter()
        .map(|r| ts(r.time))
        .min()
        .unwrap();
    assert!(first > Timestamp::MIN);
    let (_d, tgt) = target(env.now());
    let at = |t: &str| {
        let mut o = RestoreOptions::new(db("bank"), latest(&uri));
        o.as_of = Some(t.to_string());
        o.new_db_name = Some("then".into());
        o
    };
    let want = format!(
        "invalid RESTORE timestamp: BACKUP for requested time only has revision history from {}",
        vouch_format::time::format_sql_tz(first)
    );
    for t in [
        "2017-06-09 00:00:00".to_string(),
        Timestamp::new(first.wall - 1, first.logical).to_string(),
    ] {
        let e = restore_fail(&tgt, &at(&t));
        assert_eq!(
            e.kind(),
            read_kind(vouch_chain::ErrorKind::InvalidTime),
            "{e}"
        );
        assert_eq!(e.to_string(), want, "{t}");
        assert!(tgt.catalog(tgt.now()).unwrap().database("then").is_none());
    }
    // From the first revision on, the history is there: planning accepts that very time
    // (and refuses the one before), and a restore once every object exists succeeds.
    let planned = |t: Timestamp| {
        let coll = Collection::open(&uri, None, &open_options(None)).unwrap();
        let full = coll.latest().unwrap();
        let chain = coll.open_chain(&full).unwrap();
        vouch_chain::plan(chain, Some(t)).map(|p| p.time)
    };
    assert_eq!(planned(first).unwrap(), first);
    assert_eq!(
        planned(Timestamp::new(first.wall - 1, first.logical))
            .unwrap_err()
            .kind(),
        vouch_chain::ErrorKind::InvalidTime
    );
    let last = m
        .descriptor_changes
        .iter()
        .map(|r| ts(r.time))
        .max()
        .unwrap();
    restore_ok(&tgt, &at(&last.to_string()));
    assert!(tgt.catalog(tgt.now()).unwrap().database("then").is_some());
}

/// A view restored under another database name (`new_db_name`) or into another database
/// (`into_db`) has its query text rewritten to the name it now depends on (SHOW BACKUP
/// SCHEMAS and dumps of it: `cli/tests/cli_restore.rs`); the source keeps its text.
#[test]
fn restored_views_name_their_new_database() {
    let (src, uri) = shop_backup();
    let (_d, tgt) = target(src.now());
    let query = |dbn: &str| query_of(&tgt, dbn);
    let mut o = RestoreOptions::new(db("shop"), latest(&uri));
    o.new_db_name = Some("shop2".into());
    restore_ok(&tgt, &o);
    assert_eq!(
        query("shop2"),
        "SELECT id FROM shop2.orders WHERE status = 'open'"
    );
    tgt.create_database("newdb").unwrap();
    let mut o = RestoreOptions::new(
        Targets::Tables(vec![
            table("shop", "customers"),
            table("shop", "orders"),
            table("shop", "open_orders"),
        ]),
        latest(&uri),
    );
    o.into_db = Some("newdb".into());
    restore_ok(&tgt, &o);
    assert_eq!(
        query("newdb"),
        "SELECT id FROM newdb.orders WHERE status = 'open'"
    );
    // The source is untouched.
    assert_eq!(
        query_of(&src.c, "shop"),
        "SELECT id FROM shop.orders WHERE status = 'open'"
    );
}

fn query_of(c: &Cluster, dbn: &str) -> String {
    let cat = c.catalog(c.now()).unwrap();
    let db = cat.database(dbn).unwrap().id;
    match cat.object(db, "open_orders").and_then(|d| d.kind.clone()) {
        Some(vouch_format::manifest::pb::descriptor::Kind::View(v)) => v.query,
        other => panic!("not a view: {other:?}"),
    }
}
