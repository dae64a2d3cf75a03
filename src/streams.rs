//! The `streams` command: a per-connection summary of TCP reassembly, optionally dumping each
//! direction's bytes to files.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use crate::cli::StreamsFormat;
use crate::error::Error;
use crate::outfile::{OutFile, Protected};
use crate::pipeline::RunSummary;
use crate::sink::pretty::{Elements, Indented};
use crate::tcp::{
    Anomaly, CloseReason, ConnId, ConnInfo, DirStats, Direction, GapReason, RoleSource,
    StreamEvent, StreamSink,
};
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Gaps and anomalies kept per connection for the report (the counts are always exact).
const MAX_LISTED: usize = 100;

/// A gap as listed in the output.
#[derive(Clone, Debug, Serialize)]
pub struct GapRecord {
    /// Direction.
    pub direction: Direction,
    /// Stream offset of the first missing byte.
    pub offset: u64,
    /// Missing bytes.
    pub len: u64,
    /// Raw TCP sequence number of the first missing byte.
    pub seq: u32,
    /// Why.
    pub reason: GapReason,
    /// Packet number that made the gap certain.
    pub packet: u64,
}

/// An anomaly as listed in the output.
#[derive(Clone, Debug, Serialize)]
pub struct AnomalyRecord {
    /// Direction.
    pub direction: Direction,
    /// Packet number.
    pub packet: u64,
    /// What.
    #[serde(flatten)]
    pub anomaly: Anomaly,
}

/// One connection's reassembly summary.
#[derive(Clone, Debug, Serialize)]
pub struct ConnSummary {
    /// Connection id.
    pub id: ConnId,
    /// Client `ip:port`.
    pub client: String,
    /// Server `ip:port`.
    pub server: String,
    /// How the roles were decided.
    pub role: RoleSource,
    /// First packet number.
    pub first_packet: u64,
    /// First packet time (seconds since the epoch).
    pub start: f64,
    /// Time of the closing event.
    pub end: f64,
    /// Why the connection ended.
    pub close: Option<CloseReason>,
    /// Which side sent a RST, if any.
    pub rst_from: Option<Direction>,
    /// Per direction: counters.
    pub client_to_server: DirSummary,
    /// Per direction: counters.
    pub server_to_client: DirSummary,
    /// Gaps (the first 100).
    pub gaps: Vec<GapRecord>,
    /// Anomalies (the first 100).
    pub anomalies: Vec<AnomalyRecord>,
}

/// One direction's summary.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DirSummary {
    /// Whether the direction ended with a FIN.
    pub fin: bool,
    /// Counters.
    #[serde(flatten)]
    pub stats: DirStats,
}

/// Where `--write-dir` writes, and how.
#[derive(Clone, Debug)]
pub struct WriteDir {
    /// The directory (created when missing).
    pub dir: PathBuf,
    /// Replace files of an earlier run (`--force`).
    pub force: bool,
    /// The run's inputs and other outputs, which a file written here must not be.
    pub protected: Protected,
    /// The account the run switches to once the capture is open (`-Z`): a directory created
    /// here is given to it, since the files in it are created after the switch.
    pub owner: Option<crate::privileges::Account>,
}

impl WriteDir {
    /// `--write-dir DIR` of a run reading `source`.
    pub fn new(dir: PathBuf, source: &crate::config::Source) -> WriteDir {
        let mut protected = Protected::inputs(std::slice::from_ref(source));
        if let Some(w) = &source.write {
            protected.add_output("-w", &w.path);
        }
        WriteDir {
            dir,
            force: source.force,
            protected,
            owner: source.privileges.account().cloned(),
        }
    }
}

/// A stream's `--write-dir` file: open with its buffer, or parked (its descriptor closed
/// until more bytes come, [`max_open_files`]).
enum StreamFile {
    Open(BufWriter<OutFile>),
    Parked(OutFile),
    /// Only while being parked.
    Gone,
}

/// What a stream file's path takes (an estimate: `DIR/conn-<id>-<direction>.bin`) and its
/// write buffer while open (`BufWriter`'s), for the memory budget.
const FILE_PATH_BYTES: usize = 96;
const FILE_BUFFER_BYTES: usize = 8 << 10;

