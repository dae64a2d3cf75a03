//! A counting global allocator: live heap bytes and their peak, for the memory bound of
//! `pipeline_large`, and live heap bytes per thread, for `tls_record`'s check of `footprint()`. A
//! binary that wants the bounds installs it:
//!
//! ```ignore
//! #[global_allocator]
//! static A: wsscope_fuzz::alloc_count::Counting = wsscope_fuzz::alloc_count::Counting;
//! ```
//!
//! The live and peak counters are process-wide: measure on one thread, with nothing else
//! allocating (the replay test runs `pipeline_large` in a test binary of its own, one input at a
//! time). [`Measure::live`] counts the calling thread's allocations and frees only, so tests may
//! run on several threads at once (`tests/regressions.rs`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Wraps the system allocator and counts.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static CALLS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Const-initialised and without a destructor: no allocation, safe inside the allocator.
    static THREAD_LIVE: Cell<isize> = const { Cell::new(0) };
}

fn thread_add(n: isize) {
    // `try_with`: nothing is counted while the thread is being torn down.
    let _ = THREAD_LIVE.try_with(|c| c.set(c.get().wrapping_add(n)));
}

fn grow(n: usize) {
    let now = LIVE.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(now, Relaxed);
    CALLS.fetch_add(1, Relaxed);
    thread_add(n as isize);
}

fn shrink(n: usize) {
    LIVE.fetch_sub(n, Relaxed);
    thread_add(-(n as isize));
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is System's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grow(new_size - layout.size());
            } else {
                shrink(layout.size() - new_size);
            }
        }
        p
    }
}

/// A measurement of the heap from its start.
pub struct Measure {
    base: usize,
    calls: usize,
    thread_base: isize,
}

impl Measure {
    /// Starts measuring: the peak is reset to what is live now.
    pub fn start() -> Measure {
        let base = LIVE.load(Relaxed);
        PEAK.store(base, Relaxed);
        let thread_base = THREAD_LIVE.try_with(Cell::get).unwrap_or(0);
        Measure { base, calls: CALLS.load(Relaxed), thread_base }
    }

    /// Peak live bytes above those live at the start.
    pub fn peak(&self) -> usize {
        PEAK.load(Relaxed).saturating_sub(self.base)
    }

    /// Bytes allocated and not freed by this thread since the start (0 if fewer were freed).
    pub fn live(&self) -> usize {
        let now = THREAD_LIVE.try_with(Cell::get).unwrap_or(0);
        usize::try_from(now.wrapping_sub(self.thread_base)).unwrap_or(0)
    }

    /// Whether the counting allocator saw any allocation since the start (false: it is not the
    /// global allocator, and `peak` means nothing).
    pub fn counted(&self) -> bool {
        CALLS.load(Relaxed) > self.calls
    }
}
