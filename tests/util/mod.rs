//! Helpers shared by the integration tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wsscope::capture::FileSource;
use wsscope::limits::TcpLimits;
use wsscope::pipeline::{self, RunSummary};
use wsscope::tcp::{Anomaly, Direction, GapReason, RoleSource, StreamEvent};

/// Everything the stream engine reported about one connection.
#[derive(Debug, Default)]
pub struct ConnOut {
    pub client: String,
    pub server: String,
    pub role: Option<RoleSource>,
    /// Delivered bytes per direction (index = `Direction::index`).
    pub bytes: [Vec<u8>; 2],
    /// Gaps per direction: (offset, len, reason).
    pub gaps: [Vec<(u64, u64, GapReason)>; 2],
    pub fin: [bool; 2],
    pub rst: [bool; 2],
    pub anomalies: Vec<(Direction, Anomaly)>,
}

/// The result of running a capture through the stream engine.
pub struct Run {
    pub conns: BTreeMap<u64, ConnOut>,
    pub summary: RunSummary,
}

pub fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(rel)
}

/// Runs `path` through the capture layer and the stream engine with default limits, checking the
/// engine's ordering guarantees (contiguous offsets per direction, nothing after Close) on the way.
pub fn run_capture(path: &Path) -> Run {
    let mut source =
        FileSource::open(path, None).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut conns: BTreeMap<u64, ConnOut> = BTreeMap::new();
    let mut next: BTreeMap<(u64, usize), u64> = BTreeMap::new();
    let mut closed: Vec<u64> = Vec::new();
    let mut pending: BTreeMap<(u64, usize), bool> = BTreeMap::new();
    let stop = pipeline::Stop::default();
    let summary =
        pipeline::drive(&mut source, &TcpLimits::default(), &stop, &mut |e: StreamEvent<'_>| {
            let id = match &e {
                StreamEvent::Open(i) => i.id.0,
                StreamEvent::Pending { conn, .. } => conn.0,
                StreamEvent::Data { conn, .. }
                | StreamEvent::Gap { conn, .. }
                | StreamEvent::Fin { conn, .. }
                | StreamEvent::Rst { conn, .. }
                | StreamEvent::Anomaly { conn, .. }
                | StreamEvent::Close { conn, .. } => conn.0,
            };
            assert!(!closed.contains(&id), "event after close for connection {id}: {e:?}");
            let c = conns.entry(id).or_default();
            match e {
                StreamEvent::Open(i) => {
                    c.client = i.client.to_string();
                    c.server = i.server.to_string();
                    c.role = Some(i.role);
                }
                StreamEvent::Data { dir, offset, data, .. } => {
                    let n = next.entry((id, dir.index())).or_default();
                    assert_eq!(offset, *n, "connection {id} {dir}: data offset not contiguous");
                    *n += data.len() as u64;
                    c.bytes[dir.index()].extend_from_slice(data);
                }
                StreamEvent::Gap { dir, offset, len, reason, .. } => {
                    let n = next.entry((id, dir.index())).or_default();
                    assert_eq!(offset, *n, "connection {id} {dir}: gap offset not contiguous");
                    *n += len;
                    c.gaps[dir.index()].push((offset, len, reason));
                }
                StreamEvent::Fin { dir, offset, .. } => {
                    assert_eq!(
                        offset,
                        next.get(&(id, dir.index())).copied().unwrap_or(0),
                        "FIN before all bytes"
                    );
                    c.fin[dir.index()] = true;
                }
                StreamEvent::Rst { dir, .. } => c.rst[dir.index()] = true,
                StreamEvent::Anomaly { dir, anomaly, .. } => c.anomalies.push((dir, anomaly)),
                StreamEvent::Pending { dir, since, .. } => {
                    let was = pending.insert((id, dir.index()), since.is_some()).unwrap_or(false);
                    assert_ne!(was, since.is_some(), "connection {id} {dir}: Pending repeated");
                }
                StreamEvent::Close { .. } => {
                    for d in 0..2 {
                        assert!(
                            !pending.get(&(id, d)).copied().unwrap_or(false),
                            "connection {id}: closed with bytes still pending"
                        );
                    }
                    closed.push(id)
                }
            }
        });
    Run { conns, summary }
}

