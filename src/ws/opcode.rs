//! Opcodes and close codes: total types, every value representable (reserved ones kept).

use serde::{Serialize, Serializer};
use std::fmt;

/// A frame opcode (RFC 6455 §5.2). Every 4-bit value maps to a variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: text.
    Text,
    /// 0x2: binary.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
    /// 0x3–0x7 and 0xB–0xF: reserved; the raw value is kept.
    Reserved(u8),
}

impl OpCode {
    /// The opcode of the low four bits of `b`.
    pub fn from_bits(b: u8) -> OpCode {
        match b & 0x0F {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            other => OpCode::Reserved(other),
        }
    }

    /// The 4-bit value.
    pub fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
            OpCode::Reserved(b) => b,
        }
    }

    /// Control frames have the high opcode bit set (RFC 6455 §5.5), reserved ones included.
    pub fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }

    /// The name used in every output (`text`, `binary`, …, `reserved_0x3`).
    pub fn name(self) -> String {
        match self {
            OpCode::Continuation => "continuation".into(),
            OpCode::Text => "text".into(),
            OpCode::Binary => "binary".into(),
            OpCode::Close => "close".into(),
            OpCode::Ping => "ping".into(),
            OpCode::Pong => "pong".into(),
            OpCode::Reserved(b) => format!("reserved_{b:#x}"),
        }
    }
}

impl fmt::Display for OpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for OpCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl schemars::JsonSchema for OpCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OpCode".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "Frame opcode: continuation, text, binary, close, ping, pong, or reserved_0x3..reserved_0xf",
            "pattern": "^(continuation|text|binary|close|ping|pong|reserved_0x[3-7b-f])$"
        })
    }
}

/// A close code (RFC 6455 §7.4). Any u16 is representable.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct CloseCode(pub u16);

/// How a close code may be used (RFC 6455 §7.4.1–§7.4.2 and the IANA registry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseCodeClass {
    /// Defined and allowed on the wire.
    Valid,
    /// Must never be sent: 0–999, 1004 (reserved), 1005, 1006, 1015 (local-only), 5000+.
    NeverSent,
    /// 1016–2999: reserved for future RFCs, unassigned today.
    Unassigned,
}

impl CloseCode {
    /// The code's class.
    pub fn class(self) -> CloseCodeClass {
        match self.0 {
            1000..=1003 | 1007..=1014 | 3000..=4999 => CloseCodeClass::Valid,
            1016..=2999 => CloseCodeClass::Unassigned,
            _ => CloseCodeClass::NeverSent,
        }
    }

    /// The registered name, if any.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1000 => "normal closure",
            1001 => "going away",
            1002 => "protocol error",
            1003 => "unsupported data",
            1004 => "reserved",
            1005 => "no status received",
            1006 => "abnormal closure",
            1007 => "invalid payload data",
            1008 => "policy violation",
            1009 => "message too big",
            1010 => "mandatory extension",
            1011 => "internal error",
            1012 => "service restart",
            1013 => "try again later",
            1014 => "bad gateway",
            1015 => "TLS handshake",
            3000..=3999 => "registered (IANA)",
            4000..=4999 => "private use",
            _ => return None,
        })
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{} ({n})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_opcode_value_round_trips() {
        for b in 0..16u8 {
            assert_eq!(OpCode::from_bits(b).bits(), b);
        }
        assert_eq!(OpCode::from_bits(0x3), OpCode::Reserved(3));
        assert_eq!(OpCode::from_bits(0xB).name(), "reserved_0xb");
        assert!(OpCode::from_bits(0xB).is_control());
        assert!(!OpCode::Text.is_control());
    }

    #[test]
    fn close_code_classes_follow_rfc_6455_section_7_4() {
        for (code, class) in [
            (999, CloseCodeClass::NeverSent),
            (1000, CloseCodeClass::Valid),
            (1004, CloseCodeClass::NeverSent),
            (1005, CloseCodeClass::NeverSent),
            (1006, CloseCodeClass::NeverSent),
            (1007, CloseCodeClass::Valid),
            (1014, CloseCodeClass::Valid),
            (1015, CloseCodeClass::NeverSent),
            (1016, CloseCodeClass::Unassigned),
            (2999, CloseCodeClass::Unassigned),
            (3000, CloseCodeClass::Valid),
            (4999, CloseCodeClass::Valid),
            (5000, CloseCodeClass::NeverSent),
        ] {
            assert_eq!(CloseCode(code).class(), class, "{code}");
        }
        assert_eq!(CloseCode(1001).to_string(), "1001 (going away)");
    }
}
