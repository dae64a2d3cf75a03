//! Deterministic generator of WebSocket captures that exercise what captures made elsewhere look
//! like (issue 12): SPAN/TAP merges whose ACKs come before the data, lost segments, captures
//! started late, binary protocols that are not WebSocket, invalid upgrades, idle connections.
//!
//! ```text
//! cargo run --example gen_cases -- testdata/captures/cases
//! ```
//!
//! For every case `<case>` the output directory receives `<case>.pcap` and `<case>.truth.json`,
//! in the format of `testdata/captures/real/*.truth.json` (see its README) with a few optional
//! fields of its own, described in `testdata/captures/cases/README.md`. Output is byte-for-byte
//! reproducible: fixed addresses, ISNs, masking keys and timestamps (1 ms per packet from
//! 1_700_000_000 s, unless a case skews them).
//!
//! The truth is what the generator sent, not what any decoder makes of the capture: every
//! message is encoded here, its packets are numbered after the case has reordered or dropped
//! them, and a message is `lost` when any of its bytes is not in the capture. This file does not
//! use the `wsscope` library.

#[path = "segment.rs"]
#[allow(dead_code)] // IPv6 addresses are not used here
mod segment;

use anyhow::{Context, Result};
use base64::Engine;
use pcap::{Capture, Linktype};
use segment::{Addrs, Flags, Segment};
use serde::Serialize;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

const BASE_NS: u64 = 1_700_000_000 * 1_000_000_000;
const MS: u64 = 1_000_000;
const MSS: usize = 1400;
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// ── WebSocket frames ─────────────────────────────────────────────────────────────────────────

const TEXT: u8 = 1;
const BINARY: u8 = 2;
const CLOSE: u8 = 8;
const PING: u8 = 9;
const PONG: u8 = 10;

/// One frame as written: header and (masked) payload.
fn frame(fin: bool, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![(u8::from(fin) << 7) | opcode];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => f.push(m | n as u8),
        n @ 126..=65535 => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            f.extend_from_slice(&k);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

fn opcode_name(op: u8) -> &'static str {
    match op {
        TEXT => "text",
        BINARY => "binary",
        CLOSE => "close",
        PING => "ping",
        PONG => "pong",
        _ => "reserved",
    }
}

