//! The worker loop.
//!
//! Each worker thread owns a FIFO `crossbeam_deque::Worker` (its local queue) and a
//! LIFO slot, and runs this loop until shutdown:
//!
//! 1. **Next local task** ([`WorkerCx::next_local`]): every [`INJECTOR_INTERVAL`] ticks,
//!    the injector first (fairness for tasks spawned from outside) and a non-blocking
//!    [`Park::poll_ready`](crate::Park::poll_ready) if a park hook is set and nobody is
//!    waiting in it; then the LIFO slot (at most [`MAX_LIFO_POLLS`] times in a row,
//!    the anti-ping-pong guard); then the front of the local queue; then a batch from
//!    the injector.
//! 2. **Search** ([`WorkerCx::search`]), if the throttle allows (idle rule 2): steal a
//!    batch from a random victim's queue, then from the injector, spinning for
//!    up to [`SPIN_BEFORE_PARK`] (a thread wake-up costs ~13 µs here, more than most work
//!    that arrives during the spin) — less, or not at all, when recent spins caught
//!    nothing or lost their core to another thread (`corio_core::spin::SpinGovernor`),
//!    and for at most [`SPIN_WHEN_OVERSUBSCRIBED`] while the worker keeps waiting for
//!    a CPU (`corio_core::spin::cpu_oversubscribed`); between rounds it yields the core
//!    only while exactly one blocking job is pending (`corio_core::spin::offloaded_jobs`);
//!    on the last pass, take the LIFO slot of a victim that has not finished a poll
//!    since the search began (it is stuck in a long poll).
//! 3. **Park** ([`WorkerCx::park`]), following idle rule 4; one parked worker at a time
//!    may wait in the park hook instead of its own parker. A worker that finds the hook
//!    taken first looks beside it ([`Park::poll_beside`](crate::Park::poll_beside)) and
//!    stays awake if that woke tasks.
//!
//! A task runs with [`corio_core::Runnable::run`], which polls it once with a fresh
//! cooperative budget (`corio_core::coop`, 128 units) and catches its panics: a hot task
//! yields back after its budget, and no task panic reaches the worker.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio_core::spin::PREEMPTED_GAP;
use corio_core::Runnable;

use crate::context;
use crate::local::{Inbox, LocalTasks};
use crate::shared::{bump, Remote, Shared};
use crate::sync::{Arc, AtomicBool, Ordering::*, Parker, Steal, Worker};
use crate::Handle;

/// Every 61 ticks a busy worker takes a task from the injector before its local queue,
/// so tasks spawned from outside are not starved by a worker whose local tasks keep
/// spawning (61 as in tokio and Go: a prime, so the check does not fall into step with
/// a program's own periodic pattern). The same tick polls the park hook.
pub(crate) const INJECTOR_INTERVAL: u32 = 61;

/// At most 3 LIFO-slot tasks in a row, then the queue gets a turn: two tasks that wake
/// each other would otherwise keep the slot busy forever and starve the queue (tokio's
/// value).
pub(crate) const MAX_LIFO_POLLS: u32 = 3;

/// How long a searching worker keeps looking before it parks. Waking a parked thread
/// costs ~13 µs on the target machines (design.md), so spinning for about as long
/// avoids most sleep/wake round trips when work arrives in bursts, while a truly idle
/// worker sleeps soon. Only searching workers spin (at most half of them, idle rule 2).
#[cfg(not(loom))]
pub(crate) const SPIN_BEFORE_PARK: Duration = Duration::from_micros(20);
#[cfg(loom)]
pub(crate) const SPIN_BEFORE_PARK: Duration = Duration::ZERO;

/// The spin of a worker that has lately waited for a CPU (`cpu_oversubscribed`):
/// a few rounds, each yielding the core while one blocking job is pending. Enough to
/// catch a result from a thread of this runtime that runs on the core it yields (a
/// blocking-pool job awaited by the searching worker's task: without any spin, each
/// such result needed a wake-up, and with busy loops on the cores, wake-ups took tens
/// of microseconds); too short to keep busy loops waiting or to hand them the core often.
pub(crate) const SPIN_WHEN_OVERSUBSCRIBED: Duration = Duration::from_micros(4);

