//! libFuzzer entry point of `pipeline_large`: what it feeds and checks is in
//! `harness/pipeline_large.rs` (`wsscope_fuzz::pipeline_large`), which `tests/large.rs` replays
//! without libFuzzer. The counting allocator measures the peak heap the bound is checked on.

#![no_main]

#[global_allocator]
static ALLOC: wsscope_fuzz::alloc_count::Counting = wsscope_fuzz::alloc_count::Counting;

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsscope_fuzz::pipeline_large::run(data));
