//! Running blocking code: [`run_in_executor`], [`to_thread`], and the pools.
//!
//! A task must not block its worker (debug mode reports it when it does). Code
//! that blocks — file I/O, a C library, a long computation — goes to a pool:
//!
//! * [`to_thread(f)`](to_thread) / [`run_in_executor(None, f)`](run_in_executor):
//!   the runtime's own elastic blocking pool (threads start on demand, up to
//!   [`Builder::max_blocking_threads`](crate::Builder::max_blocking_threads),
//!   and retire when idle);
//! * `run_in_executor(Some(&pool), f)` with a [`ThreadPool`] (asyncio's
//!   `ThreadPoolExecutor`) or any [`BlockingExecutor`];
//! * a `ProcessPool` (feature `process-pool`) runs *registered* functions in child processes of the
//!   current executable: `pool.submit(&FUNC, arg).await` (closures cannot cross a
//!   process boundary, so it is not a `BlockingExecutor`).
//!
//! There is no GIL: a `ThreadPool` runs CPU-bound closures in parallel.
//!
//! ```
//! use corio::ThreadPool;
//!
//! corio::run(async {
//!     let a = corio::to_thread(|| 6 * 7).await.unwrap();
//!     let pool = ThreadPool::new(2);
//!     let b = corio::run_in_executor(Some(&pool), || "from a pool").await.unwrap();
//!     assert_eq!((a, b), (42, "from a pool"));
//! });
//! ```

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::cancel::CancelToken;

#[cfg(feature = "process-pool")]
pub use corio_blocking::ProcessPool;
pub use corio_blocking::{BlockingError, BlockingPool, BlockingTask, ThreadPool};

/// Something that runs blocking closures on its threads (asyncio's
/// `concurrent.futures.Executor`), usable with [`run_in_executor`].
///
/// Implemented for [`ThreadPool`] and [`BlockingPool`]. To plug in your own
/// pool, run each [`Job`] you are given on one of your threads:
///
/// ```
/// use corio::{BlockingExecutor, Job};
///
/// /// One fresh thread per job.
/// struct ThreadPerJob;
///
/// impl BlockingExecutor for ThreadPerJob {
///     fn execute(&self, job: Job) {
///         std::thread::spawn(move || job.run());
///     }
/// }
///
/// corio::run(async {
///     let n = corio::run_in_executor(Some(&ThreadPerJob), || 6 * 7).await.unwrap();
///     assert_eq!(n, 42);
/// });
/// ```
pub trait BlockingExecutor: Send + Sync {
    /// Run `job` (call [`Job::run`]) on a thread of this executor. A job
    /// dropped without running resolves its awaiter with
    /// a [cancelled](BlockingError::is_cancelled) error.
    fn execute(&self, job: Job);
}

/// The type-erased result a [`Job`] hands back to its awaiter.
type Boxed = Box<dyn Any + Send>;

/// One closure handed to a [`BlockingExecutor`]: [`run`](Job::run) it on the
/// executor's thread; its result (or its panic) goes to the
/// [`run_in_executor`] future awaiting it.
pub struct Job {
    work: Option<Box<dyn FnOnce() -> Boxed + Send>>,
    done: Arc<Slot>,
}

/// A job's result on its way to the awaiter: a one-shot, one-waiter slot.
#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
}

/// The result once delivered, and the awaiter's waker while it waits.
type SlotState = (Option<Result<Boxed, BlockingError>>, Option<Waker>);

