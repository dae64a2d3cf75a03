//! One TCP connection seen by the analyzer: HTTP until an upgrade, then WebSocket frames.
//!
//! ```text
//!  Http ──request with Upgrade: websocket── (waits for the response) ──101──▶ WebSocket
//!    │                                          └── other status ──▶ Http (refused, reported)
//!    ├── first bytes not HTTP, handshake not captured or --ws-port ──▶ Probe ──frames found──▶ WebSocket
//!    └── anything else (not HTTP, gaps before an upgrade, body until close) ──▶ Ignored
//! ```
//!
//! A connection is announced to the sinks (a `Connection` event) only once it is known to be a
//! WebSocket attempt: an upgrade request, or frames found without a handshake. Client and server
//! are the HTTP client and server (or, without a handshake, the masking side and the other), even
//! where the TCP layer had to guess.

use super::AnalyzerConfig;
use super::checks::CheckId;
use crate::event::{CloseFrameInfo, Event, EventSink, HandshakeOutcome, Payload, Position};
use crate::http::{self, BodyKind, BodySkipper, Parsed, RequestInfo, Violation};
use crate::tcp::{CloseReason, ConnInfo, Direction, GapReason, PacketRef, RoleSource};
use crate::time::Timestamp;
use crate::ws::OpCode;
use crate::ws::direction::{DirConfig, DirectionDecoder, Message, WsOut};
use crate::ws::resync::{self, Expect, Found};
use std::collections::VecDeque;

/// Outstanding pings remembered per direction for round-trip times.
const MAX_PINGS: usize = 16;

/// Where a direction's buffered bytes came from: (stream offset, packet) marks.
#[derive(Debug, Default)]
struct Buffered {
    bytes: Vec<u8>,
    /// Stream offset of `bytes[0]`.
    start: u64,
    /// (offset, packet) of every piece appended, to find the packet of a byte.
    marks: VecDeque<(u64, PacketRef)>,
}

impl Buffered {
    fn push(&mut self, offset: u64, data: &[u8], at: PacketRef) {
        if self.bytes.is_empty() {
            self.start = offset;
        }
        self.bytes.extend_from_slice(data);
        self.marks.push_back((offset, at));
    }

    fn consume(&mut self, n: usize) {
        self.bytes.drain(..n.min(self.bytes.len()));
        self.start += n as u64;
        while self.marks.len() > 1 && self.marks.get(1).is_some_and(|m| m.0 <= self.start) {
            self.marks.pop_front();
        }
    }

    /// The position of the byte at the front.
    fn position(&self) -> Position {
        let at =
            self.marks.iter().rev().find(|m| m.0 <= self.start).or(self.marks.front()).map(|m| m.1);
        let at = at.unwrap_or_default();
        Position { packet: at.packet, ts: at.ts, offset: self.start }
    }

    /// The buffered bytes as the pieces they arrived in: (offset, bytes, packet).
    fn pieces(&self) -> Vec<(u64, &[u8], PacketRef)> {
        let end = self.start + self.bytes.len() as u64;
        let mut out = Vec::new();
        for (i, (off, at)) in self.marks.iter().enumerate() {
            let from = (*off).max(self.start);
            let to = self.marks.get(i + 1).map_or(end, |m| m.0).min(end);
            if from < to {
                let a = (from - self.start) as usize;
                let b = (to - self.start) as usize;
                out.push((from, &self.bytes[a..b], *at));
            }
        }
        out
    }
}

#[derive(Debug)]
enum ReqState {
    Head,
    Body(BodySkipper),
    /// The upgrade request was sent; its response decides what follows.
    AwaitResponse,
}

#[derive(Debug)]
enum RespState {
    Head,
    Body(BodySkipper),
}

#[derive(Debug)]
struct Pending {
    method: String,
    upgrade: Option<(Box<RequestInfo>, Position)>,
    /// The upgrade request's violations, reported after the handshake event.
    violations: Vec<Violation>,
}

#[derive(Debug)]
struct HttpPhase {
    /// Which TCP direction carries requests (the HTTP client's), once known.
    req_dir: Option<Direction>,
    buf: [Buffered; 2],
    req: ReqState,
    resp: RespState,
    pending: VecDeque<Pending>,
    /// Requests parsed so far.
    requests: u64,
}

