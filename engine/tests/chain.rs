//! Chains in a collection: a full backup and its incrementals (INTO LATEST, INTO
//! 'subdir', incremental_location), the hash chain of manifests, directory names, LATEST
//! markers with stray objects around, refused incrementals, and write-once objects.

mod support;

use std::collections::BTreeSet;

use support::*;
use vouch_chain::Targets;
use vouch_chain::{open_options, Collection};
use vouch_engine::backup::{BackupResult, Destination};
use vouch_format::keys::{ColumnType, Datum};
use vouch_format::layout;
use vouch_format::mvcc::Timestamp;

fn shop(env: &Env) {
    env.c.create_database("shop").unwrap();
    for (t, indexed) in [("items", true), ("notes", false)] {
        env.c
            .create_table("shop", &simple_table(t, "v", ColumnType::String, indexed))
            .unwrap();
    }
    env.upsert(
        "shop",
        "items",
        &[int_str(1, "a"), int_str(2, "b"), int_str(3, "c")],
    );
    env.upsert("shop", "notes", &[int_str(1, "n")]);
}

/// Some writes between layers (`n` makes them differ).
fn churn(env: &Env, n: i64) {
    env.upsert(
        "shop",
        "items",
        &[int_str(1, &format!("a{n}")), int_str(10 + n, "new")],
    );
    env.delete("shop", "items", &[Datum::Int(10 + n)]);
    env.upsert("shop", "notes", &[int_str(2 + n, "m")]);
}

fn coll(env: &Env, uri: &str, incloc: Option<&str>) -> Collection {
    Collection::open(uri, incloc, &open_options(Some(env.c.extern_dir()))).unwrap()
}

/// Runs a backup, checking that no object that existed before it changed.
fn backup_checked(
    env: &Env,
    roots: &[&str],
    o: &vouch_engine::backup::BackupOptions,
) -> BackupResult {
    let before: Vec<_> = roots.iter().map(|r| snapshot(&env.root(r))).collect();
    let r = run(&env.c, o);
    for (root, b) in roots.iter().zip(&before) {
        assert_nothing_overwritten(b, &snapshot(&env.root(root)));
    }
    r
}

/// A backup that must fail, leaving every root exactly as it was.
fn backup_refused(
    env: &Env,
    roots: &[&str],
    o: &vouch_engine::backup::BackupOptions,
) -> vouch_engine::Error {
    let before: Vec<_> = roots.iter().map(|r| snapshot(&env.root(r))).collect();
    let e = run_err(&env.c, o);
    for (root, b) in roots.iter().zip(&before) {
        let after = snapshot(&env.root(root));
        assert_nothing_overwritten(b, &after);
        let new: Vec<&String> = after.keys().filter(|p| !b.contains_key(*p)).collect();
        assert!(
            !new.iter().any(|p| p.ends_with(layout::MANIFEST)),
            "a refused backup wrote {new:?}"
        );
    }
    e
}

fn latest_markers(env: &Env, root: &str) -> Vec<String> {
    snapshot(&env.root(root))
        .into_keys()
        .filter(|p| p.starts_with("metadata/latest/"))
        .collect()
}

fn read(env: &Env, root: &str, path: &str) -> Vec<u8> {
    std::fs::read(env.root(root).join(path)).unwrap()
}

/// The protected timestamp record the chained backups of these tests move.
const CHAIN_RECORD: u64 = 7;