fn accept_for(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// Deterministic bytes for payloads.
fn det_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

// ── Truth ────────────────────────────────────────────────────────────────────────────────────

#[derive(Serialize, Clone, Debug)]
struct TruthMessage {
    direction: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    length: u64,
    sha256: String,
    compressed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    close_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    close_reason: Option<String>,
    /// Some of its bytes are not in the capture.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    lost: bool,
    /// Bytes of it the capture does not hold, when a decoder can know (the gap lies inside a
    /// frame whose header was captured).
    #[serde(skip_serializing_if = "Option::is_none")]
    missing: Option<u64>,
    /// Packet (1-based, file order) that carried its first frame's header.
    #[serde(skip_serializing_if = "Option::is_none")]
    first_packet: Option<u64>,
    /// Packet that carried its last frame's header.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_packet: Option<u64>,
    /// The last of its bytes to be captured, in file order: where it became complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    complete_packet: Option<u64>,
    /// A pong that answers a ping of the capture: it must carry a round-trip time.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    answers_ping: bool,
}

#[derive(Serialize, Debug)]
struct TruthHandshake {
    seen: bool,
    outcome: &'static str,
    accept_valid: Option<bool>,
}

#[derive(Serialize, Debug)]
struct TruthConn {
    client: String,
    server: String,
    handshake: TruthHandshake,
    expected_findings: Vec<String>,
    messages: Vec<TruthMessage>,
}

#[derive(Serialize, Debug, Default)]
struct Analysis {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ws_ports: Vec<u16>,
}

#[derive(Serialize, Debug)]
struct Truth {
    scenario: &'static str,
    description: &'static str,
    pcap: String,
    generator: &'static str,
    /// The server port of the first connection (for tshark's `-d tcp.port==N,http`).
    server_port: u16,
    /// Options the capture must be analysed with (`--ws-port`).
    analysis: Analysis,
    /// WebSocket connections a correct analyzer reports: exactly `connections`, none other.
    websocket_connections: usize,
    /// Whether `report --fail-on error` must pass (no finding of severity error).
    errors_expected: bool,
    /// Credentials the capture carries: no output of `--redact` may contain any of them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    secrets: Vec<String>,
    connections: Vec<TruthConn>,
}

// ── TCP connections and packets ──────────────────────────────────────────────────────────────

struct Pkt {
    ts_ns: u64,
    frame: Vec<u8>,
    conn: usize,
    from: usize,
    /// Stream offset of the first payload byte (relative to ISN + 1) and payload length.
    range: (u64, u64),
}

/// A message as sent, with where its bytes lie in the sender's stream.
struct Sent {
    conn: usize,
    from: usize,
    opcode: u8,
    payload: Vec<u8>,
    close: Option<(u16, String)>,
    /// Stream offsets of each frame's header start and header lengths, and the end of the last
    /// frame.
    headers: Vec<u64>,
    header_lens: Vec<u64>,
    end: u64,
    answers_ping: bool,
}

struct Conn {
    addrs: Addrs,
    ports: [u16; 2],
    isn: [u32; 2],
    /// Next stream offset per side (0 = first byte after the SYN).
    next: [u64; 2],
    /// Bytes written per side (the streams).
    stream: [Vec<u8>; 2],
    handshake: Option<TruthHandshake>,
    findings: Vec<String>,
    websocket: bool,
    mask_counter: u32,
}

struct Case {
    name: &'static str,
    description: &'static str,
    pkts: Vec<Pkt>,
    conns: Vec<Conn>,
    sent: Vec<Sent>,
    clock_ns: u64,
    analysis: Analysis,
    errors_expected: bool,
    /// The capture's clocks disagree across directions: no round trip can be measured.
    skewed: bool,
    /// Credentials the capture carries (see `Truth::secrets`).
    secrets: Vec<String>,
}

const CLIENT: usize = 0;
const SERVER: usize = 1;

impl Case {
    fn new(name: &'static str, description: &'static str) -> Case {
        Case {
            name,
            description,
            pkts: Vec::new(),
            conns: Vec::new(),
            sent: Vec::new(),
            clock_ns: BASE_NS,
            analysis: Analysis::default(),
            errors_expected: false,
            skewed: false,
            secrets: Vec::new(),
        }
    }

    fn conn(&mut self, client: [u8; 4], server: [u8; 4], ports: [u16; 2]) -> usize {
        let n = self.conns.len() as u32;
        self.conns.push(Conn {
            addrs: Addrs::V4([client, server]),
            ports,
            isn: [0x1000_0000 + n * 0x10_0000, 0x7000_0000 + n * 0x10_0000],
            next: [0, 0],
            stream: [Vec::new(), Vec::new()],
            handshake: None,
            findings: Vec::new(),
            websocket: true,
            mask_counter: 0,
        });
        self.conns.len() - 1
    }

    fn pause(&mut self, ms: u64) {
        self.clock_ns += ms * MS;
    }

    fn seq(&self, c: usize, from: usize, offset: u64) -> u32 {
        self.conns[c].isn[from].wrapping_add(1).wrapping_add(offset as u32)
    }

    /// One segment from `from`, acknowledging everything the peer sent so far.
    fn segment(&mut self, c: usize, from: usize, flags: Flags, offset: u64, payload: &[u8]) {
        let conn = &self.conns[c];
        let (seq, ack) = if flags.syn && from == CLIENT {
            (conn.isn[CLIENT], None)
        } else if flags.syn {
            (conn.isn[SERVER], Some(conn.isn[CLIENT].wrapping_add(1)))
        } else {
            (self.seq(c, from, offset), Some(self.seq(c, 1 - from, conn.next[1 - from])))
        };
        let seg = Segment {
            addrs: conn.addrs,
            ports: conn.ports,
            from,
            seq,
            ack,
            flags,
            window: 502,
            timestamp: ((self.clock_ns / MS) as u32, 0),
            mss: 1460,
            payload,
        };
        let mut frame = Vec::new();
        seg.write(&mut frame).expect("segment");
        self.pkts.push(Pkt {
            ts_ns: self.clock_ns,
            frame,
            conn: c,
            from,
            range: (offset, payload.len() as u64),
        });
        self.clock_ns += MS;
    }

    fn syn(&mut self, c: usize) {
        self.segment(c, CLIENT, Flags::SYN, 0, &[]);
        self.segment(c, SERVER, Flags::SYN, 0, &[]);
        self.ack(c, CLIENT);
    }

    /// A pure ACK from `from`.
    fn ack(&mut self, c: usize, from: usize) {
        let off = self.conns[c].next[from];
        self.segment(c, from, Flags::NONE, off, &[]);
    }

    /// Writes `bytes` from `from` in segments of at most `mss` bytes (no ACKs).
    fn write(&mut self, c: usize, from: usize, bytes: &[u8], mss: usize) {
        for chunk in bytes.chunks(mss) {
            let off = self.conns[c].next[from];
            self.conns[c].stream[from].extend_from_slice(chunk);
            self.segment(c, from, Flags::PSH, off, chunk);
            self.conns[c].next[from] += chunk.len() as u64;
        }
    }

    /// Writes, then the peer acknowledges.
    fn send(&mut self, c: usize, from: usize, bytes: &[u8]) {
        self.write(c, from, bytes, MSS);
        self.ack(c, 1 - from);
    }

    fn fin(&mut self, c: usize, from: usize) {
        let off = self.conns[c].next[from];
        self.segment(c, from, Flags::FIN, off, &[]);
        self.conns[c].next[from] += 1;
    }

    fn close_tcp(&mut self, c: usize) {
        self.fin(c, CLIENT);
        self.fin(c, SERVER);
        self.ack(c, CLIENT);
    }

    fn next_mask(&mut self, c: usize) -> [u8; 4] {
        let conn = &mut self.conns[c];
        conn.mask_counter += 1;
        let k = conn.mask_counter.wrapping_mul(0x9E37_79B1) ^ 0x5A17_C3E5;
        k.to_be_bytes()
    }

    /// The bytes of a message cut into frames of the given payload sizes (the last size is the
    /// rest), recorded as sent.
    fn message(
        &mut self,
        c: usize,
        from: usize,
        opcode: u8,
        payload: &[u8],
        cuts: &[usize],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut headers = Vec::new();
        let mut header_lens = Vec::new();
        let start = self.conns[c].next[from];
        let mut rest = payload;
        let mut first = true;
        loop {
            let n = cuts.get(headers.len()).copied().unwrap_or(rest.len()).min(rest.len());
            let last = headers.len() >= cuts.len() || n == rest.len();
            let (piece, tail) = rest.split_at(if last { rest.len() } else { n });
            headers.push(start + out.len() as u64);
            let mask = (from == CLIENT).then(|| self.next_mask(c));
            let f = frame(last, if first { opcode } else { 0 }, mask, piece);
            header_lens.push((f.len() - piece.len()) as u64);
            out.extend(f);
            rest = tail;
            first = false;
            if last {
                break;
            }
        }
        let close = (opcode == CLOSE && payload.len() >= 2).then(|| {
            (
                u16::from_be_bytes([payload[0], payload[1]]),
                String::from_utf8_lossy(&payload[2..]).into(),
            )
        });
        self.sent.push(Sent {
            conn: c,
            from,
            opcode,
            payload: payload.to_vec(),
            close,
            headers,
            header_lens,
            end: start + out.len() as u64,
            answers_ping: false,
        });
        out
    }

    /// Sends a message in one write, then the peer acknowledges.
    fn send_message(&mut self, c: usize, from: usize, opcode: u8, payload: &[u8]) {
        let bytes = self.message(c, from, opcode, payload, &[]);
        self.send(c, from, &bytes);
    }

    fn close_frames(&mut self, c: usize, first: usize, code: u16, reason: &str) {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason.as_bytes());
        self.send_message(c, first, CLOSE, &p);
        self.send_message(c, 1 - first, CLOSE, &p);
    }

    /// The opening handshake: request and 101, as the peers write them.
    fn upgrade(&mut self, c: usize, path: &str) {
        self.upgrade_with(c, path, "", "");
    }

    /// The opening handshake with more header lines (each ending in CRLF) in the request and
    /// in the 101.
    fn upgrade_with(&mut self, c: usize, path: &str, req_headers: &str, resp_headers: &str) {
        let key = base64::engine::general_purpose::STANDARD.encode(det_bytes(c as u64 + 77, 16));
        let port = self.conns[c].ports[SERVER];
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: 10.0.0.2:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://10.0.0.2\r\n{req_headers}\r\n"
        );
        self.send(c, CLIENT, req.as_bytes());
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n{resp_headers}\r\n",
            accept_for(&key)
        );
        self.send(c, SERVER, resp.as_bytes());
        self.conns[c].handshake =
            Some(TruthHandshake { seen: true, outcome: "upgraded", accept_valid: Some(true) });
    }

    /// An upgrade whose request is `extra_headers` and `request_line` around a valid key (a
    /// malformed request when they are), answered by a valid 101.
    fn upgrade_raw(&mut self, c: usize, request_line: &[u8], extra_headers: &[u8]) {
        let key = base64::engine::general_purpose::STANDARD.encode(det_bytes(c as u64 + 77, 16));
        let mut req = request_line.to_vec();
        req.extend_from_slice(
            format!(
                "\r\nHost: 10.0.0.2\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://10.0.0.2\r\n"
            )
            .as_bytes(),
        );
        req.extend_from_slice(extra_headers);
        req.extend_from_slice(b"\r\n");
        self.send(c, CLIENT, &req);
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            accept_for(&key)
        );
        self.send(c, SERVER, resp.as_bytes());
        self.conns[c].handshake =
            Some(TruthHandshake { seen: true, outcome: "upgraded", accept_valid: Some(true) });
    }

    /// Sorts packets by timestamp (stable), as mergecap does.
    fn sort_by_time(&mut self) {
        self.pkts.sort_by_key(|p| p.ts_ns);
    }

    /// The truth, from the packets as they are now (after reordering and drops).
    fn truth(&self) -> Truth {
        // Per (conn, side): for each stream byte range, the file position of the first packet
        // that carried it.
        let mut first_copy: BTreeMap<(usize, usize), Vec<Carried>> = BTreeMap::new();
        for (i, p) in self.pkts.iter().enumerate() {
            if p.range.1 > 0 {
                first_copy.entry((p.conn, p.from)).or_default().push((
                    p.range.0,
                    p.range.1,
                    i as u64 + 1,
                ));
            }
        }
        // The packet holding stream byte `off` first (in file order), if any.
        let packet_of = |c: usize, from: usize, off: u64| -> Option<u64> {
            first_copy
                .get(&(c, from))?
                .iter()
                .filter(|(s, n, _)| *s <= off && off < s + n)
                .map(|x| x.2)
                .min()
        };
        let mut conns = Vec::new();
        for (ci, conn) in self.conns.iter().enumerate() {
            if !conn.websocket {
                continue;
            }
            let mut messages = Vec::new();
            for s in self.sent.iter().filter(|s| s.conn == ci) {
                let start = s.headers[0];
                let all: Vec<Option<u64>> =
                    (start..s.end).map(|o| packet_of(ci, s.from, o)).collect();
                let lost = all.iter().any(Option::is_none);
                let hdr = |o: u64| packet_of(ci, s.from, o);
                // A decoder knows how many bytes are missing when every frame header was captured
                // (the gaps lie inside payloads).
                let headers_seen = s
                    .headers
                    .iter()
                    .zip(&s.header_lens)
                    .all(|(h, n)| (*h..h + n).all(|o| packet_of(ci, s.from, o).is_some()));
                let missing = (lost && headers_seen)
                    .then(|| all.iter().filter(|p| p.is_none()).count() as u64);
                // A pong carries a round trip only when its ping was captured before it (clock
                // skew in a merged capture can put the pong first).
                let answers_ping = s.answers_ping
                    && !self.skewed
                    && self.sent.iter().any(|q| {
                        q.conn == ci
                            && q.from != s.from
                            && q.opcode == PING
                            && q.payload == s.payload
                            && (q.headers[0]..q.end).filter_map(|o| packet_of(ci, q.from, o)).max()
                                < all.iter().flatten().max().copied()
                    });
                messages.push(TruthMessage {
                    direction: if s.from == CLIENT {
                        "client_to_server"
                    } else {
                        "server_to_client"
                    },
                    kind: opcode_name(s.opcode),
                    length: s.payload.len() as u64,
                    sha256: hex(&Sha256::digest(&s.payload)),
                    compressed: false,
                    close_code: s.close.as_ref().map(|c| c.0),
                    close_reason: s.close.as_ref().map(|c| c.1.clone()),
                    lost,
                    missing,
                    first_packet: hdr(start),
                    // Where a lost message's frames end is unknowable to a decoder.
                    last_packet: if lost { None } else { s.headers.last().and_then(|h| hdr(*h)) },
                    complete_packet: if lost { None } else { all.iter().flatten().max().copied() },
                    answers_ping,
                });
            }
            let name = |side: usize| {
                let (a, p) = match conn.addrs {
                    Addrs::V4(a) => {
                        (std::net::Ipv4Addr::from(a[side]).to_string(), conn.ports[side])
                    }
                    Addrs::V6(a) => {
                        (format!("[{}]", std::net::Ipv6Addr::from(a[side])), conn.ports[side])
                    }
                };
                format!("{a}:{p}")
            };
            conns.push(TruthConn {
                client: name(CLIENT),
                server: name(SERVER),
                handshake: match &conn.handshake {
                    Some(h) => TruthHandshake {
                        seen: h.seen,
                        outcome: h.outcome,
                        accept_valid: h.accept_valid,
                    },
                    None => TruthHandshake { seen: false, outcome: "upgraded", accept_valid: None },
                },
                expected_findings: conn.findings.clone(),
                messages,
            });
        }
        Truth {
            scenario: self.name,
            description: self.description,
            pcap: format!("{}.pcap", self.name),
            generator: "testdata/scripts/gen_cases.rs",
            server_port: self.conns.first().map_or(0, |c| c.ports[SERVER]),
            analysis: Analysis { ws_ports: self.analysis.ws_ports.clone() },
            websocket_connections: conns.len(),
            errors_expected: self.errors_expected,
            secrets: self.secrets.clone(),
            connections: conns,
        }
    }

    fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(format!("{}.pcap", self.name));
        let cap = Capture::dead_with_precision(Linktype(1), pcap::Precision::Micro)?;
        let mut out = cap.savefile(&path)?;
        for p in &self.pkts {
            segment::write_record(&mut out, p.ts_ns, &p.frame);
        }
        out.flush()?;
        drop(out);
        let truth = serde_json::to_string_pretty(&self.truth())? + "\n";
        fs::write(dir.join(format!("{}.truth.json", self.name)), truth)?;
        Ok(())
    }
}

