//! Out-of-order segment storage for one direction: range bookkeeping plus the bytes.
//!
//! Holds the segments that arrived ahead of a hole, sorted by stream offset and never
//! overlapping (overlaps are trimmed on insertion: the first bytes seen win). In-order data never
//! passes through here; only bytes that must wait for a hole are copied.

use super::event::PacketRef;
use std::collections::VecDeque;
use std::ops::Range;

/// A buffered range of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// Stream offset of the first byte.
    pub offset: u64,
    /// Length in stream bytes.
    pub len: u64,
    /// The bytes, or `None` for a range known to be missing (cut by the snapshot length).
    pub data: Option<Vec<u8>>,
    /// The segment the range came from.
    pub at: PacketRef,
}

impl Chunk {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.len)
    }
}

/// Sorted, non-overlapping buffered chunks of one direction.
///
/// Invariant: `chunks` is sorted by `offset`, chunk ranges are disjoint, and `bytes` is the sum of
/// the lengths of the chunks that hold data.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    chunks: VecDeque<Chunk>,
    bytes: usize,
}

/// Where a new range overlaps buffered bytes that differ from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Conflict {
    /// The differing stream range (first to last differing byte).
    pub range: Range<u64>,
}

impl Assembler {
    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Number of buffered chunks.
    pub fn count(&self) -> usize {
        self.chunks.len()
    }

    /// Buffered data bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// One past the last buffered byte.
    pub fn last_end(&self) -> Option<u64> {
        self.chunks.back().map(Chunk::end)
    }

    /// Offset of the first buffered chunk.
    pub fn first_offset(&self) -> Option<u64> {
        self.chunks.front().map(|c| c.offset)
    }

    /// The packet of the first buffered chunk (the bytes right after the first hole).
    pub fn first_at(&self) -> Option<PacketRef> {
        self.chunks.front().map(|c| c.at)
    }

    /// Removes and returns the first chunk.
    pub fn pop_front(&mut self) -> Option<Chunk> {
        let c = self.chunks.pop_front()?;
        if let Some(d) = &c.data {
            self.bytes -= d.len();
        }
        Some(c)
    }

    /// Splits `[start, start + len)` against the buffered chunks.
    ///
    /// Returns the sub-ranges not yet buffered (in order), the number of bytes that overlapped
    /// buffered chunks, and the conflicts: overlapped bytes that differ from the buffered copy.
    /// `data` holds the captured bytes of the range (it may be shorter than `len` when the tail was
    /// not captured; bytes beyond it are not compared).
    pub fn split(
        &self,
        start: u64,
        len: u64,
        data: &[u8],
    ) -> (Vec<Range<u64>>, u64, Vec<Conflict>) {
        let end = start.saturating_add(len);
        let mut uncovered = Vec::new();
        let mut overlapped = 0u64;
        let mut conflicts = Vec::new();
        let mut cursor = start;
        let first = self.chunks.partition_point(|c| c.end() <= start);
        for c in self.chunks.range(first..) {
            if c.offset >= end {
                break;
            }
            if c.offset > cursor {
                uncovered.push(cursor..c.offset);
            }
            let a = c.offset.max(start);
            let b = c.end().min(end);
            overlapped += b - a;
            if let Some(r) =
                c.data.as_ref().and_then(|old| differing_range(old, c.offset, data, start, a..b))
            {
                conflicts.push(Conflict { range: r });
            }
            cursor = c.end();
        }
        if cursor < end {
            uncovered.push(cursor..end);
        }
        (uncovered, overlapped, conflicts)
    }

    /// Inserts a chunk that overlaps no buffered chunk (as returned by [`Assembler::split`]).
    pub fn insert(&mut self, chunk: Chunk) {
        let idx = self.chunks.partition_point(|c| c.offset < chunk.offset);
        if let Some(d) = &chunk.data {
            self.bytes += d.len();
        }
        self.chunks.insert(idx, chunk);
    }
}

/// The sub-range of `within` where `old` (starting at stream offset `old_at`) and `new` (starting
/// at `new_at`) differ, from the first to the last differing byte; `None` when they agree or when
/// either side lacks the bytes.
fn differing_range(
    old: &[u8],
    old_at: u64,
    new: &[u8],
    new_at: u64,
    within: Range<u64>,
) -> Option<Range<u64>> {
    let o = old.get(
        usize::try_from(within.start - old_at).ok()?..usize::try_from(within.end - old_at).ok()?,
    )?;
    let n_start = usize::try_from(within.start - new_at).ok()?;
    let n_end = usize::try_from(within.end - new_at).ok()?.min(new.len());
    let n = new.get(n_start..n_end.max(n_start))?;
    let o = o.get(..n.len())?;
    let first = o.iter().zip(n).position(|(a, b)| a != b)?;
    let last = o.iter().zip(n).rposition(|(a, b)| a != b).unwrap_or(first);
    Some(within.start + first as u64..within.start + last as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(offset: u64, data: &[u8]) -> Chunk {
        Chunk {
            offset,
            len: data.len() as u64,
            data: Some(data.to_vec()),
            at: PacketRef::default(),
        }
    }

    #[test]
    fn split_returns_uncovered_ranges_around_buffered_chunks() {
        let mut a = Assembler::default();
        a.insert(chunk(10, b"abcde")); // 10..15
        a.insert(chunk(20, b"xyz")); // 20..23
        let (uncovered, overlapped, conflicts) = a.split(8, 20, b"..abcde.....xyz.....");
        assert_eq!(uncovered, vec![8..10, 15..20, 23..28]);
        assert_eq!(overlapped, 8);
        assert!(conflicts.is_empty());
        assert_eq!(a.bytes(), 8);
        assert_eq!(a.count(), 2);
    }

    #[test]
    fn split_reports_differing_bytes_as_a_conflict() {
        let mut a = Assembler::default();
        a.insert(chunk(10, b"abcdef"));
        let (_, _, conflicts) = a.split(12, 3, b"cXe");
        assert_eq!(conflicts, vec![Conflict { range: 13..14 }]);
        let (_, _, conflicts) = a.split(9, 8, b"-aXcdeY-");
        assert_eq!(conflicts, vec![Conflict { range: 11..16 }]);
    }

    #[test]
    fn truncated_new_data_is_compared_only_where_captured() {
        let mut a = Assembler::default();
        a.insert(chunk(0, b"hello"));
        let (_, overlapped, conflicts) = a.split(0, 5, b"he");
        assert_eq!(overlapped, 5);
        assert!(conflicts.is_empty());
    }

    #[test]
    fn insert_keeps_chunks_sorted_and_pop_front_updates_bytes() {
        let mut a = Assembler::default();
        a.insert(chunk(30, b"c"));
        a.insert(chunk(10, b"a"));
        a.insert(Chunk { offset: 20, len: 4, data: None, at: PacketRef::default() });
        assert_eq!(a.first_offset(), Some(10));
        assert_eq!(a.bytes(), 2);
        assert_eq!(a.pop_front().map(|c| c.offset), Some(10));
        assert_eq!(a.pop_front().map(|c| c.offset), Some(20));
        assert_eq!(a.bytes(), 1);
    }
}
