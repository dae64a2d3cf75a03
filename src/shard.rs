//! Sharded analysis (`--threads N`): the reading thread only reads and decodes packets and
//! hands each TCP segment to the worker that owns its connection, chosen by a hash of the
//! connection that is the same for both directions ([`FlowKey::shard_hash`]; IP fragments are
//! reassembled by the reader's decoder first, so they follow their datagram). Each of the N
//! workers owns a connection table and an analyzer; the calling thread merges their events back
//! into exactly the order one thread produces, so the output is byte-for-byte that of a
//! single-threaded run.
//!
//! How the order is kept:
//! - The reader numbers every step it hands out (a global key): a segment, a *sweep* (packet
//!   time passed a second: idle connections and reorder windows are settled; the reader keeps
//!   the one table's [`SweepClock`] over every packet and tells every worker), the end.
//! - Steps go out in *rounds*: every worker receives its part of every round, empty or not. A
//!   worker answers each round with its events, each tagged with the step's key, a stage
//!   (sweep steps have three, as a table's sweep does: idle connections, holes, then the
//!   analyzer's [`StreamSink::on_sweep`]) and its connection.
//! - The merger takes one answer per worker per round and emits events by (key, stage,
//!   connection): a segment's events come from one worker, already in order; a sweep's or the
//!   end's come from every worker and are interleaved by connection, as one table visits them.
//! - Connection ids are the workers' own; the merger numbers connections in the order they
//!   opened, as one table does, and rewrites every event's id.
//!
//! Limits that count the whole table (`--max-connections`, `--max-buffered-total`,
//! `--max-history-total`) apply to each worker's share (the limit divided by N, the shares
//! adding up to it), and what the memory budget evicts is chosen per worker: when they act, the
//! output can differ from one thread's. Every channel is bounded, so memory stays bounded by
//! a few rounds per worker.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use crate::analyzer::{Analyzer, AnalyzerConfig, AnalyzerStats};
use crate::capture::PacketSource;
use crate::error::Error;
use crate::event::{Event, EventSink, Stats};
use crate::limits::TcpLimits;
use crate::packet::{Segment, TcpFlags};
use crate::pipeline::{self, RunSummary, Stop, Tracker};
use crate::redact::{Redacting, Redactor};
use crate::tcp::{
    ConnId, FlowKey, PacketRef, StreamEvent, StreamSink, SweepClock, Table, TableStats,
};
use crate::time::Timestamp;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// A round is sent when the payload bytes or the steps waiting for the workers reach these.
///
/// The merger holds a whole round's events at a time, so a round's *output* is what memory
/// depends on. Without payloads (the report) that is small whatever the input; with payloads it
/// is at most the round's stream bytes inflated (deflate expands at most ~1,032×, and each
/// message is cut at `--max-message-size`), so rounds are 8× smaller then.
const ROUND_BYTES: usize = 512 << 10;
const ROUND_BYTES_WITH_PAYLOADS: usize = 64 << 10;
const ROUND_JOBS: usize = 4096;
/// Rounds queued per worker, in each direction.
const QUEUE: usize = 2;

/// Rounds (and parts of answers) a worker can have in flight: the one being filled, [`QUEUE`]
/// waiting in the channel and the one being worked on (merged). The reader makes a new round
/// only when no spent one is back, so no more than this many exist a worker.
const IN_FLIGHT: usize = QUEUE + 2;

/// How large rounds and the parts of answers are. What they hold in flight is charged to the
/// memory budget for the whole run ([`Sizes::in_flight`]), so they are made smaller under a
/// small budget: together at most an eighth of it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Sizes {
    /// A round is sent when its payload bytes or its steps reach these.
    round: (usize, usize),
    /// A worker hands its answer on in parts of about this many bytes.
    part: usize,
}

/// The smallest rounds and parts, whatever the budget.
const MIN_ROUND: usize = 16 << 10;

impl Sizes {
    /// For `threads` workers under a memory budget of `budget` bytes, with rounds of at most
    /// `round_bytes` (smaller when events carry payloads).
    fn new(budget: usize, threads: usize, round_bytes: usize) -> Sizes {
        // Each of a worker's rounds in flight, with its part of an answer, gets an equal
        // share of an eighth of the budget: a third for the round's bytes, about as much for
        // its steps (4,096 for a round of 512 KiB) and a third for the part, after the slack.
        let share = budget / 8 / (threads.max(1) * IN_FLIGHT);
        let each = share.saturating_sub(ROUND_SLACK) / 3;
        let bytes = each.clamp(MIN_ROUND, round_bytes);
        Sizes {
            round: (bytes, (bytes / 128).clamp(64, ROUND_JOBS)),
            part: each.clamp(MIN_ROUND, PART_BYTES),
        }
    }

    /// What `threads` workers' rounds and answers can hold at once.
    fn in_flight(self, threads: usize) -> usize {
        threads * IN_FLIGHT * (Round::footprint(self.round) + self.part)
    }
}

/// Reads `source` on a new thread, analyses connections on `threads` worker threads, and pushes
/// the merged events into `sink` on the calling thread.
pub fn drive<S: EventSink>(
    source: &mut (dyn PacketSource + Send),
    limits: &TcpLimits,
    stop: &Stop,
    cfg: &AnalyzerConfig,
    threads: usize,
    redactor: Option<&Redactor>,
    sink: &mut S,
) -> Result<(RunSummary, AnalyzerStats), Error> {
    let bytes = if cfg.keep_payloads { ROUND_BYTES_WITH_PAYLOADS } else { ROUND_BYTES };
    // Each worker's table holds its share of the connection limit, the shares adding up to the
    // limit (so never more workers than the limit).
    let threads = threads.clamp(1, limits.max_connections.max(1));
    let sizes = Sizes::new(limits.memory.budget(), threads, bytes);
    drive_rounds(source, limits, stop, cfg, (threads, sizes), redactor, sink)
}