/// A stream range carried by a packet: (offset, length, packet number).
type Carried = (u64, u64, u64);

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

const C: [u8; 4] = [10, 0, 0, 1];
const S: [u8; 4] = [10, 0, 0, 2];

/// A short conversation after the handshake: a text and its echo, a binary larger than a
/// segment and its answer, a ping and its pong each way, a close from the client.
fn conversation(k: &mut Case, c: usize) {
    k.send_message(c, CLIENT, TEXT, b"hello from the client");
    k.send_message(c, SERVER, TEXT, b"echo: hello from the client");
    let big = det_bytes(1, 3000);
    k.send_message(c, CLIENT, BINARY, &big);
    k.send_message(c, SERVER, TEXT, b"got 3000 bytes");
    k.send_message(c, CLIENT, PING, b"ping-1");
    k.send_message(c, SERVER, PONG, b"ping-1");
    k.sent.last_mut().expect("pong").answers_ping = true;
    k.send_message(c, SERVER, PING, b"srv-ping");
    k.send_message(c, CLIENT, PONG, b"srv-ping");
    k.sent.last_mut().expect("pong").answers_ping = true;
    k.send_message(c, SERVER, TEXT, "h\u{e9}llo w\u{f6}rld".as_bytes());
    k.close_frames(c, CLIENT, 1000, "bye");
}

