//! A counting global allocator: current and peak heap bytes, so a sweep can report the peak memory
//! of one training step exactly (not RSS guesses). The `rmbench` binary installs it; without it the
//! counters stay at zero and [`installed`] is false.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static CURRENT: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);
static SEEN: AtomicBool = AtomicBool::new(false);

/// `System` plus atomic byte counters.
pub struct CountingAlloc;

// SAFETY: forwards every call to `System` unchanged; only adds relaxed atomic bookkeeping.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as System::alloc.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size() as u64);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as System::dealloc.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size() as u64, Ordering::Relaxed);
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as System::alloc_zeroed.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size() as u64);
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as System::realloc.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CURRENT.fetch_sub(layout.size() as u64, Ordering::Relaxed);
            add(new_size as u64);
        }
        p
    }
}

fn add(bytes: u64) {
    SEEN.store(true, Ordering::Relaxed);
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

/// Heap bytes allocated now.
pub fn current() -> u64 {
    CURRENT.load(Ordering::Relaxed)
}

/// Highest [`current`] since the last [`reset_peak`].
pub fn peak() -> u64 {
    PEAK.load(Ordering::Relaxed)
}

/// Sets the peak to the current level and returns that level.
pub fn reset_peak() -> u64 {
    let c = current();
    PEAK.store(c, Ordering::Relaxed);
    c
}

/// True once the counting allocator has served an allocation (i.e. it is the global allocator).
pub fn installed() -> bool {
    SEEN.load(Ordering::Relaxed)
}

#[cfg(test)]
#[global_allocator]
static TEST_ALLOC: CountingAlloc = CountingAlloc;

#[cfg(test)]
mod tests {
    #[test]
    fn counts_a_large_allocation() {
        let base = super::reset_peak();
        let v = vec![1u8; 64 << 20];
        assert!(super::peak() >= base + (64 << 20) - (1 << 20));
        drop(v);
        assert!(super::installed());
    }
}
