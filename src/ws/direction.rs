//! One direction of a WebSocket connection: stream bytes in, frames, messages and findings out.
//!
//! Combines the frame decoder, the RFC 6455 frame and fragmentation rules, unmasking, message
//! reassembly with incremental UTF-8 validation, permessage-deflate, and resynchronisation when
//! the frame boundary is unknown (mid-stream pickup) or lost (bytes missing across a boundary).
//! Every rule broken is reported and decoding goes on: nothing here stops at the first problem.

use super::close::parse_close;
use super::decoder::{FrameDecoder, FrameItem, SyncLost};
use super::deflate::{InflateError, Inflater};
use super::header::FrameHeader;
use super::mask::{unmask, unmask_into};
use super::opcode::{CloseCode, OpCode};
use super::resync::{self, Chain, Expect, Found, Verdict};
use super::utf8::Utf8Stream;
use crate::analyzer::checks::CheckId;
use crate::event::{Payload, Position};
use crate::memory::{Level, Memory};
use crate::tcp::PacketRef;

/// The most a message's payload buffer reserves before its bytes arrive.
const INITIAL_MESSAGE_CAPACITY: u64 = 4 << 10;

/// How this direction is decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirConfig {
    /// Frames are sent by the client (and so must be masked).
    pub from_client: bool,
    /// permessage-deflate was negotiated; `Some(no_context_takeover)` for this sender.
    pub deflate: Option<bool>,
    /// RSV bits an accepted extension may use (bit 2 = RSV1, 1 = RSV2, 0 = RSV3).
    pub rsv_allowed: u8,
    /// Whether the stream is followed from its first frame (false for mid-stream pickup: the
    /// frame boundary must be found, and the deflate window is unknown).
    pub from_start: bool,
    /// Payload bytes kept per message (the rest is counted and validated, not kept).
    pub max_message: usize,
    /// Whether payloads are kept at all. Without them (a consumer that only counts, like the
    /// report) every byte is still counted, inflated and validated, and `truncated` and the
    /// `message_too_large` finding are what they would be with payloads; the events carry an
    /// empty payload.
    pub keep_payloads: bool,
    /// Bytes a single compressed message may inflate to before inflation stops.
    pub max_inflate: u64,
    /// Bytes buffered while looking for a frame boundary.
    pub max_resync: usize,
    /// The global memory budget: from half of it on, new messages keep no payload copy.
    pub memory: Memory,
}

/// A complete message (or control frame).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Opcode of the first frame.
    pub opcode: OpCode,
    /// Application payload length (after inflation) when it is known exactly: the message is
    /// complete and could be inflated, or it is uncompressed and the missing byte count is known.
    pub length: Option<u64>,
    /// Application payload bytes decoded from the capture (`length` when complete).
    pub captured_length: u64,
    /// Payload bytes on the wire.
    pub wire_length: u64,
    /// Compressed with permessage-deflate.
    pub compressed: bool,
    /// Frames.
    pub fragments: u32,
    /// First frame's header.
    pub first: Position,
    /// Last frame's header.
    pub last: Position,
    /// Where the message ended: the packet that carried its last byte (or the place where it was
    /// cut), and the stream offset after it.
    pub end: Position,
    /// Payload as shown.
    pub payload: Payload,
    /// `payload` holds fewer bytes than were captured (the size limit).
    pub truncated: bool,
    /// For close frames: code and reason.
    pub close: Option<(Option<CloseCode>, String)>,
    /// Bytes of the message are missing from the capture.
    pub incomplete: bool,
    /// Payload bytes (on the wire) missing from the capture, when known: the gaps lay inside
    /// frames whose headers were captured, and the last frame was seen.
    pub missing: Option<u64>,
    /// The raw acknowledgment number of the packet that completed it (what its sender had
    /// received of the other direction then).
    pub acked: Option<u32>,
}

/// What a direction reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WsOut {
    /// A frame header.
    Frame {
        /// The header.
        header: FrameHeader,
        /// Where it starts.
        at: Position,
    },
    /// A complete message.
    Message(Box<Message>),
    /// A rule broken or information lost.
    Finding {
        /// Which check.
        check: CheckId,
        /// Specifics.
        detail: String,
        /// Where.
        at: Position,
    },
}

/// What the current frame is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Control,
    Data,
    Ignored,
}

#[derive(Debug)]
struct FrameState {
    header: FrameHeader,
    /// Where the header starts.
    pos: Position,
    role: Role,
    /// Payload bytes of this frame seen so far (gives the mask phase).
    seen: u64,
    /// Payload bytes of this frame missing from the capture, and for a control frame how many
    /// of its bytes were kept before the first of them.
    hole: (u64, usize),
    /// The highest-numbered packet that carried part of it.
    latest: PacketRef,
}

#[derive(Debug)]
struct MessageState {
    opcode: OpCode,
    compressed: bool,
    fragments: u32,
    first: Position,
    last: Position,
    wire_length: u64,
    length: u64,
    buf: Vec<u8>,
    /// Payload bytes are counted and validated, never kept (`DirConfig::keep_payloads` off).
    discard: bool,
    /// Its payload copy was dropped to stay under the memory budget (reported truncated).
    dropped: bool,
    truncated: bool,
    /// Validates text once the message no longer fits in `buf` (None while it fits).
    utf8: Option<Utf8Stream>,
    /// The highest-numbered packet that carried part of it.
    latest: PacketRef,
    /// Bytes inside the message are missing from the capture (its content has a hole).
    holey: bool,
    /// Payload bytes of its frames that the capture does not have (inside frames).
    hole_bytes: u64,
    /// The message never got its last frame.
    unfinished: bool,
    inflate_error: Option<InflateError>,
}

/// Why a message ends without its last frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    /// Bytes after it are missing from the capture.
    Gap,
    /// A protocol violation (already reported) made it impossible to continue it.
    Protocol,
    /// Its frames followed a frame boundary a search had guessed, and a header after them
    /// showed the guess wrong (sync is lost; the finding comes when frames are found again).
    WrongBoundary,
    /// The stream ended.
    EndOfStream,
}

#[derive(Debug)]
enum Mode {
    /// Following frames.
    Decoding(FrameDecoder),
    /// Looking for a frame boundary.
    Resync(Searching),
}

/// Bytes kept while looking for a frame boundary, with the packet each piece came from (so that
/// the frames found in them keep their own packet and time).
///
/// Invariant: `marks` is sorted by offset, its first mark is at or before `start` while `buf` is
/// not empty, and every byte of `buf` is covered by the last mark at or before it.
#[derive(Debug, Default)]
struct Searching {
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    start: u64,
    /// (stream offset, packet) of every piece appended.
    marks: std::collections::VecDeque<(u64, PacketRef)>,
    /// Offsets of `buf` before this were ruled out as frame starts.
    resume: usize,
    /// Bytes skipped so far (dropped from `buf`, or before the boundary).
    skipped: u64,
    /// The search started after missing bytes.
    after_gap: bool,
    /// Where the search started (a stream offset): after missing bytes, where bytes resumed.
    resumed_at: u64,
    /// Chains from offsets before `buf` (given up to `max_resync`, or before missing bytes)
    /// whose frames run past the bytes seen so far, in offset order: followed on without their
    /// payloads, and accepted before any candidate in `buf`.
    tracked: Vec<Chain>,
    /// `tracked` holds, after the chains followed, every undecided chain starting in the kept
    /// bytes as they were then (`start`, `resume`, length): [`Searching::convincing_now`]
    /// collected them before missing bytes, and [`Searching::carry_over`] takes them without
    /// searching the same bytes a second time.
    scanned: Option<(u64, usize, usize)>,
}

/// Chains a search follows past the bytes it keeps, at most (in random binary data a few in a
/// hundred offsets start a plausible header; the chains still open at any time are tens).
const MAX_TRACKED: usize = 256;

impl Searching {
    fn new(start: u64, after_gap: bool, skipped: u64) -> Self {
        Searching { start, after_gap, skipped, resumed_at: start, ..Default::default() }
    }

