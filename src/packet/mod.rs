//! One captured packet → one TCP segment view, zero-copy.
//!
//! Link layers: Ethernet II (with 802.1Q / QinQ tags), Linux cooked capture v1 (any hardware
//! type) and v2, BSD loopback (NULL and LOOP), raw IPv4/IPv6. Network: IPv4 (fragments
//! reassembled, see [`defrag`]) and IPv6 with extension headers. Tunnels ([`tunnel`]): VXLAN,
//! Geneve, GTP-U, GRE, ERSPAN I/II/III, MPLS, PPPoE, IP-in-IP and 6in4, nested up to
//! [`TcpLimits::max_tunnel_depth`]; the inner packet becomes the segment and the outer headers
//! are dropped. Headers are parsed by `etherparse` in its lax mode, so a packet cut by the
//! snapshot length still yields the captured part of its payload and the number of payload bytes
//! that are missing.
//!
//! IPv4 fragments of TCP, UDP, GRE and IP-in-IP datagrams are reassembled before anything else
//! (overlapping fragments are handled as Linux handles them, see [`defrag`]: a datagram whose
//! fragments overlap is dropped and the fragment counted as `fragment_overlap`),
//! so a tunnel packet the underlay split is reassembled, then decapsulated; inner and outer
//! fragments share one defragmenter and its limits (and one reassembly buffer per IP layer).
//! IPv6 fragments are not reassembled (counted as `ipv6_fragments`), outer ones included.
//!
//! Decoding never panics; a packet that cannot be decoded is an error value that the caller
//! counts with its reason ([`Undecoded`]), and the capture goes on.
//!
//! Two paths give the same results: [`PacketDecoder::decode`] finds the IP header of the common
//! link layers by hand, reads the common IP packet carrying TCP by hand too (`plain.rs`), and
//! slices only the IP and TCP headers of the others; [`PacketDecoder::decode_reference`]
//! has etherparse slice the whole packet. Both share the tunnel and IP code, and recurse into
//! inner packets through their own link-layer code. Tunnels cost nothing on plain packets: they
//! are looked for only after IP protocol UDP, GRE, 4 or 41, or ether type MPLS or PPPoE.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod defrag;
mod link;
mod plain;
pub mod tunnel;

pub use link::LinkType;
pub use tunnel::{Tunnel, TunnelStats};

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
    /// The window scale option's shift count, on a SYN that carries one (RFC 7323).
    pub wscale: Option<u8>,
    /// Captured payload bytes.
    pub payload: &'a [u8],
    /// Payload bytes that were on the wire after `payload` but not captured (snaplen).
    pub missing: u32,
    /// Where `payload`'s first byte is in the input file, when the file can be read there again
    /// (set by the reader, see [`crate::capture::PacketSource::reread`]; `None` from the
    /// decoder).
    pub file_offset: Option<u64>,
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

/// Why a packet was not decoded: a fixed set, so that the counters stay bounded whatever the
/// capture holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Undecoded {
    /// A link type wsscope does not decode (an interface of a pcapng file).
    UnsupportedLinkType,
    /// A link-layer header (Ethernet, VLAN, Linux cooked, loopback) cut short.
    LinkTruncated,
    /// A link-layer header with impossible contents (MACsec).
    LinkInvalid,
    /// An IP header or IP extension header cut short.
    IpTruncated,
    /// An IP header with impossible contents (version, header length, total length).
    IpInvalid,
    /// A TCP header cut short.
    TcpTruncated,
    /// A TCP header with impossible contents (data offset).
    TcpInvalid,
    /// A tunnel header (GRE, ERSPAN, MPLS, PPPoE) cut short.
    TunnelTruncated,
    /// Tunnels nested deeper than `--max-tunnel-depth`.
    TunnelTooDeep,
    /// An IPv4 fragment overlapping held fragments other than as a duplicate: its datagram was
    /// dropped, as Linux drops it ([`defrag`]).
    FragmentOverlap,
    /// An IPv4 fragment contradicting its datagram's length (a second end, bytes past the end,
    /// empty, past 64 KiB): its datagram was dropped, as Linux drops it.
    FragmentLengthConflict,
    /// An IPv4 fragment repeating held bytes with other contents: ignored, the first copy kept,
    /// as Linux keeps it.
    FragmentDuplicateDiffers,
}

impl Undecoded {
    /// What the reason means, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Undecoded::UnsupportedLinkType => "unsupported link type",
            Undecoded::LinkTruncated => "link-layer header cut short",
            Undecoded::LinkInvalid => "invalid link-layer header",
            Undecoded::IpTruncated => "IP header cut short",
            Undecoded::IpInvalid => "invalid IP header",
            Undecoded::TcpTruncated => "TCP header cut short",
            Undecoded::TcpInvalid => "invalid TCP header",
            Undecoded::TunnelTruncated => "tunnel header cut short",
            Undecoded::TunnelTooDeep => "tunnels nested deeper than --max-tunnel-depth",
            Undecoded::FragmentOverlap => {
                "IPv4 fragment overlapping another (its datagram dropped, as Linux drops it)"
            }
            Undecoded::FragmentLengthConflict => {
                "IPv4 fragment contradicting its datagram's length (its datagram dropped, as Linux \
                 drops it)"
            }
            Undecoded::FragmentDuplicateDiffers => {
                "IPv4 fragment repeating received bytes with other contents (ignored: the first \
                 copy kept, as Linux keeps it)"
            }
        }
    }
}

/// Packets not decoded, per reason ([`Undecoded`]); they add up to
/// [`PacketStats::malformed`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct UndecodedStats {
    /// Link type wsscope does not decode (an interface of a pcapng file).
    pub unsupported_link_type: u64,
    /// Link-layer header (Ethernet, VLAN, Linux cooked, loopback) cut short.
    pub link_truncated: u64,
    /// Link-layer header with impossible contents (MACsec).
    pub link_invalid: u64,
    /// IP header or IP extension header cut short.
    pub ip_truncated: u64,
    /// IP header with impossible contents.
    pub ip_invalid: u64,
    /// TCP header cut short.
    pub tcp_truncated: u64,
    /// TCP header with impossible contents.
    pub tcp_invalid: u64,
    /// Tunnel header (GRE, ERSPAN, MPLS, PPPoE) cut short.
    pub tunnel_truncated: u64,
    /// Tunnels nested deeper than `--max-tunnel-depth`.
    pub tunnel_too_deep: u64,
    /// IPv4 fragment overlapping another other than as a duplicate: its datagram dropped (as
    /// Linux drops it).
    pub fragment_overlap: u64,
    /// IPv4 fragment contradicting its datagram's length: its datagram dropped (as Linux drops
    /// it).
    pub fragment_length_conflict: u64,
    /// IPv4 fragment repeating received bytes with other contents: ignored, the first copy kept
    /// (as Linux keeps it).
    pub fragment_duplicate_differs: u64,
}

