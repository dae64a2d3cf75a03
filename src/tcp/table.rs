//! The connection table: segments in, per-direction stream events out.
//!
//! Connections are created on a SYN or on the first segment of an unknown 4-tuple (mid-stream
//! pickup), closed on FIN in both directions or RST, and removed after an idle timeout, when the
//! connection limit forces an eviction, or at the end of the capture. All timing uses packet
//! time, and every sweep handles connections in id order, so a replay always yields the same
//! events in the same order. A sweep touches only what is due: the 4-tuples whose deadline
//! passed ([`super::timers`]) and the connections with bytes waiting behind a hole.

use super::event::{Anomaly, CloseReason, ConnInfo, DirStats, PacketRef, StreamEvent, StreamSink};
use super::flow::{ConnId, Direction, FlowKey, RoleSource};
use super::stream::{Budget, Ctx, HalfStream, Origin, SegData};
use super::timers::{NEVER, Timers};
use crate::limits::TcpLimits;
use crate::memory::{Charge, Level};
use crate::packet::Segment;
use crate::time::Timestamp;
use foldhash::HashMap;
use serde::Serialize;
use std::time::Duration;

/// How often (in packet time) idle and closed connections are swept, at most: a shorter
/// `--idle-timeout` or `--reorder-window` sweeps twice per timeout or window (see
/// [`SweepClock::for_limits`]).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The shortest sweep interval (a timeout of a few microseconds would sweep at every packet
/// anyway).
const MIN_SWEEP_INTERVAL: Duration = Duration::from_micros(100);

/// How many idle timeouts a connection still searched for frames (no handshake captured)
/// may stay quiet before it too is closed: cut at each quiet spell, a session picked up
/// mid-stream whose messages come further apart than the timeout was never found, and kept
/// for ever, connections that are not WebSocket held their search buffers past the timeout
/// meant to free them.
const SEARCH_IDLE: u32 = 8;

/// Segments between two evictions for the memory budget.
const EVICTION_SPACING: u32 = 64;

/// Counters of the table.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct TableStats {
    /// Connections opened.
    pub connections: u64,
    /// Most connections tracked at once: open ones and closed ones still remembered (for 30 s
    /// of packet time, so that late segments are not taken for new connections).
    pub max_concurrent: u64,
    /// Most connections open at once (opened and not yet closed, evicted or timed out).
    pub max_open: u64,
    /// Connections closed by FIN in both directions.
    pub closed_fin: u64,
    /// Connections closed by RST.
    pub closed_rst: u64,
    /// Connections closed by the idle timeout.
    pub closed_idle: u64,
    /// Connections evicted by the connection limit.
    pub evicted: u64,
    /// Connections evicted to stay under the memory budget (`--memory-budget`).
    pub evicted_for_memory: u64,
    /// Connections replaced by a new SYN on the same 4-tuple while open.
    pub reused: u64,
    /// Connections still open at the end of the capture.
    pub open_at_end: u64,
    /// Times the connection limit was hit.
    pub connection_limit_hits: u64,
    /// Segments for a connection after it closed (late retransmissions, final ACKs).
    pub segments_after_close: u64,
    /// RSTs ignored because their sequence number was outside the receiver's window (the
    /// receiver drops them; forged ones look like this).
    pub ignored_rsts: u64,
    /// SYNs with a new initial sequence number on an open connection that started no new
    /// connection: the old one went on, another such SYN followed, or it ended first (each
    /// distinct SYN once; its retransmissions not).
    pub ignored_syns: u64,
    /// Segments whose bytes were not kept for the retransmission check because all
    /// connections together held `--max-history-total` (with `--threads`, each worker its
    /// share of it): a retransmission of them that differs is not caught (it counts as
    /// unverified).
    pub history_not_kept: u64,
}

impl TableStats {
    /// Counts a connection closed by a flush (idle, evicted, end of capture) as what it was.
    fn count_close(&mut self, reason: CloseReason) {
        match reason {
            CloseReason::Fin => self.closed_fin += 1,
            CloseReason::Idle => self.closed_idle += 1,
            CloseReason::Evicted => self.evicted += 1,
            CloseReason::MemoryBudget => self.evicted_for_memory += 1,
            CloseReason::EndOfCapture => self.open_at_end += 1,
            CloseReason::Rst => self.closed_rst += 1,
            CloseReason::Reused => self.reused += 1,
        }
    }
}

/// A tracked 4-tuple and the deadline it is queued under in the table's [`Timers`] ([`NEVER`]
/// when not queued).
#[derive(Debug)]
struct Tracked {
    slot: Slot,
    timer: Timestamp,
}

/// A tracked 4-tuple: an open connection, or one that closed at the given time and lingers (so
/// that late segments are not taken for a new connection) as a few bytes.
#[derive(Debug)]
enum Slot {
    Open(Box<Conn>),
    Closed(Timestamp),
    /// Closed at this time after `--idle-timeout` of silence; `true` when the client was the
    /// key's lower endpoint. A later segment without SYN starts a [`RoleSource::Resumed`]
    /// connection with the same roles and the sink's [`StreamSink::resume_mark`].
    Idle(Timestamp, Stopped),
    /// Evicted at this time to stay under the memory budget, remembered as in `Idle`; a later
    /// segment without SYN resumes it the same way. Kept for `closed_linger` from the
    /// eviction, like a closed connection.
    Evicted(Timestamp, Stopped),
}

/// What the table remembers of a connection it stopped following, to resume it.
#[derive(Clone, Copy, Debug)]
struct Stopped {
    /// The client was the key's lower endpoint.
    client_lower: bool,
    /// What the sink asked to be handed back ([`StreamSink::resume_mark`]).
    mark: u8,
}

