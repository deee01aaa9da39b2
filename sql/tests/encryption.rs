//! Encrypted backups through `vouch sql` statements: `WITH encryption_passphrase`, `WITH
//! kms = …` (single and parenthesized lists, `external://` connections) on BACKUP,
//! RESTORE and SHOW BACKUP; `ALTER BACKUP … ADD NEW_KMS … WITH OLD_KMS`; the errors that
//! name the cause; secrets absent from outputs, errors, the recorded statement and every
//! stored byte. KMS keys here are local key files (`file:///…`); the AWS KMS path runs
//! against the moto server in `seeds.rs` and `cli/tests/cli_encryption.rs`.

use std::path::Path;

use vouch_chain::{open_options, Collection};
use vouch_cluster::workload::{self, Workload};
use vouch_cluster::Row;
use vouch_cluster::{Clock, Cluster};
use vouch_keys::passphrase::Passphrase;
use vouch_keys::KeySource;
use vouch_sql::{Output, Session};
use vouch_testkit::tree::snapshot;

const PASS: &str = "correct horse battery staple";
const COLL: &str = "nodelocal://1/enc";

fn cluster(dir: &Path, name: &str) -> Cluster {
    Cluster::init(&dir.join(name), Clock::manual(1_767_225_600_000_000_000)).unwrap()
}

fn tick(c: &Cluster) {
    c.kv().clock().advance(2_000_000_000);
}

