//! [`ProcessPool`]: CPU-bound work in child processes, the counterpart of Python's
//! `concurrent.futures.ProcessPoolExecutor`.
//!
//! # How it works
//!
//! Python pickles a module-level function by name and the child imports the module
//! to find it. Rust cannot send code, so the program **registers** the functions a
//! worker may run, and the pool starts copies of the *current executable* as
//! workers:
//!
//! ```
//! use corio_blocking::process::{maybe_run_worker, ProcessPool, RemoteFn};
//!
//! fn cpu_bound(n: u64) -> u128 {
//!     (0..n as u128).map(|i| i * i).sum()
//! }
//! static CPU_BOUND: RemoteFn<u64, u128> = RemoteFn::new("cpu_bound", cpu_bound);
//!
//! fn main() {
//!     // First thing in main: the counterpart of Python's
//!     // `if __name__ == "__main__":` guard. In a worker process this serves the
//!     // parent's requests and exits; in the parent it returns at once.
//!     maybe_run_worker(&[&CPU_BOUND]);
//!
//!     let pool = ProcessPool::new(2);
//!     let sum = futures::executor::block_on(pool.submit(&CPU_BOUND, 10_000_000)).unwrap();
//!     assert_eq!(sum, 333_333_283_333_335_000_000);
//! }
//! ```
//!
//! `maybe_run_worker` must run before anything else in `main` (in particular before
//! anything prints to stdout or starts another pool): a worker is the same program,
//! and everything before the call runs in every worker too.
//!
//! # Protocol and guarantees
//!
//! - Arguments and results are serialized with postcard in length-prefixed frames
//!   over the worker's stdin (requests) and stdout (replies); see `wire.rs`. In the
//!   worker, fd 0 is then pointed at /dev/null and fd 1 at stderr, so a function
//!   that prints cannot corrupt the stream.
//! - A worker runs only functions passed to [`maybe_run_worker`], and reads requests
//!   only from the pipe its parent created (see [Security](#security)). It announces
//!   the names it knows in a handshake, so an unknown name fails at once with
//!   an [unknown-function](BlockingError::is_unknown_function) error (the worker checks again itself).
//! - A panic in a function is caught in the worker and becomes
//!   a [panic](BlockingError::is_panic) error for that call; the worker lives on.
//! - A worker that dies mid-call (killed, aborted, exited) fails that call with
//!   a [broken-pool](BlockingError::is_broken_pool) error naming the signal or exit status; it is reaped and
//!   a fresh worker is started in its place at once. Other calls are unaffected. A
//!   worker that dies while idle is noticed when it dies (a pidfd per worker on
//!   Linux, watched by the pool's monitor thread; a check every 100 ms elsewhere):
//!   it leaves [`worker_pids`](ProcessPool::worker_pids), is reaped (no zombie)
//!   and replaced without waiting for the next call.
//! - Nothing a worker sends can make the parent allocate much more than it
//!   received: a reply is read as its bytes arrive, and a reply announced above
//!   [`max_reply_size`](ProcessPoolBuilder::max_reply_size) (default 8 MiB) is
//!   refused unread with a [reply-too-large](BlockingError::is_reply_too_large) error, and the worker replaced.
//! - A call can have a timeout ([`ProcessPool::submit_timeout`],
//!   [`call_timeout`](ProcessPoolBuilder::call_timeout)): past it the worker is
//!   killed and replaced, and the call fails with a [timeout](BlockingError::is_timeout) error.
//! - Each worker is owned by one parent thread (its *driver*) that spawned it, sends
//!   it one request at a time, and reaps it. Workers exit when their stdin closes
//!   (pool shutdown, or the parent died); on Linux they also get SIGKILL if the
//!   driver thread dies (`PR_SET_PDEATHSIG`). Shutdown and drop are bounded: calls
//!   already submitted get the pool's
//!   [`shutdown_grace`](ProcessPoolBuilder::shutdown_grace) (default 10 s) to
//!   finish, then the workers still busy are killed. [`shutdown(true)`](ProcessPool::shutdown)
//!   returns only after every worker has been reaped: no zombies, no orphans.
//!
//! # Security
//!
//! Worker mode runs registered functions on arguments read from stdin and prints
//! the names of all registered functions, skipping `main` and whatever checks it
//! makes. So a program becomes a worker **only when its own parent pool started
//! it**; anyone else who runs it (with any environment and any stdin) gets `main`.
//! [`maybe_run_worker`] serves only if every one of these holds, checked in this
//! order before it reads a request or writes a byte:
//!
//! 1. `CORIO_PROCESS_POOL_WORKER` is set to a number equal to the parent's pid.
//!    Absent: not a worker, nothing else is looked at. Any other value (not a
//!    number, another pid): not a worker.
//! 2. The process is not privileged: no `AT_SECURE` in its auxiliary vector
//!    (setuid, setgid, file capabilities; elsewhere than Linux: real and effective
//!    user and group ids differ).
//!    Whoever starts a setuid program chooses its environment and stdin, and must
//!    not get its privileges through them. A privileged process also refuses to
//!    *start* workers, with a [start-failure](BlockingError::is_start_failure) error.
//! 3. fd 0 and fd 1 are both pipes: never a file, a terminal, or a socket (an
//!    inetd-style service would otherwise serve the network).
//! 4. On Linux, the parent process runs the same executable file (same device and
//!    inode of `/proc/<ppid>/exe` and `/proc/self/exe`; a pool whose executable was
//!    replaced on disk starts `/proc/self/exe`), or has it mapped (a parent run by
//!    valgrind, `ld.so` or an emulator, whose `/proc/<ppid>/exe` is the tool). A
//!    shell or launcher that sets the variable to its own pid and hands over pipes
//!    fails here.
//! 5. stdin starts with a per-spawn random secret (32 bytes from `/dev/urandom`
//!    behind a fixed 8-byte tag), written there by the parent and never put in the
//!    environment or the arguments. The worker echoes it before its handshake and
//!    the parent compares it in constant time, so a pool only ever talks to the
//!    process that read its own request pipe; a stream that does not start with
//!    the tag (a file's contents, another program's output, an old-style request)
//!    is refused. The worker cannot tell a right secret from a wrong one by itself
//!    (only its parent knows the secret): checks 1-4 decide who the parent is.
//!
//! The variable is removed from the environment in every case, so processes the
//! program starts later never see it. A refused process prints one line saying why
//! on stderr, runs `main` normally, and refuses to start pool workers of its own
//! (with a [start-failure](BlockingError::is_start_failure) error saying why: a pool child that failed a
//! check would otherwise start children that fail it too). If check 5 fails, the
//! bytes it read (at most 40) are gone from stdin; checks 1-4 consume nothing.
//! A worker also exits when its parent does (end of file on stdin, and
//! `PR_SET_PDEATHSIG` on Linux).

