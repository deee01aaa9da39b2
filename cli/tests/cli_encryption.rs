//! Encrypted backups end to end through the `vouch` binary: a passphrase given through an
//! environment variable or a file (never on the command line), AWS KMS keys on the moto
//! server (the real KMS API, started by `keys/tests/support`; never skipped), `vouch alter
//! backup … --add-new-kms`, and `vouch sql` with `WITH encryption_passphrase` / `kms`.
//! Every command's exit code and message is checked, restores are compared with the source
//! by `vouch cluster fingerprint`, and no secret appears in any output or stored byte.

mod common;

#[path = "../../keys/tests/support/mod.rs"]
mod kms;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{run_with_stdin, text, vouch_bin};
use vouch_testkit::tree::snapshot;

const PASS: &str = "Tr0ub4dor&3-cli-passphrase";
const PASS_ENV: &str = "VOUCH_TEST_BACKUP_PASSPHRASE";

/// Runs `vouch` and keeps every output, so the test can check no secret was printed.
struct Runner {
    outputs: Vec<(String, String, String)>,
}

impl Runner {
    fn new() -> Runner {
        Runner {
            outputs: Vec::new(),
        }
    }

    fn run(&mut self, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
        let mut cmd = Command::new(vouch_bin());
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = run_with_stdin(cmd, stdin);
        self.outputs
            .push((format!("{args:?}"), text(&out.stdout), text(&out.stderr)));
        out
    }

