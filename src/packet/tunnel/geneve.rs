//! Geneve (RFC 8926 §3.4): an 8-byte header, variable-length options, then the packet named by
//! the protocol type.
//!
//! ```text
//! Ver (2) | Opt Len (6, 4-byte words) | O | C | Rsvd (6) | Protocol Type (16)
//! VNI (24) | Reserved (8) | options…
//! ```

use super::{Decap, IPV4, IPV6, Next, TEB, Tunnel, be16};

/// Length of the fixed header.
const HEADER: usize = 8;

/// A Geneve header with its options and the packet after it. `None` for a version other than 0
/// (RFC 8926 §3.4: a packet with an unknown version is dropped), options longer than the
/// datagram, or a protocol type other than Ethernet (0x6558), IPv4 or IPv6.
pub(super) fn decap(data: &[u8]) -> Option<Decap<'_>> {
    let fixed = data.get(..HEADER)?;
    let first = *fixed.first()?;
    if first >> 6 != 0 {
        return None;
    }
    let options = usize::from(first & 0x3f) * 4;
    let inner = data.get(HEADER + options..)?;
    let next = match be16(fixed, 2) {
        TEB => Next::Ethernet(inner),
        IPV4 | IPV6 => Next::Ip(inner),
        _ => return None,
    };
    Some(Decap { tunnel: Tunnel::Geneve, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(first: u8, proto: u16, options: usize, inner: &[u8]) -> Vec<u8> {
        let [p0, p1] = proto.to_be_bytes();
        let mut v = vec![first, 0, p0, p1, 0, 0, 7, 0];
        v.extend(std::iter::repeat_n(0xee, options));
        v.extend(inner);
        v
    }

    #[test]
    fn options_are_skipped_by_their_length_in_words() {
        let p = packet(0x02, TEB, 8, b"frame");
        assert_eq!(decap(&p).map(|d| d.next), Some(Next::Ethernet(b"frame")));
    }

    #[test]
    fn ip_payloads_are_named_by_the_protocol_type() {
        let p = packet(0x00, IPV6, 0, b"\x60ip");
        assert_eq!(decap(&p).map(|d| d.next), Some(Next::Ip(b"\x60ip")));
    }

    #[test]
    fn an_unknown_version_or_protocol_is_not_decoded() {
        assert_eq!(decap(&packet(0x40, TEB, 0, b"x")), None);
        assert_eq!(decap(&packet(0x00, 0x894f, 0, b"x")), None);
    }

    #[test]
    fn options_longer_than_the_datagram_are_not_geneve() {
        let mut p = packet(0x3f, TEB, 0, b"x");
        p.truncate(20);
        assert_eq!(decap(&p), None);
    }
}
