//! Every SQL example of the CockroachDB pages vouch reproduces (`tests/seeds/*.txt`, copies
//! of the reference docs), run through `vouch_sql::Session`.
//!
//! The examples are extracted from the pages' `~~~ sql` blocks (`>` prompts and `\` line
//! continuations stripped, statements split at `;`). [`CASES`] lists each one with what it
//! must do; the test fails when a page holds an example the list does not cover, and when
//! the list holds one no page has. Each runnable example runs verbatim against a cluster
//! prepared with the objects it needs, except:
//! - storage URIs naming a cloud bucket or `userfile` storage are rewritten to
//!   `nodelocal://1/<scheme>/<host>/<path>` (query parameters dropped), per [`rewrite`];
//! - placeholders (`<database_name>`, `'<full_backup_location>'`, `{'subdirectory'}`) are
//!   replaced by the names the case set up, as each case says;
//! - the AWS KMS example's `aws:///{key}?…` names a key created (CreateKey) on the
//!   KMS-compatible moto server the test starts (`keys/tests/support`, never skipped):
//!   `{key}` becomes its ARN, `{KEY ID}` / `{SECRET ACCESS KEY}` the server's test
//!   credentials, and `AWS_ENDPOINT=<server>` is appended ([`kms_backup_aws`]).
//!
//! The examples naming cloud storage (`s3://`, `gs://`, `azure://`) run a second time on
//! real servers, each case on its own moto, fake-gcs-server and Azurite with the buckets
//! the pages name: their URIs as the pages write them, only the endpoint and the test
//! credentials added ([`cloud_examples_run_on_the_servers`]).
//!
//! Every example of the pages runs (the last refused ones, locality-aware lists and the
//! zone-restore flow, run since issue 15; the flow's statements also run in page order on
//! one cluster, [`the_manual_zone_restore_flow_runs_in_page_order`]); templates that are not SQL (`${uri_1}`, `BACKUP...`) and the page's one typo assert
//! the exact syntax error.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use vouch_cluster::workload::{self, Workload};
use vouch_cluster::Row;
use vouch_cluster::{Clock, Cluster};
use vouch_format::keys::Datum;
use vouch_format::mvcc::Timestamp;
use vouch_sql::{Output, Session};
use vouch_store::OpenOptions;
use vouch_testkit::servers::{self, OwnServer, Server};

#[path = "../../keys/tests/support/mod.rs"]
mod kms;

// ---- extraction --------------------------------------------------------------------------

/// The statements of every `~~~ sql` block, whitespace collapsed, with the file they are in.
fn seed_statements() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/seeds");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 5, "seed pages in {}", dir.display());
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let mut block: Option<String> = None;
        for line in text.lines() {
            let t = line.trim();
            match &mut block {
                None if t == "~~~ sql" || t == "~~~sql" => block = Some(String::new()),
                None => {}
                Some(b) if t == "~~~" => {
                    for s in vouch_sql::split_statements(b).unwrap() {
                        out.push((name.clone(), normalize(&s)));
                    }
                    block = None;
                }
                Some(b) => {
                    let l = t.strip_prefix('>').unwrap_or(t).trim();
                    let l = l.strip_suffix('\\').unwrap_or(l);
                    b.push_str(l);
                    b.push('\n');
                }
            }
        }
        assert!(block.is_none(), "{name}: unterminated sql block");
    }
    out
}

fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---- environment ---------------------------------------------------------------------------

fn wall(text: &str) -> u64 {
    vouch_format::time::parse_as_of(text, Timestamp::MAX)
        .unwrap()
        .wall
}

/// A source cluster `a` with the `bank` workload, `bank.customers` and `bank.accounts`
/// (made through SQL), a user `alice`, and an external connection `backup_s3`; the
/// clock starts at `start`.
struct Env {
    dir: tempfile::TempDir,
    a: Cluster,
}

impl Env {
    fn new(start: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let a = Cluster::init(&dir.path().join("a"), Clock::manual(wall(start))).unwrap();
        workload::init(&a, Workload::Bank, 30, 7).unwrap();
        a.create_user("alice", Some("s3cret"), [7; 16]).unwrap();
        let env = Env { dir, a };
        env.sql(
            "CREATE TABLE bank.customers (id INT PRIMARY KEY, name STRING NOT NULL);
             INSERT INTO bank.customers VALUES (1, 'Ann'), (2, 'Bo'), (3, 'Cy');
             CREATE TABLE bank.accounts (
                 id INT PRIMARY KEY,
                 customer_id INT NOT NULL REFERENCES bank.customers (id),
                 balance DECIMAL
             );
             INSERT INTO bank.accounts VALUES (10, 1, 5.25), (11, 1, 0), (12, 3, -7.5);
             CREATE EXTERNAL CONNECTION backup_s3 AS 'nodelocal://1/backup_s3'",
        );
        env.tick(1);
        env
    }

    fn tick(&self, secs: u64) {
        self.a.kv().clock().advance(secs * 1_000_000_000);
    }

    /// Moves the clock to `text` (forward only).
    fn advance_to(&self, text: &str) {
        let now = self.a.now().wall;
        let to = wall(text);
        assert!(to > now, "clock at {now}, asked for {text}");
        self.a.kv().clock().advance(to - now);
    }

    fn sql(&self, script: &str) -> Vec<Output> {
        run_on(&self.a, script)
    }

    /// An empty cluster `b` (its clock at `a`'s time) with `a`'s external-I/O folder
    /// copied, so `nodelocal://1/…` names the same backups.
    fn fresh(&self) -> Cluster {
        self.fresh_at("b")
    }

    /// [`Env::fresh`] in directory `name`.
    fn fresh_at(&self, name: &str) -> Cluster {
        let b = Cluster::init(
            &self.dir.path().join(name),
            Clock::manual(self.a.now().wall + 1_000_000_000),
        )
        .unwrap();
        copy_dir(&self.a.extern_dir(), &b.extern_dir());
        b
    }
}

