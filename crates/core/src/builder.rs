//! [`Builder`], [`spawn`] and [`spawn_local`]: making tasks.

use std::alloc::{self, Layout};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::harness::Harness;
use crate::layout::{AnyThread, Header, OwnerThread};
use crate::{Context, Runnable, Schedule, Task, TaskId, TaskMeta, TaskRef, TaskStats};

/// Futures larger than this many bytes are moved into a box of their own before anything
/// else happens to them on the spawn path (the task then holds only the pointer), as tokio
/// does.
///
/// Every by-value move of a future copies all of its bytes, and unoptimised builds keep a
/// stack copy at each step, so a large future handed through a few spawn wrappers could
/// overflow a worker's or the caller's stack; polling never moves it (it is pinned in
/// the task's allocation). Debug builds copy more, hence the lower bound there. Futures at
/// or below the threshold cost no extra allocation.
///
/// ```
/// let big = async { let buf = [1u8; 64 * 1024]; std::future::ready(()).await; buf[0] };
/// assert!(std::mem::size_of_val(&big) > corio_core::BOX_FUTURE_THRESHOLD);
/// let (runnable, task) = corio_core::spawn(big, |_r| {});
/// runnable.run();
/// assert_eq!(futures::executor::block_on(task).unwrap(), 1);
/// ```
pub const BOX_FUTURE_THRESHOLD: usize = if cfg!(debug_assertions) {
    2 * 1024
} else {
    16 * 1024
};

/// Whether a future of type `F` is larger than [`BOX_FUTURE_THRESHOLD`]: spawn functions
/// (and `block_on`s) box such a future before moving it any further.
#[inline(always)]
pub const fn is_large_future<F>() -> bool {
    std::mem::size_of::<F>() > BOX_FUTURE_THRESHOLD
}

/// Moves `future` into a new box, like `Box::pin`, but with the allocation made before
/// the future is moved: see [`FutureSlot`].
///
/// ```
/// let fut = corio_core::box_future(async { 7 });
/// assert_eq!(futures::executor::block_on(fut), 7);
/// ```
#[inline(always)]
pub fn box_future<F: Future>(future: F) -> Pin<Box<F>> {
    FutureSlot::for_value(&future).fill(future)
}

/// Heap room for one future, allocated before the future is moved into it.
///
/// `Box::pin(future)` moves the future into a temporary, then allocates, then copies the
/// temporary into the heap: the optimiser cannot drop the temporary, because the future
/// must still be dropped from it if the allocation fails. Allocating first, then moving
/// the future in with nothing in between, lets an optimised build copy it straight from
/// where it is into the heap, so spawning a huge future needs no stack room for it.
///
/// ```
/// let fut = async { 7 };
/// let boxed = corio_core::FutureSlot::for_value(&fut).fill(fut);
/// assert_eq!(futures::executor::block_on(boxed), 7);
/// ```
pub struct FutureSlot<F> {
    /// Uninitialised until `fill`; dangling for a zero-sized `F`.
    ptr: NonNull<F>,
}

impl<F> std::fmt::Debug for FutureSlot<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FutureSlot").finish_non_exhaustive()
    }
}

impl<F: Future> FutureSlot<F> {
    /// Allocates room for a future of `future`'s type (`future` is only used for its type).
    #[inline(always)]
    pub fn for_value(future: &F) -> FutureSlot<F> {
        let _ = future;
        let layout = Layout::new::<F>();
        if layout.size() == 0 {
            return FutureSlot {
                ptr: NonNull::dangling(),
            };
        }
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc::alloc(layout) }.cast::<F>();
        match NonNull::new(raw) {
            Some(ptr) => FutureSlot { ptr },
            None => alloc::handle_alloc_error(layout),
        }
    }

    /// Moves `future` into the room and returns it as a pinned box.
    #[inline(always)]
    pub fn fill(self, future: F) -> Pin<Box<F>> {
        let ptr = ManuallyDrop::new(self).ptr.as_ptr();
        // SAFETY: `ptr` is a fresh, aligned allocation for one `F` from the global allocator
        // with `Layout::new::<F>()` (or dangling for a zero-sized `F`), as `Box::from_raw`
        // requires; once written it holds a valid `F`, owned by the box alone.
        unsafe {
            ptr.write(future);
            Box::into_pin(Box::from_raw(ptr))
        }
    }
}

impl<F> Drop for FutureSlot<F> {
    /// Frees the room if it was never filled.
    fn drop(&mut self) {
        let layout = Layout::new::<F>();
        if layout.size() != 0 {
            // SAFETY: allocated in `for_value` with this layout, never filled (`fill` does
            // not run this destructor), so nothing in it needs dropping.
            unsafe { alloc::dealloc(self.ptr.as_ptr().cast(), layout) }
        }
    }
}