/// The movable part of a worker: what a worker thread (or, in the current-thread
/// flavor, the thread in `block_on`) needs to run it.
pub(crate) struct WorkerCore {
    pub(crate) index: usize,
    pub(crate) local: Worker<Runnable>,
    pub(crate) parker: Parker,
}

/// The current-thread flavor's "the `block_on` future was woken" flag.
pub(crate) struct MainFlag {
    pub(crate) woken: AtomicBool,
}

/// A running worker: its core plus per-run state (all in `Cell`s: the scheduling
/// entry points reach it through a shared reference from the thread-local context).
pub(crate) struct WorkerCx {
    shared: Arc<Shared>,
    core: WorkerCore,
    /// Counted as searching in the idle state.
    searching: Cell<bool>,
    /// Inside `park` (wake-ups delivered by the park hook land here: no need to notify).
    in_park: Cell<bool>,
    /// Draining at shutdown: schedule to the injector, not the local queue.
    exiting: Cell<bool>,
    tick: Cell<u32>,
    polls: Cell<u64>,
    lifo_polls: Cell<u32>,
    rng: Cell<u64>,
    /// Victims' poll counters when the current search began (LIFO-slot stealing).
    victim_polls: RefCell<Vec<u64>>,
    busy_since: Cell<Instant>,
    main: Option<Arc<MainFlag>>,
    /// This thread's home for local tasks (`crate::local`): the worker thread's own, or
    /// in the current-thread flavor that of the thread in `block_on`.
    local: Rc<LocalTasks>,
    /// An extra worker started by the stall monitor (retires when no longer needed).
    extra: bool,
}

impl WorkerCx {
    /// A worker running `core`; `local` is the home of the thread that runs it (`None`:
    /// a worker thread, which gets a home of its own).
    pub(crate) fn new(
        shared: Arc<Shared>,
        core: WorkerCore,
        main: Option<Arc<MainFlag>>,
        local: Option<Rc<LocalTasks>>,
    ) -> Self {
        let n = shared.remotes.len();
        let polls = shared.remotes[core.index].polls.load(Relaxed);
        let seed = 0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(core.index as u64 + 1) | 1;
        let local = local.unwrap_or_else(|| {
            Rc::new(LocalTasks::new(Inbox::new(
                shared.clone(),
                Some(core.index),
                None,
            )))
        });
        WorkerCx {
            shared,
            core,
            searching: Cell::new(false),
            in_park: Cell::new(false),
            exiting: Cell::new(false),
            tick: Cell::new(0),
            polls: Cell::new(polls),
            lifo_polls: Cell::new(0),
            rng: Cell::new(seed),
            victim_polls: RefCell::new(vec![0; n]),
            busy_since: Cell::new(Instant::now()),
            main,
            local,
            extra: false,
        }
    }

    /// Gives the core back (current-thread flavor, at the end of `block_on`).
    pub(crate) fn into_core(self) -> WorkerCore {
        if self.searching.get() {
            self.searching.set(false);
            self.shared.idle.transition_worker_from_searching();
        }
        self.core
    }

    /// Is this a live worker of `shared`?
    pub(crate) fn belongs_to(&self, shared: &Shared) -> bool {
        self.shared.is(shared) && !self.exiting.get()
    }

    pub(crate) fn index(&self) -> usize {
        self.core.index
    }

    pub(crate) fn handle(&self) -> Handle {
        Handle::from_shared(self.shared.clone())
    }

    pub(crate) fn local(&self) -> &LocalTasks {
        &self.local
    }

    /// An extra worker may retire: the stall it stood in for is over, and no local
    /// task lives on its thread (those cannot move to another thread).
    fn may_retire(&self) -> bool {
        self.extra && self.local.live() == 0 && self.shared.extra_may_retire()
    }

    fn remote(&self) -> &Remote {
        &self.shared.remotes[self.core.index]
    }

