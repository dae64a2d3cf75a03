//! The retransmission history of one direction: its most recent delivered bytes, kept to compare
//! retransmitted copies with (see `stream.rs`).
//!
//! Bytes live in one of two places:
//! - **In the input file.** A payload read from a capture file that can be read again (classic
//!   pcap and pcapng files read by wsscope's own readers, see
//!   [`crate::capture::PacketSource::reread`]) is remembered as where it is: a file offset and a
//!   length, 16 bytes for a whole segment. Nothing is copied; the rare retransmission that must
//!   be compared reads the bytes back through [`ReadBack`] (the runner's; the engine does no
//!   I/O). A file changed on disk while it is analysed can then make a comparison disagree; a
//!   file that became shorter leaves the bytes unverified.
//! - **Held in blocks.** Everything else (live capture, pipes, reassembled IP fragments, bytes
//!   that waited out of order, pieces shorter than [`MIN_FILE_SPAN`]) is copied into fixed-size
//!   blocks taken from, and given back to, one [`BlockPool`] per table. A direction's history
//!   grows by a segment and shrinks by an acknowledgment several times per round trip; with
//!   blocks that costs a few pointer moves instead of a `realloc` and a copy of the whole
//!   buffer, and an idle direction holds at most a block or two.
//!
//! The history is a queue of spans, each in the file or held; consecutive held spans are one.

use std::collections::VecDeque;
use std::sync::Arc;

/// The input, read again: where history spans point. The runner hands one in for a capture file
/// it can read at an offset (`capture::FileSource`); the stream engine itself does no I/O.
pub trait ReadBack: Send + Sync + std::fmt::Debug {
    /// Fills `buf` with the input's bytes from `offset`; false when they cannot be read (the
    /// file became shorter, or could not be read).
    fn read_back(&self, offset: u64, buf: &mut [u8]) -> bool;
}

/// Bytes per block. An idle direction keeps the last 1 KiB acknowledged (by default), which then
/// spans one or two blocks; a full-size Ethernet segment spans two or three.
pub const BLOCK: usize = 1024;

/// Pieces shorter than this are copied even when they are in the file, so that a span's 16 bytes
/// never cost more than a quarter of the bytes it stands for (a capture of one-byte segments
/// would otherwise take 16 times its history limit).
pub const MIN_FILE_SPAN: usize = 64;

/// Free blocks shared by every history of a table, and the file the table's input is read from.
/// It keeps at most `max_free` blocks for reuse and frees the rest, so its own memory is bounded.
#[derive(Debug)]
#[allow(clippy::vec_box, reason = "blocks move between pool and histories as pointers")]
pub struct BlockPool {
    free: Vec<Box<[u8; BLOCK]>>,
    max_free: usize,
    /// Blocks handed out and not given back (histories hold them).
    lent: usize,
    /// Span slots allocated by the histories (their queues' capacity).
    span_slots: usize,
    /// Histories with a [`Held`] part.
    held_boxes: usize,
    /// The input, when spans may point into it.
    file: Option<Arc<dyn ReadBack>>,
}

