//! Replays every committed input — `corpus/TARGET/*` (seeds and what fuzzing kept) and
//! `regressions/TARGET/*` (inputs that once crashed a target) — through the targets' own
//! functions (`wsscope_fuzz::TARGET::run`), with plain `cargo test` on stable Rust: no libFuzzer,
//! no sanitizer. `.ci/run` runs it:
//!
//! ```sh
//! cargo test --manifest-path fuzz/Cargo.toml --test regressions
//! ```
//!
//! A failing input is named in the failure. `pipeline_large` is replayed by `tests/large.rs`
//! (it needs the counting allocator's process-wide peak, in a test binary of its own). The
//! counting allocator is installed here too, for `tls_record`'s per-thread heap check.

use std::path::{Path, PathBuf};

#[global_allocator]
static ALLOC: wsscope_fuzz::alloc_count::Counting = wsscope_fuzz::alloc_count::Counting;

/// Every committed input of `target`; at least one must be there (an empty corpus would make
/// this test pass without running anything).
fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = ["corpus", "regressions"]
        .iter()
        .filter_map(|d| std::fs::read_dir(root.join(d).join(target)).ok())
        .flatten()
        .map(|e| e.expect("a readable directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no committed input for {target} (fuzz/corpus/{target})");
    files
}

/// Runs `f` on every input of `target`; fails naming every input that panicked.
pub fn replay(target: &str, f: fn(&[u8])) {
    let mut failed = Vec::new();
    let files = inputs(target);
    for path in &files {
        let data = std::fs::read(path).expect("readable input");
        if std::panic::catch_unwind(|| f(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs failed: {failed:#?}",
        failed.len(),
        files.len()
    );
}

#[test]
fn packet_decode() {
    replay("packet_decode", wsscope_fuzz::packet_decode::run);
}

#[test]
fn stream_table() {
    replay("stream_table", wsscope_fuzz::stream_table::replay);
}

#[test]
fn pcap_file() {
    replay("pcap_file", wsscope_fuzz::pcap_file::run);
}

#[test]
fn ws_direction() {
    replay("ws_direction", wsscope_fuzz::ws_direction::run);
}

#[test]
fn http_handshake() {
    replay("http_handshake", wsscope_fuzz::http_handshake::run);
}

#[test]
fn analyzer_session() {
    replay("analyzer_session", wsscope_fuzz::analyzer_session::run);
}

#[test]
fn pipeline() {
    replay("pipeline", wsscope_fuzz::pipeline::run);
}

#[test]
fn tls_keylog() {
    replay("tls_keylog", wsscope_fuzz::tls_keylog::run);
}

#[test]
fn tls_record() {
    replay("tls_record", wsscope_fuzz::tls_record::run);
}
