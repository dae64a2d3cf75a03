//! Resource limits. Every limit has a name, a default, a command-line flag and a visible effect
//! when it is hit, so memory stays bounded on any input.

use std::time::Duration;

/// Limits of the TCP stream engine, IP defragmentation and tunnel decapsulation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpLimits {
    /// Connections tracked at once (default 100 000). When full, closed connections are dropped
    /// first, then the least recently active eighth of the open ones is evicted; each evicted
    /// connection closes with reason `evicted` (`--max-connections`).
    pub max_connections: usize,
    /// Out-of-order bytes buffered per direction behind a hole (default 4 MiB). When exceeded,
    /// the first hole becomes a gap with reason `buffer_limit` (`--max-buffered-per-direction`).
    pub max_buffered_per_direction: usize,
    /// Out-of-order segments buffered per direction (default 4096); same effect
    /// (`--max-buffered-segments`).
    pub max_buffered_segments: usize,
    /// Out-of-order bytes buffered by all connections together (default 256 MiB); same effect on
    /// the direction that crosses it (`--max-buffered-total`).
    pub max_buffered_total: usize,
    /// A connection with no packet for this long (packet time) is closed with reason `idle`
    /// (default: never, `Duration::MAX`; `--idle-timeout`). Quiet connections are kept until
    /// they close, or until the memory budget evicts the least recently active ones: an idle
    /// timeout would cut a quiet session in two and lose its inflater's context.
    pub idle_timeout: Duration,
    /// How long a closed connection is remembered to absorb late retransmissions and ACKs
    /// (default 30 s); packets in that time are counted, not treated as a new connection.
    pub closed_linger: Duration,
    /// Delivered bytes per direction kept until the peer acknowledges them, to check that
    /// retransmissions carry the same bytes as the first copy (default 16 KiB; 0 disables the
    /// check). Retransmitted bytes no longer held are counted as unverified, never as matching.
    pub retransmission_history: usize,
    /// Of those, how many already acknowledged bytes are still kept per direction (default
    /// 1 KiB), so that a spurious or forged retransmission of just-acknowledged bytes is checked
    /// too. An idle connection holds at most this much per direction.
    pub retransmission_history_acked: usize,
    /// Delivered bytes held for retransmission checks by all connections together (default
    /// 64 MiB); beyond it, directions stop keeping history and their retransmissions count as
    /// unverified.
    pub max_history_total: usize,
    /// How long a hole the peer acknowledged waits for its bytes, in capture time, before it
    /// becomes a `lost` gap (default 2 s; `--reorder-window`). Captures that merge two
    /// directions (SPAN, TAP, mirrors) often hold an ACK before the data it acknowledges; live
    /// output for a connection waits at most this long.
    pub reorder_window: Duration,
    /// The same window counted in segments of the connection captured since the acknowledgment
    /// passed the hole (default 2000; `--reorder-packets`). Whichever of the two closes first
    /// ends the wait; `max_buffered_per_direction` bounds the bytes held meanwhile.
    pub reorder_packets: u64,
    /// IPv4 datagrams being reassembled from fragments at once (default 1024); beyond it the
    /// oldest is dropped and counted (`--max-fragmented-datagrams`).
    pub max_fragmented_datagrams: usize,
    /// A fragmented datagram not completed within this time is dropped and counted (default 30 s).
    pub fragment_timeout: Duration,
    /// Tunnel headers taken off one packet at most (default 8; VXLAN inside GRE is 2). A packet
    /// nested deeper is not decoded and is counted as `tunnel_too_deep`
    /// (`--max-tunnel-depth`).
    pub max_tunnel_depth: usize,
    /// The global memory budget (default 1 GiB; `--memory-budget`), shared with the analyzer
    /// and the report: see [`crate::memory`].
    pub memory: crate::memory::Memory,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_connections: 100_000,
            max_buffered_per_direction: 4 << 20,
            max_buffered_segments: 4096,
            max_buffered_total: 256 << 20,
            idle_timeout: Duration::MAX,
            closed_linger: Duration::from_secs(30),
            retransmission_history: 16 << 10,
            retransmission_history_acked: 1 << 10,
            max_history_total: 64 << 20,
            reorder_window: Duration::from_secs(2),
            reorder_packets: 2000,
            max_fragmented_datagrams: 1024,
            fragment_timeout: Duration::from_secs(30),
            max_tunnel_depth: 8,
            memory: crate::memory::Memory::default(),
        }
    }
}