impl Default for BlockPool {
    fn default() -> Self {
        BlockPool {
            free: Vec::new(),
            max_free: 2048,
            lent: 0,
            span_slots: 0,
            held_boxes: 0,
            file: None,
        }
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

    /// From now on, histories may keep offsets into `file` instead of copies of its bytes (the
    /// offsets the table is given for payloads: see [`History::extend`]).
    pub fn set_file(&mut self, file: Option<Arc<dyn ReadBack>>) {
        self.file = file;
    }

    /// Blocks held for reuse.
    #[cfg(test)]
    pub fn free_blocks(&self) -> usize {
        self.free.len()
    }

    /// Bytes of every block, lent or free, and of the histories' other allocations (for the
    /// memory budget).
    pub fn bytes(&self) -> usize {
        (self.lent + self.free.len()) * BLOCK
            + self.span_slots * size_of::<Span>()
            + self.held_boxes * size_of::<Held>()
    }
}

/// A run of consecutive history bytes: `len` bytes at `file` in the input file, or held in the
/// blocks (`file == HELD`).
#[derive(Clone, Copy, Debug)]
struct Span {
    len: u64,
    file: u64,
}

const HELD: u64 = u64::MAX;

/// A byte queue: bytes are appended at the back and dropped from the front.
///
/// Invariants: `len` is the sum of the spans' lengths, and the held spans' bytes, in order, are
/// those of `held`; no span is empty. `held` is allocated only while the history holds bytes
/// (a history of a file's bytes never allocates it).
#[derive(Debug, Default)]
pub struct History {
    spans: VecDeque<Span>,
    held: Option<Box<Held>>,
    len: usize,
}

/// Bytes copied into blocks.
///
/// Invariant: the bytes are `blocks[0][head..]`, the middle blocks, and the first
/// `head + len - BLOCK * (blocks.len() - 1)` bytes of the last block; `head < BLOCK`; there is
/// no block without bytes.
#[derive(Debug, Default)]
struct Held {
    blocks: VecDeque<Box<[u8; BLOCK]>>,
    head: usize,
    len: usize,
}

impl Held {
    /// Copies `data` into the blocks.
    fn extend(&mut self, mut data: &[u8], pool: &mut BlockPool) {
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

    /// Drops the first `n` bytes.
    fn drain_front(&mut self, n: usize, pool: &mut BlockPool) {
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

    /// The bytes `[at, at + n)` as consecutive slices.
    fn range(&self, at: usize, n: usize) -> impl Iterator<Item = &[u8]> + '_ {
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

impl History {
    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Appends `data`, which is at offset `file` of the pool's input file when that is known
    /// (then only where it is is kept).
    pub fn extend(&mut self, data: &[u8], file: Option<u64>, pool: &mut BlockPool) {
        if data.is_empty() {
            return;
        }
        let n = data.len() as u64;
        let file = file.filter(|_| pool.file.is_some() && data.len() >= MIN_FILE_SPAN);
        match (file, self.spans.back_mut()) {
            (Some(at), Some(last)) if last.file != HELD && last.file + last.len == at => {
                last.len += n;
            }
            (Some(at), _) => self.push_span(Span { len: n, file: at }, pool),
            (None, last) => {
                match last {
                    Some(last) if last.file == HELD => last.len += n,
                    _ => self.push_span(Span { len: n, file: HELD }, pool),
                }
                let held = self.held.get_or_insert_with(|| {
                    pool.held_boxes += 1;
                    Box::default()
                });
                held.extend(data, pool);
            }
        }
        self.len += data.len();
    }

    fn push_span(&mut self, span: Span, pool: &mut BlockPool) {
        let before = self.spans.capacity();
        self.spans.push_back(span);
        pool.span_slots += self.spans.capacity() - before;
    }

    /// Drops the first `n` bytes (all of them when `n >= len`).
    pub fn drain_front(&mut self, n: usize, pool: &mut BlockPool) {
        let mut n = n.min(self.len);
        self.len -= n;
        while n > 0 {
            let Some(front) = self.spans.front_mut() else { break };
            let k = (n as u64).min(front.len);
            front.len -= k;
            if front.file != HELD {
                front.file += k;
            } else if let Some(held) = &mut self.held {
                held.drain_front(k as usize, pool);
            }
            if self.spans.front().is_some_and(|f| f.len == 0) {
                self.spans.pop_front();
            }
            n -= k as usize;
        }
        if self.len == 0 {
            // An emptied history gives everything back.
            pool.span_slots -= self.spans.capacity();
            self.spans = VecDeque::new();
            if let Some(mut held) = self.held.take() {
                held.drain_front(held.len, pool);
                pool.held_boxes -= 1;
            }
        }
    }

    /// Drops everything, giving the blocks back.
    pub fn clear(&mut self, pool: &mut BlockPool) {
        self.drain_front(self.len, pool);
    }

    /// The bytes `[at, at + n)`, into `out` (replacing what it held). False when some of them
    /// are in the input file and could not be read back (it became shorter): they are then not
    /// known.
    pub fn read(&self, at: usize, n: usize, pool: &BlockPool, out: &mut Vec<u8>) -> bool {
        debug_assert!(at + n <= self.len, "history range {at}+{n} beyond {}", self.len);
        out.clear();
        let (mut skip, mut left) = (at as u64, n.min(self.len.saturating_sub(at)) as u64);
        // Where the current span's bytes start among the held ones.
        let mut held_at = 0usize;
        for span in &self.spans {
            if left == 0 {
                break;
            }
            if skip >= span.len {
                skip -= span.len;
                if span.file == HELD {
                    held_at += span.len as usize;
                }
                continue;
            }
            let k = left.min(span.len - skip);
            if span.file == HELD {
                let Some(held) = &self.held else { return false };
                for piece in held.range(held_at + skip as usize, k as usize) {
                    out.extend_from_slice(piece);
                }
                held_at += span.len as usize;
            } else {
                let Some(file) = &pool.file else { return false };
                let from = out.len();
                out.resize(from + k as usize, 0);
                if !file.read_back(span.file + skip, &mut out[from..]) {
                    return false;
                }
            }
            left -= k;
            skip = 0;
        }
        true
    }

    /// Blocks held (tests).
    #[cfg(test)]
    fn blocks(&self) -> usize {
        self.held.as_ref().map_or(0, |h| h.blocks.len())
    }

    /// Bytes copied into blocks (tests).
    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        self.held.as_ref().map_or(0, |h| h.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        /// Bytes held (copied).
        Push(usize),
        /// Bytes of the file at an offset (kept as a span when long enough).
        PushFile(usize, usize),
        Drain(usize),
        Clear,
    }

    const FILE_LEN: usize = 1 << 16;

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..5000).prop_map(Op::Push),
            (0usize..FILE_LEN / 2, 0usize..3000).prop_map(|(at, n)| Op::PushFile(at, n)),
            (0usize..5000).prop_map(Op::Drain),
            Just(Op::Clear),
        ]
    }

    /// An input in memory that can be shortened, as a file can.
    #[derive(Debug)]
    struct Input(std::sync::Mutex<Vec<u8>>);