impl UndecodedStats {
    /// Counts one packet not decoded for `reason`.
    pub fn count(&mut self, reason: Undecoded) {
        let c = match reason {
            Undecoded::UnsupportedLinkType => &mut self.unsupported_link_type,
            Undecoded::LinkTruncated => &mut self.link_truncated,
            Undecoded::LinkInvalid => &mut self.link_invalid,
            Undecoded::IpTruncated => &mut self.ip_truncated,
            Undecoded::IpInvalid => &mut self.ip_invalid,
            Undecoded::TcpTruncated => &mut self.tcp_truncated,
            Undecoded::TcpInvalid => &mut self.tcp_invalid,
            Undecoded::TunnelTruncated => &mut self.tunnel_truncated,
            Undecoded::TunnelTooDeep => &mut self.tunnel_too_deep,
            Undecoded::FragmentOverlap => &mut self.fragment_overlap,
            Undecoded::FragmentLengthConflict => &mut self.fragment_length_conflict,
            Undecoded::FragmentDuplicateDiffers => &mut self.fragment_duplicate_differs,
        };
        *c += 1;
    }

    /// Every reason with its count, in a fixed order.
    pub fn by_reason(&self) -> [(Undecoded, u64); 12] {
        [
            (Undecoded::UnsupportedLinkType, self.unsupported_link_type),
            (Undecoded::LinkTruncated, self.link_truncated),
            (Undecoded::LinkInvalid, self.link_invalid),
            (Undecoded::IpTruncated, self.ip_truncated),
            (Undecoded::IpInvalid, self.ip_invalid),
            (Undecoded::TcpTruncated, self.tcp_truncated),
            (Undecoded::TcpInvalid, self.tcp_invalid),
            (Undecoded::TunnelTruncated, self.tunnel_truncated),
            (Undecoded::TunnelTooDeep, self.tunnel_too_deep),
            (Undecoded::FragmentOverlap, self.fragment_overlap),
            (Undecoded::FragmentLengthConflict, self.fragment_length_conflict),
            (Undecoded::FragmentDuplicateDiffers, self.fragment_duplicate_differs),
        ]
    }

    /// "2 IP header cut short, 1 invalid TCP header" (reasons with a count only), or "" when
    /// there are none.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .by_reason()
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| format!("{n} {}", r.describe()))
            .collect();
        parts.join(", ")
    }
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
        /// The reason counted.
        reason: Undecoded,
        /// What etherparse (or the tunnel parser) said.
        detail: String,
    },
    /// Tunnels are nested deeper than the limit.
    #[error("tunnels nested deeper than {0} (--max-tunnel-depth)")]
    TunnelTooDeep(usize),
    /// An IPv4 fragment that overlaps or contradicts its datagram's other fragments.
    #[error("{}", .0.describe())]
    Fragment(Undecoded),
}

impl PacketError {
    /// The reason the packet is counted under.
    pub fn reason(&self) -> Undecoded {
        match self {
            PacketError::UnsupportedLinkType(_) => Undecoded::UnsupportedLinkType,
            PacketError::Malformed { reason, .. } => *reason,
            PacketError::TunnelTooDeep(_) => Undecoded::TunnelTooDeep,
            PacketError::Fragment(reason) => *reason,
        }
    }
}

impl From<tunnel::Truncated> for PacketError {
    fn from(t: tunnel::Truncated) -> Self {
        PacketError::Malformed {
            layer: t.layer,
            reason: Undecoded::TunnelTruncated,
            detail: t.to_string(),
        }
    }
}

/// Counters of what the decoder saw.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
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
    /// Why packets could not be decoded (the counts add up to `malformed`).
    pub undecoded: UndecodedStats,
    /// Packets whose inner packet was decoded, per tunnel (a packet inside two tunnels counts
    /// in both).
    pub decapsulated: TunnelStats,
    /// TCP segments whose payload was cut by the snapshot length.
    pub snaplen_truncated: u64,
    /// The captured length of the longest packet whose TCP payload was cut: the capture's
    /// snapshot length, as far as its packets show (0 when none was cut).
    pub snaplen: u32,
    /// IPv4 fragments seen.
    pub ipv4_fragments: u64,
    /// Datagrams reassembled from fragments.
    pub reassembled_datagrams: u64,
    /// Fragmented datagrams dropped (timeout, limit, overlapping or contradicting fragments).
    pub dropped_datagrams: u64,
    /// Fragmented datagrams still missing fragments (at the end of the capture: never completed).
    pub incomplete_datagrams: u64,
    /// IPv6 fragments (not reassembled; counted and skipped).
    pub ipv6_fragments: u64,
}

/// Decodes packets into TCP segments, reassembling IPv4 fragments and taking tunnel headers off.
#[derive(Debug)]
pub struct PacketDecoder {
    defrag: defrag::Defragmenter,
    /// One reassembly buffer per IP layer a packet can have (`max_tunnel_depth + 1`): an outer
    /// datagram reassembled from fragments may carry inner fragments that complete another.
    reassembled: Vec<Vec<u8>>,
    max_tunnel_depth: usize,
    stats: PacketStats,
}

impl PacketDecoder {
    /// A decoder with the fragment and tunnel limits from `limits`.
    pub fn new(limits: &TcpLimits) -> Self {
        PacketDecoder {
            defrag: defrag::Defragmenter::new(
                limits.max_fragmented_datagrams,
                limits.fragment_timeout,
            ),
            reassembled: vec![Vec::new(); limits.max_tunnel_depth + 1],
            max_tunnel_depth: limits.max_tunnel_depth,
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
        self.decode_with(Path::Fast, link, data, ts)
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
        self.decode_with(Path::Reference, link, data, ts)
    }

    /// Decodes along `path` and counts the outcome.
    #[inline(always)]
    fn decode_with<'a>(
        &'a mut self,
        path: Path,
        link: LinkType,
        data: &'a [u8],
        ts: Timestamp,
    ) -> Result<Decoded<'a>, PacketError> {
        let stats = &mut self.stats;
        stats.packets += 1;
        let mut walk = Walk {
            defrag: &mut self.defrag,
            stats,
            ts,
            path,
            depth: 0,
            max_depth: self.max_tunnel_depth,
        };
        let result = walk.link(&mut self.reassembled, link, data);
        let stats = &mut self.stats;
        match &result {
            Ok(Decoded::Tcp(seg)) => {
                stats.tcp_segments += 1;
                if seg.missing > 0 {
                    stats.snaplen_truncated += 1;
                    stats.snaplen =
                        stats.snaplen.max(u32::try_from(data.len()).unwrap_or(u32::MAX));
                }
            }
            Ok(Decoded::Other) => stats.other += 1,
            Ok(Decoded::FragmentHeld) => {}
            Err(e) => {
                stats.malformed += 1;
                stats.undecoded.count(e.reason());
            }
        }
        result
    }
}

