//! The synchronization primitives this crate's concurrency code uses.
//!
//! Everything that shares state between threads imports from here, never from
//! `std::sync` directly: under `--cfg loom` (see `ci/loom.sh`) the same names
//! resolve to loom's model-checked versions, so `tests/loom.rs` explores every
//! interleaving of the pool's queue, idle-counting and result hand-off protocols.

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Condvar, Mutex, MutexGuard,
};
#[cfg(not(loom))]
pub(crate) use std::thread;

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Condvar, Mutex, MutexGuard,
};
#[cfg(loom)]
pub(crate) use loom::thread;

/// Locks `mutex`, ignoring poisoning.
///
/// The pool never runs user code while holding one of its locks (closures run
/// unlocked, inside `catch_unwind`), so a poisoned lock can only come from a bug in
/// this crate's own bookkeeping; the data is still consistent counters and queues,
/// and refusing to go on would turn one bug into a dead pool.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
