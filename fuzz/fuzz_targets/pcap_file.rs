//! `pcap_file`: a whole capture file through `FileSource::open` (libpcap's pcap/pcapng parser)
//! and `pipeline::drive` (decoder + connection table) with a no-op sink, default limits.
//!
//! The input is written to a per-process file (in /dev/shm when it exists, so no disk I/O),
//! opened by path as the `wsscope` binary does, and unlinked right after opening. Errors from `open` (not a capture, unsupported
//! link type, …) are expected; panics and aborts are not. libpcap is the system library and is
//! not instrumented: its code gives no coverage feedback and ASan sees only its heap
//! (malloc/free) misuse, not its out-of-bounds reads.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;
use wsscope::capture::FileSource;
use wsscope::limits::TcpLimits;
use wsscope::pipeline::{Stop, drive};
use wsscope::tcp::StreamEvent;

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::path::Path::new("/dev/shm");
        let dir = if dir.is_dir() { dir.to_path_buf() } else { std::env::temp_dir() };
        dir.join(format!("wsscope-fuzz-pcap-{}.pcap", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = path();
    if std::fs::write(path, data).is_err() {
        return;
    }
    let opened = FileSource::open(path, None);
    // libpcap holds the file open: the name can go now, so no file is left behind on exit.
    let _ = std::fs::remove_file(path);
    let Ok(mut source) = opened else { return };
    let stop = Stop::new(Some(10_000));
    let mut events = 0u64;
    let summary = drive(&mut source, &TcpLimits::default(), &stop, &mut |_e: StreamEvent<'_>| {
        events += 1;
    });
    std::hint::black_box((events, summary));
});
