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
use crate::event::{
    CloseFrameInfo, Continues, Event, EventSink, HandshakeOutcome, Payload, Position,
};
use crate::http::{self, BodyKind, BodySkipper, HttpError, Parsed, RequestInfo, Violation};
use crate::memory::{Charge, Level};
use crate::tcp::{CloseReason, CommunityId, ConnInfo, Direction, GapReason, PacketRef, RoleSource};
use crate::time::Timestamp;
use crate::tls::{Decryption, Out as TlsOut, TlsLayer};
use crate::ws::OpCode;
use crate::ws::direction::{DirConfig, DirectionDecoder, Message, WsOut};
use crate::ws::resync::{self, Expect, Found};
use std::collections::VecDeque;

/// What a WebSocket direction's decoder gives for one piece of the stream, keyed: most pieces
/// give a few items, kept on the stack (a piece per packet: an allocation each was 42,000 per
/// 100 MB).
type WsOuts = smallvec::SmallVec<[(u64, WsOut); 4]>;

/// Outstanding pings remembered per direction for round-trip times.
const MAX_PINGS: usize = 16;
/// Output items a connection holds back at most to keep capture order; beyond it the oldest are
/// released (and `capture_order_not_kept` is reported once).
const MAX_HELD: usize = 4096;

/// One output item waiting for earlier packets' output.
#[derive(Debug)]
struct Held {
    key: u64,
    seq: u64,
    /// WebSocket direction.
    dir: Direction,
    /// Capture time when it was held.
    since: Timestamp,
    item: Item,
}

#[derive(Debug)]
enum Item {
    /// Decoder output, turned into events when released (ping/pong matching and the closing
    /// handshake follow the release order, which is capture order).
    Ws(WsOut),
    /// A finished event.
    Event(Box<Event>),
}

/// What a connection's bytes showed, to say what it carried when it is not WebSocket.
#[derive(Debug, Default)]
struct Saw {
    bytes: bool,
    tls: bool,
    http: bool,
    gap_before_handshake: bool,
    /// Bytes before the frames were found were cut by the capture's snapshot length (the
    /// handshake was captured, in part).
    snaplen_before_frames: bool,
    /// A `Handshake` event with an outcome counted in the summary (not `no_response`).
    outcome: bool,
    /// The capture lost bytes of this WebSocket direction (indexed by [`Direction::index`]).
    lost: [bool; 2],
}

/// Keeps a WebSocket connection's output in capture order.
///
/// Every item has an order key: the packet it belongs to (a frame's header, the packet that
/// completed a message). An item is released once neither direction can still produce output
/// with a smaller key: no bytes of an earlier packet wait behind a TCP hole (`tcp`) or inside a
/// decoder (a split frame header, bytes kept while searching for a frame boundary). The keys of
/// a direction's decoded output never decrease, so each direction keeps its stream order; the
/// session's own events (gaps, TCP notes) are placed by their packet alone.
///
/// Invariant: `held` is sorted by `(key, seq)`.
#[derive(Debug, Default)]
struct Order {
    held: VecDeque<Held>,
    /// Heap bytes of what is held beyond the queue's own slots (for the memory budget).
    bytes: usize,
    seq: u64,
    /// Packet of the oldest bytes waiting behind a TCP hole, per TCP direction.
    tcp: [Option<u64>; 2],
    /// The last key given, per WebSocket direction.
    last: [u64; 2],
    /// Items were released before the output they waited for (reported once).
    forced: bool,
}

