//! pcap and pcapng files (and standard input).
//!
//! - A regular pcapng file is read by [`super::pcapng`], so that each packet keeps its
//!   interface's link type; a BPF filter is compiled per link type ([`super::bpf`]).
//! - Everything else is opened by libpcap, which checks the header and applies BPF filters;
//!   regular classic pcap files without a filter are then read by [`super::classic`].
//! - A regular file that cannot be opened is told apart by its first bytes ([`super::sniff`]):
//!   empty, compressed, cut inside its header, text or unknown, each error with its fix. Standard
//!   input cannot be read twice, so there only libpcap's message tells.
//! - A pipe, FIFO or terminal (standard input too, unless redirected from a file) is copied to
//!   libpcap by [`super::pump`], so that a signal ends a read that would block forever; a signal
//!   before the file header arrived gives an input with no packets.

use super::classic::{ClassicReader, Format};
use super::pcapng::{self, PcapngReader};
use super::pump::{self, Pump};
use super::sniff::{self, Kind};
use super::{CaptureStats, EndOfInput, Iface, Next, PacketSource, RawPacket};
use crate::error::{Access, Error, explain};
use crate::packet::LinkType;
use crate::time::Timestamp;
use pcap::{Capture, Offline, Precision};
use std::io::Read;
use std::os::fd::{AsFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Reads a capture file.
pub struct FileSource {
    pub(super) reader: Reader,
    link: LinkType,
    /// The interface of a file libpcap reads (standard input, pipes, filtered classic files).
    iface: Iface,
    /// What the file header says of the timestamps' precision, when libpcap reads the file
    /// (it hands every timestamp over in nanoseconds).
    decimals: u8,
    /// The thread copying a pipe, FIFO or terminal input for libpcap ([`super::pump`]).
    _pump: Option<Pump>,
}

pub(super) enum Reader {
    Libpcap {
        cap: Capture<Offline>,
        number: u64,
    },
    Classic(ClassicReader),
    Pcapng(Box<PcapngReader>),
    /// A signal came before the input's file header did: an input with no packets.
    Stopped,
}

impl FileSource {
    /// Opens `path` (`-` for standard input) with an optional BPF `filter`.
    pub fn open(path: &Path, filter: Option<&str>) -> Result<FileSource, Error> {
        FileSource::open_with(path, filter, true)
    }

    /// Opens `path` with libpcap reading every packet (for comparing the readers).
    #[doc(hidden)]
    pub fn open_libpcap(path: &Path, filter: Option<&str>) -> Result<FileSource, Error> {
        FileSource::open_with(path, filter, false)
    }

    fn open_with(path: &Path, filter: Option<&str>, ours: bool) -> Result<FileSource, Error> {
        let is_stdin = path == Path::new("-");
        let mut head = None;
        if !is_stdin {
            match std::fs::metadata(path) {
                Err(e) => {
                    return Err(Error::Open {
                        path: path.to_path_buf(),
                        source: explain(e, path, Access::Read),
                    });
                }
                Ok(m) if m.is_dir() => {
                    return Err(Error::IsADirectory { path: path.to_path_buf() });
                }
                // Only a regular file is opened twice (opening a FIFO again could block, reading
                // it would take libpcap's bytes).
                Ok(m) if m.is_file() => {
                    let mut file = std::fs::File::open(path).map_err(|e| Error::Open {
                        path: path.to_path_buf(),
                        source: explain(e, path, Access::Read),
                    })?;
                    let mut bytes = Vec::with_capacity(sniff::PROBE);
                    (&mut file).take(sniff::PROBE as u64).read_to_end(&mut bytes).map_err(|e| {
                        Error::Open {
                            path: path.to_path_buf(),
                            source: explain(e, path, Access::Read),
                        }
                    })?;
                    if ours && bytes.starts_with(&pcapng::MAGIC) {
                        let file = std::fs::File::open(path).map_err(|e| Error::Open {
                            path: path.to_path_buf(),
                            source: explain(e, path, Access::Read),
                        })?;
                        let name = path.display().to_string();
                        match PcapngReader::open(file, &name, filter) {
                            Ok(r) => {
                                let link = r.links().first().copied().unwrap_or(LinkType(0));
                                return Ok(FileSource {
                                    link,
                                    iface: Iface::of_links(&[link]).remove(0),
                                    decimals: 9,
                                    reader: Reader::Pcapng(Box::new(r)),
                                    _pump: None,
                                });
                            }
                            Err(pcapng::OpenError::Truncated(detail)) => {
                                return Err(Error::TruncatedHeader {
                                    path: path.to_path_buf(),
                                    detail: format!("(pcapng) {detail}"),
                                });
                            }
                            Err(pcapng::OpenError::Tool(e)) => return Err(e),
                            // libpcap may read it, or say why not.
                            Err(pcapng::OpenError::Malformed) => {}
                        }
                    }
                    head = Some(bytes);
                }
                Ok(_) => {}
            }
        }
        // A pipe, FIFO or terminal can block forever: libpcap reads it through the pump, which
        // a signal ends. Standard input redirected from a file is read as a file.
        let open_error =
            |e| Error::Open { path: path.to_path_buf(), source: explain(e, path, Access::Read) };
        let piped = if is_stdin {
            let stdin = std::fs::File::from(
                std::io::stdin().as_fd().try_clone_to_owned().map_err(open_error)?,
            );
            let regular = stdin.metadata().is_ok_and(|m| m.is_file());
            if regular {
                // Its magic, where libpcap will start reading, without moving the offset.
                let mut magic = [0u8; 4];
                let at = std::io::Seek::stream_position(&mut &stdin).ok();
                let read = at.map(|at| std::os::unix::fs::FileExt::read_at(&stdin, &mut magic, at));
                if let Some(Ok(4)) = read {
                    head = Some(magic.to_vec());
                }
            }
            (!regular).then(|| OwnedFd::from(stdin))
        } else if head.is_none() {
            // Not a regular file: opened without waiting for a FIFO's writer.
            let f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)
                .map_err(open_error)?;
            Some(OwnedFd::from(f))
        } else {
            None
        };
        let (cap, pump) = match piped {
            Some(fd) => {
                let (read_end, pump) = pump::start(fd).map_err(open_error)?;
                // SAFETY: the pipe's read end is handed over; libpcap owns and closes it.
                let cap = unsafe {
                    Capture::from_raw_fd_with_precision(read_end.into_raw_fd(), Precision::Nano)
                };
                (cap, Some(pump))
            }
            // libpcap takes a file name as text: a name that is not UTF-8 is opened here and
            // handed over as a descriptor ("A null pointer was supplied as the file name").
            None if path.to_str().is_none() => {
                let file = std::fs::File::open(path).map_err(open_error)?;
                // SAFETY: the descriptor is handed over; libpcap owns and closes it.
                let cap = unsafe {
                    Capture::from_raw_fd_with_precision(file.into_raw_fd(), Precision::Nano)
                };
                (cap, None)
            }
            None => (Capture::from_file_with_precision(path, Precision::Nano), None),
        };
        let mut cap = match cap {
            Ok(cap) => cap,
            Err(_) if pump.is_some() && crate::signals::received().is_some() => {
                return Ok(FileSource {
                    reader: Reader::Stopped,
                    link: LinkType(0),
                    iface: Iface::of_links(&[LinkType(0)]).remove(0),
                    decimals: 9,
                    _pump: None,
                });
            }
            Err(e) => return Err(classify_open_error(path, e, head.as_deref())),
        };
        let link = super::prepare(&mut cap, &path.display().to_string(), filter)?;
        let snaplen = snapshot(&cap);
        // libpcap accepted the header; a regular classic pcap file without a filter is read in
        // blocks (if opening it again fails, libpcap keeps reading).
        let classic = (ours && !is_stdin && head.is_some() && filter.is_none())
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
        // A classic pcap header's magic says microseconds or nanoseconds (a pipe's first bytes
        // passed through the pump, which kept them: libpcap read the header to open it).
        let first = head.as_deref().and_then(|h| h.get(..4)).map(|m| [m[0], m[1], m[2], m[3]]);
        let decimals = match first.or_else(|| pump.as_ref().and_then(Pump::magic)) {
            Some([0xa1, 0xb2, 0xc3, 0xd4] | [0xd4, 0xc3, 0xb2, 0xa1]) => 6,
            _ => 9,
        };
        let iface = Iface { snaplen, ..Iface::of_links(&[link]).remove(0) };
        Ok(FileSource { link, iface, reader, decimals, _pump: pump })
    }
}

