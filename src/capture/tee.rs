//! `-w FILE`: writes every packet read (after the BPF filter) to a pcap or pcapng file, as
//! tcpdump does, in one file or rotated (`-C`, `-G`, `-W`).
//!
//! - **Format.** pcapng when the name ends in `.pcapng`, else nanosecond pcap
//!   ([`Format::for_path`], written by [`super::savefile`]). A pcap file has one link type: an
//!   input with several (a pcapng file) is refused before anything is read, and one whose later
//!   interface brings another ends there, saying so; a `.pcapng` name keeps them all.
//! - **Rotation.** Before a packet is written, a new file starts when the current one holds a
//!   packet already and either the packet would make it larger than `-C` bytes, or the packet
//!   is `-G` or more (packet time) after the current file's first packet. Files are named
//!   `ws.pcap`, `ws.1.pcap`, `ws.2.pcap`, … (the number before the extension).
//! - **Files.** Each is created by [`OutFile`] (never over an input or through a link; an
//!   existing file refused unless `--force`; with rotation, a name it could come to that an
//!   earlier run left is refused at the start, [`existing_piece`]) and committed when rotation
//!   closes it. A file that cannot be created or written ends the input there: the packets
//!   before it are analysed and saved, and [`PacketSource::close`] returns the error (exit
//!   status 2, once every output is written: `run::Outcome::failed`).
//! - **`-W COUNT`.** When a new file starts and the run has written more than COUNT, the oldest
//!   is removed — only if it is still the file this run wrote (same device and inode).

use super::savefile::{Format, SaveWriter};
use super::{CaptureStats, EndOfInput, Iface, Next, PacketSource, RawPacket};
use crate::config::{Rotation, Save};
use crate::error::Error;
use crate::outfile::{FileId, OutFile, Protected};
use crate::packet::LinkType;
use crate::time::Timestamp;
use std::collections::{HashSet, VecDeque};
use std::ffi::OsStr;
use std::io::{BufWriter, IntoInnerError};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bytes buffered before a write to the file.
const BUFFER: usize = 64 << 10;

/// TLS secrets kept for the files of a rotation (beyond, each file keeps those given beside its
/// own packets): as many as a capture may give.
const MAX_SECRETS: usize = super::MAX_CAPTURE_SECRETS;

/// A source that also saves what it reads.
pub struct TeeSource {
    inner: Box<dyn PacketSource + Send>,
    saver: Saver,
    /// Packets were saved since the last read timeout.
    saved: bool,
    /// The last read timeout that followed saved packets (live capture: when it was last busy).
    busy_at: Option<Instant>,
    /// When the file was last brought up to date at a read timeout.
    flushed_at: Option<Instant>,
    /// Packets still to save (`--count`), or `None` for all.
    left: Option<u64>,
}

/// A live capture that never idles long enough still has its file brought up to date this often
/// (at a read timeout: when the kernel's buffer was just emptied).
const BUSY_FLUSH: Duration = Duration::from_secs(1);

/// A live capture's file is brought up to date once the capture has been idle this long: read
/// timeouts (nothing ready) with no packet between them. A source with nothing to read times
/// out at least every 100 ms; one that keeps getting packets writes its file in blocks.
const IDLE_FLUSH: Duration = Duration::from_millis(100);

/// The file being written.
struct Current {
    writer: SaveWriter<BufWriter<OutFile>>,
    path: PathBuf,
    id: Option<FileId>,
    /// The time of its first packet (`-G`).
    first: Option<Timestamp>,
    /// Bytes of the secrets it starts with, which `-C` does not count (else secrets as large
    /// as `-C` would give every packet a file of its own, each repeating them).
    preamble: u64,
}

