//! Cooperative cancellation with cleanup (opt-in), and a guide comparing
//! asyncio, Trio, tokio and corio.
//!
//! # Cancellation in corio
//!
//! Four runtimes, one job: stop a task that is waiting, but let it finish its
//! cleanup (flush a buffer, say goodbye on a socket, roll back a transaction).
//!
//! **asyncio** cancels by raising `CancelledError` at the task's current
//! `await`. The task can catch it and `await` its cleanup. The signal is
//! *edge-triggered*: it is delivered once, so an `except Exception` or a
//! forgotten re-raise swallows it and the task runs on.
//!
//! ```python
//! async def worker(conn):
//!     try:
//!         await asyncio.sleep(3600)
//!     except asyncio.CancelledError:
//!         await asyncio.sleep(0.01)        # cleanup may await
//!         conn.write(b"bye"); await conn.drain()
//!         raise                            # forget this and the cancel is lost
//! ```
//!
//! **Trio** makes cancellation *level-triggered*: inside a cancelled scope
//! every checkpoint raises `Cancelled`, again and again, until the scope is
//! left; cleanup that must await runs in `CancelScope(shield=True)`.
//!
//! **tokio** (and smol, and corio by default) cancel by *dropping* the future:
//! it stops at its current `.await` and only synchronous `Drop` runs. Async
//! cleanup needs a hand-made protocol (a `CancellationToken` plus `select!`).
//!
//! ```ignore
//! // tokio
//! let token = CancellationToken::new();
//! let t = tokio::spawn({ let token = token.clone(); async move {
//!     tokio::select! {
//!         _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
//!         _ = token.cancelled() => { conn.write_all(b"bye").await.ok(); }
//!     }
//! }});
//! token.cancel();
//! ```
//!
//! **corio** keeps drop as the default and offers asyncio's async cleanup
//! with Trio's rules, opt-in per task ([`TaskBuilder::cancel_grace`](crate::TaskBuilder::cancel_grace))
//! or per runtime ([`Builder::cancel_grace`](crate::Builder::cancel_grace)):
//!
//! ```
//! use std::time::Duration;
//! use futures::io::AsyncWriteExt;
//!
//! corio::run(async {
//!     let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     let worker = corio::TaskBuilder::new()
//!         .cancel_grace(Duration::from_secs(1)) // cleanup gets at most 1 s
//!         .spawn(async move {
//!             let mut conn = corio::net::TcpStream::connect(addr).await?;
//!             corio::sleep(Duration::from_secs(3600)).await; // ends at once on cancel
//!             corio::cleanup(async {
//!                 corio::sleep(Duration::from_millis(10)).await; // a real wait
//!                 conn.write_all(b"bye").await
//!             })
//!             .await?;
//!             conn.write_all(b"never").await // cancelled again: Err, at once
//!         });
//!     let (mut peer, _) = listener.accept().await.unwrap();
//!     corio::sleep(Duration::from_millis(5)).await;
//!     worker.cancel();
//!     assert!(worker.await.unwrap_err().is_cancelled()); // after the cleanup
//!     let mut buf = Vec::new();
//!     futures::io::AsyncReadExt::read_to_end(&mut peer, &mut buf).await.unwrap();
//!     assert_eq!(buf, b"bye");
//! });
//! ```
//!
//! | | asyncio | Trio | tokio | corio |
//! |---|---|---|---|---|
//! | default | raise at `await` | raise at checkpoint | drop | drop |
//! | async cleanup | `except CancelledError:` | `CancelScope(shield=True)` | hand-made token + `select!` | [`cleanup`] / [`shield`](crate::shield), with a grace period |
//! | swallowable | yes (edge-triggered) | no (level-triggered) | n/a | no (level-triggered) |
//! | bound on cleanup | none | none (deadlines) | n/a | grace period, then drop |
//! | blocking code | no signal | no signal | no signal | [`CancelToken`] via [`to_thread_cancellable`](crate::to_thread_cancellable) |
//!
//! ## How it works
//!
//! By default, [`Task::cancel`](crate::Task::cancel) drops the task's future:
//! only synchronous `Drop` runs. A task spawned with a **grace period**
//! ([`TaskBuilder::cancel_grace`](crate::TaskBuilder::cancel_grace), or for
//! every task with [`Builder::cancel_grace`](crate::Builder::cancel_grace)) is
//! cancelled cooperatively instead:
//!
//! 1. `cancel()` sets the task's cancel flag and wakes it.
//! 2. While the flag is set, every corio leaf the task awaits completes at
//!    once, without waiting (level-triggered: on every later await too, so
//!    the cancellation cannot be swallowed by accident). How it completes
//!    depends on what its output can say (one rule for every leaf):
//!    - **Output `()` or "no more"**: it returns early, as if the wait were
//!      over: [`sleep`](crate::sleep), [`yield_now`](crate::yield_now),
//!      [`Event::wait`](crate::sync::Event::wait),
//!      [`Queue::join`](crate::queue::GenericQueue::join), and a queue's
//!      [`stream`](crate::queue::GenericQueue::stream) ends.
//!    - **Output with an error**: it returns the cancelled form of that
//!      error, asyncio's `CancelledError` raised at that `await`, so `?`
//!      passes it up. An awaited [`Task`](crate::Task) gives a cancelled
//!      `TaskError`, sockets give an `io::Error` for which
//!      [`is_cancelled_error`] is true, [`to_thread`](crate::to_thread) gives
//!      a [cancelled](crate::BlockingError::is_cancelled) `BlockingError`, a
//!      queue's `get` and `put` a [cancelled](crate::queue::GetError::is_cancelled)
//!      `GetError` and `PutError` (the item comes back), and
//!      [`Barrier::wait`](crate::sync::Barrier::wait) a
//!      [cancelled](crate::sync::BarrierError::is_cancelled) `BarrierError`.
//!    - **Output a guard or permit**: `acquire`/`acquire_owned` of a
//!      [`Lock`](crate::sync::Lock), [`Semaphore`](crate::sync::Semaphore) or
//!      [`BoundedSemaphore`](crate::sync::BoundedSemaphore) and
//!      [`Condition::wait`](crate::sync::Condition::wait) give
//!      `Result<guard, `[`Cancelled`]`>`: `Err` with nothing held.
//!
//!    A waiter that had been queued leaves its primitive and passes on what
//!    it was handed (a permit, the lock, a notification, a queue wake-up), as
//!    a dropped one does. Without cooperative cancellation these `Err`s never
//!    happen: a cancelled task is dropped at its `await`, as before.
//!    [`check`] is the same point for code that awaits nothing, and
//!    `.cancellable()` ([`Cancellable`]) makes one of any future.
//! 3. Inside [`cleanup`] (and [`shield`](crate::shield)) the leaves behave
//!    normally, so cleanup can do real async work: flush a buffer, say
//!    goodbye on a socket, roll back. When the shielded future ends, the next
//!    leaf outside sees the cancellation again.
//! 4. When the future returns, the task resolves a cancelled `TaskError`
//!    (its value, if any, is dropped). If it has not returned when the grace
//!    period ends, the runtime drops it (its destructors run) and the task
//!    resolves a cancelled `TaskError` then. A zero grace drops at once.
//!
//! ```
//! use std::time::Duration;
//!
//! corio::run(async {
//!     let (tx, rx) = std::sync::mpsc::channel();
//!     let task = corio::TaskBuilder::new()
//!         .cancel_grace(Duration::from_secs(5))
//!         .spawn(async move {
//!             corio::sleep(Duration::from_secs(3600)).await; // ends at once on cancel
//!             if corio::cancel::is_cancelled() {
//!                 corio::cleanup(async {
//!                     corio::sleep(Duration::from_millis(10)).await; // a real wait
//!                     tx.send("cleaned up").unwrap();
//!                 })
//!                 .await;
//!             }
//!         });
//!     corio::sleep(Duration::from_millis(5)).await;
//!     task.cancel();
//!     assert!(task.await.unwrap_err().is_cancelled());
//!     assert_eq!(rx.try_recv(), Ok("cleaned up")); // cleanup ran before the task resolved
//! });
//! ```
//!
//! The check a leaf makes is one thread-local read; tasks without a grace
//! period never set it, so they pay nothing else.
//!
//! ## Scopes that cancel their body
//!
//! A [`TaskGroup`](crate::TaskGroup) cancels its body and children when a
//! child fails or on [`TaskGroup::cancel`](crate::TaskGroup::cancel); an
//! expired [`timeout`](crate::timeout) or [`wait_for`](crate::wait_for)
//! cancels its body. With a grace period in force (the current task's, else
//! the runtime's) they cancel cooperatively, by the same rules as a task:
//! the body is polled as cancelled until it returns, its cleanup bounded by
//! the grace; children inherit the grace of the task that creates them. Only
//! the scope's body is cancelled: after `wait_for` returns its
//! `TimeoutError`, the task's own leaves wait normally again.
//!
//! ```
//! use std::time::Duration;
//!
//! corio::run(async {
//!     let task = corio::TaskBuilder::new()
//!         .cancel_grace(Duration::from_secs(5))
//!         .spawn(async {
//!             let r = corio::wait_for(
//!                 async {
//!                     corio::sleep(Duration::from_secs(3600)).await; // cancelled at the deadline
//!                     corio::cleanup(corio::sleep(Duration::from_millis(5))).await;
//!                     "rolled back"
//!                 },
//!                 Duration::from_millis(10),
//!             )
//!             .await;
//!             assert!(r.is_err()); // TimeoutError, after the cleanup
//!         });
//!     task.await.unwrap();
//! });
//! ```
//!
//! A task cancelled while it waits for a lock gets `Err(Cancelled)` there,
//! handles it (here with `?`, after its cleanup), and leaves the lock
//! consistent for everyone else:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use corio::cancel::Cancelled;
//! use corio::sync::Lock;
//!
//! corio::run(async {
//!     let lock = Arc::new(Lock::new(0));
//!     let held = lock.acquire().await.unwrap();
//!     let (tx, rx) = std::sync::mpsc::channel();
//!     let task = corio::TaskBuilder::new()
//!         .cancel_grace(Duration::from_secs(3600))
//!         .spawn({
//!             let lock = lock.clone();
//!             async move {
//!                 let mut n = match lock.acquire().await {
//!                     Ok(n) => n,
//!                     Err(cancelled) => {
//!                         corio::cleanup(corio::sleep(Duration::from_millis(1))).await;
//!                         tx.send("rolled back").unwrap();
//!                         return Err(cancelled);
//!                     }
//!                 };
//!                 *n += 1;
//!                 Ok::<(), Cancelled>(())
//!             }
//!         });
//!     corio::sleep(Duration::from_millis(5)).await;
//!     task.cancel();
//!     // Resolved after the cleanup, not after the hour of grace, without the lock.
//!     assert!(task.await.unwrap_err().is_cancelled());
//!     assert_eq!(rx.try_recv(), Ok("rolled back"));
//!     drop(held);
//!     assert_eq!(*lock.acquire().await.unwrap(), 0);
//! });
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use std::cell::Cell;