/// Creates a task from a `Send` future and a schedule function.
///
/// Returns the [`Runnable`] (poll it with `run`, or hand it to the schedule function with
/// `schedule`) and the [`Task`] (await it for the result, or drop it to detach). Nothing
/// happens until the `Runnable` is run. Exactly one allocation is made (two for a future
/// larger than [`BOX_FUTURE_THRESHOLD`], which gets its own box).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// let queue = Arc::new(Mutex::new(Vec::new()));
/// let q = queue.clone();
/// let (runnable, task) = corio_core::spawn(async { 1 + 1 }, move |r| q.lock().unwrap().push(r));
/// runnable.schedule();
/// while let Some(r) = queue.lock().unwrap().pop() { r.run(); }
/// assert_eq!(futures::executor::block_on(task).unwrap(), 2);
/// ```
pub fn spawn<F, S>(future: F, schedule: S) -> (Runnable, Task<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    Builder::new().spawn(future, schedule)
}

/// Creates a task from a future that need not be `Send`: its `Runnable` must be run (and its
/// future dropped) on the calling thread. `Runnable::run` checks and panics on any other
/// thread; cancelling from another thread schedules the task so this thread drops it.
///
/// ```
/// use std::rc::Rc;
/// let shared = Rc::new(5);                       // not Send
/// let s = shared.clone();
/// let (runnable, task) = corio_core::spawn_local(async move { *s * 2 }, |_r| {});
/// runnable.run();
/// assert_eq!(futures::executor::block_on(task).unwrap(), 10);
/// ```
pub fn spawn_local<F, S>(future: F, schedule: S) -> (Runnable, Task<F::Output>)
where
    F: Future + 'static,
    F::Output: 'static,
    S: Schedule,
{
    Builder::new().spawn_local(future, schedule)
}

/// Spawns tasks with metadata: a name and a spawn location, reported by
/// [`TaskMeta`], [`current`](crate::current) and `Schedule::unhandled_panic`.
///
/// ```
/// use std::panic::Location;
/// let (runnable, task) = corio_core::Builder::new()
///     .name(format!("conn-{}", 3))
///     .location(Location::caller())
///     .spawn(async {}, |_r| {});
/// assert_eq!(runnable.meta().name(), Some("conn-3"));
/// assert_eq!(task.meta().location().unwrap().file(), file!());
/// # drop(runnable);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Builder {
    id: Option<TaskId>,
    parent: Option<TaskId>,
    name: Option<Arc<str>>,
    location: Option<&'static Location<'static>>,
    timed: bool,
    context: Context,
}

impl Builder {
    /// A builder with no name and no location.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task (`&str`, `String`, `Cow<str>`, `Arc<str>`...).
    #[must_use]
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Records where the task was spawned; pass `Location::caller()` from a
    /// `#[track_caller]` spawn function to point at your user's code.
    #[must_use]
    pub fn location(mut self, location: &'static Location<'static>) -> Builder {
        self.location = Some(location);
        self
    }

    /// Gives the task this id, taken from [`TaskId::fresh`] (default: a fresh one
    /// at spawn). Use each id for one spawn only: ids are how tasks are told apart.
    #[must_use]
    pub fn id(mut self, id: TaskId) -> Builder {
        self.id = Some(id);
        self
    }

    /// Records the task that spawns this one (usually [`current_id`](crate::current_id)),
    /// for task trees: [`TaskMeta::parent`].
    ///
    /// ```
    /// let parent = corio_core::TaskId::fresh();
    /// let (runnable, task) = corio_core::Builder::new().parent(parent).spawn(async {}, |_r| {});
    /// assert_eq!(task.meta().parent(), Some(parent));
    /// # drop(runnable);
    /// ```
    #[must_use]
    pub fn parent(mut self, parent: TaskId) -> Builder {
        self.parent = Some(parent);
        self
    }

    /// Measures the task's time in polls and its current wait ([`TaskStats::busy`],
    /// [`TaskStats::idle_for`]): two clock reads per poll, so off by default.
    ///
    /// ```
    /// let (runnable, task) = corio_core::Builder::new().timed(true).spawn(async {}, |_r| {});
    /// let task_ref = runnable.task_ref();
    /// runnable.run();
    /// assert!(task_ref.stats().busy().is_some());
    /// # drop(task);
    /// ```
    ///
    /// [`TaskStats::busy`]: crate::TaskStats::busy
    /// [`TaskStats::idle_for`]: crate::TaskStats::idle_for
    #[must_use]
    pub fn timed(mut self, timed: bool) -> Builder {
        self.timed = timed;
        self
    }

