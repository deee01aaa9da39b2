//! Locality-aware BACKUP (spec/locality.md §6): each range's files in the store of its
//! leaseholder's locality, the manifest (version 2) in the default store naming each file's
//! locality, `BACKUP_PART_<n>_<locality>` in every other store, CockroachDB's errors.

use std::path::{Path, PathBuf};

use vouch_cluster::{Clock, Cluster};
use vouch_format::keys::{self, ColumnType, Datum, Direction};
use vouch_format::locality::LocalityError;
use vouch_format::manifest::{self, pb};
use vouch_format::mvcc;
use vouch_sql::{Error, Output, Session};

const SETUP: &str = "CREATE DATABASE movr;
    CREATE TABLE movr.rides (city STRING NOT NULL, id INT NOT NULL, revenue DECIMAL, PRIMARY KEY (city, id))
      PARTITION BY LIST (city) (
        PARTITION us_west VALUES IN ('seattle', 'san francisco', 'los angeles'),
        PARTITION us_east VALUES IN ('new york', 'boston', 'washington dc'),
        PARTITION europe_west VALUES IN ('amsterdam', 'paris', 'rome'));
    INSERT INTO movr.rides VALUES ('seattle', 1, 10), ('boston', 2, 20), ('rome', 3, 30),
      ('oslo', 4, 40), ('los angeles', 5, 50), ('paris', 6, 60), ('san francisco', 7, 70);
    ALTER RANGE default CONFIGURE ZONE USING constraints = '[+region=us-east1]';
    ALTER PARTITION us_west OF INDEX movr.public.rides@primary CONFIGURE ZONE USING constraints = '[+region=us-west1]';
    ALTER PARTITION europe_west OF INDEX movr.public.rides@primary CONFIGURE ZONE USING constraints = '[+region=europe-west1]'";

const US_WEST: &[&str] = &["seattle", "san francisco", "los angeles"];
const EUROPE: &[&str] = &["amsterdam", "paris", "rome"];

const LIST: &str = "('nodelocal://1/east?COCKROACH_LOCALITY=default', \
    'nodelocal://1/west?COCKROACH_LOCALITY=region%3Dus-west1', \
    'nodelocal://1/eu?COCKROACH_LOCALITY=region%3Deurope-west1')";

fn cluster() -> (tempfile::TempDir, Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::init(
        &dir.path().join("c"),
        Clock::manual(1_700_000_000_000_000_000),
    )
    .unwrap();
    run(&c, SETUP);
    (dir, c)
}

fn tick(c: &Cluster) {
    c.kv().clock().advance(1_000_000_000);
}

