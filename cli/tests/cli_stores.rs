//! One scenario on every store: a full backup and an incremental of the same cluster at
//! the same times go into a local collection, into an S3 collection on each of two
//! independent S3 servers (moto's and s3s-fs, `scripts/s3-server.sh`), into a GCS
//! collection on fake-gcs-server (`scripts/gcs-server.sh`), into an Azure collection on
//! Azurite (`scripts/azure-server.sh`) and into an HTTP collection on a WebDAV server
//! (`scripts/http-server.sh`); on each, `show backups`, `show backup --check-files`,
//! `verify` at every level, `restore` (fingerprints equal the source's) and `dump` run
//! through the `vouch` binary. The local store is the oracle: every answer, and every
//! stored object but the per-run ones, is the same on every server. `vouch sql` takes
//! s3://, gs://, azure:// and http:// too.
//!
//! A collection made on a local disk and uploaded to the GCS emulator's bucket by another
//! tool (its upload API, object by object) is read like one vouch wrote there: every
//! reader (`show`, `verify` at every level, `restore`, `dump`, `vouch sql`'s SHOW BACKUP
//! and RESTORE) gives the local collection's answers, damaged data included, and vouch
//! appends to it.

mod common;

use std::path::{Path, PathBuf};

use common::{ok, text, vouch};
use vouch_store::{open, redact_uri, OpenOptions};
use vouch_testkit::servers::{
    gcs_upload, gcs_upload_dir, put_folder_marker, unique_prefix, uri_on, Server, S3_BUCKET,
    SERVERS,
};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Backend {
    Local,
    Object(Server),
}

/// A new, empty collection on `backend`.
fn collection(backend: Backend, dir: &Path) -> String {
    match backend {
        Backend::Local => format!("file://{}", s(&dir.join("local-collection"))),
        Backend::Object(server) => uri_on(server, &unique_prefix("cli-stores")),
    }
}

/// `vouch verify --level full --format json` with `args` (the collection and its
/// options) succeeds with no error, warning or finding; returns the report.
fn full_verify_is_clean(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["verify", "--level", "full", "--format", "json"];
    all.extend_from_slice(args);
    let (out, _) = run(&all);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (j["errors"].as_u64(), j["warnings"].as_u64()),
        (Some(0), Some(0)),
        "{out}"
    );
    assert_eq!(j["findings"].as_array().map(Vec::len), Some(0), "{out}");
    j
}

/// Every store the scenario suites run on: the local directory and each test server.
const EVERY_STORE: [Backend; 6] = [
    Backend::Local,
    Backend::Object(Server::Moto),
    Backend::Object(Server::S3sFs),
    Backend::Object(Server::Azurite),
    Backend::Object(Server::WsgiDav),
    Backend::Object(Server::FakeGcs),
];

/// `vouch cluster init <dir> --workload <workload> --rows <rows>`.
fn init_cluster(dir: &Path, workload: &str, rows: &str) {
    run(&[
        "cluster",
        "init",
        s(dir),
        "--workload",
        workload,
        "--rows",
        rows,
    ]);
}

/// What the URI is shown as: without its query.
fn shown(uri: &str) -> &str {
    uri.split('?').next().unwrap()
}

/// No text holds a test server's secret, raw or encoded.
fn no_secret(what: &str, t: &str) {
    for secret in SERVERS.iter().flat_map(|s| s.secrets()) {
        assert!(!t.contains(secret), "{what} printed the secret:\n{t}");
    }
}

/// Runs `vouch`, requires success, and checks that neither stream holds the secret.
fn run(args: &[&str]) -> (String, String) {
    let (out, err) = ok(args);
    for t in [&out, &err] {
        no_secret(&format!("{args:?}"), t);
    }
    (out, err)
}

/// `vouch cluster fingerprint` rows of database `db` (without the database column).
fn fingerprints(cluster: &Path, db: &str, as_of: Option<&str>) -> Vec<String> {
    let mut args = vec!["cluster", "fingerprint", s(cluster)];
    if let Some(t) = as_of {
        args.extend(["--as-of", t]);
    }
    let (out, _) = run(&args);
    let rows: Vec<String> = out
        .lines()
        .filter(|l| l.split('|').next().map(str::trim) == Some(db))
        .map(|l| l.split('|').skip(1).collect::<Vec<_>>().join("|"))
        .collect();
    assert!(!rows.is_empty(), "no fingerprints of {db} in\n{out}");
    rows
}

