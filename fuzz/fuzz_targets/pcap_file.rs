//! `pcap_file`: a whole capture file through `FileSource::open` (wsscope's classic pcap reader,
//! or libpcap's pcap/pcapng parser) and `pipeline::drive` (decoder + connection table) with a
//! no-op sink, default limits. Differential: the packets and the end of input must be those
//! libpcap reads from the same file (`FileSource::open_libpcap`).
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
use wsscope::capture::{EndOfInput, FileSource, Next, PacketSource};
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
    let ours = FileSource::open(path, None).map(packets);
    let libpcap = FileSource::open_libpcap(path, None).map(packets);
    // The readers hold the file open: the name can go now, so no file is left behind on exit.
    let _ = std::fs::remove_file(path);
    match (ours, libpcap) {
        (Ok(a), Ok(b)) => assert!(a == b, "the classic reader and libpcap disagree"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (a, b) => panic!("one reader opened the file: {:?} / {:?}", a.is_ok(), b.is_ok()),
    }
    let Ok(mut source) = opened else { return };
    let stop = Stop::new(Some(10_000));
    let mut events = 0u64;
    let summary = drive(&mut source, &TcpLimits::default(), &stop, &mut |_e: StreamEvent<'_>| {
        events += 1;
    });
    std::hint::black_box((events, summary));
});

/// The first 10,000 packets (number, timestamp, wire length, bytes) and how the input ended.
fn packets(mut source: FileSource) -> (Vec<(u64, i64, u32, Vec<u8>)>, Option<EndOfInput>) {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        match source.next_packet() {
            Next::Packet(p) => out.push((p.number, p.ts.as_nanos(), p.wire_len, p.data.to_vec())),
            Next::Timeout => {}
            Next::End(end) => return (out, Some(end)),
        }
    }
    (out, None)
}
