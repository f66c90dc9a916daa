//! The door through which `corio::sync` and `corio::queue` reach their locks.
//!
//! Every primitive's state lives in a [`Mutex`] imported from here (and a queue's
//! shared part in an [`Arc`] from here). Normally these are the std types, so the
//! shim costs nothing. Under `--cfg loom` (see `ci/loom.sh` and
//! `crates/corio/tests/loom.rs`) they are loom's instrumented versions, so the model
//! checker explores every interleaving of the waiter protocol in `waitlist.rs`:
//! register / notify / poll / cancel racing across threads.
//!
//! Not switched: the `UnsafeCell` holding a `Lock<T>`'s data (exclusive access
//! to it follows from the semaphore permit, which loom does see) and the other
//! modules that borrow [`super::waitlist::lock`] for their own std mutexes.

#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

use std::sync::PoisonError;

/// Locks a primitive's mutex, ignoring poisoning: every critical section in
/// `corio::sync` and `corio::queue` leaves the state consistent before anything
/// that can panic runs (same rule as [`super::waitlist::lock`]).
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