/// Stream files held open at once: a quarter of the descriptors the process may open (at
/// least 2, at most 1024). A capture with more connections open at once has the others'
/// files closed and opened again as their bytes come; before, the run failed with "Too many
/// open files" past ~500 open connections under the usual limit of 1024.
fn max_open_files() -> usize {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes only into `lim`.
    let known = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    let cur = if known { usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX) } else { 1024 };
    (cur / 4).clamp(2, 1024)
}

/// Collects stream events into summaries and prints them as connections close.
pub struct StreamsSink<W: Write> {
    out: W,
    format: StreamsFormat,
    open: HashMap<ConnId, ConnSummary>,
    /// The input, named at the head of the JSON document.
    input: String,
    /// JSON: the document's head is written, and the connections after it (each written when
    /// it closes, never kept).
    started: bool,
    connections: Elements,
    /// Writing to standard output failed: nothing more is written there.
    out_failed: bool,
    /// What the open connections' summaries hold on the heap (texts and lists), and its charge
    /// with the map's to the memory budget.
    held: usize,
    charge: Option<crate::memory::Charge>,
    write_dir: Option<WriteDir>,
    files: HashMap<(ConnId, Direction), StreamFile>,
    /// Files of `files` open now, and the most held open at once ([`max_open_files`]).
    open_files: usize,
    max_open: usize,
    error: Option<Error>,
    /// Gaps forced by a buffering limit (reported in the totals).
    limit_gaps: u64,
}

