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
    let stop = pipeline::Stop::default();
    let summary =
        pipeline::drive(&mut source, &TcpLimits::default(), &stop, &mut |e: StreamEvent<'_>| {
            let id = match &e {
                StreamEvent::Open(i) => i.id.0,
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
                StreamEvent::Close { .. } => closed.push(id),
            }
        });
    Run { conns, summary }
}

/// Files in `dir` whose name ends with `suffix`, sorted.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(suffix)))
        .collect();
    v.sort();
    v
}
