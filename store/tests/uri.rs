//! Storage URIs: which open, to where, and the exact errors of the others.

use std::path::{Path, PathBuf};

use vouch_store::{message_uri, open, parse_uri, redact_uri, Error, OpenOptions, Scheme};

fn opts(root: &Path) -> OpenOptions {
    OpenOptions {
        nodelocal_root: Some(root.to_path_buf()),
        ..Default::default()
    }
}

/// Where a store opened from `uri` keeps `probe`: written through the store, found on disk.
fn root_of(uri: &str, o: &OpenOptions, probe: &str) -> PathBuf {
    let s = open(uri, o).unwrap_or_else(|e| panic!("{uri}: {e}"));
    assert_eq!(s.uri(), message_uri(uri));
    s.put_new(probe, b"p").unwrap();
    let loc = s.location().expect("opened from a URI");
    assert_eq!(loc.uri, uri);
    let base = o.nodelocal_root.clone().unwrap_or_default();
    for candidate in [
        base.join(loc.path.trim_start_matches('/')),
        PathBuf::from(&loc.path),
    ] {
        if candidate.join(probe).is_file() {
            return candidate;
        }
    }
    panic!("{uri}: probe not found")
}

#[test]
fn local_uris_open_where_expected() {
    let ext = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let o = opts(ext.path());
    let abs = other.path().to_str().unwrap();
    let table: Vec<(String, PathBuf)> = vec![
        ("nodelocal://1/backups".into(), ext.path().join("backups")),
        (
            "nodelocal://self/backups/x".into(),
            ext.path().join("backups/x"),
        ),
        ("nodelocal://1/".into(), ext.path().to_path_buf()),
        ("nodelocal://1".into(), ext.path().to_path_buf()),
        (
            "NodeLocal://1/with%20space?COCKROACH_LOCALITY=default".into(),
            ext.path().join("with space"),
        ),
        (format!("file://{abs}/f"), other.path().join("f")),
        (format!("file://localhost{abs}/g"), other.path().join("g")),
        (format!("{abs}/bare"), other.path().join("bare")),
        (
            format!("{abs}/bare?not-a-query"),
            other.path().join("bare?not-a-query"),
        ),
    ];
    for (i, (uri, want)) in table.into_iter().enumerate() {
        assert_eq!(root_of(&uri, &o, &format!("probe-{i}")), want, "{uri}");
    }
}

#[test]
fn query_parameters_are_kept() {
    let u = parse_uri(
        "nodelocal://1/backups?COCKROACH_LOCALITY=region%3Dus-east&AUTH=implicit&AUTH=second&flag&&x=a+b%2B",
    )
    .unwrap();
    assert_eq!(u.scheme, Scheme::NodeLocal);
    assert_eq!(u.host, "1");
    assert_eq!(u.path, "/backups");
    let q: Vec<(&str, &str)> = u
        .query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        q,
        vec![
            ("AUTH", "implicit"),
            ("COCKROACH_LOCALITY", "region=us-east"),
            ("flag", ""),
            ("x", "a b+"),
        ]
    );
    assert_eq!(u.redacted(), "nodelocal://1/backups");

    let s3 = parse_uri("s3://bucket/path/to?AWS_ACCESS_KEY_ID=k&AWS_SECRET_ACCESS_KEY=s").unwrap();
    assert_eq!(
        (s3.scheme, s3.host.as_str(), s3.path.as_str()),
        (Scheme::S3, "bucket", "/path/to")
    );
    assert_eq!(s3.query["AWS_SECRET_ACCESS_KEY"], "s");

    // Opened stores keep them too.
    let ext = tempfile::tempdir().unwrap();
    let s = open(
        "nodelocal://1/c?COCKROACH_LOCALITY=default",
        &opts(ext.path()),
    )
    .unwrap();
    assert_eq!(s.location().unwrap().query["COCKROACH_LOCALITY"], "default");
}

/// `userfile://` and `external://` name what a cluster keeps: opened without one, they
/// say so (with a cluster, `vouch_engine::storage` opens them; tested there and in the CLI).
#[test]
fn cluster_schemes_need_a_cluster() {
    for (uri, shown, feature) in [
        (
            "userfile://defaultdb.public.userfiles_$user/bank-backup",
            "userfile://defaultdb.public.userfiles_$user/bank-backup",
            "userfiles",
        ),
        ("userfile:///b", "userfile:///b", "userfiles"),
        (
            "external://backup_s3/x?AWS_SECRET_ACCESS_KEY=s3cr3t",
            "external://backup_s3/x",
            "external connections",
        ),
    ] {
        let err = open(uri, &OpenOptions::default()).unwrap_err();
        match &err {
            Error::NeedsCluster { uri: u, feature: f } => {
                assert_eq!((u.as_str(), f.as_str()), (shown, feature), "{uri}");
            }
            other => panic!("{uri}: {other:?}"),
        }
        assert!(!err.to_string().contains("s3cr3t"));
        assert!(parse_uri(uri).is_ok(), "{uri} parses");
    }
}