    /// A task scheduled from this worker: the LIFO slot, or (`to_back`) the back of the
    /// queue, for a task that woke itself while running or that a finished child woke.
    pub(crate) fn schedule_local(&self, runnable: Runnable, to_back: bool) {
        let queued = if to_back {
            self.core.local.push(runnable);
            true
        } else if let Some(displaced) = self.remote().lifo.replace(runnable) {
            self.core.local.push(displaced);
            true
        } else {
            // Into the empty slot: this worker runs it as soon as the current poll
            // returns, and a sibling woken for it would find nothing it may take (a
            // thief takes the slot only from a worker stuck in a poll) and park again.
            // When each task wakes or spawns just the next one (a chain, a message
            // ring), that was a futex wake-up per hop, a cross-CPU interrupt to an
            // idle vCPU, for nothing (tokio notifies only for its run queue too). A
            // poll that does not return in time is the stall monitor's case: it wakes a
            // searcher to take the slot (`crate::stall` step 4, tokio#4941). Without
            // a monitor nobody else would notice, so then the slot notifies as well.
            self.shared.monitor.is_none()
        };
        // Idle rule 1. Cheap when someone already searches or nobody sleeps (one
        // relaxed load); otherwise one wake-up, after which the woken worker searches
        // (and may spin), which silences further notifications for that long.
        if queued && !self.in_park.get() {
            self.shared.notify_parked_local();
        }
    }

    /// The worker loop. With `poll_main` (current-thread `block_on`), also polls the
    /// caller's future whenever it is woken, and returns when it completes; otherwise
    /// returns at shutdown, or when an extra worker retires.
    pub(crate) fn run(&self, mut poll_main: Option<&mut dyn FnMut() -> bool>) {
        loop {
            if let Some(poll) = poll_main.as_mut() {
                if self.take_main_wake() && poll() {
                    return;
                }
            }
            if self.shared.shutdown.load(Acquire) {
                return;
            }
            if let Some(runnable) = self.next_local() {
                self.run_task(runnable);
                continue;
            }
            if let Some(runnable) = self.search() {
                self.run_task(runnable);
                continue;
            }
            if self.main_woken() {
                continue;
            }
            if self.may_retire() {
                self.leave_searching();
                return;
            }
            if self.park() {
                return;
            }
        }
    }

    /// Leaves the searching state for good (an extra worker retiring): as a parking
    /// searcher would (idle rule 4), the last searcher re-checks the queues.
    fn leave_searching(&self) {
        if self.searching.replace(false)
            && self.shared.idle.transition_worker_from_searching()
            && self.shared.work_pending()
        {
            self.shared.notify_parked();
        }
    }

    fn main_woken(&self) -> bool {
        self.main.as_ref().is_some_and(|m| m.woken.load(SeqCst))
    }

    fn take_main_wake(&self) -> bool {
        match &self.main {
            Some(m) => m.woken.load(Relaxed) && m.woken.swap(false, AcqRel),
            None => false,
        }
    }

    /// Loop step 1.
    fn next_local(&self) -> Option<Runnable> {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if tick % INJECTOR_INTERVAL == 0 {
            self.maintenance();
            if let Some(runnable) = self.steal_injector_one() {
                return Some(runnable);
            }
        }
        // Local tasks (pinned to this thread) first on every other tick, so they and
        // the worker's stealable tasks share it fairly.
        if tick % 2 == 0 {
            if let Some(runnable) = self.local.next() {
                return Some(runnable);
            }
        }
        let lifo = &self.remote().lifo;
        if self.lifo_polls.get() < MAX_LIFO_POLLS {
            if let Some(runnable) = lifo.take() {
                self.lifo_polls.set(self.lifo_polls.get() + 1);
                return Some(runnable);
            }
        } else if let Some(runnable) = lifo.take() {
            // Anti-ping-pong: the slot task waits its turn at the back of the queue.
            self.core.local.push(runnable);
        }
        self.lifo_polls.set(0);
        if let Some(runnable) = self.core.local.pop() {
            return Some(runnable);
        }
        loop {
            match self.shared.injector.steal_batch_and_pop(&self.core.local) {
                Steal::Success(runnable) => return Some(runnable),
                Steal::Empty => return self.local.next(),
                Steal::Retry => {}
            }
        }
    }

