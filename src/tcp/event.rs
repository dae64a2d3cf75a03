//! What the stream engine tells its consumer: the sans-IO boundary towards the analyzer.
//!
//! The consumer sees byte ranges of each direction in stream order, exactly once, each with the
//! timestamp and packet number of the segment that carried it; holes appear as explicit
//! [`StreamEvent::Gap`]s, so the consumer always knows where bytes are missing. It never sees
//! packets and never does I/O.

use super::flow::{ConnId, Direction, RoleSource};
use crate::time::Timestamp;
use serde::Serialize;
use std::net::SocketAddr;

/// Where something happened: the time and the 1-based packet number (as Wireshark numbers them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PacketRef {
    /// Packet timestamp.
    #[serde(skip)]
    pub ts: Timestamp,
    /// 1-based number of the packet in the capture.
    pub packet: u64,
    /// For a TCP segment with the ACK flag: its acknowledgment number (raw, as on the wire). It
    /// tells what the sender had received of the other direction when it sent this — an order
    /// that clock skew between capture points cannot scramble. (Raw, because the other
    /// direction's first sequence number may not have been captured yet.)
    #[serde(skip)]
    pub ack: Option<u32>,
}

impl PacketRef {
    /// A packet with no acknowledgment information.
    pub const fn new(ts: Timestamp, packet: u64) -> Self {
        PacketRef { ts, packet, ack: None }
    }
}

/// A connection as first seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// The connection's id.
    pub id: ConnId,
    /// Client endpoint (sent the SYN, or guessed — see `role`).
    pub client: SocketAddr,
    /// Server endpoint.
    pub server: SocketAddr,
    /// How the client/server roles were decided.
    pub role: RoleSource,
    /// For a [`RoleSource::Resumed`] connection: what the sink answered
    /// ([`StreamSink::resume_mark`]) when the table stopped following the connection it
    /// resumes; 0 for every other.
    pub resume_mark: u8,
    /// The packet that created the connection.
    pub first: PacketRef,
}

/// Why bytes are missing from a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GapReason {
    /// Bytes after the hole were captured, the peer acknowledged the hole (or the capture holds
    /// no acknowledgment of this direction), and its bytes did not come within the reorder window
    /// (`--reorder-window`, `--reorder-packets`): the capture lost them.
    Lost,
    /// The packet was cut by the capture's snapshot length.
    Snaplen,
    /// Too many out-of-order bytes or segments were buffered behind the hole (a limit was hit).
    BufferLimit,
    /// The connection ended (FIN, RST, idle timeout, eviction, end of capture) with the hole open.
    ConnectionEnd,
    /// The peer acknowledged bytes that were never captured, and nothing after them was seen.
    /// The range may include the sequence number of a FIN that was not captured.
    AckedUnseen,
}

/// How a connection left the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// Both directions ended with FIN.
    Fin,
    /// An endpoint sent RST.
    Rst,
    /// No packet for longer than the idle timeout.
    Idle,
    /// Evicted because the connection limit was reached.
    Evicted,
    /// Evicted to stay under the memory budget (`--memory-budget`).
    MemoryBudget,
    /// A new SYN reused the 4-tuple while this connection was still open.
    Reused,
    /// The capture ended with the connection still open.
    EndOfCapture,
}

/// Something odd in a direction's segments that is not a hole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Anomaly {
    /// A retransmission carried different bytes than the first copy seen for the same sequence
    /// numbers. The first copy was delivered; this one was dropped.
    RetransmissionMismatch {
        /// Stream offset of the first byte of the conflicting range.
        offset: u64,
        /// Length of the conflicting range.
        len: u64,
    },
    /// Bytes arrived after their range had been declared a gap; they were not delivered.
    LateData {
        /// Stream offset of the late bytes.
        offset: u64,
        /// Number of late bytes.
        len: u64,
        /// Capture time from the declaration of the gap to their arrival, in nanoseconds.
        after_ns: u64,
    },
    /// The peer's acknowledgment of these bytes was captured before the bytes themselves: the
    /// capture merges two capture points or clocks (SPAN/TAP, mergecap). Reported once per
    /// direction.
    AckBeforeData {
        /// Stream offset of the first byte delivered after its acknowledgment.
        offset: u64,
        /// Capture time from the acknowledgment to these bytes, in nanoseconds.
        lead_ns: u64,
    },
    /// A RST whose sequence number lies outside what the receiver could accept (RFC 9293
    /// §3.10.7.4, RFC 5961 §3): the receiver drops it, so the connection goes on and so does
    /// the analysis. Forged RSTs (evasion, off-path injection) look like this.
    RstOutOfWindow {
        /// The RST's sequence number.
        seq: u32,
        /// How far outside the acceptable range it lies, in bytes.
        outside: u64,
    },
    /// A SYN with a new initial sequence number on an open connection, after which the
    /// connection went on: the server did not accept a new connection (it answers such a SYN
    /// with an ACK, RFC 5961 §4), so the connection was not ended.
    SynOnOpenConnection {
        /// The SYN's sequence number.
        seq: u32,
    },
    /// Bytes beyond the FIN's sequence number; dropped.
    DataAfterFin {
        /// Stream offset of the first byte after the FIN.
        offset: u64,
        /// Number of bytes dropped.
        len: u64,
    },
}

