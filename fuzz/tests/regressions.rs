//! Hand-written replays of what the fuzz targets found, with ordinary TCP segments, so a fix can be
//! checked without the fuzzer (`cargo test --manifest-path fuzz/Cargo.toml --test regressions`).
//! They fail until the engine is fixed; then they belong in src/tcp/tests.rs.

use std::net::SocketAddr;
use std::ops::Range;
use wsscope::limits::TcpLimits;
use wsscope::packet::{Segment, TcpFlags};
use wsscope::tcp::{Anomaly, Direction, PacketRef, StreamEvent, Table};
use wsscope::time::Timestamp;

#[derive(Debug, Default)]
struct Out {
    /// Data and Gap ranges of the client-to-server direction, in order.
    c2s: Vec<(&'static str, Range<u64>)>,
    after_fin: Vec<Range<u64>>,
    fin: Option<u64>,
}

fn seg<'a>(src: SocketAddr, dst: SocketAddr, seq: u32, ack: u32, f: &str, p: &'a [u8]) -> Segment<'a> {
    Segment {
        src,
        dst,
        seq,
        ack,
        flags: TcpFlags {
            syn: f.contains('S'),
            ack: f.contains('A'),
            fin: f.contains('F'),
            rst: f.contains('R'),
            psh: false,
        },
        window: 65535,
        payload: p,
        missing: 0,
    }
}

/// stream_table crash (empty DataAfterFin) minimised: a FIN whose sequence number lies before
/// out-of-order bytes already buffered. `fin_at` is set below the buffered data, which is later
/// delivered past the FIN; the Fin event never comes, and a retransmission then yields a
/// zero-length DataAfterFin.
#[test]
fn fin_before_buffered_data() {
    let c: SocketAddr = "10.0.0.1:40000".parse().unwrap();
    let s: SocketAddr = "10.0.0.2:80".parse().unwrap();
    let a = [b'A'; 100];
    let b = [b'B'; 100];
    let segs = [
        seg(c, s, 999, 0, "S", &[]),         // client ISN 999: offset 0 = seq 1000
        seg(s, c, 4999, 1000, "SA", &[]),    // server ISN 4999
        seg(c, s, 1000, 5000, "A", &[]),     // handshake done
        seg(c, s, 1100, 5000, "A", &b),      // [100,200) ahead of a hole: buffered
        seg(c, s, 1050, 5000, "FA", &[]),    // FIN at offset 50, before the buffered bytes
        seg(c, s, 1000, 5000, "A", &a),      // [0,100): [50,100) is after the FIN
        seg(s, c, 5000, 1200, "A", &[]),     // server acknowledges up to offset 200
        seg(c, s, 1100, 5000, "A", &b),      // retransmission of [100,200)
    ];
    let mut out = Out::default();
    let mut table = Table::new(TcpLimits::default());
    let mut sink = |e: StreamEvent<'_>| {
        eprintln!("{e:?}");
        match e {
            StreamEvent::Data { dir: Direction::ClientToServer, offset, data, .. } => {
                out.c2s.push(("data", offset..offset + data.len() as u64))
            }
            StreamEvent::Gap { dir: Direction::ClientToServer, offset, len, .. } => {
                out.c2s.push(("gap", offset..offset + len))
            }
            StreamEvent::Fin { dir: Direction::ClientToServer, offset, .. } => out.fin = Some(offset),
            StreamEvent::Anomaly {
                dir: Direction::ClientToServer,
                anomaly: Anomaly::DataAfterFin { offset, len },
                ..
            } => out.after_fin.push(offset..offset + len),
            _ => {}
        }
    };
    for (i, sg) in segs.iter().enumerate() {
        let at = PacketRef::new(Timestamp::from_secs_nanos(1_700_000_000, i as i64), i as u64 + 1);
        table.on_segment(sg, at, &mut sink);
    }
    table.finish(&mut sink);
    eprintln!("{out:?}");
    assert!(
        out.after_fin.iter().all(|r| !r.is_empty()),
        "zero-length DataAfterFin reported: {:?}",
        out.after_fin
    );
    // "Bytes beyond the FIN's sequence number; dropped": never also delivered or reported as a gap.
    for r in &out.after_fin {
        for (kind, d) in &out.c2s {
            assert!(
                d.end <= r.start || r.end <= d.start,
                "{kind} {d:?} overlaps bytes reported as DataAfterFin {r:?}"
            );
        }
    }
    // Once a Fin is reported at F, the direction has length F: nothing is delivered past it.
    if let Some(f) = out.fin {
        assert!(out.c2s.iter().all(|(_, d)| d.end <= f), "bytes past the Fin at {f}: {:?}", out.c2s);
    }
}
