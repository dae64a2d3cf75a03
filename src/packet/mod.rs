//! One captured packet → one TCP segment view, zero-copy.
//!
//! Link layers: Ethernet II (with 802.1Q / QinQ tags), Linux cooked capture v1 and v2, BSD
//! loopback (NULL and LOOP), raw IPv4/IPv6. Network: IPv4 (fragments reassembled, see
//! [`defrag`]) and IPv6 with extension headers. Headers are parsed by `etherparse` in its lax mode,
//! so a packet cut by the snapshot length still yields the captured part of its payload and the
//! number of payload bytes that are missing.
//!
//! Decoding never panics; a packet that cannot be decoded is an error value that the caller
//! counts, and the capture goes on.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod defrag;
mod link;

pub use link::LinkType;

use crate::limits::TcpLimits;
use crate::time::Timestamp;
use etherparse::{IpNumber, LaxIpPayloadSlice, LaxNetSlice, TcpSlice, TransportSlice};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};

/// TCP header flags that the stream engine uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    /// SYN.
    pub syn: bool,
    /// ACK (the acknowledgment number is valid).
    pub ack: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
    /// PSH.
    pub psh: bool,
}

/// A TCP segment, borrowing its payload from the packet (or from the defragmentation buffer).
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful when `flags.ack`).
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Advertised window (unscaled).
    pub window: u16,
    /// Captured payload bytes.
    pub payload: &'a [u8],
    /// Payload bytes that were on the wire after `payload` but not captured (snaplen).
    pub missing: u32,
}

/// What a packet turned out to be.
#[derive(Debug)]
pub enum Decoded<'a> {
    /// A TCP segment.
    Tcp(Segment<'a>),
    /// A packet wsscope does not analyse (ARP, UDP, ICMP, …).
    Other,
    /// An IP fragment, held until its datagram is complete.
    FragmentHeld,
}

/// Why a packet could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// The capture's link type is not one wsscope decodes.
    #[error("unsupported link type {0}")]
    UnsupportedLinkType(u32),
    /// A header could not be parsed.
    #[error("malformed {layer} header: {detail}")]
    Malformed {
        /// Which layer.
        layer: &'static str,
        /// What etherparse said.
        detail: String,
    },
}

/// Counters of what the decoder saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PacketStats {
    /// Packets given to the decoder.
    pub packets: u64,
    /// TCP segments produced (after defragmentation).
    pub tcp_segments: u64,
    /// Packets that are not TCP over IP.
    pub other: u64,
    /// Packets that could not be decoded.
    pub malformed: u64,
    /// TCP segments whose payload was cut by the snapshot length.
    pub snaplen_truncated: u64,
    /// IPv4 fragments seen.
    pub ipv4_fragments: u64,
    /// Datagrams reassembled from fragments.
    pub reassembled_datagrams: u64,
    /// Fragmented datagrams dropped (timeout, limit, or inconsistent fragments).
    pub dropped_datagrams: u64,
    /// Fragmented datagrams still missing fragments (at the end of the capture: never completed).
    pub incomplete_datagrams: u64,
    /// IPv6 fragments (not reassembled; counted and skipped).
    pub ipv6_fragments: u64,
}

/// Decodes packets into TCP segments, reassembling IPv4 fragments.
#[derive(Debug)]
pub struct PacketDecoder {
    defrag: defrag::Defragmenter,
    reassembled: Vec<u8>,
    stats: PacketStats,
}

impl PacketDecoder {
    /// A decoder with the fragment limits from `limits`.
    pub fn new(limits: &TcpLimits) -> Self {
        PacketDecoder {
            defrag: defrag::Defragmenter::new(
                limits.max_fragmented_datagrams,
                limits.fragment_timeout,
            ),
            reassembled: Vec::new(),
            stats: PacketStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> PacketStats {
        let mut s = self.stats;
        s.dropped_datagrams = self.defrag.dropped();
        s.incomplete_datagrams = self.defrag.pending() as u64;
        s
    }

    /// Decodes one packet of link type `link` captured at `ts`.
    pub fn decode<'a>(
        &'a mut self,
        link: LinkType,
        data: &'a [u8],
        ts: Timestamp,
    ) -> Result<Decoded<'a>, PacketError> {
        self.stats.packets += 1;
        let result =
            decode_inner(&mut self.defrag, &mut self.reassembled, &mut self.stats, link, data, ts);
        match &result {
            Ok(Decoded::Tcp(seg)) => {
                self.stats.tcp_segments += 1;
                if seg.missing > 0 {
                    self.stats.snaplen_truncated += 1;
                }
            }
            Ok(Decoded::Other) => self.stats.other += 1,
            Ok(Decoded::FragmentHeld) => {}
            Err(_) => self.stats.malformed += 1,
        }
        result
    }
}

