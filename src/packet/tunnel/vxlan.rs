//! VXLAN (RFC 7348 §5): an 8-byte header, then an Ethernet frame.
//!
//! ```text
//! flags (8, I = 0x08) | reserved (24) | VNI (24) | reserved (8)
//! ```

use super::{Decap, Next, Tunnel};

/// Length of the VXLAN header.
const HEADER: usize = 8;
/// The I flag: the VNI is valid (RFC 7348 §5: MUST be set).
const FLAG_I: u8 = 0x08;
/// An inner Ethernet header.
const ETHERNET: usize = 14;

/// A VXLAN header and the Ethernet frame after it. Not VXLAN (`None`) without the I flag, with
/// a non-zero last byte (reserved in VXLAN and in its GBP and GPE variants) or with less than an
/// Ethernet header after it: a datagram to the VXLAN port that fails this is some other UDP.
pub(super) fn decap(data: &[u8]) -> Option<Decap<'_>> {
    let &[flags, _, _, _, _, _, _, reserved] = data.get(..HEADER)? else { return None };
    if flags & FLAG_I == 0 || reserved != 0 {
        return None;
    }
    let inner = data.get(HEADER..)?;
    if inner.len() < ETHERNET {
        return None;
    }
    Some(Decap { tunnel: Tunnel::Vxlan, next: Next::Ethernet(inner) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(flags: u8, last: u8, inner: usize) -> Vec<u8> {
        let mut v = vec![flags, 0, 0, 0, 0, 0x12, 0x34, last];
        v.extend(std::iter::repeat_n(0xab, inner));
        v
    }

    #[test]
    fn the_ethernet_frame_follows_eight_bytes() {
        let p = packet(0x08, 0, 60);
        assert_eq!(decap(&p), Some(Decap { tunnel: Tunnel::Vxlan, next: Next::Ethernet(&p[8..]) }));
        // VXLAN-GBP sets more flag bits; the frame is still Ethernet.
        assert!(decap(&packet(0x88, 0, 60)).is_some());
    }

    #[test]
    fn without_the_i_flag_it_is_not_vxlan() {
        assert_eq!(decap(&packet(0x00, 0, 60)), None);
    }

    #[test]
    fn a_non_zero_reserved_last_byte_is_not_vxlan() {
        assert_eq!(decap(&packet(0x08, 1, 60)), None);
    }

    #[test]
    fn short_datagrams_are_not_vxlan() {
        assert_eq!(decap(&packet(0x08, 0, 13)), None);
        assert_eq!(decap(&[0x08, 0, 0]), None);
    }
}
