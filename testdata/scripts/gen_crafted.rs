//! Deterministic generator of small, hand-crafted capture files that exercise
//! the TCP stream engine (reassembly), each with an expectation sidecar.
//!
//! Regenerate with:
//!
//! ```text
//! cargo run --example gen_crafted -- testdata/captures/crafted
//! ```
//!
//! For every case `<case>` the output directory receives `<case>.pcap` (or
//! `<case>.pcapng`) and `<case>.expect.json`.  Output is byte-for-byte
//! deterministic: timestamps start at 1_700_000_000 s and advance 1 ms per
//! packet, all ISNs and IP identifications are fixed, nothing is random.
//!
//! # Expectation format
//!
//! ```json
//! {
//!   "case": "reorder",
//!   "description": "one line: what this capture exercises",
//!   "file_truncated": false,
//!   "connections": [
//!     {
//!       "client": "10.0.0.1:40000",
//!       "server": "10.0.0.2:8080",
//!       "syn_seen": true,
//!       "client_to_server": { "delivered_hex": "…", "gaps": [ {"offset": 100, "len": 50} ], "end": "fin" },
//!       "server_to_client": { "delivered_hex": "…", "gaps": [], "end": "fin" },
//!       "retransmission_mismatches": [ {"direction": "client_to_server", "offset": 10, "len": 5} ]
//!     }
//!   ]
//! }
//! ```
//!
//! * `client` is the endpoint that sent the SYN (without a captured SYN: the
//!   one that sent the first data); IPv6 endpoints are written `[addr]:port`.
//! * Offsets are stream offsets: 0 is the first payload byte after the SYN
//!   (ISN + 1).  In the no-SYN case the first data segment of each direction
//!   in file order is also the lowest sequence, so 0 is its first byte.
//! * `delivered_hex`: all captured payload bytes of that direction in stream
//!   order, gaps excluded; on overlap the bytes seen first (file order) win.
//! * `gaps`: stream ranges never captured (a missing segment, or the part of a
//!   payload cut off by the snaplen).  A hole counts only if later bytes were
//!   captured or the peer acknowledged past it.
//! * `end`: `"rst"` if a RST was seen in that direction, else `"fin"` if a FIN
//!   was seen (every byte before it is either delivered or listed as a gap),
//!   else `"open"`.
//! * `retransmission_mismatches`: a later segment carrying bytes different
//!   from the first-seen bytes for the same sequence numbers.  The cases are
//!   built so that *every* overlapped byte of a conflicting segment differs
//!   (the generator asserts it), so `offset`/`len` are both the first
//!   differing byte/run length and the overlapped range of that segment.
//! * Connections are ordered by the file position of their first packet;
//!   mismatches by the file position of the conflicting segment.
//!
//! # How the truth is computed
//!
//! Every case states its intended result explicitly (`Trace::intend*`).
//! Independently, a byte-level model replays the TCP segments that are
//! completely present in the file (after snaplen cuts, dropped packets, lost
//! fragments and file truncation): each stream byte is filled at most once,
//! later different bytes are mismatches, gaps are unfilled ranges below the
//! highest filled byte or the peer's highest ACK.  The generator panics unless
//! both agree.  Segments marked as "not in the model" (the keep-alive probe
//! and the bogus-IHL packet) are invisible to a correct reassembler.
//!
//! This file deliberately does not use the `wsscope` library: the expected
//! results must be independent of the code under test.

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, EtherType, IpFragOffset, IpHeaders, Ipv4Header,
    Ipv6Extensions, Ipv6Header, Ipv6RawExtHeader, PacketBuilder, TcpHeader, ip_number,
};
use pcap::{Capture, Linktype, Packet, PacketHeader, Precision};
use serde::Serialize;

/// First packet timestamp (seconds since the epoch).
const BASE_SECS: u64 = 1_700_000_000;
const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// Snaplen that libpcap's dead handle (as opened by the `pcap` crate) writes.
const DEFAULT_SNAPLEN: u32 = 65535;

// ---------------------------------------------------------------------------
// Directions, link layers, segments
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dir {
    C2S,
    S2C,
}
use Dir::{C2S, S2C};

impl Dir {
    fn idx(self) -> usize {
        self as usize
    }
    fn peer(self) -> Dir {
        match self {
            C2S => S2C,
            S2C => C2S,
        }
    }
    fn name(self) -> &'static str {
        match self {
            C2S => "client_to_server",
            S2C => "server_to_client",
        }
    }
}

/// Link-layer framing.  Frames are written as if captured on the server host
/// (this only matters for the SLL packet type).
#[derive(Clone, Debug)]
enum Link {
    /// Ethernet II; `tags` are (TPID, VLAN id) pairs, outermost first; `pad`
    /// zero-pads frames to the 60-byte Ethernet minimum (a trailer after the
    /// IP datagram).
    Ethernet { tags: Vec<(u16, u16)>, pad: bool },
    /// Linux cooked capture v1 (DLT_LINUX_SLL, 113), 16-byte header.
    Sll,
    /// Linux cooked capture v2 (DLT_LINUX_SLL2, 276), 20-byte header.
    Sll2,
    /// BSD loopback (DLT_NULL, 0): 4-byte address family, little-endian.
    Null,
    /// Linux cooked capture v1 (113) of a device whose hardware type is not Ethernet:
    /// `arphrd` (ARPHRD_*) and its link-layer address (0 to 8 bytes).
    SllHw { arphrd: u16, addr: Vec<u8> },
    /// Ethernet around tunnel headers, innermost first (each outer header is what a traffic
    /// mirror or an overlay adds).
    Tunnelled(Vec<Encap>),
}

/// One encapsulation around a packet. Outer IPv4 headers go from 192.0.2.1 (the client's side)
/// to 192.0.2.2 (the server's side), or back.
#[derive(Clone, Copy, Debug)]
enum Encap {
    /// VXLAN (UDP 4789, VNI 42) around an Ethernet frame.
    Vxlan,
    /// Geneve (UDP 6081, one 8-byte option) around an Ethernet frame.
    Geneve,
    /// GTP-U G-PDU (UDP 2152) with a sequence number and a PDU session container extension
    /// header, around the IP packet.
    GtpU,
    /// GRE with checksum, key and sequence number, protocol = the payload's ether type.
    Gre,
    /// GRE (sequence number) + ERSPAN type II around an Ethernet frame.
    Erspan2,
    /// GRE (sequence number) + ERSPAN type III with the platform-specific subheader (O bit).
    Erspan3,
    /// Two MPLS labels (ether type 0x8847).
    Mpls,
    /// PPPoE session (ether type 0x8864), PPP protocol IPv4 or IPv6.
    Pppoe,
    /// An outer IPv4 header, protocol 4 (IPv4 inside) or 41 (IPv6 inside, 6in4).
    IpInIp,
}

/// The Internet checksum (RFC 1071) of `data`.
fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 header (with its checksum) from the `dir` side's outer address around `payload`.
fn outer_ipv4(dir: Dir, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let (src, dst) = match dir {
        C2S => ([192, 0, 2, 1], [192, 0, 2, 2]),
        S2C => ([192, 0, 2, 2], [192, 0, 2, 1]),
    };
    let mut h = Ipv4Header::new(payload.len() as u16, 64, etherparse::IpNumber(protocol), src, dst)
        .unwrap();
    h.dont_fragment = true;
    h.header_checksum = h.calc_header_checksum();
    let mut v = h.to_bytes().to_vec();
    v.extend(payload);
    v
}

/// A UDP datagram (checksum 0, allowed over IPv4) to `port` inside an outer IPv4 header.
fn outer_udp(dir: Dir, port: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = 49152u16.to_be_bytes().to_vec();
    v.extend(port.to_be_bytes());
    v.extend(((8 + payload.len()) as u16).to_be_bytes());
    v.extend([0, 0]);
    v.extend(payload);
    outer_ipv4(dir, 17, &v)
}

/// An Ethernet frame from the `dir` side's inner MAC address.
fn inner_ethernet(dir: Dir, ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let (src, dst) = match dir {
        C2S => ([0x02, 0, 0, 0, 0, 0x11], [0x02, 0, 0, 0, 0, 0x12]),
        S2C => ([0x02, 0, 0, 0, 0, 0x12], [0x02, 0, 0, 0, 0, 0x11]),
    };
    let mut v = dst.to_vec();
    v.extend(src);
    v.extend(ether_type.to_be_bytes());
    v.extend(payload);
    v
}