mod child;
mod driver;
mod gate;
mod monitor;
mod sys;
mod wire;
mod worker;

use std::collections::VecDeque;
use std::fmt;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::{Arc as StdArc, OnceLock};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::BlockingError;
use crate::pool::{spawn_error, Counts, HasBacklog, QueueOf, SPIN_TIME};
use crate::spinner::Spinner;
use crate::sync::{lock, thread, AtomicBool, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering};
use crate::task::{BlockingTask, Decode, Slot};

/// Set in a worker's environment (to the parent's pid) to mark it as a worker.
const WORKER_ENV: &str = "CORIO_PROCESS_POOL_WORKER";

/// A function a worker process can run, known by name. Implemented by [`RemoteFn`];
/// pass a list of them to [`maybe_run_worker`].
pub trait Registered: Sync {
    /// The name the pool sends to the worker.
    fn name(&self) -> &'static str;
    /// Decodes the argument, calls the function, encodes the result.
    /// `Err` (a message) if the argument or result does not (de)serialize.
    fn call_encoded(&self, arg: &[u8]) -> Result<Vec<u8>, String>;
}

/// A plain function registered under a name, with typed (serde) argument and result.
///
/// Declare it as a `static` next to the function, register it with
/// [`maybe_run_worker`], and run it with [`ProcessPool::submit`]. Several arguments go in
/// a tuple.
///
/// ```
/// use corio_blocking::process::RemoteFn;
///
/// fn add((a, b): (i64, i64)) -> i64 { a + b }
/// static ADD: RemoteFn<(i64, i64), i64> = RemoteFn::new("add", add);
///
/// assert_eq!(ADD.name(), "add");
/// assert_eq!(ADD.call_local((2, 3)), 5); // in this process, no pool involved
/// ```
pub struct RemoteFn<A, R> {
    name: &'static str,
    func: fn(A) -> R,
}