    fn push(&mut self, offset: u64, data: &[u8], at: PacketRef) {
        if data.is_empty() {
            return;
        }
        if self.buf.is_empty() {
            self.start = offset;
            self.marks.clear();
        }
        self.buf.extend_from_slice(data);
        self.marks.push_back((offset, at));
    }

    /// The packet that carried stream offset `offset` (of the buffered bytes). A binary search:
    /// `floor` asks for every packet while output is held, and the marks are one a packet (a
    /// scan cost O(bytes kept) a packet: 96 s instead of 9 s for 100 MB sent a byte a segment
    /// while 256 chains were followed).
    fn packet_of(&self, offset: u64) -> PacketRef {
        let after = self.marks.partition_point(|m| m.0 <= offset);
        self.marks.get(after.saturating_sub(1)).map_or_else(PacketRef::default, |m| m.1)
    }

    /// Drops the first `n` buffered bytes.
    fn drop_front(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.drain(..n);
        self.start += n as u64;
        self.skipped += n as u64;
        self.resume = self.resume.saturating_sub(n);
        while self.marks.len() > 1 && self.marks.get(1).is_some_and(|m| m.0 <= self.start) {
            self.marks.pop_front();
        }
    }

    /// The earliest packet whose kept bytes may still be decoded ([`DirectionDecoder::floor`]).
    #[inline(never)]
    fn floor(&self) -> Option<u64> {
        if !self.tracked.is_empty() && !self.buf.is_empty() {
            // A chain followed past the kept bytes may resume at any frame of them.
            return Some(self.packet_of(self.start).packet);
        }
        (self.resume < self.buf.len())
            .then(|| self.packet_of(self.start + self.resume as u64).packet)
    }

    /// Looks for a frame boundary: the first chain followed past the kept bytes decides, then
    /// the kept bytes are searched. Returns the offset of `buf` where frames resume, whether
    /// they are masked and how many frames of the chain came before it. Keeps at most `max`
    /// bytes (the chains starting in the bytes given up are followed on).
    fn find(&mut self, expect: Expect, complete: bool, max: usize) -> Option<(usize, bool, usize)> {
        if !self.tracked.is_empty() {
            let (buf, start) = (&self.buf, self.start);
            self.tracked.retain_mut(|c| c.advance(buf, start, expect, complete) != Verdict::Reject);
            if let Some(first) = self.tracked.first() {
                if first.accepted().is_none() {
                    // An earlier chain still open: the later ones (and the kept bytes) wait.
                    return self.trim(expect, max);
                }
                if let Some(found) = self.take_accepted() {
                    return Some(found);
                }
                self.tracked.clear();
            }
        }
        // Offsets of the kept bytes here, stream offsets everywhere else (`trim` too).
        let run_from = expect.run_from.and_then(|r| r.checked_sub(self.start));
        let in_buf = resync::Expect { run_from, ..expect };
        match resync::find_boundary_from(&self.buf, self.resume, in_buf, complete) {
            Found::At { offset, masked } => Some((offset, masked, 0)),
            Found::NotYet { resume_from } => {
                self.resume = resume_from;
                self.trim(expect, max)
            }
        }
    }

    /// The first chain followed past the kept bytes that is accepted and can resume in them
    /// (the others are given up for it).
    fn take_accepted(&mut self) -> Option<(usize, bool, usize)> {
        let end = self.start + self.buf.len() as u64;
        let (at, masked, seen) = self.tracked.iter().find_map(|c| {
            let at = c.first_frame_from(self.start, end)?;
            Some((at, c.accepted()?, c.frames_before(at)))
        })?;
        self.tracked.clear();
        Some((usize::try_from(at - self.start).ok()?, masked, seen))
    }

    /// The first chain that is convincing already, though chains before it are undecided:
    /// one followed past the kept bytes, or one in them (the chains followed past them are
    /// given up for it).
    fn convincing_now(&mut self, expect: Expect) -> Option<(usize, bool, usize)> {
        let (buf, start) = (&self.buf, self.start);
        self.tracked.retain_mut(|c| c.advance_to_cut(buf, start, expect) != Verdict::Reject);
        if let Some(found) = self.take_accepted() {
            return Some(found);
        }
        let (buf, start, from) = (&self.buf, self.start, self.resume);
        let t = &mut self.tracked;
        let Some((at, masked)) =
            resync::undecided_chains(buf, start, from..buf.len(), expect, true, t, MAX_TRACKED)
        else {
            // Kept for `carry_over`, which comes next (the bytes are about to go missing).
            self.scanned = Some((start, from, buf.len()));
            return None;
        };
        self.tracked.clear();
        Some((at, masked, 0))
    }

    /// Gives up the oldest bytes once more than `max` are kept, keeping the newest quarter: the
    /// chains that start in them and are still open are followed on. A chain there that is
    /// convincing already is taken at once (its bytes would be gone when the chains before it
    /// are decided).
    fn trim(&mut self, expect: Expect, max: usize) -> Option<(usize, bool, usize)> {
        if self.buf.len() <= max {
            return None;
        }
        if let Some(found) = self.take_accepted() {
            return Some(found);
        }
        let keep = (max / 4).max(resync::MAX_CHECKED);
        let drop = self.buf.len().saturating_sub(keep);
        let (buf, start, from) = (&self.buf, self.start, self.resume);
        if let Some(found) = resync::undecided_chains(
            buf,
            start,
            from..drop,
            expect,
            false,
            &mut self.tracked,
            MAX_TRACKED,
        ) {
            self.tracked.clear();
            return Some((found.0, found.1, 0));
        }
        self.drop_front(drop);
        None
    }

    /// Missing bytes end at stream offset `resume`: the chains that started before them and
    /// whose next header is at or after `resume` are still followed (bytes missing inside a
    /// frame's payload do not break a chain).
    #[cold]
    fn carry_over(&mut self, resume: u64, expect: Expect) -> Vec<Chain> {
        let mut from = self.resume;
        let (buf, start) = (&self.buf, self.start);
        let end = buf.len();
        if self.scanned.take() == Some((start, from, end)) {
            from = end; // searched by `convincing_now` just before
        }
        while let Some((at, _)) = resync::undecided_chains(
            buf,
            start,
            from..end,
            expect,
            false,
            &mut self.tracked,
            MAX_TRACKED,
        ) {
            // Convincing but cut by the missing bytes: not followed.
            from = at + 1;
        }
        let mut chains = std::mem::take(&mut self.tracked);
        chains.retain(|c| c.next_header() >= resume);
        chains
    }

    /// The bytes from buffer offset `from` on, as the pieces they arrived in.
    fn pieces_from(&self, from: usize) -> Vec<Piece> {
        let from_off = self.start + from as u64;
        let end = self.start + self.buf.len() as u64;
        let mut out = Vec::new();
        for (i, (off, at)) in self.marks.iter().enumerate() {
            let a = (*off).max(from_off);
            let b = self.marks.get(i + 1).map_or(end, |m| m.0).min(end);
            if a < b {
                let bytes = self.buf[(a - self.start) as usize..(b - self.start) as usize].to_vec();
                out.push(Piece { offset: a, bytes, at: *at });
            }
        }
        out
    }
}

/// Bytes to feed again, as they arrived.
#[derive(Debug)]
struct Piece {
    offset: u64,
    bytes: Vec<u8>,
    at: PacketRef,
}

/// What a search that found a frame boundary hands back: a note on the bytes skipped (keyed
/// by the packet of the boundary, so it comes out where the frames resume) and the bytes from
/// the boundary on.
#[derive(Debug)]
struct Resumed {
    note: Option<(WsOut, PacketRef)>,
    pieces: Vec<Piece>,
}

