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
use etherparse::err::Layer;
use etherparse::err::packet::SliceError;
use etherparse::{
    IpNumber, LaxIpPayloadSlice, LaxIpSlice, LaxIpv4Slice, LaxIpv6Slice, LaxNetSlice, TcpSlice,
    TransportSlice,
};
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
        self.decode_with(decode_inner, link, data, ts)
    }

    /// [`decode`](Self::decode) through etherparse's whole-packet slicing only, never the fast
    /// path: the reference that tests and the `packet_decode` fuzz target compare against.
    #[doc(hidden)]
    pub fn decode_reference<'a>(
        &'a mut self,
        link: LinkType,
        data: &'a [u8],
        ts: Timestamp,
    ) -> Result<Decoded<'a>, PacketError> {
        self.decode_with(decode_sliced, link, data, ts)
    }

    /// Decodes with `decode` and counts the outcome.
    #[inline(always)]
    fn decode_with<'a>(
        &'a mut self,
        decode: DecodeFn,
        link: LinkType,
        data: &'a [u8],
        ts: Timestamp,
    ) -> Result<Decoded<'a>, PacketError> {
        let stats = &mut self.stats;
        stats.packets += 1;
        let result = decode(&mut self.defrag, &mut self.reassembled, stats, link, data, ts);
        match &result {
            Ok(Decoded::Tcp(seg)) => {
                stats.tcp_segments += 1;
                if seg.missing > 0 {
                    stats.snaplen_truncated += 1;
                }
            }
            Ok(Decoded::Other) => stats.other += 1,
            Ok(Decoded::FragmentHeld) => {}
            Err(_) => stats.malformed += 1,
        }
        result
    }
}

/// [`decode_inner`] or [`decode_sliced`].
type DecodeFn = for<'a> fn(
    &mut defrag::Defragmenter,
    &'a mut Vec<u8>,
    &mut PacketStats,
    LinkType,
    &'a [u8],
    Timestamp,
) -> Result<Decoded<'a>, PacketError>;

fn decode_inner<'a>(
    defrag: &mut defrag::Defragmenter,
    reassembled: &'a mut Vec<u8>,
    stats: &mut PacketStats,
    link: LinkType,
    data: &'a [u8],
    ts: Timestamp,
) -> Result<Decoded<'a>, PacketError> {
    match link::network(link, data) {
        link::Network::Ip(ip) => decode_ip(defrag, reassembled, stats, ip, ts),
        link::Network::NotIp => Ok(Decoded::Other),
        link::Network::Other => decode_sliced(defrag, reassembled, stats, link, data, ts),
    }
}

/// The common case: an IP packet found by [`link::network`] without building etherparse's
/// whole-packet slice (a few hundred bytes moved per packet).
fn decode_ip<'a>(
    defrag: &mut defrag::Defragmenter,
    reassembled: &'a mut Vec<u8>,
    stats: &mut PacketStats,
    data: &'a [u8],
    ts: Timestamp,
) -> Result<Decoded<'a>, PacketError> {
    let (ip, exts_err) = LaxIpSlice::from_slice(data).map_err(|e| {
        let e = match e {
            etherparse::err::ip::LaxHeaderSliceError::Len(l) => SliceError::Len(l),
            etherparse::err::ip::LaxHeaderSliceError::Content(c) => SliceError::Ip(c),
        };
        PacketError::Malformed { layer: layer_name(Layer::IpHeader), detail: e.to_string() }
    })?;
    let net = match &ip {
        LaxIpSlice::Ipv4(v4) => Net::V4(v4),
        LaxIpSlice::Ipv6(v6) => Net::V6(v6),
    };
    let exts_err = exts_err.map(|(e, layer)| (e.to_string(), layer));
    decode_net(defrag, reassembled, stats, net, ts, exts_err, |payload| {
        TcpSlice::from_slice(payload.payload).map_err(|e| (e.to_string(), Layer::TcpHeader))
    })
}

