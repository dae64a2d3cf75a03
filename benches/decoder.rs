//! WebSocket decoder benchmark: frames/s and MB/s of the per-direction decoder on small and
//! large frames, masked and unmasked, and on compressed messages — each quoted against baselines
//! measured in the same run (a plain copy of the same bytes; the scalar unmasking loop).
//!
//! Run: `cargo bench --bench decoder`. Without `--bench` (as `cargo test --all-targets` runs it)
//! it only checks, on small inputs, that every workload decodes to the expected messages.

use flate2::{Compress, Compression, FlushCompress};
use std::hint::black_box;
use std::time::{Duration, Instant};
use wsscope::event::Payload;
use wsscope::tcp::PacketRef;
use wsscope::ws::direction::{DirConfig, DirectionDecoder, WsOut};
use wsscope::ws::encode::frame;
use wsscope::ws::mask::{unmask, unmask_scalar};

/// Segment size the stream is fed in (a typical TCP payload).
const SEGMENT: usize = 1448;

struct Workload {
    name: &'static str,
    stream: Vec<u8>,
    frames: u64,
    cfg: DirConfig,
}

fn cfg(from_client: bool, deflate: bool) -> DirConfig {
    DirConfig {
        from_client,
        deflate: deflate.then_some(false),
        rsv_allowed: if deflate { 0b100 } else { 0 },
        from_start: true,
        max_message: 1 << 20,
        keep_payloads: true,
        max_inflate: 64 << 20,
        max_resync: 256 << 10,
        memory: wsscope::memory::Memory::default(),
    }
}

fn workloads(scale: usize) -> Vec<Workload> {
    let key = Some([0x37, 0xfa, 0x21, 0x3d]);
    let small: Vec<u8> = br#"{"op":"tick","px":101.25,"q":3}"#.to_vec();
    let big: Vec<u8> = (0..65536u32).map(|i| (i * 31 % 251) as u8).collect();
    let mut w = Vec::new();
    let n_small = 200_000 * scale / 10;
    let n_big = 400 * scale / 10;
    let mut s = Vec::new();
    for _ in 0..n_small {
        s.extend(frame(true, 0, 1, key, &small));
    }
    w.push(Workload {
        name: "small text, masked (32 B)",
        stream: s,
        frames: n_small as u64,
        cfg: cfg(true, false),
    });
    let mut s = Vec::new();
    for _ in 0..n_small {
        s.extend(frame(true, 0, 1, None, &small));
    }
    w.push(Workload {
        name: "small text, unmasked (32 B)",
        stream: s,
        frames: n_small as u64,
        cfg: cfg(false, false),
    });
    let mut s = Vec::new();
    for _ in 0..n_big {
        s.extend(frame(true, 0, 2, key, &big));
    }
    w.push(Workload {
        name: "large binary, masked (64 KiB)",
        stream: s,
        frames: n_big as u64,
        cfg: cfg(true, false),
    });
    let mut s = Vec::new();
    for _ in 0..n_big {
        s.extend(frame(true, 0, 2, None, &big));
    }
    w.push(Workload {
        name: "large binary, unmasked (64 KiB)",
        stream: s,
        frames: n_big as u64,
        cfg: cfg(false, false),
    });
    // permessage-deflate with context takeover: JSON messages of ~200 bytes, similar to each other.
    let mut c = Compress::new(Compression::default(), false);
    let mut s = Vec::new();
    let n_json = 50_000 * scale / 10;
    for i in 0..n_json {
        let msg = format!(
            r#"{{"type":"trade","seq":{i},"symbol":"BTC-USD","price":{}.{:02},"size":{},"side":"{}","venue":"X"}}"#,
            60000 + i % 500,
            i % 100,
            1 + i % 7,
            if i % 2 == 0 { "buy" } else { "sell" }
        );
        let mut out = vec![0u8; msg.len() + 64];
        let before = c.total_out();
        c.compress(msg.as_bytes(), &mut out, FlushCompress::Sync).unwrap();
        let n = (c.total_out() - before) as usize;
        out.truncate(n.saturating_sub(4)); // RFC 7692 §7.2.1: drop 00 00 ff ff
        s.extend(frame(true, 0b100, 1, None, &out));
    }
    w.push(Workload {
        name: "deflate JSON (~110 B), context takeover",
        stream: s,
        frames: n_json as u64,
        cfg: cfg(false, true),
    });
    w
}

/// Decodes `w` once; returns (messages, application bytes).
fn decode(w: &Workload) -> (u64, u64) {
    let mut d = DirectionDecoder::new(w.cfg.clone(), 0);
    let (mut messages, mut bytes) = (0u64, 0u64);
    let mut off = 0u64;
    let at = PacketRef::default();
    for chunk in w.stream.chunks(SEGMENT) {
        d.feed(off, chunk, at, &mut |_, o| {
            if let WsOut::Message(m) = o {
                messages += 1;
                bytes += m.captured_length;
                black_box(&m.payload);
                assert!(!matches!(m.payload, Payload::Unavailable));
            }
        });
        off += chunk.len() as u64;
    }
    (messages, bytes)
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed());
        last = Some(r);
    }
    (best, last.unwrap())
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

fn main() {
    let timing = std::env::args().any(|a| a == "--bench");
    let w = workloads(if timing { 10 } else { 1 });
    for x in &w {
        let (messages, _) = decode(x);
        assert_eq!(messages, x.frames, "{}: wrong message count", x.name);
    }
    if !timing {
        println!("decoder: correctness check only; timings: cargo bench --bench decoder");
        return;
    }
    // Baselines on 16 MiB.
    let mut buf = vec![0x5au8; 16 << 20];
    let key = [1, 2, 3, 4];
    let mut dst = vec![0u8; buf.len()];
    let (copy_t, _) = best_of(5, || {
        black_box(&mut dst).copy_from_slice(black_box(&buf));
        black_box(dst[dst.len() / 2])
    });
    let (scalar_t, _) = best_of(5, || unmask_scalar(black_box(&mut buf), key, 0));
    let (fast_t, _) = best_of(5, || unmask(black_box(&mut buf), key, 0));
    let copy_mbps = mbps(buf.len(), copy_t);
    println!("baselines (16 MiB, best of 5):");
    println!("  copy (copy_from_slice)  {:>8.0} MB/s", copy_mbps);
    println!("  unmask, byte at a time  {:>8.0} MB/s", mbps(buf.len(), scalar_t));
    println!(
        "  unmask, word at a time  {:>8.0} MB/s  ({:.1}x the byte loop)",
        mbps(buf.len(), fast_t),
        scalar_t.as_secs_f64() / fast_t.as_secs_f64()
    );
    println!();
    println!("decoder, fed in {SEGMENT}-byte pieces, best of 5:");
    println!(
        "{:<42} {:>12} {:>12} {:>10} {:>14}",
        "workload", "frames/s", "wire MB/s", "vs copy", "app MB/s"
    );
    for x in &w {
        let (t, (messages, app)) = best_of(5, || decode(x));
        let wire = mbps(x.stream.len(), t);
        println!(
            "{:<42} {:>12.0} {:>12.0} {:>9.2}x {:>14.0}",
            x.name,
            messages as f64 / t.as_secs_f64(),
            wire,
            wire / copy_mbps,
            mbps(app as usize, t)
        );
    }
    println!(
        "\n(wire MB/s counts frame bytes fed; app MB/s the decoded payload; 'vs copy' is wire MB/s"
    );
    println!(" over a plain copy of memory measured in this run.)");
}
