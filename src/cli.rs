//! Command-line flags as typed (raw). Validation and derived settings live in [`crate::config`].

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// What `wsscope --help` says first.
const LONG_ABOUT: &str = "\
Passive WebSocket protocol analyzer.

wsscope reads packets from pcap/pcapng files or a live interface, reassembles TCP streams, finds
WebSocket handshakes on any port, decodes every frame and message (unmasking, fragments,
permessage-deflate) and checks both sides against RFC 6455 and RFC 7692.

Without a subcommand it shows the conversation. On a terminal (standard input and output both
a terminal) that is the interactive view: `?` lists its keys, `q` quits. Piped, redirected or
with --text it prints text instead:

  wsscope capture.pcap                 every handshake, message and finding
  wsscope -i lo -f 'tcp port 8080'     the same, live
  wsscope --text capture.pcap | less   text, one line per message

SIGINT (Ctrl-C), SIGTERM and SIGHUP stop reading and end the run as the end of the input would:
every result flushed, the usual exit status. A second signal ends wsscope at once.

Exit status: 0 success; 1 findings at or above --fail-on; 2 usage or input error.";

/// Parses the command line, exiting on `--help`, `--version` and usage errors as clap does
/// (status 2 for errors). A usage error quoting an argument that holds characters a terminal acts
/// on or hides (a file name from a glob, say) is printed escaped by [`crate::term`], without
/// colour.
pub fn parse() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        // Errors start `wsscope: error:` as every other error does; what the user typed is
        // escaped before it reaches the terminal.
        Err(e) if e.use_stderr() => {
            let text = e.render().to_string();
            let lines: Vec<_> = text.lines().map(crate::term::escape).collect();
            eprintln!("wsscope: {}", lines.join("\n").trim_end());
            std::process::exit(e.exit_code());
        }
        Err(e) => e.exit(),
    }
}

/// Passive WebSocket protocol analyzer.
#[derive(Debug, Parser)]
#[command(
    name = "wsscope",
    version,
    propagate_version = true,
    args_conflicts_with_subcommands = true,
    mut_arg("files", one_file)
)]
#[command(long_about = LONG_ABOUT)]
#[command(after_help = "Subcommands have their own --help, e.g. `wsscope report --help`.")]
pub struct Cli {
    /// What to do (default: show the conversation, interactively on a terminal).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Options of the default text view.
    #[command(flatten)]
    pub view: ViewArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse captures and print one JSON report for CI: summary, connections, findings.
    ///
    /// The report is a versioned JSON document (docs/json-format.md, schema in
    /// docs/schema/report.schema.json). The exit status says whether findings reached
    /// --fail-on (or a --require-* or --max-* threshold was broken), so a CI job can capture
    /// traffic during its tests and fail on violations. Start the capture before the clients
    /// connect (compressed messages and wss:// cannot be decoded otherwise), have tcpdump take
    /// each packet as it comes and write it at once (--immediate-mode -U: else the packets of
    /// the last second wait in libpcap's buffer and are lost when it stops), stop it with
    /// SIGINT and wait for it to exit:
    ///
    ///   tcpdump -i lo --immediate-mode -U -w ws.pcap 'tcp port 8080' 2>tcpdump.log & TCPDUMP=$!
    ///   until grep -qs listening tcpdump.log || ! kill -0 $TCPDUMP; do sleep 0.1; done
    ///   ./run-my-integration-tests
    ///   kill -INT $TCPDUMP; wait $TCPDUMP
    ///   wsscope report ws.pcap --require-connections 1 --junit wsscope.xml -o wsscope.json
    ///
    /// Examples:
    ///   wsscope report capture.pcap
    ///   wsscope report a.pcap b.pcapng --fail-on warning -o report.json
    ///   wsscope report -i lo --duration 30s -f 'tcp port 8080'
    ///   wsscope report ws.pcap --allow request_origin_missing --max-ping-rtt 200ms --require-clean-close
    ///   wsscope report ws.pcap --policy wsscope-policy.toml
    #[command(verbatim_doc_comment)]
    Report(ReportArgs),

