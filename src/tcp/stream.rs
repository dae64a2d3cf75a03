//! One direction of a TCP connection: turns segments into in-order bytes, gaps and a FIN.
//!
//! Guarantees, for any sequence of segments:
//! - every stream byte is reported at most once, in increasing offset order, either as data or as
//!   part of a gap; offsets never go backwards and never repeat;
//! - bytes that arrive in order are handed on without being copied; only segments that must wait
//!   behind a hole are copied into the [`Assembler`];
//! - when two copies of the same sequence numbers differ, the first copy seen wins and the
//!   difference is reported with its exact range — against buffered bytes, and against delivered
//!   bytes still held in a bounded history: every byte the peer has not acknowledged yet (the
//!   bytes a sender legitimately retransmits) plus the last few acknowledged ones (where
//!   spurious retransmissions and overlap-based evasion land);
//! - buffering is bounded by [`TcpLimits`]; hitting a limit turns the oldest hole into a gap.
//!
//! A hole becomes a gap only when it is certain the bytes will not come. The peer acknowledging
//! past it is not enough: in captures that merge two directions (SPAN ports, TAPs, mirrored
//! traffic, multi-queue NICs) an ACK is often captured before the data it acknowledges. A hole
//! the peer acknowledged waits for its bytes within the reorder window — `reorder_window` of
//! capture time and `reorder_packets` packets of the connection since the acknowledgment passed
//! it — and becomes a `lost` gap only when the window has passed (the same window, counted from
//! the first byte buffered behind the hole, applies when the capture holds no acknowledgment of
//! this direction at all: one-way captures). A buffering limit, or the end of the connection,
//! closes it earlier.
//!
//! While bytes wait behind a hole, the direction reports [`StreamEvent::Pending`] with the
//! packet of the first of them, so the consumer can keep its output in capture order.

use super::assembler::{Assembler, Chunk};
use super::event::{Anomaly, DirStats, GapReason, PacketRef, StreamEvent, StreamSink};
use super::flow::{ConnId, Direction};
use super::history::{BlockPool, History};
use super::seq::SeqSpace;
use crate::limits::TcpLimits;
use crate::time::Timestamp;
use std::collections::VecDeque;
use std::ops::Range;

/// The parts of a TCP segment one direction cares about.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SegData<'a> {
    pub seq: u32,
    pub syn: bool,
    pub fin: bool,
    /// Captured payload bytes.
    pub payload: &'a [u8],
    /// Payload bytes on the wire after `payload` that the capture did not keep (snaplen).
    pub missing: u32,
}

/// Bytes held by all connections of a table, checked against the table-wide limits.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    /// Out-of-order bytes buffered (against `max_buffered_total`).
    pub buffered: usize,
    /// Delivered bytes held for retransmission checks (against `max_history_total`).
    pub history: usize,
    /// Blocks the histories are made of.
    pub pool: BlockPool,
    /// Segments whose bytes `max_history_total` kept out of the history.
    pub history_not_kept: u64,
}

/// Where a run of bytes (a packet, the payload of the segment being handled) lies in the
/// input file, so that the retransmission history can keep offsets instead of copies (see
/// `history.rs`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Origin {
    /// The payload's address in memory and its length: bytes delivered from inside it are
    /// found in the file.
    start: usize,
    len: usize,
    /// The file offset of its first byte.
    file: u64,
}

impl Origin {
    /// `bytes`, at offset `file` of the input file when that is known.
    pub fn of(bytes: &[u8], file: Option<u64>) -> Option<Origin> {
        file.map(|file| Origin { start: bytes.as_ptr() as usize, len: bytes.len(), file })
    }

    /// The file offset of `data` when it lies within these bytes (compared as addresses: bytes
    /// copied elsewhere, e.g. after waiting out of order, are not in the file as delivered).
    pub fn locate(&self, data: &[u8]) -> Option<u64> {
        let p = data.as_ptr() as usize;
        (p >= self.start && p + data.len() <= self.start + self.len)
            .then(|| self.file + (p - self.start) as u64)
    }
}

/// Everything a direction needs from its connection and table while handling one segment.
pub(crate) struct Ctx<'c, S: StreamSink> {
    pub conn: ConnId,
    pub dir: Direction,
    pub at: PacketRef,
    /// Where the segment's payload is in the input file (segments of this direction only).
    pub origin: Option<Origin>,
    /// Segments of the connection (both directions) so far, this one included.
    pub conn_segments: u64,
    pub sink: &'c mut S,
    pub limits: &'c TcpLimits,
    pub budget: &'c mut Budget,
}

