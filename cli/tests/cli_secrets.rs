//! Secrets are never shown: a whole session whose storage URIs (collection and
//! `incremental_location`, on the real S3 test server and on Azurite; a collection read
//! from the GCS emulator with a canary service account key in `CREDENTIALS`) and KMS URI
//! carry canary secrets —
//! backups (CLI and `vouch sql`), show, verify (human, JSON, JUnit), restore, dump, and
//! failing commands — then every output and every stored byte (the objects in the bucket,
//! every file of the clusters and reports) is searched for the canaries.

mod common;

use std::path::Path;

use common::{text, vouch};
use vouch_keys::kms::aws::AwsKms;
use vouch_keys::kms::KmsUri;
use vouch_store::{open, OpenOptions};
use vouch_testkit::servers::{
    endpoint_of, gcs_credentials, gcs_upload_dir, gcs_uri_at, percent_encode, s3_endpoint,
    unique_prefix, uri_on, Server, AZURE_KEY, AZURE_KEY_IN_URI, S3_ACCESS_KEY_ID, S3_BUCKET,
};

/// The canaries as a user writes them (percent-encoded where they hold `/` or `+`) and as
/// they decode: neither form may appear anywhere. Azurite checks signatures, so its
/// canary is the test account's real key.
const SECRET: &str = "canarySECRET/7f3a+Q9zWw0123456789abcdefg";
const SECRET_IN_URI: &str = "canarySECRET%2F7f3a%2BQ9zWw0123456789abcdefg";
const TOKEN: &str = "canaryTOKENx8d1e5c6b7a";
const KMS_SECRET: &str = "canaryKMSsecretZZ9q8w7e6r5t";
const CANARIES: [&str; 6] = [
    SECRET,
    SECRET_IN_URI,
    TOKEN,
    KMS_SECRET,
    AZURE_KEY,
    AZURE_KEY_IN_URI,
];

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An S3 URI on the test server with the canary credentials.
fn s3(path: &str) -> String {
    format!(
        "s3://{S3_BUCKET}/{path}?AWS_ENDPOINT={}&AWS_ACCESS_KEY_ID={S3_ACCESS_KEY_ID}&AWS_SECRET_ACCESS_KEY={SECRET_IN_URI}&AWS_SESSION_TOKEN={TOKEN}",
        s3_endpoint()
    )
}

/// Every output of the session.
#[derive(Default)]
struct Session {
    outputs: Vec<(String, String)>,
}

impl Session {
    /// Runs `vouch`, keeps its output, and returns (exit code, stdout, stderr).
    fn run(&mut self, args: &[&str]) -> (i32, String, String) {
        let out = vouch(args);
        let (o, e) = (text(&out.stdout), text(&out.stderr));
        self.outputs.push((
            format!("{:?}", &args[..2.min(args.len())]),
            format!("{o}\n{e}"),
        ));
        (out.status.code().unwrap_or(-1), o, e)
    }

    fn ok(&mut self, args: &[&str]) -> String {
        let (code, o, e) = self.run(args);
        assert_eq!(code, 0, "{:?} failed:\n{o}\n{e}", &args[..2]);
        o
    }

    fn fails(&mut self, args: &[&str]) -> String {
        let (code, o, e) = self.run(args);
        assert_ne!(code, 0, "{:?} succeeded:\n{o}", &args[..2]);
        e
    }
}

/// The private key of the canary service account key given to `gs://` URIs (the GCS
/// emulator checks no credentials: the key says `"disable_oauth": true`).
const GCS_KEY: &str = "canaryGCSprivateKEY/q7w+8e9r0t";

/// The canary `CREDENTIALS` (base64 of the key's JSON) as it is and as the URI holds it.
fn gcs_canaries() -> [String; 2] {
    let b64 = gcs_credentials(GCS_KEY);
    let in_uri = percent_encode(&b64, false);
    [b64, in_uri]
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let gcs = gcs_canaries();
    for c in CANARIES
        .into_iter()
        .chain([GCS_KEY])
        .chain(gcs.iter().map(String::as_str))
    {
        let found = bytes.windows(c.len()).any(|w| w == c.as_bytes());
        assert!(!found, "{what} holds the canary {c:?}");
    }
}

