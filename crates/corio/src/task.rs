//! [`Task`], task introspection ([`current_task`], [`all_tasks`], both returning
//! [`TaskMeta`]) and
//! the registry behind `all_tasks`.
//!
//! A [`Task<T>`] is asyncio's `Task`: a handle to a future running on the
//! runtime's workers. Await it for `Result<T, TaskError>`; [`Task::cancel`] drops
//! the future (the Rust form of `CancelledError`); dropping the handle *detaches*
//! the task, which keeps running.
//!
//! ```
//! use std::time::Duration;
//!
//! corio::run(async {
//!     let task = corio::TaskBuilder::new().name("worker").spawn(async { 6 * 7 });
//!     assert_eq!(task.name(), Some("worker"));
//!     assert_eq!(task.await.unwrap(), 42);
//!
//!     let sleeper = corio::create_task(corio::sleep(Duration::from_secs(60)));
//!     assert!(sleeper.cancel());
//!     assert!(sleeper.await.unwrap_err().is_cancelled());
//! });
//! ```

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use corio_core::{TaskError, TaskId, TaskMeta};

use crate::cancel::CancelState;
use crate::tree::{TaskSnapshot, TaskState, TaskStats, Timing};

/// A handle to a spawned task (asyncio's `Task`).
///
/// `Future<Output = Result<T, TaskError>>`, `Unpin`, `Send + Sync` when `T: Send`.
/// Dropping it detaches the task (it keeps running; a later panic goes to the
/// runtime's unhandled-panic handler).
///
/// ```
/// corio::run(async {
///     let t = corio::create_task(async { "hi" });
///     assert_eq!(t.await.unwrap(), "hi");
/// });
/// ```
pub struct Task<T> {
    /// `None` output: a cooperative task that resolved as cancelled.
    inner: corio_core::Task<Option<T>>,
    /// Set for tasks with a cancellation grace period (cooperative cancel).
    coop: Option<Arc<CancelState>>,
}

impl<T> Task<T> {
    pub(crate) fn from_core(
        inner: corio_core::Task<Option<T>>,
        coop: Option<Arc<CancelState>>,
    ) -> Self {
        Task { inner, coop }
    }

    /// Request cancellation. Returns false when the task had already finished:
    /// its result is kept, as asyncio's `cancel()`. Cancelling twice is the
    /// same as once.
    ///
    /// By default the future is dropped (at once when idle, after the current
    /// poll when running) and the task resolves to a cancelled [`TaskError`].
    /// A task spawned with a grace period
    /// ([`TaskBuilder::cancel_grace`](crate::TaskBuilder::cancel_grace)) is
    /// cancelled cooperatively instead: it is woken, its leaves complete as
    /// cancelled, it may run cleanup, and it resolves to a cancelled `TaskError`
    /// when its future returns or the grace period ends (see [`crate::cancel`]).
    pub fn cancel(&self) -> bool {
        match &self.coop {
            None => self.inner.cancel(),
            Some(state) => {
                if self.inner.is_finished() {
                    return false;
                }
                state.request();
                true
            }
        }
    }

    /// True if the task was cancelled (for a cooperative task: once it
    /// resolved as cancelled).
    pub fn cancelled(&self) -> bool {
        self.inner.is_cancelled() || self.coop.as_ref().is_some_and(|c| c.resolved_cancelled())
    }

    /// True once the task finished: completed, panicked or cancelled.
    pub fn done(&self) -> bool {
        self.inner.is_finished()
    }

    /// The task's id (unique in the process).
    pub fn id(&self) -> TaskId {
        self.inner.id()
    }

    /// The task's name, if it was given one (`TaskBuilder::name`,
    /// [`create_task_named`](crate::create_task_named)).
    pub fn name(&self) -> Option<&str> {
        self.inner.meta().name()
    }

    /// Where the task was spawned (the caller of `create_task`).
    pub fn location(&self) -> Option<&'static Location<'static>> {
        self.inner.meta().location()
    }

    /// Let the task run on without a handle (the same as dropping it).
    pub fn detach(self) {
        self.inner.detach()
    }