/// Everything but the input: kept apart so that it can be used while a packet borrows it.
struct Saver {
    base: PathBuf,
    format: Format,
    /// Timestamps in microseconds: the input's, which cannot become finer.
    micro: bool,
    rotation: Rotation,
    protected: Protected,
    force: bool,
    /// [`Save::packet_buffered`].
    packet_buffered: bool,
    /// The link types known so far (pcap: the file's one link type).
    links: Vec<LinkType>,
    /// The input's interfaces known so far: those a new file describes up front (pcap: its
    /// snapshot length). `known`: their ids, looked up per packet.
    ifaces: Vec<Iface>,
    known: HashSet<u32>,
    /// The input's TLS secrets so far (at most [`MAX_SECRETS`]): a new pcapng file starts with
    /// them, so that each file of a rotation can be decrypted alone.
    secrets: Vec<u8>,
    /// `None` once closed, or after a new file could not be created.
    current: Option<Current>,
    /// The files this run finished, oldest first (kept only for `-W`).
    finished: VecDeque<(PathBuf, FileId)>,
    /// Files started.
    files: u64,
    /// Packets written, in every file.
    written: u64,
    /// The error that ended the input, returned by `close`.
    error: Option<Error>,
}

/// The name of the `n`th file of a rotation: `ws.pcap` for 0, then `ws.1.pcap`, `ws.2.pcap`, …
/// (`ws`, `ws.1`, … without an extension; a leading dot does not start an extension).
pub fn numbered(base: &Path, n: u64) -> PathBuf {
    let Some(name) = base.file_name().filter(|_| n > 0) else { return base.to_path_buf() };
    let (stem, ext) = stem_and_extension(name.as_bytes());
    let mut new = stem.to_vec();
    new.extend(format!(".{n}").as_bytes());
    new.extend(ext);
    base.with_file_name(OsStr::from_bytes(&new))
}

/// A file name split before its last dot (`ws` and `.pcap`); a leading dot does not start an
/// extension.
fn stem_and_extension(name: &[u8]) -> (&[u8], &[u8]) {
    match name.iter().rposition(|&b| b == b'.') {
        Some(i) if i > 0 => name.split_at(i),
        _ => (name, &[]),
    }
}

/// A file beside `base` named as a later file of its rotation ([`numbered`] with n ≥ 1), if
/// there is one: a rotation is refused at its start rather than when it reaches that name,
/// which would end the input halfway (and, with `-W`, after removing this run's older files).
fn existing_piece(base: &Path) -> Option<PathBuf> {
    let (stem, ext) = stem_and_extension(base.file_name()?.as_bytes());
    let dir = match base.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::read_dir(dir).ok()?.flatten().map(|e| e.file_name()).find_map(|found| {
        let n = found.as_bytes().strip_prefix(stem)?.strip_prefix(b".")?.strip_suffix(ext)?;
        let number = std::str::from_utf8(n).ok()?.parse::<u64>().ok().filter(|n| *n > 0)?;
        (numbered(base, number).file_name() == Some(found.as_os_str()))
            .then(|| base.with_file_name(&found))
    })
}