use corio_reactor::cancel::{is_cancelled as flag, set_cancelled};
pub use corio_reactor::cancel::{is_cancelled_error, Cancelled};
use corio_reactor::timer::{now, sleep_until, Sleep};

/// True while the current task has been asked to cancel (cooperatively) and
/// the code asking is not inside [`cleanup`] or [`shield`](crate::shield).
///
/// ```
/// corio::run(async {
///     assert!(!corio::cancel::is_cancelled());
/// });
/// ```
#[inline]
pub fn is_cancelled() -> bool {
    flag()
}

/// `Err(Cancelled)` while the current task is cancelled and not shielded: a
/// cancellation point for code that has no corio leaf to await (a loop of
/// pure computation), written `corio::cancel::check()?`.
///
/// ```
/// corio::run(async {
///     assert_eq!(corio::cancel::check(), Ok(()));
/// });
/// ```
pub fn check() -> Result<(), Cancelled> {
    if flag() {
        Err(Cancelled::default())
    } else {
        Ok(())
    }
}

thread_local! {
    /// The grace period of the cooperative task being polled on this thread.
    static GRACE: Cell<Option<Duration>> = const { Cell::new(None) };
}

/// The grace period a scope inside the current task cancels its body with
/// (a task group's body, a timeout's body, a task group's children): the
/// current task's, else the runtime's default. `None` when cooperative
/// cancellation is off: the scope drops its body, as by default.
pub(crate) fn scope_grace() -> Option<Duration> {
    GRACE
        .with(Cell::get)
        .or_else(|| crate::runtime::Handle::try_current().and_then(|h| h.cancel_grace()))
}

