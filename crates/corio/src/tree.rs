//! The task tree: every live task with its parent, state and await point
//! (asyncio 3.14's `python -m asyncio pstree PID`).
//!
//! [`task_tree`] snapshots the current runtime's tasks; its `Display` prints
//! them like `pstree`:
//!
//! ```text
//! └── task 1 'main' (src/main.rs:40) running on worker 0, 3 polls, busy 1.2ms
//!     ├── task 2 'accept' (src/main.rs:12) waiting at src/net.rs:30 for 4.1s
//!     │   └── task 5 (src/main.rs:18) waiting at src/main.rs:21 for 0.3s
//!     └── task 3 'ticker' (src/main.rs:14) scheduled
//! ```
//!
//! ```
//! use std::time::Duration;
//!
//! corio::run(async {
//!     let queue = std::sync::Arc::new(corio::queue::Queue::<u32>::new(0));
//!     let q = queue.clone();
//!     let consumer = corio::create_task_named("consumer", async move { q.get().await });
//!     // Let the consumer reach its await point.
//!     while corio::task_tree().tasks().iter().all(|t| t.waiting_at().is_none()) {
//!         corio::sleep(Duration::from_millis(1)).await;
//!     }
//!     let tree = corio::task_tree();
//!     let text = tree.to_string();
//!     assert!(text.contains("'consumer'"), "{text}");
//!     assert!(text.contains("waiting at"), "{text}");
//!     consumer.cancel();
//! });
//! ```
//!
//! What is recorded, and what it costs:
//! - the parent (the task that called `create_task`, if any) and the spawn
//!   location: once, at spawn;
//! - the number of polls and, while the task is suspended, the source line of
//!   the corio await point it waits at (leaf futures such as `sleep`,
//!   `Queue::get` or `Lock::lock` take `#[track_caller]`; mark your own with
//!   [`await_point`]): a few relaxed stores per poll;
//! - time spent in polls and how long the current wait has lasted: only on a
//!   runtime with inspection on ([`Builder::inspect`](crate::Builder::inspect),
//!   `CORIO_INSPECT=1`) or debug mode, as each costs two clock reads per poll;
//! - which worker runs a task: read from the scheduler when the snapshot is
//!   taken (a task stuck in a busy loop shows as running on its worker).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use corio_core::TaskId;

/// What a task is doing when a snapshot is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskState {
    /// Spawned or woken, waiting for a worker.
    Scheduled,
    /// Inside a poll on this worker (index from 0).
    Running {
        /// The worker's index.
        worker: usize,
    },
    /// Suspended until something wakes it.
    Waiting,
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskState::Scheduled => f.write_str("scheduled"),
            TaskState::Running { worker } => write!(f, "running on worker {worker}"),
            TaskState::Waiting => f.write_str("waiting"),
        }
    }
}

/// One task in a snapshot: its metadata and what it was doing
/// (returned by [`all_tasks`](crate::all_tasks) and inside a [`TaskTree`]).
#[derive(Clone, Debug)]
pub struct TaskSnapshot {
    pub(crate) id: TaskId,
    pub(crate) name: Option<std::sync::Arc<str>>,
    pub(crate) location: Option<&'static Location<'static>>,
    pub(crate) parent: Option<TaskId>,
    pub(crate) state: TaskState,
    pub(crate) polls: u64,
    pub(crate) busy: Option<Duration>,
    pub(crate) waiting_at: Option<&'static Location<'static>>,
    pub(crate) waiting_for: Option<Duration>,
}

impl TaskSnapshot {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The task's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where the task was spawned.
    pub fn location(&self) -> Option<&'static Location<'static>> {
        self.location
    }

    /// The task that spawned it (`None` for tasks spawned from outside any task).
    pub fn parent(&self) -> Option<TaskId> {
        self.parent
    }

    /// Scheduled, running on a worker, or waiting.
    pub fn state(&self) -> TaskState {
        self.state
    }

    /// How many times the task was polled.
    pub fn polls(&self) -> u64 {
        self.polls
    }

    /// Time spent inside polls; `None` unless the runtime measures it
    /// (inspection or debug mode on).
    pub fn busy(&self) -> Option<Duration> {
        self.busy
    }

    /// The corio await point the task is suspended at (the caller of the leaf
    /// future: `sleep`, `Queue::get`, ...), while it waits.
    pub fn waiting_at(&self) -> Option<&'static Location<'static>> {
        self.waiting_at
    }

    /// How long the current wait has lasted; `None` unless the runtime measures
    /// it (inspection or debug mode on).
    pub fn waiting_for(&self) -> Option<Duration> {
        self.waiting_for
    }
}