    /// Write every event (handshakes, messages, findings, gaps) as it happens.
    ///
    /// NDJSON (the default) streams one JSON object per line while reading, so it can be piped
    /// live: `wsscope export -i lo | jq 'select(.type == "message")'`. The first line is a
    /// `begin` object with the schema version; the last a `summary`.
    ///
    /// Examples:
    ///   wsscope export capture.pcap > events.ndjson
    ///   wsscope export capture.pcap --frames --max-payload 256
    ///   wsscope export capture.pcap --format json
    #[command(verbatim_doc_comment, mut_arg("files", one_file))]
    Export(ExportArgs),

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
    #[command(verbatim_doc_comment, mut_arg("files", one_file))]
    Streams(StreamsArgs),

    /// Combine the reports of the N shares of a sharded run (report --shard I/N, on any machines)
    /// into exactly the report one run would write; its exit status is that run's.
    ///
    /// Examples:
    ///   for i in 0 1 2 3; do wsscope report big.pcap --shard $i/4 -o share-$i.json & done; wait
    ///   wsscope merge share-*.json -o report.json
    #[command(verbatim_doc_comment)]
    Merge(MergeArgs),

    /// List every check wsscope performs, with its severity and RFC section.
    Checks,

    /// List the redaction rules: those of --redact (and of `report`, which redacts by default),
    /// plus the --redact-* flags given here.
    ///
    /// Examples:
    ///   wsscope redaction
    ///   wsscope redaction --redact-field iban --redact-keep keyword
    #[command(verbatim_doc_comment)]
    Redaction(RedactionArgs),
}

/// `files` of a command that reads one input (every command but `report`): several only with
/// `--join`, which makes them one.
fn one_file(a: clap::Arg) -> clap::Arg {
    a.help(
        "Capture file, pcap or pcapng; `-` reads standard input. Several only with --join (read \
         as one capture); `wsscope report` also takes them as separate inputs",
    )
}

