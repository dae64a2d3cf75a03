//! Deterministic generator of large, realistic WebSocket captures, for benchmarks.
//!
//! ```text
//! cargo run --release --example gen_bulk -- OUT.pcap --size 100M [--seed N] [--concurrency N] [--loopback] [--no-deflate] [--dump FILE]
//! ```
//!
//! Writes `OUT.pcap` (Ethernet, about `--size` bytes: `K`, `M`, `G` are powers of 1000, `Ki`,
//! `Mi`, `Gi` of 1024) and `OUT.pcap.expected.json`, the totals of what was written, which
//! `benches/pipeline.rs` checks `wsscope report` against. The capture is streamed to the file:
//! memory depends on the connections open at once, not on the size. The same seed gives the
//! same bytes (given the same zlib-rs version: compressed payloads come from it).
//!
//! # What the capture holds
//!
//! - `--concurrency` connections open at once (default 11 per MB: 1,100 at 100 MB, 11,000 at
//!   1 GB), interleaved packet by packet in random order; when one ends a new one starts, until
//!   the file is nearly `--size`, then every connection closes. Each connection: SYN / SYN-ACK /
//!   ACK with MSS, SACK, timestamps and window scale; TCP timestamps on every segment;
//!   segmentation at 1448 bytes (IPv4) or 1428 bytes (IPv6: MSS 1440 minus the timestamps),
//!   1–4 segments per burst, a pure ACK from the receiver after each burst; at the end FIN /
//!   FIN / ACK. 20 % of the connections are IPv6. Server ports are 80 and 8080 (Wireshark
//!   decodes HTTP there without `-d`). Clients are in 10.64.0.0/10 and fd00:0:0:1::/64,
//!   servers 10.0.0.1–4 and fd00:0:0:2::1–4; with `--loopback` every connection is IPv4 and
//!   every address is in 127.0.0.0/8 (clients in [`LOOPBACK_CLIENTS`], servers in
//!   [`LOOPBACK_SERVERS`]), so that the capture can be replayed onto `lo` (`benches/live.rs`).
//! - 97 % are WebSocket connections: an HTTP/1.1 upgrade request (Host, Origin, User-Agent, a
//!   random Sec-WebSocket-Key, version 13, often subprotocols and a permessage-deflate offer)
//!   and its 101 response with the right Sec-WebSocket-Accept (base64 of SHA-1 of key + GUID).
//!   20 % of all connections negotiate permessage-deflate with context takeover: one raw deflate
//!   compressor per direction kept across messages, each message sync-flushed with its
//!   `00 00 FF FF` tail removed and RSV1 on its first frame (10 % of their messages are sent
//!   uncompressed, which is allowed). The other 3 % are plain HTTP requests with a JSON body
//!   (counted as TCP connections, not WebSocket ones).
//! - Messages: mostly small JSON-like text (trades, chat with non-ASCII words, presence), some
//!   arrays of records of 0.4–60 KB, binary of 16 B–48 KB (structured records or random bytes);
//!   client frames masked with a random key per frame, server frames unmasked. The server sends
//!   about two thirds of the messages, in bursts of 1–3. Large messages are sometimes fragmented
//!   in 4 or 16 KiB frames, a few others at random points (also inside UTF-8 characters); a ping
//!   sometimes arrives between fragments. Standalone pings with unique payloads from either
//!   side, always answered by a pong with the same payload. Frames usually start a new segment,
//!   sometimes share one (so headers also straddle segments).
//! - Every connection ends with a clean closing handshake (1000 or 1001, either side first, the
//!   peer echoing the code) and then FIN from both sides: wsscope should report no finding.
//!
//! This file does not use the `wsscope` library: the expected results must not come from the
//! code under test. `benches/pipeline.rs` includes it with `#[path]`.

#[path = "rng.rs"]
mod rng;
#[path = "segment.rs"]
mod segment;

use anyhow::{Context, Result, bail, ensure};
use base64::Engine;
use flate2::{Compress, Compression, FlushCompress};
use pcap::{Capture, Linktype, Savefile};
use rng::Rng;
use segment::{Addrs, Flags, Segment};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The default seed ("gen_bulk").
pub const DEFAULT_SEED: u64 = 0x6765_6e5f_6275_6c6b;
/// Connections open at once per 10^9 bytes of capture.
const OPEN_PER_GB: u64 = 11_000;
/// Fewest connections open at once (small captures).
const MIN_OPEN: usize = 16;
/// First packet timestamp, in seconds since the epoch.
const BASE_SECS: u64 = 1_700_000_000;
/// Time between packets: 2 µs plus up to 8 µs.
const GAP_NS: (u64, u64) = (2_000, 8_000);
/// Ports Wireshark dissects as HTTP by default.
pub const SERVER_PORTS: [u16; 2] = [80, 8080];
/// TCP payload of a full segment: MSS 1460 (IPv4) or 1440 (IPv6) minus the timestamp option.
const MSS_V4: usize = 1448;
const MSS_V6: usize = 1428;
/// Window field after the handshake (scaled by 2^7: about 64 KB).
const WINDOW: u16 = 501;
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// A queue holding more than this after a large message gives its memory back.
const QUEUE_KEEP: usize = 16 * 1024;

