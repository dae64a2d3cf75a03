//! GRE (RFC 2784, with RFC 2890's key and sequence number) and the ERSPAN headers switches put
//! inside it (draft-foschiano-erspan-03).
//!
//! ```text
//! GRE:        C | R | K | S | s | Recur (3) | Flags (5) | Ver (3) | Protocol Type (16)
//!             [Checksum (16) | Reserved1 (16)] if C or R   [Key (32)] if K   [Sequence (32)] if S
//! ERSPAN II:  Ver (4) = 1 | VLAN (12) | COS (3) | En (2) | T | Session ID (10)
//!             Reserved (12) | Index (20)                                  then an Ethernet frame
//! ERSPAN III: Ver (4) = 2 | VLAN (12) | COS (3) | BSO (2) | T | Session ID (10)
//!             Timestamp (32)
//!             SGT (16) | P | FT (5) | Hw ID (6) | D | Gra (2) | O
//!             [platform-specific subheader (64)] if O                  then the frame (FT 0 Ethernet, 2 IP)
//! ```
//!
//! ERSPAN type I is protocol 0x88be without the sequence number: no ERSPAN header, the Ethernet
//! frame follows GRE directly. GRE version 1 (PPTP's enhanced GRE, carrying PPP) and RFC 1701
//! source routing (the R bit) are not decoded.

use super::{
    Decap, IPV4, IPV6, MPLS_MULTICAST, MPLS_UNICAST, Next, TEB, Truncated, Tunnel, be16, split,
};

/// Checksum present.
const FLAG_C: u8 = 0x80;
/// Routing present (RFC 1701).
const FLAG_R: u8 = 0x40;
/// Key present (RFC 2890 §2.1).
const FLAG_K: u8 = 0x20;
/// Sequence number present (RFC 2890 §2.2).
const FLAG_S: u8 = 0x10;
/// GRE protocol types of ERSPAN.
const ERSPAN_II: u16 = 0x88be;
const ERSPAN_III: u16 = 0x22eb;
/// Header lengths.
const GRE_FIXED: usize = 4;
const ERSPAN_II_LEN: usize = 8;
const ERSPAN_III_LEN: usize = 12;
const ERSPAN_III_PLATFORM: usize = 8;

/// A GRE header (and the ERSPAN header inside it): what follows. `None` for a version other than
/// 0, source routing, an ERSPAN header of another version, or a protocol type wsscope does not
/// decode (PPP, keepalives, …).
pub(super) fn decap(data: &[u8]) -> Result<Option<Decap<'_>>, Truncated> {
    let (fixed, _) = split("GRE", data, GRE_FIXED)?;
    let (flags, version) = match fixed {
        &[flags, second, ..] => (flags, second & 0x07),
        _ => return Ok(None),
    };
    if version != 0 || flags & FLAG_R != 0 {
        return Ok(None);
    }
    let words = [FLAG_C, FLAG_K, FLAG_S].iter().filter(|&&f| flags & f != 0).count();
    let (_, payload) = split("GRE", data, GRE_FIXED + 4 * words)?;
    let protocol = be16(fixed, 2);
    Ok(match protocol {
        ERSPAN_II if flags & FLAG_S == 0 => {
            Some(Decap { tunnel: Tunnel::Erspan2, next: Next::Ethernet(payload) })
        }
        ERSPAN_II => erspan2(payload)?,
        ERSPAN_III => erspan3(payload)?,
        IPV4 | IPV6 | TEB | MPLS_UNICAST | MPLS_MULTICAST => {
            Some(Decap { tunnel: Tunnel::Gre, next: Next::EtherType(protocol, payload) })
        }
        _ => None,
    })
}

/// ERSPAN type II: version 1, then an Ethernet frame.
fn erspan2(data: &[u8]) -> Result<Option<Decap<'_>>, Truncated> {
    let (header, frame) = split("ERSPAN", data, ERSPAN_II_LEN)?;
    if header.first().map(|b| b >> 4) != Some(1) {
        return Ok(None);
    }
    Ok(Some(Decap { tunnel: Tunnel::Erspan2, next: Next::Ethernet(frame) }))
}

