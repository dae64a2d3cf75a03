//! Tests of the stream engine on segments built in memory: one test per rule.

use super::*;
use crate::limits::TcpLimits;
use crate::packet::{Segment, TcpFlags};
use crate::time::Timestamp;
use proptest::prelude::*;
use std::time::Duration;

const C: &str = "10.0.0.1:40000";
const S: &str = "10.0.0.2:8080";
const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

/// Owned copy of a [`StreamEvent`].
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Open(u64, RoleSource),
    Data(u64, Direction, u64, Vec<u8>),
    Gap(u64, Direction, u64, u64, GapReason),
    Fin(u64, Direction, u64),
    Rst(u64, Direction),
    Anomaly(u64, Direction, Anomaly),
    Pending(u64, Direction, Option<u64>),
    Close(u64, CloseReason),
}

struct Harness {
    table: Table,
    events: Vec<Ev>,
    packet: u64,
    ts: Timestamp,
    /// The window scale option of the next SYN fed, and the window of every segment.
    wscale: Option<u8>,
    window: u16,
    /// As when reading a capture file: every payload is also written to a file, which the
    /// table may read back instead of copying it.
    input: Option<std::sync::Arc<Input>>,
    /// Every connection opened, with its `resume_mark` (the sink answers `10 + id` when asked).
    marks: Vec<(u64, u8)>,
    /// What the sink says of `keeps_searching`.
    searching: bool,
}

/// The sink of [`Harness::seg`]: records events, and answers `resume_mark` with `10 + id`.
struct Recorder<'a> {
    events: &'a mut Vec<Ev>,
    marks: &'a mut Vec<(u64, u8)>,
    /// Answer to `keeps_searching`.
    searching: bool,
}

impl StreamSink for Recorder<'_> {
    fn on_stream_event(&mut self, e: StreamEvent<'_>) {
        if let StreamEvent::Open(info) = &e {
            self.marks.push((info.id.0, info.resume_mark));
        }
        self.events.push(own(e));
    }

    fn resume_mark(&mut self, conn: ConnId) -> u8 {
        10u8.wrapping_add(conn.0 as u8)
    }

    fn keeps_searching(&self, _conn: ConnId) -> bool {
        self.searching
    }
}

/// The input "file" of a [`Harness`] that reads one: every payload fed, in order.
#[derive(Debug, Default)]
struct Input(std::sync::Mutex<Vec<u8>>);

impl Input {
    /// Appends `payload`; its offset.
    fn append(&self, payload: &[u8]) -> u64 {
        let mut bytes = self.0.lock().unwrap();
        let at = bytes.len() as u64;
        bytes.extend_from_slice(payload);
        at
    }
}

impl ReadBack for Input {
    fn read_back(&self, offset: u64, buf: &mut [u8]) -> bool {
        let bytes = self.0.lock().unwrap();
        match bytes.get(offset as usize..offset as usize + buf.len()) {
            Some(b) => {
                buf.copy_from_slice(b);
                true
            }
            None => false,
        }
    }
}

impl Harness {
    fn new() -> Self {
        Self::with_limits(TcpLimits::default())
    }

    fn with_limits(limits: TcpLimits) -> Self {
        Harness {
            table: Table::new(limits),
            events: Vec::new(),
            packet: 0,
            ts: Timestamp::from_secs_nanos(1000, 0),
            wscale: None,
            window: 65535,
            input: None,
            marks: Vec::new(),
            searching: false,
        }
    }

    /// A harness whose payloads come from an input file the table can read again.
    fn reading_a_file(limits: TcpLimits) -> Self {
        let input = std::sync::Arc::new(Input::default());
        let mut h = Self::with_limits(limits);
        h.table.set_input_file(Some(input.clone()));
        h.input = Some(input);
        h
    }

    /// Feeds one segment; `flags` uses tcpdump letters: S, F, R, P, and `.` for ACK.
    fn seg(&mut self, src: &str, dst: &str, seq: u32, ack: u32, flags: &str, payload: &[u8]) {
        self.seg_cut(src, dst, seq, ack, flags, payload, 0);
    }

    #[allow(clippy::too_many_arguments)]
    fn seg_cut(
        &mut self,
        src: &str,
        dst: &str,
        seq: u32,
        ack: u32,
        flags: &str,
        payload: &[u8],
        missing: u32,
    ) {
        self.packet += 1;
        self.ts = self.ts.saturating_add(Duration::from_millis(1));
        let seg = Segment {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            seq,
            ack,
            flags: TcpFlags {
                syn: flags.contains('S'),
                ack: flags.contains('.'),
                fin: flags.contains('F'),
                rst: flags.contains('R'),
                psh: flags.contains('P'),
            },
            window: self.window,
            wscale: if flags.contains('S') { self.wscale } else { None },
            payload,
            missing,
            file_offset: self.input.as_ref().map(|input| input.append(payload)),
        };
        let mut sink = Recorder {
            events: &mut self.events,
            marks: &mut self.marks,
            searching: self.searching,
        };
        self.table.on_segment(&seg, PacketRef::new(self.ts, self.packet), &mut sink);
    }

    fn wait(&mut self, d: Duration) {
        self.ts = self.ts.saturating_add(d);
    }

    /// Ends the input; the counters of the connections it closed.
    fn finish(&mut self) -> Vec<[DirStats; 2]> {
        let (events, mut closed) = (&mut self.events, Vec::new());
        self.table.finish(&mut |e: StreamEvent<'_>| {
            if let StreamEvent::Close { stats, .. } = &e {
                closed.push(**stats);
            }
            events.push(own(e))
        });
        closed
    }

    /// All bytes delivered for `dir` of connection `conn`, checking offsets are contiguous with gaps.
    fn stream(&self, conn: u64, dir: Direction) -> Vec<u8> {
        let mut out = Vec::new();
        let mut next = 0u64;
        for e in &self.events {
            match e {
                Ev::Data(c, d, off, data) if *c == conn && *d == dir => {
                    assert_eq!(*off, next, "data offsets must be contiguous");
                    out.extend_from_slice(data);
                    next += data.len() as u64;
                }
                Ev::Gap(c, d, off, len, _) if *c == conn && *d == dir => {
                    assert_eq!(*off, next, "gap offsets must be contiguous");
                    next += len;
                }
                _ => {}
            }
        }
        out
    }

    fn gaps(&self) -> Vec<Ev> {
        self.events.iter().filter(|e| matches!(e, Ev::Gap(..))).cloned().collect()
    }

    fn anomalies(&self) -> Vec<Ev> {
        self.events.iter().filter(|e| matches!(e, Ev::Anomaly(..))).cloned().collect()
    }

    fn closes(&self) -> Vec<Ev> {
        self.events.iter().filter(|e| matches!(e, Ev::Close(..))).cloned().collect()
    }

    fn opens(&self) -> Vec<Ev> {
        self.events.iter().filter(|e| matches!(e, Ev::Open(..))).cloned().collect()
    }

    /// SYN and SYN-ACK between `c` and `s` (ISNs 1000 and 5000), then "hi" from the client.
    fn said_hi(&mut self, c: &str, s: &str) {
        self.seg(c, s, 1000, 0, "S", b"");
        self.seg(s, c, 5000, 1001, "SA", b"");
        self.seg(c, s, 1001, 5001, ".", b"hi");
    }

    /// Another connection (10.0.0.3:40001) sends its segments `seqs` (a byte each), `every`
    /// apart (and 1 ms per segment): time passes while the connections under test say nothing.
    fn others_send(&mut self, seqs: std::ops::Range<u32>, every: Duration) {
        for i in seqs {
            self.wait(every);
            self.seg("10.0.0.3:40001", S, 7000 + i, 0, "", b"x");
        }
    }

    /// SYN, SYN-ACK, ACK with client ISN `ci` and server ISN `si`.
    fn handshake(&mut self, ci: u32, si: u32) {
        self.seg(C, S, ci, 0, "S", b"");
        self.seg(S, C, si, ci.wrapping_add(1), "S.", b"");
        self.seg(C, S, ci.wrapping_add(1), si.wrapping_add(1), ".", b"");
    }
}

/// The `i`th of many clients in 10.`net`.0.0/16, each with its own address and port.
fn nth_client(net: u8, i: u32) -> String {
    format!("10.{net}.{}.{}:{}", i / 250, i % 250, 1024 + i % 50_000)
}

