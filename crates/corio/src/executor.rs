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
//!   `ThreadPoolExecutor`) or any [`Executor`];
//! * a `ProcessPool` (feature `process-pool`) runs *registered* functions in child processes of the
//!   current executable: `pool.run(&FUNC, arg).await` (closures cannot cross a
//!   process boundary, so it is not an `Executor`).
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
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::cancel::CancelToken;

#[cfg(feature = "process-pool")]
pub use corio_blocking::ProcessPool;
pub use corio_blocking::{BlockingError, BlockingPool, BlockingTask, ThreadPool};

/// A boxed job whose boxed result is handed back through a [`BlockingTask`].
pub type Job = Box<dyn FnOnce() -> Box<dyn Any + Send> + Send + 'static>;

/// Something that runs blocking closures on its threads (asyncio's
/// `concurrent.futures.Executor`), usable with [`run_in_executor`].
///
/// Implemented for [`ThreadPool`] and [`BlockingPool`]; implement it to plug in
/// your own pool.
pub trait Executor: Send + Sync {
    /// Run `job` on a pool thread; the returned task resolves with its output.
    fn execute(&self, job: Job) -> BlockingTask<Box<dyn Any + Send>>;
}

impl Executor for ThreadPool {
    fn execute(&self, job: Job) -> BlockingTask<Box<dyn Any + Send>> {
        self.submit(job)
    }
}

impl Executor for BlockingPool {
    fn execute(&self, job: Job) -> BlockingTask<Box<dyn Any + Send>> {
        self.spawn(job)
    }
}

/// Run `f` in `executor`, or in the runtime's blocking pool when `None`
/// (`loop.run_in_executor(executor, func)`).
///
/// The output is `Err(BlockingError)` when `f` panicked (the payload is kept) or
/// the pool was shut down. Dropping the future does not stop `f` once started
/// (a thread cannot be interrupted); its result is dropped.
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
pub fn run_in_executor<F, T>(executor: Option<&dyn Executor>, f: F) -> RunInExecutor<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let job: Job = Box::new(move || Box::new(f()) as Box<dyn Any + Send>);
    let task = match executor {
        Some(ex) => ex.execute(job),
        None => {
            let handle = crate::runtime::Handle::try_current().unwrap_or_else(|| {
                panic!(
                    "corio::run_in_executor(None, ..) / corio::to_thread called outside a corio \
                     runtime: there is no default pool here; call it inside corio::run(...), or \
                     pass Some(&pool) with your own ThreadPool"
                )
            });
            handle.shared.blocking.spawn(job)
        }
    };
    RunInExecutor {
        task,
        token: None,
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
    task: BlockingTask<Box<dyn Any + Send>>,
    /// For [`to_thread_cancellable`]: cancelled when the awaiter gives up.
    token: Option<CancelToken>,
    _out: PhantomData<fn() -> T>,
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
        // Awaiting a blocking job is a leaf: a cancelled task stops waiting
        // (the job itself runs on; see `to_thread_cancellable`).
        if crate::cancel::is_cancelled() {
            if let Some(t) = &self.token {
                t.cancel();
            }
            return Poll::Ready(Err(BlockingError::Cancelled));
        }
        Pin::new(&mut self.task).poll(cx).map(|res| {
            res.map(|boxed| match boxed.downcast::<T>() {
                Ok(v) => *v,
                // The job built above always boxes a `T`.
                Err(_) => unreachable!("run_in_executor: the job returned another type"),
            })
        })
    }
}