unsafe extern "C" {
    /// libpcap's snapshot length of an open capture (the `pcap` crate does not expose it).
    fn pcap_snapshot(p: *mut libc::c_void) -> libc::c_int;
}

/// The snapshot length libpcap read from the file header (as it adjusts it: 0 or out of range
/// becomes its maximum), so that `-w` writes the input's.
fn snapshot(cap: &Capture<Offline>) -> u32 {
    // SAFETY: the handle is open for as long as `cap` lives; pcap_snapshot only reads it.
    let n = unsafe { pcap_snapshot(cap.as_ptr().cast()) };
    u32::try_from(n).unwrap_or(0)
}

/// The error for a file libpcap refused: what its first bytes (`head`, when the file could be
/// read twice) say it is, else libpcap's message.
fn classify_open_error(path: &Path, e: pcap::Error, head: Option<&[u8]>) -> Error {
    let message = e.to_string();
    let path: PathBuf = path.to_path_buf();
    match head.map(sniff::kind) {
        Some(Kind::Empty) => return Error::EmptyCapture { path },
        Some(Kind::Compressed { format, cat }) => return Error::Compressed { path, format, cat },
        Some(Kind::PcapHeaderCut) => {
            let have = head.map_or(0, <[u8]>::len);
            return Error::TruncatedHeader {
                path,
                detail: format!("truncated inside its file header ({have} of 24 bytes)"),
            };
        }
        Some(Kind::Pcapng)
            if head.is_some_and(|h| h.len() < 4) || message.contains("truncated") =>
        {
            return Error::TruncatedHeader {
                path,
                detail: format!(
                    "(pcapng) truncated inside its section/interface header ({message})"
                ),
            };
        }
        Some(Kind::Text) => return Error::TextNotCapture { path },
        _ => {}
    }
    // Standard input: only libpcap's message tells (it read 0 bytes of an empty input).
    if head.is_none() && message.contains("only got 0") {
        return Error::EmptyCapture { path };
    }
    let not_a_capture =
        ["unknown file format", "bad dump file format", "truncated dump file", "truncated pcapng"];
    if not_a_capture.iter().any(|m| message.contains(m)) {
        Error::NotACapture { path, message }
    } else {
        Error::Capture { input: path.display().to_string(), message }
    }
}

