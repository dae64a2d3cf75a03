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
/// Frames a chain ending exactly where bytes go missing needs. Losses are far more frequent
/// than stream ends, and the bytes before one are often the tail of a frame whose start was
/// lost: two header-like bytes there whose length leads exactly to a real frame that ends at
/// the loss made a message nobody sent out of a chain of two (helper-41: "EVIL!", pings,
/// pongs). Three cost helper-37's 10 % copies 200 of the 2,200 messages two found again.
pub const MIN_FRAMES_AT_CUT: usize = 3;
/// Frames a run of control frames of different lengths may have before it must show data, when
/// it starts where bytes resumed after missing bytes ([`Expect::run_from`]).
pub const MAX_CONTROL_RUN: usize = 8;
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
    /// How much a chain must show.
    pub evidence: Evidence,
    /// Where bytes resumed after missing bytes (a stream offset), when the search started
    /// there: a chain that starts exactly there may run through up to [`MAX_CONTROL_RUN`]
    /// control frames of different lengths before it shows data (a burst of pongs after a lost
    /// frame). Elsewhere four control frames are no boundary: the first could be a chance
    /// header inside a lost frame's tail whose length leads to such a burst (helper-45: shown
    /// as a pong).
    pub run_from: Option<u64>,
}

/// How convincing a chain of frames must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// Finding the next frame in a stream already known to be WebSocket (after missing bytes).
    Resync,
    /// Deciding whether a connection seen without its handshake is WebSocket at all: besides
    /// plausible headers, the chain must carry payload (at least two frames with payload bytes
    /// among four, or one among a shorter chain ending the stream), hold a text or binary frame
    /// (control frames alone are not enough), and its text fragments must be UTF-8 — eight zero bytes are four empty
    /// continuation frames, and binary protocols are full of them. `min_frames_at_end`: frames a
    /// chain ending exactly at the end of a finished stream needs (1 when the port was named
    /// with `--ws-port`, else [`MIN_FRAMES_AT_END`]).
    Detect {
        /// Frames needed by a chain that ends the stream.
        min_frames_at_end: usize,
        /// `Some(masked)`: the connection went on after wsscope stopped following it
        /// (`--idle-timeout`, `--memory-budget`), and this direction's frames are masked when
        /// `masked` (its role then): a chain from the first byte seen again, masked so, that
        /// ends the stream may hold control frames only — a connection kept alive by pings
        /// between messages comes back with a ping and a pong.
        resumed: Option<bool>,
    },
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A convincing chain starts there; whether its frames are masked.
    Accept(bool),
    /// No chain starts there, whatever bytes follow.
    Reject,
    /// More bytes will tell.
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

/// The chains starting at the offsets `starts` of `buf` (stream offset `base`) that the bytes
/// seen so far neither reject nor accept: a frame of theirs runs past the end of `buf`. They are
/// appended to `out` in offset order, at most `max` in all, to be followed on with
/// [`Chain::advance`] once those bytes are gone. Returns the first offset (of `buf`) whose chain
/// is accepted already, if any: the search stops there. `cut`: bytes go missing right after
/// `buf` (see [`Chain::advance_to_cut`]).
pub fn undecided_chains(
    buf: &[u8],
    base: u64,
    starts: std::ops::Range<usize>,
    expect: Expect,
    cut: bool,
    out: &mut Vec<Chain>,
    max: usize,
) -> Option<(usize, bool)> {
    for start in starts.start..starts.end.min(buf.len()) {
        if first_header_rejected(&buf[start..], expect) || repeats_the_bytes_before(buf, start) {
            continue;
        }
        let mut chain = Chain::new(base + start as u64, expect);
        let verdict = if cut {
            chain.advance_to_cut(buf, base, expect)
        } else {
            chain.advance(buf, base, expect, false)
        };
        match verdict {
            Verdict::Accept(masked) => return Some((start, masked)),
            Verdict::Undecided if out.len() < max => out.push(chain),
            Verdict::Undecided | Verdict::Reject => {}
        }
    }
    None
}

/// Where frames start inside the first frame of a chain found at offset `start` of `buf`: a
/// chain of at least two frames that starts within that frame's span and ends exactly where it
/// ends. The search takes the earliest chain, and a chance header in a payload whose length
/// happens to lead to a real frame (two bytes such as `8a 4c` in random or compressed data)
/// starts a chain that the real frames after it confirm: the real frames it swallowed were
/// lost, and a ping or a binary message nobody sent was shown (helper-40: most of the messages
/// invented after missing bytes). Two frames of a payload's own that end exactly at its end
/// are much rarer than one header that does. Only first frames with a one-byte length (at most
/// 125) are looked into: a chance header has one 98 % of the time, and looking into a long
/// real frame would cost its length at every search. `None` when there is no such chain (or
/// the first frame is not all in `buf`).
pub fn swallowed_by_first(buf: &[u8], start: usize, expect: Expect) -> Option<usize> {
    let Parsed::Done(h, hl) = FrameHeader::parse(buf.get(start..)?) else { return None };
    if h.payload_len > 125 {
        return None;
    }
    let end = start.checked_add(hl)?.checked_add(usize::try_from(h.payload_len).ok()?)?;
    let span = buf.get(..end)?;
    (start + 1..end).find(|&p| !repeats_the_bytes_before(span, p) && lands_at_end(span, p, expect))
}

