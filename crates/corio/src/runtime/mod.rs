//! The runtime: [`Runtime`], its [`Builder`], its [`Handle`], [`run`] and
//! [`create_task`].
//!
//! A [`Runtime`] is asyncio's event loop, multi-threaded: corio-scheduler's
//! work-stealing workers run the tasks, one idle worker at a time waits in
//! corio-reactor for I/O and timers (see `park.rs`), and a
//! [`BlockingPool`](corio_blocking::BlockingPool) runs
//! [`run_in_executor`](crate::run_in_executor) / [`to_thread`](crate::to_thread)
//! work.
//!
//! Most programs only need [`run`]:
//!
//! ```
//! use std::time::Duration;
//!
//! async fn main_task() -> u32 {
//!     let t = corio::create_task(async {
//!         corio::sleep(Duration::from_millis(10)).await;
//!         20
//!     });
//!     22 + t.await.unwrap()
//! }
//!
//! assert_eq!(corio::run(main_task()), 42);
//! ```
//!
//! Shutdown (when the runtime is dropped, or after [`run`]'s future returns):
//! tasks still pending are cancelled — their futures are dropped, their `Task`s
//! resolve `Err(Cancelled)` — and the blocking pool is given a bounded wait
//! (closures already running cannot be interrupted; they finish detached).

pub(crate) mod callbacks;
mod park;
pub(crate) mod stall;

use std::any::Any;
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use corio_core::TaskMeta;

use crate::cancel::{CancelState, Coop};
use crate::debug::{self, DebugReport, Sink};
use crate::deferred::Deferred;
use crate::task::{LocalTaskList, Plain, Task};
use crate::tree::{TaskSnapshot, TaskTree};

/// `box_if_large!(fut => call)`: evaluates `call` with `fut` boxed first when the future is
/// larger than `corio_core::BOX_FUTURE_THRESHOLD`, as is otherwise. Every public entry point
/// that takes a future does this before moving it anywhere else, so a huge future is copied
/// at most once (into its box), never through the wrappers (the scheduler's `Tracked` and
/// corio-core's) onto the caller's or a worker's stack. `call` should move `fut` straight
/// into a function, not into a closure (which would hold one more copy).
macro_rules! box_if_large {
    ($fut:ident => $call:expr) => {
        if std::mem::size_of_val(&$fut) > corio_core::BOX_FUTURE_THRESHOLD {
            let slot = corio_core::FutureSlot::for_value(&$fut);
            let $fut = slot.fill($fut);
            $call
        } else {
            $call
        }
    };
}

pub use stall::StallReport;

/// How long [`run`] and a plain `drop` of a [`Runtime`] wait, in all, for the
/// workers to finish their current polls and for running blocking closures:
/// whatever still runs after this is left to finish on its own (detached), as
/// asyncio's `shutdown_default_executor` timeout (300 s there; 5 s keeps a
/// Ctrl-C'd program from hanging on a stuck thread while letting quick work
/// finish).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Default slow-poll threshold of debug mode: asyncio's `slow_callback_duration`.
const DEFAULT_SLOW_POLL: Duration = Duration::from_millis(100);

/// What happens when a task panics and nobody retrieves the panic (its [`Task`]
/// was dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnhandledPanic {
    /// Report it (the handler, by default a line on stderr) and keep running,
    /// as asyncio does.
    #[default]
    Report,
    /// Report it, then shut the runtime down: [`Runtime::block_on`] (and [`run`])
    /// panics with a message naming the task.
    ShutdownRuntime,
}

type PanicHandler = Arc<dyn Fn(&TaskMeta, &(dyn Any + Send)) + Send + Sync + 'static>;

/// Builds a [`Runtime`] (asyncio's loop policy knobs).
///
/// ```
/// let rt = corio::Runtime::builder()
///     .worker_threads(2)
///     .max_blocking_threads(8)
///     .thread_name("my-app")
///     .build()
///     .unwrap();
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// ```
pub struct Builder {
    worker_threads: Option<usize>,
    current_thread: bool,
    max_blocking_threads: usize,
    thread_name: String,
    thread_stack_size: Option<usize>,
    debug: bool,
    slow_poll_threshold: Duration,
    debug_sink: Option<Sink>,
    unhandled_panic: UnhandledPanic,
    panic_handler: Option<PanicHandler>,
    inspect: bool,
    /// `None`: the scheduler's default (10 ms).
    stall_threshold: Option<Option<Duration>>,
    max_extra_workers: Option<usize>,
    stall_handler: Option<stall::StallHandler>,
    cancel_grace: Option<Duration>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("worker_threads", &self.worker_threads)
            .field("current_thread", &self.current_thread)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("thread_name", &self.thread_name)
            .field("debug", &self.debug)
            .field("slow_poll_threshold", &self.slow_poll_threshold)
            .field("unhandled_panic", &self.unhandled_panic)
            .finish()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// Defaults: one worker per CPU, up to 512 blocking threads, threads named
    /// `corio-worker-N`, debug mode from `CORIO_DEBUG`.
    pub fn new() -> Self {
        Builder {
            worker_threads: None,
            current_thread: false,
            max_blocking_threads: 512,
            thread_name: "corio-worker".to_owned(),
            thread_stack_size: None,
            debug: debug::env_debug(),
            inspect: crate::inspect::requested_by_env(),
            slow_poll_threshold: DEFAULT_SLOW_POLL,
            debug_sink: None,
            unhandled_panic: UnhandledPanic::Report,
            panic_handler: None,
            stall_threshold: None,
            max_extra_workers: None,
            stall_handler: None,
            cancel_grace: None,
        }
    }

    /// Cancel every task of this runtime cooperatively, with `grace` for its
    /// cleanup (default: none, `Task::cancel` drops the future at once). A
    /// task's own [`TaskBuilder::cancel_grace`] wins. See [`crate::cancel`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = corio::Runtime::builder()
    ///     .cancel_grace(Duration::from_secs(1))
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async {
    ///     let t = corio::create_task(async {
    ///         corio::sleep(Duration::from_secs(3600)).await; // ends at once on cancel
    ///         assert!(corio::cancel::is_cancelled());
    ///     });
    ///     corio::sleep(Duration::from_millis(5)).await;
    ///     t.cancel();
    ///     assert!(t.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.cancel_grace = Some(grace);
        self
    }