/// How many recent gaps are remembered to recognise late data.
const RECENT_GAPS: usize = 8;
/// Acknowledgments further than this beyond the next expected byte are ignored as implausible.
const MAX_ACK_AHEAD: u64 = 1 << 30;

/// The most bytes before a direction's first captured byte taken as lost when its SYN-ACK was
/// not captured (see `HalfStream::acked_before_start`).
const MAX_UNSEEN_START: u32 = 256 << 10;
/// How far below what the receiver acknowledged a RST may lie and still be taken as real.
const RST_SLACK_BELOW: u64 = 64 << 10;
/// The largest window TCP can advertise (65535 << 14, RFC 7323 §2.3): the window assumed for a
/// receiver whose advertisements were not captured.
const MAX_WINDOW: u64 = 65_535 << 14;
/// Acknowledgment marks remembered per direction (when full, the newest one is overwritten:
/// holes it covers then wait a little longer, never less).
const ACK_MARKS: usize = 16;

/// State of the reorder window of one direction.
#[derive(Debug, Default)]
struct Reorder {
    /// Acknowledgments that went beyond `next`, oldest first, offsets increasing.
    ack_marks: VecDeque<AckMark>,
    /// When the oldest bytes still waiting behind a hole were buffered: their packet and the
    /// connection's segment count then (None while nothing is buffered).
    pending_first: Option<(PacketRef, u64)>,
}

/// When the peer's acknowledgment first reached an offset beyond the next expected byte.
#[derive(Clone, Copy, Debug)]
struct AckMark {
    offset: u64,
    at: PacketRef,
    segments: u64,
}

/// Where a direction's stream starts when its SYN was not seen (`HalfStream::acked_before_start`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum StartHint {
    /// Nothing seen before its first bytes: they start it.
    #[default]
    None,
    /// The peer's first acknowledgment, the peer's stream having begun with its SYN.
    PeerAck,
    /// The latest acknowledgment of the peer, whose SYN was not seen: not believed alone (the
    /// bytes before it may have passed before the capture started).
    PeerSaid,
    /// The sequence number of this direction's first segment without bytes: not believed alone
    /// (a keep-alive probe carries the next byte's number minus one).
    OwnBare,
    /// This direction's segment without bytes and the peer's acknowledgment agreed on its next
    /// byte: it was there when both were sent, within the capture.
    Agreed,
}

/// State of one direction.
///
/// Invariants: every buffered chunk starts after `next`; `fin_at`, once set, never changes;
/// `next <= fin_at` when both are set; `history` holds the delivered bytes
/// `[history_start, next)` (it ends at `next`, and is emptied by a gap).
#[derive(Debug, Default)]
pub(crate) struct HalfStream {
    space: Option<SeqSpace>,
    next: u64,
    fin_at: Option<u64>,
    fin_packet: PacketRef,
    fin_delivered: bool,
    peer_ack: Option<u64>,
    chunks: Assembler,
    history: History,
    history_start: u64,
    /// Recent gaps and when they were declared.
    recent_gaps: VecDeque<(Range<u64>, PacketRef)>,
    /// Whether an acknowledgment captured before its data was reported.
    ack_lead_reported: bool,
    /// What the reorder window needs, kept only while acknowledgments lead the data or bytes
    /// wait behind a hole (most directions never need it).
    reorder: Option<Box<Reorder>>,
    /// Whether the consumer was last told that bytes are pending.
    pending_reported: bool,
    /// The largest window the receiver advertised for this direction's bytes (scaled as well
    /// as the capture allows), 0 while none was seen.
    window: u32,
    /// The sequence space was fixed by this direction's SYN.
    from_syn: bool,
    /// The first acknowledgment number the peer sent for this direction before any of its
    /// bytes or its SYN were seen, when the peer's own stream began with a SYN: the capture lost
    /// this direction's SYN-ACK, and its stream starts there (ISN + 1), not at the first byte
    /// seen. Bytes between are a hole, and then a gap, instead of a start silently moved on
    /// (a lost 101 made the frames after it read as a malformed response).
    ///
    /// Without that, where a segment without bytes (an ACK) this direction sent and an
    /// acknowledgment of the peer agreed that its next byte was, before any of its bytes were
    /// seen ([`StartHint::Agreed`]): every byte from there on was sent within the capture. Its
    /// first bytes seen start further on when the capture lost those sent between (a queue that
    /// dropped the SYNs and then a 101 read the frames after it as a malformed response); they
    /// are a hole, and then a gap, too. Either alone is no proof: a keep-alive probe carries the
    /// next byte's number minus one, and an acknowledgment may predate the capture.
    /// Meaningful as `start_hint` says.
    acked_before_start: u32,
    /// What `acked_before_start` is.
    start_hint: StartHint,
    pub stats: DirStats,
}

