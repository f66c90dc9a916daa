//! [`BlockingPool`]: the elastic pool behind `loop.run_in_executor(None, f)` /
//! `asyncio.to_thread(f)`, and the process-wide default one behind [`spawn_blocking`].

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// Only the doc links name it.
#[cfg(doc)]
use crate::error::BlockingError;
use crate::pool::{Config, Pool, ShutdownMode};
use crate::task::BlockingTask;

/// Default thread limit, as tokio's blocking pool: high, because blocking
/// closures mostly wait (on disks, DNS, locks) rather than use a core.
const DEFAULT_MAX_THREADS: usize = 512;
/// Default idle timeout, as tokio's blocking pool: long enough that a bursty
/// program does not pay thread start-up on every burst.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// An elastic pool of threads for blocking closures.
///
/// - Threads start on demand: a thread is started only when no idle thread exists
///   (and fewer than [`max_threads`](Builder::max_threads) are alive); otherwise an
///   idle one is reused.
/// - Idle threads exit after [`idle_timeout`](Builder::idle_timeout).
/// - [`submit`](BlockingPool::submit) returns a [`BlockingTask`], a plain future that
///   any executor can await; a panic in the closure resolves it with
///   a [panic](BlockingError::is_panic) error and leaves the pool intact.
/// - [`shutdown(wait)`](BlockingPool::shutdown) /
///   [`shutdown_timeout`](BlockingPool::shutdown_timeout) drop queued closures that
///   never started and waits (bounded) for running ones. Dropping the pool does the
///   same without waiting.
///
/// ```
/// use corio_blocking::BlockingPool;
/// use std::time::Duration;
///
/// let pool = BlockingPool::builder()
///     .max_threads(4)
///     .idle_timeout(Duration::from_secs(1))
///     .thread_name("my-blocking")
///     .build();
/// let len = futures::executor::block_on(pool.submit(|| std::fs::read("/etc/hostname").map(|b| b.len())));
/// assert!(len.unwrap().is_ok());
/// assert!(pool.thread_count() >= 1);
/// ```
pub struct BlockingPool {
    pool: Pool,
    max_threads: usize,
}

/// Configures a [`BlockingPool`]; see [`BlockingPool::builder`].
#[derive(Clone, Debug)]
pub struct Builder {
    max_threads: usize,
    idle_timeout: Duration,
    thread_name: String,
    stack_size: Option<usize>,
    #[cfg(loom)]
    loom_spinner: Option<bool>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            max_threads: DEFAULT_MAX_THREADS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            thread_name: "corio-blocking".to_owned(),
            stack_size: None,
            #[cfg(loom)]
            loom_spinner: None,
        }
    }
}

impl Builder {
    /// A builder with the defaults: 512 threads at most, 10 s idle timeout,
    /// threads named `corio-blocking`.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The most threads alive at once (default 512). Work beyond that queues.
    ///
    /// # Panics
    /// If `n` is 0.
    #[must_use]
    #[track_caller]
    pub fn max_threads(mut self, n: usize) -> Builder {
        assert!(n > 0, "BlockingPool: max_threads must be greater than 0");
        self.max_threads = n;
        self
    }

    /// How long an idle thread waits for work before it exits (default 10 s).
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Builder {
        self.idle_timeout = timeout;
        self
    }

    /// The name of the pool's threads (default `corio-blocking`).
    #[must_use]
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        self.thread_name = name.into();
        self
    }

    /// The stack size of the pool's threads, in bytes (default: std's).
    #[must_use]
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Under loom only: idle threads spin (two polls of the queue), and a push
    /// counts on the spinner (`true`) or treats it as switched out by the kernel
    /// (`false`), so the models in `tests/loom.rs` cover both claims.
    #[cfg(loom)]
    #[doc(hidden)]
    #[must_use]
    pub fn loom_spinner(mut self, counted_on: bool) -> Builder {
        self.loom_spinner = Some(counted_on);
        self
    }

    /// Builds the pool. No thread starts until the first [`submit`](BlockingPool::submit).
    pub fn build(self) -> BlockingPool {
        BlockingPool {
            max_threads: self.max_threads,
            pool: Pool::new(Config {
                max_threads: self.max_threads,
                idle_timeout: Some(self.idle_timeout),
                thread_name: self.thread_name,
                stack_size: self.stack_size,
                #[cfg(loom)]
                loom_spinner: self.loom_spinner,
            }),
        }
    }
}

impl Default for BlockingPool {
    fn default() -> Self {
        BlockingPool::new()
    }
}

impl BlockingPool {
    /// A pool with the default settings (see [`Builder::new`]).
    pub fn new() -> BlockingPool {
        Builder::new().build()
    }

