//! A frame encoder (RFC 6455 §5.2), minimal length encoding unless asked otherwise, for tests,
//! benchmarks and crafted captures: the analyzer itself never encodes. Masking uses the
//! byte-at-a-time reference (`unmask_scalar`), not the word-wise path the decoder uses.

use super::mask::unmask_scalar;

/// Encodes one frame.
pub fn frame(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u64;
    let enc = if len < 126 {
        0
    } else if len <= 0xFFFF {
        1
    } else {
        2
    };
    frame_with_encoding(fin, rsv, opcode, mask, payload, enc)
}

/// Encodes one frame with the length written in encoding 0 (7-bit), 1 (16-bit) or 2 (64-bit).
pub fn frame_with_encoding(
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload: &[u8],
    enc: u8,
) -> Vec<u8> {
    let mut f = vec![(u8::from(fin) << 7) | (rsv << 4) | (opcode & 0xF)];
    let m = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len() as u64;
    match enc {
        0 => f.push(m | len as u8),
        1 => {
            f.push(m | 126);
            f.extend((len as u16).to_be_bytes());
        }
        _ => {
            f.push(m | 127);
            f.extend(len.to_be_bytes());
        }
    }
    let mut p = payload.to_vec();
    if let Some(k) = mask {
        f.extend(k);
        unmask_scalar(&mut p, k, 0);
    }
    f.extend(p);
    f
}

/// Pseudo-random bytes (xorshift64) for tests and benchmarks: binary payloads without the
/// patterns a frame search could be expected to find, the same on every run.
pub struct Noise(pub u64);

impl Noise {
    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0 as u8
            })
            .collect()
    }
}
