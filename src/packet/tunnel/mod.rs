//! Tunnel headers that traffic mirrors and overlays put around the packets wsscope analyses:
//! VXLAN, Geneve and GTP-U (UDP), GRE with ERSPAN types I, II and III, MPLS and PPPoE (ether
//! types), IP-in-IP and 6in4 (IP protocols 4 and 41, handled by the caller).
//!
//! Each parser checks the header's length once and then reads it without panicking. It says
//! what follows the header ([`Next`]) and which tunnel it was ([`Tunnel`]); the caller decodes
//! the inner packet, counts the tunnel and bounds the nesting depth. A header that is not the
//! tunnel it was taken for (a UDP datagram to port 4789 that is not VXLAN, a GRE version or
//! payload type wsscope does not decode) is `None`: the packet is "other", never malformed.
//! A header cut short where nothing else can follow (GRE, ERSPAN, MPLS, PPPoE) is
//! [`Truncated`]. Outer headers are dropped: the inner packet is keyed by its own addresses.
//!
//! UDP tunnels are recognised by their destination port only (4789 and Linux's 8472 for VXLAN,
//! 6081, 2152): a tunnel moved to another port is "other". Nothing here allocates or looks at
//! more than the header.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod geneve;
mod gre;
mod gtpu;
mod mpls;
mod pppoe;
mod vxlan;

use serde::Serialize;

/// Ether type (and GRE/Geneve protocol type) of an IPv4 packet.
pub const IPV4: u16 = 0x0800;
/// Ether type of an IPv6 packet.
pub const IPV6: u16 = 0x86dd;
/// Transparent Ethernet Bridging: an Ethernet frame follows (GRE, Geneve).
pub const TEB: u16 = 0x6558;
/// MPLS unicast.
pub const MPLS_UNICAST: u16 = 0x8847;
/// MPLS multicast.
pub const MPLS_MULTICAST: u16 = 0x8848;
/// PPPoE session stage (RFC 2516).
pub const PPPOE_SESSION: u16 = 0x8864;

/// UDP destination ports recognised as tunnels.
pub const VXLAN_PORT: u16 = 4789;
/// Linux's VXLAN port before the IANA assignment (still the kernel's default).
pub const VXLAN_LINUX_PORT: u16 = 8472;
/// Geneve (RFC 8926).
pub const GENEVE_PORT: u16 = 6081;
/// GTP-U (3GPP TS 29.281).
pub const GTPU_PORT: u16 = 2152;

/// A kind of tunnel, as counted in [`TunnelStats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tunnel {
    /// VXLAN (RFC 7348).
    Vxlan,
    /// Geneve (RFC 8926).
    Geneve,
    /// GTP-U G-PDU.
    GtpU,
    /// GRE (RFC 2784, 2890) carrying IP, Ethernet or MPLS.
    Gre,
    /// ERSPAN type I or II (GRE protocol 0x88be).
    Erspan2,
    /// ERSPAN type III (GRE protocol 0x22eb).
    Erspan3,
    /// An MPLS label stack (RFC 3032).
    Mpls,
    /// PPPoE session (RFC 2516).
    Pppoe,
    /// IPv4 inside IPv4 or IPv6 (IP protocol 4).
    Ipv4InIp,
    /// IPv6 inside IPv4 (6in4) or IPv6 (IP protocol 41).
    Ipv6InIp,
}

/// Packets decapsulated, per tunnel. A packet inside two tunnels counts once in each.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct TunnelStats {
    /// VXLAN (UDP 4789 or 8472).
    pub vxlan: u64,
    /// Geneve (UDP 6081).
    pub geneve: u64,
    /// GTP-U G-PDUs (UDP 2152).
    pub gtp_u: u64,
    /// GRE carrying IP, Ethernet (0x6558) or MPLS.
    pub gre: u64,
    /// ERSPAN types I and II (GRE 0x88be).
    pub erspan_ii: u64,
    /// ERSPAN type III (GRE 0x22eb).
    pub erspan_iii: u64,
    /// MPLS label stacks.
    pub mpls: u64,
    /// PPPoE sessions.
    pub pppoe: u64,
    /// IPv4 in IP (IP protocol 4).
    pub ipv4_in_ip: u64,
    /// IPv6 in IP (IP protocol 41, 6in4).
    pub ipv6_in_ip: u64,
}

