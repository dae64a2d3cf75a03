//! permessage-deflate decompression (RFC 7692 §7.2.2), one inflater per direction.
//!
//! A compressed message is inflated as its frames arrive: the payloads of all its frames form one
//! raw DEFLATE stream, to which `00 00 FF FF` is appended at the end of the message. The
//! inflater — and so the LZ77 window — is kept from message to message (context takeover, the
//! default) unless the sender's direction negotiated `no_context_takeover`.
//!
//! Memory: a zlib state (with its own 32 KiB window) exists only while a message is being
//! inflated, taken from a small per-thread pool. Between messages a direction with context
//! takeover keeps just its last 32 KiB of output (less while it has produced less), and gives it
//! back to the next message's zlib state as a preset dictionary (`inflateSetDictionary`), which
//! is exactly the window the sender's compressor refers to. Thousands of idle compressed
//! connections then cost their windows, not thousands of zlib states.
//!
//! When the window is not known (the capture started mid-connection, bytes were lost, or a
//! message was abandoned at the size limit), inflation is still attempted from an empty window:
//! an empty window holds a suffix of the true one, so a message either inflates to exactly the
//! right bytes or fails on a back-reference that reaches further than the capture saw. The
//! failure is reported as missing context, never as garbage.

use crate::memory::{Charge, Memory};
use flate2::{Decompress, FlushDecompress, Status};
use std::collections::VecDeque;

/// Output produced per inflate step.
const CHUNK: usize = 16 * 1024;
/// The largest LZ77 window (RFC 7692 §7.1.2: window bits 8 to 15).
const WINDOW: usize = 32 * 1024;
/// zlib states kept per thread for reuse between messages.
const POOL: usize = 64;

thread_local! {
    /// Inflated bytes pass through one buffer per thread, shared by every inflater (each holds it
    /// only during a call), instead of 16 KiB per compressed direction.
    static OUT: std::cell::RefCell<Box<[u8]>> = std::cell::RefCell::new(vec![0u8; CHUNK].into_boxed_slice());
    /// zlib states not in use by a message.
    static STATES: std::cell::RefCell<Vec<Decompress>> = const { std::cell::RefCell::new(Vec::new()) };
    /// What the pool and the output buffer hold, charged to the meter of the analyzer that
    /// runs on this thread ([`charge_thread_to`]).
    static POOL_CHARGE: std::cell::RefCell<Option<Charge>> = const { std::cell::RefCell::new(None) };
}
/// RFC 7692 §7.2.2: the tail removed by the compressor, appended back before inflating.
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// Why a message could not be inflated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InflateError {
    /// The data is not valid DEFLATE although the window was known.
    Corrupt(String),
    /// A back-reference reaches into data the capture does not have.
    MissingContext(String),
    /// The message inflated past the limit; inflation stopped there.
    Limit(u64),
    /// The inflater's state or window was given up to stay under the memory budget.
    MemoryBudget,
}

/// What a zlib state costs while a message is inflated (zlib-rs: its state and its own 32 KiB
/// window), for the memory budget.
const STATE_BYTES: usize = 48 << 10;

/// The most one thread's inflation holds besides its inflaters: the pool of zlib states (full)
/// and the shared output buffer.
#[cfg(test)]
pub const PER_THREAD_BYTES: usize = POOL * STATE_BYTES + CHUNK;

/// Charges what this thread's inflation holds besides its inflaters (the output buffer and the
/// zlib states pooled between messages, as they come and go) to `memory`, until the guard is
/// dropped; then the pool is emptied. An analyzer holds one for the thread it runs on.
pub fn charge_thread_to(memory: &Memory) -> ThreadCharge {
    let mut charge = Charge::new(memory);
    charge.set(pool_bytes(STATES.try_with(|s| s.borrow().len()).unwrap_or(0)));
    let previous = POOL_CHARGE.try_with(|c| c.replace(Some(charge))).ok().flatten();
    ThreadCharge { previous }
}