// ── Cases ────────────────────────────────────────────────────────────────────────────────────

/// A SPAN/TAP merge: the client's packets were timestamped 5 ms late, so after merging by time
/// the server's ACKs (and answers) come before the client data they acknowledge.
fn case_span_merge() -> Case {
    let mut k = Case::new(
        "span_merge",
        "The two directions of a WebSocket session captured apart and merged by time, the client \
         side's clock 5 ms behind: every server ACK and answer comes before the client data it \
         acknowledges (up to 5 packets earlier). A correct analyzer decodes every message exactly.",
    );
    let c = k.conn(C, S, [40000, 8080]);
    k.syn(c);
    k.upgrade(c, "/span");
    conversation(&mut k, c);
    k.close_tcp(c);
    for p in &mut k.pkts {
        if p.from == CLIENT {
            p.ts_ns += 5 * MS + 500_000;
        }
    }
    k.sort_by_time();
    k.conns[c].findings = vec!["capture_clock_skew".into()];
    k.skewed = true;
    k
}

/// A multi-queue capture: one client segment overtaken by a later one and by the server's ACK
/// of both.
fn case_ack_overtakes() -> Case {
    let mut k = Case::new(
        "ack_overtakes",
        "The second segment of a 2500-byte client message is captured first, then the server's \
         ACK of the whole message, then the first segment (as multi-queue NICs and mirror ports \
         deliver them). Nothing is lost: the message must be decoded whole.",
    );
    let c = k.conn(C, S, [40001, 8080]);
    k.syn(c);
    k.upgrade(c, "/overtake");
    k.send_message(c, CLIENT, TEXT, b"first");
    let big = det_bytes(2, 2500);
    let bytes = k.message(c, CLIENT, BINARY, &big, &[]);
    let before = k.pkts.len();
    k.write(c, CLIENT, &bytes, MSS);
    k.ack(c, SERVER);
    // [seg1, seg2, ack] -> [seg2, ack, seg1]
    let seg1 = k.pkts.remove(before);
    k.pkts.push(seg1);
    k.send_message(c, SERVER, TEXT, b"got it");
    k.close_frames(c, SERVER, 1001, "going away");
    k.close_tcp(c);
    k.conns[c].findings = vec!["capture_clock_skew".into()];
    k.skewed = true;
    retime(&mut k);
    k
}

/// Rewrites timestamps to 1 ms per packet in file order (a capture whose packets were reordered
/// on the way, not by clock).
fn retime(k: &mut Case) {
    for (i, p) in k.pkts.iter_mut().enumerate() {
        p.ts_ns = BASE_NS + i as u64 * MS;
    }
}