    /// Number of worker threads (default: the number of CPUs).
    ///
    /// # Panics
    /// If `n` is 0 (as tokio's; use `flavor = "current_thread"` in the macros
    /// for a single thread).
    #[must_use]
    #[track_caller]
    pub fn worker_threads(mut self, n: usize) -> Self {
        assert!(
            n > 0,
            "corio::Builder: worker_threads must be greater than 0"
        );
        self.worker_threads = Some(n);
        self
    }

    /// The current-thread flavor: no worker threads; every task runs on the thread
    /// inside [`Runtime::block_on`] (or [`run`]), while it waits for its future, and
    /// I/O and timers are driven there too. Tasks spawned while no thread is in
    /// `block_on` wait for the next call. Blocking work ([`to_thread`](crate::to_thread))
    /// still runs on the blocking pool. `worker_threads` is ignored.
    ///
    /// What `#[corio::main(flavor = "current_thread")]` builds. Useful for programs
    /// ported from asyncio that share state between tasks through `Rc`/`RefCell`
    /// ([`create_local_task`]), for tests, and to embed corio in a thread of its own.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = corio::Runtime::builder().current_thread().build().unwrap();
    /// let me = std::thread::current().id();
    /// let ran_on = rt.block_on(async {
    ///     let task = corio::create_task(async {
    ///         corio::sleep(Duration::from_millis(5)).await;
    ///         std::thread::current().id()
    ///     });
    ///     task.await.unwrap()
    /// });
    /// assert_eq!(ran_on, me);
    /// ```
    #[must_use]
    pub fn current_thread(mut self) -> Self {
        self.current_thread = true;
        self
    }

    /// Most threads the runtime's blocking pool (for `to_thread` /
    /// `run_in_executor(None, ..)`) starts (default 512).
    ///
    /// # Panics
    /// If `n` is 0.
    #[must_use]
    #[track_caller]
    pub fn max_blocking_threads(mut self, n: usize) -> Self {
        assert!(
            n > 0,
            "corio::Builder: max_blocking_threads must be greater than 0"
        );
        self.max_blocking_threads = n;
        self
    }

    /// Prefix of the worker threads' names (blocking threads get `-blocking`).
    #[must_use]
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// Stack size of the worker threads, in bytes.
    #[must_use]
    pub fn thread_stack_size(mut self, bytes: usize) -> Self {
        self.thread_stack_size = Some(bytes);
        self
    }