impl HalfStream {
    /// Whether this direction's stream began with its SYN.
    pub fn began_with_syn(&self) -> bool {
        self.from_syn
    }

    /// True once the FIN was delivered (all bytes before it accounted for).
    pub fn fin_delivered(&self) -> bool {
        self.fin_delivered
    }

    /// The ISN + 1 (or first sequence number seen), if known.
    pub fn base_seq(&self) -> Option<u32> {
        self.space.map(SeqSpace::base)
    }

    /// The receiver advertised a window of `bytes` for this direction's bytes.
    pub fn note_window(&mut self, bytes: u32) {
        self.window = self.window.max(bytes);
    }

    /// How far outside the range a receiver could accept a RST with sequence number `seq`
    /// lies (0: inside). The range runs from a little before what the receiver acknowledged
    /// (or the next byte expected) to past the furthest byte seen, acknowledged or FIN, by the
    /// largest window the receiver advertised ([`MAX_WINDOW`] while it is unknown). Without a
    /// sequence space there is nothing to check against.
    pub fn rst_outside(&self, seq: u32) -> u64 {
        let Some(space) = self.space else { return 0 };
        let off = space.offset_of(seq, self.next);
        let low = self.peer_ack.unwrap_or(self.next).min(self.next).saturating_sub(RST_SLACK_BELOW);
        let window = if self.window == 0 { MAX_WINDOW } else { u64::from(self.window) };
        // A RST after the FIN carries the FIN's sequence number + 1.
        let high = [self.next, self.chunks.last_end().unwrap_or(0), self.peer_ack.unwrap_or(0)]
            .into_iter()
            .chain(self.fin_at)
            .max()
            .unwrap_or(0)
            .saturating_add(1)
            .saturating_add(window);
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        if off < clamp(low) {
            clamp(low).abs_diff(off)
        } else if off > clamp(high) {
            off.abs_diff(clamp(high))
        } else {
            0
        }
    }

    /// Handles a segment sent in this direction.
    pub fn on_segment<S: StreamSink>(&mut self, seg: SegData<'_>, ctx: &mut Ctx<'_, S>) {
        self.stats.segments += 1;
        let space = match self.space {
            Some(s) => s,
            None if seg.syn => {
                self.from_syn = true;
                *self.space.insert(SeqSpace::new(seg.seq.wrapping_add(1)))
            }
            None if !seg.payload.is_empty() || seg.missing > 0 || seg.fin => {
                // The peer acknowledged from an earlier point: the bytes from there were sent
                // and not captured. At most a few initial windows' worth is believed: without
                // the SYN-ACK the window scale is not known, and a stale or rewritten ACK would
                // make up a loss of gigabytes.
                let known = matches!(self.start_hint, StartHint::PeerAck | StartHint::Agreed);
                let start = known
                    .then_some(self.acked_before_start)
                    .filter(|&a| seg.seq.wrapping_sub(a) <= MAX_UNSEEN_START)
                    .unwrap_or(seg.seq);
                *self.space.insert(SeqSpace::new(start))
            }
            None => {
                self.hint(seg.seq, StartHint::OwnBare);
                return;
            }
        };
        let data_seq = if seg.syn { seg.seq.wrapping_add(1) } else { seg.seq };
        let total = seg.payload.len() as u64 + u64::from(seg.missing);
        let start = space.offset_of(data_seq, self.next);
        // RFC 9293 §3.8.4: a keep-alive probe carries seq = next - 1 and zero or one garbage byte.
        if !seg.syn && !seg.fin && total <= 1 && self.next > 0 && start == self.next as i64 - 1 {
            self.stats.keepalives += 1;
            return;
        }
        let end = start.saturating_add(total as i64);
        if seg.fin && end >= 0 && self.fin_at.is_none() && end as u64 >= self.next {
            // The first copy seen wins: a FIN before bytes already buffered beyond it contradicts
            // them and is ignored (counted), so `next <= fin_at` always holds.
            if self.chunks.last_end().is_some_and(|e| e > end as u64) {
                self.stats.ignored_fins += 1;
            } else {
                self.fin_at = Some(end as u64);
                self.fin_packet = ctx.at;
            }
        }
        if total > 0 && end > 0 {
            self.accept(start, seg.payload, u64::from(seg.missing), ctx);
        } else if total > 0 {
            self.stats.before_start_bytes += total;
        }
        self.settle(ctx);
    }

