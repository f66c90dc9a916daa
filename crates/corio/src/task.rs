//! [`Task`] and task introspection: [`current_task`] (a [`TaskMeta`]) and
//! [`all_tasks`] (a [`TaskSnapshot`] of each live task).
//!
//! A [`Task<T>`] is asyncio's `Task`: a handle to a future running on the
//! runtime's workers. Await it for `Result<T, TaskError>`; [`Task::cancel`] drops
//! the future (the Rust form of `CancelledError`); dropping the handle *detaches*
//! the task, which keeps running.
//!
//! ```
//! use std::time::Duration;
//!
//! corio::run(async {
//!     let task = corio::TaskBuilder::new().name("worker").spawn(async { 6 * 7 });
//!     assert_eq!(task.name(), Some("worker"));
//!     assert_eq!(task.await.unwrap(), 42);
//!
//!     let sleeper = corio::create_task(corio::sleep(Duration::from_secs(60)));
//!     assert!(sleeper.cancel());
//!     assert!(sleeper.await.unwrap_err().is_cancelled());
//! });
//! ```

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use corio_core::{TaskError, TaskId, TaskMeta, TaskRef};

use crate::cancel::CancelState;
use crate::tree::TaskSnapshot;

/// A handle to a spawned task (asyncio's `Task`).
///
/// `Future<Output = Result<T, TaskError>>`, `Unpin`, `Send + Sync` when `T: Send`.
/// Dropping it detaches the task (it keeps running; a later panic goes to the
/// runtime's unhandled-panic handler).
///
/// ```
/// corio::run(async {
///     let t = corio::create_task(async { "hi" });
///     assert_eq!(t.await.unwrap(), "hi");
/// });
/// ```
pub struct Task<T> {
    /// `None` output: a cooperative task that resolved as cancelled.
    inner: corio_core::Task<Option<T>>,
    /// Set for tasks with a cancellation grace period (cooperative cancel).
    coop: Option<Arc<CancelState>>,
}

impl<T> Task<T> {
    pub(crate) fn from_core(
        inner: corio_core::Task<Option<T>>,
        coop: Option<Arc<CancelState>>,
    ) -> Self {
        Task { inner, coop }
    }

    /// Request cancellation. Returns false when the task had already finished:
    /// its result is kept, as asyncio's `cancel()`. Cancelling twice is the
    /// same as once.
    ///
    /// By default the future is dropped (at once when idle, after the current
    /// poll when running) and the task resolves to a cancelled [`TaskError`].
    /// A task spawned with a grace period
    /// ([`TaskBuilder::cancel_grace`](crate::TaskBuilder::cancel_grace)) is
    /// cancelled cooperatively instead: it is woken, its leaves complete as
    /// cancelled, it may run cleanup, and it resolves to a cancelled `TaskError`
    /// when its future returns or the grace period ends (see [`crate::cancel`]).
    pub fn cancel(&self) -> bool {
        match &self.coop {
            None => self.inner.cancel(),
            Some(state) => {
                if self.inner.is_finished() {
                    return false;
                }
                state.request();
                true
            }
        }
    }

    /// True if the task was cancelled (for a cooperative task: once it
    /// resolved as cancelled).
    pub fn cancelled(&self) -> bool {
        self.inner.is_cancelled() || self.coop.as_ref().is_some_and(|c| c.resolved_cancelled())
    }

    /// True once the task finished: completed, panicked or cancelled.
    pub fn done(&self) -> bool {
        self.inner.is_finished()
    }

    /// The task's id (unique in the process).
    pub fn id(&self) -> TaskId {
        self.inner.id()
    }

    /// The task's name, if it was given one (`TaskBuilder::name`,
    /// [`create_task_named`](crate::create_task_named)).
    pub fn name(&self) -> Option<&str> {
        self.inner.meta().name()
    }

    /// Where the task was spawned (the caller of `create_task`).
    pub fn location(&self) -> Option<&'static Location<'static>> {
        self.inner.meta().location()
    }

    /// Let the task run on without a handle (the same as dropping it).
    pub fn detach(self) {
        self.inner.detach()
    }

    /// Block this thread until the task finishes, from a thread that is *not* a
    /// runtime worker (the second half of `asyncio.run_coroutine_threadsafe`:
    /// `future.result()`).
    ///
    /// # Panics
    /// When called on a thread inside a corio runtime (a worker, or inside
    /// `block_on`): blocking there could deadlock the runtime; await the task
    /// instead.
    ///
    /// ```
    /// let rt = corio::Runtime::new().unwrap();
    /// let handle = rt.handle();
    /// let answer = std::thread::spawn(move || {
    ///     handle.create_task(async { 40 + 2 }).wait_blocking()
    /// })
    /// .join()
    /// .unwrap();
    /// assert_eq!(answer.unwrap(), 42);
    /// ```
    pub fn wait_blocking(self) -> Result<T, TaskError> {
        match self.wait_blocking_timeout(None) {
            Ok(out) => out,
            Err(_) => unreachable!("no timeout was given"),
        }
    }

    /// Like [`wait_blocking`](Self::wait_blocking) with a timeout: `Err(self)` (the
    /// task, still running) when it did not finish in time.
    pub fn wait_blocking_timeout(
        mut self,
        timeout: Option<Duration>,
    ) -> Result<Result<T, TaskError>, Self> {
        assert!(
            crate::runtime::Handle::try_current().is_none(),
            "Task::wait_blocking() called from inside a corio runtime: blocking a runtime thread \
             can deadlock it; `.await` the task instead"
        );
        let deadline = timeout.map(|t| Instant::now() + t);
        let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(out) = self.poll_result(&mut cx) {
                return Ok(out);
            }
            match deadline {
                None => std::thread::park(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(self);
                    }
                    std::thread::park_timeout(d - now);
                }
            }
        }
    }
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