/// Whether the frame at `start` of `buf` is an empty first fragment of a data message (`01 00`,
/// `02 00`, masked or not), and then its length: a boundary a search found there makes the
/// continuations after it one complete message, when two common bytes of a payload can be that
/// header and the message's real first fragments were lost (helper-41: a "complete" text made
/// of the last three fragments of one). Decoding starts after it: the continuations are then a
/// message whose start was lost, as they are.
pub fn empty_opening_fragment(buf: &[u8], start: usize) -> Option<usize> {
    let Parsed::Done(h, hl) = FrameHeader::parse(buf.get(start..)?) else { return None };
    let opening = matches!(h.opcode, OpCode::Text | OpCode::Binary) && !h.fin;
    (opening && h.payload_len == 0 && h.rsv == 0).then_some(hl)
}

/// Whether a chain of at least two frames, one with payload, starts at `p` and ends exactly at
/// the end of `span`.
fn lands_at_end(span: &[u8], p: usize, expect: Expect) -> bool {
    let mut chain = Chain::new(p as u64, expect);
    loop {
        let Some(rest) = usize::try_from(chain.pos).ok().and_then(|at| span.get(at..)) else {
            return false;
        };
        if rest.is_empty() {
            return chain.frames >= 2 && chain.shown.with_payload >= 1;
        }
        match chain.step(rest, expect, true) {
            None | Some(Verdict::Accept(_)) => {}
            Some(_) => return false,
        }
    }
}

/// What a chain has shown so far (for [`Evidence::Detect`]).
#[derive(Clone, Copy, Debug, Default)]
struct Shown {
    with_payload: usize,
    /// A text or binary frame (a message's start) was in the chain. Binary data with a
    /// repeating layout reads as long chains of control frames: records of 16 bytes that
    /// happen to start `8a 0e` are "pongs" of 14 bytes, one after the other, for as long as the
    /// records go on. A peer sends data; control frames alone prove nothing, except a closing
    /// handshake that ends the stream.
    data: bool,
    /// The last frame was a close frame (with a code that may be sent, or none).
    closed: bool,
    /// A data frame (text, binary or continuation) was in the chain.
    data_frame: bool,
    /// An empty continuation frame was passed over without being counted.
    filler_seen: bool,
    /// A text message is in progress (its fragments must be UTF-8).
    in_text: bool,
    /// The payload length of the chain's first control frame, and whether a later one's
    /// differed: records of one layout that read as control frames all have the same length.
    control_len: Option<(u64, bool)>,
}

impl Shown {
    /// Whether `frames` frames that showed this are convincing; `at_end`: the chain ends
    /// exactly at the end of a finished stream.
    fn convincing(
        &self,
        evidence: Evidence,
        frames: usize,
        at_end: bool,
        masked: Option<bool>,
    ) -> bool {
        let data = self.data || (at_end && self.closed);
        match evidence {
            Evidence::Detect { resumed: Some(m), .. }
                if at_end && masked == Some(m) && !self.data_frame =>
            {
                true
            }
            // Runs of zero bytes are chains of empty continuation frames: a chain must carry
            // something.
            Evidence::Resync => self.with_payload >= 1 && data,
            Evidence::Detect { .. } => {
                data && self.with_payload >= if frames >= MIN_FRAMES { 2 } else { 1 }
            }
        }
    }
}

/// A masked header that merely continues the pattern of the eight bytes before it is masked
/// repetitive data (its last well-formed piece before the real frames), not a frame: a client
/// masks every frame with a fresh key, so a real header never repeats the bytes before it.
fn repeats_the_bytes_before(buf: &[u8], start: usize) -> bool {
    matches!(
        (start.checked_sub(8).and_then(|b| buf.get(b..start)), buf.get(start..start + 8)),
        (Some(before), Some(here)) if here[1] & 0x80 != 0 && before == here
    )
}

/// Whether the first header of a chain at `rest[0]` is one [`Chain::step`] rejects by the
/// header alone (masking, RSV bits, opcode, a control frame's FIN and length, the length's
/// encoding), with the same [`plausible`]: most offsets of a search, decided without setting up
/// a chain. `false` when the header is not all there (the chain says what that means).
#[inline]
fn first_header_rejected(rest: &[u8], expect: Expect) -> bool {
    let Parsed::Done(h, _) = FrameHeader::parse(rest) else { return false };
    expect.masked.is_some_and(|m| m != h.mask.is_some())
        || !plausible(&h, expect.rsv_allowed, &mut None)
}

/// Whether a convincing chain starts at `start` (and whether its frames are masked).
fn chain_from(buf: &[u8], start: usize, expect: Expect, complete: bool) -> Verdict {
    if first_header_rejected(&buf[start..], expect) || repeats_the_bytes_before(buf, start) {
        return Verdict::Reject;
    }
    Chain::new(start as u64, expect).advance(buf, 0, expect, complete)
}

/// A chain of frame headers followed from a candidate boundary: what it has shown so far and
/// where its next header must start. A search keeps only so many bytes (`--max-resync`); a
/// chain of frames longer than that is followed across them without keeping their payloads,
/// so a stream of large frames is found again after missing bytes.
#[derive(Clone, Debug)]
pub struct Chain {
    /// Stream offset of the candidate boundary.
    start: u64,
    /// Stream offset where the next header must start.
    pos: u64,
    frames: usize,
    masked: Option<bool>,
    in_message: Option<bool>,
    shown: Shown,
    /// Mask keys of the chain's frames. A client draws a new random key for every frame (RFC
    /// 6455 §5.3); masked repetitive data (a run of zeros masked with one key repeats that key)
    /// reads as a chain of well-formed frames that all carry the same key, or a few rotating
    /// ones. (The zero key, which some embedded clients send every time, masks zeros into zeros:
    /// no chain.)
    keys: [Option<[u8; 4]>; MAX_CONTROL_RUN],
    /// Stream offsets of the counted frames' headers.
    heads: [u64; MAX_CONTROL_RUN],
    /// Set once the chain is convincing: whether its frames are masked.
    accepted: Option<bool>,
}

