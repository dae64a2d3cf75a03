//! IPv4 fragment reassembly with bounded memory, following Linux's policy on overlaps.
//!
//! Fragments are collected per (source, destination, identification, protocol). At most
//! `max_datagrams` datagrams are in progress; the oldest is dropped to make room, and a datagram
//! not completed within `timeout` (packet time) is dropped. Every drop is counted. An IPv4
//! datagram is at most 64 KiB, so memory is bounded by `max_datagrams × 64 KiB`.
//!
//! **Overlaps.** A receiver decides what bytes a datagram holds, and wsscope must show what the
//! receiver accepted, not a mix of copies. Linux (net/ipv4/ip_fragment.c and
//! `inet_frag_queue_insert` in net/ipv4/inet_fragment.c, since 4.19; RFC 5722 §4 with erratum
//! 3089 for IPv6) keeps the fragments as *runs* — fragments that arrived in order, each starting
//! where the previous ended, at the tail — and for each new fragment:
//!
//! - lying wholly inside one run already held: a duplicate, ignored (the first copy is kept; Linux
//!   does not compare the bytes — wsscope does, and reports a copy with other contents:
//!   [`Added::DuplicateDiffers`]);
//! - overlapping held bytes in any other way (partly, or across two runs): the whole datagram is
//!   dropped, fragments before and after included ([`Added::Overlap`]; Linux counts it as
//!   `ReasmOverlaps`);
//! - a last fragment ending before bytes already held or where an earlier last fragment did not,
//!   a fragment past a known end, an empty fragment or a datagram past 64 KiB: the datagram is
//!   dropped ([`Added::LengthConflict`]).
//!
//! A non-last fragment whose length is not a multiple of 8 is cut to one, as Linux does.
//! Fragments of a dropped datagram that arrive later start a new one, which never completes.

use etherparse::{IpFragOffset, IpNumber};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::time::Timestamp;

/// The largest IPv4 datagram payload: a total length of 65,535 less a 20-byte header.
const MAX_PAYLOAD: usize = 65_535 - 20;

/// Identifies the fragments of one IPv4 datagram (RFC 791 §3.2): addresses, identification and
/// protocol. Fragments of tunnelled datagrams share one defragmenter with the outer ones; their
/// addresses tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragKey {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    id: u16,
    protocol: IpNumber,
}

impl FragKey {
    /// The key of a fragment.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr, id: u16, protocol: IpNumber) -> Self {
        FragKey { src, dst, id, protocol }
    }
}

/// One fragment.
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a> {
    /// Fragment offset (in 8-byte units, as in the header).
    pub offset: IpFragOffset,
    /// The "more fragments" flag.
    pub more: bool,
    /// The fragment's payload.
    pub payload: &'a [u8],
}

/// What became of a fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// Held: its datagram waits for more fragments.
    Held,
    /// It completed its datagram: the datagram's payload.
    Complete(Vec<u8>),
    /// It repeats bytes held, byte for byte (a retransmission): ignored.
    Duplicate,
    /// It lies inside bytes held but carries other contents: ignored, the first copy kept (as
    /// Linux does).
    DuplicateDiffers,
    /// It overlaps held bytes other than as a duplicate: its datagram was dropped (as Linux
    /// does).
    Overlap,
    /// It contradicts its datagram's length: its datagram was dropped (as Linux does).
    LengthConflict,
}

/// A run of fragments that arrived in order at the tail: `[start, end)` bytes.
#[derive(Clone, Copy, Debug)]
struct Run {
    start: usize,
    end: usize,
}

/// One datagram being reassembled.
///
/// Invariant: `runs` are sorted and disjoint, the last one ends at the highest byte held;
/// `meat` is the sum of their lengths; `data` holds every run's bytes at their offsets and is at
/// least as long as the last run's end; `len` is the datagram's length as far as known (exact
/// once `last_in`).
#[derive(Debug)]
struct Pending {
    data: Vec<u8>,
    runs: Vec<Run>,
    len: usize,
    last_in: bool,
    meat: usize,
    first_seen: Timestamp,
    order: u64,
}

