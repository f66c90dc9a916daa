//! The park hook: how an idle worker can wait in something else than its own parker.
//!
//! The scheduler does not know the reactor. The facade (crate `corio`) implements
//! [`Park`] on top of the reactor (`try_drive` / `notify`), and gives it to
//! [`Builder::park_hook`](crate::Builder::park_hook). Then:
//!
//! 1. At most one idle worker at a time calls [`Park::park`] (the scheduler guarantees
//!    it with its own flag; the hook may still return `false` if some thread outside
//!    the scheduler is in it). The other idle workers park on their own
//!    parker (`crate::parker`), which is cheaper to wake.
//! 2. Waking that worker (work arrived, or shutdown) calls [`Park::unpark`]. The call
//!    may come *before* the worker entered `park`: the hook must then make the next
//!    `park` return promptly (a sticky notification, as `polling::Poller::notify` is).
//! 3. A spurious return from `park` is fine: the worker checks whether it was really
//!    woken and parks again otherwise.
//! 4. While every worker is busy, each one calls [`Park::poll_ready`] every 61 ticks
//!    (the same period as the injector check), unless a worker is already waiting in
//!    the hook, so I/O and timers are delivered even when nobody is idle.
//! 5. An idle worker that finds the hook taken calls [`Park::poll_beside`] before it
//!    parks on its own parker, and does not park if that woke tasks.
//!
//! Wakers fired from inside `park`/`poll_ready` on a worker thread schedule their tasks
//! on that worker's local queue, which is where the worker looks first when `park`
//! returns.

use std::time::Duration;

/// A place where one idle worker can block instead of its own parker (e.g. the reactor).
///
/// # Example
///
/// A hook that just counts how often busy workers poll it and otherwise declines to
/// park (the worker then uses its own parker):
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use corio_scheduler::{Builder, Park};
///
/// #[derive(Default)]
/// struct Counting(AtomicUsize);
///
/// impl Park for Counting {
///     fn park(&self, _timeout: Option<Duration>) -> bool {
///         false // "someone else is in the hook": the worker parks on its own parker
///     }
///     fn unpark(&self) {}
///     fn poll_ready(&self) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
///
/// let hook = Arc::new(Counting::default());
/// let ex = Builder::new().worker_threads(2).park_hook(hook.clone()).build()?;
/// assert_eq!(ex.block_on(async { 40 + 2 }), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Park: Send + Sync + 'static {
    /// Called by an idle worker. If this thread may block in the hook (no other thread is
    /// in it), block until [`unpark`](Park::unpark), an event, or `timeout`, and return
    /// `true`; otherwise return `false` at once (the worker then parks on its own
    /// parker).
    fn park(&self, timeout: Option<Duration>) -> bool;

    /// Wake the thread blocked in [`park`](Park::park), from any thread. If no thread
    /// is blocked, the next `park` must return promptly (sticky notification).
    fn unpark(&self);

    /// Non-blocking: deliver whatever is ready. Called by busy workers every ~61 ticks
    /// so I/O and timers are not starved when no worker is idle.
    fn poll_ready(&self);

    /// Non-blocking, called by a worker about to sleep on its own parker because
    /// another thread is in [`park`](Park::park): deliver what is ready without
    /// getting in that thread's way (it may have been woken and not run yet, which
    /// on a busy CPU takes milliseconds). The default does nothing.
    fn poll_beside(&self) {}
}