#[derive(Debug)]
struct Conn {
    info: ConnInfo,
    halves: [HalfStream; 2],
    /// Segments seen (both directions).
    segments: u64,
    /// The connection's last packet.
    last: PacketRef,
    closed_at: Option<Timestamp>,
    /// Per sending direction: `None` until its SYN is seen, then the window scale it offered.
    syn: [Option<Option<u8>>; 2],
    /// A client SYN with a new initial sequence number, held until the server answers it or
    /// the client follows it (the 4-tuple was then reused) — or the old connection goes on.
    held_syn: Option<Box<HeldSyn>>,
    /// Listed in the table's connections with bytes behind a hole (`Table::holes`).
    hole_listed: bool,
    /// The deadline of its entry in `Table::holes.due` (the earliest of its entries there);
    /// [`NEVER`] when it has none.
    hole_due: Timestamp,
}

/// A connection whose first hole's reorder window ends at `at` (`Table::due`), ordered by that
/// time, then by connection.
#[derive(Debug)]
struct Due {
    at: Timestamp,
    id: ConnId,
    key: FlowKey,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.id.0) == (other.at, other.id.0)
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.id.0).cmp(&(other.at, other.id.0))
    }
}

impl Conn {
    /// When a sweep can next settle one of its holes ([`HalfStream::hole_deadline`]).
    fn hole_deadline(&self, window: Duration) -> Option<Timestamp> {
        self.halves.iter().filter_map(|h| h.hole_deadline(window)).min()
    }
}

#[derive(Debug)]
struct HeldSyn {
    seq: u32,
    at: PacketRef,
    /// Whether traffic of the old connection went on after it (reported once).
    reported: bool,
}

impl Conn {
    /// The shift that scales windows advertised by `sender` (RFC 7323 §2.2: only when both
    /// SYNs carried the option). With a SYN not captured, the largest possible shift (so the
    /// window checked against is never smaller than the real one).
    fn window_shift(&self, sender: Direction) -> u8 {
        match self.syn {
            [Some(Some(_)), Some(Some(_))] => self.syn[sender.index()].flatten().unwrap_or(0),
            [Some(_), Some(_)] => 0,
            _ => 14,
        }
    }
}

/// What a segment means for an open connection's 4-tuple.
enum Reuse {
    /// It belongs to the open connection.
    No,
    /// A client SYN with a new initial sequence number: held, not yet followed.
    Held,
    /// The server answered a held SYN, or the client sent after it: a new connection, whose
    /// SYN was captured at the given packet.
    Confirmed(PacketRef),
}

/// Decides whether a segment for an open connection starts a new one on the same 4-tuple.
/// A SYN alone does not end an open connection (the server answers it with an ACK and keeps
/// the connection, RFC 5961 §4): the connection is taken as reused only once the server
/// accepts the SYN (a SYN-ACK acknowledging it) or the client sends after it.
/// Each SYN held (its retransmissions aside) counts as ignored until one is confirmed.
fn reuse_of(conn: &mut Conn, seg: &Segment<'_>, at: PacketRef, stats: &mut TableStats) -> Reuse {
    let from_client = seg.src == conn.info.client;
    if seg.flags.syn && !seg.flags.ack && from_client && is_new_isn(conn, seg) {
        match &conn.held_syn {
            Some(h) if h.seq == seg.seq => {}
            _ => {
                stats.ignored_syns += 1;
                conn.held_syn = Some(Box::new(HeldSyn { seq: seg.seq, at, reported: false }));
            }
        }
        return Reuse::Held;
    }
    let Some(held) = &conn.held_syn else { return Reuse::No };
    let answered =
        !from_client && seg.flags.syn && seg.flags.ack && seg.ack == held.seq.wrapping_add(1);
    let followed =
        from_client && !seg.flags.syn && seg.flags.ack && seg.seq == held.seq.wrapping_add(1);
    if answered || followed { Reuse::Confirmed(held.at) } else { Reuse::No }
}

impl Slot {
    fn open(&self) -> Option<&Conn> {
        match self {
            Slot::Open(c) => Some(c),
            Slot::Closed(_) | Slot::Idle(..) | Slot::Evicted(..) => None,
        }
    }

    fn into_open(self) -> Option<Box<Conn>> {
        match self {
            Slot::Open(c) => Some(c),
            Slot::Closed(_) | Slot::Idle(..) | Slot::Evicted(..) => None,
        }
    }

    /// When a sweep must look at this 4-tuple: an open connection when it has been quiet for
    /// longer than the idle timeout, a closed one when its linger time is over (an idle-closed
    /// one lingers at least as long as the idle timeout: a quiet WebSocket that resumes is
    /// known). Due at a sweep strictly after it.
    fn deadline(&self, limits: &TcpLimits) -> Timestamp {
        match self {
            Slot::Open(c) => c.last.ts.saturating_add(limits.idle_timeout),
            Slot::Closed(t) | Slot::Evicted(t, _) => t.saturating_add(limits.closed_linger),
            Slot::Idle(t, _) => t.saturating_add(limits.closed_linger.max(limits.idle_timeout)),
        }
    }
}

impl Tracked {
    fn open(&self) -> Option<&Conn> {
        self.slot.open()
    }

    fn into_open(self) -> Option<Box<Conn>> {
        self.slot.into_open()
    }

    /// When the slot's deadline came earlier than the one it is queued for (a close, or a
    /// packet stamped before the last one), moves the timer there and returns it, to queue.
    fn earlier_deadline(&mut self, limits: &TcpLimits) -> Option<Timestamp> {
        let due = self.slot.deadline(limits);
        (due < self.timer).then(|| {
            self.timer = due;
            due
        })
    }
}

