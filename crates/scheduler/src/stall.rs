//! The stall monitor: a task that blocks its worker must not stall anyone else.
//!
//! A task that calls a blocking function (`std::thread::sleep`, a slow C library, a
//! busy loop) holds its worker for the whole call. Without help, the tasks queued on
//! that worker wait for it, and if it was the worker that would next have waited in the
//! reactor, nobody polls for I/O or fires timers. Go's runtime answers this with a
//! monitor thread (`sysmon`); corio does the same, with one light thread per executor.
//!
//! # What the workers publish (the only cost on the poll path)
//!
//! Before each poll a worker stores, with plain stores and no read-modify-write, the
//! task's id and its spawn location (copies of `'static` data: the monitor never
//! dereferences a task, which may be freed at any moment), then its poll counter (it did
//! already, for LIFO-slot stealing) with `Release`; the monitor loads the counter with
//! `Acquire` before the task, so it never pairs a new count with the previous task. When it runs out of work it stores `idle_at = polls` (in
//! `search` and `park`, off the hot path): a worker whose `polls` differs from its
//! `idle_at` is inside a poll, or between two.
//!
//! # Protocol
//!
//! 1. **Sleep while idle.** The monitor sleeps on its own parker, with no timeout, when
//!    every active worker has been parked, with no poll in between, at each of its looks
//!    for [`IDLE_GRACE`] (a worker that parks between bursts of I/O, as a busy server's
//!    does many times a second, would otherwise have to wake the monitor with a system
//!    call on every unpark). Before blocking it stores `sleeping = true`
//!    (`SeqCst`) and re-reads every worker's `parked` flag (`SeqCst`); a worker that
//!    leaves `park` has had its `parked` flag cleared (`SeqCst`) and then reads
//!    `sleeping` (`SeqCst`): one of the two sees the other, so the monitor is woken
//!    (its parker's token is sticky) whenever a worker may be running. An idle executor
//!    costs no wake-ups.
//! 2. **Tick.** While any worker is awake the monitor wakes every `threshold / 4` (at
//!    least 1 ms). On Linux its thread runs under `SCHED_BATCH` (if it inherited the
//!    normal policy), so a tick on a busy CPU waits for the running thread's time slice
//!    to end rather than preempting a worker. For each active worker it reads `polls`
//!    and `idle_at`: when `polls` changed since the last tick it notes the time (the
//!    poll started at most one tick earlier, Go's `schedtick`/`schedwhen`); when it has
//!    not changed and the worker is in a poll, it measures the poll from this second
//!    look at it (`stall_time`; not from the first, which would read the thread's
//!    accounting at nearly every tick of a busy worker, for polls that end before the
//!    next one). The worker is **stalled** once its thread has run or been blocked for `threshold` of
//!    that interval: time the thread spent waiting for a CPU (Linux: its `schedstat`),
//!    or on a CPU the hypervisor took away, does not count (blocked time counts only
//!    while a look finds the thread blocked), so on an oversubscribed machine a
//!    preempted worker is neither reported nor replaced by an extra worker, which would
//!    only oversubscribe the CPU further.
//! 3. **Report.** The first tick that sees a stall calls `on_stall` once with the task's
//!    id, spawn location and how long so far; the tick that sees the poll counter move
//!    (or the worker idle) calls it once more with the total (accurate to one tick).
//! 4. **Steal.** If a worker has been in one poll for `threshold` of wall-clock time
//!    (stalled or not: a thread waiting for a CPU holds its queued tasks just as long)
//!    and its LIFO slot or local queue holds tasks, the monitor wakes a parked worker as
//!    a searcher (idle rule 1); searchers take a stuck victim's LIFO slot too (its poll
//!    counter has not moved since they began). This adds no thread: the woken worker
//!    runs the tasks wherever it gets a core.
//! 5. **Drive the reactor.** While any worker is stalled, nobody waits in the park
//!    hook (`hook_busy` is clear) and no running worker has reached its periodic look
//!    at the hook since the last tick (`hook_looks`: a worker that keeps running short
//!    polls delivers I/O and timers itself every `INJECTOR_INTERVAL` ticks; a monitor
//!    in the hook would then only add a thread contending for the cores), the monitor
//!    hands the hook over: it wakes a parked
//!    worker that is not in the hook (a spurious wake-up on its own parker: the worker
//!    is still in the sleepers list, loops, finds the hook free and waits in it). If no
//!    worker is parked, the monitor takes the hook itself and waits in it for one tick
//!    (`Park::park(Some(tick))`); wakers fired there schedule through the injector.
//!    Taking the hook is one step the monitor and a parking worker share
//!    (`Shared::wait_in_hook`): take `hook_busy`, store its own `in_hook` flag, re-check
//!    whether it may wait (for the monitor: no shutdown), wait, clear both. When it leaves the hook it wakes a parked worker to take it, so the hook
//!    is never left empty while a worker sleeps on its own parker. A thread that runs a
//!    task is never the one the reactor waits for. As a safety net, at each tick that
//!    finds no worker awake, and before it sleeps (step 1), the monitor checks that
//!    somebody holds the hook, and otherwise wakes a parked worker to take it: the
//!    worker woken as the monitor left may not take it (an extra worker retires
//!    instead), and the others sleep on their parkers because they found it taken.
//! 6. **Replace.** When every active worker is stalled, the monitor starts an extra
//!    worker (a spare slot: queue, LIFO slot and parker made at build time), up to
//!    `max_extra_workers`. It runs the normal worker loop.
//! 7. **Retire.** An extra worker that runs out of work retires when more workers are
//!    running unstalled than the executor has base workers (the stall it replaced has
//!    ended): it leaves the idle protocol as a parking worker would, pushes anything
//!    left in its queues to the injector, returns its slot and exits. A parked extra
//!    worker is woken by the monitor to check.
//! 8. **Shutdown.** `begin_shutdown` wakes the monitor (its parker, and the hook if it
//!    is in it); the monitor sees the flag and exits. Extra workers stop like the base
//!    workers, and the executor waits for them too.
//!
//! Step 5 (the monitor taking the hook over, racing with the worker that leaves it to
//! run a task) and step 8 for a monitor waiting in the hook are model-checked with
//! loom in `tests/loom.rs`, which drives the monitor's steps itself (under loom the
//! builder starts no monitor thread). The monitor's own parker (step 1) is not.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::time::{Duration, Instant};

