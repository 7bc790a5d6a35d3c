#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| trueip_fuzz::xff(data));