/// Every answer the read side gives about the collection at `uri`, with the URI
/// replaced by `<uri>` so that stores can be compared.
fn read_side(uri: &str, src: &Path, dir: &Path, t2: &str, name: &str) -> Vec<String> {
    let mut answers = Vec::new();
    let mut keep = |what: &str, text: String| {
        let text = text
            .replace(&redact_uri(uri), "<uri>")
            .replace(shown(uri), "<uri>");
        answers.push(format!("{what}:\n{text}"));
    };

    let (out, _) = run(&["show", "backups", "IN", uri, "--format", "json"]);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j.as_array().unwrap().len(), 1, "{out}");
    keep("show backups", out);

    let (out, _) = run(&[
        "show",
        "backup",
        "FROM",
        "LATEST",
        "IN",
        uri,
        "--check-files",
        "--format",
        "json",
    ]);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let bank: Vec<_> = j
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["object_name"] == "bank" && r["object_type"] == "table")
        .collect();
    assert_eq!(bank.len(), 2, "one row per layer: {out}");
    keep("show backup", out);

    for level in ["metadata", "schema", "full"] {
        let (out, _) = run(&[
            "verify", "IN", uri, "--level", level, "--format", "json", "--jobs", "2",
        ]);
        let j: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(j["errors"], 0, "{level}: {out}");
        assert_eq!(j["warnings"], 0, "{level}: {out}");
        assert_eq!(j["chains"].as_array().unwrap().len(), 1, "{out}");
        assert_eq!(
            j["chains"][0]["layers"].as_array().unwrap().len(),
            2,
            "{out}"
        );
        // Timings differ from run to run, and manifests record the statement, which
        // names the (longer) URI, so the bytes read differ too.
        let mut j = j;
        j.as_object_mut().unwrap().remove("duration_seconds");
        j.as_object_mut().unwrap().remove("bytes_read");
        keep(&format!("verify {level}"), j.to_string());
    }
    let (out, _) = run(&["verify", "IN", uri, "--level", "full"]);
    assert!(out.contains("OK: 0 error(s), 0 warning(s)"), "{out}");

    let dst = dir.join(format!("restored-{name}"));
    let (out, err) = run(&[
        "restore",
        "--cluster",
        s(&dst),
        "DATABASE",
        "bank",
        "FROM",
        "LATEST",
        "IN",
        uri,
    ]);
    assert!(out.contains("| succeeded |"), "{out}");
    assert!(!err.contains(" 0 index fingerprints checked"), "{err}");
    assert_eq!(
        fingerprints(&dst, "bank", None),
        fingerprints(src, "bank", Some(t2))
    );

    let (out, _) = run(&["dump", "FROM", "LATEST", "IN", uri, "--cluster", s(src)]);
    assert!(out.contains("CREATE TABLE"), "{out}");
    keep("dump", out);
    answers
}

/// Every stored object: path, size, and the bytes of data files (manifests, checkpoints
/// and locks hold per-run ids and times).
fn objects(uri: &str, src: &Path) -> Vec<(String, u64, Option<Vec<u8>>)> {
    let store = open(
        uri,
        &OpenOptions {
            nodelocal_root: Some(src.join("extern")),
            ..Default::default()
        },
    )
    .unwrap();
    store
        .list("")
        .unwrap()
        .into_iter()
        .map(|o| {
            let bytes = o
                .path
                .ends_with(".sst")
                .then(|| store.get(&o.path).unwrap());
            (o.path, o.size, bytes)
        })
        .collect()
}

#[test]
fn one_scenario_gives_the_same_answers_on_every_store() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    init_cluster(&src, "bank", "200");
    let (t1, _) = run(&["cluster", "now", s(&src)]);
    run(&[
        "cluster",
        "run",
        s(&src),
        "--workload",
        "bank",
        "--ops",
        "50",
    ]);
    let (t2, _) = run(&["cluster", "now", s(&src)]);
    let (t1, t2) = (t1.trim().to_string(), t2.trim().to_string());

    let backends = EVERY_STORE;
    let uris: Vec<String> = backends.iter().map(|&b| collection(b, d.path())).collect();
    for uri in &uris {
        let (_, err) = run(&[
            "backup",
            "--cluster",
            s(&src),
            "INTO",
            uri,
            "--revision-history",
            "--as-of",
            &t1,
        ]);
        assert!(
            err.contains(&format!("full backup written to {}/", shown(uri))),
            "{err}"
        );
        let (out, err) = run(&[
            "backup",
            "--cluster",
            s(&src),
            "INTO",
            "LATEST",
            "IN",
            uri,
            "--revision-history",
            "--as-of",
            &t2,
        ]);
        assert!(out.contains("| succeeded |"), "{out}");
        assert!(err.contains("incremental backup written to"), "{err}");
    }

    // Folder markers a copy tool or console leaves in the moto collection (the root's and
    // its folders') change no answer: no stray_object, the same objects.
    let moto = uris[1]
        .strip_prefix(&format!("s3://{S3_BUCKET}/"))
        .and_then(|r| r.split('?').next())
        .unwrap();
    for folder in ["", "2026/", "incrementals/", "metadata/"] {
        put_folder_marker(&format!("{moto}/{folder}"));
    }

    let answers: Vec<Vec<String>> = uris
        .iter()
        .zip(backends)
        .map(|(uri, b)| read_side(uri, &src, d.path(), &t2, &format!("{b:?}")))
        .collect();
    for (b, other) in backends.iter().zip(&answers).skip(1) {
        for (i, (a, o)) in answers[0].iter().zip(other).enumerate() {
            assert_eq!(a, o, "answer {i} differs between the local store and {b:?}");
        }
        assert_eq!(answers[0].len(), other.len());
    }

    let local = objects(&uris[0], &src);
    for (b, uri) in backends.iter().zip(&uris).skip(1) {
        let remote = objects(uri, &src);
        same_objects(&local, &remote, *b);
    }
}

