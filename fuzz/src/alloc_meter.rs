//! A global allocator that counts live heap bytes and remembers their peak, so a check can
//! assert how much memory one input made the code under test hold at once.
//!
//! Fuzzing runs one input at a time on one thread, so relaxed atomics are exact here; the
//! counters are process-wide, which is why [`measure`] reports the rise over the level at
//! its start rather than absolute numbers.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

struct Meter;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Relaxed) + bytes;
    PEAK.fetch_max(live, Relaxed);
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are only
// bookkeeping and never influence what is allocated.
unsafe impl GlobalAlloc for Meter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc(layout);
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc_zeroed(layout);
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = System.realloc(ptr, layout, new_size);
        if !new.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            grew(new_size);
        }
        new
    }
}

#[global_allocator]
static METER: Meter = Meter;

/// Run `f` and return its result with the most heap bytes it held at once beyond what was
/// live when it started (its own allocations, including ones it freed before returning).
/// Calls nest: an outer `measure` still sees the peak of an inner one.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let outer_peak = PEAK.load(Relaxed);
    let start = LIVE.load(Relaxed);
    PEAK.store(start, Relaxed);
    let value = f();
    let peak = PEAK.load(Relaxed);
    PEAK.store(outer_peak.max(peak), Relaxed);
    (value, peak.saturating_sub(start))
}

/// Run `f` and panic if it leaves more heap bytes live than were live before it: a check
/// must not retain anything between inputs, so growth is a leak in the code under test.
pub fn assert_no_leak(f: impl FnOnce()) {
    let before = LIVE.load(Relaxed);
    f();
    let after = LIVE.load(Relaxed);
    assert!(after <= before, "{} heap bytes still live after the input was handled", after - before);
}
