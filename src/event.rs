//! The one event type that flows from the analyzer to every sink (text, NDJSON, report, TUI).
//!
//! Events are owned (they may cross threads) and serialisable; payloads are capped by the
//! configured limits. Every event names its connection; everything that happened at a place in
//! a stream carries the packet number and stream offset, so it can be found in Wireshark.

use crate::analyzer::checks::{CheckId, Severity};
use crate::http::{RequestInfo, ResponseInfo};
use crate::tcp::{CloseReason, CommunityId, ConnId, Direction, GapReason, RoleSource};
use crate::time::Timestamp;
use crate::ws::{CloseCode, OpCode};
use serde::Serialize;
use std::net::SocketAddr;

/// Where in a capture something happened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Position {
    /// 1-based packet number of the segment that carried the first byte.
    pub packet: u64,
    /// Packet timestamp (`ts` and `ts_utc`).
    #[serde(flatten, serialize_with = "ser_ts_utc")]
    #[schemars(with = "TsUtc")]
    pub ts: Timestamp,
    /// Offset in the direction's TCP byte stream (0 = first byte after the SYN).
    pub offset: u64,
}

fn ser_ts<S: serde::Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(ts.as_secs_f64())
}

/// A time as two fields: `NAME`, seconds since the Unix epoch, and `NAME_utc`, the same moment
/// in ISO 8601 (UTC) to the nanosecond, trailing zero groups dropped (a microsecond capture
/// shows six decimals). For a flattened field.
fn ser_pair<S: serde::Serializer>(
    ts: &Timestamp,
    s: S,
    name: &'static str,
    utc: &'static str,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(2))?;
    m.serialize_entry(name, &ts.as_secs_f64())?;
    m.serialize_entry(utc, &crate::timefmt::iso8601_exact(*ts))?;
    m.end()
}

fn ser_ts_utc<S: serde::Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    ser_pair(ts, s, "ts", "ts_utc")
}

fn ser_start_utc<S: serde::Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    ser_pair(ts, s, "start", "start_utc")
}

fn ser_end_utc<S: serde::Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    ser_pair(ts, s, "end", "end_utc")
}

/// The schema of a time written by `ser_ts_utc`.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
struct TsUtc {
    /// Seconds since the Unix epoch (nanosecond precision).
    ts: f64,
    /// The same moment in ISO 8601, UTC: `2026-12-04T21:33:09.123456Z`.
    ts_utc: String,
}

/// The schema of a time written by `ser_start_utc`.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
struct StartUtc {
    /// First packet time, seconds since the Unix epoch.
    start: f64,
    /// The same moment in ISO 8601, UTC.
    start_utc: String,
}

/// The schema of a time written by `ser_end_utc`.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
struct EndUtc {
    /// Time of the end, seconds since the Unix epoch.
    end: f64,
    /// The same moment in ISO 8601, UTC.
    end_utc: String,
}

/// A payload as shown to users: text when it is valid UTF-8 text, bytes otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    /// A text message's (or close reason's) UTF-8 content.
    Text(String),
    /// Binary content (serialised as base64 by the JSON sinks).
    Bytes(
        #[serde(serialize_with = "ser_b64")]
        #[schemars(with = "String")]
        Vec<u8>,
    ),
    /// The content could not be recovered (cannot inflate, bytes missing from the capture).
    Unavailable,
}

impl Payload {
    /// Bytes allocated for the content (what holding it costs).
    pub fn capacity(&self) -> usize {
        match self {
            Payload::Text(t) => t.capacity(),
            Payload::Bytes(b) => b.capacity(),
            Payload::Unavailable => 0,
        }
    }
}

/// Payload bytes from which the JSON sinks write a message without holding its whole text in
/// memory (sonic-rs reserves six times a string's length to escape it at once).
pub const LARGE_PAYLOAD: usize = 64 << 10;

fn ser_b64<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    use base64::Engine;
    let engine = &base64::engine::general_purpose::STANDARD;
    if b.len() < LARGE_PAYLOAD {
        s.serialize_str(&engine.encode(b))
    } else {
        // Encoded a piece at a time: serde_json escapes and writes each piece as it comes, so
        // a large binary message costs no encoded copy.
        s.collect_str(&base64::display::Base64Display::new(b, engine))
    }
}