fn decode_inner<'a>(
    defrag: &mut defrag::Defragmenter,
    reassembled: &'a mut Vec<u8>,
    stats: &mut PacketStats,
    link: LinkType,
    data: &'a [u8],
    ts: Timestamp,
) -> Result<Decoded<'a>, PacketError> {
    let Some(sliced) = link::slice(link, data)? else { return Ok(Decoded::Other) };
    let (src_ip, dst_ip, payload, declared) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            let exts = ip.extensions().auth.map_or(0, |a| a.slice().len());
            let declared = usize::from(h.total_len())
                .saturating_sub(usize::from(h.ihl()) * 4)
                .saturating_sub(exts);
            if ip.payload().fragmented {
                stats.ipv4_fragments += 1;
                if ip.payload().ip_number != IpNumber::TCP {
                    return Ok(Decoded::Other);
                }
                let key =
                    defrag::FragKey::new(h.source_addr(), h.destination_addr(), h.identification());
                let frag = defrag::Fragment {
                    offset: h.fragments_offset(),
                    more: h.more_fragments(),
                    payload: ip.payload().payload,
                };
                return match defrag.add(key, frag, ts) {
                    Some(datagram) => {
                        stats.reassembled_datagrams += 1;
                        *reassembled = datagram;
                        let reassembled: &'a Vec<u8> = reassembled;
                        let src = IpAddr::V4(h.source_addr());
                        let dst = IpAddr::V4(h.destination_addr());
                        let tcp =
                            TcpSlice::from_slice(reassembled).map_err(|e| malformed("TCP", e))?;
                        Ok(Decoded::Tcp(segment(src, dst, &tcp, 0)))
                    }
                    None => Ok(Decoded::FragmentHeld),
                };
            }
            (IpAddr::V4(h.source_addr()), IpAddr::V4(h.destination_addr()), ip.payload(), declared)
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            let declared =
                usize::from(h.payload_length()).saturating_sub(ip.extensions().slice().len());
            if ip.payload().fragmented {
                stats.ipv6_fragments += 1;
                return Ok(Decoded::Other);
            }
            (IpAddr::V6(h.source_addr()), IpAddr::V6(h.destination_addr()), ip.payload(), declared)
        }
        _ => {
            return match sliced.stop_err {
                Some((e, layer)) => {
                    Err(PacketError::Malformed { layer: layer_name(layer), detail: e.to_string() })
                }
                None => Ok(Decoded::Other),
            };
        }
    };
    if payload.ip_number != IpNumber::TCP {
        return Ok(Decoded::Other);
    }
    match sliced.transport {
        Some(TransportSlice::Tcp(tcp)) => {
            let missing = missing_bytes(payload, declared, &tcp);
            Ok(Decoded::Tcp(segment(src_ip, dst_ip, &tcp, missing)))
        }
        _ => match sliced.stop_err {
            Some((e, layer)) => {
                Err(PacketError::Malformed { layer: layer_name(layer), detail: e.to_string() })
            }
            None => Err(PacketError::Malformed { layer: "TCP", detail: "no TCP header".into() }),
        },
    }
}

/// Payload bytes the capture cut off: what the IP header declares minus what is there.
fn missing_bytes(payload: &LaxIpPayloadSlice<'_>, declared: usize, tcp: &TcpSlice<'_>) -> u32 {
    if !payload.incomplete {
        return 0;
    }
    let declared_tcp_payload = declared.saturating_sub(tcp.header_slice().len());
    u32::try_from(declared_tcp_payload.saturating_sub(tcp.payload().len())).unwrap_or(u32::MAX)
}

fn segment<'a>(src: IpAddr, dst: IpAddr, tcp: &TcpSlice<'a>, missing: u32) -> Segment<'a> {
    Segment {
        src: SocketAddr::new(src, tcp.source_port()),
        dst: SocketAddr::new(dst, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags {
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
            psh: tcp.psh(),
        },
        window: tcp.window_size(),
        payload: tcp.payload(),
        missing,
    }
}

fn malformed(layer: &'static str, e: impl std::fmt::Display) -> PacketError {
    PacketError::Malformed { layer, detail: e.to_string() }
}

