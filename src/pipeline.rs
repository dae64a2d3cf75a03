//! Wires a packet source through the decoder and the stream engine into a sink.
//!
//! File mode runs on one thread with no channels, so its output is deterministic.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use crate::capture::{
    CaptureStats, EndOfInput, FileSource, LiveSource, Next, PacketSource, QueuedSource,
};
use crate::config::{Input, Source};
use crate::error::Error;
use crate::limits::TcpLimits;
use crate::packet::{Decoded, PacketDecoder, PacketStats, Segment};
use crate::tcp::{Origin, PacketRef, StreamSink, Table, TableStats};
use crate::time::Timestamp;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What a run saw, besides the events.
#[derive(Clone, Debug, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSummary {
    /// How the input ended.
    pub end_of_input: EndOfInput,
    /// Packet decoding counters.
    pub packets: PacketStats,
    /// Connection table counters.
    pub tcp: TableStats,
    /// libpcap's counters (live capture).
    pub capture: CaptureStats,
    /// What the memory budget did (the run so far, every input and thread).
    pub memory: crate::memory::MemoryStats,
    /// The time of the first packet read, in ISO 8601 (UTC); null before any.
    pub first_packet_utc: Option<String>,
    /// The time of the last packet read, in ISO 8601 (UTC); null before any.
    pub last_packet_utc: Option<String>,
    /// The times of the first and last packets read (not written: the strings above are).
    #[serde(skip)]
    #[schemars(skip)]
    pub span: Option<(Timestamp, Timestamp)>,
}

/// Opens the source described by `source`: a file, or live interfaces each read on its own
/// thread ([`QueuedSource`]); with `-w`, what is read is also saved.
pub fn open(source: &Source) -> Result<Box<dyn PacketSource + Send>, Error> {
    let filter = source.filter.as_deref();
    match &source.input {
        Input::File(path) => tee(source, Box::new(FileSource::open(path, filter)?)),
        Input::Joined(paths) => tee(source, Box::new(crate::capture::Joined::open(paths, filter)?)),
        Input::Live { interfaces, options } => {
            let mut opened: Vec<Box<dyn PacketSource + Send>> = Vec::new();
            for i in interfaces {
                opened.push(Box::new(LiveSource::open(i, filter, options)?));
            }
            // One interface: its capture thread saves what libpcap delivers, whether or not
            // the analysis keeps up (as tcpdump -w). Several: their packets are saved in the
            // order the analysis reads them.
            if opened.len() == 1 {
                let opened =
                    opened.into_iter().map(|p| tee(source, p)).collect::<Result<_, _>>()?;
                return Ok(Box::new(QueuedSource::start(opened, options.queue_bytes)?));
            }
            tee(source, Box::new(QueuedSource::start(opened, options.queue_bytes)?))
        }
    }
}

/// Wraps `packets` so that they are saved to `-w`'s file, when asked.
fn tee(
    source: &Source,
    mut packets: Box<dyn PacketSource + Send>,
) -> Result<Box<dyn PacketSource + Send>, Error> {
    // Only a pcapng -w file keeps the input's TLS secrets.
    let pcapng = |p: &std::path::Path| {
        use crate::capture::savefile::Format;
        Format::for_path(p) == Format::Pcapng
    };
    if !source.write.as_ref().is_some_and(|w| pcapng(&w.path)) {
        packets.no_secrets_wanted();
    }
    Ok(match &source.write {
        // Stopped by a signal before the input's file header arrived: nothing to save (a pcap
        // file needs the link type).
        Some(_) if packets.link_types().is_empty() && crate::signals::received().is_some() => {
            packets
        }
        Some(save) => {
            // Like tcpdump -w, but never over an input, through a link, or (without --force)
            // over an existing file.
            let protected = crate::outfile::Protected::inputs(std::slice::from_ref(source));
            let tee = crate::capture::TeeSource::new(packets, save, protected, source.force)?;
            Box::new(tee.with_limit(source.max_packets))
        }
        None => packets,
    })
}

/// How often a live capture emits its counters ([`crate::event::Stats`]).
const STATS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The counters of a live run now.
fn live_stats(
    started: std::time::Instant,
    bytes: u64,
    decoder: &PacketDecoder,
    (open, connections): (u64, u64),
    c: CaptureStats,
    limits: &TcpLimits,
) -> crate::event::Stats {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let p = decoder.stats();
    crate::event::Stats {
        ts: crate::time::Timestamp::from_secs_nanos(
            now.as_secs() as i64,
            i64::from(now.subsec_nanos()),
        ),
        // Whole microseconds over 10^6, both exact: the float whose shortest form is that
        // decimal (`2.833421`, not `2.8334207129999998`).
        elapsed: started.elapsed().as_micros() as f64 / 1e6,
        packets: p.packets,
        bytes,
        received: c.received,
        dropped: c.dropped,
        if_dropped: c.if_dropped,
        queue_dropped: c.queue_dropped,
        undecoded: p.malformed,
        open_connections: open,
        connections,
        memory_used: limits.memory.used() as u64,
        memory_budget: limits.memory.budget() as u64,
    }
}

