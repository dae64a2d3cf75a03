//! Throughput of TCP reassembly (`wsscope streams`), next to libpcap's raw read speed
//! (`tcpdump -r FILE -w /dev/null`) on the same capture, in the same run.
//!
//! # What is measured
//!
//! 1. A deterministic capture is generated into a temporary directory: Ethernet with IPv4
//!    (~20 % of the connections IPv6) and TCP, 2,000 connections open at once and interleaved,
//!    each with a SYN / SYN-ACK / ACK handshake, bursts of 1–4 data segments one way at a time
//!    (payloads of 20–1448 bytes, 0.5 % of them 16–63 KiB as after segmentation offload), a pure
//!    ACK from the receiver after every burst, then FIN / FIN / ACK. About 1 % of the data
//!    segments are swapped with the next segment of the same burst (reordering) and about 1 % are
//!    retransmitted identically. The generator counts what it wrote: packets, unique TCP payload
//!    bytes per direction, connections, reordered and retransmitted segments.
//! 2. The file is read once (like `cat FILE > /dev/null`) so that every command starts from the
//!    page cache.
//! 3. `wsscope streams FILE --format json` runs once with its output saved, and the JSON is
//!    checked against the generator's totals: connections, packets, delivered bytes per
//!    direction, no gap, no conflicting retransmission, every connection closed by FIN, and the
//!    reordered / retransmitted amounts the engine reports.
//! 4. Each command runs 3 times as a child process (interleaved, so a change in machine load hits
//!    both alike): wall time from spawn to exit, CPU time and peak RSS (`ru_maxrss`) of the child
//!    from `wait4`. The table shows the median run, plus min and max. Linux counts in a child's
//!    `ru_maxrss` the memory it had from this process before `exec`, so this process resets its
//!    own peak before each spawn and stays small; the floor (what `true` reports) is printed.
//!
//! `wsscope` is the binary cargo builds for this benchmark (`CARGO_BIN_EXE_wsscope`): under
//! `cargo bench` that is the `bench` profile, which inherits `release`. MB means 10^6 bytes, MiB
//! 2^20.
//!
//! # Running
//!
//! ```text
//! cargo bench --bench reassembly                           # 200 MB capture
//! WSSCOPE_BENCH_MB=10 WSSCOPE_BENCH_MIN_RATIO=0.05 \
//!     cargo bench --bench reassembly                       # CI: small capture, gross-regression gate
//! ```
//!
//! - `WSSCOPE_BENCH_MB`: capture size in MB (default 200).
//! - `WSSCOPE_BENCH_MIN_RATIO`: fail when wsscope's throughput divided by tcpdump's is below this
//!   (a ratio measured in the same run, never an absolute time).
//! - `WSSCOPE_BENCH_KEEP=1`: keep the temporary directory with the capture (for profiling).
//!
//! The exit status is non-zero when the check disagrees, a command fails or the ratio is below
//! the minimum. Without cargo bench's `--bench` flag (`cargo test --all-targets` runs bench
//! targets too), only a 2 MB correctness check runs, with no timing and no tcpdump.

#[allow(dead_code, reason = "shared by the benchmarks; each uses a part")]
mod common;
#[allow(dead_code, reason = "shared with gen_bulk.rs, which uses more of it")]
#[path = "../testdata/scripts/rng.rs"]
mod rng;
#[path = "../testdata/scripts/segment.rs"]
mod segment;

use anyhow::{Context, Result};
use common::{
    MB, MIB, RUNS, Summary, Tool, check_ratio, env_number, keep_if_asked, measure, rss_floor,
    thousands, warm_page_cache,
};
use pcap::{Capture, Linktype, Savefile};
use rng::Rng;
use segment::{Addrs, Flags, Segment};
use serde::Deserialize;
use std::fs::File;
use std::io::BufReader;
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Instant;

/// Default capture size, in MB.
const DEFAULT_MB: f64 = 200.0;
/// Capture size of the correctness-only run outside `cargo bench`.
const SMOKE_MB: f64 = 2.0;