fn run_on(c: &Cluster, script: &str) -> Vec<Output> {
    let script = on_servers(script);
    let mut s = Session::new(c);
    s.execute_all(&script)
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// The error of `stmt` on `c` (which must fail), with its storage URIs as [`run_on`]
/// takes them.
fn execute_err(c: &Cluster, stmt: &str) -> vouch_sql::Error {
    let stmt = on_servers(stmt);
    Session::new(c).execute(&stmt).expect_err(&stmt)
}

// ---- the cloud examples on the test servers ------------------------------------------------

/// The buckets (Azure containers) the pages' cloud URIs name, made on each server a case
/// starts; the KMS example's `{BUCKET NAME}` placeholder is `bucket-name` there.
const BUCKETS: &[&str] = &[
    "bucket",
    "test",
    "us-east-bucket",
    "us-west-bucket",
    "other-full-backup-uri",
    "acme-co-backup",
    "acme-co-backup-us-west",
    "bucket-name",
];

thread_local! {
    /// The servers of the case running on them ([`cloud_examples_run_on_the_servers`]),
    /// each started on its first use; `None` while cases run on `nodelocal://`.
    static SERVERS: RefCell<Option<Vec<OwnServer>>> = const { RefCell::new(None) };
}

/// The endpoint of the running case's own `server` (`None` off the servers).
fn own_endpoint(server: Server) -> Option<String> {
    SERVERS.with(|s| {
        let mut s = s.borrow_mut();
        let started = s.as_mut()?;
        if let Some(o) = started.iter().find(|o| o.server() == server) {
            return Some(o.endpoint().to_string());
        }
        let o = OwnServer::start(server, BUCKETS);
        let endpoint = o.endpoint().to_string();
        started.push(o);
        Some(endpoint)
    })
}

/// On the servers, the cloud URI [`rewrite`] made `rel` of (`<scheme>/<bucket>[/<path>]
/// [?<query>]` under `nodelocal://1/`), on the case's own server of its scheme: bucket and
/// path as the page wrote them, the query [`rewrite`] kept (`COCKROACH_LOCALITY`), and the
/// server's endpoint and the test credentials ([`servers::uri_in`]). `None` off the
/// servers, or for a folder that is no cloud URI's.
fn server_uri(rel: &str) -> Option<String> {
    let (scheme, rest) = rel.split_once('/')?;
    let server = match scheme {
        "s3" => Server::Moto,
        "gs" => Server::FakeGcs,
        "azure" => Server::Azurite,
        _ => return None,
    };
    let endpoint = own_endpoint(server)?;
    let (place, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (bucket, path) = place.split_once('/').unwrap_or((place, ""));
    let bucket = if bucket == "{BUCKET NAME}" {
        "bucket-name"
    } else {
        bucket
    };
    let uri = servers::uri_in(server, &endpoint, bucket, path);
    Some(if query.is_empty() {
        uri
    } else {
        format!("{uri}&{query}")
    })
}

/// `script` with every quoted `'nodelocal://1/<scheme>/…'` that names a cloud URI turned
/// into it on the case's servers ([`server_uri`]); unchanged off the servers.
fn on_servers(script: &str) -> String {
    const MARK: &str = "'nodelocal://1/";
    if SERVERS.with(|s| s.borrow().is_none()) {
        return script.to_string();
    }
    let mut out = String::new();
    let mut rest = script;
    while let Some(i) = rest.find(MARK) {
        out.push_str(&rest[..i]);
        let after = &rest[i + MARK.len()..];
        let end = after.find('\'').unwrap_or(after.len());
        let (rel, tail) = after.split_at(end);
        match server_uri(rel) {
            Some(uri) => out.push_str(&format!("'{uri}")),
            None => out.push_str(&format!("{MARK}{rel}")),
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Every object under `rel` (a folder [`rewrite`] maps a cloud URI to, `<scheme>/<bucket>/
/// <path>`), by path relative to it, sorted, with its bytes: from `c`'s external-I/O
/// folder, or on the servers from the case's own server.
fn objects(c: &Cluster, rel: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = match server_uri(rel) {
        Some(uri) => {
            let store = vouch_store::open(&uri, &OpenOptions::default()).unwrap();
            store
                .list("")
                .unwrap()
                .into_iter()
                .map(|o| {
                    let bytes = store.get(&o.path).unwrap();
                    (o.path, bytes)
                })
                .collect()
        }
        None => {
            let root = c.extern_dir().join(rel);
            stored_files(&root)
                .into_iter()
                .map(|(p, b)| {
                    let rel = p
                        .strip_prefix(&root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    (rel, b)
                })
                .collect()
        }
    };
    out.sort();
    out
}

/// `uri` (a `nodelocal://1/…` URI [`rewrite`] made) as statements and outputs show it: on
/// the servers, its cloud URI there with the secrets redacted.
fn shown_uri(uri: &str) -> String {
    uri.strip_prefix("nodelocal://1/")
        .and_then(server_uri)
        .map_or_else(|| uri.to_string(), |u| vouch_store::redact_uri(&u))
}

/// The bytes of the object `path` among `objs` ([`objects`]).
fn object<'o>(objs: &'o [(String, Vec<u8>)], path: &str) -> Option<&'o [u8]> {
    objs.iter()
        .find(|(p, _)| p == path)
        .map(|(_, b)| b.as_slice())
}

/// The runnable examples that name cloud storage (`s3://`, `gs://`, `azure://`) run
/// again on real servers: each case on its own moto (S3), fake-gcs-server (GCS) and
/// Azurite (Azure), started by the project's scripts with the buckets the pages name and
/// stopped after the case. The URIs are the pages' (bucket, path, `COCKROACH_LOCALITY`),
/// with the server's endpoint and the test credentials added in place of the pages' own
/// (`AUTH=implicit`, `x`, `hash`, `{KEY ID}`); `{BUCKET NAME}` is `bucket-name`. Every
/// check of each case holds there as it does on `nodelocal://`.
#[test]
fn cloud_examples_run_on_the_servers() {
    let mut ran = 0;
    for (stmt, case) in CASES {
        let Case::Run(f) = case else { continue };
        if !["s3://", "gs://", "azure://"]
            .iter()
            .any(|s| stmt.contains(s))
        {
            continue;
        }
        SERVERS.with(|s| *s.borrow_mut() = Some(Vec::new()));
        let outcome = std::panic::catch_unwind(|| f(stmt));
        // Dropped: the case's servers are stopped.
        let started = SERVERS.with(|s| s.borrow_mut().take()).unwrap_or_default();
        if let Err(e) = outcome {
            eprintln!("on the servers: {stmt}");
            std::panic::resume_unwind(e);
        }
        assert!(!started.is_empty(), "{stmt}: no server was used");
        ran += 1;
    }
    assert!(ran >= 25, "{ran} cloud examples");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
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

/// The rows of every table in `db` (by name), for comparing a restore with its source.
fn database_rows(c: &Cluster, db: &str) -> Vec<(String, Vec<Row>)> {
    let cat = c.catalog(c.now()).unwrap();
    let d = cat.database(db).unwrap_or_else(|| panic!("database {db}"));
    let mut names: Vec<String> = cat
        .tables()
        .filter(|t| vouch_format::schema::parents(t).0 == d.id)
        .map(|t| t.name.clone())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let r = rows(c, db, &n);
            (n, r)
        })
        .collect()
}

/// The single result table of a statement's output.
fn table(out: &[Output]) -> &vouch_engine::output::Table {
    out.last().and_then(Output::table).expect("a result table")
}

fn cell<'t>(t: &'t vouch_engine::output::Table, row: usize, col: &str) -> &'t str {
    let i = t.columns.iter().position(|c| c == col).unwrap();
    t.rows[row][i].as_deref().unwrap()
}

/// Checks a BACKUP/RESTORE result row: CockroachDB's columns, `succeeded`, and `rows`.
fn assert_job(out: &[Output], rows: usize) {
    let t = table(out);
    assert_eq!(
        t.columns,
        [
            "job_id",
            "status",
            "fraction_completed",
            "rows",
            "index_entries",
            "bytes"
        ]
    );
    assert_eq!(t.rows.len(), 1);
    assert_eq!(cell(t, 0, "status"), "succeeded");
    assert_eq!(cell(t, 0, "fraction_completed"), "1");
    assert_eq!(cell(t, 0, "rows"), rows.to_string());
}

// Row counts of the prepared source: 30 bank accounts, 3 customers, 3 accounts, and
// system.users (admin, root, alice), which every backup holds.
const BANK_ROWS: usize = 30;
const USERS: usize = 3;
const DB_ROWS: usize = BANK_ROWS + 3 + 3 + USERS;

/// Rewrites cloud and userfile URIs to `nodelocal://1/<scheme>/<host>/<path>` (the
/// database restore from userfile runs verbatim: `restore_database_userfile`).
fn rewrite(stmt: &str) -> String {
    let mut out = String::new();
    let mut rest = stmt;
    while let Some(i) = rest.find('\'') {
        out.push_str(&rest[..=i]);
        let after = &rest[i + 1..];
        let j = after.find('\'').expect("closing quote");
        let s = &after[..j];
        let mapped = ["s3://", "gs://", "azure://", "userfile://"]
            .iter()
            .find_map(|p| s.strip_prefix(p).map(|r| (p.trim_end_matches("://"), r)))
            .map(|(scheme, r)| {
                let (path, query) = r.split_once('?').unwrap_or((r, ""));
                // A locality-aware list keeps its COCKROACH_LOCALITY parameter (the rest of
                // the query is dropped).
                let locality = query
                    .split('&')
                    .find(|p| p.starts_with("COCKROACH_LOCALITY="))
                    .map_or(String::new(), |p| format!("?{p}"));
                format!(
                    "nodelocal://1/{scheme}/{}{locality}",
                    path.trim_matches('/')
                )
            });
        out.push_str(mapped.as_deref().unwrap_or(s));
        out.push('\'');
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    out
}

// ---- the cases -------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Case {
    /// Runs; the function prepares, runs the (rewritten) statement and checks the outcome.
    Run(fn(&str)),
    /// Not SQL (a template or a typo in the page): this exact syntax error.
    Syntax(&'static str),
}

const CASES: &[(&str, Case)] = &[
    // -- 000: customer-owned backups on CockroachDB Cloud --
    ("BACKUP INTO 'external://backup_s3' AS OF SYSTEM TIME '-10s'", Case::Run(cluster_backup_external)),
    ("BACKUP DATABASE bank INTO 'external://backup_s3' AS OF SYSTEM TIME '-10s'", Case::Run(database_backup_external)),
    ("BACKUP bank.customers INTO 'external://backup_s3' AS OF SYSTEM TIME '-10s'", Case::Run(table_backup_external)),
    ("SHOW BACKUPS IN 's3://bucket/path?AUTH=implicit'", Case::Run(show_backups)),
    ("RESTORE FROM LATEST IN 's3://bucket/path?AUTH=implicit'", Case::Run(restore_cluster_latest)),
    ("RESTORE FROM '2023/03/23-213101.37' IN 's3://bucket/path?AUTH=implicit'", Case::Run(restore_cluster_subdir)),
    ("BACKUP INTO LATEST IN 'external://backup_s3' AS OF SYSTEM TIME '-10s'", Case::Run(incremental_latest)),
    ("BACKUP INTO {'subdirectory'} IN 'external://backup_s3' AS OF SYSTEM TIME '-10s'", Case::Run(incremental_subdir)),
    ("CREATE SCHEDULE schedule_label FOR BACKUP INTO 's3://test/backups/schedule_test?AWS_ACCESS_KEY_ID=x&AWS_SECRET_ACCESS_KEY=x' WITH revision_history RECURRING '@daily'", Case::Run(create_schedule_daily)),
    ("BACKUP INTO 's3://{BUCKET NAME}?AWS_ACCESS_KEY_ID={KEY ID}&AWS_SECRET_ACCESS_KEY={SECRET ACCESS KEY}' WITH kms = 'aws:///{key}?AWS_ACCESS_KEY_ID={KEY ID}&AWS_SECRET_ACCESS_KEY={SECRET ACCESS KEY}&REGION=us-east-1'", Case::Run(kms_backup_aws)),
    ("BACKUP INTO ('s3://us-east-bucket?COCKROACH_LOCALITY=default', 's3://us-west-bucket?COCKROACH_LOCALITY=region%3Dus-west')", Case::Run(locality_backup)),
    ("RESTORE FROM LATEST IN ('s3://us-east-bucket', 's3://us-west-bucket')", Case::Run(locality_restore)),
    ("RESTORE DATABASE bank FROM '2021/03/24-210532.53' IN 'userfile://defaultdb.public.userfiles_$user/bank-backup'", Case::Run(restore_database_userfile)),
    ("RESTORE FROM LATEST IN 'userfile://defaultdb.public.userfiles_$user/bank-backup'", Case::Run(restore_cluster_userfile)),
    // -- 001: back up and restore data (legacy TO / FROM forms) --
    ("BACKUP DATABASE <database_name> TO '<full_backup_location>'", Case::Run(legacy_full_placeholders)),
    ("RESTORE DATABASE <database_name> FROM '<full_backup_location>'", Case::Run(legacy_restore_database_placeholders)),
    ("BACKUP DATABASE <database_name> TO 'incremental_backup_location' INCREMENTAL FROM '<full_backup_location>', '<list_of_previous_incremental_backup_location>'", Case::Run(legacy_incremental_placeholders)),
    ("RESTORE <database_name> FROM '<full_backup_location>', '<list_of_previous_incremental_backup_locations>'", Case::Run(legacy_restore_table_placeholders)),
    ("BACKUP DATABASE foo TO ('s3://us-east-bucket?COCKROACH_LOCALITY=default', 's3://us-west-bucket?COCKROACH_LOCALITY=region%3Dus-west')", Case::Run(locality_backup)),
    ("RESTORE DATABASE foo FROM ('s3://us-east-bucket', 's3://us-west-bucket')", Case::Run(locality_restore)),
    ("RESTORE DATABASE foo FROM 's3://other-full-backup-uri', ('s3://us-east-bucket', 's3://us-west-bucket')", Case::Run(locality_restore)),
    // -- 002: advanced options --
    ("BACKUP DATABASE bank TO 'gs://acme-co-backup/db/bank/2017-03-29-nightly' AS OF SYSTEM TIME '-10s' INCREMENTAL FROM 'gs://acme-co-backup/database-bank-2017-03-27-weekly', 'gs://acme-co-backup/database-bank-2017-03-28-nightly' WITH revision_history", Case::Run(legacy_incremental_revision_history)),
    ("BACKUP TO 'gs://acme-co-backup/test-cluster-2017-03-27-weekly' AS OF SYSTEM TIME '-10s' WITH revision_history", Case::Run(legacy_cluster_revision_history)),
    ("RESTORE FROM 'gs://acme-co-backup/database-bank-2017-03-27-weekly' AS OF SYSTEM TIME '2017-02-26 10:00:00'", Case::Run(legacy_restore_point_in_time)),
    ("RESTORE FROM 'gs://acme-co-backup/database-bank-2017-03-27-weekly', 'gs://acme-co-backup/database-bank-2017-03-28-nightly', 'gs://acme-co-backup/database-bank-2017-03-29-nightly' AS OF SYSTEM TIME '2017-02-28 10:00:00'", Case::Run(legacy_restore_chain_point_in_time)),
    ("BACKUP TO ('s3://us-east-bucket?COCKROACH_LOCALITY=default', 's3://us-west-bucket?COCKROACH_LOCALITY=region%3Dus-west')", Case::Run(locality_backup)),
    ("RESTORE FROM ('s3://us-east-bucket', 's3://us-west-bucket')", Case::Run(locality_restore)),
    ("ALTER PARTITION europe_west OF INDEX movr.public.rides@primary CONFIGURE ZONE USING constraints = '[+region=europe-west1]'", Case::Run(partition_zone)),
    ("ALTER PARTITION us_east OF INDEX movr.public.rides@primary CONFIGURE ZONE USING constraints = '[+region=us-east1]'", Case::Run(partition_zone)),
    ("ALTER PARTITION us_west OF INDEX movr.public.rides@primary CONFIGURE ZONE USING constraints = '[+region=us-west1]'", Case::Run(partition_zone)),
    ("BACKUP TO (${uri_1}, ${uri_2}, ...) INCREMENTAL FROM ${full_backup_uri} ...", Case::Syntax("syntax error: at or near \"$\": expected a URI string")),
    ("BACKUP TO ('s3://us-east-bucket/test-cluster-2019-10-08-nightly?COCKROACH_LOCALITY=default', 's3://us-west-bucket/test-cluster-2019-10-08-nightly?COCKROACH_LOCALITY=region%3Dus-west') INCREMENTAL FROM 's3://us-east-bucket/test-cluster-2019-10-07-weekly'", Case::Run(locality_backup)),
    ("BACKUP TO ('s3://us-east-bucket/database-bank-2019-10-08-nightly?COCKROACH_LOCALITY=default', 's3://us-west-bucket/database-bank-2019-10-08-nightly?COCKROACH_LOCALITY=region%3Dus-west') INCREMENTAL FROM 's3://us-east-bucket/database-bank-2019-10-07-weekly'", Case::Run(locality_backup)),
    ("RESTORE FROM ('s3://us-east-bucket/database-bank-2019-10-07-weekly', 's3://us-west-bucket/database-bank-2019-10-07-weekly'), ('s3://us-east-bucket/database-bank-2019-10-08-nightly', 's3://us-west-bucket/database-bank-2019-10-08-nightly')", Case::Run(locality_restore)),
    ("BACKUP TO ({uri_1}, {uri_2}, ...) INCREMENTAL FROM {full_backup}, {incr_backup_1}, {incr_backup_2}, ...", Case::Syntax("syntax error: at or near \"{\": expected a URI string")),
    ("BACKUP TO ('s3://us-east-bucket/test-cluster-2019-10-10-nightly?COCKROACH_LOCALITY=default', 's3://us-west-bucket/test-cluster-2019-10-10-nightly?COCKROACH_LOCALITY=region%3Dus-west') INCREMENTAL FROM 's3://us-east-bucket/test-cluster-2019-10-07-weekly', 's3://us-east-bucket/test-cluster-2019-10-08-nightly', 's3://us-east-bucket/test-cluster-2019-10-09-nightly'", Case::Run(locality_backup)),
    ("PAUSE JOB 27536791415282", Case::Run(pause_restore_job)),
    ("RESTORE system.zones FROM 'azure://acme-co-backup?AZURE_ACCOUNT_KEY=hash&AZURE_ACCOUNT_NAME=acme-co' WITH into_db = 'newdb'", Case::Run(restore_zones_into_db)),
    ("INSERT INTO system.zones SELECT * FROM newdb.zones", Case::Run(insert_zones_from_newdb)),
    ("DROP TABLE newdb.zones", Case::Run(drop_table_newdb_zones)),
    ("RESUME JOB 27536791415282", Case::Run(resume_restore_job)),
    ("BACKUP TO 'gs://acme-co-backup/test-cluster' WITH encryption_passphrase = 'password123'", Case::Run(legacy_backup_passphrase)),
    ("RESTORE FROM 'gs://acme-co-backup/test-cluster' WITH encryption_passphrase = 'password123'", Case::Run(legacy_restore_passphrase)),
    ("RESTORE bank.customers FROM 'gs://acme-co-backup/database-bank-2017-03-27-weekly' WITH into_db = 'newdb'", Case::Run(restore_table_into_db)),
    ("RESTORE bank.accounts FROM 'gs://acme-co-backup/database-bank-2017-03-27-weekly' WITH skip_missing_foreign_keys", Case::Run(restore_table_skip_missing_foreign_keys)),
    ("RESTORE system.users FROM 'azure://acme-co-backup/table-users-2017-03-27-full?AZURE_ACCOUNT_KEY=hash&AZURE_ACCOUNT_NAME=acme-co' WITH into_db = 'newdb'", Case::Run(restore_users_into_db)),
    ("INSERT INTO system.users SELECT * FROM newdb.users", Case::Run(insert_users_from_newdb)),
    ("DROP TABLE newdb.users", Case::Run(drop_table_newdb_users)),
    // -- 004: BACKUP --
    ("BACKUP...AS OF SYSTEM TIME '2017-06-09 16:13:55.571516+00:00'", Case::Syntax("syntax error: at or near \".\": expected a name")),
    ("BACKUP bank.customers TO 'azure://acme-co-backup/table-customer-2017-03-27-full?AZURE_ACCOUNT_KEY=hash&AZURE_ACCOUNT_NAME=acme-co' AS OF SYSTEM TIME '2017-06-09 16:13:55.571516+00:00'", Case::Run(legacy_table_backup_as_of)),
    // The page's example has a stray `)` at the end.
    ("BACKUP bank.customers, bank.accounts TO 'azure://acme-co-backup/tables-accounts-customers-2017-03-27-full?AZURE_ACCOUNT_KEY=hash&AZURE_ACCOUNT_NAME=acme-co' AS OF SYSTEM TIME '2017-06-09 16:13:55.571516+00:00')", Case::Syntax("syntax error: at or near \")\": expected end of statement")),
    ("BACKUP DATABASE bank TO 'azure://acme-co-backup/database-bank-2017-03-27-full?AZURE_ACCOUNT_KEY=hash&AZURE_ACCOUNT_NAME=acme-co' AS OF SYSTEM TIME '2017-06-09 16:13:55.571516+00:00'", Case::Run(legacy_database_backup_as_of)),
    ("BACKUP DATABASE bank TO 'azure://acme-co-backup/database-bank-2017-03-29-incremental?AZURE_ACCOUNT_KEY=hash&AZURE_ACCOUNT_NAME=acme-co' INCREMENTAL FROM 'azure://acme-co-backup/database-bank-2017-03-27-full?AZURE_ACCOUNT_KEY=hash&AZURE_ACCOUNT_NAME=acme-co' , 'azure://acme-co-backup/database-bank-2017-03-28-incremental?AZURE_ACCOUNT_KEY=hash&AZURE_ACCOUNT_NAME=acme-co' AS OF SYSTEM TIME '2017-06-09 16:13:55.571516+00:00'", Case::Run(legacy_incremental_as_of)),
];

#[test]
fn every_seed_example_is_listed_and_every_listed_example_is_in_the_seeds() {
    let seeds = seed_statements();
    let listed: Vec<&str> = CASES.iter().map(|(s, _)| *s).collect();
    let missing: Vec<String> = seeds
        .iter()
        .filter(|(_, s)| !listed.contains(&s.as_str()))
        .map(|(f, s)| format!("{f}: {s}"))
        .collect();
    assert!(
        missing.is_empty(),
        "examples not covered by CASES:\n{}",
        missing.join("\n")
    );
    let stale: Vec<&str> = listed
        .iter()
        .filter(|l| !seeds.iter().any(|(_, s)| s == *l))
        .copied()
        .collect();
    assert!(
        stale.is_empty(),
        "CASES not in any seed:\n{}",
        stale.join("\n")
    );
    let mut sorted = listed.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), listed.len(), "a case is listed twice");
}