fn run(c: &Cluster, sql: &str) -> Vec<Output> {
    Session::new(c)
        .execute_all(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn err(c: &Cluster, sql: &str) -> Error {
    match Session::new(c).execute_all(sql) {
        Ok(o) => panic!("{sql}: succeeded with {o:?}"),
        Err(e) => e,
    }
}

/// Every file under `dir`, relative to it, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The manifests under `dir` (relative path of their directory, decoded), oldest first.
fn manifests(dir: &Path) -> Vec<(String, pb::BackupManifest)> {
    let mut v: Vec<(String, pb::BackupManifest)> = files(dir)
        .into_iter()
        .filter(|f| f.ends_with("/BACKUP_MANIFEST") || f == "BACKUP_MANIFEST")
        .map(|f| {
            let m = manifest::decode(&std::fs::read(dir.join(&f)).unwrap()).unwrap();
            (
                f.trim_end_matches("BACKUP_MANIFEST")
                    .trim_end_matches('/')
                    .to_string(),
                m,
            )
        })
        .collect();
    v.sort_by_key(|(_, m)| mvcc::Timestamp::from_pb(m.end_time));
    v
}

/// The city of a file's first or last MVCC key in movr.rides, if it is one of its rows.
fn city(c: &Cluster, mvcc_key: &[u8]) -> Option<String> {
    let t = c.table("movr", "rides").unwrap();
    let (user, _) = mvcc::decode_key(mvcc_key).unwrap();
    let (table, index, rest) = keys::decode_table_prefix(&user).ok()?;
    if table != t.id || index != 1 {
        return None;
    }
    let _ = rest;
    let (_, _, cols) = keys::decode_index_key(
        &user,
        &[
            (ColumnType::String, Direction::Asc),
            (ColumnType::Int, Direction::Asc),
        ],
    )
    .ok()?;
    match cols.first() {
        Some(Datum::String(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Checks one layer's placement: every file of locality L is in L's store (and no other
/// file is), its rows are of L's partition, and L's part file names exactly its files.
fn check_layer(c: &Cluster, root: &Path, dir: &str, m: &pb::BackupManifest) {
    assert_eq!(m.format_version, manifest::LOCALITY_MANIFEST_FORMAT_VERSION);
    assert_eq!(m.localities, ["region=us-west1", "region=europe-west1"]);
    for (n, store, locality, cities) in [
        (1, "west", "region=us-west1", US_WEST),
        (2, "eu", "region=europe-west1", EUROPE),
    ] {
        let mine: Vec<&pb::File> = m.files.iter().filter(|f| f.locality == locality).collect();
        let on_disk: Vec<String> = files(&root.join(store).join(dir))
            .into_iter()
            .filter(|f| f.starts_with("data/"))
            .collect();
        let mut listed: Vec<String> = mine.iter().map(|f| f.path.clone()).collect();
        listed.sort();
        assert_eq!(on_disk, listed, "{store}: exactly its locality's files");
        for f in &mine {
            for k in [&f.first_key, &f.last_key] {
                let city = city(c, k).unwrap();
                assert!(cities.contains(&city.as_str()), "{store}: {city}");
            }
        }
        let part = std::fs::read(
            root.join(store)
                .join(dir)
                .join(format!("BACKUP_PART_{n}_{}", locality)),
        )
        .unwrap();
        let part = manifest::decode_part(&part).unwrap();
        assert_eq!(part.backup_id, m.backup_id);
        assert_eq!(part.chain_id, m.chain_id);
        assert_eq!(part.locality, locality);
        assert_eq!(
            part.paths,
            mine.iter().map(|f| f.path.clone()).collect::<Vec<_>>()
        );
    }
    // Default-store files: nothing of us-west or europe rows.
    let east: Vec<String> = files(&root.join("east").join(dir))
        .into_iter()
        .filter(|f| f.starts_with("data/"))
        .collect();
    for f in m.files.iter().filter(|f| f.locality.is_empty()) {
        assert!(east.contains(&f.path), "{} in the default store", f.path);
        for k in [&f.first_key, &f.last_key] {
            if let Some(city) = city(c, k) {
                assert!(!US_WEST.contains(&city.as_str()) && !EUROPE.contains(&city.as_str()));
            }
        }
    }
    assert_eq!(
        east.len(),
        m.files.iter().filter(|f| f.locality.is_empty()).count()
    );
}

fn extern_dir(c: &Cluster) -> PathBuf {
    c.extern_dir()
}

#[test]
fn files_go_to_the_store_of_their_leaseholders_locality() {
    let (_d, c) = cluster();
    tick(&c);
    run(&c, &format!("BACKUP DATABASE movr INTO {LIST}"));
    let root = extern_dir(&c);
    let ms = manifests(&root.join("east"));
    assert_eq!(ms.len(), 1);
    let (dir, m) = &ms[0];
    // Every partition's city is in a file of its locality.
    let west_rows: u64 = m
        .files
        .iter()
        .filter(|f| f.locality == "region=us-west1")
        .map(|f| f.rows)
        .sum();
    assert_eq!(west_rows, 3, "seattle, san francisco, los angeles");
    let eu_rows: u64 = m
        .files
        .iter()
        .filter(|f| f.locality == "region=europe-west1")
        .map(|f| f.rows)
        .sum();
    assert_eq!(eu_rows, 2, "rome, paris");
    check_layer(&c, &root, dir, m);
    // No manifest or lock outside the default store.
    for store in ["west", "eu"] {
        assert!(manifests(&root.join(store)).is_empty());
        assert!(files(&root.join(store))
            .iter()
            .all(|f| f.contains("/data/") || f.contains("/BACKUP_PART_")));
    }

    // An incremental into LATEST with the same list: its files in incrementals/ of each store.
    run(
        &c,
        "INSERT INTO movr.rides VALUES ('seattle', 8, 80), ('boston', 9, 90), ('amsterdam', 10, 100)",
    );
    tick(&c);
    run(&c, &format!("BACKUP DATABASE movr INTO LATEST IN {LIST}"));
    let ms = manifests(&root.join("east"));
    assert_eq!(ms.len(), 2);
    let (dir, m) = &ms[1];
    assert!(dir.starts_with("incrementals/"), "{dir}");
    assert!(m.previous.is_some());
    check_layer(&c, &root, dir, m);
    let rows = |loc: &str| -> u64 {
        m.files
            .iter()
            .filter(|f| f.locality == loc)
            .map(|f| f.rows)
            .sum()
    };
    assert_eq!(
        (
            rows("region=us-west1"),
            rows("region=europe-west1"),
            rows("")
        ),
        (1, 1, 1)
    );
}

#[test]
fn legacy_to_lists_and_incremental_from_the_default() {
    let (_d, c) = cluster();
    tick(&c);
    run(
        &c,
        &format!(
            "BACKUP DATABASE movr TO {}",
            LIST.replace("1/east", "1/east/full")
                .replace("1/west", "1/west/full")
                .replace("1/eu", "1/eu/full")
        ),
    );
    run(
        &c,
        "UPDATE movr.rides SET revenue = 11 WHERE city = 'seattle' AND id = 1",
    );
    tick(&c);
    run(
        &c,
        &format!(
            "BACKUP DATABASE movr TO {} INCREMENTAL FROM 'nodelocal://1/east/full'",
            LIST.replace("1/east", "1/east/inc")
                .replace("1/west", "1/west/inc")
                .replace("1/eu", "1/eu/inc")
        ),
    );
    let root = extern_dir(&c);
    for layer in ["full", "inc"] {
        let ms = manifests(&root.join("east").join(layer));
        assert_eq!(ms.len(), 1);
        assert_eq!(ms[0].0, "");
        // The layer's stores are <store>/<layer>.
        let m = &ms[0].1;
        check_layer(&c, &root, layer, m);
    }
    let inc = &manifests(&root.join("east/inc"))[0].1;
    assert_eq!(inc.files.len(), 1);
    assert_eq!(inc.files[0].locality, "region=us-west1");
}

#[test]
fn a_single_default_uri_is_a_plain_backup() {
    let (_d, c) = cluster();
    tick(&c);
    run(
        &c,
        "BACKUP DATABASE movr INTO 'nodelocal://1/one?COCKROACH_LOCALITY=default'",
    );
    let ms = manifests(&c.extern_dir().join("one"));
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].1.format_version, manifest::MANIFEST_FORMAT_VERSION);
    assert!(ms[0].1.localities.is_empty());
    assert!(ms[0].1.files.iter().all(|f| f.locality.is_empty()));
}

#[test]
fn bad_lists_fail_with_cockroachdbs_errors_and_write_nothing() {
    let (_d, c) = cluster();
    tick(&c);
    type Kind = fn(&LocalityError) -> bool;
    let cases: &[(&str, Kind, &str)] = &[
        (
            "('nodelocal://1/a?COCKROACH_LOCALITY=default', 'nodelocal://1/b')",
            |e| matches!(e, LocalityError::LocalityNotSpecified),
            "multiple URLs are provided for partitioned BACKUP, but COCKROACH_LOCALITY is not specified",
        ),
        (
            "('nodelocal://1/a?COCKROACH_LOCALITY=default', 'nodelocal://1/b?COCKROACH_LOCALITY=default')",
            |e| matches!(e, LocalityError::MultipleDefaults),
            "multiple default URLs provided for partition backup",
        ),
        (
            "('nodelocal://1/a?COCKROACH_LOCALITY=region%3Dus-west1', 'nodelocal://1/b?COCKROACH_LOCALITY=region%3Dus-east1')",
            |e| matches!(e, LocalityError::NoDefault),
            "no default URL provided for partitioned backup",
        ),
        (
            "('nodelocal://1/a?COCKROACH_LOCALITY=default', 'nodelocal://1/b?COCKROACH_LOCALITY=region%3Dus-west1', 'nodelocal://1/c?COCKROACH_LOCALITY=region%3Dus-west1')",
            |e| matches!(e, LocalityError::DuplicateLocality(l) if l == "region=us-west1"),
            "duplicate URIs for locality region=us-west1",
        ),
        (
            "('nodelocal://1/a?COCKROACH_LOCALITY=default', 'nodelocal://1/b?COCKROACH_LOCALITY=uswest')",
            |e| matches!(e, LocalityError::BadBackupLocality(_)),
            "failed to parse backup locality: tier must be in the form \"key=value\" not \"uswest\"",
        ),
        (
            "'nodelocal://1/a?COCKROACH_LOCALITY=region%3Dus-west1'",
            |e| matches!(e, LocalityError::SingleLocation(l) if l == "region=us-west1"),
            "COCKROACH_LOCALITY region=us-west1 is invalid for a single BACKUP location",
        ),
    ];
    for (uris, kind, message) in cases {
        for stmt in [
            format!("BACKUP DATABASE movr INTO {uris}"),
            format!("BACKUP DATABASE movr TO {uris}"),
        ] {
            let e = err(&c, &stmt);
            match &e {
                Error::Locality(l) => assert!(kind(l), "{stmt}: {l:?}"),
                other => panic!("{stmt}: {other:?}"),
            }
            assert_eq!(e.to_string(), *message, "{stmt}");
        }
    }
    assert!(files(&c.extern_dir()).is_empty());
}

// ---- RESTORE (spec/locality.md §7) ----------------------------------------------------------

/// A fresh cluster whose external folder is a copy of `c`'s.
fn fresh(c: &Cluster, dir: &Path) -> Cluster {
    let b = Cluster::init(dir, Clock::manual(c.now().wall + 1_000_000_000)).unwrap();
    copy_tree(&c.extern_dir(), &b.extern_dir());
    b
}

fn copy_tree(from: &Path, to: &Path) {
    for f in files(from) {
        let dst = to.join(&f);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&f), dst).unwrap();
    }
}

/// movr.rides's index fingerprints (name, fingerprint, entries) at `ts`.
fn fingerprints(c: &Cluster, ts: mvcc::Timestamp) -> Vec<(String, u64, u64)> {
    c.fingerprints(ts)
        .unwrap()
        .into_iter()
        .filter(|f| f.database == "movr" && f.table == "rides")
        .map(|f| (f.index, f.fingerprint, f.entries))
        .collect()
}

/// A full backup and an incremental into LATEST with LIST, revision history on; returns the
/// time between them (after an update the full backup does not hold).
fn chain_of_two(c: &Cluster) -> mvcc::Timestamp {
    tick(c);
    run(
        c,
        &format!("BACKUP DATABASE movr INTO {LIST} WITH revision_history"),
    );
    run(
        c,
        "UPDATE movr.rides SET revenue = 11 WHERE city = 'seattle' AND id = 1;
         INSERT INTO movr.rides VALUES ('rome', 30, 300), ('boston', 20, 200)",
    );
    tick(c);
    let mid = c.now();
    tick(c);
    run(
        c,
        "DELETE FROM movr.rides WHERE city = 'paris';
         UPDATE movr.rides SET revenue = 12 WHERE city = 'seattle' AND id = 1",
    );
    tick(c);
    run(
        c,
        &format!("BACKUP DATABASE movr INTO LATEST IN {LIST} WITH revision_history"),
    );
    mid
}

#[test]
fn restore_from_lists_in_any_order_moved_and_consolidated() {
    let (d, c) = cluster();
    let mid = chain_of_two(&c);
    let end = c.now();
    let want_end = fingerprints(&c, end);
    let want_mid = fingerprints(&c, mid);
    assert_ne!(want_end, want_mid);
    // Other order than the BACKUP's (the default first).
    let b = fresh(&c, &d.path().join("b"));
    run(
        &b,
        "RESTORE DATABASE movr FROM LATEST IN ('nodelocal://1/east', 'nodelocal://1/eu', 'nodelocal://1/west')",
    );
    assert_eq!(fingerprints(&b, b.now()), want_end);
    // Point in time between the layers.
    let b2 = fresh(&c, &d.path().join("b2"));
    run(
        &b2,
        &format!(
            "RESTORE DATABASE movr FROM LATEST IN ('nodelocal://1/east', 'nodelocal://1/west', 'nodelocal://1/eu') AS OF SYSTEM TIME '{mid}'"
        ),
    );
    assert_eq!(fingerprints(&b2, b2.now()), want_mid);
    // West and EU moved into one place.
    let b3 = fresh(&c, &d.path().join("b3"));
    copy_tree(
        &b3.extern_dir().join("west"),
        &b3.extern_dir().join("moved"),
    );
    copy_tree(&b3.extern_dir().join("eu"), &b3.extern_dir().join("moved"));
    std::fs::remove_dir_all(b3.extern_dir().join("west")).unwrap();
    std::fs::remove_dir_all(b3.extern_dir().join("eu")).unwrap();
    run(
        &b3,
        "RESTORE DATABASE movr FROM LATEST IN ('nodelocal://1/east', 'nodelocal://1/moved')",
    );
    assert_eq!(fingerprints(&b3, b3.now()), want_end);
    // Everything consolidated into the default store: one URI.
    let b4 = fresh(&c, &d.path().join("b4"));
    copy_tree(&b4.extern_dir().join("west"), &b4.extern_dir().join("east"));
    copy_tree(&b4.extern_dir().join("eu"), &b4.extern_dir().join("east"));
    run(
        &b4,
        "RESTORE DATABASE movr FROM LATEST IN 'nodelocal://1/east'",
    );
    assert_eq!(fingerprints(&b4, b4.now()), want_end);
}

#[test]
fn restore_legacy_layers_with_a_different_set_per_layer() {
    let (d, c) = cluster();
    tick(&c);
    run(
        &c,
        "BACKUP DATABASE movr TO ('nodelocal://1/east/full?COCKROACH_LOCALITY=default', \
         'nodelocal://1/west/full?COCKROACH_LOCALITY=region%3Dus-west1')",
    );
    run(
        &c,
        "INSERT INTO movr.rides VALUES ('rome', 31, 1), ('seattle', 32, 2)",
    );
    tick(&c);
    run(
        &c,
        "BACKUP DATABASE movr TO ('nodelocal://1/east/inc?COCKROACH_LOCALITY=default', \
         'nodelocal://1/eu/inc?COCKROACH_LOCALITY=region%3Deurope-west1') \
         INCREMENTAL FROM 'nodelocal://1/east/full'",
    );
    let want = fingerprints(&c, c.now());
    let b = fresh(&c, &d.path().join("b"));
    run(
        &b,
        "RESTORE DATABASE movr FROM ('nodelocal://1/east/full', 'nodelocal://1/west/full'), \
         ('nodelocal://1/east/inc', 'nodelocal://1/eu/inc')",
    );
    assert_eq!(fingerprints(&b, b.now()), want);
}

#[test]
fn a_missing_part_or_one_of_another_backup_names_the_locality() {
    let (d, c) = cluster();
    chain_of_two(&c);
    let b = fresh(&c, &d.path().join("b"));
    let e = err(
        &b,
        "RESTORE DATABASE movr FROM LATEST IN ('nodelocal://1/east', 'nodelocal://1/west')",
    );
    let Error::Engine(inner) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        inner.kind(),
        vouch_engine::ErrorKind::Read(vouch_chain::ErrorKind::LocalityPart),
        "{e}"
    );
    assert!(
        e.to_string().contains(
            "expected manifest BACKUP_PART_<n>_region=europe-west1 not found in backup locations: none of the URIs given holds locality region=europe-west1 of layer "
        ),
        "{e}"
    );
    // The default store alone: the first locality it lacks.
    let e = err(
        &b,
        "RESTORE DATABASE movr FROM LATEST IN 'nodelocal://1/east'",
    );
    assert!(e.to_string().contains("locality region=us-west1"), "{e}");
    assert!(b.table("movr", "rides").is_err());
    // A part of another backup in the place of this one's.
    tick(&c);
    run(&c, &format!("BACKUP DATABASE movr INTO {LIST}"));
    let b2 = fresh(&c, &d.path().join("b2"));
    let west = b2.extern_dir().join("west");
    let parts: Vec<String> = files(&west)
        .into_iter()
        .filter(|f| f.ends_with("BACKUP_PART_1_region=us-west1") && !f.starts_with("incrementals/"))
        .collect();
    assert_eq!(parts.len(), 2, "{parts:?}");
    // The newest full backup's part replaced by the first one's.
    std::fs::copy(west.join(&parts[0]), west.join(&parts[1])).unwrap();
    let e = err(
        &b2,
        "RESTORE DATABASE movr FROM LATEST IN ('nodelocal://1/east', 'nodelocal://1/west', 'nodelocal://1/eu')",
    );
    let Error::Engine(inner) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        inner.kind(),
        vouch_engine::ErrorKind::Read(vouch_chain::ErrorKind::LocalityPart),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("expected backup part to have backup ID "),
        "{e}"
    );
    assert!(e.to_string().contains("locality region=us-west1"), "{e}");
}

// ---- WITH EXECUTION LOCALITY -------------------------------------------------------------------

#[test]
fn execution_locality_picks_a_matching_coordinator_or_refuses() {
    let (d, c) = cluster();
    tick(&c);
    let scope = vouch_sql::backup_stmt::Scope {
        database: None,
        cluster: Some(&c),
    };
    let parse = |sql: &str| match vouch_sql::grammar::parse(sql).unwrap() {
        vouch_sql::grammar::Statement::Backup {
            targets,
            dest,
            as_of,
            options,
        } => vouch_sql::backup_stmt::backup_options(
            &scope,
            &targets,
            &dest,
            as_of.as_deref(),
            &options,
            sql,
        )
        .unwrap(),
        other => panic!("{other:?}"),
    };
    // The demo's first us-west1 node is node 4.
    let o = parse(
        "BACKUP DATABASE movr INTO 'nodelocal://1/x' WITH EXECUTION LOCALITY = 'region=us-west1'",
    );
    assert_eq!(o.execution_locality.as_deref(), Some("region=us-west1"));
    let r = vouch_engine::backup::backup(&c, &o, &mut |_| {}).unwrap();
    assert_eq!(r.coordinator, 4);
    // No node in the region: CockroachDB's error, nothing written.
    let e = err(
        &c,
        "BACKUP DATABASE movr INTO 'nodelocal://1/y' WITH EXECUTION LOCALITY = 'region=asia-east1'",
    );
    let Error::Engine(inner) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(inner.kind(), vouch_engine::ErrorKind::ExecutionLocality);
    assert_eq!(
        e.to_string(),
        "no instances found matching locality filter region=asia-east1"
    );
    assert!(!c.extern_dir().join("y").exists());
    // RESTORE too: two tiers, both must match (node 8: europe-west1, az=c).
    let b = fresh(&c, &d.path().join("b"));
    run(
        &b,
        "RESTORE DATABASE movr FROM LATEST IN 'nodelocal://1/x' WITH EXECUTION LOCALITY = 'region=europe-west1,az=c'",
    );
    assert!(b.table("movr", "rides").is_ok());
    // The job records its coordinator: SHOW JOBS' coordinator_id (NULL before it starts).
    let coordinators = |c: &Cluster| {
        let out = run(c, "SHOW JOBS");
        let t = out[0].table().unwrap().clone();
        let i = t
            .columns
            .iter()
            .position(|c| c == "coordinator_id")
            .unwrap();
        t.rows.iter().map(|r| r[i].clone()).collect::<Vec<_>>()
    };
    assert_eq!(coordinators(&b), [Some("8".to_string())]);
    // Each job a second after the one before (jobs created at one time are shown in id
    // order, and ids are random).
    tick(&c);
    run(
        &c,
        "BACKUP DATABASE movr INTO 'nodelocal://1/z' WITH EXECUTION LOCALITY = 'region=us-west1'",
    );
    tick(&c);
    run(
        &c,
        "BACKUP DATABASE movr INTO 'nodelocal://1/z2' WITH detached",
    );
    // The refused backup above (no node matched) has none; the one that ran, node 4; the
    // detached one has not started.
    assert_eq!(coordinators(&c), [None, Some("4".to_string()), None]);
    let b2 = fresh(&c, &d.path().join("b2"));
    let mut ro = vouch_chain::RestoreOptions::new(
        vouch_chain::Targets::Databases(vec!["movr".into()]),
        vouch_chain::Source::Collection {
            uri: "nodelocal://1/x".into(),
            subdir: "LATEST".into(),
            incremental_location: None,
        },
    );
    ro.execution_locality = Some("region=europe-west1,az=c".into());
    let r = vouch_engine::restore::restore(&b2, &ro, &mut |_| {}).unwrap();
    assert_eq!(r.coordinator, 8);
    ro.execution_locality = Some("region=europe-west1,az=a".into());
    let e = vouch_engine::restore::restore(&fresh(&c, &d.path().join("b3")), &ro, &mut |_| {})
        .unwrap_err();
    assert_eq!(e.kind(), vouch_engine::ErrorKind::ExecutionLocality);
    assert_eq!(
        e.to_string(),
        "no instances found matching locality filter region=europe-west1,az=a"
    );
    let e = err(
        &b,
        "RESTORE DATABASE movr FROM LATEST IN 'nodelocal://1/x' WITH EXECUTION LOCALITY = 'region'",
    );
    let Error::Engine(inner) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(inner.kind(), vouch_engine::ErrorKind::ExecutionLocality);
}

#[test]
fn show_backup_reads_the_default_of_a_list() {
    let (_d, c) = cluster();
    tick(&c);
    run(&c, &format!("BACKUP DATABASE movr INTO {LIST}"));
    let out = run(
        &c,
        "SHOW BACKUP FROM LATEST IN ('nodelocal://1/east', 'nodelocal://1/west', 'nodelocal://1/eu')",
    );
    let t = out[0].table().unwrap();
    let rides = t
        .rows
        .iter()
        .find(|r| r.get(2).and_then(|c| c.as_deref()) == Some("rides"))
        .unwrap();
    let i = t.columns.iter().position(|c| c == "rows").unwrap();
    assert_eq!(rides[i].as_deref(), Some("7"));
    let out = run(
        &c,
        "SHOW BACKUPS IN ('nodelocal://1/east', 'nodelocal://1/west')",
    );
    assert_eq!(out[0].table().unwrap().rows.len(), 1);
}

// ---- SHOW BACKUP … WITH check_files from a list ------------------------------------------------

/// The store folder (under the extern dir) of a file's locality, as LIST places them.
fn store_of(locality: &str) -> &'static str {
    match locality {
        "" => "east",
        "region=us-west1" => "west",
        "region=europe-west1" => "eu",
        l => panic!("{l}"),
    }
}

