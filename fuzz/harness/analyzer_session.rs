//! `analyzer_session`: the analyzer (`wsscope::analyzer`: one session per connection, HTTP until
//! an upgrade, then frames; mid-stream detection; capture order; findings) driven directly with
//! stream events, as the stream engine emits them, with small limits.
//!
//! Input format (see `fuzz/seed.py`, which writes seeds from the captures in it):
//!
//! ```text
//! byte 0        configuration: bit 0 frame events, bit 1 keep payloads, bit 2 --ws-port 8080,
//!               bit 3 announce TCP connections, bits 4-5 max message / inflate size,
//!               bits 6-7 max HTTP head / resync buffer / reorder window
//! then records  [tag: u8][len: u16 LE][len bytes]      (the last one may be cut short)
//!               tag bits 0-1: connection slot (4), bit 2: direction (1 = server to client),
//!               tag >> 3: what (below); each record is one packet, 1 ms after the previous one
//! ```
//!
//! | tag >> 3 | stream event |
//! |---|---|
//! | 0–4 | `Data`: the record's bytes, acknowledging everything the other direction sent |
//! | 5 | `Data` with no acknowledgment number |
//! | 6 | `Data` acknowledging more than the other direction sent (an ACK before its data) |
//! | 7 | `Data` carried by the oldest packet waiting behind a hole (`Pending`), if any |
//! | 8 | `Gap` of 1 + u32 LE bytes (reason: byte 4) |
//! | 9 | `Fin` (the second one closes the connection) |
//! | 10 | `Rst`, then `Close` |
//! | 11 | `Pending` on (since byte 0 packets ago) or off |
//! | 12 | `RetransmissionMismatch` inside delivered data |
//! | 13 | `LateData` inside an earlier gap |
//! | 14 | `AckBeforeData` (once per direction) |
//! | 15 | `Close` (idle, evicted, reused, end of capture: byte 0) |
//! | 16 | time passes: u32 LE milliseconds (backwards when byte 4 is odd) |
//! | 17 | `Open` again with ports (u16 LE ×2), role and ISNs (u32 LE ×2); closes the slot's connection |
//! | 18 | `RstOutOfWindow` (sequence number u32 LE, 1 + u32 LE bytes outside) |
//! | 19 | `SynOnOpenConnection` (sequence number u32 LE) |
//! | other | `Data`, as 0 |
//!
//! A slot's connection is opened by its first record (client 10.0.0.1:40000+slot, server
//! 10.0.0.2:80, roles from the SYN). The harness keeps the stream engine's contract
//! (docs/ARCHITECTURE.md): offsets contiguous from 0, one `Fin` per direction and nothing after
//! it, `Pending` alternating and off at `Close`, anomalies where the engine can report them,
//! counters that add up, nothing after `Close`, every connection closed at the end.
//!
//! Checks, on the events (docs/ARCHITECTURE.md "The analyzer's contract", src/event.rs):
//! - every event names an open TCP connection; its first event is `Connection`, it has at most
//!   one, and it ends with exactly one `End`, emitted when the TCP connection closes — nothing
//!   follows it, and every announced connection has one;
//! - a finding has its check's severity and source;
//! - a complete message has `missing == 0` and `length == captured_length` when known; a kept
//!   payload holds at most `captured_length` bytes and at most the message limit (125 for a
//!   control frame), and `truncated` says exactly whether it holds fewer; with payloads off, no
//!   data message keeps a byte;
//! - a gap is not empty; a frame's header is 2 to 14 bytes;
//! - the analyzer's counters: one TCP connection per `Open`, one kind per `Close`.
//!
//! Differential: the same input with frame events and payloads both switched the other way
//! gives the same events (frame events aside; payloads, `truncated` and `message_too_large`,
//! which only concern what is kept, aside): the report, which keeps no payload, reports what
//! `export` reports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::time::Duration;
use wsscope::analyzer::checks::CheckId;
use wsscope::analyzer::{Analyzer, AnalyzerConfig};
use wsscope::event::{Event, EventSink, Payload};
use wsscope::tcp::{
    Anomaly, CloseReason, ConnId, ConnInfo, DirStats, Direction, GapReason, PacketRef, RoleSource,
    StreamEvent, StreamSink,
};
use wsscope::time::Timestamp;

/// Records handled per input at most.
const MAX_RECORDS: usize = 2048;
/// Connection slots.
const SLOTS: usize = 4;