/// How a connection's opening handshake went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandshakeOutcome {
    /// 101 Switching Protocols: frames follow.
    Upgraded,
    /// Any other status: the upgrade was refused.
    Refused,
    /// The request was seen but no response before the connection ended.
    NoResponse,
    /// 101 Switching Protocols, but the peers went on speaking HTTP/1.1: the upgrade did not
    /// happen.
    NotFollowed,
}

/// The close frame of one direction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseFrameInfo {
    /// The close code, if the payload had one.
    pub code: Option<CloseCode>,
    /// The reason (lossy UTF-8 when it was invalid).
    pub reason: String,
    /// Where it was sent.
    pub at: Position,
}

/// How far the earlier part of a resumed connection got (`continues` of a `connection` event
/// and of a report row).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Continues {
    /// Its upgrade request was shown, its outcome was not known yet: this part's handshake
    /// outcome counts.
    AfterRequest,
    /// Its handshake's outcome was shown and counted (in the earlier part).
    AfterHandshake,
}

/// One thing the analyzer reports.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// A TCP connection was seen for the first time.
    Connection {
        /// Connection id.
        connection: ConnId,
        /// Client endpoint.
        client: SocketAddr,
        /// Server endpoint.
        server: SocketAddr,
        /// Community ID v1 of the TCP connection (`1:<base64>`), as Zeek and Suricata log it.
        community_id: CommunityId,
        /// How client and server were told apart.
        role: RoleSource,
        /// This TCP connection was shown before (an earlier `connection` with the same client
        /// and server, whose `end` came when wsscope stopped following it: `--idle-timeout`,
        /// `--memory-budget`) and was picked up again (`role: resumed`): one connection,
        /// counted once. Absent otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        continues: Option<Continues>,
        /// First packet.
        packet: u64,
        /// First packet time. (`ts` and `ts_utc`)
        #[serde(flatten, serialize_with = "ser_ts_utc")]
        #[schemars(with = "TsUtc")]
        ts: Timestamp,
    },
    /// An opening handshake (or its absence, for mid-stream pickup).
    Handshake {
        /// Connection id.
        connection: ConnId,
        /// Whether the handshake was captured at all.
        seen: bool,
        /// The request, when seen.
        request: Option<Box<RequestInfo>>,
        /// The response, when seen.
        response: Option<Box<ResponseInfo>>,
        /// Whether Sec-WebSocket-Accept matched the key (None when not both seen).
        accept_valid: Option<bool>,
        /// Outcome.
        outcome: HandshakeOutcome,
    },
    /// One WebSocket frame (emitted when frame events are asked for).
    Frame {
        /// Connection id.
        connection: ConnId,
        /// Direction.
        direction: Direction,
        /// FIN bit.
        fin: bool,
        /// RSV1..3 as bits 2..0.
        rsv: u8,
        /// Opcode.
        opcode: OpCode,
        /// The masking key, when masked.
        mask: Option<[u8; 4]>,
        /// Payload length as declared.
        payload_length: u64,
        /// Header length in bytes (2..=14).
        header_length: u8,
        /// Where the frame header starts.
        at: Position,
    },
    /// One message (data or control), after reassembly and decompression: complete, or — when
    /// the capture lost some of its bytes — incomplete (`complete: false`), never presented as
    /// whole.
    Message {
        /// Connection id.
        connection: ConnId,
        /// Direction.
        direction: Direction,
        /// Opcode of the first frame.
        opcode: OpCode,
        /// Whether every byte of the message was captured. An incomplete message lost bytes in
        /// the capture (a gap inside it, or the capture or connection ended inside it).
        complete: bool,
        /// Payload length after decompression (the application's length), when known exactly:
        /// always for a complete message that could be inflated; for an incomplete one only
        /// when it is uncompressed and `missing` is known. `null` otherwise.
        length: Option<u64>,
        /// Application payload bytes decoded from the capture (equal to `length` when complete).
        captured_length: u64,
        /// Payload bytes on the wire that the capture lost, when known (the gaps lay inside frames
        /// whose headers were captured, and the last frame was seen); 0 when complete.
        missing: Option<u64>,
        /// Payload bytes on the wire (sum of the payload lengths of the frames seen).
        wire_length: u64,
        /// Whether the message was compressed (permessage-deflate).
        compressed: bool,
        /// Number of frames seen.
        fragments: u32,
        /// Where the first frame's header was captured.
        first: Position,
        /// Where the last frame's header was captured.
        last: Position,
        /// Where the message ended: the packet that carried its last byte (for an incomplete
        /// one, where it was cut off). Events come out in the order of these packets.
        end: Position,
        /// The payload (capped by --max-message-size), or `unavailable` when it cannot be shown
        /// (bytes missing inside it, or it could not be inflated).
        payload: Payload,
        /// True when `payload` holds fewer bytes than `captured_length`: cut by
        /// --max-message-size or --max-payload, not by the capture.
        truncated: bool,
        /// For close frames: code and reason.
        close: Option<CloseFrameInfo>,
        /// For a pong answering a ping: the round trip from that ping, in seconds.
        rtt: Option<f64>,
    },
    /// A rule was broken, or the capture lost information.
    Finding {
        /// Connection id.
        connection: ConnId,
        /// Stable id.
        code: CheckId,
        /// Severity.
        severity: Severity,
        /// Source of the rule.
        rfc: &'static str,
        /// Direction, when it concerns one.
        direction: Option<Direction>,
        /// Where.
        at: Position,
        /// Human explanation with the specifics.
        message: String,
    },
    /// Bytes missing from a direction's stream.
    Gap {
        /// Connection id.
        connection: ConnId,
        /// Direction.
        direction: Direction,
        /// Missing byte count.
        length: u64,
        /// Raw TCP sequence number of the first missing byte (0 for plaintext lost inside TLS:
        /// records that failed authentication or were lost, whose bytes have no TCP position).
        seq: u32,
        /// Why.
        reason: GapReason,
        /// Where: `offset` is the first missing byte; `packet` and `ts` are those of the packet
        /// that carried the first byte after the gap (or, when none followed, of the packet that
        /// ended the connection or made the gap certain), so the gap sits at its place in
        /// capture order.
        at: Position,
    },
    /// A TLS connection (`wss://`, or anything else over TLS), when it ends: what its hellos
    /// said, its records, and whether it was decrypted. A decrypted connection's WebSocket (if
    /// any) comes as for plaintext, under the same connection id.
    Tls {
        /// Connection id.
        connection: ConnId,
        /// The TLS client (the side that sent the ClientHello; else the TCP client).
        client: SocketAddr,
        /// The TLS server.
        server: SocketAddr,
        /// Community ID v1 of the TCP connection.
        community_id: CommunityId,
        /// Whether a WebSocket was decoded inside.
        websocket: bool,
        /// First packet time.
        #[serde(flatten, serialize_with = "ser_start_utc")]
        #[schemars(with = "StartUtc")]
        start: Timestamp,
        /// Time of the end.
        #[serde(flatten, serialize_with = "ser_end_utc")]
        #[schemars(with = "EndUtc")]
        end: Timestamp,
        /// What is known of the TLS session.
        tls: Box<TlsInfo>,
    },
    /// The connection is over.
    End {
        /// Connection id.
        connection: ConnId,
        /// How the TCP connection ended.
        reason: CloseReason,
        /// Which side sent the first close frame.
        closed_first_by: Option<Direction>,
        /// Whether both sides exchanged close frames.
        clean: bool,
        /// Time of the end. (`ts` and `ts_utc`)
        #[serde(flatten, serialize_with = "ser_ts_utc")]
        #[schemars(with = "TsUtc")]
        ts: Timestamp,
    },
}

