//! pcap and pcapng files (and standard input): opened by libpcap, which checks the header and
//! applies BPF filters; classic pcap files without a filter are then read by [`super::classic`].

use super::classic::{ClassicReader, Format};
use super::{CaptureStats, EndOfInput, Next, PacketSource, RawPacket};
use crate::error::Error;
use crate::packet::LinkType;
use crate::time::Timestamp;
use pcap::{Capture, Offline, Precision};
use std::path::{Path, PathBuf};

/// Reads a capture file.
pub struct FileSource {
    pub(super) reader: Reader,
    link: LinkType,
}

pub(super) enum Reader {
    Libpcap { cap: Capture<Offline>, number: u64 },
    Classic(ClassicReader),
}

impl FileSource {
    /// Opens `path` (`-` for standard input) with an optional BPF `filter`.
    pub fn open(path: &Path, filter: Option<&str>) -> Result<FileSource, Error> {
        FileSource::open_with(path, filter, true)
    }

    /// Opens `path` with libpcap reading every packet (for comparing the two readers).
    #[doc(hidden)]
    pub fn open_libpcap(path: &Path, filter: Option<&str>) -> Result<FileSource, Error> {
        FileSource::open_with(path, filter, false)
    }

    fn open_with(path: &Path, filter: Option<&str>, classic: bool) -> Result<FileSource, Error> {
        let is_stdin = path == Path::new("-");
        let mut regular = false;
        if !is_stdin {
            match std::fs::metadata(path) {
                Err(e) => return Err(Error::Open { path: path.to_path_buf(), source: e }),
                Ok(m) if m.is_dir() => {
                    return Err(Error::IsADirectory { path: path.to_path_buf() });
                }
                Ok(m) => regular = m.is_file(),
            }
        }
        let mut cap = Capture::from_file_with_precision(path, Precision::Nano)
            .map_err(|e| classify_open_error(path, e))?;
        let link = super::prepare(&mut cap, &path.display().to_string(), filter)?;
        // libpcap accepted the header. Only a regular file is opened a second time (opening a
        // FIFO again could block, reading it would take libpcap's bytes); if that fails, libpcap
        // keeps reading.
        let classic = (classic && regular && filter.is_none())
            .then(|| {
                let mut file = std::fs::File::open(path).ok()?;
                let format = Format::probe(&mut file, link)?;
                ClassicReader::new(file, format).ok()
            })
            .flatten();
        let reader = match classic {
            Some(r) => Reader::Classic(r),
            None => Reader::Libpcap { cap, number: 0 },
        };
        Ok(FileSource { link, reader })
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
        let (cap, number) = match &mut self.reader {
            Reader::Classic(r) => return r.next_packet(),
            Reader::Libpcap { cap, number } => (cap, number),
        };
        match cap.next_packet() {
            Ok(p) => {
                *number += 1;
                // Opened with nanosecond precision: tv_usec holds nanoseconds.
                let ts = Timestamp::from_secs_nanos(p.header.ts.tv_sec, p.header.ts.tv_usec);
                Next::Packet(RawPacket {
                    number: *number,
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
