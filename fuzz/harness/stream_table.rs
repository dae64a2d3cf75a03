//! `stream_table`: the TCP connection table and per-direction reassembly, driven by an
//! `arbitrary` list of segment operations, with small limits so every limit path is reachable.
//!
//! Endpoints come from a small fixed set so that connections collide (same 4-tuple reused,
//! both directions of one connection, a host talking to itself). Sequence and acknowledgment
//! numbers are either near a few bases (0, 1000, just before the 2^32 wrap, around 2^31) or fully
//! random. Time advances by arbitrary amounts (also backwards, and past the idle timeout and the
//! closed-connection linger), and `advance_time` is also called on its own as a live capture does.
//!
//! The sink asserts the engine's documented guarantees (src/tcp/event.rs, src/tcp/stream.rs):
//! - every Open has a new id, larger than all earlier ones;
//! - no event for a connection before its Open or after its Close;
//! - per (connection, direction), Data/Gap offsets are contiguous from 0: the first is at 0, each
//!   next one starts where the previous ended; Data is never empty, a Gap never has length 0;
//! - a Fin's offset is the end of the last Data/Gap (0 if none); at most one Fin per direction,
//!   and no Data/Gap after it;
//! - Close(Fin) only after a Fin in both directions; Close(Rst) only after an Rst;
//! - LateData lies inside one earlier Gap; a RetransmissionMismatch range (first copy wins) ends
//!   up delivered as Data: inside no Gap and before the direction's end at Close; DataAfterFin
//!   is at or past the Fin's offset; no anomaly has length 0;
//! - the Close counters agree with the events: delivered_bytes = Σ Data lengths,
//!   gaps = number of Gaps, gap_bytes = Σ Gap lengths, per direction.
//!
//! Outside the sink: after every segment the table's buffered and history bytes stay within
//! `max_buffered_total` and `max_history_total`; after `finish` every opened connection was
//! closed, the table is empty and `buffered_bytes() == 0`, `history_bytes() == 0`.

use arbitrary::{Arbitrary, Unstructured};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::time::Duration;
use wsscope::limits::TcpLimits;
use wsscope::packet::{Segment, TcpFlags};
use wsscope::tcp::{Anomaly, CloseReason, PacketRef, StreamEvent, StreamSink, Table};
use wsscope::time::Timestamp;

const MAX_OPS: usize = 512;
const MAX_PAYLOAD: usize = 2048;

fn endpoint(i: u8) -> SocketAddr {
    let v4 = |a, p| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, a)), p);
    match i % 6 {
        0 => v4(1, 40000),
        1 => v4(2, 80),
        2 => v4(1, 40001),
        3 => v4(2, 40000), // same port as 0 on another host
        4 => v4(1, 80),
        _ => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 443),
    }
}

const BASES: [u32; 4] = [0, 1000, 0xFFFF_FF00, 0x7FFF_FFF0];

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Seq {
    Near { base: u8, delta: i16 },
    Raw(u32),
}

impl Seq {
    fn get(self) -> u32 {
        match self {
            Seq::Near { base, delta } => {
                BASES[usize::from(base) % BASES.len()].wrapping_add(delta as i32 as u32)
            }
            Seq::Raw(v) => v,
        }
    }
}

