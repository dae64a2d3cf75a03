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

/// Heap bytes of texts and lists (what holding a handshake's facts costs the memory budget).
fn opt_bytes(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, String::capacity)
}

fn strings_bytes(v: &Vec<String>) -> usize {
    v.capacity() * size_of::<String>() + v.iter().map(String::capacity).sum::<usize>()
}

fn extensions_bytes(v: &Vec<Extension>) -> usize {
    v.capacity() * size_of::<Extension>()
        + v.iter()
            .map(|e| {
                e.name.capacity()
                    + e.params.capacity() * size_of::<(String, Option<String>)>()
                    + e.params.iter().map(|(n, v)| n.capacity() + opt_bytes(v)).sum::<usize>()
            })
            .sum::<usize>()
}

fn headers_bytes(v: &Vec<(String, String)>) -> usize {
    v.capacity() * size_of::<(String, String)>()
        + v.iter().map(|(n, v)| n.capacity() + v.capacity()).sum::<usize>()
}

impl RequestInfo {
    /// Bytes it holds on the heap besides itself.
    pub fn heap_bytes(&self) -> usize {
        self.method.capacity()
            + self.path.capacity()
            + self.http_version.capacity()
            + [&self.host, &self.origin, &self.user_agent, &self.key, &self.version]
                .into_iter()
                .map(opt_bytes)
                .sum::<usize>()
            + strings_bytes(&self.protocols)
            + extensions_bytes(&self.extensions)
            + headers_bytes(&self.headers)
    }
}

impl ResponseInfo {
    /// Bytes it holds on the heap besides itself.
    pub fn heap_bytes(&self) -> usize {
        self.reason.capacity()
            + self.http_version.capacity()
            + [&self.accept, &self.protocol, &self.version]
                .into_iter()
                .map(opt_bytes)
                .sum::<usize>()
            + extensions_bytes(&self.extensions)
            + headers_bytes(&self.headers)
    }
}

impl Violation {
    /// Bytes a list of violations holds on the heap.
    pub fn list_bytes(v: &Vec<Violation>) -> usize {
        v.capacity() * size_of::<Violation>() + v.iter().map(|v| v.detail.capacity()).sum::<usize>()
    }
}
