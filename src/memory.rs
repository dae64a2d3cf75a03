//! The global memory budget (`--memory-budget`): one meter shared by the stream engine, every
//! analyzer thread and the report, and the steps taken when it fills up.
//!
//! Every component that holds bytes because of what the capture sent — out-of-order segments,
//! retransmission history, connection state, HTTP heads, frame-boundary searches, messages in
//! progress and their payload copies, inflater states and windows, events held for capture
//! order, the report's rows and listed findings — charges what it holds to the meter, as a
//! difference from what it charged before. The meter compares the total with the budget and says
//! how hard to save:
//!
//! | level | from | what is done |
//! |---|---|---|
//! | [`Level::Normal`] | — | nothing |
//! | [`Level::DropPayloads`] | half the budget | payload copies of messages are dropped (messages are still counted, inflated and validated; they come out `truncated`); the report stops listing rows and finding details (counts stay exact) |
//! | [`Level::DropInflaters`] | 65 % | compressed directions give up their window and zlib state: a message in progress is not inflated further, a later one that refers to the window is reported as missing context |
//! | [`Level::Evict`] | 80 % | the stream engine evicts the least recently active connections (an eighth at a time), which end with reason `evicted` |
//!
//! Each step is reported where it happens (a `memory_budget` finding on the connection) and
//! counted ([`MemoryStats`], in every summary). The budget bounds what wsscope accounts; the
//! process also holds its code, the allocator's slack and fixed per-thread buffers (a few tens of
//! MiB). No I/O here: the meter is a few atomics.

use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};

/// How hard the components must save memory (see the module docs).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Under half the budget.
    #[default]
    Normal,
    /// Message payload copies are dropped.
    DropPayloads,
    /// Inflater windows and states are dropped too.
    DropInflaters,
    /// Connections are evicted.
    Evict,
}

impl Level {
    fn from_u8(v: u8) -> Level {
        match v {
            0 => Level::Normal,
            1 => Level::DropPayloads,
            2 => Level::DropInflaters,
            _ => Level::Evict,
        }
    }
}

#[derive(Debug)]
struct Meter {
    budget: usize,
    used: AtomicUsize,
    peak: AtomicUsize,
    highest: AtomicU8,
    payloads_dropped: AtomicU64,
    inflaters_dropped: AtomicU64,
    evicted: AtomicU64,
    rows_not_listed: AtomicU64,
}

/// A handle on the shared meter (cloning shares it).
#[derive(Clone, Debug)]
pub struct Memory(Arc<Meter>);

/// The default budget: 1 GiB, a quarter of a small laptop's memory.
pub const DEFAULT_BUDGET: usize = 1 << 30;

impl Default for Memory {
    fn default() -> Self {
        Memory::new(DEFAULT_BUDGET)
    }
}

/// Two handles are equal when they have the same budget (configurations compare by value).
impl PartialEq for Memory {
    fn eq(&self, other: &Self) -> bool {
        self.0.budget == other.0.budget
    }
}

impl Eq for Memory {}

/// What the budget did during a run.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct MemoryStats {
    /// The budget in bytes (`--memory-budget`).
    pub budget: u64,
    /// The most bytes accounted at once (not in JSON outputs: it depends on `--threads` and
    /// timing, and outputs are the same whatever the thread count; stderr shows it).
    #[serde(skip)]
    pub peak: u64,
    /// The highest level reached: `normal`, `drop_payloads`, `drop_inflaters` or `evict`.
    pub level: Level,
    /// Messages whose payload copy was dropped.
    pub payloads_dropped: u64,
    /// Compressed directions that gave up their inflater.
    pub inflaters_dropped: u64,
    /// Connections evicted to stay under the budget.
    pub connections_evicted: u64,
    /// Report rows and finding details not listed (their counts are in the summary).
    pub report_items_not_listed: u64,
}

impl Memory {
    /// A meter for `budget` bytes.
    pub fn new(budget: usize) -> Self {
        Memory(Arc::new(Meter {
            budget: budget.max(1),
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            highest: AtomicU8::new(0),
            payloads_dropped: AtomicU64::new(0),
            inflaters_dropped: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            rows_not_listed: AtomicU64::new(0),
        }))
    }

    /// The budget in bytes.
    pub fn budget(&self) -> usize {
        self.0.budget
    }

    /// Bytes accounted now.
    pub fn used(&self) -> usize {
        self.0.used.load(Ordering::Relaxed)
    }

