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
use super::mask::unmask;
use super::opcode::{CloseCode, OpCode};
use super::resync::{self, Expect, Found};
use super::utf8::Utf8Stream;
use crate::analyzer::checks::CheckId;
use crate::event::{Payload, Position};
use crate::tcp::PacketRef;

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
}

/// A complete message (or control frame).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Opcode of the first frame.
    pub opcode: OpCode,
    /// Application payload length (after inflation), as far as it is known.
    pub length: u64,
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
    /// Payload as shown.
    pub payload: Payload,
    /// `payload` holds less than `length`.
    pub truncated: bool,
    /// For close frames: code and reason.
    pub close: Option<(Option<CloseCode>, String)>,
    /// Bytes of the message are missing from the capture.
    pub incomplete: bool,
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
    truncated: bool,
    /// Validates text once the message no longer fits in `buf` (None while it fits).
    utf8: Option<Utf8Stream>,
    /// Bytes inside the message are missing from the capture (its content has a hole).
    holey: bool,
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
    /// The stream ended.
    EndOfStream,
}

#[derive(Debug)]
enum Mode {
    /// Following frames.
    Decoding(FrameDecoder),
    /// Looking for a frame boundary in `buf`, which starts at stream offset `start`.
    Resync { buf: Vec<u8>, start: u64, resume: usize, skipped: u64, after_gap: bool },
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
    /// Whether the frames seen were masked (learned during resync when the role was a guess).
    masked_seen: Option<bool>,
}

impl DirectionDecoder {
    /// A decoder whose stream position `offset` is the first byte after the handshake (or the
    /// first byte captured, for mid-stream pickup).
    pub fn new(cfg: DirConfig, offset: u64) -> Self {
        let inflater = cfg.deflate.map(|no_takeover| Inflater::new(no_takeover, cfg.from_start));
        let mode = if cfg.from_start {
            Mode::Decoding(FrameDecoder::new(offset))
        } else {
            Mode::Resync { buf: Vec::new(), start: offset, resume: 0, skipped: 0, after_gap: false }
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
            masked_seen: None,
        }
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

    /// Feeds the bytes at stream offset `offset`, carried by packet `at`.
    pub fn feed(&mut self, offset: u64, data: &[u8], at: PacketRef, out: &mut impl FnMut(WsOut)) {
        match &mut self.mode {
            Mode::Decoding(dec) => {
                debug_assert_eq!(dec.offset(), offset);
                let mut dec = std::mem::replace(dec, FrameDecoder::new(0));
                let r = dec.feed(data, &mut |item| self.on_item(item, at, out));
                self.after_feed(dec, r, offset, data, at, out);
            }
            Mode::Resync { buf, .. } => {
                buf.extend_from_slice(data);
                self.try_resync(at, false, out);
            }
        }
    }

    /// `len` bytes at stream offset `offset` are missing.
    pub fn gap(&mut self, offset: u64, len: u64, at: PacketRef, out: &mut impl FnMut(WsOut)) {
        let pos = Position { packet: at.packet, ts: at.ts, offset };
        if let Some(inf) = &mut self.inflater {
            inf.lose_context();
        }
        match &mut self.mode {
            Mode::Decoding(dec) => {
                let mut dec = std::mem::replace(dec, FrameDecoder::new(0));
                let r = dec.gap(len, &mut |item| self.on_item(item, at, out));
                if r.is_err() {
                    self.abandon_message(pos, Cut::Gap, out);
                    self.mode = Mode::Resync {
                        buf: Vec::new(),
                        start: offset + len,
                        resume: 0,
                        skipped: 0,
                        after_gap: true,
                    };
                } else {
                    self.mode = Mode::Decoding(dec);
                }
            }
            Mode::Resync { .. } => {
                // Start looking again after the gap; what was buffered before it is skipped.
                let skipped = self.resync_buffered();
                self.mode = Mode::Resync {
                    buf: Vec::new(),
                    start: offset + len,
                    resume: 0,
                    skipped,
                    after_gap: true,
                };
            }
        }
    }

    /// The stream ended: an unfinished message is reported as incomplete, and bytes that never
    /// fitted a frame boundary are reported.
    pub fn finish(&mut self, offset: u64, at: PacketRef, out: &mut impl FnMut(WsOut)) {
        let pos = Position { packet: at.packet, ts: at.ts, offset };
        // Nothing more will come: a chain ending exactly at the end of the data now counts.
        if matches!(self.mode, Mode::Resync { .. }) {
            self.try_resync(at, true, out);
        }
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
            Mode::Resync { buf, skipped, .. } => skipped + buf.len() as u64,
            Mode::Decoding(_) => 0,
        }
    }

