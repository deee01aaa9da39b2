//! `verify --level full` on a tiny collection whose protected files (manifests, checksum
//! files, data files, the LATEST marker in force) the fuzzer's bytes mutate: it must never
//! panic, never call a changed collection clean, never flag an unchanged one. The oracle is
//! `vouch_testkit::corrupt::fuzz_verify_full`, which `verify/tests/corruption.rs` also runs
//! on the same base collection (`corrupt::fuzz_base`).
#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use vouch_testkit::corrupt;

struct Base {
    files: BTreeMap<String, Vec<u8>>,
    scratch: PathBuf,
    _tmp: tempfile::TempDir,
}

/// [`corrupt::fuzz_base`], read into memory once.
fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("tempdir");
        Base {
            files: corrupt::fuzz_base(tmp.path()),
            scratch: tmp.path().join("scratch"),
            _tmp: tmp,
        }
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let b = base();
    corrupt::fuzz_verify_full(&b.files, &b.scratch, data)
});
