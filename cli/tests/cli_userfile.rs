//! `userfile://` storage from the command line and `vouch sql`: `vouch userfile
//! upload|list|get|delete` as `cockroach userfile` has them, and a backup chain kept
//! inside the cluster that show, verify (every level), dump and RESTORE read, giving the
//! same answers as the same chain in a local folder (the oracle). `external://name`
//! connections resolve from the command line (`--cluster`) for every scheme.

mod common;

use std::path::Path;

use common::{ok, run, s, text, vouch, vouch_in};
use vouch_testkit::servers::{unique_prefix, uri_on, Server};

/// `vouch cluster fingerprint` rows of database `db` (without the database column).
fn fingerprints(cluster: &Path, db: &str, as_of: Option<&str>) -> Vec<String> {
    let mut args = vec!["cluster", "fingerprint", s(cluster)];
    if let Some(t) = as_of {
        args.extend(["--as-of", t]);
    }
    let (out, _) = ok(&args);
    let rows: Vec<String> = out
        .lines()
        .filter(|l| l.split('|').next().map(str::trim) == Some(db))
        .map(|l| l.split('|').skip(1).collect::<Vec<_>>().join("|"))
        .collect();
    assert!(!rows.is_empty(), "no fingerprints of {db} in\n{out}");
    rows
}

#[test]
fn userfile_commands_upload_list_get_and_delete() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    ok(&["cluster", "init", s(&c)]);
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(d.path().join("data.csv"), &data).unwrap();
    let upload = |args: &[&str]| {
        let mut a = vec!["userfile", "upload", "--cluster", s(&c)];
        a.extend(args);
        vouch_in(Some(d.path()), &a, b"")
    };
    let out = upload(&["data.csv"]);
    assert_eq!(
        text(&out.stdout),
        "successfully uploaded to userfile://defaultdb.public.userfiles_root/data.csv\n"
    );
    let out = upload(&["data.csv", "/imports/data.csv"]);
    assert_eq!(
        text(&out.stdout),
        "successfully uploaded to userfile://defaultdb.public.userfiles_root/imports/data.csv\n"
    );
    let out = upload(&["data.csv", "userfile://d.s.other/x.csv"]);
    assert_eq!(
        text(&out.stdout),
        "successfully uploaded to userfile://d.s.other/x.csv\n"
    );
    // Written once: a second upload to the same name is refused and changes nothing.
    std::fs::write(d.path().join("small"), b"small").unwrap();
    let out = upload(&["small", "imports/data.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("destination file already exists"),
        "{}",
        text(&out.stderr)
    );

    let (out, _) = ok(&["userfile", "list", "--cluster", s(&c)]);
    assert_eq!(out, "data.csv\nimports/data.csv\n");
    let (out, _) = ok(&["userfile", "list", "--cluster", s(&c), "imports"]);
    assert_eq!(out, "imports/data.csv\n");
    let (out, _) = ok(&[
        "userfile",
        "list",
        "--cluster",
        s(&c),
        "userfile://d.s.other/",
    ]);
    assert_eq!(out, "x.csv\n");

    let got = d.path().join("got.csv");
    let (out, _) = ok(&[
        "userfile",
        "get",
        "--cluster",
        s(&c),
        "imports/data.csv",
        s(&got),
    ]);
    assert_eq!(
        out,
        format!(
            "downloaded userfile://defaultdb.public.userfiles_root/imports/data.csv to {}\n",
            got.display()
        )
    );
    assert!(std::fs::read(&got).unwrap() == data, "bytes differ");
    // A local file is never replaced.
    let (code, _, err) = run(&["userfile", "get", "--cluster", s(&c), "data.csv", s(&got)]);
    assert_eq!(code, 2, "{err}");
    // A folder comes down whole.
    let folder = d.path().join("folder");
    ok(&["userfile", "get", "--cluster", s(&c), "imports", s(&folder)]);
    assert!(std::fs::read(folder.join("data.csv")).unwrap() == data);

    let (out, _) = ok(&["userfile", "delete", "--cluster", s(&c), "imports"]);
    assert_eq!(
        out,
        "deleted userfile://defaultdb.public.userfiles_root/imports/data.csv\n"
    );
    let (code, _, err) = run(&["userfile", "delete", "--cluster", s(&c), "imports"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("userfile://defaultdb.public.userfiles_root/imports: no such file or folder"),
        "{err}"
    );
    let (out, _) = ok(&["userfile", "list", "--cluster", s(&c)]);
    assert_eq!(out, "data.csv\n");
}

#[test]
fn a_chain_kept_in_userfiles_reads_as_in_a_folder() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    ok(&[
        "cluster",
        "init",
        s(&c),
        "--workload",
        "bank",
        "--rows",
        "200",
    ]);
    let (t1, _) = ok(&["cluster", "now", s(&c)]);
    ok(&["cluster", "run", s(&c), "--workload", "bank", "--ops", "50"]);
    let (t2, _) = ok(&["cluster", "now", s(&c)]);
    let (t1, t2) = (t1.trim(), t2.trim());
    // The pages' own URI, `$user` and all.
    let uf = "userfile://defaultdb.public.userfiles_$user/bank-backup";
    let local = format!("file://{}", s(&d.path().join("local")));
    for uri in [uf, local.as_str()] {
        ok(&[
            "backup",
            "--cluster",
            s(&c),
            "DATABASE",
            "bank",
            "INTO",
            uri,
            "--revision-history",
            "--as-of",
            t1,
        ]);
        let (_, err) = ok(&[
            "backup",
            "--cluster",
            s(&c),
            "DATABASE",
            "bank",
            "INTO",
            "LATEST",
            "IN",
            uri,
            "--revision-history",
            "--as-of",
            t2,
        ]);
        assert!(err.contains("incremental backup written to"), "{err}");
    }
    let answers = |uri: &str| -> Vec<String> {
        let mut a = Vec::new();
        let (out, _) = ok(&["show", "backups", "IN", uri, "--cluster", s(&c)]);
        a.push(out);
        let (out, _) = ok(&[
            "show",
            "backup",
            "FROM",
            "LATEST",
            "IN",
            uri,
            "--cluster",
            s(&c),
            "--check-files",
        ]);
        a.push(out);
        for level in ["metadata", "schema", "full"] {
            let (out, _) = ok(&[
                "verify",
                "IN",
                uri,
                "--cluster",
                s(&c),
                "--level",
                level,
                "--format",
                "json",
            ]);
            let mut j: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(
                (j["errors"].as_u64(), j["warnings"].as_u64()),
                (Some(0), Some(0)),
                "{out}"
            );
            assert_eq!(
                j["chains"][0]["layers"].as_array().unwrap().len(),
                2,
                "{out}"
            );
            let o = j.as_object_mut().unwrap();
            o.remove("duration_seconds");
            o.remove("bytes_read");
            a.push(o.get("chains").unwrap().to_string());
        }
        let (out, _) = ok(&["dump", "FROM", "LATEST", "IN", uri, "--cluster", s(&c)]);
        a.push(out);
        a.into_iter()
            .map(|t| t.replace(uri, "<uri>").replace(&local, "<uri>"))
            .collect()
    };
    let (a, b) = (answers(uf), answers(&local));
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "answer {i} differs between userfile and the folder");
    }
    // The files are listed as `cockroach userfile list` lists them.
    let (out, _) = ok(&["userfile", "list", "--cluster", s(&c), "bank-backup"]);
    assert!(out.lines().any(|l| l == "bank-backup/LATEST"), "{out}");
    assert_eq!(
        out.lines()
            .filter(|l| l.ends_with("/BACKUP_MANIFEST"))
            .count(),
        2,
        "{out}"
    );

    // RESTORE through vouch sql reads the same cluster's userfiles.
    let (out, _) = ok(&[
        "sql",
        "--cluster",
        s(&c),
        "-e",
        &format!("RESTORE DATABASE bank FROM LATEST IN '{uf}' WITH new_db_name = 'restored'"),
    ]);
    assert!(out.contains("| succeeded |"), "{out}");
    assert_eq!(
        fingerprints(&c, "restored", None),
        fingerprints(&c, "bank", Some(t2))
    );
    // BACKUP through vouch sql writes there too.
    let (out, _) = ok(&[
        "sql",
        "--cluster",
        s(&c),
        "-e",
        "BACKUP DATABASE bank INTO 'userfile:///sql-backup'",
    ]);
    assert!(out.contains("| succeeded |"), "{out}");
    let (out, _) = ok(&[
        "verify",
        "FROM",
        "LATEST",
        "IN",
        "userfile:///sql-backup",
        "--cluster",
        s(&c),
        "--level",
        "full",
    ]);
    assert!(out.contains("OK: 0 error(s), 0 warning(s)"), "{out}");

    // Without the cluster that keeps them, userfiles cannot be read: said, exit 2.
    let (code, _, err) = run(&["verify", "IN", uf, "--level", "metadata"]);
    assert_eq!(code, 2);
    assert!(err.contains("give --cluster DIR"), "{err}");
}

