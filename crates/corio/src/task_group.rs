//! [`TaskGroup`]: structured concurrency, as Python 3.11's `asyncio.TaskGroup`.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use corio_core::TaskError;

use crate::debug::panic_message;
use crate::runtime::Handle;
use crate::task::{Task, TaskInfo};

/// Why a child of a [`TaskGroup`] failed.
pub enum FailureCause {
    /// It panicked (the Rust form of raising); the payload is the value given to
    /// `panic!`, ready for `std::panic::resume_unwind`.
    Panicked(Box<dyn Any + Send + 'static>),
    /// A child spawned with [`TaskGroup::create_try_task`] returned `Err`.
    Error(Arc<dyn Error + Send + Sync + 'static>),
}

/// One child failure collected by a [`TaskGroup`].
pub struct TaskFailure {
    /// The child (id, name, spawn location).
    pub task: Option<TaskInfo>,
    /// What went wrong.
    pub cause: FailureCause,
}

impl TaskFailure {
    /// The panic message (when the payload is a string) or the error's message.
    pub fn message(&self) -> String {
        match &self.cause {
            FailureCause::Panicked(payload) => panic_message(&**payload),
            FailureCause::Error(e) => e.to_string(),
        }
    }

    /// True when the child panicked (rather than returned `Err`).
    pub fn is_panic(&self) -> bool {
        matches!(self.cause, FailureCause::Panicked(_))
    }
}

impl fmt::Debug for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskFailure")
            .field("task", &self.task)
            .field("panicked", &self.is_panic())
            .field("message", &self.message())
            .finish()
    }
}

/// Every failure of a [`TaskGroup`] (Python's `ExceptionGroup`).
pub struct TaskGroupError {
    failures: Vec<TaskFailure>,
}

impl TaskGroupError {
    /// The failures, in the order they happened.
    pub fn failures(&self) -> &[TaskFailure] {
        &self.failures
    }

    /// Take the failures (e.g. to `resume_unwind` one of the payloads).
    pub fn into_failures(self) -> Vec<TaskFailure> {
        self.failures
    }
}

impl fmt::Debug for TaskGroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroupError")
            .field("failures", &self.failures)
            .finish()
    }
}

impl fmt::Display for TaskGroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} task(s) of the group failed, so the others were cancelled:",
            self.failures.len()
        )?;
        for fail in &self.failures {
            match &fail.task {
                Some(t) => write!(f, " [{t}: {}]", fail.message())?,
                None => write!(f, " [{}]", fail.message())?,
            }
        }
        Ok(())
    }
}

impl Error for TaskGroupError {}

#[derive(Default)]
struct GroupState {
    /// Children whose future has not finished or been dropped yet.
    running: usize,
    failures: Vec<TaskFailure>,
    joiner: Option<Waker>,
}

/// Lock order: `tasks` may be held while a child's future is dropped (cancelling
/// an idle task drops it inline), and a child's drop takes `state`; so `state` is
/// never held while cancelling, and nothing takes `tasks` while holding `state`.
#[derive(Default)]
struct GroupShared {
    state: Mutex<GroupState>,
    /// Handles of the children, to cancel them.
    tasks: Mutex<Vec<Task<()>>>,
    cancelling: AtomicBool,
}

impl GroupShared {
    fn lock(&self) -> MutexGuard<'_, GroupState> {
        // Each critical section leaves the state consistent: poison is harmless.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cancel_all(&self) {
        self.cancelling.store(true, Ordering::SeqCst);
        let tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        for t in tasks.iter() {
            t.cancel();
        }
    }
}

/// [`TaskGroup`]: structured concurrency, as Python 3.11's `asyncio.TaskGroup`.
///
/// ```python
/// async with asyncio.TaskGroup() as tg:
///     t1 = tg.create_task(some_coro())
///     t2 = tg.create_task(another_coro())
/// # here both are done; a failure in either cancelled the other and is raised
/// ```
///
/// becomes
///
/// ```
/// use std::time::Duration;
///
/// corio::run(async {
///     let mut tg = corio::TaskGroup::new();
///     let t1 = tg.create_task(async { corio::sleep(Duration::from_millis(10)).await; 1 });
///     let t2 = tg.create_task(async { 2 });
///     tg.join().await.unwrap();
///     assert_eq!(t1.await.unwrap() + t2.await.unwrap(), 3);
/// });
/// ```
///
/// Semantics:
/// * Children run as ordinary tasks on the runtime.
/// * The first child that panics (the Rust form of raising), or returns `Err`
///   if it was spawned with [`create_try_task`](TaskGroup::create_try_task), makes the group
///   cancel every other child (their futures are dropped). Children that panic
///   before their cancellation lands are failures too: none is swallowed.
/// * [`join`](TaskGroup::join) waits until every child has finished or been
///   dropped, then returns `Err(TaskGroupError)` listing every failure (Python's
///   `ExceptionGroup`), or `Ok(())`.
/// * Each child's [`GroupTask`] handle resolves to its output, or
///   `Err(TaskError::Cancelled)` if the group cancelled it, or
///   `Err(TaskError::Panicked(message))` if it panicked (the original payload
///   goes to the `TaskGroupError`).
/// * Dropping the group without `join` cancels the children (no task outlives
///   its group); a task created after the group started cancelling is
///   cancelled at once (Python raises `RuntimeError` there).
pub struct TaskGroup {
    shared: Arc<GroupShared>,
    handle: Option<Handle>,
    joined: bool,
}