/// Where packets come from, plus the BPF filter and when to stop.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Capture file(s), pcap or pcapng; `-` reads standard input. Several are separate inputs,
    /// or one capture with --join (the pieces of a rotated recording, two taps).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Read the FILEs as one capture: their packets merged by timestamp (as mergecap merges
    /// them) and numbered in that order, so that connections go on from one file to the next.
    /// For the pieces of one recording (-w with -C or -G, tcpdump -C/-G, editcap -c: in any
    /// order, ws.10.pcap before ws.2.pcap too) and for the captures of two taps, one per
    /// direction. Without it, each FILE is an input of its own: a connection that goes on into
    /// the next file is seen there as captured mid-session.
    #[arg(long, requires = "files")]
    pub join: bool,

    /// Capture live from this interface instead of reading a file (needs capture permission).
    /// Repeat to capture from several at once (each on its own thread); `-i any` captures from
    /// every interface (Linux). -D lists them; -i 2 is the second one listed, as in tcpdump.
    #[arg(short = 'i', long, value_name = "IFACE", conflicts_with = "files")]
    pub interface: Vec<String>,

    /// List the interfaces wsscope can capture on, with their addresses and flags, and exit
    /// (as tcpdump -D).
    #[arg(short = 'D', long)]
    pub list_interfaces: bool,

    /// BPF capture filter, as in tcpdump (e.g. 'tcp port 8080').
    #[arg(short = 'f', long = "filter", value_name = "BPF")]
    pub filter: Option<String>,

    /// Snapshot length for live capture, in bytes: longer packets are cut (their bytes reported
    /// missing). 0 means the largest, 262144, as with tcpdump -s 0.
    #[arg(short = 's', long, value_name = "BYTES", default_value_t = 262_144)]
    pub snaplen: i32,

    /// Do not put the interface into promiscuous mode (as tcpdump -p): only traffic to and from
    /// this host is seen. Promiscuous mode changes nothing on loopback or `any`.
    #[arg(short = 'p', long = "no-promiscuous-mode")]
    pub no_promiscuous: bool,

    /// Kernel capture buffer per interface (as tcpdump -B, whose bare numbers are KiB; K, M, G
    /// suffixes also work): what absorbs bursts while wsscope is busy. libpcap's default is 2M;
    /// larger buffers drop less (libpcap's `dropped` count says when it was too small).
    /// From 64K to 1G.
    #[arg(short = 'B', long = "buffer-size", value_name = "SIZE", default_value = "32M")]
    pub buffer_size: String,

    /// Hand each packet to wsscope as it arrives (as tcpdump --immediate-mode) instead of in
    /// blocks every 100 ms at most: lower latency, more CPU per packet, more drops under load.
    #[arg(long)]
    pub immediate_mode: bool,

    /// Bytes of packets held between the capture threads and the analysis (live capture; at
    /// least 1M). The capture threads never wait for the analysis: past this, packets are
    /// dropped and counted (`queue_dropped`), never blocking libpcap.
    #[arg(long, value_name = "SIZE", default_value = "64M")]
    pub capture_queue: String,

    /// Stop after reading this many packets (after the filter), like tcpdump -c.
    #[arg(short = 'c', long = "count", value_name = "N")]
    pub count: Option<u64>,

    /// Stop a live capture after this long (wall clock), e.g. 30s, 5m. Ctrl-C (SIGINT), SIGTERM
    /// and SIGHUP also stop any run cleanly, with every result flushed.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,

    /// Also write the packets read (after the filter) to FILE, like tcpdump -w: pcapng when the
    /// name ends in .pcapng (each interface kept with its name and snapshot length, so several
    /// -i stay apart, and the TLS secrets a pcapng input carries), else pcap (one link type;
    /// the snapshot length of -s or of the input); timestamps in microseconds when the input's
    /// are (live capture, classic microsecond pcap), else nanoseconds. An existing file is
    /// refused unless --force.
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub write: Option<PathBuf>,

    /// With -w: start a new file before a packet that would make the current one larger than
    /// SIZE (a packet larger than SIZE gets a file of its own). A bare number is millions of
    /// bytes, as in tcpdump (-C 100 = 100,000,000 bytes); K, M, G are powers of 1024 and B
    /// bytes (64K, 4M, 500B). Files are numbered before the extension: ws.pcap, ws.1.pcap,
    /// ws.2.pcap, ...; each is refused if it exists, unless --force (names left by an earlier
    /// run are refused when the run starts).
    #[arg(short = 'C', long = "file-size", value_name = "SIZE")]
    pub file_size: Option<String>,

    /// With -w: start a new file with the first packet SECONDS or more after the current file's
    /// first packet. Packet time, not the wall clock (unlike tcpdump): a capture file is cut
    /// the same way every time, and a live capture about as tcpdump would. A bare number is
    /// seconds; 90s, 10m, 1h also work. Files are numbered as with -C.
    #[arg(short = 'G', long = "rotate-seconds", value_name = "SECONDS")]
    pub rotate_seconds: Option<String>,

    /// With -C or -G: keep the last COUNT files. When a new file starts, the oldest file this
    /// run wrote is removed (never a file it did not write); numbers go on increasing (unlike
    /// tcpdump's ring of names, and with -G wsscope goes on capturing instead of stopping).
    #[arg(short = 'W', long = "file-count", value_name = "COUNT")]
    pub file_count: Option<u64>,

    /// With -w: write each packet to the file as it is saved (as tcpdump -U), so that a
    /// program reading the growing file (tail -c +1 -f ws.pcap | tshark -r -) sees it at once.
    /// Without it, packets are written in blocks, and a live capture's file is brought up to
    /// date whenever the interface is idle for 100 ms, and at least once a second. (With --force replacing a file, the new
    /// one is written beside it, as a hidden .FILE.*.wsscope-tmp, and takes its name at the end.)
    #[arg(short = 'U', long = "packet-buffered", requires = "write")]
    pub packet_buffered: bool,

    /// Once the capture is open, run as USER (as tcpdump -Z): wsscope opens the interface, the
    /// -w file and the files named on the command line, then gives up root (setgroups, setgid,
    /// setuid) before it reads a packet. Live capture as root does so by default, to the user
    /// who ran sudo or else to nobody; -Z root keeps root. Without root (capabilities granted
    /// with setcap), capabilities are dropped once the interface is open.
    #[arg(short = 'Z', long = "relinquish-privileges", value_name = "USER")]
    pub relinquish_privileges: Option<String>,

    /// Replace output files that exist (-w; report's -o and --junit; the files streams
    /// --write-dir writes). The new file is written beside the old one and renamed over it once
    /// complete. Without --force an existing file is refused; with or without it, an input of
    /// the run is never replaced and a symbolic link never written through.
    #[arg(long)]
    pub force: bool,
}

