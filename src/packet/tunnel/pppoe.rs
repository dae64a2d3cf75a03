//! PPPoE session stage (RFC 2516 §4, §5.4): a 6-byte header, then a PPP frame (RFC 1661 §2)
//! whose 2-byte protocol field names the payload. Protocol-field compression (a 1-byte field)
//! is not decoded: RFC 2516 §7 says it SHOULD NOT be negotiated.
//!
//! ```text
//! VER (4) = 1 | TYPE (4) = 1 | CODE (8) = 0 | SESSION_ID (16) | LENGTH (16) | PPP protocol (16)
//! ```

use super::{Decap, Next, Truncated, Tunnel, be16, split};

/// PPPoE header plus the PPP protocol field.
const HEADER: usize = 8;
/// PPP protocol numbers of IPv4 and IPv6 (RFC 1332, RFC 5072).
const PPP_IPV4: u16 = 0x0021;
const PPP_IPV6: u16 = 0x0057;

/// A PPPoE session packet carrying IPv4 or IPv6, trimmed to its LENGTH (Ethernet pads short
/// frames). `None` for another version, type or code, or another PPP protocol (LCP, IPCP…).
pub(super) fn decap(data: &[u8]) -> Result<Option<Decap<'_>>, Truncated> {
    let (header, rest) = split("PPPoE", data, HEADER)?;
    if header.first() != Some(&0x11) || header.get(1) != Some(&0) {
        return Ok(None);
    }
    // LENGTH counts the PPP payload, protocol field included.
    let len = usize::from(be16(header, 4)).saturating_sub(2);
    let payload = rest.get(..len.min(rest.len())).unwrap_or(rest);
    Ok(match be16(header, 6) {
        PPP_IPV4 | PPP_IPV6 => Some(Decap { tunnel: Tunnel::Pppoe, next: Next::Ip(payload) }),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(code: u8, len: u16, proto: u16, payload: &[u8]) -> Vec<u8> {
        let [l0, l1] = len.to_be_bytes();
        let [p0, p1] = proto.to_be_bytes();
        let mut v = vec![0x11, code, 0x12, 0x34, l0, l1, p0, p1];
        v.extend(payload);
        v
    }

    #[test]
    fn the_payload_ends_where_the_length_says() {
        let p = packet(0, 2 + 4, PPP_IPV4, b"\x45abc\0\0\0\0padding");
        assert_eq!(decap(&p).unwrap().map(|d| d.next), Some(Next::Ip(b"\x45abc")));
    }

    #[test]
    fn a_length_beyond_the_capture_keeps_what_was_captured() {
        let p = packet(0, 1000, PPP_IPV6, b"\x60ab");
        assert_eq!(decap(&p).unwrap().map(|d| d.next), Some(Next::Ip(b"\x60ab")));
    }

    #[test]
    fn other_ppp_protocols_and_discovery_codes_are_not_decoded() {
        assert_eq!(decap(&packet(0, 10, 0xc021, b"lcp")).unwrap(), None);
        assert_eq!(decap(&packet(0x09, 10, PPP_IPV4, b"x")).unwrap(), None);
    }

    #[test]
    fn a_short_header_is_truncated() {
        let e = decap(&[0x11, 0, 0, 1, 0]).unwrap_err();
        assert_eq!((e.layer, e.need, e.have), ("PPPoE", 8, 5));
    }
}
