//! The task tree: every live task with its parent, state and await point
//! (asyncio 3.14's `python -m asyncio pstree PID`).
//!
//! [`task_tree`] snapshots the current runtime's tasks; its `Display` prints
//! them like `pstree`:
//!
//! ```text
//! └── task 1 'main' spawned at src/main.rs:40 running on worker 0, 3 polls, busy 1.2ms
//!     ├── task 2 'accept' spawned at src/main.rs:12 waiting at src/net.rs:30 for 4.1s
//!     │   └── task 5 spawned at src/main.rs:18 waiting at src/main.rs:21 for 0.3s
//!     └── task 3 'ticker' spawned at src/main.rs:14 scheduled
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
//! What is recorded, and what it costs (all of it is kept in the task itself,
//! in corio-core's [`TaskStats`](corio_core::TaskStats), and read through the
//! scheduler's list of the tasks it owns: spawning and finishing a task take no
//! lock for it besides that list's one insert and one removal):
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
//!
//! Sockets: the methods of [`net`](crate::net)'s streams, listeners and
//! [`Incoming`](crate::net::Incoming) (`read`, `read_exact`, `write_all`,
//! `read_to_end`, `accept`, `next`, ...), of `sim::net`'s, and of
//! [`StreamReader`](crate::StreamReader)/[`StreamWriter`](crate::StreamWriter)
//! record their caller's line. They shadow the `futures::AsyncReadExt` /
//! `AsyncWriteExt` / `StreamExt` methods of the same names, so
//! `stream.read_exact(&mut buf).await` needs no change (the `use` of the trait
//! may become unused). A trait method's future on another type (a
//! `futures::io::BufReader`'s `read_line`, say) cannot know its caller: wrap
//! it, `corio::await_point(reader.read_line(&mut line)).await`, or use
//! `corio_reactor::await_point::{read_exact, write_all, read_to_end}`, which
//! take any reader or writer. [`open_connection`](crate::open_connection),
//! [`open_unix_connection`](crate::open_unix_connection),
//! [`start_server`](crate::start_server) (while a host name is looked up) and
//! [`Server`](crate::Server)'s `serve_forever` and `wait_closed` record their
//! caller's line too, as do [`Child`](crate::process::Child)'s `wait`,
//! `communicate` and `wait_with_output`, [`Command`](crate::process::Command)'s
//! `output` and `status`, [`ctrl_c`](crate::signal::ctrl_c) and
//! [`Signals::recv`](crate::signal::Signals::recv). [`gather`](crate::gather()),
//! [`wait`](crate::wait()), [`AsCompleted::next_completed`](crate::AsCompleted::next_completed)
//! and [`TaskGroup::run`](crate::TaskGroup::run) show what one of their futures
//! (or the body) waits at, or their caller's line when none records a point (a
//! list of tasks, a group's children); [`TaskGroup::join`](crate::TaskGroup::join)
//! shows its caller's line.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use corio_core::text::{write_decimal, write_location};
use corio_core::{TaskId, TaskMeta, TaskRef};

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
    meta: TaskMeta,
    pub(crate) state: TaskState,
    pub(crate) polls: u64,
    pub(crate) busy: Option<Duration>,
    pub(crate) waiting_at: Option<&'static Location<'static>>,
    pub(crate) waiting_for: Option<Duration>,
}

impl TaskSnapshot {
    /// Reads a live task; `running` lists the (worker, task id) pairs of the polls
    /// in progress (the scheduler's `running_tasks`).
    pub(crate) fn read(task: &TaskRef, running: &[(usize, u64)]) -> TaskSnapshot {
        let meta = task.meta();
        let stats = task.stats();
        let polls = stats.polls();
        let state = match running.iter().find(|(_, t)| *t == meta.id().as_u64()) {
            Some(&(worker, _)) => TaskState::Running { worker },
            None if task.is_scheduled() || polls == 0 => TaskState::Scheduled,
            None => TaskState::Waiting,
        };
        let (waiting_at, waiting_for) = match state {
            TaskState::Waiting => {
                let at = stats.await_point();
                (at, at.and(stats.idle_for()))
            }
            _ => (None, None),
        };
        TaskSnapshot {
            meta: meta.clone(),
            state,
            polls,
            busy: stats.busy(),
            waiting_at,
            waiting_for,
        }
    }

    /// The task's identity: id, parent, name and spawn location.
    pub fn meta(&self) -> &TaskMeta {
        &self.meta
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.meta.id()
    }

