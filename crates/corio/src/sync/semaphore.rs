//! [`Semaphore`] and [`BoundedSemaphore`], and the FIFO permit core that
//! [`Lock`](super::Lock) is also built on.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::loom_shim::{lock, Mutex};
use super::waitlist::{WaitKey, WaitList, WakeList};
use crate::cancel::Cancelled;

/// Permit count + FIFO waiters. Invariant: `permits > 0` implies no pending
/// waiter (a release hands its permit straight to the oldest waiter).
#[derive(Debug)]
pub(crate) struct SemCore {
    state: Mutex<SemState>,
}

#[derive(Debug)]
struct SemState {
    permits: usize,
    waiters: WaitList<()>,
}

impl SemCore {
    pub(crate) fn new(permits: usize) -> Self {
        SemCore {
            state: Mutex::new(SemState {
                permits,
                waiters: WaitList::new(),
            }),
        }
    }

    pub(crate) fn try_acquire(&self) -> bool {
        let mut st = lock(&self.state);
        if st.permits > 0 && st.waiters.pending_len() == 0 {
            st.permits -= 1;
            true
        } else {
            false
        }
    }

    /// Returns one permit: to the oldest waiter if any, else to the count.
    pub(crate) fn release(&self) {
        let mut wakes = WakeList::new();
        {
            let mut st = lock(&self.state);
            Self::release_locked(&mut st, &mut wakes);
        }
        wakes.wake();
    }

    /// Adds a permit only while the count stays at most `bound` (BoundedSemaphore).
    fn release_bounded(&self, bound: usize) -> bool {
        let mut wakes = WakeList::new();
        let ok = {
            let mut st = lock(&self.state);
            if st.permits >= bound {
                false
            } else {
                Self::release_locked(&mut st, &mut wakes);
                true
            }
        };
        wakes.wake();
        ok
    }

    fn release_locked(st: &mut SemState, wakes: &mut WakeList) {
        if st.waiters.notify_one((), wakes).is_err() {
            st.permits += 1;
        }
    }

    pub(crate) fn available(&self) -> usize {
        lock(&self.state).permits
    }

    pub(crate) fn waiting(&self) -> usize {
        lock(&self.state).waiters.pending_len()
    }

    #[track_caller]
    pub(crate) fn acquire(&self) -> AcquireRaw<&SemCore> {
        AcquireRaw::new(self)
    }
}

/// Something that leads to a [`SemCore`]: a borrow (`acquire`) or an `Arc` of the
/// primitive that owns it (`acquire_owned`), so one waiter protocol serves both.
pub(crate) trait CoreRef {
    fn core(&self) -> &SemCore;
}

impl CoreRef for &SemCore {
    fn core(&self) -> &SemCore {
        self
    }
}

impl CoreRef for Arc<Semaphore> {
    fn core(&self) -> &SemCore {
        &self.core
    }
}

/// Waits for one permit of a [`SemCore`]; cancellation-safe (see module docs of
/// `waitlist`).
#[derive(Debug)]
pub(crate) struct AcquireRaw<C: CoreRef> {
    core: C,
    key: Option<WaitKey>,
    done: bool,
    /// The caller's line: the task tree's await point while this waits.
    at: &'static Location<'static>,
}

impl<C: CoreRef> AcquireRaw<C> {
    #[track_caller]
    pub(crate) fn new(core: C) -> Self {
        AcquireRaw {
            core,
            key: None,
            done: false,
            at: Location::caller(),
        }
    }

    /// The holder of the core (to build the guard from, once the permit is ours).
    pub(crate) fn holder(&self) -> &C {
        &self.core
    }
}

// The future holds no pinned data: the core is behind a reference or an `Arc`.
impl<C: CoreRef> Unpin for AcquireRaw<C> {}

impl<C: CoreRef> Future for AcquireRaw<C> {
    type Output = Result<(), Cancelled>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let at = self.at;
        crate::tree::pending_at(self.poll_raw(cx), at)
    }
}