/// Queues `key` again for `due` (earlier than it was queued for), rebuilding a bloated queue.
fn requeue(timers: &mut Timers, conns: &HashMap<FlowKey, Tracked>, due: Timestamp, key: FlowKey) {
    timers.push(due, key);
    if timers.bloated(conns.len()) {
        timers.rebuild(conns.iter().map(|(k, t)| (t.timer, *k)));
    }
}

/// Entries allowed in `Table::holes` beyond twice the tracked 4-tuples before stale ones are
/// dropped.
const HOLES_SLACK: usize = 4096;

/// Lists `conn` (at `key`) among the connections with bytes behind a hole, once, and queues it
/// for the sweep after its reorder window ends when that is earlier than it was queued for.
#[inline]
fn list_holes(conn: &mut Conn, key: FlowKey, holes: &mut Holes, window: Duration) {
    // The common case, for every segment: nothing waits behind a hole.
    if !conn.halves.iter().any(HalfStream::has_pending) {
        return;
    }
    if !conn.hole_listed {
        conn.hole_listed = true;
        holes.all.push((conn.info.id, key));
    }
    if let Some(at) = conn.hole_deadline(window)
        && at < conn.hole_due
    {
        conn.hole_due = at;
        holes.due.push(std::cmp::Reverse(Due { at, id: conn.info.id, key }));
    }
}

/// The open connections with bytes waiting behind a hole.
#[derive(Debug, Default)]
struct Holes {
    /// Each of them, listed once (stale entries skipped): walked by a sweep only while the
    /// buffered bytes of all connections are over `--max-buffered-total`, when every one of
    /// them may have to give its bytes up.
    all: Vec<(ConnId, FlowKey)>,
    /// Those whose hole a sweep can settle (its reorder window runs), by the time it ends:
    /// a sweep looks at the ones due, not at every connection waiting for bytes its peer never
    /// acknowledged (helper-53: 20,000 such connections and 20,000 sweeps took 77 s).
    due: std::collections::BinaryHeap<std::cmp::Reverse<Due>>,
}

/// Queues `key`, whose entry (in `conns`) has just stopped being an open connection, for
/// [`Table::make_room`]. Past twice the table (and 1,024), stale and repeated keys are dropped
/// (one 4-tuple reused a million times is one entry), so the queue stays within the table's size.
fn note_lingering(
    lingering: &mut std::collections::VecDeque<FlowKey>,
    conns: &HashMap<FlowKey, Tracked>,
    key: FlowKey,
) {
    lingering.push_back(key);
    if lingering.len() > 2 * conns.len() + 1024 {
        let mut seen = std::collections::HashSet::new();
        lingering
            .retain(|k| conns.get(k).is_some_and(|t| t.slot.open().is_none()) && seen.insert(*k));
    }
}

/// When packet time has passed far enough for the table to sweep: once a second of packet time
/// ([`SWEEP_INTERVAL`]), counted from the first packet. A sharded run's reader keeps one, fed
/// every packet, to tell every worker's table when to sweep as one table would.
#[derive(Clone, Copy, Debug)]
pub struct SweepClock {
    next: Option<Timestamp>,
    interval: Duration,
    /// Packets since the clock fell behind the next sweep by more than two intervals.
    behind: u32,
}

/// Packets dated more than two sweep intervals before the next sweep (a packet dated in the
/// future set it, or the clock stepped back) after which the clock starts again from packet
/// time: one stray timestamp does not stop sweeping for the rest of the capture (helper-51:
/// one SYN dated ten years ahead left every later idle connection in the table), and a clock
/// that jumps back and forth sweeps at most once per this many packets.
const BEHIND_PACKETS: u32 = 1024;

impl Default for SweepClock {
    fn default() -> Self {
        SweepClock { next: None, interval: SWEEP_INTERVAL, behind: 0 }
    }
}

impl SweepClock {
    /// A clock for a table with these limits: once a second, or twice per idle timeout or
    /// reorder window when one is shorter than two seconds (a 100 ms timeout closes
    /// connections quiet for 100 to 150 ms, not up to 1.1 s).
    pub fn for_limits(limits: &TcpLimits) -> Self {
        let interval = [SWEEP_INTERVAL, limits.idle_timeout / 2, limits.reorder_window / 2]
            .into_iter()
            .min()
            .unwrap_or(SWEEP_INTERVAL)
            .max(MIN_SWEEP_INTERVAL);
        SweepClock { next: None, interval, behind: 0 }
    }

    /// Whether packet time `now` is due for a sweep (then the next one is a second later).
    /// [`BEHIND_PACKETS`] packets in a row dated well before the next sweep are due too.
    pub fn due(&mut self, now: Timestamp) -> bool {
        match self.next {
            None => {
                self.next = Some(now.saturating_add(self.interval));
                false
            }
            Some(t) if now < t => {
                if t.saturating_since(now) <= self.interval.saturating_mul(2) {
                    self.behind = 0;
                    return false;
                }
                self.behind += 1;
                if self.behind < BEHIND_PACKETS {
                    return false;
                }
                self.behind = 0;
                self.next = Some(now.saturating_add(self.interval));
                true
            }
            Some(_) => {
                self.behind = 0;
                self.next = Some(now.saturating_add(self.interval));
                true
            }
        }
    }
}

/// TCP connections being tracked.
#[derive(Debug)]
pub struct Table {
    conns: HashMap<FlowKey, Tracked>,
    /// When each tracked 4-tuple is due for a sweep.
    timers: Timers,
    /// Open connections with bytes waiting behind a hole, for the sweeps.
    holes: Holes,
    /// 4-tuples whose entry stopped being an open connection (closed, idle, evicted), oldest
    /// first; some since reused or forgotten. At `--max-connections` the oldest is freed
    /// without walking the table (helper-51: with the table full of open connections, each new
    /// one walked all of them to free the one that had just closed).
    lingering: std::collections::VecDeque<FlowKey>,
    limits: TcpLimits,
    next_id: u64,
    budget: Budget,
    clock: SweepClock,
    /// Sweeps are decided outside ([`Table::sweep_on_command`]).
    external_clock: bool,
    /// `conns.len()` and [`Table::open_now`] after the last insert (sharded runs only).
    inserted: Option<(usize, u64)>,
    last: PacketRef,
    stats: TableStats,
    /// What the table holds, charged to the memory budget.
    charge: Charge,
    /// Segments handled since connections were last evicted to save memory.
    since_eviction: u32,
    /// Entries sweeps looked at (tests: a sweep must not walk the table).
    #[cfg(test)]
    looked_at: u64,
}