/// A backup stopped by a fault resumes on every store. A test build's `VOUCH_FAULT` stops
/// the process where a kill -9 could (after its second data file, before its manifest,
/// before its LATEST marker), exit code 2 and nothing cleaned up; the same command run
/// again finishes the same backup: the data files written before the stop are kept, byte
/// for byte and under their names, beside the rest; the collection then holds one backup,
/// verifies clean at the full level, and restores the source's fingerprints.
#[test]
fn a_stopped_backup_resumes_on_every_store() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    init_cluster(&src, "bank", "2000");
    let want = fingerprints(&src, "bank", None);
    let data_files = |uri: &str| -> Vec<(String, Vec<u8>)> {
        let store = open(uri, &OpenOptions::default()).unwrap();
        store
            .list("")
            .unwrap()
            .into_iter()
            .filter(|o| o.path.contains("/data/") && o.path.ends_with(".sst"))
            .map(|o| {
                let bytes = store.get(&o.path).unwrap();
                (o.path, bytes)
            })
            .collect()
    };
    let backends = EVERY_STORE;
    for (i, backend) in backends.into_iter().enumerate() {
        for (j, fault) in ["after-files:2", "before-manifest", "before-latest"]
            .into_iter()
            .enumerate()
        {
            let uri = collection(backend, &d.path().join(format!("c{i}-{j}")));
            let args = [
                "backup",
                "--cluster",
                s(&src),
                "INTO",
                &uri,
                "--target-file-size",
                "16384",
            ];
            let out = std::process::Command::new(common::vouch_bin())
                .args(args)
                .env("VOUCH_FAULT", fault)
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            let what = format!("{backend:?} {fault}");
            assert_eq!(out.status.code(), Some(2), "{what}: {}", text(&out.stderr));
            no_secret(&what, &text(&out.stderr));
            let before = data_files(&uri);
            assert!(before.len() >= 2, "{what}: {} data files", before.len());
            run(&args);
            let after = data_files(&uri);
            for f in &before {
                assert!(after.contains(f), "{what}: {} was rewritten or lost", f.0);
            }
            let (out, _) = run(&["show", "backups", "IN", &uri]);
            assert!(out.ends_with("(1 row)\n"), "{what}: {out}");
            let report = full_verify_is_clean(&["IN", &uri]);
            assert_eq!(
                report["chains"][0]["layers"].as_array().map(Vec::len),
                Some(1),
                "{what}"
            );
            let dst = d.path().join(format!("r{i}-{j}"));
            run(&[
                "restore",
                "--cluster",
                s(&dst),
                "FROM",
                "LATEST",
                "IN",
                &uri,
            ]);
            assert_eq!(fingerprints(&dst, "bank", None), want, "{what}");
        }
    }
}

/// The same objects (lock names aside) and the same data files, byte for byte.
fn same_objects(
    local: &[(String, u64, Option<Vec<u8>>)],
    remote: &[(String, u64, Option<Vec<u8>>)],
    b: Backend,
) {
    // Lock names carry the run's job id.
    let names = |v: &[(String, u64, Option<Vec<u8>>)]| -> Vec<String> {
        v.iter()
            .map(|o| match o.0.split_once("BACKUP-LOCK-") {
                Some((dir, _)) => format!("{dir}BACKUP-LOCK-<job id>"),
                None => o.0.clone(),
            })
            .collect()
    };
    assert_eq!(names(local), names(remote), "{b:?}");
    for (l, r) in local.iter().zip(remote) {
        if l.2.is_some() {
            assert_eq!(l, r, "data file {} differs on {b:?}", l.0);
        }
    }
    assert!(local.iter().filter(|o| o.2.is_some()).count() >= 2);
}

#[test]
fn vouch_sql_takes_s3_uris() {
    vouch_sql_takes(Server::Moto);
}

#[test]
fn vouch_sql_takes_azure_uris() {
    vouch_sql_takes(Server::Azurite);
}

#[test]
fn vouch_sql_takes_http_uris() {
    vouch_sql_takes(Server::WsgiDav);
}

#[test]
fn vouch_sql_takes_gcs_uris() {
    vouch_sql_takes(Server::FakeGcs);
}