fn run_cases(pred: impl Fn(&Case) -> bool) {
    for (stmt, case) in CASES.iter().filter(|(_, c)| pred(c)) {
        match case {
            Case::Run(f) => f(stmt),
            Case::Syntax(msg) => {
                let env = Env::new("2026-01-01 00:00:00");
                let e = Session::new(&env.a).execute(stmt).expect_err(stmt);
                assert_eq!(e.to_string(), *msg, "{stmt}");
            }
        }
    }
}

#[test]
fn templates_are_syntax_errors() {
    run_cases(|c| !matches!(c, Case::Run(_)));
}

#[test]
fn runnable_examples_run_verbatim() {
    run_cases(|c| matches!(c, Case::Run(_)));
}

// ---- runnable cases ------------------------------------------------------------------------

fn exec(env: &Env, stmt: &str) -> Vec<Output> {
    env.sql(&rewrite(stmt))
}

fn show_backup_objects(c: &Cluster, uri: &str) -> Vec<(String, String)> {
    let out = run_on(c, &format!("SHOW BACKUP FROM LATEST IN '{uri}'"));
    let t = table(&out);
    (0..t.rows.len())
        .map(|i| {
            (
                cell(t, i, "object_name").to_string(),
                cell(t, i, "backup_type").to_string(),
            )
        })
        .collect()
}

fn cluster_backup_external(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    env.tick(20);
    assert_job(&exec(&env, stmt), DB_ROWS);
    let objs = show_backup_objects(&env.a, "external://backup_s3");
    for t in ["bank", "customers", "accounts", "users"] {
        assert!(
            objs.contains(&(t.to_string(), "full".to_string())),
            "{objs:?}"
        );
    }
}

fn database_backup_external(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    env.tick(20);
    assert_job(&exec(&env, stmt), DB_ROWS);
    // The connection names the collection: the backup is in the folder it points at.
    assert!(env.a.extern_dir().join("backup_s3/LATEST").exists());
}

fn table_backup_external(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    env.tick(20);
    assert_job(&exec(&env, stmt), 3 + USERS);
    let objs = show_backup_objects(&env.a, "external://backup_s3");
    assert!(objs.contains(&("customers".into(), "full".into())));
    assert!(!objs.iter().any(|(o, _)| o == "accounts"), "{objs:?}");
}