    /// Block this thread until the task finishes, from a thread that is *not* a
    /// runtime worker (the second half of `asyncio.run_coroutine_threadsafe`:
    /// `future.result()`).
    ///
    /// # Panics
    /// When called on a thread inside a corio runtime (a worker, or inside
    /// `block_on`): blocking there could deadlock the runtime; await the task
    /// instead.
    ///
    /// ```
    /// let rt = corio::Runtime::new().unwrap();
    /// let handle = rt.handle();
    /// let answer = std::thread::spawn(move || {
    ///     handle.create_task(async { 40 + 2 }).wait_blocking()
    /// })
    /// .join()
    /// .unwrap();
    /// assert_eq!(answer.unwrap(), 42);
    /// ```
    pub fn wait_blocking(self) -> Result<T, TaskError> {
        match self.wait_blocking_timeout(None) {
            Ok(out) => out,
            Err(_) => unreachable!("no timeout was given"),
        }
    }

    /// Like [`wait_blocking`](Self::wait_blocking) with a timeout: `Err(self)` (the
    /// task, still running) when it did not finish in time.
    pub fn wait_blocking_timeout(
        mut self,
        timeout: Option<Duration>,
    ) -> Result<Result<T, TaskError>, Self> {
        assert!(
            crate::runtime::Handle::try_current().is_none(),
            "Task::wait_blocking() called from inside a corio runtime: blocking a runtime thread \
             can deadlock it; `.await` the task instead"
        );
        let deadline = timeout.map(|t| Instant::now() + t);
        let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(out) = self.poll_result(&mut cx) {
                return Ok(out);
            }
            match deadline {
                None => std::thread::park(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(self);
                    }
                    std::thread::park_timeout(d - now);
                }
            }
        }
    }
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

impl<T> Task<T> {
    fn poll_result(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, TaskError>> {
        Pin::new(&mut self.inner).poll(cx).map(|r| match r {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(TaskError::cancelled(self.inner.id())),
            Err(e) => Err(e),
        })
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Awaiting a task is a leaf: a cancelled awaiter stops waiting (the
        // awaited task runs on).
        if crate::cancel::is_cancelled() {
            return Poll::Ready(Err(TaskError::cancelled(self.id())));
        }
        self.poll_result(cx)
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("done", &self.done())
            .finish()
    }
}

/// The task this thread is running now, or `None` outside a task
/// (`asyncio.current_task()`).
///
/// ```
/// corio::run(async {
///     let t = corio::create_task_named("me", async {
///         corio::current_task().unwrap().name().map(str::to_owned)
///     });
///     assert_eq!(t.await.unwrap().as_deref(), Some("me"));
/// });
/// ```
pub fn current_task() -> Option<TaskMeta> {
    corio_core::current()
}

/// Every live task of the current runtime: spawned and not yet finished or
/// dropped (`asyncio.all_tasks()`). Empty outside a runtime.
///
/// ```
/// use std::time::Duration;
/// corio::run(async {
///     let t = corio::create_task_named("sleeper", corio::sleep(Duration::from_secs(60)));
///     assert!(corio::all_tasks().iter().any(|i| i.name() == Some("sleeper")));
///     t.cancel();
/// });
/// ```
pub fn all_tasks() -> Vec<TaskMeta> {
    #[cfg(feature = "sim")]
    if crate::sim::is_active() {
        return crate::sim::all_tasks();
    }
    match crate::runtime::Handle::try_current() {
        Some(h) => h.all_tasks(),
        None => Vec::new(),
    }
}

/// Number of registry shards (see `next_shard`): with 16, a spawner and two to
/// a few workers rarely contend on one lock.
const SHARDS: usize = 16;

struct Entry {
    /// Which runtime the task belongs to ([`Registry::runtime`]).
    runtime: u64,
    /// Generation of the slot: keys of removed entries never match a new one.
    gen: u64,
    id: TaskId,
    name: Option<Arc<str>>,
    location: &'static Location<'static>,
    /// The task that spawned it.
    parent: Option<TaskId>,
    /// The task's live statistics, inside its future (see `Tracked`): set at the
    /// first poll, valid while the entry exists (the entry is removed, under
    /// this shard's lock, before the future that holds them is freed).
    stats: *const TaskStats,
}

// SAFETY: `stats` is only dereferenced under the shard's lock while the entry
// exists (see the field); `TaskStats` is made of atomics, so sharing it between
// threads is sound.
unsafe impl Send for Entry {}

struct Shard {
    slab: slab::Slab<Entry>,
    next_gen: u64,
}

/// Live tasks of every runtime in the process. Process-wide (not one per
/// runtime) so a task's guard needs no reference-counted pointer to it: the
/// hot spawn/finish path touches one uncontended lock and no shared counter.
static SHARD_TABLE: [Mutex<Shard>; SHARDS] = [const {
    Mutex::new(Shard {
        slab: slab::Slab::new(),
        next_gen: 0,
    })
}; SHARDS];

fn shard(i: usize) -> MutexGuard<'static, Shard> {
    // Entries are plain data written in one step: a poisoned shard is consistent.
    SHARD_TABLE[i].lock().unwrap_or_else(|p| p.into_inner())
}

/// The shard for this thread's next insert: each thread walks the shards
/// round-robin from its own starting point (a thread-local counter, no shared
/// atomic), so consecutive tasks of one spawner land in different shards and the
/// workers finishing them (set waker, remove) rarely meet the spawner on a lock.
fn next_shard() -> usize {
    static THREADS: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static NEXT: std::cell::Cell<usize> =
            std::cell::Cell::new(THREADS.fetch_add(7, Ordering::Relaxed) as usize);
    }
    NEXT.with(|n| {
        let i = n.get();
        n.set(i.wrapping_add(1));
        i % SHARDS
    })
}

