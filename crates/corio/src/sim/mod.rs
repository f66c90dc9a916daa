//! Deterministic simulation (feature `sim`): run a program's tasks under a
//! seed that fixes every scheduling choice and every instant, find the
//! interleaving that breaks it, and replay it.
//!
//! ```
//! use std::time::Duration;
//!
//! corio::sim::check(|| async {
//!     let t = corio::create_task(async {
//!         corio::sleep(Duration::from_secs(3600)).await; // takes no real time
//!         42
//!     });
//!     assert_eq!(corio::wait_for(t, Duration::from_secs(7200)).await.unwrap().unwrap(), 42);
//! });
//! ```
//!
//! # What a simulation is
//!
//! A run executes everything on the calling thread, but the scheduler it uses
//! simulates corio's multi-threaded one: N workers, each with its local queue
//! and LIFO slot, the shared injector, and stealing, with the same rules as
//! corio-scheduler (see `sched.rs`). Each step, one possible move is chosen
//! by a [`Strategy`] from a PRNG seeded with the run's seed: a worker takes
//! the task its rules give it (its LIFO slot, its queue, the injector, or a
//! steal), or polls the task it took (other workers may run in between, as
//! real threads do):
//!
//! - [`Strategy::Random`]: uniformly among the possible moves;
//! - [`Strategy::Pct`]: probabilistic concurrency testing. Each task gets a
//!   random priority, the highest-priority runnable task runs, and at `depth -
//!   1` random steps the task about to run drops below all others. A bug that
//!   needs `d` ordering constraints is found with probability at least
//!   `1 / (n * k^(d-1))` per run (n tasks, k steps), independent of how
//!   unlikely the order is under a fair scheduler.
//!
//! A poll is one step: interleavings are explored at `.await` points, where
//! async code can race with itself. The same seed gives the same sequence of
//! polls ([`Trace`]), so a failure found under one seed replays exactly.
//!
//! Inside a run, the facade works unchanged:
//!
//! - [`create_task`](crate::create_task), [`TaskBuilder`](crate::TaskBuilder),
//!   [`create_local_task`](crate::create_local_task) (pinned to the simulated
//!   worker that spawns it: only that worker polls it, none steals it),
//!   [`Handle::current`](crate::Handle::current) and its
//!   [`create_task`](crate::Handle::create_task), `call_soon`, `call_later`,
//!   `call_at` and `call_soon_threadsafe` (on the virtual clock),
//!   [`all_tasks`](crate::all_tasks), [`task_tree`](crate::task_tree()),
//!   [`current_task`](crate::current_task),
//!   [`TaskGroup`](crate::TaskGroup), [`gather`](crate::gather()),
//!   [`wait`](crate::wait), [`shield`](crate::shield), [`sync`](crate::sync)
//!   and [`queue`](crate::queue) (they are runtime-agnostic wakers);
//! - time is virtual: [`sleep`](crate::sleep), [`interval`](crate::interval),
//!   [`wait_for`](crate::wait_for), [`timeout`](crate::timeout()) and
//!   [`Timeout`](crate::Timeout) read a simulated clock that stands still
//!   while tasks run and jumps to the next timer when every task is idle
//!   (Trio's `MockClock(autojump_threshold=0)`): a day of 100,000 timers
//!   runs in 0.1–0.2 s of wall time (release build, 2 vCPUs at load 14). Read it with [`now`] (the real clock outside a
//!   simulation, so code can use it in both);
//! - [`to_thread`](crate::to_thread) and [`run_in_executor`](crate::run_in_executor)
//!   run the closure inline, where they are called, and complete after a
//!   virtual cost ([`Config::blocking_cost`]). A closure that waits for
//!   another thread, or for its cancellation token, never returns: there are
//!   no other threads;
//! - [`net`] is an in-memory TCP-like network (latency, lost connections,
//!   partitions) with the same `futures_io` traits as [`crate::net`].
//!
//! [`Handle::metrics`](crate::Handle::metrics) is the one exception: a
//! simulation has no threads to count (it panics saying so). Tests that
//! measure the real clock (`start.elapsed()`) do not carry over either:
//! virtual sleeps take no real time. Several of the facade's own test files
//! run under simulation unchanged (`tests/sim_facade.rs` lists them).
//!
//! # Leaks of non-determinism
//!
//! A run fails with [`SimErrorKind::Leak`], at the step where it happened,
//! when the program lets the real world in through corio:
//!
//! - a real socket (anything registered with corio's reactor: `corio::net`,
//!   `open_connection`, `Async::new`) is refused with an error;
//! - a real `std::time::Instant` (from `Instant::now()`) is given to a corio
//!   timer (`sleep_until`, `timeout_at`, `Timeout::reschedule`, `interval_at`):
//!   compute deadlines from [`now`];
//! - a corio `Runtime` is built (its workers are OS threads), a task is
//!   spawned through the `Handle` of a runtime built outside the simulation,
//!   or a task is woken from another OS thread (`call_soon_threadsafe` from a
//!   thread included);
//! - a job is handed to a real thread pool (`ThreadPool::submit`,
//!   `BlockingPool`, `spawn_blocking`; [`to_thread`](crate::to_thread) and
//!   [`run_in_executor`](crate::run_in_executor) run inline instead), a call
//!   to a `ProcessPool`, a child process (`corio::process`), a signal handler
//!   (`corio::signal`): each is refused with an error saying what to use
//!   instead, before any thread or process starts (corio-core's
//!   `real_world` seam).
//!
//! `std::time::Instant::now()` read directly by the program, and threads it
//! starts itself without waking a task, are not seen: keep them out.
//!
//! # Running many seeds
//!
//! [`check`] runs the body under 100 seeds (`CORIO_SIM_SEEDS=n` for more) and,
//! on failure, panics with the seed, what went wrong (a panic, a deadlock:
//! "all tasks blocked, no timers pending", a leak) and the command that
//! replays it, e.g.
//!
//! ```text
//! CORIO_SIM_SEED=1234 cargo test -p myapp --test bank transfer -- --exact
//! ```
//!
//! [`Config`] sets the workers, the strategy, the seeds and limits, and
//! [`Config::run_seed`] runs one seed and returns its [`Outcome`] (output,
//! trace, virtual time) or [`SimError`]. `#[corio::sim_test]` (feature
//! `macros`) writes the `#[test]` for you.
//!
//! # When to use it, and when something else
//!
//! - **corio::sim**: your program is written against corio's facade and you
//!   want its real scheduling rules (LIFO slot, stealing, injector) explored
//!   and time virtualised without changing the code. Costs: a poll is atomic,
//!   so races *inside* one poll between real threads (atomics, `std::sync`
//!   locks held across no `.await`) are not explored; use loom for those.
//! - **loom**: exhaustive (bounded) exploration of the interleavings of
//!   atomics and locks between threads. Use it for lock-free code and
//!   synchronisation primitives; it is too slow for whole programs.
//! - **shuttle**: randomized/PCT testing of threads and its own async
//!   executor; the closest in spirit, but the program must use shuttle's
//!   types and executor instead of its real runtime.
//! - **madsim**: a whole simulated tokio (time, network, file system, many
//!   nodes) selected by a `cfg`; the program is rebuilt against madsim's
//!   tokio. Use it for multi-node tokio services.
//! - **turmoil**: many hosts and a simulated network on tokio's
//!   current-thread runtime; explores network faults rather than task
//!   interleavings.
//! - **tokio's paused clock** (`start_paused`): virtual time on the
//!   current-thread runtime only, one fixed schedule: fast timer tests, no
//!   exploration of orders.
//!
//! Plain `#[corio::test]` is still the right tool for anything that needs
//! real I/O, real threads or real time (benchmarks, timing).

