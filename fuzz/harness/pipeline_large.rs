//! `pipeline_large`: a small input expanded into a capture of up to [`MAX_CAPTURE`] bytes (MBs,
//! far beyond libFuzzer's 4 KB inputs), read by `run::run` into NDJSON, the verbose text view
//! and the report (then JUnit), redacted, frame events and payloads on. It looks for work or
//! memory that grows faster than the capture: quadratic rescans, per-byte amplification,
//! state that is never released.
//!
//! Input format:
//!
//! ```text
//! byte 0   bit 0: TCP handshake first; bit 1: an HTTP upgrade (request and 101) first; bit 2:
//!          permessage-deflate offered and accepted in it; bits 3-4: segment size (1448, 64, 7,
//!          16 000 bytes); bits 5-7: perturbation every P-th segment (none, dropped, sent twice,
//!          swapped with the next, resent with other bytes, cut by a snaplen, none, none)
//! byte 1   connections: 1 + (b & 0x7f), all with the same streams; bit 7: interleaved segment
//!          by segment (all open at once) instead of one after the other
//! byte 2   P (0: no perturbation)
//! chunks   [dir: u8][repeat: u16 LE][len: u8][len bytes]: the bytes, 1 + repeat times, appended
//!          to the client's (dir even) or server's stream; chunks alternate in capture order
//! ```
//!
//! The capture is raw IPv4 (link type 101) with ACKs and FINs that agree with the streams.
//! Expansion stops at [`MAX_CAPTURE`] bytes.
//!
//! Checks, per input, against the capture's size `n` in bytes: peak live heap during the run
//! (counted by [`crate::alloc_count::Counting`], which the binary must install: the check fails
//! when it counted nothing) at most `MEM_PER_BYTE × n + MEM_FIXED`, and the run's wall time at
//! most `NS_PER_BYTE × n + TIME_FIXED`.

use crate::alloc_count::Measure;
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant};
use wsscope::analyzer::{AnalyzerConfig, AnalyzerStats};
use wsscope::event::Event;
use wsscope::pipeline::RunSummary;
use wsscope::redact::Rules;
use wsscope::run;
use wsscope::sink::ndjson::Ndjson;
use wsscope::sink::report::ReportFormat;
use wsscope::sink::text::Text;
use wsscope::sink::{Format, InputInfo, junit};

/// Largest capture built from one input.
pub const MAX_CAPTURE: usize = 8 << 20;
/// Heap bytes allowed per capture byte.
pub const MEM_PER_BYTE: usize = 8;
/// Heap bytes allowed whatever the size: the default limits' fixed buffers (1 MiB kept per
/// message, 256 KiB of resync, 64 KiB of HTTP head, the file reader's buffer, inflaters).
pub const MEM_FIXED: usize = 16 << 20;
/// Wall time allowed per capture byte (generous: sanitizers, debug assertions, a shared machine).
pub const NS_PER_BYTE: u64 = 10_000;
/// Wall time allowed whatever the size.
pub const TIME_FIXED: Duration = Duration::from_secs(3);

/// Bytes written, then dropped.
#[derive(Default)]
struct Count(u64);

