//! `vouch verify` as a user runs it: exit codes 0 (clean, also with warnings), 1 (error
//! findings, or warnings with --strict), 2 (could not run); the JSON report parses and has
//! the schema version; the JUnit report is well-formed XML with one testcase per layer and
//! check.

mod common;

use std::path::Path;

use common::{text, vouch};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = vouch(args);
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// A bank cluster with a full backup and one incremental in `nodelocal://1/b`.
fn setup(d: &Path) -> std::path::PathBuf {
    let c = d.join("c");
    let ok = |a: &[&str]| {
        let (code, o, e) = run(a);
        assert_eq!(code, 0, "{a:?}\n{o}\n{e}");
    };
    ok(&[
        "cluster",
        "init",
        s(&c),
        "--workload",
        "bank",
        "--rows",
        "200",
    ]);
    ok(&[
        "backup",
        "--cluster",
        s(&c),
        "INTO",
        "nodelocal://1/b",
        "--revision-history",
    ]);
    ok(&["cluster", "run", s(&c), "--workload", "bank", "--ops", "50"]);
    ok(&[
        "backup",
        "--cluster",
        s(&c),
        "INTO",
        "LATEST",
        "IN",
        "nodelocal://1/b",
        "--revision-history",
    ]);
    c
}

/// Minimal well-formedness check of XML as vouch writes it: one root, every start tag
/// closed in order, attributes quoted, no raw `<` or `&` outside tags and entities.
/// Returns the (name, attributes) of every element in document order.
fn parse_xml(x: &str) -> Vec<(String, Vec<(String, String)>)> {
    let body = x
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        .expect("XML declaration");
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut rest = body;
    let mut roots = 0;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('<') {
            let end = r.find('>').expect("tag closed");
            let tag = &r[..end];
            rest = &r[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "closing tag order");
                continue;
            }
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let (name, mut attrs_text) = tag.split_once(' ').unwrap_or((tag, ""));
            let mut attrs = Vec::new();
            while !attrs_text.trim().is_empty() {
                let t = attrs_text.trim_start();
                let (k, v) = t.split_once("=\"").expect("attribute");
                let close = v.find('"').expect("attribute value closed");
                let val = &v[..close];
                assert!(!val.contains('<'), "raw < in attribute");
                attrs.push((k.to_string(), val.to_string()));
                attrs_text = &v[close + 1..];
            }
            if stack.is_empty() {
                roots += 1;
            }
            out.push((name.to_string(), attrs));
            if !self_closing {
                stack.push(name.to_string());
            }
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let txt = &rest[..end];
            for (i, _) in txt.match_indices('&') {
                let ent = &txt[i..];
                assert!(
                    ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                        .iter()
                        .any(|e| ent.starts_with(e)),
                    "bare & in text"
                );
            }
            if stack.is_empty() {
                assert!(txt.trim().is_empty(), "text outside the root: {txt:?}");
            }
            rest = &rest[end..];
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    assert_eq!(roots, 1);
    out
}

