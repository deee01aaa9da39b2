#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vouch_format::encryption_info::fuzz_decode(data));
