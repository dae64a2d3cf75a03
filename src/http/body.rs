//! Message body framing (RFC 9112 §6.3) and a sans-IO skipper, so that several keep-alive
//! exchanges can precede the upgrade on one connection (RFC 9112 §9.3).
//!
//! Guarantees:
//! - [`request_body`] and [`response_body`] follow the length rules of RFC 9112 §6.3 in order; an
//!   `Err` means the message boundary cannot be known and the direction cannot be followed.
//! - [`BodySkipper::skip`] consumes every byte it is given until the body ends, then none: the
//!   bytes after the body belong to the next message. Its result does not depend on how the body
//!   was split across calls.
//! - Bounded state: body bytes are never kept; only an incomplete chunk-size line, of at most
//!   [`MAX_CHUNK_LINE`] bytes, is buffered.
//!
//! Not done: decoding transfer or content codings, or checking trailer fields (they are skipped).

use super::error::HttpError;
use super::parse::{RequestHead, ResponseHead, headers_all};

/// How a message body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body: the next message starts right after the head.
    None,
    /// Exactly this many bytes (Content-Length).
    Length(u64),
    /// Chunked transfer coding (RFC 9112 §7.1).
    Chunked,
    /// Everything until the connection closes.
    UntilClose,
}

/// The body framing of a request (RFC 9112 §6.3 rules 3, 4, 5 and 6).
///
/// - Transfer-Encoding ending in `chunked` → [`BodyKind::Chunked`], even with a Content-Length
///   (rule 3); Transfer-Encoding not ending in `chunked` is an error (rule 4), and so is
///   Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1: the framing is faulty).
/// - Otherwise Content-Length (rule 5): each element `1*DIGIT` fitting a `u64`, repeats only
///   with the same value (RFC 9110 §8.6); anything else is an error.
/// - Otherwise no body (rule 6).
pub fn request_body(head: &RequestHead) -> Result<BodyKind, HttpError> {
    if let Some(te) = transfer_encoding(&head.headers) {
        if head.minor_version == 0 {
            return Err(HttpError::TransferEncodingInHttp10(te));
        }
        return if final_coding_is_chunked(&te) {
            Ok(BodyKind::Chunked)
        } else {
            Err(HttpError::RequestNotChunked(te))
        };
    }
    Ok(content_length(&head.headers)?.map_or(BodyKind::None, BodyKind::Length))
}

/// The body framing of a response to a request with method `request_method` (RFC 9112 §6.3).
///
/// - Responses to HEAD, and 1xx, 204 and 304 responses, have no body (rule 1).
/// - A 2xx response to CONNECT turns the connection into a tunnel (rule 2): [`BodyKind::UntilClose`].
/// - Transfer-Encoding ending in `chunked` → [`BodyKind::Chunked`], even with a Content-Length;
///   any other Transfer-Encoding, or one in an HTTP/1.0 response, → until close (rule 3, §6.1).
/// - Otherwise Content-Length (rule 5); otherwise until close (rule 8).
pub fn response_body(head: &ResponseHead, request_method: &str) -> Result<BodyKind, HttpError> {
    if request_method == "HEAD" || matches!(head.status, 100..=199 | 204 | 304) {
        return Ok(BodyKind::None);
    }
    if request_method == "CONNECT" && (200..=299).contains(&head.status) {
        return Ok(BodyKind::UntilClose);
    }
    if let Some(te) = transfer_encoding(&head.headers) {
        let chunked = head.minor_version > 0 && final_coding_is_chunked(&te);
        return Ok(if chunked { BodyKind::Chunked } else { BodyKind::UntilClose });
    }
    Ok(content_length(&head.headers)?.map_or(BodyKind::UntilClose, BodyKind::Length))
}

/// All Transfer-Encoding field values joined as one list, if there is any such field.
fn transfer_encoding(headers: &[(String, String)]) -> Option<String> {
    let values = headers_all(headers, "Transfer-Encoding");
    if values.is_empty() { None } else { Some(values.join(", ")) }
}

/// Whether the last transfer coding of the list is `chunked` (RFC 9112 §6.1, §7).
fn final_coding_is_chunked(te: &str) -> bool {
    let last = te.split(',').map(|c| c.trim_matches([' ', '\t'])).rfind(|c| !c.is_empty());
    let name = last.and_then(|c| c.split(';').next()).map(|n| n.trim_matches([' ', '\t']));
    name.is_some_and(|n| n.eq_ignore_ascii_case("chunked"))
}