use corio_core::Runnable;

use crate::shared::Shared;
use crate::stall_time::PollClock;
use crate::sync::{fence, lock, thread, Arc, AtomicBool, AtomicUsize, Mutex, Ordering::*, Parker};
use crate::thread_stats::ThreadStats;
use crate::worker::{worker_main, WorkerCore};

/// The callback type of [`Builder::on_stall`](crate::Builder::on_stall).
pub(crate) type StallFn = dyn Fn(&StallReport) + Send + Sync;

/// A worker stalled by one long poll: what [`Builder::on_stall`](crate::Builder::on_stall)
/// is called with, once when the stall is detected and once when it ends.
///
/// # Example
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = seen.clone();
/// let ex = corio_scheduler::Builder::new()
///     .worker_threads(2)
///     .stall_threshold(Some(Duration::from_millis(20)))
///     .on_stall(move |r: &corio_scheduler::StallReport| s.lock().unwrap().push(r.ended()))
///     .build()?;
/// let task = ex.spawn(async { std::thread::sleep(Duration::from_millis(200)) });
/// ex.block_on(task).unwrap();
/// // The end of the stall is noticed at the monitor's next tick.
/// while seen.lock().unwrap().len() < 2 {
///     std::thread::sleep(Duration::from_millis(5));
/// }
/// assert_eq!(*seen.lock().unwrap(), [false, true]);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct StallReport {
    worker: usize,
    task_id: u64,
    location: Option<&'static Location<'static>>,
    elapsed: Duration,
    ended: bool,
}

impl StallReport {
    /// Index of the stalled worker thread.
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// The stalled task's id ([`corio_core::TaskId::as_u64`]).
    pub fn task_id(&self) -> u64 {
        self.task_id
    }

    /// Where the stalled task was spawned, if recorded.
    pub fn location(&self) -> Option<&'static Location<'static>> {
        self.location
    }