    fn after_feed(
        &mut self,
        dec: FrameDecoder,
        r: Result<(), SyncLost>,
        offset: u64,
        data: &[u8],
        at: PacketRef,
        out: &mut impl FnMut(WsOut),
    ) {
        match r {
            Ok(()) => {
                self.header_at = if dec.at_frame_boundary() || self.frame.is_some() {
                    None
                } else {
                    self.header_at.or(Some(at))
                };
                self.mode = Mode::Decoding(dec);
            }
            Err(lost) => {
                // Only a 64-bit length with the MSB set gets here: its length cannot be followed,
                // so the frame boundary is searched for again in the bytes after its header.
                let pos = Position { packet: at.packet, ts: at.ts, offset: lost.offset };
                self.abandon_message(pos, Cut::Protocol, out);
                let rest = data.get(
                    usize::try_from(lost.offset.saturating_sub(offset)).unwrap_or(usize::MAX)..,
                );
                self.mode = Mode::Resync {
                    buf: rest.unwrap_or(&[]).to_vec(),
                    start: lost.offset,
                    resume: 0,
                    skipped: 0,
                    after_gap: false,
                };
                self.try_resync(at, false, out);
            }
        }
    }

    fn try_resync(&mut self, at: PacketRef, complete: bool, out: &mut impl FnMut(WsOut)) {
        let Mode::Resync { buf, start, resume, skipped, after_gap } = &mut self.mode else {
            return;
        };
        let expect = Expect {
            masked: if self.cfg.from_start || self.masked_seen.is_some() {
                Some(self.masked_seen.unwrap_or(self.cfg.from_client))
            } else {
                None
            },
            rsv_allowed: if self.cfg.from_start {
                self.cfg.rsv_allowed
            } else {
                self.cfg.rsv_allowed | 0b100
            },
        };
        match resync::find_boundary_from(buf, *resume, expect, complete) {
            Found::At { offset, masked } => {
                let total_skipped = *skipped + offset as u64;
                let frame_start = *start + offset as u64;
                let rest = buf.split_off(offset);
                let after_gap = *after_gap;
                self.masked_seen = Some(masked);
                if total_skipped > 0 || after_gap {
                    out(WsOut::Finding {
                        check: CheckId::FrameSyncLost,
                        detail: format!(
                            "skipped {total_skipped} bytes {}before a frame boundary was found again",
                            if after_gap { "after missing bytes " } else { "" }
                        ),
                        at: Position { packet: at.packet, ts: at.ts, offset: frame_start },
                    });
                }
                self.mode = Mode::Decoding(FrameDecoder::new(frame_start));
                self.feed(frame_start, &rest, at, out);
            }
            Found::NotYet { resume_from } => {
                *resume = resume_from;
                if buf.len() > self.cfg.max_resync {
                    // Give up on the oldest bytes: keep the newest quarter to search in.
                    let drop = buf.len() - self.cfg.max_resync / 4;
                    buf.drain(..drop);
                    *start += drop as u64;
                    *skipped += drop as u64;
                    *resume = resume.saturating_sub(drop);
                }
            }
        }
    }