impl PacketSource for FileSource {
    fn set_key_store(&mut self, store: std::sync::Arc<crate::tls::KeyStore>) {
        if let Reader::Pcapng(r) = &mut self.reader {
            r.set_key_store(store);
        }
    }

    fn no_secrets_wanted(&mut self) {
        if let Reader::Pcapng(r) = &mut self.reader {
            r.no_secrets_wanted();
        }
    }

    fn ts_decimals(&self) -> u8 {
        match &self.reader {
            Reader::Classic(r) => r.ts_decimals(),
            Reader::Pcapng(r) => r.ts_decimals(),
            Reader::Libpcap { .. } | Reader::Stopped => self.decimals,
        }
    }

    fn fixed_ts_decimals(&self) -> Option<u8> {
        match &self.reader {
            Reader::Classic(r) => Some(r.ts_decimals()),
            // A classic header's magic said microseconds; libpcap may read pcapng too.
            Reader::Libpcap { .. } => (self.decimals == 6).then_some(6),
            Reader::Pcapng(_) | Reader::Stopped => None,
        }
    }

    fn link_types(&self) -> Vec<LinkType> {
        match &self.reader {
            Reader::Pcapng(r) => r.links().to_vec(),
            Reader::Stopped => Vec::new(),
            _ => vec![self.link],
        }
    }

    fn reread(&self) -> Option<std::sync::Arc<dyn crate::tcp::ReadBack>> {
        let file = match &self.reader {
            Reader::Classic(r) => r.reread(),
            Reader::Pcapng(r) => r.reread(),
            _ => None,
        };
        file.map(|f| f as std::sync::Arc<dyn crate::tcp::ReadBack>)
    }

    fn interfaces(&self) -> Vec<Iface> {
        match &self.reader {
            Reader::Classic(r) => vec![r.iface().clone()],
            Reader::Pcapng(r) => r.interfaces().to_vec(),
            Reader::Libpcap { .. } | Reader::Stopped => vec![self.iface.clone()],
        }
    }

    fn next_packet(&mut self) -> Next<'_> {
        let link = self.link;
        let iface = &self.iface;
        let (cap, number) = match &mut self.reader {
            Reader::Classic(r) => return r.next_packet(),
            Reader::Pcapng(r) => return r.next_packet(),
            Reader::Stopped => return Next::End(EndOfInput::Clean),
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
                    link,
                    iface: Some(iface),
                    secrets: &[],
                    file_offset: None,
                })
            }
            Err(pcap::Error::NoMorePackets) => Next::End(EndOfInput::Clean),
            Err(e) => {
                let mut message = e.to_string();
                if message.contains("different from the type of the first interface") {
                    // libpcap reads standard input: it refuses pcapng files with several link
                    // types; wsscope reads them itself from a file.
                    message += "; save the capture to a file and give its path: wsscope reads \
                                pcapng files with several link types itself";
                }
                Next::End(EndOfInput::Truncated { message })
            }
        }
    }

    fn capture_stats(&mut self) -> CaptureStats {
        CaptureStats::default()
    }
}

/// A capture file read again at an offset (`pread`, which does not move the reader's position).
impl crate::tcp::ReadBack for std::fs::File {
    fn read_back(&self, offset: u64, buf: &mut [u8]) -> bool {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset).is_ok()
    }
}
