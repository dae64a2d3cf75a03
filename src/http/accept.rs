//! The `Sec-WebSocket-Accept` value a server must send for a given `Sec-WebSocket-Key`.
//!
//! RFC 6455 §1.3 and §4.2.2 (5.4): the accept value is the base64 encoding of the SHA-1 digest of the
//! key (as sent, without surrounding whitespace) concatenated with a fixed GUID. The function is
//! total: any string, even one that is not a valid key, has an accept value, which is what a
//! server that does not validate the key would send.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

/// The GUID appended to the key (RFC 6455 §1.3).
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// base64(SHA-1(`key` + [`WEBSOCKET_GUID`])), RFC 6455 §4.2.2 (5.4).
pub fn accept_for(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WEBSOCKET_GUID.as_bytes());
    STANDARD.encode(sha.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_matches_rfc_6455_section_1_3_example() {
        assert_eq!(accept_for("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn accept_of_a_second_key_matches_coreutils_sha1sum() {
        // Key from the Chromium fixture in validate.rs; value checked with
        // `printf '%s' 'x3JJHMbDL1EzLkh9GBhXDw==258EAFA5-E914-47DA-95CA-C5AB0DC85B11' | sha1sum | xxd -r -p | base64`.
        assert_eq!(accept_for("x3JJHMbDL1EzLkh9GBhXDw=="), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    }

    #[test]
    fn accept_is_total_on_any_string() {
        assert_eq!(accept_for("").len(), 28);
        assert_eq!(accept_for("not base64 at all ✓").len(), 28);
    }
}
