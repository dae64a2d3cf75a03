//! Streaming frame decoder for one direction: bytes in, frame headers and payload pieces out.
//!
//! State carried between calls is small and explicit: up to 14 bytes of a header split across
//! pieces, and the payload bytes still expected for the current frame. Payload bytes are passed
//! through as slices of the input (still masked), never copied here. A gap inside a payload keeps
//! the decoder in sync (the frame's length says where the next header is); a gap that crosses a
//! frame boundary, or a header that cannot be followed (64-bit length with the MSB set), loses
//! sync and the caller must find the next frame boundary (see [`super::resync`]).

use super::header::{FrameHeader, MAX_HEADER_LEN, Parsed};

/// What the decoder found.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameItem<'a> {
    /// A frame header starting at stream offset `offset`.
    Header {
        /// The header.
        header: FrameHeader,
        /// Stream offset of its first byte.
        offset: u64,
    },
    /// Payload bytes of the current frame (masked as on the wire).
    Payload(&'a [u8]),
    /// `n` payload bytes of the current frame are missing from the capture.
    PayloadGap(u64),
    /// The current frame's payload is complete.
    End,
}

/// Decoder state for one direction.
///
/// Invariant: `carry_len > 0` only while a header is incomplete, and then `remaining == 0`.
#[derive(Debug)]
pub struct FrameDecoder {
    carry: [u8; MAX_HEADER_LEN],
    carry_len: usize,
    /// Stream offset where the carried header starts.
    carry_offset: u64,
    /// Payload bytes of the current frame not yet seen; `None` between frames.
    remaining: Option<u64>,
    /// Stream offset of the next byte to be fed.
    offset: u64,
    /// While the frame boundary is a search's guess: the frames that must still look right
    /// before it is taken (`frames`), and after that what every header must look like.
    probation: Option<Probation>,
}

/// The first frames after a boundary found by searching (after missing bytes, or when a
/// capture starts mid-stream): a chain of a few well-formed headers can occur by chance inside
/// payload bytes, and then the headers after it are garbage. A header these frames may not
/// have refutes the boundary (sync is lost, and searched for again) instead of being reported
/// as the endpoint's protocol violation.
#[derive(Clone, Copy, Debug)]
struct Probation {
    frames: u8,
    /// RSV bits that may be set.
    rsv_allowed: u8,
    /// Whether the frames are masked (as the chain found said).
    masked: bool,
    /// Whether a fragmented message is in progress, as far as the frames so far tell.
    in_message: Option<bool>,
    /// A close frame was among them: nothing may follow it.
    closed: bool,
}

/// Frames on probation after a boundary found by searching: twice the frames a search needs.
pub const PROBATION_FRAMES: u8 = 2 * super::resync::MIN_FRAMES as u8;

impl Probation {
    /// Whether the next frame may look like `h`: what a search accepts in a chain (masking,
    /// RSV bits, opcode, a minimal and plausible length, control frames short and whole,
    /// fragments in order).
    fn admits(&mut self, h: &FrameHeader) -> bool {
        if std::mem::replace(&mut self.closed, h.opcode == super::opcode::OpCode::Close) {
            return false;
        }
        h.mask.is_some() == self.masked
            && super::resync::plausible(h, self.rsv_allowed, &mut self.in_message)
    }
}

/// The decoder cannot find the next frame header by itself any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncLost {
    /// Stream offset where sync was lost (the first byte not understood).
    pub offset: u64,
    /// The frame boundary was a search's guess, and a header after it refuted it (see
    /// [`FrameDecoder::on_probation`]).
    pub refuted: bool,
}

impl FrameDecoder {
    /// A decoder whose first byte is at stream offset `offset` and is the start of a frame.
    pub fn new(offset: u64) -> Self {
        FrameDecoder {
            carry: [0; MAX_HEADER_LEN],
            carry_len: 0,
            carry_offset: offset,
            remaining: None,
            offset,
            probation: None,
        }
    }