/// With `--loopback`: clients in 127.64.0.0/10, servers 127.32.0.1–4 (no other traffic on `lo`
/// uses these, so a capture filter can pick out the replayed packets).
pub const LOOPBACK_CLIENTS: ([u8; 4], u8) = ([127, 64, 0, 0], 10);
pub const LOOPBACK_SERVERS: ([u8; 4], u8) = ([127, 32, 0, 0], 16);

/// Per mille of connections: IPv6, plain HTTP, permessage-deflate.
const IPV6_PER_MILLE: u64 = 200;
const PLAIN_HTTP_PER_MILLE: u64 = 30;
const DEFLATE_PER_MILLE: u64 = 200;

/// Index of the client (and of the client-to-server direction) in per-side arrays.
const C2S: usize = 0;
/// Index of the server (and of the server-to-client direction).
const S2C: usize = 1;

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

/// What to generate.
#[derive(Clone, Debug)]
pub struct Options {
    /// Approximate file size in bytes.
    pub size: u64,
    pub seed: u64,
    /// Connections open at once (default: 11 per MB, at least 16).
    pub concurrency: Option<usize>,
    /// Every connection IPv4 and every address in 127.0.0.0/8 (for replaying onto `lo`). The
    /// random choices are the same as without it; only addresses, IP version and segment sizes
    /// differ.
    pub loopback: bool,
    /// No connection negotiates permessage-deflate (the same random choices otherwise; the
    /// connections that would have, offer it and are refused).
    pub no_deflate: bool,
    /// Also write what a receiver must inflate and validate to this file (the benchmark's
    /// floor of unavoidable work reads it). One record per data message: connection id (u32
    /// LE), direction (u8: 0 client to server), flags (u8: 1 text, 2 compressed), length (u32
    /// LE), then the payload as the receiver has it after unmasking: when compressed, the
    /// deflate stream without its `00 00 FF FF` tail.
    pub dump: Option<PathBuf>,
}

impl Options {
    pub fn new(size: u64) -> Options {
        Options {
            size,
            seed: DEFAULT_SEED,
            concurrency: None,
            loopback: false,
            no_deflate: false,
            dump: None,
        }
    }

    fn open_at_once(&self) -> usize {
        self.concurrency.unwrap_or_else(|| {
            let n = (u128::from(self.size) * u128::from(OPEN_PER_GB) / 1_000_000_000) as usize;
            n.max(MIN_OPEN)
        })
    }
}

fn main() -> std::process::ExitCode {
    match cli(std::env::args().skip(1)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen_bulk: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

const USAGE: &str = "usage: gen_bulk OUT.pcap --size SIZE [--seed N] [--concurrency N] [--loopback] [--no-deflate] [--dump FILE]   (SIZE: 100M, 1G, 500Ki…)";

/// Parses the arguments (without the program name), generates, prints a summary.
pub fn cli(args: impl IntoIterator<Item = String>) -> Result<()> {
    let mut out: Option<PathBuf> = None;
    let mut size = None;
    let mut seed = DEFAULT_SEED;
    let mut concurrency = None;
    let mut loopback = false;
    let mut no_deflate = false;
    let mut dump = None;
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--size" => size = Some(parse_size(&value("--size")?)?),
            "--seed" => seed = parse_u64(&value("--seed")?)?,
            "--concurrency" => {
                let n = parse_u64(&value("--concurrency")?)?;
                ensure!(n > 0, "--concurrency must be positive");
                concurrency = Some(n as usize);
            }
            "--loopback" => loopback = true,
            "--no-deflate" => no_deflate = true,
            "--dump" => dump = Some(PathBuf::from(value("--dump")?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            s if s.starts_with('-') => bail!("unknown option {s}\n{USAGE}"),
            _ if out.is_none() => out = Some(PathBuf::from(a)),
            _ => bail!("more than one output file\n{USAGE}"),
        }
    }
    let (Some(out), Some(size)) = (out, size) else { bail!("{USAGE}") };
    let opts = Options { size, seed, concurrency, loopback, no_deflate, dump };
    let start = Instant::now();
    let e = generate(&out, &opts)?;
    let secs = start.elapsed().as_secs_f64();
    println!("{}", e.describe());
    println!(
        "wrote {} and {} in {secs:.2} s ({:.0} MB/s)",
        out.display(),
        sidecar_path(&out).display(),
        e.file_bytes as f64 / 1e6 / secs
    );
    Ok(())
}

/// `100M` → 100,000,000; `2Gi` → 2 × 2^30; a plain number is bytes.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().with_context(|| format!("bad size {s:?}"))?;
    let mult: f64 = match unit.trim().trim_end_matches(['B', 'b']) {
        "" => 1.0,
        "K" | "k" => 1e3,
        "M" | "m" => 1e6,
        "G" | "g" => 1e9,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        u => bail!("bad size unit {u:?} in {s:?} (K, M, G, Ki, Mi, Gi)"),
    };
    let bytes = n * mult;
    ensure!((1.0..1e13).contains(&bytes), "size {s:?} out of range");
    Ok(bytes as u64)
}

fn parse_u64(s: &str) -> Result<u64> {
    let r = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.with_context(|| format!("bad number {s:?}"))
}

/// `OUT.pcap` → `OUT.pcap.expected.json`.
pub fn sidecar_path(pcap: &Path) -> PathBuf {
    let mut s = pcap.as_os_str().to_owned();
    s.push(".expected.json");
    PathBuf::from(s)
}

// ---------------------------------------------------------------------------------------------
// Expected totals (the sidecar)
// ---------------------------------------------------------------------------------------------

/// Message counters of one direction, named as in `wsscope report`'s `connections[].messages`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirCounts {
    /// Data messages (text + binary).
    pub data: u64,
    pub text: u64,
    pub binary: u64,
    pub ping: u64,
    pub pong: u64,
    pub close: u64,
    /// Application bytes of data messages (before compression).
    pub bytes: u64,
    /// Payload bytes of data messages on the wire (after compression).
    pub wire_bytes: u64,
    /// Data messages sent compressed.
    pub compressed: u64,
    /// Data messages sent in more than one frame.
    pub fragmented: u64,
}