    /// How long the poll has blocked the worker: so far (when detected) or in total
    /// (when it ended). Measured by the monitor, to within one of its ticks.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// `false` for the report when the stall is detected, `true` for the one when it ends.
    pub fn ended(&self) -> bool {
        self.ended
    }
}

impl StallReport {
    /// What happened, without the task: "has blocked worker 1 for 12ms in one poll
    /// (...)" or "blocked worker 1 for 5s in total" (for a handler that names the task
    /// its own way).
    pub fn what(&self) -> String {
        if self.ended {
            format!(
                "blocked worker {} for {:.1?} in total",
                self.worker, self.elapsed
            )
        } else {
            format!(
                "has blocked worker {} for {:.1?} in one poll: a blocking call in async code? \
                 (run it on a blocking thread); the worker's queued tasks and the reactor moved \
                 to other threads",
                self.worker, self.elapsed
            )
        }
    }
}

impl fmt::Display for StallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.task_id)?;
        if let Some(loc) = self.location {
            write!(f, " spawned at {loc}")?;
        }
        write!(f, " {}", self.what())
    }
}

/// The default `on_stall` handler: one line on stderr per report, in release builds
/// too (a blocked worker is a bug the user must hear about).
pub(crate) fn default_on_stall(report: &StallReport) {
    eprintln!("corio: {report}");
}

/// Stall settings from the builder.
pub(crate) struct StallConfig {
    pub(crate) threshold: Duration,
    pub(crate) max_extra: usize,
    pub(crate) on_stall: std::sync::Arc<StallFn>,
}

/// How often the monitor looks while some worker is awake: a quarter of the threshold,
/// so a stall is acted on between 1.25x and 1.5x the threshold after it began (it is
/// measured from the second look that finds the same poll), for at
/// most a few hundred wake-ups a second on a busy executor.
fn tick_of(threshold: Duration) -> Duration {
    (threshold / 4).clamp(Duration::from_millis(1), Duration::from_millis(250))
}

/// How long every worker must stay idle (parked, no poll started) before the monitor
/// stops ticking and sleeps until a worker wakes it (protocol step 1). Short enough
/// that an idle program goes quiet soon; long enough that a server between requests
/// never makes its workers pay for waking the monitor.
const IDLE_GRACE: Duration = Duration::from_millis(50);

/// The monitor's side of the shared state (in [`Shared`]).
pub(crate) struct MonitorShared {
    /// The monitor is asleep (or about to be) with no timeout: protocol step 1.
    pub(crate) sleeping: AtomicBool,
    /// The monitor is (about to be) waiting in the park hook: step 5.
    pub(crate) in_hook: AtomicBool,
    /// Wakes the monitor thread.
    pub(crate) unparker: crate::sync::Unparker,
    /// Workers stalled at the last tick (read by retiring extra workers).
    pub(crate) stalled: AtomicUsize,
    /// Extra workers running now.
    pub(crate) extras: Mutex<usize>,
    /// Slots (queue, LIFO slot, parker) for extra workers not running now.
    pub(crate) spare: Mutex<Vec<WorkerCore>>,
}

impl MonitorShared {
    pub(crate) fn new(parker: &Parker, spare: Vec<WorkerCore>) -> MonitorShared {
        MonitorShared {
            sleeping: AtomicBool::new(false),
            in_hook: AtomicBool::new(false),
            unparker: parker.unparker().clone(),
            stalled: AtomicUsize::new(0),
            extras: Mutex::new(0),
            spare: Mutex::new(spare),
        }
    }

    /// Protocol step 1, the worker's side: called by a worker that just left `park`.
    pub(crate) fn worker_awake(&self) {
        if self.sleeping.load(SeqCst) && self.sleeping.swap(false, SeqCst) {
            self.unparker.unpark();
        }
    }
}

impl Shared {
    /// Wakes the monitor wherever it sleeps (shutdown, step 8).
    pub(crate) fn wake_monitor(&self) {
        if let Some(m) = &self.monitor {
            m.unparker.unpark();
            if let Some(hook) = &self.park_hook {
                // The Dekker pair of `Shared::wait_in_hook` (the monitor re-checks
                // `shutdown` after storing its `in_hook`).
                fence(SeqCst);
                if m.in_hook.load(SeqCst) {
                    hook.unpark();
                }
            }
        }
    }