impl<A, R> RemoteFn<A, R> {
    /// Registers `func` under `name` (unique within the program).
    pub const fn new(name: &'static str, func: fn(A) -> R) -> Self {
        RemoteFn { name, func }
    }

    /// The registered name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Calls the function in this process.
    pub fn call_local(&self, arg: A) -> R {
        (self.func)(arg)
    }
}

impl<A, R> fmt::Debug for RemoteFn<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteFn")
            .field("name", &self.name)
            .finish()
    }
}

impl<A, R> Registered for RemoteFn<A, R>
where
    A: DeserializeOwned,
    R: Serialize,
{
    fn name(&self) -> &'static str {
        self.name
    }

    fn call_encoded(&self, arg: &[u8]) -> Result<Vec<u8>, String> {
        let arg: A = postcard::from_bytes(arg)
            .map_err(|e| format!("decoding the argument of `{}` failed: {e}", self.name))?;
        let result = (self.func)(arg);
        postcard::to_stdvec(&result)
            .map_err(|e| format!("encoding the result of `{}` failed: {e}", self.name))
    }
}

/// The worker entry point: call it first thing in `main`.
///
/// In a process started by a [`ProcessPool`] it serves the parent's requests with
/// `functions` and then **exits the process** (when the parent closes the pipe);
/// in any other process it returns at once. It is the counterpart of Python's
/// `if __name__ == "__main__":` guard: whatever runs before it runs in every worker.
///
/// Call it before starting any thread: in a worker it removes its marker variable
/// from the environment (so processes the functions start are not workers), and
/// changing the environment is only sound while the process is single-threaded.
///
/// Test binaries that use a `ProcessPool` need a `main` of their own (an
/// integration test with `harness = false`) that calls this first, so a worker
/// started from the test binary does not run the tests.
///
/// ```
/// use corio_blocking::process::{maybe_run_worker, RemoteFn};
///
/// fn double(x: u32) -> u32 { x * 2 }
/// static DOUBLE: RemoteFn<u32, u32> = RemoteFn::new("double", double);
///
/// maybe_run_worker(&[&DOUBLE]); // not a worker here: returns at once
/// ```
pub fn maybe_run_worker(functions: &[&dyn Registered]) {
    let Some(marker) = std::env::var_os(WORKER_ENV) else {
        return;
    };
    // Our own children (if a function starts processes, or `main` runs on) are
    // not workers.
    std::env::remove_var(WORKER_ENV);
    match gate::admit(&marker) {
        Ok((parent, secret)) => std::process::exit(worker::serve(parent, &secret, functions)),
        Err(reason) => {
            eprintln!(
                "corio: {WORKER_ENV} is set, but this process was not started by a process pool \
                 ({reason}); running main as a normal program"
            );
            let _ = REFUSED.set(reason);
        }
    }
}

