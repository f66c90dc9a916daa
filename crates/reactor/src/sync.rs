//! The synchronisation primitives the reactor uses, in one place.
//!
//! Other corio crates switch this module to `loom` under `cfg(loom)`. The
//! reactor does not: its protocols end in `epoll_wait`/`eventfd` syscalls,
//! which loom cannot model, and its dev-dependencies (tokio) do
//! not build under `--cfg loom`. The wake path is instead checked by the
//! cross-thread stress test in `tests/wake_stress.rs`. Keeping the imports
//! here still makes every shared-state primitive easy to audit.

pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, TryLockError};

/// Locks `m`, ignoring poisoning: reactor state stays consistent across a
/// panicking waker because every critical section only moves plain values.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