    /// Protocol step 7: may the calling extra worker (out of work) retire? On `true`
    /// it is no longer counted as running.
    pub(crate) fn extra_may_retire(&self) -> bool {
        let Some(m) = &self.monitor else {
            return true;
        };
        let mut extras = lock(&m.extras);
        let running = self.num_workers + *extras;
        let unstalled = running.saturating_sub(m.stalled.load(SeqCst));
        if *extras > 0 && unstalled > self.num_workers {
            *extras -= 1;
            true
        } else {
            false
        }
    }

    /// Hands a retired extra worker's slot back (step 7).
    pub(crate) fn return_spare(&self, core: WorkerCore) {
        let remote = &self.remotes[core.index];
        remote.idle_at.store(remote.polls.load(Relaxed), Relaxed);
        remote.active.store(false, SeqCst);
        if let Some(m) = &self.monitor {
            lock(&m.spare).push(core);
        }
    }
}

/// What the monitor remembers about one worker slot between ticks.
struct Watch {
    polls: u64,
    since: Instant,
    reported: bool,
    task_id: u64,
    location: Option<&'static Location<'static>>,
    /// The poll's stall time, measured from the second look that saw it in the poll.
    clock: Option<PollClock>,
}

/// The monitor thread's state.
pub(crate) struct Monitor {
    shared: Arc<Shared>,
    parker: Parker,
    threshold: Duration,
    tick: Duration,
    watches: Vec<Watch>,
    /// Per worker slot: its thread's scheduler accounting.
    stats: Vec<ThreadStats>,
    /// Consecutive looks that found every worker idle (step 1).
    idle_looks: u32,
    /// That many idle looks span [`IDLE_GRACE`].
    idle_looks_to_sleep: u32,
    /// The workers' `hook_looks`, summed, at the last look (step 5).
    hook_looks: u64,
    /// This thread moved itself to `SCHED_BATCH` (see `enter_batch_policy`).
    batch: bool,
}

/// Starts the monitor thread of `shared` (which must have a `monitor` and `stall`
/// config). The thread exits at shutdown.
pub(crate) fn start_monitor(shared: Arc<Shared>, parker: Parker) -> std::io::Result<()> {
    let Some(mut monitor) = Monitor::new(shared, parker) else {
        return Ok(());
    };
    thread::Builder::new()
        .name("corio-monitor".into())
        .spawn(move || {
            monitor.batch = enter_batch_policy();
            monitor.run()
        })
        .map(drop)
}

/// Moves the calling thread (the monitor) from `SCHED_OTHER` to `SCHED_BATCH`, and
/// says whether it did. A batch thread that wakes on a CPU running another thread
/// waits for that thread's time slice to end instead of taking the CPU at once. On an
/// oversubscribed machine the monitor's tick (every `threshold / 4`) otherwise took a
/// worker off its CPU mid-task, and the CPU often went on to a busy thread for a whole
/// slice (tcp_echo beside two busy loops: see benches/README); a look that comes a few
/// milliseconds late is nothing next to the threshold, and on an idle CPU the monitor
/// runs at once either way. Linux policies are per thread, and any thread may move
/// itself between these two. A thread under another policy (a real-time one, inherited
/// from the thread that built the executor) keeps it: beside real-time workers a batch
/// monitor would never run. Best effort: a failure leaves the policy as it was.
fn enter_batch_policy() -> bool {
    #[cfg(all(target_os = "linux", not(miri)))]
    {
        // SAFETY: plain system calls on the calling thread (pid 0); the parameter block
        // is valid, initialised and outlives the call.
        unsafe {
            libc::sched_getscheduler(0) == libc::SCHED_OTHER
                && libc::sched_setscheduler(
                    0,
                    libc::SCHED_BATCH,
                    &libc::sched_param { sched_priority: 0 },
                ) == 0
        }
    }
    #[cfg(not(all(target_os = "linux", not(miri))))]
    false
}