/// Files in `dir` whose name ends with `suffix`, sorted (none when `dir` does not exist; the
/// callers assert how many they need).
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    if !dir.exists() {
        return Vec::new();
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(suffix)))
        .collect();
    v.sort();
    v
}

/// Writes a pcap with one TCP connection (handshake, the given payloads in order, FIN/FIN)
/// between 10.0.0.1:50000 (client) and 10.0.0.2:8080, one segment per payload.
pub fn write_session_pcap(path: &Path, exchanges: &[(Direction, Vec<u8>)]) {
    write_pcap_with(path, exchanges, true, 1000);
}

/// Like [`write_session_pcap`]; without the TCP handshake when `syn` is false (a capture that
/// started mid-session), and `spacing_us` apart (each payload with its peer's ACK).
pub fn write_pcap_with(
    path: &Path,
    exchanges: &[(Direction, Vec<u8>)],
    syn: bool,
    spacing_us: u64,
) {
    use etherparse::PacketBuilder;
    use pcap::{Capture, Linktype, Packet, PacketHeader};
    let cap = Capture::dead(Linktype::ETHERNET).unwrap();
    let mut out = cap.savefile(path).unwrap();
    let mut seq = [1000u32, 5000u32];
    let mut t = 1_700_000_000_000_000u64;
    let mut write = |from_client: bool,
                     seq: u32,
                     ack: u32,
                     syn: bool,
                     fin: bool,
                     has_ack: bool,
                     payload: &[u8]| {
        let (src, dst, sp, dp) = if from_client {
            ([10, 0, 0, 1], [10, 0, 0, 2], 50000, 8080)
        } else {
            ([10, 0, 0, 2], [10, 0, 0, 1], 8080, 50000)
        };
        let mut b =
            PacketBuilder::ethernet2([1; 6], [2; 6]).ipv4(src, dst, 64).tcp(sp, dp, seq, 65535);
        if syn {
            b = b.syn();
        }
        if fin {
            b = b.fin();
        }
        if has_ack {
            b = b.ack(ack);
        }
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        // Mid-session: each ACK right after its data, the data `spacing_us` apart.
        t += if !syn && payload.is_empty() { 100 } else { spacing_us };
        let hdr = PacketHeader {
            ts: libc::timeval {
                tv_sec: (t / 1_000_000) as libc::time_t,
                tv_usec: (t % 1_000_000) as libc::suseconds_t,
            },
            caplen: v.len() as u32,
            len: v.len() as u32,
        };
        out.write(&Packet::new(&hdr, &v));
    };
    if syn {
        write(true, seq[0], 0, true, false, false, b"");
        write(false, seq[1], seq[0] + 1, true, false, true, b"");
        seq[0] += 1;
        seq[1] += 1;
        write(true, seq[0], seq[1], false, false, true, b"");
    } else {
        seq = [seq[0] + 9_000, seq[1] + 7_000];
    }
    for (d, payload) in exchanges {
        let i = d.index();
        let from_client = *d == Direction::ClientToServer;
        write(from_client, seq[i], seq[1 - i], false, false, true, payload);
        seq[i] = seq[i].wrapping_add(payload.len() as u32);
        if !syn {
            write(!from_client, seq[1 - i], seq[i], false, false, true, b"");
        }
    }
    write(true, seq[0], seq[1], false, true, true, b"");
    write(false, seq[1], seq[0] + 1, false, true, true, b"");
    write(true, seq[0] + 1, seq[1] + 1, false, false, true, b"");
    out.flush().unwrap();
}

/// An upgrade request and the matching 101 for the RFC 6455 §1.3 key.
pub fn ws_handshake() -> [(Direction, Vec<u8>); 2] {
    [
        (
            Direction::ClientToServer,
            b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://example.com\r\n\r\n"
                .to_vec(),
        ),
        (
            Direction::ServerToClient,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
                .to_vec(),
        ),
    ]
}
