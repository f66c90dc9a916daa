//! [`Task`]: the join handle, a future of the task's result.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use crate::layout::Header;
use crate::{coop, TaskError, TaskId, TaskMeta};

/// The join handle of a spawned task: a future of `Result<T, TaskError>`.
///
/// - Awaiting it yields `Ok(output)`, an `Err(`[`TaskError`]`)` that
///   [`is_panic`](TaskError::is_panic) if the future panicked, or that
///   [`is_cancelled`](TaskError::is_cancelled) after [`cancel`](Task::cancel) (or when the
///   executor dropped the task's `Runnable`).
/// - Dropping it *detaches* the task: it keeps running and its output is dropped when it
///   finishes. A panic that nobody will now see goes to
///   [`Schedule::unhandled_panic`](crate::Schedule::unhandled_panic).
///
/// `Task<T>` is `Unpin`, and `Send`/`Sync` when `T: Send`.
///
/// ```
/// let (runnable, task) = corio_core::spawn(async { "done" }, |_r| {});
/// assert!(!task.is_finished());
/// runnable.run();
/// assert!(task.is_finished());
/// assert_eq!(futures::executor::block_on(task).unwrap(), "done");
/// ```
pub struct Task<T> {
    ptr: NonNull<Header>,
    _output: PhantomData<T>,
}

// SAFETY: the Task reads the output (`T: Send`) and otherwise only uses the atomic state
// machine; a `spawn_local` future is only dropped by its owning thread (checked).
unsafe impl<T: Send> Send for Task<T> {}
// SAFETY: `&Task` gives no access to `T`; `cancel` is thread-safe (see `Send`).
unsafe impl<T: Send> Sync for Task<T> {}
impl<T> Unpin for Task<T> {}

impl<T> Task<T> {
    /// # Safety
    /// The caller hands over the reference that comes with `JOIN_INTEREST`, of a task whose
    /// output type is `T`.
    pub(crate) unsafe fn from_header(ptr: NonNull<Header>) -> Task<T> {
        Task {
            ptr,
            _output: PhantomData,
        }
    }

    pub(crate) fn header_ptr(&self) -> NonNull<Header> {
        self.ptr
    }

    fn header(&self) -> &Header {
        // SAFETY: the Task holds a reference, so the header is alive.
        unsafe { self.ptr.as_ref() }
    }

    /// Requests cancellation. Returns `false` if the task had already finished (its result is
    /// kept, as asyncio's `Task.cancel()` does); otherwise `true`, and the task will resolve to
    /// a cancelled [`TaskError`].
    ///
    /// The future is dropped promptly: at once on this thread if the task is idle, or right
    /// after the current poll on the worker running it. For a `spawn_local` task cancelled
    /// from another thread, the task is scheduled so that its own thread drops the future.
    /// Either way the future is dropped before the `Task` resolves.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// struct Flag(Arc<AtomicBool>);
    /// impl Drop for Flag { fn drop(&mut self) { self.0.store(true, Ordering::SeqCst) } }
    ///
    /// let dropped = Arc::new(AtomicBool::new(false));
    /// let flag = Flag(dropped.clone());
    /// let (runnable, task) = corio_core::spawn(async move { let _f = flag; std::future::pending::<()>().await }, |_r| {});
    /// runnable.run();                               // now idle, waiting forever
    /// assert!(task.cancel());
    /// assert!(dropped.load(Ordering::SeqCst));      // dropped at once, here
    /// assert!(futures::executor::block_on(task).unwrap_err().is_cancelled());
    /// ```
    pub fn cancel(&self) -> bool {
        // SAFETY: borrows the Task's reference.
        unsafe { (self.header().vtable.cancel)(self.ptr) }
    }

    /// Whether the task has finished: completed, panicked or cancelled (the future is gone).
    pub fn is_finished(&self) -> bool {
        self.header().state.load().is_complete()
    }

    /// Whether cancellation was requested (and took effect: the result will be `Cancelled`).
    pub fn is_cancelled(&self) -> bool {
        self.header().state.load().is_cancelled()
    }

    /// The task's metadata (id, name, spawn location).
    pub fn meta(&self) -> &TaskMeta {
        &self.header().meta
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.header().meta.id
    }

    /// Lets the task run to completion without anyone awaiting it (same as dropping the
    /// `Task`). Its output is dropped when it finishes.
    pub fn detach(self) {
        drop(self)
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Joining counts against the awaiting task's budget, like any other leaf future.
        if coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        let mut out: Poll<Result<T, TaskError>> = Poll::Pending;
        // SAFETY: `out` has the type `try_read_output` writes (`T` is this task's output).
        unsafe {
            (self.header().vtable.try_read_output)(
                self.ptr,
                (&mut out as *mut Poll<Result<T, TaskError>>).cast(),
                cx.waker(),
            )
        };
        out
    }
}

impl<T> Drop for Task<T> {
    /// Detaches the task (see [`Task::detach`]).
    fn drop(&mut self) {
        // SAFETY: consumes the Task's reference.
        unsafe { (self.header().vtable.drop_join)(self.ptr) }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("task", self.meta())
            .field("state", &self.header().state.load())
            .finish()
    }
}