fn own(e: StreamEvent<'_>) -> Ev {
    match e {
        StreamEvent::Open(i) => Ev::Open(i.id.0, i.role),
        StreamEvent::Data { conn, dir, offset, data, .. } => {
            Ev::Data(conn.0, dir, offset, data.to_vec())
        }
        StreamEvent::Gap { conn, dir, offset, len, reason, .. } => {
            Ev::Gap(conn.0, dir, offset, len, reason)
        }
        StreamEvent::Fin { conn, dir, offset, .. } => Ev::Fin(conn.0, dir, offset),
        StreamEvent::Rst { conn, dir, .. } => Ev::Rst(conn.0, dir),
        StreamEvent::Anomaly { conn, dir, anomaly, .. } => Ev::Anomaly(conn.0, dir, anomaly),
        StreamEvent::Pending { conn, dir, since, .. } => {
            Ev::Pending(conn.0, dir, since.map(|p| p.packet))
        }
        StreamEvent::Close { conn, reason, .. } => Ev::Close(conn.0, reason),
    }
}

#[test]
fn in_order_data_is_delivered_without_buffering() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".P", b"hello ");
    assert_eq!(h.table.buffered_bytes(), 0);
    h.seg(C, S, 1007, 5001, ".P", b"world");
    h.seg(S, C, 5001, 1012, ".P", b"ok");
    assert_eq!(h.stream(1, C2S), b"hello world");
    assert_eq!(h.stream(1, S2C), b"ok");
    assert_eq!(h.events[0], Ev::Open(1, RoleSource::Syn));
    assert!(h.gaps().is_empty());
}

#[test]
fn out_of_order_segments_are_delivered_in_order() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", b"aaaa");
    h.seg(C, S, 1009, 5001, ".", b"cccc");
    assert_eq!(h.table.buffered_bytes(), 4);
    h.seg(C, S, 1005, 5001, ".", b"bbbb");
    h.seg(C, S, 1013, 5001, ".", b"dddd");
    assert_eq!(h.stream(1, C2S), b"aaaabbbbccccdddd");
    assert_eq!(h.table.buffered_bytes(), 0);
}

#[test]
fn identical_retransmission_is_delivered_once() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", b"abcdef");
    h.seg(C, S, 1001, 5001, ".", b"abcdef");
    h.seg(C, S, 1007, 5001, ".", b"gh");
    assert_eq!(h.stream(1, C2S), b"abcdefgh");
    assert!(h.anomalies().is_empty());
}

#[test]
fn partial_overlap_delivers_only_the_new_bytes() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", b"abcdef");
    h.seg(C, S, 1004, 5001, ".", b"defghi");
    assert_eq!(h.stream(1, C2S), b"abcdefghi");
    assert!(h.anomalies().is_empty());
}

#[test]
fn conflicting_retransmission_of_delivered_bytes_is_reported_and_first_copy_wins() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", b"abcdef");
    h.seg(C, S, 1001, 5001, ".", b"abXdef");
    assert_eq!(h.stream(1, C2S), b"abcdef");
    assert_eq!(
        h.anomalies(),
        vec![Ev::Anomaly(1, C2S, Anomaly::RetransmissionMismatch { offset: 2, len: 1 })]
    );
}

#[test]
fn conflicting_partial_overlap_with_delivered_bytes_is_reported_exactly() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", b"0123456789");
    h.seg(C, S, 1011, 5001, ".", b"abcdefghij");
    h.seg(C, S, 1016, 5001, ".", b"XXXXXnew"); // overlaps "fghij" with different bytes
    assert_eq!(h.stream(1, C2S), b"0123456789abcdefghijnew");
    assert_eq!(
        h.anomalies(),
        vec![Ev::Anomaly(1, C2S, Anomaly::RetransmissionMismatch { offset: 15, len: 5 })]
    );
}

#[test]
fn bytes_the_history_total_keeps_out_are_counted() {
    // helper-53: --max-history-total acting was seen nowhere.
    let limits = TcpLimits { max_history_total: 8, ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", b"abcdef"); // kept: 6 of 8
    h.seg(C, S, 1007, 5001, ".", b"ghij"); // 6 + 4 > 8: not kept
    h.seg(C, S, 1001, 5001, ".", b"XXXXXX"); // history given up with it: not caught
    assert!(h.anomalies().is_empty());
    assert_eq!(h.table.stats().history_not_kept, 1);
}

#[test]
fn acknowledged_bytes_beyond_the_acked_tail_are_not_held_and_count_as_unverified() {
    let limits = TcpLimits { retransmission_history_acked: 2, ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", b"abcdef");
    h.seg(S, C, 5001, 1007, ".", b"");
    h.seg(C, S, 1001, 5001, ".", b"XXXXef"); // differs only where no longer held
    assert!(h.anomalies().is_empty());
    let mut stats = None;
    h.table.finish(&mut |e: StreamEvent<'_>| {
        if let StreamEvent::Close { stats: s, .. } = e {
            stats = Some(*s);
        }
    });
    let stats = stats.unwrap();
    assert_eq!(stats[0].retransmitted_bytes, 6);
    assert_eq!(stats[0].verified_retransmitted_bytes, 2);
}

#[test]
fn conflicting_retransmission_of_just_acknowledged_bytes_is_reported() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", b"abcdef");
    h.seg(S, C, 5001, 1007, ".", b"");
    h.seg(C, S, 1004, 5001, ".", b"XYZ");
    assert_eq!(
        h.anomalies(),
        vec![Ev::Anomaly(1, C2S, Anomaly::RetransmissionMismatch { offset: 3, len: 3 })]
    );
}

#[test]
fn conflicting_overlap_with_a_buffered_segment_is_reported_exactly() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1011, 5001, ".", b"KLMNOP"); // offsets 10..16, behind a hole
    h.seg(C, S, 1009, 5001, ".", b"jkXmn"); // offsets 8..13: "jk" is new, "Xmn" conflicts with "KLM"
    h.seg(C, S, 1001, 5001, ".", b"abcdefgh");
    assert_eq!(h.stream(1, C2S), b"abcdefghjkKLMNOP");
    assert_eq!(
        h.anomalies(),
        vec![Ev::Anomaly(1, C2S, Anomaly::RetransmissionMismatch { offset: 10, len: 3 })]
    );
}

#[test]
fn acked_hole_waits_for_its_bytes_within_the_reorder_window() {
    // A SPAN/TAP merge: the server's ACK and later client bytes are captured before the bytes
    // the ACK covers. They are not lost: they arrive within the window.
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", b"aaaa");
    h.seg(S, C, 5001, 1013, ".", b"");
    h.seg(C, S, 1009, 5001, ".", b"cccc");
    h.seg(C, S, 1005, 5001, ".", b"bbbb");
    assert!(h.gaps().is_empty());
    assert_eq!(h.stream(1, C2S), b"aaaabbbbcccc");
}

#[test]
fn acked_hole_becomes_lost_when_the_reorder_window_passes_in_capture_time() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", b"aaaa");
    // 1005..1009 lost by the capture; the server acknowledged it.
    h.seg(S, C, 5001, 1009, ".", b"");
    h.seg(C, S, 1009, 5001, ".", b"cccc");
    assert!(h.gaps().is_empty(), "the bytes may still come");
    h.wait(TcpLimits::default().reorder_window);
    h.seg(C, S, 1013, 5001, ".", b"dddd");
    assert_eq!(h.gaps(), vec![Ev::Gap(1, C2S, 4, 4, GapReason::Lost)]);
    assert_eq!(h.stream(1, C2S), b"aaaaccccdddd");
}

#[test]
fn acked_hole_becomes_lost_after_reorder_packets_segments_of_the_connection() {
    let mut h = Harness::with_limits(TcpLimits { reorder_packets: 3, ..TcpLimits::default() });
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", b"aaaa");
    h.seg(S, C, 5001, 1009, ".", b"");
    h.seg(C, S, 1009, 5001, ".", b"cccc");
    h.seg(S, C, 5001, 1013, ".", b"");
    h.seg(S, C, 5001, 1013, ".", b"");
    assert!(h.gaps().is_empty());
    // The fourth segment since the acknowledgment, in the other direction, closes the window.
    h.seg(S, C, 5001, 1013, ".", b"");
    assert_eq!(h.gaps(), vec![Ev::Gap(1, C2S, 4, 4, GapReason::Lost)]);
}