impl Order {
    fn insert(&mut self, key: u64, dir: Direction, since: Timestamp, item: Item) {
        // A direction's decoded output keeps its stream order. An event of the session (a gap)
        // neither moves nor is moved by it: output a decoder held on probation comes after it,
        // from bytes before it (helper-39: the client's messages before a gap, held, were all
        // keyed at the gap's packet and came after every server message).
        let key = match item {
            Item::Ws(_) => {
                let key = key.max(self.last[dir.index()]);
                self.last[dir.index()] = key;
                key
            }
            Item::Event(_) => key,
        };
        self.seq += 1;
        self.bytes += item_bytes(&item);
        let h = Held { key, seq: self.seq, dir, since, item };
        let at = self.held.partition_point(|x| (x.key, x.seq) <= (h.key, h.seq));
        self.held.insert(at, h);
    }
}

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

    /// The packet that carried the byte at the front: the last mark at or before it, found by
    /// halving (marks are in offset order; a scan from the back cost the number of pieces
    /// buffered, at every segment of a 101 waiting for its request: 200,000 one-byte
    /// segments took 39 s instead of 0.08).
    fn front_packet(&self) -> Option<PacketRef> {
        let i = self.marks.partition_point(|m| m.0 <= self.start);
        i.checked_sub(1).and_then(|i| self.marks.get(i)).or(self.marks.front()).map(|m| m.1)
    }

    /// The position of the byte at the front.
    fn position(&self) -> Position {
        let at = self.front_packet().unwrap_or_default();
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

/// Findings about a connection's TCP kept until its handshake is seen.
const MAX_EARLY_NOTES: usize = 4;
/// Gaps held, at most, until a connection is announced (beside [`MAX_EARLY_NOTES`]).
const MAX_EARLY_GAPS: usize = 32;

/// What a held item costs (for the memory budget).
fn item_bytes(item: &Item) -> usize {
    match item {
        Item::Ws(WsOut::Message(m)) => size_of::<Message>() + m.payload.capacity(),
        Item::Ws(WsOut::Finding { detail, .. }) => detail.capacity(),
        Item::Ws(WsOut::Frame { .. }) => 0,
        Item::Event(e) => {
            size_of::<Event>()
                + match e.as_ref() {
                    Event::Message { payload: p, .. } => p.capacity(),
                    Event::Finding { message, .. } => message.capacity(),
                    _ => 256,
                }
        }
    }
}

impl Buffered {
    /// Heap bytes held.
    fn footprint(&self) -> usize {
        self.bytes.capacity() + self.marks.capacity() * size_of::<(u64, PacketRef)>()
    }
}

#[derive(Debug)]
enum ReqState {
    Head,
    Body(BodySkipper),
    /// An upgrade request head longer than the head limit: its rest is dropped up to its end.
    SkipHead(HeadSkipper),
    /// The upgrade request was sent; its response decides what follows.
    AwaitResponse,
}

/// Drops a head's bytes up to the empty line that ends it, keeping only the last three bytes
/// seen (an ending may straddle two pieces).
#[derive(Debug)]
struct HeadSkipper {
    tail: Vec<u8>,
}

impl HeadSkipper {
    /// After `seen`, the first bytes of the head.
    fn after(seen: &[u8]) -> Self {
        HeadSkipper { tail: seen[seen.len().saturating_sub(3)..].to_vec() }
    }

    /// Bytes of `buf` that belong to the head, and whether it ended.
    fn feed(&mut self, buf: &[u8]) -> (usize, bool) {
        let mut joined = std::mem::take(&mut self.tail);
        let carried = joined.len();
        joined.extend_from_slice(&buf[..buf.len().min(64 << 10)]);
        for (i, w) in joined.windows(2).enumerate() {
            let end = match w {
                b"\n\n" => Some(i + 2),
                _ if joined.get(i..i + 3) == Some(b"\n\r\n") => Some(i + 3),
                _ => None,
            };
            if let Some(end) = end
                && end > carried
            {
                return (end - carried, true);
            }
        }
        let used = joined.len() - carried;
        self.tail = joined[joined.len().saturating_sub(3)..].to_vec();
        (used, false)
    }
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

impl Pending {
    /// Bytes it holds on the heap besides itself (the upgrade request boxed, with its texts).
    fn heap_bytes(&self) -> usize {
        self.method.capacity()
            + self.upgrade.as_ref().map_or(0, |(r, _)| size_of::<RequestInfo>() + r.heap_bytes())
            + Violation::list_bytes(&self.violations)
    }
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
    /// Bytes of the request direction went missing before any request was read: a 101 alone
    /// may then start the frames.
    request_lost: bool,
    /// With `request_lost`: the request direction's bytes buffered follow bytes lost from its
    /// first byte on (the request, and the frames after it start where the bytes resume, when
    /// only the request was lost), not a later gap.
    lost_at_start: bool,
    /// A response waits for the client's bytes: its first (see `HttpPhase::wait_for_request`),
    /// or the end of a request head longer than what is kept of it.
    waiting: bool,
    /// A response waits no longer: the reorder window passed, bytes went missing, the
    /// connection ended, or the client's first request is no upgrade.
    no_wait: bool,
}

impl HttpPhase {
    fn new(req_dir: Option<Direction>, requests: u64) -> HttpPhase {
        HttpPhase {
            req_dir,
            buf: Default::default(),
            req: ReqState::Head,
            resp: RespState::Head,
            pending: VecDeque::new(),
            requests,
            request_lost: false,
            lost_at_start: false,
            waiting: false,
            no_wait: false,
        }
    }

    /// Whether a response with no request before it (in TCP direction `resp`) waits for the
    /// client's first bytes. On a connection picked up without its SYN-ACK, a response seen
    /// before any byte of the client is taken as answering a request sent before the capture
    /// started. But where two capture points are merged and their clocks disagree, the request
    /// is captured after its 101 (and the client's SYN with it, its SYN-ACK lost): read as
    /// frames, it made errors the client never made (118 in a damaged copy of
    /// `merged-skew-minus`). So a 101 waits: an upgrade request from the client answers it,
    /// and anything else makes it a 101 alone. Bounded by `--max-resync` of the server's bytes
    /// (or a head's worth, if more: that let 23 of helper-42's connections lose their request,
    /// whose server sent 65–91 KB before it was captured), the reorder window (capture time
    /// since the response: checked at its own packets and at the table's sweeps, see
    /// `Session::stop_waiting`), bytes lost on either side and the connection's end. Only a
    /// 101: another response alone answered an earlier request (helper-43: a 200 taken as the
    /// answer to the next upgrade request, a refusal nobody made).
    fn wait_for_request(&mut self, resp: Direction, lost: bool, cfg: &AnalyzerConfig) -> bool {
        // Nothing from the client yet, or only the start of a request (one longer than a
        // segment comes in several: helper-44, a 3.7 KB request with a large cookie).
        let client = &self.buf[resp.opposite().index()];
        let client_silent = client.marks.is_empty()
            || (http::looks_like_request_start(&client.bytes) != Some(false)
                && client.bytes.len() <= cfg.max_http_head);
        let buf = &self.buf[resp.index()];
        let is_101 = buf.bytes.starts_with(b"HTTP/") && buf.bytes.get(8..12) == Some(b" 101");
        let waited = match (buf.front_packet(), buf.marks.back()) {
            (Some(first), Some(last)) => last.1.ts > first.ts.saturating_add(cfg.reorder_window),
            _ => false,
        };
        // The bytes held and the marks of the pieces they came in (one-byte segments would
        // otherwise hold 32 bytes of marks per byte).
        let held = buf.bytes.len() + buf.marks.len() * size_of::<(u64, PacketRef)>();
        let wait = is_101
            && client_silent
            && !lost
            && !self.no_wait
            && !waited
            && held <= cfg.max_http_head.max(cfg.max_resync);
        self.waiting = wait;
        wait
    }

    /// The time of the packet of the response that waits, if one does.
    fn waiting_since(&self) -> Option<Timestamp> {
        let resp = self.req_dir.filter(|_| self.waiting)?.opposite();
        self.buf[resp.index()].front_packet().map(|p| p.ts)
    }
}

#[derive(Debug, Default)]
struct ProbePhase {
    buf: [Buffered; 2],
    /// Offsets of each buffer ruled out as frame starts.
    resume: [usize; 2],
    /// Directions searched past `max_resync` without frames: not buffered any more.
    given_up: [bool; 2],
    /// Chains of frames that ran past the `max_resync` bytes searched, followed on by their
    /// headers (the bytes are kept only from the earliest next header on, and no new search
    /// starts): a capture that starts inside a stream of frames longer than that finds them.
    /// Empty once none is left (the direction is then given up).
    following: [Vec<resync::Chain>; 2],
    /// Bytes given up while following them (before the bytes kept).
    passed: [u64; 2],
    /// The upgrade request whose response the capture lost (a gap, or the client went on
    /// without one): one handshake event with the request when frames are found, `no_response`
    /// when none are.
    unanswered: Option<Box<Pending>>,
    /// With `unanswered`: the request direction (index) and where its request ended. Frames
    /// found in it from there answer the request; anything else before them (a retried
    /// request after a lost refusal) says the request was not upgraded.
    request_end: Option<(usize, u64)>,
    /// With `request_end`: the request direction's bytes from its request's end up to a gap
    /// were at least two complete masked frames (fewer than a search needs on its own: that
    /// they start where the request ended is the rest of the evidence). The client is then
    /// that direction.
    anchored: bool,
    /// With `request_end`: the request direction lost bytes right at its request's end, before
    /// any other came; frames found in it after them answer the request as frames at its end do.
    lost_since_request: bool,
    /// With `anchored`: the request was lost, not seen (`request_end` is the end of the bytes
    /// lost, which may have ended inside a frame): the frames are a guess, decoded on probation
    /// as frames a search found (a header that refutes them is not the client's error), and
    /// frames, perhaps a message's first fragments, may have been lost with the request.
    anchored_after_loss: bool,
    /// A connection seen from its SYN whose first bytes (its request, perhaps) were lost, and
    /// no 101 came: one side's frames are enough only when their masking agrees with the roles
    /// its SYN gave (masked from the client, not from the server); else both sides must show
    /// frames (helper-36: TLS, HTTP bodies and HTTP/2 that lost their first segment were taken
    /// for WebSocket, 1 to 3 in 100).
    both_sides: bool,
}

/// Chains a probe follows past `max_resync` bytes, at most, per direction.
const MAX_FOLLOWED: usize = 64;

impl ProbePhase {
    /// Follows direction `i`'s chains through the bytes kept: once the earliest is convincing,
    /// whether its frames are masked and where decoding starts (its first frame still kept);
    /// while it is undecided, only the bytes from the earliest next header on are kept, `max`
    /// at most; with none left, the direction is given up.
    fn follow(
        &mut self,
        i: usize,
        expect: Expect,
        complete: bool,
        max: usize,
    ) -> (Option<bool>, Option<u64>) {
        let (b, start) = (&self.buf[i].bytes, self.buf[i].start);
        let f = &mut self.following[i];
        f.retain_mut(|c| c.advance(b, start, expect, complete) != resync::Verdict::Reject);
        let end = start + b.len() as u64;
        match f.first() {
            None => {}
            Some(c) if c.accepted().is_none() => {
                // A later chain accepted waits at its next header for the earliest to be
                // decided, and the bytes from there would all be kept: past `max` it is given
                // up (an earliest chain of 16 MB frames kept 155 MB a connection).
                if end.saturating_sub(start) > max as u64 {
                    let floor = end - max as u64;
                    let mut n = 0;
                    f.retain(|c| {
                        n += 1;
                        n == 1 || c.accepted().is_none() || c.next_header() >= floor
                    });
                }
                let from = f.iter().map(resync::Chain::next_header).min().unwrap_or(end);
                let n = usize::try_from(from.saturating_sub(start)).unwrap_or(usize::MAX);
                self.passed[i] += n.min(b.len()) as u64;
                self.buf[i].consume(n);
                return (None, None);
            }
            Some(c) => {
                if let (Some(masked), Some(at)) = (c.accepted(), c.first_frame_from(start, end)) {
                    f.clear();
                    return (Some(masked), Some(at));
                }
            }
        }
        f.clear();
        self.given_up[i] = true;
        self.buf[i] = Buffered::default();
        (None, None)
    }
}

#[derive(Debug)]
struct WsPhase {
    /// Decoders indexed by TCP direction.
    dirs: [DirectionDecoder; 2],
}

/// After a 101, until the first bytes of a direction show what the peers do.
#[derive(Debug)]
struct SwitchPhase {
    /// The decoders to use when frames follow.
    ws: WsPhase,
    req_dir: Direction,
    /// Bytes after the request and response heads, per TCP direction.
    buf: [Buffered; 2],
    requests: u64,
    /// Where the 101 was.
    response_at: Position,
    /// The handshake, reported once the outcome is known.
    handshake: Box<Answered>,
}

impl Answered {
    /// Bytes it holds (itself boxed, the request and response with their texts).
    fn heap_bytes(&self) -> usize {
        size_of::<Answered>()
            + size_of::<RequestInfo>()
            + self.request.heap_bytes()
            + size_of::<http::ResponseInfo>()
            + self.response.heap_bytes()
            + Violation::list_bytes(&self.req_violations)
            + Violation::list_bytes(&self.violations)
            + self.client_early.as_ref().map_or(0, |e| size_of::<Event>() + e.payload_capacity())
    }
}

/// An upgrade request and its 101, held until what follows shows the outcome.
#[derive(Debug)]
struct Answered {
    request: Box<RequestInfo>,
    response: Box<http::ResponseInfo>,
    accept_valid: Option<bool>,
    req_violations: Vec<Violation>,
    req_pos: Position,
    violations: Vec<Violation>,
    /// The client's bytes before the 101, when frames follow (a finding).
    client_early: Option<Event>,
}

/// What a merge of two capture points (or queues) means for the reader.
const SKEW_EXPLAINED: &str = "packets were captured out of the order they were sent (two \
     capture points, queues or clocks merged: a SPAN/TAP, a mirror, mergecap, a multi-queue \
     NIC), so times across the two directions are off and round-trip times are not measured";

#[derive(Debug)]
enum Phase {
    Http(HttpPhase),
    Switching(Box<SwitchPhase>),
    Probe(ProbePhase),
    WebSocket(Box<WsPhase>),
    Ignored,
}

/// What a connection turned out to carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// WebSocket, or a WebSocket upgrade attempt (announced).
    WebSocket,
    /// TLS records (wss:// among others).
    Tls,
    /// HTTP/1.1 without a WebSocket upgrade.
    Http,
    /// Bytes went missing before a handshake could be seen.
    GapBeforeHandshake,
    /// No payload at all.
    Empty,
    /// Anything else.
    Other,
}

/// [`Session::resume_mark`]: the connection was shown, its handshake's outcome was not.
pub const RESUME_SHOWN: u8 = 1;
/// [`Session::resume_mark`]: the connection and its handshake's outcome were shown.
pub const RESUME_COUNTED: u8 = 2;
/// [`Session::resume_mark`]: the connection was not shown, and carried plain HTTP or TLS: the
/// part that resumes it is not searched for frames with the little evidence a connection known
/// to be WebSocket needs (a JSON body is not made into frames).
pub const RESUME_NOT_WEBSOCKET: u8 = 3;

/// Analyzer state of one connection.
#[derive(Debug)]
pub struct Session {
    info: ConnInfo,
    phase: Phase,
    /// The HTTP/WebSocket client is the TCP layer's server.
    swapped: bool,
    announced: bool,
    /// Seed of the Community ID, computed once, when the connection is announced.
    community_id_seed: u16,
    /// Which (WebSocket) direction sent the first close frame.
    first_close: Option<Direction>,
    close_sent: [bool; 2],
    /// Pings sent per WebSocket direction: payload and time.
    pings: [VecDeque<(Vec<u8>, Timestamp)>; 2],
    /// Pongs that answered no ping yet, per WebSocket direction: payload and position. In a
    /// capture that merges two directions with skewed clocks a pong can come before its ping;
    /// it is unsolicited only if no ping with its payload comes within the reorder window.
    early_pongs: [VecDeque<(Vec<u8>, Position)>; 2],
    /// The two directions' capture times were seen to disagree (reported once).
    skew_reported: bool,
    /// By how much, at least (the largest lead seen).
    skew_lead: std::time::Duration,
    /// Per WebSocket direction, its close frame: where it ended in its stream, and how much of
    /// the other stream the packet that completed it acknowledged (who closed first, whatever
    /// the capture's clocks say).
    close_at: [Option<(u64, Option<u32>)>; 2],
    /// Per TCP direction: the raw sequence number of stream offset 0 (learned from its bytes) and
    /// the end of the bytes seen, to place the other direction's raw acknowledgment numbers.
    seq_base: [Option<u32>; 2],
    seen_end: [u64; 2],
    /// Evidence of that seen before the connection was announced, reported with the handshake.
    skew_pending: Option<Box<Event>>,
    /// What the first bytes showed, for connections that are not WebSocket.
    saw: Saw,
    /// Capture notes about the handshake, reported right after it.
    handshake_notes: Vec<Event>,
    order: Order,
    /// What this session holds, charged to the memory budget.
    charge: Charge,
    /// The memory budget's level this session last saved memory for.
    saving: Level,
    /// Budget steps already reported on this connection (bit 0: payload copies, 1: inflaters).
    memory_noted: u8,
    /// The last packet of this connection the analyzer saw.
    last: PacketRef,
    /// The TLS layer, when the connection started with a TLS record: TCP bytes go through it
    /// and its plaintext comes here (offsets are then plaintext offsets).
    tls: Option<Box<TlsLayer>>,
}

impl Session {
    /// A new connection.
    pub fn new(info: &ConnInfo, cfg: &AnalyzerConfig) -> Self {
        let phase = if resumed_websocket(info)
            || (port_named(info, cfg) && info.role == RoleSource::Guess)
        {
            Phase::Probe(ProbePhase::default())
        } else {
            Phase::Http(HttpPhase::new(
                (info.role != RoleSource::Guess).then_some(Direction::ClientToServer),
                0,
            ))
        };
        Session {
            info: info.clone(),
            phase,
            swapped: false,
            announced: false,
            community_id_seed: cfg.community_id_seed,
            first_close: None,
            close_sent: [false; 2],
            pings: Default::default(),
            early_pongs: Default::default(),
            skew_reported: false,
            skew_lead: std::time::Duration::ZERO,
            close_at: [None, None],
            seq_base: [None, None],
            seen_end: [0, 0],
            skew_pending: None,
            saw: Saw::default(),
            handshake_notes: Vec::new(),
            order: Order::default(),
            charge: Charge::new(&cfg.memory),
            saving: Level::Normal,
            memory_noted: 0,
            last: info.first,
            tls: None,
        }
    }

    /// Heap bytes this session holds: its buffers, decoders, inflaters and held output.
    fn footprint(&self) -> usize {
        let phase = match &self.phase {
            Phase::Http(h) => {
                h.buf.iter().map(Buffered::footprint).sum::<usize>()
                    + h.pending.capacity() * size_of::<Pending>()
                    + h.pending.iter().map(Pending::heap_bytes).sum::<usize>()
            }
            Phase::Switching(sw) => {
                size_of::<SwitchPhase>()
                    + sw.handshake.heap_bytes()
                    + sw.buf.iter().map(Buffered::footprint).sum::<usize>()
                    + sw.ws.dirs.iter().map(DirectionDecoder::footprint).sum::<usize>()
            }
            Phase::Probe(p) => {
                p.buf.iter().map(Buffered::footprint).sum::<usize>()
                    + p.following
                        .iter()
                        .map(|f| f.capacity() * size_of::<resync::Chain>())
                        .sum::<usize>()
            }
            Phase::WebSocket(ws) => {
                size_of::<WsPhase>()
                    + ws.dirs.iter().map(DirectionDecoder::footprint).sum::<usize>()
            }
            Phase::Ignored => 0,
        };
        let pings: usize =
            self.pings.iter().flatten().map(|(p, _)| p.capacity() + 40).sum::<usize>()
                + self.early_pongs.iter().flatten().map(|(p, _)| p.capacity() + 48).sum::<usize>();
        // The session's box and its entry in the analyzer's map.
        size_of::<Session>()
            + 64
            + phase
            + pings
            + self.order.held.capacity() * size_of::<Held>()
            + self.order.bytes
            + self.handshake_notes.len() * size_of::<Event>()
            + self.tls.as_ref().map_or(0, |t| t.footprint())
    }

    /// Charges what this session holds to the memory budget.
    pub fn account(&mut self) {
        let now = self.footprint();
        self.charge.set(now);
    }

    /// Saves memory as the budget's `level` asks (see [`crate::memory`]): payload copies, then
    /// inflaters, given up in every WebSocket direction from now on; each step is reported once
    /// per connection (`memory_budget`).
    pub fn save_memory(&mut self, level: Level, cfg: &AnalyzerConfig, sink: &mut impl EventSink) {
        let dirs = match &mut self.phase {
            Phase::WebSocket(ws) => &mut ws.dirs,
            Phase::Switching(sw) => &mut sw.ws.dirs,
            // No decoder yet: its decoders start saving at the next event.
            _ => return,
        };
        if level != self.saving {
            self.saving = level;
            for d in dirs.iter_mut() {
                d.save_memory(level);
            }
        }
        let given_up = [dirs[0].take_given_up(), dirs[1].take_given_up()];
        if given_up == [(false, false); 2] {
            return;
        }
        let budget = crate::memory::human(self.charge.memory().budget() as u64);
        for (i, (payload, inflater)) in given_up.into_iter().enumerate() {
            let tcp_dir =
                if i == 0 { Direction::ClientToServer } else { Direction::ServerToClient };
            let wsd = self.ws_dir(tcp_dir);
            for (bit, what) in [
                (payload, 1u8, "payload copies of messages are no longer kept: messages from here on come out truncated (still counted and validated)"),
                (inflater, 2u8, "the inflater's window and state were given up: a message in progress is not inflated further, and a later one that refers to earlier ones cannot be"),
            ]
            .into_iter()
            .filter(|(given, ..)| *given)
            .map(|(_, bit, what)| (bit, what))
            {
                if self.memory_noted & bit != 0 || !self.announced {
                    continue;
                }
                self.memory_noted |= bit;
                let at = Position { packet: self.last.packet, ts: self.last.ts, offset: 0 };
                let e = self.finding_event(
                    CheckId::MemoryBudget,
                    Some(wsd),
                    at,
                    format!("{what} (the memory budget of {budget} is filling up: --memory-budget)"),
                );
                self.push_event(wsd, self.last.packet, e, self.last.ts, cfg, sink);
            }
        }
    }

    /// Still searching for frames without a handshake (see
    /// [`crate::tcp::StreamSink::keeps_searching`]).
    pub fn searching(&self) -> bool {
        matches!(self.phase, Phase::Probe(_))
    }

    /// Whether the connection turned out to be a WebSocket attempt (and was announced).
    pub fn is_websocket(&self) -> bool {
        self.announced
    }

    /// What the connection carried, as far as the analyzer can tell.
    /// What to hand back if the connection resumes after wsscope stops following it
    /// ([`crate::tcp::StreamSink::resume_mark`]): [`RESUME_SHOWN`] when it was shown,
    /// [`RESUME_COUNTED`] when its handshake's outcome was too; when it was not shown,
    /// [`RESUME_NOT_WEBSOCKET`] if it carried plain HTTP or TLS, else what the part it resumes
    /// handed on (0 for a connection never shown).
    pub fn resume_mark(&self) -> u8 {
        match (self.announced, self.saw.outcome) {
            (false, _) if matches!(self.kind(), Kind::Http | Kind::Tls) => RESUME_NOT_WEBSOCKET,
            (false, _) => self.info.resume_mark,
            (true, false) => RESUME_SHOWN,
            (true, true) => RESUME_COUNTED,
        }
    }

    /// Whether the connection was picked up again after wsscope stopped following it.
    pub fn resumed(&self) -> bool {
        self.info.role == RoleSource::Resumed
    }

    pub fn kind(&self) -> Kind {
        match &self.saw {
            _ if self.announced => Kind::WebSocket,
            _ if self.tls.as_ref().is_some_and(|t| {
                !matches!(t.decryption(), Decryption::Decrypted | Decryption::Partial)
            }) =>
            {
                Kind::Tls
            }
            s if s.tls => Kind::Tls,
            s if s.http => Kind::Http,
            s if s.gap_before_handshake => Kind::GapBeforeHandshake,
            s if !s.bytes => Kind::Empty,
            _ => Kind::Other,
        }
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
        self.last = at;
        // A connection whose first bytes are a TLS record goes through the TLS layer.
        if self.tls.is_none() && !self.saw.bytes && crate::tls::looks_like_record(data) {
            self.tls = Some(Box::new(TlsLayer::new(cfg.tls.clone())));
            // Plaintext offsets are not TCP offsets: acknowledgment numbers cannot place them.
            self.seq_base = [None, None];
            self.saw.bytes = true;
        }
        if let Some(tls) = &mut self.tls {
            let mut outs = Vec::new();
            tls.feed(dir, offset, data, at, &mut outs);
            self.tls_outs(outs, cfg, sink);
            return;
        }
        self.on_plain(dir, offset, data, at, cfg, sink);
    }

    /// What the TLS layer produced: plaintext, gaps and findings, into the layers above.
    fn tls_outs(&mut self, outs: Vec<TlsOut>, cfg: &AnalyzerConfig, sink: &mut impl EventSink) {
        for o in outs {
            match o {
                TlsOut::Plain { dir, offset, data, at } => {
                    self.on_plain(dir, offset, &data, at, cfg, sink)
                }
                TlsOut::Gap { dir, offset, len, exact, reason, at } => {
                    self.plain_gap(dir, offset, (len, exact), 0, reason, at, cfg, sink)
                }
                TlsOut::Note { dir, check, detail, at, offset } => {
                    self.note(dir, check, detail, at, offset, cfg, sink)
                }
            }
        }
    }

    /// Application bytes of TCP direction `dir` at offset `offset` of its (plaintext) stream.
    fn on_plain(
        &mut self,
        dir: Direction,
        offset: u64,
        data: &[u8],
        at: PacketRef,
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) {
        if !self.saw.bytes && !data.is_empty() {
            self.saw.bytes = true;
            // A TLS record: handshake, alert, change cipher spec or application data, TLS 1.0-1.3.
            self.saw.tls = matches!(data, [0x14..=0x17, 0x03, 0x00..=0x04, ..]);
        }
        let wsd = self.ws_dir(dir);
        match &mut self.phase {
            Phase::Http(h) => {
                h.buf[dir.index()].push(offset, data, at);
                self.run_http(cfg, sink);
            }
            Phase::Switching(sw) => {
                sw.buf[dir.index()].push(offset, data, at);
                self.run_switch(false, cfg, sink);
            }
            Phase::Probe(p) => {
                if !p.given_up[dir.index()] {
                    p.buf[dir.index()].push(offset, data, at);
                    self.run_probe(false, cfg, sink);
                }
            }
            Phase::WebSocket(ws) => {
                // The messages of one piece wait here until the piece is decoded: with payload
                // copies (`export`) they are charged, so that past half the budget the next ones
                // drop theirs (a 64 KiB segment may hold a thousand deflated messages of 1 MiB).
                let mut outs = WsOuts::new();
                let mut held =
                    cfg.keep_payloads.then(|| (crate::memory::Charge::new(&cfg.memory), 0));
                ws.dirs[dir.index()].feed(offset, data, at, &mut |k, o| {
                    if let (Some((charge, bytes)), WsOut::Message(m)) = (&mut held, &o) {
                        *bytes += size_of::<Message>() + m.payload.capacity();
                        charge.set(*bytes);
                    }
                    outs.push((k, o))
                });
                self.push_ws(wsd, &mut outs, at.ts, cfg, sink);
            }
            Phase::Ignored => {}
        }
    }

    /// Bytes of TCP direction `dir` from packet `since` on wait behind a hole (`None`: no more).
    pub fn on_pending(
        &mut self,
        dir: Direction,
        since: Option<PacketRef>,
        at: PacketRef,
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) {
        self.order.tcp[dir.index()] = since.map(|p| p.packet);
        self.release(at.ts, false, cfg, sink);
    }

    /// Queues decoder output of WebSocket direction `d` and releases what is in order.
    fn push_ws(
        &mut self,
        d: Direction,
        outs: &mut WsOuts,
        now: Timestamp,
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) {
        if self.order.held.is_empty() && self.floor().is_none() {
            // The common case: nothing waits, so nothing can come before these.
            for (key, o) in outs.drain(..) {
                let i = d.index();
                self.order.last[i] = self.order.last[i].max(key);
                self.emit_ws(d, o, cfg, sink);
            }
            return;
        }
        for (key, o) in outs.drain(..) {
            self.order.insert(key, d, now, Item::Ws(o));
        }
        self.release(now, false, cfg, sink);
    }

    /// Queues a finished event of WebSocket direction `d` keyed by `key`.
    fn push_event(
        &mut self,
        d: Direction,
        key: u64,
        event: Event,
        now: Timestamp,
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) {
        // (An event does not raise the direction's last key: see `Order::insert`.)
        if self.order.held.is_empty() && self.floor().is_none() {
            sink.event(event);
            return;
        }
        self.order.insert(key, d, now, Item::Event(Box::new(event)));
        self.release(now, false, cfg, sink);
    }

    /// The smallest key either direction may still produce output for.
    fn floor(&self) -> Option<u64> {
        let decoders = match &self.phase {
            Phase::WebSocket(ws) => ws.dirs.iter().filter_map(DirectionDecoder::floor).min(),
            _ => None,
        };
        self.order.tcp.iter().flatten().copied().chain(decoders).min()
    }

    /// Emits the held items that are in order (all of them when `all`); items held longer than
    /// the reorder window, or beyond `MAX_HELD`, are released anyway.
    fn release(
        &mut self,
        now: Timestamp,
        all: bool,
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) {
        if self.order.held.is_empty() {
            return;
        }
        let floor = if all { None } else { self.floor() };
        while let Some(front) = self.order.held.front() {
            let in_order = floor.is_none_or(|f| front.key < f);
            let expired = now.saturating_since(front.since) > cfg.reorder_window
                || self.order.held.len() > MAX_HELD;
            if !in_order && !expired {
                break;
            }
            let Some(h) = self.order.held.pop_front() else { break };
            self.order.bytes = self.order.bytes.saturating_sub(item_bytes(&h.item));
            if !in_order && !self.order.forced {
                self.order.forced = true;
                let at = match &h.item {
                    Item::Ws(WsOut::Frame { at, .. } | WsOut::Finding { at, .. }) => *at,
                    Item::Ws(WsOut::Message(m)) => m.end,
                    // The time of the packet it came from (not the release's: live, the wall
                    // clock seconds later).
                    Item::Event(_) => Position { packet: h.key, ts: h.since, offset: 0 },
                };
                self.finding(
                    CheckId::CaptureOrderNotKept,
                    None,
                    at,
                    format!(
                        "output released before bytes of packet {} were decoded (held longer than \
                         the reorder window or {MAX_HELD} items): later events of this \
                         connection may be out of capture order",
                        floor.unwrap_or(h.key)
                    ),
                    sink,
                );
            }
            match h.item {
                Item::Ws(o) => self.emit_ws(h.dir, o, cfg, sink),
                Item::Event(e) => sink.event(*e),
            }
        }
        // A queue that grew for a burst gives its room back once empty (a quiet connection
        // would otherwise keep up to MAX_HELD slots).
        if self.order.held.is_empty() && self.order.held.capacity() > 64 {
            self.order.held = VecDeque::new();
        }
    }

    /// Bytes of TCP direction `dir` at `offset` start at raw sequence number `seq`.
    pub fn note_seq(&mut self, dir: Direction, offset: u64, seq: u32, len: usize) {
        if self.tls.is_some() {
            return;
        }
        let i = dir.index();
        self.seq_base[i].get_or_insert(seq.wrapping_sub(offset as u32));
        self.seen_end[i] = self.seen_end[i].max(offset + len as u64);
    }

    /// The stream offset of TCP direction `dir`'s opposite that acknowledgment number `ack` (sent
    /// in `dir`) stands for, taken near the end of what was seen of that stream.
    fn acked_offset(&self, dir: Direction, ack: u32) -> Option<u64> {
        let other = dir.opposite().index();
        let low = u64::from(ack.wrapping_sub(self.seq_base[other]?));
        let near = self.seen_end[other];
        let k = near >> 32;
        [k.saturating_sub(1), k, k + 1]
            .into_iter()
            .map(|hi| (hi << 32) | low)
            .min_by_key(|x| x.abs_diff(near))
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
        if let Some(tls) = &mut self.tls {
            let mut outs = Vec::new();
            tls.gap(dir, offset, len, reason, at, &mut outs);
            self.tls_outs(outs, cfg, sink);
            return;
        }
        self.plain_gap(dir, offset, (len, true), seq, reason, at, cfg, sink);
    }

    /// Bytes `[offset, offset + len)` of TCP direction `dir`'s application stream are missing
    /// (about `len` when not `exact`: frames are then searched for after them).
    #[allow(clippy::too_many_arguments)]
    fn plain_gap(
        &mut self,
        dir: Direction,
        offset: u64,
        (len, exact): (u64, bool),
        seq: u32,
        reason: GapReason,
        at: PacketRef,
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) {
        self.stop_waiting(cfg, sink);
        if matches!(self.phase, Phase::Switching(_)) {
            self.run_switch(true, cfg, sink);
        }
        let wsd = self.ws_dir(dir);
        self.saw.lost[wsd.index()] = true;
        // Before frames are followed (the handshake, a search for frames), the gap is listed as
        // it is once they are: bytes missing from a connection that turns out to be WebSocket
        // are never passed over in silence (a lost request or 101 lost its frames unsaid). So is
        // it in an upgrade attempt listed without frames (a search that found none).
        let connection = self.info.id;
        let gap = move || Event::Gap {
            connection,
            direction: wsd,
            length: len,
            seq,
            reason,
            at: Position { packet: at.packet, ts: at.ts, offset },
        };
        let before_frames = match self.phase {
            Phase::Http(_) | Phase::Probe(_) => true,
            Phase::Ignored => self.announced,
            Phase::WebSocket(_) | Phase::Switching(_) => false,
        };
        self.saw.snaplen_before_frames |= before_frames && reason == GapReason::Snaplen;
        let mut cut = (reason == GapReason::Snaplen).then(|| {
            self.finding_event(
                CheckId::SnaplenCut,
                Some(wsd),
                Position { packet: at.packet, ts: at.ts, offset },
                format!(
                    "{len} bytes at stream offset {offset} were cut by the capture's snapshot \
                     length (packet {} was captured only in part): capture again with -s 0",
                    at.packet
                ),
            )
        });
        match &mut self.phase {
            Phase::WebSocket(ws) => {
                let mut outs = WsOuts::new();
                let d = &mut ws.dirs[dir.index()];
                d.gap_with(offset, (len, exact), at, &mut |k, o| outs.push((k, o)));
                self.push_event(wsd, at.packet, gap(), at.ts, cfg, sink);
                if let Some(e) = cut.take() {
                    self.push_event(wsd, at.packet, e, at.ts, cfg, sink);
                }
                if reason == GapReason::BufferLimit {
                    let e = self.finding_event(
                        CheckId::ReassemblyLimit,
                        Some(wsd),
                        Position { packet: at.packet, ts: at.ts, offset },
                        format!(
                            "{len} bytes declared lost without waiting out the reorder window: \
                             too many bytes waited behind the hole (--max-buffered-per-direction, \
                             --max-buffered-segments, --max-buffered-total; with --threads N, \
                             each worker holds 1/N of the total)"
                        ),
                    );
                    self.push_event(wsd, at.packet, e, at.ts, cfg, sink);
                }
                self.push_ws(wsd, &mut outs, at.ts, cfg, sink);
            }
            Phase::Http(h) if h.pending.iter().any(|p| p.upgrade.is_some()) => {
                // Bytes lost around the handshake: follow frames without it. What the other
                // direction sent meanwhile is searched too (a lost 101 was declared a gap only
                // after the reorder window, while the client's frames waited here: dropping them
                // lost its first messages without a word).
                let pending = std::mem::take(&mut h.pending);
                let req_i = h.req_dir.unwrap_or(Direction::ClientToServer).index();
                let request_end = Some((req_i, h.buf[req_i].start));
                let mut buf = std::mem::take(&mut h.buf);
                // The request direction's bytes since its request start at a frame boundary
                // when it was upgraded: they are searched before its gap is (dropping them lost
                // the messages sent before it). The server's, before a gap, were its response.
                let client_gap = h.req_dir.is_none_or(|r| r == dir);
                if !client_gap {
                    buf[dir.index()] = Buffered::default();
                }
                let lost = if !client_gap {
                    "of the server's stream after the upgrade request (its response among them)"
                } else {
                    "of the client's stream while its upgrade request waited for the response"
                };
                let unanswered = self.unanswered(pending, sink);
                if self.room_for_note() {
                    let note = self.finding_event(
                        CheckId::CaptureGap,
                        Some(wsd),
                        Position { packet: at.packet, ts: at.ts, offset },
                        format!(
                            "the capture lost {len} bytes {lost}: the handshake's outcome is not \
                             known, and the frames of both directions are searched for without it"
                        ),
                    );
                    self.handshake_notes.push(note);
                }
                let probe = ProbePhase { buf, unanswered, request_end, ..Default::default() };
                self.phase = Phase::Probe(probe);
                self.run_probe(false, cfg, sink);
                if client_gap {
                    // The gap itself, in the phase the search led to (frames, or searching on).
                    return self.plain_gap(dir, offset, (len, exact), seq, reason, at, cfg, sink);
                }
            }
            // The request direction lost bytes before any request was read: its request may be
            // what was lost; a 101 from the server then still starts the frames.
            Phase::Http(h)
                if h.requests == 0
                    && h.pending.is_empty()
                    && h.req_dir.is_none_or(|r| r == dir) =>
            {
                // Again, after a lost request: the client's bytes since are its frames when they
                // are masked frames from their first byte up to this gap (the request and the
                // 101 were lost, and the server's bytes wait behind their own hole): searched
                // with the server's, as after a request (dropping them lost the first messages).
                let b = &h.buf[dir.index()];
                if h.request_lost
                    && !b.bytes.is_empty()
                    && frames_from_request_end(&b.bytes, b.start) == Some(true)
                {
                    let request_end = Some((dir.index(), b.start));
                    let buf = std::mem::take(&mut h.buf);
                    let probe = ProbePhase {
                        buf,
                        request_end,
                        anchored: true,
                        anchored_after_loss: true,
                        ..Default::default()
                    };
                    self.phase = Phase::Probe(probe);
                    self.run_probe(false, cfg, sink);
                    return self.plain_gap(dir, offset, (len, exact), seq, reason, at, cfg, sink);
                }
                self.saw.gap_before_handshake = true;
                h.request_lost = true;
                h.lost_at_start = offset == 0;
                h.req_dir = Some(dir);
                h.buf[dir.index()] = Buffered { start: offset + len, ..Default::default() };
                self.swapped = dir == Direction::ServerToClient;
                self.run_http(cfg, sink);
            }
            // A snapshot length cuts every long packet, the handshake's first: the frames after
            // it are searched for, as in a capture that started mid-stream. So are they when
            // both directions lost bytes before any request was read (the request and the 101
            // may be what was lost: a busy capture drops the start of a connection too).
            Phase::Http(h) => {
                self.saw.gap_before_handshake = true;
                let handshake_lost = h.requests == 0;
                if self.info.role == RoleSource::Guess
                    || reason == GapReason::Snaplen
                    || handshake_lost
                {
                    // A client whose request alone was lost waits, frames and all, for a 101
                    // (helper-37: the 101 lost as well dropped every client frame): its bytes are
                    // searched too. Not after a later gap of its own: waiting for a side whose
                    // bytes start anywhere to agree held back the other side's frames.
                    let mut buf = std::mem::take(&mut h.buf);
                    let keep = h.lost_at_start && h.req_dir.is_some_and(|r| r != dir);
                    if !keep {
                        buf = Default::default();
                    }
                    buf[dir.index()] = Buffered { start: offset + len, ..Default::default() };
                    self.phase = Phase::Probe(ProbePhase { buf, ..Default::default() });
                    self.swapped = false;
                    self.run_probe(false, cfg, sink);
                } else {
                    self.phase = Phase::Ignored;
                }
            }
            Phase::Probe(p) => {
                let i = dir.index();
                // The client's bytes since its request, up to the gap: its first frames when it
                // was upgraded (dropping them lost its first messages without a word).
                if let Some((ri, end)) = p.request_end
                    && ri == i
                    && !p.anchored
                    && p.following[i].is_empty()
                {
                    let b = &p.buf[i];
                    if b.bytes.is_empty() {
                        p.lost_since_request |= offset == end;
                    } else if b.start == end {
                        match frames_from_request_end(&b.bytes, end) {
                            Some(true) => {
                                p.anchored = true;
                                self.run_probe(false, cfg, sink);
                                return self.plain_gap(
                                    dir,
                                    offset,
                                    (len, exact),
                                    seq,
                                    reason,
                                    at,
                                    cfg,
                                    sink,
                                );
                            }
                            // Frames too few to show, perhaps: lost with the gap since the
                            // request (one handshake, not a refusal and then an upgrade).
                            None => p.lost_since_request = true,
                            Some(false) => {}
                        }
                    }
                }
                // Searching continues after the gap; what was before it cannot be joined, but
                // a chain followed on whose next header comes after it goes on.
                p.following[i].retain(|c| c.next_header() >= offset + len);
                p.buf[i] = Buffered::default();
                p.resume[i] = 0;
            }
            // Committed to frames above.
            Phase::Switching(_) | Phase::Ignored => {}
        }
        if before_frames {
            let gap = gap();
            let held = self.handshake_notes.iter().filter(|e| matches!(e, Event::Gap { .. }));
            if self.announced {
                self.push_event(wsd, at.packet, gap, at.ts, cfg, sink);
            } else if held.count() < MAX_EARLY_GAPS {
                self.handshake_notes.push(gap);
            }
        }
        // Before the connection is known to be WebSocket, the finding waits for the handshake.
        if let Some(e) = cut {
            if self.announced {
                self.push_event(wsd, at.packet, e, at.ts, cfg, sink);
            } else if self.room_for_note() {
                self.handshake_notes.push(e);
            }
        }
    }

    /// Whether another note (beside the gaps held) can wait for the handshake.
    fn room_for_note(&self) -> bool {
        let gaps = self.handshake_notes.iter().filter(|e| matches!(e, Event::Gap { .. }));
        self.handshake_notes.len() - gaps.count() < MAX_EARLY_NOTES
    }

    /// A TCP retransmission carried different bytes.
    pub fn on_conflict(
        &mut self,
        dir: Direction,
        offset: u64,
        len: u64,
        at: PacketRef,
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) {
        if self.announced {
            let d = self.ws_dir(dir);
            let e = self.finding_event(
                CheckId::RetransmissionConflict,
                Some(d),
                Position { packet: at.packet, ts: at.ts, offset },
                format!(
                    "{len} retransmitted bytes at stream offset {offset} differ from the first copy"
                ),
            );
            self.push_event(d, at.packet, e, at.ts, cfg, sink);
        }
    }

    /// The TCP layer ignored a segment that would have ended the connection (see
    /// [`crate::tcp::Anomaly`]). Before the connection is known to be WebSocket, the finding
    /// waits for the handshake (the first few only).
    pub fn on_tcp_note(
        &mut self,
        dir: Direction,
        check: CheckId,
        detail: String,
        at: PacketRef,
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) {
        // Where the direction's bytes had got to.
        let offset = self.seen_end[dir.index()];
        self.note(dir, check, detail, at, offset, cfg, sink);
    }

    /// A finding of a layer below HTTP (TCP, TLS) at `offset` of TCP direction `dir`. Before the
    /// connection is known to be WebSocket, it waits for the handshake (the first few only).
    #[allow(clippy::too_many_arguments)]
    fn note(
        &mut self,
        dir: Direction,
        check: CheckId,
        detail: String,
        at: PacketRef,
        offset: u64,
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) {
        let d = self.ws_dir(dir);
        let e = self.finding_event(
            check,
            Some(d),
            Position { packet: at.packet, ts: at.ts, offset },
            detail,
        );
        if self.announced {
            self.push_event(d, at.packet, e, at.ts, cfg, sink);
        } else if self.room_for_note() {
            self.handshake_notes.push(e);
        }
    }

    /// Bytes arrived after their range had been declared lost.
    #[allow(clippy::too_many_arguments)]
    pub fn on_late_data(
        &mut self,
        dir: Direction,
        offset: u64,
        len: u64,
        after: std::time::Duration,
        at: PacketRef,
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) {
        if self.announced {
            let d = self.ws_dir(dir);
            let e = self.finding_event(
                CheckId::LateData,
                Some(d),
                Position { packet: at.packet, ts: at.ts, offset },
                format!(
                    "{len} bytes at stream offset {offset} arrived {:.3} s after they were declared \
                     lost, too late to be decoded (the reorder window is {:.3} s; --reorder-window \
                     and --reorder-packets wait longer)",
                    after.as_secs_f64(),
                    cfg.reorder_window.as_secs_f64()
                ),
            );
            self.push_event(d, at.packet, e, at.ts, cfg, sink);
        }
    }

    /// The peer acknowledged bytes of `dir` before they were captured: the capture merges two
    /// capture points (or clocks) that disagree by at least `lead`.
    pub fn on_ack_before_data(
        &mut self,
        dir: Direction,
        lead: std::time::Duration,
        at: PacketRef,
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) {
        self.skew_lead = self.skew_lead.max(lead);
        if !self.skew_reported {
            self.skew_reported = true;
            let d = self.ws_dir(dir);
            let e = self.finding_event(
                CheckId::CaptureClockSkew,
                Some(d),
                Position { packet: at.packet, ts: at.ts, offset: 0 },
                format!(
                    "the {} acknowledged bytes of the {} {:.3} ms before they were captured: \
                     {SKEW_EXPLAINED}",
                    side(d.opposite()),
                    side(d),
                    lead.as_secs_f64() * 1e3
                ),
            );
            if self.announced {
                self.push_event(d, at.packet, e, at.ts, cfg, sink);
            } else {
                self.skew_pending = Some(Box::new(e));
            }
        }
    }

    /// Since when a response waits for the client's bytes (see `HttpPhase::wait_for_request`).
    pub fn waiting_since(&self) -> Option<Timestamp> {
        match &self.phase {
            Phase::Http(h) => h.waiting_since(),
            _ => None,
        }
    }

    /// A response that waits for the client's bytes waits no longer, and is read now: the
    /// reorder window passed (the table's sweeps tell, so that a server that goes quiet after
    /// its 101 is not held back until the connection ends, helper-43), bytes went missing (a
    /// gap dropped the 101 waiting with the bytes buffered before it, helper-43), or the
    /// connection ended.
    pub fn stop_waiting(&mut self, cfg: &AnalyzerConfig, sink: &mut impl EventSink) {
        if let Phase::Http(h) = &mut self.phase
            && std::mem::take(&mut h.waiting)
        {
            h.no_wait = true;
            self.run_http(cfg, sink);
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
        // A record cut off by the end is a gap in the plaintext; the streams above end where
        // their plaintext ends.
        let ends = match &mut self.tls {
            Some(tls) => {
                let mut outs = Vec::new();
                tls.finish(at, &mut outs);
                let ends = Direction::BOTH.map(|d| tls.plain_end(d));
                self.tls_outs(outs, cfg, sink);
                ends
            }
            None => ends,
        };
        self.stop_waiting(cfg, sink);
        // A connection still being searched for frames gets a last search over the finished
        // streams (where a chain ending at the end of the data is final).
        if matches!(self.phase, Phase::Probe(_)) {
            self.run_probe(true, cfg, sink);
            self.unanswered_no_response(sink);
        }
        if matches!(self.phase, Phase::Switching(_)) {
            self.run_switch(true, cfg, sink);
        }
        let phase = std::mem::replace(&mut self.phase, Phase::Ignored);
        let websocket = matches!(phase, Phase::WebSocket(_));
        match phase {
            Phase::Http(mut h) => {
                for p in h.pending.drain(..) {
                    self.no_response(p, sink);
                }
            }
            Phase::WebSocket(mut ws) => {
                for d in Direction::BOTH {
                    let wsd = self.ws_dir(d);
                    let mut outs = WsOuts::new();
                    ws.dirs[d.index()].finish(ends[d.index()], at, &mut |k, o| outs.push((k, o)));
                    for (key, o) in outs {
                        self.order.insert(key, wsd, at.ts, Item::Ws(o));
                    }
                }
                self.order.tcp = [None, None];
                self.release(at.ts, true, cfg, sink);
                self.expire_early_pongs(None, sink);
                let pos = Position { packet: at.packet, ts: at.ts, offset: 0 };
                // Only a connection the capture saw end can have ended without a closing
                // handshake; one still open when the capture (or our idle timeout, or the
                // connection limit) stopped following it may yet close cleanly.
                let ended =
                    matches!(reason, CloseReason::Fin | CloseReason::Rst | CloseReason::Reused);
                // A limit that stopped following a connection still open is said on it: what
                // it sent later is lost to it (a capture that ended is not a limit).
                let limit = match reason {
                    CloseReason::Evicted => Some((
                        CheckId::ConnectionLimit,
                        "the connection table was full (--max-connections): evicted while open",
                    )),
                    CloseReason::Idle => Some((
                        CheckId::IdleTimeout,
                        "nothing for longer than --idle-timeout: no longer followed (if it goes \
                         on, it is shown again as a new connection, resumed)",
                    )),
                    CloseReason::MemoryBudget => Some((
                        CheckId::MemoryBudget,
                        "evicted while open to stay under the memory budget (--memory-budget; \
                         if it goes on, it is shown again as a new connection, resumed)",
                    )),
                    _ => None,
                };
                if let Some((check, what)) = limit
                    && self.first_close.is_none()
                {
                    let what = if reason == CloseReason::Idle {
                        what.to_string()
                    } else {
                        format!("{what}; what it sent afterwards is not decoded as part of it")
                    };
                    self.finding(check, None, pos, what, sink);
                }
                // A close frame the capture lost is not one that was never sent.
                let lost = self.saw.lost;
                match self.first_close {
                    _ if !ended => {}
                    None => {
                        let how = reason_text(reason);
                        let detail = if lost == [false; 2] {
                            format!(
                                "the TCP connection ended ({how}) without a close frame from either side"
                            )
                        } else {
                            format!(
                                "the TCP connection ended ({how}) and no close frame was seen; the \
                                 capture lost bytes of the connection, where close frames may have been"
                            )
                        };
                        self.finding(CheckId::ClosedWithoutCloseFrame, None, pos, detail, sink);
                    }
                    Some(first) if !self.close_sent[first.opposite().index()] => {
                        let other = first.opposite();
                        let detail = if lost[other.index()] {
                            format!(
                                "the {} sent a close frame and no answer was seen; the capture lost \
                                 bytes of the {}'s stream, where the answer may have been",
                                side(first),
                                side(other)
                            )
                        } else {
                            format!(
                                "the {} sent a close frame that was never answered",
                                side(first)
                            )
                        };
                        self.finding(CheckId::CloseNotAnswered, Some(other), pos, detail, sink);
                    }
                    Some(_) => {}
                }
            }
            Phase::Switching(_) | Phase::Probe(_) | Phase::Ignored => {}
        }
        if !self.announced && cfg.announce_tcp {
            self.announce(sink);
        }
        if websocket {
            self.first_close = self.causal_first_close();
        }
        if self.tls.is_some() {
            self.report_tls(at, sink);
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
                // Decided by a response seen first: its request was before the capture.
                if http::looks_like_request_start(&h.buf[req_dir.index()].bytes) != Some(true) {
                    h.request_lost = true;
                }
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
            // The response does not come, and the client goes on: it had one (the capture lost
            // it). Bounded: past a head's worth of bytes, frames are looked for without it.
            ReqState::AwaitResponse if buf.bytes.len() > cfg.max_http_head => {
                let pending = std::mem::take(&mut h.pending);
                let request_end = Some((d.index(), h.buf[d.index()].start));
                let buf = std::mem::take(&mut h.buf);
                let unanswered = self.unanswered(pending, sink);
                let probe = ProbePhase { buf, unanswered, request_end, ..Default::default() };
                self.phase = Phase::Probe(probe);
                self.run_probe(false, cfg, sink);
                true
            }
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
            ReqState::SkipHead(skip) => {
                // The rest of an upgrade request head too long to keep: drop it up to its end.
                let (used, done) = skip.feed(&buf.bytes);
                buf.consume(used);
                if done {
                    h.req = ReqState::AwaitResponse;
                }
                used > 0 || done
            }
            ReqState::Head => {
                if buf.bytes.is_empty() {
                    return false;
                }
                if http::looks_like_request_start(&buf.bytes) == Some(false) {
                    // After the request was lost, these may be frames answering a 101 still to
                    // be read: wait for the response (a head's worth of bytes at most).
                    if h.request_lost && h.requests == 0 && buf.bytes.len() <= cfg.max_http_head {
                        return false;
                    }
                    self.not_http(cfg);
                    return true;
                }
                let (head, n, malformed) = match http::parse_request(&buf.bytes, cfg.max_http_head)
                {
                    Ok(Parsed::NeedMore) => return false,
                    Ok(Parsed::Done(head, n)) => (head, n, None),
                    // httparse refuses the head (or it is too long): read it forgivingly, and if
                    // it is an upgrade attempt, report the error and follow the connection.
                    Err(e) => {
                        let window = &buf.bytes[..buf.bytes.len().min(cfg.max_http_head)];
                        match http::lenient::head_len(window) {
                            Some(n) => (http::lenient::request(&window[..n]), n, Some(e)),
                            None if buf.bytes.len() < cfg.max_http_head
                                && e != (HttpError::HeadTooLarge { limit: cfg.max_http_head }) =>
                            {
                                return false;
                            }
                            None => {
                                let head = http::lenient::request(window);
                                if !http::is_upgrade_request(&head) {
                                    self.not_http(cfg);
                                    return true;
                                }
                                // Too long: keep what was read, drop the rest up to its end.
                                let n = window.len();
                                h.req = ReqState::SkipHead(HeadSkipper::after(window));
                                (head, n, Some(e))
                            }
                        }
                    }
                };
                // A 101 waits for the client's first bytes, and they are a request that is no
                // upgrade: the 101 answered one sent before the capture, and is read alone
                // (helper-43: a GET after it took the 101 as its answer, and the frames after it
                // were not followed). An upgrade request is the 101's (on a connection that
                // switched, no other can come), whatever its key: a wrong accept key is then the
                // server's.
                if let Phase::Http(h) = &mut self.phase
                    && h.requests == 0
                    && (h.waiting || h.no_wait)
                    && !http::is_upgrade_request(&head)
                {
                    let first = std::mem::take(&mut h.waiting);
                    h.no_wait = true;
                    return first;
                }
                if malformed.is_some() && !http::is_upgrade_request(&head) {
                    self.not_http(cfg);
                    return true;
                }
                let Phase::Http(h) = &mut self.phase else { return false };
                let buf = &mut h.buf[d.index()];
                let pos = buf.position();
                buf.consume(n);
                h.requests += 1;
                self.saw.http = true;
                if http::is_upgrade_request(&head) {
                    let (info, mut violations) = http::upgrade_request(head, pos.packet);
                    if let Some(e) = malformed {
                        violations.insert(
                            0,
                            Violation {
                                check: CheckId::HttpMalformed,
                                detail: format!(
                                    "the upgrade request is not valid HTTP/1.1 ({e}); it was read \
                                     forgivingly and the connection is followed"
                                ),
                            },
                        );
                    }
                    h.pending.push_back(Pending {
                        method: info.method.clone(),
                        upgrade: Some((Box::new(info), pos)),
                        violations,
                    });
                    if !matches!(h.req, ReqState::SkipHead(_)) {
                        h.req = ReqState::AwaitResponse;
                    }
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
                // A response with no request: the capture lost the request (a gap) or started
                // after it. A 101 then still starts the frames.
                let mut lone = h.pending.is_empty()
                    && h.requests == 0
                    && (h.request_lost || self.info.role == RoleSource::Guess);
                // More than a head and no request it could answer. A response head still
                // answers a request the capture does not show: its bytes may wait behind a hole
                // the TCP layer has not given up on yet, while the server goes on (a 101, then
                // frames, and the request lost). Anything else is not followed (below).
                if !lone
                    && h.pending.is_empty()
                    && h.requests == 0
                    && buf.bytes.len() > cfg.max_http_head
                    && http::lenient::looks_like_response_start(&buf.bytes) == Some(true)
                    && buf.bytes.get(8..13) == Some(b" 101 ".as_slice())
                {
                    lone = true;
                    h.request_lost = true;
                    let req_dir = *h.req_dir.get_or_insert(d.opposite());
                    self.swapped = req_dir == Direction::ServerToClient;
                    self.saw.gap_before_handshake = true;
                }
                // A 101 before any byte of the client may wait for its request (see
                // `HttpPhase::wait_for_request`). It is shown as a WebSocket attempt at once, as a
                // 101 alone is (what comes meanwhile, a conflicting retransmission, is said).
                if lone && h.wait_for_request(d, self.saw.gap_before_handshake, cfg) {
                    self.announce(sink);
                    return false;
                }
                let buf = &mut h.buf[d.index()];
                // The server's stream picked up without its SYN-ACK (and its start not agreed
                // on), its first bytes frames: the response was lost before them (helper-37:
                // frames read as a malformed response, an error, and every message lost).
                // Only frames from the first byte say so (helper-39: a CRLF before a 101, a
                // server that is no HTTP server at all).
                let frames_first = (!lone
                    && self.info.role == RoleSource::Guess
                    && h.pending.iter().any(|p| p.upgrade.is_some())
                    && !buf.bytes.is_empty())
                .then(|| frames_from_first_byte(&buf.bytes));
                if frames_first == Some(None) && buf.bytes.len() <= cfg.max_http_head {
                    return false;
                }
                if frames_first == Some(Some(true)) {
                    let pos = buf.position();
                    let pending = std::mem::take(&mut h.pending);
                    let req_i = d.opposite().index();
                    let request_end = Some((req_i, h.buf[req_i].start));
                    let buf = std::mem::take(&mut h.buf);
                    let unanswered = self.unanswered(pending, sink);
                    if self.room_for_note() {
                        let note = self.finding_event(
                            CheckId::CaptureGap,
                            Some(self.ws_dir(d)),
                            pos,
                            "the server's stream was picked up without its start (its SYN-ACK \
                             was not captured), and its first bytes are frames: the response to \
                             the upgrade request was lost before them, and the frames of both \
                             directions are searched for without it"
                                .to_string(),
                        );
                        self.handshake_notes.push(note);
                    }
                    let probe = ProbePhase { buf, unanswered, request_end, ..Default::default() };
                    self.phase = Phase::Probe(probe);
                    self.run_probe(false, cfg, sink);
                    return true;
                }
                if buf.bytes.is_empty() || (h.pending.is_empty() && !lone) {
                    if !buf.bytes.is_empty() && buf.bytes.len() > cfg.max_http_head {
                        // More than a head, and no request it could answer: not followed.
                        self.phase = Phase::Ignored;
                    }
                    return false;
                }
                // The request's head is still being read past what is kept of it (longer than
                // a head's worth): its response, captured before the head's last segments
                // (reordered), waits for its end, where the client's frames start (taken from
                // inside the head, they were errors the client never made). Bounded as a 101
                // waiting for its request is, by a head's worth of the response side's bytes.
                if matches!(h.req, ReqState::SkipHead(_))
                    && !h.no_wait
                    && buf.bytes.len() <= cfg.max_http_head
                {
                    h.waiting = true;
                    return false;
                }
                if lone && http::lenient::looks_like_response_start(&buf.bytes) == Some(false) {
                    self.phase = Phase::Ignored;
                    return true;
                }
                let (head, n, malformed) = match http::parse_response(&buf.bytes, cfg.max_http_head)
                {
                    Ok(Parsed::NeedMore) => return false,
                    Ok(Parsed::Done(head, n)) => (head, n, None),
                    Err(e) => {
                        let window = &buf.bytes[..buf.bytes.len().min(cfg.max_http_head)];
                        match http::lenient::head_len(window) {
                            Some(n) => (http::lenient::response(&window[..n]), n, Some(e)),
                            None if buf.bytes.len() < cfg.max_http_head => return false,
                            None => {
                                self.response_unreadable(e, sink);
                                return true;
                            }
                        }
                    }
                };
                let pos = buf.position();
                if lone {
                    buf.consume(n);
                    if head.status != 101 {
                        self.phase = Phase::Ignored;
                        return true;
                    }
                    let req = http::assumed_request(&head);
                    self.announce(sink);
                    self.lone_101(req, head, pos, malformed, cfg, sink);
                    return true;
                }
                // A response to a plain request that is not valid HTTP: stop following HTTP.
                let upgrade = h.pending.front().is_some_and(|p| p.upgrade.is_some());
                if let Some(e) = &malformed
                    && !upgrade
                {
                    let _ = e;
                    self.phase = Phase::Ignored;
                    return true;
                }
                buf.consume(n);
                if http::is_interim(&head) {
                    return true;
                }
                let Some(req) = h.pending.pop_front() else { return true };
                match req.upgrade {
                    Some((info, req_pos)) => {
                        let mut violations = req.violations;
                        if let Some(e) = malformed {
                            self.finding(
                                CheckId::HttpMalformed,
                                Some(Direction::ServerToClient),
                                pos,
                                format!(
                                    "the response to the upgrade request is not valid HTTP/1.1 \
                                     ({e}); it was read forgivingly"
                                ),
                                sink,
                            );
                        }
                        violations.shrink_to_fit();
                        self.upgrade_response(
                            info,
                            req_pos,
                            violations,
                            head,
                            pos,
                            (true, cfg),
                            sink,
                        )
                    }
                    None => self.skip_response_body(&head, &req.method),
                }
                true
            }
        }
    }

    /// The response to an upgrade request could not be read at all (no end within the head
    /// limit): reported, and the connection is no longer followed as HTTP.
    fn response_unreadable(&mut self, e: HttpError, sink: &mut impl EventSink) {
        let Phase::Http(h) = &mut self.phase else { return };
        if let Some((_, pos)) = h.pending.front().and_then(|p| p.upgrade.as_ref()) {
            let pos = *pos;
            self.finding(
                CheckId::HttpMalformed,
                Some(Direction::ServerToClient),
                pos,
                format!("the response to the upgrade request could not be read: {e}"),
                sink,
            );
        }
        self.phase = Phase::Ignored;
    }

    /// A 101 whose request the capture does not hold: the handshake is reported from the
    /// response alone, and what follows is decoded.
    fn lone_101(
        &mut self,
        req: RequestInfo,
        head: http::ResponseHead,
        pos: Position,
        malformed: Option<HttpError>,
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) {
        let Phase::Http(h) = &mut self.phase else { return };
        let req_dir = h.req_dir.unwrap_or(Direction::ClientToServer);
        // Where the client's bytes resume; when none came yet, when the 101 was seen.
        let client = &h.buf[req_dir.index()];
        let at = match client.marks.is_empty() {
            true => Position { offset: client.start, ..pos },
            false => client.position(),
        };
        let mut violations = Vec::new();
        if let Some(e) = malformed {
            violations.push(Violation {
                check: CheckId::HttpMalformed,
                detail: format!(
                    "the 101 response is not valid HTTP/1.1 ({e}); it was read forgivingly"
                ),
            });
        }
        let note = self.finding_event(
            CheckId::HandshakeRequestNotSeen,
            Some(Direction::ClientToServer),
            at,
            "the upgrade request is not in the capture (lost, or sent before the capture \
             started): the handshake is known from the 101 alone and the frames after it are \
             decoded"
                .to_string(),
        );
        self.handshake_notes.push(note);
        // After bytes the capture lost, the client's next byte need not start a frame: the
        // lost segment may have held the request and the start of a frame, or only part of the
        // request. Its frames are decoded from there on probation: a first header that is not
        // one a search would take (the request's tail is text: RSV bits, reserved opcodes)
        // makes it search instead of reporting protocol errors the client never made.
        let known = !self.saw.gap_before_handshake;
        if !known {
            let note = self.finding_event(
                CheckId::CaptureGap,
                Some(Direction::ClientToServer),
                at,
                "the capture lost bytes of the client's stream before the 101 (its request among \
                 them): what the client sent then is not known, and the frames after them are \
                 checked before they are trusted"
                    .to_string(),
            );
            self.handshake_notes.push(note);
        }
        self.upgrade_response(Box::new(req), pos, violations, head, pos, (known, cfg), sink);
    }

    fn skip_response_body(&mut self, head: &http::ResponseHead, method: &str) {
        self.apply_body(http::response_body(head, method));
    }

    /// Skips a response body of this kind, or stops following HTTP when it cannot be skipped.
    fn apply_body(&mut self, body: Result<BodyKind, HttpError>) {
        let Phase::Http(h) = &mut self.phase else { return };
        match body {
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
        head: http::ResponseHead,
        pos: Position,
        (client_boundary, cfg): (bool, &AnalyzerConfig),
        sink: &mut impl EventSink,
    ) {
        let (negotiated, accept_valid, violations) = http::check_response(&req, &head);
        let refused = head.status != 101;
        let body = refused.then(|| http::response_body(&head, "GET"));
        let info = http::response_info(head, pos.packet);
        if let Some(body) = body {
            self.handshake(
                Some(req),
                Some(Box::new(info)),
                accept_valid,
                HandshakeOutcome::Refused,
                sink,
            );
            for v in req_violations {
                self.violation(v, Some(Direction::ClientToServer), req_pos, sink);
            }
            for v in violations {
                self.violation(v, Some(Direction::ServerToClient), pos, sink);
            }
            let Phase::Http(h) = &mut self.phase else { return };
            h.req = ReqState::Head;
            self.apply_body(body);
            return;
        }
        let Phase::Http(h) = &mut self.phase else { return };
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
            let dir_cfg = DirConfig {
                from_client,
                deflate: no_takeover,
                rsv_allowed,
                from_start: true,
                max_message: cfg.max_message,
                keep_payloads: cfg.keep_payloads,
                max_inflate: cfg.max_inflate,
                max_resync: cfg.max_resync,
                memory: cfg.memory.clone(),
            };
            if from_client && !client_boundary {
                DirectionDecoder::after_loss(dir_cfg, start)
            } else {
                DirectionDecoder::new(dir_cfg, start)
            }
        };
        let client_dec = make(true, deflate.map(|d| d.client_no_context_takeover), c_start);
        let server_dec = make(false, deflate.map(|d| d.server_no_context_takeover), s_start);
        let dirs = if req_dir == Direction::ClientToServer {
            [client_dec, server_dec]
        } else {
            [server_dec, client_dec]
        };
        let requests = h.requests;
        let mut buf = [Buffered::default(), Buffered::default()];
        buf[req_dir.index()] = c_buf;
        buf[req_dir.opposite().index()] = s_buf;
        let c_buf = &buf[req_dir.index()];
        // Captured before the 101, but acknowledging all of it: the client had the 101, and
        // only the capture's clocks disagree (two capture points merged).
        let response_end = buf[req_dir.opposite().index()].start;
        let had_101 = c_buf
            .front_packet()
            .and_then(|p| p.ack)
            .and_then(|a| self.acked_offset(req_dir, a))
            .is_some_and(|a| a >= response_end);
        let early = !c_buf.bytes.is_empty() && c_at.ts < pos.ts;
        let client_early = if early && had_101 {
            (!self.skew_reported).then(|| {
                self.skew_reported = true;
                self.finding_event(
                    CheckId::CaptureClockSkew,
                    Some(Direction::ClientToServer),
                    c_at,
                    format!(
                        "the client's bytes after the upgrade request were captured before the \
                         server's 101 although they acknowledge it: {SKEW_EXPLAINED}"
                    ),
                )
            })
        } else if early {
            Some(self.finding_event(
                CheckId::ClientDataBeforeResponse,
                Some(Direction::ClientToServer),
                c_at,
                format!(
                    "{} bytes sent after the upgrade request before the server's 101",
                    c_buf.bytes.len()
                ),
            ))
        } else {
            None
        };
        // What follows the 101 decides: frames, or (the upgrade did not happen) more HTTP. The
        // handshake is reported then, with the outcome the peers chose.
        let handshake = Box::new(Answered {
            request: req,
            response: Box::new(info),
            accept_valid,
            req_violations,
            req_pos,
            violations,
            client_early,
        });
        self.phase = Phase::Switching(Box::new(SwitchPhase {
            ws: WsPhase { dirs },
            req_dir,
            buf,
            requests,
            response_at: pos,
            handshake,
        }));
        self.run_switch(false, cfg, sink);
    }

    /// Reports the handshake held until the peers showed what followed the 101.
    fn report_answered(
        &mut self,
        a: Answered,
        outcome: HandshakeOutcome,
        response_at: Position,
        sink: &mut impl EventSink,
    ) {
        self.handshake(Some(a.request), Some(a.response), a.accept_valid, outcome, sink);
        for v in a.req_violations {
            self.violation(v, Some(Direction::ClientToServer), a.req_pos, sink);
        }
        for v in a.violations {
            self.violation(v, Some(Direction::ServerToClient), response_at, sink);
        }
        if outcome == HandshakeOutcome::NotFollowed {
            self.finding(
                CheckId::UpgradeNotFollowed,
                None,
                response_at,
                "the peers went on speaking HTTP/1.1 after the 101 Switching Protocols: the \
                 upgrade did not happen, so what follows is decoded as HTTP, not as frames"
                    .to_string(),
                sink,
            );
        } else if let Some(e) = a.client_early {
            sink.event(e);
        }
    }

    /// After a 101: the first bytes of either direction tell whether the peers switched to
    /// WebSocket or went on with HTTP (a request, or a response, right after the 101). `end`:
    /// no more bytes will come (the connection ended, or bytes went missing): frames it is.
    fn run_switch(&mut self, end: bool, cfg: &AnalyzerConfig, sink: &mut impl EventSink) {
        let Phase::Switching(sw) = &mut self.phase else { return };
        let req = http::looks_like_request_start(&sw.buf[sw.req_dir.index()].bytes);
        let resp = {
            let b = &sw.buf[sw.req_dir.opposite().index()].bytes;
            let n = b.len().min(5);
            if b.is_empty() || (n < 5 && b[..n] == b"HTTP/"[..n]) {
                None
            } else {
                Some(b.starts_with(b"HTTP/"))
            }
        };
        let mut still_http = req == Some(true) || resp == Some(true);
        let frames = req == Some(false) || resp == Some(false) || end;
        // One side goes on with HTTP and the other with frames: the first captured tells, as
        // it did when each came in its own packets (a 101 that waited for its client's first
        // bytes has the server's frames buffered with it).
        if req.is_some() && resp.is_some() && req != resp {
            let first = |d: Direction| sw.buf[d.index()].front_packet().map(|p| p.packet);
            let (c, s) = (first(sw.req_dir), first(sw.req_dir.opposite()));
            let client_first = c <= s;
            still_http = if client_first { req == Some(true) } else { resp == Some(true) };
        }
        if !still_http && !frames {
            return;
        }
        let Phase::Switching(sw) = std::mem::replace(&mut self.phase, Phase::Ignored) else {
            return;
        };
        let SwitchPhase { ws, req_dir, buf, requests, response_at, handshake } = *sw;
        if still_http {
            self.report_answered(*handshake, HandshakeOutcome::NotFollowed, response_at, sink);
            self.phase = Phase::Http(HttpPhase { buf, ..HttpPhase::new(Some(req_dir), requests) });
            self.run_http(cfg, sink);
            return;
        }
        self.report_answered(*handshake, HandshakeOutcome::Upgraded, response_at, sink);
        self.phase = Phase::WebSocket(Box::new(ws));
        // Both directions' bytes after the heads, in capture order.
        let pieces = in_capture_order(Direction::BOTH.map(|d| buf[d.index()].pieces()));
        for (dir, off, bytes, at) in pieces {
            self.on_plain(dir, off, bytes, at, cfg, sink);
        }
    }

    /// The request direction does not carry HTTP.
    fn not_http(&mut self, cfg: &AnalyzerConfig) {
        let Phase::Http(h) = &mut self.phase else { return };
        let port_named = cfg.ws_ports.contains(&self.info.server.port())
            || cfg.ws_ports.contains(&self.info.client.port());
        // A resumed connection not known to be something else may be WebSocket mid-stream.
        let resumed =
            self.info.role == RoleSource::Resumed && self.info.resume_mark != RESUME_NOT_WEBSOCKET;
        // So may the bytes after a request the capture lost, when no 101 came to start them
        // (one side's frames then count only when their masking agrees with the SYN's roles).
        let usual = self.info.role == RoleSource::Guess || resumed || port_named;
        self.phase = if h.requests == 0 && (usual || h.request_lost) {
            let buf = std::mem::take(&mut h.buf);
            Phase::Probe(ProbePhase { buf, both_sides: !usual, ..Default::default() })
        } else {
            Phase::Ignored
        };
        if let Phase::Probe(_) = self.phase {
            self.swapped = false;
        }
    }

    // ── Mid-stream pickup ─────────────────────────────────────────────────────────────────────

    fn run_probe(&mut self, complete: bool, cfg: &AnalyzerConfig, sink: &mut impl EventSink) {
        let named = port_named(&self.info, cfg);
        let resumed = resumed_websocket(&self.info);
        let Phase::Probe(p) = &mut self.phase else { return };
        let mut found = [None, None];
        let mut boundary = [None, None];
        for d in Direction::BOTH {
            let i = d.index();
            if p.given_up[i] {
                continue;
            }
            let expect = Expect {
                masked: None,
                rsv_allowed: 0b100,
                evidence: resync::Evidence::Detect {
                    min_frames_at_end: if named { 1 } else { resync::MIN_FRAMES_AT_END },
                    // The roles of a resumed connection are its earlier part's.
                    resumed: resumed.then_some(d == Direction::ClientToServer),
                },
                run_from: None,
            };
            if p.anchored && p.request_end.is_some_and(|(r, _)| r == i) {
                (found[i], boundary[i]) = (Some(true), Some(p.buf[i].start));
                continue;
            }
            if !p.following[i].is_empty() {
                (found[i], boundary[i]) = p.follow(i, expect, complete, cfg.max_resync);
                continue;
            }
            match resync::find_boundary_from(&p.buf[i].bytes, p.resume[i], expect, complete) {
                Found::At { masked, offset } => {
                    found[i] = Some(masked);
                    boundary[i] = Some(p.buf[i].start + offset as u64);
                }
                Found::NotYet { resume_from } => {
                    p.resume[i] = resume_from;
                    if p.buf[i].bytes.len() > cfg.max_resync {
                        // Not WebSocket in this direction, as far as a bounded search can tell,
                        // unless chains of frames run on past the bytes searched.
                        let (b, start) = (&p.buf[i].bytes, p.buf[i].start);
                        let f = &mut p.following[i];
                        if let Some((at, masked)) = resync::undecided_chains(
                            b,
                            start,
                            resume_from..b.len(),
                            expect,
                            false,
                            f,
                            MAX_FOLLOWED,
                        ) {
                            // Convincing, behind an earlier chain still undecided.
                            f.clear();
                            found[i] = Some(masked);
                            boundary[i] = Some(start + at as u64);
                        } else {
                            (found[i], boundary[i]) = p.follow(i, expect, complete, cfg.max_resync);
                        }
                    }
                }
            }
        }
        let quiet = |i: usize| p.given_up[i] || (complete && found[i].is_none());
        let anchored = p.request_end.filter(|_| p.anchored).map(|(r, _)| r);
        // Frames in both directions must agree: one side masks, the other does not.
        let client = match found {
            // The client's frames right after its request: the other side need not show any.
            _ if anchored.is_some_and(|r| found[1 - r] != Some(true)) => anchored,
            [Some(m0), Some(m1)] if m0 != m1 => Some(if m0 { 0 } else { 1 }),
            [Some(_), Some(_)] => {
                self.unanswered_no_response(sink);
                self.phase = Phase::Ignored;
                return;
            }
            // One side shows frames; the other has none yet: wait for it to agree, unless it has
            // nothing, gave up, or the streams ended.
            [Some(m), None] if (!p.both_sides || m) && (p.buf[1].bytes.is_empty() || quiet(1)) => {
                Some(if m { 0 } else { 1 })
            }
            [None, Some(m)] if (!p.both_sides || !m) && (p.buf[0].bytes.is_empty() || quiet(0)) => {
                Some(if m { 1 } else { 0 })
            }
            _ => None,
        };
        let Some(client) = client else {
            let done = |i: usize| {
                p.given_up[i]
                    || (p.buf[i].bytes.is_empty() && p.following[i].is_empty())
                    || complete
            };
            // Nothing yet in either direction (a search begun at a gap) is not an answer.
            let given_up = complete || p.given_up.iter().any(|&g| g);
            if done(0) && done(1) && given_up && (found.iter().all(Option::is_none) || p.both_sides)
            {
                self.unanswered_no_response(sink);
                self.phase = Phase::Ignored;
            }
            return;
        };
        let client_tcp_dir = Direction::BOTH[client];
        self.swapped = client_tcp_dir == Direction::ServerToClient;
        let bufs = std::mem::take(&mut p.buf);
        let mut following = std::mem::take(&mut p.following);
        let passed = p.passed;
        let unanswered = p.unanswered.take();
        // The request was upgraded if the client's frames start where it ended (or the client
        // sent nothing since); bytes before them (a retried request after a lost refusal) say
        // it was not.
        let request_end = p.request_end;
        let anchored_after_loss = p.anchored_after_loss;
        let answered_by_frames = p.request_end.is_some_and(|(i, end)| {
            boundary[i] == Some(end)
                || (bufs[i].bytes.is_empty() && bufs[i].start == end)
                || (p.lost_since_request && client == i)
        });
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
                    memory: cfg.memory.clone(),
                },
                start,
            )
        };
        // A direction whose frames were found is decoded from there; the other keeps searching.
        let dirs = [0, 1].map(|i| {
            let from_client = client == i;
            match (boundary[i], found[i]) {
                // The client's frames right after the request start where it ended: decoded
                // from there as after a 101 (no probation, which a gap at a frame boundary
                // would have ended by dropping them; a compressed first message inflates).
                (Some(at), Some(true))
                    if client == i
                        && !anchored_after_loss
                        && (anchored == Some(i) || request_end == Some((i, at))) =>
                {
                    DirectionDecoder::new(
                        DirConfig { from_start: true, ..make(true, 0).config().clone() },
                        at,
                    )
                }
                (Some(at), Some(masked)) => DirectionDecoder::at_boundary(
                    DirConfig { from_start: false, ..make(from_client, 0).config().clone() },
                    at,
                    masked,
                ),
                // Still searching: with the chains it follows.
                _ => make(from_client, bufs[i].start)
                    .following(std::mem::take(&mut following[i]), passed[i]),
            }
        });
        self.phase = Phase::WebSocket(Box::new(WsPhase { dirs }));
        self.announce(sink);
        let first = Direction::BOTH
            .iter()
            .filter(|d| !bufs[d.index()].bytes.is_empty())
            .map(|d| bufs[d.index()].position())
            .min_by_key(|p| p.packet)
            .unwrap_or_default();
        // What came before the frames found is not known (a close frame not seen included).
        self.saw.lost = [true; 2];
        let request = match unanswered {
            Some(u) if answered_by_frames => {
                let Pending { upgrade, violations, .. } = *u;
                upgrade.map(|(req, pos)| (req, pos, violations))
            }
            Some(u) => {
                self.no_response(*u, sink);
                None
            }
            None => None,
        };
        let request_seen = request.is_some();
        match request {
            // The request was captured, its 101 was not: the frames say it was upgraded.
            Some((req, pos, violations)) => {
                self.handshake(Some(req), None, None, HandshakeOutcome::Upgraded, sink);
                for v in violations {
                    self.violation(v, Some(Direction::ClientToServer), pos, sink);
                }
            }
            None => self.handshake(None, None, None, HandshakeOutcome::Upgraded, sink),
        }
        self.finding(
            CheckId::HandshakeNotSeen,
            None,
            first,
            if request_seen {
                "the response to the upgrade request was not captured: frames were found by \
                 validating consecutive frame headers; compressed messages can only be inflated \
                 when they do not refer to earlier data"
            } else if resumed_websocket(&self.info) {
                "the connection went on after wsscope had stopped following it (--idle-timeout \
                 of silence, or evicted to stay under --memory-budget; its earlier part has the \
                 handshake): frames were found again by validating frame headers; compressed \
                 messages can only be inflated when they do not refer to earlier data"
            } else if self.saw.snaplen_before_frames {
                "bytes before the frames found were cut by the capture's snapshot length, the \
                 opening handshake's among them if it was captured (snaplen_cut: capture again \
                 with -s 0): frames were found by validating consecutive frame headers; \
                 compressed messages can only be inflated when they do not refer to earlier data"
            } else {
                "no opening handshake in the capture: frames were found by validating consecutive frame headers; \
                 compressed messages can only be inflated when they do not refer to earlier data"
            }
            .to_string(),
            sink,
        );
        for d in Direction::BOTH {
            let b = &bufs[d.index()];
            let passed = passed[d.index()];
            if let Some(at) = boundary[d.index()]
                && (at > b.start || passed > 0)
            {
                let pos = b.position();
                let e = self.finding_event(
                    CheckId::FrameSyncLost,
                    Some(self.ws_dir(d)),
                    pos,
                    format!(
                        "skipped {} bytes before the first frame boundary{}",
                        at.saturating_sub(b.start) + passed,
                        if passed > 0 {
                            " (the frames there were followed by their headers, not kept: the \
                             search keeps --max-resync bytes, and they held too few frames to \
                             be sure of; a larger --max-resync keeps more)"
                        } else {
                            ""
                        }
                    ),
                );
                sink.event(e);
            }
        }
        // The two directions' bytes as they were captured (from the frame boundaries found), in
        // capture order.
        let pieces = in_capture_order(Direction::BOTH.map(|d| {
            let from = boundary[d.index()].unwrap_or(0);
            let pieces = bufs[d.index()].pieces().into_iter();
            pieces
                .filter_map(|(o, b, a)| {
                    let cut = usize::try_from(from.saturating_sub(o)).ok()?;
                    let rest = b.get(cut..).filter(|r| !r.is_empty())?;
                    Some((o + cut as u64, rest, a))
                })
                .collect()
        }));
        for (dir, off, bytes, at) in pieces {
            self.on_plain(dir, off, bytes, at, cfg, sink);
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
            community_id: CommunityId::tcp(client, server, self.community_id_seed),
            role: self.info.role,
            continues: match self.info.resume_mark {
                RESUME_SHOWN => Some(Continues::AfterRequest),
                RESUME_COUNTED => Some(Continues::AfterHandshake),
                _ => None,
            },
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
        // `no_response` is counted nowhere: a part that resumes brings the outcome.
        self.saw.outcome = outcome != HandshakeOutcome::NoResponse;
        sink.event(Event::Handshake {
            connection: self.info.id,
            seen: request.is_some() || response.is_some(),
            request,
            response,
            accept_valid,
            outcome,
        });
        if let Some(e) = self.skew_pending.take() {
            sink.event(*e);
        }
        for e in std::mem::take(&mut self.handshake_notes) {
            sink.event(e);
        }
    }

    /// The `tls` event of a connection that went through the TLS layer, and a finding when it
    /// was not decrypted.
    fn report_tls(&mut self, at: PacketRef, sink: &mut impl EventSink) {
        let Some(tls) = &self.tls else { return };
        let duration = at.ts.saturating_since(self.info.first.ts);
        let info = tls.info(self.announced, duration);
        let tls_client = tls.summary().client_dir.unwrap_or(Direction::ClientToServer);
        let (client, server) = if tls_client == Direction::ClientToServer {
            (self.info.client, self.info.server)
        } else {
            (self.info.server, self.info.client)
        };
        let undecrypted = !matches!(info.decryption, Decryption::Decrypted | Decryption::Partial);
        let advice = info.advice.clone();
        sink.event(Event::Tls {
            connection: self.info.id,
            client,
            server,
            community_id: CommunityId::tcp(client, server, self.community_id_seed),
            websocket: self.announced,
            start: self.info.first.ts,
            end: at.ts,
            tls: Box::new(info),
        });
        if undecrypted {
            let pos =
                Position { packet: self.info.first.packet, ts: self.info.first.ts, offset: 0 };
            let message = format!(
                "TLS connection {client} → {server} not decrypted: {}",
                advice.unwrap_or_default()
            );
            self.finding(CheckId::TlsNotDecrypted, None, pos, message, sink);
        }
    }

    /// An upgrade request that never got a response.
    /// Of requests whose responses the capture lost, the last upgrade request, kept for the
    /// search that follows; the others are said to have had no response.
    fn unanswered(
        &mut self,
        pending: VecDeque<Pending>,
        sink: &mut impl EventSink,
    ) -> Option<Box<Pending>> {
        let mut last = None;
        for p in pending {
            if p.upgrade.is_some()
                && let Some(earlier) = last.replace(p)
            {
                self.no_response(earlier, sink);
            }
        }
        last.map(Box::new)
    }

    /// Leaves a search that found no frames: its upgrade request had no response, as far as
    /// the capture shows.
    fn unanswered_no_response(&mut self, sink: &mut impl EventSink) {
        if let Phase::Probe(p) = &mut self.phase
            && let Some(u) = p.unanswered.take()
        {
            self.no_response(*u, sink);
        }
    }

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
        sink.event(self.finding_event(check, direction, at, message));
    }

    fn finding_event(
        &self,
        check: CheckId,
        direction: Option<Direction>,
        at: Position,
        message: String,
    ) -> Event {
        let info = check.info();
        Event::Finding {
            connection: self.info.id,
            code: check,
            severity: info.severity,
            rfc: info.rfc,
            direction,
            at,
            message,
        }
    }

    /// Who sent the first close frame: the side whose close the other had received (its close
    /// packet acknowledges it) when it sent its own; else the first in capture order.
    fn causal_first_close(&self) -> Option<Direction> {
        let [c, s] = self.close_at;
        // The TCP direction each WebSocket side sends in.
        let (tc, ts) =
            (self.ws_dir(Direction::ClientToServer), self.ws_dir(Direction::ServerToClient));
        let acked = |tcp: Direction, ack: Option<u32>| ack.and_then(|a| self.acked_offset(tcp, a));
        match (c, s) {
            (Some((c_end, _)), Some((_, s_ack)))
                if acked(ts, s_ack).is_some_and(|a| a >= c_end) =>
            {
                Some(Direction::ClientToServer)
            }
            (Some((_, c_ack)), Some((s_end, _)))
                if acked(tc, c_ack).is_some_and(|a| a >= s_end) =>
            {
                Some(Direction::ServerToClient)
            }
            _ => self.first_close,
        }
    }

    /// Pongs that waited for their ping longer than the reorder window (all of them when
    /// `before` is `None`) are unsolicited.
    fn expire_early_pongs(&mut self, before: Option<Timestamp>, sink: &mut impl EventSink) {
        for d in Direction::BOTH {
            while let Some((_, at)) = self.early_pongs[d.index()].front()
                && before.is_none_or(|t| at.ts < t)
            {
                let Some((p, at)) = self.early_pongs[d.index()].pop_front() else { break };
                self.pong_unsolicited(d, p.len(), at, sink);
            }
        }
    }

    fn pong_unsolicited(
        &mut self,
        d: Direction,
        len: usize,
        at: Position,
        sink: &mut impl EventSink,
    ) {
        self.finding(
            CheckId::PongUnsolicited,
            Some(d),
            at,
            format!("pong with {len} bytes answers no outstanding ping"),
            sink,
        );
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
            WsOut::Message(m) => self.emit_message(d, *m, cfg, sink),
        }
    }

    fn emit_message(
        &mut self,
        d: Direction,
        m: Message,
        cfg: &AnalyzerConfig,
        sink: &mut impl EventSink,
    ) {
        let mut rtt = None;
        // A whole control frame's payload is `Payload::Bytes`: its raw (unmasked) bytes.
        let control: &[u8] = match &m.payload {
            Payload::Bytes(b) if m.opcode.is_control() => b,
            _ => &[],
        };
        // A pong waits for its ping at least the reorder window, and twice the skew seen.
        let window = m.end.ts.saturating_sub(cfg.reorder_window.max(self.skew_lead * 2));
        self.expire_early_pongs(Some(window), sink);
        match m.opcode {
            OpCode::Ping if !m.incomplete => {
                let early = &mut self.early_pongs[d.opposite().index()];
                if let Some(i) = early.iter().position(|(p, _)| p.as_slice() == control) {
                    // Its pong was captured first: the two directions' clocks disagree.
                    let (_, pong) = early.remove(i).unwrap_or_default();
                    let lead = m.first.ts.saturating_since(pong.ts);
                    self.skew_lead = self.skew_lead.max(lead);
                    if !self.skew_reported && pong.packet < m.first.packet {
                        self.skew_reported = true;
                        self.finding(
                            CheckId::CaptureClockSkew,
                            Some(d),
                            m.first,
                            format!(
                                "the pong (packet {}) was captured {:.3} ms before the ping it \
                                 answers: {SKEW_EXPLAINED}",
                                pong.packet,
                                lead.as_secs_f64() * 1e3
                            ),
                            sink,
                        );
                    }
                } else {
                    let q = &mut self.pings[d.index()];
                    if q.len() >= MAX_PINGS {
                        q.pop_front();
                    }
                    q.push_back((control.to_vec(), m.first.ts));
                }
            }
            OpCode::Pong if !m.incomplete => {
                let q = &mut self.pings[d.opposite().index()];
                match q.iter().position(|(p, _)| p.as_slice() == control) {
                    Some(i) => {
                        let (_, sent) = q.remove(i).unwrap_or_default();
                        q.drain(..i);
                        // Across two capture points whose clocks disagree, a round trip would
                        // measure the skew: it is not given.
                        if !self.skew_reported && self.skew_pending.is_none() {
                            rtt = Some(m.first.ts.saturating_since(sent).as_secs_f64());
                        }
                    }
                    None => {
                        // Its sender may have received bytes the capture has not shown yet
                        // (they acknowledge them: two capture points merged): then its ping may
                        // still come, within the reorder window. Otherwise it is unsolicited.
                        let tcp = self.ws_dir(d);
                        let ahead = m
                            .acked
                            .and_then(|a| self.acked_offset(tcp, a))
                            .is_some_and(|o| o > self.seen_end[tcp.opposite().index()]);
                        if ahead || self.skew_reported || self.skew_pending.is_some() {
                            let early = &mut self.early_pongs[d.index()];
                            if early.len() >= MAX_PINGS
                                && let Some((p, at)) = early.pop_front()
                            {
                                self.pong_unsolicited(d, p.len(), at, sink);
                            }
                            self.early_pongs[d.index()].push_back((control.to_vec(), m.first));
                        } else {
                            self.pong_unsolicited(d, control.len(), m.first, sink);
                        }
                    }
                }
            }
            OpCode::Close => {
                self.first_close.get_or_insert(d);
                self.close_sent[d.index()] = true;
                self.close_at[d.index()].get_or_insert((m.end.offset, m.acked));
            }
            _ => {}
        }
        let close = m.close.map(|(code, reason)| CloseFrameInfo { code, reason, at: m.first });
        let payload = m.payload;
        sink.event(Event::Message {
            connection: self.info.id,
            direction: d,
            opcode: m.opcode,
            complete: !m.incomplete,
            length: m.length,
            captured_length: m.captured_length,
            missing: m.missing,
            wire_length: m.wire_length,
            compressed: m.compressed,
            fragments: m.fragments,
            first: m.first,
            last: m.last,
            end: m.end,
            payload,
            truncated: m.truncated,
            close,
            rtt,
        });
    }
}

