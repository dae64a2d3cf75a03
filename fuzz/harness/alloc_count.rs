//! A counting global allocator: live heap bytes and their peak, for the memory bound of
//! `pipeline_large`. A binary that wants the bound installs it:
//!
//! ```ignore
//! #[global_allocator]
//! static A: wsscope_fuzz::alloc_count::Counting = wsscope_fuzz::alloc_count::Counting;
//! ```
//!
//! The counters are process-wide: measure on one thread, with nothing else allocating (the
//! replay test runs `pipeline_large` in a test binary of its own, one input at a time).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Wraps the system allocator and counts.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static CALLS: AtomicUsize = AtomicUsize::new(0);

fn grow(n: usize) {
    let now = LIVE.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(now, Relaxed);
    CALLS.fetch_add(1, Relaxed);
}

fn shrink(n: usize) {
    LIVE.fetch_sub(n, Relaxed);
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
}

impl Measure {
    /// Starts measuring: the peak is reset to what is live now.
    pub fn start() -> Measure {
        let base = LIVE.load(Relaxed);
        PEAK.store(base, Relaxed);
        Measure { base, calls: CALLS.load(Relaxed) }
    }

    /// Peak live bytes above those live at the start.
    pub fn peak(&self) -> usize {
        PEAK.load(Relaxed).saturating_sub(self.base)
    }

    /// Whether the counting allocator saw any allocation since the start (false: it is not the
    /// global allocator, and `peak` means nothing).
    pub fn counted(&self) -> bool {
        CALLS.load(Relaxed) > self.calls
    }
}