/// The configuration byte 0 selects.
pub fn config(sel: u8) -> AnalyzerConfig {
    let (max_message, max_inflate) =
        [(16, 64), (125, 4096), (4096, 1 << 16), (1 << 20, 64 << 20)][usize::from(sel >> 4) & 3];
    let (max_http_head, max_resync, reorder_ms) =
        [(256, 64, 0), (2048, 1024, 100), (4096, 16384, 2000), (64 << 10, 256 << 10, 2000)]
            [usize::from(sel >> 6)];
    AnalyzerConfig {
        max_message,
        keep_payloads: sel & 2 != 0,
        max_inflate,
        max_http_head,
        max_resync,
        emit_frames: sel & 1 != 0,
        ws_ports: if sel & 4 != 0 { vec![8080] } else { Vec::new() },
        community_id_seed: 0,
        shard: None,
        announce_tcp: sel & 8 != 0,
        reorder_window: Duration::from_millis(reorder_ms),
        // The default budget: this target's differential (payloads kept or not) holds only
        // while the budget gives nothing up.
        memory: wsscope::memory::Memory::default(),
        // No key material: connections whose first bytes look like TLS records are read as TLS
        // (hellos, records) and reported undecrypted.
        tls: wsscope::tls::TlsConfig { keys: None, max_key_wait: 1 << 20 },
    }
}

/// One execution.
pub fn run(data: &[u8]) {
    let Some((&sel, records)) = data.split_first() else { return };
    let cfg = config(sel);
    let a = drive(&cfg, records);
    // The other way round: frame events and payloads off where they were on, and on where off.
    let other = AnalyzerConfig {
        emit_frames: !cfg.emit_frames,
        keep_payloads: !cfg.keep_payloads,
        ..cfg.clone()
    };
    let b = drive(&other, records);
    let (na, nb) = (normalise(&a), normalise(&b));
    if na != nb {
        let first = na.iter().zip(&nb).position(|(x, y)| x != y).unwrap_or(na.len().min(nb.len()));
        panic!(
            "frame events / kept payloads changed the analysis at event {first}:\n  {:?}\n  {:?}",
            na.get(first),
            nb.get(first)
        );
    }
}

/// The events that do not depend on frame events and kept payloads, as text.
fn normalise(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter(|e| !matches!(e, Event::Frame { .. }))
        .filter(|e| !matches!(e, Event::Finding { code: CheckId::MessageTooLarge, .. }))
        .map(|e| {
            let mut e = e.clone();
            if let Event::Message { payload, truncated, .. } = &mut e {
                *payload = Payload::Unavailable;
                *truncated = false;
            }
            format!("{e:?}")
        })
        .collect()
}

/// The per-connection state the harness keeps to emit what the stream engine would.
struct Conn {
    info: ConnInfo,
    isn: [u32; 2],
    next: [u64; 2],
    fin: [bool; 2],
    /// The packet of the oldest bytes waiting behind a hole, per direction.
    pending: [Option<PacketRef>; 2],
    data: [Vec<Range<u64>>; 2],
    gaps: [Vec<Range<u64>>; 2],
    ack_lead: [bool; 2],
    stats: [DirStats; 2],
}

/// Drives one analyzer through the records; returns its events, checked.
fn drive(cfg: &AnalyzerConfig, mut rest: &[u8]) -> Vec<Event> {
    let mut h = Harness {
        analyzer: Analyzer::new(cfg.clone(), Checker::new(cfg.max_message, cfg.keep_payloads)),
        slots: Default::default(),
        next_id: 1,
        packet: 0,
        times: vec![Timestamp::default()],
        ts: Timestamp::from_secs_nanos(1_700_000_000, 0),
        opened: 0,
        closed: 0,
    };
    let mut n = 0;
    while rest.len() >= 3 && n < MAX_RECORDS {
        let tag = rest[0];
        let len = usize::from(u16::from_le_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let (body, tail) = rest[3..].split_at(len);
        rest = tail;
        n += 1;
        h.record(tag, body);
    }
    for slot in 0..SLOTS {
        h.close(slot, CloseReason::EndOfCapture);
    }
    let stats = h.analyzer.stats();
    assert_eq!(stats.tcp_connections, h.opened, "{stats:?}");
    let kinds = stats.websocket_connections
        + stats.tls_connections
        + stats.http_connections
        + stats.gap_before_handshake
        + stats.empty_connections
        + stats.other_connections;
    assert_eq!(kinds, h.closed, "every closed connection is counted once: {stats:?}");
    let checker = h.analyzer.into_sink();
    checker.finish();
    checker.events
}

struct Harness {
    analyzer: Analyzer<Checker>,
    slots: [Option<Conn>; SLOTS],
    next_id: u64,
    packet: u64,
    /// Timestamp of every packet so far (index = packet number).
    times: Vec<Timestamp>,
    ts: Timestamp,
    /// Connections opened and closed, resumed parts not counted (the analyzer counts a
    /// connection once, when it is first seen).
    opened: u64,
    closed: u64,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    for (i, x) in b.iter().skip(at).take(4).enumerate() {
        w[i] = *x;
    }
    u32::from_le_bytes(w)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b.get(at).copied().unwrap_or(0), b.get(at + 1).copied().unwrap_or(0)])
}

