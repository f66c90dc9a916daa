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
//!     let sum = futures::executor::block_on(pool.run(&CPU_BOUND, 10_000_000)).unwrap();
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
//!   [`BlockingError::UnknownFunction`] (the worker checks again itself).
//! - A panic in a function is caught in the worker and becomes
//!   [`BlockingError::RemotePanicked`] for that call; the worker lives on.
//! - A worker that dies mid-call (killed, aborted, exited) fails that call with
//!   [`BlockingError::BrokenPool`] naming the signal or exit status; it is reaped and
//!   a fresh worker is started in its place at once. Other calls are unaffected. A
//!   worker found dead while idle is replaced before it is handed a call.
//! - Each worker is owned by one parent thread (its *driver*) that spawned it, sends
//!   it one request at a time, and reaps it. Workers exit when their stdin closes
//!   (pool shutdown, or the parent died); on Linux they also get SIGKILL if the
//!   driver thread dies (`PR_SET_PDEATHSIG`). [`shutdown(true)`](ProcessPool::shutdown)
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
//!    *start* workers, with [`BlockingError::WorkerStart`].
//! 3. fd 0 and fd 1 are both pipes: never a file, a terminal, or a socket (an
//!    inetd-style service would otherwise serve the network).
//! 4. On Linux, the parent process runs the same executable file (same device and
//!    inode of `/proc/<ppid>/exe` and `/proc/self/exe`; the pool starts
//!    `/proc/self/exe`, so this holds even after the file is replaced on disk). A
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
//! (with [`BlockingError::WorkerStart`] saying why: a pool child that failed a
//! check would otherwise start children that fail it too). If check 5 fails, the
//! bytes it read (at most 40) are gone from stdin; checks 1-4 consume nothing.
//! A worker also exits when its parent does (end of file on stdin, and
//! `PR_SET_PDEATHSIG` on Linux).

mod gate;
mod sys;
mod wire;
mod worker;

use std::collections::VecDeque;
use std::fmt;
use std::io::Write;
use std::io::{self, BufReader, Read};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc as StdArc, OnceLock};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::BlockingError;
use crate::pool::{claim_pushed, spawn_error, spin_for_work, Claim};
use crate::sync::{lock, thread, AtomicBool, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering};
use crate::task::{BlockingTask, Decode, Slot};

/// Set in a worker's environment (to the parent's pid) to mark it as a worker.
const WORKER_ENV: &str = "CORIO_PROCESS_POOL_WORKER";

/// How long a new worker has to complete the handshake. Generous: starting a
/// process on a loaded 2-core machine can take a while, and a program that forgot
/// `maybe_run_worker` should fail with a clear error, not hang.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a worker whose pipe closed may take to finish exiting before the pool
/// kills it: exiting takes microseconds, this only has to outlast a loaded machine.
const EXIT_GRACE: Duration = Duration::from_secs(2);

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
/// [`maybe_run_worker`], and run it with [`ProcessPool::run`]. Several arguments go in
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
/// calls; each runs one call at a time.
///
/// ```
/// # use corio_blocking::process::{maybe_run_worker, ProcessPool, RemoteFn};
/// # fn square(x: u64) -> u64 { x * x }
/// # static SQUARE: RemoteFn<u64, u64> = RemoteFn::new("square", square);
/// # fn main() {
/// maybe_run_worker(&[&SQUARE]);
/// let pool = ProcessPool::default(); // num_cpus workers
/// let nine = futures::executor::block_on(pool.run(&SQUARE, 3)).unwrap();
/// assert_eq!(nine, 9);
/// pool.shutdown(true);
/// # }
/// ```
pub struct ProcessPool {
    shared: StdArc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Idle drivers wait here.
    work: Condvar,
    /// `shutdown(true)` waits here for `drivers == 0`.
    exited: Condvar,
    /// `queue.len()` and `shutdown`, readable without the lock by a spinning driver.
    queued: AtomicUsize,
    shutting_down: AtomicBool,
    max_workers: usize,
}