impl Table {
    /// An empty table with the given limits.
    pub fn new(limits: TcpLimits) -> Self {
        let charge = Charge::new(&limits.memory);
        Table {
            conns: HashMap::default(),
            timers: Timers::default(),
            holes: Holes::default(),
            lingering: std::collections::VecDeque::new(),
            clock: SweepClock::for_limits(&limits),
            limits,
            next_id: 1,
            budget: Budget::default(),
            external_clock: false,
            inserted: None,
            last: PacketRef::default(),
            stats: TableStats::default(),
            charge,
            since_eviction: u32::MAX,
            #[cfg(test)]
            looked_at: 0,
        }
    }

    /// Entries sweeps looked at so far.
    #[cfg(test)]
    pub fn looked_at(&self) -> u64 {
        self.looked_at
    }

    /// Entries of the longer of the two lists of connections with bytes behind a hole, stale
    /// ones included.
    #[cfg(test)]
    pub fn holes_listed(&self) -> usize {
        self.holes.all.len().max(self.holes.due.len())
    }

    /// Entries of the queue of lingering 4-tuples, stale and repeated ones included.
    #[cfg(test)]
    pub fn lingering_listed(&self) -> usize {
        self.lingering.len()
    }

    /// Connections open now (counted from the table's counters: every connection opened and
    /// not yet counted as closed); closed ones the table still remembers are not counted.
    pub fn open_now(&self) -> u64 {
        let s = &self.stats;
        s.connections
            - s.closed_fin
            - s.closed_rst
            - s.closed_idle
            - s.evicted
            - s.evicted_for_memory
            - s.reused
            - s.open_at_end
    }

    /// Charges what the table holds to the memory budget: its hash table, the open
    /// connections' state, out-of-order bytes and retransmission history (whole blocks).
    fn account(&mut self) {
        let held = self.conns.capacity() * (size_of::<FlowKey>() + size_of::<Tracked>())
            + self.timers.bytes()
            + self.holes.all.capacity() * size_of::<(ConnId, FlowKey)>()
            + self.holes.due.capacity() * size_of::<Due>()
            + self.lingering.capacity() * size_of::<FlowKey>()
            + self.open_now() as usize * size_of::<Conn>()
            + self.budget.buffered
            + self.budget.pool.bytes();
        self.charge.set(held);
    }

    /// Under memory pressure, evicts the least recently active eighth of the open connections
    /// (at most once every [`EVICTION_SPACING`] segments, so that other threads can free what
    /// the evicted connections held before more are chosen).
    fn save_memory<S: StreamSink>(&mut self, sink: &mut S) {
        self.since_eviction = self.since_eviction.saturating_add(1);
        if self.since_eviction < EVICTION_SPACING || self.limits.memory.level() < Level::Evict {
            return;
        }
        self.since_eviction = 0;
        self.evict_eighth(CloseReason::MemoryBudget, sink);
        self.account();
        crate::memory::release();
    }

    /// Counters so far.
    pub fn stats(&self) -> TableStats {
        TableStats { history_not_kept: self.budget.history_not_kept, ..self.stats }
    }

    /// Connections currently tracked (open or lingering after close).
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// True when no connection is tracked.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Out-of-order bytes buffered by all connections.
    pub fn buffered_bytes(&self) -> usize {
        self.budget.buffered
    }

    /// The input the segments' `file_offset`s point into: the retransmission history keeps
    /// those offsets instead of copies of the bytes, and reads them back there (`history.rs`).
    pub fn set_input_file(&mut self, file: Option<std::sync::Arc<dyn super::ReadBack>>) {
        self.budget.pool.set_file(file);
    }

    /// Delivered bytes held by all connections for retransmission checks.
    pub fn history_bytes(&self) -> usize {
        self.budget.history
    }

    /// Handles one TCP segment captured at `at`.
    pub fn on_segment<S: StreamSink>(&mut self, seg: &Segment<'_>, at: PacketRef, sink: &mut S) {
        self.on_segment_inner(seg, at, sink);
        // Entries of connections gone since they were listed are dropped by the next sweep;
        // while packet time stands still (or goes back) no sweep comes, and they piled up.
        let bound = self.conns.len().saturating_mul(2).saturating_add(HOLES_SLACK);
        let conns = &self.conns;
        if self.holes.all.len() > bound {
            self.holes.all.retain(|(id, key)| {
                matches!(conns.get(key), Some(Tracked { slot: Slot::Open(c), .. }) if c.info.id == *id)
            });
            self.holes.all.shrink_to(self.holes.all.len().saturating_mul(2));
        }
        // Entries of connections gone, or queued again for an earlier time, wait for their
        // time to come; a long reorder window and many connections would pile them up.
        if self.holes.due.len() > bound {
            self.holes.due.retain(|std::cmp::Reverse(d)| {
                matches!(conns.get(&d.key), Some(Tracked { slot: Slot::Open(c), .. })
                    if c.info.id == d.id && c.hole_due == d.at)
            });
            self.holes.due.shrink_to(self.holes.due.len().saturating_mul(2));
        }
        self.account();
        self.save_memory(sink);
    }