impl Slot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        // The guarded code cannot panic; a poisoned lock still holds valid data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, out: Result<Boxed, BlockingError>) {
        let waker = {
            let mut st = self.lock();
            st.0 = Some(out);
            st.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn is_set(&self) -> bool {
        self.lock().0.is_some()
    }

    fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Result<Boxed, BlockingError>> {
        let mut st = self.lock();
        match st.0.take() {
            Some(out) => Poll::Ready(out),
            None => {
                st.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Job {
    /// Run the closure on the calling thread and deliver its result. A panic is
    /// caught and delivered as a [panic](BlockingError::is_panic) error; it does not unwind
    /// into the executor's thread.
    pub fn run(mut self) {
        if let Some(work) = self.work.take() {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                .map_err(BlockingError::panicked);
            self.done.set(out);
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if self.work.is_some() {
            self.done.set(Err(BlockingError::cancelled()));
        }
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("ran", &self.work.is_none())
            .finish()
    }
}

impl BlockingExecutor for ThreadPool {
    fn execute(&self, job: Job) {
        // After shutdown the closure (and so the job) is dropped unrun: the
        // awaiter sees `Cancelled`. The handle is not needed: the job delivers.
        drop(self.submit(move || job.run()));
    }
}

impl BlockingExecutor for BlockingPool {
    fn execute(&self, job: Job) {
        drop(self.submit(move || job.run()));
    }
}

/// Run `f` in `executor`, or in the runtime's blocking pool when `None`
/// (`loop.run_in_executor(executor, func)`).
///
/// The output is `Err(BlockingError)` when `f` panicked (the payload is kept) or
/// the pool was shut down. Dropping the future does not stop `f` once started
/// (a thread cannot be interrupted); its result is dropped. While the task
/// waits for `f`, the caller's line is its await point in the
/// [task tree](crate::task_tree) (also for [`to_thread`]).
///
/// # Panics
/// With `None`, outside a runtime (there is no default pool to use).
///
/// ```
/// corio::run(async {
///     let n = corio::run_in_executor(None, || (1..=10u64).sum::<u64>()).await.unwrap();
///     assert_eq!(n, 55);
/// });
/// ```
#[track_caller]
pub fn run_in_executor<F, T>(executor: Option<&dyn BlockingExecutor>, f: F) -> RunInExecutor<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let work = Box::new(move || Box::new(f()) as Boxed);
    #[cfg(feature = "sim")]
    if crate::sim::is_active() {
        // No threads in a simulation: the job runs here, whatever the
        // executor, and its result is ready after a virtual cost.
        let done = Arc::new(Slot::default());
        Job {
            work: Some(work),
            done: done.clone(),
        }
        .run();
        return RunInExecutor {
            task: Pending::Job(done),
            token: None,
            cost: crate::sim::blocking_cost(),
            at: Location::caller(),
            _out: PhantomData,
        };
    }
    let task = match executor {
        Some(ex) => {
            let done = Arc::new(Slot::default());
            ex.execute(Job {
                work: Some(work),
                done: done.clone(),
            });
            Pending::Job(done)
        }
        None => {
            let handle = crate::runtime::Handle::try_current().unwrap_or_else(|| {
                crate::runtime::outside_runtime(
                    "corio::run_in_executor(None, ..) / corio::to_thread()",
                )
            });
            match handle.blocking_pool() {
                Some(pool) => Pending::Pool(pool.submit(work)),
                None => unreachable!("a simulation runs blocking work inline (above)"),
            }
        }
    };
    RunInExecutor {
        task,
        token: None,
        #[cfg(feature = "sim")]
        cost: None,
        at: Location::caller(),
        _out: PhantomData,
    }
}

/// [`to_thread`] for a closure that can see its awaiter's cancellation: the
/// [`CancelToken`] it gets is cancelled when the awaiting task is cancelled
/// (cooperatively, see [`crate::cancel`]) or the returned future is dropped
/// unfinished (a timeout, a dropped task). A thread cannot be interrupted, so
/// the closure polls the token and returns early.
///
/// ```
/// use std::time::Duration;
/// corio::run(async {
///     let r = corio::wait_for(
///         corio::to_thread_cancellable(|token| {
///             while !token.is_cancelled() {
///                 std::thread::sleep(Duration::from_millis(1));
///             }
///             "stopped"
///         }),
///         Duration::from_millis(20),
///     )
///     .await;
///     assert!(r.is_err()); // timed out; the closure saw the token and stopped
/// });
/// ```
#[track_caller]
pub fn to_thread_cancellable<F, T>(f: F) -> RunInExecutor<T>
where
    F: FnOnce(&CancelToken) -> T + Send + 'static,
    T: Send + 'static,
{
    let token = CancelToken::new();
    let for_job = token.clone();
    let mut fut = run_in_executor(None, move || f(&for_job));
    fut.token = Some(token);
    fut
}

/// Run `f` on the runtime's blocking pool (`asyncio.to_thread(func)`).
///
/// ```
/// corio::run(async {
///     let bytes = corio::to_thread(|| std::fs::read("/dev/null")).await.unwrap().unwrap();
///     assert!(bytes.is_empty());
/// });
/// ```
#[track_caller]
pub fn to_thread<F, T>(f: F) -> RunInExecutor<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    run_in_executor(None, f)
}

/// The future returned by [`run_in_executor`] and [`to_thread`].
#[must_use = "the work runs anyway, but its result is lost unless awaited"]
pub struct RunInExecutor<T> {
    task: Pending,
    /// For [`to_thread_cancellable`]: cancelled when the awaiter gives up.
    token: Option<CancelToken>,
    /// In a simulation: the job's virtual cost, waited before the result.
    #[cfg(feature = "sim")]
    cost: Option<corio_reactor::timer::Sleep>,
    /// The caller of `to_thread` / `run_in_executor`: the task's await point
    /// while the job runs.
    at: &'static Location<'static>,
    _out: PhantomData<fn() -> T>,
}

/// Where a [`RunInExecutor`]'s result comes from.
enum Pending {
    /// The runtime's own blocking pool.
    Pool(BlockingTask<Boxed>),
    /// A [`Job`] handed to a [`BlockingExecutor`].
    Job(Arc<Slot>),
}

impl Pending {
    fn is_finished(&self) -> bool {
        match self {
            Pending::Pool(t) => t.is_finished(),
            Pending::Job(d) => d.is_set(),
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<Boxed, BlockingError>> {
        match self {
            Pending::Pool(t) => Pin::new(t).poll(cx),
            Pending::Job(d) => d.poll_take(cx),
        }
    }
}

impl<T> Drop for RunInExecutor<T> {
    fn drop(&mut self) {
        if let Some(t) = &self.token {
            if !self.task.is_finished() {
                t.cancel();
            }
        }
    }
}

impl<T> fmt::Debug for RunInExecutor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunInExecutor")
            .field("finished", &self.task.is_finished())
            .finish()
    }
}

impl<T: 'static> Future for RunInExecutor<T> {
    type Output = Result<T, BlockingError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let at = self.at;
        crate::tree::pending_at(self.poll_result(cx), at)
    }
}

impl<T: 'static> RunInExecutor<T> {
    /// [`Future::poll`] without recording the await point.
    fn poll_result(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, BlockingError>> {
        // Awaiting a blocking job is a leaf: a cancelled task stops waiting
        // (the job itself runs on; see `to_thread_cancellable`).
        if crate::cancel::is_cancelled() {
            if let Some(t) = &self.token {
                t.cancel();
            }
            return Poll::Ready(Err(BlockingError::cancelled()));
        }
        #[cfg(feature = "sim")]
        if let Some(cost) = self.cost.as_mut() {
            if Pin::new(cost).poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.cost = None;
        }
        self.task.poll(cx).map(|res| {
            res.map(|boxed| match boxed.downcast::<T>() {
                Ok(v) => *v,
                // The job built above always boxes a `T`.
                Err(_) => unreachable!("run_in_executor: the job returned another type"),
            })
        })
    }
}