/// [`drive`] with rounds and parts of answers of `sizes`.
fn drive_rounds<S: EventSink>(
    source: &mut (dyn PacketSource + Send),
    limits: &TcpLimits,
    stop: &Stop,
    cfg: &AnalyzerConfig,
    (threads, sizes): (usize, Sizes),
    redactor: Option<&Redactor>,
    sink: &mut S,
) -> Result<(RunSummary, AnalyzerStats), Error> {
    // The rounds and answers in flight, charged for as long as the run: they are few and
    // reused, and could all be full at once.
    let mut in_flight = crate::memory::Charge::new(&limits.memory);
    in_flight.set(sizes.in_flight(threads));
    let round = sizes.round;
    let worker_limits = |i: usize| worker_limits(limits, threads, i);
    let counts: Arc<Vec<[AtomicU64; 2]>> =
        Arc::new((0..threads).map(|_| [AtomicU64::new(0), AtomicU64::new(0)]).collect());
    std::thread::scope(|scope| {
        let mut to_workers = Vec::with_capacity(threads);
        let mut from_workers = Vec::with_capacity(threads);
        let mut workers = Vec::with_capacity(threads);
        let mut backs = Vec::with_capacity(threads);
        // Workers hand their emptied rounds back for reuse (no fresh buffers per round).
        let (spent_tx, spent_rx) = std::sync::mpsc::channel::<Round>();
        for i in 0..threads {
            let (job_tx, job_rx) = sync_channel::<Round>(QUEUE);
            let spent_tx = spent_tx.clone();
            let (event_tx, event_rx) = sync_channel::<Answer>(QUEUE);
            // The merger hands emptied answers back (their memory stays warm).
            let (back_tx, back_rx) = std::sync::mpsc::channel::<Vec<Out>>();
            backs.push(back_tx);
            let (cfg, limits, counts) = (cfg.clone(), worker_limits(i), Arc::clone(&counts));
            let redactor = redactor.cloned();
            let file = source.reread();
            let worker = std::thread::Builder::new()
                .name(format!("wsscope-shard-{i}"))
                .spawn_scoped(scope, move || {
                    // Redacted as they are made: all of a connection's events are the
                    // worker's, as what a redactor learns from a handshake needs.
                    let keyed = Keyed { part: sizes.part, ..Keyed::default() };
                    let sink = Redacting::new(redactor, keyed).charge_to(&cfg.memory);
                    let (tx, rx) = (event_tx, back_rx);
                    let done =
                        work(job_rx, (tx, rx), spent_tx, (cfg, sink), limits, &counts[i], file);
                    crate::cpu::record(&format!("shard-{i}"), crate::cpu::thread_time());
                    done
                })
                // The workers started so far see their channels close and end; the scope joins
                // them.
                .map_err(|source| Error::Thread { what: format!("worker thread {i}"), source })?;
            to_workers.push(job_tx);
            from_workers.push(event_rx);
            workers.push(worker);
        }
        let reader_counts = Arc::clone(&counts);
        let reader = std::thread::Builder::new()
            .name("wsscope-reader".into())
            .spawn_scoped(scope, move || {
                let mut dispatch = Dispatch::new(to_workers, round, SweepClock::for_limits(limits));
                dispatch.spent = Some(spent_rx);
                dispatch.stop = Some(stop);
                dispatch.counts = Some(reader_counts);
                if source.is_live() {
                    dispatch.live = Some(std::time::Instant::now());
                }
                let done = pipeline::drive_tracker(source, limits, stop, &mut dispatch);
                crate::cpu::record("reader", crate::cpu::thread_time());
                done
            })
            .map_err(|source| Error::Thread { what: "the reader thread".into(), source })?;
        let merging = crate::cpu::thread_time();
        let (max_concurrent, max_open) = merge(&from_workers, &backs, sink);
        crate::cpu::record("merger", crate::cpu::thread_time().saturating_sub(merging));
        // The merge ends early only if a worker is gone (it panicked): let the other workers
        // fail their sends and end, so the reader fails its sends and stops; the panic is
        // raised below when that worker is joined.
        drop(from_workers);
        let mut summary = reader.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        let mut stats = AnalyzerStats::default();
        let mut tcp = TableStats::default();
        for w in workers {
            let (s, t) = w.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            stats.add(&s);
            add_table(&mut tcp, &t);
        }
        (tcp.max_concurrent, tcp.max_open) = (max_concurrent, max_open);
        summary.tcp = tcp;
        Ok((summary, stats))
    })
}

/// Worker `i`'s part of `limit` connections among `workers` (at most `limit` of them): the parts
/// add up to the limit.
fn share_of(limit: usize, workers: usize, i: usize) -> usize {
    bytes_share_of(limit, workers, i).max(1)
}

/// Worker `i`'s part of a total that may be 0 (then 0): the parts of `workers` add up to it.
fn bytes_share_of(total: usize, workers: usize, i: usize) -> usize {
    total / workers + usize::from(i < total % workers)
}

/// Worker `i`'s limits: the limits that count the whole table (connections, out-of-order bytes
/// of all connections, retransmission history of all connections) are split between the
/// workers, their parts adding up to the limit, so that `-j N` holds no more than one thread
/// does; every other limit is the same for each.
fn worker_limits(limits: &TcpLimits, threads: usize, i: usize) -> TcpLimits {
    TcpLimits {
        max_connections: share_of(limits.max_connections, threads, i),
        max_buffered_total: bytes_share_of(limits.max_buffered_total, threads, i),
        max_history_total: bytes_share_of(limits.max_history_total, threads, i),
        ..limits.clone()
    }
}

/// Adds the counters of one worker's table to `sum` (`max_concurrent` and `max_open` are the
/// merger's).
fn add_table(sum: &mut TableStats, t: &TableStats) {
    let TableStats {
        connections,
        max_concurrent: _,
        max_open: _,
        closed_fin,
        closed_rst,
        closed_idle,
        evicted,
        evicted_for_memory,
        reused,
        open_at_end,
        connection_limit_hits,
        segments_after_close,
        ignored_rsts,
        ignored_syns,
        history_not_kept,
    } = *t;
    sum.connections += connections;
    sum.closed_fin += closed_fin;
    sum.closed_rst += closed_rst;
    sum.closed_idle += closed_idle;
    sum.evicted += evicted;
    sum.evicted_for_memory += evicted_for_memory;
    sum.reused += reused;
    sum.open_at_end += open_at_end;
    sum.connection_limit_hits += connection_limit_hits;
    sum.segments_after_close += segments_after_close;
    sum.ignored_rsts += ignored_rsts;
    sum.ignored_syns += ignored_syns;
    sum.history_not_kept += history_not_kept;
}