fn layer_name(layer: etherparse::err::Layer) -> &'static str {
    use etherparse::err::Layer;
    match layer {
        Layer::TcpHeader => "TCP",
        Layer::Ipv4Header | Layer::Ipv4Packet => "IPv4",
        Layer::Ipv6Header | Layer::Ipv6Packet => "IPv6",
        Layer::Ethernet2Header => "Ethernet",
        Layer::VlanHeader => "VLAN",
        _ => "packet",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn ts() -> Timestamp {
        Timestamp::from_nanos(0)
    }

    fn ipv4_tcp(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 1234, 65535)
            .ack(99)
            .psh();
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        v
    }

    fn decode_tcp(link: LinkType, data: &[u8]) -> (String, String, u32, Vec<u8>, u32) {
        let mut d = PacketDecoder::new(&TcpLimits::default());
        match d.decode(link, data, ts()).unwrap() {
            Decoded::Tcp(s) => {
                (s.src.to_string(), s.dst.to_string(), s.seq, s.payload.to_vec(), s.missing)
            }
            other => panic!("not TCP: {other:?}"),
        }
    }

    #[test]
    fn ethernet_ipv4_tcp_is_decoded_without_copying() {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 1234, 65535);
        let mut v = Vec::new();
        b.write(&mut v, b"hello").unwrap();
        let mut d = PacketDecoder::new(&TcpLimits::default());
        let Ok(Decoded::Tcp(s)) = d.decode(LinkType::ETHERNET, &v, ts()) else { panic!() };
        assert_eq!(s.payload, b"hello");
        assert!(
            std::ptr::eq(s.payload.as_ptr(), v[v.len() - 5..].as_ptr()),
            "payload must borrow the packet"
        );
        assert_eq!((s.src.to_string(), s.seq, s.missing), ("10.0.0.1:40000".into(), 1234, 0));
    }

    #[test]
    fn linux_cooked_v2_carries_its_protocol_in_the_first_two_bytes() {
        let mut pkt = vec![0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
        pkt.extend(ipv4_tcp(b"x"));
        assert_eq!(decode_tcp(LinkType::LINUX_SLL2, &pkt).3, b"x");
    }

    #[test]
    fn bsd_loopback_works_in_either_byte_order() {
        for af in [[2, 0, 0, 0], [0, 0, 0, 2]] {
            let mut pkt = af.to_vec();
            pkt.extend(ipv4_tcp(b"lo"));
            assert_eq!(decode_tcp(LinkType::NULL, &pkt).3, b"lo");
        }
    }

    #[test]
    fn raw_ipv6_is_decoded() {
        let b = PacketBuilder::ipv6([0; 16], [1; 16], 64).tcp(5, 6, 7, 100);
        let mut v = Vec::new();
        b.write(&mut v, b"six").unwrap();
        let (src, _, seq, payload, _) = decode_tcp(LinkType::RAW, &v);
        assert_eq!((src.as_str(), seq, payload.as_slice()), ("[::]:5", 7, &b"six"[..]));
    }

    #[test]
    fn snaplen_cut_payload_reports_the_missing_bytes() {
        let full = ipv4_tcp(&[b'a'; 100]);
        let cut = &full[..full.len() - 60];
        let (_, _, _, payload, missing) = decode_tcp(LinkType::RAW, cut);
        assert_eq!((payload.len(), missing), (40, 60));
    }

    #[test]
    fn udp_and_arp_are_other_not_errors() {
        let b = PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 9).udp(1, 2);
        let mut v = Vec::new();
        b.write(&mut v, b"dns?").unwrap();
        let mut d = PacketDecoder::new(&TcpLimits::default());
        assert!(matches!(d.decode(LinkType::RAW, &v, ts()), Ok(Decoded::Other)));
        let arp = [0xffu8; 6]
            .iter()
            .chain(&[2u8; 6])
            .chain(&[0x08, 0x06])
            .chain(&[0u8; 28])
            .copied()
            .collect::<Vec<_>>();
        assert!(matches!(d.decode(LinkType::ETHERNET, &arp, ts()), Ok(Decoded::Other)));
        assert_eq!(d.stats().other, 2);
    }

    #[test]
    fn garbage_is_an_error_value_never_a_panic() {
        let mut d = PacketDecoder::new(&TcpLimits::default());
        for junk in [&[][..], &[0x45], &[0x45, 0, 0, 10, 0, 0, 0, 0, 64, 6], &[0xff; 13]] {
            let _ = d.decode(LinkType::ETHERNET, junk, ts());
            let _ = d.decode(LinkType::RAW, junk, ts());
            let _ = d.decode(LinkType::LINUX_SLL, junk, ts());
            let _ = d.decode(LinkType::LINUX_SLL2, junk, ts());
        }
        let mut bad_tcp = ipv4_tcp(b"");
        bad_tcp[32] = 0x10; // TCP data offset 1 (4 bytes): invalid
        assert!(matches!(
            d.decode(LinkType::RAW, &bad_tcp, ts()),
            Err(PacketError::Malformed { layer: "TCP", .. })
        ));
    }

    #[test]
    fn unsupported_link_type_is_named() {
        let mut d = PacketDecoder::new(&TcpLimits::default());
        assert_eq!(
            d.decode(LinkType(147), b"x", ts()).unwrap_err(),
            PacketError::UnsupportedLinkType(147)
        );
        assert_eq!(LinkType(127).to_string(), "IEEE802_11_RADIOTAP (127)");
    }
}
