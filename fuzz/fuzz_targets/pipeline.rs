//! libFuzzer entry point of `pipeline`: what it feeds and checks is in `harness/pipeline.rs`
//! (`wsscope_fuzz::pipeline`), which `tests/regressions.rs` replays without libFuzzer.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsscope_fuzz::pipeline::run(data));