/// The grace period of the cooperative task being polled on this thread
/// (children of a task group inherit it).
pub(crate) fn task_grace() -> Option<Duration> {
    GRACE.with(Cell::get)
}

/// Restores `GRACE` when a cooperative task's poll returns or unwinds.
struct GraceGuard(Option<Duration>);

impl Drop for GraceGuard {
    fn drop(&mut self) {
        GRACE.with(|g| g.set(self.0));
    }
}

/// Polls `fut` as cancelled (the flag set; [`cleanup`] scopes inside still
/// clear it) for a scope that was cancelled cooperatively: a task, a task
/// group's body, a timeout's body. `Ready(Some(out))`: it returned (its
/// cleanup is over). `Ready(None)`: give up on it and drop it now, because
/// `grace` has passed since the first call (`timer` holds that deadline).
/// `Pending`: its cleanup goes on.
pub(crate) fn poll_cancelled<F: Future>(
    fut: Pin<&mut F>,
    timer: &mut Option<Sleep>,
    grace: Duration,
    cx: &mut Context<'_>,
) -> Poll<Option<F::Output>> {
    let timer = timer.get_or_insert_with(|| {
        let now = now();
        sleep_until(now.checked_add(grace).unwrap_or(now))
    });
    // Polled with the flag clear: the grace timer is not a leaf.
    if grace.is_zero() || shielded(|| Pin::new(timer).poll(cx)).is_ready() {
        return Poll::Ready(None);
    }
    with_flag(true, || fut.poll(cx)).map(Some)
}

