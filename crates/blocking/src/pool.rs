//! The elastic thread pool behind [`BlockingPool`](crate::BlockingPool) and
//! [`ThreadPool`](crate::ThreadPool).
//!
//! # Protocol
//!
//! All bookkeeping lives in one `Mutex<State>`; closures always run with no lock held.
//! Each live thread is in exactly one of these states, counted in `State`:
//!
//! | state      | counted in  | meaning |
//! |------------|-------------|---------|
//! | busy       | (`threads`) | running a closure, or about to pop the queue |
//! | spinning   | `spinning`  | just went idle; polls `queued` for up to 50 µs before sleeping (at most one thread; less or not at all when recent spins caught nothing or hurt, see `spinner.rs`) |
//! | sleeping   | `sleeping`  | blocked on `work` (the condvar), nobody has claimed it |
//! | notified   | `notified`  | was sleeping, a spawner signalled `work` for it; it will pop the queue |
//!
//! **Claim invariant**: unless `threads == max_threads`, every queued job has a
//! *claimer*: `queue.len() <= spinning + notified`. So a job never waits behind
//! closures that may block forever: some thread that is not running user code is on
//! its way to it. `submit` (through `QueueOf::push`) restores the invariant after pushing:
//!
//! 1. if `queue.len() <= spinning + notified`, do nothing: a thread is already coming
//!    (this is the hot path when a thread is spinning: no syscall at all). The
//!    spinner counts only while its heartbeat is fresh: a spinner switched out by
//!    the kernel is not coming soon, so the push goes on to step 2 or 3 (the
//!    spinner, back on its core, pops the queue like any busy thread);
//! 2. else if a thread is sleeping, move it to `notified` and `notify_one` (no thread
//!    is spawned while an idle one exists);
//! 3. else if `threads < max_threads`, start a thread (it begins busy and pops);
//! 4. else the job waits until a busy thread finishes and pops it.
//!
//! Busy threads pop the queue before going idle, so a claimer may find the queue
//! empty; it then goes idle again (a wasted wake-up, never a lost job).
//!
//! A sleeping thread that wakes consumes a `notified` token if there is one
//! (spurious wake-ups that steal a token just play the claimer's role); without a
//! token it exits when its idle timeout passed, and otherwise sleeps again. So
//! `sleeping + notified` always equals the number of threads in the wait loop, and
//! `sleeping` is the number of idle threads nobody has claimed.
//!
//! **Shutdown** sets `shutdown` and wakes every sleeper. In `DropQueued` mode the
//! queue is taken out under the lock and each job is failed with
//! a [cancelled](BlockingError::is_cancelled) error; in `Drain` mode (ThreadPool, like Python) queued
//! jobs still run. A thread exits when it finds the queue empty and `shutdown` set,
//! and signals `exited`, which `wait_exit` waits on until `threads` is 0.
//!
//! Why spin: waking a sleeping thread costs ~13 µs on these machines (a futex wake
//! and a context switch), far more than a trivial closure. One thread that just
//! finished keeps polling `queued` for [`SPIN_TIME`] so a steady stream of small jobs
//! is picked up without any wake-up; only one thread spins, so an idle pool burns
//! at most one core for that short window. The spin backs off when it does not pay
//! (`corio_core::spin::SpinGovernor` halves it after each spin that caught nothing,
//! and after a few misses in a row only an occasional probe spins) and stops for a
//! cool-down when it hurt: when it held the core the submitter needed, or lost its
//! own core (`spinner.rs`).

use std::collections::VecDeque;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc as StdArc;
use std::time::{Duration, Instant};

use crate::error::BlockingError;
use crate::spinner::Spinner;
use crate::sync::{lock, thread, AtomicBool, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering};
use crate::task::{packet, BlockingTask, Job};

/// How long an idle thread keeps polling for new work before it sleeps on the
/// condvar: a thread round trip (park/unpark, 27 µs on these machines, see
/// design.md) plus margin, enough to catch the next job of a caller that awaits
/// each result before spawning again, without a futex wake. The process pool's
/// drivers spin as long.
#[cfg_attr(loom, allow(dead_code))] // the spin is left out of loom builds
pub(crate) const SPIN_TIME: Duration = Duration::from_micros(50);