/// The Content-Length of a message, if it has one (RFC 9110 §8.6, RFC 9112 §6.3 rule 5).
///
/// Each field value may be a list; every element must be `1*DIGIT` fitting in a `u64`, and all of
/// them must be equal (a repeated identical value is accepted, as §8.6 allows). Anything else is
/// an error.
fn content_length(headers: &[(String, String)]) -> Result<Option<u64>, HttpError> {
    let values = headers_all(headers, "Content-Length");
    let mut length = None;
    for element in values.iter().flat_map(|v| v.split(',')) {
        let text = element.trim_matches([' ', '\t']);
        let parsed = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            text.parse::<u64>().ok()
        } else {
            None
        };
        let Some(n) = parsed else {
            return Err(HttpError::InvalidContentLength(element.to_string()));
        };
        match length {
            Some(previous) if previous != n => {
                return Err(HttpError::ConflictingContentLength(
                    values.iter().map(|v| v.to_string()).collect(),
                ));
            }
            _ => length = Some(n),
        }
    }
    Ok(length)
}

/// The longest chunk-size line (size, extensions and CRLF) a [`BodySkipper`] buffers.
pub const MAX_CHUNK_LINE: usize = 1024;

/// What one [`BodySkipper::skip`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkipProgress {
    /// Bytes of the input that belonged to the body (all of them unless `done`).
    pub consumed: usize,
    /// The body has ended; the bytes after `consumed` start the next message.
    pub done: bool,
}

/// Where a [`BodySkipper`] is in the body.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// This many bytes of a Content-Length body remain.
    Fixed(u64),
    /// The body ends when the connection does.
    UntilClose,
    /// Reading a chunk-size line; the part seen so far is in `line`.
    ChunkSize,
    /// This many bytes of chunk data remain.
    ChunkData(u64),
    /// Expecting the CRLF after chunk data; `true` once the CR was seen.
    ChunkDataEnd(bool),
    /// In the trailer section (RFC 9112 §7.1.2); `true` when the current line has bytes other
    /// than CR, so that an LF ends a field line rather than the body.
    Trailer(bool),
    /// The body has ended.
    Done,
    /// An earlier call failed; the error is repeated.
    Failed(HttpError),
}

/// Skips one message body, fed in pieces of any size.
///
/// Invariant: `line` is empty unless `state` is `ChunkSize`, holds no LF, and never exceeds
/// [`MAX_CHUNK_LINE`] bytes.
#[derive(Clone, Debug)]
pub struct BodySkipper {
    state: State,
    line: Vec<u8>,
}

impl BodySkipper {
    /// A skipper for a body of the given kind.
    pub fn new(kind: BodyKind) -> Self {
        let state = match kind {
            BodyKind::None | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Fixed(n),
            BodyKind::Chunked => State::ChunkSize,
            BodyKind::UntilClose => State::UntilClose,
        };
        BodySkipper { state, line: Vec::new() }
    }

