//! Opening-handshake facts and rules (RFC 6455 §4.1, §4.2, §9.1; RFC 7692 §7.1).
//!
//! Guarantees:
//! - Every function is total and never stops at the first problem: each broken rule gives one
//!   [`Violation`] whose detail quotes the offending value, and the facts are still collected.
//! - [`check_response`] on a status other than 101 reports only the refusal.
//!
//! Not done: parsing (see [`super::parse`]), deciding what to do after a violation (the session
//! does), and interim 1xx responses — the caller skips those ([`is_interim`]) and passes the final
//! response.

use super::accept::accept_for;
use super::extensions::{
    PERMESSAGE_DEFLATE, check_offers, format_extension, negotiate_deflate, parse_extensions,
};
use super::parse::{RequestHead, ResponseHead, has_token, header, header_values, headers_all};
use super::types::{Extension, Negotiated, RequestInfo, ResponseInfo, Violation};
use crate::analyzer::checks::CheckId;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

fn violation(check: CheckId, detail: String) -> Violation {
    Violation { check, detail }
}

fn owned(value: Option<&str>) -> Option<String> {
    value.map(str::to_string)
}

/// Every `Sec-WebSocket-Protocol` element over all fields, trimmed, empty ones dropped.
fn protocol_list(headers: &[(String, String)]) -> Vec<String> {
    header_values(headers, "Sec-WebSocket-Protocol")
        .flat_map(|v| v.split(','))
        .map(|p| p.trim_matches([' ', '\t']))
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// The extensions of every well-formed `Sec-WebSocket-Extensions` field, and one
/// [`CheckId::ExtensionsHeaderMalformed`] per malformed field (whose extensions are then unknown).
fn extension_list(headers: &[(String, String)]) -> (Vec<Extension>, Vec<Violation>) {
    let mut list = Vec::new();
    let mut violations = Vec::new();
    for value in header_values(headers, "Sec-WebSocket-Extensions") {
        match parse_extensions(&[value]) {
            Ok(mut parsed) => list.append(&mut parsed),
            Err(e) => violations.push(violation(
                CheckId::ExtensionsHeaderMalformed,
                format!("Sec-WebSocket-Extensions is malformed (RFC 6455 §9.1): {e}"),
            )),
        }
    }
    (list, violations)
}

/// Describes the values of a header for a detail: `no X header` or `X is "a, b"`.
fn describe(name: &str, values: &[&str]) -> String {
    if values.is_empty() {
        format!("no {name} header")
    } else {
        format!("{name} is {:?}", values.join(", "))
    }
}

/// Whether any field called `name` contains the token.
fn any_token(headers: &[(String, String)], name: &str, token: &str) -> bool {
    header_values(headers, name).any(|v| has_token(v, token))
}

/// The values of the fields called `name`: none, one, or several (then every one, in order).
/// Only the rare case of several collects them.
enum Fields<'a> {
    None,
    One(&'a str),
    Many(Vec<&'a str>),
}

fn fields<'a>(headers: &'a [(String, String)], name: &str) -> Fields<'a> {
    let mut values = header_values(headers, name);
    match (values.next(), values.next()) {
        (None, _) => Fields::None,
        (Some(one), None) => Fields::One(one),
        _ => Fields::Many(headers_all(headers, name)),
    }
}

/// What the upgrade request said, as every sink shows it. `packet` is the 1-based number of the
/// packet holding the request's first byte.
pub fn request_info(head: RequestHead, packet: u64) -> RequestInfo {
    let extensions = extension_list(&head.headers).0;
    info_with(head, packet, extensions)
}

/// [`request_info`] and [`check_request`] together, reading the extensions once.
pub fn upgrade_request(head: RequestHead, packet: u64) -> (RequestInfo, Vec<Violation>) {
    let (extensions, malformed) = extension_list(&head.headers);
    let mut v = checks_but_extensions(&head);
    v.extend(malformed);
    v.extend(check_offers(&extensions));
    (info_with(head, packet, extensions), v)
}

/// [`request_info`] with its extensions already read.
fn info_with(head: RequestHead, packet: u64, extensions: Vec<Extension>) -> RequestInfo {
    let h = &head.headers;
    RequestInfo {
        http_version: format!("1.{}", head.minor_version),
        host: owned(header(h, "Host")),
        origin: owned(header(h, "Origin")),
        user_agent: owned(header(h, "User-Agent")),
        key: owned(header(h, "Sec-WebSocket-Key")),
        version: owned(header(h, "Sec-WebSocket-Version")),
        protocols: protocol_list(h),
        extensions,
        method: head.method,
        path: head.target,
        headers: head.headers,
        packet,
    }
}

/// Whether the request asks for a WebSocket upgrade: an `Upgrade` header containing the token
/// `websocket` (case-insensitive). Everything else — method, `Connection`, key, version — is left
/// to [`check_request`], so that broken clients are still analysed.
///
/// An attempt, valid or not: an `Upgrade` field that names WebSocket in any spelling
/// (`websocket`, `WebSocket`, `websockets`, `websocket/13`), or a `Sec-WebSocket-Key` or
/// `Sec-WebSocket-Version` field. Whether the attempt follows the rules is
/// [`check_request`]'s business; the connection is followed and reported either way.
pub fn is_upgrade_request(head: &RequestHead) -> bool {
    let names_websocket = header_values(&head.headers, "Upgrade")
        .any(|v| v.as_bytes().windows(9).any(|w| w.eq_ignore_ascii_case(b"websocket")));
    names_websocket
        || header(&head.headers, "Sec-WebSocket-Key").is_some()
        || header(&head.headers, "Sec-WebSocket-Version").is_some()
}

