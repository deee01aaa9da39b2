//! Write-once on a bucket with S3 Object Lock (default retention, COMPLIANCE), on moto's S3
//! server: a full backup stopped by kill-like fault injection and resumed, an incremental,
//! a second full backup (a newer LATEST marker), checkpoints — all work and verify clean at
//! `--level full`; the bucket then holds exactly one version of every object and no delete
//! marker (vouch never overwrote or deleted anything), every object is locked, and the
//! bucket refuses to delete a locked version and refuses a conditional overwrite.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{s, text, vouch, vouch_bin};
use vouch_testkit::servers::{endpoint_of, unique_prefix, Server};

fn ok(args: &[&str]) -> String {
    let out = vouch(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The Python of the test servers' virtual environment (boto3 comes with moto).
fn python() -> PathBuf {
    match std::env::var_os("KMS_VENV") {
        Some(v) => PathBuf::from(v).join("bin/python"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/kms-venv/bin/python"),
    }
}

/// Runs `script` with boto3 against the server: argv[1] endpoint, argv[2] bucket. Returns
/// its stdout.
fn boto(endpoint: &str, bucket: &str, script: &str) -> String {
    let out = Command::new(python())
        .args(["-", endpoint, bucket])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            let prelude = "import sys, json, boto3, botocore\n\
                s3 = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id='a', \
                aws_secret_access_key='b', region_name='us-east-1')\n\
                B = sys.argv[2]\n";
            c.stdin
                .take()
                .unwrap()
                .write_all(format!("{prelude}{script}").as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "boto3: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn backups_on_an_object_lock_bucket_are_written_once_and_the_bucket_refuses_overwrites() {
    let endpoint = endpoint_of(Server::Moto);
    let bucket = unique_prefix("vouch-lock").to_ascii_lowercase();
    boto(
        endpoint,
        &bucket,
        "s3.create_bucket(Bucket=B, ObjectLockEnabledForBucket=True)\n\
         s3.put_object_lock_configuration(Bucket=B, ObjectLockConfiguration={'ObjectLockEnabled': 'Enabled', \
         'Rule': {'DefaultRetention': {'Mode': 'COMPLIANCE', 'Days': 1}}})\n",
    );
    let uri = format!(
        "s3://{bucket}/coll?AWS_ENDPOINT={endpoint}&AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY=b&AWS_REGION=us-east-1"
    );
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("c");
    ok(&[
        "cluster",
        "init",
        s(&c),
        "--workload",
        "bank",
        "--rows",
        "3000",
    ]);

    // A full backup stopped after two checkpointed files (as a kill would), then resumed.
    let full = [
        "backup",
        "--cluster",
        s(&c),
        "INTO",
        &uri,
        "--revision-history",
        "--target-file-size",
        "16384",
    ];
    let out = Command::new(vouch_bin())
        .args(full)
        .env("VOUCH_FAULT", "after-files:2")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    ok(&full);
    ok(&["cluster", "run", s(&c), "--workload", "bank", "--ops", "80"]);
    ok(&[
        "backup",
        "--cluster",
        s(&c),
        "INTO",
        "LATEST",
        "IN",
        &uri,
        "--revision-history",
    ]);
    ok(&["cluster", "run", s(&c), "--workload", "bank", "--ops", "80"]);
    ok(&full); // a second chain: LATEST stays, a newer marker is added
    let report = ok(&["verify", "IN", &uri, "--level", "full", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(v["errors"], 0);
    assert_eq!(v["warnings"], 0);
    assert_eq!(v["chains"].as_array().unwrap().len(), 2);

    let facts = boto(
        endpoint,
        &bucket,
        r#"
v = s3.list_object_versions(Bucket=B, Prefix='coll/')
versions = v.get('Versions', [])
keys = [x['Key'] for x in versions]
modes = [s3.head_object(Bucket=B, Key=x['Key'], VersionId=x['VersionId']).get('ObjectLockMode') for x in versions]
manifest = next(x for x in versions if x['Key'].endswith('/BACKUP_MANIFEST'))
original = s3.get_object(Bucket=B, Key=manifest['Key'], VersionId=manifest['VersionId'])['Body'].read()
def refused(f):
    try:
        f()
        return None
    except botocore.exceptions.ClientError as e:
        return e.response['Error']['Code']
delete = refused(lambda: s3.delete_object(Bucket=B, Key=manifest['Key'], VersionId=manifest['VersionId']))
conditional = refused(lambda: s3.put_object(Bucket=B, Key=manifest['Key'], Body=b'forged', IfNoneMatch='*'))
# An unconditional PUT makes a new version; the locked one stays as it was.
s3.put_object(Bucket=B, Key=manifest['Key'], Body=b'forged')
still = s3.get_object(Bucket=B, Key=manifest['Key'], VersionId=manifest['VersionId'])['Body'].read()
print(json.dumps({
    'objects': len(keys), 'distinct': len(set(keys)),
    'delete_markers': len(v.get('DeleteMarkers', [])),
    'checkpoints': sum(1 for k in keys if '/BACKUP-CHECKPOINT-' in k or 'CHECKPOINT' in k),
    'latest': sorted(k for k in keys if 'LATEST' in k),
    'modes': sorted(set(str(m) for m in modes)),
    'delete': delete, 'conditional': conditional,
    'unchanged': still == original,
}))
"#,
    );
    let f: serde_json::Value = serde_json::from_str(facts.trim()).unwrap();
    assert!(f["objects"].as_u64().unwrap() > 10, "{f}");
    assert_eq!(
        f["objects"], f["distinct"],
        "one version of every object: {f}"
    );
    assert_eq!(f["delete_markers"], 0, "{f}");
    assert!(
        f["checkpoints"].as_u64().unwrap() >= 2,
        "checkpoints written: {f}"
    );
    let latest = f["latest"].as_array().unwrap();
    assert!(latest.iter().any(|k| k == "coll/LATEST"), "{f}");
    assert_eq!(latest.len(), 3, "LATEST and two markers: {f}");
    assert_eq!(f["modes"], serde_json::json!(["COMPLIANCE"]), "{f}");
    assert_eq!(f["delete"], "AccessDenied", "{f}");
    assert_eq!(f["conditional"], "PreconditionFailed", "{f}");
    assert_eq!(f["unchanged"], true, "{f}");
    // What vouch reads is still the original: the forged newer version of the manifest is
    // not the one its checksum file names.
    let out = vouch([
        "verify", "IN", &uri, "--level", "metadata", "--format", "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds
            .iter()
            .any(|k| *k == "checksum_mismatch" || *k == "manifest_decode"),
        "{kinds:?}"
    );
}
