//! libFuzzer entry point of `http_handshake`: what it feeds and checks is in `harness/http_handshake.rs`
//! (`wsscope_fuzz::http_handshake`), which `tests/regressions.rs` replays without libFuzzer.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsscope_fuzz::http_handshake::run(data));