/// Keeps this thread's inflation charged to a meter ([`charge_thread_to`]).
#[derive(Debug)]
pub struct ThreadCharge {
    /// The charge this one replaced (an analyzer within another's life on the same thread),
    /// put back when this one goes.
    previous: Option<Charge>,
}

impl Drop for ThreadCharge {
    fn drop(&mut self) {
        let _ = STATES.try_with(|s| s.borrow_mut().clear());
        let mut previous = self.previous.take();
        if let Some(p) = &mut previous {
            p.set(pool_bytes(0));
        }
        let _ = POOL_CHARGE.try_with(|c| c.replace(previous));
    }
}

/// What the output buffer and `pooled` zlib states hold.
fn pool_bytes(pooled: usize) -> usize {
    CHUNK + pooled * STATE_BYTES
}

/// The pool now holds `pooled` states: charged as such.
fn recharge(pooled: usize) {
    let _ = POOL_CHARGE.try_with(|c| {
        if let Ok(mut c) = c.try_borrow_mut()
            && let Some(c) = c.as_mut()
        {
            c.set(pool_bytes(pooled));
        }
    });
}

/// The inflater of one direction.
pub struct Inflater {
    /// The zlib state of the message being inflated (from the pool; given back at its end).
    z: Option<Decompress>,
    /// The last (up to 32 KiB) bytes inflated: the window of the next message (context takeover).
    window: VecDeque<u8>,
    /// The sender resets its compressor after every message.
    no_context_takeover: bool,
    /// Whether the window holds everything the sender's compressor may refer to.
    context_known: bool,
    /// The current message failed; its remaining input is ignored.
    failed: bool,
    /// Bytes produced for the current message.
    produced: u64,
    /// The window was given up to save memory (so a reference into it is not the capture's
    /// fault).
    dropped: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("no_context_takeover", &self.no_context_takeover)
            .field("context_known", &self.context_known)
            .finish()
    }
}

impl Inflater {
    /// An inflater for a direction whose sender resets after every message when
    /// `no_context_takeover`; `context_known` is false when the capture did not see the
    /// connection from its start.
    pub fn new(no_context_takeover: bool, context_known: bool) -> Self {
        Inflater {
            z: None,
            window: VecDeque::new(),
            no_context_takeover,
            context_known,
            failed: false,
            produced: 0,
            dropped: false,
        }
    }

    /// Bytes this inflater holds (its window; a zlib state while a message is inflated).
    pub fn footprint(&self) -> usize {
        self.window.capacity() + if self.z.is_some() { STATE_BYTES } else { 0 }
    }

    /// Gives up the window and the zlib state to save memory (`--memory-budget`): the rest of
    /// a message being inflated is not inflated, and a later message that refers to the window
    /// fails with [`InflateError::MemoryBudget`]. Returns whether anything was held.
    pub fn drop_memory(&mut self) -> bool {
        let held = self.z.is_some() || self.window.capacity() > 0;
        if self.z.take().is_some() {
            // A message was being inflated: the rest of it is ignored.
            self.failed = true;
        }
        if self.window.capacity() > 0 || self.context_known() {
            self.lose_context();
            self.dropped = !self.no_context_takeover;
        }
        held
    }

    /// Whether the window is complete (every message can be inflated).
    pub fn context_known(&self) -> bool {
        self.context_known || self.no_context_takeover
    }

    /// Bytes were lost or a message abandoned: the window is no longer complete. It is emptied,
    /// so that it only ever holds a true suffix of what the sender compressed: a later message
    /// that refers to the lost bytes then fails (missing context) instead of resolving its
    /// back-references against older bytes (garbage).
    pub fn lose_context(&mut self) {
        self.context_known = false;
        self.dropped = false;
        self.window = VecDeque::new();
    }

    /// Feeds compressed payload bytes of the current message; inflated bytes go to `sink`.
    /// After an error the rest of the message is ignored (the error is returned once); the
    /// caller still calls [`Inflater::finish`] at the end of the message.
    pub fn feed(
        &mut self,
        input: &[u8],
        limit: u64,
        sink: &mut impl FnMut(&[u8]),
    ) -> Result<(), InflateError> {
        if self.failed {
            return Ok(());
        }
        self.run(input, FlushDecompress::None, limit, sink)
    }

