//! [`TaskGroup`]: structured concurrency, as Python 3.11's `asyncio.TaskGroup`.

use std::any::Any;
use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use corio_core::{TaskError, TaskId, TaskMeta};

use crate::debug::panic_text;
use crate::runtime::Handle;
use crate::task::Task;
use crate::AwaitPoint;

/// Why a child of a [`TaskGroup`] failed.
enum Cause {
    /// It panicked (the Rust form of raising): the error holds the payload.
    Panicked(TaskError),
    /// A child spawned with [`TaskGroup::create_try_task`] returned `Err`.
    Error(Arc<dyn Error + Send + Sync + 'static>),
}

/// One child failure collected by a [`TaskGroup`]: which child, and its panic or
/// its `Err`. `Send + Sync + 'static`, as [`TaskGroupError`] is.
pub struct TaskFailure {
    task: TaskMeta,
    cause: Cause,
}

impl TaskFailure {
    /// The child that failed (id, name, spawn location).
    pub fn task(&self) -> &TaskMeta {
        &self.task
    }

    /// The panic message (when the payload is a string) or the error's message.
    pub fn message(&self) -> String {
        match &self.cause {
            Cause::Panicked(e) => e
                .panic_message()
                .unwrap_or("<non-string panic payload>")
                .to_owned(),
            Cause::Error(e) => e.to_string(),
        }
    }

    /// True when the child panicked (rather than returned `Err`).
    pub fn is_panic(&self) -> bool {
        matches!(self.cause, Cause::Panicked(_))
    }

    /// The `Err` a child of [`TaskGroup::create_try_task`] returned; `None` for a panic.
    pub fn error(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        match &self.cause {
            Cause::Error(e) => Some(&**e),
            Cause::Panicked(_) => None,
        }
    }

    /// The panic payload, e.g. for `std::panic::resume_unwind`; `Err(self)` when the
    /// child returned `Err` instead of panicking.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, TaskFailure> {
        match self.cause {
            Cause::Panicked(e) => Ok(e.into_panic()),
            cause @ Cause::Error(_) => Err(TaskFailure {
                task: self.task,
                cause,
            }),
        }
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
        write!(f, "{} task(s) of the group failed:", self.failures.len())?;
        for fail in &self.failures {
            write!(f, " [{}: {}]", fail.task, fail.message())?;
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
    /// The body of [`TaskGroup::run`], woken when the group starts cancelling.
    body: Option<Waker>,
}

/// Lock order: `tasks` may be held while a child's future is dropped (cancelling
/// an idle task drops it inline), and a child's drop takes `state`; so `state` is
/// never held while cancelling, and nothing takes `tasks` while holding `state`.
#[derive(Default)]
struct GroupShared {
    state: Mutex<GroupState>,
    /// Handles of the children, to cancel them.
    tasks: Mutex<Vec<Task<()>>>,
    /// Set by the first failure, [`TaskGroup::cancel`], dropping the group
    /// unjoined, or the end of `join`/`run` (the group is closed): children
    /// created afterwards are cancelled at once.
    cancelling: AtomicBool,
}

impl GroupShared {
    fn lock(&self) -> MutexGuard<'_, GroupState> {
        // Each critical section leaves the state consistent: poison is harmless.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tasks(&self) -> MutexGuard<'_, Vec<Task<()>>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cancel_all(&self) {
        self.cancelling.store(true, Ordering::SeqCst);
        for t in self.tasks().iter() {
            t.cancel();
        }
        let body = self.lock().body.take();
        if let Some(w) = body {
            w.wake();
        }
    }

