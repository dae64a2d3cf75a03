//! Close frame payloads (RFC 6455 §5.5.1, §7.4).

use super::opcode::{CloseCode, CloseCodeClass};
use crate::analyzer::checks::CheckId;

/// A parsed close payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosePayload {
    /// The code, when the payload has at least two bytes.
    pub code: Option<CloseCode>,
    /// The reason, lossily decoded when it is not UTF-8.
    pub reason: String,
    /// Rules the payload broke, with details.
    pub violations: Vec<(CheckId, String)>,
}

/// Parses and checks a close frame's (unmasked) payload.
pub fn parse_close(payload: &[u8]) -> ClosePayload {
    let mut violations = Vec::new();
    let (code, reason_bytes) = match payload {
        [] => (None, &[][..]),
        [b] => {
            violations.push((
                CheckId::ClosePayloadOneByte,
                format!("close payload is the single byte {b:#04x}; a close code needs two bytes"),
            ));
            (None, &[][..])
        }
        [hi, lo, reason @ ..] => (Some(CloseCode(u16::from_be_bytes([*hi, *lo]))), reason),
    };
    if let Some(c) = code {
        match c.class() {
            CloseCodeClass::Valid => {}
            CloseCodeClass::NeverSent => violations.push((
                CheckId::CloseCodeInvalid,
                format!("close code {c} must never be sent on the wire"),
            )),
            CloseCodeClass::Unassigned => violations.push((
                CheckId::CloseCodeUnassigned,
                format!("close code {} is unassigned (1016–2999)", c.0),
            )),
        }
    }
    let reason = match std::str::from_utf8(reason_bytes) {
        Ok(s) => s.to_string(),
        Err(e) => {
            violations.push((
                CheckId::CloseReasonNotUtf8,
                format!("close reason is not valid UTF-8 (invalid byte at {})", e.valid_up_to()),
            ));
            String::from_utf8_lossy(reason_bytes).into_owned()
        }
    };
    ClosePayload { code, reason, violations }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(p: &[u8]) -> Vec<CheckId> {
        parse_close(p).violations.into_iter().map(|v| v.0).collect()
    }

    #[test]
    fn empty_close_payload_is_valid() {
        assert_eq!(
            parse_close(&[]),
            ClosePayload { code: None, reason: String::new(), violations: vec![] }
        );
    }

    #[test]
    fn close_payload_of_one_byte_is_invalid() {
        assert_eq!(checks(&[0x03]), vec![CheckId::ClosePayloadOneByte]);
    }

    #[test]
    fn code_and_reason_are_read() {
        let p = parse_close(b"\x03\xe8bye");
        assert_eq!((p.code, p.reason.as_str()), (Some(CloseCode(1000)), "bye"));
        assert!(p.violations.is_empty());
    }

    #[test]
    fn close_code_1005_must_never_be_sent() {
        assert_eq!(checks(&1005u16.to_be_bytes()), vec![CheckId::CloseCodeInvalid]);
        assert_eq!(checks(&999u16.to_be_bytes()), vec![CheckId::CloseCodeInvalid]);
        assert_eq!(checks(&5000u16.to_be_bytes()), vec![CheckId::CloseCodeInvalid]);
    }

    #[test]
    fn close_code_2000_is_unassigned() {
        assert_eq!(checks(&2000u16.to_be_bytes()), vec![CheckId::CloseCodeUnassigned]);
    }

    #[test]
    fn close_reason_must_be_utf8() {
        assert_eq!(checks(b"\x03\xe8\xff"), vec![CheckId::CloseReasonNotUtf8]);
    }
}