    /// A decoder whose boundary was found by searching: its first [`PROBATION_FRAMES`] frames
    /// must be ones a search accepts (masked as `masked` says, RSV bits within `rsv_allowed`, no
    /// reserved opcode, a minimal and plausible length, short unfragmented control frames,
    /// fragments in order), or the boundary is taken as wrong.
    pub fn on_probation(mut self, rsv_allowed: u8, masked: bool) -> Self {
        self.probation = Some(Probation {
            frames: PROBATION_FRAMES,
            rsv_allowed,
            masked,
            in_message: None,
            closed: false,
        });
        self
    }

    /// Counts `seen` frames of the probation as passed already: a search followed them before
    /// the boundary (a chain of frames longer than the bytes it keeps resumes at its last
    /// frames), so the boundary has as much to show as any other. One frame is always left.
    pub fn passed(mut self, seen: usize) -> Self {
        if let Some(p) = &mut self.probation {
            let seen = u8::try_from(seen).unwrap_or(u8::MAX);
            p.frames = p.frames.saturating_sub(seen).max(1);
        }
        self
    }

    /// Whether the boundary is a search's guess still on probation (its first frames).
    pub fn is_on_probation(&self) -> bool {
        self.probation.is_some_and(|p| p.frames > 0)
    }

    /// Frames of the probation passed so far (`None` without one).
    pub fn probation_passed(&self) -> Option<usize> {
        self.probation.map(|p| usize::from(PROBATION_FRAMES - p.frames))
    }

    /// Stream offset of the next byte expected.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The start of a header split across pieces, carried from earlier pieces (it starts at
    /// the stream offset where a refuted header starts, when it was split).
    pub fn carried(&self) -> &[u8] {
        &self.carry[..self.carry_len]
    }

    /// True between frames (nothing carried, no payload pending).
    pub fn at_frame_boundary(&self) -> bool {
        self.remaining.is_none() && self.carry_len == 0
    }