mod check;
mod context;
pub mod net;
mod rng;
mod run;
mod sched;

pub use check::{CheckFailure, CheckReport, SEEDS_ENV, SEED_ENV};
pub(crate) use context::{
    blocking_cost, current_shared, is_active, real_runtime_used, refuse_threads, spawn_local,
    spawn_on,
};
pub(crate) use sched::Shared;

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

/// Runs `body` under many seeds (see the [module docs](self)): 100 by
/// default, `CORIO_SIM_SEEDS` to change the count, `CORIO_SIM_SEED` to run
/// one. Panics at the first failure with the seed and the replay command.
///
/// ```
/// corio::sim::check(|| async {
///     let lock = std::sync::Arc::new(corio::sync::Lock::new(()));
///     let l = lock.clone();
///     let t = corio::create_task(async move {
///         let _g = l.acquire().await.unwrap();
///     });
///     drop(lock.acquire().await.unwrap());
///     t.await.unwrap();
/// });
/// ```
#[track_caller]
pub fn check<F, Fut>(body: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    Config::from_env().check(body)
}

/// The time now: virtual inside a simulation, `Instant::now()` outside.
///
/// ```
/// use std::time::Duration;
/// corio::sim::check(|| async {
///     let start = corio::sim::now();
///     corio::sleep(Duration::from_secs(60)).await;
///     assert_eq!(corio::sim::now() - start, Duration::from_secs(60));
/// });
/// ```
pub fn now() -> Instant {
    corio_reactor::timer::now()
}

