//! Sharded analysis of capture files (`--threads N`): the packet reader and the connection table
//! run on one thread, the analyzers of the connections on N worker threads (connection id modulo
//! N), and the calling thread merges their events back into exactly the order one thread
//! produces, so the output is byte-for-byte that of a single-threaded run.
//!
//! How the order is kept: the reading thread numbers every stream event it forwards (a global
//! key) and sends them in *rounds*: every worker receives its part of every round, empty or not,
//! in the same order. A worker answers each round with the events it produced, each tagged with
//! the key of the stream event that caused it. The merger takes one answer per worker per round
//! and emits them by key; the events of one key all come from one worker, already in order.
//! Every channel is bounded, so memory stays bounded by a few rounds per worker.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use crate::analyzer::{Analyzer, AnalyzerConfig, AnalyzerStats};
use crate::capture::PacketSource;
use crate::error::Error;
use crate::event::{Event, EventSink};
use crate::limits::TcpLimits;
use crate::pipeline::{self, RunSummary, Stop};
use crate::tcp::{
    Anomaly, CloseReason, ConnId, ConnInfo, DirStats, Direction, GapReason, PacketRef, StreamEvent,
    StreamSink,
};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// A round is sent when the bytes or the stream events waiting for the workers reach these.
///
/// The merger holds a whole round's events at a time, so a round's *output* is what memory
/// depends on. Without payloads (the report) that is small whatever the input; with payloads it
/// is at most the round's stream bytes inflated (deflate expands at most ~1,032×, and each
/// message is cut at `--max-message-size`), so rounds are 8× smaller then: at most ≈ 66 MB of
/// payload per round in the worst case, for about 10 % of `export --threads` speed.
const ROUND_BYTES: usize = 512 << 10;
const ROUND_BYTES_WITH_PAYLOADS: usize = 64 << 10;
const ROUND_JOBS: usize = 4096;
/// Rounds queued per worker, in each direction.
const QUEUE: usize = 2;

/// Reads `source` with the connection table on a new thread, analyses connections on `threads`
/// worker threads, and pushes the merged events into `sink` on the calling thread.
pub fn drive<S: EventSink>(
    source: &mut (dyn PacketSource + Send),
    limits: &TcpLimits,
    stop: &Stop,
    cfg: &AnalyzerConfig,
    threads: usize,
    sink: &mut S,
) -> Result<(RunSummary, AnalyzerStats), Error> {
    let bytes = if cfg.keep_payloads { ROUND_BYTES_WITH_PAYLOADS } else { ROUND_BYTES };
    drive_rounds(source, limits, stop, cfg, threads, (bytes, ROUND_JOBS), sink)
}

/// [`drive`] with rounds of at most `round` (bytes, stream events).
fn drive_rounds<S: EventSink>(
    source: &mut (dyn PacketSource + Send),
    limits: &TcpLimits,
    stop: &Stop,
    cfg: &AnalyzerConfig,
    threads: usize,
    round: (usize, usize),
    sink: &mut S,
) -> Result<(RunSummary, AnalyzerStats), Error> {
    let threads = threads.max(1);
    std::thread::scope(|scope| {
        let mut to_workers = Vec::with_capacity(threads);
        let mut from_workers = Vec::with_capacity(threads);
        let mut workers = Vec::with_capacity(threads);
        // Workers hand their emptied rounds back for reuse (no fresh buffers per round).
        let (spent_tx, spent_rx) = std::sync::mpsc::channel::<Round>();
        for i in 0..threads {
            let (job_tx, job_rx) = sync_channel::<Round>(QUEUE);
            let spent_tx = spent_tx.clone();
            let (event_tx, event_rx) = sync_channel::<Vec<(u64, Event)>>(QUEUE);
            let cfg = cfg.clone();
            let worker = std::thread::Builder::new()
                .name(format!("wsscope-shard-{i}"))
                .spawn_scoped(scope, move || work(job_rx, event_tx, spent_tx, cfg))
                // The workers started so far see their channels close and end; the scope joins
                // them.
                .map_err(|source| Error::Thread { what: format!("worker thread {i}"), source })?;
            to_workers.push(job_tx);
            from_workers.push(event_rx);
            workers.push(worker);
        }
        let reader = std::thread::Builder::new()
            .name("wsscope-reader".into())
            .spawn_scoped(scope, move || {
                let mut dispatch = Dispatch::new(to_workers, round);
                dispatch.spent = Some(spent_rx);
                dispatch.stop = Some(stop);
                let summary = pipeline::drive(source, limits, stop, &mut dispatch);
                dispatch.send_round();
                summary
            })
            .map_err(|source| Error::Thread { what: "the reader thread".into(), source })?;
        merge(&from_workers, sink);
        // The merge ends early only if a worker is gone (it panicked): let the other workers
        // fail their sends and end, so the reader fails its sends and stops; the panic is
        // raised below when that worker is joined.
        drop(from_workers);
        let summary = reader.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        let mut stats = AnalyzerStats::default();
        for w in workers {
            let s = w.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            stats.add(&s);
        }
        Ok((summary, stats))
    })
}

