//! Local tasks: futures that are not `Send`, pinned to the thread that spawned them.
//!
//! # Homes
//!
//! Every thread that runs an executor's tasks has a *home* ([`LocalTasks`]): each
//! worker thread, and each thread inside [`Executor::block_on`](crate::Executor::block_on)
//! (in the current-thread flavor that thread also runs the executor's one worker).
//! [`spawn_local`] builds the task with corio-core's `spawn_local` (the task itself
//! checks that it is only polled and dropped on this thread) and lists it in the
//! current home. Its `Runnable` never enters a worker's queue, LIFO slot or the
//! injector, so no other worker can steal it: it only ever goes to its home's inbox.
//!
//! # Wake protocol (model-checked in `tests/loom.rs`)
//!
//! 1. A local task's schedule function ([`LocalSchedule`], called on whichever thread
//!    woke the task) pushes the `Runnable` to the home's inbox (a mutex-protected
//!    queue), then stores `pending = true` (`SeqCst`), then wakes the home: the
//!    worker through `Shared::unpark_worker` (its sticky parker token, and the park
//!    hook if it waits there), a `block_on` thread through its own parker.
//! 2. The home reads `pending` as one of its wake conditions before it parks (after
//!    announcing `in_hook`, as for every other condition): either it sees the push,
//!    or the push's wake-up comes after its check and makes the park return.
//! 3. The home takes the inbox in batches: it clears `pending` first, then takes the
//!    queue under the lock, so a push after the take sets `pending` again.
//!
//! A worker looks at its home every other tick, before its LIFO slot and queue, and
//! whenever those are empty: local tasks and stealable tasks share the worker fairly.
//!
//! # When the home ends
//!
//! A worker leaving its loop (shutdown, or an extra worker retiring, which it only
//! does with no local task alive), and `block_on` returning or unwinding, drop the
//! home on its own thread, which closes it: the list is marked closed (a local task
//! spawned after that is cancelled at once), every listed task is cancelled (on its
//! own thread corio-core drops an idle future at once, even if it is queued), and
//! the queued `Runnable`s are dropped. So every local future is dropped on its home
//! thread, and nothing waits. A `Runnable` pushed after the close belongs to a task
//! whose future is gone: dropping it on any thread only releases the allocation.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use corio_core::{Runnable, Schedule, ScheduleInfo, Task, TaskMeta, TaskRef};
use slab::Slab;

use crate::context;
use crate::shared::Shared;
use crate::sync::{lock, Arc, AtomicBool, Mutex, Ordering::*, Unparker};

/// The message of the panic raised by [`spawn_local`] where no home exists.
const NO_HOME_MSG: &str = "corio-scheduler: spawn_local called on a thread that runs no \
     executor: a local task must run on the thread that spawns it, so call it from inside a \
     task or from the future given to Executor::block_on (threads of a blocking pool or plain \
     threads cannot run local tasks; spawn a Send future there instead)";

/// The part of a home that other threads touch: its inbox and how to wake it.
pub(crate) struct Inbox {
    queue: Mutex<VecDeque<Runnable>>,
    /// Set after each push, cleared by the home before it takes the queue.
    pending: AtomicBool,
    /// The executor, for its unhandled-panic callback and to unpark `worker`.
    shared: Arc<Shared>,
    /// The worker slot that runs this home, if it is a worker's.
    worker: Option<usize>,
    /// The `block_on` thread that runs this home, if it is one.
    thread: Option<Unparker>,
}

impl Inbox {
    /// An inbox woken through worker `worker` of `shared` and/or the parker of a
    /// `block_on` thread (the current-thread flavor needs both: the thread may or may
    /// not be running the worker when the wake-up comes).
    pub(crate) fn new(
        shared: Arc<Shared>,
        worker: Option<usize>,
        thread: Option<Unparker>,
    ) -> Self {
        Inbox {
            queue: Mutex::new(VecDeque::new()),
            pending: AtomicBool::new(false),
            shared,
            worker,
            thread,
        }
    }

