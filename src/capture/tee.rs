//! `-w FILE`: writes every packet read (after the BPF filter) to a pcap file, as tcpdump does.

use super::{CaptureStats, Interrupt, Next, PacketSource};
use crate::error::Error;
use crate::packet::LinkType;
use pcap::{Capture, Linktype, Packet, PacketHeader, Precision, Savefile};
use std::path::Path;

/// A source that also saves what it reads.
pub struct TeeSource {
    inner: Box<dyn PacketSource + Send>,
    out: Savefile,
}

impl TeeSource {
    /// Wraps `inner`, writing its packets to `path` (nanosecond pcap).
    pub fn new(inner: Box<dyn PacketSource + Send>, path: &Path) -> Result<TeeSource, Error> {
        let link = Linktype(inner.link_type().0 as i32);
        let out = Capture::dead_with_precision(link, Precision::Nano)
            .and_then(|c| c.savefile(path))
            .map_err(|e| Error::Capture {
                input: path.display().to_string(),
                message: e.to_string(),
            })?;
        Ok(TeeSource { inner, out })
    }
}

impl PacketSource for TeeSource {
    fn link_type(&self) -> LinkType {
        self.inner.link_type()
    }

    fn next_packet(&mut self) -> Next<'_> {
        let next = self.inner.next_packet();
        if let Next::Packet(p) = &next {
            let nanos = p.ts.as_nanos();
            let header = PacketHeader {
                ts: libc::timeval {
                    tv_sec: nanos.div_euclid(1_000_000_000) as libc::time_t,
                    // Nanosecond files keep nanoseconds in the sub-second field.
                    tv_usec: nanos.rem_euclid(1_000_000_000) as libc::suseconds_t,
                },
                caplen: p.data.len() as u32,
                len: p.wire_len,
            };
            self.out.write(&Packet::new(&header, p.data));
        }
        if matches!(next, Next::End(_)) {
            let _ = self.out.flush();
        }
        next
    }

    fn capture_stats(&mut self) -> CaptureStats {
        self.inner.capture_stats()
    }

    fn interrupt_handle(&mut self) -> Option<Interrupt> {
        self.inner.interrupt_handle()
    }
}

impl Drop for TeeSource {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}