    /// Ends the current message: inflates the tail and gets ready for the next message.
    pub fn finish(&mut self, limit: u64, sink: &mut impl FnMut(&[u8])) -> Result<(), InflateError> {
        let result =
            if self.failed { Ok(()) } else { self.run(&TAIL, FlushDecompress::Sync, limit, sink) };
        if self.failed || self.no_context_takeover {
            // RFC 7692 §7.2.2: without context takeover each message starts from an empty
            // window; after a failure the window is unusable and starts empty too.
            self.window = VecDeque::new();
        }
        if let Some(z) = self.z.take() {
            let _ = STATES.try_with(|s| {
                if let Ok(mut s) = s.try_borrow_mut()
                    && s.len() < POOL
                {
                    s.push(z);
                    recharge(s.len());
                }
            });
        }
        if self.no_context_takeover {
            self.context_known = true;
            self.dropped = false;
        }
        self.failed = false;
        self.produced = 0;
        result
    }

    fn run(
        &mut self,
        mut input: &[u8],
        flush: FlushDecompress,
        limit: u64,
        sink: &mut impl FnMut(&[u8]),
    ) -> Result<(), InflateError> {
        enum Stop {
            Done,
            Corrupt,
            Limit,
        }
        // A message's first bytes: a zlib state from the pool, primed with the window.
        let z = match &mut self.z {
            Some(z) => z,
            None => {
                let pooled = STATES
                    .try_with(|s| {
                        let mut s = s.try_borrow_mut().ok()?;
                        let z = s.pop()?;
                        recharge(s.len());
                        Some(z)
                    })
                    .ok()
                    .flatten();
                let mut z = match pooled {
                    Some(mut z) => {
                        z.reset(false);
                        z
                    }
                    None => Decompress::new(false),
                };
                let (a, b) = self.window.as_slices();
                let primed = [a, b]
                    .into_iter()
                    .all(|part| part.is_empty() || z.set_dictionary(part).is_ok());
                if !primed {
                    return Err(self.fail());
                }
                self.z.insert(z)
            }
        };
        let produced = &mut self.produced;
        let window = &mut self.window;
        let keep_window = !self.no_context_takeover;
        let stop = OUT.with(|cell| {
            // One output buffer per thread, shared by every inflater; a (never expected)
            // re-entrant use gets its own temporary buffer instead of panicking.
            let mut own;
            let mut shared = cell.try_borrow_mut();
            let out: &mut [u8] = match shared.as_deref_mut() {
                Ok(b) => b,
                Err(_) => {
                    own = vec![0u8; CHUNK];
                    &mut own
                }
            };
            loop {
                let (before_in, before_out) = (z.total_in(), z.total_out());
                let status = z.decompress(input, out, flush);
                let used = (z.total_in() - before_in) as usize;
                let made = (z.total_out() - before_out) as usize;
                input = input.get(used..).unwrap_or(&[]);
                if made > 0 {
                    *produced += made as u64;
                    let plain = out.get(..made).unwrap_or(&[]);
                    if keep_window {
                        remember(window, plain);
                    }
                    sink(plain);
                }
                match status {
                    // zlib's own message text depends on where the input was split (zlib-rs
                    // reports the same bad data as "invalid distance too far back" or as
                    // "repeated call with bad state"); reports must not, so the class alone
                    // describes it.
                    Err(_) => return Stop::Corrupt,
                    Ok(_) if *produced > limit => return Stop::Limit,
                    Ok(Status::StreamEnd) => {
                        // A final block inside a message: the sender ended its stream. Whatever
                        // follows starts a new stream (RFC 7692 §7.2.3.3 allows BFINAL blocks).
                        z.reset(false);
                        window.clear();
                        if input.is_empty() {
                            return Stop::Done;
                        }
                    }
                    Ok(_) if input.is_empty() && made < out.len() => return Stop::Done,
                    Ok(_) if used == 0 && made == 0 => return Stop::Done,
                    Ok(_) => {}
                }
            }
        });
        match stop {
            Stop::Done => Ok(()),
            Stop::Corrupt => Err(self.fail()),
            Stop::Limit => {
                self.failed = true;
                self.context_known = false;
                Err(InflateError::Limit(self.produced))
            }
        }
    }

