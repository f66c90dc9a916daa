//! [`Executor`] (owns the worker threads) and [`Handle`] (spawns from anywhere).

use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::ptr::NonNull;
use std::rc::Rc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use corio_core::Task;

use crate::context;
use crate::local::{Inbox, LocalTasks};
use crate::metrics::Metrics;
use crate::owned::Key;
use crate::shared::{Scheduler, Shared};
use crate::sync::Ordering::Relaxed;
use crate::sync::{lock, thread, Arc, AtomicBool, Ordering::*, Parker, Unparker};
use crate::worker::{drain_core, MainFlag, WorkerCx};
use crate::Builder;

/// The message of the panic raised when an executor is dropped from one of its own tasks.
const DROP_INSIDE_MSG: &str =
    "corio-scheduler: an Executor was dropped from inside one of its own \
     tasks. Its shutdown has been started but cannot wait for the worker threads (this thread is \
     one of them): the workers stop in the background and drop their queued tasks. Drop or shut \
     down the executor from outside its tasks (e.g. keep it in main and pass a Handle to tasks).";

/// A work-stealing executor: N worker threads, each with a local queue and a LIFO slot,
/// sharing an injector. Dropping it shuts it down (see [`Executor::shutdown_timeout`]).
///
/// # Dropping it from inside one of its own tasks
///
/// That cannot wait for the worker threads (the dropping thread is one of them), so it
/// is an error: the drop starts the shutdown (workers stop after their current poll and
/// drop their queued tasks, in the background), detaches the threads, and **panics**
/// with a message saying so. corio-core catches the panic like any task panic: the
/// task resolves `Err(Panicked)` (reported by the `unhandled_panic` callback if nobody
/// awaits it) and no worker dies. Keep the executor outside its tasks and give tasks a
/// [`Handle`] instead.
///
/// # Example
///
/// ```
/// let ex = corio_scheduler::Executor::new()?;
/// let tasks: Vec<_> = (0..10u64).map(|i| ex.spawn(async move { i * i })).collect();
/// let sum = ex.block_on(async {
///     let mut sum = 0;
///     for t in tasks {
///         sum += t.await.unwrap();
///     }
///     sum
/// });
/// assert_eq!(sum, 285);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Executor {
    handle: Handle,
    threads: Vec<thread::JoinHandle<()>>,
    shut_down: bool,
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("workers", &self.handle.shared.remotes.len())
            .field("current_thread", &self.handle.shared.current_thread)
            .finish_non_exhaustive()
    }
}

impl Executor {
    pub(crate) fn from_parts(handle: Handle, threads: Vec<thread::JoinHandle<()>>) -> Executor {
        Executor {
            handle,
            threads,
            shut_down: false,
        }
    }

    /// An executor with the default configuration ([`Builder::new`]).
    ///
    /// # Errors
    ///
    /// When a worker thread cannot be spawned.
    pub fn new() -> std::io::Result<Executor> {
        Builder::new().build()
    }

    /// [`Builder::new`].
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Spawns `future` as a task; see [`Handle::spawn`].
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Spawns with a task builder (name, location); see [`Handle::spawn_with`].
    pub fn spawn_with<F>(&self, builder: corio_core::Builder, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn_with(builder, future)
    }

    /// A handle to spawn tasks from anywhere.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Counters about this executor.
    pub fn metrics(&self) -> Metrics {
        self.handle.metrics()
    }