fn show_backups(stmt: &str) {
    let env = Env::new("2023-03-23 21:00:00");
    env.sql("BACKUP INTO 'nodelocal://1/s3/bucket/path'");
    env.tick(3600);
    env.sql("BACKUP INTO 'nodelocal://1/s3/bucket/path'");
    let out = exec(&env, stmt);
    let t = table(&out);
    assert_eq!(t.columns, ["path"]);
    assert_eq!(t.rows.len(), 2);
    assert!(cell(t, 0, "path").starts_with("/2023/03/23-2100"), "{t:?}");
    assert!(cell(t, 1, "path").starts_with("/2023/03/23-2200"), "{t:?}");
}

/// A cluster backup of `a` into the collection `uri`, restored by `stmt` into an empty
/// cluster: every database's rows equal the source's.
fn restore_cluster_into_fresh(env: &Env, stmt: &str) {
    let b = env.fresh();
    let out = run_on(&b, &rewrite(stmt));
    assert_job(&out, DB_ROWS);
    for db in ["bank", "defaultdb"] {
        assert_eq!(database_rows(&b, db), database_rows(&env.a, db), "{db}");
    }
    assert_eq!(rows(&b, "system", "users"), rows(&env.a, "system", "users"));
}

fn restore_cluster_latest(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    env.sql("BACKUP INTO 'nodelocal://1/s3/bucket/path'");
    restore_cluster_into_fresh(&env, stmt);
}

fn restore_cluster_subdir(stmt: &str) {
    // The clock is set so that the full backup's directory is the one the page names.
    let env = Env::new("2023-03-23 21:30:00");
    env.advance_to("2023-03-23 21:31:01.375");
    env.sql("BACKUP INTO 'nodelocal://1/s3/bucket/path'");
    // A newer full backup with other data: the named one must be restored, not LATEST.
    env.tick(60);
    let newest = rows(&env.a, "bank", "customers");
    run_on(&env.a, "DELETE FROM bank.accounts WHERE id = 12");
    env.tick(1);
    run_on(&env.a, "DELETE FROM bank.customers WHERE id = 3");
    env.tick(1);
    env.sql("BACKUP INTO 'nodelocal://1/s3/bucket/path'");
    let b = env.fresh();
    assert_job(&run_on(&b, &rewrite(stmt)), DB_ROWS);
    assert_eq!(rows(&b, "bank", "customers"), newest);
    assert_eq!(rows(&b, "bank", "accounts").len(), 3);
}

fn incremental_latest(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    env.tick(20);
    env.sql("BACKUP INTO 'external://backup_s3' AS OF SYSTEM TIME '-10s'");
    env.sql("INSERT INTO bank.customers VALUES (4, 'Di')");
    env.tick(20);
    // One changed row in customers since the full backup.
    assert_job(&exec(&env, stmt), 1);
    let objs = show_backup_objects(&env.a, "external://backup_s3");
    assert!(
        objs.contains(&("customers".into(), "incremental".into())),
        "{objs:?}"
    );
}

fn create_schedule_daily(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    let out = exec(&env, stmt);
    let t = table(&out);
    assert_eq!(
        t.columns,
        [
            "schedule_id",
            "label",
            "status",
            "first_run",
            "schedule",
            "backup_stmt"
        ]
    );
    // As SHOW SCHEDULES shows it (secrets redacted, on the servers).
    let uri = &shown_uri("nodelocal://1/s3/test/backups/schedule_test");
    let shown: Vec<Vec<Option<String>>> = t.rows.iter().map(|r| r[1..].to_vec()).collect();
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        shown,
        vec![
            vec![
                s("schedule_label"),
                s("PAUSED: Waiting for initial backup to complete"),
                None,
                s("@daily"),
                Some(format!(
                    "BACKUP INTO LATEST IN '{uri}' WITH revision_history, detached"
                )),
            ],
            vec![
                s("schedule_label"),
                s("ACTIVE"),
                s("2026-01-01 00:00:01+00:00"),
                s("@weekly"),
                Some(format!(
                    "BACKUP INTO '{uri}' WITH revision_history, detached"
                )),
            ],
        ]
    );
}

fn incremental_subdir(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    env.tick(20);
    env.sql("BACKUP INTO 'external://backup_s3' AS OF SYSTEM TIME '-10s'");
    let out = env.sql("SHOW BACKUPS IN 'external://backup_s3'");
    let sub = cell(table(&out), 0, "path").to_string();
    env.tick(60);
    env.sql("BACKUP INTO 'external://backup_s3'");
    env.sql("UPDATE bank.customers SET name = 'Anne' WHERE id = 1");
    env.tick(20);
    // Placeholder: `'subdirectory'` names the first full backup.
    let stmt = stmt.replace("'subdirectory'", &format!("'{sub}'"));
    assert_job(&exec(&env, &stmt), 1);
    let out = env.sql(&format!(
        "SHOW BACKUP FROM '{sub}' IN 'external://backup_s3'"
    ));
    let t = table(&out);
    assert!((0..t.rows.len()).any(|i| cell(t, i, "backup_type") == "incremental"));
}

/// Verbatim, as the page runs it: userfiles are the cluster's own (`userfile://`, no
/// rewrite), so the backup and the restore run on the same cluster, the database dropped
/// between them.
fn restore_database_userfile(stmt: &str) {
    let env = Env::new("2021-03-24 21:00:00");
    env.advance_to("2021-03-24 21:05:32.531");
    env.sql("BACKUP DATABASE bank INTO 'userfile://defaultdb.public.userfiles_$user/bank-backup'");
    let before = database_rows(&env.a, "bank");
    env.sql("DROP DATABASE bank CASCADE");
    assert_job(&env.sql(stmt), DB_ROWS - USERS);
    assert_eq!(database_rows(&env.a, "bank"), before);
}

fn restore_cluster_userfile(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    env.sql("BACKUP INTO 'nodelocal://1/userfile/defaultdb.public.userfiles_$user/bank-backup'");
    restore_cluster_into_fresh(&env, stmt);
}

const FULL: &str = "nodelocal://1/legacy/full";
const INC1: &str = "nodelocal://1/legacy/inc1";

fn placeholders(stmt: &str, db: &str) -> String {
    stmt.replace("<database_name>", db)
        .replace("'<full_backup_location>'", &format!("'{FULL}'"))
        .replace(
            "'<list_of_previous_incremental_backup_location>'",
            &format!("'{INC1}'"),
        )
        .replace(
            "'<list_of_previous_incremental_backup_locations>'",
            &format!("'{INC1}'"),
        )
        .replace(
            "'incremental_backup_location'",
            "'nodelocal://1/legacy/inc2'",
        )
}

fn legacy_full_placeholders(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    assert_job(&env.sql(&placeholders(stmt, "bank")), DB_ROWS);
    // A legacy backup is written at the URI's root, with no LATEST.
    let root = env.a.extern_dir().join("legacy/full");
    assert!(root.join("BACKUP_MANIFEST").exists());
    assert!(!root.join("LATEST").exists());
}

fn legacy_restore_database_placeholders(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    env.sql(&format!("BACKUP DATABASE bank TO '{FULL}'"));
    let b = env.fresh();
    assert_job(&run_on(&b, &placeholders(stmt, "bank")), DB_ROWS - USERS);
    assert_eq!(database_rows(&b, "bank"), database_rows(&env.a, "bank"));
}

/// A legacy full backup and one incremental of database bank, with changes in between.
fn legacy_chain(env: &Env) {
    env.sql(&format!("BACKUP DATABASE bank TO '{FULL}'"));
    env.tick(1);
    env.sql("INSERT INTO bank.customers VALUES (4, 'Di'), (5, 'Ed')");
    env.tick(1);
    env.sql(&format!(
        "BACKUP DATABASE bank TO '{INC1}' INCREMENTAL FROM '{FULL}'"
    ));
    env.tick(1);
    env.sql("UPDATE bank.customers SET name = 'Bob' WHERE id = 2");
    env.tick(1);
}

fn legacy_incremental_placeholders(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    legacy_chain(&env);
    assert_job(&env.sql(&placeholders(stmt, "bank")), 1);
}

fn legacy_restore_table_placeholders(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    legacy_chain(&env);
    env.sql(&format!(
        "BACKUP DATABASE bank TO 'nodelocal://1/legacy/inc2' INCREMENTAL FROM '{FULL}', '{INC1}'"
    ));
    let b = env.fresh();
    run_on(&b, "CREATE DATABASE bank");
    // Placeholder: in `RESTORE <name> FROM` the name is a table pattern; the table `bank`
    // of database `bank` is restored, from the full backup and the one incremental named.
    let out = run_on(&b, &placeholders(stmt, "bank.customers"));
    assert_job(&out, 5);
    // As of the incremental's end: Di and Ed added, Bo not yet renamed.
    let got = rows(&b, "bank", "customers");
    assert_eq!(got.len(), 5);
    assert_eq!(got[1][1], Datum::String("Bo".into()));
}

/// A revision-history chain of legacy backups of the whole cluster, at the page's URIs,
/// with the clock running from 2017-02-25 to 2017-03-29.
fn legacy_revision_chain(env: &Env) {
    let weekly = rewrite("'gs://acme-co-backup/database-bank-2017-03-27-weekly'");
    let nightly = rewrite("'gs://acme-co-backup/database-bank-2017-03-28-nightly'");
    let nightly2 = rewrite("'gs://acme-co-backup/database-bank-2017-03-29-nightly'");
    env.advance_to("2017-02-27 12:00:00");
    env.sql("UPDATE bank.customers SET name = 'Ann II' WHERE id = 1");
    env.advance_to("2017-03-01 12:00:00");
    env.sql("DELETE FROM bank.accounts WHERE id = 11");
    env.advance_to("2017-03-27 00:00:00");
    env.sql(&format!("BACKUP TO {weekly} WITH revision_history"));
    env.advance_to("2017-03-28 00:00:00");
    env.sql("INSERT INTO bank.customers VALUES (4, 'Di')");
    env.sql(&format!(
        "BACKUP TO {nightly} INCREMENTAL FROM {weekly} WITH revision_history"
    ));
    env.advance_to("2017-03-29 00:00:00");
    env.sql(&format!(
        "BACKUP TO {nightly2} INCREMENTAL FROM {weekly}, {nightly} WITH revision_history"
    ));
    env.tick(1);
}

