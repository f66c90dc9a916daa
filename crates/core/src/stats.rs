//! [`TaskStats`]: what a task is doing, for task dumps (`asyncio`'s `pstree`): how many
//! times it was polled, the await point it is suspended at, and (when the task was
//! spawned with [`Builder::timed`](crate::Builder::timed)) its time in polls and how long
//! its current wait has lasted.
//!
//! The statistics live in the task's header, so an executor that lists its tasks (with
//! [`TaskRef`](crate::TaskRef)s) reads them without any per-task registration: spawning
//! and finishing a task cost nothing here, a poll costs two relaxed stores, and a leaf
//! future that returns `Pending` one more ([`record_await_point`]). All fields are
//! relaxed atomics: a reader gets a snapshot, not a synchronised view.

use std::panic::Location;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::context::CONTEXT;

/// Live statistics of one task (see the module docs), read through
/// [`TaskRef::stats`](crate::TaskRef::stats).
///
/// ```
/// use std::panic::Location;
/// let here = Location::caller();
/// let (runnable, task) = corio_core::spawn(
///     std::future::poll_fn(move |_| {
///         corio_core::record_await_point(here);
///         std::task::Poll::<()>::Pending
///     }),
///     |_r| {},
/// );
/// let task_ref = runnable.task_ref();
/// runnable.run();
/// assert_eq!(task_ref.stats().polls(), 1);
/// assert_eq!(task_ref.stats().await_point(), Some(here));
/// assert_eq!(task_ref.stats().busy(), None, "not spawned with Builder::timed");
/// # drop(task);
/// ```
#[derive(Debug)]
pub struct TaskStats {
    polls: AtomicU64,
    /// The await point recorded during the last poll (null: none recorded).
    await_point: AtomicPtr<Location<'static>>,
    /// Nanoseconds spent in polls; `u64::MAX`: the task is not timed.
    busy_ns: AtomicU64,
    /// When the last poll ended, in ns since [`epoch`] (0: never, or not timed).
    idle_since: AtomicU64,
}

/// The process-wide origin of `idle_since` (so a task carries no `Instant`).
fn epoch_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    // Nanoseconds fit a u64 for 584 years of uptime.
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

const UNTIMED: u64 = u64::MAX;

impl TaskStats {
    pub(crate) fn new(timed: bool) -> TaskStats {
        TaskStats {
            polls: AtomicU64::new(0),
            await_point: AtomicPtr::new(ptr::null_mut()),
            busy_ns: AtomicU64::new(if timed { 0 } else { UNTIMED }),
            idle_since: AtomicU64::new(0),
        }
    }

    /// Before a poll: counts it and forgets the previous await point. Returns the start
    /// time when the task is timed. Only the polling thread writes these fields (a task
    /// is polled by one thread at a time), so load + store is enough.
    #[inline]
    pub(crate) fn begin_poll(&self) -> Option<u64> {
        self.polls
            .store(self.polls.load(Relaxed).wrapping_add(1), Relaxed);
        self.await_point.store(ptr::null_mut(), Relaxed);
        (self.busy_ns.load(Relaxed) != UNTIMED).then(epoch_ns)
    }

    /// After a poll that began at `started` (a timed task): adds the poll's time.
    #[cold]
    pub(crate) fn end_poll(&self, started: u64) {
        let now = epoch_ns();
        let busy = self.busy_ns.load(Relaxed);
        self.busy_ns.store(
            (busy + now.saturating_sub(started)).min(UNTIMED - 1),
            Relaxed,
        );
        self.idle_since.store(now.max(1), Relaxed);
    }

    /// How many times the task was polled (the poll in progress included).
    pub fn polls(&self) -> u64 {
        self.polls.load(Relaxed)
    }

    /// The await point a leaf future recorded with [`record_await_point`] during the last
    /// poll: where the task waits, if it is suspended (a running task may show the point
    /// of its previous wait or none).
    pub fn await_point(&self) -> Option<&'static Location<'static>> {
        let at = self.await_point.load(Relaxed);
        // SAFETY: the pointer is null or was made from a `&'static Location` in
        // `record_await_point`.
        unsafe { at.as_ref() }
    }

    /// Time spent inside polls; `None` unless the task was spawned with
    /// [`Builder::timed`](crate::Builder::timed).
    pub fn busy(&self) -> Option<Duration> {
        match self.busy_ns.load(Relaxed) {
            UNTIMED => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }

    /// How long ago the last poll ended (for a suspended task: how long it has waited);
    /// `None` when the task is not timed or was never polled.
    pub fn idle_for(&self) -> Option<Duration> {
        match self.idle_since.load(Relaxed) {
            0 => None,
            since => Some(Duration::from_nanos(epoch_ns().saturating_sub(since))),
        }
    }
}

/// Records `at` as the await point of the task this thread is polling (what a task dump
/// shows while the task is suspended): leaf futures call it, with their caller's
/// `#[track_caller]` location, when they are about to return `Pending`. Does nothing
/// outside a task. The record lasts until the task's next poll.
///
/// ```
/// use std::panic::Location;
/// #[track_caller]
/// fn wait_here() -> impl std::future::Future<Output = ()> {
///     let at = Location::caller();
///     std::future::poll_fn(move |_| {
///         corio_core::record_await_point(at);
///         std::task::Poll::Pending
///     })
/// }
/// let (runnable, _task) = corio_core::spawn(wait_here(), |_r| {});
/// let task_ref = runnable.task_ref();
/// runnable.run();
/// assert_eq!(task_ref.stats().await_point().unwrap().file(), file!());
/// ```
#[inline]
pub fn record_await_point(at: &'static Location<'static>) {
    record(at, false);
}

/// [`record_await_point`], unless a point was already recorded during this poll: for
/// leaves that are often the second thing a combinator waits on (a timer beside the
/// future a timeout guards), so the more telling point of the other leaf stays.
///
/// ```
/// use std::panic::Location;
/// let (first, second) = (Location::caller(), Location::caller());
/// let (runnable, _task) = corio_core::spawn(
///     std::future::poll_fn(move |_| {
///         corio_core::record_await_point(first);
///         corio_core::record_await_point_if_none(second);
///         std::task::Poll::<()>::Pending
///     }),
///     |_r| {},
/// );
/// let task_ref = runnable.task_ref();
/// runnable.run();
/// assert_eq!(task_ref.stats().await_point(), Some(first));
/// ```
#[inline]
pub fn record_await_point_if_none(at: &'static Location<'static>) {
    record(at, true);
}

#[inline]
fn record(at: &'static Location<'static>, if_none: bool) {
    let Ok(Some(header)) = CONTEXT.try_with(|cx| cx.current.get()) else {
        return;
    };
    // SAFETY: `current` is set only for the duration of a `Runnable::run`, whose
    // reference keeps the header alive.
    let stats = unsafe { &header.as_ref().stats };
    if if_none && !stats.await_point.load(Relaxed).is_null() {
        return;
    }
    stats.await_point.store(
        at as *const Location<'static> as *mut Location<'static>,
        Relaxed,
    );
}