impl Chain {
    /// A chain whose first header would start at stream offset `start`.
    pub fn new(start: u64, expect: Expect) -> Self {
        Chain {
            start,
            pos: start,
            frames: 0,
            masked: expect.masked,
            in_message: None,
            shown: Shown::default(),
            keys: [None; MAX_CONTROL_RUN],
            heads: [start; MAX_CONTROL_RUN],
            accepted: None,
        }
    }

    /// Where the next header must start (every byte before it the chain needs no more).
    pub fn next_header(&self) -> u64 {
        self.pos
    }

    /// Headers the chain has gone past (the last one's payload may run on past the bytes seen).
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Whether the chain is convincing, and then whether its frames are masked.
    pub fn accepted(&self) -> Option<bool> {
        self.accepted
    }

    /// Where decoding resumes once the chain is accepted, in the bytes a search keeps (stream
    /// offsets `from..=end`): its first frame there, or where its next header must be; `None`
    /// when neither is there.
    pub fn first_frame_from(&self, from: u64, end: u64) -> Option<u64> {
        if self.start >= from {
            return Some(self.start);
        }
        self.heads[..self.frames.min(MAX_CONTROL_RUN)]
            .iter()
            .copied()
            .chain(std::iter::once(self.pos))
            .find(|h| *h >= from)
            .filter(|h| *h <= end)
    }

    /// How many of the chain's counted frames start before stream offset `at`.
    pub fn frames_before(&self, at: u64) -> usize {
        self.heads[..self.frames.min(MAX_CONTROL_RUN)].iter().filter(|h| **h < at).count()
    }

    /// Follows the chain through `buf`, whose first byte is at stream offset `base`, as far as
    /// it goes. Every byte from the chain's next header on must be in `buf` (bytes before it
    /// need not be). `complete`: no bytes follow `buf`.
    pub fn advance(&mut self, buf: &[u8], base: u64, expect: Expect, complete: bool) -> Verdict {
        if let Some(masked) = self.accepted {
            return Verdict::Accept(masked);
        }
        loop {
            let Some(rel) = self.pos.checked_sub(base).and_then(|r| usize::try_from(r).ok()) else {
                return Verdict::Reject;
            };
            if rel > buf.len() {
                // The last frame's payload runs past the data seen so far (and past the
                // stream's end: no chain).
                return if complete { Verdict::Reject } else { Verdict::Undecided };
            }
            let rest = &buf[rel..];
            if rest.is_empty() {
                // The chain ends exactly where the data ends: convincing with enough frames,
                // else more data may extend it.
                return if complete { self.judge_at_end(expect) } else { Verdict::Undecided };
            }
            match self.step(rest, expect, complete) {
                Some(Verdict::Accept(masked)) => return self.accept(masked),
                Some(v) => return v,
                None => {}
            }
        }
    }

    /// [`Chain::advance`] through data that missing bytes are about to cut short: a chain of
    /// [`MIN_FRAMES_AT_CUT`] frames or more that ends exactly where the data does is judged as
    /// one that ends a finished stream (the header after it is lost, so nothing can refute it);
    /// one whose last frame runs on past the data stays undecided (the bytes after the loss may
    /// still tell).
    pub fn advance_to_cut(&mut self, buf: &[u8], base: u64, expect: Expect) -> Verdict {
        match self.advance(buf, base, expect, false) {
            Verdict::Undecided if self.frames < MIN_FRAMES_AT_CUT => Verdict::Undecided,
            Verdict::Undecided if self.pos == base + buf.len() as u64 => {
                match self.judge_at_end(expect) {
                    Verdict::Reject => Verdict::Undecided,
                    v => v,
                }
            }
            v => v,
        }
    }

    /// The verdict on a chain that ends exactly where the data ends, when no more will come:
    /// undecided with too few frames for that, else accepted when what it showed convinces.
    fn judge_at_end(&mut self, expect: Expect) -> Verdict {
        let at_end = match expect.evidence {
            Evidence::Resync => MIN_FRAMES_AT_END,
            Evidence::Detect { min_frames_at_end, .. } => min_frames_at_end.max(1),
        };
        if self.frames < at_end {
            return Verdict::Undecided;
        }
        // (A resumed stream's first byte: see `Evidence::Detect::resumed`.)
        let masked = self.masked.filter(|_| self.start == 0);
        if self.shown.convincing(expect.evidence, self.frames, true, masked) {
            self.accept(self.masked.unwrap_or(false))
        } else {
            Verdict::Reject
        }
    }

    fn accept(&mut self, masked: bool) -> Verdict {
        self.accepted = Some(masked);
        Verdict::Accept(masked)
    }