impl Write for Count {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// NDJSON, text and the report in one run.
struct All {
    ndjson: Ndjson<Count>,
    text: Text<Count>,
    report: ReportFormat,
}

impl Format for All {
    fn begin(&mut self, i: &InputInfo, r: Option<&Rules>) -> io::Result<()> {
        self.ndjson.begin(i, r)?;
        self.text.begin(i, r)?;
        self.report.begin(i, r)
    }
    fn event(&mut self, e: Event) -> io::Result<()> {
        self.ndjson.event(e.clone())?;
        self.text.event(e.clone())?;
        self.report.event(e)
    }
    fn end(&mut self, i: &InputInfo, s: &RunSummary, a: &AnalyzerStats) -> io::Result<()> {
        self.ndjson.end(i, s, a)?;
        self.text.end(i, s, a)?;
        self.report.end(i, s, a)
    }
    fn finish(&mut self) -> io::Result<()> {
        self.ndjson.finish()?;
        self.text.finish()?;
        self.report.finish()
    }
}

/// One execution.
pub fn run(data: &[u8]) {
    if let Err(msg) = run_measured(data) {
        panic!("{msg}");
    }
}

/// One execution: the capture's size, the run's peak heap and time, or which bound it broke.
pub fn run_measured(data: &[u8]) -> Result<(usize, usize, Duration), String> {
    let capture = build(data);
    let n = capture.len();
    if n == 0 {
        // Fewer than 3 bytes describe no capture.
        return Ok((0, 0, Duration::ZERO));
    }
    let path = crate::scratch_path("pipeline_large");
    std::fs::write(&path, &capture).map_err(|e| format!("{}: {e}", path.display()))?;
    drop(capture);
    let result = measured(n, || read(&path));
    let _ = std::fs::remove_file(&path);
    result.map(|(peak, elapsed)| (n, peak, elapsed))
}

/// Runs every output on the capture at `path`.
fn read(path: &Path) {
    let all = All {
        ndjson: Ndjson::new(Count::default(), false),
        text: Text::new(Count::default(), false, true, false),
        report: ReportFormat::new("warning"),
    };
    let cfg = AnalyzerConfig { emit_frames: true, ..AnalyzerConfig::default() };
    let cfg = crate::pipeline::config(path, cfg, Some(crate::pipeline::redactor(false)), 1);
    let outcome = run::run(cfg, all).expect("a capture the harness wrote");
    let report = outcome.format.report.into_report(None);
    ReportFormat::write(&report, Count::default()).expect("writing nowhere");
    std::hint::black_box(junit::render(&report).expect("a report wsscope wrote"));
    std::hint::black_box((outcome.format.ndjson, outcome.format.text));
}

/// Runs `f` and checks its peak heap and wall time against the bounds for an `n`-byte input.
pub fn measured(n: usize, f: impl FnOnce()) -> Result<(usize, Duration), String> {
    let m = Measure::start();
    let t = Instant::now();
    f();
    let (elapsed, peak) = (t.elapsed(), m.peak());
    if !m.counted() {
        return Err("no allocation counted: install alloc_count::Counting".into());
    }
    let max_mem = MEM_PER_BYTE * n + MEM_FIXED;
    if peak > max_mem {
        return Err(format!("peak heap {peak} bytes for a {n}-byte capture (bound {max_mem})"));
    }
    let max_time = TIME_FIXED + Duration::from_nanos(NS_PER_BYTE * n as u64);
    if elapsed > max_time {
        return Err(format!("{elapsed:?} for a {n}-byte capture (bound {max_time:?})"));
    }
    Ok((peak, elapsed))
}

/// The streams of one connection, as the chunks describe them, in capture order.
fn chunks(mut rest: &[u8], budget: usize) -> Vec<(usize, Vec<u8>)> {
    let mut out: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut total = 0;
    while rest.len() >= 4 && total < budget {
        let dir = usize::from(rest[0] & 1);
        let repeat = 1 + usize::from(u16::from_le_bytes([rest[1], rest[2]]));
        let len = usize::from(rest[3]).min(rest.len() - 4);
        let (bytes, tail) = rest[4..].split_at(len);
        rest = tail;
        if bytes.is_empty() {
            continue;
        }
        let repeat = repeat.min((budget - total).div_ceil(bytes.len()));
        let stream = bytes.repeat(repeat);
        total += stream.len();
        match out.last_mut() {
            Some((d, s)) if *d == dir => s.extend_from_slice(&stream),
            _ => out.push((dir, stream)),
        }
    }
    out
}

const REQUEST: &str = "GET /large HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n";
const RESPONSE: &str = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
const DEFLATE: &str = "Sec-WebSocket-Extensions: permessage-deflate\r\n";

/// One TCP segment of a connection: direction, stream offset, bytes.
struct Seg {
    dir: usize,
    offset: u64,
    len: usize,
    /// Index into the connection's streams: which chunk and where in it.
    chunk: usize,
    at: usize,
}

/// Writes the capture the input describes.
pub fn build(data: &[u8]) -> Vec<u8> {
    let [flags, conns, period, rest @ ..] = data else { return Vec::new() };
    let mut streams: Vec<(usize, Vec<u8>)> = Vec::new();
    if flags & 2 != 0 {
        let ext = if flags & 4 != 0 { DEFLATE } else { "" };
        streams.push((0, format!("{REQUEST}{ext}\r\n").into_bytes()));
        streams.push((1, format!("{RESPONSE}{ext}\r\n").into_bytes()));
    }
    let n_conns = 1 + usize::from(conns & 0x7f);
    let mss: usize = [1448, 64, 7, 16_000][usize::from(flags >> 3) & 3];
    // Each payload byte costs at least itself, plus headers per segment, per connection.
    let per_byte = (mss + 56).div_ceil(mss);
    let budget = MAX_CAPTURE / n_conns / per_byte;
    streams.extend(chunks(rest, budget));
    // Segments of one connection, in capture order.
    let mut segs = Vec::new();
    let mut next = [0u64; 2];
    for (i, (dir, s)) in streams.iter().enumerate() {
        for at in (0..s.len()).step_by(mss) {
            let len = mss.min(s.len() - at);
            segs.push(Seg { dir: *dir, offset: next[*dir], len, chunk: i, at });
            next[*dir] += len as u64;
        }
    }
    let mut w = Writer { out: Vec::new(), ts_us: 0 };
    w.header();
    let handshake = flags & 1 != 0;
    let perturb = if *period == 0 { 0 } else { flags >> 5 };
    let interleave = conns & 0x80 != 0;
    let order: Vec<(usize, usize)> = if interleave {
        (0..segs.len()).flat_map(|s| (0..n_conns).map(move |c| (c, s))).collect()
    } else {
        (0..n_conns).flat_map(|c| (0..segs.len()).map(move |s| (c, s))).collect()
    };
    let mut started = vec![false; n_conns];
    let mut sent = vec![[0u64; 2]; n_conns];
    let mut done = vec![0usize; n_conns];
    let mut swapped: Option<(usize, usize)> = None;
    for (c, s) in order {
        if w.out.len() >= MAX_CAPTURE {
            break;
        }
        if !started[c] {
            started[c] = true;
            if handshake {
                w.packet(c, 0, 0, &[], 0x02, [0, 0], None); // SYN
                w.packet(c, 1, 0, &[], 0x12, [0, 0], None); // SYN-ACK
                w.packet(c, 0, 0, &[], 0x10, [0, 0], None); // ACK
            }
        }
        let seg = &segs[s];
        let bytes = &streams[seg.chunk].1[seg.at..seg.at + seg.len];
        let p = usize::from(*period);
        let hit = p != 0 && s % p == p - 1;
        sent[c][seg.dir] = sent[c][seg.dir].max(seg.offset + seg.len as u64);
        let acks = [sent[c][1], sent[c][0]];
        match (perturb, hit) {
            (1, true) => {} // dropped
            (2, true) => {
                w.packet(c, seg.dir, seg.offset, bytes, 0x18, acks, None);
                w.packet(c, seg.dir, seg.offset, bytes, 0x18, acks, None);
            }
            (3, true) => swapped = Some((c, s)),
            (4, true) => {
                w.packet(c, seg.dir, seg.offset, bytes, 0x18, acks, None);
                let other: Vec<u8> = bytes.iter().map(|b| b ^ 0x5a).collect();
                w.packet(c, seg.dir, seg.offset, &other, 0x18, acks, None);
            }
            (5, true) => w.packet(c, seg.dir, seg.offset, bytes, 0x18, acks, Some(bytes.len() / 2)),
            _ => w.packet(c, seg.dir, seg.offset, bytes, 0x18, acks, None),
        }
        if let Some((sc, ss)) = swapped.filter(|&(sc, ss)| sc == c && ss != s) {
            let seg = &segs[ss];
            let bytes = &streams[seg.chunk].1[seg.at..seg.at + seg.len];
            w.packet(sc, seg.dir, seg.offset, bytes, 0x18, acks, None);
            swapped = None;
        }
        done[c] += 1;
        if done[c] == segs.len() && handshake {
            let ends = sent[c];
            w.packet(c, 0, ends[0], &[], 0x11, [ends[1], ends[0]], None); // FIN
            w.packet(c, 1, ends[1], &[], 0x11, [ends[1], ends[0]], None);
        }
    }
    w.out
}

/// A classic pcap file of raw IPv4 packets being written.
struct Writer {
    out: Vec<u8>,
    ts_us: u64,
}

impl Writer {
    fn header(&mut self) {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&65_535u32.to_le_bytes());
        h.extend_from_slice(&101u32.to_le_bytes());
        self.out.extend_from_slice(&h);
    }