    /// Debug mode on or off (overrides `CORIO_DEBUG`); see [`crate::debug`].
    #[must_use]
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = on;
        self
    }

    /// Polls longer than this are reported in debug mode (default 100 ms).
    #[must_use]
    pub fn slow_poll_threshold(mut self, threshold: Duration) -> Self {
        self.slow_poll_threshold = threshold;
        self
    }

    /// Where debug reports go (default: a line on stderr).
    #[must_use]
    pub fn debug_sink<F>(mut self, sink: F) -> Self
    where
        F: Fn(&DebugReport) + Send + Sync + 'static,
    {
        self.debug_sink = Some(Arc::new(sink));
        self
    }

    /// What to do about panics nobody retrieves (default: report and go on).
    #[must_use]
    pub fn unhandled_panic(mut self, policy: UnhandledPanic) -> Self {
        self.unhandled_panic = policy;
        self
    }

    /// The exception handler for panics nobody retrieves (asyncio's
    /// `loop.set_exception_handler`). It replaces the default report on stderr;
    /// in debug mode the debug sink gets a report as well.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let seen = Arc::new(AtomicUsize::new(0));
    /// let s = seen.clone();
    /// let rt = corio::Runtime::builder()
    ///     .on_unhandled_panic(move |_task, _payload| { s.fetch_add(1, Ordering::SeqCst); })
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async {
    ///     drop(corio::create_task(async { panic!("nobody listens") }));
    ///     while seen.load(Ordering::SeqCst) == 0 {
    ///         corio::sleep(std::time::Duration::from_millis(5)).await;
    ///     }
    /// });
    /// assert_eq!(seen.load(Ordering::SeqCst), 1);
    /// ```
    #[must_use]
    pub fn on_unhandled_panic<F>(mut self, handler: F) -> Self
    where
        F: Fn(&TaskMeta, &(dyn Any + Send)) + Send + Sync + 'static,
    {
        self.panic_handler = Some(Arc::new(handler));
        self
    }

    /// Inspection from outside the process (default: `CORIO_INSPECT=1` in the
    /// environment): the task tree is written to stderr on SIGUSR1 and served on
    /// the Unix socket [`inspect::socket_path`](crate::inspect::socket_path)`(pid)`
    /// (owner only), and tasks' busy and wait times are measured. See
    /// [`inspect`](crate::inspect). Off costs nothing.
    ///
    /// ```
    /// let rt = corio::Runtime::builder().inspect(true).build().unwrap();
    /// let path = corio::inspect::socket_path(std::process::id());
    /// assert!(path.exists());
    /// drop(rt);
    /// assert!(!path.exists());
    /// ```
    pub fn inspect(mut self, on: bool) -> Self {
        self.inspect = on;
        self
    }

    /// A task inside one poll for longer than `threshold` has **stalled** its worker
    /// thread (a blocking call in async code: `std::thread::sleep`, a slow C library,
    /// a busy loop). Default 10 ms; `None` turns stall handling off.
    ///
    /// While a worker is stalled the runtime heals around it: another worker (or a
    /// monitor thread) keeps driving I/O and timers, the tasks queued on the stalled
    /// worker are stolen by the others, and when every worker is stalled extra workers
    /// are started (see [`max_extra_workers`](Builder::max_extra_workers)). Each stall
    /// is reported to [`on_stall`](Builder::on_stall) (default: a line on stderr).
    /// On an oversubscribed machine, time a worker's thread waits for a CPU is not a
    /// stall, but the tasks queued behind its poll are stolen after `threshold` all
    /// the same.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let rt = corio::Runtime::builder()
    ///     .worker_threads(2)
    ///     .on_stall(|_| {}) // this example blocks on purpose
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async {
    ///     let blocker = corio::create_task(async {
    ///         std::thread::sleep(Duration::from_millis(500)); // blocks a worker
    ///     });
    ///     let start = Instant::now();
    ///     corio::sleep(Duration::from_millis(10)).await; // still fires on time
    ///     assert!(start.elapsed() < Duration::from_millis(400));
    ///     blocker.await.unwrap();
    /// });
    /// ```
    pub fn stall_threshold(mut self, threshold: Option<Duration>) -> Self {
        self.stall_threshold = Some(threshold);
        self
    }

    /// How many extra worker threads may run at once while every worker is stalled
    /// (default: as many as [`worker_threads`](Builder::worker_threads)); each retires
    /// when the stall it stood in for ends. The runtime never has more than
    /// `worker_threads + max_extra_workers` workers, plus one monitor thread and the
    /// blocking pool.
    pub fn max_extra_workers(mut self, n: usize) -> Self {
        self.max_extra_workers = Some(n);
        self
    }

    /// Called (on the monitor thread) once when a stall is detected and once when it
    /// ends, with the task's name, spawn location and how long it blocked its worker.
    /// It replaces the default handler, which writes one line on stderr for each, in
    /// release builds too; `.on_stall(|_| {})` silences it. A panic inside is ignored.
    pub fn on_stall<F>(mut self, handler: F) -> Self
    where
        F: Fn(&StallReport) + Send + Sync + 'static,
    {
        self.stall_handler = Some(Arc::new(handler));
        self
    }

    /// Start the workers and the blocking pool.
    pub fn build(self) -> io::Result<Runtime> {
        #[cfg(feature = "sim")]
        if crate::sim::is_active() {
            return Err(crate::sim::refuse_threads("building a corio Runtime"));
        }
        crate::tree::install_reactor_await_points();
        let debug_on = self.debug;
        let sink = self.debug_sink.clone().unwrap_or_else(debug::stderr_sink);
        let shutdown_requested: Deferred<String> = Deferred::new();
        let slot: Arc<OnceLock<Weak<Shared>>> = Arc::new(OnceLock::new());

        let mut sb = corio_scheduler::Builder::new()
            .thread_name(self.thread_name.clone())
            .park_hook(Arc::new(park::ReactorPark::new()));
        if self.current_thread {
            sb = sb.current_thread();
        } else if let Some(n) = self.worker_threads {
            sb = sb.worker_threads(n);
        }
        if let Some(bytes) = self.thread_stack_size {
            sb = sb.thread_stack_size(bytes);
        }
        {
            let slot = slot.clone();
            sb = sb.on_thread_start(move || {
                WORKER.with(|w| *w.borrow_mut() = Some(slot.clone()));
            });
        }
        sb = sb.on_thread_stop(|| {
            WORKER.with(|w| w.borrow_mut().take());
            CONTEXT.with(|c| c.borrow_mut().take());
        });
        {
            let handler = self.panic_handler.clone();
            let policy = self.unhandled_panic;
            let sink = sink.clone();
            let shutdown = shutdown_requested.clone();
            sb = sb.unhandled_panic(move |meta: &TaskMeta, payload: Box<dyn Any + Send>| {
                let info = meta;
                if debug_on {
                    sink(&DebugReport::UnretrievedPanic {
                        task: info.clone(),
                        message: debug::panic_text(&*payload).to_owned(),
                    });
                }
                match &handler {
                    Some(h) => h(info, &*payload),
                    None if !debug_on => eprintln!(
                        "Task exception was never retrieved: {info} panicked: {}",
                        debug::panic_text(&*payload)
                    ),
                    None => {}
                }
                if policy == UnhandledPanic::ShutdownRuntime {
                    let _ = shutdown.set_result(format!(
                        "{info} panicked ({}) and nobody retrieved the panic",
                        debug::panic_text(&*payload)
                    ));
                }
            });
        }
        if let Some(threshold) = self.stall_threshold {
            sb = sb.stall_threshold(threshold);
        }
        if let Some(n) = self.max_extra_workers {
            sb = sb.max_extra_workers(n);
        }
        {
            let handler = self
                .stall_handler
                .clone()
                .unwrap_or_else(|| Arc::new(stall::default_handler));
            let slot = slot.clone();
            // The task a stall's end is about may be gone from the task list by
            // then: remember what the start report found, per worker.
            let stalled = Mutex::new(std::collections::HashMap::new());
            sb = sb.on_stall(move |report: &corio_scheduler::StallReport| {
                let mut stalled = stalled.lock().unwrap_or_else(|p| p.into_inner());
                let report = if report.ended() {
                    let task = stalled.remove(&report.worker());
                    StallReport::with_task(report, task)
                } else {
                    let id = report.task_id();
                    let task = slot.get().and_then(Weak::upgrade).and_then(|shared| {
                        let found = shared
                            .sched
                            .map_tasks(|t| (t.id().as_u64() == id).then(|| t.meta().clone()));
                        found.into_iter().flatten().next()
                    });
                    let report = StallReport::with_task(report, task);
                    if let Some(task) = report.task() {
                        stalled.insert(report.worker(), task.clone());
                    }
                    report
                };
                drop(stalled);
                handler(&report);
            });
        }
        if debug_on {
            let sink = sink.clone();
            let slot = slot.clone();
            let reported = debug::SlowReported::default();
            let threshold = self.slow_poll_threshold;
            sb = sb.on_slow_poll(threshold, move |meta: &TaskMeta, elapsed: Duration| {
                let live = || match slot.get().and_then(Weak::upgrade) {
                    Some(shared) => shared.sched.map_tasks(|t| t.id()),
                    None => Vec::new(),
                };
                if !reported.first(meta.id(), live) {
                    return;
                }
                sink(&DebugReport::SlowPoll {
                    task: meta.clone(),
                    elapsed,
                    threshold,
                });
            });
        }
        let executor = sb.build()?;

        let blocking = corio_blocking::BlockingPool::builder()
            .max_threads(self.max_blocking_threads)
            .thread_name(format!("{}-blocking", self.thread_name))
            .build();

        let shared = Arc::new(Shared {
            name: self.thread_name.clone(),
            sched: executor.handle().clone(),
            local_tasks: Default::default(),
            blocking,
            shutdown_requested,
            debug: debug_on,
            timed: self.inspect || debug_on,
            cancel_grace: self.cancel_grace,
        });
        let _ = slot.set(Arc::downgrade(&shared));
        let handle = Handle::of(shared.clone());
        let inspector = if self.inspect {
            let started = crate::inspect::Inspector::start(handle.clone());
            Some(started.map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("runtime inspection (Builder::inspect / CORIO_INSPECT) could not start: {e}"),
                )
            })?)
        } else {
            None
        };
        Ok(Runtime {
            executor: Some(executor),
            handle,
            shared,
            inspector,
            // The current-thread flavor drives only inside `block_on`: between calls
            // the reactor's fallback thread delivers I/O and timer wake-ups.
            driver: (!self.current_thread).then(|| corio_reactor::Reactor::get().register_driver()),
        })
    }
}

