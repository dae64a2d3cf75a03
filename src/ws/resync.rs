//! Finding a frame boundary in the middle of a stream (capture started after the handshake, or
//! bytes were lost across a frame boundary).
//!
//! A candidate offset is accepted when consecutive frame headers parse there, each plausible
//! (valid opcode, allowed RSV bits, masking as expected for the direction, minimal length
//! encoding, control frames short and unfragmented, fragments in a legal order) and each frame's
//! length leads exactly to the next header — for `MIN_FRAMES` frames, or until the chain ends
//! exactly at the end of the data seen so far.

use super::header::{FrameHeader, Parsed};
use super::opcode::OpCode;

/// Frames a chain needs to be accepted unless it ends exactly at the end of the data.
pub const MIN_FRAMES: usize = 4;
/// Frames a chain ending exactly at the end of a finished stream needs (one alone is too easily
/// a coincidence in binary data).
pub const MIN_FRAMES_AT_END: usize = 2;
/// Frames longer than this are not believed while resynchronising.
const MAX_PLAUSIBLE_LEN: u64 = 16 << 20;

/// What headers in this direction must look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expect {
    /// Whether frames are masked (client to server); `None` when the direction is unknown (then
    /// every frame of a chain must agree with the first).
    pub masked: Option<bool>,
    /// RSV bits a negotiated extension may set (bit 2 = RSV1); `0b100` when unknown.
    pub rsv_allowed: u8,
}

/// Result of a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// Frames start at this offset of the buffer; `masked` tells which way they were.
    At {
        /// Offset in the buffer.
        offset: usize,
        /// Whether the chain's frames are masked.
        masked: bool,
    },
    /// No boundary is certain yet; more data may confirm one. Offsets before `resume_from`
    /// were ruled out for good and need not be searched again.
    NotYet {
        /// First offset that may still turn out to be a boundary.
        resume_from: usize,
    },
}

/// A candidate offset's verdict.
enum Verdict {
    Accept(bool),
    Reject,
    Undecided,
}

/// Searches `buf` for the first offset where a chain of plausible headers starts. `complete`
/// says no more bytes will follow (the stream ended): only then may a chain that ends exactly at
/// the end of `buf` be accepted — while bytes may still come, such a chain is undecided, so the
/// verdict never depends on where the data seen so far happened to end.
pub fn find_boundary(buf: &[u8], expect: Expect, complete: bool) -> Found {
    find_boundary_from(buf, 0, expect, complete)
}

/// Like [`find_boundary`], skipping offsets before `from` (ruled out by an earlier search of a
/// prefix of `buf`).
pub fn find_boundary_from(buf: &[u8], from: usize, expect: Expect, complete: bool) -> Found {
    // The earliest offset that is not ruled out decides: a later candidate is accepted only when
    // every earlier one is rejected for good (more data never un-rejects a chain), so the boundary
    // found does not depend on how the bytes were split into segments.
    for start in from..buf.len() {
        match chain_from(buf, start, expect, complete) {
            Verdict::Accept(masked) => return Found::At { offset: start, masked },
            Verdict::Undecided => return Found::NotYet { resume_from: start },
            Verdict::Reject => {}
        }
    }
    Found::NotYet { resume_from: buf.len() }
}

/// Whether a convincing chain starts at `start` (and whether its frames are masked).
fn chain_from(buf: &[u8], start: usize, expect: Expect, complete: bool) -> Verdict {
    let mut pos = start;
    let mut frames = 0;
    let mut masked = expect.masked;
    let mut in_message = None::<bool>;
    loop {
        let Some(rest) = buf.get(pos..) else { return Verdict::Reject };
        if rest.is_empty() {
            // The chain ends exactly where the data ends: convincing with enough frames, else
            // more data may extend it.
            return if complete && frames >= MIN_FRAMES_AT_END {
                Verdict::Accept(masked.unwrap_or(false))
            } else {
                Verdict::Undecided
            };
        }
        let Parsed::Done(h, hl) = FrameHeader::parse(rest) else {
            // A header cut by the end of the data.
            return Verdict::Undecided;
        };
        let is_masked = h.mask.is_some();
        if masked.is_some_and(|m| m != is_masked)
            || !plausible(&h, expect.rsv_allowed, &mut in_message)
        {
            return Verdict::Reject;
        }
        let Some(next) =
            usize::try_from(h.payload_len).ok().and_then(|l| (pos + hl).checked_add(l))
        else {
            return Verdict::Reject;
        };
        match buf.get(pos + hl..next) {
            Some(payload) if !payload_plausible(&h, payload) => return Verdict::Reject,
            Some(_) => {}
            // A frame whose payload must be checked counts only once the payload is here:
            // otherwise more data could reject what fewer bytes accepted.
            None if needs_payload_check(&h) => return Verdict::Undecided,
            None => {}
        }
        masked = Some(is_masked);
        frames += 1;
        if frames >= MIN_FRAMES {
            return Verdict::Accept(is_masked);
        }
        if next > buf.len() {
            // The payload runs past the data seen so far.
            return Verdict::Undecided;
        }
        pos = next;
    }
}

/// Whether [`payload_plausible`] looks at this frame's payload.
fn needs_payload_check(h: &FrameHeader) -> bool {
    h.opcode == OpCode::Close || (h.opcode == OpCode::Text && h.fin && h.rsv == 0)
}

