//! When the connection table must look at a tracked 4-tuple again, so that a sweep touches only
//! what is due instead of walking every connection (a sweep of 100,000 quiet connections each
//! tenth of a second took minutes).
//!
//! The queue is lazy: each tracked 4-tuple records the one deadline it is queued under, and an
//! entry whose deadline no longer matches its 4-tuple's is stale and skipped when it comes out.
//! A deadline only has to be no later than the real one: activity that pushes a connection's
//! deadline back leaves its entry alone, and the sweep that finds it early queues it again.
//! Stale entries are bounded: past twice the tracked 4-tuples (plus a margin) the queue is
//! rebuilt from the table.

use super::flow::FlowKey;
use crate::time::Timestamp;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// No deadline: the 4-tuple is not queued (an open connection without an idle timeout).
pub const NEVER: Timestamp = Timestamp::from_nanos(i64::MAX);

/// Entries allowed beyond twice the tracked 4-tuples before the queue is rebuilt.
const SLACK: usize = 4096;

/// A queued deadline. Ordered by time only: entries due in the same sweep are handled in
/// connection-id order by the table, not in queue order.
#[derive(Clone, Copy, Debug)]
struct Due {
    at: Timestamp,
    key: FlowKey,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at.cmp(&other.at)
    }
}

/// Deadlines of tracked 4-tuples, earliest first.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<Due>>,
}

impl Timers {
    /// Queues `key` for `at` (nothing for [`NEVER`]).
    pub fn push(&mut self, at: Timestamp, key: FlowKey) {
        if at != NEVER {
            self.heap.push(Reverse(Due { at, key }));
        }
    }

    /// The earliest entry due strictly before `now`, taken out of the queue.
    pub fn pop_before(&mut self, now: Timestamp) -> Option<(Timestamp, FlowKey)> {
        match self.heap.peek() {
            Some(Reverse(d)) if d.at < now => self.heap.pop().map(|Reverse(d)| (d.at, d.key)),
            _ => None,
        }
    }

    /// Whether the queue holds so many stale entries for `tracked` 4-tuples that it should be
    /// rebuilt ([`Timers::rebuild`]).
    pub fn bloated(&self, tracked: usize) -> bool {
        self.heap.len() > tracked.saturating_mul(2).saturating_add(SLACK)
    }

    /// Replaces the queue with exactly the given deadlines.
    pub fn rebuild(&mut self, live: impl Iterator<Item = (Timestamp, FlowKey)>) {
        let mut v = std::mem::take(&mut self.heap).into_vec();
        v.clear();
        v.extend(live.filter(|(at, _)| *at != NEVER).map(|(at, key)| Reverse(Due { at, key })));
        self.heap = BinaryHeap::from(v);
    }

    /// Forgets every entry.
    pub fn clear(&mut self) {
        self.heap.clear();
    }

    /// Bytes the queue holds.
    pub fn bytes(&self) -> usize {
        self.heap.capacity() * size_of::<Reverse<Due>>()
    }

    /// Entries queued, stale ones included.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn key(port: u16) -> FlowKey {
        let a: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let b = SocketAddr::new("10.0.0.2".parse().unwrap(), port);
        FlowKey::new(a, b)
    }

    fn t(n: i64) -> Timestamp {
        Timestamp::from_nanos(n)
    }

    #[test]
    fn entries_come_out_earliest_first_and_only_strictly_before_now() {
        let mut q = Timers::default();
        q.push(t(30), key(3));
        q.push(t(10), key(1));
        q.push(NEVER, key(9));
        q.push(t(20), key(2));
        assert_eq!(q.len(), 3, "NEVER is not queued");
        assert_eq!(q.pop_before(t(10)), None, "a deadline equal to now is not due");
        assert_eq!(q.pop_before(t(25)), Some((t(10), key(1))));
        assert_eq!(q.pop_before(t(25)), Some((t(20), key(2))));
        assert_eq!(q.pop_before(t(25)), None);
        assert_eq!(q.pop_before(t(31)), Some((t(30), key(3))));
    }

    #[test]
    fn a_rebuild_keeps_only_the_live_deadlines() {
        let mut q = Timers::default();
        for i in 0..10_000 {
            q.push(t(i), key(1));
        }
        assert!(q.bloated(1));
        assert!(!q.bloated(5_000));
        q.rebuild([(t(7), key(1)), (NEVER, key(2))].into_iter());
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop_before(t(100)), Some((t(7), key(1))));
    }
}