    /// Wait until no child is running. An awaiter that is itself cancelled
    /// cooperatively (and not shielded) cancels the children first, as
    /// cancelling the body of asyncio's `async with TaskGroup()` does: they
    /// inherited its grace, so they run their cleanup and the wait ends when
    /// they have.
    fn poll_children(&self, cx: &mut Context<'_>) -> Poll<()> {
        if crate::cancel::is_cancelled() && !self.cancelling.load(Ordering::SeqCst) {
            self.cancel_all();
        }
        let mut st = self.lock();
        if st.running == 0 {
            Poll::Ready(())
        } else {
            st.joiner = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    /// The group is over: close it and collect its failures.
    fn finish(&self) -> Result<(), TaskGroupError> {
        self.cancelling.store(true, Ordering::SeqCst);
        let failures = std::mem::take(&mut self.lock().failures);
        if failures.is_empty() {
            Ok(())
        } else {
            Err(TaskGroupError { failures })
        }
    }

    fn spawn_child<F>(
        self: &Arc<Self>,
        handle: Option<&Handle>,
        fut: F,
        name: Option<Cow<'static, str>>,
        classify: Classify<F::Output>,
        location: &'static Location<'static>,
    ) -> GroupTask<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // Resolved before any change to the group, so a misuse panics with it
        // intact.
        let handle = match handle {
            Some(h) => h.clone(),
            None => Handle::try_current().unwrap_or_else(|| {
                crate::runtime::outside_runtime("corio::TaskGroup::create_task()")
            }),
        };
        let slot = Arc::new(Slot {
            state: Mutex::new(SlotState::Pending(None)),
            cancelled: AtomicBool::new(false),
        });
        let child = Child {
            fut: Some(Box::pin(fut)),
            slot: slot.clone(),
            group: self.clone(),
            finished: false,
            classify,
        };
        self.lock().running += 1;
        // A child inherits the grace of the cooperative task creating it, so
        // the group's cancel gives it its cleanup too.
        let grace = crate::cancel::task_grace();
        let task = handle.spawn_opts(child, name, grace, location);
        let out = GroupTask {
            slot,
            id: task.id(),
            name: task.name().map(Arc::from),
            group: self.clone(),
        };
        let mut tasks = self.tasks();
        // Forget finished children now and then (amortised O(1) per spawn).
        if tasks.len() >= 64 && tasks.len().is_power_of_two() {
            tasks.retain(|t| !t.done());
        }
        // Checked after the push's lock is taken: a concurrent cancel_all either
        // sees this task in the list or this check sees its flag.
        if self.cancelling.load(Ordering::SeqCst) {
            task.cancel();
        }
        tasks.push(task);
        out
    }
}

/// [`TaskGroup`]: structured concurrency, as Python 3.11's `asyncio.TaskGroup`.
///
/// ```python
/// async with asyncio.TaskGroup() as tg:
///     t1 = tg.create_task(some_coro())
///     t2 = tg.create_task(another_coro())
///     await asyncio.sleep(1)   # the body: cancelled at once if a child fails
/// # here both are done; a failure in either cancelled the other and is raised
/// ```
///
/// becomes
///
/// ```
/// use std::time::Duration;
///
/// corio::run(async {
///     let tg = corio::TaskGroup::new();
///     let (t1, t2) = tg
///         .run(async {
///             let t1 = tg.create_task(async { corio::sleep(Duration::from_millis(10)).await; 1 });
///             let t2 = tg.create_task(async { 2 });
///             corio::sleep(Duration::from_millis(1)).await;
///             (t1, t2)
///         })
///         .await
///         .unwrap()
///         .expect("nobody cancelled the group");
///     assert_eq!(t1.await.unwrap() + t2.await.unwrap(), 3);
/// });
/// ```
///
/// Semantics:
/// * Children run as ordinary tasks on the runtime.
/// * The first child that panics (the Rust form of raising), or returns `Err`
///   if it was spawned with [`create_try_task`](TaskGroup::create_try_task), makes the group
///   cancel every other child (their futures are dropped) **and the body** given
///   to [`run`](TaskGroup::run) (it is dropped at once, wherever it waits, also
///   inside a nested group). Children that panic before their cancellation
///   lands are failures too: none is swallowed.
/// * [`run`](TaskGroup::run) and [`join`](TaskGroup::join) wait until every
///   child has finished or been dropped, then return `Err(TaskGroupError)`
///   listing every failure (Python's `ExceptionGroup`).
/// * [`cancel`](TaskGroup::cancel) ends the group early without an error
///   (Python 3.15's `TaskGroup.cancel()`): children and body are cancelled and
///   `run` returns `Ok(None)`.
/// * Children can add tasks to their own group through a [`TaskGroupHandle`]
///   ([`TaskGroup::handle`]), also while the owner waits in `run`/`join`.
/// * Each child's [`GroupTask`] handle resolves to its output, or
///   a cancelled [`TaskError`] if it was cancelled, or a panicked one holding
///   the panic message if it panicked (the original payload
///   goes to the `TaskGroupError`); it can cancel that child alone, which is
///   not a failure of the group.
/// * With cooperative cancellation on (a grace period for the task creating
///   the group or for the runtime, see [`crate::cancel`]), "cancel" and
///   "drop" above mean cancel cooperatively: the body and the children (which
///   inherit their creator's grace) see the cancel at their leaves and run
///   their [`cleanup`](crate::cleanup) scopes, for at most the grace period,
///   before `run` returns.
/// * Dropping the group without `join`/`run` cancels the children (no task
///   outlives its group); a task created after the group started cancelling or
///   after it finished is cancelled at once (Python raises `RuntimeError` there).
pub struct TaskGroup {
    group: TaskGroupHandle,
    joined: AtomicBool,
}

impl fmt::Debug for TaskGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.group.shared;
        let st = shared.lock();
        f.debug_struct("TaskGroup")
            .field("running", &st.running)
            .field("failures", &st.failures.len())
            .field("cancelling", &shared.cancelling.load(Ordering::Relaxed))
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
            group: TaskGroupHandle {
                shared: Arc::new(GroupShared::default()),
                handle: None,
            },
            joined: AtomicBool::new(false),
        }
    }

    /// An empty group whose tasks go to the runtime of `handle` (usable from
    /// any thread).
    pub fn with_handle(handle: Handle) -> Self {
        let mut tg = TaskGroup::new();
        tg.group.handle = Some(handle);
        tg
    }

    /// A cloneable, `'static` handle that adds tasks to this group, for the
    /// children themselves (dropping it does not cancel anything).
    ///
    /// ```
    /// corio::run(async {
    ///     let tg = corio::TaskGroup::new();
    ///     let h = tg.handle();
    ///     tg.create_task(async move {
    ///         // A child adds a sibling while the owner waits in join().
    ///         h.create_task(async { 2 });
    ///     });
    ///     tg.join().await.unwrap();
    /// });
    /// ```
    pub fn handle(&self) -> TaskGroupHandle {
        self.group.clone()
    }

    /// Spawn a child (`tg.create_task(coro)`). A panic in it is a failure of the
    /// group.
    ///
    /// # Panics
    /// Outside a runtime, for a group made with [`TaskGroup::new`].
    #[track_caller]
    pub fn create_task<F>(&self, fut: F) -> GroupTask<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.group.create_task(fut)
    }

    /// Spawn a named child (`tg.create_task(coro, name=...)`).
    ///
    /// ```
    /// corio::run(async {
    ///     let tg = corio::TaskGroup::new();
    ///     let t = tg.create_task_named("fetch", async { 1 });
    ///     assert_eq!(t.name(), Some("fetch"));
    ///     tg.join().await.unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn create_task_named<F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        fut: F,
    ) -> GroupTask<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.group.create_task_named(name, fut)
    }

    /// Spawn a child whose `Err` output is a failure of the group, as a panic
    /// is (in Python both are exceptions). The child's own handle gets the
    /// error too, shared in an `Arc`.
    ///
    /// ```
    /// corio::run(async {
    ///     let tg = corio::TaskGroup::new();
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
    pub fn create_try_task<F, T, E>(&self, fut: F) -> GroupTask<Result<T, Arc<E>>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Error + Send + Sync + 'static,
    {
        self.group.create_try_task(fut)
    }

    /// End the group early without an error (Python 3.15's `tg.cancel()`):
    /// every child is cancelled, and so is the body of [`run`](Self::run),
    /// which then returns `Ok(None)` (unless a child had already failed).
    ///
    /// ```
    /// use std::time::Duration;
    /// corio::run(async {
    ///     let tg = corio::TaskGroup::new();
    ///     let r = tg
    ///         .run(async {
    ///             tg.create_task(corio::sleep(Duration::from_secs(3600)));
    ///             tg.cancel();
    ///             corio::sleep(Duration::from_secs(3600)).await;
    ///         })
    ///         .await;
    ///     assert!(matches!(r, Ok(None)));
    /// });
    /// ```
    pub fn cancel(&self) {
        self.group.cancel();
    }

    /// Run `body` as the group's body (the inside of Python's
    /// `async with TaskGroup() as tg:`), then wait for every child.
    ///
    /// * `Ok(Some(output))`: the body and every child finished without failure.
    /// * `Ok(None)`: the group was [cancelled](Self::cancel) before the body
    ///   finished; the body was dropped.
    /// * `Err(TaskGroupError)`: one or more children failed; the body, if still
    ///   running, was dropped at once, and the other children were cancelled.
    ///
    /// If the `run` future itself is dropped (say, a timeout around it), the
    /// body is dropped and the children are cancelled.
    ///
    /// While it waits, the task's await point is the body's own, or the
    /// caller's line when the body waits on something that records none (a
    /// task) and while the children finish.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// corio::run(async {
    ///     let tg = corio::TaskGroup::new();
    ///     let start = Instant::now();
    ///     let r = tg
    ///         .run(async {
    ///             tg.create_task(async { panic!("boom") });
    ///             corio::sleep(Duration::from_secs(3600)).await; // cancelled at once
    ///         })
    ///         .await;
    ///     assert!(r.unwrap_err().failures()[0].message().contains("boom"));
    ///     assert!(start.elapsed() < Duration::from_secs(60));
    /// });
    /// ```
    #[track_caller]
    pub fn run<'a, F: Future + 'a>(
        &'a self,
        body: F,
    ) -> impl Future<Output = Result<Option<F::Output>, TaskGroupError>> + 'a {
        // The caller's line is the await point while the children finish, and
        // while the body waits on something that records no point of its own.
        let at = Location::caller();
        async move {
            let shared = &self.group.shared;
            let mut body = std::pin::pin!(Some(body));
            let mut grace_timer = None;
            let mut body_step = |cx: &mut Context<'_>| {
                if !shared.cancelling.load(Ordering::SeqCst) {
                    shared.lock().body = Some(cx.waker().clone());
                    // Checked again after the waker is stored: a cancel_all in
                    // between either sees the waker or we see its flag.
                    if !shared.cancelling.load(Ordering::SeqCst) {
                        let Some(fut) = body.as_mut().as_pin_mut() else {
                            panic!("TaskGroup::run polled after it completed");
                        };
                        let out = std::task::ready!(fut.poll(cx));
                        body.set(None);
                        shared.lock().body = None;
                        return Poll::Ready(Some(out));
                    }
                }
                // The group is cancelling: the body goes first. With cooperative
                // cancellation on it is cancelled as a task is (its leaves complete
                // as cancelled, its cleanup runs, the grace bounds it); else dropped.
                if let (Some(fut), Some(grace)) =
                    (body.as_mut().as_pin_mut(), crate::cancel::scope_grace())
                {
                    let cleanup = crate::cancel::poll_cancelled(fut, &mut grace_timer, grace, cx);
                    std::task::ready!(cleanup); // its value, if any, is dropped
                }
                body.set(None);
                shared.lock().body = None;
                Poll::Ready(None)
            };
            let out = std::future::poll_fn(|cx| {
                let step = body_step(cx);
                if step.is_pending() {
                    crate::tree::record_wait_if_none(at);
                }
                step
            })
            .await;
            std::future::poll_fn(|cx| crate::tree::pending_at(shared.poll_children(cx), at)).await;
            self.joined.store(true, Ordering::SeqCst);
            shared.finish().map(|()| out)
        }
    }

    /// Wait until every child has finished (or was cancelled and dropped); then
    /// `Err` with every failure, or `Ok(())`. The code between creating the
    /// tasks and `join` is not cancelled by a failure; give it to
    /// [`run`](Self::run) for that.
    ///
    /// If the `join` future itself is dropped before it finishes (say, a
    /// `wait_for` around it timed out), the children are cancelled, as when
    /// the body of Python's `async with TaskGroup()` is cancelled.
    ///
    /// While it waits, the caller's line is the task's await point.
    #[track_caller]
    pub fn join(self) -> AwaitPoint<impl Future<Output = Result<(), TaskGroupError>>> {
        crate::await_point(async move {
            // The whole group moves in: dropping this future drops it, which
            // cancels the children.
            let group = self;
            let shared = group.group.shared.clone();
            std::future::poll_fn(|cx| shared.poll_children(cx)).await;
            group.joined.store(true, Ordering::SeqCst);
            shared.finish()
        })
    }
}

