#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| observer::fuzz::go_binary(data));