/// How WebSocket traffic is decoded.
#[derive(Debug, Args)]
#[command(next_help_heading = "Decoding")]
pub struct DecodeArgs {
    /// Decode connections on this port as WebSocket even when no handshake was captured
    /// (repeatable). Handshakes are found on any port without it.
    #[arg(long = "ws-port", value_name = "PORT")]
    pub ws_ports: Vec<u16>,

    /// Analyse only share I of N of the connections (I from 0 to N-1), chosen by a hash of each
    /// connection that is the same on every machine: N runs with 0/N … N-1/N, anywhere (a
    /// Kubernetes Indexed Job: --shard $JOB_COMPLETION_INDEX/N), split a capture or an archive.
    /// `wsscope merge` combines the shares' reports (`report --shard`) into exactly the report
    /// of one run; the shares' `export` events together are one run's (concatenate them: merge
    /// takes reports only). Every run still reads every packet. With --idle-timeout, a
    /// connection picked up mid-stream that pauses can make the shares differ from one run
    /// (docs/scale-out.md).
    #[arg(long, value_name = "I/N", allow_hyphen_values = true)]
    pub shard: Option<String>,

    /// Seed of the Community ID every connection carries (community_id), the flow hash Zeek and
    /// Suricata log: give the seed they were configured with (0 is everyone's default).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub community_id_seed: u16,

    /// Decrypt TLS (wss://) with this key log: the NSS key log format that SSLKEYLOGFILE makes
    /// Chrome, Firefox and curl write (also node --tls-keylog, Python's keylog_filename, Go's
    /// KeyLogWriter, rustls' KeyLogFile). TLS 1.3 and TLS 1.2 (AES-GCM, ChaCha20-Poly1305,
    /// AES-CBC). Without it, SSLKEYLOGFILE is read when set; keys embedded in a pcapng file
    /// (editcap --inject-secrets) are always used. Live, the file is followed as it grows. The
    /// file is only read, and no secret is ever printed.
    #[arg(long, value_name = "FILE")]
    pub keylog: Option<std::path::PathBuf>,

    /// Record bytes a TLS connection keeps while its keys have not yet appeared in a key log
    /// followed live; beyond it the oldest records are given up (tls_keys_late).
    #[arg(long, value_name = "SIZE", default_value = "1M")]
    pub max_tls_key_wait: String,

    /// Payload bytes kept per message; longer messages are counted and checked in full and
    /// reported with truncated: true.
    #[arg(long, value_name = "SIZE", default_value = "1M")]
    pub max_message_size: String,

    /// Bytes one compressed message may inflate to before inflation stops (decompression bombs).
    #[arg(long, value_name = "SIZE", default_value = "64M")]
    pub max_inflate_size: String,