    /// Notes where this direction's next byte was said to be (by its own segment without bytes,
    /// or by the peer's acknowledgment, whose SYN was not seen) before any of its bytes came:
    /// the two agreeing fix its start ([`StartHint::Agreed`]). The latest of each is kept.
    fn hint(&mut self, seq: u32, said: StartHint) {
        self.start_hint = match self.start_hint {
            StartHint::PeerAck | StartHint::Agreed => return,
            StartHint::None => said,
            h if h == said => said,
            _ if self.acked_before_start == seq => StartHint::Agreed,
            _ => said,
        };
        self.acked_before_start = seq;
    }

    /// Handles an acknowledgment number sent by the peer for this direction's bytes.
    /// `syn_ack` is true when the acknowledging segment is a SYN-ACK (it then fixes offset 0);
    /// `peer_from_syn` when the peer's own stream began with its SYN (its first acknowledgment
    /// then marks where this direction's stream starts, should its SYN-ACK be missing).
    pub fn on_peer_ack<S: StreamSink>(
        &mut self,
        ack: u32,
        (syn_ack, peer_from_syn): (bool, bool),
        ctx: &mut Ctx<'_, S>,
    ) {
        let space = match self.space {
            Some(s) => s,
            None if syn_ack => *self.space.insert(SeqSpace::new(ack)),
            None => {
                // The peer's first acknowledgment wins over anything else.
                if peer_from_syn && self.start_hint != StartHint::PeerAck {
                    (self.acked_before_start, self.start_hint) = (ack, StartHint::PeerAck);
                } else if !peer_from_syn {
                    self.hint(ack, StartHint::PeerSaid);
                }
                return;
            }
        };
        let off = space.offset_of(ack, self.next);
        let Ok(off) = u64::try_from(off) else { return };
        if off > self.next.saturating_add(MAX_ACK_AHEAD) {
            return;
        }
        if self.peer_ack.is_none_or(|p| off > p) {
            self.peer_ack = Some(off);
            if off > self.next {
                let mark = AckMark { offset: off, at: ctx.at, segments: ctx.conn_segments };
                let marks = &mut self.reorder.get_or_insert_default().ack_marks;
                if marks.len() >= ACK_MARKS {
                    marks.pop_back();
                }
                marks.push_back(mark);
            }
            self.trim_history(off, ctx.limits.retransmission_history_acked, ctx.budget);
            self.settle(ctx);
        }
    }

    /// Lets time pass for a direction with bytes waiting behind a hole (called for every segment
    /// of the connection, and by the table's periodic sweep): the reorder window may have closed.
    pub fn tick<S: StreamSink>(&mut self, ctx: &mut Ctx<'_, S>) {
        if !self.chunks.is_empty() || self.fin_at.is_some_and(|f| f > self.next) {
            self.settle(ctx);
        }
    }

    /// True while bytes wait behind a hole.
    pub fn has_pending(&self) -> bool {
        !self.chunks.is_empty()
    }

    /// The packet time after which a sweep can turn the first hole into a gap (its reorder
    /// window, measured from the acknowledgment past it, or from its first byte buffered in a
    /// one-way capture); `None` when only a segment of the connection can (the peer has not
    /// acknowledged past it, or nothing waits). It changes only with the connection's own
    /// segments. [`Timestamp::from_nanos`]`(i64::MIN)`: at the next sweep.
    pub fn hole_deadline(&self, window: std::time::Duration) -> Option<Timestamp> {
        let target = self.chunks.first_offset()?;
        let since = match self.peer_ack {
            Some(ack) if ack >= target => {
                let marks = self.reorder.as_ref().map(|r| &r.ack_marks);
                match marks.and_then(|m| m.iter().find(|m| m.offset >= target)) {
                    Some(m) => m.at,
                    None => return Some(Timestamp::from_nanos(i64::MIN)),
                }
            }
            Some(_) => return None,
            None => self.reorder.as_ref().and_then(|r| r.pending_first)?.0,
        };
        Some(since.ts.saturating_add(window))
    }