/// Moves the calling thread back to `SCHED_OTHER`: for the extra workers, which
/// inherit the policy of the monitor that starts them.
fn leave_batch_policy() {
    #[cfg(all(target_os = "linux", not(miri)))]
    // SAFETY: as in `enter_batch_policy`.
    unsafe {
        libc::sched_setscheduler(
            0,
            libc::SCHED_OTHER,
            &libc::sched_param { sched_priority: 0 },
        );
    }
}

impl Monitor {
    /// The monitor of `shared`; `None` if it has no stall config.
    pub(crate) fn new(shared: Arc<Shared>, parker: Parker) -> Option<Monitor> {
        let threshold = shared.config.stall.as_ref()?.threshold;
        let now = Instant::now();
        let watches = (0..shared.remotes.len())
            .map(|_| Watch {
                polls: 0,
                since: now,
                reported: false,
                task_id: 0,
                location: None,
                clock: None,
            })
            .collect();
        let stats = (0..shared.remotes.len())
            .map(|_| ThreadStats::new())
            .collect();
        let tick = tick_of(threshold);
        let idle_looks_to_sleep =
            u32::try_from(IDLE_GRACE.as_nanos().div_ceil(tick.as_nanos().max(1))).unwrap_or(1);
        Some(Monitor {
            shared,
            parker,
            threshold,
            tick,
            watches,
            stats,
            idle_looks: 0,
            idle_looks_to_sleep,
            hook_looks: 0,
            batch: false,
        })
    }
}

impl Monitor {
    fn run(mut self) {
        loop {
            if self.shutting_down() {
                return;
            }
            let state = self.look();
            if self.shutting_down() {
                return;
            }
            if state.stalled > 0 && !state.hook_looked && self.drive_reactor() {
                // This tick was spent in the park hook.
                continue;
            }
            if state.awake == 0 {
                self.fill_empty_hook();
            }
            let idle = state.awake == 0 && !state.polled && !state.extras_pending;
            self.idle_looks = if idle { self.idle_looks + 1 } else { 0 };
            if self.idle_looks >= self.idle_looks_to_sleep {
                self.idle_looks = 0;
                self.sleep_until_a_worker_wakes();
            } else {
                self.park_timeout(self.tick);
            }
        }
    }

    /// Shutdown has begun: the monitor's loop ends (step 8).
    pub(crate) fn shutting_down(&self) -> bool {
        self.shared.shutdown.load(SeqCst)
    }

    /// Step 1: sleep without a timeout, unless a worker is awake after all.
    fn sleep_until_a_worker_wakes(&self) {
        let Some(m) = &self.shared.monitor else {
            return;
        };
        m.sleeping.store(true, SeqCst);
        let all_parked = self.active_slots().all(|i| self.shared.idle.is_parked(i));
        if all_parked && !self.shared.shutdown.load(SeqCst) && !self.fill_empty_hook() {
            self.parker.park();
        }
        m.sleeping.store(false, SeqCst);
    }

    fn park_timeout(&self, timeout: Duration) {
        #[cfg(not(loom))]
        self.parker.park_timeout(timeout);
        #[cfg(loom)]
        {
            let _ = timeout;
            crate::sync::yield_now();
        }
    }