    /// Runs `future` to completion on the calling thread and returns its output.
    ///
    /// Multi-thread flavor: the caller only drives `future` (it is not a worker) and
    /// sleeps on its own parker until woken; tasks run on the workers. Current-thread
    /// flavor: the caller also runs the executor's tasks while it waits (if another
    /// thread is already doing so, this one waits for `future` and takes over when that
    /// thread leaves). [`Handle::try_current`] returns this executor inside `future`.
    ///
    /// # Panics
    ///
    /// If called from inside a task (of any corio executor): blocking a worker thread
    /// could deadlock the executor; `.await` the future instead.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let on_worker = context::with_worker(|cx| cx.is_some());
        if on_worker {
            panic!(
                "corio-scheduler: block_on called from inside a task: this would block a worker \
                 thread (and could deadlock the executor); .await the future instead"
            );
        }
        let _handle = context::enter_handle(self.handle.clone());
        // A large future is boxed before it is moved on and pinned on this stack.
        if corio_core::is_large_future::<F>() {
            self.drive(corio_core::box_future(future))
        } else {
            self.drive(future)
        }
    }

    fn drive<F: Future>(&self, future: F) -> F::Output {
        if self.handle.shared.current_thread {
            block_on_current_thread(&self.handle.shared, future)
        } else {
            block_on_thread(&self.handle.shared, future)
        }
    }

    /// Shuts down: stops the workers, cancels every task (queued, or idle on a waker
    /// nobody will wake: its future is dropped, its [`Task`] resolves
    /// `Err(Cancelled)`), and waits up to `timeout` for the worker threads to finish
    /// their current poll. Returns `true` if they all stopped in time (and were joined);
    /// the ones still running a long poll are detached and stop on their own (the
    /// task in that poll is dropped when the poll returns).
    ///
    /// Dropping the executor does the same without a timeout.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> bool {
        self.shutdown(Some(timeout))
    }

    /// Starts the shutdown and returns at once, without waiting for anything: the
    /// workers stop after their current poll and cancel every task in the background
    /// (the last one to exit cancels the tasks idle on wakers); their threads are
    /// detached. In the current-thread flavor (no threads) the tasks are cancelled
    /// here, before it returns.
    ///
    /// This is the shutdown to use where waiting is not allowed: inside a task or a
    /// `block_on` future (of any executor).
    ///
    /// ```
    /// let ex = corio_scheduler::Executor::new()?;
    /// let task = ex.spawn(std::future::pending::<()>());
    /// ex.shutdown_background();
    /// // The last worker to exit cancels the pending task.
    /// assert!(futures::executor::block_on(task).unwrap_err().is_cancelled());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown_background(mut self) {
        self.shut_down = true;
        let shared = &*self.handle.shared;
        shared.begin_shutdown();
        if shared.current_thread {
            if let Some(core) = lock(&shared.core).take() {
                drain_core(shared, &core);
            }
            shared.cancel_all_tasks();
        }
        self.threads.clear(); // detach
    }

    fn shutdown(&mut self, timeout: Option<Duration>) -> bool {
        self.shut_down = true;
        let shared = &*self.handle.shared;
        shared.begin_shutdown();
        if shared.current_thread {
            let core = lock(&shared.core).take();
            if let Some(core) = core {
                drain_core(shared, &core);
            }
            shared.cancel_all_tasks();
            return true;
        }
        let all_stopped = {
            let mut count = lock(&shared.exited);
            // A timeout too large to add (Duration::MAX) means no deadline.
            let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
            loop {
                // Base and extra workers: none starts once shutdown has begun.
                if count.exited >= count.started {
                    break true;
                }
                match deadline {
                    None => {
                        count = shared
                            .exited_cv
                            .wait(count)
                            .unwrap_or_else(|p| p.into_inner());
                    }
                    Some(deadline) => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break false;
                        }
                        count = match shared.exited_cv.wait_timeout(count, left) {
                            Ok((guard, _)) => guard,
                            Err(p) => p.into_inner().0,
                        };
                    }
                }
            }
        };
        let extras = std::mem::take(&mut *lock(&shared.extra_threads));
        if all_stopped {
            for thread in self.threads.drain(..).chain(extras) {
                // A worker only unwinds if a start/stop callback panicked; the panic
                // was already printed by the default hook.
                let _ = thread.join();
            }
        } else {
            self.threads.clear(); // detach
        }
        shared.cancel_all_tasks();
        all_stopped
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        if self.shut_down {
            return;
        }
        let shared = &*self.handle.shared;
        let inside = context::with_worker(|cx| cx.is_some_and(|cx| cx.belongs_to(shared)));
        if inside {
            // Documented behaviour: start the shutdown, detach the threads, and panic with
            // a clear message (caught by corio-core like any task panic: the task resolves
            // `Err(Panicked)` and the worker keeps going until it sees the shutdown).
            self.shut_down = true;
            shared.begin_shutdown();
            self.threads.clear();
            if std::thread::panicking() {
                eprintln!("{DROP_INSIDE_MSG}");
            } else {
                panic!("{DROP_INSIDE_MSG}");
            }
        }
        self.shutdown(None);
    }
}

