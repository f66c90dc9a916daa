//! One simulated run: the step loop, the strategies that choose each step,
//! and the autojump of virtual time.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use corio_reactor::sim::VirtualClock;

use super::context::{self, Current};
use super::net::Network;
use super::rng::Rng;
use super::sched::{Move, Shared, SimSchedule};
use super::{Config, Outcome, SimError, SimErrorKind, Strategy, Trace, TraceEntry};

/// How many blocked tasks a deadlock report names.
const DEADLOCK_REPORT_TASKS: usize = 16;

/// Chooses each step's move.
enum Chooser {
    Random,
    /// PCT (Burckhardt et al., "A Randomized Scheduler with Probabilistic
    /// Guarantees of Finding Bugs", ASPLOS 2010): every task gets a random
    /// priority, the highest-priority task that can run runs, and at `d - 1`
    /// random steps the task about to run drops below every other.
    Pct {
        priorities: HashMap<u64, u64>,
        /// Steps (ascending) at which a change point falls; the i-th gives
        /// priority `i` (initial priorities are above `depth`).
        change_points: Vec<u64>,
        depth: u64,
    },
}

impl Chooser {
    fn new(strategy: Strategy, horizon: u64, rng: &mut Rng) -> Chooser {
        match strategy {
            Strategy::Random => Chooser::Random,
            Strategy::Pct { depth } => {
                let depth = depth.max(1) as u64;
                let mut change_points: Vec<u64> = (1..depth)
                    .map(|_| rng.below(horizon.max(1) as usize) as u64)
                    .collect();
                change_points.sort_unstable();
                Chooser::Pct {
                    priorities: HashMap::new(),
                    change_points,
                    depth,
                }
            }
        }
    }

    fn choose(&mut self, moves: &[Move], step: u64, rng: &mut Rng) -> usize {
        match self {
            Chooser::Random => rng.below(moves.len()),
            Chooser::Pct {
                priorities,
                change_points,
                depth,
            } => {
                let mut prio = |task: u64, rng: &mut Rng| {
                    *priorities
                        .entry(task)
                        .or_insert_with(|| *depth + rng.next_u64() % (u64::MAX - *depth))
                };
                let mut best = 0;
                let mut best_prio = 0;
                for (i, m) in moves.iter().enumerate() {
                    let p = prio(m.task, rng);
                    if i == 0 || p > best_prio {
                        best = i;
                        best_prio = p;
                    }
                }
                // Change points at this step lower the chosen task, then we
                // choose again.
                let mut changed = false;
                for (i, cp) in change_points.iter().enumerate() {
                    if *cp == step {
                        priorities.insert(moves[best].task, i as u64 + 1);
                        changed = true;
                    }
                }
                if changed {
                    return self.choose_without_change(moves, rng);
                }
                // Among moves of the same task (several idle workers can take
                // it), pick the worker at random.
                let ties: Vec<usize> = (0..moves.len())
                    .filter(|&i| moves[i].task == moves[best].task)
                    .collect();
                ties[rng.below(ties.len())]
            }
        }
    }

    fn choose_without_change(&mut self, moves: &[Move], rng: &mut Rng) -> usize {
        let Chooser::Pct { priorities, .. } = self else {
            return rng.below(moves.len());
        };
        let prio = |t: u64| priorities.get(&t).copied().unwrap_or(0);
        (0..moves.len())
            .max_by_key(|&i| (prio(moves[i].task), std::cmp::Reverse(i)))
            .unwrap_or(0)
    }
}