/// The capture lost one frame of a fragmented message (its segment is not in the file; the
/// server acknowledged it).
fn case_lost_frame() -> Case {
    let mut k = Case::new(
        "lost_frame",
        "A 28-byte text message sent as 4 frames of 7 bytes, each in its own segment; the capture \
         lost the segment of the third frame (the server acknowledged it). The message must be \
         reported incomplete, never as a complete 21-byte message; everything after it is exact.",
    );
    let c = k.conn(C, S, [40002, 8080]);
    k.syn(c);
    k.upgrade(c, "/lost");
    k.send_message(c, CLIENT, TEXT, b"before");
    let msg = b"abcdefghijklmnopqrstuvwxyz01";
    let bytes = k.message(c, CLIENT, TEXT, msg, &[7, 7, 7]);
    // 4 frames of 2 + 4 + 7 = 13 bytes each.
    let first = k.pkts.len();
    k.write(c, CLIENT, &bytes, 13);
    k.ack(c, SERVER);
    k.pkts.remove(first + 2);
    k.send_message(c, SERVER, TEXT, b"after");
    k.send_message(c, CLIENT, TEXT, b"still here");
    k.close_frames(c, CLIENT, 1000, "bye");
    k.close_tcp(c);
    // The cut message and the last fragment whose message lost its start: both consequences of
    // the capture (the frames after the hole start right after it: nothing is skipped).
    k.conns[c].findings = vec!["capture_gap".into(), "continuation_without_start".into()];
    retime(&mut k);
    k
}

/// The capture lost a segment inside one large frame's payload: the frame boundary is kept, the
/// missing byte count is known.
fn case_lost_payload() -> Case {
    let mut k = Case::new(
        "lost_payload",
        "A 5000-byte binary message in one frame over four segments; the capture lost the second \
         segment (1400 bytes of payload). The message must be reported incomplete with exactly \
         1400 bytes missing; what follows is decoded exactly.",
    );
    let c = k.conn(C, S, [40003, 8080]);
    k.syn(c);
    k.upgrade(c, "/payload");
    let big = det_bytes(3, 5000);
    let bytes = k.message(c, SERVER, BINARY, &big, &[]);
    let first = k.pkts.len();
    k.write(c, SERVER, &bytes, MSS);
    k.ack(c, CLIENT);
    k.pkts.remove(first + 1);
    k.send_message(c, SERVER, TEXT, b"after the hole");
    k.send_message(c, CLIENT, TEXT, b"client talks");
    k.close_frames(c, SERVER, 1000, "");
    k.close_tcp(c);
    k.conns[c].findings = vec!["capture_gap".into()];
    retime(&mut k);
    k
}

/// tcpdump started late: inside a fragmented message, after a ping, inside a frame.
fn case_late_start() -> Case {
    let mut k = Case::new(
        "late_start",
        "The capture starts in the middle of a session: the SYNs and the upgrade are missing, the \
         client's first captured bytes are the middle of a frame's payload, then a continuation \
         frame whose message started before the capture, and the server's first captured message \
         is a pong to a ping sent before the capture. These are consequences of the capture, not \
         protocol errors: no finding may be an error. The messages that started in the capture \
         are decoded exactly.",
    );
    let c = k.conn(C, S, [40004, 8080]);
    k.syn(c);
    k.upgrade(c, "/late");
    k.send_message(c, CLIENT, TEXT, b"not captured");
    k.send_message(c, CLIENT, PING, b"early ping");
    let mark = k.pkts.len();
    // The client is inside a fragmented binary message: its first frame is split across the
    // capture start.
    let part = det_bytes(4, 900);
    let bytes = k.message(c, CLIENT, BINARY, &part, &[600]);
    // Frame 1 (600 bytes of payload) in two segments; the capture starts with the second.
    let f1_len = 2 + 2 + 4 + 600;
    k.write(c, CLIENT, &bytes[..300], MSS);
    let start = k.pkts.len();
    k.write(c, CLIENT, &bytes[300..f1_len], MSS);
    k.write(c, CLIENT, &bytes[f1_len..], MSS);
    k.ack(c, SERVER);
    k.send_message(c, SERVER, PONG, b"early ping");
    k.send_message(c, CLIENT, TEXT, b"first whole message");
    k.send_message(c, SERVER, TEXT, b"echo: first whole message");
    k.send_message(c, CLIENT, BINARY, &det_bytes(5, 200));
    k.send_message(c, SERVER, BINARY, &det_bytes(6, 100));
    k.send_message(c, CLIENT, TEXT, b"third");
    k.send_message(c, SERVER, TEXT, b"echo: third");
    k.close_frames(c, CLIENT, 1000, "bye");
    k.close_tcp(c);
    // Everything before `start` was not captured; the server ACK at `mark`.. too.
    let _ = mark;
    k.pkts.drain(..start);
    // Messages sent entirely before the capture are unknowable: not part of the truth.
    let first_seen: BTreeMap<usize, u64> = [CLIENT, SERVER]
        .iter()
        .filter_map(|&side| {
            k.pkts
                .iter()
                .filter(|p| p.from == side && p.range.1 > 0)
                .map(|p| p.range.0)
                .min()
                .map(|o| (side, o))
        })
        .collect();
    k.sent.retain(|s| first_seen.get(&s.from).is_some_and(|&o| s.end > o));
    // The cut binary message: its start is not in the capture, so a decoder cannot know it; only
    // the messages that start in the capture are truth.
    k.sent.retain(|s| first_seen.get(&s.from).is_some_and(|&o| s.headers[0] >= o));
    k.conns[c].handshake = None;
    // The tail of a frame sent before the capture, a fragment whose message started before it,
    // and a pong whose ping was not captured: all consequences of the capture.
    k.conns[c].findings = vec![
        "handshake_not_seen".into(),
        "frame_sync_lost".into(),
        "continuation_without_start".into(),
        "pong_unsolicited".into(),
    ];
    retime(&mut k);
    k
}

/// Mid-stream pickup of a conversation with pings both ways: every pong answers its ping.
fn case_midstream_pingpong() -> Case {
    let mut k = Case::new(
        "midstream_pingpong",
        "A session picked up without its handshake (no SYN, no upgrade): text messages, pings \
         and pongs alternate between the two sides. Every pong must carry the round trip of its \
         ping (no pong_unsolicited), and the messages must come out in capture order with the \
         packet of their own header.",
    );
    let c = k.conn(C, S, [40005, 8080]);
    k.syn(c);
    k.upgrade(c, "/pp");
    let start = k.pkts.len();
    for i in 0..3u8 {
        k.send_message(c, CLIENT, TEXT, format!("client message {i}").as_bytes());
        k.send_message(c, SERVER, TEXT, format!("server message {i}").as_bytes());
        k.send_message(c, CLIENT, PING, &[b'c', i]);
        k.send_message(c, SERVER, PONG, &[b'c', i]);
        k.sent.last_mut().expect("pong").answers_ping = true;
        k.send_message(c, SERVER, PING, &[b's', i]);
        k.send_message(c, CLIENT, PONG, &[b's', i]);
        k.sent.last_mut().expect("pong").answers_ping = true;
    }
    k.close_frames(c, SERVER, 1000, "done");
    k.close_tcp(c);
    k.pkts.drain(..start);
    k.conns[c].handshake = None;
    k.conns[c].findings = vec!["handshake_not_seen".into()];
    retime(&mut k);
    k
}

