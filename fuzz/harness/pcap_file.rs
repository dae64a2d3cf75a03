//! `pcap_file`: a whole capture file through `FileSource::open` (wsscope's classic pcap and
//! pcapng readers, or libpcap) and `pipeline::drive` (decoder + connection table) with a no-op
//! sink, default limits. Differential: the packets (link types included) and the kind of end of
//! input (clean or truncated) must be those libpcap reads from the same file
//! (`FileSource::open_libpcap`); both must open it or both refuse it. Where libpcap stops at a
//! pcapng interface of a second link type, which wsscope reads on purpose, its packets must be
//! the first ones wsscope reads; where libpcap refuses a pcapng file because its first interface
//! has a link type wsscope does not decode, wsscope may read its other interfaces; and a pcapng
//! file that describes no interface, which libpcap refuses, wsscope reads as an empty capture.
//!
//! Round trip of `-w`: the packets wsscope reads, written as pcapng by `capture::savefile`
//! with the interfaces and TLS secrets the source gives, read back the same (time, lengths,
//! bytes, link type, interface name, secrets), for files whose times are after 1970.
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
    let copied = FileSource::open(path, None);
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
        // A pcapng file that describes no interface: libpcap refuses it, wsscope reads it as
        // an empty capture (as tshark does).
        (Ok(a), Err(_)) if links == 0 => {
            assert!(a.0.is_empty(), "packets without an interface");
        }
        (a, b) => panic!("one reader opened the file: {:?} / {:?}", a.is_ok(), b.is_ok()),
    }
    if let Ok(source) = copied {
        round_trip(source);
    }
    let Ok(mut source) = opened else { return };
    let stop = Stop::new(Some(10_000));
    let mut events = 0u64;
    let summary = drive(&mut source, &TcpLimits::default(), &stop, &mut |_e: StreamEvent<'_>| {
        events += 1;
    });
    std::hint::black_box((events, summary));
}

/// A packet as `-w` keeps it: timestamp (ns), wire length, bytes, link type, interface name,
/// the secrets given before it.
type Kept = (i64, u32, Vec<u8>, u32, Option<String>, Vec<u8>);

/// What the round trip compares of a packet, its interface's name passed through `name`.
fn kept(p: &wsscope::capture::RawPacket<'_>, name: impl Fn(String) -> String) -> Kept {
    let iface = p.iface.and_then(|i| i.name.clone()).map(name);
    (p.ts.as_nanos(), p.wire_len, p.data.to_vec(), p.link.0, iface, p.secrets.to_vec())
}

/// Writes the first 10,000 packets of `source` as pcapng and checks that they read back as
/// they were read.
fn round_trip(mut source: FileSource) {
    use wsscope::capture::savefile::{Format, SaveWriter};
    let Ok(mut w) = SaveWriter::new(Vec::new(), Format::Pcapng, &source.interfaces()) else {
        return;
    };
    let mut read: Vec<Kept> = Vec::new();
    for _ in 0..10_000 {
        let Next::Packet(p) = source.next_packet() else { break };
        // pcapng keeps 64-bit nanoseconds from 1970 (earlier times are written as 1970); a
        // packet longer than libpcap's largest snapshot is cut when read.
        if p.ts.as_nanos() < 0 || p.data.len() > 262_144 {
            return;
        }
        w.secrets(p.secrets).expect("writing to memory");
        w.write(&p).expect("writing to memory");
        read.push(kept(&p, |n| n));
    }
    let copy = crate::scratch_path("pcap_file_copy");
    if std::fs::write(&copy, w.into_inner()).is_err() {
        return;
    }
    let back = FileSource::open(&copy, None);
    let _ = std::fs::remove_file(&copy);
    let mut back = match back {
        Ok(b) => b,
        // Nothing to describe: no interface, so no file pcapng readers take.
        Err(_) if read.is_empty() && source.interfaces().is_empty() => return,
        Err(e) => panic!("the pcapng copy does not open: {e}"),
    };
    let mut again: Vec<Kept> = Vec::new();
    while let Next::Packet(p) = back.next_packet() {
        // Names are cut at 1 KiB when written.
        again.push(kept(&p, |n| n.chars().take(64).collect()));
    }
    let cut = |k: &Kept| {
        let mut k = k.clone();
        k.4 = k.4.map(|n| n.chars().take(64).collect());
        k
    };
    let read: Vec<Kept> = read.iter().map(cut).collect();
    assert_eq!(read.len(), again.len(), "the copy holds another number of packets");
    for (i, (a, b)) in read.iter().zip(&again).enumerate() {
        assert_eq!(a, b, "packet {} of the copy differs", i + 1);
    }
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