fn vouch_sql_takes(server: Server) {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    init_cluster(&c, "bank", "50");
    let uri = uri_on(server, &unique_prefix("cli-sql"));
    let out = vouch([
        "sql",
        "--cluster",
        s(&c),
        "-e",
        &format!("BACKUP DATABASE bank INTO '{uri}'"),
        "-e",
        &format!("BACKUP DATABASE bank INTO LATEST IN '{uri}'"),
        "-e",
        &format!("SHOW BACKUPS IN '{uri}'"),
    ]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for t in [&stdout, &stderr] {
        no_secret("vouch sql", t);
    }
    assert_eq!(stdout.matches("| succeeded |").count(), 2, "{stdout}");
    assert!(stdout.ends_with("(1 row)\n"), "{stdout}");
    // The objects are in the bucket: a full backup and an incremental.
    let store = open(&uri, &OpenOptions::default()).unwrap();
    let manifests: Vec<String> = store
        .list("")
        .unwrap()
        .into_iter()
        .map(|o| o.path)
        .filter(|p| p.ends_with("/BACKUP_MANIFEST"))
        .collect();
    assert_eq!(manifests.len(), 2, "{manifests:?}");
    assert!(
        manifests.iter().any(|p| p.starts_with("incrementals/")),
        "{manifests:?}"
    );
}

/// `vouch restore --jobs N` reads N tables at once, each with its own requests: through a
/// proxy of moto that counts the requests in flight, `--jobs 1` never has two at once and
/// `--jobs 4` does; both restore the same rows (fingerprints equal the source's), and the
/// proxy's injected 503s meanwhile are retried, not failures.
#[test]
fn restore_reads_tables_at_once_with_jobs() {
    use vouch_testkit::servers::{arm_faults, fault_counts, max_in_flight};
    let (_turn, d, src, proxy, uri) = proxied_moto("movr", "300", "restore-jobs");
    run(&["backup", "--cluster", s(&src), "INTO", &uri]);
    let want = fingerprints(&src, "movr", None);
    for (jobs, faults) in [(1, 0), (4, 4)] {
        arm_faults(proxy, faults, 503, "GET");
        let dst = d.path().join(format!("r{jobs}"));
        let (out, _) = run(&[
            "restore",
            "--cluster",
            s(&dst),
            "DATABASE",
            "movr",
            "FROM",
            "LATEST",
            "IN",
            &uri,
            "--jobs",
            &jobs.to_string(),
        ]);
        assert!(out.contains("| succeeded |"), "{out}");
        assert_eq!(fingerprints(&dst, "movr", None), want, "--jobs {jobs}");
        let in_flight = max_in_flight(proxy);
        if jobs == 1 {
            assert_eq!(in_flight, 1, "--jobs 1 sent requests at once");
        } else {
            assert!(
                in_flight >= 2,
                "--jobs {jobs}: at most {in_flight} request at once"
            );
        }
        assert_eq!(fault_counts(proxy).1, u64::from(faults), "faults served");
    }
}

/// `verify --level metadata` takes the data files' sizes from the one listing it makes: no
/// HEAD per data file. Through a proxy of moto counting HEAD requests, a metadata run over
/// a backup cut into many data files makes no HEAD at all (the small objects it reads are
/// sized by their GET's answer), and is clean.
#[test]
fn metadata_sizes_come_from_the_listing() {
    use vouch_testkit::servers::{arm_faults, heads_forwarded};
    let (_turn, _d, src, proxy, uri) = proxied_moto("bank", "300", "metadata-sizes");
    run(&[
        "backup",
        "--cluster",
        s(&src),
        "INTO",
        &uri,
        "--target-file-size",
        "2048",
    ]);
    arm_faults(proxy, 0, 503, "");
    metadata_verify_is_clean(&uri);
    let data_files = open(&uri, &OpenOptions::default())
        .unwrap()
        .list("")
        .unwrap()
        .iter()
        .filter(|o| o.path.ends_with(".sst"))
        .count() as u64;
    let heads = heads_forwarded(proxy);
    assert!(data_files >= 20, "{data_files} data files");
    assert_eq!(
        heads, 0,
        "{heads} HEAD requests for {data_files} data files"
    );
}

/// `verify --level metadata` over a collection of several chains reads each small object
/// it needs (the LATEST pointers, each layer's manifest and checksum) with one GET, and
/// reads them many at once: through a proxy of moto, the run's requests are exactly the
/// listing and one GET per such object (no HEAD, nothing read twice), more than one was in
/// flight at a time, and the report is clean.
#[test]
fn metadata_reads_the_small_objects_at_once_one_request_each() {
    use vouch_testkit::servers::{arm_faults, fault_counts, heads_forwarded, max_in_flight};
    let (_turn, _d, src, proxy, uri) = proxied_moto("bank", "100", "metadata-at-once");
    for _ in 0..4 {
        run(&["backup", "--cluster", s(&src), "INTO", &uri]);
    }
    run(&["backup", "--cluster", s(&src), "INTO", "LATEST", "IN", &uri]);
    let listed = open(&uri, &OpenOptions::default())
        .unwrap()
        .list("")
        .unwrap();
    let small = listed
        .iter()
        .filter(|o| {
            let name = o.path.rsplit('/').next().unwrap_or_default();
            o.path == "LATEST"
                || o.path.starts_with("metadata/latest/LATEST-")
                || name == "BACKUP_MANIFEST"
                || name == "BACKUP_MANIFEST-CHECKSUM"
        })
        .count() as u64;
    // 4 chains (one with an incremental): 5 manifests, 5 checksums and the pointers.
    assert!(small >= 11, "{small} small objects in {listed:?}");
    arm_faults(proxy, 0, 503, "");
    let j = metadata_verify_is_clean(&uri);
    assert_eq!(j["chains"].as_array().map(Vec::len), Some(4), "{j}");
    assert_eq!(heads_forwarded(proxy), 0);
    assert_eq!(fault_counts(proxy), (0, 0, 1 + small));
    let in_flight = max_in_flight(proxy);
    assert!(in_flight >= 2, "at most {in_flight} request at once");
}

/// A chain's layers are read several at once (restore's chain reader, which `show backup`,
/// restore and verify's restore plan use): through a proxy of moto, `show backup` of a full
/// backup and 6 incrementals had more than one request in flight, and shows every layer,
/// oldest first, as the same statement on the local copy of the collection does.
#[test]
fn a_chain_of_many_layers_is_read_several_at_once() {
    use vouch_testkit::servers::{arm_faults, max_in_flight};
    let (_turn, d, src, proxy, uri) = proxied_moto("bank", "100", "many-layers");
    let local = format!("file://{}", d.path().join("local").display());
    // Both copies backed up as of the same times: the same layers.
    let (t, _) = run(&["cluster", "now", s(&src)]);
    for u in [&uri, &local] {
        backup_as_of(&src, u, false, t.trim());
    }
    for i in 0..6 {
        let seed = i.to_string();
        let ops = ["--workload", "bank", "--ops", "5", "--seed", &seed];
        run(&[&["cluster", "run", s(&src)][..], &ops[..]].concat());
        let (t, _) = run(&["cluster", "now", s(&src)]);
        for u in [&uri, &local] {
            backup_as_of(&src, u, true, t.trim());
        }
    }
    let show = |u: &str| {
        let (out, _) = run(&[
            "show", "backup", "FROM", "LATEST", "IN", u, "--format", "json",
        ]);
        let j: serde_json::Value = serde_json::from_str(&out).unwrap();
        j.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["object_name"] == "bank" && r["object_type"] == "table")
            .map(|r| (r["start_time"].clone(), r["end_time"].clone()))
            .collect::<Vec<_>>()
    };
    arm_faults(proxy, 0, 503, "");
    let layers = show(&uri);
    let in_flight = max_in_flight(proxy);
    assert_eq!(layers.len(), 7, "{layers:?}");
    assert_eq!(layers, show(&local));
    assert!(in_flight >= 2, "at most {in_flight} request at once");
}

