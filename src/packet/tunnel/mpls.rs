//! MPLS label stacks (RFC 3032 §2.1): 4-byte entries up to the one with the bottom-of-stack bit,
//! then a payload the labels name but the packet does not. Like most analyzers, wsscope guesses
//! it from its first nibble: 4 or 6 is IP; 0 is the first nibble of a pseudowire control word
//! (RFC 4385 §3) followed by an Ethernet frame, or of an Ethernet frame without one, taken only
//! when an ether type wsscope knows sits where the Ethernet header has it. An Ethernet pseudowire
//! without control word whose destination MAC address starts with 4 or 6 is taken for IP, as
//! RFC 4385 warns; the control word exists to avoid that.
//!
//! ```text
//! Label (20) | TC (3) | S (1) | TTL (8)
//! ```

use super::{Decap, IPV4, IPV6, MPLS_UNICAST, Next, Truncated, Tunnel, be16};

/// One label stack entry.
const ENTRY: usize = 4;
/// The pseudowire control word.
const CONTROL_WORD: usize = 4;
/// Ether types that make a payload starting with nibble 0 an Ethernet frame: IPv4, IPv6, ARP,
/// 802.1Q, 802.1ad, MPLS.
const ETHERNET_TYPES: [u16; 6] = [IPV4, IPV6, 0x0806, 0x8100, 0x88a8, MPLS_UNICAST];

/// The label stack and what its payload looks like. A stack that ends before its bottom entry is
/// [`Truncated`]; a payload that is none of IP or Ethernet is `None`.
pub(super) fn decap(data: &[u8]) -> Result<Option<Decap<'_>>, Truncated> {
    let mut at = 0;
    loop {
        let Some(entry) = data.get(at..at + ENTRY) else {
            return Err(Truncated { layer: "MPLS", need: at + ENTRY, have: data.len() });
        };
        at += ENTRY;
        if entry.get(2).is_some_and(|b| b & 0x01 != 0) {
            break;
        }
    }
    let payload = data.get(at..).unwrap_or_default();
    let looks_like_ethernet =
        |frame: &[u8]| frame.len() >= 14 && ETHERNET_TYPES.contains(&be16(frame, 12));
    let next = match payload.first().map(|b| b >> 4) {
        Some(4 | 6) => Next::Ip(payload),
        Some(0) => {
            let after_cw = payload.get(CONTROL_WORD..).unwrap_or_default();
            if looks_like_ethernet(after_cw) {
                Next::Ethernet(after_cw)
            } else if looks_like_ethernet(payload) {
                Next::Ethernet(payload)
            } else {
                return Ok(None);
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(Decap { tunnel: Tunnel::Mpls, next }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(label: u32, bottom: bool) -> [u8; 4] {
        (label << 12 | u32::from(bottom) << 8 | 64).to_be_bytes()
    }

    fn next(data: &[u8]) -> Option<Next<'_>> {
        decap(data).unwrap().map(|d| d.next)
    }

    #[test]
    fn labels_are_popped_until_the_bottom_of_the_stack() {
        let mut p = [entry(100, false), entry(200, false), entry(300, true)].concat();
        p.extend(b"\x45ip");
        assert_eq!(next(&p), Some(Next::Ip(b"\x45ip")));
    }

    #[test]
    fn a_stack_without_its_bottom_entry_is_truncated() {
        let p = [entry(100, false), entry(200, false)].concat();
        let e = decap(&p).unwrap_err();
        assert_eq!((e.layer, e.need, e.have), ("MPLS", 12, 8));
    }

    #[test]
    fn an_ethernet_pseudowire_is_found_with_or_without_control_word() {
        let mut frame = vec![0x00, 0x1b, 2, 3, 4, 5, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
        frame.extend(b"\x45ip");
        let mut with_cw = entry(16, true).to_vec();
        with_cw.extend([0, 0, 0, 7]);
        with_cw.extend(&frame);
        assert_eq!(next(&with_cw), Some(Next::Ethernet(&frame)));
        let mut without = entry(16, true).to_vec();
        without.extend(&frame);
        assert_eq!(next(&without), Some(Next::Ethernet(&frame)));
    }

    #[test]
    fn a_payload_that_is_neither_ip_nor_ethernet_is_not_decoded() {
        let mut p = entry(3, true).to_vec();
        p.extend([0x00; 20]);
        assert_eq!(next(&p), None);
        assert_eq!(next(&entry(3, true)), None);
        let mut p = entry(3, true).to_vec();
        p.extend(b"\x85");
        assert_eq!(next(&p), None);
    }
}