    /// Bytes a direction keeps while it looks for the next frame boundary (after bytes the
    /// capture lost, or for frames of a connection seen without its handshake). Frames longer
    /// than this are still followed by their headers; a connection without a handshake that
    /// shows no frames in this many bytes, and no chain of them running on past, is taken as
    /// not WebSocket. So many of the server's bytes (or 64K, if more) a 101 seen before any
    /// byte of its client keeps while it waits for its request, which merged capture points
    /// with skewed clocks capture later. From 16K to 64M (past that, the memory
    /// budget decides what is kept).
    #[arg(long, value_name = "SIZE", default_value = "256K")]
    pub max_resync: String,

    /// Analyse connections on N worker threads: one thread reads and decodes packets and hands
    /// each connection's segments to one worker (by a hash of the connection), each worker
    /// reassembles and analyses its connections, and the output is the same, byte for byte, as
    /// with one thread, unless a limit on the whole table acts: each worker holds 1/N of
    /// --max-connections, --max-buffered-total and --max-history-total and chooses its own
    /// --memory-budget evictions (the report and standard error say when one acted). Live
    /// capture too. Worth it on large captures and busy links with many connections.
    #[arg(short = 'j', long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=256).map(usize::from))]
    pub threads: usize,
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

    /// Out-of-order bytes buffered by all connections together (with -j N, each worker holds
    /// 1/N of it).
    #[arg(long, value_name = "SIZE", default_value = "256M")]
    pub max_buffered_total: String,

    /// Close a connection after this long without packets (packet time), e.g. 30s, 10m, or
    /// none. By default a quiet connection is kept until it closes or the memory budget needs
    /// its room (browsers send no pings: a session quiet for an hour is still the same session).
    /// Checked once a second of packet time, or twice per timeout when it is shorter than 2 s
    /// (a connection is closed after 1 to 1.5 times the timeout). A connection still searched
    /// for frames (no handshake captured) gets 8 times the timeout: cut at each quiet spell, it
    /// would never be found.
    #[arg(long, value_name = "DURATION", default_value = "none")]
    pub idle_timeout: String,

    /// Memory for what the capture makes wsscope hold (connections, buffered and in-progress
    /// bytes, payload copies, inflaters, report rows). Past half of it payload copies are
    /// dropped, past 65 % inflater windows, past 80 % the least recently active connections
    /// are evicted; each step is reported (memory_budget). At least 16M.
    #[arg(long, value_name = "SIZE", default_value = "1G")]
    pub memory_budget: String,

    /// How long (capture time) a hole the peer already acknowledged waits for its bytes before
    /// they are declared lost. Captures that merge two directions (SPAN ports, TAPs, cloud
    /// mirrors, mergecap) often hold an ACK before the data it acknowledges; live output of a
    /// connection waits at most this long.
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    pub reorder_window: String,

    /// The same wait counted in packets of the connection; whichever passes first ends it.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub reorder_packets: u64,

    /// IPv4 datagrams reassembled from fragments at once.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_fragmented_datagrams: usize,

    /// Tunnel headers (VXLAN, GRE, MPLS, …) taken off one packet at most; deeper packets are
    /// counted as not decoded (tunnel_too_deep).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_tunnel_depth: usize,

    /// Delivered bytes kept per direction until acknowledged, to check that retransmissions
    /// carry the same bytes (0 turns the check off).
    #[arg(long, value_name = "SIZE", default_value = "16K")]
    pub retransmission_history: String,

    /// Delivered bytes kept for that check by all connections together (with -j N, each
    /// worker holds 1/N of it); past it, bytes are not kept and standard error says how often.
    #[arg(long, value_name = "SIZE", default_value = "64M")]
    pub max_history_total: String,
}

/// Redaction for sharing outputs (docs/redaction.md): rules added to the defaults. Any of these
/// turns redaction on.
#[derive(Debug, Args)]
#[command(next_help_heading = "Redaction")]
pub struct RedactArgs {
    /// Also redact this HTTP header's value (repeatable). Naming Sec-WebSocket-Protocol redacts
    /// every subprotocol; naming Sec-WebSocket-Key redacts the key.
    #[arg(id = "redact_header", long = "redact-header", value_name = "NAME")]
    pub headers: Vec<String>,