/// Which link-layer code decodes a packet (and the packets inside it).
#[derive(Clone, Copy, Debug)]
enum Path {
    /// [`link::network`], falling back to [`decode_sliced`].
    Fast,
    /// [`decode_sliced`] only.
    Reference,
}

/// One packet's way through its layers: what every layer needs besides the bytes.
struct Walk<'s> {
    defrag: &'s mut defrag::Defragmenter,
    stats: &'s mut PacketStats,
    ts: Timestamp,
    path: Path,
    /// Tunnel headers taken off so far.
    depth: usize,
    max_depth: usize,
}

/// An error that ended decoding inside a layer, before it becomes a [`PacketError`].
#[derive(Clone, Debug)]
struct Stop {
    detail: String,
    layer: Layer,
    truncated: bool,
}

impl Stop {
    fn from_slice_error(e: &SliceError, layer: Layer) -> Stop {
        Stop { detail: e.to_string(), layer, truncated: matches!(e, SliceError::Len(_)) }
    }

    fn into_error(self) -> PacketError {
        let (layer, truncated, invalid) = match self.layer {
            Layer::TcpHeader => ("TCP", Undecoded::TcpTruncated, Undecoded::TcpInvalid),
            Layer::IpHeader | Layer::IpAuthHeader => {
                ("IP", Undecoded::IpTruncated, Undecoded::IpInvalid)
            }
            Layer::Ipv4Header | Layer::Ipv4Packet => {
                ("IPv4", Undecoded::IpTruncated, Undecoded::IpInvalid)
            }
            Layer::Ipv6Header
            | Layer::Ipv6Packet
            | Layer::Ipv6ExtHeader
            | Layer::Ipv6HopByHopHeader
            | Layer::Ipv6DestOptionsHeader
            | Layer::Ipv6RouteHeader
            | Layer::Ipv6FragHeader => ("IPv6", Undecoded::IpTruncated, Undecoded::IpInvalid),
            Layer::Ethernet2Header => {
                ("Ethernet", Undecoded::LinkTruncated, Undecoded::LinkInvalid)
            }
            Layer::VlanHeader => ("VLAN", Undecoded::LinkTruncated, Undecoded::LinkInvalid),
            Layer::MacsecHeader | Layer::MacsecPacket => {
                ("MACsec", Undecoded::LinkTruncated, Undecoded::LinkInvalid)
            }
            _ => ("link", Undecoded::LinkTruncated, Undecoded::LinkInvalid),
        };
        let reason = if self.truncated { truncated } else { invalid };
        PacketError::Malformed { layer, reason, detail: self.detail }
    }
}

/// True for the layers whose errors make a packet malformed when slicing stopped before any IP
/// header: link-layer headers and the IP header itself. An error in another protocol (ARP) leaves
/// the packet "other".
fn stops_ip(layer: Layer) -> bool {
    matches!(
        layer,
        Layer::Ethernet2Header
            | Layer::VlanHeader
            | Layer::MacsecHeader
            | Layer::MacsecPacket
            | Layer::LinuxSllHeader
            | Layer::EtherPayload
            | Layer::IpHeader
            | Layer::Ipv4Header
            | Layer::Ipv4Packet
            | Layer::Ipv6Header
            | Layer::Ipv6Packet
    )
}