/// Decoder of one direction.
#[derive(Debug)]
pub struct DirectionDecoder {
    cfg: DirConfig,
    mode: Mode,
    frame: Option<FrameState>,
    msg: Option<MessageState>,
    control: Vec<u8>,
    inflater: Option<Inflater>,
    /// Packet where a header split across segments started.
    header_at: Option<PacketRef>,
    /// This endpoint has sent a close frame.
    closed: bool,
    /// Stream offset the decoder started at (bytes missing before it are no frames').
    start: u64,
    /// Whether the frames seen were masked (learned during resync when the role was a guess).
    masked_seen: Option<bool>,
    /// The capture lost this direction's context (it started mid-stream, or bytes went missing)
    /// and no message has started since: a continuation frame without its start is then a
    /// consequence of the capture, not a protocol error.
    lost_context: bool,
    /// How hard to save memory (`--memory-budget`): from [`Level::DropPayloads`] new messages
    /// keep no payload copy.
    saving: Level,
    /// What was given up to save memory since the session last asked (bit 0: a payload copy,
    /// bit 1: the inflater).
    given_up: u8,
    /// Messages of this direction that could not be inflated for lack of context; the finding
    /// is made for the first only (every later one has the same cause and the same remedy).
    missing_context: u64,
    /// What a boundary found by search changed, as it was before (`closed`, `masked_seen`):
    /// restored when a header on probation refutes the boundary.
    before_guess: (bool, Option<bool>),
    /// Where the last boundary found by search is: a search after a refutation starts past it.
    guess_at: u64,
    /// What the frames after a boundary found by search said, with its order keys, held while
    /// the boundary is on probation: handed on once it passes, dropped when a header refutes
    /// it. A chance chain of "frames" in binary data showed pings and messages nobody sent.
    tentative: Vec<(u64, WsOut)>,
    /// Whether the boundary on probation holds its output (one found by a search does; the
    /// byte after a lost request is refuted at once, if at all). Cleared once output has been
    /// held for [`MAX_HOLD_PACKETS`]: the session keeps capture order only so long.
    holding: bool,
}

/// Packets for which output of frames on probation is held at most (a fraction of the reorder
/// window's 2,000, after which the session releases the other direction's output anyway).
const MAX_HOLD_PACKETS: u64 = 500;

impl DirectionDecoder {
    /// A decoder whose stream position `offset` is the first byte after the handshake (or the
    /// first byte captured, for mid-stream pickup).
    pub fn new(cfg: DirConfig, offset: u64) -> Self {
        let inflater = cfg.deflate.map(|no_takeover| Inflater::new(no_takeover, cfg.from_start));
        let lost_context = !cfg.from_start;
        let mode = if cfg.from_start {
            Mode::Decoding(FrameDecoder::new(offset))
        } else {
            Mode::Resync(Searching::new(offset, false, 0))
        };
        DirectionDecoder {
            cfg,
            mode,
            frame: None,
            msg: None,
            control: Vec::new(),
            inflater,
            header_at: None,
            closed: false,
            start: offset,
            masked_seen: None,
            lost_context,
            saving: Level::Normal,
            given_up: 0,
            missing_context: 0,
            before_guess: (false, None),
            guess_at: 0,
            tentative: Vec::new(),
            holding: false,
        }
    }

    /// A decoder of a stream whose frame boundary is already known (found by mid-stream
    /// detection): frames start at stream offset `frame_start`, masked or not as `masked` says.
    pub fn at_boundary(cfg: DirConfig, frame_start: u64, masked: bool) -> Self {
        let rsv_allowed = cfg.rsv_allowed | 0b100;
        let mut d = DirectionDecoder::new(cfg, frame_start);
        d.decode_from_guess(frame_start, rsv_allowed, masked);
        d
    }

    /// Goes on following `chains` (of frames running past the bytes a probe searched, from
    /// earlier in the stream) in the frame search this decoder starts with; `passed` bytes were
    /// given up before the bytes it is fed (counted in its `frame_sync_lost`).
    pub fn following(mut self, chains: Vec<Chain>, passed: u64) -> Self {
        if let Mode::Resync(s) = &mut self.mode {
            s.tracked = chains;
            s.skipped = passed;
        }
        self
    }

    /// A decoder of a stream whose frames probably start at `frame_start`, the first byte
    /// after bytes the capture lost (the lost bytes may have been a whole request, or part of
    /// it, or the start of a frame): decoded from there on probation as a boundary found by
    /// searching is, and searched for when a header refutes it. The deflate context before the
    /// loss is taken as unknown.
    pub fn after_loss(cfg: DirConfig, frame_start: u64) -> Self {
        let (rsv_allowed, masked) = (cfg.rsv_allowed, cfg.from_client);
        let mut d = DirectionDecoder::new(DirConfig { from_start: false, ..cfg }, frame_start);
        d.decode_from_guess(frame_start, rsv_allowed, masked);
        d.holding = false;
        d
    }

    /// Decodes frames from `frame_start`, a boundary found by searching (masked as `masked`
    /// says): on probation, remembering what a refutation restores.
    fn decode_from_guess(&mut self, frame_start: u64, rsv_allowed: u8, masked: bool) {
        self.holding = true;
        self.before_guess = (self.closed, self.masked_seen);
        self.guess_at = frame_start;
        self.masked_seen = Some(masked);
        self.mode =
            Mode::Decoding(FrameDecoder::new(frame_start).on_probation(rsv_allowed, masked));
    }

    /// Heap bytes this direction holds: the message in progress, a control frame, a
    /// frame-boundary search and the inflater.
    pub fn footprint(&self) -> usize {
        let msg = self.msg.as_ref().map_or(0, |m| m.buf.capacity());
        let search = match &self.mode {
            Mode::Resync(s) => {
                s.buf.capacity()
                    + s.marks.capacity() * size_of::<(u64, PacketRef)>()
                    + s.tracked.capacity() * size_of::<Chain>()
            }
            Mode::Decoding(_) => 0,
        };
        let held: usize = self
            .tentative
            .iter()
            .map(|(_, o)| match o {
                WsOut::Message(m) => size_of::<Message>() + m.payload.capacity(),
                _ => 0,
            })
            .sum();
        msg + search
            + self.control.capacity()
            + self.inflater.as_ref().map_or(0, Inflater::footprint)
            + self.tentative.capacity() * size_of::<(u64, WsOut)>()
            + held
    }

    /// Saves memory as `level` asks (`--memory-budget`), from now on for this direction: from
    /// [`Level::DropPayloads`] the message in progress gives up its payload copy (it is still
    /// counted and validated, and comes out truncated) and new ones keep none; from
    /// [`Level::DropInflaters`] the inflater gives up its window and zlib state
    /// ([`DirectionDecoder::take_given_up`] then says so).
    pub fn save_memory(&mut self, level: Level) {
        self.saving = level;
        if level >= Level::DropPayloads
            && let Some(m) = &mut self.msg
            && !m.discard
        {
            drop_copy(m, &self.cfg.memory);
            self.given_up |= 1;
        }
        if level >= Level::DropInflaters
            && let Some(inf) = &mut self.inflater
            && inf.drop_memory()
        {
            if let Some(m) = &mut self.msg
                && m.compressed
                && !m.holey
            {
                m.inflate_error.get_or_insert(InflateError::MemoryBudget);
            }
            self.cfg.memory.note_inflater_dropped();
            self.given_up |= 2;
        }
    }

    /// What was given up to save memory since the last call: (a payload copy, the inflater).
    pub fn take_given_up(&mut self) -> (bool, bool) {
        let g = std::mem::take(&mut self.given_up);
        (g & 1 != 0, g & 2 != 0)
    }

    /// How this direction is decoded.
    pub fn config(&self) -> &DirConfig {
        &self.cfg
    }

    /// Whether this endpoint sent a close frame.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Whether frames were found masked, once known (tells client from server when the roles
    /// were guessed).
    pub fn masked_seen(&self) -> Option<bool> {
        self.masked_seen
    }

