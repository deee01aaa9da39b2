//! The part reader of `vouch verify merge`: bytes split at every `0xff` into part reports,
//! each read as `vouch verify merge` reads a PART.json, those that read merged. Never a
//! panic; the oracle (`vouch_verify::fuzz_merge_parts`, also run on the seeds by
//! `verify/tests/merge_parts.rs`): what reads writes back to JSON that reads to itself, and
//! a merged report renders.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vouch_verify::fuzz_merge_parts(data));