    /// The task's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.meta.name()
    }

    /// Where the task was spawned.
    pub fn location(&self) -> Option<&'static Location<'static>> {
        self.meta.location()
    }

    /// The task that spawned it (`None` for tasks spawned from outside any task).
    pub fn parent(&self) -> Option<TaskId> {
        self.meta.parent()
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

impl TaskSnapshot {
    /// Writes the line `Display` prints, with numbers and locations written
    /// directly (see [`corio_core::text`]): a dump writes one per task.
    fn write_to<W: fmt::Write + ?Sized>(&self, w: &mut W) -> fmt::Result {
        // The identity as every report prints it: "task 2 'accept' spawned at ...".
        self.meta.write_to(w)?;
        match (self.state, self.waiting_at) {
            (TaskState::Waiting, Some(at)) => {
                w.write_str(" waiting at ")?;
                write_location(w, at)?;
            }
            (TaskState::Running { worker }, _) => {
                w.write_str(" running on worker ")?;
                write_decimal(w, worker as u64)?;
            }
            (state, _) => write!(w, " {state}")?,
        }
        if let (TaskState::Waiting, Some(d)) = (self.state, self.waiting_for) {
            write!(w, " for {d:.1?}")?;
        }
        w.write_str(", ")?;
        write_decimal(w, self.polls)?;
        w.write_str(if self.polls == 1 { " poll" } else { " polls" })?;
        if let Some(busy) = self.busy {
            write!(w, ", busy {busy:.1?}")?;
        }
        Ok(())
    }
}

impl fmt::Display for TaskSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
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
        self.tasks.iter().filter(|t| match t.parent() {
            None => true,
            Some(p) => self.find(p).is_none(),
        })
    }

    /// The live tasks spawned by `id`.
    pub fn children(&self, id: TaskId) -> impl Iterator<Item = &TaskSnapshot> {
        self.tasks.iter().filter(move |t| t.parent() == Some(id))
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

impl TaskTree {
    /// The text `Display` prints, built in one buffer: no allocation or
    /// `format_args!` per task, the children of every task found with one
    /// counting pass (the tasks are in id order), and each line's prefix kept
    /// in one string that is cut back and extended as the walk goes up and down.
    fn render(&self) -> String {
        const NONE: u32 = u32::MAX;
        let n = self.tasks.len();
        // Each task's parent as an index, if the parent is alive. Siblings
        // spawned one after another have neighbouring ids: the last parent
        // found is usually the next one's too.
        let mut last: Option<(TaskId, u32)> = None;
        let parent: Vec<u32> = self
            .tasks
            .iter()
            .map(|t| match (t.parent(), last) {
                (None, _) => NONE,
                (Some(p), Some((id, i))) if p == id => i,
                (Some(p), _) => {
                    let i = self
                        .tasks
                        .binary_search_by_key(&p, |t| t.id())
                        .map_or(NONE, |i| i as u32);
                    last = Some((p, i));
                    i
                }
            })
            .collect();
        // The children of task `i`: kids[first[i]..first[i + 1]], in id order.
        let mut first = vec![0u32; n + 1];
        for &p in &parent {
            if p != NONE {
                first[p as usize + 1] += 1;
            }
        }
        for i in 0..n {
            first[i + 1] += first[i];
        }
        let mut next = first.clone();
        let mut kids = vec![0u32; first[n] as usize];
        let mut roots = Vec::new();
        for (i, &p) in parent.iter().enumerate() {
            if p == NONE {
                roots.push(i as u32);
            } else {
                kids[next[p as usize] as usize] = i as u32;
                next[p as usize] += 1;
            }
        }
        drop((parent, next));

        // About 100 bytes a line: one allocation for a typical dump.
        let mut out = String::with_capacity(32 + n * 112);
        let _ = write_decimal(&mut out, n as u64);
        out.push_str(if n == 1 { " task\n" } else { " tasks\n" });
        // Depth-first with an explicit stack (a deep chain must not overflow the
        // thread's stack): (task index, length of its line's prefix, is it the
        // last sibling). `prefix[..len]` is the ancestors' part, which the
        // subtrees of earlier siblings, walked meanwhile, leave alone.
        let mut prefix = String::new();
        let mut stack: Vec<(u32, usize, bool)> = Vec::new();
        for (k, &r) in roots.iter().enumerate().rev() {
            stack.push((r, 0, k + 1 == roots.len()));
        }
        while let Some((i, len, last)) = stack.pop() {
            prefix.truncate(len);
            out.push_str(&prefix);
            out.push_str(if last { "└── " } else { "├── " });
            let _ = self.tasks[i as usize].write_to(&mut out);
            out.push('\n');
            let children = &kids[first[i as usize] as usize..first[i as usize + 1] as usize];
            if !children.is_empty() {
                prefix.push_str(if last { "    " } else { "│   " });
                for (k, &c) in children.iter().enumerate().rev() {
                    stack.push((c, prefix.len(), k + 1 == children.len()));
                }
            }
        }
        out
    }
}

impl fmt::Display for TaskTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
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

/// Record that the current task is about to wait at `at` (a corio leaf future
/// returning `Pending`). Does nothing outside a task.
#[inline]
pub(crate) fn record_wait(at: &'static Location<'static>) {
    corio_core::record_await_point(at);
}

/// [`record_wait`], unless a future polled earlier in this poll recorded its own
/// point: for combinators (`gather`, `wait`), whose children's leaves say more
/// than the combinator's line, which is shown when they record nothing (tasks).
#[inline]
pub(crate) fn record_wait_if_none(at: &'static Location<'static>) {
    corio_core::record_await_point_if_none(at);
}

/// Lets corio-reactor's leaves (`sleep`, `sleep_until`) record their caller's line
/// as the current task's await point. Only when no other leaf recorded one in the
/// same poll: a timeout's timer must not hide the point of the future it guards.
pub(crate) fn install_reactor_await_points() {
    let _ = corio_reactor::await_point::set_recorder(corio_core::record_await_point_if_none);
    // A socket call or `tick` ([`corio_reactor::await_point::At`]) wraps such
    // leaves (a connect's retry sleep, the interval's timer): its line wins.
    let _ = corio_reactor::await_point::set_outer_recorder(corio_core::record_await_point);
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