impl Encap {
    /// Wraps a payload of ether type `ether_type`; returns the new payload and its ether type.
    fn wrap(self, dir: Dir, ether_type: u16, payload: &[u8]) -> (u16, Vec<u8>) {
        let ip = |et: u16| assert!(et == 0x0800 || et == 0x86dd, "{self:?} carries IP");
        match self {
            Encap::Vxlan => {
                let mut v = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
                v.extend(inner_ethernet(dir, ether_type, payload));
                (0x0800, outer_udp(dir, 4789, &v))
            }
            Encap::Geneve => {
                // Version 0, options 2 words; protocol Ethernet; VNI 42; one option
                // (class 0x0103, type 0x80, length 1 word).
                let mut v = vec![0x02, 0, 0x65, 0x58, 0, 0, 42, 0, 0x01, 0x03, 0x80, 0x01];
                v.extend([0xde, 0xad, 0xbe, 0xef]);
                v.extend(inner_ethernet(dir, ether_type, payload));
                (0x0800, outer_udp(dir, 6081, &v))
            }
            Encap::GtpU => {
                ip(ether_type);
                // Version 1, PT 1, E and S: sequence number, then a PDU session container
                // (type 0x85, 1 word) and no further extension.
                let ext = [0x01, 0x10, 0x01, 0x00];
                let len = (4 + ext.len() + payload.len()) as u16;
                let mut v = vec![0x36, 0xff];
                v.extend(len.to_be_bytes());
                v.extend([0, 0, 0x30, 0x39]); // TEID 12345
                v.extend([0x00, 0x07, 0x00, 0x85]);
                v.extend(ext);
                v.extend(payload);
                (0x0800, outer_udp(dir, 2152, &v))
            }
            Encap::Gre => {
                let mut v = vec![0xb0, 0x00];
                v.extend(ether_type.to_be_bytes());
                v.extend([0, 0, 0, 0]); // checksum (below) and reserved
                v.extend(0x0000_1234u32.to_be_bytes()); // key
                v.extend(7u32.to_be_bytes()); // sequence number
                v.extend(payload);
                let sum = internet_checksum(&v);
                v[4..6].copy_from_slice(&sum.to_be_bytes());
                (0x0800, outer_ipv4(dir, 47, &v))
            }
            Encap::Erspan2 => {
                let mut v = vec![0x10, 0x00, 0x88, 0xbe];
                v.extend(7u32.to_be_bytes());
                // Version 1, VLAN 0, COS 0, En 0, T 0, session 5; index 9.
                v.extend([0x10, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x09]);
                v.extend(inner_ethernet(dir, ether_type, payload));
                (0x0800, outer_ipv4(dir, 47, &v))
            }
            Encap::Erspan3 => {
                let mut v = vec![0x10, 0x00, 0x22, 0xeb];
                v.extend(7u32.to_be_bytes());
                // Version 2, session 5, timestamp, SGT 0, P 0, FT 0 (Ethernet), HW ID 1, D 0,
                // Gra 3, O 1; then the platform-specific subheader (platform 3).
                v.extend([0x20, 0x00, 0x00, 0x05, 0x00, 0x01, 0x02, 0x03, 0x00, 0x00, 0x00, 0x17]);
                v.extend([0x0c, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00]);
                v.extend(inner_ethernet(dir, ether_type, payload));
                (0x0800, outer_ipv4(dir, 47, &v))
            }
            Encap::Mpls => {
                ip(ether_type);
                // Label 100, then label 200 with the bottom-of-stack bit; TTL 64.
                let mut v = ((100u32 << 12) | 64).to_be_bytes().to_vec();
                v.extend(((200u32 << 12) | (1 << 8) | 64).to_be_bytes());
                v.extend(payload);
                (0x8847, v)
            }
            Encap::Pppoe => {
                ip(ether_type);
                let ppp: u16 = if ether_type == 0x86dd { 0x0057 } else { 0x0021 };
                let mut v = vec![0x11, 0x00, 0x00, 0x2a];
                v.extend(((2 + payload.len()) as u16).to_be_bytes());
                v.extend(ppp.to_be_bytes());
                v.extend(payload);
                (0x8864, v)
            }
            Encap::IpInIp => {
                ip(ether_type);
                let protocol = if ether_type == 0x86dd { 41 } else { 4 };
                (0x0800, outer_ipv4(dir, protocol, payload))
            }
        }
    }
}

impl Link {
    fn eth() -> Link {
        Link::Ethernet { tags: Vec::new(), pad: false }
    }

    fn linktype(&self) -> i32 {
        match self {
            Link::Ethernet { .. } | Link::Tunnelled(_) => 1,
            Link::Sll | Link::SllHw { .. } => 113,
            Link::Sll2 => 276,
            Link::Null => 0,
        }
    }

    /// Wraps an IP datagram; returns the frame and the link header length.
    fn frame(&self, ip: &[u8], dir: Dir) -> (Vec<u8>, usize) {
        let v6 = ip[0] >> 4 == 6;
        let ethertype: u16 = if v6 { 0x86dd } else { 0x0800 };
        let (src, dst) = match dir {
            C2S => (CLIENT_MAC, SERVER_MAC),
            S2C => (SERVER_MAC, CLIENT_MAC),
        };
        // PACKET_HOST for what the server receives, PACKET_OUTGOING for what it sends.
        let pkttype: u16 = match dir {
            C2S => 0,
            S2C => 4,
        };
        let mut f = Vec::with_capacity(ip.len() + 24);
        match self {
            Link::Ethernet { tags, .. } => {
                f.extend(dst);
                f.extend(src);
                for (tpid, vid) in tags {
                    f.extend(tpid.to_be_bytes());
                    f.extend(vid.to_be_bytes()); // PCP 0, DEI 0
                }
                f.extend(ethertype.to_be_bytes());
            }
            Link::Sll => {
                f.extend(pkttype.to_be_bytes());
                f.extend(1u16.to_be_bytes()); // ARPHRD_ETHER
                f.extend(6u16.to_be_bytes()); // address length
                f.extend(src);
                f.extend([0, 0]); // address padded to 8 bytes
                f.extend(ethertype.to_be_bytes());
            }
            Link::Sll2 => {
                f.extend(ethertype.to_be_bytes());
                f.extend([0, 0]); // reserved
                f.extend(2u32.to_be_bytes()); // interface index
                f.extend(1u16.to_be_bytes()); // ARPHRD_ETHER
                f.push(pkttype as u8);
                f.push(6); // address length
                f.extend(src);
                f.extend([0, 0]);
            }
            Link::Null => {
                let af: u32 = if v6 { 30 } else { 2 }; // macOS AF_INET6 / AF_INET
                f.extend(af.to_le_bytes());
            }
            Link::SllHw { arphrd, addr } => {
                f.extend(pkttype.to_be_bytes());
                f.extend(arphrd.to_be_bytes());
                f.extend((addr.len() as u16).to_be_bytes());
                let mut padded = addr.clone();
                padded.resize(8, 0);
                f.extend(padded);
                f.extend(ethertype.to_be_bytes());
            }
            Link::Tunnelled(encaps) => {
                let (mut et, mut bytes) = (ethertype, ip.to_vec());
                for e in encaps {
                    (et, bytes) = e.wrap(dir, et, &bytes);
                }
                f.extend(dst);
                f.extend(src);
                f.extend(et.to_be_bytes());
                f.extend(&bytes[..bytes.len() - ip.len()]);
            }
        }
        let hdr_len = f.len();
        f.extend(ip);
        if let Link::Ethernet { pad: true, .. } = self
            && f.len() < 60
        {
            f.resize(60, 0);
        }
        (f, hdr_len)
    }
}

#[derive(Clone, Copy, Default, Debug)]
struct Flags {
    syn: bool,
    ack: bool,
    fin: bool,
    rst: bool,
    psh: bool,
}

/// One TCP segment, not yet framed.
#[derive(Clone, Debug)]
struct Seg {
    dir: Dir,
    seq: u32,
    ack: u32,
    flags: Flags,
    window: u16,
    payload: Vec<u8>,
    /// False for packets a correct reassembler must ignore entirely.
    in_model: bool,
}

// ---------------------------------------------------------------------------
// Trace: frames in file order, connections, intended results, the model
// ---------------------------------------------------------------------------

/// A TCP segment as it appears in a frame (for the model).
struct TcpEvent {
    conn: usize,
    seg: Seg,
    /// Offset of the TCP payload inside the frame, to apply the snaplen;
    /// None for a segment reassembled from IPv4 fragments (never cut here).
    payload_at: Option<usize>,
}

struct Frame {
    ts_ns: u64,
    /// Index of the interface (pcapng) the frame was captured on.
    iface: usize,
    data: Vec<u8>,
    /// Set on the frame that makes a TCP segment complete (the only frame,
    /// or the last fragment in file order).
    tcp: Option<TcpEvent>,
}

#[derive(Clone, Copy, Serialize, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum End {
    Fin,
    Rst,
    Open,
}

#[derive(Clone, Copy, Serialize, PartialEq, Eq, Debug)]
struct Range {
    offset: u64,
    len: u64,
}

#[derive(Clone, Serialize, PartialEq, Eq, Debug)]
struct DirExpect {
    delivered_hex: String,
    gaps: Vec<Range>,
    end: End,
}

#[derive(Clone, Serialize, PartialEq, Eq, Debug)]
struct Mismatch {
    direction: &'static str,
    offset: u64,
    len: u64,
}

#[derive(Serialize)]
struct ConnExpect {
    client: String,
    server: String,
    syn_seen: bool,
    client_to_server: DirExpect,
    server_to_client: DirExpect,
    retransmission_mismatches: Vec<Mismatch>,
}

#[derive(Serialize)]
struct Expect {
    case: &'static str,
    description: &'static str,
    file_truncated: bool,
    connections: Vec<ConnExpect>,
}

struct Conn {
    client: SocketAddr,
    server: SocketAddr,
    isn: [u32; 2],
    intent: [Option<DirExpect>; 2],
    intent_mismatches: Vec<Mismatch>,
}

enum Format {
    Pcap(Precision),
    Pcapng,
}

struct Trace {
    case: &'static str,
    description: &'static str,
    /// Link type of each interface, in order (classic pcap: exactly one).
    linktypes: Vec<i32>,
    format: Format,
    snaplen: u32,
    /// Bytes chopped off the end of the finished file (cuts the last record).
    truncate_tail: usize,
    frames: Vec<Frame>,
    conns: Vec<Conn>,
    /// Packets emitted so far (1 ms each) plus pauses, in ms since BASE_SECS.
    clock_ms: u64,
}

impl Trace {
    fn new(case: &'static str, link: &Link, description: &'static str) -> Trace {
        Trace {
            case,
            description,
            linktypes: vec![link.linktype()],
            format: Format::Pcap(Precision::Micro),
            snaplen: DEFAULT_SNAPLEN,
            truncate_tail: 0,
            frames: Vec::new(),
            conns: Vec::new(),
            clock_ms: 0,
        }
    }

    fn pause_ms(&mut self, ms: u64) {
        self.clock_ms += ms;
    }

    fn push(&mut self, iface: usize, data: Vec<u8>, tcp: Option<TcpEvent>) {
        let ts_ns = BASE_SECS * 1_000_000_000 + self.clock_ms * 1_000_000;
        self.clock_ms += 1;
        self.frames.push(Frame { ts_ns, iface, data, tcp });
    }

    /// A frame on the first interface that is not part of any modelled TCP segment.
    fn raw(&mut self, data: Vec<u8>) {
        self.push(0, data, None);
    }

