//! IPv4 fragment reassembly with bounded memory.
//!
//! Fragments are collected per (source, destination, identification) in etherparse's
//! [`IpDefragBuf`], which merges byte ranges. At most `max_datagrams` datagrams are in progress;
//! the oldest is dropped to make room, and a datagram not completed within `timeout` (packet time)
//! is dropped. Every drop is counted. An IPv4 datagram is at most 64 KiB, so memory is bounded by
//! `max_datagrams × 64 KiB`.

use etherparse::defrag::IpDefragBuf;
use etherparse::{IpFragOffset, IpNumber};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::time::Timestamp;

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

#[derive(Debug)]
struct Pending {
    buf: IpDefragBuf,
    first_seen: Timestamp,
    order: u64,
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

    /// Datagrams dropped so far (timeout, limit or inconsistent fragments).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Datagrams waiting for fragments.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Adds a fragment; returns the datagram's payload once every fragment has arrived.
    pub fn add(&mut self, key: FragKey, frag: Fragment<'_>, ts: Timestamp) -> Option<Vec<u8>> {
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
            buf: IpDefragBuf::new(key.protocol, Vec::new(), Vec::new()),
            first_seen: ts,
            order,
        });
        if entry.buf.add(frag.offset, frag.more, frag.payload).is_err() {
            self.pending.remove(&key);
            self.dropped += 1;
            return None;
        }
        if entry.buf.is_complete() {
            let done = self.pending.remove(&key)?;
            return Some(done.buf.take_bufs().0);
        }
        None
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
        assert_eq!(d.add(key(), frag(1, true, b"BBBBBBBB"), ts), None);
        assert_eq!(d.add(key(), frag(2, false, b"CC"), ts), None);
        assert_eq!(
            d.add(key(), frag(0, true, b"AAAAAAAA"), ts),
            Some(b"AAAAAAAABBBBBBBBCC".to_vec())
        );
        assert_eq!(d.dropped(), 0);
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
        assert_eq!(d.add(key(), frag(1, false, b"B"), ts), None);
    }
}