#[test]
fn a_quiet_connection_s_hole_is_declared_by_the_sweep() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", b"aaaa");
    h.seg(S, C, 5001, 1009, ".", b"");
    h.seg(C, S, 1009, 5001, ".", b"cccc");
    // Another connection's packets let time pass; this one says nothing more.
    h.others_send(0..4, Duration::from_millis(900));
    assert_eq!(h.gaps(), vec![Ev::Gap(1, C2S, 4, 4, GapReason::Lost)]);
    assert_eq!(h.stream(1, C2S), b"aaaacccc");
}

#[test]
fn a_sub_second_reorder_window_is_kept_to_within_half_of_it() {
    let limits = TcpLimits { reorder_window: Duration::from_millis(100), ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", b"aaaa");
    h.seg(S, C, 5001, 1009, ".", b"");
    h.seg(C, S, 1009, 5001, ".", b"cccc");
    // Another connection's packets every 10 ms let time pass (sweeps every 50 ms); this one
    // says nothing more. Swept once a second, the hole was declared after up to 1.1 s.
    h.others_send(0..9, Duration::from_millis(9));
    assert!(h.gaps().is_empty(), "declared before the window passed");
    h.others_send(9..16, Duration::from_millis(9));
    assert_eq!(h.gaps(), vec![Ev::Gap(1, C2S, 4, 4, GapReason::Lost)]);
}

#[test]
fn a_sub_second_idle_timeout_is_kept_to_within_half_of_it() {
    let limits = TcpLimits { idle_timeout: Duration::from_millis(100), ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    h.handshake(1000, 5000);
    h.others_send(0..10, Duration::from_millis(9));
    assert_eq!(h.closes(), vec![], "closed before the timeout passed");
    h.others_send(10..16, Duration::from_millis(9));
    assert_eq!(h.closes(), vec![Ev::Close(1, CloseReason::Idle)]);
}

#[test]
fn a_packet_stamped_earlier_brings_the_idle_deadline_forward() {
    // Merged captures with skewed clocks: a packet stamped before the connection's last one
    // makes it quiet for longer than it was. Sweeping every connection closed it at the next
    // sweep; the deadline it was queued for (later) must not keep it open.
    let limits = TcpLimits { idle_timeout: Duration::from_secs(2), ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    let t0 = h.ts;
    let at = |ms: u64| t0.saturating_add(Duration::from_millis(ms));
    h.handshake(1000, 5000);
    let other = |h: &mut Harness, ms: u64, seq: u32| {
        h.ts = at(ms);
        h.seg("10.0.0.3:40001", S, seq, 0, "", b"x");
    };
    other(&mut h, 500, 1);
    other(&mut h, 1000, 2);
    other(&mut h, 1500, 3);
    h.ts = at(1600);
    h.seg(C, S, 1001, 5001, ".", b"a");
    other(&mut h, 2100, 4); // its first deadline passed: queued again for 3.6 s
    h.ts = at(500);
    h.seg(C, S, 1002, 5001, ".", b"b"); // stamped earlier: quiet since 0.5 s
    other(&mut h, 3200, 5);
    assert_eq!(h.closes(), vec![Ev::Close(1, CloseReason::Idle)]);
}

#[test]
fn connections_listed_for_their_holes_stay_bounded_while_time_stands_still() {
    // No sweep comes while packet time stands still: connections with bytes behind a hole,
    // evicted by the connection limit, stayed listed (1,000,000 of them held 87 MB).
    let limits = TcpLimits { max_connections: 100, ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    let frozen = h.ts;
    for i in 0..20_000u32 {
        h.ts = frozen;
        let src = nth_client(2, i);
        h.seg(&src, S, 1000, 0, "S", b"");
        h.ts = frozen;
        h.seg(&src, S, 1010, 0, ".", b"later"); // bytes 1001..1010 missing
    }
    assert!(h.table.holes_listed() <= 2 * 100 + 4096 + 1, "{}", h.table.holes_listed());
}

#[test]
fn sweeps_look_only_at_what_is_due() {
    // 20,000 connections, one SYN each, then quiet: with a timeout of a few milliseconds a
    // sweep comes every millisecond or so, and each walked every connection (minutes for
    // 100,000 connections over a long capture).
    let limits = TcpLimits { idle_timeout: Duration::from_millis(5), ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    for i in 0..20_000u32 {
        let src = nth_client(1, i);
        h.seg(&src, S, 1000, 0, "S", b"");
    }
    // 20 s of another connection's packets every 2 ms (the harness adds 1 ms per segment):
    // 8,000 sweeps, one per 2.5 ms. The first ones close the quiet connections; most of the
    // others find nothing due.
    h.others_send(0..10_000, Duration::from_millis(1));
    assert_eq!(h.table.stats().closed_idle, 20_000);
    // Each quiet connection was looked at to be closed and, 30 s later, to be forgotten; the
    // busy one each time its deadline passed. Walking the table at every sweep would have
    // looked at over 100 million entries.
    let looked = h.table.looked_at();
    assert!(looked <= 50_000, "sweeps looked at {looked} entries");
}

#[test]
fn sweeps_skip_holes_that_only_a_segment_can_settle() {
    // helper-53: connections with bytes behind a hole their peer never acknowledged wait for
    // a segment, not for time; every sweep looked at each of them (20,000 such connections
    // and 20,000 sweeps: 77 s for a 10 MB capture).
    let limits = TcpLimits { reorder_window: Duration::from_millis(10), ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    for i in 0..5_000u32 {
        let src = nth_client(1, i);
        h.seg(&src, S, 1000, 0, "S", b"");
        h.seg(S, &src, 5000, 1001, "SA", b"");
        h.seg(&src, S, 1010, 5001, ".", b"later"); // bytes 1001..1010 missing
        h.seg(S, &src, 5001, 1001, ".", b""); // acknowledged up to the hole only
    }
    // 10 s of another connection's packets every 2 ms: 2,000 sweeps, one per 5 ms.
    h.others_send(0..5_000, Duration::from_millis(1));
    assert!(!h.events.iter().any(|e| matches!(e, Ev::Gap(..))), "no hole was settled by time");
    // Each is looked at once (queued when its bytes came before the acknowledgment, as a
    // one-way capture's would be); walking them at every sweep was 10 million.
    let looked = h.table.looked_at();
    assert!(looked <= 10_000, "sweeps looked at {looked} entries");
    // The peer acknowledges past one hole: its window runs, and the next sweeps settle it.
    h.seg(S, "10.1.0.7:1031", 5001, 1015, ".", b"");
    for i in 0..20u32 {
        h.wait(Duration::from_millis(1));
        h.seg("10.0.0.3:40001", S, 12_000 + i, 0, "", b"x");
    }
    let gaps = h.events.iter().filter(|e| matches!(e, Ev::Gap(..))).count();
    assert_eq!(
        gaps,
        1,
        "{:?}",
        h.events.iter().filter(|e| matches!(e, Ev::Gap(..))).collect::<Vec<_>>()
    );
}

#[test]
fn bytes_waiting_behind_a_hole_are_announced_and_released() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1005, 5001, ".", b"bbbb");
    let pending: Vec<Ev> =
        h.events.iter().filter(|e| matches!(e, Ev::Pending(..))).cloned().collect();
    assert_eq!(pending, vec![Ev::Pending(1, C2S, Some(4))]);
    h.seg(C, S, 1001, 5001, ".", b"aaaa");
    let pending: Vec<Ev> =
        h.events.iter().filter(|e| matches!(e, Ev::Pending(..))).cloned().collect();
    assert_eq!(pending, vec![Ev::Pending(1, C2S, Some(4)), Ev::Pending(1, C2S, None)]);
}

#[test]
fn an_ack_captured_before_its_data_is_reported_once() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(S, C, 5001, 1005, ".", b"");
    h.wait(Duration::from_millis(3));
    h.seg(C, S, 1001, 5001, ".", b"aaaa");
    h.seg(S, C, 5001, 1009, ".", b"");
    h.seg(C, S, 1005, 5001, ".", b"bbbb");
    assert_eq!(
        h.anomalies(),
        vec![Ev::Anomaly(1, C2S, Anomaly::AckBeforeData { offset: 0, lead_ns: 4_000_000 })]
    );
    assert_eq!(h.stream(1, C2S), b"aaaabbbb");
}

#[test]
fn one_way_capture_holes_wait_the_window_from_their_first_buffered_byte() {
    // Only the client's packets were captured: no acknowledgment of its bytes at all.
    let mut h = Harness::new();
    h.seg(C, S, 1001, 5001, ".", b"aaaa");
    h.seg(C, S, 1009, 5001, ".", b"cccc");
    assert!(h.gaps().is_empty());
    h.wait(TcpLimits::default().reorder_window);
    h.seg(C, S, 1013, 5001, ".", b"dddd");
    assert_eq!(h.gaps(), vec![Ev::Gap(1, C2S, 4, 4, GapReason::Lost)]);
}

#[test]
fn hole_without_acknowledgment_waits_until_the_connection_ends() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", b"aaaa");
    h.seg(C, S, 1009, 5001, ".", b"cccc");
    assert!(h.gaps().is_empty());
    h.finish();
    assert_eq!(h.gaps(), vec![Ev::Gap(1, C2S, 4, 4, GapReason::ConnectionEnd)]);
    assert_eq!(h.stream(1, C2S), b"aaaacccc");
    assert_eq!(h.closes(), vec![Ev::Close(1, CloseReason::EndOfCapture)]);
}

#[test]
fn sequence_numbers_wrap_around_2_pow_32() {
    let mut h = Harness::new();
    h.handshake(0xFFFF_FFF0, 0xFFFF_FFFF);
    h.seg(C, S, 0xFFFF_FFF1, 0, ".", b"0123456789"); // crosses 2^32 inside the segment
    h.seg(C, S, 0xFFFF_FFFB, 0, ".", b"abcdef");
    h.seg(S, C, 0, 5, ".", b"server");
    assert_eq!(h.stream(1, C2S), b"0123456789abcdef");
    assert_eq!(h.stream(1, S2C), b"server");
}

#[test]
fn fin_after_a_hole_is_delivered_once_the_hole_is_filled() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1005, 5001, "F.", b"end");
    h.seg(C, S, 1001, 5001, ".", b"the ");
    assert_eq!(h.stream(1, C2S), b"the end");
    assert!(h.events.contains(&Ev::Fin(1, C2S, 7)));
}