/// When to stop reading before the input ends: a request (a failed output, `--count`), a
/// deadline (`--duration`), or a signal ([`crate::signals`]). Shared with the threads that
/// read it.
#[derive(Default)]
pub struct Stop {
    requested: AtomicBool,
    /// Stop after this many packets.
    pub max_packets: Option<u64>,
    /// Stop at this wall-clock time (live capture: seen at the next packet or read timeout).
    pub deadline: Option<std::time::Instant>,
    /// Progress for a display thread: packets and captured bytes read so far.
    pub packets_read: AtomicU64,
    /// Captured bytes read so far (plus 16 per record header, as in a pcap file).
    pub bytes_read: AtomicU64,
    /// Packets libpcap dropped so far (live capture; buffer plus interface drops).
    pub pcap_dropped: AtomicU64,
    /// Packets dropped so far because the analysis had not kept up (live capture).
    pub queue_dropped: AtomicU64,
    /// Packets that could not be decoded so far (the reasons are in the run's summary).
    pub undecoded: AtomicU64,
}

impl Stop {
    /// Stops after `max_packets` packets, or when asked.
    pub fn new(max_packets: Option<u64>) -> Self {
        Stop { max_packets, ..Default::default() }
    }

    /// Asks the running [`drive`] to stop (a live read sees it within its 100 ms wait).
    pub fn request(&self) {
        self.requested.store(true, Ordering::Relaxed);
    }

    /// True once a stop was asked for, the deadline passed or a signal came.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
            || crate::signals::received().is_some()
            || self.deadline.is_some_and(|d| std::time::Instant::now() >= d)
    }
}

/// The end of an input whose run was stopped, saying why: a signal, `--count`, `--duration`, or
/// (an output that failed, a worker gone, the TUI quit) just when.
/// What a stopped live capture's end says when one of its interfaces had ended before.
pub const INTERFACE_ENDED: &str = "; an interface had ended early: ";

fn stopped(stop: &Stop) -> EndOfInput {
    let packets = stop.packets_read.load(Ordering::Relaxed);
    let why = if let Some(sig) = crate::signals::received() {
        format!("by {}", crate::signals::name(sig))
    } else if let Some(max) = stop.max_packets.filter(|&m| packets >= m) {
        format!("at --count {max}")
    } else if stop.deadline.is_some_and(|d| std::time::Instant::now() >= d) {
        "at --duration".to_string()
    } else {
        String::new()
    };
    let why = if why.is_empty() { why } else { format!(" {why}") };
    EndOfInput::Stopped { message: format!("stopped{why} after {packets} packets") }
}

/// What the reader hands decoded segments to: a connection table feeding a sink on the same
/// thread ([`drive`]), or the workers of a sharded run ([`crate::shard`]).
pub trait Tracker {
    /// One TCP segment, captured at `at`.
    fn segment(&mut self, seg: &Segment<'_>, at: PacketRef);
    /// Live capture, no packet for a while: packet time goes on to `now`.
    fn advance_time(&mut self, now: Timestamp);
    /// Live capture counters, about once a second.
    fn stats(&mut self, stats: &crate::event::Stats);
    /// (open connections, connections seen), as far as known now.
    fn counts(&self) -> (u64, u64);
    /// The input ended: every open connection is flushed. The table's counters.
    fn finish(&mut self) -> TableStats;
}

/// A connection table pushing stream events into a sink.
struct Local<'s, S> {
    table: Table,
    sink: &'s mut S,
}

impl<S: StreamSink> Tracker for Local<'_, S> {
    fn segment(&mut self, seg: &Segment<'_>, at: PacketRef) {
        self.table.on_segment(seg, at, self.sink);
    }
    fn advance_time(&mut self, now: Timestamp) {
        self.table.advance_time(now, self.sink);
    }
    fn stats(&mut self, stats: &crate::event::Stats) {
        self.sink.on_stats(stats);
    }
    fn counts(&self) -> (u64, u64) {
        (self.table.open_now(), self.table.stats().connections)
    }
    fn finish(&mut self) -> TableStats {
        self.table.finish(self.sink);
        self.table.stats()
    }
}