impl<W: Write> StreamsSink<W> {
    /// A sink printing to `out`. With `write_dir`, stream bytes are written there, one new
    /// file per connection and direction ([`crate::outfile`]'s rules: never over an input or
    /// through a link; files of an earlier run are refused before anything is read, unless
    /// `force`).
    pub fn new(
        out: W,
        format: StreamsFormat,
        write_dir: Option<WriteDir>,
        input: String,
    ) -> Result<Self, Error> {
        if let Some(w) = &write_dir {
            let d = &w.dir;
            let existed = d.exists();
            std::fs::create_dir_all(d).map_err(|e| Error::Output {
                what: format!("--write-dir {}", d.display()),
                source: e,
            })?;
            if let (false, Some(a)) = (existed, &w.owner) {
                std::os::unix::fs::chown(d, Some(a.uid), Some(a.gid)).map_err(|e| {
                    Error::Output { what: format!("--write-dir {}", d.display()), source: e }
                })?;
            }
            crate::outfile::will_write_later("--write-dir", &d.join("conn-<id>-<direction>.bin"));
            if !w.force {
                let entries = std::fs::read_dir(d).map_err(|e| Error::Output {
                    what: format!("--write-dir {}", d.display()),
                    source: e,
                })?;
                let ours = entries.filter_map(Result::ok).find(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    n.starts_with("conn-") && n.ends_with(".bin")
                });
                if let Some(e) = ours {
                    return Err(Error::WriteDirInUse {
                        dir: d.clone(),
                        example: e.file_name().to_string_lossy().into_owned(),
                    });
                }
            }
        }
        Ok(StreamsSink {
            out,
            format,
            open: HashMap::new(),
            input,
            started: false,
            connections: Elements::default(),
            out_failed: false,
            held: 0,
            charge: None,
            write_dir,
            files: HashMap::new(),
            open_files: 0,
            max_open: max_open_files(),
            error: None,
            limit_gaps: 0,
        })
    }

    /// Charges the open connections' summaries to `memory` (the budget's evictions then bound
    /// them as they bound the connection table).
    pub fn charge_to(mut self, memory: &crate::memory::Memory) -> Self {
        self.charge = Some(crate::memory::Charge::new(memory));
        self
    }

    /// The summaries held changed: charged again.
    fn account(&mut self) {
        if let Some(c) = &mut self.charge {
            let map = self.open.capacity() * (size_of::<(ConnId, ConnSummary)>() + 1);
            // --write-dir: a file (its path) per stream, a write buffer per open one.
            let files = self.files.capacity()
                * (size_of::<((ConnId, Direction), StreamFile)>() + 1 + FILE_PATH_BYTES)
                + self.open_files * FILE_BUFFER_BYTES;
            c.set(map + files + self.held);
        }
    }

    fn open_conn(&mut self, info: &ConnInfo) {
        let s = ConnSummary {
            id: info.id,
            client: info.client.to_string(),
            server: info.server.to_string(),
            role: info.role,
            first_packet: info.first.packet,
            start: info.first.ts.as_secs_f64(),
            end: info.first.ts.as_secs_f64(),
            close: None,
            rst_from: None,
            client_to_server: DirSummary::default(),
            server_to_client: DirSummary::default(),
            gaps: Vec::new(),
            anomalies: Vec::new(),
        };
        if self.format == StreamsFormat::Text {
            let role = match info.role {
                RoleSource::Syn => "",
                RoleSource::SynAck => {
                    " (roles from the SYN-ACK: the SYN was not captured, or after it)"
                }
                RoleSource::Guess => " (handshake not captured; roles guessed from ports)",
                RoleSource::Resumed => {
                    " (resumed after --idle-timeout or a --memory-budget eviction: roles as before)"
                }
            };
            self.print(format_args!("#{} open   {} → {}{}", info.id, s.client, s.server, role));
        }
        self.held += s.heap_bytes();
        if let Some(old) = self.open.insert(info.id, s) {
            self.held -= old.heap_bytes();
        }
        self.account();
    }

    fn write_bytes(&mut self, conn: ConnId, dir: Direction, data: &[u8]) {
        if self.write_dir.is_none() || self.error.is_some() {
            return;
        }
        let key = (conn, dir);
        if !matches!(self.files.get(&key), Some(StreamFile::Open(_))) {
            if self.open_files >= self.max_open
                && let Err(e) = self.park_all()
            {
                self.error = Some(e);
                return;
            }
            let Some(w) = &self.write_dir else { return };
            let path = w.dir.join(format!("conn-{conn}-{dir}.bin"));
            let (protected, force) = (&w.protected, w.force);
            let opened = match self.files.remove(&key) {
                Some(StreamFile::Parked(mut f)) => f.reopen().map(|()| f).map_err(|e| {
                    Error::Output { what: format!("--write-dir {}", path.display()), source: e }
                }),
                _ => OutFile::create("--write-dir", &path, protected, force),
            };
            let file = match opened {
                Ok(f) => f,
                Err(e) => {
                    self.error = Some(e);
                    return;
                }
            };
            self.open_files += 1;
            self.files.insert(key, StreamFile::Open(BufWriter::new(file)));
            self.account();
        }
        let Some(StreamFile::Open(file)) = self.files.get_mut(&key) else { return };
        if let Err(e) = file.write_all(data) {
            self.error = Some(Error::Output {
                what: format!("stream bytes of connection {conn}"),
                source: e,
            });
        }
    }

    fn close_conn(
        &mut self,
        conn: ConnId,
        reason: CloseReason,
        stats: &[DirStats; 2],
        ts: Timestamp,
    ) {
        let Some(mut s) = self.open.remove(&conn) else { return };
        self.held -= s.heap_bytes();
        s.close = Some(reason);
        s.end = ts.as_secs_f64();
        s.client_to_server.stats = stats[0];
        s.server_to_client.stats = stats[1];
        for dir in Direction::BOTH {
            if let Some(f) = self.files.remove(&(conn, dir)) {
                let file = match f {
                    StreamFile::Open(b) => {
                        self.open_files -= 1;
                        b.into_inner().map_err(|e| Error::Output {
                            what: format!("stream bytes of connection {conn}"),
                            source: e.into_error(),
                        })
                    }
                    StreamFile::Parked(f) => Ok(f),
                    StreamFile::Gone => continue,
                };
                let done = file.and_then(OutFile::commit);
                if let Err(e) = done {
                    self.error.get_or_insert(e);
                }
            }
        }
        self.account();
        match self.format {
            StreamsFormat::Text => {
                let line = text_line(&s);
                self.print(format_args!("{line}"));
            }
            StreamsFormat::Json => {
                if !self.out_failed
                    && let Err(e) = self.write_json(&s)
                {
                    self.out_failed = true;
                    self.error
                        .get_or_insert(Error::Output { what: "standard output".into(), source: e });
                }
            }
        }
    }

    /// Closes every open stream file (its bytes written), to be opened again when more come:
    /// at most [`max_open_files`] are held open, as tcpflow does.
    fn park_all(&mut self) -> Result<(), Error> {
        for (&(conn, _), v) in self.files.iter_mut() {
            if !matches!(v, StreamFile::Open(_)) {
                continue;
            }
            let StreamFile::Open(b) = std::mem::replace(v, StreamFile::Gone) else { continue };
            let mut f = b.into_inner().map_err(|e| Error::Output {
                what: format!("stream bytes of connection {conn}"),
                source: e.into_error(),
            })?;
            f.park();
            *v = StreamFile::Parked(f);
        }
        self.open_files = 0;
        Ok(())
    }

    /// The JSON document's head: the input and the opening of its connections.
    fn json_head(&mut self) -> std::io::Result<()> {
        if !self.started {
            self.started = true;
            self.out.write_all(b"{\n  \"input\": ")?;
            serde_json::to_writer(&mut self.out, &self.input)?;
            self.out.write_all(b",\n  \"connections\": [")?;
        }
        Ok(())
    }

    /// A closed connection's object in the JSON document, written at once.
    fn write_json(&mut self, s: &ConnSummary) -> std::io::Result<()> {
        self.json_head()?;
        self.connections.next(&mut self.out)?;
        serde_json::to_writer_pretty(Indented::new(&mut self.out, b"    "), s)?;
        Ok(())
    }

    /// A line on standard output (after a --write-dir error too: the summaries go on).
    fn print(&mut self, args: std::fmt::Arguments<'_>) {
        if !self.out_failed
            && let Err(e) = writeln!(self.out, "{args}")
        {
            self.out_failed = true;
            self.error.get_or_insert(Error::Output { what: "standard output".into(), source: e });
        }
    }

    /// Prints the totals (text) or the whole document (JSON) and returns the first write error.
    pub fn finish(mut self, summary: &RunSummary) -> Result<(), Error> {
        match self.format {
            StreamsFormat::Text => {
                let p = &summary.packets;
                let t = &summary.tcp;
                let input = std::mem::take(&mut self.input);
                self.print(format_args!(
                    "{}: {} packets ({} TCP, {} other, {} malformed, {} cut by snaplen), {} connection{}",
                    crate::term::escape(&input),
                    p.packets,
                    p.tcp_segments,
                    p.other,
                    p.malformed,
                    p.snaplen_truncated,
                    t.connections,
                    if t.connections == 1 { "" } else { "s" }
                ));
                if p.decapsulated.total() > 0 {
                    self.print(format_args!(
                        "tunnels taken off: {}",
                        crate::sink::text::tunnels(&p.decapsulated)
                    ));
                }
                if p.malformed > 0 {
                    self.print(format_args!(
                        "warning: {} packet(s) not decoded: {}",
                        p.malformed,
                        p.undecoded.summary()
                    ));
                }
                let mut limits = Vec::new();
                if t.evicted > 0 {
                    limits.push(format!("{} connection(s) evicted (--max-connections)", t.evicted));
                }
                if self.limit_gaps > 0 {
                    limits.push(format!(
                        "{} gap(s) forced by buffering limits (--max-buffered-*)",
                        self.limit_gaps
                    ));
                }
                if p.dropped_datagrams > 0 {
                    limits.push(format!(
                        "{} fragmented datagram(s) dropped (--max-fragmented-datagrams)",
                        p.dropped_datagrams
                    ));
                }
                if p.incomplete_datagrams > 0 {
                    self.print(format_args!(
                        "warning: {} fragmented IPv4 datagram(s) never completed (fragments missing from the capture)",
                        p.incomplete_datagrams
                    ));
                }
                if !limits.is_empty() {
                    self.print(format_args!("limits reached: {}", limits.join("; ")));
                }
                match &summary.end_of_input {
                    crate::capture::EndOfInput::Truncated { message } => self.print(format_args!(
                        "warning: input ended early: {}",
                        crate::term::escape(message)
                    )),
                    crate::capture::EndOfInput::Stopped { message } => {
                        self.print(format_args!("{}", crate::term::escape(message)))
                    }
                    crate::capture::EndOfInput::Clean => {}
                }
            }
            // Closed even after a --write-dir error: the document stays one JSON document.
            StreamsFormat::Json => {
                if !self.out_failed
                    && let Err(e) = self.json_tail(summary)
                {
                    self.error
                        .get_or_insert(Error::Output { what: "standard output".into(), source: e });
                }
            }
        }
        if let Err(e) = self.out.flush() {
            self.error.get_or_insert(Error::Output { what: "standard output".into(), source: e });
        }
        self.error.map_or(Ok(()), Err)
    }
}

