//! The synchronisation primitives the reactor uses, in one place.
//!
//! Most of the reactor's protocols end in `epoll_wait`/`eventfd` system calls,
//! which loom cannot model; the wake path through the poller is checked by the
//! cross-thread stress test in `tests/wake_stress.rs`. The per-source readiness
//! protocol (source.rs) is pure memory, so its primitives come from
//! [`source`], which `--cfg loom` switches to loom's (`tests/loom.rs`, run by
//! `ci/loom.sh`). Keeping the imports here makes every shared-state primitive
//! easy to audit.

pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
pub(crate) use std::sync::{
    Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard,
    TryLockError,
};

/// Locks `m`, ignoring poisoning: reactor state stays consistent across a
/// panicking waker because every critical section only moves plain values.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Read-locks `l`, ignoring poisoning (as [`lock`]).
pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

/// Write-locks `l`, ignoring poisoning (as [`lock`]).
pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// The readiness word and waker lock of a source: loom's under `--cfg loom`.
pub(crate) mod source {
    #[cfg(loom)]
    pub(crate) use loom::sync::{atomic::AtomicUsize, atomic::Ordering, Mutex, MutexGuard};
    #[cfg(not(loom))]
    pub(crate) use std::sync::{atomic::AtomicUsize, atomic::Ordering, Mutex, MutexGuard};

    /// Locks `m`, ignoring poisoning (as [`super::lock`]).
    pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }
}