/// Bitcoin P2P `version` and `verack` messages mid-stream: binary, not WebSocket.
fn case_not_ws_bitcoin() -> Case {
    let mut k = Case::new(
        "not_ws_bitcoin",
        "A Bitcoin P2P exchange (version, verack, ping/pong, inv) picked up without its SYN on \
         port 8333: binary TCP traffic with runs of zero bytes. It is not WebSocket and must not \
         be reported as such.",
    );
    let c = k.conn(C, [10, 0, 0, 3], [50000, 8333]);
    k.conns[c].websocket = false;
    k.syn(c);
    let start = k.pkts.len();
    let msg = |cmd: &str, payload: &[u8]| {
        let mut m = vec![0xf9, 0xbe, 0xb4, 0xd9];
        let mut name = cmd.as_bytes().to_vec();
        name.resize(12, 0);
        m.extend(name);
        m.extend((payload.len() as u32).to_le_bytes());
        let h = Sha256::digest(Sha256::digest(payload));
        m.extend(&h[..4]);
        m.extend_from_slice(payload);
        m
    };
    let mut version = Vec::new();
    version.extend(70016u32.to_le_bytes());
    version.extend([0u8; 8]); // services
    version.extend(1_700_000_000u64.to_le_bytes());
    version.extend([0u8; 26]); // addr_recv
    version.extend([0u8; 26]); // addr_from
    version.extend(0x1122_3344_5566_7788u64.to_le_bytes());
    version.extend(b"\x10/Satoshi:25.0.0/");
    version.extend(800_000u32.to_le_bytes());
    version.push(1);
    for (from, m) in [
        (CLIENT, msg("version", &version)),
        (SERVER, msg("version", &version)),
        (CLIENT, msg("verack", &[])),
        (SERVER, msg("verack", &[])),
        (CLIENT, msg("sendheaders", &[])),
        (SERVER, msg("ping", &[0; 8])),
        (CLIENT, msg("pong", &[0; 8])),
        (SERVER, msg("inv", &det_bytes(7, 37))),
    ] {
        k.send(c, from, &m);
    }
    k.close_tcp(c);
    k.pkts.drain(..start);
    retime(&mut k);
    k
}

/// A proprietary binary protocol on port 443, mid-stream.
fn case_not_ws_443() -> Case {
    let mut k = Case::new(
        "not_ws_443",
        "A proprietary binary protocol on port 443 picked up mid-stream: length-prefixed records \
         with small type bytes, zero padding and counters. It is not WebSocket: no connection, no \
         finding, exit status 0.",
    );
    let c = k.conn(C, [10, 0, 0, 4], [50001, 443]);
    k.conns[c].websocket = false;
    k.syn(c);
    let start = k.pkts.len();
    for i in 0..30u32 {
        let from = if i % 3 == 0 { SERVER } else { CLIENT };
        let mut rec = vec![0x00, (i % 4) as u8 + 1];
        let body =
            [&i.to_be_bytes()[..], &[0u8; 6], &det_bytes(u64::from(i), (i as usize * 7) % 40)]
                .concat();
        rec.extend((body.len() as u16).to_be_bytes());
        rec.extend(body);
        k.send(c, from, &rec);
    }
    k.close_tcp(c);
    k.pkts.drain(..start);
    retime(&mut k);
    k
}

/// `--ws-port`: a direction that holds a single frame.
fn case_ws_port_single() -> Case {
    let mut k = Case::new(
        "ws_port_single",
        "A WebSocket session on port 9000 picked up after its handshake, holding one text frame \
         from the client and one from the server, then the TCP close. Analysed with \
         `--ws-port 9000`, both frames must be decoded.",
    );
    let c = k.conn(C, S, [40006, 9000]);
    k.syn(c);
    k.upgrade(c, "/single");
    let start = k.pkts.len();
    k.send_message(c, CLIENT, TEXT, b"{\"subscribe\":\"ticker\"}");
    k.send_message(c, SERVER, TEXT, b"{\"ok\":true}");
    k.close_tcp(c);
    k.pkts.drain(..start);
    k.conns[c].handshake = None;
    k.conns[c].findings = vec!["handshake_not_seen".into(), "closed_without_close_frame".into()];
    k.analysis.ws_ports = vec![9000];
    retime(&mut k);
    k
}

/// An invalid upgrade answered 101, after which both sides go on with HTTP.
fn case_invalid_upgrade() -> Case {
    let mut k = Case::new(
        "invalid_upgrade",
        "A POST with `Upgrade: websockets` (not a valid WebSocket upgrade) answered by a broken \
         server with `101 Switching Protocols`; the peers then go on speaking HTTP/1.1 (a GET and \
         its 200 response). The invalid upgrade is reported; the HTTP that follows is never \
         decoded as frames (no messages, no frame errors).",
    );
    let c = k.conn(C, S, [40007, 8080]);
    k.syn(c);
    let req = "POST /socket HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nUpgrade: websockets\r\nConnection: Upgrade\r\n\
               Content-Length: 0\r\n\r\n";
    k.send(c, CLIENT, req.as_bytes());
    let resp =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websockets\r\nConnection: Upgrade\r\n\r\n";
    k.send(c, SERVER, resp.as_bytes());
    let get = "GET /status HTTP/1.1\r\nHost: 10.0.0.2:8080\r\nAccept: */*\r\n\r\n";
    k.send(c, CLIENT, get.as_bytes());
    let body = "{\"status\":\"ok\",\"uptime\":12345}";
    let ok = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    k.send(c, SERVER, ok.as_bytes());
    k.close_tcp(c);
    k.conns[c].handshake =
        Some(TruthHandshake { seen: true, outcome: "not_followed", accept_valid: None });
    k.conns[c].findings = vec![
        "request_method_not_get".into(),
        "request_upgrade_header_invalid".into(),
        "request_key_invalid".into(),
        "request_version_not13".into(),
        "request_origin_missing".into(),
        "response_upgrade_header_invalid".into(),
        "accept_key_invalid".into(),
        "upgrade_not_followed".into(),
    ];
    k.errors_expected = true;
    k
}