/// Connections open at once.
const CONCURRENT: usize = 2000;
const SEED: u64 = 0x5753_5343_4f50_4531;
/// First packet timestamp, in seconds since the epoch.
const BASE_SECS: u64 = 1_700_000_000;
/// Time between packets: 2 µs plus up to 8 µs (about 1 Gbit/s).
const GAP_NS: (u64, u64) = (2_000, 8_000);
const SERVER_PORTS: [u16; 4] = [443, 8080, 80, 9001];
const WINDOW: u16 = 65_535;
/// Payload of a full-sized segment (MSS 1460 minus the timestamp option).
const MSS: usize = 1448;
/// Segments built by segmentation offload; the largest one still fits in a pcap record of the
/// 65535-byte snapshot length with an IPv6 header.
const LARGE: RangeInclusive<usize> = 16 * 1024..=65_000;
/// Per mille of the data segments that may be swapped with the next one of their burst (only the
/// 60 % that have a next one in the burst can be, so about 1 % of all data segments are).
const REORDER_PER_MILLE: u64 = 17;
/// Per mille of the data segments retransmitted identically.
const RETRANSMIT_PER_MILLE: u64 = 10;
/// Per mille of the bursts sent by the client.
const CLIENT_BURST_PER_MILLE: u64 = 400;
/// Payload bytes are cut from a fixed pattern at `(stream offset + salt) % PATTERN_PERIOD`.
const PATTERN_PERIOD: usize = 1 << 16;

/// Index of the client-to-server direction (and of the client in per-side arrays).
const C2S: usize = 0;
/// Index of the server-to-client direction (and of the server).
const S2C: usize = 1;