pub(crate) struct Shared {
    /// The runtime's name in messages: its thread name prefix.
    name: String,
    sched: corio_scheduler::Handle,
    /// Local tasks, listed where every thread can read them (see `LocalTaskList`).
    local_tasks: Arc<LocalTaskList>,
    pub(crate) blocking: corio_blocking::BlockingPool,
    /// Set (with the reason) when the unhandled-panic policy shuts the runtime down.
    shutdown_requested: Deferred<String>,
    debug: bool,
    /// Measure busy and wait times of tasks (inspection or debug mode on).
    timed: bool,
    /// Default grace period of cooperative cancellation (`None`: drop at once).
    cancel_grace: Option<Duration>,
}

thread_local! {
    /// The runtime this thread is in: set inside `block_on`, and on workers on
    /// first use (from `WORKER`).
    static CONTEXT: RefCell<Option<Handle>> = const { RefCell::new(None) };
    /// On worker threads: the runtime that owns the worker (filled in once the
    /// runtime is built; workers may start before that).
    static WORKER: RefCell<Option<Arc<OnceLock<Weak<Shared>>>>> = const { RefCell::new(None) };
}

/// Restores the previous `CONTEXT` when `block_on` returns or unwinds.
struct EnterGuard(Option<Handle>);

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.0.take();
        CONTEXT.with(|c| *c.borrow_mut() = prev);
    }
}

fn enter(handle: Handle) -> EnterGuard {
    EnterGuard(CONTEXT.with(|c| c.borrow_mut().replace(handle)))
}

/// An asyncio event loop: worker threads, the reactor, a blocking pool.
///
/// # Shutdown
///
/// Dropping it shuts it down: every pending task is cancelled (its future
/// dropped, its [`Task`] resolving `Err(Cancelled)`), queued blocking closures
/// are dropped, and the drop waits **at most 5 s in all** for the workers to
/// finish the polls they are in and for blocking closures already running;
/// whatever still runs then is detached (finishes on its own thread, never
/// joined). [`shutdown_timeout`](Runtime::shutdown_timeout) does the same with
/// your bound; [`shutdown_background`](Runtime::shutdown_background) waits for
/// nothing.
///
/// Dropping a runtime inside async code (in a task of any runtime, or in a
/// `block_on` future) would make that wait on a worker thread, so it **panics**
/// instead, after starting the shutdown in the background: there, use
/// `shutdown_background`, or drop the runtime from a plain thread. Dropping it
/// while a panic unwinds never panics again (the shutdown then goes to the
/// background without a word if in async code).
///
/// ```
/// let rt = corio::Runtime::new().unwrap();
/// let t = rt.handle().create_task(async { 7 });
/// assert_eq!(rt.block_on(t).unwrap(), 7);
/// ```
pub struct Runtime {
    executor: Option<corio_scheduler::Executor>,
    handle: Handle,
    /// What `handle` drives (kept here too: a runtime's handle is never a
    /// simulation's).
    shared: Arc<Shared>,
    /// The inspection thread and socket, when inspection is on (see `Builder::inspect`).
    inspector: Option<crate::inspect::Inspector>,
    /// While it lives, the reactor's fallback thread stays idle: our workers drive.
    /// `None` in the current-thread flavor, whose `block_on` holds one while it runs.
    driver: Option<corio_reactor::DriverGuard>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("live_tasks", &self.handle.metrics().live_tasks)
            .field("debug", &self.shared.debug)
            .finish()
    }
}