/// A cheap, cloneable reference to an executor, to spawn tasks from any thread.
///
/// Spawning through a handle after the executor shut down returns a task that is
/// already cancelled.
///
/// # Example
///
/// ```
/// use corio_scheduler::{Executor, Handle};
///
/// let ex = Executor::new()?;
/// let handle = ex.handle().clone();
/// let task = std::thread::spawn(move || handle.spawn(async { "from another thread" }))
///     .join()
///     .unwrap();
/// assert_eq!(ex.block_on(task).unwrap(), "from another thread");
/// ex.block_on(async {
///     assert!(Handle::try_current().is_some(), "set inside block_on");
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.shared.remotes.len())
            .finish_non_exhaustive()
    }
}

impl Handle {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Handle {
        Handle { shared }
    }

    /// The executor this thread runs in: set on its worker threads and inside its
    /// `block_on`; `None` elsewhere.
    pub fn try_current() -> Option<Handle> {
        context::current_handle()
    }

    /// Spawns `future` as a task and returns its [`Task`] (await it for the output;
    /// drop it to detach). The caller's location is recorded in the task's metadata. From a worker of this executor the task goes to that
    /// worker's LIFO slot (it runs next); from anywhere else to the injector.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let builder = corio_core::Builder::new().location(std::panic::Location::caller());
        self.spawn_with(builder, future)
    }

    /// Spawns with a task builder (name, spawn location).
    pub fn spawn_with<F>(&self, builder: corio_core::Builder, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // A large future is boxed before `Tracked` wraps (moves) it.
        if corio_core::is_large_future::<F>() {
            self.spawn_inner(builder, corio_core::box_future(future))
        } else {
            self.spawn_inner(builder, future)
        }
    }

    /// Counters about this executor.
    pub fn metrics(&self) -> Metrics {
        Metrics::new(self.shared.clone())
    }

    /// The polls in progress: `(worker index, task id)` for each worker that is
    /// inside a poll (or between two) right now, read from what workers publish
    /// before each poll (relaxed loads: a snapshot, not a synchronised view).
    ///
    /// ```
    /// let ex = corio_scheduler::Executor::new()?;
    /// let h = ex.handle().clone();
    /// let t = ex.spawn(async move { h.running_tasks() });
    /// let id = t.id().as_u64();
    /// let running = ex.block_on(t).unwrap();
    /// assert!(running.iter().any(|&(_, task)| task == id));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn running_tasks(&self) -> Vec<(usize, u64)> {
        self.shared
            .remotes
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.active.load(Relaxed) && r.idle_at.load(Relaxed) != r.polls.load(Relaxed)
            })
            .map(|(i, r)| (i, r.task_id.load(Relaxed)))
            .collect()
    }

    /// The metadata of every live task of this executor (spawned, its future not yet
    /// dropped), in no particular order: what asyncio's `all_tasks()` lists.
    ///
    /// ```
    /// let ex = corio_scheduler::Executor::new()?;
    /// let builder = corio_core::Builder::new().name("sleeper");
    /// let task = ex.spawn_with(builder, std::future::pending::<()>());
    /// let live = ex.handle().tasks();
    /// assert!(live.iter().any(|t| t.id() == task.id() && t.name() == Some("sleeper")));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn tasks(&self) -> Vec<corio_core::TaskMeta> {
        self.map_tasks(|t| t.meta().clone())
    }

    /// `f` of every live task of this executor, in no particular order: for task dumps
    /// that read more than the metadata (the task's [`TaskStats`](corio_core::TaskStats):
    /// polls, await point, times). `f` runs while a lock of the task list is held: it
    /// must only read the task it is given (no spawning, no cancelling, no task handle
    /// dropped), or it may deadlock.
    ///
    /// ```
    /// let ex = corio_scheduler::Executor::new()?;
    /// let task = ex.spawn(std::future::pending::<()>());
    /// let id = task.id();
    /// while !ex.handle().map_tasks(|t| (t.id(), t.stats().polls())).contains(&(id, 1)) {
    ///     std::thread::yield_now(); // until a worker has polled it once
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn map_tasks<R>(&self, f: impl FnMut(&corio_core::TaskRef) -> R) -> Vec<R> {
        self.shared.owned.map(f)
    }

    /// How many tasks of this executor are live (spawned, their future not yet dropped).
    pub fn task_count(&self) -> usize {
        self.shared.owned.len()
    }

    /// Creates the task, lists it in the executor's owned tasks and schedules it (a
    /// task spawned after shutdown began is cancelled at once).
    fn spawn_inner<F>(&self, builder: corio_core::Builder, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shared = &self.shared;
        let (runnable, task) = shared.owned.bind(|key| {
            builder.spawn_listed(Tracked::new(future, key, shared), Scheduler(shared.clone()))
        });
        match runnable {
            Some(runnable) => shared.schedule_spawned(runnable),
            None => shared.count_spawned_cancelled(),
        }
        task
    }
}