impl Harness {
    fn at(&self) -> PacketRef {
        PacketRef::new(self.ts, self.packet)
    }

    fn send(&mut self, e: StreamEvent<'_>) {
        self.analyzer.on_stream_event(e);
    }

    fn open(&mut self, slot: usize, client_port: u16, server_port: u16, role: u8, isn: [u32; 2]) {
        let id = ConnId(self.next_id);
        self.next_id += 1;
        let info = ConnInfo {
            id,
            client: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), client_port),
            server: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), server_port),
            role: [RoleSource::Syn, RoleSource::SynAck, RoleSource::Guess, RoleSource::Resumed]
                [usize::from(role % 4)],
            // For a resumed connection: what its earlier part was (none, shown, shown with its
            // outcome, plain HTTP or TLS).
            resume_mark: if role % 4 == 3 { (role / 4) % 4 } else { 0 },
            first: self.at(),
        };
        self.analyzer.sink_mut().open(id);
        self.send(StreamEvent::Open(&info));
        // A resumed connection is a part of one counted when it was first seen.
        if info.role != RoleSource::Resumed {
            self.opened += 1;
        }
        self.slots[slot] = Some(Conn {
            info,
            isn,
            next: [0; 2],
            fin: [false; 2],
            pending: [None; 2],
            data: Default::default(),
            gaps: Default::default(),
            ack_lead: [false; 2],
            stats: Default::default(),
        });
    }

    fn conn(&mut self, slot: usize) -> &mut Conn {
        if self.slots[slot].is_none() {
            let port = 40000 + slot as u16;
            self.open(slot, port, 80, 0, [1000 * slot as u32, 5000 * slot as u32]);
        }
        self.slots[slot].as_mut().expect("opened above")
    }

    /// Ends the slot's connection (if any) as the engine does: nothing left pending, then `Close`.
    fn close(&mut self, slot: usize, reason: CloseReason) {
        let Some(c) = self.slots[slot].take() else { return };
        let at = self.at();
        for dir in Direction::BOTH {
            if c.pending[dir.index()].is_some() {
                self.send(StreamEvent::Pending { conn: c.info.id, dir, since: None, at });
            }
        }
        self.analyzer.sink_mut().closing = Some(c.info.id);
        self.send(StreamEvent::Close { conn: c.info.id, reason, stats: &c.stats, at });
        self.analyzer.sink_mut().closed(c.info.id);
        if c.info.role != RoleSource::Resumed {
            self.closed += 1;
        }
    }

    fn record(&mut self, tag: u8, body: &[u8]) {
        self.packet += 1;
        self.ts = self.ts.saturating_add(Duration::from_millis(1));
        let slot = usize::from(tag & 3);
        let dir = if tag & 4 == 0 { Direction::ClientToServer } else { Direction::ServerToClient };
        let d = dir.index();
        let kind = tag >> 3;
        if kind == 16 {
            let ms = u64::from(u32_at(body, 0));
            self.ts = if body.get(4).is_some_and(|b| b & 1 == 1) {
                self.ts.saturating_sub(Duration::from_millis(ms))
            } else {
                self.ts.saturating_add(Duration::from_millis(ms))
            };
        }
        self.times.push(self.ts);
        if kind == 16 {
            return;
        }
        if kind == 17 {
            self.close(slot, CloseReason::Reused);
            let isn = [u32_at(body, 5), u32_at(body, 9)];
            self.open(
                slot,
                u16_at(body, 0),
                u16_at(body, 2),
                body.get(4).copied().unwrap_or(0),
                isn,
            );
            return;
        }
        let mut at = self.at();
        self.conn(slot);
        let Harness { analyzer, slots, times, packet, .. } = self;
        let c = slots[slot].as_mut().expect("opened above");
        let conn = c.info.id;
        let (other_isn, other_next) = (c.isn[1 - d], c.next[1 - d]);
        let seq = |c: &Conn, offset: u64| c.isn[d].wrapping_add(1).wrapping_add(offset as u32);
        let mut send = |e: StreamEvent<'_>| analyzer.on_stream_event(e);
        let close = match kind {
            8 => {
                if c.fin[d] {
                    return;
                }
                let len = 1 + u64::from(u32_at(body, 0));
                let reason = [
                    GapReason::Lost,
                    GapReason::Snaplen,
                    GapReason::BufferLimit,
                    GapReason::ConnectionEnd,
                    GapReason::AckedUnseen,
                ][usize::from(body.get(4).copied().unwrap_or(0) % 5)];
                let offset = c.next[d];
                c.next[d] += len;
                c.gaps[d].push(offset..offset + len);
                c.stats[d].gaps += 1;
                c.stats[d].gap_bytes += len;
                let seq = seq(c, offset);
                send(StreamEvent::Gap { conn, dir, offset, len, seq, reason, at });
                None
            }
            9 => {
                if c.fin[d] {
                    return;
                }
                c.fin[d] = true;
                send(StreamEvent::Fin { conn, dir, offset: c.next[d], at });
                c.fin[1 - d].then_some(CloseReason::Fin)
            }
            10 => {
                send(StreamEvent::Rst { conn, dir, at });
                Some(CloseReason::Rst)
            }
            11 => {
                let since = match c.pending[d] {
                    Some(_) => None,
                    None => {
                        let back = u64::from(body.first().copied().unwrap_or(0));
                        let p = packet.saturating_sub(back).max(1);
                        Some(PacketRef::new(times[p as usize], p))
                    }
                };
                c.pending[d] = since;
                send(StreamEvent::Pending { conn, dir, since, at });
                None
            }
            12 | 13 => {
                // A range inside delivered data (a conflicting retransmission), or inside a gap
                // (bytes that came too late).
                let ranges = if kind == 12 { &c.data[d] } else { &c.gaps[d] };
                if ranges.is_empty() {
                    return;
                }
                let r = &ranges[usize::from(body.first().copied().unwrap_or(0)) % ranges.len()];
                let start = r.start + u64::from(u32_at(body, 1)) % (r.end - r.start);
                let len = 1 + u64::from(u32_at(body, 5)) % (r.end - start);
                let anomaly = if kind == 12 {
                    c.stats[d].mismatches += 1;
                    Anomaly::RetransmissionMismatch { offset: start, len }
                } else {
                    c.stats[d].late_bytes += len;
                    Anomaly::LateData { offset: start, len, after_ns: u64::from(u32_at(body, 9)) }
                };
                send(StreamEvent::Anomaly { conn, dir, anomaly, at });
                None
            }
            14 => {
                if c.ack_lead[d] {
                    return;
                }
                c.ack_lead[d] = true;
                let lead_ns = u64::from(u32_at(body, 0));
                let anomaly = Anomaly::AckBeforeData { offset: c.next[d], lead_ns };
                send(StreamEvent::Anomaly { conn, dir, anomaly, at });
                None
            }
            18 => {
                let anomaly = Anomaly::RstOutOfWindow {
                    seq: u32_at(body, 0),
                    outside: 1 + u64::from(u32_at(body, 4)),
                };
                send(StreamEvent::Anomaly { conn, dir, anomaly, at });
                None
            }
            19 => {
                let anomaly = Anomaly::SynOnOpenConnection { seq: u32_at(body, 0) };
                send(StreamEvent::Anomaly { conn, dir, anomaly, at });
                None
            }
            15 => Some(
                [
                    CloseReason::Idle,
                    CloseReason::Evicted,
                    CloseReason::Reused,
                    CloseReason::EndOfCapture,
                ][usize::from(body.first().copied().unwrap_or(0) % 4)],
            ),
            _ => {
                if body.is_empty() {
                    return;
                }
                if c.fin[d] {
                    let len = body.len() as u64;
                    c.stats[d].after_fin_bytes += len;
                    let anomaly = Anomaly::DataAfterFin { offset: c.next[d], len };
                    send(StreamEvent::Anomaly { conn, dir, anomaly, at });
                    return;
                }
                let received = other_isn.wrapping_add(1).wrapping_add(other_next as u32);
                at.ack = match kind {
                    5 => None,
                    6 => Some(received.wrapping_add(1 + u32::from(body[0]))),
                    _ => Some(received),
                };
                if let (7, Some(since)) = (kind, c.pending[d]) {
                    at = since;
                }
                let offset = c.next[d];
                c.next[d] += body.len() as u64;
                match c.data[d].last_mut() {
                    Some(r) if r.end == offset => r.end = c.next[d],
                    _ => c.data[d].push(offset..c.next[d]),
                }
                c.stats[d].segments += 1;
                c.stats[d].delivered_bytes += body.len() as u64;
                let seq = seq(c, offset);
                send(StreamEvent::Data { conn, dir, offset, seq, data: body, at });
                None
            }
        };
        if let Some(reason) = close {
            self.close(slot, reason);
        }
    }
}