/// An idle connection closed by the idle timeout, then another connection much later.
fn case_idle_end() -> Case {
    let mut k = Case::new(
        "idle_end",
        "A WebSocket session that goes quiet without closing; 20 minutes later (past the 10 \
         minute idle timeout) another session starts. The first one's end is its last packet's \
         time, not the time of the unrelated later packet.",
    );
    let c = k.conn(C, S, [40008, 8080]);
    k.syn(c);
    k.upgrade(c, "/idle");
    k.send_message(c, CLIENT, TEXT, b"are you there?");
    k.send_message(c, SERVER, TEXT, b"yes");
    // Closed by the idle timeout, not by its peers: no closing handshake can be said missing.
    k.pause(20 * 60 * 1000);
    let d = k.conn(C, S, [40009, 8080]);
    k.syn(d);
    k.upgrade(d, "/later");
    k.send_message(d, CLIENT, TEXT, b"later");
    k.close_frames(d, CLIENT, 1000, "");
    k.close_tcp(d);
    k
}

/// Upgrade attempts that httparse refuses, a request the capture lost, a capture that starts at
/// the 101: each connection must still be reported, with a finding, and its frames decoded.
fn case_vanishing_upgrades() -> Case {
    let mut k = Case::new(
        "vanishing_upgrades",
        "Nine connections whose handshake a strict HTTP parser refuses or the capture lost, each \
         answered by a valid 101 and followed by a text message each way and a clean close: \
         129 header fields; a head over 64 KiB; a bare CR in a field value; a NUL in a field \
         value; an obs-fold continuation line; a raw 0xFF byte in the request target; two \
         spaces after the method; a request segment the capture lost (the server acknowledged \
         it); a capture that starts with the server's 101. None may vanish: the malformed ones \
         are reported (http_malformed) and followed, the 101 without its request too \
         (handshake_request_not_seen).",
    );
    let many: Vec<u8> = (0..129).flat_map(|i| format!("X-H{i}: v\r\n").into_bytes()).collect();
    let big = [b"X-Big: ".as_slice(), &vec![b'a'; 70_000], b"\r\n"].concat();
    let variants: [(&[u8], Vec<u8>); 7] = [
        (b"GET /many HTTP/1.1", many),
        (b"GET /big HTTP/1.1", big),
        (b"GET /cr HTTP/1.1", b"X-A: a\rb\r\n".to_vec()),
        (b"GET /nul HTTP/1.1", b"X-A: a\0b\r\n".to_vec()),
        (b"GET /fold HTTP/1.1", b"X-A: one\r\n  two\r\n".to_vec()),
        (b"GET /\xffpath HTTP/1.1", Vec::new()),
        (b"GET  /twospaces HTTP/1.1", Vec::new()),
    ];
    let talk = |k: &mut Case, c: usize| {
        k.send_message(c, CLIENT, TEXT, b"hello");
        k.send_message(c, SERVER, TEXT, b"world");
        k.close_frames(c, CLIENT, 1000, "");
        k.close_tcp(c);
    };
    for (i, (line, extra)) in variants.iter().enumerate() {
        let c = k.conn(C, S, [41000 + i as u16, 8080]);
        k.syn(c);
        k.upgrade_raw(c, line, extra);
        talk(&mut k, c);
        k.conns[c].findings = vec!["http_malformed".into()];
    }
    // The request's segment is lost (acknowledged by the server).
    let c = k.conn(C, S, [41010, 8080]);
    k.syn(c);
    let before = k.pkts.len();
    k.upgrade(c, "/lost-request");
    k.pkts.remove(before);
    talk(&mut k, c);
    k.conns[c].handshake =
        Some(TruthHandshake { seen: true, outcome: "upgraded", accept_valid: None });
    // The lost bytes are said too: the client's frames after them are checked before they are
    // trusted (the lost segment might have held the start of one).
    k.conns[c].findings = vec!["capture_gap".into(), "handshake_request_not_seen".into()];
    // The capture starts with the 101 (no SYN, no request).
    let c = k.conn(C, S, [41011, 8080]);
    let first = k.pkts.len();
    k.syn(c);
    k.upgrade(c, "/starts-at-101");
    let response = k.pkts.len() - 2;
    talk(&mut k, c);
    k.pkts.drain(first..response);
    k.conns[c].handshake =
        Some(TruthHandshake { seen: true, outcome: "upgraded", accept_valid: None });
    k.conns[c].findings = vec!["handshake_request_not_seen".into()];
    k.errors_expected = true;
    retime(&mut k);
    k
}