/// Why [`maybe_run_worker`] refused worker mode in this process, if it did. Such a
/// process runs `main` normally but starts no workers of its own: if the refusal
/// was a pool's child failing a check, its workers would fail it too, and each
/// would start the next.
static REFUSED: OnceLock<String> = OnceLock::new();

/// True in a process that was started with the worker marker in its environment
/// (normally: by a [`ProcessPool`]) and has not yet called [`maybe_run_worker`].
pub fn is_worker_process() -> bool {
    std::env::var_os(WORKER_ENV).is_some()
}

/// A pool of worker processes running [`RemoteFn`]s, like `ProcessPoolExecutor`.
///
/// See the [module docs](self) for the set-up (`maybe_run_worker` in `main`) and the
/// guarantees. Workers start lazily, up to `max_workers`, and are reused across
/// calls; each runs one call at a time. [`ProcessPool::builder`] sets the limits
/// (reply size, call timeout, shutdown grace period).
///
/// ```
/// # use corio_blocking::process::{maybe_run_worker, ProcessPool, RemoteFn};
/// # fn square(x: u64) -> u64 { x * x }
/// # static SQUARE: RemoteFn<u64, u64> = RemoteFn::new("square", square);
/// # fn main() {
/// maybe_run_worker(&[&SQUARE]);
/// let pool = ProcessPool::default(); // num_cpus workers
/// let nine = futures::executor::block_on(pool.submit(&SQUARE, 3)).unwrap();
/// assert_eq!(nine, 9);
/// pool.shutdown(true);
/// # }
/// ```
pub struct ProcessPool {
    shared: StdArc<Shared>,
}

/// Builds a [`ProcessPool`] with limits other than the defaults.
///
/// ```
/// # use corio_blocking::process::{maybe_run_worker, ProcessPool, RemoteFn};
/// # use std::time::Duration;
/// # fn square(x: u64) -> u64 { x * x }
/// # static SQUARE: RemoteFn<u64, u64> = RemoteFn::new("square", square);
/// # fn main() {
/// maybe_run_worker(&[&SQUARE]);
/// let pool = ProcessPool::builder()
///     .max_workers(2)
///     .max_reply_size(1 << 20)                // 1 MiB replies at most
///     .call_timeout(Duration::from_secs(60))  // a call that hangs is killed
///     .shutdown_grace(Duration::from_secs(1)) // shutdown/drop wait at most ~1 s
///     .build();
/// assert_eq!(futures::executor::block_on(pool.submit(&SQUARE, 4)).unwrap(), 16);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ProcessPoolBuilder {
    config: Config,
}

#[derive(Debug, Clone)]
struct Config {
    max_workers: usize,
    max_reply_size: usize,
    call_timeout: Option<Duration>,
    shutdown_grace: Duration,
}

/// Default [`ProcessPoolBuilder::max_reply_size`]: 8 MiB. Large enough for most
/// results, small enough that a worker announcing a bogus size costs nothing.
pub const DEFAULT_MAX_REPLY_SIZE: usize = 8 << 20;

/// Default [`ProcessPoolBuilder::shutdown_grace`]: how long shutdown and drop let
/// submitted calls finish before killing the workers still running them.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

impl ProcessPoolBuilder {
    /// At most `n` worker processes. Default: `num_cpus::get()`, Python's default.
    ///
    /// # Panics
    /// If `n` is 0 (Python's `ValueError: max_workers must be greater than 0`).
    #[must_use]
    #[track_caller]
    pub fn max_workers(mut self, n: usize) -> Self {
        assert!(n > 0, "ProcessPool: max_workers must be greater than 0");
        self.config.max_workers = n;
        self
    }

    /// The largest reply (encoded result) accepted from a worker, in bytes.
    /// A worker that announces more is killed without the pool reading or
    /// allocating any of it, and the call fails with
    /// a [reply-too-large](BlockingError::is_reply_too_large) error. Default: [`DEFAULT_MAX_REPLY_SIZE`].
    #[must_use]
    pub fn max_reply_size(mut self, bytes: usize) -> Self {
        self.config.max_reply_size = bytes;
        self
    }