    fn on_segment_inner<S: StreamSink>(&mut self, seg: &Segment<'_>, at: PacketRef, sink: &mut S) {
        self.last = at;
        if !self.external_clock {
            self.advance_time(at.ts, sink);
        }
        let key = FlowKey::new(seg.src, seg.dst);
        let syn_only = seg.flags.syn && !seg.flags.ack;
        let mut reused_syn = None;
        let mut resumed = None;
        // The common case costs one lookup: a segment of an open connection.
        if let Some(tracked) = self.conns.get_mut(&key) {
            match &mut tracked.slot {
                Slot::Open(conn) => match reuse_of(conn, seg, at, &mut self.stats) {
                    Reuse::No => {
                        on_conn_segment(
                            conn,
                            seg,
                            at,
                            &self.limits,
                            &mut self.budget,
                            &mut self.stats,
                            sink,
                        );
                        let closed = conn.closed_at;
                        match closed {
                            Some(t) => tracked.slot = Slot::Closed(t),
                            None => {
                                list_holes(conn, key, &mut self.holes, self.limits.reorder_window)
                            }
                        }
                        // Its linger may end before the idle deadline it was queued for, and a
                        // packet stamped earlier than the last (merged captures) brings the
                        // idle deadline forward.
                        if let Some(due) = tracked.earlier_deadline(&self.limits) {
                            requeue(&mut self.timers, &self.conns, due, key);
                        }
                        if closed.is_some() {
                            note_lingering(&mut self.lingering, &self.conns, key);
                        }
                        return;
                    }
                    Reuse::Held => {
                        conn.last = at;
                        if let Some(due) = tracked.earlier_deadline(&self.limits) {
                            requeue(&mut self.timers, &self.conns, due, key);
                        }
                        return;
                    }
                    Reuse::Confirmed(syn_at) => {
                        // The SYN started a new connection: not ignored after all.
                        self.stats.ignored_syns -= 1;
                        self.stats.reused += 1;
                        close(conn, CloseReason::Reused, at, &self.limits, &mut self.budget, sink);
                        reused_syn = Some((conn.info.client, conn.info.server, syn_at));
                    }
                },
                Slot::Closed(_) if !syn_only => {
                    self.stats.segments_after_close += 1;
                    return;
                }
                Slot::Closed(_) => {}
                // A bare acknowledgment (or window update, or keep-alive) carries nothing to
                // follow: the connection is picked up again by its next bytes, and remembered as
                // long from now. Before, each one opened a part of its own that only closed
                // again ("6 connections no longer followed" for 3).
                Slot::Idle(t, _) | Slot::Evicted(t, _)
                    if seg.payload.is_empty()
                        && seg.missing == 0
                        && !seg.flags.syn
                        && !seg.flags.fin
                        && !seg.flags.rst =>
                {
                    *t = (*t).max(at.ts);
                    return;
                }
                Slot::Idle(_, stopped) | Slot::Evicted(_, stopped) if !syn_only => {
                    resumed = Some(*stopped);
                }
                Slot::Idle(..) | Slot::Evicted(..) => {}
            }
            self.conns.remove(&key);
        }
        self.make_room(sink);
        let info = match reused_syn {
            // The new connection started with the SYN held until now.
            Some((client, server, syn_at)) => {
                let id = ConnId(self.next_id);
                self.next_id += 1;
                ConnInfo {
                    id,
                    client,
                    server,
                    role: RoleSource::Syn,
                    first: syn_at,
                    resume_mark: 0,
                }
            }
            None => {
                let mut info = self.new_conn_info(seg, at);
                if let Some(Stopped { client_lower, mark }) = resumed {
                    let (lower, higher) =
                        if seg.src < seg.dst { (seg.src, seg.dst) } else { (seg.dst, seg.src) };
                    (info.client, info.server) =
                        if client_lower { (lower, higher) } else { (higher, lower) };
                    info.role = RoleSource::Resumed;
                    info.resume_mark = mark;
                }
                info
            }
        };
        sink.on_stream_event(StreamEvent::Open(&info));
        self.stats.connections += 1;
        let mut conn = Box::new(Conn {
            info,
            halves: Default::default(),
            segments: 0,
            last: at,
            closed_at: None,
            syn: [None, None],
            held_syn: None,
            hole_listed: false,
            hole_due: NEVER,
        });
        on_conn_segment(&mut conn, seg, at, &self.limits, &mut self.budget, &mut self.stats, sink);
        let slot = match conn.closed_at {
            Some(t) => Slot::Closed(t),
            None => {
                list_holes(&mut conn, key, &mut self.holes, self.limits.reorder_window);
                Slot::Open(conn)
            }
        };
        self.track(key, slot);
        self.stats.max_concurrent = self.stats.max_concurrent.max(self.conns.len() as u64);
        self.stats.max_open = self.stats.max_open.max(self.open_now());
        if self.external_clock {
            self.inserted = Some((self.conns.len(), self.open_now()));
        }
    }

    /// Lets packet time pass: closes idle connections and forgets closed ones whose linger time
    /// is over. Called for every segment; live captures also call it when no packet comes.
    pub fn advance_time<S: StreamSink>(&mut self, now: Timestamp, sink: &mut S) {
        if !self.clock.due(now) {
            return;
        }
        let at = PacketRef::new(now, self.last.packet);
        self.sweep_idle(at, sink);
        self.sweep_holes(at, sink);
        sink.on_sweep(at);
    }

    /// The table's sweeps are decided by its owner (a worker of a sharded run, whose reader
    /// sees every packet's time): segments no longer let time pass; [`Table::sweep_idle`] and
    /// [`Table::sweep_holes`] are called when a [`SweepClock`] fed every packet says so.
    pub fn sweep_on_command(&mut self) {
        self.external_clock = true;
    }