/// Messages per opcode, both directions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpcodeCounts {
    pub text: u64,
    pub binary: u64,
    pub ping: u64,
    pub pong: u64,
    pub close: u64,
}

/// What the generator wrote (`OUT.pcap.expected.json`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Expected {
    pub generator: String,
    pub seed: u64,
    /// The requested size.
    pub size_target: u64,
    /// Size of the pcap file.
    pub file_bytes: u64,
    /// Packet records (every one a TCP segment).
    pub packets: u64,
    /// Every TCP connection (report: `summary.tcp_connections`).
    pub tcp_connections: u64,
    /// Upgraded WebSocket connections (report: `summary.websocket_connections`, `upgraded`).
    pub websocket_connections: u64,
    /// Plain HTTP connections (no upgrade).
    pub plain_http_connections: u64,
    pub ipv6_connections: u64,
    /// WebSocket connections with permessage-deflate.
    pub deflate_connections: u64,
    /// Connections open at once.
    pub max_open_connections: u64,
    /// TCP payload bytes, both directions.
    pub tcp_payload_bytes: u64,
    /// Packet time from the first packet to the last, in seconds.
    pub duration_secs: f64,
    /// WebSocket frames (data and control).
    pub frames: u64,
    /// Messages, data and control (report: `summary.messages`).
    pub messages: u64,
    pub messages_by_opcode: OpcodeCounts,
    /// Application bytes of every message, control payloads included (report:
    /// `summary.message_bytes`).
    pub message_bytes: u64,
    /// Application bytes of data messages.
    pub data_bytes: u64,
    pub compressed_messages: u64,
    pub fragmented_messages: u64,
    pub client_to_server: DirCounts,
    pub server_to_client: DirCounts,
    /// Findings wsscope should report (none: the traffic is clean).
    pub findings: u64,
    /// Gaps wsscope should report (none: every segment is in the file).
    pub gaps: u64,
}

impl Expected {
    fn dir_mut(&mut self, d: usize) -> &mut DirCounts {
        if d == C2S { &mut self.client_to_server } else { &mut self.server_to_client }
    }

