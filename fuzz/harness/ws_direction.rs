//! `ws_direction`: the per-direction WebSocket decoder (frames, fragments, unmasking, UTF-8,
//! permessage-deflate, resync) on arbitrary bytes.
//!
//! Input: byte 0 selects the configuration (client or server side, deflate, decoding from the
//! start or resynchronising mid-stream, how much a frame search keeps); byte 1 seeds where the
//! stream is cut into pieces; the rest is the stream. Checks: no panic, and the split-anywhere
//! property — the outputs of decoding the stream whole and in pieces (with a gap at one cut point
//! when bit 3 of byte 0 is set, applied identically to both runs) are identical when the search
//! keeps the whole stream (bit 6 clear).

use wsscope::tcp::PacketRef;
use wsscope::ws::direction::{DirConfig, DirectionDecoder};

fn decode(cfg: &DirConfig, stream: &[u8], cuts: &[usize], gap_at: Option<usize>) -> Vec<String> {
    let mut d = DirectionDecoder::new(cfg.clone(), 0);
    let mut out = Vec::new();
    let at = PacketRef::default();
    let mut last = 0;
    for &c in cuts.iter().chain(std::iter::once(&stream.len())) {
        let c = c.clamp(last, stream.len());
        if gap_at == Some(last) && last < c {
            // The first byte of this piece is missing from the capture.
            d.gap(last as u64, 1, at, &mut |_, o| out.push(format!("{o:?}")));
            d.feed(last as u64 + 1, &stream[last + 1..c], at, &mut |_, o| {
                out.push(format!("{o:?}"))
            });
        } else {
            d.feed(last as u64, &stream[last..c], at, &mut |_, o| out.push(format!("{o:?}")));
        }
        last = c;
    }
    d.finish(stream.len() as u64, at, &mut |_, o| out.push(format!("{o:?}")));
    out
}

/// One execution.
pub fn run(data: &[u8]) {
    let [sel, seed, stream @ ..] = data else { return };
    let deflate = sel & 2 != 0;
    let cfg = DirConfig {
        from_client: sel & 1 != 0,
        deflate: deflate.then_some(sel & 16 != 0),
        rsv_allowed: if deflate { 0b100 } else { 0 },
        from_start: sel & 4 != 0,
        max_message: 4096,
        keep_payloads: sel & 32 == 0,
        max_inflate: 1 << 16,
        // Bit 6: the search keeps 16 KiB, less than the stream may be. What it finds then
        // depends on where the bytes were cut (a chain of frames longer than what is kept is
        // followed by its headers, and decoding resumes at its first frame kept), so only the
        // absence of panics is checked; otherwise it keeps the whole stream.
        max_resync: if sel & 64 != 0 { 16 << 10 } else { 128 << 10 },
        memory: wsscope::memory::Memory::default(),
    };
    let stream = &stream[..stream.len().min(64 << 10)];
    // Cut points derived from the seed (an xorshift), sorted.
    let mut x = u64::from(*seed) | 0x9E37_79B9_0000_0000;
    let mut cuts: Vec<usize> = (0..(*seed % 8))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x as usize) % (stream.len() + 1)
        })
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let gap_at = (sel & 8 != 0).then(|| cuts.first().copied()).flatten();
    // The same gap in both runs: the whole run gets the same cut at the gap.
    let whole_cuts: Vec<usize> = gap_at.into_iter().collect();
    let (whole, pieces) =
        (decode(&cfg, stream, &whole_cuts, gap_at), decode(&cfg, stream, &cuts, gap_at));
    if sel & 64 == 0 {
        assert_eq!(whole, pieces);
    }
}