    /// How many connections the table held, and how many were open, right after its last new
    /// connection, once (for a sharded run's `max_concurrent` and `max_open`; the same segment
    /// may go on to evict connections for the memory budget).
    pub fn take_inserted(&mut self) -> Option<(usize, u64)> {
        self.inserted.take()
    }

    /// Starts tracking `key` as `slot`, queued for its deadline.
    fn track(&mut self, key: FlowKey, slot: Slot) {
        let timer = slot.deadline(&self.limits);
        let lingers = slot.open().is_none();
        self.conns.insert(key, Tracked { slot, timer });
        if lingers {
            note_lingering(&mut self.lingering, &self.conns, key);
        }
        self.timers.push(timer, key);
        if self.timers.bloated(self.conns.len()) {
            self.timers.rebuild(self.conns.iter().map(|(k, t)| (t.timer, *k)));
        }
    }

    /// First half of a sweep at `at`: forgets closed connections whose linger time is over and
    /// closes idle ones, in id order. Only the 4-tuples whose deadline passed are looked at.
    pub fn sweep_idle<S: StreamSink>(&mut self, at: PacketRef, sink: &mut S) {
        let now = at.ts;
        let idle = self.limits.idle_timeout;
        let mut victims: Vec<(ConnId, FlowKey)> = Vec::new();
        while let Some((due, key)) = self.timers.pop_before(now) {
            #[cfg(test)]
            {
                self.looked_at += 1;
            }
            let Some(tracked) = self.conns.get_mut(&key) else { continue };
            if tracked.timer != due {
                continue; // queued again since, or a former connection's entry
            }
            let deadline = tracked.slot.deadline(&self.limits);
            if deadline >= now {
                // Active since it was queued: queued again for its new deadline.
                tracked.timer = deadline;
                self.timers.push(deadline, key);
                continue;
            }
            match &tracked.slot {
                Slot::Open(c) => {
                    // A connection still searched for frames gets longer (see `SEARCH_IDLE`);
                    // whether it still is can change at any packet, so it is looked at again
                    // at the next sweep.
                    let quiet = now.saturating_since(c.last.ts);
                    if quiet <= idle.saturating_mul(SEARCH_IDLE) && sink.keeps_searching(c.info.id)
                    {
                        tracked.timer = now;
                        self.timers.push(now, key);
                    } else {
                        tracked.timer = NEVER;
                        victims.push((c.info.id, key));
                    }
                }
                Slot::Closed(_) | Slot::Idle(..) | Slot::Evicted(..) => {
                    self.conns.remove(&key);
                }
            }
        }
        victims.sort_unstable_by_key(|v| v.0);
        for (_, key) in victims {
            if let Some(mut c) = self.conns.remove(&key).and_then(Tracked::into_open) {
                // It ended with its last packet, not with the one that let the time pass.
                let last = c.last;
                let client_lower = c.info.client < c.info.server;
                let r =
                    close(&mut c, CloseReason::Idle, last, &self.limits, &mut self.budget, sink);
                self.stats.count_close(r);
                // Asked right after its `Close`, what to hand back if it resumes.
                let stopped = Stopped { client_lower, mark: sink.resume_mark(c.info.id) };
                // Remembered from now (not from its last packet, which is older than the
                // idle timeout).
                self.track(key, Slot::Idle(now, stopped));
            }
        }
    }

    /// Second half of a sweep at `at`: holes whose reorder window closed while their connection
    /// was quiet, in id order. Only the connections whose window ended are looked at, unless the
    /// bytes buffered by all connections are over `--max-buffered-total`: then every connection
    /// with bytes behind a hole is, and gives them up in id order until they are under it (the
    /// others, ticked as well, have nothing to do: their window runs and a sweep changes nothing
    /// else they depend on).
    pub fn sweep_holes<S: StreamSink>(&mut self, at: PacketRef, sink: &mut S) {
        let mut batch = Vec::new();
        let walk_all = self.budget.buffered > self.limits.max_buffered_total;
        if walk_all {
            batch = std::mem::take(&mut self.holes.all);
        }
        // Due: the window ended strictly before now (as `reorder_window_passed` measures it).
        while let Some(std::cmp::Reverse(d)) = self.holes.due.peek()
            && d.at < at.ts
        {
            if let Some(std::cmp::Reverse(d)) = self.holes.due.pop()
                && !walk_all
            {
                batch.push((d.id, d.key));
            }
        }
        batch.sort_unstable_by_key(|v| v.0);
        batch.dedup_by_key(|v| v.0);
        for &(id, key) in &batch {
            #[cfg(test)]
            {
                self.looked_at += 1;
            }
            let Some(Tracked { slot: Slot::Open(c), .. }) = self.conns.get_mut(&key) else {
                continue;
            };
            if c.info.id != id {
                continue; // a later connection on the same 4-tuple lists itself
            }
            if walk_all {
                c.hole_listed = false;
            }
            c.hole_due = NEVER;
            if !c.halves.iter().any(HalfStream::has_pending) {
                continue;
            }
            for dir in Direction::BOTH {
                let mut ctx = Ctx {
                    conn: c.info.id,
                    dir,
                    at,
                    origin: None,
                    conn_segments: c.segments,
                    sink: &mut *sink,
                    limits: &self.limits,
                    budget: &mut self.budget,
                };
                c.halves[dir.index()].tick(&mut ctx);
            }
            if c.halves.iter().all(HalfStream::fin_delivered) {
                self.stats.closed_fin += 1;
                close(c, CloseReason::Fin, at, &self.limits, &mut self.budget, sink);
                if let Some(t) = c.closed_at {
                    self.track(key, Slot::Closed(t));
                }
            } else {
                list_holes(c, key, &mut self.holes, self.limits.reorder_window);
            }
        }
        // The list's buffer is kept for the next walk when nothing was listed meanwhile.
        if walk_all && self.holes.all.is_empty() {
            batch.clear();
            self.holes.all = batch;
        }
    }