fn legacy_incremental_revision_history(stmt: &str) {
    let env = Env::new("2017-02-25 00:00:00");
    env.advance_to("2017-03-27 00:00:00");
    let weekly = rewrite("'gs://acme-co-backup/database-bank-2017-03-27-weekly'");
    let nightly = rewrite("'gs://acme-co-backup/database-bank-2017-03-28-nightly'");
    env.sql(&format!(
        "BACKUP DATABASE bank TO {weekly} WITH revision_history"
    ));
    env.advance_to("2017-03-28 00:00:00");
    env.sql("INSERT INTO bank.customers VALUES (4, 'Di')");
    env.sql(&format!(
        "BACKUP DATABASE bank TO {nightly} INCREMENTAL FROM {weekly} WITH revision_history"
    ));
    env.advance_to("2017-03-29 00:00:00");
    env.sql("UPDATE bank.customers SET name = 'Dee' WHERE id = 4");
    env.sql("UPDATE bank.customers SET name = 'Dot' WHERE id = 4");
    env.tick(20);
    // Both revisions of the row are in the layer.
    assert_job(&exec(&env, stmt), 2);
}

fn legacy_cluster_revision_history(stmt: &str) {
    let env = Env::new("2017-03-27 00:00:00");
    env.sql("UPDATE bank.customers SET name = 'Ann II' WHERE id = 1");
    env.tick(20);
    // Every revision: each row's insert, plus the update.
    let out = exec(&env, stmt);
    let t = table(&out);
    let n: usize = cell(t, 0, "rows").parse().unwrap();
    assert!(n > DB_ROWS, "{n} revisions");
    let stored = objects(&env.a, "gs/acme-co-backup/test-cluster-2017-03-27-weekly");
    assert!(object(&stored, "BACKUP_MANIFEST").is_some());
}

/// `b`'s bank.customers and accounts after a restore AS OF 2017-02-26 / 02-28.
fn check_point_in_time(b: &Cluster, renamed: bool) {
    let c = rows(b, "bank", "customers");
    assert_eq!(c.len(), 3);
    let want = if renamed { "Ann II" } else { "Ann" };
    assert_eq!(c[0][1], Datum::String(want.into()));
    assert_eq!(
        rows(b, "bank", "accounts").len(),
        3,
        "account 11 deleted later"
    );
}

fn legacy_restore_point_in_time(stmt: &str) {
    let env = Env::new("2017-02-25 00:00:00");
    legacy_revision_chain(&env);
    let b = env.fresh();
    run_on(&b, &rewrite(stmt));
    check_point_in_time(&b, false);
}

fn legacy_restore_chain_point_in_time(stmt: &str) {
    let env = Env::new("2017-02-25 00:00:00");
    legacy_revision_chain(&env);
    let b = env.fresh();
    run_on(&b, &rewrite(stmt));
    check_point_in_time(&b, true);
}

/// movr's rides partitioned by city into the demo's three regions (as CockroachDB's
/// multi-region movr: the primary key starts with the city).
const MOVR_RIDES_PARTITIONED: &str = "CREATE DATABASE movr;
    CREATE TABLE movr.rides (city STRING NOT NULL, id INT NOT NULL, revenue DECIMAL, PRIMARY KEY (city, id))
      PARTITION BY LIST (city) (
        PARTITION us_west VALUES IN ('seattle', 'san francisco', 'los angeles'),
        PARTITION us_east VALUES IN ('new york', 'boston', 'washington dc'),
        PARTITION europe_west VALUES IN ('amsterdam', 'paris', 'rome'));
    INSERT INTO movr.rides VALUES ('seattle', 1, 10), ('boston', 2, 20), ('rome', 3, 30), ('oslo', 4, 40)";

/// `ALTER PARTITION p OF INDEX movr.public.rides@primary CONFIGURE ZONE USING constraints
/// = '[+region=R]'`: the partition's zone says so, and the partition's range has its lease
/// on a node of region R (the demo's nodes).
fn partition_zone(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    env.sql(MOVR_RIDES_PARTITIONED);
    assert_eq!(env.sql(stmt), [Output::Tag("CONFIGURE ZONE 1".into())]);
    let (part, region) = match stmt.split_whitespace().nth(2).unwrap() {
        "europe_west" => ("europe_west", "europe-west1"),
        "us_east" => ("us_east", "us-east1"),
        "us_west" => ("us_west", "us-west1"),
        other => panic!("{other}"),
    };
    let show = env.sql(&format!(
        "SHOW ZONE CONFIGURATION FOR PARTITION {part} OF INDEX movr.public.rides@primary"
    ));
    let text = format!("PARTITION {part} OF INDEX movr.public.rides@rides_pkey");
    assert_eq!(cell(table(&show), 0, "target"), text);
    assert_eq!(
        cell(table(&show), 0, "raw_config_sql"),
        format!("ALTER {text} CONFIGURE ZONE USING gc.ttlseconds = 14400, num_replicas = 3, constraints = '[+region={region}]'")
    );
    let t = env.a.table("movr", "rides").unwrap();
    let ranges: Vec<_> = env
        .a
        .ranges(env.a.now())
        .unwrap()
        .into_iter()
        .filter(|r| r.table_id == t.id)
        .collect();
    let mine: Vec<_> = ranges
        .iter()
        .filter(|r| matches!(&r.zone, vouch_cluster::ZoneTarget::Partition(_, _, p) if p == part))
        .collect();
    assert_eq!(mine.len(), 3, "one range per city of {part}");
    for r in mine {
        assert!(
            r.locality.starts_with(&format!("region={region},")),
            "{part}: {}",
            r.locality
        );
    }
}

/// The pages' locality-aware BACKUPs (`region=us-west` stores): run on a cluster with a
/// node in `region=us-west` (and one in `region=us-east`), after the layers an `INCREMENTAL
/// FROM` names (each a locality-aware legacy backup with the same two stores); the new
/// layer's manifest (version 2) is in the default store, each file of `region=us-west` in
/// the us-west bucket, which holds exactly those and `BACKUP_PART_1_region=us-west`.
fn locality_backup(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    env.a
        .set_nodes(&[
            vouch_format::locality::Locality::parse("region=us-east,az=a").unwrap(),
            vouch_format::locality::Locality::parse("region=us-west,az=a").unwrap(),
        ])
        .unwrap();
    env.sql("CREATE DATABASE foo; CREATE TABLE foo.t (id INT PRIMARY KEY); INSERT INTO foo.t VALUES (1), (2)");
    let targets = if stmt.starts_with("BACKUP DATABASE foo") {
        "DATABASE foo "
    } else {
        ""
    };
    // The layers INCREMENTAL FROM names, made first (same stores, west beside east).
    let pair = |east: &str| {
        format!(
            "('{east}?COCKROACH_LOCALITY=default', '{}?COCKROACH_LOCALITY=region%3Dus-west')",
            east.replace("us-east-bucket", "us-west-bucket")
        )
    };
    let from: Vec<String> = match stmt.split_once(" INCREMENTAL FROM ") {
        Some((_, rest)) => rest
            .split(", ")
            .map(|u| u.trim_matches('\'').to_string())
            .collect(),
        None => vec![],
    };
    for (i, u) in from.iter().enumerate() {
        env.tick(1);
        let prev: Vec<String> = from[..i].iter().map(|p| format!("'{p}'")).collect();
        let inc = if prev.is_empty() {
            String::new()
        } else {
            format!(" INCREMENTAL FROM {}", prev.join(", "))
        };
        exec(&env, &format!("BACKUP {targets}TO {}{inc}", pair(u)));
        env.sql(
            "INSERT INTO foo.t VALUES (10 + 1)"
                .replace("10 + 1", &(10 + i).to_string())
                .as_str(),
        );
    }
    env.tick(1);
    let out = exec(&env, stmt);
    assert_eq!(cell(table(&out), 0, "status"), "succeeded");
    // The new layer: its default URI is the first of the list.
    let first = stmt.split('\'').nth(1).unwrap();
    let default_uri = rewrite(&format!("'{}'", first.split('?').next().unwrap()));
    let rel = default_uri
        .trim_matches('\'')
        .strip_prefix("nodelocal://1/")
        .unwrap()
        .to_string();
    let east = objects(&env.a, &rel);
    let west_objects = objects(&env.a, &rel.replace("us-east-bucket", "us-west-bucket"));
    // The layer's folder within the store ('' for a legacy BACKUP TO).
    let layer_dir = if stmt.starts_with("BACKUP INTO") {
        let latest = String::from_utf8(object(&east, "LATEST").unwrap().to_vec()).unwrap();
        format!("{}/", latest.trim_start_matches('/'))
    } else {
        String::new()
    };
    let m = vouch_format::manifest::decode(
        object(&east, &format!("{layer_dir}BACKUP_MANIFEST")).unwrap(),
    )
    .unwrap();
    assert_eq!(m.format_version, 2);
    assert_eq!(m.localities, ["region=us-west"]);
    assert_eq!(m.previous.is_some(), !from.is_empty());
    // The layer's data files in the west store (its own folder's, not deeper ones').
    let mut west: Vec<String> = west_objects
        .iter()
        .filter_map(|(p, _)| p.strip_prefix(&format!("{layer_dir}data/")))
        .filter(|name| !name.contains('/'))
        .map(|name| format!("data/{name}"))
        .collect();
    west.sort();
    let mut listed: Vec<String> = m
        .files
        .iter()
        .filter(|f| f.locality == "region=us-west")
        .map(|f| f.path.clone())
        .collect();
    listed.sort();
    assert_eq!(west, listed);
    let part = vouch_format::manifest::decode_part(
        object(
            &west_objects,
            &format!("{layer_dir}BACKUP_PART_1_region=us-west"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(part.backup_id, m.backup_id);
    for f in m.files.iter().filter(|f| f.locality.is_empty()) {
        assert!(
            object(&east, &format!("{layer_dir}{}", f.path)).is_some(),
            "{}",
            f.path
        );
    }
    if from.is_empty() {
        // Two nodes, ranges spread over both: some files went west.
        assert!(!listed.is_empty());
    }
}

/// The pages' locality-aware RESTOREs: the backups they name are made first, each layer a
/// locality-aware BACKUP into (us-east `default`, us-west `region=us-west`) on a cluster with
/// a node in each (the `other-full-backup-uri` layer a plain one), then the statement runs
/// verbatim on a fresh cluster: every restored database has the source's rows.
fn locality_restore(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    env.a
        .set_nodes(&[
            vouch_format::locality::Locality::parse("region=us-east,az=a").unwrap(),
            vouch_format::locality::Locality::parse("region=us-west,az=a").unwrap(),
        ])
        .unwrap();
    env.sql("CREATE DATABASE foo; CREATE TABLE foo.t (id INT PRIMARY KEY); INSERT INTO foo.t VALUES (1), (2)");
    let database = stmt.starts_with("RESTORE DATABASE foo");
    let targets = if database { "DATABASE foo " } else { "" };
    let pair = |east: &str| {
        format!(
            "('{east}?COCKROACH_LOCALITY=default', '{}?COCKROACH_LOCALITY=region%3Dus-west')",
            east.replace("us-east-bucket", "us-west-bucket")
        )
    };
    env.tick(1);
    if stmt.contains("LATEST IN") {
        exec(
            &env,
            &format!("BACKUP {targets}INTO {}", pair("s3://us-east-bucket")),
        );
    } else if stmt.contains("other-full-backup-uri") {
        exec(
            &env,
            &format!("BACKUP {targets}TO 's3://other-full-backup-uri'"),
        );
        env.sql("INSERT INTO foo.t VALUES (3)");
        env.tick(1);
        exec(
            &env,
            &format!(
                "BACKUP {targets}TO {} INCREMENTAL FROM 's3://other-full-backup-uri'",
                pair("s3://us-east-bucket")
            ),
        );
    } else if stmt.contains("weekly") {
        let weekly = "s3://us-east-bucket/database-bank-2019-10-07-weekly";
        exec(&env, &format!("BACKUP {targets}TO {}", pair(weekly)));
        env.sql(
            "INSERT INTO foo.t VALUES (4); UPDATE bank.customers SET name = 'Ann II' WHERE id = 1",
        );
        env.tick(1);
        exec(
            &env,
            &format!(
                "BACKUP {targets}TO {} INCREMENTAL FROM '{weekly}'",
                pair("s3://us-east-bucket/database-bank-2019-10-08-nightly")
            ),
        );
    } else {
        exec(
            &env,
            &format!("BACKUP {targets}TO {}", pair("s3://us-east-bucket")),
        );
    }
    // Some files went west, so the second URI matters.
    assert!(
        objects(&env.a, "s3/us-west-bucket")
            .iter()
            .any(|(p, _)| p.contains("data/")),
        "nothing in the west store"
    );
    let b = env.fresh();
    let out = run_on(&b, &rewrite(stmt));
    assert_eq!(cell(table(&out), 0, "status"), "succeeded");
    let dbs: &[&str] = if database { &["foo"] } else { &["foo", "bank"] };
    for db in dbs {
        assert_eq!(database_rows(&b, db), database_rows(&env.a, db), "{db}");
    }
}

fn walk_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p.to_string_lossy().into_owned());
        }
    }
    out
}