/// How the pool treats queued jobs at shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShutdownMode {
    /// Fail queued jobs with `Cancelled` (BlockingPool, like tokio's blocking pool).
    DropQueued,
    /// Let queued jobs run (ThreadPool, like Python's `shutdown(cancel_futures=False)`).
    Drain,
}

pub(crate) struct Config {
    pub(crate) max_threads: usize,
    /// `None`: idle threads never exit (ThreadPool).
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) thread_name: String,
    pub(crate) stack_size: Option<usize>,
    /// Under loom: `Some(counted_on)` makes idle threads spin (see
    /// `Spinner::for_loom`); `None`, the default, never spins.
    #[cfg(loom)]
    pub(crate) loom_spinner: Option<bool>,
}

impl Config {
    fn spinner(&self) -> Spinner {
        #[cfg(loom)]
        {
            match self.loom_spinner {
                Some(counted_on) => Spinner::for_loom(counted_on),
                None => Spinner::new(Duration::ZERO),
            }
        }
        #[cfg(not(loom))]
        {
            Spinner::new(SPIN_TIME)
        }
    }
}

struct State {
    queue: VecDeque<StdArc<dyn Job>>,
    counts: Counts,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Idle threads sleep here.
    work: Condvar,
    /// `wait_exit` sleeps here until `threads` reaches zero.
    exited: Condvar,
    /// `queue.len()`, readable without the lock by the spinning thread.
    queued: AtomicUsize,
    /// `state.shutdown`, readable without the lock by the spinning thread.
    shutting_down: AtomicBool,
    /// Whether an idle thread may spin, and whether a push may count on it
    /// (see `spinner.rs`).
    spinner: Spinner,
    config: Config,
}

/// A handle on the pool; the threads hold their own `Arc<Shared>`.
pub(crate) struct Pool {
    shared: StdArc<Shared>,
}