/// Where a task's entry lives.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Key {
    shard: u32,
    idx: u32,
    gen: u64,
}

fn with_entry(key: Key, f: impl FnOnce(&mut Entry)) {
    let mut sh = shard(key.shard as usize);
    if let Some(e) = sh.slab.get_mut(key.idx as usize) {
        if e.gen == key.gen {
            f(e);
        }
    }
}

/// Removes a task's entry (its future was dropped).
fn remove(key: Key) {
    let mut sh = shard(key.shard as usize);
    if sh
        .slab
        .get(key.idx as usize)
        .is_some_and(|e| e.gen == key.gen)
    {
        sh.slab.remove(key.idx as usize);
    }
}

/// One runtime's view of the process-wide task table: what `all_tasks`, the
/// task tree and stall reports read (names, parents, statistics). Shutdown does
/// not need it: the scheduler cancels its own tasks.
pub(crate) struct Registry {
    runtime: u64,
    /// Debug mode: tasks already reported as slow (reported once each).
    slow_reported: Option<Mutex<std::collections::HashSet<TaskId>>>,
}

impl Registry {
    pub(crate) fn new(debug: bool) -> Self {
        static RUNTIMES: AtomicU64 = AtomicU64::new(1);
        Registry {
            runtime: RUNTIMES.fetch_add(1, Ordering::Relaxed),
            slow_reported: debug.then(|| Mutex::new(Default::default())),
        }
    }