/// What `Pending::add` decided.
enum Step {
    Held,
    Complete,
    Duplicate { same: bool },
    Overlap,
    LengthConflict,
}

impl Pending {
    /// Linux's `ip_frag_queue` and `inet_frag_queue_insert`, bytes instead of socket buffers.
    fn add(&mut self, offset: usize, more: bool, payload: &[u8]) -> Step {
        let mut end = offset + payload.len();
        if end > MAX_PAYLOAD {
            return Step::LengthConflict;
        }
        if more {
            end &= !7;
            if end > self.len {
                if self.last_in {
                    return Step::LengthConflict;
                }
                self.len = end;
            }
        } else {
            if end < self.len || (self.last_in && end != self.len) {
                return Step::LengthConflict;
            }
            self.last_in = true;
            self.len = end;
        }
        if end <= offset {
            return Step::LengthConflict;
        }
        let Some(bytes) = payload.get(..end - offset) else { return Step::LengthConflict };
        let tail_end = self.runs.last().map_or(0, |r| r.end);
        if self.runs.is_empty() || end > tail_end {
            // At the tail: it joins the last run, starts a new one after it, or overlaps it.
            if offset < tail_end && !self.runs.is_empty() {
                return Step::Overlap;
            }
            match self.runs.last_mut() {
                Some(last) if last.end == offset => last.end = end,
                _ => self.runs.push(Run { start: offset, end }),
            }
        } else {
            // Before the tail: in a hole, inside one run, or overlapping.
            let i = self.runs.partition_point(|r| r.end <= offset);
            match self.runs.get(i) {
                Some(r) if r.start < end => {
                    if offset >= r.start && end <= r.end {
                        let same = self.data.get(offset..end) == Some(bytes);
                        return Step::Duplicate { same };
                    }
                    return Step::Overlap;
                }
                _ => self.runs.insert(i, Run { start: offset, end }),
            }
        }
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        if let Some(dst) = self.data.get_mut(offset..end) {
            dst.copy_from_slice(bytes);
        }
        self.meat += end - offset;
        if self.last_in && self.meat == self.len { Step::Complete } else { Step::Held }
    }
}

/// Datagrams being reassembled.
#[derive(Debug)]
pub struct Defragmenter {
    pending: HashMap<FragKey, Pending>,
    max_datagrams: usize,
    timeout: Duration,
    order: u64,
    dropped: u64,
}

impl Defragmenter {
    /// A defragmenter holding at most `max_datagrams` incomplete datagrams for at most `timeout`.
    pub fn new(max_datagrams: usize, timeout: Duration) -> Self {
        Defragmenter {
            pending: HashMap::new(),
            max_datagrams: max_datagrams.max(1),
            timeout,
            order: 0,
            dropped: 0,
        }
    }

    /// Datagrams dropped so far (timeout, limit, overlapping or contradicting fragments).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Datagrams waiting for fragments.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Adds a fragment; says what became of it (with the datagram's payload once every fragment
    /// has arrived).
    pub fn add(&mut self, key: FragKey, frag: Fragment<'_>, ts: Timestamp) -> Added {
        self.expire(ts);
        if !self.pending.contains_key(&key)
            && self.pending.len() >= self.max_datagrams
            && let Some(oldest) = self.pending.iter().min_by_key(|(_, p)| p.order).map(|(k, _)| *k)
        {
            self.pending.remove(&oldest);
            self.dropped += 1;
        }
        self.order += 1;
        let order = self.order;
        let entry = self.pending.entry(key).or_insert_with(|| Pending {
            data: Vec::new(),
            runs: Vec::new(),
            len: 0,
            last_in: false,
            meat: 0,
            first_seen: ts,
            order,
        });
        let step = entry.add(usize::from(frag.offset.byte_offset()), frag.more, frag.payload);
        match step {
            Step::Held => Added::Held,
            Step::Duplicate { same: true } => Added::Duplicate,
            Step::Duplicate { same: false } => Added::DuplicateDiffers,
            Step::Complete => match self.pending.remove(&key) {
                Some(mut done) => {
                    done.data.truncate(done.len);
                    Added::Complete(done.data)
                }
                None => Added::Held,
            },
            Step::Overlap | Step::LengthConflict => {
                self.pending.remove(&key);
                self.dropped += 1;
                if matches!(step, Step::Overlap) { Added::Overlap } else { Added::LengthConflict }
            }
        }
    }