/// Every other packet, through etherparse's whole-packet slicing (VLAN tags, MACsec, ARP, …).
#[cold]
#[inline(never)]
fn decode_sliced<'a>(
    defrag: &mut defrag::Defragmenter,
    reassembled: &'a mut Vec<u8>,
    stats: &mut PacketStats,
    link: LinkType,
    data: &'a [u8],
    ts: Timestamp,
) -> Result<Decoded<'a>, PacketError> {
    let Some(sliced) = link::slice(link, data)? else { return Ok(Decoded::Other) };
    let stop = sliced.stop_err.as_ref().map(|(e, layer)| (e.to_string(), *layer));
    let net = match &sliced.net {
        Some(LaxNetSlice::Ipv4(ip)) => Net::V4(ip),
        Some(LaxNetSlice::Ipv6(ip)) => Net::V6(ip),
        _ => {
            return match stop {
                Some((detail, layer)) => {
                    Err(PacketError::Malformed { layer: layer_name(layer), detail })
                }
                None => Ok(Decoded::Other),
            };
        }
    };
    let transport = match sliced.transport {
        Some(TransportSlice::Tcp(tcp)) => Some(tcp),
        _ => None,
    };
    // With a transport header there is no stop error; without one, the stop error (if any) is
    // the reason.
    decode_net(defrag, reassembled, stats, net, ts, stop.clone(), |_| match (transport, stop) {
        (Some(tcp), _) => Ok(tcp),
        (None, Some(stop)) => Err(stop),
        (None, None) => Err(("no TCP header".to_string(), Layer::TcpHeader)),
    })
}

/// The network layer of a packet, however it was sliced.
enum Net<'s, 'a> {
    V4(&'s LaxIpv4Slice<'a>),
    V6(&'s LaxIpv6Slice<'a>),
}

