//! State shared by all workers of one executor, and the scheduling entry points.
//!
//! # Where a scheduled task goes
//!
//! `Shared::schedule` is what corio-core calls when a task is woken (and what `spawn`
//! calls for a new task):
//! - on a worker thread of *this* executor: [`WorkerCx::schedule_local`], i.e. the LIFO
//!   slot (the task runs next; the task it displaces goes to the back of the local queue),
//!   or the back of the local queue for a task that woke itself while running
//!   (`woken_while_running`, e.g. `yield_now`), so a self-waking task cannot starve the queue,
//!   and for a task woken by the finish of a task it awaits (`woken_by_join`): a task that
//!   awaits its children in turn then resumes once for those that finished meanwhile,
//!   instead of running between every two of them;
//! - anywhere else: the injector.
//!
//! Either way the pusher then runs rule 1 of the idle protocol (`crate::idle`): wake a
//! parked worker only if nobody is searching.
//!
//! # Shutdown protocol
//!
//! 1. `begin_shutdown` sets `shutdown` (`SeqCst`) and unparks every worker.
//! 2. A worker sees the flag at its next loop turn (before each task), leaves its loop,
//!    marks itself `exiting` (from then on its own wake-ups go to the injector), and
//!    drains its LIFO slot, its local queue and the injector, dropping each `Runnable`
//!    (which cancels the task: its `Task` resolves `Err(Cancelled)`).
//!
//!    2b. The last worker to exit closes the owned-task list and cancels every task
//!    still in it (`crate::owned`): tasks idle on a waker (in no queue). Only the last
//!    one, so that no task still being polled by another worker has its result
//!    replaced by `Cancelled` (a task that panics because it dropped its own executor
//!    keeps its panic). A task spawned after the close is cancelled at once.
//! 3. A remote push first pushes, then re-reads `shutdown` (`SeqCst`): if set, the
//!    pusher drains the injector itself. With step 1 this is a Dekker pair: either the
//!    drainer sees the task, or the pusher sees the flag. No task is left in a queue.
//! 4. Drops during a drain may spawn or wake tasks: they are pushed to the injector and
//!    the same (outer) drain loop picks them up; a thread-local `DRAINING` flag keeps the
//!    drain from recursing. No lock is held while a task is dropped, so this cannot
//!    deadlock.
//! 5. The executor waits for the workers (or the timeout), joins them (so step 2b is
//!    over), and cancels what is left in the owned-task list: everything when it timed
//!    out (tasks parked on wakers, and tasks queued behind a worker stuck in a poll),
//!    or in the current-thread flavor; then it drains the injector once more.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::ptr;
use std::time::Duration;

use corio_core::{Runnable, Schedule, ScheduleInfo, TaskMeta};
use crossbeam_utils::CachePadded;

use crate::context;
use crate::idle::Idle;
use crate::lifo::LifoSlot;
use crate::owned::OwnedTasks;
use crate::park::Park;
use crate::stall::{MonitorShared, StallConfig};
use crate::sync::{
    fence, lock, thread, AtomicBool, AtomicPtr, AtomicU64, Condvar, Injector, Mutex, Ordering::*,
    Steal, Stealer, Unparker,
};
use crate::worker::WorkerCore;

/// `unhandled_panic` callback type.
pub(crate) type UnhandledPanicFn = dyn Fn(&TaskMeta, Box<dyn Any + Send>) + Send + Sync;
/// `on_slow_poll` callback type.
pub(crate) type SlowPollFn = dyn Fn(&TaskMeta, Duration) + Send + Sync;
/// Thread start/stop callback type.
pub(crate) type ThreadCallback = dyn Fn() + Send + Sync;

/// Thread-name callback type.
pub(crate) type NameFn = dyn Fn() -> String + Send + Sync;

/// User configuration the workers read.
pub(crate) struct Config {
    pub(crate) unhandled_panic: Option<std::sync::Arc<UnhandledPanicFn>>,
    pub(crate) slow_poll: Option<(Duration, std::sync::Arc<SlowPollFn>)>,
    pub(crate) on_thread_start: Option<std::sync::Arc<ThreadCallback>>,
    pub(crate) on_thread_stop: Option<std::sync::Arc<ThreadCallback>>,
    pub(crate) thread_name: std::sync::Arc<NameFn>,
    pub(crate) stack_size: Option<usize>,
    /// `None`: no stall monitor.
    pub(crate) stall: Option<StallConfig>,
}

impl Config {
    /// A builder for one worker thread (base or extra): its name and stack size.
    pub(crate) fn thread_builder(&self) -> thread::Builder {
        let builder = thread::Builder::new().name((self.thread_name)());
        match self.stack_size {
            Some(size) => builder.stack_size(size),
            None => builder,
        }
    }
}