impl Runtime {
    /// A runtime with the default settings ([`Builder::new`]).
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A [`Builder`] to configure one.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A handle to spawn tasks and schedule callbacks from any thread.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Run `fut` on this thread until it completes, while the workers run the
    /// tasks (asyncio's `loop.run_until_complete`). `fut` need not be `Send`.
    ///
    /// # Panics
    /// If called from inside a runtime (a task, or another `block_on`), or when
    /// the [`UnhandledPanic::ShutdownRuntime`] policy fired.
    #[track_caller]
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        assert!(
            Handle::try_current().is_none(),
            "Runtime::block_on() cannot be called from a running runtime: it would block a \
             thread the runtime needs; `.await` the future instead"
        );
        let _guard = enter(self.handle.clone());
        let _driver = self
            .driver
            .is_none()
            .then(|| corio_reactor::Reactor::get().register_driver());
        box_if_large!(fut => self.drive(fut))
    }

    fn drive<F: Future>(&self, fut: F) -> F::Output {
        let Some(executor) = self.executor.as_ref() else {
            unreachable!("the executor lives until the runtime is dropped")
        };
        let stop = self.shared.shutdown_requested.clone();
        // The main future runs in a copy of the caller's context variables (as
        // asyncio.run's main task): what it sets stays inside the run.
        let mut fut = std::pin::pin!(corio_core::Context::current().scope(fut));
        let mut stop = std::pin::pin!(stop);
        let outcome = executor.block_on(std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(out) = fut.as_mut().poll(cx) {
                return std::task::Poll::Ready(Ok(out));
            }
            stop.as_mut().poll(cx).map(Err)
        }));
        match outcome {
            Ok(out) => out,
            Err(reason) => panic!(
                "corio runtime shut down by the UnhandledPanic::ShutdownRuntime policy: {}",
                reason.unwrap_or_else(|e| e.to_string())
            ),
        }
    }

    /// Shut down, waiting at most `timeout` in all (plus the time it takes to
    /// drop the tasks' futures) for the workers to finish their current polls
    /// and for running blocking closures.
    ///
    /// When it returns, every task that is not in the middle of a poll has been
    /// cancelled: its future dropped, its [`Task`] resolving `Err(Cancelled)`.
    /// Blocking closures still queued are dropped without running (their
    /// futures resolve a [cancelled](crate::BlockingError::is_cancelled) error);
    /// running ones cannot be interrupted: they are detached and finish on
    /// their own threads, which nobody joins. Returns false when something was
    /// still running at the deadline.
    ///
    /// It blocks the calling thread for up to `timeout`: inside async code, use
    /// [`shutdown_background`](Self::shutdown_background) instead.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let rt = corio::Runtime::new().unwrap();
    /// rt.handle().create_task(corio::sleep(Duration::from_secs(3600)));
    /// let start = Instant::now();
    /// assert!(rt.shutdown_timeout(Duration::from_secs(1)));
    /// assert!(start.elapsed() < Duration::from_secs(1));
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> bool {
        self.shutdown(timeout)
    }

    /// Shut down without waiting: pending tasks are cancelled (by the workers as
    /// they stop, in the background), queued blocking closures are dropped, and
    /// the worker threads and running blocking closures are detached. Returns at
    /// once; use it where blocking is not allowed (inside async code), where a
    /// plain `drop` panics.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let outer = corio::Runtime::new().unwrap();
    /// let inner = corio::Runtime::new().unwrap();
    /// let sleeper = inner.handle().create_task(corio::sleep(Duration::from_secs(3600)));
    /// outer.block_on(async move {
    ///     let start = Instant::now();
    ///     inner.shutdown_background(); // a plain drop here would panic
    ///     assert!(start.elapsed() < Duration::from_secs(1));
    /// });
    /// assert!(sleeper.wait_blocking().unwrap_err().is_cancelled());
    /// ```
    pub fn shutdown_background(mut self) {
        self.shutdown_in_background();
    }

    fn shutdown_in_background(&mut self) {
        let Some(ex) = self.executor.take() else {
            return;
        };
        drop(self.inspector.take());
        ex.shutdown_background();
        // Drops queued closures; does not wait for running ones.
        self.shared.blocking.shutdown_timeout(Duration::ZERO);
    }

    /// The shutdown of [`shutdown_timeout`](Self::shutdown_timeout) and `drop`:
    /// one deadline for the workers and the blocking pool. Later calls do
    /// nothing and return true.
    fn shutdown(&mut self, timeout: Duration) -> bool {
        let Some(ex) = self.executor.take() else {
            return true;
        };
        // First the inspector: its thread stops at once and the socket goes.
        drop(self.inspector.take());
        let deadline = Instant::now().checked_add(timeout);
        // The scheduler cancels every task, including those idle in a timer or an
        // I/O wait (in no queue).
        let mut clean = ex.shutdown_timeout(timeout);
        let left = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
        clean &= self.shared.blocking.shutdown_timeout(left);
        clean
    }

    /// Counters of the scheduler (live tasks included) and the blocking pool.
    pub fn metrics(&self) -> RuntimeMetrics {
        self.handle.metrics()
    }
}

impl Drop for Runtime {
    /// Shuts down as [`Runtime::shutdown_timeout`] with a 5 s bound: tasks are
    /// cancelled, and the drop waits at most 5 s in all for the workers to finish
    /// their current polls and for running blocking closures (the rest is
    /// detached). Inside async code it shuts down in the background and panics
    /// (see [`Runtime`]'s "Shutdown").
    fn drop(&mut self) {
        if self.executor.is_none() {
            return;
        }
        let Some(place) = async_context() else {
            self.shutdown(SHUTDOWN_GRACE);
            return;
        };
        self.shutdown_in_background();
        let msg = format!(
            "corio: the runtime '{}' was dropped inside async code ({place}): waiting there for \
             its threads would block a worker thread, so its shutdown was started in the \
             background instead (its tasks are cancelled, running blocking closures detached). \
             Call Runtime::shutdown_background() there, or drop the runtime from a plain thread \
             (outside any runtime)",
            self.shared.name
        );
        if std::thread::panicking() {
            // Never a second panic while unwinding (that would abort the process).
            eprintln!("{msg}");
        } else {
            panic!("{msg}");
        }
    }
}

/// Where this thread runs async code, if it does: a task (of any corio runtime or
/// executor) or a `block_on` future. `None` on a plain thread.
fn async_context() -> Option<String> {
    if let Some(h) = Handle::try_current() {
        let what = if corio_core::current().is_some() {
            "a task"
        } else {
            "a block_on future"
        };
        return Some(match &h.flavor {
            Flavor::Runtime(shared) => format!("{what} of the runtime '{}'", shared.name),
            #[cfg(feature = "sim")]
            Flavor::Sim(_) => format!("{what} of a corio::sim simulation"),
        });
    }
    if corio_core::current().is_some() || corio_scheduler::Handle::try_current().is_some() {
        return Some("a task or block_on future of a corio executor".to_owned());
    }
    None
}

/// A snapshot of a runtime's counters (stable API, no cfg flags).
#[derive(Debug, Clone)]
pub struct RuntimeMetrics {
    /// The scheduler's counters (workers, queue depths, steals, parks, polls, ...).
    pub scheduler: corio_scheduler::Metrics,
    /// Tasks spawned and not yet finished or dropped.
    pub live_tasks: usize,
    /// Threads in the blocking pool now.
    pub blocking_threads: usize,
    /// Of which idle.
    pub blocking_idle_threads: usize,
}

/// A cheap, cloneable handle to a runtime, usable from any thread
/// (`Send + Sync`): spawn tasks, schedule callbacks, read metrics.
///
/// ```
/// let rt = corio::Runtime::new().unwrap();
/// let h = rt.handle();
/// let from_thread = std::thread::spawn(move || h.create_task(async { 5 }).wait_blocking())
///     .join()
///     .unwrap();
/// assert_eq!(from_thread.unwrap(), 5);
/// ```
#[derive(Clone)]
pub struct Handle {
    flavor: Flavor,
}

/// What a [`Handle`] drives.
#[derive(Clone)]
enum Flavor {
    /// A runtime's workers (a single-variant enum without the `sim` feature:
    /// no tag, no branch).
    Runtime(Arc<Shared>),
    /// The `corio::sim` simulation running on this thread.
    #[cfg(feature = "sim")]
    Sim(Arc<crate::sim::Shared>),
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

impl Handle {
    fn of(shared: Arc<Shared>) -> Handle {
        Handle {
            flavor: Flavor::Runtime(shared),
        }
    }