impl TeeSource {
    /// Wraps `inner`, writing its packets as `save` says, to files created for a run whose
    /// inputs are `protected` (`force`: replace existing files). The first file is created
    /// here, so a refused name fails before anything is read.
    pub fn new(
        inner: Box<dyn PacketSource + Send>,
        save: &Save,
        protected: Protected,
        force: bool,
    ) -> Result<TeeSource, Error> {
        let format = Format::for_path(&save.path);
        let links = inner.link_types();
        let ifaces = inner.interfaces();
        if format == Format::Pcap && links.len() != 1 {
            return Err(Error::Usage(format!(
                "-w {} writes a pcap file, which has one link type; the input has {}: {}; name \
                 the file .pcapng to keep them all, or split the input first (editcap, or \
                 tshark -r IN -Y 'frame.interface_id == N' -w OUT)",
                save.path.display(),
                links.len(),
                super::describe_links(&links)
            )));
        }
        if save.rotation.is_on() {
            // Files created after privileges are given up: checked then (-Z).
            crate::outfile::will_write_later("-w", &save.path);
            if !force && let Some(old) = existing_piece(&save.path) {
                return Err(Error::Usage(format!(
                    "-w {}: {} exists (an earlier run's piece?), and this rotation would come to \
                     its name; remove the old pieces, choose another name, or add --force to \
                     replace them as the rotation reaches them",
                    save.path.display(),
                    old.display()
                )));
            }
        }
        let mut saver = Saver {
            base: save.path.clone(),
            format,
            micro: inner.fixed_ts_decimals().is_some_and(|d| d <= 6),
            rotation: save.rotation,
            protected,
            force,
            packet_buffered: save.packet_buffered,
            links,
            known: ifaces.iter().map(|i| i.id).collect(),
            ifaces,
            secrets: Vec::new(),
            current: None,
            finished: VecDeque::new(),
            files: 0,
            written: 0,
            error: None,
        };
        saver.start()?;
        if let (true, Some(c)) = (save.rotation.is_on(), &saver.current)
            && c.writer_is_device()
        {
            return Err(Error::Usage(format!(
                "-C and -G write numbered files: give -w a file name, not the device {}",
                save.path.display()
            )));
        }
        Ok(TeeSource { inner, saver, saved: false, busy_at: None, flushed_at: None, left: None })
    }

    /// Saves at most `max` packets (`--count`), or all with `None`.
    pub fn with_limit(mut self, max: Option<u64>) -> Self {
        self.left = max;
        self
    }
}

impl Current {
    fn writer_is_device(&self) -> bool {
        self.id.is_none()
    }
}

/// The error for writing `path`.
fn output_error(path: &Path, e: std::io::Error) -> Error {
    Error::Output {
        what: format!("-w {}", path.display()),
        source: crate::error::explain(e, path, crate::error::Access::Write),
    }
}

impl Saver {
    /// Creates the next file and writes its header.
    fn start(&mut self) -> Result<(), Error> {
        let path = numbered(&self.base, self.files);
        let file = OutFile::create("-w", &path, &self.protected, self.force)?;
        let id = file.id();
        let ifaces: Vec<Iface> = match (self.format, self.links.first()) {
            (Format::Pcap, Some(link)) => {
                let of_link: Vec<Iface> =
                    self.ifaces.iter().filter(|i| i.link == *link).cloned().collect();
                // A source that describes its interfaces by link types alone.
                if of_link.is_empty() { Iface::of_links(&[*link]) } else { of_link }
            }
            _ => self.ifaces.clone(),
        };
        let mut writer = SaveWriter::with_precision(
            BufWriter::with_capacity(BUFFER, file),
            self.format,
            &ifaces,
            self.micro,
        )
        .map_err(|e| output_error(&path, e))?;
        let before = writer.bytes();
        writer.secrets(&self.secrets).map_err(|e| output_error(&path, e))?;
        let preamble = writer.bytes() - before;
        self.files += 1;
        self.current = Some(Current { writer, path, id, first: None, preamble });
        Ok(())
    }

    /// Flushes and commits the current file, keeping what reached it even when a write failed.
    fn finish(&mut self) -> Result<(), Error> {
        let Some(c) = self.current.take() else { return Ok(()) };
        let (file, flushed) = match c.writer.into_inner().into_inner() {
            Ok(file) => (file, Ok(())),
            Err(e) => {
                let (e, w) = IntoInnerError::into_parts(e);
                (w.into_parts().0, Err(e))
            }
        };
        file.commit()?;
        flushed.map_err(|e| output_error(&c.path, e))?;
        if let (Some(id), Some(_)) = (c.id, self.rotation.keep) {
            self.finished.push_back((c.path, id));
        }
        Ok(())
    }

