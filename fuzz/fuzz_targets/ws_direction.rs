//! libFuzzer entry point of `ws_direction`: what it feeds and checks is in `harness/ws_direction.rs`
//! (`wsscope_fuzz::ws_direction`), which `tests/regressions.rs` replays without libFuzzer.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsscope_fuzz::ws_direction::run(data));