/// A cluster (`src`, in a new temporary folder `d`) with `workload` of `rows`, and a new
/// collection on moto reached through its fault proxy (the proxy, to arm and count), with
/// this test's turn at the proxy (held until it is dropped): `(turn, d, src, proxy, uri)`.
fn proxied_moto(
    workload: &str,
    rows: &str,
    name: &str,
) -> (
    std::sync::MutexGuard<'static, ()>,
    tempfile::TempDir,
    PathBuf,
    &'static str,
    String,
) {
    use vouch_testkit::servers::{fault_proxy, proxy_turn, uri_at};
    let turn = proxy_turn();
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    init_cluster(&src, workload, rows);
    let (proxy, endpoint) = fault_proxy(Server::Moto);
    let uri = uri_at(Server::Moto, endpoint, &unique_prefix(name));
    (turn, d, src, proxy, uri)
}

/// `vouch backup --cluster src INTO [LATEST IN] uri --as-of t`.
fn backup_as_of(src: &Path, uri: &str, latest: bool, t: &str) {
    let mut args = vec!["backup", "--cluster", s(src), "INTO"];
    if latest {
        args.extend(["LATEST", "IN"]);
    }
    args.extend([uri, "--as-of", t]);
    run(&args);
}

/// `vouch verify IN uri --level metadata --format json`'s report, asserted clean (no
/// error, no warning).
fn metadata_verify_is_clean(uri: &str) -> serde_json::Value {
    let (out, _) = run(&[
        "verify", "IN", uri, "--level", "metadata", "--format", "json",
    ]);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (j["errors"].as_u64(), j["warnings"].as_u64()),
        (Some(0), Some(0)),
        "{out}"
    );
    j
}

/// A cluster `src` with the bank workload, and the times of its two states: (t1, t2).
fn bank_cluster(src: &Path, rows: &str) -> (String, String) {
    init_cluster(src, "bank", rows);
    let (t1, _) = run(&["cluster", "now", s(src)]);
    run(&[
        "cluster",
        "run",
        s(src),
        "--workload",
        "bank",
        "--ops",
        "50",
    ]);
    let (t2, _) = run(&["cluster", "now", s(src)]);
    (t1.trim().to_string(), t2.trim().to_string())
}

