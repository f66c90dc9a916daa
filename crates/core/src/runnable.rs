//! [`Runnable`]: the executor's handle to a task that should be polled.

use std::fmt;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::task::Waker;

use crate::layout::Header;
use crate::{TaskId, TaskMeta};

/// A task that is ready to be polled: the executor's side of a task.
///
/// At most one `Runnable` exists per task at a time. The schedule function receives one
/// each time the task is woken; the executor calls [`run`](Runnable::run) (usually on a
/// worker thread), or drops it, which cancels the task: the future is dropped and the
/// [`Task`](crate::Task) resolves to `Err(Cancelled)`. That is what an executor shutting down
/// should do with the tasks still in its queues.
///
/// A `Runnable` is one pointer, `Send` and `Sync`. For tasks made with
/// [`spawn_local`](crate::spawn_local), `run` (and a drop that must drop the future) panics on
/// any thread but the spawning one.
///
/// ```
/// use std::sync::mpsc;
/// let (tx, rx) = mpsc::channel();
/// let (runnable, task) = corio_core::spawn(async { 6 * 7 }, move |r| tx.send(r).unwrap());
/// runnable.schedule();                  // as if woken: goes through the schedule function
/// let r = rx.recv().unwrap();
/// assert!(!r.run());                    // polled to completion, not rescheduled
/// assert_eq!(futures::executor::block_on(task).unwrap(), 42);
/// ```
pub struct Runnable {
    ptr: NonNull<Header>,
}

// SAFETY: a Runnable only touches the task through the atomic state machine and the vtable;
// a `spawn` task's future is `Send`, and a `spawn_local` task checks the thread before
// polling or dropping its future.
unsafe impl Send for Runnable {}
// SAFETY: `&Runnable` only reads immutable metadata or takes a waker (an atomic increment).
unsafe impl Sync for Runnable {}

impl Runnable {
    /// # Safety
    /// The caller hands over one counted reference that comes with `NOTIFIED`.
    pub(crate) unsafe fn from_header(ptr: NonNull<Header>) -> Runnable {
        Runnable { ptr }
    }

    fn header(&self) -> &Header {
        // SAFETY: the Runnable holds a reference, so the header is alive.
        unsafe { self.ptr.as_ref() }
    }

    pub(crate) fn header_ptr(&self) -> NonNull<Header> {
        self.ptr
    }

    /// Polls the task's future once, catching any panic (it never unwinds into the caller).
    ///
    /// Returns `true` if the task woke itself during this poll (e.g. `yield_now`): it has
    /// already been handed to the schedule function again, with
    /// [`ScheduleInfo::woken_while_running`](crate::ScheduleInfo::woken_while_running) set.
    /// A task that was cancelled while queued is not polled; its future is dropped instead.
    ///
    /// # Panics
    /// If the task was made with [`spawn_local`](crate::spawn_local) and this is not its
    /// spawning thread (the task is then leaked: never polled nor dropped).
    pub fn run(self) -> bool {
        let this = ManuallyDrop::new(self);
        let run = this.header().vtable.run;
        // SAFETY: the Runnable's reference is consumed by `run`.
        unsafe { run(this.ptr) }
    }

    /// Hands the task to its schedule function (with `woken_while_running: false`), as a
    /// wake-up would. Typically used once, right after spawning.
    pub fn schedule(self) {
        let this = ManuallyDrop::new(self);
        let schedule = this.header().vtable.schedule;
        // SAFETY: the Runnable's reference moves to the Runnable given to the schedule fn.
        unsafe { schedule(this.ptr) }
    }

    /// A waker for this task (e.g. to wake it from outside before it first runs).
    pub fn waker(&self) -> Waker {
        // SAFETY: our reference keeps the task alive; the waker takes its own.
        unsafe { (self.header().vtable.waker)(self.ptr) }
    }

    /// The task's metadata (id, name, spawn location).
    pub fn meta(&self) -> &TaskMeta {
        &self.header().meta
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.header().meta.id
    }

    /// Converts the `Runnable` into a raw pointer, e.g. to store it in an intrusive queue.
    /// Turn it back with [`from_raw`](Runnable::from_raw), or the task leaks.
    ///
    /// ```
    /// let (runnable, task) = corio_core::spawn(async { 1 }, |_r| {});
    /// let raw = runnable.into_raw();
    /// // SAFETY: `raw` came from `into_raw` and is used once.
    /// let runnable = unsafe { corio_core::Runnable::from_raw(raw) };
    /// runnable.run();
    /// assert!(task.is_finished());
    /// ```
    pub fn into_raw(self) -> NonNull<()> {
        ManuallyDrop::new(self).ptr.cast()
    }

    /// Rebuilds a `Runnable` from [`into_raw`](Runnable::into_raw).
    ///
    /// # Safety
    /// `ptr` must come from `Runnable::into_raw`, and each such pointer may be turned back
    /// into a `Runnable` only once.
    pub unsafe fn from_raw(ptr: NonNull<()>) -> Runnable {
        Runnable { ptr: ptr.cast() }
    }
}

impl Drop for Runnable {
    /// Cancels the task: its future is dropped and the `Task` resolves to `Err(Cancelled)`.
    fn drop(&mut self) {
        let drop_runnable = self.header().vtable.drop_runnable;
        // SAFETY: consumes the Runnable's reference.
        unsafe { drop_runnable(self.ptr) }
    }
}

impl fmt::Debug for Runnable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runnable")
            .field("task", self.meta())
            .finish()
    }
}