/// Same claim protocol as the thread pool (`pool.rs`):
/// `queue.len() <= spinning + notified` unless `drivers == max_workers`. A driver
/// that just finished a call spins briefly before sleeping (at most one at a
/// time), so back-to-back calls skip a thread wake-up.
struct State {
    queue: VecDeque<Call>,
    drivers: usize,
    sleeping: usize,
    notified: usize,
    spinning: usize,
    shutdown: bool,
    /// Pids of the live worker processes.
    pids: Vec<u32>,
}

/// One queued call: the function name, the encoded argument, and where the reply goes.
struct Call {
    name: &'static str,
    arg: Vec<u8>,
    reply: StdArc<dyn Reply>,
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
    /// A pool of at most `max_workers` worker processes (values below 1 are raised
    /// to 1). No process starts until the first call.
    pub fn new(max_workers: usize) -> ProcessPool {
        ProcessPool {
            shared: StdArc::new(Shared {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    drivers: 0,
                    sleeping: 0,
                    notified: 0,
                    spinning: 0,
                    shutdown: false,
                    pids: Vec::new(),
                }),
                work: Condvar::new(),
                exited: Condvar::new(),
                queued: AtomicUsize::new(0),
                shutting_down: AtomicBool::new(false),
                max_workers: max_workers.max(1),
            }),
        }
    }

    /// Runs `func(arg)` in a worker process; the task resolves with its result.
    ///
    /// The counterpart of `await loop.run_in_executor(pool, func, arg)`. Errors:
    /// [`RemotePanicked`](BlockingError::RemotePanicked),
    /// [`BrokenPool`](BlockingError::BrokenPool) (the worker died),
    /// [`UnknownFunction`](BlockingError::UnknownFunction),
    /// [`Codec`](BlockingError::Codec), [`WorkerStart`](BlockingError::WorkerStart),
    /// [`Shutdown`](BlockingError::Shutdown).
    ///
    /// Dropping the task does not cancel the call: the worker runs it to the end
    /// (a process is never interrupted mid-call), and the result is discarded.
    pub fn run<A, R>(&self, func: &RemoteFn<A, R>, arg: A) -> BlockingTask<R>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        let arg = match postcard::to_stdvec(&arg) {
            Ok(bytes) => bytes,
            Err(e) => {
                return BlockingTask::failed(BlockingError::Codec(format!(
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
        };
        if let Err(call) = self.push(call) {
            call.reply.complete(Err(BlockingError::Shutdown));
        }
        BlockingTask::from_output(decode)
    }

    fn push(&self, call: Call) -> Result<(), Call> {
        let shared = &self.shared;
        let mut st = lock(&shared.state);
        if st.shutdown {
            return Err(call);
        }
        st.queue.push_back(call);
        shared.queued.store(st.queue.len(), Ordering::Release);
        let s = &mut *st;
        let claim = claim_pushed(
            s.queue.len(),
            s.spinning,
            &mut s.sleeping,
            &mut s.notified,
            (&mut s.drivers, shared.max_workers),
        );
        drop(st);
        if claim == Claim::WakeSleeper {
            shared.work.notify_one();
        } else if claim == Claim::StartThread {
            let for_driver = shared.clone();
            let spawned = thread::Builder::new()
                .name("corio-process-pool".to_owned())
                .spawn(move || driver(for_driver));
            if let Err(err) = spawned {
                let mut st = lock(&shared.state);
                st.drivers -= 1;
                if st.drivers == 0 {
                    let calls: Vec<_> = st.queue.drain(..).collect();
                    shared.queued.store(0, Ordering::Release);
                    drop(st);
                    for call in calls {
                        call.reply.complete(Err(spawn_error(&err)));
                    }
                }
            }
        }
        Ok(())
    }

    /// Stops accepting calls (later ones resolve with [`BlockingError::Shutdown`]).
    /// Calls already submitted still run, as with Python's default
    /// `cancel_futures=False`; then each worker's stdin is closed, it exits, and it
    /// is reaped. With `wait`, blocks until all of that is done.
    pub fn shutdown(&self, wait: bool) {
        let shared = &self.shared;
        let mut st = lock(&shared.state);
        st.shutdown = true;
        shared.shutting_down.store(true, Ordering::Release);
        drop(st);
        shared.work.notify_all();
        if wait {
            let mut st = lock(&shared.state);
            while st.drivers > 0 {
                st = wait_on(&shared.exited, st);
            }
        }
    }

    /// Pids of the worker processes alive now (for monitoring and tests).
    pub fn worker_pids(&self) -> Vec<u32> {
        lock(&self.shared.state).pids.clone()
    }

    /// The `max_workers` this pool was built with.
    pub fn max_workers(&self) -> usize {
        self.shared.max_workers
    }
}

impl Default for ProcessPool {
    /// `num_cpus::get()` workers, Python's default.
    fn default() -> Self {
        ProcessPool::new(num_cpus::get())
    }
}

impl Drop for ProcessPool {
    /// `shutdown(true)`: runs the submitted calls, then reaps every worker.
    fn drop(&mut self) {
        self.shutdown(true);
    }
}

impl fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPool")
            .field("max_workers", &self.shared.max_workers)
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

/// Takes the next call, sleeping while the queue is empty. `None` once the pool is
/// shut down and the queue is drained.
fn next_call(shared: &Shared) -> Option<Call> {
    let mut st = lock(&shared.state);
    let mut may_spin = cfg!(not(loom));
    loop {
        if let Some(call) = st.queue.pop_front() {
            shared.queued.store(st.queue.len(), Ordering::Release);
            return Some(call);
        }
        if st.shutdown {
            return None;
        }
        if may_spin && st.spinning == 0 {
            st.spinning += 1;
            drop(st);
            spin_for_work(&shared.queued, &shared.shutting_down);
            st = lock(&shared.state);
            st.spinning -= 1;
            may_spin = false;
            continue;
        }
        st.sleeping += 1;
        loop {
            st = wait_on(&shared.work, st);
            if st.notified > 0 {
                st.notified -= 1;
                break;
            }
            if st.shutdown {
                st.sleeping -= 1;
                break;
            }
        }
    }
}

/// One driver thread per worker process: takes calls, runs them in its worker,
/// replaces the worker when it dies, and reaps it at shutdown.
fn driver(shared: StdArc<Shared>) {
    let _exit = DriverExit(&shared);
    let mut worker: Option<Worker> = None;
    while let Some(call) = next_call(&shared) {
        // A worker that died while idle is replaced before it is handed a call.
        if let Some(w) = worker.as_mut() {
            if !w.is_alive() {
                if let Some(w) = worker.take() {
                    forget_pid(&shared, w.pid);
                    w.reap();
                }
            }
        }
        if worker.is_none() {
            match Worker::start() {
                Ok(w) => {
                    lock(&shared.state).pids.push(w.pid);
                    worker = Some(w);
                }
                Err(err) => {
                    call.reply.complete(Err(err));
                    continue;
                }
            }
        }
        let Some(w) = worker.as_mut() else { continue };
        if !w.functions.iter().any(|f| f == call.name) {
            call.reply
                .complete(Err(BlockingError::UnknownFunction(call.name.to_owned())));
            continue;
        }
        let Call { name, arg, reply } = call;
        match w.call(name, arg) {
            Ok(result) => reply.complete(result),
            Err(err) => {
                // The pipe broke: the worker died (or sent garbage and is killed).
                if let Some(w) = worker.take() {
                    let pid = w.pid;
                    forget_pid(&shared, pid);
                    let reason = w.kill_and_reap(&err);
                    reply.complete(Err(BlockingError::BrokenPool { pid, reason }));
                }
                // Replace it now, so the pool is back at full strength before the
                // next call. If that fails, the next call retries (and reports why).
                if !lock(&shared.state).shutdown {
                    if let Ok(w) = Worker::start() {
                        lock(&shared.state).pids.push(w.pid);
                        worker = Some(w);
                    }
                }
            }
        }
    }
    if let Some(w) = worker.take() {
        forget_pid(&shared, w.pid);
        w.reap();
    }
}

/// Uncounts the driver when it returns, or unwinds (e.g. a waker that panics), so
/// `shutdown(true)` never waits for a driver that is gone.
struct DriverExit<'a>(&'a Shared);

impl Drop for DriverExit<'_> {
    fn drop(&mut self) {
        let mut st = lock(&self.0.state);
        st.drivers -= 1;
        drop(st);
        self.0.exited.notify_all();
    }
}