    /// The interface of link type `linktype`, added if it is new (pcapng only).
    fn iface(&mut self, linktype: i32) -> usize {
        if let Some(i) = self.linktypes.iter().position(|&l| l == linktype) {
            return i;
        }
        assert!(matches!(self.format, Format::Pcapng), "one link type per classic pcap file");
        self.linktypes.push(linktype);
        self.linktypes.len() - 1
    }

    fn intend(&mut self, conn: usize, dir: Dir, delivered: &[u8], gaps: &[(u64, u64)], end: End) {
        self.conns[conn].intent[dir.idx()] = Some(DirExpect {
            delivered_hex: hex::encode(delivered),
            gaps: gaps.iter().map(|&(offset, len)| Range { offset, len }).collect(),
            end,
        });
    }

    fn intend_mismatch(&mut self, conn: usize, dir: Dir, offset: u64, len: u64) {
        self.conns[conn].intent_mismatches.push(Mismatch { direction: dir.name(), offset, len });
    }

    /// Frames completely present in the written file.
    fn frames_in_file(&self) -> &[Frame] {
        let n = self.frames.len() - usize::from(self.truncate_tail > 0);
        &self.frames[..n]
    }

    /// Replays one direction of one connection; returns the direction's
    /// result and its mismatches tagged with their frame index.
    fn model_dir(&self, conn: usize, dir: Dir) -> Result<(DirExpect, Vec<(usize, Mismatch)>)> {
        let c = &self.conns[conn];
        let base = c.isn[dir.idx()].wrapping_add(1);
        let rel = |seq: u32| i64::from(seq.wrapping_sub(base) as i32);
        let mut bytes: Vec<Option<u8>> = Vec::new();
        let mut mismatches = Vec::new();
        let (mut fin_at, mut rst, mut acked) = (None, false, 0u64);
        for (fi, f) in self.frames_in_file().iter().enumerate() {
            let Some(ev) = &f.tcp else { continue };
            let seg = &ev.seg;
            if ev.conn != conn || !seg.in_model {
                continue;
            }
            if seg.dir != dir {
                if seg.flags.ack && rel(seg.ack) > 0 {
                    acked = acked.max(rel(seg.ack) as u64);
                }
                continue;
            }
            let off = rel(seg.seq) + i64::from(seg.flags.syn);
            ensure!(off >= 0, "{}: segment before stream start", self.case);
            let off = off as usize;
            let caplen = f.data.len().min(self.snaplen as usize);
            let captured = match ev.payload_at {
                Some(at) => &seg.payload[..seg.payload.len().min(caplen.saturating_sub(at))],
                None => &seg.payload[..],
            };
            if !captured.is_empty() && bytes.len() < off + captured.len() {
                bytes.resize(off + captured.len(), None);
            }
            let (mut overlapped, mut differing) = (Vec::new(), Vec::new());
            for (i, &b) in captured.iter().enumerate() {
                match bytes[off + i] {
                    None => bytes[off + i] = Some(b),
                    Some(old) => {
                        overlapped.push(off + i);
                        if old != b {
                            differing.push(off + i);
                        }
                    }
                }
            }
            if !differing.is_empty() {
                let contiguous = differing.windows(2).all(|w| w[1] == w[0] + 1);
                ensure!(
                    differing == overlapped && contiguous,
                    "{}: conflicting segment must differ in every overlapped byte",
                    self.case
                );
                let m = Mismatch {
                    direction: dir.name(),
                    offset: differing[0] as u64,
                    len: differing.len() as u64,
                };
                mismatches.push((fi, m));
            }
            if seg.flags.fin {
                fin_at = Some((off + seg.payload.len()) as u64);
            }
            rst |= seg.flags.rst;
        }
        if let Some(fin) = fin_at {
            // The FIN occupies one sequence number after the last byte.
            ensure!(acked <= fin + 1, "{}: ACK beyond FIN", self.case);
            acked = acked.min(fin);
        }
        let extent = (bytes.len() as u64).max(acked) as usize;
        bytes.resize(extent, None);
        let mut gaps: Vec<Range> = Vec::new();
        for (i, b) in bytes.iter().enumerate() {
            if b.is_none() {
                match gaps.last_mut() {
                    Some(g) if g.offset + g.len == i as u64 => g.len += 1,
                    _ => gaps.push(Range { offset: i as u64, len: 1 }),
                }
            }
        }
        let delivered: Vec<u8> = bytes.iter().flatten().copied().collect();
        let end = if rst {
            End::Rst
        } else if fin_at.is_some() {
            End::Fin
        } else {
            End::Open
        };
        Ok((DirExpect { delivered_hex: hex::encode(delivered), gaps, end }, mismatches))
    }

    /// Computes the expectation with the model and checks it against the
    /// intended results.
    fn expectation(&self) -> Result<Expect> {
        let frames = self.frames_in_file();
        let first_frame = |conn: usize| {
            frames.iter().position(|f| f.tcp.as_ref().is_some_and(|e| e.conn == conn))
        };
        let mut order: Vec<(usize, usize)> =
            (0..self.conns.len()).filter_map(|c| first_frame(c).map(|p| (p, c))).collect();
        order.sort();
        let mut connections = Vec::new();
        for (_, ci) in order {
            let c = &self.conns[ci];
            let (c2s, mut mm) = self.model_dir(ci, C2S)?;
            let (s2c, mm2) = self.model_dir(ci, S2C)?;
            mm.extend(mm2);
            mm.sort_by_key(|(fi, _)| *fi);
            let mismatches: Vec<Mismatch> = mm.into_iter().map(|(_, m)| m).collect();
            for (dir, got) in [(C2S, &c2s), (S2C, &s2c)] {
                let Some(want) = &c.intent[dir.idx()] else {
                    bail!("{}: no intended result for conn {ci} {}", self.case, dir.name());
                };
                ensure!(
                    want == got,
                    "{}: conn {ci} {}: model and intent disagree\nmodel:  {got:?}\nintent: {want:?}",
                    self.case,
                    dir.name()
                );
            }
            ensure!(
                mismatches == c.intent_mismatches,
                "{}: conn {ci} mismatches: model {mismatches:?} intent {:?}",
                self.case,
                c.intent_mismatches
            );
            let syn_seen = frames.iter().any(|f| {
                f.tcp.as_ref().is_some_and(|e| {
                    e.conn == ci && e.seg.in_model && e.seg.dir == C2S && e.seg.flags.syn
                })
            });
            connections.push(ConnExpect {
                client: c.client.to_string(),
                server: c.server.to_string(),
                syn_seen,
                client_to_server: c2s,
                server_to_client: s2c,
                retransmission_mismatches: mismatches,
            });
        }
        Ok(Expect {
            case: self.case,
            description: self.description,
            file_truncated: self.truncate_tail > 0,
            connections,
        })
    }

    /// Writes `<case>.pcap[ng]` and `<case>.expect.json` into `dir`.
    fn write(&self, dir: &Path) -> Result<()> {
        let expect = self.expectation()?;
        let path = match self.format {
            Format::Pcap(precision) => {
                let path = dir.join(format!("{}.pcap", self.case));
                self.write_pcap(&path, precision)?;
                path
            }
            Format::Pcapng => {
                let path = dir.join(format!("{}.pcapng", self.case));
                fs::write(&path, self.pcapng_bytes())?;
                path
            }
        };
        if self.truncate_tail > 0 {
            let last = self.frames.last().context("empty trace")?;
            ensure!(last.data.len() > self.truncate_tail, "truncation must cut packet data");
            let mut bytes = fs::read(&path)?;
            bytes.truncate(bytes.len() - self.truncate_tail);
            fs::write(&path, bytes)?;
        }
        let json = serde_json::to_string_pretty(&expect)? + "\n";
        fs::write(dir.join(format!("{}.expect.json", self.case)), json)?;
        Ok(())
    }

    /// Classic pcap through libpcap's dumper.
    fn write_pcap(&self, path: &Path, precision: Precision) -> Result<()> {
        ensure!(self.linktypes.len() == 1, "one link type per classic pcap file");
        let cap = Capture::dead_with_precision(Linktype(self.linktypes[0]), precision)?;
        let mut out = cap.savefile(path)?;
        for f in &self.frames {
            let caplen = f.data.len().min(self.snaplen as usize);
            let secs = f.ts_ns / 1_000_000_000;
            let frac = f.ts_ns % 1_000_000_000;
            let sub = match precision {
                Precision::Micro => frac / 1000,
                Precision::Nano => frac,
            };
            let hdr = PacketHeader {
                ts: libc::timeval {
                    tv_sec: secs as libc::time_t,
                    tv_usec: sub as libc::suseconds_t,
                },
                caplen: caplen as u32,
                len: f.data.len() as u32,
            };
            out.write(&Packet::new(&hdr, &f.data[..caplen]));
        }
        out.flush()?;
        drop(out);
        if self.snaplen != DEFAULT_SNAPLEN {
            // The pcap crate opens its dead handle with snaplen 65535; patch
            // the file header's snaplen field (offset 16, host byte order).
            let mut bytes = fs::read(path)?;
            bytes[16..20].copy_from_slice(&self.snaplen.to_ne_bytes());
            fs::write(path, bytes)?;
        }
        Ok(())
    }