impl Walk<'_> {
    /// Decodes a packet that starts with link layer `link`, along this walk's path.
    fn link<'a>(
        &mut self,
        bufs: &'a mut [Vec<u8>],
        link: LinkType,
        data: &'a [u8],
    ) -> Result<Decoded<'a>, PacketError> {
        match self.path {
            Path::Fast => match link::network(link, data) {
                link::Network::Ip(ip) => self.ip(bufs, ip),
                link::Network::Tunnel(ether_type, rest) => {
                    self.ether_tunnel(bufs, ether_type, rest)
                }
                link::Network::NotIp => Ok(Decoded::Other),
                link::Network::Other => self.sliced(bufs, link, data),
            },
            Path::Reference => self.sliced(bufs, link, data),
        }
    }

    /// The common case: an IP packet found by [`link::network`] without building etherparse's
    /// whole-packet slice (a few hundred bytes moved per packet).
    fn ip<'a>(
        &mut self,
        bufs: &'a mut [Vec<u8>],
        data: &'a [u8],
    ) -> Result<Decoded<'a>, PacketError> {
        if let Some(seg) = plain::tcp(data) {
            return Ok(Decoded::Tcp(seg));
        }
        let (ip, exts_err) = LaxIpSlice::from_slice(data).map_err(|e| {
            let e = match e {
                etherparse::err::ip::LaxHeaderSliceError::Len(l) => SliceError::Len(l),
                etherparse::err::ip::LaxHeaderSliceError::Content(c) => SliceError::Ip(c),
            };
            Stop::from_slice_error(&e, Layer::IpHeader).into_error()
        })?;
        let net = match &ip {
            LaxIpSlice::Ipv4(v4) => Net::V4(v4),
            LaxIpSlice::Ipv6(v6) => Net::V6(v6),
        };
        let stop = exts_err.map(|(e, layer)| Stop {
            detail: e.to_string(),
            layer,
            truncated: matches!(e, etherparse::err::ipv6_exts::HeaderSliceError::Len(_)),
        });
        self.net(bufs, net, stop, |payload| {
            TcpSlice::from_slice(payload.payload).map_err(|e| Stop {
                detail: e.to_string(),
                layer: Layer::TcpHeader,
                truncated: matches!(e, etherparse::err::tcp::HeaderSliceError::Len(_)),
            })
        })
    }

    /// Every other packet, through etherparse's whole-packet slicing (VLAN tags, MACsec, ARP, …).
    #[cold]
    #[inline(never)]
    fn sliced<'a>(
        &mut self,
        bufs: &'a mut [Vec<u8>],
        link: LinkType,
        data: &'a [u8],
    ) -> Result<Decoded<'a>, PacketError> {
        let sliced = match link::slice(link, data)? {
            link::Sliced::Packet(p) => p,
            link::Sliced::Tunnel(ether_type, rest) => {
                return self.ether_tunnel(bufs, ether_type, rest);
            }
            link::Sliced::NotIp => return Ok(Decoded::Other),
        };
        let stop = sliced.stop_err.as_ref().map(|(e, layer)| Stop::from_slice_error(e, *layer));
        let net = match &sliced.net {
            Some(LaxNetSlice::Ipv4(ip)) => Net::V4(ip),
            Some(LaxNetSlice::Ipv6(ip)) => Net::V6(ip),
            _ => {
                return match stop {
                    Some(stop) if stops_ip(stop.layer) => Err(stop.into_error()),
                    Some(_) => Ok(Decoded::Other),
                    // No network layer: a tunnel ether type after the link headers?
                    None => match sliced.ether_payload() {
                        Some(p) if tunnel::is_tunnel_ether_type(p.ether_type.0) => {
                            self.ether_tunnel(bufs, p.ether_type.0, p.payload)
                        }
                        _ => Ok(Decoded::Other),
                    },
                };
            }
        };
        let transport = match sliced.transport {
            Some(TransportSlice::Tcp(tcp)) => Some(tcp),
            _ => None,
        };
        // With a transport header there is no stop error; without one, the stop error (if any) is
        // the reason.
        self.net(bufs, net, stop.clone(), |_| match (transport, stop) {
            (Some(tcp), _) => Ok(tcp),
            (None, Some(stop)) => Err(stop),
            (None, None) => Err(Stop {
                detail: "no TCP header".to_string(),
                layer: Layer::TcpHeader,
                truncated: true,
            }),
        })
    }

    /// From the IP layer on: IPv4 fragments go to the defragmenter, IPv6 fragments and protocols
    /// wsscope does not decode are "other", tunnels (UDP ports, GRE, IP-in-IP) are taken off, and
    /// `tcp` slices the TCP header of the payload. `stop` is an error that ended slicing inside the
    /// IP extension headers; the TCP header is then not looked for.
    fn net<'a>(
        &mut self,
        bufs: &'a mut [Vec<u8>],
        net: Net<'_, 'a>,
        stop: Option<Stop>,
        tcp: impl FnOnce(&LaxIpPayloadSlice<'a>) -> Result<TcpSlice<'a>, Stop>,
    ) -> Result<Decoded<'a>, PacketError> {
        // Each IP layer of a packet has its own reassembly buffer; deeper layers use the rest.
        let Some((buf, deeper)) = bufs.split_first_mut() else {
            return Err(PacketError::TunnelTooDeep(self.max_depth));
        };
        let (src_ip, dst_ip, payload, declared) = match net {
            Net::V4(ip) => {
                let h = ip.header();
                let exts = ip.extensions().auth.map_or(0, |a| a.slice().len());
                let declared = usize::from(h.total_len())
                    .saturating_sub(usize::from(h.ihl()) * 4)
                    .saturating_sub(exts);
                if ip.payload().fragmented {
                    self.stats.ipv4_fragments += 1;
                    let protocol = ip.payload().ip_number;
                    if !reassembled(protocol) {
                        return Ok(Decoded::Other);
                    }
                    let key = defrag::FragKey::new(
                        h.source_addr(),
                        h.destination_addr(),
                        h.identification(),
                        protocol,
                    );
                    let frag = defrag::Fragment {
                        offset: h.fragments_offset(),
                        more: h.more_fragments(),
                        payload: ip.payload().payload,
                    };
                    return match self.defrag.add(key, frag, self.ts) {
                        defrag::Added::Complete(datagram) => {
                            self.stats.reassembled_datagrams += 1;
                            *buf = datagram;
                            let datagram: &'a Vec<u8> = buf;
                            let src = IpAddr::V4(h.source_addr());
                            let dst = IpAddr::V4(h.destination_addr());
                            if protocol == IpNumber::TCP {
                                let tcp = TcpSlice::from_slice(datagram).map_err(|e| {
                                    Stop {
                                        detail: e.to_string(),
                                        layer: Layer::TcpHeader,
                                        truncated: matches!(
                                            e,
                                            etherparse::err::tcp::HeaderSliceError::Len(_)
                                        ),
                                    }
                                    .into_error()
                                })?;
                                return Ok(Decoded::Tcp(segment(src, dst, &tcp, 0)));
                            }
                            self.tunnel(deeper, protocol, datagram)
                        }
                        defrag::Added::Held | defrag::Added::Duplicate => Ok(Decoded::FragmentHeld),
                        defrag::Added::DuplicateDiffers => {
                            Err(PacketError::Fragment(Undecoded::FragmentDuplicateDiffers))
                        }
                        defrag::Added::Overlap => {
                            Err(PacketError::Fragment(Undecoded::FragmentOverlap))
                        }
                        defrag::Added::LengthConflict => {
                            Err(PacketError::Fragment(Undecoded::FragmentLengthConflict))
                        }
                    };
                }
                (
                    IpAddr::V4(h.source_addr()),
                    IpAddr::V4(h.destination_addr()),
                    ip.payload(),
                    declared,
                )
            }
            Net::V6(ip) => {
                let h = ip.header();
                let declared =
                    usize::from(h.payload_length()).saturating_sub(ip.extensions().slice().len());
                if ip.payload().fragmented {
                    self.stats.ipv6_fragments += 1;
                    return Ok(Decoded::Other);
                }
                (
                    IpAddr::V6(h.source_addr()),
                    IpAddr::V6(h.destination_addr()),
                    ip.payload(),
                    declared,
                )
            }
        };
        if payload.ip_number != IpNumber::TCP {
            if stop.is_some() {
                return Ok(Decoded::Other);
            }
            return self.tunnel(deeper, payload.ip_number, payload.payload);
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
            Err(stop) => Err(stop.into_error()),
        }
    }

    /// The payload of an IP packet of protocol `protocol` other than TCP: a tunnel, or other.
    fn tunnel<'a>(
        &mut self,
        bufs: &'a mut [Vec<u8>],
        protocol: IpNumber,
        payload: &'a [u8],
    ) -> Result<Decoded<'a>, PacketError> {
        use tunnel::{Decap, Next};
        let decap = match protocol {
            IpNumber::UDP => udp_tunnel(payload),
            IpNumber::GRE => tunnel::gre(payload)?,
            IpNumber::IPV4 => Some(Decap { tunnel: Tunnel::Ipv4InIp, next: Next::Ip(payload) }),
            IpNumber::IPV6 => Some(Decap { tunnel: Tunnel::Ipv6InIp, next: Next::Ip(payload) }),
            _ => None,
        };
        match decap {
            Some(decap) => self.enter(bufs, decap),
            None => Ok(Decoded::Other),
        }
    }

    /// A tunnel ether type (MPLS, PPPoE) and its payload.
    fn ether_tunnel<'a>(
        &mut self,
        bufs: &'a mut [Vec<u8>],
        ether_type: u16,
        payload: &'a [u8],
    ) -> Result<Decoded<'a>, PacketError> {
        match tunnel::ether_type(ether_type, payload)? {
            Some(decap) => self.enter(bufs, decap),
            None => Ok(Decoded::Other),
        }
    }

    /// Takes a tunnel header off: counts it, checks the depth, decodes what it carries.
    fn enter<'a>(
        &mut self,
        bufs: &'a mut [Vec<u8>],
        decap: tunnel::Decap<'a>,
    ) -> Result<Decoded<'a>, PacketError> {
        use tunnel::Next;
        if self.depth >= self.max_depth {
            return Err(PacketError::TunnelTooDeep(self.max_depth));
        }
        self.stats.decapsulated.count(decap.tunnel);
        self.depth += 1;
        let result = match decap.next {
            Next::Ethernet(frame) => self.link(bufs, LinkType::ETHERNET, frame),
            Next::Ip(packet) => self.link(bufs, LinkType::RAW, packet),
            Next::EtherType(tunnel::IPV4 | tunnel::IPV6, packet) => {
                self.link(bufs, LinkType::RAW, packet)
            }
            Next::EtherType(tunnel::TEB, frame) => self.link(bufs, LinkType::ETHERNET, frame),
            Next::EtherType(ether_type, payload) => self.ether_tunnel(bufs, ether_type, payload),
        };
        self.depth -= 1;
        result
    }
}

