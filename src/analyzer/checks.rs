//! The catalogue of findings: every rule wsscope checks, with its stable id, severity and source.
//!
//! `CheckId` names are snake_case in every output (JSON, text, docs) and never change meaning;
//! `docs/checks.md` is generated from [`CheckId::ALL`] and a test keeps the two in sync.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How bad a finding is.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth showing, not wrong.
    Info,
    /// Legal but suspicious, likely to break peers, or the capture lost information.
    Warning,
    /// A peer broke a MUST of the RFCs.
    Error,
}

impl Severity {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Static facts about a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckInfo {
    /// Severity of every finding of this check.
    pub severity: Severity,
    /// Where the rule comes from (e.g. "RFC 6455 §5.1"), or "capture" for observation limits.
    pub rfc: &'static str,
    /// One line: what triggers the finding.
    pub summary: &'static str,
}

macro_rules! checks {
    ($( $(#[$doc:meta])* $id:ident => ($sev:ident, $rfc:literal, $summary:literal), )*) => {
        /// Every check wsscope performs.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum CheckId {
            $( $(#[$doc])* $id, )*
        }

        impl CheckId {
            /// Every check, in catalogue order.
            pub const ALL: &'static [CheckId] = &[ $( CheckId::$id, )* ];

            /// The check's severity, source and summary.
            pub fn info(self) -> CheckInfo {
                match self {
                    $( CheckId::$id => CheckInfo { severity: Severity::$sev, rfc: $rfc, summary: $summary }, )*
                }
            }
        }
    };
}

checks! {
    // ── Opening handshake: request (RFC 6455 §4.1, §4.2.1) ──
    /// The upgrade request's method is not GET.
    RequestMethodNotGet => (Error, "RFC 6455 §4.1 (2)", "the upgrade request's method is not GET"),
    /// The upgrade request's HTTP version is below 1.1.
    RequestHttpVersionTooOld => (Error, "RFC 6455 §4.1 (2)", "the upgrade request's HTTP version is below 1.1"),
    /// No Host header.
    RequestHostMissing => (Error, "RFC 6455 §4.1 (4)", "the upgrade request has no Host header"),
    /// The request's Upgrade header lacks the `websocket` token.
    RequestUpgradeHeaderInvalid => (Error, "RFC 6455 §4.1 (5)", "the request's Upgrade header does not contain the token \"websocket\""),
    /// The request's Connection header lacks the `Upgrade` token.
    RequestConnectionHeaderInvalid => (Error, "RFC 6455 §4.1 (6)", "the request's Connection header does not contain the token \"Upgrade\""),
    /// Sec-WebSocket-Key missing, repeated, or not base64 of 16 bytes.
    RequestKeyInvalid => (Error, "RFC 6455 §4.1 (7)", "Sec-WebSocket-Key is missing, repeated, or not the base64 encoding of 16 bytes"),
    /// Sec-WebSocket-Version is not 13.
    RequestVersionNot13 => (Error, "RFC 6455 §4.1 (9)", "Sec-WebSocket-Version is missing or not 13"),
    /// No Origin header (non-browser client; browsers always send it).
    RequestOriginMissing => (Info, "RFC 6455 §4.1 (8), §10.2", "the upgrade request has no Origin header (not a browser, or one hiding it)"),

    // ── Opening handshake: response (RFC 6455 §4.1 client rules, §4.2.2) ──
    /// The server answered the upgrade with a status other than 101.
    UpgradeRefused => (Info, "RFC 6455 §4.1, §4.2.2", "the server refused the upgrade (status other than 101)"),
    /// The 101 response's Upgrade header lacks `websocket`.
    ResponseUpgradeHeaderInvalid => (Error, "RFC 6455 §4.1 client rule 2", "the 101 response's Upgrade header does not contain \"websocket\""),
    /// The 101 response's Connection header lacks `Upgrade`.
    ResponseConnectionHeaderInvalid => (Error, "RFC 6455 §4.1 client rule 3", "the 101 response's Connection header does not contain \"Upgrade\""),
    /// Sec-WebSocket-Accept missing or not base64(SHA-1(key + GUID)).
    AcceptKeyInvalid => (Error, "RFC 6455 §4.1 client rule 4, §4.2.2", "Sec-WebSocket-Accept is missing or does not match the request's key"),
    /// The server selected a subprotocol the client did not offer, or several.
    SubprotocolNotOffered => (Error, "RFC 6455 §4.1 client rule 6", "the server selected a subprotocol the client did not offer, or more than one"),
    /// The server selected an extension the client did not offer.
    ExtensionNotOffered => (Error, "RFC 6455 §4.1 client rule 5, §9.1", "the server selected an extension the client did not offer"),
    /// A `Sec-WebSocket-Extensions` header that does not follow the extension grammar.
    ExtensionsHeaderMalformed => (Error, "RFC 6455 §9.1", "a Sec-WebSocket-Extensions header does not follow the extension grammar (its extensions are ignored)"),
    /// permessage-deflate parameters invalid in the offer or the response, or it was accepted twice.
    DeflateParameterInvalid => (Error, "RFC 7692 §5, §7.1", "invalid permessage-deflate parameter (unknown, repeated, out of range, not allowed by the offer), or permessage-deflate accepted twice"),
    /// HTTP that could not be parsed on a connection that looked like a WebSocket upgrade.
    HttpMalformed => (Error, "RFC 9112 §2", "an HTTP message could not be parsed"),
    /// The client sent bytes after the upgrade request before the server's 101.
    ClientDataBeforeResponse => (Warning, "RFC 6455 §4.1", "the client sent data after the upgrade request before the server's response"),
    /// The peers went on with HTTP after a 101: the upgrade did not happen.
    UpgradeNotFollowed => (Warning, "RFC 9110 §15.2.2, RFC 6455 §4.1", "after a 101 Switching Protocols the peers went on speaking HTTP/1.1: the upgrade did not happen (what follows is decoded as HTTP)"),
    /// A 101 was captured without the request it answers.
    HandshakeRequestNotSeen => (Info, "capture", "the upgrade request was not captured (lost, or sent before the capture started); the handshake is known from the 101 alone"),
    /// No handshake was captured; frames were found by resynchronising.
    HandshakeNotSeen => (Info, "capture", "the opening handshake was not captured; frames were found by validating consecutive frame headers"),

    // ── Framing (RFC 6455 §5) ──
    /// A client-to-server frame is not masked.
    ClientFrameUnmasked => (Error, "RFC 6455 §5.1, §5.3", "a client-to-server frame is not masked"),
    /// A server-to-client frame is masked.
    ServerFrameMasked => (Error, "RFC 6455 §5.1", "a server-to-client frame is masked"),
    /// RSV bits set without a negotiated extension defining them.
    ReservedBitsSet => (Error, "RFC 6455 §5.2", "RSV1, RSV2 or RSV3 is set but no negotiated extension defines it"),
    /// Opcode 3–7 or 0xB–0xF.
    ReservedOpcode => (Error, "RFC 6455 §5.2", "the frame uses a reserved opcode (0x3–0x7, 0xB–0xF)"),
    /// Payload length not in its shortest encoding.
    NonMinimalLength => (Warning, "RFC 6455 §5.2", "the payload length is not in its minimal encoding"),
    /// 64-bit payload length with the most significant bit set.
    LengthMsbSet => (Error, "RFC 6455 §5.2", "a 64-bit payload length has its most significant bit set"),
    /// Control frame payload over 125 bytes.
    ControlFrameTooLong => (Error, "RFC 6455 §5.5", "a control frame carries more than 125 bytes"),
    /// Control frame without FIN.
    ControlFrameFragmented => (Error, "RFC 6455 §5.5", "a control frame is fragmented (FIN not set)"),
    /// Continuation frame with no message in progress.
    UnexpectedContinuation => (Error, "RFC 6455 §5.4", "a continuation frame arrived with no fragmented message in progress"),
    /// New text/binary frame while a fragmented message is unfinished.
    MessageInterrupted => (Error, "RFC 6455 §5.4", "a new text or binary frame started before the fragmented message in progress was finished"),

    // ── Messages (RFC 6455 §5.5–5.6, §8.1) ──
    /// A text message is not valid UTF-8.
    TextNotUtf8 => (Error, "RFC 6455 §5.6, §8.1", "a text message is not valid UTF-8"),
    /// A pong with no outstanding ping, or with different data.
    PongUnsolicited => (Info, "RFC 6455 §5.5.3", "a pong that answers no outstanding ping (unsolicited pongs are allowed)"),
    /// A message larger than the configured limit; its payload was truncated.
    MessageTooLarge => (Info, "capture", "a message exceeded --max-message-size; its payload was kept only up to the limit"),

    // ── Closing (RFC 6455 §5.5.1, §7) ──
    /// Close frame with a one-byte payload.
    ClosePayloadOneByte => (Error, "RFC 6455 §5.5.1", "a close frame carries exactly one byte (a code needs two)"),
    /// Close code that must never be sent.
    CloseCodeInvalid => (Error, "RFC 6455 §7.4.1, §7.4.2", "the close code is one that must never be sent (0–999, 1004–1006, 1015, 5000+)"),
    /// Close code in the unassigned 1016–2999 range.
    CloseCodeUnassigned => (Warning, "RFC 6455 §7.4.2, IANA registry", "the close code is in the unassigned range 1016–2999"),
    /// Close reason not valid UTF-8.
    CloseReasonNotUtf8 => (Error, "RFC 6455 §5.5.1", "the close reason is not valid UTF-8"),
    /// A data frame after this endpoint's close frame.
    DataAfterClose => (Error, "RFC 6455 §5.5.1", "an endpoint sent a data frame after its close frame"),
    /// The close frame was not answered with a close before the TCP connection ended.
    CloseNotAnswered => (Info, "RFC 6455 §7.1", "one side sent a close frame that the other never answered"),
    /// The TCP connection ended without any close frame.
    ClosedWithoutCloseFrame => (Info, "RFC 6455 §7.1.5", "the TCP connection ended without a closing handshake (abnormal closure, 1006)"),

    // ── permessage-deflate (RFC 7692) ──
    /// RSV1 on a continuation or control frame.
    CompressedBitMisplaced => (Error, "RFC 7692 §6.1", "RSV1 is set on a continuation or control frame"),
    /// A compressed message could not be inflated (corrupt data).
    InflateFailed => (Warning, "RFC 7692 §7.2.2", "a compressed message could not be inflated"),
    /// A compressed message refers to a window the capture does not have.
    InflateMissingContext => (Warning, "capture", "cannot inflate: the message refers to earlier data the capture does not have (missing context)"),
    /// Inflating a message exceeded the decompression limit.
    DecompressionLimit => (Warning, "RFC 7692 §8", "a message inflated past --max-inflate-size (possible decompression bomb); it was stopped there"),

    // ── What the capture missed ──
    /// Bytes missing from a stream (capture loss).
    CaptureGap => (Warning, "capture", "the capture missed bytes of this direction; the message they belonged to is incomplete, or whole frames between messages were lost"),
    /// Packets of the connection were cut by the capture's snapshot length.
    SnaplenCut => (Warning, "capture", "the capture's snapshot length (snaplen) cut packets of this connection: their bytes are missing (capture again with -s 0); decoding goes on after them"),
    /// A retransmission disagreed with the first copy.
    RetransmissionConflict => (Warning, "capture", "a TCP retransmission carried different bytes than the first copy (the first was used)"),
    /// The frame decoder lost the frame boundary (after a gap) and skipped bytes until it found it again.
    FrameSyncLost => (Warning, "capture", "the frame boundary was lost after missing bytes; bytes were skipped until consecutive valid frame headers were found"),
    /// A continuation frame whose message started before a gap or before the capture.
    ContinuationWithoutStart => (Info, "capture", "a continuation frame whose message started before missing bytes or before the capture began; skipped"),
    /// Bytes waiting behind a hole exceeded a buffering limit before the reorder window passed.
    ReassemblyLimit => (Warning, "capture", "out-of-order bytes waiting behind a hole exceeded --max-buffered-per-direction, --max-buffered-segments or --max-buffered-total before the reorder window passed: the hole was declared lost early"),
    /// Bytes arrived after the reorder window had declared them lost.
    LateData => (Warning, "capture", "bytes arrived after their range had been declared lost (they waited longer than the reorder window); they were not decoded"),
    /// An acknowledgment (or a pong) was captured before the data it answers.
    CaptureClockSkew => (Info, "capture", "a peer's acknowledgment or pong was captured before the data it answers: the capture merges two capture points or clocks, so times across directions are off"),
    /// A RST outside the receiver's window: ignored, the connection goes on.
    RstOutOfWindow => (Warning, "RFC 5961 §3", "a RST whose sequence number is outside the receiver's window was ignored, as the receiver ignores it (forged RSTs look like this); the connection is followed on"),
    /// A SYN with a new initial sequence number on an open connection that went on.
    SynOnOpenConnection => (Warning, "RFC 5961 §4", "a SYN with a new initial sequence number arrived on an open connection that went on (the server did not accept it; forged SYNs look like this); it did not end the connection"),
    /// The memory budget made wsscope give something up on this connection.
    MemoryBudget => (Warning, "limit", "wsscope's memory budget (--memory-budget) was filling up, so this connection lost a payload copy, its inflater, or was evicted (if it went on, it is shown again as a new connection: role resumed, frames searched for without the handshake); what was given up is said in the finding"),
    /// The connection table was full: this connection was evicted while still open.
    ConnectionLimit => (Warning, "limit", "the connection table was full (--max-connections), so this connection was evicted while still open: what it sent afterwards was not decoded as part of it"),
    /// No packet for longer than `--idle-timeout`: the connection stopped being followed.
    IdleTimeout => (Warning, "limit", "this connection sent nothing for longer than --idle-timeout and stopped being followed while still open: if it went on, it is shown again as a new connection (role resumed, frames searched for without the handshake). A connection whose frames are still searched for (no handshake captured) gets 8 times the timeout, so that a session quieter than it between messages is still found"),
    /// A connection's output could not be kept in capture order.
    CaptureOrderNotKept => (Info, "capture", "output of a connection was released before earlier bytes were decoded (held longer than the reorder window); later events may be out of capture order"),

    // ── TLS (wss://) ──
    /// A TLS connection that was not decrypted: no key log, no keys for it, or no handshake.
    TlsNotDecrypted => (Info, "capture", "a TLS connection (possibly wss://) was not decrypted: no key log was given (--keylog, SSLKEYLOGFILE), it holds no secrets for this connection, or the capture began after the handshake; what is known of it is reported"),
    /// A protected record failed authentication under the logged keys.
    TlsRecordNotAuthenticated => (Warning, "RFC 8446 §5.2, RFC 5246 §6.2.3", "a TLS record did not authenticate under the logged keys (bytes altered in the capture, or a key log of another session): its content is not shown and counts as missing"),
    /// A direction could not be decrypted further.
    TlsUndecryptable => (Warning, "capture", "a TLS direction could not be decrypted further: records failed in a row, or after bytes lost in the capture the next record's sequence number was not recovered"),
    /// Bytes that are not TLS records on a connection that started as TLS.
    TlsRecordInvalid => (Warning, "RFC 8446 §5.1, RFC 5246 §6.2.1", "bytes on a TLS connection are not a TLS record (unknown content type or version, or a record longer than TLS allows); the direction is not decoded further"),
    /// Records waited for keys longer than the limit allows.
    TlsKeysLate => (Warning, "limit", "records waited for their keys (a key log followed live) longer than --max-tls-key-wait allows: the oldest were given up"),
}

impl CheckId {
    /// The snake_case name used in every output.
    pub fn as_str(self) -> String {
        json_name(&self)
    }

    /// The finding says the capture did not show all of its direction's stream (of both
    /// directions, when it names none): a frame not seen there, a close frame say, may have
    /// been sent.
    pub fn stream_unseen(self) -> bool {
        matches!(
            self,
            CheckId::HandshakeNotSeen
                | CheckId::CaptureGap
                | CheckId::SnaplenCut
                | CheckId::FrameSyncLost
                | CheckId::ContinuationWithoutStart
                | CheckId::ReassemblyLimit
                | CheckId::LateData
                | CheckId::TlsUndecryptable
        )
    }
}

/// The name a unit enum value has in the JSON outputs (its serde `snake_case` name), for text
/// that must say the same.
pub fn json_name(v: &impl Serialize) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// The catalogue as a Markdown document (`docs/checks.md` is exactly this).
pub fn catalogue_markdown() -> String {
    let mut md = String::from(
        "# wsscope checks\n\n\
         Every finding wsscope reports, generated from `src/analyzer/checks.rs` (a test keeps this \
         file in sync; `wsscope checks` prints the same table).\n\n\
         Severity: **error** — a peer broke a MUST of the RFCs; **warning** — legal but suspicious, \
         likely to break peers, or the capture lost information; **info** — worth showing, not wrong. \
         `report --fail-on LEVEL` exits 1 when a finding at or above LEVEL was reported.\n\n\
         | code | severity | source | what triggers it |\n|---|---|---|---|\n",
    );
    for c in CheckId::ALL {
        let i = c.info();
        md.push_str(&format!("| `{c}` | {} | {} | {} |\n", i.severity, i.rfc, i.summary));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_has_a_source_and_summary_and_a_unique_name() {
        let mut names = std::collections::HashSet::new();
        for c in CheckId::ALL {
            let i = c.info();
            assert!(!i.rfc.is_empty() && !i.summary.is_empty(), "{c:?}");
            assert!(names.insert(c.as_str()), "duplicate name {c}");
        }
        assert_eq!(CheckId::AcceptKeyInvalid.to_string(), "accept_key_invalid");
    }

    /// A capture problem never fails `--fail-on error`: what the capture lost or how it was made
    /// is at most a warning.
    #[test]
    fn capture_findings_are_never_errors() {
        let capture: Vec<CheckId> =
            CheckId::ALL.iter().copied().filter(|c| c.info().rfc == "capture").collect();
        assert!(capture.len() >= 10, "{capture:?}");
        for c in capture {
            assert_ne!(c.info().severity, Severity::Error, "{c}");
        }
    }
}
