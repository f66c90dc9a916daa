//! [`shield`]: protect work from the cancellation of whoever awaits it.
//!
//! In asyncio, cancelling a coroutine that awaits `shield(aw)` does not cancel
//! `aw`. In Rust, cancellation is dropping: `wait_for` dropping its future on
//! timeout, a `TaskGroup` cancelling a sibling, `Task::cancel`. `shield(fut)`
//! runs `fut` as its own task and returns a future that awaits it; dropping that
//! future only detaches the task, which runs to completion.
//!
//! ```
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! corio::run(async {
//!     let finished = Arc::new(AtomicBool::new(false));
//!     let f = finished.clone();
//!     let work = async move {
//!         corio::sleep(Duration::from_millis(30)).await;
//!         f.store(true, Ordering::SeqCst);
//!     };
//!     // The outer wait gives up after 5 ms, but the shielded work goes on.
//!     assert!(corio::wait_for(corio::shield(work), Duration::from_millis(5)).await.is_err());
//!     corio::sleep(Duration::from_millis(100)).await;
//!     assert!(finished.load(Ordering::SeqCst));
//! });
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use corio_core::TaskError;

use crate::task::Task;

/// Run `fut` as a task that the caller's cancellation cannot reach
/// (`asyncio.shield(aw)`). Awaiting the result gives the task's
/// `Result<T, TaskError>`; dropping it leaves the task running.
///
/// Pass a [`Task`] to shield an existing task: use [`Shielded::from`] then, or
/// simply await the task (dropping a `Task` never cancels it).
///
/// # Panics
/// Outside a runtime (the work is spawned with [`create_task`](crate::create_task)).
#[track_caller]
pub fn shield<F>(fut: F) -> Shielded<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Shielded {
        task: Some(crate::create_task(fut)),
    }
}

/// The future returned by [`shield`].
#[must_use = "futures do nothing unless awaited (the shielded task runs anyway)"]
pub struct Shielded<T> {
    task: Option<Task<T>>,
}

impl<T> From<Task<T>> for Shielded<T> {
    fn from(task: Task<T>) -> Self {
        Shielded { task: Some(task) }
    }
}

impl<T> fmt::Debug for Shielded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shielded")
            .field("task", &self.task)
            .finish()
    }
}

impl<T> Future for Shielded<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(task) = self.task.as_mut() else {
            panic!("Shielded polled after it completed");
        };
        // Shielded work is awaited normally even by a cancelled task.
        let out = std::task::ready!(crate::cancel::shielded(|| Pin::new(task).poll(cx)));
        self.task = None;
        Poll::Ready(out)
    }
}

impl<T> Drop for Shielded<T> {
    fn drop(&mut self) {
        // Detach explicitly (dropping a Task detaches anyway): the shielded work
        // must never be cancelled by its awaiter going away.
        if let Some(t) = self.task.take() {
            t.detach();
        }
    }
}