impl<C: CoreRef> AcquireRaw<C> {
    fn poll_raw(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Cancelled>> {
        if self.done {
            // Polled again after completion: a logic error of the caller, but not UB;
            // hand out nothing more.
            return Poll::Pending;
        }
        if crate::cancel::is_cancelled() {
            // Checked before a free permit is taken, as every leaf does: a
            // cancelled task gets `Err` at each acquire, not only at the ones
            // that would have waited. A permit we were handed goes on.
            self.leave();
            self.done = true;
            return Poll::Ready(Err(Cancelled::default()));
        }
        let mut st = lock(&self.core.core().state);
        match self.key {
            None => {
                if st.permits > 0 && st.waiters.pending_len() == 0 {
                    st.permits -= 1;
                    drop(st);
                    self.done = true;
                    return Poll::Ready(Ok(()));
                }
                let key = st.waiters.register(cx.waker());
                drop(st);
                self.key = Some(key);
                Poll::Pending
            }
            Some(key) => match st.waiters.poll(key, cx.waker()) {
                Poll::Ready(()) => {
                    drop(st);
                    self.key = None;
                    self.done = true;
                    Poll::Ready(Ok(()))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    /// Leaves the waiter queue, passing on a permit we were handed but will
    /// not use.
    fn leave(&mut self) {
        if let Some(key) = self.key.take() {
            let mut wakes = WakeList::new();
            {
                let mut st = lock(&self.core.core().state);
                if st.waiters.cancel(key).is_some() {
                    // We were handed a permit but never used it: pass it on.
                    SemCore::release_locked(&mut st, &mut wakes);
                }
            }
            wakes.wake();
        }
    }
}

impl<C: CoreRef> Drop for AcquireRaw<C> {
    fn drop(&mut self) {
        self.leave();
    }
}

/// asyncio's `Semaphore`: a counter of permits; [`acquire`](Self::acquire) waits
/// (FIFO) while it is zero.
///
/// The permit comes back as a [`SemaphorePermit`] guard that releases on drop
/// (Python's `async with sem:`). [`acquire_owned`](Self::acquire_owned) on an
/// `Arc<Semaphore>` gives an [`OwnedSemaphorePermit`] instead, which holds the
/// `Arc` and so can move into a spawned task. [`release`](Self::release) adds a permit by
/// hand, without any upper bound, as in asyncio; use [`BoundedSemaphore`] to
/// catch releases that were never acquired.
///
/// ```
/// use corio::sync::Semaphore;
/// futures::executor::block_on(async {
///     let sem = Semaphore::new(2);
///     let a = sem.acquire().await.unwrap();
///     let _b = sem.acquire().await.unwrap();
///     assert!(sem.locked());          // no permit left
///     assert!(sem.try_acquire().is_none());
///     drop(a);
///     assert_eq!(sem.available_permits(), 1);
/// });
/// ```
pub struct Semaphore {
    core: SemCore,
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub fn new(permits: usize) -> Self {
        Semaphore {
            core: SemCore::new(permits),
        }
    }

    /// Waits for a permit (FIFO: a later caller never overtakes an earlier one).
    ///
    /// Cancellation-safe: dropping the future while it waits takes it out of the
    /// queue; if a permit had already been handed to it, that permit goes to the
    /// next waiter.
    #[track_caller]
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire {
            raw: self.core.acquire(),
            sem: self,
            bound: None,
        }
    }

    /// Waits for a permit (as [`acquire`](Self::acquire)) that owns a clone of the
    /// `Arc`: the permit is `'static` and can move into a spawned task, which
    /// releases it when it drops it (tokio's `acquire_owned`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use corio::sync::Semaphore;
    /// corio::run(async {
    ///     let sem = Arc::new(Semaphore::new(2));
    ///     let mut tasks = Vec::new();
    ///     for i in 0..5 {
    ///         let permit = sem.clone().acquire_owned().await.unwrap();
    ///         // At most two tasks run at once: each holds a permit until it ends.
    ///         tasks.push(corio::create_task(async move {
    ///             let _permit = permit;
    ///             i * 2
    ///         }));
    ///     }
    ///     let total: i32 = corio::gather(tasks).await.into_iter().map(Result::unwrap).sum();
    ///     assert_eq!(total, 20);
    ///     assert_eq!(sem.available_permits(), 2);
    /// });
    /// ```
    #[track_caller]
    pub fn acquire_owned(self: Arc<Self>) -> AcquireOwned {
        AcquireOwned {
            raw: AcquireRaw::new(self),
        }
    }

    /// Takes a permit if one is free and nobody is queued, without waiting.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        // `then`, not `then_some`: a permit built eagerly would release on drop.
        self.core.try_acquire().then(|| SemaphorePermit {
            sem: self,
            bound: None,
        })
    }

    /// Adds one permit (wakes the oldest waiter, if any). Like asyncio, this may
    /// raise the count above its initial value.
    pub fn release(&self) {
        self.core.release();
    }

    /// True when no permit is free (asyncio's `locked()`).
    pub fn locked(&self) -> bool {
        self.core.available() == 0
    }

    /// Free permits now.
    pub fn available_permits(&self) -> usize {
        self.core.available()
    }

    /// Tasks queued in `acquire`.
    pub fn waiters(&self) -> usize {
        self.core.waiting()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.core.available())
            .field("waiters", &self.core.waiting())
            .finish()
    }
}

/// Future returned by [`Semaphore::acquire`] and [`BoundedSemaphore::acquire`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    raw: AcquireRaw<&'a SemCore>,
    sem: &'a Semaphore,
    /// `Some(bound)` when acquiring from a [`BoundedSemaphore`].
    bound: Option<usize>,
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, Cancelled>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (sem, bound) = (self.sem, self.bound);
        Pin::new(&mut self.raw)
            .poll(cx)
            .map_ok(|()| SemaphorePermit { sem, bound })
    }
}