/// `DROP TABLE newdb.zones`, the pages' last step: the table restored from system.zones and
/// copied into the cluster's system.zones is dropped; the zones it copied stay in force.
fn drop_table_newdb_zones(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    let (b, rides) = zones_restored_into_newdb(&env);
    run_on(&b, "INSERT INTO system.zones SELECT * FROM newdb.zones");
    let zones = rows(&b, "system", "zones");
    assert_eq!(zones, rows(&b, "newdb", "zones"));
    assert_eq!(run_on(&b, stmt), [Output::Tag("DROP TABLE".into())]);
    assert!(b.table("newdb", "zones").is_err());
    assert_eq!(rows(&b, "system", "zones"), zones);
    assert_partition_zones(&b, rides);
}

/// The page's job id.
const SEED_JOB: &str = "27536791415282";

/// A detached RESTORE job of `bank` (as `bank2`) in `a`, pending: the page's restore
/// that has started; returns its id.
fn restore_job(env: &Env) -> String {
    env.sql("BACKUP DATABASE bank INTO 'nodelocal://1/jobs'");
    let out = env.sql(
        "RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/jobs' WITH new_db_name = 'bank2', detached",
    );
    let t = table(&out);
    assert_eq!(t.columns, ["job_id"]);
    let id = cell(t, 0, "job_id").to_string();
    assert_eq!(job_status(env, &id), "pending");
    id
}

fn job_status(env: &Env, id: &str) -> String {
    let out = env.sql(&format!("SHOW JOB {id}"));
    cell(table(&out), 0, "status").to_string()
}

/// The page's job id is the id of a job of that page's cluster: the statement runs with
/// this cluster's job id in its place.
fn pause_restore_job(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    let id = restore_job(&env);
    assert_eq!(
        env.sql(&stmt.replace(SEED_JOB, &id)),
        [Output::Tag("PAUSE JOBS 1".into())]
    );
    assert_eq!(job_status(&env, &id), "paused");
    // A paused job is not run.
    let runs = vouch_sql::jobs::run_pending(&env.a, None, &mut |_| {}).unwrap();
    assert!(runs.is_empty());
    assert!(env.a.table("bank2", "customers").is_err());
}

fn resume_restore_job(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    let id = restore_job(&env);
    env.sql(&format!("PAUSE JOB {id}"));
    assert_eq!(
        env.sql(&stmt.replace(SEED_JOB, &id)),
        [Output::Tag("RESUME JOBS 1".into())]
    );
    assert_eq!(job_status(&env, &id), "running");
    let runs = vouch_sql::jobs::run_pending(&env.a, None, &mut |_| {}).unwrap();
    assert_eq!(runs.len(), 1);
    assert!(matches!(
        runs[0].outcome,
        vouch_sql::jobs::Outcome::Succeeded { .. }
    ));
    assert_eq!(job_status(&env, &id), "succeeded");
    assert_eq!(
        rows(&env.a, "bank2", "customers"),
        rows(&env.a, "bank", "customers")
    );
}

const WEEKLY: &str = "'gs://acme-co-backup/database-bank-2017-03-27-weekly'";

fn restore_table_into_db(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    env.sql(&format!("BACKUP DATABASE bank TO {}", rewrite(WEEKLY)));
    env.sql("CREATE DATABASE newdb");
    assert_job(&exec(&env, stmt), 3);
    assert_eq!(
        rows(&env.a, "newdb", "customers"),
        rows(&env.a, "bank", "customers")
    );
}

fn restore_table_skip_missing_foreign_keys(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    env.sql(&format!("BACKUP DATABASE bank TO {}", rewrite(WEEKLY)));
    let b = env.fresh();
    run_on(&b, "CREATE DATABASE bank");
    // Without the option the missing referenced table is an error.
    let plain = stmt.replace(" WITH skip_missing_foreign_keys", "");
    let e = execute_err(&b, &rewrite(&plain));
    assert!(e.to_string().contains("customers"), "{e}");
    assert_job(&run_on(&b, &rewrite(stmt)), 3);
    assert_eq!(
        rows(&b, "bank", "accounts"),
        rows(&env.a, "bank", "accounts")
    );
    // The foreign key was dropped: an account of any customer can be inserted.
    run_on(&b, "INSERT INTO bank.accounts VALUES (99, 42, 1)");
}

/// `system.users` of `a` restored into `newdb.users` of a new cluster.
fn users_restored(env: &Env) -> Cluster {
    env.sql(&format!(
        "BACKUP DATABASE bank TO {}",
        rewrite("'azure://acme-co-backup/table-users-2017-03-27-full?AZURE_ACCOUNT_KEY=hash&AZURE_ACCOUNT_NAME=acme-co'")
    ));
    let b = env.fresh();
    run_on(&b, "CREATE DATABASE newdb");
    run_on(
        &b,
        &rewrite("RESTORE system.users FROM 'azure://acme-co-backup/table-users-2017-03-27-full?AZURE_ACCOUNT_KEY=hash&AZURE_ACCOUNT_NAME=acme-co' WITH into_db = 'newdb'"),
    );
    b
}

/// A cluster with movr's rides partitioned and the pages' three partition zones, backed up
/// (legacy TO) where the zone-restore example reads; returns the backup's URI.
fn zones_backed_up(env: &Env) -> String {
    env.sql(MOVR_RIDES_PARTITIONED);
    for (p, r) in [
        ("europe_west", "europe-west1"),
        ("us_east", "us-east1"),
        ("us_west", "us-west1"),
    ] {
        env.sql(&format!(
            "ALTER PARTITION {p} OF INDEX movr.public.rides@primary CONFIGURE ZONE USING constraints = '[+region={r}]'"
        ));
    }
    let uri = rewrite("'azure://acme-co-backup?AZURE_ACCOUNT_KEY=hash&AZURE_ACCOUNT_NAME=acme-co'");
    env.tick(1);
    env.sql(&format!("BACKUP TO {uri}"));
    uri
}

/// `RESTORE system.zones … WITH into_db = 'newdb'`: the zone rows as a table of newdb.
fn restore_zones_into_db(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    zones_backed_up(&env);
    let b = env.fresh();
    run_on(&b, "CREATE DATABASE newdb");
    assert_job(&run_on(&b, &rewrite(stmt)), 3);
    assert_eq!(rows(&b, "newdb", "zones"), rows(&env.a, "system", "zones"));
    assert_eq!(rows(&b, "newdb", "zones").len(), 3);
}

/// The pages' manual flow up to its INSERT: `zones_backed_up`, then on a new cluster movr
/// restored and the zone rows restored into newdb (naming the restored movr.rides); returns
/// the new cluster and its movr.rides's id.
fn zones_restored_into_newdb(env: &Env) -> (Cluster, u64) {
    let uri = zones_backed_up(env);
    let b = env.fresh();
    run_on(&b, &format!("RESTORE DATABASE movr FROM {uri}"));
    run_on(
        &b,
        &format!("CREATE DATABASE newdb; RESTORE system.zones FROM {uri} WITH into_db = 'newdb'"),
    );
    // The restored movr.rides keeps the id the zone rows name only if ids match: make the
    // rows name the restored table.
    let old = env.a.table("movr", "rides").unwrap().id;
    let new = b.table("movr", "rides").unwrap().id;
    if old != new {
        run_on(
            &b,
            &format!("UPDATE newdb.zones SET id = {new} WHERE id = {old}"),
        );
    }
    (b, new)
}