impl Drop for TaskGroup {
    fn drop(&mut self) {
        if !self.joined.load(Ordering::SeqCst) {
            // Structured concurrency: no child outlives an abandoned group.
            self.group.shared.cancel_all();
        }
    }
}

/// Adds tasks to a [`TaskGroup`] from anywhere, children included
/// ([`TaskGroup::handle`]). Cloneable, `Send + Sync + 'static`; dropping it
/// does nothing to the group.
#[derive(Clone)]
pub struct TaskGroupHandle {
    shared: Arc<GroupShared>,
    handle: Option<Handle>,
}

impl fmt::Debug for TaskGroupHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroupHandle").finish_non_exhaustive()
    }
}

impl TaskGroupHandle {
    /// As [`TaskGroup::create_task`].
    #[track_caller]
    pub fn create_task<F>(&self, fut: F) -> GroupTask<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = self.handle.as_ref();
        self.shared
            .spawn_child(handle, fut, None, |_| None, Location::caller())
    }

    /// As [`TaskGroup::create_task_named`].
    #[track_caller]
    pub fn create_task_named<F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        fut: F,
    ) -> GroupTask<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = self.handle.as_ref();
        let name = Some(name.into());
        self.shared
            .spawn_child(handle, fut, name, |_| None, Location::caller())
    }

    /// As [`TaskGroup::create_try_task`].
    #[track_caller]
    pub fn create_try_task<F, T, E>(&self, fut: F) -> GroupTask<Result<T, Arc<E>>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Error + Send + Sync + 'static,
    {
        let fut = async move { fut.await.map_err(Arc::new) };
        self.shared.spawn_child(
            self.handle.as_ref(),
            fut,
            None,
            |out: &Result<T, Arc<E>>| match out {
                Ok(_) => None,
                Err(e) => Some(e.clone() as Arc<dyn Error + Send + Sync>),
            },
            Location::caller(),
        )
    }

    /// As [`TaskGroup::cancel`].
    pub fn cancel(&self) {
        self.shared.cancel_all();
    }
}

