//! Debug mode: slow polls and never-retrieved panics, reported to a sink.
//!
//! asyncio's debug mode (`PYTHONASYNCIODEBUG=1`) logs callbacks that hold the
//! event loop too long and exceptions nobody retrieved. corio's does the same:
//! turn it on with `CORIO_DEBUG=1` in the environment or
//! [`Builder::debug(true)`](crate::Builder::debug), and
//!
//! * a poll that takes longer than the threshold (100 ms by default,
//!   [`Builder::slow_poll_threshold`](crate::Builder::slow_poll_threshold)) is
//!   reported once per task, with its name and spawn location — the tell-tale of
//!   blocking code (a `std::thread::sleep`, a big computation) inside a task;
//! * a task that panicked and whose [`Task`](crate::Task) was dropped without
//!   being awaited is reported when that happens.
//!
//! Reports are [`DebugReport`] values given to the sink
//! ([`Builder::debug_sink`](crate::Builder::debug_sink)); the default sink prints
//! them to stderr. With debug mode off none of this is installed: the scheduler
//! does not even read the clock around polls.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//!
//! let reports = Arc::new(Mutex::new(Vec::new()));
//! let sink = reports.clone();
//! let rt = corio::Runtime::builder()
//!     .debug(true)
//!     .slow_poll_threshold(Duration::from_millis(20))
//!     .debug_sink(move |r: &corio::DebugReport| sink.lock().unwrap().push(r.to_string()))
//!     .build()
//!     .unwrap();
//! rt.block_on(async {
//!     let t = corio::create_task_named("blocker", async {
//!         std::thread::sleep(Duration::from_millis(60)); // blocks a worker: reported
//!     });
//!     t.await.unwrap();
//! });
//! drop(rt);
//! let reports = reports.lock().unwrap();
//! assert!(reports.iter().any(|r| r.contains("slow poll") && r.contains("blocker")));
//! ```

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corio_core::{TaskId, TaskMeta};

/// The tasks already reported as slow: each is reported once.
#[derive(Debug, Default)]
pub(crate) struct SlowReported(Mutex<HashSet<TaskId>>);

impl SlowReported {
    /// True the first time `id` is given. Past 4096 ids, the ids of tasks that are
    /// gone (not in `live()`) are forgotten, which bounds the memory.
    pub(crate) fn first(&self, id: TaskId, live: impl FnOnce() -> Vec<TaskId>) -> bool {
        let mut set = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let first = set.insert(id);
        if set.len() > 4096 {
            let live: HashSet<TaskId> = live().into_iter().collect();
            set.retain(|id| live.contains(id));
        }
        first
    }
}

/// One debug-mode finding.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DebugReport {
    /// A single poll of a task took longer than the threshold.
    SlowPoll {
        /// The task.
        task: TaskMeta,
        /// How long the poll took.
        elapsed: Duration,
        /// The configured threshold.
        threshold: Duration,
    },
    /// A task panicked and its `Task` handle was dropped without retrieving the
    /// panic (asyncio's "Task exception was never retrieved").
    UnretrievedPanic {
        /// The task.
        task: TaskMeta,
        /// The panic message (or a placeholder if the payload is not a string).
        message: String,
    },
}

impl fmt::Display for DebugReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DebugReport::SlowPoll {
                task,
                elapsed,
                threshold,
            } => write!(
                f,
                "corio debug: slow poll: {task} was polled for {elapsed:?} (threshold \
                 {threshold:?}); a task should not block: move blocking work to \
                 corio::to_thread or corio::run_in_executor"
            ),
            DebugReport::UnretrievedPanic { task, message } => write!(
                f,
                "corio debug: task exception was never retrieved: {task} panicked: {message}"
            ),
        }
    }
}

/// Where debug reports go.
pub(crate) type Sink = Arc<dyn Fn(&DebugReport) + Send + Sync + 'static>;

pub(crate) fn stderr_sink() -> Sink {
    Arc::new(|r: &DebugReport| eprintln!("{r}"))
}

/// True when the environment asks for debug mode: `CORIO_DEBUG` set to anything
/// but empty, `0` or `false` (as `PYTHONASYNCIODEBUG`: any non-empty value).
pub(crate) fn env_debug() -> bool {
    match std::env::var_os("CORIO_DEBUG") {
        None => false,
        Some(v) => !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false")),
    }
}

/// The message of a panic payload, or a placeholder when it is not a string.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    corio_core::panic_message(payload).unwrap_or("<non-string panic payload>")
}