fn forget_pid(shared: &Shared, pid: u32) {
    lock(&shared.state).pids.retain(|&p| p != pid);
}

/// A live worker process and its pipes.
struct Worker {
    child: Child,
    pid: u32,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    functions: Vec<String>,
}

impl Worker {
    /// Starts a copy of the current executable as a worker and completes the handshake.
    fn start() -> Result<Worker, BlockingError> {
        if is_worker_process() {
            return Err(BlockingError::WorkerStart(
                "this process is itself a pool worker whose main did not call \
                 corio_blocking::process::maybe_run_worker first; refusing to start workers \
                 recursively"
                    .to_owned(),
            ));
        }
        if let Some(reason) = REFUSED.get() {
            return Err(BlockingError::WorkerStart(format!(
                "this process was started with {WORKER_ENV} set but is not a pool worker \
                 ({reason}); it starts no workers of its own: unset {WORKER_ENV}"
            )));
        }
        if sys::is_privileged() {
            return Err(BlockingError::WorkerStart(
                "this process runs with raised privileges (setuid, setgid or file capabilities), \
                 and such a process never serves as a worker; run CPU-bound work in a ThreadPool"
                    .to_owned(),
            ));
        }
        let exe: PathBuf = std::env::current_exe().map_err(|e| {
            BlockingError::WorkerStart(format!("cannot find the current executable: {e}"))
        })?;
        let secret: gate::Secret = sys::random_bytes().map_err(|e| {
            BlockingError::WorkerStart(format!(
                "cannot read /dev/urandom for the worker's secret: {e}"
            ))
        })?;
        let mut command = Command::new(same_executable(&exe));
        command
            .arg0(&exe)
            .env(WORKER_ENV, std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().map_err(|e| {
            BlockingError::WorkerStart(format!("cannot start {}: {e}", exe.display()))
        })?;
        let pid = child.id();
        let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(BlockingError::WorkerStart(
                "the worker's pipes were not created".to_owned(),
            ));
        };
        let mut first = gate::SECRET_MAGIC.to_vec();
        first.extend_from_slice(&secret);
        // 40 bytes into an empty pipe: never blocks. A failure (the child is
        // already gone) shows up in the handshake below.
        let _ = stdin.write_all(&first);
        match handshake(&mut stdout, &secret) {
            Ok(hello) if hello.pid == pid => Ok(Worker {
                child,
                pid,
                stdin,
                stdout: BufReader::new(stdout),
                functions: hello.functions,
            }),
            Ok(hello) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(BlockingError::WorkerStart(format!(
                    "worker {pid} introduced itself as pid {}: not our child",
                    hello.pid
                )))
            }
            Err(problem) => {
                let _ = child.kill();
                let status = child
                    .wait()
                    .map(describe_exit)
                    .unwrap_or_else(|e| format!("could not be reaped ({e})"));
                Err(BlockingError::WorkerStart(format!(
                    "worker process {pid} did not complete the handshake ({problem}; it then {status}): \
                     call corio_blocking::process::maybe_run_worker(&[...]) first thing in main, \
                     before anything prints to stdout"
                )))
            }
        }
    }

    fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends one request and reads its reply. `Err` means the worker is unusable.
    fn call(&mut self, name: &str, arg: Vec<u8>) -> io::Result<Result<Vec<u8>, BlockingError>> {
        let request = wire::Request {
            name: name.to_owned(),
            arg,
        };
        wire::write_frame(&mut self.stdin, &wire::encode(&request)?)?;
        let frame = wire::read_frame(&mut self.stdout)?
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        Ok(match wire::decode::<wire::Response>(&frame)? {
            wire::Response::Ok(bytes) => Ok(bytes),
            wire::Response::Panicked(message) => Err(BlockingError::RemotePanicked {
                function: name.to_owned(),
                message,
            }),
            wire::Response::UnknownFunction(name) => Err(BlockingError::UnknownFunction(name)),
            wire::Response::BadArgument(msg) => Err(BlockingError::Codec(msg)),
        })
    }

    /// Closes the worker's stdin (it exits when it sees end of file) and reaps it.
    fn reap(self) {
        let Worker {
            mut child, stdin, ..
        } = self;
        drop(stdin);
        let _ = child.wait();
    }

    /// After a broken pipe (`err`): makes sure the worker is dead, reaps it, and
    /// says how it died.
    fn kill_and_reap(self, err: &io::Error) -> String {
        let Worker {
            mut child, stdin, ..
        } = self;
        drop(stdin);
        let unreadable = err.kind() == io::ErrorKind::InvalidData;
        if !unreadable {
            // End of file or a broken pipe: the worker is exiting. Its pipes close a
            // moment before it can be reaped; give it that moment.
            let deadline = Instant::now() + EXIT_GRACE;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // Still alive: it sent garbage (or closed its pipes and hung): it must not
        // live on unsupervised.
        let killed_by_pool = matches!(child.try_wait(), Ok(None)) && child.kill().is_ok();
        match child.wait() {
            Ok(_) if killed_by_pool => {
                format!("broke the protocol ({err}) and was killed by the pool")
            }
            Ok(status) => describe_exit(status),
            Err(e) => format!("died and could not be reaped ({e})"),
        }
    }
}