#[derive(Debug)]
struct ProbePhase {
    buf: [Buffered; 2],
}

#[derive(Debug)]
struct WsPhase {
    /// Decoders indexed by TCP direction.
    dirs: [DirectionDecoder; 2],
}

#[derive(Debug)]
enum Phase {
    Http(HttpPhase),
    Probe(ProbePhase),
    WebSocket(Box<WsPhase>),
    Ignored,
}

/// Analyzer state of one connection.
#[derive(Debug)]
pub struct Session {
    info: ConnInfo,
    phase: Phase,
    /// The HTTP/WebSocket client is the TCP layer's server.
    swapped: bool,
    announced: bool,
    /// Which (WebSocket) direction sent the first close frame.
    first_close: Option<Direction>,
    close_sent: [bool; 2],
    /// Pings sent per WebSocket direction: payload and time.
    pings: [VecDeque<(Vec<u8>, Timestamp)>; 2],
}

impl Session {
    /// A new connection.
    pub fn new(info: &ConnInfo, cfg: &AnalyzerConfig) -> Self {
        let port_named = cfg.ws_ports.contains(&info.server.port())
            || cfg.ws_ports.contains(&info.client.port());
        let phase = if port_named && info.role == RoleSource::Guess {
            Phase::Probe(ProbePhase { buf: Default::default() })
        } else {
            Phase::Http(HttpPhase {
                req_dir: (info.role != RoleSource::Guess).then_some(Direction::ClientToServer),
                buf: Default::default(),
                req: ReqState::Head,
                resp: RespState::Head,
                pending: VecDeque::new(),
                requests: 0,
            })
        };
        Session {
            info: info.clone(),
            phase,
            swapped: false,
            announced: false,
            first_close: None,
            close_sent: [false; 2],
            pings: Default::default(),
        }
    }

    /// Whether the connection turned out to be a WebSocket attempt (and was announced).
    pub fn is_websocket(&self) -> bool {
        self.announced
    }

    /// The WebSocket direction of bytes travelling in TCP direction `d`.
    fn ws_dir(&self, d: Direction) -> Direction {
        if self.swapped { d.opposite() } else { d }
    }

    /// Bytes of TCP direction `dir` at stream offset `offset`.
    pub fn on_data(
        &mut self,
        dir: Direction,
        offset: u64,
        data: &[u8],
        at: PacketRef,
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) {
        let wsd = self.ws_dir(dir);
        match &mut self.phase {
            Phase::Http(h) => {
                h.buf[dir.index()].push(offset, data, at);
                self.run_http(cfg, sink);
            }
            Phase::Probe(p) => {
                p.buf[dir.index()].push(offset, data, at);
                self.run_probe(false, cfg, sink);
            }
            Phase::WebSocket(ws) => {
                let mut outs = Vec::new();
                ws.dirs[dir.index()].feed(offset, data, at, &mut |o| outs.push(o));
                for o in outs {
                    self.emit_ws(wsd, o, cfg, sink);
                }
            }
            Phase::Ignored => {}
        }
    }

    /// Bytes `[offset, offset + len)` of TCP direction `dir` are missing.
    #[allow(clippy::too_many_arguments)]
    pub fn on_gap(
        &mut self,
        dir: Direction,
        offset: u64,
        len: u64,
        seq: u32,
        reason: GapReason,
        at: PacketRef,
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) {
        let wsd = self.ws_dir(dir);
        match &mut self.phase {
            Phase::WebSocket(ws) => {
                sink.event(Event::Gap {
                    connection: self.info.id,
                    direction: wsd,
                    length: len,
                    seq,
                    reason,
                    at: Position { packet: at.packet, ts: at.ts, offset },
                });
                let mut outs = Vec::new();
                ws.dirs[dir.index()].gap(offset, len, at, &mut |o| outs.push(o));
                for o in outs {
                    self.emit_ws(wsd, o, cfg, sink);
                }
            }
            Phase::Http(h) if h.pending.iter().any(|p| p.upgrade.is_some()) => {
                // Bytes lost around the handshake: follow frames without it.
                let pending = std::mem::take(&mut h.pending);
                for p in pending {
                    self.no_response(p, sink);
                }
                self.phase = Phase::Probe(ProbePhase { buf: Default::default() });
            }
            Phase::Http(_) => {
                self.phase = if self.info.role == RoleSource::Guess {
                    Phase::Probe(ProbePhase { buf: Default::default() })
                } else {
                    Phase::Ignored
                }
            }
            Phase::Probe(p) => {
                // Searching continues after the gap; what was before it cannot be joined.
                p.buf[dir.index()] = Buffered::default();
            }
            Phase::Ignored => {}
        }
        let _ = cfg;
    }