#[test]
fn full_and_three_incrementals_form_a_hash_chain() {
    let env = Env::new();
    shop(&env);
    env.advance(SEC);
    let uri = env.uri("coll");
    // As a schedule's runs do, every layer moves one protected timestamp record.
    let chained = |dest: Destination| {
        let mut o = opts(Targets::Cluster, dest);
        o.protect_record = Some(CHAIN_RECORD);
        o
    };
    let full = backup_checked(&env, &["coll"], &chained(Destination::Into(uri.clone())));
    assert!(!full.incremental);
    assert_eq!(full.start_time, Timestamp::MIN);
    assert_eq!(full.path, "2026/01/01-000001.23");
    assert_eq!(full.path, layout::full_subdir(full.end_time));
    assert_eq!(full.full_subdir, full.path);

    let mut results = vec![full.clone()];
    let steps: [(u64, Destination); 3] = [
        (61 * SEC + 370_000_000, Destination::IntoLatest(uri.clone())),
        (3600 * SEC, Destination::IntoLatest(uri.clone())),
        // The next day, naming the full backup as CockroachDB prints it.
        (
            86_400 * SEC,
            Destination::IntoSubdir(format!("/{}", full.path), uri.clone()),
        ),
    ];
    for (i, (step, dest)) in steps.into_iter().enumerate() {
        churn(&env, i as i64);
        env.advance(step);
        let r = backup_checked(&env, &["coll"], &chained(dest));
        assert!(r.incremental);
        assert_eq!(r.full_subdir, full.path);
        results.push(r);
    }
    assert_eq!(
        results[1].path,
        format!(
            "incrementals/{}/20260101/000102.60-20260101-000001.23",
            full.path
        )
    );
    assert_eq!(
        results[3].path,
        format!(
            "incrementals/{}/20260102/010102.60-20260101-010102.60",
            full.path
        )
    );

    let layers: Vec<Stored> = results
        .iter()
        .map(|r| read_layer(&env.root("coll").join(&r.path)))
        .collect();
    let chain_id = layers[0].m.chain_id.clone();
    assert_eq!(
        chain_id, layers[0].m.backup_id,
        "a chain is named by its full backup"
    );
    let ids: BTreeSet<Vec<u8>> = layers.iter().map(|l| l.m.backup_id.clone()).collect();
    assert_eq!(ids.len(), 4, "backup ids are distinct");
    assert!(layers[0].m.previous.is_none());
    for (i, l) in layers.iter().enumerate() {
        assert_eq!(l.m.chain_id, chain_id);
        assert_eq!(l.end(), results[i].end_time);
        assert_eq!(l.start(), results[i].start_time);
        if i == 0 {
            continue;
        }
        let prev = &layers[i - 1];
        assert_eq!(
            l.start(),
            prev.end(),
            "layer {i} starts where {} ends",
            i - 1
        );
        let p = l.m.previous.as_ref().expect("previous");
        assert_eq!(p.path, results[i - 1].path);
        assert_eq!(p.manifest_sha256, prev.sha().to_vec());
        assert_eq!(
            results[i].path,
            layout::incremental_path(layout::INCREMENTALS_DIR, &full.path, l.start(), l.end())
                .unwrap()
        );
        let parsed = layout::parse_incremental_subdir(
            results[i]
                .path
                .strip_prefix(&format!("incrementals/{}/", full.path))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(parsed.end.wall / 10_000_000, l.end().wall / 10_000_000);
        assert_eq!(parsed.start.wall / 10_000_000, l.start().wall / 10_000_000);
    }

    // LATEST names the full backup; every marker is well formed and does too.
    let content = format!("/{}", full.path);
    assert_eq!(read(&env, "coll", layout::LATEST), content.as_bytes());
    let markers = latest_markers(&env, "coll");
    assert!(
        markers.contains(&layout::latest_marker(full.end_time)),
        "{markers:?}"
    );
    for m in &markers {
        layout::parse_latest_marker(m).unwrap();
        assert_eq!(read(&env, "coll", m), content.as_bytes(), "{m}");
    }

    // Reading the collection gives the same chain.
    let c = coll(&env, &uri, None);
    assert_eq!(c.latest().unwrap(), full.path);
    assert_eq!(c.full_backups().unwrap(), vec![full.path.clone()]);
    let chain = c.chain(&full.path).unwrap();
    let dirs: Vec<&str> = chain.layers.iter().map(|l| l.dir.as_str()).collect();
    let want: Vec<&str> = results.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(dirs, want);
    for (l, s) in chain.layers.iter().zip(&layers) {
        assert_eq!(l.manifest_sha256, s.sha());
    }
    // The chain's protected timestamp followed the newest layer; the jobs' are gone.
    assert_eq!(
        env.c.kv().protected().unwrap(),
        vec![(CHAIN_RECORD, results[3].end_time)]
    );
}

#[test]
fn second_full_backup_wins_latest_despite_stray_objects() {
    let env = Env::new();
    shop(&env);
    env.advance(SEC);
    let uri = env.uri("coll");
    let f1 = backup_checked(
        &env,
        &["coll"],
        &opts(Targets::Cluster, Destination::Into(uri.clone())),
    );
    churn(&env, 1);
    env.advance(90 * SEC);
    let f2 = backup_checked(
        &env,
        &["coll"],
        &opts(Targets::Cluster, Destination::Into(uri.clone())),
    );
    assert_ne!(f1.path, f2.path);
    let l2 = read_layer(&env.root("coll").join(&f2.path));
    assert!(l2.m.previous.is_none());
    assert_eq!(
        l2.m.chain_id, l2.m.backup_id,
        "a new full backup starts a new chain"
    );
    let markers = latest_markers(&env, "coll");
    assert_eq!(
        markers,
        vec![
            layout::latest_marker(f2.end_time),
            layout::latest_marker(f1.end_time)
        ],
        "the newest marker sorts first"
    );
    assert_eq!(
        read(&env, "coll", &markers[0]),
        format!("/{}", f2.path).as_bytes()
    );
    assert_eq!(
        read(&env, "coll", &markers[1]),
        format!("/{}", f1.path).as_bytes()
    );
    // The plain LATEST is write-once: it still names the first full backup.
    assert_eq!(
        read(&env, "coll", layout::LATEST),
        format!("/{}", f1.path).as_bytes()
    );

    // Stray objects, as copy tools and desktops leave them.
    let root = env.root("coll");
    std::fs::write(root.join(".DS_Store"), b"").unwrap();
    std::fs::create_dir_all(root.join("2026/12")).unwrap();
    std::fs::create_dir_all(root.join("2027")).unwrap();
    std::fs::write(
        root.join("metadata/latest/LATEST-garbage"),
        b"/2099/01/01-000000.00",
    )
    .unwrap();
    std::fs::write(root.join("metadata/latest/.DS_Store"), b"").unwrap();
    std::fs::create_dir_all(root.join("foo")).unwrap();
    std::fs::write(root.join("foo/BACKUP_MANIFEST"), b"not a manifest").unwrap();
    std::fs::create_dir_all(root.join("2026/02/30-000000.00")).unwrap();
    std::fs::write(root.join("2026/02/30-000000.00/BACKUP_MANIFEST"), b"x").unwrap();

    let c = coll(&env, &uri, None);
    assert_eq!(c.latest().unwrap(), f2.path);
    assert_eq!(
        c.full_backups().unwrap(),
        vec![f1.path.clone(), f2.path.clone()]
    );
    // INTO LATEST extends the second chain.
    churn(&env, 2);
    env.advance(SEC);
    let inc = backup_checked(
        &env,
        &["coll"],
        &opts(Targets::Cluster, Destination::IntoLatest(uri.clone())),
    );
    assert_eq!(inc.full_subdir, f2.path);
    assert_eq!(inc.start_time, f2.end_time);
    assert!(inc.path.starts_with(&format!("incrementals/{}/", f2.path)));
    // 'LATEST' as a subdirectory, in any case, means the same.
    churn(&env, 3);
    env.advance(SEC);
    let inc_b = backup_checked(
        &env,
        &["coll"],
        &opts(
            Targets::Cluster,
            Destination::IntoSubdir("latest".into(), uri.clone()),
        ),
    );
    assert_eq!(inc_b.full_subdir, f2.path);
    assert_eq!(inc_b.start_time, inc.end_time);
    assert_eq!(
        coll(&env, &uri, None).chain(&f1.path).unwrap().layers.len(),
        1
    );
    assert_eq!(
        coll(&env, &uri, None).chain(&f2.path).unwrap().layers.len(),
        3
    );
    // INTO the first full backup by name still works and forms its own chain.
    let inc1 = backup_checked(
        &env,
        &["coll"],
        &opts(
            Targets::Cluster,
            Destination::IntoSubdir(f1.path.clone(), uri.clone()),
        ),
    );
    assert_eq!(inc1.start_time, f1.end_time);
    let l = read_layer(&env.root("coll").join(&inc1.path));
    assert_eq!(
        l.m.previous.as_ref().unwrap().manifest_sha256,
        read_layer(&env.root("coll").join(&f1.path)).sha().to_vec()
    );
}

#[test]
fn incremental_location_holds_the_layers() {
    let env = Env::new();
    shop(&env);
    env.advance(SEC);
    let (uri, incs) = (env.uri("coll"), env.uri("incs"));
    let full = backup_checked(
        &env,
        &["coll", "incs"],
        &opts(Targets::Cluster, Destination::Into(uri.clone())),
    );
    let mut prev = full.clone();
    let mut results = vec![];
    for n in 0..2 {
        churn(&env, n);
        env.advance(5 * SEC);
        let mut o = opts(Targets::Cluster, Destination::IntoLatest(uri.clone()));
        o.incremental_location = Some(incs.clone());
        let r = backup_checked(&env, &["coll", "incs"], &o);
        assert_eq!(r.start_time, prev.end_time);
        assert_eq!(
            r.path,
            layout::incremental_path("", &full.path, r.start_time, r.end_time).unwrap()
        );
        assert!(
            r.path.starts_with(&format!("{}/2026", full.path)),
            "{}",
            r.path
        );
        let l = read_layer(&env.root("incs").join(&r.path));
        let p = l.m.previous.as_ref().unwrap();
        assert_eq!(p.path, prev.path);
        let prev_root = if n == 0 { "coll" } else { "incs" };
        assert_eq!(
            p.manifest_sha256,
            read_layer(&env.root(prev_root).join(&prev.path))
                .sha()
                .to_vec()
        );
        prev = r.clone();
        results.push(r);
    }
    // Nothing under the collection's own incrementals/.
    assert!(!snapshot(&env.root("coll"))
        .keys()
        .any(|p| p.starts_with("incrementals")));
    let with = coll(&env, &uri, Some(&incs)).chain(&full.path).unwrap();
    let dirs: Vec<&str> = with.layers.iter().map(|l| l.dir.as_str()).collect();
    assert_eq!(
        dirs,
        vec![full.path.as_str(), &results[0].path, &results[1].path]
    );
    assert_eq!(
        coll(&env, &uri, None)
            .chain(&full.path)
            .unwrap()
            .layers
            .len(),
        1
    );
}

#[test]
fn incremental_with_other_targets_fails() {
    let env = Env::new();
    shop(&env);
    env.c.create_database("other").unwrap();
    env.c
        .create_table("other", &simple_table("t", "v", ColumnType::Int, false))
        .unwrap();
    env.advance(SEC);
    let uri = env.uri("coll");
    let tables =
        |l: &[&str]| Targets::Tables(l.iter().map(|t| Targets::parse_table(t).unwrap()).collect());
    let mut o = opts(
        tables(&["shop.items", "shop.notes"]),
        Destination::Into(uri.clone()),
    );
    o.protect_record = Some(CHAIN_RECORD);
    let full = backup_checked(&env, &["coll"], &o);
    let chain_pts = env.c.kv().min_protected().unwrap();
    assert_eq!(chain_pts, Some(full.end_time));
    churn(&env, 0);
    env.advance(SEC);
    for (what, targets) in [
        ("cluster", Targets::Cluster),
        ("database", Targets::Databases(vec!["shop".into()])),
        (
            "more tables",
            tables(&["shop.items", "shop.notes", "other.t"]),
        ),
        ("another table", tables(&["other.t"])),
        ("fewer tables", tables(&["shop.items"])),
    ] {
        let e = backup_refused(
            &env,
            &["coll"],
            &opts(targets, Destination::IntoLatest(uri.clone())),
        );
        assert_eq!(
            e.kind(),
            vouch_engine::ErrorKind::TargetsMismatch,
            "{what}: {e}"
        );
        // The refused job does not hold GC back.
        assert_eq!(env.c.kv().min_protected().unwrap(), chain_pts, "{what}");
    }
    // The same targets (in another order, with public spelled out) work.
    let r = backup_checked(
        &env,
        &["coll"],
        &opts(
            tables(&["shop.public.notes", "shop.items"]),
            Destination::IntoLatest(uri.clone()),
        ),
    );
    assert!(r.incremental);
    // A database backup's incrementals pick up its new tables.
    let full_db = {
        env.advance(SEC);
        backup_checked(
            &env,
            &["db"],
            &opts(
                Targets::Databases(vec!["shop".into()]),
                Destination::Into(env.uri("db")),
            ),
        )
    };
    env.c
        .create_table("shop", &simple_table("new", "v", ColumnType::Int, false))
        .unwrap();
    env.advance(SEC);
    let r = backup_checked(
        &env,
        &["db"],
        &opts(
            Targets::Databases(vec!["shop".into()]),
            Destination::IntoLatest(env.uri("db")),
        ),
    );
    let l = read_layer(&env.root("db").join(&r.path));
    let new_id = env.table_id("shop", "new");
    assert_eq!(l.m.introduced_spans, spans_of([new_id]));
    assert_eq!(l.start(), full_db.end_time);
}

#[test]
fn incremental_into_a_missing_backup_fails_clearly() {
    let env = Env::new();
    shop(&env);
    env.advance(SEC);
    let uri = env.uri("coll");
    // Nothing there yet: INTO LATEST has no LATEST to follow.
    let e = backup_refused(
        &env,
        &["coll"],
        &opts(Targets::Cluster, Destination::IntoLatest(uri.clone())),
    );
    assert_eq!(
        e.kind(),
        vouch_engine::ErrorKind::Read(vouch_chain::ErrorKind::NotFound),
        "{e}"
    );
    let full = backup_checked(
        &env,
        &["coll"],
        &opts(Targets::Cluster, Destination::Into(uri.clone())),
    );
    env.advance(SEC);
    let e = backup_refused(
        &env,
        &["coll"],
        &opts(
            Targets::Cluster,
            Destination::IntoSubdir("2020/01/01-000000.00".into(), uri.clone()),
        ),
    );
    assert_eq!(
        e.kind(),
        vouch_engine::ErrorKind::Read(vouch_chain::ErrorKind::NotFound),
        "{e}"
    );
    let e = backup_refused(
        &env,
        &["coll"],
        &opts(
            Targets::Cluster,
            Destination::IntoSubdir("yesterday".into(), uri.clone()),
        ),
    );
    assert_eq!(
        e.kind(),
        vouch_engine::ErrorKind::Read(vouch_chain::ErrorKind::Format),
        "{e}"
    );
    // An incremental must end after the layer it extends.
    for as_of in [full.end_time, Timestamp::new(full.end_time.wall - SEC, 0)] {
        let mut o = opts(Targets::Cluster, Destination::IntoLatest(uri.clone()));
        o.as_of = Some(as_of.to_string());
        let e = backup_refused(&env, &["coll"], &o);
        assert_eq!(e.kind(), vouch_engine::ErrorKind::InvalidTime, "{e}");
    }
    // An incremental directory is not a full backup.
    churn(&env, 0);
    env.advance(SEC);
    let inc = backup_checked(
        &env,
        &["coll"],
        &opts(Targets::Cluster, Destination::IntoLatest(uri.clone())),
    );
    let e = backup_refused(
        &env,
        &["coll"],
        &opts(
            Targets::Cluster,
            Destination::IntoSubdir(inc.path.clone(), uri.clone()),
        ),
    );
    assert_eq!(
        e.kind(),
        vouch_engine::ErrorKind::Read(vouch_chain::ErrorKind::Format),
        "{e}"
    );
    assert_eq!(
        coll(&env, &uri, None)
            .chain(&full.path)
            .unwrap()
            .layers
            .len(),
        2
    );
}

#[test]
fn backups_never_overwrite() {
    let env = Env::new();
    shop(&env);
    env.advance(SEC);
    let uri = env.uri("coll");
    let o = opts(Targets::Cluster, Destination::Into(uri.clone()));
    let f1 = backup_checked(&env, &["coll"], &o);
    // Same hundredth of a second: the directory is taken, the second full backup fails.
    churn(&env, 0);
    let e = backup_refused(&env, &["coll"], &o);
    assert_eq!(e.kind(), vouch_engine::ErrorKind::AlreadyExists, "{e:?}");
    // The same for an incremental whose name is taken: a layer ending in the same
    // hundredth as its start, then another one.
    env.advance(SEC);
    let inc_o = opts(Targets::Cluster, Destination::IntoLatest(uri.clone()));
    let i1 = backup_checked(&env, &["coll"], &inc_o);
    churn(&env, 1);
    let i2 = run(&env.c, &inc_o);
    assert_ne!(i1.path, i2.path, "{} vs {}", i1.path, i2.path);
    churn(&env, 2);
    let e = backup_refused(&env, &["coll"], &inc_o);
    assert_eq!(e.kind(), vouch_engine::ErrorKind::AlreadyExists, "{e:?}");
    // Every layer still reads, and the chain is intact.
    let chain = coll(&env, &uri, None).chain(&f1.path).unwrap();
    assert_eq!(chain.layers.len(), 3);
    for w in chain.layers.windows(2) {
        let p = w[1].manifest.previous.as_ref().unwrap();
        assert_eq!(p.path, w[0].dir);
        assert_eq!(p.manifest_sha256, w[0].manifest_sha256.to_vec());
    }
}

#[test]
fn cluster_and_database_incrementals_follow_new_databases() {
    let env = Env::new();
    shop(&env);
    env.c.create_database("other").unwrap();
    env.advance(SEC);
    let uri = env.uri("coll");
    let full = backup_checked(
        &env,
        &["coll"],
        &opts(Targets::Cluster, Destination::Into(uri.clone())),
    );
    // A database created after a cluster backup joins its next incremental.
    env.c.create_database("fresh").unwrap();
    let t = env
        .c
        .create_table("fresh", &simple_table("t", "v", ColumnType::Int, false))
        .unwrap();
    env.upsert("fresh", "t", &[vec![Datum::Int(1), Datum::Int(2)]]);
    env.advance(SEC);
    let r = backup_checked(
        &env,
        &["coll"],
        &opts(Targets::Cluster, Destination::IntoLatest(uri.clone())),
    );
    assert_eq!(r.start_time, full.end_time);
    let l = read_layer(&env.root("coll").join(&r.path));
    assert_eq!(l.m.introduced_spans, spans_of([t]));
    let fresh = env
        .c
        .catalog(l.end())
        .unwrap()
        .database("fresh")
        .unwrap()
        .id;
    assert!(l.m.complete_database_ids.contains(&fresh));
    // Databases named in another order are the same targets.
    let dbs = |l: &[&str]| Targets::Databases(l.iter().map(|s| s.to_string()).collect());
    let db_uri = env.uri("dbs");
    backup_checked(
        &env,
        &["dbs"],
        &opts(dbs(&["shop", "other"]), Destination::Into(db_uri.clone())),
    );
    env.advance(SEC);
    backup_checked(
        &env,
        &["dbs"],
        &opts(
            dbs(&["other", "shop"]),
            Destination::IntoLatest(db_uri.clone()),
        ),
    );
    // But not other databases.
    env.advance(SEC);
    let e = backup_refused(
        &env,
        &["dbs"],
        &opts(dbs(&["shop"]), Destination::IntoLatest(db_uri.clone())),
    );
    assert_eq!(e.kind(), vouch_engine::ErrorKind::TargetsMismatch, "{e}");
    let e = backup_refused(
        &env,
        &["dbs"],
        &opts(
            dbs(&["shop", "other", "fresh"]),
            Destination::IntoLatest(db_uri),
        ),
    );
    assert_eq!(e.kind(), vouch_engine::ErrorKind::TargetsMismatch, "{e}");
}
