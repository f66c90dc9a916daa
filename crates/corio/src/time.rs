//! Time: `sleep`, `sleep_until`, `interval`, `wait_for`, `timeout_at`, `yield_now`.
//!
//! The timers are corio-reactor's ([`corio_reactor::timer`]): the worker that
//! waits in the reactor also fires timers, so a sleeping task costs no thread.
//!
//! [`wait_for`] is `asyncio.wait_for`: it returns the future's output, or
//! [`TimeoutError`] when the deadline passes first. On timeout the inner future
//! is **dropped** before `wait_for` returns: that is how Rust cancels, and unlike
//! asyncio's `CancelledError` a future cannot ignore it.
//!
//! ```
//! use std::time::Duration;
//!
//! corio::run(async {
//!     let quick = corio::wait_for(async { 5 }, Duration::from_secs(1)).await;
//!     assert_eq!(quick.unwrap(), 5);
//!     let slow = corio::wait_for(corio::sleep(Duration::from_secs(60)), Duration::from_millis(10)).await;
//!     assert!(slow.is_err());
//! });
//! ```

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

pub use corio_reactor::timer::{interval, sleep, sleep_until, Interval, MissedTickBehavior, Sleep};

/// The deadline of [`wait_for`] / [`timeout_at`] passed before the future finished
/// (asyncio's `TimeoutError`). The future was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutError {
    _private: (),
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "timed out: the deadline passed before the future finished, so it was dropped \
             (cancelled); raise the timeout or shield the work with corio::shield",
        )
    }
}

impl Error for TimeoutError {}

/// Await `fut`, giving up after `timeout` (`asyncio.wait_for(aw, timeout)`).
///
/// On timeout the future is dropped and `Err(TimeoutError)` is returned. A future
/// that finishes in the same poll as the deadline wins (its output is returned).
///
/// ```
/// use std::time::Duration;
/// corio::run(async {
///     let r = corio::wait_for(corio::sleep(Duration::from_secs(10)), Duration::from_millis(5)).await;
///     assert!(r.is_err());
/// });
/// ```
pub fn wait_for<F: Future>(fut: F, timeout: Duration) -> WaitFor<F> {
    timeout_at(deadline_after(timeout), fut)
}

/// Await `fut` until `deadline` (`asyncio.timeout_at(when)`).
///
/// ```
/// use std::time::{Duration, Instant};
/// corio::run(async {
///     let deadline = Instant::now() + Duration::from_millis(50);
///     assert_eq!(corio::timeout_at(deadline, async { 1 }).await, Ok(1));
/// });
/// ```
pub fn timeout_at<F: Future>(deadline: Instant, fut: F) -> WaitFor<F> {
    WaitFor {
        fut: Some(Box::pin(fut)),
        sleep: Box::pin(sleep_until(deadline)),
    }
}

/// A deadline far enough away to mean "never" without overflowing `Instant`.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        // ~30 years: no program waits that long, and Instant arithmetic stays valid.
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}

/// The future returned by [`wait_for`] and [`timeout_at`].
#[must_use = "futures do nothing unless awaited"]
pub struct WaitFor<F> {
    /// `None` once the future finished or was dropped on timeout.
    fut: Option<Pin<Box<F>>>,
    sleep: Pin<Box<Sleep>>,
}

impl<F> fmt::Debug for WaitFor<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitFor")
            .field("finished", &self.fut.is_none())
            .finish()
    }
}

impl<F: Future> Future for WaitFor<F> {
    type Output = Result<F::Output, TimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(fut) = this.fut.as_mut() else {
            panic!("WaitFor polled after it completed");
        };
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            this.fut = None;
            return Poll::Ready(Ok(out));
        }
        match this.sleep.as_mut().poll(cx) {
            Poll::Ready(_) => {
                // Cancel by drop, before returning: the caller sees the inner
                // future's destructors as having run.
                this.fut = None;
                Poll::Ready(Err(TimeoutError { _private: () }))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Yield to the scheduler once: the task goes to the back of the run queue, so
/// others get to run (asyncio's `await asyncio.sleep(0)`).
///
/// ```
/// corio::run(async {
///     for _ in 0..3 {
///         corio::yield_now().await;
///     }
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // Waking ourselves while running marks the task "woken while running":
        // the scheduler puts it at the back of the queue, not in the LIFO slot.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