pin_project_lite::pin_project! {
    /// A task's future plus its bookkeeping: dropping it (completion or cancellation)
    /// removes the task from the executor's owned tasks and counts it as finished.
    struct Tracked<F> {
        #[pin]
        future: F,
        key: Key,
        // A raw pointer, not an `Arc`: one reference-count increment and decrement
        // less per task on a line every worker touches. See `Tracked::shared`.
        shared: NonNull<Shared>,
    }

    impl<F> PinnedDrop for Tracked<F> {
        fn drop(this: Pin<&mut Self>) {
            // SAFETY: see `Tracked::shared`.
            let shared = unsafe { this.shared.as_ref() };
            shared.owned.remove(this.key);
            shared.count_completed();
        }
    }
}

// SAFETY: `Tracked` is a future, a key and a pointer to a `Shared`, which is `Sync`
// (its only uses are `owned.remove` and `count_completed`, through `&Shared`).
unsafe impl<F: Send> Send for Tracked<F> {}

impl<F> Tracked<F> {
    /// Wraps a future that is about to become the future of a task whose schedule
    /// function is a `Scheduler` holding an `Arc` to the same `Shared`, listed in its
    /// owned tasks under `key`.
    ///
    /// Validity of `shared` whenever the wrapper is used: a `Tracked` is created only
    /// in `Handle::spawn_inner` and moved straight into a task (corio-core's `spawn`); that
    /// task also owns the `Scheduler` (an `Arc<Shared>`), which corio-core drops only
    /// when it frees the task, after the future was dropped. So the `Shared` outlives
    /// every poll and the drop of this wrapper.
    fn new(future: F, key: Key, shared: &Arc<Shared>) -> Tracked<F> {
        Tracked {
            future,
            key,
            shared: NonNull::from(&**shared),
        }
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().future.poll(cx)
    }
}

/// How many local tasks a `block_on` thread runs in a row before it looks at its
/// own future again (the worker loop's injector interval, for the same reason: a
/// stream of ready local tasks must not starve the future).
const LOCAL_BATCH: u32 = crate::worker::INJECTOR_INTERVAL;

/// Wakes a thread blocked in `block_on_thread`: sets its flag, then unparks it.
struct ThreadWaker {
    flag: Arc<MainFlag>,
    thread: Unparker,
}

impl Wake for ThreadWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.flag.woken.store(true, SeqCst);
        self.thread.unpark();
    }
}

