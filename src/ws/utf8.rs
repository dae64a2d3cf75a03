//! UTF-8 validation of text messages (RFC 6455 §5.6, §8.1): whole messages at once, and
//! incrementally for messages whose bytes arrive in pieces (fragments, TCP segments, inflater
//! output), where a code point may be split anywhere.
//!
//! Validation is SIMD-accelerated by `simdutf8` (several times std's speed on the mostly-ASCII
//! JSON that WebSocket text usually carries); its results equal std's, which the tests check.

use simdutf8::compat::from_utf8;

/// `bytes` as a `String` when they are valid UTF-8 (validated once, never copied), else the
/// offset of the first invalid byte (or of an unfinished code point at the end) and the bytes.
pub fn into_string(bytes: Vec<u8>) -> Result<String, (usize, Vec<u8>)> {
    if simdutf8::basic::from_utf8(&bytes).is_ok() {
        // SAFETY: `simdutf8::basic::from_utf8` just validated these exact bytes as UTF-8.
        return Ok(unsafe { String::from_utf8_unchecked(bytes) });
    }
    let at = valid_prefix(&bytes);
    Err((at, bytes))
}

/// The length of the longest prefix of `bytes` that is valid UTF-8.
pub fn valid_prefix(bytes: &[u8]) -> usize {
    match from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(e) => e.valid_up_to(),
    }
}

/// Validates a byte stream piece by piece.
///
/// Invariant: `tail` holds the first `tail_len` (< 4) bytes of an incomplete code point.
#[derive(Clone, Debug, Default)]
pub struct Utf8Stream {
    tail: [u8; 4],
    tail_len: usize,
    invalid_at: Option<u64>,
    seen: u64,
}

impl Utf8Stream {
    /// Feeds the next bytes.
    pub fn push(&mut self, mut data: &[u8]) {
        if self.invalid_at.is_some() {
            self.seen += data.len() as u64;
            return;
        }
        // Complete a code point split by the previous piece, one byte at a time.
        while self.tail_len > 0 {
            let Some((&b, rest)) = data.split_first() else { return };
            self.tail[self.tail_len] = b;
            self.tail_len += 1;
            data = rest;
            match from_utf8(&self.tail[..self.tail_len]) {
                Ok(_) => {
                    self.seen += self.tail_len as u64;
                    self.tail_len = 0;
                }
                Err(e) if e.error_len().is_some() => {
                    self.invalid_at = Some(self.seen);
                    self.seen += self.tail_len as u64 + data.len() as u64;
                    return;
                }
                Err(_) if self.tail_len == 4 => {
                    self.invalid_at = Some(self.seen);
                    return;
                }
                Err(_) => {}
            }
        }
        match from_utf8(data) {
            Ok(_) => self.seen += data.len() as u64,
            Err(e) => match e.error_len() {
                Some(_) => {
                    self.invalid_at = Some(self.seen + e.valid_up_to() as u64);
                    self.seen += data.len() as u64;
                }
                None => {
                    let rest = &data[e.valid_up_to()..];
                    self.seen += e.valid_up_to() as u64;
                    self.tail[..rest.len()].copy_from_slice(rest);
                    self.tail_len = rest.len();
                }
            },
        }
    }

    /// Ends the stream: `Ok(())` when everything was valid UTF-8, else the byte offset of the
    /// first invalid byte (an unfinished code point at the end counts as invalid).
    pub fn finish(&self) -> Result<(), u64> {
        match self.invalid_at {
            Some(at) => Err(at),
            None if self.tail_len > 0 => Err(self.seen),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_split_everywhere(bytes: &[u8], expect: Result<(), u64>) {
        for cut in 0..=bytes.len() {
            let mut v = Utf8Stream::default();
            v.push(&bytes[..cut]);
            v.push(&bytes[cut..]);
            assert_eq!(v.finish(), expect, "cut at {cut}");
        }
        let mut v = Utf8Stream::default();
        for b in bytes {
            v.push(std::slice::from_ref(b));
        }
        assert_eq!(v.finish(), expect, "byte by byte");
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_std(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
                           ascii in 0usize..80) {
            // Mostly-ASCII inputs reach the SIMD paths; random tails reach the error paths.
            let mut input = vec![b'a'; ascii];
            input.extend_from_slice(&bytes);
            let std = std::str::from_utf8(&input);
            let want = std.map(|_| ()).map_err(|e| e.valid_up_to());
            proptest::prop_assert_eq!(valid_prefix(&input), std.map(|s| s.len()).unwrap_or_else(|e| e.valid_up_to()));
            match into_string(input.clone()) {
                Ok(s) => {
                    proptest::prop_assert!(want.is_ok());
                    proptest::prop_assert_eq!(s.as_bytes(), &input[..]);
                }
                Err((at, back)) => {
                    proptest::prop_assert_eq!(Err(at), want);
                    proptest::prop_assert_eq!(back, input);
                }
            }
        }
    }

    #[test]
    fn multi_byte_code_points_split_anywhere_are_valid() {
        check_split_everywhere("héllo €𝄞 ✓".as_bytes(), Ok(()));
    }

    #[test]
    fn invalid_bytes_are_found_wherever_the_split_is() {
        check_split_everywhere(b"ok\xffno", Err(2));
        check_split_everywhere(b"\xe2\x82", Err(0)); // unfinished € at the end
        check_split_everywhere(b"a\xed\xa0\x80", Err(1)); // UTF-16 surrogate
        check_split_everywhere(b"\xc0\xaf", Err(0)); // overlong
    }
}
