//! [`Schedule`]: how a task hands itself back to its executor.

use std::any::Any;

use crate::{Runnable, TaskMeta};

/// Extra facts passed to [`Schedule::schedule`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScheduleInfo {
    /// The task woke itself during its own poll (e.g. `yield_now`), and is being rescheduled
    /// right after that poll. Schedulers should put it at the back of the queue, not in a
    /// LIFO slot, or a task that yields in a loop would starve the others.
    pub woken_while_running: bool,
    /// The task was woken because a task it awaits finished (the finished task woke the
    /// waker its `Task` registered, or a combinator's waker that wakes this task). Schedulers
    /// may put it behind the tasks already queued rather than run it next: a task that
    /// awaits many children in turn then resumes once for all that finished meanwhile,
    /// instead of once per child, in between them (asyncio resumes an awaiting task the
    /// same way, through the back of the ready queue).
    pub woken_by_join: bool,
}

impl ScheduleInfo {
    /// Builds a `ScheduleInfo` (not woken by a join).
    pub fn new(woken_while_running: bool) -> ScheduleInfo {
        ScheduleInfo {
            woken_while_running,
            woken_by_join: false,
        }
    }
}

/// The executor side of a task: called with a [`Runnable`] whenever the task must be polled.
///
/// Any `Fn(Runnable) + Send + Sync + 'static` closure is a `Schedule`. Implement the trait on
/// your own type to see [`ScheduleInfo`] or to receive panics nobody will retrieve.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use corio_core::{Runnable, Schedule, ScheduleInfo, TaskMeta};
///
/// struct Queue(Mutex<Vec<Runnable>>);
/// struct Sched(Arc<Queue>);
/// impl Schedule for Sched {
///     fn schedule(&self, runnable: Runnable, _info: ScheduleInfo) {
///         self.0 .0.lock().unwrap().push(runnable);
///     }
///     fn unhandled_panic(&self, task: &TaskMeta, _payload: Box<dyn std::any::Any + Send>) {
///         eprintln!("{task} panicked and nobody awaited it");
///     }
/// }
///
/// let queue = Arc::new(Queue(Mutex::new(Vec::new())));
/// let (runnable, task) = corio_core::spawn(async { 7 }, Sched(queue.clone()));
/// runnable.schedule();
/// let r = queue.0.lock().unwrap().pop().unwrap();
/// r.run();
/// assert_eq!(futures::executor::block_on(task).unwrap(), 7);
/// ```
pub trait Schedule: Send + Sync + 'static {
    /// Hands the task to the executor, which will call [`Runnable::run`] (or drop the
    /// `Runnable`, which cancels the task). Called from whichever thread woke the task.
    fn schedule(&self, runnable: Runnable, info: ScheduleInfo);

    /// A panic nobody will retrieve: the future panicked while its `Task` was
    /// detached/dropped, or the `Task` was dropped after the panic without being awaited
    /// (also: a panic in the future's `Drop`, or in the output's `Drop` on the worker, and a
    /// panic that lost to a cancellation). Default: drop the payload.
    fn unhandled_panic(&self, _task: &TaskMeta, _payload: Box<dyn Any + Send>) {}
}

impl<F> Schedule for F
where
    F: Fn(Runnable) + Send + Sync + 'static,
{
    fn schedule(&self, runnable: Runnable, _info: ScheduleInfo) {
        self(runnable)
    }
}