/// A full backup at `t1` and an incremental at `t2` (revision history) into `uri`.
fn full_and_incremental(src: &Path, uri: &str, t1: &str, t2: &str) {
    run(&[
        "backup",
        "--cluster",
        s(src),
        "INTO",
        uri,
        "--revision-history",
        "--as-of",
        t1,
    ]);
    run(&[
        "backup",
        "--cluster",
        s(src),
        "INTO",
        "LATEST",
        "IN",
        uri,
        "--revision-history",
        "--as-of",
        t2,
    ]);
}

/// The read side on `gs://`: a collection written to a local disk and uploaded, object by
/// object, to the GCS emulator gives exactly the local collection's answers (`show
/// backups`, `show backup --check-files`, the verify reports at every level, restore's
/// fingerprints, `dump`) and the same objects, byte for byte.
#[test]
fn gcs_reads_a_collection_uploaded_to_the_bucket() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let (t1, t2) = bank_cluster(&src, "200");
    let local_dir = d.path().join("local-collection");
    let local = format!("file://{}", s(&local_dir));
    full_and_incremental(&src, &local, &t1, &t2);
    let prefix = unique_prefix("cli-gcs");
    let uploaded = gcs_upload_dir(&local_dir, &prefix);
    assert!(uploaded.len() > 6, "{uploaded:?}");
    let gcs = uri_on(Server::FakeGcs, &prefix);

    let want = read_side(&local, &src, d.path(), &t2, "local");
    let got = read_side(&gcs, &src, d.path(), &t2, "gcs");
    assert_eq!(want.len(), got.len());
    for (i, (a, o)) in want.iter().zip(&got).enumerate() {
        assert_eq!(a, o, "answer {i} differs between the local store and gs://");
    }
    same_objects(
        &objects(&local, &src),
        &objects(&gcs, &src),
        Backend::Object(Server::FakeGcs),
    );
}

/// `vouch sql` reads `gs://` (SHOW BACKUPS, SHOW BACKUP, RESTORE: the restored database's
/// fingerprints are the source's) and writes there: an incremental appended by BACKUP INTO
/// LATEST to a collection another tool uploaded, and one by `vouch backup
/// --incremental-location`, leave every object that was there byte for byte; a CREATE
/// SCHEDULE into `gs://` (`ignore_existing_backups`: the bucket holds backups) is
/// created. The appended collection verifies clean and restores
/// the source at the newest time.
#[test]
fn gcs_is_read_and_written_by_vouch_sql() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let (t1, t2) = bank_cluster(&src, "50");
    let local_dir = d.path().join("local-collection");
    full_and_incremental(&src, &format!("file://{}", s(&local_dir)), &t1, &t2);
    let prefix = unique_prefix("cli-gcs-sql");
    gcs_upload_dir(&local_dir, &prefix);
    let gcs = uri_on(Server::FakeGcs, &prefix);

    let dst = d.path().join("dst");
    run(&["cluster", "init", s(&dst)]);
    let (out, _) = run(&[
        "sql",
        "--cluster",
        s(&dst),
        "-e",
        &format!("SHOW BACKUPS IN '{gcs}'"),
        "-e",
        &format!("SHOW BACKUP FROM LATEST IN '{gcs}'"),
        "-e",
        &format!("RESTORE DATABASE bank FROM LATEST IN '{gcs}'"),
    ]);
    assert_eq!(out.matches("| succeeded |").count(), 1, "{out}");
    assert!(out.contains("| bank "), "{out}");
    assert_eq!(
        fingerprints(&dst, "bank", None),
        fingerprints(&src, "bank", Some(&t2))
    );

    let before = objects(&gcs, &src);
    run(&[
        "cluster",
        "run",
        s(&src),
        "--workload",
        "bank",
        "--ops",
        "20",
    ]);
    let (out, _) = run(&[
        "sql",
        "--cluster",
        s(&src),
        "-e",
        &format!("BACKUP INTO LATEST IN '{gcs}'"),
        "-e",
        &format!(
            "CREATE SCHEDULE nightly FOR BACKUP INTO '{gcs}' RECURRING '@daily' \
                 WITH SCHEDULE OPTIONS ignore_existing_backups"
        ),
        "-e",
        "SHOW SCHEDULES",
    ]);
    assert_eq!(out.matches("| succeeded |").count(), 1, "{out}");
    assert!(out.contains("nightly"), "{out}");
    let inc = unique_prefix("cli-gcs-inc");
    let inc_uri = uri_on(Server::FakeGcs, &inc);
    let (out, _) = run(&[
        "backup",
        "--cluster",
        s(&src),
        "INTO",
        "LATEST",
        "IN",
        &gcs,
        "--incremental-location",
        &inc_uri,
    ]);
    assert!(out.contains("| succeeded |"), "{out}");
    let after = objects(&gcs, &src);
    for object in &before {
        assert!(after.contains(object), "{} changed or went", object.0);
    }
    let manifests = |objs: &[(String, u64, Option<Vec<u8>>)]| {
        objs.iter()
            .filter(|o| o.0.ends_with("/BACKUP_MANIFEST"))
            .count()
    };
    assert_eq!(manifests(&after), manifests(&before) + 1);
    assert_eq!(manifests(&objects(&inc_uri, &src)), 1);
    full_verify_is_clean(&["IN", &gcs, "--incremental-location", &inc_uri]);
    let dst2 = d.path().join("dst2");
    run(&["cluster", "init", s(&dst2)]);
    run(&[
        "restore",
        "--cluster",
        s(&dst2),
        "DATABASE",
        "bank",
        "FROM",
        "LATEST",
        "IN",
        &gcs,
        "--incremental-location",
        &inc_uri,
    ]);
    assert_eq!(
        fingerprints(&dst2, "bank", None),
        fingerprints(&src, "bank", None)
    );
}

