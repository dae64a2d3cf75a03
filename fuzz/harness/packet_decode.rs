//! `packet_decode`: link-layer → IP (with IPv4 defragmentation) → TCP decoding.
//!
//! Input format (see `fuzz/seed.py`, which writes seeds in it):
//!
//! ```text
//! byte 0        link type selector: LINKS[b % LINKS.len()]
//! then records  [dt: u8][len: u16 LE][len bytes of packet]   (the last one may be cut short)
//! ```
//!
//! `dt` advances packet time by `dt × 250 ms` (so the 30 s fragment timeout is reachable within a
//! few packets). All packets of one input go through one `PacketDecoder`, so fragments of one
//! datagram spread over several records are reassembled (or dropped) across packets.
//!
//! Checks: decoding never panics, the fast path gives what etherparse's whole-packet slicing
//! gives (`PacketDecoder::decode_reference`, run on a second decoder, with equal counters, tunnel
//! decapsulation included), and the decoder's counters add up (every packet is exactly one
//! of TCP segment, other, malformed or held fragment, every malformed packet has one reason), a
//! snaplen-cut payload never claims more
//! than an IP datagram can hold, and fragment reassembly happens only for fragments.

use wsscope::limits::TcpLimits;
use wsscope::packet::{Decoded, LinkType, PacketDecoder};
use wsscope::time::Timestamp;

const LINKS: [LinkType; 8] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
];

/// Packets decoded per input at most (keeps one execution cheap).
const MAX_PACKETS: usize = 256;

/// One execution.
pub fn run(data: &[u8]) {
    let Some((&sel, mut rest)) = data.split_first() else { return };
    let link = LINKS[usize::from(sel) % LINKS.len()];
    let mut decoder = PacketDecoder::new(&TcpLimits::default());
    let mut reference = PacketDecoder::new(&TcpLimits::default());
    let mut ts = Timestamp::from_secs_nanos(1_700_000_000, 0);
    let (mut tcp, mut other, mut malformed, mut held) = (0u64, 0u64, 0u64, 0u64);
    let mut n = 0usize;
    while rest.len() >= 3 && n < MAX_PACKETS {
        let dt = rest[0];
        let len = usize::from(u16::from_le_bytes([rest[1], rest[2]]));
        let body = &rest[3..];
        let len = len.min(body.len());
        let (packet, tail) = body.split_at(len);
        rest = tail;
        n += 1;
        ts = ts.saturating_add(std::time::Duration::from_millis(250 * u64::from(dt)));
        let frags_before = decoder.stats().ipv4_fragments;
        let expected = match reference.decode_reference(link, packet, ts) {
            Ok(d) => format!("{d:?}"),
            Err(_) => "error".to_string(),
        };
        let got = decoder.decode(link, packet, ts);
        let got_text = match &got {
            Ok(d) => format!("{d:?}"),
            Err(_) => "error".to_string(),
        };
        assert_eq!(got_text, expected, "fast path and whole-packet slicing disagree");
        match got {
            Ok(Decoded::Tcp(seg)) => {
                tcp += 1;
                // An IP datagram holds at most 65 535 bytes: no more can be missing.
                assert!(
                    seg.missing <= 65_535,
                    "missing = {} for a {}-byte packet",
                    seg.missing,
                    packet.len()
                );
                // Touch the payload so a dangling slice would be caught by ASan.
                std::hint::black_box(seg.payload.iter().fold(0u8, |a, b| a ^ b));
            }
            Ok(Decoded::Other) => other += 1,
            Ok(Decoded::FragmentHeld) => {
                held += 1;
                assert_eq!(
                    decoder.stats().ipv4_fragments,
                    frags_before + 1,
                    "a held packet must be an IPv4 fragment"
                );
            }
            Err(e) => {
                malformed += 1;
                std::hint::black_box(e.to_string());
            }
        }
    }
    let s = decoder.stats();
    assert_eq!(s, reference.stats());
    assert_eq!(s.packets, n as u64);
    assert_eq!(s.tcp_segments, tcp);
    assert_eq!(s.other, other);
    assert_eq!(s.malformed, malformed);
    assert_eq!(s.packets, tcp + other + malformed + held, "{s:?}");
    let reasons: u64 = s.undecoded.by_reason().iter().map(|(_, n)| n).sum();
    assert_eq!(reasons, s.malformed, "every packet not decoded has one reason: {s:?}");
    assert!(s.reassembled_datagrams <= s.ipv4_fragments, "{s:?}");
    assert!(s.snaplen_truncated <= s.tcp_segments, "{s:?}");
}