    pub(crate) fn insert(
        &self,
        id: TaskId,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
        parent: Option<TaskId>,
    ) -> Key {
        let i = next_shard();
        let mut sh = shard(i);
        let gen = sh.next_gen;
        sh.next_gen += 1;
        let idx = sh.slab.insert(Entry {
            runtime: self.runtime,
            gen,
            id,
            name,
            location,
            parent,
            stats: std::ptr::null(),
        });
        Key {
            shard: i as u32,
            // Over 4 billion live tasks in one shard would exhaust memory first.
            idx: idx as u32,
            gen,
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<TaskMeta> {
        let mut out = Vec::new();
        for i in 0..SHARDS {
            let sh = shard(i);
            out.extend(
                sh.slab
                    .iter()
                    .filter(|(_, e)| e.runtime == self.runtime)
                    .map(|(_, e)| TaskMeta::new(e.id, e.name.clone(), Some(e.location))),
            );
        }
        out.sort_by_key(TaskMeta::id);
        out
    }

    /// Every live task of this runtime with its statistics; `running` lists
    /// (worker, task id) pairs of the polls in progress.
    pub(crate) fn tree_snapshot(
        &self,
        running: &[(usize, u64)],
        timing: Option<Timing>,
    ) -> Vec<TaskSnapshot> {
        let mut out = Vec::new();
        for i in 0..SHARDS {
            let sh = shard(i);
            for (_, e) in sh.slab.iter().filter(|(_, e)| e.runtime == self.runtime) {
                let id = e.id;
                // SAFETY: non-null `stats` stay valid while the entry exists, and
                // the entry cannot be removed while this shard's lock is held.
                let stats = unsafe { e.stats.as_ref() };
                let (polls, busy, waiting_at, waiting_for) = match stats {
                    Some(st) => st.read(timing),
                    None => (0, None, None, None),
                };
                let state = match running.iter().find(|(_, t)| *t == id.as_u64()) {
                    Some(&(worker, _)) => TaskState::Running { worker },
                    None if polls == 0 => TaskState::Scheduled,
                    None => TaskState::Waiting,
                };
                let (waiting_at, waiting_for) = match state {
                    TaskState::Waiting => (waiting_at, waiting_for),
                    _ => (None, None),
                };
                out.push(TaskSnapshot {
                    id,
                    name: e.name.clone(),
                    location: Some(e.location),
                    parent: e.parent,
                    state,
                    polls,
                    busy,
                    waiting_at,
                    waiting_for,
                });
            }
        }
        out
    }

    /// The live task of this runtime whose id is `id` (stall reports).
    pub(crate) fn find(&self, id: u64) -> Option<TaskMeta> {
        (0..SHARDS).find_map(|i| {
            let sh = shard(i);
            sh.slab
                .iter()
                .find(|(_, e)| e.runtime == self.runtime && e.id.as_u64() == id)
                .map(|(_, e)| TaskMeta::new(e.id, e.name.clone(), Some(e.location)))
        })
    }

    /// Debug mode: record that `id` had a slow poll; true the first time.
    pub(crate) fn first_slow_report(&self, id: TaskId) -> bool {
        let Some(set) = &self.slow_reported else {
            return true;
        };
        let mut set = set.lock().unwrap_or_else(|p| p.into_inner());
        let first = set.insert(id);
        // Bound the memory: past 4096 ids, forget the tasks that are gone.
        if set.len() > 4096 {
            let alive: std::collections::HashSet<TaskId> =
                self.snapshot().iter().map(TaskMeta::id).collect();
            set.retain(|id| alive.contains(id));
        }
        first
    }

    pub(crate) fn len(&self) -> usize {
        (0..SHARDS)
            .map(|i| {
                shard(i)
                    .slab
                    .iter()
                    .filter(|(_, e)| e.runtime == self.runtime)
                    .count()
            })
            .sum()
    }
}

/// Removes the task's registry entry when its future is dropped (finished or
/// cancelled): lives inside the spawned future.
pub(crate) struct RegistryGuard {
    pub(crate) key: Key,
}

impl Drop for RegistryGuard {
    fn drop(&mut self) {
        remove(self.key);
    }
}

pin_project_lite::pin_project! {
    /// A spawned future together with its registry guard and live statistics.
    pub(crate) struct Tracked<F> {
        #[pin]
        pub(crate) fut: F,
        pub(crate) guard: RegistryGuard,
        pub(crate) polled: bool,
        // Not moved once pinned (inside the task): the registry entry points at it.
        pub(crate) stats: TaskStats,
        pub(crate) timing: Option<Timing>,
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let out = this.stats.poll(this.fut, cx, *this.timing);
        if out.is_pending() && !*this.polled {
            // The task is suspended for the first time: from now on the task
            // tree may show its statistics (pinned: the entry may point at
            // them). A task that finishes in its first poll never takes the
            // shard's lock here.
            *this.polled = true;
            let stats: *const TaskStats = &*this.stats;
            with_entry(this.guard.key, |e| e.stats = stats);
        }
        out
    }
}

pin_project_lite::pin_project! {
    /// A task without cooperative cancellation: its output, always `Some`
    /// (`None` is a cooperative task that resolved as cancelled).
    pub(crate) struct Plain<F> {
        #[pin]
        pub(crate) fut: F,
    }
}

impl<F: Future> Future for Plain<F> {
    type Output = Option<F::Output>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().fut.poll(cx).map(Some)
    }
}
