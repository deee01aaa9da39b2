//! Shared by the integration tests of `vouch-format`.

// A test binary is its own crate: these helpers are `pub` for its test files, which
// `unreachable_pub` cannot see.
#![allow(unreachable_pub)]

use std::path::{Path, PathBuf};

/// `testdata/<p>` in the repository.
pub fn testdata(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(p)
}

/// Entries from a JSON-lines file of `{"key":"<hex>","value":"<hex>"}` (what
/// `vouch sst dump` prints).
pub fn jsonl_entries(path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                hex::decode(v["key"].as_str().unwrap()).unwrap(),
                hex::decode(v["value"].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}