    /// A TCP retransmission carried different bytes.
    pub fn on_conflict(
        &mut self,
        dir: Direction,
        offset: u64,
        len: u64,
        at: PacketRef,
        sink: &mut impl EventSink,
    ) {
        if self.announced {
            let d = self.ws_dir(dir);
            self.finding(
                CheckId::RetransmissionConflict,
                Some(d),
                Position { packet: at.packet, ts: at.ts, offset },
                format!(
                    "{len} retransmitted bytes at stream offset {offset} differ from the first copy"
                ),
                sink,
            );
        }
    }

    /// The connection ended.
    pub fn finish(
        &mut self,
        reason: CloseReason,
        at: PacketRef,
        ends: [u64; 2],
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) {
        // A connection still being searched for frames gets a last search over the finished
        // streams (where a chain ending at the end of the data is final).
        if matches!(self.phase, Phase::Probe(_)) {
            self.run_probe(true, cfg, sink);
        }
        let phase = std::mem::replace(&mut self.phase, Phase::Ignored);
        match phase {
            Phase::Http(mut h) => {
                for p in h.pending.drain(..) {
                    self.no_response(p, sink);
                }
            }
            Phase::WebSocket(mut ws) => {
                for d in Direction::BOTH {
                    let wsd = self.ws_dir(d);
                    let mut outs = Vec::new();
                    ws.dirs[d.index()].finish(ends[d.index()], at, &mut |o| outs.push(o));
                    for o in outs {
                        self.emit_ws(wsd, o, cfg, sink);
                    }
                }
                let pos = Position { packet: at.packet, ts: at.ts, offset: 0 };
                match self.first_close {
                    None => self.finding(
                        CheckId::ClosedWithoutCloseFrame,
                        None,
                        pos,
                        format!(
                            "the TCP connection ended ({}) without a close frame from either side",
                            reason_text(reason)
                        ),
                        sink,
                    ),
                    Some(first) if !self.close_sent[first.opposite().index()] => self.finding(
                        CheckId::CloseNotAnswered,
                        Some(first.opposite()),
                        pos,
                        format!("the {} sent a close frame that was never answered", side(first)),
                        sink,
                    ),
                    Some(_) => {}
                }
            }
            Phase::Probe(_) | Phase::Ignored => {}
        }
        if !self.announced && cfg.announce_tcp {
            self.announce(sink);
        }
        if self.announced {
            sink.event(Event::End {
                connection: self.info.id,
                reason,
                closed_first_by: self.first_close,
                clean: self.close_sent.iter().all(|c| *c),
                ts: at.ts,
            });
        }
    }

    // ── HTTP ──────────────────────────────────────────────────────────────────────────────────

    fn run_http(&mut self, cfg: &AnalyzerConfig, sink: &mut impl EventSink) {
        // Alternate between the two directions until neither makes progress.
        loop {
            let Phase::Http(h) = &mut self.phase else { return };
            let req_dir = match h.req_dir {
                Some(d) => d,
                None => match decide_request_direction(h) {
                    Decision::Requests(d) => d,
                    Decision::NotHttp => {
                        self.not_http(cfg);
                        self.run_probe(false, cfg, sink);
                        return;
                    }
                    Decision::Undecided => return,
                },
            };
            if h.req_dir.is_none() {
                h.req_dir = Some(req_dir);
                self.swapped = req_dir == Direction::ServerToClient;
            }
            let progressed_req = self.step_request(req_dir, cfg, sink);
            let progressed_resp = self.step_response(req_dir.opposite(), cfg, sink);
            if !progressed_req && !progressed_resp {
                return;
            }
        }
    }

