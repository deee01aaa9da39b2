//! A KMS-compatible server for the tests: `scripts/kms-server.sh start` (moto in server
//! mode, installed from PyPI into target/kms-venv), started once per test binary and
//! stopped by the script's watcher when this process exits. `VOUCH_KMS_ENDPOINT`, when
//! set, names a server already running. If the server cannot start the test fails with
//! the reason — it is never skipped.

// A test binary is its own crate: these helpers are `pub` for its test files, which
// `unreachable_pub` cannot see.
#![allow(unreachable_pub)]
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use vouch_keys::kms::aws::AwsKms;
use vouch_keys::kms::KmsUri;

pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY_ID: &str = "AKIAVOUCHTEST0000001";
/// A secret with the characters real ones have (`/`, `+`), percent-encoded in URIs.
pub const SECRET: &str = "vouchTestSecret/With+Chars0123456789abcd";
pub const SECRET_IN_URI: &str = "vouchTestSecret%2FWith%2BChars0123456789abcd";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn endpoint() -> &'static str {
    static EP: OnceLock<String> = OnceLock::new();
    EP.get_or_init(|| {
        if let Ok(e) = std::env::var("VOUCH_KMS_ENDPOINT") {
            if !e.is_empty() {
                return e;
            }
        }
        let script = repo().join("scripts/kms-server.sh");
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
            "the KMS test server did not start ({} exited with {}; its reason is on stderr above). \
             It needs python3 with venv and pip access to PyPI for moto[server].",
            script.display(),
            out.status
        );
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("VOUCH_KMS_ENDPOINT="))
            .unwrap_or_else(|| panic!("kms-server.sh printed no endpoint: {stdout:?}"))
            .to_string()
    })
}

/// `aws:///<key>?…` with specified credentials against the test server.
pub fn aws_uri(key: &str) -> String {
    format!(
        "aws:///{key}?REGION={REGION}&AWS_ENDPOINT={}&AUTH=specified&AWS_ACCESS_KEY_ID={ACCESS_KEY_ID}&AWS_SECRET_ACCESS_KEY={SECRET_IN_URI}",
        endpoint()
    )
}

/// A new symmetric key in the test server (CreateKey through vouch's own client); its ARN.
pub fn create_key(description: &str) -> String {
    let admin = AwsKms::from_uri(&KmsUri::parse(&aws_uri("setup")).unwrap()).unwrap();
    admin
        .create_key(description)
        .unwrap_or_else(|e| panic!("CreateKey on the KMS test server failed: {e}"))
}
