//! Time: `sleep`, `sleep_until`, `interval`, `yield_now` (timeouts are in
//! the `timeout` module).
//!
//! The timers are corio-reactor's ([`corio_reactor::timer`]): the worker that
//! waits in the reactor also fires timers, so a sleeping task costs no thread.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use corio_reactor::timer::{interval, sleep, sleep_until, Interval, MissedTickBehavior, Sleep};

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
        // A cancelled task does not wait here (see `crate::cancel`).
        if self.yielded || crate::cancel::is_cancelled() {
            return Poll::Ready(());
        }
        self.yielded = true;
        // Waking ourselves while running marks the task "woken while running":
        // the scheduler puts it at the back of the queue, not in the LIFO slot.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