/// Runs `fut` as the main task of a simulation with `seed`.
pub(crate) fn run<F>(config: &Config, seed: u64, fut: F) -> Result<Outcome<F::Output>, SimError>
where
    F: Future + 'static,
{
    if context::is_active() {
        panic!(
            "corio::sim: a simulation is already running on this thread; await the future \
             instead of starting a nested simulation"
        );
    }
    if crate::Handle::try_current().is_some() {
        panic!(
            "corio::sim: a simulation cannot run inside a corio runtime (its workers are real \
             threads); run it from a plain thread or a plain #[test]"
        );
    }
    // Timers record their caller's line as the task's await point, as on a Runtime.
    crate::tree::install_reactor_await_points();
    let clock = Rc::new(VirtualClock::new());
    let start = clock.now();
    let _clock = corio_reactor::sim::enter(clock.clone());
    let shared = Arc::new(Shared::new(config.workers));
    let _ctx = context::enter(Current {
        shared: shared.clone(),
        blocking_cost: config.blocking_cost,
        net: Arc::new(Network::new(seed)),
    });
    // OS threads, processes and signals started through corio are refused,
    // and reported at the step that asked for them.
    let _real_world = corio_core::real_world::deny({
        let shared = shared.clone();
        move |what| {
            let msg = format!("corio::sim: inside a simulation, {what}");
            shared.record_leak(msg.clone());
            msg
        }
    });
    let mut rng = Rng::new(seed);
    let mut chooser = Chooser::new(config.strategy, config.pct_horizon, &mut rng);
    let mut trace = Vec::new();
    let (runnable, main) = corio_core::Builder::new()
        .name("sim-main")
        .spawn_local(fut, SimSchedule(shared.clone()));
    runnable.schedule();

    let mut moves = Vec::new();
    let mut step: u64 = 0;
    let failure = loop {
        if let Some(leak) = shared.take_leak().or_else(|| clock.take_leak()) {
            break Some((SimErrorKind::Leak, leak));
        }
        if config.fail_on_unhandled_panic {
            if let Some(p) = shared.take_unhandled_panic() {
                break Some((SimErrorKind::UnhandledPanic, p));
            }
        }
        if main.is_finished() {
            break None;
        }
        shared.queues().moves(&mut moves);
        if moves.is_empty() {
            // Every task is idle: jump to the next timer (Trio's autojump).
            let Some(due) = clock.next_deadline() else {
                let (n, blocked) = shared.queues().blocked(DEADLOCK_REPORT_TASKS);
                let mut msg = format!(
                    "deadlock: all tasks blocked, no timers pending ({n} unfinished tasks):"
                );
                for b in blocked {
                    msg.push_str("\n  ");
                    msg.push_str(&b);
                }
                break Some((SimErrorKind::Deadlock, msg));
            };
            let mut wakers = clock.advance_to(due);
            // Timers due at the same instant fire in no defined order.
            rng.shuffle(&mut wakers);
            wakers.into_iter().for_each(Waker::wake);
            continue;
        }
        if step >= config.max_steps {
            break Some((
                SimErrorKind::StepLimit,
                format!(
                    "no progress after {step} steps (the step limit): a task that loops with \
                     yield_now() waiting for a timer keeps virtual time from moving, since time \
                     only jumps when every task is idle; await the condition (an Event) or a \
                     sleep instead, or raise Config::max_steps"
                ),
            ));
        }
        let m = moves[chooser.choose(&moves, step, &mut rng)];
        let to_poll = shared.queues().take(m);
        if let Some(r) = to_poll {
            trace.push(TraceEntry {
                step,
                worker: m.worker,
                task: m.task,
            });
            r.run();
            shared.queues().poll_done();
        }
        // Report a leak at the step that made it.
        if let Some(leak) = shared.take_leak().or_else(|| clock.take_leak()) {
            break Some((SimErrorKind::Leak, leak));
        }
        step += 1;
    };
    let elapsed = clock.now() - start;
    let output = match failure {
        None => take_output(main).map_err(|e| {
            let msg = e
                .panic_message()
                .map(|m| format!("the main future panicked: {m}"))
                .unwrap_or_else(|| format!("the main future failed: {e}"));
            (SimErrorKind::Panicked, msg)
        }),
        Some(f) => Err(f),
    };
    shutdown(&shared);
    let trace = Trace(trace);
    match output {
        Ok(output) => Ok(Outcome {
            output,
            trace,
            seed,
            virtual_elapsed: elapsed,
        }),
        Err((kind, message)) => Err(SimError {
            kind,
            message,
            seed,
            step,
            virtual_elapsed: elapsed,
            trace,
        }),
    }
}

fn take_output<T>(mut main: corio_core::Task<T>) -> Result<T, corio_core::TaskError> {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    match Pin::new(&mut main).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("the main task finished"),
    }
}

/// Cancels every task left (as `corio::run` does at its end), with the
/// simulation still installed so their destructors see virtual time.
fn shutdown(shared: &Shared) {
    // A destructor may wake or spawn: repeat until nothing is left.
    loop {
        let (runnables, tasks) = shared.queues().drain();
        if runnables.is_empty() && tasks.is_empty() {
            break;
        }
        for t in &tasks {
            t.cancel();
        }
        drop(runnables);
        drop(tasks);
    }
}
