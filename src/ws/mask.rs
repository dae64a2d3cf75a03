//! Unmasking (RFC 6455 §5.3): payload byte i is XORed with key[i mod 4].
//!
//! [`unmask`] works a machine word at a time and carries the mask phase across chunks, so a
//! frame's payload can be unmasked piece by piece as it arrives; [`unmask_into`] does the same
//! while copying. [`unmask_scalar`] is the obvious byte loop both are tested against.

/// XORs `buf` with `key`, starting at mask position `phase` (0..=3 — the number of payload bytes
/// of this frame already unmasked, mod 4). Returns the phase after `buf`.
pub fn unmask(buf: &mut [u8], key: [u8; 4], phase: usize) -> usize {
    let phase = phase & 3;
    let (rotated, word) = rotated(key, phase);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(b) ^ word).to_ne_bytes());
    }
    // A whole number of words keeps the phase; the tail continues from it.
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= rotated[i & 3];
    }
    (phase + buf.len()) & 3
}

/// Writes `src` XORed with `key` into `out` (of the same length), starting at mask position
/// `phase`: [`unmask`] of a copy, in one pass over the bytes. Returns the phase after `src`.
pub fn unmask_into(out: &mut [u8], src: &[u8], key: [u8; 4], phase: usize) -> usize {
    let phase = phase & 3;
    let (rotated, word) = rotated(key, phase);
    let n = out.len().min(src.len());
    let (out, src) = (&mut out[..n], &src[..n]);
    let mut outs = out.chunks_exact_mut(8);
    let mut srcs = src.chunks_exact(8);
    for (o, s) in (&mut outs).zip(&mut srcs) {
        let mut b = [0u8; 8];
        b.copy_from_slice(s);
        o.copy_from_slice(&(u64::from_ne_bytes(b) ^ word).to_ne_bytes());
    }
    // A whole number of words keeps the phase; the tail continues from it.
    for (i, (o, s)) in outs.into_remainder().iter_mut().zip(srcs.remainder()).enumerate() {
        *o = s ^ rotated[i & 3];
    }
    (phase + n) & 3
}

/// The key as it applies from mask position `phase` (0..=3) on: four bytes, and twice over in a
/// machine word.
fn rotated(key: [u8; 4], phase: usize) -> ([u8; 4], u64) {
    let r = [key[phase], key[(phase + 1) & 3], key[(phase + 2) & 3], key[(phase + 3) & 3]];
    (r, u64::from_ne_bytes([r[0], r[1], r[2], r[3], r[0], r[1], r[2], r[3]]))
}

/// The reference implementation: one byte at a time.
pub fn unmask_scalar(buf: &mut [u8], key: [u8; 4], phase: usize) -> usize {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[(phase + i) & 3];
    }
    (phase + buf.len()) & 3
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// In place and into another buffer, from every phase (and phases past 3, taken mod 4).
    #[test]
    fn word_at_a_time_unmasking_equals_scalar_for_every_length_and_phase() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..=64usize {
            for phase in 0..=7usize {
                let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut expected = data.clone();
                let after = unmask_scalar(&mut expected, key, phase);
                let mut in_place = data.clone();
                assert_eq!(unmask(&mut in_place, key, phase), after);
                assert_eq!(in_place, expected, "in place: len {len} phase {phase}");
                let mut out = vec![0u8; len];
                assert_eq!(unmask_into(&mut out, &data, key, phase), after);
                assert_eq!(out, expected, "into: len {len} phase {phase}");
            }
        }
    }

    #[test]
    fn rfc_6455_section_5_7_masked_hello() {
        // 0x81 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58 → "Hello"
        let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        unmask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&payload, b"Hello");
    }

    proptest! {
        #[test]
        fn unmasking_in_pieces_equals_unmasking_whole(data in proptest::collection::vec(any::<u8>(), 0..300), key in any::<[u8; 4]>(), cut in any::<prop::sample::Index>()) {
            let mut whole = data.clone();
            unmask_scalar(&mut whole, key, 0);
            let mut pieces = data.clone();
            let at = cut.index(pieces.len() + 1);
            let (a, b) = pieces.split_at_mut(at);
            let phase = unmask(a, key, 0);
            unmask(b, key, phase);
            prop_assert_eq!(pieces, whole);
        }
    }
}