/// A counter written by one thread only (relaxed load + store: no locked instruction).
pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(by), Relaxed);
}

/// The part of a worker that other threads touch.
pub(crate) struct Remote {
    /// Thieves steal from the worker's local queue through this.
    pub(crate) stealer: Stealer<Runnable>,
    /// The stealable LIFO slot.
    pub(crate) lifo: LifoSlot,
    /// Wakes the worker's own parker.
    pub(crate) unparker: Unparker,
    /// The worker is (about to be) blocked in the park hook.
    pub(crate) in_hook: AtomicBool,
    /// Tasks polled (owner-written; thieves also read it to spot a worker stuck in a poll).
    pub(crate) polls: AtomicU64,
    /// Successful steals (owner-written).
    pub(crate) steals: AtomicU64,
    /// Times parked (owner-written).
    pub(crate) parks: AtomicU64,
    /// Nanoseconds spent between unpark and park (owner-written, updated at each park).
    pub(crate) busy_ns: AtomicU64,
    /// Tasks spawned on this worker (owner-written).
    pub(crate) spawned: AtomicU64,
    /// Task futures dropped on this worker (owner-written).
    pub(crate) completed: AtomicU64,
    /// A thread runs this slot (base workers always; extra slots while one runs).
    pub(crate) active: AtomicBool,
    /// `polls` when the worker last ran out of work (owner-written in search and
    /// park): `idle_at != polls` means it is in a poll (stall monitor step 2).
    pub(crate) idle_at: AtomicU64,
    /// Times the worker reached its periodic look at the park hook (owner-written, every
    /// `INJECTOR_INTERVAL` ticks, whether or not the hook was free): while it moves, a
    /// running worker delivers I/O and timers, and the stall monitor need not (step 5).
    pub(crate) hook_looks: AtomicU64,
    /// Id of the task polled last (owner-written before each poll, for stall reports).
    pub(crate) task_id: AtomicU64,
    /// Spawn location of the task polled last (null if none; see `stall::publish_task`).
    pub(crate) task_location: AtomicPtr<Location<'static>>,
    /// The OS thread id of the thread running this slot (0 if unknown), written at
    /// thread start: the stall monitor reads its scheduler accounting (see `stall_time`).
    pub(crate) tid: AtomicU64,
}

/// Everything the workers of one executor share.
///
/// Aligned to 128 bytes so that, inside its `Arc`, the reference counts (written at
/// every spawn and task free, from any thread) do not share a cache line with the
/// read-mostly fields every worker reads all the time (false sharing).
#[repr(align(128))]
pub(crate) struct Shared {
    /// Base workers first, then the spare slots of extra workers (stall monitor).
    pub(crate) remotes: Box<[CachePadded<Remote>]>,
    /// Base workers (the `worker_threads` asked for).
    pub(crate) num_workers: usize,
    /// The stall monitor's shared state (`None` when it is off).
    pub(crate) monitor: Option<MonitorShared>,
    pub(crate) injector: Injector<Runnable>,
    pub(crate) idle: Idle,
    /// Every task from its spawn until its future is dropped (cancelled at shutdown).
    pub(crate) owned: OwnedTasks,
    pub(crate) shutdown: AtomicBool,
    pub(crate) park_hook: Option<std::sync::Arc<dyn Park>>,
    /// A worker is in (or entering) the park hook: the others use their own parker.
    pub(crate) hook_busy: AtomicBool,
    /// How long a searching worker may spin before it parks (see `corio_core::spin`).
    pub(crate) spin: corio_core::spin::SpinGovernor,
    pub(crate) config: Config,
    /// Spawns / future drops that happened outside the workers.
    pub(crate) outside: CachePadded<OutsideCounters>,
    /// Worker threads (base and extra) started and exited (for `shutdown_timeout`).
    pub(crate) exited: Mutex<ThreadCount>,
    /// Extra workers' join handles (finished ones are pruned at each start).
    pub(crate) extra_threads: Mutex<Vec<thread::JoinHandle<()>>>,
    pub(crate) exited_cv: Condvar,
    /// Current-thread flavor: the single worker's parts, taken by the thread in `block_on`.
    pub(crate) core: Mutex<Option<WorkerCore>>,
    /// Current-thread flavor: threads waiting in `block_on` for the core.
    pub(crate) core_waiters: Mutex<Vec<Unparker>>,
    pub(crate) current_thread: bool,
}

/// Worker threads started and exited.
#[derive(Default)]
pub(crate) struct ThreadCount {
    pub(crate) started: usize,
    pub(crate) exited: usize,
}

/// Counters for work done outside worker threads (shared, so `fetch_add`).
#[derive(Default)]
pub(crate) struct OutsideCounters {
    pub(crate) spawned: AtomicU64,
    pub(crate) completed: AtomicU64,
}