#[test]
fn both_fins_close_the_connection() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, "F.", b"");
    h.seg(S, C, 5001, 1002, "F.", b"");
    h.seg(C, S, 1002, 5002, ".", b"");
    assert_eq!(h.closes(), vec![Ev::Close(1, CloseReason::Fin)]);
    assert_eq!(h.table.stats().segments_after_close, 1);
}

#[test]
fn keepalive_probe_is_neither_delivered_nor_a_mismatch() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", b"abc");
    h.seg(C, S, 1003, 5001, ".", b"\0"); // seq = next - 1, one garbage byte
    h.seg(C, S, 1003, 5001, ".", b""); // zero-length keep-alive
    h.seg(C, S, 1004, 5001, ".", b"d");
    assert_eq!(h.stream(1, C2S), b"abcd");
    assert!(h.anomalies().is_empty());
}

#[test]
fn zero_window_probe_byte_is_delivered_once() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", b"abc");
    h.seg(C, S, 1004, 5001, ".", b"d"); // probe into a zero window
    h.seg(C, S, 1004, 5001, ".", b"defg"); // resent with more data once the window opens
    assert_eq!(h.stream(1, C2S), b"abcdefg");
    assert!(h.anomalies().is_empty());
}

#[test]
fn rst_closes_the_connection_and_flushes_holes() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", b"aa");
    h.seg(C, S, 1005, 5001, ".", b"cc");
    h.seg(S, C, 5001, 1003, "R.", b"");
    assert_eq!(h.stream(1, C2S), b"aacc");
    assert!(h.events.contains(&Ev::Rst(1, S2C)));
    assert_eq!(h.closes(), vec![Ev::Close(1, CloseReason::Rst)]);
    assert_eq!(h.gaps(), vec![Ev::Gap(1, C2S, 2, 2, GapReason::ConnectionEnd)]);
}

#[test]
fn mid_stream_pickup_guesses_roles_from_ports() {
    let mut h = Harness::new();
    h.seg(S, C, 7000, 3000, ".P", b"from server");
    h.seg(C, S, 3000, 7011, ".P", b"from client");
    assert_eq!(h.events[0], Ev::Open(1, RoleSource::Guess));
    assert_eq!(h.stream(1, C2S), b"from client");
    assert_eq!(h.stream(1, S2C), b"from server");
}

#[test]
fn syn_ack_without_syn_fixes_both_stream_starts() {
    let mut h = Harness::new();
    h.seg(S, C, 5000, 1001, "S.", b"");
    h.seg(C, S, 1001, 5001, ".", b"");
    h.seg(C, S, 1005, 5001, ".", b"late"); // 1001..1005 missing and acknowledged below
    h.seg(S, C, 5001, 1009, ".", b"");
    h.wait(TcpLimits::default().reorder_window);
    h.seg(S, C, 5001, 1009, ".", b"");
    assert_eq!(h.events[0], Ev::Open(1, RoleSource::SynAck));
    assert_eq!(h.gaps(), vec![Ev::Gap(1, C2S, 0, 4, GapReason::Lost)]);
    assert_eq!(h.stream(1, C2S), b"late");
}

#[test]
fn new_syn_on_a_closed_4_tuple_is_a_new_connection() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, "F.", b"one");
    h.seg(S, C, 5001, 1005, "F.", b"");
    h.wait(Duration::from_secs(2));
    h.handshake(90_000, 70_000);
    h.seg(C, S, 90_001, 70_001, ".", b"two");
    h.finish();
    assert_eq!(h.stream(1, C2S), b"one");
    assert_eq!(h.stream(2, C2S), b"two");
    assert_eq!(
        h.closes(),
        vec![Ev::Close(1, CloseReason::Fin), Ev::Close(2, CloseReason::EndOfCapture)]
    );
}

#[test]
fn new_syn_with_another_isn_on_an_open_4_tuple_replaces_the_connection() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.handshake(90_000, 70_000);
    assert_eq!(h.closes(), vec![Ev::Close(1, CloseReason::Reused)]);
    assert_eq!(h.table.stats().reused, 1);
}

#[test]
fn a_rst_far_outside_the_window_is_ignored_and_reported() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".P", b"hello");
    // Forged: 2^30 past the client's next byte (the server's window is 65535, unscaled).
    h.seg(C, S, 1006 + (1 << 30), 0, "R", b"");
    h.seg(C, S, 1006, 5001, ".P", b" world");
    h.finish();
    assert_eq!(h.stream(1, C2S), b"hello world");
    assert_eq!(h.closes(), vec![Ev::Close(1, CloseReason::EndOfCapture)]);
    let outside = (1u64 << 30) - 1 - 65535;
    assert_eq!(
        h.anomalies(),
        vec![Ev::Anomaly(1, C2S, Anomaly::RstOutOfWindow { seq: 1006 + (1 << 30), outside })]
    );
    assert_eq!(h.table.stats().ignored_rsts, 1);
    assert_eq!(h.table.stats().closed_rst, 0);
}

#[test]
fn a_rst_below_what_the_receiver_acknowledged_is_ignored() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".P", &[b'x'; 100_000]);
    h.seg(S, C, 5001, 101_001, ".", b"");
    h.seg(C, S, 1001, 0, "R", b"");
    assert!(h.closes().is_empty());
    assert_eq!(h.table.stats().ignored_rsts, 1);
}

#[test]
fn a_rst_within_the_window_closes_the_connection() {
    for seq in [1006, 1006 + 60_000, 1001] {
        let mut h = Harness::new();
        h.handshake(1000, 5000);
        h.seg(C, S, 1001, 5001, ".P", b"hello");
        h.seg(C, S, seq, 0, "R", b"");
        assert_eq!(h.closes(), vec![Ev::Close(1, CloseReason::Rst)], "seq {seq}");
        assert!(h.anomalies().is_empty());
    }
}

#[test]
fn a_rst_after_the_fin_closes_the_connection() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, "F.", b"bye");
    h.seg(S, C, 5001, 1005, "R", b"");
    h.seg(C, S, 1005, 5001, "R", b"");
    assert_eq!(h.closes(), vec![Ev::Close(1, CloseReason::Rst)]);
}

