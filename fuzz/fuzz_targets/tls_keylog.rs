//! libFuzzer entry point of `tls_keylog`: what it feeds and checks is in `harness/tls_keylog.rs`
//! (`wsscope_fuzz::tls_keylog`), which `tests/regressions.rs` replays without libFuzzer.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsscope_fuzz::tls_keylog::run(data));