    /// One header at `rest[0]`: `None` when the chain goes on (past it), else the verdict.
    /// The chain changes only when it goes on.
    fn step(&mut self, rest: &[u8], expect: Expect, complete: bool) -> Option<Verdict> {
        let Parsed::Done(h, hl) = FrameHeader::parse(rest) else {
            // A header cut by the end of the data: more may complete it, unless none will come.
            return Some(if complete { Verdict::Reject } else { Verdict::Undecided });
        };
        let is_masked = h.mask.is_some();
        let frames = self.frames;
        // An endpoint sends nothing after its close frame; a chain that goes on past one is
        // not believed (it would be reported as data after close).
        if self.shown.closed {
            return Some(Verdict::Reject);
        }
        let mut in_message = self.in_message;
        if self.masked.is_some_and(|m| m != is_masked)
            || !plausible(&h, expect.rsv_allowed, &mut in_message)
            || h.mask.is_some_and(|k| {
                k != [0; 4] && self.keys[..frames.min(MAX_CONTROL_RUN)].contains(&Some(k))
            })
        {
            return Some(Verdict::Reject);
        }
        let Some(len) = usize::try_from(h.payload_len).ok() else {
            return Some(Verdict::Reject);
        };
        let Some(next) = self.pos.checked_add((hl + len) as u64) else {
            return Some(Verdict::Reject);
        };
        // Every fragment of a text message is checked, not only whole ones: after missing
        // bytes too, a chance chain in binary data that holds a "text message" would be
        // reported as the endpoint's invalid UTF-8.
        let text_fragment = h.rsv == 0
            && (h.opcode == OpCode::Text
                || (h.opcode == OpCode::Continuation && self.shown.in_text));
        if complete && hl + len > rest.len() {
            return Some(Verdict::Reject);
        }
        // A frame whose payload must be checked counts only once what is checked is here (a
        // close frame's code, a text frame's first 4 KiB): otherwise more data could reject
        // what fewer bytes accepted.
        let checked = match h.opcode {
            OpCode::Close => len,
            _ if text_fragment => len.min(UTF8_CHECKED),
            _ => 0,
        };
        let Some(seen) = rest.get(hl..hl + checked) else {
            return Some(Verdict::Undecided);
        };
        if (h.opcode == OpCode::Close && !close_plausible(&h, seen))
            || (text_fragment && !fragment_utf8(&h, seen, len))
        {
            return Some(Verdict::Reject);
        }
        // The frame is part of the chain.
        self.in_message = in_message;
        if let Some(slot) = self.keys.get_mut(frames) {
            *slot = h.mask;
        }
        if h.payload_len > 0 {
            self.shown.with_payload += 1;
        }
        if matches!(h.opcode, OpCode::Text | OpCode::Binary) {
            self.shown.data = true;
        }
        self.shown.closed = h.opcode == OpCode::Close;
        self.shown.data_frame |= !h.opcode.is_control();
        if h.opcode.is_control() {
            let first = self.shown.control_len.map_or(h.payload_len, |(l, _)| l);
            let varied = self.shown.control_len.is_some_and(|(l, v)| v || l != h.payload_len);
            self.shown.control_len = Some((first, varied));
        }
        self.masked = Some(is_masked);
        let here = self.pos;
        self.pos = next;
        // The first empty continuation frame of a chain is allowed but not counted: `00 00`
        // and `80 00` are what binary data is full of, so they prove nothing (a run of them is
        // still counted, so that a walk along zeros stays short).
        let filler = h.opcode == OpCode::Continuation && h.payload_len == 0;
        if filler && !self.shown.filler_seen {
            self.shown.filler_seen = true;
            return None;
        }
        if !h.opcode.is_control() {
            if h.opcode != OpCode::Continuation {
                // A compressed message (RSV1 on its first frame) is not UTF-8 on the wire.
                self.shown.in_text = h.opcode == OpCode::Text && !h.fin && h.rsv == 0;
            } else if h.fin {
                self.shown.in_text = false;
            }
        }
        if let Some(slot) = self.heads.get_mut(frames) {
            *slot = here;
        }
        self.frames += 1;
        if self.frames >= MIN_FRAMES {
            if self.shown.convincing(expect.evidence, self.frames, false, None) {
                return Some(Verdict::Accept(is_masked));
            }
            // In a stream known to be WebSocket, a run of control frames of different lengths
            // (a burst of pongs) that starts where bytes resumed is followed on until it shows
            // data or ends the stream with a close. (Records of one layout read as control
            // frames of one length.)
            let control_run = expect.evidence == Evidence::Resync
                && expect.run_from == Some(self.start)
                && !self.shown.data_frame
                && self.shown.with_payload >= 1
                && self.shown.control_len.is_some_and(|(_, varied)| varied)
                && self.frames < MAX_CONTROL_RUN;
            return if control_run { None } else { Some(Verdict::Reject) };
        }
        None
    }
}

/// How much of a text frame's payload a search checks is UTF-8.
const UTF8_CHECKED: usize = 4096;
/// The most bytes a chain needs at once: a header and the part of its payload that is checked.
pub const MAX_CHECKED: usize = 14 + UTF8_CHECKED;

/// A close frame carries nothing or a code that may be sent.
fn close_plausible(h: &FrameHeader, payload: &[u8]) -> bool {
    let mut code = payload.get(..2).map(<[u8]>::to_vec).unwrap_or_default();
    if let Some(key) = h.mask {
        super::mask::unmask(&mut code, key, 0);
    }
    match code.as_slice() {
        [] => payload.is_empty(),
        [a, b] => {
            super::opcode::CloseCode(u16::from_be_bytes([*a, *b])).class()
                == super::opcode::CloseCodeClass::Valid
        }
        _ => false,
    }
}