    fn steal_injector_one(&self) -> Option<Runnable> {
        loop {
            match self.shared.injector.steal() {
                Steal::Success(runnable) => return Some(runnable),
                Steal::Empty => return None,
                Steal::Retry => {}
            }
        }
    }

    /// Every `INJECTOR_INTERVAL` ticks: let the park hook deliver I/O and timers if
    /// nobody is waiting in it. Counted for the stall monitor, which leaves the hook to
    /// workers that keep coming here (`crate::stall` step 5).
    fn maintenance(&self) {
        if let Some(hook) = &self.shared.park_hook {
            bump(&self.remote().hook_looks, 1);
            if !self.shared.hook_busy.load(Relaxed) {
                hook.poll_ready();
            }
        }
    }

    fn run_task(&self, runnable: Runnable) {
        if self.searching.get() {
            self.searching.set(false);
            // Idle rule 3: the last searcher wakes a replacement for the rest of what
            // it saw, if any is left. When the one task it found was all there was (a
            // task woken from another thread, as each blocking-pool result or I/O
            // event wakes one), a woken worker would find nothing: a thread wake-up
            // (about 13 µs, a whole time slice's wait on a busy CPU) for nothing.
            if self.shared.idle.transition_worker_from_searching() && self.shared.work_pending() {
                self.shared.notify_parked();
            }
        }
        let polls = self.polls.get() + 1;
        self.polls.set(polls);
        let remote = self.remote();
        // The task first, then the counter with Release: the stall monitor reads the
        // counter with Acquire and then the task, so a new count never comes with the
        // previous poll's task (it would blame that task for a stall of this one).
        crate::stall::publish_task(remote, &runnable);
        remote.polls.store(polls, Release);
        match &self.shared.config.slow_poll {
            None => {
                runnable.run();
            }
            Some((threshold, callback)) => {
                let meta = runnable.meta().clone();
                let start = Instant::now();
                runnable.run();
                let elapsed = start.elapsed();
                if elapsed >= *threshold {
                    let _ = catch_unwind(AssertUnwindSafe(|| callback(&meta, elapsed)));
                }
            }
        }
    }

    fn next_rand(&self) -> u64 {
        // xorshift64: cheap, good enough to pick a victim.
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        x
    }

    /// Loop step 2.
    fn search(&self) -> Option<Runnable> {
        if !self.searching.get() {
            if !self.shared.idle.transition_worker_to_searching() {
                return None;
            }
            self.searching.set(true);
        }
        // Out of work: not in a poll (stall monitor step 2).
        self.remote().idle_at.store(self.polls.get(), Relaxed);
        let remotes = &self.shared.remotes;
        {
            let mut snapshot = self.victim_polls.borrow_mut();
            for (seen, remote) in snapshot.iter_mut().zip(remotes.iter()) {
                *seen = remote.polls.load(Relaxed);
            }
        }
        // Zero (one round, no spin) when recent spins caught nothing (a spin that
        // found no work, or that lost its core, is a miss); short when this worker
        // has lately waited for a CPU (`cpu_oversubscribed`: busy threads hold the
        // cores, and a long spin only loses its core to them, each yield handing
        // them the rest of a time slice, while this worker's tasks wait).
        let budget = self.shared.spin.budget(SPIN_WHEN_OVERSUBSCRIBED);
        let start = Instant::now();
        let mut spun_at = None;
        loop {
            if let Some(runnable) = self.steal_round() {
                if spun_at.is_some() {
                    self.shared.spin.record(true);
                }
                return Some(runnable);
            }
            if self.shared.shutdown.load(Relaxed) || self.main_woken() || self.local.has_ready() {
                return None;
            }
            let now = Instant::now();
            if now.saturating_duration_since(start) >= budget {
                break;
            }
            // A round that took longer than a round's worth lost the core to another
            // thread that wanted it: the CPU is oversubscribed, and spinning on would
            // keep this worker counted as searching (so nobody is woken for new work)
            // while it waits for its next time slice.
            if spun_at.is_some_and(|at| now.saturating_duration_since(at) > PREEMPTED_GAP) {
                break;
            }
            // Give the core away between rounds only while exactly one blocking job is
            // pending: the pool thread that finishes it (and wakes the task this worker
            // waits for) may be waiting for this very core, where the kernel put it when
            // the submitter woke it. Other work comes from threads on other cores or from
            // the kernel, and there a yield would only hand a busy thread the rest of its
            // time slice (on a loaded CPU, milliseconds lost per search: a 2-core echo
            // benchmark beside two busy loops ran at half speed in some runs, on one
            // worker that kept giving its core away). With several jobs pending, several
            // pool threads are runnable on both cores and a yield mostly handed a busy
            // loop the core: 16 concurrent calls beside two busy loops ran at half speed.
            if corio_core::spin::offloaded_jobs() == 1 {
                crate::sync::yield_now();
            } else {
                crate::sync::spin_loop();
            }
            spun_at = Some(now);
        }
        if spun_at.is_some() {
            self.shared.spin.record(false);
        }
        // Last pass: the LIFO slot of a victim that has not finished a poll since we
        // began (stuck in a long poll: its slot task would wait for it, tokio#4941).
        let snapshot = self.victim_polls.borrow();
        let me = self.core.index;
        for (i, remote) in remotes.iter().enumerate() {
            if i != me && !remote.lifo.is_empty() && remote.polls.load(Relaxed) == snapshot[i] {
                if let Some(runnable) = remote.lifo.take() {
                    bump(&self.remote().steals, 1);
                    return Some(runnable);
                }
            }
        }
        None
    }