impl fmt::Display for TaskSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.id())?;
        if let Some(name) = self.name() {
            write!(f, " '{name}'")?;
        }
        if let Some(loc) = self.location() {
            write!(f, " ({loc})")?;
        }
        match (self.state, self.waiting_at) {
            (TaskState::Waiting, Some(at)) => write!(f, " waiting at {at}")?,
            (state, _) => write!(f, " {state}")?,
        }
        if let (TaskState::Waiting, Some(d)) = (self.state, self.waiting_for) {
            write!(f, " for {d:.1?}")?;
        }
        write!(
            f,
            ", {} poll{}",
            self.polls,
            if self.polls == 1 { "" } else { "s" }
        )?;
        if let Some(busy) = self.busy {
            write!(f, ", busy {busy:.1?}")?;
        }
        Ok(())
    }
}

/// Every live task of a runtime as a tree of spawner and spawned (see
/// [`task_tree`]). `Display` prints it like `pstree`.
#[derive(Clone, Debug, Default)]
pub struct TaskTree {
    tasks: Vec<TaskSnapshot>,
}

impl TaskTree {
    pub(crate) fn new(mut tasks: Vec<TaskSnapshot>) -> Self {
        tasks.sort_by_key(|t| t.id());
        TaskTree { tasks }
    }

    /// Every task, in id (spawn) order.
    pub fn tasks(&self) -> &[TaskSnapshot] {
        &self.tasks
    }

    /// The tasks whose parent is not alive (or that have none): the tree's roots.
    pub fn roots(&self) -> impl Iterator<Item = &TaskSnapshot> {
        self.tasks.iter().filter(|t| match t.parent {
            None => true,
            Some(p) => self.find(p).is_none(),
        })
    }

    /// The live tasks spawned by `id`.
    pub fn children(&self, id: TaskId) -> impl Iterator<Item = &TaskSnapshot> {
        self.tasks.iter().filter(move |t| t.parent == Some(id))
    }

    /// The task with this id, if alive.
    pub fn find(&self, id: TaskId) -> Option<&TaskSnapshot> {
        self.tasks
            .binary_search_by_key(&id, |t| t.id())
            .ok()
            .map(|i| &self.tasks[i])
    }

    /// How many tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether there are no tasks.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

impl fmt::Display for TaskTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Children by parent, built once: printing stays linear in the task count.
        let mut children: BTreeMap<TaskId, Vec<usize>> = BTreeMap::new();
        let mut roots = Vec::new();
        for (i, t) in self.tasks.iter().enumerate() {
            match t.parent.filter(|p| self.find(*p).is_some()) {
                Some(p) => children.entry(p).or_default().push(i),
                None => roots.push(i),
            }
        }
        writeln!(
            f,
            "{} task{}",
            self.len(),
            if self.len() == 1 { "" } else { "s" }
        )?;
        // Depth-first with an explicit stack (a deep chain must not overflow the
        // thread's stack): (task index, prefix of its line, is it the last sibling).
        let mut stack: Vec<(usize, String, bool)> = Vec::new();
        for (n, &r) in roots.iter().enumerate().rev() {
            stack.push((r, String::new(), n + 1 == roots.len()));
        }
        while let Some((i, prefix, last)) = stack.pop() {
            let t = &self.tasks[i];
            writeln!(f, "{prefix}{}{t}", if last { "└── " } else { "├── " })?;
            let child_prefix = format!("{prefix}{}", if last { "    " } else { "│   " });
            if let Some(kids) = children.get(&t.id()) {
                for (n, &k) in kids.iter().enumerate().rev() {
                    stack.push((k, child_prefix.clone(), n + 1 == kids.len()));
                }
            }
        }
        Ok(())
    }
}

/// A snapshot of the current runtime's tasks as a tree (empty outside a
/// runtime).
pub fn task_tree() -> TaskTree {
    match crate::runtime::Handle::try_current() {
        Some(h) => h.task_tree(),
        None => TaskTree::default(),
    }
}

/// Live statistics of one task, kept inside its spawned future (no extra
/// allocation) and read by snapshots through the task registry.
#[derive(Debug, Default)]
pub(crate) struct TaskStats {
    polls: AtomicU64,
    busy_ns: AtomicU64,
    /// The await point of the last `Pending` (null if no corio leaf recorded
    /// one); snapshots ignore it while the task runs.
    waiting_at: AtomicPtr<Location<'static>>,
    /// When the current wait began, in ns since the runtime's epoch (0 = unknown).
    waiting_since: AtomicU64,
}

