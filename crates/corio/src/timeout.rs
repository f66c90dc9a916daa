//! Timeouts: [`wait_for`], and the scope objects [`timeout`] / [`timeout_at`]
//! (Python 3.11's `asyncio.timeout`).
//!
//! One implementation serves all three: [`WaitFor`] awaits a future against a
//! deadline kept on corio-reactor's timer wheel ([`Sleep`]), and reports
//! [`TimeoutError`] when the deadline passes first. The future always comes
//! first and the time second: `wait_for(fut, d)`, `timeout(d).run(fut)`.
//!
//! ```python
//! async with asyncio.timeout(10) as cm:
//!     cm.reschedule(loop.time() + 20)
//!     await long_job()
//! print(cm.expired())
//! ```
//!
//! becomes
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! corio::run(async {
//!     let cm = corio::timeout(Duration::from_secs(10));
//!     let out = cm
//!         .run(async {
//!             cm.reschedule(Instant::now() + Duration::from_secs(20));
//!             corio::sleep(Duration::from_millis(1)).await;
//!             "done"
//!         })
//!         .await;
//!     assert_eq!(out, Ok("done"));
//!     assert!(!cm.expired());
//! });
//! ```
//!
//! Rules (asyncio's, where Rust allows):
//! * On expiry the body is **dropped** before `Err(TimeoutError)` is returned:
//!   its destructors have run when the caller sees the error. With
//!   cooperative cancellation on (a grace period for the task or the runtime,
//!   see [`crate::cancel`]) the body is cancelled as a task would be first:
//!   its leaves complete as cancelled and its [`cleanup`](crate::cleanup)
//!   scopes run, for at most the grace period; then it is dropped and
//!   `Err(TimeoutError)` returned. Only the body is cancelled, not the task.
//! * A deadline that is already due when the wait starts: `wait_for` fails at
//!   once without polling the future (`wait_for(fut, Duration::ZERO)` never
//!   starts `fut`, as asyncio's `wait_for(aw, 0)`), while a [`Timeout`] scope
//!   runs its body up to its first wait, as `async with asyncio.timeout(0)`:
//!   a body that finishes without waiting returns `Ok` (the scope has not
//!   expired), one that waits is cancelled there.
//! * Afterwards the body is polled before the deadline is checked, so a body
//!   that finishes in the same poll as the deadline wins.
//! * Nested scopes report from the **outermost** expired one: an inner scope
//!   whose deadline passed while an enclosing scope's deadline also passed lets
//!   the enclosing scope cancel (the inner never returns `Err` to a body that is
//!   being cancelled anyway).

use std::cell::Cell;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use corio_reactor::timer::{now, sleep_until, Sleep};

/// The deadline of [`wait_for`] or of a [`Timeout`] scope passed before the
/// future finished (asyncio's `TimeoutError`). The future was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutError {
    _private: (),
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl Error for TimeoutError {}

impl From<corio_reactor::timer::Elapsed> for TimeoutError {
    fn from(_: corio_reactor::timer::Elapsed) -> Self {
        TimeoutError { _private: () }
    }
}

impl From<TimeoutError> for std::io::Error {
    fn from(e: TimeoutError) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// A deadline far enough away to mean "never" without overflowing `Instant`.
fn deadline_after(delay: Duration) -> Instant {
    let now = now();
    now.checked_add(delay)
        // ~30 years: no program waits that long, and Instant arithmetic stays valid.
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}

/// Await `fut`, giving up after `timeout` (`asyncio.wait_for(aw, timeout)`).
///
/// On timeout the future is dropped and `Err(TimeoutError)` is returned. A zero
/// timeout fails without starting the future.
///
/// ```
/// use std::time::Duration;
/// corio::run(async {
///     let r = corio::wait_for(corio::sleep(Duration::from_secs(10)), Duration::from_millis(5)).await;
///     assert!(r.is_err());
///     assert_eq!(corio::wait_for(async { 5 }, Duration::from_secs(1)).await, Ok(5));
/// });
/// ```
#[track_caller] // the timer's await point (shown when `fut` records none): the caller's line
pub fn wait_for<F: Future>(fut: F, timeout: Duration) -> WaitFor<F> {
    WaitFor::new(fut, Some(deadline_after(timeout)), None)
}

/// A timeout scope that expires `delay` from now (`asyncio.timeout(delay)`).
/// Run a future inside it with [`Timeout::run`].
///
/// ```
/// use std::time::Duration;
/// corio::run(async {
///     let cm = corio::timeout(Duration::from_millis(10));
///     let r = cm.run(corio::sleep(Duration::from_secs(60))).await;
///     assert!(r.is_err());
///     assert!(cm.expired());
/// });
/// ```
pub fn timeout(delay: Duration) -> Timeout {
    timeout_at(deadline_after(delay))
}

/// A timeout scope that expires at `when` (`asyncio.timeout_at(when)`).
///
/// ```
/// use std::time::{Duration, Instant};
/// corio::run(async {
///     let when = Instant::now() + Duration::from_secs(5);
///     let cm = corio::timeout_at(when);
///     assert_eq!(cm.when(), Some(when));
///     assert_eq!(cm.run(async { 1 }).await, Ok(1));
/// });
/// ```
pub fn timeout_at(when: Instant) -> Timeout {
    Timeout::new(Some(when))
}

/// A timeout scope (asyncio's `Timeout` context manager): a deadline that can be
/// read, moved or removed while the future it guards runs.
///
/// Cheap to clone (clones share the deadline). One scope can guard several
/// `run`s in turn; [`expired`](Timeout::expired) tells whether one of them
/// timed out.
#[derive(Clone)]
pub struct Timeout {
    shared: Arc<Mutex<ScopeState>>,
}

struct ScopeState {
    when: Option<Instant>,
    expired: bool,
    /// Bumped by `reschedule`: a running [`WaitFor`] re-arms its timer when it
    /// sees a new value.
    generation: u64,
    /// The running `WaitFor`'s waker, woken by `reschedule`.
    waker: Option<Waker>,
}

impl Timeout {
    /// A scope with deadline `when`; `None` never expires (until rescheduled),
    /// as `asyncio.timeout(None)`.
    ///
    /// ```
    /// let cm = corio::Timeout::new(None);
    /// assert_eq!(cm.when(), None);
    /// ```
    pub fn new(when: Option<Instant>) -> Timeout {
        Timeout {
            shared: Arc::new(Mutex::new(ScopeState {
                when,
                expired: false,
                generation: 0,
                waker: None,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ScopeState> {
        lock(&self.shared)
    }

    /// The current deadline, `None` when there is none (`cm.when()`).
    pub fn when(&self) -> Option<Instant> {
        self.lock().when
    }

    /// Move the deadline (earlier, later, or `None` to remove it), also from
    /// inside the guarded future (`cm.reschedule(when)`). A deadline already
    /// due expires the scope at the guarded future's next poll.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// corio::run(async {
    ///     let cm = corio::timeout(Duration::from_millis(5));
    ///     let r = cm
    ///         .run(async {
    ///             cm.reschedule(None); // never mind the deadline
    ///             corio::sleep(Duration::from_millis(30)).await;
    ///             7
    ///         })
    ///         .await;
    ///     assert_eq!(r, Ok(7));
    /// });
    /// ```
    pub fn reschedule(&self, when: impl Into<Option<Instant>>) {
        let waker = {
            let mut st = self.lock();
            st.when = when.into();
            st.generation = st.generation.wrapping_add(1);
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// True once the deadline passed while a future ran in this scope and the
    /// future was cancelled for it (`cm.expired()`): from the moment the
    /// deadline fired, so the body's destructors and cleanup see it, also
    /// when an enclosing scope that expired at the same time reports the
    /// error. A body that finished first, a scope never run, or a deadline
    /// that passes after the body finished: false. Rescheduling does not
    /// reset it.
    pub fn expired(&self) -> bool {
        self.lock().expired
    }

    /// Await `fut` inside this scope: `Ok(output)`, or `Err(TimeoutError)` when
    /// the deadline passes first (the future is then dropped).
    #[track_caller] // the timer's await point, as for `wait_for`
    pub fn run<F: Future>(&self, fut: F) -> WaitFor<F> {
        let (when, generation) = {
            let st = self.lock();
            (st.when, st.generation)
        };
        WaitFor::new(fut, when, Some((self.shared.clone(), generation)))
    }
}

fn lock(m: &Mutex<ScopeState>) -> MutexGuard<'_, ScopeState> {
    // Every critical section leaves the state consistent: poison is harmless.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl fmt::Debug for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Timeout")
            .field("when", &st.when)
            .field("expired", &st.expired)
            .finish()
    }
}

thread_local! {
    /// While a [`WaitFor`] polls its future: the earliest deadline of the
    /// scopes enclosing that poll on this thread. An inner scope that expires
    /// while this deadline has passed too leaves the report to the outer one.
    static ENCLOSING: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Restores `ENCLOSING` when the body's poll returns or unwinds.
struct EnclosingGuard(Option<Instant>);

impl Drop for EnclosingGuard {
    fn drop(&mut self) {
        ENCLOSING.with(|e| e.set(self.0));
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`wait_for`] and [`Timeout::run`]:
    /// `Result<F::Output, TimeoutError>`.
    #[must_use = "futures do nothing unless awaited"]
    pub struct WaitFor<F> {
        #[pin]
        fut: Option<F>,
        // The timer; `None` while there is no deadline.
        sleep: Option<Sleep>,
        // The scope object, with the generation of the deadline `sleep` holds.
        scope: Option<(Arc<Mutex<ScopeState>>, u64)>,
        started: bool,
        // Expired with cooperative cancellation on: the grace the body's
        // cleanup has, and its deadline once it started.
        cancelling: Option<Duration>,
        grace_timer: Option<Sleep>,
    }
}

impl<F> WaitFor<F> {
    #[track_caller]
    fn new(fut: F, when: Option<Instant>, scope: Option<(Arc<Mutex<ScopeState>>, u64)>) -> Self {
        // Called here, not through `Option::map`, so that the timer's location
        // is our caller's (`#[track_caller]` does not pass through a closure).
        #[allow(clippy::manual_map)]
        let sleep = match when {
            Some(when) => Some(sleep_until(when)),
            None => None,
        };
        WaitFor {
            fut: Some(fut),
            sleep,
            scope,
            started: false,
            cancelling: None,
            grace_timer: None,
        }
    }
}

impl<F> fmt::Debug for WaitFor<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitFor")
            .field("deadline", &self.sleep.as_ref().map(Sleep::deadline))
            .field("finished", &self.fut.is_none())
            .finish()
    }
}

impl<F: Future> Future for WaitFor<F> {
    type Output = Result<F::Output, TimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(mut fut) = this.fut.as_mut().as_pin_mut() else {
            panic!("WaitFor polled after it completed");
        };
        if let Some(grace) = *this.cancelling {
            // Expired: the body runs its cleanup as a cancelled task would.
            std::task::ready!(crate::cancel::poll_cancelled(
                fut,
                this.grace_timer,
                grace,
                cx
            ));
            return expire(this.fut, this.scope);
        }
        // A rescheduled scope: re-arm the timer, and be woken by the next reschedule.
        if let Some((shared, seen)) = this.scope.as_mut() {
            let mut st = lock(shared);
            if st.generation != *seen {
                *seen = st.generation;
                match (st.when, this.sleep.as_mut()) {
                    (Some(when), Some(s)) => s.reset(when),
                    (Some(when), None) => *this.sleep = Some(sleep_until(when)),
                    (None, _) => *this.sleep = None,
                }
            }
            st.waker = Some(cx.waker().clone());
        }
        let deadline = this.sleep.as_ref().map(Sleep::deadline);
        let first = !std::mem::replace(this.started, true);
        // Already due at the start: wait_for fails without starting the
        // future; a scope runs its body up to its first wait (asyncio's).
        if first && this.scope.is_none() && deadline.is_some_and(|d| now() >= d) {
            return expire(this.fut, this.scope);
        }
        let outer = ENCLOSING.with(|e| e.get());
        let inner = match (outer, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        ENCLOSING.with(|e| e.set(inner));
        let _restore = EnclosingGuard(outer);
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            this.fut.set(None);
            return Poll::Ready(Ok(out));
        }
        let Some(sleep) = this.sleep.as_mut() else {
            return Poll::Pending;
        };
        // The deadline timer is not a leaf: a cancelled task's timeout
        // does not expire early.
        if crate::cancel::shielded(|| Pin::new(sleep).poll(cx)).is_pending() {
            return Poll::Pending;
        }
        // Expired. If an enclosing scope expired too, it reports: it checks
        // its own deadline as soon as this poll returns to it. This scope
        // still counts as expired (its deadline fired and its body is being
        // cancelled), as asyncio's inner `cm.expired()` is.
        if outer.is_some_and(|o| now() >= o) {
            mark_expired(this.scope);
            return Poll::Pending;
        }
        // The body's cleanup runs outside this scope's deadline: a timeout
        // inside it must report its own expiry, not defer to this one.
        drop(_restore);
        if let Some(grace) = crate::cancel::scope_grace() {
            // Cooperative cancellation is on: cancel the body, do not drop it.
            // Expired from now on, while its cleanup runs (asyncio's EXPIRING).
            mark_expired(this.scope);
            *this.cancelling = Some(grace);
            std::task::ready!(crate::cancel::poll_cancelled(
                fut,
                this.grace_timer,
                grace,
                cx
            ));
        }
        expire(this.fut, this.scope)
    }
}

/// The deadline won: drop the future before returning, so the caller sees its
/// destructors run. The scope reads as expired before the drop, so the
/// destructors see it too (asyncio's `expired()` is true while the body is
/// being cancelled).
fn expire<F: Future>(
    mut fut: Pin<&mut Option<F>>,
    scope: &Option<(Arc<Mutex<ScopeState>>, u64)>,
) -> Poll<Result<F::Output, TimeoutError>> {
    mark_expired(scope);
    fut.set(None);
    if let Some((shared, _)) = scope.as_ref() {
        lock(shared).waker = None;
    }
    Poll::Ready(Err(TimeoutError { _private: () }))
}

fn mark_expired(scope: &Option<(Arc<Mutex<ScopeState>>, u64)>) {
    if let Some((shared, _)) = scope.as_ref() {
        lock(shared).expired = true;
    }
}