    /// pcapng, little-endian: SHB, one IDB per link type (if_tsresol = 9, ns), EPBs.
    fn pcapng_bytes(&self) -> Vec<u8> {
        fn block(out: &mut Vec<u8>, block_type: u32, mut body: Vec<u8>) {
            while !body.len().is_multiple_of(4) {
                body.push(0);
            }
            let total = (body.len() + 12) as u32;
            out.extend(block_type.to_le_bytes());
            out.extend(total.to_le_bytes());
            out.extend(body);
            out.extend(total.to_le_bytes());
        }
        let mut out = Vec::new();
        let mut shb = Vec::new();
        shb.extend(0x1A2B_3C4Du32.to_le_bytes()); // byte-order magic
        shb.extend(1u16.to_le_bytes()); // major
        shb.extend(0u16.to_le_bytes()); // minor
        shb.extend((-1i64).to_le_bytes()); // section length unknown
        block(&mut out, 0x0A0D_0D0A, shb);
        for linktype in &self.linktypes {
            let mut idb = Vec::new();
            idb.extend((*linktype as u16).to_le_bytes());
            idb.extend(0u16.to_le_bytes());
            idb.extend(self.snaplen.to_le_bytes());
            idb.extend(9u16.to_le_bytes()); // if_tsresol
            idb.extend(1u16.to_le_bytes());
            idb.extend([9, 0, 0, 0]); // 10^-9 s, padded
            idb.extend([0, 0, 0, 0]); // opt_endofopt
            block(&mut out, 1, idb);
        }
        for f in &self.frames {
            let caplen = f.data.len().min(self.snaplen as usize);
            let mut epb = Vec::new();
            epb.extend((f.iface as u32).to_le_bytes()); // interface id
            epb.extend(((f.ts_ns >> 32) as u32).to_le_bytes());
            epb.extend((f.ts_ns as u32).to_le_bytes());
            epb.extend((caplen as u32).to_le_bytes());
            epb.extend((f.data.len() as u32).to_le_bytes());
            epb.extend(&f.data[..caplen]);
            block(&mut out, 6, epb);
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Flow: one TCP connection, tracking sequence space per side
// ---------------------------------------------------------------------------

/// Hop-by-Hop options payload: one PadN option (2 + 4 bytes).
const HBH_OPTS: [u8; 6] = [1, 4, 0, 0, 0, 0];
/// Destination options payload: one PadN option (2 + 12 bytes).
const DST_OPTS: [u8; 14] = [1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

struct Flow {
    conn: usize,
    link: Link,
    /// The trace's interface for `link`.
    iface: usize,
    /// [client, server]
    addr: [SocketAddr; 2],
    isn: [u32; 2],
    /// Stream bytes sent so far per side (highest offset + 1).
    sent: [u32; 2],
    fin_sent: [bool; 2],
    ip_id: [u16; 2],
    window: [u16; 2],
    /// Put IPv6 Hop-by-Hop and Destination Options headers on every packet.
    v6_ext_headers: bool,
}

impl Flow {
    fn new(t: &mut Trace, link: Link, client: &str, server: &str, isn: [u32; 2]) -> Flow {
        let iface = t.iface(link.linktype());
        let addr: [SocketAddr; 2] = [client.parse().unwrap(), server.parse().unwrap()];
        t.conns.push(Conn {
            client: addr[0],
            server: addr[1],
            isn,
            intent: [None, None],
            intent_mismatches: Vec::new(),
        });
        Flow {
            conn: t.conns.len() - 1,
            link,
            iface,
            addr,
            isn,
            sent: [0, 0],
            fin_sent: [false, false],
            ip_id: [0x1000, 0x5000],
            window: [64240, 65535],
            v6_ext_headers: false,
        }
    }

    /// Sequence number following everything `dir` has sent.
    fn next_seq(&self, dir: Dir) -> u32 {
        let d = dir.idx();
        self.isn[d]
            .wrapping_add(1)
            .wrapping_add(self.sent[d])
            .wrapping_add(u32::from(self.fin_sent[d]))
    }

    fn seg(&self, dir: Dir, seq: u32, flags: Flags, payload: &[u8]) -> Seg {
        let ack = if flags.ack { self.next_seq(dir.peer()) } else { 0 };
        Seg {
            dir,
            seq,
            ack,
            flags,
            window: self.window[dir.idx()],
            payload: payload.to_vec(),
            in_model: true,
        }
    }

    /// Segment carrying `payload` at stream offset `offset` (may overlap or
    /// skip ahead); extends what `dir` has sent.
    fn at(&mut self, dir: Dir, offset: u32, payload: &[u8]) -> Seg {
        let d = dir.idx();
        let seq = self.isn[d].wrapping_add(1).wrapping_add(offset);
        let flags = Flags { ack: true, psh: true, ..Flags::default() };
        let s = self.seg(dir, seq, flags, payload);
        self.sent[d] = self.sent[d].max(offset + payload.len() as u32);
        s
    }

    /// Next in-order data segment of `dir`.
    fn data(&mut self, dir: Dir, payload: &[u8]) -> Seg {
        self.at(dir, self.sent[dir.idx()], payload)
    }

    /// Next in-order segment with FIN (and optional data).
    fn data_fin(&mut self, dir: Dir, payload: &[u8]) -> Seg {
        let mut s = self.data(dir, payload);
        s.flags.fin = true;
        s.flags.psh = !payload.is_empty();
        self.fin_sent[dir.idx()] = true;
        s
    }

    fn ack(&self, dir: Dir) -> Seg {
        let flags = Flags { ack: true, ..Flags::default() };
        self.seg(dir, self.next_seq(dir), flags, &[])
    }

    fn send(&mut self, t: &mut Trace, dir: Dir, payload: &[u8]) {
        let s = self.data(dir, payload);
        self.emit(t, s);
    }

    fn send_ack(&mut self, t: &mut Trace, dir: Dir) {
        let s = self.ack(dir);
        self.emit(t, s);
    }

    fn handshake(&mut self, t: &mut Trace) {
        let syn = Flags { syn: true, ..Flags::default() };
        let s = self.seg(C2S, self.isn[0], syn, &[]);
        self.emit(t, s);
        let s = self.seg(S2C, self.isn[1], Flags { ack: true, ..syn }, &[]);
        self.emit(t, s);
        self.send_ack(t, C2S);
    }

    /// Client FIN, server FIN/ACK, client ACK.
    fn close(&mut self, t: &mut Trace) {
        let s = self.data_fin(C2S, &[]);
        self.emit(t, s);
        let s = self.data_fin(S2C, &[]);
        self.emit(t, s);
        self.send_ack(t, C2S);
    }

    /// The IP datagram (IPv4 or IPv6 per the addresses) carrying `seg`.
    fn ip_packet(&mut self, seg: &Seg) -> Vec<u8> {
        let d = seg.dir.idx();
        let (src, dst) = (self.addr[d], self.addr[1 - d]);
        let mut tcp = TcpHeader::new(src.port(), dst.port(), seg.seq, seg.window);
        tcp.syn = seg.flags.syn;
        tcp.ack = seg.flags.ack;
        tcp.fin = seg.flags.fin;
        tcp.rst = seg.flags.rst;
        tcp.psh = seg.flags.psh;
        tcp.acknowledgment_number = seg.ack;
        let ip = match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(t)) => {
                let mut h = Ipv4Header::new(0, 64, ip_number::TCP, s.octets(), t.octets()).unwrap();
                h.identification = self.ip_id[d];
                IpHeaders::Ipv4(h, Default::default())
            }
            (IpAddr::V6(s), IpAddr::V6(t)) => {
                let h = Ipv6Header {
                    traffic_class: 0,
                    flow_label: Default::default(),
                    payload_length: 0,
                    next_header: ip_number::TCP,
                    hop_limit: 64,
                    source: s.octets(),
                    destination: t.octets(),
                };
                let mut exts = Ipv6Extensions::default();
                if self.v6_ext_headers {
                    // next_header fields are rewritten by the builder.
                    exts.hop_by_hop_options =
                        Some(Ipv6RawExtHeader::new_raw(ip_number::TCP, &HBH_OPTS).unwrap());
                    exts.destination_options =
                        Some(Ipv6RawExtHeader::new_raw(ip_number::TCP, &DST_OPTS).unwrap());
                }
                IpHeaders::Ipv6(h, exts)
            }
            _ => panic!("mixed address families"),
        };
        self.ip_id[d] = self.ip_id[d].wrapping_add(1);
        let builder = PacketBuilder::ip(ip).tcp_header(tcp);
        let mut out = Vec::with_capacity(builder.size(seg.payload.len()));
        builder.write(&mut out, &seg.payload).unwrap();
        out
    }

    fn emit(&mut self, t: &mut Trace, seg: Seg) {
        let ip = self.ip_packet(&seg);
        let (frame, hdr_len) = self.link.frame(&ip, seg.dir);
        let payload_at = Some(hdr_len + ip.len() - seg.payload.len());
        t.push(self.iface, frame, Some(TcpEvent { conn: self.conn, seg, payload_at }));
    }

    /// Emits `seg` as IPv4 fragments: the IP payload is split at `cuts`
    /// (multiples of 8); fragments are written in `order` (indices), except
    /// `missing`.  The segment only counts if every fragment was written.
    fn emit_fragmented(
        &mut self,
        t: &mut Trace,
        seg: Seg,
        cuts: &[usize],
        order: &[usize],
        missing: Option<usize>,
    ) {
        let ip = self.ip_packet(&seg);
        let (hdr, payload) = Ipv4Header::from_slice(&ip).unwrap();
        let mut bounds = vec![0];
        bounds.extend(cuts);
        bounds.push(payload.len());
        let pieces: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
        let mut event =
            missing.is_none().then_some(TcpEvent { conn: self.conn, seg, payload_at: None });
        let written: Vec<usize> = order.iter().copied().filter(|&i| Some(i) != missing).collect();
        for (n, &i) in written.iter().enumerate() {
            let (a, b) = pieces[i];
            assert!(a % 8 == 0, "fragment offsets are multiples of 8");
            let mut h = hdr.clone();
            h.dont_fragment = false;
            h.more_fragments = b < payload.len();
            h.fragment_offset = IpFragOffset::try_new((a / 8) as u16).unwrap();
            h.set_payload_len(b - a).unwrap();
            h.header_checksum = h.calc_header_checksum();
            let mut datagram = h.to_bytes().to_vec();
            datagram.extend(&payload[a..b]);
            let (frame, _) = self.link.frame(&datagram, C2S);
            let ev = if n + 1 == written.len() { event.take() } else { None };
            t.push(self.iface, frame, ev);
        }
    }
    /// Emits `seg` as the IPv4 fragments `pieces` of its IP payload, in that order: `(start,
    /// end, forged)` byte ranges (multiples of 8 but the last), a forged one carrying other
    /// bytes than the segment's. `reassembled` says whether a receiver following Linux
    /// reassembles the datagram: only then is the segment in the model (with its last fragment).
    fn emit_fragment_list(
        &mut self,
        t: &mut Trace,
        seg: Seg,
        pieces: &[(usize, usize, bool)],
        reassembled: bool,
    ) {
        let ip = self.ip_packet(&seg);
        let (hdr, payload) = Ipv4Header::from_slice(&ip).unwrap();
        let mut event = reassembled.then_some(TcpEvent { conn: self.conn, seg, payload_at: None });
        for (n, &(a, b, forged)) in pieces.iter().enumerate() {
            assert!(a % 8 == 0, "fragment offsets are multiples of 8");
            let mut h = hdr.clone();
            h.dont_fragment = false;
            h.more_fragments = b < payload.len();
            h.fragment_offset = IpFragOffset::try_new((a / 8) as u16).unwrap();
            h.set_payload_len(b - a).unwrap();
            h.header_checksum = h.calc_header_checksum();
            let mut datagram = h.to_bytes().to_vec();
            if forged {
                datagram.extend(conflicting(&payload[a..b]));
            } else {
                datagram.extend(&payload[a..b]);
            }
            let (frame, _) = self.link.frame(&datagram, C2S);
            let ev = if n + 1 == pieces.len() { event.take() } else { None };
            t.push(self.iface, frame, ev);
        }
    }
}

// ---------------------------------------------------------------------------
// Payload helpers
// ---------------------------------------------------------------------------

/// A client text frame (RFC 6455 §5.2), masked with `key`.
fn masked_text(text: &[u8], key: [u8; 4]) -> Vec<u8> {
    assert!(text.len() < 126, "7-bit payload length only");
    let mut v = vec![0x81, 0x80 | text.len() as u8];
    v.extend(key);
    v.extend(text.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    v
}

/// A server text frame (RFC 6455 §5.2), unmasked.
fn server_text(text: &[u8]) -> Vec<u8> {
    assert!(text.len() < 126, "7-bit payload length only");
    let mut v = vec![0x81, text.len() as u8];
    v.extend(text);
    v
}

/// `len` readable bytes: "<tag>:" then a repeating a-z0-9 pattern, ending in '\n'.
fn chunk(tag: &str, len: usize) -> Vec<u8> {
    const PATTERN: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut v: Vec<u8> = format!("{tag}:").into_bytes();
    let mut i = 0;
    while v.len() < len {
        v.push(PATTERN[i % PATTERN.len()]);
        i += 1;
    }
    v.truncate(len);
    if let Some(last) = v.last_mut() {
        *last = b'\n';
    }
    v
}

/// Concatenation of chunks "<prefix>-01", "<prefix>-02", ... of the given lengths.
fn stream(prefix: &str, lens: &[usize]) -> Vec<u8> {
    lens.iter()
        .enumerate()
        .flat_map(|(i, &len)| chunk(&format!("{prefix}-{:02}", i + 1), len))
        .collect()
}

/// Bytes that differ from `orig` at every position ("XXXX…").
fn conflicting(orig: &[u8]) -> Vec<u8> {
    orig.iter().map(|&b| if b == b'X' { b'Y' } else { b'X' }).collect()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

const RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

/// Splits `data` at the given offsets.
fn split<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut prev = 0;
    for &c in cuts.iter().chain(std::iter::once(&data.len())) {
        out.push(&data[prev..c]);
        prev = c;
    }
    out
}

/// Handshake, client request in `req` pieces, server ACK, response in `resp`
/// pieces, client ACK, FIN/FIN close.  Records the (complete) intent.
fn simple_session(t: &mut Trace, f: &mut Flow, req: &[&[u8]], resp: &[&[u8]]) {
    f.handshake(t);
    for p in req {
        f.send(t, C2S, p);
    }
    f.send_ack(t, S2C);
    for p in resp {
        f.send(t, S2C, p);
    }
    f.send_ack(t, C2S);
    f.close(t);
    t.intend(f.conn, C2S, &req.concat(), &[], End::Fin);
    t.intend(f.conn, S2C, &resp.concat(), &[], End::Fin);
}

/// The WebSocket upgrade request (3 segments) and 101 response (2 segments).
fn upgrade_session(t: &mut Trace, link: Link, client: &str, server: &str, isn: [u32; 2]) {
    let mut f = Flow::new(t, link, client, server, isn);
    simple_session(t, &mut f, &split(REQUEST, &[20, 66]), &split(RESPONSE, &[34]));
}

// ---------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------

const CLIENT: &str = "10.0.0.1:40000";
const SERVER: &str = "10.0.0.2:8080";
const CLIENT6: &str = "[2001:db8::1]:40000";
const SERVER6: &str = "[2001:db8::2]:8080";

fn inorder_like(case: &'static str, format: Format, description: &'static str) -> Trace {
    let link = Link::eth();
    let mut t = Trace::new(case, &link, description);
    t.format = format;
    upgrade_session(&mut t, link, CLIENT, SERVER, [0x1000_0000, 0x2000_0000]);
    t
}

fn case_inorder() -> Trace {
    inorder_like(
        "inorder",
        Format::Pcap(Precision::Micro),
        "in-order WebSocket upgrade request (3 segments) and 101 response (2 segments), FIN/FIN close",
    )
}

fn case_pcapng() -> Trace {
    inorder_like(
        "pcapng",
        Format::Pcapng,
        "the inorder traffic as little-endian pcapng (SHB, IDB with if_tsresol=9, EPBs)",
    )
}

fn case_nanosecond() -> Trace {
    inorder_like(
        "nanosecond",
        Format::Pcap(Precision::Nano),
        "the inorder traffic as classic pcap with nanosecond magic 0xa1b23c4d",
    )
}

fn case_reorder() -> Trace {
    let link = Link::eth();
    let mut t = Trace::new(
        "reorder",
        &link,
        "client data segments 1-4 (30/45/50/35 bytes) captured in order 1,3,2,4; server ACKs only after segment 2 filled the hole",
    );
    let mut f = Flow::new(&mut t, link, CLIENT, SERVER, [0x1111_0000, 0x2222_0000]);
    let req = stream("segment", &[30, 45, 50, 35]);
    let resp = chunk("response-01", 60);
    f.handshake(&mut t);
    let segs: Vec<Seg> = split(&req, &[30, 75, 125]).iter().map(|p| f.data(C2S, p)).collect();
    for i in [0, 2, 1, 3] {
        f.emit(&mut t, segs[i].clone());
    }
    f.send_ack(&mut t, S2C);
    f.send(&mut t, S2C, &resp);
    f.send_ack(&mut t, C2S);
    f.close(&mut t);
    t.intend(f.conn, C2S, &req, &[], End::Fin);
    t.intend(f.conn, S2C, &resp, &[], End::Fin);
    t
}

fn case_duplicate() -> Trace {
    let link = Link::eth();
    let mut t = Trace::new(
        "duplicate",
        &link,
        "client segment [40,90) retransmitted identically; then segment [120,200) starts inside earlier [90,150) with identical overlapped bytes plus 50 new bytes; no mismatch",
    );
    let mut f = Flow::new(&mut t, link, CLIENT, SERVER, [0x3000_0000, 0x4000_0000]);
    let req = stream("segment", &[40, 50, 60, 50]);
    let resp = chunk("response-01", 50);
    f.handshake(&mut t);
    f.send(&mut t, C2S, &req[..40]);
    let s2 = f.data(C2S, &req[40..90]);
    f.emit(&mut t, s2.clone());
    f.emit(&mut t, s2);
    f.send(&mut t, C2S, &req[90..150]);
    let partial = f.at(C2S, 120, &req[120..200]);
    f.emit(&mut t, partial);
    f.send_ack(&mut t, S2C);
    f.send(&mut t, S2C, &resp);
    f.send_ack(&mut t, C2S);
    f.close(&mut t);
    t.intend(f.conn, C2S, &req, &[], End::Fin);
    t.intend(f.conn, S2C, &resp, &[], End::Fin);
    t
}

fn case_overlap_conflict() -> Trace {
    let link = Link::eth();
    let mut t = Trace::new(
        "overlap_conflict",
        &link,
        "conn 1: after in-order [0,100),[100,200) a retransmission [150,250) carries 'X'*50 over delivered [150,200) plus new [200,250); \
conn 2 (port 40001): [0,100), then [200,300) buffered behind hole [100,200), then [250,350) carries 'X'*50 over buffered [250,300) plus new [300,350), then [100,200) fills the hole; first-seen bytes win",
    );
    let req = stream("segment", &[100, 100, 100, 100]);
    let resp = chunk("response-01", 40);

    // Connection 1: the conflict overlaps bytes already delivered in order.
    let mut f = Flow::new(&mut t, link.clone(), CLIENT, SERVER, [0x5000_0000, 0x6000_0000]);
    f.handshake(&mut t);
    f.send(&mut t, C2S, &req[..100]);
    f.send(&mut t, C2S, &req[100..200]);
    f.send_ack(&mut t, S2C);
    let bad = f.at(C2S, 150, &cat(&[&conflicting(&req[150..200]), &req[200..250]]));
    f.emit(&mut t, bad);
    f.send(&mut t, C2S, &req[250..300]);
    f.send_ack(&mut t, S2C);
    f.send(&mut t, S2C, &resp);
    f.send_ack(&mut t, C2S);
    f.close(&mut t);
    t.intend(f.conn, C2S, &req[..300], &[], End::Fin);
    t.intend(f.conn, S2C, &resp, &[], End::Fin);
    t.intend_mismatch(f.conn, C2S, 150, 50);

    // Connection 2: the conflict overlaps an out-of-order segment buffered behind a hole.
    let mut f = Flow::new(&mut t, link, "10.0.0.1:40001", SERVER, [0x5100_0000, 0x6100_0000]);
    f.handshake(&mut t);
    f.send(&mut t, C2S, &req[..100]);
    let hole = f.data(C2S, &req[100..200]);
    f.send(&mut t, C2S, &req[200..300]);
    let bad = f.at(C2S, 250, &cat(&[&conflicting(&req[250..300]), &req[300..350]]));
    f.emit(&mut t, bad);
    f.emit(&mut t, hole);
    f.send_ack(&mut t, S2C);
    f.send(&mut t, S2C, &resp);
    f.send_ack(&mut t, C2S);
    f.close(&mut t);
    t.intend(f.conn, C2S, &req[..350], &[], End::Fin);
    t.intend(f.conn, S2C, &resp, &[], End::Fin);
    t.intend_mismatch(f.conn, C2S, 250, 50);
    t
}

fn case_hole() -> Trace {
    let link = Link::eth();
    let mut t = Trace::new(
        "hole",
        &link,
        "client segment [40,100) is missing from the capture; the server ACKs past it; segments [100,150),[150,200) and FIN follow; expected gap offset 40 len 60",
    );
    let mut f = Flow::new(&mut t, link, CLIENT, SERVER, [0x7000_0000, 0x0800_0000]);
    let req = stream("segment", &[40, 60, 50, 50]);
    let resp = chunk("response-01", 50);
    f.handshake(&mut t);
    f.send(&mut t, C2S, &req[..40]);
    let _lost = f.data(C2S, &req[40..100]);
    f.send_ack(&mut t, S2C);
    f.send(&mut t, C2S, &req[100..150]);
    f.send(&mut t, C2S, &req[150..200]);
    f.send_ack(&mut t, S2C);
    f.send(&mut t, S2C, &resp);
    f.send_ack(&mut t, C2S);
    f.close(&mut t);
    t.intend(f.conn, C2S, &cat(&[&req[..40], &req[100..]]), &[(40, 60)], End::Fin);
    t.intend(f.conn, S2C, &resp, &[], End::Fin);
    t
}

fn case_wraparound() -> Trace {
    let link = Link::eth();
    let mut t = Trace::new(
        "wraparound",
        &link,
        "client ISN 0xffffff00: 5 x 100-byte segments, sequence space wraps 2^32 at stream offset 255 (inside segment 3); server ISN 0xffffffff, its data starts at seq 0",
    );
    let mut f = Flow::new(&mut t, link, CLIENT, SERVER, [0xFFFF_FF00, 0xFFFF_FFFF]);
    let req = stream("segment", &[100; 5]);
    let resp = stream("response", &[80; 3]);
    simple_session(&mut t, &mut f, &split(&req, &[100, 200, 300, 400]), &split(&resp, &[80, 160]));
    t
}

fn case_sll() -> Trace {
    let mut t = Trace::new(
        "sll",
        &Link::Sll,
        "Linux cooked capture v1 (linktype 113, 16-byte header) around IPv4: upgrade request/response",
    );
    upgrade_session(&mut t, Link::Sll, CLIENT, SERVER, [0x0A00_0000, 0x0B00_0000]);
    t
}

fn case_sll2() -> Trace {
    let mut t = Trace::new(
        "sll2",
        &Link::Sll2,
        "Linux cooked capture v2 (linktype 276, 20-byte header) around IPv6: upgrade request/response",
    );
    upgrade_session(&mut t, Link::Sll2, CLIENT6, SERVER6, [0x0C00_0000, 0x0D00_0000]);
    t
}

fn case_null() -> Trace {
    let mut t = Trace::new(
        "null",
        &Link::Null,
        "BSD loopback (linktype 0, little-endian address family): conn 1 IPv4 (AF 2), conn 2 IPv6 (AF 30)",
    );
    upgrade_session(
        &mut t,
        Link::Null,
        "127.0.0.1:40000",
        "127.0.0.1:8080",
        [0x0E00_0000, 0x0F00_0000],
    );
    upgrade_session(&mut t, Link::Null, "[::1]:40001", "[::1]:8080", [0x1E00_0000, 0x1F00_0000]);
    t
}

fn case_vlan() -> Trace {
    let dot1q = Link::Ethernet { tags: vec![(0x8100, 100)], pad: false };
    let qinq = Link::Ethernet { tags: vec![(0x88a8, 200), (0x8100, 300)], pad: false };
    let mut t = Trace::new(
        "vlan",
        &dot1q,
        "conn 1 behind one 802.1Q tag (VLAN 100); conn 2 behind QinQ (0x88a8 VLAN 200 outer, 0x8100 VLAN 300 inner)",
    );
    upgrade_session(&mut t, dot1q, CLIENT, SERVER, [0x2100_0000, 0x2200_0000]);
    upgrade_session(&mut t, qinq, "10.0.1.1:40001", "10.0.1.2:8080", [0x2300_0000, 0x2400_0000]);
    t
}

fn case_ipv6_ext() -> Trace {
    let link = Link::eth();
    let mut t = Trace::new(
        "ipv6_ext",
        &link,
        "IPv6 where every packet has a Hop-by-Hop Options (8 bytes) and a Destination Options (16 bytes) header before TCP",
    );
    let mut f = Flow::new(&mut t, link, CLIENT6, SERVER6, [0x2500_0000, 0x2600_0000]);
    f.v6_ext_headers = true;
    simple_session(&mut t, &mut f, &split(REQUEST, &[20, 66]), &split(RESPONSE, &[34]));
    t
}

fn case_ipv4_frag() -> Trace {
    let link = Link::eth();
    let mut t = Trace::new(
        "ipv4_frag",
        &link,
        "client segment [40,140) sent as 3 IPv4 fragments captured 2nd,1st,3rd; segment [140,240) fragmented in 3 with the 2nd fragment missing (gap, server ACKs past it)",
    );
    let mut f = Flow::new(&mut t, link, CLIENT, SERVER, [0x2700_0000, 0x2800_0000]);
    let req = stream("segment", &[40, 100, 100, 40]);
    let resp = chunk("response-01", 50);
    f.handshake(&mut t);
    f.send(&mut t, C2S, &req[..40]);
    // IP payload = 20-byte TCP header + 100 bytes, cut into 3 x 40 bytes.
    let s = f.data(C2S, &req[40..140]);
    f.emit_fragmented(&mut t, s, &[40, 80], &[1, 0, 2], None);
    let s = f.data(C2S, &req[140..240]);
    f.emit_fragmented(&mut t, s, &[40, 80], &[0, 1, 2], Some(1));
    f.send_ack(&mut t, S2C);
    f.send(&mut t, C2S, &req[240..]);
    f.send_ack(&mut t, S2C);
    f.send(&mut t, S2C, &resp);
    f.send_ack(&mut t, C2S);
    f.close(&mut t);
    t.intend(f.conn, C2S, &cat(&[&req[..140], &req[240..]]), &[(140, 100)], End::Fin);
    t.intend(f.conn, S2C, &resp, &[], End::Fin);
    t
}

fn case_ipv4_frag_overlap() -> Trace {
    let link = Link::eth();
    let mut t = Trace::new(
        "ipv4_frag_overlap",
        &link,
        "WebSocket session; the client's 2nd frame comes in 3 IPv4 fragments with its middle one repeated, once identical and once with other bytes (duplicates: ignored, the first copy kept); the 3rd frame's fragments [40,80) then a forged [32,72) overlapping it (the datagram is dropped, as Linux drops it), then [0,40) and [80,end) (a new datagram, never complete); the client retransmits the 3rd frame's segment whole",
    );
    let mut f = Flow::new(&mut t, link, CLIENT, SERVER, [0x3100_0000, 0x3200_0000]);
    let first = masked_text(b"first message", [1, 2, 3, 4]);
    let second =
        masked_text(b"second message: its middle IPv4 fragment arrives three times", [5, 6, 7, 8]);
    let third = masked_text(
        b"third message: a forged fragment overlaps two of its fragments",
        [9, 10, 11, 12],
    );
    let reply = server_text(b"ok");
    f.handshake(&mut t);
    f.send(&mut t, C2S, REQUEST);
    f.send_ack(&mut t, S2C);
    f.send(&mut t, S2C, RESPONSE);
    f.send_ack(&mut t, C2S);
    f.send(&mut t, C2S, &first);
    // IP payload = 20-byte TCP header + the frame: [0,40), [40,80), [80,end).
    let s = f.data(C2S, &second);
    let end = 20 + second.len();
    f.emit_fragment_list(
        &mut t,
        s,
        &[(0, 40, false), (40, 80, false), (40, 80, false), (40, 80, true), (80, end, false)],
        true,
    );
    f.send_ack(&mut t, S2C);
    let third_at = f.sent[C2S.idx()];
    let s = f.data(C2S, &third);
    let end = 20 + third.len();
    f.emit_fragment_list(
        &mut t,
        s,
        &[(40, 80, false), (32, 72, true), (0, 40, false), (80, end, false)],
        false,
    );
    // Never acknowledged, the segment is sent again, whole.
    let s = f.at(C2S, third_at, &third);
    f.emit(&mut t, s);
    f.send_ack(&mut t, S2C);
    f.send(&mut t, S2C, &reply);
    f.send_ack(&mut t, C2S);
    f.close(&mut t);
    t.intend(f.conn, C2S, &cat(&[REQUEST, &first, &second, &third]), &[], End::Fin);
    t.intend(f.conn, S2C, &cat(&[RESPONSE, &reply]), &[], End::Fin);
    t
}

fn case_truncated_file() -> Trace {
    let link = Link::eth();
    let mut t = Trace::new(
        "truncated_file",
        &link,
        "file cut 10 bytes before the end, inside the last record (server's final 40-byte data segment with FIN); that packet does not count",
    );
    t.truncate_tail = 10;
    let mut f = Flow::new(&mut t, link, CLIENT, SERVER, [0x2900_0000, 0x2A00_0000]);
    let req = stream("segment", &[40, 40]);
    let resp = stream("response", &[60, 40]);
    f.handshake(&mut t);
    f.send(&mut t, C2S, &req[..40]);
    f.send(&mut t, C2S, &req[40..]);
    f.send_ack(&mut t, S2C);
    f.send(&mut t, S2C, &resp[..60]);
    let s = f.data_fin(C2S, &[]);
    f.emit(&mut t, s);
    let s = f.data_fin(S2C, &resp[60..]);
    f.emit(&mut t, s);
    t.intend(f.conn, C2S, &req, &[], End::Fin);
    t.intend(f.conn, S2C, &resp[..60], &[], End::Open);
    t
}

fn case_snaplen() -> Trace {
    let link = Link::eth();
    let mut t = Trace::new(
        "snaplen",
        &link,
        "snaplen 96: the 1000-byte client segment at offset 30 keeps only 42 payload bytes (caplen 96 < len 1054), gap [72,1030); the later 30-byte segments are complete",
    );
    t.snaplen = 96;
    let mut f = Flow::new(&mut t, link, CLIENT, SERVER, [0x2B00_0000, 0x2C00_0000]);
    let req = stream("segment", &[30, 1000, 30, 30]);
    let resp = stream("response", &[40, 40]);
    simple_session(&mut t, &mut f, &split(&req, &[30, 1030, 1060]), &split(&resp, &[40]));
    // Ethernet 14 + IPv4 20 + TCP 20 = 54 header bytes, so 42 payload bytes fit.
    t.intend(f.conn, C2S, &cat(&[&req[..72], &req[1030..]]), &[(72, 958)], End::Fin);
    t
}

fn case_no_syn() -> Trace {
    let link = Link::eth();
    let mut t = Trace::new(
        "no_syn",
        &link,
        "handshake not captured: client data, server data, more of both, then FIN/FIN; offset 0 = first captured (and lowest) data byte per direction",
    );
    let mut f = Flow::new(&mut t, link, CLIENT, SERVER, [0x2D00_0000, 0x2E00_0000]);
    let req = stream("segment", &[40, 40, 30]);
    let resp = stream("response", &[50, 50, 20]);
    f.send(&mut t, C2S, &req[..40]);
    f.send(&mut t, C2S, &req[40..80]);
    f.send_ack(&mut t, S2C);
    f.send(&mut t, S2C, &resp[..50]);
    f.send(&mut t, S2C, &resp[50..100]);
    f.send(&mut t, C2S, &req[80..]);
    f.send(&mut t, S2C, &resp[100..]);
    f.send_ack(&mut t, C2S);
    f.close(&mut t);
    t.intend(f.conn, C2S, &req, &[], End::Fin);
    t.intend(f.conn, S2C, &resp, &[], End::Fin);
    t
}

fn case_keepalive_zerowindow() -> Trace {
    let link = Link::eth();
    let mut t = Trace::new(
        "keepalive_zerowindow",
        &link,
        "client keep-alive (seq = next-1, 1 byte 0x00 over real '\\n' at offset 49) is ignored; server window 0 at offset 150, client zero-window probe carries byte 150, later resent identically with [151,250)",
    );
    let mut f = Flow::new(&mut t, link, CLIENT, SERVER, [0x3100_0000, 0x3200_0000]);
    let req = stream("segment", &[50, 100, 100]);
    let resp = chunk("response-01", 40);
    f.handshake(&mut t);
    f.send(&mut t, C2S, &req[..50]);
    f.send_ack(&mut t, S2C);
    // Keep-alive: one garbage byte at the last acknowledged sequence number - 1.
    let mut ka = f.ack(C2S);
    ka.seq = ka.seq.wrapping_sub(1);
    ka.payload = vec![0x00];
    ka.in_model = false;
    f.emit(&mut t, ka);
    f.send_ack(&mut t, S2C);
    f.send(&mut t, C2S, &req[50..150]);
    let mut zero = f.ack(S2C);
    zero.window = 0;
    f.emit(&mut t, zero.clone());
    // Zero-window probe: one new byte; the server does not accept it.
    let probe = f.at(C2S, 150, &req[150..151]);
    f.emit(&mut t, probe);
    f.emit(&mut t, zero.clone());
    let mut update = zero;
    update.window = 65535;
    f.emit(&mut t, update);
    let s = f.at(C2S, 150, &req[150..250]);
    f.emit(&mut t, s);
    f.send_ack(&mut t, S2C);
    f.send(&mut t, S2C, &resp);
    f.send_ack(&mut t, C2S);
    f.close(&mut t);
    t.intend(f.conn, C2S, &req, &[], End::Fin);
    t.intend(f.conn, S2C, &resp, &[], End::Fin);
    t
}

fn case_rst() -> Trace {
    let link = Link::eth();
    let mut t = Trace::new(
        "rst",
        &link,
        "request/response, then the server aborts with RST/ACK; server direction ends rst, client direction stays open",
    );
    let mut f = Flow::new(&mut t, link, CLIENT, SERVER, [0x3300_0000, 0x3400_0000]);
    let req = stream("segment", &[40, 40]);
    let resp = chunk("response-01", 60);
    f.handshake(&mut t);
    f.send(&mut t, C2S, &req[..40]);
    f.send(&mut t, C2S, &req[40..]);
    f.send_ack(&mut t, S2C);
    f.send(&mut t, S2C, &resp);
    f.send_ack(&mut t, C2S);
    let mut rst = f.ack(S2C);
    rst.flags.rst = true;
    f.emit(&mut t, rst);
    t.intend(f.conn, C2S, &req, &[], End::Open);
    t.intend(f.conn, S2C, &resp, &[], End::Rst);
    t
}

fn case_fin_ooo() -> Trace {
    let link = Link::eth();
    let mut t = Trace::new(
        "fin_ooo",
        &link,
        "client FIN segment carrying [100,150) is captured before data segment [40,100); the hole is filled afterwards; both directions end fin",
    );
    let mut f = Flow::new(&mut t, link, CLIENT, SERVER, [0x3500_0000, 0x3600_0000]);
    let req = stream("segment", &[40, 60, 50]);
    let resp = chunk("response-01", 60);
    f.handshake(&mut t);
    f.send(&mut t, C2S, &req[..40]);
    let middle = f.data(C2S, &req[40..100]);
    let last = f.data_fin(C2S, &req[100..]);
    f.emit(&mut t, last);
    f.emit(&mut t, middle);
    f.send_ack(&mut t, S2C);
    let s = f.data_fin(S2C, &resp);
    f.emit(&mut t, s);
    f.send_ack(&mut t, C2S);
    t.intend(f.conn, C2S, &req, &[], End::Fin);
    t.intend(f.conn, S2C, &resp, &[], End::Fin);
    t
}

fn case_garbage() -> Trace {
    let link = Link::Ethernet { tags: Vec::new(), pad: true };
    let mut t = Trace::new(
        "garbage",
        &link,
        "ARP, UDP, ICMP, a 10-byte Ethernet frame and an IPv4 packet with IHL 3 (a bogus 'XXX' TCP segment at the client's next seq) interleaved with a valid connection; short frames are zero-padded to 60 bytes (Ethernet trailer, e.g. after the 3-byte segment [40,43))",
    );
    let mut f = Flow::new(&mut t, link.clone(), CLIENT, SERVER, [0x3700_0000, 0x3800_0000]);
    let req = stream("segment", &[40, 3]);
    let resp = chunk("response-01", 40);
    let arp = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EtherType::IPV4,
        ArpOperation::REQUEST,
        &CLIENT_MAC,
        &[10, 0, 0, 1],
        &[0; 6],
        &[10, 0, 0, 2],
    )
    .unwrap();
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, [0xff; 6]).arp(arp).write(&mut frame).unwrap();
    frame.resize(60, 0);
    t.raw(frame);

    let syn = f.seg(C2S, f.isn[0], Flags { syn: true, ..Flags::default() }, &[]);
    f.emit(&mut t, syn);

    let mut udp = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 9], 64)
        .udp(40500, 9999)
        .write(&mut udp, b"not-tcp: udp datagram")
        .unwrap();
    t.raw(link.frame(&udp, C2S).0);

    let synack = f.seg(S2C, f.isn[1], Flags { syn: true, ack: true, ..Flags::default() }, &[]);
    f.emit(&mut t, synack);

    let mut icmp = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .icmpv4_echo_request(0x4242, 1)
        .write(&mut icmp, b"not-tcp: icmp echo")
        .unwrap();
    t.raw(link.frame(&icmp, C2S).0);

    f.send_ack(&mut t, C2S);
    // Truncated Ethernet frame: destination MAC and 4 bytes of the source.
    t.raw(vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0]);
    f.send(&mut t, C2S, &req[..40]);

    // Bogus IHL: a TCP segment of this connection at the client's next
    // sequence number, with the IPv4 header length nibble set to 3 (12 bytes).
    let mut bogus = f.ack(C2S);
    bogus.payload = b"XXX".to_vec();
    bogus.flags.psh = true;
    let mut ip = f.ip_packet(&bogus);
    ip[0] = 0x43;
    t.raw(link.frame(&ip, C2S).0);

    f.send(&mut t, C2S, &req[40..]);
    f.send_ack(&mut t, S2C);
    f.send(&mut t, S2C, &resp);
    f.send_ack(&mut t, C2S);
    f.close(&mut t);
    t.intend(f.conn, C2S, &req, &[], End::Fin);
    t.intend(f.conn, S2C, &resp, &[], End::Fin);
    t
}