impl fmt::Debug for TaskGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("TaskGroup")
            .field("running", &st.running)
            .field("failures", &st.failures.len())
            .field(
                "cancelling",
                &self.shared.cancelling.load(Ordering::Relaxed),
            )
            .finish()
    }
}

impl Default for TaskGroup {
    fn default() -> Self {
        Self::new()
    }
}

impl TaskGroup {
    /// An empty group; its tasks go to the current runtime.
    pub fn new() -> Self {
        TaskGroup {
            shared: Arc::new(GroupShared::default()),
            handle: None,
            joined: false,
        }
    }

    /// An empty group whose tasks go to the runtime of `handle` (usable from
    /// any thread).
    pub fn with_handle(handle: Handle) -> Self {
        let mut tg = TaskGroup::new();
        tg.handle = Some(handle);
        tg
    }

    /// Spawn a child (`tg.create_task(coro)`). A panic in it is a failure of the
    /// group.
    ///
    /// # Panics
    /// Outside a runtime, for a group made with [`TaskGroup::new`].
    #[track_caller]
    pub fn create_task<F>(&mut self, fut: F) -> GroupTask<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_child(fut, |_| None, Location::caller())
    }

    /// Spawn a child whose `Err` output is a failure of the group, as a panic
    /// is (in Python both are exceptions). The child's own handle gets the
    /// error too, shared in an `Arc`.
    ///
    /// ```
    /// corio::run(async {
    ///     let mut tg = corio::TaskGroup::new();
    ///     let bad = tg.create_try_task(async {
    ///         "x".parse::<u32>() // Err(ParseIntError)
    ///     });
    ///     let err = tg.join().await.unwrap_err();
    ///     assert!(err.failures()[0].message().contains("invalid digit"));
    ///     assert!(bad.await.unwrap().is_err());
    /// });
    /// ```
    ///
    /// # Panics
    /// Outside a runtime, for a group made with [`TaskGroup::new`].
    #[track_caller]
    pub fn create_try_task<F, T, E>(&mut self, fut: F) -> GroupTask<Result<T, Arc<E>>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Error + Send + Sync + 'static,
    {
        let fut = async move { fut.await.map_err(Arc::new) };
        self.spawn_child(
            fut,
            |out: &Result<T, Arc<E>>| match out {
                Ok(_) => None,
                Err(e) => Some(e.clone() as Arc<dyn Error + Send + Sync>),
            },
            Location::caller(),
        )
    }

    fn spawn_child<F>(
        &mut self,
        fut: F,
        classify: Classify<F::Output>,
        location: &'static Location<'static>,
    ) -> GroupTask<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = match &self.handle {
            Some(h) => h.clone(),
            None => Handle::try_current().unwrap_or_else(|| {
                panic!(
                    "TaskGroup::create_task() called outside a corio runtime: create the group \
                     inside corio::run(...) or use TaskGroup::with_handle"
                )
            }),
        };
        let slot = Arc::new(Slot {
            state: Mutex::new(SlotState::Pending(None)),
        });
        let child = Child {
            fut: Box::pin(fut),
            slot: slot.clone(),
            group: self.shared.clone(),
            finished: false,
            classify,
        };
        self.shared.lock().running += 1;
        let task = handle.spawn_inner(child, None, location);
        let mut tasks = self.shared.tasks.lock().unwrap_or_else(|p| p.into_inner());
        // Forget finished children now and then (amortised O(1) per spawn).
        if tasks.len() >= 64 && tasks.len().is_power_of_two() {
            tasks.retain(|t| !t.done());
        }
        // Checked after the push's lock is taken: a concurrent cancel_all either
        // sees this task in the list or this check sees its flag.
        if self.shared.cancelling.load(Ordering::SeqCst) {
            task.cancel();
        }
        tasks.push(task);
        GroupTask { slot }
    }

    /// Cancel every child (as if one had failed, but without a failure).
    pub fn cancel(&self) {
        self.shared.cancel_all();
    }

    /// Wait until every child has finished (or was cancelled and dropped); then
    /// `Err` with every failure, or `Ok(())`.
    ///
    /// If the `join` future itself is dropped before it finishes (say, a
    /// `wait_for` around it timed out), the children are cancelled, as when
    /// the body of Python's `async with TaskGroup()` is cancelled.
    pub async fn join(mut self) -> Result<(), TaskGroupError> {
        let shared = self.shared.clone();
        std::future::poll_fn(|cx| {
            let mut st = shared.lock();
            if st.running == 0 {
                Poll::Ready(())
            } else {
                st.joiner = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        self.joined = true;
        let failures = std::mem::take(&mut shared.lock().failures);
        if failures.is_empty() {
            Ok(())
        } else {
            Err(TaskGroupError { failures })
        }
    }
}

impl Drop for TaskGroup {
    fn drop(&mut self) {
        if !self.joined {
            // Structured concurrency: no child outlives an abandoned group.
            self.shared.cancel_all();
        }
    }
}

enum SlotState<T> {
    Pending(Option<Waker>),
    Done(Result<T, TaskError>),
    Taken,
}

struct Slot<T> {
    state: Mutex<SlotState<T>>,
}

impl<T> Slot<T> {
    fn set(&self, out: Result<T, TaskError>) {
        let waker = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            match std::mem::replace(&mut *st, SlotState::Done(out)) {
                SlotState::Pending(w) => w,
                other => {
                    // Already set: keep the first outcome.
                    *st = other;
                    None
                }
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A child of a [`TaskGroup`]: awaits to `Result<T, TaskError>`. Dropping it
/// does not cancel the child.
pub struct GroupTask<T> {
    slot: Arc<Slot<T>>,
}

impl<T> fmt::Debug for GroupTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupTask").finish_non_exhaustive()
    }
}

impl<T> Future for GroupTask<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.slot.state.lock().unwrap_or_else(|p| p.into_inner());
        match std::mem::replace(&mut *st, SlotState::Taken) {
            SlotState::Done(out) => Poll::Ready(out),
            SlotState::Pending(_) => {
                *st = SlotState::Pending(Some(cx.waker().clone()));
                Poll::Pending
            }
            SlotState::Taken => panic!("GroupTask polled after it completed"),
        }
    }
}

/// The future a child task really runs: the user's future, with panics caught
/// and reported to the group.
struct Child<F: Future> {
    fut: Pin<Box<F>>,
    slot: Arc<Slot<F::Output>>,
    group: Arc<GroupShared>,
    finished: bool,
    classify: Classify<F::Output>,
}

/// Says whether a child's output is a failure (an `Err` of a try-task).
type Classify<T> = fn(&T) -> Option<Arc<dyn Error + Send + Sync + 'static>>;

impl<F: Future> Child<F> {
    fn finish(&mut self, failure: Option<TaskFailure>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let failed = failure.is_some();
        let joiner = {
            let mut st = self.group.lock();
            st.running -= 1;
            if let Some(f) = failure {
                st.failures.push(f);
            }
            if st.running == 0 {
                st.joiner.take()
            } else {
                None
            }
        };
        if failed && !self.group.cancelling.load(Ordering::SeqCst) {
            self.group.cancel_all();
        }
        if let Some(w) = joiner {
            w.wake();
        }
    }
}

impl<F: Future> Future for Child<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        match catch_unwind(AssertUnwindSafe(|| this.fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => {
                let failure = (this.classify)(&out).map(|e| TaskFailure {
                    task: crate::task::current_task(),
                    cause: FailureCause::Error(e),
                });
                this.slot.set(Ok(out));
                this.finish(failure);
                Poll::Ready(())
            }
            Err(payload) => {
                let message = panic_message(&*payload);
                this.slot
                    .set(Err(TaskError::Panicked(Box::new(message.clone()))));
                this.finish(Some(TaskFailure {
                    task: crate::task::current_task(),
                    cause: FailureCause::Panicked(payload),
                }));
                Poll::Ready(())
            }
        }
    }
}

impl<F: Future> Drop for Child<F> {
    fn drop(&mut self) {
        if !self.finished {
            self.slot.set(Err(TaskError::Cancelled));
            self.finish(None);
        }
    }
}