/// The program to start as a worker: on Linux `/proc/self/exe`, which is the
/// running executable even if `exe` was replaced on disk since it started (a
/// worker checks that its parent runs the same file); elsewhere `exe`.
fn same_executable(exe: &Path) -> &Path {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        Path::new("/proc/self/exe")
    } else {
        exe
    }
}

/// Reads the worker's MAGIC, echoed secret and Hello, waiting at most
/// [`HANDSHAKE_TIMEOUT`].
fn handshake(stdout: &mut ChildStdout, secret: &gate::Secret) -> Result<wire::Hello, String> {
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let mut read = |buf: &mut [u8]| -> Result<(), String> {
        let mut filled = 0;
        while filled < buf.len() {
            match sys::wait_readable(stdout.as_raw_fd(), deadline) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(format!(
                        "no handshake within {} s",
                        HANDSHAKE_TIMEOUT.as_secs()
                    ))
                }
                Err(e) => return Err(format!("poll failed: {e}")),
            }
            match stdout.read(&mut buf[filled..]) {
                Ok(0) => return Err("its stdout closed".to_owned()),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("reading its stdout failed: {e}")),
            }
        }
        Ok(())
    };
    let mut magic = [0u8; 8];
    read(&mut magic)?;
    if magic != wire::MAGIC {
        return Err("it wrote something other than the worker handshake to stdout".to_owned());
    }
    let mut echoed = [0u8; gate::SECRET_LEN];
    read(&mut echoed)?;
    if !gate::secrets_match(&echoed, secret) {
        return Err("it did not echo the secret this pool gave it".to_owned());
    }
    let mut len = [0u8; 4];
    read(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > 1 << 20 {
        return Err(format!("handshake frame of {len} bytes is implausible"));
    }
    let mut hello = vec![0u8; len];
    read(&mut hello)?;
    wire::decode(&hello).map_err(|e| format!("bad handshake frame: {e}"))
}

/// "was killed by signal 9 (SIGKILL)" / "exited with status 3".
fn describe_exit(status: ExitStatus) -> String {
    if let Some(sig) = status.signal() {
        let core = if status.core_dumped() {
            ", core dumped"
        } else {
            ""
        };
        format!(
            "was killed by signal {sig} ({}{core})",
            sys::signal_name(sig)
        )
    } else if let Some(code) = status.code() {
        format!("exited with status {code}")
    } else {
        format!("ended ({status})")
    }
}