/// Restores the thread's cancel flag when a poll returns or unwinds.
struct FlagGuard(bool);

impl Drop for FlagGuard {
    fn drop(&mut self) {
        set_cancelled(self.0);
    }
}

/// Poll `f` with this thread's cancel flag set to `on`.
fn with_flag<R>(on: bool, f: impl FnOnce() -> R) -> R {
    let _restore = FlagGuard(set_cancelled(on));
    f()
}

/// Poll `f` with cancellation held off: leaves inside behave normally.
pub(crate) fn shielded<R>(f: impl FnOnce() -> R) -> R {
    with_flag(false, f)
}

/// Run `fut` with the task's cancellation held off (a cleanup scope, Trio's
/// `CancelScope(shield=True)`, Kotlin's `withContext(NonCancellable)`): its
/// leaves behave normally even in a cancelled task. The grace period still
/// bounds it: when the grace ends, the task's future (this scope included) is
/// dropped.
///
/// ```
/// use std::time::Duration;
/// corio::run(async {
///     // Outside a cancelled task it is just the future.
///     corio::cleanup(corio::sleep(Duration::from_millis(1))).await;
/// });
/// ```
pub fn cleanup<F: Future>(fut: F) -> Cleanup<F> {
    Cleanup { fut }
}

pin_project_lite::pin_project! {
    /// The future returned by [`cleanup`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Cleanup<F> {
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for Cleanup<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let fut = self.project().fut;
        shielded(|| fut.poll(cx))
    }
}

/// Makes any future a cancellation point with a `Result` outcome.
pub trait Cancellable: Future + Sized {
    /// `Err(Cancelled)` at once while the task is cancelled and not shielded
    /// (at the first poll and every later one), else the future's output in
    /// `Ok`. For a future that is no corio leaf (a channel of another crate,
    /// a hand-written future), which would otherwise wait on in a cancelled
    /// task until its grace ends:
    ///
    /// ```
    /// use corio::cancel::Cancellable;
    /// corio::run(async {
    ///     let (tx, rx) = futures::channel::oneshot::channel();
    ///     tx.send(7).unwrap();
    ///     assert_eq!(rx.cancellable().await, Ok(Ok(7)));
    /// });
    /// ```
    fn cancellable(self) -> CancellableFuture<Self> {
        CancellableFuture { fut: self }
    }
}

impl<F: Future> Cancellable for F {}

