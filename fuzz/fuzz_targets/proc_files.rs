#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| observer::fuzz::proc_files(data));
