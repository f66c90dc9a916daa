//! The crate's only door to concurrency primitives.
//!
//! Everything that loom should see (the task state word, the cells holding the future,
//! the output and the join waker, the per-thread context) is imported from here. Under
//! `--cfg loom` (see `ci/loom.sh`) these names resolve to loom's instrumented versions, so
//! the model checker explores every interleaving of the state machine; otherwise they are
//! the std types with zero overhead.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};

/// An `UnsafeCell` with loom's closure API (`with` / `with_mut`), so loom can check that
/// no two threads touch a cell at the same time, as tokio's `loom/std/unsafe_cell.rs` does.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Reads through a raw pointer; the caller guarantees no concurrent writer.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Writes through a raw pointer; the caller guarantees exclusive access.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// An identity for the current thread that is never reused while the process lives
/// (unlike a thread-local's address), cheap to read (one thread-local access, no `Arc`
/// clone as `std::thread::current()` does), and readable even while thread-locals are being
/// destroyed (the slot is const-initialised and has no destructor).
#[cfg(not(loom))]
pub(crate) fn thread_key() -> ThreadKey {
    use std::cell::Cell;
    use std::sync::atomic::AtomicU64;
    // 0 means "not assigned yet"; real keys start at 1.
    static NEXT: AtomicU64 = AtomicU64::new(1);
    std::thread_local! {
        static KEY: Cell<u64> = const { Cell::new(0) };
    }
    KEY.with(|key| {
        let mut k = key.get();
        if k == 0 {
            // Relaxed: only uniqueness matters, which the atomic RMW gives on its own.
            k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            key.set(k);
        }
        ThreadKey(k)
    })
}

/// See the non-loom version; loom runs its threads on one OS thread, so it needs loom's ids.
#[cfg(loom)]
pub(crate) fn thread_key() -> ThreadKey {
    ThreadKey(loom::thread::current().id())
}

/// The value [`thread_key`] returns.
#[cfg(not(loom))]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct ThreadKey(u64);

/// The value [`thread_key`] returns.
#[cfg(loom)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct ThreadKey(loom::thread::ThreadId);
