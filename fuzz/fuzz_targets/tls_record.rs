//! libFuzzer entry point of `tls_record`: what it feeds and checks is in `harness/tls_record.rs`
//! (`wsscope_fuzz::tls_record`), which `tests/regressions.rs` replays without libFuzzer. The
//! counting allocator measures the heap the layer holds, checked against its `footprint()`.

#![no_main]

#[global_allocator]
static ALLOC: wsscope_fuzz::alloc_count::Counting = wsscope_fuzz::alloc_count::Counting;

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsscope_fuzz::tls_record::run(data));