/// Skips buffered body bytes: `Some((progressed, done))`, or `None` when the body is malformed.
/// What frames masked (or not) as `masked` says must show to be taken for frames without a
/// handshake (any extension's RSV1 allowed).
fn detect_masked(masked: bool) -> Expect {
    Expect {
        masked: Some(masked),
        rsv_allowed: 0b100,
        evidence: resync::Evidence::Detect {
            min_frames_at_end: resync::MIN_FRAMES_AT_END,
            resumed: None,
        },
        run_from: None,
    }
}

/// The two directions' pieces (each in stream order) as one list in capture order: the next is
/// the head whose packet came first. Each direction keeps its stream order: a segment captured
/// late (reordered, or its clock behind the other side's) still comes where its bytes go (sorted
/// by packet, the bytes after it were fed first, at its offset: the client's `reserved_opcode`
/// and `client_frame_unmasked` errors, by the hundred, on a capture that lost a 101).
fn in_capture_order(
    [c2s, s2c]: [Vec<(u64, &[u8], PacketRef)>; 2],
) -> Vec<(Direction, u64, &[u8], PacketRef)> {
    let mut out = Vec::with_capacity(c2s.len() + s2c.len());
    let (mut a, mut b) = (c2s.into_iter().peekable(), s2c.into_iter().peekable());
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.2.packet <= y.2.packet,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return out,
        };
        let (d, next) = if take_a {
            (Direction::ClientToServer, a.next())
        } else {
            (Direction::ServerToClient, b.next())
        };
        if let Some((o, bytes, at)) = next {
            out.push((d, o, bytes, at));
        }
    }
}