    /// One step on the request side; true if something was consumed or the phase changed.
    fn step_request(
        &mut self,
        d: Direction,
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) -> bool {
        let Phase::Http(h) = &mut self.phase else { return false };
        let buf = &mut h.buf[d.index()];
        match &mut h.req {
            ReqState::AwaitResponse => false,
            ReqState::Body(skip) => match skip_body(skip, buf) {
                Some((progressed, done)) => {
                    if done {
                        h.req = ReqState::Head;
                    }
                    progressed
                }
                None => {
                    self.phase = Phase::Ignored;
                    true
                }
            },
            ReqState::Head => {
                if buf.bytes.is_empty() {
                    return false;
                }
                if http::looks_like_request_start(&buf.bytes) == Some(false) {
                    self.not_http(cfg);
                    return true;
                }
                match http::parse_request(&buf.bytes, cfg.max_http_head) {
                    Ok(Parsed::NeedMore) => false,
                    Err(_) => {
                        self.not_http(cfg);
                        true
                    }
                    Ok(Parsed::Done(head, n)) => {
                        let pos = buf.position();
                        buf.consume(n);
                        h.requests += 1;
                        if http::is_upgrade_request(&head) {
                            let info = http::request_info(&head, pos.packet);
                            let violations = http::check_request(&head);
                            h.pending.push_back(Pending {
                                method: head.method.clone(),
                                upgrade: Some((Box::new(info), pos)),
                                violations,
                            });
                            h.req = ReqState::AwaitResponse;
                            self.announce(sink);
                        } else {
                            h.pending.push_back(Pending {
                                method: head.method.clone(),
                                upgrade: None,
                                violations: Vec::new(),
                            });
                            match http::request_body(&head) {
                                Ok(BodyKind::None) => {}
                                Ok(kind) => h.req = ReqState::Body(BodySkipper::new(kind)),
                                Err(_) => self.phase = Phase::Ignored,
                            }
                        }
                        true
                    }
                }
            }
        }
    }

    /// One step on the response side.
    fn step_response(
        &mut self,
        d: Direction,
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) -> bool {
        let Phase::Http(h) = &mut self.phase else { return false };
        let buf = &mut h.buf[d.index()];
        match &mut h.resp {
            RespState::Body(skip) => match skip_body(skip, buf) {
                Some((progressed, done)) => {
                    if done {
                        h.resp = RespState::Head;
                    }
                    progressed
                }
                None => {
                    self.phase = Phase::Ignored;
                    true
                }
            },
            RespState::Head => {
                if buf.bytes.is_empty() || h.pending.is_empty() {
                    if !buf.bytes.is_empty()
                        && h.requests == 0
                        && buf.bytes.len() > cfg.max_http_head
                    {
                        self.phase = Phase::Ignored;
                    }
                    return false;
                }
                match http::parse_response(&buf.bytes, cfg.max_http_head) {
                    Ok(Parsed::NeedMore) => false,
                    Err(e) => {
                        if let Some((_, pos)) = h.pending.front().and_then(|p| p.upgrade.as_ref()) {
                            let pos = *pos;
                            let detail = format!(
                                "the response to the upgrade request could not be parsed: {e}"
                            );
                            self.finding(
                                CheckId::HttpMalformed,
                                Some(Direction::ServerToClient),
                                pos,
                                detail,
                                sink,
                            );
                        }
                        self.phase = Phase::Ignored;
                        true
                    }
                    Ok(Parsed::Done(head, n)) => {
                        let pos = buf.position();
                        buf.consume(n);
                        if http::is_interim(&head) {
                            return true;
                        }
                        let Some(req) = h.pending.pop_front() else { return true };
                        match req.upgrade {
                            Some((info, req_pos)) => self.upgrade_response(
                                info,
                                req_pos,
                                req.violations,
                                &head,
                                pos,
                                cfg,
                                sink,
                            ),
                            None => self.skip_response_body(&head, &req.method),
                        }
                        true
                    }
                }
            }
        }
    }