/// A step for a worker, owning what it borrowed (payload bytes live in the round's buffer).
enum Job {
    /// A TCP segment of one of the worker's connections.
    Segment {
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        window: u16,
        wscale: Option<u8>,
        missing: u32,
        start: usize,
        len: usize,
        file_offset: Option<u64>,
        at: PacketRef,
    },
    /// Packet time passed: sweep the table at `at`.
    Sweep(PacketRef),
    /// The input ended; its last segment was `at`.
    Finish(PacketRef),
    /// Live counters (worker 0 only).
    Stats(Box<Stats>),
}

/// One worker's part of a round: keyed steps and the bytes their segments refer to.
#[derive(Default)]
struct Round {
    jobs: Vec<(u64, Job)>,
    bytes: Vec<u8>,
}

impl Round {
    /// A round that never grows: a round ends once it reaches `limit` (bytes, steps), so it
    /// holds at most one more segment (of at most 256 KiB) and a few more steps. A buffer that
    /// grew would be a fresh allocation each time, its pages faulted in and zeroed by the
    /// kernel: that was half the reading thread's time.
    fn with_capacity(limit: (usize, usize)) -> Round {
        Round {
            jobs: Vec::with_capacity(limit.1 + 16),
            bytes: Vec::with_capacity(limit.0 + ROUND_SLACK),
        }
    }

    /// What a round of `limit` holds (a segment larger than [`ROUND_SLACK`] grows it: rare,
    /// and at most once by that segment).
    fn footprint(limit: (usize, usize)) -> usize {
        (limit.1 + 16) * size_of::<(u64, Job)>() + limit.0 + ROUND_SLACK
    }
}

/// Room in a round for the segment that fills it (segments are at most 256 KiB; the common
/// ones at most 64 KiB).
const ROUND_SLACK: usize = 64 << 10;

/// Stages of a step, in the order one table goes through them.
const STAGE_IDLE: u8 = 0;
const STAGE_HOLES: u8 = 1;
/// After a sweep's two halves: the analyzer lets time pass for what it holds (see
/// [`StreamSink::on_sweep`]).
const STAGE_SWEPT: u8 = 2;
const STAGE_SEGMENT: u8 = 3;

/// What a worker answers, tagged with (key, stage). Events are by far the most common, so
/// they are not boxed (a box would cost an allocation each).
#[allow(clippy::large_enum_variant)]
enum Out {
    /// An event of one of the worker's connections (its own id).
    Event(u64, u8, Event),
    /// A connection opened (the worker's id).
    Open(u64, u64),
    /// The worker's table held this many connections right after a connection opened, and this
    /// many of its connections open then have closed since (in the same step).
    Inserted(u64, u8, usize, usize),
    /// The worker's table holds this many connections now.
    Len(u64, u8, usize),
    /// A connection closed: its events are all out.
    Closed(u64, u8, u64),
    /// Live counters.
    Stats(u64, Box<Stats>),
}

impl Out {
    /// (key, stage, the worker's connection id or u64::MAX).
    fn tag(&self) -> (u64, u8, u64) {
        match self {
            Out::Event(k, st, e) => (*k, *st, e.connection().0),
            Out::Open(k, c) => (*k, STAGE_SEGMENT, *c),
            Out::Closed(k, st, c) => (*k, *st, *c),
            Out::Inserted(k, st, ..) | Out::Len(k, st, _) => (*k, *st, u64::MAX),
            Out::Stats(k, _) => (*k, STAGE_IDLE, 0),
        }
    }
}

/// The reader's side: decoded segments to the workers that own their connections, sweeps and
/// the end to all of them.
struct Dispatch<'s> {
    to_workers: Vec<SyncSender<Round>>,
    rounds: Vec<Round>,
    key: u64,
    bytes: usize,
    jobs: usize,
    /// A round is sent when `bytes` or `jobs` reach these.
    limit: (usize, usize),
    /// The one table's sweep clock, fed every segment.
    clock: SweepClock,
    /// The last segment handed out.
    last: PacketRef,
    /// Rounds the workers are done with, to reuse.
    spent: Option<Receiver<Round>>,
    /// Asked to stop reading once a worker is gone.
    stop: Option<&'s Stop>,
    /// Each worker's (open connections, connections seen), for live counters.
    counts: Option<Arc<Vec<[AtomicU64; 2]>>>,
    /// Live capture: when the round being filled was last sent (a round goes at least every
    /// [`LIVE_ROUND`]).
    live: Option<std::time::Instant>,
}

/// Live capture: the longest segments wait for the workers.
const LIVE_ROUND: std::time::Duration = std::time::Duration::from_millis(50);

impl Dispatch<'_> {
    fn new(to_workers: Vec<SyncSender<Round>>, limit: (usize, usize), clock: SweepClock) -> Self {
        let rounds = to_workers.iter().map(|_| Round::with_capacity(limit)).collect();
        Dispatch {
            to_workers,
            rounds,
            key: 0,
            bytes: 0,
            jobs: 0,
            limit,
            clock,
            last: PacketRef::default(),
            spent: None,
            stop: None,
            counts: None,
            live: None,
        }
    }

    /// Sends every worker its part of the round (empty parts too: they keep the merge in step).
    fn send_round(&mut self) {
        for (tx, round) in self.to_workers.iter().zip(&mut self.rounds) {
            // A spent round's buffers if one is back, else buffers as large as a round gets.
            let limit = self.limit;
            let next = self
                .spent
                .as_ref()
                .and_then(|r| r.try_recv().ok())
                .unwrap_or_else(|| Round::with_capacity(limit));
            // A worker that is gone has panicked (or the merge did): stop reading; the panic is
            // raised when that thread is joined.
            if tx.send(std::mem::replace(round, next)).is_err()
                && let Some(stop) = self.stop
            {
                stop.request();
            }
        }
        (self.bytes, self.jobs) = (0, 0);
        if let Some(t) = &mut self.live {
            *t = std::time::Instant::now();
        }
    }

    fn full(&self) -> bool {
        self.bytes >= self.limit.0
            || self.jobs >= self.limit.1
            || self.live.is_some_and(|t| t.elapsed() >= LIVE_ROUND)
    }

    /// Gives every worker a step of one key.
    fn broadcast(&mut self, job: impl Fn() -> Job) {
        for round in &mut self.rounds {
            round.jobs.push((self.key, job()));
        }
        self.key += 1;
        self.jobs += self.rounds.len();
    }

    /// Sweeps every table at `at` when the clock says one table would.
    fn tick(&mut self, at: PacketRef) {
        if self.clock.due(at.ts) {
            self.broadcast(|| Job::Sweep(at));
        }
    }
}