    /// The runtime's state; `None` for a simulation's handle.
    #[inline]
    fn runtime(&self) -> Option<&Arc<Shared>> {
        match &self.flavor {
            Flavor::Runtime(shared) => Some(shared),
            #[cfg(feature = "sim")]
            Flavor::Sim(_) => None,
        }
    }

    /// The runtime's blocking pool; `None` for a simulation's handle (a
    /// simulation runs blocking work inline).
    pub(crate) fn blocking_pool(&self) -> Option<&corio_blocking::BlockingPool> {
        self.runtime().map(|shared| &shared.blocking)
    }

    /// The runtime's default cancellation grace ([`Builder::cancel_grace`]).
    pub(crate) fn cancel_grace(&self) -> Option<Duration> {
        self.runtime().and_then(|shared| shared.cancel_grace)
    }

    /// The runtime this thread is in (a worker, or inside `block_on`), if any
    /// (asyncio's `get_running_loop`, returning `None` instead of raising).
    ///
    /// Inside a [`corio::sim`](crate::sim) simulation (feature `sim`), a
    /// handle to the simulation: its tasks and callbacks run on the simulated
    /// workers.
    pub fn try_current() -> Option<Handle> {
        #[cfg(feature = "sim")]
        if crate::sim::is_active() {
            return Some(Handle {
                flavor: Flavor::Sim(crate::sim::current_shared()),
            });
        }
        if let Some(h) = CONTEXT.with(|c| c.borrow().clone()) {
            return Some(h);
        }
        let shared = WORKER.with(|w| w.borrow().as_ref()?.get()?.upgrade())?;
        let h = Handle::of(shared);
        CONTEXT.with(|c| *c.borrow_mut() = Some(h.clone()));
        Some(h)
    }

    /// The runtime this thread is in.
    ///
    /// # Panics
    /// Outside a runtime, with a message saying how to get one.
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Some(h) => h,
            None => outside_runtime("corio::Handle::current()"),
        }
    }

    /// Spawn `fut` on this runtime, from any thread (asyncio's
    /// `run_coroutine_threadsafe` when called from another thread; combine with
    /// [`Task::wait_blocking`]).
    #[track_caller]
    pub fn create_task<F>(&self, fut: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let location = Location::caller();
        box_if_large!(fut => self.spawn_inner(fut, None, location))
    }

    pub(crate) fn spawn_inner<F>(
        &self,
        fut: F,
        name: Option<Cow<'static, str>>,
        location: &'static Location<'static>,
    ) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_opts(fut, name, None, location)
    }

    /// Spawn with a cancellation grace period (`None`: the runtime's default).
    pub(crate) fn spawn_opts<F>(
        &self,
        fut: F,
        name: Option<Cow<'static, str>>,
        grace: Option<Duration>,
        location: &'static Location<'static>,
    ) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.flavor {
            Flavor::Runtime(shared) => {
                #[cfg(feature = "sim")]
                if crate::sim::is_active() {
                    crate::sim::real_runtime_used();
                }
                shared.spawn_placed::<OnWorkers, F>(fut, name, grace, location)
            }
            #[cfg(feature = "sim")]
            Flavor::Sim(shared) => crate::sim::spawn_on(shared, fut, name, grace, location),
        }
    }

    /// Every live task of this runtime with what it is doing, in id (spawn)
    /// order (see [`all_tasks`](crate::all_tasks)).
    pub fn all_tasks(&self) -> Vec<TaskSnapshot> {
        match &self.flavor {
            Flavor::Runtime(shared) => shared.all_tasks(),
            #[cfg(feature = "sim")]
            Flavor::Sim(shared) => shared.queues().live_tasks(),
        }
    }

    /// Every live task of this runtime as a tree (see [`task_tree`](crate::task_tree)).
    pub fn task_tree(&self) -> TaskTree {
        TaskTree::new(self.all_tasks())
    }

    /// Counters of the scheduler (live tasks included) and the blocking pool.
    ///
    /// # Panics
    /// On a simulation's handle (feature `sim`): a simulation has no
    /// scheduler threads to count; its [`Trace`](crate::sim::Trace) says what ran.
    pub fn metrics(&self) -> RuntimeMetrics {
        match &self.flavor {
            Flavor::Runtime(shared) => shared.metrics(),
            #[cfg(feature = "sim")]
            Flavor::Sim(_) => panic!(
                "corio::Handle::metrics() inside a corio::sim simulation: a simulation has no \
                 scheduler or blocking threads to count; read the run's Outcome::trace() instead"
            ),
        }
    }

    /// True when debug mode is on for this runtime (never in a simulation).
    pub fn debug(&self) -> bool {
        self.runtime().is_some_and(|shared| shared.debug)
    }
}

impl Shared {
    /// The one spawn path of tasks and local tasks: `P` says where the task runs.
    fn spawn_placed<P, F>(
        &self,
        fut: F,
        name: Option<Cow<'static, str>>,
        grace: Option<Duration>,
        location: &'static Location<'static>,
    ) -> Task<F::Output>
    where
        F: Future,
        P: Place<Plain<F>> + Place<Coop<F>>,
    {
        match grace.or(self.cancel_grace) {
            None => self.spawn_tracked::<P, _, _>(Plain { fut }, None, name, location),
            Some(grace) => {
                let state = CancelState::new(grace);
                let coop = Coop::new(fut, state.clone());
                self.spawn_tracked::<P, _, _>(coop, Some(state), name, location)
            }
        }
    }

    fn spawn_tracked<P, F, T>(
        &self,
        fut: F,
        coop: Option<Arc<CancelState>>,
        name: Option<Cow<'static, str>>,
        location: &'static Location<'static>,
    ) -> Task<T>
    where
        F: Future<Output = Option<T>>,
        P: Place<F>,
    {
        // The task starts with a copy of its spawner's context variables
        // (asyncio's create_task copies the current context); corio-core makes it
        // current around each poll.
        let builder = self
            .task_builder(name, location)
            .context(corio_core::Context::current());
        Task::from_core(P::spawn(self, builder, fut), coop)
    }

