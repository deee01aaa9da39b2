//! Object stores through the `Store` trait against real servers, every contract test on
//! each: `s3://` on two S3 implementations (moto's and s3s-fs, `scripts/s3-server.sh`) and
//! `azure://` on Azurite (`scripts/azure-server.sh`), `http://` on a WebDAV server
//! (`scripts/http-server.sh`: WsgiDAV). The same contract as the local store
//! (write-once by the service's conditional create, exact ranges, sorted string-prefix
//! listings, errors that name the object and never the secret), and each scheme's URI
//! parameters. `gs://` on a GCS emulator (`scripts/gcs-server.sh`: fake-gcs-server) is
//! read-only: its bucket is seeded through the emulator's upload API, every read of the
//! contract is checked on it, and every write is refused without a request.

#[path = "../../testkit/src/servers.rs"]
#[allow(dead_code, unreachable_pub)]
mod servers;

use std::io::Write;
use std::sync::{Arc, Barrier};

use servers::{
    arm_faults, endpoint_of, fault_counts, fault_proxy, gcs_credentials, gcs_upload, gcs_uri_at,
    heads_forwarded, percent_encode, proxy_turn, put_folder_marker, s3_endpoint, sigv4_requests,
    unique_prefix, uri_at, uri_on, Server, AZURE_ACCOUNT, AZURE_KEY, AZURE_KEY_IN_URI, S3_BUCKET,
    S3_SECRET, S3_SECRET_IN_URI,
};
use vouch_store::{open, redact_uri, Error, ObjectMeta, OpenOptions, Operation, Store};

/// A store on a prefix of the test bucket no other test uses, and its URI.
fn store(server: Server) -> (String, Box<dyn Store>) {
    let uri = uri_on(server, &unique_prefix("store"));
    let s = open(&uri, &OpenOptions::default()).unwrap();
    (uri, s)
}

/// A store on a new prefix (`name`) reached through the server's fault proxy, with this
/// test's turn at the proxies (held while the guard lives) and the proxy to arm and count.
fn proxied_store(
    server: Server,
    name: &str,
) -> (
    std::sync::MutexGuard<'static, ()>,
    &'static str,
    Box<dyn Store>,
) {
    let turn = proxy_turn();
    let (proxy, endpoint) = fault_proxy(server);
    let uri = uri_at(server, endpoint, &unique_prefix(name));
    let s = open(&uri, &OpenOptions::default()).unwrap();
    (turn, proxy, s)
}

fn paths(s: &dyn Store, prefix: &str) -> Vec<String> {
    s.list(prefix)
        .unwrap()
        .into_iter()
        .map(|o| o.path)
        .collect()
}

/// No error text holds a secret, raw or encoded.
fn no_secret(e: &Error) {
    let shown = format!("{e} {e:?}");
    for secret in [S3_SECRET, S3_SECRET_IN_URI, AZURE_KEY, AZURE_KEY_IN_URI]
        .iter()
        .chain(Server::FakeGcs.secrets())
    {
        assert!(!shown.contains(secret), "{shown}");
    }
}

fn put_new_is_write_once_by_the_service(server: Server) {
    let (uri, s) = store(server);
    // Messages name the store without its query (which holds the secret).
    assert_eq!(s.uri(), uri.split('?').next().unwrap());
    assert_eq!(s.location().unwrap().uri, uri);
    s.put_new("2026/11/21-120000.00/BACKUP_MANIFEST", b"first")
        .unwrap();
    let err = s
        .put_new("2026/11/21-120000.00/BACKUP_MANIFEST", b"second")
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");
    no_secret(&err);
    let shown = uri.split('?').next().unwrap();
    assert_eq!(
        err.to_string(),
        format!("{shown}/2026/11/21-120000.00/BACKUP_MANIFEST: already exists (objects are written once, never overwritten)")
    );
    assert_eq!(
        s.get("2026/11/21-120000.00/BACKUP_MANIFEST").unwrap(),
        b"first"
    );
    s.put_new("empty", b"").unwrap();
    assert_eq!(s.get("empty").unwrap(), b"");
    assert_eq!(s.size("empty").unwrap(), Some(0));
    assert!(matches!(
        s.put_new("empty", b"x"),
        Err(Error::AlreadyExists { .. })
    ));
    assert_eq!(s.get("empty").unwrap(), b"");
}

