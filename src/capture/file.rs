//! pcap and pcapng files (and standard input) through libpcap.

use super::{CaptureStats, EndOfInput, Next, PacketSource, RawPacket};
use crate::error::Error;
use crate::packet::LinkType;
use crate::time::Timestamp;
use pcap::{Capture, Offline, Precision};
use std::path::{Path, PathBuf};

/// Reads a capture file.
pub struct FileSource {
    cap: Capture<Offline>,
    link: LinkType,
    number: u64,
}

impl FileSource {
    /// Opens `path` (`-` for standard input) with an optional BPF `filter`.
    pub fn open(path: &Path, filter: Option<&str>) -> Result<FileSource, Error> {
        let is_stdin = path == Path::new("-");
        if !is_stdin {
            match std::fs::metadata(path) {
                Err(e) => return Err(Error::Open { path: path.to_path_buf(), source: e }),
                Ok(m) if m.is_dir() => {
                    return Err(Error::IsADirectory { path: path.to_path_buf() });
                }
                Ok(_) => {}
            }
        }
        let mut cap = Capture::from_file_with_precision(path, Precision::Nano)
            .map_err(|e| classify_open_error(path, e))?;
        let link = super::prepare(&mut cap, &path.display().to_string(), filter)?;
        Ok(FileSource { link, cap, number: 0 })
    }
}

fn classify_open_error(path: &Path, e: pcap::Error) -> Error {
    let message = e.to_string();
    let path: PathBuf = path.to_path_buf();
    let not_a_capture =
        ["unknown file format", "bad dump file format", "truncated dump file", "truncated pcapng"];
    if not_a_capture.iter().any(|m| message.contains(m)) {
        Error::NotACapture { path, message }
    } else {
        Error::Capture { input: path.display().to_string(), message }
    }
}

impl PacketSource for FileSource {
    fn link_type(&self) -> LinkType {
        self.link
    }

    fn next_packet(&mut self) -> Next<'_> {
        match self.cap.next_packet() {
            Ok(p) => {
                self.number += 1;
                // Opened with nanosecond precision: tv_usec holds nanoseconds.
                let ts = Timestamp::from_secs_nanos(p.header.ts.tv_sec, p.header.ts.tv_usec);
                Next::Packet(RawPacket {
                    number: self.number,
                    ts,
                    wire_len: p.header.len,
                    data: p.data,
                })
            }
            Err(pcap::Error::NoMorePackets) => Next::End(EndOfInput::Clean),
            Err(e) => Next::End(EndOfInput::Truncated { message: e.to_string() }),
        }
    }

    fn capture_stats(&mut self) -> CaptureStats {
        CaptureStats::default()
    }
}
