//! A forgiving reading of HTTP/1.x heads that `httparse` refuses (RFC 9112 §2–§5 broken), so a
//! malformed upgrade attempt is still followed and reported instead of vanishing.
//!
//! Used only after the strict parser failed: the strict error is what gets reported. This reader
//! accepts what real and hostile peers send and `httparse` does not: bare CR or NUL in a field,
//! obs-fold continuation lines, bytes above 0x7F in the request target, runs of spaces between
//! the parts of the request line, more than [`super::parse::MAX_HEADERS`] fields. Guarantees:
//! total on any bytes (no panic, no error), bounded output (at most [`MAX_FIELDS`] fields,
//! values cut at [`MAX_VALUE`] bytes), and a head ends at the first empty line (CRLF or LF).

use super::parse::{RequestHead, ResponseHead};

/// Header fields kept from one head.
pub const MAX_FIELDS: usize = 1024;
/// Bytes kept of one field value, method, target or reason.
pub const MAX_VALUE: usize = 8 << 10;

/// The length of the head at the start of `buf`, up to and including the empty line that ends
/// it (empty lines before the start line are part of it), or `None` when it has not ended yet.
pub fn head_len(buf: &[u8]) -> Option<usize> {
    let mut start = 0;
    // Skip empty lines before the start line (RFC 9112 §2.2).
    while let Some(rest) = buf.get(start..) {
        match rest {
            [b'\r', b'\n', ..] => start += 2,
            [b'\n', ..] => start += 1,
            _ => break,
        }
    }
    let mut i = start;
    while let Some(at) = memchr(b'\n', buf.get(i..)?) {
        let nl = i + at;
        // The line after this newline is empty: "\n\n" or "\n\r\n".
        match buf.get(nl + 1..) {
            Some([b'\n', ..]) => return Some(nl + 2),
            Some([b'\r', b'\n', ..]) => return Some(nl + 3),
            _ => i = nl + 1,
        }
    }
    None
}

fn memchr(b: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|x| *x == b)
}

/// The start line and the fields of a head (everything before its empty line), forgivingly.
fn lines(head: &[u8]) -> (String, Vec<(String, String)>) {
    let text = String::from_utf8_lossy(head);
    let mut it = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start = it.by_ref().find(|l| !l.is_empty()).unwrap_or_default();
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in it {
        if line.is_empty() {
            break;
        }
        // obs-fold: a line starting with whitespace continues the previous field's value.
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = fields.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
                cut(v);
            }
            continue;
        }
        if fields.len() >= MAX_FIELDS {
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            let mut v = value.trim().to_string();
            cut(&mut v);
            let mut n = name.trim().to_string();
            cut(&mut n);
            fields.push((n, v));
        }
    }
    (cut_str(start), fields)
}

