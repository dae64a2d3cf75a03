//! Incremental UTF-8 validation for text messages whose bytes arrive in pieces (fragments, TCP
//! segments, inflater output): a code point may be split anywhere (RFC 6455 §5.6, §8.1).

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
            match std::str::from_utf8(&self.tail[..self.tail_len]) {
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
        match std::str::from_utf8(data) {
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