#[test]
fn the_window_is_scaled_as_both_syns_offered() {
    // Both SYNs offer a shift of 7: a window of 100 is 12 800 bytes.
    let mut h = Harness::new();
    h.wscale = Some(7);
    h.window = 100;
    h.handshake(1000, 5000);
    h.seg(S, C, 5001, 1001, ".", b"");
    h.seg(C, S, 1001 + 20_000, 0, "R", b"");
    assert_eq!(h.table.stats().ignored_rsts, 1);
    h.seg(C, S, 1001 + 10_000, 0, "R", b"");
    assert_eq!(h.closes(), vec![Ev::Close(1, CloseReason::Rst)]);

    // One SYN without the option: windows are not scaled.
    let mut h = Harness::new();
    h.window = 100;
    h.seg(C, S, 1000, 0, "S", b"");
    h.wscale = Some(7);
    h.seg(S, C, 5000, 1001, "S.", b"");
    h.seg(C, S, 1001 + 70_000, 0, "R", b"");
    assert_eq!(h.table.stats().ignored_rsts, 1);
}

/// Found by the stream_table fuzz target: a shift count over 14 (the option carries any byte)
/// overflowed the window's shift. RFC 7323 §2.3: a shift over 14 is taken as 14.
#[test]
fn a_window_scale_over_14_counts_as_14() {
    let mut h = Harness::new();
    h.wscale = Some(200);
    h.window = 1;
    h.handshake(1000, 5000);
    h.seg(S, C, 5001, 1001, ".", b"");
    // A window of 1 scaled by 2^14 (not by less): a RST 20 000 bytes on is outside, 16 000 in.
    h.seg(C, S, 1001 + 20_000, 0, "R", b"");
    assert_eq!(h.table.stats().ignored_rsts, 1);
    h.seg(C, S, 1001 + 16_000, 0, "R", b"");
    assert_eq!(h.closes(), vec![Ev::Close(1, CloseReason::Rst)]);
}

#[test]
fn a_syn_on_an_open_connection_that_goes_on_is_ignored_and_reported() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".P", b"hello");
    // Forged: a new ISN. The server answers with an ACK of the old connection (RFC 5961 §4).
    h.seg(C, S, 777_777, 0, "S", b"");
    h.seg(S, C, 5001, 1006, ".", b"");
    h.seg(C, S, 1006, 5001, ".P", b" world");
    h.finish();
    assert_eq!(h.stream(1, C2S), b"hello world");
    assert_eq!(h.closes(), vec![Ev::Close(1, CloseReason::EndOfCapture)]);
    assert_eq!(
        h.anomalies(),
        vec![Ev::Anomaly(1, C2S, Anomaly::SynOnOpenConnection { seq: 777_777 })]
    );
    assert_eq!((h.table.stats().ignored_syns, h.table.stats().reused), (1, 0));
}

#[test]
fn every_syn_that_starts_no_connection_is_counted_once() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".P", b"hello");
    // A flood of new ISNs with nothing after them, one of them retransmitted; then one the
    // server accepts, which starts a new connection and is not ignored.
    for isn in [10_000, 20_000, 20_000, 30_000, 40_000] {
        h.seg(C, S, isn, 0, "S", b"");
    }
    assert_eq!(h.table.stats().ignored_syns, 4);
    h.seg(C, S, 50_000, 0, "S", b"");
    h.seg(S, C, 90_000, 50_001, "S.", b"");
    h.finish();
    assert_eq!((h.table.stats().ignored_syns, h.table.stats().reused), (4, 1));
}

#[test]
fn a_new_syn_followed_by_the_client_without_a_captured_syn_ack_starts_a_new_connection() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".P", b"old");
    let syn_packet = h.packet + 1;
    h.seg(C, S, 90_000, 0, "S", b"");
    h.seg(C, S, 90_001, 70_001, ".P", b"new");
    h.finish();
    assert_eq!(
        h.closes(),
        vec![Ev::Close(1, CloseReason::Reused), Ev::Close(2, CloseReason::EndOfCapture)]
    );
    assert_eq!(h.stream(2, C2S), b"new");
    assert!(h.events.contains(&Ev::Open(2, RoleSource::Syn)));
    assert!(h.anomalies().is_empty());
    let _ = syn_packet;
}