/// The worker of `n` that owns a connection whose [`FlowKey::shard_hash`] is `hash`: the hash
/// scaled to `0..n` by its high bits (Lemire's multiply-shift, no division).
///
/// Not `hash % n`: `--shard I/N` keeps the connections whose hash is I modulo N, and when N and
/// `n` share a factor (`--shard 0/2 --threads 2`) every connection of the share would have the
/// same remainder modulo `n` too, so one worker would analyse them all while the others only
/// followed TCP for connections the share does not report.
fn worker_of(hash: u64, n: usize) -> usize {
    ((u128::from(hash) * n as u128) >> 64) as usize
}

impl Tracker for Dispatch<'_> {
    fn segment(&mut self, seg: &Segment<'_>, at: PacketRef) {
        self.last = at;
        self.tick(at);
        let w = worker_of(FlowKey::new(seg.src, seg.dst).shard_hash(), self.rounds.len());
        let round = &mut self.rounds[w];
        let start = round.bytes.len();
        round.bytes.extend_from_slice(seg.payload);
        round.jobs.push((
            self.key,
            Job::Segment {
                src: seg.src,
                dst: seg.dst,
                seq: seg.seq,
                ack: seg.ack,
                flags: seg.flags,
                window: seg.window,
                wscale: seg.wscale,
                missing: seg.missing,
                start,
                len: seg.payload.len(),
                file_offset: seg.file_offset,
                at,
            },
        ));
        self.key += 1;
        self.bytes += seg.payload.len();
        self.jobs += 1;
        if self.full() {
            self.send_round();
        }
    }

    fn advance_time(&mut self, now: Timestamp) {
        self.tick(PacketRef::new(now, self.last.packet));
        // Live: what waits goes out now, not when a round fills.
        if self.jobs > 0 {
            self.send_round();
        }
    }

    fn stats(&mut self, stats: &Stats) {
        if let Some(round) = self.rounds.first_mut() {
            round.jobs.push((self.key, Job::Stats(Box::new(stats.clone()))));
            self.key += 1;
            self.jobs += 1;
        }
        self.send_round();
    }

    fn counts(&self) -> (u64, u64) {
        self.counts.as_ref().map_or((0, 0), |c| {
            c.iter().fold((0, 0), |(o, n), w| {
                (o + w[0].load(Ordering::Relaxed), n + w[1].load(Ordering::Relaxed))
            })
        })
    }

    fn finish(&mut self) -> TableStats {
        let at = self.last;
        self.broadcast(|| Job::Finish(at));
        self.send_round();
        // The workers' tables hold the counters; the run adds them up.
        TableStats::default()
    }
}

/// Between a worker's table and its analyzer: tags what the analyzer emits, and notes
/// connections opening and closing for the merger.
struct Tap {
    analyzer: Analyzer<Redacting<Keyed>>,
}

impl Tap {
    /// Where the analyzer's events (redacted) and the connections' openings and closings go.
    fn keyed(&mut self) -> &mut Keyed {
        self.analyzer.sink_mut().sink_mut()
    }
}

impl StreamSink for Tap {
    fn on_stream_event(&mut self, event: StreamEvent<'_>) {
        let (key, stage) = (self.keyed().key, self.keyed().stage);
        let closed = match &event {
            StreamEvent::Open(info) => {
                self.keyed().push(Out::Open(key, info.id.0));
                None
            }
            StreamEvent::Close { conn, .. } => Some(conn.0),
            _ => None,
        };
        self.analyzer.on_stream_event(event);
        if let Some(c) = closed {
            self.keyed().push(Out::Closed(key, stage, c));
        }
    }

    fn resume_mark(&mut self, conn: ConnId) -> u8 {
        self.analyzer.resume_mark(conn)
    }

    fn keeps_searching(&self, conn: ConnId) -> bool {
        self.analyzer.keeps_searching(conn)
    }

    fn on_sweep(&mut self, at: PacketRef) {
        self.analyzer.on_sweep(at);
    }
}

/// Collects a worker's events with the key and stage of the step being taken.
struct Keyed {
    key: u64,
    stage: u8,
    out: Vec<Out>,
    /// Bytes `out` holds (its entries and their payloads).
    bytes: usize,
    /// `out` is handed on as a part once `bytes` reach this ([`Sizes::part`]).
    part: usize,
    /// Where parts of an answer go, and emptied vectors come back from.
    to_merger: Option<(SyncSender<Answer>, Receiver<Vec<Out>>)>,
    /// The merger is gone.
    gone: bool,
}

impl Default for Keyed {
    fn default() -> Self {
        Keyed {
            key: 0,
            stage: 0,
            out: Vec::new(),
            bytes: 0,
            part: PART_BYTES,
            to_merger: None,
            gone: false,
        }
    }
}

/// A part of a worker's answer to a round; `last`: the round's last part.
struct Answer {
    outs: Vec<Out>,
    last: bool,
}

/// A worker hands its answer on in parts of about this many bytes (entries and payloads): a
/// round of 64 KiB of deflated messages may inflate to 64 MiB, a round of empty frames makes
/// 250,000 events, and a sweep or the end may emit events for every connection at once. The
/// merger holds one part per worker, two wait in the channel.
const PART_BYTES: usize = 1 << 20;

