//! `-w FILE`: writes every packet read (after the BPF filter) to a pcap file, as tcpdump does.

use super::{CaptureStats, EndOfInput, Interrupt, Next, PacketSource};
use crate::error::Error;
use crate::outfile::OutFile;
use crate::packet::LinkType;
use pcap::{Capture, Linktype, Packet, PacketHeader, Precision, Savefile};
use std::os::fd::IntoRawFd;

/// A source that also saves what it reads.
pub struct TeeSource {
    inner: Box<dyn PacketSource + Send>,
    /// libpcap's writer; `None` once closed.
    out: Option<Savefile>,
    /// The file it writes, moved into place when closed.
    file: Option<OutFile>,
    link: LinkType,
    path: String,
    /// Packets written.
    written: u64,
}

impl TeeSource {
    /// Wraps `inner`, writing its packets to `file` (nanosecond pcap; see [`crate::outfile`] for
    /// how it was created). A pcap file has one link type: an input with several (a pcapng file)
    /// is refused, and one whose later interfaces bring another ends there, saying so.
    pub fn new(inner: Box<dyn PacketSource + Send>, mut file: OutFile) -> Result<TeeSource, Error> {
        let links = inner.link_types();
        let [link] = links[..] else {
            return Err(Error::Usage(format!(
                "-w writes a pcap file, which has one link type; the input has {}: {}; \
                 split it first (editcap, or tshark -r IN -Y 'frame.interface_id == N' -w OUT)",
                links.len(),
                super::describe_links(&links)
            )));
        };
        let path = file.path().display().to_string();
        let fd = file.take_file().map(IntoRawFd::into_raw_fd);
        let capture_error = |message: String| Error::Capture { input: path.clone(), message };
        let dead = Capture::dead_with_precision(Linktype(link.0 as i32), Precision::Nano)
            .map_err(|e| capture_error(e.to_string()))?;
        let Some(fd) = fd else { return Err(capture_error("the file is not open".into())) };
        // SAFETY: `fd` is an open file descriptor this function owns (taken out of `file`);
        // the Savefile becomes its only owner and closes it.
        let out = unsafe { dead.savefile_raw_fd(fd) }.map_err(|e| capture_error(e.to_string()))?;
        Ok(TeeSource { inner, out: Some(out), file: Some(file), link, path, written: 0 })
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
            if let Some(out) = &mut self.out {
                let _ = out.flush();
            }
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
            if let Some(out) = &mut self.out {
                out.write(&Packet::new(&header, p.data));
                self.written += 1;
            }
        }
        if let (Next::End(_), Some(out)) = (&next, &mut self.out) {
            let _ = out.flush();
        }
        next
    }

    fn capture_stats(&mut self) -> CaptureStats {
        self.inner.capture_stats()
    }

    fn interrupt_handle(&mut self) -> Option<Interrupt> {
        self.inner.interrupt_handle()
    }

    fn stop(&mut self) {
        self.inner.stop();
    }

    fn is_live(&self) -> bool {
        self.inner.is_live()
    }

    fn set_nonblocking(&mut self) {
        self.inner.set_nonblocking();
    }

    fn close(&mut self) -> Result<(), Error> {
        let flushed = match self.out.take() {
            Some(mut out) => out.flush(),
            None => Ok(()),
        };
        // The Savefile is dropped: libpcap has closed the file.
        let file = self.file.take();
        flushed.map_err(|e| Error::Capture { input: self.path.clone(), message: e.to_string() })?;
        file.map_or(Ok(()), OutFile::commit)?;
        self.inner.close()
    }
}

impl Drop for TeeSource {
    /// Packets written are kept even when the run did not close the source (an error, a
    /// panic): moved into place, best effort. A run that failed before any packet leaves no
    /// file (and replaces none).
    fn drop(&mut self) {
        if self.written > 0 {
            let _ = self.close();
        }
    }
}
