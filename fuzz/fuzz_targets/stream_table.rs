//! libFuzzer entry point of `stream_table`: what it feeds and checks is in
//! `harness/stream_table.rs` (`wsscope_fuzz::stream_table`), which `tests/regressions.rs`
//! replays without libFuzzer (decoding the bytes into operations as libfuzzer-sys does).

#![no_main]

libfuzzer_sys::fuzz_target!(|ops: Vec<wsscope_fuzz::stream_table::Op>| {
    wsscope_fuzz::stream_table::run(ops)
});