impl<W: Write> StreamsSink<W> {
    /// The end of the JSON document: the connections' array closed, then the run's counters
    /// (the summary's members, at the document's level).
    fn json_tail(&mut self, summary: &RunSummary) -> std::io::Result<()> {
        self.json_head()?;
        self.connections.close(&mut self.out)?;
        let members = serde_json::to_vec_pretty(summary)?;
        // `{`, its members each on lines indented by two, `\n}`: the members go on as ours.
        if let Some(inner) = members.strip_prefix(b"{").and_then(|m| m.strip_suffix(b"\n}"))
            && !inner.is_empty()
        {
            self.out.write_all(b",")?;
            self.out.write_all(inner)?;
        }
        self.out.write_all(b"\n}\n")
    }
}

impl ConnSummary {
    /// What it holds on the heap besides itself.
    fn heap_bytes(&self) -> usize {
        self.client.capacity()
            + self.server.capacity()
            + self.gaps.capacity() * size_of::<GapRecord>()
            + self.anomalies.capacity() * size_of::<AnomalyRecord>()
    }
}

impl<W: Write> StreamSink for StreamsSink<W> {
    fn on_stream_event(&mut self, event: StreamEvent<'_>) {
        match event {
            StreamEvent::Open(info) => self.open_conn(info),
            StreamEvent::Pending { .. } => {}
            StreamEvent::Data { conn, dir, data, .. } => self.write_bytes(conn, dir, data),
            StreamEvent::Gap { conn, dir, offset, len, seq, reason, at } => {
                if reason == GapReason::BufferLimit {
                    self.limit_gaps += 1;
                }
                if let Some(s) = self.open.get_mut(&conn)
                    && s.gaps.len() < MAX_LISTED
                {
                    let before = s.heap_bytes();
                    s.gaps.push(GapRecord {
                        direction: dir,
                        offset,
                        len,
                        seq,
                        reason,
                        packet: at.packet,
                    });
                    self.held = self.held + s.heap_bytes() - before;
                    self.account();
                }
            }
            StreamEvent::Fin { conn, dir, .. } => {
                if let Some(s) = self.open.get_mut(&conn) {
                    match dir {
                        Direction::ClientToServer => s.client_to_server.fin = true,
                        Direction::ServerToClient => s.server_to_client.fin = true,
                    }
                }
            }
            StreamEvent::Rst { conn, dir, .. } => {
                if let Some(s) = self.open.get_mut(&conn) {
                    s.rst_from = Some(dir);
                }
            }
            StreamEvent::Anomaly { conn, dir, anomaly, at } => {
                if let Some(s) = self.open.get_mut(&conn)
                    && s.anomalies.len() < MAX_LISTED
                {
                    let before = s.heap_bytes();
                    s.anomalies.push(AnomalyRecord { direction: dir, packet: at.packet, anomaly });
                    self.held = self.held + s.heap_bytes() - before;
                    self.account();
                }
            }
            StreamEvent::Close { conn, reason, stats, at } => {
                self.close_conn(conn, reason, stats, at.ts)
            }
        }
    }
}