    /// A timeout for every call made with [`ProcessPool::submit`], counted from when
    /// a worker starts the call (time spent queued does not count). A call that
    /// runs longer fails with a [timeout](BlockingError::is_timeout) error; its worker is killed
    /// and replaced. Default: none. [`ProcessPool::submit_timeout`] sets one per call.
    #[must_use]
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.config.call_timeout = Some(timeout);
        self
    }

    /// How long [`ProcessPool::shutdown`] (with or without `wait`) and `drop`
    /// let submitted calls finish. When it runs out, workers still running a call
    /// are killed (the call fails with a [broken-pool](BlockingError::is_broken_pool) error) and calls
    /// not yet started fail with a [cancelled](BlockingError::is_cancelled) error. Default:
    /// [`DEFAULT_SHUTDOWN_GRACE`].
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.config.shutdown_grace = grace;
        self
    }

    /// Builds the pool. No process starts until the first call.
    pub fn build(self) -> ProcessPool {
        // The monitor's wake-up socket. Without one (out of fds) the pool still
        // works; dead idle workers are then found when next used, and only
        // `shutdown(true)`/drop enforce the grace period.
        let wake = UnixStream::pair()
            .and_then(|(tx, rx)| {
                tx.set_nonblocking(true)?;
                rx.set_nonblocking(true)?;
                Ok((tx, rx))
            })
            .ok();
        ProcessPool {
            shared: StdArc::new(Shared {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    counts: Counts::default(),
                    shutdown: false,
                    pids: Vec::new(),
                    dead: Vec::new(),
                    monitor_running: false,
                    grace_deadline: None,
                    grace_expired: false,
                }),
                work: Condvar::new(),
                exited: Condvar::new(),
                queued: AtomicUsize::new(0),
                shutting_down: AtomicBool::new(false),
                spinner: Spinner::new(SPIN_TIME),
                config: self.config,
                wake,
            }),
        }
    }
}

struct Shared {
    state: Mutex<State>,
    /// Idle drivers wait here.
    work: Condvar,
    /// `shutdown(true)` waits here for `counts.threads == 0` (no driver left).
    exited: Condvar,
    /// `queue.len()` and `shutdown`, readable without the lock by a spinning driver.
    queued: AtomicUsize,
    shutting_down: AtomicBool,
    /// When an idle driver may spin for the next call (see `spinner.rs`).
    spinner: Spinner,
    config: Config,
    /// (write end, read end) of the monitor's wake-up socket.
    wake: Option<(UnixStream, UnixStream)>,
}

/// Same claim protocol as the thread pool (`pool.rs`), the drivers counted in
/// `counts.threads`: `queue.len() <= spinning + notified` unless there are
/// `max_workers` drivers. A driver that just finished a call spins briefly before
/// sleeping (at most one at a time), so back-to-back calls skip a thread wake-up.
struct State {
    queue: VecDeque<Call>,
    /// `threads` counts the driver threads.
    counts: Counts,
    shutdown: bool,
    /// Pids of the worker processes alive now (including ones still in their
    /// handshake). A pid leaves this list before it is reaped.
    pids: Vec<u32>,
    /// Workers the monitor saw die, not yet reaped by their driver.
    dead: Vec<u32>,
    monitor_running: bool,
    /// Set by the first shutdown: when the grace period ends.
    grace_deadline: Option<Instant>,
    /// The grace period ran out and the remaining workers were killed.
    grace_expired: bool,
}

impl HasBacklog for State {
    type Item = Call;
    fn backlog(&mut self) -> (&mut VecDeque<Call>, &mut Counts, bool) {
        (&mut self.queue, &mut self.counts, self.shutdown)
    }
}