    fn expire(&mut self, now: Timestamp) {
        let timeout = self.timeout;
        let before = self.pending.len();
        self.pending.retain(|_, p| now.saturating_since(p.first_seen) <= timeout);
        self.dropped += (before - self.pending.len()) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> FragKey {
        FragKey::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), 7, IpNumber::TCP)
    }

    fn frag(units: u16, more: bool, payload: &[u8]) -> Fragment<'_> {
        Fragment { offset: IpFragOffset::try_new(units).unwrap(), more, payload }
    }

    #[test]
    fn reassembles_fragments_in_any_order() {
        let mut d = Defragmenter::new(4, Duration::from_secs(30));
        let ts = Timestamp::from_nanos(0);
        assert_eq!(d.add(key(), frag(1, true, b"BBBBBBBB"), ts), Added::Held);
        assert_eq!(d.add(key(), frag(2, false, b"CC"), ts), Added::Held);
        assert_eq!(
            d.add(key(), frag(0, true, b"AAAAAAAA"), ts),
            Added::Complete(b"AAAAAAAABBBBBBBBCC".to_vec())
        );
        assert_eq!(d.dropped(), 0);
    }

    #[test]
    fn exact_duplicate_is_ignored_and_the_datagram_completes() {
        let mut d = Defragmenter::new(4, Duration::from_secs(30));
        let ts = Timestamp::from_nanos(0);
        assert_eq!(d.add(key(), frag(0, true, b"AAAAAAAA"), ts), Added::Held);
        assert_eq!(d.add(key(), frag(0, true, b"AAAAAAAA"), ts), Added::Duplicate);
        assert_eq!(d.add(key(), frag(1, false, b"B"), ts), Added::Complete(b"AAAAAAAAB".to_vec()));
        assert_eq!(d.dropped(), 0);
    }

    /// Linux keeps the first copy of bytes repeated inside a run; wsscope does too, and says the
    /// copy differed.
    #[test]
    fn duplicate_with_other_bytes_is_ignored_and_the_first_copy_kept() {
        let mut d = Defragmenter::new(4, Duration::from_secs(30));
        let ts = Timestamp::from_nanos(0);
        d.add(key(), frag(0, true, b"AAAAAAAA"), ts);
        assert_eq!(d.add(key(), frag(0, true, b"XXXXXXXX"), ts), Added::DuplicateDiffers);
        assert_eq!(d.add(key(), frag(1, false, b"B"), ts), Added::Complete(b"AAAAAAAAB".to_vec()));
    }

    #[test]
    fn overlap_with_other_bytes_drops_the_datagram() {
        let mut d = Defragmenter::new(4, Duration::from_secs(30));
        let ts = Timestamp::from_nanos(0);
        d.add(key(), frag(0, true, b"AAAAAAAAAAAAAAAA"), ts);
        assert_eq!(d.add(key(), frag(1, true, b"XXXXXXXXXXXXXXXX"), ts), Added::Overlap);
        assert_eq!(d.dropped(), 1);
        // The rest of the datagram no longer completes it: its first fragment is gone.
        assert_eq!(d.add(key(), frag(3, false, b"C"), ts), Added::Held);
        assert_eq!(d.pending(), 1);
    }

    /// Linux drops a datagram whose fragments overlap partly even when the overlapping bytes
    /// agree: only a fragment lying inside one run is a duplicate.
    #[test]
    fn overlap_with_identical_bytes_but_other_boundaries_drops_the_datagram() {
        let mut d = Defragmenter::new(4, Duration::from_secs(30));
        let ts = Timestamp::from_nanos(0);
        d.add(key(), frag(0, true, b"AAAAAAAABBBBBBBB"), ts);
        assert_eq!(d.add(key(), frag(1, true, b"BBBBBBBBCCCCCCCC"), ts), Added::Overlap);
        assert_eq!(d.dropped(), 1);
    }

    /// Runs form only from fragments arriving in order at the tail: the same copy of two
    /// fragments is a duplicate after in-order arrival and an overlap (across two runs) after
    /// out-of-order arrival, as in Linux's `inet_frag_queue_insert`.
    #[test]
    fn a_copy_inside_a_run_is_a_duplicate_and_across_runs_an_overlap() {
        let ts = Timestamp::from_nanos(0);
        let mut d = Defragmenter::new(4, Duration::from_secs(30));
        d.add(key(), frag(0, true, b"AAAAAAAA"), ts);
        d.add(key(), frag(1, true, b"BBBBBBBB"), ts);
        assert_eq!(d.add(key(), frag(0, true, b"AAAAAAAABBBBBBBB"), ts), Added::Duplicate);
        let mut d = Defragmenter::new(4, Duration::from_secs(30));
        d.add(key(), frag(1, true, b"BBBBBBBB"), ts);
        d.add(key(), frag(0, true, b"AAAAAAAA"), ts);
        assert_eq!(d.add(key(), frag(0, true, b"AAAAAAAABBBBBBBB"), ts), Added::Overlap);
    }

    #[test]
    fn fragments_contradicting_the_length_drop_the_datagram() {
        let ts = Timestamp::from_nanos(0);
        // Two last fragments ending at different places.
        let mut d = Defragmenter::new(4, Duration::from_secs(30));
        d.add(key(), frag(1, false, b"BB"), ts);
        assert_eq!(d.add(key(), frag(1, false, b"BBB"), ts), Added::LengthConflict);
        // A fragment past the end a last fragment set.
        let mut d = Defragmenter::new(4, Duration::from_secs(30));
        d.add(key(), frag(1, false, b"BB"), ts);
        assert_eq!(d.add(key(), frag(2, true, b"CCCCCCCC"), ts), Added::LengthConflict);
        // A last fragment ending before bytes held.
        let mut d = Defragmenter::new(4, Duration::from_secs(30));
        d.add(key(), frag(2, true, b"CCCCCCCC"), ts);
        assert_eq!(d.add(key(), frag(0, false, b"AA"), ts), Added::LengthConflict);
        assert_eq!(d.dropped(), 1);
    }

    #[test]
    fn a_non_last_fragment_is_cut_to_a_multiple_of_8() {
        let mut d = Defragmenter::new(4, Duration::from_secs(30));
        let ts = Timestamp::from_nanos(0);
        assert_eq!(d.add(key(), frag(0, true, b"AAAAAAAAzz"), ts), Added::Held);
        assert_eq!(d.add(key(), frag(1, false, b"B"), ts), Added::Complete(b"AAAAAAAAB".to_vec()));
    }

    #[test]
    fn incomplete_datagram_times_out() {
        let mut d = Defragmenter::new(4, Duration::from_secs(30));
        d.add(key(), frag(0, true, b"AAAAAAAA"), Timestamp::from_secs_nanos(0, 0));
        let other =
            FragKey::new(Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(2, 2, 2, 2), 1, IpNumber::TCP);
        d.add(other, frag(0, true, b"AAAAAAAA"), Timestamp::from_secs_nanos(31, 0));
        assert_eq!(d.dropped(), 1);
    }

    #[test]
    fn limit_drops_the_oldest_datagram() {
        let mut d = Defragmenter::new(1, Duration::from_secs(30));
        let ts = Timestamp::from_nanos(0);
        d.add(key(), frag(0, true, b"AAAAAAAA"), ts);
        let other =
            FragKey::new(Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(2, 2, 2, 2), 1, IpNumber::TCP);
        d.add(other, frag(0, true, b"AAAAAAAA"), ts);
        assert_eq!(d.dropped(), 1);
        // The first datagram is gone: its last fragment alone does not complete it.
        assert_eq!(d.add(key(), frag(1, false, b"B"), ts), Added::Held);
    }
}
