//! Runs inputs through a target's `run` without libFuzzer or sanitizers (optimised, on stable
//! Rust), with the counting allocator installed, and says for each whether it passed and how long
//! it took: to reproduce a crash quickly, or to time an input.
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --no-default-features --release --example replay -- \
//!     tls_record fuzz/corpus/tls_record/*
//! WSSCOPE_FUZZ_TRACE=1 cargo run … --example replay -- tls_record INPUT     # every op and output
//! ```
//!
//! Targets: `tls_record`, `tls_keylog`, `ws_direction`, `http_handshake`, `packet_decode`,
//! `analyzer_session`, `pipeline`.

#[global_allocator]
static ALLOC: wsscope_fuzz::alloc_count::Counting = wsscope_fuzz::alloc_count::Counting;

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let target = args.next().unwrap_or_default();
    let run: fn(&[u8]) = match target.as_str() {
        "tls_record" => wsscope_fuzz::tls_record::run,
        "tls_keylog" => wsscope_fuzz::tls_keylog::run,
        "ws_direction" => wsscope_fuzz::ws_direction::run,
        "http_handshake" => wsscope_fuzz::http_handshake::run,
        "packet_decode" => wsscope_fuzz::packet_decode::run,
        "analyzer_session" => wsscope_fuzz::analyzer_session::run,
        "pipeline" => wsscope_fuzz::pipeline::run,
        _ => {
            eprintln!("usage: replay TARGET INPUT...");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut failed = 0;
    for path in args {
        let data = std::fs::read(&path).expect("a readable input");
        let t = std::time::Instant::now();
        let ok = std::panic::catch_unwind(|| run(&data)).is_ok();
        println!(
            "{} {path} ({} bytes, {:?})",
            if ok { "ok  " } else { "FAIL" },
            data.len(),
            t.elapsed()
        );
        failed += usize::from(!ok);
    }
    if failed > 0 { std::process::ExitCode::FAILURE } else { std::process::ExitCode::SUCCESS }
}