/// Whether `bytes`, a client's bytes from the end of its upgrade request (stream offset `end`)
/// up to a gap, are masked frames from their first byte: `Some(true)` for at least two
/// complete ones (a chain that ends exactly there shows what a search needs of it; or whose
/// next frame, or header, the gap cut), `Some(false)` when they are not frames (a request
/// retried after a lost refusal: `G` reads as a reserved opcode), `None` when they may be but
/// show too little (helper-39: one header whose payload runs into the gap starts about one in
/// 30 random binaries, and an eager client's lone frame proves nothing).
fn frames_from_request_end(bytes: &[u8], end: u64) -> Option<bool> {
    let expect = detect_masked(true);
    let mut chain = resync::Chain::new(end, expect);
    let stop = end + bytes.len() as u64;
    let shown = match chain.advance(bytes, end, expect, false) {
        resync::Verdict::Accept(masked) => return Some(masked),
        resync::Verdict::Reject => return Some(false),
        resync::Verdict::Undecided if chain.next_header() == stop => {
            chain.advance(bytes, end, expect, true) == resync::Verdict::Accept(true)
        }
        // The gap cut the frame after the last one counted, or its header.
        resync::Verdict::Undecided if chain.next_header() > stop => chain.frames() > 2,
        resync::Verdict::Undecided => chain.frames() >= 2,
    };
    shown.then_some(true)
}