/// An unfragmented, uncompressed text frame carries valid UTF-8 (checked on its first 4 KiB);
/// a close frame carries nothing or a code that may be sent.
fn payload_plausible(h: &FrameHeader, payload: &[u8]) -> bool {
    if h.opcode == OpCode::Close {
        let mut code = payload.get(..2).map(<[u8]>::to_vec).unwrap_or_default();
        if let Some(key) = h.mask {
            super::mask::unmask(&mut code, key, 0);
        }
        return match code.as_slice() {
            [] => payload.is_empty(),
            [a, b] => {
                super::opcode::CloseCode(u16::from_be_bytes([*a, *b])).class()
                    == super::opcode::CloseCodeClass::Valid
            }
            _ => false,
        };
    }
    if h.opcode != OpCode::Text || !h.fin || h.rsv != 0 {
        return true;
    }
    let mut prefix = payload.get(..payload.len().min(4096)).unwrap_or(&[]).to_vec();
    if let Some(key) = h.mask {
        super::mask::unmask(&mut prefix, key, 0);
    }
    match std::str::from_utf8(&prefix) {
        Ok(_) => true,
        // A prefix may end inside a character; that is not an error.
        Err(e) => e.error_len().is_none() && prefix.len() < payload.len(),
    }
}

fn plausible(h: &FrameHeader, rsv_allowed: u8, in_message: &mut Option<bool>) -> bool {
    if h.rsv & !rsv_allowed != 0 || !h.length_is_minimal() || h.payload_len > MAX_PLAUSIBLE_LEN {
        return false;
    }
    match h.opcode {
        OpCode::Close | OpCode::Ping | OpCode::Pong => h.fin && h.payload_len <= 125 && h.rsv == 0,
        OpCode::Text | OpCode::Binary => {
            if *in_message == Some(true) {
                return false;
            }
            *in_message = Some(!h.fin);
            true
        }
        OpCode::Continuation => {
            // Legal after an unfinished first fragment; as the first frame of a chain, allowed
            // (the capture may start inside a message) but never with RSV1.
            if *in_message == Some(false) || h.rsv != 0 {
                return false;
            }
            *in_message = Some(!h.fin);
            true
        }
        OpCode::Reserved(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: Expect = Expect { masked: Some(false), rsv_allowed: 0 };
    const CLIENT: Expect = Expect { masked: Some(true), rsv_allowed: 0 };

    fn text(payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut f = vec![0x81, payload.len() as u8 | if mask.is_some() { 0x80 } else { 0 }];
        if let Some(k) = mask {
            f.extend(k);
        }
        f.extend(payload);
        f
    }

    #[test]
    fn finds_the_first_frame_after_the_tail_of_a_previous_one() {
        let mut buf = b"tail of an earlier message".to_vec();
        let start = buf.len();
        for _ in 0..MIN_FRAMES {
            buf.extend(text(b"{\"tick\":1}", None));
        }
        assert_eq!(find_boundary(&buf, SERVER, false), Found::At { offset: start, masked: false });
    }

    #[test]
    fn two_frames_ending_exactly_at_the_end_of_a_finished_stream_are_accepted() {
        let mut buf = vec![0xde, 0xad];
        buf.extend(text(b"hello", Some([1, 2, 3, 4])));
        assert!(
            matches!(find_boundary(&buf, CLIENT, true), Found::NotYet { .. }),
            "one frame alone is not enough"
        );
        buf.extend(text(b"world", Some([5, 6, 7, 8])));
        assert!(
            matches!(find_boundary(&buf, CLIENT, false), Found::NotYet { .. }),
            "more bytes may still come"
        );
        assert_eq!(find_boundary(&buf, CLIENT, true), Found::At { offset: 2, masked: true });
    }

    #[test]
    fn text_frames_must_hold_utf8() {
        let buf: Vec<u8> = (0..MIN_FRAMES).flat_map(|_| text(&[0xff, 0xfe, 0xfd], None)).collect();
        assert!(matches!(find_boundary(&buf, SERVER, false), Found::NotYet { .. }));
    }

    #[test]
    fn masking_must_match_the_direction() {
        let buf: Vec<u8> = (0..MIN_FRAMES).flat_map(|_| text(b"hi", None)).collect();
        assert!(matches!(find_boundary(&buf, CLIENT, false), Found::NotYet { .. }));
        let any = Expect { masked: None, rsv_allowed: 0 };
        assert_eq!(find_boundary(&buf, any, false), Found::At { offset: 0, masked: false });
    }

    #[test]
    fn a_frame_running_past_the_data_is_not_yet_confirmed() {
        let mut buf = text(b"hi", None);
        buf.extend([0x82, 0x7E, 0x10, 0x00, 1, 2, 3]); // 4096-byte frame, 3 bytes seen
        assert!(matches!(find_boundary(&buf, SERVER, false), Found::NotYet { .. }));
    }

    #[test]
    fn random_bytes_are_not_taken_for_frames() {
        // 200 different pseudo-random buffers of 4000 bytes, both directions' expectations.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut false_positives = 0;
        for _ in 0..200 {
            let buf: Vec<u8> = (0..4000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            for e in [CLIENT, SERVER] {
                if !matches!(find_boundary(&buf, e, false), Found::NotYet { .. }) {
                    false_positives += 1;
                }
            }
        }
        assert_eq!(false_positives, 0, "false boundaries in 400 random buffers");
    }
}