enum SlotState<T> {
    Pending(Option<Waker>),
    Done(Result<T, Failed>),
    Taken,
}

/// How a child ended without output; [`GroupTask`] turns it into a [`TaskError`]
/// carrying the child's id.
enum Failed {
    Cancelled,
    Panicked(String),
}

struct Slot<T> {
    state: Mutex<SlotState<T>>,
    /// The child was dropped before it finished.
    cancelled: AtomicBool,
}

impl<T> Slot<T> {
    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, out: Result<T, Failed>) {
        let waker = {
            let mut st = self.lock();
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
    id: TaskId,
    name: Option<Arc<str>>,
    group: Arc<GroupShared>,
}

impl<T> GroupTask<T> {
    /// Cancel this child alone (its future is dropped; the group goes on, as a
    /// cancelled child is not a failure). False when it had already finished:
    /// its result is kept.
    ///
    /// ```
    /// use std::time::Duration;
    /// corio::run(async {
    ///     let tg = corio::TaskGroup::new();
    ///     let slow = tg.create_task(corio::sleep(Duration::from_secs(3600)));
    ///     let quick = tg.create_task(async { 5 });
    ///     assert!(slow.cancel());
    ///     tg.join().await.unwrap();
    ///     assert!(slow.cancelled());
    ///     assert_eq!(quick.await.unwrap(), 5);
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        if self.done() {
            return false;
        }
        let tasks = self.group.tasks();
        match tasks.iter().find(|t| t.id() == self.id) {
            Some(t) => t.cancel(),
            None => false,
        }
    }

    /// True once the child finished: completed, panicked or cancelled.
    pub fn done(&self) -> bool {
        !matches!(*self.slot.lock(), SlotState::Pending(_))
    }

    /// True if the child was cancelled (by [`cancel`](Self::cancel) or by its group).
    pub fn cancelled(&self) -> bool {
        self.slot.cancelled.load(Ordering::SeqCst)
    }

    /// The child's task id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The child's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl<T> fmt::Debug for GroupTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupTask")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("done", &self.done())
            .finish()
    }
}

