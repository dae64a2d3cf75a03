//! Link-layer dispatch: from a link type and packet bytes to the network layer, by hand for the
//! common link layers ([`network`]) and through etherparse's lax slices for everything
//! ([`slice`], the reference the fast path is tested against).
//!
//! Linux cooked capture v1 is read by hand on both paths: etherparse's header rejects hardware
//! types other than Ethernet, and `tcpdump -i any` on Linux gives loopback (772), tun/none
//! (65534), PPP (512), IP-GRE (778) and others. Its protocol field is an ether type from 0x0600
//! on (for IP-GRE devices the GRE protocol type, the same numbers for IPv4 and IPv6); below that
//! it names a non-Ethernet protocol (802.3, 802.2 LLC, CAN, netlink families…), which is not IP.

use super::{PacketError, Undecoded, tunnel};
use etherparse::{EtherType, LaxSlicedPacket};
use std::fmt;

/// A pcap link type (the `LINKTYPE_*` value of the file header, or libpcap's DLT for live capture).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback, address family in the capturing host's byte order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II, with optional 802.1Q / 802.1ad tags.
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP as written by some platforms' live capture (DLT_RAW is 12 on most, 14 on OpenBSD).
    pub const DLT_RAW_12: LinkType = LinkType(12);
    /// Raw IP (OpenBSD's DLT_RAW).
    pub const DLT_RAW_14: LinkType = LinkType(14);
    /// Raw IPv4 or IPv6.
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback, address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1 (`tcpdump -i any` before libpcap 1.10).
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2 (`tcpdump -i any` with libpcap ≥ 1.10).
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// True for the link types wsscope decodes.
    pub fn is_supported(self) -> bool {
        matches!(self.0, 0 | 1 | 12 | 14 | 101 | 108 | 113 | 228 | 229 | 276)
    }

    /// A readable name (the libpcap `LINKTYPE_` name without the prefix).
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "NULL (BSD loopback)",
            1 => "ETHERNET",
            12 | 14 | 101 => "RAW",
            108 => "LOOP (OpenBSD loopback)",
            113 => "LINUX_SLL",
            228 => "IPV4",
            229 => "IPV6",
            276 => "LINUX_SLL2",
            105 => "IEEE802_11",
            127 => "IEEE802_11_RADIOTAP",
            147..=162 => "USER",
            192 => "PPI",
            220 => "USB_LINUX_MMAPPED",
            249 => "NETLINK",
            _ => "unknown",
        }
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// Length of the Linux cooked capture v1 header: packet type, ARPHRD type, address length,
/// 8 address bytes, protocol.
const SLL_LEN: usize = 16;
/// Where the protocol field of a Linux cooked v1 header is.
const SLL_PROTOCOL: usize = 14;
/// The smallest ether type (`ETH_P_802_3_MIN`); smaller protocol values in Linux cooked headers
/// are not ether types.
const ETHER_TYPE_MIN: u16 = 0x0600;
/// Length of the Linux cooked capture v2 header.
const SLL2_LEN: usize = 20;
/// Length of the BSD loopback header.
const NULL_LEN: usize = 4;

/// Where a packet's network layer is, found without etherparse's whole-packet slice.
pub(super) enum Network<'a> {
    /// An IP packet (version 4 or 6 by its first nibble, or by its ether type) starts here.
    Ip(&'a [u8]),
    /// A tunnel ether type (MPLS, PPPoE) and its payload.
    Tunnel(u16, &'a [u8]),
    /// Not an IP packet.
    NotIp,
    /// Anything else (VLAN stacks, MACsec, ARP, short headers, unsupported link types): left to
    /// [`slice`].
    Other,
}

/// Finds the IP packet (or a tunnel ether type) in the common link layers: Ethernet II with at
/// most one VLAN tag, Linux cooked capture, BSD loopback and raw IP. Gives what [`slice`] would,
/// without the cost.
#[inline]
pub(super) fn network(link: LinkType, data: &[u8]) -> Network<'_> {
    use etherparse::ether_type::{
        IPV4, IPV6, PROVIDER_BRIDGING, VLAN_DOUBLE_TAGGED_FRAME, VLAN_TAGGED_FRAME,
    };
    let ip = |ether_type: EtherType, rest| match ether_type {
        IPV4 | IPV6 => Network::Ip(rest),
        EtherType(t) if tunnel::is_tunnel_ether_type(t) => Network::Tunnel(t, rest),
        _ => Network::Other,
    };
    let ether_type_at =
        |at: usize| data.get(at..at + 2).map(|b| EtherType(u16::from_be_bytes([b[0], b[1]])));
    match link {
        LinkType::ETHERNET => match (ether_type_at(12), data.get(14..)) {
            (Some(VLAN_TAGGED_FRAME | PROVIDER_BRIDGING | VLAN_DOUBLE_TAGGED_FRAME), _) => {
                match (ether_type_at(16), data.get(18..)) {
                    (Some(inner), Some(rest)) => ip(inner, rest),
                    _ => Network::Other,
                }
            }
            (Some(outer), Some(rest)) => ip(outer, rest),
            _ => Network::Other,
        },
        LinkType::LINUX_SLL => match (ether_type_at(SLL_PROTOCOL), data.get(SLL_LEN..)) {
            (Some(et), Some(rest)) if et.0 >= ETHER_TYPE_MIN => ip(et, rest),
            (Some(_), Some(_)) => Network::NotIp,
            _ => Network::Other,
        },
        LinkType::LINUX_SLL2 => match (ether_type_at(0), data.get(SLL2_LEN..)) {
            (Some(et), Some(rest)) => ip(et, rest),
            _ => Network::Other,
        },
        LinkType::NULL | LinkType::LOOP => match data.get(NULL_LEN..) {
            Some(rest) => by_version(rest),
            None => Network::Other,
        },
        LinkType::RAW
        | LinkType::DLT_RAW_12
        | LinkType::DLT_RAW_14
        | LinkType::IPV4
        | LinkType::IPV6 => by_version(data),
        _ => Network::Other,
    }
}