    /// Also redact this URL query parameter's value (repeatable).
    #[arg(id = "redact_query", long = "redact-query", value_name = "NAME")]
    pub query: Vec<String>,

    /// Also redact this JSON member's value, at any depth, in text payloads (repeatable).
    #[arg(id = "redact_field", long = "redact-field", value_name = "NAME")]
    pub fields: Vec<String>,

    /// Also redact what this regular expression matches in any text shown: its group named
    /// `secret`, else its first group, else the whole match (repeatable).
    #[arg(id = "redact_pattern", long = "redact-pattern", value_name = "REGEX")]
    pub patterns: Vec<String>,

    /// Never redact this header, query parameter or JSON member because its name contains a
    /// default word, nor this subprotocol token, nor NAME=value in text by the
    /// credential_assignment pattern (repeatable).
    #[arg(id = "redact_keep", long = "redact-keep", value_name = "NAME")]
    pub keep: Vec<String>,

    /// Drop every payload and close reason; lengths are kept.
    #[arg(id = "redact_payloads", long = "redact-payloads")]
    pub payloads: bool,
}

/// The ids of the --redact-* flags (for conflicts).
pub const REDACT_FLAGS: [&str; 6] = [
    "redact_header",
    "redact_query",
    "redact_field",
    "redact_pattern",
    "redact_keep",
    "redact_payloads",
];

/// `wsscope merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The report of every share (JSON written by `wsscope report --shard I/N`).
    #[arg(value_name = "REPORT", required = true)]
    pub reports: Vec<PathBuf>,

    /// Write the merged report to this file instead of standard output (`-` is standard output).
    /// `--output-file`, as `report` calls it, is the same.
    #[arg(short = 'o', long = "output", visible_alias = "output-file", value_name = "FILE")]
    pub output_file: Option<PathBuf>,

    /// Also write JUnit XML for CI test reports, rendered from the merged report: the file one
    /// run over the same inputs writes with `report --junit`.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Replace the -o or --junit file if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `wsscope redaction`.
#[derive(Debug, Args)]
pub struct RedactionArgs {
    #[command(flatten)]
    pub rules: RedactArgs,
}

/// When to use colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When standard output is a terminal and NO_COLOR is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Severity threshold for the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Exit 1 when any error finding was reported.
    Error,
    /// Exit 1 on warnings or errors.
    Warning,
    /// Exit 1 on any finding, informational ones included.
    Info,
    /// Never exit 1 because of findings.
    Never,
}

/// Output and exit-status options shared by the analysis commands.
#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Colour in text output (NO_COLOR in the environment means never, for auto).
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Print less: no progress, no notices on standard error.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more (text view: one line per frame as well).
    #[arg(short, long)]
    pub verbose: bool,

    /// The time column of the text view: seconds since the capture started (capture), since
    /// the connection started (connection), since the previous line (delta), or the wall clock
    /// (utc, local: HH:MM:SS.mmm). The terminal UI cycles the same modes with t.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = crate::timefmt::TimeMode::Capture)]
    pub time: crate::timefmt::TimeMode,
}

/// What `report` prints besides its JSON (it has no text to colour, time or make verbose).
#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct QuietArgs {
    /// Print less: no progress, no notices on standard error.
    #[arg(short, long)]
    pub quiet: bool,
}