/// A stream event the analyzer handles, owning what it borrowed (payload bytes live in the
/// round's buffer).
enum Job {
    Open(ConnInfo),
    Data {
        conn: ConnId,
        dir: Direction,
        offset: u64,
        seq: u32,
        start: usize,
        len: usize,
        at: PacketRef,
    },
    Gap {
        conn: ConnId,
        dir: Direction,
        offset: u64,
        len: u64,
        seq: u32,
        reason: GapReason,
        at: PacketRef,
    },
    Anomaly {
        conn: ConnId,
        dir: Direction,
        anomaly: Anomaly,
        at: PacketRef,
    },
    Pending {
        conn: ConnId,
        dir: Direction,
        since: Option<PacketRef>,
        at: PacketRef,
    },
    Close {
        conn: ConnId,
        reason: CloseReason,
        stats: [DirStats; 2],
        at: PacketRef,
    },
}

impl Job {
    fn event<'a>(&'a self, bytes: &'a [u8]) -> StreamEvent<'a> {
        match *self {
            Job::Open(ref info) => StreamEvent::Open(info),
            Job::Data { conn, dir, offset, seq, start, len, at } => {
                StreamEvent::Data { conn, dir, offset, seq, data: &bytes[start..start + len], at }
            }
            Job::Gap { conn, dir, offset, len, seq, reason, at } => {
                StreamEvent::Gap { conn, dir, offset, len, seq, reason, at }
            }
            Job::Anomaly { conn, dir, anomaly, at } => {
                StreamEvent::Anomaly { conn, dir, anomaly, at }
            }
            Job::Pending { conn, dir, since, at } => StreamEvent::Pending { conn, dir, since, at },
            Job::Close { conn, reason, ref stats, at } => {
                StreamEvent::Close { conn, reason, stats, at }
            }
        }
    }
}

/// One worker's part of a round: keyed jobs and the bytes their data refers to.
#[derive(Default)]
struct Round {
    jobs: Vec<(u64, Job)>,
    bytes: Vec<u8>,
}

/// The stream sink on the reading thread: gives each stream event a key and queues it for the
/// worker that owns its connection.
struct Dispatch<'s> {
    to_workers: Vec<SyncSender<Round>>,
    rounds: Vec<Round>,
    key: u64,
    bytes: usize,
    jobs: usize,
    /// A round is sent when `bytes` or `jobs` reach these.
    limit: (usize, usize),
    /// Rounds the workers are done with, to reuse.
    spent: Option<Receiver<Round>>,
    /// Asked to stop reading once a worker is gone.
    stop: Option<&'s Stop>,
}

impl Dispatch<'_> {
    fn new(to_workers: Vec<SyncSender<Round>>, limit: (usize, usize)) -> Self {
        let rounds = to_workers.iter().map(|_| Round::default()).collect();
        Dispatch { to_workers, rounds, key: 0, bytes: 0, jobs: 0, limit, spent: None, stop: None }
    }

    /// Sends every worker its part of the round (empty parts too: they keep the merge in step).
    fn send_round(&mut self) {
        for (tx, round) in self.to_workers.iter().zip(&mut self.rounds) {
            // A spent round's buffers if one is back, else buffers as large as this round's.
            let next =
                self.spent.as_ref().and_then(|r| r.try_recv().ok()).unwrap_or_else(|| Round {
                    jobs: Vec::with_capacity(round.jobs.len()),
                    bytes: Vec::with_capacity(round.bytes.len()),
                });
            // A worker that is gone has panicked (or the merge did): stop reading; the panic is
            // raised when that thread is joined.
            if tx.send(std::mem::replace(round, next)).is_err()
                && let Some(stop) = self.stop
            {
                stop.request();
            }
        }
        (self.bytes, self.jobs) = (0, 0);
    }

    fn queue(&mut self, conn: ConnId, job: impl FnOnce(&mut Vec<u8>) -> Job) {
        let n = self.rounds.len() as u64;
        let round = &mut self.rounds[(conn.0 % n) as usize];
        let before = round.bytes.len();
        let job = job(&mut round.bytes);
        self.bytes += round.bytes.len() - before;
        round.jobs.push((self.key, job));
        self.key += 1;
        self.jobs += 1;
        if self.bytes >= self.limit.0 || self.jobs >= self.limit.1 {
            self.send_round();
        }
    }
}