    /// The metadata every task of this runtime gets, local or not: its parent (the
    /// spawning task), name and spawn location, and whether its times are measured.
    /// The scheduler's task list is the table of live tasks (`all_tasks`, the task
    /// tree): the identity and the statistics live in the task itself.
    fn task_builder(
        &self,
        name: Option<Cow<'static, str>>,
        location: &'static Location<'static>,
    ) -> corio_core::Builder {
        let mut b = corio_core::Builder::new()
            .location(location)
            .timed(self.timed);
        if let Some(parent) = corio_core::current_id() {
            b = b.parent(parent);
        }
        if let Some(name) = name {
            b = b.name(name);
        }
        b
    }

    fn all_tasks(&self) -> Vec<TaskSnapshot> {
        let running = self.sched.running_tasks();
        let mut tasks = self.sched.map_tasks(|t| TaskSnapshot::read(t, &running));
        tasks.extend(self.local_tasks.map(|t| TaskSnapshot::read(t, &running)));
        tasks.sort_by_key(TaskSnapshot::id);
        tasks
    }

    fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics {
            scheduler: self.sched.metrics(),
            live_tasks: self.sched.task_count() + self.local_tasks.len(),
            blocking_threads: self.blocking.thread_count(),
            blocking_idle_threads: self.blocking.idle_count(),
        }
    }
}

/// Names and spawns tasks (asyncio's `create_task(coro, name=...)`).
///
/// ```
/// corio::run(async {
///     let t = corio::TaskBuilder::new().name("fetch").spawn(async { 1 });
///     assert_eq!(t.name(), Some("fetch"));
///     t.await.unwrap();
/// });
/// ```
#[derive(Debug, Default, Clone)]
pub struct TaskBuilder {
    name: Option<Cow<'static, str>>,
    grace: Option<Duration>,
}

impl TaskBuilder {
    /// A builder for an unnamed task.
    pub fn new() -> Self {
        TaskBuilder {
            name: None,
            grace: None,
        }
    }

    /// Cancel this task cooperatively, with `grace` for its cleanup: on
    /// `cancel()` it is woken, its corio leaves complete as cancelled, and it
    /// is dropped if it has not returned when `grace` ends (zero: at once).
    /// See [`crate::cancel`].
    ///
    /// ```
    /// use std::time::Duration;
    /// corio::run(async {
    ///     let t = corio::TaskBuilder::new()
    ///         .cancel_grace(Duration::from_millis(500))
    ///         .spawn(async {
    ///             corio::sleep(Duration::from_secs(3600)).await;
    ///             corio::cleanup(corio::sleep(Duration::from_millis(5))).await;
    ///         });
    ///     corio::yield_now().await;
    ///     t.cancel();
    ///     assert!(t.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// Name the task (shown by `all_tasks`, debug reports and panic reports).
    #[must_use]
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Spawn on the current runtime.
    ///
    /// # Panics
    /// Outside a runtime (see [`create_task`]).
    #[track_caller]
    pub fn spawn<F>(self, fut: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let location = Location::caller();
        box_if_large!(fut => spawn_current("TaskBuilder::spawn", fut, self.name, self.grace, location))
    }

    /// Spawn a future that need not be `Send` on this thread (see
    /// [`create_local_task`]).
    ///
    /// # Panics
    /// Where no thread of a runtime runs (see [`create_local_task`]).
    ///
    /// ```
    /// use std::rc::Rc;
    /// corio::run(async {
    ///     let shared = Rc::new(5);
    ///     let t = corio::TaskBuilder::new()
    ///         .name("local")
    ///         .spawn_local(async move { *shared * 2 });
    ///     assert_eq!(t.name(), Some("local"));
    ///     assert_eq!(t.await.unwrap(), 10);
    /// });
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(self, fut: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let location = Location::caller();
        box_if_large!(fut => spawn_local_current(fut, self.name, self.grace, location))
    }

    /// Spawn on the runtime of `handle`, from any thread.
    #[track_caller]
    pub fn spawn_on<F>(self, handle: &Handle, fut: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let location = Location::caller();
        box_if_large!(fut => handle.spawn_opts(fut, self.name, self.grace, location))
    }
}

/// `Handle::spawn_inner` on this thread's runtime (see [`with_current`]).
#[track_caller]
fn spawn_current<F>(
    what: &str,
    fut: F,
    name: Option<Cow<'static, str>>,
    grace: Option<Duration>,
    location: &'static Location<'static>,
) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[cfg(feature = "sim")]
    if crate::sim::is_active() {
        let sim = crate::sim::current_shared();
        return crate::sim::spawn_on(&sim, fut, name, grace, location);
    }
    with_current(what, |h| h.spawn_opts(fut, name, grace, location))
}

/// The one panic of every facade function that needs a runtime and is called
/// outside one (asyncio's `RuntimeError: no running event loop`); `what` names
/// the function, e.g. `corio::create_task()`.
#[track_caller]
pub(crate) fn outside_runtime(what: &str) -> ! {
    panic!(
        "{what} called outside a corio runtime: call it from code running inside \
         corio::run(...) or Runtime::block_on, or keep a Handle (rt.handle()) and use it \
         from other threads"
    )
}

/// Run `f` with this thread's runtime, without cloning its `Handle` (an
/// atomic increment and decrement on a counter every worker shares: measurable
/// on the spawn path).
///
/// # Panics
/// Outside a runtime, with a message naming `what`.
#[track_caller]
fn with_current<R>(what: &str, f: impl FnOnce(&Handle) -> R) -> R {
    // Fills the thread-local cache on a worker's first use.
    let in_runtime = CONTEXT.with(|c| c.borrow().is_some()) || Handle::try_current().is_some();
    if !in_runtime {
        outside_runtime(&format!("corio::{what}()"));
    }
    // A shared borrow: code run by `f` (a future dropped during a spawn) may
    // spawn again, which only borrows again.
    CONTEXT.with(|c| match c.borrow().as_ref() {
        Some(h) => f(h),
        None => unreachable!("the runtime context was just checked"),
    })
}

/// Schedule `fut` to run concurrently as a task on the current runtime
/// (`asyncio.create_task(coro)`); the caller's location is recorded for debug
/// output.
///
/// # Panics
/// Outside a runtime, with a message saying what to do instead.
///
/// ```
/// use std::time::Duration;
/// corio::run(async {
///     let t = corio::create_task(async {
///         corio::sleep(Duration::from_millis(5)).await;
///         "done"
///     });
///     assert_eq!(t.await.unwrap(), "done");
/// });
/// ```
#[track_caller]
pub fn create_task<F>(fut: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let location = Location::caller();
    box_if_large!(fut => spawn_current("create_task", fut, None, None, location))
}