impl<T> Task<T> {
    #[inline]
    fn poll_result(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, TaskError>> {
        Pin::new(&mut self.inner).poll(cx).map(|r| match r {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(resolved_cancelled(self.inner.id())),
            Err(e) => Err(e),
        })
    }
}

/// The error of a cooperative task that resolved cancelled, or of an awaiter
/// that is cancelled: out of line, so the common path of `Task::poll` stays
/// small enough to inline into the awaiting future.
#[cold]
#[inline(never)]
fn resolved_cancelled(id: TaskId) -> TaskError {
    TaskError::cancelled(id)
}

impl<T> Future for Task<T> {
    type Output = Result<T, TaskError>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Awaiting a task is a leaf: a cancelled awaiter stops waiting (the
        // awaited task runs on).
        if crate::cancel::is_cancelled() {
            return Poll::Ready(Err(resolved_cancelled(self.id())));
        }
        self.poll_result(cx)
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("done", &self.done())
            .finish()
    }
}

/// The task this thread is running now, or `None` outside a task
/// (`asyncio.current_task()`).
///
/// ```
/// corio::run(async {
///     let t = corio::create_task_named("me", async {
///         corio::current_task().unwrap().name().map(str::to_owned)
///     });
///     assert_eq!(t.await.unwrap().as_deref(), Some("me"));
/// });
/// ```
pub fn current_task() -> Option<TaskMeta> {
    corio_core::current()
}

/// Every live task of the current runtime, spawned and not yet finished or
/// dropped (`asyncio.all_tasks()`), in id (spawn) order, with what each is doing:
/// its state, polls and await point. Empty outside a runtime. The same snapshots,
/// arranged as a tree, are [`task_tree`](crate::task_tree).
///
/// ```
/// use std::time::Duration;
/// corio::run(async {
///     let t = corio::create_task_named("sleeper", corio::sleep(Duration::from_secs(60)));
///     let tasks = corio::all_tasks();
///     let sleeper = tasks.iter().find(|s| s.name() == Some("sleeper")).unwrap();
///     assert_eq!(sleeper.id(), t.id());
///     println!("{sleeper}"); // task 2 'sleeper' (src/main.rs:4) scheduled, 0 polls
///     t.cancel();
/// });
/// ```
pub fn all_tasks() -> Vec<TaskSnapshot> {
    match crate::runtime::Handle::try_current() {
        Some(h) => h.all_tasks(),
        None => Vec::new(),
    }
}

/// The local tasks of one runtime (`create_local_task`), for `all_tasks` and the
/// task tree: the scheduler lists a local task only on its home thread, where no
/// other thread can read it. One lock when a local task is spawned, one when its
/// future is dropped.
#[derive(Default)]
pub(crate) struct LocalTaskList {
    tasks: Mutex<slab::Slab<TaskRef>>,
}

impl LocalTaskList {
    fn lock(&self) -> MutexGuard<'_, slab::Slab<TaskRef>> {
        // Entries are written in one step: a poisoned list is consistent.
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Spawns `fut` (the task `id`) with `spawn` and lists it; `spawn` gives the
    /// future back when there is no local context (nothing is listed then).
    /// `spawn` runs with the list locked: it must only create and queue the task.
    pub(crate) fn spawn<F, T>(
        self: &Arc<Self>,
        id: TaskId,
        fut: F,
        spawn: impl FnOnce(Listed<F>) -> Result<corio_core::Task<T>, Listed<F>>,
    ) -> Result<corio_core::Task<T>, Listed<F>> {
        let mut tasks = self.lock();
        let entry = tasks.vacant_entry();
        let listed = Listed {
            fut,
            entry: ListEntry {
                list: self.clone(),
                key: entry.key(),
                id,
            },
        };
        let spawned = spawn(listed);
        if let Ok(task) = &spawned {
            entry.insert(task.task_ref());
        }
        drop(tasks);
        spawned
    }

    /// `f` of every listed task, under the lock (`f` must only read the task).
    pub(crate) fn map<R>(&self, f: impl FnMut(&TaskRef) -> R) -> Vec<R> {
        self.lock().iter().map(|(_, t)| t).map(f).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

impl fmt::Debug for LocalTaskList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalTaskList")
            .field("len", &self.len())
            .finish()
    }
}

/// A local task's entry, removed when its future is dropped.
struct ListEntry {
    list: Arc<LocalTaskList>,
    key: usize,
    id: TaskId,
}

impl Drop for ListEntry {
    fn drop(&mut self) {
        let mut tasks = self.list.lock();
        // The slot is this task's only if it holds its id: a future given back
        // unspawned (no local context) never filled its slot.
        let removed = match tasks.get(self.key) {
            Some(t) if t.id() == self.id => Some(tasks.remove(self.key)),
            _ => None,
        };
        drop(tasks);
        // Dropped unlocked (a `TaskRef` may free its task).
        drop(removed);
    }
}

pin_project_lite::pin_project! {
    /// A local task's future with its entry in the runtime's local-task list.
    pub(crate) struct Listed<F> {
        #[pin]
        fut: F,
        entry: ListEntry,
    }
}

impl<F: Future> Future for Listed<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().fut.poll(cx)
    }
}

pin_project_lite::pin_project! {
    /// A task without cooperative cancellation: its output, always `Some`
    /// (`None` is a cooperative task that resolved as cancelled).
    pub(crate) struct Plain<F> {
        #[pin]
        pub(crate) fut: F,
    }
}

impl<F: Future> Future for Plain<F> {
    type Output = Option<F::Output>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().fut.poll(cx).map(Some)
    }
}