impl StreamSink for Dispatch<'_> {
    fn on_stream_event(&mut self, event: StreamEvent<'_>) {
        match event {
            StreamEvent::Open(info) => self.queue(info.id, |_| Job::Open(info.clone())),
            StreamEvent::Data { conn, dir, offset, seq, data, at } => self.queue(conn, |bytes| {
                let start = bytes.len();
                bytes.extend_from_slice(data);
                Job::Data { conn, dir, offset, seq, start, len: data.len(), at }
            }),
            StreamEvent::Gap { conn, dir, offset, len, seq, reason, at } => {
                self.queue(conn, |_| Job::Gap { conn, dir, offset, len, seq, reason, at })
            }
            StreamEvent::Anomaly {
                conn,
                dir,
                anomaly:
                    anomaly @ (Anomaly::RetransmissionMismatch { .. }
                    | Anomaly::LateData { .. }
                    | Anomaly::AckBeforeData { .. }),
                at,
            } => self.queue(conn, |_| Job::Anomaly { conn, dir, anomaly, at }),
            StreamEvent::Pending { conn, dir, since, at } => {
                self.queue(conn, |_| Job::Pending { conn, dir, since, at })
            }
            StreamEvent::Close { conn, reason, stats, at } => {
                self.queue(conn, |_| Job::Close { conn, reason, stats: *stats, at })
            }
            // The analyzer ignores these (see `Analyzer::on_stream_event`).
            StreamEvent::Anomaly { .. } | StreamEvent::Fin { .. } | StreamEvent::Rst { .. } => {}
        }
    }
}

/// Collects a worker's events with the key of the stream event being analysed.
#[derive(Default)]
struct Keyed {
    key: u64,
    events: Vec<(u64, Event)>,
}

impl EventSink for Keyed {
    fn event(&mut self, event: Event) {
        self.events.push((self.key, event));
    }
}

/// A worker: analyses the connections of its shard, one round at a time.
fn work(
    rounds: Receiver<Round>,
    out: SyncSender<Vec<(u64, Event)>>,
    spent: std::sync::mpsc::Sender<Round>,
    cfg: AnalyzerConfig,
) -> AnalyzerStats {
    let mut analyzer = Analyzer::new(cfg, Keyed::default());
    for mut round in rounds {
        for (key, job) in &round.jobs {
            analyzer.sink_mut().key = *key;
            analyzer.on_stream_event(job.event(&round.bytes));
        }
        round.jobs.clear();
        round.bytes.clear();
        // The reader may have finished; then the round is simply dropped.
        let _ = spent.send(round);
        if out.send(std::mem::take(&mut analyzer.sink_mut().events)).is_err() {
            break;
        }
    }
    analyzer.stats()
}