/// SHOW BACKUP's `(backup_type, object_name, rows, file_bytes)` of movr.rides, layer by layer.
fn rides_rows(out: &[Output]) -> Vec<(String, String, String, Option<String>)> {
    let t = out[0].table().unwrap();
    let col = |n: &str| t.columns.iter().position(|c| c == n);
    let (ty, name, rows) = (
        col("backup_type").unwrap(),
        col("object_name").unwrap(),
        col("rows").unwrap(),
    );
    let fb = col("file_bytes");
    t.rows
        .iter()
        .filter(|r| r[name].as_deref() == Some("rides"))
        .map(|r| {
            (
                r[ty].clone().unwrap(),
                r[name].clone().unwrap(),
                r[rows].clone().unwrap(),
                fb.and_then(|i| r[i].clone()),
            )
        })
        .collect()
}

/// The problems of a `FilesMissing` error.
fn files_missing(e: &Error) -> Vec<vouch_engine::show::FileProblem> {
    let Error::Engine(inner) = e else {
        panic!("{e:?}")
    };
    assert_eq!(inner.kind(), vouch_engine::ErrorKind::FilesMissing, "{e}");
    let vouch_engine::Error::FilesMissing(p) = inner else {
        panic!("{e:?}")
    };
    p.clone()
}

