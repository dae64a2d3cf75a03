//! Frame header parsing (RFC 6455 §5.2).
//!
//! Parse result shape, used by every parser in `ws/`: `Parsed::Done(value, bytes_consumed)` or
//! `Parsed::NeedMore(at_least_n_more_bytes)`. A partial header never consumes input. Any byte
//! sequence long enough parses: the header's legality (reserved bits, opcodes, length encoding,
//! masking direction) is judged by the caller, which reports findings and goes on.

use super::opcode::OpCode;

/// Outcome of a parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The value and how many bytes it took.
    Done(T, usize),
    /// At least this many more bytes are needed; nothing was consumed.
    NeedMore(usize),
}

/// How the payload length was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LengthEncoding {
    /// 7-bit length in the second byte (0..=125).
    Short,
    /// 126 followed by a 16-bit length.
    U16,
    /// 127 followed by a 64-bit length.
    U64,
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN bit.
    pub fin: bool,
    /// RSV1, RSV2, RSV3 as bits 2, 1, 0.
    pub rsv: u8,
    /// Opcode.
    pub opcode: OpCode,
    /// The masking key, when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// Declared payload length (for a 64-bit length with the MSB set, the raw value).
    pub payload_len: u64,
    /// How the length was encoded.
    pub encoding: LengthEncoding,
    /// Header length in bytes (2..=14).
    pub header_len: u8,
}

/// Longest possible header: 2 + 8 (length) + 4 (mask).
pub const MAX_HEADER_LEN: usize = 14;

impl FrameHeader {
    /// Parses a header from the start of `buf`.
    pub fn parse(buf: &[u8]) -> Parsed<FrameHeader> {
        let (b0, b1) = match buf {
            [b0, b1, ..] => (*b0, *b1),
            _ => return Parsed::NeedMore(2 - buf.len()),
        };
        let masked = b1 & 0x80 != 0;
        let (encoding, len_bytes) = match b1 & 0x7F {
            126 => (LengthEncoding::U16, 2),
            127 => (LengthEncoding::U64, 8),
            _ => (LengthEncoding::Short, 0),
        };
        let header_len = 2 + len_bytes + if masked { 4 } else { 0 };
        let Some(rest) = buf.get(2..header_len) else {
            return Parsed::NeedMore(header_len - buf.len());
        };
        let (len_field, mask_field) = rest.split_at(len_bytes);
        let payload_len = match encoding {
            LengthEncoding::Short => u64::from(b1 & 0x7F),
            _ => len_field.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
        };
        let mask = <[u8; 4]>::try_from(mask_field).ok();
        Parsed::Done(
            FrameHeader {
                fin: b0 & 0x80 != 0,
                rsv: (b0 >> 4) & 0x7,
                opcode: OpCode::from_bits(b0),
                mask,
                payload_len,
                encoding,
                header_len: header_len as u8,
            },
            header_len,
        )
    }

    /// RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the length".
    pub fn length_is_minimal(&self) -> bool {
        match self.encoding {
            LengthEncoding::Short => true,
            LengthEncoding::U16 => self.payload_len >= 126,
            LengthEncoding::U64 => self.payload_len > 0xFFFF,
        }
    }

    /// RFC 6455 §5.2: "the most significant bit MUST be 0" for 64-bit lengths.
    pub fn length_msb_set(&self) -> bool {
        self.encoding == LengthEncoding::U64 && self.payload_len >> 63 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6455_section_5_7_examples_parse() {
        // Unmasked "Hello".
        let Parsed::Done(h, n) = FrameHeader::parse(&[0x81, 0x05, b'H']) else { panic!() };
        assert_eq!((h.fin, h.opcode, h.mask, h.payload_len, n), (true, OpCode::Text, None, 5, 2));
        // Masked "Hello".
        let Parsed::Done(h, n) = FrameHeader::parse(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d]) else {
            panic!()
        };
        assert_eq!((h.mask, n), (Some([0x37, 0xfa, 0x21, 0x3d]), 6));
        // 256 bytes binary in a single unmasked frame.
        let Parsed::Done(h, n) = FrameHeader::parse(&[0x82, 0x7E, 0x01, 0x00]) else { panic!() };
        assert_eq!((h.payload_len, h.encoding, n), (256, LengthEncoding::U16, 4));
        // 64 KiB binary.
        let Parsed::Done(h, n) = FrameHeader::parse(&[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]) else {
            panic!()
        };
        assert_eq!((h.payload_len, h.encoding, n), (65536, LengthEncoding::U64, 10));
        // First fragment of an unmasked text message, then its continuation.
        let Parsed::Done(h, _) = FrameHeader::parse(&[0x01, 0x03]) else { panic!() };
        assert_eq!((h.fin, h.opcode), (false, OpCode::Text));
        let Parsed::Done(h, _) = FrameHeader::parse(&[0x80, 0x02]) else { panic!() };
        assert_eq!((h.fin, h.opcode), (true, OpCode::Continuation));
    }

    #[test]
    fn a_partial_header_asks_for_exactly_what_is_missing() {
        assert_eq!(FrameHeader::parse(&[]), Parsed::NeedMore(2));
        assert_eq!(FrameHeader::parse(&[0x81]), Parsed::NeedMore(1));
        assert_eq!(FrameHeader::parse(&[0x82, 0xFF, 0, 0]), Parsed::NeedMore(10));
        assert_eq!(FrameHeader::parse(&[0x82, 0x7E, 0x01]), Parsed::NeedMore(1));
    }

    #[test]
    fn non_minimal_length_encodings_are_recognised() {
        let Parsed::Done(h, _) = FrameHeader::parse(&[0x82, 0x7E, 0x00, 0x7D]) else { panic!() };
        assert!(!h.length_is_minimal());
        let Parsed::Done(h, _) = FrameHeader::parse(&[0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF])
        else {
            panic!()
        };
        assert!(!h.length_is_minimal());
        let Parsed::Done(h, _) = FrameHeader::parse(&[0x82, 0x7E, 0x00, 0x7E]) else { panic!() };
        assert!(h.length_is_minimal());
    }

    #[test]
    fn sixty_four_bit_length_with_msb_set_is_flagged() {
        let Parsed::Done(h, _) = FrameHeader::parse(&[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1])
        else {
            panic!()
        };
        assert!(h.length_msb_set());
    }

    #[test]
    fn reserved_bits_and_opcodes_are_kept() {
        let Parsed::Done(h, _) = FrameHeader::parse(&[0x7B, 0x00]) else { panic!() };
        assert_eq!((h.fin, h.rsv, h.opcode), (false, 0b111, OpCode::Reserved(0xB)));
    }
}
