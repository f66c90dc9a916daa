//! `call_soon`, `call_later`, `call_at`, `call_soon_threadsafe` on [`Handle`].
//!
//! asyncio's loop runs plain callbacks besides coroutines. Here a callback is a
//! tiny task (a closure wrapped in a future), so it runs on a worker like any
//! task; the returned [`CallbackHandle`] cancels it if it has not run yet.
//! Dropping the handle does not cancel (as asyncio's `Handle`).

use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Handle;
use crate::task::Task;

/// A scheduled callback (asyncio's `Handle` / `TimerHandle`): cancel it before it
/// runs with [`cancel`](CallbackHandle::cancel).
///
/// ```
/// use std::time::Duration;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
///
/// let rt = corio::Runtime::new().unwrap();
/// let ran = Arc::new(AtomicBool::new(false));
/// let r = ran.clone();
/// let h = rt.handle().call_later(Duration::from_secs(60), move || r.store(true, Ordering::SeqCst));
/// assert!(h.cancel());
/// assert!(h.cancelled());
/// assert!(!ran.load(Ordering::SeqCst));
/// ```
pub struct CallbackHandle {
    task: Task<()>,
    when: Option<Instant>,
    /// `cancel` was called: a second call reports nothing new. (The task's own
    /// `cancel` answers `true` again while a worker is still finishing the first
    /// request, as asyncio's `Task.cancel` does until the task is done.)
    cancel_called: AtomicBool,
}

impl CallbackHandle {
    /// Cancel the callback if it has not run; true if it was cancelled now.
    pub fn cancel(&self) -> bool {
        if self.cancel_called.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.task.cancel()
    }

    /// True if the callback was cancelled.
    pub fn cancelled(&self) -> bool {
        self.task.cancelled()
    }

    /// True once the callback ran (or was cancelled).
    pub fn done(&self) -> bool {
        self.task.done()
    }

    /// When a `call_later` / `call_at` callback is scheduled to run
    /// (`TimerHandle.when()`); `None` for `call_soon`.
    pub fn when(&self) -> Option<Instant> {
        self.when
    }

    /// The task running the callback (await it to know when it ran).
    pub fn into_task(self) -> Task<()> {
        self.task
    }
}

impl fmt::Debug for CallbackHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackHandle")
            .field("when", &self.when)
            .field("done", &self.done())
            .field("cancelled", &self.cancelled())
            .finish()
    }
}

impl Handle {
    /// Run `f` on a worker soon (`loop.call_soon`). Callable from any thread.
    ///
    /// ```
    /// let rt = corio::Runtime::new().unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// rt.handle().call_soon(move || tx.send("ran").unwrap());
    /// assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap(), "ran");
    /// ```
    #[track_caller]
    pub fn call_soon<F>(&self, f: F) -> CallbackHandle
    where
        F: FnOnce() + Send + 'static,
    {
        let task = self.spawn_inner(async move { f() }, None, Location::caller());
        CallbackHandle {
            task,
            when: None,
            cancel_called: AtomicBool::new(false),
        }
    }

    /// Same as [`call_soon`](Self::call_soon): every `Handle` method is
    /// thread-safe (`loop.call_soon_threadsafe`).
    #[track_caller]
    pub fn call_soon_threadsafe<F>(&self, f: F) -> CallbackHandle
    where
        F: FnOnce() + Send + 'static,
    {
        self.call_soon(f)
    }

    /// Run `f` after `delay` (`loop.call_later`).
    #[track_caller]
    pub fn call_later<F>(&self, delay: Duration, f: F) -> CallbackHandle
    where
        F: FnOnce() + Send + 'static,
    {
        // The runtime's clock: virtual inside a simulation.
        self.call_at(corio_reactor::timer::now() + delay, f)
    }

    /// Run `f` at `when` (`loop.call_at`).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let rt = corio::Runtime::new().unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let start = Instant::now();
    /// rt.handle().call_at(start + Duration::from_millis(20), move || tx.send(Instant::now()).unwrap());
    /// let ran_at = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    /// assert!(ran_at >= start + Duration::from_millis(20));
    /// ```
    #[track_caller]
    pub fn call_at<F>(&self, when: Instant, f: F) -> CallbackHandle
    where
        F: FnOnce() + Send + 'static,
    {
        let task = self.spawn_inner(
            async move {
                crate::time::sleep_until(when).await;
                f()
            },
            None,
            Location::caller(),
        );
        CallbackHandle {
            task,
            when: Some(when),
            cancel_called: AtomicBool::new(false),
        }
    }
}
