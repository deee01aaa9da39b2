//! Real servers for tests, started by the project's scripts: an S3-compatible server
//! (`scripts/s3-server.sh`: moto's server, installed from PyPI into `target/`), started
//! once per test process and stopped by the script's watcher when the process exits.
//! `VOUCH_S3_ENDPOINT`, when set, names a server already running (with the bucket
//! `vouch-test`). A server that cannot start fails the test with the reason; it is never
//! skipped.
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

/// The S3 test server's endpoint (`http://127.0.0.1:<port>`), started on first use.
pub fn s3_endpoint() -> &'static str {
    static EP: OnceLock<String> = OnceLock::new();
    EP.get_or_init(|| {
        if let Ok(e) = std::env::var("VOUCH_S3_ENDPOINT") {
            if !e.is_empty() {
                return e;
            }
        }
        let script = repo().join("scripts/s3-server.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the S3 test server did not start ({} exited with {}; its reason is on stderr \
             above). It needs python3 with venv and pip access to PyPI for moto[server].",
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

/// `s3://vouch-test/<path>` on the test server with specified credentials.
pub fn s3_uri(path: &str) -> String {
    format!(
        "s3://{S3_BUCKET}/{path}?AWS_ENDPOINT={}&AWS_ACCESS_KEY_ID={S3_ACCESS_KEY_ID}&AWS_SECRET_ACCESS_KEY={S3_SECRET_IN_URI}&AWS_REGION=us-east-1",
        s3_endpoint()
    )
}