/// Why a `Sec-WebSocket-Key` value is not the base64 encoding (RFC 4648 §4, padded) of 16 bytes
/// (RFC 6455 §4.1 (7)), or `None` when it is.
fn key_problem(key: &str) -> Option<String> {
    // The common case, 24 characters that decode to 16 bytes, without allocating.
    let mut bytes = [0u8; 18];
    if key.len() == 24 && STANDARD.decode_slice(key, &mut bytes) == Ok(16) {
        return None;
    }
    match STANDARD.decode(key) {
        Err(e) => Some(format!("Sec-WebSocket-Key {key:?} is not base64 ({e})")),
        Ok(bytes) if bytes.len() != 16 => {
            Some(format!("Sec-WebSocket-Key {key:?} decodes to {} bytes, not 16", bytes.len()))
        }
        Ok(_) => None,
    }
}

/// The request a 101 answered when the capture does not hold it: one that offered exactly what
/// the response accepted (its subprotocol and extensions) and whose key is unknown, so that the
/// response is checked for what it can be checked for and its extensions are used.
pub fn assumed_request(head: &ResponseHead) -> RequestInfo {
    let h = &head.headers;
    let extensions =
        super::extensions::parse_extensions(&headers_all(h, "Sec-WebSocket-Extensions"))
            .unwrap_or_default();
    RequestInfo {
        method: "GET".into(),
        http_version: "1.1".into(),
        protocols: headers_all(h, "Sec-WebSocket-Protocol").iter().map(|p| p.to_string()).collect(),
        extensions,
        ..RequestInfo::default()
    }
}

/// Every rule of RFC 6455 §4.1 the upgrade request breaks.
///
/// - The method is GET and the version at least HTTP/1.1 (§4.1 (2)).
/// - A non-empty `Host` (§4.1 (4)).
/// - `Upgrade` contains `websocket` and `Connection` contains `Upgrade`, case-insensitively,
///   in any of their fields (§4.1 (5), (6)).
/// - Exactly one `Sec-WebSocket-Key` (§11.3.1), the base64 encoding of 16 bytes (§4.1 (7)).
/// - Exactly one `Sec-WebSocket-Version` (§11.3.5), with value 13 (§4.1 (9)).
/// - `Origin` absent: info only (§4.1 (8), §10.2).
/// - `Sec-WebSocket-Extensions` well-formed (§9.1, [`CheckId::ExtensionsHeaderMalformed`]) and its
///   permessage-deflate offers valid (RFC 7692 §7.1, see [`check_offers`]).
pub fn check_request(head: &RequestHead) -> Vec<Violation> {
    let (extensions, malformed) = extension_list(&head.headers);
    let mut v = checks_but_extensions(head);
    v.extend(malformed);
    v.extend(check_offers(&extensions));
    v
}

/// [`check_request`]'s checks before those of `Sec-WebSocket-Extensions`.
fn checks_but_extensions(head: &RequestHead) -> Vec<Violation> {
    let h = &head.headers;
    let mut v = Vec::new();
    if head.method != "GET" {
        v.push(violation(
            CheckId::RequestMethodNotGet,
            format!("method is {:?}, not GET", head.method),
        ));
    }
    if head.minor_version < 1 {
        v.push(violation(
            CheckId::RequestHttpVersionTooOld,
            format!("request is HTTP/1.{}; HTTP/1.1 or later is required", head.minor_version),
        ));
    }
    match header(h, "Host") {
        None => v.push(violation(CheckId::RequestHostMissing, "no Host header".into())),
        Some("") => v.push(violation(CheckId::RequestHostMissing, "Host header is empty".into())),
        Some(_) => {}
    }
    if !any_token(h, "Upgrade", "websocket") {
        let upgrade = headers_all(h, "Upgrade");
        v.push(violation(CheckId::RequestUpgradeHeaderInvalid, describe("Upgrade", &upgrade)));
    }
    if !any_token(h, "Connection", "Upgrade") {
        let connection = headers_all(h, "Connection");
        v.push(violation(
            CheckId::RequestConnectionHeaderInvalid,
            describe("Connection", &connection),
        ));
    }
    let problem = match fields(h, "Sec-WebSocket-Key") {
        Fields::None => Some("no Sec-WebSocket-Key header".to_string()),
        Fields::One(key) => key_problem(key),
        Fields::Many(keys) => {
            Some(format!("Sec-WebSocket-Key sent {} times: {:?}", keys.len(), keys.join(", ")))
        }
    };
    if let Some(detail) = problem {
        v.push(violation(CheckId::RequestKeyInvalid, detail));
    }
    let problem = match fields(h, "Sec-WebSocket-Version") {
        Fields::None => Some("no Sec-WebSocket-Version header".to_string()),
        Fields::One("13") => None,
        Fields::One(version) => Some(format!("Sec-WebSocket-Version is {version:?}, not \"13\"")),
        Fields::Many(versions) => Some(format!(
            "Sec-WebSocket-Version sent {} times: {:?}",
            versions.len(),
            versions.join(", ")
        )),
    };
    if let Some(detail) = problem {
        v.push(violation(CheckId::RequestVersionNot13, detail));
    }
    if header(h, "Origin").is_none() {
        v.push(violation(CheckId::RequestOriginMissing, "no Origin header".into()));
    }
    v
}

/// Whether a response is interim (1xx other than 101, RFC 9110 §15.2): the final response to the
/// request is still to come.
pub fn is_interim(head: &ResponseHead) -> bool {
    (100..=199).contains(&head.status) && head.status != 101
}

/// What the response to the upgrade request said. `packet` is the 1-based number of the packet
/// holding the response's first byte.
pub fn response_info(head: ResponseHead, packet: u64) -> ResponseInfo {
    let h = &head.headers;
    let version = match fields(h, "Sec-WebSocket-Version") {
        Fields::None => None,
        Fields::One(one) => Some(one.to_string()),
        Fields::Many(versions) => Some(versions.join(", ")),
    };
    ResponseInfo {
        status: head.status,
        http_version: format!("1.{}", head.minor_version),
        accept: owned(header(h, "Sec-WebSocket-Accept")),
        protocol: owned(header(h, "Sec-WebSocket-Protocol")),
        extensions: extension_list(h).0,
        version,
        reason: head.reason,
        headers: head.headers,
        packet,
    }
}