fn case_port_reuse() -> Trace {
    let link = Link::eth();
    let mut t = Trace::new(
        "port_reuse",
        &link,
        "two connections on the same 4-tuple: the first closed with FIN/FIN/ACK, the second starts 3 s later with a new SYN and higher ISNs",
    );
    let mut f = Flow::new(&mut t, link.clone(), CLIENT, SERVER, [0x4100_0000, 0x4200_0000]);
    let (req1, resp1) = (chunk("first-request", 40), chunk("first-response", 40));
    simple_session(&mut t, &mut f, &[&req1], &[&resp1]);
    t.pause_ms(3000);
    let mut f = Flow::new(&mut t, link, CLIENT, SERVER, [0x4180_0000, 0x4300_0000]);
    let (req2, resp2) = (chunk("second-request", 50), chunk("second-response", 30));
    simple_session(&mut t, &mut f, &[&req2], &[&resp2]);
    t
}

/// A Linux cooked v1 capture of a device with hardware type `arphrd`.
fn sll_hw_case(
    case: &'static str,
    arphrd: u16,
    addr: &[u8],
    description: &'static str,
    ends: (&str, &str),
    isn: [u32; 2],
) -> Trace {
    let link = Link::SllHw { arphrd, addr: addr.to_vec() };
    let mut t = Trace::new(case, &link, description);
    upgrade_session(&mut t, link, ends.0, ends.1, isn);
    t
}