    /// The connection is over: turns every remaining hole into a gap and delivers what is
    /// buffered, then frees the retransmission history.
    pub fn flush<S: StreamSink>(&mut self, ctx: &mut Ctx<'_, S>) {
        self.flush_holes(ctx);
        self.forget_history(ctx.budget);
        self.report_pending(ctx);
    }

    fn flush_holes<S: StreamSink>(&mut self, ctx: &mut Ctx<'_, S>) {
        loop {
            self.drain_ready(ctx);
            match (self.chunks.first_offset(), self.chunks.first_at()) {
                (Some(first), Some(at)) => {
                    // The peer had the bytes: the capture lost them.
                    let reason = if self.peer_ack.is_some_and(|a| a >= first) {
                        GapReason::Lost
                    } else {
                        GapReason::ConnectionEnd
                    };
                    self.declare_gap(first - self.next, reason, at, ctx)
                }
                _ => break,
            }
        }
        match (self.fin_at, self.peer_ack) {
            (Some(fin), ack) if fin > self.next => {
                let reason = if ack.is_some_and(|a| a >= fin) {
                    GapReason::Lost
                } else {
                    GapReason::ConnectionEnd
                };
                self.declare_gap(fin - self.next, reason, self.fin_packet, ctx);
                self.try_fin(ctx);
            }
            (None, Some(ack)) if ack > self.next + 1 => {
                self.declare_gap(ack - self.next, GapReason::AckedUnseen, ctx.at, ctx)
            }
            _ => {}
        }
    }

    /// Takes the range `[start, start + payload.len() + missing)` of a segment (start may be
    /// negative or behind `next`; `end > 0`).
    fn accept<S: StreamSink>(
        &mut self,
        start: i64,
        payload: &[u8],
        missing: u64,
        ctx: &mut Ctx<'_, S>,
    ) {
        let mut piece = Piece { start: 0, data: payload, missing };
        if start < 0 {
            let cut = start.unsigned_abs();
            self.stats.before_start_bytes += cut;
            piece = piece.skip(cut);
        } else {
            piece.start = start as u64;
        }
        // Bytes already delivered (or declared lost): a retransmission.
        if piece.start < self.next {
            let old = (self.next - piece.start).min(piece.len());
            self.stats.retransmitted_bytes += old;
            let captured = &piece.data[..piece.data.len().min(old as usize)];
            self.check_retransmission(piece.start, captured, ctx);
            piece = piece.skip(old);
        }
        if let Some(fin) = self.fin_at
            && piece.len() > 0
            && piece.end() > fin
        {
            let from = piece.start.max(fin);
            let n = piece.end() - from;
            self.stats.after_fin_bytes += n;
            self.anomaly(Anomaly::DataAfterFin { offset: from, len: n }, ctx);
            piece = piece.truncate(from - piece.start);
        }
        if piece.len() == 0 {
            return;
        }
        if piece.start == self.next && self.chunks.is_empty() {
            // The common case: in order, nothing buffered. No copy.
            self.deliver(piece.data, ctx.at, ctx);
            self.declare_gap(piece.missing, GapReason::Snaplen, ctx.at, ctx);
        } else {
            self.merge(piece, ctx);
        }
    }

    /// Slow path: the piece overlaps buffered chunks or lies beyond a hole.
    fn merge<S: StreamSink>(&mut self, piece: Piece<'_>, ctx: &mut Ctx<'_, S>) {
        let (uncovered, overlapped, conflicts) =
            self.chunks.split(piece.start, piece.len(), piece.data);
        self.stats.retransmitted_bytes += overlapped;
        self.stats.verified_retransmitted_bytes += overlapped.min(piece.data.len() as u64);
        for c in conflicts {
            self.stats.mismatches += 1;
            self.anomaly(
                Anomaly::RetransmissionMismatch {
                    offset: c.range.start,
                    len: c.range.end - c.range.start,
                },
                ctx,
            );
        }
        if uncovered.first().is_some_and(|r| r.start > self.next) {
            self.stats.out_of_order_segments += 1;
        }
        for r in uncovered {
            let part = piece.skip(r.start - piece.start).truncate(r.end - r.start);
            if part.start == self.next {
                self.deliver(part.data, ctx.at, ctx);
                self.declare_gap(part.missing, GapReason::Snaplen, ctx.at, ctx);
                self.drain_ready(ctx);
                continue;
            }
            if self.chunks.is_empty() {
                self.reorder.get_or_insert_default().pending_first =
                    Some((ctx.at, ctx.conn_segments));
            }
            if !part.data.is_empty() {
                ctx.budget.buffered += part.data.len();
                self.chunks.insert(Chunk {
                    offset: part.start,
                    len: part.data.len() as u64,
                    data: Some(part.data.to_vec()),
                    at: ctx.at,
                });
            }
            if part.missing > 0 {
                let offset = part.start + part.data.len() as u64;
                self.chunks.insert(Chunk { offset, len: part.missing, data: None, at: ctx.at });
            }
        }
    }