#[test]
fn buffer_limit_turns_the_first_hole_into_a_gap() {
    let limits = TcpLimits { max_buffered_per_direction: 8, ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    h.handshake(1000, 5000);
    h.seg(C, S, 1005, 5001, ".", b"bbbb");
    h.seg(C, S, 1013, 5001, ".", b"dddd");
    assert!(h.gaps().is_empty());
    h.seg(C, S, 1021, 5001, ".", b"ffff"); // 12 bytes buffered > 8
    assert_eq!(h.gaps()[0], Ev::Gap(1, C2S, 0, 4, GapReason::BufferLimit));
    assert!(h.table.buffered_bytes() <= 8);
}

#[test]
fn segment_count_limit_turns_the_first_hole_into_a_gap() {
    let limits = TcpLimits { max_buffered_segments: 2, ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    h.handshake(1000, 5000);
    for i in 0..3u32 {
        h.seg(C, S, 1003 + 4 * i, 5001, ".", b"xx");
    }
    assert_eq!(h.gaps(), vec![Ev::Gap(1, C2S, 0, 2, GapReason::BufferLimit)]);
}

#[test]
fn connection_limit_evicts_the_least_recently_active() {
    let limits = TcpLimits { max_connections: 2, ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    h.seg("10.0.0.1:1", S, 1, 0, "S", b"");
    h.seg("10.0.0.1:2", S, 1, 0, "S", b"");
    h.seg("10.0.0.1:1", S, 2, 0, ".", b"x"); // conn 1 is now the most recent
    h.seg("10.0.0.1:3", S, 1, 0, "S", b"");
    assert_eq!(h.closes(), vec![Ev::Close(2, CloseReason::Evicted)]);
    assert_eq!(h.table.stats().evicted, 1);
    assert_eq!(h.table.len(), 2);
}

#[test]
fn at_the_connection_limit_the_oldest_closed_entry_makes_room_not_an_open_connection() {
    // Two connections held open, then short ones one after another: each new one frees the
    // entry of the one before (closed, lingering) and evicts nobody. helper-51: it walked the
    // whole table for that, 300 µs per connection with 100,000 held open.
    let limits = TcpLimits { max_connections: 3, ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    h.seg("10.0.0.1:1", S, 1, 0, "S", b"");
    h.seg("10.0.0.1:2", S, 1, 0, "S", b"");
    for i in 0..50u32 {
        let src = format!("10.0.1.{}:{}", i % 250, 3000 + i);
        h.seg(&src, S, 1, 0, "S", b"");
        h.seg(&src, S, 2, 0, "R", b"");
    }
    assert_eq!(h.table.stats().evicted, 0);
    assert!(h.closes().iter().all(|c| !matches!(c, Ev::Close(_, CloseReason::Evicted))));
    assert_eq!(h.table.stats().connection_limit_hits, 49);
    assert!(h.table.len() <= 3);
    // With nothing lingering, the least recently active open connection goes.
    h.seg("10.0.0.1:1", S, 2, 0, ".", b"x");
    h.seg("10.0.0.1:4", S, 1, 0, "S", b"");
    h.seg("10.0.0.1:5", S, 1, 0, "S", b"");
    assert_eq!(h.table.stats().evicted, 1);
    // One 4-tuple reused over and over, the limit never reached: the queue stays bounded.
    let mut h = Harness::with_limits(TcpLimits::default());
    for i in 0..5_000u32 {
        h.seg("10.0.2.1:4000", S, 1 + i * 100_000, 0, "S", b"");
        h.seg("10.0.2.1:4000", S, 2 + i * 100_000, 0, "R", b"");
    }
    assert!(
        h.table.lingering_listed() <= 2 * h.table.len() + 1024 + 1,
        "{}",
        h.table.lingering_listed()
    );
}

#[test]
fn idle_connections_close_by_packet_time() {
    let limits = TcpLimits { idle_timeout: Duration::from_secs(60), ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    h.handshake(1000, 5000);
    h.wait(Duration::from_secs(61));
    h.seg("10.9.9.9:1", S, 1, 0, "S", b"");
    h.wait(Duration::from_secs(2));
    h.seg("10.9.9.9:1", S, 2, 0, ".", b"");
    assert_eq!(h.closes(), vec![Ev::Close(1, CloseReason::Idle)]);
}

#[test]
fn a_connection_that_goes_on_after_its_idle_timeout_is_resumed_with_its_roles() {
    // The server's port is the higher one: a guess from the ports would swap the roles.
    let (c, s) = ("10.0.0.1:1000", "10.0.0.2:50000");
    let limits = TcpLimits { idle_timeout: Duration::from_secs(1), ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    h.said_hi(c, s);
    h.wait(Duration::from_secs(3));
    h.seg(s, c, 5001, 1003, ".", b"later");
    h.seg(c, s, 1003, 5006, ".", b"more");
    assert_eq!(h.opens(), [Ev::Open(1, RoleSource::Syn), Ev::Open(2, RoleSource::Resumed)]);
    assert_eq!(h.closes(), vec![Ev::Close(1, CloseReason::Idle)]);
    assert_eq!(h.stream(2, S2C), b"later");
    assert_eq!(h.stream(2, C2S), b"more");
    // What the sink said of connection 1 when it stopped being followed comes back with 2.
    assert_eq!(h.marks, [(1, 0), (2, 11)]);
    // A SYN on the same endpoints is a new connection, not a resumed one.
    h.wait(Duration::from_secs(3));
    h.seg(c, s, 9000, 0, "S", b"");
    assert_eq!(h.events.iter().filter(|e| matches!(e, Ev::Open(_, RoleSource::Syn))).count(), 2);
}

#[test]
fn a_connection_still_searched_gets_eight_idle_timeouts() {
    let limits = TcpLimits { idle_timeout: Duration::from_secs(1), ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    h.searching = true;
    h.seg(C, S, 1001, 5001, ".", b"x");
    // Quiet for 3 s: longer than the timeout, not than 8 of them.
    h.wait(Duration::from_secs(3));
    h.seg("10.9.9.9:1", S, 1, 0, ".", b"y");
    h.seg(C, S, 1002, 5001, ".", b"z");
    assert_eq!(h.closes(), vec![]);
    // Quiet for 9 s: closed all the same (memory is not held for ever by what is not found).
    h.wait(Duration::from_secs(9));
    h.seg("10.9.9.9:1", S, 2, 0, ".", b"y");
    assert_eq!(h.closes().first(), Some(&Ev::Close(1, CloseReason::Idle)));
}

#[test]
fn a_bare_acknowledgment_after_the_idle_timeout_resumes_nothing() {
    let (c, s) = ("10.0.0.1:1000", "10.0.0.2:50000");
    let limits = TcpLimits { idle_timeout: Duration::from_secs(1), ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    h.said_hi(c, s);
    h.wait(Duration::from_secs(3));
    // A keep-alive's ACK, then quiet again: no part of its own (it would only close again).
    h.seg(s, c, 5001, 1003, ".", b"");
    h.wait(Duration::from_secs(3));
    h.seg(s, c, 5001, 1003, ".", b"");
    h.seg(c, s, 1003, 5001, ".", b"more");
    assert_eq!(h.opens(), [Ev::Open(1, RoleSource::Syn), Ev::Open(2, RoleSource::Resumed)]);
    assert_eq!(h.closes(), vec![Ev::Close(1, CloseReason::Idle)]);
    assert_eq!(h.stream(2, C2S), b"more");
    assert_eq!(h.table.stats().closed_idle, 1);
}

#[test]
fn an_idle_timeout_longer_than_the_linger_still_resumes() {
    let (c, s) = ("10.0.0.1:1000", "10.0.0.2:50000");
    let limits = TcpLimits { idle_timeout: Duration::from_secs(60), ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    h.said_hi(c, s);
    // Another connection's packets let time pass: the first is closed as idle at about 61 s,
    // and its entry is kept for the idle timeout from then.
    for _ in 0..100 {
        h.wait(Duration::from_secs(1));
        h.seg("10.0.0.3:40000", S, 300, 0, ".", b"");
    }
    assert_eq!(h.closes(), vec![Ev::Close(1, CloseReason::Idle)]);
    h.seg(s, c, 5001, 1003, ".", b"later");
    assert_eq!(h.opens().last(), Some(&Ev::Open(3, RoleSource::Resumed)));
}

#[test]
fn a_lost_syn_ack_starts_the_servers_stream_at_the_clients_first_acknowledgment() {
    // SYN, [SYN-ACK lost], the client's ACK of it, the request, [the 101 lost], frames.
    let mut h = Harness::new();
    h.seg(C, S, 1000, 0, "S", b"");
    h.seg(C, S, 1001, 5001, ".", b"");
    h.seg(C, S, 1001, 5001, ".", b"GET");
    h.seg(S, C, 5011, 1004, ".", b"frames");
    h.seg(C, S, 1004, 5017, ".", b"");
    h.wait(TcpLimits::default().reorder_window);
    h.seg(C, S, 1004, 5017, ".", b"");
    // The 10 bytes before the first captured ones are a gap, not silently the stream's start.
    assert_eq!(h.gaps(), vec![Ev::Gap(1, S2C, 0, 10, GapReason::Lost)]);
    assert_eq!(h.stream(1, S2C), b"frames");
    // Without the client's SYN its acknowledgments say nothing about where the server's
    // stream started (a capture that starts mid-stream): the first byte seen starts it.
    let mut h = Harness::new();
    h.seg(C, S, 1001, 5001, ".", b"");
    h.seg(S, C, 5011, 1001, ".", b"frames");
    h.finish();
    assert_eq!(h.gaps(), vec![]);
    assert_eq!(h.stream(1, S2C), b"frames");
    // One far behind it (stale, or rewritten by a capture tool) is not believed either.
    let mut h = Harness::new();
    h.seg(C, S, 1000, 0, "S", b"");
    h.seg(C, S, 1001, 5001, ".", b"");
    h.seg(S, C, 10_005_001, 1001, ".", b"frames");
    h.finish();
    assert_eq!(h.gaps(), vec![]);
    assert_eq!(h.stream(1, S2C), b"frames");
    // An acknowledgment past the first byte seen (its SYN-ACK's ACK lost as well) moves nothing.
    let mut h = Harness::new();
    h.seg(C, S, 1000, 0, "S", b"");
    h.seg(C, S, 1001, 5100, ".", b"");
    h.seg(S, C, 5011, 1001, ".", b"frames");
    h.finish();
    assert_eq!(h.gaps(), vec![]);
    assert_eq!(h.stream(1, S2C), b"frames");
}

#[test]
fn a_bare_segment_before_a_directions_first_bytes_starts_its_stream() {
    // No SYN seen (a queue dropped both): the request, the server's bare ACK of it, [the 101
    // lost], the client acknowledging past the 101, frames. The server's own ACK said where its
    // next byte was: the 10 bytes from there to its first captured ones are a gap, not
    // silently the stream's start (the frames were read as a malformed response).
    let mut h = Harness::new();
    h.seg(C, S, 1001, 5001, ".", b"GET");
    h.seg(S, C, 5001, 1004, ".", b"");
    h.seg(C, S, 1004, 5011, ".", b"");
    h.seg(S, C, 5011, 1004, ".", b"frames");
    h.seg(C, S, 1004, 5017, ".", b"");
    h.wait(TcpLimits::default().reorder_window);
    h.seg(C, S, 1004, 5017, ".", b"");
    assert_eq!(h.gaps(), vec![Ev::Gap(1, S2C, 0, 10, GapReason::Lost)]);
    assert_eq!(h.stream(1, S2C), b"frames");
    // No gap when its first bytes start right at the bare segment, after a keep-alive probe
    // (one byte before the next: no evidence of a lost byte), when they were sent before it and
    // captured after it (reordered), or when it is far behind them (stale).
    for (request, bare, first) in
        [(true, 5001, 5001), (true, 5000, 5001), (true, 5007, 5001), (false, 5001, 10_005_001)]
    {
        let mut h = Harness::new();
        if request {
            h.seg(C, S, 1001, 5001, ".", b"GET");
        }
        h.seg(S, C, bare, 1004, ".", b"");
        h.seg(S, C, first, 1004, ".", b"frames");
        h.finish();
        assert_eq!(h.gaps(), vec![], "bare at {bare}, first bytes at {first}");
        assert_eq!(h.stream(1, S2C), b"frames");
    }
    // A keep-alive probe before bytes captured out of order (helper-36): the byte before the
    // next one is no byte to miss.
    let mut h = Harness::new();
    h.seg(C, S, 1001, 5001, ".", b"GET");
    h.seg(S, C, 5000, 1004, ".", b"");
    h.seg(S, C, 5007, 1004, ".", b"second");
    h.seg(S, C, 5001, 1004, ".", b"first ");
    h.finish();
    assert!(h.gaps().iter().all(|g| !matches!(g, Ev::Gap(1, S2C, 0, 1, _))), "{:?}", h.gaps());
    // Without the peer's word a bare segment alone starts nothing (it may be a keep-alive).
    let mut h = Harness::new();
    h.seg(S, C, 5001, 1001, ".", b"");
    h.seg(S, C, 5011, 1001, ".", b"frames");
    h.finish();
    assert_eq!(h.gaps(), vec![]);
}

#[test]
fn bytes_cut_by_snaplen_are_a_gap_and_the_stream_continues() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg_cut(C, S, 1001, 5001, ".", b"abcd", 6);
    h.seg(C, S, 1011, 5001, ".", b"next");
    assert_eq!(h.gaps(), vec![Ev::Gap(1, C2S, 4, 6, GapReason::Snaplen)]);
    assert_eq!(h.stream(1, C2S), b"abcdnext");
}

#[test]
fn late_data_for_a_declared_gap_is_reported_not_delivered() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(S, C, 5001, 1005, ".", b"");
    h.seg(C, S, 1005, 5001, ".", b"bbbb");
    h.wait(TcpLimits::default().reorder_window);
    h.seg(C, S, 1009, 5001, ".", b"cccc");
    h.wait(Duration::from_millis(4));
    h.seg(C, S, 1001, 5001, ".", b"aaaa");
    assert_eq!(h.stream(1, C2S), b"bbbbcccc");
    assert_eq!(
        h.anomalies(),
        vec![Ev::Anomaly(1, C2S, Anomaly::LateData { offset: 0, len: 4, after_ns: 5_000_000 })]
    );
}

#[test]
fn data_after_fin_is_reported_and_dropped() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, "F.", b"ab");
    h.seg(C, S, 1003, 5001, ".", b"zz");
    assert_eq!(h.stream(1, C2S), b"ab");
    assert_eq!(
        h.anomalies(),
        vec![Ev::Anomaly(1, C2S, Anomaly::DataAfterFin { offset: 2, len: 2 })]
    );
}

#[test]
fn bytes_acknowledged_but_never_captured_are_reported_at_the_end() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", b"ab");
    h.seg(S, C, 5001, 1013, ".", b"");
    h.finish();
    assert_eq!(h.gaps(), vec![Ev::Gap(1, C2S, 2, 10, GapReason::AckedUnseen)]);
}

#[test]
fn an_uncaptured_fin_alone_is_not_a_gap() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", b"ab");
    h.seg(S, C, 5001, 1004, ".", b""); // acknowledges a FIN at 1003 that was not captured
    h.finish();
    assert!(h.gaps().is_empty());
}

/// Found by the `stream_table` fuzz target: a FIN that arrives after later bytes were buffered.
#[test]
fn a_fin_contradicting_buffered_bytes_is_ignored_and_the_stream_stays_consistent() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1101, 5001, ".", &[b'b'; 100]); // [100,200) buffered behind a hole
    h.seg(C, S, 1051, 5001, "F.", b""); // a bare FIN at offset 50
    h.seg(C, S, 1001, 5001, ".", &[b'a'; 100]); // [0,100) fills the hole
    h.seg(S, C, 5001, 1201, ".", b"");
    h.seg(C, S, 1101, 5001, ".", &[b'b'; 100]); // retransmission
    h.finish();
    let mut want = vec![b'a'; 100];
    want.extend([b'b'; 100]);
    assert_eq!(h.stream(1, C2S), want);
    assert!(h.gaps().is_empty(), "{:?}", h.gaps());
    assert!(h.anomalies().is_empty(), "{:?}", h.anomalies());
}

#[test]
fn data_before_the_first_captured_byte_is_counted_not_delivered() {
    let mut h = Harness::new();
    h.seg(C, S, 2000, 9000, ".", b"second");
    h.seg(C, S, 1994, 9000, ".", b"first-");
    h.finish();
    assert_eq!(h.stream(1, C2S), b"second");
}

#[test]
fn history_is_freed_when_a_connection_closes() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", &[7u8; 3000]);
    h.seg(S, C, 5001, 4001, ".", b"ok");
    assert!(h.table.history_bytes() > 0);
    h.seg(C, S, 4001, 5003, "F.", b"");
    h.seg(S, C, 5003, 4002, "F.", b"");
    assert_eq!(h.table.history_bytes(), 0);
}