/// One queued call: the function name, the encoded argument, where the reply
/// goes, and its own timeout (if any).
struct Call {
    name: &'static str,
    arg: Vec<u8>,
    reply: StdArc<dyn Reply>,
    timeout: Option<Duration>,
}

/// The erased reply side of a call (a [`Decode<R>`] slot).
trait Reply: Send + Sync {
    fn complete(&self, result: Result<Vec<u8>, BlockingError>);
}

impl<R: Send> Reply for Decode<R> {
    fn complete(&self, result: Result<Vec<u8>, BlockingError>) {
        Slot::complete(self.slot(), result);
    }
}

impl ProcessPool {
    /// A pool of at most `max_workers` worker processes, with the default limits.
    /// No process starts until the first call.
    ///
    /// # Panics
    /// If `max_workers` is 0.
    #[track_caller]
    pub fn new(max_workers: usize) -> ProcessPool {
        ProcessPool::builder().max_workers(max_workers).build()
    }

    /// A builder for a pool with other limits; see [`ProcessPoolBuilder`].
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder {
            config: Config {
                max_workers: num_cpus::get().max(1),
                max_reply_size: DEFAULT_MAX_REPLY_SIZE,
                call_timeout: None,
                shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            },
        }
    }

    /// Runs `func(arg)` in a worker process; the task resolves with its result.
    ///
    /// The counterpart of `pool.submit(func, arg)` and `await
    /// loop.run_in_executor(pool, func, arg)`. A [`BlockingError`] says which
    /// failure it was: [`is_panic`](BlockingError::is_panic) (the function
    /// panicked in the worker), [`is_broken_pool`](BlockingError::is_broken_pool)
    /// (the worker died), [`is_unknown_function`](BlockingError::is_unknown_function),
    /// [`is_codec`](BlockingError::is_codec),
    /// [`is_start_failure`](BlockingError::is_start_failure),
    /// [`is_shutdown`](BlockingError::is_shutdown) (with
    /// [`is_cancelled`](BlockingError::is_cancelled) when it was still queued when
    /// the shutdown grace period ran out), [`is_timeout`](BlockingError::is_timeout)
    /// (with a call timeout), [`is_reply_too_large`](BlockingError::is_reply_too_large).
    ///
    /// Dropping the task does not cancel the call: the worker runs it to the end
    /// (a process is never interrupted mid-call, except by a timeout or the
    /// shutdown grace period), and the result is discarded.
    pub fn submit<A, R>(&self, func: &RemoteFn<A, R>, arg: A) -> BlockingTask<R>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        self.push_call(func, arg, None)
    }

    /// [`submit`](ProcessPool::submit) with a timeout for this call, counted from when a
    /// worker starts it. Past it, the worker is killed (and replaced) and the task
    /// resolves with a [timeout](BlockingError::is_timeout) error.
    ///
    /// ```
    /// # use corio_blocking::process::{maybe_run_worker, ProcessPool, RemoteFn};
    /// # use std::time::Duration;
    /// fn nap(ms: u64) { std::thread::sleep(Duration::from_millis(ms)) }
    /// static NAP: RemoteFn<u64, ()> = RemoteFn::new("nap", nap);
    /// # fn main() {
    /// maybe_run_worker(&[&NAP]);
    /// let pool = ProcessPool::new(1);
    /// let task = pool.submit_timeout(&NAP, 60_000, Duration::from_millis(100));
    /// let err = futures::executor::block_on(task).unwrap_err();
    /// assert!(err.is_timeout());
    /// # }
    /// ```
    pub fn submit_timeout<A, R>(
        &self,
        func: &RemoteFn<A, R>,
        arg: A,
        timeout: Duration,
    ) -> BlockingTask<R>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        self.push_call(func, arg, Some(timeout))
    }

    fn push_call<A, R>(
        &self,
        func: &RemoteFn<A, R>,
        arg: A,
        timeout: Option<Duration>,
    ) -> BlockingTask<R>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        let arg = match postcard::to_stdvec(&arg) {
            Ok(bytes) => bytes,
            Err(e) => {
                return BlockingTask::failed(BlockingError::codec(format!(
                    "encoding the argument of `{}` failed: {e}",
                    func.name
                )))
            }
        };
        let decode = StdArc::new(Decode::<R>::new());
        let call = Call {
            name: func.name,
            arg,
            reply: decode.clone(),
            timeout,
        };
        if let Err(call) = self.push(call) {
            call.reply.complete(Err(BlockingError::shutdown()));
        }
        BlockingTask::from_output(decode)
    }

    fn push(&self, call: Call) -> Result<(), Call> {
        if let Err(e) = corio_core::real_world::check(
            "a call was handed to a ProcessPool: it runs in a child process, driven by an OS \
             thread; call the function directly (RemoteFn::call_local), or through \
             corio::to_thread",
        ) {
            call.reply.complete(Err(BlockingError::spawn(e)));
            return Ok(());
        }
        let shared = &self.shared;
        let queue = QueueOf {
            state: &shared.state,
            queued: &shared.queued,
            work: &shared.work,
            spinner: &shared.spinner,
            max_threads: shared.config.max_workers,
        };
        let start_driver = || {
            let for_driver = shared.clone();
            thread::Builder::new()
                .name("corio-process-pool".to_owned())
                .spawn(move || driver::driver(for_driver))
                .map(drop)
        };
        queue.push(call, start_driver, |call, err| {
            call.reply.complete(Err(spawn_error(err)))
        })
    }

    /// Stops accepting calls (later ones resolve with a [shutdown](BlockingError::is_shutdown) error).
    /// Calls already submitted still run, as with Python's default
    /// `cancel_futures=False`, for at most the pool's
    /// [grace period](ProcessPoolBuilder::shutdown_grace): then workers still
    /// running a call are killed and calls not started fail with
    /// a [cancelled](BlockingError::is_cancelled) error. Each worker's stdin is closed, it exits, and
    /// it is reaped. With `wait`, blocks until all of that is done: at most the
    /// grace period plus a moment to reap the killed workers.
    pub fn shutdown(&self, wait: bool) {
        let _ = self.shutdown_within(wait, self.shared.config.shutdown_grace);
    }

    /// `shutdown(true)` with a grace period of `grace` instead of the pool's
    /// (a shorter one wins if a shutdown already started). True if every worker
    /// was reaped in time.
    ///
    /// ```
    /// # use corio_blocking::process::ProcessPool;
    /// # use std::time::Duration;
    /// let pool = ProcessPool::new(1);
    /// // No workers: returns at once.
    /// assert!(pool.shutdown_timeout(Duration::from_millis(100)));
    /// ```
    pub fn shutdown_timeout(&self, grace: Duration) -> bool {
        self.shutdown_within(true, grace)
    }

    /// Returns true when every driver thread (and so every worker) is gone, or
    /// without `wait` at once with false.
    fn shutdown_within(&self, wait: bool, grace: Duration) -> bool {
        let shared = &self.shared;
        let mut st = lock(&shared.state);
        st.shutdown = true;
        let now = Instant::now();
        let deadline = now.checked_add(grace);
        st.grace_deadline = match (st.grace_deadline, deadline) {
            (Some(old), Some(new)) => Some(old.min(new)),
            (old, new) => old.or(new),
        };
        let deadline = st.grace_deadline;
        shared.shutting_down.store(true, Ordering::Release);
        drop(st);
        shared.work.notify_all();
        wake_monitor(shared);
        if !wait {
            return false;
        }
        let mut st = lock(&shared.state);
        st = wait_for_drivers(shared, st, deadline);
        if st.counts.threads == 0 {
            return true;
        }
        let cancelled = expire_grace(&mut st);
        drop(st);
        for call in cancelled {
            call.reply.complete(Err(BlockingError::cancelled()));
        }
        // The killed workers' drivers see end of file at once and reap them.
        let st = lock(&shared.state);
        let st = wait_for_drivers(shared, st, Instant::now().checked_add(child::EXIT_GRACE));
        st.counts.threads == 0
    }

    /// Pids of the worker processes alive now (for monitoring and tests). A
    /// worker that dies leaves the list at once (it is reaped and replaced in the
    /// background), so a listed pid is never a dead process for longer than it
    /// takes the pool to notice.
    pub fn worker_pids(&self) -> Vec<u32> {
        lock(&self.shared.state).pids.clone()
    }

    /// The `max_workers` this pool was built with.
    pub fn max_workers(&self) -> usize {
        self.shared.config.max_workers
    }
}