/// Whether the server's first bytes captured are unmasked frames from their first byte, the
/// chain convincing (`Some(true)`), ruled out (`Some(false)`), or not yet either (`None`).
fn frames_from_first_byte(bytes: &[u8]) -> Option<bool> {
    let expect = detect_masked(false);
    match resync::Chain::new(0, expect).advance(bytes, 0, expect, false) {
        resync::Verdict::Accept(masked) => Some(!masked),
        resync::Verdict::Reject => Some(false),
        resync::Verdict::Undecided => None,
    }
}

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
    let response = |d: Direction| http::lenient::looks_like_response_start(&h.buf[d.index()].bytes);
    match (looks(Direction::ClientToServer), looks(Direction::ServerToClient)) {
        (Some(true), _) => Decision::Requests(Direction::ClientToServer),
        (_, Some(true)) => Decision::Requests(Direction::ServerToClient),
        // A response first (the capture started after its request): the other side asks.
        _ if response(Direction::ServerToClient) == Some(true) => {
            Decision::Requests(Direction::ClientToServer)
        }
        _ if response(Direction::ClientToServer) == Some(true) => {
            Decision::Requests(Direction::ServerToClient)
        }
        (Some(false), _) | (_, Some(false)) => Decision::NotHttp,
        _ => Decision::Undecided,
    }
}

/// A connection picked up again after `--idle-timeout` or a memory eviction whose earlier
/// part was shown as a WebSocket connection: frames are searched for at once, with little
/// evidence. One whose earlier part was not (a SYN, a request cut short, plain HTTP) starts
/// like a connection whose handshake may come, with its roles.
fn resumed_websocket(info: &ConnInfo) -> bool {
    info.role == RoleSource::Resumed && matches!(info.resume_mark, RESUME_SHOWN | RESUME_COUNTED)
}

/// A port named by `--ws-port`, or a connection resumed after `--idle-timeout` or a memory
/// eviction (not known to carry something else): frames are taken with less evidence.
fn port_named(info: &ConnInfo, cfg: &AnalyzerConfig) -> bool {
    resumed_websocket(info)
        || cfg.ws_ports.contains(&info.server.port())
        || cfg.ws_ports.contains(&info.client.port())
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
        CloseReason::MemoryBudget => "evicted to stay under the memory budget",
        CloseReason::Reused => "4-tuple reused",
        CloseReason::EndOfCapture => "end of capture",
    }
}