    /// A segment of connection `c` in direction `dir` (0: client to server) at stream offset
    /// `offset` (the SYNs take offset 0 with the ISN below it), acknowledging `acks[dir]`.
    /// `snap`: captured payload bytes when fewer than all.
    #[allow(clippy::too_many_arguments)]
    fn packet(
        &mut self,
        c: usize,
        dir: usize,
        offset: u64,
        payload: &[u8],
        flags: u8,
        acks: [u64; 2],
        snap: Option<usize>,
    ) {
        const ISN: [u32; 2] = [1_000, 900_000_000];
        let syn = flags & 0x02 != 0;
        let seq = ISN[dir].wrapping_add(u32::from(!syn)).wrapping_add(offset as u32);
        let ack = ISN[1 - dir].wrapping_add(1).wrapping_add(acks[dir] as u32);
        let ack_flag = flags & 0x10 != 0;
        let client = [10, 0, (c >> 8) as u8, c as u8];
        let server = [10, 255, 0, 1];
        let (src, dst) = if dir == 0 { (client, server) } else { (server, client) };
        let (sport, dport) = if dir == 0 { (40_000, 80) } else { (80, 40_000) };
        let wire = 40 + payload.len();
        let cap = 40 + snap.unwrap_or(payload.len());
        self.ts_us += 10;
        let mut p = Vec::with_capacity(16 + cap);
        p.extend_from_slice(&((self.ts_us / 1_000_000) as u32).to_le_bytes());
        p.extend_from_slice(&((self.ts_us % 1_000_000) as u32).to_le_bytes());
        p.extend_from_slice(&(cap as u32).to_le_bytes());
        p.extend_from_slice(&(wire as u32).to_le_bytes());
        p.extend_from_slice(&[0x45, 0]);
        p.extend_from_slice(&(wire as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&u16::to_be_bytes(sport));
        p.extend_from_slice(&u16::to_be_bytes(dport));
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(if ack_flag || !syn { ack } else { 0 }).to_be_bytes());
        p.extend_from_slice(&[0x50, flags | if syn && dir == 0 { 0 } else { 0x10 }]);
        p.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
        p.extend_from_slice(&payload[..cap - 40]);
        self.out.extend_from_slice(&p);
    }
}
