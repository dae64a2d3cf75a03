//! Ethernet/IP/TCP segments and pcap records written by the capture generators (`gen_bulk.rs`
//! and the `reassembly` benchmark), with etherparse's `PacketBuilder`.

use anyhow::Result;
use etherparse::{PacketBuilder, TcpOptionElement};
use pcap::{Packet, PacketHeader, Savefile};

/// MAC addresses of the client (index 0) and the server (index 1).
pub const MACS: [[u8; 6]; 2] = [[0x02, 0, 0, 0, 0, 0x01], [0x02, 0, 0, 0, 0, 0x02]];

/// The IP addresses of a connection: client first, server second.
#[derive(Clone, Copy, Debug)]
pub enum Addrs {
    V4([[u8; 4]; 2]),
    V6([[u8; 16]; 2]),
}

/// TCP flags besides ACK (which is set when there is an acknowledgment number).
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    pub syn: bool,
    pub fin: bool,
    pub psh: bool,
}

#[allow(dead_code)] // each generator uses some of them
impl Flags {
    pub const NONE: Flags = Flags { syn: false, fin: false, psh: false };
    pub const SYN: Flags = Flags { syn: true, fin: false, psh: false };
    pub const FIN: Flags = Flags { syn: false, fin: true, psh: false };
    pub const PSH: Flags = Flags { syn: false, fin: false, psh: true };
}

/// One TCP segment from side `from` (0 = client, 1 = server) of a connection.
pub struct Segment<'a> {
    pub addrs: Addrs,
    pub ports: [u16; 2],
    pub from: usize,
    pub seq: u32,
    pub ack: Option<u32>,
    pub flags: Flags,
    pub window: u16,
    /// TCP timestamp option: value and echo reply.
    pub timestamp: (u32, u32),
    /// The MSS option of a SYN.
    pub mss: u16,
    pub payload: &'a [u8],
}

impl Segment<'_> {
    /// Writes the Ethernet frame into `frame` (cleared first). A SYN carries MSS, SACK-permitted,
    /// timestamps and window scale 7; other segments two NOPs and timestamps.
    pub fn write(&self, frame: &mut Vec<u8>) -> Result<()> {
        let (from, to) = (self.from, 1 - self.from);
        let eth = PacketBuilder::ethernet2(MACS[from], MACS[to]);
        let ip = match self.addrs {
            Addrs::V4(a) => eth.ipv4(a[from], a[to], 64),
            Addrs::V6(a) => eth.ipv6(a[from], a[to], 64),
        };
        let mut tcp = ip.tcp(self.ports[from], self.ports[to], self.seq, self.window);
        if self.flags.syn {
            tcp = tcp.syn();
        }
        if self.flags.fin {
            tcp = tcp.fin();
        }
        if self.flags.psh {
            tcp = tcp.psh();
        }
        if let Some(a) = self.ack {
            tcp = tcp.ack(a);
        }
        let ts = TcpOptionElement::Timestamp(self.timestamp.0, self.timestamp.1);
        let tcp = if self.flags.syn {
            use TcpOptionElement::{MaximumSegmentSize, Noop, SelectiveAcknowledgementPermitted};
            tcp.options(&[
                MaximumSegmentSize(self.mss),
                SelectiveAcknowledgementPermitted,
                ts,
                Noop,
                TcpOptionElement::WindowScale(7),
            ])?
        } else {
            tcp.options(&[TcpOptionElement::Noop, TcpOptionElement::Noop, ts])?
        };
        frame.clear();
        tcp.write(frame, self.payload)?;
        Ok(())
    }
}

/// Appends `frame` to `out` as a record captured at `ts_ns` (microsecond pcap).
pub fn write_record(out: &mut Savefile, ts_ns: u64, frame: &[u8]) {
    let len = frame.len() as u32;
    let hdr = PacketHeader {
        ts: libc::timeval {
            tv_sec: (ts_ns / 1_000_000_000) as libc::time_t,
            tv_usec: (ts_ns % 1_000_000_000 / 1000) as libc::suseconds_t,
        },
        caplen: len,
        len,
    };
    out.write(&Packet::new(&hdr, frame));
}
