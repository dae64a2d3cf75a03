//! Incremental HTTP/1.x head parsing (RFC 9112 §2–§5) on top of `httparse`, and header helpers.
//!
//! Guarantees:
//! - A parser has three outcomes: [`Parsed::Done`] with the head and the number of bytes it took
//!   (blank line included), [`Parsed::NeedMore`] (nothing consumed: call again with more bytes
//!   appended), or an [`HttpError`].
//! - The result does not depend on how the bytes were split: only the first `max_head` bytes are
//!   ever looked at, so a head that does not end within them is [`HttpError::HeadTooLarge`]
//!   whether it arrived whole or byte by byte.
//! - Header names are kept as sent; values are decoded as lossy UTF-8 (obs-text becomes U+FFFD) and
//!   have no surrounding whitespace.
//!
//! Not done here: body framing (see [`super::body`]) and any WebSocket rule (see [`super::validate`]).

use super::error::HttpError;

/// How many header fields a head may carry before it is [`HttpError::TooManyHeaders`].
pub const MAX_HEADERS: usize = 128;

/// The outcome of parsing a head that did not fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The head, and its length in bytes including the blank line that ends it.
    Done(T, usize),
    /// The head is not complete yet; nothing was consumed.
    NeedMore,
}

/// A request line and its header fields (RFC 9112 §3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestHead {
    /// Method, case preserved (methods are case-sensitive, RFC 9110 §9.1).
    pub method: String,
    /// Request target as sent.
    pub target: String,
    /// `x` of `HTTP/1.x`.
    pub minor_version: u8,
    /// Header fields in order: name as sent, value as lossy UTF-8.
    pub headers: Vec<(String, String)>,
}

/// A status line and its header fields (RFC 9112 §4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseHead {
    /// `x` of `HTTP/1.x`.
    pub minor_version: u8,
    /// Status code.
    pub status: u16,
    /// Reason phrase (may be empty).
    pub reason: String,
    /// Header fields in order: name as sent, value as lossy UTF-8.
    pub headers: Vec<(String, String)>,
}

/// Parses a request head from the start of `buf`, looking at most at `max_head` bytes.
///
/// Empty lines before the request line are skipped (RFC 9112 §2.2) and counted in the length.
pub fn parse_request(buf: &[u8], max_head: usize) -> Result<Parsed<RequestHead>, HttpError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    match req.parse(window(buf, max_head))? {
        httparse::Status::Complete(len) => {
            let head = RequestHead {
                method: req.method.unwrap_or_default().to_string(),
                target: req.path.unwrap_or_default().to_string(),
                minor_version: req.version.unwrap_or_default(),
                headers: owned_headers(req.headers),
            };
            Ok(Parsed::Done(head, len))
        }
        httparse::Status::Partial => need_more(buf, max_head),
    }
}

/// Parses a response head from the start of `buf`, looking at most at `max_head` bytes.
pub fn parse_response(buf: &[u8], max_head: usize) -> Result<Parsed<ResponseHead>, HttpError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut fields);
    match res.parse(window(buf, max_head))? {
        httparse::Status::Complete(len) => {
            let head = ResponseHead {
                minor_version: res.version.unwrap_or_default(),
                status: res.code.unwrap_or_default(),
                reason: res.reason.unwrap_or_default().to_string(),
                headers: owned_headers(res.headers),
            };
            Ok(Parsed::Done(head, len))
        }
        httparse::Status::Partial => need_more(buf, max_head),
    }
}

/// The part of `buf` a head may occupy.
fn window(buf: &[u8], max_head: usize) -> &[u8] {
    buf.get(..max_head).unwrap_or(buf)
}

/// A partial head: wait for more bytes, unless the limit is already reached.
fn need_more<T>(buf: &[u8], max_head: usize) -> Result<Parsed<T>, HttpError> {
    if buf.len() >= max_head {
        Err(HttpError::HeadTooLarge { limit: max_head })
    } else {
        Ok(Parsed::NeedMore)
    }
}

