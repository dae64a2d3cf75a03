//! `-w FILE`: writes every packet read (after the BPF filter) to a pcap file, as tcpdump does.

use super::{CaptureStats, EndOfInput, Interrupt, Next, PacketSource};
use crate::error::Error;
use crate::packet::LinkType;
use pcap::{Capture, Linktype, Packet, PacketHeader, Precision, Savefile};
use std::path::Path;

/// A source that also saves what it reads.
pub struct TeeSource {
    inner: Box<dyn PacketSource + Send>,
    out: Savefile,
    link: LinkType,
    path: String,
}

impl TeeSource {
    /// Wraps `inner`, writing its packets to `path` (nanosecond pcap). A pcap file has one link
    /// type: an input with several (a pcapng file) is refused, and one whose later interfaces bring
    /// another ends there, saying so.
    pub fn new(inner: Box<dyn PacketSource + Send>, path: &Path) -> Result<TeeSource, Error> {
        let links = inner.link_types();
        let [link] = links[..] else {
            return Err(Error::Usage(format!(
                "-w writes a pcap file, which has one link type; the input has {}: {}; \
                 split it first (editcap, or tshark -r IN -Y 'frame.interface_id == N' -w OUT)",
                links.len(),
                super::describe_links(&links)
            )));
        };
        let out = Capture::dead_with_precision(Linktype(link.0 as i32), Precision::Nano)
            .and_then(|c| c.savefile(path))
            .map_err(|e| Error::Capture {
                input: path.display().to_string(),
                message: e.to_string(),
            })?;
        Ok(TeeSource { inner, out, link, path: path.display().to_string() })
    }
}

impl PacketSource for TeeSource {
    fn link_types(&self) -> Vec<LinkType> {
        self.inner.link_types()
    }

    fn next_packet(&mut self) -> Next<'_> {
        let next = self.inner.next_packet();
        if let Next::Packet(p) = &next
            && p.link != self.link
        {
            let _ = self.out.flush();
            return Next::End(EndOfInput::Truncated {
                message: format!(
                    "packet {} has link type {}, but {} is a {} pcap file (-w writes one link type)",
                    p.number, p.link, self.path, self.link
                ),
            });
        }
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