    /// A builder to configure the thread limit, idle timeout and thread names.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `f` on a pool thread; the returned task resolves with its result.
    ///
    /// Never blocks and never fails synchronously: on a pool that has been shut
    /// down the task resolves at once with a [shutdown](BlockingError::is_shutdown) error.
    ///
    /// ```
    /// let pool = corio_blocking::BlockingPool::new();
    /// let task = pool.submit(|| 1 + 1);
    /// assert_eq!(futures::executor::block_on(task).unwrap(), 2);
    /// ```
    pub fn submit<F, T>(&self, f: F) -> BlockingTask<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.pool.submit(f)
    }

    /// The number of threads alive now (busy or idle).
    pub fn thread_count(&self) -> usize {
        self.pool.thread_count()
    }

    /// The number of threads waiting for work now.
    pub fn idle_count(&self) -> usize {
        self.pool.idle_count()
    }

    /// The thread limit this pool was built with.
    pub fn max_threads(&self) -> usize {
        self.max_threads
    }

    /// True once the pool has been shut down (it refuses new work).
    pub fn is_shutdown(&self) -> bool {
        self.pool.is_shutdown()
    }

    /// Shuts the pool down: closures still queued (never started) are dropped and
    /// their tasks resolve with a [cancelled](BlockingError::is_cancelled) error; later `submit`s resolve
    /// with a [shutdown](BlockingError::is_shutdown) error; running closures are waited for, at most
    /// `timeout`.
    ///
    /// Returns true if every thread exited in time. Threads still running a closure
    /// when the timeout passes are **detached**: a running closure cannot be
    /// interrupted, so such a thread finishes it, delivers its result, and exits on
    /// its own. Called from one of the pool's own closures, it waits for the others.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = corio_blocking::BlockingPool::new();
    /// let task = pool.submit(|| 7);
    /// assert_eq!(task.wait().unwrap(), 7);
    /// assert!(pool.shutdown_timeout(Duration::from_secs(5)));
    /// assert_eq!(pool.thread_count(), 0);
    /// assert!(pool.submit(|| 8).wait().unwrap_err().is_shutdown());
    /// ```
    pub fn shutdown_timeout(&self, timeout: Duration) -> bool {
        self.pool.shutdown(ShutdownMode::DropQueued);
        self.pool.wait_exit(Instant::now().checked_add(timeout))
    }

    /// The same shutdown as [`shutdown_timeout`](Self::shutdown_timeout); with
    /// `wait`, blocks until every running closure has finished, without, returns
    /// at once (running closures finish on their detached threads).
    ///
    /// ```
    /// let pool = corio_blocking::BlockingPool::new();
    /// assert_eq!(pool.submit(|| 7).wait().unwrap(), 7);
    /// pool.shutdown(true);
    /// assert_eq!(pool.thread_count(), 0);
    /// ```
    pub fn shutdown(&self, wait: bool) {
        self.pool.shutdown(ShutdownMode::DropQueued);
        if wait {
            self.pool.wait_exit(None);
        }
    }
}

impl Drop for BlockingPool {
    /// Shuts down without waiting: queued closures are dropped, running ones finish
    /// on their (detached) threads.
    fn drop(&mut self) {
        self.pool.shutdown(ShutdownMode::DropQueued);
    }
}

impl fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingPool")
            .field("max_threads", &self.max_threads)
            .field("thread_count", &self.thread_count())
            .field("idle_count", &self.idle_count())
            .field("shutdown", &self.is_shutdown())
            .finish()
    }
}

/// The process-wide pool used by [`spawn_blocking`], built on first use with the
/// defaults (512 threads, 10 s idle timeout). It is never shut down.
pub fn default_pool() -> &'static BlockingPool {
    static DEFAULT: OnceLock<BlockingPool> = OnceLock::new();
    DEFAULT.get_or_init(BlockingPool::new)
}

/// Runs `f` on the process-wide default [`BlockingPool`]: the counterpart of
/// `loop.run_in_executor(None, f)` and `asyncio.to_thread(f)`.
///
/// The returned [`BlockingTask`] is a plain future, usable from any executor.
///
/// ```
/// use std::io::Read;
///
/// // The seed's `blocking_io()`: file reads block, so they go to a pool thread.
/// let bytes = futures::executor::block_on(corio_blocking::spawn_blocking(|| {
///     let mut buf = vec![0u8; 100];
///     std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
///     Ok::<_, std::io::Error>(buf)
/// }));
/// assert_eq!(bytes.unwrap().unwrap().len(), 100);
/// ```
pub fn spawn_blocking<F, T>(f: F) -> BlockingTask<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    default_pool().submit(f)
}