    /// Whether `p` starts a new file.
    fn due(&self, p: &RawPacket<'_>) -> bool {
        let Some(c) = &self.current else { return false };
        if c.writer.packets() == 0 {
            return false;
        }
        let r = &self.rotation;
        let adds = c.writer.secrets_len(p.secrets) + c.writer.record_len(p);
        r.max_bytes.is_some_and(|max| c.writer.bytes() - c.preamble + adds > max)
            || r.every
                .is_some_and(|every| c.first.is_some_and(|t| p.ts.saturating_since(t) >= every))
    }

    /// Closes the current file, starts the next, and removes the oldest beyond `-W`.
    fn rotate(&mut self) -> Result<(), Error> {
        self.finish()?;
        self.start()?;
        let Some(keep) = self.rotation.keep else { return Ok(()) };
        // The file being written counts.
        while self.finished.len() as u64 + 1 > keep {
            let Some((path, id)) = self.finished.pop_front() else { break };
            crate::outfile::remove_if_same(&path, id).map_err(|e| Error::Output {
                what: format!("-w: removing {} (-W {keep})", path.display()),
                source: e,
            })?;
        }
        Ok(())
    }

    /// Saves `p`, rotating first if due. `Err` (a message) ends the input: another link type in
    /// a pcap file, or a tool error (kept in `self.error`).
    fn save(&mut self, p: &RawPacket<'_>) -> Result<(), String> {
        if !self.links.contains(&p.link) {
            if let (Format::Pcap, Some(c)) = (self.format, &self.current) {
                return Err(format!(
                    "packet {} has link type {}, but {} is a {} pcap file, which holds one link \
                     type: name the -w file .pcapng to keep every link type",
                    p.number,
                    p.link,
                    c.path.display(),
                    self.links.first().map_or_else(String::new, ToString::to_string)
                ));
            }
            self.links.push(p.link);
        }
        if let Some(i) = p.iface
            && self.known.insert(i.id)
        {
            self.ifaces.push(i.clone());
        }
        // Secrets that came with the packet go before it; a file started now begins with them.
        // A pcap file holds no secrets: nothing to keep for the next file.
        let kept =
            self.format == Format::Pcapng && self.secrets.len() + p.secrets.len() <= MAX_SECRETS;
        if kept {
            self.secrets.extend_from_slice(p.secrets);
        }
        let rotate = self.due(p);
        let result = if rotate { self.rotate() } else { Ok(()) }.and_then(|()| {
            let Some(c) = &mut self.current else { return Ok(()) };
            if !rotate || !kept {
                c.writer.secrets(p.secrets).map_err(|e| output_error(&c.path, e))?;
            }
            c.writer.write(p).map_err(|e| output_error(&c.path, e))?;
            if self.packet_buffered {
                c.writer.flush().map_err(|e| output_error(&c.path, e))?;
            }
            c.first.get_or_insert(p.ts);
            self.written += 1;
            Ok(())
        });
        result.map_err(|e| {
            let message = e.to_string();
            self.error.get_or_insert(e);
            message
        })
    }
}

impl PacketSource for TeeSource {
    fn link_types(&self) -> Vec<LinkType> {
        self.inner.link_types()
    }

    fn ts_decimals(&self) -> u8 {
        self.inner.ts_decimals()
    }

    fn fixed_ts_decimals(&self) -> Option<u8> {
        self.inner.fixed_ts_decimals()
    }

    fn set_key_store(&mut self, store: std::sync::Arc<crate::tls::KeyStore>) {
        self.inner.set_key_store(store);
    }

    fn reread(&self) -> Option<std::sync::Arc<dyn crate::tcp::ReadBack>> {
        self.inner.reread()
    }

    fn interfaces(&self) -> Vec<Iface> {
        self.inner.interfaces()
    }