    /// [`Table::finish`] as if the last packet of the capture were `at` (a sharded run: the
    /// last packet may have gone to another worker).
    pub fn finish_at<S: StreamSink>(&mut self, at: PacketRef, sink: &mut S) {
        self.last = at;
        self.finish(sink);
    }

    /// The capture ended: every open connection is flushed and closed, in id order.
    pub fn finish<S: StreamSink>(&mut self, sink: &mut S) {
        let at = self.last;
        let mut open: Vec<(ConnId, FlowKey)> =
            self.conns.iter().filter_map(|(k, s)| Some((s.open()?.info.id, *k))).collect();
        open.sort_unstable_by_key(|v| v.0);
        for (_, key) in open {
            if let Some(mut c) = self.conns.remove(&key).and_then(Tracked::into_open) {
                let r = close(
                    &mut c,
                    CloseReason::EndOfCapture,
                    at,
                    &self.limits,
                    &mut self.budget,
                    sink,
                );
                self.stats.count_close(r);
            }
        }
        self.conns.clear();
        self.timers.clear();
        self.holes = Holes::default();
        self.account();
    }

    /// Makes room for one more connection when the table is full.
    fn make_room<S: StreamSink>(&mut self, sink: &mut S) {
        if self.conns.len() < self.limits.max_connections {
            return;
        }
        self.stats.connection_limit_hits += 1;
        // The entry that stopped being an open connection longest ago: one freed makes room.
        while let Some(key) = self.lingering.pop_front() {
            if self.conns.get(&key).is_some_and(|t| t.slot.open().is_none()) {
                self.conns.remove(&key);
                return;
            }
        }
        self.evict_eighth(CloseReason::Evicted, sink);
    }

    /// Evicts the least recently active eighth of the open connections (at least one), oldest
    /// first, closing each with `reason`.
    fn evict_eighth<S: StreamSink>(&mut self, reason: CloseReason, sink: &mut S) {
        let mut open: Vec<(Timestamp, ConnId, FlowKey)> = self
            .conns
            .iter()
            .filter_map(|(k, s)| Some((k, s.open()?)))
            .map(|(k, c)| (c.last.ts, c.info.id, *k))
            .collect();
        let n = (open.len() / 8).max(1);
        if n < open.len() {
            open.select_nth_unstable_by_key(n, |v| (v.0, v.1));
            open.truncate(n);
        }
        open.sort_unstable_by_key(|v| (v.0, v.1));
        for (_, _, key) in open {
            if let Some(mut c) = self.conns.remove(&key).and_then(Tracked::into_open) {
                let last = c.last;
                let client_lower = c.info.client < c.info.server;
                let r = close(&mut c, reason, last, &self.limits, &mut self.budget, sink);
                if r == CloseReason::MemoryBudget {
                    self.limits.memory.note_evicted();
                    // If it goes on, it is picked up again with its roles (a 56-byte entry
                    // instead of its state). Connection-limit evictions leave nothing: the
                    // table is full.
                    let stopped = Stopped { client_lower, mark: sink.resume_mark(c.info.id) };
                    self.track(key, Slot::Evicted(self.last.ts, stopped));
                }
                self.stats.count_close(r);
            }
        }
    }

    fn new_conn_info(&mut self, seg: &Segment<'_>, at: PacketRef) -> ConnInfo {
        let id = ConnId(self.next_id);
        self.next_id += 1;
        let (client, server, role) = match (seg.flags.syn, seg.flags.ack) {
            (true, false) => (seg.src, seg.dst, RoleSource::Syn),
            (true, true) => (seg.dst, seg.src, RoleSource::SynAck),
            // No handshake seen: ephemeral ports are usually the higher ones.
            _ if seg.dst.port() > seg.src.port() => (seg.dst, seg.src, RoleSource::Guess),
            _ => (seg.src, seg.dst, RoleSource::Guess),
        };
        ConnInfo { id, client, server, role, first: at, resume_mark: 0 }
    }
}

/// A SYN whose initial sequence number is not the one the client's stream started with.
fn is_new_isn(conn: &Conn, seg: &Segment<'_>) -> bool {
    let client_base = conn.halves[Direction::ClientToServer.index()].base_seq();
    client_base.is_some_and(|b| b != seg.seq.wrapping_add(1))
}

