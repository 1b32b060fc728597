//! A global allocator wrapper that counts what is allocated, so a test can show that an evaluation
//! allocates nothing: read [`CountingAlloc::allocated`] before and after.
//!
//! Counters use atomic loads and stores only (riscv32imc has no compare-and-swap): the
//! read-modify-write is not atomic, which is fine for single-threaded tests and a single hart with
//! interrupts off, the only places this is used.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};

/// Wraps allocator `A`, counting bytes and calls of `alloc`/`alloc_zeroed`/`realloc`.
#[derive(Debug)]
pub struct CountingAlloc<A> {
    inner: A,
    bytes: AtomicUsize,
    calls: AtomicUsize,
}

impl<A> CountingAlloc<A> {
    pub const fn new(inner: A) -> CountingAlloc<A> {
        CountingAlloc {
            inner,
            bytes: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        }
    }

    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// Bytes and allocation calls so far (a `realloc` counts its new size).
    pub fn allocated(&self) -> (usize, usize) {
        (
            self.bytes.load(Ordering::Relaxed),
            self.calls.load(Ordering::Relaxed),
        )
    }

    fn count(&self, size: usize) {
        let add = |c: &AtomicUsize, n: usize| {
            c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed)
        };
        add(&self.bytes, size);
        add(&self.calls, 1);
    }
}

// SAFETY: every call is forwarded unchanged to `A`, which upholds `GlobalAlloc`'s contract; counting
// touches no memory that the allocator hands out.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAlloc<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.count(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.inner.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.count(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.inner.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.count(new_size);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.inner.realloc(ptr, layout, new_size) }
    }
}