impl Event {
    /// A complete message from the client of connection 3 with `payload` (for tests).
    #[cfg(test)]
    pub(crate) fn message_for_tests(payload: Payload) -> Event {
        let at = Position { packet: 7, ts: Timestamp::from_nanos(1_500_000_001), offset: 90 };
        let n = payload.capacity() as u64;
        Event::Message {
            connection: ConnId(3),
            direction: Direction::ClientToServer,
            opcode: crate::ws::OpCode::Text,
            complete: true,
            length: Some(n),
            captured_length: n,
            missing: Some(0),
            wire_length: n,
            compressed: false,
            fragments: 1,
            first: at,
            last: at,
            end: at,
            payload,
            truncated: false,
            close: None,
            rtt: None,
        }
    }

    /// Bytes of message content the event holds (what writing it escapes or encodes).
    pub fn payload_capacity(&self) -> usize {
        match self {
            Event::Message { payload, .. } => payload.capacity(),
            _ => 0,
        }
    }

    /// The connection an event belongs to, mutable (sinks renumber connections across inputs).
    pub fn connection_mut(&mut self) -> &mut ConnId {
        match self {
            Event::Connection { connection, .. }
            | Event::Handshake { connection, .. }
            | Event::Frame { connection, .. }
            | Event::Message { connection, .. }
            | Event::Finding { connection, .. }
            | Event::Gap { connection, .. }
            | Event::Tls { connection, .. }
            | Event::End { connection, .. } => connection,
        }
    }