fn reads_of_missing_objects(server: Server) {
    let (uri, s) = store(server);
    let err = s.get("nope").unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                operation: Operation::Read,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}/nope: not found (reading the object)",
            uri.split('?').next().unwrap()
        )
    );
    no_secret(&err);
    let err = s.get_range("nope", 0, 1).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                operation: Operation::ReadRange,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}/nope: not found (a ranged read of the object)",
            uri.split('?').next().unwrap()
        )
    );
    assert!(matches!(
        s.get_range("nope", 0, 0),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(s.size("nope").unwrap(), None);
    s.put_new("dir/file", b"x").unwrap();
    // On S3 and Azure a key's "folder" is no object. s3s-fs keeps keys as files, and a
    // folder there is a directory it does not answer 404 for: a quirk of that server, not
    // S3's. On WebDAV a folder is a collection, which is there.
    if server != Server::S3sFs && server != Server::WsgiDav {
        assert!(matches!(s.get("dir"), Err(Error::NotFound { .. })));
        assert_eq!(s.size("dir").unwrap(), None);
    }
    assert_eq!(s.list("dir/file/").unwrap(), vec![]);
    // A collection that was never written lists empty.
    let empty = open(
        &uri_on(server, &unique_prefix("never")),
        &OpenOptions::default(),
    )
    .unwrap();
    assert_eq!(empty.list("").unwrap(), vec![]);
}

fn streaming_create_finish_and_abort(server: Server) {
    let (_, s) = store(server);
    let mut w = s.create_new("data/000001.sst").unwrap();
    for i in 0..1000u32 {
        w.write_all(&i.to_le_bytes()).unwrap();
    }
    assert_eq!(s.size("data/000001.sst").unwrap(), None);
    assert_eq!(s.list("").unwrap(), vec![]);
    assert_eq!(w.finish().unwrap(), 4000);
    assert_eq!(s.size("data/000001.sst").unwrap(), Some(4000));
    assert_eq!(
        s.get_range("data/000001.sst", 4 * 999, 4).unwrap(),
        999u32.to_le_bytes()
    );
    let mut w = s.create_new("data/000002.sst").unwrap();
    w.write_all(b"partial").unwrap();
    w.abort();
    {
        let mut w = s.create_new("data/000003.sst").unwrap();
        w.write_all(b"dropped").unwrap();
    }
    assert_eq!(paths(s.as_ref(), ""), vec!["data/000001.sst"]);
    s.put_new("data/000002.sst", b"x").unwrap();
    assert!(matches!(
        s.create_new("data/000001.sst").map(|_| ()),
        Err(Error::AlreadyExists { .. })
    ));
}

fn concurrent_creators_of_one_path_one_wins(server: Server) {
    let (_, s) = store(server);
    let s: Arc<dyn Store> = Arc::from(s);
    for round in 0..20 {
        let path = format!("metadata/latest/LATEST-{round}");
        let barrier = Arc::new(Barrier::new(4));
        let handles: Vec<_> = (0..4u8)
            .map(|t| {
                let (s, barrier, path) = (Arc::clone(&s), Arc::clone(&barrier), path.clone());
                std::thread::spawn(move || {
                    let mut w = s.create_new(&path).unwrap();
                    w.write_all(&vec![t; 10_000 + usize::from(t)]).unwrap();
                    barrier.wait();
                    (t, w.finish())
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<u8> = results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        for (_, r) in &results {
            if let Err(e) = r {
                assert!(matches!(e, Error::AlreadyExists { .. }), "{e:?}");
            }
        }
        let w = winners[0];
        assert_eq!(s.get(&path).unwrap(), vec![w; 10_000 + usize::from(w)]);
    }
}

fn list_is_recursive_sorted_with_sizes_and_prefix_filtered(server: Server) {
    let (_, s) = store(server);
    for (p, n) in [
        ("b/2", 2),
        ("a/1", 1),
        ("a/sub/deeper/x", 5),
        ("ab", 3),
        ("a/10", 10),
        ("metadata/latest/LATEST-2", 7),
        ("metadata/latest/LATEST-10", 8),
        (".DS_Store", 4),
    ] {
        s.put_new(p, &vec![0; n]).unwrap();
    }
    let all = s.list("").unwrap();
    assert_eq!(
        all,
        [
            (".DS_Store", 4),
            ("a/1", 1),
            ("a/10", 10),
            ("a/sub/deeper/x", 5),
            ("ab", 3),
            ("b/2", 2),
            ("metadata/latest/LATEST-10", 8),
            ("metadata/latest/LATEST-2", 7),
        ]
        .map(|(p, size)| ObjectMeta {
            path: p.to_string(),
            size
        })
    );
    assert_eq!(
        paths(s.as_ref(), "a/"),
        vec!["a/1", "a/10", "a/sub/deeper/x"]
    );
    assert_eq!(
        paths(s.as_ref(), "a"),
        vec!["a/1", "a/10", "a/sub/deeper/x", "ab"]
    );
    assert_eq!(paths(s.as_ref(), "a/1"), vec!["a/1", "a/10"]);
    assert_eq!(paths(s.as_ref(), "a/s"), vec!["a/sub/deeper/x"]);
    assert_eq!(
        paths(s.as_ref(), "metadata/latest/LATEST-"),
        vec!["metadata/latest/LATEST-10", "metadata/latest/LATEST-2"]
    );
    assert_eq!(paths(s.as_ref(), "zzz"), Vec::<String>::new());
    assert_eq!(paths(s.as_ref(), "nothing/here/"), Vec::<String>::new());
}

fn a_store_sees_only_its_own_prefix(server: Server) {
    let base = unique_prefix("nested");
    let outer = open(&uri_on(server, &base), &OpenOptions::default()).unwrap();
    let inner = open(
        &uri_on(server, &format!("{base}/in")),
        &OpenOptions::default(),
    )
    .unwrap();
    let sibling = open(
        &uri_on(server, &format!("{base}/inx")),
        &OpenOptions::default(),
    )
    .unwrap();
    inner.put_new("a", b"1").unwrap();
    sibling.put_new("b", b"2").unwrap();
    assert_eq!(paths(inner.as_ref(), ""), vec!["a"]);
    assert_eq!(paths(sibling.as_ref(), ""), vec!["b"]);
    assert_eq!(paths(outer.as_ref(), ""), vec!["in/a", "inx/b"]);
    assert_eq!(outer.get("in/a").unwrap(), b"1");
    // A trailing slash names the same prefix.
    let slash = open(
        &uri_on(server, &format!("{base}/in/")),
        &OpenOptions::default(),
    )
    .unwrap();
    assert_eq!(paths(slash.as_ref(), ""), vec!["a"]);
}

fn get_range_is_exact(server: Server) {
    let (_, s) = store(server);
    s.put_new("f", b"0123456789").unwrap();
    assert_eq!(s.get_range("f", 0, 10).unwrap(), b"0123456789");
    assert_eq!(s.get_range("f", 3, 4).unwrap(), b"3456");
    assert_eq!(s.get_range("f", 10, 0).unwrap(), b"");
    for (off, len) in [
        (0, 11),
        (9, 2),
        (10, 1),
        (11, 0),
        (u64::MAX, 1),
        (1, u64::MAX),
    ] {
        match s.get_range("f", off, len) {
            Err(Error::RangeOutOfBounds {
                path,
                offset,
                len: asked,
                size,
            }) => {
                assert!(path.ends_with("/f"), "{path}");
                assert_eq!((offset, asked, size), (off, len, 10));
            }
            other => panic!("[{off}, +{len}): {other:?}"),
        }
    }
}

fn invalid_paths_are_refused_by_every_operation(server: Server) {
    let (_, s) = store(server);
    for bad in [
        "",
        "/etc/passwd",
        "../outside",
        "a/../../b",
        "a//b",
        "a/",
        "a\0b",
    ] {
        let errs = [
            s.get(bad).err(),
            s.get_range(bad, 0, 0).err(),
            s.size(bad).err(),
            s.put_new(bad, b"x").err(),
            s.create_new(bad).err(),
        ];
        for e in errs {
            match e {
                Some(Error::InvalidPath { path, .. }) => assert_eq!(path, bad),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
    assert!(matches!(s.list("../"), Err(Error::InvalidPath { .. })));
    assert_eq!(s.list("").unwrap(), vec![]);
}

fn a_missing_bucket_is_an_error_naming_the_object_not_the_secret(server: Server) {
    let uri = uri_on(server, "x").replacen(S3_BUCKET, "no-such-bucket", 1);
    let scheme = uri.split("://").next().unwrap();
    let s = open(&uri, &OpenOptions::default()).unwrap();
    let err = s.put_new("a", b"1").unwrap_err();
    no_secret(&err);
    let object = format!("{scheme}://no-such-bucket/x/a");
    assert!(
        matches!(&err, Error::NotFound { path, .. } | Error::Io { path, .. } if *path == object),
        "{err:?}"
    );
}

/// With a wrong secret every operation is refused by the service, and the error says which
/// operation on which object was refused (and never the secret).
fn wrong_credentials_are_denied_naming_object_and_operation(server: Server) {
    let (uri, s) = store(server);
    s.put_new("x", b"1").unwrap();
    let [raw, encoded] = [server.secrets()[0], server.secrets()[1]];
    // Another valid secret of the same shape (Azure keys are base64).
    let wrong = uri.replace(encoded, &encoded.replacen('B', "C", 1));
    assert_ne!(wrong, uri);
    let w = open(&wrong, &OpenOptions::default()).unwrap();
    let shown = uri.split('?').next().unwrap();
    let results = [
        (w.get("x").err(), Operation::Read, "x"),
        (w.get_range("x", 0, 1).err(), Operation::ReadRange, "x"),
        (w.size("x").err(), Operation::Size, "x"),
        (w.list("").err(), Operation::List, ""),
        (w.put_new("y", b"2").err(), Operation::Write, "y"),
    ];
    for (e, op, object) in results {
        let e = e.unwrap_or_else(|| panic!("{op:?} succeeded with a wrong secret"));
        no_secret(&e);
        assert!(!e.to_string().contains(raw), "{e}");
        match &e {
            Error::Denied {
                path,
                operation,
                status,
            } => {
                let want = if object.is_empty() {
                    shown.to_string()
                } else {
                    format!("{shown}/{object}")
                };
                assert_eq!(
                    (path.as_str(), *operation, *status),
                    (want.as_str(), op, 403)
                );
            }
            other => panic!("{op:?}: {other:?}"),
        }
    }
    let e = w.put_new("y", b"2").unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{shown}/y: writing the object refused by the service: permission denied (403 Forbidden)")
    );
    // Nothing was written.
    assert_eq!(paths(s.as_ref(), ""), vec!["x"]);
}

#[test]
fn s3_uri_parameters() {
    let ep = s3_endpoint();
    let o = OpenOptions::default();
    let key = "AWS_ACCESS_KEY_ID=k";
    let secret = format!("AWS_SECRET_ACCESS_KEY={S3_SECRET_IN_URI}");
    // Accepted: the key pair, a session token, region, storage class, path style, and
    // COCKROACH_LOCALITY (read elsewhere).
    for q in [
        format!("AWS_ENDPOINT={ep}&{key}&{secret}"),
        format!("AWS_ENDPOINT={ep}/&AUTH=specified&{key}&{secret}&AWS_SESSION_TOKEN=t&AWS_REGION=eu-west-1"),
        format!("AWS_ENDPOINT={ep}&{key}&{secret}&S3_STORAGE_CLASS=STANDARD_IA&AWS_USE_PATH_STYLE=true"),
        format!("AWS_ENDPOINT={ep}&{key}&{secret}&COCKROACH_LOCALITY=default"),
        "AUTH=implicit".to_string(),
        format!("{key}&{secret}"),
    ] {
        let uri = format!("s3://{S3_BUCKET}/p?{q}");
        let s = open(&uri, &o).unwrap_or_else(|e| panic!("{q}: {e}"));
        assert_eq!(s.uri(), format!("s3://{S3_BUCKET}/p"));
        assert_eq!(s.location().unwrap().host, S3_BUCKET);
    }
    // Writes with a storage class succeed (the class is sent with every new object).
    let p = unique_prefix("class");
    let s = open(
        &format!(
            "s3://{S3_BUCKET}/{p}?AWS_ENDPOINT={ep}&{key}&{secret}&S3_STORAGE_CLASS=STANDARD_IA"
        ),
        &o,
    )
    .unwrap();
    s.put_new("x", b"1").unwrap();
    assert_eq!(s.get("x").unwrap(), b"1");

    // Refused, naming the reason and never the secret.
    for (q, needle) in [
        (format!("AWS_ENDPOINT={ep}&{secret}"), "AUTH=specified"),
        (format!("AWS_ENDPOINT={ep}&{key}"), "AUTH=specified"),
        (
            format!("AUTH=implicit&{key}&{secret}"),
            "AUTH=implicit takes",
        ),
        (
            format!("AUTH=magic&{key}&{secret}"),
            "expected specified or implicit",
        ),
        (
            format!("{key}&{secret}&AWS_ENDPOINT=ftp://x"),
            "AWS_ENDPOINT",
        ),
        (
            format!("{key}&{secret}&AWS_USE_PATH_STYLE=maybe"),
            "AWS_USE_PATH_STYLE",
        ),
        (
            format!("{key}&{secret}&AWS_SECRET_KEY=typo"),
            "unknown S3 parameter \"AWS_SECRET_KEY\"",
        ),
    ] {
        let uri = format!("s3://{S3_BUCKET}/p?{q}");
        match open(&uri, &o) {
            Err(e @ Error::BadUri { .. }) => {
                no_secret(&e);
                let Error::BadUri { uri: shown, reason } = &e else {
                    unreachable!()
                };
                assert_eq!(shown, &redact_uri(&uri));
                assert!(
                    shown.starts_with(&format!("s3://{S3_BUCKET}/p?")),
                    "{shown}"
                );
                assert!(reason.contains(needle), "{q}: {reason}");
            }
            other => panic!("{q}: {other:?}"),
        }
    }
    // The scheme is case-insensitive.
    let s = open(&format!("S3://{S3_BUCKET}/p?{key}&{secret}"), &o).unwrap();
    assert_eq!(s.location().unwrap().host, S3_BUCKET);
    match open(&format!("s3:///p?{key}&{secret}"), &o) {
        Err(Error::BadUri { reason, .. }) => assert!(reason.contains("missing bucket"), "{reason}"),
        other => panic!("{other:?}"),
    }
    match open(&format!("s3://b/p?{key}&{secret}&ASSUME_ROLE=arn"), &o) {
        Err(Error::Unsupported { scheme, feature }) => {
            assert_eq!(
                (scheme.as_str(), feature.as_str()),
                ("s3", "the S3 parameter ASSUME_ROLE")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn http_uri_parameters() {
    let ep = endpoint_of(Server::WsgiDav);
    let o = OpenOptions::default();
    let p = unique_prefix("http-params");
    // The URL's path is the store's root; a trailing slash changes nothing; escapes are
    // kept as written; COCKROACH_LOCALITY is read elsewhere.
    let a = open(&format!("{ep}/vouch-test/{p}/dir%20one"), &o).unwrap();
    assert_eq!(a.uri(), format!("{ep}/vouch-test/{p}/dir%20one"));
    a.put_new("x", b"1").unwrap();
    let b = open(
        &format!("{ep}/vouch-test/{p}/dir%20one/?COCKROACH_LOCALITY=default"),
        &o,
    )
    .unwrap();
    assert_eq!(b.get("x").unwrap(), b"1");
    let parent = open(&format!("{ep}/vouch-test/{p}"), &o).unwrap();
    assert_eq!(paths(parent.as_ref(), ""), vec!["dir one/x"]);
    // Refused: credentials in the URL (not supported yet), a parameter nobody knows, no
    // host.
    match open(&format!("http://user:pw@127.0.0.1:1/{p}"), &o) {
        Err(Error::Unsupported { scheme, feature }) => {
            assert_eq!(scheme, "http");
            assert!(feature.contains("credentials"), "{feature}");
        }
        other => panic!("{other:?}"),
    }
    match open(&format!("{ep}/{p}?AWS_SECRET_ACCESS_KEY=x"), &o) {
        Err(Error::BadUri { reason, .. }) => {
            assert!(reason.contains("unknown HTTP parameter"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    match open("https:///p", &o) {
        Err(Error::BadUri { reason, .. }) => assert!(reason.contains("missing host"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn azure_uri_parameters() {
    let ep = endpoint_of(Server::Azurite);
    let o = OpenOptions::default();
    let account = format!("AZURE_ACCOUNT_NAME={AZURE_ACCOUNT}");
    let key = format!("AZURE_ACCOUNT_KEY={AZURE_KEY_IN_URI}");
    // Accepted: the account and key (the seeds' examples among them), an environment, an
    // endpoint, COCKROACH_LOCALITY (read elsewhere), AUTH=implicit; every scheme name.
    for uri in [
        format!("azure://{S3_BUCKET}/p?{account}&{key}&AZURE_ENDPOINT={ep}"),
        format!("azure-blob://{S3_BUCKET}/p?AUTH=specified&{account}&{key}&AZURE_ENDPOINT={ep}/&COCKROACH_LOCALITY=default"),
        format!("azure-storage://{S3_BUCKET}/p?{account}&{key}&AZURE_ENVIRONMENT=AzureUSGovernmentCloud"),
        format!("AZURE://{S3_BUCKET}/p?{account}&{key}&AZURE_ENVIRONMENT=azurechinacloud"),
        format!("azure://{S3_BUCKET}/p?AZURE_ACCOUNT_KEY=hash&AZURE_ACCOUNT_NAME=acme-co"),
        format!("azure://{S3_BUCKET}/p?AUTH=implicit&{account}"),
    ] {
        let s = open(&uri, &o).unwrap_or_else(|e| panic!("{uri}: {e}"));
        assert_eq!(s.uri(), uri.split('?').next().unwrap().to_string());
        assert_eq!(s.location().unwrap().host, S3_BUCKET);
    }
    // The endpoint is used: an object written through one URI is read through another
    // naming the same account, container and prefix.
    let p = unique_prefix("azure-params");
    let a = open(
        &format!("azure://{S3_BUCKET}/{p}?{account}&{key}&AZURE_ENDPOINT={ep}"),
        &o,
    )
    .unwrap();
    a.put_new("x", b"1").unwrap();
    let b = open(
        &format!("azure-blob://{S3_BUCKET}/{p}/?AZURE_ENDPOINT={ep}/&{key}&{account}"),
        &o,
    )
    .unwrap();
    assert_eq!(b.get("x").unwrap(), b"1");
    // A wrong key is refused by the server: an error naming the object, never the key.
    let wrong = "d3JvbmcgYnV0IHZhbGlkIGJhc2U2NA==";
    let w = open(
        &format!("azure://{S3_BUCKET}/{p}?{account}&AZURE_ACCOUNT_KEY={wrong}&AZURE_ENDPOINT={ep}"),
        &o,
    )
    .unwrap();
    match w.get("x") {
        Err(e @ Error::Denied { .. }) => {
            let Error::Denied {
                path,
                operation,
                status,
            } = &e
            else {
                unreachable!()
            };
            assert_eq!(path, &format!("azure://{S3_BUCKET}/{p}/x"));
            assert_eq!((*operation, *status), (Operation::Read, 403));
            assert!(!e.to_string().contains(wrong), "{e}");
        }
        other => panic!("{other:?}"),
    }

    // Refused, naming the reason and never the key.
    for (q, needle) in [
        (
            format!("{key}&AZURE_ENDPOINT={ep}"),
            "missing AZURE_ACCOUNT_NAME",
        ),
        (format!("{account}&AZURE_ENDPOINT={ep}"), "AUTH=specified"),
        (
            format!("AUTH=implicit&{account}&{key}"),
            "AUTH=implicit takes",
        ),
        (
            format!("AUTH=magic&{account}&{key}"),
            "expected specified or implicit",
        ),
        (
            format!("{account}&{key}&AZURE_ENDPOINT=ftp://x"),
            "AZURE_ENDPOINT",
        ),
        (
            format!("{account}&{key}&AZURE_ENVIRONMENT=Mars"),
            "AZURE_ENVIRONMENT=\"Mars\"",
        ),
        (
            format!("{account}&{key}&AZURE_ENVIRONMENT=AzureChinaCloud&AZURE_ENDPOINT={ep}"),
            "remove AZURE_ENVIRONMENT",
        ),
        (
            format!("AZURE_ACCOUNT_NAME=a.b&{key}"),
            "AZURE_ACCOUNT_NAME",
        ),
        (
            format!("{account}&AZURE_ACCOUNT_KEY=not!base64{AZURE_KEY_IN_URI}"),
            "not base64",
        ),
        // A '+' written raw in a query is a space: the key is no longer base64.
        (
            format!("{account}&AZURE_ACCOUNT_KEY={AZURE_KEY}"),
            "not base64",
        ),
        (
            format!("{account}&{key}&AZURE_ACCOUNT_KAY=typo"),
            "unknown Azure parameter \"AZURE_ACCOUNT_KAY\"",
        ),
    ] {
        let uri = format!("azure://{S3_BUCKET}/p?{q}");
        match open(&uri, &o) {
            Err(e @ Error::BadUri { .. }) => {
                no_secret(&e);
                let Error::BadUri { uri: shown, reason } = &e else {
                    unreachable!()
                };
                assert_eq!(shown, &redact_uri(&uri));
                assert!(reason.contains(needle), "{q}: {reason}");
            }
            other => panic!("{q}: {other:?}"),
        }
    }
    match open(&format!("azure:///p?{account}&{key}"), &o) {
        Err(Error::BadUri { reason, .. }) => {
            assert!(reason.contains("missing container"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    match open(
        &format!("azure://c/p?{account}&AZURE_CLIENT_SECRET=s&AZURE_CLIENT_ID=i&AZURE_TENANT_ID=t"),
        &o,
    ) {
        Err(Error::Unsupported { scheme, feature }) => {
            assert_eq!(scheme, "azure");
            assert!(
                feature.starts_with("the Azure parameter AZURE_"),
                "{feature}"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// Throttling (429) and server errors (500, 503) are retried with backoff
/// (`object_store`'s retry policy, spec/storage.md): through a proxy that answers the next
/// few requests of a kind itself with the error, every operation still gives the exact
/// answer, and the proxy served exactly the faults it was armed with (so the requests were
/// retried, not skipped).
fn transient_failures_are_retried(server: Server) {
    let (_turn, proxy, s) = proxied_store(server, "retry");
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    s.put_new("a/data.sst", &data).unwrap();
    s.put_new("a/b", b"small").unwrap();
    let list_method = if server == Server::WsgiDav {
        "PROPFIND"
    } else {
        "GET"
    };
    // GCS's create is a JSON API multipart upload (a POST).
    let put_method = if server == Server::FakeGcs {
        "POST"
    } else {
        "PUT"
    };
    for (status, method, what) in [
        (503, "GET", "get"),
        (500, "GET", "range"),
        (429, "HEAD", "size"),
        (503, list_method, "list"),
        (503, put_method, "put"),
    ] {
        arm_faults(proxy, 3, status, method);
        match what {
            "get" => assert!(s.get("a/data.sst").unwrap() == data),
            "range" => assert_eq!(
                s.get_range("a/data.sst", 70_000, 1_000).unwrap(),
                data[70_000..71_000]
            ),
            "size" => assert_eq!(s.size("a/data.sst").unwrap(), Some(100_000)),
            "list" => assert_eq!(
                s.list("a/").unwrap(),
                vec![
                    ObjectMeta {
                        path: "a/b".into(),
                        size: 5
                    },
                    ObjectMeta {
                        path: "a/data.sst".into(),
                        size: 100_000
                    },
                ]
            ),
            _ => {
                s.put_new("a/put", b"after faults").unwrap();
                assert_eq!(s.get("a/put").unwrap(), b"after faults");
            }
        }
        let (armed, served, forwarded) = fault_counts(proxy);
        assert_eq!(
            (armed, served),
            (0, 3),
            "{what} on {server:?}: {status} {method}"
        );
        assert!(forwarded >= 1, "{what}: the retry reached the server");
    }
    // A 404 is final, not retried, and names the object and the operation.
    arm_faults(proxy, 0, 503, "");
    let err = s.get_range("a/nope", 0, 1).unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { path, operation: Operation::ReadRange } if path.ends_with("/a/nope")),
        "{err:?}"
    );
}

/// Every `x-amz-*` header of every request is covered by the request's SigV4 signature, as
/// Amazon S3 demands (it refuses others with 403 AccessDenied, "There were headers present
/// in the request which were not signed"; Garage does too). Neither moto nor s3s-fs checks
/// it, so the requests of every store operation, and the refused conditional write, go
/// through the fault proxy, which holds them to S3's rule and counts them. (vouch's
/// `x-amz-sdk-checksum-algorithm` was a client default header: `object_store` signs those
/// on uploads and reads, but its listing request sent it unsigned.)
fn every_amz_header_is_signed(server: Server) {
    let _turn = proxy_turn();
    let (proxy, endpoint) = fault_proxy(server);
    let uri = format!(
        "{}&S3_STORAGE_CLASS=STANDARD",
        uri_at(server, endpoint, &unique_prefix("signed"))
    );
    let s = open(&uri, &OpenOptions::default()).unwrap();
    arm_faults(proxy, 0, 503, "");
    s.put_new("a/one", b"first").unwrap();
    assert!(matches!(
        s.put_new("a/one", b"second"),
        Err(Error::AlreadyExists { .. })
    ));
    let mut w = s.create_new("a/two").unwrap();
    w.write_all(b"streamed").unwrap();
    assert_eq!(w.finish().unwrap(), 8);
    assert_eq!(paths(s.as_ref(), "a/"), vec!["a/one", "a/two"]);
    assert_eq!(s.get("a/one").unwrap(), b"first");
    assert_eq!(s.get_range("a/two", 2, 3).unwrap(), b"rea");
    assert_eq!(s.size("a/two").unwrap(), Some(8));
    assert_eq!(s.size("a/none").unwrap(), None);
    assert!(matches!(s.get("a/none"), Err(Error::NotFound { .. })));
    let (signed, unsigned) = sigv4_requests(proxy);
    assert_eq!(
        unsigned, 0,
        "{server:?}: requests with unsigned x-amz-* headers"
    );
    assert!(signed >= 10, "{server:?}: {signed} signed requests seen");
}

/// Empty folder markers (`folder/`) that copy tools and consoles leave are not objects of
/// the listing: neither the store root's own nor those of folders holding objects. An
/// empty object of its own (`empty`) is listed; so is a marker with nothing below it,
/// which no listing can tell from an empty object (the clients drop the trailing `/`).
#[test]
fn folder_markers_are_not_listed() {
    let prefix = unique_prefix("markers");
    let s = open(&uri_on(Server::Moto, &prefix), &OpenOptions::default()).unwrap();
    s.put_new("2026/12/04-120000.00/BACKUP_MANIFEST", b"m")
        .unwrap();
    s.put_new("2026/12/04-120000.00/data/000001.sst", b"sst")
        .unwrap();
    s.put_new("empty", b"").unwrap();
    for key in [
        "",
        "2026/",
        "2026/12/",
        "2026/12/04-120000.00/data/",
        "lonely/",
    ] {
        put_folder_marker(&format!("{prefix}/{key}"));
    }
    let meta = |path: &str, size| ObjectMeta {
        path: path.into(),
        size,
    };
    assert_eq!(
        s.list("").unwrap(),
        vec![
            meta("2026/12/04-120000.00/BACKUP_MANIFEST", 1),
            meta("2026/12/04-120000.00/data/000001.sst", 3),
            meta("empty", 0),
            meta("lonely", 0),
        ]
    );
    assert_eq!(
        paths(&*s, "2026/12/04-120000.00/"),
        [
            "2026/12/04-120000.00/BACKUP_MANIFEST",
            "2026/12/04-120000.00/data/000001.sst"
        ]
    );
}

// ---- gs:// (read-only) --------------------------------------------------------------

/// A new prefix of the GCS emulator's bucket holding `objects` (uploaded through the
/// emulator's JSON API), and a store on it.
fn seeded_gcs(objects: &[(&str, &[u8])]) -> (String, String, Box<dyn Store>) {
    let prefix = unique_prefix("gcs");
    for (path, bytes) in objects {
        gcs_upload(&format!("{prefix}/{path}"), bytes);
    }
    let uri = uri_on(Server::FakeGcs, &prefix);
    let s = open(&uri, &OpenOptions::default()).unwrap();
    (prefix, uri, s)
}

/// Every read of the store contract on `gs://`: whole and ranged reads, sizes, sorted
/// string-prefix listings with sizes, a store seeing only its own prefix, and the exact
/// errors of missing objects, ranges past the end and invalid paths, none naming the
/// credentials.
#[test]
fn gcs_reads_what_the_bucket_holds() {
    let (prefix, uri, s) = seeded_gcs(&[
        ("2026/11/21-120000.00/BACKUP_MANIFEST", b"manifest"),
        ("2026/11/21-120000.00/data/000001.sst", b"0123456789"),
        ("a/b", b"ab"),
        ("a/bc", b"abc"),
        ("ab", b"x"),
        ("empty", b""),
    ]);
    // A neighbour whose name starts with this store's prefix is not this store's.
    gcs_upload(&format!("{prefix}x/other"), b"other");
    let shown = uri.split('?').next().unwrap();
    assert_eq!(s.uri(), shown);
    assert_eq!(s.location().unwrap().uri, uri);
    assert_eq!(
        s.get("2026/11/21-120000.00/BACKUP_MANIFEST").unwrap(),
        b"manifest"
    );
    assert_eq!(s.get("empty").unwrap(), b"");
    assert_eq!(s.size("empty").unwrap(), Some(0));
    assert_eq!(s.size("a/bc").unwrap(), Some(3));
    assert_eq!(
        s.get_limited("2026/11/21-120000.00/BACKUP_MANIFEST", 8)
            .unwrap(),
        b"manifest"
    );
    assert!(matches!(
        s.get_limited("2026/11/21-120000.00/BACKUP_MANIFEST", 7),
        Err(Error::TooLarge {
            size: 8,
            limit: 7,
            ..
        })
    ));
    let f = "2026/11/21-120000.00/data/000001.sst";
    assert_eq!(s.get_range(f, 0, 10).unwrap(), b"0123456789");
    assert_eq!(s.get_range(f, 3, 4).unwrap(), b"3456");
    assert_eq!(s.get_range(f, 10, 0).unwrap(), b"");
    for (off, len) in [
        (0, 11),
        (9, 2),
        (10, 1),
        (11, 0),
        (u64::MAX, 1),
        (1, u64::MAX),
    ] {
        match s.get_range(f, off, len) {
            Err(Error::RangeOutOfBounds {
                path,
                offset,
                len: asked,
                size,
            }) => {
                assert_eq!(path, format!("{shown}/{f}"));
                assert_eq!((offset, asked, size), (off, len, 10));
            }
            other => panic!("[{off}, +{len}): {other:?}"),
        }
    }
    let meta = |path: &str, size| ObjectMeta {
        path: path.into(),
        size,
    };
    assert_eq!(
        s.list("").unwrap(),
        vec![
            meta("2026/11/21-120000.00/BACKUP_MANIFEST", 8),
            meta("2026/11/21-120000.00/data/000001.sst", 10),
            meta("a/b", 2),
            meta("a/bc", 3),
            meta("ab", 1),
            meta("empty", 0),
        ]
    );
    assert_eq!(paths(&*s, "a/"), ["a/b", "a/bc"]);
    assert_eq!(paths(&*s, "a/b"), ["a/b", "a/bc"]);
    assert_eq!(paths(&*s, "a"), ["a/b", "a/bc", "ab"]);
    assert_eq!(paths(&*s, "2026/11/21-120000.00/data/"), [f]);
    assert_eq!(s.list("nothing/").unwrap(), vec![]);

    // Missing objects.
    for (e, op) in [
        (s.get("nope").unwrap_err(), Operation::Read),
        (s.get_range("nope", 0, 1).unwrap_err(), Operation::ReadRange),
        (s.get_range("nope", 0, 0).unwrap_err(), Operation::ReadRange),
    ] {
        no_secret(&e);
        match &e {
            Error::NotFound { path, operation } => {
                assert_eq!(
                    (path.as_str(), *operation),
                    (format!("{shown}/nope").as_str(), op)
                );
            }
            other => panic!("{op:?}: {other:?}"),
        }
    }
    assert_eq!(
        s.get("nope").unwrap_err().to_string(),
        format!("{shown}/nope: not found (reading the object)")
    );
    assert_eq!(s.size("nope").unwrap(), None);
    // A key's "folder" is no object.
    assert_eq!(s.size("a").unwrap(), None);
    let never = open(
        &uri_on(Server::FakeGcs, &unique_prefix("never")),
        &OpenOptions::default(),
    )
    .unwrap();
    assert_eq!(never.list("").unwrap(), vec![]);
    for bad in ["", "/etc/passwd", "../outside", "a//b", "a/", "a\0b"] {
        for e in [
            s.get(bad).err(),
            s.get_range(bad, 0, 0).err(),
            s.size(bad).err(),
            s.put_new(bad, b"x").err(),
        ] {
            assert!(
                matches!(&e, Some(Error::InvalidPath { .. })),
                "{bad:?}: {e:?}"
            );
        }
    }
    assert!(matches!(s.list("../"), Err(Error::InvalidPath { .. })));
}

/// Reads from `gs://` retry throttling (429) and server errors (500, 503) as the other
/// object stores do: through a proxy of the emulator answering the next few requests of a
/// kind itself with the error, every read gives the exact answer and the proxy served
/// exactly the faults it was armed with. A 404 is final and names the object and the
/// operation.
#[test]
fn gcs_reads_are_retried() {
    let _one = proxy_turn();
    let (proxy, endpoint) = fault_proxy(Server::FakeGcs);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let (prefix, _, _) = seeded_gcs(&[("a/data.sst", &data), ("a/b", b"small")]);
    let creds = percent_encode(&gcs_credentials(servers::GCS_PRIVATE_KEY), false);
    let s = open(
        &gcs_uri_at(endpoint, &prefix, &creds),
        &OpenOptions::default(),
    )
    .unwrap();
    for (status, method, what) in [
        (503, "GET", "get"),
        (500, "GET", "range"),
        (429, "HEAD", "size"),
        (503, "GET", "list"),
    ] {
        arm_faults(proxy, 3, status, method);
        match what {
            "get" => assert!(s.get("a/data.sst").unwrap() == data),
            "range" => assert_eq!(
                s.get_range("a/data.sst", 70_000, 1_000).unwrap(),
                data[70_000..71_000]
            ),
            "size" => assert_eq!(s.size("a/data.sst").unwrap(), Some(100_000)),
            _ => assert_eq!(
                s.list("a/").unwrap(),
                vec![
                    ObjectMeta {
                        path: "a/b".into(),
                        size: 5
                    },
                    ObjectMeta {
                        path: "a/data.sst".into(),
                        size: 100_000
                    },
                ]
            ),
        }
        let (armed, served, forwarded) = fault_counts(proxy);
        assert_eq!((armed, served), (0, 3), "{what}: {status} {method}");
        assert!(forwarded >= 1, "{what}: the retry reached the server");
    }
    arm_faults(proxy, 0, 503, "");
    let err = s.get_range("a/nope", 0, 1).unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { path, operation: Operation::ReadRange } if path.ends_with("/a/nope")),
        "{err:?}"
    );
}

/// A service account key with a real RSA private key (made by `openssl genpkey`, as
/// Google's keys are PKCS#8 PEM): the client signs its own token (a JWT, no token
/// server) and the emulator, which checks no credentials, answers the reads. A key whose
/// private key is not RSA is refused when the store is opened, without quoting it.
#[test]
fn gcs_signs_with_a_service_account_key() {
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .expect("openssl (Debian's openssl package) makes the test key");
    assert!(out.status.success(), "openssl genpkey: {out:?}");
    let pem = String::from_utf8(out.stdout).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
    let json = format!(
        "{{\"type\":\"service_account\",\"private_key_id\":\"k1\",\"private_key\":{},\"client_email\":\"vouch@vouch-test.iam.gserviceaccount.com\"}}",
        json_string(&pem)
    );
    let creds = percent_encode(&base64(&json), false);
    let (prefix, _, _) = seeded_gcs(&[("x", b"signed")]);
    let ep = endpoint_of(Server::FakeGcs);
    let s = open(&gcs_uri_at(ep, &prefix, &creds), &OpenOptions::default()).unwrap();
    assert_eq!(s.get("x").unwrap(), b"signed");
    assert_eq!(paths(&*s, ""), ["x"]);
    // Writes go through Google's client with the same credentials (the token the key
    // signs): a new object is created, an existing one is not replaced.
    s.put_new("y", b"signed write").unwrap();
    assert!(matches!(
        s.put_new("x", b"replaced"),
        Err(Error::AlreadyExists { .. })
    ));
    assert_eq!(s.get("y").unwrap(), b"signed write");
    assert_eq!(s.get("x").unwrap(), b"signed");

    let not_rsa = percent_encode(
        &base64(
            r#"{"type":"service_account","private_key_id":"k1","private_key":"canaryNotAnRsaKey","client_email":"vouch@vouch-test.iam.gserviceaccount.com"}"#,
        ),
        false,
    );
    let uri = gcs_uri_at(ep, &prefix, &not_rsa);
    match open(&uri, &OpenOptions::default()) {
        Err(e @ Error::BadUri { .. }) => {
            assert!(!e.to_string().contains("canaryNotAnRsaKey"), "{e}");
            assert!(!e.to_string().contains(&not_rsa), "{e}");
            assert!(e.to_string().contains("RSA private key"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

/// A JSON string literal of `s`.
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Standard base64 of `s` (the test key's JSON).
fn base64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn gcs_uri_parameters() {
    let ep = endpoint_of(Server::FakeGcs);
    let o = OpenOptions::default();
    let secrets = Server::FakeGcs.secrets();
    let creds = format!("CREDENTIALS={}", secrets[2]);
    // Accepted: a key (AUTH=specified or by default), an endpoint with or without a
    // trailing '/', COCKROACH_LOCALITY (read elsewhere), AUTH=implicit (no request is sent
    // when a store is opened); the scheme in any case.
    for uri in [
        format!("gs://{S3_BUCKET}/p?{creds}&GS_ENDPOINT={ep}"),
        format!("gs://{S3_BUCKET}/p?AUTH=specified&{creds}&GS_ENDPOINT={ep}/&COCKROACH_LOCALITY=default"),
        format!("GS://{S3_BUCKET}/p?{creds}"),
        format!("gs://{S3_BUCKET}/p?AUTH=implicit"),
        format!("gs://{S3_BUCKET}/p?AUTH=implicit&GS_ENDPOINT=https://storage.example.com/base"),
    ] {
        let s = open(&uri, &o).unwrap_or_else(|e| panic!("{uri}: {e}"));
        assert_eq!(s.uri(), uri.split('?').next().unwrap().to_string());
        assert_eq!(s.location().unwrap().host, S3_BUCKET);
    }
    // The endpoint is used: objects uploaded to the emulator are read through a URI with
    // the prefix's trailing '/' and the endpoint's.
    let (prefix, _, _) = seeded_gcs(&[("x", b"1")]);
    let b = open(
        &format!("gs://{S3_BUCKET}/{prefix}/?GS_ENDPOINT={ep}/&{creds}"),
        &o,
    )
    .unwrap();
    assert_eq!(b.get("x").unwrap(), b"1");
    // The redacted form shows where, never the key.
    assert_eq!(
        redact_uri(&format!(
            "gs://{S3_BUCKET}/p?AUTH=specified&{creds}&GS_ENDPOINT={ep}"
        )),
        format!("gs://{S3_BUCKET}/p?AUTH=specified&CREDENTIALS=redacted&GS_ENDPOINT={ep}")
    );

    // Refused, naming the reason and never the key.
    let b64 = |s: &str| percent_encode(&base64(s), false);
    for (q, needle) in [
        (
            format!("GS_ENDPOINT={ep}"),
            "AUTH=specified (the default) needs CREDENTIALS",
        ),
        (
            format!("AUTH=specified&CREDENTIALS=&GS_ENDPOINT={ep}"),
            "needs CREDENTIALS",
        ),
        (format!("AUTH=implicit&{creds}"), "AUTH=implicit takes"),
        (
            format!("AUTH=magic&{creds}"),
            "expected specified or implicit",
        ),
        (format!("{creds}&GS_ENDPOINT=ftp://x"), "GS_ENDPOINT"),
        (format!("{creds}&GS_ENDPOINT=http://"), "GS_ENDPOINT"),
        (
            format!("{creds}&GCS_ENDPOINT={ep}"),
            "unknown GCS parameter \"GCS_ENDPOINT\"",
        ),
        // A '+' written raw in a query is a space: the value is no longer base64.
        (
            format!("CREDENTIALS=eyJ0+{}", secrets[2]),
            "percent-encode it as %2B",
        ),
        (
            format!("CREDENTIALS=not!base64{}", secrets[2]),
            "not base64",
        ),
        (
            format!("CREDENTIALS={}", b64("{\"private_key\": \"canary\"")),
            "not of a JSON key",
        ),
        (format!("CREDENTIALS={}", b64("\"canary\"")), "not of a key"),
        (
            format!(
                "CREDENTIALS={}",
                b64(r#"{"type":"authorized_user","refresh_token":"canary"}"#)
            ),
            "authorized_user",
        ),
        (
            format!(
                "CREDENTIALS={}",
                b64(
                    r#"{"type":"canary","client_email":"a","private_key":"k","private_key_id":"i"}"#
                )
            ),
            "not service_account",
        ),
        (
            format!(
                "CREDENTIALS={}",
                b64(r#"{"client_email":"a","private_key_id":"canary"}"#)
            ),
            "no private_key",
        ),
        (
            format!(
                "CREDENTIALS={}",
                b64(
                    r#"{"client_email":"a","private_key":"canary","private_key_id":"i","disable_oauth":"canary"}"#
                )
            ),
            "disable_oauth",
        ),
    ] {
        let uri = format!("gs://{S3_BUCKET}/p?{q}");
        match open(&uri, &o) {
            Err(e @ Error::BadUri { .. }) => {
                no_secret(&e);
                assert!(!e.to_string().contains("canary"), "{e}");
                let Error::BadUri { uri: shown, reason } = &e else {
                    unreachable!()
                };
                assert_eq!(shown, &redact_uri(&uri));
                assert!(reason.contains(needle), "{q}: {reason}");
            }
            other => panic!("{q}: {other:?}"),
        }
    }
    match open(&format!("gs:///p?{creds}"), &o) {
        Err(Error::BadUri { reason, .. }) => {
            assert!(reason.contains("missing bucket"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    for param in ["BEARER_TOKEN=t", "ASSUME_ROLE=r"] {
        match open(&format!("gs://b/p?{creds}&{param}"), &o) {
            Err(Error::Unsupported { scheme, feature }) => {
                assert_eq!(scheme, "gs");
                assert!(feature.starts_with("the GCS parameter "), "{feature}");
            }
            other => panic!("{param}: {other:?}"),
        }
    }
}

/// A whole object read under a size limit (`Store::get_limited`: manifests, checksums,
/// LATEST pointers) is one GET: the size its answer states is checked before the body is
/// read, with no HEAD first. A larger object is `TooLarge` with its size, a missing one
/// `NotFound` (reading), each also one request; the proxy counts them.
fn a_limited_read_is_one_request(server: Server) {
    let (_turn, proxy, s) = proxied_store(server, "limited");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    s.put_new("m/BACKUP_MANIFEST", &data).unwrap();
    arm_faults(proxy, 0, 503, "");
    assert!(s.get_limited("m/BACKUP_MANIFEST", 300_000).unwrap() == data);
    let err = s.get_limited("m/BACKUP_MANIFEST", 299_999).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::TooLarge {
                path,
                size: 300_000,
                limit: 299_999,
            } if path.ends_with("/m/BACKUP_MANIFEST")
        ),
        "{err:?}"
    );
    let err = s.get_limited("m/none", 10).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::NotFound {
                operation: Operation::Read,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(fault_counts(proxy), (0, 0, 3), "{server:?}");
    assert_eq!(heads_forwarded(proxy), 0, "{server:?}");
}

/// Each contract test on each server, but two that s3s-fs fails by quirks of
/// its own (spec/storage.md): it checks `If-None-Match` and then renames its temp file
/// into place, so racing conditional PUTs all succeed, and a PUT into a missing bucket
/// creates the bucket's folder. Real S3 (and moto, serialized by the script) refuse both.
macro_rules! on_servers {
    ($module:ident, $server:ident: $($name:ident),* $(,)?) => {
        mod $module {
            $(#[test]
            fn $name() {
                super::$name(super::Server::$server)
            })*
        }
    };
}

on_servers!(
    moto, Moto:
    transient_failures_are_retried,
    a_limited_read_is_one_request,
    every_amz_header_is_signed,
    put_new_is_write_once_by_the_service,
    reads_of_missing_objects,
    streaming_create_finish_and_abort,
    concurrent_creators_of_one_path_one_wins,
    list_is_recursive_sorted_with_sizes_and_prefix_filtered,
    a_store_sees_only_its_own_prefix,
    get_range_is_exact,
    invalid_paths_are_refused_by_every_operation,
    a_missing_bucket_is_an_error_naming_the_object_not_the_secret,
);

on_servers!(
    azurite, Azurite:
    transient_failures_are_retried,
    a_limited_read_is_one_request,
    put_new_is_write_once_by_the_service,
    reads_of_missing_objects,
    streaming_create_finish_and_abort,
    concurrent_creators_of_one_path_one_wins,
    list_is_recursive_sorted_with_sizes_and_prefix_filtered,
    a_store_sees_only_its_own_prefix,
    get_range_is_exact,
    invalid_paths_are_refused_by_every_operation,
    a_missing_bucket_is_an_error_naming_the_object_not_the_secret,
    wrong_credentials_are_denied_naming_object_and_operation,
);

on_servers!(
    wsgidav, WsgiDav:
    transient_failures_are_retried,
    a_limited_read_is_one_request,
    put_new_is_write_once_by_the_service,
    reads_of_missing_objects,
    streaming_create_finish_and_abort,
    concurrent_creators_of_one_path_one_wins,
    list_is_recursive_sorted_with_sizes_and_prefix_filtered,
    a_store_sees_only_its_own_prefix,
    get_range_is_exact,
    invalid_paths_are_refused_by_every_operation,
);

on_servers!(
    s3s_fs, S3sFs:
    transient_failures_are_retried,
    a_limited_read_is_one_request,
    every_amz_header_is_signed,
    wrong_credentials_are_denied_naming_object_and_operation,
    put_new_is_write_once_by_the_service,
    reads_of_missing_objects,
    streaming_create_finish_and_abort,
    list_is_recursive_sorted_with_sizes_and_prefix_filtered,
    a_store_sees_only_its_own_prefix,
    get_range_is_exact,
    invalid_paths_are_refused_by_every_operation,
);

on_servers!(
    fake_gcs, FakeGcs:
    transient_failures_are_retried,
    a_limited_read_is_one_request,
    put_new_is_write_once_by_the_service,
    reads_of_missing_objects,
    streaming_create_finish_and_abort,
    concurrent_creators_of_one_path_one_wins,
    list_is_recursive_sorted_with_sizes_and_prefix_filtered,
    a_store_sees_only_its_own_prefix,
    get_range_is_exact,
    invalid_paths_are_refused_by_every_operation,
    a_missing_bucket_is_an_error_naming_the_object_not_the_secret,
);
