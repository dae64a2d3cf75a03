//! `http_handshake`: HTTP head parsing, handshake validation, extension negotiation and body
//! skipping on arbitrary bytes.
//!
//! Input: byte 0 selects what to exercise; the rest is the message. Checks: no panic, a partial
//! head never consumes input (parsing a prefix gives `NeedMore` or the same head), and body
//! skipping gives the same result whole or split at a point.

use wsscope::http::{self, BodyKind, BodySkipper, Parsed};

/// One execution.
pub fn run(data: &[u8]) {
    let [sel, msg @ ..] = data else { return };
    let max = 16 << 10;
    let whole_req = http::parse_request(msg, max);
    if let Ok(Parsed::Done(head, n)) = &whole_req {
        assert!(*n <= msg.len());
        // Any prefix shorter than the head is incomplete (or an error), never a different head.
        if let Ok(Parsed::Done(h2, n2)) = http::parse_request(&msg[..*n], max) {
            assert_eq!((&h2, n2), (head, *n));
        }
        let info = http::request_info(head.clone(), 1);
        let _ = http::check_request(head);
        let _ = http::is_upgrade_request(head);
        let _ = http::request_body(head);
        if let Ok(Parsed::Done(resp, _)) = http::parse_response(&msg[*n..], max) {
            let _ = http::check_response(&info, &resp);
            let _ = http::response_body(&resp, &head.method);
            let _ = http::response_info(resp, 2);
        }
    }
    if let Ok(Parsed::Done(resp, _)) = http::parse_response(msg, max) {
        let _ = http::is_interim(&resp);
        let _ = http::response_body(&resp, "GET");
    }
    if let Ok(text) = std::str::from_utf8(msg) {
        let _ = http::parse_extensions(&[text]);
    }
    // Body skipping: whole vs split at a point.
    let kind = match sel % 3 {
        0 => BodyKind::Chunked,
        1 => BodyKind::Length(u64::from(*sel) * 7),
        _ => BodyKind::UntilClose,
    };
    let whole = BodySkipper::new(kind).skip(msg).map(|p| (p.consumed, p.done));
    let cut = (usize::from(*sel) * 31) % (msg.len() + 1);
    let mut s = BodySkipper::new(kind);
    let split = s.skip(&msg[..cut]).and_then(|a| {
        if a.done {
            return Ok((a.consumed, true));
        }
        assert_eq!(a.consumed, cut, "a skipper that is not done consumes all it is given");
        s.skip(&msg[cut..]).map(|b| (a.consumed + b.consumed, b.done))
    });
    if let (Ok(w), Ok(p)) = (&whole, &split) {
        assert_eq!(w, p);
    }
}