    fn fail(&mut self) -> InflateError {
        self.failed = true;
        if self.context_known() {
            self.context_known = false;
            InflateError::Corrupt("the data is not valid DEFLATE".to_string())
        } else if self.dropped {
            InflateError::MemoryBudget
        } else {
            InflateError::MissingContext(
                "a back-reference reaches before the data the capture has".to_string(),
            )
        }
    }
}

/// Appends inflated bytes to the window, keeping its last [`WINDOW`] bytes (and never more
/// capacity than that).
fn remember(window: &mut VecDeque<u8>, plain: &[u8]) {
    let plain = &plain[plain.len().saturating_sub(WINDOW)..];
    let excess = (window.len() + plain.len()).saturating_sub(WINDOW);
    window.drain(..excess);
    let need = window.len() + plain.len();
    if need > window.capacity() {
        let grown = (window.capacity() * 2).clamp(need, WINDOW);
        window.reserve_exact(grown - window.len());
    }
    window.extend(plain);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inflates one message as the analyzer does: every frame fed, the message always finished,
    /// the first error kept.
    fn inflate(inf: &mut Inflater, frames: &[&[u8]]) -> Result<Vec<u8>, InflateError> {
        let mut out = Vec::new();
        let mut sink = |b: &[u8]| out.extend_from_slice(b);
        let mut first_error = None;
        for f in frames {
            if let Err(e) = inf.feed(f, 1 << 20, &mut sink) {
                first_error.get_or_insert(e);
            }
        }
        if let Err(e) = inf.finish(1 << 20, &mut sink) {
            first_error.get_or_insert(e);
        }
        first_error.map_or(Ok(out), Err)
    }

    /// Messages compressed as a permessage-deflate sender does: one raw deflate stream kept
    /// across messages, each sync-flushed with `00 00 FF FF` removed.
    fn compress_all(messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut c = flate2::Compress::new(flate2::Compression::new(6), false);
        messages
            .iter()
            .map(|m| {
                let mut out = Vec::with_capacity(m.len() + 64);
                let mut input = &m[..];
                loop {
                    out.reserve(4096);
                    let before = c.total_in();
                    c.compress_vec(input, &mut out, flate2::FlushCompress::Sync).unwrap();
                    input = &input[(c.total_in() - before) as usize..];
                    if input.is_empty() && out.ends_with(&TAIL) {
                        break;
                    }
                }
                out.truncate(out.len() - 4);
                out
            })
            .collect()
    }

    /// Pseudo-random text made of words, so that later messages refer back to earlier ones.
    fn words(seed: u64, len: usize) -> Vec<u8> {
        let vocab = ["alpha ", "beta ", "gamma ", "delta ", "{\"id\":", "42,", "\"x\"}", "€ "];
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.extend_from_slice(vocab[(x % vocab.len() as u64) as usize].as_bytes());
        }
        out
    }

    #[test]
    fn context_takeover_across_many_messages_and_a_full_window() {
        // 40 messages of 100 B to 20 KB (well past the 32 KiB window), the last ones repeating
        // a block sent 30 KB earlier (a back-reference near the far end of the window), each
        // fed in two pieces.
        let mut messages: Vec<Vec<u8>> =
            (0..36).map(|i| words(i, [100, 3000, 20_000][i as usize % 3])).collect();
        let block = words(99, 12_000);
        messages.push(block.clone());
        messages.push(words(7, 18_000));
        messages.push(block);
        let mut inf = Inflater::new(false, true);
        for (m, z) in messages.iter().zip(compress_all(&messages)) {
            let (a, b) = z.split_at(z.len() / 2);
            assert_eq!(&inflate(&mut inf, &[a, b]).unwrap(), m);
            assert!(inf.window.len() <= WINDOW && inf.window.capacity() <= WINDOW);
            assert!(inf.z.is_none(), "the zlib state goes back to the pool between messages");
        }
        assert_eq!(inf.window.len(), WINDOW);
    }

    #[test]
    fn interleaved_directions_keep_their_own_windows() {
        let (ma, mb): (Vec<_>, Vec<_>) =
            (0..20).map(|i| (words(i, 900), words(i + 100, 700))).unzip();
        let (za, zb) = (compress_all(&ma), compress_all(&mb));
        let (mut a, mut b) = (Inflater::new(false, true), Inflater::new(false, true));
        for i in 0..20 {
            // Message i of each direction is in progress at the same time.
            let mut out_a = Vec::new();
            let mut out_b = Vec::new();
            let (a1, a2) = za[i].split_at(za[i].len() / 2);
            a.feed(a1, 1 << 20, &mut |x: &[u8]| out_a.extend_from_slice(x)).unwrap();
            b.feed(&zb[i], 1 << 20, &mut |x: &[u8]| out_b.extend_from_slice(x)).unwrap();
            a.feed(a2, 1 << 20, &mut |x: &[u8]| out_a.extend_from_slice(x)).unwrap();
            b.finish(1 << 20, &mut |x: &[u8]| out_b.extend_from_slice(x)).unwrap();
            a.finish(1 << 20, &mut |x: &[u8]| out_a.extend_from_slice(x)).unwrap();
            assert_eq!((out_a, out_b), (ma[i].clone(), mb[i].clone()), "message {i}");
        }
    }

    #[test]
    fn a_lost_message_never_turns_into_garbage_in_a_later_one() {
        // M2 is lost (a TCP gap); M3 repeats M2, so its back-references reach into M2. Resolved
        // against M1's bytes they would inflate "successfully" to wrong bytes.
        let messages = vec![words(1, 20_000), words(2, 3_000), words(2, 3_000), words(3, 500)];
        let z = compress_all(&messages);
        let mut inf = Inflater::new(false, true);
        assert_eq!(inflate(&mut inf, &[&z[0]]).unwrap(), messages[0]);
        inf.lose_context();
        let err = inflate(&mut inf, &[&z[2]]).unwrap_err();
        assert!(matches!(err, InflateError::MissingContext(_)), "{err:?}");
        // Whatever the sender compressed after that can still be inflated or fail, never be wrong.
        if let Ok(out) = inflate(&mut inf, &[&z[3]]) {
            assert_eq!(out, messages[3]);
        }
    }

    #[test]
    fn without_context_takeover_no_window_is_kept() {
        let mut i = Inflater::new(true, true);
        assert_eq!(
            inflate(&mut i, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(),
            b"Hello"
        );
        assert_eq!(i.window.len(), 0);
    }

    #[test]
    fn rfc_7692_7_2_3_1_a_message_compressed_using_one_block() {
        let mut i = Inflater::new(false, true);
        assert_eq!(
            inflate(&mut i, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(),
            b"Hello"
        );
    }

    #[test]
    fn rfc_7692_7_2_3_1_fragmented_compressed_message() {
        let mut i = Inflater::new(false, true);
        assert_eq!(
            inflate(&mut i, &[&[0xf2, 0x48, 0xcd], &[0xc9, 0xc9, 0x07, 0x00]]).unwrap(),
            b"Hello"
        );
    }

    #[test]
    fn rfc_7692_7_2_3_2_sharing_the_window_across_messages() {
        let mut i = Inflater::new(false, true);
        assert_eq!(
            inflate(&mut i, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(),
            b"Hello"
        );
        // The second "Hello" is a back-reference into the first message.
        assert_eq!(inflate(&mut i, &[&[0xf2, 0x00, 0x11, 0x00, 0x00]]).unwrap(), b"Hello");
    }

    #[test]
    fn rfc_7692_7_2_3_3_deflate_block_with_no_compression() {
        let mut i = Inflater::new(false, true);
        let msg = [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00];
        assert_eq!(inflate(&mut i, &[&msg]).unwrap(), b"Hello");
    }

    #[test]
    fn rfc_7692_7_2_3_4_bfinal_block_then_more_messages() {
        let mut i = Inflater::new(false, true);
        assert_eq!(
            inflate(&mut i, &[&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]]).unwrap(),
            b"Hello"
        );
        assert_eq!(
            inflate(&mut i, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(),
            b"Hello"
        );
    }

    #[test]
    fn reference_to_an_unseen_window_is_missing_context_not_garbage() {
        let mut i = Inflater::new(false, false);
        let err = inflate(&mut i, &[&[0xf2, 0x00, 0x11, 0x00, 0x00]]).unwrap_err();
        assert!(matches!(err, InflateError::MissingContext(_)), "{err:?}");
        // A self-contained message still inflates correctly with an unknown window.
        assert_eq!(
            inflate(&mut i, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(),
            b"Hello"
        );
    }

    #[test]
    fn no_context_takeover_resets_between_messages() {
        let mut i = Inflater::new(true, false);
        assert!(i.context_known());
        assert_eq!(
            inflate(&mut i, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(),
            b"Hello"
        );
        assert_eq!(
            inflate(&mut i, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(),
            b"Hello"
        );
    }

    #[test]
    fn corrupt_data_with_a_known_window_is_reported_as_corrupt() {
        let mut i = Inflater::new(false, true);
        let err = inflate(&mut i, &[&[0xff, 0xff, 0xff, 0xff]]).unwrap_err();
        assert!(matches!(err, InflateError::Corrupt(_)), "{err:?}");
        assert!(!i.context_known());
    }

    #[test]
    fn the_pool_of_zlib_states_is_charged_as_it_holds_and_emptied_after_the_run() {
        let memory = Memory::new(64 << 20);
        let guard = charge_thread_to(&memory);
        assert_eq!(memory.used(), CHUNK, "the output buffer only");
        // Two messages inflated at once: two states, both pooled after their messages.
        let compressed = compress_all(&[b"hello hello hello".to_vec()]);
        let (mut a, mut b) = (Inflater::new(false, true), Inflater::new(false, true));
        let mut sink = |_: &[u8]| {};
        a.feed(&compressed[0], 1 << 20, &mut sink).unwrap();
        b.feed(&compressed[0], 1 << 20, &mut sink).unwrap();
        // In use, a state is its inflater's (charged by its session), not the pool's.
        assert_eq!(memory.used(), CHUNK);
        a.finish(1 << 20, &mut sink).unwrap();
        b.finish(1 << 20, &mut sink).unwrap();
        assert_eq!(memory.used(), CHUNK + 2 * STATE_BYTES);
        // The next message takes one back.
        assert_eq!(inflate(&mut a, &[&compress_all(&[b"x".to_vec()])[0]]).unwrap(), b"x");
        assert_eq!(memory.used(), CHUNK + 2 * STATE_BYTES);
        a.feed(&compress_all(&[b"y".to_vec()])[0], 1 << 20, &mut sink).unwrap_or(());
        assert_eq!(memory.used(), CHUNK + STATE_BYTES);
        drop(guard);
        assert_eq!(memory.used(), 0);
        assert_eq!(STATES.with(|s| s.borrow().len()), 0, "the pool is emptied");
    }

    #[test]
    fn decompression_bomb_stops_at_the_limit() {
        use flate2::{Compress, Compression, FlushCompress};
        let zeros = vec![0u8; 3 << 20];
        let mut c = Compress::new(Compression::best(), false);
        let mut compressed = vec![0u8; 64 << 10];
        c.compress(&zeros, &mut compressed, FlushCompress::Sync).unwrap();
        compressed.truncate(c.total_out() as usize);
        let mut i = Inflater::new(false, true);
        let mut total = 0u64;
        let err =
            i.feed(&compressed, 1 << 20, &mut |b: &[u8]| total += b.len() as u64).unwrap_err();
        assert!(matches!(err, InflateError::Limit(n) if n <= (1 << 20) + CHUNK as u64), "{err:?}");
        assert!(total <= (1 << 20) + CHUNK as u64);
        assert!(i.finish(1 << 20, &mut |_: &[u8]| ()).is_ok());
        assert!(!i.context_known());
    }
}