fn cut(s: &mut String) {
    if s.len() > MAX_VALUE {
        let mut end = MAX_VALUE;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

fn cut_str(s: &str) -> String {
    let mut s = s.to_string();
    cut(&mut s);
    s
}

/// `x` of `HTTP/1.x` (0 when it is not that).
fn minor(version: &str) -> u8 {
    match version.trim().strip_prefix("HTTP/1.") {
        Some(d) => d.parse().unwrap_or(0),
        None => 0,
    }
}

/// A request head read forgivingly from `head` (a whole head, or its first bytes when it was too
/// long).
pub fn request(head: &[u8]) -> RequestHead {
    let (start, headers) = lines(head);
    let start = start.trim();
    let (method, rest) = start.split_once(char::is_whitespace).unwrap_or((start, ""));
    // The version is the last word: a target holding whitespace (a tab, a form feed) is one
    // broken target, not a target and a version (helper-52: `GET /a\tb HTTP/1.1` was said to
    // be HTTP/1.0).
    let rest = rest.trim();
    let (target, version) = match rest.rsplit_once(char::is_whitespace) {
        Some((t, v)) if v.starts_with("HTTP/") => (t.trim_end(), Some(v)),
        _ if rest.starts_with("HTTP/") => ("", Some(rest)),
        _ => (rest, None),
    };
    let minor_version = version.map_or(0, minor);
    RequestHead { method: method.to_string(), target: target.to_string(), minor_version, headers }
}

/// A response head read forgivingly from `head`.
pub fn response(head: &[u8]) -> ResponseHead {
    let (start, headers) = lines(head);
    let mut parts = start.splitn(3, ' ').filter(|p| !p.is_empty());
    let minor_version = parts.next().map_or(0, minor);
    let status = parts.next().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    let reason = parts.next().unwrap_or_default().trim().to_string();
    ResponseHead { minor_version, status, reason, headers }
}

/// Whether `buf` starts like a response's status line (`HTTP/1.`): `None` while too short to
/// tell.
pub fn looks_like_response_start(buf: &[u8]) -> Option<bool> {
    const START: &[u8] = b"HTTP/1.";
    let n = buf.len().min(START.len());
    if buf[..n] != START[..n] {
        Some(false)
    } else if n < START.len() {
        None
    } else {
        Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_ends_at_the_first_empty_line_with_crlf_or_lf() {
        assert_eq!(head_len(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest"), Some(24));
        assert_eq!(head_len(b"GET / HTTP/1.1\nA: b\n\nrest"), Some(21));
        assert_eq!(head_len(b"\r\nGET / HTTP/1.1\r\n\r\n"), Some(20));
        assert_eq!(head_len(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }

    #[test]
    fn what_httparse_refuses_is_read() {
        let h = request(
            b"GET  /\xffpath HTTP/1.1\r\nHost: x\r\nX-A: a\rb\0c\r\nX-F: one\r\n  two\r\nUpgrade: websocket\r\n\r\n",
        );
        assert_eq!((h.method.as_str(), h.minor_version), ("GET", 1));
        assert_eq!(h.target, "/\u{fffd}path");
        assert_eq!(h.headers[1], ("X-A".to_string(), "a\rb\0c".to_string()));
        assert_eq!(h.headers[2], ("X-F".to_string(), "one two".to_string()));
        assert_eq!(h.headers[3], ("Upgrade".to_string(), "websocket".to_string()));
    }

    #[test]
    fn the_version_is_the_last_word_of_the_request_line() {
        let h = request("GET /emoji😀/tab\there HTTP/1.1\r\nHost: x\r\n\r\n".as_bytes());
        assert_eq!((h.target.as_str(), h.minor_version), ("/emoji😀/tab\there", 1));
        let h = request(b"GET /a\x0bb\x0cc  HTTP/1.1\r\n\r\n");
        assert_eq!((h.target.as_str(), h.minor_version), ("/a\x0bb\x0cc", 1));
        let h = request(b"GET /no-version\r\n\r\n");
        assert_eq!((h.target.as_str(), h.minor_version), ("/no-version", 0));
        let h = request(b"GET HTTP/1.1\r\n\r\n");
        assert_eq!((h.method.as_str(), h.target.as_str(), h.minor_version), ("GET", "", 1));
        let h = request(b"");
        assert_eq!((h.method.as_str(), h.target.as_str(), h.minor_version), ("", "", 0));
    }

    #[test]
    fn output_is_bounded() {
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..5000 {
            head.extend(format!("X-{i}: {}\r\n", "v".repeat(20)).as_bytes());
        }
        head.extend(b"X-Long: ");
        head.extend(vec![b'a'; 100_000]);
        head.extend(b"\r\n\r\n");
        let h = request(&head);
        assert_eq!(h.headers.len(), MAX_FIELDS);
        let r = request(format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "é".repeat(10_000)).as_bytes());
        assert!(r.headers[0].1.len() <= MAX_VALUE);
    }

    #[test]
    fn a_response_status_line_is_read() {
        let r = response(b"HTTP/1.1 101 Switching  Protocols\r\nUpgrade: websocket\r\n\r\n");
        assert_eq!(
            (r.minor_version, r.status, r.reason.as_str()),
            (1, 101, "Switching  Protocols")
        );
        assert_eq!(looks_like_response_start(b"HTTP/"), None);
        assert_eq!(looks_like_response_start(b"HTTP/1.1 101"), Some(true));
        assert_eq!(looks_like_response_start(b"\x81\x05"), Some(false));
    }
}
