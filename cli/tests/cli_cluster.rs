//! `vouch cluster init | run | now | fingerprint` as a user runs them.

use std::path::Path;
use std::process::{Command, Output};

use vouch_format::mvcc::Timestamp;

fn vouch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(args)
        .output()
        .expect("running vouch")
}

/// Runs `vouch` and requires success; returns stdout.
fn ok(args: &[&str]) -> String {
    let out = vouch(args);
    assert!(
        out.status.success(),
        "vouch {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or_default()
}

fn fingerprint_json(dir: &str, as_of: Option<&str>) -> Vec<serde_json::Value> {
    let mut args = vec!["cluster", "fingerprint", dir, "--format", "json"];
    if let Some(ts) = as_of {
        args.extend(["--as-of", ts]);
    }
    serde_json::from_str(&ok(&args)).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn init_run_fingerprint() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("c");
    let dir = path(&dir);
    let out = ok(&[
        "cluster",
        "init",
        dir,
        "--workload",
        "bank",
        "--rows",
        "300",
    ]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("300 inserts"), "{out}");
    let after_init = last_line(&ok(&["cluster", "now", dir])).to_string();
    let init_fps = fingerprint_json(dir, None);

    let out = ok(&[
        "cluster",
        "run",
        dir,
        "--workload",
        "bank",
        "--ops",
        "100",
        "--seed",
        "4",
    ]);
    // The last line is labelled: `last write: <HLC>`.
    let last = last_line(&out).strip_prefix("last write: ").unwrap();
    let last_write: Timestamp = last.parse().unwrap();
    assert_eq!(last_write.to_string(), last);
    let now: Timestamp = last_line(&ok(&["cluster", "now", dir])).parse().unwrap();
    assert!(now > last_write, "{now} after {last_write}");
    assert!(last_write > after_init.parse().unwrap());

    let fps = fingerprint_json(dir, None);
    let keys: Vec<&str> = fps[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "database_name",
            "table_name",
            "index_name",
            "fingerprint",
            "table_id",
            "index_id",
            "entries"
        ]
    );
    let bank: Vec<&serde_json::Value> = fps.iter().filter(|f| f["table_name"] == "bank").collect();
    let names: Vec<&str> = bank
        .iter()
        .map(|f| f["index_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["bank_pkey"],
        "the first run adds a column, no index"
    );
    assert!(fps
        .iter()
        .any(|f| f["database_name"] == "system" && f["table_name"] == "users"));
    for f in &fps {
        f["fingerprint"].as_str().unwrap().parse::<i64>().unwrap();
    }
    // As of a time before the run: the init state; now: different.
    let before = fingerprint_json(dir, Some(&after_init));
    assert_eq!(before, init_fps);
    assert_ne!(before, fps);
    // As of the run's last write: the current state.
    assert_eq!(fingerprint_json(dir, Some(&last_write.to_string())), fps);

    // The table form: one row per index, the same fingerprints.
    let table = ok(&["cluster", "fingerprint", dir]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0],
        "  database_name | table_name | index_name |     fingerprint"
    );
    assert!(lines[1].starts_with("----------------+------------+------------+-"));
    assert_eq!(*lines.last().unwrap(), format!("({} rows)", fps.len()));
    assert_eq!(lines.len(), fps.len() + 3);
    for (line, f) in lines[2..].iter().zip(&fps) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        assert_eq!(
            cells,
            [
                f["database_name"].as_str().unwrap(),
                f["table_name"].as_str().unwrap(),
                f["index_name"].as_str().unwrap(),
                f["fingerprint"].as_str().unwrap(),
            ]
        );
    }
}