/// Every file under `dir`, recursively.
fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn canary_secrets_appear_in_no_output_and_no_stored_byte() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let prefix = unique_prefix("canary");
    let coll = s3(&format!("{prefix}/coll"));
    let inc = s3(&format!("{prefix}/inc"));
    let coll2 = s3(&format!("{prefix}/sql"));
    let coll3 = s3(&format!("{prefix}/kms"));
    // A KMS key on the same moto server (it serves the KMS API too), used with the canary.
    let kms = format!(
        "aws:///{{key}}?REGION=us-east-1&AWS_ENDPOINT={}&AUTH=specified&AWS_ACCESS_KEY_ID={S3_ACCESS_KEY_ID}&AWS_SECRET_ACCESS_KEY={KMS_SECRET}",
        s3_endpoint()
    );
    let admin = AwsKms::from_uri(&KmsUri::parse(&kms.replace("{key}", "setup")).unwrap()).unwrap();
    let arn = admin.create_key("canary").unwrap();
    let kms = kms.replace("{key}", &arn);
    let mut r = Session::default();

    r.ok(&[
        "cluster",
        "init",
        s(&src),
        "--workload",
        "bank",
        "--rows",
        "100",
    ]);
    // A plaintext chain (manifests readable by anyone with the bucket: the strict case).
    r.ok(&[
        "backup",
        "--cluster",
        s(&src),
        "INTO",
        &coll,
        "--revision-history",
    ]);
    r.ok(&[
        "cluster",
        "run",
        s(&src),
        "--workload",
        "bank",
        "--ops",
        "20",
    ]);
    r.ok(&[
        "backup",
        "--cluster",
        s(&src),
        "INTO",
        "LATEST",
        "IN",
        &coll,
        "--revision-history",
        "--incremental-location",
        &inc,
    ]);
    r.ok(&["show", "backups", "IN", &coll]);
    r.ok(&[
        "show",
        "backup",
        "FROM",
        "LATEST",
        "IN",
        &coll,
        "--incremental-location",
        &inc,
        "--check-files",
    ]);
    let junit = d.path().join("report.xml");
    for format in ["human", "json"] {
        let out = r.ok(&[
            "verify",
            "IN",
            &coll,
            "--incremental-location",
            &inc,
            "--level",
            "full",
            "--format",
            format,
            "--junit",
            s(&junit),
        ]);
        assert!(
            out.contains(&format!("{prefix}/coll")),
            "the report names the collection: {out}"
        );
        assert!(out.contains("AWS_SECRET_ACCESS_KEY=redacted"), "{out}");
    }
    let dst = d.path().join("dst");
    r.ok(&[
        "restore",
        "--cluster",
        s(&dst),
        "DATABASE",
        "bank",
        "FROM",
        "LATEST",
        "IN",
        &coll,
        "--incremental-location",
        &inc,
    ]);
    r.ok(&[
        "dump",
        "FROM",
        "LATEST",
        "IN",
        &coll,
        "--incremental-location",
        &inc,
    ]);
    // An encrypted chain, its key in KMS.
    r.ok(&[
        "backup",
        "--cluster",
        s(&src),
        "INTO",
        &coll3,
        "--kms",
        &kms,
    ]);
    r.ok(&[
        "show", "backup", "FROM", "LATEST", "IN", &coll3, "--kms", &kms,
    ]);
    r.ok(&["verify", "IN", &coll3, "--level", "full", "--kms", &kms]);
    r.ok(&[
        "sql",
        "--cluster",
        s(&src),
        "-e",
        &format!("BACKUP DATABASE bank INTO '{coll2}'"),
        "-e",
        &format!(
            "BACKUP DATABASE bank INTO LATEST IN '{coll2}' WITH incremental_location = '{inc}'"
        ),
        "-e",
        &format!("BACKUP DATABASE bank INTO '{coll3}' WITH kms = '{kms}'"),
        "-e",
        &format!("SHOW BACKUPS IN '{coll2}'"),
    ]);

    // Failures: bad URIs, missing backups, a missing bucket, a syntax error at a URI.
    let e = r.fails(&[
        "backup",
        "--cluster",
        s(&src),
        "INTO",
        &format!("{coll}&AWS_SECRET_KEY={SECRET_IN_URI}"),
    ]);
    assert!(e.contains("unknown S3 parameter"), "{e}");
    let e = r.fails(&[
        "verify",
        "IN",
        &s3(&format!("{prefix}/none")),
        "--level",
        "metadata",
    ]);
    assert!(e.contains("no backups found in s3://"), "{e}");
    r.fails(&[
        "restore",
        "--cluster",
        s(&dst),
        "FROM",
        "/2020/01/01-000000.00",
        "IN",
        &coll3,
        "--kms",
        &kms,
    ]);
    r.fails(&[
        "show",
        "backups",
        "IN",
        &coll.replacen(S3_BUCKET, "no-such-bucket", 1),
    ]);
    r.fails(&[
        "backup",
        "--cluster",
        s(&src),
        "INTO",
        &format!("{coll}&AUTH=implicit"),
    ]);
    r.fails(&[
        "sql",
        "--cluster",
        s(&src),
        "-e",
        &format!("SHOW BACKUPS IN '{coll}' junk"),
    ]);

    // The same on Azure: a chain with an incremental elsewhere, every reader, `vouch sql`,
    // and failures.
    let az = |p: &str| uri_on(Server::Azurite, &format!("{prefix}/{p}"));
    let (acoll, ainc) = (az("coll"), az("inc"));
    r.ok(&["backup", "--cluster", s(&src), "INTO", &acoll]);
    r.ok(&[
        "backup",
        "--cluster",
        s(&src),
        "INTO",
        "LATEST",
        "IN",
        &acoll,
        "--incremental-location",
        &ainc,
    ]);
    r.ok(&["show", "backups", "IN", &acoll]);
    r.ok(&[
        "show",
        "backup",
        "FROM",
        "LATEST",
        "IN",
        &acoll,
        "--incremental-location",
        &ainc,
        "--check-files",
    ]);
    let ajunit = d.path().join("azure-report.xml");
    for format in ["human", "json"] {
        let out = r.ok(&[
            "verify",
            "IN",
            &acoll,
            "--incremental-location",
            &ainc,
            "--level",
            "full",
            "--format",
            format,
            "--junit",
            s(&ajunit),
        ]);
        assert!(out.contains("AZURE_ACCOUNT_KEY=redacted"), "{out}");
    }
    r.ok(&[
        "restore",
        "--cluster",
        s(&d.path().join("dst-azure")),
        "DATABASE",
        "bank",
        "FROM",
        "LATEST",
        "IN",
        &acoll,
        "--incremental-location",
        &ainc,
    ]);
    r.ok(&[
        "sql",
        "--cluster",
        s(&src),
        "-e",
        &format!("BACKUP DATABASE bank INTO '{}'", az("sql")),
        "-e",
        &format!("SHOW BACKUP FROM LATEST IN '{}'", az("sql")),
    ]);
    let e = r.fails(&[
        "backup",
        "--cluster",
        s(&src),
        "INTO",
        &format!("{acoll}&AZURE_ACCOUNT_KAY={AZURE_KEY_IN_URI}"),
    ]);
    assert!(e.contains("unknown Azure parameter"), "{e}");
    r.fails(&[
        "show",
        "backups",
        "IN",
        &acoll.replacen(S3_BUCKET, "no-such-container", 1),
    ]);
    r.fails(&[
        "verify",
        "--level",
        "metadata",
        "IN",
        &format!("{acoll}&AUTH=implicit"),
    ]);
    let astore = open(&az(""), &OpenOptions::default()).unwrap();
    let aobjects = astore.list("").unwrap();
    assert!(
        aobjects.iter().any(|o| o.path.starts_with("inc/"))
            && aobjects.iter().any(|o| o.path.starts_with("sql/")),
        "{aobjects:?}"
    );
    for o in &aobjects {
        assert_clean(&o.path, &astore.get(&o.path).unwrap());
    }

    // GCS: a chain written to a local disk and uploaded to the emulator's bucket, read
    // with the canary key by every reader and `vouch sql`; a chain vouch writes there
    // itself (BACKUP, an incremental through `vouch sql`); URIs vouch refuses fail
    // without showing it.
    let gdir = d.path().join("gcs-local");
    let glocal = format!("file://{}", s(&gdir));
    r.ok(&["backup", "--cluster", s(&src), "INTO", &glocal]);
    r.ok(&[
        "backup",
        "--cluster",
        s(&src),
        "INTO",
        "LATEST",
        "IN",
        &glocal,
    ]);
    gcs_upload_dir(&gdir, &format!("{prefix}/gcs"));
    let gcs_ep = endpoint_of(Server::FakeGcs);
    let gcoll = gcs_uri_at(gcs_ep, &format!("{prefix}/gcs"), &gcs_canaries()[1]);
    r.ok(&["show", "backups", "IN", &gcoll]);
    r.ok(&[
        "show",
        "backup",
        "FROM",
        "LATEST",
        "IN",
        &gcoll,
        "--check-files",
    ]);
    let gjunit = d.path().join("gcs-report.xml");
    for format in ["human", "json"] {
        let out = r.ok(&[
            "verify",
            "IN",
            &gcoll,
            "--level",
            "full",
            "--format",
            format,
            "--junit",
            s(&gjunit),
        ]);
        assert!(out.contains("CREDENTIALS=redacted"), "{out}");
    }
    r.ok(&[
        "restore",
        "--cluster",
        s(&d.path().join("dst-gcs")),
        "DATABASE",
        "bank",
        "FROM",
        "LATEST",
        "IN",
        &gcoll,
    ]);
    r.ok(&["dump", "FROM", "LATEST", "IN", &gcoll, "--cluster", s(&src)]);
    let gsql = d.path().join("dst-gcs-sql");
    r.ok(&["cluster", "init", s(&gsql)]);
    r.ok(&[
        "sql",
        "--cluster",
        s(&gsql),
        "-e",
        &format!("SHOW BACKUP FROM LATEST IN '{gcoll}'"),
        "-e",
        &format!("RESTORE DATABASE bank FROM LATEST IN '{gcoll}'"),
    ]);
    let gwritten = gcs_uri_at(gcs_ep, &format!("{prefix}/gcs-written"), &gcs_canaries()[1]);
    r.ok(&["backup", "--cluster", s(&src), "INTO", &gwritten]);
    r.ok(&[
        "sql",
        "--cluster",
        s(&src),
        "-e",
        &format!("BACKUP INTO LATEST IN '{gwritten}'"),
    ]);
    r.ok(&["verify", "IN", &gwritten, "--level", "full"]);
    let e = r.fails(&[
        "verify",
        "IN",
        &format!("{gcoll}&CREDENTIALZ=x"),
        "--level",
        "metadata",
    ]);
    assert!(e.contains("unknown GCS parameter"), "{e}");
    let e = r.fails(&[
        "verify",
        "IN",
        &gcoll.replacen("AUTH=specified", "AUTH=implicit", 1),
        "--level",
        "metadata",
    ]);
    assert!(e.contains("AUTH=implicit takes"), "{e}");
    r.fails(&[
        "show",
        "backups",
        "IN",
        &gcoll.replacen(S3_BUCKET, "no-such-bucket", 1),
    ]);

    for (what, out) in &r.outputs {
        assert_clean(&format!("the output of {what}"), out.as_bytes());
    }
    // Every object in the bucket under the session's prefix.
    let store = open(&s3(&prefix), &OpenOptions::default()).unwrap();
    let objects = store.list("").unwrap();
    assert!(objects.len() > 10, "{objects:?}");
    assert!(
        objects.iter().any(|o| o.path.starts_with("inc/")),
        "{objects:?}"
    );
    assert!(
        objects.iter().any(|o| o.path.starts_with("sql/")),
        "{objects:?}"
    );
    for o in &objects {
        assert_clean(&o.path, &store.get(&o.path).unwrap());
    }
    // Every object in the GCS bucket under the session's prefix: vouch's chain is there.
    let gstore = open(
        &gcs_uri_at(gcs_ep, &prefix, &gcs_canaries()[1]),
        &OpenOptions::default(),
    )
    .unwrap();
    let gobjects = gstore.list("").unwrap();
    assert!(
        gobjects
            .iter()
            .filter(|o| o.path.starts_with("gcs-written/") && o.path.ends_with("/BACKUP_MANIFEST"))
            .count()
            == 2,
        "{gobjects:?}"
    );
    for o in &gobjects {
        assert_clean(&o.path, &gstore.get(&o.path).unwrap());
    }
    // Every file on disk: clusters (their stores and job records), the JUnit report.
    let mut all = Vec::new();
    files(d.path(), &mut all);
    assert!(all.contains(&junit) && all.contains(&gjunit));
    for f in &all {
        assert_clean(&f.display().to_string(), &std::fs::read(f).unwrap());
    }
}

