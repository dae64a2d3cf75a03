//! The retransmission history of one direction: its most recent delivered bytes, kept to compare
//! retransmitted copies with (see `stream.rs`).
//!
//! Bytes live in fixed-size blocks taken from, and given back to, one [`BlockPool`] per table.
//! A direction's history grows by a segment and shrinks by an acknowledgment several times per
//! round trip; with blocks that costs a few pointer moves instead of a `realloc` and a copy of the
//! whole buffer, and an idle direction holds at most a block or two.

use std::collections::VecDeque;

/// Bytes per block. An idle direction keeps the last 1 KiB acknowledged (by default), which then
/// spans one or two blocks; a full-size Ethernet segment spans two or three.
pub const BLOCK: usize = 1024;

/// Free blocks shared by every history of a table. It keeps at most `max_free` blocks for reuse
/// and frees the rest, so its own memory is bounded.
#[derive(Debug)]
#[allow(clippy::vec_box, reason = "blocks move between pool and histories as pointers")]
pub struct BlockPool {
    free: Vec<Box<[u8; BLOCK]>>,
    max_free: usize,
    /// Blocks handed out and not given back (histories hold them).
    lent: usize,
}

impl Default for BlockPool {
    fn default() -> Self {
        BlockPool { free: Vec::new(), max_free: 2048, lent: 0 }
    }
}

impl BlockPool {
    fn take(&mut self) -> Box<[u8; BLOCK]> {
        self.lent += 1;
        self.free.pop().unwrap_or_else(|| Box::new([0; BLOCK]))
    }

    fn give(&mut self, block: Box<[u8; BLOCK]>) {
        self.lent = self.lent.saturating_sub(1);
        if self.free.len() < self.max_free {
            self.free.push(block);
        }
    }

    /// Blocks held for reuse.
    #[cfg(test)]
    pub fn free_blocks(&self) -> usize {
        self.free.len()
    }

    /// Bytes of every block, lent or free (for the memory budget).
    pub fn bytes(&self) -> usize {
        (self.lent + self.free.len()) * BLOCK
    }
}

/// A byte queue in pool blocks: bytes are appended at the back and dropped from the front.
///
/// Invariant: the bytes are `blocks[0][head..]`, the middle blocks, and the first
/// `head + len - BLOCK * (blocks.len() - 1)` bytes of the last block; `head < BLOCK`; there is
/// no block without bytes.
#[derive(Debug, Default)]
pub struct History {
    blocks: VecDeque<Box<[u8; BLOCK]>>,
    head: usize,
    len: usize,
}

impl History {
    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Appends `data`.
    pub fn extend(&mut self, mut data: &[u8], pool: &mut BlockPool) {
        while !data.is_empty() {
            let used = (self.head + self.len) % BLOCK;
            if used == 0 && (self.head + self.len) / BLOCK == self.blocks.len() {
                self.blocks.push_back(pool.take());
            }
            let Some(last) = self.blocks.back_mut() else { return };
            let n = data.len().min(BLOCK - used);
            last[used..used + n].copy_from_slice(&data[..n]);
            self.len += n;
            data = &data[n..];
        }
    }

    /// Drops the first `n` bytes (all of them when `n >= len`).
    pub fn drain_front(&mut self, n: usize, pool: &mut BlockPool) {
        let n = n.min(self.len);
        self.len -= n;
        self.head += n;
        while self.head >= BLOCK || (self.len == 0 && !self.blocks.is_empty()) {
            let Some(block) = self.blocks.pop_front() else { break };
            pool.give(block);
            self.head = self.head.saturating_sub(BLOCK);
        }
        if self.len == 0 {
            self.head = 0;
        }
    }

    /// Drops everything, giving the blocks back.
    pub fn clear(&mut self, pool: &mut BlockPool) {
        self.drain_front(self.len, pool);
    }

    /// The bytes `[at, at + n)` as consecutive slices (those of them that are held).
    pub fn range(&self, at: usize, n: usize) -> impl Iterator<Item = &[u8]> + '_ {
        debug_assert!(at + n <= self.len, "history range {at}+{n} beyond {}", self.len);
        let mut pos = self.head + at;
        let mut left = n.min(self.len.saturating_sub(at));
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            let (b, o) = (pos / BLOCK, pos % BLOCK);
            let k = left.min(BLOCK - o);
            pos += k;
            left -= k;
            Some(&self.blocks[b][o..o + k])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Push(usize),
        Drain(usize),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..5000).prop_map(Op::Push),
            (0usize..5000).prop_map(Op::Drain),
            Just(Op::Clear),
        ]
    }

    proptest! {
        /// Any sequence of appends and drains holds exactly what a plain `VecDeque` holds, every
        /// range reads back the same bytes, and blocks are all back in the pool at the end.
        #[test]
        fn behaves_like_a_byte_queue(ops in proptest::collection::vec(op(), 0..40)) {
            let mut pool = BlockPool::default();
            let mut h = History::default();
            let mut model: VecDeque<u8> = VecDeque::new();
            let mut next = 0u8;
            for op in ops {
                match op {
                    Op::Push(n) => {
                        let data: Vec<u8> = (0..n).map(|_| { next = next.wrapping_add(7); next }).collect();
                        h.extend(&data, &mut pool);
                        model.extend(&data);
                    }
                    Op::Drain(n) => {
                        h.drain_front(n, &mut pool);
                        model.drain(..n.min(model.len()));
                    }
                    Op::Clear => {
                        h.clear(&mut pool);
                        model.clear();
                    }
                }
                prop_assert_eq!(h.len(), model.len());
                prop_assert!(h.blocks.len() <= h.len.div_ceil(BLOCK) + 1);
                let all: Vec<u8> = h.range(0, h.len()).flatten().copied().collect();
                prop_assert_eq!(&all, &model.iter().copied().collect::<Vec<_>>());
                if h.len() > 10 {
                    let part: Vec<u8> = h.range(3, h.len() - 7).flatten().copied().collect();
                    prop_assert_eq!(&part[..], &all[3..h.len() - 4]);
                }
            }
            let held = h.blocks.len();
            h.clear(&mut pool);
            prop_assert_eq!(h.blocks.len(), 0);
            prop_assert!(pool.free_blocks() >= held.min(pool.max_free));
        }
    }

    #[test]
    fn an_emptied_history_holds_no_block() {
        let mut pool = BlockPool::default();
        let mut h = History::default();
        h.extend(&[1; BLOCK + 10], &mut pool);
        assert_eq!(h.blocks.len(), 2);
        h.drain_front(BLOCK + 10, &mut pool);
        assert_eq!((h.blocks.len(), h.head, pool.free_blocks()), (0, 0, 2));
        h.extend(&[2; 5], &mut pool);
        assert_eq!((h.blocks.len(), pool.free_blocks()), (1, 1));
    }
}