/// From the IP layer to a segment: IPv4 fragments go to the defragmenter, IPv6 fragments and
/// non-TCP packets are "other", and `tcp` slices the TCP header of the payload. `stop` is an error
/// that ended slicing inside the IP extension headers; the TCP header is then not looked for.
fn decode_net<'a>(
    defrag: &mut defrag::Defragmenter,
    reassembled: &'a mut Vec<u8>,
    stats: &mut PacketStats,
    net: Net<'_, 'a>,
    ts: Timestamp,
    stop: Option<(String, Layer)>,
    tcp: impl FnOnce(&LaxIpPayloadSlice<'a>) -> Result<TcpSlice<'a>, (String, Layer)>,
) -> Result<Decoded<'a>, PacketError> {
    let (src_ip, dst_ip, payload, declared) = match net {
        Net::V4(ip) => {
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
        Net::V6(ip) => {
            let h = ip.header();
            let declared =
                usize::from(h.payload_length()).saturating_sub(ip.extensions().slice().len());
            if ip.payload().fragmented {
                stats.ipv6_fragments += 1;
                return Ok(Decoded::Other);
            }
            (IpAddr::V6(h.source_addr()), IpAddr::V6(h.destination_addr()), ip.payload(), declared)
        }
    };
    if payload.ip_number != IpNumber::TCP {
        return Ok(Decoded::Other);
    }
    let tcp = match stop {
        Some(stop) => Err(stop),
        None => tcp(payload),
    };
    match tcp {
        Ok(tcp) => {
            let missing = missing_bytes(payload, declared, &tcp);
            Ok(Decoded::Tcp(segment(src_ip, dst_ip, &tcp, missing)))
        }
        Err((detail, layer)) => Err(PacketError::Malformed { layer: layer_name(layer), detail }),
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

fn layer_name(layer: Layer) -> &'static str {
    match layer {
        Layer::TcpHeader => "TCP",
        Layer::IpHeader => "IP",
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

    /// Decodes `packets` with the fast path and with etherparse's whole-packet slicing only;
    /// returns both outcomes, packet by packet, and both decoders' counters.
    fn both_ways(link: LinkType, packets: &[Vec<u8>]) -> (Vec<String>, Vec<String>) {
        let limits = TcpLimits::default();
        let (mut fast, mut slow) = (PacketDecoder::new(&limits), PacketDecoder::new(&limits));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let outcome = |r: Result<Decoded<'_>, PacketError>| match r {
            Ok(d) => format!("{d:?}"),
            Err(PacketError::UnsupportedLinkType(t)) => format!("unsupported {t}"),
            // The layer must agree; the detail text may differ (offsets are counted from the IP
            // header on the fast path) and is never shown.
            Err(PacketError::Malformed { layer, .. }) => format!("malformed {layer}"),
        };
        for (i, p) in packets.iter().enumerate() {
            let ts = Timestamp::from_nanos(i as i64 * 1_000_000);
            a.push(outcome(fast.decode(link, p, ts)));
            b.push(outcome(slow.decode_reference(link, p, ts)));
        }
        a.push(format!("{:?}", fast.stats()));
        b.push(format!("{:?}", slow.stats()));
        (a, b)
    }

    /// Valid packets of every kind the fast path takes, for each link type.
    fn valid_packets(link: LinkType, payload: &[u8]) -> Vec<Vec<u8>> {
        let ip4 = ipv4_tcp(payload);
        let mut ip6 = Vec::new();
        PacketBuilder::ipv6([1; 16], [2; 16], 64).tcp(1, 2, 3, 4).write(&mut ip6, payload).unwrap();
        let mut udp = Vec::new();
        PacketBuilder::ipv4([1; 4], [2; 4], 9).udp(1, 2).write(&mut udp, payload).unwrap();
        let frag = {
            let mut v = ip4.clone();
            v[6] = 0x20; // more fragments
            v
        };
        let mut out = Vec::new();
        for ip in [ip4, ip6, udp, frag] {
            let version = ip[0] >> 4;
            let et: [u8; 2] = if version == 6 { [0x86, 0xdd] } else { [0x08, 0x00] };
            match link {
                LinkType::ETHERNET => {
                    let mut plain = [[1u8; 6], [2u8; 6]].concat();
                    plain.extend(et);
                    plain.extend(&ip);
                    out.push(plain);
                    for tags in 1..=3 {
                        let mut tagged = [[1u8; 6], [2u8; 6]].concat();
                        for _ in 0..tags {
                            tagged.extend([0x81, 0x00, 0x00, 0x05]);
                        }
                        tagged.extend(et);
                        tagged.extend(&ip);
                        out.push(tagged);
                    }
                }
                LinkType::LINUX_SLL => {
                    let mut v = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
                    v.extend(et);
                    v.extend(&ip);
                    out.push(v);
                }
                LinkType::LINUX_SLL2 => {
                    let mut v = et.to_vec();
                    v.extend([0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0]);
                    v.extend(&ip);
                    out.push(v);
                }
                LinkType::NULL => {
                    let mut v = vec![2, 0, 0, 0];
                    v.extend(&ip);
                    out.push(v);
                }
                _ => out.push(ip),
            }
        }
        out
    }

    const LINKS: [LinkType; 5] = [
        LinkType::ETHERNET,
        LinkType::LINUX_SLL,
        LinkType::LINUX_SLL2,
        LinkType::NULL,
        LinkType::RAW,
    ];

    #[test]
    fn fast_path_agrees_with_whole_packet_slicing_on_valid_packets() {
        for link in LINKS {
            let packets = valid_packets(link, b"hello, world");
            let (fast, slow) = both_ways(link, &packets);
            assert_eq!(fast, slow, "{link}");
            assert!(fast.iter().filter(|o| o.starts_with("Tcp")).count() >= 2, "{link}: {fast:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Valid packets cut anywhere and with bytes overwritten: same outcome and counters.
        #[test]
        fn fast_path_agrees_with_whole_packet_slicing_on_damaged_packets(
            link in 0..LINKS.len(),
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            which in 0usize..16,
            cut in proptest::prelude::any::<proptest::sample::Index>(),
            edits in proptest::collection::vec(
                (proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<u8>()),
                0..4,
            ),
        ) {
            let link = LINKS[link];
            let packets = valid_packets(link, &payload);
            let mut p = packets[which % packets.len()].clone();
            for (at, byte) in edits {
                let at = at.index(p.len());
                p[at] = byte;
            }
            let keep = cut.index(p.len() + 1);
            p.truncate(keep);
            let (fast, slow) = both_ways(link, &[p]);
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    /// Hand-made IP packets the random edits reach only by chance: IPv4 options and AH, IPv4
    /// fragments, IPv6 extension headers (hop-by-hop, routing, fragment, AH), truncated headers.
    fn ip_corpus() -> Vec<Vec<u8>> {
        fn ip4(proto: u8, opts: &[u8], payload: &[u8], frag: u16) -> Vec<u8> {
            let ihl = 5 + opts.len() / 4;
            let total = ihl * 4 + payload.len();
            let [f0, f1] = frag.to_be_bytes();
            let [t0, t1] = (total as u16).to_be_bytes();
            let mut v = vec![0x40 | ihl as u8, 0, t0, t1, 0, 1, f0, f1, 64, proto, 0, 0];
            v.extend([10, 0, 0, 1, 10, 0, 0, 2]);
            v.extend(opts);
            v.extend(payload);
            v
        }
        fn ip6(next: u8, payload: &[u8]) -> Vec<u8> {
            let [l0, l1] = (payload.len() as u16).to_be_bytes();
            let mut v = vec![0x60, 0, 0, 0, l0, l1, next, 64];
            v.extend([1u8; 16]);
            v.extend([2u8; 16]);
            v.extend(payload);
            v
        }
        let mut t = vec![0x9c, 0x40, 0, 80, 0, 0, 4, 0xd2, 0, 0, 0, 99, 0x50, 0x18, 0xff, 0xff];
        t.extend([0, 0, 0, 0]);
        t.extend(b"hello");
        // AH (next header TCP, 24 bytes), hop-by-hop then routing, fragment headers.
        let mut ah = vec![6u8, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd];
        ah.extend([1, 2, 3, 4, 5, 6, 7, 8]);
        ah.extend(&t);
        let mut hbh = vec![43u8, 0, 1, 4, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0];
        hbh.extend(&t);
        let mut first_fragment = vec![6u8, 0, 0, 1, 0, 0, 0, 7];
        first_fragment.extend(&t);
        let mut atomic_fragment = vec![6u8, 0, 0, 0, 0, 0, 0, 7];
        atomic_fragment.extend(&t);
        vec![
            ip4(6, &[], &t, 0),
            ip4(6, &[1, 1, 1, 0], &t, 0),
            ip4(51, &[], &ah, 0),
            ip4(51, &[], &ah[..10], 0),
            ip4(6, &[], &t, 0x2000),
            ip4(6, &[], &t, 0x0001),
            ip4(51, &[], &ah, 0x2000),
            ip4(6, &[], &t[..10], 0),
            ip6(6, &t),
            ip6(0, &hbh),
            ip6(0, &hbh[..12]),
            ip6(44, &first_fragment),
            ip6(44, &atomic_fragment),
            ip6(51, &ah),
            ip6(0, &[0, 0, 0]),
            ip6(6, &t[..19]),
        ]
    }

    #[test]
    fn fast_path_agrees_with_whole_packet_slicing_on_every_prefix_of_a_corpus() {
        let mut cases: Vec<(LinkType, Vec<u8>)> = Vec::new();
        for ip in ip_corpus() {
            // IPv4, IPv6, MACsec and ARP ether types, whatever the packet holds.
            for et in [[8u8, 0], [0x86, 0xdd], [0x88, 0xe5], [0x08, 0x06]] {
                let eth = |tags: &[[u8; 2]]| {
                    let mut v = [[1u8; 6], [2u8; 6]].concat();
                    for t in tags {
                        v.extend(t);
                        v.extend([0, 5]);
                    }
                    v.extend(et);
                    v.extend(&ip);
                    v
                };
                for tags in [&[][..], &[[0x81, 0]], &[[0x88, 0xa8]], &[[0x91, 0]]] {
                    cases.push((LinkType::ETHERNET, eth(tags)));
                }
                cases.push((LinkType::ETHERNET, eth(&[[0x88, 0xa8], [0x81, 0]])));
                cases.push((LinkType::ETHERNET, eth(&[[0x81, 0]; 4])));
                // Linux cooked v1: hardware types Ethernet, netlink, IEEE 802.11 radiotap;
                // protocols: the ether type, 802.2 LLC, 802.3, CAN, an unknown one.
                for arphrd in [[0u8, 1], [3, 0x38], [3, 0x23]] {
                    for proto in [et, [0, 4], [0, 1], [0, 0x0c], [0x05, 0xff]] {
                        let mut v = vec![0u8, 0];
                        v.extend(arphrd);
                        v.extend([0, 6, 1, 2, 3, 4, 5, 6, 0, 0]);
                        v.extend(proto);
                        v.extend(&ip);
                        cases.push((LinkType::LINUX_SLL, v));
                    }
                }
                let mut sll2 = et.to_vec();
                sll2.extend([0u8; 18]);
                sll2.extend(&ip);
                cases.push((LinkType::LINUX_SLL2, sll2));
            }
            for link in [LinkType::NULL, LinkType::LOOP] {
                let mut v = vec![2u8, 0, 0, 0];
                v.extend(&ip);
                cases.push((link, v));
            }
            for link in [LinkType::RAW, LinkType::DLT_RAW_14, LinkType::IPV6, LinkType(147)] {
                cases.push((link, ip.clone()));
            }
        }
        let mut tcp = 0;
        for (link, packet) in &cases {
            let prefixes: Vec<Vec<u8>> = (0..=packet.len()).map(|n| packet[..n].to_vec()).collect();
            let (fast, slow) = both_ways(*link, &prefixes);
            assert_eq!(fast, slow, "{link}: {packet:02x?}");
            tcp += fast.iter().filter(|o| o.starts_with("Tcp")).count();
        }
        assert!(tcp > 500, "{tcp} TCP segments decoded");
    }
}