#[test]
fn history_keeps_at_most_the_per_direction_cap() {
    let limits = TcpLimits { retransmission_history: 100, ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", &[1u8; 80]);
    h.seg(C, S, 1081, 5001, ".", &[2u8; 80]);
    assert_eq!(h.table.history_bytes(), 100);
    // A conflicting copy of the newest 100 bytes is caught; older bytes are unverified.
    h.seg(C, S, 1061, 5001, ".", &[3u8; 100]);
    assert_eq!(
        h.anomalies(),
        vec![Ev::Anomaly(1, C2S, Anomaly::RetransmissionMismatch { offset: 60, len: 100 })]
    );
}

#[test]
fn table_wide_history_budget_stops_keeping_history() {
    let limits = TcpLimits { max_history_total: 10, ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    h.handshake(1000, 5000);
    h.seg(C, S, 1001, 5001, ".", &[1u8; 50]);
    assert_eq!(h.table.history_bytes(), 0);
    h.seg(C, S, 1001, 5001, ".", &[2u8; 50]);
    assert!(h.anomalies().is_empty(), "nothing held, so nothing can be compared");
}

/// The byte ranges `[a, b)` of a stream of `len` bytes cut at the points `cuts` pick.
fn segments_of(len: usize, cuts: &[prop::sample::Index]) -> Vec<(usize, usize)> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(len)).collect();
    points.extend([0, len]);
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| (w[0], w[1])).collect()
}

proptest! {
    /// Any segmentation of a stream, delivered in any order with duplicates, reassembles to the
    /// original bytes with no gap and no anomaly.
    #[test]
    fn any_order_and_duplication_reassembles_the_original(
        data in proptest::collection::vec(any::<u8>(), 1..400),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
        order in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
        isn in any::<u32>(),
    ) {
        let segments = segments_of(data.len(), &cuts);
        // A random sequence of segment indices (with repeats), then every segment once, so all bytes arrive.
        let mut schedule: Vec<usize> = order.iter().map(|i| i.index(segments.len())).collect();
        schedule.extend(0..segments.len());
        let mut h = Harness::new();
        h.handshake(isn, 5000);
        for i in schedule {
            let (a, b) = segments[i];
            h.seg(C, S, isn.wrapping_add(1).wrapping_add(a as u32), 0, "", &data[a..b]);
        }
        h.finish();
        prop_assert_eq!(h.stream(1, C2S), data);
        prop_assert!(h.gaps().is_empty());
        prop_assert!(h.anomalies().is_empty());
        prop_assert_eq!(h.table.buffered_bytes(), 0);
        prop_assert_eq!(h.table.history_bytes(), 0);
    }
}