/// Checks the events as they come, and keeps them.
struct Checker {
    max_message: usize,
    keep_payloads: bool,
    events: Vec<Event>,
    /// TCP connections open, and whether each was announced / ended.
    open: std::collections::HashMap<ConnId, (bool, bool)>,
    /// The connection whose `Close` is being handled.
    closing: Option<ConnId>,
}

impl Checker {
    fn new(max_message: usize, keep_payloads: bool) -> Self {
        Checker {
            max_message,
            keep_payloads,
            events: Vec::new(),
            open: Default::default(),
            closing: None,
        }
    }

    fn open(&mut self, id: ConnId) {
        assert!(self.open.insert(id, (false, false)).is_none(), "connection {id} opened twice");
    }

    fn closed(&mut self, id: ConnId) {
        let (announced, ended) = self.open.remove(&id).expect("the harness opened it");
        assert_eq!(announced, ended, "connection {id}: announced {announced}, ended {ended}");
        self.closing = None;
    }

    fn finish(&self) {
        assert!(self.open.is_empty(), "the harness closes every connection");
    }
}

impl EventSink for Checker {
    fn event(&mut self, e: Event) {
        let id = e.connection();
        let closing = self.closing;
        let state = self.open.get_mut(&id).unwrap_or_else(|| panic!("{e:?}: no such connection"));
        assert!(!state.1, "{e:?} after the connection's End");
        match &e {
            Event::Connection { .. } => {
                assert!(!state.0, "connection {id} announced twice");
                state.0 = true;
            }
            _ => assert!(state.0, "{e:?} before the connection was announced"),
        }
        match &e {
            Event::End { .. } => {
                assert_eq!(closing, Some(id), "End of {id} while the TCP connection is open");
                state.1 = true;
            }
            Event::Finding { code, severity, rfc, .. } => {
                let info = code.info();
                assert_eq!((*severity, *rfc), (info.severity, info.rfc), "{e:?}");
            }
            Event::Message {
                opcode,
                complete,
                length,
                captured_length,
                missing,
                payload,
                truncated,
                fragments,
                ..
            } => {
                assert!(*fragments >= 1, "{e:?}");
                if *complete {
                    assert_eq!(*missing, Some(0), "complete message with bytes missing: {e:?}");
                    if let Some(n) = length {
                        assert_eq!(n, captured_length, "complete message: {e:?}");
                    }
                }
                let kept = match payload {
                    Payload::Text(t) => Some(t.len()),
                    Payload::Bytes(b) => Some(b.len()),
                    Payload::Unavailable => None,
                };
                // Control frames (at most 125 bytes) are kept whatever the limits.
                let limit = if opcode.is_control() { 125 } else { self.max_message };
                match kept {
                    // Data messages are counted and validated, never kept.
                    Some(k) if !self.keep_payloads && !opcode.is_control() => {
                        assert_eq!(k, 0, "a payload kept with payloads off: {e:?}")
                    }
                    Some(k) => {
                        assert!(
                            k as u64 <= *captured_length,
                            "payload longer than captured: {e:?}"
                        );
                        assert!(k <= limit, "payload over the message limit: {e:?}");
                        assert_eq!(*truncated, (k as u64) < *captured_length, "truncated: {e:?}");
                    }
                    None => {}
                }
            }
            Event::Gap { length, .. } => assert!(*length > 0, "{e:?}"),
            Event::Frame { header_length, .. } => {
                assert!((2..=14).contains(header_length), "{e:?}")
            }
            Event::Connection { .. } | Event::Handshake { .. } | Event::Tls { .. } => {}
        }
        self.events.push(e);
    }
}