/// A damaged data file in the bucket: `verify --level full` on `gs://` reports exactly what
/// it reports on a local copy damaged the same way (the same findings, errors and exit
/// code), and restore fails on both, saying the same.
#[test]
fn gcs_damage_is_found_as_on_a_local_disk() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let (t1, t2) = bank_cluster(&src, "200");
    let local_dir = d.path().join("local-collection");
    let local = format!("file://{}", s(&local_dir));
    full_and_incremental(&src, &local, &t1, &t2);
    let prefix = unique_prefix("cli-gcs-damage");
    let uploaded = gcs_upload_dir(&local_dir, &prefix);
    // The full backup's largest data file (bank's rows), one byte flipped in its middle,
    // in both places.
    let victim = uploaded
        .iter()
        .filter(|p| !p.starts_with("incrementals/") && p.ends_with(".sst"))
        .max_by_key(|p| std::fs::metadata(local_dir.join(p)).unwrap().len())
        .unwrap()
        .clone();
    let path = local_dir.join(&victim);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    gcs_upload(&format!("{prefix}/{victim}"), &bytes);
    let gcs = uri_on(Server::FakeGcs, &prefix);

    let verify = |uri: &str| {
        let out = vouch(["verify", "IN", uri, "--level", "full", "--format", "json"]);
        let stdout = text(&out.stdout);
        no_secret("verify", &stdout);
        no_secret("verify", &text(&out.stderr));
        let mut j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        j.as_object_mut().unwrap().remove("duration_seconds");
        let report = j
            .to_string()
            .replace(&redact_uri(uri), "<uri>")
            .replace(shown(uri), "<uri>");
        (out.status.code(), j, report)
    };
    let (local_code, local_json, local_report) = verify(&local);
    let (gcs_code, _, gcs_report) = verify(&gcs);
    assert_eq!(local_code, Some(1), "{local_report}");
    assert!(
        local_json["errors"].as_u64().unwrap() >= 1,
        "{local_report}"
    );
    assert!(local_report.contains(&victim), "{local_report}");
    assert_eq!(gcs_code, local_code);
    assert_eq!(gcs_report, local_report);

    let restore = |uri: &str, name: &str| {
        let dst = d.path().join(name);
        let out = vouch([
            "restore",
            "--cluster",
            s(&dst),
            "DATABASE",
            "bank",
            "FROM",
            "LATEST",
            "IN",
            uri,
        ]);
        let stderr = text(&out.stderr);
        no_secret("restore", &stderr);
        (
            out.status.code(),
            stderr
                .replace(&redact_uri(uri), "<uri>")
                .replace(shown(uri), "<uri>"),
        )
    };
    let (local_code, local_err) = restore(&local, "r-local");
    let (gcs_code, gcs_err) = restore(&gcs, "r-gcs");
    assert_eq!(local_code, Some(2), "{local_err}");
    assert!(local_err.contains(&victim), "{local_err}");
    assert_eq!((gcs_code, gcs_err), (local_code, local_err));
}

/// `AUTH=implicit` reads the environment's credentials, and `object_store`'s
/// `GOOGLE_SKIP_SIGNATURE=true` there sends unsigned requests (public buckets,
/// emulators), writes included: `show backups` and `verify --level full` read an
/// uploaded collection so, clean, and an incremental appended so verifies clean. (The environment is the child's own: no credentials file, no other `GOOGLE_*`
/// variable, so nothing would be asked of a metadata server.)
#[test]
fn gcs_implicit_auth_reads_with_unsigned_requests() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let (t1, t2) = bank_cluster(&src, "50");
    let local_dir = d.path().join("local-collection");
    full_and_incremental(&src, &format!("file://{}", s(&local_dir)), &t1, &t2);
    let prefix = unique_prefix("cli-gcs-implicit");
    gcs_upload_dir(&local_dir, &prefix);
    let ep = vouch_testkit::servers::endpoint_of(Server::FakeGcs);
    let uri = format!("gs://{S3_BUCKET}/{prefix}?AUTH=implicit&GS_ENDPOINT={ep}");
    let home = d.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let unsigned = |args: &[&str]| {
        let mut cmd = std::process::Command::new(common::vouch_bin());
        cmd.args(args)
            .env("HOME", &home)
            .env("GOOGLE_SKIP_SIGNATURE", "true");
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("GOOGLE_") && k != "GOOGLE_SKIP_SIGNATURE" {
                cmd.env_remove(k);
            }
        }
        let out = cmd.output().unwrap();
        let (o, e) = (text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{args:?}: {o}\n{e}");
        o
    };
    let out = unsigned(&["show", "backups", "IN", &uri]);
    assert!(out.ends_with("(1 row)\n"), "{out}");
    // verify --level full is clean, over a chain of `layers` layers.
    let clean_with = |layers: usize| {
        let out = unsigned(&["verify", "IN", &uri, "--level", "full", "--format", "json"]);
        let j: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (j["errors"].as_u64(), j["warnings"].as_u64()),
            (Some(0), Some(0)),
            "{out}"
        );
        assert_eq!(
            j["chains"][0]["layers"].as_array().unwrap().len(),
            layers,
            "{out}"
        );
    };
    clean_with(2);
    let out = unsigned(&["backup", "--cluster", s(&src), "INTO", "LATEST", "IN", &uri]);
    assert!(out.contains("| succeeded |"), "{out}");
    clean_with(3);
}