#[test]
fn exit_codes_json_and_junit() {
    let d = tempfile::tempdir().unwrap();
    let c = setup(d.path());
    let root = c.join("extern").join("b");
    // By path (no `--cluster` needed to resolve it).
    let base = ["verify", "IN", s(&root)];
    let with = |extra: &[&str]| -> (i32, String, String) {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        run(&a)
    };

    // Clean, at every level: exit 0, JSON with the schema version and no findings.
    for level in ["metadata", "schema", "full"] {
        let (code, out, err) = with(&["--level", level, "--format", "json", "--jobs", "2"]);
        assert_eq!(code, 0, "{level}: {out}\n{err}");
        let j: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(j["format_version"], vouch_verify::REPORT_FORMAT_VERSION);
        assert_eq!(j["level"], level);
        assert_eq!(j["errors"], 0);
        assert_eq!(j["findings"].as_array().unwrap().len(), 0);
        assert_eq!(j["chains"].as_array().unwrap().len(), 1);
        assert_eq!(j["chains"][0]["layers"].as_array().unwrap().len(), 2);
    }
    let (code, out, _) = with(&["--level", "metadata"]);
    assert_eq!(code, 0);
    assert!(out.contains("OK: 0 error(s), 0 warning(s)"), "{out}");

    // A stray object: a warning, exit 0; with --strict exit 1.
    std::fs::write(root.join("notes.txt"), b"copied by hand").unwrap();
    let (code, out, _) = with(&["--level", "metadata"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("warning stray_object notes.txt"), "{out}");
    let (code, _, _) = with(&["--level", "metadata", "--strict"]);
    assert_eq!(code, 1);
    std::fs::remove_file(root.join("notes.txt")).unwrap();

    // A damaged data file in the incremental: exit 1; the JUnit report has one testcase per
    // layer and check, and the data check of that layer fails with the finding.
    let layers: Vec<String> = {
        let (_, out, _) = with(&["--level", "metadata", "--format", "json"]);
        let j: serde_json::Value = serde_json::from_str(&out).unwrap();
        j["chains"][0]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["dir"].as_str().unwrap().to_string())
            .collect()
    };
    let data_dir = root.join(&layers[1]).join("data");
    let victim = std::fs::read_dir(&data_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[10] ^= 0x20;
    std::fs::remove_file(&victim).unwrap();
    std::fs::write(&victim, &bytes).unwrap();
    let junit = d.path().join("report.xml");
    let (code, out, _) = with(&["--level", "full", "--junit", s(&junit)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("error block_checksum"), "{out}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    let elems = parse_xml(&xml);
    let cases: Vec<(String, String)> = elems
        .iter()
        .filter(|(n, _)| n == "testcase")
        .map(|(_, a)| {
            let get = |k: &str| a.iter().find(|(x, _)| x == k).unwrap().1.clone();
            (get("classname"), get("name"))
        })
        .collect();
    let mut expected = vec![
        ("collection".to_string(), "latest".to_string()),
        ("collection".to_string(), "strays".to_string()),
        ("collection".to_string(), "unfinished".to_string()),
    ];
    for l in &layers {
        for check in [
            "manifest",
            "chain",
            "files",
            "descriptors",
            "spans",
            "data",
            "indexes",
            "fingerprints",
        ] {
            expected.push((l.clone(), check.to_string()));
        }
    }
    let mut got_sorted = cases.clone();
    got_sorted.retain(|(c, _)| !c.starts_with("chain "));
    expected.sort();
    got_sorted.sort();
    assert_eq!(got_sorted, expected);
    let failures = elems.iter().filter(|(n, _)| n == "failure").count();
    assert_eq!(failures, 1, "{xml}");
    assert!(xml.contains("block_checksum"));
    let root_attrs = &elems[0].1;
    assert!(root_attrs.contains(&("failures".to_string(), "1".to_string())));

    // Could not run: exit 2.
    let (code, _, err) = run(&[
        "verify",
        "IN",
        s(&d.path().join("nothing")),
        "--level",
        "full",
    ]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = with(&["--level", "deep"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown --level"), "{err}");
    let (code, _, _) = with(&["--level", "full", "--jobs", "0"]);
    assert_eq!(code, 2);
    let (code, _, err) = run(&[
        "verify",
        "--cluster",
        s(&c),
        "FROM",
        "/2020/01/01-000000.00",
        "IN",
        "nodelocal://1/b",
        "--level",
        "metadata",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("not found"), "{err}");
}

/// `--cluster DIR` only resolves `nodelocal://` URIs in it: the backup verified with its
/// own source cluster is clean at every level. `--restore-into DIR` is the dry-run restore:
/// into the source cluster the whole-cluster restore and `RESTORE DATABASE bank` collide
/// (restore's own checks, run dry), into an empty cluster nothing is refused.
#[test]
fn cluster_resolves_uris_and_restore_into_plans_a_restore() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    setup(d.path());
    let root = c.join("extern").join("b");
    let json = |args: &[&str]| -> (i32, serde_json::Value, String) {
        let mut a = vec!["verify"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["--format", "json"]);
        let (code, out, err) = run(&a);
        let j = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
        (code, j, err)
    };
    let kinds = |j: &serde_json::Value| -> Vec<String> {
        j["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["kind"].as_str().unwrap().to_string())
            .collect()
    };
    let check_names = |j: &serde_json::Value| -> Vec<String> {
        j["chains"][0]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    // --cluster: the URI resolves, no restore is planned, every level is clean.
    for level in ["metadata", "schema", "full"] {
        let (code, j, err) = json(&[
            "--cluster",
            s(&c),
            "IN",
            "nodelocal://1/b",
            "--level",
            level,
        ]);
        assert_eq!(code, 0, "{level}: {j}\n{err}");
        assert_eq!(kinds(&j), Vec::<String>::new(), "{level}");
        assert!(!check_names(&j).contains(&"cluster".to_string()), "{j}");
    }
    // --restore-into the source cluster: two collisions, exit 1; kinds from the JSON.
    let (code, j, err) = json(&[
        "--cluster",
        s(&c),
        "--restore-into",
        s(&c),
        "IN",
        "nodelocal://1/b",
        "--level",
        "schema",
    ]);
    assert_eq!(code, 1, "{j}\n{err}");
    assert_eq!(kinds(&j), ["restore_collision", "restore_collision"], "{j}");
    assert_eq!(check_names(&j), ["restore_plan", "cluster"], "{j}");
    let f = j["findings"].as_array().unwrap();
    assert_eq!(f[0].get("expected"), None, "{j}");
    assert_eq!(f[1]["expected"], "new_db_name = \"bank_restored\"");
    // The statement is said once: `RESTORE FROM '<subdir>'`, not `RESTORE FROM FROM`.
    let m = f[0]["message"].as_str().unwrap();
    assert!(m.starts_with("RESTORE FROM '/"), "{m}");
    // --restore-into works with a path URI too (no --cluster needed).
    let (code, j, err) = json(&["--restore-into", s(&c), "IN", s(&root), "--level", "schema"]);
    assert_eq!(code, 1, "{j}\n{err}");
    assert_eq!(kinds(&j), ["restore_collision", "restore_collision"], "{j}");
    // Into an empty cluster: accepted, exit 0, the cluster check ran.
    let e = d.path().join("e");
    let (code, _, err) = run(&["cluster", "init", s(&e)]);
    assert_eq!(code, 0, "{err}");
    let (code, j, err) = json(&["--restore-into", s(&e), "IN", s(&root), "--level", "schema"]);
    assert_eq!(code, 0, "{j}\n{err}");
    assert_eq!(kinds(&j), Vec::<String>::new());
    assert_eq!(check_names(&j), ["restore_plan", "cluster"], "{j}");
    // No cluster there, or a level that plans nothing: could not run (exit 2).
    let (code, _, _) = run(&[
        "verify",
        "--restore-into",
        s(&d.path().join("none")),
        "IN",
        s(&root),
        "--level",
        "schema",
    ]);
    assert_eq!(code, 2);
    let (code, _, _) = run(&[
        "verify",
        "--restore-into",
        s(&e),
        "IN",
        s(&root),
        "--level",
        "metadata",
    ]);
    assert_eq!(code, 2);
}

/// An encrypted collection (passphrase from a file): key-less `metadata` is clean;
/// `full` and `schema` without the key exit 2 naming the key needed; `full --keyless`
/// exits 0 (also with `--strict`) and lists what it did not check (JSON `not_checked`, a
/// human line); with the key every level is clean; a wrong passphrase exits 2 naming the
/// cause; a flipped byte in a data file exits 1 with `sha256_mismatch` under `--keyless`
/// and `envelope_auth` (chunk, offset) with the key.
#[test]
fn encrypted_collections_with_and_without_the_key() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    let pw = d.path().join("pw.txt");
    std::fs::write(&pw, "correct horse battery staple\n").unwrap();
    let ok = |a: &[&str]| {
        let (code, o, e) = run(a);
        assert_eq!(code, 0, "{a:?}\n{o}\n{e}");
    };
    ok(&[
        "cluster",
        "init",
        s(&c),
        "--workload",
        "bank",
        "--rows",
        "300",
    ]);
    let file = ["--encryption-passphrase-file", s(&pw)];
    let mut backup = vec!["backup", "--cluster", s(&c), "INTO", "nodelocal://1/enc"];
    backup.extend(file);
    ok(&backup);
    let coll = c.join("extern/enc");
    let verify = |level: &str, keyed: bool, extra: &[&str]| {
        let mut a = vec![
            "verify",
            "IN",
            s(&coll),
            "--level",
            level,
            "--format",
            "json",
        ];
        if keyed {
            a.extend(file);
        }
        a.extend(extra);
        run(&a)
    };
    let kinds = |o: &str| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(o).unwrap();
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["kind"].as_str().unwrap().to_string())
            .collect()
    };
    let (code, o, e) = verify("metadata", false, &[]);
    assert_eq!((code, kinds(&o)), (0, vec![]), "{e}");
    let (code, _, e) = verify("full", false, &[]);
    assert_eq!(code, 2);
    assert!(
        e.contains("the backup is encrypted but no key was given") && e.contains("--keyless"),
        "{e}"
    );
    let (code, o, e) = verify("full", false, &["--keyless"]);
    assert_eq!((code, kinds(&o)), (0, vec![]), "{e}");
    let v: serde_json::Value = serde_json::from_str(&o).unwrap();
    assert_eq!(v["keyless"], true);
    assert_eq!(v["chains"][0]["encrypted"], true);
    let not_checked = v["chains"][0]["not_checked"].as_array().unwrap();
    assert!(not_checked.iter().any(|n| n == "rows"), "{o}");
    assert!(not_checked.iter().any(|n| n == "fingerprints"), "{o}");
    let (code, _, _) = verify("full", false, &["--keyless", "--strict"]);
    assert_eq!(code, 0);
    let (code, out, e) = run(&["verify", "IN", s(&coll), "--level", "full", "--keyless"]);
    assert_eq!(code, 0, "{e}");
    assert!(
        out.contains(
            "not checked (encrypted, read without its key): key_record_wraps, listing_vs_manifest,"
        ),
        "{out}"
    );
    let (code, _, e) = verify("full", true, &["--keyless"]);
    assert_eq!(code, 2, "{e}");
    let (code, _, e) = verify("schema", false, &[]);
    assert_eq!(code, 2);
    assert!(
        e.contains("the backup is encrypted but no key was given"),
        "{e}"
    );
    for level in ["metadata", "schema", "full"] {
        let (code, o, e) = verify(level, true, &[]);
        assert_eq!((code, kinds(&o)), (0, vec![]), "{level}: {e}");
    }
    let (code, _, e) = run(&[
        "verify",
        "IN",
        s(&coll),
        "--level",
        "metadata",
        "--encryption-passphrase",
        "wrong",
    ]);
    assert_eq!(code, 2);
    assert!(e.contains("wrong passphrase"), "{e}");
    assert!(!e.contains("correct horse"), "{e}");
    // A flipped byte in the first data file.
    let sst = walk(&coll)
        .into_iter()
        .find(|p| p.extension().is_some_and(|x| x == "sst"))
        .unwrap();
    let mut b = std::fs::read(&sst).unwrap();
    b[60] ^= 1;
    std::fs::remove_file(&sst).unwrap();
    std::fs::write(&sst, b).unwrap();
    let (code, o, _) = verify("full", false, &["--keyless"]);
    assert_eq!(code, 1);
    assert!(kinds(&o).contains(&"sha256_mismatch".to_string()), "{o}");
    let (code, o, _) = verify("full", true, &[]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&o).unwrap();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "envelope_auth")
        .unwrap_or_else(|| panic!("{o}"));
    assert_eq!(
        (f["block"].as_str(), f["offset"].as_u64()),
        (Some("chunk#0"), Some(40))
    );
}

fn walk(p: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap().path();
        if e.is_dir() {
            out.extend(walk(&e));
        } else {
            out.push(e);
        }
    }
    out.sort();
    out
}
