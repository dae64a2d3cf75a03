//! libFuzzer entry point of `pcap_file`: what it feeds and checks is in `harness/pcap_file.rs`
//! (`wsscope_fuzz::pcap_file`), which `tests/regressions.rs` replays without libFuzzer.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsscope_fuzz::pcap_file::run(data));