/// Takes one answer per worker per round and emits their events by key.
fn merge<S: EventSink>(from_workers: &[Receiver<Vec<(u64, Event)>>], sink: &mut S) {
    let mut parts = Vec::with_capacity(from_workers.len());
    loop {
        parts.clear();
        for rx in from_workers {
            match rx.recv() {
                Ok(events) => parts.push(events.into_iter().peekable()),
                // Every worker ends after the same last round (or one panicked).
                Err(_) => return,
            }
        }
        loop {
            let next = parts
                .iter_mut()
                .enumerate()
                .filter_map(|(i, p)| p.peek().map(|(key, _)| (*key, i)))
                .min();
            let Some((_, i)) = next else { break };
            if let Some((_, event)) = parts[i].next() {
                sink.event(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_reaches_every_worker_even_when_empty() {
        let (tx0, rx0) = sync_channel(4);
        let (tx1, rx1) = sync_channel(4);
        let mut d = Dispatch::new(vec![tx0, tx1], (ROUND_BYTES, ROUND_JOBS));
        d.on_stream_event(StreamEvent::Gap {
            conn: ConnId(3),
            dir: Direction::ClientToServer,
            offset: 0,
            len: 5,
            seq: 0,
            reason: GapReason::Lost,
            at: PacketRef::default(),
        });
        d.send_round();
        let (r0, r1) = (rx0.recv().expect("round 0"), rx1.recv().expect("round 1"));
        assert_eq!((r0.jobs.len(), r1.jobs.len()), (0, 1));
        assert_eq!(r1.jobs[0].0, 0);
    }

    /// Every event, in order, as one thread produces it and as `threads` workers with rounds of
    /// `round` produce it.
    fn events(
        path: &str,
        threads: Option<(usize, (usize, usize))>,
    ) -> (Vec<String>, AnalyzerStats) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        let mut source = crate::capture::FileSource::open(&path, None).expect("a test capture");
        let (limits, stop) = (TcpLimits::default(), Stop::new(None));
        let cfg =
            AnalyzerConfig { emit_frames: true, announce_tcp: true, ..AnalyzerConfig::default() };
        let mut out = crate::analyzer::Collect::default();
        let stats = match threads {
            Some((n, round)) => {
                drive_rounds(&mut source, &limits, &stop, &cfg, n, round, &mut out).unwrap().1
            }
            None => {
                let mut a = Analyzer::new(cfg, crate::analyzer::Collect::default());
                pipeline::drive(&mut source, &limits, &stop, &mut a);
                let stats = a.stats();
                out = a.into_sink();
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
            let (want, want_stats) = events(capture, None);
            assert!(want.len() > 2, "{capture}: {} events", want.len());
            for threads in [1, 2, 3, 5] {
                for round in [(1, 1), (1000, 3), (ROUND_BYTES, ROUND_JOBS)] {
                    let (got, stats) = events(capture, Some((threads, round)));
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
    fn a_worker_that_is_gone_stops_the_reader() {
        let (tx0, rx0) = sync_channel(4);
        let (tx1, rx1) = sync_channel::<Round>(4);
        drop(rx1); // worker 1 panicked
        let stop = Stop::new(None);
        let mut d = Dispatch::new(vec![tx0, tx1], (ROUND_BYTES, ROUND_JOBS));
        d.stop = Some(&stop);
        d.send_round();
        assert!(stop.is_requested());
        assert!(rx0.recv().is_ok(), "the live worker still got its round");
    }

    #[test]
    fn the_merge_ends_when_a_worker_is_gone() {
        let (tx0, rx0) = sync_channel::<Vec<(u64, Event)>>(4);
        let (tx1, rx1) = sync_channel::<Vec<(u64, Event)>>(4);
        tx0.send(Vec::new()).expect("send");
        drop(tx1);
        let mut n = 0;
        merge(&[rx0, rx1], &mut |_: Event| n += 1);
        assert_eq!(n, 0);
        drop(tx0);
    }

    #[test]
    fn the_merge_orders_events_by_key_across_workers() {
        let (tx0, rx0) = sync_channel(4);
        let (tx1, rx1) = sync_channel(4);
        let addr: std::net::SocketAddr = "127.0.0.1:80".parse().expect("address");
        let ev = |n: u64| Event::Connection {
            connection: ConnId(n),
            client: addr,
            server: addr,
            community_id: crate::tcp::CommunityId::tcp(addr, addr, 0),
            role: crate::tcp::RoleSource::Syn,
            packet: n,
            ts: Default::default(),
        };
        tx0.send(vec![(0, ev(0)), (3, ev(3)), (3, ev(4))]).expect("send");
        tx1.send(vec![(1, ev(1)), (2, ev(2)), (5, ev(5))]).expect("send");
        tx0.send(vec![(7, ev(7))]).expect("send");
        tx1.send(vec![(6, ev(6))]).expect("send");
        drop((tx0, tx1));
        let mut seen = Vec::new();
        merge(&[rx0, rx1], &mut |e: Event| seen.push(e.connection().0));
        assert_eq!(seen, [0, 1, 2, 3, 4, 5, 6, 7]);
    }
}
