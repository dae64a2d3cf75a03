//! The analyzer: turns the stream engine's per-direction bytes into WebSocket events.
//!
//! [`Analyzer`] is a [`StreamSink`]: the stream engine pushes stream events into it, it keeps a
//! [`session::Session`] per connection, and it pushes [`Event`]s into the sink it was given. It is
//! the only producer of events. No I/O happens here.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod checks;
pub mod session;

use crate::event::{Event, EventSink};
use crate::memory::Level;
use crate::tcp::{Anomaly, ConnId, RoleSource, StreamEvent, StreamSink};
use checks::CheckId;
use foldhash::HashMap;
use serde::Serialize;
use session::Session;

/// Limits and options of the analyzer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalyzerConfig {
    /// Payload bytes kept per message in events (default 1 MiB; `--max-message-size`). Longer
    /// messages are counted and validated in full, and reported with `truncated: true`.
    pub max_message: usize,
    /// Keep message payloads in events (default). Off for consumers that only count, like the
    /// report: every byte is still counted, inflated and validated, with the same findings.
    pub keep_payloads: bool,
    /// Bytes one compressed message may inflate to (default 64 MiB; `--max-inflate-size`).
    /// Beyond it inflation stops and `decompression_limit` is reported.
    pub max_inflate: u64,
    /// Longest HTTP head accepted (default 64 KiB).
    pub max_http_head: usize,
    /// Bytes kept per direction while looking for a frame boundary, after missing bytes or for
    /// frames without a handshake (default 256 KiB; `--max-resync`, at least 16 KiB).
    pub max_resync: usize,
    /// Emit one event per frame as well as per message.
    pub emit_frames: bool,
    /// Ports decoded as WebSocket even without a captured handshake (`--ws-port`).
    pub ws_ports: Vec<u16>,
    /// Seed of the connections' Community ID (default 0; `--community-id-seed`).
    pub community_id_seed: u16,
    /// `--shard I/N`: only the connections whose [`crate::tcp::FlowKey::shard_hash`] modulo N
    /// is I are analysed; the others are tracked by the stream engine (so connection ids and
    /// its counters are those of a whole run) and ignored here.
    pub shard: Option<(u64, u64)>,
    /// Also announce TCP connections that turned out not to be WebSocket, when they end
    /// (`Connection` then `End`, no handshake): the terminal UI shows them on demand.
    pub announce_tcp: bool,
    /// How long (capture time) a connection's output is held back to keep capture order while
    /// earlier bytes wait to be decoded; the stream engine's reorder window (`--reorder-window`).
    pub reorder_window: std::time::Duration,
    /// The global memory budget, shared with the stream engine (`--memory-budget`).
    pub memory: crate::memory::Memory,
    /// TLS key material and limits (`--keylog`, `--max-tls-key-wait`).
    pub tls: crate::tls::TlsConfig,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            max_message: 1 << 20,
            keep_payloads: true,
            max_inflate: 64 << 20,
            max_http_head: 64 << 10,
            max_resync: 256 << 10,
            emit_frames: false,
            ws_ports: Vec::new(),
            community_id_seed: 0,
            shard: None,
            announce_tcp: false,
            reorder_window: crate::limits::TcpLimits::default().reorder_window,
            memory: crate::memory::Memory::default(),
            tls: crate::tls::TlsConfig { keys: None, max_key_wait: 1 << 20 },
        }
    }
}

/// Counters of the analyzer.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct AnalyzerStats {
    /// TCP connections seen.
    pub tcp_connections: u64,
    /// Connections that were WebSocket (or WebSocket upgrade attempts).
    pub websocket_connections: u64,
    /// Of the others: connections that carry TLS (wss:// among them, which needs its keys).
    pub tls_connections: u64,
    /// Connections that carry HTTP/1.1 without a WebSocket upgrade.
    pub http_connections: u64,
    /// Connections whose bytes went missing before a handshake could be seen (capture loss).
    pub gap_before_handshake: u64,
    /// Connections that carried no payload at all.
    pub empty_connections: u64,
    /// Connections that carry something else: no HTTP, no WebSocket frames found.
    pub other_connections: u64,
}

impl AnalyzerStats {
    /// Adds another analyzer's counters (the workers of `--threads`).
    pub fn add(&mut self, o: &AnalyzerStats) {
        let AnalyzerStats {
            tcp_connections,
            websocket_connections,
            tls_connections,
            http_connections,
            gap_before_handshake,
            empty_connections,
            other_connections,
        } = o;
        self.tcp_connections += tcp_connections;
        self.websocket_connections += websocket_connections;
        self.tls_connections += tls_connections;
        self.http_connections += http_connections;
        self.gap_before_handshake += gap_before_handshake;
        self.empty_connections += empty_connections;
        self.other_connections += other_connections;
    }
}

