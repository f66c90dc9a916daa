//! [`TaskRef`]: an executor's own reference to a task, to list it and cancel it.

use std::fmt;
use std::ptr::NonNull;

use crate::layout::Header;
use crate::{Runnable, TaskId, TaskMeta, TaskStats};

/// A counted, type-erased reference to a task, for an executor that keeps a list of the
/// tasks it owns: to cancel them all at shutdown (including tasks idle on a waker nobody
/// will wake) and to list them. Made with [`Runnable::task_ref`].
///
/// It keeps the task's allocation alive, not its future: the future is still dropped when
/// the task completes or is cancelled. It gives no access to the output and does not count
/// as awaiting the task (a panic nobody awaits is still reported as unhandled).
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// struct Flag(Arc<AtomicBool>);
/// impl Drop for Flag { fn drop(&mut self) { self.0.store(true, Ordering::SeqCst) } }
///
/// let dropped = Arc::new(AtomicBool::new(false));
/// let flag = Flag(dropped.clone());
/// let (runnable, task) = corio_core::spawn(
///     async move { let _f = flag; std::future::pending::<()>().await },
///     |_r| {},
/// );
/// let owned = runnable.task_ref();  // the executor keeps this in its task list
/// runnable.run();                   // now idle, on a waker nobody will wake
/// assert!(owned.cancel());          // shutdown: cancel it without its `Task`
/// assert!(dropped.load(Ordering::SeqCst));
/// assert!(futures::executor::block_on(task).unwrap_err().is_cancelled());
/// ```
pub struct TaskRef {
    ptr: NonNull<Header>,
}

// SAFETY: a TaskRef only touches the task through the atomic state machine, the immutable
// metadata and the vtable's `cancel` and `drop_ref`, which are thread-safe (a `spawn_local`
// task cancelled from another thread is handed to its own thread to drop the future).
unsafe impl Send for TaskRef {}
// SAFETY: see `Send`; `&TaskRef` allows the same operations.
unsafe impl Sync for TaskRef {}

impl TaskRef {
    fn header(&self) -> &Header {
        // SAFETY: the TaskRef holds a reference, so the header is alive.
        unsafe { self.ptr.as_ref() }
    }

    /// Cancels the task, as [`Task::cancel`](crate::Task::cancel) does: returns `false` if it
    /// had already finished, else `true`; its future is dropped at once on this thread if the
    /// task is idle (even if it is queued), or right after its current poll.
    pub fn cancel(&self) -> bool {
        // SAFETY: borrows this TaskRef's reference, which keeps the task alive throughout.
        unsafe { (self.header().vtable.cancel)(self.ptr) }
    }

    /// Whether the task has finished: completed, panicked or cancelled (the future is gone).
    pub fn is_finished(&self) -> bool {
        self.header().state.load().is_complete()
    }

    /// Whether the task is queued for a poll it has not started yet: spawned or woken,
    /// and not inside a poll (one read of its state word: a snapshot).
    ///
    /// ```
    /// let (runnable, task) = corio_core::spawn(async {}, |_r| {});
    /// let task_ref = runnable.task_ref();
    /// assert!(task_ref.is_scheduled(), "spawned, not yet run");
    /// runnable.run();
    /// assert!(!task_ref.is_scheduled());
    /// # drop(task);
    /// ```
    pub fn is_scheduled(&self) -> bool {
        let state = self.header().state.load();
        state.is_notified() && !state.is_running() && !state.is_complete()
    }

    /// The task's metadata (id, name, spawn location).
    pub fn meta(&self) -> &TaskMeta {
        &self.header().meta
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.header().meta.id
    }

    /// What the task is doing: polls, await point, times (see [`TaskStats`]).
    pub fn stats(&self) -> &TaskStats {
        &self.header().stats
    }
}

impl TaskRef {
    /// A new reference to the live task at `ptr` (one reference-count increment).
    ///
    /// # Safety
    /// `ptr` is the header of a live task, kept alive by the caller's own reference
    /// while this runs.
    pub(crate) unsafe fn new(ptr: NonNull<Header>) -> TaskRef {
        // SAFETY: the caller's reference keeps the task alive while we add one.
        unsafe { ptr.as_ref() }.state.ref_inc();
        TaskRef { ptr }
    }

    /// Takes over a reference the task's state already counts (one its creator added
    /// for this handle, see `Builder::spawn_listed`).
    ///
    /// # Safety
    /// `ptr` is the header of a live task whose state counts one reference nobody else
    /// owns.
    pub(crate) unsafe fn from_header(ptr: NonNull<Header>) -> TaskRef {
        TaskRef { ptr }
    }
}

impl Runnable {
    /// A new [`TaskRef`] to this task (one reference-count increment).
    pub fn task_ref(&self) -> TaskRef {
        // SAFETY: the Runnable holds a reference to this live task.
        unsafe { TaskRef::new(self.header_ptr()) }
    }
}

impl<T> crate::Task<T> {
    /// A new [`TaskRef`] to this task (one reference-count increment): for an executor
    /// or facade that keeps a list of tasks it holds only `Task`s of.
    pub fn task_ref(&self) -> TaskRef {
        // SAFETY: the Task holds a reference to this live task.
        unsafe { TaskRef::new(self.header_ptr()) }
    }
}

impl Clone for TaskRef {
    fn clone(&self) -> TaskRef {
        self.header().state.ref_inc();
        TaskRef { ptr: self.ptr }
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: gives up this TaskRef's reference (the task is freed if it was the last).
        unsafe { (self.header().vtable.drop_ref)(self.ptr) }
    }
}

impl fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRef")
            .field("task", self.meta())
            .field("state", &self.header().state.load())
            .finish()
    }
}