    /// Compares bytes that arrived again for an already delivered range `[start, start + data.len())`.
    fn check_retransmission<S: StreamSink>(
        &mut self,
        start: u64,
        data: &[u8],
        ctx: &mut Ctx<'_, S>,
    ) {
        let end = start + data.len() as u64;
        let late: Vec<(Range<u64>, PacketRef)> = self
            .recent_gaps
            .iter()
            .filter_map(|(g, at)| {
                let (a, b) = (g.start.max(start), g.end.min(end));
                (a < b).then_some((a..b, *at))
            })
            .collect();
        for (r, declared) in late {
            self.stats.late_bytes += r.end - r.start;
            let after_ns = ctx.at.ts.saturating_since(declared.ts).as_nanos() as u64;
            self.anomaly(
                Anomaly::LateData { offset: r.start, len: r.end - r.start, after_ns },
                ctx,
            );
        }
        // Compare with the delivered bytes still held: [history_start, next).
        let (a, b) = (start.max(self.history_start), end.min(self.next));
        if a < b {
            let (h0, d0) = ((a - self.history_start) as usize, (a - start) as usize);
            let n = (b - a) as usize;
            let mut held = Vec::new();
            if !self.history.read(h0, n, &ctx.budget.pool, &mut held) {
                // Bytes gone from the input file since they were read: not compared.
                return;
            }
            let new = &data[d0..d0 + n];
            let mut first = None;
            let mut last = 0;
            for (i, (x, y)) in held.iter().zip(new).enumerate() {
                if x != y {
                    first.get_or_insert(i);
                    last = i;
                }
            }
            self.stats.verified_retransmitted_bytes += n as u64;
            if let Some(first) = first {
                self.stats.mismatches += 1;
                let offset = a + first as u64;
                self.anomaly(
                    Anomaly::RetransmissionMismatch { offset, len: (last - first + 1) as u64 },
                    ctx,
                );
            }
        }
    }

    /// Forgets delivered bytes before `offset` (the peer acknowledged them), except the last
    /// `keep_acked` delivered bytes. Gives memory back when the history is mostly empty.
    fn trim_history(&mut self, offset: u64, keep_acked: usize, budget: &mut Budget) {
        let offset = offset.min(self.next.saturating_sub(keep_acked as u64));
        let n = offset.saturating_sub(self.history_start).min(self.history.len() as u64);
        self.history.drain_front(n as usize, &mut budget.pool);
        self.history_start += n;
        budget.history -= n as usize;
    }

    /// Empties the history (after a gap, or when the connection ends).
    fn forget_history(&mut self, budget: &mut Budget) {
        budget.history -= self.history.len();
        self.history.clear(&mut budget.pool);
        self.history_start = self.next;
    }

    /// After any change: delivers what became contiguous, turns acknowledged or over-limit holes
    /// into gaps, and delivers the FIN when its turn comes.
    fn settle<S: StreamSink>(&mut self, ctx: &mut Ctx<'_, S>) {
        loop {
            self.drain_ready(ctx);
            // The gap is placed at the packet of the first byte after it.
            let (target, after) = match (self.chunks.first_offset(), self.fin_at) {
                (Some(first), _) => (first, self.chunks.first_at().unwrap_or(ctx.at)),
                (None, Some(fin)) if fin > self.next => (fin, self.fin_packet),
                _ => break,
            };
            let over_limit = !self.chunks.is_empty()
                && (self.chunks.bytes() > ctx.limits.max_buffered_per_direction
                    || self.chunks.count() > ctx.limits.max_buffered_segments
                    || ctx.budget.buffered > ctx.limits.max_buffered_total);
            if self.reorder_window_passed(target, ctx) {
                self.declare_gap(target - self.next, GapReason::Lost, after, ctx);
            } else if over_limit {
                self.declare_gap(target - self.next, GapReason::BufferLimit, after, ctx);
            } else {
                break;
            }
        }
        self.try_fin(ctx);
        self.report_pending(ctx);
    }