/// PCT's default horizon: change points fall in the first 64 steps, where
/// the races of small test programs are (a change point past the end of a
/// run has no effect, so a longer run still gets random priorities).
pub const DEFAULT_PCT_HORIZON: u64 = 64;

/// How each step's move is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Strategy {
    /// Uniformly among the possible moves.
    Random,
    /// Probabilistic concurrency testing with `depth - 1` priority change
    /// points (depth 1: strict random priorities; 2 or 3 find most bugs).
    Pct {
        /// The bug depth aimed at (at least 1).
        depth: usize,
    },
}

/// A simulation's settings: workers, strategy, seeds, limits.
///
/// ```
/// use corio::sim::{Config, Strategy};
/// use std::time::Duration;
///
/// let out = Config::new()
///     .workers(4)
///     .strategy(Strategy::Random)
///     .run_seed(7, async {
///         corio::sleep(Duration::from_secs(5)).await;
///         "done"
///     })
///     .unwrap();
/// assert_eq!(out.output(), &"done");
/// assert_eq!(out.virtual_elapsed(), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    workers: usize,
    strategy: Strategy,
    seeds: u64,
    first_seed: u64,
    replay_seed: Option<u64>,
    max_steps: u64,
    blocking_cost: Duration,
    fail_on_unhandled_panic: bool,
    pct_horizon: u64,
    quiet_panics: Option<bool>,
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// Defaults: 4 workers, [`Strategy::Random`], 100 seeds from 0, at most
    /// 1,000,000 steps per run, blocking work costs 1 ms of virtual time, a
    /// panic nobody awaits fails the run. The environment is not read (see
    /// [`from_env`](Config::from_env)).
    pub fn new() -> Config {
        Config {
            workers: 4,
            strategy: Strategy::Random,
            seeds: check::DEFAULT_SEEDS,
            first_seed: 0,
            replay_seed: None,
            max_steps: 1_000_000,
            blocking_cost: Duration::from_millis(1),
            fail_on_unhandled_panic: true,
            pct_horizon: DEFAULT_PCT_HORIZON,
            quiet_panics: None,
        }
    }

    /// [`new`](Config::new), then `CORIO_SIM_SEEDS` (a count) and
    /// `CORIO_SIM_SEED` (one seed to replay) from the environment.
    ///
    /// # Panics
    /// When one of them is set but is not a number.
    pub fn from_env() -> Config {
        let mut c = Config::new();
        if let Some(n) = env_number(check::SEEDS_ENV) {
            c.seeds = n;
        }
        c.replay_seed = env_number(check::SEED_ENV);
        c
    }

    /// Simulated workers (default 4; at least 1).
    #[must_use]
    pub fn workers(mut self, n: usize) -> Config {
        self.workers = n.max(1);
        self
    }

    /// How steps are chosen (default [`Strategy::Random`]).
    #[must_use]
    pub fn strategy(mut self, strategy: Strategy) -> Config {
        self.strategy = strategy;
        self
    }

    /// How many seeds [`try_check`](Config::try_check) runs (default 100).
    #[must_use]
    pub fn seeds(mut self, n: u64) -> Config {
        self.seeds = n;
        self
    }

    /// The first seed [`try_check`](Config::try_check) runs (default 0).
    #[must_use]
    pub fn first_seed(mut self, seed: u64) -> Config {
        self.first_seed = seed;
        self
    }

    /// Makes [`try_check`](Config::try_check) run this one seed only.
    #[must_use]
    pub fn replay_seed(mut self, seed: u64) -> Config {
        self.replay_seed = Some(seed);
        self
    }

    /// Steps (takes and polls) after which a run fails as making no
    /// progress (default 1,000,000).
    #[must_use]
    pub fn max_steps(mut self, n: u64) -> Config {
        self.max_steps = n;
        self
    }

    /// Virtual time a `to_thread` / `run_in_executor` job takes (default 1 ms).
    #[must_use]
    pub fn blocking_cost(mut self, cost: Duration) -> Config {
        self.blocking_cost = cost;
        self
    }

    /// Whether a panic in a task nobody awaits fails the run (default true; a
    /// runtime would only report it).
    #[must_use]
    pub fn fail_on_unhandled_panic(mut self, fail: bool) -> Config {
        self.fail_on_unhandled_panic = fail;
        self
    }

    /// Whether [`try_check`](Config::try_check) keeps the panics of failing
    /// runs off stderr (they are in its report). Default: quiet while
    /// searching seeds, loud when replaying one.
    #[must_use]
    pub fn quiet_panics(mut self, quiet: bool) -> Config {
        self.quiet_panics = Some(quiet);
        self
    }

    /// PCT's change points fall in the first `steps` steps (default
    /// [`DEFAULT_PCT_HORIZON`]); set it near the length of your runs
    /// (about twice their polls: [`Trace::len`]). A seed replays only with
    /// the same horizon.
    #[must_use]
    pub fn pct_horizon(mut self, steps: u64) -> Config {
        self.pct_horizon = steps.max(1);
        self
    }

    /// Runs `fut` as the main task of one simulation with `seed`, on this
    /// thread. `fut` need not be `Send`; tasks it spawns run on the simulated
    /// workers. Tasks still pending when it returns are cancelled, as
    /// [`corio::run`](crate::run) does.
    ///
    /// # Panics
    /// Inside another simulation or a corio runtime.
    pub fn run_seed<F>(&self, seed: u64, fut: F) -> Result<Outcome<F::Output>, SimError>
    where
        F: Future + 'static,
    {
        run::run(self, seed, fut)
    }
}

