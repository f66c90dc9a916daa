//! [`Lock`]: asyncio's `Lock`, holding the data it protects.

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::semaphore::{AcquireRaw, CoreRef, SemCore};
use crate::cancel::Cancelled;

/// An async mutual-exclusion lock: fair (FIFO), guard-based, safe across threads.
///
/// asyncio's `Lock` guards a block of code; in Rust the lock also owns the data
/// it protects (`Lock<()>` is the plain asyncio lock). [`acquire`](Self::acquire)
/// waits in FIFO order and returns a [`LockGuard`] that unlocks when dropped:
/// `async with lock:` becomes `let guard = lock.acquire().await?;` (the `Err`, [`Cancelled`],
/// only comes in a task cancelled cooperatively: see [`crate::cancel`]).
/// [`acquire_owned`](Self::acquire_owned) on an `Arc<Lock<T>>` returns an
/// [`OwnedLockGuard`] that can move into a spawned task.
///
/// Waiting for the lock is cancellation-safe: a dropped `acquire` future leaves
/// the queue, and if the lock had already been handed to it, it is passed to the
/// next waiter (the lock can never stay locked with no owner).
///
/// ```
/// use std::sync::Arc;
/// use corio::sync::Lock;
/// futures::executor::block_on(async {
///     let counter = Arc::new(Lock::new(0u32));
///     {
///         let mut n = counter.acquire().await.unwrap();
///         *n += 1;
///         assert!(counter.locked());
///     } // guard dropped: unlocked
///     assert!(!counter.locked());
///     assert_eq!(*counter.acquire().await.unwrap(), 1);
/// });
/// ```
pub struct Lock<T: ?Sized = ()> {
    core: SemCore,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `data` to one guard at a time (one permit),
// so sharing the Lock across threads only moves `T` between threads: `T: Send` is
// enough, exactly as for `std::sync::Mutex`.
unsafe impl<T: ?Sized + Send> Send for Lock<T> {}
// SAFETY: as above; `&Lock<T>` only gives `&mut T` through the single guard.
unsafe impl<T: ?Sized + Send> Sync for Lock<T> {}

impl<T> Lock<T> {
    /// A new, unlocked lock around `data`.
    pub fn new(data: T) -> Self {
        Lock {
            core: SemCore::new(1),
            data: UnsafeCell::new(data),
        }
    }

    /// Consumes the lock, returning the data.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: Default> Default for Lock<T> {
    fn default() -> Self {
        Lock::new(T::default())
    }
}

impl<T: ?Sized> Lock<T> {
    /// Waits (FIFO) until the lock is free, then locks it.
    #[track_caller]
    pub fn acquire(&self) -> LockAcquire<'_, T> {
        LockAcquire {
            raw: self.core.acquire(),
            lock: self,
        }
    }

    /// Waits (as [`acquire`](Self::acquire)) for a guard that owns a clone of the
    /// `Arc`: `'static`, so it can move into a spawned task (tokio's `lock_owned`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use corio::sync::Lock;
    /// corio::run(async {
    ///     let total = Arc::new(Lock::new(0u32));
    ///     let mut guard = total.clone().acquire_owned().await.unwrap();
    ///     let task = corio::create_task(async move {
    ///         *guard += 1; // the task holds the lock until it drops the guard
    ///     });
    ///     task.await.unwrap();
    ///     assert_eq!(*total.acquire().await.unwrap(), 1);
    /// });
    /// ```
    #[track_caller]
    pub fn acquire_owned(self: Arc<Self>) -> LockAcquireOwned<T> {
        LockAcquireOwned {
            raw: AcquireRaw::new(OwnedCore(self)),
        }
    }

    /// Locks at once if the lock is free and nobody is queued for it.
    pub fn try_acquire(&self) -> Option<LockGuard<'_, T>> {
        self.core.try_acquire().then(|| LockGuard { lock: self })
    }

    /// True while some guard holds the lock (asyncio's `locked()`).
    pub fn locked(&self) -> bool {
        self.core.available() == 0
    }

    /// Mutable access without locking: `&mut self` proves nobody else holds it.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Tasks queued in `acquire`.
    pub fn waiters(&self) -> usize {
        self.core.waiting()
    }
}