    /// A component that had `old` bytes charged now holds `new`.
    #[inline]
    pub fn charge(&self, old: usize, new: usize) {
        let m = &self.0;
        if new > old {
            let now = m.used.fetch_add(new - old, Ordering::Relaxed) + (new - old);
            m.peak.fetch_max(now, Ordering::Relaxed);
            let level = Self::level_of(now, m.budget) as u8;
            if level > m.highest.load(Ordering::Relaxed) {
                m.highest.fetch_max(level, Ordering::Relaxed);
            }
        } else if old > new {
            m.used.fetch_sub(old - new, Ordering::Relaxed);
        }
    }

    fn level_of(used: usize, budget: usize) -> Level {
        // Thresholds in 1/20ths of the budget: 10 (half), 13 (65 %), 16 (80 %).
        let twentieths = used.saturating_mul(20) / budget;
        match twentieths {
            0..10 => Level::Normal,
            10..13 => Level::DropPayloads,
            13..16 => Level::DropInflaters,
            _ => Level::Evict,
        }
    }

    /// How hard to save now.
    #[inline]
    pub fn level(&self) -> Level {
        Self::level_of(self.used(), self.0.budget)
    }

    /// A message's payload copy was dropped.
    pub fn note_payload_dropped(&self) {
        self.0.payloads_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// A compressed direction gave up its inflater.
    pub fn note_inflater_dropped(&self) {
        self.0.inflaters_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection was evicted to save memory.
    pub fn note_evicted(&self) {
        self.0.evicted.fetch_add(1, Ordering::Relaxed);
    }

    /// A report row or finding detail was not listed.
    pub fn note_not_listed(&self) {
        self.0.rows_not_listed.fetch_add(1, Ordering::Relaxed);
    }

    /// What the budget did so far.
    pub fn stats(&self) -> MemoryStats {
        let m = &self.0;
        MemoryStats {
            budget: m.budget as u64,
            peak: m.peak.load(Ordering::Relaxed) as u64,
            level: Level::from_u8(m.highest.load(Ordering::Relaxed)),
            payloads_dropped: m.payloads_dropped.load(Ordering::Relaxed),
            inflaters_dropped: m.inflaters_dropped.load(Ordering::Relaxed),
            connections_evicted: m.evicted.load(Ordering::Relaxed),
            report_items_not_listed: m.rows_not_listed.load(Ordering::Relaxed),
        }
    }
}

/// What to call after memory was given up to return it to the system (the binary sets it: its
/// allocator keeps freed pages for a while, which counts against the process, not the meter).
static RELEASE: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Sets the function that returns freed memory to the system (once per process).
pub fn set_release_hook(f: fn()) {
    let _ = RELEASE.set(f);
}

/// Returns freed memory to the system, if the binary said how.
pub fn release() {
    if let Some(f) = RELEASE.get() {
        f();
    }
}

/// `n` bytes for people: `1 GiB`, `256 MiB`, `64 KiB`, `100 B`.
pub fn human(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
}

/// A component's share of the meter: remembers what it charged, so that it can say what it
/// holds now; what it charged is given back when it is dropped.
#[derive(Debug)]
pub struct Charge {
    memory: Memory,
    charged: usize,
}

impl Charge {
    /// A share of `memory`, charging nothing yet.
    pub fn new(memory: &Memory) -> Self {
        Charge { memory: memory.clone(), charged: 0 }
    }

    /// The component holds `now` bytes.
    #[inline]
    pub fn set(&mut self, now: usize) {
        if now != self.charged {
            self.memory.charge(self.charged, now);
            self.charged = now;
        }
    }

    /// The meter charged.
    pub fn memory(&self) -> &Memory {
        &self.memory
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.memory.charge(self.charged, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_share_of_the_budget_and_peak_and_highest_level_stay() {
        let m = Memory::new(1000);
        assert_eq!(m.level(), Level::Normal);
        let mut a = Charge::new(&m);
        a.set(499);
        assert_eq!(m.level(), Level::Normal);
        a.set(500);
        assert_eq!(m.level(), Level::DropPayloads);
        let mut b = Charge::new(&m);
        b.set(200);
        assert_eq!(m.level(), Level::DropInflaters);
        b.set(350);
        assert_eq!(m.level(), Level::Evict);
        a.set(0);
        assert_eq!(m.used(), 350);
        assert_eq!(m.level(), Level::Normal);
        drop(b);
        assert_eq!(m.used(), 0);
        let s = m.stats();
        assert_eq!((s.peak, s.level, s.budget), (850, Level::Evict, 1000));
    }

    #[test]
    fn clones_share_one_meter() {
        let m = Memory::new(100);
        let n = m.clone();
        n.charge(0, 60);
        assert_eq!(m.used(), 60);
        m.note_evicted();
        assert_eq!(n.stats().connections_evicted, 1);
    }
}