fn by_version(data: &[u8]) -> Network<'_> {
    match data.first().map(|b| b >> 4) {
        Some(4 | 6) => Network::Ip(data),
        _ => Network::NotIp,
    }
}

/// A packet sliced by etherparse, or what the link layer alone says.
// Returned by value and matched at once, as etherparse's slice was before; boxing it would cost an
// allocation per packet on this path.
#[allow(clippy::large_enum_variant)]
pub(super) enum Sliced<'a> {
    /// Sliced as far as etherparse goes.
    Packet(LaxSlicedPacket<'a>),
    /// A tunnel ether type (MPLS, PPPoE) and its payload, which etherparse does not slice.
    Tunnel(u16, &'a [u8]),
    /// Not an IP packet.
    NotIp,
}

/// Slices a packet down to its transport layer.
pub(super) fn slice(link: LinkType, data: &[u8]) -> Result<Sliced<'_>, PacketError> {
    let by_ether_type = |ether_type: u16, rest| {
        if tunnel::is_tunnel_ether_type(ether_type) {
            Sliced::Tunnel(ether_type, rest)
        } else {
            Sliced::Packet(LaxSlicedPacket::from_ether_type(EtherType(ether_type), rest))
        }
    };
    let short = |layer, len| PacketError::Malformed {
        layer,
        reason: Undecoded::LinkTruncated,
        detail: format!("shorter than {len} bytes"),
    };
    let sliced = match link {
        LinkType::ETHERNET => {
            LaxSlicedPacket::from_ethernet(data).map_err(|e| PacketError::Malformed {
                layer: "Ethernet",
                reason: Undecoded::LinkTruncated,
                detail: e.to_string(),
            })?
        }
        LinkType::LINUX_SLL => {
            let (Some(header), Some(rest)) = (data.get(..SLL_LEN), data.get(SLL_LEN..)) else {
                return Err(short("Linux SLL", SLL_LEN));
            };
            let protocol = u16::from_be_bytes([header[SLL_PROTOCOL], header[SLL_PROTOCOL + 1]]);
            if protocol < ETHER_TYPE_MIN {
                return Ok(Sliced::NotIp);
            }
            return Ok(by_ether_type(protocol, rest));
        }
        LinkType::LINUX_SLL2 => {
            // Linux cooked v2: protocol type (BE u16), reserved, ifindex, ARPHRD, packet type, addr len, addr[8].
            let (Some(proto), Some(rest)) = (data.get(..2), data.get(SLL2_LEN..)) else {
                return Err(short("Linux SLL2", SLL2_LEN));
            };
            return Ok(by_ether_type(u16::from_be_bytes([proto[0], proto[1]]), rest));
        }
        LinkType::NULL | LinkType::LOOP => {
            // The address family's byte order depends on the capturing host; the IP version nibble
            // does not, so dispatch on that.
            let Some(rest) = data.get(NULL_LEN..) else {
                return Err(short("loopback", NULL_LEN));
            };
            return from_ip(rest);
        }
        LinkType::RAW
        | LinkType::DLT_RAW_12
        | LinkType::DLT_RAW_14
        | LinkType::IPV4
        | LinkType::IPV6 => {
            return from_ip(data);
        }
        other => return Err(PacketError::UnsupportedLinkType(other.0)),
    };
    Ok(Sliced::Packet(sliced))
}

fn from_ip(data: &[u8]) -> Result<Sliced<'_>, PacketError> {
    use etherparse::err::ip::LaxHeaderSliceError;
    match data.first().map(|b| b >> 4) {
        Some(4 | 6) => LaxSlicedPacket::from_ip(data).map(Sliced::Packet).map_err(|e| {
            let reason = match e {
                LaxHeaderSliceError::Len(_) => Undecoded::IpTruncated,
                LaxHeaderSliceError::Content(_) => Undecoded::IpInvalid,
            };
            PacketError::Malformed { layer: "IP", reason, detail: e.to_string() }
        }),
        _ => Ok(Sliced::NotIp),
    }
}