#[cfg(not(loom))]
std::thread_local! {
    /// The pool this thread works for (address of its `Shared`), 0 if none:
    /// lets `wait_exit` called from a pool's own closure not wait for itself.
    static CURRENT_POOL: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl Pool {
    pub(crate) fn new(config: Config) -> Pool {
        Pool {
            shared: StdArc::new(Shared {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    counts: Counts::default(),
                    shutdown: false,
                }),
                work: Condvar::new(),
                exited: Condvar::new(),
                queued: AtomicUsize::new(0),
                shutting_down: AtomicBool::new(false),
                spinner: config.spinner(),
                config,
            }),
        }
    }

    /// Packs `f` into a job and queues it; on a pool that is shut down the task
    /// resolves at once with a [shutdown](BlockingError::is_shutdown) error.
    pub(crate) fn submit<F, T>(&self, f: F) -> BlockingTask<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // The job runs in a copy of the submitter's context variables, as
        // asyncio's `to_thread` runs its function in a copy of the caller's.
        let mut context = corio_core::Context::current();
        // Pending until the closure has run or been dropped unrun (see `OffloadedJob`).
        let offloaded = corio_core::spin::OffloadedJob::start();
        let (job, task) = packet(move || {
            let _offloaded = offloaded;
            context.run(f)
        });
        if let Err(job) = self.push(job) {
            job.fail(BlockingError::shutdown());
        }
        task
    }

    /// Queues `job` and makes sure a thread is coming for it (see the protocol).
    /// `Err(job)` if the pool is shut down.
    fn push(&self, job: StdArc<dyn Job>) -> Result<(), StdArc<dyn Job>> {
        let shared = &self.shared;
        if let Err(e) = corio_core::real_world::check(
            "a job was handed to a real thread pool (ThreadPool::submit, BlockingPool, \
             spawn_blocking): it runs on an OS thread; use corio::to_thread or \
             corio::run_in_executor, which run the closure inline",
        ) {
            job.fail(BlockingError::spawn(e));
            return Ok(());
        }
        let queue = QueueOf {
            state: &shared.state,
            queued: &shared.queued,
            work: &shared.work,
            spinner: &shared.spinner,
            max_threads: shared.config.max_threads,
        };
        queue.push(
            job,
            || spawn_thread(shared),
            |job, err| job.fail(spawn_error(err)),
        )
    }

    pub(crate) fn thread_count(&self) -> usize {
        lock(&self.shared.state).counts.threads
    }

    pub(crate) fn idle_count(&self) -> usize {
        let st = lock(&self.shared.state);
        st.counts.sleeping + st.counts.spinning
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shared.shutting_down.load(Ordering::Acquire)
    }

    /// Stops accepting work; wakes every idle thread so it can exit.
    pub(crate) fn shutdown(&self, mode: ShutdownMode) {
        let shared = &self.shared;
        let mut st = lock(&shared.state);
        st.shutdown = true;
        shared.shutting_down.store(true, Ordering::Release);
        let dropped: Vec<_> = if mode == ShutdownMode::DropQueued {
            shared.queued.store(0, Ordering::Release);
            st.queue.drain(..).collect()
        } else {
            Vec::new()
        };
        drop(st);
        shared.work.notify_all();
        for job in dropped {
            job.fail(BlockingError::cancelled());
        }
    }

    /// Waits until every thread has exited, or until `deadline`. Returns true if
    /// they all exited. Called from one of this pool's own threads, it waits for
    /// the others only.
    pub(crate) fn wait_exit(&self, deadline: Option<Instant>) -> bool {
        let shared = &self.shared;
        let me = self.own_threads();
        let mut st = lock_st(shared);
        while st.counts.threads > me {
            match deadline {
                None => {
                    st = match shared.exited.wait(st) {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    }
                }
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    st = match shared.exited.wait_timeout(st, deadline - now) {
                        Ok((g, _)) => g,
                        Err(p) => p.into_inner().0,
                    }
                }
            }
        }
        true
    }

    /// 1 if the calling thread is one of this pool's threads, else 0.
    fn own_threads(&self) -> usize {
        #[cfg(not(loom))]
        {
            let addr = StdArc::as_ptr(&self.shared) as usize;
            usize::from(CURRENT_POOL.with(|c| c.get()) == addr)
        }
        #[cfg(loom)]
        {
            0
        }
    }
}

/// The threads of a pool, counted as in the protocol (the module docs): the
/// blocking pool's threads and the process pool's driver threads follow it alike.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// Threads alive, in any state.
    pub(crate) threads: usize,
    pub(crate) sleeping: usize,
    pub(crate) notified: usize,
    pub(crate) spinning: usize,
}

/// A pool state as queueing work sees it: the queue, the thread counts, and
/// whether the pool is shut down.
pub(crate) trait HasBacklog {
    type Item;
    fn backlog(&mut self) -> (&mut VecDeque<Self::Item>, &mut Counts, bool);
}

impl HasBacklog for State {
    type Item = StdArc<dyn Job>;
    fn backlog(&mut self) -> (&mut VecDeque<Self::Item>, &mut Counts, bool) {
        (&mut self.queue, &mut self.counts, self.shutdown)
    }
}

/// A pool's queue as a push sees it: the locked state, the lock-free copy of the
/// queue's length for the spinning thread, the condvar sleepers wait on, the
/// pool's spin policy, and the most threads the pool starts.
pub(crate) struct QueueOf<'a, S> {
    pub(crate) state: &'a Mutex<S>,
    pub(crate) queued: &'a AtomicUsize,
    pub(crate) work: &'a Condvar,
    pub(crate) spinner: &'a Spinner,
    pub(crate) max_threads: usize,
}