    fn active_slots(&self) -> impl Iterator<Item = usize> + '_ {
        let shared = &self.shared;
        (0..shared.remotes.len()).filter(move |&i| shared.remotes[i].active.load(SeqCst))
    }

    /// Steps 2-4 and 6-7: one look at every worker.
    fn look(&mut self) -> Look {
        let now = Instant::now();
        let shared = self.shared.clone();
        let mut look = Look::default();
        let mut stuck_with_work = false;
        let mut active = 0;
        let mut hook_looks = 0u64;
        for (i, remote) in shared.remotes.iter().enumerate() {
            let watch = &mut self.watches[i];
            if !remote.active.load(SeqCst) {
                if watch.reported {
                    self.report_end(i, now);
                }
                continue;
            }
            active += 1;
            hook_looks = hook_looks.wrapping_add(remote.hook_looks.load(Relaxed));
            // Acquire: the task published before this count (see `publish_task`).
            let polls = remote.polls.load(Acquire);
            let in_poll = remote.idle_at.load(Relaxed) != polls;
            // A poll seen for the first time is left alone: most polls are over by the
            // next tick, and starting its clock costs a read of the thread's schedstat
            // (on a busy executor the worker is mid-poll at almost every tick).
            look.polled |= polls != watch.polls;
            let first_look = polls != watch.polls || !in_poll;
            if first_look {
                if watch.reported {
                    self.report_end(i, now);
                }
                let watch = &mut self.watches[i];
                watch.polls = polls;
                watch.since = now;
                watch.task_id = remote.task_id.load(Relaxed);
                watch.location = load_location(&remote.task_location);
                watch.clock = None;
            }
            if !shared.idle.is_parked(i) {
                look.awake += 1;
            }
            if !in_poll {
                continue;
            }
            // Step 4 goes by the wall clock: tasks queued behind a poll wait whether its
            // thread runs, sleeps or waits for a CPU, and the sibling woken for them
            // runs them wherever it gets a core.
            let stuck = now.saturating_duration_since(self.watches[i].since) >= self.threshold;
            if stuck && (!remote.stealer.is_empty() || !remote.lifo.is_empty()) {
                stuck_with_work = true;
            }
            let watch = &mut self.watches[i];
            if !watch.reported {
                let (tid, stats) = (remote.tid.load(Relaxed), &mut self.stats[i]);
                let Some(clock) = &mut watch.clock else {
                    if !first_look {
                        // The second look at this poll: measure from here on.
                        watch.clock = Some(PollClock::start(stats, tid));
                    }
                    continue;
                };
                if !clock.is_stall(stats, tid, self.threshold) {
                    continue;
                }
            }
            // Not `now`: at least the stall time just measured.
            let elapsed = Instant::now().saturating_duration_since(watch.since);
            look.stalled += 1;
            if !watch.reported {
                watch.reported = true;
                let report = StallReport {
                    worker: i,
                    task_id: watch.task_id,
                    location: watch.location,
                    elapsed,
                    ended: false,
                };
                self.report(&report);
            }
        }
        look.hook_looked = hook_looks != self.hook_looks;
        self.hook_looks = hook_looks;
        let Some(m) = &shared.monitor else {
            return look;
        };
        m.stalled.store(look.stalled, SeqCst);
        if stuck_with_work {
            // Step 4: a searcher will steal them (LIFO slot included).
            shared.notify_parked();
        }
        if look.stalled > 0 && look.stalled == active {
            self.start_extra();
        }
        // Step 7: parked extra workers check whether they may retire.
        let extras = *lock(&m.extras);
        if extras > 0 {
            look.extras_pending = true;
            if active - look.stalled > shared.num_workers {
                for i in shared.num_workers..shared.remotes.len() {
                    if shared.remotes[i].active.load(SeqCst) && shared.idle.is_parked(i) {
                        // Its parker, or the hook if it waits there.
                        shared.unpark_worker(i);
                    }
                }
            }
        }
        look
    }

    fn report_end(&mut self, worker: usize, now: Instant) {
        let watch = &mut self.watches[worker];
        watch.reported = false;
        let report = StallReport {
            worker,
            task_id: watch.task_id,
            location: watch.location,
            elapsed: now.saturating_duration_since(watch.since),
            ended: true,
        };
        self.report(&report);
    }

    fn report(&self, report: &StallReport) {
        if let Some(cfg) = &self.shared.config.stall {
            let _ = catch_unwind(AssertUnwindSafe(|| (cfg.on_stall)(report)));
        }
    }

    /// Step 5. Returns `true` if the monitor spent the tick waiting in the hook.
    pub(crate) fn drive_reactor(&self) -> bool {
        let shared = &*self.shared;
        let (Some(hook), Some(m)) = (&shared.park_hook, &shared.monitor) else {
            return false;
        };
        if shared.hook_busy.load(SeqCst) || self.wake_parked_worker_for_hook() {
            return false;
        }
        let may_wait = || !shared.shutdown.load(SeqCst);
        if shared
            .wait_in_hook(&**hook, &m.in_hook, may_wait, Some(self.tick))
            .is_none()
        {
            return false;
        }
        // Never leave the hook empty while a worker sleeps on its own parker.
        self.wake_parked_worker_for_hook();
        true
    }

    /// Step 5's safety net, for when every worker is parked: if nobody holds the park
    /// hook, I/O and timers would wait for a wake-up that only the hook delivers (seen
    /// under load as a hang with timers pending: every worker on its own parker, the
    /// monitor asleep). Wakes one parked worker to take the hook; `true` if it did.
    fn fill_empty_hook(&self) -> bool {
        self.shared.park_hook.is_some()
            && !self.shared.hook_busy.load(SeqCst)
            && self.wake_parked_worker_for_hook()
    }

    /// Wakes one parked worker that is not in the hook, so that it takes the hook.
    fn wake_parked_worker_for_hook(&self) -> bool {
        let shared = &*self.shared;
        for i in self.active_slots() {
            let remote = &shared.remotes[i];
            if shared.idle.is_parked(i) && !remote.in_hook.load(SeqCst) {
                remote.unparker.unpark();
                return true;
            }
        }
        false
    }

    /// Step 6: starts an extra worker if the limit allows.
    fn start_extra(&self) {
        let shared = &self.shared;
        let (Some(m), Some(cfg)) = (&shared.monitor, &shared.config.stall) else {
            return;
        };
        let core = {
            let mut extras = lock(&m.extras);
            if *extras >= cfg.max_extra {
                return;
            }
            let Some(core) = lock(&m.spare).pop() else {
                return;
            };
            if !shared.thread_started() {
                lock(&m.spare).push(core);
                return;
            }
            *extras += 1;
            core
        };
        let index = core.index;
        let remote = &shared.remotes[index];
        // Idle until it runs its first task (not "in a poll" while the thread starts).
        remote.idle_at.store(remote.polls.load(Relaxed), Relaxed);
        remote.active.store(true, SeqCst);
        let worker_shared = shared.clone();
        let (core_tx, core_rx) = std::sync::mpsc::channel::<WorkerCore>();
        let batch = self.batch;
        let spawned = shared.config.thread_builder().spawn(move || {
            if batch {
                leave_batch_policy();
            }
            match core_rx.recv() {
                Ok(core) => worker_main(worker_shared, core, true),
                Err(_) => worker_shared.worker_exited(),
            }
        });
        match spawned {
            Ok(handle) => {
                let _ = core_tx.send(core);
                shared.keep_extra_handle(handle);
            }
            Err(err) => {
                *lock(&m.extras) -= 1;
                shared.worker_exited();
                shared.return_spare(core);
                eprintln!(
                    "corio-scheduler: could not start an extra worker while every worker is \
                     stalled: {err}"
                );
            }
        }
    }
}

