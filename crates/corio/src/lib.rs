//! corio: an asyncio-style async runtime for Rust.
//!
//! If you know Python's asyncio ("Coroutines and Tasks"), you know corio:
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! async fn say_after(delay: Duration, what: &str) {
//!     corio::sleep(delay).await;
//!     println!("{what}");
//! }
//!
//! async fn main_task() {
//!     let start = Instant::now();
//!     let task1 = corio::create_task(say_after(Duration::from_millis(10), "hello"));
//!     let task2 = corio::create_task(say_after(Duration::from_millis(20), "world"));
//!     task1.await.unwrap();
//!     task2.await.unwrap();
//!     // concurrently: about 20 ms, not 30
//!     assert!(start.elapsed() < Duration::from_millis(500));
//! }
//!
//! corio::run(main_task());
//! ```
//!
//! | asyncio | corio |
//! |---|---|
//! | `asyncio.run(main())` | [`run`] |
//! | `asyncio.create_task(coro)` | [`create_task`], [`create_task_named`], [`TaskBuilder`] |
//! | `create_task` of a coroutine whose state is plain objects (`Rc`/`RefCell` in Rust) | [`create_local_task`] (runs on the spawning thread), [`Builder::current_thread`] |
//! | `Task` | [`Task`] (`cancel`, `cancelled`, `done`, `id`, `name`) |
//! | `asyncio.sleep` | [`sleep`], [`sleep_until`], [`interval`] |
//! | `asyncio.gather` | [`gather()`], [`gather!`] |
//! | `asyncio.wait_for`, `asyncio.timeout`, `asyncio.timeout_at` | [`wait_for`], [`timeout()`], [`timeout_at`] ([`Timeout`]: `when`, `reschedule`, `expired`) |
//! | `asyncio.wait` | [`wait`] with [`ReturnWhen`] |
//! | `asyncio.as_completed` | [`as_completed`] |
//! | `asyncio.shield` | [`shield`] |
//! | `asyncio.TaskGroup` | [`TaskGroup`] |
//! | `asyncio.Future` | [`Deferred`] |
//! | `loop.call_soon` & co. | [`Handle::call_soon`], [`Handle::call_later`], [`Handle::call_at`] |
//! | `loop.run_in_executor`, `asyncio.to_thread` | [`run_in_executor`], [`to_thread`] |
//! | `current_task`, `all_tasks` | [`current_task`], [`all_tasks`] |
//! | `python -m asyncio pstree PID` | [`task_tree`], [`Builder::inspect`], `CORIO_INSPECT=1` ([`inspect`]) |
//! | `contextvars.ContextVar`, `copy_context` | [`ContextVar`], [`Context`] (copied into each new task and `to_thread` job) |
//! | the event loop | [`Runtime`], [`Builder`], [`Handle`] |
//! | debug mode | [`Builder::debug`], `CORIO_DEBUG=1`, [`debug`] |
//! | `Lock`, `Event`, `Condition`, `Semaphore`, `BoundedSemaphore`, `Barrier` | [`sync`] |
//! | `Queue`, `PriorityQueue`, `LifoQueue` | [`queue`] |
//! | `open_connection`, `start_server` (+ Unix variants), `StreamReader`/`StreamWriter` | [`open_connection`], [`start_server`], [`streams`], [`net`] |
//! | `create_subprocess_exec`, `Process` | [`process`] |
//! | `loop.add_signal_handler`, Ctrl-C | [`signal`] |
//! | Trio's `MockClock`, deterministic testing | `sim` (feature `sim`): seeded scheduling, virtual time, replay |
//!
//! # Errors compose with `?`
//!
//! Every error type is `Send + Sync + 'static` with a short `Display`, so code inside
//! a spawned task can `?` a joined task, a timeout or a task group into
//! `Box<dyn Error + Send + Sync>` (or `anyhow::Error`); a failed task also converts
//! into `std::io::Error`.
//!
//! ```
//! use std::error::Error;
//! use std::time::Duration;
//!
//! async fn fetch() -> Result<u32, Box<dyn Error + Send + Sync>> {
//!     let part = corio::create_task(async { 40 }).await?; // TaskError
//!     let rest = corio::wait_for(async { 2 }, Duration::from_secs(5)).await?; // TimeoutError
//!     let tg = corio::TaskGroup::new();
//!     tg.create_task(async {});
//!     tg.join().await?; // TaskGroupError
//!     Ok(part + rest)
//! }
//!
//! corio::run(async {
//!     let task = corio::create_task(fetch());
//!     assert_eq!(task.await.unwrap().unwrap(), 42);
//!
//!     let failed = corio::create_task(async { panic!("boom") });
//!     let err: std::io::Error = failed.await.unwrap_err().into();
//!     assert!(err.to_string().ends_with("panicked: boom"));
//! });
//! ```
//!
//! # One rule for each concern
//!
//! - **Outside a runtime** (asyncio's `RuntimeError: no running event loop`):
//!   every function that needs the runtime — [`create_task`], [`to_thread`],
//!   [`run_in_executor(None, ..)`](run_in_executor), [`start_server`],
//!   [`TaskGroup::create_task`], [`Handle::current`] — panics, with a message
//!   that names it and says where to call it from. Functions that need only
//!   the reactor — [`sleep`], [`wait_for`], [`open_connection`], [`net`],
//!   [`queue`], [`sync`] — work under any executor.
//! - **Zero** where asyncio raises `ValueError` (`max_workers=0`,
//!   `Barrier(0)`) panics at the call that receives it, as tokio's
//!   `worker_threads(0)`: [`ThreadPool::new(0)`](ThreadPool::new),
//!   [`Builder::worker_threads(0)`](Builder::worker_threads),
//!   [`Builder::max_blocking_threads(0)`](Builder::max_blocking_threads),
//!   [`sync::Barrier::new(0)`](sync::Barrier::new), the process pool's
//!   `max_workers(0)`. Zero where asyncio gives it a meaning keeps it:
//!   `Queue::new(0)` is unbounded, `Semaphore::new(0)` starts with no permit.
//! - **Pools**: `submit` runs work on every pool ([`ThreadPool`],
//!   [`BlockingPool`], `ProcessPool`); each has `shutdown(wait)` and
//!   `shutdown_timeout(d) -> bool`.
//! - **Errors**: every public error type is an opaque struct that you ask
//!   through accessors (`is_cancelled()`, `is_full()`, `is_timeout()`,
//!   `panic_message()`, `into_inner()` for an item that came back, ...), never
//!   an enum to match; `Display` is a short lowercase line ("deadline has
//!   elapsed"), and the cause, where there is one, is the `source()`.
//!
//! # State in `Rc`/`RefCell`: local tasks and the current-thread flavour
//!
//! asyncio code keeps shared state in plain objects, since its coroutines never
//! run in parallel. A port that keeps that state in `Rc`/`RefCell` spawns its
//! tasks with [`create_local_task`] instead of [`create_task`]: the future need
//! not be `Send`, and the task runs only on the thread that spawned it (a worker,
//! or the thread inside [`run`]), woken home from any thread. To run *every*
//! task, timer and I/O wake-up on one thread, as one asyncio loop does, build
//! the runtime with [`Builder::current_thread`] (`#[corio::main(flavor =
//! "current_thread")]`).
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//!
//! let rt = corio::Runtime::builder().current_thread().build().unwrap();
//! let total = rt.block_on(async {
//!     let total = Rc::new(RefCell::new(0));
//!     let tasks: Vec<_> = (1..=3)
//!         .map(|n| {
//!             let total = total.clone();
//!             corio::create_local_task(async move {
//!                 corio::yield_now().await;
//!                 *total.borrow_mut() += n;
//!             })
//!         })
//!         .collect();
//!     for t in tasks {
//!         t.await.unwrap();
//!     }
//!     let sum = *total.borrow();
//!     sum
//! });
//! assert_eq!(total, 6);
//! ```
//!
//! The crate is a facade over corio-core (tasks), corio-scheduler (the
//! work-stealing workers), corio-reactor (I/O and timers) and corio-blocking
//! (thread and process pools); each of those is usable on its own.

pub mod process;
pub mod queue;
pub mod signal;
#[cfg(feature = "sim")]
pub mod sim;
pub mod streams;
pub mod sync;
/// TCP, UDP and Unix sockets implementing `futures_io::{AsyncRead, AsyncWrite}`
/// (corio-reactor's `net` module), under any executor.
pub use corio_reactor::net;
pub use streams::{
    open_connection, open_unix_connection, start_server, start_unix_server, Server, StreamReader,
    StreamWriter,
};

pub mod cancel;
pub mod debug;
mod deferred;
mod executor;
mod gather;
pub mod inspect;
mod runtime;
mod shield;
mod task;
mod task_group;
mod time;
mod timeout;
mod tree;

pub use cancel::cleanup;
pub use corio_core::{Context, ContextVar, ForeignTokenError, TaskError, TaskId, TaskMeta, Token};
pub use debug::DebugReport;
pub use deferred::{Deferred, DeferredError, InvalidStateError};
#[cfg(feature = "process-pool")]
pub use executor::ProcessPool;
pub use executor::{
    run_in_executor, to_thread, to_thread_cancellable, BlockingError, BlockingExecutor,
    BlockingPool, BlockingTask, Job, RunInExecutor, ThreadPool,
};
pub use gather::{as_completed, gather, wait, AsCompleted, Gather, ReturnWhen, Wait, WaitResult};
pub use runtime::callbacks::CallbackHandle;
pub use runtime::{
    create_local_task, create_task, create_task_named, run, Builder, Handle, Runtime,
    RuntimeMetrics, StallReport, TaskBuilder, UnhandledPanic,
};
pub use shield::{shield, Shielded};
pub use task::{all_tasks, current_task, Task};
pub use task_group::{GroupTask, TaskFailure, TaskGroup, TaskGroupError, TaskGroupHandle};
pub use time::{
    interval, sleep, sleep_until, yield_now, Interval, MissedTickBehavior, Sleep, YieldNow,
};
pub use timeout::{timeout, timeout_at, wait_for, Timeout, TimeoutError, WaitFor};
pub use tree::{await_point, task_tree, AwaitPoint, TaskSnapshot, TaskState, TaskTree};

// The process pool's registration and worker entry point (corio-blocking's
// `process` module) are re-exported by `corio::process` (src/process),
// next to subprocesses: `corio::process::{maybe_run_worker, RemoteFn, ...}`.

#[cfg(feature = "hyper")]
pub mod hyper;
#[cfg(all(feature = "macros", feature = "sim"))]
pub use corio_macros::sim_test;
#[cfg(feature = "macros")]
pub use corio_macros::{main, test};
mod macros_support;

#[doc(hidden)]
pub mod __private {
    pub use crate::gather::MaybeDone;
    pub use crate::macros_support::{run_main, MainConfig};
}