    /// Whether the body has ended.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes the body bytes at the start of `buf`.
    ///
    /// Returns how many bytes were body (all of `buf` unless the body ended in it) and whether
    /// the body ended. An error means the chunked framing is broken; the skipper then keeps
    /// returning that error.
    pub fn skip(&mut self, buf: &[u8]) -> Result<SkipProgress, HttpError> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        let mut at = 0;
        while self.state != State::Done {
            let rest = buf.get(at..).unwrap_or_default();
            if rest.is_empty() {
                break;
            }
            match self.step(rest) {
                Ok(n) => at += n,
                Err(e) => {
                    self.line = Vec::new();
                    self.state = State::Failed(e.clone());
                    return Err(e);
                }
            }
        }
        Ok(SkipProgress { consumed: at, done: self.state == State::Done })
    }

    /// Advances over a non-empty `rest`, returning the bytes consumed: at least one in every
    /// state but `Done` and `Failed`, which `skip` never steps, so its loop ends.
    fn step(&mut self, rest: &[u8]) -> Result<usize, HttpError> {
        match self.state {
            State::Done | State::Failed(_) => Ok(0),
            State::UntilClose => Ok(rest.len()),
            State::Fixed(remaining) => {
                let n = take(remaining, rest.len());
                self.state = if n as u64 == remaining {
                    State::Done
                } else {
                    State::Fixed(remaining - n as u64)
                };
                Ok(n)
            }
            State::ChunkData(remaining) => {
                let n = take(remaining, rest.len());
                self.state = if n as u64 == remaining {
                    State::ChunkDataEnd(false)
                } else {
                    State::ChunkData(remaining - n as u64)
                };
                Ok(n)
            }
            State::ChunkDataEnd(seen_cr) => match (seen_cr, rest.first().copied()) {
                (false, Some(b'\r')) => {
                    self.state = State::ChunkDataEnd(true);
                    Ok(1)
                }
                (true, Some(b'\n')) => {
                    self.state = State::ChunkSize;
                    Ok(1)
                }
                (_, Some(other)) => Err(HttpError::MissingChunkCrlf(other)),
                (_, None) => Ok(0),
            },
            State::ChunkSize => self.chunk_size(rest),
            State::Trailer(mut in_field) => {
                for (i, &b) in rest.iter().enumerate() {
                    match b {
                        b'\n' if !in_field => {
                            self.state = State::Done;
                            return Ok(i + 1);
                        }
                        b'\n' => in_field = false,
                        b'\r' => {}
                        _ => in_field = true,
                    }
                }
                self.state = State::Trailer(in_field);
                Ok(rest.len())
            }
        }
    }

    /// Reads (part of) a chunk-size line; parses it once its LF is seen (RFC 9112 §7.1).
    fn chunk_size(&mut self, rest: &[u8]) -> Result<usize, HttpError> {
        let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
            self.buffer_line(rest)?;
            return Ok(rest.len());
        };
        let taken = lf + 1;
        let end = rest.get(..taken).unwrap_or(rest);
        // Parsed in place when whole, from the buffer when split; the limit applies to both.
        let size = if self.line.is_empty() {
            check_line_len(taken)?;
            parse_chunk_line(end)?
        } else {
            self.buffer_line(end)?;
            let line = std::mem::take(&mut self.line);
            parse_chunk_line(&line)?
        };
        self.state = if size == 0 { State::Trailer(false) } else { State::ChunkData(size) };
        Ok(taken)
    }

    fn buffer_line(&mut self, bytes: &[u8]) -> Result<(), HttpError> {
        check_line_len(self.line.len() + bytes.len())?;
        self.line.extend_from_slice(bytes);
        Ok(())
    }
}

/// A chunk-size line (or the part seen so far) must fit in [`MAX_CHUNK_LINE`] bytes.
fn check_line_len(len: usize) -> Result<(), HttpError> {
    if len > MAX_CHUNK_LINE {
        Err(HttpError::ChunkLineTooLong { limit: MAX_CHUNK_LINE })
    } else {
        Ok(())
    }
}

/// `min(remaining, available)` without truncating casts.
fn take(remaining: u64, available: usize) -> usize {
    usize::try_from(remaining).map_or(available, |r| r.min(available))
}