    /// Protocol step 1.
    fn push(&self, runnable: Runnable) {
        lock(&self.queue).push_back(runnable);
        self.pending.store(true, SeqCst);
        if let Some(worker) = self.worker {
            self.shared.unpark_worker(worker);
        }
        if let Some(thread) = &self.thread {
            thread.unpark();
        }
    }
}

/// The schedule function of a local task: back to its home's inbox, from any thread.
struct LocalSchedule(Arc<Inbox>);

impl Schedule for LocalSchedule {
    fn schedule(&self, runnable: Runnable, _info: ScheduleInfo) {
        self.0.push(runnable);
    }

    fn unhandled_panic(&self, task: &TaskMeta, payload: Box<dyn std::any::Any + Send>) {
        self.0.shared.report_unhandled_panic(task, payload);
    }
}

/// The live local tasks of one home (used on the home thread only).
struct List {
    /// `None`: a task cancelled by the close (its slot is freed when its future drops).
    tasks: RefCell<Slab<Option<TaskRef>>>,
    closed: Cell<bool>,
}

/// A thread's home for local tasks (see the module docs). Dropping it closes it.
pub(crate) struct LocalTasks {
    inbox: Arc<Inbox>,
    /// The batch taken from the inbox, run one per call to `next`.
    ready: RefCell<VecDeque<Runnable>>,
    /// `ready` may hold a task: lets `next` answer "none" without touching `ready`
    /// (it is asked on every other tick of a busy worker).
    maybe_ready: Cell<bool>,
    list: Rc<List>,
}

impl fmt::Debug for LocalTasks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalTasks")
            .field("live", &self.list.tasks.borrow().len())
            .finish_non_exhaustive()
    }
}

impl LocalTasks {
    pub(crate) fn new(inbox: Inbox) -> LocalTasks {
        LocalTasks {
            inbox: Arc::new(inbox),
            ready: RefCell::new(VecDeque::new()),
            maybe_ready: Cell::new(false),
            list: Rc::new(List {
                tasks: RefCell::new(Slab::new()),
                closed: Cell::new(false),
            }),
        }
    }

    /// The next local task to run, if any (protocol step 3). The common answer,
    /// "none", costs a `Cell` read and a relaxed load.
    #[inline]
    pub(crate) fn next(&self) -> Option<Runnable> {
        if !self.maybe_ready.get() && !self.inbox.pending.load(Relaxed) {
            return None;
        }
        self.next_slow()
    }

    fn next_slow(&self) -> Option<Runnable> {
        let mut ready = self.ready.borrow_mut();
        if ready.is_empty() && self.inbox.pending.load(Relaxed) {
            self.inbox.pending.store(false, SeqCst);
            // `ready` is empty: swapping hands its buffer to the inbox for reuse.
            std::mem::swap(&mut *ready, &mut *lock(&self.inbox.queue));
        }
        let next = ready.pop_front();
        self.maybe_ready.set(!ready.is_empty());
        next
    }

    /// Is a local task ready to run? (A wake condition before parking, step 2.)
    pub(crate) fn has_ready(&self) -> bool {
        self.maybe_ready.get() || self.inbox.pending.load(SeqCst)
    }

    /// Local tasks spawned here whose future is not yet dropped.
    pub(crate) fn live(&self) -> usize {
        self.list.tasks.borrow().len()
    }

    /// Creates a local task on this home and queues it (cancelled at once when the
    /// home is closed).
    fn spawn<F>(&self, builder: corio_core::Builder, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let list = &self.list;
        let mut tasks = list.tasks.borrow_mut();
        let entry = tasks.vacant_entry();
        let listed = Listed {
            future,
            key: entry.key(),
            list: list.clone(),
        };
        let (runnable, task) = builder.spawn_local(listed, LocalSchedule(self.inbox.clone()));
        if list.closed.get() {
            entry.insert(None);
            drop(tasks);
            drop(runnable); // cancels here, on the home thread: the future's drop frees the slot
            return task;
        }
        entry.insert(Some(runnable.task_ref()));
        drop(tasks);
        // Spawned on its home: straight to the batch, no lock and no wake-up.
        self.ready.borrow_mut().push_back(runnable);
        self.maybe_ready.set(true);
        task
    }