/// What one look saw.
#[derive(Default)]
struct Look {
    /// Active workers not parked.
    awake: usize,
    /// Active workers stalled.
    stalled: usize,
    /// Extra workers are running (the monitor keeps ticking until they retire).
    extras_pending: bool,
    /// Some worker started a poll since the last look.
    polled: bool,
    /// Some worker reached its periodic look at the park hook since the last look.
    hook_looked: bool,
}

/// Reads a location stored by [`store_location`].
pub(crate) fn load_location(
    slot: &crate::sync::AtomicPtr<Location<'static>>,
) -> Option<&'static Location<'static>> {
    let ptr = slot.load(Relaxed);
    // SAFETY: the slot only ever holds null or a pointer made from a
    // `&'static Location<'static>` (see `store_location`).
    unsafe { ptr.as_ref() }
}

/// Publishes `runnable`'s id and spawn location before it is polled (relaxed stores of
/// `'static` data: the monitor reads copies, never the task). The worker then stores
/// its poll counter with `Release`, which is what orders these for the monitor.
#[inline]
pub(crate) fn publish_task(remote: &crate::shared::Remote, runnable: &Runnable) {
    let meta = runnable.meta();
    remote.task_id.store(meta.id().as_u64(), Relaxed);
    let loc = meta.location().map_or(std::ptr::null_mut(), |l| {
        (l as *const Location<'static>).cast_mut()
    });
    remote.task_location.store(loc, Relaxed);
}