    fn skip_response_body(&mut self, head: &http::ResponseHead, method: &str) {
        let Phase::Http(h) = &mut self.phase else { return };
        match http::response_body(head, method) {
            Ok(BodyKind::None) => {}
            Ok(BodyKind::UntilClose) | Err(_) => self.phase = Phase::Ignored,
            Ok(kind) => h.resp = RespState::Body(BodySkipper::new(kind)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn upgrade_response(
        &mut self,
        req: Box<RequestInfo>,
        req_pos: Position,
        req_violations: Vec<Violation>,
        head: &http::ResponseHead,
        pos: Position,
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) {
        let info = http::response_info(head, pos.packet);
        let (negotiated, accept_valid, violations) = http::check_response(&req, head);
        let outcome =
            if head.status == 101 { HandshakeOutcome::Upgraded } else { HandshakeOutcome::Refused };
        self.handshake(Some(req), Some(Box::new(info)), accept_valid, outcome, sink);
        for v in req_violations {
            self.violation(v, Some(Direction::ClientToServer), req_pos, sink);
        }
        for v in violations {
            self.violation(v, Some(Direction::ServerToClient), pos, sink);
        }
        let Phase::Http(h) = &mut self.phase else { return };
        if outcome == HandshakeOutcome::Refused {
            h.req = ReqState::Head;
            self.skip_response_body(head, "GET");
            return;
        }
        // 101: everything after the response head, in both directions, is frames.
        let req_dir = h.req_dir.unwrap_or(Direction::ClientToServer);
        let c_at = h.buf[req_dir.index()].position();
        let c_buf = std::mem::take(&mut h.buf[req_dir.index()]);
        let s_buf = std::mem::take(&mut h.buf[req_dir.opposite().index()]);
        let (c_start, s_start) = (c_buf.start, s_buf.start);
        let deflate = negotiated.deflate;
        let rsv_allowed = if negotiated.unknown_extensions {
            0b111
        } else if deflate.is_some() {
            0b100
        } else {
            0
        };
        let make = |from_client: bool, no_takeover: Option<bool>, start: u64| {
            DirectionDecoder::new(
                DirConfig {
                    from_client,
                    deflate: no_takeover,
                    rsv_allowed,
                    from_start: true,
                    max_message: cfg.max_message,
                    keep_payloads: cfg.keep_payloads,
                    max_inflate: cfg.max_inflate,
                    max_resync: cfg.max_resync,
                },
                start,
            )
        };
        let client_dec = make(true, deflate.map(|d| d.client_no_context_takeover), c_start);
        let server_dec = make(false, deflate.map(|d| d.server_no_context_takeover), s_start);
        let dirs = if req_dir == Direction::ClientToServer {
            [client_dec, server_dec]
        } else {
            [server_dec, client_dec]
        };
        self.phase = Phase::WebSocket(Box::new(WsPhase { dirs }));
        if !c_buf.bytes.is_empty() && c_at.ts < pos.ts {
            self.finding(
                CheckId::ClientDataBeforeResponse,
                Some(Direction::ClientToServer),
                c_at,
                format!(
                    "{} bytes sent after the upgrade request before the server's 101",
                    c_buf.bytes.len()
                ),
                sink,
            );
        }
        for (off, bytes, at) in s_buf.pieces() {
            self.on_data(req_dir.opposite(), off, bytes, at, cfg, sink);
        }
        for (off, bytes, at) in c_buf.pieces() {
            self.on_data(req_dir, off, bytes, at, cfg, sink);
        }
    }

    /// The request direction does not carry HTTP.
    fn not_http(&mut self, cfg: &AnalyzerConfig) {
        let Phase::Http(h) = &mut self.phase else { return };
        let port_named = cfg.ws_ports.contains(&self.info.server.port())
            || cfg.ws_ports.contains(&self.info.client.port());
        self.phase = if h.requests == 0 && (self.info.role == RoleSource::Guess || port_named) {
            let buf = std::mem::take(&mut h.buf);
            Phase::Probe(ProbePhase { buf })
        } else {
            Phase::Ignored
        };
        if let Phase::Probe(_) = self.phase {
            self.swapped = false;
        }
    }

    // ── Mid-stream pickup ─────────────────────────────────────────────────────────────────────

    fn run_probe(&mut self, complete: bool, cfg: &AnalyzerConfig, sink: &mut impl EventSink) {
        let Phase::Probe(p) = &mut self.phase else { return };
        let any = Expect { masked: None, rsv_allowed: 0b100 };
        let found: Vec<(Direction, usize, bool)> = Direction::BOTH
            .iter()
            .filter_map(|d| match resync::find_boundary(&p.buf[d.index()].bytes, any, complete) {
                Found::At { offset, masked } => Some((*d, offset, masked)),
                Found::NotYet { .. } => None,
            })
            .collect();
        let Some(&(d, _, masked)) = found.first() else {
            if p.buf.iter().all(|b| b.bytes.len() > cfg.max_resync) {
                self.phase = Phase::Ignored;
            }
            return;
        };
        // The masking side is the client.
        let client_tcp_dir = if masked { d } else { d.opposite() };
        self.swapped = client_tcp_dir == Direction::ServerToClient;
        let bufs = std::mem::take(&mut p.buf);
        let make = |from_client: bool, start: u64| {
            DirectionDecoder::new(
                DirConfig {
                    from_client,
                    deflate: Some(false),
                    rsv_allowed: 0b100,
                    from_start: false,
                    max_message: cfg.max_message,
                    keep_payloads: cfg.keep_payloads,
                    max_inflate: cfg.max_inflate,
                    max_resync: cfg.max_resync,
                },
                start,
            )
        };
        let dirs = [
            make(client_tcp_dir == Direction::ClientToServer, bufs[0].start),
            make(client_tcp_dir == Direction::ServerToClient, bufs[1].start),
        ];
        self.phase = Phase::WebSocket(Box::new(WsPhase { dirs }));
        self.announce(sink);
        let at = bufs[d.index()].position();
        self.handshake(None, None, None, HandshakeOutcome::Upgraded, sink);
        self.finding(
            CheckId::HandshakeNotSeen,
            None,
            at,
            "no opening handshake in the capture: frames were found by validating consecutive frame headers; \
             compressed messages can only be inflated when they do not refer to earlier data"
                .to_string(),
            sink,
        );
        for dir in Direction::BOTH {
            for (off, bytes, at) in bufs[dir.index()].pieces() {
                self.on_data(dir, off, bytes, at, cfg, sink);
            }
        }
    }

    // ── Output ────────────────────────────────────────────────────────────────────────────────

    fn announce(&mut self, sink: &mut impl EventSink) {
        if self.announced {
            return;
        }
        self.announced = true;
        let (client, server) = if self.swapped {
            (self.info.server, self.info.client)
        } else {
            (self.info.client, self.info.server)
        };
        sink.event(Event::Connection {
            connection: self.info.id,
            client,
            server,
            role: self.info.role,
            packet: self.info.first.packet,
            ts: self.info.first.ts,
        });
    }

    fn handshake(
        &mut self,
        request: Option<Box<RequestInfo>>,
        response: Option<Box<http::ResponseInfo>>,
        accept_valid: Option<bool>,
        outcome: HandshakeOutcome,
        sink: &mut impl EventSink,
    ) {
        self.announce(sink);
        sink.event(Event::Handshake {
            connection: self.info.id,
            seen: request.is_some() || response.is_some(),
            request,
            response,
            accept_valid,
            outcome,
        });
    }

    /// An upgrade request that never got a response.
    fn no_response(&mut self, p: Pending, sink: &mut impl EventSink) {
        if let Some((req, pos)) = p.upgrade {
            self.handshake(Some(req), None, None, HandshakeOutcome::NoResponse, sink);
            for v in p.violations {
                self.violation(v, Some(Direction::ClientToServer), pos, sink);
            }
        }
    }

    fn violation(
        &mut self,
        v: Violation,
        dir: Option<Direction>,
        at: Position,
        sink: &mut impl EventSink,
    ) {
        self.finding(v.check, dir, at, v.detail, sink);
    }

    fn finding(
        &mut self,
        check: CheckId,
        direction: Option<Direction>,
        at: Position,
        message: String,
        sink: &mut impl EventSink,
    ) {
        let info = check.info();
        sink.event(Event::Finding {
            connection: self.info.id,
            code: check,
            severity: info.severity,
            rfc: info.rfc,
            direction,
            at,
            message,
        });
    }

    /// Turns one direction decoder output into events (`d` is the WebSocket direction).
    fn emit_ws(
        &mut self,
        d: Direction,
        out: WsOut,
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) {
        match out {
            WsOut::Frame { header, at } => {
                if cfg.emit_frames {
                    sink.event(Event::Frame {
                        connection: self.info.id,
                        direction: d,
                        fin: header.fin,
                        rsv: header.rsv,
                        opcode: header.opcode,
                        mask: header.mask,
                        payload_length: header.payload_len,
                        header_length: header.header_len,
                        at,
                    });
                }
            }
            WsOut::Finding { check, detail, at } => self.finding(check, Some(d), at, detail, sink),
            WsOut::Message(m) => self.emit_message(d, *m, sink),
        }
    }

    fn emit_message(&mut self, d: Direction, m: Message, sink: &mut impl EventSink) {
        let mut rtt = None;
        // A control frame's payload is always `Payload::Bytes`: its raw (unmasked) bytes.
        let control: &[u8] = match &m.payload {
            Payload::Bytes(b) if m.opcode.is_control() => b,
            _ => &[],
        };
        match m.opcode {
            OpCode::Ping => {
                let q = &mut self.pings[d.index()];
                if q.len() >= MAX_PINGS {
                    q.pop_front();
                }
                q.push_back((control.to_vec(), m.first.ts));
            }
            OpCode::Pong => {
                let q = &mut self.pings[d.opposite().index()];
                match q.iter().position(|(p, _)| p.as_slice() == control) {
                    Some(i) => {
                        let (_, sent) = q.remove(i).unwrap_or_default();
                        q.drain(..i);
                        rtt = Some(m.first.ts.saturating_since(sent).as_secs_f64());
                    }
                    None => self.finding(
                        CheckId::PongUnsolicited,
                        Some(d),
                        m.first,
                        format!("pong with {} bytes answers no outstanding ping", control.len()),
                        sink,
                    ),
                }
            }
            OpCode::Close => {
                self.first_close.get_or_insert(d);
                self.close_sent[d.index()] = true;
            }
            _ => {}
        }
        let close = m.close.map(|(code, reason)| CloseFrameInfo { code, reason, at: m.first });
        let payload = m.payload;
        sink.event(Event::Message {
            connection: self.info.id,
            direction: d,
            opcode: m.opcode,
            length: m.length,
            wire_length: m.wire_length,
            compressed: m.compressed,
            fragments: m.fragments,
            first: m.first,
            last: m.last,
            payload,
            truncated: m.truncated,
            close,
            rtt,
        });
    }
}

/// Skips buffered body bytes: `Some((progressed, done))`, or `None` when the body is malformed.
fn skip_body(skip: &mut BodySkipper, buf: &mut Buffered) -> Option<(bool, bool)> {
    let p = skip.skip(&buf.bytes).ok()?;
    buf.consume(p.consumed);
    Some((p.consumed > 0 || p.done, p.done))
}

enum Decision {
    Requests(Direction),
    NotHttp,
    Undecided,
}

/// Without a captured handshake: the direction whose first bytes look like a request, or not
/// HTTP at all when some bytes cannot start one and none can.
fn decide_request_direction(h: &HttpPhase) -> Decision {
    let looks = |d: Direction| http::looks_like_request_start(&h.buf[d.index()].bytes);
    match (looks(Direction::ClientToServer), looks(Direction::ServerToClient)) {
        (Some(true), _) => Decision::Requests(Direction::ClientToServer),
        (_, Some(true)) => Decision::Requests(Direction::ServerToClient),
        (Some(false), _) | (_, Some(false)) => Decision::NotHttp,
        _ => Decision::Undecided,
    }
}

fn side(d: Direction) -> &'static str {
    match d {
        Direction::ClientToServer => "client",
        Direction::ServerToClient => "server",
    }
}

fn reason_text(r: CloseReason) -> &'static str {
    match r {
        CloseReason::Fin => "FIN",
        CloseReason::Rst => "RST",
        CloseReason::Idle => "idle timeout",
        CloseReason::Evicted => "evicted at the connection limit",
        CloseReason::Reused => "4-tuple reused",
        CloseReason::EndOfCapture => "end of capture",
    }
}
