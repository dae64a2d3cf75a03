//! libFuzzer entry point of `analyzer_session`: what it feeds and checks is in `harness/analyzer_session.rs`
//! (`wsscope_fuzz::analyzer_session`), which `tests/regressions.rs` replays without libFuzzer.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsscope_fuzz::analyzer_session::run(data));