/// Per-connection analysis on top of the stream engine.
pub struct Analyzer<S: EventSink> {
    cfg: AnalyzerConfig,
    sessions: HashMap<ConnId, Box<Session>>,
    /// The last connection closed, with its [`Session::resume_mark`] (the table asks for it
    /// right after the `Close` of a connection it may resume).
    closed_mark: Option<(ConnId, u8)>,
    sink: S,
    stats: AnalyzerStats,
    /// The memory budget's level every session last saved memory for.
    saving: Level,
    /// Events since every session was last asked to save memory.
    since_sweep: u32,
    /// This thread's zlib state pool and inflate buffer, charged to the memory budget as they
    /// hold.
    _per_thread: crate::ws::deflate::ThreadCharge,
    /// Connections whose response waits for the client's bytes ([`Session::waiting_since`]),
    /// looked at by the table's sweeps.
    waiting: std::collections::BTreeSet<ConnId>,
}

/// Events between two passes over every session to save memory.
const SAVE_SPACING: u32 = 1024;

impl<S: EventSink> Analyzer<S> {
    /// An analyzer pushing events into `sink`.
    pub fn new(cfg: AnalyzerConfig, sink: S) -> Self {
        Analyzer {
            _per_thread: crate::ws::deflate::charge_thread_to(&cfg.memory),
            cfg,
            sessions: HashMap::default(),
            closed_mark: None,
            sink,
            stats: AnalyzerStats::default(),
            saving: Level::Normal,
            since_sweep: SAVE_SPACING,
            waiting: Default::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> AnalyzerStats {
        self.stats
    }

    /// The sink (to finish it).
    pub fn into_sink(self) -> S {
        self.sink
    }

    /// The sink events go to.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }
}

impl<S: EventSink> Analyzer<S> {
    /// After an event of connection `conn`: charges what its session holds to the memory
    /// budget, and saves memory as the budget's level asks — in this session at once, and in
    /// every session when the level rises (at most once every [`SAVE_SPACING`] events).
    fn settle(&mut self, conn: ConnId) {
        let level = self.sweep_if_rising();
        if let Some(s) = self.sessions.get_mut(&conn) {
            s.save_memory(level, &self.cfg, &mut self.sink);
            s.account();
            if s.waiting_since().is_some() {
                self.waiting.insert(conn);
            }
        }
    }

    /// The budget's level now; when it rose since the last pass (and [`SAVE_SPACING`] events
    /// went by), every session saves memory for it first.
    fn sweep_if_rising(&mut self) -> Level {
        let level = self.cfg.memory.level();
        self.since_sweep = self.since_sweep.saturating_add(1);
        if level > self.saving && self.since_sweep >= SAVE_SPACING {
            self.since_sweep = 0;
            self.saving = level;
            let mut ids: Vec<ConnId> = self.sessions.keys().copied().collect();
            ids.sort_unstable();
            for id in ids {
                if let Some(s) = self.sessions.get_mut(&id) {
                    s.save_memory(level, &self.cfg, &mut self.sink);
                    s.account();
                }
            }
            crate::memory::release();
        } else if level < self.saving {
            self.saving = level;
        }
        level
    }
}

impl<S: EventSink> StreamSink for Analyzer<S> {
    fn on_stream_event(&mut self, event: StreamEvent<'_>) {
        // The common case, with one lookup: bytes of a connection, then its charge.
        if let StreamEvent::Data { conn, dir, offset, seq, data, at } = event {
            let level = self.sweep_if_rising();
            if let Some(s) = self.sessions.get_mut(&conn) {
                s.note_seq(dir, offset, seq, data.len());
                s.on_data(dir, offset, data, at, &self.cfg, &mut self.sink);
                s.save_memory(level, &self.cfg, &mut self.sink);
                s.account();
                if s.waiting_since().is_some() {
                    self.waiting.insert(conn);
                }
            }
            return;
        }
        let conn = match &event {
            StreamEvent::Open(info) => Some(info.id),
            StreamEvent::Data { conn, .. }
            | StreamEvent::Gap { conn, .. }
            | StreamEvent::Anomaly { conn, .. }
            | StreamEvent::Pending { conn, .. } => Some(*conn),
            StreamEvent::Fin { .. } | StreamEvent::Rst { .. } | StreamEvent::Close { .. } => None,
        };
        self.on_event(event);
        if let Some(conn) = conn {
            self.settle(conn);
        }
    }

    fn on_stats(&mut self, stats: &crate::event::Stats) {
        self.sink.stats(stats);
    }

    /// Whether the connection was shown: if it resumes, it is the same connection (its
    /// `Connection` event says so and it is not counted again).
    fn resume_mark(&mut self, conn: ConnId) -> u8 {
        match self.closed_mark.take() {
            Some((c, mark)) if c == conn => mark,
            _ => 0,
        }
    }

    fn keeps_searching(&self, conn: ConnId) -> bool {
        self.sessions.get(&conn).is_some_and(|s| s.searching())
    }

    /// A response that waited longer than the reorder window for the client's bytes is read
    /// now, in connection order (as a sharded run's merger interleaves the workers'), whatever
    /// its connection does meanwhile.
    fn on_sweep(&mut self, at: crate::tcp::PacketRef) {
        if self.waiting.is_empty() {
            return;
        }
        for id in std::mem::take(&mut self.waiting) {
            let Some(s) = self.sessions.get_mut(&id) else { continue };
            match s.waiting_since() {
                Some(since) if at.ts > since.saturating_add(self.cfg.reorder_window) => {
                    s.stop_waiting(&self.cfg, &mut self.sink);
                    self.settle(id);
                }
                Some(_) => {
                    self.waiting.insert(id);
                }
                None => {}
            }
        }
    }
}

impl<S: EventSink> Analyzer<S> {
    fn on_event(&mut self, event: StreamEvent<'_>) {
        let cfg = &self.cfg;
        match event {
            StreamEvent::Open(info) => {
                if let Some((i, n)) = cfg.shard
                    && crate::tcp::FlowKey::new(info.client, info.server).shard_hash() % n != i
                {
                    return; // another share's: no session, its events find none
                }
                // A connection picked up again after wsscope stopped following it was counted
                // when it was first seen.
                if info.role != RoleSource::Resumed {
                    self.stats.tcp_connections += 1;
                }
                self.sessions.insert(info.id, Box::new(Session::new(info, cfg)));
            }
            // Handled by `on_stream_event` itself (the common case, with one lookup).
            StreamEvent::Data { .. } => {}
            StreamEvent::Gap { conn, dir, offset, len, seq, reason, at } => {
                if let Some(s) = self.sessions.get_mut(&conn) {
                    s.on_gap(dir, offset, len, seq, reason, at, cfg, &mut self.sink);
                }
            }
            StreamEvent::Anomaly { conn, dir, anomaly, at } => {
                let Some(s) = self.sessions.get_mut(&conn) else { return };
                match anomaly {
                    Anomaly::RetransmissionMismatch { offset, len } => {
                        s.on_conflict(dir, offset, len, at, cfg, &mut self.sink)
                    }
                    Anomaly::LateData { offset, len, after_ns } => {
                        let after = std::time::Duration::from_nanos(after_ns);
                        s.on_late_data(dir, offset, len, after, at, cfg, &mut self.sink)
                    }
                    Anomaly::AckBeforeData { lead_ns, .. } => {
                        let lead = std::time::Duration::from_nanos(lead_ns);
                        s.on_ack_before_data(dir, lead, at, cfg, &mut self.sink)
                    }
                    Anomaly::RstOutOfWindow { seq, outside } => {
                        let detail = format!(
                            "a RST with sequence number {seq} lies {outside} bytes outside what \
                             the receiver could accept: ignored (the receiver drops it), the \
                             connection is followed on"
                        );
                        s.on_tcp_note(dir, CheckId::RstOutOfWindow, detail, at, cfg, &mut self.sink)
                    }
                    Anomaly::SynOnOpenConnection { seq } => {
                        let detail = format!(
                            "a SYN with a new initial sequence number ({seq}) arrived on this \
                             open connection, which went on: it was not taken as a new \
                             connection (the server keeps the open one, RFC 5961 §4)"
                        );
                        let cid = CheckId::SynOnOpenConnection;
                        s.on_tcp_note(dir, cid, detail, at, cfg, &mut self.sink)
                    }
                    Anomaly::DataAfterFin { .. } => {}
                }
            }
            StreamEvent::Pending { conn, dir, since, at } => {
                if let Some(s) = self.sessions.get_mut(&conn) {
                    s.on_pending(dir, since, at, cfg, &mut self.sink);
                }
            }
            StreamEvent::Fin { .. } | StreamEvent::Rst { .. } => {}
            StreamEvent::Close { conn, reason, stats, at } => {
                if let Some(mut s) = self.sessions.remove(&conn) {
                    let ends = [
                        stats[0].delivered_bytes + stats[0].gap_bytes,
                        stats[1].delivered_bytes + stats[1].gap_bytes,
                    ];
                    s.finish(reason, at, ends, cfg, &mut self.sink);
                    self.closed_mark = Some((conn, s.resume_mark()));
                    if s.resumed() {
                        return; // counted as what its first part was
                    }
                    let counter = match s.kind() {
                        session::Kind::WebSocket => &mut self.stats.websocket_connections,
                        session::Kind::Tls => &mut self.stats.tls_connections,
                        session::Kind::Http => &mut self.stats.http_connections,
                        session::Kind::GapBeforeHandshake => &mut self.stats.gap_before_handshake,
                        session::Kind::Empty => &mut self.stats.empty_connections,
                        session::Kind::Other => &mut self.stats.other_connections,
                    };
                    *counter += 1;
                }
            }
        }
    }
}

/// Collects every event (for tests and small captures).
#[derive(Debug, Default)]
pub struct Collect(pub Vec<Event>);

impl EventSink for Collect {
    fn event(&mut self, event: Event) {
        self.0.push(event);
    }
}

#[cfg(test)]
mod tests;
