//! [`ThreadPool`]: the counterpart of Python's `concurrent.futures.ThreadPoolExecutor`.

use std::fmt;
use std::time::{Duration, Instant};

// Only the doc links name it.
#[cfg(doc)]
use crate::error::BlockingError;
use crate::pool::{Config, Pool, ShutdownMode};
use crate::task::BlockingTask;

/// A fixed-limit pool of threads, like `concurrent.futures.ThreadPoolExecutor`.
///
/// - [`ThreadPool::new(max_workers)`](ThreadPool::new); [`ThreadPool::default`]
///   uses `num_cpus + 4` workers, as Python does.
/// - Threads start lazily (an idle one is reused before a new one starts) and stay
///   until shutdown.
/// - [`submit(f)`](ThreadPool::submit) (the verb of every corio pool), whose
///   handle can be awaited or [`wait`](BlockingTask::wait)ed on from a plain thread.
/// - [`shutdown(wait)`](ThreadPool::shutdown) or
///   [`shutdown_timeout(d)`](ThreadPool::shutdown_timeout) (the same pair on every
///   corio pool): no new work is accepted (it resolves
///   with a [shutdown](BlockingError::is_shutdown) error); work already submitted still runs, as with
///   Python's default `cancel_futures=False`.
/// - Dropping the pool is `shutdown(true)`: it waits for submitted work, like leaving
///   Python's `with ThreadPoolExecutor() as pool:` block.
///
/// ```
/// use corio_blocking::ThreadPool;
///
/// let pool = ThreadPool::new(2);
/// let answer = futures::executor::block_on(pool.submit(|| 6 * 7));
/// assert_eq!(answer.unwrap(), 42);
///
/// let handle = pool.submit(|| "from a plain thread");
/// assert_eq!(handle.wait().unwrap(), "from a plain thread");
///
/// pool.shutdown(true);
/// let refused = pool.submit(|| 1).wait().unwrap_err();
/// assert!(refused.to_string().contains("shut down"));
/// ```
pub struct ThreadPool {
    pool: Pool,
    max_workers: usize,
}

impl ThreadPool {
    /// A pool running at most `max_workers` closures at once.
    ///
    /// # Panics
    /// If `max_workers` is 0 (Python's `ValueError: max_workers must be greater
    /// than 0`).
    #[track_caller]
    pub fn new(max_workers: usize) -> ThreadPool {
        ThreadPool::with_name(max_workers, "corio-thread-pool")
    }

    /// Like [`new`](ThreadPool::new), naming the threads `thread_name`
    /// (Python's `thread_name_prefix`).
    ///
    /// # Panics
    /// If `max_workers` is 0.
    #[track_caller]
    pub fn with_name(max_workers: usize, thread_name: impl Into<String>) -> ThreadPool {
        assert!(
            max_workers > 0,
            "ThreadPool: max_workers must be greater than 0"
        );
        ThreadPool {
            max_workers,
            pool: Pool::new(Config {
                max_threads: max_workers,
                idle_timeout: None,
                thread_name: thread_name.into(),
                stack_size: None,
                #[cfg(loom)]
                loom_spinner: None,
            }),
        }
    }

    /// Submits `f` (Python's `pool.submit(f)`; `await loop.run_in_executor(pool,
    /// f)` is `pool.submit(f).await`); the handle can be awaited or waited on with
    /// [`BlockingTask::wait`]. After [`shutdown`](ThreadPool::shutdown) it
    /// resolves at once with a [shutdown](BlockingError::is_shutdown) error.
    pub fn submit<F, T>(&self, f: F) -> BlockingTask<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.pool.submit(f)
    }

    /// Stops accepting work. Work already submitted still runs. With `wait`, blocks
    /// until it has all finished and every thread has exited; without, returns at
    /// once (the threads finish the queue and exit on their own).
    ///
    /// Called with `wait` from one of the pool's own closures, it waits for the other
    /// threads only (waiting for itself would deadlock).
    pub fn shutdown(&self, wait: bool) {
        self.pool.shutdown(ShutdownMode::Drain);
        if wait {
            self.pool.wait_exit(None);
        }
    }

    /// `shutdown(true)` that waits at most `timeout`; true if every thread
    /// exited in time. Threads still running a closure then are detached: they
    /// finish it, deliver its result and exit on their own.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = corio_blocking::ThreadPool::new(1);
    /// assert_eq!(pool.submit(|| 3).wait().unwrap(), 3);
    /// assert!(pool.shutdown_timeout(Duration::from_secs(10)));
    /// ```
    pub fn shutdown_timeout(&self, timeout: Duration) -> bool {
        self.pool.shutdown(ShutdownMode::Drain);
        self.pool.wait_exit(Instant::now().checked_add(timeout))
    }

    /// The `max_workers` this pool was built with.
    pub fn max_workers(&self) -> usize {
        self.max_workers
    }

    /// The number of threads alive now.
    pub fn thread_count(&self) -> usize {
        self.pool.thread_count()
    }

    /// True once [`shutdown`](ThreadPool::shutdown) has been called.
    pub fn is_shutdown(&self) -> bool {
        self.pool.is_shutdown()
    }
}

impl Default for ThreadPool {
    /// `num_cpus::get() + 4` workers, Python's default (at least 5 threads for
    /// I/O-bound work, at most what the machine's cores keep busy plus a few).
    fn default() -> Self {
        ThreadPool::new(num_cpus::get() + 4)
    }
}

impl Drop for ThreadPool {
    /// `shutdown(true)`: waits for the submitted work, like leaving a `with` block.
    fn drop(&mut self) {
        self.shutdown(true);
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("max_workers", &self.max_workers)
            .field("thread_count", &self.thread_count())
            .field("shutdown", &self.is_shutdown())
            .finish()
    }
}