impl TunnelStats {
    /// Counts one packet decapsulated from `tunnel`.
    pub fn count(&mut self, tunnel: Tunnel) {
        let c = match tunnel {
            Tunnel::Vxlan => &mut self.vxlan,
            Tunnel::Geneve => &mut self.geneve,
            Tunnel::GtpU => &mut self.gtp_u,
            Tunnel::Gre => &mut self.gre,
            Tunnel::Erspan2 => &mut self.erspan_ii,
            Tunnel::Erspan3 => &mut self.erspan_iii,
            Tunnel::Mpls => &mut self.mpls,
            Tunnel::Pppoe => &mut self.pppoe,
            Tunnel::Ipv4InIp => &mut self.ipv4_in_ip,
            Tunnel::Ipv6InIp => &mut self.ipv6_in_ip,
        };
        *c += 1;
    }

    /// Every counter with its display name, in a fixed order.
    pub fn named(&self) -> [(&'static str, u64); 10] {
        [
            ("VXLAN", self.vxlan),
            ("Geneve", self.geneve),
            ("GTP-U", self.gtp_u),
            ("GRE", self.gre),
            ("ERSPAN I/II", self.erspan_ii),
            ("ERSPAN III", self.erspan_iii),
            ("MPLS", self.mpls),
            ("PPPoE", self.pppoe),
            ("IPv4-in-IP", self.ipv4_in_ip),
            ("IPv6-in-IP", self.ipv6_in_ip),
        ]
    }

    /// Packets decapsulated, all tunnels together.
    pub fn total(&self) -> u64 {
        self.named().iter().map(|(_, n)| n).sum()
    }
}

/// What follows a tunnel header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next<'a> {
    /// An Ethernet frame.
    Ethernet(&'a [u8]),
    /// An IP packet (version by its first nibble).
    Ip(&'a [u8]),
    /// A payload named by an ether type (GRE's protocol type): IPv4, IPv6, Ethernet (0x6558)
    /// or MPLS.
    EtherType(u16, &'a [u8]),
}

/// A tunnel header taken off. Only a header whose payload wsscope decodes is taken off; any
/// other is `None` (the packet is "other" and the tunnel is not counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decap<'a> {
    /// Which tunnel.
    pub tunnel: Tunnel,
    /// What it carries.
    pub next: Next<'a>,
}

/// A tunnel header shorter than its fields say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{layer} header needs {need} bytes, {have} captured")]
pub struct Truncated {
    /// The header's name (GRE, ERSPAN, MPLS, PPPoE).
    pub layer: &'static str,
    /// Bytes the header needs.
    pub need: usize,
    /// Bytes there are.
    pub have: usize,
}

/// `data[..n]` and the rest, or [`Truncated`].
fn split<'a>(
    layer: &'static str,
    data: &'a [u8],
    n: usize,
) -> Result<(&'a [u8], &'a [u8]), Truncated> {
    if data.len() < n {
        return Err(Truncated { layer, need: n, have: data.len() });
    }
    Ok(data.split_at(n))
}

/// A big-endian u16 at `at` (callers checked the length).
fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
        _ => 0,
    }
}

/// A UDP datagram to `dst_port`: the tunnel it carries, if it is one. A datagram that does not
/// parse as the tunnel of its port is not one.
pub fn udp(dst_port: u16, payload: &[u8]) -> Option<Decap<'_>> {
    match dst_port {
        VXLAN_PORT | VXLAN_LINUX_PORT => vxlan::decap(payload),
        GENEVE_PORT => geneve::decap(payload),
        GTPU_PORT => gtpu::decap(payload),
        _ => None,
    }
}

/// A GRE packet (IP protocol 47).
pub fn gre(payload: &[u8]) -> Result<Option<Decap<'_>>, Truncated> {
    gre::decap(payload)
}

/// True for the ether types that are tunnels (MPLS, PPPoE session): the only ones a link layer
/// hands to [`ether_type`].
pub fn is_tunnel_ether_type(ether_type: u16) -> bool {
    matches!(ether_type, MPLS_UNICAST | MPLS_MULTICAST | PPPOE_SESSION)
}

/// A payload of ether type `ether_type` that is a tunnel (MPLS, PPPoE session); `None` for any
/// other ether type.
pub fn ether_type(ether_type: u16, payload: &[u8]) -> Result<Option<Decap<'_>>, Truncated> {
    match ether_type {
        MPLS_UNICAST | MPLS_MULTICAST => mpls::decap(payload),
        PPPOE_SESSION => pppoe::decap(payload),
        _ => Ok(None),
    }
}