    /// One pass over the victims (from a random one) and the injector.
    fn steal_round(&self) -> Option<Runnable> {
        let remotes = &self.shared.remotes;
        let n = remotes.len();
        let me = self.core.index;
        let first = (self.next_rand() % n as u64) as usize;
        let mut retry = true;
        while retry {
            retry = false;
            for k in 0..n {
                let i = (first + k) % n;
                if i == me {
                    continue;
                }
                let stealer = &remotes[i].stealer;
                if stealer.is_empty() {
                    continue;
                }
                match stealer.steal_batch_and_pop(&self.core.local) {
                    Steal::Success(runnable) => {
                        bump(&self.remote().steals, 1);
                        return Some(runnable);
                    }
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            match self.shared.injector.steal_batch_and_pop(&self.core.local) {
                Steal::Success(runnable) => return Some(runnable),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
        }
        None
    }

    /// Work only this worker can see or take first: its queue, its LIFO slot, and the
    /// local tasks of its thread.
    fn has_local_work(&self) -> bool {
        !self.core.local.is_empty() || !self.remote().lifo.is_empty() || self.local.has_ready()
    }

    /// Loop step 3: idle rules 4 and 5. Returns `true` if this extra worker must
    /// retire (it has left the sleepers list and is not searching).
    fn park(&self) -> bool {
        let shared = &*self.shared;
        let me = self.core.index;
        self.remote().idle_at.store(self.polls.get(), Relaxed);
        let now = Instant::now();
        let busy = now.saturating_duration_since(self.busy_since.get());
        bump(
            &self.remote().busy_ns,
            u64::try_from(busy.as_nanos()).unwrap_or(u64::MAX),
        );
        bump(&self.remote().parks, 1);

        let was_searching = self.searching.replace(false);
        let is_last_searcher = shared.idle.transition_worker_to_parked(me, was_searching);
        if (is_last_searcher && shared.work_pending()) || !shared.injector.is_empty() {
            // May pick this very worker: then `is_parked(me)` is false below and we
            // leave at once, as a searcher.
            shared.notify_parked();
        }
        self.in_park.set(true);
        let mut retire = false;
        loop {
            if shared.shutdown.load(SeqCst) {
                break;
            }
            if !self.has_local_work() && self.may_retire() {
                // Stall monitor step 7 (the monitor woke us to check).
                if !shared.idle.unpark_worker_by_id(me) {
                    // A notifier took us out of the list and counted us searching.
                    self.searching.set(true);
                }
                self.leave_searching();
                retire = true;
                break;
            }
            if !shared.idle.is_parked(me) {
                self.searching.set(true);
                break;
            }
            if self.has_local_work() || self.main_woken() {
                if !shared.idle.unpark_worker_by_id(me) {
                    // A notifier took us out of the list first and counted us searching.
                    self.searching.set(true);
                }
                break;
            }
            self.park_once();
        }
        self.in_park.set(false);
        self.busy_since.set(Instant::now());
        if let Some(monitor) = &shared.monitor {
            monitor.worker_awake();
        }
        // Wake-ups delivered by the park hook landed here without notifying anyone: if
        // there is more than the next task, let a sleeping worker share it.
        if !self.core.local.is_empty() {
            shared.notify_parked_local();
        }
        retire
    }

    /// Blocks once: in the park hook if it is free, else on this worker's parker.
    fn park_once(&self) {
        let shared = &*self.shared;
        if let Some(hook) = &shared.park_hook {
            let me = self.core.index;
            let may_wait = || {
                shared.idle.is_parked(me)
                    && !shared.shutdown.load(SeqCst)
                    && !self.main_woken()
                    && !self.local.has_ready()
            };
            match shared.wait_in_hook(&**hook, &self.remote().in_hook, may_wait, None) {
                Some(true) => return,
                Some(false) => {}
                None => {
                    // Another worker holds the hook. It may be one that its events
                    // already woke but that waits for a CPU (beside busy threads, for
                    // milliseconds): deliver what is ready rather than sleep beside it.
                    // Woken tasks land in this worker's queue; the caller sees them.
                    hook.poll_beside();
                    if self.has_local_work() {
                        return;
                    }
                }
            }
        }
        self.core.parker.park();
    }

    /// Shutdown step 2: drop the local tasks of this thread (here, on their thread),
    /// everything this worker holds, and the injector's tasks.
    pub(crate) fn drain(&self) {
        self.exiting.set(true);
        self.local.close();
        drain_core(&self.shared, &self.core);
    }
}

/// Drops the tasks in `core`'s LIFO slot and queue and in the injector, until all are
/// empty (drops may schedule more; they land in the injector).
pub(crate) fn drain_core(shared: &Shared, core: &WorkerCore) {
    context::draining(shared, || loop {
        let mut dropped = false;
        if let Some(runnable) = shared.remotes[core.index].lifo.take() {
            drop(runnable);
            dropped = true;
        }
        while let Some(runnable) = core.local.pop() {
            drop(runnable);
            dropped = true;
        }
        loop {
            match shared.injector.steal() {
                Steal::Success(runnable) => {
                    drop(runnable);
                    dropped = true;
                }
                Steal::Empty => break,
                Steal::Retry => {}
            }
        }
        if !dropped {
            break;
        }
    });
}

/// Hands what a retiring extra worker still holds to the injector (normally nothing: it
/// retires when out of work, and only it pushes to its own queues).
fn hand_back(shared: &Shared, core: &WorkerCore) {
    let mut handed = false;
    if let Some(runnable) = shared.remotes[core.index].lifo.take() {
        shared.injector.push(runnable);
        handed = true;
    }
    while let Some(runnable) = core.local.pop() {
        shared.injector.push(runnable);
        handed = true;
    }
    if handed {
        shared.notify_parked();
    }
}

/// A worker thread's body; `extra` for one started by the stall monitor.
pub(crate) fn worker_main(shared: Arc<Shared>, core: WorkerCore, extra: bool) {
    struct Exited(Arc<Shared>);
    impl Drop for Exited {
        fn drop(&mut self) {
            self.0.worker_exited();
        }
    }
    let _exited = Exited(shared.clone());
    shared.remotes[core.index]
        .tid
        .store(crate::thread_stats::current_tid(), Relaxed);
    if let Some(start) = &shared.config.on_thread_start {
        start();
    }
    let retired = {
        let mut cx = WorkerCx::new(shared.clone(), core, None, None);
        cx.extra = extra;
        let guard = context::enter_worker(&cx);
        cx.run(None);
        if shared.shutdown.load(SeqCst) {
            cx.drain();
            None
        } else {
            // A retiring extra worker: from here on its wake-ups go to the injector.
            drop(guard);
            let core = cx.into_core();
            hand_back(&shared, &core);
            Some(core)
        }
    };
    if let Some(stop) = &shared.config.on_thread_stop {
        stop();
    }
    if let Some(core) = retired {
        shared.return_spare(core);
    }
}