impl Keyed {
    fn push(&mut self, out: Out) {
        self.bytes += size_of::<Out>()
            + match &out {
                Out::Event(_, _, Event::Message { payload, .. }) => payload.capacity(),
                _ => 0,
            };
        self.out.push(out);
        if self.bytes >= self.part {
            self.hand_on(false);
        }
    }

    /// Sends what was collected as a part of the answer (`last`: the round's last part).
    fn hand_on(&mut self, last: bool) {
        let Some((tx, back)) = &self.to_merger else { return };
        let next = back.try_recv().unwrap_or_default();
        let outs = std::mem::replace(&mut self.out, next);
        self.bytes = 0;
        self.gone |= tx.send(Answer { outs, last }).is_err();
    }
}

impl EventSink for Keyed {
    fn event(&mut self, event: Event) {
        self.push(Out::Event(self.key, self.stage, event));
    }
}

/// A worker: the table and analysis of the connections of its shard, one round at a time.
/// Returns its analyzer's and its table's counters.
fn work(
    rounds: Receiver<Round>,
    to_merger: (SyncSender<Answer>, Receiver<Vec<Out>>),
    spent: std::sync::mpsc::Sender<Round>,
    (cfg, sink): (AnalyzerConfig, Redacting<Keyed>),
    limits: TcpLimits,
    counts: &[AtomicU64; 2],
    file: Option<Arc<dyn crate::tcp::ReadBack>>,
) -> (AnalyzerStats, TableStats) {
    let mut table = Table::new(limits);
    table.sweep_on_command();
    table.set_input_file(file);
    let mut tap = Tap { analyzer: Analyzer::new(cfg, sink) };
    tap.keyed().to_merger = Some(to_merger);
    let mut len = 0;
    for mut round in rounds {
        for (key, job) in round.jobs.drain(..) {
            let set = |tap: &mut Tap, stage| {
                let k = tap.keyed();
                (k.key, k.stage) = (key, stage);
            };
            let mut stage = STAGE_SEGMENT;
            match job {
                Job::Segment {
                    src,
                    dst,
                    seq,
                    ack,
                    flags,
                    window,
                    wscale,
                    missing,
                    start,
                    len,
                    file_offset,
                    at,
                } => {
                    set(&mut tap, STAGE_SEGMENT);
                    let seg = Segment {
                        src,
                        dst,
                        seq,
                        ack,
                        flags,
                        window,
                        wscale,
                        payload: round.bytes.get(start..start + len).unwrap_or_default(),
                        missing,
                        file_offset,
                    };
                    table.on_segment(&seg, at, &mut tap);
                    if let Some((n, open)) = table.take_inserted() {
                        // Closed since the insertion (memory-budget evictions of this segment):
                        // the merger has their `Closed` before this, and adds them back.
                        let gone = open.saturating_sub(table.open_now()) as usize;
                        tap.keyed().push(Out::Inserted(key, STAGE_SEGMENT, n, gone));
                    }
                }
                Job::Sweep(at) => {
                    set(&mut tap, STAGE_IDLE);
                    table.sweep_idle(at, &mut tap);
                    set(&mut tap, STAGE_HOLES);
                    table.sweep_holes(at, &mut tap);
                    set(&mut tap, STAGE_SWEPT);
                    tap.on_sweep(at);
                    stage = STAGE_SWEPT;
                }
                Job::Finish(at) => {
                    set(&mut tap, STAGE_IDLE);
                    table.finish_at(at, &mut tap);
                    stage = STAGE_IDLE;
                }
                Job::Stats(s) => tap.keyed().push(Out::Stats(key, s)),
            }
            if table.len() != len {
                len = table.len();
                tap.keyed().push(Out::Len(key, stage, len));
            }
        }
        counts[0].store(table.open_now(), Ordering::Relaxed);
        counts[1].store(table.stats().connections, Ordering::Relaxed);
        round.bytes.clear();
        // The reader may have finished; then the round is simply dropped.
        let _ = spent.send(round);
        tap.keyed().hand_on(true);
        if tap.keyed().gone {
            break;
        }
    }
    (tap.analyzer.stats(), table.stats())
}

/// Numbers connections in the order they opened across workers, as one table numbers them.
#[derive(Default)]
struct Ids {
    /// (worker, the worker's id) → the run's id, while the connection is open.
    map: foldhash::HashMap<(usize, u64), u64>,
    next: u64,
}

impl Ids {
    fn get(&self, worker: usize, id: u64) -> u64 {
        self.map.get(&(worker, id)).copied().unwrap_or(u64::MAX)
    }
}

