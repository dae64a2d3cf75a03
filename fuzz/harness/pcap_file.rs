//! `pcap_file`: a whole capture file through `FileSource::open` (wsscope's classic pcap and
//! pcapng readers, or libpcap) and `pipeline::drive` (decoder + connection table) with a no-op
//! sink, default limits. Differential: the packets (link types included) and the kind of end of
//! input (clean or truncated) must be those libpcap reads from the same file
//! (`FileSource::open_libpcap`); both must open it or both refuse it. Where libpcap stops at a
//! pcapng interface of a second link type, which wsscope reads on purpose, its packets must be
//! the first ones wsscope reads; where libpcap refuses a pcapng file because its first interface
//! has a link type wsscope does not decode, wsscope may read its other interfaces.
//!
//! The input is written to a per-process, per-thread file (in /dev/shm when it exists, so no
//! disk I/O), opened by path as the `wsscope` binary does, and unlinked right after opening. Errors from `open` (not a capture, unsupported
//! link type, …) are expected; panics and aborts are not. libpcap is the system library and is
//! not instrumented: its code gives no coverage feedback and ASan sees only its heap
//! (malloc/free) misuse, not its out-of-bounds reads.

use wsscope::capture::{EndOfInput, FileSource, Next, PacketSource};
use wsscope::limits::TcpLimits;
use wsscope::pipeline::{Stop, drive};
use wsscope::tcp::StreamEvent;

/// One execution.
pub fn run(data: &[u8]) {
    let path = &crate::scratch_path("pcap_file");
    if std::fs::write(path, data).is_err() {
        return;
    }
    let opened = FileSource::open(path, None);
    let links = opened.as_ref().map(|s| s.link_types().len()).unwrap_or(0);
    let ours = FileSource::open(path, None).map(packets);
    let libpcap = FileSource::open_libpcap(path, None).map(packets);
    // The readers hold the file open: the name can go now, so no file is left behind on exit.
    let _ = std::fs::remove_file(path);
    match (ours, libpcap) {
        (Ok(a), Ok(b)) => {
            let several_links = matches!(&b.1, Some(EndOfInput::Truncated { message })
                if message.contains("different from the type of the first interface"));
            if several_links {
                assert!(a.0.starts_with(&b.0), "wsscope's reader and libpcap disagree");
            } else {
                assert!(a.0 == b.0, "wsscope's reader and libpcap disagree on the packets");
                let kind = |e: &Option<EndOfInput>| matches!(e, Some(EndOfInput::Clean));
                assert_eq!(kind(&a.1), kind(&b.1), "{:?} / {:?}", a.1, b.1);
            }
        }
        (Err(_), Err(_)) => {}
        // A pcapng file whose first interface has a link type wsscope does not decode but a
        // later one does: libpcap (one link type per file) refuses it, wsscope reads the others.
        (Ok(_), Err(wsscope::error::Error::UnsupportedLinkType { .. })) if links > 1 => {}
        (a, b) => panic!("one reader opened the file: {:?} / {:?}", a.is_ok(), b.is_ok()),
    }
    let Ok(mut source) = opened else { return };
    let stop = Stop::new(Some(10_000));
    let mut events = 0u64;
    let summary = drive(&mut source, &TcpLimits::default(), &stop, &mut |_e: StreamEvent<'_>| {
        events += 1;
    });
    std::hint::black_box((events, summary));
}

/// A packet as read: number, timestamp (ns), wire length, bytes, link type.
type Packet = (u64, i64, u32, Vec<u8>, u32);

/// The first 10,000 packets (number, timestamp, wire length, bytes, link type) and how the input
/// ended.
fn packets(mut source: FileSource) -> (Vec<Packet>, Option<EndOfInput>) {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        match source.next_packet() {
            Next::Packet(p) => {
                out.push((p.number, p.ts.as_nanos(), p.wire_len, p.data.to_vec(), p.link.0))
            }
            Next::Timeout => {}
            Next::End(end) => return (out, Some(end)),
        }
    }
    (out, None)
}