/// Parses one whole chunk-size line ending in LF: `1*HEXDIG [ chunk-ext ] CRLF`.
///
/// httparse accepts a line without digits (an empty line reads as size 0), so the first byte is
/// checked here; it also requires the CR, so a bare LF leaves it `Partial`, an error here.
fn parse_chunk_line(line: &[u8]) -> Result<u64, HttpError> {
    let invalid = || HttpError::InvalidChunkSize(String::from_utf8_lossy(line).into_owned());
    if !line.first().is_some_and(u8::is_ascii_hexdigit) {
        return Err(invalid());
    }
    match httparse::parse_chunk_size(line) {
        Ok(httparse::Status::Complete((n, size))) if n == line.len() => Ok(size),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(minor: u8, headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: "POST".into(),
            target: "/".into(),
            minor_version: minor,
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        }
    }

    fn res(status: u16, headers: &[(&str, &str)]) -> ResponseHead {
        ResponseHead {
            minor_version: 1,
            status,
            reason: String::new(),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn request_without_length_or_transfer_encoding_has_no_body() {
        assert_eq!(request_body(&req(1, &[("Host", "a")])), Ok(BodyKind::None));
    }

    #[test]
    fn request_content_length_gives_length() {
        assert_eq!(request_body(&req(1, &[("content-length", " 42 ")])), Ok(BodyKind::Length(42)));
    }

    #[test]
    fn request_chunked_wins_over_content_length() {
        let h = req(1, &[("Content-Length", "10"), ("Transfer-Encoding", "gzip, Chunked")]);
        assert_eq!(request_body(&h), Ok(BodyKind::Chunked));
    }

    #[test]
    fn request_transfer_encoding_split_over_fields_is_one_list() {
        let h = req(1, &[("Transfer-Encoding", "gzip"), ("Transfer-Encoding", "chunked")]);
        assert_eq!(request_body(&h), Ok(BodyKind::Chunked));
    }

    #[test]
    fn request_transfer_encoding_not_ending_in_chunked_is_an_error() {
        let h = req(1, &[("Transfer-Encoding", "chunked, gzip")]);
        assert_eq!(request_body(&h), Err(HttpError::RequestNotChunked("chunked, gzip".into())));
    }

    #[test]
    fn request_transfer_encoding_in_http_1_0_is_an_error() {
        let h = req(0, &[("Transfer-Encoding", "chunked")]);
        assert_eq!(request_body(&h), Err(HttpError::TransferEncodingInHttp10("chunked".into())));
    }

    #[test]
    fn repeated_identical_content_length_is_accepted() {
        let h = req(1, &[("Content-Length", "5, 5"), ("Content-Length", "5")]);
        assert_eq!(request_body(&h), Ok(BodyKind::Length(5)));
    }

    #[test]
    fn conflicting_content_length_is_an_error() {
        let h = req(1, &[("Content-Length", "5"), ("Content-Length", "6")]);
        assert_eq!(
            request_body(&h),
            Err(HttpError::ConflictingContentLength(vec!["5".into(), "6".into()]))
        );
    }

    #[test]
    fn invalid_content_length_is_an_error() {
        for bad in ["", "-1", "+5", "0x10", "1 2", "5.0", "18446744073709551616"] {
            let h = req(1, &[("Content-Length", bad)]);
            assert!(matches!(request_body(&h), Err(HttpError::InvalidContentLength(_))), "{bad:?}");
        }
    }

    #[test]
    fn response_to_head_has_no_body() {
        assert_eq!(
            response_body(&res(200, &[("Content-Length", "100")]), "HEAD"),
            Ok(BodyKind::None)
        );
    }

    #[test]
    fn informational_204_and_304_responses_have_no_body() {
        for status in [100, 101, 103, 204, 304] {
            assert_eq!(
                response_body(&res(status, &[("Content-Length", "9")]), "GET"),
                Ok(BodyKind::None),
                "{status}"
            );
        }
    }

    #[test]
    fn successful_response_to_connect_is_a_tunnel() {
        assert_eq!(response_body(&res(200, &[]), "CONNECT"), Ok(BodyKind::UntilClose));
        assert_eq!(
            response_body(&res(407, &[("Content-Length", "3")]), "CONNECT"),
            Ok(BodyKind::Length(3))
        );
    }

    #[test]
    fn response_chunked_wins_over_content_length() {
        let h = res(200, &[("Content-Length", "3"), ("Transfer-Encoding", "chunked")]);
        assert_eq!(response_body(&h, "GET"), Ok(BodyKind::Chunked));
    }

    #[test]
    fn response_transfer_encoding_not_ending_in_chunked_reads_until_close() {
        let h = res(200, &[("Transfer-Encoding", "chunked, gzip")]);
        assert_eq!(response_body(&h, "GET"), Ok(BodyKind::UntilClose));
    }

    #[test]
    fn response_transfer_encoding_in_http_1_0_reads_until_close() {
        let mut h = res(200, &[("Transfer-Encoding", "chunked")]);
        h.minor_version = 0;
        assert_eq!(response_body(&h, "GET"), Ok(BodyKind::UntilClose));
    }

    #[test]
    fn response_content_length_gives_length() {
        assert_eq!(
            response_body(&res(401, &[("Content-Length", "12")]), "GET"),
            Ok(BodyKind::Length(12))
        );
    }

    #[test]
    fn response_conflicting_content_length_is_an_error() {
        let h = res(200, &[("Content-Length", "1,2")]);
        assert!(matches!(response_body(&h, "GET"), Err(HttpError::ConflictingContentLength(_))));
    }

    #[test]
    fn response_without_length_or_transfer_encoding_reads_until_close() {
        assert_eq!(response_body(&res(200, &[]), "GET"), Ok(BodyKind::UntilClose));
    }

    /// Feeds `input` in the given pieces, carrying unconsumed bytes over, and returns the total
    /// consumed when the skipper reports done (or `None` if it never does).
    fn feed(kind: BodyKind, pieces: &[&[u8]]) -> Result<Option<usize>, HttpError> {
        let mut skipper = BodySkipper::new(kind);
        let mut total = 0;
        for piece in pieces {
            let p = skipper.skip(piece)?;
            total += p.consumed;
            if p.done {
                return Ok(Some(total));
            }
            assert_eq!(p.consumed, piece.len(), "a skipper that is not done consumes everything");
        }
        Ok(None)
    }

    const CHUNKED: &[u8] = b"5\r\nhello\r\n1A;name=\"va;l\"\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nExpires: never\r\nX: y\r\n\r\n";
    const NEXT: &[u8] = b"GET /next HTTP/1.1\r\n\r\n";

    fn chunked_then_next() -> Vec<u8> {
        [CHUNKED, NEXT].concat()
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers_ends_before_the_next_message() {
        assert_eq!(feed(BodyKind::Chunked, &[&chunked_then_next()]), Ok(Some(CHUNKED.len())));
    }

    #[test]
    fn chunked_body_split_at_any_point_ends_at_the_same_byte() {
        let all = chunked_then_next();
        for cut in 0..=all.len() {
            let (a, b) = all.split_at(cut);
            assert_eq!(feed(BodyKind::Chunked, &[a, b]), Ok(Some(CHUNKED.len())), "cut {cut}");
        }
    }

    #[test]
    fn chunked_body_split_at_any_two_points_ends_at_the_same_byte() {
        let all = chunked_then_next();
        for i in 0..=all.len() {
            for j in i..=all.len() {
                let pieces = [&all[..i], &all[i..j], &all[j..]];
                assert_eq!(
                    feed(BodyKind::Chunked, &pieces),
                    Ok(Some(CHUNKED.len())),
                    "cuts {i} {j}"
                );
            }
        }
    }

    #[test]
    fn chunked_body_fed_one_byte_at_a_time_ends_at_the_same_byte() {
        let all = chunked_then_next();
        let pieces: Vec<&[u8]> = all.chunks(1).collect();
        assert_eq!(feed(BodyKind::Chunked, &pieces), Ok(Some(CHUNKED.len())));
    }

    #[test]
    fn chunked_body_without_trailers_ends_after_last_chunk_crlf() {
        let body = b"3\r\nabc\r\n0\r\n\r\n";
        for cut in 0..=body.len() {
            let (a, b) = body.split_at(cut);
            assert_eq!(feed(BodyKind::Chunked, &[a, b, NEXT]), Ok(Some(body.len())), "cut {cut}");
        }
    }

    #[test]
    fn chunked_body_with_uppercase_hex_and_leading_zeros_is_accepted() {
        let body = b"00A\r\n0123456789\r\n000\r\n\r\n";
        assert_eq!(feed(BodyKind::Chunked, &[body]), Ok(Some(body.len())));
    }

    #[test]
    fn chunk_size_without_digits_is_an_error() {
        for bad in [&b"\r\n"[..], b";ext\r\n", b" 5\r\n", b"g\r\n"] {
            assert!(
                matches!(feed(BodyKind::Chunked, &[bad]), Err(HttpError::InvalidChunkSize(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn chunk_size_line_ending_in_bare_lf_is_an_error() {
        assert!(matches!(
            feed(BodyKind::Chunked, &[b"5\nhello\r\n"]),
            Err(HttpError::InvalidChunkSize(_))
        ));
    }

    #[test]
    fn chunk_size_over_64_bits_is_an_error() {
        assert!(matches!(
            feed(BodyKind::Chunked, &[b"10000000000000000\r\n"]),
            Err(HttpError::InvalidChunkSize(_))
        ));
    }

    #[test]
    fn chunk_data_not_followed_by_crlf_is_an_error() {
        assert_eq!(
            feed(BodyKind::Chunked, &[b"3\r\nabcX"]),
            Err(HttpError::MissingChunkCrlf(b'X'))
        );
        assert_eq!(
            feed(BodyKind::Chunked, &[b"3\r\nabc\r", b"X"]),
            Err(HttpError::MissingChunkCrlf(b'X'))
        );
    }

    #[test]
    fn chunk_size_line_longer_than_the_buffer_is_an_error() {
        let mut line = b"1;".to_vec();
        line.resize(MAX_CHUNK_LINE - 1, b'x');
        let whole = [&line[..], b"\r\nz\r\n0\r\n\r\n"].concat();
        let too_long = Err(HttpError::ChunkLineTooLong { limit: MAX_CHUNK_LINE });
        assert_eq!(feed(BodyKind::Chunked, &[&whole]), too_long, "whole");
        for cut in [1, 10, MAX_CHUNK_LINE - 1, MAX_CHUNK_LINE, MAX_CHUNK_LINE + 1] {
            let (a, b) = whole.split_at(cut);
            assert_eq!(feed(BodyKind::Chunked, &[a, b]), too_long, "cut {cut}");
        }
    }

    #[test]
    fn chunk_size_line_as_long_as_the_buffer_is_accepted() {
        let mut line = b"1;".to_vec();
        line.resize(MAX_CHUNK_LINE - 2, b'x');
        line.extend_from_slice(b"\r\n");
        let body = [&line[..], b"z\r\n0\r\n\r\n"].concat();
        let pieces: Vec<&[u8]> = body.chunks(7).collect();
        assert_eq!(feed(BodyKind::Chunked, &pieces), Ok(Some(body.len())));
    }

    #[test]
    fn skipper_keeps_returning_its_error() {
        let mut s = BodySkipper::new(BodyKind::Chunked);
        assert!(s.skip(b"zz\r\n").is_err());
        assert!(s.skip(b"0\r\n\r\n").is_err());
    }

    #[test]
    fn content_length_body_split_at_any_point_ends_at_the_same_byte() {
        let all = [&b"0123456789"[..], NEXT].concat();
        for cut in 0..=all.len() {
            let (a, b) = all.split_at(cut);
            assert_eq!(feed(BodyKind::Length(10), &[a, b]), Ok(Some(10)), "cut {cut}");
        }
    }

    #[test]
    fn empty_and_zero_length_bodies_are_done_at_once() {
        for kind in [BodyKind::None, BodyKind::Length(0)] {
            let mut s = BodySkipper::new(kind);
            assert!(s.is_done());
            assert_eq!(s.skip(NEXT), Ok(SkipProgress { consumed: 0, done: true }));
            assert_eq!(s.skip(b""), Ok(SkipProgress { consumed: 0, done: true }));
        }
    }

    #[test]
    fn until_close_body_consumes_everything_and_never_ends() {
        let mut s = BodySkipper::new(BodyKind::UntilClose);
        assert_eq!(s.skip(NEXT), Ok(SkipProgress { consumed: NEXT.len(), done: false }));
        assert_eq!(s.skip(b""), Ok(SkipProgress { consumed: 0, done: false }));
    }

    #[test]
    fn huge_content_length_is_counted_down_without_overflow() {
        let mut s = BodySkipper::new(BodyKind::Length(u64::MAX));
        assert_eq!(s.skip(b"abc"), Ok(SkipProgress { consumed: 3, done: false }));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_are_skipped_or_rejected_without_panicking(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            let mut skipper = BodySkipper::new(BodyKind::Chunked);
            if let Ok(p) = skipper.skip(&data) {
                proptest::prop_assert!(p.consumed <= data.len());
                proptest::prop_assert!(p.done || p.consumed == data.len());
            }
        }

        #[test]
        fn chunked_body_cut_at_random_points_ends_at_the_same_byte(
            sizes in proptest::collection::vec(0usize..40, 0..6),
            cuts in proptest::collection::vec(0usize..400, 0..8),
        ) {
            let mut body = Vec::new();
            for size in sizes.iter().filter(|s| **s > 0) {
                body.extend_from_slice(format!("{size:x};e=1\r\n").as_bytes());
                body.extend(std::iter::repeat_n(b'\n', *size));
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b"0\r\nT: 1\r\n\r\n");
            let all = [&body[..], NEXT].concat();
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (all.len() + 1)).collect();
            points.sort_unstable();
            let mut pieces = Vec::new();
            let mut start = 0;
            for p in points {
                pieces.push(&all[start..p]);
                start = p;
            }
            pieces.push(&all[start..]);
            proptest::prop_assert_eq!(feed(BodyKind::Chunked, &pieces), Ok(Some(body.len())));
        }
    }
}