/// Runs up to `LOCAL_BATCH` local tasks of `home`; `true` if it stopped with more
/// perhaps ready.
fn run_local_batch(home: &LocalTasks) -> bool {
    for _ in 0..LOCAL_BATCH {
        match home.next() {
            Some(runnable) => {
                runnable.run();
            }
            None => return false,
        }
    }
    true
}

/// Drives `future` on this thread (not a worker: multi-thread flavor), and the local
/// tasks spawned on it, parking when neither is ready. The parker's token is sticky,
/// and both wakers set their flag before they unpark: a wake-up between the last
/// check and the park is not lost.
pub(crate) fn block_on_thread<F: Future>(shared: &Arc<Shared>, future: F) -> F::Output {
    let parker = Parker::new();
    let flag = Arc::new(MainFlag {
        woken: AtomicBool::new(true),
    });
    let waker = Waker::from(std::sync::Arc::new(ThreadWaker {
        flag: flag.clone(),
        thread: parker.unparker().clone(),
    }));
    let home = LocalTasks::new(Inbox::new(
        shared.clone(),
        None,
        Some(parker.unparker().clone()),
    ));
    let _home = context::enter_local_until_closed(&home);
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if flag.woken.swap(false, AcqRel) {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
        }
        if run_local_batch(&home) {
            continue;
        }
        if !flag.woken.load(SeqCst) && !home.has_ready() {
            parker.park();
        }
    }
}

/// Wakes the current-thread `block_on` future: sets its flag and wakes whichever thread
/// is driving (the worker, possibly in the park hook) and the `block_on` thread itself
/// (in case it is waiting for another driver).
struct MainWaker {
    flag: Arc<MainFlag>,
    shared: Arc<Shared>,
    thread: Unparker,
}

impl Wake for MainWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.flag.woken.store(true, SeqCst);
        self.shared.unpark_worker(0);
        self.thread.unpark();
    }
}

fn block_on_current_thread<F: Future>(shared: &Arc<Shared>, future: F) -> F::Output {
    let flag = Arc::new(MainFlag {
        woken: AtomicBool::new(true),
    });
    let parker = Parker::new();
    // This thread's local tasks run here whether or not it runs the worker: woken
    // through worker 0 (when it does) and through its own parker (when it waits).
    let home = Rc::new(LocalTasks::new(Inbox::new(
        shared.clone(),
        Some(0),
        Some(parker.unparker().clone()),
    )));
    let _home = context::enter_local_until_closed(&home);
    let waker = Waker::from(std::sync::Arc::new(MainWaker {
        flag: flag.clone(),
        shared: shared.clone(),
        thread: parker.unparker().clone(),
    }));
    let mut future = pin!(future);
    let mut output = None;
    loop {
        let core = lock(&shared.core).take();
        if let Some(core) = core {
            let worker =
                WorkerCx::new(shared.clone(), core, Some(flag.clone()), Some(home.clone()));
            {
                let _guard = context::enter_worker(&worker);
                let mut poll_main = || {
                    let mut cx = Context::from_waker(&waker);
                    match future.as_mut().poll(&mut cx) {
                        Poll::Ready(out) => {
                            output = Some(out);
                            true
                        }
                        Poll::Pending => false,
                    }
                };
                worker.run(Some(&mut poll_main));
            }
            *lock(&shared.core) = Some(worker.into_core());
            for waiter in lock(&shared.core_waiters).drain(..) {
                waiter.unpark();
            }
            match output.take() {
                Some(out) => return out,
                // `run` only returns early at shutdown, which cannot start while we
                // borrow the executor; wait like a non-driver to be safe.
                None => flag.woken.store(true, SeqCst),
            }
        }
        // Another thread drives the executor: wait for our future, and for the core.
        lock(&shared.core_waiters).push(parker.unparker().clone());
        if lock(&shared.core).is_some() {
            continue;
        }
        if flag.woken.swap(false, AcqRel) {
            let mut cx = Context::from_waker(&waker);
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
        }
        if run_local_batch(&home) {
            continue;
        }
        if lock(&shared.core).is_none() && !flag.woken.load(SeqCst) && !home.has_ready() {
            parker.park();
        }
    }
}
