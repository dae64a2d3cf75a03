//! TCP sequence numbers and their mapping to 64-bit stream offsets.
//!
//! Sequence numbers wrap at 2^32 (RFC 9293 §3.4). The stream engine never compares raw sequence
//! numbers; it converts each one to a 64-bit offset from the start of the stream, choosing the
//! offset closest to a reference point (the next byte expected). Offsets never wrap, so every
//! range computation afterwards is plain integer arithmetic.

/// Maps raw sequence numbers of one direction to stream offsets.
///
/// Invariant: `base` is the sequence number of stream offset 0 (ISN + 1 when the SYN was seen).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqSpace {
    base: u32,
}

impl SeqSpace {
    /// A sequence space whose offset 0 is sequence number `base`.
    pub fn new(base: u32) -> Self {
        SeqSpace { base }
    }

    /// The sequence number of offset 0.
    pub fn base(self) -> u32 {
        self.base
    }

    /// The raw sequence number of a stream offset (for display: what Wireshark shows).
    pub fn seq_of(self, offset: u64) -> u32 {
        self.base.wrapping_add(offset as u32)
    }

    /// The stream offset of `seq`, taking the candidate within ±2^31 of `reference`.
    ///
    /// Returns a negative value for bytes before the start of the stream.
    pub fn offset_of(self, seq: u32, reference: u64) -> i64 {
        let ref_seq = self.seq_of(reference);
        let delta = seq.wrapping_sub(ref_seq) as i32;
        // reference < 2^63 in practice (a stream of 8 EiB); saturate rather than overflow.
        i64::try_from(reference).unwrap_or(i64::MAX).saturating_add(i64::from(delta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_cross_the_wrap_point() {
        let s = SeqSpace::new(0xFFFF_FF00);
        assert_eq!(s.offset_of(0xFFFF_FF00, 0), 0);
        assert_eq!(s.offset_of(0x0000_0010, 0x80), 0x110);
        assert_eq!(s.seq_of(0x110), 0x10);
    }

    #[test]
    fn bytes_before_the_stream_start_are_negative() {
        let s = SeqSpace::new(1000);
        assert_eq!(s.offset_of(990, 0), -10);
    }

    #[test]
    fn offsets_beyond_4_gib_stay_monotonic() {
        let s = SeqSpace::new(7);
        let reference = (1u64 << 32) * 3 + 100;
        let seq = s.seq_of(reference + 5000);
        assert_eq!(s.offset_of(seq, reference), (reference + 5000) as i64);
    }
}