/// IP protocols whose fragments are reassembled: TCP and the tunnels.
fn reassembled(protocol: IpNumber) -> bool {
    matches!(
        protocol,
        IpNumber::TCP | IpNumber::UDP | IpNumber::GRE | IpNumber::IPV4 | IpNumber::IPV6
    )
}

/// A UDP datagram (header read by hand, so both paths agree): the tunnel of its destination port.
fn udp_tunnel(datagram: &[u8]) -> Option<tunnel::Decap<'_>> {
    const HEADER: usize = 8;
    let header = datagram.get(..HEADER)?;
    let dst_port = u16::from_be_bytes([header[2], header[3]]);
    // The length field bounds the payload (0 means a jumbogram: all of it).
    let len = usize::from(u16::from_be_bytes([header[4], header[5]]));
    let end = if len >= HEADER { len.min(datagram.len()) } else { datagram.len() };
    tunnel::udp(dst_port, datagram.get(HEADER..end)?)
}

/// The network layer of a packet, however it was sliced.
enum Net<'s, 'a> {
    V4(&'s LaxIpv4Slice<'a>),
    V6(&'s LaxIpv6Slice<'a>),
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
        wscale: if tcp.syn() { window_scale(tcp) } else { None },
        payload: tcp.payload(),
        missing,
        file_offset: None,
    }
}