/// Per-direction counters, reported when a connection closes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DirStats {
    /// Segments seen in this direction (including pure ACKs).
    pub segments: u64,
    /// Bytes delivered to the consumer.
    pub delivered_bytes: u64,
    /// Number of gaps.
    pub gaps: u64,
    /// Bytes missing (sum of gap lengths).
    pub gap_bytes: u64,
    /// Bytes received again for ranges already delivered or buffered.
    pub retransmitted_bytes: u64,
    /// Retransmitted bytes that could be compared with the first copy and matched.
    pub verified_retransmitted_bytes: u64,
    /// Number of retransmissions whose bytes differed from the first copy.
    pub mismatches: u64,
    /// Segments that arrived ahead of a hole and were buffered.
    pub out_of_order_segments: u64,
    /// TCP keep-alive probes (ignored).
    pub keepalives: u64,
    /// Bytes that arrived after their range was declared a gap.
    pub late_bytes: u64,
    /// Bytes before the first byte of the stream as first seen (capture started mid-stream).
    pub before_start_bytes: u64,
    /// Bytes after the FIN.
    pub after_fin_bytes: u64,
    /// FINs ignored because bytes beyond them had already been captured.
    pub ignored_fins: u64,
}

/// One thing the stream engine reports. Borrowed data lives until the sink returns.
#[derive(Debug)]
pub enum StreamEvent<'a> {
    /// A new connection.
    Open(&'a ConnInfo),
    /// The next bytes of a direction, in order. `offset` is the stream offset of `data[0]`.
    Data {
        /// Connection.
        conn: ConnId,
        /// Direction.
        dir: Direction,
        /// Stream offset of the first byte.
        offset: u64,
        /// Raw TCP sequence number of the first byte (with `offset`, it places this direction's
        /// raw sequence numbers — and so the other direction's acknowledgments of it).
        seq: u32,
        /// The bytes (borrowed from the packet when it arrived in order).
        data: &'a [u8],
        /// The segment that carried these bytes.
        at: PacketRef,
    },
    /// Bytes `[offset, offset + len)` of a direction will never be delivered.
    Gap {
        /// Connection.
        conn: ConnId,
        /// Direction.
        dir: Direction,
        /// Stream offset of the first missing byte.
        offset: u64,
        /// Number of missing bytes.
        len: u64,
        /// Raw TCP sequence number of the first missing byte (to find it in Wireshark).
        seq: u32,
        /// Why the bytes are missing.
        reason: GapReason,
        /// Where the gap lies in the capture: the packet that carried the first byte after it
        /// (for a snaplen cut, the cut packet; when nothing followed, the packet that ended the
        /// connection or made the gap certain).
        at: PacketRef,
    },
    /// The direction ended with a FIN; every byte before it was delivered or reported as a gap.
    Fin {
        /// Connection.
        conn: ConnId,
        /// Direction.
        dir: Direction,
        /// Stream offset of the FIN (the direction's length).
        offset: u64,
        /// The FIN's packet.
        at: PacketRef,
    },
    /// The endpoint sending in `dir` reset the connection.
    Rst {
        /// Connection.
        conn: ConnId,
        /// Direction of the RST segment.
        dir: Direction,
        /// The RST's packet.
        at: PacketRef,
    },
    /// Bytes of a direction started (`since` is the packet of the oldest of them) or stopped
    /// (`since` is `None`) waiting behind a hole. Until they are delivered or declared a gap, the
    /// consumer may still receive data captured as early as `since`: a consumer that keeps its
    /// output in capture order holds back what came later.
    Pending {
        /// Connection.
        conn: ConnId,
        /// Direction.
        dir: Direction,
        /// The packet that carried the oldest waiting bytes, or `None` when nothing waits.
        since: Option<PacketRef>,
        /// The packet being handled when this changed.
        at: PacketRef,
    },
    /// Something odd that is not a hole.
    Anomaly {
        /// Connection.
        conn: ConnId,
        /// Direction.
        dir: Direction,
        /// What happened.
        anomaly: Anomaly,
        /// The packet that showed it.
        at: PacketRef,
    },
    /// The connection is finished; no more events for it follow.
    Close {
        /// Connection.
        conn: ConnId,
        /// Why it closed.
        reason: CloseReason,
        /// Counters per direction, indexed by [`Direction::index`].
        stats: &'a [DirStats; 2],
        /// The packet that closed it (or the last packet of the capture).
        at: PacketRef,
    },
}

/// Receives stream events (the push model: the engine drives, the sink consumes).
pub trait StreamSink {
    /// Handles one event.
    fn on_stream_event(&mut self, event: StreamEvent<'_>);
    /// Live capture counters, about once a second, passed on to whoever shows them.
    fn on_stats(&mut self, _stats: &crate::event::Stats) {}
    /// Asked when the table stops following an open connection that it may pick up again
    /// (`--idle-timeout`, `--memory-budget`), right after its `Close`: a byte the table keeps
    /// with the few bytes it remembers of the connection and hands back in the
    /// [`ConnInfo::resume_mark`] of the connection that resumes it (the analyzer: whether it
    /// was shown as a WebSocket connection, and its handshake's outcome, so that each is
    /// counted once).
    fn resume_mark(&mut self, _conn: ConnId) -> u8 {
        0
    }
    /// Whether the sink is still searching this connection for what it carries (frames without
    /// a handshake): `--idle-timeout` gives it longer, since a part that resumed would search
    /// from nothing again, and a session quieter than the timeout between messages would never
    /// be found. The memory budget still evicts it.
    fn keeps_searching(&self, _conn: ConnId) -> bool {
        false
    }
    /// The table's sweep at `at` is done (capture time passed a sweep's interval; the same
    /// instants in a sharded run as in one thread): the sink may let time pass for what it
    /// holds.
    fn on_sweep(&mut self, _at: PacketRef) {}
}

impl<F: FnMut(StreamEvent<'_>)> StreamSink for F {
    fn on_stream_event(&mut self, event: StreamEvent<'_>) {
        self(event)
    }
}