/// As in RESTORE, a part of another backup where the layer's should be is an error, with
/// or without check_files.
#[test]
fn show_backup_refuses_a_part_of_another_backup() {
    let (d, c) = cluster();
    tick(&c);
    run(&c, &format!("BACKUP DATABASE movr INTO {LIST}"));
    tick(&c);
    run(&c, &format!("BACKUP DATABASE movr INTO {LIST}"));
    let b = fresh(&c, &d.path().join("b"));
    let west = b.extern_dir().join("west");
    let parts: Vec<String> = files(&west)
        .into_iter()
        .filter(|f| f.ends_with("BACKUP_PART_1_region=us-west1"))
        .collect();
    assert_eq!(parts.len(), 2, "{parts:?}");
    std::fs::copy(west.join(&parts[0]), west.join(&parts[1])).unwrap();
    for with in ["", " WITH check_files"] {
        let e = err(
            &b,
            &format!("SHOW BACKUP FROM LATEST IN ('nodelocal://1/east', 'nodelocal://1/west', 'nodelocal://1/eu'){with}"),
        );
        let Error::Engine(inner) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(
            inner.kind(),
            vouch_engine::ErrorKind::Read(vouch_chain::ErrorKind::LocalityPart),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with("expected backup part to have backup ID "),
            "{e}"
        );
    }
    // The first full backup, whose part is its own, shows.
    let subdir = manifests(&b.extern_dir().join("east"))[0].0.clone();
    run(
        &b,
        &format!("SHOW BACKUP '{subdir}' IN ('nodelocal://1/east', 'nodelocal://1/west', 'nodelocal://1/eu') WITH check_files"),
    );
}