#[test]
fn userfile_tables() {
    use vouch_store::{userfile_table, DEFAULT_USERFILE_TABLE};
    for (uri, table) in [
        ("userfile:///b", DEFAULT_USERFILE_TABLE),
        (
            "userfile://defaultdb.public.userfiles_$user/b",
            DEFAULT_USERFILE_TABLE,
        ),
        ("userfile://d.s.files/b", "d.s.files"),
    ] {
        assert_eq!(
            userfile_table(&parse_uri(uri).unwrap()).unwrap(),
            table,
            "{uri}"
        );
    }
    for uri in [
        "userfile://files/b",
        "userfile://a.b/c",
        "userfile://a..c/x",
        "userfile://a.b.c.d/x",
        "userfile://a.b.c%2Fd/x",
    ] {
        assert!(
            matches!(
                userfile_table(&parse_uri(uri).unwrap()),
                Err(Error::BadUri { .. })
            ),
            "{uri}"
        );
    }
}

#[test]
fn connections_join() {
    use vouch_store::join_connection;
    assert_eq!(
        join_connection("s3://b/p?AUTH=implicit", ""),
        "s3://b/p?AUTH=implicit"
    );
    assert_eq!(
        join_connection("s3://b/p/?AUTH=implicit", "/daily"),
        "s3://b/p/daily?AUTH=implicit"
    );
    assert_eq!(
        join_connection("nodelocal://1/b", "x/y"),
        "nodelocal://1/b/x/y"
    );
}

/// `gs://` opens with the URI checked and no request sent (the endpoint of the second URI
/// has no server), named in messages without its query.
#[test]
fn gcs_opens_without_a_request() {
    let o = OpenOptions::default();
    for (uri, shown) in [
        ("gs://bucket/path?AUTH=implicit", "gs://bucket/path"),
        (
            "GS://bucket/p?AUTH=implicit&GS_ENDPOINT=http://127.0.0.1:1",
            "GS://bucket/p",
        ),
    ] {
        assert!(parse_uri(uri).is_ok(), "{uri} parses");
        let s = open(uri, &o).unwrap_or_else(|e| panic!("{uri}: {e}"));
        assert_eq!(s.uri(), shown);
        assert_eq!(s.location().map(|l| l.host.as_str()), Some("bucket"));
    }
}

#[test]
fn unsupported_nodes_say_so() {
    let err = open("nodelocal://2/backups", &opts(Path::new("/tmp"))).unwrap_err();
    assert!(
        matches!(&err, Error::Unsupported { scheme, .. } if scheme == "nodelocal"),
        "{err:?}"
    );
    assert!(err.to_string().contains("node 2"), "{err}");
}

#[test]
fn bad_uris_are_named_with_the_reason() {
    let with_root = opts(Path::new("/tmp/ext"));
    for (uri, o, needle) in [
        ("", &with_root, "empty"),
        ("backups", &with_root, "not a storage URI"),
        ("./backups", &with_root, "not a storage URI"),
        ("ftp://host/x", &with_root, "unknown scheme ftp://"),
        ("://x", &with_root, "is not a URI scheme"),
        ("1s3://x", &with_root, "is not a URI scheme"),
        ("nodelocal:///backups", &with_root, "missing node"),
        ("nodelocal://one/backups", &with_root, "is not a node id"),
        ("nodelocal://1/../escape", &with_root, "'..' is not allowed"),
        (
            "nodelocal://1/a/%2e%2e/b",
            &with_root,
            "'..' is not allowed",
        ),
        (
            "nodelocal://1/backups",
            &OpenOptions::default(),
            "external-I/O folder",
        ),
        ("file://relative/path", &with_root, "read as a host"),
        ("file://", &with_root, "absolute path"),
        ("nodelocal://1/a%zz", &with_root, "bad escape"),
        ("nodelocal://1/a%00b", &with_root, "NUL"),
        ("nodelocal://1/a?k=%", &with_root, "bad escape"),
        (
            "nodelocal://1/a?AWS_SECRET_ACCESS_KEY=s3cr3t&k=%",
            &with_root,
            "bad escape",
        ),
        (
            "nodelocal://1/a%zz?AWS_SECRET_ACCESS_KEY=s3cr3t",
            &with_root,
            "bad escape",
        ),
        ("nodelocal://1/a#frag", &with_root, "%23"),
        ("/path/with\0nul", &with_root, "NUL"),
    ] {
        match open(uri, o) {
            Err(Error::BadUri { uri: u, reason }) => {
                // The URI as given, its secrets redacted.
                assert_eq!(u, redact_uri(uri));
                assert!(
                    !u.contains("s3cr3t") && !reason.contains("s3cr3t"),
                    "{u} {reason}"
                );
                assert!(reason.contains(needle), "{uri:?}: {reason}");
                let msg = Error::BadUri {
                    uri: u.clone(),
                    reason: reason.clone(),
                }
                .to_string();
                assert_eq!(msg, format!("bad storage URI {u:?}: {reason}"));
            }
            Err(other) => panic!("{uri:?}: {other:?}"),
            Ok(s) => panic!("{uri:?} opened {s:?}"),
        }
    }
}

#[test]
fn errors_name_the_object_without_the_query() {
    let ext = tempfile::tempdir().unwrap();
    let s = open("nodelocal://1/c?AUTH=secret", &opts(ext.path())).unwrap();
    let err = s.get("2026/11/21-120000.00/BACKUP_MANIFEST").unwrap_err();
    assert_eq!(
        err.to_string(),
        "nodelocal://1/c/2026/11/21-120000.00/BACKUP_MANIFEST: not found (reading the object)"
    );
}