/// The capture lost the 101 (and, on the second connection, the SYN-ACK too) while both peers
/// went on: the client's frames after its request, and the server's after the lost response.
fn case_lost_response() -> Case {
    let mut k = Case::new(
        "lost_response",
        "Two connections whose 101 the capture lost (the client acknowledged it); on the second \
         the SYN-ACK is lost too, so the server's stream starts at the client's first \
         acknowledgment, not at its first captured byte. Both peers go on with four messages \
         each and a clean close. Every message must be found, the handshake shown once with \
         its request (outcome upgraded, the response not captured), the lost bytes said \
         (capture_gap) and no error reported: before, the second connection's frames were read \
         as a malformed response (http_malformed error, upgrade refused with status 0) and the \
         first connection's client messages sent before the gap was declared were dropped \
         without a word. A third connection loses its request instead, and the server sends \
         70 KB after the 101 before the client's hole is given up: it vanished (\"neither HTTP \
         nor WebSocket\").",
    );
    let talk = |k: &mut Case, c: usize| {
        for i in 0..4u8 {
            let text = format!("client message {i}: {}", "c".repeat(usize::from(i) * 40));
            k.send_message(c, CLIENT, TEXT, text.as_bytes());
        }
        for i in 0..4u8 {
            let text = format!("server message {i}: {}", "s".repeat(usize::from(i) * 30));
            k.send_message(c, SERVER, TEXT, text.as_bytes());
        }
        k.close_frames(c, CLIENT, 1000, "done");
        k.close_tcp(c);
    };
    for (i, synack_lost) in [false, true].into_iter().enumerate() {
        let c = k.conn(C, S, [42000 + i as u16, 8080]);
        let syn = k.pkts.len();
        k.syn(c);
        k.upgrade(c, "/lost-response");
        // The 101 is the second-to-last packet (the client's ACK of it follows).
        let response = k.pkts.len() - 2;
        talk(&mut k, c);
        k.pkts.remove(response);
        if synack_lost {
            k.pkts.remove(syn + 1);
        }
        k.conns[c].handshake =
            Some(TruthHandshake { seen: true, outcome: "upgraded", accept_valid: None });
        k.conns[c].findings = vec!["capture_gap".into(), "handshake_not_seen".into()];
    }
    // The request is lost instead, and the server's first message (more than an HTTP head's
    // 64 KiB) comes before the hole in the client's stream is given up.
    let c = k.conn(C, S, [42002, 8080]);
    k.syn(c);
    let request = k.pkts.len();
    k.upgrade(c, "/lost-request");
    k.pkts.remove(request);
    let big: Vec<u8> = (0..70_000u32).map(|i| b"0123456789abcdef"[(i % 16) as usize]).collect();
    k.send_message(c, SERVER, TEXT, &big);
    talk(&mut k, c);
    k.conns[c].handshake =
        Some(TruthHandshake { seen: true, outcome: "upgraded", accept_valid: None });
    k.conns[c].findings = vec!["capture_gap".into(), "handshake_request_not_seen".into()];
    retime(&mut k);
    k
}

/// Credentials where clients and servers usually pass them (issue 13: `--redact`).
fn case_secrets() -> Case {
    let mut k = Case::new(
        "secrets",
        "A WebSocket session carrying credentials where clients and servers usually pass them: \
         an Authorization header, a session cookie, an access token in the URL query, a token \
         offered as a subprotocol after `access_token` and a JWT offered as another (the server \
         selects the JWT, echoing it), a Set-Cookie in the 101, a password in a JSON message and \
         a STOMP passcode in a text message. `secrets` lists them: no output of `--redact` may \
         contain any of them.",
    );
    let b64url = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwt = format!(
        "{}.{}.{}",
        b64url(br#"{"alg":"HS256","typ":"JWT"}"#.to_vec()),
        b64url(br#"{"sub":"alice","exp":1700003600}"#.to_vec()),
        b64url(det_bytes(20, 32))
    );
    let bearer = hex(&det_bytes(21, 20));
    let session = b64url(det_bytes(22, 18));
    let query_token = b64url(det_bytes(23, 24));
    let protocol_token = b64url(det_bytes(24, 24));
    let set_cookie = b64url(det_bytes(25, 18));
    let password = format!("pw-{}", hex(&det_bytes(26, 8)));
    let passcode = format!("pc-{}", hex(&det_bytes(27, 8)));
    let c = k.conn(C, S, [40010, 8080]);
    k.syn(c);
    let req = format!(
        "Authorization: Bearer {bearer}\r\nCookie: theme=dark; session={session}\r\n\
         Sec-WebSocket-Protocol: graphql-transport-ws, access_token, {protocol_token}\r\n\
         Sec-WebSocket-Protocol: {jwt}\r\n"
    );
    let resp = format!(
        "Sec-WebSocket-Protocol: {jwt}\r\nSet-Cookie: session={set_cookie}; Path=/; HttpOnly\r\n"
    );
    k.upgrade_with(c, &format!("/graphql?room=lobby&access_token={query_token}"), &req, &resp);
    let init = format!(
        r#"{{"type":"connection_init","payload":{{"user":"alice","password":"{password}"}}}}"#
    );
    k.send_message(c, CLIENT, TEXT, init.as_bytes());
    k.send_message(c, SERVER, TEXT, br#"{"type":"connection_ack"}"#);
    let stomp = format!("CONNECT\nlogin:alice\npasscode:{passcode}\n\n\0");
    k.send_message(c, CLIENT, TEXT, stomp.as_bytes());
    k.send_message(c, CLIENT, BINARY, &det_bytes(28, 64));
    k.close_frames(c, CLIENT, 1000, "bye");
    k.close_tcp(c);
    k.secrets =
        vec![bearer, session, query_token, protocol_token, jwt, set_cookie, password, passcode];
    k
}

fn main() -> Result<()> {
    let out = std::env::args().nth(1).unwrap_or_else(|| "testdata/captures/cases".into());
    let out = Path::new(&out);
    fs::create_dir_all(out)?;
    let cases = [
        case_span_merge(),
        case_ack_overtakes(),
        case_lost_frame(),
        case_lost_payload(),
        case_late_start(),
        case_midstream_pingpong(),
        case_not_ws_bitcoin(),
        case_not_ws_443(),
        case_ws_port_single(),
        case_invalid_upgrade(),
        case_idle_end(),
        case_vanishing_upgrades(),
        case_lost_response(),
        case_secrets(),
    ];
    for k in &cases {
        k.save(out).with_context(|| format!("case {}", k.name))?;
        println!("wrote {}", k.name);
    }
    Ok(())
}