/// The partitions of `b`'s movr.rides have their zones (us_west's constraint, and its
/// ranges' leases in us-west1).
fn assert_partition_zones(b: &Cluster, rides: u64) {
    let show = run_on(
        b,
        "SHOW ZONE CONFIGURATION FOR PARTITION us_west OF INDEX movr.public.rides@primary",
    );
    assert!(cell(table(&show), 0, "raw_config_sql").ends_with("constraints = '[+region=us-west1]'"));
    let mut west = 0;
    for r in b
        .ranges(b.now())
        .unwrap()
        .into_iter()
        .filter(|r| r.table_id == rides)
    {
        if matches!(&r.zone, vouch_cluster::ZoneTarget::Partition(_, _, p) if p == "us_west") {
            assert!(r.locality.starts_with("region=us-west1,"), "{}", r.locality);
            west += 1;
        }
    }
    assert!(west > 0);
}

/// `INSERT INTO system.zones SELECT * FROM newdb.zones` after restoring movr and the zone
/// rows into newdb (the pages' manual flow): the partitions have their zones again, and
/// us_west's ranges their leases in us-west1.
fn insert_zones_from_newdb(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    let (b, rides) = zones_restored_into_newdb(&env);
    assert_eq!(run_on(&b, stmt), [Output::Tag("INSERT 0 3".into())]);
    assert_partition_zones(&b, rides);
}

fn restore_users_into_db(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    env.sql(&format!(
        "BACKUP DATABASE bank TO {}",
        rewrite("'azure://acme-co-backup/table-users-2017-03-27-full?AZURE_ACCOUNT_KEY=hash&AZURE_ACCOUNT_NAME=acme-co'")
    ));
    let b = env.fresh();
    run_on(&b, "CREATE DATABASE newdb");
    assert_job(&run_on(&b, &rewrite(stmt)), USERS);
    assert_eq!(rows(&b, "newdb", "users"), rows(&env.a, "system", "users"));
}

fn insert_users_from_newdb(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    let b = users_restored(&env);
    // admin and root exist in every cluster: only alice is copied.
    run_on(&b, "DELETE FROM newdb.users WHERE username = 'admin'; DELETE FROM newdb.users WHERE username = 'root'");
    assert_eq!(run_on(&b, stmt), [Output::Tag("INSERT 0 1".into())]);
    assert_eq!(rows(&b, "system", "users"), rows(&env.a, "system", "users"));
    // Her password (hash) came along.
    let alice = rows(&b, "system", "users")
        .into_iter()
        .find(|r| r[0] == Datum::String("alice".into()))
        .unwrap();
    let Datum::Bytes(h) = &alice[1] else {
        panic!("{alice:?}")
    };
    assert!(vouch_cluster::check_password("s3cret", h));
}

fn drop_table_newdb_users(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    let b = users_restored(&env);
    assert_eq!(run_on(&b, stmt), [Output::Tag("DROP TABLE".into())]);
    assert!(b.table("newdb", "users").is_err());
}

/// A source whose data changes around 2017-06-09 16:13:55.571516: before it, Ann, Bo and
/// Cy; after it, Cy renamed.
fn env_2017_06_09() -> Env {
    let env = Env::new("2017-06-09 16:13:00");
    env.advance_to("2017-06-09 16:13:56");
    env.sql("UPDATE bank.customers SET name = 'Cyrus' WHERE id = 3");
    env.advance_to("2017-06-09 16:14:30");
    env
}

fn legacy_table_backup_as_of(stmt: &str) {
    let env = env_2017_06_09();
    assert_job(&exec(&env, stmt), 3 + USERS);
    // Restoring it shows the data as of that time.
    let b = env.fresh();
    run_on(&b, "CREATE DATABASE bank");
    run_on(
        &b,
        &format!(
            "RESTORE bank.customers FROM {}",
            rewrite("'azure://acme-co-backup/table-customer-2017-03-27-full'")
        ),
    );
    assert_eq!(
        rows(&b, "bank", "customers")[2][1],
        Datum::String("Cy".into())
    );
}

fn legacy_database_backup_as_of(stmt: &str) {
    let env = env_2017_06_09();
    assert_job(&exec(&env, stmt), DB_ROWS);
}

fn legacy_incremental_as_of(stmt: &str) {
    let env = Env::new("2017-06-09 16:13:00");
    env.advance_to("2017-06-09 16:13:50");
    let full = rewrite("'azure://acme-co-backup/database-bank-2017-03-27-full?AZURE_ACCOUNT_KEY=hash&AZURE_ACCOUNT_NAME=acme-co'");
    let inc = rewrite("'azure://acme-co-backup/database-bank-2017-03-28-incremental?AZURE_ACCOUNT_KEY=hash&AZURE_ACCOUNT_NAME=acme-co'");
    env.sql(&format!("BACKUP DATABASE bank TO {full}"));
    env.sql("INSERT INTO bank.customers VALUES (4, 'Di')");
    env.advance_to("2017-06-09 16:13:53");
    env.sql(&format!(
        "BACKUP DATABASE bank TO {inc} INCREMENTAL FROM {full}"
    ));
    env.sql("INSERT INTO bank.customers VALUES (5, 'Ed')");
    env.sql("DELETE FROM bank.accounts WHERE id = 11");
    env.advance_to("2017-06-09 16:13:56");
    env.sql("INSERT INTO bank.customers VALUES (6, 'Flo')");
    env.advance_to("2017-06-09 16:14:30");
    // Ed's insert and account 11's deletion, not Flo (after the AS OF time).
    assert_job(&exec(&env, stmt), 2);
}

// ---- encrypted backups ---------------------------------------------------------------------

/// Every stored byte under `dir`, for "no plaintext on disk" checks.
fn stored_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            out.extend(stored_files(&e.path()));
        } else {
            out.push((e.path(), std::fs::read(e.path()).unwrap()));
        }
    }
    out
}