thread_local! {
    /// The await point recorded by the last corio leaf future that returned
    /// `Pending` on this thread, with the id of the task it was polled in.
    /// The task's wrapper takes it when the poll returns `Pending` (so the
    /// poll path itself touches no thread-local).
    static LAST_WAIT: std::cell::Cell<(u64, Option<&'static Location<'static>>)> =
        const { std::cell::Cell::new((0, None)) };
}

/// Record that the current task is about to wait at `at` (a corio leaf future
/// returning `Pending`). Does nothing outside a task.
#[inline]
pub(crate) fn record_wait(at: &'static Location<'static>) {
    if let Some(id) = corio_core::current_id() {
        LAST_WAIT.with(|c| c.set((id.as_u64(), Some(at))));
    }
}

/// `poll`, recording `at` as the current task's await point when it is
/// `Pending` (what corio's leaf futures return through).
#[inline]
pub(crate) fn pending_at<T>(poll: Poll<T>, at: &'static Location<'static>) -> Poll<T> {
    if poll.is_pending() {
        record_wait(at);
    }
    poll
}

/// Mark an await point of your own: the task tree shows the caller's line
/// while the task waits in `fut` (as it does for corio's own leaf futures).
///
/// ```
/// corio::run(async {
///     let (tx, rx) = futures::channel::oneshot::channel::<u32>();
///     let waiter = corio::create_task(corio::await_point(async move { rx.await.ok() }));
///     tx.send(5).unwrap();
///     assert_eq!(waiter.await.unwrap(), Some(5));
/// });
/// ```
#[track_caller]
pub fn await_point<F: Future>(fut: F) -> AwaitPoint<F> {
    AwaitPoint {
        fut,
        at: Location::caller(),
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`await_point`].
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct AwaitPoint<F> {
        #[pin]
        fut: F,
        at: &'static Location<'static>,
    }
}

impl<F: Future> Future for AwaitPoint<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        pending_at(this.fut.poll(cx), this.at)
    }
}

/// The clock for busy and wait times, when the runtime measures them: a
/// marker, the epoch is process-wide (so a task carries no `Instant`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing;

impl Timing {
    fn now_ns(self) -> u64 {
        static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        // Nanoseconds fit u64 for 584 years of uptime.
        EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

impl TaskStats {
    /// Poll `fut` as this task: counts the poll, and when it returns `Pending`
    /// stores the await point a leaf recorded; with `timing`, also measures the
    /// poll and stamps the start of the wait.
    pub(crate) fn poll<F: Future>(
        &self,
        fut: Pin<&mut F>,
        cx: &mut Context<'_>,
        timing: Option<Timing>,
    ) -> Poll<F::Output> {
        self.polls
            .store(self.polls.load(Relaxed).wrapping_add(1), Relaxed);
        let started = timing.map(|t| t.now_ns());
        let out = fut.poll(cx);
        if out.is_pending() {
            let (task, at) = LAST_WAIT.with(|c| c.replace((0, None)));
            let mine = corio_core::current_id().map(|id| id.as_u64()) == Some(task);
            let at = at.filter(|_| mine).map_or(std::ptr::null_mut(), |at| {
                at as *const Location<'static> as *mut Location<'static>
            });
            self.waiting_at.store(at, Relaxed);
        }
        if let (Some(t), Some(started)) = (timing, started) {
            let now = t.now_ns();
            self.busy_ns
                .store(self.busy_ns.load(Relaxed) + (now - started), Relaxed);
            self.waiting_since.store(now.max(1), Relaxed);
        }
        out
    }

    /// Read the statistics into a snapshot (the task's state is decided by the caller).
    pub(crate) fn read(
        &self,
        timing: Option<Timing>,
    ) -> (
        u64,
        Option<Duration>,
        Option<&'static Location<'static>>,
        Option<Duration>,
    ) {
        let polls = self.polls.load(Relaxed);
        let at = self.waiting_at.load(Relaxed);
        // SAFETY: the pointer is null or was made from a `&'static Location`.
        let at: Option<&'static Location<'static>> = unsafe { at.as_ref() };
        let busy = timing.map(|_| Duration::from_nanos(self.busy_ns.load(Relaxed)));
        let since = self.waiting_since.load(Relaxed);
        let waiting_for = match (timing, at) {
            (Some(t), Some(_)) if since != 0 => {
                Some(Duration::from_nanos(t.now_ns().saturating_sub(since)))
            }
            _ => None,
        };
        (polls, busy, at, waiting_for)
    }
}