fn case_sll_loopback() -> Trace {
    sll_hw_case(
        "sll_loopback",
        772,
        &[0; 6],
        "Linux cooked v1 from `tcpdump -i any -y LINUX_SLL` on loopback: ARPHRD_LOOPBACK (772), address 00:00:00:00:00:00, IPv4 127.0.0.1",
        ("127.0.0.1:40000", "127.0.0.1:8080"),
        [0x5000_1000, 0x5000_2000],
    )
}

fn case_sll_tun() -> Trace {
    sll_hw_case(
        "sll_tun",
        65534,
        &[],
        "Linux cooked v1 of a tun device: ARPHRD_NONE (65534), no link-layer address",
        ("10.8.0.2:40000", "10.8.0.1:8080"),
        [0x5100_1000, 0x5100_2000],
    )
}

fn case_sll_ppp() -> Trace {
    sll_hw_case(
        "sll_ppp",
        512,
        &[],
        "Linux cooked v1 of a PPP device: ARPHRD_PPP (512), no link-layer address",
        ("100.64.0.2:40000", "100.64.0.1:8080"),
        [0x5200_1000, 0x5200_2000],
    )
}

fn case_sll_ipgre() -> Trace {
    sll_hw_case(
        "sll_ipgre",
        778,
        &[192, 0, 2, 1],
        "Linux cooked v1 of an IP-GRE device: ARPHRD_IPGRE (778), address = the outer IPv4 192.0.2.1, protocol field = GRE protocol type 0x0800, inner IPv4 packet",
        (CLIENT, SERVER),
        [0x5300_1000, 0x5300_2000],
    )
}

