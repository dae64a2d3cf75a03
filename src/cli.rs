//! Command-line flags as typed (raw). Validation and derived settings live in [`crate::config`].

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Passive WebSocket protocol analyzer.
///
/// wsscope reads packets from pcap/pcapng files or a live interface, reassembles TCP streams,
/// and (as the analyzer lands) decodes the WebSocket connections inside them.
#[derive(Debug, Parser)]
#[command(name = "wsscope", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Reassemble the TCP streams of a capture and summarise every connection.
    ///
    /// One line (or JSON object) per connection, printed when it closes: bytes per direction,
    /// gaps (bytes the capture missed), retransmissions and conflicting retransmissions, how it
    /// ended. With --write-dir, each direction's reassembled bytes are written to a file, like
    /// `tcpflow`.
    ///
    /// Examples:
    ///   wsscope streams testdata/captures/real/py-basic.pcap
    ///   wsscope streams capture.pcapng -f 'tcp port 8080' --format json
    ///   tcpdump -i lo -w - | wsscope streams -
    Streams(StreamsArgs),
}

/// Where packets come from, plus the BPF filter.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Capture file (pcap or pcapng); `-` reads standard input.
    #[arg(
        value_name = "FILE",
        required_unless_present = "interface",
        conflicts_with = "interface"
    )]
    pub file: Option<PathBuf>,

    /// Capture live from this interface instead of reading a file (needs capture permission).
    #[arg(short = 'i', long, value_name = "IFACE")]
    pub interface: Option<String>,

    /// BPF capture filter, as in tcpdump (e.g. 'tcp port 8080').
    #[arg(short = 'f', long = "filter", value_name = "BPF")]
    pub filter: Option<String>,

    /// Snapshot length for live capture, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 262_144)]
    pub snaplen: i32,

    /// Stop after reading this many packets (after the filter), like tcpdump -c.
    #[arg(short = 'c', long = "count", value_name = "N")]
    pub count: Option<u64>,

    /// Stop a live capture after this long (wall clock), e.g. 30s, 5m. Ctrl-C also stops it
    /// cleanly, with every result flushed.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
}

/// Limits of the stream engine. Sizes accept K, M, G suffixes (powers of 1024).
#[derive(Debug, Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// Connections tracked at once; beyond it the least recently active are evicted.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_connections: usize,

    /// Out-of-order bytes buffered per direction behind a hole before it is declared a gap.
    #[arg(long, value_name = "SIZE", default_value = "4M")]
    pub max_buffered_per_direction: String,

    /// Out-of-order segments buffered per direction before the first hole is declared a gap.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub max_buffered_segments: usize,

    /// Out-of-order bytes buffered by all connections together.
    #[arg(long, value_name = "SIZE", default_value = "256M")]
    pub max_buffered_total: String,

    /// Close a connection after this long without packets (packet time), e.g. 30s, 10m.
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub idle_timeout: String,

    /// IPv4 datagrams reassembled from fragments at once.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_fragmented_datagrams: usize,

    /// Delivered bytes kept per direction until acknowledged, to check that retransmissions
    /// carry the same bytes (0 turns the check off).
    #[arg(long, value_name = "SIZE", default_value = "16K")]
    pub retransmission_history: String,

    /// Delivered bytes kept for that check by all connections together.
    #[arg(long, value_name = "SIZE", default_value = "64M")]
    pub max_history_total: String,
}

/// Output format of `streams`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StreamsFormat {
    /// One human-readable line per connection.
    Text,
    /// One JSON document with every connection, gap and anomaly.
    Json,
}

/// `wsscope streams`.
#[derive(Debug, Args)]
pub struct StreamsArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = StreamsFormat::Text)]
    pub format: StreamsFormat,

    /// Write each direction's reassembled bytes to DIR/conn-<id>-<direction>.bin (gaps are
    /// skipped, not filled).
    #[arg(long, value_name = "DIR")]
    pub write_dir: Option<PathBuf>,

    #[command(flatten)]
    pub limits: LimitArgs,
}
