//! [`Condition`]: asyncio's `Condition`, a [`Lock`] plus a queue of tasks
//! waiting to be notified.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::lock::{Lock, LockAcquire, LockGuard};
use super::loom_shim::{lock, Mutex};
use super::waitlist::{WaitKey, WaitList, WakeList};
use crate::cancel::Cancelled;
use crate::AwaitPoint;

/// A condition variable built on a [`Lock`] that owns the shared state.
///
/// The Python pattern
/// ```python
/// async with cond:
///     await cond.wait_for(lambda: len(items) > 0)
/// ```
/// reads in corio:
/// ```
/// use std::sync::Arc;
/// use corio::sync::Condition;
/// futures::executor::block_on(async {
///     let cond = Arc::new(Condition::new(Vec::<u32>::new()));
///     let producer = {
///         let cond = cond.clone();
///         std::thread::spawn(move || futures::executor::block_on(async {
///             cond.acquire().await.unwrap().push(7);
///             cond.notify_all();
///         }))
///     };
///     let items = cond.acquire().await.unwrap();
///     let items = cond.wait_for(items, |v| !v.is_empty()).await.unwrap();
///     assert_eq!(items[0], 7);
///     drop(items);
///     producer.join().unwrap();
/// });
/// ```
///
/// [`wait`](Self::wait) takes the guard, joins the waiter queue *before*
/// unlocking (so a notify sent right after cannot be missed), waits to be
/// notified, then locks again and gives the guard back. Spurious wake-ups are
/// possible (as in asyncio), so wait in a loop or use
/// [`wait_for`](Self::wait_for). A waiter cancelled after it was notified passes
/// the notification on to the next waiter (Python 3.13's behaviour).
pub struct Condition<T = ()> {
    lock: Lock<T>,
    waiters: Mutex<WaitList<()>>,
}

impl<T: Default> Default for Condition<T> {
    fn default() -> Self {
        Condition::new(T::default())
    }
}

impl<T> Condition<T> {
    /// A condition whose lock owns `data`.
    pub fn new(data: T) -> Self {
        Condition {
            lock: Lock::new(data),
            waiters: Mutex::new(WaitList::new()),
        }
    }

    /// Locks the condition's lock (FIFO).
    #[track_caller]
    pub fn acquire(&self) -> LockAcquire<'_, T> {
        self.lock.acquire()
    }

    /// The underlying lock.
    pub fn lock(&self) -> &Lock<T> {
        &self.lock
    }

    /// True while the lock is held.
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// Unlocks, waits for a notification, locks again and returns the guard.
    ///
    /// In a task cancelled cooperatively ([`crate::cancel`]) it returns
    /// `Err(Cancelled)` at once instead, with the lock released (asyncio
    /// re-acquires before raising `CancelledError`, because `async with`
    /// would release it next; a Rust guard that is gone cannot be released
    /// twice, so there is nothing to re-acquire for).
    ///
    /// # Panics
    /// If `guard` belongs to another lock (asyncio raises `RuntimeError` when
    /// `wait` is called without holding the lock).
    ///
    /// While it waits (for a notification, then for the lock), the caller's
    /// line is the task's await point.
    #[track_caller]
    pub fn wait<'a>(&'a self, guard: LockGuard<'a, T>) -> ConditionWait<'a, T> {
        assert!(
            std::ptr::eq(guard.lock_ref(), &self.lock),
            "Condition::wait: the guard belongs to another Lock; pass the guard of this condition's own lock"
        );
        ConditionWait {
            cond: self,
            phase: Phase::Start(Some(guard)),
            at: Location::caller(),
        }
    }

    /// Waits until `predicate(&mut data)` is true, checking it first and after
    /// every notification; returns the guard with the lock held, or
    /// `Err(Cancelled)` as [`wait`](Self::wait) does. While it waits, the
    /// caller's line is the task's await point.
    #[track_caller]
    pub fn wait_for<'a, F>(
        &'a self,
        mut guard: LockGuard<'a, T>,
        mut predicate: F,
    ) -> AwaitPoint<impl Future<Output = Result<LockGuard<'a, T>, Cancelled>>>
    where
        F: FnMut(&mut T) -> bool,
    {
        crate::await_point(async move {
            loop {
                if predicate(&mut guard) {
                    return Ok(guard);
                }
                guard = self.wait(guard).await?;
            }
        })
    }

    /// Wakes up to `n` waiters (oldest first); returns how many were woken.
    pub fn notify(&self, n: usize) -> usize {
        let mut wakes = WakeList::new();
        let mut woken = 0;
        {
            let mut w = lock(&self.waiters);
            while woken < n && w.notify_one((), &mut wakes).is_ok() {
                woken += 1;
            }
        }
        wakes.wake();
        woken
    }

    /// Wakes every waiter; returns how many.
    pub fn notify_all(&self) -> usize {
        let mut wakes = WakeList::new();
        let n = lock(&self.waiters).notify_all(|| (), &mut wakes);
        wakes.wake();
        n
    }

    /// Tasks waiting for a notification.
    pub fn waiters(&self) -> usize {
        lock(&self.waiters).pending_len()
    }
}