/// An upgrade session (or two: `ends` per connection) inside `encaps` (innermost first) on
/// Ethernet.
fn tunnel_case(
    case: &'static str,
    encaps: &[Encap],
    description: &'static str,
    ends: &[(&str, &str)],
    isn: u32,
) -> Trace {
    let link = Link::Tunnelled(encaps.to_vec());
    let mut t = Trace::new(case, &link, description);
    for (i, (client, server)) in ends.iter().enumerate() {
        let base = isn + (i as u32) * 0x0100_0000;
        upgrade_session(&mut t, link.clone(), client, server, [base, base + 0x0080_0000]);
    }
    t
}

fn case_vxlan() -> Trace {
    tunnel_case(
        "vxlan",
        &[Encap::Vxlan],
        "VXLAN (UDP 4789, VNI 42) as AWS VPC Traffic Mirroring sends it: outer IPv4 192.0.2.1/2, inner Ethernet + IPv4",
        &[(CLIENT, SERVER)],
        0x6000_0000,
    )
}

fn case_geneve() -> Trace {
    tunnel_case(
        "geneve",
        &[Encap::Geneve],
        "Geneve (UDP 6081) with one 8-byte option, protocol 0x6558: inner Ethernet + IPv6",
        &[(CLIENT6, SERVER6)],
        0x6100_0000,
    )
}