/// A schedule's secrets (spec/schedules.md §6): a canary passphrase (from a file) and a
/// canary AWS secret in the collection's URI. Its record holds the redacted statement and
/// a 0600 file of the cluster directory the secrets; every output, every file of the
/// cluster but that one, and every byte of a full cluster backup taken meanwhile are
/// free of them; the scheduled backups still run, encrypted; dropping the schedules
/// deletes the files.
#[test]
fn schedule_secrets_stay_in_their_file() {
    const PASS: &str = "canarySchedulePASSq1w2e3r4";
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let prefix = unique_prefix("canary-schedule");
    let coll = s3(&format!("{prefix}/sched"));
    let pass_file = d.path().join("pass.txt");
    std::fs::write(&pass_file, format!("{PASS}\n")).unwrap();
    let mut r = Session::default();
    r.ok(&[
        "cluster",
        "init",
        s(&src),
        "--workload",
        "bank",
        "--rows",
        "50",
    ]);
    r.ok(&["cluster", "clock", s(&src), "--set", "2030-01-01 10:00:00"]);
    let out = r.ok(&[
        "schedule",
        "create",
        "nightly",
        "--cluster",
        s(&src),
        "--database",
        "bank",
        "--into",
        &coll,
        "--recurring",
        "@daily",
        "--encryption-passphrase-file",
        s(&pass_file),
    ]);
    assert!(out.contains("encryption_passphrase = '*****'"), "{out}");
    assert!(out.contains("AWS_SECRET_ACCESS_KEY=redacted"), "{out}");
    // The same through `vouch sql`, the passphrase in the statement.
    r.ok(&[
        "sql",
        "--cluster",
        s(&src),
        "-e",
        &format!(
            "CREATE SCHEDULE other FOR BACKUP DATABASE bank INTO '{}' WITH encryption_passphrase = '{PASS}' RECURRING '@daily' FULL BACKUP ALWAYS",
            s3(&format!("{prefix}/other"))
        ),
    ]);
    let list = r.ok(&["schedule", "list", "--cluster", s(&src), "--format", "json"]);
    let ids: Vec<String> = serde_json::from_str::<serde_json::Value>(&list)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_u64().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3, "{list}");
    for id in &ids {
        r.ok(&["schedule", "show", id, "--cluster", s(&src)]);
    }
    // Two fulls, then the next day an incremental: each reads the secrets at run time.
    let once = r.ok(&["scheduler", "--cluster", s(&src), "--once"]);
    assert_eq!(once.matches(": succeeded: ").count(), 2, "{once}");
    r.ok(&[
        "cluster",
        "run",
        s(&src),
        "--workload",
        "bank",
        "--ops",
        "5",
    ]);
    r.ok(&["cluster", "clock", s(&src), "--advance", "1d"]);
    let once = r.ok(&["scheduler", "--cluster", s(&src), "--once"]);
    assert!(
        once.contains("incremental) as of 2030-01-02 00:00:00+00:00: succeeded: incrementals/"),
        "{once}"
    );
    // Encrypted: nothing reads without the passphrase; with it, the chain verifies.
    r.fails(&["show", "backup", "FROM", "LATEST", "IN", &coll]);
    r.ok(&[
        "verify",
        "IN",
        &coll,
        "--level",
        "full",
        "--encryption-passphrase-file",
        s(&pass_file),
    ]);
    // A full cluster backup (the cluster's own tables) holds no secret.
    let full = d.path().join("full");
    r.ok(&[
        "backup",
        "--cluster",
        s(&src),
        "INTO",
        &format!("file://{}", s(&full)),
    ]);
    let mut all = Vec::new();
    files(&full, &mut all);
    assert!(all.len() > 3, "{all:?}");
    for f in &all {
        let b = std::fs::read(f).unwrap();
        assert!(
            !b.windows(PASS.len()).any(|w| w == PASS.as_bytes()),
            "{f:?}"
        );
        assert_clean(&f.display().to_string(), &b);
    }
    // In the cluster directory only the secrets files hold them, readable by the owner.
    let secrets = src.join("schedule-secrets");
    let mut cluster_files = Vec::new();
    files(&src, &mut cluster_files);
    for f in &cluster_files {
        let b = std::fs::read(f).unwrap();
        if f.starts_with(&secrets) {
            assert!(b.windows(PASS.len()).any(|w| w == PASS.as_bytes()), "{f:?}");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{f:?}");
            }
        } else {
            assert!(
                !b.windows(PASS.len()).any(|w| w == PASS.as_bytes()),
                "{f:?}"
            );
            assert_clean(&f.display().to_string(), &b);
        }
    }
    for id in &ids {
        r.ok(&["schedule", "drop", id, "--cluster", s(&src)]);
    }
    assert_eq!(std::fs::read_dir(&secrets).unwrap().count(), 0);
    for (what, out) in &r.outputs {
        assert!(!out.contains(PASS), "the output of {what}");
        assert_clean(&format!("the output of {what}"), out.as_bytes());
    }
    // The backups' objects in the bucket.
    let store = open(&s3(&prefix), &OpenOptions::default()).unwrap();
    let objects = store.list("").unwrap();
    assert!(objects.len() > 5, "{objects:?}");
    for o in &objects {
        let b = store.get(&o.path).unwrap();
        assert!(
            !b.windows(PASS.len()).any(|w| w == PASS.as_bytes()),
            "{}",
            o.path
        );
        assert_clean(&o.path, &b);
    }
}