/// A text frame's payload (`payload`, its first 4 KiB of `len`) is UTF-8, allowing a character
/// cut at the end of a fragment or of the part checked, and at the start of a continuation.
fn fragment_utf8(h: &FrameHeader, payload: &[u8], len: usize) -> bool {
    let mut prefix = payload.get(..payload.len().min(UTF8_CHECKED)).unwrap_or(&[]).to_vec();
    if let Some(key) = h.mask {
        super::mask::unmask(&mut prefix, key, 0);
    }
    let skip = if h.opcode == OpCode::Continuation {
        prefix.iter().take(3).take_while(|b| (**b & 0xC0) == 0x80).count()
    } else {
        0
    };
    match std::str::from_utf8(&prefix[skip..]) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && (!h.fin || prefix.len() < len),
    }
}

pub(crate) fn plausible(h: &FrameHeader, rsv_allowed: u8, in_message: &mut Option<bool>) -> bool {
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

    proptest::proptest! {
        /// The header check rejects only what a chain would reject at its first header,
        /// whatever the bytes, the expectation and whether the stream is complete.
        #[test]
        fn the_first_header_check_rejects_only_what_a_chain_rejects(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            b0 in proptest::prelude::any::<u8>(),
            b1 in proptest::prelude::any::<u8>(),
            masked in proptest::option::of(proptest::prelude::any::<bool>()),
            rsv_allowed in 0u8..8,
            detect in proptest::prelude::any::<bool>(),
            complete in proptest::prelude::any::<bool>(),
        ) {
            let mut buf = vec![b0, b1];
            buf.extend_from_slice(&bytes);
            let evidence = if detect {
                Evidence::Detect { min_frames_at_end: MIN_FRAMES_AT_END, resumed: None }
            } else {
                Evidence::Resync
            };
            let expect = Expect { masked, rsv_allowed, evidence, run_from: None };
            if first_header_rejected(&buf, expect) {
                let verdict = Chain::new(0, expect).advance(&buf, 0, expect, complete);
                proptest::prop_assert_eq!(verdict, Verdict::Reject);
            }
        }
    }

    const SERVER: Expect =
        Expect { masked: Some(false), rsv_allowed: 0, evidence: Evidence::Resync, run_from: None };
    const CLIENT: Expect =
        Expect { masked: Some(true), rsv_allowed: 0, evidence: Evidence::Resync, run_from: None };
    const DETECT: Expect = Expect {
        masked: None,
        rsv_allowed: 0b100,
        evidence: Evidence::Detect { min_frames_at_end: MIN_FRAMES_AT_END, resumed: None },
        run_from: None,
    };

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
    fn a_chain_ending_exactly_where_bytes_go_missing_is_judged_as_at_a_streams_end() {
        let mut buf = vec![0xde, 0xad];
        buf.extend(text(b"hello", Some([1, 2, 3, 4])));
        let cut = |buf: &[u8]| {
            let mut out = Vec::new();
            undecided_chains(buf, 100, 0..buf.len(), CLIENT, true, &mut out, 64)
        };
        buf.extend(text(b"world", Some([5, 6, 7, 8])));
        // helper-41: the tail of a frame whose start was lost, two header-like bytes there and
        // one real frame after them end at the loss as easily.
        assert_eq!(cut(&buf), None, "two frames are not enough");
        let two = buf.clone();
        buf.extend(text(b"again", Some([9, 10, 11, 12])));
        assert_eq!(cut(&buf), Some((2, true)));
        // Without the loss, three frames ending where the data does prove nothing yet.
        let mut out = Vec::new();
        assert_eq!(undecided_chains(&buf, 100, 0..buf.len(), CLIENT, false, &mut out, 64), None);
        // A frame that runs on past the data: the bytes after the loss may still tell.
        let mut long = two;
        let mut binary = text(b"a longer frame", Some([9, 9, 9, 9]));
        binary[0] = 0x82;
        long.extend(&binary[..8]);
        let mut chain = Chain::new(102, CLIENT);
        assert_eq!(chain.advance_to_cut(&long, 100, CLIENT), Verdict::Undecided);
        assert_eq!(chain.next_header(), 100 + long.len() as u64 + 12);
    }

    #[test]
    fn a_run_of_control_frames_where_bytes_resumed_is_followed_until_it_shows_data_or_a_close() {
        let pong = |n: usize| {
            let mut f = vec![0x8a, n as u8];
            f.extend(std::iter::repeat_n(0x5a, n));
            f
        };
        // Bytes resumed at offset 2 (after missing bytes): four pongs there are a burst.
        let resumed = Expect { run_from: Some(2), ..SERVER };
        let mut buf = vec![0xde, 0xad];
        for n in [66, 58, 82, 77] {
            buf.extend(pong(n));
        }
        // Four pongs: more may come, and a frame after them decides.
        let found = find_boundary(&buf, resumed, false);
        assert!(matches!(found, Found::NotYet { resume_from: 2 }), "{found:?}");
        let mut closed = buf.clone();
        closed.extend([0x88, 0x02, 0x03, 0xe8]);
        assert_eq!(find_boundary(&closed, resumed, true), Found::At { offset: 2, masked: false });
        let mut data = buf.clone();
        data.extend(text(b"after", None));
        assert_eq!(find_boundary(&data, resumed, false), Found::At { offset: 2, masked: false });
        // Anywhere else four control frames are no boundary (helper-45: a chance `8a NN` inside
        // a lost frame's tail whose length leads to a burst of pongs was shown as a pong).
        assert_ne!(find_boundary(&data, SERVER, false), Found::At { offset: 2, masked: false });
        let mut chance = vec![0x37, 0x8a, 3, 0x37, 0x37, 0x37];
        for n in [66, 58, 82] {
            chance.extend(pong(n));
        }
        chance.extend(text(b"after", None));
        let at = |o| Expect { run_from: Some(o), ..SERVER };
        assert_eq!(find_boundary(&chance, at(0), false), Found::At { offset: 6, masked: false });
        // A longer run proves nothing: its first frames are not taken.
        let mut long = vec![0xde, 0xad];
        let lens: Vec<usize> = (0..MAX_CONTROL_RUN + 2).map(|i| 10 + i).collect();
        for &n in &lens {
            long.extend(pong(n));
        }
        long.extend(text(b"after", None));
        // (From where three of them and the data frame are four frames, as anywhere else.)
        let first = lens.len() - (MIN_FRAMES - 1);
        let offset = 2 + lens[..first].iter().map(|n| n + 2).sum::<usize>();
        assert_eq!(find_boundary(&long, resumed, false), Found::At { offset, masked: false });
        // Nor does a run of control frames of one length: binary records that start `8a 0e`
        // read as pongs of 14 bytes (`records_that_read_as_control_frames_are_not_a_chain`).
        let mut same = vec![0xde, 0xad];
        for _ in 0..5 {
            same.extend(pong(14));
        }
        same.extend([0x88, 0x02, 0x03, 0xe8]);
        assert_eq!(
            find_boundary(&same, resumed, true),
            Found::At { offset: 2 + 3 * 16, masked: false }
        );
        // Nor when a stream is being told apart from other protocols.
        let detect = Expect {
            evidence: Evidence::Detect { min_frames_at_end: 2, resumed: None },
            ..resumed
        };
        assert!(
            matches!(find_boundary(&data, detect, false), Found::At { offset, .. } if offset > 2)
        );
    }

    #[test]
    fn a_chain_taken_at_its_eighth_frame_resumes_at_its_first_still_kept() {
        // helper-45: heads were kept for four frames; a run taken at its sixth and followed
        // across more missing bytes resumed after the data frame that proved it.
        let resumed = Expect { run_from: Some(0), ..SERVER };
        let mut chain = Chain::new(0, resumed);
        let mut buf = Vec::new();
        let mut heads = Vec::new();
        for n in 10..17u8 {
            heads.push(buf.len() as u64);
            buf.extend([0x8a, n]);
            buf.extend(std::iter::repeat_n(0x5a, usize::from(n)));
        }
        heads.push(buf.len() as u64);
        buf.extend(text(b"after", None));
        assert_eq!(chain.advance(&buf, 0, resumed, false), Verdict::Accept(false));
        assert_eq!(chain.frames(), 8);
        assert_eq!(chain.first_frame_from(heads[5], buf.len() as u64), Some(heads[5]));
        assert_eq!(chain.frames_before(heads[7]), 7);
    }

    #[test]
    fn frames_inside_a_chance_header_that_swallowed_them_are_where_frames_start() {
        // helper-40: `8a 4c` in a payload, a "pong" of 76 bytes whose end is a real frame's
        // start, swallowed the real frames before it and was shown as a pong nobody sent.
        let real: Vec<u8> = [&b"one"[..], b"two"].iter().flat_map(|p| text(p, None)).collect();
        let mut buf = vec![0x8a, (10 + real.len()) as u8];
        buf.extend([0x37; 10]);
        let inner = buf.len();
        buf.extend(&real);
        buf.extend(text(b"after", None));
        assert_eq!(swallowed_by_first(&buf, 0, SERVER), Some(inner));
        // One frame inside that ends where it ends proves nothing: a real frame's payload may
        // hold such a header as easily.
        let mut one = vec![0x82, (10 + 5) as u8];
        one.extend([0x37; 10]);
        one.extend(text(b"one", None));
        one.extend(text(b"after", None));
        assert_eq!(swallowed_by_first(&one, 0, SERVER), None);
        // Frames inside that do not end where the first frame ends are its payload.
        let mut off = vec![0x82, (10 + real.len() + 1) as u8];
        off.extend([0x37; 10]);
        off.extend(&real);
        off.extend([0x37; 1]);
        assert_eq!(swallowed_by_first(&off, 0, SERVER), None);
    }

    #[test]
    fn an_empty_first_fragment_found_by_a_search_is_passed_over() {
        let mut buf = vec![0x01, 0x00];
        buf.extend([0x00, 0x03, b'a', b'b', b'c']);
        assert_eq!(empty_opening_fragment(&buf, 0), Some(2));
        assert_eq!(empty_opening_fragment(&[0x02, 0x80, 1, 2, 3, 4], 0), Some(6));
        // Whole empty messages, and first fragments with payload, are what they say.
        assert_eq!(empty_opening_fragment(&[0x81, 0x00], 0), None);
        assert_eq!(empty_opening_fragment(&text(b"x", None), 0), None);
        assert_eq!(empty_opening_fragment(&buf, 2), None);
    }

    #[test]
    fn masked_repetitive_data_is_not_a_chain_of_frames() {
        // 3,000 zero bytes masked with 82 86 11 22 read as binary frames of 6 bytes, each masked
        // with 11 22 82 86: well-formed, and all with one key, which no client sends. Before,
        // resync locked on here after a gap and decoded the real frames after it out of step
        // (thousands of false RFC 6455 errors).
        let key = [0x82, 0x86, 0x11, 0x22];
        let mut buf = b"rest of a frame".to_vec();
        buf.extend((0..3000).map(|i| key[i % 4]));
        for complete in [false, true] {
            let found = find_boundary(&buf, CLIENT, complete);
            assert!(matches!(found, Found::NotYet { .. }), "{found:?}");
        }
        // The same frames with a key of their own each are a chain.
        let mut buf = b"rest of a frame".to_vec();
        for k in 0..MIN_FRAMES as u8 {
            buf.extend([0x82, 0x86, k, 0x22, 0x82, 0x86, k, 0x22, 0x82, 0x86, k, 0x22]);
        }
        assert_eq!(find_boundary(&buf, CLIENT, false), Found::At { offset: 15, masked: true });
    }

    #[test]
    fn a_run_of_zero_bytes_is_not_a_chain_of_empty_frames() {
        let buf = [0u8; 64];
        assert!(matches!(find_boundary(&buf, SERVER, false), Found::NotYet { .. }));
        let any =
            Expect { masked: None, rsv_allowed: 0, evidence: Evidence::Resync, run_from: None };
        assert!(matches!(find_boundary(&buf, any, true), Found::NotYet { .. }));
    }

    /// After missing bytes, a chain whose "text message" is fragmented and not UTF-8, or that
    /// goes on past a close frame, is a chance chain in binary data: taken, it was reported as
    /// the endpoint's `text_not_utf8` and `data_after_close` (a live capture that dropped
    /// packets failed `--fail-on error`).
    #[test]
    fn after_missing_bytes_text_fragments_are_utf8_and_nothing_follows_a_close() {
        let frame = |b0: u8, payload: &[u8]| [&[b0, payload.len() as u8][..], payload].concat();
        let ping = frame(0x89, b"p");
        let pieces = [frame(0x01, b"ab"), frame(0x00, &[0xff, 0xfe]), frame(0x80, b"cd")];
        let bad: Vec<u8> = [&ping[..], &pieces.concat()].concat();
        assert!(matches!(find_boundary(&bad, SERVER, false), Found::NotYet { .. }));
        let pieces = [frame(0x01, b"ab"), frame(0x00, "é".as_bytes()), frame(0x80, b"cd")];
        let good: Vec<u8> = [&ping[..], &pieces.concat()].concat();
        assert_eq!(find_boundary(&good, SERVER, false), Found::At { offset: 0, masked: false });
        // A close, then more frames.
        let after_close =
            [frame(0x82, b"data"), frame(0x88, &[0x03, 0xe8]), ping.clone(), ping.clone()].concat();
        assert!(matches!(find_boundary(&after_close, SERVER, true), Found::NotYet { .. }));
        // A compressed message's fragments are not UTF-8 on the wire.
        let deflated =
            [frame(0x41, &[0xff]), frame(0x00, &[0xfe]), frame(0x80, b"x"), ping].concat();
        let deflate = Expect { rsv_allowed: 0b100, ..SERVER };
        assert_eq!(
            find_boundary(&deflated, deflate, false),
            Found::At { offset: 0, masked: false }
        );
    }

    /// A chain's last frame, a long text fragment, needs only the bytes that are checked (its
    /// first 4 KiB), not the whole payload: a capture that ends inside it still has the chain.
    #[test]
    fn a_long_text_frame_is_checked_on_its_first_bytes() {
        let mut buf: Vec<u8> = (0..3).flat_map(|_| text(b"{\"tick\":1}", None)).collect();
        buf.extend([0x01, 126, 0x40, 0x00]); // a text fragment of 16 KiB
        buf.extend(std::iter::repeat_n(b'a', 5000));
        assert_eq!(find_boundary(&buf, SERVER, false), Found::At { offset: 0, masked: false });
        buf.truncate(buf.len() - 4990);
        assert!(matches!(find_boundary(&buf, SERVER, false), Found::NotYet { .. }));
    }

    /// A chain is followed across bytes a search no longer keeps: each call sees only the
    /// bytes from the chain's next header on.
    #[test]
    fn a_chain_is_followed_across_bytes_not_kept() {
        let frame = |n: usize| [&[0x82, 126, (n >> 8) as u8, n as u8][..], &vec![0x5a; n]].concat();
        let stream: Vec<u8> = (0..MIN_FRAMES).flat_map(|_| frame(1000)).collect();
        let mut chain = Chain::new(0, SERVER);
        for (i, head) in (0..MIN_FRAMES as u64).map(|i| i * 1004).enumerate() {
            // Only the header and a few bytes after it are kept.
            let window = &stream[head as usize..head as usize + 10];
            let verdict = chain.advance(window, head, SERVER, false);
            let last = i + 1 == MIN_FRAMES;
            assert_eq!(verdict, if last { Verdict::Accept(false) } else { Verdict::Undecided });
            assert_eq!(chain.frames_before(head), i);
        }
        let end = stream.len() as u64;
        assert_eq!(chain.first_frame_from(2000, end), Some(2008));
        assert_eq!(chain.first_frame_from(0, end), Some(0));
        assert_eq!(chain.first_frame_from(3013, end), Some(end), "where the next header must be");
        assert_eq!(chain.first_frame_from(3013, end - 1), None);
        // A header that is not where the chain leads rejects it, however far on.
        let mut chain = Chain::new(0, SERVER);
        assert_eq!(chain.advance(&stream[..10], 0, SERVER, false), Verdict::Undecided);
        assert_eq!(chain.advance(&[0x5a; 10], 1000, SERVER, false), Verdict::Reject);
        // Bytes before the chain's next header are not needed; bytes from it on are.
        let mut chain = Chain::new(0, SERVER);
        assert_eq!(chain.advance(&stream[..10], 0, SERVER, false), Verdict::Undecided);
        assert_eq!(chain.advance(&stream[1010..1020], 1010, SERVER, false), Verdict::Reject);
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
        let any =
            Expect { masked: None, rsv_allowed: 0, evidence: Evidence::Resync, run_from: None };
        assert_eq!(find_boundary(&buf, any, false), Found::At { offset: 0, masked: false });
    }

    #[test]
    fn a_frame_running_past_the_data_is_not_yet_confirmed() {
        let mut buf = text(b"hi", None);
        buf.extend([0x82, 0x7E, 0x10, 0x00, 1, 2, 3]); // 4096-byte frame, 3 bytes seen
        assert!(matches!(find_boundary(&buf, SERVER, false), Found::NotYet { .. }));
    }

    #[test]
    fn detection_needs_frames_that_carry_payload() {
        // Eight zero bytes: four empty non-final continuation frames (not even a resync takes
        // them, see a_run_of_zero_bytes_is_not_a_chain_of_empty_frames).
        let zeros = [0u8; 8];
        assert!(matches!(find_boundary(&zeros, resync_any(), false), Found::NotYet { .. }));
        assert!(matches!(find_boundary(&zeros, DETECT, true), Found::NotYet { .. }));
        // Four empty text messages show nothing either.
        let empty: Vec<u8> = (0..MIN_FRAMES).flat_map(|_| text(b"", None)).collect();
        assert!(matches!(find_boundary(&empty, DETECT, false), Found::NotYet { .. }));
        // Real messages do.
        let mut msgs: Vec<u8> = (0..MIN_FRAMES).flat_map(|_| text(b"{\"px\":1}", None)).collect();
        assert_eq!(find_boundary(&msgs, DETECT, false), Found::At { offset: 0, masked: false });
        // A fragmented text message whose fragments are not UTF-8 is not WebSocket text.
        msgs = vec![0x01, 3, 0xff, 0xfe, 0xfd, 0x00, 3, 0xc0, 0xc1, 0xf8, 0x80, 3, 1, 2, 3];
        msgs.extend(text(b"abc", None));
        assert!(!matches!(find_boundary(&msgs, DETECT, true), Found::At { offset: 0, .. }));
    }

    #[test]
    fn a_named_port_accepts_a_single_frame_ending_the_stream() {
        let one = text(b"{\"subscribe\":\"ticker\"}", Some([9, 8, 7, 6]));
        assert!(matches!(find_boundary(&one, DETECT, true), Found::NotYet { .. }));
        let named =
            Expect { evidence: Evidence::Detect { min_frames_at_end: 1, resumed: None }, ..DETECT };
        assert!(matches!(find_boundary(&one, named, false), Found::NotYet { .. }));
        assert_eq!(find_boundary(&one, named, true), Found::At { offset: 0, masked: true });
    }

    /// Binary data with a repeating layout, as a capture that started inside a binary message
    /// of a generated market feed showed it: 16-byte records that start `8a 0e` read as pongs
    /// of 14 bytes, one after the other. Before, the search took them for frames and the text
    /// frames after them were decoded out of step: 753 false RFC 6455 errors on one connection.
    #[test]
    fn records_that_read_as_control_frames_are_not_a_chain() {
        let mut buf = vec![0x00, 0x00, 0x97, 0xe1, 0x6e];
        for i in 0..100u8 {
            buf.extend([0x8a, 0x0e, 0x00, i % 4, 0x00, 0x7f, 0, 0, 0, 0x10, 0x27, 0, 0]);
            buf.extend([0xbd ^ i, 0xba, 0x6f_u8.wrapping_add(i)]);
        }
        let start = buf.len();
        for _ in 0..MIN_FRAMES {
            buf.extend(text(b"{\"sym\":\"NVDA\"}", None));
        }
        // The chain found must reach the real frames: it may start at most three records before
        // them (three "pongs" and a text frame are a chain with data). (`complete`: else a
        // "frame" starting in the records and running past the data waits for more.)
        for e in [DETECT, SERVER] {
            let Found::At { offset, masked: false } = find_boundary(&buf, e, true) else {
                panic!("{e:?}: no boundary");
            };
            let before = start - offset;
            assert!(before < 16 * MIN_FRAMES && before % 16 == 0, "{e:?}: {offset}");
        }
        // Control frames alone are a chain only as the closing handshake ending the stream.
        let mut end = b"rest of a frame".to_vec();
        end.extend([0x89, 0x02, b'h', b'i', 0x8a, 0x02, b'h', b'i']);
        for e in [DETECT, SERVER] {
            let found = find_boundary(&end, e, true);
            assert!(matches!(found, Found::NotYet { .. }), "{e:?}: {found:?}");
        }
        end.extend([0x88, 0x02, 0x03, 0xe8]);
        for e in [DETECT, SERVER] {
            assert_eq!(find_boundary(&end, e, true), Found::At { offset: 15, masked: false });
        }
    }

    fn resync_any() -> Expect {
        Expect { masked: None, rsv_allowed: 0b100, evidence: Evidence::Resync, run_from: None }
    }

    #[test]
    fn random_bytes_are_not_taken_for_frames() {
        // 200 different pseudo-random buffers of 4000 bytes, both directions' expectations.
        let mut noise = crate::ws::encode::Noise(0x9E37_79B9_7F4A_7C15);
        let mut false_positives = 0;
        for _ in 0..200 {
            let buf = noise.bytes(4000);
            for e in [CLIENT, SERVER] {
                if !matches!(find_boundary(&buf, e, false), Found::NotYet { .. }) {
                    false_positives += 1;
                }
            }
        }
        assert_eq!(false_positives, 0, "false boundaries in 400 random buffers");
    }
}