    /// The connection an event belongs to.
    pub fn connection(&self) -> ConnId {
        match self {
            Event::Connection { connection, .. }
            | Event::Handshake { connection, .. }
            | Event::Frame { connection, .. }
            | Event::Message { connection, .. }
            | Event::Finding { connection, .. }
            | Event::Gap { connection, .. }
            | Event::Tls { connection, .. }
            | Event::End { connection, .. } => *connection,
        }
    }
}

/// One TLS connection, as the `tls` event and the report describe it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsInfo {
    /// Negotiated version (`TLS 1.3`), when the ServerHello was captured.
    pub version: Option<String>,
    /// Negotiated cipher suite (IANA name), when the ServerHello was captured.
    pub cipher_suite: Option<String>,
    /// Server name the client asked for (SNI).
    pub sni: Option<String>,
    /// ALPN protocols the client offered.
    pub alpn_offered: Vec<String>,
    /// ALPN protocol chosen (TLS 1.3: known only once decrypted).
    pub alpn: Option<String>,
    /// The session was resumed (pre-shared key, or a TLS 1.2 session id echoed).
    pub resumed: bool,
    /// The server asked for a second ClientHello (HelloRetryRequest).
    pub hello_retry: bool,
    /// Key updates seen (TLS 1.3, both directions).
    pub key_updates: u32,
    /// Whether it was decrypted.
    pub decryption: crate::tls::Decryption,
    /// What would decrypt it, or why it was not, in words (null when decrypted).
    pub advice: Option<String>,
    /// Not decrypted, but shaped like a WebSocket: ALPN http/1.1 (or none), application data
    /// both ways over a long-lived connection.
    pub may_carry_websocket: bool,
    /// Records of the client.
    pub client_to_server: TlsDirection,
    /// Records of the server.
    pub server_to_client: TlsDirection,
}

/// One direction of a TLS connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsDirection {
    /// Records captured.
    pub records: u64,
    /// Their bytes, headers included.
    pub bytes: u64,
    /// Application data bytes decrypted.
    pub decrypted_bytes: u64,
    /// Records that did not authenticate.
    pub failed_records: u64,
}

/// How a live capture is doing: emitted about once a second while capturing live (NDJSON
/// `stats`), never for capture files (their output depends on the file alone).
#[derive(Clone, Debug, Default, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    /// Wall-clock time of the sample.
    #[serde(serialize_with = "ser_ts")]
    #[schemars(with = "f64")]
    pub ts: Timestamp,
    /// Seconds since the capture started.
    pub elapsed: f64,
    /// Packets wsscope read (after the filter).
    pub packets: u64,
    /// Captured bytes read.
    pub bytes: u64,
    /// Packets libpcap received (`ps_recv`, every interface).
    pub received: u64,
    /// Packets libpcap dropped because its buffer was full (`ps_drop`; a larger -B helps).
    pub dropped: u64,
    /// Packets the interface or driver dropped (`ps_ifdrop`).
    pub if_dropped: u64,
    /// Packets wsscope dropped because its analysis had not kept up (`--capture-queue`).
    pub queue_dropped: u64,
    /// Packets that could not be decoded.
    pub undecoded: u64,
    /// TCP connections open now.
    pub open_connections: u64,
    /// TCP connections seen so far.
    pub connections: u64,
    /// Bytes charged to the memory budget now.
    pub memory_used: u64,
    /// The memory budget (`--memory-budget`; 0: none).
    pub memory_budget: u64,
}

/// Receives analyzer events (the push model).
pub trait EventSink {
    /// Handles one event.
    fn event(&mut self, event: Event);
    /// Live capture counters, about once a second (see [`Stats`]); ignored unless a sink shows
    /// them.
    fn stats(&mut self, _stats: &Stats) {}
}

impl<F: FnMut(Event)> EventSink for F {
    fn event(&mut self, event: Event) {
        self(event)
    }
}