impl<T> Future for GroupTask<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Awaiting a child is a leaf (see `crate::cancel`).
        if crate::cancel::is_cancelled() {
            return Poll::Ready(Err(TaskError::cancelled(self.id)));
        }
        let mut st = self.slot.lock();
        match std::mem::replace(&mut *st, SlotState::Taken) {
            SlotState::Done(out) => Poll::Ready(out.map_err(|failed| match failed {
                Failed::Cancelled => TaskError::cancelled(self.id),
                Failed::Panicked(msg) => TaskError::panicked(self.id, Box::new(msg)),
            })),
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
    /// `None` once the child ended: dropped before the group hears of it
    /// (see [`Child::drop_future`]).
    fut: Option<Pin<Box<F>>>,
    slot: Arc<Slot<F::Output>>,
    group: Arc<GroupShared>,
    finished: bool,
    classify: Classify<F::Output>,
}

/// Says whether a child's output is a failure (an `Err` of a try-task).
type Classify<T> = fn(&T) -> Option<Arc<dyn Error + Send + Sync + 'static>>;

/// The child task polling this future. A [`Child`] is only ever spawned as a task
/// and polled by corio-core's `Runnable::run`, which sets the current task.
fn this_task() -> TaskMeta {
    match corio_core::current() {
        Some(meta) => meta,
        None => panic!("a TaskGroup child was polled outside its task"),
    }
}

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