fn run(c: &Cluster, sql: &str) -> Vec<Output> {
    let mut s = Session::new(c);
    let out = s.execute_all(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    tick(c);
    out
}

fn err(c: &Cluster, sql: &str) -> String {
    let e = Session::new(c).execute(sql).expect_err(sql).to_string();
    tick(c);
    e
}

fn rows(c: &Cluster, db: &str, t: &str) -> Vec<Row> {
    let d = c.table(db, t).unwrap();
    let mut v = Vec::new();
    c.scan_rows(&d, c.now(), |r| {
        v.push(r);
        Ok(true)
    })
    .unwrap();
    v
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A 32-byte key file (hex), readable by its owner only.
fn key_file(dir: &Path, name: &str, byte: u8) -> String {
    let p = dir.join(name);
    std::fs::write(&p, format!("{}\n", hex::encode([byte; 32]))).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    format!("file://{}", p.display())
}

fn table(out: &[Output]) -> &vouch_engine::output::Table {
    out.last().and_then(Output::table).expect("a result table")
}

fn job_rows(out: &[Output]) -> u64 {
    let t = table(out);
    let i = t.columns.iter().position(|c| c == "rows").unwrap();
    t.rows[0][i].as_deref().unwrap().parse().unwrap()
}

/// The statements recorded in the chain's manifests (decrypted with `keys`).
fn recorded_statements(c: &Cluster, keys: &KeySource) -> Vec<String> {
    let coll = Collection::open(COLL, None, &open_options(Some(c.extern_dir()))).unwrap();
    let full = coll.resolve_subdir("LATEST").unwrap();
    let chain = coll.chain_keyed(&full, keys).unwrap();
    chain
        .layers
        .iter()
        .map(|l| l.manifest.statement.clone())
        .collect()
}

#[test]
fn passphrase_backup_show_restore_and_errors() {
    let d = tempfile::tempdir().unwrap();
    let a = cluster(d.path(), "a");
    workload::init(&a, Workload::Bank, 40, 3).unwrap();
    tick(&a);
    let full = format!("BACKUP DATABASE bank INTO '{COLL}' WITH encryption_passphrase = '{PASS}'");
    // The bank rows and system.users (admin, root).
    assert_eq!(job_rows(&run(&a, &full)), 40 + 2);
    run(&a, "UPDATE bank.bank SET balance = 7 WHERE id = 3");

    // An incremental must unlock the chain's key: a wrong passphrase or none is refused
    // before anything is written.
    let before = snapshot(&a.extern_dir());
    assert_eq!(
        err(
            &a,
            &format!(
                "BACKUP DATABASE bank INTO LATEST IN '{COLL}' WITH encryption_passphrase = 'nope'"
            )
        ),
        "wrong passphrase: it does not unlock this backup's data key"
    );
    assert_eq!(
        err(&a, &format!("BACKUP DATABASE bank INTO LATEST IN '{COLL}'")),
        "the backup is encrypted but no key was given: its data key is wrapped by a passphrase; give encryption_passphrase"
    );
    assert_eq!(
        snapshot(&a.extern_dir()),
        before,
        "a refused incremental wrote nothing"
    );
    let inc = format!(
        "BACKUP DATABASE bank INTO LATEST IN '{COLL}' WITH OPTIONS (encryption_passphrase = '{PASS}')"
    );
    assert_eq!(job_rows(&run(&a, &inc)), 1);

    // SHOW BACKUP: no key, wrong key, the key.
    assert_eq!(
        err(&a, &format!("SHOW BACKUP FROM LATEST IN '{COLL}'")),
        "the backup is encrypted but no key was given: its data key is wrapped by a passphrase; give encryption_passphrase"
    );
    assert_eq!(
        err(
            &a,
            &format!("SHOW BACKUP FROM LATEST IN '{COLL}' WITH encryption_passphrase = 'nope'")
        ),
        "wrong passphrase: it does not unlock this backup's data key"
    );
    let out = run(
        &a,
        &format!("SHOW BACKUP FROM LATEST IN '{COLL}' WITH encryption_passphrase = '{PASS}'"),
    );
    let t = table(&out);
    let obj = t.columns.iter().position(|c| c == "object_name").unwrap();
    let ty = t.columns.iter().position(|c| c == "backup_type").unwrap();
    let bank_layers: Vec<&str> = t
        .rows
        .iter()
        .filter(|r| r[obj].as_deref() == Some("bank") && r[ty].as_deref() != Some("database"))
        .filter_map(|r| r[ty].as_deref())
        .collect();
    assert!(
        bank_layers.contains(&"full") && bank_layers.contains(&"incremental"),
        "{t:?}"
    );

    // RESTORE: the key is needed; with it the rows equal the source's.
    assert_eq!(
        err(
            &a,
            &format!("RESTORE DATABASE bank FROM LATEST IN '{COLL}' WITH new_db_name = 'b2'")
        ),
        "the backup is encrypted but no key was given: its data key is wrapped by a passphrase; give encryption_passphrase"
    );
    assert_eq!(
        err(
            &a,
            &format!("RESTORE DATABASE bank FROM LATEST IN '{COLL}' WITH new_db_name = 'b2', encryption_passphrase = 'nope'")
        ),
        "wrong passphrase: it does not unlock this backup's data key"
    );
    let out = run(
        &a,
        &format!("RESTORE DATABASE bank FROM LATEST IN '{COLL}' WITH new_db_name = 'b2', encryption_passphrase = '{PASS}'"),
    );
    assert_eq!(job_rows(&out), 40);
    assert_eq!(rows(&a, "b2", "bank"), rows(&a, "bank", "bank"));

    // A key for a backup that is not encrypted.
    run(&a, "BACKUP DATABASE bank INTO 'nodelocal://1/plain'");
    assert_eq!(
        err(
            &a,
            &format!("SHOW BACKUP FROM LATEST IN 'nodelocal://1/plain' WITH encryption_passphrase = '{PASS}'")
        ),
        "an encryption key was given (passphrase) but the backup is not encrypted"
    );

    // The passphrase is in no manifest statement and no stored byte.
    let keys = KeySource::passphrase(Passphrase::new(PASS).unwrap());
    assert_eq!(
        recorded_statements(&a, &keys),
        [
            format!("BACKUP DATABASE bank INTO '{COLL}' WITH encryption_passphrase = '*****'"),
            format!("BACKUP DATABASE bank INTO LATEST IN '{COLL}' WITH OPTIONS (encryption_passphrase = '*****')"),
        ]
    );
    for (p, bytes) in snapshot(&a.extern_dir()) {
        assert!(
            !contains(&bytes, PASS.as_bytes()),
            "{p} holds the passphrase"
        );
    }
}

#[test]
fn kms_lists_external_connections_and_alter_backup_add_new_kms() {
    let d = tempfile::tempdir().unwrap();
    let keys = d.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let k1 = key_file(&keys, "k1", 1);
    let k2 = key_file(&keys, "k2", 2);
    let k3 = key_file(&keys, "k3", 3);
    let k4 = key_file(&keys, "k4", 4);
    let a = cluster(d.path(), "a");
    workload::init(&a, Workload::Bank, 30, 5).unwrap();
    tick(&a);
    run(
        &a,
        &format!("CREATE EXTERNAL CONNECTION second_key AS '{k2}'"),
    );
    let full =
        format!("BACKUP DATABASE bank INTO '{COLL}' WITH kms = ('{k1}', 'external://second_key')");
    assert_eq!(job_rows(&run(&a, &full)), 30 + 2);

    // Either key alone restores; a key that wraps nothing is named with what does.
    for (db, k) in [("r1", k1.as_str()), ("r2", "external://second_key")] {
        run(
            &a,
            &format!("RESTORE DATABASE bank FROM LATEST IN '{COLL}' WITH new_db_name = '{db}', kms = '{k}'"),
        );
        assert_eq!(rows(&a, db, "bank"), rows(&a, "bank", "bank"), "{k}");
    }
    let id = |k: &str| k.to_string();
    assert_eq!(
        err(
            &a,
            &format!("SHOW BACKUP FROM LATEST IN '{COLL}' WITH kms = '{k3}'")
        ),
        format!(
            "none of the given KMS keys wraps this backup's data key: tried {}; the data key is wrapped by {}, {}",
            id(&k3),
            id(&k1),
            id(&k2)
        )
    );
    assert_eq!(
        err(&a, &format!("SHOW BACKUP FROM LATEST IN '{COLL}'")),
        format!(
            "the backup is encrypted but no key was given: its data key is wrapped by the KMS keys {}, {}; give kms",
            id(&k1),
            id(&k2)
        )
    );

    // ALTER BACKUP: a new record wrapped by k3 and k4 (one through a connection); every
    // existing file unchanged.
    run(
        &a,
        &format!("CREATE EXTERNAL CONNECTION fourth_key AS '{k4}'"),
    );
    let coll_dir = a.extern_dir().join("enc");
    let before = snapshot(&coll_dir);
    let out = run(
        &a,
        &format!("ALTER BACKUP LATEST IN '{COLL}' ADD NEW_KMS = ('{k3}', 'external://fourth_key') WITH OLD_KMS = '{k1}'"),
    );
    assert_eq!(out, [Output::Tag("ALTER BACKUP".into())]);
    assert_eq!(out[0].render(), "ALTER BACKUP\n");
    let after = snapshot(&coll_dir);
    for (p, b) in &before {
        assert_eq!(after.get(p), Some(b), "{p} changed");
    }
    let added: Vec<String> = after
        .keys()
        .filter(|p| !before.contains_key(*p))
        .map(|p| {
            Path::new(p)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(added, ["ENCRYPTION-INFO-1"]);
    for (db, k) in [("r3", k3.as_str()), ("r4", "external://fourth_key")] {
        run(
            &a,
            &format!("RESTORE DATABASE bank FROM LATEST IN '{COLL}' WITH new_db_name = '{db}', kms = '{k}'"),
        );
        assert_eq!(rows(&a, db, "bank"), rows(&a, "bank", "bank"), "{k}");
    }
    // An old key that does not open the backup: nothing written.
    let before = snapshot(&coll_dir);
    let e = err(
        &a,
        &format!(
            "ALTER BACKUP LATEST IN '{COLL}' ADD NEW_KMS = '{k1}' WITH OLD_KMS = 'external://nope'"
        ),
    );
    assert_eq!(
        e,
        "external connection \"nope\" does not exist (CREATE EXTERNAL CONNECTION nope AS '…')"
    );
    let e = err(
        &a,
        &format!("ALTER BACKUP LATEST IN '{COLL}' ADD NEW_KMS = '{k1}' WITH OLD_KMS = 'file:///nonexistent/key'"),
    );
    assert!(
        e.starts_with("none of the given KMS keys wraps this backup's data key: tried file:///nonexistent/key;"),
        "{e}"
    );
    assert_eq!(snapshot(&coll_dir), before);
}

#[test]
fn kms_credentials_never_reach_the_recorded_statement_or_errors() {
    let d = tempfile::tempdir().unwrap();
    let a = cluster(d.path(), "a");
    workload::init(&a, Workload::Bank, 10, 1).unwrap();
    tick(&a);
    // An AWS URI whose endpoint cannot be reached: the error names the key by its uri_id.
    let secret = "S3cr3tAcc3ssK3y";
    let uri = format!(
        "aws:///alias/k?REGION=us-east-1&AWS_ENDPOINT=http://127.0.0.1:1&AUTH=specified&AWS_ACCESS_KEY_ID=AKIA0&AWS_SECRET_ACCESS_KEY={secret}"
    );
    let e = err(
        &a,
        &format!("BACKUP DATABASE bank INTO '{COLL}' WITH kms = '{uri}'"),
    );
    assert!(e.starts_with("KMS aws:///alias/k: Encrypt failed: "), "{e}");
    assert!(!e.contains(secret), "{e}");
    // Unsupported KMS schemes are named.
    assert_eq!(
        err(&a, &format!("BACKUP DATABASE bank INTO '{COLL}' WITH kms = 'gs:///projects/p/key?CREDENTIALS={secret}'")),
        "not supported yet: gs KMS"
    );
    // A syntax error at a KMS URI shows its uri_id only.
    let e = err(
        &a,
        &format!("BACKUP INTO '{COLL}' WITH kms = ('{uri}' '{uri}')"),
    );
    assert_eq!(
        e,
        "syntax error: at or near \"'aws:///alias/k'\": expected \",\" or \")\""
    );
    // The statement recorded for a file-key backup shows the uri_id, which for a key file
    // is the whole URI.
    let k = key_file(d.path(), "k", 9);
    run(
        &a,
        &format!("BACKUP DATABASE bank INTO '{COLL}' WITH kms = '{k}', detached"),
    );
    // Detached: the job is run by a runner (what `vouch scheduler` does).
    let runs = vouch_sql::jobs::run_pending(&a, None, &mut |_| {}).unwrap();
    assert_eq!(runs.len(), 1);
    assert!(
        matches!(runs[0].outcome, vouch_sql::jobs::Outcome::Succeeded { .. }),
        "{:?}",
        runs[0].outcome
    );
    assert_eq!(
        recorded_statements(&a, &KeySource::kms([k.clone()])),
        [format!(
            "BACKUP DATABASE bank INTO '{COLL}' WITH kms = '{k}', detached"
        )]
    );
    // Option shapes.
    assert_eq!(
        err(
            &a,
            &format!("BACKUP INTO '{COLL}' WITH encryption_passphrase = ('a', 'b')")
        ),
        "option \"encryption_passphrase\" takes one passphrase, not a list"
    );
    assert_eq!(
        err(
            &a,
            &format!("BACKUP INTO '{COLL}' WITH encryption_passphrase = ''")
        ),
        "passphrase: the passphrase is empty"
    );
    assert_eq!(
        err(&a, &format!("BACKUP INTO '{COLL}' WITH kms")),
        "option \"kms\" needs a value: kms = 'uri' or kms = ('uri', …)"
    );
    assert_eq!(
        err(&a, &format!("RESTORE FROM LATEST IN '{COLL}' WITH old_kms = '{k}'")),
        "option \"old_kms\" is not valid for RESTORE: it belongs to ALTER BACKUP … ADD NEW_KMS = … WITH OLD_KMS = …"
    );
    assert_eq!(
        err(
            &a,
            &format!("BACKUP INTO '{COLL}' WITH encryption_info_dir = 'nodelocal://1/x'")
        ),
        "not supported yet: encrypted backups (encryption_info_dir)"
    );
    assert_eq!(
        err(&a, "ALTER BACKUP LATEST IN 'nodelocal://1/none' ADD NEW_KMS = 'file:///k' WITH OLD_KMS = 'file:///o'"),
        err(&a, "SHOW BACKUP FROM LATEST IN 'nodelocal://1/none'"),
        "a missing collection is the same error as SHOW BACKUP's"
    );
}