impl Default for ProcessPool {
    /// `num_cpus::get()` workers, Python's default.
    fn default() -> Self {
        ProcessPool::builder().build()
    }
}

impl Drop for ProcessPool {
    /// `shutdown(true)`: runs the submitted calls for at most the grace period,
    /// then kills what is left; reaps every worker.
    fn drop(&mut self) {
        self.shutdown(true);
    }
}

impl fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPool")
            .field("max_workers", &self.shared.config.max_workers)
            .field("worker_pids", &self.worker_pids())
            .finish()
    }
}

fn wait_on<'a>(cv: &Condvar, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
    match cv.wait(guard) {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Waits on `exited` until no driver is left or `deadline` passes.
fn wait_for_drivers<'a>(
    shared: &Shared,
    mut st: MutexGuard<'a, State>,
    deadline: Option<Instant>,
) -> MutexGuard<'a, State> {
    while st.counts.threads > 0 {
        let Some(deadline) = deadline else {
            st = wait_on(&shared.exited, st);
            continue;
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        st = match shared.exited.wait_timeout(st, left) {
            Ok((g, _)) => g,
            Err(p) => p.into_inner().0,
        };
    }
    st
}

/// The grace period ran out: SIGKILL every worker still listed (their drivers
/// see end of file, fail the call and reap them) and take the queued calls for
/// the caller to fail with `Cancelled` once the lock is released.
fn expire_grace(st: &mut State) -> Vec<Call> {
    st.grace_expired = true;
    for &pid in &st.pids {
        sys::kill(pid);
    }
    st.queue.drain(..).collect()
}