    /// Whether the hole before `target` has waited out the reorder window: the peer acknowledged
    /// past it (or no acknowledgment of this direction was ever captured) and, since then, more
    /// than `reorder_window` of capture time or `reorder_packets` segments of the connection
    /// went by without its bytes.
    fn reorder_window_passed<S: StreamSink>(&mut self, target: u64, ctx: &Ctx<'_, S>) -> bool {
        let since = match self.peer_ack {
            Some(ack) if ack >= target => {
                let marks = &mut self.reorder.get_or_insert_default().ack_marks;
                match marks.iter().find(|m| m.offset >= target) {
                    Some(m) => (m.at, m.segments),
                    // Acknowledged before any mark was kept (cannot happen while marks are kept
                    // for every acknowledgment beyond `next`): start the window now.
                    None => {
                        let mark = AckMark { offset: ack, at: ctx.at, segments: ctx.conn_segments };
                        marks.push_back(mark);
                        return false;
                    }
                }
            }
            Some(_) => return false,
            // One-way capture: the window runs from the first byte buffered behind the hole.
            None => match self.reorder.as_ref().and_then(|r| r.pending_first) {
                Some(first) => first,
                None => return false,
            },
        };
        let (at, segments) = since;
        ctx.at.ts.saturating_since(at.ts) > ctx.limits.reorder_window
            || ctx.conn_segments.saturating_sub(segments) > ctx.limits.reorder_packets
    }

    /// Tells the consumer when bytes start or stop waiting behind a hole.
    fn report_pending<S: StreamSink>(&mut self, ctx: &mut Ctx<'_, S>) {
        if self.chunks.is_empty()
            && let Some(r) = &mut self.reorder
        {
            r.pending_first = None;
            if r.ack_marks.is_empty() {
                self.reorder = None;
            }
        }
        let first = self.reorder.as_ref().and_then(|r| r.pending_first);
        if first.is_some() == self.pending_reported {
            return;
        }
        self.pending_reported = first.is_some();
        ctx.sink.on_stream_event(StreamEvent::Pending {
            conn: ctx.conn,
            dir: ctx.dir,
            since: first.map(|p| p.0),
            at: ctx.at,
        });
    }

    /// Delivers buffered chunks that start at `next`.
    fn drain_ready<S: StreamSink>(&mut self, ctx: &mut Ctx<'_, S>) {
        while self.chunks.first_offset() == Some(self.next) {
            let Some(chunk) = self.chunks.pop_front() else { break };
            match chunk.data {
                Some(data) => {
                    ctx.budget.buffered = ctx.budget.buffered.saturating_sub(data.len());
                    self.deliver(&data, chunk.at, ctx);
                }
                None => self.declare_gap(chunk.len, GapReason::Snaplen, chunk.at, ctx),
            }
        }
        self.try_fin(ctx);
    }

    fn try_fin<S: StreamSink>(&mut self, ctx: &mut Ctx<'_, S>) {
        if !self.fin_delivered && self.fin_at == Some(self.next) && self.chunks.is_empty() {
            self.fin_delivered = true;
            let at = self.fin_packet;
            ctx.sink.on_stream_event(StreamEvent::Fin {
                conn: ctx.conn,
                dir: ctx.dir,
                offset: self.next,
                at,
            });
        }
    }