#[test]
fn same_seed_same_fingerprints_across_clusters() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    let b = d.path().join("b");
    for dir in [path(&a), path(&b)] {
        ok(&[
            "cluster",
            "init",
            dir,
            "--workload",
            "movr",
            "--rows",
            "60",
            "--seed",
            "9",
        ]);
        ok(&["cluster", "run", dir, "--workload", "movr", "--ops", "50"]);
    }
    let strip = |v: Vec<serde_json::Value>| -> Vec<(String, String, String, String, u64)> {
        v.iter()
            .map(|f| {
                (
                    f["database_name"].as_str().unwrap().to_string(),
                    f["table_name"].as_str().unwrap().to_string(),
                    f["index_name"].as_str().unwrap().to_string(),
                    f["fingerprint"].as_str().unwrap().to_string(),
                    f["entries"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let fa = strip(fingerprint_json(path(&a), None));
    assert_eq!(fa, strip(fingerprint_json(path(&b), None)));
    assert!(fa.iter().any(|f| f.2 == "rides_city_idx"));
}

#[test]
fn init_options_and_errors() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("c");
    let dir = path(&dir);
    ok(&[
        "cluster",
        "init",
        dir,
        "--workload",
        "bank",
        "--rows",
        "10",
        "--payload-bytes",
        "1024",
    ]);
    assert!(
        std::fs::metadata(d.path().join("c/cluster.redb"))
            .unwrap()
            .len()
            > 10 * 1024
    );
    // A second init, an unknown workload, a missing cluster, a bad time: exit 2 with a message.
    for args in [
        vec!["cluster", "init", dir, "--workload", "bank"],
        vec!["cluster", "init", dir, "--workload", "tpcc"],
        vec![
            "cluster",
            "run",
            path(&d.path().join("missing")),
            "--workload",
            "bank",
            "--ops",
            "1",
        ],
        vec!["cluster", "run", dir, "--workload", "movr", "--ops", "1"],
        vec!["cluster", "fingerprint", dir, "--as-of", "yesterday"],
    ] {
        let out = vouch(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
    // Zero ops: the timestamp printed is the cluster's last write.
    let t1: Timestamp = last_line(&ok(&[
        "cluster",
        "run",
        dir,
        "--workload",
        "bank",
        "--ops",
        "0",
    ]))
    .strip_prefix("last write: ")
    .unwrap()
    .parse()
    .unwrap();
    let now: Timestamp = last_line(&ok(&["cluster", "now", dir])).parse().unwrap();
    assert!(t1 < now);
}

#[test]
fn nodes_given_at_init_and_listed() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    ok(&["cluster", "init", path(&a)]);
    let demo = ok(&["cluster", "nodes", path(&a)]);
    assert_eq!(
        demo,
        " node_id |         locality\n\
         ---------+--------------------------\n\
         \x20 1       | region=us-east1,az=b\n\
         \x20 2       | region=us-east1,az=c\n\
         \x20 3       | region=us-east1,az=d\n\
         \x20 4       | region=us-west1,az=a\n\
         \x20 5       | region=us-west1,az=b\n\
         \x20 6       | region=us-west1,az=c\n\
         \x20 7       | region=europe-west1,az=b\n\
         \x20 8       | region=europe-west1,az=c\n\
         \x20 9       | region=europe-west1,az=d\n\
         (9 rows)\n"
            .replace("\n  ", "\n ")
    );
    let b = d.path().join("b");
    ok(&[
        "cluster",
        "init",
        path(&b),
        "--nodes",
        "region=us-west1,zone=us-west1-a:region=us-east1,zone=us-east1-b",
    ]);
    assert_eq!(
        ok(&["cluster", "nodes", path(&b)]),
        " node_id |            locality\n\
         ---------+---------------------------------\n\
         \x20 1       | region=us-west1,zone=us-west1-a\n\
         \x20 2       | region=us-east1,zone=us-east1-b\n\
         (2 rows)\n"
            .replace("\n  ", "\n ")
    );
    let c = d.path().join("c");
    ok(&["cluster", "init", path(&c), "--nodes", "4"]);
    let four = ok(&["cluster", "nodes", path(&c)]);
    assert!(four.ends_with("region=us-west1,az=a\n(4 rows)\n"), "{four}");
    // A tier not in key=value form, or no node: exit 2, no cluster created.
    for (n, bad) in [("x", "region"), ("y", "0"), ("z", "region=a::region=b")] {
        let dir = d.path().join(n);
        let out = vouch(&["cluster", "init", path(&dir), "--nodes", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(!dir.join("cluster.redb").exists(), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(err.contains("--nodes"), "{err}");
    }
}

#[test]
fn backup_into_a_list_of_locality_uris() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    ok(&["cluster", "init", path(&c)]);
    ok(&[
        "sql",
        "--cluster",
        path(&c),
        "-e",
        "CREATE DATABASE movr;
         CREATE TABLE movr.rides (city STRING NOT NULL, id INT NOT NULL, PRIMARY KEY (city, id))
           PARTITION BY LIST (city) (PARTITION us_west VALUES IN ('seattle'));
         INSERT INTO movr.rides VALUES ('seattle', 1), ('boston', 2);
         ALTER RANGE default CONFIGURE ZONE USING constraints = '[+region=us-east1]';
         ALTER PARTITION us_west OF INDEX movr.rides@primary CONFIGURE ZONE USING constraints = '[+region=us-west1]'",
    ]);
    ok(&[
        "backup",
        "--cluster",
        path(&c),
        "DATABASE",
        "movr",
        "INTO",
        "nodelocal://1/east?COCKROACH_LOCALITY=default",
        "nodelocal://1/west?COCKROACH_LOCALITY=region%3Dus-west1",
    ]);
    let west = c.join("extern/west");
    let mut found = Vec::new();
    for e in walk(&west) {
        found.push(
            e.strip_prefix(&west)
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        );
    }
    found.sort();
    // One full backup directory holding the seattle range's file and the part file.
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].ends_with("/BACKUP_PART_1_region=us-west1"),
        "{found:?}"
    );
    assert!(found[1].contains("/data/"), "{found:?}");
    // A bad list: exit 2 with CockroachDB's message.
    let out = vouch(&[
        "backup",
        "--cluster",
        path(&c),
        "DATABASE",
        "movr",
        "INTO",
        "nodelocal://1/a?COCKROACH_LOCALITY=default",
        "nodelocal://1/b",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(
        "multiple URLs are provided for partitioned BACKUP, but COCKROACH_LOCALITY is not specified"
    ));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn verify_a_locality_aware_collection_from_its_list() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    ok(&["cluster", "init", path(&c)]);
    ok(&[
        "sql",
        "--cluster",
        path(&c),
        "-e",
        "CREATE DATABASE movr;
         CREATE TABLE movr.rides (city STRING NOT NULL, id INT NOT NULL, PRIMARY KEY (city, id))
           PARTITION BY LIST (city) (PARTITION us_west VALUES IN ('seattle'), PARTITION eu VALUES IN ('rome'));
         INSERT INTO movr.rides VALUES ('seattle', 1), ('boston', 2), ('rome', 3);
         ALTER RANGE default CONFIGURE ZONE USING constraints = '[+region=us-east1]';
         ALTER PARTITION us_west OF INDEX movr.rides@primary CONFIGURE ZONE USING constraints = '[+region=us-west1]';
         ALTER PARTITION eu OF INDEX movr.rides@primary CONFIGURE ZONE USING constraints = '[+region=europe-west1]'",
    ]);
    let list = [
        "nodelocal://1/east?COCKROACH_LOCALITY=default",
        "nodelocal://1/west?COCKROACH_LOCALITY=region%3Dus-west1",
        "nodelocal://1/eu?COCKROACH_LOCALITY=region%3Deurope-west1",
    ];
    let mut args = vec!["backup", "--cluster", path(&c), "DATABASE", "movr", "INTO"];
    args.extend(list);
    ok(&args);
    let verify = |uris: &[&str]| {
        let mut a = vec![
            "verify",
            "--cluster",
            path(&c),
            "--level",
            "full",
            "--format",
            "json",
            "IN",
        ];
        a.extend(uris);
        let out = vouch(&a);
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), j)
    };
    // Every store given, in another order: clean, every file read.
    let (code, j) = verify(&[
        "nodelocal://1/east",
        "nodelocal://1/eu",
        "nodelocal://1/west",
    ]);
    assert_eq!(code, Some(0), "{j}");
    let kinds = |j: &serde_json::Value| -> Vec<(String, String, String)> {
        j["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["kind"].as_str().unwrap().to_string(),
                    f["file"].as_str().unwrap().to_string(),
                    f["message"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert!(kinds(&j).is_empty());
    // The default store alone: one finding per absent locality, naming it and its files.
    let (code, j) = verify(&["nodelocal://1/east"]);
    assert_eq!(code, Some(1));
    let f = kinds(&j);
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(f.iter().all(|(k, _, _)| k == "locality_missing"));
    assert!(
        f[0].2.contains("locality region=us-west1 ") && f[0].2.contains("data/"),
        "{f:?}"
    );
    assert!(f[1].2.contains("locality region=europe-west1 "), "{f:?}");
    // A part of another backup in the us-west store: a mismatch naming the part.
    ok(&[
        "sql",
        "--cluster",
        path(&c),
        "-e",
        "INSERT INTO movr.rides VALUES ('seattle', 9)",
    ]);
    let mut args = vec!["backup", "--cluster", path(&c), "DATABASE", "movr", "INTO"];
    args.extend(list);
    ok(&args);
    let west = c.join("extern/west");
    let mut parts: Vec<std::path::PathBuf> = walk(&west)
        .into_iter()
        .filter(|p| {
            p.to_string_lossy()
                .ends_with("BACKUP_PART_1_region=us-west1")
        })
        .collect();
    parts.sort();
    assert_eq!(parts.len(), 2);
    std::fs::copy(&parts[0], &parts[1]).unwrap();
    let (code, j) = verify(&[
        "nodelocal://1/east",
        "nodelocal://1/west",
        "nodelocal://1/eu",
    ]);
    assert_eq!(code, Some(1));
    let f = kinds(&j);
    assert!(
        f.iter().any(|(k, file, m)| k == "locality_part_mismatch"
            && file.ends_with("BACKUP_PART_1_region=us-west1")
            && m.contains("belongs to backup")),
        "{f:?}"
    );
}

#[test]
fn show_backup_from_a_locality_list_with_check_files() {
    use vouch_format::manifest;
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    let cl = path(&c);
    ok(&["cluster", "init", cl]);
    ok(&[
        "sql",
        "--cluster",
        cl,
        "-e",
        "CREATE DATABASE movr;
         CREATE TABLE movr.rides (city STRING NOT NULL, id INT NOT NULL, PRIMARY KEY (city, id))
           PARTITION BY LIST (city) (PARTITION us_west VALUES IN ('seattle'), PARTITION eu VALUES IN ('rome'));
         INSERT INTO movr.rides VALUES ('seattle', 1), ('boston', 2), ('rome', 3);
         ALTER RANGE default CONFIGURE ZONE USING constraints = '[+region=us-east1]';
         ALTER PARTITION us_west OF INDEX movr.rides@primary CONFIGURE ZONE USING constraints = '[+region=us-west1]';
         ALTER PARTITION eu OF INDEX movr.rides@primary CONFIGURE ZONE USING constraints = '[+region=europe-west1]'",
    ]);
    ok(&[
        "backup",
        "--cluster",
        cl,
        "DATABASE",
        "movr",
        "INTO",
        "nodelocal://1/east?COCKROACH_LOCALITY=default",
        "nodelocal://1/west?COCKROACH_LOCALITY=region%3Dus-west1",
        "nodelocal://1/eu?COCKROACH_LOCALITY=region%3Deurope-west1",
    ]);
    let ext = c.join("extern");
    let mpath = walk(&ext.join("east"))
        .into_iter()
        .find(|p| p.ends_with("BACKUP_MANIFEST"))
        .unwrap();
    let m = manifest::decode(&std::fs::read(&mpath).unwrap()).unwrap();
    let dir = mpath
        .parent()
        .unwrap()
        .strip_prefix(ext.join("east"))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let store = |locality: &str| match locality {
        "" => "east",
        "region=us-west1" => "west",
        "region=europe-west1" => "eu",
        l => panic!("{l}"),
    };
    assert_eq!(m.localities, ["region=us-west1", "region=europe-west1"]);
    // movr.rides's files (their spans start in its table span, the us-west file's table):
    // what they take on disk, each in its locality's store.
    let start = |f: &manifest::pb::File| f.span.as_ref().unwrap().start.clone();
    let west_start = m
        .files
        .iter()
        .find(|f| f.locality == "region=us-west1")
        .map(start)
        .unwrap();
    let (rides_id, _, _) = vouch_format::keys::decode_table_prefix(&west_start).unwrap();
    let (ts, te) = vouch_format::keys::table_span(rides_id);
    let on_disk: u64 = m
        .files
        .iter()
        .filter(|f| start(f) >= ts && start(f) < te)
        .map(|f| {
            std::fs::metadata(ext.join(store(&f.locality)).join(&dir).join(&f.path))
                .unwrap()
                .len()
        })
        .sum();
    let show = |words: &[&str]| {
        let mut a = vec!["show"];
        a.extend(words);
        a.extend(["--cluster", cl, "--format", "json"]);
        vouch(&a)
    };
    // (rows, file_bytes) of movr.rides.
    let rides = |out: &Output| -> (String, String) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let r = j
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["object_name"] == "rides")
            .unwrap();
        (r["rows"].to_string(), r["file_bytes"].to_string())
    };
    // Every store, in another order, WITH check_files after the list (AS/WITH end it).
    let out = show(&[
        "backup",
        "LATEST",
        "IN",
        "nodelocal://1/east",
        "nodelocal://1/eu",
        "nodelocal://1/west",
        "WITH",
        "check_files",
    ]);
    assert_eq!(rides(&out), ("3".to_string(), on_disk.to_string()));
    // The same with FROM and the flag.
    let out = show(&[
        "backup",
        "FROM",
        "LATEST",
        "IN",
        "nodelocal://1/east",
        "nodelocal://1/west",
        "nodelocal://1/eu",
        "--check-files",
    ]);
    assert_eq!(rides(&out), ("3".to_string(), on_disk.to_string()));
    // SHOW BACKUPS from the list: the default store's one full backup.
    let out = show(&["backups", "IN", "nodelocal://1/east", "nodelocal://1/west"]);
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j.as_array().unwrap().len(), 1, "{j}");
    // Without check_files the default store alone is enough (manifests only).
    let out = show(&["backup", "LATEST", "IN", "nodelocal://1/east"]);
    assert_eq!(rides(&out).0, "3");

    let fails = |out: &Output| -> String {
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let file_of = |locality: &str| {
        m.files
            .iter()
            .find(|f| f.locality == locality)
            .unwrap()
            .path
            .clone()
    };
    // The EU store not given: each EU file named, with its locality, and nothing else.
    let err = fails(&show(&[
        "backup",
        "LATEST",
        "IN",
        "nodelocal://1/east",
        "nodelocal://1/west",
        "WITH",
        "check_files",
    ]));
    assert_eq!(
        err,
        format!(
            "error: The following files are missing or damaged in the backup: {dir}/{} (locality region=europe-west1: none of the URIs given holds its BACKUP_PART_<n>_region=europe-west1)\n",
            file_of("region=europe-west1")
        )
    );
    // A file missing from the us-west store: named in that store, with its locality.
    let west = file_of("region=us-west1");
    std::fs::remove_file(ext.join("west").join(&dir).join(&west)).unwrap();
    let err = fails(&show(&[
        "backup",
        "LATEST",
        "IN",
        "nodelocal://1/east",
        "nodelocal://1/west",
        "nodelocal://1/eu",
        "WITH",
        "check_files",
    ]));
    assert_eq!(
        err,
        format!(
            "error: The following files are missing or damaged in the backup: nodelocal://1/west/{dir}/{west} (locality region=us-west1)\n"
        )
    );
    // AS OF SYSTEM TIME after the list is no URI: refused as a flag, before anything is read.
    let err = fails(&show(&[
        "backup",
        "LATEST",
        "IN",
        "nodelocal://1/east",
        "nodelocal://1/west",
        "AS",
        "OF",
        "SYSTEM",
        "TIME",
        "2026-01-01",
    ]));
    assert!(
        err.starts_with("error: AS OF SYSTEM TIME is not part of the words on the command line"),
        "{err}"
    );
    // WITH options that take a value are flags.
    let err = fails(&show(&[
        "backup",
        "LATEST",
        "IN",
        "nodelocal://1/east",
        "WITH",
        "kms",
    ]));
    assert!(
        err.starts_with("error: option \"kms\" is not valid for the words of `vouch show backup`"),
        "{err}"
    );
}

#[test]
fn geo_partitioned_movr_backs_up_each_partition_into_its_regions_store() {
    use vouch_cluster::{Clock, Cluster, ZoneTarget};
    use vouch_format::manifest;
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    let cl = path(&c);
    let out = ok(&[
        "cluster",
        "init",
        cl,
        "--workload",
        "movr",
        "--rows",
        "200",
        "--geo-partitioned",
    ]);
    assert!(out.contains(": 500 inserts, "), "{out}");
    // Each partition of each table has its zone configuration.
    let out = ok(&[
        "sql",
        "--cluster",
        cl,
        "-e",
        "SHOW ZONE CONFIGURATION FOR PARTITION us_west OF INDEX movr.rides@primary",
    ]);
    assert!(
        out.contains(
            "ALTER PARTITION us_west OF INDEX movr.public.rides@rides_pkey CONFIGURE ZONE USING \
         gc.ttlseconds = 14400, num_replicas = 3, constraints = '[+region=us-west1]'"
        ),
        "{out}"
    );
    let zones = ok(&["sql", "--cluster", cl, "-e", "SHOW ZONE CONFIGURATIONS"]);
    assert!(zones.ends_with("(10 rows)\n"), "{zones}");
    for table in ["users", "vehicles", "rides"] {
        for (part, region) in [
            ("us_west", "us-west1"),
            ("us_east", "us-east1"),
            ("europe_west", "europe-west1"),
        ] {
            let want = format!(
                "ALTER PARTITION {part} OF INDEX movr.public.{table}@{table}_pkey CONFIGURE ZONE \
                 USING gc.ttlseconds = 14400, num_replicas = 3, constraints = '[+region={region}]'"
            );
            assert!(zones.contains(&want), "{want}\n{zones}");
        }
    }
    // Runs keep working on the partitioned tables.
    let out = ok(&["cluster", "run", cl, "--workload", "movr", "--ops", "100"]);
    assert!(last_line(&out).starts_with("last write: "), "{out}");
    // Everything outside the partitions is led in us-east1 (the default store's).
    ok(&[
        "sql",
        "--cluster",
        cl,
        "-e",
        "ALTER RANGE default CONFIGURE ZONE USING constraints = '[+region=us-east1]'",
    ]);
    let store = |n: &str| format!("file://{}", d.path().join(n).display());
    let (east, west, eu) = (store("east"), store("west"), store("eu"));
    ok(&[
        "backup",
        "--cluster",
        cl,
        "INTO",
        &format!("{east}?COCKROACH_LOCALITY=default"),
        &format!("{west}?COCKROACH_LOCALITY=region%3Dus-west1"),
        &format!("{eu}?COCKROACH_LOCALITY=region%3Deurope-west1"),
    ]);
    let mpath = walk(&d.path().join("east"))
        .into_iter()
        .find(|p| p.ends_with("BACKUP_MANIFEST"))
        .unwrap();
    let m = manifest::decode(&std::fs::read(&mpath).unwrap()).unwrap();
    let dir = mpath
        .parent()
        .unwrap()
        .strip_prefix(d.path().join("east"))
        .unwrap()
        .to_path_buf();
    // Each file's locality is its range's: a us_west partition's files (and only those) in
    // us-west1, europe_west's in europe-west1, the rest in the default store.
    let src = Cluster::open(&c, Clock::system()).unwrap();
    let ranges = src.ranges(src.now()).unwrap();
    drop(src);
    // The locality a range's files take: its partition's region, else the default store.
    let locality_of = |r: &vouch_cluster::Range| match &r.zone {
        ZoneTarget::Partition(_, _, p) if p == "us_west" => "region=us-west1",
        ZoneTarget::Partition(_, _, p) if p == "europe_west" => "region=europe-west1",
        _ => "",
    };
    let mut led = std::collections::BTreeMap::<&str, std::collections::BTreeSet<_>>::new();
    for f in &m.files {
        let span = f.span.as_ref().unwrap();
        // A file may cover several ranges of one locality, never ranges of two.
        let mut overlapped = 0;
        for (i, r) in ranges.iter().enumerate() {
            if r.start < span.end && span.start < r.end {
                overlapped += 1;
                assert_eq!(f.locality, locality_of(r), "{}", f.path);
                if !f.locality.is_empty() {
                    led.entry(locality_of(r)).or_default().insert(i);
                }
            }
        }
        assert!(overlapped > 0 || f.locality.is_empty(), "{}", f.path);
    }
    // Every us_west and europe_west range (3 tables × 3 cities each) has its files there.
    for (locality, part) in [
        ("region=us-west1", "us_west"),
        ("region=europe-west1", "europe_west"),
    ] {
        let all: std::collections::BTreeSet<usize> = ranges
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(&r.zone, ZoneTarget::Partition(_, _, p) if p == part))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(all.len(), 9, "{part}");
        assert_eq!(led.get(locality), Some(&all), "{part}");
    }
    // On disk: the us-west store holds exactly the us_west files and its part file.
    let on_disk = |n: &str| -> Vec<String> {
        let root = d.path().join(n).join(&dir);
        let mut v: Vec<String> = walk(&root)
            .iter()
            .map(|p| {
                p.strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        v.sort();
        v
    };
    let listed = |locality: &str, part: &str| -> Vec<String> {
        let mut v: Vec<String> = m
            .files
            .iter()
            .filter(|f| f.locality == locality)
            .map(|f| f.path.clone())
            .chain([part.to_string()])
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        on_disk("west"),
        listed("region=us-west1", "BACKUP_PART_1_region=us-west1")
    );
    assert_eq!(
        on_disk("eu"),
        listed("region=europe-west1", "BACKUP_PART_2_region=europe-west1")
    );
    // A restore from the list gives the source's fingerprints and zone configurations.
    let r = d.path().join("r");
    ok(&[
        "restore",
        "--cluster",
        path(&r),
        "FROM",
        "LATEST",
        "IN",
        &east,
        &west,
        &eu,
    ]);
    let movr = |dir: &str| -> Vec<(String, String, String, String)> {
        fingerprint_json(dir, None)
            .iter()
            .filter(|f| f["database_name"] == "movr")
            .map(|f| {
                (
                    f["table_name"].to_string(),
                    f["index_name"].to_string(),
                    f["fingerprint"].to_string(),
                    f["entries"].to_string(),
                )
            })
            .collect()
    };
    let want = movr(cl);
    assert_eq!(want.len(), 7, "{want:?}");
    assert_eq!(movr(path(&r)), want);
    let zones_now = ok(&["sql", "--cluster", cl, "-e", "SHOW ZONE CONFIGURATIONS"]);
    assert!(
        zones_now.contains("constraints = '[+region=us-east1]'"),
        "{zones_now}"
    );
    assert_eq!(
        ok(&[
            "sql",
            "--cluster",
            path(&r),
            "-e",
            "SHOW ZONE CONFIGURATIONS"
        ]),
        zones_now
    );
}

#[test]
fn geo_partitioned_needs_movr() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    for args in [
        vec!["cluster", "init", path(&c), "--geo-partitioned"],
        vec![
            "cluster",
            "init",
            path(&c),
            "--workload",
            "bank",
            "--geo-partitioned",
        ],
    ] {
        let out = vouch(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            err.contains("--geo-partitioned needs --workload movr"),
            "{err}"
        );
        assert!(!c.join("cluster.redb").exists(), "{args:?}");
    }
}