impl Shared {
    /// Schedules `runnable` (see the module docs for where it goes).
    #[inline]
    pub(crate) fn schedule(&self, runnable: Runnable, to_back: bool) {
        let remote = context::with_worker(|cx| match cx {
            Some(cx) if cx.belongs_to(self) => {
                cx.schedule_local(runnable, to_back);
                None
            }
            _ => Some(runnable),
        });
        if let Some(runnable) = remote {
            self.schedule_remote(runnable);
        }
    }

    /// Schedules a new task and counts the spawn (one thread-local look-up for both).
    pub(crate) fn schedule_spawned(&self, runnable: Runnable) {
        let remote = context::with_worker(|cx| match cx {
            Some(cx) if cx.belongs_to(self) => {
                bump(&self.remotes[cx.index()].spawned, 1);
                cx.schedule_local(runnable, false);
                None
            }
            _ => Some(runnable),
        });
        if let Some(runnable) = remote {
            self.outside.spawned.fetch_add(1, Relaxed);
            self.schedule_remote(runnable);
        }
    }

    /// Counts the spawn of a task that was cancelled at once (spawned after shutdown
    /// began: its future was already dropped and counted as completed).
    pub(crate) fn count_spawned_cancelled(&self) {
        self.outside.spawned.fetch_add(1, Relaxed);
    }

    /// Pushes to the injector and wakes a worker if needed (shutdown step 3).
    pub(crate) fn schedule_remote(&self, runnable: Runnable) {
        self.injector.push(runnable);
        if self.shutdown.load(SeqCst) {
            self.drain_injector();
            return;
        }
        self.notify_parked();
    }

    /// Idle rule 1: wake a parked worker if nobody is searching.
    pub(crate) fn notify_parked(&self) {
        if let Some(worker) = self.idle.worker_to_notify() {
            self.unpark_worker(worker);
        }
    }

    /// Idle rule 1 for a running worker's own pushes (see `Idle::worker_to_notify_local`).
    pub(crate) fn notify_parked_local(&self) {
        if let Some(worker) = self.idle.worker_to_notify_local() {
            self.unpark_worker(worker);
        }
    }

    /// Wakes `worker` wherever it sleeps. Its own parker's token is sticky; if it is in
    /// (or entering) the park hook, the hook is unparked too. The worker stores `in_hook`
    /// then re-reads its wake condition ([`Shared::wait_in_hook`]), we changed the
    /// condition then read `in_hook`, each side with a `SeqCst` fence in between: one
    /// of us sees the other.
    pub(crate) fn unpark_worker(&self, worker: usize) {
        let remote = &self.remotes[worker];
        remote.unparker.unpark();
        // Without a hook nobody waits in one (and the fence would be wasted).
        if let Some(hook) = &self.park_hook {
            fence(SeqCst);
            if remote.in_hook.load(SeqCst) {
                hook.unpark();
            }
        }
    }

    /// Takes the park hook if no other thread holds it (`hook_busy`), waits in it, and
    /// gives it back: the step a parking worker and the stall monitor share. The taker
    /// announces itself in `waiter` (its `in_hook` flag) and then checks `may_wait`;
    /// whoever changes what `may_wait` reads and then reads `waiter` unparks the hook.
    /// Both sides put a `SeqCst` fence between their store and their load (a Dekker
    /// pair: one of the two sees the other, so no wake-up is lost between the check
    /// and [`Park::park`]; fences rather than `SeqCst` accesses alone, which loom
    /// models as acquire/release and where it then finds a lost wake-up). Returns `None` if another thread
    /// holds the hook, else what `Park::park` returned (`true` without waiting when
    /// `may_wait` said no: the taker was woken).
    pub(crate) fn wait_in_hook(
        &self,
        hook: &dyn Park,
        waiter: &AtomicBool,
        may_wait: impl FnOnce() -> bool,
        timeout: Option<Duration>,
    ) -> Option<bool> {
        if self.hook_busy.swap(true, Acquire) {
            return None;
        }
        waiter.store(true, SeqCst);
        fence(SeqCst);
        let parked = if may_wait() { hook.park(timeout) } else { true };
        waiter.store(false, SeqCst);
        self.hook_busy.store(false, Release);
        Some(parked)
    }

    /// Does any queue or LIFO slot hold a task? (Idle rules 3 and 4's last look.)
    pub(crate) fn work_pending(&self) -> bool {
        !self.injector.is_empty()
            || self
                .remotes
                .iter()
                .any(|r| !r.stealer.is_empty() || !r.lifo.is_empty())
    }

    /// Shutdown step 1. Returns `false` if shutdown had already begun.
    pub(crate) fn begin_shutdown(&self) -> bool {
        if self.shutdown.swap(true, SeqCst) {
            return false;
        }
        for worker in 0..self.remotes.len() {
            self.unpark_worker(worker);
        }
        self.wake_monitor();
        true
    }