    /// One item from the frame decoder.
    fn on_item(&mut self, item: FrameItem<'_>, at: PacketRef, out: &mut impl FnMut(WsOut)) {
        match item {
            FrameItem::Header { header, offset } => {
                let hp = self.header_at.take().unwrap_or(at);
                self.on_header(header, Position { packet: hp.packet, ts: hp.ts, offset }, out);
            }
            FrameItem::Payload(chunk) => self.on_payload(chunk),
            FrameItem::PayloadGap(n) => {
                if let Some(f) = &mut self.frame {
                    f.seen += n;
                    if f.role == Role::Data
                        && let Some(m) = &mut self.msg
                    {
                        m.holey = true;
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
                // fragmented): one allocation instead of repeated doubling.
                let capacity = if rsv1 && deflate {
                    0
                } else {
                    h.payload_len.min(self.cfg.max_message as u64)
                };
                self.start_message(op, rsv1 && deflate, pos, capacity as usize);
                Role::Data
            }
        };
        self.frame = Some(FrameState { header: h, pos, role, seen: 0 });
    }

    fn start_message(&mut self, opcode: OpCode, compressed: bool, pos: Position, capacity: usize) {
        let discard = !self.cfg.keep_payloads;
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
            truncated: false,
            utf8: (discard && opcode == OpCode::Text).then(Utf8Stream::default),
            holey: false,
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
                let max = self.cfg.max_message;
                if !m.compressed && m.discard {
                    // Only text needs its bytes (to validate them); unmask only then.
                    if m.utf8.is_some() {
                        each_unmasked(chunk, mask, phase, |plain| keep(m, plain, max));
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
                            keep(m, plain, max)
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
                        let r = inf.feed(data, limit, &mut |plain: &[u8]| keep(m, plain, max));
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
        match frame.role {
            Role::Ignored => {}
            Role::Control => self.finish_control(frame.header, frame.pos, out),
            Role::Data if frame.header.fin => self.finish_message(at, out),
            Role::Data => {}
        }
    }

    fn finish_control(&mut self, h: FrameHeader, pos: Position, out: &mut impl FnMut(WsOut)) {
        let payload = std::mem::take(&mut self.control);
        let mut violations = Vec::new();
        let close = (h.opcode == OpCode::Close).then(|| {
            self.closed = true;
            let c = parse_close(&payload);
            violations = c.violations;
            (c.code, c.reason)
        });
        out(WsOut::Message(Box::new(Message {
            opcode: h.opcode,
            length: h.payload_len,
            wire_length: h.payload_len,
            compressed: false,
            fragments: 1,
            first: pos,
            last: pos,
            truncated: (payload.len() as u64) < h.payload_len,
            payload: Payload::Bytes(payload),
            close,
            incomplete: false,
        })));
        for (check, detail) in violations {
            out(WsOut::Finding { check, detail, at: pos });
        }
    }

    /// The last frame of a data message ended: inflate the tail, check UTF-8, report it.
    fn finish_message(&mut self, at: PacketRef, out: &mut impl FnMut(WsOut)) {
        let Some(mut m) = self.msg.take() else { return };
        if m.compressed && !m.holey && m.inflate_error.is_none() {
            if let Some(inf) = &mut self.inflater {
                let (max, limit) = (self.cfg.max_message, self.cfg.max_inflate);
                if let Err(e) = inf.finish(limit, &mut |plain: &[u8]| keep(&mut m, plain, max)) {
                    m.inflate_error = Some(e);
                }
            }
        } else if m.compressed
            && let Some(inf) = &mut self.inflater
        {
            let _ = inf.finish(0, &mut |_: &[u8]| {});
        }
        let _ = at;
        self.report(m, None, out);
    }

    /// A message cannot be finished: report what is known of it, marked truncated. A control
    /// frame cut the same way is dropped (its payload is at most 125 bytes and its meaning lies
    /// in being whole).
    fn abandon_message(&mut self, pos: Position, cut: Cut, out: &mut impl FnMut(WsOut)) {
        self.frame = None;
        self.control.clear();
        let Some(mut m) = self.msg.take() else { return };
        m.unfinished = true;
        if m.compressed
            && let Some(inf) = &mut self.inflater
        {
            let _ = inf.finish(0, &mut |_: &[u8]| {});
            inf.lose_context();
        }
        let _ = pos;
        self.report(m, Some(cut), out);
    }

    fn report(&mut self, mut m: MessageState, cut: Option<Cut>, out: &mut impl FnMut(WsOut)) {
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
        let payload = if m.holey {
            Payload::Unavailable
        } else if let Some(e) = &m.inflate_error {
            let (check, detail) = match e {
                InflateError::Corrupt(why) => {
                    (CheckId::InflateFailed, format!("cannot inflate: {why}"))
                }
                InflateError::MissingContext(why) => (
                    CheckId::InflateMissingContext,
                    format!(
                        "cannot inflate: missing context (the message refers to data the capture did not see: {why})"
                    ),
                ),
                InflateError::Limit(n) => (
                    CheckId::DecompressionLimit,
                    format!(
                        "inflation stopped after {n} bytes (--max-inflate-size {})",
                        self.cfg.max_inflate
                    ),
                ),
            };
            findings.push((check, detail));
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
            m.truncated || m.unfinished || m.holey || matches!(payload, Payload::Unavailable);
        let at = m.first;
        out(WsOut::Message(Box::new(Message {
            opcode: m.opcode,
            length: m.length,
            wire_length: m.wire_length,
            compressed: m.compressed,
            fragments: m.fragments,
            first: m.first,
            last: m.last,
            payload,
            truncated,
            close: None,
            incomplete: m.holey || m.unfinished,
        })));
        for (check, detail) in findings {
            out(WsOut::Finding { check, detail, at });
        }
    }
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
        out.copy_from_slice(piece);
        unmask(out, key, phase + done);
        done += piece.len();
        f(out);
    }
}

/// Counts and keeps (up to `max`) application bytes of a message, validating text.
///
/// Text is validated once at the end while the message fits; from the moment it no longer fits,
/// the kept prefix and everything after it go through the incremental validator instead.
fn keep(m: &mut MessageState, plain: &[u8], max: usize) {
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
