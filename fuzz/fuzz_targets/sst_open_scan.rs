#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vouch_format::fuzzing::sst_open_scan(data));