    /// Closes the owned-task list and cancels every task still in it (shutdown steps 2b
    /// and 5), then drops what the cancellations pushed to the injector.
    pub(crate) fn cancel_all_tasks(&self) {
        self.owned.close_and_cancel_all();
        self.drain_injector();
    }

    /// Drops every task in the injector (each `Task` resolves `Err(Cancelled)`).
    /// Re-entrant calls (a dropped future spawning) return at once: the outer loop
    /// picks their tasks up.
    pub(crate) fn drain_injector(&self) {
        context::draining(self, || loop {
            match self.injector.steal() {
                Steal::Success(runnable) => drop(runnable),
                Steal::Empty => break,
                Steal::Retry => {}
            }
        });
    }

    /// A worker thread left its loop (a guard calls this even if it unwinds).
    /// The last worker to exit at shutdown cancels the tasks left (shutdown step 2b).
    pub(crate) fn worker_exited(&self) {
        let last = {
            let mut count = lock(&self.exited);
            count.exited += 1;
            count.exited >= count.started && self.shutdown.load(SeqCst)
        };
        if last {
            // Before the notify below: whoever joins this thread sees every task gone.
            self.cancel_all_tasks();
        }
        self.exited_cv.notify_all();
    }

    /// Counts a worker thread about to start; `false` (not counted) once shutdown began,
    /// so that shutdown waits for every thread it could not prevent.
    pub(crate) fn thread_started(&self) -> bool {
        let mut count = lock(&self.exited);
        if self.shutdown.load(SeqCst) {
            return false;
        }
        count.started += 1;
        true
    }

    /// Keeps an extra worker's join handle (and drops those of finished ones).
    pub(crate) fn keep_extra_handle(&self, handle: thread::JoinHandle<()>) {
        let mut handles = lock(&self.extra_threads);
        #[cfg(not(loom))]
        handles.retain(|h| !h.is_finished());
        handles.push(handle);
    }

    /// Counts a task future dropped (completed or cancelled).
    pub(crate) fn count_completed(&self) {
        let counted = context::with_worker(|cx| match cx {
            Some(cx) if cx.belongs_to(self) => {
                bump(&self.remotes[cx.index()].completed, 1);
                true
            }
            _ => false,
        });
        if !counted {
            self.outside.completed.fetch_add(1, Relaxed);
        }
    }

    /// Tasks spawned and not yet finished (their future not yet dropped).
    pub(crate) fn alive_tasks(&self) -> usize {
        let mut spawned = self.outside.spawned.load(Relaxed);
        let mut completed = self.outside.completed.load(Relaxed);
        for r in self.remotes.iter() {
            spawned = spawned.wrapping_add(r.spawned.load(Relaxed));
            completed = completed.wrapping_add(r.completed.load(Relaxed));
        }
        // Relaxed counters read at different moments can transiently cross.
        usize::try_from(spawned.saturating_sub(completed)).unwrap_or(usize::MAX)
    }

    /// Calls the `unhandled_panic` callback (default: a line on stderr). A panicking
    /// callback is contained: it must not kill the worker that reports.
    pub(crate) fn report_unhandled_panic(&self, meta: &TaskMeta, payload: Box<dyn Any + Send>) {
        match &self.config.unhandled_panic {
            Some(callback) => {
                let _ = catch_unwind(AssertUnwindSafe(|| callback(meta, payload)));
            }
            None => {
                let msg =
                    corio_core::panic_message(&*payload).unwrap_or("<non-string panic payload>");
                let name = meta.name().unwrap_or("<unnamed>");
                match meta.location() {
                    Some(loc) => eprintln!(
                        "corio: task {} ({name}, spawned at {loc}) panicked and nobody retrieved it: {msg}",
                        meta.id()
                    ),
                    None => eprintln!(
                        "corio: task {} ({name}) panicked and nobody retrieved it: {msg}",
                        meta.id()
                    ),
                }
            }
        }
    }

    /// Is `self` the same executor as `other`?
    pub(crate) fn is(&self, other: &Shared) -> bool {
        ptr::eq(self, other)
    }
}

/// The schedule function every task of an executor holds (one `Arc` clone per task).
#[derive(Clone)]
pub(crate) struct Scheduler(pub(crate) crate::sync::Arc<Shared>);

impl Schedule for Scheduler {
    #[inline]
    fn schedule(&self, runnable: Runnable, info: ScheduleInfo) {
        self.0
            .schedule(runnable, info.woken_while_running || info.woken_by_join);
    }

    fn unhandled_panic(&self, task: &TaskMeta, payload: Box<dyn Any + Send>) {
        self.0.report_unhandled_panic(task, payload);
    }
}