pin_project_lite::pin_project! {
    /// The future returned by [`Cancellable::cancellable`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct CancellableFuture<F> {
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for CancellableFuture<F> {
    type Output = Result<F::Output, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if flag() {
            return Poll::Ready(Err(Cancelled::default()));
        }
        self.project().fut.poll(cx).map(Ok)
    }
}

/// The cancel request of one cooperative task, shared by its [`Task`](crate::Task)
/// handle and the [`Coop`] wrapper inside the task.
pub(crate) struct CancelState {
    requested: AtomicBool,
    /// Set when the task resolved as cancelled (after cleanup or grace).
    resolved_cancelled: AtomicBool,
    /// The task's waker, stored at its first poll (a corio-core task keeps
    /// one waker for its whole life).
    waker: Mutex<Option<Waker>>,
    grace: Duration,
}

impl CancelState {
    pub(crate) fn new(grace: Duration) -> Arc<Self> {
        Arc::new(CancelState {
            requested: AtomicBool::new(false),
            resolved_cancelled: AtomicBool::new(false),
            waker: Mutex::new(None),
            grace,
        })
    }

    /// Ask the task to cancel: set the flag and wake it. A second request
    /// does nothing more.
    pub(crate) fn request(&self) {
        if self.requested.swap(true, Ordering::SeqCst) {
            return;
        }
        let waker = self.waker.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(w) = waker {
            w.wake();
        }
    }

    pub(crate) fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    pub(crate) fn resolved_cancelled(&self) -> bool {
        self.resolved_cancelled.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for CancelState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelState")
            .field("requested", &self.is_requested())
            .field("grace", &self.grace)
            .finish()
    }
}

pin_project_lite::pin_project! {
    /// A cooperative task's future: polls the user's future with the cancel
    /// flag set once cancellation is requested, and gives up on it when the
    /// grace period ends. `None` means "resolve as cancelled".
    pub(crate) struct Coop<F> {
        #[pin]
        fut: Option<F>,
        state: Arc<CancelState>,
        grace: Option<Sleep>,
        polled: bool,
    }
}

impl<F> Coop<F> {
    pub(crate) fn new(fut: F, state: Arc<CancelState>) -> Self {
        Coop {
            fut: Some(fut),
            state,
            grace: None,
            polled: false,
        }
    }
}

impl<F: Future> Future for Coop<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if !*this.polled {
            *this.polled = true;
            // Stored before the flag is read: a concurrent request either
            // sees this waker or we see its flag.
            *this.state.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
        }
        let _restore = GraceGuard(GRACE.with(|g| g.replace(Some(this.state.grace))));
        let Some(fut) = this.fut.as_mut().as_pin_mut() else {
            panic!("a cooperative task's future was polled after it completed");
        };
        if this.state.is_requested() {
            // Its value, if it returns one after the cancel, is dropped: the
            // task resolves Cancelled after its cleanup.
            std::task::ready!(poll_cancelled(fut, this.grace, this.state.grace, cx));
            return end(this.fut, this.state);
        }
        let out = std::task::ready!(with_flag(false, || fut.poll(cx)));
        if this.state.is_requested() {
            // Cancelled while it finished: the value is dropped.
            drop(out);
            return end(this.fut, this.state);
        }
        this.fut.set(None);
        Poll::Ready(Some(out))
    }
}

/// Resolve a cooperative task as cancelled: its future is dropped here, so its
/// destructors run before the task resolves.
fn end<F: Future>(mut fut: Pin<&mut Option<F>>, state: &CancelState) -> Poll<Option<F::Output>> {
    fut.set(None);
    state.resolved_cancelled.store(true, Ordering::SeqCst);
    Poll::Ready(None)
}

/// A cancellation flag a blocking closure can poll (see
/// [`to_thread_cancellable`](crate::to_thread_cancellable)). Cheap to clone;
/// clones share the flag.
///
/// ```
/// let token = corio::cancel::CancelToken::new();
/// assert!(!token.is_cancelled());
/// token.cancel();
/// assert!(token.clone().is_cancelled());
/// ```
#[derive(Clone, Debug, Default)]
pub struct CancelToken {
    flag: Arc<AtomicBool>,
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancel it (idempotent).
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    /// True once cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}