fn owned_headers(fields: &[httparse::Header<'_>]) -> Vec<(String, String)> {
    fields.iter().map(|h| (h.name.to_string(), lossy_string(h.value))).collect()
}

/// `bytes` as text, invalid UTF-8 replaced by U+FFFD. Valid text (nearly every header value) is
/// checked by `from_utf8`, word at a time for ASCII, before the replacing decoder is needed.
pub(crate) fn lossy_string(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Methods [`looks_like_request_start`] recognises (RFC 9110 §9.3, RFC 5789).
const METHODS: &[&[u8]] =
    &[b"GET", b"POST", b"PUT", b"HEAD", b"OPTIONS", b"DELETE", b"PATCH", b"CONNECT", b"TRACE"];

/// Whether `buf` starts like an HTTP request line: an uppercase method then a space.
///
/// `Some(true)`: it does; `Some(false)`: it cannot; `None`: `buf` is a proper prefix of
/// `METHOD ` (empty included), so more bytes are needed to tell.
///
/// Empty lines (CRLF or LF) before the method are skipped, as [`parse_request`] skips them
/// (RFC 9112 §2.2: some clients send an extra CRLF after a request body).
pub fn looks_like_request_start(buf: &[u8]) -> Option<bool> {
    let mut buf = buf;
    loop {
        buf = match buf {
            [b'\r', b'\n', rest @ ..] | [b'\n', rest @ ..] => rest,
            [b'\r'] => return None,
            [b'\r', ..] => return Some(false),
            _ => break,
        };
    }
    let mut undecided = false;
    for method in METHODS {
        match buf.strip_prefix(*method) {
            Some([b' ', ..]) => return Some(true),
            Some([]) => undecided = true,
            Some(_) => {}
            None => undecided |= method.starts_with(buf),
        }
    }
    if undecided { None } else { Some(false) }
}

/// The value of the first header field called `name` (ASCII case-insensitive).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// The values of every header field called `name` (ASCII case-insensitive), in order.
pub fn headers_all<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    header_values(headers, name).collect()
}

/// [`headers_all`] without collecting them.
pub fn header_values<'a>(
    headers: &'a [(String, String)],
    name: &str,
) -> impl Iterator<Item = &'a str> {
    headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Whether the comma-separated list `value` contains `token` (ASCII case-insensitive, elements
/// trimmed of spaces and tabs), as for `Connection` and `Upgrade` (RFC 9110 §5.6.1).
pub fn has_token(value: &str, token: &str) -> bool {
    value.split(',').any(|t| t.trim_matches([' ', '\t']).eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Header values become what `from_utf8_lossy` makes of them, valid or not.
        #[test]
        fn header_text_is_what_the_replacing_decoder_gives(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            text in ".{0,16}",
        ) {
            proptest::prop_assert_eq!(lossy_string(&bytes), String::from_utf8_lossy(&bytes));
            proptest::prop_assert_eq!(lossy_string(text.as_bytes()), text);
        }
    }

    const LIMIT: usize = 8192;

    fn request(buf: &[u8]) -> (RequestHead, usize) {
        match parse_request(buf, LIMIT).unwrap() {
            Parsed::Done(h, n) => (h, n),
            Parsed::NeedMore => panic!("need more"),
        }
    }

    const GET: &[u8] =
        b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\r\n";

    #[test]
    fn complete_request_reports_head_length_without_the_bytes_after_it() {
        let mut buf = GET.to_vec();
        buf.extend_from_slice(b"\x81\x05hello");
        let (head, n) = request(&buf);
        assert_eq!(n, GET.len());
        assert_eq!(head.method, "GET");
        assert_eq!(head.target, "/chat?room=1");
        assert_eq!(head.minor_version, 1);
        assert_eq!(
            head.headers,
            vec![("Host".into(), "example.com".into()), ("Upgrade".into(), "websocket".into())]
        );
    }

    #[test]
    fn partial_request_needs_more_at_every_split_point() {
        for cut in 0..GET.len() {
            assert_eq!(parse_request(&GET[..cut], LIMIT).unwrap(), Parsed::NeedMore, "cut {cut}");
        }
        assert_eq!(request(GET).1, GET.len());
    }

    #[test]
    fn empty_lines_before_request_line_are_skipped() {
        let mut buf = b"\r\n".to_vec();
        buf.extend_from_slice(GET);
        let (head, n) = request(&buf);
        assert_eq!((head.method.as_str(), n), ("GET", GET.len() + 2));
    }

    #[test]
    fn http_1_0_request_has_minor_version_0() {
        let (head, _) = request(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(head.minor_version, 0);
    }

    #[test]
    fn header_names_are_kept_as_sent_and_values_are_trimmed() {
        let (head, _) = request(b"GET / HTTP/1.1\r\nsec-WEBSOCKET-key:   abc  \r\n\r\n");
        assert_eq!(head.headers, vec![("sec-WEBSOCKET-key".into(), "abc".into())]);
    }

    #[test]
    fn header_values_are_decoded_as_lossy_utf8() {
        let (head, _) = request(b"GET / HTTP/1.1\r\nUser-Agent: caf\xe9\r\n\r\n");
        assert_eq!(head.headers[0].1, "caf\u{fffd}");
    }

    #[test]
    fn head_without_blank_line_within_limit_is_too_large() {
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nX: yyyyyyyyyyyyyyyyyyyy\r\n";
        assert_eq!(parse_request(&buf[..20], 30).unwrap(), Parsed::NeedMore);
        assert_eq!(parse_request(buf, 30), Err(HttpError::HeadTooLarge { limit: 30 }));
        assert_eq!(parse_request(&buf[..30], 30), Err(HttpError::HeadTooLarge { limit: 30 }));
    }

    #[test]
    fn complete_head_longer_than_limit_is_too_large_however_it_arrives() {
        assert_eq!(parse_request(GET, GET.len()).unwrap(), Parsed::Done(request(GET).0, GET.len()));
        let limit = GET.len() - 1;
        assert_eq!(parse_request(GET, limit), Err(HttpError::HeadTooLarge { limit }));
    }

    #[test]
    fn more_than_128_headers_is_too_many_headers() {
        let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            buf.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        assert_eq!(
            parse_request(&buf, 1 << 20),
            Err(HttpError::TooManyHeaders { max: MAX_HEADERS })
        );
    }

    #[test]
    fn malformed_request_line_is_an_error() {
        assert_eq!(
            parse_request(b"GET / HTTP/2.0\r\n\r\n", LIMIT),
            Err(HttpError::Malformed(httparse::Error::Version))
        );
        assert!(matches!(
            parse_request(b"GET /\0 HTTP/1.1\r\n\r\n", LIMIT),
            Err(HttpError::Malformed(_))
        ));
    }

    #[test]
    fn malformed_header_is_an_error() {
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", LIMIT),
            Err(HttpError::Malformed(httparse::Error::HeaderName))
        );
    }

    #[test]
    fn complete_response_is_parsed_with_reason() {
        let buf = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00";
        let Parsed::Done(head, n) = parse_response(buf, LIMIT).unwrap() else { panic!() };
        assert_eq!(n, buf.len() - 2);
        assert_eq!(
            (head.minor_version, head.status, head.reason.as_str()),
            (1, 101, "Switching Protocols")
        );
        assert_eq!(header(&head.headers, "upgrade"), Some("websocket"));
    }

    #[test]
    fn partial_response_needs_more_at_every_split_point() {
        let buf = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        for cut in 0..buf.len() {
            assert_eq!(parse_response(&buf[..cut], LIMIT).unwrap(), Parsed::NeedMore, "cut {cut}");
        }
        assert!(
            matches!(parse_response(buf, LIMIT).unwrap(), Parsed::Done(_, n) if n == buf.len())
        );
    }

    #[test]
    fn response_without_blank_line_within_limit_is_too_large() {
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nServer: x\r\n", 20),
            Err(HttpError::HeadTooLarge { limit: 20 })
        );
    }

    #[test]
    fn malformed_status_line_is_an_error() {
        assert_eq!(
            parse_response(b"HTTP/1.1 1O1 Switching\r\n\r\n", LIMIT),
            Err(HttpError::Malformed(httparse::Error::Status))
        );
    }

    #[test]
    fn request_start_is_recognised_for_every_method() {
        for m in METHODS {
            let mut line = m.to_vec();
            line.extend_from_slice(b" / HTTP/1.1");
            assert_eq!(
                looks_like_request_start(&line),
                Some(true),
                "{}",
                String::from_utf8_lossy(m)
            );
        }
    }

    #[test]
    fn request_start_is_undecided_on_a_method_prefix() {
        for buf in [&b""[..], b"G", b"GE", b"GET", b"P", b"PO", b"PA", b"CONNEC", b"OPTIONS"] {
            assert_eq!(looks_like_request_start(buf), None, "{}", String::from_utf8_lossy(buf));
        }
    }

    #[test]
    fn request_start_is_rejected_for_non_methods() {
        for buf in
            [&b"\x81\x05hello"[..], b"get / HTTP/1.1", b"GETX", b"GET/", b"HTTP/1.1 200", b"X"]
        {
            assert_eq!(
                looks_like_request_start(buf),
                Some(false),
                "{}",
                String::from_utf8_lossy(buf)
            );
        }
    }

    #[test]
    fn request_start_after_empty_lines_is_recognised() {
        assert_eq!(looks_like_request_start(b"\r\n\nGET / HTTP/1.1"), Some(true));
        for buf in [&b"\r"[..], b"\r\n", b"\n\r", b"\r\nGE"] {
            assert_eq!(looks_like_request_start(buf), None, "{buf:?}");
        }
        assert_eq!(looks_like_request_start(b"\rGET / HTTP/1.1"), Some(false));
        assert_eq!(looks_like_request_start(b"\r\n\x81\x00"), Some(false));
    }

    #[test]
    fn header_lookup_is_case_insensitive_and_returns_the_first() {
        let h = vec![("Foo".to_string(), "1".to_string()), ("FOO".to_string(), "2".to_string())];
        assert_eq!(header(&h, "foo"), Some("1"));
        assert_eq!(header(&h, "bar"), None);
        assert_eq!(headers_all(&h, "fOo"), vec!["1", "2"]);
        assert!(headers_all(&h, "bar").is_empty());
    }

    #[test]
    fn token_lists_are_matched_case_insensitively_after_trimming() {
        assert!(has_token("keep-alive, Upgrade", "upgrade"));
        assert!(has_token("\tUPGRADE\t", "upgrade"));
        assert!(has_token("websocket", "WebSocket"));
        assert!(!has_token("keep-alive", "upgrade"));
        assert!(!has_token("upgrades", "upgrade"));
        assert!(!has_token("", "upgrade"));
    }
}
