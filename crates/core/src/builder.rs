//! [`Builder`], [`spawn`] and [`spawn_local`]: making tasks.

use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

use crate::harness::Harness;
use crate::layout::{AnyThread, OwnerThread};
use crate::{Runnable, Schedule, Task, TaskId, TaskMeta};

/// Creates a task from a `Send` future and a schedule function.
///
/// Returns the [`Runnable`] (poll it with `run`, or hand it to the schedule function with
/// `schedule`) and the [`Task`] (await it for the result, or drop it to detach). Nothing
/// happens until the `Runnable` is run. Exactly one allocation is made.
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
    name: Option<Arc<str>>,
    location: Option<&'static Location<'static>>,
}

impl Builder {
    /// A builder with no name and no location.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task (`&str`, `String`, `Cow<str>`, `Arc<str>`...).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Records where the task was spawned; pass `Location::caller()` from a
    /// `#[track_caller]` spawn function to point at your user's code.
    pub fn location(mut self, location: &'static Location<'static>) -> Builder {
        self.location = Some(location);
        self
    }

    fn meta(self) -> TaskMeta {
        TaskMeta {
            id: TaskId::next(),
            name: self.name,
            location: self.location,
        }
    }

    /// [`spawn`] with this builder's metadata.
    pub fn spawn<F, S>(self, future: F, schedule: S) -> (Runnable, Task<F::Output>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
        S: Schedule,
    {
        let ptr = Harness::<F, S, AnyThread>::allocate(future, schedule, self.meta(), AnyThread);
        // SAFETY: a new task holds one reference for each handle (state `INITIAL`), and its
        // output type is `F::Output`.
        unsafe { (Runnable::from_header(ptr), Task::from_header(ptr)) }
    }

    /// [`spawn_local`] with this builder's metadata.
    pub fn spawn_local<F, S>(self, future: F, schedule: S) -> (Runnable, Task<F::Output>)
    where
        F: Future + 'static,
        F::Output: 'static,
        S: Schedule,
    {
        let owner = OwnerThread::current();
        let ptr = Harness::<F, S, OwnerThread>::allocate(future, schedule, self.meta(), owner);
        // SAFETY: as in `spawn`.
        unsafe { (Runnable::from_header(ptr), Task::from_header(ptr)) }
    }
}