/// The default text view (`wsscope FILE`, `wsscope -i IFACE`).
#[derive(Debug, Args)]
pub struct ViewArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub decode: DecodeArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Exit 1 when findings at or above this severity were reported (text view).
    #[arg(long, value_enum, value_name = "LEVEL", default_value_t = FailOn::Never, help_heading = "Output")]
    pub fail_on: FailOn,
    /// Print text instead of opening the terminal UI (the default when output is not a terminal).
    #[arg(long, help_heading = "Output")]
    pub text: bool,
    /// Show only the events that match EXPR (like tshark -Y); analysis, findings, the exit status
    /// and the report are unchanged. Terms, all of which must hold (! negates): conn=N[,M],
    /// dir=c2s|s2c, op=text|binary|ping|pong|close|data|control, ~word (case-insensitive), /regex/,
    /// len>N (>=, <, <=, =), finding[=CODE], severity>=LEVEL, incomplete. Connection, handshake
    /// and end lines stay as context. Example: -Y 'dir=s2c op=text ~error'.
    #[arg(short = 'Y', long = "display-filter", value_name = "EXPR", help_heading = "Output")]
    pub display_filter: Option<String>,
    /// Full message payloads the terminal UI keeps in memory; beyond it, only previews.
    #[arg(long, value_name = "SIZE", default_value = "256M", help_heading = "Output")]
    pub payload_budget: String,
    /// Rows (messages, findings, gaps) the terminal UI keeps; beyond it the oldest rows of the
    /// busiest connection are dropped, and the status bar says how many.
    #[arg(long, value_name = "N", default_value_t = 1_000_000, help_heading = "Output",
          value_parser = clap::value_parser!(u64).range(1000..).map(|n| n as usize))]
    pub max_rows: usize,
    /// Redact credentials (header values, query values, subprotocol tokens, JSON members,
    /// patterns) before anything is shown; `wsscope redaction` lists the rules.
    #[arg(long, help_heading = "Redaction")]
    pub redact: bool,
    #[command(flatten)]
    pub redaction: RedactArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `wsscope report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub decode: DecodeArgs,
    /// Exit 1 when findings at or above this severity were reported (those --allow names do not
    /// count) [default: error, or the --policy file's fail-on].
    #[arg(long, value_enum, value_name = "LEVEL", help_heading = "Output")]
    pub fail_on: Option<FailOn>,
    /// Exit 1 unless at least N WebSocket connections were found: a CI job whose capture missed
    /// the traffic (wrong interface, wrong port, wss:// without keys) fails instead of passing
    /// on an empty report. The report says why nothing was found.
    #[arg(long, value_name = "N", help_heading = "Output")]
    pub require_connections: Option<u64>,
    /// Also write a JUnit XML file: a test case per connection, failing (one failure listing
    /// them line by line) when it has findings at or above --fail-on or broke a policy
    /// threshold; and the run's test cases (--require-connections, failing findings on no
    /// listed connection). An existing file is refused unless --force.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub junit: Option<PathBuf>,
    /// Write the report here instead of standard output (`-` is standard output). An existing
    /// file is refused unless --force; an input is never replaced.
    #[arg(short = 'o', long, value_name = "FILE", help_heading = "Output")]
    pub output_file: Option<PathBuf>,
    /// Findings of this check are still reported (marked allowed) but never count toward
    /// --fail-on (repeatable). `wsscope checks` lists the codes.
    #[arg(long, value_name = "CODE", help_heading = "Policy")]
    pub allow: Vec<String>,
    /// Report and count findings of CODE at LEVEL (error, warning or info) instead of the
    /// check's own severity (repeatable), e.g. --severity request_origin_missing=warning.
    #[arg(long = "severity", value_name = "CODE=LEVEL", help_heading = "Policy")]
    pub severity: Vec<String>,
    /// Read the policy from a TOML file: allow = [CODE, ...], a [severity] table (CODE =
    /// "LEVEL"), the thresholds below, fail-on and require-connections, under the flags' names
    /// (docs/json-format.md, "Policy"). Flags given here win over the file.
    #[arg(long, value_name = "FILE", help_heading = "Policy")]
    pub policy: Option<PathBuf>,
    /// Exit 1 when a pong answered its ping later than this (e.g. 200ms, 1s); each late pong is
    /// listed in its connection's violations.
    #[arg(long, value_name = "DURATION", help_heading = "Policy")]
    pub max_ping_rtt: Option<String>,
    /// Exit 1 when a text or binary message carried more application bytes (after
    /// decompression) than this (65536, 64K, 1M).
    #[arg(long, value_name = "SIZE", help_heading = "Policy")]
    pub max_message_bytes: Option<String>,
    /// Exit 1 when an upgraded connection did not select this subprotocol
    /// (Sec-WebSocket-Protocol), or its handshake was not captured.
    #[arg(long, value_name = "NAME", help_heading = "Policy")]
    pub require_subprotocol: Option<String>,
    /// Exit 1 when an upgraded connection ended without a close frame from each side (still
    /// open when the capture ended counts too; one wsscope stopped following, under
    /// --idle-timeout, --memory-budget or --max-connections, does not: if it goes on, the part
    /// that resumes it is judged).
    #[arg(long, help_heading = "Policy", overrides_with = "no_require_clean_close")]
    pub require_clean_close: bool,
    /// Do not require clean closes, whatever a --policy file says (the last of the two flags
    /// wins).
    #[arg(long, help_heading = "Policy", overrides_with = "require_clean_close")]
    pub no_require_clean_close: bool,
    /// Keep every value as captured. By default the report and the JUnit file are redacted
    /// (the rules of --redact: `wsscope redaction` lists them), since they are what gets
    /// attached to CI runs and tickets.
    #[arg(long, help_heading = "Redaction", conflicts_with_all = REDACT_FLAGS)]
    pub no_redact: bool,
    #[command(flatten)]
    pub redaction: RedactArgs,
    #[command(flatten)]
    pub output: QuietArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Formats of `export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line, streamed while reading.
    Ndjson,
    /// One JSON document with every event, written as they come (its `inputs` last).
    Json,
    /// Human-readable lines.
    Text,
}