fn text_line(s: &ConnSummary) -> String {
    let dir = |d: &DirSummary| {
        let mut t = format!("{} B", d.stats.delivered_bytes);
        if d.stats.gaps > 0 {
            t += &format!(", {} gap(s) {} B missing", d.stats.gaps, d.stats.gap_bytes);
        }
        if d.stats.late_bytes > 0 {
            t += &format!(", {} B arrived after being declared lost", d.stats.late_bytes);
        }
        if d.stats.retransmitted_bytes > 0 {
            t += &format!(", {} B retransmitted", d.stats.retransmitted_bytes);
        }
        if d.stats.mismatches > 0 {
            t += &format!(", {} CONFLICTING retransmission(s)", d.stats.mismatches);
        }
        t
    };
    let close = match (s.close, s.rst_from) {
        (Some(CloseReason::Rst), Some(Direction::ClientToServer)) => "reset by client".to_string(),
        (Some(CloseReason::Rst), Some(Direction::ServerToClient)) => "reset by server".to_string(),
        (Some(CloseReason::Fin), _) => "closed".to_string(),
        (Some(CloseReason::EndOfCapture), _) => "open at end of capture".to_string(),
        (Some(r), _) => crate::analyzer::checks::json_name(&r),
        (None, _) => String::new(),
    };
    format!(
        "#{} close  {} → {}  {:.3}s  {}  ↑ {}  ↓ {}",
        s.id,
        s.client,
        s.server,
        (s.end - s.start).max(0.0),
        close,
        dir(&s.client_to_server),
        dir(&s.server_to_client)
    )
}