    /// A few lines for humans.
    pub fn describe(&self) -> String {
        let m = &self.messages_by_opcode;
        format!(
            "{:.1} MB, {} packets in {:.2} s, {} TCP connections ({} WebSocket, {} with permessage-deflate, {} IPv6), {} open at once\n\
             {} frames, {} messages: {} text, {} binary, {} ping, {} pong, {} close; {:.1} MB application data, {} compressed, {} fragmented",
            self.file_bytes as f64 / 1e6,
            self.packets,
            self.duration_secs,
            self.tcp_connections,
            self.websocket_connections,
            self.deflate_connections,
            self.ipv6_connections,
            self.max_open_connections,
            self.frames,
            self.messages,
            m.text,
            m.binary,
            m.ping,
            m.pong,
            m.close,
            self.data_bytes as f64 / 1e6,
            self.compressed_messages,
            self.fragmented_messages,
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Generator
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Syn,
    SynAck,
    /// The client sends its request.
    Request,
    /// The server answers.
    Response,
    /// WebSocket messages.
    Open,
    /// The peer of the first close frame answers it.
    CloseReply,
    /// FIN / FIN / ACK.
    Fin,
}

/// One connection being written. Per-side arrays are indexed by the sending side.
struct Conn {
    id: u32,
    addrs: Addrs,
    ports: [u16; 2],
    /// Sequence number of the next byte each side sends.
    seq: [u32; 2],
    mss: usize,
    websocket: bool,
    state: State,
    /// One compressor per direction when permessage-deflate was negotiated.
    deflate: Option<Box<[Compress; 2]>>,
    messages_left: u32,
    /// Bytes written by one side (`qdir`) and not yet sent, from `qpos`.
    q: Vec<u8>,
    qpos: usize,
    qdir: usize,
    /// Offsets in `q` where a segment must end (each write starts a new segment).
    cuts: Vec<usize>,
    cut_idx: usize,
    /// The pong owed: (the side that owes it, the ping's payload).
    pong_due: Option<(usize, Vec<u8>)>,
    /// Sec-WebSocket-Key of the request, until the response.
    key: String,
    /// The client offered subprotocols.
    protocols: bool,
    pings: u64,
    /// The side that sends the first close frame, and its code.
    closer: usize,
    close_code: u16,
}

impl Conn {
    fn queued(&self) -> usize {
        self.q.len() - self.qpos
    }

    /// Starts writing for side `dir` (the queue is empty).
    fn write_as(&mut self, dir: usize) {
        debug_assert_eq!(self.queued(), 0);
        self.qdir = dir;
    }

    /// Ends a write: the next bytes start a new segment.
    fn cut(&mut self) {
        self.cuts.push(self.q.len());
    }
}

struct Generator {
    rng: Rng,
    out: Savefile,
    frame: Vec<u8>,
    /// The message being built, before compression.
    plain: Vec<u8>,
    /// Its compressed form.
    wire: Vec<u8>,
    ts_ns: u64,
    /// Time of the first packet.
    first_ts_ns: u64,
    next_id: u32,
    /// [`Options::loopback`].
    loopback: bool,
    /// [`Options::no_deflate`].
    no_deflate: bool,
    /// [`Options::dump`], open.
    dump: Option<std::io::BufWriter<std::fs::File>>,
    /// Bytes queued in every connection, not yet sent.
    queued: u64,
    /// Sequence numbers in JSON messages.
    msg_seq: u64,
    e: Expected,
}

/// Writes the capture `path` and its sidecar; returns what was written.
pub fn generate(path: &Path, opts: &Options) -> Result<Expected> {
    let open = opts.open_at_once();
    let mut g = Generator::new(path, opts)?;
    g.e.max_open_connections = open as u64;
    let mut active: Vec<Conn> = (0..open).map(|_| g.new_conn()).collect();
    let mut closing = false;
    while !active.is_empty() {
        if !closing {
            // Stop starting connections and messages once what is written, plus what is queued
            // and the closing of every open connection, reaches the target.
            let pending = g.queued + g.queued / 8 + active.len() as u64 * 900;
            closing = g.e.file_bytes + pending >= opts.size;
        }
        let i = g.rng.below(active.len() as u64) as usize;
        if g.step(&mut active[i], closing)? {
            if closing {
                active.swap_remove(i);
            } else {
                active[i] = g.new_conn();
            }
        }
    }
    g.out.flush().context("cannot write the capture")?;
    if let Some(d) = &mut g.dump {
        use std::io::Write;
        d.flush().context("cannot write the dump")?;
    }
    drop(g.out);
    let mut e = g.e;
    e.duration_secs = (g.ts_ns - g.first_ts_ns) as f64 / 1e9;
    let meta = std::fs::metadata(path)?;
    ensure!(meta.len() == e.file_bytes, "file is {} bytes, counted {}", meta.len(), e.file_bytes);
    let side = sidecar_path(path);
    let f = File::create(&side).with_context(|| format!("cannot create {}", side.display()))?;
    let mut w = BufWriter::new(f);
    serde_json::to_writer_pretty(&mut w, &e)?;
    std::io::Write::write_all(&mut w, b"\n")?;
    std::io::Write::flush(&mut w)?;
    Ok(e)
}

impl Generator {
    fn new(path: &Path, opts: &Options) -> Result<Generator> {
        let out = Capture::dead(Linktype::ETHERNET)?
            .savefile(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Generator {
            rng: Rng::new(opts.seed),
            out,
            frame: Vec::with_capacity(2048),
            plain: Vec::with_capacity(1 << 16),
            wire: Vec::with_capacity(1 << 16),
            ts_ns: BASE_SECS * 1_000_000_000,
            first_ts_ns: 0,
            next_id: 0,
            loopback: opts.loopback,
            no_deflate: opts.no_deflate,
            dump: match &opts.dump {
                Some(p) => Some(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot create {}", p.display()))?,
                )),
                None => None,
            },
            queued: 0,
            msg_seq: 0,
            e: Expected {
                generator: "gen_bulk".into(),
                seed: opts.seed,
                size_target: opts.size,
                file_bytes: 24,
                ..Expected::default()
            },
        })
    }

    fn new_conn(&mut self) -> Conn {
        let id = self.next_id;
        self.next_id += 1;
        let r = &mut self.rng;
        // The draw happens either way, so that --loopback keeps every other random choice.
        let ipv6 = r.chance(IPV6_PER_MILLE) && !self.loopback;
        let websocket = !r.chance(PLAIN_HTTP_PER_MILLE);
        let deflate = websocket
            && r.chance(DEFLATE_PER_MILLE * 1000 / (1000 - PLAIN_HTTP_PER_MILLE))
            && !self.no_deflate;
        // Eight connections per client host, each from its own port.
        let host = id / 8;
        let port = 32_768 + (id % 8) as u16 * 3000 + (host % 3000) as u16;
        let server = 1 + r.below(4) as u8;
        let [_, h1, h2, h3] = host.to_be_bytes();
        let addrs = if ipv6 {
            let mut client = [0xfd, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
            client[12..].copy_from_slice(&host.to_be_bytes());
            let mut srv = [0xfd, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0];
            srv[15] = server;
            Addrs::V6([client, srv])
        } else if self.loopback {
            let ([c0, c1, ..], [s0, s1, ..]) = (LOOPBACK_CLIENTS.0, LOOPBACK_SERVERS.0);
            Addrs::V4([[c0, c1 | (h1 & 63), h2, h3], [s0, s1, 0, server]])
        } else {
            Addrs::V4([[10, 64 | (h1 & 63), h2, h3], [10, 0, 0, server]])
        };
        let messages_left = match r.below(100) {
            0..60 => r.range(1..=8),
            60..90 => r.range(9..=40),
            _ => r.range(41..=300),
        } as u32;
        let conn = Conn {
            id,
            addrs,
            ports: [port, *r.pick(&SERVER_PORTS)],
            seq: [r.next_u64() as u32, r.next_u64() as u32],
            mss: if ipv6 { MSS_V6 } else { MSS_V4 },
            websocket,
            state: State::Syn,
            deflate: deflate.then(|| {
                let level = Compression::new(6);
                Box::new([Compress::new(level, false), Compress::new(level, false)])
            }),
            messages_left,
            q: Vec::new(),
            qpos: 0,
            qdir: C2S,
            cuts: Vec::new(),
            cut_idx: 0,
            pong_due: None,
            key: String::new(),
            protocols: false,
            pings: 0,
            closer: if r.chance(500) { C2S } else { S2C },
            close_code: if r.chance(800) { 1000 } else { 1001 },
        };
        let e = &mut self.e;
        e.tcp_connections += 1;
        e.ipv6_connections += u64::from(ipv6);
        e.websocket_connections += u64::from(websocket);
        e.plain_http_connections += u64::from(!websocket);
        e.deflate_connections += u64::from(deflate);
        conn
    }

    /// Writes the next packets of `c`. Returns true when the connection is finished.
    fn step(&mut self, c: &mut Conn, closing: bool) -> Result<bool> {
        match c.state {
            State::Syn => {
                self.segment(c, C2S, None, Flags::SYN, &[])?;
                c.seq[C2S] = c.seq[C2S].wrapping_add(1);
                c.state = State::SynAck;
                return Ok(false);
            }
            State::SynAck => {
                self.segment(c, S2C, Some(c.seq[C2S]), Flags::SYN, &[])?;
                c.seq[S2C] = c.seq[S2C].wrapping_add(1);
                self.ack(c, C2S)?;
                c.state = State::Request;
                return Ok(false);
            }
            _ => {}
        }
        if c.queued() == 0 {
            let before = c.q.len();
            match c.state {
                State::Request => {
                    self.request(c);
                    c.state = State::Response;
                }
                State::Response => {
                    self.response(c);
                    c.state = if c.websocket { State::Open } else { State::Fin };
                }
                State::Open => {
                    if let Some((from, payload)) = c.pong_due.take() {
                        c.write_as(from);
                        self.control(c, 0xA, &payload);
                    } else if closing || c.messages_left == 0 {
                        let mut payload = c.close_code.to_be_bytes().to_vec();
                        payload.extend_from_slice(
                            self.rng
                                .pick(&["", "bye", "normal closure", "session ended"])
                                .as_bytes(),
                        );
                        c.write_as(c.closer);
                        self.control(c, 0x8, &payload);
                        c.state = State::CloseReply;
                    } else {
                        self.action(c)?;
                        c.messages_left -= 1;
                    }
                }
                State::CloseReply => {
                    c.write_as(1 - c.closer);
                    let echo = c.close_code.to_be_bytes();
                    self.control(c, 0x8, &echo);
                    c.state = State::Fin;
                }
                State::Fin => {
                    self.fin(c)?;
                    return Ok(true);
                }
                State::Syn | State::SynAck => unreachable!(),
            }
            self.queued += (c.q.len() - before) as u64;
        }
        self.burst(c)?;
        Ok(false)
    }

    /// Sends 1–4 segments of what `c` queued, then the receiver's ACK.
    fn burst(&mut self, c: &mut Conn) -> Result<()> {
        let from = c.qdir;
        let n = self.rng.range(1..=4);
        for _ in 0..n {
            if c.queued() == 0 {
                break;
            }
            while c.cut_idx < c.cuts.len() && c.cuts[c.cut_idx] <= c.qpos {
                c.cut_idx += 1;
            }
            let end = c.cuts.get(c.cut_idx).copied().unwrap_or(c.q.len());
            let len = (end - c.qpos).min(c.mss);
            let flags = if c.qpos + len == end { Flags::PSH } else { Flags::NONE };
            let range = c.qpos..c.qpos + len;
            self.segment(c, from, Some(c.seq[1 - from]), flags, &c.q[range])?;
            c.seq[from] = c.seq[from].wrapping_add(len as u32);
            c.qpos += len;
            self.queued -= len as u64;
            self.e.tcp_payload_bytes += len as u64;
        }
        if c.queued() == 0 {
            c.qpos = 0;
            c.cut_idx = 0;
            c.cuts.clear();
            if c.q.capacity() > QUEUE_KEEP {
                c.q = Vec::new();
            } else {
                c.q.clear();
            }
        }
        self.ack(c, 1 - from)
    }

    /// The side closing first sends FIN, the other answers with its FIN, the first ACKs it.
    fn fin(&mut self, c: &Conn) -> Result<()> {
        let first = if c.websocket { S2C } else { self.rng.below(2) as usize };
        let mut seq = c.seq;
        for side in [first, 1 - first] {
            self.segment_at(c, side, seq[side], Some(seq[1 - side]), Flags::FIN, &[])?;
            seq[side] = seq[side].wrapping_add(1);
        }
        self.segment_at(c, first, seq[first], Some(seq[1 - first]), Flags::NONE, &[])
    }

    /// A pure ACK from `from`.
    fn ack(&mut self, c: &Conn, from: usize) -> Result<()> {
        self.segment(c, from, Some(c.seq[1 - from]), Flags::NONE, &[])
    }

    fn segment(
        &mut self,
        c: &Conn,
        from: usize,
        ack: Option<u32>,
        flags: Flags,
        payload: &[u8],
    ) -> Result<()> {
        self.segment_at(c, from, c.seq[from], ack, flags, payload)
    }

    /// Writes one TCP segment of `c` from side `from`.
    fn segment_at(
        &mut self,
        c: &Conn,
        from: usize,
        seq: u32,
        ack: Option<u32>,
        flags: Flags,
        payload: &[u8],
    ) -> Result<()> {
        let ts_val = (self.ts_ns / 1_000_000) as u32 ^ c.id.wrapping_mul(2_654_435_761);
        Segment {
            addrs: c.addrs,
            ports: c.ports,
            from,
            seq,
            ack,
            flags,
            window: if flags.syn { 64_240 } else { WINDOW },
            timestamp: (ts_val, ts_val.wrapping_sub(3)),
            mss: c.mss as u16 + 12,
            payload,
        }
        .write(&mut self.frame)?;
        self.ts_ns += GAP_NS.0 + self.rng.below(GAP_NS.1);
        if self.e.packets == 0 {
            self.first_ts_ns = self.ts_ns;
        }
        segment::write_record(&mut self.out, self.ts_ns, &self.frame);
        self.e.packets += 1;
        self.e.file_bytes += 16 + self.frame.len() as u64;
        Ok(())
    }

    // ── HTTP ──────────────────────────────────────────────────────────────────────────────────

    fn request(&mut self, c: &mut Conn) {
        c.write_as(C2S);
        let r = &mut self.rng;
        let host =
            format!("{}:{}", r.pick(&["stream.example.com", "ws.example.net"]), c.ports[S2C]);
        let ua = *r.pick(&[
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:120.0) Gecko/20100101 Firefox/120.0",
            "Python/3.11 websockets/12.0",
            "okhttp/4.12.0",
        ]);
        let q = &mut c.q;
        if !c.websocket {
            let path = format!("/api/v1/items/{}?fields=all", c.id);
            q.extend_from_slice(
                format!(
                    "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {ua}\r\nAccept: application/json\r\nAccept-Encoding: identity\r\n\r\n"
                )
                .as_bytes(),
            );
            c.cut();
            return;
        }
        let mut key = [0u8; 16];
        r.fill(&mut key);
        let key = base64::engine::general_purpose::STANDARD.encode(key);
        let path = r.pick(&["/ws", "/v2/stream", "/chat/socket", "/live/feed"]);
        let offer_deflate = c.deflate.is_some() || r.chance(800);
        let protocols = r.chance(400);
        q.extend_from_slice(
            format!(
                "GET {path}?client={} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {ua}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: https://app.example.com\r\n",
                c.id
            )
            .as_bytes(),
        );
        if protocols {
            q.extend_from_slice(b"Sec-WebSocket-Protocol: v2.json, v1.json\r\n");
        }
        if offer_deflate {
            q.extend_from_slice(
                b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
            );
        }
        q.extend_from_slice(b"Cache-Control: no-cache\r\n\r\n");
        c.cut();
        c.key = key;
        c.protocols = protocols;
    }

    fn response(&mut self, c: &mut Conn) {
        c.write_as(S2C);
        if !c.websocket {
            self.plain.clear();
            let rows = self.rng.range(2..=60);
            self.plain.extend_from_slice(b"{\"items\":[");
            for i in 0..rows {
                if i > 0 {
                    self.plain.push(b',');
                }
                small_json(&mut self.rng, &mut self.plain, &mut self.msg_seq);
            }
            self.plain.extend_from_slice(b"]}");
            c.q.extend_from_slice(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\r\n",
                    self.plain.len()
                )
                .as_bytes(),
            );
            c.q.extend_from_slice(&self.plain);
            c.cut();
            return;
        }
        let key = std::mem::take(&mut c.key);
        let mut sha = Sha1::new();
        sha.update(key.as_bytes());
        sha.update(WS_GUID.as_bytes());
        let accept = base64::engine::general_purpose::STANDARD.encode(sha.finalize());
        c.q.extend_from_slice(
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
            )
            .as_bytes(),
        );
        if c.protocols {
            c.q.extend_from_slice(b"Sec-WebSocket-Protocol: v2.json\r\n");
        }
        if c.deflate.is_some() {
            c.q.extend_from_slice(b"Sec-WebSocket-Extensions: permessage-deflate\r\n");
        }
        c.q.extend_from_slice(b"\r\n");
        c.cut();
    }

    // ── WebSocket ─────────────────────────────────────────────────────────────────────────────

    /// One step of the conversation: a ping, or 1–3 data messages from one side.
    fn action(&mut self, c: &mut Conn) -> Result<()> {
        if self.rng.chance(30) {
            let from = if self.rng.chance(700) { S2C } else { C2S };
            c.write_as(from);
            self.ping(c, from);
            return Ok(());
        }
        let from = if self.rng.chance(650) { S2C } else { C2S };
        c.write_as(from);
        let n = match self.rng.below(100) {
            0..80 => 1,
            80..95 => 2,
            _ => 3,
        };
        for _ in 0..n {
            self.message(c, from)?;
        }
        Ok(())
    }

    /// A ping from `from` with a payload unique in the connection; the peer owes the pong.
    fn ping(&mut self, c: &mut Conn, from: usize) {
        c.pings += 1;
        let payload = match self.rng.below(10) {
            0..5 => (c.pings | (u64::from(c.id) << 32)).to_be_bytes().to_vec(),
            5..8 => (c.pings as u32).to_be_bytes().to_vec(),
            _ => format!("keepalive-{}", c.pings).into_bytes(),
        };
        self.control(c, 0x9, &payload);
        c.pong_due = Some((1 - from, payload));
    }

    /// A control frame (one write) from `c.qdir`.
    fn control(&mut self, c: &mut Conn, opcode: u8, payload: &[u8]) {
        let from = c.qdir;
        let mask = (from == C2S).then(|| self.rng.next_u64() as u32);
        push_frame(&mut c.q, true, false, opcode, payload, mask);
        c.cut();
        self.e.frames += 1;
        self.e.messages += 1;
        self.e.message_bytes += payload.len() as u64;
        let o = &mut self.e.messages_by_opcode;
        match opcode {
            0x8 => o.close += 1,
            0x9 => o.ping += 1,
            _ => o.pong += 1,
        }
        let d = self.e.dir_mut(from);
        match opcode {
            0x8 => d.close += 1,
            0x9 => d.ping += 1,
            _ => d.pong += 1,
        }
    }

    /// One data message from `from`, maybe compressed and fragmented.
    fn message(&mut self, c: &mut Conn, from: usize) -> Result<()> {
        let text = self.payload();
        let compressed = c.deflate.is_some() && self.rng.chance(900);
        if compressed {
            let z = &mut c.deflate.as_mut().expect("deflate")[from];
            deflate_message(z, &self.plain, &mut self.wire)?;
        } else {
            self.wire.clear();
            self.wire.extend_from_slice(&self.plain);
        }
        if let Some(d) = &mut self.dump {
            use std::io::Write;
            let flags = u8::from(text) | (u8::from(compressed) << 1);
            d.write_all(&c.id.to_le_bytes())?;
            d.write_all(&[from as u8, flags])?;
            d.write_all(&(self.wire.len() as u32).to_le_bytes())?;
            d.write_all(&self.wire)?;
        }
        // Where the message is cut into frames.
        let len = self.wire.len();
        let mut cuts: Vec<usize> = Vec::new();
        if len > 16 * 1024 && self.rng.chance(300) {
            let size = if self.rng.chance(500) { 4096 } else { 16384 };
            cuts.extend((size..len).step_by(size));
        } else if len >= 2 && self.rng.chance(30) {
            let pieces = self.rng.range(2..=4).min(len);
            while cuts.len() + 1 < pieces {
                let at = self.rng.range(1..=len - 1);
                if !cuts.contains(&at) {
                    cuts.push(at);
                }
            }
            cuts.sort_unstable();
        }
        cuts.push(len);
        let ping_at = if cuts.len() > 1 && c.pong_due.is_none() && self.rng.chance(150) {
            Some(self.rng.below(cuts.len() as u64 - 1) as usize)
        } else {
            None
        };
        let opcode = if text { 0x1 } else { 0x2 };
        let mut start = 0;
        for (i, &end) in cuts.iter().enumerate() {
            let fin = i + 1 == cuts.len();
            let mask = (from == C2S).then(|| self.rng.next_u64() as u32);
            let op = if i == 0 { opcode } else { 0x0 };
            push_frame(&mut c.q, fin, compressed && i == 0, op, &self.wire[start..end], mask);
            start = end;
            // Usually one write per frame; sometimes frames share a segment.
            if !self.rng.chance(200) {
                c.cut();
            }
            if ping_at == Some(i) {
                self.ping(c, from);
            }
        }
        self.e.frames += cuts.len() as u64;
        self.e.messages += 1;
        self.e.message_bytes += self.plain.len() as u64;
        self.e.data_bytes += self.plain.len() as u64;
        self.e.compressed_messages += u64::from(compressed);
        self.e.fragmented_messages += u64::from(cuts.len() > 1);
        let o = &mut self.e.messages_by_opcode;
        if text {
            o.text += 1;
        } else {
            o.binary += 1;
        }
        let (plain, wire) = (self.plain.len() as u64, self.wire.len() as u64);
        let d = self.e.dir_mut(from);
        d.data += 1;
        if text {
            d.text += 1;
        } else {
            d.binary += 1;
        }
        d.bytes += plain;
        d.wire_bytes += wire;
        d.compressed += u64::from(compressed);
        d.fragmented += u64::from(cuts.len() > 1);
        Ok(())
    }

    /// Fills `plain` with a message payload; returns whether it is text.
    fn payload(&mut self) -> bool {
        let (r, out, seq) = (&mut self.rng, &mut self.plain, &mut self.msg_seq);
        out.clear();
        match r.below(1000) {
            0..620 => {
                small_json(r, out, seq);
                true
            }
            620..780 => {
                let target = r.range(400..=4000);
                json_array(r, out, seq, target);
                true
            }
            780..830 => {
                let target = r.range(4000..=60_000);
                json_array(r, out, seq, target);
                true
            }
            830..960 => {
                let n = r.range(16..=1024);
                binary(r, out, n);
                false
            }
            960..990 => {
                let n = r.range(1024..=8192);
                binary(r, out, n);
                false
            }
            _ => {
                let n = r.range(8192..=48 * 1024);
                binary(r, out, n);
                false
            }
        }
    }
}

