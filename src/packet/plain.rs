//! The most common packet, read by hand: an IP packet that carries one whole TCP segment with
//! nothing unusual about it. IPv4 (options allowed) or IPv6 without extension headers, not a
//! fragment, every byte the IP header declares captured, a TCP header that fits, no SYN (whose
//! options are read for the window scale).
//!
//! Anything else gives `None` and goes through etherparse's slices ([`super::Walk::ip`]), so
//! this only has to be right where it answers: the tests compare both on valid, damaged and cut
//! packets ([`super::tests`]).

use super::{Segment, TcpFlags};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Length of a TCP header without options.
const TCP_MIN: usize = 20;
/// Length of the IPv6 header.
const IPV6_HEADER: usize = 40;
/// IP protocol number of TCP.
const TCP: u8 = 6;

/// The TCP segment of `ip` (an IP packet from its first byte), when it is the common case.
#[inline]
pub(super) fn tcp(ip: &[u8]) -> Option<Segment<'_>> {
    let (src, dst, tcp) = match ip.first()? >> 4 {
        4 => ipv4(ip)?,
        6 => ipv6(ip)?,
        _ => return None,
    };
    segment(src, dst, tcp)
}

/// Source, destination and the TCP bytes of an IPv4 packet.
#[inline]
fn ipv4(ip: &[u8]) -> Option<(IpAddr, IpAddr, &[u8])> {
    let h: &[u8; 20] = ip.first_chunk()?;
    let header = usize::from(h[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // More fragments, or a fragment offset: the defragmenter's.
    let fragment = (h[6] & 0x3f) != 0 || h[7] != 0;
    if header < 20 || h[9] != TCP || fragment || total < header || total > ip.len() {
        return None;
    }
    let src = Ipv4Addr::new(h[12], h[13], h[14], h[15]);
    let dst = Ipv4Addr::new(h[16], h[17], h[18], h[19]);
    Some((IpAddr::V4(src), IpAddr::V4(dst), &ip[header..total]))
}

/// Source, destination and the TCP bytes of an IPv6 packet whose next header is TCP.
#[inline]
fn ipv6(ip: &[u8]) -> Option<(IpAddr, IpAddr, &[u8])> {
    let h: &[u8; IPV6_HEADER] = ip.first_chunk()?;
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    // (A length of 0, a jumbogram's, leaves no room for the TCP header: etherparse's to judge.)
    if h[6] != TCP || IPV6_HEADER + len > ip.len() {
        return None;
    }
    let addr = |at: usize| -> Option<IpAddr> {
        let b: [u8; 16] = h.get(at..at + 16)?.try_into().ok()?;
        Some(IpAddr::V6(Ipv6Addr::from(b)))
    };
    Some((addr(8)?, addr(24)?, &ip[IPV6_HEADER..IPV6_HEADER + len]))
}

/// The segment in `tcp` (the IP payload, all of it captured).
#[inline]
fn segment(src: IpAddr, dst: IpAddr, tcp: &[u8]) -> Option<Segment<'_>> {
    let h: &[u8; TCP_MIN] = tcp.first_chunk()?;
    let header = usize::from(h[12] >> 4) * 4;
    let bits = h[13];
    let syn = bits & 0x02 != 0;
    if header < TCP_MIN || header > tcp.len() || syn {
        return None;
    }
    let word = |at: usize| u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    Some(Segment {
        src: SocketAddr::new(src, u16::from_be_bytes([h[0], h[1]])),
        dst: SocketAddr::new(dst, u16::from_be_bytes([h[2], h[3]])),
        seq: word(4),
        ack: word(8),
        flags: TcpFlags {
            syn,
            ack: bits & 0x10 != 0,
            fin: bits & 0x01 != 0,
            rst: bits & 0x04 != 0,
            psh: bits & 0x08 != 0,
        },
        window: u16::from_be_bytes([h[14], h[15]]),
        wscale: None,
        payload: &tcp[header..],
        missing: 0,
        file_offset: None,
    })
}