/// Lists a freshly spawned worker (before its handshake, so a shutdown can kill
/// it) and makes sure the monitor watches it.
fn register_pid(shared: &StdArc<Shared>, pid: u32) {
    let mut st = lock(&shared.state);
    st.pids.push(pid);
    if st.grace_expired {
        // Started after the grace period ran out: it must not serve.
        sys::kill(pid);
    }
    let start_monitor = !st.monitor_running && shared.wake.is_some();
    st.monitor_running |= start_monitor;
    drop(st);
    if start_monitor {
        let for_monitor = shared.clone();
        let spawned = thread::Builder::new()
            .name("corio-process-pool-monitor".to_owned())
            .spawn(move || monitor::monitor(for_monitor));
        if spawned.is_err() {
            // Degraded, not broken: see `ProcessPoolBuilder::build`.
            lock(&shared.state).monitor_running = false;
        }
    } else {
        wake_monitor(shared);
    }
}

/// Takes a worker off the lists just before it is reaped.
fn forget_pid(shared: &Shared, pid: u32) {
    let mut st = lock(&shared.state);
    st.pids.retain(|&p| p != pid);
    st.dead.retain(|&p| p != pid);
}

/// Makes the monitor look at the state again (new worker, shutdown, last driver gone).
fn wake_monitor(shared: &Shared) {
    if let Some((tx, _)) = &shared.wake {
        // A full socket already holds a wake-up; nothing else can go wrong that
        // the monitor could act on.
        let _ = (&*tx).write(&[1]);
    }
}