/// Appends one frame; `mask` is the masking key of a client frame.
fn push_frame(
    q: &mut Vec<u8>,
    fin: bool,
    rsv1: bool,
    opcode: u8,
    payload: &[u8],
    mask: Option<u32>,
) {
    q.push(u8::from(fin) << 7 | u8::from(rsv1) << 6 | opcode);
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => q.push(m | n as u8),
        n if n <= 0xFFFF => {
            q.push(m | 126);
            q.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            q.push(m | 127);
            q.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let start = q.len();
    match mask {
        Some(k) => {
            let key = k.to_ne_bytes();
            q.extend_from_slice(&key);
            let start = start + 4;
            q.extend_from_slice(payload);
            apply_mask(&mut q[start..], key);
        }
        None => q.extend_from_slice(payload),
    }
}

/// XORs `data` with the masking key (byte i with `key[i % 4]`).
fn apply_mask(data: &mut [u8], key: [u8; 4]) {
    let k = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes(c.try_into().expect("8 bytes")) ^ k;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

/// Compresses one message with the direction's compressor (context taken over from the previous
/// message), sync-flushed, without the `00 00 FF FF` tail (RFC 7692 §7.2.1).
fn deflate_message(z: &mut Compress, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    out.reserve(input.len() + input.len() / 16 + 64);
    let start = z.total_in();
    loop {
        let used = (z.total_in() - start) as usize;
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity());
        }
        z.compress_vec(&input[used..], out, FlushCompress::Sync).context("deflate")?;
        let used = (z.total_in() - start) as usize;
        if used == input.len() && out.len() < out.capacity() {
            break;
        }
    }
    ensure!(out.ends_with(&[0, 0, 0xff, 0xff]), "sync flush did not end with 00 00 FF FF");
    out.truncate(out.len() - 4);
    Ok(())
}