/// Future returned by [`Semaphore::acquire_owned`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct AcquireOwned {
    raw: AcquireRaw<Arc<Semaphore>>,
}

impl Future for AcquireOwned {
    type Output = Result<OwnedSemaphorePermit, Cancelled>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let raw = &mut self.raw;
        Pin::new(&mut *raw)
            .poll(cx)
            .map_ok(|()| OwnedSemaphorePermit {
                sem: Some(raw.holder().clone()),
            })
    }
}

/// A permit of a [`Semaphore`] that holds an `Arc` of it ([`Semaphore::acquire_owned`]):
/// `'static`, so it can move into a spawned task. Dropping it releases it.
#[must_use = "dropping the permit releases it at once"]
pub struct OwnedSemaphorePermit {
    /// `None` once [`forget`](Self::forget) gave the permit up.
    sem: Option<Arc<Semaphore>>,
}

impl OwnedSemaphorePermit {
    /// Keeps the permit out of the semaphore for good (the count stays lower).
    pub fn forget(mut self) {
        self.sem = None;
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if let Some(sem) = self.sem.take() {
            sem.core.release();
        }
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .finish_non_exhaustive()
    }
}

/// One permit of a [`Semaphore`] or [`BoundedSemaphore`]; dropping it releases it.
#[must_use = "dropping the permit releases it at once"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    /// `Some(bound)` for a BoundedSemaphore's permit.
    bound: Option<usize>,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit out of the semaphore for good (the count stays lower).
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        match self.bound {
            None => self.sem.core.release(),
            // A manual `release()` may already have returned this permit; the
            // bound then keeps the count where it belongs instead of raising it.
            Some(bound) => {
                let _ = self.sem.core.release_bounded(bound);
            }
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

/// asyncio's `BoundedSemaphore`: a [`Semaphore`] whose [`release`](Self::release)
/// fails when it would raise the count above the initial value (asyncio raises
/// `ValueError`: such a release is a bug in the caller).
///
/// ```
/// use corio::sync::BoundedSemaphore;
/// futures::executor::block_on(async {
///     let sem = BoundedSemaphore::new(1);
///     assert!(sem.release().is_err()); // nothing was acquired
///     let permit = sem.acquire().await.unwrap();
///     permit.forget();                 // hand-managed, as Python's acquire()
///     assert!(sem.release().is_ok());
/// });
/// ```
pub struct BoundedSemaphore {
    sem: Semaphore,
    bound: usize,
}

impl BoundedSemaphore {
    /// A semaphore with `permits` permits that can never hold more.
    pub fn new(permits: usize) -> Self {
        BoundedSemaphore {
            sem: Semaphore::new(permits),
            bound: permits,
        }
    }

    /// Waits for a permit (FIFO, cancellation-safe, as [`Semaphore::acquire`]).
    #[track_caller]
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire {
            bound: Some(self.bound),
            ..self.sem.acquire()
        }
    }

    /// Takes a permit if one is free and nobody is queued.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        let mut p = self.sem.try_acquire()?;
        p.bound = Some(self.bound);
        Some(p)
    }

    /// Returns a permit taken with a forgotten guard (Python's `release()`).
    ///
    /// Fails with [`ReleaseError`] when every permit is already free.
    pub fn release(&self) -> Result<(), ReleaseError> {
        if self.sem.core.release_bounded(self.bound) {
            Ok(())
        } else {
            Err(ReleaseError { bound: self.bound })
        }
    }

    /// True when no permit is free.
    pub fn locked(&self) -> bool {
        self.sem.locked()
    }

    /// Free permits now.
    pub fn available_permits(&self) -> usize {
        self.sem.available_permits()
    }

    /// The initial (and maximum) number of permits.
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// Tasks queued in `acquire`.
    pub fn waiters(&self) -> usize {
        self.sem.waiters()
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("available", &self.sem.available_permits())
            .field("bound", &self.bound)
            .finish()
    }
}

/// [`BoundedSemaphore::release`] was called more often than permits were taken
/// (asyncio's `ValueError: BoundedSemaphore released too many times`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseError {
    bound: usize,
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bounded semaphore released too many times (all {} permits free)",
            self.bound
        )
    }
}

impl std::error::Error for ReleaseError {}