    impl ReadBack for Input {
        fn read_back(&self, offset: u64, buf: &mut [u8]) -> bool {
            let bytes = self.0.lock().unwrap();
            let at = offset as usize;
            match bytes.get(at..at + buf.len()) {
                Some(b) => {
                    buf.copy_from_slice(b);
                    true
                }
                None => false,
            }
        }
    }

    /// An input of `FILE_LEN` known bytes, and a pool that reads it.
    fn file_pool() -> (Vec<u8>, BlockPool, Arc<Input>) {
        let bytes: Vec<u8> = (0..FILE_LEN).map(|i| (i * 131 % 251) as u8).collect();
        let input = Arc::new(Input(std::sync::Mutex::new(bytes.clone())));
        let mut pool = BlockPool::default();
        pool.set_file(Some(input.clone()));
        (bytes, pool, input)
    }

    fn read_all(h: &History, at: usize, n: usize, pool: &BlockPool) -> Vec<u8> {
        let mut out = vec![9; 3];
        assert!(h.read(at, n, pool, &mut out));
        out
    }

    proptest! {
        /// Any sequence of appends (held or in the file) and drains holds exactly what a plain
        /// `VecDeque` holds, every range reads back the same bytes, and blocks and span slots
        /// are all back in the pool at the end.
        #[test]
        fn behaves_like_a_byte_queue(ops in proptest::collection::vec(op(), 0..40)) {
            let (file, mut pool, _) = file_pool();
            let mut h = History::default();
            let mut model: VecDeque<u8> = VecDeque::new();
            let mut next = 0u8;
            for op in ops {
                match op {
                    Op::Push(n) => {
                        let data: Vec<u8> = (0..n).map(|_| { next = next.wrapping_add(7); next }).collect();
                        h.extend(&data, None, &mut pool);
                        model.extend(&data);
                    }
                    Op::PushFile(at, n) => {
                        let data = &file[at..at + n];
                        h.extend(data, Some(at as u64), &mut pool);
                        model.extend(data);
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
                prop_assert_eq!(h.spans.iter().map(|s| s.len as usize).sum::<usize>(), h.len);
                prop_assert!(h.spans.iter().all(|s| s.len > 0));
                prop_assert!(h.blocks() <= h.held_bytes().div_ceil(BLOCK) + 1);
                let all = read_all(&h, 0, h.len(), &pool);
                prop_assert_eq!(&all, &model.iter().copied().collect::<Vec<_>>());
                if h.len() > 10 {
                    let part = read_all(&h, 3, h.len() - 7, &pool);
                    prop_assert_eq!(&part[..], &all[3..h.len() - 4]);
                }
            }
            let held = h.blocks();
            h.clear(&mut pool);
            prop_assert_eq!((h.blocks(), h.spans.capacity(), pool.span_slots, pool.held_boxes), (0, 0, 0, 0));
            prop_assert!(pool.free_blocks() >= held.min(pool.max_free));
        }
    }

    #[test]
    fn an_emptied_history_holds_no_block() {
        let mut pool = BlockPool::default();
        let mut h = History::default();
        h.extend(&[1; BLOCK + 10], None, &mut pool);
        assert_eq!(h.blocks(), 2);
        h.drain_front(BLOCK + 10, &mut pool);
        assert_eq!((h.blocks(), pool.free_blocks(), h.held.is_none()), (0, 2, true));
        h.extend(&[2; 5], None, &mut pool);
        assert_eq!((h.blocks(), pool.free_blocks()), (1, 1));
    }

    #[test]
    fn bytes_in_the_file_are_not_copied_and_short_pieces_are() {
        let (file, mut pool, _) = file_pool();
        let mut h = History::default();
        // Two segments that follow each other in the file are one span.
        h.extend(&file[100..1548], Some(100), &mut pool);
        h.extend(&file[1548..2000], Some(1548), &mut pool);
        assert_eq!((h.spans.len(), h.blocks(), h.held.is_none()), (1, 0, true));
        // A short piece is held, even from the file.
        h.extend(&file[5000..5010], Some(5000), &mut pool);
        assert_eq!((h.spans.len(), h.held_bytes()), (2, 10));
        // Without a file to read back, every piece is held.
        let mut plain = BlockPool::default();
        let mut g = History::default();
        g.extend(&file[100..1548], Some(100), &mut plain);
        assert_eq!(g.held_bytes(), 1448);
        let want: Vec<u8> = [&file[100..2000], &file[5000..5010]].concat();
        assert_eq!(read_all(&h, 0, h.len(), &pool), want);
        assert_eq!(read_all(&h, 1890, 15, &pool), want[1890..1905]);
    }

    #[test]
    fn bytes_gone_from_a_shortened_file_are_not_known() {
        let (file, mut pool, input) = file_pool();
        let mut h = History::default();
        h.extend(&file[60_000..61_000], Some(60_000), &mut pool);
        input.0.lock().unwrap().truncate(60_500);
        let mut out = Vec::new();
        assert!(h.read(0, 400, &pool, &mut out));
        assert_eq!(out, file[60_000..60_400]);
        assert!(!h.read(0, 1000, &pool, &mut out));
    }
}