impl<T> fmt::Debug for Condition<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("locked", &self.lock.locked())
            .field("waiters", &self.waiters())
            .finish()
    }
}

enum Phase<'a, T> {
    Start(Option<LockGuard<'a, T>>),
    Waiting(WaitKey),
    Relock(LockAcquire<'a, T>),
    Done,
}

/// Future returned by [`Condition::wait`]; resolves to the re-acquired guard.
#[must_use = "futures do nothing unless awaited"]
pub struct ConditionWait<'a, T> {
    cond: &'a Condition<T>,
    phase: Phase<'a, T>,
    at: &'static Location<'static>,
}

impl<T> Unpin for ConditionWait<'_, T> {}

impl<'a, T> Future for ConditionWait<'a, T> {
    type Output = Result<LockGuard<'a, T>, Cancelled>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let at = self.at;
        crate::tree::pending_at(self.poll_wait(cx), at)
    }
}

impl<'a, T> ConditionWait<'a, T> {
    /// [`Future::poll`] without recording the await point.
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<Result<LockGuard<'a, T>, Cancelled>> {
        let cond = self.cond;
        if crate::cancel::is_cancelled() {
            // The guard (if still ours) unlocks, a notification we were
            // handed goes on; the caller gets no guard back, so it cannot
            // touch the data it no longer holds.
            self.leave();
            return Poll::Ready(Err(Cancelled::default()));
        }
        loop {
            match &mut self.phase {
                Phase::Start(guard) => {
                    let key = lock(&cond.waiters).register(cx.waker());
                    drop(guard.take()); // unlock only once we are in the queue
                    self.phase = Phase::Waiting(key);
                    return Poll::Pending;
                }
                Phase::Waiting(key) => {
                    let key = *key;
                    match lock(&cond.waiters).poll(key, cx.waker()) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(()) => self.phase = Phase::Relock(cond.lock.acquire()),
                    }
                }
                Phase::Relock(acq) => {
                    let r = std::task::ready!(Pin::new(acq).poll(cx));
                    self.phase = Phase::Done;
                    return Poll::Ready(r);
                }
                Phase::Done => return Poll::Pending,
            }
        }
    }

    /// Stops waiting: unlocks if still holding the guard, leaves the queue,
    /// and passes on a notification this waiter was handed but will not use.
    fn leave(&mut self) {
        let pass_on = match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Waiting(key) => lock(&self.cond.waiters).cancel(key).is_some(),
            // Notified but cancelled before it got the lock back.
            Phase::Relock(_) => true,
            Phase::Start(_) | Phase::Done => false,
        };
        if pass_on {
            self.cond.notify(1);
        }
    }
}

impl<T> Drop for ConditionWait<'_, T> {
    fn drop(&mut self) {
        self.leave();
    }
}

impl<T> fmt::Debug for ConditionWait<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionWait").finish_non_exhaustive()
    }
}