#[test]
fn show_backup_check_files_looks_in_each_localitys_store() {
    use vouch_engine::show::{FileProblem, Problem};
    let (d, c) = cluster();
    chain_of_two(&c);
    let root = extern_dir(&c);
    let ms = manifests(&root.join("east"));
    assert_eq!(ms.len(), 2);
    // movr.rides's files (SHOW BACKUP's rule: a file whose span starts in the table's).
    let (ts, te) = keys::table_span(c.table("movr", "rides").unwrap().id);
    let in_rides = |f: &&pb::File| {
        f.span
            .as_ref()
            .is_some_and(|s| s.start >= ts && s.start < te)
    };
    // What each layer's files take on disk, each in its locality's store.
    let stored = |(dir, m): &(String, pb::BackupManifest)| -> u64 {
        m.files
            .iter()
            .filter(in_rides)
            .map(|f| {
                std::fs::metadata(root.join(store_of(&f.locality)).join(dir).join(&f.path))
                    .unwrap()
                    .len()
            })
            .sum()
    };
    let want: Vec<(String, String, String, Option<String>)> = ms
        .iter()
        .map(|l| {
            let rows: u64 = l.1.files.iter().filter(in_rides).map(|f| f.rows).sum();
            (
                if l.1.previous.is_some() {
                    "incremental"
                } else {
                    "full"
                }
                .to_string(),
                "rides".to_string(),
                rows.to_string(),
                Some(stored(l).to_string()),
            )
        })
        .collect();
    assert_eq!(want.len(), 2);
    // Every store, in another order than the BACKUP's: every file found, file_bytes is what
    // the stores hold (the localities' files included).
    let out = run(
        &c,
        "SHOW BACKUP FROM LATEST IN ('nodelocal://1/east', 'nodelocal://1/eu', 'nodelocal://1/west') WITH check_files",
    );
    assert_eq!(rides_rows(&out), want);
    // The FROM-less form CockroachDB also reads.
    let out = run(
        &c,
        "SHOW BACKUP LATEST IN ('nodelocal://1/east', 'nodelocal://1/west', 'nodelocal://1/eu') WITH check_files",
    );
    assert_eq!(rides_rows(&out), want);
    // Without check_files the manifests are enough: the default store alone shows them.
    let out = run(&c, "SHOW BACKUP FROM LATEST IN 'nodelocal://1/east'");
    assert_eq!(
        rides_rows(&out),
        want.iter()
            .map(|(a, b, c, _)| (a.clone(), b.clone(), c.clone(), None))
            .collect::<Vec<_>>()
    );

    // West and EU moved into one place, then the default alone with everything
    // consolidated: the same rows.
    let b = fresh(&c, &d.path().join("b"));
    let x = b.extern_dir();
    copy_tree(&x.join("west"), &x.join("moved"));
    copy_tree(&x.join("eu"), &x.join("moved"));
    let out = run(
        &b,
        "SHOW BACKUP FROM LATEST IN ('nodelocal://1/east', 'nodelocal://1/moved') WITH check_files",
    );
    assert_eq!(rides_rows(&out), want);
    copy_tree(&x.join("moved"), &x.join("east"));
    let out = run(
        &b,
        "SHOW BACKUP FROM LATEST IN 'nodelocal://1/east' WITH check_files",
    );
    assert_eq!(rides_rows(&out), want);

    // A locality no URI holds: each of its files of the first layer, named with the locality.
    let (full_dir, full) = &ms[0];
    let of = |locality: &str, problem: Problem| -> Vec<FileProblem> {
        full.files
            .iter()
            .filter(|f| f.locality == locality)
            .map(|f| FileProblem {
                file: format!("{full_dir}/{}", f.path),
                locality: locality.to_string(),
                problem,
            })
            .collect()
    };
    let e = err(
        &c,
        "SHOW BACKUP FROM LATEST IN ('nodelocal://1/east', 'nodelocal://1/west') WITH check_files",
    );
    let eu = of("region=europe-west1", Problem::NoStore);
    assert!(!eu.is_empty());
    assert_eq!(files_missing(&e), eu);
    assert!(
        e.to_string().starts_with(&format!(
            "The following files are missing or damaged in the backup: {full_dir}/{} (locality region=europe-west1: none of the URIs given holds its BACKUP_PART_<n>_region=europe-west1)",
            full.files.iter().find(|f| f.locality == "region=europe-west1").unwrap().path
        )),
        "{e}"
    );
    // The default store alone: both localities' files.
    let e = err(
        &c,
        "SHOW BACKUP FROM LATEST IN 'nodelocal://1/east' WITH check_files",
    );
    let mut both = of("region=us-west1", Problem::NoStore);
    both.extend(eu.iter().cloned());
    let mut got = files_missing(&e);
    got.sort_by(|a, b| {
        a.locality
            .cmp(&b.locality)
            .reverse()
            .then(a.file.cmp(&b.file))
    });
    both.sort_by(|a, b| {
        a.locality
            .cmp(&b.locality)
            .reverse()
            .then(a.file.cmp(&b.file))
    });
    assert_eq!(got, both);

    // A file missing from the us-west store, another truncated in the EU one: each named in
    // its store, with its locality.
    let west_file = full
        .files
        .iter()
        .find(|f| f.locality == "region=us-west1")
        .unwrap();
    let eu_file = full
        .files
        .iter()
        .find(|f| f.locality == "region=europe-west1")
        .unwrap();
    std::fs::remove_file(root.join("west").join(full_dir).join(&west_file.path)).unwrap();
    let eu_path = root.join("eu").join(full_dir).join(&eu_file.path);
    let bytes = std::fs::read(&eu_path).unwrap();
    std::fs::write(&eu_path, &bytes[..bytes.len() - 1]).unwrap();
    let e = err(
        &c,
        "SHOW BACKUP FROM LATEST IN ('nodelocal://1/east', 'nodelocal://1/west', 'nodelocal://1/eu') WITH check_files",
    );
    // In the manifest's order of files.
    let mut want = vec![
        (
            west_file,
            FileProblem {
                file: format!("nodelocal://1/west/{full_dir}/{}", west_file.path),
                locality: "region=us-west1".into(),
                problem: Problem::Missing,
            },
        ),
        (
            eu_file,
            FileProblem {
                file: format!("nodelocal://1/eu/{full_dir}/{}", eu_file.path),
                locality: "region=europe-west1".into(),
                problem: Problem::Size {
                    stored: eu_file.size - 1,
                    manifest: eu_file.size,
                },
            },
        ),
    ];
    want.sort_by_key(|(f, _)| full.files.iter().position(|g| g.path == f.path));
    assert_eq!(
        files_missing(&e),
        want.into_iter().map(|(_, p)| p).collect::<Vec<_>>()
    );
    let msg = e.to_string();
    assert!(
        msg.contains(&format!(
            "nodelocal://1/west/{full_dir}/{} (locality region=us-west1)",
            west_file.path
        )) && msg.contains(&format!(
            "nodelocal://1/eu/{full_dir}/{} (locality region=europe-west1, size {}, manifest says {})",
            eu_file.path,
            eu_file.size - 1,
            eu_file.size
        )),
        "{msg}"
    );
    // Without check_files nothing is looked for.
    run(
        &c,
        "SHOW BACKUP FROM LATEST IN ('nodelocal://1/east', 'nodelocal://1/west', 'nodelocal://1/eu')",
    );
}
