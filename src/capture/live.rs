//! Live capture from a network interface through libpcap.

use super::{CaptureStats, EndOfInput, Interrupt, Next, PacketSource, RawPacket};
use crate::error::Error;
use crate::packet::LinkType;
use crate::time::Timestamp;
use pcap::{Active, Capture, Device};

/// How long libpcap waits for packets before returning, so the caller can see a shutdown request.
const READ_TIMEOUT_MS: i32 = 100;

/// Captures from an interface.
pub struct LiveSource {
    cap: Capture<Active>,
    link: LinkType,
    number: u64,
}

/// Names of the interfaces libpcap can capture on.
pub fn list_interfaces() -> Vec<String> {
    Device::list().map(|v| v.into_iter().map(|d| d.name).collect()).unwrap_or_default()
}

impl LiveSource {
    /// Opens `interface` with an optional BPF `filter` and snapshot length.
    pub fn open(interface: &str, filter: Option<&str>, snaplen: i32) -> Result<LiveSource, Error> {
        let known = list_interfaces();
        if !known.iter().any(|n| n == interface) {
            return Err(Error::UnknownInterface { name: interface.to_string(), available: known });
        }
        let mut cap = Capture::from_device(interface)
            .and_then(|c| c.snaplen(snaplen).timeout(READ_TIMEOUT_MS).immediate_mode(true).open())
            .map_err(|e| classify_live_error(interface, e))?;
        let link = super::prepare(&mut cap, interface, filter)?;
        Ok(LiveSource { cap, link, number: 0 })
    }
}

fn classify_live_error(interface: &str, e: pcap::Error) -> Error {
    let message = e.to_string();
    if message.contains("ermission") || message.contains("not permitted") {
        Error::Permission { interface: interface.to_string(), message }
    } else {
        Error::Capture { input: interface.to_string(), message }
    }
}

impl PacketSource for LiveSource {
    fn link_types(&self) -> Vec<LinkType> {
        vec![self.link]
    }

    fn next_packet(&mut self) -> Next<'_> {
        match self.cap.next_packet() {
            Ok(p) => {
                self.number += 1;
                let ts = Timestamp::from_secs_nanos(
                    p.header.ts.tv_sec,
                    p.header.ts.tv_usec.saturating_mul(1000),
                );
                Next::Packet(RawPacket {
                    number: self.number,
                    ts,
                    wire_len: p.header.len,
                    data: p.data,
                    link: self.link,
                })
            }
            Err(pcap::Error::TimeoutExpired) => Next::Timeout,
            Err(pcap::Error::NoMorePackets) => Next::End(EndOfInput::Clean),
            Err(e) => Next::End(EndOfInput::Truncated { message: e.to_string() }),
        }
    }

    fn capture_stats(&mut self) -> CaptureStats {
        self.cap
            .stats()
            .map(|s| CaptureStats {
                received: s.received.into(),
                dropped: s.dropped.into(),
                if_dropped: s.if_dropped.into(),
            })
            .unwrap_or_default()
    }

    fn interrupt_handle(&mut self) -> Option<Interrupt> {
        Some(Interrupt(self.cap.breakloop_handle()))
    }
}