    fn deliver<S: StreamSink>(&mut self, data: &[u8], at: PacketRef, ctx: &mut Ctx<'_, S>) {
        if data.is_empty() {
            return;
        }
        let offset = self.next;
        let end = offset + data.len() as u64;
        if !self.ack_lead_reported
            && let Some(m) = self.reorder.as_ref().and_then(|r| r.ack_marks.front())
            && m.offset > offset
            && m.at.packet < at.packet
        {
            // The peer acknowledged these bytes before they were captured.
            self.ack_lead_reported = true;
            let lead_ns = at.ts.saturating_since(m.at.ts).as_nanos() as u64;
            ctx.sink.on_stream_event(StreamEvent::Anomaly {
                conn: ctx.conn,
                dir: ctx.dir,
                anomaly: Anomaly::AckBeforeData { offset, lead_ns },
                at,
            });
        }
        // Keep at most `retransmission_history` bytes: drop what the new bytes push out before
        // adding them, so the buffer never grows past the cap; store nothing while the
        // table-wide history budget is spent (those bytes then count as unverified).
        let cap = ctx.limits.retransmission_history;
        let keep = data.len().min(cap);
        if keep > 0 && ctx.budget.history + keep <= ctx.limits.max_history_total {
            let excess = (self.history.len() + keep).saturating_sub(cap);
            self.history.drain_front(excess, &mut ctx.budget.pool);
            let kept = &data[data.len() - keep..];
            let file = ctx.origin.and_then(|o| o.locate(kept));
            self.history.extend(kept, file, &mut ctx.budget.pool);
            ctx.budget.history = ctx.budget.history + keep - excess;
        } else {
            ctx.budget.history_not_kept += u64::from(keep > 0);
            ctx.budget.history -= self.history.len();
            self.history.clear(&mut ctx.budget.pool);
        }
        self.next = end;
        self.prune_marks();
        self.history_start = end - self.history.len() as u64;
        if let Some(ack) = self.peer_ack {
            self.trim_history(ack, ctx.limits.retransmission_history_acked, ctx.budget);
        }
        self.stats.delivered_bytes += data.len() as u64;
        ctx.sink.on_stream_event(StreamEvent::Data {
            conn: ctx.conn,
            dir: ctx.dir,
            offset,
            seq: self.space.map_or(0, |s| s.seq_of(offset)),
            data,
            at,
        });
    }

    fn declare_gap<S: StreamSink>(
        &mut self,
        len: u64,
        reason: GapReason,
        at: PacketRef,
        ctx: &mut Ctx<'_, S>,
    ) {
        if len == 0 {
            return;
        }
        let offset = self.next;
        let seq = self.space.map_or(0, |s| s.seq_of(offset));
        self.next += len;
        self.prune_marks();
        self.forget_history(ctx.budget);
        self.stats.gaps += 1;
        self.stats.gap_bytes += len;
        if self.recent_gaps.len() >= RECENT_GAPS {
            self.recent_gaps.pop_front();
        }
        self.recent_gaps.push_back((offset..self.next, ctx.at));
        ctx.sink.on_stream_event(StreamEvent::Gap {
            conn: ctx.conn,
            dir: ctx.dir,
            offset,
            len,
            seq,
            reason,
            at,
        });
    }

    /// Forgets acknowledgment marks that no hole can need any more (at or before `next`).
    fn prune_marks(&mut self) {
        let Some(r) = &mut self.reorder else { return };
        while r.ack_marks.front().is_some_and(|m| m.offset <= self.next) {
            r.ack_marks.pop_front();
        }
        if r.ack_marks.is_empty() && r.pending_first.is_none() {
            self.reorder = None;
        }
    }

    fn anomaly<S: StreamSink>(&mut self, anomaly: Anomaly, ctx: &mut Ctx<'_, S>) {
        ctx.sink.on_stream_event(StreamEvent::Anomaly {
            conn: ctx.conn,
            dir: ctx.dir,
            anomaly,
            at: ctx.at,
        });
    }
}

/// A range of a segment: captured bytes followed by `missing` uncaptured ones.
#[derive(Clone, Copy, Debug)]
struct Piece<'a> {
    start: u64,
    data: &'a [u8],
    missing: u64,
}

impl<'a> Piece<'a> {
    fn len(&self) -> u64 {
        self.data.len() as u64 + self.missing
    }

    fn end(&self) -> u64 {
        self.start + self.len()
    }

    /// Drops the first `n` bytes (saturating).
    fn skip(self, n: u64) -> Piece<'a> {
        let n = n.min(self.len());
        let from_data = n.min(self.data.len() as u64) as usize;
        Piece {
            start: self.start + n,
            data: &self.data[from_data..],
            missing: self.missing - (n - from_data as u64),
        }
    }

    /// Keeps the first `n` bytes (saturating).
    fn truncate(self, n: u64) -> Piece<'a> {
        let n = n.min(self.len());
        let keep = n.min(self.data.len() as u64) as usize;
        Piece { start: self.start, data: &self.data[..keep], missing: n - keep as u64 }
    }
}