/// ERSPAN type III: version 2, an optional platform-specific subheader (the O bit), then the
/// frame its type says: 0 Ethernet, 2 IP.
fn erspan3(data: &[u8]) -> Result<Option<Decap<'_>>, Truncated> {
    let (header, _) = split("ERSPAN", data, ERSPAN_III_LEN)?;
    let (first, ft_byte, last) = match header {
        &[first, _, _, _, _, _, _, _, _, _, ft_byte, last] => (first, ft_byte, last),
        _ => return Ok(None),
    };
    if first >> 4 != 2 {
        return Ok(None);
    }
    let len = ERSPAN_III_LEN + if last & 0x01 != 0 { ERSPAN_III_PLATFORM } else { 0 };
    let (_, frame) = split("ERSPAN", data, len)?;
    let next = match (ft_byte >> 2) & 0x1f {
        0 => Next::Ethernet(frame),
        2 => Next::Ip(frame),
        _ => return Ok(None),
    };
    Ok(Some(Decap { tunnel: Tunnel::Erspan3, next }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gre(flags: u8, proto: u16, optional_words: usize, payload: &[u8]) -> Vec<u8> {
        let [p0, p1] = proto.to_be_bytes();
        let mut v = vec![flags, 0, p0, p1];
        v.extend(std::iter::repeat_n(0x77, 4 * optional_words));
        v.extend(payload);
        v
    }

    fn next(data: &[u8]) -> Option<(Tunnel, Next<'_>)> {
        decap(data).unwrap().map(|d| (d.tunnel, d.next))
    }

    #[test]
    fn checksum_key_and_sequence_fields_are_skipped() {
        for (flags, words) in [(0, 0), (FLAG_C, 1), (FLAG_K, 1), (FLAG_S, 1), (0xb0, 3)] {
            let p = gre(flags, IPV4, words, b"\x45ip");
            assert_eq!(
                next(&p),
                Some((Tunnel::Gre, Next::EtherType(IPV4, b"\x45ip"))),
                "flags {flags:#x}"
            );
        }
    }

    #[test]
    fn ethernet_and_mpls_payloads_are_passed_on_by_type() {
        assert_eq!(
            next(&gre(0, TEB, 0, b"eth")),
            Some((Tunnel::Gre, Next::EtherType(TEB, b"eth")))
        );
        assert_eq!(
            next(&gre(FLAG_K, MPLS_UNICAST, 1, b"mpls")),
            Some((Tunnel::Gre, Next::EtherType(MPLS_UNICAST, b"mpls")))
        );
    }

    #[test]
    fn version_1_routing_and_unknown_protocols_are_not_decoded() {
        let mut pptp = gre(FLAG_K, 0x880b, 1, b"ppp");
        pptp[1] = 0x01;
        assert_eq!(next(&pptp), None);
        assert_eq!(next(&gre(FLAG_R, IPV4, 1, b"x")), None);
        assert_eq!(next(&gre(0, 0x880b, 0, b"x")), None);
    }

    #[test]
    fn a_header_shorter_than_its_flags_say_is_truncated() {
        let e = decap(&gre(0xb0, IPV4, 2, b"")).unwrap_err();
        assert_eq!((e.layer, e.need, e.have), ("GRE", 16, 12));
        assert_eq!(decap(&[0, 0, 8]).unwrap_err().need, 4);
    }

    #[test]
    fn erspan_type_1_has_no_header_of_its_own() {
        assert_eq!(
            next(&gre(0, ERSPAN_II, 0, b"eth")),
            Some((Tunnel::Erspan2, Next::Ethernet(b"eth")))
        );
    }

    #[test]
    fn erspan_type_2_has_an_8_byte_header_of_version_1() {
        let mut payload = vec![0x10, 0x64, 0x00, 0x05, 0, 0, 0, 9];
        payload.extend(b"eth");
        let p = gre(FLAG_S, ERSPAN_II, 1, &payload);
        assert_eq!(next(&p), Some((Tunnel::Erspan2, Next::Ethernet(b"eth"))));
        payload[0] = 0x20;
        assert_eq!(next(&gre(FLAG_S, ERSPAN_II, 1, &payload)), None);
        let e = decap(&gre(FLAG_S, ERSPAN_II, 1, &payload[..5])).unwrap_err();
        assert_eq!(e.layer, "ERSPAN");
    }

    #[test]
    fn erspan_type_3_skips_the_platform_subheader_when_the_o_bit_is_set() {
        let header = |ft: u8, o: bool| {
            let mut h = vec![0x20, 0x64, 0x00, 0x05, 1, 2, 3, 4, 0, 0, ft << 2, u8::from(o)];
            if o {
                h.extend([0xaa; 8]);
            }
            h.extend(b"frame");
            h
        };
        for o in [false, true] {
            let p = gre(FLAG_S, ERSPAN_III, 1, &header(0, o));
            assert_eq!(next(&p), Some((Tunnel::Erspan3, Next::Ethernet(b"frame"))), "O={o}");
        }
        let p = gre(FLAG_S, ERSPAN_III, 1, &header(2, false));
        assert_eq!(next(&p), Some((Tunnel::Erspan3, Next::Ip(b"frame"))));
        assert_eq!(next(&gre(FLAG_S, ERSPAN_III, 1, &header(5, false))), None);
        let cut = header(0, true);
        let e = decap(&gre(FLAG_S, ERSPAN_III, 1, &cut[..15])).unwrap_err();
        assert_eq!((e.layer, e.need), ("ERSPAN", 20));
    }
}