    fn ok(&mut self, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = self.run(args, env, b"");
        assert!(
            out.status.success(),
            "vouch {args:?}: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs a command that must fail with `code` and exactly `stderr`.
    fn fails(&mut self, args: &[&str], env: &[(&str, &str)], code: i32, stderr: &str) {
        let out = self.run(args, env, b"");
        assert_eq!(
            out.status.code(),
            Some(code),
            "vouch {args:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr), stderr, "vouch {args:?}");
    }

    /// No output of any command so far holds `secret`.
    fn assert_never_printed(&self, secret: &str) {
        for (args, out, err) in &self.outputs {
            assert!(!out.contains(secret), "stdout of {args} holds a secret");
            assert!(!err.contains(secret), "stderr of {args} holds a secret");
        }
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `vouch cluster fingerprint` rows of database `db`.
fn fingerprints(r: &mut Runner, cluster: &Path, db: &str) -> Vec<String> {
    let out = r.ok(&["cluster", "fingerprint", s(cluster)], &[]);
    let rows: Vec<String> = out
        .lines()
        .filter(|l| l.split('|').next().map(str::trim) == Some(db))
        .map(str::to_string)
        .collect();
    assert!(!rows.is_empty(), "no fingerprints of {db} in\n{out}");
    rows
}

fn assert_not_stored(dir: &Path, secret: &str) {
    for (p, b) in snapshot(dir) {
        assert!(
            !b.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{p} holds a secret"
        );
    }
}

/// A source cluster with the bank workload, a full backup and an incremental.
fn bank_source(r: &mut Runner, dir: &Path) -> PathBuf {
    let src = dir.join("src");
    r.ok(
        &[
            "cluster",
            "init",
            s(&src),
            "--workload",
            "bank",
            "--rows",
            "120",
        ],
        &[],
    );
    src
}

#[test]
fn passphrase_from_env_and_file_backup_show_restore_dump() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Runner::new();
    let src = bank_source(&mut r, dir.path());
    let coll_dir = dir.path().join("coll");
    let uri = format!("file://{}", s(&coll_dir));
    let env = [(PASS_ENV, PASS)];
    let pass_file = dir.path().join("pass.txt");
    std::fs::write(&pass_file, format!("{PASS}\n")).unwrap();
    let with_file = ["--encryption-passphrase-file", s(&pass_file)];

    // Full and incremental, the passphrase from the environment.
    r.ok(
        &[
            "backup",
            "--cluster",
            s(&src),
            "DATABASE",
            "bank",
            "INTO",
            &uri,
            "--encryption-passphrase-env",
            PASS_ENV,
        ],
        &env,
    );
    r.ok(
        &[
            "cluster",
            "run",
            s(&src),
            "--workload",
            "bank",
            "--ops",
            "30",
        ],
        &[],
    );
    // An incremental without the key is refused before anything is written.
    let before = snapshot(&coll_dir);
    let no_key = "error: the backup is encrypted but no key was given: its data key is wrapped by a passphrase; give --encryption-passphrase[-env|-file]\n";
    r.fails(
        &[
            "backup",
            "--cluster",
            s(&src),
            "DATABASE",
            "bank",
            "INTO",
            "LATEST",
            "IN",
            &uri,
        ],
        &[],
        2,
        no_key,
    );
    assert_eq!(snapshot(&coll_dir), before);
    r.ok(
        &[
            "backup",
            "--cluster",
            s(&src),
            "DATABASE",
            "bank",
            "INTO",
            "LATEST",
            "IN",
            &uri,
            "--encryption-passphrase-env",
            PASS_ENV,
        ],
        &env,
    );

    // SHOW BACKUP: without a key, exit 2 naming the cause; with the file, the table.
    r.fails(
        &["show", "backup", "FROM", "LATEST", "IN", &uri],
        &[],
        2,
        no_key,
    );
    let mut show = vec!["show", "backup", "FROM", "LATEST", "IN", &uri];
    show.extend(with_file);
    let table = r.ok(&show, &[]);
    let bank_rows: Vec<&str> = table
        .lines()
        .filter(|l| l.split('|').nth(2).map(str::trim) == Some("bank"))
        .collect();
    assert!(
        bank_rows.iter().any(|l| l.contains("| full"))
            && bank_rows.iter().any(|l| l.contains("| incremental")),
        "{table}"
    );

    // RESTORE into a new directory: the wrong passphrase is refused by name; the right one
    // gives the source's fingerprints.
    let dst = dir.path().join("dst");
    r.fails(
        &[
            "restore",
            "--cluster",
            s(&dst),
            "DATABASE",
            "bank",
            "FROM",
            "LATEST",
            "IN",
            &uri,
            "--encryption-passphrase-env",
            PASS_ENV,
        ],
        &[(PASS_ENV, "not-the-passphrase")],
        2,
        "error: wrong passphrase: it does not unlock this backup's data key\n",
    );
    r.ok(
        &[
            "restore",
            "--cluster",
            s(&dst),
            "DATABASE",
            "bank",
            "FROM",
            "LATEST",
            "IN",
            &uri,
            "--encryption-passphrase-env",
            PASS_ENV,
        ],
        &env,
    );
    assert_eq!(
        fingerprints(&mut r, &dst, "bank"),
        fingerprints(&mut r, &src, "bank")
    );

    // DUMP: needs the key; with it, the SQL loads into an empty cluster through `vouch
    // sql` and gives the same rows as the restored database.
    r.fails(
        &["dump", "FROM", "LATEST", "IN", &uri, "DATABASE", "bank"],
        &[],
        2,
        no_key,
    );
    let mut dump = vec!["dump", "FROM", "LATEST", "IN", &uri, "DATABASE", "bank"];
    dump.extend(with_file);
    let sql = r.ok(&dump, &[]);
    assert!(sql.contains("INSERT INTO"), "{sql}");
    let loaded = dir.path().join("loaded");
    r.ok(&["cluster", "init", s(&loaded)], &[]);
    let out = r.run(&["sql", "--cluster", s(&loaded)], &[], sql.as_bytes());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let count = |r: &mut Runner, c: &Path| {
        r.ok(
            &[
                "sql",
                "--cluster",
                s(c),
                "-e",
                "SELECT count(*) FROM bank.bank",
            ],
            &[],
        )
    };
    assert_eq!(count(&mut r, &loaded), count(&mut r, &dst));
    let all = |r: &mut Runner, c: &Path| {
        r.ok(
            &[
                "sql",
                "--cluster",
                s(c),
                "-e",
                "SELECT * FROM bank.bank ORDER BY id",
            ],
            &[],
        )
    };
    assert_eq!(all(&mut r, &loaded), all(&mut r, &dst));

    // `vouch sql` with the statement's options: the wrong passphrase is `ERROR: …`, exit
    // 1; the right one shows the backup.
    let out = r.run(
        &[
            "sql",
            "--cluster",
            s(&src),
            "-e",
            &format!("SHOW BACKUP FROM LATEST IN '{uri}' WITH encryption_passphrase = 'wrong'"),
        ],
        &[],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "ERROR: wrong passphrase: it does not unlock this backup's data key\n"
    );
    let out = r.run(
        &["sql", "--cluster", s(&src)],
        &[],
        format!("SHOW BACKUP FROM LATEST IN '{uri}' WITH encryption_passphrase = '{PASS}';")
            .as_bytes(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        table,
        "vouch sql and vouch show print the same table"
    );

    r.assert_never_printed(PASS);
    assert_not_stored(&coll_dir, PASS);
}

#[test]
fn aws_kms_two_keys_restore_with_either_then_alter_backup_adds_a_file_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Runner::new();
    let src = bank_source(&mut r, dir.path());
    let coll_dir = dir.path().join("kcoll");
    let uri = format!("file://{}", s(&coll_dir));
    let a1 = kms::create_key("cli first");
    let a2 = kms::create_key("cli second");
    let k1 = kms::aws_uri(&a1);
    let k2 = kms::aws_uri(&a2);

    r.ok(
        &[
            "backup",
            "--cluster",
            s(&src),
            "DATABASE",
            "bank",
            "INTO",
            &uri,
            "--kms",
            &k1,
            "--kms",
            &k2,
        ],
        &[],
    );
    // Without a key: the message names both KMS keys by uri_id.
    r.fails(
        &["show", "backup", "FROM", "LATEST", "IN", &uri],
        &[],
        2,
        &format!("error: the backup is encrypted but no key was given: its data key is wrapped by the KMS keys aws:///{a1}, aws:///{a2}; give --kms\n"),
    );
    // Only the second key restores.
    let dst = dir.path().join("dst");
    r.ok(
        &[
            "restore",
            "--cluster",
            s(&dst),
            "DATABASE",
            "bank",
            "FROM",
            "LATEST",
            "IN",
            &uri,
            "--kms",
            &k2,
        ],
        &[],
    );
    let want = fingerprints(&mut r, &src, "bank");
    assert_eq!(fingerprints(&mut r, &dst, "bank"), want);

    // ALTER BACKUP adds a local key file, unlocking with the first AWS key; every
    // existing file is unchanged and one record is added.
    let key = dir.path().join("file.key");
    std::fs::write(&key, [0x5a; 32]).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let file_key = format!("file://{}", s(&key));
    let before = snapshot(&coll_dir);
    let out = r.run(
        &[
            "alter",
            "backup",
            "LATEST",
            "IN",
            &uri,
            "--add-new-kms",
            &file_key,
            "--old-kms",
            &k1,
        ],
        &[],
        b"",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let after = snapshot(&coll_dir);
    for (p, b) in &before {
        assert_eq!(after.get(p), Some(b), "{p} changed");
    }
    let added: Vec<&String> = after.keys().filter(|p| !before.contains_key(*p)).collect();
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(
        Path::new(added[0]).file_name().unwrap(),
        "ENCRYPTION-INFO-1"
    );
    assert_eq!(
        text(&out.stderr),
        format!(
            "wrote {uri}/{}: the backup now also opens with {file_key}\n",
            added[0]
        )
    );

    // Only the new file key restores.
    let dst2 = dir.path().join("dst2");
    r.ok(
        &[
            "restore",
            "--cluster",
            s(&dst2),
            "DATABASE",
            "bank",
            "FROM",
            "LATEST",
            "IN",
            &uri,
            "--kms",
            &file_key,
        ],
        &[],
    );
    assert_eq!(fingerprints(&mut r, &dst2, "bank"), want);

    // A key that wraps nothing is named, with the keys that do.
    let other = kms::create_key("cli unrelated");
    let k3 = kms::aws_uri(&other);
    let dst3 = dir.path().join("dst3");
    r.fails(
        &[
            "restore", "--cluster", s(&dst3), "DATABASE", "bank", "FROM", "LATEST", "IN", &uri,
            "--kms", &k3,
        ],
        &[],
        2,
        &format!("error: none of the given KMS keys wraps this backup's data key: tried aws:///{other}; the data key is wrapped by aws:///{a1}, aws:///{a2}, {file_key}\n"),
    );

    r.assert_never_printed(kms::SECRET_IN_URI);
    r.assert_never_printed(kms::SECRET);
    assert_not_stored(&coll_dir, kms::SECRET_IN_URI);
    assert_not_stored(&coll_dir, kms::SECRET);
}