    /// The context variables the task runs in (default: an empty context of its own).
    /// Each poll makes it the current context, and what the task sets stays in it; it
    /// is dropped with the future. An executor that wants tasks to inherit their
    /// spawner's variables, as asyncio's `create_task` does, passes
    /// [`Context::current`]; no wrapper future is needed.
    ///
    /// ```
    /// use corio_core::{Builder, Context, ContextVar};
    /// static USER: ContextVar<&'static str> = ContextVar::new("user");
    ///
    /// let _t = USER.set("ada");
    /// let (runnable, task) = Builder::new()
    ///     .context(Context::current())
    ///     .spawn(async { USER.get() }, |_r| {});
    /// runnable.run();
    /// assert_eq!(futures::executor::block_on(task).unwrap(), Some("ada"));
    /// ```
    #[must_use]
    pub fn context(mut self, context: Context) -> Builder {
        self.context = context;
        self
    }

    #[inline(always)]
    fn meta(self) -> (TaskMeta, TaskStats, Context) {
        let meta = TaskMeta {
            id: self.id.unwrap_or_else(TaskId::next),
            parent: self.parent,
            name: self.name,
            location: self.location,
        };
        (meta, TaskStats::new(self.timed), self.context)
    }

    /// [`spawn`] with this builder's metadata.
    #[inline(always)]
    pub fn spawn<F, S>(self, future: F, schedule: S) -> (Runnable, Task<F::Output>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
        S: Schedule,
    {
        let ptr = self.allocate(future, schedule, 0);
        // SAFETY: a new task holds one reference for each handle (state `INITIAL`), and its
        // output type is `F::Output`.
        unsafe { (Runnable::from_header(ptr), Task::from_header(ptr)) }
    }

    /// [`spawn`](Builder::spawn), plus a [`TaskRef`] made with the task, for an executor
    /// that lists every task it spawns (to cancel them all at shutdown): what
    /// `runnable.task_ref()` gives, without its reference-count increment (the new
    /// task's state counts the reference from the start).
    ///
    /// ```
    /// let (runnable, task, listed) = corio_core::Builder::new().spawn_listed(async { 7 }, |_r| {});
    /// assert!(!listed.is_finished());
    /// runnable.run();
    /// assert!(listed.is_finished());
    /// assert_eq!(futures::executor::block_on(task).ok(), Some(7));
    /// ```
    #[inline(always)]
    pub fn spawn_listed<F, S>(self, future: F, schedule: S) -> (Runnable, Task<F::Output>, TaskRef)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
        S: Schedule,
    {
        let ptr = self.allocate(future, schedule, 1);
        // SAFETY: as in `spawn`, with one more reference counted for the `TaskRef`.
        unsafe {
            (
                Runnable::from_header(ptr),
                Task::from_header(ptr),
                TaskRef::from_header(ptr),
            )
        }
    }

    /// Allocates a task for [`spawn`](Builder::spawn) with `extra_refs` references
    /// beyond the `Runnable`'s and the `Task`'s.
    #[inline(always)]
    fn allocate<F, S>(self, future: F, schedule: S, extra_refs: usize) -> NonNull<Header>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
        S: Schedule,
    {
        // Each branch hands the future on by one move; the large one moves a pointer.
        if is_large_future::<F>() {
            self.allocate_unboxed(box_future(future), schedule, extra_refs)
        } else {
            self.allocate_unboxed(future, schedule, extra_refs)
        }
    }

    #[inline(always)]
    fn allocate_unboxed<F, S>(self, future: F, schedule: S, extra_refs: usize) -> NonNull<Header>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
        S: Schedule,
    {
        let (meta, stats, context) = self.meta();
        Harness::<F, S, AnyThread>::allocate(
            future, schedule, meta, stats, context, AnyThread, extra_refs,
        )
    }

    /// [`spawn_local`] with this builder's metadata.
    pub fn spawn_local<F, S>(self, future: F, schedule: S) -> (Runnable, Task<F::Output>)
    where
        F: Future + 'static,
        F::Output: 'static,
        S: Schedule,
    {
        if is_large_future::<F>() {
            self.spawn_local_unboxed(box_future(future), schedule)
        } else {
            self.spawn_local_unboxed(future, schedule)
        }
    }

    fn spawn_local_unboxed<F, S>(self, future: F, schedule: S) -> (Runnable, Task<F::Output>)
    where
        F: Future + 'static,
        F::Output: 'static,
        S: Schedule,
    {
        let owner = OwnerThread::current();
        let (meta, stats, context) = self.meta();
        let ptr = Harness::<F, S, OwnerThread>::allocate(
            future, schedule, meta, stats, context, owner, 0,
        );
        // SAFETY: as in `spawn`.
        unsafe { (Runnable::from_header(ptr), Task::from_header(ptr)) }
    }
}