impl<T: ?Sized> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .field("waiters", &self.waiters())
            .finish_non_exhaustive()
    }
}

/// Future returned by [`Lock::acquire`].
#[must_use = "futures do nothing unless awaited"]
pub struct LockAcquire<'a, T: ?Sized> {
    raw: AcquireRaw<&'a SemCore>,
    lock: &'a Lock<T>,
}

impl<'a, T: ?Sized> Future for LockAcquire<'a, T> {
    type Output = Result<LockGuard<'a, T>, Cancelled>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let lock = self.lock;
        Pin::new(&mut self.raw)
            .poll(cx)
            .map_ok(|()| LockGuard { lock })
    }
}

impl<T: ?Sized> fmt::Debug for LockAcquire<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockAcquire").finish_non_exhaustive()
    }
}

/// Proof of holding a [`Lock`]; derefs to the data; unlocks on drop.
#[must_use = "dropping the guard unlocks at once"]
pub struct LockGuard<'a, T: ?Sized> {
    lock: &'a Lock<T>,
}

impl<'a, T: ?Sized> LockGuard<'a, T> {
    /// The lock this guard holds.
    pub(crate) fn lock_ref(&self) -> &'a Lock<T> {
        self.lock
    }
}

// SAFETY: a guard gives `&T` to whoever holds `&LockGuard`, so sharing it across
// threads needs `T: Sync` (as std's MutexGuard).
unsafe impl<T: ?Sized + Sync> Sync for LockGuard<'_, T> {}

impl<T: ?Sized> Deref for LockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock's only permit, so no other reference
        // to `data` exists while it lives.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only use of the guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for LockGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.core.release();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// An `Arc<Lock<T>>` as the holder of the lock's permit core.
struct OwnedCore<T: ?Sized>(Arc<Lock<T>>);

impl<T: ?Sized> CoreRef for OwnedCore<T> {
    fn core(&self) -> &SemCore {
        &self.0.core
    }
}

impl<T: ?Sized> fmt::Debug for OwnedCore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// Future returned by [`Lock::acquire_owned`].
#[must_use = "futures do nothing unless awaited"]
pub struct LockAcquireOwned<T: ?Sized> {
    raw: AcquireRaw<OwnedCore<T>>,
}

impl<T: ?Sized> Future for LockAcquireOwned<T> {
    type Output = Result<OwnedLockGuard<T>, Cancelled>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let raw = &mut self.raw;
        Pin::new(&mut *raw).poll(cx).map_ok(|()| OwnedLockGuard {
            lock: raw.holder().0.clone(),
        })
    }
}

impl<T: ?Sized> fmt::Debug for LockAcquireOwned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockAcquireOwned").finish_non_exhaustive()
    }
}

/// Proof of holding a [`Lock`] that owns an `Arc` of it ([`Lock::acquire_owned`]):
/// `'static`, so it can move into a spawned task. Derefs to the data; unlocks on
/// drop.
#[must_use = "dropping the guard unlocks at once"]
pub struct OwnedLockGuard<T: ?Sized> {
    lock: Arc<Lock<T>>,
}

impl<T: ?Sized> OwnedLockGuard<T> {
    /// The lock this guard holds.
    pub fn lock(&self) -> &Arc<Lock<T>> {
        &self.lock
    }
}

// SAFETY: as for `LockGuard`: sharing the guard shares `&T`, which needs `T: Sync`;
// the `Arc<Lock<T>>` inside needs `T: Send`.
unsafe impl<T: ?Sized + Send + Sync> Sync for OwnedLockGuard<T> {}

impl<T: ?Sized> Deref for OwnedLockGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock's only permit, so no other reference
        // to `data` exists while it lives.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for OwnedLockGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only use of the guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for OwnedLockGuard<T> {
    fn drop(&mut self) {
        self.lock.core.release();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for OwnedLockGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