/// Reads every packet of `source`, pushing stream events into `sink`, until the input ends or
/// `stop` says so; then flushes every open connection.
pub fn drive<S: StreamSink>(
    source: &mut dyn PacketSource,
    limits: &TcpLimits,
    stop: &Stop,
    sink: &mut S,
) -> RunSummary {
    let mut table = Table::new(limits.clone());
    table.set_input_file(source.reread());
    let mut local = Local { table, sink };
    drive_tracker(source, limits, stop, &mut local)
}

/// [`drive`] into any [`Tracker`]: reads and decodes packets, hands TCP segments on.
pub fn drive_tracker<T: Tracker>(
    source: &mut dyn PacketSource,
    limits: &TcpLimits,
    stop: &Stop,
    tracker: &mut T,
) -> RunSummary {
    let mut decoder = PacketDecoder::new(limits);
    let mut read_bytes = 0u64;
    // While a live capture waits for packets, packet time goes on with the wall clock from the
    // last packet's time, so holes waiting in the reorder window and idle connections are settled
    // without a packet (live output waits at most the window). The wall clock is read only on
    // read timeouts (counted from the first one after a packet, a little late, never early).
    let mut last_ts: Option<Timestamp> = None;
    let mut first_ts: Option<Timestamp> = None;
    let mut waiting_since: Option<std::time::Instant> = None;
    // Live capture: counters for the display thread and `stats` events, about once a second.
    let live = source.is_live();
    let started = std::time::Instant::now();
    let mut stats_at = started;
    // Stopped (a signal, --duration): a live capture still analyses what it captured before;
    // the capture threads end once they have handed it over. Files, and --count, stop at once.
    let mut draining = false;
    let end = loop {
        if stop.is_requested() {
            let counted =
                stop.max_packets.is_some_and(|m| stop.packets_read.load(Ordering::Relaxed) >= m);
            if !live || counted {
                break stopped(stop);
            }
            if !draining {
                source.stop();
                draining = true;
            }
        }
        let mut poll;
        match source.next_packet() {
            Next::Packet(p) => {
                if stop.max_packets.is_some_and(|max| p.number >= max) {
                    stop.request();
                }
                read_bytes += p.data.len() as u64 + 16;
                // Relaxed stores to counters only this thread writes: the display reads them
                // whenever it draws, every packet counted.
                stop.packets_read.store(p.number, Ordering::Relaxed);
                stop.bytes_read.store(read_bytes, Ordering::Relaxed);
                poll = p.number % 1024 == 0;
                if let Ok(Decoded::Tcp(mut seg)) = decoder.decode(p.link, p.data, p.ts) {
                    // A payload decoded from a reassembled IP datagram lies outside the packet.
                    seg.file_offset =
                        Origin::of(p.data, p.file_offset).and_then(|o| o.locate(seg.payload));
                    tracker.segment(&seg, PacketRef::new(p.ts, p.number));
                }
                last_ts = Some(p.ts);
                first_ts.get_or_insert(p.ts);
                waiting_since = None;
            }
            Next::Timeout => {
                poll = true;
                if let Some(ts) = last_ts {
                    let since = *waiting_since.get_or_insert_with(std::time::Instant::now);
                    tracker.advance_time(ts.saturating_add(since.elapsed()));
                }
            }
            // A live source asked to stop ends its input once its capture threads are done.
            Next::End(_) if stop.is_requested() && !draining => break stopped(stop),
            // A live source drained after a stop: the capture was stopped, not at an end, even
            // when one of several interfaces had ended early (it is said).
            Next::End(EndOfInput::Clean) if draining => break stopped(stop),
            Next::End(EndOfInput::Truncated { message }) if draining => {
                break match stopped(stop) {
                    EndOfInput::Stopped { message: m } => {
                        EndOfInput::Stopped { message: format!("{m}{INTERFACE_ENDED}{message}") }
                    }
                    other => other,
                };
            }
            Next::End(e) => break e,
        }
        // Live capture: at every new batch too, so that a steady trickle of packets (no read
        // timeout, fewer than 1024 packets a second) still gives a `stats` event each second.
        poll = poll || live && source.new_batch();
        if poll {
            stop.undecoded.store(decoder.stats().malformed, Ordering::Relaxed);
            let c = source.capture_stats();
            stop.pcap_dropped.store(c.dropped + c.if_dropped, Ordering::Relaxed);
            stop.queue_dropped.store(c.queue_dropped, Ordering::Relaxed);
            if live && stats_at.elapsed() >= STATS_EVERY {
                // On a fixed schedule: restarted at each emission, the interval drifted by up
                // to a read timeout each time (1.0, 2.07, 3.09, 4.19 s); a run that fell a whole
                // interval behind starts again from now.
                stats_at += STATS_EVERY;
                if stats_at.elapsed() >= STATS_EVERY {
                    stats_at = std::time::Instant::now();
                }
                let stats = live_stats(started, read_bytes, &decoder, tracker.counts(), c, limits);
                tracker.stats(&stats);
            }
        }
    };
    source.stop();
    source.settle();
    stop.bytes_read.store(read_bytes, Ordering::Relaxed);
    stop.packets_read.store(decoder.stats().packets, Ordering::Relaxed);
    stop.undecoded.store(decoder.stats().malformed, Ordering::Relaxed);
    let tcp = tracker.finish();
    RunSummary {
        end_of_input: end,
        packets: decoder.stats(),
        tcp,
        capture: source.capture_stats(),
        memory: limits.memory.stats(),
        first_packet_utc: first_ts.map(crate::timefmt::iso8601_exact),
        last_packet_utc: last_ts.map(crate::timefmt::iso8601_exact),
        span: first_ts.zip(last_ts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::RawPacket;
    use crate::packet::LinkType;
    use crate::tcp::{GapReason, StreamEvent};
    use crate::time::Timestamp;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    /// A live-like source: its packets, then read timeouts (each after a short sleep).
    struct Scripted {
        packets: Vec<Vec<u8>>,
        next: usize,
        timeouts: usize,
        ended: Arc<AtomicBool>,
    }

    impl PacketSource for Scripted {
        fn link_types(&self) -> Vec<LinkType> {
            vec![LinkType::RAW]
        }

        fn next_packet(&mut self) -> Next<'_> {
            if let Some(p) = self.packets.get(self.next) {
                self.next += 1;
                let ts = Timestamp::from_secs_nanos(1_700_000_000, self.next as i64 * 1_000_000);
                let number = self.next as u64;
                return Next::Packet(RawPacket {
                    number,
                    ts,
                    wire_len: p.len() as u32,
                    data: p,
                    link: LinkType::RAW,
                    iface: None,
                    secrets: &[],
                    file_offset: None,
                });
            }
            if self.timeouts > 0 {
                self.timeouts -= 1;
                std::thread::sleep(Duration::from_millis(20));
                return Next::Timeout;
            }
            self.ended.store(true, Ordering::Relaxed);
            Next::End(EndOfInput::Clean)
        }

        fn capture_stats(&mut self) -> CaptureStats {
            CaptureStats::default()
        }
    }

    fn segment(from_client: bool, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
        let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
        let (src, dst, sp, dp) =
            if from_client { (a, b, 40000, 8080) } else { (b, a, 8080, 40000) };
        let builder = etherparse::PacketBuilder::ipv4(src, dst, 64).tcp(sp, dp, seq, 1000).ack(ack);
        let mut out = Vec::new();
        builder.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn live_read_timeouts_let_the_reorder_window_close_without_another_packet() {
        let ended = Arc::new(AtomicBool::new(false));
        let mut source = Scripted {
            packets: vec![
                segment(true, 1001, 5001, b"aaaa"),
                // The server acknowledged 1005..1009, which the capture lost; more bytes follow.
                segment(false, 5001, 1009, b""),
                segment(true, 1009, 5001, b"cccc"),
            ],
            next: 0,
            timeouts: 100,
            ended: Arc::clone(&ended),
        };
        let limits =
            TcpLimits { reorder_window: Duration::from_millis(300), ..TcpLimits::default() };
        let mut gap_while_live = None;
        drive(&mut source, &limits, &Stop::default(), &mut |e: StreamEvent<'_>| {
            if let StreamEvent::Gap { reason, .. } = e {
                gap_while_live.get_or_insert((reason, ended.load(Ordering::Relaxed)));
            }
        });
        assert_eq!(
            gap_while_live,
            Some((GapReason::Lost, false)),
            "the gap must be declared while the capture is still waiting for packets"
        );
    }

    /// A live capture whose packets trickle in, one batch each, never a read timeout.
    struct Trickle {
        sent: u64,
        packet: Vec<u8>,
        fresh: bool,
    }

    impl PacketSource for Trickle {
        fn link_types(&self) -> Vec<LinkType> {
            vec![LinkType::RAW]
        }

        fn next_packet(&mut self) -> Next<'_> {
            // 30 packets over 1.5 s: far fewer than 1024, and never idle for a read timeout.
            if self.sent == 30 {
                return Next::End(EndOfInput::Clean);
            }
            std::thread::sleep(Duration::from_millis(50));
            self.sent += 1;
            self.fresh = true;
            Next::Packet(RawPacket {
                number: self.sent,
                ts: Timestamp::from_secs_nanos(1_700_000_000, self.sent as i64 * 50_000_000),
                wire_len: self.packet.len() as u32,
                data: &self.packet,
                link: LinkType::RAW,
                iface: None,
                secrets: &[],
                file_offset: None,
            })
        }

        fn capture_stats(&mut self) -> CaptureStats {
            CaptureStats { received: self.sent, ..CaptureStats::default() }
        }

        fn is_live(&self) -> bool {
            true
        }

        fn new_batch(&mut self) -> bool {
            std::mem::take(&mut self.fresh)
        }
    }

    /// Counts `stats` events.
    #[derive(Default)]
    struct StatsSeen(Vec<crate::event::Stats>);

    impl crate::tcp::StreamSink for StatsSeen {
        fn on_stream_event(&mut self, _: StreamEvent<'_>) {}
        fn on_stats(&mut self, stats: &crate::event::Stats) {
            self.0.push(stats.clone());
        }
    }

    #[test]
    fn a_trickle_of_live_packets_still_gets_stats_every_second() {
        let mut source = Trickle { sent: 0, packet: segment(true, 1, 1, b"x"), fresh: false };
        let mut seen = StatsSeen::default();
        drive(&mut source, &TcpLimits::default(), &Stop::default(), &mut seen);
        let stats = seen.0.first().expect("a stats event within the 1.5 s the packets took");
        assert!(stats.elapsed >= 1.0, "{}", stats.elapsed);
        assert!(stats.packets >= 19 && stats.received == stats.packets, "{stats:?}");
        // Whole microseconds: no float noise in the text.
        let text = stats.elapsed.to_string();
        assert!(text.split('.').nth(1).is_none_or(|f| f.len() <= 6), "{text}");
    }

    #[test]
    fn an_input_stopped_before_its_end_says_why_and_one_read_to_its_end_is_clean() {
        let run = |stop: &Stop| {
            let mut source = Scripted {
                packets: (0..4).map(|i| segment(true, 1001 + i * 4, 5001, b"aaaa")).collect(),
                next: 0,
                timeouts: 0,
                ended: Arc::new(AtomicBool::new(false)),
            };
            drive(&mut source, &TcpLimits::default(), stop, &mut |_: StreamEvent<'_>| {})
                .end_of_input
        };
        assert_eq!(run(&Stop::default()), EndOfInput::Clean);
        assert_eq!(
            run(&Stop::new(Some(2))),
            EndOfInput::Stopped { message: "stopped at --count 2 after 2 packets".into() }
        );
        let asked = Stop::default();
        asked.request();
        assert_eq!(run(&asked), EndOfInput::Stopped { message: "stopped after 0 packets".into() });
        let late = Stop {
            deadline: Some(std::time::Instant::now() - Duration::from_millis(1)),
            ..Stop::default()
        };
        assert_eq!(
            run(&late),
            EndOfInput::Stopped { message: "stopped at --duration after 0 packets".into() }
        );
    }

    /// A live capture of several interfaces, one of which disappeared: once stopped, it ends
    /// as stopped, saying so (it ended as `truncated`, "the input ended early", though the other
    /// interfaces were captured to the stop).
    struct OneVanished;

    impl PacketSource for OneVanished {
        fn link_types(&self) -> Vec<LinkType> {
            vec![LinkType::RAW]
        }

        fn next_packet(&mut self) -> Next<'_> {
            Next::End(EndOfInput::Truncated {
                message: "-i v0: libpcap error: The interface disappeared".into(),
            })
        }

        fn capture_stats(&mut self) -> CaptureStats {
            CaptureStats::default()
        }

        fn is_live(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_stopped_live_capture_ends_stopped_and_names_an_interface_that_ended_early() {
        let stop = Stop { deadline: Some(std::time::Instant::now()), ..Stop::default() };
        stop.request();
        let end =
            drive(&mut OneVanished, &TcpLimits::default(), &stop, &mut |_: StreamEvent<'_>| {})
                .end_of_input;
        assert_eq!(
            end,
            EndOfInput::Stopped {
                message: "stopped at --duration after 0 packets; an interface had ended early: \
                          -i v0: libpcap error: The interface disappeared"
                    .into()
            }
        );
    }
}