/// [`create_task`] with a name (`asyncio.create_task(coro, name=...)`).
///
/// ```
/// corio::run(async {
///     let t = corio::create_task_named("answer", async { 42 });
///     assert_eq!(t.name(), Some("answer"));
///     assert_eq!(t.await.unwrap(), 42);
/// });
/// ```
#[track_caller]
pub fn create_task_named<F>(name: impl Into<Cow<'static, str>>, fut: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let location = Location::caller();
    let name = Some(name.into());
    box_if_large!(fut => spawn_current("create_task_named", fut, name, None, location))
}

/// Where a spawned task runs: [`OnWorkers`] (any worker, so the future must be
/// `Send`) or [`OnThisThread`] (a local task); both share `Handle::spawn_placed`.
trait Place<F: Future> {
    fn spawn(h: &Shared, builder: corio_core::Builder, fut: F) -> corio_core::Task<F::Output>;
}

/// [`create_task`]: on the runtime's workers.
struct OnWorkers;

impl<F> Place<F> for OnWorkers
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[inline]
    fn spawn(h: &Shared, builder: corio_core::Builder, fut: F) -> corio_core::Task<F::Output> {
        h.sched.spawn_with(builder, fut)
    }
}

/// [`create_local_task`]: on this thread, in corio-scheduler's home for it.
struct OnThisThread;

impl<F> Place<F> for OnThisThread
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn spawn(h: &Shared, builder: corio_core::Builder, fut: F) -> corio_core::Task<F::Output> {
        // The scheduler lists local tasks on their own thread only: the runtime's
        // local-task list lets every thread see them (all_tasks, the task tree).
        let id = corio_core::TaskId::fresh();
        let builder = builder.id(id);
        let spawned = h.local_tasks.spawn(id, fut, |fut| {
            corio_scheduler::try_spawn_local_with(builder, fut)
        });
        match spawned {
            Ok(task) => task,
            Err(fut) => {
                drop(fut);
                panic!("{NO_LOCAL_CONTEXT}")
            }
        }
    }
}

/// The panic message of [`create_local_task`] where no thread of a runtime runs.
const NO_LOCAL_CONTEXT: &str = "corio::create_local_task() called where no local task can run: \
     a local task runs on the thread that spawns it, so call it from code running inside \
     corio::run(...), Runtime::block_on or a task, not from a to_thread/run_in_executor \
     closure or a plain thread; from there, spawn a Send future with Handle::create_task";

/// Schedule a future that need not be `Send` as a task on **this thread**: the
/// way to port asyncio code that keeps its state in plain objects (in Rust,
/// `Rc<RefCell<..>>`) without rewriting that state.
///
/// The task runs only on the thread that spawned it, never on another worker,
/// even when it is woken from another thread (its waker sends it home). Inside a
/// task it runs on that task's worker; inside [`run`]'s or
/// [`Runtime::block_on`]'s future it runs on the `block_on` thread, while that
/// future waits (use [`Builder::current_thread`] to run *everything* on one
/// thread). It returns a [`Task`] like [`create_task`]: await it, cancel it,
/// drop it to detach it. Its output need not be `Send` either.
///
/// A local task still pending when its thread stops running the runtime (the
/// `block_on` call returns, or the runtime shuts down) is cancelled there: its
/// future is always dropped on its own thread.
///
/// # Panics
/// Where no thread of a runtime runs: outside a runtime, in a
/// [`to_thread`](crate::to_thread) closure, on a plain thread. The message says
/// what to do instead.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// corio::run(async {
///     // asyncio: a plain list shared by the coroutines of one loop.
///     let log = Rc::new(RefCell::new(Vec::new()));
///     let tasks: Vec<_> = (0..3)
///         .map(|i| {
///             let log = log.clone();
///             corio::create_local_task(async move {
///                 corio::yield_now().await;
///                 log.borrow_mut().push(i);
///             })
///         })
///         .collect();
///     for t in tasks {
///         t.await.unwrap();
///     }
///     assert_eq!(log.borrow().len(), 3);
/// });
/// ```
#[track_caller]
pub fn create_local_task<F>(fut: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let location = Location::caller();
    box_if_large!(fut => spawn_local_current(fut, None, None, location))
}

/// A local task (see [`create_local_task`]) on this thread's runtime.
#[track_caller]
fn spawn_local_current<F>(
    fut: F,
    name: Option<Cow<'static, str>>,
    grace: Option<Duration>,
    location: &'static Location<'static>,
) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    #[cfg(feature = "sim")]
    if crate::sim::is_active() {
        return crate::sim::spawn_local(fut, name, grace, location);
    }
    // The runtime gives the defaults and the task list; the thread's home (a worker,
    // or a `block_on` thread) comes from corio-scheduler's thread-local context.
    match Handle::try_current().as_ref().and_then(Handle::runtime) {
        Some(shared) => shared.spawn_placed::<OnThisThread, F>(fut, name, grace, location),
        None => panic!("{NO_LOCAL_CONTEXT}"),
    }
}

/// Run `fut` to completion on a new default runtime, then shut it down
/// (`asyncio.run(main())`): tasks still pending are cancelled and dropped, the
/// blocking pool gets a bounded wait. `fut` runs on the calling thread and need
/// not be `Send`.
///
/// # Panics
/// When called from inside a running runtime (like asyncio's "asyncio.run()
/// cannot be called from a running event loop"), or if the runtime cannot start.
///
/// ```
/// async fn main_task() -> &'static str {
///     corio::sleep(std::time::Duration::from_millis(1)).await;
///     "hello"
/// }
/// assert_eq!(corio::run(main_task()), "hello");
/// ```
#[track_caller]
pub fn run<F: Future>(fut: F) -> F::Output {
    if Handle::try_current().is_some() || corio_scheduler::Handle::try_current().is_some() {
        panic!(
            "corio::run() cannot be called from a running runtime: you are already inside one; \
             `.await` the future (or corio::create_task it) instead"
        );
    }
    let rt = match Runtime::new() {
        Ok(rt) => rt,
        Err(e) => panic!("corio::run(): could not start the runtime's threads: {e}"),
    };
    let out = rt.block_on(fut);
    rt.shutdown_timeout(SHUTDOWN_GRACE);
    out
}