/// `wsscope export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Ndjson, help_heading = "Output")]
    pub format: ExportFormat,
    /// Also write one event per frame.
    #[arg(long, help_heading = "Output")]
    pub frames: bool,
    /// Cut payloads in the output to this many bytes (for sharing logs); messages are still
    /// decoded and checked in full.
    #[arg(long, value_name = "BYTES", help_heading = "Output")]
    pub max_payload: Option<usize>,
    /// Show only the events that match EXPR (like tshark -Y); analysis, findings, the exit status
    /// and the report are unchanged. Terms, all of which must hold (! negates): conn=N[,M],
    /// dir=c2s|s2c, op=text|binary|ping|pong|close|data|control, ~word (case-insensitive), /regex/,
    /// len>N (>=, <, <=, =), finding[=CODE], severity>=LEVEL, incomplete. Connection, handshake
    /// and end lines stay as context. Example: -Y 'dir=s2c op=text ~error'.
    #[arg(short = 'Y', long = "display-filter", value_name = "EXPR", help_heading = "Output")]
    pub display_filter: Option<String>,
    /// Exit 1 when findings at or above this severity were reported.
    #[arg(long, value_enum, value_name = "LEVEL", default_value_t = FailOn::Never, help_heading = "Output")]
    pub fail_on: FailOn,
    /// Redact credentials (header values, query values, subprotocol tokens, JSON members,
    /// patterns) in every event; `wsscope redaction` lists the rules.
    #[arg(long, help_heading = "Redaction")]
    pub redact: bool,
    #[command(flatten)]
    pub redaction: RedactArgs,
    #[command(flatten)]
    pub decode: DecodeArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Output format of `streams`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StreamsFormat {
    /// One human-readable line per connection.
    Text,
    /// One JSON document with every connection, gap and anomaly: `input`, `connections` (each
    /// written when it closes), then the run's counters.
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
    /// skipped, not filled). A DIR holding such files already is refused unless --force; a
    /// symbolic link in DIR is never written through. At most a quarter of the open-file
    /// limit (`ulimit -n`, at most 1024) is held open; with more connections open at once,
    /// files are closed and opened again as their bytes come (as tcpflow does).
    #[arg(long, value_name = "DIR")]
    pub write_dir: Option<PathBuf>,

    #[command(flatten)]
    pub limits: LimitArgs,
}