fn env_number(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    match v.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("corio::sim: {name}={v:?} is not a number; unset it or give a seed/count"),
    }
}

/// One poll of a run: at `step` (the count of scheduling choices made so
/// far: takes and polls), simulated worker `worker` polled the task with
/// simulation id `task` (ids count tasks in the order they were first
/// scheduled, the main future being 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceEntry {
    /// The step number, from 0.
    pub step: u64,
    /// The simulated worker, from 0.
    pub worker: usize,
    /// The task's simulation id.
    pub task: u64,
}

/// The sequence of polls of a run; equal for equal seeds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trace(Vec<TraceEntry>);

impl Trace {
    /// The polls, in order.
    pub fn entries(&self) -> &[TraceEntry] {
        &self.0
    }

    /// Number of polls.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing was polled.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A run that finished: the main future's output, the trace, the virtual time.
#[derive(Debug)]
pub struct Outcome<T> {
    output: T,
    trace: Trace,
    seed: u64,
    virtual_elapsed: Duration,
}

impl<T> Outcome<T> {
    /// The main future's output.
    pub fn output(&self) -> &T {
        &self.output
    }

    /// Takes the output.
    pub fn into_output(self) -> T {
        self.output
    }

    /// The polls of the run.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Virtual time from the start to the end of the run.
    pub fn virtual_elapsed(&self) -> Duration {
        self.virtual_elapsed
    }
}

/// What went wrong in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimErrorKind {
    /// The main future panicked (an assertion failed).
    Panicked,
    /// A task panicked and nobody awaited it ([`Config::fail_on_unhandled_panic`]).
    UnhandledPanic,
    /// Every task is blocked and no timer is pending: nothing can ever run.
    Deadlock,
    /// Something non-deterministic reached corio (see "Leaks" in the module docs).
    Leak,
    /// [`Config::max_steps`] steps without the main future finishing.
    StepLimit,
}

/// A failed run: what happened, at which step, under which seed, and the
/// trace up to there.
#[derive(Debug, Clone)]
pub struct SimError {
    kind: SimErrorKind,
    message: String,
    seed: u64,
    step: u64,
    virtual_elapsed: Duration,
    trace: Trace,
}

impl SimError {
    /// What kind of failure.
    pub fn kind(&self) -> SimErrorKind {
        self.kind
    }

    /// The failure's description.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The seed of the run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The step at which the failure was seen.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Virtual time at the failure.
    pub fn virtual_elapsed(&self) -> Duration {
        self.virtual_elapsed
    }

    /// The polls up to the failure.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "simulation with seed {} failed at step {} (virtual time {:?}): {}",
            self.seed, self.step, self.virtual_elapsed, self.message
        )
    }
}

impl std::error::Error for SimError {}