/// Checks the final response to the upgrade request `req` (RFC 6455 §4.1 client rules, §4.2.2).
///
/// Returns what was negotiated, whether `Sec-WebSocket-Accept` matches the key (`None` when the
/// request had no key or the response no accept), and the violations:
/// - status other than 101: [`CheckId::UpgradeRefused`] (info) with the status, the reason and
///   any `Sec-WebSocket-Version` list (§4.4), and nothing else;
/// - `Upgrade` without `websocket`, `Connection` without `Upgrade` (client rules 2, 3);
/// - `Sec-WebSocket-Accept` missing, repeated, or not [`accept_for`] the key (client rule 4);
/// - a subprotocol the client did not offer (compared case-sensitively, RFC 7936 §3), or more
///   than one (client rule 6);
/// - an extension the client did not offer by name (client rule 5, §9.1);
/// - permessage-deflate problems, via [`negotiate_deflate`] (RFC 7692 §7.1), and
///   permessage-deflate accepted twice (both would use RSV1, RFC 7692 §5);
/// - a malformed `Sec-WebSocket-Extensions` ([`CheckId::ExtensionsHeaderMalformed`]).
///
/// `Negotiated.protocol` is the first selected subprotocol even when it was not offered: the
/// server will speak it. `Negotiated.deflate` is set whenever permessage-deflate was accepted.
pub fn check_response(
    req: &RequestInfo,
    head: &ResponseHead,
) -> (Negotiated, Option<bool>, Vec<Violation>) {
    let h = &head.headers;
    let mut v = Vec::new();
    if head.status != 101 {
        let mut detail = format!("status {} {:?}", head.status, head.reason);
        let versions = headers_all(h, "Sec-WebSocket-Version");
        if !versions.is_empty() {
            detail.push_str(&format!(
                "; the server supports Sec-WebSocket-Version {:?}",
                versions.join(", ")
            ));
        } else if head.status == 426 {
            detail.push_str("; no Sec-WebSocket-Version list");
        }
        return (Negotiated::default(), None, vec![violation(CheckId::UpgradeRefused, detail)]);
    }

    if !any_token(h, "Upgrade", "websocket") {
        let upgrade = headers_all(h, "Upgrade");
        v.push(violation(CheckId::ResponseUpgradeHeaderInvalid, describe("Upgrade", &upgrade)));
    }
    if !any_token(h, "Connection", "Upgrade") {
        let connection = headers_all(h, "Connection");
        v.push(violation(
            CheckId::ResponseConnectionHeaderInvalid,
            describe("Connection", &connection),
        ));
    }

    let expected = req.key.as_deref().map(accept_for);
    let accept_valid = match (fields(h, "Sec-WebSocket-Accept"), expected) {
        (Fields::None, expected) => {
            let detail = match expected {
                Some(e) => format!("no Sec-WebSocket-Accept header; expected {e:?}"),
                None => "no Sec-WebSocket-Accept header".to_string(),
            };
            v.push(violation(CheckId::AcceptKeyInvalid, detail));
            None
        }
        (Fields::One(got), Some(expected)) if got == expected => Some(true),
        (Fields::One(got), Some(expected)) => {
            v.push(violation(
                CheckId::AcceptKeyInvalid,
                format!("expected {expected:?}, got {got:?}"),
            ));
            Some(false)
        }
        (Fields::One(_), None) => None,
        (Fields::Many(all), expected) => {
            let mut detail =
                format!("Sec-WebSocket-Accept sent {} times: {:?}", all.len(), all.join(", "));
            if let Some(e) = &expected {
                detail.push_str(&format!("; expected {e:?} once"));
            }
            v.push(violation(CheckId::AcceptKeyInvalid, detail));
            expected.map(|_| false)
        }
    };

    let selected = protocol_list(h);
    if selected.len() > 1 {
        v.push(violation(
            CheckId::SubprotocolNotOffered,
            format!(
                "the server selected several subprotocols {:?}; at most one is allowed",
                headers_all(h, "Sec-WebSocket-Protocol").join(", ")
            ),
        ));
    } else if let Some(p) = selected.first().filter(|p| !req.protocols.contains(p)) {
        let offered = if req.protocols.is_empty() {
            "the client offered none".to_string()
        } else {
            format!("offered: {:?}", req.protocols.join(", "))
        };
        v.push(violation(
            CheckId::SubprotocolNotOffered,
            format!("the server selected {p:?}; {offered}"),
        ));
    } else if selected.is_empty() && header_values(h, "Sec-WebSocket-Protocol").next().is_some() {
        v.push(violation(
            CheckId::SubprotocolNotOffered,
            "the server selected an empty subprotocol".into(),
        ));
    }

    let (accepted, malformed) = extension_list(h);
    v.extend(malformed);
    let mut negotiated =
        Negotiated { protocol: selected.into_iter().next(), ..Negotiated::default() };
    for ext in &accepted {
        if !req.extensions.iter().any(|o| o.name.eq_ignore_ascii_case(&ext.name)) {
            let names: Vec<&str> = req.extensions.iter().map(|o| o.name.as_str()).collect();
            let offered = if names.is_empty() {
                "none".to_string()
            } else {
                format!("{:?}", names.join(", "))
            };
            v.push(violation(
                CheckId::ExtensionNotOffered,
                format!(
                    "the server accepted {:?}; the client offered {offered}",
                    format_extension(ext)
                ),
            ));
        }
        if !ext.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) {
            negotiated.unknown_extensions = true;
        } else if negotiated.deflate.is_some() {
            v.push(violation(
                CheckId::DeflateParameterInvalid,
                format!(
                    "permessage-deflate accepted twice ({:?} again); both would use RSV1 (RFC 7692 §5); the first is used",
                    format_extension(ext)
                ),
            ));
        } else {
            let (params, problems) = negotiate_deflate(&req.extensions, ext);
            negotiated.deflate = params;
            v.extend(problems);
        }
    }
    (negotiated, accept_valid, v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse::{Parsed, parse_request, parse_response};
    use crate::http::types::DeflateParams;

    // ── fixtures, written by hand after what each client sends ──

    /// Chromium 124 on Linux, `new WebSocket("ws://example.com:8080/chat")`.
    const CHROMIUM: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: example.com:8080\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: http://example.com:8080\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
\r\n";

    /// A server answering Chromium with a subprotocol and permessage-deflate.
    const CHROMIUM_101: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=\r\n\
Sec-WebSocket-Protocol: chat\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15\r\n\
\r\n";

    /// Python websockets 12 client (`websockets.connect("ws://localhost:8765/ws")`).
    const PYTHON: &[u8] = b"GET /ws HTTP/1.1\r\n\
Host: localhost:8765\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: OoxJM/oIn17IhWcwXWAksQ==\r\n\
Sec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
User-Agent: Python/3.12 websockets/12.0\r\n\
\r\n";

    /// Python websockets 12 server, default compression settings.
    const PYTHON_101: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Date: Mon, 06 May 2024 10:00:00 GMT\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: gYJQnDXX3ceDc0eRifdAdbC6f0c=\r\n\
Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12; client_max_window_bits=12\r\n\
Server: Python/3.12 websockets/12.0\r\n\
\r\n";

    /// Node ws 8 client (`new WebSocket("ws://127.0.0.1:8080")`).
    const NODE: &[u8] = b"GET / HTTP/1.1\r\n\
Sec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Key: aCP8JohxOYar97LLUEIV2Q==\r\n\
Connection: Upgrade\r\n\
Upgrade: websocket\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
Host: 127.0.0.1:8080\r\n\
\r\n";

    /// Node ws 8 server with `perMessageDeflate: true`.
    const NODE_101: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: V/2j7QHThv+m7mD3buQYS/izWVU=\r\n\
Sec-WebSocket-Extensions: permessage-deflate\r\n\
\r\n";

    #[test]
    fn the_request_read_once_is_what_info_and_checks_say_apart() {
        let heads: [&[u8]; 4] = [
            b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
            b"POST / HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Extensions: ;;\r\n\
              Sec-WebSocket-Extensions: x-a, permessage-deflate; server_max_window_bits=99\r\n\r\n",
            b"GET / HTTP/1.1\r\nSec-WebSocket-Extensions: permessage-deflate, permessage-deflate; \
              bogus\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
        ];
        for bytes in heads {
            let head = request(bytes);
            let (info, violations) = upgrade_request(head.clone(), 7);
            assert_eq!(violations, check_request(&head));
            assert_eq!(info, request_info(head, 7));
        }
        // Not vacuous: the offers and the malformed field are found.
        let (info, violations) = upgrade_request(request(heads[1]), 1);
        assert_eq!(info.extensions.len(), 2, "{info:?}");
        assert!(violations.iter().any(|v| v.check == CheckId::ExtensionsHeaderMalformed));
    }

    fn request(bytes: &[u8]) -> RequestHead {
        match parse_request(bytes, 8192).unwrap() {
            Parsed::Done(h, n) => {
                assert_eq!(n, bytes.len());
                h
            }
            Parsed::NeedMore => panic!("incomplete fixture"),
        }
    }

    fn response(bytes: &[u8]) -> ResponseHead {
        match parse_response(bytes, 8192).unwrap() {
            Parsed::Done(h, n) => {
                assert_eq!(n, bytes.len());
                h
            }
            Parsed::NeedMore => panic!("incomplete fixture"),
        }
    }

    /// `base` with the header `name` removed (all of them) and `extra` lines added.
    fn edit(base: &[u8], remove: &[&str], extra: &[&str]) -> Vec<u8> {
        let text = std::str::from_utf8(base).unwrap();
        let mut lines: Vec<&str> = text.trim_end().split("\r\n").collect();
        lines.retain(|l| {
            !remove.iter().any(|r| {
                l.to_ascii_lowercase().starts_with(&format!("{}:", r.to_ascii_lowercase()))
            })
        });
        lines.extend_from_slice(extra);
        format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes()
    }

    fn checks(v: &[Violation]) -> Vec<CheckId> {
        v.iter().map(|v| v.check).collect()
    }

    /// Asserts exactly one violation, of `check`, with `detail`.
    fn assert_only(v: &[Violation], check: CheckId, detail: &str) {
        assert_eq!(v, &[Violation { check, detail: detail.to_string() }]);
    }

    fn request_violations(bytes: &[u8]) -> Vec<Violation> {
        check_request(&request(bytes))
    }

    fn respond(req: &[u8], res: &[u8]) -> (Negotiated, Option<bool>, Vec<Violation>) {
        check_response(&request_info(request(req), 1), &response(res))
    }

    // ── requests ──

    #[test]
    fn chromium_request_breaks_no_rule() {
        assert_eq!(request_violations(CHROMIUM), vec![]);
    }

    #[test]
    fn chromium_request_info_has_every_fact() {
        let info = request_info(request(CHROMIUM), 7);
        assert_eq!(info.method, "GET");
        assert_eq!(info.path, "/chat");
        assert_eq!(info.http_version, "1.1");
        assert_eq!(info.host.as_deref(), Some("example.com:8080"));
        assert_eq!(info.origin.as_deref(), Some("http://example.com:8080"));
        assert!(info.user_agent.as_deref().unwrap().contains("Chrome/124"));
        assert_eq!(info.key.as_deref(), Some("x3JJHMbDL1EzLkh9GBhXDw=="));
        assert_eq!(info.version.as_deref(), Some("13"));
        assert_eq!(info.protocols, vec!["chat", "superchat"]);
        assert_eq!(
            info.extensions,
            vec![Extension {
                name: "permessage-deflate".into(),
                params: vec![("client_max_window_bits".into(), None)]
            }]
        );
        assert_eq!(info.headers.len(), 13);
        assert_eq!(info.packet, 7);
    }

    #[test]
    fn python_websockets_request_only_lacks_origin() {
        assert_only(&request_violations(PYTHON), CheckId::RequestOriginMissing, "no Origin header");
    }

    #[test]
    fn node_ws_request_only_lacks_origin() {
        assert_only(&request_violations(NODE), CheckId::RequestOriginMissing, "no Origin header");
    }

    #[test]
    fn request_method_not_get_is_invalid() {
        let bytes = [b"POST".as_slice(), &CHROMIUM[3..]].concat();
        assert_only(
            &request_violations(&bytes),
            CheckId::RequestMethodNotGet,
            "method is \"POST\", not GET",
        );
    }

    #[test]
    fn request_method_is_case_sensitive() {
        let bytes = [b"get".as_slice(), &CHROMIUM[3..]].concat();
        assert_eq!(checks(&request_violations(&bytes)), vec![CheckId::RequestMethodNotGet]);
    }

    #[test]
    fn request_http_version_1_0_is_too_old() {
        let bytes =
            String::from_utf8(CHROMIUM.to_vec()).unwrap().replacen("HTTP/1.1", "HTTP/1.0", 1);
        assert_only(
            &request_violations(bytes.as_bytes()),
            CheckId::RequestHttpVersionTooOld,
            "request is HTTP/1.0; HTTP/1.1 or later is required",
        );
    }

    #[test]
    fn request_host_missing_is_invalid() {
        assert_only(
            &request_violations(&edit(CHROMIUM, &["Host"], &[])),
            CheckId::RequestHostMissing,
            "no Host header",
        );
    }

    #[test]
    fn request_host_empty_is_invalid() {
        let v = request_violations(&edit(CHROMIUM, &["Host"], &["Host:"]));
        assert_only(&v, CheckId::RequestHostMissing, "Host header is empty");
    }

    #[test]
    fn request_upgrade_without_websocket_is_invalid() {
        let v = request_violations(&edit(
            CHROMIUM,
            &["Upgrade"],
            &["Upgrade: h2c", "Upgrade: TLS/1.2"],
        ));
        assert_only(&v, CheckId::RequestUpgradeHeaderInvalid, "Upgrade is \"h2c, TLS/1.2\"");
    }

    #[test]
    fn request_upgrade_missing_is_invalid() {
        let v = request_violations(&edit(CHROMIUM, &["Upgrade"], &[]));
        assert_only(&v, CheckId::RequestUpgradeHeaderInvalid, "no Upgrade header");
    }

    #[test]
    fn request_upgrade_token_is_case_insensitive() {
        assert_eq!(
            request_violations(&edit(CHROMIUM, &["Upgrade"], &["upgrade: WebSocket"])),
            vec![]
        );
    }

    #[test]
    fn request_connection_without_upgrade_is_invalid() {
        let v = request_violations(&edit(CHROMIUM, &["Connection"], &["Connection: keep-alive"]));
        assert_only(&v, CheckId::RequestConnectionHeaderInvalid, "Connection is \"keep-alive\"");
    }

    #[test]
    fn request_connection_missing_is_invalid() {
        let v = request_violations(&edit(CHROMIUM, &["Connection"], &[]));
        assert_only(&v, CheckId::RequestConnectionHeaderInvalid, "no Connection header");
    }

    #[test]
    fn request_connection_with_upgrade_among_other_tokens_is_valid() {
        // Firefox sends "keep-alive, Upgrade".
        assert_eq!(
            request_violations(&edit(
                CHROMIUM,
                &["Connection"],
                &["Connection: keep-alive, Upgrade"]
            )),
            vec![]
        );
    }

    #[test]
    fn request_key_missing_is_invalid() {
        let v = request_violations(&edit(CHROMIUM, &["Sec-WebSocket-Key"], &[]));
        assert_only(&v, CheckId::RequestKeyInvalid, "no Sec-WebSocket-Key header");
    }

    #[test]
    fn request_key_repeated_is_invalid() {
        let v = request_violations(&edit(
            CHROMIUM,
            &[],
            &["Sec-WebSocket-Key: OoxJM/oIn17IhWcwXWAksQ=="],
        ));
        assert_only(
            &v,
            CheckId::RequestKeyInvalid,
            "Sec-WebSocket-Key sent 2 times: \"x3JJHMbDL1EzLkh9GBhXDw==, OoxJM/oIn17IhWcwXWAksQ==\"",
        );
    }

    #[test]
    fn request_key_of_15_bytes_is_invalid() {
        let v = request_violations(&edit(
            CHROMIUM,
            &["Sec-WebSocket-Key"],
            &["Sec-WebSocket-Key: YWJjZGVmZ2hpamtsbW5v"],
        ));
        assert_only(
            &v,
            CheckId::RequestKeyInvalid,
            "Sec-WebSocket-Key \"YWJjZGVmZ2hpamtsbW5v\" decodes to 15 bytes, not 16",
        );
    }

    #[test]
    fn request_key_of_17_bytes_is_invalid() {
        let v = request_violations(&edit(
            CHROMIUM,
            &["Sec-WebSocket-Key"],
            &["Sec-WebSocket-Key: YWJjZGVmZ2hpamtsbW5vcHE="],
        ));
        assert_only(
            &v,
            CheckId::RequestKeyInvalid,
            "Sec-WebSocket-Key \"YWJjZGVmZ2hpamtsbW5vcHE=\" decodes to 17 bytes, not 16",
        );
    }

    #[test]
    fn request_key_not_base64_is_invalid() {
        let v = request_violations(&edit(
            CHROMIUM,
            &["Sec-WebSocket-Key"],
            &["Sec-WebSocket-Key: not a key!"],
        ));
        assert_eq!(checks(&v), vec![CheckId::RequestKeyInvalid]);
        assert!(
            v[0].detail.starts_with("Sec-WebSocket-Key \"not a key!\" is not base64"),
            "{}",
            v[0].detail
        );
    }

    #[test]
    fn request_key_without_padding_is_invalid() {
        let v = request_violations(&edit(
            CHROMIUM,
            &["Sec-WebSocket-Key"],
            &["Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw"],
        ));
        assert_eq!(checks(&v), vec![CheckId::RequestKeyInvalid]);
    }

    #[test]
    fn request_version_not_13_is_invalid() {
        let v = request_violations(&edit(
            CHROMIUM,
            &["Sec-WebSocket-Version"],
            &["Sec-WebSocket-Version: 8"],
        ));
        assert_only(&v, CheckId::RequestVersionNot13, "Sec-WebSocket-Version is \"8\", not \"13\"");
    }

    #[test]
    fn request_version_missing_is_invalid() {
        let v = request_violations(&edit(CHROMIUM, &["Sec-WebSocket-Version"], &[]));
        assert_only(&v, CheckId::RequestVersionNot13, "no Sec-WebSocket-Version header");
    }

    #[test]
    fn request_version_repeated_is_invalid() {
        let v = request_violations(&edit(CHROMIUM, &[], &["Sec-WebSocket-Version: 13"]));
        assert_only(
            &v,
            CheckId::RequestVersionNot13,
            "Sec-WebSocket-Version sent 2 times: \"13, 13\"",
        );
    }

    #[test]
    fn request_origin_missing_is_info() {
        let v = request_violations(&edit(CHROMIUM, &["Origin"], &[]));
        assert_only(&v, CheckId::RequestOriginMissing, "no Origin header");
        assert_eq!(
            CheckId::RequestOriginMissing.info().severity,
            crate::analyzer::checks::Severity::Info
        );
    }

    #[test]
    fn request_invalid_deflate_offer_is_invalid() {
        let v = request_violations(&edit(
            CHROMIUM,
            &["Sec-WebSocket-Extensions"],
            &["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=16"],
        ));
        assert_eq!(checks(&v), vec![CheckId::DeflateParameterInvalid]);
        assert!(v[0].detail.contains("\"16\""), "{}", v[0].detail);
    }

    #[test]
    fn request_malformed_extensions_header_is_http_malformed() {
        let bytes = edit(
            CHROMIUM,
            &["Sec-WebSocket-Extensions"],
            &["Sec-WebSocket-Extensions: permessage-deflate;", "Sec-WebSocket-Extensions: x-kept"],
        );
        let v = request_violations(&bytes);
        assert_only(
            &v,
            CheckId::ExtensionsHeaderMalformed,
            "Sec-WebSocket-Extensions is malformed (RFC 6455 §9.1): expected a parameter name at the end of \"permessage-deflate;\"",
        );
        let names: Vec<String> =
            request_info(request(&bytes), 1).extensions.into_iter().map(|e| e.name).collect();
        assert_eq!(names, vec!["x-kept"], "well-formed fields are still used");
    }

    #[test]
    fn request_breaking_every_rule_reports_each_once() {
        let v = request_violations(b"POST / HTTP/1.0\r\nUpgrade: websocket\r\n\r\n");
        assert_eq!(
            checks(&v),
            vec![
                CheckId::RequestMethodNotGet,
                CheckId::RequestHttpVersionTooOld,
                CheckId::RequestHostMissing,
                CheckId::RequestConnectionHeaderInvalid,
                CheckId::RequestKeyInvalid,
                CheckId::RequestVersionNot13,
                CheckId::RequestOriginMissing,
            ]
        );
    }

    #[test]
    fn upgrade_request_is_recognised_without_connection() {
        assert!(is_upgrade_request(&request(&edit(CHROMIUM, &["Connection"], &[]))));
        assert!(is_upgrade_request(&request(NODE)));
        assert!(is_upgrade_request(&request(b"GET / HTTP/1.1\r\nupgrade: foo, WEBSOCKET\r\n\r\n")));
    }

    #[test]
    fn invalid_upgrade_attempts_are_recognised_so_they_can_be_reported() {
        let post =
            b"POST /s HTTP/1.1\r\nHost: a\r\nUpgrade: websockets\r\nConnection: Upgrade\r\n\r\n";
        assert!(is_upgrade_request(&request(post)));
        let v: Vec<CheckId> = check_request(&request(post)).into_iter().map(|v| v.check).collect();
        assert!(v.contains(&CheckId::RequestMethodNotGet), "{v:?}");
        assert!(v.contains(&CheckId::RequestUpgradeHeaderInvalid), "{v:?}");
        assert!(is_upgrade_request(&request(
            b"GET / HTTP/1.1\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )));
    }

    #[test]
    fn other_requests_are_not_upgrade_requests() {
        assert!(!is_upgrade_request(&request(
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n\r\n"
        )));
        assert!(!is_upgrade_request(&request(
            b"GET / HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
        )));
    }

    // ── responses ──

    #[test]
    fn chromium_handshake_negotiates_protocol_and_deflate() {
        let (negotiated, accept_valid, v) = respond(CHROMIUM, CHROMIUM_101);
        assert_eq!(v, vec![]);
        assert_eq!(accept_valid, Some(true));
        assert_eq!(
            negotiated,
            Negotiated {
                protocol: Some("chat".into()),
                deflate: Some(DeflateParams {
                    server_no_context_takeover: false,
                    client_no_context_takeover: false,
                    server_max_window_bits: 15,
                    client_max_window_bits: 15,
                }),
                unknown_extensions: false,
            }
        );
    }

    #[test]
    fn python_websockets_handshake_negotiates_12_bit_windows() {
        let (negotiated, accept_valid, v) = respond(PYTHON, PYTHON_101);
        assert_eq!((accept_valid, v), (Some(true), vec![]));
        let deflate = negotiated.deflate.unwrap();
        assert_eq!((deflate.server_max_window_bits, deflate.client_max_window_bits), (12, 12));
    }

    #[test]
    fn node_ws_handshake_negotiates_default_deflate() {
        let (negotiated, accept_valid, v) = respond(NODE, NODE_101);
        assert_eq!((accept_valid, v), (Some(true), vec![]));
        assert_eq!(
            negotiated.deflate,
            Some(DeflateParams {
                server_max_window_bits: 15,
                client_max_window_bits: 15,
                ..Default::default()
            })
        );
        assert_eq!(negotiated.protocol, None);
    }

    #[test]
    fn response_info_has_every_fact() {
        let info = response_info(response(PYTHON_101), 9);
        assert_eq!(
            (info.status, info.reason.as_str(), info.http_version.as_str()),
            (101, "Switching Protocols", "1.1")
        );
        assert_eq!(info.accept.as_deref(), Some("gYJQnDXX3ceDc0eRifdAdbC6f0c="));
        assert_eq!(info.protocol, None);
        assert_eq!(info.extensions.len(), 1);
        assert_eq!(info.extensions[0].params.len(), 2);
        assert_eq!(info.version, None);
        assert_eq!((info.headers.len(), info.packet), (6, 9));
    }

    #[test]
    fn refused_upgrade_is_reported_and_nothing_else() {
        let res = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        let (negotiated, accept_valid, v) = respond(CHROMIUM, res);
        assert_eq!((negotiated, accept_valid), (Negotiated::default(), None));
        assert_only(&v, CheckId::UpgradeRefused, "status 403 \"Forbidden\"");
    }

    #[test]
    fn refused_426_lists_the_supported_versions() {
        let res = b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 8, 7\r\n\r\n";
        let (_, _, v) = respond(CHROMIUM, res);
        assert_only(
            &v,
            CheckId::UpgradeRefused,
            "status 426 \"Upgrade Required\"; the server supports Sec-WebSocket-Version \"13, 8, 7\"",
        );
        assert_eq!(response_info(response(res), 1).version.as_deref(), Some("13, 8, 7"));
    }

    #[test]
    fn refused_426_without_versions_says_so() {
        let (_, _, v) = respond(CHROMIUM, b"HTTP/1.1 426 Upgrade Required\r\n\r\n");
        assert_only(
            &v,
            CheckId::UpgradeRefused,
            "status 426 \"Upgrade Required\"; no Sec-WebSocket-Version list",
        );
    }

    #[test]
    fn interim_responses_are_recognised() {
        assert!(is_interim(&response(b"HTTP/1.1 100 Continue\r\n\r\n")));
        assert!(is_interim(&response(b"HTTP/1.1 103 Early Hints\r\n\r\n")));
        assert!(!is_interim(&response(NODE_101)));
        assert!(!is_interim(&response(b"HTTP/1.1 200 OK\r\n\r\n")));
    }

    #[test]
    fn response_upgrade_without_websocket_is_invalid() {
        let (_, _, v) = respond(NODE, &edit(NODE_101, &["Upgrade"], &["Upgrade: h2c"]));
        assert_only(&v, CheckId::ResponseUpgradeHeaderInvalid, "Upgrade is \"h2c\"");
    }

    #[test]
    fn response_upgrade_missing_is_invalid() {
        let (_, _, v) = respond(NODE, &edit(NODE_101, &["Upgrade"], &[]));
        assert_only(&v, CheckId::ResponseUpgradeHeaderInvalid, "no Upgrade header");
    }

    #[test]
    fn response_connection_without_upgrade_is_invalid() {
        let (_, _, v) = respond(NODE, &edit(NODE_101, &["Connection"], &["Connection: close"]));
        assert_only(&v, CheckId::ResponseConnectionHeaderInvalid, "Connection is \"close\"");
    }

    #[test]
    fn response_accept_mismatch_shows_expected_and_got() {
        let res = edit(
            NODE_101,
            &["Sec-WebSocket-Accept"],
            &["Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="],
        );
        let (negotiated, accept_valid, v) = respond(NODE, &res);
        assert_eq!(accept_valid, Some(false));
        assert_only(
            &v,
            CheckId::AcceptKeyInvalid,
            "expected \"V/2j7QHThv+m7mD3buQYS/izWVU=\", got \"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\"",
        );
        assert!(negotiated.deflate.is_some(), "negotiation is still read");
    }

    #[test]
    fn response_accept_is_case_sensitive() {
        let res = edit(
            NODE_101,
            &["Sec-WebSocket-Accept"],
            &["Sec-WebSocket-Accept: v/2j7QHThv+m7mD3buQYS/izWVU="],
        );
        assert_eq!(respond(NODE, &res).1, Some(false));
    }

    #[test]
    fn response_accept_missing_is_invalid() {
        let (_, accept_valid, v) = respond(NODE, &edit(NODE_101, &["Sec-WebSocket-Accept"], &[]));
        assert_eq!(accept_valid, None);
        assert_only(
            &v,
            CheckId::AcceptKeyInvalid,
            "no Sec-WebSocket-Accept header; expected \"V/2j7QHThv+m7mD3buQYS/izWVU=\"",
        );
    }

    #[test]
    fn response_accept_repeated_is_invalid() {
        let res = edit(NODE_101, &[], &["Sec-WebSocket-Accept: V/2j7QHThv+m7mD3buQYS/izWVU="]);
        let (_, accept_valid, v) = respond(NODE, &res);
        assert_eq!(accept_valid, Some(false));
        assert_eq!(checks(&v), vec![CheckId::AcceptKeyInvalid]);
        assert!(v[0].detail.starts_with("Sec-WebSocket-Accept sent 2 times"), "{}", v[0].detail);
    }

    #[test]
    fn response_accept_without_request_key_is_not_judged() {
        let (_, accept_valid, v) = respond(&edit(NODE, &["Sec-WebSocket-Key"], &[]), NODE_101);
        assert_eq!((accept_valid, v), (None, vec![]));
    }

    #[test]
    fn response_subprotocol_not_offered_is_invalid() {
        let res =
            edit(CHROMIUM_101, &["Sec-WebSocket-Protocol"], &["Sec-WebSocket-Protocol: mqtt"]);
        let (negotiated, _, v) = respond(CHROMIUM, &res);
        assert_only(
            &v,
            CheckId::SubprotocolNotOffered,
            "the server selected \"mqtt\"; offered: \"chat, superchat\"",
        );
        assert_eq!(negotiated.protocol.as_deref(), Some("mqtt"));
    }

    #[test]
    fn response_subprotocol_when_none_offered_is_invalid() {
        let (_, _, v) = respond(NODE, &edit(NODE_101, &[], &["Sec-WebSocket-Protocol: chat"]));
        assert_only(
            &v,
            CheckId::SubprotocolNotOffered,
            "the server selected \"chat\"; the client offered none",
        );
    }

    #[test]
    fn response_subprotocol_is_compared_case_sensitively() {
        let res =
            edit(CHROMIUM_101, &["Sec-WebSocket-Protocol"], &["Sec-WebSocket-Protocol: Chat"]);
        assert_eq!(checks(&respond(CHROMIUM, &res).2), vec![CheckId::SubprotocolNotOffered]);
    }

    #[test]
    fn response_several_subprotocols_is_invalid() {
        for extra in [
            &["Sec-WebSocket-Protocol: chat, superchat"][..],
            &["Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Protocol: superchat"],
        ] {
            let (negotiated, _, v) =
                respond(CHROMIUM, &edit(CHROMIUM_101, &["Sec-WebSocket-Protocol"], extra));
            assert_only(
                &v,
                CheckId::SubprotocolNotOffered,
                "the server selected several subprotocols \"chat, superchat\"; at most one is allowed",
            );
            assert_eq!(negotiated.protocol.as_deref(), Some("chat"));
        }
    }

    #[test]
    fn response_empty_subprotocol_is_invalid() {
        let res = edit(CHROMIUM_101, &["Sec-WebSocket-Protocol"], &["Sec-WebSocket-Protocol:"]);
        assert_only(
            &respond(CHROMIUM, &res).2,
            CheckId::SubprotocolNotOffered,
            "the server selected an empty subprotocol",
        );
    }

    #[test]
    fn response_extension_not_offered_is_invalid() {
        let res = edit(NODE_101, &[], &["Sec-WebSocket-Extensions: x-webkit-deflate-frame"]);
        let (negotiated, _, v) = respond(NODE, &res);
        assert_only(
            &v,
            CheckId::ExtensionNotOffered,
            "the server accepted \"x-webkit-deflate-frame\"; the client offered \"permessage-deflate\"",
        );
        assert!(negotiated.unknown_extensions);
        assert!(negotiated.deflate.is_some());
    }

    #[test]
    fn response_deflate_not_offered_is_invalid_but_still_decoded() {
        let req = edit(NODE, &["Sec-WebSocket-Extensions"], &[]);
        let (negotiated, _, v) = respond(&req, NODE_101);
        assert_only(
            &v,
            CheckId::ExtensionNotOffered,
            "the server accepted \"permessage-deflate\"; the client offered none",
        );
        assert!(negotiated.deflate.is_some());
    }

    #[test]
    fn response_offered_unknown_extension_sets_unknown_extensions() {
        let req =
            edit(NODE, &["Sec-WebSocket-Extensions"], &["Sec-WebSocket-Extensions: x-foo; a=1"]);
        let res =
            edit(NODE_101, &["Sec-WebSocket-Extensions"], &["Sec-WebSocket-Extensions: x-foo"]);
        let (negotiated, _, v) = respond(&req, &res);
        assert_eq!(v, vec![]);
        assert_eq!((negotiated.unknown_extensions, negotiated.deflate), (true, None));
    }

    #[test]
    fn response_deflate_accepted_twice_is_invalid() {
        let res = edit(
            NODE_101,
            &[],
            &["Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover"],
        );
        let (negotiated, _, v) = respond(NODE, &res);
        assert_eq!(checks(&v), vec![CheckId::DeflateParameterInvalid]);
        assert!(v[0].detail.contains("accepted twice"), "{}", v[0].detail);
        assert_eq!(
            negotiated.deflate.map(|d| d.server_no_context_takeover),
            Some(false),
            "the first is used"
        );
    }

    #[test]
    fn response_invalid_deflate_parameter_is_invalid() {
        let res = edit(
            PYTHON_101,
            &["Sec-WebSocket-Extensions"],
            &["Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7"],
        );
        let (negotiated, _, v) = respond(PYTHON, &res);
        assert_eq!(checks(&v), vec![CheckId::DeflateParameterInvalid]);
        assert_eq!(negotiated.deflate.map(|d| d.server_max_window_bits), Some(15));
    }

    #[test]
    fn response_malformed_extensions_header_is_reported() {
        let res = edit(
            NODE_101,
            &["Sec-WebSocket-Extensions"],
            &["Sec-WebSocket-Extensions: permessage-deflate; a=\"b"],
        );
        let (negotiated, _, v) = respond(NODE, &res);
        assert_eq!(checks(&v), vec![CheckId::ExtensionsHeaderMalformed]);
        assert_eq!(negotiated.deflate, None);
    }

    #[test]
    fn response_breaking_every_rule_reports_each() {
        let res = b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Protocol: a, b\r\nSec-WebSocket-Extensions: x\r\n\r\n";
        let (_, accept_valid, v) = respond(NODE, res);
        assert_eq!(accept_valid, None);
        assert_eq!(
            checks(&v),
            vec![
                CheckId::ResponseUpgradeHeaderInvalid,
                CheckId::ResponseConnectionHeaderInvalid,
                CheckId::AcceptKeyInvalid,
                CheckId::SubprotocolNotOffered,
                CheckId::ExtensionNotOffered,
            ]
        );
    }
}
