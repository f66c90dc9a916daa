//! Per-thread context set by [`Runnable::run`](crate::Runnable::run): which task is being
//! polled (for [`current`]) and its cooperative budget (for [`crate::coop`]); and whether
//! this thread is waking the awaiter of a task that just finished (for
//! [`ScheduleInfo::woken_by_join`](crate::ScheduleInfo::woken_by_join)).
//!
//! One thread-local holds both, so entering and leaving a poll costs one thread-local access
//! each. The slot is const-initialised and has no destructor, so it is usable at any point of
//! a thread's life (even while other thread-locals are being destroyed).

use std::cell::Cell;
use std::ptr::NonNull;

use crate::layout::Header;
use crate::{TaskId, TaskMeta};

pub(crate) struct Context {
    /// The header of the task being polled on this thread; valid while set, because the
    /// `Runnable` being run holds a reference for the whole poll.
    pub(crate) current: Cell<Option<NonNull<Header>>>,
    /// Units left in the running task's budget; `None` outside a `Runnable::run`.
    pub(crate) budget: Cell<Option<u8>>,
    /// Set while a finished task wakes whoever awaits its `Task` (see [`wake_joiner`]).
    pub(crate) waking_joiner: Cell<bool>,
}

impl Context {
    const fn new() -> Context {
        Context {
            current: Cell::new(None),
            budget: Cell::new(None),
            waking_joiner: Cell::new(false),
        }
    }
}

#[cfg(not(loom))]
std::thread_local! {
    pub(crate) static CONTEXT: Context = const { Context::new() };
}

#[cfg(loom)]
loom::thread_local! {
    pub(crate) static CONTEXT: Context = Context::new();
}

/// How many budget units one `Runnable::run` grants: tokio's figure. A poll that does 128
/// units of ready work (channel receives, socket reads) is long enough to amortise the
/// reschedule, and short enough (typically well under 100 µs) that other tasks on the worker
/// are not starved.
pub(crate) const BUDGET: u8 = 128;

/// Restores the previous context when the poll ends (normally or by unwinding), so nested
/// runs (a `block_on` inside a task) see the right task afterwards.
pub(crate) struct Enter {
    prev_task: Option<NonNull<Header>>,
    prev_budget: Option<u8>,
}

/// Marks `header` as this thread's current task with a fresh budget.
#[inline]
pub(crate) fn enter(header: NonNull<Header>) -> Enter {
    CONTEXT.with(|cx| Enter {
        prev_task: cx.current.replace(Some(header)),
        prev_budget: cx.budget.replace(Some(BUDGET)),
    })
}

impl Drop for Enter {
    #[inline]
    fn drop(&mut self) {
        CONTEXT.with(|cx| {
            cx.current.set(self.prev_task);
            cx.budget.set(self.prev_budget);
        });
    }
}

/// Wakes the awaiter of a task that has just finished, marked as such: a corio task woken
/// by this call (directly, or through a combinator's waker) is scheduled with
/// [`ScheduleInfo::woken_by_join`](crate::ScheduleInfo::woken_by_join) set.
pub(crate) fn wake_joiner(waker: &std::task::Waker) {
    /// Puts the mark back as it was, even if the waker panics (and if a waker finished a
    /// task of its own, whose wake-up of its awaiter nested in this one).
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            CONTEXT.with(|cx| cx.waking_joiner.set(self.0));
        }
    }
    let _restore = Restore(CONTEXT.with(|cx| cx.waking_joiner.replace(true)));
    waker.wake_by_ref();
}

/// Whether this thread is inside [`wake_joiner`].
#[inline]
pub(crate) fn waking_joiner() -> bool {
    CONTEXT.with(|cx| cx.waking_joiner.get())
}

/// The task this thread is running right now (a copy of its [`TaskMeta`]): `Some` inside a
/// future polled by [`Runnable::run`](crate::Runnable::run), `None` elsewhere.
///
/// ```
/// # use std::sync::{Arc, Mutex};
/// let seen = Arc::new(Mutex::new(None));
/// let seen2 = seen.clone();
/// let (runnable, task) = corio_core::Builder::new().name("probe").spawn(
///     async move { *seen2.lock().unwrap() = corio_core::current() },
///     |_r| {},
/// );
/// assert!(corio_core::current().is_none(), "not inside a task here");
/// runnable.run();
/// let cur = seen.lock().unwrap().take().unwrap();
/// assert_eq!(cur.id(), task.id());
/// assert_eq!(cur.name(), Some("probe"));
/// ```
pub fn current() -> Option<TaskMeta> {
    let header = CONTEXT.with(|cx| cx.current.get())?;
    // SAFETY: `current` is only set by `enter` for the duration of a `Runnable::run`, whose
    // `Runnable` holds a reference, so the header is alive; the meta is immutable.
    Some(unsafe { header.as_ref().meta.clone() })
}

/// The id of the task this thread is running right now (what [`current`] gives, without
/// copying the metadata): for executors that record which task spawned which.
///
/// ```
/// let (runnable, task) = corio_core::spawn(async { corio_core::current_id() }, |_r| {});
/// runnable.run();
/// let id = task.id();
/// assert_eq!(futures::executor::block_on(task).unwrap(), Some(id));
/// assert_eq!(corio_core::current_id(), None);
/// ```
pub fn current_id() -> Option<TaskId> {
    let header = CONTEXT.with(|cx| cx.current.get())?;
    // SAFETY: as in `current`: the header is alive while it is current.
    Some(unsafe { header.as_ref().meta.id() })
}