/// `gs://` in a locality-aware list: a backup's us-west1 store uploaded to the bucket is
/// read from it beside the default store on disk (verify full is clean; RESTORE from the
/// list gives the source's fingerprints), and so is the whole collection uploaded (both
/// stores on gs://). A BACKUP whose list names gs:// writes its us-west1 part there.
#[test]
fn gcs_in_a_locality_list_is_read_like_any_store() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    run(&["cluster", "init", s(&c)]);
    run(&[
        "sql",
        "--cluster",
        s(&c),
        "-e",
        "CREATE DATABASE movr;
         CREATE TABLE movr.rides (city STRING NOT NULL, id INT NOT NULL, PRIMARY KEY (city, id))
           PARTITION BY LIST (city) (PARTITION us_west VALUES IN ('seattle'));
         INSERT INTO movr.rides VALUES ('seattle', 1), ('boston', 2), ('seattle', 3);
         ALTER RANGE default CONFIGURE ZONE USING constraints = '[+region=us-east1]';
         ALTER PARTITION us_west OF INDEX movr.rides@primary CONFIGURE ZONE USING constraints = '[+region=us-west1]'",
    ]);
    run(&[
        "backup",
        "--cluster",
        s(&c),
        "DATABASE",
        "movr",
        "INTO",
        "nodelocal://1/east?COCKROACH_LOCALITY=default",
        "nodelocal://1/west?COCKROACH_LOCALITY=region%3Dus-west1",
    ]);
    let want = fingerprints(&c, "movr", None);
    let prefix = unique_prefix("cli-gcs-locality");
    let west_files = gcs_upload_dir(&c.join("extern/west"), &format!("{prefix}/west"));
    assert!(
        west_files
            .iter()
            .any(|p| p.ends_with("BACKUP_PART_1_region=us-west1")),
        "{west_files:?}"
    );
    gcs_upload_dir(&c.join("extern/east"), &format!("{prefix}/east"));
    let west = uri_on(Server::FakeGcs, &format!("{prefix}/west"));
    let east = uri_on(Server::FakeGcs, &format!("{prefix}/east"));
    for list in [
        ["nodelocal://1/east", west.as_str()],
        [east.as_str(), west.as_str()],
    ] {
        full_verify_is_clean(&["--cluster", s(&c), "IN", list[0], list[1]]);
    }
    // Without the us-west1 store its file is missing: the list's gs:// store was read.
    let out = vouch([
        "verify",
        "--cluster",
        s(&c),
        "--level",
        "metadata",
        "--format",
        "json",
        "IN",
        "nodelocal://1/east",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let (out, _) = run(&[
        "sql",
        "--cluster",
        s(&c),
        "-e",
        "DROP DATABASE movr",
        "-e",
        &format!("RESTORE DATABASE movr FROM LATEST IN ('nodelocal://1/east', '{west}')"),
    ]);
    assert!(out.contains("| succeeded |"), "{out}");
    assert_eq!(fingerprints(&c, "movr", None), want);

    let west2 = uri_on(Server::FakeGcs, &format!("{prefix}/west2"));
    let (out, _) = run(&[
        "backup",
        "--cluster",
        s(&c),
        "DATABASE",
        "movr",
        "INTO",
        "nodelocal://1/east2?COCKROACH_LOCALITY=default",
        &format!("{west2}&COCKROACH_LOCALITY=region%3Dus-west1"),
    ]);
    assert!(out.contains("| succeeded |"), "{out}");
    let parts: Vec<String> = open(&west2, &OpenOptions::default())
        .unwrap()
        .list("")
        .unwrap()
        .into_iter()
        .map(|o| o.path)
        .filter(|p| p.ends_with("BACKUP_PART_1_region=us-west1"))
        .collect();
    assert_eq!(parts.len(), 1, "{parts:?}");
    full_verify_is_clean(&["--cluster", s(&c), "IN", "nodelocal://1/east2", &west2]);
}