/// Hands a segment of an open connection to its two directions.
fn on_conn_segment<S: StreamSink>(
    conn: &mut Conn,
    seg: &Segment<'_>,
    at: PacketRef,
    limits: &TcpLimits,
    budget: &mut Budget,
    stats: &mut TableStats,
    sink: &mut S,
) {
    conn.last = at;
    conn.segments += 1;
    let segs = conn.segments;
    let dir = if seg.src == conn.info.client {
        Direction::ClientToServer
    } else {
        Direction::ServerToClient
    };
    let id = conn.info.id;
    // Traffic of the connection goes on after a SYN that would have replaced it.
    if let Some(h) = conn.held_syn.as_mut().filter(|h| !h.reported) {
        h.reported = true;
        let anomaly = Anomaly::SynOnOpenConnection { seq: h.seq };
        let syn_at = h.at;
        sink.on_stream_event(StreamEvent::Anomaly {
            conn: id,
            dir: Direction::ClientToServer,
            anomaly,
            at: syn_at,
        });
    }
    if seg.flags.rst {
        let outside = conn.halves[dir.index()].rst_outside(seg.seq);
        if outside > 0 {
            stats.ignored_rsts += 1;
            let anomaly = Anomaly::RstOutOfWindow { seq: seg.seq, outside };
            sink.on_stream_event(StreamEvent::Anomaly { conn: id, dir, anomaly, at });
            return;
        }
        sink.on_stream_event(StreamEvent::Rst { conn: id, dir, at });
        stats.closed_rst += 1;
        close(conn, CloseReason::Rst, at, limits, budget, sink);
        return;
    }
    if seg.flags.syn {
        // RFC 7323 §2.3: a shift count over 14 is taken as 14 (the option may carry any byte).
        conn.syn[dir.index()] = Some(seg.wscale.map(|s| s.min(14)));
    }
    // The window this segment advertises bounds what the other direction may send (a SYN's is
    // never scaled).
    let shift = if seg.flags.syn { 0 } else { conn.window_shift(dir) };
    conn.halves[dir.opposite().index()].note_window(u32::from(seg.window) << shift);
    let [c2s, s2c] = &mut conn.halves;
    let (mine, peer) = match dir {
        Direction::ClientToServer => (c2s, s2c),
        Direction::ServerToClient => (s2c, c2s),
    };
    // What this segment acknowledged of the other direction's stream travels with its bytes.
    let at = PacketRef { ack: seg.flags.ack.then_some(seg.ack), ..at };
    let data = SegData {
        seq: seg.seq,
        syn: seg.flags.syn,
        fin: seg.flags.fin,
        payload: seg.payload,
        missing: seg.missing,
    };
    mine.on_segment(
        data,
        &mut Ctx {
            conn: id,
            dir,
            at,
            origin: Origin::of(seg.payload, seg.file_offset),
            conn_segments: segs,
            sink: &mut *sink,
            limits,
            budget: &mut *budget,
        },
    );
    let mut ctx = Ctx {
        conn: id,
        dir: dir.opposite(),
        at,
        origin: None,
        conn_segments: segs,
        sink: &mut *sink,
        limits,
        budget: &mut *budget,
    };
    if seg.flags.ack {
        peer.on_peer_ack(seg.ack, (seg.flags.syn, mine.began_with_syn()), &mut ctx);
    }
    // A hole of the other direction may have waited out its reorder window (counted in segments
    // of the connection).
    peer.tick(&mut ctx);
    if conn.halves.iter().all(HalfStream::fin_delivered) {
        stats.closed_fin += 1;
        close(conn, CloseReason::Fin, at, limits, budget, sink);
    }
}

/// Flushes both directions and reports the close. The connection stays in the table (lingering)
/// unless the caller removed it.
fn close<S: StreamSink>(
    conn: &mut Conn,
    reason: CloseReason,
    at: PacketRef,
    limits: &TcpLimits,
    budget: &mut Budget,
    sink: &mut S,
) -> CloseReason {
    if conn.closed_at.is_some() {
        return reason;
    }
    for dir in Direction::BOTH {
        let mut ctx = Ctx {
            conn: conn.info.id,
            dir,
            at,
            origin: None,
            conn_segments: conn.segments,
            sink: &mut *sink,
            limits,
            budget: &mut *budget,
        };
        conn.halves[dir.index()].flush(&mut ctx);
    }
    conn.closed_at = Some(at.ts);
    // Both FINs were captured, one or both waiting behind a hole the flush declared: the
    // connection did end with FINs, whatever ended its wait, and it ended with its last packet
    // (not when the capture ended, seconds later).
    let fins = conn.halves.iter().all(HalfStream::fin_delivered);
    let reason = match reason {
        CloseReason::Idle
        | CloseReason::Evicted
        | CloseReason::MemoryBudget
        | CloseReason::EndOfCapture
            if fins =>
        {
            CloseReason::Fin
        }
        r => r,
    };
    // Ended by its FINs, it ended with its last packet, whatever let them through (a flush at
    // the end of the capture, or a sweep after the reorder window).
    let at =
        if reason == CloseReason::Fin && fins && conn.last.ts < at.ts { conn.last } else { at };
    let stats: [DirStats; 2] = [conn.halves[0].stats, conn.halves[1].stats];
    sink.on_stream_event(StreamEvent::Close { conn: conn.info.id, reason, stats: &stats, at });
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_packet_dated_in_the_future_does_not_stop_the_sweeps() {
        let at = |ms: i64| Timestamp::from_nanos(ms * 1_000_000);
        let mut c = SweepClock::default();
        let sweeps = |c: &mut SweepClock, from: i64, n: i64| {
            (0..n).filter(|i| c.due(at(from + i * 10))).count()
        };
        // A packet every 10 ms: a sweep a second.
        assert_eq!(sweeps(&mut c, 0, 1000), 9);
        // A stray packet ten years ahead is swept by; then packet time goes on as before.
        assert!(c.due(at(10 * 365 * 86_400_000)));
        let before = BEHIND_PACKETS as i64;
        assert_eq!(sweeps(&mut c, 10_000, before - 1), 0);
        // After BEHIND_PACKETS such packets the clock follows packet time again.
        assert_eq!(sweeps(&mut c, 10_000 + (before - 1) * 10, 1), 1);
        assert_eq!(sweeps(&mut c, 30_000, 1000), 10);
        // Small steps back (two taps' clocks a few ms apart) are no reason to sweep.
        let mut c = SweepClock::default();
        let jitter = (0..5000).filter(|i| c.due(at(i * 10 - (i % 2) * 50))).count();
        assert_eq!(jitter, 49);
    }

    /// docs/ARCHITECTURE.md quotes the per-connection cost; keep it honest.
    #[test]
    fn connection_state_stays_small() {
        let entry = std::mem::size_of::<Tracked>() + std::mem::size_of::<FlowKey>();
        let per_conn = std::mem::size_of::<Conn>() + entry;
        eprintln!("per-connection state: {per_conn} bytes; a closed one lingers as {entry}");
        assert!(per_conn <= 896, "a connection costs {per_conn} bytes before any buffered data");
        assert!(entry <= 96, "a lingering closed connection costs {entry} bytes");
    }
}