proptest! {
    /// The retransmission history gives the same results whether it copies the bytes or keeps
    /// where they are in the input file: any segmentation, any order, duplicates with some
    /// bytes changed, small and large per-direction caps.
    #[test]
    fn history_in_the_input_file_finds_what_copies_find(
        data in proptest::collection::vec(any::<u8>(), 1..6000),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
        order in proptest::collection::vec(any::<prop::sample::Index>(), 0..24),
        changed in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..4),
        ack_every in 0usize..4,
        cap in prop_oneof![Just(16usize << 10), 50usize..3000],
    ) {
        let segments = segments_of(data.len(), &cuts);
        let mut schedule: Vec<usize> = segments.iter().enumerate().map(|(i, _)| i).collect();
        for (k, i) in order.iter().enumerate() {
            schedule.insert(k.min(schedule.len()), i.index(segments.len()));
        }
        let limits = TcpLimits { retransmission_history: cap, ..TcpLimits::default() };
        let mut runs = [Harness::with_limits(limits.clone()), Harness::reading_a_file(limits)];
        for h in &mut runs {
            h.handshake(1000, 5000);
            for (n, &i) in schedule.iter().enumerate() {
                let (a, b) = segments[i];
                let mut bytes = data[a..b].to_vec();
                // Some copies after the first carry different bytes.
                if let Some((_, at)) = changed.iter().find(|(which, _)| which.index(schedule.len()) == n) {
                    let at = at.index(bytes.len());
                    bytes[at] ^= 0x5a;
                }
                h.seg(C, S, 1001 + a as u32, 0, "", &bytes);
                if ack_every > 0 && n % ack_every == 0 {
                    h.seg(S, C, 5001, 1001 + b as u32, ".", b"");
                }
            }
        }
        let [copied, in_file] = runs.each_mut().map(|h| h.finish());
        prop_assert_eq!(&runs[0].events, &runs[1].events);
        prop_assert_eq!(copied, in_file);
        prop_assert_eq!(runs[1].table.history_bytes(), 0);
    }
}

#[test]
fn a_retransmission_that_differs_from_bytes_kept_in_the_file_is_reported_exactly() {
    let mut h = Harness::reading_a_file(TcpLimits::default());
    h.handshake(1000, 5000);
    let first: Vec<u8> = (0..1448u32).map(|i| (i % 199) as u8).collect();
    h.seg(C, S, 1001, 5001, ".", &first);
    assert_eq!(h.table.history_bytes(), 1448);
    let mut again = first.clone();
    again[700..710].fill(b'X');
    h.seg(C, S, 1001, 5001, ".", &again);
    assert_eq!(h.stream(1, C2S), first);
    assert_eq!(
        h.anomalies(),
        vec![Ev::Anomaly(1, C2S, Anomaly::RetransmissionMismatch { offset: 700, len: 10 })]
    );
}

#[test]
fn quiet_connections_stay_open_by_default() {
    let mut h = Harness::new();
    h.handshake(1000, 5000);
    h.wait(Duration::from_secs(3600));
    h.seg("10.9.9.9:1", S, 1, 0, "S", b"");
    h.seg(C, S, 1001, 5001, ".", b"after an hour");
    assert!(h.closes().is_empty(), "{:?}", h.closes());
    assert_eq!(h.stream(1, C2S), b"after an hour");
}

#[test]
fn past_80_percent_of_the_memory_budget_the_least_recently_active_connections_are_evicted() {
    let memory = crate::memory::Memory::new(64 << 20);
    let limits = TcpLimits { memory: memory.clone(), ..TcpLimits::default() };
    let mut h = Harness::with_limits(limits);
    // 16 connections, each with a little traffic; connection 1 is the oldest.
    for i in 0..16u16 {
        let c = format!("10.0.0.1:{}", 40000 + i);
        h.seg(&c, S, 100, 0, "S", b"");
        h.wait(Duration::from_millis(10));
    }
    // Nothing closed yet, so every tracked entry is open.
    assert_eq!(h.table.len(), 16);
    assert!(memory.used() > 16 * 800, "the table charges its connections: {}", memory.used());
    // Someone else fills the budget: the next segment evicts an eighth (2), oldest first; the
    // next 63 wait for memory to be freed before evicting more.
    let mut other = crate::memory::Charge::new(&memory);
    other.set(60 << 20);
    for _ in 0..60 {
        h.seg("10.0.0.1:40015", S, 101, 0, ".", b"");
    }
    let evicted: Vec<Ev> = h.closes();
    assert_eq!(
        evicted,
        vec![Ev::Close(1, CloseReason::MemoryBudget), Ev::Close(2, CloseReason::MemoryBudget)]
    );
    assert_eq!(memory.stats().connections_evicted, 2);
    assert_eq!(h.table.stats().evicted_for_memory, 2);
    // Still over: the next round evicts an eighth of the 14 left.
    for _ in 0..10 {
        h.seg("10.0.0.1:40015", S, 101, 0, ".", b"");
    }
    assert_eq!(h.closes().last(), Some(&Ev::Close(3, CloseReason::MemoryBudget)));
    // Under the budget again: nothing more is evicted.
    other.set(0);
    for _ in 0..300 {
        h.seg("10.0.0.1:40015", S, 101, 0, ".", b"");
    }
    assert_eq!(h.closes().len(), 3);
    // Evicted connections leave only a table entry (to be picked up again if they go on).
    assert_eq!((h.table.len(), h.table.open_now()), (16, 13));
    h.finish();
    // Every connection closed: only the (empty) hash table is still charged.
    assert!(memory.used() < 16 * 800, "{}", memory.used());
}

#[test]
fn a_connection_that_goes_on_after_a_memory_eviction_is_resumed_with_its_roles() {
    // The server's port is the higher one: a guess from the ports would swap the roles.
    let (c, s) = ("10.0.0.1:1000", "10.0.0.2:50000");
    // A connection evicted to stay under the budget (another one, open, stays).
    let evicted = || {
        let memory = crate::memory::Memory::new(64 << 20);
        let limits = TcpLimits { memory: memory.clone(), ..TcpLimits::default() };
        let mut h = Harness::with_limits(limits);
        h.said_hi(c, s);
        h.wait(Duration::from_secs(25));
        let mut other = crate::memory::Charge::new(&memory);
        other.set(60 << 20);
        for i in 0..10 {
            h.seg("10.0.0.3:40000", S, 101 + i, 0, ".", b"");
        }
        assert_eq!(h.closes(), vec![Ev::Close(1, CloseReason::MemoryBudget)]);
        // Its entry stays, without its state.
        assert_eq!((h.table.len(), h.table.open_now()), (2, 1));
        h
    };
    let mut h = evicted();
    // Its entry counts from the eviction, not from its last packet: a connection quiet for
    // longer than `closed_linger` before it was evicted is still known.
    h.wait(Duration::from_secs(20));
    h.seg("10.0.0.3:40000", S, 300, 0, ".", b"");
    h.seg(s, c, 5001, 1003, ".", b"later");
    h.seg(c, s, 1003, 5006, ".", b"more");
    let want = [
        Ev::Open(1, RoleSource::Syn),
        Ev::Open(2, RoleSource::Guess),
        Ev::Open(3, RoleSource::Resumed),
    ];
    assert_eq!(h.opens(), want);
    assert_eq!(h.stream(3, S2C), b"later");
    assert_eq!(h.stream(3, C2S), b"more");
    // The entry is forgotten after `closed_linger`, like a closed connection's: the roles are
    // then guessed from the ports.
    let mut h = evicted();
    h.wait(Duration::from_secs(31));
    h.table.sweep_idle(PacketRef::new(h.ts, h.packet), &mut |_: StreamEvent<'_>| {});
    assert_eq!(h.table.len(), 1);
    h.seg(s, c, 5001, 1003, ".", b"later");
    assert_eq!(
        h.events.iter().filter(|e| matches!(e, Ev::Open(_, RoleSource::Resumed))).count(),
        0
    );
}

/// `max_open` counts connections open at once; `max_concurrent` also the closed ones the table
/// still remembers (lingering).
#[test]
fn most_open_at_once_leaves_out_closed_connections_that_linger() {
    let mut h = Harness::new();
    let (c1, c2, c3) = ("10.0.0.1:40001", "10.0.0.1:40002", "10.0.0.1:40003");
    h.seg(c1, S, 100, 0, "S", b"");
    h.seg(c2, S, 200, 0, "S", b"");
    // The first closes with FINs both ways, then a third opens: two open, three tracked.
    h.seg(S, c1, 900, 101, "S.", b"");
    h.seg(c1, S, 101, 901, "F.", b"");
    h.seg(S, c1, 901, 102, "F.", b"");
    h.seg(c1, S, 102, 902, ".", b"");
    h.seg(c3, S, 300, 0, "S", b"");
    let t = h.table.stats();
    assert_eq!((t.closed_fin, t.max_concurrent, t.max_open), (1, 3, 2));
    // An RST closes the second; a fourth opening brings the open ones back to two, not three.
    h.seg(S, c2, 950, 201, "R.", b"");
    h.seg("10.0.0.1:40004", S, 400, 0, "S", b"");
    let t = h.table.stats();
    assert_eq!((t.closed_rst, t.max_concurrent, t.max_open), (1, 4, 2));
}
