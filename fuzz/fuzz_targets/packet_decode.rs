//! libFuzzer entry point of `packet_decode`: what it feeds and checks is in `harness/packet_decode.rs`
//! (`wsscope_fuzz::packet_decode`), which `tests/regressions.rs` replays without libFuzzer.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsscope_fuzz::packet_decode::run(data));
