//! The bodies of the fuzz targets, as a library: each `fuzz_targets/NAME.rs` is a one-line
//! libFuzzer entry point calling `NAME::run`, and `tests/regressions.rs` replays every committed
//! corpus and regression input through the same functions with plain `cargo test` (stable Rust,
//! no libFuzzer, no sanitizer). What each target feeds and checks is in its module's docs.

pub mod alloc_count;
pub mod analyzer_session;
pub mod http_handshake;
pub mod packet_decode;
pub mod pcap_file;
pub mod pipeline;
pub mod pipeline_large;
pub mod stream_table;
pub mod tls_keylog;
pub mod tls_record;
pub mod ws_direction;

/// A file per process and thread for the targets that hand wsscope a path (in /dev/shm when it
/// exists, so no disk I/O): the replay test runs inputs on several threads at once.
pub fn scratch_path(target: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new("/dev/shm");
    let dir = if dir.is_dir() { dir.to_path_buf() } else { std::env::temp_dir() };
    let thread = format!("{:?}", std::thread::current().id());
    let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
    dir.join(format!("wsscope-fuzz-{target}-{}-{thread}.pcap", std::process::id()))
}