fn holds(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

const TEST_CLUSTER: &str = "'gs://acme-co-backup/test-cluster'";

fn legacy_backup_passphrase(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    env.sql("UPDATE bank.customers SET name = 'Zebulon-plaintext' WHERE id = 1");
    env.tick(1);
    assert_job(&exec(&env, stmt), DB_ROWS);
    let stored = objects(&env.a, "gs/acme-co-backup/test-cluster");
    assert!(object(&stored, "ENCRYPTION-INFO").is_some());
    // Neither the data nor the passphrase is in any stored byte.
    for (p, b) in &stored {
        assert!(!holds(b, "Zebulon-plaintext"), "{p}");
        assert!(!holds(b, "password123"), "{p}");
    }
    // Reading it needs the passphrase.
    let b = env.fresh();
    let e = execute_err(&b, &format!("RESTORE FROM {}", rewrite(TEST_CLUSTER)));
    assert_eq!(
        e.to_string(),
        "the backup is encrypted but no key was given: its data key is wrapped by a passphrase; give encryption_passphrase"
    );
}

fn legacy_restore_passphrase(stmt: &str) {
    let env = Env::new("2026-01-01 00:00:00");
    env.sql(&format!(
        "BACKUP TO {} WITH encryption_passphrase = 'password123'",
        rewrite(TEST_CLUSTER)
    ));
    let b = env.fresh_at("wrong");
    // The wrong passphrase fails by name, and restores nothing.
    let wrong = stmt.replace("'password123'", "'password124'");
    let e = execute_err(&b, &rewrite(&wrong));
    assert_eq!(
        e.to_string(),
        "wrong passphrase: it does not unlock this backup's data key"
    );
    assert!(b.table("bank", "customers").is_err());
    restore_cluster_into_fresh(&env, stmt);
}

/// The page's AWS KMS example against the moto server: a key made with CreateKey, the
/// example's placeholders filled in, `AWS_ENDPOINT` appended.
fn kms_backup_aws(stmt: &str) {
    let arn = kms::create_key("seed example");
    let stmt = stmt
        .replace("{key}", &arn)
        .replace("{KEY ID}", kms::ACCESS_KEY_ID)
        .replace("{SECRET ACCESS KEY}", kms::SECRET_IN_URI)
        .replace(
            "&REGION=us-east-1'",
            &format!("&REGION=us-east-1&AWS_ENDPOINT={}'", kms::endpoint()),
        );
    let key_uri = stmt
        .split("kms = '")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .unwrap()
        .to_string();
    let env = Env::new("2026-01-01 00:00:00");
    env.tick(20);
    assert_job(&exec(&env, &stmt), DB_ROWS);
    // `s3://{BUCKET NAME}?…` is rewritten to this collection.
    let coll = "nodelocal://1/s3/{BUCKET NAME}";
    let e = execute_err(&env.a, &format!("SHOW BACKUP FROM LATEST IN '{coll}'"));
    assert_eq!(
        e.to_string(),
        format!("the backup is encrypted but no key was given: its data key is wrapped by the KMS keys aws:///{arn}; give kms")
    );
    let b = env.fresh();
    let out = run_on(
        &b,
        &format!("RESTORE FROM LATEST IN '{coll}' WITH kms = '{key_uri}'"),
    );
    assert_job(&out, DB_ROWS);
    for db in ["bank", "defaultdb"] {
        assert_eq!(database_rows(&b, db), database_rows(&env.a, db), "{db}");
    }
    // The credentials are in no stored byte (the recorded statement shows the uri_id).
    for (p, bytes) in stored_files(&env.a.extern_dir()) {
        assert!(!holds(&bytes, kms::SECRET_IN_URI), "{}", p.display());
    }
    for (p, bytes) in objects(&env.a, "s3/{BUCKET NAME}") {
        assert!(!holds(&bytes, kms::SECRET_IN_URI), "{p}");
    }
}

// ---- the manual zone-restore flow, in page order ---------------------------------------

/// The statements of the seed page's "Manually restore zone configurations from a
/// locality-aware backup", in page order (PAUSE JOB through RESUME JOB).
fn zone_restore_flow() -> Vec<String> {
    let seeds = seed_statements();
    let start = seeds
        .iter()
        .position(|(_, s)| s == &format!("PAUSE JOB {SEED_JOB}"))
        .expect("the page's PAUSE JOB");
    let flow: Vec<String> = seeds
        .iter()
        .skip(start)
        .take(5)
        .map(|(_, s)| s.clone())
        .collect();
    assert_eq!(
        flow,
        [
            format!("PAUSE JOB {SEED_JOB}"),
            "RESTORE system.zones FROM 'azure://acme-co-backup?AZURE_ACCOUNT_KEY=hash&AZURE_ACCOUNT_NAME=acme-co' WITH into_db = 'newdb'".to_string(),
            "INSERT INTO system.zones SELECT * FROM newdb.zones".to_string(),
            "DROP TABLE newdb.zones".to_string(),
            format!("RESUME JOB {SEED_JOB}"),
        ]
    );
    flow
}

/// Every zone configuration of `c` by what it names (ids differ between clusters), with
/// its own fields.
fn zones_by_name(c: &Cluster) -> Vec<(String, vouch_cluster::ZoneConfig)> {
    let now = c.now();
    c.zone_targets(now)
        .unwrap()
        .into_iter()
        .filter_map(|(t, name)| c.zone_config(&t, now).unwrap().map(|z| (name, z)))
        .collect()
}

/// Index fingerprints of every user table of `c`, by name: (database, table, index,
/// fingerprint, entries).
fn fingerprints_by_name(c: &Cluster, dbs: &[&str]) -> Vec<(String, String, String, u64, u64)> {
    c.fingerprints(c.now())
        .unwrap()
        .into_iter()
        .filter(|f| dbs.contains(&f.database.as_str()))
        .map(|f| (f.database, f.table, f.index, f.fingerprint, f.entries))
        .collect()
}

/// A source with movr's rides partitioned, its three partition zones, a table zone
/// (gc.ttlseconds = 600) and a partition's own gc.ttlseconds (us_east: 300).
fn zones_source(env: &Env) {
    env.sql(MOVR_RIDES_PARTITIONED);
    for (p, r) in [
        ("europe_west", "europe-west1"),
        ("us_east", "us-east1"),
        ("us_west", "us-west1"),
    ] {
        env.sql(&format!(
            "ALTER PARTITION {p} OF INDEX movr.public.rides@primary CONFIGURE ZONE USING constraints = '[+region={r}]'"
        ));
    }
    env.sql(
        "ALTER TABLE movr.rides CONFIGURE ZONE USING gc.ttlseconds = 600;
         ALTER PARTITION us_east OF INDEX movr.public.rides@primary CONFIGURE ZONE USING gc.ttlseconds = 300",
    );
    env.tick(1);
}

/// A new cluster whose descriptor ids have moved on (a database made and dropped), so the
/// objects a restore makes get other ids than the backup's.
fn fresh_with_other_ids(env: &Env) -> Cluster {
    let b = env.fresh();
    run_on(&b, "CREATE DATABASE scratch; DROP DATABASE scratch");
    b
}

/// `b`'s movr.rides has the source's zones in force: every zone by name, the GC TTLs of
/// its spans (table 600 s, us_east 300 s), and each partition's ranges leased in its
/// region.
fn assert_source_zones_in_force(env: &Env, b: &Cluster) {
    assert_eq!(zones_by_name(b), zones_by_name(&env.a));
    assert_eq!(zones_by_name(b).len(), 4);
    let rides = b.table("movr", "rides").unwrap().id;
    assert_ne!(rides, env.a.table("movr", "rides").unwrap().id);
    assert_partition_zones(b, rides);
    let kv = b.kv();
    assert_eq!(
        kv.gc_ttl(&vouch_format::keys::table_span(rides).0).unwrap(),
        600
    );
    let key = |city: &str| {
        vouch_format::keys::encode_index_key(
            rides,
            1,
            &[(
                Datum::String(city.into()),
                vouch_format::keys::Direction::Asc,
            )],
        )
        .unwrap()
    };
    assert_eq!(kv.gc_ttl(&key("boston")).unwrap(), 300);
    assert_eq!(kv.gc_ttl(&key("seattle")).unwrap(), 600);
    let mut leases: Vec<(String, String)> = b
        .ranges(b.now())
        .unwrap()
        .into_iter()
        .filter(|r| r.table_id == rides)
        .filter_map(|r| match &r.zone {
            vouch_cluster::ZoneTarget::Partition(_, _, p) => Some((
                p.clone(),
                r.locality.split(',').next().unwrap_or_default().to_string(),
            )),
            _ => None,
        })
        .collect();
    leases.sort();
    leases.dedup();
    assert_eq!(
        leases,
        [
            ("europe_west".to_string(), "region=europe-west1".to_string()),
            ("us_east".to_string(), "region=us-east1".to_string()),
            ("us_west".to_string(), "region=us-west1".to_string()),
        ]
    );
}

/// The page's manual zone-restore flow on one cluster, its statements verbatim and in
/// page order (URIs rewritten as [`rewrite`] does, the page's job id replaced by the
/// job's): a locality-aware full cluster RESTORE, detached, has started (its job planned:
/// preconditions checked on the empty cluster, ids allocated); PAUSE JOB; RESTORE
/// system.zones … WITH into_db = 'newdb'; INSERT INTO system.zones SELECT * FROM
/// newdb.zones; DROP TABLE newdb.zones; RESUME JOB. The resumed restore is not refused for
/// the newdb the flow made (the empty-cluster check was its start's), completes with the
/// source's rows, and the source's zones are in force.
#[test]
fn the_manual_zone_restore_flow_runs_in_page_order() {
    let env = Env::new("2026-01-01 00:00:00");
    zones_source(&env);
    exec(
        &env,
        "BACKUP TO ('azure://acme-co-backup?COCKROACH_LOCALITY=default', 'azure://acme-co-backup-us-west?COCKROACH_LOCALITY=region%3Dus-west1')",
    );
    let west = env.a.extern_dir().join("azure/acme-co-backup-us-west");
    assert!(
        walk_files(&west).iter().any(|f| f.contains("data/")),
        "nothing in the us-west store"
    );
    let b = fresh_with_other_ids(&env);
    let out = run_on(
        &b,
        &rewrite(
            "RESTORE FROM ('azure://acme-co-backup', 'azure://acme-co-backup-us-west') WITH detached",
        ),
    );
    let t = table(&out);
    assert_eq!(t.columns, ["job_id"]);
    let id = cell(t, 0, "job_id").to_string();
    let job: u64 = id.parse().unwrap();
    assert_eq!(run_status(&b, &id), "pending");
    // Started: its objects have their ids, no table is done.
    let ck = vouch_sql::jobs::get(&b, job)
        .unwrap()
        .restore_checkpoint
        .unwrap();
    assert!(ck.done.is_empty());
    assert!(ck.new_ids > 0);
    // bank.bank, bank.customers, bank.accounts, movr.rides, and system.users.
    assert_eq!(ck.tables, 5);

    let flow = zone_restore_flow();
    let run = |i: usize| run_on(&b, &rewrite(&flow[i].replace(SEED_JOB, &id)));
    assert_eq!(run(0), [Output::Tag("PAUSE JOBS 1".into())]);
    assert_eq!(run_status(&b, &id), "paused");
    // CockroachDB's into_db needs the database to exist; the page leaves its CREATE
    // DATABASE out.
    run_on(&b, "CREATE DATABASE newdb");
    // The page's RESTORE names one URI, the backup's default store: CockroachDB (and
    // vouch) read a locality-aware backup from one URI only when it holds every part, so
    // with the us-west part in its own store it is refused ...
    let e = Session::new(&b)
        .execute(&rewrite(&flow[1]))
        .expect_err("the us-west part is elsewhere");
    assert_eq!(
        e.to_string(),
        "expected manifest BACKUP_PART_<n>_region=us-west1 not found in backup locations: none of the URIs given holds locality region=us-west1 of layer (root)"
    );
    // ... and runs once the backup is consolidated there (spec/locality.md §7: moved or
    // consolidated parts are read), while the detached restore reads its list.
    let east = b.extern_dir().join("azure/acme-co-backup");
    copy_dir(&b.extern_dir().join("azure/acme-co-backup-us-west"), &east);
    assert_job(&run(1), 4);
    assert_eq!(rows(&b, "newdb", "zones"), rows(&env.a, "system", "zones"));
    assert_eq!(run(2), [Output::Tag("INSERT 0 4".into())]);
    assert_eq!(rows(&b, "system", "zones"), rows(&env.a, "system", "zones"));
    assert_eq!(run(3), [Output::Tag("DROP TABLE".into())]);
    assert!(b.table("newdb", "zones").is_err());
    assert_eq!(run(4), [Output::Tag("RESUME JOBS 1".into())]);
    assert_eq!(run_status(&b, &id), "running");

    // The restore completes (the statement runs it: this process holds the cluster).
    let done = run_on(&b, &format!("SHOW JOB WHEN COMPLETE {id}"));
    assert_eq!(cell(table(&done), 0, "status"), "succeeded");
    assert_eq!(cell(table(&done), 0, "fraction_completed"), "1");
    assert_eq!(
        fingerprints_by_name(&b, &["bank", "movr"]),
        fingerprints_by_name(&env.a, &["bank", "movr"])
    );
    assert_eq!(rows(&b, "system", "users"), rows(&env.a, "system", "users"));
    // newdb stays, empty.
    let cat = b.catalog(b.now()).unwrap();
    let newdb = cat.database("newdb").unwrap();
    assert!(cat
        .tables()
        .all(|t| vouch_format::schema::parents(t).0 != newdb.id));
    // The zones: the source's, naming the restored objects.
    assert_source_zones_in_force(&env, &b);
}

/// A full cluster RESTORE restores system.zones (CockroachDB restores the backed-up
/// cluster's zone configurations): the source's partition zones and GC TTLs are in force
/// on the restored objects, whose ids are not the backup's.
#[test]
fn a_full_cluster_restore_restores_the_zone_configurations() {
    let env = Env::new("2026-01-01 00:00:00");
    zones_source(&env);
    env.sql("BACKUP INTO 'nodelocal://1/zones'");
    let b = fresh_with_other_ids(&env);
    run_on(&b, "RESTORE FROM LATEST IN 'nodelocal://1/zones'");
    assert_eq!(
        fingerprints_by_name(&b, &["bank", "movr"]),
        fingerprints_by_name(&env.a, &["bank", "movr"])
    );
    assert_source_zones_in_force(&env, &b);
    // system.zones holds exactly the source's rows with the restored ids.
    let (old, new) = (
        env.a.table("movr", "rides").unwrap().id,
        b.table("movr", "rides").unwrap().id,
    );
    let mapped: Vec<Row> = rows(&env.a, "system", "zones")
        .into_iter()
        .map(|mut r| {
            if r[0] == Datum::Int(old as i64) {
                r[0] = Datum::Int(new as i64);
            }
            r
        })
        .collect();
    assert_eq!(rows(&b, "system", "zones"), mapped);
}

fn run_status(c: &Cluster, id: &str) -> String {
    let out = run_on(c, &format!("SHOW JOB {id}"));
    cell(table(&out), 0, "status").to_string()
}