    fn next_packet(&mut self) -> Next<'_> {
        let next = self.inner.next_packet();
        match &next {
            // Past --count: a live capture thread reads on until the analysis has stopped, and
            // the file holds what the analysis read, as tcpdump -c -w writes.
            Next::Packet(_) if self.left == Some(0) => {}
            Next::Packet(p) => {
                self.saved = true;
                if let Some(n) = &mut self.left {
                    *n -= 1;
                }
                if let Err(message) = self.saver.save(p) {
                    if let Some(c) = &mut self.saver.current {
                        let _ = c.writer.flush();
                    }
                    return Next::End(EndOfInput::Truncated { message });
                }
            }
            Next::End(_) => {
                if let Some(c) = &mut self.saver.current {
                    let _ = c.writer.flush();
                }
            }
            Next::Timeout => {
                // Idle for IDLE_FLUSH, or busy for BUSY_FLUSH since the last flush: what was
                // saved reaches the file (a failure shows at the next packet).
                let now = Instant::now();
                let flush = if std::mem::take(&mut self.saved) {
                    self.busy_at = Some(now);
                    let since = *self.flushed_at.get_or_insert(now);
                    now.duration_since(since) >= BUSY_FLUSH
                } else {
                    self.busy_at.take_if(|t| now.duration_since(*t) >= IDLE_FLUSH).is_some()
                };
                if flush && let Some(c) = &mut self.saver.current {
                    let _ = c.writer.flush();
                    self.flushed_at = Some(now);
                    self.busy_at = None;
                }
            }
        }
        next
    }

    fn capture_stats(&mut self) -> CaptureStats {
        self.inner.capture_stats()
    }

    fn stop(&mut self) {
        self.inner.stop();
    }

    fn settle(&mut self) {
        self.inner.settle();
    }

    fn is_live(&self) -> bool {
        self.inner.is_live()
    }

    fn wait_for_packets(&mut self, timeout: std::time::Duration) {
        self.inner.wait_for_packets(timeout);
    }

    fn new_batch(&mut self) -> bool {
        self.inner.new_batch()
    }

    fn close(&mut self) -> Result<(), Error> {
        let finished = self.saver.finish();
        // The error that ended the input comes first.
        if let Some(e) = self.saver.error.take() {
            return Err(e);
        }
        finished?;
        self.inner.close()
    }
}

impl Drop for TeeSource {
    /// Packets written are kept even when the run did not close the source (an error, a
    /// panic): moved into place, best effort. A run that failed before any packet leaves no
    /// file (and replaces none).
    fn drop(&mut self) {
        if self.saver.written > 0 {
            let _ = self.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_files_are_numbered_before_the_extension() {
        let n = |base: &str, i| numbered(Path::new(base), i).display().to_string();
        assert_eq!(n("/tmp/x/ws.pcap", 0), "/tmp/x/ws.pcap");
        assert_eq!(n("/tmp/x/ws.pcap", 1), "/tmp/x/ws.1.pcap");
        assert_eq!(n("ws.pcapng", 12), "ws.12.pcapng");
        assert_eq!(n("ws", 2), "ws.2");
        assert_eq!(n(".ws", 2), ".ws.2");
        assert_eq!(n("a.b/ws.tar.pcap", 3), "a.b/ws.tar.3.pcap");
    }

    #[test]
    fn an_earlier_runs_piece_is_found_by_its_name_alone() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("ws.pcap");
        let touch = |name: &str| std::fs::write(d.path().join(name), b"").unwrap();
        // The first file is OutFile's to refuse; names the rotation never writes are not its.
        for name in ["ws.pcap", "ws.0.pcap", "ws.03.pcap", "ws.x.pcap", "ws.1.pcapng", "wsx.1.pcap"]
        {
            touch(name);
        }
        assert_eq!(existing_piece(&base), None);
        touch("ws.4.pcap");
        assert_eq!(existing_piece(&base), Some(d.path().join("ws.4.pcap")));
        // Without an extension, and with a dot in the directory's name.
        let sub = d.path().join("a.b");
        std::fs::create_dir(&sub).unwrap();
        assert_eq!(existing_piece(&sub.join("cap")), None);
        std::fs::write(sub.join("cap.12"), b"").unwrap();
        assert_eq!(existing_piece(&sub.join("cap")), Some(sub.join("cap.12")));
    }
}