fn main() -> ExitCode {
    let bench = std::env::args().any(|a| a == "--bench");
    let result = if bench { run_bench() } else { run_smoke() };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("reassembly bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The full benchmark. Returns whether every check passed.
fn run_bench() -> Result<bool> {
    let mb = env_number("WSSCOPE_BENCH_MB")?.unwrap_or(DEFAULT_MB);
    let min_ratio = env_number("WSSCOPE_BENCH_MIN_RATIO")?;
    if cfg!(debug_assertions) {
        println!("warning: built with debug assertions; the timings are not representative");
    }
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let capture = dir.path().join("capture.pcap");
    let totals = generate_and_report(&capture, mb)?;
    warm_page_cache(&capture)?;

    let wsscope = Tool::wsscope(&capture);
    let failures = check_wsscope(&wsscope, dir.path(), &totals)?;

    let tcpdump = Tool::tcpdump(&capture);
    println!("{}", tcpdump.version());
    let tools = [tcpdump, wsscope];
    let samples = measure(&tools, dir.path())?;
    let results: Vec<Summary> = samples.iter().map(|s| Summary::of(s)).collect();
    print_table(&tools, &results, &totals, rss_floor(dir.path())?);

    let ratio = results[0].median.wall.as_secs_f64() / results[1].median.wall.as_secs_f64();
    println!(
        "wsscope streams reads at {ratio:.2}× libpcap's raw read speed (tcpdump -r … -w /dev/null)"
    );
    let ratio_ok = check_ratio(ratio, min_ratio);
    keep_if_asked(dir);
    Ok(failures == 0 && ratio_ok)
}

/// Outside `cargo bench`: a small capture, the correctness check, no timing.
fn run_smoke() -> Result<bool> {
    println!("correctness check only ({SMOKE_MB} MB); timings: cargo bench --bench reassembly");
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let capture = dir.path().join("capture.pcap");
    let totals = generate_and_report(&capture, SMOKE_MB)?;
    let failures = check_wsscope(&Tool::wsscope(&capture), dir.path(), &totals)?;
    Ok(failures == 0)
}

// ---------------------------------------------------------------------------------------------
// Capture generator
// ---------------------------------------------------------------------------------------------

/// What the generator wrote: the truth wsscope's output is checked against.
#[derive(Clone, Debug, Default)]
struct Totals {
    /// Packet records.
    packets: u64,
    /// Size of the file.
    file_bytes: u64,
    /// Unique TCP payload bytes (stream bytes) per direction, `[C2S]` and `[S2C]`.
    payload: [u64; 2],
    connections: u64,
    ipv6_connections: u64,
    /// Data segments, not counting retransmissions.
    data_segments: u64,
    /// Data segments of 16–63 KiB.
    large_segments: u64,
    /// Segments sent before the one preceding them in sequence.
    reordered: u64,
    /// Identical retransmissions, and the bytes they carried again.
    retransmitted: u64,
    retransmitted_bytes: u64,
}

impl Totals {
    fn payload_bytes(&self) -> u64 {
        self.payload[C2S] + self.payload[S2C]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Syn,
    SynAck,
    Data,
}

/// One connection being generated. Per-side arrays are indexed by the sending side.
#[derive(Debug)]
struct Conn {
    addrs: Addrs,
    ports: [u16; 2],
    /// Sequence number of the next byte each side sends.
    seq: [u32; 2],
    /// Stream bytes each side has sent.
    sent: [u64; 2],
    salt: u64,
    phase: Phase,
    bursts_left: u32,
}

/// One data segment of a burst.
#[derive(Clone, Copy, Debug)]
struct DataSeg {
    seq: u32,
    offset: u64,
    len: usize,
    last: bool,
}

/// Writes packets to a pcap file, reusing one frame buffer.
struct Generator {
    rng: Rng,
    out: Savefile,
    frame: Vec<u8>,
    pattern: Vec<u8>,
    burst: Vec<DataSeg>,
    ts_ns: u64,
    next_id: u32,
    totals: Totals,
}

fn generate_and_report(path: &Path, mb: f64) -> Result<Totals> {
    let start = Instant::now();
    let t = generate(path, (mb * MB) as u64)?;
    let took = start.elapsed();
    let pct = |n: u64| 100.0 * n as f64 / t.data_segments.max(1) as f64;
    println!("capture: {}", path.display());
    println!(
        "  {:.1} MB, {} packets, {} connections ({} IPv6), {CONCURRENT} open at once",
        t.file_bytes as f64 / MB,
        thousands(t.packets),
        thousands(t.connections),
        thousands(t.ipv6_connections)
    );
    println!(
        "  TCP payload: {:.1} MB client→server, {:.1} MB server→client, in {} data segments ({} of 16–63 KiB)",
        t.payload[C2S] as f64 / MB,
        t.payload[S2C] as f64 / MB,
        thousands(t.data_segments),
        thousands(t.large_segments)
    );
    println!(
        "  imperfections: {} reordered segments ({:.2} %), {} identical retransmissions ({:.2} %, {:.1} MB)",
        thousands(t.reordered),
        pct(t.reordered),
        thousands(t.retransmitted),
        pct(t.retransmitted),
        t.retransmitted_bytes as f64 / MB
    );
    println!("  generated in {:.2} s", took.as_secs_f64());
    Ok(t)
}

/// Writes a capture of about `target` bytes to `path`: once the file reaches `target`, no new
/// connection starts and every open one closes at its next turn.
fn generate(path: &Path, target: u64) -> Result<Totals> {
    let mut g = Generator::new(path)?;
    let mut active: Vec<Conn> = (0..CONCURRENT).map(|_| g.new_conn()).collect();
    while !active.is_empty() {
        let closing = g.totals.file_bytes >= target;
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
    Ok(g.totals)
}

impl Generator {
    fn new(path: &Path) -> Result<Generator> {
        let out = Capture::dead(Linktype::ETHERNET)?
            .savefile(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut rng = Rng::new(SEED);
        let pattern = (0..2 * PATTERN_PERIOD).map(|_| rng.next_u64() as u8).collect();
        Ok(Generator {
            rng,
            out,
            frame: Vec::with_capacity(1 << 17),
            pattern,
            burst: Vec::new(),
            ts_ns: BASE_SECS * 1_000_000_000,
            next_id: 0,
            // The pcap file header.
            totals: Totals { file_bytes: 24, ..Totals::default() },
        })
    }

    fn new_conn(&mut self) -> Conn {
        let id = self.next_id;
        self.next_id += 1;
        let ipv6 = self.rng.chance(200);
        let [_, b1, b2, b3] = id.to_be_bytes();
        let server = (id % 8) as u8 + 1;
        let addrs = if ipv6 {
            let mut client = [0xfd, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
            client[12..].copy_from_slice(&id.to_be_bytes());
            let mut srv = [0xfd, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0];
            srv[15] = server;
            Addrs::V6([client, srv])
        } else {
            // Unique for the first 2^23 connections.
            Addrs::V4([[10, 128 | (b1 & 0x7f), b2, b3], [10, 0, 0, server]])
        };
        let bursts_left =
            if self.rng.chance(750) { self.rng.range(1..=8) } else { self.rng.range(9..=120) }
                as u32;
        self.totals.connections += 1;
        self.totals.ipv6_connections += u64::from(ipv6);
        Conn {
            addrs,
            ports: [1024 + (id % 60_000) as u16, SERVER_PORTS[id as usize % SERVER_PORTS.len()]],
            seq: [self.rng.next_u64() as u32, self.rng.next_u64() as u32],
            sent: [0, 0],
            salt: self.rng.below(PATTERN_PERIOD as u64),
            phase: Phase::Syn,
            bursts_left,
        }
    }

    /// Writes the next packets of `c`. Returns true when the connection is finished.
    fn step(&mut self, c: &mut Conn, closing: bool) -> Result<bool> {
        match c.phase {
            Phase::Syn => {
                let syn = Flags { syn: true, ..Flags::default() };
                self.segment(c, C2S, c.seq[C2S], None, syn, 0..0)?;
                c.seq[C2S] = c.seq[C2S].wrapping_add(1);
                c.phase = Phase::SynAck;
            }
            Phase::SynAck => {
                let syn = Flags { syn: true, ..Flags::default() };
                self.segment(c, S2C, c.seq[S2C], Some(c.seq[C2S]), syn, 0..0)?;
                c.seq[S2C] = c.seq[S2C].wrapping_add(1);
                self.ack(c, C2S)?;
                c.phase = Phase::Data;
            }
            Phase::Data if closing || c.bursts_left == 0 => {
                self.close(c)?;
                return Ok(true);
            }
            Phase::Data => {
                self.burst(c)?;
                c.bursts_left -= 1;
            }
        }
        Ok(false)
    }

    /// 1–4 data segments from one side, some swapped or retransmitted, then the peer's ACK.
    fn burst(&mut self, c: &mut Conn) -> Result<()> {
        let from = if self.rng.chance(CLIENT_BURST_PER_MILLE) { C2S } else { S2C };
        let n = self.rng.range(1..=4);
        self.burst.clear();
        let (mut seq, mut offset) = (c.seq[from], c.sent[from]);
        for i in 0..n {
            let len = self.payload_len();
            self.burst.push(DataSeg { seq, offset, len, last: i + 1 == n });
            seq = seq.wrapping_add(len as u32);
            offset += len as u64;
        }
        self.totals.data_segments += n as u64;
        self.totals.payload[from] += offset - c.sent[from];
        let mut i = 0;
        while i < n {
            let s = self.burst[i];
            if i + 1 < n && self.rng.chance(REORDER_PER_MILLE) {
                let next = self.burst[i + 1];
                self.data(c, from, next)?;
                self.data(c, from, s)?;
                self.totals.reordered += 1;
                i += 2;
                continue;
            }
            self.data(c, from, s)?;
            if self.rng.chance(RETRANSMIT_PER_MILLE) {
                self.data(c, from, s)?;
                self.totals.retransmitted += 1;
                self.totals.retransmitted_bytes += s.len as u64;
            }
            i += 1;
        }
        (c.seq[from], c.sent[from]) = (seq, offset);
        self.ack(c, 1 - from)
    }

    /// Either side sends FIN first; the other answers with its FIN; the first one ACKs it.
    fn close(&mut self, c: &mut Conn) -> Result<()> {
        let first = self.rng.below(2) as usize;
        let fin = Flags { fin: true, ..Flags::default() };
        for side in [first, 1 - first] {
            self.segment(c, side, c.seq[side], Some(c.seq[1 - side]), fin, 0..0)?;
            c.seq[side] = c.seq[side].wrapping_add(1);
        }
        self.ack(c, first)
    }

    /// Payload size of a data segment.
    fn payload_len(&mut self) -> usize {
        match self.rng.below(1000) {
            0..5 => {
                self.totals.large_segments += 1;
                self.rng.range(LARGE)
            }
            5..200 => MSS,
            200..550 => self.rng.range(200..=MSS - 1),
            _ => self.rng.range(20..=199),
        }
    }

    /// A data segment from `from`, acknowledging everything the peer sent.
    fn data(&mut self, c: &Conn, from: usize, s: DataSeg) -> Result<()> {
        let start = ((s.offset + c.salt) % PATTERN_PERIOD as u64) as usize;
        let flags = Flags { psh: s.last, ..Flags::default() };
        self.segment(c, from, s.seq, Some(c.seq[1 - from]), flags, start..start + s.len)
    }

    /// A pure ACK from `from` acknowledging everything the peer sent.
    fn ack(&mut self, c: &Conn, from: usize) -> Result<()> {
        self.segment(c, from, c.seq[from], Some(c.seq[1 - from]), Flags::default(), 0..0)
    }

    /// Writes one segment of `c` sent by side `from`, with the pattern bytes `payload` as its
    /// payload.
    fn segment(
        &mut self,
        c: &Conn,
        from: usize,
        seq: u32,
        ack: Option<u32>,
        flags: Flags,
        payload: Range<usize>,
    ) -> Result<()> {
        let ts_val = (self.ts_ns / 1_000_000) as u32;
        Segment {
            addrs: c.addrs,
            ports: c.ports,
            from,
            seq,
            ack,
            flags,
            window: WINDOW,
            timestamp: (ts_val, ts_val.wrapping_sub(7)),
            mss: 1460,
            payload: &self.pattern[payload],
        }
        .write(&mut self.frame)?;
        self.ts_ns += GAP_NS.0 + self.rng.below(GAP_NS.1);
        segment::write_record(&mut self.out, self.ts_ns, &self.frame);
        self.totals.packets += 1;
        self.totals.file_bytes += 16 + self.frame.len() as u64;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

impl Tool {
    fn wsscope(capture: &Path) -> Tool {
        Tool {
            label: "wsscope streams",
            program: PathBuf::from(env!("CARGO_BIN_EXE_wsscope")),
            args: vec!["streams".into(), capture.into(), "--format".into(), "json".into()],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Correctness check
// ---------------------------------------------------------------------------------------------

/// The parts of `wsscope streams --format json` that are checked (other fields are ignored).
/// Deserialized into these small structs rather than a `serde_json::Value` tree, so that this
/// process stays small: its RSS is the floor of every child's peak RSS (see [`reset_peak_rss`]).
#[derive(Debug, Deserialize)]
struct StreamsDoc {
    end_of_input: EndOfInput,
    packets: PacketCounts,
    tcp: TcpCounts,
    connections: Vec<ConnDoc>,
}

#[derive(Debug, Deserialize)]
struct EndOfInput {
    kind: String,
}

#[derive(Debug, Deserialize)]
struct PacketCounts {
    packets: u64,
    tcp_segments: u64,
}

#[derive(Debug, Deserialize)]
struct TcpCounts {
    connections: u64,
    closed_fin: u64,
}

#[derive(Debug, Deserialize)]
struct ConnDoc {
    id: u64,
    close: Option<String>,
    client_to_server: DirDoc,
    server_to_client: DirDoc,
}

#[derive(Debug, Deserialize)]
struct DirDoc {
    delivered_bytes: u64,
    gaps: u64,
    gap_bytes: u64,
    mismatches: u64,
    late_bytes: u64,
    out_of_order_segments: u64,
    retransmitted_bytes: u64,
    verified_retransmitted_bytes: u64,
}

/// Runs wsscope once with its JSON saved and checks it against the generator. Prints the
/// outcome and returns the number of disagreements.
fn check_wsscope(wsscope: &Tool, dir: &Path, totals: &Totals) -> Result<usize> {
    let json_path = dir.join("streams.json");
    let out = File::create(&json_path)?;
    let sample = wsscope.run(Stdio::from(out), dir)?;
    let doc: StreamsDoc = serde_json::from_reader(BufReader::new(File::open(&json_path)?))
        .context("wsscope's output is not the expected JSON")?;
    let problems = disagreements(&doc, totals);
    if problems.is_empty() {
        println!(
            "check: OK — wsscope's JSON matches the generator: {} connections, {} + {} payload bytes, no gap, no mismatch ({:.2} s)",
            thousands(totals.connections),
            thousands(totals.payload[C2S]),
            thousands(totals.payload[S2C]),
            sample.wall.as_secs_f64()
        );
    } else {
        println!("check: FAILED — wsscope disagrees with the generator:");
        for p in &problems {
            println!("  - {p}");
        }
    }
    Ok(problems.len())
}

/// Everything in wsscope's document that disagrees with the generator's totals `t`.
fn disagreements(doc: &StreamsDoc, t: &Totals) -> Vec<String> {
    let mut out = Vec::new();
    let mut expect = |what: &str, got: u64, want: u64| {
        if got != want {
            out.push(format!("{what}: wsscope {got}, generated {want}"));
        }
    };
    let conns = &doc.connections;
    let sum = |f: fn(&DirDoc) -> u64| -> [u64; 2] {
        let c2s = conns.iter().map(|c| f(&c.client_to_server)).sum();
        let s2c = conns.iter().map(|c| f(&c.server_to_client)).sum();
        [c2s, s2c]
    };
    let both = |f: fn(&DirDoc) -> u64| sum(f).iter().sum::<u64>();
    let delivered = sum(|d| d.delivered_bytes);
    expect("connections listed", conns.len() as u64, t.connections);
    expect("tcp.connections", doc.tcp.connections, t.connections);
    expect("tcp.closed_fin", doc.tcp.closed_fin, t.connections);
    expect("packets.packets", doc.packets.packets, t.packets);
    expect("packets.tcp_segments", doc.packets.tcp_segments, t.packets);
    expect("client_to_server.delivered_bytes", delivered[C2S], t.payload[C2S]);
    expect("server_to_client.delivered_bytes", delivered[S2C], t.payload[S2C]);
    expect("gap_bytes", both(|d| d.gap_bytes), 0);
    expect("gaps", both(|d| d.gaps), 0);
    expect("mismatches", both(|d| d.mismatches), 0);
    expect("late_bytes", both(|d| d.late_bytes), 0);
    expect("out_of_order_segments", both(|d| d.out_of_order_segments), t.reordered);
    expect("retransmitted_bytes", both(|d| d.retransmitted_bytes), t.retransmitted_bytes);
    // Retransmitted bytes beyond the per-direction history cap cannot be compared; wsscope must
    // say so (verified < retransmitted), never claim more than it checked.
    let verified = both(|d| d.verified_retransmitted_bytes);
    if verified > t.retransmitted_bytes {
        out.push(format!(
            "verified_retransmitted_bytes {verified} > retransmitted {}",
            t.retransmitted_bytes
        ));
    }
    if doc.end_of_input.kind != "clean" {
        out.push(format!("end_of_input: {}", doc.end_of_input.kind));
    }
    let not_fin: Vec<String> = conns
        .iter()
        .filter(|c| c.close.as_deref() != Some("fin"))
        .take(5)
        .map(|c| format!("#{} {:?}", c.id, c.close))
        .collect();
    if !not_fin.is_empty() {
        out.push(format!("connections not closed by FIN (first 5): {}", not_fin.join(", ")));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

/// Prints the results; `floor_kib` is the smallest peak RSS a child can show (see [`rss_floor`]).
fn print_table(tools: &[Tool], results: &[Summary], t: &Totals, floor_kib: u64) {
    println!();
    println!(
        "{:<18} {:>8} {:>8} {:>8} {:>8} {:>12} {:>12} {:>11} {:>13}",
        "command",
        "median s",
        "min s",
        "max s",
        "cpu s",
        "capture MB/s",
        "payload MB/s",
        "packets/s",
        "peak RSS MiB"
    );
    for (tool, r) in tools.iter().zip(results) {
        let secs = r.median.wall.as_secs_f64();
        println!(
            "{:<18} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>12.1} {:>12.1} {:>11} {:>13.1}",
            tool.label,
            secs,
            r.min.as_secs_f64(),
            r.max.as_secs_f64(),
            r.median.cpu.as_secs_f64(),
            t.file_bytes as f64 / MB / secs,
            t.payload_bytes() as f64 / MB / secs,
            thousands((t.packets as f64 / secs) as u64),
            r.max_rss_kib as f64 * 1024.0 / MIB
        );
    }
    println!();
    println!(
        "{RUNS} runs each, interleaved, after one untimed read of the file; wall time from spawn to exit,"
    );
    println!(
        "cpu = user + sys and peak RSS = ru_maxrss of the child (wait4; largest of the runs; a child"
    );
    println!(
        "cannot show less than {:.1} MiB, what `true` shows). Payload = unique TCP stream bytes.",
        floor_kib as f64 / 1024.0
    );
    println!("wsscope: built by cargo in the `bench` profile (inherits `release`). Commands:");
    for tool in tools {
        println!("  {}", tool.shell());
    }
}