#[derive(Arbitrary, Debug)]
pub enum Payload {
    /// Bytes derived from the sequence number, so retransmissions of a range usually agree.
    Pattern { len: u16, salt: u8 },
    /// Arbitrary bytes.
    Bytes(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Dt {
    Zero,
    Millis(u16),
    Secs(u16),
    Back(u16),
    Nanos(u64),
}

#[derive(Arbitrary, Debug)]
pub enum Op {
    Segment {
        src: u8,
        dst: u8,
        seq: Seq,
        ack: Seq,
        /// SYN, ACK, FIN, RST, PSH in bits 0..5.
        flags: u8,
        window: u16,
        /// The window scale option (RFC 7323) a SYN carries; the engine ignores it elsewhere.
        wscale: Option<u8>,
        payload: Payload,
        missing: u8,
        dt: Dt,
    },
    /// Packet time passes with no packet (live capture read timeout).
    Tick(Dt),
}

struct Checker {
    last_open: u64,
    open: HashMap<u64, ConnState>,
    closed: std::collections::HashSet<u64>,
    opened: u64,
}

#[derive(Default)]
struct ConnState {
    next: [u64; 2],
    fin: [bool; 2],
    delivered: [u64; 2],
    gaps: [u64; 2],
    gap_bytes: [u64; 2],
    rst_seen: bool,
    /// Gap ranges reported, per direction.
    gap_ranges: [Vec<Range<u64>>; 2],
    /// RetransmissionMismatch ranges reported, per direction (checked at Close).
    mismatches: [Vec<Range<u64>>; 2],
    /// Smallest DataAfterFin offset reported, per direction (checked at Close).
    after_fin: [Option<u64>; 2],
    /// Offset of the Fin, per direction.
    fin_at: [u64; 2],
    /// Bytes are waiting behind a hole (the last Pending said so), per direction.
    pending: [bool; 2],
    /// An AckBeforeData was reported, per direction (at most once).
    ack_lead: [bool; 2],
}

impl Checker {
    fn conn(&mut self, id: u64, what: &str) -> &mut ConnState {
        assert!(!self.closed.contains(&id), "{what} for connection {id} after its Close");
        self.open.get_mut(&id).unwrap_or_else(|| panic!("{what} for connection {id} never opened"))
    }
}

/// `WSSCOPE_FUZZ_TRACE=1`: print every segment and event (to read an artifact).
fn trace() -> bool {
    static T: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *T.get_or_init(|| std::env::var_os("WSSCOPE_FUZZ_TRACE").is_some())
}

impl StreamSink for Checker {
    fn on_stream_event(&mut self, e: StreamEvent<'_>) {
        if trace() {
            match &e {
                StreamEvent::Data { conn, dir, offset, data, at, .. } => eprintln!(
                    "  event Data conn={} {dir} [{offset}, {}) pkt={}",
                    conn.0,
                    offset + data.len() as u64,
                    at.packet
                ),
                other => eprintln!("  event {other:?}"),
            }
        }
        match e {
            StreamEvent::Open(info) => {
                let id = info.id.0;
                assert!(id > self.last_open, "Open id {id} not above previous {}", self.last_open);
                assert!(!self.closed.contains(&id) && !self.open.contains_key(&id));
                self.last_open = id;
                self.opened += 1;
                self.open.insert(id, ConnState::default());
            }
            StreamEvent::Data { conn, dir, offset, data, .. } => {
                let c = self.conn(conn.0, "Data");
                let d = dir.index();
                assert!(!c.fin[d], "conn {} {dir}: Data at {offset} after Fin", conn.0);
                assert_eq!(offset, c.next[d], "conn {} {dir}: Data offset not contiguous", conn.0);
                assert!(!data.is_empty(), "conn {} {dir}: empty Data at {offset}", conn.0);
                c.next[d] += data.len() as u64;
                c.delivered[d] += data.len() as u64;
            }
            StreamEvent::Gap { conn, dir, offset, len, reason, .. } => {
                let c = self.conn(conn.0, "Gap");
                let d = dir.index();
                assert!(!c.fin[d], "conn {} {dir}: Gap at {offset} ({reason:?}) after Fin", conn.0);
                assert_eq!(offset, c.next[d], "conn {} {dir}: Gap offset not contiguous", conn.0);
                assert!(len > 0, "conn {} {dir}: empty Gap at {offset}", conn.0);
                c.gap_ranges[d].push(offset..offset + len);
                c.next[d] += len;
                c.gaps[d] += 1;
                c.gap_bytes[d] += len;
            }
            StreamEvent::Fin { conn, dir, offset, .. } => {
                let c = self.conn(conn.0, "Fin");
                let d = dir.index();
                assert!(!c.fin[d], "conn {} {dir}: second Fin", conn.0);
                assert_eq!(offset, c.next[d], "conn {} {dir}: Fin offset != stream end", conn.0);
                c.fin[d] = true;
                c.fin_at[d] = offset;
            }
            StreamEvent::Rst { conn, .. } => {
                self.conn(conn.0, "Rst").rst_seen = true;
            }
            StreamEvent::Pending { conn, dir, since, .. } => {
                let c = self.conn(conn.0, "Pending");
                let d = dir.index();
                assert_ne!(
                    c.pending[d],
                    since.is_some(),
                    "conn {} {dir}: Pending repeated",
                    conn.0
                );
                c.pending[d] = since.is_some();
            }
            StreamEvent::Anomaly { conn, dir, anomaly, .. } => {
                let c = self.conn(conn.0, "Anomaly");
                let d = dir.index();
                match anomaly {
                    Anomaly::LateData { offset, len, .. } => {
                        assert!(len > 0, "conn {} {dir}: empty LateData", conn.0);
                        let r = offset..offset + len;
                        assert!(
                            c.gap_ranges[d].iter().any(|g| g.start <= r.start && r.end <= g.end),
                            "conn {} {dir}: LateData {r:?} not inside a reported gap {:?}",
                            conn.0,
                            c.gap_ranges[d]
                        );
                    }
                    Anomaly::RetransmissionMismatch { offset, len } => {
                        assert!(len > 0, "conn {} {dir}: empty RetransmissionMismatch", conn.0);
                        c.mismatches[d].push(offset..offset + len);
                    }
                    Anomaly::DataAfterFin { offset, len } => {
                        assert!(len > 0, "conn {} {dir}: empty DataAfterFin", conn.0);
                        let m = c.after_fin[d].get_or_insert(offset);
                        *m = (*m).min(offset);
                    }
                    Anomaly::RstOutOfWindow { seq, outside } => {
                        assert!(
                            outside > 0,
                            "conn {} {dir}: RST {seq} reported 0 bytes outside",
                            conn.0
                        );
                    }
                    Anomaly::SynOnOpenConnection { .. } => {}
                    Anomaly::AckBeforeData { offset, .. } => {
                        assert!(!c.ack_lead[d], "conn {} {dir}: AckBeforeData twice", conn.0);
                        assert_eq!(
                            offset, c.next[d],
                            "conn {} {dir}: AckBeforeData not at the next byte",
                            conn.0
                        );
                        c.ack_lead[d] = true;
                    }
                }
            }
            StreamEvent::Close { conn, reason, stats, .. } => {
                let id = conn.0;
                let c = self.conn(id, "Close");
                match reason {
                    CloseReason::Fin => {
                        assert!(c.fin[0] && c.fin[1], "conn {id}: Close(Fin) without both Fins")
                    }
                    CloseReason::Rst => assert!(c.rst_seen, "conn {id}: Close(Rst) w/o Rst"),
                    _ => {}
                }
                for (d, stats) in stats.iter().enumerate() {
                    assert!(!c.pending[d], "conn {id} dir {d}: closed with bytes pending");
                    // The first copy of mismatching bytes was (or, when buffered, is now) delivered
                    // as Data: never inside a gap, never past the direction's end.
                    for m in &c.mismatches[d] {
                        assert!(
                            m.end <= c.next[d],
                            "conn {id} dir {d}: mismatch {m:?} past end {}",
                            c.next[d]
                        );
                        assert!(
                            !c.gap_ranges[d].iter().any(|g| g.start < m.end && m.start < g.end),
                            "conn {id} dir {d}: mismatch {m:?} overlaps a gap {:?}",
                            c.gap_ranges[d]
                        );
                    }
                    if let (true, Some(a)) = (c.fin[d], c.after_fin[d]) {
                        assert!(
                            a >= c.fin_at[d],
                            "conn {id} dir {d}: DataAfterFin at {a} before Fin at {}",
                            c.fin_at[d]
                        );
                    }
                    assert_eq!(
                        stats.delivered_bytes, c.delivered[d],
                        "conn {id} dir {d}: delivered_bytes"
                    );
                    assert_eq!(stats.gaps, c.gaps[d], "conn {id} dir {d}: gaps");
                    assert_eq!(stats.gap_bytes, c.gap_bytes[d], "conn {id} dir {d}: gap_bytes");
                }
                self.open.remove(&id);
                self.closed.insert(id);
            }
        }
    }
}

fn step(ts: Timestamp, dt: Dt) -> Timestamp {
    match dt {
        Dt::Zero => ts,
        Dt::Millis(ms) => ts.saturating_add(Duration::from_millis(u64::from(ms))),
        Dt::Secs(s) => ts.saturating_add(Duration::from_secs(u64::from(s))),
        Dt::Back(ms) => {
            Timestamp::from_nanos(ts.as_nanos().saturating_sub(i64::from(ms) * 1_000_000))
        }
        Dt::Nanos(n) => ts.saturating_add(Duration::from_nanos(n)),
    }
}

fn limits() -> TcpLimits {
    TcpLimits {
        max_connections: 4,
        max_buffered_per_direction: 4096,
        max_buffered_segments: 8,
        max_buffered_total: 16384,
        retransmission_history: 512,
        max_history_total: 2048,
        ..Default::default()
    }
}

/// Replays raw fuzzer bytes: decoded into operations as libfuzzer-sys decodes a typed input.
pub fn replay(data: &[u8]) {
    if let Ok(ops) = Vec::<Op>::arbitrary_take_rest(Unstructured::new(data)) {
        run(ops);
    }
}

/// One execution.
pub fn run(ops: Vec<Op>) {
    let limits = limits();
    let mut table = Table::new(limits.clone());
    let mut sink =
        Checker { last_open: 0, open: HashMap::new(), closed: Default::default(), opened: 0 };
    let mut ts = Timestamp::from_secs_nanos(1_700_000_000, 0);
    let mut packet = 0u64;
    let mut buf = vec![0u8; MAX_PAYLOAD];
    for op in ops.iter().take(MAX_OPS) {
        match op {
            Op::Segment { src, dst, seq, ack, flags, window, wscale, payload, missing, dt } => {
                ts = step(ts, *dt);
                packet += 1;
                let seq = seq.get();
                let payload: &[u8] = match payload {
                    Payload::Pattern { len, salt } => {
                        let n = usize::from(*len) % (MAX_PAYLOAD + 1);
                        for (i, b) in buf[..n].iter_mut().enumerate() {
                            *b = (seq.wrapping_add(i as u32) as u8)
                                ^ salt.rotate_left(3 * (i as u32 >> 9));
                        }
                        &buf[..n]
                    }
                    Payload::Bytes(v) => &v[..v.len().min(MAX_PAYLOAD)],
                };
                let seg = Segment {
                    src: endpoint(*src),
                    dst: endpoint(*dst),
                    seq,
                    ack: ack.get(),
                    flags: TcpFlags {
                        syn: flags & 1 != 0,
                        ack: flags & 2 != 0,
                        fin: flags & 4 != 0,
                        rst: flags & 8 != 0,
                        psh: flags & 16 != 0,
                    },
                    window: *window,
                    wscale: *wscale,
                    payload,
                    // Mostly 0; otherwise a few uncaptured bytes (snaplen).
                    missing: u32::from(missing.saturating_sub(192)),
                    file_offset: None,
                };
                if trace() {
                    eprintln!(
                        "pkt {packet} t={ts} {} -> {} seq={} ack={} {:?} len={} missing={}",
                        seg.src,
                        seg.dst,
                        seg.seq,
                        seg.ack,
                        seg.flags,
                        seg.payload.len(),
                        seg.missing
                    );
                }
                table.on_segment(&seg, PacketRef::new(ts, packet), &mut sink);
            }
            Op::Tick(dt) => {
                ts = step(ts, *dt);
                if trace() {
                    eprintln!("tick t={ts}");
                }
                table.advance_time(ts, &mut sink);
            }
        }
        assert!(
            table.buffered_bytes() <= limits.max_buffered_total,
            "buffered {} > max_buffered_total",
            table.buffered_bytes()
        );
        assert!(
            table.history_bytes() <= limits.max_history_total,
            "history {} > max_history_total",
            table.history_bytes()
        );
        assert!(table.len() <= limits.max_connections, "{} connections tracked", table.len());
    }
    table.finish(&mut sink);
    assert!(
        sink.open.is_empty(),
        "connections never closed: {:?}",
        sink.open.keys().collect::<Vec<_>>()
    );
    assert_eq!(sink.closed.len() as u64, sink.opened);
    assert!(table.is_empty(), "{} connections left after finish", table.len());
    assert_eq!(table.buffered_bytes(), 0, "buffered bytes after finish");
    assert_eq!(table.history_bytes(), 0, "history bytes after finish");
}