impl<S: HasBacklog> QueueOf<'_, S> {
    /// Queues `item` and makes sure a thread is coming for it (steps 1-4 of the
    /// protocol), starting one with `start_thread` if it must. `Err(item)` if the
    /// pool is shut down. If no thread could be started and none is left to run
    /// the queue, every queued item is handed to `fail` with the error rather
    /// than left hanging.
    pub(crate) fn push(
        &self,
        item: S::Item,
        start_thread: impl FnOnce() -> io::Result<()>,
        fail: impl Fn(S::Item, &io::Error),
    ) -> Result<(), S::Item> {
        self.spinner.note_push();
        let mut st = lock(self.state);
        let (queue, counts, shutdown) = st.backlog();
        if shutdown {
            return Err(item);
        }
        queue.push_back(item);
        self.queued.store(queue.len(), Ordering::Release);
        let claim = claim_pushed(queue.len(), counts, self.max_threads, || {
            self.spinner.counts_on_spinner()
        });
        drop(st);
        match claim {
            Claim::Covered => {}
            Claim::WakeSleeper => self.work.notify_one(),
            Claim::StartThread => {
                if let Err(err) = start_thread() {
                    // Uncount the thread that never started.
                    let mut st = lock(self.state);
                    let (queue, counts, _) = st.backlog();
                    counts.threads -= 1;
                    if counts.threads == 0 {
                        let items: Vec<_> = queue.drain(..).collect();
                        self.queued.store(0, Ordering::Release);
                        drop(st);
                        for item in items {
                            fail(item, &err);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// What a push must do to keep the claim invariant (steps 1-4 of the protocol in
/// the module docs); the process pool (`process/mod.rs`) follows it too.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// A thread is already coming for the job (steps 1 and 4: nothing to do).
    Covered,
    /// A sleeper was moved to `notified`: `notify_one` the work condvar.
    WakeSleeper,
    /// A new thread was counted in `threads`: start it.
    StartThread,
}

/// Decides, under the lock and right after a push left `queued` jobs, who claims
/// the new job, and updates the counts to match: a sleeper moves to `notified`,
/// or `threads` grows by one if it is below `max_threads`. The caller drops the
/// lock, then carries out the returned [`Claim`]. A spinning thread covers the job
/// only if `spinner_runs` (it is on its core, see `spinner.rs`); otherwise the
/// job gets a claimer as if nobody spun, and whichever of the two comes first
/// takes it.
fn claim_pushed(
    queued: usize,
    c: &mut Counts,
    max_threads: usize,
    spinner_runs: impl FnOnce() -> bool,
) -> Claim {
    if queued <= c.notified || (queued <= c.spinning + c.notified && spinner_runs()) {
        return Claim::Covered;
    }
    if c.sleeping > 0 {
        c.sleeping -= 1;
        c.notified += 1;
        return Claim::WakeSleeper;
    }
    if c.threads < max_threads {
        c.threads += 1;
        return Claim::StartThread;
    }
    Claim::Covered
}

/// The error queued work fails with when no thread is left to run it because a
/// thread could not be started (`io::Error` is not `Clone`: same kind and message).
pub(crate) fn spawn_error(err: &io::Error) -> BlockingError {
    BlockingError::spawn(io::Error::new(err.kind(), err.to_string()))
}

fn lock_st(shared: &Shared) -> MutexGuard<'_, State> {
    lock(&shared.state)
}

fn spawn_thread(shared: &StdArc<Shared>) -> io::Result<()> {
    let mut builder = thread::Builder::new().name(shared.config.thread_name.clone());
    if let Some(size) = shared.config.stack_size {
        builder = builder.stack_size(size);
    }
    let shared = shared.clone();
    builder.spawn(move || worker(shared)).map(drop)
}

/// The body of every pool thread; see the protocol in the module docs.
fn worker(shared: StdArc<Shared>) {
    #[cfg(not(loom))]
    CURRENT_POOL.with(|c| c.set(StdArc::as_ptr(&shared) as usize));
    let mut st = lock_st(&shared);
    // Whether this thread may spin before sleeping: after running work, not twice in a row.
    let mut may_spin = true;
    'outer: loop {
        while let Some(job) = st.queue.pop_front() {
            shared.queued.store(st.queue.len(), Ordering::Release);
            drop(st);
            // `run` already catches a panic in the closure; this also contains a
            // panicking waker or a result whose `Drop` panics (when the packet's
            // last reference goes here), so the thread's bookkeeping below always runs.
            let _ = catch_unwind(AssertUnwindSafe(move || {
                job.run();
                drop(job);
            }));
            may_spin = true;
            st = lock_st(&shared);
        }
        if st.shutdown {
            break;
        }
        // Zero when recent spins caught nothing or hurt: then sleep at once.
        let budget = if may_spin && st.counts.spinning == 0 {
            shared.spinner.budget()
        } else {
            Duration::ZERO
        };
        if !budget.is_zero() {
            st.counts.spinning += 1;
            drop(st);
            // It never yields (a yielding spinner let busy threads take its core
            // for a whole time slice: trivial closures one at a time took 120 µs
            // each with one busy loop per core, 25 µs with no spin), and a push
            // counts on it only while its heartbeat is fresh (`spinner.rs`).
            shared.spinner.spin(budget, || {
                shared.queued.load(Ordering::Acquire) != 0
                    || shared.shutting_down.load(Ordering::Acquire)
            });
            st = lock_st(&shared);
            st.counts.spinning -= 1;
            may_spin = false;
            continue;
        }
        // Sleep until notified, shut down, or idle for `idle_timeout`.
        st.counts.sleeping += 1;
        // An idle timeout too large to add (e.g. Duration::MAX) means "never".
        let deadline = shared
            .config
            .idle_timeout
            .and_then(|d| Instant::now().checked_add(d));
        loop {
            let timed_out;
            (st, timed_out) = match deadline {
                None => (
                    match shared.work.wait(st) {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    },
                    false,
                ),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match shared.work.wait_timeout(st, left) {
                        Ok((g, _)) => (g, Instant::now() >= deadline),
                        Err(p) => (p.into_inner().0, Instant::now() >= deadline),
                    }
                }
            };
            if st.counts.notified > 0 {
                st.counts.notified -= 1;
                may_spin = true;
                continue 'outer;
            }
            if st.shutdown {
                // Not claimed by anyone: leave the sleeping count and go drain/exit.
                st.counts.sleeping -= 1;
                continue 'outer;
            }
            if timed_out {
                st.counts.sleeping -= 1;
                break 'outer;
            }
        }
    }
    st.counts.threads -= 1;
    drop(st);
    // Every exit signals (not only the last): `wait_exit` called from one of the
    // pool's own threads waits for `threads <= 1`. Cheap: exits are rare.
    shared.exited.notify_all();
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_running_spinner_covers_a_push_and_a_switched_out_one_does_not() {
        let mut c = Counts {
            threads: 2,
            sleeping: 1,
            spinning: 1,
            ..Counts::default()
        };
        assert_eq!(claim_pushed(1, &mut c, 4, || true), Claim::Covered);
        assert_eq!(claim_pushed(1, &mut c, 4, || false), Claim::WakeSleeper);
        assert_eq!((c.sleeping, c.notified), (0, 1));
        // The woken sleeper covers the first job; a second one needs a new thread.
        assert_eq!(claim_pushed(1, &mut c, 4, || false), Claim::Covered);
        assert_eq!(claim_pushed(2, &mut c, 4, || false), Claim::StartThread);
        assert_eq!(c.threads, 3);
    }

    #[test]
    fn a_job_pushed_while_the_only_spinner_is_switched_out_still_runs() {
        let pool = Pool::new(Config {
            max_threads: 4,
            idle_timeout: Some(Duration::from_secs(10)),
            thread_name: "stale-spinner-test".to_owned(),
            stack_size: None,
        });
        // A thread counted as spinning that never polls, as one the kernel switched
        // out for good: its heartbeat is never fresh.
        lock(&pool.shared.state).counts.spinning += 1;
        let task = pool.submit(|| 42);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !task.is_finished() {
            assert!(
                Instant::now() < deadline,
                "the job waited for a spinner that never came"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(task.wait().unwrap(), 42);
        lock(&pool.shared.state).counts.spinning -= 1;
        pool.shutdown(ShutdownMode::DropQueued);
        assert!(pool.wait_exit(Some(Instant::now() + Duration::from_secs(30))));
    }
}