/// The window scale option of a SYN (RFC 7323 §2.3: a shift over 14 is used as 14).
fn window_scale(tcp: &TcpSlice<'_>) -> Option<u8> {
    tcp.options_iterator().find_map(|o| match o {
        Ok(etherparse::TcpOptionElement::WindowScale(s)) => Some(s.min(14)),
        _ => None,
    })
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
            // The layer and reason must agree; the detail text may differ (offsets are counted
            // from the IP header on the fast path) and is never shown.
            Err(PacketError::Malformed { layer, reason, .. }) => {
                format!("malformed {layer} {reason:?}")
            }
            Err(PacketError::TunnelTooDeep(n)) => format!("too deep {n}"),
            Err(PacketError::Fragment(reason)) => format!("fragment {reason:?}"),
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

    /// An IPv4 header (no options, checksum not computed: the decoder does not check it) around
    /// `payload`.
    fn outer_ipv4(protocol: u8, payload: &[u8]) -> Vec<u8> {
        let [t0, t1] = ((20 + payload.len()) as u16).to_be_bytes();
        let mut v = vec![0x45, 0, t0, t1, 0, 9, 0x40, 0, 64, protocol, 0, 0, 192, 0, 2, 1];
        v.extend([192, 0, 2, 2]);
        v.extend(payload);
        v
    }

    fn outer_ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
        let [l0, l1] = (payload.len() as u16).to_be_bytes();
        let mut v = vec![0x60, 0, 0, 0, l0, l1, next, 64];
        v.extend([0x20, 1, 0x0d, 0xb8].iter().chain(&[0u8; 11]).chain(&[1]));
        v.extend([0x20, 1, 0x0d, 0xb8].iter().chain(&[0u8; 11]).chain(&[2]));
        v.extend(payload);
        v
    }

    fn outer_udp(dst_port: u16, payload: &[u8]) -> Vec<u8> {
        let [p0, p1] = dst_port.to_be_bytes();
        let [l0, l1] = ((8 + payload.len()) as u16).to_be_bytes();
        let mut v = vec![0xc0, 0x01, p0, p1, l0, l1, 0, 0];
        v.extend(payload);
        outer_ipv4(17, &v)
    }

    fn ethernet(ether_type: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = [[0x02, 0, 0, 0, 0, 0x0b], [0x02, 0, 0, 0, 0, 0x0a]].concat();
        v.extend(ether_type.to_be_bytes());
        v.extend(payload);
        v
    }

    fn ether_type_of(ip: &[u8]) -> u16 {
        if ip.first().is_some_and(|b| b >> 4 == 6) { 0x86dd } else { 0x0800 }
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// `ip` inside each tunnel wsscope decodes, once nested: (ether type, packet) pairs to frame.
    fn tunnelled(ip: &[u8]) -> Vec<(u16, Vec<u8>)> {
        let frame = ethernet(ether_type_of(ip), ip);
        let gre = |flags: u8, proto: u16, words: usize| {
            let mut v = vec![flags, 0];
            v.extend(proto.to_be_bytes());
            v.extend(std::iter::repeat_n(0x5a, 4 * words));
            v
        };
        let vxlan = [0x08, 0, 0, 0, 0, 0, 0x2a, 0];
        let geneve = [0x01, 0, 0x65, 0x58, 0, 0, 0x2a, 0, 0x01, 0x02, 0x03, 0x04];
        let [gl0, gl1] = ((8 + ip.len()) as u16).to_be_bytes();
        let gtpu = [0x32, 0xff, gl0, gl1, 0, 0, 0, 1, 0, 7, 0, 0];
        let erspan2 = [0x10, 0x05, 0x00, 0x07, 0, 0, 0, 3];
        let erspan3 = [0x20, 0x05, 0x00, 0x07, 1, 2, 3, 4, 0, 0, 0, 1, 9, 9, 9, 9, 9, 9, 9, 9];
        let mpls = [0, 0x10, 0x00, 64, 0, 0x20, 0x01, 64];
        let [pl0, pl1] = ((2 + ip.len()) as u16).to_be_bytes();
        let ppp = if ether_type_of(ip) == 0x86dd { 0x57 } else { 0x21 };
        let pppoe = [0x11, 0, 0, 1, pl0, pl1, 0, ppp];
        let in_ip = if ether_type_of(ip) == 0x86dd { 41 } else { 4 };
        vec![
            (0x0800, outer_udp(4789, &cat(&[&vxlan, &frame]))),
            (0x0800, outer_udp(8472, &cat(&[&vxlan, &frame]))),
            (0x0800, outer_udp(6081, &cat(&[&geneve, &frame]))),
            (0x0800, outer_udp(2152, &cat(&[&gtpu, ip]))),
            (0x0800, outer_ipv4(47, &cat(&[&gre(0x20, ether_type_of(ip), 1), ip]))),
            (0x0800, outer_ipv4(47, &cat(&[&gre(0xb0, 0x6558, 3), &frame]))),
            (0x0800, outer_ipv4(47, &cat(&[&gre(0, 0x88be, 0), &frame]))),
            (0x0800, outer_ipv4(47, &cat(&[&gre(0x10, 0x88be, 1), &erspan2, &frame]))),
            (0x0800, outer_ipv4(47, &cat(&[&gre(0x10, 0x22eb, 1), &erspan3, &frame]))),
            (0x0800, outer_ipv4(in_ip, ip)),
            (0x86dd, outer_ipv6(in_ip, ip)),
            (0x8847, cat(&[&mpls, ip])),
            (0x8864, cat(&[&pppoe, ip])),
            // Nested: MPLS inside Ethernet inside GRE, and VXLAN inside GRE.
            (
                0x0800,
                outer_ipv4(47, &cat(&[&gre(0, 0x6558, 0), &ethernet(0x8847, &cat(&[&mpls, ip]))])),
            ),
            (
                0x0800,
                outer_ipv4(
                    47,
                    &cat(&[&gre(0, 0x0800, 0), &outer_udp(4789, &cat(&[&vxlan, &frame]))]),
                ),
            ),
        ]
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
        let mut packets: Vec<(u16, Vec<u8>)> =
            [ip4.clone(), ip6, udp, frag].into_iter().map(|ip| (ether_type_of(&ip), ip)).collect();
        packets.extend(tunnelled(&ip4));
        let mut out = Vec::new();
        for (et, ip) in packets {
            let et = et.to_be_bytes();
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
                // Loopback and raw IP carry only IP: MPLS and PPPoE have no place there.
                _ if !matches!(et, [0x08, 0x00] | [0x86, 0xdd]) => {}
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

    /// Every value of the bytes [`plain`] decides on (IPv4 header length, fragment bits and
    /// protocol, IPv6 next header, TCP header length and flags: a SYN's window scale option) in
    /// IPv4 and IPv6 packets, some with padding after the IP packet, some cut short.
    #[test]
    fn fast_path_agrees_with_whole_packet_slicing_on_every_value_of_the_fields_it_reads() {
        let mut v4 = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 1234, 65535)
            .options(&[etherparse::TcpOptionElement::WindowScale(7)])
            .unwrap()
            .write(&mut v4, b"hello, world")
            .unwrap();
        let mut v6 = Vec::new();
        PacketBuilder::ipv6([1; 16], [2; 16], 64).tcp(1, 2, 3, 4).write(&mut v6, b"hi").unwrap();
        let mut padded = v4.clone();
        padded.extend([0; 6]);
        let mut cases = Vec::new();
        for (ip, fields) in [
            (&v4, &[0usize, 2, 3, 6, 7, 9, 20 + 12, 20 + 13][..]),
            (&padded, &[3, 20 + 12][..]),
            (&v6, &[4, 5, 6, 40 + 12, 40 + 13][..]),
        ] {
            for &at in fields {
                for byte in 0..=255u8 {
                    let mut p = ip.clone();
                    p[at] = byte;
                    cases.push(p.clone());
                    p.truncate(p.len() - 3);
                    cases.push(p);
                }
            }
        }
        let (fast, slow) = both_ways(LinkType::RAW, &cases);
        assert_eq!(fast, slow);
        assert!(fast.iter().filter(|o| o.starts_with("Tcp")).count() > 1000, "{fast:?}");
    }

    /// IPv4 packets with 0 to 40 bytes of options and IPv6 packets with and without a TCP
    /// option, for the proptest below.
    fn plain_bases() -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for options in [0usize, 4, 8, 40] {
            let mut v = ipv4_tcp(b"hello, world");
            let tcp = v.split_off(20);
            v.extend(std::iter::repeat_n(1u8, options)); // NOPs
            v.extend(tcp);
            v[0] = 0x40 | ((20 + options) / 4) as u8;
            [v[2], v[3]] = (v.len() as u16).to_be_bytes();
            out.push(v);
        }
        for scale in [None, Some(3)] {
            let mut v = Vec::new();
            let b = PacketBuilder::ipv6([1; 16], [2; 16], 64).tcp(1, 2, 3, 4);
            match scale {
                Some(s) => b
                    .options(&[etherparse::TcpOptionElement::WindowScale(s)])
                    .unwrap()
                    .write(&mut v, b"x")
                    .unwrap(),
                None => b.write(&mut v, b"x").unwrap(),
            }
            out.push(v);
        }
        out
    }

    /// Where the IP and TCP headers of [`plain_bases`] hold what the fast path decides on: IP
    /// version and length, IPv4 fragment bits and protocol, IPv6 length and next header, and
    /// the TCP header length and flags after 20, 24, 28 and 60 bytes of IPv4 header or IPv6's 40.
    const FIELDS: [usize; 18] = [0, 2, 3, 4, 5, 6, 7, 9, 32, 33, 36, 37, 40, 41, 52, 53, 72, 73];

    fn any_index() -> proptest::sample::IndexStrategy {
        proptest::prelude::any::<proptest::sample::Index>()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

        /// Several header bytes changed at once (lengths, fragment bits, protocol, TCP offset and
        /// flags, or any byte), cut or padded, as raw IP and behind Ethernet with the right
        /// ether type or either IP one: the same outcome and counters both ways.
        #[test]
        fn fast_path_agrees_with_whole_packet_slicing_on_packets_edited_at_several_fields(
            base in 0usize..6,
            edits in proptest::collection::vec(
                (
                    proptest::prop_oneof![
                        proptest::sample::select(FIELDS.to_vec()),
                        0usize..100,
                    ],
                    proptest::prelude::any::<u8>(),
                ),
                1..5,
            ),
            end in proptest::prop_oneof![
                proptest::strategy::Just(None),
                proptest::strategy::Strategy::prop_map(any_index(), |i| Some((i, false))),
                proptest::strategy::Strategy::prop_map(any_index(), |i| Some((i, true))),
            ],
            ether_type in proptest::sample::select(vec![None, Some(0x0800u16), Some(0x86dd)]),
        ) {
            let mut p = plain_bases()[base].clone();
            for (at, byte) in edits {
                let at = at.min(p.len() - 1);
                p[at] = byte;
            }
            match end {
                Some((i, false)) => p.truncate(i.index(p.len() + 1)),
                Some((i, true)) => p.extend(std::iter::repeat_n(0xee, i.index(30))),
                None => {}
            }
            let (raw_fast, raw_slow) = both_ways(LinkType::RAW, std::slice::from_ref(&p));
            proptest::prop_assert_eq!(raw_fast, raw_slow);
            let v6 = p.first().is_some_and(|b| b >> 4 == 6);
            let et = ether_type.unwrap_or(if v6 { 0x86dd } else { 0x0800 });
            let mut frame = [[2u8; 6], [4u8; 6]].concat();
            frame.extend(et.to_be_bytes());
            frame.extend(&p);
            let (fast, slow) = both_ways(LinkType::ETHERNET, &[frame]);
            proptest::prop_assert_eq!(fast, slow);
        }
    }

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
            which in 0usize..128,
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
                // Linux cooked v1: hardware types Ethernet, netlink, IEEE 802.11 radiotap,
                // loopback, none (tun), PPP, IP-GRE; protocols: the ether type, 802.2 LLC, 802.3,
                // CAN, an unknown one.
                for arphrd in
                    [[0u8, 1], [3, 0x38], [3, 0x23], [3, 4], [0xff, 0xfe], [2, 0], [3, 0x0a]]
                {
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
            // Inside every tunnel, on Ethernet and on Linux cooked v1 (loopback hardware type).
            for (et, packet) in tunnelled(&ip) {
                cases.push((LinkType::ETHERNET, ethernet(et, &packet)));
                let mut v = vec![0u8, 0, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                v.extend(et.to_be_bytes());
                v.extend(&packet);
                cases.push((LinkType::LINUX_SLL, v));
            }
        }
        let mut tcp = 0;
        for (link, packet) in &cases {
            let prefixes: Vec<Vec<u8>> = (0..=packet.len()).map(|n| packet[..n].to_vec()).collect();
            let (fast, slow) = both_ways(*link, &prefixes);
            assert_eq!(fast, slow, "{link}: {packet:02x?}");
            tcp += fast.iter().filter(|o| o.starts_with("Tcp")).count();
        }
        assert!(tcp > 1000, "{tcp} TCP segments decoded");
    }

    #[test]
    fn every_tunnel_gives_the_inner_segment_keyed_by_the_inner_flow() {
        let inner = ipv4_tcp(b"inner");
        let expected = [
            Tunnel::Vxlan,
            Tunnel::Vxlan,
            Tunnel::Geneve,
            Tunnel::GtpU,
            Tunnel::Gre,
            Tunnel::Gre,
            Tunnel::Erspan2,
            Tunnel::Erspan2,
            Tunnel::Erspan3,
            Tunnel::Ipv4InIp,
            Tunnel::Ipv4InIp,
            Tunnel::Mpls,
            Tunnel::Pppoe,
        ];
        let cases = tunnelled(&inner);
        for (i, (et, packet)) in cases.iter().enumerate() {
            let mut d = PacketDecoder::new(&TcpLimits::default());
            let frame = ethernet(*et, packet);
            let Ok(Decoded::Tcp(seg)) = d.decode(LinkType::ETHERNET, &frame, ts()) else {
                panic!("case {i}: not decoded");
            };
            assert_eq!(
                (seg.src.to_string(), seg.dst.to_string(), seg.payload),
                ("10.0.0.1:40000".to_string(), "10.0.0.2:80".to_string(), &b"inner"[..]),
                "case {i}"
            );
            let stats = d.stats();
            if let Some(tunnel) = expected.get(i) {
                let mut want = TunnelStats::default();
                want.count(*tunnel);
                assert_eq!(stats.decapsulated, want, "case {i}");
            } else {
                assert_eq!(stats.decapsulated.total(), 2, "case {i}: nested, counted twice");
            }
        }
        let mut d = PacketDecoder::new(&TcpLimits::default());
        let mut six = Vec::new();
        PacketBuilder::ipv6([1; 16], [2; 16], 64).tcp(1, 2, 3, 4).write(&mut six, b"6in4").unwrap();
        let packet = outer_ipv4(41, &six);
        let Ok(Decoded::Tcp(seg)) = d.decode(LinkType::RAW, &packet, ts()) else {
            panic!("6in4 not decoded");
        };
        assert_eq!(seg.payload, b"6in4");
        assert_eq!(d.stats().decapsulated.ipv6_in_ip, 1);
    }

    #[test]
    fn linux_cooked_v1_is_decoded_by_its_protocol_whatever_the_hardware_type() {
        // Loopback, none (tun), PPP, IP-GRE, Ethernet, and one nobody uses.
        for arphrd in [772u16, 65534, 512, 778, 1, 0x1234] {
            let mut v = vec![0, 0];
            v.extend(arphrd.to_be_bytes());
            v.extend([0, 4, 192, 0, 2, 1, 0, 0, 0, 0, 0x08, 0x00]);
            v.extend(ipv4_tcp(b"sll"));
            assert_eq!(decode_tcp(LinkType::LINUX_SLL, &v).3, b"sll", "ARPHRD {arphrd}");
        }
    }

    #[test]
    fn linux_cooked_protocols_below_0x0600_are_other_not_malformed() {
        let mut d = PacketDecoder::new(&TcpLimits::default());
        for protocol in [0x0004u16, 0x0001, 0x000c] {
            let mut v = vec![0, 0, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            v.extend(protocol.to_be_bytes());
            v.extend(ipv4_tcp(b"llc"));
            assert!(matches!(d.decode(LinkType::LINUX_SLL, &v, ts()), Ok(Decoded::Other)));
        }
        let e = d.decode(LinkType::LINUX_SLL, &[0; 15], ts()).unwrap_err();
        assert_eq!(e.reason(), Undecoded::LinkTruncated);
        assert_eq!((d.stats().other, d.stats().undecoded.link_truncated), (3, 1));
    }

    #[test]
    fn a_udp_datagram_to_a_tunnel_port_that_is_not_the_tunnel_is_other() {
        let mut d = PacketDecoder::new(&TcpLimits::default());
        for port in [4789, 8472, 6081, 2152] {
            let p = outer_udp(port, b"\x00 just some datagram, not a tunnel");
            assert!(matches!(d.decode(LinkType::RAW, &p, ts()), Ok(Decoded::Other)), "{port}");
        }
        assert_eq!(
            (d.stats().other, d.stats().malformed, d.stats().decapsulated.total()),
            (4, 0, 0)
        );
    }

    #[test]
    fn a_cut_tunnel_header_is_malformed_with_its_reason() {
        let mut d = PacketDecoder::new(&TcpLimits::default());
        let gre = outer_ipv4(47, &[0xb0, 0, 0x08, 0x00, 0, 0]);
        let e = d.decode(LinkType::RAW, &gre, ts()).unwrap_err();
        assert!(matches!(e, PacketError::Malformed { layer: "GRE", .. }), "{e:?}");
        let mpls = ethernet(0x8847, &[0, 0x10, 0x00, 64]);
        let e = d.decode(LinkType::ETHERNET, &mpls, ts()).unwrap_err();
        assert!(matches!(e, PacketError::Malformed { layer: "MPLS", .. }), "{e:?}");
        assert_eq!((d.stats().malformed, d.stats().undecoded.tunnel_truncated), (2, 2));
    }

    #[test]
    fn tunnels_nested_deeper_than_the_limit_are_counted_not_decoded() {
        let limits = TcpLimits { max_tunnel_depth: 3, ..TcpLimits::default() };
        let nest = |n: usize| (0..n).fold(ipv4_tcp(b"deep"), |ip, _| outer_ipv4(4, &ip));
        let mut d = PacketDecoder::new(&limits);
        assert!(matches!(d.decode(LinkType::RAW, &nest(3), ts()), Ok(Decoded::Tcp(_))));
        assert_eq!(
            d.decode(LinkType::RAW, &nest(4), ts()).unwrap_err(),
            PacketError::TunnelTooDeep(3)
        );
        let s = d.stats();
        assert_eq!(
            (s.malformed, s.undecoded.tunnel_too_deep, s.decapsulated.ipv4_in_ip),
            (1, 1, 6)
        );
    }

    #[test]
    fn outer_fragments_of_a_tunnel_are_reassembled_then_decapsulated() {
        let inner = ethernet(0x0800, &ipv4_tcp(&[b'v'; 100]));
        let whole = outer_udp(4789, &cat(&[&[0x08, 0, 0, 0, 0, 0, 1, 0], &inner]));
        let payload = &whole[20..];
        let fragment = |offset: usize, end: usize, more: bool| {
            let mut v = outer_ipv4(17, &payload[offset..end]);
            let [f0, f1] = ((offset / 8) as u16 | if more { 0x2000 } else { 0 }).to_be_bytes();
            v[6] = f0;
            v[7] = f1;
            v
        };
        let mut d = PacketDecoder::new(&TcpLimits::default());
        let second = fragment(64, payload.len(), false);
        assert!(matches!(d.decode(LinkType::RAW, &second, ts()), Ok(Decoded::FragmentHeld)));
        let first = fragment(0, 64, true);
        let Ok(Decoded::Tcp(seg)) = d.decode(LinkType::RAW, &first, ts()) else {
            panic!("not reassembled");
        };
        assert_eq!(seg.payload, &[b'v'; 100][..]);
        let s = d.stats();
        assert_eq!((s.ipv4_fragments, s.reassembled_datagrams, s.decapsulated.vxlan), (2, 1, 1));
    }

    /// A TCP segment split into IPv4 fragments with a forged fragment overlapping them: the
    /// datagram is dropped and counted, its bytes never reach the stream engine.
    #[test]
    fn overlapping_fragments_drop_the_datagram_and_are_counted() {
        let whole = ipv4_tcp(&[b'v'; 60]);
        let payload = &whole[20..];
        let fragment = |offset: usize, bytes: &[u8], more: bool| {
            let mut v = whole[..20].to_vec();
            v.extend(bytes);
            let total = (20 + bytes.len()) as u16;
            v[2..4].copy_from_slice(&total.to_be_bytes());
            let [f0, f1] = ((offset / 8) as u16 | if more { 0x2000 } else { 0 }).to_be_bytes();
            v[6] = f0;
            v[7] = f1;
            v
        };
        let mut d = PacketDecoder::new(&TcpLimits::default());
        let first = fragment(0, &payload[..40], true);
        assert!(matches!(d.decode(LinkType::RAW, &first, ts()), Ok(Decoded::FragmentHeld)));
        let forged = fragment(32, &[b'X'; 16], true);
        let e = d.decode(LinkType::RAW, &forged, ts()).unwrap_err();
        assert_eq!(e.reason(), Undecoded::FragmentOverlap);
        let last = fragment(40, &payload[40..], false);
        assert!(matches!(d.decode(LinkType::RAW, &last, ts()), Ok(Decoded::FragmentHeld)));
        let s = d.stats();
        assert_eq!((s.tcp_segments, s.reassembled_datagrams, s.dropped_datagrams), (0, 0, 1));
        assert_eq!((s.malformed, s.undecoded.fragment_overlap), (1, 1));
        assert!(s.undecoded.summary().contains("IPv4 fragment overlapping another"));
    }

    #[test]
    fn undecoded_reasons_add_up_to_malformed() {
        let mut d = PacketDecoder::new(&TcpLimits::default());
        let mut bad_tcp = ipv4_tcp(b"");
        bad_tcp[32] = 0x10;
        let _ = d.decode(LinkType::RAW, &bad_tcp, ts());
        let _ = d.decode(LinkType::RAW, &ipv4_tcp(b"x")[..30], ts());
        let _ = d.decode(LinkType::ETHERNET, &[1, 2, 3], ts());
        let _ = d.decode(LinkType(147), b"x", ts());
        let s = d.stats();
        let u = s.undecoded;
        assert_eq!(
            (u.tcp_invalid, u.tcp_truncated, u.link_truncated, u.unsupported_link_type),
            (1, 1, 1, 1)
        );
        assert_eq!(u.by_reason().iter().map(|(_, n)| n).sum::<u64>(), s.malformed);
        assert_eq!(
            u.summary(),
            "1 unsupported link type, 1 link-layer header cut short, 1 TCP header cut short, 1 invalid TCP header"
        );
    }
}