    /// The earliest packet whose bytes this direction holds undecoded — a frame header split
    /// across packets, or bytes kept while looking for a frame boundary — and so may still
    /// produce output for; `None` when it holds none. Output keyed before it is final.
    #[inline]
    pub fn floor(&self) -> Option<u64> {
        let held = self.tentative.first().map(|(k, _)| *k);
        let undecoded = match &self.mode {
            Mode::Decoding(_) => self.header_at.map(|a| a.packet),
            Mode::Resync(s) => s.floor(),
        };
        match (held, undecoded) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Hands on what frames on probation said (the stream goes on past a gap or ends: the
    /// boundary is taken as it stands).
    fn release_tentative(&mut self, out: &mut impl FnMut(u64, WsOut)) {
        for (k, o) in self.tentative.drain(..) {
            out(k, o);
        }
    }

    /// Feeds the bytes at stream offset `offset`, carried by packet `at`. Every output comes with
    /// its order key: the packet of a frame's header for a frame, otherwise the packet whose
    /// bytes produced it (for a message, the one that completed it).
    pub fn feed(
        &mut self,
        offset: u64,
        data: &[u8],
        at: PacketRef,
        out: &mut impl FnMut(u64, WsOut),
    ) {
        let replay = if self.holds() {
            self.feed_held(offset, data, at, out)
        } else {
            self.feed_piece(offset, data, at, &mut keyed(at, out))
        };
        if let Some(replay) = replay {
            self.replay(replay, out);
        }
    }

    /// Feeds pieces found again by a search, in order; a later search may hand back more.
    fn replay(&mut self, resumed: Resumed, out: &mut impl FnMut(u64, WsOut)) {
        let mut work = std::collections::VecDeque::new();
        let mut next = Some(resumed);
        loop {
            if let Some(r) = next.take() {
                if let Some((note, at)) = r.note {
                    out(at.packet, note);
                }
                for p in r.pieces.into_iter().rev() {
                    work.push_front(p);
                }
            }
            let Some(p) = work.pop_front() else { break };
            next = if self.holds() {
                self.feed_held(p.offset, &p.bytes, p.at, out)
            } else {
                self.feed_piece(p.offset, &p.bytes, p.at, &mut keyed(p.at, out))
            };
        }
    }

    /// One piece; returns the bytes to feed again when a frame boundary was found in the bytes
    /// kept while searching.
    fn feed_piece(
        &mut self,
        offset: u64,
        data: &[u8],
        at: PacketRef,
        out: &mut impl FnMut(WsOut),
    ) -> Option<Resumed> {
        match &mut self.mode {
            Mode::Decoding(dec) => {
                debug_assert_eq!(dec.offset(), offset);
                let mut dec = std::mem::replace(dec, FrameDecoder::new(0));
                let r = dec.feed(data, &mut |item| self.on_item(item, at, out));
                self.after_feed(dec, r, offset, data, at, out)
            }
            Mode::Resync(s) => {
                s.push(offset, data, at);
                self.search(false)
            }
        }
    }

    /// Whether what the next piece's frames say is held ([`DirectionDecoder::tentative`]).
    #[inline]
    fn holds(&self) -> bool {
        !self.tentative.is_empty()
            || (self.holding && matches!(&self.mode, Mode::Decoding(d) if d.is_on_probation()))
    }

    /// [`DirectionDecoder::feed_piece`] on probation: what the frames say waits until the
    /// boundary is confirmed.
    fn feed_held(
        &mut self,
        offset: u64,
        data: &[u8],
        at: PacketRef,
        out: &mut impl FnMut(u64, WsOut),
    ) -> Option<Resumed> {
        let Mode::Decoding(dec) = &mut self.mode else {
            return self.feed_piece(offset, data, at, &mut keyed(at, out));
        };
        let mut dec = std::mem::replace(dec, FrameDecoder::new(0));
        let mut held = std::mem::take(&mut self.tentative);
        let r = {
            let mut hold = |k: u64, o: WsOut| held.push((k, o));
            let hold = &mut keyed(at, &mut hold);
            dec.feed(data, &mut |item| self.on_item(item, at, hold))
        };
        if r.as_ref().is_err_and(|lost| lost.refuted) && dec.is_on_probation() {
            // A wrong guess: nothing its frames said (the message they began included) is
            // handed on. (Refuted after its probation passed in this same piece, what they said
            // goes on, as it would have had the piece been cut where probation passed.)
            return self.after_feed(dec, r, offset, data, at, &mut |_| {});
        }
        let old = held.first().is_some_and(|(k, _)| at.packet > k + MAX_HOLD_PACKETS);
        self.holding &= !old;
        if r.is_ok() && dec.is_on_probation() && self.holding {
            self.tentative = held;
        } else {
            // Confirmed (or sync lost another way): handed on, in order.
            for (k, o) in held {
                out(k, o);
            }
        }
        self.after_feed(dec, r, offset, data, at, &mut keyed(at, out))
    }

    /// `len` bytes at stream offset `offset` are missing.
    pub fn gap(&mut self, offset: u64, len: u64, at: PacketRef, out: &mut impl FnMut(u64, WsOut)) {
        self.gap_with(offset, (len, true), at, out);
    }

    /// About `len` bytes at stream offset `offset` are missing, exactly `len` when `exact`.
    /// An inexact length (TLS CBC records lost: their padding is unknown) says nothing of where
    /// frames go on: the frame in progress is abandoned and frames are searched for after it.
    pub fn gap_with(
        &mut self,
        offset: u64,
        (len, exact): (u64, bool),
        at: PacketRef,
        out: &mut impl FnMut(u64, WsOut),
    ) {
        if let Mode::Resync(_) = self.mode {
            self.settle_before_gap(out);
        }
        if self.holds() && self.frames_end_at(offset) {
            // The frames on probation end exactly where bytes go missing, as frames that end a
            // stream do: what they said is taken as it stands, as at the stream's end.
            self.release_tentative(out);
            self.holding = false;
        }
        if !self.holds() {
            return self.gap_inner(offset, (len, exact), at, out);
        }
        // On probation: bytes missing inside a frame keep the guess on probation; missing
        // across a frame boundary, it can no longer be confirmed, and what it said is dropped.
        let mut held = std::mem::take(&mut self.tentative);
        self.gap_inner(offset, (len, exact), at, &mut |k, o| held.push((k, o)));
        if matches!(self.mode, Mode::Decoding(_)) {
            self.tentative = held;
            return;
        }
        let unconfirmed = held.iter().filter(|(_, o)| matches!(o, WsOut::Message(_))).count();
        if unconfirmed > 0 {
            let detail = format!(
                "{unconfirmed} message{} found after missing bytes could not be confirmed before \
                 more bytes went missing, and {} not shown (a chance pattern in the data reads \
                 as frames too)",
                if unconfirmed == 1 { "" } else { "s" },
                if unconfirmed == 1 { "is" } else { "are" }
            );
            let at_gap = Position { packet: at.packet, ts: at.ts, offset };
            out(at.packet, WsOut::Finding { check: CheckId::FrameSyncLost, detail, at: at_gap });
        }
    }

    /// Whether the frames decoded on probation end exactly at stream offset `offset`, at least
    /// [`resync::MIN_FRAMES_AT_END`] of them, as for a chain that ends a finished stream: their
    /// boundary passed a test already (a search's chain, [`resync::MIN_FRAMES_AT_CUT`] frames
    /// when it ended at a loss, or a client's frames from the first byte after a lost request),
    /// so the loss asks no more of them than a stream's end would.
    fn frames_end_at(&self, offset: u64) -> bool {
        matches!(&self.mode, Mode::Decoding(d)
            if d.at_frame_boundary()
                && d.offset() == offset
                && d.probation_passed().is_some_and(|n| n >= resync::MIN_FRAMES_AT_END))
    }

    fn gap_inner(
        &mut self,
        offset: u64,
        (len, exact): (u64, bool),
        at: PacketRef,
        out: &mut impl FnMut(u64, WsOut),
    ) {
        let out = &mut keyed(at, out);
        let pos = Position { packet: at.packet, ts: at.ts, offset };
        self.lost_context = true;
        if let Some(inf) = &mut self.inflater {
            inf.lose_context();
        }
        match &mut self.mode {
            Mode::Decoding(dec) => {
                let mut dec = std::mem::replace(dec, FrameDecoder::new(0));
                let between_frames =
                    self.msg.is_none() && self.frame.is_none() && offset > self.start;
                let r = if exact {
                    dec.gap(len, &mut |item| self.on_item(item, at, out)).is_ok()
                } else {
                    false
                };
                if !r {
                    self.abandon_message(pos, Cut::Gap, out);
                    if between_frames {
                        // No message is cut, so none says so: whole frames went missing, and
                        // only a `gap` event told (a lost message passed --fail-on warning).
                        out(WsOut::Finding {
                            check: CheckId::CaptureGap,
                            detail: format!(
                                "{}{len} bytes between frames are missing from the capture: \
                                 whole frames, perhaps whole messages, were not captured",
                                if exact { "" } else { "about " }
                            ),
                            at: pos,
                        });
                    }
                    self.mode = Mode::Resync(Searching::new(offset + len, true, 0));
                } else {
                    self.mode = Mode::Decoding(dec);
                }
            }
            Mode::Resync(_) => {
                // Start looking again after the gap; what was buffered before it is skipped,
                // but the chains whose next header comes after it are followed on.
                let skipped = self.resync_buffered();
                let expect = self.expect();
                let mut next = Searching::new(offset + len, true, skipped);
                if let Mode::Resync(s) = &mut self.mode {
                    next.tracked = s.carry_over(offset + len, expect);
                }
                self.mode = Mode::Resync(next);
            }
        }
    }

    /// The stream ended: an unfinished message is reported as incomplete, and bytes that never
    /// fitted a frame boundary are reported.
    pub fn finish(&mut self, offset: u64, at: PacketRef, out: &mut impl FnMut(u64, WsOut)) {
        // Nothing more will come: a chain ending exactly at the end of the data now counts.
        // Frames found may refute their boundary and search again: each pass starts further on
        // (a refutation moves past the chain's first frames), so the passes are bounded.
        for _ in 0..=self.resync_buffered() {
            let Mode::Resync(_) = self.mode else { break };
            let Some(replay) = self.search(true) else { break };
            self.replay(replay, out);
        }
        self.release_tentative(out);
        let out = &mut keyed(at, out);
        let pos = Position { packet: at.packet, ts: at.ts, offset };
        if self.frame.is_some() || self.msg.is_some() {
            self.abandon_message(pos, Cut::EndOfStream, out);
        }
        let skipped = self.resync_buffered();
        if skipped > 0 {
            out(WsOut::Finding {
                check: CheckId::FrameSyncLost,
                detail: format!(
                    "{skipped} bytes at the end of the stream could not be matched to frames"
                ),
                at: pos,
            });
        }
        self.mode = Mode::Decoding(FrameDecoder::new(offset));
    }

    fn resync_buffered(&self) -> u64 {
        match &self.mode {
            Mode::Resync(s) => s.skipped + s.buf.len() as u64,
            Mode::Decoding(_) => 0,
        }
    }

    #[inline(always)]
    fn after_feed(
        &mut self,
        dec: FrameDecoder,
        r: Result<(), SyncLost>,
        offset: u64,
        data: &[u8],
        at: PacketRef,
        out: &mut impl FnMut(WsOut),
    ) -> Option<Resumed> {
        match r {
            Ok(()) => {
                self.header_at = if dec.at_frame_boundary() || self.frame.is_some() {
                    None
                } else {
                    self.header_at.or(Some(at))
                };
                self.mode = Mode::Decoding(dec);
                None
            }
            Err(lost) => {
                // A 64-bit length with the MSB set (its length cannot be followed), or a header
                // that refuted a boundary found by searching: the frame boundary is searched for
                // again in the bytes after the header, or from the refuting "header" on.
                let pos = Position { packet: at.packet, ts: at.ts, offset: lost.offset };
                let cut = if lost.refuted { Cut::WrongBoundary } else { Cut::Protocol };
                self.abandon_message(pos, cut, out);
                if lost.refuted {
                    // What the refuted frames said is not known: a close frame among them did not
                    // close, their masking is no evidence, and what follows lacks context.
                    (self.closed, self.masked_seen) = self.before_guess;
                    self.lost_context = true;
                    if let Some(inf) = &mut self.inflater {
                        inf.lose_context();
                    }
                }
                let carried_at = self.header_at.take().unwrap_or(at);
                let rest = data
                    .get(
                        usize::try_from(lost.offset.saturating_sub(offset)).unwrap_or(usize::MAX)..,
                    )
                    .unwrap_or(&[]);
                let mut s = Searching::new(lost.offset, false, 0);
                // A refuted header split across pieces: its start came with earlier packets.
                let carried = if lost.offset < offset { dec.carried() } else { &[] };
                if !carried.is_empty() {
                    s.push(lost.offset, carried, carried_at);
                }
                s.push(lost.offset + carried.len() as u64, rest, at);
                if lost.refuted && lost.offset <= self.guess_at {
                    // The boundary's own first header refuted it (the search and probation
                    // disagree): search from the byte after it, never at the same place again.
                    s.resume = usize::try_from(self.guess_at + 1 - lost.offset).unwrap_or(0);
                }
                self.mode = Mode::Resync(s);
                self.search(false)
            }
        }
    }

    /// Looks for a frame boundary in the kept bytes; when found, decoding restarts there and the
    /// bytes from it are handed back to be fed again (with their own packets).
    #[inline(never)]
    fn search(&mut self, complete: bool) -> Option<Resumed> {
        let expect = self.expect();
        let max = self.cfg.max_resync;
        let Mode::Resync(s) = &mut self.mode else { return None };
        let found = s.find(expect, complete, max)?;
        Some(self.resume_at(found, expect))
    }

    /// Decoding resumes at offset `offset` of the kept bytes (frames masked as `masked`, `seen`
    /// frames of the chain found before it): the bytes to feed again, and a note on the bytes
    /// skipped.
    fn resume_at(
        &mut self,
        (offset, masked, seen): (usize, bool, usize),
        expect: Expect,
    ) -> Resumed {
        let Mode::Resync(s) = &mut self.mode else {
            return Resumed { note: None, pieces: Vec::new() };
        };
        let mut offset = offset;
        if seen == 0 {
            // A chance header whose length leads to a real frame swallows the real frames
            // before it: frames start inside it when they end exactly where it does.
            for _ in 0..4 {
                let Some(inner) = resync::swallowed_by_first(&s.buf, offset, expect) else { break };
                offset = inner;
            }
            if let Some(len) = resync::empty_opening_fragment(&s.buf, offset) {
                offset += len;
            }
        }
        let total_skipped = s.skipped + offset as u64;
        let frame_start = s.start + offset as u64;
        let pieces = s.pieces_from(offset);
        let found_at = s.packet_of(frame_start);
        let after_gap = s.after_gap;
        // Frames that resume right after missing bytes skipped nothing: the gap (and the
        // message it cut) is reported already.
        let mut note = None;
        if total_skipped > 0 {
            let mut detail = if after_gap {
                format!(
                    "skipped {total_skipped} bytes after missing bytes before a frame boundary was found again"
                )
            } else {
                format!("skipped {total_skipped} bytes before a frame boundary was found again")
            };
            if seen > 0 {
                // The chain's frames before the boundary: their headers were read, their
                // payloads not kept (longer than --max-resync).
                detail += &format!(
                    "; the last {seen} frame{} of them {} found by {} headers, but not kept \
                     (the search keeps --max-resync bytes, and they held too few frames to be \
                     sure of)",
                    if seen == 1 { "" } else { "s" },
                    if seen == 1 { "was" } else { "were" },
                    if seen == 1 { "its" } else { "their" },
                );
            }
            let at = Position { packet: found_at.packet, ts: found_at.ts, offset: frame_start };
            note = Some((WsOut::Finding { check: CheckId::FrameSyncLost, detail, at }, found_at));
        }
        self.decode_from_guess(frame_start, expect.rsv_allowed, masked);
        if let Mode::Decoding(d) = &mut self.mode {
            *d = std::mem::replace(d, FrameDecoder::new(0)).passed(seen);
        }
        Resumed { note, pieces }
    }

    /// Bytes are about to go missing while a frame boundary is searched for: a chain in the
    /// kept bytes that is convincing already (it waited behind earlier chains still undecided)
    /// is taken now, or its bytes would go with the search. (Four times at most: each takes
    /// bytes, and a refuted one searches the rest itself.)
    #[cold]
    fn settle_before_gap(&mut self, out: &mut impl FnMut(u64, WsOut)) {
        for _ in 0..4 {
            let expect = self.expect();
            let Mode::Resync(s) = &mut self.mode else { return };
            let Some(found) = s.convincing_now(expect) else { return };
            let resumed = self.resume_at(found, expect);
            self.replay(resumed, out);
        }
    }

    /// What headers of this direction must look like while its frame boundary is searched for.
    fn expect(&self) -> Expect {
        Expect {
            masked: if self.cfg.from_start || self.masked_seen.is_some() {
                Some(self.masked_seen.unwrap_or(self.cfg.from_client))
            } else {
                None
            },
            // What the handshake negotiated (frames found without one allow RSV1: their
            // configuration says so); a guess that the lost bytes held a compressed frame made
            // a chance RSV1 header inside a payload the peer's `reserved_bits_set` error.
            rsv_allowed: self.cfg.rsv_allowed,
            evidence: resync::Evidence::Resync,
            run_from: match &self.mode {
                Mode::Resync(s) if s.after_gap => Some(s.resumed_at),
                _ => None,
            },
        }
    }

    /// One item from the frame decoder.
    fn on_item(&mut self, item: FrameItem<'_>, at: PacketRef, out: &mut impl FnMut(WsOut)) {
        // A frame (and its message) is complete in the capture once its last captured piece is:
        // with segments captured out of order, not always the piece of its last byte.
        let later = |p: &mut PacketRef| {
            if at.packet >= p.packet {
                *p = at;
            }
        };
        if let Some(f) = &mut self.frame {
            later(&mut f.latest);
        }
        if let Some(m) = &mut self.msg {
            later(&mut m.latest);
        }
        match item {
            FrameItem::Header { header, offset } => {
                let hp = self.header_at.take().unwrap_or(at);
                self.on_header(header, Position { packet: hp.packet, ts: hp.ts, offset }, out);
                if let Some(f) = &mut self.frame {
                    later(&mut f.latest);
                }
                if let Some(m) = &mut self.msg {
                    later(&mut m.latest);
                }
            }
            FrameItem::Payload(chunk) => self.on_payload(chunk),
            FrameItem::PayloadGap(n) => {
                if let Some(f) = &mut self.frame {
                    f.seen += n;
                    if f.hole.0 == 0 {
                        f.hole.1 = self.control.len();
                    }
                    f.hole.0 += n;
                    if f.role == Role::Data
                        && let Some(m) = &mut self.msg
                    {
                        m.holey = true;
                        m.hole_bytes += n;
                        m.wire_length += n;
                        // Uncompressed, the missing bytes are application bytes too; compressed,
                        // what they would have inflated to is unknown.
                        if !m.compressed {
                            m.length += n;
                        }
                    }
                }
            }
            FrameItem::End => self.on_frame_end(at, out),
        }
    }

    fn on_header(&mut self, h: FrameHeader, pos: Position, out: &mut impl FnMut(WsOut)) {
        out(WsOut::Frame { header: h, at: pos });
        let mut find =
            |check: CheckId, detail: String| out(WsOut::Finding { check, detail, at: pos });
        let expect_masked = self.masked_seen.unwrap_or(self.cfg.from_client);
        match (expect_masked, h.mask.is_some()) {
            (true, false) if self.cfg.from_client => find(
                CheckId::ClientFrameUnmasked,
                format!("{} frame from the client is not masked", h.opcode),
            ),
            (false, true) if !self.cfg.from_client => find(
                CheckId::ServerFrameMasked,
                format!("{} frame from the server is masked", h.opcode),
            ),
            _ => {}
        }
        let deflate = self.inflater.is_some();
        let rsv1 = h.rsv & 0b100 != 0;
        if h.rsv & 0b011 & !self.cfg.rsv_allowed != 0
            || (rsv1 && !deflate && self.cfg.rsv_allowed & 0b100 == 0)
        {
            find(
                CheckId::ReservedBitsSet,
                format!("RSV bits {:03b} set without an extension that defines them", h.rsv),
            );
        }
        if !h.length_is_minimal() {
            find(
                CheckId::NonMinimalLength,
                format!("payload length {} written with {:?} encoding", h.payload_len, h.encoding),
            );
        }
        if h.length_msb_set() {
            find(
                CheckId::LengthMsbSet,
                format!(
                    "64-bit payload length {:#x} has its most significant bit set",
                    h.payload_len
                ),
            );
        }
        let role = match h.opcode {
            OpCode::Reserved(b) => {
                find(CheckId::ReservedOpcode, format!("opcode {b:#x} is reserved; frame skipped"));
                Role::Ignored
            }
            op if op.is_control() => {
                if h.payload_len > 125 {
                    find(
                        CheckId::ControlFrameTooLong,
                        format!("{op} frame carries {} bytes (at most 125)", h.payload_len),
                    );
                }
                if !h.fin {
                    find(CheckId::ControlFrameFragmented, format!("{op} frame has FIN clear"));
                }
                if rsv1 && deflate {
                    find(CheckId::CompressedBitMisplaced, format!("RSV1 set on a {op} frame"));
                }
                self.control.clear();
                Role::Control
            }
            OpCode::Continuation => {
                if rsv1 && deflate {
                    find(
                        CheckId::CompressedBitMisplaced,
                        "RSV1 set on a continuation frame".to_string(),
                    );
                }
                if self.closed {
                    find(
                        CheckId::DataAfterClose,
                        "continuation frame after this endpoint's close frame".to_string(),
                    );
                }
                match &mut self.msg {
                    Some(m) => {
                        m.fragments += 1;
                        m.last = pos;
                        Role::Data
                    }
                    None if self.lost_context => {
                        find(
                            CheckId::ContinuationWithoutStart,
                            "continuation frame whose message started before missing bytes or \
                             before the capture began; skipped"
                                .to_string(),
                        );
                        Role::Ignored
                    }
                    None => {
                        find(
                            CheckId::UnexpectedContinuation,
                            "continuation frame with no fragmented message in progress; skipped"
                                .to_string(),
                        );
                        Role::Ignored
                    }
                }
            }
            op => {
                if self.closed {
                    find(
                        CheckId::DataAfterClose,
                        format!("{op} frame after this endpoint's close frame"),
                    );
                }
                if self.msg.is_some() {
                    find(
                        CheckId::MessageInterrupted,
                        format!(
                            "{op} frame started while a fragmented message was unfinished; that message is cut"
                        ),
                    );
                    self.abandon_message(pos, Cut::Protocol, out);
                }
                // Uncompressed, the first frame's length is the message's (or a lower bound when
                // fragmented): small messages get one allocation. Larger ones grow as their bytes
                // arrive — never from a declared length alone, which costs an attacker 14 bytes.
                let capacity = if rsv1 && deflate {
                    0
                } else {
                    h.payload_len.min(self.cfg.max_message as u64).min(INITIAL_MESSAGE_CAPACITY)
                };
                self.start_message(op, rsv1 && deflate, pos, capacity as usize);
                Role::Data
            }
        };
        let latest = PacketRef::new(pos.ts, pos.packet);
        self.frame = Some(FrameState { header: h, pos, role, seen: 0, hole: (0, 0), latest });
    }

    fn start_message(&mut self, opcode: OpCode, compressed: bool, pos: Position, capacity: usize) {
        self.lost_context = false;
        let saving = self.saving.max(self.cfg.memory.level());
        let dropped = self.cfg.keep_payloads && saving >= Level::DropPayloads;
        if dropped {
            self.cfg.memory.note_payload_dropped();
            self.given_up |= 1;
        }
        let discard = !self.cfg.keep_payloads || dropped;
        self.msg = Some(MessageState {
            opcode,
            compressed,
            fragments: 1,
            first: pos,
            last: pos,
            wire_length: 0,
            length: 0,
            buf: if discard { Vec::new() } else { Vec::with_capacity(capacity) },
            discard,
            dropped,
            truncated: false,
            utf8: (discard && opcode == OpCode::Text).then(Utf8Stream::default),
            latest: PacketRef::new(pos.ts, pos.packet),
            holey: false,
            hole_bytes: 0,
            unfinished: false,
            inflate_error: None,
        });
    }

    /// A piece of the current frame's payload (masked as on the wire). Bytes are unmasked where
    /// they are kept — the message or control buffer — so each is copied once; bytes that are not
    /// kept (inflater input, text beyond the size limit or not kept at all) are unmasked in pieces
    /// on the stack.
    fn on_payload(&mut self, chunk: &[u8]) {
        let Some(frame) = &mut self.frame else { return };
        let phase = (frame.seen & 3) as usize;
        frame.seen += chunk.len() as u64;
        let mask = frame.header.mask;
        match frame.role {
            Role::Ignored => {}
            Role::Control => {
                let room = self.cfg.max_message.max(125).saturating_sub(self.control.len());
                append_unmasked(&mut self.control, &chunk[..chunk.len().min(room)], mask, phase);
            }
            Role::Data => {
                let Some(m) = &mut self.msg else { return };
                m.wire_length += chunk.len() as u64;
                let (max, mem) = (self.cfg.max_message, &self.cfg.memory);
                if !m.compressed && m.discard {
                    // Only text needs its bytes (to validate them); unmask only then.
                    if m.utf8.is_some() {
                        each_unmasked(chunk, mask, phase, |plain| keep(m, plain, max, mem));
                    } else {
                        m.length += chunk.len() as u64;
                        m.truncated = m.length > max as u64;
                    }
                    return;
                }
                if !m.compressed {
                    let kept = chunk.len().min(max.saturating_sub(m.buf.len()));
                    append_unmasked(&mut m.buf, &chunk[..kept], mask, phase);
                    m.length += kept as u64;
                    if kept < chunk.len() {
                        // Beyond the limit: counted and validated, not kept.
                        each_unmasked(&chunk[kept..], mask, phase + kept, |plain| {
                            keep(m, plain, max, mem)
                        });
                    }
                    return;
                }
                if m.holey || m.inflate_error.is_some() {
                    return;
                }
                let limit = self.cfg.max_inflate;
                if let Some(inf) = &mut self.inflater {
                    each_unmasked(chunk, mask, phase, |data| {
                        let r = inf.feed(data, limit, &mut |plain: &[u8]| keep(m, plain, max, mem));
                        if let Err(e) = r {
                            m.inflate_error.get_or_insert(e);
                        }
                    });
                }
            }
        }
    }

    fn on_frame_end(&mut self, at: PacketRef, out: &mut impl FnMut(WsOut)) {
        let Some(frame) = self.frame.take() else { return };
        let h = &frame.header;
        let last = if frame.latest.packet >= at.packet { frame.latest } else { at };
        let end = Position {
            packet: last.packet,
            ts: last.ts,
            offset: frame.pos.offset + u64::from(h.header_len) + h.payload_len,
        };
        match frame.role {
            Role::Ignored => {}
            Role::Control => {
                let (h, pos) = (frame.header, frame.pos);
                self.finish_control(h, pos, (end, last.ack), frame.hole, out)
            }
            Role::Data if frame.header.fin => self.finish_message(end, out),
            Role::Data => {}
        }
    }

    /// A control frame ended; `missing` of its payload bytes were not captured, the first of
    /// them after `before` bytes kept.
    fn finish_control(
        &mut self,
        h: FrameHeader,
        pos: Position,
        (end, end_ack): (Position, Option<u32>),
        (missing, before): (u64, usize),
        out: &mut impl FnMut(WsOut),
    ) {
        let payload = std::mem::take(&mut self.control);
        let mut violations = Vec::new();
        let close = (h.opcode == OpCode::Close).then(|| {
            self.closed = true;
            // With bytes missing, only a code captured whole before them is known (its reason
            // is not, and joining the bytes around a hole would make up another).
            let kept = if missing == 0 { &payload[..] } else { &payload[..before.min(2)] };
            if missing > 0 && kept.len() < 2 {
                return (None, String::new());
            }
            let c = parse_close(kept);
            violations = c.violations;
            (c.code, c.reason)
        });
        let truncated = missing == 0 && (payload.len() as u64) < h.payload_len;
        out(WsOut::Message(Box::new(Message {
            opcode: h.opcode,
            length: Some(h.payload_len),
            captured_length: h.payload_len - missing,
            wire_length: h.payload_len,
            compressed: false,
            fragments: 1,
            first: pos,
            last: pos,
            end,
            truncated,
            payload: if missing == 0 { Payload::Bytes(payload) } else { Payload::Unavailable },
            close,
            incomplete: missing > 0,
            missing: Some(missing),
            acked: end_ack,
        })));
        for (check, detail) in violations {
            out(WsOut::Finding { check, detail, at: pos });
        }
    }

    /// The last frame of a data message ended: inflate the tail, check UTF-8, report it.
    fn finish_message(&mut self, end: Position, out: &mut impl FnMut(WsOut)) {
        let Some(mut m) = self.msg.take() else { return };
        let end = if m.latest.packet > end.packet {
            Position { packet: m.latest.packet, ts: m.latest.ts, offset: end.offset }
        } else {
            end
        };
        if m.compressed && !m.holey && m.inflate_error.is_none() {
            if let Some(inf) = &mut self.inflater {
                let (max, limit) = (self.cfg.max_message, self.cfg.max_inflate);
                let mem = &self.cfg.memory;
                if let Err(e) = inf.finish(limit, &mut |plain| keep(&mut m, plain, max, mem)) {
                    m.inflate_error = Some(e);
                }
            }
        } else if m.compressed
            && let Some(inf) = &mut self.inflater
        {
            let _ = inf.finish(0, &mut |_: &[u8]| {});
        }
        self.report(m, None, end, Some(0), out);
    }

    /// A message cannot be finished: report what is known of it, marked truncated. A control
    /// frame cut the same way is dropped (its payload is at most 125 bytes and its meaning lies
    /// in being whole).
    fn abandon_message(&mut self, pos: Position, cut: Cut, out: &mut impl FnMut(WsOut)) {
        // The rest of the frame in progress is known when it is the message's last one.
        let tail = match self.frame.take() {
            Some(f) if f.role == Role::Data && f.header.fin => {
                Some(f.header.payload_len.saturating_sub(f.seen))
            }
            _ => None,
        };
        self.control.clear();
        let Some(mut m) = self.msg.take() else { return };
        m.unfinished = true;
        if m.compressed
            && let Some(inf) = &mut self.inflater
        {
            let _ = inf.finish(0, &mut |_: &[u8]| {});
            inf.lose_context();
        }
        self.report(m, Some(cut), pos, tail, out);
    }

    /// Reports a message; `tail`: payload bytes of its last frame that never came (known only
    /// when that frame's header was seen).
    fn report(
        &mut self,
        mut m: MessageState,
        cut: Option<Cut>,
        end: Position,
        tail: Option<u64>,
        out: &mut impl FnMut(WsOut),
    ) {
        let mut findings = Vec::new();
        if m.holey || cut == Some(Cut::Gap) {
            findings.push((
                CheckId::CaptureGap,
                format!(
                    "{} message {}: bytes of it are missing from the capture",
                    m.opcode,
                    if m.holey {
                        "has a hole; its content is not shown"
                    } else {
                        "is cut off; only its start is shown"
                    }
                ),
            ));
        }
        let cut_in_char = cut_inside_a_character(&m);
        let payload = if m.holey {
            Payload::Unavailable
        } else if let Some(e) = &m.inflate_error {
            let (check, detail) = match e {
                InflateError::Corrupt(why) => {
                    (CheckId::InflateFailed, format!("cannot inflate: {why}"))
                }
                InflateError::MissingContext(why) => {
                    self.missing_context += 1;
                    (
                        CheckId::InflateMissingContext,
                        format!(
                            "cannot inflate: missing context (the message refers to data the \
                             capture did not see: {why}). Earlier messages of this direction were \
                             not all seen (the capture began after the connection did, lost bytes \
                             of it, or wsscope stopped following it under --idle-timeout or \
                             --memory-budget), so its compressed messages that refer to them \
                             cannot be shown: they are listed with their length on the wire, and \
                             this finding is made once per direction. To see them, capture the \
                             whole connection from before the client connects (reconnect the \
                             client while capturing), without losing packets"
                        ),
                    )
                }
                InflateError::Limit(n) => (
                    CheckId::DecompressionLimit,
                    format!(
                        "inflation stopped after {n} bytes (--max-inflate-size {})",
                        self.cfg.max_inflate
                    ),
                ),
                InflateError::MemoryBudget => (
                    CheckId::MemoryBudget,
                    "not inflated: this direction's inflater was given up to stay under the \
                     memory budget (--memory-budget)"
                        .to_string(),
                ),
            };
            // Said once per direction: later messages have the same cause.
            if check != CheckId::InflateMissingContext || self.missing_context == 1 {
                findings.push((check, detail));
            }
            match e {
                InflateError::Limit(_) => payload_and_utf8(&mut m).0,
                _ => Payload::Unavailable,
            }
        } else {
            let (payload, utf8) = payload_and_utf8(&mut m);
            match utf8 {
                // An unfinished message may end inside a character; only earlier errors count.
                Err(at) if !m.unfinished || at < m.length.saturating_sub(3) => findings.push((
                    CheckId::TextNotUtf8,
                    format!("text message is not valid UTF-8 (first invalid byte at {at})"),
                )),
                _ => {}
            }
            if m.truncated {
                findings.push((
                    CheckId::MessageTooLarge,
                    format!(
                        "{}-byte message; payload kept up to --max-message-size {}",
                        m.length, self.cfg.max_message
                    ),
                ));
            }
            payload
        };
        let truncated =
            m.truncated || m.dropped || (cut_in_char && payload != Payload::Unavailable);
        if m.dropped {
            self.given_up |= 1;
        }
        let at = m.first;
        let complete = !(m.holey || m.unfinished);
        // A length that cannot be followed (a protocol error) says nothing about what is missing.
        let tail =
            if matches!(cut, Some(Cut::Protocol | Cut::WrongBoundary)) { None } else { tail };
        let missing =
            if complete { Some(0) } else { tail.and_then(|t| t.checked_add(m.hole_bytes)) };
        // Uncompressed, `m.length` counts the bytes of holes inside frames too.
        let captured_length =
            if m.compressed { m.length } else { m.length.saturating_sub(m.hole_bytes) };
        let length = if m.inflate_error.is_some() || (!complete && m.compressed) {
            None
        } else if complete {
            Some(m.length)
        } else {
            missing.and_then(|n| captured_length.checked_add(n))
        };
        // Fewer bytes than decoded: nothing is missing from nothing (a message the budget left
        // uninflated decoded none, and said `truncated: true, captured_length: 0`).
        let truncated = truncated && captured_length > 0;
        out(WsOut::Message(Box::new(Message {
            opcode: m.opcode,
            length,
            captured_length,
            wire_length: m.wire_length,
            compressed: m.compressed,
            fragments: m.fragments,
            first: m.first,
            last: m.last,
            end,
            payload,
            truncated,
            close: None,
            incomplete: m.holey || m.unfinished,
            missing,
            acked: m.latest.ack,
        })));
        for (check, detail) in findings {
            out(WsOut::Finding { check, detail, at });
        }
    }
}

/// The output callback of one piece: a frame is keyed by its header's packet, everything else by
/// the packet being decoded.
fn keyed(at: PacketRef, out: &mut impl FnMut(u64, WsOut)) -> impl FnMut(WsOut) + '_ {
    move |o: WsOut| {
        let key = match &o {
            WsOut::Frame { at, .. } => at.packet,
            _ => at.packet,
        };
        out(key, o)
    }
}

/// Whether an unfinished text message the size limit did not cut ends inside a character: its
/// text is shown up to that character, fewer bytes than were captured, so it is reported
/// truncated. Decided from the validation, so the same whether payloads are kept or not.
fn cut_inside_a_character(m: &MessageState) -> bool {
    if m.opcode != OpCode::Text || !m.unfinished || m.truncated {
        return false;
    }
    let (len, first_invalid) = match (&m.utf8, m.discard) {
        (Some(u), true) => (m.length, u.finish().err()),
        _ => {
            let p = super::utf8::valid_prefix(&m.buf) as u64;
            (m.buf.len() as u64, (p < m.buf.len() as u64).then_some(p))
        }
    };
    // As `payload_and_utf8` decides: an error within the last 3 bytes is a cut character.
    first_invalid.is_some_and(|at| at + 3 >= len)
}

/// The payload as shown — text for a text message that is valid UTF-8 (cut at a character
/// boundary when only a prefix is kept), bytes otherwise — and whether the whole text was valid
/// (`Err(offset of the first invalid byte)`). A message kept whole is validated exactly once, by
/// moving its buffer into a `String`; a truncated one was validated as it arrived.
fn payload_and_utf8(m: &mut MessageState) -> (Payload, Result<(), u64>) {
    let buf = std::mem::take(&mut m.buf);
    if m.opcode != OpCode::Text {
        return (Payload::Bytes(buf), Ok(()));
    }
    let cut_ok = m.truncated || m.unfinished;
    // `prefix`: the longest valid start of the kept bytes.
    let (valid, prefix, mut bytes) = match &m.utf8 {
        Some(u) => (u.finish(), super::utf8::valid_prefix(&buf), buf),
        None => match super::utf8::into_string(buf) {
            Ok(s) => return (Payload::Text(s), Ok(())),
            Err((at, bytes)) => (Err(at as u64), at, bytes),
        },
    };
    // A kept prefix may end inside a character: show it up to there, reported as truncated.
    if valid.is_ok() || (cut_ok && prefix + 3 >= bytes.len()) {
        bytes.truncate(prefix);
        if let Ok(s) = super::utf8::into_string(bytes) {
            return (Payload::Text(s), valid);
        }
        return (Payload::Bytes(Vec::new()), valid);
    }
    (Payload::Bytes(bytes), valid)
}

/// Appends `src` to `dst`, unmasking the appended bytes in place (`phase`: payload bytes of the
/// frame before `src`).
fn append_unmasked(dst: &mut Vec<u8>, src: &[u8], mask: Option<[u8; 4]>, phase: usize) {
    let start = dst.len();
    dst.extend_from_slice(src);
    if let Some(key) = mask {
        unmask(&mut dst[start..], key, phase);
    }
}

/// Calls `f` with `src` unmasked: `src` itself when the frame is not masked, else unmasked
/// copies of it in pieces of a stack buffer (no heap memory per direction).
fn each_unmasked(src: &[u8], mask: Option<[u8; 4]>, phase: usize, mut f: impl FnMut(&[u8])) {
    let Some(key) = mask else { return f(src) };
    let mut buf = [0u8; 1024];
    let mut done = 0;
    for piece in src.chunks(buf.len()) {
        let out = &mut buf[..piece.len()];
        unmask_into(out, piece, key, phase + done);
        done += piece.len();
        f(out);
    }
}

/// Drops a message's payload copy to save memory: from here on its bytes are counted and
/// validated, not kept, and it is reported truncated.
fn drop_copy(m: &mut MessageState, memory: &Memory) {
    if m.discard {
        return;
    }
    if m.opcode == OpCode::Text && m.utf8.is_none() {
        let mut u = Utf8Stream::default();
        u.push(&m.buf);
        m.utf8 = Some(u);
    }
    m.buf = Vec::new();
    m.discard = true;
    m.dropped = true;
    memory.note_payload_dropped();
}

/// Counts and keeps (up to `max`) application bytes of a message, validating text.
///
/// Text is validated once at the end while the message fits; from the moment it no longer fits,
/// the kept prefix and everything after it go through the incremental validator instead.
///
/// A payload copy about to grow while the memory budget is past half is dropped instead (an
/// inflated message grows by up to `--max-message-size` within one packet).
fn keep(m: &mut MessageState, plain: &[u8], max: usize, memory: &Memory) {
    if !m.discard
        && m.buf.len() + plain.len() > m.buf.capacity()
        && memory.level() >= Level::DropPayloads
    {
        drop_copy(m, memory);
    }
    m.length += plain.len() as u64;
    if m.discard {
        m.truncated = m.length > max as u64;
        if let Some(u) = &mut m.utf8 {
            u.push(plain);
        }
        return;
    }
    let room = max.saturating_sub(m.buf.len());
    let kept = plain.len().min(room);
    m.buf.extend_from_slice(&plain[..kept]);
    if kept < plain.len() {
        if !m.truncated && m.opcode == OpCode::Text {
            let mut u = Utf8Stream::default();
            u.push(&m.buf);
            m.utf8 = Some(u);
        }
        m.truncated = true;
        if let Some(u) = &mut m.utf8 {
            u.push(&plain[kept..]);
        }
    }
}