#[test]
fn external_connections_resolve_from_the_command_line() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    ok(&[
        "cluster",
        "init",
        s(&c),
        "--workload",
        "bank",
        "--rows",
        "50",
    ]);
    let s3 = uri_on(Server::Moto, &unique_prefix("cli-external"));
    let local = format!("file://{}", s(&d.path().join("coll")));
    for (name, uri) in [
        ("on_s3", s3.as_str()),
        ("in_folder", local.as_str()),
        ("in_cluster", "userfile:///ext"),
    ] {
        let (out, _) = ok(&[
            "sql",
            "--cluster",
            s(&c),
            "-e",
            &format!("CREATE EXTERNAL CONNECTION {name} AS '{uri}'"),
        ]);
        assert_eq!(out, "CREATE EXTERNAL CONNECTION\n");
        // The CLI's backup writes through the connection; every reader reads through it.
        let target = format!("external://{name}/daily");
        ok(&[
            "backup",
            "--cluster",
            s(&c),
            "DATABASE",
            "bank",
            "INTO",
            &target,
        ]);
        let (out, err) = ok(&[
            "verify",
            "FROM",
            "LATEST",
            "IN",
            &target,
            "--cluster",
            s(&c),
            "--level",
            "full",
        ]);
        assert!(
            out.contains("OK: 0 error(s), 0 warning(s)"),
            "{name}: {out}"
        );
        for t in [&out, &err] {
            for secret in Server::Moto.secrets() {
                assert!(!t.contains(secret), "{name}: the secret was printed");
            }
        }
        let (out, _) = ok(&[
            "show",
            "backups",
            "IN",
            &target,
            "--cluster",
            s(&c),
            "--format",
            "json",
        ]);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&out)
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            1
        );
        // The objects are where the connection points.
        let (out, _) = ok(&[
            "show",
            "backups",
            "IN",
            &vouch_store::join_connection(uri, "daily"),
            "--cluster",
            s(&c),
            "--format",
            "json",
        ]);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&out)
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            1,
            "{name}"
        );
    }
    let out = vouch([
        "verify",
        "IN",
        "external://nope",
        "--cluster",
        s(&c),
        "--level",
        "metadata",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("external connection \"nope\" does not exist"),
        "{}",
        text(&out.stderr)
    );
    let out = vouch(["show", "backups", "IN", "external://on_s3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("give --cluster DIR"),
        "{}",
        text(&out.stderr)
    );
}