// ── Payloads ──────────────────────────────────────────────────────────────────────────────────

const SYMBOLS: [&str; 8] =
    ["BTC-USD", "ETH-USD", "SOL-EUR", "AAPL", "MSFT", "EURUSD", "XAU", "NVDA"];
const ROOMS: [&str; 6] = ["general", "random", "support", "dev-ops", "café", "東京"];
const WORDS: [&str; 24] = [
    "hello",
    "world",
    "the",
    "order",
    "was",
    "filled",
    "at",
    "market",
    "price",
    "see",
    "you",
    "tomorrow",
    "ok",
    "thanks",
    "naïve",
    "café",
    "Grüße",
    "Привет",
    "東京",
    "データ",
    "😀",
    "👍",
    "deploy",
    "done",
];

fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
}

/// One small JSON object (about 40–400 bytes).
fn small_json(r: &mut Rng, out: &mut Vec<u8>, seq: &mut u64) {
    *seq += 1;
    let ts = 1_700_000_000_000 + *seq * 7;
    match r.below(10) {
        0..5 => {
            push_str(out, r#"{"type":"trade","seq":"#);
            push_u64(out, *seq);
            push_str(out, r#","sym":""#);
            push_str(out, r.word(&SYMBOLS));
            push_str(out, r#"","px":"#);
            push_u64(out, 100 + r.below(90_000));
            out.push(b'.');
            push_u64(out, 10 + r.below(90));
            push_str(out, r#","qty":"#);
            push_u64(out, 1 + r.below(5000));
            push_str(
                out,
                if r.chance(500) { r#","side":"buy","ts":"# } else { r#","side":"sell","ts":"# },
            );
            push_u64(out, ts);
            out.push(b'}');
        }
        5..8 => {
            push_str(out, r#"{"type":"chat","room":""#);
            push_str(out, r.word(&ROOMS));
            push_str(out, r#"","user":"user"#);
            push_u64(out, r.below(100_000));
            push_str(out, r#"","text":""#);
            for i in 0..r.range(3..=40) {
                if i > 0 {
                    out.push(b' ');
                }
                push_str(out, r.word(&WORDS));
            }
            push_str(out, r#"","ts":"#);
            push_u64(out, ts);
            out.push(b'}');
        }
        8 => {
            push_str(out, r#"{"type":"presence","user":"user"#);
            push_u64(out, r.below(100_000));
            push_str(
                out,
                if r.chance(700) { r#"","status":"online"}"# } else { r#"","status":"away"}"# },
            );
        }
        _ => {
            push_str(out, r#"{"op":"ack","id":"#);
            push_u64(out, *seq);
            out.push(b'}');
        }
    }
}

/// A JSON document of about `target` bytes: an array of small objects.
fn json_array(r: &mut Rng, out: &mut Vec<u8>, seq: &mut u64, target: usize) {
    push_str(out, r#"{"type":"snapshot","seq":"#);
    push_u64(out, *seq);
    push_str(out, r#","rows":["#);
    let mut first = true;
    while out.len() + 2 < target {
        if !first {
            out.push(b',');
        }
        first = false;
        small_json(r, out, seq);
    }
    push_str(out, "]}");
}

/// `n` bytes: fixed-size records (compressible) or random bytes (not).
fn binary(r: &mut Rng, out: &mut Vec<u8>, n: usize) {
    if r.chance(500) {
        out.resize(n, 0);
        r.fill(out);
        return;
    }
    let base = r.below(1 << 20) as u32;
    let mut i = 0u32;
    while out.len() < n {
        out.extend_from_slice(&(base + i).to_le_bytes());
        out.extend_from_slice(&(r.below(4) as u16).to_le_bytes());
        out.extend_from_slice(&[0x7f, 0, 0, 0, 0x10, 0x27, 0, 0]);
        out.extend_from_slice(&((r.below(1 << 16)) as u16).to_le_bytes());
        i += 1;
    }
    out.truncate(n);
}
