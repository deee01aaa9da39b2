#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vouch_format::fuzzing::json_canonical(data));
