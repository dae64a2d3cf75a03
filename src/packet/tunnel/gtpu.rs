//! GTP-U (3GPP TS 29.281 §5): G-PDUs carry the user's IP packets between mobile network nodes.
//!
//! ```text
//! Version (3) = 1 | PT = 1 | spare | E | S | PN | Message Type (8) | Length (16) | TEID (32)
//! [Sequence Number (16) | N-PDU Number (8) | Next Extension Header Type (8)] if E, S or PN
//! extension headers (§5.2): Length (8, 4-byte units) | content | Next Extension Header Type (8)
//! ```

use super::{Decap, Next, Tunnel, be16};

/// The mandatory header.
const HEADER: usize = 8;
/// The optional fields present when E, S or PN is set.
const OPTIONAL: usize = 4;
/// Message type of a G-PDU (a user packet).
const G_PDU: u8 = 255;
/// Flags.
const FLAG_PT: u8 = 0x10;
const FLAG_E: u8 = 0x04;
const FLAGS_ESPN: u8 = 0x07;

/// A G-PDU and the IP packet it carries, bounded by the Length field. `None` for another version,
/// GTP' (PT = 0), any other message type (echo, error indication, end marker), an extension header
/// chain that runs past the datagram or has a zero length, or a payload that is not IP.
pub(super) fn decap(data: &[u8]) -> Option<Decap<'_>> {
    let header = data.get(..HEADER)?;
    let (&flags, &message) = (header.first()?, header.get(1)?);
    if flags >> 5 != 1 || flags & FLAG_PT == 0 || message != G_PDU {
        return None;
    }
    // Length counts the bytes after the mandatory header; what follows it is padding.
    let end = HEADER + usize::from(be16(header, 2));
    let data = data.get(..end.min(data.len()))?;
    let mut at = HEADER;
    if flags & FLAGS_ESPN != 0 {
        let optional = data.get(HEADER..HEADER + OPTIONAL)?;
        at += OPTIONAL;
        let mut next_type = *optional.last()?;
        // TS 29.281 §5.2.1: the chain is read only when E is set; each header is at least 4
        // bytes, so the loop ends within the datagram.
        while flags & FLAG_E != 0 && next_type != 0 {
            let len = usize::from(*data.get(at)?) * 4;
            if len == 0 {
                return None;
            }
            next_type = *data.get(at..at + len)?.last()?;
            at += len;
        }
    }
    let inner = data.get(at..)?;
    match inner.first().map(|b| b >> 4) {
        Some(4 | 6) => Some(Decap { tunnel: Tunnel::GtpU, next: Next::Ip(inner) }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpdu(flags: u8, optional: &[u8], inner: &[u8]) -> Vec<u8> {
        let len = (optional.len() + inner.len()) as u16;
        let [l0, l1] = len.to_be_bytes();
        let mut v = vec![flags, G_PDU, l0, l1, 0, 0, 0, 42];
        v.extend(optional);
        v.extend(inner);
        v
    }

    #[test]
    fn a_plain_g_pdu_carries_ip_after_8_bytes() {
        let p = gpdu(0x30, &[], b"\x45ip");
        assert_eq!(decap(&p).map(|d| d.next), Some(Next::Ip(b"\x45ip")));
    }

    #[test]
    fn sequence_number_and_extension_headers_are_skipped() {
        // S only: 4 optional bytes, no chain.
        let p = gpdu(0x32, &[0, 1, 0, 0], b"\x60ip");
        assert_eq!(decap(&p).map(|d| d.next), Some(Next::Ip(b"\x60ip")));
        // E: a PDU session container (0x85, 4 bytes) then a 8-byte header, then none.
        let chain = [0, 0, 0, 0x85, 1, 0x10, 0x01, 0x40, 2, 1, 2, 3, 4, 5, 6, 0];
        let p = gpdu(0x34, &chain, b"\x45ip");
        assert_eq!(decap(&p).map(|d| d.next), Some(Next::Ip(b"\x45ip")));
    }

    #[test]
    fn padding_after_the_length_is_not_the_inner_packet() {
        let mut p = gpdu(0x30, &[], b"\x45ip");
        p.extend([0; 10]);
        assert_eq!(decap(&p).map(|d| d.next), Some(Next::Ip(b"\x45ip")));
    }

    #[test]
    fn other_messages_versions_and_broken_chains_are_not_decoded() {
        let mut echo = gpdu(0x30, &[], b"\x45");
        echo[1] = 1;
        assert_eq!(decap(&echo), None);
        assert_eq!(decap(&gpdu(0x50, &[], b"\x45ip")), None, "version 2 (GTPv2-C)");
        assert_eq!(decap(&gpdu(0x20, &[], b"\x45ip")), None, "GTP'");
        assert_eq!(decap(&gpdu(0x34, &[0, 0, 0, 0x85, 0, 0, 0, 0], b"\x45")), None, "zero length");
        assert_eq!(decap(&gpdu(0x34, &[0, 0, 0, 0x85, 9], b"")), None, "chain past the end");
        assert_eq!(decap(&gpdu(0x30, &[], b"\x85 not ip")), None);
    }
}
