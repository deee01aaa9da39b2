//! Real servers for tests, started by the project's scripts: two independent S3
//! implementations (`scripts/s3-server.sh`: moto's server, installed from PyPI into
//! `target/`, and `s3s-fs`, a Rust S3 server on a folder, built from crates.io into
//! `target/`), each started once per test process on first use and stopped by the script's
//! watcher when the process exits. `VOUCH_S3_ENDPOINT` / `VOUCH_S3S_ENDPOINT`, when set,
//! name servers already running (with the bucket `vouch-test`). A server that cannot start
//! fails the test with the reason; it is never skipped.
//!
//! This file uses `std` only: `vouch-store`'s own tests include it by path (`#[path]`),
//! since the store crate cannot depend on testkit, which depends on it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The bucket `scripts/s3-server.sh` creates.
pub const S3_BUCKET: &str = "vouch-test";
/// The key pair tests sign with (the server accepts any).
pub const S3_ACCESS_KEY_ID: &str = "AKIAVOUCHS3TEST00001";
/// The secret, with the characters real ones have (`/`, `+`).
pub const S3_SECRET: &str = "vouchS3Secret/With+Chars0123456789abcdef";
/// [`S3_SECRET`] percent-encoded for a URI.
pub const S3_SECRET_IN_URI: &str = "vouchS3Secret%2FWith%2BChars0123456789abcdef";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An S3 implementation the tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Server {
    /// moto's server (Python; also serves the KMS API).
    Moto,
    /// `s3s-fs` (Rust, objects as files; checks request signatures).
    S3sFs,
}

/// Both S3 implementations.
pub const S3_SERVERS: [S3Server; 2] = [S3Server::Moto, S3Server::S3sFs];

/// The moto S3 test server's endpoint (`http://127.0.0.1:<port>`), started on first use.
pub fn s3_endpoint() -> &'static str {
    endpoint_of(S3Server::Moto)
}

/// The endpoint of `server`, started on first use.
pub fn endpoint_of(server: S3Server) -> &'static str {
    static MOTO: OnceLock<String> = OnceLock::new();
    static S3S: OnceLock<String> = OnceLock::new();
    let (cell, var, command) = match server {
        S3Server::Moto => (&MOTO, "VOUCH_S3_ENDPOINT", "start"),
        S3Server::S3sFs => (&S3S, "VOUCH_S3S_ENDPOINT", "start-s3s-fs"),
    };
    cell.get_or_init(|| {
        if let Ok(e) = std::env::var(var) {
            if !e.is_empty() {
                return e;
            }
        }
        let script = repo().join("scripts/s3-server.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(command)
            .arg(std::process::id().to_string())
            .env("VOUCH_S3S_ACCESS_KEY", S3_ACCESS_KEY_ID)
            .env("VOUCH_S3S_SECRET_KEY", S3_SECRET)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the S3 test server did not start ({} exited with {}; its reason is on stderr \
             above). moto needs python3 with venv and pip access to PyPI; s3s-fs needs cargo \
             and crates.io.",
            script.display(),
            out.status
        );
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("VOUCH_S3_ENDPOINT="))
            .unwrap_or_else(|| panic!("s3-server.sh printed no endpoint: {stdout:?}"))
            .to_string()
    })
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
    s3_uri_on(S3Server::Moto, path)
}

/// `s3://vouch-test/<path>` on `server` with the test credentials (the key pair s3s-fs
/// is started with).
pub fn s3_uri_on(server: S3Server, path: &str) -> String {
    format!(
        "s3://{S3_BUCKET}/{path}?AWS_ENDPOINT={}&AWS_ACCESS_KEY_ID={S3_ACCESS_KEY_ID}&AWS_SECRET_ACCESS_KEY={S3_SECRET_IN_URI}&AWS_REGION=us-east-1",
        endpoint_of(server)
    )
}