/// Takes one answer per worker per round and emits their events in one table's order. Returns
/// the most connections the tables held at once and the most open at once, counted as one
/// table counts them (right after a connection is added).
fn merge<S: EventSink>(
    from_workers: &[Receiver<Answer>],
    backs: &[std::sync::mpsc::Sender<Vec<Out>>],
    sink: &mut S,
) -> (u64, u64) {
    // Each worker's part of its answer, reversed: its next entry is the last; `last`: that
    // part ends the worker's answer to the round.
    let n = from_workers.len();
    let mut parts: Vec<Vec<Out>> = (0..n).map(|_| Vec::new()).collect();
    let mut last = vec![false; n];
    let mut ids = Ids { next: 1, ..Ids::default() };
    let mut lens = vec![0usize; n];
    let (mut max_concurrent, mut max_open) = (0u64, 0u64);
    loop {
        // Every worker's next entry is at hand, or its answer to the round is all out: only
        // then is the lowest (key, stage) known. Once every answer is out, the next round.
        if parts.iter().all(Vec::is_empty) && last.iter().all(|l| *l) {
            last.iter_mut().for_each(|l| *l = false);
        }
        for (w, rx) in from_workers.iter().enumerate() {
            while parts[w].is_empty() && !last[w] {
                match rx.recv() {
                    Ok(Answer { mut outs, last: end }) => {
                        outs.reverse();
                        let spent = std::mem::replace(&mut parts[w], outs);
                        if let Some(back) = backs.get(w) {
                            let _ = back.send(spent);
                        }
                        last[w] = end;
                    }
                    // Every worker ends after the same last round (or one panicked).
                    Err(_) => return (max_concurrent, max_open),
                }
            }
        }
        loop {
            // The lowest (key, stage); connections are compared (a lookup) only between
            // workers that tie on it (sweeps and the end).
            let mut best: Option<((u64, u8), usize)> = None;
            let mut tie = false;
            for (w, p) in parts.iter().enumerate() {
                let Some(o) = p.last() else { continue };
                let (key, stage, _) = o.tag();
                match best {
                    Some((b, _)) if (key, stage) > b => {}
                    Some((b, _)) if (key, stage) == b => tie = true,
                    _ => (best, tie) = (Some(((key, stage), w)), false),
                }
            }
            let Some((ks, mut w)) = best else { break };
            if tie {
                w = parts
                    .iter()
                    .enumerate()
                    .filter_map(|(w, p)| {
                        let (key, stage, conn) = p.last()?.tag();
                        ((key, stage) == ks).then(|| (ids.get(w, conn), w))
                    })
                    .min()
                    .map_or(w, |(_, w)| w);
            }
            let Some(out) = parts[w].pop() else { break };
            // That worker's next entry is in its next part: fetch it before choosing again.
            let refill = parts[w].is_empty() && !last[w];
            match out {
                Out::Event(_, _, mut event) => {
                    let id = event.connection_mut();
                    *id = ConnId(ids.get(w, id.0));
                    sink.event(event);
                }
                Out::Open(_, c) => {
                    ids.map.insert((w, c), ids.next);
                    ids.next += 1;
                }
                Out::Closed(_, _, c) => {
                    ids.map.remove(&(w, c));
                }
                Out::Inserted(_, _, n, gone) => {
                    lens[w] = n;
                    max_concurrent = max_concurrent.max(lens.iter().sum::<usize>() as u64);
                    // The open connections are those mapped (opened, not yet closed), and those
                    // the same step closed after the insertion, as one table counts them.
                    max_open = max_open.max((ids.map.len() + gone) as u64);
                }
                Out::Len(_, _, n) => lens[w] = n,
                Out::Stats(_, s) => sink.stats(&s),
            }
            if refill {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(src: &str, dst: &str) -> Segment<'static> {
        Segment {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            seq: 1,
            ack: 0,
            flags: TcpFlags::default(),
            window: 100,
            wscale: None,
            payload: b"abc",
            missing: 0,
            file_offset: None,
        }
    }

    /// The limits that count the whole table are split between the workers: their parts add up
    /// to the limit one thread has (so `-j 4` buffers no more out-of-order bytes than `-j 1`),
    /// and a limit of 0 stays 0. Per-connection limits are the same for every worker.
    #[test]
    fn whole_table_limits_are_split_between_the_workers() {
        let limits = TcpLimits {
            max_connections: 10,
            max_buffered_total: 1000,
            max_history_total: 0,
            ..TcpLimits::default()
        };
        for threads in 1..=4 {
            let parts: Vec<TcpLimits> =
                (0..threads).map(|i| worker_limits(&limits, threads, i)).collect();
            let sum = |f: fn(&TcpLimits) -> usize| parts.iter().map(f).sum::<usize>();
            assert_eq!(sum(|l| l.max_connections), 10, "{threads} threads");
            assert_eq!(sum(|l| l.max_buffered_total), 1000, "{threads} threads");
            assert_eq!(sum(|l| l.max_history_total), 0, "{threads} threads");
            for l in &parts {
                assert_eq!(l.max_buffered_per_direction, limits.max_buffered_per_direction);
                assert_eq!(l.retransmission_history, limits.retransmission_history);
            }
        }
    }

    /// The connections of one `--shard` share are spread over every worker, whatever N and the
    /// number of threads: 6,000 clients of one server, each share's connections counted per
    /// worker, and no worker gets less than half its fair part.
    #[test]
    fn a_shares_connections_are_spread_over_every_worker() {
        let server: std::net::SocketAddr = "10.0.0.1:443".parse().unwrap();
        let hashes: Vec<u64> = (0..6000u32)
            .map(|i| {
                let client = std::net::SocketAddr::from(([10, 1, (i >> 8) as u8, i as u8], 40000));
                FlowKey::new(client, server).shard_hash()
            })
            .collect();
        for shares in 1..=6u64 {
            for threads in 2..=4usize {
                for share in 0..shares {
                    let mine: Vec<u64> =
                        hashes.iter().copied().filter(|h| h % shares == share).collect();
                    let mut per_worker = vec![0usize; threads];
                    for &h in &mine {
                        per_worker[worker_of(h, threads)] += 1;
                    }
                    let fair = mine.len() / threads;
                    assert!(
                        per_worker.iter().all(|&c| c >= fair / 2),
                        "--shard {share}/{shares} --threads {threads}: {per_worker:?}"
                    );
                }
            }
        }
        assert_eq!(worker_of(0, 3), 0);
        assert_eq!(worker_of(u64::MAX, 3), 2);
    }

    /// Rounds and parts keep their full size under the default budget, and under a small one
    /// shrink so that what they hold in flight (charged to the budget) is about an eighth of it.
    #[test]
    fn rounds_and_parts_fit_the_budget() {
        let full = Sizes::new(1 << 30, 2, ROUND_BYTES);
        assert_eq!(full, Sizes { round: (ROUND_BYTES, ROUND_JOBS), part: PART_BYTES });
        assert_eq!(Sizes::new(1 << 30, 8, ROUND_BYTES_WITH_PAYLOADS).round.0, 64 << 10);
        for threads in [1, 2, 4] {
            for budget in [16 << 20, 32 << 20, 64 << 20] {
                let sizes = Sizes::new(budget, threads, ROUND_BYTES);
                let held = sizes.in_flight(threads);
                assert!(held <= budget / 7, "{threads} threads, {budget}: {sizes:?} hold {held}");
                assert!(sizes.round.0 >= MIN_ROUND && sizes.part >= MIN_ROUND);
            }
        }
        // Many workers under the smallest budget: the smallest rounds, all of them charged.
        let tiny = Sizes::new(16 << 20, 64, ROUND_BYTES);
        assert_eq!((tiny.round.0, tiny.part), (MIN_ROUND, MIN_ROUND));
    }

    #[test]
    fn a_round_reaches_every_worker_even_when_empty_and_both_directions_reach_one() {
        let (tx0, rx0) = sync_channel(4);
        let (tx1, rx1) = sync_channel(4);
        let mut d = Dispatch::new(vec![tx0, tx1], (ROUND_BYTES, ROUND_JOBS), SweepClock::default());
        d.segment(&segment("10.0.0.1:1000", "10.0.0.2:80"), PacketRef::default());
        d.segment(&segment("10.0.0.2:80", "10.0.0.1:1000"), PacketRef::default());
        d.send_round();
        let (r0, r1) = (rx0.recv().expect("round 0"), rx1.recv().expect("round 1"));
        let mut n = [r0.jobs.len(), r1.jobs.len()];
        n.sort();
        assert_eq!(n, [0, 2]);
    }

    /// Every event, in order, as one thread produces it and as `threads` workers with rounds of
    /// `round` produce it; redacted by `redactor` if any.
    fn events(
        path: &str,
        threads: Option<(usize, Sizes)>,
        redactor: Option<&Redactor>,
    ) -> (Vec<String>, AnalyzerStats) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        let mut source = crate::capture::FileSource::open(&path, None).expect("a test capture");
        let (limits, stop) = (TcpLimits::default(), Stop::new(None));
        let cfg =
            AnalyzerConfig { emit_frames: true, announce_tcp: true, ..AnalyzerConfig::default() };
        let mut out = crate::analyzer::Collect::default();
        let stats = match threads {
            Some(shards) => {
                drive_rounds(&mut source, &limits, &stop, &cfg, shards, redactor, &mut out)
                    .unwrap()
                    .1
            }
            None => {
                let sink = crate::redact::Redacting::new(redactor.cloned(), out);
                let mut a = Analyzer::new(cfg, sink);
                pipeline::drive(&mut source, &limits, &stop, &mut a);
                let stats = a.stats();
                out = a.into_sink().into_inner();
                stats
            }
        };
        (out.0.iter().map(|e| format!("{e:?}")).collect(), stats)
    }

    #[test]
    fn sharded_analysis_gives_the_events_of_one_thread_in_the_same_order() {
        for capture in [
            "testdata/captures/real/concurrent.pcap",
            "testdata/captures/real/py-deflate-params.pcap",
            "testdata/captures/derived/lost-segment.pcap",
            "testdata/captures/crafted/overlap_conflict.pcap",
            "testdata/captures/crafted/port_reuse.pcap",
        ] {
            let (want, want_stats) = events(capture, None, None);
            assert!(want.len() > 2, "{capture}: {} events", want.len());
            for threads in [1, 2, 3, 5] {
                // Parts of one entry, of a few, and of the largest size.
                for (round, part) in
                    [((1, 1), 1), ((1000, 3), 300), ((ROUND_BYTES, ROUND_JOBS), PART_BYTES)]
                {
                    let sizes = Sizes { round, part };
                    let (got, stats) = events(capture, Some((threads, sizes)), None);
                    assert_eq!(stats, want_stats, "{capture}: {threads} threads, rounds {round:?}");
                    if got != want {
                        let i = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
                        panic!(
                            "{capture}: {threads} threads, rounds {round:?}: event {i} differs:\n{:?}\nvs one thread:\n{:?}",
                            got.get(i),
                            want.get(i)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn workers_redact_their_connections_as_one_thread_does() {
        // What a handshake's redaction learns is quoted in the findings of its connection: each
        // worker redacts its own connections, with its own copy of the redactor.
        let add = crate::redact::Additions {
            patterns: vec!["(?i)upgrade|[0-9]{3}".into()],
            ..Default::default()
        };
        let redactor = Redactor::with_additions(&add).expect("the rules compile");
        for capture in [
            "testdata/captures/cases/secrets.pcap",
            "testdata/captures/cases/invalid_upgrade.pcap",
            "testdata/captures/real/concurrent.pcap",
        ] {
            let (plain, _) = events(capture, None, None);
            let (want, want_stats) = events(capture, None, Some(&redactor));
            let changed = want.iter().zip(&plain).filter(|(a, b)| a != b).count();
            assert!(changed > 0, "{capture}: redaction changed no event");
            for threads in [2, 3] {
                let (got, stats) = events(
                    capture,
                    Some((threads, Sizes { round: (1000, 3), part: 300 })),
                    Some(&redactor),
                );
                assert_eq!(stats, want_stats, "{capture}: {threads} threads");
                assert_eq!(got, want, "{capture}: {threads} threads");
            }
        }
    }

    #[test]
    fn the_workers_parts_of_the_connection_limit_add_up_to_it() {
        for limit in [1, 2, 3, 7, 10_000, 10_001] {
            for threads in 1..=9 {
                let workers = threads.min(limit);
                let parts: Vec<usize> = (0..workers).map(|i| share_of(limit, workers, i)).collect();
                assert_eq!(parts.iter().sum::<usize>(), limit, "{limit} among {workers}");
                assert!(parts.iter().all(|&p| p >= 1));
            }
        }
    }

    #[test]
    fn a_worker_that_is_gone_stops_the_reader() {
        let (tx0, rx0) = sync_channel(4);
        let (tx1, rx1) = sync_channel::<Round>(4);
        drop(rx1); // worker 1 panicked
        let stop = Stop::new(None);
        let mut d = Dispatch::new(vec![tx0, tx1], (ROUND_BYTES, ROUND_JOBS), SweepClock::default());
        d.stop = Some(&stop);
        d.send_round();
        assert!(stop.is_requested());
        assert!(rx0.recv().is_ok(), "the live worker still got its round");
    }

    /// A worker's whole answer to a round, or a part that is not the last.
    fn whole(outs: Vec<Out>) -> Answer {
        Answer { outs, last: true }
    }

    fn part(outs: Vec<Out>) -> Answer {
        Answer { outs, last: false }
    }

    /// A worker's answer goes in parts of about [`PART_BYTES`]: a round of deflated messages,
    /// or a sweep closing every connection, is not held whole.
    #[test]
    fn a_large_answer_goes_in_parts() {
        let (tx, rx) = sync_channel::<Answer>(64);
        let (_back_tx, back_rx) = std::sync::mpsc::channel();
        let mut k = Keyed { to_merger: Some((tx, back_rx)), ..Keyed::default() };
        let per = PART_BYTES.div_ceil(size_of::<Out>());
        for i in 0..2 * per as u64 + 5 {
            k.push(Out::Len(i, STAGE_SEGMENT, 1));
        }
        let message = |n: usize| Event::Message {
            connection: ConnId(1),
            direction: crate::tcp::Direction::ServerToClient,
            opcode: crate::ws::OpCode::Binary,
            complete: true,
            length: Some(n as u64),
            captured_length: n as u64,
            missing: Some(0),
            wire_length: n as u64,
            compressed: false,
            fragments: 1,
            first: Default::default(),
            last: Default::default(),
            end: Default::default(),
            payload: crate::event::Payload::Bytes(vec![0; n]),
            truncated: false,
            close: None,
            rtt: None,
        };
        for _ in 0..3 {
            k.event(message(PART_BYTES / 2));
        }
        k.hand_on(true);
        let parts: Vec<(usize, bool)> = rx.try_iter().map(|a| (a.outs.len(), a.last)).collect();
        assert_eq!(parts, [(per, false), (per, false), (7, false), (1, true)]);
    }

    #[test]
    fn the_merge_ends_when_a_worker_is_gone() {
        let (tx0, rx0) = sync_channel::<Answer>(4);
        let (tx1, rx1) = sync_channel::<Answer>(4);
        tx0.send(whole(Vec::new())).expect("send");
        drop(tx1);
        let mut n = 0;
        merge(&[rx0, rx1], &[], &mut |_: Event| n += 1);
        assert_eq!(n, 0);
        drop(tx0);
    }

    #[test]
    fn the_merge_numbers_connections_as_they_open_and_interleaves_sweeps_by_connection() {
        let (tx0, rx0) = sync_channel(4);
        let (tx1, rx1) = sync_channel(4);
        let addr: std::net::SocketAddr = "127.0.0.1:80".parse().expect("address");
        let ev = |n: u64, packet: u64| Event::Connection {
            connection: ConnId(n),
            client: addr,
            server: addr,
            community_id: crate::tcp::CommunityId::tcp(addr, addr, 0),
            role: crate::tcp::RoleSource::Syn,
            continues: None,
            packet,
            ts: Default::default(),
        };
        // Worker 0 opens its connection 1 at key 0, worker 1 its 1 at key 1 and its 2 at key 3,
        // worker 0 its 2 at key 4. A sweep at key 5 touches all four.
        // (Worker 0's answer to the first round comes in two parts.)
        tx0.send(part(vec![
            Out::Open(0, 1),
            Out::Inserted(0, STAGE_SEGMENT, 1, 0),
            Out::Event(0, STAGE_SEGMENT, ev(1, 0)),
        ]))
        .expect("send");
        tx0.send(whole(vec![
            Out::Open(4, 2),
            Out::Inserted(4, STAGE_SEGMENT, 2, 0),
            Out::Event(4, STAGE_SEGMENT, ev(2, 4)),
        ]))
        .expect("send");
        tx1.send(whole(vec![
            Out::Open(1, 1),
            Out::Inserted(1, STAGE_SEGMENT, 1, 0),
            Out::Event(1, STAGE_SEGMENT, ev(1, 1)),
            Out::Open(3, 2),
            Out::Inserted(3, STAGE_SEGMENT, 2, 0),
            Out::Event(3, STAGE_SEGMENT, ev(2, 3)),
        ]))
        .expect("send");
        tx0.send(whole(vec![
            Out::Event(5, STAGE_HOLES, ev(1, 50)),
            Out::Event(5, STAGE_HOLES, ev(2, 51)),
        ]))
        .expect("send");
        tx1.send(whole(vec![
            Out::Event(5, STAGE_IDLE, ev(2, 52)),
            Out::Event(5, STAGE_HOLES, ev(1, 53)),
        ]))
        .expect("send");
        // Worker 1's connection 1 closes at key 6 (it lingers in its table) and its 3 opens at
        // key 7: five tracked, four open.
        tx0.send(whole(vec![])).expect("send");
        tx1.send(whole(vec![
            Out::Closed(6, STAGE_SEGMENT, 1),
            Out::Open(7, 3),
            Out::Inserted(7, STAGE_SEGMENT, 3, 0),
        ]))
        .expect("send");
        drop((tx0, tx1));
        let mut seen = Vec::new();
        let max = merge(&[rx0, rx1], &[], &mut |e: Event| {
            let Event::Connection { connection, packet, .. } = e else { unreachable!() };
            seen.push((connection.0, packet));
        });
        // Run ids: w0#1 → 1, w1#1 → 2, w1#2 → 3, w0#2 → 4.
        assert_eq!(seen, [(1, 0), (2, 1), (3, 3), (4, 4), (3, 52), (1, 50), (2, 53), (4, 51)]);
        assert_eq!(max, (5, 4));
    }

    /// A connection that the same segment evicts right after another opened (the memory
    /// budget) was open when one table counted: the merger counts it too.
    #[test]
    fn connections_closed_after_an_insertion_in_the_same_step_count_as_open() {
        let (tx, rx) = sync_channel(4);
        tx.send(whole(vec![
            Out::Open(0, 1),
            Out::Inserted(0, STAGE_SEGMENT, 1, 0),
            Out::Open(1, 2),
            Out::Closed(1, STAGE_SEGMENT, 1),
            Out::Inserted(1, STAGE_SEGMENT, 2, 1),
        ]))
        .expect("send");
        drop(tx);
        assert_eq!(merge(&[rx], &[], &mut |_: Event| {}), (2, 2));
    }
}