fn case_gtpu() -> Trace {
    tunnel_case(
        "gtpu",
        &[Encap::GtpU],
        "GTP-U G-PDUs (UDP 2152, TEID 12345) with a sequence number and a PDU session container extension header: inner IPv4",
        &[(CLIENT, SERVER)],
        0x6200_0000,
    )
}

fn case_gre() -> Trace {
    tunnel_case(
        "gre",
        &[Encap::Gre],
        "GRE with checksum, key 0x1234 and sequence number, protocol 0x0800: inner IPv4",
        &[(CLIENT, SERVER)],
        0x6300_0000,
    )
}

fn case_erspan2() -> Trace {
    tunnel_case(
        "erspan2",
        &[Encap::Erspan2],
        "switch SPAN as ERSPAN type II: GRE (sequence number, 0x88be) + 8-byte ERSPAN header (session 5) + inner Ethernet + IPv4",
        &[(CLIENT, SERVER)],
        0x6400_0000,
    )
}

fn case_erspan3() -> Trace {
    tunnel_case(
        "erspan3",
        &[Encap::Erspan3],
        "ERSPAN type III: GRE (0x22eb) + 12-byte header with the O bit + 8-byte platform-specific subheader + inner Ethernet + IPv4",
        &[(CLIENT, SERVER)],
        0x6500_0000,
    )
}

fn case_mpls() -> Trace {
    tunnel_case(
        "mpls",
        &[Encap::Mpls],
        "MPLS (ether type 0x8847), labels 100 and 200 (bottom of stack): inner IPv4",
        &[(CLIENT, SERVER)],
        0x6600_0000,
    )
}

fn case_pppoe() -> Trace {
    tunnel_case(
        "pppoe",
        &[Encap::Pppoe],
        "PPPoE session (ether type 0x8864, session 0x2a): conn 1 PPP IPv4 (0x0021), conn 2 PPP IPv6 (0x0057)",
        &[(CLIENT, SERVER), ("[2001:db8::1]:40001", SERVER6)],
        0x6700_0000,
    )
}

fn case_ipip() -> Trace {
    tunnel_case(
        "ipip",
        &[Encap::IpInIp],
        "IPv4 in IPv4 (IP protocol 4): outer 192.0.2.1/2, inner 10.0.0.1/2",
        &[(CLIENT, SERVER)],
        0x6800_0000,
    )
}

fn case_sixin4() -> Trace {
    tunnel_case(
        "sixin4",
        &[Encap::IpInIp],
        "6in4: IPv6 in IPv4 (IP protocol 41), inner 2001:db8::1/2",
        &[(CLIENT6, SERVER6)],
        0x6900_0000,
    )
}

fn case_nested() -> Trace {
    tunnel_case(
        "nested",
        &[Encap::Vxlan, Encap::Gre],
        "nested tunnels: VXLAN (UDP 4789) inside GRE (0x0800, checksum/key/sequence); inner Ethernet + IPv4",
        &[(CLIENT, SERVER)],
        0x6a00_0000,
    )
}

fn case_mpls_gre() -> Trace {
    tunnel_case(
        "mpls_gre",
        &[Encap::Mpls, Encap::Gre],
        "nested tunnels: MPLS (2 labels) inside GRE (protocol 0x8847, RFC 4023); inner IPv4",
        &[(CLIENT, SERVER)],
        0x6b00_0000,
    )
}

fn case_multilink() -> Trace {
    let (sll2, eth) = (Link::Sll2, Link::eth());
    let mut t = Trace::new(
        "multilink",
        &sll2,
        "pcapng with two interfaces of different link types, as mergecap writes an `any` capture and an Ethernet one: conn 1 on interface 0 (LINUX_SLL2), conn 2 on interface 1 (ETHERNET), packets interleaved",
    );
    t.format = Format::Pcapng;
    let mut a = Flow::new(&mut t, sll2, CLIENT, SERVER, [0x6c00_0000, 0x6c80_0000]);
    let mut b =
        Flow::new(&mut t, eth, "10.0.1.1:40001", "10.0.1.2:8080", [0x6d00_0000, 0x6d80_0000]);
    let req = split(REQUEST, &[20, 66]);
    let resp = split(RESPONSE, &[34]);
    a.handshake(&mut t);
    b.handshake(&mut t);
    for p in &req {
        a.send(&mut t, C2S, p);
        b.send(&mut t, C2S, p);
    }
    a.send_ack(&mut t, S2C);
    b.send_ack(&mut t, S2C);
    for p in &resp {
        b.send(&mut t, S2C, p);
        a.send(&mut t, S2C, p);
    }
    a.send_ack(&mut t, C2S);
    b.send_ack(&mut t, C2S);
    a.close(&mut t);
    b.close(&mut t);
    for f in [&a, &b] {
        t.intend(f.conn, C2S, REQUEST, &[], End::Fin);
        t.intend(f.conn, S2C, RESPONSE, &[], End::Fin);
    }
    t
}

fn main() -> Result<()> {
    let out = std::env::args().nth(1).unwrap_or_else(|| "testdata/captures/crafted".into());
    let out = Path::new(&out);
    fs::create_dir_all(out)?;
    let cases = [
        case_inorder(),
        case_reorder(),
        case_duplicate(),
        case_overlap_conflict(),
        case_hole(),
        case_wraparound(),
        case_sll(),
        case_sll2(),
        case_null(),
        case_vlan(),
        case_ipv6_ext(),
        case_ipv4_frag(),
        case_ipv4_frag_overlap(),
        case_truncated_file(),
        case_snaplen(),
        case_no_syn(),
        case_keepalive_zerowindow(),
        case_rst(),
        case_fin_ooo(),
        case_pcapng(),
        case_nanosecond(),
        case_garbage(),
        case_port_reuse(),
        case_sll_loopback(),
        case_sll_tun(),
        case_sll_ppp(),
        case_sll_ipgre(),
        case_vxlan(),
        case_geneve(),
        case_gtpu(),
        case_gre(),
        case_erspan2(),
        case_erspan3(),
        case_mpls(),
        case_pppoe(),
        case_ipip(),
        case_sixin4(),
        case_nested(),
        case_mpls_gre(),
        case_multilink(),
    ];
    for t in &cases {
        t.write(out).with_context(|| format!("case {}", t.case))?;
        println!("wrote {}", t.case);
    }
    Ok(())
}