impl<F: Future> Child<F> {
    /// Drop the user's future now, before the group or the child's handle
    /// hears that the child ended: `join` returns once the group has heard of
    /// the last child, and by then everything that future owned must be gone
    /// (a hand-written future keeps its fields after it completes or panics,
    /// and a field of `Child` is dropped only after `Child::drop` returns).
    /// A panic from its destructor is caught and returned, so the group is
    /// told of the end whatever happens.
    fn drop_future(&mut self) -> Option<Box<dyn Any + Send>> {
        let fut = self.fut.take();
        catch_unwind(AssertUnwindSafe(move || drop(fut))).err()
    }

    /// The child panicked (in a poll or in its future's destructor): its
    /// handle gets the message, the group the failure with the payload.
    fn panicked(&mut self, payload: Box<dyn Any + Send>) {
        let message = panic_text(&*payload).to_owned();
        self.slot.set(Err(Failed::Panicked(message)));
        let task = this_task();
        self.finish(Some(TaskFailure {
            cause: Cause::Panicked(TaskError::panicked(task.id(), payload)),
            task,
        }));
    }
}

impl<F: Future> Future for Child<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        // Emptied once the child ended, and nothing polls a task after that.
        let Some(fut) = this.fut.as_mut() else {
            return Poll::Ready(());
        };
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => {
                if let Some(payload) = this.drop_future() {
                    drop(out);
                    this.panicked(payload);
                    return Poll::Ready(());
                }
                let failure = (this.classify)(&out).map(|e| TaskFailure {
                    task: this_task(),
                    cause: Cause::Error(e),
                });
                this.slot.set(Ok(out));
                this.finish(failure);
                Poll::Ready(())
            }
            Err(payload) => {
                // A second panic, from the destructor, adds nothing to the first.
                drop(this.drop_future());
                this.panicked(payload);
                Poll::Ready(())
            }
        }
    }
}

impl<F: Future> Drop for Child<F> {
    fn drop(&mut self) {
        if !self.finished {
            let destructor_panic = self.drop_future();
            self.slot.cancelled.store(true, Ordering::SeqCst);
            self.slot.set(Err(Failed::Cancelled));
            self.finish(None);
            // Raised where it would have been had the future been dropped as a
            // field: to whoever dropped the task, once the group knows.
            if let Some(payload) = destructor_panic {
                std::panic::resume_unwind(payload);
            }
        }
    }
}