    /// Closes the home (see the module docs). Idempotent.
    pub(crate) fn close(&self) {
        self.list.closed.set(true);
        let listed: Vec<TaskRef> = self
            .list
            .tasks
            .borrow_mut()
            .iter_mut()
            .filter_map(|(_, t)| t.take())
            .collect();
        // No borrow is held while a future is dropped: its drop frees its slot, and
        // may spawn (into the closed list) or wake other local tasks.
        for task in listed {
            task.cancel();
        }
        loop {
            let next = self.ready.borrow_mut().pop_front();
            match next {
                Some(runnable) => drop(runnable),
                None => {
                    let batch = std::mem::take(&mut *lock(&self.inbox.queue));
                    if batch.is_empty() {
                        break;
                    }
                    *self.ready.borrow_mut() = batch;
                }
            }
        }
        self.maybe_ready.set(false);
    }
}

impl Drop for LocalTasks {
    fn drop(&mut self) {
        self.close();
    }
}

pin_project_lite::pin_project! {
    /// A local task's future plus its entry in its home's list, freed when the future
    /// is dropped (completed or cancelled; always on the home thread).
    struct Listed<F> {
        #[pin]
        future: F,
        key: usize,
        list: Rc<List>,
    }

    impl<F> PinnedDrop for Listed<F> {
        fn drop(this: Pin<&mut Self>) {
            let entry = this.list.tasks.borrow_mut().try_remove(this.key);
            // Dropped after the borrow: this `TaskRef` may be the task's last reference.
            drop(entry);
        }
    }
}

impl<F: Future> Future for Listed<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().future.poll(cx)
    }
}

/// Spawns a future that need not be `Send` on the current thread: it runs only on
/// this thread, is never stolen by another worker, and is woken home from any thread.
///
/// Available inside a task (the task runs on that worker) and inside the future
/// given to [`Executor::block_on`](crate::Executor::block_on) (it runs on the
/// `block_on` thread, while it waits). A local task still pending when its home ends
/// (the `block_on` call returns, or the executor shuts down) is cancelled there: its
/// future is dropped on its own thread.
///
/// # Panics
///
/// On a thread that runs no executor (a plain thread, a blocking pool's thread), with
/// a message saying what to do; [`try_spawn_local_with`] returns the future instead.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
///
/// let ex = corio_scheduler::Executor::new()?;
/// let total = ex.block_on(async {
///     let state = Rc::new(RefCell::new(Vec::new())); // not Send
///     let s = state.clone();
///     let task = corio_scheduler::spawn_local(async move { s.borrow_mut().push(1) });
///     task.await.unwrap();
///     let n = state.borrow().len();
///     n
/// });
/// assert_eq!(total, 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[track_caller]
pub fn spawn_local<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let builder = corio_core::Builder::new().location(std::panic::Location::caller());
    match try_spawn_local_with(builder, future) {
        Ok(task) => task,
        Err(_) => panic!("{NO_HOME_MSG}"),
    }
}

/// [`spawn_local`] with a task builder (name, location, id); gives the future back
/// (as `Err`) on a thread that runs no executor.
///
/// ```
/// let ex = corio_scheduler::Executor::new()?;
/// // A plain thread has no home for local tasks.
/// let refused = std::thread::spawn(|| {
///     corio_scheduler::try_spawn_local_with(corio_core::Builder::new(), async {}).is_err()
/// });
/// assert!(refused.join().unwrap());
/// ex.block_on(async {
///     let named = corio_core::Builder::new().name("local");
///     match corio_scheduler::try_spawn_local_with(named, async { 5 }) {
///         Ok(task) => assert_eq!(task.await.unwrap(), 5),
///         Err(_) => unreachable!("block_on is a home for local tasks"),
///     }
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn try_spawn_local_with<F>(
    builder: corio_core::Builder,
    future: F,
) -> Result<Task<F::Output>, F>
where
    F: Future + 'static,
    F::Output: 'static,
{
    context::with_local(|home| match home {
        // A large future is boxed before `Listed` wraps (moves) it.
        Some(home) if corio_core::is_large_future::<F>() => {
            Ok(home.spawn(builder, corio_core::box_future(future)))
        }
        Some(home) => Ok(home.spawn(builder, future)),
        None => Err(future),
    })
}