    /// Decodes `data` (the bytes at the decoder's offset), calling `on` for every item.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        on: &mut impl FnMut(FrameItem<'_>),
    ) -> Result<(), SyncLost> {
        while !data.is_empty() {
            if let Some(rem) = self.remaining {
                let n = usize::try_from(rem).unwrap_or(usize::MAX).min(data.len());
                let (payload, rest) = data.split_at(n);
                on(FrameItem::Payload(payload));
                self.offset += n as u64;
                data = rest;
                self.finish_payload(rem - n as u64, on);
                continue;
            }
            // Parse a header, joining a carried prefix when there is one.
            let (parsed, from_carry) = if self.carry_len > 0 {
                let take = (MAX_HEADER_LEN - self.carry_len).min(data.len());
                let mut joined = [0u8; MAX_HEADER_LEN];
                joined[..self.carry_len].copy_from_slice(&self.carry[..self.carry_len]);
                joined[self.carry_len..self.carry_len + take].copy_from_slice(&data[..take]);
                (FrameHeader::parse(&joined[..self.carry_len + take]), true)
            } else {
                (FrameHeader::parse(data), false)
            };
            match parsed {
                Parsed::NeedMore(_) => {
                    // Keep the partial header (at most 13 bytes) for the next piece.
                    if !from_carry {
                        self.carry_offset = self.offset;
                    }
                    self.carry[self.carry_len..self.carry_len + data.len()].copy_from_slice(data);
                    self.carry_len += data.len();
                    self.offset += data.len() as u64;
                    return Ok(());
                }
                Parsed::Done(header, len) => {
                    let (start, used_from_data) = if from_carry {
                        (self.carry_offset, len - self.carry_len)
                    } else {
                        (self.offset, len)
                    };
                    if let Some(p) = &mut self.probation {
                        if !p.admits(&header) {
                            // Not a frame: the bytes from this "header" on (its carried start
                            // included, see `carried`) are searched again.
                            return Err(SyncLost { offset: start, refuted: true });
                        }
                        // Past its first frames the guess is taken, but it stays a guess: a header
                        // a search would not take still refutes it (a chain of well-formed
                        // "frames" in a binary payload, records of a type and a length, can run
                        // on far past probation before its garbage comes).
                        p.frames = p.frames.saturating_sub(1);
                    }
                    self.carry_len = 0;
                    self.offset += used_from_data as u64;
                    data = &data[used_from_data..];
                    if header.length_msb_set() {
                        on(FrameItem::Header { header, offset: start });
                        return Err(SyncLost { offset: self.offset, refuted: false });
                    }
                    on(FrameItem::Header { header, offset: start });
                    self.finish_payload(header.payload_len, on);
                }
            }
        }
        Ok(())
    }

    /// `len` bytes at the decoder's offset are missing. Inside a payload the decoder stays in
    /// sync; otherwise sync is lost.
    pub fn gap(&mut self, len: u64, on: &mut impl FnMut(FrameItem<'_>)) -> Result<(), SyncLost> {
        match self.remaining {
            Some(rem) if len <= rem && self.carry_len == 0 => {
                on(FrameItem::PayloadGap(len));
                self.offset += len;
                self.finish_payload(rem - len, on);
                Ok(())
            }
            _ => {
                let lost_at = self.offset;
                self.offset += len;
                Err(SyncLost { offset: lost_at, refuted: false })
            }
        }
    }

    fn finish_payload(&mut self, remaining: u64, on: &mut impl FnMut(FrameItem<'_>)) {
        if remaining == 0 {
            self.remaining = None;
            on(FrameItem::End);
        } else {
            self.remaining = Some(remaining);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::OpCode;

    /// Owned copy of the items, with payload pieces joined.
    fn decode_in_pieces(stream: &[u8], cuts: &[usize]) -> Vec<String> {
        let mut d = FrameDecoder::new(0);
        let mut out: Vec<String> = Vec::new();
        let mut payload = Vec::new();
        let mut on = |item: FrameItem<'_>| match item {
            FrameItem::Header { header, offset } => {
                out.push(format!("H{offset}:{}:{}", header.opcode, header.payload_len))
            }
            FrameItem::Payload(p) => payload.extend_from_slice(p),
            FrameItem::PayloadGap(n) => out.push(format!("gap{n}")),
            FrameItem::End => {
                out.push(format!("E:{}", String::from_utf8_lossy(&std::mem::take(&mut payload))))
            }
        };
        let mut last = 0;
        for &c in cuts.iter().chain(std::iter::once(&stream.len())) {
            d.feed(&stream[last..c], &mut on).unwrap();
            last = c;
        }
        out
    }

    fn stream() -> Vec<u8> {
        let mut s = vec![0x81, 0x05];
        s.extend(b"Hello");
        s.extend([0x89, 0x00]); // empty ping
        s.extend([0x82, 0x7E, 0x00, 0x80]);
        s.extend([b'x'; 128]);
        s
    }

    #[test]
    fn frames_decode_the_same_whole_or_split_at_every_byte() {
        let s = stream();
        let whole = decode_in_pieces(&s, &[]);
        assert_eq!(whole[0], "H0:text:5");
        assert_eq!(whole[1], "E:Hello");
        assert_eq!(whole[2], "H7:ping:0");
        assert_eq!(whole[4], "H9:binary:128");
        for cut in 0..=s.len() {
            assert_eq!(decode_in_pieces(&s, &[cut]), whole, "cut at {cut}");
        }
        let every: Vec<usize> = (1..s.len()).collect();
        assert_eq!(decode_in_pieces(&s, &every), whole);
    }

    #[test]
    fn a_gap_inside_a_payload_keeps_sync() {
        let mut d = FrameDecoder::new(0);
        let mut items = Vec::new();
        let mut on = |i: FrameItem<'_>| items.push(format!("{i:?}"));
        d.feed(&[0x82, 0x0A, 1, 2], &mut on).unwrap();
        d.gap(5, &mut on).unwrap();
        d.feed(&[8, 9, 10, 0x81, 0x00], &mut on).unwrap();
        assert!(items.iter().any(|i| i == "PayloadGap(5)"));
        assert!(items.last().unwrap().contains("End"));
        assert!(d.at_frame_boundary());
    }

    #[test]
    fn a_gap_across_a_frame_boundary_loses_sync() {
        let mut d = FrameDecoder::new(0);
        let mut on = |_: FrameItem<'_>| {};
        d.feed(&[0x82, 0x02, 1], &mut on).unwrap();
        assert_eq!(d.gap(5, &mut on), Err(SyncLost { offset: 3, refuted: false }));
    }

    #[test]
    fn a_64_bit_length_with_the_msb_set_loses_sync_after_reporting_the_header() {
        let mut d = FrameDecoder::new(0);
        let mut headers = Vec::new();
        let r = d.feed(&[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1, 0xAA], &mut |i: FrameItem<'_>| {
            if let FrameItem::Header { header, .. } = i {
                headers.push(header.opcode)
            }
        });
        assert_eq!(headers, vec![OpCode::Binary]);
        assert_eq!(r, Err(SyncLost { offset: 10, refuted: false }));
    }

    /// Headers fed one stream, the decoder on probation; what `feed` returned.
    fn on_probation(stream: &[u8]) -> (Vec<String>, Result<(), SyncLost>) {
        let mut d = FrameDecoder::new(0).on_probation(0, false);
        let mut headers = Vec::new();
        let r = d.feed(stream, &mut |i: FrameItem<'_>| {
            if let FrameItem::Header { header, offset } = i {
                headers.push(format!("{offset}:{}", header.opcode));
            }
        });
        (headers, r)
    }

    #[test]
    fn a_header_a_search_would_not_take_refutes_a_boundary_on_probation() {
        use crate::ws::encode::frame;
        let good = [frame(true, 0, 1, None, b"hi"), frame(true, 0, 9, None, b"")].concat();
        // A reserved opcode, RSV bits, a masked frame, a fragmented ping, a long pong: each
        // refutes the boundary at its offset, and is not handed on as a header.
        let bad = [
            frame(true, 0, 3, None, b""),
            frame(true, 0b010, 1, None, b"x"),
            frame(true, 0, 2, Some([1, 2, 3, 4]), b"x"),
            frame(false, 0, 9, None, b""),
            [0x8A, 126, 0, 200].to_vec(),
        ];
        for b in &bad {
            let (headers, r) = on_probation(&[good.clone(), b.clone()].concat());
            assert_eq!(headers, ["0:text", "4:ping"], "{b:02x?}");
            assert_eq!(r, Err(SyncLost { offset: good.len() as u64, refuted: true }), "{b:02x?}");
        }
        // Nothing follows a close frame on probation: a frame after one refutes the boundary.
        let closed = [good.clone(), frame(true, 0, 8, None, &[3, 232])].concat();
        let (headers, r) = on_probation(&[closed.clone(), frame(true, 0, 2, None, b"x")].concat());
        assert_eq!(headers, ["0:text", "4:ping", "6:close"]);
        assert_eq!(r, Err(SyncLost { offset: closed.len() as u64, refuted: true }));
        // After eight frames that looked right, the boundary is taken (its output no longer
        // held), but it stays a guess: the same header still refutes it rather than being
        // reported as the endpoint's (records of a type and a length in a binary payload chain
        // on for hundreds of "frames").
        let eight: Vec<u8> = (0..4).flat_map(|_| good.clone()).collect();
        let mut d = FrameDecoder::new(0).on_probation(0, false);
        assert_eq!(d.feed(&eight, &mut |_| {}), Ok(()));
        assert!(!d.is_on_probation());
        let r = d.feed(&bad[0], &mut |_| {});
        assert_eq!(r, Err(SyncLost { offset: eight.len() as u64, refuted: true }));
        // Without probation (a boundary known from the handshake), nothing is refuted.
        let mut d = FrameDecoder::new(0);
        assert_eq!(d.feed(&[good.clone(), bad[0].clone()].concat(), &mut |_| {}), Ok(()));
    }
}
