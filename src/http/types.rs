//! Facts recovered from an opening handshake, as every sink shows them.

use crate::analyzer::checks::CheckId;
use serde::Serialize;

/// One extension from `Sec-WebSocket-Extensions`, with its parameters in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    /// Extension token, e.g. `permessage-deflate` (case preserved as sent).
    pub name: String,
    /// Parameters: name and optional value (quotes removed).
    pub params: Vec<(String, Option<String>)>,
}

/// Negotiated permessage-deflate parameters (RFC 7692 §7.1), from the server's response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeflateParams {
    /// The server resets its compression context after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after every message.
    pub client_no_context_takeover: bool,
    /// LZ77 window bits the server compresses with (8..=15; 15 when absent).
    pub server_max_window_bits: u8,
    /// LZ77 window bits the client compresses with (8..=15; 15 when absent).
    pub client_max_window_bits: u8,
}

/// What the upgrade request said.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestInfo {
    /// Method (GET).
    pub method: String,
    /// Request target (path and query).
    pub path: String,
    /// HTTP version as "1.1" / "1.0".
    pub http_version: String,
    /// Host header.
    pub host: Option<String>,
    /// Origin header.
    pub origin: Option<String>,
    /// User-Agent header.
    pub user_agent: Option<String>,
    /// Sec-WebSocket-Key as sent.
    pub key: Option<String>,
    /// Sec-WebSocket-Version as sent.
    pub version: Option<String>,
    /// Subprotocols offered (Sec-WebSocket-Protocol, all headers, in order).
    pub protocols: Vec<String>,
    /// Extensions offered (Sec-WebSocket-Extensions, all headers, in order).
    pub extensions: Vec<Extension>,
    /// Every header as sent, in order (name, value), for display.
    pub headers: Vec<(String, String)>,
    /// 1-based packet number of the request's first byte.
    pub packet: u64,
}

/// What the response to the upgrade request said.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseInfo {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// HTTP version as "1.1" / "1.0".
    pub http_version: String,
    /// Sec-WebSocket-Accept as sent.
    pub accept: Option<String>,
    /// Selected subprotocol.
    pub protocol: Option<String>,
    /// Accepted extensions with their parameters.
    pub extensions: Vec<Extension>,
    /// Sec-WebSocket-Version list sent with a refusal (426), if any.
    pub version: Option<String>,
    /// Every header as sent, in order.
    pub headers: Vec<(String, String)>,
    /// 1-based packet number of the response's first byte.
    pub packet: u64,
}

/// A rule the handshake broke, with the specifics for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which rule.
    pub check: CheckId,
    /// What exactly was wrong (quotes the offending value).
    pub detail: String,
}

/// What the two endpoints agreed on, from a 101 response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Negotiated {
    /// The selected subprotocol.
    pub protocol: Option<String>,
    /// permessage-deflate, when accepted (and valid enough to decode with).
    pub deflate: Option<DeflateParams>,
    /// True when an accepted extension other than permessage-deflate defines RSV bits wsscope
    /// cannot interpret.
    pub unknown_extensions: bool,
}
